"""FusionClassifier (skorch) vs a hand-written PyTorch loop on the same network.

Both sides train the same early-fusion :class:`~skmm.fusion._network.FusionNetwork`
(built from the same block specs), with the same data, batch size, optimizer
(Adam) and number of epochs; the hand-written loop is the minimal idiomatic one
(shuffle with ``randperm``, index the tensors, forward, mean cross-entropy,
backward, step). Prints the per-epoch training time ratio (target: skmm at most
1.15x the plain loop) and the prediction throughput ratio.

Run: ``python benchmarks/bench_fusion.py [--n-samples N] [--epochs E] [--threads T]``
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import best_of, report

from skmm.datasets import make_multimodal_classification
from skmm.fusion import FusionClassifier
from skmm.fusion._network import FusionNetwork, network_inputs
from skmm.utils import modality_presence


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--hidden-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    X, y = make_multimodal_classification(
        n_samples=args.n_samples,
        n_classes=3,
        modalities={"text": 64, "image": 64, "audio": 32},
        random_state=0,
    )
    params = {
        "hidden_size": args.hidden_size,
        "batch_size": args.batch_size,
        "max_epochs": args.epochs,
        "lr": 1e-3,
        "dropout": 0.1,
        "random_state": 0,
    }
    clf = FusionClassifier("early", **params)

    def fit_skmm():
        clf.fit(X, y)

    # The plain loop trains the same network, built from the same specs.
    clf.fit(X.iloc[:200], y[:200])
    Xa = X.to_numpy(dtype=np.float32)
    present = modality_presence(Xa, clf.modalities_)
    specs = clf._blocks
    inputs = network_inputs(Xa, present, specs)
    target = torch.as_tensor(y, dtype=torch.long)
    n_outputs = len(np.unique(y))

    def fit_plain():
        torch.manual_seed(0)
        net = FusionNetwork(
            specs,
            "early",
            hidden_size=args.hidden_size,
            n_outputs=n_outputs,
            dropout=0.1,
        )
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
        criterion = torch.nn.CrossEntropyLoss()
        n = len(target)
        net.train()
        for _ in range(args.epochs):
            order = torch.randperm(n)
            for start in range(0, n, args.batch_size):
                idx = order[start : start + args.batch_size]
                batch = {k: v[idx] for k, v in inputs.items()}
                optimizer.zero_grad()
                loss = criterion(net(**batch), target[idx])
                loss.backward()
                optimizer.step()
        return net

    # Alternate the two sides so that load changes on a shared machine hit
    # both alike; keep the best run of each.
    fit_skmm()
    fit_plain()
    t_skmm = t_plain = t_epoch = np.inf
    for _ in range(args.repeat):
        t_skmm = min(t_skmm, best_of(fit_skmm, repeat=1, warmup=0)[0])
        t_epoch = min(t_epoch, min(clf.history_[:, "dur"]))
        t_plain = min(t_plain, best_of(fit_plain, repeat=1, warmup=0)[0])
    epoch_skmm, epoch_plain = t_skmm / args.epochs, t_plain / args.epochs

    clf.fit(X, y)
    plain_net = fit_plain().eval()
    predict_batch = max(args.batch_size, 256)

    def predict_skmm():
        clf.predict_proba(X)

    def predict_plain():
        with torch.no_grad():
            outputs = []
            for start in range(0, len(target), predict_batch):
                batch = {k: v[start : start + predict_batch] for k, v in inputs.items()}
                outputs.append(torch.softmax(plain_net(**batch), dim=1))
            return torch.cat(outputs).numpy()

    t_pred_skmm = t_pred_plain = np.inf
    for _ in range(args.repeat):
        t_pred_skmm = min(t_pred_skmm, best_of(predict_skmm, repeat=1)[0])
        t_pred_plain = min(t_pred_plain, best_of(predict_plain, repeat=1)[0])

    report(
        f"FusionClassifier('early') vs plain torch loop "
        f"(n={args.n_samples}, batch={args.batch_size}, hidden={args.hidden_size}, "
        f"threads={args.threads})",
        [
            ("one training epoch (EpochTimer)", args.n_samples, t_epoch, epoch_plain),
            (
                "fit / max_epochs (incl. checks, setup)",
                args.n_samples,
                epoch_skmm,
                epoch_plain,
            ),
            ("predict_proba", args.n_samples, t_pred_skmm, t_pred_plain),
        ],
    )
    print(
        f"\nper-epoch time ratio skmm/plain: {t_epoch / epoch_plain:.3f}x "
        f"(target <= 1.15x); whole fit / epochs: {epoch_skmm / epoch_plain:.3f}x"
    )
    print(
        f"prediction throughput: skmm {args.n_samples / t_pred_skmm:,.0f} rows/s, "
        f"plain {args.n_samples / t_pred_plain:,.0f} rows/s "
        f"(time ratio {t_pred_skmm / t_pred_plain:.3f}x)"
    )


if __name__ == "__main__":
    main()
