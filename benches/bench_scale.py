"""Datasets past the server's per-request limits: one sync at a time at a large size N.

Opt-in: skipped unless ``PU_BENCH_SCALE_N`` gives the number of examples, e.g.::

    PU_BENCH_SCALE_N=100000 PU_BENCH_BACKEND=postgresql \\
        .venv/bin/python -m pytest benches/bench_scale.py -s -q

(``PU_BENCH_SCALE`` itself is the other benchmarks' scale factor, so this one has a variable
of its own.) ``PU_BENCH_BACKEND`` (``sqlite``, ``postgresql`` or ``both``, as for the other
benchmarks) says which Phoenix; ``PU_BENCH_SCALE_REFERENCE=0`` leaves out phoenix-client
(whose steps take minutes each at this size); ``PU_BENCH_SCALE_STEPS=k`` runs only the
first k steps below (at 1,000,000 examples the later ones take hours). Use a release build
(``./scripts/setup``).

The source is a JSONL file with ids (the realistic LLM-eval examples of ``_data.py``). Each
step is one sync in a fresh process (``upsert_dataset`` as the command line calls it, or
phoenix-client), and for each step this records: the wall time of the call (after imports),
the client process's peak RSS (``VmHWM`` at its end), the Phoenix server process's peak RSS
during the step (its ``VmHWM`` after ``clear_refs``), and for ours the versions made and
the plan; after each of our writes, it checks in Phoenix's database that the dataset holds
exactly the source (content hashes by id, and split names), and fails the run otherwise.
The steps, in order, on one dataset per side:

1. initial upload (N examples; ours writes in parts of at most 30,000, one version each);
2. no-op with a warm manifest; 3. no-op cold (``manifest=False``: reads the dataset);
4. ``dry_run=True`` cold of a source with 1% edited (what ``sync --check`` does);
5. 1% edited; 6. 1% deleted; 7. 1% added (phoenix-client: ``add_examples_to_dataset``);
8. splits assigned to every example (a fifth in "test", the rest in "train");
9. no-op with splits, warm manifest (past 30,000 examples: the content from the manifest,
the members of each split read); 10. no-op with splits, cold (the content read as JSON
too); 11. a split-only change of 1% (train -> test);
12. ``dry_run=True`` cold, with splits.

phoenix-client's way is ``create_dataset`` with the whole source each time (a server-side
upsert, as in ``bench_sync.py``), except for adding. It has no dry run and no cache. When
its initial upload fails (on PostgreSQL past 32,767 examples Phoenix answers HTTP 500), the
failure is recorded and its later steps are not run: there is no dataset to update.

One table is printed, and saved as JSON in ``benches/results/scale-<backend>-<N>.json``
(not committed: ``benches/results/`` is ignored by git).
"""

from __future__ import annotations

import copy
import json
import os
import platform
import random
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

import phoenix_upsert as pu
from phoenix_upsert.testing import Backend, LocalPhoenix
from tests.database import split_members, stored_hashes

from ._data import make_example, make_examples, write_jsonl
from .conftest import BACKENDS

N = int(os.environ.get("PU_BENCH_SCALE_N", "0") or 0)
REFERENCE = os.environ.get("PU_BENCH_SCALE_REFERENCE", "1") != "0"
FIRST_STEPS = int(os.environ.get("PU_BENCH_SCALE_STEPS", "0") or 0)
RESULTS = Path(__file__).parent / "results"
STEP_TIMEOUT = 3 * 3600

pytestmark = pytest.mark.skipif(
    N <= 0, reason="opt-in: set PU_BENCH_SCALE_N to a number of examples (e.g. 100000)"
)

WORKER = textwrap.dedent(
    """\
    import json, re, sys, time

    def hwm_mb():
        status = open("/proc/self/status").read()
        return int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1)) / 1024

    a = json.loads(sys.argv[1])
    out = {}
    if a["side"] == "ours":
        import httpx
        from phoenix_upsert import _api
        http = httpx.Client(base_url=a["url"])
        start = time.perf_counter()
        try:
            result, _ = _api.upsert_dataset(
                http, dataset=a["name"], dataset_id=None, examples=a["path"],
                source_id_key="id", mode="mirror", dry_run=a["dry_run"],
                splits_key="splits", span_id_key=None, input_keys=None, output_keys=None,
                metadata_keys=None, split_keys=None, dataset_description=None,
                timeout=None, retries=4, progress=False,
                manifest=a["manifest"] or False, allow_empty=False,
            )
            plan = result if a["dry_run"] else result.plan
            out["action"] = plan.action
            out["added"] = len(plan.added)
            out["updated"] = len(plan.updated)
            out["deleted"] = len(plan.deleted)
            out["split_changes"] = len(plan.split_changes)
            out["versions"] = 0 if a["dry_run"] else len(result.versions)
        except Exception as e:
            out["error"] = f"{type(e).__name__}: {str(e)[:300]}"
    else:
        import httpx
        from phoenix.client import Client
        with open(a["path"], encoding="utf-8") as f:
            examples = [json.loads(line) for line in f if line.strip()]
        client = Client(base_url=a["url"])
        start = time.perf_counter()
        try:
            if a["how"] == "add":
                client.datasets.add_examples_to_dataset(
                    dataset=a["name"], examples=examples, timeout=3600
                )
            else:
                client.datasets.create_dataset(name=a["name"], examples=examples, timeout=3600)
        except Exception as e:
            # phoenix-client raises its DatasetUploadError from the httpx error
            cause = e
            while cause is not None and not isinstance(cause, httpx.HTTPStatusError):
                cause = cause.__cause__
            if cause is not None:
                out["error"] = f"fails (HTTP {cause.response.status_code})"
            else:
                out["error"] = f"{type(e).__name__}: {str(e)[:300]}"
    out["seconds"] = time.perf_counter() - start
    out["client_peak_mb"] = hwm_mb()
    print(json.dumps(out))
    """
)


def _kb(pid: int, field: str) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(field + r":\s+(\d+) kB", status)
    return int(match.group(1)) if match else 0


def step(phoenix: LocalPhoenix, **args: Any) -> dict[str, Any]:
    """One sync in a fresh process; its outcome with the server's peak RSS during it."""
    assert phoenix.process is not None
    pid = phoenix.process.pid
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # the server's VmHWM starts again here
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", WORKER, json.dumps({"url": phoenix.base_url, **args})],
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0 or not proc.stdout.strip():
        out: dict[str, Any] = {"error": f"worker exited {proc.returncode}: {proc.stderr[-500:]}"}
    else:
        out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process_seconds"] = wall
    out["server_peak_mb"] = _kb(pid, "VmHWM") / 1024
    return out


def holds_exactly(phoenix: LocalPhoenix, name: str, path: Path) -> bool:
    """Whether Phoenix's database holds exactly the JSONL file at ``path`` in dataset
    ``name``: the content hash of every example by its id, none else, and (when the file
    names splits) each example's split names."""
    scan = pu.scan_jsonl(path, id_key="id", splits_key="splits")
    assert scan.ids is not None
    ids = [str(i) for i in scan.ids]
    if stored_hashes(phoenix, name) != dict(zip(ids, scan.hashes)):
        return False
    splits = scan._sync_splits  # the rule a sync reads splits by
    if splits is None:
        return True  # the file says nothing of splits: the dataset's are left as they are
    want = {i: sorted(s) for i, s in zip(ids, splits) if s}
    known = set(ids)
    got = split_members(phoenix, name)
    return {k: v for k, v in got.items() if k in known} == want


def sources(n: int, directory: Path) -> dict[str, Path]:
    """The JSONL files of every step (each step's source is the previous one changed)."""
    full = make_examples(n, seed=n)
    edited = copy.deepcopy(full)
    for e in edited[1::100]:
        e["output"]["answer"] += " (edited)"
    deleted = [e for i, e in enumerate(edited) if i % 100 != 7]
    rnd = random.Random(n + 1)
    new = [make_example(rnd, n + i) for i in range(max(1, n // 100))]
    added = deleted + new
    splits = [{**e, "splits": ["test" if i % 5 == 0 else "train"]} for i, e in enumerate(added)]
    moved = [
        {**e, "splits": ["test"]} if i % 100 == 3 and e["splits"] == ["train"] else e
        for i, e in enumerate(splits)
    ]
    files = {
        "full": full,
        "edited": edited,
        "deleted": deleted,
        "new": new,
        "added": added,
        "splits": splits,
        "moved": moved,
    }
    return {k: write_jsonl(directory / f"{k}.jsonl", v) for k, v in files.items()}


# (label, source, ours' arguments or None, phoenix-client's way or a note)
STEPS: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("initial upload", "full", {"manifest": True}, "create"),
    ("no-op, warm manifest", "full", {"manifest": True}, "create"),
    ("no-op, cold (manifest=False)", "full", {"manifest": False}, "no cache"),
    ("dry_run=True cold, 1% edited (--check)", "edited", {"manifest": False, "dry_run": True}, ""),
    ("1% edited", "edited", {"manifest": True}, "create"),
    ("1% deleted", "deleted", {"manifest": True}, "create"),
    ("1% added", "added", {"manifest": True}, "add"),
    ("splits assigned to every example", "splits", {"manifest": True}, "create"),
    ("no-op with splits, warm manifest", "splits", {"manifest": True}, "create"),
    ("no-op with splits, cold", "splits", {"manifest": False}, "no cache"),
    ("split-only change of 1%", "moved", {"manifest": True}, "create"),
    ("dry_run=True cold, with splits", "moved", {"manifest": False, "dry_run": True}, ""),
]


def _time(r: dict[str, Any] | None, note: str = "") -> str:
    if r is None:
        return note or "—"
    if "error" in r:
        return str(r["error"]) if r["error"].startswith("fails") else f"error: {r['error']}"
    s = float(r["seconds"])
    return f"{s:,.1f} s" if s >= 10 else f"{s * 1000:,.0f} ms" if s < 1 else f"{s:,.2f} s"


def _mb(r: dict[str, Any] | None, key: str) -> str:
    return "—" if r is None or key not in r else f"{r[key]:,.0f} MB"


def table(backend: str, n: int, rows: list[dict[str, Any]]) -> str:
    lines = [
        f"{backend}, {n:,} examples",
        "| step | phoenix-upsert | versions | exact | client peak RSS | server peak RSS "
        "| phoenix-client | client peak RSS | server peak RSS |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        o, r = row["ours"], row["reference"]
        versions = "—" if o is None or "versions" not in o else str(o["versions"])
        exact = "—" if o is None or "exact" not in o else ("yes" if o["exact"] else "NO")
        lines.append(
            f"| {row['step']} | {_time(o)} | {versions} | {exact} | {_mb(o, 'client_peak_mb')} "
            f"| {_mb(o, 'server_peak_mb')} | {_time(r, row['reference_note'])} "
            f"| {_mb(r, 'client_peak_mb')} | {_mb(r, 'server_peak_mb')} |"
        )
    return "\n".join(lines)


@pytest.mark.parametrize("backend", BACKENDS)
def test_scale(backend: Backend, tmp_path: Path) -> None:
    files = sources(N, tmp_path)
    manifests = tmp_path / "manifests"
    rows: list[dict[str, Any]] = []
    out = RESULTS / f"scale-{backend}-{N}.json"
    RESULTS.mkdir(exist_ok=True)
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    with LocalPhoenix(backend=backend) as phoenix:
        ours_name, ref_name = f"ours-{N}", f"ref-{N}"
        reference_failed = not REFERENCE
        for label, source, ours_args, how in STEPS[: FIRST_STEPS or None]:
            print(f"\n[{time.strftime('%H:%M:%S')}] {backend} {label}", flush=True)
            ours = None
            if ours_args is not None:
                ours = step(
                    phoenix,
                    side="ours",
                    name=ours_name,
                    path=str(files[source]),
                    manifest=str(manifests) if ours_args["manifest"] else False,
                    dry_run=ours_args.get("dry_run", False),
                )
                if "error" not in ours and not ours_args.get("dry_run", False):
                    ours["exact"] = holds_exactly(phoenix, ours_name, files[source])
                print("  ours:", json.dumps(ours), flush=True)
            ref, note = None, ""
            if how in ("create", "add") and not reference_failed:
                ref = step(
                    phoenix,
                    side="reference",
                    how=how,
                    name=ref_name,
                    path=str(files["new" if how == "add" else source]),
                )
                print("  phoenix-client:", json.dumps(ref), flush=True)
                if label == "initial upload" and "error" in ref:
                    reference_failed = True
            elif how in ("create", "add"):
                note = "not run" if not REFERENCE else "not run (no dataset)"
            elif how == "no cache":
                note = "as the no-op above (no cache)"
            else:
                note = "no dry run"
            rows.append({"step": label, "ours": ours, "reference": ref, "reference_note": note})
            out.write_text(
                json.dumps(
                    {
                        "backend": backend,
                        "n": N,
                        "started": started,
                        "machine": f"{os.cpu_count()} cores, {platform.machine()}",
                        "source_mb": round(files["full"].stat().st_size / 1e6, 1),
                        "rows": rows,
                    },
                    indent=1,
                )
            )
    print()
    print(table(backend, N, rows))
    print(f"\nsaved to {out}")
    failed = [r["step"] for r in rows if r["ours"] is not None and "error" in r["ours"]]
    assert not failed, f"phoenix-upsert failed at: {failed}"
    inexact = [r["step"] for r in rows if r["ours"] is not None and r["ours"].get("exact") is False]
    assert not inexact, f"the database does not hold the source after: {inexact}"
