"""Grade a student submission: copy only the graded files, run the graded tests, write results.

    python -m tools.grade SUBMISSION_DIR [--results results.json]     # or: make grade SUBMISSION=DIR
    python -m tools.grade --mutants                                  # what each plausible bug loses
    python -m tools.grade --attacks                                  # what each cheating attempt gets

The grading itself is tools/autograde.py; --mutants grades every mutant of tools/grading_mutants.py
(about 10 s each) and prints the points each loses and the graded tests that catch it; --attacks
grades every submission of tools/grading_attacks.py and prints its score and what the results say.
"""
import argparse
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


def main() -> None:
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))  # unwind: folders get their modes back
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submission", type=Path, nargs="?")
    parser.add_argument("--results", type=Path, default=Path("results.json"))
    parser.add_argument("--mutants", action="store_true", help="grade every planted bug and print the table")
    parser.add_argument("--attacks", action="store_true", help="grade every cheating attempt and print the table")
    args = parser.parse_args()
    if args.mutants:
        mutant_table()
        return
    if args.attacks:
        attack_table()
        return
    if args.submission is None or not args.submission.is_dir():
        sys.exit(f"error: {args.submission} is not a directory; pass the folder holding the student's {GRADED_FILES}")
    report = grade(args.submission.resolve(), args.results)
    if "output" in report:
        print(report["output"])
    print(f"score {report['score']} written to {args.results}")


if __name__ == "__main__":
    main()
