"""Promote the approved candidate: save it to /valohai/outputs/model/ and describe it for the catalog.

    python promote.py

Runs after the approval gate. Inputs: `model` (the candidate, saved with `save_pretrained`, with
its `training.json`) and `results` (the evaluation's `metrics.json`). The seed's pattern: the
model folder goes to outputs/model/, and a line of `valohai.metadata.jsonl` for `"model/"` makes
every file in it the next version of `model://summarizer`, with its tags, ROUGE-L and the
datasets it was trained and evaluated on. The catalog approves that version and moves
`production` to it because the gate before this step was approved.
"""

from __future__ import annotations

import json
import shutil

from task import INPUTS, OUTPUTS
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.utils import logging as transformers_logging

MODEL_URI = "model://summarizer/"  # the trailing slash: the next version number


def main() -> None:
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    candidate = INPUTS / "model"
    results = json.loads((INPUTS / "results" / "metrics.json").read_text())
    training = json.loads((candidate / "training.json").read_text())

    # Loading and saving again (rather than copying files) checks the candidate loads at all.
    model = AutoModelForCausalLM.from_pretrained(candidate)
    tokenizer = AutoTokenizer.from_pretrained(candidate)
    save_dir = OUTPUTS / "model"
    save_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(save_dir)
    tokenizer.save_pretrained(save_dir)
    shutil.copyfile(candidate / "training.json", save_dir / "training.json")
    print(f"saved the model to {save_dir}")

    rouge_l = results["rougeL"]
    note = (
        f"trained on {training['training_dataset']}"
        + (f" from {training['base_model']}" if training["base_model"] else "")
        + f"; ROUGE-L {rouge_l:.3f} on {results['evaluation_dataset']}"
    )
    metadata = {
        "model/": {
            "valohai.model-versions": [{"model_uri": MODEL_URI, "model_release_note": note}],
            "valohai.tags": ["genai", "summarization", "production-candidate"],
            "rougeL": rouge_l,
            "training_dataset": training["training_dataset"],
            "evaluation_dataset": results["evaluation_dataset"],
            "base_model": training["base_model"],
        },
    }
    with (OUTPUTS / "valohai.metadata.jsonl").open("w") as handle:
        for file, meta in metadata.items():
            handle.write(json.dumps({"file": file, "metadata": meta}) + "\n")
    print(f"asked for a new version of {MODEL_URI}: {note}")


if __name__ == "__main__":
    main()
