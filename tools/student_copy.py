"""What the student copy holds and how it is cut from this repository: the solution markers and
their TODOs, the files of the core and of each option, and the students' README cut from
docs/students.md. The command that writes it is tools/make_handout.py, whose docstring says what
ships and what never does.
"""
import ast
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STUDENT_DOCS = ROOT / "tools" / "handout"
STUDENT_GUIDE = ROOT / "docs" / "students.md"
"""The students' guide: the handout's README, and in the docs the same text with every option's section."""
OPTION_SECTION = re.compile(r"<!-- handout option: (not )?(\w+) -->\n(.*?)<!-- end of handout option -->\n", flags=re.S)
"""A part of STUDENT_GUIDE kept with an option (`handout option: NAME`) or without it (`handout option: not NAME`)."""
CORE_FILES = ("requirements.txt", "gmm.py", "ddpm.py", "utils.py", "samplers.py", "devices.py", "speed.py",
              "checkpoints.py", "training.py", "recipe.py", "noisy_classifier.py", "cli.py", "train.py", "sample.py", "classifier.py",
              "grading/conftest.py", "grading/support.py", "grading/sandbox.py", "grading/worker.py",
              "grading/namespaces.py",
              "grading/probes.py", "grading/wire.py", "grading/pytest.ini", "grading/test_public.py",
              "grading/fixtures/expected_public.pt")


@dataclass(frozen=True)
class Option:
    """Files an option adds, as they are here or from tools/handout/ under another name ({name in
    the handout: file in tools/handout/}), and the options it needs (added with it). What it adds to
    the students' README is its section of STUDENT_GUIDE, to their Makefile tools/handout/Makefile.NAME."""

    files: tuple[str, ...]
    needs: tuple[str, ...] = ()
    from_handout_folder: tuple[tuple[str, str], ...] = ()


INSTRUCTOR_FIGURES = ("mnist.py", "dip.py", "dip_start.py", "dip_variations.py")
"""viz/ modules no option ships: the MNIST figures and the DIP homework's reference studies."""
INSTRUCTOR_DIP = ("variations.py", "variations_tables.py")
"""dip_ext/ modules the dip option holds back: reference answers to the homework's other directions."""

OPTIONS = {
    "figures": Option(
        files=("metrics.py",) + tuple(sorted(f"viz/{path.name}" for path in (ROOT / "viz").glob("*.py")
                                             if path.name not in INSTRUCTOR_FIGURES))),
    "mnist": Option(
        files=("mnist_ext/__init__.py", "mnist_ext/data.py", "mnist_ext/model.py", "mnist_ext/recipe.py",
               "mnist_ext/generate.py", "mnist_ext/scoring.py", "mnist_ext/train.py", "mnist_ext/sample.py",
               "mnist_ext/evaluate.py")),
    "dip": Option(
        files=tuple(sorted(f"dip_ext/{path.name}" for path in (ROOT / "dip_ext").glob("*.py")
                           if path.name not in INSTRUCTOR_DIP)) + ("records.py", "tests/test_dip_todos.py"),
        needs=("mnist",),
        from_handout_folder=(("tests/pytest.ini", "pytest-dip.ini"),)),
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


def students_readme(options: set[str] | tuple[str, ...], guide: str | None = None) -> str:
    """STUDENT_GUIDE (or `guide`) with the parts kept for `options` (their markers dropped) and without the others."""
    return OPTION_SECTION.sub(lambda part: part.group(3) if (part.group(2) in options) != bool(part.group(1)) else "",
                              STUDENT_GUIDE.read_text() if guide is None else guide)


def make_handout(out: Path, root: Path = ROOT, options: tuple[str, ...] = ()) -> list[Path]:
    """Build the handout in `out` (replaced whole) with the chosen OPTIONS; returns the Python files that carry TODOs."""
    unknown = set(options) - set(OPTIONS)
    if unknown:
        raise ValueError(f"unknown handout option(s) {sorted(unknown)}; choose from {sorted(OPTIONS)}")
    options = set(options) | {need for name in options for need in OPTIONS[name].needs}
    chosen = [OPTIONS[name] for name in sorted(options)]
    staged = {Path(name): (root / name).read_bytes() for name in CORE_FILES + sum((o.files for o in chosen), ())}
    staged |= {Path(name): (STUDENT_DOCS / source).read_bytes() for option in chosen for name, source in option.from_handout_folder}
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
