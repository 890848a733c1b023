"""Write the student copy: the problem set's starter code, with every solution region replaced by a
TODO that raises NotImplementedError, and nothing that answers a graded question.

    python -m tools.make_handout [--out handout] [--with figures] [--with mnist]     # or: make handout

The reference solution lives in the normal files. A region to hand out as a TODO is written

    # BEGIN SOLUTION <what the student must do>
    ...reference code...
    # END SOLUTION

(one '#', the spelling otter-grader and nbgrader accept). In the handout the region becomes, at
the BEGIN line's indentation,

    # TODO: <what the student must do>
    raise NotImplementedError("<what the student must do>")

The script fails, writing nothing, on an unpaired or nested marker, and checks that every output
file parses and that no marker and no line of solution code survives.

What ships by default (CORE_FILES): gmm.py untouched, ddpm.py and utils.py with TODOs, train.py and
sample.py with the library they run on, the public graded tests with their expected values, and
the students' README (docs/students.md, with the sections of the options chosen) and Makefile
(tools/handout/Makefile, with Makefile.NAME of each option chosen). Never: the figure code of
problems 2-4 and its "what to observe" text, the hidden tests, tests/, tools/, docs/, CI, the
instructors' README.
Options (OPTIONS), the instructor's choice:
    --with figures   viz/ without the MNIST figures: for a course that grades only the TODOs
    --with mnist     the MNIST extension for the bonus, its U-Net's forward passes as TODOs
                     (without viz/mnist.py, whose settling analysis answers the bonus question)
    --with dip       Deep Image Prior for the second assignment (adds mnist): dip_ext/ with Example 1
                     (restore.py) and Example 2 (progressive.py, recorrupted.py) as TODOs, the harnesses
                     that measure any stopping rule or start beside the published ones, and the public
                     tests of those TODOs (tests/test_dip_todos.py); never the reference's figures
                     (viz/dip.py, viz/dip_start.py), tables or study records
"""
import argparse
import ast
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STUDENT_DOCS = ROOT / "tools" / "handout"
STUDENT_GUIDE = ROOT / "docs" / "students.md"
"""The students' guide: the handout's README, and in the docs the same text with every option's section."""
OPTION_SECTION = re.compile(r"<!-- handout option: (\w+) -->\n(.*?)<!-- end of handout option -->\n", flags=re.S)
CORE_FILES = ("requirements.txt", "gmm.py", "ddpm.py", "utils.py", "samplers.py", "devices.py", "speed.py",
              "checkpoints.py", "training.py", "recipe.py", "noisy_classifier.py", "cli.py", "train.py", "sample.py", "classifier.py",
              "grading/conftest.py", "grading/support.py", "grading/sandbox.py", "grading/worker.py",
              "grading/probes.py", "grading/wire.py", "grading/pytest.ini", "grading/test_public.py",
              "grading/fixtures/expected_public.pt")


@dataclass(frozen=True)
class Option:
    """Files an option adds and the options it needs (added with it). What it adds to the students'
    README is its section of STUDENT_GUIDE, to their Makefile the file tools/handout/Makefile.NAME."""

    files: tuple[str, ...]
    needs: tuple[str, ...] = ()


OPTIONS = {
    "figures": Option(
        files=("metrics.py",) + tuple(sorted(f"viz/{path.name}" for path in (ROOT / "viz").glob("*.py")
                                             if path.name not in ("mnist.py", "dip.py", "dip_start.py")))),
    "mnist": Option(
        files=("mnist_ext/__init__.py", "mnist_ext/data.py", "mnist_ext/model.py", "mnist_ext/recipe.py",
               "mnist_ext/generate.py", "mnist_ext/scoring.py", "mnist_ext/train.py", "mnist_ext/sample.py",
               "mnist_ext/evaluate.py")),
    "dip": Option(
        files=tuple(sorted(f"dip_ext/{path.name}" for path in (ROOT / "dip_ext").glob("*.py"))) + ("tests/test_dip_todos.py",),
        needs=("mnist",)),
}

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


def students_readme(options: set[str] | tuple[str, ...]) -> str:
    """STUDENT_GUIDE with the sections of `options` (their markers dropped) and without the others'."""
    return OPTION_SECTION.sub(lambda section: section.group(2) if section.group(1) in options else "",
                              STUDENT_GUIDE.read_text())


def make_handout(out: Path, root: Path = ROOT, options: tuple[str, ...] = ()) -> list[Path]:
    """Build the handout in `out` (replaced whole) with the chosen OPTIONS; returns the Python files that carry TODOs."""
    unknown = set(options) - set(OPTIONS)
    if unknown:
        raise ValueError(f"unknown handout option(s) {sorted(unknown)}; choose from {sorted(OPTIONS)}")
    options = set(options) | {need for name in options for need in OPTIONS[name].needs}
    chosen = [OPTIONS[name] for name in sorted(options)]
    staged = {Path(name): (root / name).read_bytes() for name in CORE_FILES + sum((o.files for o in chosen), ())}
    staged[Path("README.md")] = students_readme(options).encode()
    staged[Path("Makefile")] = "".join((STUDENT_DOCS / name).read_text() for name in
                                       ["Makefile"] + [f"Makefile.{option}" for option in sorted(options)]).encode()
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
    parser.add_argument("--with", dest="options", action="append", default=[], choices=sorted(OPTIONS),
                        help="also ship this part (repeatable)")
    args = parser.parse_args()
    try:
        files = make_handout(args.out, options=tuple(args.options))
    except MarkerError as error:
        sys.exit(f"error: {error}")
    print(f"wrote {args.out} ({len(files)} files with TODOs: {', '.join(p.name for p in files)})")


if __name__ == "__main__":
    main()
