"""FusionClassifier (skorch) vs a hand-written PyTorch loop on the same network.

Both sides train the same early-fusion :class:`~skmm.fusion._network.FusionNetwork`
(built from the same block specs), with the same data, batch size, optimizer
(Adam) and number of epochs; the hand-written loop is the minimal idiomatic one
(shuffle with ``randperm``, index the tensors, forward, mean cross-entropy,
backward, step). Prints the per-epoch training time ratio (target: skmm at most
1.15x the plain loop) and the prediction overhead: ``predict_proba`` on the
user's DataFrame (and on a float32 array) against a bare forward pass of the
same module over prebuilt tensors, same batches (target: at most 1.1x).

Run: ``python benchmarks/bench_fusion.py [--n-samples N] [--epochs E] [--threads T]``
"""

import argparse
import sys
import warnings
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
    inputs = {k: v.contiguous() for k, v in network_inputs(Xa, present, specs).items()}
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
    # The bare forward pass: the fitted module itself, over tensors built
    # beforehand (C-contiguous, outside the timing), in batches of the same
    # size as skmm's inference batches (identical arithmetic), softmax in torch.
    module = clf.net_.module_.eval()
    batch = clf.net_.iterator_valid__batch_size
    tensors = inputs
    X32 = np.ascontiguousarray(Xa)

    def bare(rows):
        def run():
            with torch.inference_mode():
                return torch.cat(
                    [
                        torch.softmax(
                            module(**{k: v[i : i + rows] for k, v in tensors.items()}),
                            dim=1,
                        )
                        for i in range(0, len(target), rows)
                    ]
                ).numpy()

        return run

    frame32 = X.astype(np.float32)  # what MultimodalEncoder emits

    def bare_from_frame():
        # the least a bare pass starting from the float64 frame must add
        X.to_numpy(dtype=np.float32)
        return cases["bare"]()

    cases = {
        "skmm_frame": lambda: clf.predict_proba(X),
        "skmm_frame32": lambda: clf.predict_proba(frame32),
        "skmm_f32": lambda: clf.predict_proba(X32),
        "bare": bare(batch),
        "bare_from_frame": bare_from_frame,
        "bare_256": bare(256),
    }
    np.testing.assert_allclose(cases["skmm_frame"](), cases["bare"](), atol=1e-5)
    warnings.filterwarnings("ignore", message="X does not have valid feature names")
    # interleaved rounds, so that load changes on a shared machine hit every
    # case alike; the best round of each
    times = {name: [] for name in cases}
    for _ in range(20 * args.repeat):
        for name, run in cases.items():
            times[name].append(best_of(run, repeat=1, warmup=0)[0])
    best = {name: min(t) for name, t in times.items()}

    def paired(name, base="bare"):
        # median over rounds of the ratio to the bare pass of the same round
        # (robust to a shared machine's load drifting between rounds)
        return np.median(np.asarray(times[name]) / np.asarray(times[base]))

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
        ],
    )
    print(
        f"\nper-epoch time ratio skmm/plain: {t_epoch / epoch_plain:.3f}x "
        f"(target <= 1.15x); whole fit / epochs: {epoch_skmm / epoch_plain:.3f}x"
    )
    print(
        "\nprediction, best of interleaved rounds. skmm gets the user's data "
        "(the float64 DataFrame of make_multimodal_classification, the same as "
        "float32 - what MultimodalEncoder emits - or a float32 C array) and "
        "validates it (names, width, inf, presence, "
        f"partial blocks); the bare pass runs the same module over prebuilt "
        f"tensors, {batch} rows per batch as skmm, in torch.inference_mode():"
    )
    for name, label in [
        ("skmm_frame", "predict_proba(float64 DataFrame)"),
        ("skmm_frame32", "predict_proba(float32 DataFrame)"),
        ("skmm_f32", "predict_proba(float32 array)"),
    ]:
        print(
            f"  {label:<34} {best[name] * 1e3:7.1f} ms  "
            f"{best[name] / best['bare']:.3f}x the bare pass (target <= 1.1x; "
            f"median of per-round ratios {paired(name):.3f}x)"
        )
    print(
        f"  {'bare forward pass':<34} {best['bare'] * 1e3:7.1f} ms  "
        f"({len(times['bare'])} interleaved rounds)"
    )
    print(
        f"  {'bare pass + float64->float32':<34} "
        f"{best['bare_from_frame'] * 1e3:7.1f} ms  (skmm on the float64 frame: "
        f"{best['skmm_frame'] / best['bare_from_frame']:.3f}x; median of "
        f"per-round ratios {paired('skmm_frame', 'bare_from_frame'):.3f}x)"
    )
    print(
        f"  {'bare pass, 256 rows per batch':<34} {best['bare_256'] * 1e3:7.1f} ms  "
        "(skmm's former inference batch)"
    )


if __name__ == "__main__":
    main()
