"""What a stopping rule sees and returns, and the published rules written that way.

A rule is any function `rule(problem: StopProblem) -> Stop`. The problem holds what may be known
about one noisy image without its clean version: the observation, the noise level estimated from
it, which output is scored ("averaged", DIP's reported exponential average, or "raw"), and plain
DIP's fit as a BlindFit (every per-iteration signal of dip_ext.fit.FitRecord except the scores
against the clean image). A rule may run fits of its own, `problem.fit(stages)`, from the same seed
(so the same initialisation, input and perturbations as the plain fit). It returns a Stop: one of
those fits and the index of the iteration whose output it returns (index k = iteration k + 1).

The harnesses (dip_ext.study for many images, dip_ext.denoise for one) score the output at the stop
and charge the rule the fits it read: the plain one, SURE's twin network if it read a SURE signal,
and each fit of its own. Plug a rule of your own in by name (dip_ext.plugins):

    python -m dip_ext.run_study --rule my_rules.py:lowest_residual

    # my_rules.py
    import numpy as np
    from dip_ext.rules import Stop

    def lowest_residual(problem):
        return Stop(problem.plain, int(np.argmin(problem.plain.signal("residual"))))

The fixed count, chosen on the other images' PSNR curves, is not a function of one problem; the
study adds it when it summarises (dip_ext.stopping.fixed_count_stop).
"""
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from dip_ext.fit import Stage
from dip_ext.stopping import discrepancy_stop, estimate_stop, wmv_stop

OUTPUTS = ("averaged", "raw")
"""What a stop is scored on: the exponential average of the outputs (DIP's reported output) or the
network's raw output at that iteration (what ES-WMV's paper reports)."""
SCORES = ("psnr", "ssim", "psnr_raw", "ssim_raw")
"""A fit's signals against the clean image: the harness's to score with, never a rule's to read."""
TWIN_SIGNALS = ("sure", "sure_raw")
"""Signals that come from SURE's twin network: a rule that reads one pays for a second network."""
PLAIN = "plain"


def fit_label(stages: tuple[Stage, ...]) -> str:
    """A fit's name in records and tables: 'plain', or its stages, e.g. 'a=0.25 x2000 patience 200'."""
    if stages == (Stage(0.0, stages[0].iterations),):
        return PLAIN
    return ", ".join(f"a={stage.scale:g} x{stage.iterations}" + (f" patience {stage.patience}" if stage.patience else "")
                     for stage in stages)


@dataclass
class FitResult:
    """One fit as the harness keeps it: FitRecord.arrays() (scores included), its time, and SURE's
    twin's share of that time."""

    signals: dict[str, np.ndarray]
    seconds: float
    twin_seconds: float = 0.0

    @property
    def iterations(self) -> int:
        return len(self.signals["loss"])


class BlindFit:
    """A fit as a rule sees it: `signal(name)` gives any per-iteration signal but the scores
    (loss, residual, wmv, estimate, estimate_raw, sure, sure_raw, stage; see FitRecord)."""

    def __init__(self, label: str, result: FitResult, on_read: Callable[[str, str], None]):
        self.label, self._result, self._on_read = label, result, on_read

    @property
    def iterations(self) -> int:
        return self._result.iterations

    def signal(self, name: str) -> np.ndarray:
        if name in SCORES:
            raise ValueError(f"{name!r} scores the fit against the clean image, which a stopping rule may not read")
        if name not in self._result.signals:
            readable = sorted(set(self._result.signals) - set(SCORES))
            raise ValueError(f"a fit has no signal {name!r}; it records {', '.join(readable)}")
        self._on_read(self.label, name)
        return self._result.signals[name].copy()


@dataclass(frozen=True)
class Stop:
    """The fit a rule stops and the index of the iteration whose output it returns."""

    fit: BlindFit
    iteration: int


@dataclass
class StopProblem:
    """One noisy image as a rule may know it. observation: (H, W) or (H, W, C) in [0, 1]; sigma: the
    noise std estimated from it (0..1 scale); output: the output scored ("averaged" or "raw");
    iterations: the plain fit's length (a fit of your own may take another)."""

    observation: np.ndarray
    sigma: float
    output: str
    iterations: int
    seed: int
    _run: Callable[[tuple[Stage, ...]], FitResult] = field(repr=False)
    read: dict[str, set[str]] = field(default_factory=dict)
    """{fit label: signals read}: what the rule has looked at, for its cost."""

    def _note(self, label: str, signal: str) -> None:
        self.read[label].add(signal)  # StopProblem.fit registered the label when it made the fit

    def fit(self, stages: list[Stage] | tuple[Stage, ...]) -> BlindFit:
        """DIP fitted by `stages` (dip_ext.fit.Stage), with this problem's seed and sigma; run once per
        case whatever asks for it."""
        stages = tuple(stages)
        label = fit_label(stages)
        self.read.setdefault(label, set())
        return BlindFit(label, self._run(stages), self._note)

    @property
    def plain(self) -> BlindFit:
        """Plain DIP: one stage fitting y for `iterations` iterations."""
        return self.fit((Stage(0.0, self.iterations),))



Rule = Callable[[StopProblem], Stop]


def networks_read(read: dict[str, set[str]]) -> tuple[int, bool]:
    """What a rule's reads ({fit label: signals}, StopProblem.read) cost: (networks fitted, whether
    SURE's twin is one of them). Each fit read is one network; the twin is one more once a SURE
    signal of the plain fit was read."""
    twin = bool(read.get(PLAIN, set()) & set(TWIN_SIGNALS))
    return len(read) + twin, twin


def discrepancy(problem: StopProblem) -> Stop:
    """The discrepancy principle: the first iteration whose raw residual ||f - y||^2 / N reaches sigma^2."""
    plain = problem.plain
    return Stop(plain, discrepancy_stop(plain.signal("residual"), problem.sigma ** 2))


def es_wmv(problem: StopProblem) -> Stop:
    """ES-WMV: the running minimum of the raw outputs' windowed variance, once it has stood WMV_PATIENCE iterations."""
    plain = problem.plain
    return Stop(plain, wmv_stop(plain.signal("wmv")))


def sure(problem: StopProblem) -> Stop:
    """The lowest SURE of the scored output (a twin network fits the probed observation beside plain DIP)."""
    plain = problem.plain
    return Stop(plain, estimate_stop(plain.signal("sure" if problem.output == "averaged" else "sure_raw")))


BASELINES: dict[str, Rule] = {"discrepancy": discrepancy, "ES-WMV": es_wmv, "SURE": sure}
"""The published blind rules (dip-homework.md), each a function of the problem alone."""
FIXED_COUNT = "fixed count"
REFERENCE_RULES = ("recorrupted=dip_ext.recorrupted:recorrupted", "twin=dip_ext.recorrupted:twin")
"""The rules the study plugs in unless told otherwise: Example 2's answer, a TODO in the handout."""
