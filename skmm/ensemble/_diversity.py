"""How different the members of an ensemble are: disagreement, correlated errors.

An ensemble only beats its best member when the members make *different*
mistakes. :func:`prediction_diversity` measures that from member predictions
(e.g. out-of-fold probabilities), :func:`ensemble_diversity` from a fitted skmm
(or scikit-learn) ensemble and a labelled data set.

Measures (Kuncheva & Whitaker, 2003; Krogh & Vedelsby, 1995), for members
``i, j`` over the samples where both predict (a per-modality expert abstains
where its modality is missing):

* ``disagreement[i, j]``: fraction of samples where their labels differ;
* ``double_fault[i, j]``: fraction where both are wrong;
* ``error_correlation[i, j]``: Pearson correlation of their 0/1 error
  indicators (NaN when one of them is always right or always wrong there);
* ``ambiguity``: weighted mean squared distance between each member's class
  probabilities and the ensemble's weighted average (the part of the
  ensemble's Brier score its averaging removes).
"""

import numpy as np
from sklearn.base import is_classifier
from sklearn.utils import Bunch
from sklearn.utils.validation import check_is_fitted

from skmm.ensemble._common import RAW, check_ensemble_input

__all__ = ["ensemble_diversity", "prediction_diversity"]


def prediction_diversity(predictions, y, *, names=None, weights=None, classes=None):
    """Diversity of ensemble members computed from their predictions.

    Parameters
    ----------
    predictions : array-like of shape (n_members, n_samples, n_classes) or \
(n_members, n_samples)
        Class probabilities of each member (columns ordered as ``classes``), or
        predicted labels. A NaN probability row (or, for labels, a ``None``
        label) marks a sample the member abstains on: pairs are compared over
        the samples where both predict.
    y : array-like of shape (n_samples,)
        True labels.
    names : list of str, default=None
        Member names (default ``"member0", "member1", ...``).
    weights : array-like of shape (n_members,), default=None
        Member weights of the ensemble average (default uniform); they weight
        ``ambiguity`` and ``ensemble_accuracy``.
    classes : array-like of shape (n_classes,), default=None
        Labels of the probability columns (default: the sorted labels of
        ``y``). Required when a class of the columns is absent from ``y``.

    Returns
    -------
    diversity : Bunch
        ``names``, ``weights`` (normalised to sum 1), ``accuracy`` and
        ``coverage`` (fraction of samples predicted) of each member, the
        ``(n_members, n_members)`` matrices ``disagreement``, ``double_fault``
        and ``error_correlation`` (diagonal: 0, error rate, 1), their means
        over member pairs ``mean_disagreement``, ``mean_double_fault``,
        ``mean_error_correlation``, and, for probabilities, ``ambiguity`` and
        ``ensemble_accuracy`` (of the weighted average over the members that
        predict each sample).

    See Also
    --------
    ensemble_diversity : The same measures for a fitted ensemble.

    References
    ----------
    .. [1] L. Kuncheva, C. Whitaker, "Measures of Diversity in Classifier
           Ensembles and Their Relationship with the Ensemble Accuracy",
           Machine Learning, 51, 181-207, 2003.
    .. [2] A. Krogh, J. Vedelsby, "Neural Network Ensembles, Cross
           Validation, and Active Learning", NIPS 7, 1995.

    Examples
    --------
    >>> import numpy as np
    >>> from skmm.ensemble import prediction_diversity
    >>> y = np.array([0, 0, 1, 1])
    >>> labels = np.array([[0, 0, 1, 0],   # wrong on sample 3
    ...                    [0, 1, 1, 1],   # wrong on sample 1
    ...                    [0, 1, 1, 0]])  # wrong on samples 1 and 3
    >>> div = prediction_diversity(labels, y)
    >>> div.disagreement.round(2).tolist()
    [[0.0, 0.5, 0.25], [0.5, 0.0, 0.25], [0.25, 0.25, 0.0]]
    >>> div.double_fault[0, 2], div.accuracy.tolist()
    (np.float64(0.25), [0.75, 0.75, 0.5])
    >>> round(float(div.error_correlation[0, 2]), 3)
    0.577
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D; got shape {y.shape}.")
    if isinstance(predictions, (list, tuple)):
        predictions = [np.asarray(p) for p in predictions]
        try:
            predictions = np.stack(predictions)
        except ValueError as exc:
            raise ValueError(
                "Every member's predictions must have the same shape; got "
                f"{[p.shape for p in predictions]}."
            ) from exc
    predictions = np.asarray(predictions)
    if predictions.ndim not in (2, 3) or predictions.shape[1] != y.shape[0]:
        raise ValueError(
            "predictions must have shape (n_members, n_samples) or (n_members, "
            f"n_samples, n_classes) with n_samples={y.shape[0]}; got "
            f"{predictions.shape}."
        )
    n_members = predictions.shape[0]
    if n_members == 0:
        raise ValueError("predictions holds no member.")
    names = [f"member{i}" for i in range(n_members)] if names is None else list(names)
    if len(names) != n_members:
        raise ValueError(f"{len(names)} names given for {n_members} members.")
    if weights is None:
        weights = np.ones(n_members)
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (n_members,) or (weights < 0).any() or weights.sum() <= 0:
        raise ValueError(
            f"weights must be {n_members} non-negative numbers, not all 0; got "
            f"{weights!r}."
        )
    weights = weights / weights.sum()

    proba = None
    if predictions.ndim == 3:
        proba = predictions.astype(np.float64)
        if classes is None:
            classes = np.unique(y)
        classes = np.asarray(classes)
        if classes.shape[0] != proba.shape[2]:
            raise ValueError(
                f"predictions have {proba.shape[2]} probability columns but there "
                f"are {classes.shape[0]} classes ({classes.tolist()}); pass classes."
            )
        defined = ~np.isnan(proba).any(axis=2)
        codes = np.argmax(np.where(defined[..., None], proba, -np.inf), axis=2)
        labels = classes[codes]
    else:
        labels = predictions
        defined = np.array(
            [[label is not None for label in row] for row in labels], dtype=bool
        )
        if labels.dtype.kind == "f":
            defined &= ~np.isnan(labels)
    correct = (labels == y[None, :]) & defined
    wrong = ~correct & defined

    coverage = defined.mean(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = correct.sum(axis=1) / defined.sum(axis=1)
    disagreement = np.zeros((n_members, n_members))
    double_fault = np.zeros((n_members, n_members))
    error_correlation = np.eye(n_members)
    for i in range(n_members):
        for j in range(i, n_members):
            both = defined[i] & defined[j]
            if not both.any():
                disagreement[i, j] = double_fault[i, j] = np.nan
                error_correlation[i, j] = np.nan
            else:
                disagreement[i, j] = np.mean(labels[i][both] != labels[j][both])
                double_fault[i, j] = np.mean(wrong[i][both] & wrong[j][both])
                if i != j:
                    error_correlation[i, j] = _correlation(
                        wrong[i][both], wrong[j][both]
                    )
            disagreement[j, i] = disagreement[i, j]
            double_fault[j, i] = double_fault[i, j]
            error_correlation[j, i] = error_correlation[i, j]

    off = ~np.eye(n_members, dtype=bool)
    out = Bunch(
        names=names,
        weights=weights,
        accuracy=accuracy,
        coverage=coverage,
        disagreement=disagreement,
        double_fault=double_fault,
        error_correlation=error_correlation,
        mean_disagreement=_nanmean(disagreement[off]),
        mean_double_fault=_nanmean(double_fault[off]),
        mean_error_correlation=_nanmean(error_correlation[off]),
    )
    if proba is not None:
        w = weights[:, None] * defined  # (members, samples)
        norm = w.sum(axis=0)
        filled = np.where(defined[..., None], proba, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            average = (w[..., None] * filled).sum(axis=0) / norm[:, None]
            spread = ((filled - average[None]) ** 2).sum(axis=2)
            per_sample = (w * spread).sum(axis=0) / norm
        covered = norm > 0
        out.ambiguity = float(np.mean(per_sample[covered])) if covered.any() else 0.0
        ens_labels = classes[np.argmax(average[covered], axis=1)]
        out.ensemble_accuracy = (
            float(np.mean(ens_labels == y[covered])) if covered.any() else np.nan
        )
    return out


def _correlation(a, b):
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    sa, sb = a.std(), b.std()
    if sa == 0 or sb == 0:
        return np.nan
    return float(np.mean((a - a.mean()) * (b - b.mean())) / (sa * sb))


def _nanmean(values):
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else np.nan


# -- members of fitted ensembles ---------------------------------------------
def member_probabilities(estimator, X):
    """Class probabilities of each member of a fitted ensemble on ``X``.

    Returns
    -------
    names : list of str
    proba : ndarray of shape (n_members, n_samples, n_classes)
        Columns ordered as ``estimator.classes_``; NaN rows where a member
        abstains (its modalities are missing).
    weights : ndarray of shape (n_members,) or None
        The ensemble's averaging weights when it has some.
    """
    check_is_fitted(estimator)
    classes = estimator.classes_
    # skmm's and scikit-learn's ensembles fit their members on class codes
    encoded = not getattr(estimator, "_members_see_labels", False)
    members = list(estimator.estimators_)
    names = _member_names(estimator, members)
    weights = None
    views = [None] * len(members)
    modalities = [None] * len(members)
    inp = None
    if hasattr(estimator, "estimators_modalities_") and hasattr(
        estimator, "estimators_features_"
    ):  # bagging: each member sees its modalities / columns
        inp = check_ensemble_input(
            estimator, X, reset=False, modalities=getattr(estimator, "modalities", None)
        )
        layout = estimator.modalities_
        for k, (mods, features) in enumerate(
            zip(estimator.estimators_modalities_, estimator.estimators_features_)
        ):
            modalities[k] = list(mods)
            if inp.kind == RAW:
                views[k] = (
                    "mask",
                    [c for m in layout if m not in mods for c in layout[m]],
                )
            elif features.size != estimator.n_features_in_ or not np.array_equal(
                features, np.arange(estimator.n_features_in_)
            ):
                views[k] = ("columns", features)
    elif hasattr(estimator, "modalities_") and hasattr(estimator, "_input_kind"):
        inp = check_ensemble_input(
            estimator, X, reset=False, modalities=getattr(estimator, "modalities", None)
        )
    if hasattr(estimator, "estimator_weights_"):
        weights = np.asarray(estimator.estimator_weights_[: len(members)], float)
    elif hasattr(estimator, "weights_") and hasattr(estimator, "_selected"):
        weights = np.asarray(estimator.weights_)[estimator._selected]
    elif hasattr(estimator, "weights_") and len(estimator.weights_) == len(members):
        weights = np.asarray(estimator.weights_, dtype=np.float64)

    out = []
    for k, member in enumerate(members):
        if inp is None:
            Xk, rows = X, None
        else:
            rows = None
            if modalities[k] is not None:
                present = inp.presence()[
                    :, [inp.modality_names.index(m) for m in modalities[k]]
                ].all(axis=1)
                rows = np.flatnonzero(present)
            sub = inp.rows(rows) if rows is not None else inp
            view = views[k]
            if view is None:
                Xk = sub.full()
            elif view[0] == "mask":
                Xk = sub.masked(view[1])
            else:
                Xk = sub.numeric(view[1])
        n = inp.n_samples if inp is not None else _n_samples(X)
        proba = np.full((n, len(classes)), np.nan)
        if rows is not None and rows.size == 0:
            out.append(proba)
            continue
        part = _member_proba(member, Xk, classes, encoded)
        if rows is None:
            proba[:] = part
        else:
            proba[rows] = part
        out.append(proba)
    return names, np.stack(out), weights


def _n_samples(X):
    return X.shape[0] if hasattr(X, "shape") else len(X)


def _member_names(estimator, members):
    if hasattr(estimator, "_member_names"):
        return list(estimator._member_names)
    named = getattr(estimator, "named_estimators_", None)
    if named is not None and len(named) == len(members):
        return list(named)
    mods = getattr(estimator, "estimators_modalities_", None)
    if mods is not None:
        return [
            f"{k}:{m if isinstance(m, str) else ('+'.join(m) if m else 'all')}"
            for k, m in enumerate(mods)
        ]
    return [f"member{k}" for k in range(len(members))]


def _member_proba(member, X, classes, encoded):
    """Probabilities of one member, columns aligned on the ensemble's classes.

    ``encoded``: the member was fitted on the class codes ``0..K-1`` (as
    scikit-learn's and skmm's ensembles fit their members), not on the labels.
    """
    if hasattr(member, "predict_proba"):
        proba = np.asarray(member.predict_proba(X), dtype=np.float64)
        member_classes = np.asarray(member.classes_)
        columns = (
            member_classes.astype(np.intp)
            if encoded
            else np.searchsorted(classes, member_classes)
        )
    else:
        pred = np.asarray(member.predict(X))
        if not encoded:
            pred = np.searchsorted(classes, pred)
        proba = (pred[:, None] == np.arange(len(classes))[None, :]).astype(float)
        columns = np.arange(len(classes))
    out = np.zeros((proba.shape[0], len(classes)))
    out[:, columns] = proba
    out[np.isnan(proba).any(axis=1)] = np.nan
    return out


def ensemble_diversity(estimator, X, y):
    """Diversity of the members of a fitted ensemble on a labelled data set.

    Works with the skmm ensembles (:class:`ModalityBaggingClassifier` members
    see their own modalities and abstain where one is missing; a per-modality
    expert abstains where its modality is missing; the members of
    :class:`EnsembleSelectionClassifier` are the selected candidates, with
    their selection weights), :class:`SnapshotEnsembleClassifier`, and
    scikit-learn ensembles whose members see ``X`` as given (e.g.
    ``VotingClassifier``). Members without ``predict_proba`` count as one-hot
    votes.

    Measure it on held-out data: on the training data every member looks
    right and the ensemble looks less diverse than it is.

    Parameters
    ----------
    estimator : classifier
        A fitted ensemble classifier with ``estimators_`` and ``classes_``.
    X : array-like, DataFrame or dict of columns
        The input the ensemble predicts on (held-out data, as the ensemble
        takes it).
    y : array-like of shape (n_samples,)
        The true class labels of ``X``.

    Returns
    -------
    diversity : Bunch
        See :func:`prediction_diversity`.

    See Also
    --------
    prediction_diversity : The measures from member predictions.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skmm.datasets import make_multimodal_classification
    >>> from skmm.ensemble import ModalityBaggingClassifier, ensemble_diversity
    >>> X, y = make_multimodal_classification(300, random_state=0)
    >>> bag = ModalityBaggingClassifier(LogisticRegression(), n_estimators=4,
    ...                                 max_modalities=1, random_state=0)
    >>> bag = bag.fit(X[:200], y[:200])
    >>> div = ensemble_diversity(bag, X[200:], y[200:])
    >>> div.names
    ['0:text', '1:text', '2:audio', '3:audio']
    >>> div.disagreement.shape, bool(div.mean_disagreement > 0)
    ((4, 4), True)
    """
    if not is_classifier(estimator):
        raise ValueError(
            "ensemble_diversity measures classifier ensembles; got "
            f"{type(estimator).__name__}."
        )
    if not hasattr(estimator, "estimators_"):
        check_is_fitted(estimator)
        raise ValueError(
            f"{type(estimator).__name__} has no members (estimators_) to compare."
        )
    names, proba, weights = member_probabilities(estimator, X)
    return prediction_diversity(
        proba, y, names=names, weights=weights, classes=estimator.classes_
    )
