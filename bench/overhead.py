"""Per-execution overhead of the runtime, and the CLI's cold start.

    .venv/bin/python bench/overhead.py [--n 50] [--repeat 3]

For each sandbox mode available here, runs N executions of a no-op step through
``run_execution`` (not the CLI: the catalog is opened once, as an executor does) in a
throw-away project that is a git work tree, and the same N commands as bare
``subprocess.run`` calls. Overhead per execution = (runtime total - bare total) / N; the best
of ``--repeat`` rounds is printed, as is usual for timing on a shared machine. Every execution
is fully recorded: catalog rows, events, config files, log, environment record.
Then times ``assay --help`` in fresh processes (median of 10).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from assay.artifacts import ArtifactStore
from assay.catalog import Catalog
from assay.project import Project
from assay.runtime import ExecutionRequest, Runtime, Sandbox, choose_sandbox, run_execution
from assay.spec import load_spec

SPEC = "- step:\n    name: noop\n    image: python:3.11\n    command: 'true'\n"


def make_project(root: Path) -> Project:
    root.mkdir(parents=True)
    (root / "valohai.yaml").write_text(SPEC)
    (root / "README.md").write_text("bench\n")
    git = ["git", "-C", str(root), "-c", "user.email=b@example.invalid", "-c", "user.name=b"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "bench"], check=True)
    return Project(root=root, name=root.name)


def bare(n: int, script: Path, cwd: Path) -> float:
    start = time.perf_counter()
    for _ in range(n):
        subprocess.run(["/bin/sh", str(script)], cwd=cwd, check=True)
    return time.perf_counter() - start


def through_runtime(n: int, runtime: Runtime) -> float:
    step = load_spec(runtime.project.spec_path).steps["noop"]
    request = ExecutionRequest(step=step)
    run_execution(request, runtime)  # first use creates the image environment; not timed
    start = time.perf_counter()
    for _ in range(n):
        result = run_execution(request, runtime)
        assert result.status == "completed", result
    return time.perf_counter() - start


def measure(sandbox: Sandbox, n: int, repeat: int, workdir: Path) -> float:
    best = float("inf")
    for round_number in range(repeat):
        project = make_project(workdir / f"{sandbox.mode}-{round_number}")
        with Catalog.open(project.database_url) as catalog:
            runtime = Runtime(project, catalog, ArtifactStore.local(project.store_root), sandbox, "bench")
            total = through_runtime(n, runtime)
        script = project.root / "noop.sh"
        script.write_text("set -e\ntrue\n")
        baseline = bare(n, script, project.root)
        best = min(best, (total - baseline) / n)
    return best


def cold_start(runs: int = 10) -> float:
    assay = str(Path(sys.executable).with_name("assay"))
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([assay, "--help"], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    modes = [Sandbox("none")]
    best = choose_sandbox("auto")
    if best.private:
        modes.append(best)
    workdir = Path(tempfile.mkdtemp(prefix="assay-bench-"))
    try:
        print(
            f"per-execution overhead, N={args.n}, best of {args.repeat} (runtime minus bare subprocess.run)"
        )
        for sandbox in modes:
            overhead = measure(sandbox, args.n, args.repeat, workdir)
            print(f"  sandbox={sandbox.mode:<8} {overhead * 1000:6.1f} ms per execution")
        if not best.private:
            print("  (no sandbox available here: install bubblewrap to measure it)")
        print(f"assay --help cold start: {cold_start():.3f} s (median of 10)")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
