"""``phoenix-upsert``: keep a Phoenix dataset in step with a JSONL file, from CI.

    phoenix-upsert sync data/support.jsonl --dataset support-benchmark
    phoenix-upsert sync data/support.jsonl --dataset support-benchmark --dry-run --json

The server comes from ``--endpoint`` or ``PHOENIX_COLLECTOR_ENDPOINT`` (default
``http://localhost:6006``), the API key from ``PHOENIX_API_KEY`` (never from the command line,
where other users of the machine could read it).

Exit codes: 0 done; 1 server or network error (or a server that is not Phoenix); 2 bad input
or arguments (nothing was written); 130 interrupted (Ctrl-C). With ``--json``, an error is
also printed on stdout as a JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import httpx

from phoenix_upsert import __version__
from phoenix_upsert._native import scan_jsonl
from phoenix_upsert.errors import InvalidInputError, PhoenixUpsertError, ServerError

if TYPE_CHECKING:
    from phoenix_upsert.dataset import UpsertedDataset
    from phoenix_upsert.results import SyncPlan

EXIT_OK, EXIT_SERVER, EXIT_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="phoenix-upsert",
        description="Keep an Arize Phoenix dataset in exact sync with a JSONL file.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    sync = commands.add_parser(
        "sync",
        help="make a dataset hold exactly the examples of a JSONL file",
        description="Make a Phoenix dataset hold exactly the examples of a JSONL file "
        "(one JSON object per line with input, output, optional metadata, an id, and "
        "optional splits), writing only what changed.",
    )
    sync.add_argument("file", help="the JSONL file")
    target = sync.add_mutually_exclusive_group(required=True)
    target.add_argument("--dataset", help="dataset name (created if missing)")
    target.add_argument("--dataset-id", help="id of an existing dataset")
    sync.add_argument(
        "--id-key",
        default="id",
        help="field holding each example's stable id (default: id; '' to match by content)",
    )
    sync.add_argument(
        "--splits-key", default="splits", help="field of split names (default: splits)"
    )
    sync.add_argument(
        "--span-id-key", default="span_id", help="field of span ids (default: span_id)"
    )
    sync.add_argument(
        "--mode",
        choices=("mirror", "merge"),
        default="mirror",
        help="mirror: create, update and delete (default); merge: never delete",
    )
    sync.add_argument("--dry-run", action="store_true", help="print the plan, write nothing")
    sync.add_argument(
        "--allow-empty",
        action="store_true",
        help="allow an empty file to empty the dataset (refused by default)",
    )
    sync.add_argument("--json", action="store_true", help="print the result as JSON")
    sync.add_argument("--endpoint", help="Phoenix base URL (default: PHOENIX_COLLECTOR_ENDPOINT)")
    sync.add_argument("--timeout", type=float, help="seconds per request (default: by size)")
    sync.add_argument("--retries", type=int, default=4, help="attempts for repeatable steps")
    sync.add_argument("--description", help="description of a dataset this creates")
    sync.add_argument("--manifest-dir", help="where to keep the sync manifest")
    sync.add_argument("--no-manifest", action="store_true", help="always read the dataset")
    sync.add_argument("-q", "--quiet", action="store_true", help="no progress bars or logs")
    sync.add_argument("-v", "--verbose", action="store_true", help="log what happens")

    hashes = commands.add_parser(
        "hash", help="print the content hash Phoenix computes for each example of a JSONL file"
    )
    hashes.add_argument("file")
    hashes.add_argument("--id-key", default="id")
    return parser


def _plan_dict(plan: SyncPlan) -> dict[str, Any]:
    return {
        "action": plan.action,
        "added": list(plan.added),
        "updated": list(plan.updated),
        "split_changes": list(plan.split_changes),
        "deleted": list(plan.deleted),
    }


def _report(result: UpsertedDataset | SyncPlan, *, as_json: bool) -> str:
    from phoenix_upsert.results import SyncPlan

    if isinstance(result, SyncPlan):
        plan, dataset_id, version = result, result.dataset_id, result.base_version_id
        dry_run = True
    else:
        plan, dataset_id, version = result.plan, result.id, result.version_id
        dry_run = False
    summary = plan.summary
    if as_json:
        return json.dumps(
            {
                "dataset": plan.dataset_name,
                "dataset_id": dataset_id,
                "version_id": version,
                "base_version_id": plan.base_version_id,
                "dry_run": dry_run,
                "new_version": (not dry_run) and version != plan.base_version_id,
                "summary": summary.as_dict(),
                "plan": _plan_dict(plan),
            },
            ensure_ascii=False,
            indent=2,
        )
    if dry_run:
        status = f"dry run: would {plan.action}" if plan.has_changes else "dry run: up to date"
    elif not plan.has_changes:
        status = "up to date, nothing written"
    elif version == plan.base_version_id:
        status = f"{plan.action}: splits changed (Phoenix keeps the version)"
    else:
        status = f"{plan.action}: new version"
    rows = [
        ("dataset", f"{plan.dataset_name}" + (f" ({dataset_id})" if dataset_id else "")),
        ("version", version or "-"),
        ("result", status),
        ("added", str(summary.added)),
        ("updated", str(summary.updated)),
        ("deleted", str(summary.deleted)),
        ("unchanged", str(summary.unchanged)),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def _sync(args: argparse.Namespace) -> int:
    if args.retries < 1:
        raise ValueError("--retries must be at least 1")
    from phoenix_upsert.client import Client  # phoenix-client: imported inside main's handlers

    client = Client(base_url=args.endpoint) if args.endpoint else Client()
    manifest: Any = False if args.no_manifest else (args.manifest_dir or True)
    common: dict[str, Any] = {
        "examples": args.file,
        "source_id_key": args.id_key or None,
        "splits_key": args.splits_key or None,
        "span_id_key": args.span_id_key or None,
        "mode": args.mode,
        "dataset_description": args.description,
        "timeout": args.timeout,
        "retries": args.retries,
        "progress": False if args.quiet else None,
        "manifest": manifest,
        "allow_empty": args.allow_empty,
    }
    target = {"dataset": args.dataset} if args.dataset else {"dataset_id": args.dataset_id}
    if args.dry_run:
        result: UpsertedDataset | SyncPlan = client.datasets.upsert_dataset(
            **target, **common, dry_run=True
        )
    else:
        result = client.datasets.upsert_dataset(**target, **common)
    print(_report(result, as_json=args.json))
    return EXIT_OK


def _hash(args: argparse.Namespace) -> int:
    scan = scan_jsonl(args.file, id_key=args.id_key or None)
    ids = scan.ids or [None] * len(scan)
    for line, source_id, content_hash in zip(scan.line_numbers, ids, scan.hashes):
        print(f"{content_hash}  {source_id if source_id is not None else f'line {line}'}")
    return EXIT_OK


def _fail(args: argparse.Namespace, error: BaseException, code: int) -> int:
    """Say what went wrong in one line on stderr (and, with ``--json``, as JSON on stdout)."""
    message = str(error) or type(error).__name__
    if isinstance(error, KeyboardInterrupt):
        message = "interrupted"
    print(f"phoenix-upsert: error: {message}", file=sys.stderr)
    if getattr(args, "json", False):
        out: dict[str, Any] = {"error": type(error).__name__, "message": message, "exit_code": code}
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
        print(json.dumps(out, ensure_ascii=False, indent=2))
    return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    level = logging.WARNING
    if getattr(args, "verbose", False):
        level = logging.INFO
    if getattr(args, "quiet", False):
        level = logging.ERROR
    logging.basicConfig(level=level, format="phoenix-upsert: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        return _sync(args) if args.command == "sync" else _hash(args)
    except KeyboardInterrupt as e:
        return _fail(args, e, EXIT_INTERRUPTED)
    except (InvalidInputError, ValueError, TypeError, OSError) as e:
        # OSError: the file cannot be read. ValueError/TypeError: bad arguments.
        return _fail(args, e, EXIT_INPUT)
    except (PhoenixUpsertError, httpx.HTTPError) as e:
        return _fail(args, e, EXIT_SERVER)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
