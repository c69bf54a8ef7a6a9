"""Strings a user or a step controls are shown literally, by every command that shows them.

A corpus of hostile strings (Rich markup, ``[/…]``, ANSI and OSC escapes, bidi overrides, NULs,
very long lines) goes through the real CLI: as a step's log lines, its last line when it fails,
metadata keys and values, tags, file names, a gate's comment and its reviewer's name, YAML lines.
Every command must end with its usual exit code, print no traceback, let no raw control character
reach the terminal, and show the hostile text itself (``[/INST]`` appears as ``[/INST]``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from typer.testing import CliRunner, Result

from assay.cli.app import app
from assay.cli.literal import LINE_LIMIT, shown, visible
from tests.conftest import ProjectFactory

CORPUS = [
    "[/INST]",
    "[INST] summarize [/INST] done",
    "[bold red]not bold[/bold red] [/]",
    "[link=https://evil.example]click[/link]",
    ":cross_mark: :thumbs_up:",
    "\x1b[31mred\x1b[0m \x1b[2J\x1b[H",
    "\x1b]0;a new window title\x07",
    "\x1b]8;;https://evil.example\x1b\\a link\x1b]8;;\x1b\\",
    "\x9b31mC1 CSI\x9d0;title\x9c",
    "admin\u202egnp.exe",
    "isolated \u2066right\u2069 \u2067left\u2069 \u200e\u200f\u061c",
    "nul\x00byte",
    "back\bspace, bell\a, form\ffeed, vertical\vtab, delete\x7f",
    "ok\rFAIL",
    "trailing backslash\\",
    "two trailing backslashes\\\\",
    "escaped \\[bold]tag",
    "x" * 20_000,
]
# NOTE: PostgreSQL refuses NUL in text and jsonb; what the catalog stores leaves NUL out.
STORED = [s for s in CORPUS if "\x00" not in s]
RAW = {chr(c) for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)]} - {"\n", "\t"}
RAW |= set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
ACTOR = "[/INST] \x1b[2Jreviewer\u202e"
COMMENT = "[/INST] looks right \x1b]0;pwned\x07 [bold]really[/] \u202etxt.exe"

SPEAK = f"""\
import json, os, sys
HOSTILE = json.loads({json.dumps(CORPUS)!r})
STORED = [s for s in HOSTILE if "\\x00" not in s]
for line in HOSTILE:
    print(line)
print(json.dumps({{s[:100]: s for s in STORED}}))
out = os.environ["VH_OUTPUTS_DIR"]
os.makedirs(os.path.join(out, "["), exist_ok=True)
open(os.path.join(out, "[", "INST]"), "w").write("weights")
open(os.path.join(out, "\\x1b[31mred\\u202e.txt"), "w").write("red")
entry = {{"valohai.model-versions": ["model://m/"], "valohai.tags": STORED[:6]}}
entry.update({{f"p{{i}} {{s[:100]}}": s for i, s in enumerate(STORED)}})
with open(os.path.join(out, "valohai.metadata.jsonl"), "w") as handle:
    handle.write(json.dumps({{"file": "[/INST]", "metadata": entry}}) + "\\n")
if sys.argv[1:] == ["fail"]:
    print("[/INST]")
    sys.exit(1)
"""
SPEC = """\
- step:
    name: speak
    image: python:3.11
    command: python speak.py
- step:
    name: fail
    image: python:3.11
    command: python speak.py fail
- step:
    name: promote
    image: python:3.11
    command: echo promoted
- pipeline:
    name: gated
    nodes:
      - name: speak
        type: execution
        step: speak
      - name: promote
        type: execution
        step: promote
        actions:
          - when: node-starting
            then: require-approval
    edges: []
- pipeline:
    name: failing
    nodes:
      - name: fail
        type: execution
        step: fail
    edges: []
"""


@pytest.fixture
def root(make_project: ProjectFactory) -> Path:
    return make_project(SPEC, {"speak.py": SPEAK}, name="hostile").root


def _run(cli: CliRunner, root: Path, *args: str, code: int = 0) -> str:
    """``assay -C ROOT ARGS…``, which must end with ``code``, no traceback and no raw control."""
    result: Result = cli.invoke(app, ["-C", str(root), *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"assay {' '.join(args)} crashed:\n{result.output}") from result.exception
    assert result.exit_code == code, result.output
    for stream in (result.stdout, result.stderr):
        assert "Traceback" not in stream
        raw = sorted({f"U+{ord(c):04X}" for c in stream if c in RAW})
        assert not raw, f"assay {' '.join(args)} printed raw {raw}:\n{stream}"
    return result.output


def _json(cli: CliRunner, root: Path, *args: str) -> Any:
    """``--json`` output: exact values, and safe as printed (JSON escapes every control)."""
    return json.loads(_run(cli, root, *args, "--json"))


def _literally(output: str, *texts: str) -> None:
    for text in texts:
        assert visible(text) in output, f"{visible(text)!r} is not shown literally"


@pytest.mark.parametrize("text", CORPUS, ids=range(len(CORPUS)))
def test_the_sanitizer_leaves_no_control_and_markup_shows_as_written(text: str) -> None:
    plain = visible(text)
    assert not RAW & set(plain)
    # NOTE: emoji codes (`:cross_mark:`) are not markup: Assay's consoles never replace them.
    assert Text.from_markup(shown(text, limit=None), emoji=False).plain == plain
    # inside the markup of a renderer too, whatever follows (a closing tag, a backslash)
    rendered = Text.from_markup(f"[bold]{shown(text, limit=None)}[/]\\", emoji=False)
    assert rendered.plain == plain + "\\"
    assert Text.from_markup(f"[dim]{shown(text)}[/] [b]x[/b]", emoji=False).plain.endswith(" x")


def test_controls_become_visible_escapes_and_long_lines_are_cut() -> None:
    assert visible("\x1b[31mred") == "\\x1b[31mred"
    assert visible("nul\x00") == "nul\\x00"
    assert visible("a\u202eb\u2066c") == "a\\u202eb\\u2066c"
    assert visible("\x9b1m") == "\\x9b1m"
    assert visible("tab\tand\nnewline [b]ok[/b] é 中 🙂") == "tab\tand\nnewline [b]ok[/b] é 中 🙂"
    cut = visible("x" * 5000 + "\n" + "y" * 10, limit=100)
    first, second = cut.split("\n")
    assert first.startswith("x" * 100)
    assert first.endswith("… (4,900 more characters)")
    assert second == "y" * 10
    assert len(visible("x" * 20_000, limit=LINE_LIMIT)) < LINE_LIMIT + 40
    assert visible(12) == "12"


def test_a_failing_run_shows_its_log_and_last_line_literally(cli: CliRunner, root: Path) -> None:
    output = _run(cli, root, "run", "fail", code=6)
    _literally(output, "[INST] summarize [/INST] done", "[bold red]not bold[/bold red] [/]", "ok\rFAIL")
    _literally(output, "\x1b]0;a new window title\x07", "admin\u202egnp.exe", "nul\x00byte")
    assert ":cross_mark:" in output
    assert "failed" in output
    assert "    [/INST]" in output  # the log's last line, in the error's tail
    shown_again = _run(cli, root, "executions", "show", "1")
    _literally(shown_again, "[/INST]", "\x1b[31mred\x1b[0m \x1b[2J\x1b[H")
    logs = _run(cli, root, "executions", "logs", "1")
    _literally(logs, "\x1b[31mred\x1b[0m \x1b[2J\x1b[H", "nul\x00byte")
    _run(cli, root, "executions", "list")
    _run(cli, root, "executions", "outputs", "1")
    # JSON stays exact: its escaping is safe for a terminal already
    view = _json(cli, root, "executions", "show", "1")
    assert view["metadata"]["[/INST]"] == "[/INST]"
    assert view["metadata"]["\x1b[31mred\x1b[0m \x1b[2J\x1b[H"] == "\x1b[31mred\x1b[0m \x1b[2J\x1b[H"
    assert {o["name"] for o in view["outputs"]} == {"[/INST]", "\x1b[31mred\u202e.txt"}


def test_a_failing_pipeline_reports_its_hostile_last_line_and_settles(cli: CliRunner, root: Path) -> None:
    output = _run(cli, root, "pipeline", "run", "failing", code=6)
    _literally(output, "[/INST]", "[bold red]not bold[/bold red] [/]", "\x1b]0;a new window title\x07")
    assert "fail | [/INST]" in output
    assert _json(cli, root, "pipeline", "show", "1")["status"] == "error"
    _literally(_run(cli, root, "pipeline", "show", "1"), "[/INST]")
    _run(cli, root, "pipeline", "list")


def test_a_gate_decided_with_hostile_words_shows_them_everywhere(
    cli: CliRunner, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = _run(cli, root, "pipeline", "run", "gated")
    assert "waits for approval of promote" in output
    _literally(output, "speak | [/INST]", "[link=https://evil.example]click[/link]")
    monkeypatch.setenv("ASSAY_USER", ACTOR)
    approved = _run(cli, root, "pipeline", "approve", "1", "promote", "--comment", COMMENT)
    _literally(approved, ACTOR, COMMENT)
    shown_run = _run(cli, root, "pipeline", "show", "1")
    _literally(shown_run, ACTOR, COMMENT)
    view = _json(cli, root, "pipeline", "show", "1")
    gate = next(n["gate"] for n in view["nodes"] if n["name"] == "promote")
    assert (gate["decided_by"], gate["comment"]) == (ACTOR, COMMENT)

    card = _run(cli, root, "models", "show", "m/v1")
    _literally(card, "[/INST]", "[INST] summarize [/INST] d", ACTOR, COMMENT)
    assert ":cross_mark:" in card
    _run(cli, root, "models", "show", "m")
    _run(cli, root, "models", "list")
    _run(cli, root, "models", "versions", "m")
    card_json = _json(cli, root, "models", "show", "m/v1")
    assert sorted(card_json["tags"]) == sorted(STORED[:6])
    assert [f["name"] for f in card_json["files"]] == ["[/INST]"]

    lineage = _run(cli, root, "lineage", "show", "model://m/v1")
    _literally(lineage, ACTOR, COMMENT)
    _run(cli, root, "lineage", "show", "model://m/v1", "--format", "dot")
    _run(cli, root, "lineage", "affected", "pipeline:1")


def test_a_dataset_of_hostile_file_names_is_listed_literally(
    cli: CliRunner, root: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "files"
    (folder / "[").mkdir(parents=True)
    (folder / "[" / "INST]").write_text("a")
    (folder / "\x1b]0;title\x07\u202e.txt").write_text("b")
    created = _run(cli, root, "datasets", "create", "d", "v1", str(folder))
    _literally(created, "[/INST]", "\x1b]0;title\x07\u202e.txt")
    _literally(_run(cli, root, "datasets", "show", "d/v1"), "[/INST]", "\x1b]0;title\x07\u202e.txt")
    _run(cli, root, "datasets", "flag", "d/v1", "--reason", COMMENT)
    _literally(_run(cli, root, "lineage", "affected", "dataset://d/v1"), COMMENT)
    _run(cli, root, "lineage", "show", "dataset://d/v1")


@pytest.mark.parametrize(
    "line",
    [
        "    name: '[/INST]'\n    bogus: [/INST]",
        "    name: speak\n    bogus: '[bold]x[/bold] [link=https://evil.example]y[/link]'",
        "    name: speak\n    bogus: 'admin\u202egnp.exe \u2066x\u2069 \u200f'",
        "    name: speak\x1b[31m",
        "    name: speak\n    bogus: '\x1b]0;title\x07 [/]'",
        "    name: speak\n    bogus: '" + "x" * 20_000 + "'",
    ],
    ids=["closing-tag", "markup", "bidi", "escape", "osc", "long-line"],
)
def test_lint_quotes_hostile_yaml_lines_literally(cli: CliRunner, root: Path, line: str) -> None:
    (root / "valohai.yaml").write_text(f"- step:\n{line}\n    image: python:3.11\n    command: echo\n")
    output = _run(cli, root, "lint", code=2)
    assert "bogus" in output or "#x001b" in output
    assert max(len(printed) for printed in output.splitlines()) < LINE_LIMIT + 200
    if "bogus: [/INST]" in line:
        assert "bogus: [/INST]" in output
    if "\u202e" in line:
        assert "admin\\u202egnp.exe" in output
