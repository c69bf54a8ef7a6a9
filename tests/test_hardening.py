"""Hostile or unusual executions: tampering, escapes, stray processes, odd names, limits."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from assay.errors import InvalidRequest
from assay.runtime import ExecutionRequest, Runtime, run_execution
from assay.spec import check_text, load_spec
from tests.conftest import ProjectFactory

RuntimeFactory = Callable[..., Runtime]


def _run(runtime: Runtime, step: str, **request: object) -> object:
    spec = load_spec(runtime.project.spec_path)
    return run_execution(ExecutionRequest(step=spec.steps[step], **request), runtime)  # type: ignore[arg-type]


def test_a_tampered_blob_is_healed_before_the_next_execution(
    make_project: ProjectFactory, runtime_for: RuntimeFactory
) -> None:
    yaml_text = """\
        - step:
            name: tamper
            image: python:3.11
            command: echo TAMPERED >> $VH_INPUTS_DIR/data/d.csv || true
            inputs: [{name: data, default: d.csv}]
        - step:
            name: show
            image: python:3.11
            command: cat $VH_INPUTS_DIR/data/d.csv
            inputs: [{name: data, default: d.csv}]
    """
    project = make_project(yaml_text, {"d.csv": "original\n"})
    lines: list[str] = []
    runtime = runtime_for(project, sandbox_mode="none", lines=lines)
    _run(runtime, "tamper")
    lines.clear()
    assert _run(runtime, "show").status == "completed"  # type: ignore[attr-defined]
    assert lines == ["original"]


def test_outputs_replaced_by_a_symlink_take_nothing(
    make_project: ProjectFactory, runtime_for: RuntimeFactory, tmp_path: Path
) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "notes.txt").write_text("mine")
    command = f'rmdir "$VH_OUTPUTS_DIR" && ln -s {victim} "$VH_OUTPUTS_DIR"'
    project = make_project(f"- step: {{name: s, image: python:3.11, command: '{command}'}}\n")
    result = _run(runtime_for(project, sandbox_mode="none"), "s")
    assert result.outputs == ()  # type: ignore[attr-defined]
    assert any("outputs/ was replaced" in p for p in result.problems)  # type: ignore[attr-defined]
    assert stat.S_IMODE((victim / "notes.txt").stat().st_mode) & stat.S_IWUSR


def test_a_hard_link_into_outputs_is_copied_not_adopted(
    make_project: ProjectFactory, runtime_for: RuntimeFactory, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("mine")
    project = make_project(
        f"- step: {{name: s, image: python:3.11, command: 'ln {victim} $VH_OUTPUTS_DIR/r.txt'}}\n"
    )
    result = _run(runtime_for(project, sandbox_mode="none"), "s")
    assert [o.name for o in result.outputs] == ["r.txt"]  # type: ignore[attr-defined]
    assert victim.stat().st_mode & stat.S_IWUSR
    victim.write_text("changed later")  # the store's copy is not this file
    blob = next(p for p in (project.store_root / "sha256").rglob("*") if p.is_file())
    assert blob.read_text() == "mine"


def test_input_names_may_not_climb_out() -> None:
    check = check_text("- step: {name: a, image: x, command: run, inputs: [{name: ../../escaped}]}\n")
    assert check.spec is None
    assert "must be a plain folder name" in check.errors[0].message


def test_a_process_in_its_own_session_does_not_hold_the_execution(
    make_project: ProjectFactory, runtime_for: RuntimeFactory
) -> None:
    project = make_project(
        "- step: {name: s, image: python:3.11, command: 'setsid sleep 30 & echo main done'}\n"
    )
    started = time.monotonic()
    result = _run(runtime_for(project, sandbox_mode="none"), "s")
    assert result.status == "completed"  # type: ignore[attr-defined]
    assert time.monotonic() - started < 10


def test_an_output_name_that_is_not_utf8_is_refused_and_the_rest_kept(
    make_project: ProjectFactory, runtime_for: RuntimeFactory
) -> None:
    script = """\
        import os
        out = os.environb[b"VH_OUTPUTS_DIR"]
        open(os.path.join(out, b"caf\\xe9.txt"), "w").write("latin-1 name")
        open(os.path.join(out, b"good.txt"), "w").write("fine")
    """
    project = make_project("- step: {name: s, image: python:3.11, command: python s.py}\n", {"s.py": script})
    result = _run(runtime_for(project, sandbox_mode="none"), "s")
    assert result.status == "completed"  # type: ignore[attr-defined]
    assert [o.name for o in result.outputs] == ["good.txt"]  # type: ignore[attr-defined]
    assert any("not UTF-8" in p for p in result.problems)  # type: ignore[attr-defined]


def test_an_endless_line_is_cut_into_pieces(
    make_project: ProjectFactory, runtime_for: RuntimeFactory
) -> None:
    script = "import sys\nsys.stdout.write('x' * (3 * 1024 * 1024))\n"
    project = make_project("- step: {name: s, image: python:3.11, command: python s.py}\n", {"s.py": script})
    lines: list[str] = []
    result = _run(runtime_for(project, sandbox_mode="none", lines=lines), "s")
    assert result.status == "completed"  # type: ignore[attr-defined]
    assert sum(len(line) for line in lines) == 3 * 1024 * 1024
    assert max(len(line) for line in lines) <= 1 << 21


def test_stop_condition_ends_early_and_no_output_timeout_ends_a_silent_step(
    make_project: ProjectFactory, runtime_for: RuntimeFactory
) -> None:
    script = """\
        import json, time
        for epoch in range(100):
            print(json.dumps({"epoch": epoch, "accuracy": epoch / 10}), flush=True)
            time.sleep(0.05)
    """
    yaml_text = """\
        - step: {name: early, image: python:3.11, command: python s.py, stop-condition: accuracy >= 0.5}
        - step: {name: silent, image: python:3.11, command: sleep 30, no-output-timeout: 1}
    """
    project = make_project(yaml_text, {"s.py": script})
    runtime = runtime_for(project, sandbox_mode="none")
    early = _run(runtime, "early")
    assert early.status == "completed"  # type: ignore[attr-defined]
    assert "stop-condition 'accuracy >= 0.5' was met" in str(early.message)  # type: ignore[attr-defined]
    assert early.metadata["accuracy"] < 1.0  # type: ignore[attr-defined]
    silent = _run(runtime, "silent")
    assert silent.status == "error"  # type: ignore[attr-defined]
    assert "no-output-timeout" in str(silent.message)  # type: ignore[attr-defined]


def test_durations_as_plain_numbers_and_limits_above_zero() -> None:
    check = check_text("- step: {name: a, image: x, command: run, time-limit: '90'}\n")
    assert check.spec is not None
    assert check.spec.steps["a"].time_limit == 90
    zero = check_text("- step: {name: a, image: x, command: run, time-limit: 0}\n")
    assert zero.spec is None
    assert "must be more than 0 seconds" in zero.errors[0].message


def test_empty_and_hosted_file_uris_are_refused(
    make_project: ProjectFactory, runtime_for: RuntimeFactory
) -> None:
    project = make_project(
        "- step: {name: s, image: python:3.11, command: ls, inputs: [{name: d, optional: true}]}\n"
    )
    runtime = runtime_for(project, sandbox_mode="none")
    with pytest.raises(InvalidRequest, match="empty URI"):
        _run(runtime, "s", inputs={"d": [""]})
    with pytest.raises(InvalidRequest, match="absolute path"):
        _run(runtime, "s", inputs={"d": ["file://data/x.csv"]})


def test_globs_work_in_a_folder_whose_name_looks_like_a_glob(
    make_project: ProjectFactory, runtime_for: RuntimeFactory
) -> None:
    project = make_project(
        "- step: {name: s, image: python:3.11, command: 'ls \"$VH_INPUTS_DIR/d\"',"
        " inputs: [{name: d, default: 'data/*.csv'}]}\n",
        {"data/a.csv": "a", "data/b.csv": "b"},
        name="proj [v2]",
    )
    lines: list[str] = []
    result = _run(runtime_for(project, sandbox_mode="none", lines=lines), "s")
    assert result.status == "completed", lines  # type: ignore[attr-defined]
    assert lines == ["a.csv", "b.csv"]


def test_lint_fix_keeps_crlf_line_endings(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "valohai.yaml"
    path.write_bytes(b"- step: a\r\n  image: x # keep\r\n  command: run\r\n")
    assay = str(Path(sys.executable).with_name("assay"))
    result = subprocess.run(
        [assay, "lint", "--fix"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert path.read_bytes() == b"- step:\r\n    name: a\r\n    image: x # keep\r\n    command: run\r\n"
    assert os.path.getsize(path) > 0
