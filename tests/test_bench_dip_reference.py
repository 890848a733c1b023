"""tools/bench_dip_reference.py: the reference code's backtracking test, replayed on residuals by hand."""
import numpy as np

from tools.bench_dip_reference import fallbacks


def _reference_loop(residual: np.ndarray) -> int:
    """The reference notebook's check, written as it is there: PSNR to y in dB against the last
    accepted value (psrn_noisy_last, starting at 0), skipped where i % show_every == 0."""
    psnr_noisy_last, fired = 0.0, 0
    for i, value in enumerate(residual):
        psnr_noisy = -10 * np.log10(value)
        if i % 100:
            if psnr_noisy - psnr_noisy_last < -5:
                fired += 1
            else:
                psnr_noisy_last = psnr_noisy
    return fired


def test_a_smoothly_falling_residual_never_falls_back():
    residual = np.geomspace(0.05, 0.002, 500)
    assert fallbacks(residual) == 0 == _reference_loop(residual)


def test_a_jump_of_more_than_5_db_falls_back_and_one_of_less_does_not():
    residual = np.full(50, 0.01)
    residual[20] = 0.01 * 10 ** 0.51  # 5.1 dB worse
    residual[30] = 0.01 * 10 ** 0.49  # 4.9 dB worse
    assert fallbacks(residual) == 1 == _reference_loop(residual)


def test_the_comparison_is_with_the_last_accepted_iteration_not_the_previous_one():
    residual = np.full(10, 0.01)
    residual[3:6] = 0.01 * 10 ** 0.6  # three iterations in a row 6 dB above the accepted 0.01: each falls back
    assert fallbacks(residual) == 3 == _reference_loop(residual)


def test_every_hundredth_iteration_is_neither_checked_nor_accepted():
    residual = np.full(300, 0.01)
    residual[100] = 1.0  # 20 dB worse, at a multiple of 100: not checked
    residual[200] = 1e-4  # 20 dB better, at a multiple of 100: not accepted, so 201 is compared with 0.01
    residual[201] = 0.01 * 10 ** 0.4
    assert fallbacks(residual) == 0 == _reference_loop(residual)


def test_random_residual_walks_agree_with_the_reference_loop():
    generator = np.random.default_rng(0)
    for _ in range(20):
        residual = 0.01 * np.exp(np.cumsum(generator.normal(0, 0.6, 400)))
        assert fallbacks(residual) == _reference_loop(residual)
    assert sum(fallbacks(0.01 * np.exp(np.cumsum(generator.normal(0, 0.6, 400)))) for _ in range(5)) > 0
