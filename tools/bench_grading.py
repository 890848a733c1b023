"""Time and memory of grading the reference on one core, as a grading platform would run it.

    python -m tools.bench_grading [--repeats 3]          # or: make bench-grading

Runs `python -m tools.grade` on this copy's reference pinned to one core (the first this process may
use), while this process samples, every 20 ms, the memory of the grader's whole process tree (the
grade command, the graded tests' pytest and the submission's process). It prints the wall time
and the peak of the summed resident memory (RSS, which counts torch's shared libraries once per
process) and of the summed proportional memory (PSS, which splits shared pages between processes).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MB = 2**20


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it, from the parent ids in /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, frontier = [], [pid]
    while frontier:
        tree.append(current := frontier.pop())
        frontier.extend(children.get(current, []))
    return tree


def tree_memory(pid: int) -> tuple[int, int]:
    """Summed (RSS, PSS) in bytes of `pid` and its descendants, from /proc/PID/smaps_rollup."""
    rss = pss = 0
    for member in descendants(pid):
        try:
            sizes = dict(re.findall(r"^(Rss|Pss):\s+(\d+) kB", Path(f"/proc/{member}/smaps_rollup").read_text(), re.M))
        except OSError:  # ended meanwhile
            continue
        rss += int(sizes.get("Rss", 0)) * 1024
        pss += int(sizes.get("Pss", 0)) * 1024
    return rss, pss


def grade_once(core: int) -> tuple[float, int, int, str]:
    with tempfile.TemporaryDirectory() as folder:
        results = Path(folder) / "results.json"
        start = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "tools.grade", str(ROOT), "--results", str(results)],
                                   cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   preexec_fn=lambda: os.sched_setaffinity(0, {core}))
        peak_rss = peak_pss = 0
        while process.poll() is None:
            rss, pss = tree_memory(process.pid)
            peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
            time.sleep(0.02)
        seconds = time.perf_counter() - start
        report = json.loads(results.read_text())
    score = f"{report['score']}/{sum(test['max_score'] for test in report['tests'])}"
    return seconds, peak_rss, peak_pss, score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    core = min(os.sched_getaffinity(0))
    print(f"grading the reference on core {core} ({args.repeats} runs)")
    for run in range(args.repeats):
        seconds, rss, pss, score = grade_once(core)
        print(f"run {run + 1}: {seconds:.1f} s, score {score}, peak memory of the grader's processes "
              f"{rss / MB:.0f} MB RSS, {pss / MB:.0f} MB PSS", flush=True)


if __name__ == "__main__":
    main()
