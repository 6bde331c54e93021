"""MultimodalEncoder: a raw multimodal table -> named modality blocks."""

import contextlib
import numbers
import time

import numpy as np
import pandas as pd
import scipy.sparse as sp
from joblib import Parallel, delayed
from sklearn.base import TransformerMixin, clone
from sklearn.pipeline import Pipeline
from sklearn.utils import Bunch, get_tags
from sklearn.utils.validation import check_is_fitted

from skmm.encoders._base import BaseRawEncoder, BaseRawLoader
from skmm.exceptions import InvalidSampleError
from skmm.utils._contract import (
    as_table,
    check_text_cell,
    get_column,
    missing_mask,
    table_columns,
    user_rows,
)
from skmm.utils._fitting import atomic_fit
from skmm.utils._sklearn_compat import _BaseComposition

__all__ = ["MultimodalEncoder"]


class MultimodalEncoder(TransformerMixin, _BaseComposition):
    """Encode a raw multimodal table into named modality blocks.

    Each entry of ``encoders`` maps one column of the table (one modality) to an
    encoder, like :class:`~sklearn.compose.ColumnTransformer`. The output is one
    2-D float32 matrix whose columns are named ``"{modality}__{feature}"``; a
    sample whose modality is missing (a ``None``/NaN cell) gets NaN across that
    modality's block. Missing cells are handled here, once, for every encoder: an
    encoder only ever sees the present cells, so any sklearn transformer (e.g.
    :class:`~sklearn.feature_extraction.text.TfidfVectorizer`) works with
    missing modalities.

    Parameters
    ----------
    encoders : list of (str, transformer, column) tuples
        ``name`` is the modality name (unique, no ``"__"``); ``transformer`` is
        any sklearn transformer, ``"passthrough"`` (numeric columns used as they
        are) or ``"drop"``; ``column`` is a column name or position (a 1-D raw
        column is passed, missing cells filtered out) or a list of them (a 2-D
        sub-table is passed unchanged; the encoder handles its gaps).
    n_jobs : int, default=None
        Number of encoders fitted and applied in parallel (joblib).
    verbose : bool, default=False
        Print the time each encoder takes.
    cache : None, str, path-like or joblib.Memory, default=None
        Cache of encoded cells (a folder, or a ``joblib.Memory`` whose location is
        used): each cell of a 1-D column is encoded once per encoder
        configuration, across the folds and candidates of a grid search and
        across runs. Keys are the cell's *content* (text, array bytes, the bytes
        of an image or audio file), the encoder's class, parameters, fitted state
        and weights fingerprint, so a changed file, parameter or model is
        re-encoded. Safe for concurrent processes. See the scaling guide.

    Attributes
    ----------
    encoders_ : list of (str, transformer, column) tuples
        The fitted encoders (``"drop"`` entries kept as is).
    named_encoders_ : Bunch
        Fitted encoders by modality name.
    modalities_ : dict of str to ndarray of int
        Output column positions of each modality block.
    columns_ : dict of str to column key or list of column keys
        The input column(s) of each modality, resolved at fit: labels for a
        DataFrame (positions given in ``encoders`` are turned into the labels
        they pointed to, so a DataFrame whose columns are reordered at
        transform is still read correctly), positions for an array.
    feature_names_out_ : ndarray of str
        ``"{modality}__{feature}"`` names of the output columns.
    n_features_in_ : int
        Number of columns of the table seen in fit.
    feature_names_in_ : ndarray of str
        Column names of the table seen in fit (DataFrame or dict input).
    missing_rate_ : dict of str to float
        Fraction of missing cells per modality in the training table.

    See Also
    --------
    sklearn.compose.ColumnTransformer : The column dispatch this follows.
    skmm.utils.resolve_modalities : How downstream estimators find the blocks.

    Notes
    -----
    The output is a pandas DataFrame by default, because its column names carry
    the modality layout to the next step of a pipeline (fusion networks and
    ensembles read it from there). ``set_output(transform="pandas")`` gives the
    same; ``set_output(transform="polars")`` a polars frame. Call ``.to_numpy()``
    for a bare array, and pass ``modalities=`` to downstream estimators then.

    Sparse encoder outputs (e.g. TF-IDF) are densified.

    The data contract's cell checks are applied before any encoder sees a
    column: a text column handed to a foreign vectorizer (e.g. sklearn's
    ``TfidfVectorizer``) must hold non-empty ``str`` cells -- an empty or
    whitespace-only text, ``bytes``, a number or a token list raises
    :class:`~skmm.exceptions.InvalidSampleError` naming the row and column
    rather than becoming an all-zero row or a traceback. Errors name the sample's
    position in ``X`` and, when ``X`` is a DataFrame with a non-default index
    (a cross-validation fold, a bootstrap sample, your own ids), its index
    label. ``fit`` is atomic: when an encoder fails, the previous fitted state
    (or none) is kept.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn.feature_extraction.text import TfidfVectorizer
    >>> from skmm.compose import MultimodalEncoder
    >>> X = pd.DataFrame({"text": ["a red cat", None, "a blue dog"],
    ...                   "size": [1.0, 2.0, 3.0]})
    >>> enc = MultimodalEncoder([("text", TfidfVectorizer(), "text"),
    ...                          ("size", "passthrough", "size")])
    >>> Xt = enc.fit_transform(X)
    >>> list(Xt.columns)
    ['text__blue', 'text__cat', 'text__dog', 'text__red', 'size__size']
    >>> Xt.loc[1].isna().tolist()
    [True, True, True, True, False]
    >>> {name: cols.tolist() for name, cols in enc.modalities_.items()}
    {'text': [0, 1, 2, 3], 'size': [4]}
    """

    def __init__(self, encoders, *, n_jobs=None, verbose=False, cache=None):
        self.encoders = encoders
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.cache = cache

    # -- parameters ----------------------------------------------------------
    @property
    def _encoders(self):
        try:
            return [(name, enc) for name, enc, _ in self.encoders]
        except (TypeError, ValueError):
            return self.encoders

    @_encoders.setter
    def _encoders(self, value):
        try:
            self.encoders = [
                (name, enc, col)
                for (name, enc), (_, _, col) in zip(value, self.encoders)
            ]
        except (TypeError, ValueError):
            self.encoders = value

    def get_params(self, deep=True):
        """Get parameters, including ``{modality}__{param}`` of the encoders.

        Parameters
        ----------
        deep : bool, default=True
            Include the encoders' parameters.

        Returns
        -------
        params : dict
            Parameter names mapped to their values; with ``deep=True``, also the
            encoders (by modality name) and their parameters as
            ``{modality}__{param}``.
        """
        return self._get_params("_encoders", deep=deep)

    def set_params(self, **params):
        """Set parameters, including ``{modality}__{param}`` of the encoders.

        Parameters
        ----------
        **params : dict
            Estimator parameters.

        Returns
        -------
        self : MultimodalEncoder
            This estimator.
        """
        self._set_params("_encoders", **params)
        return self

    def _validate_encoders(self):
        if not isinstance(self.encoders, (list, tuple)) or not self.encoders:
            raise ValueError(
                "encoders must be a non-empty list of (name, encoder, column) "
                f"tuples; got {self.encoders!r}."
            )
        for entry in self.encoders:
            if not isinstance(entry, tuple) or len(entry) != 3:
                raise ValueError(
                    "Each entry of encoders must be a (name, encoder, column) "
                    f"tuple; got {entry!r}."
                )
        names = [name for name, _, _ in self.encoders]
        for name in names:
            if not isinstance(name, str) or not name:
                raise ValueError(
                    f"Modality names must be non-empty strings; got {name!r}."
                )
        self._validate_names(names)
        for name, enc, _ in self.encoders:
            if isinstance(enc, str):
                if enc not in ("passthrough", "drop"):
                    raise ValueError(
                        f"Encoder of modality {name!r} must be a transformer, "
                        f"'passthrough' or 'drop'; got {enc!r}."
                    )
            elif isinstance(enc, type):
                raise TypeError(
                    f"Encoder of modality {name!r} is a class ({enc.__name__}); "
                    f"pass an instance ({enc.__name__}())."
                )
            elif not (hasattr(enc, "fit") and hasattr(enc, "transform")):
                raise TypeError(
                    f"Encoder of modality {name!r} must implement fit and transform; "
                    f"got {type(enc).__name__}."
                )

    # -- fitting ---------------------------------------------------------------
    def fit(self, X, y=None):
        """Fit every encoder on its column.

        Parameters
        ----------
        X : DataFrame, dict of sequences or 2-D array
            The raw multimodal table.
        y : array-like of shape (n_samples,), default=None
            Passed to the encoders (restricted to the samples they see).

        Returns
        -------
        self : MultimodalEncoder
            This fitted estimator.
        """
        self.fit_transform(X, y)
        return self

    @atomic_fit
    def fit_transform(self, X, y=None):
        """Fit every encoder and encode the table.

        Parameters
        ----------
        X : DataFrame, dict of sequences or 2-D array
            The raw multimodal table.
        y : array-like of shape (n_samples,), default=None
            Passed to the encoders (restricted to the samples they see).

        Returns
        -------
        Xt : DataFrame of shape (n_samples, n_features_out)
            The encoded table: float32 columns ``"{modality}__{feature}"``.
        """
        self._validate_encoders()
        table = as_table(X)
        if y is not None and len(y) != table.shape[0]:
            raise ValueError(
                f"X has {table.shape[0]} samples but y has {len(y)}; they must match."
            )
        active = [(n, e, c) for n, e, c in self.encoders if not _is_drop(e)]
        if not active:
            raise ValueError("Every encoder is 'drop'; there is nothing to encode.")
        # Positions are resolved to column labels now, like ColumnTransformer:
        # a DataFrame with reordered columns at transform is then read by name.
        columns = {name: _resolve(table, col, name) for name, _, col in active}
        labels = _row_labels(table)
        results = self._run(
            _fit_transform_one,
            [
                (name, enc, columns[name], table, y, labels, self.cache)
                for name, enc, _ in active
            ],
        )
        # Fitted state is built aside and assigned only once every encoder
        # succeeded: a failing fit leaves the previous state (or none).
        fitted = iter(results)
        encoders_, blocks, names, missing_rate = [], [], [], {}
        modalities, start = {}, 0
        for name, enc, col in self.encoders:
            if _is_drop(enc):
                encoders_.append((name, enc, col))
                continue
            fitted_enc, block, features, rate = next(fitted)
            encoders_.append((name, fitted_enc, col))
            blocks.append(block)
            names.extend(f"{name}__{f}" for f in features)
            missing_rate[name] = rate
            modalities[name] = np.arange(start, start + block.shape[1])
            start += block.shape[1]
        state = {
            "encoders_": encoders_,
            "named_encoders_": Bunch(**{n: e for n, e, _ in encoders_}),
            "feature_names_out_": np.asarray(names, dtype=object),
            "modalities_": modalities,
            "missing_rate_": missing_rate,
            "columns_": columns,
            "n_features_in_": table.shape[1],
        }
        input_columns = table_columns(table)
        if isinstance(table, pd.DataFrame) and all(
            isinstance(c, str) for c in input_columns
        ):
            state["feature_names_in_"] = np.asarray(input_columns, dtype=object)
        state["_fitted_on_frame"] = isinstance(table, pd.DataFrame)
        state["_input_columns"] = input_columns
        self.__dict__.pop("feature_names_in_", None)
        self.__dict__.update(state)
        return self._output(blocks, table)

    def transform(self, X):
        """Encode a raw multimodal table.

        Parameters
        ----------
        X : DataFrame, dict of sequences or 2-D array
            The raw multimodal table, with the columns seen in fit. A DataFrame
            (or dict) is read by column name, also for columns given by position
            in ``encoders``: their order may differ from fit.

        Returns
        -------
        Xt : DataFrame of shape (n_samples, n_features_out)
            The encoded table: float32 columns ``"{modality}__{feature}"``;
            NaN blocks where a modality is missing.
        """
        check_is_fitted(self)
        table = as_table(X)
        active = [(n, e, c) for n, e, c in self.encoders_ if not _is_drop(e)]
        columns = self._check_input(table, active)
        labels = _row_labels(table)
        blocks = self._run(
            _transform_one,
            [
                (
                    name,
                    enc,
                    columns[name],
                    table,
                    self.modalities_[name].size,
                    labels,
                    self.cache,
                )
                for name, enc, _ in active
            ],
        )
        for (name, _, _), block in zip(active, blocks):
            expected = self.modalities_[name].size
            if block.shape[1] != expected:
                raise ValueError(
                    f"Encoder of modality {name!r} returned {block.shape[1]} features "
                    f"at transform, {expected} at fit."
                )
        return self._output(blocks, table)

    def get_feature_names_out(self, input_features=None):
        """Output feature names, ``"{modality}__{feature}"``.

        Parameters
        ----------
        input_features : None
            Ignored.

        Returns
        -------
        feature_names_out : ndarray of str objects
            A copy of ``feature_names_out_``, one name per output column.
        """
        check_is_fitted(self)
        return self.feature_names_out_.copy()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True
        tags.input_tags.dict = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    # -- internals -------------------------------------------------------------
    def _check_input(self, table, active):
        """Column keys of each modality in ``table`` (checked against fit)."""
        on_frame = isinstance(table, pd.DataFrame)
        fitted_on_frame = getattr(self, "_fitted_on_frame", False)
        if on_frame and fitted_on_frame:
            present = set(table.columns)
            lacking = [
                c
                for cols in self.columns_.values()
                for c in _flat([cols])
                if c not in present
            ]
            if lacking:
                raise ValueError(
                    f"Column(s) {lacking[:5]} seen in fit are missing from X; "
                    f"X has columns {list(table.columns)[:10]}."
                )
            return dict(self.columns_)
        n_columns = table.shape[1]
        if fitted_on_frame:
            if any(isinstance(c, str) for _, _, c in active for c in _flat([c])):
                raise ValueError(
                    "MultimodalEncoder was fitted on a table with column names; "
                    "transform needs a DataFrame or dict with the same columns."
                )
        if n_columns != self.n_features_in_:
            raise ValueError(
                f"X has {n_columns} columns, but MultimodalEncoder was fitted on "
                f"{self.n_features_in_}."
            )
        if not fitted_on_frame:
            return dict(self.columns_)
        # Fitted on a DataFrame, given an array: the fit positions.
        position = {c: i for i, c in enumerate(self._input_columns)}
        return {
            name: [position[c] for c in cols]
            if isinstance(cols, list)
            else position[cols]
            for name, cols in self.columns_.items()
        }

    def _run(self, func, jobs):
        verbose = self.verbose
        if self.n_jobs in (None, 1) or len(jobs) < 2:
            return [func(*job, verbose=verbose) for job in jobs]
        return Parallel(n_jobs=self.n_jobs)(
            delayed(func)(*job, verbose=verbose) for job in jobs
        )

    def _output(self, blocks, table):
        data = np.hstack(blocks) if blocks else np.empty((0, 0), dtype=np.float32)
        index = table.index if isinstance(table, pd.DataFrame) else None
        return pd.DataFrame(
            data, columns=self.feature_names_out_, index=index, copy=False
        )


def _is_drop(enc):
    return isinstance(enc, str) and enc == "drop"


def _flat(columns):
    for col in columns:
        if isinstance(col, (list, tuple)):
            yield from col
        else:
            yield col


def _is_scalar_key(col):
    return isinstance(col, (str, numbers.Integral))


def _as_block(Xt, name, n_rows):
    if sp.issparse(Xt):
        Xt = Xt.toarray()
    elif isinstance(Xt, pd.DataFrame | pd.Series):
        Xt = Xt.to_numpy()
    elif hasattr(Xt, "to_numpy"):  # polars
        Xt = Xt.to_numpy()
    Xt = np.asarray(Xt)
    if Xt.ndim == 1:
        Xt = Xt.reshape(-1, 1)
    if Xt.ndim != 2 or Xt.shape[0] != n_rows:
        raise ValueError(
            f"Encoder of modality {name!r} must return a 2-D array with one row per "
            f"sample ({n_rows}); got shape {Xt.shape}. Loaders that return images "
            "or waveforms must be followed by an encoder producing features."
        )
    try:
        return Xt.astype(np.float32, copy=False)
    except (TypeError, ValueError):
        raise ValueError(
            f"Encoder of modality {name!r} returned non-numeric values "
            f"(dtype {Xt.dtype}); its output must be a float matrix."
        ) from None


def _resolve(table, col, name):
    """Column labels (DataFrame) or positions (array) of an encoder's column spec."""
    keys = list(col) if isinstance(col, (list, tuple)) else None
    try:
        get_column(table, keys if keys is not None else col)
    except ValueError as exc:
        raise ValueError(f"Encoder of modality {name!r}: {exc}") from None
    if not isinstance(table, pd.DataFrame):
        return [int(k) for k in keys] if keys is not None else int(col)
    labels = list(table.columns)

    def label(key):
        if key in table.columns:
            return key
        return labels[int(key)]

    return [label(k) for k in keys] if keys is not None else label(col)


def _row_labels(table):
    """Index labels of a DataFrame's rows, None when they are just positions."""
    if not isinstance(table, pd.DataFrame):
        return None
    index = table.index
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        return None
    return np.asarray(index, dtype=object)


def _row(labels, position):
    return None if labels is None or position is None else labels[position]


def _passthrough(values, name, indices, labels=None):
    out = np.empty(len(values), dtype=np.float32)
    for k, (value, i) in enumerate(zip(values, indices)):
        try:
            out[k] = float(value)
        except (TypeError, ValueError):
            raise InvalidSampleError(
                f"'passthrough' needs numeric cells, got {value!r}",
                index=int(i),
                column=name,
                row=_row(labels, int(i)),
            ) from None
    return out


def _cell_policy(enc):
    """Which contract cell check applies before ``enc`` sees a column.

    skmm's raw encoders apply the contract themselves (honouring their
    ``errors`` policy); a foreign transformer taking raw strings (sklearn's
    text vectorizers with ``input="content"`` and a built-in analyzer, also as
    the first step of a Pipeline) gets the text-cell check.
    """
    if isinstance(enc, str) or isinstance(enc, (BaseRawEncoder, BaseRawLoader)):
        return None
    first = enc
    while isinstance(first, Pipeline) and first.steps:
        first = first.steps[0][1]
    if isinstance(first, (BaseRawEncoder, BaseRawLoader)):
        return None
    try:
        tags = get_tags(first)
    except Exception:  # a third-party transformer with broken tags
        return None
    if not (tags.input_tags.string and not tags.input_tags.two_d_array):
        return None
    if getattr(first, "input", "content") != "content":
        return None  # file names / file objects
    if callable(getattr(first, "analyzer", None)):
        return None  # the user's analyzer decides what a document is
    return "text"


def check_cells(enc, cells, positions, name, labels=None):
    """Apply the data contract's cell check that ``enc`` needs to ``cells``.

    ``positions`` are the cells' sample positions and ``labels`` the user's row
    labels by position (or None), both named in the error. Used by
    :class:`MultimodalEncoder` and by the ensembles' per-modality experts.
    """
    if _cell_policy(enc) == "text":
        for cell, i in zip(cells, positions):
            check_text_cell(cell, index=int(i), column=name, row=_row(labels, int(i)))


def _feature_names(enc, name, col, width):
    if isinstance(enc, str):  # passthrough
        if _is_scalar_key(col):
            return [str(col)]
        return [str(c) for c in col]
    if hasattr(enc, "get_feature_names_out"):
        try:
            names = enc.get_feature_names_out()
        except Exception:  # some transformers need input_features for raw columns
            names = None
        if names is not None and len(names) == width:
            return [str(n) for n in names]
    return [f"f{j}" for j in range(width)]


def _encode(
    name, enc, col, table, y, fit, verbose, width=None, labels=None, cache=None
):
    start = time.perf_counter()
    n = table.shape[0]
    data = get_column(table, col)
    if _is_scalar_key(col):
        mask = missing_mask(data)
        present = np.flatnonzero(~mask)
        rate = float(mask.mean())
        if present.size == 0:
            if fit:
                raise ValueError(
                    f"Modality {name!r} (column {col!r}) is missing for every "
                    "sample; nothing to fit on."
                )
            return np.full((n, width), np.nan, dtype=np.float32), rate
        cells = [data[i] for i in present]
        if isinstance(enc, str):
            Xt = _passthrough(cells, name, present, labels)
        else:
            check_cells(enc, cells, present, name, labels)
            y_sub = None if (y is None or not fit) else np.asarray(y)[present]
            with _samples_of(name, col, present, labels, enc, cells, fit):
                Xt = _cached_encode(enc, cells, y_sub, fit, cache)
        part = _as_block(Xt, name, present.size)
        block = np.full((n, part.shape[1]), np.nan, dtype=np.float32)
        block[present] = part
    else:
        rate = 0.0
        if isinstance(enc, str):
            block = _as_block(np.asarray(data, dtype=np.float64), name, n)
        else:
            everyone = np.arange(n)
            with _samples_of(name, col, everyone, labels, enc, None, fit):
                Xt = enc.fit_transform(data, y) if fit else enc.transform(data)
            block = _as_block(Xt, name, n)
    if verbose:
        took = time.perf_counter() - start
        print(
            f"[MultimodalEncoder] {name:<12} {block.shape[1]:>6} features  {took:.2f}s"
        )
    return block, rate


#: Largest number of cells probed one by one to find the row an encoder failed on.
_MAX_PROBES = 2000


@contextlib.contextmanager
def _samples_of(name, col, present, labels, enc, cells, fit):
    """Re-raise an encoder's errors naming the table row and the column.

    An encoder sees only the present cells, so its sample index counts those;
    map it back to the row of the table (and its index label), and name the
    modality. A foreign encoder's ValueError/TypeError, which names no sample,
    is located by transforming the cells one at a time (transform only, at most
    ``_MAX_PROBES`` cells); any other error gets a note naming the column.
    """
    try:
        with user_rows(present, labels):
            yield
    except InvalidSampleError as exc:
        if exc.column is not None:
            raise
        raise InvalidSampleError(
            exc.reason, index=exc.index, source=exc.source, column=name, row=exc.row
        ) from exc
    except (ValueError, TypeError) as exc:
        where = f"modality {name!r} (column {col!r})"
        if not fit and cells is not None and len(cells) <= _MAX_PROBES:
            for k, cell in enumerate(cells):
                try:
                    enc.transform([cell])
                except Exception as inner:
                    i = int(present[k])
                    raise InvalidSampleError(
                        f"{type(enc).__name__} failed: {type(inner).__name__}: {inner}",
                        index=i,
                        column=name,
                        row=_row(labels, i),
                    ) from exc
        if type(exc) in (ValueError, TypeError):
            stage = "fit" if fit else "transform"
            raise type(exc)(
                f"The encoder of {where} ({type(enc).__name__}) failed in "
                f"{stage}: {exc}"
            ) from exc
        exc.add_note(f"Raised by the encoder of {where} in MultimodalEncoder.")
        raise
    except Exception as exc:
        exc.add_note(
            f"Raised by the encoder of modality {name!r} (column {col!r}) in "
            "MultimodalEncoder."
        )
        raise


def _cached_encode(enc, cells, y, fit, cache):
    """(Fit and) encode cells, through the encoding cache when there is one."""
    if cache is None:
        return enc.fit_transform(cells, y) if fit else enc.transform(cells)
    from skmm.utils._encoding_cache import cached_transform, fit_then_transform_ok

    if fit:
        if not fit_then_transform_ok(enc):  # e.g. cross-fitted fit_transform
            return enc.fit_transform(cells, y)
        enc.fit(cells, y)
    return cached_transform(enc, cells, cache)


def _fit_transform_one(name, enc, col, table, y, labels, cache=None, verbose=False):
    enc = enc if isinstance(enc, str) else clone(enc)
    block, rate = _encode(
        name, enc, col, table, y, True, verbose, labels=labels, cache=cache
    )
    return enc, block, _feature_names(enc, name, col, block.shape[1]), rate


def _transform_one(name, enc, col, table, width, labels, cache=None, verbose=False):
    return _encode(name, enc, col, table, None, False, verbose, width, labels, cache)[0]
