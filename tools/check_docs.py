"""Check that nothing documented has rotted: links, anchors, commands, make targets and the date of
every measurement, in README.md and docs/*.md.

    python -m tools.check_docs            # prints each problem; exit 1 if there is any

- every relative link and image resolves, and its #anchor names a heading of the target (GitHub's
  rule: lower case, punctuation dropped, spaces to hyphens);
- every command quoted (in a ```bash block, or inline as `python ...` / `make ...`) still parses:
  a `python -m MODULE ARGS` or `python FILE.py ARGS` runs with its ARGS until its parser has
  checked them, then stops before any work (argparse.ArgumentParser.parse_args is wrapped to
  raise once it returns). A command written with placeholders (`PATH`, `N`, `[--seed S]`, `a|b`)
  runs with `--help` instead. All run in one child process, so torch is imported once;
- every `make TARGET` quoted is a target of the Makefile (for the students' guide: of the
  handout's Makefile with every option);
- every section (`##`) that shows a program's output (an untagged ``` block) has a line
  `**Measured** YYYY-MM-DD with `COMMAND``, so each quoted number says where and when it came from.
"""
import json
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STUDENT_GUIDE_NAME = "students.md"
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", flags=re.S | re.M)
INLINE_COMMAND = re.compile(r"(?<!`)`((?:python|make) [^`]+)`(?!`)")
MEASURED = re.compile(r"^\*\*Measured\*\* \d{4}-\d{2}-\d{2} with `[^`]+`", flags=re.M)
PLACEHOLDER = re.compile(r"[\[\]|<>()]|\.\.\.|^[A-Z][A-Z0-9_]*(=[A-Z_]+)?$")


def doc_files(root: Path = ROOT) -> list[Path]:
    return [root / "README.md"] + sorted((root / "docs").glob("*.md"))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but - and _ dropped, spaces to hyphens."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text())
    return {slug(line.lstrip("#")) for line in text.splitlines() if re.match(r"#{1,6} ", line)}


def link_problems(path: Path) -> list[str]:
    problems = []
    for target in LINK.findall(FENCE.sub("", path.read_text())):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            problems.append(f"{path.name}: link to {target}: no file {file_part}")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            problems.append(f"{path.name}: link to {target}: {linked.name} has no heading #{anchor}")
    return problems


@dataclass(frozen=True)
class Command:
    doc: str
    text: str  # as quoted, comments and continuation lines joined

    @property
    def words(self) -> list[str]:
        """The command's words as the shell splits them (quotes kept together)."""
        try:
            return shlex.split(self.text)
        except ValueError:  # an unbalanced quote
            return self.text.split()


def quoted_commands(path: Path) -> list[Command]:
    """The python and make commands of `path`: ```bash lines (an indented line continues the one
    above; `# ...` comments dropped) and inline `python ...` / `make ...` code spans."""
    text = path.read_text()
    lines: list[str] = []
    for language, block in FENCE.findall(text):
        if language != "bash":
            continue
        for line in block.splitlines():
            code = re.split(r"(?:^|\s)#", line, maxsplit=1)[0].rstrip()
            if not code.strip():
                continue
            if line[:1].isspace() and lines:
                lines[-1] += " " + code.strip()
            else:
                lines.append(code.strip())
    lines += INLINE_COMMAND.findall(FENCE.sub("", text))
    return [Command(path.name, line) for line in lines if line.split()[0] in ("python", "make")]


def make_targets(makefile_text: str) -> set[str]:
    return set(re.findall(r"^([\w-]+):", makefile_text, flags=re.M))


def handout_makefile(root: Path = ROOT) -> str:
    """The handout's Makefile with every option's targets (tools/handout/Makefile and Makefile.NAME)."""
    return "".join(path.read_text() for path in sorted((root / "tools" / "handout").glob("Makefile*")))


def make_problems(commands: list[Command], root: Path = ROOT) -> list[str]:
    project, handout = make_targets((root / "Makefile").read_text()), make_targets(handout_makefile(root))
    problems = []
    for command in commands:
        if command.words[0] != "make":
            continue
        targets = handout if command.doc == STUDENT_GUIDE_NAME else project
        for word in command.words[1:]:
            if "=" not in word and not PLACEHOLDER.search(word) and word not in targets:
                problems.append(f"{command.doc}: `{command.text}`: the Makefile has no target {word}")
    return problems


def python_invocation(command: Command) -> tuple[str, list[str]] | None:
    """(module, argv) of a python command; argv is ['--help'] when the command has placeholders."""
    words = command.words[1:]
    if words[:1] == ["-m"] and len(words) > 1:
        module, arguments = words[1], words[2:]
    elif words and words[0].endswith(".py"):
        module, arguments = words[0][:-3].replace("/", "."), words[1:]
    else:
        return None
    if PLACEHOLDER.search(module):
        return None
    if any(PLACEHOLDER.search(word) for word in arguments):
        arguments = ["--help"]
    return module, arguments


CHILD = r"""
import argparse, contextlib, io, json, runpy, signal, sys
class Parsed(Exception):
    pass
class NoParser(Exception):
    pass
def give_up(signum, frame):
    raise NoParser("no argument parser within 60 s: it seems to start work without one")
signal.signal(signal.SIGALRM, give_up)
original = argparse.ArgumentParser.parse_args
def parse_then_stop(self, *args, **kwargs):
    original(self, *args, **kwargs)
    raise Parsed
argparse.ArgumentParser.parse_args = parse_then_stop
verdicts = []
for module, argv in json.loads(sys.stdin.read()):
    sys.argv = [module] + argv
    output = io.StringIO()
    signal.alarm(60)
    try:
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        verdict = "ran to the end without parsing its arguments"
    except Parsed:
        verdict = ""
    except SystemExit as exit:
        help_asked = argv == ["--help"] and exit.code in (0, None) and "usage:" in output.getvalue()
        verdict = "" if help_asked else f"exit {exit.code}: {output.getvalue().strip()[-300:]}"
    except BaseException as error:
        verdict = f"{type(error).__name__}: {error}"
    signal.alarm(0)
    verdicts.append(verdict)
print(json.dumps(verdicts))
"""


def python_problems(commands: list[Command], root: Path = ROOT) -> list[str]:
    """Run every python command's parser in one child process (cwd root); one line per failure."""
    calls = [(command, invocation) for command in commands if command.words[0] == "python"
             for invocation in [python_invocation(command)] if invocation is not None]
    unique = list(dict.fromkeys((module, tuple(argv)) for _, (module, argv) in calls))
    child = subprocess.run([sys.executable, "-c", CHILD], input=json.dumps(unique), cwd=root,
                           capture_output=True, text=True, timeout=600)
    if child.returncode != 0:
        return [f"the command checker failed: {child.stderr.strip()[-500:]}"]
    verdicts = dict(zip(unique, json.loads(child.stdout.strip().splitlines()[-1])))
    return [f"{command.doc}: `{command.text}`: {verdicts[(module, tuple(argv))]}"
            for command, (module, argv) in calls if verdicts[(module, tuple(argv))]]


def measured_problems(path: Path) -> list[str]:
    """Sections (##) that show program output (an untagged ``` block) without a **Measured** line."""
    problems = []
    for section in re.split(r"^(?=## )", path.read_text(), flags=re.M):
        shows_output = any(language == "" for language, _ in FENCE.findall(section))
        if shows_output and not MEASURED.search(section):
            title = section.splitlines()[0] if section.startswith("## ") else "(before the first ## heading)"
            problems.append(f"{path.name}: {title}: shows output but no '**Measured** YYYY-MM-DD with `COMMAND`' line")
    return problems


def problems(files: list[Path], root: Path = ROOT) -> list[str]:
    commands = [command for path in files for command in quoted_commands(path)]
    return ([problem for path in files for problem in link_problems(path) + measured_problems(path)]
            + make_problems(commands, root) + python_problems(commands, root))


def main() -> None:
    found = problems(doc_files())
    for problem in found:
        print(problem)
    print(f"{len(found)} problem(s) in {len(doc_files())} files")
    raise SystemExit(1 if found else 0)


if __name__ == "__main__":
    main()
