"""``assay executions show`` of an execution that logged 200,000 metadata lines.

    .venv/bin/python bench/metadata.py [--lines 200000] [--keys 4] [--repeat 5] [--database-url URL]

Runs, through the real CLI, a step that prints ``--lines`` JSON lines (each with ``--keys``
keys that repeat: ``step``, ``loss``, …), so the execution records every line as a metadata
event. Then times ``assay executions show N`` and ``… --json`` in fresh processes: wall time
(best and median of ``--repeat``) and peak RSS (the child's ``ru_maxrss``), beside
``assay executions list`` of the same project as the floor (start-up and opening the
catalog), and, in this process, the catalog's read of the latest values
(``latest_metadata``: one row a key) beside reading every event as it did before migration
0007. It checks that ``show`` prints the last value of each key. ``--database-url
postgresql://…`` runs it on a new database on that server.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

from databases import database  # bench/databases.py

ASSAY = str(Path(sys.executable).with_name("assay"))
STEP = """\
- step:
    name: chatty
    image: python:3.11
    command: python chatty.py {parameters}
    parameters:
      - {name: lines, type: integer, default: 1}
      - {name: keys, type: integer, default: 4}
"""
SCRIPT = """\
import argparse, json, sys
parser = argparse.ArgumentParser()
parser.add_argument("--lines", type=int)
parser.add_argument("--keys", type=int)
args = parser.parse_args()
names = ["step", "loss", "accuracy", "learning_rate", "grad_norm", "tokens"][: args.keys]
names += [f"metric_{i}" for i in range(len(names), args.keys)]
write = sys.stdout.write
for i in range(args.lines):
    values = {name: (i if n == 0 else round(1 / (i + n), 6)) for n, name in enumerate(names)}
    write(json.dumps(values) + "\\n")
"""


def timed(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, int, bytes]:
    """Wall seconds, peak RSS (MB) and stdout of one fresh process, reaped with ``wait4`` so
    that the RSS is its own."""
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        started = time.perf_counter()
        child = subprocess.Popen(args, cwd=cwd, env=env, stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        if child.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed: {stderr.read().decode()}")
        return elapsed, usage.ru_maxrss // 1024, stdout.read()


def measured(args: list[str], cwd: Path, env: dict[str, str], repeat: int) -> tuple[float, float, int]:
    """Best and median wall seconds, and the largest peak RSS (MB), of ``repeat`` processes."""
    times, peaks = [], []
    for _ in range(repeat):
        elapsed, peak, _ = timed(args, cwd, env)
        times.append(elapsed)
        peaks.append(peak)
    return min(times), statistics.median(times), max(peaks)


def expected_latest(lines: int, keys: int) -> dict[str, object]:
    names = ["step", "loss", "accuracy", "learning_rate", "grad_norm", "tokens"][:keys]
    names += [f"metric_{i}" for i in range(len(names), keys)]
    last = lines - 1
    return {name: (last if n == 0 else round(1 / (last + n), 6)) for n, name in enumerate(names)}


def in_process(url: str, execution_id: str, repeat: int) -> tuple[float, float]:
    """Seconds to read the latest values now (one row a key), and by every event (before 0007)."""
    from sqlalchemy import select

    from assay.catalog import Catalog
    from assay.catalog.executions import latest_metadata
    from assay.catalog.tables import ExecutionMetadata

    now, before = [], []
    with Catalog.open(url) as catalog:
        for _ in range(repeat):
            with catalog.read() as session:
                started = time.perf_counter()
                latest = latest_metadata(session, execution_id)
                now.append(time.perf_counter() - started)
            with catalog.read() as session:
                started = time.perf_counter()
                query = select(ExecutionMetadata).where(ExecutionMetadata.execution_id == execution_id)
                old: dict[str, object] = {}
                for row in session.scalars(query.order_by(ExecutionMetadata.seq)):
                    old.update(row.data)
                before.append(time.perf_counter() - started)
            assert old == latest, (old, latest)
    return min(now), min(before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--keys", type=int, default=4, help="keys in every line (at least 1)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database-url", help="default: .assay/assay.db in the temporary project")
    args = parser.parse_args()
    if args.keys < 1 or args.lines < 1:
        parser.error("--keys and --lines are at least 1")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from sqlalchemy.engine import make_url

    from assay.catalog import normalize_url

    workdir = Path(tempfile.mkdtemp(prefix="assay-bench-metadata-"))
    root = workdir / "chatty"
    root.mkdir()
    (root / "valohai.yaml").write_text(STEP)
    (root / "chatty.py").write_text(SCRIPT)
    context = (
        database(args.database_url, "assay-bench-metadata-")
        if args.database_url
        else nullcontext(f"sqlite:///{root / '.assay' / 'assay.db'}")
    )
    try:
        with context as url:
            env = {**os.environ, "COLUMNS": "200"}
            env.pop("ASSAY_PROJECT", None)
            env.pop("ASSAY_DATABASE_URL", None)
            if args.database_url:
                env["ASSAY_DATABASE_URL"] = url
            print(f"database: {make_url(normalize_url(url)).render_as_string(hide_password=True)}")
            # a first, one-line execution builds the image's environment (not timed)
            timed([ASSAY, "run", "chatty"], root, env)
            big = [ASSAY, "run", "chatty", "-p", f"lines={args.lines}", "-p", f"keys={args.keys}"]
            seconds, peak, _ = timed(big, root, env)
            print(f"assay run: {args.lines:,} lines of {args.keys} keys recorded in {seconds:.1f} s "
                  f"(peak RSS {peak} MB)")  # fmt: skip
            shown = json.loads(timed([ASSAY, "executions", "show", "2", "--json"], root, env)[2])
            if shown["metadata"] != expected_latest(args.lines, args.keys):
                raise SystemExit(f"wrong metadata shown: {shown['metadata']}")
            print(f"fresh processes, best / median of {args.repeat}, peak RSS:")
            for label, command in (
                ("assay executions list (floor)", [ASSAY, "executions", "list"]),
                ("assay executions show 2", [ASSAY, "executions", "show", "2"]),
                ("assay executions show 2 --json", [ASSAY, "executions", "show", "2", "--json"]),
            ):
                best, median, peak = measured(command, root, env, args.repeat)
                print(f"  {label:<32} {best:6.3f} s / {median:6.3f} s  {peak:4d} MB")
            now, before = in_process(url, shown["id"], args.repeat)
            print(f"in process: latest_metadata {now * 1000:.2f} ms; reading all {args.lines:,} events "
                  f"(as before migration 0007) {before:.2f} s")  # fmt: skip
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
