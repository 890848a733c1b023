"""A conditional U-Net for 28x28 digits: four blocks per pathway, residual blocks, self-attention.

    encoder  28x28 (c0) -> 14x14 (c1) -> 7x7 (c2, attention) -> 4x4 (c3, attention), stride-2 convs between
    middle   residual, attention, residual at 4x4
    decoder  the mirror image (nearest-neighbour upsampling), each block taking the matching
             encoder output as a skip connection

Every residual block adds a Dense projection of the embedding (Fourier features of t/T plus a
learned class embedding with a null class, as in the two-pixel model). Attention sits in the
blocks of the `attention_levels` lowest resolutions, where it is cheap (49 and 16 positions).
The forward signature is the two-pixel UNet's, (x (B, 1, 28, 28), time (B,) in (0, 1], y (B,))
-> (B, 1, 28, 28), so ddpm.NoisePredictor and every sampler (samplers.py) work on it unchanged.

The default widths (16, 32, 64, 128) put little work at full resolution, where a 3x3
convolution costs 16 times what it costs at 7x7: on a 2-core CPU this trains at about 300
images/s against 118 for (32, 64, 64, 128) at 28, 14, 7, 7 pixels (see docs/benchmarks.md).
"""
import torch
from torch import Tensor, nn

from ddpm import GaussianFourierProjection
from mnist_ext.data import NUM_CLASSES


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, channels), channels)


class ResidualBlock(nn.Module):
    """h = conv(SiLU(norm(x))) + Dense(emb); out = x' + conv(SiLU(norm(h))), x' = x or a 1x1 projection."""

    def __init__(self, c_in: int, c_out: int, embed_dim: int):
        super().__init__()
        self.norm1, self.conv1 = _norm(c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.dense = nn.Linear(embed_dim, c_out)
        self.norm2, self.conv2 = _norm(c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()
        self.act = nn.SiLU()

    def forward(self, x: Tensor, embedding: Tensor) -> Tensor:
        # BEGIN SOLUTION the residual block of the docstring: x (B, c_in, H, W), embedding (B, E) -> (B, c_out, H, W)
        h = self.conv1(self.act(self.norm1(x))) + self.dense(embedding)[:, :, None, None]
        return self.skip(x) + self.conv2(self.act(self.norm2(h)))
        # END SOLUTION


class SelfAttention(nn.Module):
    """Multi-head self-attention over the H*W positions of a feature map, added back (residual)."""

    def __init__(self, channels: int, heads: int = 4):
        super().__init__()
        if channels % heads:
            raise ValueError(f"channels ({channels}) must be divisible by heads ({heads})")
        self.heads = heads
        self.norm = _norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        # BEGIN SOLUTION attend over the H*W positions with self.heads heads, and add the result to x
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, h * w).transpose(-1, -2).unbind(1)
        attended = nn.functional.scaled_dot_product_attention(q, k, v)  # (B, heads, HW, c / heads)
        return x + self.out(attended.transpose(-1, -2).reshape(b, c, h, w))
        # END SOLUTION


class MnistUNet(nn.Module):
    """(x (B, 1, 28, 28), time (B,) in (0, 1], y (B,) in 0..9 or the null class 10) -> (B, 1, 28, 28)."""

    def __init__(self, channels: tuple[int, ...] = (16, 32, 64, 128), attention_levels: int = 2, embed_dim: int = 128,
                 num_classes: int = NUM_CLASSES, fourier_scale: float = 2.0):
        super().__init__()
        self.num_classes = num_classes
        self.time_embed = nn.Sequential(GaussianFourierProjection(embed_dim, fourier_scale), nn.Linear(embed_dim, embed_dim),
                                        nn.SiLU(), nn.Linear(embed_dim, embed_dim))
        self.class_embed = nn.Embedding(num_classes + 1, embed_dim)
        self.stem = nn.Conv2d(1, channels[0], 3, padding=1)
        widths = [channels[0], *channels]  # block i maps widths[i] -> widths[i + 1]
        attended = [level >= len(channels) - attention_levels for level in range(len(channels))]
        self.down = nn.ModuleList([ResidualBlock(widths[i], widths[i + 1], embed_dim) for i in range(len(channels))])
        self.down_attention = nn.ModuleList([SelfAttention(c) if a else nn.Identity() for c, a in zip(channels, attended)])
        self.downsample = nn.ModuleList([nn.Conv2d(c, c, 3, stride=2, padding=1) for c in channels[:-1]] + [nn.Identity()])
        bottom = channels[-1]
        self.middle = nn.ModuleList([ResidualBlock(bottom, bottom, embed_dim), ResidualBlock(bottom, bottom, embed_dim)])
        self.middle_attention = SelfAttention(bottom)
        self.up = nn.ModuleList([ResidualBlock(2 * widths[i + 1], widths[i], embed_dim) for i in reversed(range(len(channels)))])
        self.up_attention = nn.ModuleList([SelfAttention(widths[i]) if attended[i] else nn.Identity() for i in reversed(range(len(channels)))])
        self.head = nn.Sequential(_norm(channels[0]), nn.SiLU(), nn.Conv2d(channels[0], 1, 3, padding=1))

    def forward(self, x: Tensor, time: Tensor, y: Tensor) -> Tensor:
        # BEGIN SOLUTION embed t and y, run the encoder, middle and decoder with skip connections, and the head
        embedding = self.time_embed(time) + self.class_embed(y)  # (B, embed_dim)
        h = self.stem(x)
        skips = []
        for block, attention, downsample in zip(self.down, self.down_attention, self.downsample):
            h = attention(block(h, embedding))
            skips.append(h)
            h = downsample(h)
        h = self.middle_attention(self.middle[0](h, embedding))
        h = self.middle[1](h, embedding)
        for block, attention in zip(self.up, self.up_attention):
            skip = skips.pop()
            h = nn.functional.interpolate(h, size=skip.shape[-2:]) if h.shape[-1] != skip.shape[-1] else h
            h = attention(block(torch.cat([h, skip], dim=1), embedding))
        return self.head(h)
        # END SOLUTION
