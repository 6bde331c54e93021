"""Modality layout of an encoded feature matrix: the one place that resolves it.

An encoded multimodal matrix (the output of
:class:`~skmm.compose.MultimodalEncoder`) has columns named
``"{modality}__{feature}"``; a sample whose modality is missing has NaN across
that modality's block. Downstream estimators call :func:`resolve_modalities` to
find the blocks (from those names, or from an explicit ``modalities`` mapping when
the names are gone) and :func:`modality_presence` to find which blocks are present
for each sample. Feature names of the form ``"{stem}:{i}:{j}..."`` describe a grid
(an image ``channel:row:col`` or a spectrogram ``frame:mel``) whose shape
:func:`infer_block_shape` recovers for convolutional and sequence branches.
"""

import numbers
import re

import numpy as np

from skmm.exceptions import InvalidSampleError, LayoutError

__all__ = [
    "DEFAULT_MODALITY",
    "PAD_ID",
    "UNKNOWN_ID",
    "grid_feature_names",
    "infer_block_shape",
    "modality_presence",
    "resolve_modalities",
]

#: Name of the single block used when a matrix carries no modality information.
DEFAULT_MODALITY = "features"

#: Token ids reserved in token-id sequence blocks (``"token:{i}"`` features, made
#: by :class:`~skmm.encoders.TokenSequenceEncoder` and read by the fusion
#: networks' sequence branches): 0 is padding, 1 is the unknown token.
PAD_ID = 0
UNKNOWN_ID = 1

_SEP = "__"


def resolve_modalities(feature_names=None, n_features=None, modalities=None):
    """Resolve which columns of a feature matrix belong to which modality.

    Resolution order:

    1. ``modalities`` given: a mapping ``name -> columns`` where columns are
       integer positions, a slice, a boolean mask, or feature names (these need
       ``feature_names``). Every column must belong to exactly one modality.
    2. ``feature_names`` all of the form ``"{modality}__{feature}"``: blocks are
       grouped by the prefix before the first ``"__"``, in order of appearance.
    3. Otherwise the whole matrix is one block named ``"features"``.

    Parameters
    ----------
    feature_names : array-like of str, default=None
        Column names of the matrix (e.g. an estimator's ``feature_names_in_``).
    n_features : int, default=None
        Number of columns; inferred from ``feature_names`` when omitted.
    modalities : dict, default=None
        Explicit layout, ``{modality name: columns}``.

    Returns
    -------
    layout : dict of str to ndarray of int
        Column positions of each modality, in a stable order.

    Raises
    ------
    LayoutError
        If the layout is ambiguous (some names prefixed, others not), a block is
        empty, columns overlap, columns are out of range or left unassigned.

    Examples
    --------
    >>> from skmm.utils import resolve_modalities
    >>> names = ["text__e0", "text__e1", "audio__mfcc0"]
    >>> {k: v.tolist() for k, v in resolve_modalities(names).items()}
    {'text': [0, 1], 'audio': [2]}
    >>> layout = resolve_modalities(n_features=4, modalities={"a": [0, 1], "b": [2, 3]})
    >>> {k: v.tolist() for k, v in layout.items()}
    {'a': [0, 1], 'b': [2, 3]}
    >>> {k: v.tolist() for k, v in resolve_modalities(n_features=2).items()}
    {'features': [0, 1]}
    """
    if feature_names is not None:
        feature_names = [str(name) for name in feature_names]
        if n_features is None:
            n_features = len(feature_names)
        elif n_features != len(feature_names):
            raise LayoutError(
                f"Got {len(feature_names)} feature names for {n_features} features."
            )
    if n_features is None:
        raise LayoutError("Pass feature_names or n_features to resolve a layout.")
    if n_features < 1:
        raise LayoutError("A feature matrix needs at least one column.")

    if modalities is not None:
        return _from_mapping(modalities, feature_names, n_features)
    if feature_names is None:
        return {DEFAULT_MODALITY: np.arange(n_features)}

    prefixed = [_SEP in name and not name.startswith(_SEP) for name in feature_names]
    if not any(prefixed):
        return {DEFAULT_MODALITY: np.arange(n_features)}
    if not all(prefixed):
        bare = [n for n, p in zip(feature_names, prefixed) if not p]
        raise LayoutError(
            "Ambiguous modality layout: some feature names carry a "
            f"'{{modality}}{_SEP}' prefix and {len(bare)} do not "
            f"(e.g. {bare[:3]}). Give every column a prefix, or pass "
            "modalities={name: columns} explicitly."
        )
    layout = {}
    for i, name in enumerate(feature_names):
        layout.setdefault(name.split(_SEP, 1)[0], []).append(i)
    return {name: np.asarray(cols, dtype=np.intp) for name, cols in layout.items()}


def _from_mapping(modalities, feature_names, n_features):
    if not hasattr(modalities, "items") or len(modalities) == 0:
        raise LayoutError(
            "modalities must be a non-empty dict {modality name: columns}; got "
            f"{modalities!r}."
        )
    owner = np.full(n_features, -1)
    names = list(modalities)
    layout = {}
    for k, (name, cols) in enumerate(modalities.items()):
        if not isinstance(name, str) or not name:
            raise LayoutError(
                f"Modality names must be non-empty strings; got {name!r}."
            )
        idx = _columns_to_positions(name, cols, feature_names, n_features)
        if idx.size == 0:
            raise LayoutError(f"Modality {name!r} has no columns.")
        taken = owner[idx] >= 0
        if taken.any():
            col = int(idx[taken][0])
            raise LayoutError(
                f"Column {col} is assigned to both {names[owner[col]]!r} and "
                f"{name!r}; modality blocks must not overlap."
            )
        owner[idx] = k
        layout[name] = idx
    free = np.flatnonzero(owner < 0)
    if free.size:
        shown = [feature_names[i] for i in free[:5]] if feature_names else free[:5]
        raise LayoutError(
            f"{free.size} column(s) belong to no modality (e.g. {list(shown)}); "
            "every column must be assigned in modalities."
        )
    return layout


def _columns_to_positions(name, cols, feature_names, n_features):
    if isinstance(cols, slice):
        return np.arange(n_features)[cols]
    if isinstance(cols, (str, numbers.Integral)):
        cols = [cols]
    cols = np.asarray(list(cols))
    if cols.size == 0:
        return np.empty(0, dtype=np.intp)
    if cols.dtype == bool:
        if cols.shape != (n_features,):
            raise LayoutError(
                f"Boolean mask for modality {name!r} has shape {cols.shape}; "
                f"expected ({n_features},)."
            )
        return np.flatnonzero(cols)
    if cols.dtype.kind in "iu":
        bad = cols[(cols < 0) | (cols >= n_features)]
        if bad.size:
            raise LayoutError(
                f"Modality {name!r} refers to column {int(bad[0])}, but the matrix "
                f"has {n_features} columns."
            )
        if np.unique(cols).size != cols.size:
            raise LayoutError(f"Modality {name!r} lists a column twice.")
        return cols.astype(np.intp)
    if cols.dtype.kind in "UO":
        if feature_names is None:
            raise LayoutError(
                f"Modality {name!r} selects columns by name, but the matrix has no "
                "feature names; use column positions."
            )
        position = {n: i for i, n in enumerate(feature_names)}
        missing = [c for c in cols if c not in position]
        if missing:
            raise LayoutError(
                f"Modality {name!r} names unknown column(s) {missing[:3]}."
            )
        return np.asarray([position[c] for c in cols], dtype=np.intp)
    raise LayoutError(
        f"Cannot read the columns of modality {name!r}: {cols!r}. Use positions, "
        "a slice, a boolean mask or feature names."
    )


def modality_presence(X, layout, *, partial="raise"):
    """Which modality blocks are present for each sample.

    A block is present when none of its values is NaN and missing when all of
    them are NaN. A partly-NaN block is an error by default: skmm never guesses
    which values of a modality are real.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Numeric matrix (may contain NaN).
    layout : dict of str to ndarray of int
        As returned by :func:`resolve_modalities`.
    partial : {"raise", "present"}, default="raise"
        What a partly-NaN block means. ``"raise"``: an error naming the sample.
        ``"present"``: the modality counts as present (its gaps are ordinary
        missing values left to a NaN-aware estimator, e.g. the single
        ``"features"`` block of a plain tabular matrix). Only an all-NaN block
        is then missing.

    Returns
    -------
    present : ndarray of shape (n_samples, n_modalities), dtype=bool
        Columns in the order of ``layout``.

    Raises
    ------
    InvalidSampleError
        If ``partial="raise"`` and a sample has some, but not all, values of a
        block NaN.

    Examples
    --------
    >>> import numpy as np
    >>> from skmm.utils import modality_presence
    >>> X = np.array([[1.0, 2.0, 3.0], [np.nan, np.nan, 3.0]])
    >>> modality_presence(X, {"a": np.array([0, 1]), "b": np.array([2])}).tolist()
    [[True, True], [False, True]]
    >>> X = np.array([[1.0, np.nan, 3.0], [np.nan, np.nan, 3.0]])
    >>> layout = {"a": np.array([0, 1]), "b": np.array([2])}
    >>> modality_presence(X, layout, partial="present").tolist()
    [[True, True], [False, True]]
    """
    if partial not in ("raise", "present"):
        raise ValueError(f"partial must be 'raise' or 'present'; got {partial!r}.")
    X = np.asarray(X)
    if X.dtype.kind != "f":
        return presence_from_nan(None, layout, n_samples=X.shape[0], partial=partial)
    rows = nonfinite_rows(X)
    return presence_from_nan(
        np.isnan(X[rows]), layout, n_samples=X.shape[0], partial=partial, rows=rows
    )


def nonfinite_rows(X):
    """Rows of a float matrix that may hold a NaN or an infinity, in one pass.

    Every row with a non-finite value is returned. The screen is each row's
    sum (``np.einsum``, vectorised, single-threaded, no BLAS thread pool to
    contend with the caller's threads): a NaN or an infinity makes the sum
    non-finite, so no such row is missed, and the data is read once without
    writing a mask of its size. A row of finite values whose sum overflows is
    returned too; callers check the returned rows exactly (``X[rows]``), which
    are few in the common case.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float dtype
        Any memory layout.

    Returns
    -------
    rows : ndarray of int of shape (n_suspect,)
        Increasing row positions; empty when every value is finite.

    Examples
    --------
    >>> import numpy as np
    >>> from skmm.utils._layout import nonfinite_rows
    >>> X = np.array([[1.0, 2.0], [np.nan, 1.0], [3.0, np.inf], [4.0, 5.0]])
    >>> nonfinite_rows(X).tolist()
    [1, 2]
    """
    if X.ndim != 2 or X.dtype.kind != "f":
        raise ValueError(f"expected a 2-D float array; got {X.dtype} {X.shape}.")
    if X.shape[1] == 0:
        return np.empty(0, dtype=np.intp)
    with np.errstate(all="ignore"):
        sums = np.einsum("ij->i", X)
    return np.flatnonzero(~np.isfinite(sums))


def block_index(cols):
    """Index of a block's columns: a slice when they are consecutive, else them.

    Indexing with a slice gives a view (no copy) of the block.

    Parameters
    ----------
    cols : ndarray of int
        Column positions of one block (e.g. a value of :func:`resolve_modalities`).

    Returns
    -------
    index : slice or ndarray of int

    Examples
    --------
    >>> import numpy as np
    >>> from skmm.utils._layout import block_index
    >>> block_index(np.array([3, 4, 5]))
    slice(3, 6, None)
    >>> block_index(np.array([0, 2])).tolist()
    [0, 2]
    """
    cols = np.asarray(cols)
    if (
        cols.ndim == 1
        and cols.size
        and cols.dtype.kind in "iu"
        and cols[0] >= 0
        and (cols.size == 1 or bool((np.diff(cols) == 1).all()))
    ):
        return slice(int(cols[0]), int(cols[0]) + cols.size)
    return cols


def presence_from_nan(nan, layout, *, n_samples=None, partial="raise", rows=None):
    """:func:`modality_presence` from a precomputed NaN mask.

    For callers that already hold the mask of their matrix (e.g. from their
    finiteness check), so that the data is scanned once.

    Parameters
    ----------
    nan : ndarray of shape (n_samples, n_features), dtype=bool, or None
        ``np.isnan(X)``; ``None`` when ``X`` is known to hold no NaN. With
        ``rows``, the mask of those rows only, ``np.isnan(X[rows])``.
    layout : dict of str to ndarray of int
        As returned by :func:`resolve_modalities`.
    n_samples : int, default=None
        Number of rows; required when ``nan`` is None or ``rows`` is given.
    partial : {"raise", "present"}, default="raise"
        See :func:`modality_presence`.
    rows : ndarray of int, default=None
        Positions of the rows ``nan`` describes (e.g. from
        :func:`nonfinite_rows`); every other row holds no NaN. Errors name the
        position in ``X``.

    Returns
    -------
    present : ndarray of shape (n_samples, n_modalities), dtype=bool

    Raises
    ------
    InvalidSampleError
        If ``partial="raise"`` and a sample has some, but not all, values of a
        block NaN.

    Examples
    --------
    >>> import numpy as np
    >>> from skmm.utils._layout import presence_from_nan
    >>> X = np.array([[1.0, 2.0, 3.0], [np.nan, np.nan, 3.0]])
    >>> layout = {"a": np.array([0, 1]), "b": np.array([2])}
    >>> presence_from_nan(np.isnan(X), layout).tolist()
    [[True, True], [False, True]]
    """
    if partial not in ("raise", "present"):
        raise ValueError(f"partial must be 'raise' or 'present'; got {partial!r}.")
    if rows is not None and nan is not None:
        rows = np.asarray(rows, dtype=np.intp)
        if len(rows) != nan.shape[0]:
            raise ValueError("nan must hold one row per entry of rows.")
        present = presence_from_nan(None, layout, n_samples=n_samples, partial=partial)
        try:
            present[rows] = presence_from_nan(nan, layout, partial=partial)
        except InvalidSampleError as exc:
            # the position in the subset -> the position in X
            raise InvalidSampleError(exc.reason, index=int(rows[exc.index])) from None
        return present
    if nan is not None:
        n_samples = nan.shape[0]
        if not nan.any():
            nan = None
    present = np.ones((n_samples, len(layout)), dtype=bool)
    for k, (name, cols) in enumerate(layout.items()):
        width = len(cols)
        if nan is None:
            # an empty block is never present under partial="present"
            present[:, k] = partial == "raise" or width > 0
            continue
        block = nan[:, block_index(cols)]
        if partial == "present":
            present[:, k] = ~block.all(axis=1)
            continue
        any_nan = block.any(axis=1)
        if any_nan.any():
            gaps = np.flatnonzero(any_nan & ~block.all(axis=1))
            if gaps.size:
                i = int(gaps[0])
                raise InvalidSampleError(
                    f"{int(block[i].sum())} of {width} features of modality "
                    f"{name!r} are NaN. A modality is either present (no NaN) or "
                    "missing (all NaN); impute partial gaps before this step"
                    + (f" ({gaps.size} samples affected)" if gaps.size > 1 else ""),
                    index=i,
                )
        present[:, k] = ~any_nan
    return present


_GRID = re.compile(r"^(?P<stem>[^:]*):(?P<idx>\d+(?::\d+)*)$")


def grid_feature_names(stem, shape):
    """Feature names for a C-ordered grid block, ``"{stem}:{i}:{j}..."``.

    Encoders whose output is a flattened grid (pixels, spectrogram frames, token
    positions) name their features this way so that fusion branches can recover
    the shape with :func:`infer_block_shape`.

    Parameters
    ----------
    stem : str
        Common prefix of the names, before the first ``":"``.
    shape : tuple of int
        Shape of the grid.

    Returns
    -------
    feature_names : ndarray of str objects of shape (prod(shape),)
        One name per grid cell, ``"{stem}:{i}:{j}..."`` with the indices in
        C order (last index fastest).

    Examples
    --------
    >>> from skmm.utils import grid_feature_names
    >>> grid_feature_names("pixel", (1, 2, 2)).tolist()
    ['pixel:0:0:0', 'pixel:0:0:1', 'pixel:0:1:0', 'pixel:0:1:1']
    """
    index = np.indices(shape).reshape(len(shape), -1).T
    return np.asarray(
        [stem + ":" + ":".join(map(str, row)) for row in index], dtype=object
    )


def infer_block_shape(feature_names):
    """Recover the grid shape of a block from ``"{stem}:{i}:{j}..."`` names.

    Parameters
    ----------
    feature_names : sequence of str
        Names of one block, with or without the ``"{modality}__"`` prefix.

    Returns
    -------
    shape : tuple of int or None
        The grid shape, or None when the names do not describe a complete,
        C-ordered grid.

    Examples
    --------
    >>> from skmm.utils import grid_feature_names, infer_block_shape
    >>> infer_block_shape(["image__" + n for n in grid_feature_names("px", (3, 4, 5))])
    (3, 4, 5)
    >>> infer_block_shape(["audio__mfcc0_mean", "audio__mfcc1_mean"]) is None
    True
    """
    stems, rows = set(), []
    for name in feature_names:
        match = _GRID.match(str(name).split(_SEP, 1)[-1])
        if match is None:
            return None
        stems.add(match["stem"])
        rows.append([int(i) for i in match["idx"].split(":")])
    if len(stems) != 1 or len({len(r) for r in rows}) != 1:
        return None
    index = np.asarray(rows)
    shape = tuple(int(s) for s in index.max(axis=0) + 1)
    expected = np.indices(shape).reshape(len(shape), -1).T
    if expected.shape != index.shape or not np.array_equal(expected, index):
        return None
    return shape
