"""Bagging over whole modalities: ModalityBaggingClassifier / Regressor."""

import copy
import numbers
from warnings import warn

import numpy as np
from sklearn.ensemble import BaggingClassifier, BaggingRegressor
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils import check_random_state
from sklearn.utils.metadata_routing import process_routing
from sklearn.utils.metaestimators import available_if
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.random import sample_without_replacement
from sklearn.utils.validation import check_consistent_length, check_is_fitted

from skmm.ensemble._common import (
    RAW,
    check_ensemble_input,
    check_target,
    drop_encoded_columns,
    fill_doc,
)
from skmm.exceptions import InvalidSampleError
from skmm.utils._sklearn_compat import (
    Interval,
    RealNotInt,
    StrOptions,
    _check_method_params,
    _check_sample_weight,
    _estimator_has,
    _fit_context,
    _get_n_samples_bootstrap,
    _manual_routing,
    _num_samples,
    _partition_estimators,
    _raise_for_params,
    _routing_enabled,
    get_routing_for_object,
    indices_to_mask,
)

__all__ = ["ModalityBaggingClassifier", "ModalityBaggingRegressor"]

MAX_INT = np.iinfo(np.int32).max

#: scikit-learn common checks expected to fail, with their reason.
_EXPECTED_FAILED_CHECKS = dict.fromkeys(
    (
        "check_sample_weight_equivalence_on_dense_data",
        "check_sample_weight_equivalence_on_sparse_data",
    ),
    "sample_weight gives the probabilities of drawing the bootstrap rows (as in "
    "scikit-learn's Bagging), which is not equivalent to removing/repeating "
    "samples for a finite number of members.",
)

_PARAMS = """
    estimator : object, default=None
        The base estimator fitted on each bootstrap sample. On a raw table this
        is typically a ``Pipeline(MultimodalEncoder, classifier)``; on an
        encoded matrix any estimator (a fusion network, a gradient boosting
        model). ``None`` means a decision tree (numeric input only).
    n_estimators : int, default=10
        The number of members.
    max_samples : int or float, default=None
        Rows drawn for each member (with replacement by default, see
        ``bootstrap``), as in :class:`~sklearn.ensemble.BaggingClassifier`:
        None draws ``n_samples`` rows, an int that many, a float that fraction.
    max_features : int or float, default=1.0
        Columns drawn for each member *within its modalities* (encoded input
        only): a float is a fraction of the member's columns, an int a number
        of columns (capped by the member's columns). Raw tables are sampled by
        whole modalities only, so this must stay 1.0 there.
    bootstrap : bool, default=True
        Whether rows are drawn with replacement.
    bootstrap_features : bool, default=False
        Whether the columns within a member's modalities are drawn with
        replacement (encoded input only).
    oob_score : bool, default=False
        Whether to estimate the generalization score on out-of-bag rows; members
        abstain on out-of-bag rows exactly as at predict time.
    warm_start : bool, default=False
        Reuse the members of the previous fit and add more.
    max_modalities : int or float, default=1.0
        Modalities drawn (without replacement) for each member: an int is a
        number of modalities, a float a fraction ``max(1, int(max_modalities *
        n_modalities))``. The default gives every member every modality.
    modalities : dict, default=None
        Explicit layout ``{modality name: columns}``. For an encoded matrix,
        column positions, a slice, a mask or names (see
        :func:`~skmm.utils.resolve_modalities`); by default the
        ``"{modality}__"`` prefixes of the column names, or a single block
        ``"features"``. For a raw table, column names or positions (see
        :func:`~skmm.utils.resolve_table_modalities`); by default every column
        is a modality.
    vote : {"complete", "available"}, default="complete"
        Which members vote for a sample. ``"complete"``: the members whose
        modalities are all present for the sample; a sample without such a
        member falls back to ``"available"``. ``"available"``: the members with
        at least one of their modalities present (they must handle missing
        modalities, as ``MultimodalEncoder`` pipelines and fusion networks
        do). A member none of whose modalities is present never votes; a
        sample that no member can vote for raises
        :class:`~skmm.exceptions.InvalidSampleError` naming it.
    n_jobs : int, default=None
        Members fitted and predicted in parallel (joblib); the results equal
        those of ``n_jobs=1`` (every member's randomness comes from a seed
        drawn before the parallel loop).
    random_state : int, RandomState instance or None, default=None
        Seeds the draws of rows, modalities and columns, and the
        ``random_state`` parameters of every member (also nested ones, e.g. a
        fusion network inside a pipeline).
    verbose : int, default=0
        Verbosity of fitting and predicting.
"""

_ATTRIBUTES = """
    estimator_ : estimator
        The base estimator from which the members are cloned.
    estimators_ : list of estimators
        The fitted members.
    estimators_samples_ : list of ndarray
        In-bag row indices drawn for each member (with repeats when
        bootstrapping); the rows where none of the member's modalities is
        present are left out of its fit.
    estimators_features_ : list of ndarray
        Column positions each member uses: the drawn columns of its modalities
        for an encoded matrix, the columns of its modalities for a raw table.
    estimators_modalities_ : list of tuple of str
        The modalities of each member.
    modalities_ : dict
        Modality layout of ``X``: column positions (encoded matrix) or raw
        column keys (raw table) per modality.
    n_features_in_ : int
        Number of columns of ``X`` seen in fit.
    feature_names_in_ : ndarray of str
        Column names of ``X`` seen in fit (when they are all strings).
"""

_NOTES = """
    **Two kinds of input.** An *encoded* numeric matrix (e.g. the output of
    :class:`~skmm.compose.MultimodalEncoder`, or
    :func:`~skmm.datasets.make_multimodal_classification`) is validated like
    scikit-learn does and each member receives the sub-matrix of its drawn
    columns; when ``X`` has column names the members get a DataFrame with those
    names, so a fusion network still sees its ``"{modality}__"`` blocks. A
    *raw* table (a DataFrame with text/path/array columns, a dict of columns, an
    object array) is never converted: every member receives the whole table,
    with the cells of the modalities it did not draw set to ``None`` (missing),
    and any :class:`~skmm.compose.MultimodalEncoder` inside the member gets
    those modalities' encoders set to ``"drop"`` (an encoder cannot be fitted on
    a column that is missing for every sample). So a full
    ``Pipeline(MultimodalEncoder, FusionClassifier)`` works as the base
    estimator.

    **Abstention.** At predict time (and for the out-of-bag estimate) a member
    votes only for the samples where its modalities are present (see
    ``vote``). Predictions average over the voting members, so the ensemble
    degrades gracefully when modalities go missing: members trained without the
    missing modality keep voting with the information they were trained on.

    **Sample weights.** As in scikit-learn, a base estimator whose ``fit``
    takes ``sample_weight`` receives the full ``X`` and the bootstrap counts as
    weights (0 = out of bag); any other estimator (e.g. a ``Pipeline``) is
    fitted on the drawn rows. A member that ignored its weights would be a copy
    of the others: check that your estimator honours them. In both cases the
    rows where none of the member's modalities is present are left out of its
    fit (they carry nothing for it).
"""


class _ModalityBaggingMixin:
    """Modality sampling, raw tables and abstention on top of BaseBagging."""

    def _check_modality_params(self, inp):
        n_modalities = len(inp.layout)
        if isinstance(self.max_modalities, numbers.Integral):
            if self.max_modalities > n_modalities:
                raise ValueError(
                    f"max_modalities={self.max_modalities} exceeds the number of "
                    f"modalities in X ({n_modalities}: {list(inp.layout)})."
                )
            k = int(self.max_modalities)
        else:
            k = max(1, int(self.max_modalities * n_modalities))
        self._n_modalities_drawn = k
        if inp.kind == RAW:
            if self.max_features != 1.0 or self.bootstrap_features:
                raise ValueError(
                    "A raw table is sampled by whole modalities: use max_modalities, "
                    "and keep max_features=1.0 and bootstrap_features=False."
                )
            if self.estimator is None:
                raise ValueError(
                    "X is a raw multimodal table; pass an estimator that encodes it, "
                    "e.g. make_pipeline(MultimodalEncoder([...]), "
                    "LogisticRegression())."
                )
            self._max_features = None
        else:
            if isinstance(self.max_features, numbers.Integral):
                if self.max_features > self.n_features_in_:
                    raise ValueError("max_features must be <= n_features")
                self._max_features = int(self.max_features)
            else:
                self._max_features = float(self.max_features)

    def _draw(self, seed):
        """Modalities, columns and rows of one member, reproducible from its seed."""
        rng = check_random_state(seed)
        names = list(self.modalities_)
        n_modalities = len(names)
        if self._n_modalities_drawn < n_modalities:
            mods = np.sort(
                sample_without_replacement(
                    n_modalities, self._n_modalities_drawn, random_state=rng
                )
            )
        else:
            mods = np.arange(n_modalities)
        if self._input_kind == RAW:
            position = {key: j for j, key in enumerate(self._raw_columns)}
            features = np.sort(
                [position[key] for m in mods for key in self.modalities_[names[m]]]
            )
        else:
            candidates = np.sort(
                np.concatenate([self.modalities_[names[m]] for m in mods])
            )
            if isinstance(self._max_features, int):
                n_features = min(self._max_features, candidates.size)
            else:
                n_features = max(1, int(self._max_features * candidates.size))
            if n_features == candidates.size and not self.bootstrap_features:
                features = candidates
            elif self.bootstrap_features:
                features = np.sort(
                    candidates[rng.randint(0, candidates.size, n_features)]
                )
            else:
                features = np.sort(
                    candidates[
                        sample_without_replacement(
                            candidates.size, n_features, random_state=rng
                        )
                    ]
                )
        if self._sample_weight is None:
            if self.bootstrap:
                samples = rng.randint(0, self._n_samples, self._max_samples)
            else:
                samples = sample_without_replacement(
                    self._n_samples, self._max_samples, random_state=rng
                )
        else:
            p = self._sample_weight / np.sum(self._sample_weight)
            samples = rng.choice(
                self._n_samples, self._max_samples, replace=self.bootstrap, p=p
            )
        return mods, features, samples

    def _get_estimators_indices(self):
        for seed in self._seeds:
            _, features, samples = self._draw(seed)
            yield features, samples

    # -- fit ------------------------------------------------------------------
    def _fit_modal(self, X, y, sample_weight, fit_params):
        _raise_for_params(fit_params, self, "fit")
        inp = check_ensemble_input(self, X, reset=True, modalities=self.modalities)
        y = check_target(self, y)
        check_consistent_length(inp.data, y)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, inp.data, dtype=None)
            if not self.bootstrap:
                warn(
                    f"When fitting {type(self).__name__} with sample_weight it is "
                    f"recommended to use bootstrap=True, got {self.bootstrap}."
                )
        return self._fit(
            inp,
            y,
            max_samples=self.max_samples,
            sample_weight=sample_weight,
            **fit_params,
        )

    def _fit(
        self,
        X,
        y,
        max_samples=None,
        max_depth=None,
        check_input=True,
        sample_weight=None,
        **fit_params,
    ):
        """Build the ensemble from a validated ModalInput ``X``."""
        inp = X
        random_state = check_random_state(self.random_state)
        self._n_samples = n_samples = inp.n_samples
        y = self._validate_y(y)
        self._validate_estimator(self._get_estimator())
        self._check_modality_params(inp)
        self._raw_columns = (
            list(inp.data.columns) if hasattr(inp.data, "columns") else None
        )
        if inp.kind == RAW and self._raw_columns is None:
            self._raw_columns = list(range(inp.data.shape[1]))
        if _routing_enabled():
            routed_params = process_routing(self, "fit", **fit_params)
        else:
            routed_params = _manual_routing({"estimator": {"fit": fit_params}})
        if max_depth is not None:
            self.estimator_.max_depth = max_depth
        if max_samples is None:
            max_samples = self.max_samples
        max_samples = _get_n_samples_bootstrap(n_samples, max_samples, sample_weight)
        if not self.bootstrap and max_samples > n_samples:
            raise ValueError(
                f"Effective max_samples={max_samples} must be <= n_samples="
                f"{n_samples} to be able to sample without replacement."
            )
        self._max_samples = max_samples
        self._sample_weight = sample_weight
        if not self.bootstrap and self.oob_score:
            raise ValueError("Out of bag estimation only available if bootstrap=True")
        if self.warm_start and self.oob_score:
            raise ValueError("Out of bag estimate only available if warm_start=False")
        if hasattr(self, "oob_score_") and self.warm_start:
            del self.oob_score_
        if not self.warm_start or not hasattr(self, "estimators_"):
            self.estimators_ = []
            self.estimators_features_ = []
            self.estimators_modalities_ = []
            self._seeds = np.empty(0, dtype=np.int64)
        n_more = self.n_estimators - len(self.estimators_)
        if n_more < 0:
            raise ValueError(
                f"n_estimators={self.n_estimators} must be larger or equal to "
                f"len(estimators_)={len(self.estimators_)} when warm_start==True"
            )
        if n_more == 0:
            warn(
                "Warm-start fitting without increasing n_estimators does not "
                "fit new trees."
            )
            return self
        n_jobs, _, starts = _partition_estimators(n_more, self.n_jobs)
        if self.warm_start and len(self.estimators_) > 0:
            random_state.randint(MAX_INT, size=len(self.estimators_))
        seeds = random_state.randint(MAX_INT, size=n_more)
        self._seeds = np.concatenate([self._seeds, seeds])
        inp.presence()  # computed once, shared with the parallel jobs
        results = Parallel(n_jobs=n_jobs, verbose=self.verbose)(
            delayed(_build_members)(
                self,
                inp,
                y,
                seeds[starts[i] : starts[i + 1]],
                routed_params.estimator.fit,
            )
            for i in range(n_jobs)
        )
        names = list(self.modalities_)
        for members in results:
            for estimator, mods, features in members:
                self.estimators_.append(estimator)
                self.estimators_modalities_.append(tuple(names[m] for m in mods))
                self.estimators_features_.append(features)
        if self.oob_score:
            self._set_oob_score(inp, y)
        return self

    # -- votes ------------------------------------------------------------------
    def _member_modality_index(self):
        names = list(self.modalities_)
        return [
            np.asarray([names.index(m) for m in mods], dtype=np.intp)
            for mods in self.estimators_modalities_
        ]

    def _vote_mask(self, inp, restrict=None, on_empty="raise"):
        """Which member votes for which sample.

        Returns
        -------
        votes : ndarray of shape (n_members, n_samples), dtype=bool
        gaps : ndarray of shape (n_members,), dtype=bool
            Whether the member votes for a sample where some of its modalities
            are missing (it must then handle missing modalities).
        """
        presence = inp.presence()
        n_members = len(self.estimators_)
        if restrict is None and presence.all():
            votes = np.ones((n_members, inp.n_samples), dtype=bool)
            return votes, np.zeros(n_members, dtype=bool)
        index = self._member_modality_index()
        complete = np.stack([presence[:, mods].all(axis=1) for mods in index])
        available = np.stack([presence[:, mods].any(axis=1) for mods in index])
        if restrict is not None:
            complete &= restrict
            available &= restrict
        if self.vote == "complete":
            votes = complete | (available & ~complete.any(axis=0))
        else:
            votes = available
        empty = np.flatnonzero(~votes.any(axis=0))
        if empty.size and on_empty == "raise":
            i = int(empty[0])
            names = list(self.modalities_)
            present = [m for m, p in zip(names, presence[i]) if p]
            raise InvalidSampleError(
                "every member of the ensemble abstains: none of the modalities its "
                f"members use is present (present: {present})"
                + (f"; {empty.size} samples affected" if empty.size > 1 else ""),
                index=i,
            )
        return votes, (votes & ~complete).any(axis=1)

    def _member_views(self):
        """Per member: numeric columns (None = all) or raw keys to mask."""
        views = []
        names = list(self.modalities_)
        for mods, features in zip(
            self.estimators_modalities_, self.estimators_features_
        ):
            if self._input_kind == RAW:
                views.append(
                    [k for m in names if m not in mods for k in self.modalities_[m]]
                )
            elif features.size == self.n_features_in_ and np.array_equal(
                features, np.arange(self.n_features_in_)
            ):
                views.append(None)
            else:
                views.append(features)
        return views

    def _aggregate(self, inp, votes, method, params):
        """Sum of the members' ``method`` outputs over their votes, in parallel."""
        votes, gaps = votes
        n_jobs, _, starts = _partition_estimators(len(self.estimators_), self.n_jobs)
        views = self._member_views()
        n_outputs = self.n_classes_ if method == "proba" else None
        parts = Parallel(n_jobs=n_jobs, verbose=self.verbose)(
            delayed(_sum_predictions)(
                self.estimators_[starts[i] : starts[i + 1]],
                views[starts[i] : starts[i + 1]],
                votes[starts[i] : starts[i + 1]],
                [
                    self.estimators_modalities_[k] if gaps[k] else None
                    for k in range(starts[i], starts[i + 1])
                ],
                inp,
                method,
                n_outputs,
                params,
            )
            for i in range(n_jobs)
        )
        total = parts[0]
        for part in parts[1:]:
            total = total + part
        return total


def _member_input(inp, view, rows):
    sub = inp.rows(rows)
    if inp.kind == RAW:
        return sub.masked(view)
    return sub.numeric(view)


def _build_members(ensemble, inp, y, seeds, fit_params):
    """Fit the members of one parallel job."""
    estimator_ = ensemble.estimator_
    if _routing_enabled():
        consumes = get_routing_for_object(estimator_).consumes(
            "fit", ("sample_weight",)
        )
    else:
        from sklearn.utils.validation import has_fit_parameter

        consumes = has_fit_parameter(estimator_, "sample_weight")
    names = list(ensemble.modalities_)
    members = []
    for i, seed in enumerate(seeds):
        if ensemble.verbose > 1:
            print(f"Building member {i + 1} of {len(seeds)} for this parallel run...")
        estimator = ensemble._make_estimator(append=False, random_state=seed)
        mods, features, samples = ensemble._draw(seed)
        if inp.kind == RAW:
            dropped = [
                k
                for j, m in enumerate(names)
                if j not in mods
                for k in ensemble.modalities_[m]
            ]
            drop_encoded_columns(estimator, inp.data, dropped)
            view = dropped
        else:
            full = features.size == ensemble.n_features_in_ and np.array_equal(
                features, np.arange(ensemble.n_features_in_)
            )
            view = None if full else features
        # Rows where none of the member's modalities is present carry nothing
        # for it (and a fusion network rejects them): leave them out.
        usable = inp.presence()[:, mods].any(axis=1)
        if not usable[samples].any():
            raise ValueError(
                f"A member drawn with the modalities {[names[m] for m in mods]} has "
                "no bootstrap sample where one of them is present; raise "
                "max_modalities or max_samples."
            )
        if consumes:
            counts = np.bincount(samples, minlength=inp.n_samples)
            rows = None if usable.all() else np.flatnonzero(usable)
            if rows is not None:
                counts = counts[rows]
                fit_params = _check_method_params(inp.data, fit_params, indices=rows)
            params = {**fit_params, "sample_weight": counts}
            estimator.fit(
                _member_input(inp, view, rows), y if rows is None else y[rows], **params
            )
        else:
            samples = samples[usable[samples]]
            params = _check_method_params(inp.data, params=fit_params, indices=samples)
            estimator.fit(_member_input(inp, view, samples), y[samples], **params)
        members.append((estimator, mods, features))
    return members


def _sum_predictions(estimators, views, votes, gaps, inp, method, n_outputs, params):
    total = None
    for estimator, view, vote, gap in zip(estimators, views, votes, gaps):
        rows = np.flatnonzero(vote)
        if rows.size == 0:
            continue
        X_ = _member_input(inp, view, None if rows.size == inp.n_samples else rows)
        try:
            out = _predict_member(estimator, X_, method, n_outputs, params)
        except ValueError as exc:
            if gap is None:
                raise
            raise ValueError(
                f"A member using the modalities {list(gap)} failed on samples where "
                "some of them are missing (no member had all its modalities present "
                "for these samples, so members that see part of them vote): "
                f"{exc}\nUse a base estimator that handles missing modalities (e.g. "
                "a MultimodalEncoder pipeline, HistGradientBoosting, a fusion "
                "network), or more members so that every sample has one whose "
                "modalities are all present."
            ) from exc
        if total is None:
            total = np.zeros((inp.n_samples, *out.shape[1:]))
        total[rows] += out
    if total is None:
        shape = (inp.n_samples, n_outputs) if n_outputs else (inp.n_samples,)
        total = np.zeros(shape)
    return total


def _predict_member(estimator, X_, method, n_outputs, params):
    n = _num_samples(X_)
    if method == "proba":
        out = np.zeros((n, n_outputs))
        if hasattr(estimator, "predict_proba"):
            proba = estimator.predict_proba(X_, **params.get("predict_proba", {}))
            out[:, estimator.classes_] = proba
        else:
            pred = estimator.predict(X_, **params.get("predict", {}))
            out[np.arange(n), np.asarray(pred, dtype=np.intp)] = 1.0
        return out
    if method == "decision_function":
        return np.asarray(estimator.decision_function(X_, **params))
    return np.asarray(estimator.predict(X_, **params), dtype=np.float64)


def _bagging_constraints():
    constraints = copy.deepcopy(BaggingClassifier._parameter_constraints)
    constraints.update(
        max_modalities=[
            Interval(numbers.Integral, 1, None, closed="left"),
            Interval(RealNotInt, 0, 1, closed="right"),
        ],
        modalities=[dict, None],
        vote=[StrOptions({"complete", "available"})],
    )
    return constraints


@fill_doc(params=_PARAMS, attributes=_ATTRIBUTES, notes=_NOTES)
class ModalityBaggingClassifier(_ModalityBaggingMixin, BaggingClassifier):
    """A Bagging classifier that samples whole modalities and abstains on gaps.

    Each member is fitted on a bootstrap sample of the rows and a random subset
    of whole modalities (``max_modalities``) instead of single columns. Raw
    multimodal tables reach the members intact (column names kept), so a
    ``Pipeline(MultimodalEncoder, FusionClassifier)`` works as the base
    estimator; encoded matrices keep their ``"{modality}__"`` column names. At
    predict time a member whose modalities are missing for a sample abstains
    for that sample, so the ensemble degrades gracefully as modalities go
    missing. All parameters of :class:`~sklearn.ensemble.BaggingClassifier`
    keep working.

    Parameters
    ----------
    $params

    Attributes
    ----------
    $attributes
    classes_ : ndarray of shape (n_classes,)
        The class labels.
    n_classes_ : int
        The number of classes.
    oob_score_ : float
        Out-of-bag accuracy, over the samples with at least one out-of-bag vote.
        Exists when ``oob_score=True``.
    oob_decision_function_ : ndarray of shape (n_samples, n_classes)
        Out-of-bag class probabilities (NaN rows for samples that no member
        could vote for out of bag). Exists when ``oob_score=True``.

    See Also
    --------
    sklearn.ensemble.BaggingClassifier : The parent class.
    ModalityBaggingRegressor : The regression variant.
    MultimodalAdaBoostClassifier : Boosting over modality experts.

    Notes
    -----
    $notes

    References
    ----------
    .. [1] L. Breiman, "Bagging predictors", Machine Learning, 24(2), 123-140,
           1996.
    .. [2] G. Louppe and P. Geurts, "Ensembles on Random Patches", ECML PKDD,
           346-361, 2012.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skmm.datasets import make_multimodal_classification
    >>> from skmm.ensemble import ModalityBaggingClassifier
    >>> X, y = make_multimodal_classification(n_samples=200, random_state=0)
    >>> bag = ModalityBaggingClassifier(LogisticRegression(), n_estimators=6,
    ...                                 max_modalities=2, random_state=1)
    >>> bag = bag.fit(X[:150], y[:150])
    >>> bag.estimators_modalities_[:3]
    [('image', 'audio'), ('image', 'audio'), ('text', 'image')]
    >>> X_gap = X[150:].copy()  # audio missing for every test sample:
    >>> X_gap[[c for c in X.columns if c.startswith("audio__")]] = np.nan
    >>> # the members that use audio abstain
    >>> float(bag.score(X[150:], y[150:])), float(bag.score(X_gap, y[150:]))
    (0.88, 0.88)
    """

    _parameter_constraints = _bagging_constraints()
    _EXPECTED_FAILED_CHECKS = _EXPECTED_FAILED_CHECKS

    def __init__(
        self,
        estimator=None,
        n_estimators=10,
        *,
        max_samples=None,
        max_features=1.0,
        bootstrap=True,
        bootstrap_features=False,
        oob_score=False,
        warm_start=False,
        max_modalities=1.0,
        modalities=None,
        vote="complete",
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        super().__init__(
            estimator=estimator,
            n_estimators=n_estimators,
            max_samples=max_samples,
            max_features=max_features,
            bootstrap=bootstrap,
            bootstrap_features=bootstrap_features,
            oob_score=oob_score,
            warm_start=warm_start,
            n_jobs=n_jobs,
            random_state=random_state,
            verbose=verbose,
        )
        self.max_modalities = max_modalities
        self.modalities = modalities
        self.vote = vote

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None, **fit_params):
        """Build the ensemble from the training set (X, y).

        Parameters
        ----------
        X : DataFrame, dict, ndarray or sparse matrix of shape (n_samples, n_columns)
            A raw multimodal table or an encoded numeric matrix.
        y : array-like of shape (n_samples,)
            The class labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Used as probabilities to draw the bootstrap rows (as in
            scikit-learn).
        **fit_params : dict
            Passed to the members' ``fit`` (with metadata routing enabled).

        Returns
        -------
        self : ModalityBaggingClassifier
        """
        return self._fit_modal(X, y, sample_weight, fit_params)

    def _routed(self, method, params):
        if _routing_enabled():
            routed = process_routing(self, method, **params)
            return {
                "predict": routed.estimator.get("predict", {}),
                "predict_proba": routed.estimator.get("predict_proba", {}),
            }
        return {}

    def predict_proba(self, X, **params):
        """Class probabilities: the mean over the members that vote.

        Members without ``predict_proba`` count as one vote for their predicted
        class.

        Parameters
        ----------
        X : DataFrame, dict, ndarray or sparse matrix of shape (n_samples, n_columns)
            The same kind of input as in fit; missing modalities allowed.
        **params : dict
            Routed to the members (with metadata routing enabled).

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns ordered as ``classes_``.
        """
        _raise_for_params(params, self, "predict_proba")
        check_is_fitted(self)
        inp = check_ensemble_input(self, X, reset=False, modalities=self.modalities)
        votes = self._vote_mask(inp)
        params = self._routed("predict_proba", params)
        total = self._aggregate(inp, votes, "proba", params)
        return total / votes[0].sum(axis=0)[:, np.newaxis]

    def predict_log_proba(self, X, **params):
        """Log of :meth:`predict_proba`.

        Parameters
        ----------
        X : DataFrame, dict, ndarray or sparse matrix of shape (n_samples, n_columns)
            The same kind of input as in fit.
        **params : dict
            Routed to the members (with metadata routing enabled).

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X, **params))

    @available_if(
        _estimator_has("decision_function", delegates=("estimators_", "estimator"))
    )
    def decision_function(self, X, **params):
        """Mean decision function over the members that vote.

        Parameters
        ----------
        X : DataFrame, dict, ndarray or sparse matrix of shape (n_samples, n_columns)
            The same kind of input as in fit.
        **params : dict
            Routed to the members (with metadata routing enabled).

        Returns
        -------
        score : ndarray of shape (n_samples,) or (n_samples, n_classes)
        """
        _raise_for_params(params, self, "decision_function")
        check_is_fitted(self)
        inp = check_ensemble_input(self, X, reset=False, modalities=self.modalities)
        for est in self.estimators_:
            if len(est.classes_) != self.n_classes_:
                raise ValueError(
                    "A member was fitted on a bootstrap sample lacking a class, so "
                    "its decision function cannot be averaged; use predict_proba."
                )
        params = (
            process_routing(self, "decision_function", **params).estimator.get(
                "decision_function", {}
            )
            if _routing_enabled()
            else {}
        )
        votes = self._vote_mask(inp)
        total = self._aggregate(inp, votes, "decision_function", params)
        counts = votes[0].sum(axis=0)
        return total / (counts if total.ndim == 1 else counts[:, np.newaxis])

    def _set_oob_score(self, X, y):
        inp = X
        n_samples = y.shape[0]
        restrict = np.stack(
            [~indices_to_mask(s, n_samples) for s in self.estimators_samples_]
        )
        votes = self._vote_mask(inp, restrict=restrict, on_empty="ignore")
        total = self._aggregate(inp, votes, "proba", {})
        counts = votes[0].sum(axis=0)
        covered = counts > 0
        if not covered.all():
            warn(
                "Some inputs do not have OOB scores. This probably means too few "
                "estimators were used to compute any reliable oob estimates."
            )
        with np.errstate(invalid="ignore", divide="ignore"):
            self.oob_decision_function_ = total / counts[:, np.newaxis]
        self.oob_score_ = accuracy_score(y[covered], np.argmax(total[covered], axis=1))


@fill_doc(params=_PARAMS, attributes=_ATTRIBUTES, notes=_NOTES)
class ModalityBaggingRegressor(_ModalityBaggingMixin, BaggingRegressor):
    """A Bagging regressor that samples whole modalities and abstains on gaps.

    The regression variant of :class:`ModalityBaggingClassifier`: members are
    fitted on bootstrap rows and random subsets of whole modalities; raw tables
    keep their column names; a member whose modalities are missing for a sample
    abstains, and the prediction is the mean over the voting members.

    Parameters
    ----------
    $params

    Attributes
    ----------
    $attributes
    oob_score_ : float
        Out-of-bag R^2, over the samples with at least one out-of-bag vote.
        Exists when ``oob_score=True``.
    oob_prediction_ : ndarray of shape (n_samples,)
        Out-of-bag predictions (NaN for samples that no member could vote for
        out of bag). Exists when ``oob_score=True``.

    See Also
    --------
    sklearn.ensemble.BaggingRegressor : The parent class.
    ModalityBaggingClassifier : The classification variant.

    Notes
    -----
    $notes

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import Ridge
    >>> from skmm.datasets import make_multimodal_classification
    >>> from skmm.ensemble import ModalityBaggingRegressor
    >>> X, y = make_multimodal_classification(n_samples=100, random_state=0)
    >>> target = X["text__f0"].to_numpy() + X["audio__f1"].to_numpy()
    >>> reg = ModalityBaggingRegressor(Ridge(), n_estimators=4, max_modalities=2,
    ...                                random_state=0).fit(X, target)
    >>> reg.predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints = _bagging_constraints()
    _EXPECTED_FAILED_CHECKS = _EXPECTED_FAILED_CHECKS

    def __init__(
        self,
        estimator=None,
        n_estimators=10,
        *,
        max_samples=None,
        max_features=1.0,
        bootstrap=True,
        bootstrap_features=False,
        oob_score=False,
        warm_start=False,
        max_modalities=1.0,
        modalities=None,
        vote="complete",
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        super().__init__(
            estimator=estimator,
            n_estimators=n_estimators,
            max_samples=max_samples,
            max_features=max_features,
            bootstrap=bootstrap,
            bootstrap_features=bootstrap_features,
            oob_score=oob_score,
            warm_start=warm_start,
            n_jobs=n_jobs,
            random_state=random_state,
            verbose=verbose,
        )
        self.max_modalities = max_modalities
        self.modalities = modalities
        self.vote = vote

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None, **fit_params):
        """Build the ensemble from the training set (X, y).

        Parameters
        ----------
        X : DataFrame, dict, ndarray or sparse matrix of shape (n_samples, n_columns)
            A raw multimodal table or an encoded numeric matrix.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Used as probabilities to draw the bootstrap rows.
        **fit_params : dict
            Passed to the members' ``fit`` (with metadata routing enabled).

        Returns
        -------
        self : ModalityBaggingRegressor
        """
        return self._fit_modal(X, y, sample_weight, fit_params)

    def predict(self, X, **params):
        """Mean prediction over the members that vote.

        Parameters
        ----------
        X : DataFrame, dict, ndarray or sparse matrix of shape (n_samples, n_columns)
            The same kind of input as in fit; missing modalities allowed.
        **params : dict
            Routed to the members' ``predict`` (with metadata routing enabled).

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        _raise_for_params(params, self, "predict")
        check_is_fitted(self)
        inp = check_ensemble_input(self, X, reset=False, modalities=self.modalities)
        params = (
            process_routing(self, "predict", **params).estimator.get("predict", {})
            if _routing_enabled()
            else {}
        )
        votes = self._vote_mask(inp)
        total = self._aggregate(inp, votes, "predict", params)
        counts = votes[0].sum(axis=0)
        return total / (counts if total.ndim == 1 else counts[:, np.newaxis])

    def _set_oob_score(self, X, y):
        inp = X
        n_samples = y.shape[0]
        restrict = np.stack(
            [~indices_to_mask(s, n_samples) for s in self.estimators_samples_]
        )
        votes = self._vote_mask(inp, restrict=restrict, on_empty="ignore")
        total = self._aggregate(inp, votes, "predict", {})
        counts = votes[0].sum(axis=0)
        covered = counts > 0
        if not covered.all():
            warn(
                "Some inputs do not have OOB scores. This probably means too few "
                "estimators were used to compute any reliable oob estimates."
            )
        with np.errstate(invalid="ignore", divide="ignore"):
            self.oob_prediction_ = total / (
                counts if total.ndim == 1 else counts[:, np.newaxis]
            )
        self.oob_score_ = r2_score(y[covered], self.oob_prediction_[covered])
