"""Exceptions raised by skmm."""

__all__ = ["InvalidSampleError", "LayoutError", "WeightsChangedError"]


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

    Examples
    --------
    >>> from skmm.exceptions import InvalidSampleError
    >>> err = InvalidSampleError("cannot decode image", index=3, source="a.png")
    >>> str(err)
    "sample 3 ('a.png'): cannot decode image"
    """

    def __init__(self, message, *, index=None, source=None, column=None):
        self.index = index
        self.source = source
        self.column = column
        self.reason = message
        where = []
        if column is not None:
            where.append(f"column {column!r}")
        if index is not None:
            where.append(f"sample {index}")
        prefix = ", ".join(where)
        if source is not None:
            prefix = f"{prefix} ({source!r})" if prefix else repr(source)
        super().__init__(f"{prefix}: {message}" if prefix else message)

    def __reduce__(self):
        return (
            _rebuild_invalid_sample_error,
            (self.reason, self.index, self.source, self.column),
        )


def _rebuild_invalid_sample_error(reason, index, source, column):
    return InvalidSampleError(reason, index=index, source=source, column=column)


class LayoutError(ValueError):
    """The modality layout of a feature matrix is wrong or cannot be resolved.

    Examples
    --------
    >>> from skmm.exceptions import LayoutError
    >>> issubclass(LayoutError, ValueError)
    True
    """


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
