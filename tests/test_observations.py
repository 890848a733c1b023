"""The figures' "what to observe" notes state what their numbers show, whichever way the numbers go."""

from gmm import problem_gmm
from viz import (animation, classifier_guidance, forward, ground_truth, guidance, samplers, step_count,
                 training_curve, trajectory)
from viz.observe import exact_mode_count, trend


def test_trend_names_the_direction_of_the_numbers():
    assert trend([0.083, 0.084, 0.090, 0.114]) == "rises from 0.083 to 0.114"
    assert trend([0.2, 0.1, 0.05]) == "falls from 0.200 to 0.050"
    assert trend([0.1, 0.2, 0.1]) == "does not move one way (0.100, 0.200, 0.100)"
    assert trend([0.080, 0.081, 0.079], tolerance=0.005) == "stays at about 0.080"


def test_exact_mode_count_sees_the_modes_merge():
    gmm = problem_gmm(n_samples=1)
    assert exact_mode_count(gmm, 1.0) == 2 and exact_mode_count(gmm, 1e-3) == 1


def guidance_numbers(learned_std_0):
    return {"weights": [0, 1, 3, 8], "ends_in": {0: 0, 1: 1, None: 1},
            "std": {0: learned_std_0, 1: [0.08, 0.081, 0.08, 0.082]},
            "exact_std": {0: [0.079, 0.078, 0.078, 0.078], 1: [0.08, 0.08, 0.08, 0.08]},
            "in_mode": {0: [1.0] * 4, 1: [0.999] * 4}}


def test_guidance_note_follows_the_measured_spread():
    """The issue's case: label 0's std 0.083, 0.084, 0.090, 0.114 grows with w; the note must not say it narrows."""
    text = guidance.observations(guidance_numbers([0.083, 0.084, 0.090, 0.114]))
    assert "label 0's samples rises from 0.083 to 0.114 with the network" in text
    assert "stays at about 0.078 with the exact denoiser" in text
    assert "its own error" in text and "concentrate" not in text
    assert "at least 99.9% of each label's samples" in text
    all_in = guidance.observations({**guidance_numbers([0.08] * 4), "in_mode": {0: [1.0] * 4, 1: [1.0] * 4}})
    assert "every labelled sample is in its mode" in all_in
    narrowing = guidance.observations(guidance_numbers([0.114, 0.1, 0.09, 0.083]))
    assert "falls from 0.114 to 0.083" in narrowing
    wrong_modes = guidance.observations({**guidance_numbers([0.08] * 4), "ends_in": {0: 1, 1: 1, None: 1}})
    assert "did not pick their own modes" in wrong_modes
    reshaped = {**guidance_numbers([0.08] * 4), "exact_std": {0: [0.08, 0.06, 0.05, 0.04], 1: [0.08] * 4}}
    assert "moves with w as well" in guidance.observations(reshaped)


def test_step_count_note_follows_the_energy_distances():
    def panel(energy, w0=0.35, std=0.1):
        return {"energy": energy, "weights": [w0, 1 - w0], "stds": [std, std]}
    numbers = {"T": [5, 10, 25, 50], "floor": 1e-3,
               "exact": [panel(2e-2, 0.3, 0.13), panel(1e-2), panel(5e-3), panel(2e-3, std=0.083)],
               "learned": [panel(2.2e-2), panel(1.2e-2), panel(6e-3), panel(2.5e-3)]}
    text = step_count.observations(numbers)
    assert "exact denoiser's energy distance to the data falls from 2.0e-02 to 2.0e-03" in text
    assert "from the step count, not from training" in text and "30.0% / 70.0%" in text and "0.083 / 0.083" in text
    numbers["learned"][0] = panel(9e-2)
    assert "training adds a visible error" in step_count.observations(numbers)
    numbers["exact"][2] = panel(3e-2)
    assert "does not move one way" in step_count.observations(numbers)


def test_mode_notes_follow_the_mode_counts():
    text = trajectory.observations({"t": [50, 40, 30, 20, 10, 0], "modes": [1, 1, 1, 1, 2, 2],
                                    "total_variation": [0.05, 0.05, 0.1, 0.1, 0.12, 0.2]})
    assert "appear between t = 20 and t = 10" in text and "follows the whole reverse process" in text
    text = trajectory.observations({"t": [50, 10], "modes": [2, 1], "total_variation": [0.5, 0.6]})
    assert "t = 50: 2, t = 10: 1" in text and "departs from the exact one" in text
    text = forward.observations({"t": [0, 5, 10, 20, 30, 50], "modes": [2, 2, 2, 1, 1, 1], "T": 50,
                                 "signal_left_at_T": 0.001, "variance_at_T": 1.0})
    assert "stay apart up to t = 10 and have merged into one blob by t = 20" in text
    text = animation.observations({"T": 50, "split_t": 16, "learned_share_after_split": 0.37,
                                   "exact_share_after_split": 0.35, "learned_share_at_0": 0.33, "exact_share_at_0": 0.35})
    assert "t = 16 of 50: late" in text and "37.0% for the network and 35.0% exactly" in text
    assert "not late" in animation.observations({"T": 50, "split_t": 30, "learned_share_after_split": 0.3,
                                                 "exact_share_after_split": 0.3, "learned_share_at_0": 0.3,
                                                 "exact_share_at_0": 0.3})


def test_other_notes_quote_their_numbers():
    assert "34.0% of these samples" in ground_truth.observations({"label_share": [0.34, 0.66]})
    text = training_curve.observations({"learned": [0.9, 0.5, 0.2, 0.001], "floor": [0.8, 0.45, 0.2, 0.0]})
    assert "largest at t = 1" in text and "falls from 0.800 to 0.000" in text and "t = 1..1" in text
    steps = [1, 2, 4, 16]
    text = samplers.observations({"floor": 1e-3, "panels": {"exact denoiser, T = 1000": {
        "steps": steps, "ddpm": [0.2, 0.1, 0.05, 0.01], "ddim": [0.2, 0.05, 0.01, 0.0015],
        "dpmpp2m": [0.2, 0.01, 0.0019, 0.001]}}})
    assert "ancestral DDPM at none of the step counts tried" in text and "DDIM (eta = 0) from 16 steps" in text
    assert "DPM-Solver++(2M) from 4 steps" in text and "200 times the floor" in text
    text = classifier_guidance.observations({"label": 0, "weights": [0, 1, 3], "in_mode": {
        "classifier-free": [1.0, 1.0, 1.0], "exact": [0.35, 1.0, 1.0], "learned": [0.33, 0.99, 1.0]}})
    assert "35.0% at w = 0, 100.0% at w = 1" in text and "by 0.020 at most" in text
