"""Trainable aligners (skorch, through the training base) vs a plain PyTorch loop.

For each aligner, both sides train the same
:class:`~skmm.alignment._network.AlignmentNetwork` (built from the same block
specs, same objective and loss), with the same data, batch size, optimizer
(Adam) and number of epochs; the plain loop is the minimal idiomatic one
(shuffle with ``randperm``, index the tensors, forward, ``module.aux_loss``,
backward, step). Prints the training time ratio (target: skmm at most 1.15x the
plain loop) per epoch (skorch's EpochTimer) and per fit (including validation,
layout resolution and setup).

Run: ``python benchmarks/bench_alignment.py [--n-samples N] [--epochs E] [--threads T]``
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import best_of

from skmm.alignment import AdversarialAligner, ContrastiveAligner, CycleAligner
from skmm.alignment._network import AlignmentNetwork
from skmm.datasets import make_multimodal_classification
from skmm.fusion._network import network_inputs
from skmm.utils import modality_presence


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=8000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--hidden-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    X, _ = make_multimodal_classification(
        n_samples=args.n_samples,
        modalities={"text": 64, "image": 64, "audio": 32},
        missing_rate=0.2,
        random_state=0,
    )
    params = {
        "n_components": 32,
        "hidden_size": args.hidden_size,
        "batch_size": args.batch_size,
        "max_epochs": args.epochs,
        "lr": 1e-3,
        "random_state": 0,
    }
    print(
        f"aligner training vs a plain torch loop over the same module and loss "
        f"(n={args.n_samples}, 3 modalities, 20% missing, batch={args.batch_size}, "
        f"hidden={args.hidden_size}, threads={args.threads})"
    )
    header = f"{'aligner':<22} {'skmm s/epoch':>13} {'plain s/epoch':>14} "
    header += f"{'epoch ratio':>12} {'fit ratio':>10}"
    print(header)
    print("-" * len(header))
    for cls in (ContrastiveAligner, AdversarialAligner, CycleAligner):
        aligner = cls(**params)
        aligner.fit(X.iloc[:300])
        Xa = X.to_numpy(dtype=np.float32)
        present = modality_presence(Xa, aligner.modalities_)
        specs = aligner._blocks
        inputs = network_inputs(Xa, present, specs)
        module_kwargs = {
            "blocks": specs,
            "objective": aligner._objective,
            "n_components": params["n_components"],
            "hidden_size": args.hidden_size,
            "objective_kwargs": aligner._objective_kwargs(specs),
        }

        def fit_skmm(aligner=aligner):
            aligner.fit(X)

        def fit_plain(module_kwargs=module_kwargs, inputs=inputs):
            torch.manual_seed(0)
            net = AlignmentNetwork(**module_kwargs)
            optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
            n = args.n_samples
            net.train()
            for _ in range(args.epochs):
                order = torch.randperm(n)
                for start in range(0, n, args.batch_size):
                    idx = order[start : start + args.batch_size]
                    batch = {k: v[idx] for k, v in inputs.items()}
                    optimizer.zero_grad()
                    net(**batch)
                    net.aux_loss.backward()
                    optimizer.step()
            return net

        fit_skmm()
        fit_plain()
        t_skmm = t_plain = t_epoch = np.inf
        # alternate the sides so that load changes hit both alike
        for _ in range(args.repeat):
            t_skmm = min(t_skmm, best_of(fit_skmm, repeat=1, warmup=0)[0])
            t_epoch = min(t_epoch, min(aligner.history_[:, "dur"]))
            t_plain = min(t_plain, best_of(fit_plain, repeat=1, warmup=0)[0])
        plain_epoch = t_plain / args.epochs
        print(
            f"{cls.__name__:<22} {t_epoch:>13.3f} {plain_epoch:>14.3f} "
            f"{t_epoch / plain_epoch:>11.3f}x {t_skmm / t_plain:>9.3f}x",
            flush=True,
        )


if __name__ == "__main__":
    main()
