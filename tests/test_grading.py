"""Self-checks of the autograder: the reference scores full points, the handout zero, mutants lose points."""
import csv
import io
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
from tools import autograde
from tools.autograde import GRADED_FILES, grade
from tools.bench_grading import descendants
from tools.make_fixtures import FIXTURES, PUBLIC_FIXTURES, compute, public_subset
from tools.grading_attacks import attack_submission
from tools.grading_mutants import END_TO_END, MUTANTS, mutated_submission
from tools.check_docs import graded_points
from tools import grade as grade_module
from tools import graders
from tools.grade import grade_all
from tools.student_copy import make_handout
from tests.gradescope import run_autograder, unpack_autograder

sys.path.append(str(ROOT / "grading"))  # the grader's modules import each other by their plain names
from sandbox import sandbox_user  # noqa: E402

# gradings as root share the sandbox user (one checks that none of its processes outlives it): they take turns
pytestmark = pytest.mark.usefixtures("autograder_turn")


def scores(report: dict) -> dict:
    return {test["name"]: (test["score"], test["max_score"], test["output"]) for test in report["tests"]}


def test_fixtures_match_the_reference():
    stored = torch.load(FIXTURES, weights_only=True)
    fresh = compute()

    def same(a, b, where):
        if isinstance(a, dict):
            assert a.keys() == b.keys(), where
            for key in a:
                same(a[key], b[key], f"{where}.{key}")
        else:
            # float rounding differs with the thread count and the CPU; a changed reference moves far more
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=f"{where} drifted: run make fixtures")

    same(fresh, stored, "expected")
    same(public_subset(fresh), torch.load(PUBLIC_FIXTURES, weights_only=True), "expected_public")


def test_a_folder_of_submissions_is_graded_into_one_csv(tmp_path):
    """`make grade-all`: the reference scores full points (every test passed, visible and hidden
    ones, though it brings a conftest.py and a pytest.ini of its own that would stop every test), the
    handout zero with every test saying "not implemented yet", a planted bug loses the tests named
    for it, and a folder missing a file gets 0 and the reason; one CSV row each."""
    submissions = tmp_path / "submissions"
    for name in ("reference", "handout", "sign_bug", "incomplete"):
        (submissions / name).mkdir(parents=True)
    make_handout(tmp_path / "handout")
    for name in GRADED_FILES:
        shutil.copy(ROOT / name, submissions / "reference" / name)
        shutil.copy(tmp_path / "handout" / name, submissions / "handout" / name)
    (submissions / "reference" / "conftest.py").write_text(
        "import pytest\n@pytest.fixture\ndef student():\n    raise SystemExit(1)\n")
    (submissions / "reference" / "pytest.ini").write_text("[pytest]\naddopts = --collect-only\n")
    mutated_submission("guidance sign flipped", submissions / "sign_bug")
    shutil.copy(ROOT / "utils.py", submissions / "incomplete" / "utils.py")
    returned = grade_all(submissions, tmp_path / "grades.csv")
    with (tmp_path / "grades.csv").open(newline="") as written:
        rows = {row["submission"]: row for row in csv.DictReader(written)}
    assert list(rows) == ["handout", "incomplete", "reference", "sign_bug"] and len(returned) == 4
    reference = json.loads((tmp_path / "grades" / "reference.json").read_text())
    total = sum(test["max_score"] for test in reference["tests"])
    assert reference["score"] == total >= 40 and all(t["status"] == "passed" for t in reference["tests"])
    assert total == sum(graded_points().values()), "the points the instructors' guide is checked against"
    assert {t["visibility"] for t in reference["tests"]} == {"visible", "hidden"}
    assert reference["execution_time"] > 0
    assert (float(rows["reference"]["score"]), float(rows["reference"]["max_score"])) == (total, total)
    handout = json.loads((tmp_path / "grades" / "handout.json").read_text())
    for test in handout["tests"]:
        if test["max_score"] > 0:
            assert test["status"] == "failed" and test["output"].startswith("not implemented yet: "), test
        else:
            assert test["status"] == "passed", "only a 0-point environment check may pass on the handout"
    assert float(rows["handout"]["score"]) == 0
    bug = {test["name"]: test for test in json.loads((tmp_path / "grades" / "sign_bug.json").read_text())["tests"]}
    assert float(rows["sign_bug"]["score"]) == total - sum(test["max_score"] for test in bug.values() if test["score"] == 0) < total
    for name in MUTANTS["guidance sign flipped"][3]:
        assert bug[name]["score"] == 0 and float(rows["sign_bug"][name]) == 0 and float(rows["reference"][name]) > 0
    assert float(rows["incomplete"]["score"]) == 0 and rows["incomplete"]["not graded because"].startswith("not graded: ddpm.py is missing")


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_mutant_loses_points(tmp_path, mutant):
    """Each plausible student bug loses points in the graded tests named for it (the slow end-to-end
    test is left out here; `python -m tools.grade --mutants` runs everything and prints the table)."""
    submission = mutated_submission(mutant, tmp_path)
    report = grade(submission, tmp_path / "results.json", deselect=(END_TO_END,))
    by_name = scores(report)
    assert report["score"] < sum(t["max_score"] for t in report["tests"])
    for name in MUTANTS[mutant][3]:
        score, max_score, output = by_name[name]
        assert score == 0 and max_score > 0 and output, f"{mutant}: {name} should catch it"


@pytest.fixture
def autograder_root():
    root = unpack_autograder()
    yield root
    shutil.rmtree(root.parent)


def test_autograder_zip_contents(autograder_root):
    import zipfile

    with zipfile.ZipFile(autograder_root.parent / "autograder.zip") as zipped:
        names = set(zipped.namelist())
        modes = {info.filename: info.external_attr >> 16 for info in zipped.infolist()}
    assert {"setup.sh", "run_autograder", "grading/test_public.py", "grading/test_hidden.py",
            "grading/fixtures/expected.pt", "grading/sandbox.py", "grading/worker.py"} <= names
    assert not names & {"utils.py", "ddpm.py", "tools/make_fixtures.py", "tools/make_handout.py", "tools/student_copy.py",
                        "tools/grading_mutants.py",
                        "tools/grading_attacks.py"}, "no reference solution"
    assert modes["run_autograder"] & stat.S_IXUSR and modes["setup.sh"] & stat.S_IXUSR
    setup = (autograder_root / "source" / "setup.sh").read_text()
    assert "download.pytorch.org/whl/cpu" in setup and "-m venv" in setup and "pip3 install" not in setup, \
        "CPU-only torch, into a virtual environment of its own (the system Python refuses pip)"
    assert "grading/sandbox.py\" --create-user" in setup, "setup.sh creates the user submissions run as"
    for script in ("setup.sh", "run_autograder"):
        assert subprocess.run(["bash", "-n", str(autograder_root / "source" / script)]).returncode == 0, f"{script} parses"


def test_autograder_zip_runs_as_gradescope_runs_it(tmp_path, autograder_root):
    root = autograder_root
    reference = {name: (ROOT / name).read_text() for name in GRADED_FILES}
    report = run_autograder(root, reference)
    assert report["score"] == sum(t["max_score"] for t in report["tests"]) >= 50, "the reference scores full marks"

    make_handout(tmp_path / "handout")
    report = run_autograder(root, {name: (tmp_path / "handout" / name).read_text() for name in GRADED_FILES})
    assert report["score"] == 0
    graded = [t for t in report["tests"] if t["max_score"] > 0]
    assert graded and all(t["output"].startswith("not implemented yet: ") for t in graded), "the handout: zero, every test says why"

    broken = {**reference, "utils.py": reference["utils.py"].replace("def q_sample(", "def q_sample(:", 1)}
    report = run_autograder(root, broken)
    line = reference["utils.py"][:reference["utils.py"].index("def q_sample(")].count("\n") + 1
    assert report["score"] == 0 and f"utils.py line {line}" in report["output"] and "submit again" in report["output"]

    report = run_autograder(root, {"ddpm.py": reference["ddpm.py"]})
    assert report["score"] == 0 and "utils.py is missing" in report["output"]


def test_each_forked_grader_sees_exactly_its_requests_environment(tmp_path, monkeypatch):
    """tools/graders.py's forks, with pytest replaced by a dump of what the grader sees: the second
    grading has the second request's environment and nothing left from the first (AUTOGRADER_CPU_SECONDS
    was set only there) or from the server's own; each runs in grading/, in a process of its own whose
    pid the server answers first; the server answers its exit code once it has ended (the second
    grader takes 0.3 s and exits 3; the third raises, which exits 1); the server's environment stays
    the one it started with."""
    server = os.getpid()

    def seen(arguments):
        os.write(1, json.dumps({"environment": dict(os.environ), "cwd": os.getcwd(), "pid": os.getpid()}).encode())
        if arguments == ["raise"]:
            raise RuntimeError("the grader broke")
        time.sleep(0.3 * len(arguments))
        return len(arguments) if os.getpid() != server else 1  # run by the server itself: its process ends, failing

    monkeypatch.setattr(graders, "pytest", type("FakePytest", (), {"main": staticmethod(seen)}))
    environments = [{"AUTOGRADER_CPU_SECONDS": "5", "HOME": "/first"}, {"HOME": "/second"}, {"HOME": "/third"}]
    arguments = [[], ["-q", "-x", "-s"], ["raise"]]
    reports = [tmp_path / f"{index}.txt" for index in range(3)]
    for report in reports:
        report.touch()
    requests = [json.dumps({"arguments": argv, "environment": environment, "report": str(report)})
                for argv, environment, report in zip(arguments, environments, reports)]
    before, answers = dict(os.environ), io.StringIO()
    try:
        graders.serve(requests, answers)
    finally:
        if os.getpid() != server:  # a fork that got out of serve ends here, its exit code telling so
            os._exit(70)
    said = [json.loads(line) for line in answers.getvalue().splitlines()]
    assert [list(answer) for answer in said] == [["pid"], ["exit"]] * 3
    assert [answer["exit"] for answer in said[1::2]] == [0, 3, 1]
    for answer, environment, report in zip(said[::2], environments, reports):
        assert json.loads(report.read_text()) == {"environment": environment, "cwd": str(ROOT / "grading"),
                                                  "pid": answer["pid"]}
        assert answer["pid"] != server
    assert dict(os.environ) == before


def test_gradings_share_one_grader_server_and_each_reads_the_callers_environment(tmp_path, monkeypatch):
    """tools/graders.py forks every grader of a process; each grading's limits come from the caller's
    environment at that grading, not from the server's, which it started with. A server that has
    ended is replaced by the next grading. The submission prints 100 kB as utils.py is imported, so
    every test that needs utils.py fails at once on the output limit, which names its size."""
    submission = tmp_path / "printing"
    submission.mkdir()
    shutil.copy(ROOT / "ddpm.py", submission / "ddpm.py")
    (submission / "utils.py").write_text((ROOT / "utils.py").read_text() + "\nprint('x' * 100_000)\n")
    said, servers = {}, []
    for limit in (20_000, 40_000, 30_000):
        monkeypatch.setenv("AUTOGRADER_OUTPUT_BYTES", str(limit))
        report = grade(submission, tmp_path / f"{limit}.json", quiet=True)
        said[limit] = [test["output"] for test in report["tests"] if test["output"]]
        servers.append(autograde._graders.pid)
        if limit == 40_000:
            autograde._graders.kill()
            autograde._graders.wait()
    assert servers[0] == servers[1] != servers[2] and autograde._graders.poll() is None
    for limit, outputs in said.items():
        message = f"the submission printed more than {limit / 2**20:g} MB (the output limit)"
        assert outputs and all(message in output for output in outputs), outputs


def test_an_interrupted_grading_ends_its_grader_and_the_submissions_processes(tmp_path):
    """SIGTERM to `python -m tools.grade` while the submission runs: the command ends within seconds,
    leaves the fallback results, gives this copy's folder its permissions back and no process behind."""
    submission = attack_submission("an endless loop at import", tmp_path / "looping", handout=ROOT)  # the reference's
    results, mode = tmp_path / "results.json", ROOT.stat().st_mode
    command = subprocess.Popen([sys.executable, "-m", "tools.grade", str(submission), "--results", str(results)],
                               cwd=ROOT, env={**os.environ, "AUTOGRADER_CALL_SECONDS": "60"},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):  # the command, tools/graders.py, the grader, its zygote and the submission's worker
        tree = descendants(command.pid)
        if len(tree) >= 5:
            break
        time.sleep(0.05)
    assert len(tree) >= 5, tree
    command.send_signal(signal.SIGTERM)
    assert command.wait(timeout=30) == 128 + signal.SIGTERM
    for _ in range(200):
        alive = [pid for pid in tree if running(pid)]
        if not alive:
            break
        time.sleep(0.05)
    assert not alive, "every process of the grading has ended"
    assert ROOT.stat().st_mode == mode
    assert json.loads(results.read_text())["output"] == "the autograder did not finish; contact the course staff"


def running(pid: int) -> bool:
    """Whether `pid` exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def plant_link(target: Path, at: Path) -> None:
    """A symbolic link at `at` to `target`, made by another user where this suite runs as root (the
    sandbox user, as a submission would), else by this one."""
    if os.geteuid() != 0:
        at.symlink_to(target)
        return
    uid, gid = sandbox_user(create=True)
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            at.symlink_to(target)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert at.is_symlink() and at.lstat().st_uid == uid


@pytest.fixture
def shared_folder():
    """A folder as /tmp is: every user may write it, sticky (nobody may replace another's entry but root)."""
    base = Path(tempfile.mkdtemp(prefix="shared-"))
    base.chmod(0o755)
    (base / "shared").mkdir()
    (base / "shared").chmod(0o1777)
    (base / "victims").mkdir()
    yield base / "shared", base / "victims"
    shutil.rmtree(base)


def test_the_grader_replaces_links_planted_at_its_outputs_and_never_writes_through_them(tmp_path, shared_folder):
    """Links planted (by another user) at the results file, the CSV, its old partial file and the batch's
    results folder: the single grading replaces its link with its own file, the batch refuses the linked
    folder and, once given a folder of its own, replaces the CSV's link; no link's target changes."""
    shared, victims = shared_folder
    victim = victims / "victim.txt"
    victim.write_text("root may write this file; the grader must not\n")
    for name in ("results.json", "grades.csv", "grades.csv.tmp"):
        plant_link(victim, shared / name)
    plant_link(victims, shared / "grades")
    refused = tmp_path / "refused"
    (refused / "student").mkdir(parents=True)

    report = grade(refused, shared / "results.json")
    assert not (shared / "results.json").is_symlink() and json.loads((shared / "results.json").read_text()) == report
    assert stat.S_IMODE((shared / "results.json").stat().st_mode) == 0o600 and report["score"] == 0
    with pytest.raises(SystemExit, match="grades is a link, so someone else could have prepared it"):
        grade_all(refused, shared / "grades.csv")
    rows = grade_all(refused, tmp_path / "elsewhere.csv")  # the same batch, with a results folder of its own
    assert [row["submission"] for row in rows] == ["student"]
    assert (tmp_path / "elsewhere").stat().st_mode & 0o777 == 0o700

    (shared / "grades").unlink()  # the instructor removed the linked folder: the batch makes its own
    grade_all(refused, shared / "grades.csv")
    assert not (shared / "grades.csv").is_symlink() and (shared / "grades.csv").read_text().startswith("submission,")
    assert not (shared / "grades").is_symlink() and (shared / "grades" / "student.json").is_file()
    assert victim.read_text() == "root may write this file; the grader must not\n"
    assert sorted(path.name for path in victims.iterdir()) == ["victim.txt"]
    assert (shared / "grades.csv.tmp").is_symlink(), "a path the grader no longer writes stays as it was"


@pytest.mark.parametrize("what, prepare", [
    ("writable by others", lambda folder: (folder.mkdir(), folder.chmod(0o777))),
    ("not a folder", lambda folder: folder.write_text("")),
])
def test_a_batch_refuses_a_results_folder_someone_else_could_have_prepared(tmp_path, what, prepare):
    refused = tmp_path / "refused"
    (refused / "student").mkdir(parents=True)
    prepare(tmp_path / "grades")
    with pytest.raises(SystemExit, match=f"grades is {what}"):
        grade_all(refused, tmp_path / "grades.csv")
    assert not (tmp_path / "grades.csv").exists()


def test_a_batch_grades_each_submission_folder_in_name_order_into_its_own_results(tmp_path, monkeypatch):
    """Only folders are submissions, hidden ones (.git) left out, graded in name order with their
    results named after them in a folder named as the CSV; an existing folder of this user that
    nobody else may write is taken as it is; a batch with no folder says what it expects."""
    batch = tmp_path / "batch"
    for name in ("carol", "alice", ".git", "bob"):
        (batch / name).mkdir(parents=True)
    (batch / "notes.txt").write_text("not a submission")
    graded = []
    monkeypatch.setattr(grade_module, "grade", lambda folder, results, quiet: graded.append((folder, results)) or
                        _report(("schedule", len(graded), 2)))
    (tmp_path / "grades").mkdir(mode=0o700)
    rows = grade_all(batch, tmp_path / "grades.csv", trusted=True)
    assert graded == [((batch / name).resolve(), tmp_path / "grades" / f"{name}.json") for name in ("alice", "bob", "carol")]
    assert [(row["submission"], row["score"]) for row in rows] == [("alice", 1), ("bob", 2), ("carol", 3)]
    with pytest.raises(SystemExit, match=f"error: {tmp_path / 'empty'} holds no submission folders"):
        (tmp_path / "empty").mkdir()
        grade_all(tmp_path / "empty", tmp_path / "other.csv", trusted=True)


def _report(*tests: tuple[str, float, float]) -> dict:
    return {"score": sum(score for _, score, _ in tests), "tests": [
        {"name": name, "score": score, "max_score": possible, "output": ""} for name, score, possible in tests]}


def test_the_csv_tells_a_zero_from_a_submission_it_could_not_grade_cell_by_cell():
    """What an instructor reads: a graded submission that scored 0 has a 0 in each test's cell and no
    reason; one that could not be graded has empty test cells and the reason's first line; every row
    has the points possible (those of a fully graded report, though a refusal offers none and a
    submission whose test did not run offers fewer); a test that ran for one submission and not for
    another is a column, 0 where it did not run."""
    refusal = {"score": 0, "tests": [{"name": "submission", "score": 0, "max_score": 0,
                                      "output": "not graded: ddpm.py is missing\nput ddpm.py beside utils.py"}]}
    reports = {"partial": _report(("schedule", 2, 2)), "full": _report(("schedule", 2, 2), ("loss", 3, 3)),
               "zero": _report(("schedule", 0, 2), ("loss", 0, 3)), "refused": refusal}
    rows = list(csv.DictReader(io.StringIO(grade_module.csv_text(grade_module.csv_rows(reports)))))
    assert list(rows[0]) == ["submission", "score", "max_score", "not graded because", "schedule", "loss"]
    by_name = {row.pop("submission"): row for row in rows}
    assert by_name == {
        "partial": {"score": "2", "max_score": "5", "not graded because": "", "schedule": "2", "loss": "0"},
        "full": {"score": "5", "max_score": "5", "not graded because": "", "schedule": "2", "loss": "3"},
        "zero": {"score": "0", "max_score": "5", "not graded because": "", "schedule": "0", "loss": "0"},
        "refused": {"score": "0", "max_score": "5", "not graded because": "not graded: ddpm.py is missing",
                    "schedule": "", "loss": ""}}


def test_a_batch_without_isolation_runs_only_trusted_submissions(tmp_path, monkeypatch):
    """No namespaces and not root: `make grade-all` stops before any submission runs, saying what to
    enable; --trusted grades anyway."""
    batch = tmp_path / "batch"
    (batch / "student").mkdir(parents=True)
    monkeypatch.setattr(grade_module, "isolation_here", lambda: ("none", "the kernel refused: Operation not permitted"))
    graded = []
    monkeypatch.setattr(grade_module, "grade", lambda folder, results, quiet: graded.append(folder) or grade(folder, results))
    with pytest.raises(SystemExit) as refusal:
        grade_all(batch, tmp_path / "grades.csv")
    message = str(refusal.value)
    assert "Operation not permitted" in message and "user.max_user_namespaces" in message and "--trusted" in message
    assert graded == [] and not (tmp_path / "grades.csv").exists()
    assert [row["submission"] for row in grade_all(batch, tmp_path / "grades.csv", trusted=True)] == ["student"]
    assert graded == [(batch / "student").resolve()]


def test_an_interrupted_batch_keeps_the_rows_it_graded(tmp_path, monkeypatch):
    batch = tmp_path / "batch"
    for name in ("alice", "bob", "carol"):
        (batch / name).mkdir(parents=True)
    shutil.copy(ROOT / "utils.py", batch / "alice" / "utils.py")  # still not graded: ddpm.py is missing
    graded = []

    def grade_until_bob(folder, results, quiet):
        if folder.name == "bob":
            raise KeyboardInterrupt
        graded.append(folder.name)
        return grade(folder, results, quiet=quiet)

    monkeypatch.setattr(grade_module, "grade", grade_until_bob)
    with pytest.raises(KeyboardInterrupt):
        grade_all(batch, tmp_path / "grades.csv")
    with (tmp_path / "grades.csv").open(newline="") as written:
        rows = list(csv.DictReader(written))
    assert graded == ["alice"] and [row["submission"] for row in rows] == ["alice"]
    assert rows[0]["not graded because"].startswith("not graded: ddpm.py is missing")


# ----- the command: its tables and its arguments, with the grading faked ---------------------------------------

def _graded(scores: dict[str, tuple[float, float]], output: str = "") -> dict:
    return {"score": sum(score for score, _ in scores.values()), "output": output,
            "tests": [{"name": name, "score": score, "max_score": possible, "output": f"{name} says so\nmore"}
                      for name, (score, possible) in scores.items()]}


class _FlushedLines:
    """A stdout that keeps what each flush delivered: what a reader watching a pipe sees, and when."""

    def __init__(self):
        self.text, self.flushed = "", []

    def write(self, text):
        self.text += text

    def flush(self):
        if self.text:
            self.flushed.append(self.text.rstrip("\n"))
        self.text = ""


def test_the_mutant_table_gives_each_mutants_points_lost_and_the_tests_that_catch_it(monkeypatch):
    import tools.grading_mutants
    monkeypatch.setattr(tools.grading_mutants, "MUTANTS", {"sign flipped": None, "harmless": None})
    made = []

    def submission(mutant, folder):
        made.append(mutant)
        assert isinstance(folder, Path) and folder.is_dir(), "a fresh folder for each mutant"
        return folder / "submission"

    def grading(submission_folder, results, quiet):
        assert results == submission_folder.parent / "results.json" and quiet is True, "results beside it, quietly"
        return reports[made[-1]]

    monkeypatch.setattr(tools.grading_mutants, "mutated_submission", submission)
    reports = {"sign flipped": _graded({"schedule": (2, 2), "loss": (0, 3), "sampler": (1, 4)}),
               "harmless": _graded({"schedule": (2, 2), "loss": (3, 3), "sampler": (4, 4)})}
    monkeypatch.setattr(grade_module, "grade", grading)
    out = _FlushedLines()
    monkeypatch.setattr(sys, "stdout", out)
    table = grade_module.mutant_table().splitlines()
    assert made == ["sign flipped", "harmless"]
    assert table == [f"{'mutant':<52}{'points lost':>12}  graded tests that catch it",
                     f"{'sign flipped':<52}{'6/9':>12}  loss, sampler", f"{'harmless':<52}{'0/9':>12}  "]
    assert out.flushed == table, "each line printed, and flushed on its own, as it is measured"


def test_the_attack_table_gives_each_attacks_score_what_it_says_and_whether_it_reached_outside(monkeypatch):
    import tools.grading_attacks
    from tools.grading_attacks import Attack
    attacks = {"reads the tests": Attack("handout", "x = 1\n"), "writes the victim": Attack("handout", "x = 2\n", aims_outside=True)}
    monkeypatch.setattr(tools.grading_attacks, "ATTACKS", attacks)
    submitted, graded = [], []

    def submission(name, folder, handout, targets=None):
        submitted.append((name, targets is not None, (handout / "utils.py").exists()))
        folder.mkdir(parents=True)
        if targets is not None:  # a shared folder as /tmp is, in a folder others may enter; then what an attack that gets through would do
            assert stat.S_IMODE(targets.shared.stat().st_mode) == 0o1777
            assert stat.S_IMODE(targets.shared.parent.stat().st_mode) == 0o755 == stat.S_IMODE(targets.victim.parent.stat().st_mode)
            assert targets.victim.read_text() == "a file the grader may write and the submission may not\n"
            targets.victim.write_text("changed\n")
        return folder

    def grading(submission_folder, results, quiet):
        graded.append(results.name)
        return _graded({"a": (1, 2), "b": (0, 3)}, output="")

    monkeypatch.setattr(tools.grading_attacks, "attack_submission", submission)
    monkeypatch.setattr(grade_module, "grade", grading)
    out = _FlushedLines()
    monkeypatch.setattr(sys, "stdout", out)
    table = grade_module.attack_table().splitlines()
    assert submitted == [("reads the tests", False, True), ("writes the victim", True, True)], \
        "each attack built on a fresh handout, the outside targets only for an attack that aims there"
    assert graded == ["results.json", "results.json", "results.json"], "an outside attack is followed by one more grading"
    assert table[0] == f"{'attack':<76}{'score':>7}  what the results say"
    assert table[1] == f"{'reads the tests':<76}{'1/5':>7}  a says so | b says so"
    assert table[2] == (f"{'writes the victim':<76}{'1/5':>7}  victim CHANGED, 0 bytes received on 127.0.0.1 | "
                        "a says so | b says so")
    assert out.flushed == table, "each line printed, and flushed on its own, as it is measured"


def test_the_attack_table_prints_nothing_but_its_lines_and_stops_if_no_handout_is_made(monkeypatch, capfd):
    import tools.grading_attacks
    monkeypatch.setattr(tools.grading_attacks, "ATTACKS", {})
    assert grade_module.attack_table().splitlines() == [f"{'attack':<76}{'score':>7}  what the results say"]
    assert capfd.readouterr().out.splitlines() == [f"{'attack':<76}{'score':>7}  what the results say"], \
        "the handout's own output does not reach the table"
    monkeypatch.setattr(sys, "executable", "/bin/false")  # the handout cannot be made
    with pytest.raises(subprocess.CalledProcessError):
        grade_module.attack_table()


def _command(monkeypatch, *arguments):
    monkeypatch.setattr(sys, "argv", ["tools.grade", *map(str, arguments)])
    previous = signal.getsignal(signal.SIGTERM)
    try:
        grade_module.main()
    finally:
        installed = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, previous)
    return installed


def test_the_grade_command_runs_what_each_option_asks_and_says_what_it_wrote(tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(grade_module, "mutant_table", lambda: calls.append("mutants"))
    monkeypatch.setattr(grade_module, "attack_table", lambda: calls.append("attacks"))
    monkeypatch.setattr(grade_module, "grade_all", lambda folder, csv_path, trusted: calls.append(
        ("all", folder, csv_path, trusted)) or [{"submission": "alice", "score": 3.5, "max_score": 5, "not graded because": ""},
                                                {"submission": "bob", "score": 0, "max_score": 5, "not graded because": "no ddpm.py"}])
    monkeypatch.setattr(grade_module, "grade", lambda folder, results: calls.append(("one", folder, results)) or
                        {"score": 4, "output": "2 tests failed"})
    handler = _command(monkeypatch, "--mutants")
    assert calls == ["mutants"]
    assert handler not in (signal.SIG_DFL, signal.SIG_IGN, None), "SIGTERM unwinds the command"
    with pytest.raises(SystemExit) as ended:
        handler(signal.SIGTERM, None)
    assert ended.value.code == 128 + signal.SIGTERM
    _command(monkeypatch, "--attacks")
    assert calls[-1] == "attacks"
    (tmp_path / "batch").mkdir()
    _command(monkeypatch, "--all", tmp_path / "batch", "--csv", tmp_path / "g.csv", "--trusted")
    assert calls[-1] == ("all", tmp_path / "batch", tmp_path / "g.csv", True)
    assert capsys.readouterr().out.splitlines() == [f"{'alice':<40} {3.5:>5g}/5  ", f"{'bob':<40} {0:>5g}/5  no ddpm.py",
                                                    f"wrote {tmp_path / 'g.csv'} (2 submissions)"]
    _command(monkeypatch, "--all", tmp_path / "batch")
    assert calls[-1] == ("all", tmp_path / "batch", Path("grades.csv"), False), "the default CSV, untrusted"
    capsys.readouterr()
    (tmp_path / "student").mkdir()
    _command(monkeypatch, tmp_path / "student", "--results", tmp_path / "r.json")
    assert calls[-1] == ("one", (tmp_path / "student").resolve(), tmp_path / "r.json")
    assert capsys.readouterr().out.splitlines() == ["2 tests failed", f"score 4 written to {tmp_path / 'r.json'}"]
    _command(monkeypatch, tmp_path / "student")
    assert calls[-1] == ("one", (tmp_path / "student").resolve(), Path("results.json"))


@pytest.mark.parametrize("arguments, message", [
    ((), "error: None is not a directory; pass the folder holding the student's ('ddpm.py', 'utils.py')"),
    (("missing",), "error: missing is not a directory; pass the folder holding the student's"),
    (("--all", "missing"), "error: missing is not a directory; pass the folder holding one subfolder per submission"),
])
def test_the_grade_command_refuses_a_folder_that_is_not_there_in_one_line(monkeypatch, tmp_path, arguments, message):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(grade_module, "grade", lambda *args, **kwargs: pytest.fail("nothing may be graded"))
    monkeypatch.setattr(grade_module, "grade_all", lambda *args, **kwargs: pytest.fail("nothing may be graded"))
    with pytest.raises(SystemExit) as refused:
        _command(monkeypatch, *arguments)
    assert str(refused.value).startswith(message)


def test_a_grader_runs_pytest_in_grading_with_the_requests_environment_and_its_output_in_the_report(tmp_path, monkeypatch):
    """tools/graders.grader as the fork runs it, here in this process with its descriptors, environment
    and folder put back: stdin is /dev/null, not the server's requests, stdout and stderr append to
    the report, SIGINT raises KeyboardInterrupt as in pytest, and pytest's exit code is returned."""
    seen = {}

    def fake_main(arguments):
        seen.update(arguments=arguments, cwd=os.getcwd(), environment=dict(os.environ), stdin=os.read(0, 10),
                    sigint=signal.getsignal(signal.SIGINT))
        os.write(1, b"out\n")
        os.write(2, b"err\n")
        return 3

    monkeypatch.setattr(graders, "pytest", type("FakePytest", (), {"main": staticmethod(fake_main)}))
    report = tmp_path / "report.txt"
    report.write_text("before\n")
    saved = [os.dup(descriptor) for descriptor in (0, 1, 2)]
    environment, folder, sigint = dict(os.environ), os.getcwd(), signal.getsignal(signal.SIGINT)
    requests, writer = os.pipe()  # as in the server: stdin holds the next requests
    os.write(writer, b'{"arguments": []}\n')
    os.close(writer)
    os.dup2(requests, 0)
    os.close(requests)
    try:
        code = graders.grader(["-q"], {"ONLY": "this"}, str(report))
    finally:
        for descriptor, copy in enumerate(saved):
            os.dup2(copy, descriptor)
            os.close(copy)
        os.environ.clear()
        os.environ.update(environment)
        os.chdir(folder)
        signal.signal(signal.SIGINT, sigint)
    assert code == 3
    assert seen == {"arguments": ["-q"], "cwd": str(ROOT / "grading"), "environment": {"ONLY": "this"}, "stdin": b"",
                    "sigint": signal.default_int_handler}
    assert report.read_text() == "before\nout\nerr\n"


def test_the_grader_server_serves_its_stdin_and_ignores_ctrl_c(monkeypatch):
    served = []
    monkeypatch.setattr(graders, "serve", lambda requests, answers: served.append((requests, answers)))
    monkeypatch.setattr(sys, "argv", ["tools.graders"])
    previous = signal.getsignal(signal.SIGINT)
    try:
        graders.main()
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN, "Ctrl-C reaches the grader, not the server"
    finally:
        signal.signal(signal.SIGINT, previous)
    assert served == [(sys.stdin, sys.stdout)]
    monkeypatch.setattr(sys, "argv", ["tools.graders", "--no-such-option"])
    with pytest.raises(SystemExit):
        graders.main()
