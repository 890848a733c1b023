"""What the graded tests share: the mock denoiser (also used by tools/make_fixtures.py) and the comparison."""
import torch

TOL = dict(rtol=1e-6, atol=1e-8)


def close(actual, expected, what: str) -> None:
    """Compare in float64 within TOL; the failure says what was expected and what came back."""
    torch.testing.assert_close(actual.double(), expected.double(), **TOL,
                               msg=lambda m: f"{what}: expected {expected.tolist()}, got {actual.tolist()} ({m})")


class AffineDenoiser:
    """eps = 0.5 x_t + 0.1 (t + 1) + 2 y, null label 2: every input visibly changes the output."""
    null_label = 2

    def __call__(self, x_t, t, y):
        shape = (-1,) + (1,) * (x_t.dim() - 1)
        return 0.5 * x_t + 0.1 * (t + 1).to(x_t.dtype).reshape(shape) + 2.0 * y.to(x_t.dtype).reshape(shape)


UNET_BLOCKS = (
    ("gnorm1", "output", "encoder block 1: GroupNorm(4) of conv1(x) + dense1(embedding)"),
    ("gnorm2", "output", "encoder block 2: GroupNorm(32) of conv2(SiLU(encoder block 1)) + dense2(embedding)"),
    ("tgnorm2", "output", "decoder block 1: GroupNorm(4) of tconv2(SiLU(encoder block 2)) + dense3(embedding)"),
    ("tconv1", "input", "decoder block 2's input: [SiLU(decoder block 1), SiLU(encoder block 1)] concatenated on channels"),
    ("tconv1", "output", "the U-Net's output: tconv1 of that concatenation"),
)
"""What the U-Net computes, block by block: (layer name, its input or output, what it should be)."""


def load_reference_weights(unet, state: dict) -> None:
    """Put the reference weights into a student's U-Net by the parameter names the TODO prescribes.

    A bias the reference does not have is set to zero (a zero bias computes the same), so only the
    names and shapes of the specified layers matter."""
    own = unet.state_dict()
    missing = [f"{name} {tuple(value.shape)}" for name, value in state.items() if name not in own]
    assert not missing, f"the U-Net has no parameter named {missing}: name the layers as the TODO says"
    extra = [name for name in own if name not in state and not name.endswith(".bias")]
    assert not extra, f"the U-Net has parameters the specification does not: {extra}"
    wrong = [f"{name}: expected {tuple(value.shape)}, got {tuple(own[name].shape)}"
             for name, value in state.items() if own[name].shape != value.shape]
    assert not wrong, "parameter shapes differ from the specification: " + "; ".join(wrong)
    unet.load_state_dict({**{name: torch.zeros_like(value) for name, value in own.items()}, **state})


def unet_blocks(unet, x, time, y) -> dict:
    """Run the U-Net once and record each UNET_BLOCKS value: {(layer, "input" | "output"): tensor}."""
    recorded, hooks = {}, []
    for layer, _, _ in UNET_BLOCKS:
        module = getattr(unet, layer, None)
        assert module is not None, f"the U-Net has no layer named {layer}"
        if layer not in {name for name, _ in recorded}:
            def hook(module, inputs, output, layer=layer):
                recorded[(layer, "input")], recorded[(layer, "output")] = inputs[0].detach(), output.detach()
            hooks.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            unet(x, time, y)
    finally:
        for handle in hooks:
            handle.remove()
    return recorded


def compare_unet(unet, case: dict) -> None:
    """Load case["state"] into `unet` (float64) and compare every block with the reference, in order,
    so the message names the first block that disagrees."""
    unet.double()
    load_reference_weights(unet, case["state"])
    got = unet_blocks(unet, case["x"], case["time"], case["y"])
    for layer, side, meaning in UNET_BLOCKS:
        assert (layer, side) in got, f"{layer} is never called in forward: {meaning}"
        close(got[(layer, side)], case["blocks"][(layer, side)], f"{meaning} ({layer} {side}) disagrees")
