"""What the three steps share: Valohai's folders, the data files and the prompt format.

    from task import INPUTS, OUTPUTS, log, prompt, read_items
    items = read_items(INPUTS / "training-data")     # every *.jsonl line in the input's folder
    text = prompt(item["article"]) + " " + item["summary"]

Nothing here knows about Assay: the folders are Valohai's (`VH_*_DIR` when set, else
/valohai/...), so the same scripts run on Valohai, under Assay, and by hand with the variables
pointing elsewhere.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

# NOTE: everything is local (the model and the tokenizer are made here or come as inputs);
# these make transformers fail fast instead of trying the Hugging Face Hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

INPUTS = Path(os.environ.get("VH_INPUTS_DIR", "/valohai/inputs"))
OUTPUTS = Path(os.environ.get("VH_OUTPUTS_DIR", "/valohai/outputs"))
CONFIG = Path(os.environ.get("VH_CONFIG_DIR", "/valohai/config"))

SUMMARY_MARK = "\nSummary:"


def prompt(article: str) -> str:
    """The text the model continues with the summary."""
    return f"Article: {article.strip()}{SUMMARY_MARK}"


def read_items(folder: Path) -> list[dict[str, Any]]:
    """Every line of every ``*.jsonl`` file in ``folder``, files in name order."""
    items = []
    for path in sorted(folder.glob("*.jsonl")):
        with path.open(encoding="utf-8") as handle:
            items.extend(json.loads(line) for line in handle if line.strip())
    if not items:
        raise SystemExit(f"no *.jsonl lines in {folder}")
    return items


def input_uri(name: str) -> str | None:
    """The URI an input came from (``dataset://domain-news/v2``), from ``config/inputs.json``."""
    try:
        with (CONFIG / "inputs.json").open(encoding="utf-8") as handle:
            files = json.load(handle).get(name, {}).get("files", [])
    except FileNotFoundError:
        return None
    return files[0].get("uri") if files else None


def has_files(folder: Path) -> bool:
    return folder.is_dir() and any(folder.iterdir())


def log(**values: Any) -> None:
    """One metadata event: a JSON object on its own line of standard output."""
    print(json.dumps(values), flush=True)
