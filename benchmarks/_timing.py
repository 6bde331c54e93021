"""Shared timing helpers for the benchmark scripts (not part of the package)."""

import statistics
import time

__all__ = ["best_of", "report"]


def best_of(func, repeat=3, warmup=1):
    """Best wall time in seconds of ``func()`` over ``repeat`` runs, after warm-up."""
    for _ in range(warmup):
        func()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def report(title, rows):
    """Print rows ``(name, n_items, seconds_skmm, seconds_raw)`` as a ratio table.

    The ratio is skmm's throughput over the raw library's (higher is better;
    1.0 means parity).
    """
    print(f"\n{title}")
    header = f"{'case':<44} {'items':>7} {'skmm s':>9} {'raw s':>9} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for name, n, t_skmm, t_raw in rows:
        print(f"{name:<44} {n:>7} {t_skmm:>9.3f} {t_raw:>9.3f} {t_raw / t_skmm:>7.2f}x")
