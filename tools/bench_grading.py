"""Time and memory of grading the reference on one core, as a grading platform would run it, with
the submission in namespaces and with the sandbox user alone, and the time of each grading after
the first in a batch.

    python -m tools.bench_grading [--repeats 3] [--batch 5]          # or: make bench-grading

Runs `python -m tools.grade` on this copy's reference pinned to one core (the first this process may
use), while this process samples, every 20 ms, the memory of the grader's whole process tree (the
grade command, tools/graders.py, the graded tests' pytest and the submission's process). It prints
the wall time and the peak of the summed resident memory (RSS, which counts torch's shared libraries
once per process) and of the summed proportional memory (PSS, which splits shared pages between
processes). Each run is a pair, one grading in each isolation back to back (the order alternating
from run to run), and the line ends with the pair's ratio of times; the isolation a grading had is
read from its results file. Without namespaces on this machine, both gradings of a pair are the
same. Then `python -m tools.grade --all` on one copy of the reference and on `--batch` copies,
on the same core: the difference, divided by the copies added, is what each grading after the first
costs (tools/graders.py forks it with torch and pytest imported).
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tools.autograde import GRADED_FILES, ROOT

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


def on_core(core: int, arguments: list[str], namespaces: bool = True) -> subprocess.Popen:
    """`python -m tools.grade ARGUMENTS`, pinned to `core`, its output discarded; `namespaces=False`
    grades with AUTOGRADER_NAMESPACES=0."""
    return subprocess.Popen([sys.executable, "-m", "tools.grade", *arguments], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, preexec_fn=lambda: os.sched_setaffinity(0, {core}),
                            env={**os.environ, "AUTOGRADER_NAMESPACES": "1" if namespaces else "0"})


def grade_once(core: int, namespaces: bool = True) -> tuple[float, int, int, str, str]:
    """Wall seconds, peak RSS and PSS, the score, and the isolation the results file reports."""
    with tempfile.TemporaryDirectory() as folder:
        results = Path(folder) / "results.json"
        start = time.perf_counter()
        process = on_core(core, [str(ROOT), "--results", str(results)], namespaces)
        peak_rss = peak_pss = 0
        while process.poll() is None:
            rss, pss = tree_memory(process.pid)
            peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
            time.sleep(0.02)
        seconds = time.perf_counter() - start
        report = json.loads(results.read_text())
    score = f"{report['score']}/{sum(test['max_score'] for test in report['tests'])}"
    return seconds, peak_rss, peak_pss, score, report.get("extra_data", {}).get("isolation", "?")


def grade_all_seconds(core: int, copies: int) -> float:
    """Wall time of `python -m tools.grade --all` on `copies` copies of the reference's graded files."""
    with tempfile.TemporaryDirectory() as folder:
        for copy in range(copies):
            (Path(folder) / f"reference_{copy}").mkdir()
            for name in GRADED_FILES:
                shutil.copy(ROOT / name, Path(folder) / f"reference_{copy}" / name)
        start = time.perf_counter()
        process = on_core(core, ["--all", folder, "--csv", str(Path(folder) / "grades.csv")])
        if process.wait() != 0:
            raise SystemExit(f"python -m tools.grade --all failed (exit code {process.returncode})")
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=5, help="copies of the reference graded by one --all command")
    args = parser.parse_args()
    if args.batch < 2:
        parser.error("--batch needs at least 2 copies (the first grading is timed apart from the rest)")
    core = min(os.sched_getaffinity(0))
    print(f"grading the reference on core {core} ({args.repeats} pairs: namespaces, and the sandbox user alone)")
    for run in range(args.repeats):
        seconds = {}
        for namespaces in ((True, False) if run % 2 == 0 else (False, True)):
            seconds[namespaces], rss, pss, score, isolation = grade_once(core, namespaces)
            print(f"run {run + 1}, {isolation}: {seconds[namespaces]:.1f} s, score {score}, peak memory of the grader's "
                  f"processes {rss / MB:.0f} MB RSS, {pss / MB:.0f} MB PSS", flush=True)
        print(f"run {run + 1}: namespaces / without = {seconds[True] / seconds[False]:.2f}", flush=True)
    one, batch = grade_all_seconds(core, 1), grade_all_seconds(core, args.batch)
    print(f"--all on 1 copy of the reference: {one:.1f} s; on {args.batch} copies: {batch:.1f} s, so "
          f"{(batch - one) / (args.batch - 1):.1f} s for each grading after the first")


if __name__ == "__main__":
    main()
