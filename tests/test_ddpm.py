"""The conditional U-Net against the problem set's specification, and the noise predictor on top."""
import pytest
import torch
from torch import nn

from ddpm import GaussianFourierProjection, NoisePredictor, UNet
from gmm import NULL_LABEL
from utils import Schedule


def test_unet_blocks_follow_the_specification():
    unet = UNet(channels=(32, 64), embed_dim=256)
    blocks = [(unet.conv1, nn.Conv1d, 1, 32, 2), (unet.conv2, nn.Conv1d, 32, 64, 1),
              (unet.tconv2, nn.ConvTranspose1d, 64, 32, 1), (unet.tconv1, nn.ConvTranspose1d, 64, 1, 2)]
    for layer, kind, c_in, c_out, kernel in blocks:
        assert type(layer) is kind
        assert (layer.in_channels, layer.out_channels, layer.kernel_size) == (c_in, c_out, (kernel,))
    assert [(n.num_groups, n.num_channels) for n in (unet.gnorm1, unet.gnorm2, unet.tgnorm2)] == [(4, 32), (32, 64), (4, 32)]
    assert [d.dense.out_features for d in (unet.dense1, unet.dense2, unet.dense3)] == [32, 64, 32]
    assert isinstance(unet.act, nn.SiLU)
    assert unet.class_embed.in_features == 3, "one-hot over labels 0, 1 and the null class"
    # the Dense layers' biases already offset every channel before the norm: the convolutions carry none
    assert unet.conv1.bias is None and unet.conv2.bias is None and unet.tconv2.bias is None
    assert unet.tconv1.bias is not None


def test_unet_shapes_and_dependence_on_every_input():
    torch.manual_seed(0)
    unet = UNet()
    x = torch.randn(5, 1, 2)
    time, y = torch.full((5,), 0.5), torch.tensor([0, 1, NULL_LABEL, 0, 1])
    out = unet(x, time, y)
    assert out.shape == (5, 1, 2)
    assert not torch.allclose(out, unet(x, torch.full((5,), 0.1), y)), "the output depends on t"
    assert not torch.allclose(out, unet(x, time, torch.full((5,), NULL_LABEL))), "the output depends on y"
    assert not torch.allclose(out, unet(x + 0.5, time, y)), "the output depends on x"


def test_fourier_features_are_fixed_and_saved():
    projection = GaussianFourierProjection(8, scale=30.0)
    assert list(projection.parameters()) == [], "the frequencies are not trained"
    assert "W" in projection.state_dict(), "but they are saved with the weights"
    time = torch.tensor([0.0, 0.25])
    emb = projection(time)
    angles = 2 * torch.pi * time[:, None] * projection.W
    torch.testing.assert_close(emb, torch.cat([angles.sin(), angles.cos()], -1))
    torch.testing.assert_close(emb[0], torch.cat([torch.zeros(4), torch.ones(4)]))


class ConstantNet(nn.Module):
    """Stands in for the U-Net: outputs a constant and records the time it was given."""
    num_classes = 2

    def forward(self, x, time, y):
        self.time = time
        return torch.full_like(x, 7.0)


def test_noise_predictor_feeds_t_over_T_and_v_form_is_exact_at_pure_noise():
    schedule = Schedule.make("cosine", 10)
    alphas_cumprod = schedule.alphas_cumprod.clone()
    alphas_cumprod[-1] = 0.0  # pure noise at the last step
    predictor = NoisePredictor(ConstantNet(), alphas_cumprod, prediction="v")
    x, t, y = torch.randn(3, 1, 2), torch.tensor([0, 4, 9]), torch.zeros(3, dtype=torch.long)
    eps = predictor(x, t, y)
    torch.testing.assert_close(predictor.unet.time, torch.tensor([0.1, 0.5, 1.0]))
    abar = alphas_cumprod[t].float().reshape(3, 1, 1)
    torch.testing.assert_close(eps, (1 - abar).sqrt() * x + abar.sqrt() * 7.0)
    torch.testing.assert_close(eps[2], x[2], msg="at abar = 0 the v form returns x_t, whatever the network says")
    plain = NoisePredictor(ConstantNet(), alphas_cumprod, prediction="eps")
    torch.testing.assert_close(plain(x, t, y), torch.full_like(x, 7.0))


def functional_unet(unet: UNet, x: torch.Tensor, time: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The problem set's U-Net written again from its equations with torch.nn.functional and the
    module's own parameters: an independent implementation to check the module's forward against."""
    F = nn.functional
    p = dict(unet.named_parameters()) | dict(unet.named_buffers())
    angles = 2 * torch.pi * time[:, None] * p["time_embed.0.W"][None, :]
    fourier = torch.cat([angles.sin(), angles.cos()], dim=-1)
    time_embedding = F.silu(F.linear(fourier, p["time_embed.1.weight"], p["time_embed.1.bias"]))
    one_hot = F.one_hot(y, 3).to(x.dtype)
    embedding = time_embedding + F.linear(one_hot, p["class_embed.weight"], p["class_embed.bias"])

    def dense(name):
        return F.linear(embedding, p[f"{name}.dense.weight"], p[f"{name}.dense.bias"])[..., None]

    def norm(h, name, groups):
        return F.group_norm(h, groups, p[f"{name}.weight"], p[f"{name}.bias"])

    h1 = F.silu(norm(F.conv1d(x, p["conv1.weight"]) + dense("dense1"), "gnorm1", 4))
    h2 = F.silu(norm(F.conv1d(h1, p["conv2.weight"]) + dense("dense2"), "gnorm2", 32))
    h3 = F.silu(norm(F.conv_transpose1d(h2, p["tconv2.weight"]) + dense("dense3"), "tgnorm2", 4))
    return F.conv_transpose1d(torch.cat([h3, h1], dim=1), p["tconv1.weight"], p["tconv1.bias"])


def test_unet_forward_matches_an_independent_implementation():
    torch.manual_seed(3)
    unet = UNet().double()
    with torch.no_grad():  # give every bias and norm a visible value, so a dropped or mis-signed term shows
        for parameter in unet.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    x = torch.randn(6, 1, 2, dtype=torch.float64)
    time = torch.tensor([0.02, 0.1, 0.1, 0.5, 0.9, 1.0], dtype=torch.float64)
    for y in (torch.tensor([0, 1, NULL_LABEL, 1, 0, NULL_LABEL]), torch.tensor([0, 1, 1, 0, 0, 1])):
        torch.testing.assert_close(unet(x, time, y), functional_unet(unet, x, time, y), rtol=1e-10, atol=1e-10)


def test_fourier_scale_sets_the_spread_of_the_frequencies():
    for scale in (2.0, 30.0):
        frequencies = UNet(embed_dim=512, fourier_scale=scale).time_embed[0].W
        assert 0.85 * scale < float(frequencies.std()) < 1.15 * scale
    assert 0.85 * 30 < float(GaussianFourierProjection(512).W.std()) < 1.15 * 30, "the starter's default scale is 30"


def test_the_noise_predictor_keeps_its_schedule_out_of_its_weights_and_names_bad_predictions():
    """The schedule is rebuilt from the config when a checkpoint loads, so it is not saved with the weights."""
    schedule = Schedule.make("cosine", 10)
    model = NoisePredictor(UNet(), schedule.alphas_cumprod)
    assert "alphas_cumprod" not in model.state_dict() and torch.equal(model.alphas_cumprod, schedule.alphas_cumprod.float())
    with pytest.raises(ValueError, match=r"^unknown prediction 'x0'; choose one of \('v', 'eps'\)$"):
        NoisePredictor(UNet(), schedule.alphas_cumprod, prediction="x0")


def test_fourier_frequencies_default_to_scale_30_and_need_an_even_width():
    torch.manual_seed(0)
    frequencies = GaussianFourierProjection(8).W
    torch.manual_seed(0)
    assert torch.equal(frequencies, torch.randn(4) * 30.0)
    with pytest.raises(ValueError, match=r"^embed_dim must be even \(sin and cos per frequency\), got 7$"):
        GaussianFourierProjection(7)
