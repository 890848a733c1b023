"""tools/bench.py: the benchmark's measurement, judged on the exact denoiser and on one with the wrong weights."""
import argparse
import math
import subprocess
from dataclasses import replace

import pytest
import torch

import records
import tools.bench as bench
from gmm import GMM, PROBLEM_MEANS, PROBLEM_STD, problem_gmm
from metrics import mode_statistics
from recipe import TrainConfig
from utils import Schedule

SCHEDULE = Schedule.make("cosine", 50)


@pytest.fixture(scope="module")
def setting():
    gmm = problem_gmm(n_samples=1)
    exact = gmm.exact_denoiser(SCHEDULE.alphas_cumprod)
    return gmm, exact, bench.Reference.draw(gmm, exact, SCHEDULE, n=1_000, sets=4)


def test_the_reference_pools_its_sets(setting):
    gmm, exact, reference = setting
    assert len(reference.sets) == 4 and all(x.shape == (1_000, 2) for x in reference.sets)
    pooled = mode_statistics(gmm, torch.cat(reference.sets))
    assert reference.weight == pooled.weights[0] and reference.stds == pooled.stds
    assert not torch.equal(reference.sets[0], reference.sets[1]), "each set has its own seed"


def test_the_exact_denoiser_reads_as_noise_and_its_standard_errors_are_honest(setting):
    """Judged against the reference with other draws, the exact denoiser's gap and energy excess
    are noise: over 24 runs against one reference the judged weights spread by the judged side's
    share of gap_se (1 / sqrt 2 of it), gap / gap_se stays within a few units, and the energy ratio
    within 0.3 of 1 (its jackknife error overstates that)."""
    gmm, exact, reference = setting
    runs = [bench.judge(exact, gmm, SCHEDULE, reference, base_seed=10_000 + 100 * i) for i in range(24)]
    judged_se = runs[0]["gap_se"] / math.sqrt(2)
    assert 0.6 * judged_se < float(torch.tensor([r["weights"] for r in runs]).std()) < 1.4 * judged_se
    assert max(r["gap"] / r["gap_se"] for r in runs) < 4
    assert all(abs(r["energy"] - 1) < 0.3 and r["energy_se"] > 0 for r in runs), "a perfect model reads the floor"
    assert all(abs(ratio - 1) < 0.08 for r in runs for ratio in r["std_ratios"]), "3 sd at 1,400 points a mode"


def test_a_model_with_the_wrong_weights_fails_the_gap_and_energy_bars(setting):
    """The exact denoiser of the mixture with weights 0.30/0.70: its first-mode weight moves by about
    0.05 (the sampler's discretisation moves both alike), far past both bars."""
    gmm, _, reference = setting
    wrong_mixture = GMM(PROBLEM_MEANS, (PROBLEM_STD, PROBLEM_STD), (0.30, 0.70), n_samples=1)
    wrong = wrong_mixture.exact_denoiser(SCHEDULE.alphas_cumprod)
    result = bench.judge(wrong, gmm, SCHEDULE, reference, base_seed=50_000)
    assert result["weights"] - result["exact_weights"] == pytest.approx(-0.05, abs=5 * result["gap_se"])
    assert result["gap"] > bench.BARS["gap"] and result["energy"] > 2 * bench.BARS["energy"]


def test_in_mode_counts_labelled_samples_in_their_own_mode(setting):
    gmm, exact, _ = setting

    class SwapsLabels:
        """The exact conditional denoiser asked for the other label: every sample lands in the wrong mode."""
        null_label = exact.null_label

        def __call__(self, x_t, t, y):
            return exact(x_t, t, torch.where(y < 2, 1 - y, y))

    assert bench.in_mode(exact, gmm, SCHEDULE, 2_000) > 0.99
    assert bench.in_mode(SwapsLabels(), gmm, SCHEDULE, 2_000) < 0.01


@pytest.mark.parametrize("text, expected", [("label_dropout=0.5", ("label_dropout", 0.5)),
                                            ("steps=100", ("steps", 100)),
                                            ("channels=16,32", ("channels", (16, 32))),
                                            ("zero_output=False", ("zero_output", False)),
                                            ("zero_output=true", ("zero_output", True))])
def test_overrides_are_typed_like_the_config_field(text, expected):
    name, value = bench.parse_override(text)
    assert (name, value) == expected and type(value) is type(expected[1])


def test_an_unknown_override_names_the_fields():
    with pytest.raises(argparse.ArgumentTypeError, match="unknown TrainConfig field 'dropout'.*label_dropout"):
        bench.parse_override("dropout=0.5")
    with pytest.raises(argparse.ArgumentTypeError, match="expected true or false, got 'no'"):
        bench.parse_override("zero_output=no")


def test_main_prints_a_row_per_seed_the_exact_row_and_the_verdict(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench, "CHECKPOINT_DIR", tmp_path)
    monkeypatch.setattr("sys.argv", ["bench", "--seeds", "0", "1", "--sets", "2", "--n", "300",
                                     "--set", "steps=20", "--set", "n_data=1000", "--pairs", "0"])
    bench.main()
    lines = capsys.readouterr().out.splitlines()
    assert "20 steps; changed from the defaults: steps = 20, n_data = 1000; 2 sets of 300 samples" in lines[0]
    rows = [line.split() for line in lines if line.split()[:1] in (["0"], ["1"], ["exact"])]
    assert [r[0] for r in rows] == ["0", "1", "exact"]
    assert all(len(r) == 11 for r in rows[:2]) and rows[2][1:3] == ["-", "-"]
    assert sorted(p.name for p in (tmp_path / "bench").iterdir()) == ["seed0.pt", "seed1.pt"]
    assert lines[-1].startswith("bars met: gap ") and "seconds yes" in lines[-1]
    written = records.read("two-pixel")
    assert [(line["row"]["kind"], line["row"].get("seed")) for line in written] == [("seed", 0), ("seed", 1), ("exact", None)]
    assert {line["row"]["run"] for line in written} == {written[0]["row"]["run"]}, "one run"
    assert written[0]["command"] == "python -m tools.bench --seeds 0 1 --sets 2 --n 300 --set steps=20 --set n_data=1000 --pairs 0"
    first = written[0]["row"]
    assert first["recipe"] == replace(TrainConfig(), steps=20, n_data=1000).recipe() and first["recipe"]["steps"] == 20
    assert (first["n"], first["sets"], first["bars"]) == (300, 2, bench.BARS)
    for line, printed in zip(written, rows):
        assert f"{line['row']['gap']:.4f}" == printed[5] and f"{line['row']['energy']:.2f}" == printed[8], \
            "the record holds what was printed, at full precision"


def test_the_paired_wall_times_alternate_the_two_defaults_and_give_their_ratio(tmp_path, monkeypatch, capsys):
    run = []

    def stand_in(arguments, ckpt):
        run.append(arguments)
        return 20.0 if arguments == () else 32.0

    monkeypatch.setattr(bench, "CHECKPOINT_DIR", tmp_path)
    monkeypatch.setattr(bench, "command_seconds", stand_in)
    monkeypatch.setattr("sys.argv", ["bench", "--seeds", "0", "--sets", "2", "--n", "300", "--set", "steps=20",
                                     "--set", "n_data=1000", "--pairs", "2"])
    bench.main()
    assert run == [(), bench.PREVIOUS_DEFAULT] * 2
    pairs = [line["row"] for line in records.read("two-pixel") if line["row"]["kind"] == "pair"]
    assert [(pair["default seconds"], pair["previous seconds"], pair["previous"]) for pair in pairs] == \
        [(20.0, 32.0, ["--steps", "3000"])] * 2
    lines = capsys.readouterr().out.splitlines()
    assert lines[-3:] == ["   20.0 s  against   32.0 s   ratio 0.62", "   20.0 s  against   32.0 s   ratio 0.62",
                          "ratio this / previous default: 0.62-0.62 over 2 pairs (mean 0.62)"]


def test_a_wall_time_is_that_of_a_fresh_train_py_process(tmp_path):
    assert bench.command_seconds(("--help",), tmp_path / "w.pt") > 0.3  # a new interpreter importing torch
    with pytest.raises(subprocess.CalledProcessError):  # a command that fails is no time
        bench.command_seconds(("--steps", "0"), tmp_path / "w.pt")


def test_fewer_than_two_sets_is_refused(monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["bench", "--sets", "1"])
    with pytest.raises(SystemExit):
        bench.main()
    assert "--sets and --n must be at least 2" in capsys.readouterr().err
