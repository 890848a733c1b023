"""Check that nothing documented has rotted: links, anchors, commands, make targets and the date of
every measurement, in README.md and docs/*.md.

    python -m tools.check_docs                   # prints each problem; exit 1 if there is any
    python -m tools.check_docs --write-tables    # rewrite the generated tables from their records (make tables)

- every relative link and image resolves inside the repository, and its #anchor names a heading of
  the target (GitHub's rule: lower case, punctuation dropped, spaces to hyphens); no path in a code
  span leads out of the repository (`../`);
- every command quoted (in a ```bash block, or inline as `python ...` / `make ...`) still parses:
  a `python -m MODULE ARGS` or `python FILE.py ARGS` runs with its ARGS until its parser has
  checked them, then stops before any work (argparse.ArgumentParser.parse_args is wrapped to
  raise once it returns). A command written with placeholders (`PATH`, `N`, `[--seed S]`, `a|b`)
  runs with `--help` instead. All run in one child process, so torch is imported once;
- every `make TARGET` quoted is a target of the Makefile (for the students' guide: of the
  handout's Makefile with every option);
- every section (`##`) that shows a program's output (an untagged ``` block) has a line
  `**Measured** YYYY-MM-DD with `COMMAND``, so each quoted number says where and when it came from;
- numbers in prose come from their tables: a table named `<!-- table: NAME; pools: WHAT -->` (above
  its rows, or above a generated table's marker) says what it pools (one seed, a mean over seeds or runs, an oracle pick), and every decimal number and
  percentage between `<!-- numbers from: NAME[, NAME] -->` and `<!-- end numbers -->` appears in a
  cell of those tables (not merely in some other table of the file);
- in those answers, a sentence that says one thing beats another in dB (BEATS) puts a higher number
  of dB before the word than after it: "A (24.46 dB) beats B (24.19 dB)". A superlative ("best",
  "highest") is not checked: which rows it ranges over is said in words, not in the table;
- the instructors' points add up: the categories to the total, public and hidden to the total, and
  the total, public and hidden to the points the graded tests carry (read from grading/test_*.py);
- no students' README cut for any set of handout options says two things that contradict each other
  (CONTRADICTIONS);
- every generated table (tools/tables.py) is what its records make now;
- no paragraph of prose (REPEATED_PARAGRAPH characters or more, outside code blocks) is written twice
  in one file: a section pasted twice goes stale in one place.
"""
import argparse
import ast
import itertools
import json
import re
import shlex
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tools.student_copy import OPTIONS, STUDENT_GUIDE, students_readme
from tools.tables import doc_files, regenerated, stale_tables

ROOT = Path(__file__).resolve().parents[1]
STUDENT_GUIDE_NAME = "students.md"
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", flags=re.S | re.M)
INLINE_COMMAND = re.compile(r"(?<!`)`((?:python|make) [^`]+)`(?!`)")
MEASURED = re.compile(r"^\*\*Measured\*\* \d{4}-\d{2}-\d{2} with `[^`]+`", flags=re.M)
REPEATED_PARAGRAPH = 200
"""Characters from which a paragraph written twice in one file counts as a pasted copy."""
PLACEHOLDER = re.compile(r"[\[\]|<>()]|\.\.\.|^[A-Z][A-Z0-9_]*(=[A-Z_]+)?$")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but - and _ dropped, spaces to hyphens."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text())
    return {slug(line.lstrip("#")) for line in text.splitlines() if re.match(r"#{1,6} ", line)}


def link_problems(path: Path, root: Path = ROOT) -> list[str]:
    """Relative links that resolve nowhere, to a missing heading, or outside the repository (`root`),
    and paths in code spans that lead out of it (`../`): a reader of the repository alone has neither."""
    text = FENCE.sub("", path.read_text())
    problems = [f"{path.name}: `{span}` leads outside the repository" for span in re.findall(r"`(\.\./[^`]*)`", text)]
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.is_relative_to(root.resolve()):
            problems.append(f"{path.name}: link to {target}: outside the repository")
        elif not linked.exists():
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


def repeated_problems(path: Path) -> list[str]:
    """Each paragraph of prose, REPEATED_PARAGRAPH characters or longer, written more than once in the file."""
    paragraphs = [paragraph.strip() for paragraph in FENCE.sub("", path.read_text()).split("\n\n")]
    counts = Counter(paragraph for paragraph in paragraphs if len(paragraph) >= REPEATED_PARAGRAPH)
    return [f"{path.name}: a paragraph is written {count} times: {paragraph[:60]!r}..."
            for paragraph, count in counts.items() if count > 1]


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


RUN_WITHOUT_ARGPARSE = ("pytest",)
"""Modules that would start their work before any argparse parser stops them: checked with --help."""


def python_invocation(command: Command) -> tuple[str, list[str]] | None:
    """(module, argv) of a python command (a script's path for `python PATH.py`); argv is ['--help']
    when the command has placeholders."""
    words = command.words[1:]
    if words[:1] == ["-m"] and len(words) > 1:
        module, arguments = words[1], words[2:]
    elif words and words[0].endswith(".py"):  # a script: run as a path, its folder first on sys.path
        module, arguments = words[0], words[1:]
    else:
        return None
    if PLACEHOLDER.search(module):
        return None
    if any(PLACEHOLDER.search(word) for word in arguments) or module in RUN_WITHOUT_ARGPARSE:
        arguments = ["--help"]
    return module, arguments


CHILD = r"""
import argparse, contextlib, io, json, os, runpy, signal, sys
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
            if module.endswith(".py"):
                sys.path.insert(0, os.path.dirname(os.path.abspath(module)))
                runpy.run_path(module, run_name="__main__")
            else:
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


TABLE = re.compile(r"^<!-- table: (?P<name>[\w-]+); pools: (?P<pools>.*?) -->\n(?:<!-- generated by .* -->\n)?"
                   r"(?P<rows>(?:\|.*\|\n)+)", flags=re.M)
"""A table an answer may take numbers from: named, saying what it pools, typed or generated (tools/tables.py)."""
ANSWER = re.compile(r"<!-- numbers from: (?P<names>[\w\-, ]+) -->\n(?P<text>.*?)<!-- end numbers -->", flags=re.S)
NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+%?|%)")
"""A number an answer quotes: a decimal (23.60, 0.22) or a percentage (97%). Whole numbers (steps,
levels, counts of runs) name settings as often as they report results, so they are not checked."""
POOLS = ("one seed", "seed 0", "seed 1", "mean", "pooled", "oracle")
"""What a table's `pools:` must say, at least one of them: what each of its numbers stands for."""


BEATS = re.compile(r"\b(?:beats?|better than|higher than)\b")
DECIBELS = re.compile(r"(?<![\w.])(-?\d+\.\d+) dB\b")


def comparison_problems(sentence: str) -> list[str]:
    """A sentence that says A beats B where A's number of dB (the last quoted before the word) is not
    above B's (the first quoted after it); a side that quotes no dB is not checked."""
    problems = []
    for word in BEATS.finditer(sentence):
        before, after = DECIBELS.findall(sentence[:word.start()]), DECIBELS.findall(sentence[word.end():])
        if before and after and float(before[-1]) <= float(after[0]):
            problems.append(f"says {before[-1]} dB {word[0]} {after[0]} dB")
    return problems


def number_problems(path: Path) -> list[str]:
    """Tables that do not say what they pool, answers naming a missing table, numbers an answer quotes
    that none of its tables holds (outside code spans), and its comparisons that its numbers contradict."""
    text = path.read_text()
    tables = {match["name"]: match for match in TABLE.finditer(text)}
    problems = [f"{path.name}: table {name}: its pools ({match['pools']!r}) say neither one seed, a mean nor an oracle pick"
                for name, match in tables.items() if not any(word in match["pools"] for word in POOLS)]
    for answer in ANSWER.finditer(text):
        names = [name.strip() for name in answer["names"].split(",")]
        missing = [name for name in names if name not in tables]
        if missing:
            problems.append(f"{path.name}: an answer takes its numbers from {', '.join(missing)}, which is no table here")
            continue
        cells = {token for name in names for row in tables[name]["rows"].splitlines()
                 for token in NUMBER.findall(row)}
        prose = re.sub(r"`[^`]*`", "", answer["text"])
        for number in dict.fromkeys(NUMBER.findall(prose)):
            if number not in cells:
                problems.append(f"{path.name}: the answer from {', '.join(names)} quotes {number}, which no cell of "
                                f"{'that table' if len(names) == 1 else 'those tables'} holds")
        for sentence in re.split(r"(?<=[.;:])\s+", re.sub(r"\s+", " ", prose)):
            problems += [f"{path.name}: the answer from {', '.join(names)} {problem}: {sentence[:80]!r}"
                         for problem in comparison_problems(sentence)]
    return problems


POINTS = re.compile(r"Points \((?P<total>\d+) in all; (?P<public>\d+) public, (?P<hidden>\d+) hidden\): (?P<parts>[^.]*)\.")
HIDDEN_SHARE = re.compile(r"hidden tests \((?P<hidden>\d+) of its (?P<total>\d+) points\)")


def graded_points(root: Path = ROOT) -> dict[str, int]:
    """{"visible": points, "hidden": points} the graded tests carry: each test's
    pytest.mark.points(N, visibility=...) times the cases of its parametrize lists (read, not run)."""
    points = {"visible": 0, "hidden": 0}
    for path in sorted((root / "grading").glob("test_*.py")):
        module = ast.parse(path.read_text())
        constants = {target.id: node.value for node in module.body if isinstance(node, ast.Assign)
                     for target in node.targets if isinstance(target, ast.Name)}
        for function in (node for node in module.body if isinstance(node, ast.FunctionDef)):
            marks = {ast.unparse(decorator.func).rsplit(".", 1)[-1]: decorator for decorator in function.decorator_list
                     if isinstance(decorator, ast.Call)}
            if "points" not in marks:
                continue
            mark = marks["points"]
            visibility = next(keyword.value.value for keyword in mark.keywords if keyword.arg == "visibility")
            cases = 1
            for decorator in function.decorator_list:
                if isinstance(decorator, ast.Call) and ast.unparse(decorator.func).endswith("parametrize"):
                    values = decorator.args[1]
                    values = constants.get(values.id, values) if isinstance(values, ast.Name) else values
                    cases *= len(ast.literal_eval(values))
            points[visibility] += mark.args[0].value * cases
    return points


def points_problems(path: Path, graded: dict[str, int]) -> list[str]:
    """The instructors' `Points (N in all; P public, H hidden): category k, ...` against itself and the tests."""
    problems = []
    for match in POINTS.finditer(path.read_text()):
        total, public, hidden = int(match["total"]), int(match["public"]), int(match["hidden"])
        for category, number, parts in re.findall(r"([^,(]*?)\s*(\d+)\s*\(([^)]*)\)", match["parts"]):
            inner = sum(int(part) for part in re.findall(r"\d+", parts))
            if inner != int(number):
                problems.append(f"{path.name}: the parts of {category.strip()} {number} add up to {inner}")
        categories = [int(number) for number in re.findall(r"(\d+)\s*(?:,|$)", re.sub(r"\s*\([^)]*\)", "", match["parts"]))]
        if sum(categories) != total:
            problems.append(f"{path.name}: the point categories add up to {sum(categories)}, not the {total} stated")
        if public + hidden != total:
            problems.append(f"{path.name}: {public} public and {hidden} hidden points make {public + hidden}, not {total}")
        if (public, hidden) != (graded["visible"], graded["hidden"]):
            problems.append(f"{path.name}: the graded tests carry {graded['visible']} public and {graded['hidden']} "
                            f"hidden points, not {public} and {hidden}")
    for match in HIDDEN_SHARE.finditer(re.sub(r"\s+", " ", path.read_text())):
        if (int(match["hidden"]), int(match["total"])) != (graded["hidden"], graded["visible"] + graded["hidden"]):
            problems.append(f"{path.name}: the hidden tests carry {graded['hidden']} of "
                            f"{graded['visible'] + graded['hidden']} points, not {match['hidden']} of {match['total']}")
    return problems


CONTRADICTIONS = (("write your own figure code", "includes the course's figure code"),)
"""Pairs of sentences no students' README may hold together (one asks for what the other ships)."""


def handout_readme_problems(guide: str | None = None) -> list[str]:
    """The students' README cut for every set of handout options, against CONTRADICTIONS."""
    problems = []
    for count in range(len(OPTIONS) + 1):
        for options in itertools.combinations(sorted(OPTIONS), count):
            readme = students_readme(set(options), guide).lower()
            problems += [f"{STUDENT_GUIDE.name}: the handout README with options {list(options)} says both "
                         f"{first!r} and {second!r}" for first, second in CONTRADICTIONS if first in readme and second in readme]
    return problems


def problems(files: list[Path], root: Path = ROOT) -> list[str]:
    commands = [command for path in files for command in quoted_commands(path)]
    graded = graded_points(root)
    return ([problem for path in files for problem in link_problems(path, root) + measured_problems(path)
             + number_problems(path) + points_problems(path, graded) + repeated_problems(path)]
            + [f"{table}: differs from its records (make tables)" for table in stale_tables(files)]
            + make_problems(commands, root) + python_problems(commands, root) + handout_readme_problems())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write-tables", action="store_true",
                        help="rewrite every generated table from its records instead (make tables)")
    if parser.parse_args().write_tables:
        for path in doc_files():
            text = path.read_text()
            if regenerated(text) != text:
                path.write_text(regenerated(text))
                print(f"rewrote the generated tables of {path.relative_to(ROOT)}")
        return
    found = problems(doc_files())
    for problem in found:
        print(problem)
    print(f"{len(found)} problem(s) in {len(doc_files())} files")
    raise SystemExit(1 if found else 0)


if __name__ == "__main__":
    main()
