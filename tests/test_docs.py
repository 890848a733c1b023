"""The documentation: a short README that leads to every guide, and nothing in README.md or docs/
that has rotted (tools/check_docs.py), with a demonstration that the check catches each kind of rot."""
import re

import pytest

from tools import check_docs
from tools.check_docs import (REPEATED_PARAGRAPH, ROOT, Command, graded_points, handout_readme_problems, link_problems,
                              make_problems, measured_problems, number_problems, points_problems, problems, python_invocation,
                              python_problems, quoted_commands, repeated_problems, slug)
from tools.grading_attacks import isolation_table
from tools.student_copy import OPTIONS, STUDENT_GUIDE
from tools import tables
from tools.tables import doc_files


def test_every_link_command_make_target_and_measurement_of_the_docs_holds(committed_records):
    files = doc_files()
    linked = {ROOT / path for path in re.findall(r"\]\((docs/[\w-]+\.md)\)", (ROOT / "README.md").read_text())}
    assert files[0] == ROOT / "README.md" and set(files[1:]) == linked and files[1:] == sorted(files[1:]), \
        "the check reads the README and every guide it leads to"
    assert problems(files) == []


def test_the_check_reads_the_makefile_and_runs_the_commands_of_the_project_it_is_given(tmp_path):
    (tmp_path / "guide.md").write_text("Run `make hello`, then `python hello.py --name you` ([the script](hello.py)).\n")
    (tmp_path / "Makefile").write_text("hello:\n\techo hello\n")
    (tmp_path / "hello.py").write_text("import argparse\nparser = argparse.ArgumentParser()\nparser.add_argument('--name')\n"
                                       "parser.parse_args()\n")
    assert problems([tmp_path / "guide.md"], root=tmp_path) == []
    (tmp_path / "Makefile").write_text("goodbye:\n\techo goodbye\n")
    (tmp_path / "hello.py").write_text("import argparse\nargparse.ArgumentParser().parse_args()\n")
    found = problems([tmp_path / "guide.md"], root=tmp_path)
    assert found[0] == "guide.md: `make hello`: the Makefile has no target hello"
    assert len(found) == 2 and found[1].startswith("guide.md: `python hello.py --name you`: exit 2") and \
        "unrecognized arguments: --name you" in found[1]


def test_only_a_module_or_a_script_is_run_of_a_python_command():
    def invocation(text):
        return python_invocation(Command("guide.md", text))

    assert invocation("python -m tools.grade --all SUBMISSIONS") == ("tools.grade", ["--help"]), "a placeholder: --help"
    assert invocation("python train.py --steps 3") == ("train.py", ["--steps", "3"])
    for text in ("python -m", "python", "python -c 'print(1)'"):
        assert invocation(text) is None, text


def test_the_check_command_prints_each_problem_and_fails_on_any(monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["tools.check_docs"])
    monkeypatch.setattr(check_docs, "doc_files", lambda: [ROOT / "README.md", ROOT / "docs" / "dip.md"])
    monkeypatch.setattr(check_docs, "problems", lambda files: [f"{len(files)} files, one problem"])
    with pytest.raises(SystemExit) as ended:
        check_docs.main()
    assert ended.value.code == 1
    assert capsys.readouterr().out.splitlines() == ["2 files, one problem", "1 problem(s) in 2 files"]
    monkeypatch.setattr(check_docs, "problems", lambda files: [])
    with pytest.raises(SystemExit) as ended:
        check_docs.main()
    assert ended.value.code == 0 and capsys.readouterr().out == "0 problem(s) in 2 files\n"


def test_the_readme_is_short_and_leads_to_every_guide():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    linked = set(re.findall(r"\]\((docs/[\w-]+\.md)\)", readme))
    assert linked == {f"docs/{path.name}" for path in (ROOT / "docs").glob("*.md")}
    assert "make figures" in readme and "make test" in readme


def test_anchors_follow_githubs_rule():
    assert slug("The two-pixel model (`make bench`)") == "the-two-pixel-model-make-bench"
    assert slug("DIP speed, width and CPU use") == "dip-speed-width-and-cpu-use"
    assert slug("Example 1: DIP as the start of the reverse process (MNIST)") == \
        "example-1-dip-as-the-start-of-the-reverse-process-mnist"


BROKEN = """# A guide

## Links

[a file](no_such_file.md), [a heading](#no-such-heading), [a real one](#links), [web](https://example.org)

## Commands

```bash
python train.py --steps 3                  # parses
python train.py --steps three              # not an integer
python train.py --no-such-flag 1
python -m no_such_module
python sample.py --n N --ckpt PATH         # placeholders: checked with --help
make test
make no-such-target
```

Inline too: `python classifier.py --T 50` and `python classifier.py --T fifty`, and `python -m pytest tests`
(checked with --help: it would run the suite).

## Output

```
worst gap 0.0043
```
"""


def test_the_check_catches_each_kind_of_rot(tmp_path):
    guide = tmp_path / "guide.md"
    guide.write_text(BROKEN)
    assert link_problems(guide, root=tmp_path) == ["guide.md: link to no_such_file.md: no file no_such_file.md",
                                    "guide.md: link to #no-such-heading: guide.md has no heading #no-such-heading"]
    assert measured_problems(guide) == ["guide.md: ## Output: shows output but no '**Measured** YYYY-MM-DD with "
                                        "`COMMAND`' line"]
    guide.write_text(BROKEN.replace("```\nworst", "**Measured** 2026-11-28 with `make bench`.\n\n```\nworst"))
    assert measured_problems(guide) == []
    commands = quoted_commands(guide)
    texts = [command.text for command in commands]
    assert texts[:7] == ["python train.py --steps 3", "python train.py --steps three", "python train.py --no-such-flag 1",
                         "python -m no_such_module", "python sample.py --n N --ckpt PATH", "make test", "make no-such-target"]
    assert {"python classifier.py --T 50", "python classifier.py --T fifty", "python -m pytest tests",
            "make bench"} <= set(texts[7:])
    assert make_problems(commands) == ["guide.md: `make no-such-target`: the Makefile has no target no-such-target"]
    found = python_problems(commands)
    assert len(found) == 4, found
    assert "`python train.py --steps three`: exit 2" in found[0] and "invalid int value: 'three'" in found[0]
    assert "`python train.py --no-such-flag 1`: exit 2" in found[1] and "unrecognized arguments" in found[1]
    assert "`python -m no_such_module`: ImportError" in found[2]
    assert "`python classifier.py --T fifty`: exit 2" in found[3]


ANSWERED = """# Study

<!-- table: gaps; pools: mean over seeds 0-2 -->
| rule | gap |
|---|---|
| a | 0.22 / 1.00, 97% |

<!-- numbers from: gaps -->
Rule a stops 0.22 dB below the peak on average, 1.00 dB at worst, within 1 dB on 97% of 36 runs.
<!-- end numbers -->
"""


def test_the_check_finds_an_answers_number_that_its_table_does_not_hold(tmp_path):
    guide = tmp_path / "guide.md"
    guide.write_text(ANSWERED)
    assert number_problems(guide) == []
    guide.write_text(ANSWERED.replace("on average, 1.00", "on average, 1.02").replace("97% of", "95% of"))
    assert number_problems(guide) == ["guide.md: the answer from gaps quotes 1.02, which no cell of that table holds",
                                      "guide.md: the answer from gaps quotes 95%, which no cell of that table holds"]
    guide.write_text(ANSWERED.replace("numbers from: gaps", "numbers from: gaps, steps"))
    assert number_problems(guide) == ["guide.md: an answer takes its numbers from steps, which is no table here"]
    guide.write_text(ANSWERED.replace("pools: mean over seeds 0-2", "pools: the study"))
    assert number_problems(guide) == ["guide.md: table gaps: its pools ('the study') say neither one seed, a mean "
                                      "nor an oracle pick"]
    guide.write_text(ANSWERED.replace("Rule a stops", "`--seed 3.14` Rule a stops"))
    assert number_problems(guide) == [], "a number inside a code span is a command, not a result"


def test_the_check_takes_an_answers_numbers_only_from_the_tables_it_names(tmp_path):
    other = ANSWERED + "\n<!-- table: steps; pools: one seed -->\n| steps | PSNR |\n|---|---|\n| 5 | 1.02 |\n"
    guide = tmp_path / "guide.md"
    guide.write_text(other.replace("on average, 1.00", "on average, 1.02"))
    assert number_problems(guide) == ["guide.md: the answer from gaps quotes 1.02, which no cell of that table holds"], \
        "1.02 is in the table steps, which the answer does not name"
    guide.write_text(other.replace("on average, 1.00", "on average, 1.02").replace("numbers from: gaps", "numbers from: gaps, steps"))
    assert number_problems(guide) == []
    generated = other.replace("pools: one seed -->\n", "pools: one seed -->\n<!-- generated by tools/tables.py: steps -->\n")
    guide.write_text(generated.replace("on average, 1.00", "on average, 1.02").replace("numbers from: gaps", "numbers from: gaps, steps"))
    assert number_problems(guide) == [], "a generated table under its name holds numbers too"
    guide.write_text(generated.replace("on average, 1.00", "on average, 1.03").replace("numbers from: gaps", "numbers from: gaps, steps"))
    assert number_problems(guide) == ["guide.md: the answer from gaps, steps quotes 1.03, which no cell of those tables holds"]


COMPARED = """<!-- table: psnr; pools: mean over seeds 0-2 -->
| method | PSNR |
|---|---|
| DIP alone | 24.46 |
| combination | 24.19 |

<!-- numbers from: psnr -->
DIP alone (24.46 dB) beats the combination (24.19 dB). Both are means.
<!-- end numbers -->
"""


def test_the_check_finds_a_comparison_that_the_compared_rows_contradict(tmp_path):
    guide = tmp_path / "guide.md"
    guide.write_text(COMPARED)
    assert number_problems(guide) == []
    guide.write_text(COMPARED.replace("DIP alone (24.46 dB) beats the combination (24.19 dB)",
                                      "The combination (24.19 dB) beats DIP alone (24.46 dB)"))
    assert number_problems(guide) == ["guide.md: the answer from psnr says 24.19 dB beats 24.46 dB: 'The combination "
                                      "(24.19 dB) beats DIP alone (24.46 dB).'"]
    guide.write_text(COMPARED.replace("beats the combination (24.19 dB)", "is better than\nthe combination (24.46 dB)"))
    assert number_problems(guide) == ["guide.md: the answer from psnr says 24.46 dB better than 24.46 dB: 'DIP alone "
                                      "(24.46 dB) is better than the combination (24.46 dB).'"], "a tie beats nothing"
    guide.write_text(COMPARED.replace("DIP alone (24.46 dB) beats", "DIP alone beats"))
    assert number_problems(guide) == [], "a side without a number of dB is not compared"


POINTS = "Points (10 in all; 6 public, 4 hidden): schedule 3, loss 2, U-Net 5 (layer types 2, forward 3).\n"


def test_the_check_finds_a_section_pasted_twice_and_only_that(tmp_path):
    paragraph = "The default stays at 4,000 steps: " + "the shorter recipe loses Frechet distance. " * 5
    short, code = "Every bar is met.", "```\n" + paragraph + "\n```"
    guide = tmp_path / "guide.md"
    guide.write_text(f"# A\n\n{paragraph}\n\n{short}\n\n{code}\n\n## B\n\n{short}\n\n{code}\n")
    assert repeated_problems(guide) == [], "short sentences and program output may repeat"
    guide.write_text(f"# A\n\n{paragraph}\n\n## B\n\n{paragraph}\n\n## C\n\n{paragraph}\n")
    assert repeated_problems(guide) == [f"guide.md: a paragraph is written 3 times: {paragraph[:60]!r}..."]
    guide.write_text(f"# A\n\n{paragraph}\n\n## B\n\n{paragraph}\n")
    assert repeated_problems(guide) == [f"guide.md: a paragraph is written 2 times: {paragraph[:60]!r}..."]
    guide.write_text(f"# A\n\n{paragraph}\n{code}\n\n## B\n\n{paragraph}\n")
    assert repeated_problems(guide) == [f"guide.md: a paragraph is written 2 times: {paragraph[:60]!r}..."], \
        "the prose is compared without the code that follows it"
    shortest = "x" * REPEATED_PARAGRAPH
    guide.write_text(f"{shortest}\n\n{shortest}\n\n{shortest[1:]}\n\n{shortest[1:]}\n")
    assert repeated_problems(guide) == [f"guide.md: a paragraph is written 2 times: {shortest[:60]!r}..."], \
        f"{REPEATED_PARAGRAPH} characters count, one fewer does not"


def test_the_check_finds_points_that_do_not_add_up(tmp_path):
    guide = tmp_path / "guide.md"
    guide.write_text(POINTS)
    graded = {"visible": 6, "hidden": 4}
    assert points_problems(guide, graded) == []
    guide.write_text(POINTS.replace("U-Net 5 (layer types 2, forward 3)", "U-Net 6 (layer types 2, forward 3)"))
    assert points_problems(guide, graded) == ["guide.md: the parts of U-Net 6 add up to 5",
                                              "guide.md: the point categories add up to 11, not the 10 stated"]
    guide.write_text(POINTS.replace("6 public", "5 public"))
    assert points_problems(guide, graded) == ["guide.md: 5 public and 4 hidden points make 9, not 10",
                                              "guide.md: the graded tests carry 6 public and 4 hidden points, not 5 and 4"]
    guide.write_text("The autograder also runs hidden tests (4 of its\n10 points).")
    assert points_problems(guide, graded) == []
    guide.write_text("The autograder also runs hidden tests (5 of its 10 points).")
    assert points_problems(guide, graded) == ["guide.md: the hidden tests carry 4 of 10 points, not 5 of 10"]
    guide.write_text("The autograder also runs hidden tests (5 of its\n10 points).")
    assert points_problems(guide, graded) == ["guide.md: the hidden tests carry 4 of 10 points, not 5 of 10"], \
        "a sentence broken across lines is read whole"


def test_the_points_are_read_from_each_tests_mark_times_its_cases(tmp_path):
    (tmp_path / "grading").mkdir()
    (tmp_path / "grading" / "test_public.py").write_text(
        "import pytest\nCASES = [1, 2, 3]\n\n"
        "@pytest.mark.points(2, visibility='visible')\n@pytest.mark.parametrize('x', CASES)\n"
        "@pytest.mark.parametrize('y', ['a', 'b'])\ndef test_a(x, y):\n    pass\n\n"
        "@pytest.mark.points(3, visibility='hidden')\ndef test_b():\n    pass\n\ndef test_unmarked():\n    pass\n")
    assert graded_points(tmp_path) == {"visible": 12, "hidden": 3}


def test_the_check_finds_a_handout_readme_that_contradicts_itself():
    guide = STUDENT_GUIDE.read_text()
    assert handout_readme_problems(guide) == []
    planted = guide.replace("<!-- handout option: not figures -->\nWrite your own figure code", "Write your own figure code")
    found = handout_readme_problems(planted)
    assert found and all("says both 'write your own figure code' and \"includes the course's figure code\"" in problem
                         for problem in found)
    assert all("'figures'" in problem for problem in found), "only the READMEs that ship the figure code"
    assert len(found) == 2 ** (len(OPTIONS) - 1), "every set of options that holds figures, all of them included"


def test_the_students_python_loads_a_checkpoint_and_samples_it(tiny_checkpoint):
    """The students' guide's Python block, run as written with the tiny checkpoint in place of make train's."""
    guide = STUDENT_GUIDE.read_text()
    blocks = re.findall(r"```python\n(.*?)```", guide, flags=re.S)
    assert len(blocks) == 1 and len(blocks[0].strip().splitlines()) == 4
    namespace = {}
    exec(blocks[0].replace("checkpoints/ddpm_T50_seed0.pt", str(tiny_checkpoint)), namespace)
    assert namespace["x"].shape == (1000, 2)


def test_the_isolation_table_is_the_one_the_isolation_test_measures():
    """docs/instructors.md shows KEPT_OUT, which tests/test_grading_isolation.py checks cell by cell."""
    assert isolation_table() in (ROOT / "docs" / "instructors.md").read_text()


def test_make_tables_rewrites_each_generated_table_and_the_check_names_a_hand_edited_one(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(tables.GENERATORS, "squares", lambda arguments: "| n | squared |\n|---|---|\n" + "\n".join(
        f"| {n} | {int(n) ** 2} |" for n in arguments))
    guide = tmp_path / "docs" / "guide.md"
    guide.parent.mkdir()
    (tmp_path / "README.md").write_text("# Read me\n")
    (tmp_path / "Makefile").write_text("")
    guide.write_text("<!-- generated by tools/tables.py: squares 2 3 -->\n| n | squared |\n|---|---|\n| 2 | 4 |\n| 3 | 8 |\n")
    monkeypatch.setattr(check_docs, "ROOT", tmp_path)
    monkeypatch.setattr(check_docs, "doc_files", lambda: tables.doc_files(tmp_path))
    assert [problem for problem in problems(tables.doc_files(tmp_path), root=tmp_path) if "squares" in problem] == [
        "guide.md: squares 2 3: differs from its records (make tables)"]
    monkeypatch.setattr("sys.argv", ["tools.check_docs", "--write-tables"])
    check_docs.main()
    assert guide.read_text().endswith("| 3 | 9 |\n") and capsys.readouterr().out == "rewrote the generated tables of docs/guide.md\n"
    check_docs.main()
    assert capsys.readouterr().out == "", "a table already its records is left alone"


def test_the_check_finds_a_link_or_path_that_leads_outside_the_repository(tmp_path):
    repository = tmp_path / "repository"
    (repository / "docs").mkdir(parents=True)
    (tmp_path / "outside.md").write_text("# Outside\n")
    guide = repository / "docs" / "guide.md"
    guide.write_text("See [the homework](../../outside.md) and `../shared/homework.md`; [the README](../README.md).\n")
    (repository / "README.md").write_text("# Read me\n")
    assert link_problems(guide, root=repository) == [
        "guide.md: `../shared/homework.md` leads outside the repository",
        "guide.md: link to ../../outside.md: outside the repository"], "the file exists, but not in the repository"


TWO_TABLES = """<!-- table: psnr; pools: mean over seeds 0-2 -->
| method | PSNR |
|---|---|
| a | 24.46 |
| b | 24.50 |

<!-- table: ssim; pools: one seed -->
| method | SSIM |
|---|---|
| a | 0.81 |

<!-- numbers from: gaps -->
Nothing here.
<!-- end numbers -->

<!-- numbers from: psnr, ssim -->
Method a reaches 24.46 dB and an SSIM of 0.81, or 0.82 by `--seed`1.50; a first method that beats nothing at
all in this long sentence, which runs on well past eighty characters (24.46 dB) beats the second (24.50 dB).
<!-- end numbers -->
"""


def test_each_answer_is_checked_and_named_by_all_its_tables(tmp_path):
    """An answer that names a missing table does not stop the next from being checked; a problem names
    every table of its answer; a number just after a code span is prose; a long sentence is cut at 80."""
    guide = tmp_path / "guide.md"
    guide.write_text(TWO_TABLES)
    sentence = ("a first method that beats nothing at all in this long sentence, which runs on well past eighty "
                "characters (24.46 dB) beats the second (24.50 dB).")
    assert number_problems(guide) == [
        "guide.md: an answer takes its numbers from gaps, which is no table here",
        "guide.md: the answer from psnr, ssim quotes 0.82, which no cell of those tables holds",
        "guide.md: the answer from psnr, ssim quotes 1.50, which no cell of those tables holds",
        f"guide.md: the answer from psnr, ssim says 24.46 dB beats 24.50 dB: {sentence[:80]!r}"]
    guide.write_text(TWO_TABLES.replace("numbers from: gaps", "numbers from: gaps, steps"))
    assert number_problems(guide)[0] == "guide.md: an answer takes its numbers from gaps, steps, which is no table here"


def test_a_link_after_a_web_link_is_checked_too(tmp_path):
    guide = tmp_path / "guide.md"
    guide.write_text("[web](https://example.org) then [a file](no_such_file.md)\n")
    assert link_problems(guide, root=tmp_path) == ["guide.md: link to no_such_file.md: no file no_such_file.md"]


def test_each_tools_commands_help_shows_its_docstring_as_written_and_every_options_help(monkeypatch):
    """`python -m tools.X --help` is the tool's documentation: its docstring with its lines as written
    (the usage examples), then each option with the help and placeholder its source gives it. Each
    main() runs here, in this process, with --help (so mutation testing sees which tests run it)."""
    import ast
    import contextlib
    import importlib
    import io
    import signal
    commands = {f"tools.{path.stem}": path for path in sorted((ROOT / "tools").glob("*.py"))
                if 'if __name__ == "__main__":' in path.read_text() and "argparse" in path.read_text()}
    assert {"tools.grade", "tools.graders", "tools.check_docs", "tools.mutants", "tools.bench_suite"} <= set(commands)
    shown = {}
    handlers = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    for module in commands:
        monkeypatch.setattr("sys.argv", [module, "--help"])
        output = io.StringIO()
        try:
            with contextlib.redirect_stdout(output), pytest.raises(SystemExit):
                importlib.import_module(module).main()
        finally:
            for number, handler in handlers.items():
                signal.signal(number, handler)
        shown[module] = output.getvalue()
    for module, path in commands.items():
        source = ast.parse(path.read_text())
        assert ast.get_docstring(source, clean=False).strip() in shown[module], module
        copies = [node for node in ast.walk(source) if isinstance(node, ast.FunctionDef)
                  and re.search(r"__mutmut_\d+$", node.name)]  # mutation testing's mutated copies, not the source as written
        in_copies = {id(inner) for copy in copies for inner in ast.walk(copy)}
        written = [(keyword.arg, keyword.value.value) for node in ast.walk(source) if isinstance(node, ast.Call)
                   and id(node) not in in_copies and getattr(node.func, "attr", None) == "add_argument"
                   for keyword in node.keywords if keyword.arg in ("help", "metavar")
                   and isinstance(keyword.value, ast.Constant) and "%" not in keyword.value.value]
        for _, text in written:  # as a whole: a word glued to either end is another text
            assert f" {' '.join(text.split())} " in f" {' '.join(shown[module].split())} ", (module, text)
