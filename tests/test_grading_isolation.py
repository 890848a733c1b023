"""What each isolation keeps out, measured: every attack of tools/grading_attacks.py on what lies
outside the submission's own process, graded through autograder.zip in each setting of
ISOLATION_SETTINGS, is kept out, or gets through, exactly as KEPT_OUT says (docs/instructors.md
shows that table: tests/test_docs.py checks it is the same).

A setting "not root" runs the grading as the user of this suite when it is not root, else as an
account without root (tests/gradescope.py); its autograder files are that user's own, as on an
instructor's laptop. A setting "namespaces" is skipped where the kernel refuses them.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import autograder_lock
from tests.gradescope import Account, fingerprint, run_autograder, unpack_autograder, unprivileged_account
from tools.grading_attacks import ATTACKS, ISOLATION_SETTINGS, KEPT_OUT, Listener, Targets, attack_submission, course_copy
from tools.student_copy import make_handout

sys.path.append(str(Path(__file__).resolve().parents[1] / "grading"))
import namespaces  # noqa: E402
from sandbox import kill_all_of  # noqa: E402

pytestmark = pytest.mark.usefixtures("autograder_turn")

ISOLATION_OF = dict(zip(ISOLATION_SETTINGS, ("namespaces", "namespaces", "user", "none")))
"""The isolation each setting's results file must report (extra_data.isolation)."""


def world_readable_folder(prefix: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    return folder


@pytest.fixture(scope="module")
def handout() -> Path:
    folder = world_readable_folder("handout-")
    make_handout(folder / "handout")
    yield folder / "handout"
    shutil.rmtree(folder)


@pytest.fixture(scope="module")
def account() -> Account | None:
    """Whom a "not root" setting grades as; None where there is nobody (skipped). Found while no
    grading as root has closed this copy's folder, which may hold the interpreter's packages."""
    with autograder_lock():
        return unprivileged_account()


def as_grader(command: list[str], cwd: Path, account: Account | None, environment: dict) -> subprocess.CompletedProcess:
    """The grading command `command` (python -m ...) run as the setting's grader."""
    python = account.python if account else sys.executable
    return subprocess.run([python, *command], cwd=cwd, env={**os.environ, **environment}, capture_output=True, text=True,
                          preexec_fn=account.become if account else None, timeout=300)


CASES = [(name, setting) for name in KEPT_OUT for setting in ISOLATION_SETTINGS
         if ATTACKS[name].aims_outside or setting != "root, namespaces"]
"""Every cell of the table, but the attacks on the autograder itself as root with namespaces, which
tests/test_grading_attacks.py grades in that setting with the same checks."""
ONE_GRADED_TEST = "-k test_cosine_betas_T10"
"""Each attack runs as utils.py is imported: one graded test that imports it is enough (PYTEST_ADDOPTS,
which the grader's pytest reads from its environment)."""


def _score_while_rewritten(results: Path) -> float:
    """The score of a results file that a process left running without isolation may be rewriting:
    read again until a whole file parses (a read can land between its truncation and its write)."""
    for _ in range(100):
        try:
            return json.loads(results.read_text())["score"]
        except json.JSONDecodeError:
            time.sleep(0.02)
    raise AssertionError(f"{results} never held a whole results file")


@pytest.mark.parametrize("name, setting", CASES)
def test_each_setting_keeps_out_what_its_table_says(handout, account, name, setting):
    root_setting = setting.startswith("root")
    if root_setting and os.geteuid() != 0:
        pytest.skip("a setting as root needs a suite run as root")
    grader = account if not root_setting and os.geteuid() == 0 else None
    if not root_setting and account is None:
        pytest.skip("no interpreter that an account without root can run")
    wants_namespaces = "no namespaces" not in setting
    if wants_namespaces and namespaces.unavailable_here(as_root=root_setting and os.geteuid() == 0):
        pytest.skip("the kernel refuses namespaces here")
    environment = {"AUTOGRADER_NAMESPACES": "1" if wants_namespaces else "0", "AUTOGRADER_CALL_SECONDS": "5",
                   "PYTEST_ADDOPTS": ONE_GRADED_TEST}

    base = world_readable_folder("isolation-")
    home, shared, victims = base / "home", base / "shared", base / "victims"
    for folder in (home, shared, victims):
        folder.mkdir()
    home.chmod(0o777)
    shared.chmod(0o1777)  # as /tmp: everyone may write, nobody may replace another's entry
    victim = victims / "victim.txt"
    victim.write_text("a file the grader may write and the submission may not\n")
    listener = Listener()
    targets = Targets(shared=shared, victim=victim, copy=course_copy(base / "course-copy"), port=listener.port)
    autograder = unpack_autograder()
    if grader:  # an instructor's own files: the autograder and what it writes
        for path in [autograder, *autograder.rglob("*"), victims, victim]:
            os.chown(path, grader.uid, grader.gid)
    environment["HOME"] = str(home)
    try:
        source_before = fingerprint(autograder / "source")
        submission = attack_submission(name, base / "submission", handout, autograder / "source", targets)
        report = run_autograder(autograder, submission, account=grader, **environment)
        assert report["extra_data"]["isolation"] == ISOLATION_OF[setting]
        forging = name == "results file written directly, again and again from a background process"
        assert report["score"] == 0 or forging and setting not in KEPT_OUT[name], "every attack is on the handout"
        outputs = " ".join(test["output"] for test in report["tests"])
        if name == "links planted at the grader's next output paths":
            planted = "PLANTED results.json" in outputs
            assert planted or "COULD NOT PLANT results.json" in outputs, outputs[:500]
            refused = base / "refused"  # the next gradings: a folder that cannot be graded, alone and as a batch
            (refused / "batch" / "student").mkdir(parents=True)
            single = as_grader(["-m", "tools.grade", str(refused), "--results", str(shared / "results.json")],
                               autograder / "source", grader, environment)
            batch = as_grader(["-m", "tools.grade", "--all", str(refused / "batch"), "--csv", str(shared / "grades.csv"),
                               "--trusted"], autograder / "source", grader, environment)
            assert single.returncode == 0, single.stderr[-2000:]
            assert not (shared / "results.json").is_symlink() and "not graded" in (shared / "results.json").read_text()
            if planted:  # the batch refuses a results folder that is a link
                assert batch.returncode != 0 and "is a link" in batch.stderr, batch.stderr[-2000:]
            else:
                assert batch.returncode == 0 and (shared / "grades.csv").read_text().startswith("submission,score")
            kept_out = victim.read_text().startswith("a file the grader") and sorted(os.listdir(victims)) == ["victim.txt"]
        elif name == "a world-readable copy of the course repository read":
            assert "READ " in outputs or "DENIED " in outputs, outputs[:500]
            kept_out = "READ " not in outputs
        elif name == "data sent to a port on 127.0.0.1":
            assert f"127.0.0.1:{listener.port}" in outputs, outputs[:500]
            kept_out = listener.stop() == b""
        elif name == "the grader's processes read in /proc":
            assert "SAW " in outputs or "NO GRADER PROCESS" in outputs, outputs[:500]
            kept_out = "SAW " not in outputs
        elif name == "hidden tests, fixtures and reference read into the output":
            kept_out = "READ " not in outputs
        elif name == "results file written directly, again and again from a background process":
            time.sleep(1.0)  # what the background process writes after the grader finished
            kept_out = _score_while_rewritten(autograder / "results" / "results.json") == 0
        else:
            kept_out = fingerprint(autograder / "source") == source_before
        assert kept_out == (setting in KEPT_OUT[name]), f"{name}, {setting}: {'kept out' if kept_out else 'got through'}"
    finally:
        listener.stop()
        if grader:
            kill_all_of(grader.uid)  # what an attack without isolation may leave running
        shutil.rmtree(autograder.parent, ignore_errors=True)
        shutil.rmtree(base, ignore_errors=True)
