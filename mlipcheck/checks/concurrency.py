"""Thread safety and memory: what breaks when a model is used the way workflows use it.

- Thread safety: several threads, each with its own calculator from the same model (as a
  threaded workflow does), compute the same structures at once; each answer must equal the one
  computed alone. State shared between calculators (a module-level cache or scratch buffer, a
  global setting one thread changes under another) gives different numbers: a verdict, not a crash.
- Memory: repeated calls on one structure must not keep memory beyond an allowance (a cache that
  keeps every result, a graph kept alive by autograd).
"""
from __future__ import annotations

import threading
from pathlib import Path

from mlipcheck.checks.compare import compare, verdict
from mlipcheck.checks.evaluate import evaluate
from mlipcheck.checks.measurement import Measurement
from mlipcheck.errors import ModelCallError


def check_thread_safety(model, cases, settings, tolerances, seed=0) -> Measurement:
    """Each of `threads` threads evaluates every case (in a different order) with its own
    calculator, all started together; every result is compared with the sequential one, with
    the invariance tolerances (`tolerances`: a profile's [invariance] section)."""
    threads = int(settings["threads"])
    sequential = {c.name: evaluate(model, c.atoms) for c in cases}
    calculators = [model.calculator] + [model.make_calculator() for _ in range(threads - 1)]
    results, problems = {}, []
    barrier = threading.Barrier(threads)

    def work(index):
        order = cases[index % len(cases):] + cases[:index % len(cases)]
        try:
            barrier.wait()
            for _ in range(int(settings["rounds"])):
                for case in order:
                    results[(index, case.name)] = evaluate(model, case.atoms, calculator=calculators[index])
        except ModelCallError as exc:
            problems.append(exc)
        except Exception as exc:  # a crash under threads is a verdict about thread safety too
            problems.append(exc)

    workers = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    by_name = {c.name: c for c in cases}
    if problems:
        first = problems[0]
        return Measurement("thread_safety", "calls that raised when run from several threads at once",
                           float(len(problems)), "calls", 0.0, False, case=", ".join(by_name),
                           details={"threads": threads, "first_error": f"{type(first).__name__}: {first}"},
                           atoms=getattr(first, "atoms", None), seed=seed)
    comparisons = [(f"thread {i}", compare(model, tolerances, sequential[name], sequential[name], got,
                                           len(by_name[name].atoms)), by_name[name].atoms)
                   for (i, name), got in sorted(results.items())]
    return verdict("thread_safety", ", ".join(by_name), comparisons, seed, extra={"threads": threads})


def proc_mb(field: str, path: str = "/proc/self/status") -> float | None:
    """A kB field of a Linux /proc file (VmRSS, VmHWM; MemTotal in /proc/meminfo) in MB; None
    where there is no /proc."""
    source = Path(path)
    if not source.is_file():
        return None
    for line in source.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    return None


def resident_mb() -> float | None:
    return proc_mb("VmRSS")


def check_memory_growth(model, case, section, seed=0) -> Measurement | None:
    """Memory kept after `calls` further calls on one structure (after `warmup` calls): the larger
    of the growth of resident memory and of Python's traced allocations (numpy included).
    Resident memory alone misses a leak that fills memory the allocator had already freed."""
    import tracemalloc

    if resident_mb() is None:
        return None
    for _ in range(int(section["warmup_calls"])):
        evaluate(model, case.atoms)
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    try:
        calls = int(section["calls"])
        rss, traced = [], []
        for _ in range(calls):
            evaluate(model, case.atoms)
            rss.append(resident_mb())
            traced.append(tracemalloc.get_traced_memory()[0] / 2**20)
    finally:
        if not tracing:
            tracemalloc.stop()
    # A leak grows at the same rate through all calls; an allocator settling in steps after the
    # first calls does not (CHGNet once grew 23 MB of resident memory over 20 calls with 0.05 MB
    # of Python allocations; other runs: under 16). So the growth over the second half of the
    # calls, doubled, is what is judged; the growth over all calls is reported beside it.
    half = calls // 2
    rss_growth = 2 * (rss[-1] - rss[half - 1])
    traced_growth = 2 * (traced[-1] - traced[half - 1])
    before = rss[0]
    growth = max(rss_growth, traced_growth)
    allowance = float(section["max_growth_mb"])
    return Measurement("memory_growth", f"memory kept over {calls} repeated calls (2 x the second half's)", growth, "MB",
                       allowance, bool(growth <= allowance), case=case.name,
                       details={"resident_growth_mb": rss_growth, "python_traced_growth_mb": traced_growth,
                                "resident_growth_all_calls_mb": rss[-1] - rss[0], "resident_mb_first": before,
                                "per_call_kb": 1024 * growth / calls},
                       atoms=None if growth <= allowance else case.atoms, seed=seed)
