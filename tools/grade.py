"""Grade a student submission: copy only the graded files, run the graded tests, write results.

    python -m tools.grade SUBMISSION_DIR [--results results.json]     # or: make grade SUBMISSION=DIR
    python -m tools.grade --all SUBMISSIONS_DIR --csv grades.csv     # every subfolder: one CSV (make grade-all)
    python -m tools.grade --all SUBMISSIONS_DIR --trusted            # the same where no sandbox is available
    python -m tools.grade --mutants                                  # what each plausible bug loses
    python -m tools.grade --attacks                                  # what each cheating attempt gets

The grading itself is tools/autograde.py. --all grades each subfolder of SUBMISSIONS_DIR (one per
student, named as you like) in turn and writes one CSV: a row per submission with its score, the
points possible, each graded test's points and, for a submission that could not be graded, why.
The CSV is written whole after each submission (atomically: an interrupted batch keeps the rows it
graded), the results of each submission beside it in a folder named as the CSV without .csv, which
--all creates (mode 0700) or takes only if it is a folder of this user that nobody else may write.
--all refuses to run where a submission would run as you with nothing around it (no namespaces, not
root): any submission could then read the hidden tests, rewrite the others' results and reach the
network. --trusted grades anyway, for submissions you trust. --mutants grades every mutant of tools/grading_mutants.py
(about 10 s each) and prints the points each loses and the graded tests that catch it; --attacks
grades every submission of tools/grading_attacks.py and prints its score and what the results say.
"""
import argparse
import csv
import io
import os
import signal
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

from tools.autograde import GRADED_FILES, grade, isolation_here, write_new


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
    from tools.grading_attacks import ATTACKS, Listener, Targets, attack_submission, course_copy  # not in autograder.zip

    lines = [f"{'attack':<76}{'score':>7}  what the results say"]
    print(lines[0], flush=True)
    with tempfile.TemporaryDirectory() as handout, tempfile.TemporaryDirectory() as outside:
        subprocess.run([sys.executable, "-m", "tools.make_handout", "--out", handout], check=True, capture_output=True)
        Path(outside).chmod(0o755)
        shared, victim = Path(outside) / "shared", Path(outside) / "victim.txt"
        shared.mkdir()
        shared.chmod(0o1777)  # as /tmp
        victim.write_text("a file the grader may write and the submission may not\n")
        listener = Listener()
        targets = Targets(shared, victim, course_copy(Path(outside) / "course-copy"), listener.port)
        for name, attack in ATTACKS.items():
            with tempfile.TemporaryDirectory() as folder:
                submission = attack_submission(name, Path(folder) / "submission", Path(handout),
                                               targets=targets if attack.aims_outside else None)
                report = grade(submission, Path(folder) / "results.json", quiet=True)
                if attack.aims_outside:  # the next grading writes where the links may be
                    grade(Path(folder), shared / "results.json", quiet=True)
            total = sum(test["max_score"] for test in report["tests"])
            said = list(dict.fromkeys(test["output"].splitlines()[0] for test in report["tests"] if test["output"]))[:2]
            if attack.aims_outside:
                said.insert(0, f"victim {'unchanged' if victim.read_text().startswith('a file the grader') else 'CHANGED'}, "
                            f"{len(listener.received)} bytes received on 127.0.0.1")
            lines.append(f"{name:<76}{str(report['score']) + '/' + str(total):>7}  {' | '.join(said)[:400]}")
            print(lines[-1], flush=True)
        listener.stop()
    return "\n".join(lines)


NO_ISOLATION = """error: no sandbox here ({why}), and you are not root: each submission would run as you,
able to read the hidden tests, rewrite the other submissions' results and the CSV, and reach the network.
Grade where Linux user namespaces are allowed (kernel setting user.max_user_namespaces > 0; on Ubuntu 23.10
and later also kernel.apparmor_restrict_unprivileged_userns = 0), or as root, or, if you trust every
submission, pass --trusted (make grade-all ... TRUSTED=1)."""


def private_folder(folder: Path) -> Path:
    """`folder`, created with mode 0700, or taken as it is if it is a real folder (not a link) of this
    user that nobody else may write; otherwise SystemExit: someone else could have prepared it."""
    try:
        folder.mkdir(mode=0o700)
        return folder
    except FileExistsError:
        pass
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022:
        what = "a link" if stat.S_ISLNK(info.st_mode) else "not a folder" if not stat.S_ISDIR(info.st_mode) \
            else f"owned by uid {info.st_uid}" if info.st_uid != os.geteuid() else "writable by others"
        raise SystemExit(f"error: {folder} is {what}, so someone else could have prepared it for the results; "
                         "remove it or choose another --csv")
    return folder


def csv_rows(reports: dict[str, dict]) -> list[dict]:
    """One row per report: score, the points possible (the most any report offers), why it was not
    graded (empty for a graded one), and each graded test's points (empty where it was not graded)."""
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
    return rows


def csv_text(rows: list[dict]) -> str:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue()


def grade_all(submissions: Path, csv_path: Path, trusted: bool = False) -> list[dict]:
    """Grade every subfolder of `submissions`, in name order, into one CSV at csv_path, rewritten after
    each; returns its rows. Without a sandbox and without root, only `trusted` submissions are graded."""
    folders = sorted(path for path in submissions.iterdir() if path.is_dir() and not path.name.startswith("."))
    if not folders:
        raise SystemExit(f"error: {submissions} holds no submission folders (one subfolder per student)")
    isolation, why = isolation_here()
    if isolation == "none" and not trusted:
        raise SystemExit(NO_ISOLATION.format(why=why))
    results_dir = private_folder(csv_path.with_suffix(""))
    reports = {}
    for folder in folders:
        reports[folder.name] = grade(folder.resolve(), results_dir / f"{folder.name}.json", quiet=True)
        write_new(csv_path, csv_text(csv_rows(reports)))
    return csv_rows(reports)


def main() -> None:
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))  # unwind: folders get their modes back
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submission", type=Path, nargs="?")
    parser.add_argument("--results", type=Path, default=Path("results.json"))
    parser.add_argument("--all", dest="all_in", type=Path, default=None, metavar="SUBMISSIONS_DIR",
                        help="grade every subfolder of this folder into one CSV (--csv)")
    parser.add_argument("--csv", type=Path, default=Path("grades.csv"), help="the CSV --all writes (default grades.csv)")
    parser.add_argument("--trusted", action="store_true",
                        help="--all grades even where a submission would run with nothing around it (no sandbox, not root)")
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
        rows = grade_all(args.all_in, args.csv, trusted=args.trusted)
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
