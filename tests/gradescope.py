"""A root laid out like Gradescope's /autograder, for tests that grade through autograder.zip.

setup.sh needs apt and the network, so the tests run run_autograder with this interpreter
(AUTOGRADER_PYTHON) in such a root (AUTOGRADER_ROOT). The root lies in a fresh folder that every
user can enter, and the zip's files are readable by all, as on Gradescope: whatever keeps a
submission's process out of them is the grader's doing, not the test's.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from tools.autograder_zip import build


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


def run_autograder(root: Path, files: dict[str, str | bytes] | Path, **environment: str) -> dict:
    """Put `files` (contents by name, or a folder to copy) in root/submission, run
    root/source/run_autograder with `environment` added, and return results.json."""
    if (root / "submission").exists():
        shutil.rmtree(root / "submission")
    if isinstance(files, Path):
        shutil.copytree(files, root / "submission", symlinks=True)
    else:
        (root / "submission").mkdir()
        for name, content in files.items():
            path = root / "submission" / name
            path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    environment = {**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable, **environment}
    result = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=environment,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((root / "results" / "results.json").read_text())
