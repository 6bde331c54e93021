"""Test-session settings shared by the test suite and the doctests.

Set before anything imports transformers or torch: tests run offline (tiny models
are built on the fly; nothing is downloaded) and with one torch thread per
process, which keeps the tiny test networks fast and reproducible on small CI
machines.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("SKMM_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault(
    "NUMBA_CACHE_DIR", os.path.join(os.environ.get("TMPDIR", "/tmp"), "skmm-numba")
)
