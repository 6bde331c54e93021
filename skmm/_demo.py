"""``skmm demo``: unimodal vs. fused pipelines on the built-in digits data."""

import os
import time
import warnings

import numpy as np

__all__ = ["build_pipelines", "list_pipelines", "run_demo"]

SR = 8000  # sample rate of the built-in audio clips


def _encoders(modalities, *, kind):
    """The demo's encoders (one place, shared by every pipeline).

    ``kind="features"`` gives fixed features for linear models (TF-IDF, pixels,
    pooled MFCCs); ``kind="network"`` gives the inputs of trainable branches
    (token ids for a GRU, a pixel grid and a log-mel time x frequency grid for
    CNNs).
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    from skmm.compose import MultimodalEncoder
    from skmm.encoders import (
        MelSpectrogramEncoder,
        MFCCEncoder,
        PixelEncoder,
        TokenSequenceEncoder,
    )

    if kind == "features":
        table = {
            "text": TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2),
            "image": PixelEncoder(size=(16, 16), mode="L"),
            "audio": MFCCEncoder(
                sr=SR, n_mfcc=20, n_mels=40, n_fft=512, hop_length=256
            ),
        }
    else:
        table = {
            "text": TokenSequenceEncoder(max_length=24),
            "image": PixelEncoder(size=(16, 16), mode="L"),
            "audio": MelSpectrogramEncoder(
                sr=SR, n_mels=32, n_fft=512, hop_length=256, duration=1.0
            ),
        }
    return MultimodalEncoder([(m, table[m], m) for m in modalities])


BRANCHES = {"text": "gru", "image": "cnn", "audio": "cnn"}


def _linear(modalities, seed):
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(
        _encoders(modalities, kind="features"),
        SimpleImputer(add_indicator=True, keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(C=1.0, max_iter=3000, random_state=seed),
    )


def _fusion(modalities, fusion, seed, epochs):
    from sklearn.pipeline import make_pipeline

    from skmm.fusion import FusionClassifier

    return make_pipeline(
        _encoders(modalities, kind="network"),
        FusionClassifier(
            fusion=fusion,
            branches={m: BRANCHES[m] for m in modalities},
            hidden_size=32,
            modality_dropout=0.1 if len(modalities) > 1 else 0.0,
            max_epochs=epochs,
            batch_size=32,
            lr=3e-3,
            random_state=seed,
        ),
    )


def build_pipelines(*, quick=False, seed=0):
    """The demo's candidate pipelines.

    Parameters
    ----------
    quick : bool, default=False
        Fewer and smaller pipelines.
    seed : int, default=0
        ``random_state`` of every pipeline.

    Returns
    -------
    pipelines : list of (name, kind, description, estimator) tuples
        ``kind`` is ``"unimodal"``, ``"fused"`` or ``"ensemble"``.
    """
    epochs = 30
    all3 = ("text", "image", "audio")
    rows = [
        (
            "text: tfidf+logreg",
            "unimodal",
            "TF-IDF -> logistic regression",
            _linear(("text",), seed),
        ),
        (
            "text: gru",
            "unimodal",
            "token ids -> GRU",
            _fusion(("text",), "early", seed, epochs),
        ),
        (
            "image: cnn",
            "unimodal",
            "16x16 grey pixels -> CNN",
            _fusion(("image",), "early", seed, epochs),
        ),
        (
            "audio: mfcc+logreg",
            "unimodal",
            "MFCC mean/std -> logistic regression",
            _linear(("audio",), seed),
        ),
        (
            "audio: cnn",
            "unimodal",
            "log-mel grid -> CNN",
            _fusion(("audio",), "early", seed, epochs),
        ),
        (
            "concat + logreg",
            "fused",
            "all features concatenated -> logistic regression",
            _linear(all3, seed),
        ),
    ]
    if quick:
        rows = [r for r in rows if r[0] not in ("text: gru", "audio: cnn")]
    fusions = (
        ("early", "attention")
        if quick
        else (
            "early",
            "late",
            "tensor",
            "low_rank_tensor",
            "bilinear",
            "gated",
            "attention",
        )
    )
    for fusion in fusions:
        rows.append(
            (
                f"fusion: {fusion}",
                "fused",
                f"FusionClassifier(fusion={fusion!r}): GRU text, CNN image and audio",
                _fusion(all3, fusion, seed, epochs),
            )
        )
    rows.extend(_ensembles(quick=quick, seed=seed, epochs=epochs))
    return rows


def _ensembles(*, quick, seed, epochs):
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.tree import DecisionTreeClassifier

    from skmm import ensemble

    all3 = ("text", "image", "audio")
    experts = {m: _linear((m,), seed) for m in ("text", "audio")}
    experts["image"] = _fusion(("image",), "early", seed, epochs)
    rows = [
        (
            "stacking: experts",
            "ensemble",
            "per-modality experts -> logistic regression on their CV probabilities",
            ensemble.ModalityStackingClassifier(
                experts=experts,
                final_estimator=LogisticRegression(C=10.0, max_iter=3000),
                cv=3,
            ),
        )
    ]
    if quick:
        return rows
    rows += [
        (
            "bagging: gated nets",
            "ensemble",
            "4 gated fusion pipelines on bootstrap samples",
            ensemble.ModalityBaggingClassifier(
                _fusion(all3, "gated", seed, epochs), n_estimators=4, random_state=seed
            ),
        ),
        (
            "selection: library",
            "ensemble",
            "Caruana selection over late/gated fusion and concat + logreg",
            ensemble.EnsembleSelectionClassifier(
                [(f, _fusion(all3, f, seed, epochs)) for f in ("late", "gated")]
                + [("logreg", _linear(all3, seed))],
                ensemble_size=20,
                cv=2,
                random_state=seed,
            ),
        ),
        (
            "boosting: trees",
            "ensemble",
            "SAMME over depth-6 trees on the concatenated features",
            make_pipeline(
                _encoders(all3, kind="features"),
                SimpleImputer(add_indicator=True, keep_empty_features=True),
                ensemble.MultimodalAdaBoostClassifier(
                    DecisionTreeClassifier(max_depth=6, random_state=seed),
                    n_estimators=60,
                    random_state=seed,
                ),
            ),
        ),
    ]
    return rows


def list_pipelines(*, quick=False):
    """Names, kinds and descriptions of the demo pipelines."""
    return [(n, k, d) for n, k, d, _ in build_pipelines(quick=quick)]


def _table(results):
    width = max(22, *(len(r["name"]) for r in results))
    header = f"{'pipeline':<{width}} {'kind':<9} {'accuracy':>17} {'fit time':>9}"
    lines = [header, "-" * len(header)]
    for r in sorted(results, key=lambda r: -r["mean"]):
        acc = f"{r['mean']:.3f} +- {r['std']:.3f}"
        lines.append(
            f"{r['name']:<{width}} {r['kind']:<9} {acc:>17} {r['fit_time']:>8.1f}s"
        )
    return "\n".join(lines)


def _figure(results, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = sorted(results, key=lambda r: r["mean"])
    colors = {"unimodal": "#9aa5b1", "fused": "#2f6fba", "ensemble": "#d9822b"}
    fig, ax = plt.subplots(figsize=(7.5, 0.42 * len(results) + 1.4))
    ax.barh(
        [r["name"] for r in results],
        [r["mean"] for r in results],
        xerr=[r["std"] for r in results],
        color=[colors[r["kind"]] for r in results],
        capsize=3,
    )
    ax.axvline(0.1, color="k", ls=":", lw=1)
    ax.text(0.105, -0.6, "chance", fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("cross-validated accuracy")
    ax.set_title(title, fontsize=10)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colors.values()]
    ax.legend(handles, list(colors), loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_demo(
    *,
    quick=False,
    n_samples=None,
    cv=None,
    missing_rate=0.0,
    only=None,
    output="skmm_demo_output",
    n_jobs=1,
    seed=0,
    figure=True,
    progress=True,
):
    """Run the demo; returns the process exit code (0 on success)."""
    import joblib
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold, cross_validate
    from tqdm.auto import tqdm

    from skmm.datasets import make_multimodal_digits

    n_samples = n_samples or (300 if quick else 900)
    cv = cv or 3
    start = time.perf_counter()
    X, y = make_multimodal_digits(
        n_samples=n_samples, missing_rate=missing_rate, random_state=seed
    )
    pipelines = build_pipelines(quick=quick, seed=seed)
    if only:
        known = {p[0] for p in pipelines}
        unknown = [n for n in only if n not in known]
        if unknown:
            print(f"unknown pipeline(s) {unknown}; see `skmm demo --list`.")
            return 2
        pipelines = [p for p in pipelines if p[0] in only]
    print(
        f"skmm demo: {n_samples} samples x (text, image, audio), 10 classes, "
        f"{cv}-fold CV, {len(pipelines)} pipelines"
        + (f", missing rate {missing_rate:.0%}" if missing_rate else "")
    )
    folds = StratifiedKFold(cv, shuffle=True, random_state=seed)
    results = []
    bar = tqdm(pipelines, disable=not progress, unit="pipeline", leave=False)
    for name, kind, _, estimator in bar:
        bar.set_description(name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)
            scores = cross_validate(
                estimator, X, y, cv=folds, n_jobs=n_jobs, error_score="raise"
            )
        results.append(
            {
                "name": name,
                "kind": kind,
                "mean": float(np.mean(scores["test_score"])),
                "std": float(np.std(scores["test_score"])),
                "fit_time": float(np.mean(scores["fit_time"])),
                "estimator": estimator,
            }
        )
    bar.close()
    print()
    print(_table(results))

    best = max(results, key=lambda r: r["mean"])
    os.makedirs(output, exist_ok=True)
    model_path = os.path.join(output, "best_model.joblib")
    model = clone(best["estimator"]).fit(X, y)
    joblib.dump(model, model_path)
    reloaded = joblib.load(model_path)
    X_check, _ = make_multimodal_digits(
        n_samples=100, missing_rate=missing_rate, random_state=seed + 1
    )
    same = np.array_equal(model.predict(X_check), reloaded.predict(X_check))
    print(
        f"\nbest: {best['name']} ({best['mean']:.3f}); saved to {model_path}; "
        f"reloaded model predicts {'identically' if same else 'DIFFERENTLY'} on "
        f"{len(X_check)} new samples"
    )
    if figure:
        fig_path = os.path.join(output, "comparison.png")
        _figure(
            results,
            fig_path,
            f"skmm demo: {n_samples} digits, {cv}-fold CV",
        )
        print(f"figure: {fig_path}")
    print(f"total time {time.perf_counter() - start:.1f}s")
    return 0 if same else 1
