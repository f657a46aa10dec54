"""Robustness in use: the model from several threads at once, and memory over repeated calls."""
import pytest

from mlipcheck.checks.performance.concurrency import check_memory_growth, check_thread_safety
from mlipcheck.structures import cases_for

pytestmark = [pytest.mark.mlipcheck, pytest.mark.symmetry, pytest.mark.quick]


def supported_cases(model, quick):
    cases = [c for c in cases_for(quick) if not model.unsupported(c.symbols)]
    if not cases:
        pytest.skip(f"{model.label} declares none of the elements of the test cases")
    return cases


def test_thread_safety(ctx, profile, verdict):
    # a periodic and an isolated structure: two code paths (neighbour lists with and without a cell)
    cases = supported_cases(ctx.model, True)
    chosen = [next((c for c in cases if c.periodic), cases[0]), next((c for c in cases if not c.periodic), cases[-1])]
    chosen = list({c.name: c for c in chosen}.values())
    verdict(check_thread_safety(ctx, chosen, profile.sections("concurrency", "invariance")))


def test_memory_growth(ctx, profile, verdict):
    case = supported_cases(ctx.model, True)[0]
    verdict(check_memory_growth(ctx, case, profile.section("concurrency")))
