"""The student handout: markers replaced by TODOs, nothing of the solution left, the rest runs."""
import ast
import contextlib
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import autograder_lock
from tools.student_copy import OPTION_SECTION, OPTIONS, STUDENT_GUIDE, MarkerError, make_handout, strip_solutions, students_readme

REFERENCE = Path(__file__).resolve().parents[1]


def test_region_becomes_a_todo_at_its_indentation():
    source = textwrap.dedent("""\
        def f(x):
            y = 1
            # BEGIN SOLUTION return twice x plus y
            z = 2 * x
            return z + y
            # END SOLUTION
        """)
    text, removed = strip_solutions(source)
    assert text == textwrap.dedent("""\
        def f(x):
            y = 1
            # TODO: return twice x plus y
            raise NotImplementedError('return twice x plus y')
        """)
    assert [line.strip() for line in removed] == ["z = 2 * x", "return z + y"]
    assert "implement this part" in strip_solutions("# BEGIN SOLUTION\nx = 1\n# END SOLUTION\n")[0]


@pytest.mark.parametrize("source, message", [
    ("# BEGIN SOLUTION\nx = 1\n", "never closed"),
    ("x = 1\n# END SOLUTION\n", "without a BEGIN SOLUTION"),
    ("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION\n# END SOLUTION\n", "inside the region opened at line 1"),
])
def test_bad_markers_are_reported_with_their_line(source, message):
    with pytest.raises(MarkerError, match=message):
        strip_solutions(source, "f.py")


@pytest.fixture(scope="module")
def handout(tmp_path_factory):
    out = tmp_path_factory.mktemp("handout") / "handout"
    return out, make_handout(out)


def shipped_files(out: Path) -> set[str]:
    return {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def test_handout_has_todos_where_the_problem_set_puts_them(handout):
    out, with_todos = handout
    assert sorted(p.name for p in with_todos) == ["ddpm.py", "utils.py"]
    utils_text, ddpm_text = (out / "utils.py").read_text(), (out / "ddpm.py").read_text()
    assert utils_text.count("raise NotImplementedError(") == 7 and ddpm_text.count("raise NotImplementedError(") == 3
    for path in out.rglob("*.py"):
        text = path.read_text()
        assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
        ast.parse(text)
    # no solution line survives: the reference's key formulas are gone
    assert "(1 + guidance_weight) * eps_conditional" not in utils_text
    assert "torch.cumprod(alphas" not in utils_text
    assert "nn.GroupNorm(32" not in ddpm_text
    assert (out / "gmm.py").read_bytes() == (REFERENCE / "gmm.py").read_bytes(), "gmm.py ships untouched"


def test_default_handout_holds_no_answer(handout):
    out, _ = handout
    files = shipped_files(out)
    assert {"gmm.py", "ddpm.py", "utils.py", "train.py", "sample.py", "README.md", "Makefile", "requirements.txt",
            "grading/test_public.py", "grading/fixtures/expected_public.pt"} <= files
    assert not any(name.startswith(("viz/", "mnist_ext/", "dip_ext/", "tests/", "tools/", ".ci/")) for name in files), \
        "no figure code, no MNIST analysis, no tests, tools or CI"
    assert not files & {"grading/test_hidden.py", "grading/fixtures/expected.pt", "metrics.py"}
    hidden = [node.name for node in ast.parse((REFERENCE / "grading" / "test_hidden.py").read_text()).body
              if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")]
    for name in files:
        if name.endswith((".py", ".md", "Makefile", ".txt", ".ini")):
            text = (out / name).read_text().lower()
            for answer in ("what to observe", "for instructors", "settle", "begin solution", *hidden):
                assert answer not in text, f"{name} mentions {answer!r}"
    readme = (out / "README.md").read_text()
    assert readme == students_readme(()), "the students' README, not ours"
    assert "<!--" not in readme and "Bonus: MNIST" not in readme, "no option's section, no marker"
    for problem in ("Problem 2", "Problem 3", "Problem 4", "How to submit", "make test"):
        assert problem in readme


def _commands(out: Path) -> list[str]:
    """The shell commands of the handout's README in order, each once (its ```bash blocks, comments dropped)."""
    blocks = re.findall(r"```bash\n(.*?)```", (out / "README.md").read_text(), flags=re.S)
    lines = [line.split("#")[0].strip() for block in blocks for line in block.splitlines()]
    return list(dict.fromkeys(line for line in lines if line))


def _run(out: Path, command: str) -> subprocess.CompletedProcess:
    """Run a README command as a student would, with this interpreter standing in for .venv's python
    (`make setup` itself is the project's own set-up, which CI runs) and `make train` cut to 200
    optimiser steps (the same target and command; the full run takes half a minute)."""
    (out / ".venv").mkdir(exist_ok=True)
    (out / ".venv" / ".installed").touch()
    if command.startswith("make "):
        argv = command.split() + [f"PY={sys.executable}", "TRAIN_FLAGS=--steps 200"]
    else:
        argv = [sys.executable] + command.split()[1:] if command.startswith("python ") else command.split()
    # the handout's `make test` grades as root: it takes the gradings' turn (they share the sandbox user)
    with autograder_lock() if command == "make test" else contextlib.nullcontext():
        return subprocess.run(argv, cwd=out, capture_output=True, text=True, timeout=240)


def test_every_readme_command_says_what_to_do_before_the_todos_and_runs_after(tmp_path):
    out = tmp_path / "handout"
    make_handout(out)
    commands = _commands(out)
    assert commands[:2] == ["make setup", "make test"] and "make train" in commands
    writes_checkpoint = set()
    for command in commands[1:]:  # everything after make setup
        result = _run(out, command)
        output = result.stdout + result.stderr
        if result.returncode == 0:
            continue
        reads = re.search(r"--ckpt (\S+)", command)
        if reads and reads.group(1) in writes_checkpoint:  # the training command before it could not run
            assert f"no checkpoint at {reads.group(1)}" in output, (command, output[-2000:])
        else:
            assert "not implemented yet" in output, (command, output[-2000:])
        if command != "make test":  # pytest reports failures its own way; commands say it in one line
            assert "Traceback" not in output, (command, output[-2000:])
        if command.startswith("python train.py") and "--ckpt" in command:
            writes_checkpoint.add(re.search(r"--ckpt (\S+)", command).group(1))
    for name in ("utils.py", "ddpm.py"):  # the reference solution filled in
        shutil.copy(REFERENCE / name, out / name)
    for command in commands[1:]:
        result = _run(out, command)
        assert result.returncode == 0, (command, (result.stdout + result.stderr)[-2000:])
    assert (out / "checkpoints" / "ddpm_T50_seed0.pt").is_file() and (out / "samples" / "quick.npy").is_file()


@pytest.mark.parametrize("option", ["figures", "mnist", "dip"])
def test_each_option_ships_its_part_and_its_commands_run(tmp_path, option):
    out = tmp_path / "handout"
    with_todos = make_handout(out, options=(option,))
    files = shipped_files(out)
    readme, makefile = (out / "README.md").read_text(), (out / "Makefile").read_text()
    assert "viz/mnist.py" not in files, "the settling analysis answers the bonus question"
    if option == "figures":
        assert "viz/trajectory.py" in files and "metrics.py" in files and "make figures" in readme
        assert "figures:" in makefile
        figure = subprocess.run([sys.executable, "-m", "viz.ground_truth", "--out", "gt.png", "--n", "100"], cwd=out,
                                capture_output=True, text=True, timeout=120)
        assert figure.returncode == 0, figure.stderr
        assert (out / "gt.png").stat().st_size > 10_000
        assert not any(name.startswith("mnist_ext/") for name in files)
    elif option == "dip":
        assert "dip_ext/fit.py" in files and "tests/test_dip_todos.py" in files and not any(name.startswith("viz/") for name in files)
        assert {"test-dip:", "bench-dip:", "bench-dip-start:"} <= set(makefile.split()) and "figures-dip" not in makefile
        assert "mnist_ext/model.py" in files and "train-mnist:" in makefile, "the DIP start needs the MNIST part"
        assert sorted(p.name for p in with_todos) == ["ddpm.py", "model.py", "progressive.py", "recorrupted.py", "restore.py",
                                                      "utils.py"]
        fitted = subprocess.run([sys.executable, "-m", "dip_ext.denoise", "--image", "camera", "--sigma", "25", "--size",
                                 "16", "--iterations", "105", "--depth", "3", "--channels-down", "8", "--channels-up", "8",
                                 "--out", "dip.png"],
                                cwd=out, capture_output=True, text=True, timeout=120)
        assert fitted.returncode == 0, fitted.stderr
        assert "\nES-WMV " in fitted.stdout and (out / "dip.png").stat().st_size > 10_000
        assert "recorrupted: waits for the TODO in recorrupted.py, recorrupted: " in fitted.stdout
        # a configuration above the copy (an instructor's handout/ inside this repository) that would put the
        # reference on the path: the copy's own pytest.ini keeps its tests on its own code
        (tmp_path / "pyproject.toml").write_text(f'[tool.pytest.ini_options]\npythonpath = ["{REFERENCE}"]\n')
        public = subprocess.run([sys.executable, "-m", "pytest", "-q", "tests/test_dip_todos.py"],
                                cwd=out, capture_output=True, text=True, timeout=120)
        assert public.returncode == 1 and "NotImplementedError" in public.stdout and " passed" not in public.stdout
    else:
        assert sorted(p.name for p in with_todos) == ["ddpm.py", "model.py", "utils.py"]
        assert (out / "mnist_ext" / "model.py").read_text().count("raise NotImplementedError(") == 3
        assert "train-mnist:" in makefile and "part by part" in readme
        assert not any(name.startswith("viz/") for name in files)
        result = _run(out, "make train-mnist")  # before the TODOs: a one-line message, no traceback
        assert result.returncode != 0 and "not implemented yet" in result.stderr and "Traceback" not in result.stderr
    with pytest.raises(ValueError, match="unknown handout option"):
        make_handout(tmp_path / "other", options=("answers",))


def test_the_students_guide_has_one_section_per_option_and_the_handout_readme_is_cut_from_it():
    guide = STUDENT_GUIDE.read_text()
    sections = [part.group(2) for part in OPTION_SECTION.finditer(guide) if not part.group(1) and part.group(3).startswith("## ")]
    assert sorted(sections) == sorted(OPTIONS)
    everything = students_readme(set(OPTIONS))
    assert "<!--" not in everything and everything.count("\n## ") == guide.count("\n## ")
    mnist_only = students_readme({"mnist"})
    assert "## Bonus: MNIST" in mnist_only and "## The figures" not in mnist_only and "DDPM meets Deep" not in mnist_only
    assert "Write your own figure code" in mnist_only and "Write your own figure code" not in everything
    assert "Draw with the course's figure code" in everything and "Draw with the course's" not in mnist_only


def test_a_part_is_kept_with_its_option_or_without_it():
    guide = ("a\n<!-- handout option: x -->\nwith x\n<!-- end of handout option -->\n"
             "<!-- handout option: not x -->\nwithout x\n<!-- end of handout option -->\nb\n")
    assert students_readme({"x"}, guide) == "a\nwith x\nb\n"
    assert students_readme(set(), guide) == "a\nwithout x\nb\n"
