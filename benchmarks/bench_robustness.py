"""Benchmark: skmm.robustness corruptions vs the raw library calls they wrap.

Each row corrupts the same cells two ways: ``skmm.robustness.corrupt_column``
(validation of the column, decoding through the encoders' decoders, per-sample
seeded streams, output in the cell's own type) and a plain loop over the
library call that does the same work (Pillow, NumPy, librosa/soxr) on the same
input arrays. The ratio is skmm's throughput over the plain loop's (target:
>= 0.9x).

Run: ``python benchmarks/bench_robustness.py`` (about a minute on 2 cores).
"""

import io
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _timing import report

N_IMAGES = 200
N_CLIPS = 100
SR = 16000


def _images(size):
    rng = np.random.default_rng(0)
    return [
        rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
        for _ in range(N_IMAGES)
    ]


def _clips():
    rng = np.random.default_rng(0)
    t = np.arange(SR) / SR
    return [
        (0.3 * np.sin(2 * np.pi * rng.uniform(200, 2000) * t)).astype(np.float32)
        + 0.01 * rng.standard_normal(SR).astype(np.float32)
        for _ in range(N_CLIPS)
    ]


def raw_blur(images, severity):
    from PIL import Image, ImageFilter

    out = []
    for a in images:
        img = Image.fromarray(a)
        radius = 0.1 * severity * min(img.size)
        out.append(np.asarray(img.filter(ImageFilter.GaussianBlur(radius))))
    return out


def raw_jpeg(images, severity):
    from PIL import Image

    out = []
    for a in images:
        buffer = io.BytesIO()
        Image.fromarray(a).save(
            buffer, format="JPEG", quality=round(90 - 85 * severity)
        )
        buffer.seek(0)
        out.append(np.asarray(Image.open(buffer).convert("RGB")))
    return out


def raw_rotation(images, severity):
    from PIL import Image, ImageStat

    out = []
    for a in images:
        img = Image.fromarray(a)
        fill = tuple(round(m) for m in ImageStat.Stat(img).mean)  # same fill
        out.append(
            np.asarray(
                img.rotate(
                    30 * severity, resample=Image.Resampling.BILINEAR, fillcolor=fill
                )
            )
        )
    return out


def raw_gaussian_noise(images, severity):
    rng = np.random.default_rng(0)
    out = []
    for a in images:
        noisy = a.astype(np.float32) + rng.standard_normal(
            a.shape, dtype=np.float32
        ) * (0.4 * severity * 255)
        out.append(np.rint(np.clip(noisy, 0, 255)).astype(np.uint8))
    return out


def raw_white_noise(clips, severity):
    rng = np.random.default_rng(0)
    out = []
    for y in clips:
        noise = rng.standard_normal(y.size)
        snr = 30 - 50 * severity
        gain = np.sqrt(
            np.mean(y.astype(np.float64) ** 2) / (np.mean(noise**2) * 10 ** (snr / 10))
        )
        out.append(y + (noise * gain).astype(np.float32))
    return out


def raw_band_limit(clips, severity):
    import librosa

    low = SR / 16**severity
    return [
        librosa.util.fix_length(
            librosa.resample(
                librosa.resample(y, orig_sr=SR, target_sr=low, res_type="soxr_hq"),
                orig_sr=low,
                target_sr=SR,
                res_type="soxr_hq",
            ),
            size=y.size,
        )
        for y in clips
    ]


def raw_frequency_mask(clips, severity):
    import librosa

    out = []
    for y in clips:
        spec = librosa.stft(y, n_fft=512, hop_length=128)
        spec[50:100] = 0
        out.append(librosa.istft(spec, hop_length=128, n_fft=512, length=y.size))
    return out


def interleaved_best(first, second, repeat=5):
    """Best times of two functions run alternately (fair on a busy machine)."""
    first(), second()  # warm-up
    best = [float("inf"), float("inf")]
    for _ in range(repeat):
        for k, func in enumerate((first, second)):
            start = time.perf_counter()
            func()
            best[k] = min(best[k], time.perf_counter() - start)
    return best


def main():
    from skmm.robustness import corrupt_column

    cases = [
        ("image", "blur", raw_blur, 224),
        ("image", "jpeg", raw_jpeg, 224),
        ("image", "rotation", raw_rotation, 224),
        ("image", "gaussian_noise", raw_gaussian_noise, 224),
        ("image", "blur", raw_blur, 32),
        ("image", "jpeg", raw_jpeg, 32),
        ("audio", "white_noise", raw_white_noise, None),
        ("audio", "band_limit", raw_band_limit, None),
        ("audio", "frequency_mask", raw_frequency_mask, None),
    ]
    rows = []
    clips = _clips()
    images = {224: _images(224), 32: _images(32)}
    for modality, corruption, raw, size in cases:
        cells = images[size] if modality == "image" else clips
        kw = {"sr": SR} if modality == "audio" else {}
        t_skmm, t_raw = interleaved_best(
            lambda: corrupt_column(cells, corruption, 0.5, random_state=0, **kw),
            lambda: raw(cells, 0.5),
        )
        label = f"{corruption} ({f'{size}x{size} RGB' if size else '1 s at 16 kHz'})"
        rows.append((label, len(cells), t_skmm, t_raw))
    report("skmm.robustness.corrupt_column vs the raw library loop", rows)


if __name__ == "__main__":
    main()
