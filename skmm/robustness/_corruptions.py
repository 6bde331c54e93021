"""Seeded corruptions of raw multimodal data, as functions.

A corruption is a name (see :data:`CORRUPTIONS`) applied at a ``severity`` in
[0, 1] to the cells of one raw column (:func:`corrupt_column`) or to columns of
a raw table (:func:`corrupt_modalities`, :func:`drop_modalities`,
:func:`misalign_modalities`). Severity 0 is the identity; severity 1 is the
strongest setting; in between, severity maps to a physical scale (an SNR in dB,
a blur radius in pixels, a JPEG quality, a fraction of words...) given in the
user guide and in the docstrings of the per-modality modules.

Cells follow the data contract: missing cells stay missing, present cells are
decoded exactly as the encoders decode them (:func:`skmm.encoders.decode_image`,
:func:`skmm.encoders.load_audio`, the text encoders' check), so a bad cell raises
the same :class:`~skmm.exceptions.InvalidSampleError`, naming the sample.

Randomness: sample ``i`` of a column draws from its own stream seeded by
``(seed, i)``, so a sample's corruption does not depend on the other samples
(corrupting a subset of rows gives the same rows as corrupting all of them).
"""

import functools
import numbers
import zlib

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.utils import check_random_state

from skmm.encoders._audio import load_audio
from skmm.encoders._base import load_cells
from skmm.encoders._image_io import decode_image
from skmm.encoders._text import _check_text
from skmm.exceptions import InvalidSampleError
from skmm.robustness._audio import AUDIO_CORRUPTIONS
from skmm.robustness._image import IMAGE_CORRUPTIONS
from skmm.robustness._text import TEXT_CORRUPTIONS
from skmm.utils._contract import (
    as_table,
    check_raw_column,
    get_column,
    missing_mask,
    resolve_table_modalities,
)
from skmm.utils._layout import resolve_modalities

__all__ = [
    "CORRUPTIONS",
    "corrupt_column",
    "corrupt_modalities",
    "drop_modalities",
    "misalign_modalities",
]

#: Corruptions that draw no random numbers (no per-sample stream is built).
_DETERMINISTIC = frozenset({"blur", "jpeg", "contrast", "clipping", "band_limit"})

#: Corruptions that apply to any modality (and to encoded matrices).
_ANY = ("missing", "misalign")

#: Every corruption name and the modality it applies to.
CORRUPTIONS = {
    **dict.fromkeys(IMAGE_CORRUPTIONS, "image"),
    **dict.fromkeys(AUDIO_CORRUPTIONS, "audio"),
    **dict.fromkeys(TEXT_CORRUPTIONS, "text"),
    **dict.fromkeys(_ANY, "any"),
}


# ------------------------------------------------------------------------------
# parameter checks
# ------------------------------------------------------------------------------
def check_corruption(corruption):
    if not isinstance(corruption, str) or corruption not in CORRUPTIONS:
        by = {}
        for name, modality in CORRUPTIONS.items():
            by.setdefault(modality, []).append(name)
        listing = "; ".join(f"{m}: {', '.join(n)}" for m, n in by.items())
        raise ValueError(
            f"Unknown corruption {corruption!r}. Available corruptions ({listing})."
        )
    return corruption


def check_severity(severity, name="severity"):
    if (
        not isinstance(severity, numbers.Real)
        or isinstance(severity, bool)
        or not np.isfinite(severity)
        or not 0.0 <= severity <= 1.0
    ):
        raise ValueError(f"{name} must be a number in [0, 1]; got {severity!r}.")
    return float(severity)


def _check_sr(sr, corruption):
    if sr is None:
        raise ValueError(
            f"The audio corruption {corruption!r} needs the sample rate: pass "
            "sr=... (the rate audio cells are decoded at, as for the audio "
            "encoders; there is no implicit default)."
        )
    if (
        not isinstance(sr, numbers.Real)
        or isinstance(sr, bool)
        or not np.isfinite(sr)
        or sr <= 0
    ):
        raise ValueError(f"sr must be a positive number; got {sr!r}.")
    return sr


def seed_of(random_state):
    """An int seed from ``random_state`` (int, None or RandomState)."""
    if isinstance(random_state, numbers.Integral) and not isinstance(
        random_state, bool
    ):
        if random_state < 0:
            raise ValueError(
                f"random_state must be a non-negative int; got {random_state}."
            )
        return int(random_state)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def _column_seed(seed, column):
    """Seed of one column of a table: stable, and different for each column."""
    return int(
        np.random.default_rng([seed, zlib.crc32(repr(column).encode())]).integers(2**62)
    )


# ------------------------------------------------------------------------------
# one raw column
# ------------------------------------------------------------------------------
def _image_mode(cell):
    if isinstance(cell, np.ndarray):
        grey = cell.ndim == 2 or (cell.ndim == 3 and cell.shape[2] == 1)
        return "L" if grey else "RGB"
    if hasattr(cell, "mode") and hasattr(cell, "getbands"):  # PIL image
        return "L" if cell.getbands() in (("L",), ("1",), ("I",), ("F",)) else "RGB"
    return "RGB"


def _decode_image_cell(cell):
    return decode_image(cell, mode=_image_mode(cell))


def _restore_image(image, like):
    """Give a corrupted image (PIL or uint8 array) the type of its cell."""
    if isinstance(image, np.ndarray) and hasattr(like, "getbands"):
        return Image.fromarray(image)
    if isinstance(like, np.ndarray):
        pixels = np.asarray(image)
        if like.ndim == 3 and like.shape[2] == 1:
            pixels = pixels[:, :, None]
        if like.dtype.kind == "f":
            return (pixels / np.float32(255.0)).astype(like.dtype, copy=False)
        return pixels
    if hasattr(like, "getbands"):
        return image
    return np.asarray(image)  # paths come back as uint8 arrays


def _present(cells):
    return np.flatnonzero(~missing_mask(cells))


def _select(rng, present, severity, *, at_least=1):
    n = round(severity * present.size)
    if n == 0:
        return present[:0]
    n = min(present.size, max(n, at_least))
    return np.sort(rng.choice(present, size=n, replace=False))


def _missing_cells(cells, severity, seed):
    out = list(cells)
    for i in _select(np.random.default_rng(seed), _present(cells), severity):
        out[i] = None
    return out


def _misalign_cells(cells, severity, seed):
    out = list(cells)
    present = _present(cells)
    if present.size < 2:
        return out
    rng = np.random.default_rng(seed)
    chosen = rng.permutation(_select(rng, present, severity, at_least=2))
    # cyclic shift in random order: every chosen sample gets another's cell
    for dst, src in zip(chosen, np.roll(chosen, 1)):
        out[dst] = cells[src]
    return out


def _stream(corruption, seed, i):
    if corruption in _DETERMINISTIC:
        return None
    return np.random.default_rng([seed, i])


def _decode(load, cells, present):
    return load_cells(load, [cells[i] for i in present], present)


def corrupt_column(
    column, corruption, severity=1.0, *, sr=None, background=None, random_state=None
):
    """Corrupt the cells of one raw column.

    Parameters
    ----------
    column : sequence of shape (n_samples,)
        A raw column (see :func:`skmm.utils.check_raw_column`): texts, images
        (paths, PIL images or arrays) or audio clips (paths, waveforms or
        ``(waveform, sample_rate)`` tuples); ``None``/NaN marks a missing cell.
    corruption : str
        A name from :data:`CORRUPTIONS`: an image, audio or text corruption
        matching the column's modality, or ``"missing"`` / ``"misalign"``
        (any modality).
    severity : float in [0, 1], default=1.0
        0 returns the cells unchanged (not even decoded); see the user guide
        for the scale of each corruption.
    sr : float, default=None
        Sample rate (Hz) audio cells are decoded at; required by the audio
        corruptions, as by the audio encoders. Ignored otherwise.
    background : sequence, default=None
        Audio clips (cells) mixed in by ``"mix"``. By default, other samples of
        the column.
    random_state : int, RandomState instance or None, default=None
        Seed. Sample ``i`` draws from a stream seeded by ``(seed, i)``.

    Returns
    -------
    cells : list
        One cell per sample. Missing cells stay missing. Corrupted images have
        the type of their cell (arrays stay arrays of the same dtype and
        number of dimensions, PIL images stay PIL images; paths become uint8
        arrays); corrupted audio cells are float32 waveforms at ``sr``; texts
        stay strings. ``"missing"`` and ``"misalign"`` move or drop cells
        without decoding them.

    Raises
    ------
    InvalidSampleError
        A present cell that the encoders would reject (wrong type, unreadable
        file, empty text...), with the sample index.

    Examples
    --------
    >>> import numpy as np
    >>> from skmm.robustness import corrupt_column
    >>> corrupt_column(["the big one", None], "typos", 0.0)
    ['the big one', None]
    >>> corrupt_column(["The digit is big", None], "casing", 1.0, random_state=2)
    ['the Digit IS big', None]
    >>> clip = np.sin(np.arange(800) / 3).astype(np.float32)
    >>> noisy = corrupt_column([clip], "white_noise", 0.6, sr=8000, random_state=0)
    >>> snr = 10 * np.log10(np.mean(clip**2) / np.mean((noisy[0] - clip) ** 2))
    >>> round(float(snr), 2)  # severity 0.6 is 0 dB
    0.0
    """
    corruption = check_corruption(corruption)
    severity = check_severity(severity)
    cells = check_raw_column(column)
    seed = seed_of(random_state)
    modality = CORRUPTIONS[corruption]
    if modality == "audio":
        sr = _check_sr(sr, corruption)
    if severity == 0.0:
        return list(cells)
    if corruption == "missing":
        return _missing_cells(cells, severity, seed)
    if corruption == "misalign":
        return _misalign_cells(cells, severity, seed)
    present = _present(cells)
    out = list(cells)
    if modality == "text":
        func = TEXT_CORRUPTIONS[corruption]
        for i, text in zip(present, _decode(_check_text, cells, present)):
            out[i] = func(text, severity, _stream(corruption, seed, i))
    elif modality == "image":
        func = IMAGE_CORRUPTIONS[corruption]
        for i, image in zip(present, _decode(_decode_image_cell, cells, present)):
            corrupted = func(image, severity, _stream(corruption, seed, i))
            out[i] = _restore_image(corrupted, cells[i])
    else:
        func = AUDIO_CORRUPTIONS[corruption]
        load = functools.partial(load_audio, sr=sr)
        clips = _decode(load, cells, present)
        ctx = {"sr": sr, "pool": clips}
        if corruption == "mix" and background is not None:
            bg = check_raw_column(background, name="background")
            bg_present = _present(bg)
            if bg_present.size == 0:
                raise ValueError("background holds no clip (every cell is missing).")
            ctx["pool"] = _decode(load, bg, bg_present)
        for k, (i, clip) in enumerate(zip(present, clips)):
            ctx["self_index"] = k if ctx["pool"] is clips else None
            y = func(clip, severity, _stream(corruption, seed, i), ctx)
            out[i] = np.asarray(y, dtype=np.float32)
    return out


# ------------------------------------------------------------------------------
# raw tables and encoded matrices
# ------------------------------------------------------------------------------
def is_encoded(X):
    """Whether ``X`` is an encoded (numeric) matrix rather than a raw table."""
    if isinstance(X, pd.DataFrame):
        return X.shape[1] > 0 and all(
            pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t)
            for t in X.dtypes
        )
    if isinstance(X, np.ndarray):
        return X.ndim == 2 and X.dtype.kind in "fiu"
    return False


def _check_spec(spec, column):
    if isinstance(spec, str):
        return check_corruption(spec), 1.0
    if isinstance(spec, tuple) and len(spec) == 2:
        return check_corruption(spec[0]), check_severity(
            spec[1], f"severity of column {column!r}"
        )
    raise ValueError(
        f"The corruption of column {column!r} must be a name or a (name, severity) "
        f"pair; got {spec!r}."
    )


def _copy_table(X):
    table = as_table(X)
    if isinstance(table, pd.DataFrame):
        return table.astype(object).copy()
    return table.astype(object, copy=True)


def _set_column(table, key, cells):
    if isinstance(table, pd.DataFrame):
        table[key] = pd.Series(cells, index=table.index, dtype=object)
    else:
        col = np.empty(len(cells), dtype=object)
        col[:] = cells
        table[:, key] = col


def _layout(X, modalities):
    """Modality layout of a raw table ({name: column keys}) or encoded matrix."""
    if is_encoded(X):
        names = list(map(str, X.columns)) if isinstance(X, pd.DataFrame) else None
        return resolve_modalities(
            feature_names=names, n_features=X.shape[1], modalities=modalities
        )
    return resolve_table_modalities(as_table(X), modalities)


def _resolve(layout, column, table=None):
    """Column keys (raw table) or positions (matrix) of ``column``."""
    if column in layout:
        return layout[column]
    if table is not None and isinstance(table, pd.DataFrame) and column in table:
        return [column]
    if table is not None and isinstance(column, numbers.Integral):
        return [int(column)]
    raise ValueError(f"Unknown modality {column!r}; the modalities are {list(layout)}.")


def _wrap_errors(func, column):
    try:
        return func()
    except InvalidSampleError as exc:
        raise InvalidSampleError(
            exc.reason, index=exc.index, source=exc.source, column=str(column)
        ) from exc


def _row_sources(present, corruption, severity, seed):
    """Row each sample takes its cells from (-1: missing) under missing/misalign."""
    cells = [i if p else None for i, p in enumerate(present)]
    if corruption == "missing":
        new = _missing_cells(cells, severity, seed)
    else:
        new = _misalign_cells(cells, severity, seed)
    return np.array([-1 if c is None else c for c in new], dtype=np.intp)


def _corrupt_matrix(X, corruptions, seed, modalities):
    layout = _layout(X, modalities)
    if isinstance(X, pd.DataFrame):
        values = X.to_numpy(dtype=np.float64, copy=True)
    else:
        values = np.array(X, dtype=X.dtype if X.dtype.kind == "f" else np.float64)
    for column, spec in corruptions.items():
        corruption, severity = _check_spec(spec, column)
        if corruption not in _ANY:
            raise ValueError(
                f"Corruption {corruption!r} needs raw cells; on an encoded matrix "
                f"only {list(_ANY)} apply. Corrupt the raw table before encoding "
                "(e.g. in a Pipeline ahead of the MultimodalEncoder)."
            )
        cols = _resolve(layout, column)
        if severity == 0.0:
            continue
        block = values[:, cols]
        present = ~np.isnan(block).all(axis=1)
        source = _row_sources(present, corruption, severity, _column_seed(seed, column))
        keep = source >= 0
        moved = np.full_like(block, np.nan)
        moved[keep] = block[source[keep]]
        values[:, cols] = moved
    if isinstance(X, pd.DataFrame):
        return pd.DataFrame(values, index=X.index, columns=X.columns)
    return values


def _move_table_rows(table, keys, corruption, severity, seed):
    columns = [get_column(table, key) for key in keys]
    present = np.zeros(table.shape[0], dtype=bool)
    for cells in columns:
        present |= ~missing_mask(cells)
    source = _row_sources(present, corruption, severity, seed)
    for key, cells in zip(keys, columns):
        _set_column(table, key, [None if s < 0 else cells[s] for s in source.tolist()])


def corrupt_modalities(
    X, corruptions, *, sr=None, modalities=None, background=None, random_state=None
):
    """Corrupt modalities of a raw table (or of an encoded matrix).

    Parameters
    ----------
    X : DataFrame, dict of columns, 2-D object array, or numeric matrix
        A raw table (see :func:`skmm.utils.as_table`), or an encoded matrix
        whose modality blocks :func:`skmm.utils.resolve_modalities` finds
        (``"{modality}__"`` feature-name prefixes or ``modalities``). On
        matrices only ``"missing"`` (the block becomes NaN) and ``"misalign"``
        (block rows move to other samples) apply.
    corruptions : dict
        ``{modality or column: corruption}`` where a corruption is a name from
        :data:`CORRUPTIONS` (severity 1) or a ``(name, severity)`` pair.
    sr : float, default=None
        Sample rate of the audio cells; needed by audio corruptions.
    modalities : dict, default=None
        Explicit layout ``{modality: columns}``; by default each column of a
        raw table is one modality.
    background : sequence, default=None
        Clips mixed in by the ``"mix"`` audio corruption.
    random_state : int, RandomState instance or None, default=None
        Seed. Each column draws from its own streams, derived from the seed and
        the column's name.

    Returns
    -------
    X_corrupted : DataFrame or ndarray
        A copy (DataFrames stay DataFrames with the same index; a dict becomes
        a DataFrame). Cells of other columns are the same objects.

    Examples
    --------
    >>> import pandas as pd
    >>> from skmm.robustness import corrupt_modalities
    >>> X = pd.DataFrame({"text": ["a big one", "a small one", None]}, dtype=object)
    >>> corrupt_modalities(X, {"text": ("word_dropout", 1.0)}, random_state=0)
        text
    0      a
    1  small
    2   None
    """
    if not isinstance(corruptions, dict) or not corruptions:
        raise ValueError(
            "corruptions must be a non-empty dict {modality: name or (name, "
            f"severity)}}; got {corruptions!r}."
        )
    seed = seed_of(random_state)
    if is_encoded(X):
        return _corrupt_matrix(X, corruptions, seed, modalities)
    table = _copy_table(X)
    layout = _layout(table, modalities)
    for column, spec in corruptions.items():
        corruption, severity = _check_spec(spec, column)
        keys = _resolve(layout, column, table)
        if corruption in _ANY:
            if severity > 0:
                _move_table_rows(
                    table, keys, corruption, severity, _column_seed(seed, column)
                )
            continue
        for key in keys:
            cells = get_column(table, key)
            name = column if column in layout else key
            new = _wrap_errors(
                lambda cells=cells, key=key: corrupt_column(
                    cells,
                    corruption,
                    severity,
                    sr=sr,
                    background=background,
                    random_state=_column_seed(seed, key),
                ),
                name,
            )
            _set_column(table, key, new)
    return table


def drop_modalities(X, rates, *, modalities=None, random_state=None):
    """Make a fraction of each modality's present cells missing.

    Parameters
    ----------
    X : DataFrame, dict of columns, 2-D array, or numeric matrix
        A raw table, or an encoded matrix (a dropped block becomes all NaN).
    rates : dict
        ``{modality: fraction}``: ``round(fraction * n_present)`` present cells
        of that modality, chosen at random, become ``None``.
    modalities : dict, default=None
        Explicit layout ``{modality: columns}``.
    random_state : int, RandomState instance or None, default=None
        Seed of the choice of the dropped cells; pass an int for the same
        cells on every call.

    Returns
    -------
    X_dropped : DataFrame or ndarray
        A copy with the chosen cells missing (DataFrames stay DataFrames with
        the same index; a dict becomes a DataFrame).

    Examples
    --------
    >>> from skmm.robustness import drop_modalities
    >>> X = {"text": ["a", "b", "c", "d"], "audio": [1.0, 2.0, 3.0, 4.0]}
    >>> drop_modalities(X, {"text": 0.5}, random_state=0)["text"].isna().sum()
    np.int64(2)
    """
    return corrupt_modalities(
        X,
        _rates_to_specs(rates, "missing"),
        modalities=modalities,
        random_state=random_state,
    )


def misalign_modalities(X, rates, *, modalities=None, random_state=None):
    """Pair a fraction of each modality's cells with another sample's.

    The chosen samples (``round(fraction * n_present)``, at least 2) exchange
    their cells of that modality along a random cycle, so every chosen sample
    gets a cell of another sample while the other modalities stay in place.

    Parameters
    ----------
    X : DataFrame, dict of columns, 2-D array, or numeric matrix
        A raw table, or an encoded matrix (the rows of a modality's block are
        exchanged between samples).
    rates : dict
        ``{modality: fraction}``.
    modalities : dict, default=None
        Explicit layout ``{modality: columns}``.
    random_state : int, RandomState instance or None, default=None
        Seed of the choice of the samples and of the cycle; pass an int for
        the same pairing on every call.

    Returns
    -------
    X_misaligned : DataFrame or ndarray
        A copy with the chosen cells moved (DataFrames stay DataFrames with
        the same index; a dict becomes a DataFrame).

    Examples
    --------
    >>> from skmm.robustness import misalign_modalities
    >>> X = {"text": ["a", "b", "c", "d"], "label": ["a", "b", "c", "d"]}
    >>> out = misalign_modalities(X, {"text": 1.0}, random_state=0)
    >>> bool((out["text"] != out["label"]).all())
    True
    """
    return corrupt_modalities(
        X,
        _rates_to_specs(rates, "misalign"),
        modalities=modalities,
        random_state=random_state,
    )


def _rates_to_specs(rates, corruption):
    if not isinstance(rates, dict) or not rates:
        raise ValueError(
            f"rates must be a non-empty dict {{modality: fraction}}; got {rates!r}."
        )
    return {
        column: (corruption, check_severity(rate, f"rate of {column!r}"))
        for column, rate in rates.items()
    }
