"""Do ensembles over a diverse library beat their best member? At what cost?

Run: ``python benchmarks/bench_ensemble_diversity.py [--quick] [--part P]``;
``--seeds 6`` runs only a multi-seed synthetic comparison (200 train / 1000
test samples per seed, so that a difference of 0.01 is not noise).

Two data sets, each with one bad modality in training *and* test data:

* ``synthetic``: ``make_multimodal_classification`` (3 classes, text / image /
  audio blocks of 8 features), the audio block drowned in Gaussian noise
  (``--noise`` times its standard deviation);
* ``digits``: the built-in ``make_multimodal_digits`` (raw text, 32x32 RGB
  images, tones), the images corrupted by
  ``skmm.robustness.corrupt_modalities`` (``"gaussian_noise"`` at
  ``--severity``, 1.0 = pixel noise of standard deviation 102) before encoding
  (TF-IDF, 16x16 grey pixels, MFCC statistics), encoded once.

For each: every member of ``make_library("diverse")`` alone (fitted on the
training set), ``EnsembleSelectionClassifier`` and ``ModalityStackingClassifier``
over the library, bagging of copies of the best member (best on the *test*
set, an optimistic baseline), and the library's diversity on the test set.
Then networks: one ``FusionClassifier``, a deep ensemble (5 seeds, no
bootstrap: ``ModalityBaggingClassifier(net, bootstrap=False)``) and a snapshot
ensemble (5 cosine cycles of one run), with fit times.

Networks train on one torch thread (``SKMM_NUM_THREADS=1``; much faster on a
shared machine). Accuracies are of one seeded split; fit times are wall-clock
seconds of one run.
"""

import argparse
import os
import time
import warnings

os.environ.setdefault("SKMM_NUM_THREADS", "1")

import numpy as np
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from skmm.datasets import (
    make_multimodal_classification,
    make_multimodal_digits,
)
from skmm.ensemble import (
    EnsembleSelectionClassifier,
    ModalityBaggingClassifier,
    ModalityStackingClassifier,
    SnapshotEnsembleClassifier,
    ensemble_diversity,
    make_library,
)
from skmm.fusion import FusionClassifier
from skmm.robustness import corrupt_modalities

MODALITIES = ["text", "image", "audio"]


def _timed(est, X, y):
    start = time.perf_counter()
    est.fit(X, y)
    return est, time.perf_counter() - start


def synthetic_data(quick, noise):
    n = 600 if quick else 900
    X, y = make_multimodal_classification(
        n,
        n_classes=3,
        modalities=dict.fromkeys(MODALITIES, 8),
        noise=1.0,
        random_state=0,
    )
    rng = np.random.RandomState(1)
    audio = [c for c in X.columns if c.startswith("audio__")]
    X[audio] = X[audio] + noise * X[audio].std().to_numpy() * rng.standard_normal(
        (n, len(audio))
    )
    n_train = 2 * n // 3
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def synthetic_seeds(n_seeds, noise, network_params):
    """Selection and stacking vs the best member over several seeded data sets.

    200 training and 1000 test samples per seed (3 classes, 16 features per
    modality, the audio block drowned in noise): a large test set and several
    seeds, so that a difference of 0.01 is not noise.
    """
    print(
        f"\n=== synthetic, audio drowned in noise: {n_seeds} seeds, "
        "200 train / 1000 test each ==="
    )
    print(
        f"{'seed':<5} {'best member':<26} {'selection':>10} {'stacking':>9} {'bag':>7}"
    )
    rows = []
    for seed in range(n_seeds):
        X, y = make_multimodal_classification(
            1200,
            n_classes=3,
            modalities=dict.fromkeys(MODALITIES, 16),
            random_state=seed,
        )
        rng = np.random.RandomState(seed + 100)
        audio = [c for c in X.columns if c.startswith("audio__")]
        X[audio] = X[audio] + noise * X[audio].std().to_numpy() * rng.standard_normal(
            (len(X), len(audio))
        )
        X_train, y_train, X_test, y_test = X[:200], y[:200], X[200:], y[200:]
        library = make_library(
            "diverse",
            modalities=MODALITIES,
            network_params=network_params,
            random_state=0,
        )
        stack = ModalityStackingClassifier(
            library, final_estimator=LogisticRegression(max_iter=2000), cv=3
        ).fit(X_train, y_train)
        members = {
            n: est.score(X_test, y_test)
            for n, est in zip(stack._member_names, stack.estimators_)
        }
        best = max(members, key=members.get)
        sel = EnsembleSelectionClassifier(
            library, ensemble_size=30, cv=3, random_state=0
        ).fit(X_train, y_train)
        bag = ModalityBaggingClassifier(
            dict(library)[best], n_estimators=5, random_state=0
        ).fit(X_train, y_train)
        row = [
            members[best],
            sel.score(X_test, y_test),
            stack.score(X_test, y_test),
            bag.score(X_test, y_test),
        ]
        rows.append(row)
        print(
            f"{seed:<5} {best + f' {row[0]:.3f}':<26} {row[1]:>10.3f} "
            f"{row[2]:>9.3f} {row[3]:>7.3f}",
            flush=True,
        )
    mean = np.mean(rows, axis=0)
    gain = np.asarray(rows)[:, 1:] - np.asarray(rows)[:, :1]
    sem = (
        gain.std(axis=0, ddof=1) / np.sqrt(len(rows)) if len(rows) > 1 else gain[0] * 0
    )
    print(
        f"{'mean':<5} {f'{mean[0]:.3f}':<26} {mean[1]:>10.3f} {mean[2]:>9.3f} "
        f"{mean[3]:>7.3f}"
    )
    print(
        "gain over the best member (mean +- standard error over seeds): "
        + ", ".join(
            f"{n} {g:+.3f} +- {e:.3f}"
            for n, g, e in zip(["selection", "stacking", "bag"], gain.mean(axis=0), sem)
        )
    )


def digits_data(quick, severity):
    from sklearn.feature_extraction.text import TfidfVectorizer

    from skmm.compose import MultimodalEncoder
    from skmm.encoders import MFCCEncoder, PixelEncoder

    n = 600 if quick else 1000
    X, y = make_multimodal_digits(n_samples=n, random_state=0)
    X = corrupt_modalities(X, {"image": ("gaussian_noise", severity)}, random_state=0)
    n_train = 7 * n // 10
    encoder = MultimodalEncoder(
        [
            ("text", TfidfVectorizer(ngram_range=(1, 2), min_df=2), "text"),
            ("image", PixelEncoder(size=16, mode="L"), "image"),
            (
                "audio",
                MFCCEncoder(sr=8000, n_mfcc=13, n_fft=256, hop_length=128),
                "audio",
            ),
        ]
    ).fit(X[:n_train], y[:n_train])
    E = encoder.transform(X)
    return E[:n_train], y[:n_train], E[n_train:], y[n_train:]


def run(name, data, quick, network_params):
    X_train, y_train, X_test, y_test = data
    print(f"\n=== {name}: {len(y_train)} train / {len(y_test)} test ===")
    library = make_library(
        "diverse",
        modalities=MODALITIES,
        fusions=("early", "late", "gated") if quick else None,
        network_params=network_params,
        random_state=0,
    )
    cv = 3
    stack, t_stack = _timed(
        ModalityStackingClassifier(
            library, final_estimator=LogisticRegression(max_iter=2000), cv=cv
        ),
        X_train,
        y_train,
    )
    # The stack's members are the library fitted on the whole training set.
    member_scores = {
        n: est.score(X_test, y_test)
        for n, est in zip(stack._member_names, stack.estimators_)
    }
    print(f"{'member':<24} {'test acc':>9}")
    for n, s in member_scores.items():
        print(f"{n:<24} {s:>9.3f}")
    best_name = max(member_scores, key=member_scores.get)
    best = member_scores[best_name]

    sel, t_sel = _timed(
        EnsembleSelectionClassifier(library, ensemble_size=30, cv=cv, random_state=0),
        X_train,
        y_train,
    )
    best_est = dict(library)[best_name]
    bag, t_bag = _timed(
        ModalityBaggingClassifier(best_est, n_estimators=5, random_state=0),
        X_train,
        y_train,
    )
    rows = [
        ("EnsembleSelection(library)", sel.score(X_test, y_test), t_sel),
        ("ModalityStacking(library)", stack.score(X_test, y_test), t_stack),
        (f"Bagging(5 x {best_name})", bag.score(X_test, y_test), t_bag),
    ]
    print(f"\nbest member: {best_name} {best:.3f}")
    print(f"{'ensemble':<34} {'acc':>7} {'vs best':>8} {'fit s':>7}")
    for n, s, t in rows:
        print(f"{n:<34} {s:>7.3f} {s - best:>+8.3f} {t:>7.1f}")
    weights = {
        n: round(float(w), 3) for n, w in zip(dict(library), sel.weights_) if w > 0
    }
    print(f"selection weights: {weights}")
    div = ensemble_diversity(stack, X_test, y_test)
    print(
        f"library diversity on test: mean disagreement {div.mean_disagreement:.3f}, "
        f"mean error correlation {div.mean_error_correlation:.3f}, "
        f"mean double fault {div.mean_double_fault:.3f}"
    )
    bag_div = ensemble_diversity(bag, X_test, y_test)
    print(
        f"bagged copies diversity:   mean disagreement "
        f"{bag_div.mean_disagreement:.3f}, mean error correlation "
        f"{bag_div.mean_error_correlation:.3f}"
    )
    return rows, best


def networks(name, data, quick, network_params, fusion="late"):
    X_train, y_train, X_test, y_test = data
    epochs = network_params["max_epochs"]
    net = FusionClassifier(fusion, **{**network_params, "random_state": 0})
    n_members = 3 if quick else 5
    print(f"\n--- {name}: {fusion!r} fusion networks ({epochs} epochs each) ---")
    print(f"{'model':<44} {'acc':>7} {'vs single':>10} {'fit s':>7}")
    single, t_single = _timed(clone(net), X_train, y_train)
    s_single = single.score(X_test, y_test)
    print(f"{'single network':<44} {s_single:>7.3f} {'':>10} {t_single:>7.1f}")
    seeds = [
        clone(net)
        .set_params(random_state=k)
        .fit(X_train, y_train)
        .score(X_test, y_test)
        for k in range(1, 3 if quick else 4)
    ]
    print(
        f"{'(single network, other seeds)':<44} " + " ".join(f"{s:.3f}" for s in seeds)
    )
    deep, t_deep = _timed(
        ModalityBaggingClassifier(
            net, n_estimators=n_members, bootstrap=False, random_state=0
        ),
        X_train,
        y_train,
    )
    s = deep.score(X_test, y_test)
    label = f"deep ensemble ({n_members} seeds)"
    print(f"{label:<44} {s:>7.3f} {s - s_single:>+10.3f} {t_deep:>7.1f}")
    for cycle in (epochs // 2, epochs):
        snap, t_snap = _timed(
            SnapshotEnsembleClassifier(
                net.set_params(lr=3 * network_params["lr"]),
                n_snapshots=n_members,
                cycle_epochs=cycle,
            ),
            X_train,
            y_train,
        )
        net.set_params(lr=network_params["lr"])
        s = snap.score(X_test, y_test)
        label = f"snapshot ensemble ({n_members} x {cycle} epochs)"
        print(f"{label:<44} {s:>7.3f} {s - s_single:>+10.3f} {t_snap:>7.1f}")
        last = snap.estimator_.score(X_test, y_test)
        print(f"{'  (its last snapshot alone)':<44} {last:>7.3f}")
    div = ensemble_diversity(deep, X_test, y_test)
    print(
        f"deep ensemble diversity: disagreement {div.mean_disagreement:.3f}, "
        f"error correlation {div.mean_error_correlation:.3f}"
    )
    div = ensemble_diversity(snap, X_test, y_test)
    print(
        f"snapshot diversity:      disagreement {div.mean_disagreement:.3f}, "
        f"error correlation {div.mean_error_correlation:.3f}"
    )


def boosting(name, data):
    """SAMME (hard votes) vs SAMME.R (probabilities) over per-modality experts."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skmm.ensemble import MultimodalAdaBoostClassifier

    X_train, y_train, X_test, y_test = data
    expert = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=500))
    print(f"\n--- {name}: AdaBoost over 3 per-modality experts (30 rounds) ---")
    for algorithm in ["SAMME", "SAMME.R"]:
        boost, t = _timed(
            MultimodalAdaBoostClassifier(
                experts=dict.fromkeys(MODALITIES, expert),
                n_estimators=30,
                algorithm=algorithm,
                random_state=0,
            ),
            X_train,
            y_train,
        )
        print(f"{algorithm:<10} {boost.score(X_test, y_test):>7.3f} {t:>7.1f}s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller, faster run")
    parser.add_argument("--part", choices=["all", "synthetic", "digits"], default="all")
    parser.add_argument("--noise", type=float, default=3.0)
    parser.add_argument("--severity", type=float, default=1.0)
    parser.add_argument("--skip-networks", action="store_true")
    parser.add_argument("--only-networks", action="store_true")
    parser.add_argument("--only-boosting", action="store_true")
    parser.add_argument(
        "--seeds",
        type=int,
        default=0,
        help="only the multi-seed synthetic comparison, over this many seeds",
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    params = {"hidden_size": 32, "max_epochs": 20 if args.quick else 30, "lr": 3e-3}
    if args.seeds:
        synthetic_seeds(args.seeds, args.noise, {**params, "max_epochs": 30})
        return
    if args.part in ("all", "synthetic"):
        data = synthetic_data(args.quick, args.noise)
        boosting("synthetic", data)
        if not args.only_networks and not args.only_boosting:
            run("synthetic, audio drowned in noise", data, args.quick, params)
        if not args.skip_networks and not args.only_boosting:
            networks("synthetic", data, args.quick, params)
    if args.part in ("all", "digits"):
        data = digits_data(args.quick, args.severity)
        boosting("digits", data)
        if args.only_boosting:
            return
        if not args.only_networks:
            run("digits, images corrupted", data, args.quick, params)
        if not args.skip_networks:
            networks("digits", data, args.quick, params)


if __name__ == "__main__":
    main()
