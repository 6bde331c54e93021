"""Shared machinery of the raw-modality encoders.

Every encoder in :mod:`skmm.encoders` takes one raw column (see
:func:`skmm.utils.check_raw_column`) and subclasses :class:`BaseRawEncoder`, which
owns the data contract for them:

* missing cells (:func:`skmm.utils.is_missing`) give NaN rows, never zeros;
* cells are decoded by a picklable *loader* (``self._loader()``), item by item,
  optionally in parallel (``n_jobs``), batch by batch so peak memory is bounded
  by ``batch_size`` decoded items plus the output matrix;
* a cell that cannot be decoded raises :class:`~skmm.exceptions.InvalidSampleError`
  naming the sample and its source, or -- with ``errors="missing"`` -- becomes a
  missing (NaN) row with a warning that lists the samples;
* ``verbose`` shows a tqdm progress bar over batches;
* heavy resources (pretrained models) are held in ``_transient`` attributes:
  they are dropped on pickling and reloaded, once per process, by reference.

Subclasses implement:

``_loader(self)``
    Return a picklable callable ``load(cell) -> item`` that validates and decodes
    one present cell. It raises :class:`~skmm.exceptions.InvalidSampleError`
    (without index; the base adds it) on a bad cell. Default: identity.
``_fit_items(self, items)``
    Fit on the decoded present items (a vocabulary, ...). Default: nothing.
    ``_fit_needs_items = False`` skips decoding in ``fit`` altogether.
``_encode_batch(self, items)``
    Map a list of decoded items to a float array of shape
    ``(len(items), n_features_out)``.
``_feature_names(self)``
    The output feature names (without any modality prefix).
``_check_param_combinations(self)`` (optional)
    Cross-parameter checks that ``_parameter_constraints`` cannot express
    (e.g. ``n_mfcc <= n_mels``); called by ``fit`` after sklearn's parameter
    validation.

Parameters are validated by scikit-learn's mechanism: each class declares
``_parameter_constraints`` (extending its parent's dict), and ``fit`` is wrapped
in ``_fit_context``, which raises sklearn's ``InvalidParameterError`` (a
``ValueError`` and a ``TypeError``) naming the parameter and what it accepts.
``_encode_order(self, cells, present)`` (optional)
    The order in which present samples are batched in ``transform`` (e.g. by
    text length, to minimise padding). Default: input order.
"""

import itertools
import warnings
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import gen_batches
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_is_fitted

from skmm.exceptions import InvalidSampleError
from skmm.utils._contract import check_raw_column, describe_cell, missing_mask
from skmm.utils._fitting import atomic_fit
from skmm.utils._sklearn_compat import Interval, StrOptions, _fit_context

#: Constraints of the parameters every raw-modality encoder and loader shares.
_COMMON_CONSTRAINTS = {
    "n_jobs": [Integral, None],
    "verbose": ["verbose"],
    "errors": [StrOptions({"raise", "missing"})],
}

__all__ = ["BaseRawEncoder", "BaseRawLoader", "load_cells", "warn_undecodable"]


def _load_one(load, cell, index):
    try:
        return load(cell)
    except InvalidSampleError as exc:
        source = exc.source
        if source is None and isinstance(cell, str):
            source = cell
        raise InvalidSampleError(
            exc.reason, index=index, source=source, column=exc.column
        ) from exc


def _load_chunk(load, cells, indices, errors):
    out = []
    for cell, index in zip(cells, indices):
        try:
            out.append(_load_one(load, cell, index))
        except InvalidSampleError as exc:
            if errors == "raise":
                raise
            out.append(exc)
    return out


def load_cells(load, cells, indices, *, n_jobs=None, errors="raise", prefer="threads"):
    """Apply a loader to cells, optionally in parallel, keeping their order.

    Parameters
    ----------
    load : callable
        ``load(cell) -> item``; raises :class:`~skmm.exceptions.InvalidSampleError`
        on a bad cell.
    cells : list
        Present (non-missing) cells.
    indices : sequence of int
        Sample index of each cell, named in errors.
    n_jobs : int, default=None
        Number of joblib workers (``None`` means 1).
    errors : {"raise", "missing"}, default="raise"
        With ``"missing"``, a bad cell yields the exception object instead of an
        item, so that the caller can turn it into a missing row.
    prefer : {"threads", "processes"}, default="threads"
        joblib backend preference. Workers run through
        :class:`sklearn.utils.parallel.Parallel`, so the caller's scikit-learn
        configuration (``sklearn.set_config``) reaches them.

    Returns
    -------
    items : list
        Decoded items (or exceptions, with ``errors="missing"``).

    Examples
    --------
    >>> from skmm.encoders._base import load_cells
    >>> load_cells(str.upper, ["a", "b"], [0, 1])
    ['A', 'B']
    """
    indices = list(indices)
    if n_jobs in (None, 1) or len(cells) < 2:
        return _load_chunk(load, cells, indices, errors)
    n_chunks = min(len(cells), 4 * abs(int(n_jobs)) if n_jobs != -1 else 8)
    bounds = np.linspace(0, len(cells), n_chunks + 1).astype(int)
    chunks = Parallel(n_jobs=n_jobs, prefer=prefer)(
        delayed(_load_chunk)(load, cells[a:b], indices[a:b], errors)
        for a, b in itertools.pairwise(bounds)
        if b > a
    )
    return [item for chunk in chunks for item in chunk]


class BaseRawEncoder(TransformerMixin, BaseEstimator):
    """Base class for encoders of one raw modality column (see module docstring).

    Subclasses must accept ``batch_size``, ``n_jobs``, ``verbose`` and ``errors``
    parameters in their ``__init__``, and extend ``_parameter_constraints``.
    """

    _parameter_constraints: dict = {
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        **_COMMON_CONSTRAINTS,
    }

    #: "text", "image" or "audio": used in messages and tags.
    _modality = None
    #: joblib preference for decoding cells in parallel.
    _parallel_prefer = "threads"
    #: whether ``fit`` needs the decoded items (False: fit validates the column only).
    _fit_needs_items = False
    #: attributes dropped on pickling and rebuilt lazily (pretrained models).
    _transient = ()

    # -- hooks ---------------------------------------------------------------
    def _loader(self):
        return _identity

    def _fit_items(self, items):
        return None

    def _encode_batch(self, items):  # pragma: no cover - abstract
        raise NotImplementedError

    def _feature_names(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _prepare(self):
        """Load resources (models) before encoding; called by fit."""
        return None

    def _check_param_combinations(self):
        """Cross-parameter checks run by fit after ``_parameter_constraints``."""
        return None

    def _encode_order(self, cells, present):
        """Order in which the present cells are batched (default: input order).

        Output rows are placed by sample index, so a subclass may reorder, e.g.
        sort texts by length so that each batch needs less padding.
        """
        return present

    # -- sklearn API -----------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    @atomic_fit
    def fit(self, X, y=None):
        """Fit the encoder on a raw column.

        Parameters
        ----------
        X : sequence of shape (n_samples,)
            Raw cells; missing cells (None/NaN) are ignored.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted encoder. A fit that fails (or is interrupted) leaves the
            encoder as it was before.
        """
        self._check_param_combinations()
        cells = check_raw_column(X, estimator=self)
        present = np.flatnonzero(~missing_mask(cells))
        if present.size == 0:
            raise ValueError(
                f"{type(self).__name__}: every cell of the column is missing; "
                "there is nothing to fit on."
            )
        for attr in self._transient:
            self.__dict__.pop(attr, None)
        self._prepare()
        if self._fit_needs_items:
            items, _ = self._load(cells, present)
            self._fit_items(items)
        self.n_features_out_ = len(self._feature_names())
        return self

    def transform(self, X):
        """Encode a raw column.

        Parameters
        ----------
        X : sequence of shape (n_samples,)
            Raw cells. Missing cells (None/NaN) give rows of NaN.

        Returns
        -------
        Xt : ndarray of shape (n_samples, n_features_out_), dtype=float32
            One row per cell, in input order; NaN rows for missing cells.
        """
        check_is_fitted(self)
        cells = check_raw_column(X, estimator=self)
        cache = getattr(self, "cache", None)  # subclasses with a `cache` parameter
        if cache is not None:
            from skmm.utils._encoding_cache import cached_transform

            return cached_transform(self, cells, cache, transform=self._encode_cells)
        return self._encode_cells(cells)

    def _encode_cells(self, cells):
        """Encode validated cells (missing cells give NaN rows), batch by batch."""
        out = np.full((len(cells), self.n_features_out_), np.nan, dtype=np.float32)
        present = self._encode_order(cells, np.flatnonzero(~missing_mask(cells)))
        if present.size == 0:
            return out
        batch_size = self.batch_size or max(1, present.size)
        batches = list(gen_batches(present.size, batch_size))
        for batch in self._progress(batches, desc=f"{type(self).__name__}"):
            items, kept = self._load(cells, present[batch])
            if not items:
                continue
            encoded = np.asarray(self._encode_batch(items), dtype=np.float32)
            if encoded.shape != (len(items), self.n_features_out_):
                raise RuntimeError(
                    f"{type(self).__name__} produced an array of shape "
                    f"{encoded.shape} for {len(items)} items; expected "
                    f"({len(items)}, {self.n_features_out_})."
                )
            out[kept] = encoded
        return out

    def get_feature_names_out(self, input_features=None):
        """Output feature names (without modality prefix).

        Parameters
        ----------
        input_features : None
            Ignored; raw columns have no input feature names.

        Returns
        -------
        feature_names_out : ndarray of str objects
            The names of the output columns, e.g. ``emb0``, ``emb1``, ... for
            the pretrained encoders.
        """
        check_is_fitted(self)
        return np.asarray(self._feature_names(), dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.one_d_array = True
        tags.input_tags.string = self._modality in ("text", "image", "audio")
        tags.input_tags.allow_nan = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    # -- internals -------------------------------------------------------------
    def _load(self, cells, indices):
        """Decode ``cells[indices]``; returns (items, indices of decoded items)."""
        errors = getattr(self, "errors", "raise")
        items = load_cells(
            self._loader(),
            [cells[i] for i in indices],
            indices,
            n_jobs=getattr(self, "n_jobs", None),
            errors=errors,
            prefer=self._parallel_prefer,
        )
        failed = [item for item in items if isinstance(item, InvalidSampleError)]
        if not failed:
            return items, np.asarray(indices)
        warn_undecodable(self, failed, stacklevel=4)
        keep = [k for k, item in enumerate(items) if not isinstance(item, Exception)]
        return [items[k] for k in keep], np.asarray(indices)[keep]

    def _progress(self, iterable, desc):
        if not getattr(self, "verbose", 0) or len(iterable) < 2:
            return iterable
        from tqdm.auto import tqdm

        return tqdm(iterable, desc=desc, unit="batch")

    def __getstate__(self):
        state = super().__getstate__()
        for attr in self._transient:
            state.pop(attr, None)
        return state


def _identity(cell):
    return cell


def warn_undecodable(estimator, failed, stacklevel=3):
    """Warn that ``failed`` cells (InvalidSampleError) are treated as missing."""
    shown = "; ".join(str(e) for e in failed[:3])
    warnings.warn(
        f"{type(estimator).__name__}: {len(failed)} sample(s) could not be decoded "
        f"and are treated as missing (errors='missing'): {shown}",
        UserWarning,
        stacklevel=stacklevel,
    )


class BaseRawLoader(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """Base class of the stateless loaders (raw column -> list of decoded items).

    A loader decodes each present cell with ``self._loader()`` (a picklable
    ``load(cell) -> item``), in batches and optionally in parallel (``n_jobs``);
    missing cells give ``None``. Its output is a list, so it opts out of
    ``set_output`` wrapping. Subclasses define ``_loader``, accept ``n_jobs``,
    ``verbose`` and ``errors`` and extend ``_parameter_constraints``. Being
    stateless (``requires_fit=False``), a loader validates its parameters in
    ``transform`` as well as in ``fit``.
    """

    _parameter_constraints: dict = dict(_COMMON_CONSTRAINTS)
    _modality = None
    _parallel_prefer = "threads"
    _batch_size = 256

    def _loader(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _check_param_combinations(self):
        """Cross-parameter checks run after ``_parameter_constraints``."""
        return None

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Validate the parameters and the column; nothing is learned.

        Parameters
        ----------
        X : sequence of shape (n_samples,)
            Raw cells (not decoded here).
        y : None
            Ignored.

        Returns
        -------
        self : object
            The loader.
        """
        self._check_param_combinations()
        check_raw_column(X, estimator=self)
        return self

    def transform(self, X):
        """Decode every present cell.

        Parameters
        ----------
        X : sequence of shape (n_samples,)
            Raw cells; None/NaN cells are missing.

        Returns
        -------
        items : list of length n_samples
            Decoded items, and ``None`` for missing cells (and, with
            ``errors="missing"``, for cells that could not be decoded).
        """
        self._validate_params()
        self._check_param_combinations()
        load = self._loader()
        cells = check_raw_column(X, estimator=self)
        out = [None] * len(cells)
        present = np.flatnonzero(~missing_mask(cells))
        batches = list(gen_batches(present.size, self._batch_size))
        if self.verbose and len(batches) > 1:
            from tqdm.auto import tqdm

            batches = tqdm(batches, desc=type(self).__name__, unit="batch")
        failed = []
        for batch in batches:
            indices = present[batch]
            items = load_cells(
                load,
                [cells[i] for i in indices],
                indices,
                n_jobs=self.n_jobs,
                errors=self.errors,
                prefer=self._parallel_prefer,
            )
            for index, item in zip(indices, items):
                if isinstance(item, InvalidSampleError):
                    failed.append(item)
                else:
                    out[index] = item
        if failed:
            warn_undecodable(self, failed)
        return out

    def set_output(self, *, transform=None):
        """No-op: the output is a list of decoded items, never a DataFrame.

        Parameters
        ----------
        transform : {"default", "pandas", "polars"}, default=None
            Ignored.

        Returns
        -------
        self : object
            The loader, unchanged.
        """
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False
        tags.input_tags.one_d_array = True
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True
        tags.transformer_tags.preserves_dtype = []
        return tags


def bad_cell(message, cell, source=None):
    """Build an :class:`InvalidSampleError` for a cell (the base adds the index).

    Examples
    --------
    >>> from skmm.encoders._base import bad_cell
    >>> str(bad_cell("expected text", 3))
    'expected text, got 3'
    """
    return InvalidSampleError(f"{message}, got {describe_cell(cell)}", source=source)
