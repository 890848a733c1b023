"""Write the student copy: every solution region replaced by a TODO that raises NotImplementedError.

    python -m tools.make_handout [--out handout]        # or: make handout

The reference solution lives in the normal files. A region to hand out as a TODO is written

    # BEGIN SOLUTION <what the student must do>
    ...reference code...
    # END SOLUTION

(one '#', the spelling otter-grader and nbgrader accept). In the handout the region becomes, at
the BEGIN line's indentation,

    # TODO: <what the student must do>
    raise NotImplementedError("<what the student must do>")

The script fails, writing nothing, on an unpaired or nested marker, and checks that every output
file parses and that no marker and no line of solution code survives. Only the files students
get are copied (STUDENT_FILES): the public graded tests ship, the hidden ones, tests, tools and CI do not.
"""
import argparse
import ast
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STUDENT_FILES = ("README.md", "Makefile", "requirements.txt", "gmm.py", "ddpm.py", "utils.py", "metrics.py",
                 "samplers.py", "devices.py", "checkpoints.py", "training.py", "recipe.py", "noisy_classifier.py", "cli.py",
                 "train.py", "sample.py", "classifier.py", "viz", "mnist_ext", "grading/conftest.py", "grading/support.py", "grading/pytest.ini",
                 "grading/test_public.py", "grading/fixtures/expected_public.pt")
"""What students get: the code, and the public graded tests with their expected values (never the
hidden tests, their fixtures, the tools or CI)."""
BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION\b[ \t]*(?P<message>.*?)[ \t]*$")
END = re.compile(r"^[ \t]*# END SOLUTION\b")
DEFAULT_MESSAGE = "implement this part"


class MarkerError(ValueError):
    """A solution marker is unpaired or nested; the message names the file and line."""


def strip_solutions(source: str, name: str = "<source>") -> tuple[str, list[str]]:
    """Replace every solution region of `source`; returns the handout text and the removed lines."""
    output, removed, open_at, indent, message = [], [], None, "", ""
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        begin, end = BEGIN.match(line), END.match(line)
        if begin:
            if open_at is not None:
                raise MarkerError(f"{name}:{number}: BEGIN SOLUTION inside the region opened at line {open_at}")
            open_at, indent = number, begin["indent"]
            message = begin["message"] or DEFAULT_MESSAGE
        elif end:
            if open_at is None:
                raise MarkerError(f"{name}:{number}: END SOLUTION without a BEGIN SOLUTION before it")
            output.append(f"{indent}# TODO: {message}\n")
            output.append(f"{indent}raise NotImplementedError({message!r})\n")
            open_at = None
        elif open_at is not None:
            removed.append(line)
        else:
            output.append(line)
    if open_at is not None:
        raise MarkerError(f"{name}:{open_at}: BEGIN SOLUTION is never closed by an END SOLUTION")
    return "".join(output), removed


def _check(text: str, removed: list[str], name: str) -> None:
    if "BEGIN SOLUTION" in text or "END SOLUTION" in text:
        raise MarkerError(f"{name}: a solution marker survived in the handout")
    try:
        ast.parse(text, filename=name)
    except SyntaxError as error:
        raise MarkerError(f"{name}: the handout does not parse ({error})") from error
    kept = set(line.strip() for line in text.splitlines())
    for line in removed:
        code = line.strip()
        if len(code) > 20 and not code.startswith("#") and code in kept:
            raise MarkerError(f"{name}: solution line {code!r} also appears outside its region")


def make_handout(out: Path, root: Path = ROOT) -> list[Path]:
    """Build the handout in `out` (replaced whole); returns the Python files that carry TODOs."""
    staged = {}
    for entry in STUDENT_FILES:
        for path in sorted((root / entry).rglob("*")) if (root / entry).is_dir() else [root / entry]:
            if path.is_file() and "__pycache__" not in path.parts:
                staged[path.relative_to(root)] = path.read_bytes()
    with_todos = []
    for relative, content in staged.items():
        if relative.suffix == ".py":
            text, removed = strip_solutions(content.decode(), str(relative))
            _check(text, removed, str(relative))
            if removed:
                with_todos.append(relative)
            staged[relative] = text.encode()
    if out.exists():
        shutil.rmtree(out)
    for relative, content in staged.items():
        (out / relative).parent.mkdir(parents=True, exist_ok=True)
        (out / relative).write_bytes(content)
    return [out / relative for relative in with_todos]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "handout")
    args = parser.parse_args()
    try:
        files = make_handout(args.out)
    except MarkerError as error:
        sys.exit(f"error: {error}")
    print(f"wrote {args.out} ({len(files)} files with TODOs: {', '.join(p.name for p in files)})")


if __name__ == "__main__":
    main()
