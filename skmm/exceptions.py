"""Exceptions raised by skmm."""

__all__ = [
    "InvalidSampleError",
    "LayoutError",
    "ModelFileError",
    "UntrustedTypesError",
    "WeightsChangedError",
]


class InvalidSampleError(ValueError):
    """A raw sample (a cell of the input table) cannot be used.

    The message names the sample and, where there is one, its source (a file path).
    Subclass of :class:`ValueError`, so code catching sklearn's validation errors
    catches it too.

    Parameters
    ----------
    message : str
        What is wrong with the sample.
    index : int or None, default=None
        Position of the sample in the input.
    source : str or None, default=None
        Path or short description of the offending cell.
    column : str or None, default=None
        The column (modality) the sample belongs to.
    row : hashable or None, default=None
        Label of the sample's row in the user's table (a DataFrame index label).
        Inside a cross-validation fold or a bootstrap sample the position
        ``index`` counts within the subset; the label names the user's row.
        Shown when it differs from ``index``.

    Examples
    --------
    >>> from skmm.exceptions import InvalidSampleError
    >>> err = InvalidSampleError("cannot decode image", index=3, source="a.png")
    >>> str(err)
    "sample 3 ('a.png'): cannot decode image"
    >>> str(InvalidSampleError("empty text", index=0, column="text", row="id-17"))
    "column 'text', sample 0, row 'id-17': empty text"
    """

    def __init__(self, message, *, index=None, source=None, column=None, row=None):
        self.index = index
        self.source = source
        self.column = column
        self.row = row
        self.reason = message
        where = []
        if column is not None:
            where.append(f"column {column!r}")
        if index is not None:
            where.append(f"sample {index}")
        if row is not None and not _same_position(row, index):
            where.append(f"row {row!r}")
        prefix = ", ".join(where)
        if source is not None:
            prefix = f"{prefix} ({source!r})" if prefix else repr(source)
        super().__init__(f"{prefix}: {message}" if prefix else message)

    def __reduce__(self):
        return (
            _rebuild_invalid_sample_error,
            (self.reason, self.index, self.source, self.column, self.row),
        )


def _same_position(row, index):
    try:
        return index is not None and type(row) is not bool and row == index
    except Exception:  # e.g. an array-valued label
        return False


def _rebuild_invalid_sample_error(reason, index, source, column, row=None):
    return InvalidSampleError(
        reason, index=index, source=source, column=column, row=row
    )


class LayoutError(ValueError):
    """The modality layout of a feature matrix is wrong or cannot be resolved.

    Examples
    --------
    >>> from skmm.exceptions import LayoutError
    >>> issubclass(LayoutError, ValueError)
    True
    """


class ModelFileError(ValueError):
    """A model file cannot be written or read by :mod:`skmm.io`.

    Raised for corrupted or tampered files (checksum mismatch), malformed
    content, and attributes that the safe format cannot store.

    Examples
    --------
    >>> from skmm.exceptions import ModelFileError
    >>> issubclass(ModelFileError, ValueError)
    True
    """


class UntrustedTypesError(ModelFileError):
    """A model file names types or functions that are not trusted.

    Nothing from the file has been built when this is raised. ``types`` lists
    the untrusted names; inspect them (:func:`skmm.io.get_untrusted_types`) and
    pass the ones you trust to ``skmm.io.load(path, trusted=[...])``.

    Parameters
    ----------
    types : iterable of str
        The ``"module.qualname"`` names of the untrusted classes and
        functions; stored sorted as ``types``.

    Examples
    --------
    >>> from skmm.exceptions import UntrustedTypesError
    >>> err = UntrustedTypesError(["os.system"])
    >>> err.types
    ['os.system']
    """

    def __init__(self, types):
        self.types = sorted(types)
        super().__init__(
            f"The model file uses {len(self.types)} untrusted type(s) or "
            f"function(s): {self.types}. Nothing was loaded. If you trust them, "
            "pass them to skmm.io.load(..., trusted=[...])."
        )

    def __reduce__(self):
        return (type(self), (self.types,))


class WeightsChangedError(ValueError):
    """The pretrained weights of a fitted encoder changed since it was fitted.

    Raised when a pickled (or copied) pretrained encoder reloads its model and
    the SHA-256 of the files no longer matches the ``weights_sha256_`` recorded
    at ``fit``: the encoder would otherwise silently give different outputs.
    Refit the encoder, or restore the original weights. Subclass of
    :class:`ValueError`.

    Examples
    --------
    >>> from skmm.exceptions import WeightsChangedError
    >>> issubclass(WeightsChangedError, ValueError)
    True
    """
