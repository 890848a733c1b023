"""The MNIST U-Net: shapes with and without labels, attention, and the shared diffusion code on it."""
import pytest
import torch

from ddpm import NoisePredictor
from mnist_ext.data import NUM_CLASSES
from mnist_ext.model import MnistUNet, SelfAttention
from samplers import sample
from utils import Schedule, p_losses

SMALL = dict(channels=(8, 16, 16, 16), embed_dim=32)


def test_unet_shapes_with_labels_and_null_class():
    torch.manual_seed(0)
    unet = MnistUNet(**SMALL)
    x = torch.randn(3, 1, 28, 28)
    labelled = unet(x, torch.rand(3), torch.tensor([0, 4, 9]))
    unlabelled = unet(x, torch.rand(3), torch.full((3,), NUM_CLASSES))
    assert labelled.shape == unlabelled.shape == (3, 1, 28, 28)
    assert not torch.allclose(labelled, unet(x, torch.rand(3), torch.tensor([1, 5, 8]))), "the label matters"
    assert sum(isinstance(m, SelfAttention) for m in unet.modules()) == 5


def test_the_encoder_halves_28_to_14_to_7_to_4_and_the_decoder_climbs_back():
    unet = MnistUNet(**SMALL)
    sides = []
    for block in [*unet.down, *unet.middle, *unet.up]:
        block.register_forward_hook(lambda module, inputs, output: sides.append(tuple(output.shape[-2:])))
    unet(torch.randn(2, 1, 28, 28), torch.rand(2), torch.tensor([3, 10]))
    assert [side[0] for side in sides] == [28, 14, 7, 4, 4, 4, 4, 7, 14, 28] and all(h == w for h, w in sides)
    narrow = MnistUNet(channels=(8, 16, 4, 8), embed_dim=32, attention_levels=1)  # 4 wide at 7 pixels: any widths work
    assert narrow(torch.randn(2, 1, 28, 28), torch.rand(2), torch.tensor([3, 10])).shape == (2, 1, 28, 28)


def test_attention_refuses_channels_its_heads_do_not_divide():
    with pytest.raises(ValueError, match=r"^channels \(10\) must be divisible by heads \(4\)$"):
        SelfAttention(10, heads=4)


def test_attention_is_residual_and_mixes_positions():
    torch.manual_seed(0)
    attention = SelfAttention(16, heads=4)
    x = torch.randn(2, 16, 7, 7)
    out = attention(x)
    assert out.shape == x.shape and not torch.allclose(out, x)
    changed = x.clone()
    changed[:, :, 0, 0] += 5.0  # one position changes: every position's output moves
    assert (attention(changed) - out)[:, :, 6, 6].abs().max() > 1e-4


def test_training_steps_lower_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    schedule = Schedule.make("cosine", 200)
    model = NoisePredictor(MnistUNet(**SMALL), schedule.alphas_cumprod)
    x0 = torch.rand(8, 1, 28, 28) * 2 - 1
    t, y, noise = torch.randint(200, (8,)), torch.randint(10, (8,)), torch.randn(8, 1, 28, 28)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    first = p_losses(model, schedule, x0, t, y, noise=noise).item()
    for _ in range(15):
        loss = p_losses(model, schedule, x0, t, y, noise=noise)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert p_losses(model, schedule, x0, t, y, noise=noise).item() < 0.8 * first


def test_shared_samplers_run_on_digits():
    torch.manual_seed(0)
    schedule = Schedule.make("cosine", 200)
    model = NoisePredictor(MnistUNet(**SMALL), schedule.alphas_cumprod).eval()
    draw = lambda clip: sample(model, schedule, 4, label=3, guidance_weight=1.0, shape=(1, 28, 28),  # noqa: E731
                               sampler="ddim", steps=3, clip_x0=clip, generator=torch.Generator().manual_seed(0))
    clipped, free = draw(1.0), draw(None)
    assert clipped.shape == (4, 1, 28, 28)
    assert free.abs().max() > 1.5, "an untrained model's predicted digits leave the pixel range"
    assert clipped.abs().max() <= 1.0 + 1e-6, "clip_x0 keeps them in it"
