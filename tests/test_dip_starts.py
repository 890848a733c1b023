"""dip_ext/starts.py and viz/dip_start.py: the corruptions, the rows of the start study, the
summary over seeds, the steps each start needs, the classifier that never saw the restored digits,
and the figures' notes."""
import numpy as np
import pytest
import torch

import dip_ext.fit
import dip_ext.starts
from dip_ext.fit import Stage
from dip_ext.images import digit_to_unit, unit_to_digit
from dip_ext.plugins import load_method
from dip_ext.recorrupted import RECORRUPTED_PATIENCE, RECORRUPTED_SCALE
from dip_ext.starts import (CORRUPTIONS, DIGIT_DIP, REFERENCE_STARTS, RULE_START, Corruption, StartSettings, best_by_steps,
                            best_tradeoffs, corrupt, digit_problems, dip_starts, methods_from_specs, plugged_starts, report,
                            run_corruption, study_digits, summarise)
from mnist_ext.recipe import load_model
from mnist_ext.scoring import DigitClassifier, first_of_each_class
from utils import Schedule
from viz.dip_start import figure_entries, grid_observations, rmse_observations, t0_observations

SCHEDULE = Schedule.make("cosine", 200)
TINY = StartSettings(dip_iterations=(3, 6), t0_fractions=(0.1, 0.5), steps=(2, 6), grid_t0_fraction=0.1, grid_steps=2)


def test_corruptions_remove_and_noise_what_they_say():
    clean = np.full((28, 28), 0.5)
    noisy, mask = corrupt(clean, Corruption("n", sigma=51.0), torch.Generator().manual_seed(0))
    assert mask is None and np.std(noisy - clean) * 255 == pytest.approx(51.0, rel=0.08)
    draws = torch.randn((28, 28), generator=torch.Generator().manual_seed(0), dtype=torch.float64).numpy()
    np.testing.assert_allclose(noisy - clean, draws * 51.0 / 255, rtol=0, atol=1e-12)  # sigma on the 0..255 scale
    observed, mask = corrupt(clean, Corruption("lower", lower_half=True), torch.Generator().manual_seed(0))
    assert np.all(mask[:14] == 1) and np.all(mask[14:] == 0)
    assert np.array_equal(observed, clean * mask)
    observed, mask = corrupt(clean, Corruption("random", missing=0.5), torch.Generator().manual_seed(0))
    assert 0.42 < mask.mean() < 0.58 and np.all(observed[mask == 0] == 0) and np.all(observed[mask == 1] == 0.5)


@pytest.mark.parametrize("corruption", [Corruption("noise", sigma=50.0), Corruption("holes", missing=0.5)])
def test_dip_alone_keeps_each_digits_snapshots_and_charges_each_k_its_share_of_the_fit(monkeypatch, corruption):
    """Stand-in fits (4 s each): "DIP k" is each digit's averaged output after k iterations of one fit
    of max(k) iterations, charged k / max(k) of that fit's seconds per digit; digit i is fitted with
    seed + i, its mask, and (for noise) the sigma estimated from it."""
    calls = []

    def stand_in_fit(observation, config, stages, *, mask=None, sigma=None, seed=0, snapshot_every=0, progress=True,
                     keep_snapshots=None, regulariser=None):
        calls.append({"observation": observation, "config": config, "stages": stages, "mask": mask, "sigma": sigma,
                      "seed": seed, "kept": keep_snapshots and set(keep_snapshots(None)), "regulariser": regulariser})
        record = dip_ext.fit.FitRecord()
        record.snapshots = {k: np.full((28, 28), 10.0 * seed + k) for k in range(1, stages[0].iterations + 1)}
        record.final = np.full((28, 28), -1.0 - seed)
        record.seconds = 4.0
        return record

    monkeypatch.setattr(dip_ext.starts, "fit", stand_in_fit)
    monkeypatch.setattr(dip_ext.starts, "estimated_sigma", lambda observation: 0.2)
    observations = np.stack([np.full((28, 28), value) for value in (0.1, 0.2)])
    masks = [None, None] if not corruption.masked else [np.ones((28, 28)), np.zeros((28, 28))]
    problems = digit_problems(observations, masks, corruption, TINY, seed=5)
    starts = dip_starts(problems, TINY)
    assert list(starts) == ["DIP 3", "DIP 6"]
    for k in (3, 6):
        images, seconds = starts[f"DIP {k}"]
        assert np.array_equal(images, np.stack([np.full((28, 28), 50.0 + k), np.full((28, 28), 60.0 + k)]))
        assert seconds == pytest.approx(4.0 * k / 6)  # (4 + 4) s over 2 digits, k of the 6 iterations
    assert [call["seed"] for call in calls] == [5, 6] and all(call["stages"] == [Stage(0.0, 6)] for call in calls)
    assert all(call["config"] == DIGIT_DIP and call["kept"] == {3, 6} and call["regulariser"] is None for call in calls)
    assert all(call["mask"] is mask for call, mask in zip(calls, masks))
    assert all(call["sigma"] == (0.2 if corruption.sigma else None) for call in calls)
    assert all(np.array_equal(call["observation"], observation) for call, observation in zip(calls, observations))
    calls.clear()
    plugged, waiting = plugged_starts(problems, [load_method(REFERENCE_STARTS[0])])
    assert waiting == {}
    if corruption.sigma:  # the recorrupted fit's final output, one fit per digit with the study's stage
        assert list(plugged) == [RULE_START]
        assert np.array_equal(plugged[RULE_START][0], np.stack([np.full((28, 28), -6.0), np.full((28, 28), -7.0)]))
        assert all(call["stages"] == [Stage(RECORRUPTED_SCALE, 6, RECORRUPTED_PATIENCE)] and call["sigma"] == 0.2
                   for call in calls)
    else:
        assert plugged == {} and calls == [], "no noise, no recorrupted start"


def _problems(count: int = 2):
    return digit_problems(np.random.default_rng(0).uniform(size=(count, 28, 28)), [None] * count, Corruption("n", sigma=50.0), TINY, seed=0)


def test_a_plugged_start_is_called_once_per_digit_and_a_todo_is_named(tmp_path):
    (tmp_path / "starts.py").write_text(
        "import numpy as np\n\n"
        "def grey(problem):\n    return np.full((28, 28), 0.5 + problem.seed / 10)\n\n"
        "def todo(problem):\n    raise NotImplementedError('start from something')\n\n"
        "def wrong(problem):\n    return np.zeros((14, 14))\n")
    plugged, waiting = plugged_starts(_problems(), [load_method(f"{tmp_path}/starts.py:grey"),
                                                    load_method(f"{tmp_path}/starts.py:todo")])
    assert list(plugged) == ["grey"] and plugged["grey"][0][:, 0, 0].tolist() == [0.5, 0.6]
    assert waiting == {"todo": "starts.py, todo: start from something"}
    with pytest.raises(ValueError, match=r"the start 'wrong' .* must return a \(28, 28\) image for every digit"):
        plugged_starts(_problems(), [load_method(f"{tmp_path}/starts.py:wrong")])


def test_a_start_named_like_a_built_in_one_is_refused():
    with pytest.raises(ValueError, match="two starts are called observation"):
        methods_from_specs(["observation=dip_ext.recorrupted:recorrupted_start"], reference=False)


def test_study_digits_are_the_first_of_each_class_and_bounded():
    images, labels = study_digits(2)
    assert images.shape == (20, 1, 28, 28) and torch.equal(torch.bincount(labels), torch.full((10,), 2))
    with pytest.raises(ValueError, match="per_class must be between 1 and 5"):
        study_digits(6)


def test_first_of_each_class_marks_the_first_k_in_order():
    labels = torch.tensor([3, 1, 3, 3, 1, 0])
    assert first_of_each_class(labels, 2).tolist() == [True, True, True, False, True, True]


def test_the_study_classifier_never_trains_on_the_restored_digits(tmp_path, monkeypatch):
    import mnist_ext.scoring as scoring

    seen = {}

    def recording(images, labels, **kwargs):
        seen["images"] = images
        return DigitClassifier().eval()

    monkeypatch.setattr(scoring, "train_classifier", recording)
    scoring.load_or_train_classifier(tmp_path / "c.pt", set_aside_per_class=3, progress=False)
    restored, _ = study_digits(3)
    trained_on = seen["images"].flatten(1)
    assert len(trained_on) == 1000 - 30
    assert not any(torch.equal(digit, other) for digit in restored.flatten(1) for other in trained_on)


@pytest.fixture(scope="module")
def noise_run(tiny_mnist):
    model, _ = load_model(tiny_mnist)
    digits, labels = study_digits(1)
    real = digits.repeat(4, 1, 1, 1)
    return run_corruption(model, SCHEDULE, DigitClassifier().eval(), real, digits, labels,
                          Corruption("noise 50", sigma=50.0), TINY, seed=0, methods=methods_from_specs([], reference=True))


def test_rows_cover_every_start_sampler_and_level(noise_run):
    rows = noise_run["rows"]
    alone = {row["start"] for row in rows if row["t0"] == 0}
    assert alone == {"DIP 3", "DIP 6", RULE_START, "observation"}
    assert {row["t0"] for row in rows if row["start"] == "noise"} == {200}
    assert {row["t0"] for row in rows if row["start"] == "observation"} == {0, 20, 100}
    assert all(row["steps"] <= row["t0"] for row in rows)
    assert all(row["label"] for row in rows if row["sampler"] == "ddpm")
    assert {row["label"] for row in rows if row["sampler"] == "ddim"} == {False, True}
    assert list(noise_run["grid"]) == ["clean", "corrupted", f"{RULE_START} alone", f"{RULE_START}, t0 = 20, 2 steps",
                                       "observation, t0 = 20, 2 steps", "noise, t0 = 200, 6 steps"]


def test_each_start_hands_the_reverse_process_its_own_images(monkeypatch, tiny_mnist):
    """The reverse process starts at t0 < T from each DIP output and from the observation, as many
    times each, and at T from zeros (pure noise)."""
    model, _ = load_model(tiny_mnist)
    digits, labels = study_digits(1)
    fitted = {name: (np.random.default_rng(k).uniform(size=(len(labels), 28, 28)), 1.0)
              for k, name in enumerate(["DIP 3", "DIP 6"])}
    monkeypatch.setattr(dip_ext.starts, "dip_starts", lambda *args, **kwargs: dict(fitted))
    handed = []

    def recording(model, schedule, start, t0, *args, **kwargs):
        handed.append((start.clone(), t0))
        return start

    monkeypatch.setattr(dip_ext.starts, "restore", recording)
    run_corruption(model, SCHEDULE, DigitClassifier().eval(), digits.repeat(4, 1, 1, 1), digits, labels,
                   Corruption("noise 50", sigma=50.0), TINY, seed=0)
    expected = {name: unit_to_digit(images)[:, None] for name, (images, _) in fitted.items()}
    counts = {"DIP 3": 0, "DIP 6": 0, "observation": 0}
    for start, t0 in handed:
        if t0 == SCHEDULE.T:
            assert torch.equal(start, torch.zeros_like(digits))
            continue
        name = next((name for name, images in expected.items() if torch.equal(start, images)), "observation")
        counts[name] += 1
    assert counts["DIP 3"] == counts["DIP 6"] == counts["observation"] > 0


def test_without_the_reverse_process_only_the_starts_alone_are_scored_and_the_todo_is_named(monkeypatch, tiny_mnist):
    model, _ = load_model(tiny_mnist)
    digits, labels = study_digits(1)

    def todo(*args, **kwargs):
        raise NotImplementedError("noise the start to t0")

    monkeypatch.setattr(dip_ext.starts, "restore", todo)
    result = run_corruption(model, SCHEDULE, DigitClassifier().eval(), digits.repeat(4, 1, 1, 1), digits, labels,
                            Corruption("noise 50", sigma=50.0), TINY, seed=0)
    assert {row["start"] for row in result["rows"]} == {"DIP 3", "DIP 6", "observation"}
    assert all(row["t0"] == 0 for row in result["rows"]) and not any(", t0 = " in name for name in result["grid"])
    assert result["waiting"] == {"every start through the reverse process (t0 > 0)": "test_dip_starts.py, todo: noise the start to t0"}
    printed = report([result])
    assert "(no row went through the reverse process)" in printed
    assert printed.endswith("every start through the reverse process (t0 > 0): waits for the TODO in test_dip_starts.py, "
                            "todo: noise the start to t0")


def test_the_observation_row_scores_the_noisy_digits_themselves(noise_run):
    digits, _ = study_digits(1)
    clean = (digits[:, 0].double().numpy() + 1) / 2
    generator = torch.Generator().manual_seed(0)
    noisy = np.stack([corrupt(digit, CORRUPTIONS[0], generator)[0] for digit in clean])
    row = next(row for row in noise_run["rows"] if row["start"] == "observation" and row["t0"] == 0)
    # the rows score images in the model's float32 range, clipped to [-1, 1] on the way back
    by_hand = np.mean([10 * np.log10(1 / np.mean((c - n.clip(0, 1)) ** 2)) for c, n in zip(clean, noisy)])
    assert row["psnr"] == pytest.approx(by_hand, abs=0.05)  # the mean of each digit's PSNR, peak 1
    assert np.allclose(noise_run["grid"]["corrupted"], noisy[np.linspace(0, 9, 4).round().astype(int)])


@pytest.fixture(scope="module")
def holes_run(tiny_mnist):
    """Half the pixels removed at random, the study's default seed (the corruption draws from it)."""
    model, _ = load_model(tiny_mnist)
    digits, labels = study_digits(1)
    return run_corruption(model, SCHEDULE, DigitClassifier().eval(), digits.repeat(4, 1, 1, 1), digits, labels,
                          CORRUPTIONS[2], TINY, methods=methods_from_specs([], reference=True))


def test_a_masked_run_keeps_the_observed_pixels_in_every_restored_digit(holes_run):
    digits, _ = study_digits(1)
    clean = (digits[:, 0].double().numpy() + 1) / 2
    generator = torch.Generator().manual_seed(0)  # the default seed's draws, digit after digit
    observations, masks = zip(*(corrupt(digit, CORRUPTIONS[2], generator) for digit in clean))
    shown = np.linspace(0, len(clean) - 1, 4).round().astype(int)
    observed = np.stack(masks)[shown] == 1
    assert np.allclose(holes_run["grid"]["corrupted"], np.stack(observations)[shown])
    restored = {name: images for name, images in holes_run["grid"].items() if ", t0 = " in name}
    assert set(restored) == {"DIP 6, t0 = 20, 2 steps", "observation, t0 = 20, 2 steps", "noise, t0 = 200, 6 steps"}
    for name, images in restored.items():
        # RePaint's last replacement writes the observation (here the clean digit's pixels) into x_0
        assert np.allclose(images[observed], clean[shown][observed], atol=1e-6), name
        assert not np.allclose(images[~observed], 0.0), name  # the missing pixels are filled, not left at 0
    observation_alone = next(row for row in holes_run["rows"] if row["start"] == "observation" and row["t0"] == 0)
    assert observation_alone["seconds per digit"] == 0.0 and observation_alone["seed"] == 0
    floors = {row["frechet_floor"] for row in holes_run["rows"]}  # real digits against real digits, once per run
    assert len(floors) == 1 and np.isfinite(floors.pop())


def _row(start, t0, steps, psnr, accuracy=1.0, seed=0, sampler="ddim", label=True, corruption="c"):
    return {"corruption": corruption, "seed": seed, "start": start, "t0": t0, "sampler": sampler, "steps": steps,
            "label": label, "psnr": psnr, "ssim": 0.5, "accuracy": accuracy, "frechet": 1.0, "frechet_floor": 1.0,
            "seconds per digit": 0.1}


def test_summary_averages_each_setting_over_seeds():
    summary = summarise([_row("DIP 3", 0, 0, 10.0, seed=0), _row("DIP 3", 0, 0, 14.0, seed=1), _row("noise", 50, 5, 7.0)])
    assert len(summary) == 2
    assert summary[0]["psnr"] == 12.0 and summary[0]["psnr std"] == 2.0 and summary[0]["seeds"] == 2
    assert summary[1]["psnr"] == 7.0 and summary[1]["seeds"] == 1


def test_tradeoff_is_the_fewest_steps_beating_dip_alone_by_one_db_at_generation_accuracy():
    rows = [_row("DIP 3", 0, 0, 20.0, label=False, sampler="-"), _row("DIP 6", 0, 0, 18.0, label=False, sampler="-"),
            _row("noise", 200, 30, 9.0, accuracy=0.9), _row("noise", 200, 2, 5.0, accuracy=0.5),
            _row("DIP 3", 20, 2, 20.9), _row("DIP 3", 20, 5, 21.5, accuracy=0.8), _row("DIP 3", 100, 10, 21.2),
            _row("DIP 3", 20, 30, 22.0), _row("observation", 20, 2, 20.5)]
    lines = best_tradeoffs(summarise(rows))
    assert lines[0].startswith("c: DIP alone at best 20.00 dB (DIP 3)") and "30 DDIM steps: accuracy 90%" in lines[0]
    assert lines[1].startswith("  DIP 3: 10 ddim steps from t0 = 100 (with label): 21.20 dB, ")  # 2 steps miss 1 dB, 5 steps miss the accuracy
    assert lines[2:] == [f"  {start}: no setting reaches DIP alone + 1 dB with that accuracy"
                         for start in ("DIP 6", "noise", "observation")]


def test_a_tradeoff_reached_without_the_label_says_so():
    rows = [_row("DIP 3", 0, 0, 20.0, label=False, sampler="-"), _row("noise", 200, 30, 9.0, accuracy=0.9),
            _row("observation", 20, 5, 21.5, label=False)]
    lines = best_tradeoffs(summarise(rows))
    assert lines[3].startswith("  observation: 5 ddim steps from t0 = 20 (without label): 21.50 dB, ")


def test_digits_outside_the_model_range_are_clipped_into_the_unit_range_and_back():
    assert digit_to_unit(torch.tensor([-3.0, -1.0, 0.0, 1.0, 2.5])).tolist() == [0.0, 0.0, 0.5, 1.0, 1.0]
    assert unit_to_digit(np.array([-0.5, 0.25, 1.5])).tolist() == [-1.0, -0.5, 1.0]


def test_figures_are_drawn_and_their_notes_follow_their_numbers(noise_run, tmp_path):
    entries = figure_entries([noise_run], list(range(200, 0, -1)), list(np.linspace(60, 1, 200)), TINY, 200, tmp_path)
    assert [entry.path.name for entry in entries] == ["dip_start_grid.png", "dip_start_steps.png", "dip_start_t0.png",
                                                      "dip_start_rmse.png"]
    assert all(entry.path.stat().st_size > 1000 for entry in entries)
    grid = entries[0].numbers["noise 50"]
    assert set(grid) == {f"{RULE_START} alone", f"{RULE_START}, t0 = 20, 2 steps", "observation, t0 = 20, 2 steps",
                         "noise, t0 = 200, 6 steps"}


def test_grid_note_names_the_best_column():
    note = grid_observations({"noise": {"DIP alone": 20.0, "DIP, t0 = 50": 22.5, "noise": 9.0},
                              "mask": {"DIP alone": 24.0, "DIP, t0 = 50": 23.0}})
    assert "noise: the highest mean PSNR over the study's digits among the columns is DIP, t0 = 50 (22.50 dB), " \
           "against 20.00 dB for DIP alone." in note
    assert "mask: the highest mean PSNR over the study's digits among the columns is DIP alone (24.00 dB)." in note


def test_t0_note_gives_each_starts_best_level():
    note = t0_observations({"noise": {"DIP 3": {0: 20.0, 25: 22.0, 50: 21.0}, "observation": {0: 13.0, 50: 18.0}}})
    assert note == "noise: the mean PSNR is highest at t0 = 25 for DIP 3 (22.00 dB), 50 for observation (18.00 dB)."


def test_rmse_note_measures_where_the_distortion_halves():
    levels = [4, 3, 2, 1]
    note = rmse_observations({"levels": levels, "rmse": [80.0, 50.0, 38.0, 40.0]})
    assert "falls to half its value at t = 4 by t = 2, after 2 of the 4 steps" in note
    assert "falls at 67% of the single steps" in note


def test_best_by_steps_takes_each_starts_best_labelled_setting_per_step_count():
    rows = [_row("DIP 3", 0, 0, 20.0, label=False, sampler="-"), _row("DIP 3", 20, 2, 21.0), _row("DIP 3", 100, 2, 22.5),
            _row("DIP 3", 20, 2, 30.0, label=False), _row("DIP 3", 20, 5, 23.0, sampler="ddpm", accuracy=0.9),
            _row("noise", 200, 5, 9.0)]
    table = best_by_steps(summarise(rows)).splitlines()
    assert table[2] == "| start | alone | 2 steps | 5 steps |"
    assert table[4] == "| DIP 3 | 20.00 | 22.50 (t0 100, ddim, 100%) | 23.00 (t0 20, ddpm, 90%) |"
    assert table[5] == "| noise | - | - | 9.00 (t0 200, ddim, 100%) |"
    other = [_row("DIP 3", 0, 0, 15.0, label=False, sampler="-", corruption="d"), _row("DIP 3", 20, 1, 16.0, corruption="d")]
    assert best_by_steps(summarise(rows + other)).splitlines() == [
        "c:", "", "| start | alone | 1 steps | 2 steps | 5 steps |", "|---|---|---|---|---|",
        "| DIP 3 | 20.00 | - | 22.50 (t0 100, ddim, 100%) | 23.00 (t0 20, ddpm, 90%) |",
        "| noise | - | - | - | 9.00 (t0 200, ddim, 100%) |", "",
        "d:", "", "| start | alone | 1 steps | 2 steps | 5 steps |", "|---|---|---|---|---|",
        "| DIP 3 | 15.00 | 16.00 (t0 20, ddim, 100%) | - | - |"], "each corruption's whole table, a blank line between"


@pytest.mark.parametrize("command", ["viz.dip_start", "dip_ext.run_starts"])
def test_a_missing_model_checkpoint_gets_a_clear_error(tmp_path, capsys, command):
    import importlib

    from cli import run_command
    module = importlib.import_module(command)
    with pytest.raises(SystemExit) as stopped:
        run_command(module.parser(), module.main, ["--ckpt", str(tmp_path / "absent.pt")])
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: --ckpt {tmp_path / 'absent.pt'} does not exist; train it with") and "Traceback" not in error


# ----- the study's jobs: keys, cache, workers -------------------------------------------------------------------

def _job_keys(tmp_path, **changes) -> list:
    options = dict(model_path=tmp_path / "model.pt", cache=tmp_path / "cache", seeds=(0, 1), per_class=2,
                   corruptions=CORRUPTIONS[:2], settings=TINY, specs=(), reference=True,
                   classifier_path=tmp_path / "classifier.pt") | changes
    return dip_ext.starts.start_jobs(**options)


def test_a_start_job_is_keyed_by_everything_that_changes_its_rows(tmp_path, monkeypatch):
    """One job per (corruption, seed), named by both; its cache key changes with the settings, the
    digits per class, the starts plugged in and their code, the reverse process's code and either
    checkpoint, and with nothing else, so a cached result is never read for another study."""
    trained = []
    monkeypatch.setattr(dip_ext.starts, "study_classifier", trained.append)
    (tmp_path / "model.pt").write_bytes(b"model")
    (tmp_path / "classifier.pt").write_bytes(b"classifier")
    jobs = _job_keys(tmp_path)
    assert trained == [tmp_path / "classifier.pt"], "the classifier is trained once, before any worker reads it"
    first, second = CORRUPTIONS[0], CORRUPTIONS[1]
    assert [path.name.rsplit("_", 1)[0] for path, _ in jobs] == [
        f"{first.name.replace(' ', '_')}_seed0", f"{first.name.replace(' ', '_')}_seed1",
        f"{second.name.replace(' ', '_')}_seed0", f"{second.name.replace(' ', '_')}_seed1"]
    assert all(path.parent == tmp_path / "cache" and path.suffix == ".json" for path, _ in jobs)
    assert [arguments for _, arguments in jobs][1] == (tmp_path / "model.pt", tmp_path / "classifier.pt", first, TINY,
                                                       1, 2, (), True)
    paths = [path for path, _ in jobs]
    assert [path for path, _ in _job_keys(tmp_path)] == paths, "the same study, the same keys"
    assert [path for path, _ in _job_keys(tmp_path, seeds=(1, 2))][0] == paths[1], "a seed's key is its own"
    mine = tmp_path / "mine.py"
    mine.write_text("def mine(problem):\n    return None\n")
    changed = {"per class": dict(per_class=3), "settings": dict(settings=TINY.__class__(dip_iterations=(3,))),
               "a start of one's own": dict(specs=(f"{mine}:mine",)), "no reference start": dict(reference=False)}
    for what, change in changed.items():
        assert not set(path for path, _ in _job_keys(tmp_path, **change)) & set(paths), what
    before = [path for path, _ in _job_keys(tmp_path, specs=(f"{mine}:mine",))]
    mine.write_text("def mine(problem):\n    return 0\n")
    assert not set(path for path, _ in _job_keys(tmp_path, specs=(f"{mine}:mine",))) & set(before), "its code changed"
    for checkpoint in ("model.pt", "classifier.pt"):
        (tmp_path / checkpoint).write_bytes(b"retrained")
        assert not set(path for path, _ in _job_keys(tmp_path)) & set(paths), checkpoint
        (tmp_path / checkpoint).write_bytes(checkpoint.split(".")[0].encode())
    (tmp_path / "restore.py").write_text("# the reverse process, changed\n")
    monkeypatch.setattr(dip_ext.restore, "__file__", str(tmp_path / "restore.py"))
    assert not set(path for path, _ in _job_keys(tmp_path)) & set(paths), "the reverse process's code"


def _fake_job(computed):
    def job(model_path, classifier_path, corruption, settings, seed, per_class, specs, reference):
        computed.append(seed)
        return {"rows": [{"seed": seed}], "grid": {"DIP 3": np.full((2, 28, 28), 0.123456789)},
                "waiting": {"mine": "mine.py, mine: fill it in"} if seed == 9 else {}}
    return job


def test_a_finished_job_is_written_whole_and_read_back_instead_of_computed_again(tmp_path, monkeypatch):
    computed = []
    monkeypatch.setattr(dip_ext.starts, "_job", _fake_job(computed))
    jobs = [(tmp_path / "cache" / f"seed{seed}.json", (None, None, None, None, seed, 1, (), True)) for seed in (0, 1, 2)]
    result = dip_ext.starts.run_job(*jobs[0])
    assert isinstance(result["grid"]["DIP 3"], np.ndarray) and np.all(result["grid"]["DIP 3"] == 0.1235), \
        "the grid's images kept to 4 decimals, as the cache keeps them"
    assert jobs[0][0].exists() and list(jobs[0][0].parent.iterdir()) == [jobs[0][0]], "written whole: no .tmp left"
    results = dip_ext.starts.run_all(jobs, workers=0)
    assert computed == [0, 1, 2], "the cached job is read, the others computed"
    assert [result["rows"] for result in results] == [[{"seed": 0}], [{"seed": 1}], [{"seed": 2}]]
    assert all(np.all(result["grid"]["DIP 3"] == 0.1235) for result in results)
    dip_ext.starts.run_all(jobs, workers=0)
    assert computed == [0, 1, 2]
    waiting = tmp_path / "cache" / "seed9.json"
    assert dip_ext.starts.run_job(waiting, (None, None, None, None, 9, 1, (), True))["waiting"]
    assert not waiting.exists(), "a job that waits for a TODO is computed again once it is filled in"


def test_a_job_restores_the_study_digits_with_the_checkpoints_it_names(tmp_path, monkeypatch, tiny_mnist):
    """_job hands run_corruption the model's own schedule, the classifier trained without the study's
    digits, the held-out real digits, the study's digits and labels and the starts its specs name."""
    received = {}
    monkeypatch.setattr(dip_ext.starts, "study_classifier", lambda path: ("classifier", path))
    monkeypatch.setattr(dip_ext.starts, "run_corruption", lambda *arguments: received.setdefault("arguments", arguments))
    dip_ext.starts._job(tiny_mnist, tmp_path / "classifier.pt", CORRUPTIONS[0], TINY, 3, 1, (), True)
    model, schedule, classifier, real, digits, labels, corruption, settings, seed, methods = received["arguments"]
    _, config = load_model(tiny_mnist)
    assert torch.equal(schedule.alphas_cumprod, config.make_schedule().alphas_cumprod)
    assert (classifier, corruption, settings, seed) == (("classifier", tmp_path / "classifier.pt"), CORRUPTIONS[0], TINY, 3)
    assert torch.equal(real, dip_ext.starts.model_and_held_out_digits()[1][0]), "the held-out digits, the Frechet reference"
    study_digits, study_labels = dip_ext.starts.study_digits(1)
    assert torch.equal(digits, study_digits) and torch.equal(labels, study_labels)
    assert [method.name for method in methods] == [RULE_START]


def test_the_study_classifier_is_trained_without_the_study_digits(tmp_path, monkeypatch):
    asked = []
    monkeypatch.setattr(dip_ext.starts, "load_or_train_classifier",
                        lambda path, set_aside_per_class: asked.append((path, set_aside_per_class)) or ("trained", None))
    assert dip_ext.starts.study_classifier(tmp_path / "c.pt") == "trained"
    assert asked == [(tmp_path / "c.pt", dip_ext.starts.STUDY_DIGITS_SET_ASIDE)]
