"""Derivatives of a model's energy by central differences that are shown to have converged.

A finite difference at a fixed step judges the step, not the model: where a curve is steep and
wiggly (CHGNet's V-V dimer at 0.45 A) a central difference at h = 2 mA is 6 eV/A away from the
model's exact autograd force, and reaches it only at h = 0.25 mA. So every finite-difference
check asks `converged_derivative` for its number: central differences D(h), D(h/2), D(h/4), ...
are Richardson-extrapolated pairwise (R_k = (4 D(h_k/2) - D(h_k)) / 3, which removes the O(h^2)
error) until two successive estimates agree within what the check could resolve at that step
(`tolerance(h)`: the model's rounding noise over the step, plus any relative allowance). Where
that never happens within `max_halvings`, the derivative is *unresolved*: the curve there is
discontinuous or noise at every affordable step, which the continuity checks judge; a
consistency check leaves such a point out and says so, rather than calling it non-conservative.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

MAX_HALVINGS = 6  # h0 / 64 at most: 2 mA -> 0.03 mA, still 100x float32's position resolution at 10 A


@dataclass
class Derivative:
    value: float  # the last Richardson estimate of dE/dx
    step: float  # its step h (it combines D(h) and D(h/2)); its rounding noise is tolerance(h)
    converged: bool
    disagreement: float  # |difference of the last two estimates|
    tolerance: float  # tolerance(step): what the estimate is judged with
    evaluations: int  # energy evaluations spent
    fine: float = 0.0  # D(step / 2), kept so that `uncertainty` can go one step further


def first_steps(h0: float) -> tuple[float, ...]:
    """The displacements `converged_derivative` evaluates first, whatever the curve (+-h0, +-h0/2):
    a check evaluates them for all its coordinates in one batch and halves only where needed."""
    return (h0, -h0, h0 / 2, -h0 / 2)


def prefetched(energies: dict, energy_at: Callable[[float], float]) -> Callable[[float], float]:
    """E at a displacement from `energies` (displacement -> E, evaluated together beforehand),
    else from `energy_at`."""
    return lambda delta: energies[delta] if delta in energies else energy_at(delta)


def central(energy_at: Callable[[float], float], h: float) -> float:
    """(E(+h) - E(-h)) / 2h."""
    return (energy_at(h) - energy_at(-h)) / (2 * h)


def converged_derivative(energy_at: Callable[[float], float], h0: float, tolerance: Callable[[float], float],
                         max_halvings: int = MAX_HALVINGS) -> Derivative:
    """dE/dx at 0 from `energy_at(delta)`. The estimate at step h is R(h) = (4 D(h/2) - D(h)) / 3.
    Converged at h0 when D(h0) and D(h0/2) agree within tolerance(h0/2) (the usual case: 4
    evaluations, judged with tolerance(h0), as a fixed-step check was); else at the first h where
    R(h) and R(2h) agree within tolerance(h/2)."""
    h = h0
    coarse, fine = central(energy_at, h), central(energy_at, h / 2)
    estimate = (4 * fine - coarse) / 3
    disagreement = abs(fine - coarse)
    evaluations = 4
    # Agreement is asked within the rounding noise of the finer difference used (tolerance(h/2)):
    # asking more of a float32 model only halves the step into more noise.
    while disagreement > tolerance(h / 2) and h > h0 / 2**max_halvings:
        h /= 2
        coarse, fine = fine, central(energy_at, h / 2)
        evaluations += 2
        previous, estimate = estimate, (4 * fine - coarse) / 3
        disagreement = abs(estimate - previous)
    converged = bool(disagreement <= tolerance(h / 2))
    return Derivative(estimate, h, converged, disagreement, tolerance(h), evaluations, fine)


def uncertainty(energy_at: Callable[[float], float], derivative: Derivative) -> float:
    """|R(h) - R(h/2)|: how far the estimate moves one step finer (2 more evaluations). Tiny on a
    smooth curve (Richardson leaves O(h^4)); large where rounding noise dominates (CHGNet's
    Kr-Kr at 5.68 A: 0.026 eV/A, where the plain differences agreed to 0.007). A check asks
    for it before it fails a point, and allows it: an error within it cannot be told from noise."""
    finer = central(energy_at, derivative.step / 4)
    return abs((4 * finer - derivative.fine) / 3 - derivative.value)
