"""Grading a student submission: copy only the graded files, run the graded tests, write results.
The commands are tools/grade.py (make grade) and, on Gradescope, run_autograder.

Only GRADED_FILES are taken from the submission; the untouched ground truth (gmm.py) comes from
this copy, and nothing else of the submission (no conftest.py, no pytest.ini) is ever seen by
pytest. A fallback results file (score 0) is written first, so a crash still reports. Each test
has a timeout (grading/pytest.ini); the score table is printed at the end.
"""
import ast
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRADED_FILES = ("ddpm.py", "utils.py")
PROVIDED_FILES = ("gmm.py",)


def _refusal(message: str) -> dict:
    """A results file with score 0 and one line that says what is wrong."""
    return {"score": 0, "execution_time": 0, "output": message, "tests": [
        {"name": "submission", "score": 0, "max_score": 0, "status": "failed", "visibility": "visible",
         "output": message}]}


def submission_problems(submission: Path) -> list[str]:
    """What keeps a submission from being graded at all: a graded file missing, or not valid Python."""
    problems = []
    for name in GRADED_FILES:
        path = submission / name
        if not path.is_file():
            problems.append(f"{name} is missing: upload both {' and '.join(GRADED_FILES)} (the files themselves, "
                            "not a folder or a zip of them)")
            continue
        try:
            ast.parse(path.read_bytes(), filename=name)
        except SyntaxError as error:
            problems.append(f"{name} line {error.lineno}: {error.msg}; fix it (python {name} shows the same error) "
                            "and submit again")
        except ValueError as error:  # null bytes: not a text file
            problems.append(f"{name} is not a Python source file ({error}); upload the .py file itself")
    return problems


def grade(submission: Path, results: Path, deselect: tuple[str, ...] = (), quiet: bool = False) -> dict:
    """Grade the submission's GRADED_FILES; writes and returns the Gradescope results. `deselect`
    skips graded tests by node id (the self-checks use it to keep `make test` short); `quiet`
    keeps pytest's report off the terminal."""
    results.write_text(json.dumps(_refusal("the autograder did not finish; contact the course staff")))
    problems = submission_problems(submission)
    if problems:
        report = _refusal("not graded: " + "; ".join(problems))
        results.write_text(json.dumps(report, indent=2))
        return report
    with tempfile.TemporaryDirectory(prefix="graded-") as work:
        work = Path(work)
        for name in GRADED_FILES:
            if (submission / name).is_file():
                shutil.copy(submission / name, work / name)
        for name in PROVIDED_FILES:
            shutil.copy(ROOT / name, work / name)
        subprocess.run([sys.executable, "-m", "pytest", "-c", str(ROOT / "grading" / "pytest.ini"),
                        "--rootdir", str(ROOT / "grading"), str(ROOT / "grading"), f"--impl={work}",
                        # one token each: pytest scans bare paths for conftest.py before it knows these options
                        f"--results={results.resolve()}"] + [f"--deselect={node}" for node in deselect],
                       cwd=work, capture_output=quiet)
    return json.loads(results.read_text())
