"""``phoenix-upsert``: keep Phoenix datasets in step with the files of a repository, from CI.

    phoenix-upsert sync data/support.jsonl --dataset support-benchmark
    phoenix-upsert sync data/support.jsonl --dataset support-benchmark --check
    phoenix-upsert sync            # every dataset of phoenix-upsert.toml (or pyproject.toml)
    phoenix-upsert sync --check --json

``sync --check`` never writes: it exits 0 when each dataset already equals its source and 1
when one does not, printing the plan. Without a FILE, ``sync`` syncs every dataset listed in
``phoenix-upsert.toml`` in the current directory (or ``--config PATH``, or the
``[tool.phoenix-upsert]`` table of ``pyproject.toml``; see ``phoenix_upsert._config``),
one after the other, on through failures, and prints one summary.

The server comes from ``--endpoint``, else from the environment as phoenix-client reads it
(``PHOENIX_COLLECTOR_ENDPOINT`` and the others; default ``http://127.0.0.1:6006``); the API
key from ``PHOENIX_API_KEY``, headers from ``PHOENIX_CLIENT_HEADERS`` (never from the command
line, where other users of the machine could read them). The command never imports the
``phoenix`` package: it starts in a fraction of a second even where the Phoenix server is
installed.

Exit codes (with several datasets, the highest wins):

    0    in sync, or done
    1    out of sync (--check): a dataset differs from its source; nothing was written
    2    bad input or arguments (a bad file, config or option); nothing was written
    3    server or network error (Phoenix or a source's store), not Phoenix, or a bug
    130  interrupted (Ctrl-C)

With ``--json``, the result (or the error) is printed on stdout as a JSON object; errors
also go to stderr in one line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from phoenix_upsert import __version__, _config
from phoenix_upsert._config import Config, ConfigError, DatasetEntry
from phoenix_upsert.errors import (
    InvalidInputError,
    MissingSourceIdError,
    PhoenixUpsertError,
    ServerError,
    SourceUnreachableError,
)
from phoenix_upsert.results import SyncPlan, SyncResult

if TYPE_CHECKING:
    import httpx

    from phoenix_upsert._api import ServerVersion

EXIT_OK, EXIT_OUT_OF_SYNC, EXIT_INPUT, EXIT_SERVER, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

EXIT_CODES = """\
exit codes (with several datasets, the highest wins):
  0    in sync, or done
  1    out of sync (--check): a dataset differs from its source; nothing was written
  2    bad input or arguments (a bad file, config or option); nothing was written
  3    server or network error (Phoenix or a source's store), not Phoenix, or a bug
  130  interrupted (Ctrl-C)
"""

ENVIRONMENT = """\
environment:
  PHOENIX_COLLECTOR_ENDPOINT  the server (or PHOENIX_ENDPOINT, as phoenix-client reads them;
                              default http://127.0.0.1:6006); --endpoint overrides it
  PHOENIX_API_KEY             the API key, sent as a bearer token
  PHOENIX_CLIENT_HEADERS      more headers: name=value,name2=value2 (values URL-encoded)
"""

#: Options that describe one dataset: with a config file, they are set per dataset there.
PER_DATASET = {
    "id_key": "--id-key",
    "splits_key": "--splits-key",
    "span_id_key": "--span-id-key",
    "mode": "--mode",
    "allow_empty": "--allow-empty",
    "description": "--description",
    "input_keys": "--input-keys",
    "output_keys": "--output-keys",
    "metadata_keys": "--metadata-keys",
    "split_keys": "--split-keys",
}


class _Parser(argparse.ArgumentParser):
    """argparse, whose errors are also JSON on stdout when ``--json`` was asked for."""

    json_errors: ClassVar[bool] = False

    def error(self, message: str) -> NoReturn:
        if _Parser.json_errors:
            out = {"error": "ArgumentError", "message": message, "exit_code": EXIT_INPUT}
            print(json.dumps(out, ensure_ascii=False, indent=2))
        super().error(message)  # usage and message on stderr, exit 2


def _columns(value: str) -> list[str]:
    """A comma-separated list of column names (blanks around each name dropped)."""
    names = [c.strip() for c in value.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"{value!r}: an empty column name")
    return names


def _parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = _Parser(
        prog="phoenix-upsert",
        description="Keep Arize Phoenix datasets in exact sync with JSONL files.",
        epilog=EXIT_CODES,
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    sync = commands.add_parser(
        "sync",
        help="make datasets hold exactly the examples of their JSONL files",
        description="Make a Phoenix dataset hold exactly the examples of a JSONL file (one JSON\n"
        "object per line with input, output, optional metadata, an id, and optional\n"
        "splits), writing only what changed.\n\n"
        "Without FILE: every dataset listed in phoenix-upsert.toml (or in the\n"
        "[tool.phoenix-upsert] table of pyproject.toml) in the current directory, or in\n"
        "--config PATH, one after the other, with one summary and one exit code.",
        epilog=f"{ENVIRONMENT}\n{EXIT_CODES}",
        formatter_class=formatter,
    )
    sync.add_argument(
        "file",
        nargs="?",
        help="the source: a JSONL, CSV or Parquet file or URL (default: the datasets of the "
        "config file)",
    )
    sync.add_argument(
        "--config",
        metavar="PATH",
        help="the config file listing the datasets (default: ./phoenix-upsert.toml, "
        "else [tool.phoenix-upsert] in ./pyproject.toml)",
    )
    target = sync.add_mutually_exclusive_group()
    target.add_argument(
        "--dataset",
        help="dataset name, created if missing (with a config file: sync only this one)",
    )
    target.add_argument(
        "--dataset-id", help="id of an existing dataset (with a config file: only this one)"
    )
    sync.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 0 if in sync, 1 if not, printing the plan",
    )
    sync.add_argument("--dry-run", action="store_true", help="print the plan, write nothing")
    sync.add_argument("--json", action="store_true", help="print the result as JSON")
    sync.add_argument(
        "--id-key",
        help="field holding each example's stable id (default: id; '' to match by content)",
    )
    sync.add_argument("--splits-key", help="field of split names (default: splits)")
    sync.add_argument("--span-id-key", help="field of span ids (default: span_id)")
    for part in ("input", "output", "metadata"):
        sync.add_argument(
            f"--{part}-keys",
            type=_columns,
            metavar="COLUMNS",
            help=f"CSV/Parquet: the columns of each example's {part}, comma-separated "
            "(as phoenix-client's create_dataset; CSV without any: inferred as it does)",
        )
    sync.add_argument(
        "--split-keys",
        type=_columns,
        metavar="COLUMNS",
        help="CSV/Parquet: columns whose values are split names, comma-separated",
    )
    sync.add_argument(
        "--mode",
        choices=("mirror", "merge"),
        help="mirror: create, update and delete (default); merge: never delete",
    )
    sync.add_argument(
        "--allow-empty",
        action="store_true",
        default=None,
        help="allow an empty file to empty the dataset (refused by default)",
    )
    sync.add_argument("--description", help="description of a dataset this creates")
    sync.add_argument("--endpoint", help="Phoenix base URL (default: from the environment)")
    sync.add_argument("--timeout", type=float, help="seconds per request (default: by size)")
    sync.add_argument("--retries", type=int, default=4, help="attempts for repeatable steps")
    sync.add_argument("--manifest-dir", help="where to keep the sync manifests")
    sync.add_argument("--no-manifest", action="store_true", help="always read the dataset")
    sync.add_argument("-q", "--quiet", action="store_true", help="no progress bars or logs")
    sync.add_argument("-v", "--verbose", action="store_true", help="log what happens")

    hashes = commands.add_parser(
        "hash",
        help="print the content hash Phoenix computes for each example of a source (a JSONL, "
        "CSV or Parquet file or URL, plain or compressed), as a sync reads it",
    )
    hashes.add_argument("file", help="path or URL")
    hashes.add_argument(
        "--id-key",
        default=None,
        help="key of each example's source id (default: id, if the examples have it; '' for none)",
    )

    versions = commands.add_parser(
        "diff",
        help="list what changed between two versions of a dataset",
        description="List the examples added, updated (with the fields that changed) and "
        "deleted between two versions of a Phoenix dataset; by default its two latest.",
    )
    which = versions.add_mutually_exclusive_group(required=True)
    which.add_argument("--dataset", help="dataset name")
    which.add_argument("--dataset-id", help="dataset id")
    versions.add_argument("--from", dest="from_version", help="the older version id")
    versions.add_argument("--to", dest="to_version", help="the newer version id")
    versions.add_argument("--json", action="store_true", help="print the diff as JSON")
    versions.add_argument("--endpoint", help="Phoenix base URL (default: from the environment)")
    versions.add_argument("--timeout", type=float, help="seconds per request (default: by size)")
    versions.add_argument("--retries", type=int, default=4, help="attempts for each read")
    return parser


# ---------------------------------------------------------------------------------------
# What to sync


def _entries(args: argparse.Namespace) -> tuple[list[DatasetEntry], Config | None]:
    """The datasets to sync: FILE with its options, or the config file's."""
    if args.file is not None:
        if args.config is not None:
            raise ValueError("give a FILE or --config, not both")
        if args.dataset is None and args.dataset_id is None:
            raise ValueError("give the dataset of FILE: --dataset NAME or --dataset-id ID")

        def key(value: str | None, option: str) -> str | None:
            """An option naming a field: its default if not given; '' for none."""
            return str(_config.DEFAULTS[option]) if value is None else (value or None)

        entry = DatasetEntry(
            source=args.file,
            source_text=args.file,
            name=args.dataset,
            dataset_id=args.dataset_id,
            id_key=key(args.id_key, "id_key"),
            mode=args.mode or _config.DEFAULTS["mode"],
            splits_key=key(args.splits_key, "splits_key"),
            span_id_key=key(args.span_id_key, "span_id_key"),
            allow_empty=bool(args.allow_empty),
            description=args.description,
            input_keys=args.input_keys,
            output_keys=args.output_keys,
            metadata_keys=args.metadata_keys,
            split_keys=args.split_keys,
        )
        return [entry], None
    given = [flag for attr, flag in PER_DATASET.items() if getattr(args, attr) is not None]
    if given:
        raise ValueError(
            f"{given[0]} describes the dataset of one FILE; with a config file, set it per "
            "dataset there"
        )
    config = _config.find(args.config)
    if config is None:
        raise ConfigError(
            f"no FILE given, and no {_config.CONFIG_NAME} (nor a [tool.{_config.TOOL_KEY}] "
            f"table in {_config.PYPROJECT}) in {Path.cwd()}: give a JSONL file and "
            "--dataset NAME, or --config PATH"
        )
    entries = list(config.datasets)
    if args.dataset is not None:
        entries = [e for e in entries if e.name == args.dataset]
    if args.dataset_id is not None:
        entries = [e for e in entries if e.dataset_id == args.dataset_id]
    if not entries:
        wanted = f"name {args.dataset!r}" if args.dataset else f"dataset_id {args.dataset_id!r}"
        raise ConfigError(f"{config.where}: no dataset with {wanted}", file=config.path)
    return entries, config


# ---------------------------------------------------------------------------------------
# Running


class _Runner:
    """Syncs entries one after the other over one HTTP client (the server's version is read
    once)."""

    def __init__(self, http: httpx.Client, args: argparse.Namespace) -> None:
        self.http = http
        self.args = args
        self.server_version: ServerVersion = None

    def _remember(self, version: ServerVersion) -> None:
        self.server_version = version

    def run(self, entry: DatasetEntry) -> SyncResult | SyncPlan:
        from phoenix_upsert import _api

        args = self.args
        manifest: Any = False if args.no_manifest else (args.manifest_dir or True)
        result, _ = _api.upsert_dataset(
            self.http,
            dataset=entry.name,
            dataset_id=entry.dataset_id,
            examples=entry.source,
            source_id_key=entry.id_key,
            mode=entry.mode,
            dry_run=args.dry_run or args.check,
            splits_key=entry.splits_key,
            span_id_key=entry.span_id_key,
            input_keys=entry.input_keys,
            output_keys=entry.output_keys,
            metadata_keys=entry.metadata_keys,
            split_keys=entry.split_keys,
            dataset_description=entry.description,
            timeout=args.timeout,
            retries=args.retries,
            progress=False if args.quiet or args.json else None,
            manifest=manifest,
            allow_empty=entry.allow_empty,
            server_version=self.server_version,
            on_server_version=self._remember,
        )
        return result


def _client(endpoint: str | None) -> httpx.Client:
    import httpx

    from phoenix_upsert import _http
    from phoenix_upsert._engine.server import shown_url

    where = (
        f"--endpoint {shown_url(endpoint)!r}" if endpoint else "the endpoint set in the environment"
    )
    hint = "give the server's base URL, e.g. http://localhost:6006"
    try:
        http = _http.make_client(endpoint)
    except httpx.InvalidURL as e:
        raise ValueError(f"{where} is not a URL ({e}): {hint}") from e
    url = http.base_url
    if url.scheme not in ("http", "https") or not url.host:
        http.close()
        raise ValueError(f"{where} is not an http:// or https:// URL: {hint}")
    return http


def _import_httpx() -> None:
    """Import httpx without its own command line, ``httpx._main``, which this process never
    runs and which imports rich, click and pygments where they are installed (a fifth of a
    second; httpx falls back to a stub when it cannot be imported)."""
    if "httpx" in sys.modules or "httpx._main" in sys.modules:
        return
    sys.modules["httpx._main"] = None  # type: ignore[assignment]
    try:
        import httpx  # noqa: F401
    finally:
        if "httpx._main" in sys.modules and sys.modules["httpx._main"] is None:
            del sys.modules["httpx._main"]


def _sync(args: argparse.Namespace) -> int:
    _import_httpx()
    if args.retries < 1:
        raise ValueError("--retries must be at least 1")
    entries, config = _entries(args)
    with _client(args.endpoint) as http:
        runner = _Runner(http, args)
        if config is None:
            result = runner.run(entries[0])
            print(_report(result, as_json=args.json, check=args.check))
            plan = _unpack(result)[0]
            return EXIT_OUT_OF_SYNC if args.check and plan.has_changes else EXIT_OK
        return _sync_all(runner, config, entries, args)


@dataclass
class _Outcome:
    entry: DatasetEntry
    result: SyncResult | SyncPlan | None
    error: BaseException | None
    code: int
    seconds: float


def _check_distinct(http: httpx.Client, config: Config, entries: list[DatasetEntry]) -> None:
    """Refuse, before anything is written, a config whose entries name one dataset twice:
    once by name and once by ``dataset_id`` (each run would sync both sources, two new
    versions a run, never settling). The names are resolved on the server only when the
    entries mix the two kinds."""
    by_id = {e.dataset_id: e for e in entries if e.dataset_id is not None}
    by_name = [e for e in entries if e.name is not None]
    if not by_id or not by_name:
        return
    from phoenix_upsert._engine.server import RetryPolicy, Server, global_id

    server = Server(http, retry=RetryPolicy(), timeout=None)
    wanted = {global_id(i) or i: e for i, e in by_id.items()}
    for entry in by_name:
        assert entry.name is not None
        info = server.find_dataset(entry.name)
        if info is None:
            continue
        other = wanted.get(global_id(info["id"]) or str(info["id"]))
        if other is not None:
            raise ConfigError(
                f"{config.where}: datasets name {entry.name!r} and dataset_id "
                f"{other.dataset_id!r} are the same dataset on the server, with sources "
                f"{entry.source!r} and {other.source!r} (one dataset, one source)",
                file=config.path,
            )


def _sync_all(
    runner: _Runner, config: Config, entries: list[DatasetEntry], args: argparse.Namespace
) -> int:
    _check_distinct(runner.http, config, entries)
    outcomes: list[_Outcome] = []
    for entry in entries:
        started = time.monotonic()
        try:
            result = runner.run(entry)
        except Exception as e:
            code = _error_code(e)
            if code is None:
                code = _internal_error(e)
            print(f"phoenix-upsert: error: {entry.label}: {_message(e)}", file=sys.stderr)
            outcomes.append(_Outcome(entry, None, e, code, time.monotonic() - started))
            continue
        plan = _unpack(result)[0]
        code = EXIT_OUT_OF_SYNC if args.check and plan.has_changes else EXIT_OK
        outcomes.append(_Outcome(entry, result, None, code, time.monotonic() - started))
    exit_code = max(o.code for o in outcomes)
    if args.json:
        print(_summary_json(config, outcomes, args, exit_code))
    else:
        print(_summary_table(outcomes, args))
    return exit_code


# ---------------------------------------------------------------------------------------
# Reports


def _plan_dict(plan: SyncPlan) -> dict[str, Any]:
    return {
        "action": plan.action,
        "added": list(plan.added),
        "updated": list(plan.updated),
        "split_changes": list(plan.split_changes),
        "deleted": list(plan.deleted),
    }


def _status(plan: SyncPlan, *, dry_run: bool) -> str:
    """``in_sync``: nothing to write; ``out_of_sync``: a dry run found changes to make;
    ``synced``: changes were written."""
    if not plan.has_changes:
        return "in_sync"
    return "out_of_sync" if dry_run else "synced"


def _unpack(result: SyncResult | SyncPlan) -> tuple[SyncPlan, str | None, str | None, bool]:
    """(plan, dataset id, version id, dry run)."""
    if isinstance(result, SyncPlan):
        return result, result.dataset_id, result.base_version_id, True
    return result.plan, result.id, result.version_id, False


def _result_dict(result: SyncResult | SyncPlan, *, check: bool) -> dict[str, Any]:
    plan, dataset_id, version, dry_run = _unpack(result)
    return {
        "dataset": plan.dataset_name,
        "dataset_id": dataset_id,
        "version_id": version,
        "base_version_id": plan.base_version_id,
        "dry_run": dry_run,
        "check": check,
        "status": _status(plan, dry_run=dry_run),
        "new_version": (not dry_run) and version != plan.base_version_id,
        "versions": [] if isinstance(result, SyncPlan) else list(result.versions),
        "summary": plan.summary.as_dict(),
        "plan": _plan_dict(plan),
    }


def _result_text(result: SyncResult | SyncPlan, *, check: bool) -> str:
    plan, _, version, dry_run = _unpack(result)
    if dry_run:
        if not plan.has_changes:
            return "in sync" if check else "dry run: up to date"
        return f"out of sync: would {plan.action}" if check else f"dry run: would {plan.action}"
    if not plan.has_changes:
        return "up to date, nothing written"
    if version == plan.base_version_id:
        return f"{plan.action}: splits changed (Phoenix keeps the version)"
    if isinstance(result, SyncResult) and len(result.versions) > 1:
        return (
            f"{plan.action}: {len(result.versions)} new versions (more new examples than one "
            "request to the server may carry, written in parts)"
        )
    return f"{plan.action}: new version"


def _ids(plan: SyncPlan, limit: int = 10) -> list[tuple[str, str]]:
    """The examples a plan touches, by kind: the first ``limit`` ids of each (``[i]``: the
    example at position ``i`` of a source without ids)."""
    kinds: list[tuple[str, Sequence[str | None], Sequence[int]]] = [
        ("add", plan.added, plan.added_indices),
        ("update", plan.updated, plan.updated_indices),
        ("change splits", plan.split_changes, plan.split_change_indices),
        ("delete", plan.deleted, ()),
    ]
    out = []
    for kind, ids, positions in kinds:
        if not ids:
            continue
        shown = [
            i if i is not None else f"[{positions[k]}]" if k < len(positions) else "?"
            for k, i in enumerate(ids[:limit])
        ]
        more = f" … (+{len(ids) - limit} more)" if len(ids) > limit else ""
        out.append((f"{kind} ({len(ids)})", ", ".join(shown) + more))
    return out


def _report(result: SyncResult | SyncPlan, *, as_json: bool, check: bool = False) -> str:
    if as_json:
        return json.dumps(_result_dict(result, check=check), ensure_ascii=False, indent=2)
    plan, dataset_id, version, dry_run = _unpack(result)
    summary = plan.summary
    rows = [
        ("dataset", f"{plan.dataset_name}" + (f" ({dataset_id})" if dataset_id else "")),
        ("version", version or "-"),
        ("result", _result_text(result, check=check)),
        ("added", str(summary.added)),
        ("updated", str(summary.updated)),
        ("deleted", str(summary.deleted)),
        ("unchanged", str(summary.unchanged)),
    ]
    width = max(len(k) for k, _ in rows)
    text = "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
    if dry_run and plan.has_changes:
        changes = _ids(plan)
        w = max(len(k) for k, _ in changes)
        text += "\n\nwould:\n" + "\n".join(f"  {k:<{w}}  {v}" for k, v in changes)
    return text


def _summary_table(outcomes: list[_Outcome], args: argparse.Namespace) -> str:
    header = ("dataset", "result", "added", "updated", "deleted", "unchanged", "source")
    rows: list[tuple[str, ...]] = []
    for o in outcomes:
        if o.result is None:
            rows.append(
                (o.entry.label, f"error (exit {o.code})", "-", "-", "-", "-", o.entry.source_text)
            )
            continue
        plan, *_ = _unpack(o.result)
        s = plan.summary
        text = _result_text(o.result, check=args.check)
        counts = (str(s.added), str(s.updated), str(s.deleted), str(s.unchanged))
        rows.append((o.entry.label, text, *counts, o.entry.source_text))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    numeric = {2, 3, 4, 5}

    def line(cells: tuple[str, ...]) -> str:
        parts = [
            c.rjust(widths[i]) if i in numeric else c.ljust(widths[i]) for i, c in enumerate(cells)
        ]
        return "  ".join(parts).rstrip()

    # (each error was said on stderr as it happened)
    return "\n".join([line(header), *(line(r) for r in rows), "", _tally(outcomes)])


def _counts(outcomes: list[_Outcome]) -> dict[str, int]:
    counts = {"in_sync": 0, "out_of_sync": 0, "synced": 0, "failed": 0}
    for o in outcomes:
        if o.result is None:
            counts["failed"] += 1
        else:
            plan, _, _, dry_run = _unpack(o.result)
            counts[_status(plan, dry_run=dry_run)] += 1
    return counts


def _tally(outcomes: list[_Outcome]) -> str:
    counts = _counts(outcomes)
    n = len(outcomes)
    parts = [f"{v} {k.replace('_', ' ')}" for k, v in counts.items() if v]
    return f"{n} dataset{'s' if n != 1 else ''}: " + ", ".join(parts)


def _summary_json(
    config: Config, outcomes: list[_Outcome], args: argparse.Namespace, exit_code: int
) -> str:
    datasets: list[dict[str, Any]] = []
    for o in outcomes:
        item: dict[str, Any]
        if o.result is None:
            assert o.error is not None
            item = {"dataset": o.entry.label, "status": "error", **_error_dict(o.error)}
            if o.entry.dataset_id is not None:
                item["dataset_id"] = o.entry.dataset_id
        else:
            item = _result_dict(o.result, check=args.check)
        item["source"] = o.entry.source_text
        item["exit_code"] = o.code
        item["seconds"] = round(o.seconds, 3)
        datasets.append(item)
    out = {
        "config": str(config.path),
        "check": args.check,
        "dry_run": args.dry_run or args.check,
        "exit_code": exit_code,
        "summary": {"datasets": len(outcomes), **_counts(outcomes)},
        "datasets": datasets,
    }
    return json.dumps(out, ensure_ascii=False, indent=2)


# ---------------------------------------------------------------------------------------
# hash


def _diff(args: argparse.Namespace) -> int:
    _import_httpx()
    from phoenix_upsert._engine.server import RetryPolicy, Server
    from phoenix_upsert._engine.versions import diff_versions

    if args.retries < 1:
        raise ValueError("--retries must be at least 1")
    with _client(args.endpoint) as http:
        server = Server(http, retry=RetryPolicy(attempts=args.retries), timeout=args.timeout)
        d = diff_versions(
            server,
            dataset=args.dataset,
            dataset_id=args.dataset_id,
            from_version=args.from_version,
            to_version=args.to_version,
        )
    if args.json:
        print(json.dumps(d.as_dict(), ensure_ascii=False, indent=2))
        return EXIT_OK
    summary = d.as_dict()["summary"]
    print(f"dataset  {d.dataset_name} ({d.dataset_id})")
    print(f"from     {d.from_version_id or '(nothing: the first version)'}")
    print(f"to       {d.to_version_id}")
    print(", ".join(f"{k} {v}" for k, v in summary.items()))
    for e in d.added:
        print(f"+ {e.id}")
    for e in d.deleted:
        print(f"- {e.id}")
    for e in d.updated:
        print(f"~ {e.id}")
        for c in e.changes:
            before = json.dumps(c.before, ensure_ascii=False)
            after = json.dumps(c.after, ensure_ascii=False)
            if c.kind == "added":
                print(f"    {c.path}: + {after}")
            elif c.kind == "removed":
                print(f"    {c.path}: - {before}")
            else:
                print(f"    {c.path}: {before} -> {after}")
    return EXIT_OK


def _hash(args: argparse.Namespace) -> int:
    from phoenix_upsert._sources.source import read_source

    def read(id_key: str | None) -> Any:
        return read_source(args.file, source_id_key=id_key, splits_key=None, span_id_key=None)

    if args.id_key is not None:
        source = read(args.id_key or None)
    else:
        try:
            source = read("id")
        except MissingSourceIdError:
            source = read(None)  # no --id-key and no ids under "id": by content only
    try:
        for i, content_hash in enumerate(source.hashes):
            source_id = source.ids[i]
            print(f"{content_hash}  {source_id if source_id is not None else source.where(i)}")
        sys.stdout.flush()
    except BrokenPipeError:
        # Whoever read the hashes stopped reading (`phoenix-upsert hash … | head`): not an
        # error of ours. Quiet the flush at exit, which would fail the same way.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_OK


# ---------------------------------------------------------------------------------------
# Errors


def _error_code(error: BaseException) -> int | None:
    """The exit code of an expected error (``None``: a bug)."""
    if isinstance(error, SourceUnreachableError):
        return EXIT_SERVER  # a network error, though the source is read before the server
    if isinstance(error, InvalidInputError):
        return EXIT_INPUT
    if isinstance(error, PhoenixUpsertError):
        return EXIT_SERVER
    httpx = sys.modules.get("httpx")
    if httpx is not None and isinstance(error, httpx.HTTPError):
        return EXIT_SERVER
    if isinstance(error, (ValueError, TypeError, OSError)):
        return EXIT_INPUT  # bad arguments, a config or file that cannot be read
    return None


def _internal_error(error: BaseException) -> int:
    print("phoenix-upsert: internal error; please report it:", file=sys.stderr)
    traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)
    return EXIT_SERVER


def _message(error: BaseException) -> str:
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    return str(error) or type(error).__name__


def _error_dict(error: BaseException) -> dict[str, Any]:
    out: dict[str, Any] = {"error": type(error).__name__, "message": _message(error)}
    if isinstance(error, InvalidInputError):
        place = {
            "path": error.path or None,
            "index": error.index,
            "line": error.line,
            "column": error.column,
            "source_id": error.source_id,
        }
        out.update({k: v for k, v in place.items() if v is not None})
    if isinstance(error, ServerError) and error.status_code is not None:
        out["status_code"] = error.status_code
    if isinstance(error, ConfigError) and error.file is not None:
        out["config"] = str(error.file)
    return out


def _fail(args: argparse.Namespace, error: BaseException, code: int) -> int:
    """Say what went wrong in one line on stderr (and, with ``--json``, as JSON on stdout)."""
    print(f"phoenix-upsert: error: {_message(error)}", file=sys.stderr)
    if getattr(args, "json", False):
        out = {**_error_dict(error), "exit_code": code}
        print(json.dumps(out, ensure_ascii=False, indent=2))
    return code


def _undecodable(argv: Sequence[str]) -> str | None:
    """Why an argument cannot be used, if one cannot: bytes that are not UTF-8 (Python hands
    them over as lone surrogates, ``surrogateescape``) cannot name a dataset, a key or a file
    phoenix-upsert can report on."""
    for i, arg in enumerate(argv, 1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError as e:
            raw = arg.encode("utf-8", "surrogateescape") if _escaped(arg) else None
            shown = repr(raw)[1:] if raw is not None else ascii(arg)
            return (
                f"argument {i} ({shown}) is not valid UTF-8 text (at character {e.start}): "
                "give paths, names and keys as UTF-8"
            )
    return None


def _escaped(arg: str) -> bool:
    try:
        arg.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    raw_argv = sys.argv[1:] if argv is None else argv
    _Parser.json_errors = "--json" in raw_argv
    bad = _undecodable(raw_argv)
    if bad is not None:
        parser.error(bad)
    args = parser.parse_args(argv)
    level = logging.WARNING
    if getattr(args, "verbose", False):
        level = logging.INFO
    if getattr(args, "quiet", False):
        level = logging.ERROR
    logging.basicConfig(level=level, format="phoenix-upsert: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        commands = {"sync": _sync, "hash": _hash, "diff": _diff}
        return commands[args.command](args)
    except KeyboardInterrupt as e:
        return _fail(args, e, EXIT_INTERRUPTED)
    except Exception as e:
        code = _error_code(e)
        if code is None:
            code = _internal_error(e)
        return _fail(args, e, code)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
