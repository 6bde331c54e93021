"""The multimodal data contract: raw tables, raw columns and missing cells.

This module is the single place that decides

* what a raw multimodal table is (a pandas DataFrame, a dict of equal-length
  sequences, or a 2-D object ndarray addressed by column position),
* what a raw column is (a 1-D sequence of cells, one per sample), and
* what a *missing* cell is (``None``, a float NaN, ``pd.NA`` or ``pd.NaT``).

Every encoder, the :class:`~skmm.compose.MultimodalEncoder` and the ensembles go
through these helpers; nothing else re-implements them.
"""

import contextlib
import numbers
import os
import stat

import numpy as np
import pandas as pd

from skmm.exceptions import InvalidSampleError, LayoutError

__all__ = [
    "as_table",
    "check_raw_column",
    "check_text_cell",
    "describe_cell",
    "get_column",
    "is_missing",
    "missing_mask",
    "open_regular_file",
    "resolve_table_modalities",
    "table_columns",
    "table_presence",
]


def is_missing(cell):
    """Return True if ``cell`` marks a missing modality.

    A missing cell is ``None``, a float NaN (Python or NumPy scalar), ``pd.NA`` or
    ``pd.NaT``. Arrays, strings (also empty ones), paths and images are never
    missing: an empty string is a (bad) text, not an absent one.

    Parameters
    ----------
    cell : object
        One cell of a raw table.

    Returns
    -------
    missing : bool
        Whether ``cell`` is a missing cell.

    Examples
    --------
    >>> import numpy as np
    >>> from skmm.utils import is_missing
    >>> [is_missing(c) for c in [None, np.nan, "", "a cat", np.zeros(3)]]
    [True, True, False, False, False]
    """
    if cell is None or cell is pd.NA or cell is pd.NaT:
        return True
    if isinstance(cell, (float, np.floating)):
        return bool(np.isnan(cell))
    return False


def missing_mask(cells):
    """Boolean mask of the missing cells of a raw column.

    Parameters
    ----------
    cells : sequence
        A raw column, as returned by :func:`check_raw_column`.

    Returns
    -------
    mask : ndarray of shape (n_samples,), dtype=bool
        True where the cell is missing (see :func:`is_missing`).

    Examples
    --------
    >>> from skmm.utils import missing_mask
    >>> missing_mask(["a", None, "b"]).tolist()
    [False, True, False]
    """
    return np.fromiter((is_missing(c) for c in cells), dtype=bool, count=len(cells))


def describe_cell(cell, max_len=60):
    """Short, human readable description of a cell, for error messages.

    Parameters
    ----------
    cell : object
        One cell of a raw table.
    max_len : int, default=60
        Maximum length of the cell's ``repr``: a longer one is cut to
        ``max_len`` characters, the last three being ``"..."``. Not used for
        an ndarray or a 2-tuple.

    Returns
    -------
    description : str
        For an ndarray, its shape and dtype; for a 2-tuple, ``"tuple(...)"``
        of the description of its first element and the ``repr`` of its
        second; otherwise the (cut) ``repr`` of the cell, prefixed with its
        type name unless the cell is a string, bytes, a number or None.

    Examples
    --------
    >>> import numpy as np
    >>> from skmm.utils import describe_cell
    >>> describe_cell("photos/cat.png")
    "'photos/cat.png'"
    >>> describe_cell(np.zeros((2, 3), dtype=np.float32))
    'ndarray of shape (2, 3), dtype float32'
    """
    if isinstance(cell, np.ndarray):
        return f"ndarray of shape {cell.shape}, dtype {cell.dtype}"
    if isinstance(cell, tuple) and len(cell) == 2:
        return f"tuple({describe_cell(cell[0])}, {cell[1]!r})"
    text = repr(cell)
    if len(text) > max_len:
        text = text[: max_len - 3] + "..."
    if not isinstance(cell, (str, bytes, numbers.Number)) and cell is not None:
        return f"{type(cell).__name__} {text}"
    return text


def check_raw_column(X, *, name=None, estimator=None):
    """Validate a raw column and return it as a list of cells.

    A raw column is a 1-D sequence with one cell per sample: a list or tuple, a
    1-D ndarray, a pandas Series, a single-column DataFrame or a 2-D object array
    with one column. A numeric ndarray of 2 or more dimensions is read as a stack
    of cells along its first axis (``(n, T)`` waveforms, ``(n, H, W[, C])``
    images). A bare string is rejected (it would be read character by
    character), and so is an empty column.

    Parameters
    ----------
    X : sequence
        The raw column.
    name : str, default=None
        Column name used in error messages.
    estimator : estimator instance or str, default=None
        Named in error messages.

    Returns
    -------
    cells : list
        One entry per sample; missing cells are kept (see :func:`is_missing`).

    Examples
    --------
    >>> import pandas as pd
    >>> from skmm.utils import check_raw_column
    >>> check_raw_column(pd.Series(["a dog", None], dtype=object))
    ['a dog', None]
    >>> check_raw_column("a dog")
    Traceback (most recent call last):
    ...
    ValueError: Iterable over raw cells expected (one per sample), string object ...
    """
    who = _who(estimator, name)
    if isinstance(X, (str, bytes)):
        raise ValueError(
            f"{who}Iterable over raw cells expected (one per sample), "
            f"{type(X).__name__.replace('str', 'string')} object received."
        )
    if isinstance(X, pd.DataFrame):
        if X.shape[1] != 1:
            raise ValueError(
                f"{who}a raw column must be 1-D; got a DataFrame with "
                f"{X.shape[1]} columns {list(X.columns)[:5]}. Select one column, "
                "or use skmm.compose.MultimodalEncoder for a multimodal table."
            )
        cells = X.iloc[:, 0].tolist()
    elif isinstance(X, pd.Series):
        cells = X.tolist()
    elif isinstance(X, np.ndarray):
        if X.ndim == 0:
            raise ValueError(f"{who}a raw column must be 1-D; got a 0-d array.")
        if X.dtype == object and X.ndim == 2:
            if X.shape[1] != 1:
                raise ValueError(
                    f"{who}a raw column must be 1-D; got an object array of shape "
                    f"{X.shape}. Select one column."
                )
            X = X[:, 0]
        cells = list(X) if X.ndim > 1 else X.tolist() if X.dtype == object else list(X)
    elif isinstance(X, dict):
        raise ValueError(
            f"{who}a raw column must be a 1-D sequence, got a dict. Select one "
            "column, or use skmm.compose.MultimodalEncoder for a multimodal table."
        )
    elif hasattr(X, "__len__") and hasattr(X, "__getitem__"):
        cells = list(X)
    elif hasattr(X, "__iter__"):
        cells = list(X)
    else:
        raise ValueError(
            f"{who}a raw column must be a 1-D sequence of cells, got "
            f"{type(X).__name__}."
        )
    if len(cells) == 0:
        raise ValueError(
            f"{who}found an empty column (0 samples) while a minimum of 1 is required."
        )
    return cells


def _who(estimator, name):
    parts = []
    if estimator is not None:
        parts.append(
            estimator if isinstance(estimator, str) else type(estimator).__name__
        )
    if name is not None:
        parts.append(f"column {name!r}")
    return (" ".join(parts) + ": ") if parts else ""


def as_table(X):
    """Normalise a raw multimodal table.

    Parameters
    ----------
    X : DataFrame, dict of sequences or 2-D ndarray
        One column per modality, one row per sample. A dict maps column names to
        equal-length sequences (a stacked ndarray counts as a sequence of its
        rows). A 2-D ndarray is addressed by column position.

    Returns
    -------
    table : DataFrame or ndarray
        A DataFrame (from a DataFrame or dict) or a 2-D ndarray.

    Raises
    ------
    ValueError
        On columns of different lengths, an empty table or an unsupported type.

    Notes
    -----
    pandas Series in a dict are paired by index label, as pandas pairs them:
    Series whose indexes hold the same labels in another order are aligned to
    the first Series' order, and the table keeps that index (so errors can name
    the user's rows). Series whose labels differ raise, rather than pairing the
    samples of different rows or inventing missing cells. Lists and arrays in
    the same dict are positional.

    Examples
    --------
    >>> from skmm.utils import as_table
    >>> as_table({"text": ["a", "b"], "audio": [None, None]}).shape
    (2, 2)
    >>> as_table({"text": ["a", "b"], "audio": [None]})
    Traceback (most recent call last):
    ...
    ValueError: All columns of a multimodal table must have the same length; ...
    >>> import pandas as pd
    >>> table = as_table({"text": pd.Series(["a", "b"], index=[7, 9]),
    ...                   "size": pd.Series([9.0, 7.0], index=[9, 7])})
    >>> table["size"].tolist(), table.index.tolist()
    ([7.0, 9.0], [7, 9])
    """
    if isinstance(X, pd.DataFrame):
        table = X
    elif isinstance(X, dict):
        index = _aligned_index(X)
        if index is not None:
            X = {
                key: value.reindex(index) if isinstance(value, pd.Series) else value
                for key, value in X.items()
            }
        lengths = {}
        columns = {}
        for key, value in X.items():
            if isinstance(value, (str, bytes)):
                raise ValueError(
                    f"Column {key!r} of the table is a single string; a column "
                    "must hold one cell per sample."
                )
            cells = list(value) if isinstance(value, np.ndarray) else value
            try:
                lengths[key] = len(cells)
            except TypeError:
                raise ValueError(
                    f"Column {key!r} of the table is not a sequence "
                    f"(got {type(value).__name__})."
                ) from None
            columns[key] = pd.Series(list(cells), dtype=object)
        if len(set(lengths.values())) > 1:
            raise ValueError(
                "All columns of a multimodal table must have the same length; "
                f"got {lengths}."
            )
        table = pd.DataFrame(columns)
        if index is not None and len(index) == table.shape[0]:
            table.index = index
    elif isinstance(X, np.ndarray):
        if X.ndim != 2:
            raise ValueError(
                "A multimodal table given as an ndarray must be 2-D "
                f"(samples x columns); got shape {X.shape}."
            )
        table = X
    elif isinstance(X, (list, tuple)):
        raise ValueError(
            "A multimodal table must be a pandas DataFrame, a dict of columns or a "
            f"2-D array; got a {type(X).__name__}. For a single modality pass the "
            "raw column to an encoder directly."
        )
    else:
        raise ValueError(
            "A multimodal table must be a pandas DataFrame, a dict of columns or a "
            f"2-D array; got {type(X).__name__}."
        )
    if table.shape[0] == 0:
        raise ValueError("Found an empty table (0 samples); at least 1 is required.")
    return table


def _aligned_index(columns):
    """The index dict Series are aligned to, or None when there are none."""
    series = [(k, v) for k, v in columns.items() if isinstance(v, pd.Series)]
    if not series:
        return None
    first_key, first = series[0]
    index = first.index
    for key, value in series[1:]:
        if value.index.equals(index):
            continue
        same_labels = (
            index.is_unique
            and value.index.is_unique
            and len(value.index) == len(index)
            and value.index.isin(index).all()
        )
        if not same_labels:
            extra = value.index.difference(index)[:3].tolist()
            lacking = index.difference(value.index)[:3].tolist()
            raise ValueError(
                f"The Series of columns {first_key!r} and {key!r} have different "
                "indexes; pandas would pair their samples by label, and they do not "
                f"match (e.g. labels only in {key!r}: {extra}, only in "
                f"{first_key!r}: {lacking}). Align them (e.g. with "
                "pd.concat(..., axis=1, join='inner')) or pass a DataFrame."
            )
    return index


def table_columns(table):
    """Column keys of a table returned by :func:`as_table`.

    Parameters
    ----------
    table : DataFrame or 2-D ndarray
        A table returned by :func:`as_table`.

    Returns
    -------
    columns : list
        The column labels of a DataFrame, or the column positions
        ``0, ..., n_columns - 1`` of an array.

    Examples
    --------
    >>> import numpy as np
    >>> from skmm.utils import table_columns
    >>> table_columns(np.empty((2, 3), dtype=object))
    [0, 1, 2]
    """
    if isinstance(table, pd.DataFrame):
        return list(table.columns)
    return list(range(table.shape[1]))


def resolve_table_modalities(table, modalities=None):
    """Resolve which raw columns of a table hold which modality.

    The raw-table counterpart of :func:`~skmm.utils.resolve_modalities`: on a raw
    table a modality is a column. By default every column is one modality, named
    after the column (``str(position)`` for an array). An explicit mapping groups
    columns under modality names; every column must then belong to exactly one
    modality.

    Parameters
    ----------
    table : DataFrame or 2-D ndarray
        A table returned by :func:`as_table`.
    modalities : dict, default=None
        ``{modality name: column or list of columns}``; columns are names
        (DataFrame) or positions (any table).

    Returns
    -------
    layout : dict of str to list
        Column keys of each modality: column labels for a DataFrame, positions
        for an array, usable with :func:`get_column`.

    Raises
    ------
    LayoutError
        If a column is unknown, listed twice, or left unassigned.

    Examples
    --------
    >>> import pandas as pd
    >>> from skmm.utils import resolve_table_modalities
    >>> table = pd.DataFrame({"text": ["a", None], "audio": [None, "b.wav"]})
    >>> resolve_table_modalities(table)
    {'text': ['text'], 'audio': ['audio']}
    >>> resolve_table_modalities(table, {"speech": ["audio", "text"]})
    {'speech': ['audio', 'text']}
    """
    columns = table_columns(table)
    if modalities is None:
        return {str(col): [col] for col in columns}
    if not hasattr(modalities, "items") or len(modalities) == 0:
        raise LayoutError(
            "modalities must be a non-empty dict {modality name: columns}; got "
            f"{modalities!r}."
        )
    owner = {}
    layout = {}
    for name, cols in modalities.items():
        if not isinstance(name, str) or not name:
            raise LayoutError(
                f"Modality names must be non-empty strings; got {name!r}."
            )
        keys = list(cols) if isinstance(cols, (list, tuple)) else [cols]
        if not keys:
            raise LayoutError(f"Modality {name!r} has no columns.")
        resolved = []
        for key in keys:
            try:
                _check_key(table, key)
            except ValueError as exc:
                raise LayoutError(f"Modality {name!r}: {exc}") from None
            if isinstance(table, pd.DataFrame) and key not in table.columns:
                key = columns[int(key)]
            if key in owner:
                raise LayoutError(
                    f"Column {key!r} is assigned to both {owner[key]!r} and {name!r}; "
                    "modalities must not overlap."
                )
            owner[key] = name
            resolved.append(key)
        layout[name] = resolved
    free = [col for col in columns if col not in owner]
    if free:
        raise LayoutError(
            f"{len(free)} column(s) belong to no modality (e.g. {free[:5]}); every "
            "column must be assigned in modalities."
        )
    return layout


def table_presence(table, layout):
    """Which modalities are present for each sample of a raw table.

    The raw-table counterpart of :func:`~skmm.utils.modality_presence`. A
    modality is present for a sample unless every one of its cells is missing
    (see :func:`is_missing`).

    Parameters
    ----------
    table : DataFrame or 2-D ndarray
        A table returned by :func:`as_table`.
    layout : dict of str to list
        As returned by :func:`resolve_table_modalities`.

    Returns
    -------
    present : ndarray of shape (n_samples, n_modalities), dtype=bool
        Columns in the order of ``layout``.

    Examples
    --------
    >>> import pandas as pd
    >>> from skmm.utils import resolve_table_modalities, table_presence
    >>> table = pd.DataFrame({"text": ["a", None], "audio": [None, "b.wav"]})
    >>> table_presence(table, resolve_table_modalities(table)).tolist()
    [[True, False], [False, True]]
    """
    present = np.ones((table.shape[0], len(layout)), dtype=bool)
    for k, keys in enumerate(layout.values()):
        missing = np.ones(table.shape[0], dtype=bool)
        for key in keys:
            missing &= missing_mask(get_column(table, key))
        present[:, k] = ~missing
    return present


def get_column(table, key):
    """Select a column of a table returned by :func:`as_table`.

    Parameters
    ----------
    table : DataFrame or 2-D ndarray
        A table returned by :func:`as_table`.
    key : str, int or list
        A column name (DataFrame) or position (int, any table). A scalar key gives
        a 1-D list of cells; a list of keys gives a 2-D sub-table.

    Returns
    -------
    column : list or DataFrame or ndarray
        For a scalar key, the cells of the column as a list; for a list of
        keys, the sub-table of those columns (a DataFrame from a DataFrame, a
        2-D ndarray from an array).

    Examples
    --------
    >>> import pandas as pd
    >>> from skmm.utils import get_column
    >>> get_column(pd.DataFrame({"text": ["a", "b"]}), "text")
    ['a', 'b']
    >>> get_column(pd.DataFrame({"text": ["a", "b"]}), "image")
    Traceback (most recent call last):
    ...
    ValueError: Column 'image' is not in the table; available columns: ['text'].
    """
    if isinstance(key, (list, tuple)):
        for k in key:
            _check_key(table, k)
        if isinstance(table, pd.DataFrame):
            if all(isinstance(k, str) for k in key):
                return table.loc[:, list(key)]
            return table.iloc[:, list(key)]
        return table[:, list(key)]
    _check_key(table, key)
    if isinstance(table, pd.DataFrame):
        col = (
            table[key]
            if not isinstance(key, numbers.Integral) or key in table
            else (table.iloc[:, int(key)])
        )
        return col.tolist()
    return list(table[:, int(key)])


def _check_key(table, key):
    columns = table_columns(table)
    if isinstance(table, pd.DataFrame):
        if key in table.columns:
            return
        if isinstance(key, numbers.Integral) and not isinstance(key, bool):
            if 0 <= key < table.shape[1]:
                return
        raise ValueError(
            f"Column {key!r} is not in the table; available columns: {columns}."
        )
    if isinstance(key, str):
        raise ValueError(
            f"Column {key!r} selects by name, but the table is an array without "
            "column names; use the column position (0, 1, ...) or pass a DataFrame."
        )
    if not isinstance(key, numbers.Integral) or not 0 <= key < table.shape[1]:
        raise ValueError(
            f"Column {key!r} is not in the table; it has {table.shape[1]} columns "
            f"(positions 0 to {table.shape[1] - 1})."
        )


def check_cell_type(cell, allowed, *, index, column=None, what="cell"):
    """Raise :class:`~skmm.exceptions.InvalidSampleError` unless ``cell`` is allowed.

    Parameters
    ----------
    cell : object
    allowed : tuple of types
    index : int
        Sample index, named in the error.
    column : str, default=None
    what : str, default="cell"
        What the cell should be, for the message (e.g. "text").

    Examples
    --------
    >>> from skmm.utils._contract import check_cell_type
    >>> check_cell_type(3, (str,), index=0, what="a text (str)")
    Traceback (most recent call last):
    ...
    skmm.exceptions.InvalidSampleError: sample 0: expected a text (str), got 3
    """
    if not isinstance(cell, allowed):
        raise InvalidSampleError(
            f"expected {what}, got {describe_cell(cell)}", index=index, column=column
        )


def open_regular_file(path, *, what="file"):
    """Open ``path`` for reading only if it is a regular file; return a descriptor.

    A FIFO, socket or character device given as a sample path would block the
    decoder forever (``PIL.Image.open`` and ``soundfile.SoundFile`` both wait for
    a writer) or stream without end. The file is opened non-blocking and checked
    with ``fstat`` on the open descriptor, so nothing can swap the path between
    the check and the read.

    Parameters
    ----------
    path : str or os.PathLike
        The path of a sample.
    what : str, default="file"
        What the file should be ("image file", "audio file"), for messages.

    Returns
    -------
    fd : int
        A descriptor open for reading, in blocking mode, positioned at 0. The
        caller closes it (``os.fdopen(fd, "rb")`` or ``closefd=True``).

    Raises
    ------
    InvalidSampleError
        If the path does not exist, is a directory or any other non-regular
        file, or cannot be opened.

    Examples
    --------
    >>> import os, tempfile
    >>> from skmm.utils._contract import open_regular_file
    >>> folder = tempfile.mkdtemp()
    >>> fifo = os.path.join(folder, "pipe.wav")
    >>> os.mkfifo(fifo)
    >>> open_regular_file(fifo, what="audio file")
    Traceback (most recent call last):
    ...
    skmm.exceptions.InvalidSampleError: '.../pipe.wav': expected a regular audio ...
    """
    source = os.fspath(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(source, flags)
    except FileNotFoundError:
        raise InvalidSampleError(f"{what} not found", source=source) from None
    except IsADirectoryError:
        raise InvalidSampleError(
            f"expected a regular {what}, got a directory", source=source
        ) from None
    except OSError as exc:
        raise InvalidSampleError(
            f"cannot open {what} ({exc.strerror or exc})", source=source
        ) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise InvalidSampleError(
                f"expected a regular {what}, got {_file_kind(mode)}", source=source
            )
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _file_kind(mode):
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "a special file"


def check_text_cell(cell, *, index=None, column=None, row=None):
    """Validate one present text cell: a non-empty, not whitespace-only ``str``.

    The data contract's text-cell policy, applied to every text column whatever
    its encoder (skmm's or sklearn's vectorizers): ``bytes``, numbers and token
    lists are bad cells -- nothing is converted with ``str()`` behind your back --
    and an empty or whitespace-only string is a bad text, not a missing one (use
    ``None`` for that); a vectorizer would silently turn it into an all-zero row.

    Parameters
    ----------
    cell : object
    index, column, row : optional
        Named in the error (see :class:`~skmm.exceptions.InvalidSampleError`).

    Returns
    -------
    text : str

    Examples
    --------
    >>> from skmm.utils._contract import check_text_cell
    >>> check_text_cell("a cat")
    'a cat'
    >>> check_text_cell("  ", index=4, column="caption")
    Traceback (most recent call last):
    ...
    skmm.exceptions.InvalidSampleError: column 'caption', sample 4: empty or ...
    """
    if not isinstance(cell, str):
        hint = "; decode bytes first" if isinstance(cell, bytes) else ""
        raise InvalidSampleError(
            f"expected a text (str{hint}), got {describe_cell(cell)}",
            index=index,
            column=column,
            row=row,
        )
    if not cell.strip():
        raise InvalidSampleError(
            "empty or whitespace-only text; use None to mark a missing text",
            index=index,
            column=column,
            row=row,
        )
    return cell


# -- naming the user's rows ---------------------------------------------------
def row_index(X):
    """The row labels of ``X``: a DataFrame's index, None for other inputs."""
    return X.index if isinstance(X, pd.DataFrame) else None


@contextlib.contextmanager
def user_rows(rows=None, index=None):
    """Re-raise an :class:`~skmm.exceptions.InvalidSampleError` naming the user's row.

    The one mechanism by which errors raised on converted data (an array made
    from the user's DataFrame) or by a member fitted on a subset of an input
    (a bootstrap sample, the rows where a modality is present, a weighted
    resample) name the user's row; such errors count samples within what they
    were given. The error it raises is re-raised with ``index`` the
    position in the input (``rows[index]``) and, unless the member already
    named it, ``row`` the input's row label (``index[position]``). Nested
    ensembles compose: each level maps to the positions of its own input.

    Parameters
    ----------
    rows : array-like of int, default=None
        Positions in the input of the member's samples, in the member's order
        (with repeats for a bootstrap sample); None when the member got every
        row in order.
    index : pandas.Index, default=None
        Row labels of the input (the user's DataFrame index); None when it has
        none (the position then names the row).

    Examples
    --------
    >>> import pandas as pd
    >>> from skmm.exceptions import InvalidSampleError
    >>> from skmm.utils._contract import user_rows
    >>> with user_rows([4, 7, 7], pd.Index(["a", "b", "c", "d", "e", "f", "g", "h"])):
    ...     raise InvalidSampleError("empty text", index=1, column="text")
    Traceback (most recent call last):
    ...
    skmm.exceptions.InvalidSampleError: column 'text', sample 7, row 'h': empty text
    """
    try:
        yield
    except InvalidSampleError as exc:
        position = exc.index
        if position is None or isinstance(position, bool):
            raise
        if rows is not None:
            if not 0 <= position < len(rows):
                raise
            position = int(rows[position])
        row = exc.row
        if row is None and index is not None and 0 <= position < len(index):
            row = index[position]
            if isinstance(row, np.generic):  # np.int64(7) -> 7 in the message
                row = row.item()
        if position == exc.index and row is exc.row:
            raise
        raise InvalidSampleError(
            exc.reason, index=position, source=exc.source, column=exc.column, row=row
        ) from exc
