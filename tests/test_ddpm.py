"""The conditional U-Net against the problem set's specification, and the noise predictor on top."""
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
