"""Bagging over whole modalities: ModalityBaggingClassifier / Regressor."""

import copy
import functools
import inspect
import numbers
from warnings import warn

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.ensemble import BaggingClassifier, BaggingRegressor
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils.metadata_routing import process_routing
from sklearn.utils.metaestimators import available_if
from sklearn.utils.random import sample_without_replacement
from sklearn.utils.validation import check_is_fitted

from skmm.ensemble._common import (
    RAW,
    ModalInput,
    check_ensemble_input,
    drop_encoded_columns,
    fill_doc,
    sum_member_outputs,
)
from skmm.exceptions import InvalidSampleError
from skmm.utils import modality_presence, table_presence
from skmm.utils._contract import user_rows
from skmm.utils._sklearn_compat import (
    Interval,
    RealNotInt,
    StrOptions,
    _check_method_params,
    _fit_context,
    _raise_for_params,
    _routing_enabled,
    _safe_indexing,
)

__all__ = ["ModalityBaggingClassifier", "ModalityBaggingRegressor"]

#: The default of ``max_samples`` in the installed scikit-learn (None since 1.8,
#: 1.0 before: both draw ``n_samples`` rows without sample weights).
_MAX_SAMPLES_DEFAULT = (
    inspect.signature(BaggingClassifier).parameters["max_samples"].default
)

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
        The default is the installed scikit-learn's (None; 1.0 before 1.8).
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
    member_params : dict of str to list, default=None
        Parameters of the base estimator drawn for each member from its own
        seed, e.g. ``{"fusion": ["early", "late", "gated"]}`` for a random
        fusion type per network, or ``{"hidden_size": [16, 32, 64]}``: one
        value per key, uniformly. Diversity that matters for networks, on top
        of rows, modalities and seeds (with ``bootstrap=False``, the members
        then differ only by their draws and seeds).
    n_jobs : int, default=None
        Members fitted and predicted in parallel (joblib; prediction in
        threads, which torch forward passes and numpy run in parallel without
        copying the members); the results equal those of ``n_jobs=1`` (every
        member's randomness comes from a seed drawn before the parallel loop,
        and predictions are summed in member order).
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
    estimators_params_ : list of dict
        The ``member_params`` values drawn for each member (empty dicts
        without ``member_params``).
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


class _BaggedMember:
    """What the parent's member loop fits: one member and its modality view.

    :class:`~sklearn.ensemble.BaggingClassifier` fits whatever
    ``_make_estimator`` returns on the rows it drew (bootstrap counts as
    ``sample_weight``, or the drawn rows) and on the columns it drew. This
    adapter turns that into the member's view: the columns of its modalities
    (with their names), the cells of its other modalities masked on a raw table
    (and their encoders dropped), and only the rows where one of its modalities
    is present. The ensemble unwraps it right after fit: ``estimators_`` holds
    the fitted base estimators, as in scikit-learn.
    """

    def __init__(self, estimator, view, modalities, drawn, samples=None):
        self.estimator = estimator
        self.view = view
        self.modalities = modalities
        self.drawn = drawn  # columns of X the parent hands over (None = all)
        self.samples = samples  # rows the parent drew for this member

    def _positions(self, X, sample_weight):
        """Rows of the user's X that ``X`` holds (None: all, in order).

        The parent hands over either the whole X with the bootstrap counts as
        weights, or the drawn rows; False when neither matches (then the
        member's errors keep their own sample numbers).
        """
        n, n_total, samples = _num_rows(X), len(self.view.index), self.samples
        if samples is None:
            return None if n == n_total else False
        if n == n_total and sample_weight is not None:
            counts = np.bincount(samples, minlength=n_total)
            if np.array_equal(np.asarray(sample_weight), counts):
                return None
        return samples if n == len(samples) else False

    def fit(self, X, y, sample_weight=None, **fit_params):
        view, n = self.view, _num_rows(X)
        positions = self._positions(X, sample_weight)
        if positions is None:
            index = view.index
        elif positions is False:
            index = None
        else:
            index = view.index[positions]
        if view.kind == RAW:
            table = view.table(X, index)
            dropped = view.other_keys(self.modalities)
            drop_encoded_columns(self.estimator, table, dropped)
            columns = None
            present = table_presence(table, view.sub_layout(self.modalities))
        else:
            drawn = np.arange(view.n_features) if self.drawn is None else self.drawn
            keep = np.flatnonzero(np.isin(drawn, view.columns_of(self.modalities)))
            columns = drawn[keep]
            if keep.size == drawn.size and np.array_equal(keep, np.arange(keep.size)):
                keep = None
            present = view.presence(X, columns, self.modalities, within=keep)
        usable = present.any(axis=1)
        if not usable.any():
            raise ValueError(
                f"A member drawn with the modalities {list(self.modalities)} has no "
                "bootstrap sample where one of them is present; raise "
                "max_modalities or max_samples."
            )
        rows = None if usable.all() else np.flatnonzero(usable)
        if view.kind == RAW:
            X_ = view.masked(table, dropped, rows)
        else:
            X_ = view.numeric(X, columns, rows, within=keep, index=index)
        if rows is not None:
            y = _safe_indexing(y, rows)
            if sample_weight is not None:
                sample_weight = np.asarray(sample_weight)[rows]
            fit_params = _check_method_params(
                np.empty((n, 0)), params=fit_params, indices=rows
            )
        if sample_weight is not None:
            fit_params["sample_weight"] = sample_weight
        # The member's errors name the user's rows (bootstrap positions mapped).
        if positions is False:
            positions, names = rows, None
        else:
            names = view.index
            if rows is not None:
                positions = rows if positions is None else positions[rows]
        with user_rows(positions, names):
            self.estimator.fit(X_, y, **fit_params)
        self.features_ = (
            np.asarray(view.columns_of(self.modalities)) if columns is None else columns
        )
        return self


class _MemberView:
    """How members see X: the layout and the names of its columns.

    Shared (read-only) by the fit adapters and the ensemble's prediction loop,
    so that a member sees the same view when fitted and when it predicts.
    """

    def __init__(
        self, kind, layout, n_features, names=None, raw_columns=None, index=None
    ):
        self.kind = kind
        self.layout = layout
        self.n_features = n_features
        self.names = names
        self.raw_columns = raw_columns
        self.index = index  # row labels of the user's X

    def columns_of(self, modalities):
        """Column positions of the given modalities, sorted."""
        if self.kind == RAW:
            keys = [k for m in modalities for k in self.layout[m]]
            if self.raw_columns is not None:
                keys = [self.raw_columns.index(k) for k in keys]
            return np.sort(np.asarray(keys, dtype=np.intp))
        return np.sort(np.concatenate([self.layout[m] for m in modalities]))

    def sub_layout(self, modalities):
        return {m: self.layout[m] for m in modalities}

    def other_keys(self, modalities):
        return [k for m in self.layout if m not in modalities for k in self.layout[m]]

    def table(self, X, index=None):
        """The raw table rebuilt from the array the parent validated.

        ``index``: the user's labels of its rows (by default those of the
        whole X, when ``X`` has all its rows).
        """
        if isinstance(X, pd.DataFrame) or self.raw_columns is None:
            return X
        if index is None and self.index is not None and len(self.index) == len(X):
            index = self.index
        return pd.DataFrame(X, columns=self.raw_columns, index=index, copy=False)

    def masked(self, table, keys, rows):
        inp = ModalInput(RAW, table, self.layout)
        return inp.rows(rows).masked(keys)

    def numeric(self, X, columns, rows, *, within=None, index=None):
        """Member sub-matrix: ``X`` holds ``columns`` at positions ``within``.

        ``index``: the user's labels of the rows of ``X`` (kept on a DataFrame).
        """
        if within is not None:
            X = X[:, within]
        if rows is not None:
            X = _safe_indexing(X, rows)
            index = None if index is None else index[rows]
        if self.names is None or sp.issparse(X) or X.ndim != 2:
            return X
        return pd.DataFrame(
            X, columns=list(self.names[columns]), index=index, copy=False
        )

    def presence(self, X, columns, modalities, *, within=None):
        """Presence of each modality over the member's own columns of it."""
        if sp.issparse(X) or X.ndim != 2:
            return np.ones((X.shape[0], len(modalities)), dtype=bool)
        sub = X if within is None else X[:, within]
        layout = {
            m: np.flatnonzero(np.isin(columns, self.layout[m])) for m in modalities
        }
        if sub.dtype.kind not in "fc":
            try:
                sub = sub.astype(np.float64)
            except (TypeError, ValueError):
                return np.ones((X.shape[0], len(modalities)), dtype=bool)
        return modality_presence(sub, layout, partial="present")


def _num_rows(X):
    return X.shape[0]


class _ModalityBaggingMixin:
    """Modality sampling, raw tables and abstention on top of BaseBagging.

    scikit-learn's ``BaseBagging.fit`` validates ``X``, draws the rows and
    columns of every member and fits them in parallel; this mixin only
    overrides its hooks: ``_validate_estimator`` (modality checks),
    ``_make_estimator`` (draws the member's modalities and wraps it in its
    view) and ``_set_oob_score`` (members abstain out of bag too).
    """

    def _fit_modal(self, X, y, sample_weight, fit_params):
        inp = check_ensemble_input(
            self,
            X,
            reset=True,
            modalities=self.modalities,
            ensure_all_finite=False,
            partial="present",
        )
        if inp.kind == RAW:
            table = inp.data
            raw_columns = list(table.columns) if hasattr(table, "columns") else None
            X = table
        else:
            raw_columns = None
        self._view = _MemberView(
            inp.kind,
            self.modalities_,
            self.n_features_in_,
            inp.names,
            raw_columns,
            inp.index,
        )
        try:
            # BaseBagging.fit validates X again (same checks: ensure_all_finite
            # False, sparse accepted), draws rows/columns and fits the members.
            super().fit(X, y, sample_weight=sample_weight, **fit_params)
        finally:
            self.__dict__.pop("_features_cache", None)
            self._view.index = None  # the training rows' labels: fit only
        self._unwrap_members()
        keys = sorted(self.member_params or {})
        self.estimators_params_ = [
            {key: member.get_params()[key] for key in keys}
            for member in self.estimators_
        ]
        return self

    # -- hooks of BaseBagging -------------------------------------------------
    def _validate_estimator(self, default=None):
        super()._validate_estimator(default)
        for key, values in (self.member_params or {}).items():
            if not isinstance(values, (list, tuple)) or not values:
                raise ValueError(
                    f"member_params[{key!r}] must be a non-empty list of values to "
                    f"draw from; got {values!r}."
                )
        n_modalities = len(self.modalities_)
        if isinstance(self.max_modalities, numbers.Integral):
            if self.max_modalities > n_modalities:
                raise ValueError(
                    f"max_modalities={self.max_modalities} exceeds the number of "
                    f"modalities in X ({n_modalities}: {list(self.modalities_)})."
                )
            self._n_modalities_drawn = int(self.max_modalities)
        else:
            self._n_modalities_drawn = max(1, int(self.max_modalities * n_modalities))
        if self._input_kind == RAW:
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

    def _make_estimator(self, append=True, random_state=None):
        estimator = super()._make_estimator(append=False, random_state=random_state)
        view = self._view
        drawn = None
        features, samples = self._drawn_indices(random_state)
        if self.bootstrap_features or self._max_features != self.n_features_in_:
            drawn = features
        names = list(self.modalities_)
        if view.kind == RAW or drawn is None:
            candidates = names
        else:
            candidates = [m for m in names if np.isin(self.modalities_[m], drawn).any()]
        k = min(self._n_modalities_drawn, len(candidates))
        if k < len(candidates):
            # An own stream, spawned from the member's seed: the parent draws
            # the member's columns and rows from that seed itself.
            rng = np.random.RandomState(
                np.random.SeedSequence(int(random_state)).spawn(1)[0].generate_state(1)
            )
            picked = np.sort(
                sample_without_replacement(len(candidates), k, random_state=rng)
            )
            candidates = [candidates[i] for i in picked]
        if self.member_params:
            # a third stream of the member's seed (0: modalities, 1: params)
            rng = np.random.RandomState(
                np.random.SeedSequence(int(random_state)).spawn(2)[1].generate_state(1)
            )
            estimator.set_params(
                **{
                    key: values[rng.randint(len(values))]
                    for key, values in sorted(self.member_params.items())
                }
            )
        member = _BaggedMember(estimator, view, tuple(candidates), drawn, samples)
        if append:
            self.estimators_.append(member)
        return member

    def _drawn_indices(self, seed):
        """The columns and rows BaseBagging draws for the member seeded ``seed``.

        (None, None) for a seed that is not one of this fit's members.
        """
        if seed is None or getattr(self, "_seeds", None) is None:
            return None, None
        cache = self.__dict__.get("_features_cache")
        if cache is None or cache[0] is not self._seeds:
            drawn = {
                int(s): (np.asarray(f), np.asarray(r))
                for s, (f, r) in zip(self._seeds, self._get_estimators_indices())
            }
            cache = self._features_cache = (self._seeds, drawn)
        return cache[1].get(int(seed), (None, None))

    def _unwrap_members(self):
        """Replace the fit adapters in ``estimators_`` by the fitted members."""
        members = self.estimators_
        first = next(
            (i for i, m in enumerate(members) if isinstance(m, _BaggedMember)), None
        )
        if first is None:
            return
        modalities = list(getattr(self, "estimators_modalities_", []))[:first]
        for i in range(first, len(members)):
            member = members[i]
            members[i] = member.estimator
            self.estimators_features_[i] = member.features_
            modalities.append(member.modalities)
        self.estimators_modalities_ = modalities

    def _input(self, X):
        return check_ensemble_input(
            self,
            X,
            reset=False,
            modalities=self.modalities,
            ensure_all_finite=False,
            partial="present",
        )

    def _oob_input(self, X):
        """The validated training X of BaseBagging as a ModalInput."""
        view = self._view
        data = view.table(X) if view.kind == RAW else X
        return ModalInput(
            view.kind, data, self.modalities_, view.names, "present", view.index
        )

    def _oob_votes(self, inp, n_samples):
        self._unwrap_members()
        restrict = np.ones((len(self.estimators_), n_samples), dtype=bool)
        for k, samples in enumerate(self.estimators_samples_):
            restrict[k, samples] = False
        return self._vote_mask(inp, restrict=restrict, on_empty="ignore")

    # -- votes ------------------------------------------------------------------
    def _member_presence(self, inp):
        """Per member: presence (n_samples, its modalities) over its own columns."""
        full = inp.presence()
        names = list(self.modalities_)
        cache = {}
        out = []
        for mods, features in zip(
            self.estimators_modalities_, self.estimators_features_
        ):
            cols = []
            for m in mods:
                if inp.kind == RAW or sp.issparse(inp.data) or inp.data.ndim != 2:
                    cols.append(full[:, names.index(m)])
                    continue
                own = features[np.isin(features, self.modalities_[m])]
                if own.size == len(self.modalities_[m]):
                    cols.append(full[:, names.index(m)])
                    continue
                key = (m, own.tobytes())
                if key not in cache:
                    cache[key] = self._view.presence(inp.data[:, own], own, (m,))[:, 0]
                cols.append(cache[key])
            out.append(np.stack(cols, axis=1))
        return out

    def _vote_mask(self, inp, restrict=None, on_empty="raise"):
        """Which member votes for which sample.

        Returns
        -------
        votes : ndarray of shape (n_members, n_samples), dtype=bool
        gaps : ndarray of shape (n_members,), dtype=bool
            Whether the member votes for a sample where some of its modalities
            are missing (it must then handle missing modalities).
        """
        presence = self._member_presence(inp)
        complete = np.stack([p.all(axis=1) for p in presence])
        available = np.stack([p.any(axis=1) for p in presence])
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
            present = [m for m, p in zip(names, inp.presence()[i]) if p]
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
        for mods, features in zip(
            self.estimators_modalities_, self.estimators_features_
        ):
            if self._input_kind == RAW:
                views.append(self._view.other_keys(mods))
            elif features.size == self.n_features_in_ and np.array_equal(
                features, np.arange(self.n_features_in_)
            ):
                views.append(None)
            else:
                views.append(features)
        return views

    def _aggregate(self, inp, votes, method, params):
        """Sum of the members' ``method`` outputs over their votes, in parallel.

        Members predict in threads (see
        :func:`~skmm.ensemble._common.sum_member_outputs`); the sum is taken in
        member order, so it does not depend on ``n_jobs``.
        """
        votes, gaps = votes
        n_outputs = self.n_classes_ if method == "proba" else None
        members = zip(
            self.estimators_,
            self._member_views(),
            votes,
            [m if gap else None for m, gap in zip(self.estimators_modalities_, gaps)],
        )
        total = sum_member_outputs(
            functools.partial(
                _member_total,
                inp=inp,
                method=method,
                n_outputs=n_outputs,
                params=params,
            ),
            members,
            self.n_jobs,
            self.verbose,
        )
        if total is None:
            shape = (inp.n_samples, n_outputs) if n_outputs else (inp.n_samples,)
            total = np.zeros(shape)
        return total


def _member_total(member, inp, method, n_outputs, params):
    """One member's ``method`` outputs on its votes, zero elsewhere (None: no vote)."""
    estimator, view, vote, gap = member
    if not vote.any():
        return None
    return _sum_predictions(
        [estimator], [view], [vote], [gap], inp, method, n_outputs, params
    )


def _member_input(inp, view, rows):
    sub = inp.rows(rows)
    if inp.kind == RAW:
        return sub.masked(view)
    return sub.numeric(view)


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
    n = X_.shape[0]
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


def _members_have(attr):
    """``available_if`` check: the (fitted or base) members implement ``attr``."""

    def check(self):
        if hasattr(self, "estimators_") and self.estimators_:
            return hasattr(self.estimators_[0], attr)
        return hasattr(self._get_estimator(), attr)

    return check


def _bagging_constraints():
    constraints = copy.deepcopy(BaggingClassifier._parameter_constraints)
    constraints.update(
        max_modalities=[
            Interval(numbers.Integral, 1, None, closed="left"),
            Interval(RealNotInt, 0, 1, closed="right"),
        ],
        modalities=[dict, None],
        vote=[StrOptions({"complete", "available"})],
        member_params=[dict, None],
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
    [('text', 'audio'), ('text', 'image'), ('image', 'audio')]
    >>> X_gap = X[150:].copy()  # audio missing for every test sample:
    >>> X_gap[[c for c in X.columns if c.startswith("audio__")]] = np.nan
    >>> # the members that use audio abstain
    >>> float(bag.score(X[150:], y[150:])), float(bag.score(X_gap, y[150:]))
    (0.9, 0.88)
    """

    _parameter_constraints = _bagging_constraints()
    _EXPECTED_FAILED_CHECKS = _EXPECTED_FAILED_CHECKS

    def __init__(
        self,
        estimator=None,
        n_estimators=10,
        *,
        max_samples=_MAX_SAMPLES_DEFAULT,
        max_features=1.0,
        bootstrap=True,
        bootstrap_features=False,
        oob_score=False,
        warm_start=False,
        max_modalities=1.0,
        modalities=None,
        vote="complete",
        member_params=None,
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
        self.member_params = member_params

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
            The fitted ensemble.
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
        inp = self._input(X)
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
            The log of :meth:`predict_proba` (``-inf`` where a probability is
            0), columns ordered as ``classes_``.
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X, **params))

    @available_if(_members_have("decision_function"))
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
        inp = self._input(X)
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
        inp = self._oob_input(X)
        votes = self._oob_votes(inp, y.shape[0])
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
        max_samples=_MAX_SAMPLES_DEFAULT,
        max_features=1.0,
        bootstrap=True,
        bootstrap_features=False,
        oob_score=False,
        warm_start=False,
        max_modalities=1.0,
        modalities=None,
        vote="complete",
        member_params=None,
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
        self.member_params = member_params

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
            The fitted ensemble.
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
            The mean of the voting members' predictions for each sample.
        """
        _raise_for_params(params, self, "predict")
        check_is_fitted(self)
        inp = self._input(X)
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
        inp = self._oob_input(X)
        votes = self._oob_votes(inp, y.shape[0])
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
