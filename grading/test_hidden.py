"""Hidden graded tests (not in the handout): other shapes, seeds, steps and edge cases.

Expected values come from fixtures/expected.pt, made from the reference by tools/make_fixtures.py;
randomness is injected (noise=, generator=) so a correct solution that draws numbers in another
order still passes.
"""
from pathlib import Path

import pytest
import torch
from support import AffineDenoiser, close, compare_unet

EXPECTED = torch.load(Path(__file__).parent / "fixtures" / "expected.pt", weights_only=True)


# ----- schedule -----------------------------------------------------------------------------------

@pytest.mark.points(1, visibility="hidden")
@pytest.mark.parametrize("T", [1, 7, 50])
def test_cosine_betas_other_T(student, T):
    close(student.utils.cosine_beta_schedule(T), EXPECTED["schedules"][T]["betas"], f"cosine betas, T = {T}")


@pytest.mark.points(1, visibility="hidden")
@pytest.mark.parametrize("field", ["alphas_cumprod", "alphas_cumprod_prev", "posterior_variance"])
def test_schedule_quantities_T50(student, field):
    schedule = student.utils.Schedule.from_betas(EXPECTED["schedules"][50]["betas"])
    values = getattr(schedule, field)
    assert values.shape == (50,), f"{field} must have one entry per step (T = 50), got shape {tuple(values.shape)}"
    close(values, EXPECTED["schedules"][50][field], f"{field}, T = 50")


# ----- forward process and loss -------------------------------------------------------------------

@pytest.mark.points(1, visibility="hidden")
@pytest.mark.parametrize("kind", ["l1", "huber"])
def test_p_losses_other_losses(student, kind):
    f = EXPECTED["forward"]
    schedule = student.utils.Schedule.from_betas(EXPECTED["schedules"][10]["betas"])
    loss = student.utils.p_losses(AffineDenoiser(), schedule, f["x0"], f["t"], f["y"], noise=f["noise"], loss_type=kind)
    close(loss, f["losses"][kind], f"p_losses ({kind})")


# ----- sampling and guidance ----------------------------------------------------------------------

@pytest.mark.points(2, visibility="hidden")
@pytest.mark.parametrize("step", [9, 1, 0])
def test_p_sample_first_and_last_steps(student, step):
    r = EXPECTED["reverse"]
    schedule = student.utils.Schedule.from_betas(EXPECTED["schedules"][10]["betas"])
    out = student.utils.p_sample(AffineDenoiser(), schedule, r["x"], step, r["y"], noise=r["z"])
    close(out, r["steps"][step], f"p_sample at index {step}" + (" (the last step adds no noise)" if step == 0 else ""))


@pytest.mark.points(2, visibility="hidden")
@pytest.mark.parametrize("w", [0.0, 1.0, 3.5])
def test_guided_reverse_step(student, w):
    r = EXPECTED["reverse"]
    schedule = student.utils.Schedule.from_betas(EXPECTED["schedules"][10]["betas"])
    out = student.utils.p_sample(AffineDenoiser(), schedule, r["x"], 4, r["y"], guidance_weight=w, noise=r["z"])
    close(out, r["guided"][w], f"p_sample with guidance w = {w}")


@pytest.mark.points(2, visibility="hidden")
def test_label_dropout_is_per_sample_and_edges(student):
    y = torch.zeros(4_096, dtype=torch.long)
    dropped = student.utils.drop_labels(y, 0.5, 2, generator=torch.Generator().manual_seed(1))
    batches = dropped.reshape(64, 64)
    assert ((batches == 2).any(1) & (batches == 0).any(1)).all(), \
        "every batch of 64 should mix kept and dropped labels: drop per sample, not per batch"
    assert torch.equal(student.utils.drop_labels(y, 0.0, 2), y), "p = 0 keeps every label"
    assert (student.utils.drop_labels(y, 1.0, 2) == 2).all(), "p = 1 drops every label"


# ----- the U-Net ----------------------------------------------------------------------------------

@pytest.mark.points(2, visibility="hidden")
def test_unet_other_widths(student):
    case = EXPECTED["unet"]["hidden"]
    compare_unet(student.ddpm.UNet(channels=case["channels"], embed_dim=case["embed_dim"]), case)
