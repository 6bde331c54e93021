"""Are seeded ``skmm demo`` results the same on 1 and 2 torch threads?

Runs ``skmm demo`` twice in new processes, with ``SKMM_NUM_THREADS`` (torch's
intra-op threads inside skmm's training and prediction) set to 1 and to 2, and
compares the accuracy of every pipeline. Prints the largest difference; exits 1
if it exceeds ``--tolerance`` (the README's stated 0.03).

Run: ``python benchmarks/check_demo_threads.py [demo options]``, e.g.
``python benchmarks/check_demo_threads.py --n-samples 120 --cv 2 --only
"fusion: early" "concat + logreg"`` for a short check.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile


def run(threads, demo_args):
    env = {**os.environ, "SKMM_NUM_THREADS": str(threads)}
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "skmm", "demo", "--no-progress", "--no-figure"]
        proc = subprocess.run(
            [*cmd, "--no-cache", "--output", out, *demo_args],
            capture_output=True,
            text=True,
            env=env,
        )
    if proc.returncode:
        print(proc.stdout, proc.stderr)
        raise SystemExit(f"skmm demo failed with {threads} thread(s)")
    rows = re.findall(
        r"^(.+?)\s+(?:unimodal|fused|ensemble)\s+([0-9.]+) \+- ([0-9.]+)",
        proc.stdout,
        re.M,
    )
    return {name.strip(): (float(m), float(s)) for name, m, s in rows}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tolerance", type=float, default=0.03)
    args, demo_args = parser.parse_known_args()
    one, two = run(1, demo_args), run(2, demo_args)
    worst = 0.0
    for name in one:
        diff = abs(one[name][0] - two[name][0])
        worst = max(worst, diff)
        print(
            f"{name:<24} 1 thread {one[name][0]:.3f} +- {one[name][1]:.3f}   "
            f"2 threads {two[name][0]:.3f} +- {two[name][1]:.3f}   diff {diff:.3f}"
        )
    print(f"largest difference: {worst:.3f} (tolerance {args.tolerance})")
    sys.exit(0 if worst <= args.tolerance else 1)


if __name__ == "__main__":
    main()
