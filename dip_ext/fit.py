"""The DIP fitting loop: fit f_theta(z) to one corrupted image, recording what every stopping rule needs.

One stage fits min_theta ||m * (f_theta(z + delta_k) - target)||^2 with Adam, delta_k ~ N(0,
input_noise_std^2) fresh at each iteration k; the reported output is the exponential average
a_k = d a_{k-1} + (1 - d) f_k (d = output_average), and every signal and score is recorded for
both the raw output f_k and the average a_k. Plain DIP is one stage whose target is y;
progressive DIP (progressive.py) runs stages whose targets are y + a sigma z for decreasing a, each
ended when its quality estimate has not improved for `patience` iterations. With sure=True a twin
network, identical at the start, fits y + eps b in lock step (same input perturbations), which gives
SURE at every iteration (sure.py). Grey and colour images alike: the network outputs the image's
channels, and every mean runs over pixels and channels.

The clean image, when given, is used only to record PSNR/SSIM for evaluation; nothing here
selects anything with it. The project's training loop (training.py) is not used: it trains on
batches of a data set and its product is a checkpoint, while a fit lasts seconds and its product is
this per-iteration record. Ctrl-C ends the fit early and keeps what was recorded.
"""
import copy
import time
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from dip_ext.images import channels, check_mask, to_image, to_tensor
from dip_ext.network import DipConfig, SkipHourglass, input_noise
from dip_ext.progressive import estimated_mse, target_pair
from dip_ext.quality import psnr, ssim
from dip_ext.sure import SURE_EPSILON, rademacher_probe, sure as sure_estimate
from speed import SpeedPolicy, speed_policy

WMV_WINDOW = 100
"""ES-WMV's window (Wang et al. 2023): the variance of the last 100 raw outputs."""


@dataclass(frozen=True)
class Stage:
    """Fit the target y + scale * sigma * z (scale 0: y itself) for at most `iterations` iterations;
    with patience, end the stage once its quality estimate has not improved for that many."""

    scale: float
    iterations: int
    patience: int | None = None


@dataclass
class FitRecord:
    """Per-iteration signals of one fit (index k = iteration k + 1), and the outputs worth keeping.

    loss: ||f_k - target||^2 / N, raw output, observed pixels; residual: the same against y
    (the discrepancy principle's signal); wmv: windowed moving variance of the raw outputs, mean
    over pixels and channels (nan until the window fills); estimate/estimate_raw: estimated MSE of
    the averaged/raw output to the clean image (progressive stages; nan where scale = 0);
    sure/sure_raw: SURE of the averaged/raw output (nan without sure=True); stage: the stage index.
    psnr/ssim of the averaged output, psnr_raw/ssim_raw of the raw one, to the clean image
    (evaluation only; empty without it). snapshots: averaged output every `snapshot_every`
    iterations (iteration -> float32 image), only those `keep_snapshots` still names when given.
    """

    loss: list[float] = field(default_factory=list)
    residual: list[float] = field(default_factory=list)
    wmv: list[float] = field(default_factory=list)
    estimate: list[float] = field(default_factory=list)
    estimate_raw: list[float] = field(default_factory=list)
    sure: list[float] = field(default_factory=list)
    sure_raw: list[float] = field(default_factory=list)
    stage: list[int] = field(default_factory=list)
    psnr: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)
    psnr_raw: list[float] = field(default_factory=list)
    ssim_raw: list[float] = field(default_factory=list)
    snapshots: dict[int, np.ndarray] = field(default_factory=dict)
    final: np.ndarray | None = None
    seconds: float = 0.0
    twin_seconds: float = 0.0  # the part of `seconds` spent on SURE's twin network
    interrupted: bool = False

    @property
    def iterations(self) -> int:
        return len(self.loss)

    def arrays(self) -> dict[str, np.ndarray]:
        """The per-iteration signals as float arrays."""
        names = ("loss", "residual", "wmv", "estimate", "estimate_raw", "sure", "sure_raw", "stage", "psnr", "ssim",
                 "psnr_raw", "ssim_raw")
        return {name: np.asarray(getattr(self, name), dtype=np.float64) for name in names}


def network_side(side: int, config: DipConfig) -> int:
    """The input side the network runs at for an image side: the next multiple of 2^depth, and at
    least 2^(depth+1) so the deepest level is 2 pixels wide (reflection padding needs 2)."""
    multiple = config.side_multiple
    return max(-(-side // multiple) * multiple, 2 * multiple)


def _adam_step(network: SkipHourglass, optimiser: torch.optim.Optimizer, perturbed: Tensor, target: Tensor,
               observed: Tensor, speed: SpeedPolicy, device: torch.device,
               regulariser: Callable[[Tensor], Tensor] | None = None) -> tuple[Tensor, Tensor]:
    """One step on ||m * (f(z + delta) - target)||^2 / |m| (+ regulariser(f(z + delta))), m = observed
    (1, C, H, W); the forward pass under `speed`, cropped to the target. Returns (the data term's
    loss, raw output (1, C, H, W) float32)."""
    height, width = target.shape[-2:]
    with speed.autocast(device):
        output = network(perturbed)[..., :height, :width].float()
    loss = ((output - target) ** 2 * observed).sum() / observed.sum()
    optimiser.zero_grad(set_to_none=True)
    (loss if regulariser is None else loss + regulariser(output)).backward()
    optimiser.step()
    return loss.detach(), output.detach()


def _averaged(average: Tensor | None, raw: Tensor, decay: float) -> Tensor:
    """a_1 = f_1, a_k = d a_{k-1} + (1 - d) f_k."""
    return raw.clone() if average is None else decay * average + (1 - decay) * raw


def fit(observation: np.ndarray, config: DipConfig, stages: list[Stage], *, sigma: float | None = None,
        mask: np.ndarray | None = None, clean: np.ndarray | None = None, seed: int = 0,
        snapshot_every: int = 0, keep_snapshots: Callable[[FitRecord], Collection[int]] | None = None,
        device: torch.device | str = "cpu", progress: bool = True, speed: SpeedPolicy | None = None,
        sure: bool = False, regulariser: Callable[[Tensor], Tensor] | None = None) -> FitRecord:
    """Fit DIP to observation (H, W) or (H, W, C) in [0, 1] (noisy; missing pixels where mask == 0)
    stage by stage.

    sigma: the observation's noise std on the 0..1 scale (known or estimated), needed by stages
    with scale > 0 and by sure. keep_snapshots(record), called after each snapshot, names the
    iterations whose snapshots to keep (the rest are dropped): a command that needs only the outputs
    its rules return holds a few images, not one per iteration (a 512x512 colour one is 3 MB). For
    an image whose sides do not divide by 2^depth the network runs on a larger input (network_side)
    and its output is cropped back to the image. The network's forward pass runs
    under `speed` (default: DIP's policy for the device kind, speed.py); the output, the loss and
    everything recorded are float32. regulariser(output), output the raw (1, C, H, W) float32
    image in [0, 1], returns a scalar added to the loss it fits (a learned prior, for example); the
    recorded loss stays the data term. Same seed and policy, same record (on the same machine).
    """
    height, width = observation.shape[:2]
    if mask is not None:
        check_mask(mask, observation.shape)
    if any(stage.scale > 0 for stage in stages) and not sigma:
        raise ValueError("progressive stages need the observation's noise level sigma (known or estimated)")
    if not stages or any(stage.iterations < 1 for stage in stages):
        raise ValueError("give at least one stage, each with at least one iteration")
    if sure and (not sigma or mask is not None or any(stage.scale > 0 for stage in stages) or regulariser):
        raise ValueError("SURE needs the noise level sigma, every pixel observed (no mask), plain stages (scale 0) "
                         "and no regulariser")
    device = torch.device(device)
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = SkipHourglass(config, channels(observation)).to(device)
    twin = copy.deepcopy(network) if sure else None
    speed = speed or speed_policy("dip", device)
    optimisers = []
    for each in (network, twin) if sure else (network,):
        speed.prepare(each)
        optimisers.append(torch.optim.Adam(each.parameters(), lr=config.learning_rate))
    z = input_noise(config, network_side(height, config), network_side(width, config), generator).to(device)
    if speed.channels_last:
        z = z.contiguous(memory_format=torch.channels_last)
    extra_noise = torch.randn(observation.shape, generator=generator, dtype=torch.float64).numpy()
    observed = to_tensor(np.ones(observation.shape) if mask is None else mask, device)
    y = to_tensor(observation, device)
    probe = rademacher_probe(observation.shape, seed) if sure else None

    record = FitRecord()
    window: deque[Tensor] = deque(maxlen=WMV_WINDOW)
    average = twin_average = None
    began = time.perf_counter()
    bar = tqdm(total=sum(stage.iterations for stage in stages), disable=not progress, desc="DIP", leave=False)
    try:
        for stage_index, stage in enumerate(stages):
            if stage.scale > 0:
                fit_target, check_target = target_pair(observation, extra_noise, stage.scale, sigma)
            else:
                fit_target, check_target = observation, None
            target = to_tensor(fit_target, device)
            twin_target = target + SURE_EPSILON * to_tensor(probe, device) if sure else None
            best, since_best = np.inf, 0
            for _ in range(stage.iterations):
                perturbed = z + config.input_noise_std * torch.randn(z.shape, generator=generator).to(device)
                loss, raw = _adam_step(network, optimisers[0], perturbed, target, observed, speed, device, regulariser)
                with torch.no_grad():
                    average = _averaged(average, raw, config.output_average)
                    window.append(raw)
                    residual = ((raw - y) ** 2 * observed).sum() / observed.sum()
                    wmv = torch.stack(tuple(window)).var(dim=0, unbiased=False).mean() if len(window) == WMV_WINDOW else torch.tensor(np.nan)
                averaged, raw_image = to_image(average), to_image(raw)
                if check_target is None:
                    record.estimate.append(np.nan)
                    record.estimate_raw.append(np.nan)
                else:
                    record.estimate.append(estimated_mse(averaged, check_target, stage.scale, sigma, mask))
                    record.estimate_raw.append(estimated_mse(raw_image, check_target, stage.scale, sigma, mask))
                if sure:
                    twin_began = time.perf_counter()
                    _, twin_raw = _adam_step(twin, optimisers[1], perturbed, twin_target, observed, speed, device)
                    twin_average = _averaged(twin_average, twin_raw, config.output_average)
                    record.sure.append(sure_estimate(averaged, to_image(twin_average), observation, probe, SURE_EPSILON, sigma))
                    record.sure_raw.append(sure_estimate(raw_image, to_image(twin_raw), observation, probe, SURE_EPSILON, sigma))
                    record.twin_seconds += time.perf_counter() - twin_began
                else:
                    record.sure.append(np.nan)
                    record.sure_raw.append(np.nan)
                record.loss.append(loss.item())
                record.residual.append(residual.item())
                record.wmv.append(wmv.item())
                record.stage.append(stage_index)
                if clean is not None:
                    record.psnr.append(psnr(clean, averaged))
                    record.ssim.append(ssim(clean, averaged))
                    record.psnr_raw.append(psnr(clean, raw_image))
                    record.ssim_raw.append(ssim(clean, raw_image))
                if snapshot_every and record.iterations % snapshot_every == 0:
                    record.snapshots[record.iterations] = averaged.astype(np.float32)
                    if keep_snapshots is not None:
                        kept = keep_snapshots(record)
                        record.snapshots = {k: image for k, image in record.snapshots.items() if k in kept}
                bar.update()
                if stage.patience is not None and check_target is not None:
                    if record.estimate[-1] < best:
                        best, since_best = record.estimate[-1], 0
                        best_state = ({name: value.clone() for name, value in network.state_dict().items()}, average.clone())
                    else:
                        since_best += 1
                    if since_best >= stage.patience:
                        network.load_state_dict(best_state[0])
                        average = best_state[1]
                        break
    except KeyboardInterrupt:
        record.interrupted = True
    finally:
        bar.close()
    record.seconds = time.perf_counter() - began
    record.final = None if average is None else to_image(average)
    return record
