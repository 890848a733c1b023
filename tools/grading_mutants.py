"""Plausible wrong implementations of the students' TODOs, planted in the reference one at a time.

Each mutant replaces one passage of the reference ddpm.py or utils.py. tests/test_grading.py checks
that each loses points in the graded tests named for it; `python -m tools.grade --mutants` prints,
for each, the points it loses and every graded test that catches it.
"""
import shutil
from pathlib import Path

from tools.autograde import GRADED_FILES, ROOT

END_TO_END = "test_public.py::test_end_to_end_training_and_sampling"

_UNET_BLOCKS = ("test_unet_computes_the_specified_blocks", "test_unet_other_widths")
_NOISE_STEP = ("    if t == 0:\n        return mean\n    if noise is None:\n"
               "        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)\n"
               "    return mean + extract(schedule.posterior_variance, t_batch, x).sqrt() * noise")
_GUIDANCE = "return (1 + guidance_weight) * eps_conditional - guidance_weight * eps_unconditional"

MUTANTS: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    # name: (file, reference text, mutated text, graded tests that must catch it)
    "cosine schedule without the clip": ("utils.py", "return betas.clamp(max=MAX_BETA)\n    # END SOLUTION",
                                         "return betas\n    # END SOLUTION", ("test_cosine_betas_T10",)),
    "cosine schedule without the offset s": (
        "utils.py", "f = torch.cos((steps / timesteps + s) / (1 + s) * math.pi / 2) ** 2",
        "f = torch.cos(steps / timesteps * math.pi / 2) ** 2", ("test_cosine_betas_T10",)),
    "abar off by one": ("utils.py", "alphas_cumprod = torch.cumprod(alphas, dim=0)",
                        "alphas_cumprod = torch.cumprod(torch.cat([torch.ones(1, dtype=torch.float64), alphas[:-1]]), dim=0)",
                        ("test_schedule_quantities_T10[alphas_cumprod]",)),
    "posterior variance = beta": ("utils.py", "posterior_variance = (1 - alphas_cumprod_prev) / (1 - alphas_cumprod) * betas",
                                  "posterior_variance = betas", ("test_schedule_quantities_T10[posterior_variance]",)),
    "q_sample without square roots": ("utils.py", "return alpha_bar.sqrt() * x_start + (1 - alpha_bar).sqrt() * noise",
                                      "return alpha_bar * x_start + (1 - alpha_bar) * noise",
                                      ("test_q_sample_with_injected_noise",)),
    "loss against x_0 instead of the noise": (
        "utils.py", 'per_element = LOSSES[loss_type](predicted_noise, noise, reduction="none")',
        'per_element = LOSSES[loss_type](predicted_noise, x_start, reduction="none")', ("test_p_losses_l2",)),
    "loss summed over pixels": ("utils.py", "per_sample = per_element.flatten(1).mean(dim=1)",
                                "per_sample = per_element.flatten(1).sum(dim=1)", ("test_p_losses_l2",)),
    "label dropout per batch": (
        "utils.py", "dropped = torch.rand(y.shape, generator=generator, device=y.device) < drop_probability",
        "dropped = (torch.rand(1, generator=generator, device=y.device) < drop_probability).expand(y.shape)",
        ("test_label_dropout_is_per_sample_and_edges",)),
    "label dropout keeps with probability p": (
        "utils.py", "dropped = torch.rand(y.shape, generator=generator, device=y.device) < drop_probability",
        "dropped = torch.rand(y.shape, generator=generator, device=y.device) > drop_probability",
        ("test_label_dropout_rate_and_values",)),
    "dropped labels set to 0, not null": ("utils.py", "return torch.where(dropped, torch.full_like(y, null_label), y)",
                                          "return torch.where(dropped, torch.zeros_like(y), y)",
                                          ("test_label_dropout_rate_and_values",)),
    "guidance as eps_u + w (eps_c - eps_u)": (
        "utils.py", _GUIDANCE, "return eps_unconditional + guidance_weight * (eps_conditional - eps_unconditional)",
        ("test_guidance_mix",)),
    "guidance sign flipped": ("utils.py", _GUIDANCE,
                              "return (1 - guidance_weight) * eps_conditional + guidance_weight * eps_unconditional",
                              ("test_guidance_mix",)),
    "reverse mean divided by sqrt(abar), not sqrt(alpha)": (
        "utils.py", "mean = (x - beta / (1 - alpha_bar).sqrt() * eps) / alpha.sqrt()",
        "mean = (x - beta / (1 - alpha_bar).sqrt() * eps) / alpha_bar.sqrt()", ("test_p_sample_middle_step",)),
    "noise stopped one step early": ("utils.py", "    if t == 0:\n        return mean", "    if t <= 1:\n        return mean",
                                     ("test_p_sample_first_and_last_steps[1]",)),
    "noise at the last step, sigma^2 = beta": (
        "utils.py", _NOISE_STEP,
        "    if noise is None:\n"
        "        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)\n"
        "    return mean + extract(schedule.betas, t_batch, x).sqrt() * noise",
        ("test_p_sample_first_and_last_steps[0]", "test_p_sample_middle_step")),
    "Fourier features as [cos, sin]": ("ddpm.py", "return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)",
                                       "return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)",
                                       ("test_fourier_features",)),
    "Fourier features without 2 pi": ("ddpm.py", "angles = 2 * math.pi * time[:, None] * self.W[None, :]",
                                      "angles = time[:, None] * self.W[None, :]", ("test_fourier_features",)),
    "GroupNorm groups wrong": ("ddpm.py", "nn.GroupNorm(32, num_channels=c1)", "nn.GroupNorm(4, num_channels=c1)",
                               ("test_unet_blocks",) + _UNET_BLOCKS),
    "skip connection in the wrong order": ("ddpm.py", "return self.tconv1(torch.cat([h3, h1], dim=1))",
                                           "return self.tconv1(torch.cat([h1, h3], dim=1))", _UNET_BLOCKS),
    "skip connection from decoder block 1 itself": ("ddpm.py", "return self.tconv1(torch.cat([h3, h1], dim=1))",
                                                    "return self.tconv1(torch.cat([h3, h3], dim=1))", _UNET_BLOCKS),
    "SiLU before GroupNorm": ("ddpm.py", "h1 = self.act(self.gnorm1(self.conv1(x) + self.dense1(embedding)))",
                              "h1 = self.gnorm1(self.act(self.conv1(x) + self.dense1(embedding)))", _UNET_BLOCKS),
    "embedding added after GroupNorm": ("ddpm.py", "h2 = self.act(self.gnorm2(self.conv2(h1) + self.dense2(embedding)))",
                                        "h2 = self.act(self.gnorm2(self.conv2(h1)) + self.dense2(embedding))", _UNET_BLOCKS),
    "decoder block 1 without the embedding": (
        "ddpm.py", "h3 = self.act(self.tgnorm2(self.tconv2(h2) + self.dense3(embedding)))",
        "h3 = self.act(self.tgnorm2(self.tconv2(h2)))", _UNET_BLOCKS),
}


def mutated_submission(mutant: str, folder: Path) -> Path:
    """Write the reference's graded files into `folder` with one mutant applied; returns the folder."""
    file, original, mutated, _ = MUTANTS[mutant]
    for name in GRADED_FILES:
        shutil.copy(ROOT / name, folder / name)
    text = (folder / file).read_text()
    if text.count(original) != 1:
        raise ValueError(f"mutant {mutant!r} no longer applies to the reference {file}: update MUTANTS")
    (folder / file).write_text(text.replace(original, mutated))
    return folder
