"""The Deep Image Prior network: the paper's "skip" hourglass, and its configuration.

Ulyanov, Vedaldi and Lempitsky (CVPR 2018), denoising setting: an encoder-decoder of `depth`
levels. Level i (counted from the full resolution) is

    skip_i(x) = LReLU(BN(conv1x1(x)))                                   channels_skip wide
    down_i(x) = LReLU(BN(conv3x3(LReLU(BN(conv3x3_stride2(x))))))       channels_down wide
    up_i(x)   = LReLU(BN(conv1x1(LReLU(BN(conv3x3(BN([skip_i(x), upsample(deeper(down_i(x)))])))))))

with deeper = level i + 1 (the identity below the last level), every 3x3 convolution reflection
padded, and the output sigmoid(conv1x1(up_1(z))) in [0, 1]. The input z is fixed noise of
`input_channels` channels drawn from U(0, input_scale).

Several fits run faster as separate one-thread processes than stacked into one network with
grouped convolutions (measured in docs/benchmarks.md, "DIP speed"), so the network is a single fit.
"""
from dataclasses import dataclass, fields

import torch
from torch import Tensor, nn

UPSAMPLING = ("bilinear", "nearest")
PAPER_WIDTH = 128
"""The paper's channels per level, down and up. DipConfig's default is narrower (docs/benchmarks.md, "DIP speed")."""


@dataclass(frozen=True)
class DipConfig:
    """The network and its fitting, with the paper's values (dip-homework.md) except the width.

    channels_down/channels_up default to 64, not the paper's 128: on 2 CPU cores the narrow
    network fits 2-3x faster, for a PSNR cost measured in docs/benchmarks.md ("DIP speed", tools/bench_dip_network).
    """

    depth: int = 5
    channels_down: int = 64
    channels_up: int = 64
    channels_skip: int = 4
    kernel_down: int = 3
    kernel_up: int = 3
    kernel_skip: int = 1
    upsampling: str = "bilinear"
    input_channels: int = 32
    input_scale: float = 0.1  # z ~ U(0, input_scale)
    input_noise_std: float = 1 / 30  # fresh N(0, std^2) added to z at every iteration
    learning_rate: float = 0.01  # Adam
    output_average: float = 0.99  # reported output: exponential average of the outputs with this decay

    def __post_init__(self):
        problems = []
        for field in fields(self):
            value, least = getattr(self, field.name), 0 if field.name == "channels_skip" else 1
            if field.type is int and value < least:
                problems.append(f"{field.name} must be an integer >= {least}, got {value}")
        for name in ("kernel_down", "kernel_up", "kernel_skip"):
            if getattr(self, name) % 2 == 0:
                problems.append(f"{name} must be odd so the output keeps its size, got {getattr(self, name)}")
        if self.upsampling not in UPSAMPLING:
            problems.append(f"upsampling must be one of {', '.join(UPSAMPLING)}, got {self.upsampling!r}")
        if self.input_scale <= 0 or self.input_noise_std < 0 or self.learning_rate <= 0:
            problems.append("input_scale and learning_rate must be positive and input_noise_std >= 0")
        if not 0 <= self.output_average < 1:
            problems.append(f"output_average must be in [0, 1), got {self.output_average}")
        if problems:
            raise ValueError("invalid DIP configuration: " + "; ".join(problems))

    @property
    def side_multiple(self) -> int:
        """The network's input sides must divide by this (each level halves them)."""
        return 2 ** self.depth


def _conv(channels_in: int, channels_out: int, kernel: int, stride: int = 1) -> nn.Module:
    """A convolution, reflection padded so that (stride 1) the output keeps the input's size."""
    padding = (kernel - 1) // 2
    conv = nn.Conv2d(channels_in, channels_out, kernel, stride=stride)
    return nn.Sequential(nn.ReflectionPad2d(padding), conv) if padding else conv


def _conv_bn_act(channels_in: int, channels_out: int, kernel: int, stride: int = 1) -> nn.Module:
    return nn.Sequential(_conv(channels_in, channels_out, kernel, stride),
                         nn.BatchNorm2d(channels_out), nn.LeakyReLU(0.2))


class _Level(nn.Module):
    """One level of the hourglass: skip branch beside down -> deeper -> upsample, then merge."""

    def __init__(self, config: DipConfig, channels_in: int, deeper: nn.Module | None,
                 deeper_channels: int):
        super().__init__()
        c = config
        self.upsampling = c.upsampling
        self.skip = _conv_bn_act(channels_in, c.channels_skip, c.kernel_skip) if c.channels_skip else None
        self.down = nn.Sequential(_conv_bn_act(channels_in, c.channels_down, c.kernel_down, stride=2),
                                  _conv_bn_act(c.channels_down, c.channels_down, c.kernel_down))
        self.deeper = deeper if deeper is not None else nn.Identity()
        merged = c.channels_skip + deeper_channels
        self.up = nn.Sequential(nn.BatchNorm2d(merged),
                                _conv_bn_act(merged, c.channels_up, c.kernel_up),
                                _conv_bn_act(c.channels_up, c.channels_up, 1))

    def forward(self, x: Tensor) -> Tensor:
        """x: (1, channels_in, H, W) -> (1, channels_up, H, W)."""
        deep = nn.functional.interpolate(self.deeper(self.down(x)), scale_factor=2, mode=self.upsampling)
        if self.skip is None:
            return self.up(deep)
        return self.up(torch.cat([self.skip(x), deep], dim=1))


class SkipHourglass(nn.Module):
    """f_theta: z (1, input_channels, H, W) -> image (1, channels_out, H, W) in [0, 1].

    H and W must divide by 2^depth and be at least 2^(depth+1) (dip_ext.fit.network_side).
    """

    def __init__(self, config: DipConfig, channels_out: int = 1):
        super().__init__()
        self.config = config
        level = None
        for index in reversed(range(config.depth)):  # build from the deepest level outwards
            channels_in = config.input_channels if index == 0 else config.channels_down
            deeper_channels = config.channels_down if level is None else config.channels_up
            level = _Level(config, channels_in, level, deeper_channels)
        self.levels = level
        self.head = nn.Sequential(_conv(config.channels_up, channels_out, 1), nn.Sigmoid())

    def forward(self, z: Tensor) -> Tensor:
        side = self.config.side_multiple
        if z.shape[-1] % side or z.shape[-2] % side or min(z.shape[-2:]) < 2 * side:
            raise ValueError(f"the input's sides {tuple(z.shape[-2:])} must divide by 2^depth = {side} "
                             f"and be at least {2 * side}")
        return self.head(self.levels(z))


def input_noise(config: DipConfig, height: int, width: int, generator: torch.Generator | None = None) -> Tensor:
    """z ~ U(0, input_scale), shape (1, input_channels, height, width)."""
    shape = (1, config.input_channels, height, width)
    return torch.rand(shape, generator=generator) * config.input_scale
