"""Run a benchmark from benchmarks/ by name; its flags pass through.

  python tools/benchmark.py train [--steps=10]     (also: loader, decode, scaling, sharding, ...)

Record what it prints in benchmarks/RESULTS.md with the date, machine and command.
"""

import pathlib
import runpy
import sys

BENCHMARKS = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"


def main():
    names = sorted(p.stem.removeprefix("bench_") for p in BENCHMARKS.glob("bench_*.py"))
    if len(sys.argv) < 2 or sys.argv[1] not in names:
        sys.exit(f"usage: tools/benchmark.py NAME [flags]; NAME is one of {names}")
    script = BENCHMARKS / f"bench_{sys.argv[1]}.py"
    sys.argv = [str(script), *sys.argv[2:]]
    runpy.run_path(str(script), run_name="__main__")


if __name__ == "__main__":
    main()
