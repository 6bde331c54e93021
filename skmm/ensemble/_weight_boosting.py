"""SAMME boosting over pipelines, fusion networks and per-modality experts."""

import copy
import numbers

import numpy as np
import pandas as pd
import scipy.sparse as sp
from joblib import effective_n_jobs
from sklearn import config_context, get_config
from sklearn.base import clone
from sklearn.ensemble import AdaBoostClassifier
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils import get_tags
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_is_fitted

from skmm.ensemble._common import (
    RAW,
    ExpertParamsMixin,
    ModalityExpert,
    align_proba,
    check_ensemble_input,
    check_experts,
    check_modality,
    check_target,
    fit_weighted,
    iter_member_outputs,
)
from skmm.exceptions import InvalidSampleError
from skmm.utils._contract import row_index, user_rows
from skmm.utils._sklearn_compat import (
    HasMethods,
    StrOptions,
    _fit_context,
    _set_random_states,
)

__all__ = ["MultimodalAdaBoostClassifier"]

MAX_INT = np.iinfo(np.int32).max

#: scikit-learn common checks expected to fail, with their reason.
_EXPECTED_FAILED_CHECKS = dict.fromkeys(
    (
        "check_sample_weight_equivalence_on_dense_data",
        "check_sample_weight_equivalence_on_sparse_data",
    ),
    "Boosting reweights samples round after round; sample_weight is not "
    "equivalent to removing/repeating samples (as for scikit-learn's "
    "AdaBoostClassifier).",
)


def _constraints():
    constraints = copy.deepcopy(AdaBoostClassifier._parameter_constraints)
    constraints.update(
        estimator=[HasMethods(["fit", "predict"]), None],
        experts=[dict, None],
        modalities=[dict, None],
        weighting=[StrOptions({"auto", "resample"})],
        algorithm=[StrOptions({"SAMME", "SAMME.R"})],
        n_jobs=[None, numbers.Integral],
    )
    return constraints


class MultimodalAdaBoostClassifier(ExpertParamsMixin, AdaBoostClassifier):
    """AdaBoost (SAMME) over pipelines, fusion networks and modality experts.

    :class:`~sklearn.ensemble.AdaBoostClassifier` needs a base estimator whose
    ``fit`` signature has ``sample_weight``, so it rejects a ``Pipeline``, and it
    converts a DataFrame into an array. This subclass keeps raw tables and
    column names, routes the boosting weights to a pipeline's final step (or
    resamples when no step takes weights), and can boost a set of per-modality
    experts: each round fits every expert on the weighted data and keeps the
    one with the lowest weighted error.

    Parameters
    ----------
    estimator : object, default=None
        The multimodal base estimator: a ``Pipeline(MultimodalEncoder, ...)``
        for raw tables, a fusion network or any classifier for encoded
        matrices. ``None`` means a decision stump, unless ``experts`` are given
        (then only the experts compete). With ``experts``, a given
        ``estimator`` competes with them in every round.
    n_estimators : int, default=50
        Maximum number of boosting rounds.
    learning_rate : float, default=1.0
        Shrinks the weight of each round's member.
    experts : dict of str to estimator, default=None
        Per-modality experts ``{modality: estimator}``. Each is wrapped with its
        column selection automatically: it sees only its modality (the block
        of an encoded matrix, or the raw column as a 1-D list of cells, e.g.
        ``make_pipeline(TfidfVectorizer(), LogisticRegression())`` for text;
        an expert containing a :class:`~skmm.compose.MultimodalEncoder` gets
        the one-modality sub-table instead) and only the samples where that
        modality is present. An expert may be
        set to ``"drop"``. Tunable as ``experts__{modality}__{param}``.
    modalities : dict, default=None
        Explicit layout ``{modality name: columns}`` (see
        :func:`~skmm.utils.resolve_modalities` for encoded matrices,
        :func:`~skmm.utils.resolve_table_modalities` for raw tables).
    weighting : {"auto", "resample"}, default="auto"
        How a member receives the boosting weights. ``"auto"``: as
        ``sample_weight`` when its ``fit`` takes it, as
        ``{last_step}__sample_weight`` for a pipeline whose final step takes
        it, otherwise by a weighted bootstrap of the rows (seeded).
        ``"resample"``: always the weighted bootstrap (useful for networks
        trained by minibatch SGD, where weights and repetition differ).
    algorithm : {"SAMME", "SAMME.R"}, default="SAMME"
        ``"SAMME"``: discrete boosting on the members' labels (scikit-learn's
        algorithm). ``"SAMME.R"``: real-valued boosting on their class
        probabilities (Zhu et al., 2009; removed from scikit-learn 1.6): each
        member adds ``(K - 1) * (log p - mean(log p))`` to the decision.
        Members need ``predict_proba``. It does not rescue boosting over
        experts of *complementary* modalities (measured on the built-in
        digits: SAMME 0.178, SAMME.R 0.156); stack such experts instead.
    n_jobs : int, default=None
        Candidates (experts, and the multimodal ``estimator``) fitted in
        parallel within each round (joblib); rounds are sequential by nature.
        At prediction the members predict in parallel threads (not in
        ``staged_*``). The results equal those of ``n_jobs=1``.
    random_state : int, RandomState instance or None, default=None
        Seeds every round: the members' ``random_state`` parameters (nested
        ones too) and the weighted bootstraps.

    Attributes
    ----------
    estimator_ : estimator or None
        The multimodal base estimator (None when only experts compete).
    estimators_ : list of estimators
        The members kept, one per round. Expert members are wrappers whose
        ``estimator_`` is the fitted expert.
    estimators_modalities_ : list of str or None
        For each member, the modality of the expert picked in that round, or
        None for the multimodal ``estimator``.
    estimator_weights_ : ndarray of shape (n_estimators,)
        SAMME weight of each round (1 for every round of SAMME.R).
    estimator_errors_ : ndarray of shape (n_estimators,)
        Weighted training error of each round's member (abstentions count as
        errors, see Notes).
    classes_ : ndarray of shape (n_classes,)
        The class labels.
    n_classes_ : int
        The number of classes.
    modalities_ : dict
        Modality layout of ``X``.
    n_features_in_ : int
        Number of columns of ``X`` seen in fit.
    feature_names_in_ : ndarray of str
        Column names of ``X`` seen in fit (when they are all strings).

    See Also
    --------
    sklearn.ensemble.AdaBoostClassifier : The parent class.
    ModalityStackingClassifier : Per-modality experts combined by stacking.

    Notes
    -----
    ``y`` is encoded once (``classes_``); members are fitted on the codes, so a
    weighted bootstrap that lacks a class cannot shift the class order. The
    weights handed to a member are rescaled to average 1 (the boosting
    distribution is unchanged), so that a regularised member (e.g. a logistic
    regression) keeps the effective regularisation of an unweighted fit.

    An expert abstains on the samples whose modality is missing. In training
    such a sample counts as misclassified by that expert (the weighted error is
    an upper bound, and the sample's weight grows so that later rounds favour
    experts that can see it); at predict time an abstaining member adds nothing
    to the sample's decision, which is normalised by the weights of the members
    that did vote. A sample for which no member votes raises
    :class:`~skmm.exceptions.InvalidSampleError`. Ties between experts go to the
    first in ``experts`` order (the multimodal ``estimator`` last).

    References
    ----------
    .. [1] J. Zhu, H. Zou, S. Rosset, T. Hastie, "Multi-class AdaBoost",
           Statistics and its Interface, 2(3), 349-360, 2009.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skmm.datasets import make_multimodal_classification
    >>> from skmm.ensemble import MultimodalAdaBoostClassifier
    >>> X, y = make_multimodal_classification(n_samples=150, random_state=0)
    >>> expert = make_pipeline(StandardScaler(), LogisticRegression())
    >>> boost = MultimodalAdaBoostClassifier(
    ...     experts={"text": expert, "image": expert, "audio": expert},
    ...     n_estimators=6, random_state=0).fit(X, y)
    >>> boost.estimators_modalities_
    ['image', 'image', 'text', 'image', 'text', 'image']
    >>> round(float(boost.score(X, y)), 2)
    0.97
    """

    _parameter_constraints = _constraints()
    _EXPECTED_FAILED_CHECKS = _EXPECTED_FAILED_CHECKS

    def __init__(
        self,
        estimator=None,
        *,
        n_estimators=50,
        learning_rate=1.0,
        experts=None,
        modalities=None,
        weighting="auto",
        algorithm="SAMME",
        n_jobs=None,
        random_state=None,
    ):
        super().__init__(
            estimator=estimator,
            n_estimators=n_estimators,
            learning_rate=learning_rate,
            random_state=random_state,
        )
        self.experts = experts
        self.modalities = modalities
        self.weighting = weighting
        self.algorithm = algorithm
        self.n_jobs = n_jobs

    # -- hooks of BaseWeightBoosting ---------------------------------------------
    def _check_X(self, X):
        return self._input(X).full()

    def _input(self, X, *, reset=False):
        return check_ensemble_input(
            self, X, reset=reset, modalities=self.modalities, allow_nd=True
        )

    def _validate_estimator(self):
        """Set ``estimator_`` and the candidates each round chooses from.

        Unlike scikit-learn's, any estimator is accepted: a round routes the
        weights to a pipeline's final step or resamples (see ``weighting``).
        """
        experts = [] if self.experts is None else check_experts(self.experts)
        if self.experts is not None and not experts and self.estimator is None:
            raise ValueError("Every expert is 'drop' and no estimator is given.")
        if self.estimator is not None:
            self.estimator_ = self.estimator
        elif experts:
            self.estimator_ = None
        else:
            if self._input_kind == RAW:
                raise ValueError(
                    "X is a raw multimodal table; pass an estimator that encodes it "
                    "(e.g. make_pipeline(MultimodalEncoder([...]), "
                    "LogisticRegression())) or per-modality experts."
                )
            self.estimator_ = DecisionTreeClassifier(max_depth=1)
        candidates = []
        for name, est in experts:
            check_modality(name, self.modalities_, "expert")
            candidates.append(
                (
                    name,
                    ModalityExpert(
                        est, name, modalities=self.modalities, kind=self._input_kind
                    ),
                )
            )
        if self.estimator_ is not None:
            candidates.append((None, self.estimator_))
        self._candidates = candidates

    def _make_estimator(self, append=True, random_state=None):
        """One boosting round: every candidate is fitted, the best one is kept."""
        round_ = _BoostingRound(
            self._candidates,
            real=self.algorithm == "SAMME.R",
            seed=random_state.randint(MAX_INT),
            resample=self.weighting == "resample",
            n_jobs=self.n_jobs,
            rebuild=self._rebuild,
            finite=self._assume_finite,
        )
        if append:
            self.estimators_.append(round_)
        return round_

    def _boost(self, iboost, X, y, sample_weight, random_state):
        """One round: discrete SAMME (scikit-learn's), or real-valued SAMME.R.

        SAMME.R (Zhu et al., 2009) uses the member's class probabilities
        ``p``: the sample weights are multiplied by
        ``exp(-learning_rate * (K - 1) / K * y_code . log p)`` (``y_code`` is
        1 for the true class, ``-1 / (K - 1)`` for the others), every member
        has weight 1, and the round keeps the candidate with the lowest
        weighted exponential loss. An abstaining expert leaves the weight of
        the samples it cannot see unchanged.
        """
        if self.algorithm == "SAMME":
            return super()._boost(iboost, X, y, sample_weight, random_state)
        round_ = self._make_estimator(random_state=random_state)
        round_.fit(X, y, sample_weight=sample_weight)
        if iboost == 0:
            self.classes_ = round_.classes_
            self.n_classes_ = len(self.classes_)
        n_classes = self.n_classes_
        codes = np.searchsorted(self.classes_, y)
        proba = round_.proba_
        present = ~np.isnan(proba).any(axis=1)
        incorrect = ~present | (np.argmax(np.nan_to_num(proba), axis=1) != codes)
        estimator_error = float(np.average(incorrect, weights=sample_weight))
        if n_classes == 1:
            return sample_weight, 1.0, 0.0
        if not iboost == self.n_estimators - 1:
            exponent = _samme_r_exponent(proba, codes, n_classes)
            exponent[~present] = 0.0
            sample_weight = sample_weight * np.exp(
                self.learning_rate * exponent * (sample_weight > 0)
            )
        return sample_weight, 1.0, max(estimator_error, np.finfo(float).tiny)

    # -- fit ----------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None):
        """Build the boosted ensemble from the training set (X, y).

        Parameters
        ----------
        X : DataFrame, dict, ndarray or sparse matrix of shape (n_samples, n_columns)
            A raw multimodal table or an encoded numeric matrix (n-D arrays are
            accepted, as by scikit-learn's AdaBoost).
        y : array-like of shape (n_samples,)
            The class labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Initial sample weights (uniform by default).

        Returns
        -------
        self : MultimodalAdaBoostClassifier
            The fitted ensemble.
        """
        inp = self._input(X, reset=True)
        y = check_target(self, y, multi_output=False)
        check_classification_targets(y)
        names = None if inp.kind == RAW else inp.names
        columns = list(inp.data.columns) if hasattr(inp.data, "columns") else None
        self._rebuild = _Rebuild(inp.kind, names, columns, inp.index)
        self._assume_finite = get_config()["assume_finite"]
        # AdaBoost's own fit validates X again and runs the SAMME loop; X was
        # checked above (NaN allowed: all-NaN blocks are missing modalities),
        # so its finiteness check is skipped there (and restored in each
        # round for the members).
        with config_context(assume_finite=True):
            super().fit(
                inp.data if inp.kind == RAW else X, y, sample_weight=sample_weight
            )
        rounds = self.estimators_
        self.estimators_ = [r.estimator_ for r in rounds]
        self.estimators_modalities_ = [r.modality_ for r in rounds]
        del self._rebuild
        return self

    # -- predict --------------------------------------------------------------
    def _votes(self, X, n_jobs=1):
        """Per member: encoded predictions, -1 where the member abstains."""
        check_is_fitted(self)
        X_full = self._input(X).full()
        return list(
            iter_member_outputs(
                lambda est: _member_predict(est, X_full), self.estimators_, n_jobs
            )
        )

    def _real_decisions(self, X, n_jobs=1):
        """Yield the SAMME.R decision after each round (mean over voters)."""
        check_is_fitted(self)
        X_full = self._input(X).full()
        n_classes = self.n_classes_
        total = norm = None
        for proba in iter_member_outputs(
            lambda est: _member_proba(est, X_full, n_classes), self.estimators_, n_jobs
        ):
            present = ~np.isnan(proba).any(axis=1)
            if total is None:
                total = np.zeros((proba.shape[0], n_classes))
                norm = np.zeros(proba.shape[0])
            log_proba = np.log(np.clip(np.nan_to_num(proba), _EPS, None))
            h = (n_classes - 1) * (log_proba - log_proba.mean(axis=1, keepdims=True))
            h[~present] = 0.0
            total += h
            norm += present
            with np.errstate(invalid="ignore", divide="ignore"):
                decision = np.where(
                    norm[:, np.newaxis] > 0, total / norm[:, np.newaxis], 0.0
                )
            if n_classes == 2:
                decision[:, 0] *= -1
                yield decision.sum(axis=1)
            else:
                yield decision
        if norm is not None and not (norm > 0).all():
            i = int(np.flatnonzero(norm == 0)[0])
            raise InvalidSampleError(
                "every boosted member abstains: the modalities of the experts kept "
                f"({sorted({m for m in self.estimators_modalities_ if m})}) are all "
                "missing",
                index=i,
            )

    def _decisions(self, X, n_jobs=1):
        """Yield the SAMME decision after each round (normalised per sample).

        ``n_jobs`` members predict at once (see
        :func:`~skmm.ensemble._common.iter_member_outputs`); the staged
        decisions, consumed lazily by the caller, use one.
        """
        if self.algorithm == "SAMME.R":
            yield from self._real_decisions(X, n_jobs)
            return
        votes = self._votes(X, n_jobs)
        n_classes = self.n_classes_
        weights = self.estimator_weights_[: len(votes)]
        voted = np.zeros(votes[0].shape[0], dtype=bool) if votes else None
        for pred in votes:
            voted |= pred >= 0
        if votes and not voted.all():
            i = int(np.flatnonzero(~voted)[0])
            raise InvalidSampleError(
                "every boosted member abstains: the modalities of the experts kept "
                f"({sorted({m for m in self.estimators_modalities_ if m})}) are all "
                "missing",
                index=i,
            )
        classes = np.arange(n_classes)
        total = np.zeros((votes[0].shape[0], n_classes))
        norm = np.zeros(votes[0].shape[0])
        for pred, w in zip(votes, weights):
            present = pred >= 0
            contribution = np.where(
                pred[:, np.newaxis] == classes, w, -1 / (n_classes - 1) * w
            )
            contribution[~present] = 0.0
            total += contribution
            norm += w * present
            with np.errstate(invalid="ignore", divide="ignore"):
                decision = np.where(
                    norm[:, np.newaxis] > 0, total / norm[:, np.newaxis], 0.0
                )
            if n_classes == 2:
                decision[:, 0] *= -1
                yield decision.sum(axis=1)
            else:
                yield decision

    def decision_function(self, X):
        """Weighted SAMME decision of the members that vote for each sample.

        Parameters
        ----------
        X : DataFrame, dict, ndarray or sparse matrix of shape (n_samples, n_columns)
            The same kind of input as in fit; missing modalities allowed.

        Returns
        -------
        score : ndarray of shape (n_samples,) or (n_samples, n_classes)
            Binary problems give one column (positive means ``classes_[1]``).
        """
        check_is_fitted(self)
        if self.n_classes_ == 1:
            n = self._input(X).n_samples
            return np.zeros((n, 1))
        decision = None
        for decision in self._decisions(X, self.n_jobs):
            pass
        return decision

    def staged_decision_function(self, X):
        """Decision function after each boosting round.

        A sample that no member has voted for yet gets 0 (no evidence).

        Parameters
        ----------
        X : DataFrame, dict, ndarray or sparse matrix of shape (n_samples, n_columns)
            The same kind of input as in fit.

        Yields
        ------
        score : ndarray of shape (n_samples,) or (n_samples, n_classes)
        """
        check_is_fitted(self)
        yield from self._decisions(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        try:
            members = []
            if self.experts:
                members += [e for e in self.experts.values() if not isinstance(e, str)]
            if self.estimator is not None:
                members.append(self.estimator)
            elif not members:
                members.append(DecisionTreeClassifier(max_depth=1))
            tags.input_tags.allow_nan = all(
                get_tags(m).input_tags.allow_nan for m in members
            )
        except Exception:  # invalid parameters fail at fit with a clear message
            pass
        return tags


class _Rebuild:
    """Turns the array AdaBoost validated back into what members expect."""

    def __init__(self, kind, names, columns, index=None):
        self.kind = kind
        self.names = names
        self.columns = columns
        self.index = index  # the user's row labels: members' errors name them

    def __call__(self, X):
        if isinstance(X, pd.DataFrame) or sp.issparse(X) or X.ndim != 2:
            return X
        index = self.index
        if index is not None and len(index) != X.shape[0]:
            index = None
        if self.kind == RAW:
            if self.columns is None:
                return X
            return pd.DataFrame(X, columns=self.columns, index=index, copy=False)
        if self.names is None:
            return X
        return pd.DataFrame(X, columns=list(self.names), index=index, copy=False)


class _BoostingRound:
    """What AdaBoost's SAMME step fits each round: the competing candidates.

    ``fit`` fits every candidate (experts and the multimodal estimator) on the
    weighted data and keeps the one with the lowest weighted error
    (``estimator_``, ``modality_``). ``predict`` returns its labels; a sample
    where the kept expert abstains gets a value equal to no label, so the
    parent's SAMME update counts it as an error. The ensemble unwraps the
    rounds right after fit.
    """

    def __init__(
        self, candidates, *, real=False, seed, resample, n_jobs, rebuild, finite
    ):
        self.candidates = candidates
        self.real = real
        self.seed = seed
        self.resample = resample
        self.n_jobs = n_jobs
        self.rebuild = rebuild
        self.finite = finite

    def fit(self, X, y, sample_weight):
        X = self.rebuild(X)
        self.classes_, codes = np.unique(y, return_inverse=True)
        n = sample_weight.shape[0]
        member_weight = sample_weight * (n / sample_weight.sum())
        n_jobs = min(effective_n_jobs(self.n_jobs), len(self.candidates))
        with config_context(assume_finite=self.finite):
            fitted = Parallel(n_jobs=n_jobs)(
                delayed(_fit_candidate)(
                    template,
                    X,
                    codes,
                    member_weight,
                    self.seed,
                    self.resample,
                    len(self.classes_) if self.real else None,
                )
                for _, template in self.candidates
            )
        best = None
        for (label, _), (estimator, pred) in zip(self.candidates, fitted):
            if self.real:  # weighted exponential loss; abstentions count exp(0)
                exponent = _samme_r_exponent(pred, codes, len(self.classes_))
                exponent[np.isnan(pred).any(axis=1)] = 0.0
                error = float(np.sum(sample_weight * np.exp(exponent)))
            else:
                error = float(np.average(pred != codes, weights=sample_weight))
            if best is None or error < best[0]:
                best = (error, estimator, label, pred)
        _, self.estimator_, self.modality_, pred = best
        if self.real:
            self.proba_ = pred
        return self

    def predict(self, X):
        codes = _member_predict(self.estimator_, self.rebuild(X))
        abstain = codes < 0
        if not abstain.any():
            return self.classes_[codes]
        labels = self.classes_[np.where(abstain, 0, codes)].astype(object)
        labels[abstain] = _ABSTAIN
        return labels


class _Abstain:
    """A label equal to no class: an abstaining expert's training prediction."""

    def __eq__(self, other):
        return False

    def __ne__(self, other):
        return True

    __hash__ = object.__hash__

    def __repr__(self):
        return "<abstain>"


_ABSTAIN = _Abstain()


def _fit_candidate(template, X, y, sample_weight, seed, resample, n_classes=None):
    """Fit one round's candidate; return it with its encoded predictions.

    With ``n_classes`` (SAMME.R), its class probabilities instead (columns
    ``0..n_classes - 1``, NaN rows where an expert abstains).
    """
    estimator = clone(template)
    _set_random_states(estimator, seed)
    fit_weighted(estimator, X, y, sample_weight, random_state=seed, resample=resample)
    with user_rows(None, row_index(X)):
        if n_classes is not None:
            return estimator, _member_proba(estimator, X, n_classes)
        return estimator, _member_predict(estimator, X)


_EPS = np.finfo(np.float64).eps


def _samme_r_exponent(proba, codes, n_classes):
    """``-(K - 1) / K * y_code . log p`` per sample (SAMME.R weight update)."""
    log_proba = np.log(np.clip(np.nan_to_num(proba), _EPS, None))
    y_code = np.full((codes.shape[0], n_classes), -1.0 / (n_classes - 1))
    y_code[np.arange(codes.shape[0]), codes] = 1.0
    return -(n_classes - 1) / n_classes * np.sum(y_code * log_proba, axis=1)


def _member_proba(estimator, X, n_classes):
    """Probabilities of a member fitted on codes; NaN rows where it abstains."""
    if not hasattr(estimator, "predict_proba"):
        raise ValueError(
            f"algorithm='SAMME.R' needs members with predict_proba; "
            f"{type(estimator).__name__} has none."
        )
    if isinstance(estimator, ModalityExpert):
        out, present = estimator.predict_present(X, "predict_proba")
        proba = np.full((present.shape[0], n_classes), np.nan)
        if out is not None:
            proba[present] = align_proba(out, estimator.classes_, np.arange(n_classes))
        return proba
    return align_proba(
        estimator.predict_proba(X), estimator.classes_, np.arange(n_classes)
    )


def _member_predict(estimator, X):
    """Encoded predictions of a member; -1 where an expert abstains."""
    if isinstance(estimator, ModalityExpert):
        out, present = estimator.predict_present(X, "predict")
        pred = np.full(present.shape[0], -1, dtype=np.intp)
        if out is not None:
            pred[present] = out
        return pred
    return np.asarray(estimator.predict(X), dtype=np.intp)
