"""viz/dip.py's "what to observe" notes state what their numbers show, whichever way they go."""
from viz import dip


def curves_numbers(discrepancy_iteration, offset=-3.5):
    return {"peak": 28.0, "peak iteration": 450, "last": 22.5, "iterations": 2000, "estimate offset": offset,
            "estimate spread": 0.4, "recorrupted below its best": 0.05,
            "stops": {"discrepancy": (discrepancy_iteration, 25.0), "recorrupted": (450, 27.8)}}


def test_curves_note_places_each_stop_against_the_peak():
    text = dip.curves_observations(curves_numbers(240))
    assert "rises to 28.00 dB at iteration 450, then falls to 22.50 dB at iteration 2000" in text
    assert "discrepancy stops at iteration 240, before the peak, at 25.00 dB (+3.00 dB from" in text
    assert "recorrupted stops at iteration 450, at the peak, at 27.80 dB (+0.20 dB" in text
    assert "lies 3.50 dB below its true PSNR" in text and "by 0.40 dB (std)" in text and "0.05 dB below its own best" in text
    assert "lies 1.00 dB above" in dip.curves_observations(curves_numbers(240, offset=1.0))
    assert "discrepancy stops at iteration 900, after the peak" in dip.curves_observations(curves_numbers(900))


def grid_numbers(psnr_at_iterations, best_rule="recorrupted"):
    row = {f"iteration {k}": value for k, value in zip(dip.GRID_ITERATIONS, psnr_at_iterations)}
    return {"camera": row | {"best classical": 27.9, "best classical name": "nl_means", "best rule": best_rule,
                             "recorrupted": 27.5, "discrepancy": 25.0}}


def test_grid_note_follows_the_psnr_over_iterations():
    text = dip.grid_observations(grid_numbers([20.0, 26.0, 27.0, 22.0]))
    assert "does not move one way (20.00, 26.00, 27.00, 22.00)" in text
    assert "nl_means) gives 27.90 dB, and the best of DIP's rules here (recorrupted; both picked" in text
    assert "oracle choice) 27.50 dB" in text
    assert "rises from 20.00 to 27.00" in dip.grid_observations(grid_numbers([20.0, 26.0, 26.5, 27.0]))
    assert "oracle choice) 25.00 dB" in dip.grid_observations(grid_numbers([20.0] * 4, "discrepancy"))


def test_targets_note_follows_the_measured_noise():
    numbers = {"scales": [2.0, 1.0, 0.5, 0.25], "fit target std": [55.9, 35.4, 27.9, 25.8],
               "check target std": [28.0, 35.4, 55.9, 103.1]}
    text = dip.targets_observations(numbers)
    assert "noise std (0..255 scale) falls from 55.9 to 25.8 and the check targets' rises from 28.0 to 103.1" in text
    rising = dict(numbers, **{"fit target std": [25.0, 30.0, 35.0, 40.0]})
    assert "rises from 25.0 to 40.0 and" in dip.targets_observations(rising)


def test_ablation_note_names_the_best_and_worst_variants():
    numbers = {"network": {"default": {"peak": 27.0, "stop": 26.8}, "depth 3": {"peak": 26.0, "stop": 25.0},
                           "width 32": {"peak": 27.2, "stop": 26.9}},
               "targets": {"1 stage": {"peak": 27.0, "stop": 26.8}, "3 stages": {"peak": 24.0, "stop": 23.5}}}
    text = dip.ablation_observations(numbers)
    assert "the highest peak is width 32 (27.20 dB), the lowest depth 3 (26.00 dB)" in text
    assert "best with 1 stage (26.80 dB) and worst with 3 stages (23.50 dB)" in text
    assert "default network is 27.00 dB" in text
