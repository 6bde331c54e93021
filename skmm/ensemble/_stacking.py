"""Stacking per-modality experts: ModalityStackingClassifier / Regressor."""

import copy

import numpy as np
from joblib import effective_n_jobs
from sklearn.base import is_classifier
from sklearn.ensemble import StackingClassifier, StackingRegressor
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.utils import Bunch, column_or_1d, get_tags
from sklearn.utils.metadata_routing import (
    MetadataRouter,
    MethodMapping,
)
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_consistent_length, check_is_fitted

from skmm.ensemble._common import (
    RAW,
    ExpertParamsMixin,
    ModalityExpert,
    RowNamingMember,
    check_ensemble_input,
    check_experts,
    check_modality,
    fill_doc,
    iter_member_outputs,
    multimodal_encoder_paths,
)
from skmm.utils._sklearn_compat import (
    _check_feature_names_in,
    _fit_context,
    _raise_for_params,
    _VisualBlock,
)

__all__ = ["ModalityStackingClassifier", "ModalityStackingRegressor"]


def _unwrap(estimator):
    return estimator.estimator_ if isinstance(estimator, RowNamingMember) else estimator


def _is_drop(estimator):
    return isinstance(estimator, str) and estimator == "drop"


def _constraints(parent):
    constraints = copy.deepcopy(parent._parameter_constraints)
    constraints.update(
        estimators=[list, None],
        experts=[dict, None],
        modalities=[dict, None],
    )
    return constraints


_PARAMS = """
    estimators : list of (str, estimator), default=None
        Multimodal members, as in scikit-learn's stacking: each sees the whole
        ``X`` (e.g. ``Pipeline(MultimodalEncoder, ...)`` on a raw table, a
        fusion network on an encoded matrix) and handles missing modalities
        itself. An entry may be set to ``"drop"``.
    final_estimator : estimator, default=None
        Fitted on the cross-validated predictions (see Notes). ``None`` means
        $default_final.
    experts : dict of str to estimator, default=None
        Per-modality experts ``{modality: estimator}``, each wrapped with its
        column selection automatically: it sees only its modality (the block
        of an encoded matrix, or the raw column as a 1-D list of cells, e.g.
        ``make_pipeline(TfidfVectorizer(), LogisticRegression())`` for text;
        an expert containing a :class:`~skmm.compose.MultimodalEncoder` gets
        the one-modality sub-table instead) and only the samples where the
        modality is present. $expert_need
        An expert may be set to ``"drop"``; its parameters are tunable as
        ``experts__{modality}__{param}``.
    modalities : dict, default=None
        Explicit layout ``{modality name: columns}`` (see
        :func:`~skmm.utils.resolve_modalities` for encoded matrices,
        :func:`~skmm.utils.resolve_table_modalities` for raw tables). By
        default a raw table's columns, or an encoded matrix's
        ``"{modality}__"`` blocks.
    cv : int, cross-validation generator, iterable or "prefit", default=None
        How the out-of-fold predictions the final estimator learns from are
        made, as in :class:`~sklearn.ensemble.StackingClassifier` (None means
        5-fold). ``"prefit"``: experts and estimators are already fitted.
    n_jobs : int, default=None
        Members fitted and cross-validated in parallel (joblib); the results
        equal those of ``n_jobs=1``. Each member's cross-validation runs
        sequentially inside its job (no nested parallelism). At prediction
        the members predict in parallel threads.
    passthrough : bool, default=False
        Also give the final estimator ``X`` itself (encoded matrices only).
    verbose : int, default=0
        Verbosity level.
"""

_ATTRIBUTES = """
    estimators_ : list of estimators
        The fitted members, experts first (wrapped with their column selection;
        the fitted expert is the wrapper's ``estimator_``), then ``estimators``.
    named_estimators_ : Bunch
        The fitted members by name (experts by modality name).
    experts_ : dict of str to estimator
        The fitted experts (unwrapped) by modality.
    stack_method_ : list of str
        The method used to stack each member.
    final_estimator_ : estimator
        The fitted final estimator.
    absent_fill_ : ndarray
        The neutral value standing in for an absent expert's prediction: $fill
    modalities_ : dict
        Modality layout of ``X``.
    n_features_in_ : int
        Number of columns of ``X`` seen in fit.
    feature_names_in_ : ndarray of str
        Column names of ``X`` seen in fit (when they are all strings).
"""

_NOTES = """
    The final estimator sees, for each expert, its cross-validated
    $expert_output followed by a presence indicator column (1 where the
    modality is present, 0 where it is missing), then the outputs of the
    multimodal ``estimators`` (as scikit-learn stacks them). Where a modality is
    missing its expert makes no prediction: the columns hold ``absent_fill_``,
    a documented neutral value, and the indicator says so, so the final
    estimator never mistakes an absent modality for a real prediction (and
    never sees a silent zero).

    Column names of raw tables are kept: every member receives the table as
    given (restricted to the cross-validation fold).
"""


class _ModalityStackingMixin(ExpertParamsMixin):
    """Experts, presence indicators and raw tables on top of _BaseStacking."""

    @property
    def n_features_in_(self):
        """Number of columns of ``X`` seen in fit."""
        try:
            return self._n_features_in
        except AttributeError:
            raise AttributeError(
                f"{type(self).__name__} object has no attribute n_features_in_"
            ) from None

    @n_features_in_.setter
    def n_features_in_(self, value):
        self._n_features_in = value

    @property
    def named_estimators(self):
        """The multimodal ``estimators`` by name."""
        return Bunch(**dict(self.estimators or []))

    def _members(self):
        """Active members: (name, template, modality or None)."""
        need = "predict_proba" if is_classifier(self) else "predict"
        experts = []
        if self.experts is not None:
            experts = check_experts(self.experts, need=need)
        for name, _ in experts:
            check_modality(name, self.modalities_, "expert")
        estimators = []
        if self.estimators is not None:
            for item in self.estimators:
                if not (isinstance(item, (tuple, list)) and len(item) == 2):
                    raise ValueError(
                        "estimators must be a list of (str, estimator) tuples; got "
                        f"{item!r}."
                    )
            names = [name for name, _ in self.estimators]
            if names:
                self._validate_names(names)
            estimators = list(self.estimators)
        active = [(n, e) for n, e in estimators if not _is_drop(e)]
        if not experts and self.estimators is not None and not len(self.estimators):
            raise ValueError(
                "Invalid 'estimators' attribute, 'estimators' should be a "
                "non-empty list of (string, estimator) tuples (or give experts)."
            )
        if not experts and not active:
            raise ValueError(
                f"{type(self).__name__} needs at least one expert or estimator "
                "(all are missing or 'drop')."
            )
        clash = {n for n, _ in experts} & {n for n, _ in estimators}
        if clash:
            raise ValueError(
                f"Names {sorted(clash)} are used both by experts and estimators; "
                "rename the estimators."
            )
        members = [
            (
                name,
                self._prefit_experts[name]
                if self._prefit_experts
                else ModalityExpert(
                    est, name, modalities=self.modalities, kind=self._input_kind
                ),
                name,
            )
            for name, est in experts
        ]
        return members + [(name, est, None) for name, est in estimators]

    def _fit_modal(self, X, y, fit_params):
        _raise_for_params(fit_params, self, "fit", allow=["sample_weight"])
        inp = check_ensemble_input(self, X, reset=True, modalities=self.modalities)
        check_consistent_length(inp.data, y)
        if self.passthrough and inp.kind == RAW:
            raise ValueError(
                "passthrough=True gives X to the final estimator, which needs an "
                "encoded numeric matrix; X is a raw multimodal table."
            )
        X_full = inp.full()
        self._prefit_experts = None
        if self.cv == "prefit" and self.experts:
            self._prefit_experts = {
                name: self._attach_prefit(
                    ModalityExpert(
                        est, name, modalities=self.modalities, kind=self._input_kind
                    ),
                    X_full,
                    y,
                )
                for name, est in check_experts(self.experts)
            }
        self._set_absent_fill(y, fit_params.get("sample_weight"))
        try:
            # _BaseStacking.fit: members, cross-validated predictions (stacked by
            # _concatenate_predictions) and the final estimator.
            super().fit(X_full, y, **fit_params)
        finally:
            del self._prefit_experts
        self.estimators_ = [_unwrap(est) for est in self.estimators_]
        self.named_estimators_ = Bunch(
            **{name: _unwrap(est) for name, est in self.named_estimators_.items()}
        )
        self.experts_ = {
            name: est.estimator_
            for name, est, modality in zip(
                self._member_names, self.estimators_, self._member_modalities
            )
            if modality is not None
        }
        return self

    # -- hooks of _BaseStacking -------------------------------------------------
    def _validate_estimators(self):
        members = self._members()
        if not (isinstance(self.cv, str) and self.cv == "prefit"):
            # Fitted on cross-validation folds: errors name the user's rows.
            members = [
                (n, e if m is not None or _is_drop(e) else RowNamingMember(e), m)
                for n, e, m in members
            ]
        active = [(n, e, m) for n, e, m in members if not _is_drop(e)]
        self._member_names = [n for n, _, _ in active]
        self._member_modalities = [m for _, _, m in active]
        return [n for n, _, _ in members], [e for _, e, _ in members]

    def _concatenate_predictions(self, X, predictions):
        """Expert outputs get ``absent_fill_`` and a presence column, then stack.

        An abstaining expert's rows are NaN (see
        :class:`~skmm.ensemble._common.ModalityExpert`); they become the
        neutral fill and a 0 in the expert's presence indicator.
        """
        stacked = []
        for pred, modality in zip(predictions, self._member_modalities):
            if modality is not None:
                pred = np.array(pred, dtype=np.float64)
                if pred.ndim == 1:
                    pred = pred[:, np.newaxis]
                absent = np.isnan(pred).any(axis=1)
                pred[absent] = self.absent_fill_
                pred = np.hstack([pred, (~absent)[:, np.newaxis]])
            stacked.append(pred)
        return super()._concatenate_predictions(X, stacked)

    def _attach_prefit(self, wrapper, X, y):
        """Wrap an already fitted expert without refitting it."""
        expert = wrapper.estimator
        check_is_fitted(expert)
        check_ensemble_input(
            wrapper, X, reset=True, modalities=self.modalities, kind=self._input_kind
        )
        wrapper.estimator_ = expert
        wrapper.takes_table_ = bool(multimodal_encoder_paths(expert))
        if is_classifier(self):
            wrapper.classes_ = np.unique(y)
        return wrapper

    def _check_transform_input(self, X):
        check_is_fitted(self)
        return check_ensemble_input(
            self, X, reset=False, modalities=self.modalities
        ).full()

    def _meta_features(self, X):
        """The members' stacked outputs for validated ``X`` (what ``transform`` gives).

        With one job, scikit-learn's own ``_transform``. With ``n_jobs`` above
        1 the members predict at once in threads
        (:func:`~skmm.ensemble._common.iter_member_outputs`; a fusion
        network's forward pass and numpy release the GIL) and their outputs go
        through the same ``_concatenate_predictions`` hook, in member order:
        the result is the same, bit for bit.
        """
        if effective_n_jobs(self.n_jobs) == 1:
            return self._transform(X)
        members = [
            (est, meth)
            for est, meth in zip(self.estimators_, self.stack_method_)
            if not _is_drop(est)
        ]
        predictions = list(
            iter_member_outputs(
                lambda member: getattr(member[0], member[1])(X), members, self.n_jobs
            )
        )
        return self._concatenate_predictions(X, predictions)

    def get_feature_names_out(self, input_features=None):
        """Get the names of the meta-features given to the final estimator.

        ``{class}_{member}{i}`` for a member's outputs (no index when it has
        one), ``{class}_{modality}_present`` for an expert's presence
        indicator, then the input features when ``passthrough=True``.

        Parameters
        ----------
        input_features : array-like of str, default=None
            Input feature names, used with ``passthrough=True``.

        Returns
        -------
        feature_names_out : ndarray of str objects
            One name per column of :meth:`transform`'s output.
        """
        check_is_fitted(self)
        input_features = _check_feature_names_in(
            self, input_features, generate_names=self.passthrough
        )
        prefix = type(self).__name__.lower()
        names = []
        for name, width, modality in zip(
            self._member_names, self._n_feature_outs, self._member_modalities
        ):
            n_out = width - (modality is not None)
            if n_out == 1:
                names.append(f"{prefix}_{name}")
            else:
                names.extend(f"{prefix}_{name}{i}" for i in range(n_out))
            if modality is not None:
                names.append(f"{prefix}_{name}_present")
        if self.passthrough:
            names.extend(input_features)
        return np.asarray(names, dtype=object)

    def get_metadata_routing(self):
        """Metadata routing of this object (experts and estimators by name).

        Returns
        -------
        routing : MetadataRouter
            The routing: ``fit`` metadata goes to each expert and estimator,
            ``predict`` metadata to the final estimator.
        """
        router = MetadataRouter(owner=self)
        for name, est in (self.experts or {}).items():
            if not isinstance(est, str):
                router.add(
                    **{name: est},
                    method_mapping=MethodMapping().add(callee="fit", caller="fit"),
                )
        for name, est in self.estimators or []:
            router.add(
                **{name: est},
                method_mapping=MethodMapping().add(callee="fit", caller="fit"),
            )
        try:
            final_estimator_ = self.final_estimator_
        except AttributeError:
            final_estimator_ = self.final_estimator
        router.add(
            final_estimator_=final_estimator_,
            method_mapping=MethodMapping().add(caller="predict", callee="predict"),
        )
        return router

    def _all_members(self):
        members = [e for e in (self.experts or {}).values() if not isinstance(e, str)]
        members += [e for _, e in (self.estimators or []) if not isinstance(e, str)]
        return members

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        try:
            members = self._all_members()
            tags.input_tags.allow_nan = all(
                get_tags(m).input_tags.allow_nan for m in members
            )
            tags.input_tags.sparse = all(get_tags(m).input_tags.sparse for m in members)
        except Exception:  # invalid parameters fail at fit with a clear message
            pass
        return tags

    def _sk_visual_block_(self):
        names = [f"experts__{m}" for m in (self.experts or {})]
        members = list((self.experts or {}).values())
        for name, est in self.estimators or []:
            names.append(name)
            members.append(est)
        final = self.final_estimator or self._default_final()
        parallel = _VisualBlock("parallel", members, names=names, dash_wrapped=False)
        final_block = _VisualBlock(
            "parallel", [final], names=["final_estimator"], dash_wrapped=False
        )
        return _VisualBlock("serial", (parallel, final_block), dash_wrapped=False)


@fill_doc(
    params=_PARAMS.replace(
        "$default_final", ":class:`~sklearn.linear_model.LogisticRegression`"
    )
    .replace(
        "$expert_need",
        "An expert must implement ``predict_proba`` (checked at fit).",
    )
    .replace(
        "    n_jobs : int",
        '    stack_method : {"auto", "predict_proba", "decision_function", '
        '"predict"}, default="auto"\n'
        "        Method of the multimodal ``estimators`` whose output is stacked, as\n"
        "        in scikit-learn. Experts always give ``predict_proba``.\n"
        "    n_jobs : int",
    ),
    attributes=_ATTRIBUTES.replace(
        "$fill",
        "the class prior of the training labels (weighted by ``sample_weight``).",
    )
    + """    classes_ : ndarray of shape (n_classes,)
        The class labels.""",
    notes=_NOTES.replace(
        "$expert_output",
        "class probabilities (one column fewer for a binary problem, as in "
        "scikit-learn)",
    ),
)
class ModalityStackingClassifier(_ModalityStackingMixin, StackingClassifier):
    """Stack per-modality experts and multimodal members with presence signals.

    A subclass of :class:`~sklearn.ensemble.StackingClassifier` that knows about
    modalities: ``experts={"text": ..., "audio": ...}`` are fitted each on its
    own modality (column selection automatic), ``estimators=[...]`` on the whole
    multimodal input, and the final estimator learns from their
    cross-validated class probabilities plus an explicit presence indicator per
    modality. Raw tables reach the members with their column names.

    Parameters
    ----------
    $params

    Attributes
    ----------
    $attributes

    See Also
    --------
    sklearn.ensemble.StackingClassifier : The parent class.
    ModalityStackingRegressor : The regression variant.
    EnsembleSelectionClassifier : Greedy weighting of a library of pipelines.

    Notes
    -----
    $notes

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skmm.datasets import make_multimodal_classification
    >>> from skmm.ensemble import ModalityStackingClassifier
    >>> X, y = make_multimodal_classification(200, missing_rate=0.2, random_state=0)
    >>> lr = LogisticRegression()
    >>> stack = ModalityStackingClassifier(
    ...     experts={"text": lr, "image": lr, "audio": lr}, cv=3).fit(X, y)
    >>> stack.get_feature_names_out()[:2].tolist()
    ['modalitystackingclassifier_text', 'modalitystackingclassifier_text_present']
    >>> stack.transform(X[:1]).shape  # 3 x (P(class 1), present)
    (1, 6)
    """

    _parameter_constraints = _constraints(StackingClassifier)

    def __init__(
        self,
        estimators=None,
        final_estimator=None,
        *,
        experts=None,
        modalities=None,
        cv=None,
        stack_method="auto",
        n_jobs=None,
        passthrough=False,
        verbose=0,
    ):
        super().__init__(
            estimators=estimators,
            final_estimator=final_estimator,
            cv=cv,
            stack_method=stack_method,
            n_jobs=n_jobs,
            passthrough=passthrough,
            verbose=verbose,
        )
        self.experts = experts
        self.modalities = modalities

    @staticmethod
    def _default_final():
        return LogisticRegression()

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, **fit_params):
        """Fit the experts, the estimators and the final estimator.

        Parameters
        ----------
        X : DataFrame, dict, ndarray or sparse matrix of shape (n_samples, n_columns)
            A raw multimodal table or an encoded numeric matrix.
        y : array-like of shape (n_samples,)
            The class labels.
        **fit_params : dict
            ``sample_weight`` (passed to every member and the final estimator),
            or metadata routed with metadata routing enabled.

        Returns
        -------
        self : ModalityStackingClassifier
            The fitted ensemble.
        """
        if y is None:
            raise ValueError(
                f"This {type(self).__name__} estimator requires y to be passed, but "
                "the target y is None."
            )
        check_classification_targets(y)
        if self.experts and type_of_target(y) == "multilabel-indicator":
            raise ValueError(
                "Per-modality experts support single-output targets; a multilabel y "
                "works with multimodal estimators only (estimators=[...])."
            )
        return self._fit_modal(X, y, fit_params)

    def _set_absent_fill(self, y, sample_weight):
        if type_of_target(y) == "multilabel-indicator":  # no experts: not used
            self.absent_fill_ = np.average(np.asarray(y), axis=0, weights=sample_weight)
            return
        _, codes = np.unique(column_or_1d(y, warn=False), return_inverse=True)
        counts = np.bincount(codes, weights=sample_weight)
        self.absent_fill_ = counts / counts.sum()

    def transform(self, X):
        """Compute the meta-features of X: what the final estimator sees.

        Parameters
        ----------
        X : DataFrame, dict, ndarray or sparse matrix of shape (n_samples, n_columns)
            The same kind of input as in fit; missing modalities allowed.

        Returns
        -------
        X_meta : ndarray of shape (n_samples, n_meta_features)
            Named by :meth:`get_feature_names_out`.
        """
        return self._meta_features(self._check_transform_input(X))


@fill_doc(
    params=_PARAMS.replace(
        "$default_final", ":class:`~sklearn.linear_model.RidgeCV`"
    ).replace(
        "$expert_need",
        "An expert must implement ``predict``.",
    ),
    attributes=_ATTRIBUTES.replace(
        "$fill", "the mean training target (weighted by ``sample_weight``)."
    ),
    notes=_NOTES.replace("$expert_output", "prediction"),
)
class ModalityStackingRegressor(_ModalityStackingMixin, StackingRegressor):
    """Stack per-modality regressors and multimodal members with presence signals.

    The regression variant of :class:`ModalityStackingClassifier`: per-modality
    experts (column selection automatic) and multimodal ``estimators`` give
    cross-validated predictions; the final estimator also sees a presence
    indicator per modality.

    Parameters
    ----------
    $params

    Attributes
    ----------
    $attributes

    See Also
    --------
    sklearn.ensemble.StackingRegressor : The parent class.
    ModalityStackingClassifier : The classification variant.

    Notes
    -----
    $notes

    Examples
    --------
    >>> from sklearn.linear_model import Ridge
    >>> from skmm.datasets import make_multimodal_classification
    >>> from skmm.ensemble import ModalityStackingRegressor
    >>> X, _ = make_multimodal_classification(150, missing_rate=0.2, random_state=0)
    >>> target = X["text__f0"].fillna(0).to_numpy() + X["audio__f1"].fillna(0)
    >>> stack = ModalityStackingRegressor(
    ...     experts={"text": Ridge(), "audio": Ridge()}, cv=3).fit(X, target)
    >>> stack.get_feature_names_out().tolist()  # doctest: +NORMALIZE_WHITESPACE
    ['modalitystackingregressor_text', 'modalitystackingregressor_text_present',
     'modalitystackingregressor_audio', 'modalitystackingregressor_audio_present']
    """

    _parameter_constraints = _constraints(StackingRegressor)

    def __init__(
        self,
        estimators=None,
        final_estimator=None,
        *,
        experts=None,
        modalities=None,
        cv=None,
        n_jobs=None,
        passthrough=False,
        verbose=0,
    ):
        super().__init__(
            estimators=estimators,
            final_estimator=final_estimator,
            cv=cv,
            n_jobs=n_jobs,
            passthrough=passthrough,
            verbose=verbose,
        )
        self.experts = experts
        self.modalities = modalities

    @staticmethod
    def _default_final():
        return RidgeCV()

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, **fit_params):
        """Fit the experts, the estimators and the final estimator.

        Parameters
        ----------
        X : DataFrame, dict, ndarray or sparse matrix of shape (n_samples, n_columns)
            A raw multimodal table or an encoded numeric matrix.
        y : array-like of shape (n_samples,)
            The targets.
        **fit_params : dict
            ``sample_weight`` (passed to every member and the final estimator),
            or metadata routed with metadata routing enabled.

        Returns
        -------
        self : ModalityStackingRegressor
            The fitted ensemble.
        """
        if y is None:
            raise ValueError(
                f"This {type(self).__name__} estimator requires y to be passed, but "
                "the target y is None."
            )
        return self._fit_modal(X, y, fit_params)

    def _set_absent_fill(self, y, sample_weight):
        self.absent_fill_ = np.atleast_1d(
            np.average(
                column_or_1d(y, warn=False).astype(np.float64), weights=sample_weight
            )
        )

    def transform(self, X):
        """Compute the meta-features of X: what the final estimator sees.

        Parameters
        ----------
        X : DataFrame, dict, ndarray or sparse matrix of shape (n_samples, n_columns)
            The same kind of input as in fit; missing modalities allowed.

        Returns
        -------
        X_meta : ndarray of shape (n_samples, n_meta_features)
            Named by :meth:`get_feature_names_out`.
        """
        return self._meta_features(self._check_transform_input(X))
