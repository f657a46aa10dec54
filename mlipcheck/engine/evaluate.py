"""The one place checks call a model: fresh results, a time limit, validated outputs.

Every check goes through `evaluate`, so that
- results are always computed for the structure given (the calculator's cache is reset first:
  no check can see another's cached result),
- a model that raises, hangs, returns NaN or wrong shapes gives a ModelCallError (an *error*
  outcome, with the structure), never a silently wrong number,
- global framework state (torch's default dtype) is set for this model and restored after,
- the time spent inside the model is counted (the suite's own overhead is the rest).
"""
from __future__ import annotations

import contextlib
import hashlib
import signal
import threading
import time
from dataclasses import dataclass

import numpy as np
from ase.stress import voigt_6_to_full_3x3_stress

from mlipcheck.engine.memo import memo
from mlipcheck.errors import ModelCallError


@dataclass
class Prediction:
    energy: float  # eV
    forces: np.ndarray  # (N, 3) eV/Angstrom
    stress: np.ndarray | None  # (3, 3) eV/Angstrom^3, ASE sign (tension positive); None if not asked


class CallTimeout(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds):
    """Raise CallTimeout after `seconds` (main thread only; elsewhere no limit is applied).

    SIGALRM interrupts Python code; a model stuck inside one long C call is interrupted when it
    returns to Python.
    """
    usable = (seconds and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    def on_alarm(signum, frame):
        raise CallTimeout()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# The running test's wall-time budget (monotonic deadline), set by the plugin around each test:
# every model call checks it, so no test outlives its budget by more than one call.
_budget = {"deadline": None, "seconds": None}


@contextlib.contextmanager
def test_budget(seconds):
    """Model calls inside raise ModelCallError(kind="budget") once `seconds` have passed."""
    _budget.update(deadline=time.monotonic() + seconds if seconds else None, seconds=seconds)
    try:
        yield
    finally:
        _budget.update(deadline=None, seconds=None)


def budget_left() -> float | None:
    """Seconds left of the running test's budget (None: no budget)."""
    return None if _budget["deadline"] is None else max(_budget["deadline"] - time.monotonic(), 0.0)


def _call_limit(model, atoms):
    """Seconds this call may take: the per-call limit, or what is left of the test's budget."""
    if _budget["deadline"] is None:
        return model.call_timeout, False
    left = _budget["deadline"] - time.monotonic()
    if left <= 0:
        raise ModelCallError(f"the test's time budget of {_budget['seconds']:g} s is spent (profile [call] "
                             f"test_budget_s); the run goes on with the next test", atoms, kind="budget")
    if model.call_timeout and model.call_timeout < left:
        return model.call_timeout, False
    return left, True


def wants_stress(model, atoms) -> bool:
    return bool(model.has_stress and atoms.pbc.all())


def evaluate(model, atoms, stress: bool | None = None, calculator=None) -> Prediction:
    """Energy, forces and (for 3D-periodic cells, if the model gives it) stress of `atoms`."""
    if stress is None:
        stress = wants_stress(model, atoms)
    calc = calculator if calculator is not None else model.calculator
    probe = atoms.copy()
    probe.calc = None
    limit, by_budget = _call_limit(model, atoms)
    start = time.perf_counter()
    try:
        with model.call_context(), time_limit(limit):
            if hasattr(calc, "reset"):
                calc.reset()
            probe.calc = calc
            energy = probe.get_potential_energy()
            forces = probe.get_forces()
            stress_value = probe.get_stress(voigt=False) if stress else None
    except CallTimeout:
        if by_budget:
            raise ModelCallError(f"the test's time budget of {_budget['seconds']:g} s ran out inside a model call "
                                 f"on {probe.get_chemical_formula()} (profile [call] test_budget_s)",
                                 atoms, kind="budget") from None
        raise ModelCallError(f"the model did not answer within {model.call_timeout:g} s "
                             f"(--mlipcheck-timeout) on {probe.get_chemical_formula()}",
                             atoms, kind="timeout") from None
    except Exception as exc:
        raise ModelCallError(f"the model raised {type(exc).__name__}: {exc} on "
                             f"{probe.get_chemical_formula()} ({len(probe)} atoms)",
                             atoms, kind="raised") from exc
    finally:
        model.calls += 1
        # Time inside the model is charged from the main thread only: calls that several threads
        # make at once (the thread-safety check) overlap, and summed they exceeded the wall time.
        if threading.current_thread() is threading.main_thread():
            model.call_seconds += time.perf_counter() - start
        probe.calc = None
    return _validated(energy, forces, stress_value, atoms)


# Batching pays for small structures only. CHGNet 0.3.0, measured here: 134 Cu dimers 1.43 s one
# by one, 0.28 s batched; but 25 Si cells of 63 atoms 3.4 s one by one, 6.1 s batched and 7.7 GB,
# and 16 cells of 108 atoms took all 24 GB (its batched stress graph grows ~1.5 GB per cell).
BATCH_MAX_ATOMS = 16
BATCH_SIZE = 64


def evaluate_many(model, structures, stress: list[bool]) -> list[Prediction | ModelCallError]:
    """Several structures at once through the model's batched path where it has one
    (`Model.predict_batch`) and they are small (BATCH_MAX_ATOMS), else one by one. A batch that
    raises is retried one by one, so a structure that breaks the model is an error for that
    structure only."""
    out = [None] * len(structures)
    small = [i for i, a in enumerate(structures) if len(a) <= BATCH_MAX_ATOMS]
    if model.predict_batch is None or len(small) < 2:
        small = []
    for start in range(0, len(small), BATCH_SIZE):
        chunk = small[start:start + BATCH_SIZE]
        for i, prediction in zip(chunk, _batch(model, [structures[i] for i in chunk], [stress[i] for i in chunk])):
            out[i] = prediction
    return [p if p is not None else _evaluate_or_error(model, a, s) for p, a, s in zip(out, structures, stress)]


def _batch(model, structures, stress):
    limit, _ = _call_limit(model, structures[0])
    start = time.perf_counter()
    try:
        with model.call_context(), time_limit(limit):
            raw = model.predict_batch([a.copy() for a in structures])
    except Exception:  # noqa: BLE001 - the caller falls back to single calls, which name the structure
        return [None] * len(structures)
    finally:
        model.calls += len(structures)
        model.call_seconds += time.perf_counter() - start
    out = []
    for (energy, forces, stress_value), atoms, want in zip(raw, structures, stress):
        try:
            out.append(_validated(energy, forces, stress_value if want else None, atoms))
        except ModelCallError as exc:
            out.append(exc)
    return out


def _evaluate_or_error(model, atoms, stress):
    try:
        return evaluate(model, atoms, stress=stress)
    except ModelCallError as exc:
        return exc


def _validated(energy, forces, stress, atoms) -> Prediction:
    n = len(atoms)
    formula = atoms.get_chemical_formula()
    try:
        energy = float(np.asarray(energy).reshape(()))
    except (TypeError, ValueError):
        raise ModelCallError(f"energy has shape {np.shape(energy)}, expected a scalar, on {formula}",
                             atoms, kind="shape") from None
    forces = np.asarray(forces, dtype=float)
    if forces.shape != (n, 3):
        raise ModelCallError(f"forces have shape {forces.shape}, expected ({n}, 3), on {formula}",
                             atoms, kind="shape")
    if stress is not None:
        stress = np.asarray(stress, dtype=float)
        if stress.shape == (6,):
            stress = voigt_6_to_full_3x3_stress(stress)
        if stress.shape != (3, 3):
            raise ModelCallError(f"stress has shape {stress.shape}, expected (3, 3) or (6,), on {formula}",
                                 atoms, kind="shape")
    bad = [name for name, value in (("energy", energy), ("forces", forces), ("stress", stress))
           if value is not None and not np.all(np.isfinite(value))]
    if bad:
        raise ModelCallError(f"non-finite {' and '.join(bad)} (NaN or inf) on {formula}",
                             atoms, kind="nonfinite")
    return Prediction(energy, forces, stress)


def reference_prediction(model, atoms) -> Prediction:
    """The prediction for an unmodified case structure, computed once per model and shared by
    every check that compares against it (about ten per case). Keyed on the structure's content
    (numbers, positions, cell, pbc), not its name: generated structures share names. The
    determinism check calls `evaluate` itself: it must recompute."""
    key = hashlib.sha1(b"".join(np.ascontiguousarray(a).tobytes() for a in (
        atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc))).hexdigest()
    cached = memo(model).get(("reference", key))
    if cached is None:
        cached = memo(model)[("reference", key)] = evaluate(model, atoms)
    return cached
