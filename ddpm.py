"""The conditional Conv1D U-Net for two-pixel images, and the noise predictor built on it.

The network sees an image as a one-channel signal of length two, x: (B, 1, 2). Its four blocks
follow the problem set exactly:

    encoder 1  Conv1d(1 -> c0, kernel 2)          + Dense(emb)  GroupNorm(4)   SiLU   (B, c0, 1)
    encoder 2  Conv1d(c0 -> c1, kernel 1)         + Dense(emb)  GroupNorm(32)  SiLU   (B, c1, 1)
    decoder 1  ConvTranspose1d(c1 -> c0, kernel 1) + Dense(emb) GroupNorm(4)   SiLU   (B, c0, 1)
    decoder 2  ConvTranspose1d(2 c0 -> 1, kernel 2) on [decoder 1, encoder 1]          (B, 1, 2)

with (c0, c1) = channels = (32, 64). The embedding added to every block is the time embedding
(fixed Gaussian Fourier features of t/T, then a linear layer) plus the class embedding (a linear
layer on the one-hot label, null class included). Adding the two before the per-block Dense is
the same as giving each its own Dense: a linear map of a sum is the sum of the linear maps.

A note for readers: after the kernel-2 convolution every feature map has length 1, so GroupNorm
with 32 groups on 64 channels normalises *pairs* of numbers; each pair comes out as about
(+1, -1) or (-1, +1) times the learned scale. The specification asks for it, so it stays, but
most of the network's smooth dependence on x_t passes through encoder 1 and the skip connection.
"""
import math

import torch
from torch import Tensor, nn

from gmm import NUM_CLASSES

DEFAULT_FOURIER_SCALE = 2.0
"""Frequency scale of the U-Net's time features. The starter's GaussianFourierProjection default is 30,
which makes neighbouring t/T look unrelated; 2 keeps the embedding smooth in t/T (docs/two-pixel.md: training recipe)."""


class GaussianFourierProjection(nn.Module):
    """Fixed random Fourier features of a scalar time, (B,) -> (B, embed_dim).

    emb(t) = [sin 2 pi w_1 t, ..., sin 2 pi w_n t, cos 2 pi w_1 t, ..., cos 2 pi w_n t],
    w_i ~ N(0, 1) * scale, n = embed_dim / 2. The frequencies are a buffer: saved with the
    weights, never trained.
    """

    def __init__(self, embed_dim: int, scale: float = 30.0):
        super().__init__()
        if embed_dim % 2:
            raise ValueError(f"embed_dim must be even (sin and cos per frequency), got {embed_dim}")
        self.register_buffer("W", torch.randn(embed_dim // 2) * scale)

    def forward(self, time: Tensor) -> Tensor:
        # BEGIN SOLUTION return [sin 2 pi W t, cos 2 pi W t] for each time, shape (B, embed_dim)
        angles = 2 * math.pi * time[:, None] * self.W[None, :]
        return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)
        # END SOLUTION


class Dense(nn.Module):
    """A linear layer whose output is shaped as a feature map: (B, in) -> (B, out, 1)."""

    def __init__(self, input_dim: int, output_dim: int):
        super().__init__()
        self.dense = nn.Linear(input_dim, output_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.dense(x)[..., None]


class UNet(nn.Module):
    """Conditional U-Net on two pixels: (x (B, 1, 2), time (B,) in (0, 1], y (B,)) -> (B, 1, 2).

    time is t/T (continuous, so nearby steps get nearby embeddings); y is a label in
    0..num_classes-1 or num_classes, the null class.
    """

    def __init__(self, channels: tuple[int, int] = (32, 64), embed_dim: int = 256,
                 num_classes: int = NUM_CLASSES, fourier_scale: float = DEFAULT_FOURIER_SCALE):
        super().__init__()
        c0, c1 = channels
        self.num_classes = num_classes
        self.act = nn.SiLU()
        self.time_embed = nn.Sequential(GaussianFourierProjection(embed_dim, scale=fourier_scale),
                                        nn.Linear(embed_dim, embed_dim))
        self.class_embed = nn.Linear(num_classes + 1, embed_dim)

        # BEGIN SOLUTION build the four blocks: conv1/dense1/gnorm1, conv2/dense2/gnorm2, tconv2/dense3/tgnorm2, tconv1
        self.conv1 = nn.Conv1d(1, c0, kernel_size=2, bias=False)
        self.dense1 = Dense(embed_dim, c0)
        self.gnorm1 = nn.GroupNorm(4, num_channels=c0)
        self.conv2 = nn.Conv1d(c0, c1, kernel_size=1, bias=False)
        self.dense2 = Dense(embed_dim, c1)
        self.gnorm2 = nn.GroupNorm(32, num_channels=c1)

        self.tconv2 = nn.ConvTranspose1d(c1, c0, kernel_size=1, bias=False)
        self.dense3 = Dense(embed_dim, c0)
        self.tgnorm2 = nn.GroupNorm(4, num_channels=c0)
        self.tconv1 = nn.ConvTranspose1d(2 * c0, 1, kernel_size=2)
        # END SOLUTION

    def forward(self, x: Tensor, time: Tensor, y: Tensor) -> Tensor:
        # a batch holds at most T distinct times: embed each once, then spread back with a one-hot
        # matrix product (same values, less work; unlike indexing, its gradient sums in a fixed order,
        # so training is bit-for-bit reproducible with several threads)
        distinct_times, index = time.unique(return_inverse=True)
        spread = nn.functional.one_hot(index, len(distinct_times)).to(x.dtype)  # (B, U)
        time_embedding = spread @ self.act(self.time_embed(distinct_times))  # (B, embed_dim)
        one_hot = nn.functional.one_hot(y, self.num_classes + 1).to(x.dtype)
        embedding = time_embedding + self.class_embed(one_hot)  # (B, embed_dim)

        # BEGIN SOLUTION run the four blocks, adding Dense(embedding) in the first three, with the skip connection into the last
        h1 = self.act(self.gnorm1(self.conv1(x) + self.dense1(embedding)))  # (B, c0, 1)
        h2 = self.act(self.gnorm2(self.conv2(h1) + self.dense2(embedding)))  # (B, c1, 1)
        h3 = self.act(self.tgnorm2(self.tconv2(h2) + self.dense3(embedding)))  # (B, c0, 1)
        return self.tconv1(torch.cat([h3, h1], dim=1))  # (B, 1, 2)
        # END SOLUTION


class NoisePredictor(nn.Module):
    """eps_theta(x_t, t, y) from a U-Net: the denoiser that utils.py trains and samples.

    It turns the integer step into the network's time input t/T, and reads the network's output
    in one of two parametrisations (both give eps, so the loss and the sampler are the textbook
    ones either way):

    "eps": eps_theta = F(x_t, t/T, y), the network predicts the noise directly.
    "v":   eps_theta = sqrt(1 - abar_t) x_t + sqrt(abar_t) F(x_t, t/T, y).
           This is the velocity parametrisation v = sqrt(abar) eps - sqrt(1 - abar) x_0 written
           for eps. At pure noise (abar -> 0) eps = x_t exactly, whatever F outputs, so the first
           reverse step of a cosine schedule, which multiplies eps errors by 1/sqrt(alpha_T) ~ 30,
           no longer amplifies the network's error: it sees it scaled by sqrt(abar_T) ~ 0.
           The eps-loss on this form is the v-loss weighted by abar_t.

    x_t: (B, 1, 2); t: (B,) int64 in 0..T-1; y: (B,) int64. Returns eps (B, 1, 2).
    """

    PREDICTIONS = ("v", "eps")

    def __init__(self, unet: UNet, alphas_cumprod: Tensor, prediction: str = "v"):
        super().__init__()
        if prediction not in self.PREDICTIONS:
            raise ValueError(f"unknown prediction {prediction!r}; choose one of {self.PREDICTIONS}")
        self.unet = unet
        self.prediction = prediction
        self.null_label = unet.num_classes
        self.register_buffer("alphas_cumprod", alphas_cumprod.float(), persistent=False)

    def forward(self, x_t: Tensor, t: Tensor, y: Tensor) -> Tensor:
        timesteps = self.alphas_cumprod.shape[0]
        output = self.unet(x_t, (t + 1).to(x_t.dtype) / timesteps, y)
        if self.prediction == "eps":
            return output
        alpha_bar = self.alphas_cumprod[t].to(x_t.dtype).reshape(-1, *[1] * (x_t.dim() - 1))
        return (1 - alpha_bar).sqrt() * x_t + alpha_bar.sqrt() * output
