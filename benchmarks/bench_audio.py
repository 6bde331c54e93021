"""Benchmark: MFCCEncoder vs a plain soundfile + librosa loop.

Both sides do the same work on the same few hundred short WAV files (16 kHz,
0.25-1 s, in a temporary directory): read the file, compute 20 MFCCs over 64 mel
bands (n_fft=1024, hop 512) and pool mean + std over frames. Targets: skmm at
least 0.9x the plain loop's throughput with one process, and faster than it with
``n_jobs=2``. The baseline runs with a single-threaded BLAS (its fastest setting
here); the first row shows the plain loop with the default BLAS threads.

Run: ``python benchmarks/bench_audio.py`` (about a minute on 2 cores).
"""

import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _timing import best_of, report

N_FILES = 300
SR = 16000
PARAMS = {"n_mfcc": 20, "n_mels": 64, "n_fft": 1024, "hop_length": 512}


def plain_loop(paths):
    import librosa
    import soundfile

    rows = []
    for path in paths:
        y, sr = soundfile.read(path, dtype="float32")
        mfcc = librosa.feature.mfcc(y=y, sr=sr, **PARAMS)
        rows.append(np.concatenate([mfcc.mean(axis=1), mfcc.std(axis=1)]))
    return np.asarray(rows, dtype=np.float32)


def bench(paths, title):
    from threadpoolctl import threadpool_limits

    from skmm.encoders import MFCCEncoder

    reference = plain_loop(paths)
    # Baseline: the plain loop with single-threaded BLAS (as skmm runs it), which
    # is its fastest configuration; a multi-threaded BLAS on the tiny mel
    # projections mostly synchronises threads.
    with threadpool_limits(limits=1, user_api="blas"):
        t_raw, _ = best_of(lambda: plain_loop(paths), repeat=3)
    t_raw_default, _ = best_of(lambda: plain_loop(paths), repeat=1, warmup=0)
    rows = [("(plain loop, default BLAS threads)", len(paths), t_raw_default, t_raw)]
    default = MFCCEncoder._parallel_prefer
    try:
        for n_jobs, prefer in [(None, default), (2, default), (2, "processes")]:
            if n_jobs and prefer == "processes" and default == "processes":
                continue
            MFCCEncoder._parallel_prefer = prefer
            enc = MFCCEncoder(sr=SR, n_jobs=n_jobs, **PARAMS).fit(paths[:1])
            np.testing.assert_allclose(
                enc.transform(paths), reference, rtol=1e-4, atol=1e-3
            )
            t_skmm, _ = best_of(lambda enc=enc: enc.transform(paths), repeat=3)
            label = f"MFCCEncoder n_jobs={n_jobs or 1}"
            if n_jobs:
                label += f" ({prefer})"
            rows.append((label, len(paths), t_skmm, t_raw))
    finally:
        MFCCEncoder._parallel_prefer = default
    report(title, rows)


def main():
    from skmm.utils._testing import make_test_wavs

    with tempfile.TemporaryDirectory() as tmp:
        short, _ = make_test_wavs(
            os.path.join(tmp, "short"), N_FILES, sr=SR, duration=(0.25, 1.0)
        )
        bench(short, f"MFCC mean/std, {N_FILES} WAV files of 0.25-1 s")
        long, _ = make_test_wavs(os.path.join(tmp, "long"), 40, sr=SR, duration=4.0)
        bench(long, "MFCC mean/std, 40 WAV files of 4 s")


if __name__ == "__main__":
    main()
