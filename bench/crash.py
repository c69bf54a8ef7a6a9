"""Crash safety, many times: SIGKILL the driver of a 20-node pipeline at random, resume, check.

    .venv/bin/python bench/crash.py [--trials 100] [--database-url URL]

Each trial starts ``assay pipeline run``, kills it with SIGKILL at a random moment (mostly while
the run is going), runs ``assay pipeline resume`` and checks that every node completed exactly
once and that no node's outputs exist twice. Prints where the kills landed and every failure.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.test_crash_safety import calibrate, crash_and_resume, twenty_nodes

from assay.catalog import Catalog


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="assay-crash-"))
    root = folder / "crash"
    root.mkdir()
    (root / "valohai.yaml").write_text(twenty_nodes())
    url = args.database_url or f"sqlite:///{folder / 'catalog.db'}"
    env = {**os.environ, "ASSAY_DATABASE_URL": url}
    rng = random.Random(args.seed)
    tally: dict[str, int] = {}
    failures = 0
    started = time.monotonic()
    try:
        with Catalog.open(url) as catalog:
            span = calibrate(root, env, catalog)
            print(f"a whole run takes {span:.2f} s; {args.trials} trials on {url.split(':', 1)[0]}")
            for trial in range(args.trials):
                try:
                    landed = crash_and_resume(root, env, rng, catalog, span)
                except Exception:  # noqa: BLE001 - a benchmark reports every failure and goes on
                    failures += 1
                    landed = "FAILED"
                    print(f"trial {trial}: FAILED\n{traceback.format_exc()}")
                tally[landed] = tally.get(landed, 0) + 1
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"{args.trials} trials in {time.monotonic() - started:.0f} s, {failures} failed")
    for landed, count in sorted(tally.items()):
        print(f"  killed {landed}: {count}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
