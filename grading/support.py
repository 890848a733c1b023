"""What the graded tests share on the grader's side: the comparison and the U-Net's block-by-block check."""
import torch

TOL = dict(rtol=1e-6, atol=1e-8)


def close(actual, expected, what: str) -> None:
    """Compare in float64 within TOL; the failure says what was expected and what came back."""
    assert isinstance(actual, torch.Tensor), f"{what}: expected a tensor, got {type(actual).__name__}"
    torch.testing.assert_close(actual.double(), expected.double(), **TOL,
                               msg=lambda m: f"{what}: expected {expected.tolist()}, got {actual.tolist()} ({m})")


UNET_BLOCKS = (
    ("gnorm1", "output", "encoder block 1: GroupNorm(4) of conv1(x) + dense1(embedding)"),
    ("gnorm2", "output", "encoder block 2: GroupNorm(32) of conv2(SiLU(encoder block 1)) + dense2(embedding)"),
    ("tgnorm2", "output", "decoder block 1: GroupNorm(4) of tconv2(SiLU(encoder block 2)) + dense3(embedding)"),
    ("tconv1", "input", "decoder block 2's input: [SiLU(decoder block 1), SiLU(encoder block 1)] concatenated on channels"),
    ("tconv1", "output", "the U-Net's output: tconv1 of that concatenation"),
)
"""What the U-Net computes, block by block: (layer name, its input or output, what it should be)."""


def compare_unet(student, case: dict) -> None:
    """Have the student's U-Net load case["state"] (float64) by the parameter names the TODO prescribes
    and compare every block with the reference, in order, so the message names the first block
    that disagrees."""
    layers = list(dict.fromkeys(layer for layer, _, _ in UNET_BLOCKS))
    answer = student.run("unet_blocks", channels=list(case["channels"]), embed_dim=case["embed_dim"],
                         state=case["state"], x=case["x"], time=case["time"], y=case["y"], layers=layers)
    own, state = answer["parameters"], case["state"]
    missing = [f"{name} {tuple(value.shape)}" for name, value in state.items() if name not in own]
    assert not missing, f"the U-Net has no parameter named {missing}: name the layers as the TODO says"
    extra = [name for name in own if name not in state and not name.endswith(".bias")]
    assert not extra, f"the U-Net has parameters the specification does not: {extra}"
    wrong = [f"{name}: expected {tuple(value.shape)}, got {tuple(own[name])}"
             for name, value in state.items() if tuple(own[name]) != tuple(value.shape)]
    assert not wrong, "parameter shapes differ from the specification: " + "; ".join(wrong)
    assert not answer["missing_layers"], f"the U-Net has no layer named {answer['missing_layers'][0]}"
    for layer, side, meaning in UNET_BLOCKS:
        got = answer.get("blocks", {}).get(f"{layer}/{side}")
        assert got is not None, f"{layer} is never called in forward: {meaning}"
        close(got, case["blocks"][(layer, side)], f"{meaning} ({layer} {side}) disagrees")
