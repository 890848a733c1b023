"""How fast each model runs: one policy for the forward pass's precision, the memory format,
torch.compile and the CPU threads, chosen per device kind by measurement (`make bench-speed`,
docs/benchmarks.md, "Speed policies") and overridable from every command that trains or fits.

Device kinds: "cuda", "mps", "cpu-bf16" (a CPU with native bfloat16 arithmetic, AVX512-BF16 or
AMX) and "cpu" (any other CPU, where bfloat16 is emulated and slower than float32).

Only the forward pass runs under autocast. Weights, gradients, optimiser state and the loss stay
float32, so a checkpoint has the same float32 format whatever the policy. A policy changes the
numbers (bfloat16 rounds every matrix product), never their reproducibility: the same seed and
policy on the same machine give the same weights, and a resumed run keeps its saved policy.
"""
import contextlib
from dataclasses import dataclass, replace

import torch
from torch import nn

PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16}
"""The forward pass's dtype, by name; float32 runs without autocast. float16 is left out: it needs
loss scaling, and every device kind that runs float16 fast runs bfloat16 as fast."""

MODELS = ("two-pixel-ddpm", "two-pixel-noisy-classifier", "mnist-ddpm", "dip")
"""Every model that trains or fits: the checkpoint kinds of the recipes, and the DIP network."""


@dataclass(frozen=True)
class SpeedPolicy:
    """precision: autocast dtype of the forward pass; channels_last: 4-D weights and inputs stored
    channels-last; compile: torch.compile the model's forward pass."""

    precision: str = "float32"
    channels_last: bool = False
    compile: bool = False

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")

    def autocast(self, device: torch.device | str) -> contextlib.AbstractContextManager:
        """The context the forward pass runs in: autocast to `precision`, or none for float32."""
        device = torch.device(device)
        if self.precision == "float32":
            return contextlib.nullcontext()
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ValueError(f"{torch.cuda.get_device_name(device)} has no bfloat16; use --precision float32")
        return torch.autocast(device.type, dtype=PRECISIONS[self.precision])

    def prepare(self, model: nn.Module) -> nn.Module:
        """`model`, changed in place: channels-last weights and a compiled forward pass if asked.
        Its state_dict keeps its names and float32 values either way."""
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        if self.compile:
            model.compile()
        return model

    def describe(self) -> str:
        """One line for the start of a run, e.g. 'bfloat16 autocast, contiguous, eager, 2 CPU threads'."""
        precision = "float32" if self.precision == "float32" else f"{self.precision} autocast"
        return (f"{precision}, {'channels-last' if self.channels_last else 'contiguous'}, "
                f"{'compiled' if self.compile else 'eager'}, {torch.get_num_threads()} CPU threads")


FLOAT32 = SpeedPolicy()
BFLOAT16 = SpeedPolicy(precision="bfloat16")

DEFAULTS: dict[str, dict[str, SpeedPolicy]] = {
    # Measured on an AMD EPYC with AVX512-BF16, 2 cores (docs/benchmarks.md, "Speed policies"):
    # bfloat16 autocast trains the MNIST U-Net 1.3x faster with its accuracy and Frechet distance
    # within the seed spread. The two-pixel models' tensors are too small to gain. DIP fits 1.4-1.8x
    # faster in bfloat16 with channels-last, but its discrepancy and ES-WMV stops moved by more than
    # 0.1 dB on the study's images, so it stays float32. compile was slower, its compile time included.
    "cpu-bf16": {"two-pixel-ddpm": FLOAT32, "two-pixel-noisy-classifier": FLOAT32, "mnist-ddpm": BFLOAT16,
                 "dip": FLOAT32},
    # Not measured: no GPU or Apple machine was available, so these keep float32 eager; --precision
    # bfloat16 and --compile true are there to try.
    "cuda": dict.fromkeys(MODELS, FLOAT32),
    "mps": dict.fromkeys(MODELS, FLOAT32),
    # Without native bfloat16 every bfloat16 product is converted to float32 and back, so float32 stays
    # (reasoned, not measured: this project's machine has native bfloat16).
    "cpu": dict.fromkeys(MODELS, FLOAT32),
}


def cpu_has_native_bfloat16() -> bool:
    """Whether this CPU computes in bfloat16 natively (AVX512-BF16 or AMX), as torch's CPU probe reports."""
    try:
        capability = torch._C._cpu._get_cpu_capability()
    except AttributeError:  # a torch without the probe: assume not
        return False
    return bool(capability.get("avx512_bf16") or capability.get("amx_bf16"))


def device_kind(device: torch.device | str) -> str:
    """"cuda", "mps", "cpu-bf16" or "cpu": the row of DEFAULTS that applies to `device`."""
    device = torch.device(device)
    if device.type in ("cuda", "mps"):
        return device.type
    return "cpu-bf16" if cpu_has_native_bfloat16() else "cpu"


def speed_policy(model: str, device: torch.device | str, precision: str | None = None,
                 channels_last: bool | None = None, compile: bool | None = None) -> SpeedPolicy:
    """The default policy for `model` (one of MODELS) on `device`, with the settings given replaced."""
    if model not in MODELS:
        raise ValueError(f"no speed policy for {model!r}; known models: {', '.join(MODELS)}")
    given = {"precision": precision, "channels_last": channels_last, "compile": compile}
    return replace(DEFAULTS[device_kind(device)][model], **{name: value for name, value in given.items() if value is not None})
