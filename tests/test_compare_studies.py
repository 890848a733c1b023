"""tools/compare_studies.py on synthetic runs whose differences are known, and the study's policy."""
import json

import numpy as np
import pytest

from dip_ext import run_study
from dip_ext.fit import WMV_WINDOW
from tools import compare_studies


def _case(image: str, seed: int, shift: float) -> dict:
    """A case whose plain curves peak at iteration 20 with 30 + shift dB (1 dB lower on the raw
    output); its rules stop at 5, 6 and 20."""
    k = np.arange(60)
    averaged = 30 + shift - np.abs(k - 20) * 0.1
    signals = {"psnr": averaged.tolist(), "psnr_raw": (averaged - 1).tolist(), "ssim": [0.5] * 60, "ssim_raw": [0.5] * 60}
    rules = {rule: {output: {"fit": "plain", "index": index, "psnr": signals["psnr" + suffix][index], "ssim": 0.5,
                             "plateau": 1} for output, suffix in (("averaged", ""), ("raw", "_raw"))} | {"fits": 1, "seconds": 1.0}
             for rule, index in (("discrepancy", 5), ("ES-WMV", 6), ("recorrupted", 20))}
    return {"key": f"{image}|25|{seed}", "image": image, "sigma": 25.0, "seed": seed,
            "plain": {"signals": signals, "seconds": 1.0, "twin_seconds": 0.0}, "rules": rules}


def _write(path, shifts: dict) -> None:
    path.write_text("".join(json.dumps(_case(image, seed, shift)) + "\n" for (image, seed), shift in shifts.items()))


def test_differences_are_taken_case_by_case(tmp_path, capsys):
    shifts = {("a", 0): 0.0, ("b", 0): 0.0, ("a", 1): 0.0, ("c", 0): 0.0}
    moved = {("a", 0): 0.2, ("b", 0): -0.1, ("a", 1): 0.05, ("d", 0): 9.0}  # c and d are in one file only
    _write(tmp_path / "first.jsonl", shifts)
    _write(tmp_path / "second.jsonl", moved)
    rows = {row["quantity"]: row for row in compare_studies.compare(
        compare_studies.read_cases(tmp_path / "first.jsonl"), compare_studies.read_cases(tmp_path / "second.jsonl"))}
    assert set(rows) == {f"{name}, {output}" for name in ("peak", "fixed count", "discrepancy", "ES-WMV", "recorrupted")
                         for output in ("averaged", "raw")}
    differences = np.array([0.2, -0.1, 0.05])  # every PSNR of a case moves by its shift
    for row in rows.values():
        assert row["cases"] == 3
        assert row["mean"] == pytest.approx(differences.mean())
        assert row["se"] == pytest.approx(differences.std(ddof=1) / np.sqrt(3))
        assert (row["min"], row["max"]) == pytest.approx((-0.1, 0.2))
    compare_studies.main([str(tmp_path / "first.jsonl"), str(tmp_path / "second.jsonl"), "--tolerance", "0.01"])
    assert "| peak, raw | +0.050 | 0.087 | -0.10 / +0.20 | NO (±0.01) |" in capsys.readouterr().out


def test_files_without_shared_cases_are_refused(tmp_path):
    _write(tmp_path / "first.jsonl", {("a", 0): 0.0})
    _write(tmp_path / "second.jsonl", {("b", 0): 0.0})
    with pytest.raises(SystemExit, match="share 0 case"):
        compare_studies.main([str(tmp_path / "first.jsonl"), str(tmp_path / "second.jsonl")])
    (tmp_path / "bad.jsonl").write_text("not json\n")
    with pytest.raises(SystemExit, match="is not a runs file"):
        compare_studies.main([str(tmp_path / "bad.jsonl"), str(tmp_path / "first.jsonl")])


def test_the_study_records_its_speed_policy_and_keeps_policies_apart(tmp_path, capsys):
    runs = tmp_path / "runs.jsonl"
    argv = ["--images", "camera", "--sigmas", "50", "--seeds", "0", "--size", "16", "--iterations", str(WMV_WINDOW + 2),
            "--workers", "0", "--runs", str(runs), "--depth", "3", "--channels-down", "16", "--channels-up", "16"]
    run_study.run_command(run_study.parser(), run_study.main, argv + ["--precision", "bfloat16"])
    assert json.loads(runs.read_text())["settings"]["speed"]["precision"] == "bfloat16"
    run_study.run_command(run_study.parser(), run_study.main, argv + ["--precision", "float32"])
    assert "0 of 1 cases already" in capsys.readouterr().out, "a case of another policy is not reused"
    cases = [json.loads(line) for line in runs.read_text().splitlines()]
    assert [case["settings"]["speed"]["precision"] for case in cases] == ["bfloat16", "float32"]
    assert cases[0]["plain"]["signals"]["psnr"] != cases[1]["plain"]["signals"]["psnr"]
