"""A root laid out like Gradescope's /autograder, for tests that grade through autograder.zip.

setup.sh needs apt and the network, so the tests run run_autograder with this interpreter
(AUTOGRADER_PYTHON) in such a root (AUTOGRADER_ROOT). The root lies in a fresh folder that every
user can enter, and the zip's files are readable by all, as on Gradescope: whatever keeps a
submission's process out of them is the grader's doing, not the test's.
"""
import hashlib
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tools.autograder_zip import build


def fingerprint(folder: Path) -> dict[str, str]:
    """Every file under `folder` (but bytecode caches) by its SHA-256: what an attack must leave unchanged."""
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file() and "__pycache__" not in path.parts}


def unpack_autograder() -> Path:
    """Build autograder.zip and unpack it into a new root's source/; returns the root (the caller removes it)."""
    root = Path(tempfile.mkdtemp(prefix="autograder-")) / "autograder"
    root.parent.chmod(0o755)
    archive = build(root.parent / "autograder.zip")
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(root / "source")
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return root


INSTRUCTOR = "autograder-instructor"
"""The account without root that tests grade as, when the suite runs as root: an instructor on a laptop."""


@dataclass(frozen=True)
class Account:
    """A user to run commands as, and an interpreter with this one's packages that the user can run."""

    uid: int
    gid: int
    python: str

    def become(self) -> None:
        """For preexec_fn: this user, with no supplementary groups."""
        os.setgroups([])
        os.setresgid(self.gid, self.gid, self.gid)
        os.setresuid(self.uid, self.uid, self.uid)

    def runs(self, python: str, code: str = "import torch, pytest") -> bool:
        try:
            return subprocess.run([python, "-c", code], preexec_fn=self.become, cwd="/", capture_output=True).returncode == 0
        except OSError:  # not allowed to execute it
            return False


def unprivileged_account() -> Account | None:
    """This process's own user and interpreter when it is not root. As root: INSTRUCTOR (created with
    useradd if missing), with this interpreter if it may run it, else a venv made (without pip) from
    a system interpreter of the same version that it may run, which reads this one's packages through
    a .pth file. None when no such interpreter exists here."""
    if os.geteuid() != 0:
        return Account(os.getuid(), os.getgid(), sys.executable)
    try:
        entry = pwd.getpwnam(INSTRUCTOR)
    except KeyError:
        subprocess.run([shutil.which("useradd") or "/usr/sbin/useradd", "--system", "--user-group", "--no-create-home",
                        "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", INSTRUCTOR], check=True)
        entry = pwd.getpwnam(INSTRUCTOR)
    account = Account(entry.pw_uid, entry.pw_gid, sys.executable)
    if account.runs(sys.executable):
        return account
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    venv = Path(tempfile.mkdtemp(prefix="instructor-venv-"))
    packages = [path for path in sys.path if Path(path).name in ("site-packages", "dist-packages")]
    for base in dict.fromkeys(Path(folder) / version for folder in ["/usr/bin", "/usr/local/bin"] + os.get_exec_path()):
        if not base.is_file() or not account.runs(str(base), code=""):
            continue
        shutil.rmtree(venv)
        subprocess.run([str(base), "-m", "venv", "--without-pip", str(venv)], check=True)
        site = subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                              check=True, capture_output=True, text=True).stdout.strip()
        Path(site, "instructor.pth").write_text("\n".join(packages) + "\n")
        for path in [venv, *venv.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644 | (path.stat().st_mode & 0o111))
        if account.runs(str(venv / "bin" / "python")):
            return Account(entry.pw_uid, entry.pw_gid, str(venv / "bin" / "python"))
    return None


def run_autograder(root: Path, files: dict[str, str | bytes] | Path, account: Account | None = None,
                   **environment: str) -> dict:
    """Put `files` (contents by name, or a folder to copy) in root/submission, run
    root/source/run_autograder with `environment` added (as `account`, with its interpreter, if
    given), and return results.json."""
    if (root / "submission").exists():
        shutil.rmtree(root / "submission")
    if isinstance(files, Path):
        shutil.copytree(files, root / "submission", symlinks=True)
    else:
        (root / "submission").mkdir()
        for name, content in files.items():
            path = root / "submission" / name
            path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    environment = {**os.environ, "AUTOGRADER_ROOT": str(root),
                   "AUTOGRADER_PYTHON": account.python if account else sys.executable, **environment}
    result = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=environment, cwd=root,
                            preexec_fn=account.become if account else None, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((root / "results" / "results.json").read_text())
