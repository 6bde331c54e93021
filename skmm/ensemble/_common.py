"""Shared machinery of the modality-aware ensembles.

* :func:`check_ensemble_input` decides whether ``X`` is a *raw* multimodal table
  (one column per modality; text, paths, arrays; ``None`` = missing) or an
  *encoded* numeric matrix (modality blocks ``"{modality}__{feature}"``), validates
  it and resolves its modality layout through the skmm utilities
  (:func:`~skmm.utils.resolve_modalities`,
  :func:`~skmm.utils.resolve_table_modalities`).
* :class:`ModalInput` hands each member the view it needs: numeric sub-matrices
  that keep their column names, or raw tables with some modalities masked.
* :class:`ModalityExpert` wraps a one-modality estimator with its column
  selection; a sample whose modality is missing gets no prediction (NaN).
* Sample-weight routing (:func:`sample_weight_param`, :func:`fit_weighted`) lets
  a :class:`~sklearn.pipeline.Pipeline` take weights in its final step, with
  seeded weighted resampling as the fallback.
* Row naming (:func:`user_rows`, :class:`RowNamingMember`): a member fitted
  on a bootstrap sample, a cross-validation fold or the present rows of a
  modality counts its samples within that subset; its
  :class:`~skmm.exceptions.InvalidSampleError` is re-raised naming the row of
  the user's table (its position, and its index label where there is one).
  Members receive tables that keep the user's index for the same reason.
* :class:`ExpertParamsMixin` exposes ``experts={"audio": est}`` to
  ``get_params``/``set_params`` as ``experts__audio`` and ``experts__audio__C``.
"""

import contextlib
import numbers
import os
import string
import sys
from collections import defaultdict

import numpy as np
import pandas as pd
import scipy.sparse as sp
from joblib import effective_n_jobs
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone, is_classifier
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state, get_tags
from sklearn.utils.metadata_routing import (
    MetadataRouter,
    MethodMapping,
    get_routing_for_object,
)
from sklearn.utils.metaestimators import available_if
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_is_fitted, has_fit_parameter, validate_data

from skmm.compose._multimodal_encoder import check_cells
from skmm.exceptions import InvalidSampleError
from skmm.utils import (
    as_table,
    get_column,
    modality_presence,
    resolve_modalities,
    resolve_table_modalities,
    table_columns,
    table_presence,
)
from skmm.utils._contract import row_index, user_rows
from skmm.utils._sklearn_compat import (
    _check_method_params,
    _check_y,
    _routing_enabled,
    _safe_indexing,
)
from skmm.utils._torch import torch_threads

__all__ = [
    "NUMERIC",
    "RAW",
    "ExpertParamsMixin",
    "ModalInput",
    "ModalityExpert",
    "RowNamingMember",
    "align_proba",
    "check_ensemble_input",
    "check_experts",
    "check_modality",
    "check_target",
    "drop_encoded_columns",
    "fill_doc",
    "fit_weighted",
    "is_raw_table",
    "labelled_rows",
    "multimodal_encoder_paths",
    "row_index",
    "sample_weight_param",
    "sum_member_outputs",
    "user_rows",
]

RAW, NUMERIC = "raw", "numeric"


def fill_doc(**parts):
    """Class decorator: substitute ``$name`` placeholders of the docstring.

    Shares parameter descriptions between the classifier and regressor
    variants (``$`` does not otherwise occur in skmm docstrings; braces do).
    A placeholder sits on its own line, indented like the section body; the
    part's first line is stripped, its further lines keep their indentation.
    """

    def decorate(obj):
        obj.__doc__ = string.Template(obj.__doc__).substitute(
            {k: v.strip() for k, v in parts.items()}
        )
        return obj

    return decorate


# -- what is X ----------------------------------------------------------------
def is_raw_table(X):
    """Whether ``X`` is a raw multimodal table rather than a numeric matrix.

    A dict of columns is raw; a DataFrame is raw when any column is not numeric
    (text, paths, arrays, images); an object ndarray is raw when a cell is a
    text, bytes, a path, an array, a tuple/list or a PIL image. Everything else
    (numeric arrays and DataFrames, sparse matrices, nested lists of numbers) is
    numeric, and validated as such.
    """
    if sp.issparse(X):  # before dict: a dok_matrix is a dict
        return False
    if isinstance(X, dict):
        return True
    if isinstance(X, pd.DataFrame):
        return not all(
            pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
            for dtype in X.dtypes
        )
    if isinstance(X, np.ndarray) and X.dtype == object and X.ndim == 2:
        return any(_is_raw_cell(cell) for cell in X.ravel())
    return False


def _is_raw_cell(cell):
    """A cell only a raw table holds: text, bytes, a path, an array, an image."""
    return isinstance(cell, (str, bytes, os.PathLike, np.ndarray, tuple, list)) or (
        type(cell).__module__.startswith("PIL.")
    )


class ModalInput:
    """A validated ensemble input and its modality layout.

    Parameters
    ----------
    kind : {"raw", "numeric"}
    data : DataFrame, ndarray or sparse matrix
        The raw table (``as_table`` output) or the validated numeric matrix.
    layout : dict
        Modality -> column positions (numeric) or raw column keys (raw).
    names : ndarray of str or None
        Column names handed to members with numeric sub-matrices.
    partial : {"present", "raise"}
        How a partly-NaN block of an encoded matrix counts (see
        :func:`~skmm.utils.modality_presence`).
    index : pandas.Index, default=None
        Labels of the rows in the user's table (the index of a DataFrame);
        None means positions (``RangeIndex``). Kept by :meth:`rows` and given
        to the numeric DataFrames handed to members, so that a member fitted on
        a subset (a fold, a bootstrap sample) can name the user's row.
    """

    def __init__(self, kind, data, layout, names=None, partial="present", index=None):
        self.kind = kind
        self.data = data
        self.layout = layout
        self.names = names
        self.partial = partial
        self.n_samples = data.shape[0]
        if index is None:
            index = row_index(data)
        if index is None or len(index) != self.n_samples:
            index = pd.RangeIndex(self.n_samples)
        self.index = index
        self._presence = None

    @property
    def modality_names(self):
        return list(self.layout)

    def presence(self):
        """Boolean (n_samples, n_modalities) presence, in the order of ``layout``."""
        if self._presence is None:
            if self.kind == RAW:
                self._presence = table_presence(self.data, self.layout)
            else:
                X = self.data
                if sp.issparse(X) or X.ndim > 2:
                    self._presence = np.ones((X.shape[0], len(self.layout)), bool)
                else:
                    if X.dtype.kind not in "fc":
                        try:
                            X = X.astype(np.float64)
                        except (TypeError, ValueError):
                            X = np.zeros(X.shape)
                    with user_rows(None, self.index):  # errors name the row label
                        self._presence = modality_presence(
                            X, self.layout, partial=self.partial
                        )
        return self._presence

    def presence_of(self, modality):
        return self.presence()[:, self.modality_names.index(modality)]

    def rows(self, rows):
        """The input restricted to ``rows`` (None = all), as a new ModalInput."""
        if rows is None:
            return self
        data = _take_rows(self.data, rows)
        sub = ModalInput(
            self.kind, data, self.layout, self.names, self.partial, self.index[rows]
        )
        if self._presence is not None:
            sub._presence = self._presence[rows]
        return sub

    def full(self):
        """The whole input as members see it (names kept)."""
        if self.kind == RAW:
            return self.data
        return self.numeric(None)

    def numeric(self, columns):
        """Numeric sub-matrix with the given column positions (None = all)."""
        X = self.data
        if columns is not None:
            X = X[:, columns]
        if self.names is None or sp.issparse(X):
            return X
        names = self.names if columns is None else self.names[columns]
        return pd.DataFrame(X, columns=list(names), index=self.index, copy=False)

    def masked(self, keys):
        """Raw table with the cells of the raw columns ``keys`` set to None."""
        table = self.data
        if not len(keys):
            return table
        if isinstance(table, pd.DataFrame):
            table = table.copy()
            for key in keys:
                table[key] = pd.Series(
                    [None] * table.shape[0], index=table.index, dtype=object
                )
            return table
        table = table.copy()
        table[:, list(keys)] = None
        return table

    def select(self, modality, *, table=False):
        """The columns of one modality: what a per-modality expert sees.

        Numeric: the block (a DataFrame when names are known). Raw: a 1-D list
        of cells for a one-column modality (like ``ColumnTransformer`` with a
        scalar column), else, or with ``table=True``, the sub-table of the
        modality's columns (names kept).
        """
        cols = self.layout[modality]
        if self.kind == NUMERIC:
            return self.numeric(cols)
        if len(cols) == 1 and not table:
            return get_column(self.data, cols[0])
        return get_column(self.data, list(cols))


def _take_rows(data, rows):
    if isinstance(data, pd.DataFrame):
        return data.iloc[rows]
    return data[rows]


def check_ensemble_input(
    estimator,
    X,
    *,
    reset,
    modalities=None,
    kind=None,
    ensure_all_finite="allow-nan",
    partial=None,
    allow_nd=False,
):
    """Validate ``X`` for an ensemble and resolve its modality layout.

    On ``reset`` (fit) the kind of input is decided (``kind`` or
    :func:`is_raw_table`) and stored in ``estimator._input_kind``, together with
    ``n_features_in_``/``feature_names_in_`` and the layout in ``modalities_``;
    afterwards the input is read the same way and checked against them.

    Numeric input goes through :func:`~sklearn.utils.validation.validate_data`
    (sparse CSR/CSC accepted; infinity rejected unless
    ``ensure_all_finite=False``; NaN allowed, since an all-NaN block is a
    missing modality; n-D arrays with ``allow_nd``). A partly-NaN block counts
    as present when ``partial="present"`` or (``partial=None``) when the
    estimator's tags allow NaN (its members handle gaps), and raises
    :class:`~skmm.exceptions.InvalidSampleError` otherwise. Raw input goes
    through :func:`~skmm.utils.as_table`; DataFrame column names are kept.

    Returns
    -------
    inp : ModalInput
    """
    if reset:
        if kind is None:
            kind = RAW if is_raw_table(X) else NUMERIC
        estimator._input_kind = kind
    else:
        kind = estimator._input_kind
    if kind == RAW:
        table = as_table(X)
        _check_table_columns(estimator, table, reset)
        if isinstance(table, pd.DataFrame) and hasattr(estimator, "feature_names_in_"):
            names = list(estimator.feature_names_in_)
            if list(table.columns) != names:
                table = table.loc[:, names]
        if reset:
            estimator.modalities_ = resolve_table_modalities(table, modalities)
        return ModalInput(RAW, table, estimator.modalities_)
    index = row_index(X)
    data = validate_data(
        estimator,
        X,
        reset=reset,
        accept_sparse=["csr", "csc"],
        dtype=None,
        ensure_all_finite=ensure_all_finite,
        allow_nd=allow_nd,
    )
    if data.ndim > 2:  # n-D samples (allow_nd): one block of all their values
        if reset:
            estimator.modalities_ = {"features": np.arange(estimator.n_features_in_)}
        return ModalInput(NUMERIC, data, estimator.modalities_, None, "present", index)
    names = getattr(estimator, "feature_names_in_", None)
    if reset:
        estimator.modalities_ = resolve_modalities(
            names, estimator.n_features_in_, modalities
        )
    layout = estimator.modalities_
    if names is None and modalities is not None and len(layout) > 1:
        # Members get the layout through "{modality}__" column names.
        names = np.empty(estimator.n_features_in_, dtype=object)
        for name, cols in layout.items():
            for j in cols:
                names[j] = f"{name}__x{j}"
    if partial is None:
        partial = "present" if get_tags(estimator).input_tags.allow_nan else "raise"
    return ModalInput(NUMERIC, data, layout, names, partial, index)


def check_target(estimator, y, *, multi_output=True):
    """Validate ``y`` (not None, finite, 1-D or 2-D) as ``validate_data`` does."""
    if y is None:
        raise ValueError(
            f"This {type(estimator).__name__} estimator requires y to be passed, "
            "but the target y is None."
        )
    return _check_y(y, multi_output=multi_output, estimator=estimator)


def _check_table_columns(estimator, table, reset):
    columns = table_columns(table)
    name = type(estimator).__name__
    if reset:
        estimator.n_features_in_ = len(columns)
        if isinstance(table, pd.DataFrame) and all(isinstance(c, str) for c in columns):
            estimator.feature_names_in_ = np.asarray(columns, dtype=object)
        elif hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
        return
    if hasattr(estimator, "feature_names_in_"):
        if not isinstance(table, pd.DataFrame):
            raise ValueError(
                f"{name} was fitted on a table with column names "
                f"{list(estimator.feature_names_in_)}; pass a DataFrame or dict with "
                "these columns."
            )
        unknown = [c for c in estimator.feature_names_in_ if c not in table.columns]
        if unknown:
            raise ValueError(
                f"X lacks the column(s) {unknown} seen in fit by {name}; columns "
                f"given: {list(table.columns)}."
            )
    elif len(columns) != estimator.n_features_in_:
        raise ValueError(
            f"X has {len(columns)} columns, but {name} was fitted on "
            f"{estimator.n_features_in_}."
        )


# -- naming the user's rows ---------------------------------------------------
def labelled_rows(X):
    """``X`` as cross-validation should split it so that folds keep row numbers.

    A 2-D ndarray becomes a DataFrame (no copy) whose index is the row
    positions; give its members a :class:`RowNamingMember` with
    ``to_array=True``. Returns ``(X, to_array)``. Other inputs are returned
    as they are (a DataFrame keeps its index; sparse and n-D arrays cannot
    carry row labels).
    """
    if isinstance(X, np.ndarray) and X.ndim == 2:
        return pd.DataFrame(X, copy=False), True
    return X, False


def _delegate_has(method):
    def check(self):
        getattr(
            self.estimator_ if hasattr(self, "estimator_") else self.estimator, method
        )
        return True

    return check


class _FitRoutedToEstimator:
    """``fit`` metadata of a one-estimator wrapper goes to ``estimator``'s fit."""

    def get_metadata_routing(self):
        """Routing of this wrapper: ``fit`` metadata goes to the estimator.

        Returns
        -------
        routing : MetadataRouter
            The routing: ``fit`` metadata is passed to ``estimator``'s ``fit``.
        """
        return MetadataRouter(owner=self).add(
            estimator=self.estimator,
            method_mapping=MethodMapping().add(caller="fit", callee="fit"),
        )


class RowNamingMember(_FitRoutedToEstimator, MetaEstimatorMixin, BaseEstimator):
    """A member whose errors name the row labels of the input it is given.

    scikit-learn's cross-validation hands a member the rows of a fold; an
    ensemble wraps each member in this adapter and gives it its input with the
    user's row labels as a DataFrame index (which ``_safe_indexing`` keeps), so
    that an :class:`~skmm.exceptions.InvalidSampleError` raised inside a fold
    names the user's row (see :func:`user_rows`). Everything else is the
    wrapped estimator's: the ensembles unwrap the fitted ``estimator_``.

    Parameters
    ----------
    estimator : estimator
        The member; cloned at fit.
    to_array : bool, default=False
        Hand the member ``X.to_numpy()`` when given a DataFrame: an ensemble
        whose input is an array wraps it in a DataFrame (see
        :func:`labelled_rows`) only to carry the row numbers through the
        folds; the member sees the array, as without the adapter.
    """

    def __init__(self, estimator, *, to_array=False):
        self.estimator = estimator
        self.to_array = to_array

    def _input(self, X):
        if self.to_array and isinstance(X, pd.DataFrame):
            return X.to_numpy()
        return X

    def fit(self, X, y, **fit_params):
        """Fit a clone of ``estimator``; errors name ``X``'s row labels.

        Parameters
        ----------
        X : DataFrame or array-like
            The member's input (a DataFrame keeps the user's row labels).
        y : array-like of shape (n_samples,)
            The target.
        **fit_params : dict
            Passed to the estimator's ``fit``.

        Returns
        -------
        self : RowNamingMember
            The fitted adapter.
        """
        est = clone(self.estimator)
        with user_rows(None, row_index(X)):
            est.fit(self._input(X), y, **fit_params)
        self.estimator_ = est
        if hasattr(est, "classes_"):
            self.classes_ = est.classes_
        return self

    def _call(self, method, X):
        check_is_fitted(self)
        with user_rows(None, row_index(X)):
            return getattr(self.estimator_, method)(self._input(X))

    @available_if(_delegate_has("predict"))
    def predict(self, X):
        """The estimator's ``predict``."""
        return self._call("predict", X)

    @available_if(_delegate_has("predict_proba"))
    def predict_proba(self, X):
        """The estimator's ``predict_proba``."""
        return self._call("predict_proba", X)

    @available_if(_delegate_has("predict_log_proba"))
    def predict_log_proba(self, X):
        """The estimator's ``predict_log_proba``."""
        return self._call("predict_log_proba", X)

    @available_if(_delegate_has("decision_function"))
    def decision_function(self, X):
        """The estimator's ``decision_function``."""
        return self._call("decision_function", X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        try:
            inner = get_tags(self.estimator)
        except Exception:  # an invalid estimator fails at fit with its own message
            return tags
        tags.estimator_type = inner.estimator_type
        tags.classifier_tags = inner.classifier_tags
        tags.regressor_tags = inner.regressor_tags
        tags.input_tags = inner.input_tags
        return tags


# -- sample weights ---------------------------------------------------------
def sample_weight_param(estimator):
    """Name of the fit parameter that carries sample weights to ``estimator``.

    ``"sample_weight"`` when its ``fit`` takes it (or, with metadata routing
    enabled, when it requests it); ``"{last step}__sample_weight"`` for a
    :class:`~sklearn.pipeline.Pipeline` whose final step takes it (nested
    pipelines recursively); None when no step can take weights.
    """
    if isinstance(estimator, ModalityExpert):
        return "sample_weight" if sample_weight_param(estimator.estimator) else None
    if _routing_enabled():
        try:
            routing = get_routing_for_object(estimator)
            consumes = routing.consumes("fit", ("sample_weight",))
        except Exception:  # an object without routing information
            consumes = set()
        return "sample_weight" if consumes else None
    if has_fit_parameter(estimator, "sample_weight"):
        return "sample_weight"
    if isinstance(estimator, Pipeline) and estimator.steps:
        name, last = estimator.steps[-1]
        if last is None or (isinstance(last, str) and last == "passthrough"):
            return None
        inner = sample_weight_param(last)
        if inner is not None:
            return f"{name}__{inner}"
    return None


def fit_weighted(estimator, X, y, sample_weight, *, random_state, resample=False):
    """Fit ``estimator`` honouring ``sample_weight`` one way or another.

    Weights go to the parameter named by :func:`sample_weight_param`; when
    there is none (or ``resample=True``) the estimator is fitted on a weighted
    bootstrap of ``n_samples`` rows drawn with ``random_state``.

    Returns
    -------
    estimator : the fitted estimator
    how : {"weights", "resample", "none"}
    """
    index = row_index(X)
    if sample_weight is None:
        with user_rows(None, index):
            return estimator.fit(X, y), "none"
    param = None if resample else sample_weight_param(estimator)
    if param is not None:
        with user_rows(None, index):
            return estimator.fit(X, y, **{param: sample_weight}), "weights"
    sample_weight = np.asarray(sample_weight, dtype=np.float64)
    rng = check_random_state(random_state)
    n = sample_weight.shape[0]
    idx = rng.choice(n, size=n, replace=True, p=sample_weight / sample_weight.sum())
    with user_rows(idx, index):
        estimator.fit(_safe_indexing(X, idx), _safe_indexing(y, idx))
    return estimator, "resample"


# -- per-modality experts -----------------------------------------------------
class ModalityExpert(_FitRoutedToEstimator, MetaEstimatorMixin, BaseEstimator):
    """A one-modality estimator wrapped with its column selection.

    ``fit`` selects the columns of ``modality`` (the block of an encoded matrix,
    or the raw column: a 1-D list of cells, like ``ColumnTransformer`` with a
    scalar column; an estimator containing a
    :class:`~skmm.compose.MultimodalEncoder` gets the one-modality sub-table
    instead) and fits a clone of ``estimator`` on the samples where the
    modality is present. Predictions exist only for samples where it is
    present: ``predict_proba`` returns NaN rows (and regressors' ``predict``
    NaN) for the others, which the ensembles turn into an explicit abstention.

    Parameters
    ----------
    estimator : estimator
    modality : str
    modalities : dict, default=None
        Explicit layout (see :func:`check_ensemble_input`).
    kind : {"raw", "numeric"}, default=None
        Input kind decided by the parent ensemble.
    """

    def __init__(self, estimator, modality, *, modalities=None, kind=None):
        self.estimator = estimator
        self.modality = modality
        self.modalities = modalities
        self.kind = kind

    def fit(self, X, y, sample_weight=None, **fit_params):
        inp = check_ensemble_input(
            self, X, reset=True, modalities=self.modalities, kind=self.kind
        )
        check_modality(self.modality, inp.layout, "expert")
        present = inp.presence_of(self.modality)
        if not present.any():
            raise ValueError(
                f"Modality {self.modality!r} is missing for every training sample; "
                "its expert cannot be fitted."
            )
        rows = np.flatnonzero(present)
        y = np.asarray(y)
        if is_classifier(self.estimator):
            self.classes_ = np.unique(y)
        est = clone(self.estimator)
        self.takes_table_ = bool(multimodal_encoder_paths(est))
        Xs = inp.rows(rows).select(self.modality, table=self.takes_table_)
        self._check_cells(est, inp, Xs, rows)
        fit_params = _check_method_params(inp.data, params=fit_params, indices=rows)
        if sample_weight is not None:
            param = sample_weight_param(est)
            if param is None:
                raise TypeError(
                    f"The expert of modality {self.modality!r} "
                    f"({type(est).__name__}) does not support sample weights."
                )
            fit_params[param] = np.asarray(sample_weight)[rows]
        with user_rows(rows, inp.index):
            est.fit(Xs, y[rows], **fit_params)
        self.estimator_ = est
        self.n_present_ = int(rows.size)
        return self

    def _check_cells(self, est, inp, cells, rows):
        """The data contract's cell checks on a raw column given to ``est``.

        The same policy as :class:`~skmm.compose.MultimodalEncoder`: e.g. an
        sklearn text vectorizer (alone or first in a Pipeline) gets the
        text-cell check, so an empty text is an error naming the row, not an
        all-zero row.
        """
        if inp.kind != RAW or self.takes_table_:
            return
        column = self._raw_column(inp)
        index = inp.index
        default = isinstance(index, pd.RangeIndex) and index.start == 0
        check_cells(est, cells, rows, column, None if default else index.tolist())

    def _raw_column(self, inp):
        return inp.layout[self.modality][0]

    def predict_present(self, X, method):
        """Call ``method`` of the fitted estimator on the present samples only.

        Parameters
        ----------
        X : DataFrame, dict, ndarray or sparse matrix of shape (n_samples, n_columns)
            The same kind of input as in fit.
        method : str
            Name of the method of ``estimator_`` to call, e.g. ``"predict"`` or
            ``"predict_proba"`` (probability columns are then aligned to
            ``classes_``).

        Returns
        -------
        out : ndarray or None
            The output of ``method`` for the samples whose modality is present
            (in order), or None when it is missing for every sample.
        present : ndarray of bool of shape (n_samples,)
            Whether the modality is present for each sample.
        """
        check_is_fitted(self)
        inp = check_ensemble_input(self, X, reset=False, modalities=self.modalities)
        present = inp.presence_of(self.modality)
        rows = np.flatnonzero(present)
        if rows.size == 0:
            return None, present
        Xs = inp.rows(rows).select(self.modality, table=self.takes_table_)
        self._check_cells(self.estimator_, inp, Xs, rows)
        out = getattr(self.estimator_, method)(Xs)
        if method == "predict_proba":
            out = align_proba(out, self.estimator_.classes_, self.classes_)
        return np.asarray(out), present

    def predict_proba(self, X):
        """Class probabilities; NaN rows where the modality is missing."""
        out, present = self.predict_present(X, "predict_proba")
        proba = np.full((present.shape[0], len(self.classes_)), np.nan)
        if out is not None:
            proba[present] = out
        return proba

    def predict(self, X):
        """Predictions; regressors give NaN where the modality is missing.

        A classifier raises for a sample whose modality is missing: it has no
        label to give.
        """
        if is_classifier(self.estimator):
            proba = self.predict_proba(X)
            absent = np.flatnonzero(np.isnan(proba).any(axis=1))
            if absent.size:
                raise InvalidSampleError(
                    f"modality {self.modality!r} is missing; its expert abstains",
                    index=int(absent[0]),
                )
            return self.classes_[np.argmax(proba, axis=1)]
        out, present = self.predict_present(X, "predict")
        shape = (
            (present.shape[0],)
            if out is None or out.ndim == 1
            else (
                present.shape[0],
                out.shape[1],
            )
        )
        pred = np.full(shape, np.nan)
        if out is not None:
            pred[present] = out
        return pred

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        try:
            inner = get_tags(self.estimator)
            tags.estimator_type = inner.estimator_type
            tags.input_tags.allow_nan = inner.input_tags.allow_nan
        except Exception:  # an invalid estimator fails at fit with a clear message
            pass
        return tags


def align_proba(proba, est_classes, classes):
    """Map probability columns of a member (``est_classes``) onto ``classes``."""
    proba = np.asarray(proba)
    if len(est_classes) == len(classes) and np.array_equal(est_classes, classes):
        return proba
    out = np.zeros((proba.shape[0], len(classes)))
    out[:, np.searchsorted(classes, est_classes)] = proba
    return out


def check_modality(modality, layout, what):
    if modality not in layout:
        raise ValueError(
            f"The {what} of modality {modality!r} has no such modality in X; "
            f"modalities found: {list(layout)}. On a raw table a modality is a "
            "column (or pass modalities={name: columns}); on an encoded matrix a "
            "block of '{modality}__' columns."
        )


def check_experts(experts, *, need=None):
    """Validate an ``experts`` parameter; return the active ``(name, est)`` pairs.

    ``need`` names a method each expert must implement (e.g. ``predict_proba``).
    ``"drop"`` entries are skipped.
    """
    if not hasattr(experts, "items"):
        raise ValueError(
            "experts must be a dict {modality name: estimator}; got "
            f"{type(experts).__name__}."
        )
    active = []
    for name, est in experts.items():
        if not isinstance(name, str) or not name or "__" in name:
            raise ValueError(
                f"Expert names are modality names (non-empty str without '__'); got "
                f"{name!r}."
            )
        if isinstance(est, str) and est == "drop":
            continue
        if not hasattr(est, "fit"):
            raise TypeError(
                f"The expert of modality {name!r} must be an estimator; got "
                f"{type(est).__name__}."
            )
        if need is not None and not hasattr(est, need):
            raise ValueError(
                f"The expert of modality {name!r} ({type(est).__name__}) does not "
                f"implement {need}, which this ensemble needs; use an estimator "
                "that predicts probabilities (e.g. SVC(probability=True) or "
                "CalibratedClassifierCV around it)."
            )
        active.append((name, est))
    return active


class ExpertParamsMixin:
    """``get_params``/``set_params`` over an ``experts`` dict parameter.

    ``experts={"audio": est}`` appears as ``experts__audio`` (the estimator) and
    ``experts__audio__{param}`` (its parameters), so that ``GridSearchCV`` can
    tune ``experts__audio__C`` or ablate a modality with
    ``experts__audio="drop"``.
    """

    def get_params(self, deep=True):
        """Get the parameters of this estimator, experts included.

        Parameters
        ----------
        deep : bool, default=True
            If True, also return the parameters of the contained estimators:
            ``experts__{modality}`` (the expert) and
            ``experts__{modality}__{param}`` (its parameters).

        Returns
        -------
        params : dict
            Parameter names mapped to their values.
        """
        out = super().get_params(deep=deep)
        experts = getattr(self, "experts", None)
        if not deep or not hasattr(experts, "items"):
            return out
        for name, est in experts.items():
            out[f"experts__{name}"] = est
            if hasattr(est, "get_params") and not isinstance(est, type):
                for key, value in est.get_params(deep=True).items():
                    out[f"experts__{name}__{key}"] = value
        return out

    def set_params(self, **params):
        """Set the parameters of this estimator, experts included.

        ``experts__{modality}`` replaces an expert (``"drop"`` removes it);
        ``experts__{modality}__{param}`` sets a parameter of that expert.

        Parameters
        ----------
        **params : dict
            Estimator parameters.

        Returns
        -------
        self : estimator instance
            The estimator itself.
        """
        if "experts" in params:
            self.experts = params.pop("experts")
        keys = [k for k in params if k.startswith("experts__")]
        if keys:
            experts = dict(self.experts or {})
            nested = defaultdict(dict)
            for key in keys:
                value = params.pop(key)
                name, _, sub = key[len("experts__") :].partition("__")
                if name not in experts:
                    raise ValueError(
                        f"Invalid parameter {key!r} for estimator "
                        f"{type(self).__name__}: no expert for modality {name!r}; "
                        f"experts: {list(experts)}."
                    )
                if sub:
                    nested[name][sub] = value
                else:
                    experts[name] = value
            for name, sub in nested.items():
                experts[name].set_params(**sub)
            self.experts = experts
        if params:
            super().set_params(**params)
        return self


# -- raw members: drop modalities ---------------------------------------------
def multimodal_encoder_paths(estimator):
    """``get_params`` keys of the MultimodalEncoders inside ``estimator``."""
    from skmm.compose import MultimodalEncoder

    if not hasattr(estimator, "get_params"):
        return {}
    return {
        key: value
        for key, value in estimator.get_params(deep=True).items()
        if isinstance(value, MultimodalEncoder)
    }


def drop_encoded_columns(estimator, table, dropped_keys):
    """Set to ``"drop"`` the MultimodalEncoder entries that read only ``dropped_keys``.

    Returns the list of ``set_params`` keys changed.
    """
    dropped = set(dropped_keys)
    columns = table_columns(table)
    is_frame = isinstance(table, pd.DataFrame)
    changed = {}
    for path, encoder in multimodal_encoder_paths(estimator).items():
        for name, enc, col in encoder.encoders:
            if isinstance(enc, str) and enc == "drop":
                continue
            cols = list(col) if isinstance(col, (list, tuple)) else [col]
            keys = []
            for c in cols:
                if is_frame and c not in table.columns:
                    if isinstance(c, numbers.Integral):
                        c = columns[int(c)]
                keys.append(c)
            if keys and all(k in dropped for k in keys):
                changed[f"{path}__{name}"] = "drop"
    if changed:
        estimator.set_params(**changed)
    return sorted(changed)


def _torch_threads_per_job(n_jobs):
    """Torch intra-op threads for each of ``n_jobs`` concurrent members, or None.

    None when torch is not in use (no member imported it).
    """
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    return max(1, torch.get_num_threads() // n_jobs)


def iter_member_outputs(func, members, n_jobs=None, verbose=0):
    """``func(member)`` for each member, in member order; members run in parallel.

    With ``n_jobs`` above 1 the members run in a pool of threads (joblib's
    ``prefer="threads"``; a backend the user set with
    ``joblib.parallel_config`` takes precedence): torch forward passes and
    numpy release the GIL, and threads share the fitted members and ``X``
    instead of copying them into worker processes at every call. Torch's
    intra-op threads are shared out among the jobs while the outputs are
    consumed (consume them all before running other torch code). Outputs
    arrive in member order as they are ready, so only a few are held at once
    and results do not depend on ``n_jobs``.

    Parameters
    ----------
    func : callable
        ``func(member) -> object``.
    members : sequence
        The items to map ``func`` over (members, or tuples describing them).
    n_jobs : int, default=None
        Parallel jobs (joblib semantics; None means 1 outside a
        ``joblib.parallel_config`` context).
    verbose : int, default=0
        joblib verbosity.

    Yields
    ------
    output : object
        ``func(member)``, in the order of ``members``.

    Examples
    --------
    >>> from skmm.ensemble._common import iter_member_outputs
    >>> list(iter_member_outputs(lambda k: k * k, [1, 2, 3], n_jobs=2))
    [1, 4, 9]
    """
    members = list(members)
    if not members:
        return
    n_jobs = max(1, min(effective_n_jobs(n_jobs), len(members)))
    threads = _torch_threads_per_job(n_jobs) if n_jobs > 1 else None
    with torch_threads(threads) if threads else contextlib.nullcontext():
        if n_jobs == 1:
            yield from map(func, members)
        else:
            yield from Parallel(
                n_jobs=n_jobs, prefer="threads", return_as="generator", verbose=verbose
            )(delayed(func)(member) for member in members)


def sum_member_outputs(func, members, n_jobs=None, verbose=0):
    """``sum(func(member) for member in members)``, members predicting in parallel.

    The members run as in :func:`iter_member_outputs`; the outputs are summed
    in member order as they arrive, so the result does not depend on
    ``n_jobs`` (bit for bit) and only a few outputs are held at once.

    Parameters
    ----------
    func : callable
        ``func(member) -> ndarray`` (all of the same shape), or None to skip.
    members, n_jobs, verbose
        As in :func:`iter_member_outputs`.

    Returns
    -------
    total : ndarray or None
        None when every call returned None.

    Examples
    --------
    >>> import numpy as np
    >>> from skmm.ensemble._common import sum_member_outputs
    >>> sum_member_outputs(lambda k: np.full(2, k), [1, 2, 3], n_jobs=2)
    array([6, 6])
    """
    total = None
    for out in iter_member_outputs(func, members, n_jobs=n_jobs, verbose=verbose):
        if out is not None:
            total = out if total is None else total + out
    return total
