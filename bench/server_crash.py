"""Crash safety of the server, many times: SIGKILL ``assay server`` while a 20-node linear
pipeline it drives runs, start it again, check.

    .venv/bin/python bench/server_crash.py [--trials 30] [--postgres URL] [--sandbox none]

Each trial starts the run through the REST API, kills the server with SIGKILL at a random
moment, starts it again (which settles what the killed one left and resumes the run), waits for
the run to complete, and checks that every node completed exactly once and that no node's
outputs exist twice (``tests/test_server_e2e.py`` does the same 10 times). Prints where the kills
landed and every failure, with the tail of the server's log. ``--postgres`` names a server
(its admin database, e.g. ``postgresql://postgres@127.0.0.1:5432/postgres``): the benchmark makes
a database of its own there and drops it at the end; without it, SQLite in a temp folder.
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
import uuid
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.server_process import ServerProcess
from tests.test_server_e2e import calibrate, crash_trial, linear_twenty

from assay.catalog import Catalog


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--postgres", default=None, help="a PostgreSQL server's admin URL")
    parser.add_argument("--sandbox", default="none", help="ASSAY_SANDBOX of the server's steps")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="assay-server-crash-"))
    root = folder / "crash"
    root.mkdir()
    (root / "valohai.yaml").write_text(linear_twenty())
    database = _postgres_database(args.postgres) if args.postgres else None
    url = next(database) if database else f"sqlite:///{folder / 'catalog.db'}"
    env = {**os.environ, "ASSAY_DATABASE_URL": url, "ASSAY_SANDBOX": args.sandbox}
    server = ServerProcess(root, env)
    rng = random.Random(args.seed)
    tally: dict[str, int] = {}
    failures = 0
    started = time.monotonic()
    try:
        server.init()
        token = server.add_user("runner", "member")
        server.start()
        with Catalog.open(url) as catalog:
            span = calibrate(server, token)
            print(f"a whole run through the server takes {span:.2f} s; {args.trials} trials on "
                  f"{url.split(':', 1)[0]}", flush=True)  # fmt: skip
            for trial in range(args.trials):
                try:
                    if server.process is None or server.process.poll() is not None:
                        server.start()  # a failed trial may leave it down
                    landed = crash_trial(server, token, catalog, rng, span)
                except Exception:  # noqa: BLE001 - a benchmark reports every failure and goes on
                    failures += 1
                    landed = "FAILED"
                    print(f"trial {trial}: FAILED\n{traceback.format_exc()}\n{server.tail(30)}", flush=True)
                tally[landed] = tally.get(landed, 0) + 1
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
        if database:
            next(database, None)  # drops it
    print(f"{args.trials} trials in {time.monotonic() - started:.0f} s, {failures} failed")
    for landed, count in sorted(tally.items()):
        print(f"  killed {landed}: {count}")
    sys.exit(1 if failures else 0)


def _postgres_database(admin_url: str) -> Iterator[str]:
    import psycopg

    from assay.catalog import normalize_url

    name = f"assay_bench_{uuid.uuid4().hex[:12]}"
    admin = admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    yield f"{normalize_url(admin_url).rpartition('/')[0]}/{name}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
