"""When to stop DIP: each rule maps a fit's recorded signals (dip_ext.fit.FitRecord) to the index
of the iteration whose output it returns. None of them looks at the clean image.

(a) fixed count: the iteration count that did best on average over *other* images;
(b) discrepancy principle: stop when the residual ||f - y||^2 / N first reaches sigma^2;
(c) ES-WMV (Wang et al., "Early stopping for deep image prior", 2023): the windowed variance of
    the raw outputs falls while the network fits structure and rises once it fits noise; stop
    when its minimum has not moved for `patience` iterations and return that minimum's iterate;
(d) recorrupted target (dip_ext.progressive): return the iterate with the lowest estimated MSE;
(e) SURE (dip_ext.sure): the same, with Stein's unbiased risk estimate as the estimated MSE.
"""
import numpy as np

WMV_PATIENCE = 1000
"""Iterations without a new variance minimum before ES-WMV stops: the paper's value. A run that ends
sooner after its minimum returns that minimum anyway (wmv_stop), and the study counts such runs."""


def fixed_count_stop(curves_of_other_images: list[np.ndarray]) -> int:
    """The index maximising the mean PSNR over other images' curves (truncated to the shortest)."""
    if not curves_of_other_images:
        raise ValueError("a fixed count is chosen on other images; give at least one curve")
    shortest = min(len(curve) for curve in curves_of_other_images)
    return int(np.argmax(np.mean([curve[:shortest] for curve in curves_of_other_images], axis=0)))


def discrepancy_stop(residual: np.ndarray, noise_variance: float) -> int:
    """The first index where residual <= sigma^2; the last index if the fit never got there."""
    reached = np.flatnonzero(residual <= noise_variance)
    return int(reached[0]) if reached.size else len(residual) - 1


def wmv_stop(variance: np.ndarray, patience: int = WMV_PATIENCE) -> int:
    """The index of the running minimum of `variance` (nan = window not full) once it has stood for
    `patience` iterations; the overall minimum if it never stood that long."""
    best, best_index = np.inf, None
    for index, value in enumerate(variance):
        if value < best:
            best, best_index = value, index
        elif best_index is not None and index - best_index >= patience:
            return best_index
    if best_index is None:
        raise ValueError("the fit was too short for ES-WMV: its window never filled")
    return best_index


def wmv_stood(stop: int, iterations: int, patience: int = WMV_PATIENCE) -> bool:
    """Whether ES-WMV's minimum at index `stop` stood `patience` iterations inside a run of
    `iterations`; if not, the run ended first and wmv_stop returned its overall minimum."""
    return stop + patience < iterations


def estimate_stop(estimated_mse: np.ndarray) -> int:
    """The index of the lowest estimated MSE, recorrupted or SURE (nan where there is no estimate)."""
    if np.all(np.isnan(estimated_mse)):
        raise ValueError("no quality estimate was recorded: the fit had no recorrupted stage (or no SURE twin)")
    return int(np.nanargmin(estimated_mse))


def plateau_width(psnr: np.ndarray, tolerance_db: float = 0.5) -> int:
    """How many iterations stay within tolerance_db of the peak PSNR (a wide plateau forgives a late
    or early stop)."""
    return int(np.sum(psnr >= psnr.max() - tolerance_db))
