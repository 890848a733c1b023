"""Example 2's stopping rules: what the diffusion-style targets of dip_ext.progressive decide.

recorrupted: fit DIP to the target y + a sigma z (a = RECORRUPTED_SCALE; dip_ext.fit records the
    estimated MSE of every iterate against the check target y - sigma z / a, as "estimate" for the
    averaged output and "estimate_raw" for the raw one) and return the iterate whose estimate of the
    scored output is lowest. The fit's stage ends RECORRUPTED_PATIENCE iterations after its best
    estimate and rolls back to it.
twin: plain DIP stopped at the iteration the recorrupted rule chose. The two fits share the seed,
    so the initialisation, the input and its perturbations: the recorrupted fit's best moment
    tells when plain DIP, which saw the less noisy y, is at its best. Costs both fits.
recorrupted_start: the recorrupted rule's output as the start of the reverse process (Example 1's
    study, dip_ext.starts): fit the recorrupted target; the stage's roll-back leaves the averaged
    output of its best estimate as the fit's final output.

The rules are functions of a dip_ext.rules.StopProblem, the start a function of a
dip_ext.starts.StartProblem; the harnesses plug them in by name (dip_ext.rules.REFERENCE_RULES,
dip_ext.starts.REFERENCE_STARTS).
"""
from dip_ext.fit import Stage
from dip_ext.rules import Stop, StopProblem
from dip_ext.stopping import estimate_stop

RECORRUPTED_SCALE = 0.25
"""a, in units of the estimated sigma: chosen before the stages' ablation (docs/dip.md), where
a = 0.1 did better on two images."""
RECORRUPTED_PATIENCE = 200
"""Iterations the recorrupted fit runs past its best estimate before it ends."""


def recorrupted(problem: StopProblem) -> Stop:
    """problem: one noisy image (dip_ext.rules.StopProblem). Fit the single stage
    Stage(RECORRUPTED_SCALE, problem.iterations, RECORRUPTED_PATIENCE) with problem.fit, and stop it
    at the lowest estimated MSE of the scored output (problem.output): the fit's signal "estimate"
    for "averaged", "estimate_raw" for "raw" (dip_ext.stopping.estimate_stop)."""
    # BEGIN SOLUTION fit y + a sigma z, stop at the lowest estimate of the scored output
    fitted = problem.fit([Stage(RECORRUPTED_SCALE, problem.iterations, RECORRUPTED_PATIENCE)])
    return Stop(fitted, estimate_stop(fitted.signal("estimate" if problem.output == "averaged" else "estimate_raw")))
    # END SOLUTION


def twin(problem: StopProblem) -> Stop:
    """Plain DIP (problem.plain) stopped at the index the recorrupted rule returns, or at plain DIP's
    last iteration if that index lies beyond it."""
    # BEGIN SOLUTION plain DIP stopped where the recorrupted rule stops
    chosen = recorrupted(problem).iteration
    return Stop(problem.plain, min(chosen, problem.plain.iterations - 1))
    # END SOLUTION


def recorrupted_start(problem):
    """problem: one corrupted digit (dip_ext.starts.StartProblem). Returns the averaged output (28, 28)
    in [0, 1] of problem.fit([Stage(RECORRUPTED_SCALE, problem.iterations, RECORRUPTED_PATIENCE)]),
    whose roll-back makes it the output at the lowest estimate; None where the digit has no noise
    (problem.sigma is None), so that there is no such start."""
    # BEGIN SOLUTION the recorrupted fit's final output (None without noise)
    if problem.sigma is None:
        return None
    return problem.fit([Stage(RECORRUPTED_SCALE, problem.iterations, RECORRUPTED_PATIENCE)]).final
    # END SOLUTION
