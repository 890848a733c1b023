"""Build the autograder upload: setup.sh and run_autograder at the root, the graded tests and fixtures.

    python -m tools.autograder_zip [--out autograder.zip]        # or: make autograder-zip

No reference solution ships: of the project's modules only gmm.py (which students do not edit)
is included; the graded files come from each submission.
"""
import argparse
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "tools" / "autograder"
CONTENTS = {  # name in the zip: source file
    "setup.sh": TOOLS / "setup.sh",
    "run_autograder": TOOLS / "run_autograder",
    "requirements-autograder.txt": TOOLS / "requirements-autograder.txt",
    "tools/__init__.py": ROOT / "tools" / "__init__.py",
    "tools/autograde.py": ROOT / "tools" / "autograde.py",
    "tools/grade.py": ROOT / "tools" / "grade.py",
    "tools/graders.py": ROOT / "tools" / "graders.py",
    "gmm.py": ROOT / "gmm.py",
    "grading/conftest.py": ROOT / "grading" / "conftest.py",
    "grading/support.py": ROOT / "grading" / "support.py",
    "grading/sandbox.py": ROOT / "grading" / "sandbox.py",
    "grading/worker.py": ROOT / "grading" / "worker.py",
    "grading/namespaces.py": ROOT / "grading" / "namespaces.py",
    "grading/probes.py": ROOT / "grading" / "probes.py",
    "grading/wire.py": ROOT / "grading" / "wire.py",
    "grading/pytest.ini": ROOT / "grading" / "pytest.ini",
    "grading/test_public.py": ROOT / "grading" / "test_public.py",
    "grading/test_hidden.py": ROOT / "grading" / "test_hidden.py",
    "grading/fixtures/expected.pt": ROOT / "grading" / "fixtures" / "expected.pt",
    "grading/fixtures/expected_public.pt": ROOT / "grading" / "fixtures" / "expected_public.pt",
}
EXECUTABLE = {"setup.sh", "run_autograder"}


def build(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, source in CONTENTS.items():
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))  # fixed: same inputs, same zip
            info.external_attr = (0o755 if name in EXECUTABLE else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, source.read_bytes())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "autograder.zip")
    print(f"wrote {build(parser.parse_args().out)}")


if __name__ == "__main__":
    main()
