"""Throughput with pytest-benchmark: energy+forces(+stress) per call against system size, first
call apart from steady state, peak memory, MD ns/day; and the scaling exponent as a verdict.

    pytest suites/test_throughput.py --model chgnet --benchmark-autosave     # save
    pytest suites/test_throughput.py --model chgnet --benchmark-compare      # compare with the last
"""
import pytest

from mlipcheck.checks.performance.throughput import (
    check_scaling,
    crystal_of_size,
    ensure_memory_estimate,
    first_call,
    gpu_memory_needed_mb,
    memory_budget_mb,
    memory_needed_mb,
    record,
    steady_state,
)
from mlipcheck.engine.evaluate import evaluate
from mlipcheck.structures.elements import FALLBACK_ELEMENTS

pytestmark = [pytest.mark.mlipcheck, pytest.mark.benchmark]


def element(model):
    """The throughput element: Cu where declared (the field's usual benchmark), else the first."""
    declared = sorted(model.elements) if model.elements else FALLBACK_ELEMENTS
    return "Cu" if "Cu" in declared else declared[0]


def test_throughput(model, n_atoms, profile, benchmark, request):
    """The first call timed by mlipcheck, the steady state by pytest-benchmark (so its storage,
    --benchmark-autosave and --benchmark-compare work as usual); the row is cached for the
    scaling verdict and recorded in report.json."""
    section = profile.section("throughput")
    symbol = element(model)
    atoms = crystal_of_size(symbol, n_atoms)
    ensure_memory_estimate(model, symbol, [n for n in section.sizes if n < n_atoms])
    needed, budget = memory_needed_mb(model, symbol, len(atoms)), memory_budget_mb()
    if needed and budget and needed > 0.8 * budget:  # an out-of-memory kill would end the whole run
        pytest.skip(f"{len(atoms)} atoms would need ~{needed / 1024:.0f} GB (extrapolated from the smaller "
                    f"sizes) of the {budget / 1024:.0f} GB this process may use (its share under -n)")
    gpu_needed, gpu_total = gpu_memory_needed_mb(model, symbol, len(atoms))
    if gpu_needed and gpu_total and gpu_needed > 0.9 * gpu_total:
        pytest.skip(f"{len(atoms)} atoms would need ~{gpu_needed / 1024:.0f} GB of GPU memory (extrapolated) "
                    f"of {gpu_total / 1024:.0f} GB")
    first = first_call(model, atoms)
    benchmark.pedantic(evaluate, args=(model, atoms), rounds=int(section.rounds), iterations=1, warmup_rounds=0)
    if benchmark.stats is not None:
        row = record(model, symbol, n_atoms, len(atoms), first, benchmark.stats.stats.mean, benchmark.stats.stats.stddev)
    else:  # pytest-benchmark switches itself off under xdist (-n): time the calls here
        row = steady_state(model, atoms, int(section.rounds), symbol, n_atoms, first)
    benchmark.extra_info.update({"model": model.label, "element": symbol, **row})
    for key, value in row.items():
        request.node.user_properties.append((f"mlipcheck_throughput_{key}", None if value is None else float(value)))
    assert row["steady_s"] > 0


@pytest.mark.quick
def test_scaling(ctx, profile, verdict):
    verdict(check_scaling(ctx, element(ctx.model), profile.section("throughput")))
