"""Audio corruptions of float32 waveforms (decoded by :func:`skmm.encoders.load_audio`).

Every function takes a 1-D float32 waveform at ``sr`` Hz, a severity in (0, 1], a
NumPy ``Generator`` and a context (``sr`` and, for ``mix``, the clips to mix in)
and returns a float32 waveform of the same length. Severity 0 never reaches them.

Severity scales (documented in the user guide):

==================  ==========================================================
corruption          severity ``s`` maps to
==================  ==========================================================
``white_noise``     white Gaussian noise at a signal-to-noise ratio of
                    ``30 - 50 s`` dB (20 dB at ``s=0.2``, 0 dB at ``s=0.6``,
                    -20 dB at ``s=1``), measured over the whole clip
``pink_noise``      pink (1/f power) noise at the same SNR
``mix``             another clip (by default another sample of the column)
                    mixed in at the same SNR
``time_mask``       one contiguous stretch of ``0.5 s`` of the clip zeroed
``frequency_mask``  one band covering ``0.5 s`` of the mel-scale range between
                    0 Hz and Nyquist zeroed in the short-time Fourier domain
``clipping``        gain of ``24 s`` dB then hard clipping at the clip's
                    original peak
``band_limit``      low-pass by resampling (soxr) to a bandwidth of
                    ``nyquist / 16**s`` (4 octaves lower at ``s=1``) and back
``time_shift``      delay or advance (at random) by ``0.5 s`` of the clip
                    length, zero-filled (not circular)
==================  ==========================================================
"""

import numpy as np

__all__ = ["AUDIO_CORRUPTIONS", "snr_db_for", "snr_to_noise"]


def snr_db_for(severity):
    """Signal-to-noise ratio (dB) of the additive corruptions at ``severity``."""
    return 30.0 - 50.0 * severity


def snr_to_noise(y, noise, snr_db):
    """Scale ``noise`` so that ``10 log10(P(y) / P(noise)) == snr_db``."""
    p_signal = float(np.mean(np.square(y, dtype=np.float64)))
    p_noise = float(np.mean(np.square(noise, dtype=np.float64)))
    if p_noise == 0.0:
        return np.zeros_like(y)
    gain = np.sqrt(p_signal / (p_noise * 10.0 ** (snr_db / 10.0)))
    return (noise * gain).astype(np.float32)


def _pink(n, rng):
    spectrum = np.fft.rfft(rng.standard_normal(n))
    k = np.arange(spectrum.size, dtype=np.float64)
    k[0] = 1.0
    spectrum /= np.sqrt(k)  # power ~ 1/f
    spectrum[0] = 0.0
    return np.fft.irfft(spectrum, n)


def white_noise(y, severity, rng, ctx):
    noise = rng.standard_normal(y.size)
    return y + snr_to_noise(y, noise, snr_db_for(severity))


def pink_noise(y, severity, rng, ctx):
    noise = _pink(y.size, rng) if y.size > 1 else rng.standard_normal(y.size)
    return y + snr_to_noise(y, noise, snr_db_for(severity))


def mix(y, severity, rng, ctx):
    pool = ctx["pool"]
    candidates = [k for k in range(len(pool)) if k != ctx.get("self_index")]
    if not candidates:  # a single clip: mix in a shifted copy of itself
        other = np.roll(y, y.size // 2)
    else:
        other = pool[candidates[int(rng.integers(len(candidates)))]]
        if other.size < y.size:
            other = np.tile(other, -(-y.size // other.size))
        start = int(rng.integers(0, other.size - y.size + 1))
        other = other[start : start + y.size]
    return y + snr_to_noise(y, other, snr_db_for(severity))


def time_mask(y, severity, rng, ctx):
    width = round(0.5 * severity * y.size)
    out = y.copy()
    if width > 0:
        start = int(rng.integers(0, y.size - width + 1))
        out[start : start + width] = 0.0
    return out


def frequency_mask(y, severity, rng, ctx):
    import librosa

    sr = ctx["sr"]
    n_fft = min(512, 1 << max(1, int(np.log2(max(y.size, 2)))))
    spec = librosa.stft(y, n_fft=n_fft, hop_length=n_fft // 4, center=True)
    top = librosa.hz_to_mel(sr / 2.0)
    width = 0.5 * severity * top
    low = rng.uniform(0.0, top - width)
    f_low, f_high = librosa.mel_to_hz([low, low + width])
    freqs = librosa.fft_frequencies(sr=sr, n_fft=n_fft)
    spec[(freqs >= f_low) & (freqs <= f_high)] = 0.0
    out = librosa.istft(spec, hop_length=n_fft // 4, n_fft=n_fft, length=y.size)
    return out.astype(np.float32, copy=False)


def clipping(y, severity, rng, ctx):
    peak = float(np.max(np.abs(y)))
    gain = 10.0 ** (24.0 * severity / 20.0)
    return np.clip(y * gain, -peak, peak).astype(np.float32, copy=False)


def band_limit(y, severity, rng, ctx):
    import librosa

    sr = ctx["sr"]
    low_sr = sr / 16.0**severity
    down = librosa.resample(y, orig_sr=sr, target_sr=low_sr, res_type="soxr_hq")
    up = librosa.resample(down, orig_sr=low_sr, target_sr=sr, res_type="soxr_hq")
    return librosa.util.fix_length(up, size=y.size).astype(np.float32, copy=False)


def time_shift(y, severity, rng, ctx):
    shift = round(0.5 * severity * y.size)
    out = np.zeros_like(y)
    if shift >= y.size:
        return out
    if rng.random() < 0.5:  # delay
        out[shift:] = y[: y.size - shift]
    else:  # advance
        out[: y.size - shift] = y[shift:]
    return out


#: Audio corruptions by name.
AUDIO_CORRUPTIONS = {
    "white_noise": white_noise,
    "pink_noise": pink_noise,
    "mix": mix,
    "time_mask": time_mask,
    "frequency_mask": frequency_mask,
    "clipping": clipping,
    "band_limit": band_limit,
    "time_shift": time_shift,
}
