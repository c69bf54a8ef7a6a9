"""Pipeline throughput from the CLI, every execution fully recorded.

    .venv/bin/python bench/pipelines.py [--repeat 3]

* linear-N (N = 1, 10, 50): a chain of no-op steps, each passing a small file to the next
  (output → input edge), run with ``assay pipeline run`` end to end; compared with the same
  N commands run bare, one after the other.
* fan-out 1 → 20 → 1 of steps that sleep 0.5 s, with 2 slots (the floor is 5.0 s plus the
  two ends).

Each figure is the best of ``--repeat`` runs, for each sandbox this machine has.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ASSAY = str(Path(sys.executable).with_name("assay"))
CARRY = (
    "cat $VH_INPUTS_DIR/previous/* > $VH_OUTPUTS_DIR/carry.txt 2>/dev/null"
    " || echo start > $VH_OUTPUTS_DIR/carry.txt"
)
SLEEP = "sleep 0.5"


def linear(n: int) -> str:
    lines = [
        f"- step: {{name: pass, image: python:3.11, command: '{CARRY}',"
        " inputs: [{name: previous, optional: true}]}",
        "- pipeline:",
        f"    name: linear-{n}",
        "    nodes:",
        *[f"      - {{name: s{i}, type: execution, step: pass}}" for i in range(n)],
        "    edges:",
        *[f"      - [s{i}.output.carry.txt, s{i + 1}.input.previous]" for i in range(n - 1)],
    ]
    if n == 1:
        lines[-1] = "    edges: []"
    return "\n".join(lines) + "\n"


def fan_out(width: int = 20) -> str:
    lines = [
        f"- step: {{name: nap, image: python:3.11, command: '{SLEEP}'}}",
        "- step: {name: quick, image: python:3.11, command: 'true'}",
        "- pipeline:",
        "    name: fan-out",
        "    nodes:",
        "      - {name: start, type: execution, step: quick}",
        *[f"      - {{name: w{i}, type: execution, step: nap}}" for i in range(width)],
        "      - {name: end, type: execution, step: quick}",
        "    edges:",
        *[f"      - [start.dependency.*, w{i}.dependency.*]" for i in range(width)],
        *[f"      - [w{i}.dependency.*, end.dependency.*]" for i in range(width)],
    ]
    return "\n".join(lines) + "\n"


def timed_run(spec: str, pipeline: str, sandbox: str, workdir: Path, tag: str) -> float:
    root = workdir / tag
    root.mkdir()
    (root / "valohai.yaml").write_text(spec)
    env = {**os.environ, "ASSAY_SANDBOX": sandbox}
    env.pop("ASSAY_DATABASE_URL", None)
    # The project's first run creates its catalog and image environment: a warm-up, not timed.
    subprocess.run([ASSAY, "pipeline", "run", pipeline, "-q", "--slots", "2"], cwd=root, env=env, check=True,
                   capture_output=True)  # fmt: skip
    start = time.perf_counter()
    result = subprocess.run([ASSAY, "pipeline", "run", pipeline, "-q", "--slots", "2"], cwd=root, env=env,
                            capture_output=True, text=True, check=False)  # fmt: skip
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{pipeline} failed:\n{result.stdout}\n{result.stderr}")
    return elapsed


def bare(n: int, workdir: Path) -> float:
    folder = Path(tempfile.mkdtemp(dir=workdir, prefix=f"bare-{n}-"))
    (folder / "outputs").mkdir(parents=True)
    (folder / "inputs" / "previous").mkdir(parents=True)
    env = {**os.environ, "VH_INPUTS_DIR": str(folder / "inputs"), "VH_OUTPUTS_DIR": str(folder / "outputs")}
    start = time.perf_counter()
    for _ in range(n):
        subprocess.run(["/bin/sh", "-c", f"set -e\n{CARRY}\n"], env=env, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from assay.runtime import choose_sandbox

    modes = ["none"] + (["auto"] if choose_sandbox("auto").private else [])
    workdir = Path(tempfile.mkdtemp(prefix="assay-bench-pipelines-"))
    counter = 0
    try:
        for mode in modes:
            label = "no sandbox" if mode == "none" else choose_sandbox(mode).mode
            print(f"sandbox: {label}")
            for n in (1, 10, 50):
                best = float("inf")
                for _ in range(args.repeat):
                    counter += 1
                    best = min(best, timed_run(linear(n), f"linear-{n}", mode, workdir, f"l{counter}"))
                floor = bare(n, workdir)
                print(f"  linear-{n:<3} {best:6.2f} s end to end; bare commands {floor:5.2f} s; "
                      f"overhead {(best - floor) / n * 1000:5.1f} ms per step")  # fmt: skip
            best = float("inf")
            for _ in range(args.repeat):
                counter += 1
                best = min(best, timed_run(fan_out(), "fan-out", mode, workdir, f"f{counter}"))
            print(f"  fan-out 1→20→1 (0.5 s sleeps, 2 slots) {best:5.2f} s (floor 5.00 s)")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
