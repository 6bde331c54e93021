"""``skmm demo``: unimodal vs. fused pipelines on the built-in digits data.

Two sizes: the default run (300 samples, 3-fold CV, 8 pipelines: unimodal,
fused, a stacking ensemble and the recommended ensemble selection over a
library; about 90 s on 2 CPU cores) and ``full=True`` (900 samples, every
fusion type and four ensembles). Extra result panels
(alignment, robustness, ...) plug in through :data:`PANELS`.
"""

import contextlib
import os
import tempfile
import time
import warnings

import numpy as np
from skorch.callbacks import Callback

__all__ = ["PANELS", "build_pipelines", "list_pipelines", "run_demo"]

SR = 8000  # sample rate of the built-in audio clips

#: Extra panels run after the comparison, in order. Each is a callable
#: ``panel(context) -> str or None`` taking a dict with keys ``X``, ``y``,
#: ``results`` (one dict per pipeline: name, kind, mean, std, fit_time,
#: estimator), ``best``, ``output`` (the checked output folder), ``seed``,
#: ``full``, ``progress`` and ``write`` (``write(path, writer)`` writes a file
#: atomically: ``writer(tmp_path)`` fills a temporary file that is then renamed
#: to ``path``). The returned text, if any, is printed. A panel's ``files``
#: attribute names the files it writes (announced before the run); panels are
#: skipped with ``figure=False`` (``--no-figure``).
PANELS = []


def _robustness_panel(context):
    """Best fused vs best unimodal pipeline as one modality's noise rises.

    Both are refitted on two thirds of the data; the held-out third is
    corrupted (``skmm.robustness``) at rising severities, and each modality is
    removed in turn. Writes ``robustness.png``.
    """
    from sklearn.base import clone
    from sklearn.model_selection import train_test_split

    from skmm.robustness import ModalityCorruptor, plot_robustness_comparison

    ranked = rank(context["results"])
    picks = [
        next((r for r in ranked if r["kind"] == kind), None)
        for kind in ("fused", "unimodal")
    ]
    if None in picks:
        return None
    seed = context["seed"]
    X_train, X_test, y_train, y_test = train_test_split(
        context["X"],
        context["y"],
        test_size=1 / 3,
        stratify=context["y"],
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        models = {
            f"{r['kind']}: {r['name']}": clone(r["estimator"]).fit(X_train, y_train)
            for r in picks
        }
    corruptions = {
        "text typos": ModalityCorruptor("text", "typos", random_state=seed),
        "image noise": ModalityCorruptor("image", "gaussian_noise", random_state=seed),
        "audio noise": ModalityCorruptor(
            "audio", "white_noise", sr=SR, random_state=seed
        ),
    }
    path = os.path.join(context["output"], "robustness.png")
    out = {}

    def draw(tmp):
        import matplotlib.pyplot as plt

        fig, out["results"] = plot_robustness_comparison(
            models,
            X_test,
            y_test,
            corruptions,
            severities=(0.0, 0.5, 1.0),
            random_state=seed,
            path=tmp,
            title="Robustness: held-out third, one modality corrupted or missing",
        )
        plt.close(fig)

    context["write"](path, draw)
    results = out["results"]
    lines = [
        "robustness (held-out third; accuracy at full severity / modality missing):"
    ]
    for name in models:
        mine = results[results["estimator"] == name]
        worst = mine[mine["severity"] == 1.0].groupby("corruption")["score"].mean()
        lines.append(
            f"  {name:<36} " + ", ".join(f"{k} {v:.3f}" for k, v in worst.items())
        )
    lines.append(f"figure: {path}")
    return "\n".join(lines)


_robustness_panel.files = ("robustness.png",)


def _alignment_panel(context):
    """Cross-modal retrieval after label-free alignment (CCA vs contrastive).

    The built-in digits give each modality an independent clue, so no
    cross-modal retrieval can work there; the panel uses two views of the
    bundled 8x8 digits (top and bottom halves) instead. Writes
    ``alignment.png``.
    """
    from skmm.alignment import alignment_panel

    path = os.path.join(context["output"], "alignment.png")
    out = {}

    def draw(tmp):
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 3.6))
        _, out["curves"] = alignment_panel(ax=ax, random_state=context["seed"])
        fig.tight_layout()
        fig.savefig(tmp, dpi=120, format="png")
        plt.close(fig)

    context["write"](path, draw)
    recall = ", ".join(
        f"{name} {float(r[0]):.2f}" for name, (_, r) in out["curves"].items()
    )
    return (
        "alignment (two views of 8x8 digits, no labels used; held-out recall@1, "
        f"chance 0.10): {recall}\nfigure: {path}"
    )


_alignment_panel.files = ("alignment.png",)

PANELS.extend([_robustness_panel, _alignment_panel])

#: The two demo sizes: samples, CV folds, fusion epochs.
SIZES = {"default": (300, 3, 30), "full": (900, 3, 30)}


def _encoders(modalities, *, kind, cache=None):
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
    return MultimodalEncoder([(m, table[m], m) for m in modalities], cache=cache)


BRANCHES = {"text": "gru", "image": "cnn", "audio": "cnn"}


def _linear(modalities, seed, cache=None):
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(
        _encoders(modalities, kind="features", cache=cache),
        SimpleImputer(add_indicator=True, keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(C=1.0, max_iter=3000, random_state=seed),
    )


class _EpochProgress(Callback):
    """skorch callback reporting epochs to the demo's progress bar (if any)."""

    def on_train_begin(self, net, **kwargs):
        _Progress.epoch(0, net.max_epochs)

    def on_epoch_end(self, net, **kwargs):
        _Progress.epoch(len(net.history), net.max_epochs)


class _Progress:
    """Epochs of the fits running now, shown as the fold bar's postfix.

    In the demo's process ``bar`` is the fold bar. In a worker process (folds
    run in parallel) ``queue`` is a manager queue: the worker's fit of fold
    ``fold`` sends ``(fold, done, total)`` and a thread of the demo's process
    (:func:`_relay_epochs`) shows every running fold's epoch on the bar.
    """

    bar = None
    queue = None
    fold = 0

    @classmethod
    def epoch(cls, done, total):
        if cls.bar is not None:
            cls.bar.set_postfix_str(f"epoch {done}/{total}", refresh=True)
        elif cls.queue is not None:
            with contextlib.suppress(Exception):  # progress must never fail a fit
                cls.queue.put_nowait((cls.fold, done, total))


def _relay_epochs(queue, bar):
    """Show the epochs sent by worker processes on ``bar`` until ``None``."""
    running = {}
    while (item := queue.get()) is not None:
        fold, done, total = item
        running[fold] = f"fold {fold + 1} epoch {done}/{total}"
        if done >= total:
            running.pop(fold)
        bar.set_postfix_str(", ".join(running[k] for k in sorted(running)))


def _fusion(modalities, fusion, seed, epochs, cache=None):
    from sklearn.pipeline import make_pipeline

    from skmm.fusion import FusionClassifier

    return make_pipeline(
        _encoders(modalities, kind="network", cache=cache),
        FusionClassifier(
            fusion=fusion,
            branches={m: BRANCHES[m] for m in modalities},
            hidden_size=32,
            modality_dropout=0.1 if len(modalities) > 1 else 0.0,
            max_epochs=epochs,
            batch_size=32,
            lr=3e-3,
            random_state=seed,
            callbacks=[("demo_progress", _EpochProgress())],
        ),
    )


def build_pipelines(*, full=False, seed=0, cache=None, quick=None):
    """The demo's candidate pipelines.

    Parameters
    ----------
    full : bool, default=False
        Every fusion type and four ensembles (the full comparison) instead of
        the default selection.
    seed : int, default=0
        ``random_state`` of every pipeline.
    cache : None, str or joblib.Memory, default=None
        Encoding cache of every :class:`~skmm.compose.MultimodalEncoder`.
    quick : None
        Deprecated alias kept for compatibility: ``quick=True`` is the default
        selection.

    Returns
    -------
    pipelines : list of (name, kind, description, estimator) tuples
        ``kind`` is ``"unimodal"``, ``"fused"`` or ``"ensemble"``.

    Examples
    --------
    >>> from skmm._demo import build_pipelines
    >>> sorted({kind for _, kind, _, _ in build_pipelines()})
    ['ensemble', 'fused', 'unimodal']
    """
    epochs = SIZES["full" if full else "default"][2]
    all3 = ("text", "image", "audio")
    rows = [
        (
            "text: tfidf+logreg",
            "unimodal",
            "TF-IDF -> logistic regression",
            _linear(("text",), seed, cache),
        ),
        (
            "text: gru",
            "unimodal",
            "token ids -> GRU",
            _fusion(("text",), "early", seed, epochs, cache),
        ),
        (
            "image: pixels+logreg",
            "unimodal",
            "16x16 grey pixels -> logistic regression",
            _linear(("image",), seed, cache),
        ),
        (
            "image: cnn",
            "unimodal",
            "16x16 grey pixels -> CNN",
            _fusion(("image",), "early", seed, epochs, cache),
        ),
        (
            "audio: mfcc+logreg",
            "unimodal",
            "MFCC mean/std -> logistic regression",
            _linear(("audio",), seed, cache),
        ),
        (
            "audio: cnn",
            "unimodal",
            "log-mel grid -> CNN",
            _fusion(("audio",), "early", seed, epochs, cache),
        ),
        (
            "concat + logreg",
            "fused",
            "all features concatenated -> logistic regression",
            _linear(all3, seed, cache),
        ),
    ]
    if not full:
        # the default run keeps one cheap model per modality
        rows = [
            r for r in rows if r[0] not in ("text: gru", "image: cnn", "audio: cnn")
        ]
    fusions = ("early", "attention")
    if full:
        fusions = ("early", "late", "tensor", "low_rank_tensor", "bilinear")
        fusions += ("gated", "attention")
    for fusion in fusions:
        rows.append(
            (
                f"fusion: {fusion}",
                "fused",
                f"FusionClassifier(fusion={fusion!r}): GRU text, CNN image and audio",
                _fusion(all3, fusion, seed, epochs, cache),
            )
        )
    rows.extend(_ensembles(full=full, seed=seed, epochs=epochs, cache=cache))
    return rows


def _ensembles(*, full, seed, epochs, cache):
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.tree import DecisionTreeClassifier

    from skmm import ensemble

    all3 = ("text", "image", "audio")
    # The recommended ensemble: Caruana selection over a diverse library of
    # networks, per-modality experts and classical models, on features
    # encoded once in front of it, weighted on out-of-fold predictions.
    # The default run swaps the fast preset's gradient boosting (about 12 CPU
    # seconds per fit on the 646 encoded features x 10 classes) for a random
    # forest (about 1 s).
    preset = "diverse" if full else "fast"
    classical = None if full else ("logreg", "random_forest")
    library = ensemble.make_library(
        preset,
        modalities=list(all3),
        classical=classical,
        network_params={"hidden_size": 32, "max_epochs": epochs, "lr": 3e-3},
        random_state=seed,
    )
    for _, member in library:  # the networks report their epochs too
        if "callbacks" in member.get_params(deep=False):
            member.set_params(callbacks=[("demo_progress", _EpochProgress())])
    rows = [
        (
            "selection: library",
            "ensemble",
            f"Caruana selection over make_library({preset!r}"
            + ("" if full else ", classical=['logreg', 'random_forest']")
            + "): fusion networks, per-modality experts, classical models",
            make_pipeline(
                _encoders(all3, kind="features", cache=cache),
                ensemble.EnsembleSelectionClassifier(
                    library, ensemble_size=20, cv=3, random_state=seed
                ),
            ),
        )
    ]
    experts = {m: _linear((m,), seed, cache) for m in ("text", "audio")}
    experts["image"] = _fusion(("image",), "early", seed, epochs, cache)
    rows += [
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
    if not full:
        return rows
    rows += [
        (
            "bagging: gated nets",
            "ensemble",
            "4 gated fusion pipelines on bootstrap samples",
            ensemble.ModalityBaggingClassifier(
                _fusion(all3, "gated", seed, epochs, cache),
                n_estimators=4,
                random_state=seed,
            ),
        ),
        (
            "boosting: trees",
            "ensemble",
            "SAMME over depth-6 trees on the concatenated features",
            make_pipeline(
                _encoders(all3, kind="features", cache=cache),
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


def list_pipelines(*, full=False, quick=None):
    """Names, kinds and descriptions of the demo pipelines."""
    return [(n, k, d) for n, k, d, _ in build_pipelines(full=full)]


def rank(results):
    """Results best first: mean accuracy, then lower std, then name.

    The table, the figure and the "best" pipeline all use this one order, so
    they agree on ties.

    Examples
    --------
    >>> from skmm._demo import rank
    >>> rows = [{"name": "b", "mean": 0.9, "std": 0.01},
    ...         {"name": "a", "mean": 0.9, "std": 0.01},
    ...         {"name": "c", "mean": 0.9, "std": 0.0}]
    >>> [r["name"] for r in rank(rows)]
    ['c', 'a', 'b']
    """
    return sorted(results, key=lambda r: (-r["mean"], r["std"], r["name"]))


def _table(results):
    width = max(22, *(len(r["name"]) for r in results))
    header = f"{'pipeline':<{width}} {'kind':<9} {'accuracy':>17} {'fit time':>9}"
    lines = [header, "-" * len(header)]
    for r in rank(results):
        acc = f"{r['mean']:.3f} +- {r['std']:.3f}"
        lines.append(
            f"{r['name']:<{width}} {r['kind']:<9} {acc:>17} {r['fit_time']:>8.1f}s"
        )
    return "\n".join(lines)


def _figure(results, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = rank(results)[::-1]  # barh draws bottom-up: best on top
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
    fig.savefig(path, dpi=120, format="png")
    plt.close(fig)


# -- output folder -------------------------------------------------------------------
class OutputError(Exception):
    """The output folder cannot be used (raised before any long computation)."""


def prepare_output(folder, names):
    """Create and check the output folder; returns the paths that will be replaced.

    The folder is created if needed and must be a writable directory with some
    free space (a probe file is written and removed). Nothing is written to the
    final paths here.

    Parameters
    ----------
    folder : str or path-like
    names : list of str
        File names the demo will write in ``folder``.

    Returns
    -------
    existing : list of str
        The paths among ``names`` that exist already (they will be replaced);
        a symbolic link is reported as such and is replaced itself, never
        followed.

    Examples
    --------
    >>> import tempfile
    >>> from skmm._demo import prepare_output
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     prepare_output(tmp, ["model.joblib"])
    []
    """
    folder = os.fspath(folder)
    if os.path.lexists(folder) and not os.path.isdir(folder):
        raise OutputError(f"the output path {folder!r} is not a folder.")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder {folder!r}: {exc}") from exc
    if not os.path.isdir(folder):
        raise OutputError(f"the output path {folder!r} is not a folder.")
    try:
        fd, probe = tempfile.mkstemp(prefix=".skmm-probe-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(b"\0" * (1 << 20))  # 1 MiB: a full disk fails here
                f.flush()
                os.fsync(f.fileno())
        finally:
            os.unlink(probe)
    except OSError as exc:
        raise OutputError(
            f"cannot write to the output folder {folder!r}: {exc}"
        ) from exc
    existing = []
    for name in names:
        path = os.path.join(folder, name)
        if os.path.islink(path):
            existing.append(f"{path} (a symbolic link; the link is replaced)")
        elif os.path.lexists(path):
            if os.path.isdir(path):
                raise OutputError(
                    f"{path!r} is a folder; the demo needs to write a file there."
                )
            existing.append(path)
    return existing


def write_atomic(path, writer):
    """Write ``path`` through a temporary file in its folder, then rename it.

    ``writer(tmp_path)`` writes the content. A failure leaves the previous file
    (if any) untouched and no partial file behind. A symbolic link at ``path`` is
    replaced, never followed.

    Examples
    --------
    >>> import os, tempfile
    >>> from skmm._demo import write_atomic
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "a.txt")
    ...     write_atomic(path, lambda p: open(p, "w").write("hi"))
    ...     open(path).read()
    'hi'
    """
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(
        prefix=".tmp-", suffix=os.path.basename(path), dir=folder
    )
    os.close(fd)
    try:
        writer(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _cross_validate(estimator, X, y, folds, *, n_jobs, bar, queue=None):
    """Fit and score ``estimator`` on each fold, updating ``bar`` per fold.

    ``queue`` (a manager queue, when the folds run in worker processes)
    carries the epochs of the workers' fits to ``bar``.
    """
    import threading

    from joblib import Parallel, delayed
    from sklearn.base import clone

    splits = list(folds.split(X, y))
    jobs = (
        delayed(_fit_and_score)(clone(estimator), X, y, train, test, k, queue)
        for k, (train, test) in enumerate(splits)
    )
    relay = None
    if queue is not None and bar is not None:
        relay = threading.Thread(target=_relay_epochs, args=(queue, bar), daemon=True)
        relay.start()
    scores, times, members = [], [], []
    try:
        with warnings.catch_warnings():
            # loky replaces a worker whose memory grew (torch's allocator keeps
            # what a fit used); the restart is harmless and the results identical
            warnings.filterwarnings(
                "ignore",
                message="A worker stopped while some jobs",
                category=UserWarning,
            )
            for score, seconds, member_scores in Parallel(
                n_jobs=n_jobs, return_as="generator"
            )(jobs):
                scores.append(score)
                times.append(seconds)
                members.append(member_scores)
                if bar is not None:
                    bar.update(1)
    finally:
        if relay is not None:  # also when a fold failed: stop the relay thread
            queue.put(None)
            relay.join()
    return np.asarray(scores), np.asarray(times), _mean_member_scores(members)


def _fit_and_score(estimator, X, y, train, test, fold=0, queue=None):
    if queue is not None:
        _Progress.queue, _Progress.fold = queue, fold
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        start = time.perf_counter()
        estimator.fit(X.iloc[train], y[train])
        seconds = time.perf_counter() - start
        score = float(estimator.score(X.iloc[test], y[test]))
        members = _member_scores(
            estimator, X.iloc[train], y[train], X.iloc[test], y[test]
        )
        return score, seconds, members


def _member_scores(estimator, X_train, y_train, X_test, y_test):
    """Test accuracy of each member of a fitted ensemble (None for others).

    The members are scored as the ensemble feeds them
    (:func:`~skmm.ensemble.ensemble_diversity`: an expert on its modality,
    abstaining where it is missing). Candidates an ensemble selection left
    out are fitted here on the same training fold, so that "best member"
    means the best of the whole library.
    """
    from sklearn.base import clone
    from sklearn.pipeline import Pipeline

    from skmm.ensemble import EnsembleSelectionClassifier, ensemble_diversity

    final = estimator[-1] if isinstance(estimator, Pipeline) else estimator
    if not hasattr(final, "estimators_"):
        return None
    if isinstance(estimator, Pipeline):
        X_train = estimator[:-1].transform(X_train)
        X_test = estimator[:-1].transform(X_test)
    div = ensemble_diversity(final, X_test, y_test)
    scores = dict(zip(div.names, map(float, div.accuracy)))
    if isinstance(final, EnsembleSelectionClassifier):
        for name, candidate in final.estimators:
            if name not in scores and not (
                isinstance(candidate, str) and candidate == "drop"
            ):
                fitted = clone(candidate).fit(X_train, y_train)
                scores[name] = float(fitted.score(X_test, y_test))
    return scores


def _mean_member_scores(per_fold):
    """Mean member accuracy over the folds (None if not an ensemble)."""
    if not per_fold or per_fold[0] is None:
        return None
    return {name: float(np.mean([f[name] for f in per_fold])) for name in per_fold[0]}


def _gains(results):
    """Lines comparing each ensemble with its best member on the same folds."""
    lines = []
    for r in rank(results):
        members = r.get("members")
        if not members:
            continue
        best = max(members, key=lambda name: (members[name], name))
        lines.append(
            f"  {r['name']:<22} {r['mean']:.3f} vs best member {best} "
            f"{members[best]:.3f} ({r['mean'] - members[best]:+.3f})"
        )
    if lines:
        lines.insert(0, "ensembles vs their best member (same folds, test accuracy):")
    return "\n".join(lines)


def _cpu_seconds():
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_demo(
    *,
    full=False,
    quick=None,
    n_samples=None,
    cv=None,
    missing_rate=0.0,
    only=None,
    output="skmm_demo_output",
    n_jobs=None,
    seed=0,
    figure=True,
    progress=True,
    cache=True,
):
    """Run the demo; returns the process exit code (0 on success).

    ``quick`` is a deprecated alias (the default run is the quick one);
    ``cache=True`` keeps an encoding cache in ``output/encoding_cache`` so that
    repeated runs encode nothing twice (``False``: no cache). ``n_jobs=None``
    runs the CV folds in parallel, one process per core up to the number of
    folds (one torch thread each); ``n_jobs=1`` runs them in this process.
    Either way the progress bar shows the epochs of the fits that are running.
    """
    with contextlib.ExitStack() as stack:
        return _run_demo(
            stack,
            full=full,
            n_samples=n_samples,
            cv=cv,
            missing_rate=missing_rate,
            only=only,
            output=output,
            n_jobs=n_jobs,
            seed=seed,
            figure=figure,
            progress=progress,
            cache=cache,
        )


def _run_demo(
    stack,
    *,
    full,
    n_samples,
    cv,
    missing_rate,
    only,
    output,
    n_jobs,
    seed,
    figure,
    progress,
    cache,
):
    import joblib
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold
    from tqdm.auto import tqdm

    from skmm.datasets import make_multimodal_digits

    start, cpu_start = time.perf_counter(), _cpu_seconds()
    size = SIZES["full" if full else "default"]
    n_samples = n_samples or size[0]
    cv = cv or size[1]
    if n_jobs is None:
        n_jobs = max(1, min(cv, os.cpu_count() or 1))
    panels = PANELS if figure else []
    names = ["best_model.joblib"] + (["comparison.png"] if figure else [])
    names += [name for panel in panels for name in getattr(panel, "files", ())]
    try:
        existing = prepare_output(output, names)
    except OutputError as exc:
        print(f"skmm demo: {exc}")
        return 2
    cache_dir = os.path.join(output, "encoding_cache") if cache else None
    pipelines = build_pipelines(full=full, seed=seed, cache=cache_dir)
    if only:
        known = {p[0] for p in pipelines}
        unknown = [n for n in only if n not in known]
        if unknown:
            print(
                f"unknown pipeline(s) {unknown}; see `skmm demo --list`"
                + ("" if full else " (and `skmm demo --full --list`)")
                + "."
            )
            return 2
        pipelines = [p for p in pipelines if p[0] in only]
    X, y = make_multimodal_digits(
        n_samples=n_samples, missing_rate=missing_rate, random_state=seed
    )
    print(
        f"skmm demo{' --full' if full else ''}: {n_samples} samples x (text, image, "
        f"audio), 10 classes, {cv}-fold CV, {len(pipelines)} pipelines"
        + (f", missing rate {missing_rate:.0%}" if missing_rate else "")
    )
    if existing:
        print("will replace: " + "; ".join(existing))
    folds = StratifiedKFold(cv, shuffle=True, random_state=seed)
    queue = None
    if progress and n_jobs != 1:
        # worker processes report their fits' epochs through a manager queue
        import multiprocessing

        manager = stack.enter_context(multiprocessing.Manager())
        queue = manager.Queue()
    results = []
    outer = tqdm(
        total=len(pipelines), disable=not progress, unit="pipeline", position=0
    )
    for name, kind, _, estimator in pipelines:
        outer.set_description(name)
        bar = tqdm(total=cv, disable=not progress, unit="fold", leave=False, position=1)
        _Progress.bar = bar if n_jobs == 1 and progress else None
        try:
            scores, times, members = _cross_validate(
                estimator, X, y, folds, n_jobs=n_jobs, bar=bar, queue=queue
            )
        finally:
            _Progress.bar = None
            bar.close()
        outer.update(1)
        results.append(
            {
                "name": name,
                "kind": kind,
                "mean": float(np.mean(scores)),
                "std": float(np.std(scores)),
                "fit_time": float(np.mean(times)),
                "members": members,
                "estimator": estimator,
            }
        )
    outer.close()
    print()
    print(_table(results))
    gains = _gains(results)
    if gains:
        print()
        print(gains)

    best = rank(results)[0]
    model_path = os.path.join(output, "best_model.joblib")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        model = clone(best["estimator"]).fit(X, y)
    write_atomic(model_path, lambda tmp: joblib.dump(model, tmp))
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
        title = f"skmm demo: {n_samples} digits, {cv}-fold CV"
        write_atomic(fig_path, lambda tmp: _figure(results, tmp, title))
        print(f"figure: {fig_path}")
    context = {
        "X": X,
        "y": y,
        "results": results,
        "best": best,
        "output": output,
        "seed": seed,
        "full": full,
        "progress": progress,
        "write": write_atomic,
    }
    for panel in panels:
        text = panel(context)
        if text:
            print(text)
    if n_jobs != 1:
        # Stop the fold workers so that their CPU time is counted (a process's
        # children count once they have exited).
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor().shutdown(wait=True)
    print(
        f"total time {time.perf_counter() - start:.1f} s "
        f"(CPU {_cpu_seconds() - cpu_start:.1f} s, all processes)"
    )
    return 0 if same else 1
