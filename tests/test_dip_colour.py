"""dip_ext in colour, SURE and CBM3D: the fit's signals against their definitions over pixels and
channels, the colour noise estimate, SURE against closed forms, CBM3D's known behaviour, and the
denoise command on a colour photograph."""
import numpy as np
import pytest
import torch

import dip_ext.classical
import dip_ext.fit
from dip_ext import denoise
from dip_ext.classical import classical_denoisers, estimated_sigma
from dip_ext.fit import WMV_WINDOW, Stage, fit, network_side
from dip_ext.images import add_noise, load_image, make_mask, to_image, to_tensor
from dip_ext.network import DipConfig, SkipHourglass, input_noise
from dip_ext.progressive import target_pair
from dip_ext.quality import psnr
from dip_ext.sure import SURE_EPSILON, rademacher_probe, sure
from speed import SpeedPolicy

SMALL = DipConfig(depth=3, channels_down=16, channels_up=16)


@pytest.fixture(scope="module")
def noisy_astronaut():
    clean = load_image("astronaut", 32)
    return clean, add_noise(clean, 25, torch.Generator().manual_seed(0))


def _recording_network(monkeypatch) -> list[np.ndarray]:
    """Make fit() build a network that records its raw outputs (H, W, 3), the twin's included."""
    outputs = []

    class Recording(dip_ext.fit.SkipHourglass):
        def forward(self, z):
            output = super().forward(z)
            outputs.append(output.detach()[0].double().numpy().transpose(1, 2, 0).copy())
            return output

    monkeypatch.setattr(dip_ext.fit, "SkipHourglass", Recording)
    return outputs


def test_each_iteration_feeds_the_fixed_input_plus_fresh_noise_drawn_from_the_seed(noisy_astronaut, monkeypatch):
    """The fit's draws from its seeded generator, replayed: z ~ U(0, scale) at the network's side,
    then the targets' extra noise (one N(0, 1) per value, float64), then delta_k ~ N(0, std^2 I) at
    every iteration; the network sees z + delta_k, and Adam runs at the configured learning rate
    from weights drawn with torch's global seed set to the fit's seed."""
    _, noisy = noisy_astronaut
    inputs, learning_rates, initial_weights = [], [], []

    class Recording(dip_ext.fit.SkipHourglass):
        def __init__(self, *args):
            super().__init__(*args)
            initial_weights.append({name: value.clone() for name, value in self.state_dict().items()})

        def forward(self, z):
            inputs.append(z.detach().clone())
            return super().forward(z)

    real_adam = torch.optim.Adam

    def adam(parameters, lr):
        learning_rates.append(lr)
        return real_adam(parameters, lr=lr)

    monkeypatch.setattr(dip_ext.fit, "SkipHourglass", Recording)
    monkeypatch.setattr(torch.optim, "Adam", adam)
    config = DipConfig(depth=3, channels_down=16, channels_up=16, input_noise_std=0.05, learning_rate=0.003)
    fit(noisy, config, [Stage(0.0, 3)], seed=7, progress=False)
    generator = torch.Generator().manual_seed(7)
    side = network_side(32, config)
    z = input_noise(config, side, side, generator)
    torch.randn(noisy.shape, generator=generator, dtype=torch.float64)
    assert len(inputs) == 3 and learning_rates == [0.003]
    for seen in inputs:
        torch.testing.assert_close(seen, z + 0.05 * torch.randn(z.shape, generator=generator), rtol=0, atol=1e-7)
    torch.manual_seed(7)
    expected = SkipHourglass(config, 3).state_dict()
    assert len(initial_weights) == 1 and all(torch.equal(initial_weights[0][name], expected[name]) for name in expected)


# ----- the fit's signals in colour, against their definitions --------------------------------------------

def test_colour_signals_are_means_over_pixels_and_channels(noisy_astronaut, monkeypatch):
    clean, noisy = noisy_astronaut
    raw = _recording_network(monkeypatch)
    sigma = 25 / 255
    record = fit(noisy, SMALL, [Stage(0.0, WMV_WINDOW + 1)], sigma=sigma, clean=clean, progress=False)
    assert raw[0].shape == (32, 32, 3) and record.final.shape == (32, 32, 3)
    signals = record.arrays()
    for k in (0, WMV_WINDOW):
        assert signals["residual"][k] == pytest.approx(np.mean((raw[k] - noisy) ** 2), rel=1e-5)
        assert signals["psnr_raw"][k] == pytest.approx(10 * np.log10(1 / np.mean((raw[k] - clean) ** 2)), abs=1e-4)
    window = np.stack(raw[1:WMV_WINDOW + 1])  # the last 100 raw outputs at iteration 101
    assert signals["wmv"][WMV_WINDOW] == pytest.approx(window.var(axis=0).mean(), rel=1e-4)
    assert np.all(np.isnan(signals["sure"]))  # no twin asked for


def test_recorrupted_estimates_in_colour_follow_the_formula(noisy_astronaut, monkeypatch):
    clean, noisy = noisy_astronaut
    raw = _recording_network(monkeypatch)
    sigma, scale = 25 / 255, 0.25
    record = fit(noisy, SMALL, [Stage(scale, 3)], sigma=sigma, snapshot_every=1, progress=False)
    generator = torch.Generator().manual_seed(0)  # fit's draws with seed 0: the network's input, then the extra noise
    input_noise(SMALL, network_side(32, SMALL), network_side(32, SMALL), generator)
    z = torch.randn(noisy.shape, generator=generator, dtype=torch.float64).numpy()
    _, check = target_pair(noisy, z, scale, sigma)
    for k in range(3):
        assert record.estimate_raw[k] == pytest.approx(np.mean((raw[k] - check) ** 2) - sigma ** 2 * (1 + 1 / scale ** 2), rel=1e-5)
        averaged = record.snapshots[k + 1].astype(np.float64)
        assert record.estimate[k] == pytest.approx(np.mean((averaged - check) ** 2) - sigma ** 2 * (1 + 1 / scale ** 2), abs=1e-6)


def test_a_colour_mask_hides_whole_pixels_from_the_fit(noisy_astronaut):
    _, noisy = noisy_astronaut
    mask = make_mask("block", noisy.shape)
    garbage = np.where(mask > 0, noisy, 100.0)
    records = [fit(observation, SMALL, [Stage(0.0, 4)], mask=mask, progress=False) for observation in (noisy * mask, garbage)]
    assert records[0].loss == records[1].loss


def test_masked_loss_and_residual_are_means_over_the_observed_values(noisy_astronaut, monkeypatch):
    """Recomputed from the network's raw outputs: the squared error summed over observed pixels and
    channels, divided by their count (3 x 3/4 of the pixels for the block mask); snapshots every
    `snapshot_every` iterations."""
    _, noisy = noisy_astronaut
    raw = _recording_network(monkeypatch)
    mask = make_mask("block", noisy.shape)
    record = fit(noisy, SMALL, [Stage(0.0, 6)], mask=mask, snapshot_every=3, progress=False)
    observed = mask > 0
    assert observed.sum() == 3 * 32 * 32 * 3 // 4
    for k in range(6):
        by_hand = float(((raw[k] - noisy)[observed] ** 2).mean())
        assert record.loss[k] == pytest.approx(by_hand, rel=1e-5) and record.residual[k] == pytest.approx(by_hand, rel=1e-5)
    assert sorted(record.snapshots) == [3, 6]


# ----- SURE ------------------------------------------------------------------------------------------------

def test_the_probe_is_rademacher_and_seeded():
    probe = rademacher_probe((200, 200, 3), seed=0)
    assert set(np.unique(probe)) == {-1.0, 1.0} and abs(probe.mean()) < 0.01  # 120,000 signs: std 0.003
    assert np.array_equal(probe, rademacher_probe((200, 200, 3), seed=0))
    assert not np.array_equal(probe, rademacher_probe((200, 200, 3), seed=1))


def test_sure_of_a_linear_shrinkage_is_exact_and_unbiased():
    """f(y) = c y: div f = c N, so SURE = ||(c - 1) y||^2 / N - sigma^2 + 2 sigma^2 c exactly with a
    Rademacher probe, and its mean over noise draws is the mean of the true MSE."""
    clean = load_image("coffee", 48)
    sigma, c = 25 / 255, 0.7
    generator = torch.Generator().manual_seed(0)
    estimates, errors = [], []
    for seed in range(200):
        noisy = add_noise(clean, 25, generator)
        probe = rademacher_probe(noisy.shape, seed)
        value = sure(c * noisy, c * (noisy + 0.01 * probe), noisy, probe, 0.01, sigma)
        assert value == pytest.approx(np.mean(((c - 1) * noisy) ** 2) - sigma ** 2 + 2 * sigma ** 2 * c, abs=1e-12)
        estimates.append(value)
        errors.append(np.mean((c * noisy - clean) ** 2))
    assert np.mean(estimates) == pytest.approx(np.mean(errors), rel=0.01)  # SURE's std / sqrt(200): 0.1% of the MSE


def test_sure_of_soft_thresholding_uses_the_count_of_kept_values():
    """Soft thresholding's divergence is the number of |y| above the threshold (Donoho-Johnstone);
    the finite-difference divergence with a small probe finds it."""
    generator = torch.Generator().manual_seed(1)
    clean = np.where(load_image("astronaut", 32) > 0.6, 0.5, 0.0)
    noisy = add_noise(clean, 25, generator)
    sigma, threshold, epsilon = 25 / 255, 0.15, 1e-6
    shrink = lambda y: np.sign(y) * np.maximum(np.abs(y) - threshold, 0)  # noqa: E731
    probe = rademacher_probe(noisy.shape, 3)
    kept = np.sum(np.abs(noisy) > threshold)
    expected = np.mean((shrink(noisy) - noisy) ** 2) - sigma ** 2 + 2 * sigma ** 2 * kept / noisy.size
    assert sure(shrink(noisy), shrink(noisy + epsilon * probe), noisy, probe, epsilon, sigma) == pytest.approx(expected, rel=1e-6)


def test_a_fit_with_its_sure_twin_records_the_same_fit(noisy_astronaut):
    clean, noisy = noisy_astronaut
    plain = fit(noisy, SMALL, [Stage(0.0, 30)], sigma=25 / 255, clean=clean, progress=False)
    with_twin = fit(noisy, SMALL, [Stage(0.0, 30)], sigma=25 / 255, clean=clean, progress=False, sure=True)
    assert with_twin.loss == plain.loss and np.array_equal(with_twin.final, plain.final)
    assert not np.any(np.isnan(with_twin.sure)) and not np.any(np.isnan(with_twin.sure_raw))


def test_sure_is_computed_from_each_iterations_outputs_of_the_twin_that_fits_the_probed_observation(
        noisy_astronaut, monkeypatch):
    """The raw outputs, recorded as the networks run (main, then twin, at every iteration): SURE_raw
    from each pair; SURE from their exponential averages, formed here by hand; and the twin's outputs
    are those of plain DIP fitted to y + eps b from the same seed."""
    _, noisy = noisy_astronaut
    sigma, iterations, decay = 25 / 255, 12, SMALL.output_average
    outputs = _recording_network(monkeypatch)
    record = fit(noisy, SMALL, [Stage(0.0, iterations)], sigma=sigma, progress=False, sure=True)
    main, twin = outputs[0::2], outputs[1::2]
    probe = rademacher_probe(noisy.shape, 0)
    expected_raw = [sure(f, f_twin, noisy, probe, SURE_EPSILON, sigma) for f, f_twin in zip(main, twin)]
    np.testing.assert_allclose(record.sure_raw, expected_raw, rtol=0, atol=1e-9)
    average, twin_average, expected = main[0], twin[0], []
    for k in range(iterations):
        if k:
            average, twin_average = decay * average + (1 - decay) * main[k], decay * twin_average + (1 - decay) * twin[k]
        expected.append(sure(average, twin_average, noisy, probe, SURE_EPSILON, sigma))
    np.testing.assert_allclose(record.sure, expected, rtol=0, atol=1e-6)
    outputs.clear()
    # y + eps b formed in float32 as the fit forms it: Adam's first steps move by about lr x sign(gradient),
    # so a target one float32 rounding away would send near-zero gradients, and the outputs, elsewhere
    probed = to_image(to_tensor(noisy) + SURE_EPSILON * to_tensor(probe))
    fit(probed, SMALL, [Stage(0.0, iterations)], progress=False)
    np.testing.assert_allclose(np.stack(outputs), np.stack(twin), rtol=0, atol=1e-6)


def test_without_averaging_every_raw_signal_is_its_averaged_one(noisy_astronaut):
    """output_average = 0 makes a_k = f_k exactly, so the raw and averaged records must agree value for
    value: the quality estimate of a masked progressive stage, PSNR, SSIM and SURE."""
    clean, noisy = noisy_astronaut
    unaveraged = DipConfig(depth=3, channels_down=16, channels_up=16, output_average=0.0)
    mask = make_mask("random", noisy.shape, torch.Generator().manual_seed(1))
    masked = fit(noisy * mask, unaveraged, [Stage(0.5, 6)], sigma=25 / 255, mask=mask, clean=clean,
                 progress=False).arrays()
    probed = fit(noisy, unaveraged, [Stage(0.0, 6)], sigma=25 / 255, clean=clean, progress=False, sure=True).arrays()
    for signals, names in ((masked, ("estimate", "psnr", "ssim")), (probed, ("sure", "psnr", "ssim"))):
        for name in names:
            assert not np.any(np.isnan(signals[name])) and np.array_equal(signals[f"{name}_raw"], signals[name]), name


def test_a_channels_last_fit_is_the_same_fit(noisy_astronaut):
    _, noisy = noisy_astronaut
    plain = fit(noisy, SMALL, [Stage(0.0, 5)], progress=False)
    channels_last = fit(noisy, SMALL, [Stage(0.0, 5)], progress=False, speed=SpeedPolicy(channels_last=True))
    np.testing.assert_allclose(channels_last.loss, plain.loss, rtol=1e-4)
    np.testing.assert_allclose(channels_last.final, plain.final, rtol=0, atol=1e-4)


def test_sure_of_a_network_that_cannot_move_is_the_residual_less_the_noise_variance(noisy_astronaut):
    """With a learning rate of 1e-30 neither network moves, f does not depend on y, div f = 0 and
    SURE_raw = ||f - y||^2 / N - sigma^2, the recorded residual less sigma^2. With a real learning
    rate the fit follows y, so the divergence is positive once it has fitted for a while."""
    _, noisy = noisy_astronaut
    sigma = 25 / 255
    frozen = fit(noisy, DipConfig(depth=3, channels_down=16, channels_up=16, learning_rate=1e-30), [Stage(0.0, 5)],
                 sigma=sigma, progress=False, sure=True)
    np.testing.assert_allclose(frozen.sure_raw, np.asarray(frozen.residual) - sigma ** 2, rtol=0, atol=1e-7)
    moving = fit(noisy, SMALL, [Stage(0.0, 200)], sigma=sigma, progress=False, sure=True)
    divergence_terms = np.asarray(moving.sure_raw[100:]) - (np.asarray(moving.residual[100:]) - sigma ** 2)
    assert np.mean(divergence_terms) > 0
    assert SURE_EPSILON == 1e-2


def test_sure_is_refused_where_it_is_undefined(noisy_astronaut):
    _, noisy = noisy_astronaut
    with pytest.raises(ValueError, match="SURE needs the noise level"):
        fit(noisy, SMALL, [Stage(0.0, 3)], progress=False, sure=True)
    with pytest.raises(ValueError, match="every pixel observed"):
        fit(noisy, SMALL, [Stage(0.0, 3)], sigma=0.1, mask=make_mask("block", noisy.shape), progress=False, sure=True)


# ----- the colour noise estimate and CBM3D -------------------------------------------------------------

@pytest.mark.parametrize("sigma", [15, 25, 50])
def test_the_colour_noise_estimate_finds_the_noise_level(sigma):
    clean = load_image("chelsea", 128)
    noisy = add_noise(clean, sigma, torch.Generator().manual_seed(0))
    assert estimated_sigma(noisy) * 255 == pytest.approx(sigma, rel=0.08)
    per_channel = [estimated_sigma(noisy[..., channel]) for channel in range(3)]
    assert estimated_sigma(noisy) == pytest.approx(np.mean(per_channel), rel=1e-9)


def test_cbm3d_is_the_strongest_classical_denoiser_on_a_colour_photograph():
    """The DIP paper's comparison: CBM3D well above the noisy input and above every other classical
    denoiser here (astronaut 64x64, sigma 25: 27.3-27.5 dB against 25.2-25.3 for non-local means)."""
    clean = load_image("astronaut", 64)
    for seed in (0, 1):
        noisy = add_noise(clean, 25, torch.Generator().manual_seed(seed))
        scores = {name: psnr(clean, denoised) for name, denoised in classical_denoisers(noisy).items()}
        assert scores["bm3d"] > psnr(clean, noisy) + 6
        assert scores["bm3d"] > max(score for name, score in scores.items() if name != "bm3d") + 1


def test_bm3d_flattens_noise_on_a_flat_grey_image():
    noisy = add_noise(np.full((48, 48), 0.4), 25, torch.Generator().manual_seed(0))
    denoised = classical_denoisers(noisy)["bm3d"]
    assert denoised.shape == (48, 48) and abs(denoised.mean() - 0.4) < 0.01
    assert denoised.std() < 0.1 * (25 / 255)


@pytest.mark.parametrize("shape, axis", [((32, 32), None), ((32, 32, 3), -1)])
def test_each_classical_denoiser_gets_the_gallery_settings_and_the_estimated_sigma(monkeypatch, shape, axis):
    """A spy in place of each denoiser: every one gets the noisy image and scikit-image's estimate of
    its sigma, with the settings of scikit-image's denoising gallery (non-local means h = 0.8 sigma,
    5x5 patches within 6 pixels, fast mode; TV weight sigma; BayesShrink soft wavelet with rescaled
    sigma), and BM3D is bm3d_rgb on colour, bm3d on grey."""
    calls = {}

    def spy(name):
        def record(image, *args, **kwargs):
            calls[name] = (image, args, kwargs)
            return np.zeros_like(image)
        return record

    for module, names in ((dip_ext.classical, ("denoise_nl_means", "denoise_tv_chambolle", "denoise_wavelet")),
                          (dip_ext.classical.bm3d, ("bm3d", "bm3d_rgb"))):
        for name in names:
            monkeypatch.setattr(module, name, spy(name))
    noisy = add_noise(np.full(shape, 0.5), 25, torch.Generator().manual_seed(0))
    sigma = estimated_sigma(noisy)
    denoised = classical_denoisers(noisy)
    assert list(denoised) == ["bm3d", "nl_means", "tv", "wavelet"] and all(d.shape == shape for d in denoised.values())
    assert all(image is noisy for image, _, _ in calls.values())
    assert ("bm3d_rgb" if axis == -1 else "bm3d") in calls and ("bm3d" if axis == -1 else "bm3d_rgb") not in calls
    assert calls["bm3d_rgb" if axis == -1 else "bm3d"][1:] == ((sigma,), {})
    assert calls["denoise_nl_means"][2] == {"h": 0.8 * sigma, "sigma": sigma, "fast_mode": True, "patch_size": 5,
                                            "patch_distance": 6, "channel_axis": axis}
    assert calls["denoise_tv_chambolle"][2] == {"weight": sigma, "channel_axis": axis}
    assert calls["denoise_wavelet"][2] == {"sigma": sigma, "method": "BayesShrink", "mode": "soft", "rescale_sigma": True,
                                           "channel_axis": axis}


# ----- the command ---------------------------------------------------------------------------------------------

def test_denoise_keeps_a_colour_photograph_colour_and_reports_every_rule(tmp_path, capsys):
    out = tmp_path / "astronaut.png"
    argv = ["--image", "astronaut", "--size", "32", "--sigma", "25", "--iterations", str(WMV_WINDOW + 20),
            "--depth", "3", "--channels-down", "8", "--channels-up", "8", "--device", "cpu", "--out", str(out)]
    denoise.run_command(denoise.parser(), denoise.main, argv)
    printed = capsys.readouterr().out
    for rule in ("discrepancy", "ES-WMV", "SURE", "recorrupted", "bm3d"):
        assert f"\n{rule} " in printed
    import matplotlib.image
    assert out.exists() and matplotlib.image.imread(out).shape[-1] in (3, 4)
    assert "with SURE's twin network" in printed
    # 120 iterations: no variance minimum can stand 1,000 of them, nor the recorrupted fit go 200 without a new best
    late = _rules_the_fit_ended_first(printed)
    assert {"ES-WMV", "recorrupted"} <= late
    stopped_last = {rule for rule in ("discrepancy", "SURE") if _printed_stop(printed, rule) == WMV_WINDOW + 20}
    assert late & {"discrepancy", "SURE"} <= stopped_last  # a rule that never fired returns the last iterate
    assert f"Try --iterations {2 * (WMV_WINDOW + 20)}" in printed


def _printed_stop(printed: str, rule: str) -> int:
    """The iteration `denoise` printed for a rule (its line: `rule ... iteration K  PSNR ...`)."""
    line = next(line for line in printed.splitlines() if line.startswith(rule + " "))
    return int(line.split("iteration")[1].split()[0])


def _rules_the_fit_ended_first(printed: str) -> set[str]:
    """The rules named in `denoise`'s closing warning, empty when it printed none."""
    warning = [line for line in printed.splitlines() if line.startswith("the fit ended before these rules could stop: ")]
    if not warning:
        return set()
    listed = warning[0].split(": ", 1)[1].split(". Try")[0]
    return {part.split(" (")[0] for part in listed.split("; ")}


def test_denoise_names_only_the_rules_the_fit_ended_before(tmp_path, capsys):
    """Sigma 50 on a small network and a 16x16 image: the residual reaches sigma^2 and the recorrupted
    estimate stops improving (at iterations 15 and 108) well inside 500 iterations, while the variance
    minimum cannot stand the 1,000 ES-WMV waits for: only ES-WMV is named."""
    argv = ["--image", "astronaut", "--size", "16", "--sigma", "50", "--iterations", "500", "--no-sure", "--depth", "3",
            "--channels-down", "16", "--channels-up", "16", "--device", "cpu", "--out", str(tmp_path / "a.png")]
    denoise.run_command(denoise.parser(), denoise.main, argv)
    printed = capsys.readouterr().out
    assert _rules_the_fit_ended_first(printed) == {"ES-WMV"}
    assert _printed_stop(printed, "discrepancy") < 500 and _printed_stop(printed, "recorrupted") + 200 < 500
    assert "Try --iterations 1000" in printed


@pytest.mark.parametrize("sigma_255", [25, 50])
def test_denoise_holds_only_the_snapshots_its_rules_return(sigma_255):
    """denoise prunes its fits' snapshots after every iteration to the outputs its rules would
    return on the record so far. Each snapshot is copied as it is stored: at the end the kept ones
    are exactly those at each rule's stop on the whole record, equal to the stored ones, and no more
    than one per rule plus the newest were ever held. At sigma 50 the residual reaches sigma^2 inside
    the fit, so the discrepancy stop is a first crossing, not the end."""
    clean = load_image("astronaut", 16)
    noisy = add_noise(clean, sigma_255, torch.Generator().manual_seed(1))
    sigma = sigma_255 / 255
    stored, held = {}, []

    def keep(stops_of):
        def kept(record):
            stored[record.iterations] = record.snapshots[record.iterations].copy()
            held.append(len(record.snapshots))
            return denoise._snapshots_of(stops_of(record))
        return kept

    iterations = WMV_WINDOW + 60
    plain = fit(noisy, SMALL, [Stage(0.0, iterations)], sigma=sigma, clean=clean, snapshot_every=1, sure=True,
                progress=False, keep_snapshots=keep(lambda record: denoise._plain_stops(record, sigma, True).values()))
    stops = denoise._plain_stops(plain, sigma, True)
    assert set(stops) == {"oracle peak (uses the clean image)", f"last iteration ({iterations})", "discrepancy",
                          "ES-WMV", "SURE"}
    if sigma_255 == 50:
        assert stops["discrepancy"] < iterations - 1
    assert set(plain.snapshots) == {index + 1 for index in stops.values()} and len(stored) == iterations
    for iteration, image in plain.snapshots.items():
        np.testing.assert_array_equal(image, stored[iteration])
    assert len(held) == iterations and max(held) <= len(stops) + 1

    stored.clear(), held.clear()
    recorrupted = fit(noisy, SMALL, [Stage(0.25, 150, patience=20)], sigma=sigma, clean=clean, snapshot_every=1,
                      progress=False, keep_snapshots=keep(lambda record: [denoise._lowest_estimate(record)]))
    best = int(np.nanargmin(recorrupted.arrays()["estimate"]))
    assert list(recorrupted.snapshots) == [best + 1] and max(held) <= 2
    np.testing.assert_array_equal(recorrupted.snapshots[best + 1], stored[best + 1])


def test_the_fits_progress_bar_shows_when_asked_and_only_then(capsys):
    noisy = add_noise(np.full((16, 16, 3), 0.5), 25, torch.Generator().manual_seed(0))
    fit(noisy, SMALL, [Stage(0.0, 2)], progress=False)
    assert "DIP" not in capsys.readouterr().err
    fit(noisy, SMALL, [Stage(0.0, 2)], progress=True)
    assert "DIP" in capsys.readouterr().err
