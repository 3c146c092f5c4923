"""The datasets a repository keeps in sync: ``phoenix-upsert.toml``, or the
``[tool.phoenix-upsert]`` table of ``pyproject.toml``.

    [[dataset]]
    name = "support-benchmark"      # or: dataset_id = "RGF0YXNldDox"
    source = "data/support.jsonl"   # a path (relative to this file) or a URL
    id_key = "id"                   # default "id"; "" matches examples by content
    mode = "mirror"                 # or "merge" (never deletes)
    splits_key = "splits"           # default "splits"; "" for none
    span_id_key = "span_id"         # default "span_id"; "" for none
    allow_empty = false             # let an empty source empty the dataset
    description = "..."             # for a dataset this creates
    input_keys = ["question"]       # CSV/Parquet: the columns of each part (CSV: inferred
    output_keys = ["answer"]        #   as phoenix-client does if none is given)
    metadata_keys = ["topic"]
    split_keys = ["split"]          # CSV/Parquet: columns whose values are split names

In ``pyproject.toml`` the entries are ``[[tool.phoenix-upsert.dataset]]``. Every mistake
(a missing or unknown key, a value of the wrong type, the same dataset twice) is reported
with the file and the entry before anything is synced. The server and its credentials are
not part of the file: they belong to the environment (the same file syncs to a staging
and a production Phoenix).
"""

from __future__ import annotations

import difflib
import logging
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phoenix_upsert.results import Mode

logger = logging.getLogger("phoenix_upsert")

CONFIG_NAME = "phoenix-upsert.toml"
PYPROJECT = "pyproject.toml"
TOOL_KEY = "phoenix-upsert"

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")

#: Every key of a ``[[dataset]]`` entry, with its default (``None``: none).
DEFAULTS: dict[str, Any] = {
    "name": None,
    "dataset_id": None,
    "source": None,
    "id_key": "id",
    "mode": "mirror",
    "splits_key": "splits",
    "span_id_key": "span_id",
    "allow_empty": False,
    "description": None,
    "input_keys": None,
    "output_keys": None,
    "metadata_keys": None,
    "split_keys": None,
}

#: The keys whose value is an array of column names.
COLUMN_LISTS = ("input_keys", "output_keys", "metadata_keys", "split_keys")


class ConfigError(ValueError):
    """A configuration file that cannot be used (nothing was synced)."""

    def __init__(self, message: str, *, file: Path | None = None) -> None:
        super().__init__(message)
        self.file = file


@dataclass(frozen=True)
class DatasetEntry:
    """One dataset to sync and how, from a config file or from the command line."""

    source: str  # a path (resolved against the config file's directory) or a URL
    name: str | None = None
    dataset_id: str | None = None
    id_key: str | None = "id"
    mode: Mode = "mirror"
    splits_key: str | None = "splits"
    span_id_key: str | None = "span_id"
    allow_empty: bool = False
    description: str | None = None
    input_keys: tuple[str, ...] | None = None
    output_keys: tuple[str, ...] | None = None
    metadata_keys: tuple[str, ...] | None = None
    split_keys: tuple[str, ...] | None = None
    #: The source as written (in the config file or on the command line).
    source_text: str = ""

    @property
    def label(self) -> str:
        """The dataset's name, or its id."""
        return self.name if self.name is not None else str(self.dataset_id)


@dataclass(frozen=True)
class Config:
    path: Path
    datasets: tuple[DatasetEntry, ...]

    @property
    def where(self) -> str:
        """How errors name the file (and table)."""
        return f"{self.path} [tool.{TOOL_KEY}]" if self.path.name == PYPROJECT else str(self.path)


def is_url(source: str) -> bool:
    return bool(_URL.match(source))


def _load_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        with open(path, "rb") as f:
            data: dict[str, Any] = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}", file=path) from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: not UTF-8 text ({e})", file=path) from e
    except OSError as e:
        raise ConfigError(f"{path}: cannot read it: {e.strerror or e}", file=path) from e
    return data


def _tool_table(data: Mapping[str, Any]) -> Any:
    tool = data.get("tool")
    return tool.get(TOOL_KEY) if isinstance(tool, dict) else None


def find(explicit: str | None = None, cwd: Path | None = None) -> Config | None:
    """The config named by ``--config``, else ``phoenix-upsert.toml`` in ``cwd``, else
    ``[tool.phoenix-upsert]`` of ``cwd``'s ``pyproject.toml``; ``None`` if there is none."""
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"{path}: no such configuration file", file=path)
        return load(path)
    cwd = cwd if cwd is not None else Path.cwd()
    own, pyproject = cwd / CONFIG_NAME, cwd / PYPROJECT
    if own.is_file():
        try:
            in_pyproject = pyproject.is_file() and _tool_table(_load_toml(pyproject)) is not None
        except ConfigError:
            in_pyproject = False  # not ours to judge: phoenix-upsert.toml is the config
        if in_pyproject:
            logger.warning(
                "using %s; the [tool.%s] table of %s is ignored", own, TOOL_KEY, pyproject
            )
        return load(own)
    if pyproject.is_file() and _tool_table(_load_toml(pyproject)) is not None:
        return load(pyproject)
    return None


def load(path: Path) -> Config:
    """Read and check a config file (``pyproject.toml``: its ``[tool.phoenix-upsert]``)."""
    path = path.absolute()
    data = _load_toml(path)
    if path.name == PYPROJECT:
        table = _tool_table(data)
        where = f"{path} [tool.{TOOL_KEY}]"
        if table is None:
            raise ConfigError(f"{path}: no [tool.{TOOL_KEY}] table", file=path)
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: must be a table", file=path)
        prefix = f"tool.{TOOL_KEY}."
    else:
        table, where, prefix = data, str(path), ""
    unknown = [k for k in table if k != "dataset"]
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r}{_suggest(unknown[0], ['dataset'])}; "
            f"list the datasets as [[{prefix}dataset]] entries",
            file=path,
        )
    entries = table.get("dataset")
    if entries is None:
        raise ConfigError(
            f"{where}: no datasets; list them as [[{prefix}dataset]] entries", file=path
        )
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ConfigError(
            f"{where}: 'dataset' must be an array of tables ([[{prefix}dataset]] entries)",
            file=path,
        )
    if not entries:
        raise ConfigError(f"{where}: the list of datasets is empty", file=path)
    datasets = tuple(_entry(e, i, where, path) for i, e in enumerate(entries, start=1))
    for key in ("name", "dataset_id"):
        seen: dict[str, int] = {}
        for i, d in enumerate(datasets, start=1):
            value = getattr(d, key)
            if value is None:
                continue
            if value in seen:
                raise ConfigError(
                    f"{where}: datasets {seen[value]} and {i} both sync {key} {value!r} "
                    "(one dataset, one source)",
                    file=path,
                )
            seen[value] = i
    return Config(path=path, datasets=datasets)


def _suggest(key: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(key.replace("-", "_"), choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _entry(raw: dict[str, Any], index: int, where: str, path: Path) -> DatasetEntry:
    label = raw.get("name") if isinstance(raw.get("name"), str) else raw.get("dataset_id")
    what = f"dataset {index}" + (f" ({label!r})" if isinstance(label, str) else "")

    def fail(message: str) -> ConfigError:
        return ConfigError(f"{where}: {what}: {message}", file=path)

    for key in raw:
        if key not in DEFAULTS:
            raise fail(f"unknown key {key!r}{_suggest(key, list(DEFAULTS))}")
    values = {**DEFAULTS, **raw}
    for key in ("name", "dataset_id", "source", "id_key", "splits_key", "span_id_key"):
        value = values[key]
        if value is not None and not isinstance(value, str):
            raise fail(f"{key} must be a string, not {_toml_type(value)}")
    for key in ("name", "dataset_id", "description"):
        if isinstance(values[key], str) and "\x00" in values[key]:
            raise fail(f"{key} contains U+0000 (NUL), which Phoenix cannot store")
    for key in COLUMN_LISTS:
        value = values[key]
        if value is not None and (
            not isinstance(value, list) or not all(isinstance(v, str) and v for v in value)
        ):
            raise fail(f"{key} must be an array of column names (strings), not {_toml_type(value)}")
    if values["description"] is not None and not isinstance(values["description"], str):
        raise fail(f"description must be a string, not {_toml_type(values['description'])}")
    if not isinstance(values["allow_empty"], bool):
        raise fail(f"allow_empty must be true or false, not {_toml_type(values['allow_empty'])}")
    if values["mode"] not in ("mirror", "merge"):
        raise fail(f'mode must be "mirror" or "merge", not {values["mode"]!r}')
    name, dataset_id = values["name"], values["dataset_id"]
    if (name is None) == (dataset_id is None):
        raise fail("give exactly one of name (the dataset's name) or dataset_id")
    if name is not None and not name.strip():
        raise fail("name must not be empty")
    if dataset_id is not None and not dataset_id.strip():
        raise fail("dataset_id must not be empty")
    source = values["source"]
    if source is None:
        raise fail("no source (the path of a JSONL file, or a URL)")
    if not source.strip():
        raise fail("source must not be empty")
    return DatasetEntry(
        source=resolve_source(source, path.parent),
        source_text=source,
        name=name,
        dataset_id=dataset_id,
        id_key=values["id_key"] or None,
        mode=values["mode"],
        splits_key=values["splits_key"] or None,
        span_id_key=values["span_id_key"] or None,
        allow_empty=values["allow_empty"],
        description=values["description"],
        input_keys=_columns(values["input_keys"]),
        output_keys=_columns(values["output_keys"]),
        metadata_keys=_columns(values["metadata_keys"]),
        split_keys=_columns(values["split_keys"]),
    )


def _columns(value: list[str] | None) -> tuple[str, ...] | None:
    return tuple(value) if value is not None else None


def resolve_source(source: str, base: Path) -> str:
    """A URL as it is; a path relative to ``base`` (the config file's directory)."""
    if is_url(source):
        return source
    p = Path(source).expanduser()
    return str(p if p.is_absolute() else base / p)


def _toml_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, str):
        return "a string"
    return f"a {type(value).__name__}"
