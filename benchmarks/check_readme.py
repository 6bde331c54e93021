"""Check the README's stated times and numbers against a fresh run.

Runs, in a new process each:

1. ``skmm demo`` (the README's first command, default settings) and compares
   its table with the README's "default demo" table: every pipeline listed in
   the README must appear with an accuracy within ``--tolerance`` (the README
   states the tolerance across machines and thread counts), and the wall time
   must not exceed the README's stated time by more than ``--slack``;
2. the "A taste" snippet (extracted from the README's python block): it must
   print its result, within its stated time.

Exit status 1 on any mismatch. Times depend on the machine: run it on a quiet
2-core machine (the README's reference), e.g. ``taskset -c 0,1``.

Run: ``python benchmarks/check_readme.py [--skip-demo] [--skip-taste]``
"""

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def _section(text, title):
    start = text.index(title)
    end = text.find("\n## ", start + len(title))
    return text[start : end if end != -1 else None]


def readme_demo_table(text):
    """``{pipeline: accuracy}`` and the stated wall seconds of the default demo."""
    section = _section(text, "## What the demo shows")
    table = section[section.index("Default run") : section.index("Full comparison")]
    rows = re.findall(r"^\| ([^|]+?) \| (\w+) \| ([0-9.]+) ± [0-9.]+ \|", table, re.M)
    wall = re.search(r"([0-9.]+) (s|min) wall", table)
    seconds = None
    if wall:
        seconds = float(wall.group(1)) * (60 if wall.group(2) == "min" else 1)
    return {name: float(acc) for name, _, acc in rows}, seconds


def readme_taste(text):
    """The "A taste" code and its stated seconds."""
    section = _section(text, "## A taste")
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    seconds = re.search(r"about\s+([0-9]+) s", section)
    return code, (float(seconds.group(1)) if seconds else None)


def run_demo():
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "skmm", "demo", "--no-progress", "--output", out],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        seconds = time.perf_counter() - start
    if proc.returncode:
        print(proc.stdout, proc.stderr)
        raise SystemExit("skmm demo failed")
    rows = re.findall(
        r"^(.+?)\s+(unimodal|fused|ensemble)\s+([0-9.]+) \+- ([0-9.]+)",
        proc.stdout,
        re.M,
    )
    return {name.strip(): float(acc) for name, _, acc, _ in rows}, seconds, proc.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tolerance", type=float, default=0.03)
    parser.add_argument("--slack", type=float, default=1.25)
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--skip-taste", action="store_true")
    args = parser.parse_args()
    text = README.read_text()
    ok = True

    if not args.skip_demo:
        stated, stated_s = readme_demo_table(text)
        measured, seconds, stdout = run_demo()
        print(stdout)
        print(f"demo: {seconds:.0f} s wall (README: {stated_s} s)")
        if not stated:
            print("  MISMATCH: no demo table found in the README")
            ok = False
        if stated_s is None or seconds > stated_s * args.slack:
            print("  MISMATCH: the demo's time")
            ok = False
        for name, acc in stated.items():
            got = measured.get(name)
            flag = got is not None and abs(got - acc) <= args.tolerance
            verdict = "ok" if flag else "MISMATCH"
            print(f"  {name:<24} README {acc:.3f}  run {got}  {verdict}")
            ok &= flag

    if not args.skip_taste:
        code, stated_s = readme_taste(text)
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT
        )
        seconds = time.perf_counter() - start
        print(f"A taste: {seconds:.0f} s (README: about {stated_s} s)")
        print("  prints:", proc.stdout.strip() or "(nothing)")
        if proc.returncode or not proc.stdout.strip():
            print(proc.stderr[-2000:])
            ok = False
        if stated_s is None or seconds > stated_s * args.slack:
            print("  MISMATCH: the snippet's time")
            ok = False

    print("README matches the run" if ok else "README DOES NOT match the run")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
