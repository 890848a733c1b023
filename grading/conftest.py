"""Autograder plumbing: the graded copy's process, points and visibility per test, and a results file.

    python -m pytest grading --impl DIR [--results results.json]

This process decides every verdict and writes the results; it never imports a submitted file. The
`student` fixture is the submission's own process (grading/sandbox.py), which imports a copy of
DIR's ddpm.py and utils.py beside this copy's untouched gmm.py and answers probes
(grading/probes.py) with plain data. Each test compares those answers with expected values the
submission never sees. One broken file fails only the tests that use it.

Each test carries @pytest.mark.points(N, visibility=...) (a Gradescope visibility); the run writes a
Gradescope-compatible results file (tests[] with name, score, max_score, status, visibility,
output; top-level score, execution_time and extra_data.isolation, the key of sandbox.ISOLATIONS that
kept the submission in).
"""
import json
import sys
import time
from pathlib import Path

import pytest
import torch
from sandbox import Limits, LimitExceeded, Submission, SubmissionError

REFERENCE_DIR = Path(__file__).resolve().parents[1]
GRADED_MODULES = ("ddpm", "utils")
sys.path.append(str(REFERENCE_DIR))  # the untouched gmm.py for the grader's own use, never a submitted file


def pytest_addoption(parser):
    parser.addoption("--impl", default=str(REFERENCE_DIR), help="directory of the copy to grade")
    parser.addoption("--results", default=None, help="where to write the Gradescope results JSON (a new file)")


def pytest_configure(config):
    config.addinivalue_line("markers", "points(n, visibility): points a test is worth and who sees it")
    impl = Path(config.getoption("--impl")).resolve()
    if not impl.is_dir():
        raise pytest.UsageError(f"--impl {impl} is not a directory")
    torch.set_num_threads(1)  # grading platforms give half a CPU; these checks are tiny
    config.grading_started = time.time()
    config.grading_results = []
    # now, before a test module loads its expected values: the submission's processes are forked from here
    files = {f"{name}.py": impl / f"{name}.py" for name in GRADED_MODULES}
    config.submission = Submission({**files, "gmm.py": REFERENCE_DIR / "gmm.py"}, Limits.from_environment())
    print(config.submission.isolation)


def pytest_unconfigure(config):
    if hasattr(config, "submission"):
        config.submission.close()


@pytest.fixture(scope="session")
def student(request):
    """The submission's process: student.run(probe, **inputs) answers with plain data."""
    return request.config.submission


def _output(report) -> str:
    if report.passed:
        return ""
    reported = getattr(report, "grader_message", None)
    if reported is not None:
        return reported
    error = getattr(report, "longrepr", None)
    text = str(error) if error is not None else ""
    lines = [line for line in text.splitlines() if line.startswith("E ")]
    return "\n".join(lines[-15:]) or text[-2000:]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is not None and call.excinfo.errisinstance(NotImplementedError):
        report.grader_message = f"not implemented yet: {call.excinfo.value}".strip()
    elif call.excinfo is not None and call.excinfo.errisinstance((SubmissionError, LimitExceeded)):
        report.grader_message = str(call.excinfo.value)
    if report.when == "call" or (report.when == "setup" and not report.passed):
        marker = item.get_closest_marker("points")
        points = marker.args[0] if marker else 0
        visibility = marker.kwargs.get("visibility", "visible") if marker else "visible"
        item.config.grading_results.append({
            "name": item.nodeid.split("::", 1)[-1], "max_score": points,
            "score": points if report.passed else 0, "status": "passed" if report.passed else "failed",
            "visibility": visibility,
            "output": _output(report)})


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    imported = [name for name in GRADED_MODULES if name in sys.modules]
    if imported:  # the grader's own guarantee: a submitted file never runs in this process
        raise RuntimeError(f"the grader imported {imported}: graded modules run only in the submission's process")
    results = config.grading_results
    score, total = sum(r["score"] for r in results), sum(r["max_score"] for r in results)
    path = config.getoption("--results")
    if path and exitstatus != pytest.ExitCode.INTERRUPTED:  # interrupted: the fallback results stay (tools/autograde.py)
        with open(path, "x") as written:  # a new file: never through one that is there
            json.dump({"score": score, "execution_time": round(time.time() - config.grading_started, 2),
                       "extra_data": {"isolation": config.submission.isolation_kind}, "tests": results}, written, indent=2)
    width = max((len(r["name"]) for r in results), default=10)
    lines = [f"{r['name']:<{width}}  {r['score']:>3}/{r['max_score']:<3} {r['output'].splitlines()[0] if r['output'] else ''}"
             for r in results]
    print("\n\nscore table\n" + "\n".join(lines) + f"\n{'total':<{width}}  {score:>3}/{total}")
