"""Ensemble selection (Caruana et al., 2004) over a library of pipelines."""

import numbers
from copy import deepcopy

import numpy as np
from sklearn.base import ClassifierMixin, clone
from sklearn.metrics import balanced_accuracy_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold, check_cv, cross_val_predict
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import Bunch
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_consistent_length, check_is_fitted

from skmm.ensemble._common import (
    RowNamingMember,
    align_proba,
    check_ensemble_input,
    check_target,
    labelled_rows,
    sum_member_outputs,
)
from skmm.ensemble._diversity import prediction_diversity
from skmm.utils._sklearn_compat import (
    Interval,
    StrOptions,
    _BaseHeterogeneousEnsemble,
    _check_sample_weight,
    _fit_context,
    _fit_single_estimator,
    _raise_for_params,
)

__all__ = ["EnsembleSelectionClassifier"]

_EPS = 1e-15


def _neg_log_loss(y, proba, sample_weight):
    p = np.clip(proba[np.arange(y.shape[0]), y], _EPS, 1.0)
    return float(np.average(np.log(p), weights=sample_weight))


def _accuracy(y, proba, sample_weight):
    return float(np.average(np.argmax(proba, axis=1) == y, weights=sample_weight))


def _balanced_accuracy(y, proba, sample_weight):
    y_pred = np.argmax(proba, axis=1)
    return float(balanced_accuracy_score(y, y_pred, sample_weight=sample_weight))


def _roc_auc(y, proba, sample_weight):
    if proba.shape[1] == 2:
        return float(roc_auc_score(y, proba[:, 1], sample_weight=sample_weight))
    proba = proba / proba.sum(axis=1, keepdims=True)
    return float(
        roc_auc_score(
            y,
            proba,
            multi_class="ovr",
            labels=np.arange(proba.shape[1]),
            sample_weight=sample_weight,
        )
    )


_SCORERS = {
    "neg_log_loss": _neg_log_loss,
    "accuracy": _accuracy,
    "balanced_accuracy": _balanced_accuracy,
    "roc_auc": _roc_auc,
}


class EnsembleSelectionClassifier(ClassifierMixin, _BaseHeterogeneousEnsemble):
    """Greedy ensemble selection over a library of candidate pipelines.

    The method of Caruana et al. (2004) that AutoML systems use to combine the
    models they tried: the out-of-fold class probabilities of every candidate
    are computed once by cross-validation; starting from the ``n_init`` best
    candidates, the ensemble repeatedly adds (with replacement by default) the
    candidate whose inclusion most improves the out-of-fold ``scoring`` of the
    averaged probabilities. The ensemble is the best prefix of that sequence,
    so its out-of-fold score is never below the best single candidate's. The
    selected candidates are refitted on all the data; their selection counts
    are the averaging weights.

    Candidates receive ``X`` as given: raw multimodal tables (a library of
    ``Pipeline(MultimodalEncoder, ...)`` with different encoders and heads) and
    encoded matrices alike.

    Parameters
    ----------
    estimators : list of (str, estimator)
        The candidate library. Every candidate must implement
        ``predict_proba`` (checked at fit). An entry may be set to ``"drop"``.
    ensemble_size : int, default=50
        Number of greedy selection steps, counting the ``n_init`` initial picks.
    cv : int, cross-validation generator or iterable, default=5
        How the out-of-fold probabilities are made. An int means
        :class:`~sklearn.model_selection.StratifiedKFold` with shuffling seeded
        by ``random_state``.
    scoring : {"neg_log_loss", "accuracy", "balanced_accuracy", "roc_auc"} or \
callable, default="neg_log_loss"
        What the greedy steps maximise on the averaged out-of-fold
        probabilities. A callable is called as ``scoring(y_true, proba)``, with
        the labels of ``y`` and probability columns ordered as ``classes_``,
        and returns a score (higher is better).
    with_replacement : bool, default=True
        Whether a candidate can be added more than once (a larger weight).
    n_init : int, default=0
        Sorted initialisation: start from the ``n_init`` best single
        candidates (Caruana et al. use 5 to 25 on large libraries). With 0 the
        first greedy step picks the best single candidate.
    per_pattern : bool, default=False
        Also select an ensemble for every pattern of present modalities that
        has at least ``min_pattern_samples`` training samples, from the
        out-of-fold probabilities of those samples only: a candidate's
        reliability depends on which modalities a sample has (an expert of a
        missing modality knows nothing there). Samples whose pattern has no
        ensemble of its own (too rare, or unseen in training) use the global
        one.
    min_pattern_samples : int, default=30
        Fewest training samples for a pattern to get its own weights.
    n_jobs : int, default=None
        Candidates cross-validated and refitted in parallel (joblib), and the
        selected members predicting in parallel threads; the results equal
        those of ``n_jobs=1``.
    random_state : int, RandomState instance or None, default=None
        Seeds the fold shuffling when ``cv`` is an int. Seed the candidates
        themselves through their own ``random_state``.
    verbose : int, default=0
        Verbosity of the cross-validation.

    Attributes
    ----------
    weights_ : ndarray of shape (n_candidates,)
        Averaging weight of each candidate of ``estimators`` (selection count
        over ensemble size; 0 for unselected and dropped candidates).
    pattern_weights_ : dict of tuple to ndarray
        With ``per_pattern=True``: ``{present modalities: weights}`` for every
        pattern of present modalities that got its own ensemble (empty when
        the training data has a single pattern).
    diversity_ : Bunch
        Diversity of the active candidates on their out-of-fold predictions
        (see :func:`prediction_diversity`): disagreement, correlation of
        errors, double faults, accuracies, and the chosen ``weights``.
    estimators_ : list of estimators
        The selected candidates, refitted on all data, in library order.
    named_estimators_ : Bunch
        The selected, refitted candidates by name.
    candidate_scores_ : ndarray of shape (n_candidates,)
        Out-of-fold score of each candidate alone (NaN for dropped ones).
    ensemble_score_ : float
        Out-of-fold score of the selected ensemble.
    scores_ : ndarray
        Out-of-fold score of the ensemble after each greedy step.
    classes_ : ndarray of shape (n_classes,)
        The class labels.
    n_features_in_ : int
        Number of columns of ``X`` seen in fit.
    feature_names_in_ : ndarray of str
        Column names of ``X`` seen in fit (when they are all strings).

    See Also
    --------
    ModalityStackingClassifier : Learns the combination with a final estimator.
    sklearn.ensemble.VotingClassifier : Fixed-weight soft voting.

    Notes
    -----
    Ties (between candidates with equal scores) go to the candidate listed
    first; the best prefix is the shortest one reaching the best score. The
    ensemble's out-of-fold score is optimistic (the same folds choose the
    weights); estimate generalisation with an outer cross-validation.

    References
    ----------
    .. [1] R. Caruana, A. Niculescu-Mizil, G. Crew, A. Ksikes, "Ensemble
           Selection from Libraries of Models", ICML 2004.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.naive_bayes import GaussianNB
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from skmm.datasets import make_multimodal_classification
    >>> from skmm.ensemble import EnsembleSelectionClassifier
    >>> X, y = make_multimodal_classification(200, random_state=0)
    >>> library = [("lr", LogisticRegression()), ("nb", GaussianNB()),
    ...            ("tree", DecisionTreeClassifier(max_depth=3, random_state=0))]
    >>> sel = EnsembleSelectionClassifier(library, ensemble_size=10, cv=3,
    ...                                   random_state=0).fit(X, y)
    >>> sel.weights_.round(2).tolist()
    [0.9, 0.1, 0.0]
    >>> bool(sel.ensemble_score_ >= sel.candidate_scores_.max())
    True
    """

    _parameter_constraints = {
        "estimators": [list],
        "ensemble_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "cv": ["cv_object"],
        "scoring": [
            StrOptions({"neg_log_loss", "accuracy", "balanced_accuracy", "roc_auc"}),
            callable,
        ],
        "with_replacement": ["boolean"],
        "n_init": [Interval(numbers.Integral, 0, None, closed="left")],
        "per_pattern": ["boolean"],
        "min_pattern_samples": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_jobs": [None, numbers.Integral],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        estimators,
        *,
        ensemble_size=50,
        cv=5,
        scoring="neg_log_loss",
        with_replacement=True,
        n_init=0,
        per_pattern=False,
        min_pattern_samples=30,
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        super().__init__(estimators=estimators)
        self.ensemble_size = ensemble_size
        self.cv = cv
        self.scoring = scoring
        self.with_replacement = with_replacement
        self.n_init = n_init
        self.per_pattern = per_pattern
        self.min_pattern_samples = min_pattern_samples
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def _score_function(self):
        if callable(self.scoring):
            classes = self.classes_
            user = self.scoring

            def score(y, proba, sample_weight):
                return float(user(classes[y], proba))

            return score
        return _SCORERS[self.scoring]

    def _check_cv(self, y):
        if isinstance(self.cv, numbers.Integral):
            return StratifiedKFold(
                n_splits=self.cv, shuffle=True, random_state=self.random_state
            )
        return check_cv(self.cv, y=y, classifier=True)

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, **fit_params):
        """Cross-validate the library, select the ensemble, refit it.

        Parameters
        ----------
        X : DataFrame, dict, ndarray or sparse matrix of shape (n_samples, n_columns)
            A raw multimodal table or an encoded numeric matrix, passed to the
            candidates as given.
        y : array-like of shape (n_samples,)
            The class labels.
        **fit_params : dict
            ``sample_weight``: passed to every candidate and used by the
            selection scores.

        Returns
        -------
        self : EnsembleSelectionClassifier
            The fitted ensemble.
        """
        _raise_for_params(fit_params, self, "fit", allow=["sample_weight"])
        inp = check_ensemble_input(self, X, reset=True)
        y = check_target(self, y, multi_output=False)
        check_consistent_length(inp.data, y)
        check_classification_targets(y)
        if type_of_target(y) not in ("binary", "multiclass"):
            raise ValueError(
                f"{type(self).__name__} supports single-output classification only."
            )
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        y = encoder.transform(y)
        sample_weight = fit_params.get("sample_weight")
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, inp.data)
        names, estimators = self._validate_estimators()
        active = [
            (k, name, est)
            for k, (name, est) in enumerate(zip(names, estimators))
            if not (isinstance(est, str) and est == "drop")
        ]
        for _, name, est in active:
            if not hasattr(est, "predict_proba"):
                raise ValueError(
                    f"Candidate {name!r} ({type(est).__name__}) does not implement "
                    "predict_proba; ensemble selection averages class "
                    "probabilities. Use a probabilistic estimator (e.g. "
                    "SVC(probability=True)) or wrap it in CalibratedClassifierCV."
                )
        if self.n_init > self.ensemble_size:
            raise ValueError(
                f"n_init={self.n_init} exceeds ensemble_size={self.ensemble_size}."
            )
        if not self.with_replacement and self.n_init > len(active):
            raise ValueError(
                f"n_init={self.n_init} exceeds the number of candidates "
                f"({len(active)}) and with_replacement=False."
            )
        X_full = inp.full()
        params = {} if sample_weight is None else {"sample_weight": sample_weight}
        cv = self._check_cv(y)
        # Folds keep the user's row labels (or numbers): the candidates' errors
        # name the user's rows, not positions within a fold.
        X_cv, to_array = labelled_rows(X_full)
        oof = Parallel(n_jobs=self.n_jobs)(
            delayed(cross_val_predict)(
                RowNamingMember(clone(est), to_array=to_array),
                X_cv,
                y,
                cv=deepcopy(cv),
                method="predict_proba",
                params=params,
                verbose=self.verbose,
            )
            for _, _, est in active
        )
        oof = np.stack([np.asarray(p, dtype=np.float64) for p in oof])
        counts, scores, single = self._select(oof, y, sample_weight)
        active_idx = [k for k, _, _ in active]
        self.candidate_scores_ = np.full(len(names), np.nan)
        self.candidate_scores_[active_idx] = single
        self.weights_ = np.zeros(len(names))
        self.weights_[active_idx] = counts / counts.sum()
        self.scores_ = np.asarray(scores)
        self.ensemble_score_ = float(np.max(scores))
        self.pattern_weights_ = {}
        used = self.weights_ > 0
        if self.per_pattern:
            presence = inp.presence()
            patterns, inverse = np.unique(presence, axis=0, return_inverse=True)
            inverse = inverse.ravel()
            for p, pattern in enumerate(patterns if len(patterns) > 1 else []):
                rows = np.flatnonzero(inverse == p)
                if rows.size < self.min_pattern_samples:
                    continue
                sw = None if sample_weight is None else sample_weight[rows]
                c, _, _ = self._select(oof[:, rows], y[rows], sw)
                weights = np.zeros(len(names))
                weights[active_idx] = c / c.sum()
                key = tuple(m for m, on in zip(inp.modality_names, pattern) if on)
                self.pattern_weights_[key] = weights
                used |= weights > 0
        self.diversity_ = prediction_diversity(
            oof,
            self.classes_[y],
            names=[name for _, name, _ in active],
            weights=self.weights_[active_idx]
            if self.weights_[active_idx].sum() > 0
            else None,
            classes=self.classes_,
        )
        selected = [(k, name, est) for k, name, est in active if used[k]]
        self.estimators_ = [
            member.estimator_
            for member in Parallel(n_jobs=self.n_jobs)(
                delayed(_fit_single_estimator)(
                    RowNamingMember(clone(est)), X_full, y, params
                )
                for _, _, est in selected
            )
        ]
        self._selected = np.asarray([k for k, _, _ in selected], dtype=np.intp)
        self.named_estimators_ = Bunch(
            **{name: est for (_, name, _), est in zip(selected, self.estimators_)}
        )
        return self

    def _select(self, proba, y, sample_weight):
        """Greedy forward selection on out-of-fold probabilities.

        Returns selection counts of the best prefix, the score after each step
        and the single candidates' scores.
        """
        score = self._score_function()
        n_candidates = proba.shape[0]
        single = np.array([score(y, p, sample_weight) for p in proba])
        counts = np.zeros(n_candidates, dtype=np.int64)
        total = np.zeros_like(proba[0])
        scores = []
        best, best_counts = -np.inf, None
        order = np.argsort(-single, kind="stable")
        for step in range(self.ensemble_size):
            if step < self.n_init:
                pick = int(order[step])
                value = score(y, (total + proba[pick]) / (step + 1), sample_weight)
            else:
                allowed = (
                    np.arange(n_candidates)
                    if self.with_replacement
                    else np.flatnonzero(counts == 0)
                )
                if allowed.size == 0:
                    break
                values = [
                    score(y, (total + proba[j]) / (step + 1), sample_weight)
                    for j in allowed
                ]
                at = int(np.argmax(values))
                pick, value = int(allowed[at]), values[at]
            counts[pick] += 1
            total += proba[pick]
            scores.append(value)
            if value > best:
                best, best_counts = value, counts.copy()
        return best_counts, scores, single

    def predict_proba(self, X):
        """Weighted average of the selected candidates' class probabilities.

        Parameters
        ----------
        X : DataFrame, dict, ndarray or sparse matrix of shape (n_samples, n_columns)
            The same kind of input as in fit.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns ordered as ``classes_``.
        """
        check_is_fitted(self)
        inp = check_ensemble_input(self, X, reset=False)
        X_full = inp.full()
        n_classes = len(self.classes_)
        weights = np.tile(self.weights_, (inp.n_samples, 1))
        if self.pattern_weights_:
            presence = inp.presence()
            for key, pattern_weights in self.pattern_weights_.items():
                mask = np.isin(inp.modality_names, key)
                weights[(presence == mask).all(axis=1)] = pattern_weights

        def contribution(member):
            k, est = member
            rows = np.flatnonzero(weights[:, k] > 0)
            if rows.size == 0:
                return None
            proba = align_proba(
                est.predict_proba(X_full), est.classes_, np.arange(n_classes)
            )
            out = np.zeros((inp.n_samples, n_classes))
            out[rows] = weights[rows, k, np.newaxis] * proba[rows]
            return out

        # members predict in parallel threads with n_jobs > 1; summed in order
        total = sum_member_outputs(
            contribution, zip(self._selected, self.estimators_), self.n_jobs
        )
        if total is None:
            total = np.zeros((inp.n_samples, n_classes))
        return total

    def predict(self, X):
        """Class with the highest averaged probability.

        Parameters
        ----------
        X : DataFrame, dict, ndarray or sparse matrix of shape (n_samples, n_columns)
            The same kind of input as in fit.

        Returns
        -------
        y : ndarray of shape (n_samples,)
            The predicted class labels.
        """
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`.

        Parameters
        ----------
        X : DataFrame, dict, ndarray or sparse matrix of shape (n_samples, n_columns)
            The same kind of input as in fit.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            The log of :meth:`predict_proba` (``-inf`` where a probability is
            0), columns ordered as ``classes_``.
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))
