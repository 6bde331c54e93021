"""Peak memory of encoding is bounded by the batch size, not the number of files.

Writes N image files (and N WAV clips) and encodes them with ``PixelEncoder``
(and ``MFCCEncoder``) at two batch sizes, measuring the peak of Python/numpy
allocations with :mod:`tracemalloc`. The output matrix itself grows with N; the
working memory above it (decoded images or waveforms of one batch) should
depend only on the batch size. The raw baseline decodes every file into a list
first and encodes the list (what a naive loop does).

Run: ``python benchmarks/bench_memory.py [--n-files N] [--side S] [--clip-seconds T]``
"""

import argparse
import tempfile
import tracemalloc

import numpy as np
from PIL import Image


def peak_mb(func):
    tracemalloc.start()
    tracemalloc.reset_peak()
    result = func()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-files", type=int, default=2000)
    parser.add_argument("--side", type=int, default=128)
    parser.add_argument("--clip-seconds", type=float, default=2.0)
    args = parser.parse_args()
    images(args)
    clips(args)


def _sweep(make_encoder, paths):
    """Peak memory of ``make_encoder(batch_size)`` over a quarter and all files."""
    for n in (len(paths) // 4, len(paths)):
        for batch_size in (32, 256):
            enc = make_encoder(batch_size).fit(paths[:2])
            mb, Xt = peak_mb(lambda enc=enc, n=n: enc.transform(paths[:n]))
            above = mb - Xt.nbytes / 2**20
            print(
                f"  {n:>6} files, batch_size={batch_size:<4} peak {mb:7.1f} MB "
                f"({above:6.1f} MB above the output)"
            )


def clips(args):
    import soundfile as sf

    from skmm.encoders import MFCCEncoder

    sr = 16000
    rng = np.random.default_rng(0)
    n_samples = int(args.clip_seconds * sr)
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i in range(args.n_files):
            path = f"{folder}/clip_{i}.wav"
            t = np.arange(n_samples) / sr
            wave = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 1000) * t)
            sf.write(path, wave + 0.01 * rng.standard_normal(n_samples), sr)
            paths.append(path)
        wave_mb = args.n_files * n_samples * 4 / 2**20
        print(
            f"\n{args.n_files} WAV clips of {args.clip_seconds:g} s at {sr} Hz "
            f"({wave_mb:.0f} MB of float32 waveforms) -> MFCCEncoder"
        )
        # warm-up: librosa's filter banks and numba compilation, once per process
        MFCCEncoder(sr=sr).fit_transform(paths[:2])
        _sweep(lambda batch_size: MFCCEncoder(sr=sr, batch_size=batch_size), paths)

        def naive(n=args.n_files):
            import librosa

            waves = [sf.read(p, dtype="float32")[0] for p in paths[:n]]
            mfcc = [librosa.feature.mfcc(y=w, sr=sr, n_mfcc=20) for w in waves]
            return np.stack([m.mean(axis=1) for m in mfcc])

        mb, _ = peak_mb(naive)
        print(f"  naive read-all-then-encode loop: peak {mb:7.1f} MB")


def images(args):
    from skmm.encoders import PixelEncoder

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i in range(args.n_files):
            path = f"{folder}/img_{i}.png"
            pixels = rng.integers(0, 255, (args.side, args.side, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(path)
            paths.append(path)
        size = (32, 32)
        out_mb = args.n_files * size[0] * size[1] * 3 * 4 / 2**20
        print(
            f"{args.n_files} PNG files of {args.side}x{args.side} RGB -> "
            f"PixelEncoder(size={size}); output matrix {out_mb:.1f} MB"
        )
        _sweep(lambda batch_size: PixelEncoder(size=size, batch_size=batch_size), paths)

        def naive(n=args.n_files):
            images = [np.asarray(Image.open(p).convert("RGB")) for p in paths[:n]]
            return np.stack(
                [
                    np.asarray(Image.fromarray(im).resize(size), dtype=np.float32)
                    for im in images
                ]
            )

        mb, _ = peak_mb(naive)
        print(f"  naive decode-all-then-encode loop: peak {mb:7.1f} MB")


if __name__ == "__main__":
    main()
