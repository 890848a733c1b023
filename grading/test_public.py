"""Public graded tests of the students' TODOs (shipped in the handout: run them with
`python -m pytest -c grading/pytest.ini grading`).

Expected values come from fixtures/expected_public.pt, made from the reference by tools/make_fixtures.py;
randomness is injected (noise=, generator=) so a correct solution that draws numbers in another
order still passes.
"""
from pathlib import Path

import pytest
import torch
from support import AffineDenoiser, close, compare_unet

EXPECTED = torch.load(Path(__file__).parent / "fixtures" / "expected_public.pt", weights_only=True)


# ----- schedule -----------------------------------------------------------------------------------

@pytest.mark.points(2, visibility="visible")
def test_cosine_betas_T10(student):
    close(student.utils.cosine_beta_schedule(10), EXPECTED["schedules"][10]["betas"], "cosine betas, T = 10")


@pytest.mark.points(2, visibility="visible")
@pytest.mark.parametrize("field", ["alphas", "alphas_cumprod", "alphas_cumprod_prev", "posterior_variance"])
def test_schedule_quantities_T10(student, field):
    schedule = student.utils.Schedule.from_betas(EXPECTED["schedules"][10]["betas"])
    close(getattr(schedule, field), EXPECTED["schedules"][10][field], f"{field}, T = 10")


# ----- forward process and loss -------------------------------------------------------------------

@pytest.mark.points(2, visibility="visible")
def test_q_sample_with_injected_noise(student):
    f = EXPECTED["forward"]
    schedule = student.utils.Schedule.from_betas(EXPECTED["schedules"][10]["betas"])
    close(student.utils.q_sample(schedule, f["x0"], f["t"], noise=f["noise"]), f["x_t"], "q_sample")


@pytest.mark.points(2, visibility="visible")
def test_p_losses_l2(student):
    f = EXPECTED["forward"]
    schedule = student.utils.Schedule.from_betas(EXPECTED["schedules"][10]["betas"])
    loss = student.utils.p_losses(AffineDenoiser(), schedule, f["x0"], f["t"], f["y"], noise=f["noise"])
    close(loss, f["losses"]["l2"], "p_losses (l2)")


# ----- sampling and guidance ----------------------------------------------------------------------

@pytest.mark.points(3, visibility="visible")
def test_p_sample_middle_step(student):
    r = EXPECTED["reverse"]
    schedule = student.utils.Schedule.from_betas(EXPECTED["schedules"][10]["betas"])
    out = student.utils.p_sample(AffineDenoiser(), schedule, r["x"], 4, r["y"], noise=r["z"])
    close(out, r["steps"][4], "p_sample at index 4")


@pytest.mark.points(2, visibility="visible")
def test_guidance_mix(student):
    r = EXPECTED["reverse"]
    eps = student.utils.guided_eps(AffineDenoiser(), r["x"], torch.full((6,), 4), r["y"], 2.5)
    close(eps, r["guided_eps"][2.5], "guided_eps with w = 2.5, (1 + w) eps(y) - w eps(null)")


@pytest.mark.points(2, visibility="visible")
def test_label_dropout_rate_and_values(student):
    y = torch.ones(20_000, dtype=torch.long)
    dropped = student.utils.drop_labels(y, 0.3, 2, generator=torch.Generator().manual_seed(0))
    fraction = float((dropped == 2).double().mean())
    assert abs(fraction - 0.3) < 0.015, f"expected about 30% null labels, got {100 * fraction:.1f}%"
    assert set(dropped.unique().tolist()) <= {1, 2}, "only the null label may replace a label"


# ----- the U-Net ----------------------------------------------------------------------------------

@pytest.mark.points(1, visibility="visible")
def test_fourier_features(student):
    projection = student.ddpm.GaussianFourierProjection(8, scale=30.0)
    time = torch.tensor([0.0, 0.25, 1.0])
    angles = 2 * torch.pi * time[:, None] * projection.W
    close(projection(time), torch.cat([angles.sin(), angles.cos()], -1), "Fourier features [sin, cos]")


@pytest.mark.points(3, visibility="visible")
def test_unet_blocks(student):
    nn = torch.nn
    unet = student.ddpm.UNet(channels=(32, 64), embed_dim=256)
    blocks = [("conv1", nn.Conv1d, 1, 32, 2), ("conv2", nn.Conv1d, 32, 64, 1),
              ("tconv2", nn.ConvTranspose1d, 64, 32, 1), ("tconv1", nn.ConvTranspose1d, 64, 1, 2)]
    for name, kind, c_in, c_out, kernel in blocks:
        layer = getattr(unet, name)
        assert isinstance(layer, kind), f"{name} should be {kind.__name__}"
        got = (layer.in_channels, layer.out_channels, layer.kernel_size[0])
        assert got == (c_in, c_out, kernel), f"{name}: expected (in, out, kernel) {(c_in, c_out, kernel)}, got {got}"
    groups = [(getattr(unet, n).num_groups, getattr(unet, n).num_channels) for n in ("gnorm1", "gnorm2", "tgnorm2")]
    assert groups == [(4, 32), (32, 64), (4, 32)], f"GroupNorm (groups, channels) expected [(4, 32), (32, 64), (4, 32)], got {groups}"


@pytest.mark.points(2, visibility="visible")
def test_unet_forward_shape_and_inputs(student):
    torch.manual_seed(0)
    unet = student.ddpm.UNet()
    x, time, y = torch.randn(5, 1, 2), torch.full((5,), 0.5), torch.tensor([0, 1, 2, 0, 1])
    out = unet(x, time, y)
    assert out.shape == (5, 1, 2), f"expected output shape (5, 1, 2), got {tuple(out.shape)}"
    assert not torch.allclose(out, unet(x, torch.full((5,), 0.1), y)), "the output must depend on t"
    assert not torch.allclose(out, unet(x, time, torch.full((5,), 2))), "the output must depend on y"


@pytest.mark.points(4, visibility="visible")
def test_unet_computes_the_specified_blocks(student):
    """The reference weights, loaded by the TODO's parameter names, must give the reference's value
    at every block (encoder 1, encoder 2, decoder 1, the skip concatenation, the output)."""
    case = EXPECTED["unet"]["public"]
    compare_unet(student.ddpm.UNet(channels=case["channels"], embed_dim=case["embed_dim"]), case)


@pytest.mark.points(4, visibility="visible")
def test_end_to_end_training_and_sampling(student):
    """Your utils.py and ddpm.py train a small model (T = 10, 800 steps) and sample 2,000 images per
    label: each label's samples must land in its own mode, with about the data's mean and spread,
    and unlabelled samples must split between the modes about as the data does (35% / 65%)."""
    utils, ddpm, gmm = student.utils, student.ddpm, student.gmm
    torch.manual_seed(0)
    schedule = utils.Schedule.make("cosine", 10)
    model = ddpm.NoisePredictor(ddpm.UNet(), schedule.alphas_cumprod)
    data = gmm.problem_gmm(n_samples=20_000, seed=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    lr_schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=5e-3, total_steps=800)
    generator = torch.Generator().manual_seed(0)
    for _ in range(800):
        index = torch.randint(len(data), (256,), generator=generator)
        t = torch.randint(10, (256,), generator=generator)
        noise = torch.randn(256, 1, 2, generator=generator)
        y = utils.drop_labels(data.labels[index], 0.5, gmm.NULL_LABEL, generator=generator)
        loss = utils.p_losses(model, schedule, data.samples[index], t, y, noise=noise)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        lr_schedule.step()
    model.eval()
    generator = torch.Generator().manual_seed(1)
    for label, mean in zip((0, 1), gmm.PROBLEM_MEANS):
        x_T = torch.randn(2_000, 1, 2, generator=generator)
        x = utils.p_sample_loop(model, schedule, x_T, torch.full((2_000,), label), generator=generator).reshape(-1, 2)
        in_mode = float((data.classify(x) == label).double().mean())
        assert in_mode > 0.97, f"label {label}: only {in_mode:.1%} of its samples land in its mode"
        assert (x.mean(0) - torch.tensor(mean)).abs().max() < 0.05, \
            f"label {label}: samples centre on {x.mean(0).tolist()}, the mode is at {mean}"
        spread = float(x.std(0).mean())
        assert 0.03 < spread < 0.09, f"label {label}: samples spread {spread:.3f}, the data about 0.06 at T = 10"
    x_T = torch.randn(2_000, 1, 2, generator=generator)
    x = utils.p_sample_loop(model, schedule, x_T, torch.full((2_000,), gmm.NULL_LABEL), generator=generator)
    first_mode = float((data.classify(x.reshape(-1, 2)) == 0).double().mean())
    assert abs(first_mode - 0.35) < 0.08, f"unlabelled samples: {first_mode:.1%} in mode 0, the data has 35%"


@pytest.mark.points(0, visibility="visible")
def test_environment_imports_the_mixture(student):
    """Free environment check: the untouched ground truth imports and samples (0 points)."""
    x, _ = student.gmm.problem_gmm(n_samples=10).sample(4)
    assert x.shape == (4, 1, 2)
