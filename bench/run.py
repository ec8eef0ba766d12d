"""Run every benchmark under bench/ (``make bench``; not part of CI).

Each ``bench/*_bench.py`` is a script that prints its figures and exits non-zero
when a target is missed. This runs them one after the other, each in its own
process, with the same ``--scale`` (1.0 = the sizes the issues name; smaller
for a quick look), and prints a summary.

    .venv/bin/python bench/run.py                  # everything at full scale
    .venv/bin/python bench/run.py --scale 0.1      # a quick pass
    .venv/bin/python bench/run.py deadline         # only benchmarks whose name contains "deadline"

``BENCH_SCALE`` in the environment sets the default scale (``make bench BENCH_SCALE=0.1``
passes through make's environment).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=float(os.environ.get("BENCH_SCALE", "1.0")),
                        help="size factor for every benchmark (default 1.0, or BENCH_SCALE)")
    parser.add_argument("only", nargs="*", help="run only benchmarks whose file name contains one of these")
    args = parser.parse_args()
    if args.scale <= 0:
        parser.error("--scale must be positive")
    scripts = sorted(HERE.glob("*_bench.py"))
    if args.only:
        scripts = [s for s in scripts if any(word in s.name for word in args.only)]
    if not scripts:
        print("no benchmark found", file=sys.stderr)
        return 1
    results = []
    for script in scripts:
        print(f"\n=== {script.name} (scale {args.scale:g}) ===", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, str(script), "--scale", str(args.scale)], cwd=HERE.parent)
        results.append((script.name, code, time.monotonic() - started))
    print("\n=== summary ===")
    for name, code, seconds in results:
        print(f"{'ok  ' if code == 0 else 'FAIL'} {name:<32} {seconds:7.1f} s" + ("" if code == 0 else f"  (exit {code})"))
    return 0 if all(code == 0 for _, code, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
