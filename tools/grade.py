"""Grade a student submission: copy only the graded files, run the graded tests, write results.

    python -m tools.grade SUBMISSION_DIR [--results results.json]     # or: make grade SUBMISSION=DIR
    python -m tools.grade --all SUBMISSIONS_DIR --csv grades.csv     # every subfolder: one CSV (make grade-all)
    python -m tools.grade --mutants                                  # what each plausible bug loses
    python -m tools.grade --attacks                                  # what each cheating attempt gets

The grading itself is tools/autograde.py. --all grades each subfolder of SUBMISSIONS_DIR (one per
student, named as you like) in turn and writes one CSV: a row per submission with its score, the
points possible, each graded test's points and, for a submission that could not be graded, why;
the CSV is written whole at the end (atomically), the results of each submission beside it in
RESULTS_DIR (default: the CSV's name without .csv). --mutants grades every mutant of tools/grading_mutants.py
(about 10 s each) and prints the points each loses and the graded tests that catch it; --attacks
grades every submission of tools/grading_attacks.py and prints its score and what the results say.
"""
import argparse
import csv
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from tools.autograde import GRADED_FILES, grade


def mutant_table() -> str:
    from tools.grading_mutants import MUTANTS, mutated_submission  # the reference's passages: not in autograder.zip

    lines = [f"{'mutant':<52}{'points lost':>12}  graded tests that catch it"]
    print(lines[0], flush=True)
    for mutant in MUTANTS:
        with tempfile.TemporaryDirectory() as folder:
            report = grade(mutated_submission(mutant, Path(folder)), Path(folder) / "results.json", quiet=True)
        lost = sum(test["max_score"] - test["score"] for test in report["tests"])
        total = sum(test["max_score"] for test in report["tests"])
        caught = [test["name"] for test in report["tests"] if test["score"] < test["max_score"]]
        lines.append(f"{mutant:<52}{f'{lost}/{total}':>12}  {', '.join(caught)}")
        print(lines[-1], flush=True)
    return "\n".join(lines)


def attack_table() -> str:
    from tools.grading_attacks import ATTACKS, attack_submission  # the reference's passages: not in autograder.zip

    lines = [f"{'attack':<76}{'score':>7}  what the results say"]
    print(lines[0], flush=True)
    with tempfile.TemporaryDirectory() as handout:  # the student copy, built by its own command
        subprocess.run([sys.executable, "-m", "tools.make_handout", "--out", handout], check=True, capture_output=True)
        for name in ATTACKS:
            with tempfile.TemporaryDirectory() as folder:
                submission = attack_submission(name, Path(folder) / "submission", Path(handout))
                report = grade(submission, Path(folder) / "results.json", quiet=True)
            total = sum(test["max_score"] for test in report["tests"])
            said = dict.fromkeys(test["output"].splitlines()[0] for test in report["tests"] if test["output"])
            lines.append(f"{name:<76}{str(report['score']) + '/' + str(total):>7}  {' | '.join(list(said)[:2])[:300]}")
            print(lines[-1], flush=True)
    return "\n".join(lines)


def grade_all(submissions: Path, csv_path: Path) -> list[dict]:
    """Grade every subfolder of `submissions`, in name order, into one CSV at csv_path; returns its rows."""
    folders = sorted(path for path in submissions.iterdir() if path.is_dir() and not path.name.startswith("."))
    if not folders:
        raise SystemExit(f"error: {submissions} holds no submission folders (one subfolder per student)")
    results_dir = csv_path.with_suffix("")
    results_dir.mkdir(parents=True, exist_ok=True)
    reports = {folder.name: grade(folder.resolve(), results_dir / f"{folder.name}.json", quiet=True) for folder in folders}
    tests = list(dict.fromkeys(test["name"] for report in reports.values() for test in report["tests"]
                               if test["name"] != "submission"))
    possible = max(sum(test["max_score"] for test in report["tests"]) for report in reports.values())
    rows = []
    for name, report in reports.items():
        scores = {test["name"]: test["score"] for test in report["tests"]}
        refused = "submission" in scores
        rows.append({"submission": name, "score": report["score"], "max_score": possible,
                     "not graded because": report["tests"][0]["output"].splitlines()[0] if refused else "",
                     **{test: ("" if refused else scores.get(test, 0)) for test in tests}})
    partial = csv_path.with_name(csv_path.name + ".tmp")
    with partial.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    partial.replace(csv_path)
    return rows


def main() -> None:
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))  # unwind: folders get their modes back
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submission", type=Path, nargs="?")
    parser.add_argument("--results", type=Path, default=Path("results.json"))
    parser.add_argument("--all", dest="all_in", type=Path, default=None, metavar="SUBMISSIONS_DIR",
                        help="grade every subfolder of this folder into one CSV (--csv)")
    parser.add_argument("--csv", type=Path, default=Path("grades.csv"), help="the CSV --all writes (default grades.csv)")
    parser.add_argument("--mutants", action="store_true", help="grade every planted bug and print the table")
    parser.add_argument("--attacks", action="store_true", help="grade every cheating attempt and print the table")
    args = parser.parse_args()
    if args.mutants:
        mutant_table()
        return
    if args.attacks:
        attack_table()
        return
    if args.all_in is not None:
        if not args.all_in.is_dir():
            sys.exit(f"error: {args.all_in} is not a directory; pass the folder holding one subfolder per submission")
        rows = grade_all(args.all_in, args.csv)
        for row in rows:
            print(f"{row['submission']:<40} {row['score']:>5g}/{row['max_score']:g}  {row['not graded because']}")
        print(f"wrote {args.csv} ({len(rows)} submissions)")
        return
    if args.submission is None or not args.submission.is_dir():
        sys.exit(f"error: {args.submission} is not a directory; pass the folder holding the student's {GRADED_FILES}")
    report = grade(args.submission.resolve(), args.results)
    if "output" in report:
        print(report["output"])
    print(f"score {report['score']} written to {args.results}")


if __name__ == "__main__":
    main()
