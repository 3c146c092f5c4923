"""The docs check: what keeps README.md and docs/ true.

- Every relative link and anchor of README.md, js/README.md and docs/**/*.md resolves.
- Every parameter is documented where users read it: each keyword of the Python client's
  public methods (``upsert_dataset``, ``diff_versions``, and any other method phoenix-upsert
  adds to a client resource) and of the native core's functions, read with
  ``inspect.signature``; every subcommand and option of the CLI, read from the argparse
  parser ``cli.py`` builds; every config key, read from the set the config loader validates
  against; every option of every function ``js/src/index.ts`` exports, read from the
  TypeScript sources. A reference page has one ``### name`` heading per function and under
  it a table whose rows start with the parameter in backticks. A row documenting something
  that is no parameter is an error too, unless it says "announced" (a change another branch
  is making).
- Every ``phoenix-upsert`` command written in the docs (code blocks, the CI workflow)
  parses with the real parser (but in a block marked ``<!-- no-run announced -->``: a
  feature another branch is adding), and the workflow YAML parses.
- The guides' code blocks run: ``python`` blocks in one namespace per guide, ``bash``
  blocks that call ``phoenix-upsert`` as real processes, against a real Phoenix where they
  need one (marked ``server``); a block preceded by ``<!-- no-run -->`` is only read.
  Blocks whose info string says ``file=NAME`` are written to NAME first.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
REFERENCE = DOCS / "reference"
GUIDES = DOCS / "guides"
MARKDOWN = sorted([ROOT / "README.md", ROOT / "js" / "README.md", *DOCS.rglob("*.md")])
CI_WORKFLOW = ROOT / "examples" / "ci" / "phoenix-upsert.yml"


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


# ---------------------------------------------------------------------------------------
# Reading Markdown


@dataclass
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    info: str  # the info string: "python", "toml file=phoenix-upsert.toml", …
    text: str
    no_run: bool
    #: Preceded by ``<!-- no-run announced -->``: a feature another branch is adding; its
    #: commands are not parsed either (remove the word once the feature is merged).
    announced: bool = False

    @property
    def lang(self) -> str:
        return self.info.split()[0] if self.info else ""

    @property
    def file(self) -> str | None:
        m = re.search(r"\bfile=(\S+)", self.info)
        return m.group(1) if m else None

    def where(self) -> str:
        return f"{rel(self.path)}:{self.line}"


_FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*(.*)$")


def parse(path: Path) -> tuple[list[tuple[int, str]], list[Block]]:
    """The lines outside code blocks (numbered) and the code blocks of a Markdown file."""
    prose: list[tuple[int, str]] = []
    blocks: list[Block] = []
    lines = path.read_text(encoding="utf-8").split("\n")
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m is None:
            prose.append((i + 1, lines[i]))
            i += 1
            continue
        fence, info, start = m.group(2), m.group(3).strip(), i
        body: list[str] = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i])
            i += 1
        i += 1  # the closing fence
        before = [t for _, t in prose if t.strip()]
        marker = before[-1].strip() if before else ""
        no_run = marker in ("<!-- no-run -->", "<!-- no-run announced -->")
        announced = marker == "<!-- no-run announced -->"
        text = "\n".join(body) + "\n"
        blocks.append(Block(path, start + 1, info, text, no_run, announced))
    return prose, blocks


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"<[^>]+>", "", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    prose, _ = parse(path)
    seen: dict[str, int] = {}
    out = set()
    for _, line in prose:
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        base = slug(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


_LINK = re.compile(r"\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def links(path: Path) -> Iterator[tuple[int, str]]:
    prose, _ = parse(path)
    for number, line in prose:
        line = re.sub(r"`[^`]*`", "", line)  # links are not read inside code spans
        for m in _LINK.finditer(line):
            yield number, m.group(1)


def _cells(row: str) -> list[str]:
    row = row.strip().strip("|")
    return [c.strip() for c in re.split(r"(?<!\\)\|", row)]


def reference(*pages: Path) -> dict[str, dict[str, str]]:
    """``### name`` → {documented name → its table row} over the given pages."""
    out: dict[str, dict[str, str]] = {}
    for page in pages:
        prose, _ = parse(page)
        current: dict[str, str] | None = None
        in_table = False
        for _, line in prose:
            if line.startswith("#"):
                m = re.match(r"^###\s+(.*?)\s*$", line)
                current = out.setdefault(m.group(1).strip("`"), {}) if m else None
                in_table = False
                continue
            if current is None:
                continue
            if not line.lstrip().startswith("|"):
                if in_table:  # only the first table under a heading lists the parameters
                    current = None
                continue
            in_table = True
            first = _cells(line)[0]
            for name in re.findall(r"`([^`]+)`", first):
                current[name] = line
    return out


# ---------------------------------------------------------------------------------------
# (a) links and anchors


@pytest.mark.parametrize("page", MARKDOWN, ids=rel)
def test_links_and_anchors_resolve(page: Path) -> None:
    broken = []
    for number, target in links(page):
        if re.match(r"^[a-z][a-z0-9+.\-]*:", target, re.I):  # https:, mailto:, …
            continue
        file, _, anchor = target.partition("#")
        dest = (page.parent / file).resolve() if file else page
        if not dest.exists():
            broken.append(f"{rel(page)}:{number}: {target}: no such file")
            continue
        if anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{rel(page)}:{number}: {target}: no heading #{anchor} in {dest.name}")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_every_docs_page_is_reachable_from_the_index() -> None:
    index = DOCS / "index.md"
    reachable = {index.resolve()}
    todo = [index]
    while todo:
        page = todo.pop()
        for _, target in links(page):
            file = target.partition("#")[0]
            if not file or re.match(r"^[a-z][a-z0-9+.\-]*:", file, re.I):
                continue
            dest = (page.parent / file).resolve()
            if (
                dest.suffix == ".md"
                and dest.exists()
                and dest.is_relative_to(DOCS)
                and dest not in reachable
            ):
                reachable.add(dest)
                todo.append(dest)
    missing = [rel(p) for p in DOCS.rglob("*.md") if p.resolve() not in reachable]
    assert not missing, f"docs pages no link from docs/index.md leads to: {missing}"


# ---------------------------------------------------------------------------------------
# (b) every parameter documented


def _compare(
    where: str, section: str, documented: dict[str, dict[str, str]], wanted: set[str]
) -> list[str]:
    if section not in documented:
        return [f"{where}: no '### {section}' section (parameters: {sorted(wanted)})"]
    rows = documented[section]
    problems = [
        f"{where} ### {section}: `{p}` is not documented" for p in sorted(wanted - set(rows))
    ]
    problems += [
        f"{where} ### {section}: `{p}` is documented but is no parameter"
        for p in sorted(set(rows) - wanted)
        if "announced" not in rows[p].lower()
    ]
    return problems


def _parameters(function: Callable[..., Any]) -> set[str]:
    skip = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    params = inspect.signature(function).parameters.values()
    return {p.name for p in params if p.name != "self" and p.kind not in skip}


def _python_api() -> dict[str, list[Callable[..., Any]]]:
    """Public name → the callables documented under it: every public method phoenix-upsert
    defines on the public classes (and on the resources the clients' properties return),
    and every function ``phoenix_upsert`` exports."""
    import phoenix_upsert

    classes: list[type] = []
    for name in phoenix_upsert.__all__:
        obj = getattr(phoenix_upsert, name)
        if isinstance(obj, type) and not issubclass(obj, BaseException):
            classes.append(obj)
    for cls in list(classes):
        for attr in vars(cls).values():
            if isinstance(attr, property) and attr.fget is not None:
                try:
                    hint = typing.get_type_hints(attr.fget).get("return")
                except Exception:
                    continue
                if isinstance(hint, type) and hint not in classes:
                    classes.append(hint)
    api: dict[str, list[Callable[..., Any]]] = {}
    for cls in classes:
        if not cls.__module__.startswith("phoenix_upsert"):
            continue
        for name, attr in vars(cls).items():
            if name.startswith("_") or not inspect.isfunction(attr):
                continue
            if _parameters(attr):
                api.setdefault(name, []).append(attr)
        init = vars(cls).get("__init__")
        if cls.__name__ in ("Client", "AsyncClient") and init is not None:
            api.setdefault(cls.__name__, []).append(init)
    for module in _public_modules():
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if callable(obj) and not isinstance(obj, type):
                api.setdefault(name, []).append(obj)
    return api


def _public_modules() -> list[Any]:
    """``phoenix_upsert``, and its public submodules users import functions from."""
    import importlib

    import phoenix_upsert

    modules = [phoenix_upsert]
    for name in ("phoenix_upsert.experiments",):
        try:
            modules.append(importlib.import_module(name))
        except ModuleNotFoundError:
            pass
    return modules


def _reference_pages(*, first: str, exclude: tuple[str, ...]) -> list[Path]:
    """The reference pages to read for one language: ``first``, then the others (such as
    experiments.md, which documents both SDKs) but the ``exclude``d ones."""
    pages = [REFERENCE / f"{first}.md"]
    pages += [p for p in sorted(REFERENCE.glob("*.md")) if p.stem not in (first, *exclude)]
    return pages


def test_python_parameters_documented() -> None:
    pages = _reference_pages(first="python", exclude=("cli", "config", "typescript"))
    documented = reference(*pages)
    api = _python_api()
    assert {"upsert_dataset", "diff_versions", "canonicalize", "scan_jsonl"} <= set(api)
    problems = []
    for name, functions in sorted(api.items()):
        wanted = set().union(*(_parameters(f) for f in functions))
        problems += _compare("docs/reference (Python)", name, documented, wanted)
    assert not problems, "\n".join(problems)


def _cli() -> dict[str, set[str]]:
    """``phoenix-upsert[ SUBCOMMAND]`` → its options and positionals, from the real parser."""
    from phoenix_upsert.cli import _parser

    def names(parser: argparse.ArgumentParser, *, keep_help: bool) -> set[str]:
        out = set()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            if isinstance(action, argparse._HelpAction) and not keep_help:
                continue
            out.update(action.option_strings or [action.dest])
        return out

    parser = _parser()
    commands = {"phoenix-upsert": names(parser, keep_help=True)}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command, sub in action.choices.items():
                commands[f"phoenix-upsert {command}"] = names(sub, keep_help=False)
    return commands


def test_cli_options_documented() -> None:
    documented = reference(REFERENCE / "cli.md")
    commands = _cli()
    assert {"phoenix-upsert sync", "phoenix-upsert hash", "phoenix-upsert diff"} <= set(commands)
    problems = []
    for command, options in commands.items():
        problems += _compare("docs/reference/cli.md", command, documented, options)
    assert not problems, "\n".join(problems)


def test_config_keys_documented() -> None:
    from phoenix_upsert import _config

    documented = reference(REFERENCE / "config.md")
    problems = _compare("docs/reference/config.md", "dataset", documented, set(_config.DEFAULTS))
    assert not problems, "\n".join(problems)


# TypeScript: read from the sources (what `tsc` compiles into dist/*.d.ts), so that the check
# needs no build.
JS_SRC = ROOT / "js" / "src"


def _ts_exports() -> set[str]:
    """Names of the values (not types) ``js/src/index.ts`` exports."""
    index = (JS_SRC / "index.ts").read_text(encoding="utf-8")
    names: set[str] = set()
    for m in re.finditer(r"export\s+(type\s+)?\{([^}]*)\}\s*from\s*\"([^\"]+)\"", index):
        if m.group(1):
            continue
        for item in m.group(2).split(","):
            item = item.strip()
            if item and not item.startswith("type "):
                names.add(item.split(" as ")[-1].strip())
    for m in re.finditer(r"export\s+\*\s+from\s*\"\./([^\"]+)\.js\"", index):
        text = (JS_SRC / f"{m.group(1)}.ts").read_text(encoding="utf-8")
        names.update(re.findall(r"^export\s+(?:async\s+)?function\s+(\w+)", text, re.M))
    return names


def _ts_sources() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(JS_SRC.glob("*.ts")))


def _balanced(text: str, start: int, open_: str, close: str) -> str:
    """The text between the bracket at ``start`` and its match."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == open_:
            depth += 1
        elif text[i] == close:
            depth -= 1
            if depth == 0:
                return text[start + 1 : i]
    raise ValueError(f"unbalanced {open_}")


def _split_top(text: str, sep: str = ",") -> list[str]:
    parts, depth, current = [], 0, ""
    for i, ch in enumerate(text):
        if ch in "([{<":
            depth += 1
        elif ch in ")]}>" and text[i - 1 : i + 1] != "=>":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    if current.strip():
        parts.append(current)
    return parts


def _members(body: str) -> set[str]:
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    body = re.sub(r"//[^\n]*", "", body)
    out = set()
    parts = [p for line in _split_top(body, ";") for p in _split_top(line, ",")]
    for part in [q for p in parts for q in _split_top(p, "\n")]:
        m = re.match(r"^\s*(?:readonly\s+)?(\w+)\??\s*:", part)
        if m:
            out.add(m.group(1))
    return out


def _interface(source: str, name: str) -> set[str] | None:
    m = re.search(rf"\binterface\s+{name}\b(?:\s+extends\s+([\w\s,<>]+))?\s*\{{", source)
    if m is None:
        return None
    members = _members(_balanced(source, m.end() - 1, "{", "}"))
    for parent in (m.group(1) or "").split(","):
        parent = parent.split("<")[0].strip()
        inherited = _interface(source, parent) if parent else None
        members |= inherited or set()
    return members


def _type_members(source: str, name: str) -> set[str] | None:
    """The members of a local interface, or of a local type alias made of object types and
    interfaces joined by ``&`` (parts from other packages are not read); ``None`` if
    ``name`` is neither."""
    found = _interface(source, name)
    if found is not None:
        return found
    m = re.search(rf"\btype\s+{name}\b\s*(?:<[^=]*>)?\s*=", source)
    if m is None:
        return None
    end = m.end()
    depth = 0
    for i in range(end, len(source)):
        ch = source[i]
        if ch in "([{<":
            depth += 1
        elif ch in ")]}>" and source[i - 1 : i + 1] != "=>":
            depth -= 1
        elif ch == ";" and depth == 0:
            break
    return _object_members(source, source[end:i])


def _object_members(source: str, kind: str) -> set[str] | None:
    members: set[str] = set()
    known = False
    for piece in _split_top(kind, "&"):
        piece = piece.strip()
        if piece.startswith("{"):
            members |= _members(piece[1:-1])
            known = True
        elif re.fullmatch(r"\w+", piece):
            inner = _type_members(source, piece)
            if inner is not None:
                members |= inner
                known = True
    return members if known else None


def _ts_parameters(source: str, function: str) -> set[str]:
    """The parameters of an exported function; a parameter typed by an interface of the
    sources (or an inline object type) stands for its members: the options."""
    out: set[str] = set()
    pattern = rf"export\s+(?:declare\s+)?(?:async\s+)?function\s+{function}\s*(?:<[^>]*>)?\("
    found = False
    for m in re.finditer(pattern, source):
        found = True
        params = _balanced(source, m.end() - 1, "(", ")")
        for param in _split_top(params):
            name, _, kind = param.partition(":")
            name = name.strip().rstrip("?")
            kind = _split_top(kind, "=")[0].strip()
            members = _object_members(source, kind)
            out |= members if members else {name}
    assert found, f"no exported function {function} in js/src"
    return out


def test_typescript_options_documented() -> None:
    pages = _reference_pages(first="typescript", exclude=("cli", "config", "python"))
    documented = reference(*pages)
    source = _ts_sources()
    functions = {
        name
        for name in _ts_exports()
        if re.search(rf"export\s+(?:async\s+)?function\s+{name}\b", source)
    }
    assert {"upsertDataset", "canonicalize", "scanJsonl", "diff"} <= functions
    problems = []
    for name in sorted(functions):
        params = _ts_parameters(source, name)
        problems += _compare("docs/reference (TypeScript)", name, documented, params)
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------------------
# Commands and the workflow


def _commands(text: str) -> Iterator[str]:
    """The ``phoenix-upsert …`` commands of a shell text (continuation lines joined)."""
    text = text.replace("\\\n", " ")
    for line in text.split("\n"):
        line = line.strip().removeprefix("run:").strip()
        line = line.removeprefix("- ").strip()
        if line.startswith("phoenix-upsert ") or line == "phoenix-upsert":
            yield line


def _all_commands() -> Iterator[tuple[str, str]]:
    for page in MARKDOWN:
        for block in parse(page)[1]:
            if block.lang in ("bash", "sh", "shell", "yaml", "yml", "console") and not (
                block.announced
            ):
                for command in _commands(block.text):
                    yield block.where(), command
    if CI_WORKFLOW.exists():
        for command in _commands(CI_WORKFLOW.read_text(encoding="utf-8")):
            yield rel(CI_WORKFLOW), command


def test_documented_commands_parse() -> None:
    from phoenix_upsert.cli import _parser

    problems, count = [], 0
    for where, command in _all_commands():
        argv = shlex.split(command, comments=True)[1:]
        for i, arg in enumerate(argv):
            if arg.startswith(("|", "&", ";", ">", "2>", "<")):
                argv = argv[:i]
                break
        if not argv or argv[0] in ("--version", "-h", "--help"):
            continue
        count += 1
        try:
            with contextlib.redirect_stderr(io.StringIO()):
                _parser().parse_args(argv)
        except SystemExit as e:
            if e.code:
                problems.append(f"{where}: {command!r} does not parse")
    assert count > 5, "no phoenix-upsert commands found in the docs"
    assert not problems, "\n".join(problems)


def test_ci_workflow_parses_and_matches_the_guide() -> None:
    yaml = pytest.importorskip("yaml")
    workflow = yaml.safe_load(CI_WORKFLOW.read_text(encoding="utf-8"))
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads `on` as true
    assert "pull_request" in triggers and "push" in triggers
    steps = [s for job in workflow["jobs"].values() for s in job["steps"]]
    assert any("actions/cache" in str(s.get("uses", "")) for s in steps)
    runs = "\n".join(str(s.get("run", "")) for s in steps)
    assert "--check" in runs and "--manifest-dir" in runs
    assert "secrets.PHOENIX_API_KEY" in CI_WORKFLOW.read_text(encoding="utf-8")
    guide = [
        b for b in parse(GUIDES / "ci.md")[1] if b.file == ".github/workflows/phoenix-upsert.yml"
    ]
    assert guide and guide[0].text == CI_WORKFLOW.read_text(encoding="utf-8"), (
        "docs/guides/ci.md's workflow and examples/ci/phoenix-upsert.yml differ"
    )


# ---------------------------------------------------------------------------------------
# (c) the guides' code blocks run

NEEDS_SERVER = re.compile(
    r"Client\(|upsert_dataset|diff_versions|phoenix-upsert (sync|diff)\b|run_experiment"
)


def _runnable(block: Block) -> bool:
    if block.no_run:
        return False
    if block.lang == "python" or block.file:
        return True
    return block.lang in ("bash", "sh") and any(True for _ in _commands(block.text))


def _guides(*, server: bool) -> list[Path]:
    out = []
    for guide in sorted(GUIDES.glob("*.md")):
        blocks = [b for b in parse(guide)[1] if _runnable(b) and not b.file]
        if blocks and any(NEEDS_SERVER.search(b.text) for b in blocks) == server:
            out.append(guide)
    return out


def _sandbox(tmp_path: Path) -> Path:
    """A working directory with the files the guides use: data/support.jsonl (and its
    next version), as a repository of evals would have them."""
    data = tmp_path / "data"
    data.mkdir(parents=True)
    shutil.copy(ROOT / "examples" / "data" / "support_v1.jsonl", data / "support.jsonl")
    shutil.copy(ROOT / "examples" / "data" / "support_v2.jsonl", data / "support_v2.jsonl")
    return tmp_path


def _run_guide(
    guide: Path, cwd: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(cwd)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    bin_dir = str(Path(sys.executable).parent)
    monkeypatch.setenv("PATH", bin_dir + os.pathsep + os.environ.get("PATH", ""))
    namespace: dict[str, Any] = {"__name__": "__guide__"}
    for block in parse(guide)[1]:
        if not _runnable(block):
            continue
        if block.file:
            target = cwd / block.file
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.text, encoding="utf-8")
        elif block.lang == "python":
            try:
                exec(compile(block.text, block.where(), "exec"), namespace)
            except Exception as e:
                raise AssertionError(f"{block.where()}: the python block failed: {e!r}") from e
        else:
            done = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", block.text],
                cwd=cwd,
                env=os.environ.copy(),
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert done.returncode == 0, (
                f"{block.where()}: the bash block exited {done.returncode}\n"
                f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
            )


_OFFLINE = _guides(server=False) or [
    pytest.param(None, marks=pytest.mark.skip(reason="every guide with code needs a server"))
]


@pytest.mark.parametrize("guide", _OFFLINE, ids=lambda g: rel(g) if g else "none")
def test_guide_blocks_run_offline(
    guide: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _run_guide(guide, _sandbox(tmp_path), {}, monkeypatch)


@pytest.mark.parametrize("guide", _guides(server=True), ids=rel)
def test_guide_blocks_run(
    guide: Path, phoenix: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        "PHOENIX_COLLECTOR_ENDPOINT": phoenix.base_url,
        "PHOENIX_UPSERT_CACHE_DIR": str(tmp_path / "cache"),
    }
    monkeypatch.delenv("PHOENIX_API_KEY", raising=False)
    _run_guide(guide, _sandbox(tmp_path / "work"), env, monkeypatch)


# The TypeScript guides: their ```ts blocks, in order, as one module, compiled with the
# package's tsc against the built package (js/dist) and run with Node against real Phoenix.
JS = ROOT / "js"
TS_GUIDES = [
    g
    for g in sorted(GUIDES.glob("*.md"))
    if any(b.lang in ("ts", "typescript") and not b.no_run for b in parse(g)[1])
]


@pytest.mark.parametrize("guide", TS_GUIDES, ids=rel)
def test_typescript_guide_blocks_run(guide: Path, phoenix: Any, tmp_path: Path) -> None:
    if not (JS / "dist" / "index.d.ts").exists():
        message = "js/dist is not built: cd js && sh scripts/build.sh"
        if os.environ.get("PU_DOCS_REQUIRE_JS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    work = _sandbox(tmp_path / "work")
    modules = work / "node_modules"
    modules.mkdir()
    (modules / "phoenix-upsert").symlink_to(JS)
    for scope in ("@arizeai", "@types"):
        (modules / scope).symlink_to(JS / "node_modules" / scope)
    (work / "package.json").write_text('{"type": "module"}\n')
    (work / "tsconfig.json").write_text(
        '{"compilerOptions": {"target": "es2022", "module": "nodenext", '
        '"moduleResolution": "nodenext", "strict": true, "types": ["node"], '
        '"outDir": "out", "skipLibCheck": true}, "files": ["guide.ts"]}\n'
    )
    blocks = [b for b in parse(guide)[1] if b.lang in ("ts", "typescript") and not b.no_run]
    (work / "guide.ts").write_text("".join(f"// {b.where()}\n{b.text}" for b in blocks))
    tsc = subprocess.run(
        [str(JS / "node_modules" / ".bin" / "tsc"), "-p", "."],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert tsc.returncode == 0, f"{rel(guide)}: the TypeScript does not compile:\n{tsc.stdout}"
    env = {
        **os.environ,
        "PHOENIX_HOST": phoenix.base_url,
        "PHOENIX_UPSERT_CACHE_DIR": str(tmp_path / "cache"),
    }
    env.pop("PHOENIX_API_KEY", None)
    node = subprocess.run(
        ["node", "out/guide.js"], cwd=work, env=env, capture_output=True, text=True, timeout=300
    )
    assert node.returncode == 0, (
        f"{rel(guide)}: the TypeScript failed:\nstdout:\n{node.stdout}\nstderr:\n{node.stderr}"
    )
