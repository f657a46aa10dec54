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
    """Energy, forces and (for 3D-periodic cells, if the model gives it) stress of `atoms`: a
    batch of one (`evaluate_batch`). Raises ModelCallError."""
    result = evaluate_batch(model, [atoms], stress=stress, calculator=calculator)[0]
    if isinstance(result, ModelCallError):
        raise result
    return result


def evaluate_all(model, structures, stress=None) -> list[Prediction]:
    """Every structure in as few calls as `evaluate_batch` makes; raises the first structure's
    ModelCallError (in list order), as a loop of `evaluate` would."""
    predictions = evaluate_batch(model, structures, stress=stress)
    for p in predictions:
        if isinstance(p, ModelCallError):
            raise p
    return predictions


# Atoms per batched model call, by device. On this 2-core CPU a batch pays only while the model's
# per-call overhead dominates (CHGNet 0.3.0, one thread: 64 Cu dimers 0.34 s one by one, 0.07 s
# batched; 32 rattled 8-atom cells 2.9 s both ways; 16 cells of 27 atoms 4.4 s one by one, 18 s
# in batches of 16, 8 GB: its tensors leave the cache). A GPU takes thousands (CHGNet E+F+S:
# ~16 MB per atom, 2048 atoms in 33 GB on an H200). `,batch_atoms=N` overrides.
BATCH_ATOMS = {"cpu": 64, "cuda": 2048}


def batch_atoms(model) -> int:
    return model.batch_atoms or BATCH_ATOMS["cpu" if model.device == "cpu" else "cuda"]


def batches(structures, max_atoms: int) -> list[list[int]]:
    """Consecutive runs of structure indices holding at most `max_atoms` atoms together (a larger
    structure goes alone)."""
    out, current, atoms = [], [], 0
    for i, a in enumerate(structures):
        if current and atoms + len(a) > max_atoms:
            out.append(current)
            current, atoms = [], 0
        current.append(i)
        atoms += len(a)
    if current:
        out.append(current)
    return out


def evaluate_batch(model, structures, stress=None, calculator=None) -> list[Prediction | ModelCallError]:
    """The one place a model is called: a list of structures in, a list of predictions out, each
    a Prediction or the ModelCallError of that structure.

    `stress`: None (each 3D-periodic structure, if the model gives stress), one bool for all, or
    one per structure. Models with a batched path (`Model.predict_batch`) get as many structures
    per call as `batch_atoms` allows; others, and calls on an explicit `calculator` (a fresh or a
    thread's own), go one by one through the ASE calculator. A batch that raises or hangs is
    retried one by one, so the error names its structure. The test's time budget running out is
    raised, not returned: the test is over."""
    structures = list(structures)
    if stress is None:
        wants = [wants_stress(model, a) for a in structures]
    elif isinstance(stress, bool):
        wants = [stress] * len(structures)
    else:
        wants = [bool(s) for s in stress]
    if calculator is not None or model.predict_batch is None:
        calc = calculator if calculator is not None else model.calculator
        return [_through_calculator(model, a, s, calc) for a, s in zip(structures, wants)]
    out = []
    for chunk in batches(structures, batch_atoms(model)):
        out += _batched(model, [structures[i] for i in chunk], [wants[i] for i in chunk])
    return out


def _budget_error(atoms):
    return ModelCallError(f"the test's time budget of {_budget['seconds']:g} s ran out inside a model call "
                          f"on {atoms.get_chemical_formula()} (profile [call] test_budget_s)", atoms, kind="budget")


def _timeout_error(model, atoms):
    return ModelCallError(f"the model did not answer within {model.call_timeout:g} s "
                          f"(--mlipcheck-timeout) on {atoms.get_chemical_formula()}", atoms, kind="timeout")


def _raised_error(exc, atoms):
    what = f"called sys.exit({exc.code!r})" if isinstance(exc, SystemExit) else f"raised {type(exc).__name__}: {exc}"
    return ModelCallError(f"the model {what} on {atoms.get_chemical_formula()} ({len(atoms)} atoms)",
                          atoms, kind="raised")


@contextlib.contextmanager
def _accounted(model, structures: int):
    """Counts a model call: structures, batches and (from the main thread only: the thread-safety
    check's calls overlap, and summed they exceeded the wall time) seconds inside the model."""
    start = time.perf_counter()
    try:
        yield
    finally:
        model.calls += structures
        model.batches += 1
        if threading.current_thread() is threading.main_thread():
            model.call_seconds += time.perf_counter() - start


def _through_calculator(model, atoms, stress, calc) -> Prediction | ModelCallError:
    """One structure through the ASE calculator, its cache reset first: no check can see another's
    cached result."""
    probe = atoms.copy()
    probe.calc = None
    limit, by_budget = _call_limit(model, atoms)
    try:
        with _accounted(model, 1), model.call_context(), time_limit(limit):
            if hasattr(calc, "reset"):
                calc.reset()
            probe.calc = calc
            energy = probe.get_potential_energy()
            forces = probe.get_forces()
            stress_value = probe.get_stress(voigt=False) if stress else None
    except CallTimeout:
        if by_budget:
            raise _budget_error(atoms) from None
        return _timeout_error(model, atoms)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - any exception of the model (sys.exit too) is its error
        error = _raised_error(exc, atoms)
        error.__cause__ = exc
        return error
    finally:
        probe.calc = None
    return _checked(energy, forces, stress_value, atoms)


def _batched(model, structures, wants) -> list[Prediction | ModelCallError]:
    """One call of the model's batched path; on an exception or a hang, one call per structure."""
    limit, by_budget = _call_limit(model, structures[0])
    try:
        with _accounted(model, len(structures)), model.call_context(), time_limit(limit):
            raw = model.predict_batch([a.copy() for a in structures], any(wants))
        if len(raw) != len(structures):
            raise ValueError(f"the batched path returned {len(raw)} results for {len(structures)} structures")
    except CallTimeout:
        if by_budget:
            raise _budget_error(structures[0]) from None
        if len(structures) == 1:
            return [_timeout_error(model, structures[0])]
        raw = None
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - any exception of the model (sys.exit too) is its error
        if len(structures) == 1:
            error = _raised_error(exc, structures[0])
            error.__cause__ = exc
            return [error]
        raw = None
    if raw is None:  # retried one by one, so that the error names its structure
        return [p for a, s in zip(structures, wants) for p in _batched(model, [a], [s])]
    return [_checked(energy, forces, stress_value if want else None, atoms)
            for (energy, forces, stress_value), atoms, want in zip(raw, structures, wants)]


def _checked(energy, forces, stress, atoms) -> Prediction | ModelCallError:
    try:
        return _validated(energy, forces, stress, atoms)
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


def content_key(atoms) -> str:
    """A structure's identity for memos: its numbers, positions, cell and periodicity."""
    return hashlib.sha1(b"".join(np.ascontiguousarray(a).tobytes() for a in (
        atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc))).hexdigest()


def reference_prediction(model, atoms) -> Prediction:
    """The prediction for an unmodified case structure, computed once per model and shared by
    every check that compares against it (about ten per case). Keyed on the structure's content
    (numbers, positions, cell, pbc), not its name: generated structures share names. The
    determinism check calls `evaluate` itself: it must recompute."""
    return with_reference(model, atoms, [])[0]


def with_reference(model, atoms, others) -> tuple[Prediction, list[Prediction]]:
    """`reference_prediction(atoms)` and the predictions of `others` (its transformed copies),
    in one batch; raises the reference's error first, then the first of the others'."""
    key = ("reference", content_key(atoms))
    cached = memo(model).get(key)
    predictions = evaluate_batch(model, list(others) if cached is not None else [atoms, *others])
    if cached is None:
        cached = predictions.pop(0)
        if isinstance(cached, ModelCallError):
            raise cached
        memo(model)[key] = cached
    for p in predictions:
        if isinstance(p, ModelCallError):
            raise p
    return cached, predictions
