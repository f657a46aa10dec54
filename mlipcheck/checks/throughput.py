"""Throughput: time and memory per call against system size, and the scaling exponent.

- Crystals of one declared element (its reference crystal, repeated) from ~8 atoms upwards.
- The first call on a new size (graph building, compilation, allocator growth) is timed apart
  from the steady state (the mean of `rounds` calls after it).
- Peak resident memory per size: the kernel's high-water mark (VmHWM), reset before each size
  by writing 5 to /proc/self/clear_refs (Linux); torch's CPU allocator has no statistics of its
  own, its memory is in the resident set.
- atoms/s, calls/s and MD throughput (ns/day at a 1 fs step, one force call per step).
- Scaling: the slope of log(time) against log(N) over the sizes; a local model is near 1, and a
  slope above the profile's limit is a verdict (an O(N^2) neighbour search, a dense matrix).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import bulk

from mlipcheck.checks.concurrency import proc_mb
from mlipcheck.checks.evaluate import evaluate
from mlipcheck.checks.measurement import Measurement
from mlipcheck.checks.species import small_crystal


def crystal_of_size(symbol: str, n_atoms: int) -> Atoms:
    """The element's reference crystal repeated to at least n_atoms, as close to cubic as it goes."""
    try:
        cell = bulk(symbol)  # the primitive cell: n^3 repetitions hit 8, 64, 216, 512, 1000 exactly
    except (ValueError, KeyError, RuntimeError, TypeError):
        cell = small_crystal(symbol)
    repeat = max(1, int(np.ceil((n_atoms / len(cell)) ** (1 / 3))))
    atoms = cell.repeat(repeat)
    atoms.rattle(0.01, seed=1)  # not a perfect lattice: no symmetry shortcut
    return atoms


def _reset_peak():
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak_mb() -> float | None:
    return proc_mb("VmHWM")


def memory_needed_mb(model, symbol: str, n_atoms: int) -> float | None:
    """Peak resident memory expected at n_atoms, extrapolated linearly from the sizes already
    measured (None with fewer than two). CHGNet 0.3.0 grows ~14 MB per atom (E, F and stress by
    autograd): 2197 Cu atoms would need ~30 GB, and the kernel killed the whole run."""
    rows = sorted((k[2], v) for k, v in model.cache.items()
                  if isinstance(k, tuple) and k[:2] == ("throughput", symbol) and v.get("peak_rss_mb"))
    if len(rows) < 2:
        return None
    (n1, r1), (n2, r2) = (rows[-2][1]["atoms"], rows[-2][1]["peak_rss_mb"]), (rows[-1][1]["atoms"], rows[-1][1]["peak_rss_mb"])
    slope = max((r2 - r1) / max(n2 - n1, 1), 0.0)
    return r2 + slope * (n_atoms - n2)


def memory_total_mb() -> float | None:
    return proc_mb("MemTotal", "/proc/meminfo")


def first_call(model, atoms: Atoms) -> float:
    """Seconds of the first call on this structure (graph building, compilation, allocation);
    resets the peak-memory mark first, so the size's peak is read after its steady calls."""
    model.cache["peak_reset"] = _reset_peak()
    start = time.perf_counter()
    evaluate(model, atoms)
    return time.perf_counter() - start


def record(model, symbol, n_request, n_atoms, first, steady, spread) -> dict:
    """One size's numbers, cached per model, element and requested size for the scaling verdict."""
    row = {"atoms": n_atoms, "first_call_s": first, "steady_s": steady, "steady_std_s": spread,
           "atoms_per_s": n_atoms / steady, "calls_per_s": 1.0 / steady, "ns_per_day_1fs": 0.0864 / steady,
           "peak_rss_mb": _peak_mb() if model.cache.get("peak_reset") else None}
    model.cache[("throughput", symbol, n_request)] = row
    return row


def measure_size(model, atoms: Atoms, rounds: int, symbol="", n_request=0) -> dict:
    """First call and steady state (mean of `rounds` calls) of energy+forces(+stress), peak memory."""
    return steady_state(model, atoms, rounds, symbol, n_request, first_call(model, atoms))


def steady_state(model, atoms: Atoms, rounds: int, symbol, n_request, first) -> dict:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        evaluate(model, atoms)
        times.append(time.perf_counter() - start)
    return record(model, symbol, n_request or len(atoms), len(atoms), first, float(np.mean(times)), float(np.std(times)))


def throughput(model, symbol: str, n_atoms: int, rounds: int) -> dict:
    """The throughput tests' numbers where they ran (cached), else measured here."""
    key = ("throughput", symbol, n_atoms)
    if key not in model.cache:
        measure_size(model, crystal_of_size(symbol, n_atoms), rounds, symbol, n_atoms)
    return model.cache[key]


def check_scaling(model, symbol: str, section) -> Measurement:
    rows = []
    for n in section["sizes"]:
        needed, total = memory_needed_mb(model, symbol, int(n)), memory_total_mb()
        if needed and total and needed > 0.8 * total:
            break  # the sizes that fit in memory (the throughput test says which did not)
        rows.append(throughput(model, symbol, int(n), int(section["rounds"])))
    n = np.array([r["atoms"] for r in rows], float)
    t = np.array([r["steady_s"] for r in rows], float)
    # the slope over the largest sizes: small systems are dominated by fixed per-call overhead
    keep = n >= float(section["fit_from_atoms"])
    if keep.sum() < 2:
        keep = np.ones_like(n, bool)
    exponent = float(np.polyfit(np.log(n[keep]), np.log(t[keep]), 1)[0])
    limit = float(section["max_exponent"])
    return Measurement("scaling", f"d log(time) / d log(N) over N >= {int(n[keep].min())}", exponent, "",
                       limit, bool(exponent <= limit), case=symbol,
                       details={"sizes": n.astype(int).tolist(), "steady_s": np.round(t, 6).tolist(),
                                "first_call_s": [round(r["first_call_s"], 6) for r in rows],
                                "peak_rss_mb": [r["peak_rss_mb"] for r in rows],
                                "atoms_per_s": [round(r["atoms_per_s"], 2) for r in rows]})
