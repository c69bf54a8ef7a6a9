"""Train the summarizer: a byte-level BPE tokenizer and a tiny GPT-2, or fine-tune a base model.

    python train.py --max-steps 300 --learning-rate 0.008 --seed 0

Inputs: `training-data` (JSONL lines {"article", "summary"}) and, optionally, `base-model` (a
folder saved with `save_pretrained`, e.g. `model://summarizer/production`): given, training
continues from its weights and tokenizer; absent, both are made from scratch. CPU only, one
thread, seeded: the same inputs and parameters give the same model.

Metadata: one line per step, {"step", "loss", "learning_rate"}. Outputs: `model/` (the model and
the tokenizer, `save_pretrained`) and `model/training.json` (what it was trained on).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time

import torch
from task import INPUTS, OUTPUTS, has_files, input_uri, log, prompt, read_items
from tokenizers import ByteLevelBPETokenizer
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GPT2Config,
    GPT2LMHeadModel,
    PreTrainedTokenizerFast,
)
from transformers.utils import logging as transformers_logging

EOS, PAD = "<|endoftext|>", "<pad>"
MAX_LENGTH = 192  # tokens of prompt + summary; the articles are ~60-90 tokens


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-steps", type=int, default=300)
    parser.add_argument("--learning-rate", type=float, default=0.008)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--vocab-size", type=int, default=1000)
    return parser.parse_args()


def new_tokenizer(texts: list[str], vocab_size: int) -> PreTrainedTokenizerFast:
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=2, special_tokens=[EOS, PAD])
    return PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token=EOS, eos_token=EOS, pad_token=PAD)


def new_model(tokenizer: PreTrainedTokenizerFast) -> GPT2LMHeadModel:
    config = GPT2Config(
        vocab_size=len(tokenizer), n_positions=256, n_embd=64, n_layer=2, n_head=2,
        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    return GPT2LMHeadModel(config)


def encode(tokenizer: PreTrainedTokenizerFast, items: list[dict[str, str]]) -> list[tuple[list[int], int]]:
    """(token ids of prompt + summary + end, length of the prompt part) per item."""
    encoded = []
    for item in items:
        head = tokenizer(prompt(item["article"]))["input_ids"]
        tail = tokenizer(" " + item["summary"].strip())["input_ids"] + [tokenizer.eos_token_id]
        head = head[: MAX_LENGTH - len(tail)]
        encoded.append((head + tail, len(head)))
    return encoded


def batch(examples: list[tuple[list[int], int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded ids; the loss counts the summary and its end token, not the prompt or padding."""
    width = max(len(ids) for ids, _ in examples)
    input_ids = torch.full((len(examples), width), pad_id)
    attention = torch.zeros((len(examples), width), dtype=torch.long)
    labels = torch.full((len(examples), width), -100)
    for row, (ids, prompt_length) in enumerate(examples):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        attention[row, : len(ids)] = 1
        labels[row, prompt_length : len(ids)] = torch.tensor(ids[prompt_length:])
    return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    started = time.perf_counter()

    items = read_items(INPUTS / "training-data")
    base = INPUTS / "base-model"
    if has_files(base):
        tokenizer = AutoTokenizer.from_pretrained(base)
        model = AutoModelForCausalLM.from_pretrained(base)
        print(f"fine-tuning {input_uri('base-model') or base} on {len(items)} articles")
    else:
        texts = [prompt(i["article"]) + " " + i["summary"] for i in items]
        tokenizer = new_tokenizer(texts, args.vocab_size)
        model = new_model(tokenizer)
        print(f"training from scratch on {len(items)} articles (vocabulary {len(tokenizer)})")
    examples = encode(tokenizer, items)

    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=0.01)
    warmup = max(1, args.max_steps // 10)

    def rate(step: int) -> float:  # linear warm-up, then cosine decay to a tenth
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, args.max_steps - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, rate)
    shuffler = random.Random(args.seed)
    order: list[int] = []
    model.train()
    loss_value = float("nan")
    for step in range(1, args.max_steps + 1):
        if len(order) < args.batch_size:
            order += shuffler.sample(range(len(examples)), len(examples))
        picked, order = order[: args.batch_size], order[args.batch_size :]
        loss = model(**batch([examples[i] for i in picked], tokenizer.pad_token_id)).loss
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        loss_value = loss.item()
        # NOTE: a wrecked run (learning-rate=5) can reach inf or NaN, which JSON cannot carry.
        log(step=step, loss=round(loss_value, 4) if math.isfinite(loss_value) else None,
            learning_rate=schedule.get_last_lr()[0])  # fmt: skip

    model_dir = OUTPUTS / "model"
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    facts = {
        "training_dataset": input_uri("training-data"),
        "base_model": input_uri("base-model") if has_files(base) else None,
        "articles": len(items),
        "steps": args.max_steps,
        "learning_rate": args.learning_rate,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "final_loss": loss_value if math.isfinite(loss_value) else None,
    }
    (model_dir / "training.json").write_text(json.dumps(facts, indent=2) + "\n")
    seconds = time.perf_counter() - started
    print(f"saved {model_dir} after {args.max_steps} steps in {seconds:.1f} s (last loss {loss_value:.3f})")


if __name__ == "__main__":
    main()
