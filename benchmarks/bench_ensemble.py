"""Accuracy of the skmm ensembles against their best single member.

Run: ``python benchmarks/bench_ensemble.py [--quick] [--predict]``. Four parts:

1. ``make_multimodal_classification`` (3 modalities x 8 features, 3 classes,
   additive signal, 400 train / 200 test): each ensemble vs its best member.
2. Missing modality: accuracy lost when the image block is missing for half the
   test samples, single fusion network vs modality bagging of the same network
   (3 seeds of ``make_multimodal_classification(450, noise=0.5)``).
3. ``make_multimodal_digits`` (raw text, image, audio; 700 train / 300 test),
   encoded once by a ``MultimodalEncoder`` (TF-IDF, 16x16 grey pixels, MFCC),
   plus the end-to-end raw-table stacking pipeline proposed for ``skmm demo``.
4. Prediction time (``--predict`` runs only this part): bagging of 8 fusion
   networks on 20 000 rows with ``n_jobs=1`` vs ``n_jobs=2`` (threads, and
   processes for comparison), stacking of 3 fusion experts and AdaBoost over
   them, members predicting one after the other vs in two threads, and a
   snapshot ensemble validating X once vs once per snapshot.

Fusion networks are trained on one torch thread (much faster on a shared
machine). Fit times are wall-clock seconds of one run (see ``_timing.py`` for
the timing helpers used by the speed benchmarks).
"""

import argparse
import os
import sys
import time
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.compose import make_column_transformer
from sklearn.decomposition import PCA
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from skmm.compose import MultimodalEncoder
from skmm.datasets import make_multimodal_classification
from skmm.ensemble import (
    EnsembleSelectionClassifier,
    ModalityBaggingClassifier,
    ModalityStackingClassifier,
    MultimodalAdaBoostClassifier,
)

sys.path.insert(0, os.path.dirname(__file__))

MODALITIES = ("text", "image", "audio")


def _cols(X, modality):
    return [c for c in X.columns if c.startswith(f"{modality}__")]


def _row(name, ensemble, best, seconds, what="best member"):
    print(
        f"{name:<44} {ensemble:>8.3f} {best:>8.3f} {ensemble - best:>+8.3f} "
        f"{seconds:>7.1f}s  ({what})"
    )


def _header(title):
    print(f"\n{title}")
    print(f"{'ensemble':<44} {'acc':>8} {'single':>8} {'margin':>8} {'fit':>8}")
    print("-" * 84)


def _timed_fit(est, X, y):
    start = time.perf_counter()
    est.fit(X, y)
    return est, time.perf_counter() - start


def _member_score(est, features, X, y):
    return est.score(X.iloc[:, features], y)


def synthetic():
    X, y = make_multimodal_classification(
        600,
        n_classes=3,
        modalities=dict.fromkeys(MODALITIES, 8),
        noise=1.0,
        random_state=0,
    )
    X_train, y_train, X_test, y_test = X[:400], y[:400], X[400:], y[400:]
    _header("make_multimodal_classification (600 samples, 3 x 8 features)")

    bag, t = _timed_fit(
        ModalityBaggingClassifier(
            DecisionTreeClassifier(random_state=0), n_estimators=30, random_state=0
        ),
        X_train,
        y_train,
    )
    best = max(
        _member_score(e, f, X_test, y_test)
        for e, f in zip(bag.estimators_, bag.estimators_features_)
    )
    _row("ModalityBagging(DecisionTree), 30", bag.score(X_test, y_test), best, t)

    expert = make_pipeline(StandardScaler(), LogisticRegression())
    singles = {
        m: clone(expert)
        .fit(X_train[_cols(X, m)], y_train)
        .score(X_test[_cols(X, m)], y_test)
        for m in MODALITIES
    }
    best_expert = max(singles.values())
    boost, t = _timed_fit(
        MultimodalAdaBoostClassifier(
            experts=dict.fromkeys(MODALITIES, expert), n_estimators=20, random_state=0
        ),
        X_train,
        y_train,
    )
    _row(
        "MultimodalAdaBoost(3 LR experts), 20",
        boost.score(X_test, y_test),
        best_expert,
        t,
        "best expert",
    )
    stack, t = _timed_fit(
        ModalityStackingClassifier(experts=dict.fromkeys(MODALITIES, expert), cv=5),
        X_train,
        y_train,
    )
    _row(
        "ModalityStacking(3 LR experts)",
        stack.score(X_test, y_test),
        best_expert,
        t,
        "best expert",
    )
    library = [
        (
            f"{name}_{m}",
            make_pipeline(
                make_column_transformer((StandardScaler(), _cols(X, m))), est
            ),
        )
        for m in MODALITIES
        for name, est in [("lr", LogisticRegression()), ("nb", GaussianNB())]
    ]
    sel, t = _timed_fit(
        EnsembleSelectionClassifier(library, ensemble_size=20, cv=5, random_state=0),
        X_train,
        y_train,
    )
    best = max(clone(e).fit(X_train, y_train).score(X_test, y_test) for _, e in library)
    _row(
        "EnsembleSelection(6 one-modality models)",
        sel.score(X_test, y_test),
        best,
        t,
        "best candidate",
    )
    lr_all = clone(expert).fit(X_train, y_train).score(X_test, y_test)
    print(f"{'(reference: LR on all modalities)':<44} {lr_all:>8.3f}")


def missing_modality(quick):
    from skmm.fusion import FusionClassifier

    print("\nImage block missing for half the test samples (accuracy complete -> gap)")
    print("make_multimodal_classification(450, noise=0.5), 300 train / 150 test")
    print(f"{'seed model':<56} {'complete':>9} {'gap':>7} {'lost':>7}")
    print("-" * 82)
    for seed in [0] if quick else [0, 1, 2]:
        X, y = make_multimodal_classification(
            450,
            n_classes=3,
            modalities=dict.fromkeys(MODALITIES, 8),
            noise=0.5,
            random_state=seed,
        )
        X_train, y_train, X_test, y_test = X[:300], y[:300], X[300:], y[300:]
        X_gap = X_test.copy()
        gap = np.random.RandomState(seed).rand(150) < 0.5
        X_gap.loc[gap, _cols(X, "image")] = np.nan
        for fusion in ["early"] if quick else ["early", "gated"]:
            net = FusionClassifier(
                fusion, hidden_size=16, max_epochs=20, random_state=0
            )
            models = [
                (f"FusionClassifier({fusion!r})", clone(net)),
                (
                    f"ModalityBagging({fusion!r}, 8)",
                    ModalityBaggingClassifier(net, n_estimators=8, random_state=0),
                ),
                (
                    f"ModalityBagging({fusion!r}, 8, max_modalities=2)",
                    ModalityBaggingClassifier(
                        net, n_estimators=8, max_modalities=2, random_state=0
                    ),
                ),
            ]
            for name, model in models:
                model.fit(X_train, y_train)
                a, b = model.score(X_test, y_test), model.score(X_gap, y_test)
                print(f"{seed:<4} {name:<51} {a:>9.3f} {b:>7.3f} {a - b:>7.3f}")


def _digits_encoder():
    from skmm.encoders import MFCCEncoder, PixelEncoder

    return MultimodalEncoder(
        [
            ("text", TfidfVectorizer(ngram_range=(1, 2), min_df=2), "text"),
            ("image", PixelEncoder(size=16, mode="L"), "image"),
            (
                "audio",
                MFCCEncoder(sr=8000, n_mfcc=13, n_fft=256, hop_length=128),
                "audio",
            ),
        ]
    )


def digits(quick):
    from skmm.datasets._digits import make_multimodal_digits
    from skmm.fusion import FusionClassifier

    X, y = make_multimodal_digits(n_samples=1000, random_state=0)
    X_train, X_test, y_train, y_test = X[:700], X[700:], y[:700], y[700:]
    encoder = _digits_encoder().fit(X_train, y_train)
    E_train, E_test = encoder.transform(X_train), encoder.transform(X_test)
    _header("make_multimodal_digits (1000 samples, encoded once)")

    lr = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=300))
    experts = {
        "text": lr,
        "image": make_pipeline(
            StandardScaler(),
            PCA(30, random_state=0),
            SVC(probability=True, random_state=0),
        ),
        "audio": lr,
    }
    singles = {
        m: clone(experts[m])
        .fit(E_train[_cols(E_train, m)], y_train)
        .score(E_test[_cols(E_test, m)], y_test)
        for m in MODALITIES
    }
    stack, t = _timed_fit(
        ModalityStackingClassifier(
            experts=experts, final_estimator=LogisticRegression(max_iter=1000), cv=5
        ),
        E_train,
        y_train,
    )
    _row(
        "ModalityStacking(3 experts)",
        stack.score(E_test, y_test),
        max(singles.values()),
        t,
        "best expert",
    )

    boost, t = _timed_fit(
        MultimodalAdaBoostClassifier(
            DecisionTreeClassifier(max_depth=6), n_estimators=60, random_state=0
        ),
        E_train,
        y_train,
    )
    best = max(e.score(E_test, y_test) for e in boost.estimators_)
    _row("MultimodalAdaBoost(tree depth 6), 60", boost.score(E_test, y_test), best, t)

    bag, t = _timed_fit(
        ModalityBaggingClassifier(
            DecisionTreeClassifier(), n_estimators=50, random_state=0
        ),
        E_train,
        y_train,
    )
    best = max(e.score(E_test, y_test) for e in bag.estimators_)
    _row("ModalityBagging(DecisionTree), 50", bag.score(E_test, y_test), best, t)

    net = FusionClassifier("gated", hidden_size=32, max_epochs=40, random_state=0)
    single, t_single = _timed_fit(clone(net), E_train, y_train)
    if not quick:
        bag, t = _timed_fit(
            ModalityBaggingClassifier(net, n_estimators=8, random_state=0),
            E_train,
            y_train,
        )
        best = max(e.score(E_test, y_test) for e in bag.estimators_)
        _row(
            "ModalityBagging(FusionClassifier gated), 8",
            bag.score(E_test, y_test),
            best,
            t,
        )
    print(
        f"{'(reference: one gated net on all data)':<44} "
        f"{single.score(E_test, y_test):>8.3f} {'':>8} {'':>8} {t_single:>7.1f}s"
    )

    if not quick:
        library = [
            (f, FusionClassifier(f, hidden_size=32, max_epochs=40, random_state=0))
            for f in ["early", "gated", "late", "low_rank_tensor"]
        ] + [("lr", make_pipeline(StandardScaler(), LogisticRegression(C=0.03)))]
        sel, t = _timed_fit(
            EnsembleSelectionClassifier(
                library, ensemble_size=20, cv=5, random_state=0
            ),
            E_train,
            y_train,
        )
        best = max(
            clone(e).fit(E_train, y_train).score(E_test, y_test) for _, e in library
        )
        _row(
            "EnsembleSelection(4 fusion nets + LR)",
            sel.score(E_test, y_test),
            best,
            t,
            "best candidate",
        )

    # End to end on the raw table, with a modality missing for half the test set
    from skmm.encoders import MFCCEncoder, PixelEncoder

    raw_stack = ModalityStackingClassifier(
        experts={
            "text": make_pipeline(
                TfidfVectorizer(ngram_range=(1, 2), min_df=2),
                LogisticRegression(C=1.0, max_iter=300),
            ),
            "image": make_pipeline(
                PixelEncoder(size=16, mode="L"),
                StandardScaler(),
                PCA(30, random_state=0),
                SVC(probability=True, random_state=0),
            ),
            "audio": make_pipeline(
                MFCCEncoder(sr=8000, n_mfcc=13, n_fft=256, hop_length=128),
                StandardScaler(),
                LogisticRegression(C=0.1, max_iter=300),
            ),
        },
        final_estimator=LogisticRegression(max_iter=1000),
        cv=5,
    )
    raw_stack, t = _timed_fit(raw_stack, X_train, y_train)
    X_gap = X_test.copy()
    X_gap.loc[np.random.RandomState(0).rand(len(X_gap)) < 0.5, "audio"] = None
    raw_net = make_pipeline(_digits_encoder(), clone(net)).fit(X_train, y_train)
    print("\nRaw digits table end to end (audio missing for half the test samples)")
    print(f"{'model':<52} {'complete':>9} {'gap':>7} {'fit':>7}")
    print("-" * 78)
    print(
        f"{'ModalityStacking(raw experts)':<52} "
        f"{raw_stack.score(X_test, y_test):>9.3f} "
        f"{raw_stack.score(X_gap, y_test):>7.3f} {t:>6.1f}s"
    )
    print(
        f"{'Pipeline(MultimodalEncoder, FusionClassifier gated)':<52} "
        f"{raw_net.score(X_test, y_test):>9.3f} {raw_net.score(X_gap, y_test):>7.3f}"
    )


def parallel_predict(n_samples=20000, rounds=5):
    """Prediction time of network ensembles, members in parallel or not."""
    import joblib

    from skmm.ensemble import SnapshotEnsembleClassifier
    from skmm.fusion import FusionClassifier

    X, y = make_multimodal_classification(
        n_samples=n_samples,
        n_classes=3,
        modalities={"text": 64, "image": 64, "audio": 32},
        random_state=0,
    )
    net = FusionClassifier(hidden_size=64, max_epochs=2, random_state=0)
    bag = ModalityBaggingClassifier(
        net, n_estimators=8, max_samples=500, max_modalities=2, random_state=0
    ).fit(X.iloc[:4000], y[:4000])
    snap = SnapshotEnsembleClassifier(
        net, n_snapshots=4, cycle_epochs=1, random_state=0
    ).fit(X.iloc[:1000], y[:1000])
    experts = {m: clone(net) for m in ("text", "image", "audio")}
    stack = ModalityStackingClassifier(experts=experts, cv=2).fit(
        X.iloc[:1000], y[:1000]
    )
    boost = MultimodalAdaBoostClassifier(
        experts=experts, n_estimators=4, random_state=0
    ).fit(X.iloc[:1000], y[:1000])

    def members_in_parallel(est, n_jobs):
        def run():
            est.set_params(n_jobs=n_jobs)
            return est.predict_proba(X)

        return run

    def bagging(n_jobs, backend=None):
        def run():
            bag.set_params(n_jobs=n_jobs)
            if backend is None:
                return bag.predict_proba(X)
            with joblib.parallel_config(backend=backend):
                return bag.predict_proba(X)

        return run

    def snapshots_each():  # what the ensemble did before: every member validates
        return np.mean([m.predict_proba(X) for m in snap.estimators_], axis=0)

    cases = {
        "bag1": bagging(1),
        "bag2": bagging(2),
        "bag2_loky": bagging(2, "loky"),
        "snap": lambda: snap.predict_proba(X),
        "snap_each": snapshots_each,
        "stack1": members_in_parallel(stack, 1),
        "stack2": members_in_parallel(stack, 2),
        "boost1": members_in_parallel(boost, 1),
        "boost2": members_in_parallel(boost, 2),
    }
    reference = cases["bag1"]()
    np.testing.assert_array_equal(cases["bag2"](), reference)
    for name in ("stack", "boost"):
        np.testing.assert_array_equal(cases[name + "2"](), cases[name + "1"]())
    np.testing.assert_allclose(cases["snap"](), cases["snap_each"](), rtol=1e-12)
    best = dict.fromkeys(cases, np.inf)
    for _ in range(rounds):  # interleaved: load changes hit every case alike
        for name, run in cases.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    print(
        f"\n4. Prediction of network ensembles, {n_samples} rows, "
        f"{os.cpu_count()} CPU cores, torch threads per process: 1 "
        f"(best of {rounds} interleaved rounds)"
    )
    print(
        f"  bagging of 8 FusionClassifier, n_jobs=1            "
        f"{best['bag1'] * 1e3:7.0f} ms"
    )
    print(
        f"  bagging, n_jobs=2 (threads, the default)           "
        f"{best['bag2'] * 1e3:7.0f} ms  speed-up {best['bag1'] / best['bag2']:.2f}x"
    )
    print(
        f"  bagging, n_jobs=2 with backend='loky' (processes)  "
        f"{best['bag2_loky'] * 1e3:7.0f} ms  speed-up "
        f"{best['bag1'] / best['bag2_loky']:.2f}x"
    )
    for name, label in [
        ("stack", "stacking of 3 FusionClassifier experts"),
        ("boost", "AdaBoost, 4 rounds of FusionClassifier experts"),
    ]:
        print(
            f"  {label + ', n_jobs=1':<51}{best[name + '1'] * 1e3:7.0f} ms\n"
            f"  {label + ', n_jobs=2':<51}{best[name + '2'] * 1e3:7.0f} ms  "
            f"speed-up {best[name + '1'] / best[name + '2']:.2f}x"
        )
    print(
        f"  snapshot ensemble (4), one validation              "
        f"{best['snap'] * 1e3:7.0f} ms  vs every snapshot validating: "
        f"{best['snap_each'] * 1e3:.0f} ms ({best['snap_each'] / best['snap']:.2f}x)"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the slow parts")
    parser.add_argument(
        "--predict",
        action="store_true",
        help="only part 4: prediction time of network ensembles, n_jobs=1 vs 2",
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass
    if not args.predict:
        synthetic()
        missing_modality(args.quick)
        digits(args.quick)
    parallel_predict(rounds=3 if args.quick else 5)


if __name__ == "__main__":
    main()
