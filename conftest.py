"""Test-session settings shared by the test suite and the doctests.

Set before anything imports transformers or torch: tests run offline (tiny models
are built on the fly; nothing is downloaded) and with one thread per process,
which keeps the tiny test networks fast and reproducible on small CI machines.
"""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("SKMM_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault(
    "NUMBA_CACHE_DIR", os.path.join(os.environ.get("TMPDIR", "/tmp"), "skmm-numba")
)


@pytest.fixture(autouse=True, scope="session")
def _limit_threads():
    """The one thread-limiting fixture: one torch and one BLAS/OpenMP thread.

    Tiny test networks and matrices gain nothing from several threads, and on a
    busy shared CI machine extra threads only add barrier waits (seconds per
    forward pass). Results do not depend on it. Tests that exercise ``n_jobs``
    still get their joblib workers.
    """
    from threadpoolctl import threadpool_limits

    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        torch = None
    previous = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    if torch is not None:
        torch.set_num_threads(previous)
