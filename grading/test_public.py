"""Public graded tests of the students' TODOs (shipped in the handout: run them with
`python -m pytest -c grading/pytest.ini grading`).

Expected values come from fixtures/expected_public.pt, made from the reference by tools/make_fixtures.py;
randomness is injected (noise=, generator=) so a correct solution that draws numbers in another
order still passes. `student.run(probe, **inputs)` runs grading/probes.py's probe on the student's
code in the submission's own process and returns its answer; the checks happen here.
"""
from pathlib import Path

import pytest
import torch
from support import close, compare_unet

import gmm

EXPECTED = torch.load(Path(__file__).parent / "fixtures" / "expected_public.pt", weights_only=True)
BETAS_T10 = EXPECTED["schedules"][10]["betas"]


# ----- schedule -----------------------------------------------------------------------------------

@pytest.mark.points(2, visibility="visible")
def test_cosine_betas_T10(student):
    close(student.run("cosine_beta_schedule", timesteps=10), BETAS_T10, "cosine betas, T = 10")


@pytest.mark.points(2, visibility="visible")
@pytest.mark.parametrize("field", ["alphas", "alphas_cumprod", "alphas_cumprod_prev", "posterior_variance"])
def test_schedule_quantities_T10(student, field):
    close(student.run("schedule_field", betas=BETAS_T10, field=field), EXPECTED["schedules"][10][field],
          f"{field}, T = 10")


# ----- forward process and loss -------------------------------------------------------------------

@pytest.mark.points(2, visibility="visible")
def test_q_sample_with_injected_noise(student):
    f = EXPECTED["forward"]
    close(student.run("q_sample", betas=BETAS_T10, x0=f["x0"], t=f["t"], noise=f["noise"]), f["x_t"], "q_sample")


@pytest.mark.points(2, visibility="visible")
def test_p_losses_l2(student):
    f = EXPECTED["forward"]
    loss = student.run("p_losses", betas=BETAS_T10, x0=f["x0"], t=f["t"], y=f["y"], noise=f["noise"])
    close(loss, f["losses"]["l2"], "p_losses (l2)")


# ----- sampling and guidance ----------------------------------------------------------------------

@pytest.mark.points(3, visibility="visible")
def test_p_sample_middle_step(student):
    r = EXPECTED["reverse"]
    out = student.run("p_sample", betas=BETAS_T10, x=r["x"], step=4, y=r["y"], noise=r["z"])
    close(out, r["steps"][4], "p_sample at index 4")


@pytest.mark.points(2, visibility="visible")
def test_guidance_mix(student):
    r = EXPECTED["reverse"]
    eps = student.run("guided_eps", x=r["x"], t=torch.full((6,), 4), y=r["y"], guidance_weight=2.5)
    close(eps, r["guided_eps"][2.5], "guided_eps with w = 2.5, (1 + w) eps(y) - w eps(null)")


@pytest.mark.points(2, visibility="visible")
def test_label_dropout_rate_and_values(student):
    y = torch.ones(20_000, dtype=torch.long)
    dropped = student.run("drop_labels", y=y, drop_probability=0.3, null_label=2, seed=0)
    assert isinstance(dropped, torch.Tensor) and dropped.shape == y.shape, "drop_labels returns one label per label"
    fraction = float((dropped == 2).double().mean())
    assert abs(fraction - 0.3) < 0.015, f"expected about 30% null labels, got {100 * fraction:.1f}%"
    assert set(dropped.unique().tolist()) <= {1, 2}, "only the null label may replace a label"


# ----- the U-Net ----------------------------------------------------------------------------------

@pytest.mark.points(1, visibility="visible")
def test_fourier_features(student):
    time = torch.tensor([0.0, 0.25, 1.0])
    answer = student.run("fourier_features", embed_dim=8, scale=30.0, time=time)
    angles = 2 * torch.pi * time[:, None] * answer["W"]
    close(answer["features"], torch.cat([angles.sin(), angles.cos()], -1), "Fourier features [sin, cos]")


@pytest.mark.points(3, visibility="visible")
def test_unet_blocks(student):
    blocks = [("conv1", "Conv1d", 1, 32, 2), ("conv2", "Conv1d", 32, 64, 1),
              ("tconv2", "ConvTranspose1d", 64, 32, 1), ("tconv1", "ConvTranspose1d", 64, 1, 2)]
    norms = ("gnorm1", "gnorm2", "tgnorm2")
    layers = student.run("unet_layers", channels=[32, 64], embed_dim=256, names=[b[0] for b in blocks] + list(norms))
    for name in [b[0] for b in blocks] + list(norms):
        assert name in layers, f"the U-Net has no layer named {name}"
    for name, kind, c_in, c_out, kernel in blocks:
        layer = layers[name]
        assert f"torch.nn.modules.conv.{kind}" in layer["classes"], f"{name} should be {kind}"
        got = (layer["in_channels"], layer["out_channels"], layer["kernel_size"][0])
        assert got == (c_in, c_out, kernel), f"{name}: expected (in, out, kernel) {(c_in, c_out, kernel)}, got {got}"
    groups = [(layers[n].get("num_groups"), layers[n].get("num_channels")) for n in norms]
    assert groups == [(4, 32), (32, 64), (4, 32)], f"GroupNorm (groups, channels) expected [(4, 32), (32, 64), (4, 32)], got {groups}"


@pytest.mark.points(2, visibility="visible")
def test_unet_forward_shape_and_inputs(student):
    x, time, y = torch.randn(5, 1, 2, generator=torch.Generator().manual_seed(0)), torch.full((5,), 0.5), \
        torch.tensor([0, 1, 2, 0, 1])
    out, other_t, other_y = student.run("unet_outputs", seed=0, x=x,
                                        inputs=[[time, y], [torch.full((5,), 0.1), y], [time, torch.full((5,), 2)]])
    assert out.shape == (5, 1, 2), f"expected output shape (5, 1, 2), got {tuple(out.shape)}"
    assert not torch.allclose(out, other_t), "the output must depend on t"
    assert not torch.allclose(out, other_y), "the output must depend on y"


@pytest.mark.points(4, visibility="visible")
def test_unet_computes_the_specified_blocks(student):
    """The reference weights, loaded by the TODO's parameter names, must give the reference's value
    at every block (encoder 1, encoder 2, decoder 1, the skip concatenation, the output)."""
    compare_unet(student, EXPECTED["unet"]["public"])


@pytest.mark.points(4, visibility="visible")
def test_end_to_end_training_and_sampling(student):
    """Your utils.py and ddpm.py train a small model (T = 10, 800 steps) and sample 2,000 images per
    label: each label's samples must land in its own mode, with about the data's mean and spread,
    and unlabelled samples must split between the modes about as the data does (35% / 65%)."""
    samples = student.run("train_and_sample", seconds=300, timesteps=10, steps=800, batch_size=256,
                          learning_rate=5e-3, drop_probability=0.5, n_samples=2_000)
    data = gmm.problem_gmm(n_samples=10)
    for label, mean in zip((0, 1), gmm.PROBLEM_MEANS):
        x = samples[str(label)]
        assert x.shape == (2_000, 2), f"label {label}: expected 2,000 samples of 2 pixels, got {tuple(x.shape)}"
        in_mode = float((data.classify(x) == label).double().mean())
        assert in_mode > 0.97, f"label {label}: only {in_mode:.1%} of its samples land in its mode"
        assert (x.mean(0) - torch.tensor(mean)).abs().max() < 0.05, \
            f"label {label}: samples centre on {x.mean(0).tolist()}, the mode is at {mean}"
        spread = float(x.std(0).mean())
        assert 0.03 < spread < 0.09, f"label {label}: samples spread {spread:.3f}, the data about 0.06 at T = 10"
    x = samples["null"]
    assert x.shape == (2_000, 2), f"unlabelled: expected 2,000 samples of 2 pixels, got {tuple(x.shape)}"
    first_mode = float((data.classify(x) == 0).double().mean())
    assert abs(first_mode - 0.35) < 0.08, f"unlabelled samples: {first_mode:.1%} in mode 0, the data has 35%"


@pytest.mark.points(0, visibility="visible")
def test_environment_imports_the_mixture(student):
    """Free environment check: the untouched ground truth imports and samples (0 points)."""
    assert student.run("mixture_samples", count=4).shape == (4, 1, 2)
