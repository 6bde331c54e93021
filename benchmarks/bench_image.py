"""TorchvisionImageEncoder vs a plain torchvision loop on the same PNG files.

Both sides decode the same PNG files with Pillow, apply the same preprocessing
(resize, centre crop, ImageNet normalisation with ``torchvision.transforms.v2``),
run the same seeded resnet18 (head replaced by an identity) in eval mode under
``torch.inference_mode`` with the same batch size and the same number of torch
threads. The ratio is skmm's throughput over the plain loop's (target >= 0.95).
The two sides run interleaved, alternating which goes first (best of ``REPEAT``
each), after a warm-up run that also checks that they give the same features.

Run: ``python benchmarks/bench_image.py`` (under a minute on 2 cores);
``SKMM_BENCH_THREADS=2`` to use 2 torch threads on both sides.
"""

import os
import sys
import tempfile

import numpy as np
import torch
from PIL import Image
from torchvision.models import get_model
from torchvision.transforms import v2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _timing import best_of, report

from skmm.encoders import TorchvisionImageEncoder

N_IMAGES = 32
REPEAT = 5
BATCH_SIZE = 16
#: torch threads for both sides (env SKMM_BENCH_THREADS). One thread by default:
#: on a shared, busy machine multi-threaded timings are dominated by contention.
THREADS = int(os.environ.get("SKMM_BENCH_THREADS", "1"))


def write_images(folder, n, size=(240, 320)):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        # smooth gradients plus noise: compresses like a photo, not like noise
        yy, xx = np.mgrid[0 : size[0], 0 : size[1]]
        base = np.stack([xx * 0.7, yy * 0.9, (xx + yy) * 0.4], axis=-1)
        image = (base + rng.normal(0, 12, base.shape) + rng.integers(0, 80)) % 256
        path = os.path.join(folder, f"img_{i:03d}.png")
        Image.fromarray(image.astype(np.uint8)).save(path)
        paths.append(path)
    return paths


def plain_loop(paths, net, transform, batch_size):
    out = []
    for start in range(0, len(paths), batch_size):
        batch = [
            transform(Image.open(p).convert("RGB"))
            for p in paths[start : start + batch_size]
        ]
        with torch.inference_mode():
            out.append(net(torch.stack(batch)).numpy())
    return np.concatenate(out)


def plain_model(seed):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = get_model("resnet18", weights=None)
    net.fc = torch.nn.Identity()
    return net.eval()


def plain_transform(size):
    return v2.Compose(
        [
            v2.Resize(size, antialias=True),
            v2.CenterCrop(size),
            v2.ToImage(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
        ]
    )


def main():
    torch.set_num_threads(THREADS)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        paths = write_images(folder, N_IMAGES)
        for size in (224, 64):
            enc = TorchvisionImageEncoder(
                "resnet18", size=size, batch_size=BATCH_SIZE, random_state=0
            ).fit(paths[:1])
            net = plain_model(enc.init_seed_)
            transform = plain_transform(size)
            ours = enc.transform(paths)
            theirs = plain_loop(paths, net, transform, BATCH_SIZE)
            assert np.allclose(ours, theirs, rtol=1e-4, atol=1e-4), "outputs differ"
            run_skmm = lambda: enc.transform(paths)  # noqa: E731
            run_raw = lambda: plain_loop(paths, net, transform, BATCH_SIZE)  # noqa: E731
            # Interleave the two sides so that load on a shared machine hits both.
            t_skmm, t_raw = float("inf"), float("inf")
            for k in range(REPEAT):
                if k % 2:
                    t_raw = min(t_raw, best_of(run_raw, repeat=1, warmup=0)[0])
                t_skmm = min(t_skmm, best_of(run_skmm, repeat=1, warmup=0)[0])
                if not k % 2:
                    t_raw = min(t_raw, best_of(run_raw, repeat=1, warmup=0)[0])
            name = f"resnet18 {size}px, batch {BATCH_SIZE}"
            rows.append((name, N_IMAGES, t_skmm, t_raw))
    report(
        f"TorchvisionImageEncoder vs plain torchvision loop ({THREADS} torch threads)",
        rows,
    )


if __name__ == "__main__":
    main()
