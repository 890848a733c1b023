"""Time the test suite as `make test` runs it, and append the run to results/suite.jsonl.

    python -m tools.bench_suite --label after                       # this checkout
    python -m tools.bench_suite --label before --checkout ../old    # another checkout, with this venv's Python

Time one suite at a time, on a machine doing nothing else: two runs that share the cores slow each
other far more than twice. A change's cost is the pair (before, after) measured back to back on the
same machine; docs/development.md's table is generated from the records (make tables).
"""
import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

import records

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = re.compile(r"(?P<passed>\d+) passed(?:, (?P<skipped>\d+) skipped)?.* in (?P<seconds>[\d.]+)s")


def time_suite(checkout: Path, workers: str = "auto") -> dict:
    """Run pytest in `checkout` as make test does (-n workers) and return {"checkout": its commit,
    "passed", "skipped", "pytest seconds" (pytest's own count), "wall seconds" (the whole process),
    "workers"}; SystemExit naming the failures if the suite does not pass."""
    began = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "pytest", "-n", workers, "-q", "-p", "no:cacheprovider"], cwd=checkout,
                         capture_output=True, text=True)
    wall = time.perf_counter() - began
    summary = SUMMARY.search(run.stdout.strip().splitlines()[-1] if run.stdout.strip() else "")
    if run.returncode != 0 or summary is None:
        raise SystemExit(f"error: the suite in {checkout} did not pass (exit {run.returncode}):\n{run.stdout[-2000:]}")
    return {"checkout": records.commit(checkout), "passed": int(summary["passed"]), "skipped": int(summary["skipped"] or 0),
            "pytest seconds": float(summary["seconds"]), "wall seconds": round(wall, 2), "workers": workers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--label", required=True, help="what this run stands for in the pair, e.g. before or after")
    parser.add_argument("--checkout", type=Path, default=ROOT, help="the checkout whose suite runs (default this one)")
    parser.add_argument("--workers", default="auto", help="pytest-xdist workers, as make test's TEST_WORKERS")
    args = parser.parse_args()
    row = {"label": args.label} | time_suite(args.checkout.resolve(), args.workers)
    records.append("suite", [row], "python -m tools.bench_suite " + " ".join(sys.argv[1:]))
    print(f"{row['label']}: {row['passed']} passed, {row['skipped']} skipped in {row['pytest seconds']:.2f} s "
          f"(wall {row['wall seconds']:.2f} s), commit {row['checkout'][:12]}")


if __name__ == "__main__":
    main()
