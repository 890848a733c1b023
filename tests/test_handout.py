"""The student handout: markers replaced by TODOs, nothing of the solution left, the rest runs."""
import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tools.make_handout import MarkerError, make_handout, strip_solutions

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


def test_handout_has_todos_where_the_problem_set_puts_them(handout):
    out, with_todos = handout
    assert sorted(p.name for p in with_todos) == ["ddpm.py", "model.py", "utils.py"]
    assert (out / "mnist_ext" / "model.py").read_text().count("raise NotImplementedError(") == 3, "the MNIST bonus' U-Net"
    utils_text, ddpm_text = (out / "utils.py").read_text(), (out / "ddpm.py").read_text()
    assert utils_text.count("raise NotImplementedError(") >= 7 and ddpm_text.count("raise NotImplementedError(") == 3
    for path in out.rglob("*.py"):
        text = path.read_text()
        assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
        ast.parse(text)
    # no solution line survives: the reference's key formulas are gone
    assert "(1 + guidance_weight) * eps_conditional" not in utils_text
    assert "torch.cumprod(alphas" not in utils_text
    assert "nn.GroupNorm(32" not in ddpm_text


def test_handout_ships_no_tests_tools_or_ci(handout):
    out, _ = handout
    shipped = {p.relative_to(out).parts[0] for p in out.rglob("*")}
    assert not shipped & {"tests", "tools", ".ci", "checkpoints", "figures", "handout"}
    assert {"gmm.py", "ddpm.py", "utils.py", "train.py", "viz", "README.md", "Makefile", "grading"} <= shipped
    grading = {p.name for p in (out / "grading").rglob("*") if p.is_file()}
    assert "test_public.py" in grading and "expected_public.pt" in grading
    assert not grading & {"test_hidden.py", "expected.pt"}, "hidden tests and their expected values stay private"


def test_handout_imports_and_its_complete_parts_run(handout):
    out, _ = handout
    script = textwrap.dedent("""\
        import gmm, ddpm, utils, metrics, samplers, train, sample, classifier, mnist_ext.train, viz.mnist
        x, y = gmm.problem_gmm(n_samples=100).sample(10)
        assert x.shape == (10, 1, 2)
        try:
            utils.Schedule.make("cosine", 10)
        except NotImplementedError as error:
            print("TODO:", error)
        else:
            raise SystemExit("the handout's schedule should be a TODO")
        """)
    result = subprocess.run([sys.executable, "-c", script], cwd=out, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "TODO: compute the cosine schedule's betas" in result.stdout
    figure = subprocess.run([sys.executable, "-m", "viz.ground_truth", "--out", "gt.png", "--n", "100"], cwd=out,
                            capture_output=True, text=True, timeout=120)
    assert figure.returncode == 0, figure.stderr
    assert (out / "gt.png").stat().st_size > 10_000
