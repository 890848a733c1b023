"""Hidden graded tests (not in the handout): other shapes, seeds, steps and edge cases.

Expected values come from fixtures/expected.pt, made from the reference by tools/make_fixtures.py;
randomness is injected (noise=, generator=) so a correct solution that draws numbers in another
order still passes. The submission's process sees each probe's inputs, never an expected value:
the T = 50 betas it is given below arrive only after the test that asks it for them.
"""
from pathlib import Path

import pytest
import torch
from support import close, compare_unet

EXPECTED = torch.load(Path(__file__).parent / "fixtures" / "expected.pt", weights_only=True)
BETAS_T10 = EXPECTED["schedules"][10]["betas"]


# ----- schedule -----------------------------------------------------------------------------------

@pytest.mark.points(1, visibility="hidden")
@pytest.mark.parametrize("T", [1, 7, 50])
def test_cosine_betas_other_T(student, T):
    close(student.run("cosine_beta_schedule", timesteps=T), EXPECTED["schedules"][T]["betas"], f"cosine betas, T = {T}")


@pytest.mark.points(1, visibility="hidden")
@pytest.mark.parametrize("field", ["alphas_cumprod", "alphas_cumprod_prev", "posterior_variance"])
def test_schedule_quantities_T50(student, field):
    values = student.run("schedule_field", betas=EXPECTED["schedules"][50]["betas"], field=field)
    assert isinstance(values, torch.Tensor), f"{field} must be a tensor, got {type(values).__name__}"
    assert values.shape == (50,), f"{field} must have one entry per step (T = 50), got shape {tuple(values.shape)}"
    close(values, EXPECTED["schedules"][50][field], f"{field}, T = 50")


# ----- forward process and loss -------------------------------------------------------------------

@pytest.mark.points(1, visibility="hidden")
@pytest.mark.parametrize("kind", ["l1", "huber"])
def test_p_losses_other_losses(student, kind):
    f = EXPECTED["forward"]
    loss = student.run("p_losses", betas=BETAS_T10, x0=f["x0"], t=f["t"], y=f["y"], noise=f["noise"], loss_type=kind)
    close(loss, f["losses"][kind], f"p_losses ({kind})")


# ----- sampling and guidance ----------------------------------------------------------------------

@pytest.mark.points(2, visibility="hidden")
@pytest.mark.parametrize("step", [9, 1, 0])
def test_p_sample_first_and_last_steps(student, step):
    r = EXPECTED["reverse"]
    out = student.run("p_sample", betas=BETAS_T10, x=r["x"], step=step, y=r["y"], noise=r["z"])
    close(out, r["steps"][step], f"p_sample at index {step}" + (" (the last step adds no noise)" if step == 0 else ""))


@pytest.mark.points(2, visibility="hidden")
@pytest.mark.parametrize("w", [0.0, 1.0, 3.5])
def test_guided_reverse_step(student, w):
    r = EXPECTED["reverse"]
    out = student.run("p_sample", betas=BETAS_T10, x=r["x"], step=4, y=r["y"], noise=r["z"], guidance_weight=w)
    close(out, r["guided"][w], f"p_sample with guidance w = {w}")


@pytest.mark.points(2, visibility="hidden")
def test_label_dropout_is_per_sample_and_edges(student):
    y = torch.zeros(4_096, dtype=torch.long)
    dropped = student.run("drop_labels", y=y, drop_probability=0.5, null_label=2, seed=1)
    assert isinstance(dropped, torch.Tensor) and dropped.shape == y.shape, "drop_labels returns one label per label"
    batches = dropped.reshape(64, 64)
    assert ((batches == 2).any(1) & (batches == 0).any(1)).all(), \
        "every batch of 64 should mix kept and dropped labels: drop per sample, not per batch"
    kept = student.run("drop_labels", y=y, drop_probability=0.0, null_label=2)
    assert isinstance(kept, torch.Tensor) and torch.equal(kept, y), "p = 0 keeps every label"
    dropped = student.run("drop_labels", y=y, drop_probability=1.0, null_label=2)
    assert isinstance(dropped, torch.Tensor) and dropped.shape == y.shape and (dropped == 2).all(), \
        "p = 1 drops every label"


# ----- the U-Net ----------------------------------------------------------------------------------

@pytest.mark.points(2, visibility="hidden")
def test_unet_other_widths(student):
    compare_unet(student, EXPECTED["unet"]["hidden"])
