"""Evaluate a candidate summarizer: generate a summary per evaluation prompt and score them.

    python evaluate.py --batch-size 8 --max-new-tokens 32

Inputs: `model` (a folder saved with `save_pretrained`) and `evaluation-data` (JSONL lines
{"id", "article", "reference"}). Metadata, one line: `rougeL` (ROUGE-L F1, rouge-score), `bleu`
(corpus BLEU, sacrebleu, 0-100), `latency_p50_ms` / `latency_p95_ms` (generation time per
sample: a batch's time divided by its size) and `output_length_variance` (of the words per
summary: a model that rambles or stops early shows here first). Outputs: `metrics.json` and
`samples.jsonl` (prompt, reference, output), for the reviewer at the approval gate.

It also compares with the model in production, which Assay writes to
/valohai/config/baseline.json; the pipeline's condition on this node is what stops a
regression, this only says so in the log.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import sacrebleu
import torch
from rouge_score import rouge_scorer
from task import CONFIG, INPUTS, OUTPUTS, input_uri, log, prompt, read_items
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.utils import logging as transformers_logging


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    return parser.parse_args()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def compare_with_baseline(metrics: dict[str, float]) -> None:
    """The hand-written check of the seed, as log lines."""
    baseline = (
        json.loads((CONFIG / "baseline.json").read_text()) if (CONFIG / "baseline.json").exists() else {}
    )
    if not baseline.get("model_version"):
        print(f"no baseline yet: no model version holds the alias {baseline.get('alias', 'production')!r}")
        return
    print(f"baseline: {baseline['model_version']} (alias {baseline['alias']!r})")
    for key in ("rougeL", "bleu", "latency_p95_ms"):
        if key in baseline["metrics"]:
            before, now = baseline["metrics"][key], metrics[key]
            print(f"  {key:15} baseline {before:9.4f}  candidate {now:9.4f}  delta {now - before:+.4f}")
    if "rougeL" in baseline["metrics"] and metrics["rougeL"] < baseline["metrics"]["rougeL"]:
        print("Regression: ROUGE-L dropped below the baseline's")


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    model_dir = INPUTS / "model"
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    # NOTE: a reloaded tokenizer pads on the right; a decoder-only model continues from the last
    # position, so a batch padded on the right would continue from padding. Pad on the left.
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    model.eval()
    items = read_items(INPUTS / "evaluation-data")

    outputs: list[str] = []
    latencies: list[float] = []
    for start in range(0, len(items), args.batch_size):
        chunk = items[start : start + args.batch_size]
        encoded = tokenizer([prompt(i["article"]) for i in chunk], return_tensors="pt", padding=True)
        began = time.perf_counter()
        with torch.inference_mode():
            generated = model.generate(
                **encoded, max_new_tokens=args.max_new_tokens, do_sample=False,
                pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
            )  # fmt: skip
        elapsed_ms = (time.perf_counter() - began) * 1000
        latencies += [elapsed_ms / len(chunk)] * len(chunk)
        new_tokens = generated[:, encoded["input_ids"].shape[1] :]
        texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        outputs += [(text.strip().splitlines() or [""])[0] for text in texts]

    references = [i["reference"] for i in items]
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    rouge = [scorer.score(ref, out)["rougeL"].fmeasure for ref, out in zip(references, outputs, strict=True)]
    metrics = {
        "rougeL": round(statistics.fmean(rouge), 4),
        "bleu": round(sacrebleu.corpus_bleu(outputs, [references]).score, 2),
        "latency_p50_ms": round(percentile(latencies, 0.50), 2),
        "latency_p95_ms": round(percentile(latencies, 0.95), 2),
        "output_length_variance": round(statistics.pvariance([len(o.split()) for o in outputs]), 3),
    }
    log(**metrics)
    compare_with_baseline(metrics)

    report = {**metrics, "samples": len(items), "evaluation_dataset": input_uri("evaluation-data")}
    (OUTPUTS / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    with (OUTPUTS / "samples.jsonl").open("w", encoding="utf-8") as handle:
        for item, output, score in zip(items, outputs, rouge, strict=True):
            sample = {"id": item.get("id"), "prompt": prompt(item["article"]), "reference": item["reference"]}
            handle.write(json.dumps({**sample, "output": output, "rougeL": round(score, 4)}) + "\n")
    for item, output in list(zip(items, outputs, strict=True))[:3]:
        print(f"- reference: {item['reference']}\n  output:    {output}")


if __name__ == "__main__":
    main()
