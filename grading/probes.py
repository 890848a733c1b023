"""What the graded tests ask of a submission, run inside the submission's own process (grading/worker.py).

Each probe calls the student's functions on inputs the grader sends and answers with plain data
(grading/wire.py); it decides nothing. The verdict, the expected values and the messages stay with
the grader (grading/test_*.py), which never imports a submitted file.

A probe is registered with the submitted modules it needs, which the worker imports first and passes
in that order, followed by the grader's inputs as keywords.
"""
from collections.abc import Callable

import torch

PROBES: dict[str, tuple[Callable, tuple[str, ...]]] = {}
"""probe name: (function, the submitted modules it takes)."""


def probe(*modules: str):
    def register(function: Callable) -> Callable:
        PROBES[function.__name__] = (function, modules)
        return function
    return register


class AffineDenoiser:
    """eps = 0.5 x_t + 0.1 (t + 1) + 2 y, null label 2: every input visibly changes the output.
    (tools/make_fixtures.py feeds the same denoiser to the reference.)"""
    null_label = 2

    def __call__(self, x_t, t, y):
        shape = (-1,) + (1,) * (x_t.dim() - 1)
        return 0.5 * x_t + 0.1 * (t + 1).to(x_t.dtype).reshape(shape) + 2.0 * y.to(x_t.dtype).reshape(shape)


# ----- schedule, forward process, loss ------------------------------------------------------------

@probe("utils")
def cosine_beta_schedule(utils, timesteps: int):
    return utils.cosine_beta_schedule(timesteps)


@probe("utils")
def schedule_field(utils, betas, field: str):
    return getattr(utils.Schedule.from_betas(betas), field)


@probe("utils")
def q_sample(utils, betas, x0, t, noise):
    return utils.q_sample(utils.Schedule.from_betas(betas), x0, t, noise=noise)


@probe("utils")
def p_losses(utils, betas, x0, t, y, noise, loss_type: str | None = None):
    options = {} if loss_type is None else {"loss_type": loss_type}
    return utils.p_losses(AffineDenoiser(), utils.Schedule.from_betas(betas), x0, t, y, noise=noise, **options)


# ----- sampling, guidance, label dropout ----------------------------------------------------------

@probe("utils")
def p_sample(utils, betas, x, step: int, y, noise, guidance_weight: float | None = None):
    options = {} if guidance_weight is None else {"guidance_weight": guidance_weight}
    return utils.p_sample(AffineDenoiser(), utils.Schedule.from_betas(betas), x, step, y, noise=noise, **options)


@probe("utils")
def guided_eps(utils, x, t, y, guidance_weight: float):
    return utils.guided_eps(AffineDenoiser(), x, t, y, guidance_weight)


@probe("utils")
def drop_labels(utils, y, drop_probability: float, null_label: int, seed: int | None = None):
    options = {} if seed is None else {"generator": torch.Generator().manual_seed(seed)}
    return utils.drop_labels(y, drop_probability, null_label, **options)


# ----- the U-Net ----------------------------------------------------------------------------------

@probe("ddpm")
def fourier_features(ddpm, embed_dim: int, scale: float, time):
    """The projection's fixed frequencies W and its features of `time`: {"W": (embed_dim/2,), "features": (n, embed_dim)}."""
    projection = ddpm.GaussianFourierProjection(embed_dim, scale=scale)
    return {"W": projection.W, "features": projection(time)}


@probe("ddpm")
def unet_layers(ddpm, channels: list[int], embed_dim: int, names: list[str]):
    """What each named layer is: its classes (most derived first) and its sizes; absent if the U-Net has none."""
    unet = ddpm.UNet(channels=tuple(channels), embed_dim=embed_dim)
    sizes = ("in_channels", "out_channels", "kernel_size", "num_groups", "num_channels")
    layers = {}
    for name in names:
        layer = getattr(unet, name, None)
        if isinstance(layer, torch.nn.Module):
            layers[name] = {"classes": [f"{cls.__module__}.{cls.__qualname__}" for cls in type(layer).__mro__],
                            **{size: getattr(layer, size) for size in sizes if hasattr(layer, size)}}
    return layers


@probe("ddpm")
def unet_outputs(ddpm, seed: int, x, inputs: list[list]):
    """The default U-Net, built after torch.manual_seed(seed), on x at each [time, y] of `inputs`."""
    torch.manual_seed(seed)
    unet = ddpm.UNet()
    return [unet(x, time, y) for time, y in inputs]


def record_blocks(unet, x, time, y, layers: list[str]) -> dict:
    """Run `unet` once and record each named layer's first input and its output:
    {(layer, "input" | "output"): tensor}. Layers never called are absent."""
    recorded, hooks = {}, []
    for layer in dict.fromkeys(layers):
        def hook(module, inputs, output, layer=layer):
            recorded[(layer, "input")], recorded[(layer, "output")] = inputs[0].detach(), output.detach()
        hooks.append(getattr(unet, layer).register_forward_hook(hook))
    try:
        with torch.no_grad():
            unet(x, time, y)
    finally:
        for handle in hooks:
            handle.remove()
    return recorded


@probe("ddpm")
def unet_blocks(ddpm, channels: list[int], embed_dim: int, state: dict, x, time, y, layers: list[str]):
    """The U-Net's parameter shapes and, when they are the reference's, the blocks it computes with the
    reference weights (float64): {"parameters": {name: shape}, "missing_layers": [...],
    "blocks": {"layer/input" | "layer/output": tensor}}. A bias the reference does not have is set
    to zero (a zero bias computes the same)."""
    unet = ddpm.UNet(channels=tuple(channels), embed_dim=embed_dim).double()
    own = unet.state_dict()
    answer = {"parameters": {name: list(value.shape) for name, value in own.items()},
              "missing_layers": [layer for layer in layers if not isinstance(getattr(unet, layer, None), torch.nn.Module)]}
    loadable = all(name in own and own[name].shape == value.shape for name, value in state.items()) \
        and all(name in state or name.endswith(".bias") for name in own)
    if loadable and not answer["missing_layers"]:
        unet.load_state_dict({**{name: torch.zeros_like(value) for name, value in own.items()}, **state})
        blocks = record_blocks(unet, x, time, y, layers)
        answer["blocks"] = {f"{layer}/{side}": value for (layer, side), value in blocks.items()}
    return answer


# ----- end to end ---------------------------------------------------------------------------------

@probe("utils", "ddpm", "gmm")
def train_and_sample(utils, ddpm, gmm, timesteps: int, steps: int, batch_size: int, learning_rate: float,
                     drop_probability: float, n_samples: int):
    """Train the student's model on the mixture (seeded), then sample n_samples per label and without one:
    {"0": (n, 2), "1": (n, 2), "null": (n, 2)}."""
    torch.manual_seed(0)
    schedule = utils.Schedule.make("cosine", timesteps)
    model = ddpm.NoisePredictor(ddpm.UNet(), schedule.alphas_cumprod)
    data = gmm.problem_gmm(n_samples=20_000, seed=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    lr_schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=learning_rate, total_steps=steps)
    generator = torch.Generator().manual_seed(0)
    for _ in range(steps):
        index = torch.randint(len(data), (batch_size,), generator=generator)
        t = torch.randint(timesteps, (batch_size,), generator=generator)
        noise = torch.randn(batch_size, 1, 2, generator=generator)
        y = utils.drop_labels(data.labels[index], drop_probability, gmm.NULL_LABEL, generator=generator)
        loss = utils.p_losses(model, schedule, data.samples[index], t, y, noise=noise)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        lr_schedule.step()
    model.eval()
    generator = torch.Generator().manual_seed(1)
    samples = {}
    for label in (0, 1, gmm.NULL_LABEL):
        x_T = torch.randn(n_samples, 1, 2, generator=generator)
        x = utils.p_sample_loop(model, schedule, x_T, torch.full((n_samples,), label), generator=generator)
        samples["null" if label == gmm.NULL_LABEL else str(label)] = x.reshape(-1, 2)
    return samples


@probe("gmm")
def mixture_samples(gmm, count: int):
    x, _ = gmm.problem_gmm(n_samples=10).sample(count)
    return x
