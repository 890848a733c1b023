"""Grading a student submission: copy only the graded files, run the graded tests, write results.
The commands are tools/grade.py (make grade) and, on Gradescope, run_autograder.

Only GRADED_FILES are taken from the submission, into a folder of their own beside the untouched
ground truth (gmm.py) from this copy (grading/conftest.py); nothing else of the submission (no
conftest.py, no pytest.ini) is ever seen. The graded tests run in a pytest process that never
imports a submitted file: the submission runs in a process of its own (grading/sandbox.py), in
namespaces of its own where the kernel allows them. When grading as root, this copy's folder is also
closed to other users while the grading runs, so the submission's process (an unprivileged user)
can neither read the hidden tests, their expected values, the autograder's code or a reference
solution, nor write the results. A fallback results file (score 0) is written first, so a crash
still reports; the score table is printed at the end.

Every file the grader writes where someone else may have prepared the path (a shared folder such as
/tmp) is written by write_new: a new file, created exclusively beside the destination and renamed
over it. A link planted at the destination is replaced, never followed, and nothing is chmod-ed
through a path.

The pytest process of each grading is forked by tools/graders.py, started on the first grading
with pytest and torch imported: each grading of a batch after the first saves those imports (2.8 s
on one core, `make bench-grading`). One grading at a time per process: gradings as root take turns
anyway (grading/sandbox.py).
"""
import ast
import contextlib
import json
import os
import secrets
import select
import signal
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

from grading import namespaces

ROOT = Path(__file__).resolve().parents[1]
GRADED_FILES = ("ddpm.py", "utils.py")
_graders: subprocess.Popen | None = None  # tools/graders.py, once a grading has started it
INTERRUPTED_GRADER_SECONDS = 10.0  # an interrupted grader's time to end the submission's processes before it is killed


def _refusal(message: str) -> dict:
    """A results file with score 0 and one line that says what is wrong."""
    return {"score": 0, "execution_time": 0, "output": message, "tests": [
        {"name": "submission", "score": 0, "max_score": 0, "status": "failed", "visibility": "visible",
         "output": message}]}


MAX_FILE_BYTES = 2**20  # a graded file of the problem set is about 20 kB


def submission_problems(submission: Path) -> list[str]:
    """What keeps a submission from being graded at all: a graded file missing, a link or too large
    (a link could point at the hidden tests, which the grader would then copy), or not valid Python.
    Parsing runs none of the file's code."""
    problems = []
    for name in GRADED_FILES:
        path = submission / name
        if path.is_symlink():
            problems.append(f"{name} is a link: upload the file itself")
            continue
        if path.is_file() and path.stat().st_size > MAX_FILE_BYTES:
            problems.append(f"{name} is {path.stat().st_size / 2**20:.1f} MB, over the {MAX_FILE_BYTES / 2**20:g} MB "
                            "a source file may have: upload the .py file itself")
            continue
        if not path.is_file():
            problems.append(f"{name} is missing: upload both {' and '.join(GRADED_FILES)} (the files themselves, "
                            "not a folder or a zip of them)")
            continue
        try:
            ast.parse(path.read_bytes(), filename=name)
        except SyntaxError as error:
            problems.append(f"{name} line {error.lineno}: {error.msg}; fix it (python {name} shows the same error) "
                            "and submit again")
        except (ValueError, RecursionError, MemoryError) as error:  # null bytes, absurd nesting: not a source file
            problems.append(f"{name} is not a Python source file ({error}); upload the .py file itself")
    return problems


def write_new(path: Path, text: str) -> None:
    """Put `text` at `path` (mode 0600) through a new file, created exclusively in the same folder
    and renamed over `path`: whatever is at `path` (a file, a link someone planted) is replaced,
    never written through. The folder is opened once, so a link swapped in while writing changes
    nothing either."""
    try:
        folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as error:
        raise SystemExit(f"error: cannot write {path}: its folder {path.parent} ({error.strerror}); "
                         "create the folder or choose another path") from None
    try:
        while True:
            temporary = f".{path.name}.{secrets.token_hex(8)}.tmp"
            try:
                fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=folder)
                break
            except FileExistsError:
                continue
        try:
            with os.fdopen(fd, "w") as written:
                written.write(text)
                written.flush()
                os.fsync(written.fileno())
            os.replace(temporary, path.name, src_dir_fd=folder, dst_dir_fd=folder)
        except BaseException as error:
            with contextlib.suppress(OSError):
                os.unlink(temporary, dir_fd=folder)
            if isinstance(error, OSError):
                raise SystemExit(f"error: cannot write {path} ({error.strerror}): in a folder others may write, "
                                 "a path someone else made cannot be replaced; choose another path") from None
            raise
    finally:
        os.close(folder)


@contextlib.contextmanager
def closed_to_others(paths: list[Path]):
    """While grading as root, remove group and other permissions from the folders `paths` (nobody
    else can enter them, so nothing beneath is reachable), then restore them. Each folder is opened
    once (not through a link) and changed through that descriptor."""
    if os.geteuid() != 0:
        yield
        return
    modes = {}
    for path in dict.fromkeys(paths):
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        modes[fd] = stat.S_IMODE(os.fstat(fd).st_mode)
        os.fchmod(fd, modes[fd] & 0o700)
    try:
        yield
    finally:
        for fd, mode in modes.items():
            os.fchmod(fd, mode)
            os.close(fd)


def isolation_here() -> tuple[str, str | None]:
    """The isolation a grading started now gets, as grading/sandbox.py chooses it (a key of its
    ISOLATIONS), and why it has no namespaces (None when it has them)."""
    root = os.geteuid() == 0
    why = namespaces.unavailable_here(as_root=root) if namespaces.wanted() else "AUTOGRADER_NAMESPACES=0"
    return ("namespaces" if why is None else "user" if root else "none"), why


def grade(submission: Path, results: Path, deselect: tuple[str, ...] = (), quiet: bool = False) -> dict:
    """Grade the submission's GRADED_FILES; writes and returns the Gradescope results. `deselect`
    skips graded tests by node id (the self-checks use it to keep `make test` short); `quiet`
    keeps pytest's report off the terminal."""
    fallback = _refusal("the autograder did not finish; contact the course staff")
    write_new(results, json.dumps(fallback))
    problems = submission_problems(submission)
    if problems:
        report = _refusal("not graded: " + "; ".join(problems))
        write_new(results, json.dumps(report, indent=2))
        return report
    with closed_to_others([ROOT]), tempfile.TemporaryDirectory(prefix="grader-report-") as private:
        graded = Path(private) / "results.json"  # written by the grader's pytest, in a folder only it may enter
        arguments = ["-c", str(ROOT / "grading" / "pytest.ini"), "--rootdir", str(ROOT / "grading"), str(ROOT / "grading"),
                     # one token each: pytest scans bare paths for conftest.py before it knows these options
                     f"--impl={submission}", f"--results={graded}"] + [f"--deselect={node}" for node in deselect]
        report = Path(private) / "report.txt"
        report.touch(mode=0o600)
        _run_grader(arguments, report)
        if not quiet:
            print(report.read_text(), end="", flush=True)
        if not graded.exists():  # the grader crashed: the fallback stays
            return fallback
        text = graded.read_text()
    write_new(results, text)
    return json.loads(text)


def _run_grader(arguments: list[str], report: Path) -> None:
    """pytest with `arguments` in a grader forked by tools/graders.py (started here if not running),
    its output written to `report`. A grader that crashes leaves the fallback results file."""
    global _graders
    if _graders is None or _graders.poll() is not None:
        _graders = subprocess.Popen([sys.executable, "-m", "tools.graders"], cwd=ROOT, text=True,
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    _graders.stdin.write(json.dumps({"arguments": arguments, "environment": dict(os.environ), "report": str(report)}) + "\n")
    _graders.stdin.flush()
    started = _graders.stdout.readline()
    if not started:  # the server ended: the next grading starts another
        _graders = None
        return
    try:
        _graders.stdout.readline()  # {"exit": code}, once the grader has ended
    except BaseException:  # interrupted: so is the grader, whose pytest then ends the submission's processes
        grader = json.loads(started)["pid"]
        with contextlib.suppress(ProcessLookupError):  # Ctrl-C reached it too, and it has ended
            os.kill(grader, signal.SIGINT)
            if not select.select([_graders.stdout], [], [], INTERRUPTED_GRADER_SECONDS)[0]:
                os.kill(grader, signal.SIGKILL)
        _graders.stdout.readline()
        raise
