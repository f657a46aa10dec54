"""Engine throughput: structures per second when a call holds 1, 16, 64 or 256 small structures
(CHGNet, Cu dimers and 4-atom cells), batched against one by one. Slow (a minute); run with

    pytest tests/test_engine_benchmark.py -m slow --benchmark-columns=mean,rounds

Figures in docs/performance.md."""
import importlib.util

import pytest
from ase.build import bulk

from mlipcheck.engine.evaluate import evaluate_batch
from mlipcheck.structures.elements import dimer

pytestmark = [pytest.mark.slow, pytest.mark.real_model,
              pytest.mark.skipif(importlib.util.find_spec("chgnet") is None, reason="needs chgnet")]


@pytest.fixture(scope="module")
def chgnet():
    from conftest import load_model, parse_model_specs

    return load_model(parse_model_specs(["chgnet"])[0])


def structures(kind, n):
    if kind == "dimer":
        return [dimer("Cu", "Cu", 1.8 + 0.01 * i, box=20.0) for i in range(n)]
    out = []
    for i in range(n):
        cell = bulk("Cu", "fcc", 3.6, cubic=True)
        cell.rattle(0.05, seed=i)
        out.append(cell)
    return out


@pytest.mark.parametrize("kind", ["dimer", "cell4"])
@pytest.mark.parametrize("n", [1, 16, 64, 256])
@pytest.mark.parametrize("batched", [True, False], ids=["batched", "one_by_one"])
def test_structures_per_second(benchmark, chgnet, kind, n, batched):
    listed = structures(kind, n)
    chgnet.batch_atoms = None if batched else 1  # 1: every structure alone
    result = benchmark.pedantic(evaluate_batch, args=(chgnet, listed), rounds=3, warmup_rounds=1)
    benchmark.extra_info["structures_per_s"] = n / benchmark.stats.stats.mean
    assert len(result) == n and all(p.forces.shape == (len(a), 3) for p, a in zip(result, listed))
