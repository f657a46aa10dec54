"""converged_derivative: agrees with the exact derivative where a difference can resolve it, and
says 'unresolved' where none can (noise, a jump), instead of returning a number to judge."""
import numpy as np

from mlipcheck.engine.finite_difference import converged_derivative


def test_smooth_function_converges_at_the_first_step():
    result = converged_derivative(lambda x: np.exp(2 * x) + 3 * x, 1e-3, lambda h: 1e-5)
    assert result.converged and result.evaluations == 4 and result.step == 1e-3
    assert abs(result.value - 5.0) < 1e-8


def test_ripple_finer_than_the_step_is_resolved_by_halving():
    k = 2 * np.pi / 2e-3  # period 2 mA: D(1 mA) sees nothing of it
    exact = 1e-4 * k  # derivative of 1e-4 sin(k x) at 0
    fixed = converged_derivative(lambda x: 1e-4 * np.sin(k * x), 1e-3, lambda h: 0.0, max_halvings=0)
    assert abs(fixed.value - exact) > 0.1 * exact
    result = converged_derivative(lambda x: 1e-4 * np.sin(k * x), 1e-3, lambda h: 1e-3 * exact)
    assert result.converged and result.step < 1e-3 and abs(result.value - exact) < 2e-3 * exact


def test_noise_and_jumps_are_unresolved():
    rng = np.random.default_rng(0)
    noisy = converged_derivative(lambda x: x + 1e-3 * rng.normal(), 1e-3, lambda h: 1e-6)
    assert not noisy.converged
    jump = converged_derivative(lambda x: x + (0.01 if x > 0 else 0.0), 1e-3, lambda h: 1e-6)
    assert not jump.converged and jump.step == 1e-3 / 2**6


def test_uncertainty_is_small_on_smooth_curves_and_large_on_noise():
    from mlipcheck.engine.finite_difference import uncertainty

    smooth = lambda x: np.exp(2 * x)  # noqa: E731
    d = converged_derivative(smooth, 1e-3, lambda h: 1e-5)
    assert uncertainty(smooth, d) < 1e-9
    rng = np.random.default_rng(1)
    noisy = lambda x: np.exp(2 * x) + 2e-6 * rng.normal()  # noqa: E731  (float32-like rounding)
    d = converged_derivative(noisy, 2e-3, lambda h: 1e-2)
    assert d.converged and uncertainty(noisy, d) > 1e-3
