"""Audio encoders: decoding, log-mel / MFCC features and pretrained speech models.

Every audio encoder reads one raw column whose cells are

* a path (``str`` or :class:`os.PathLike`) to a sound file, read with
  :mod:`soundfile` (WAV, FLAC, OGG, ... whatever libsndfile decodes; never
  audioread),
* a 1-D float waveform (:class:`numpy.ndarray`) **at the encoder's** ``sr``, or
* a ``(waveform, sample_rate)`` tuple with a 1-D float waveform at
  ``sample_rate`` Hz,

and ``None``/NaN for a missing recording. All of them go through one picklable
function, :func:`load_audio`, which returns a float32 waveform at an explicit
target sample rate (mixed down to mono, resampled with :func:`librosa.resample`,
then cropped or zero-padded at the end to a fixed ``duration`` when one is given)
and raises :class:`~skmm.exceptions.InvalidSampleError` on anything it cannot
use: unreadable or non-audio files, NaN/inf samples, empty clips, wrong array
shapes, non-positive sample rates and -- by default -- silent clips.
"""

import functools
import math
import numbers
import os

import numpy as np

from skmm.encoders._base import BaseRawEncoder, BaseRawLoader, bad_cell
from skmm.exceptions import InvalidSampleError
from skmm.utils._contract import describe_cell, open_regular_file
from skmm.utils._layout import grid_feature_names

__all__ = [
    "AudioLoader",
    "MFCCEncoder",
    "MelSpectrogramEncoder",
    "TransformerAudioEncoder",
    "load_audio",
]

#: Peak absolute amplitude (-80 dBFS) below which a clip counts as silent.
SILENCE_PEAK = 1e-4

#: Largest accepted peak absolute amplitude. Float audio is nominally within
#: [-1, 1] (integer PCM scaled by 1/32768 etc.); a finite amplitude this far
#: beyond it is a broken or mis-scaled waveform, and larger values overflow the
#: float32 spectra of the feature encoders to inf.
MAX_AMPLITUDE = 1e6

#: Largest number of samples (frames x channels, before and after resampling)
#: decoded from one file: 2**28 float32 samples = 1 GiB, e.g. 4.6 h of 16 kHz
#: mono or 46 min of 48 kHz stereo. A file declaring more is refused before
#: anything is read (a forged header can claim 2**36 frames); pass ``duration``
#: to read only the part that is kept, or raise ``max_samples``.
MAX_SAMPLES = 2**28

#: Extra source frames read on each side of the kept window when a file is
#: cropped and resampled, so that the resampling filter sees the same context
#: as with the whole file (soxr's support is far shorter than this).
_RESAMPLE_MARGIN_SECONDS = 1.0

#: dB floor and dynamic range of the log-mel spectrogram (librosa's defaults).
_AMIN = 1e-10
_TOP_DB = 80.0

_CELL_KINDS = (
    "an audio file path, a 1-D float waveform or a (waveform, sample_rate) tuple"
)


# --------------------------------------------------------------------------------
# parameter checks shared by the estimators and load_audio
# --------------------------------------------------------------------------------
def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_positive(name, value, *, integer=False, allow_none=False, owner=None):
    who = f"{owner}: " if owner else ""
    if value is None and allow_none:
        return
    kind = numbers.Integral if integer else numbers.Real
    if (
        not isinstance(value, kind)
        or isinstance(value, bool)
        or not np.isfinite(value)
        or value <= 0
    ):
        what = "a positive int" if integer else "a positive number"
        if allow_none:
            what += " or None"
        raise ValueError(f"{who}{name} must be {what}; got {value!r}.")


def _check_option(name, value, options, owner=None):
    if not isinstance(value, (str, type(None))) or value not in options:
        who = f"{owner}: " if owner else ""
        raise ValueError(f"{who}{name} must be one of {list(options)}; got {value!r}.")


def _check_decode_params(sr, mono, duration, crop, silence, owner=None):
    _check_positive("sr", sr, owner=owner)
    if not isinstance(mono, (bool, np.bool_)):
        raise ValueError(f"{owner + ': ' if owner else ''}mono must be a bool.")
    _check_positive("duration", duration, allow_none=True, owner=owner)
    if duration is not None and round(duration * sr) < 1:
        raise ValueError(
            f"{owner + ': ' if owner else ''}duration={duration!r} s at sr={sr!r} "
            "is shorter than one sample."
        )
    _check_option("crop", crop, ("start", "center"), owner)
    _check_option("silence", silence, ("raise", "keep"), owner)


# --------------------------------------------------------------------------------
# decoding
# --------------------------------------------------------------------------------
def load_audio(
    cell,
    *,
    sr,
    mono=True,
    duration=None,
    crop="start",
    silence="raise",
    max_samples=None,
):
    """Decode one audio cell to a float32 waveform at sample rate ``sr``.

    This is the decoding step shared by every skmm audio encoder. It is a plain
    module-level function, so ``functools.partial(load_audio, sr=...)`` pickles
    and runs in worker processes.

    Parameters
    ----------
    cell : str, os.PathLike, ndarray or tuple
        A path to a sound file (read with :mod:`soundfile`), a 1-D float
        waveform sampled at ``sr`` Hz, or a ``(waveform, sample_rate)`` tuple
        whose 1-D float waveform is sampled at ``sample_rate`` Hz. Arrays must be
        1-D (mono): mix multi-channel arrays down yourself; multi-channel
        *files* are handled (see ``mono``).
    sr : float
        Target sample rate in Hz. Required: there is no implicit default
        (librosa's would silently resample to 22050 Hz).
    mono : bool, default=True
        Mix multi-channel files down to mono by averaging the channels and
        return a 1-D waveform. With ``False`` the result is 2-D,
        ``(n_channels, n_samples)`` (librosa's layout; 1 channel for mono input).
    duration : float, default=None
        Length in seconds of the returned clip: longer clips are cropped (see
        ``crop``), shorter ones zero-padded at the end, to exactly
        ``round(duration * sr)`` samples. ``None`` keeps the whole clip.
    crop : {"start", "center"}, default="start"
        Which part of a longer clip is kept: the first ``duration`` seconds or
        the centred window.
    silence : {"raise", "keep"}, default="raise"
        Policy for silent clips, whose peak absolute amplitude (after resampling,
        cropping and padding) is below :data:`SILENCE_PEAK` (1e-4, -80 dBFS).
        Silent audio is usually a broken recording, and it gives extreme
        features (log-mel at the dB floor), so by default it raises an
        :class:`~skmm.exceptions.InvalidSampleError`; ``"keep"`` returns it.
    max_samples : int, default=None
        Largest number of samples (frames x channels, before and after
        resampling) decoded from a file; a file whose header declares more is
        refused before anything is read. ``None`` uses :data:`MAX_SAMPLES`
        (2**28, 1 GiB of float32). With ``duration`` set only the kept window
        (plus a resampling margin) counts.

    Returns
    -------
    waveform : ndarray of dtype float32
        Shape ``(n_samples,)``, or ``(n_channels, n_samples)`` with
        ``mono=False``.

    Raises
    ------
    InvalidSampleError
        The file is missing, not a regular file (FIFOs and devices are refused
        before they are opened), unreadable, not audio, truncated (fewer frames
        than its header declares) or too long (see ``max_samples``); the cell
        has the wrong type or shape, holds NaN/inf samples or amplitudes above
        :data:`MAX_AMPLITUDE`, is empty or silent, or its sample rate is not a
        positive number. The message names the file.

    See Also
    --------
    AudioLoader : The same decoding as a transformer over a raw column.

    Examples
    --------
    >>> import numpy as np
    >>> from skmm.encoders import load_audio
    >>> tone = np.sin(2 * np.pi * 440 * np.arange(8000) / 8000).astype(np.float32)
    >>> load_audio((tone, 8000), sr=16000).shape
    (16000,)
    >>> load_audio(tone, sr=8000, duration=0.5, crop="center").shape
    (4000,)
    >>> load_audio(np.zeros(100, dtype=np.float32), sr=8000)
    Traceback (most recent call last):
    ...
    skmm.exceptions.InvalidSampleError: silent clip (peak amplitude 0 < 0.0001); ...
    """
    _check_decode_params(sr, mono, duration, crop, silence)
    _check_positive("max_samples", max_samples, integer=True, allow_none=True)
    limit = MAX_SAMPLES if max_samples is None else int(max_samples)
    n_target = None if duration is None else round(duration * sr)
    source = None
    if isinstance(cell, (str, os.PathLike)):
        source = os.fspath(cell)
        data, orig_sr, offset = _read_file(source, sr, n_target, crop, limit)
    elif isinstance(cell, tuple):
        if len(cell) != 2:
            raise bad_cell(f"expected {_CELL_KINDS}", cell)
        waveform, orig_sr = cell
        if not _is_real(orig_sr) or not np.isfinite(orig_sr) or orig_sr <= 0:
            raise InvalidSampleError(
                f"the sample rate of a (waveform, sample_rate) tuple must be a "
                f"positive number, got {orig_sr!r}"
            )
        data, offset = _as_waveform(waveform)[:, None], None
    elif isinstance(cell, np.ndarray):
        data, orig_sr, offset = _as_waveform(cell)[:, None], sr, None
    else:
        raise bad_cell(f"expected {_CELL_KINDS}", cell)

    if data.shape[0] == 0:
        raise InvalidSampleError("empty clip (0 samples)", source=source)
    if not np.isfinite(data).all():
        raise InvalidSampleError(
            "the waveform contains NaN or infinite samples", source=source
        )
    peak = float(np.max(np.abs(data)))
    if peak > MAX_AMPLITUDE:
        raise InvalidSampleError(
            f"peak amplitude {peak:.3g} exceeds {MAX_AMPLITUDE:g}; float audio is "
            "expected within [-1, 1] (scale integer PCM, e.g. x / 32768 for "
            "int16)",
            source=source,
        )
    if mono:
        y = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1)
    else:
        y = data.T
    y = np.ascontiguousarray(y, dtype=np.float32)
    if orig_sr != sr:
        import librosa

        y = librosa.resample(
            y, orig_sr=orig_sr, target_sr=sr, res_type="soxr_hq", axis=-1
        ).astype(np.float32, copy=False)
    if not np.isfinite(y).all():  # pragma: no cover - amplitude is bounded above
        raise InvalidSampleError(
            "decoding produced NaN or infinite samples", source=source
        )
    if offset is not None:
        # A window of a longer file was read: crop it where the whole
        # (resampled) file would have been cropped.
        y = np.ascontiguousarray(y[..., offset : offset + n_target])
    if n_target is not None:
        y = _fix_length(y, n_target, crop)
    if silence == "raise":
        peak = float(np.max(np.abs(y)))
        if peak < SILENCE_PEAK:
            raise InvalidSampleError(
                f"silent clip (peak amplitude {peak:.2g} < {SILENCE_PEAK:g}); "
                "silent audio is usually a broken recording. Pass "
                "silence='keep' to encode it anyway",
                source=source,
            )
    if source is None and np.may_share_memory(y, data):
        y = y.copy()  # never hand out a view of the caller's array
    return y


def _as_waveform(array):
    """Validate an in-memory waveform and return it as a 1-D float32 array."""
    if not isinstance(array, np.ndarray):
        raise bad_cell("expected the waveform to be a 1-D float ndarray", array)
    if array.dtype.kind != "f":
        hint = (
            " (integer PCM: convert to float in [-1, 1], e.g. x / 32768 for int16)"
            if array.dtype.kind in "iu"
            else ""
        )
        raise InvalidSampleError(
            f"expected a float waveform, got {describe_cell(array)}{hint}"
        )
    if array.ndim != 1:
        raise InvalidSampleError(
            f"expected a 1-D (mono) waveform, got {describe_cell(array)}; mix "
            "multi-channel arrays down first, e.g. y.mean(axis=0)"
        )
    return array.astype(np.float32, copy=False)


def _read_file(path, sr, n_target, crop, limit):
    """Read a sound file as ``(frames, channels)`` float32.

    Returns ``(data, sample_rate, offset)``: when only a window of the file is
    read (``duration`` set and the file longer), ``offset`` is where, in the
    resampled window, the kept clip starts; None when the whole file was read.
    """
    import soundfile

    fd = open_regular_file(path, what="audio file")
    try:
        with soundfile.SoundFile(fd, closefd=False) as f:
            frames, channels, orig_sr = f.frames, f.channels, f.samplerate
            if orig_sr <= 0:  # pragma: no cover - libsndfile refuses such headers
                raise InvalidSampleError(f"invalid sample rate {orig_sr}", source=path)
            start, count, offset = _window(frames, orig_sr, sr, n_target, crop)
            _check_size(count, channels, orig_sr, sr, limit, path)
            try:
                if start:
                    f.seek(start)
                data = f.read(count, dtype="float32", always_2d=True)
            except (soundfile.SoundFileError, RuntimeError) as exc:
                raise InvalidSampleError(
                    f"truncated or corrupt audio file: its header declares {frames} "
                    f"frames, reading frames {start}..{start + count} failed ({exc})",
                    source=path,
                ) from None
            declared = _declared_wav_frames(f.format, fd)
    except InvalidSampleError:
        raise
    except (soundfile.SoundFileError, RuntimeError, OSError) as exc:
        # LibsndfileError (corrupt / non-audio file) is a RuntimeError.
        # soundfile names the descriptor ("Error opening 12: ..."); the
        # path is the source already.
        reason = str(exc).replace(f"Error opening {fd}: ", "")
        raise InvalidSampleError(
            f"cannot decode audio file ({reason})", source=path
        ) from exc
    finally:
        os.close(fd)
    if data.shape[0] < count:
        raise InvalidSampleError(
            f"truncated audio file: its header declares {frames} frames, only "
            f"{start + data.shape[0]} could be read",
            source=path,
        )
    if declared is not None and declared > frames:
        raise InvalidSampleError(
            f"truncated audio file: its header declares {declared} frames, the "
            f"file holds {frames}",
            source=path,
        )
    return data, orig_sr, offset


def _window(frames, orig_sr, sr, n_target, crop):
    """Which source frames to read: ``(start, count, offset in the output)``.

    With ``duration`` set, only the kept window is read: at the same rate
    exactly ``n_target`` frames; resampled, the source frames that map onto the
    kept window plus :data:`_RESAMPLE_MARGIN_SECONDS` on each side, starting at
    a frame that falls on an output sample (so the resampled window lines up
    with the resampled whole file).
    """
    if n_target is None:
        return 0, frames, None
    if orig_sr == sr:
        if n_target >= frames:
            return 0, frames, None
        start = 0 if crop == "start" else (frames - n_target) // 2
        return start, n_target, None
    # Position of the kept window in the resampled whole file (librosa's length).
    total = math.ceil(frames * sr / orig_sr)
    if n_target >= total:
        return 0, frames, None
    out_start = 0 if crop == "start" else (total - n_target) // 2
    margin = max(256, math.ceil(_RESAMPLE_MARGIN_SECONDS * orig_sr))
    # Source frames that land exactly on an output sample: multiples of step.
    step = orig_sr // math.gcd(int(orig_sr), int(sr)) if float(sr).is_integer() else 1
    first = max(0, math.floor(out_start * orig_sr / sr) - margin)
    first -= first % step
    last = min(frames, math.ceil((out_start + n_target) * orig_sr / sr) + margin)
    if first == 0 and last >= frames:
        return 0, frames, None
    offset = out_start - round(first * sr / orig_sr)
    return first, last - first, offset


def _check_size(count, channels, orig_sr, sr, limit, path):
    decoded = count * channels
    resampled = math.ceil(count * sr / orig_sr) * channels
    if max(decoded, resampled) > limit:
        seconds = count / orig_sr
        raise InvalidSampleError(
            f"audio file declares {count} frames x {channels} channel(s) "
            f"({seconds:.4g} s at {orig_sr} Hz), more than the limit of {limit} "
            "samples; pass duration= to read only the part that is kept, or raise "
            "max_samples",
            source=path,
        )


def _declared_wav_frames(file_format, fd):
    """Frames a RIFF/WAVE header declares in its data chunk (None if unknown).

    libsndfile silently clamps a truncated WAV's frame count to the bytes
    present, so the declared length is read from the header itself. Streaming
    writers leave the size at 0 or 0xFFFFFFFF ("unknown"): not a truncation.
    """
    if file_format not in ("WAV", "WAVEX") or not hasattr(os, "pread"):
        return None
    head = os.pread(fd, 12, 0)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    position, block_align = 12, None
    for _ in range(64):  # a WAV header has a handful of chunks
        chunk = os.pread(fd, 8, position)
        if len(chunk) < 8:
            return None
        cid, size = chunk[:4], int.from_bytes(chunk[4:], "little")
        if cid == b"fmt ":
            fmt = os.pread(fd, min(size, 64), position + 8)
            if len(fmt) >= 14:
                block_align = int.from_bytes(fmt[12:14], "little")
        elif cid == b"data":
            if size in (0, 0xFFFFFFFF) or not block_align:
                return None
            return size // block_align
        position += 8 + size + size % 2
    return None


def _fix_length(y, n, crop):
    length = y.shape[-1]
    if length > n:
        start = 0 if crop == "start" else (length - n) // 2
        return np.ascontiguousarray(y[..., start : start + n])
    if length < n:
        pad = [(0, 0)] * (y.ndim - 1) + [(0, n - length)]
        return np.pad(y, pad)
    return y


# --------------------------------------------------------------------------------
# AudioLoader
# --------------------------------------------------------------------------------
class AudioLoader(BaseRawLoader):
    """Decode a raw audio column into float32 waveforms at a fixed sample rate.

    A stateless first step for pipelines that work on waveforms (custom feature
    code, augmentation, a network's own front end). Each cell is decoded with
    :func:`load_audio`; the output is a list, not a matrix, so the transformer
    opts out of ``set_output`` wrapping.

    Parameters
    ----------
    sr : float, default=16000
        Target sample rate in Hz. Files and ``(waveform, sample_rate)`` tuples are
        resampled to it; bare 1-D arrays are taken to be at ``sr`` already.
    mono : bool, default=True
        Average the channels of multi-channel files (1-D output). ``False``
        returns ``(n_channels, n_samples)`` arrays.
    duration : float, default=None
        Crop / zero-pad every clip to this many seconds (``None``: keep lengths).
    crop : {"start", "center"}, default="start"
        Which window of a longer clip is kept.
    silence : {"raise", "keep"}, default="raise"
        Silent clips (peak below 1e-4) raise by default; see :func:`load_audio`.
    n_jobs : int, default=None
        Number of threads decoding in parallel (``None`` means 1).
    verbose : int, default=0
        Show a progress bar when positive.
    errors : {"raise", "missing"}, default="raise"
        What an undecodable cell does: raise an
        :class:`~skmm.exceptions.InvalidSampleError` naming the sample and file,
        or become ``None`` (missing) with a warning.

    See Also
    --------
    load_audio : The decoding function.
    MelSpectrogramEncoder, MFCCEncoder : Spectral features as a matrix.

    Examples
    --------
    >>> import numpy as np
    >>> from skmm.encoders import AudioLoader
    >>> tone = np.sin(np.arange(8000) / 5.0).astype(np.float32)
    >>> waves = AudioLoader(sr=16000, duration=0.25).fit_transform(
    ...     [(tone, 8000), None, tone])
    >>> [None if w is None else w.shape for w in waves]
    [(4000,), None, (4000,)]
    """

    _modality = "audio"

    def __init__(
        self,
        *,
        sr=16000,
        mono=True,
        duration=None,
        crop="start",
        silence="raise",
        n_jobs=None,
        verbose=0,
        errors="raise",
    ):
        self.sr = sr
        self.mono = mono
        self.duration = duration
        self.crop = crop
        self.silence = silence
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.errors = errors

    def _check_params(self):
        name = type(self).__name__
        _check_decode_params(
            self.sr, self.mono, self.duration, self.crop, self.silence, name
        )
        _check_option("errors", self.errors, ("raise", "missing"), name)

    def _loader(self):
        self._check_params()
        return functools.partial(
            load_audio,
            sr=self.sr,
            mono=self.mono,
            duration=self.duration,
            crop=self.crop,
            silence=self.silence,
        )


# --------------------------------------------------------------------------------
# log-mel / MFCC features
# --------------------------------------------------------------------------------
@functools.lru_cache(maxsize=16)
def _mel_basis(sr, n_fft, n_mels, fmin, fmax):
    """librosa's mel filterbank, built once per process and setting."""
    import librosa

    basis = librosa.filters.mel(
        sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, dtype=np.float32
    )
    basis.flags.writeable = False
    return basis


@functools.lru_cache(maxsize=16)
def _hann_window(n_fft):
    """librosa's periodic Hann window of ``n_fft`` samples, built once."""
    import librosa

    window = librosa.filters.get_window("hann", n_fft, fftbins=True)
    window.flags.writeable = False
    return window


def _delta(feats, order):
    """librosa.feature.delta along time with a width that fits short clips."""
    import librosa

    n_frames = feats.shape[-1]
    if n_frames >= 9:
        width, mode = 9, "interp"
    elif n_frames >= 3:
        width, mode = n_frames - (1 - n_frames % 2), "interp"
    else:
        width, mode = 3, "nearest"
    return librosa.feature.delta(feats, width=width, order=order, mode=mode, axis=-1)


def spectral_features(
    y,
    *,
    sr,
    n_fft,
    hop_length,
    n_mels,
    fmin=0.0,
    fmax=None,
    n_mfcc=None,
    deltas=False,
    pooling=None,
):
    """Log-mel spectrogram or MFCCs of one mono waveform, pooled or as a grid.

    Shared by :class:`MelSpectrogramEncoder` (``n_mfcc=None``) and
    :class:`MFCCEncoder`: the power spectrogram (Hann window, centred frames,
    zero padding) goes through librosa's mel filterbank and
    ``librosa.power_to_db(ref=1.0, amin=1e-10, top_db=80)``; MFCCs are the DCT
    of that log-mel (``librosa.feature.mfcc(S=...)``), so they equal
    ``librosa.feature.mfcc(y=y, sr=sr, ...)``. A clip shorter than ``n_fft``
    samples is zero-padded at the end to ``n_fft`` samples (one full window).

    Parameters
    ----------
    y : ndarray of shape (n_samples,), dtype float32
    sr : float
    n_fft, hop_length, n_mels : int
    fmin : float, default=0.0
    fmax : float, default=None
        ``None`` means ``sr / 2``.
    n_mfcc : int, default=None
        ``None`` returns the log-mel spectrogram itself.
    deltas : bool, default=False
        Append delta and delta-delta coefficients (``librosa.feature.delta``).
    pooling : {"mean_std", None}, default=None
        ``"mean_std"``: per-coefficient mean then standard deviation over frames
        (``2 * n_coeffs`` values); ``None``: the ``(n_frames, n_coeffs)`` grid
        flattened in C order (time first).

    Returns
    -------
    features : ndarray of shape (n_features,), dtype float32

    Examples
    --------
    >>> import numpy as np
    >>> from skmm.encoders._audio import spectral_features
    >>> y = np.sin(np.arange(16000) / 3.0).astype(np.float32)
    >>> spectral_features(y, sr=16000, n_fft=512, hop_length=256, n_mels=32).shape
    (2016,)
    """
    import librosa

    if y.shape[-1] < n_fft:
        y = np.pad(y, (0, n_fft - y.shape[-1]))
    power = (
        np.abs(
            librosa.stft(
                y,
                n_fft=n_fft,
                hop_length=hop_length,
                window=_hann_window(n_fft),
                center=True,
                pad_mode="constant",
            )
        )
        ** 2
    )
    mel = _mel_basis(sr, n_fft, n_mels, fmin, fmax) @ power
    feats = librosa.power_to_db(mel, ref=1.0, amin=_AMIN, top_db=_TOP_DB)
    if n_mfcc is not None:
        feats = librosa.feature.mfcc(S=feats, n_mfcc=n_mfcc)
        if deltas:
            feats = np.concatenate([feats, _delta(feats, 1), _delta(feats, 2)])
    if pooling == "mean_std":
        out = np.concatenate([feats.mean(axis=1), feats.std(axis=1)])
    else:
        out = feats.T.ravel()
    return out.astype(np.float32, copy=False)


def _decode_features(cell, *, decode, features):
    """Decode one cell and compute its features (the per-item parallel unit)."""
    return spectral_features(load_audio(cell, **decode), **features)


class _SpectralEncoder(BaseRawEncoder):
    """Shared implementation of the log-mel and MFCC encoders.

    The per-cell loader decodes *and* computes the features, so that ``n_jobs``
    parallelises the heavy part; ``_encode_batch`` only stacks.
    """

    _modality = "audio"
    _parallel_prefer = "threads"
    _stem = None

    def _n_mfcc(self):
        return None

    def _deltas(self):
        return False

    def _check_params(self):
        super()._check_params()
        name = type(self).__name__
        _check_decode_params(
            self.sr, True, self.duration, self.crop, self.silence, name
        )
        for param in ("n_mels", "n_fft", "hop_length"):
            _check_positive(param, getattr(self, param), integer=True, owner=name)
        if not _is_real(self.fmin) or not 0 <= self.fmin < self.sr / 2:
            raise ValueError(
                f"{name}: fmin must be a number in [0, sr/2); got {self.fmin!r}."
            )
        if self.fmax is not None and (
            not _is_real(self.fmax) or not self.fmin < self.fmax <= self.sr / 2
        ):
            raise ValueError(
                f"{name}: fmax must be None or a number in (fmin, sr/2] = "
                f"({self.fmin}, {self.sr / 2}]; got {self.fmax!r}."
            )
        _check_option("pooling", self.pooling, ("mean_std", None), name)
        if self.pooling is None and self.duration is None:
            raise ValueError(
                f"{name}: pooling=None returns the full (n_frames, n_coeffs) grid, "
                "whose size must be fixed: set duration (seconds; clips are "
                "cropped / zero-padded to it), or use pooling='mean_std' for "
                "variable-length clips."
            )

    def _n_frames(self):
        n_samples = max(round(self.duration * self.sr), self.n_fft)
        return 1 + n_samples // self.hop_length

    def _coeff_names(self):
        n = self._n_mfcc() or self.n_mels
        names = [f"{self._stem}{k}" for k in range(n)]
        if self._deltas():
            names += [f"{self._stem}_delta{k}" for k in range(n)]
            names += [f"{self._stem}_delta2_{k}" for k in range(n)]
        return names

    def _feature_names(self):
        coeffs = self._coeff_names()
        if self.pooling == "mean_std":
            return [f"{c}_mean" for c in coeffs] + [f"{c}_std" for c in coeffs]
        return list(grid_feature_names(self._stem, (self._n_frames(), len(coeffs))))

    def _loader(self):
        return functools.partial(
            _decode_features,
            decode={
                "sr": self.sr,
                "mono": True,
                "duration": self.duration,
                "crop": self.crop,
                "silence": self.silence,
            },
            features={
                "sr": self.sr,
                "n_fft": self.n_fft,
                "hop_length": self.hop_length,
                "n_mels": self.n_mels,
                "fmin": self.fmin,
                "fmax": self.fmax,
                "n_mfcc": self._n_mfcc(),
                "deltas": self._deltas(),
                "pooling": self.pooling,
            },
        )

    def _encode_batch(self, items):
        return np.stack(items)

    def transform(self, X):
        """Encode a raw audio column.

        Parameters
        ----------
        X : sequence of shape (n_samples,)
            Raw audio cells. Missing cells (None/NaN) give rows of NaN.

        Returns
        -------
        Xt : ndarray of shape (n_samples, n_features_out_), dtype=float32
        """
        # The mel projection is a tiny matrix product per clip: a multi-threaded
        # BLAS spends more time synchronising than computing (3-4x slower on a
        # busy 2-core machine), and parallelism comes from n_jobs instead.
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            return super().transform(X)


class MelSpectrogramEncoder(_SpectralEncoder):
    """Encode audio as a log-mel spectrogram: pooled statistics or a full grid.

    Each clip is decoded with :func:`load_audio` (mono, resampled to ``sr``,
    cropped / zero-padded to ``duration``), then turned into a power mel
    spectrogram (librosa: Hann window of ``n_fft`` samples, hop ``hop_length``,
    centred frames) in decibels with a *fixed* reference,
    ``librosa.power_to_db(S, ref=1.0, amin=1e-10, top_db=80)``, so that values
    are comparable across clips (a louder clip has larger values; ``top_db``
    floors each clip 80 dB below its own peak, as librosa does by default).

    Parameters
    ----------
    sr : float, default=16000
        Working sample rate in Hz: files and ``(waveform, rate)`` tuples are
        resampled to it; bare 1-D arrays must already be at ``sr``.
    n_mels : int, default=64
        Number of mel bands.
    n_fft : int, default=1024
        FFT window length in samples. Clips shorter than that are zero-padded at
        the end to one window.
    hop_length : int, default=512
        Samples between frames.
    duration : float or None, default=1.0
        Clip length in seconds (crop / zero-pad). Required with
        ``pooling=None``, where it fixes ``n_frames = 1 + max(round(duration *
        sr), n_fft) // hop_length``.
    fmin : float, default=0.0
        Lowest mel band edge in Hz.
    fmax : float, default=None
        Highest mel band edge in Hz (``None``: ``sr / 2``).
    pooling : {None, "mean_std"}, default=None
        ``None``: the full ``(n_frames, n_mels)`` grid flattened in C order, time
        first (features ``"logmel:t:m"``, see
        :func:`skmm.utils.grid_feature_names`; a sequence branch reads frames, a
        CNN a one-channel image). ``"mean_std"``: mean then standard deviation
        of each band over frames (``"logmel{k}_mean"``, ``"logmel{k}_std"``);
        then ``duration`` may be ``None`` (variable-length clips).
    crop : {"start", "center"}, default="start"
        Which window of a longer clip is kept.
    silence : {"raise", "keep"}, default="raise"
        Silent clips (peak below 1e-4) raise an
        :class:`~skmm.exceptions.InvalidSampleError` by default; ``"keep"``
        encodes them (at the dB floor).
    batch_size : int, default=64
        Cells decoded per batch (bounds peak memory).
    n_jobs : int, default=None
        Parallel workers for decoding + feature extraction (``None`` means 1).
    verbose : int, default=0
        Progress bar over batches when positive.
    errors : {"raise", "missing"}, default="raise"
        An undecodable cell raises (naming sample and file) or becomes a NaN
        row with a warning.

    Attributes
    ----------
    n_features_out_ : int
        ``2 * n_mels`` (``"mean_std"``) or ``n_frames * n_mels`` (grid).

    See Also
    --------
    MFCCEncoder : Cepstral coefficients computed from the same log-mel.
    TransformerAudioEncoder : Pretrained speech-model embeddings.

    Examples
    --------
    >>> import numpy as np
    >>> from skmm.encoders import MelSpectrogramEncoder
    >>> from skmm.utils import infer_block_shape
    >>> rng = np.random.default_rng(0)
    >>> clips = [rng.standard_normal(8000).astype(np.float32) * 0.1, None]
    >>> enc = MelSpectrogramEncoder(sr=8000, n_mels=16, n_fft=256, hop_length=128)
    >>> Xt = enc.fit_transform(clips)
    >>> Xt.shape, bool(np.isnan(Xt[1]).all())
    ((2, 1008), True)
    >>> infer_block_shape(enc.get_feature_names_out())
    (63, 16)
    """

    _stem = "logmel"

    def __init__(
        self,
        *,
        sr=16000,
        n_mels=64,
        n_fft=1024,
        hop_length=512,
        duration=1.0,
        fmin=0.0,
        fmax=None,
        pooling=None,
        crop="start",
        silence="raise",
        batch_size=64,
        n_jobs=None,
        verbose=0,
        errors="raise",
    ):
        self.sr = sr
        self.n_mels = n_mels
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.duration = duration
        self.fmin = fmin
        self.fmax = fmax
        self.pooling = pooling
        self.crop = crop
        self.silence = silence
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.errors = errors


class MFCCEncoder(_SpectralEncoder):
    """Encode audio as MFCCs (optionally with deltas), pooled or as a grid.

    The MFCCs are the type-II orthonormal DCT of the log-mel spectrogram of
    :class:`MelSpectrogramEncoder` (``librosa.feature.mfcc(S=log_mel)``), which
    is exactly ``librosa.feature.mfcc(y=y, sr=sr, n_mfcc=..., n_mels=...,
    n_fft=..., hop_length=...)`` on the decoded waveform.

    Parameters
    ----------
    sr : float, default=16000
        Working sample rate in Hz: files and ``(waveform, rate)`` tuples are
        resampled to it; bare 1-D arrays must already be at ``sr``.
    n_mfcc : int, default=20
        Number of cepstral coefficients (at most ``n_mels``).
    n_mels : int, default=64
        Mel bands of the underlying log-mel spectrogram.
    n_fft : int, default=1024
        FFT window length in samples (shorter clips are zero-padded to it).
    hop_length : int, default=512
        Samples between frames.
    duration : float, default=None
        Clip length in seconds (crop / zero-pad); ``None`` keeps each clip's
        length, which ``pooling="mean_std"`` allows. Required with
        ``pooling=None``.
    deltas : bool, default=False
        Append delta and delta-delta coefficients (``librosa.feature.delta``;
        the smoothing width shrinks to fit clips of fewer than 9 frames), giving
        ``3 * n_mfcc`` coefficients per frame.
    fmin : float, default=0.0
        Lowest mel band edge in Hz.
    fmax : float, default=None
        Highest mel band edge in Hz (``None``: ``sr / 2``).
    pooling : {"mean_std", None}, default="mean_std"
        ``"mean_std"``: mean then standard deviation of every coefficient over
        frames (``"mfcc{k}_mean"``, ..., ``"mfcc_delta{k}_std"``,
        ``"mfcc_delta2_{k}_std"``). ``None``: the ``(n_frames, n_coeffs)`` grid,
        time first, named by :func:`skmm.utils.grid_feature_names` (``"mfcc:t:c"``).
    crop : {"start", "center"}, default="start"
        Which window of a longer clip is kept.
    silence : {"raise", "keep"}, default="raise"
        Silent clips raise an :class:`~skmm.exceptions.InvalidSampleError` by
        default; ``"keep"`` encodes them.
    batch_size : int, default=64
        Cells decoded per batch (bounds peak memory).
    n_jobs : int, default=None
        Parallel workers for decoding + feature extraction (``None`` means 1).
    verbose : int, default=0
        Progress bar over batches when positive.
    errors : {"raise", "missing"}, default="raise"
        An undecodable cell raises (naming sample and file) or becomes a NaN
        row with a warning.

    Attributes
    ----------
    n_features_out_ : int
        ``2 * n_coeffs`` (``"mean_std"``) or ``n_frames * n_coeffs`` (grid).

    See Also
    --------
    MelSpectrogramEncoder : The log-mel spectrogram itself.

    Examples
    --------
    >>> import numpy as np
    >>> from skmm.encoders import MFCCEncoder
    >>> rng = np.random.default_rng(0)
    >>> clips = [(rng.standard_normal(n).astype(np.float32) * 0.1, 8000)
    ...          for n in (4000, 6000)]
    >>> enc = MFCCEncoder(sr=8000, n_mfcc=13, n_fft=256, hop_length=128)
    >>> enc.fit_transform(clips + [None]).shape
    (3, 26)
    >>> enc.get_feature_names_out()[:2].tolist()
    ['mfcc0_mean', 'mfcc1_mean']
    """

    _stem = "mfcc"

    def __init__(
        self,
        *,
        sr=16000,
        n_mfcc=20,
        n_mels=64,
        n_fft=1024,
        hop_length=512,
        duration=None,
        deltas=False,
        fmin=0.0,
        fmax=None,
        pooling="mean_std",
        crop="start",
        silence="raise",
        batch_size=64,
        n_jobs=None,
        verbose=0,
        errors="raise",
    ):
        self.sr = sr
        self.n_mfcc = n_mfcc
        self.n_mels = n_mels
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.duration = duration
        self.deltas = deltas
        self.fmin = fmin
        self.fmax = fmax
        self.pooling = pooling
        self.crop = crop
        self.silence = silence
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.errors = errors

    def _n_mfcc(self):
        return self.n_mfcc

    def _deltas(self):
        return bool(self.deltas)

    def _check_params(self):
        super()._check_params()
        name = type(self).__name__
        _check_positive("n_mfcc", self.n_mfcc, integer=True, owner=name)
        if self.n_mfcc > self.n_mels:
            raise ValueError(
                f"{name}: n_mfcc={self.n_mfcc} exceeds n_mels={self.n_mels}; the "
                "MFCCs are a DCT of the mel bands."
            )
        if not isinstance(self.deltas, (bool, np.bool_)):
            raise ValueError(f"{name}: deltas must be a bool; got {self.deltas!r}.")


# --------------------------------------------------------------------------------
# pretrained speech models (wav2vec2, HuBERT, WavLM, ...)
# --------------------------------------------------------------------------------
def _min_input_samples(config):
    """Fewest input samples giving one output frame of a conv feature encoder."""
    kernels = getattr(config, "conv_kernel", None)
    strides = getattr(config, "conv_stride", None)
    if not kernels or not strides:
        return 1
    n = 1
    for kernel, stride in zip(reversed(kernels), reversed(strides)):
        n = (n - 1) * stride + kernel
    return n


def _decode_min_length(cell, *, decode, min_samples):
    y = load_audio(cell, **decode)
    if y.shape[-1] < min_samples:
        source = os.fspath(cell) if isinstance(cell, (str, os.PathLike)) else None
        raise InvalidSampleError(
            f"clip too short for the model: {y.shape[-1]} samples at "
            f"{decode['sr']} Hz, the model needs at least {min_samples}",
            source=source,
        )
    return y


def _load_speech_model(path, device):
    """Load (model, feature_extractor, sha256) from a local directory or cache."""
    from transformers import AutoFeatureExtractor, AutoModel
    from transformers.utils import logging as hf_logging

    from skmm.utils._cache import file_sha256

    bars = hf_logging.is_progress_bar_enabled()
    try:
        hf_logging.disable_progress_bar()
        extractor = AutoFeatureExtractor.from_pretrained(path, local_files_only=True)
        model = AutoModel.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"Cannot load an audio model and feature extractor from {path!r} "
            f"(offline, local files only): {exc}"
        ) from exc
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    model.to(device).eval()
    sha = file_sha256(path) if os.path.isdir(path) else None
    return model, extractor, sha


class TransformerAudioEncoder(BaseRawEncoder):
    """Embed audio with a pretrained speech transformer (wav2vec2, HuBERT, WavLM).

    The model and its feature extractor are loaded from a local directory with
    ``transformers.AutoFeatureExtractor`` / ``AutoModel`` (offline,
    ``local_files_only=True``). Each clip is decoded with :func:`load_audio`
    at ``sr``, normalised by the feature extractor, and the model's
    ``last_hidden_state`` is pooled over the clip's *valid* frames:

    * models whose feature extractor returns an attention mask
      (``return_attention_mask=True``, e.g. layer-norm wav2vec2 variants) get
      clips of a batch zero-padded to the longest, with the mask, and the pooling
      uses the frame mask the model derives from it;
    * the others (group-norm models such as wav2vec2-base, where zero padding
      changes the outputs) get clips of equal length batched together, without
      any padding.

    Either way, a clip's embedding does not depend on the other clips of its
    batch. The model runs in ``eval()`` mode under ``torch.inference_mode()``.
    It is held in transient attributes: pickles and clones carry only the path
    (plus the sha256 of the model directory, checked when a pickled encoder
    reloads the model, so that it reloads identically).

    Parameters
    ----------
    model_name_or_path : str or os.PathLike
        Local directory of a model saved with ``save_pretrained`` (or the name of
        one already in the local Hugging Face cache).
    sr : float, default=16000
        Working sample rate; it must equal the feature extractor's
        ``sampling_rate`` (checked in ``fit``: a mismatch is an error, not a
        silent resampling). Files and ``(waveform, rate)`` tuples are resampled
        to ``sr``; bare 1-D arrays must already be at ``sr``.
    pooling : {"mean", "max"}, default="mean"
        Pooling of the hidden states over valid frames.
    normalize : bool, default=False
        L2-normalise the pooled embeddings.
    duration : float, default=None
        Crop / zero-pad every clip to this many seconds (then all clips batch
        together without masking).
    crop : {"start", "center"}, default="start"
        Which window of a longer clip is kept.
    batch_size : int, default=8
        Clips per forward pass.
    device : str, default="cpu"
        Torch device; ``"auto"`` picks CUDA when available.
    silence : {"raise", "keep"}, default="raise"
        Silent clips raise an :class:`~skmm.exceptions.InvalidSampleError` by
        default; ``"keep"`` encodes them.
    n_jobs : int, default=None
        Threads decoding audio in parallel (the model itself runs with torch's
        own threads).
    verbose : int, default=0
        Progress bar over batches when positive.
    errors : {"raise", "missing"}, default="raise"
        An undecodable cell (or one shorter than the model's receptive field)
        raises, naming sample and file, or becomes a NaN row with a warning.

    Attributes
    ----------
    n_features_out_ : int
        The model's hidden size.
    device_ : str
        The resolved torch device.
    model_sha256_ : str or None
        SHA-256 of the model directory at fit time (None for a cache name).

    See Also
    --------
    MFCCEncoder, MelSpectrogramEncoder : Hand-crafted spectral features.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from skmm.encoders import TransformerAudioEncoder
    >>> from skmm.utils._testing import make_tiny_wav2vec2
    >>> rng = np.random.default_rng(0)
    >>> clips = [rng.standard_normal(n).astype(np.float32) * 0.1 for n in (800, 1200)]
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     enc = TransformerAudioEncoder(make_tiny_wav2vec2(tmp)).fit(clips)
    ...     enc.transform(clips + [None]).shape
    (3, 16)
    """

    _modality = "audio"
    _parallel_prefer = "threads"
    _transient = ("_model", "_feature_extractor")

    def __init__(
        self,
        model_name_or_path,
        *,
        sr=16000,
        pooling="mean",
        normalize=False,
        duration=None,
        crop="start",
        batch_size=8,
        device="cpu",
        silence="raise",
        n_jobs=None,
        verbose=0,
        errors="raise",
    ):
        self.model_name_or_path = model_name_or_path
        self.sr = sr
        self.pooling = pooling
        self.normalize = normalize
        self.duration = duration
        self.crop = crop
        self.batch_size = batch_size
        self.device = device
        self.silence = silence
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.errors = errors

    # -- resources -----------------------------------------------------------------
    def _resource(self, device):
        from skmm.utils._cache import get_resource, path_stamp

        path = os.fspath(self.model_name_or_path)
        if os.path.isdir(path):
            path = os.path.abspath(path)
        return get_resource(
            ("skmm.TransformerAudioEncoder", path, device, path_stamp(path)),
            functools.partial(_load_speech_model, path, device),
        )

    def _check_params(self):
        super()._check_params()
        name = type(self).__name__
        if not isinstance(self.model_name_or_path, (str, os.PathLike)):
            raise ValueError(
                f"{name}: model_name_or_path must be a path or model name; got "
                f"{self.model_name_or_path!r}."
            )
        _check_decode_params(
            self.sr, True, self.duration, self.crop, self.silence, name
        )
        _check_option("pooling", self.pooling, ("mean", "max"), name)

    def _prepare(self):
        from skmm.utils._torch import resolve_device

        name = type(self).__name__
        device = resolve_device(self.device)
        model, extractor, sha = self._resource(device)
        if "input_values" not in getattr(extractor, "model_input_names", ()):
            raise ValueError(
                f"{name}: {self.model_name_or_path!r} has a "
                f"{type(extractor).__name__}, which does not take raw waveforms "
                "('input_values'); use a wav2vec2 / HuBERT / WavLM style model."
            )
        model_sr = getattr(extractor, "sampling_rate", None)
        if model_sr is not None and model_sr != self.sr:
            raise ValueError(
                f"{name}: sr={self.sr} but the model at "
                f"{self.model_name_or_path!r} expects {model_sr} Hz audio; set "
                f"sr={model_sr} (files and (waveform, rate) tuples are resampled "
                "to sr automatically)."
            )
        self._model, self._feature_extractor = model, extractor
        self.device_ = device
        self.model_sha256_ = sha
        self.n_features_out_ = int(model.config.hidden_size)

    def _get_model(self):
        """The model and feature extractor, reloaded by reference after unpickling."""
        if "_model" not in self.__dict__:
            from skmm.utils._torch import resolve_device

            model, extractor, sha = self._resource(resolve_device(self.device))
            if sha != self.model_sha256_:
                raise ValueError(
                    f"{type(self).__name__}: the model files at "
                    f"{self.model_name_or_path!r} changed since this encoder was "
                    "fitted (sha256 mismatch); refit it."
                )
            self._model, self._feature_extractor = model, extractor
        return self._model, self._feature_extractor

    # -- BaseRawEncoder hooks ---------------------------------------------------------
    def _feature_names(self):
        return [f"emb{k}" for k in range(self.n_features_out_)]

    def _loader(self):
        model, _ = self._get_model()
        return functools.partial(
            _decode_min_length,
            decode={
                "sr": self.sr,
                "mono": True,
                "duration": self.duration,
                "crop": self.crop,
                "silence": self.silence,
            },
            min_samples=_min_input_samples(model.config),
        )

    def _encode_batch(self, items):
        import torch

        from skmm.utils._torch import masked_mean, torch_threads

        model, extractor = self._get_model()
        model.eval()
        use_mask = bool(getattr(extractor, "return_attention_mask", False)) and hasattr(
            model, "_get_feature_vector_attention_mask"
        )
        if use_mask:
            groups = [list(range(len(items)))]
        else:
            by_length = {}
            for k, item in enumerate(items):
                by_length.setdefault(item.shape[-1], []).append(k)
            groups = list(by_length.values())
        device = model.device
        out = np.empty((len(items), self.n_features_out_), dtype=np.float32)
        with torch_threads(), torch.inference_mode():
            for group in groups:
                inputs = extractor(
                    [items[k] for k in group],
                    sampling_rate=self.sr,
                    padding=True,
                    return_attention_mask=use_mask,
                    return_tensors="pt",
                )
                values = inputs["input_values"].to(device)
                if use_mask:
                    mask = inputs["attention_mask"].to(device)
                    hidden = model(values, attention_mask=mask).last_hidden_state
                    frames = model._get_feature_vector_attention_mask(
                        hidden.shape[1], mask
                    ).bool()
                else:
                    hidden = model(values).last_hidden_state
                    frames = torch.ones(hidden.shape[:2], dtype=torch.bool)
                frames = frames.to(hidden.device)
                if self.pooling == "mean":
                    pooled = masked_mean(hidden, frames)
                else:
                    pooled = hidden.masked_fill(~frames.unsqueeze(-1), float("-inf"))
                    pooled = pooled.amax(1)
                if self.normalize:
                    pooled = torch.nn.functional.normalize(pooled, dim=-1)
                out[group] = pooled.float().cpu().numpy()
        return out
