"""Robustness curves, the MultiBench robustness numbers and modality importance."""

import numbers

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import check_scoring
from sklearn.utils import Bunch, check_random_state

from skmm.robustness._corruptions import (
    _layout,
    _resolve,
    _set_column,
    as_table,
    corrupt_modalities,
    get_column,
    is_encoded,
)

__all__ = [
    "effective_robustness",
    "modality_importance",
    "relative_robustness",
    "robustness_curve",
    "robustness_summary",
]

#: Default severity grid: 11 levels, 0 (clean) to 1 (full severity).
DEFAULT_SEVERITIES = tuple(np.round(np.linspace(0.0, 1.0, 11), 2))


def _check_n_repeats(n_repeats):
    if (
        not isinstance(n_repeats, numbers.Integral)
        or isinstance(n_repeats, bool)
        or n_repeats < 1
    ):
        raise ValueError(f"n_repeats must be a positive int; got {n_repeats!r}.")
    return int(n_repeats)


def _check_severities(severities):
    if severities is None:
        return np.asarray(DEFAULT_SEVERITIES)
    values = np.asarray(severities, dtype=float).ravel()
    if values.size == 0 or not np.all((values >= 0) & (values <= 1)):
        raise ValueError(
            f"severities must be a non-empty sequence of numbers in [0, 1]; got "
            f"{severities!r}."
        )
    return values


def _corruption_name(corruption):
    params = getattr(corruption, "get_params", None)
    if params is not None:
        p = params(deep=False)
        if "column" in p and "corruption" in p:
            return f"{p['column']}: {p['corruption']}"
        if "corruption" in p:
            return str(p["corruption"])
        return type(corruption).__name__
    return getattr(corruption, "__name__", repr(corruption))


def _apply(corruption, X, severity, seed):
    if hasattr(corruption, "transform") and hasattr(corruption, "set_params"):
        est = clone(corruption).set_params(severity=severity, random_state=seed)
        return est.transform(X)
    if callable(corruption):
        return corruption(X, severity, seed)
    raise TypeError(
        "corruption must be a transformer with 'severity' and 'random_state' "
        "parameters (e.g. skmm.robustness.ModalityCorruptor), a callable "
        f"f(X, severity, random_state) or a dict of those; got {corruption!r}."
    )


def _is_identity_at_zero(corruption):
    """skmm's corruptors return X unchanged at severity 0."""
    return type(corruption).__module__.startswith("skmm.robustness")


def robustness_curve(
    estimator,
    X,
    y,
    corruption,
    severities=None,
    *,
    scoring=None,
    n_repeats=5,
    random_state=None,
):
    """Score a fitted estimator on data corrupted at increasing severities.

    Parameters
    ----------
    estimator : estimator instance
        A fitted estimator (typically a Pipeline from the raw table).
    X : DataFrame, dict of columns, 2-D array or numeric matrix
        Test data, as the estimator takes it.
    y : array-like of shape (n_samples,)
        Test targets.
    corruption : transformer, callable or dict
        What to apply: a transformer with ``severity`` and ``random_state``
        parameters (:class:`~skmm.robustness.ModalityCorruptor`), a callable
        ``f(X, severity, random_state) -> X``, or a dict ``{name: corruption}``
        to measure several corruptions at once.
    severities : sequence of float in [0, 1], default=None
        Severity levels; by default 11 levels from 0 to 1 in steps of 0.1.
    scoring : str, callable or None, default=None
        As in :func:`sklearn.model_selection.cross_val_score`; None uses the
        estimator's ``score``.
    n_repeats : int, default=5
        Corruption draws per severity. Repeat ``r`` uses the same seed at every
        severity (common random numbers: the curves are smoother).
    random_state : int, RandomState instance or None, default=None
        Seeds of the repeats.

    Returns
    -------
    results : DataFrame
        One row per corruption, severity and repeat, with columns
        ``corruption``, ``severity``, ``repeat`` and ``score``.

    See Also
    --------
    robustness_summary : Relative and effective robustness of the curves.
    RobustnessDisplay : Plot the curves.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.dummy import DummyClassifier
    >>> from skmm.robustness import ModalityCorruptor, robustness_curve
    >>> X, y = np.zeros((4, 2)), np.array([0, 0, 0, 1])
    >>> clf = DummyClassifier().fit(X, y)
    >>> corruption = ModalityCorruptor("features", "missing")
    >>> robustness_curve(clf, X, y, corruption, [0, 1], n_repeats=1)
                 corruption  severity  repeat  score
    0  features: missing       0.0       0   0.75
    1  features: missing       1.0       0   0.75
    """
    severities = _check_severities(severities)
    n_repeats = _check_n_repeats(n_repeats)
    corruptions = (
        dict(corruption)
        if isinstance(corruption, dict)
        else {_corruption_name(corruption): corruption}
    )
    scorer = check_scoring(estimator, scoring=scoring)
    seeds = check_random_state(random_state).randint(
        np.iinfo(np.int32).max, size=n_repeats
    )
    clean = None
    rows = []
    for name, corr in corruptions.items():
        for severity in severities:
            for r, seed in enumerate(seeds):
                if severity == 0 and _is_identity_at_zero(corr):
                    if clean is None:
                        clean = float(scorer(estimator, X, y))
                    score = clean
                else:
                    Xc = _apply(corr, X, float(severity), int(seed))
                    score = float(scorer(estimator, Xc, y))
                rows.append((name, float(severity), r, score))
    return pd.DataFrame(rows, columns=["corruption", "severity", "repeat", "score"])


def _curve(severities, scores):
    s = np.asarray(severities, dtype=float).ravel()
    f = np.asarray(scores, dtype=float).ravel()
    if s.shape != f.shape or s.size < 2:
        raise ValueError(
            "severities and scores must have the same length, at least 2; got "
            f"{s.size} and {f.size}."
        )
    order = np.argsort(s, kind="stable")
    return s[order], f[order]


def relative_robustness(severities, scores):
    """Relative robustness: the area under the score-vs-severity curve.

    MultiBench's relative robustness (Liang et al., 2021): the area under the
    curve of performance against the level of imperfection, by the trapezoid
    rule. Over severities spanning [0, 1] it is the score averaged over
    severity (higher is more robust).

    Parameters
    ----------
    severities : array-like of shape (n_levels,)
        Severity levels, at least 2 (sorted before integrating).
    scores : array-like of shape (n_levels,)
        Score at each severity (e.g. the mean over repeats).

    Returns
    -------
    area : float
        The trapezoid-rule area under ``scores`` against ``severities``.

    References
    ----------
    .. [1] P. P. Liang, Y. Lyu, X. Fan, Z. Wu, Y. Cheng, J. Wu, L. Chen, P. Wu,
       M. A. Lee, Y. Zhu, R. Salakhutdinov, L.-P. Morency. "MultiBench:
       Multiscale Benchmarks for Multimodal Representation Learning". NeurIPS
       2021, Datasets and Benchmarks track.

    Examples
    --------
    >>> from skmm.robustness import relative_robustness
    >>> relative_robustness([0, 0.5, 1], [0.9, 0.7, 0.3])
    0.65
    """
    s, f = _curve(severities, scores)
    return float(np.trapezoid(f, s))


def effective_robustness(severities, scores, reference_scores):
    """Effective robustness: the score drop relative to a reference model's.

    MultiBench's effective robustness (Liang et al., 2021, after Taori et al.,
    2020): the reference curve is shifted to start at the model's clean score,
    ``beta(s) = ref(s) + f(0) - ref(0)``, and the difference ``f(s) - beta(s)``
    is accumulated over severity. MultiBench sums it over its ten equally
    spaced levels with late fusion as the reference; skmm integrates it with
    the trapezoid rule (score units, independent of the number of levels).
    Positive: the model degrades more slowly than the reference.

    Parameters
    ----------
    severities : array-like of shape (n_levels,)
        Must start at the clean level (the smallest severity is the reference
        point, normally 0).
    scores : array-like of shape (n_levels,)
        The model's score at each severity (e.g. the mean over repeats).
    reference_scores : array-like of shape (n_levels,)
        The reference model's scores at the same severities.

    Returns
    -------
    effective : float
        The trapezoid-rule integral of ``f(s) - beta(s)`` over severity (in
        score units); positive when the model degrades more slowly than the
        reference.

    Examples
    --------
    >>> from skmm.robustness import effective_robustness
    >>> effective_robustness([0, 0.5, 1], [0.9, 0.8, 0.7], [0.8, 0.6, 0.4])
    0.1
    """
    s, f = _curve(severities, scores)
    _, ref = _curve(severities, reference_scores)
    beta = ref + (f[0] - ref[0])
    return float(np.round(np.trapezoid(f - beta, s), 12))


def robustness_summary(results, reference=None):
    """Clean score, worst score, relative and effective robustness of curves.

    Parameters
    ----------
    results : DataFrame
        Output of :func:`robustness_curve` (several estimators may be stacked
        with an ``estimator`` column).
    reference : str, default=None
        Value of the ``estimator`` column used as the reference of the
        effective robustness (MultiBench uses late fusion). None: no effective
        robustness column.

    Returns
    -------
    summary : DataFrame
        One row per (estimator,) corruption: ``clean_score`` (severity 0),
        ``worst_score`` (highest severity), ``relative_robustness`` and, with a
        reference, ``effective_robustness``.

    Examples
    --------
    >>> import pandas as pd
    >>> from skmm.robustness import robustness_summary
    >>> results = pd.DataFrame(
    ...     {
    ...         "estimator": ["a", "a", "b", "b"],
    ...         "corruption": "noise",
    ...         "severity": [0.0, 1.0, 0.0, 1.0],
    ...         "score": [0.9, 0.7, 0.8, 0.4],
    ...     }
    ... )
    >>> summary = robustness_summary(results, reference="b")
    >>> summary[["estimator", "effective_robustness"]]
      estimator  effective_robustness
    0         a                   0.1
    1         b                   0.0
    """
    keys = [k for k in ("estimator", "corruption") if k in results.columns]
    mean = results.groupby([*keys, "severity"], sort=True)["score"].mean().reset_index()
    rows = []
    for key, group in mean.groupby(keys, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        s, f = group["severity"].to_numpy(), group["score"].to_numpy()
        row = dict(zip(keys, key))
        row.update(
            clean_score=float(f[0]),
            worst_score=float(f[-1]),
            relative_robustness=relative_robustness(s, f)
            if s.size > 1
            else float("nan"),
        )
        if reference is not None:
            if "estimator" not in keys:
                raise ValueError("reference needs an 'estimator' column in results.")
            ref = mean[(mean["estimator"] == reference)]
            if "corruption" in keys:
                ref = ref[ref["corruption"] == row["corruption"]]
            if ref.empty:
                raise ValueError(f"No curve of reference estimator {reference!r}.")
            row["effective_robustness"] = effective_robustness(
                s, f, ref.set_index("severity").loc[s, "score"].to_numpy()
            )
        rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------
# modality importance
# ------------------------------------------------------------------------------
def _permute(X, keys, rng):
    """Copy of X with the rows of one modality's columns shuffled together."""
    perm = rng.permutation(X.shape[0])
    if is_encoded(X):
        out = X.copy()
        if isinstance(out, pd.DataFrame):
            cols = out.columns[keys]
            out[cols] = out[cols].to_numpy()[perm]
        else:
            out[:, keys] = X[perm][:, keys]
        return out
    table = as_table(X)
    table = (
        table.astype(object).copy()
        if isinstance(table, pd.DataFrame)
        else (table.astype(object, copy=True))
    )
    for key in keys:
        cells = get_column(table, key)
        _set_column(table, key, [cells[i] for i in perm])
    return table


def modality_importance(
    estimator,
    X,
    y,
    *,
    method="drop",
    modalities=None,
    n_repeats=5,
    scoring=None,
    random_state=None,
):
    """Importance of each modality: the score lost without it.

    The per-modality counterpart of
    :func:`sklearn.inspection.permutation_importance`: each modality in turn
    is removed (``method="drop"``: every cell missing, an all-NaN block on an
    encoded matrix) or its rows are shuffled across samples
    (``method="permute"``: the pairing with the other modalities and the
    target is broken, the modality's marginal distribution kept), and the
    importance is the drop of the score.

    Parameters
    ----------
    estimator : estimator instance
        A fitted estimator that takes ``X``: a Pipeline on the raw table, or a
        model on an encoded matrix. With ``method="drop"`` it must accept
        missing modalities (skmm's encoders, fusion networks and ensembles do).
    X : DataFrame, dict of columns, 2-D array or numeric matrix
        A raw table (each column a modality, or ``modalities``), or an encoded
        matrix whose blocks :func:`skmm.utils.resolve_modalities` resolves from
        ``"{modality}__"`` feature names (of ``X`` or of the estimator's
        ``feature_names_in_``) or from ``modalities``.
    y : array-like of shape (n_samples,)
        Targets the estimator is scored against.
    method : {"drop", "permute"}, default="drop"
        How a modality is removed: made missing, or shuffled across samples.
    modalities : dict, default=None
        Explicit layout ``{modality: columns}``.
    n_repeats : int, default=5
        Shuffles per modality (``"drop"`` is deterministic and is scored once;
        its repeats are equal).
    scoring : str, callable or None, default=None
        None uses the estimator's ``score``.
    random_state : int, RandomState instance or None, default=None
        Seed of the shuffles.

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        ``importances_mean``, ``importances_std`` (shape ``(n_modalities,)``),
        ``importances`` (shape ``(n_modalities, n_repeats)``), ``modalities``
        (names, same order) and ``baseline_score``.

    See Also
    --------
    sklearn.inspection.permutation_importance : The same per feature.
    ModalityImportanceDisplay : Bar plot of the result.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skmm.robustness import modality_importance
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 4))
    >>> y = (X[:, 0] > 0).astype(int)  # only the first block matters
    >>> clf = LogisticRegression().fit(X, y)
    >>> result = modality_importance(
    ...     clf, X, y, method="permute", modalities={"a": [0, 1], "b": [2, 3]},
    ...     random_state=0,
    ... )
    >>> result.modalities.tolist(), bool(result.importances_mean[0] > 0.3)
    (['a', 'b'], True)
    """
    if method not in ("drop", "permute"):
        raise ValueError(f"method must be 'drop' or 'permute'; got {method!r}.")
    n_repeats = _check_n_repeats(n_repeats)
    scorer = check_scoring(estimator, scoring=scoring)
    if is_encoded(X):
        names = None
        if not isinstance(X, pd.DataFrame) and modalities is None:
            names = getattr(estimator, "feature_names_in_", None)
        from skmm.utils._layout import resolve_modalities

        layout = resolve_modalities(
            feature_names=list(map(str, X.columns))
            if isinstance(X, pd.DataFrame)
            else names,
            n_features=X.shape[1],
            modalities=modalities,
        )
    else:
        layout = _layout(X, modalities)
    rng = check_random_state(random_state)
    baseline = float(scorer(estimator, X, y))
    importances = np.empty((len(layout), n_repeats))
    for k, name in enumerate(layout):
        if method == "drop":
            if is_encoded(X):
                Xd = corrupt_modalities(
                    X, {name: ("missing", 1.0)}, modalities=_explicit(layout)
                )
            else:
                Xd = corrupt_modalities(
                    X, {name: ("missing", 1.0)}, modalities=modalities
                )
            importances[k] = baseline - float(scorer(estimator, Xd, y))
            continue
        keys = _resolve(layout, name)
        for r in range(n_repeats):
            Xp = _permute(X, keys, rng)
            importances[k, r] = baseline - float(scorer(estimator, Xp, y))
    return Bunch(
        importances_mean=importances.mean(axis=1),
        importances_std=importances.std(axis=1),
        importances=importances,
        modalities=np.asarray(list(layout), dtype=object),
        baseline_score=baseline,
    )


def _explicit(layout):
    return {name: np.asarray(cols) for name, cols in layout.items()}
