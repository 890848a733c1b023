"""Generate the autograder's expected values from the reference solution (float64).

    python -m tools.make_fixtures          # or: make fixtures; writes grading/fixtures/expected.pt

Inputs are drawn once from fixed seeds and stored with the outputs, so grading passes the same
inputs (and the same injected noise) to the student's functions. tests/test_grading.py checks
that the stored file still matches what the reference computes (drift).
"""
from pathlib import Path

import torch

from ddpm import UNet
from grading.probes import AffineDenoiser, record_blocks
from grading.support import UNET_BLOCKS
from gmm import NULL_LABEL
from utils import Schedule, guided_eps, p_losses, p_sample, q_sample

ROOT = Path(__file__).resolve().parents[1]

FIXTURES = ROOT / "grading" / "fixtures" / "expected.pt"  # every expected value: the autograder's
PUBLIC_FIXTURES = ROOT / "grading" / "fixtures" / "expected_public.pt"  # those of the public tests: the handout's
SCHEDULE_T = (1, 7, 10, 50)
SCHEDULE_FIELDS = ("betas", "alphas", "alphas_cumprod", "alphas_cumprod_prev", "posterior_variance")


def compute() -> dict:
    g = torch.Generator().manual_seed(2024)
    expected = {"schedules": {T: {name: getattr(Schedule.make("cosine", T), name) for name in SCHEDULE_FIELDS}
                              for T in SCHEDULE_T}}
    schedule = Schedule.make("cosine", 10)
    x0 = torch.randn(6, 1, 2, generator=g, dtype=torch.float64)
    noise = torch.randn(6, 1, 2, generator=g, dtype=torch.float64)
    t = torch.tensor([0, 3, 9, 5, 1, 8])
    y = torch.tensor([0, 1, 2, 1, 0, 2])
    expected["forward"] = {"x0": x0, "noise": noise, "t": t, "y": y, "x_t": q_sample(schedule, x0, t, noise=noise),
                           "losses": {kind: p_losses(AffineDenoiser(), schedule, x0, t, y, noise=noise, loss_type=kind)
                                      for kind in ("l2", "l1", "huber")}}
    x = torch.randn(6, 1, 2, generator=g, dtype=torch.float64)
    z = torch.randn(6, 1, 2, generator=g, dtype=torch.float64)
    expected["reverse"] = {"x": x, "z": z, "y": y,
                           "steps": {step: p_sample(AffineDenoiser(), schedule, x, step, y, noise=z) for step in (9, 4, 1, 0)},
                           "guided": {w: p_sample(AffineDenoiser(), schedule, x, 4, y, guidance_weight=w, noise=z)
                                      for w in (0.0, 1.0, 3.5)},
                           "guided_eps": {w: guided_eps(AffineDenoiser(), x, torch.full((6,), 4), y, w)
                                          for w in (0.0, 2.5)}}
    expected["unet"] = {name: unet_case(channels, embed_dim, seed) for name, (channels, embed_dim, seed)
                        in {"public": ((32, 64), 256, 0), "hidden": ((64, 128), 64, 1)}.items()}
    return expected


def unet_case(channels: tuple[int, int], embed_dim: int, seed: int) -> dict:
    """The reference U-Net's weights (float64, seeded) and what each of its blocks computes on fixed inputs."""
    torch.manual_seed(seed)
    unet = UNet(channels=channels, embed_dim=embed_dim).double()
    g = torch.Generator().manual_seed(100 + seed)
    x = torch.randn(7, 1, 2, generator=g, dtype=torch.float64)
    time = torch.tensor([0.02, 0.1, 0.1, 0.5, 0.73, 0.98, 1.0], dtype=torch.float64)
    y = torch.tensor([0, 1, NULL_LABEL, 1, 0, NULL_LABEL, 1])
    return {"channels": channels, "embed_dim": embed_dim, "state": unet.state_dict(), "x": x, "time": time, "y": y,
            "blocks": record_blocks(unet, x, time, y, [layer for layer, _, _ in UNET_BLOCKS])}


def public_subset(expected: dict) -> dict:
    """The values the public tests use (T = 10, index 4, w = 2.5, the l2 loss): nothing of the hidden ones."""
    forward, reverse = expected["forward"], expected["reverse"]
    return {"schedules": {10: expected["schedules"][10]},
            "forward": {**{k: v for k, v in forward.items() if k != "losses"}, "losses": {"l2": forward["losses"]["l2"]}},
            "reverse": {"x": reverse["x"], "z": reverse["z"], "y": reverse["y"], "steps": {4: reverse["steps"][4]},
                        "guided_eps": {2.5: reverse["guided_eps"][2.5]}},
            "unet": {"public": expected["unet"]["public"]}}


def main() -> None:
    FIXTURES.parent.mkdir(parents=True, exist_ok=True)
    expected = compute()
    torch.save(expected, FIXTURES)
    torch.save(public_subset(expected), PUBLIC_FIXTURES)
    print(f"wrote {FIXTURES} and {PUBLIC_FIXTURES}")


if __name__ == "__main__":
    main()
