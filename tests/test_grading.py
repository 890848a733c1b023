"""Self-checks of the autograder: the reference scores full points, the handout zero, mutants lose points."""
import json
import shutil
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
from tools.grade import GRADED_FILES, grade
from tools.make_fixtures import FIXTURES, PUBLIC_FIXTURES, compute, public_subset
from tools.make_handout import make_handout

# (file, reference text, mutated text, graded tests that must fail): plausible student bugs
MUTANTS = {
    "abar off by one": ("utils.py", "alphas_cumprod = torch.cumprod(alphas, dim=0)",
                        "alphas_cumprod = torch.cumprod(torch.cat([torch.ones(1, dtype=torch.float64), alphas[:-1]]), dim=0)",
                        ["test_schedule_quantities_T10[alphas_cumprod]"]),
    "noise stopped one step early": ("utils.py", "    if t == 0:\n        return mean", "    if t <= 1:\n        return mean",
                                     ["test_p_sample_first_and_last_steps[1]"]),
    "noise at the last step, sigma^2 = beta": (
        "utils.py", "    if t == 0:\n        return mean\n    if noise is None:\n"
                    "        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)\n"
                    "    return mean + extract(schedule.posterior_variance, t_batch, x).sqrt() * noise",
        "    if noise is None:\n"
        "        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)\n"
        "    return mean + extract(schedule.betas, t_batch, x).sqrt() * noise",
        ["test_p_sample_first_and_last_steps[0]", "test_p_sample_middle_step"]),
    "guidance as eps_u + w (eps_c - eps_u)": (
        "utils.py", "return (1 + guidance_weight) * eps_conditional - guidance_weight * eps_unconditional",
        "return eps_unconditional + guidance_weight * (eps_conditional - eps_unconditional)", ["test_guidance_mix"]),
    "guidance sign flipped": (
        "utils.py", "return (1 + guidance_weight) * eps_conditional - guidance_weight * eps_unconditional",
        "return (1 - guidance_weight) * eps_conditional + guidance_weight * eps_unconditional", ["test_guidance_mix"]),
    "label dropout per batch": (
        "utils.py", "dropped = torch.rand(y.shape, generator=generator, device=y.device) < drop_probability",
        "dropped = (torch.rand(1, generator=generator, device=y.device) < drop_probability).expand(y.shape)",
        ["test_label_dropout_is_per_sample_and_edges"]),
    "posterior variance = beta": (
        "utils.py", "posterior_variance = (1 - alphas_cumprod_prev) / (1 - alphas_cumprod) * betas",
        "posterior_variance = betas", ["test_schedule_quantities_T10[posterior_variance]"]),
    "GroupNorm groups wrong": ("ddpm.py", "nn.GroupNorm(32, num_channels=c1)", "nn.GroupNorm(4, num_channels=c1)",
                               ["test_unet_blocks"]),
    "cosine schedule without the clip": ("utils.py", "return betas.clamp(max=MAX_BETA)\n    # END SOLUTION",
                                         "return betas\n    # END SOLUTION", ["test_cosine_betas_T10"]),
}


def scores(report: dict) -> dict:
    return {test["name"]: (test["score"], test["max_score"], test["output"]) for test in report["tests"]}


def test_fixtures_match_the_reference():
    stored = torch.load(FIXTURES, weights_only=True)
    fresh = compute()

    def same(a, b, where):
        if isinstance(a, dict):
            assert a.keys() == b.keys(), where
            for key in a:
                same(a[key], b[key], f"{where}.{key}")
        else:
            torch.testing.assert_close(a, b, rtol=0, atol=0, msg=f"{where} drifted: run make fixtures")

    same(fresh, stored, "expected")
    same(public_subset(fresh), torch.load(PUBLIC_FIXTURES, weights_only=True), "expected_public")


def test_reference_scores_full_points(tmp_path):
    report = grade(ROOT, tmp_path / "results.json")
    assert report["score"] == sum(t["max_score"] for t in report["tests"]) >= 40
    assert all(t["status"] == "passed" for t in report["tests"])
    assert {t["visibility"] for t in report["tests"]} == {"visible", "hidden"}
    assert json.loads((tmp_path / "results.json").read_text())["execution_time"] > 0


def test_handout_scores_zero_and_says_not_implemented(tmp_path):
    make_handout(tmp_path / "handout")
    report = grade(tmp_path / "handout", tmp_path / "results.json")
    assert report["score"] == 0
    for test in report["tests"]:
        if test["max_score"] > 0:
            assert test["status"] == "failed" and test["output"].startswith("not implemented yet: "), test
        else:
            assert test["status"] == "passed", "only a 0-point environment check may pass on the handout"


def test_grading_ignores_a_submissions_own_pytest_config(tmp_path):
    for name in GRADED_FILES:
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "conftest.py").write_text("import pytest\n@pytest.fixture\ndef student():\n    raise SystemExit(1)\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = --collect-only\n")
    report = grade(tmp_path, tmp_path / "results.json")
    assert report["score"] == sum(t["max_score"] for t in report["tests"]) > 0


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_mutant_loses_points(tmp_path, mutant):
    file, original, mutated, must_fail = MUTANTS[mutant]
    for name in GRADED_FILES:
        shutil.copy(ROOT / name, tmp_path / name)
    text = (tmp_path / file).read_text()
    assert text.count(original) == 1, f"mutant {mutant!r} no longer applies to the reference"
    (tmp_path / file).write_text(text.replace(original, mutated))
    report = grade(tmp_path, tmp_path / "results.json")
    by_name = scores(report)
    assert report["score"] < sum(t["max_score"] for t in report["tests"])
    for name in must_fail:
        score, max_score, output = by_name[name]
        assert score == 0 and max_score > 0 and output, f"{mutant}: {name} should catch it"


def test_autograder_zip_grades_a_submission_without_reference_code(tmp_path):
    import stat
    import subprocess
    import zipfile

    from tools.autograder_zip import build
    archive = build(tmp_path / "autograder.zip")
    with zipfile.ZipFile(archive) as zipped:
        names = set(zipped.namelist())
        modes = {info.filename: info.external_attr >> 16 for info in zipped.infolist()}
        zipped.extractall(tmp_path / "source")
    assert {"setup.sh", "run_autograder", "grading/test_public.py", "grading/test_hidden.py",
            "grading/fixtures/expected.pt"} <= names
    assert not names & {"utils.py", "ddpm.py", "tools/make_fixtures.py", "tools/make_handout.py"}, "no reference solution"
    assert modes["run_autograder"] & stat.S_IXUSR and modes["setup.sh"] & stat.S_IXUSR
    assert "download.pytorch.org/whl/cpu" in (tmp_path / "source" / "setup.sh").read_text(), "CPU-only torch"
    # the unpacked autograder grades the reference files as a submission, on its own
    submission = tmp_path / "submission"
    submission.mkdir()
    for name in GRADED_FILES:
        shutil.copy(ROOT / name, submission / name)
    result = subprocess.run([sys.executable, "tools/grade.py", str(submission), "--results", str(tmp_path / "r.json")],
                            cwd=tmp_path / "source", capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["score"] == sum(t["max_score"] for t in report["tests"]) > 0
