"""Thread safety and memory: what breaks when a model is used the way workflows use it.

- Thread safety: several threads, each with its own calculator from the same model (as a
  threaded workflow does), compute the same structures at once; each answer must equal the one
  computed alone. State shared between calculators (a module-level cache or scratch buffer, a
  global setting one thread changes under another) gives different numbers: a verdict, not a crash.
- Memory: repeated calls on one structure must not keep memory call after call (a cache that
  keeps every result, a graph kept alive by autograd), measured by the allocators' own counts.
"""
from __future__ import annotations

import ctypes
import sys
import threading
import time
from pathlib import Path

import numpy as np

from mlipcheck.engine.context import as_context
from mlipcheck.engine.evaluate import budget_left, evaluate
from mlipcheck.engine.measurement import Measurement
from mlipcheck.engine.tolerances import compare, verdict
from mlipcheck.errors import ModelCallError

SWITCH_INTERVAL_S = 1e-5  # Python's thread switch during the check (default 5 ms): a race window
# of a few bytecodes inside a call is crossed by another thread, not only one that sleeps.


def thread_structures(cases, threads: int, seed: int) -> list:
    """At least `threads` different structures of different sizes: each case, each periodic one
    also doubled along a, and rattled copies until every thread has its own. Shared state mixes
    two structures only if the calls in flight hold different ones."""
    rng = np.random.default_rng(seed)
    out = []
    for case in cases:
        out.append(case.atoms)
        if case.atoms.pbc.all():
            out.append(case.atoms.repeat((2, 1, 1)))
    while len(out) < threads:
        moved = out[len(out) % len(cases)].copy()
        moved.positions += rng.normal(0.0, 0.02, moved.positions.shape)
        out.append(moved)
    return out


def check_thread_safety(ctx, cases, settings) -> Measurement:
    """`threads` threads, each with its own calculator of the model (as a threaded workflow has),
    make every call together: a barrier releases them at once, each with a different structure
    (of a different size), and Python switches threads every 10 us, so their calls overlap by
    construction, not by luck. Over len(structures) x `rounds` rounds every thread computes every
    structure; each answer is compared with the one computed alone, with the invariance
    tolerances. `settings`: the profile's [concurrency] and [invariance] sections
    (`profile.sections("concurrency", "invariance")`)."""
    ctx = as_context(ctx)
    model, seed = ctx.model, ctx.seed
    tolerances, settings = settings.invariance, settings.concurrency
    threads = int(settings.threads)
    structures = thread_structures(cases, threads, seed)
    sequential = [evaluate(model, atoms) for atoms in structures]
    calculators = [model.calculator] + [model.make_calculator() for _ in range(threads - 1)]
    rounds = int(settings.rounds) * len(structures)
    per_call = model.call_timeout or 300.0
    results, problems = [], []  # every answer is compared, not only each thread's last per structure
    barrier = threading.Barrier(threads, timeout=per_call)

    def work(index):
        for step in range(rounds):
            which = (index + step) % len(structures)
            try:
                barrier.wait()
            except threading.BrokenBarrierError:  # another thread stopped: its problem is recorded
                return
            try:
                results.append((index, which, evaluate(model, structures[which], calculator=calculators[index])))
            except Exception as exc:  # noqa: BLE001 - a crash under threads is a verdict about thread safety too
                problems.append(exc)
                barrier.abort()
                return

    before = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    try:
        workers = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(threads)]
        for w in workers:
            w.start()
        # Bounded: each thread makes `rounds` calls, each within the per-call limit. A thread still
        # blocked after that is a hang (daemon threads: the run goes on without them).
        allowed = per_call * (rounds + 1)
        if budget_left() is not None:
            allowed = min(allowed, budget_left())
        deadline = time.monotonic() + allowed
        for w in workers:
            w.join(max(deadline - time.monotonic(), 0.0))
    finally:
        sys.setswitchinterval(before)
    stuck = sum(w.is_alive() for w in workers)
    names = ", ".join(c.name for c in cases)
    if stuck:
        raise ModelCallError(f"{stuck} of {threads} threads did not finish {rounds} calls within {allowed:.3g} s "
                             f"(a model blocking in a thread; the per-call limit acts on the main thread only)",
                             cases[0].atoms, kind="timeout")
    extra = {"threads": threads, "structures": len(structures), "calls_per_thread": rounds}
    if problems:
        first = problems[0]
        return Measurement("thread_safety", "calls that raised when run from several threads at once",
                           float(len(problems)), "calls", 0.0, False, case=names,
                           details={**extra, "first_error": f"{type(first).__name__}: {first}"},
                           atoms=getattr(first, "atoms", None), seed=seed)
    comparisons = [(f"thread {i}", compare(model, tolerances, sequential[k], sequential[k], got, len(structures[k])),
                    structures[k]) for i, k, got in sorted(results, key=lambda row: row[:2])]
    return verdict("thread_safety", names, comparisons, seed, extra=extra)


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


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def _heap_reader():
    """A function giving the bytes glibc's malloc has handed out and not had back (all arenas
    plus mmapped blocks; torch's and numpy's CPU memory comes from there), or None elsewhere.
    Unlike resident memory it does not move when the allocator keeps freed pages or gives them
    back, so what else the process holds does not show in it."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
    except (OSError, AttributeError):
        return None

    def in_use_mb():
        info = libc.mallinfo2()
        return (info.uordblks + info.hblkhd) / 2**20

    return in_use_mb


def _trimmed_mean(values, cut=0.2) -> float:
    """Mean without the lowest and highest `cut` fraction: a one-time step (a lazy buffer, the
    allocator settling) is cut away, a growth every call is not."""
    ordered = np.sort(np.asarray(values, float))
    k = int(cut * len(ordered))
    return float(ordered[k: len(ordered) - k].mean())


def check_memory_growth(ctx, case, settings) -> Measurement:
    """A leak is memory that keeps growing with calls. After `warmup_calls`, `calls` calls on
    one structure; after each, the bytes in use by malloc (glibc's own statistics: torch, numpy,
    C libraries) and by Python (tracemalloc). The growth per call is the trimmed mean of the
    call-to-call increments (a one-time allocation is not a leak), the larger of the two is
    judged. Resident memory is reported beside it, not judged: it moves with what the allocator
    keeps and what else the process holds (CHGNet's 'growth' was 36.5 MB after a tiny MACE model
    had been loaded first, 0.02 MB of it Python's)."""
    ctx = as_context(ctx)
    model, seed = ctx.model, ctx.seed
    import tracemalloc

    heap_mb = _heap_reader()
    for _ in range(int(settings.warmup_calls)):
        evaluate(model, case.atoms)
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    calls = int(settings.calls)
    cuda = sys.modules["torch"].cuda if model.device.startswith("cuda") and "torch" in sys.modules else None
    heap, traced, rss, gpu = [], [], [], []
    try:
        for _ in range(calls + 1):
            evaluate(model, case.atoms)
            if cuda is not None:  # the framework's own allocator statistics on the GPU
                gpu.append(cuda.memory_allocated() / 2**20)
            heap.append(heap_mb() if heap_mb else 0.0)
            traced.append(tracemalloc.get_traced_memory()[0] / 2**20)
            rss.append(resident_mb())
    finally:
        if not tracing:
            tracemalloc.stop()
    heap_kb = 1024 * _trimmed_mean(np.diff(heap))
    traced_kb = 1024 * _trimmed_mean(np.diff(traced))
    gpu_kb = 1024 * _trimmed_mean(np.diff(gpu)) if gpu else 0.0
    per_call_kb = max(heap_kb, traced_kb, gpu_kb)
    allowance = float(settings.max_leak_kb_per_call)
    passed = per_call_kb <= allowance
    source = {heap_kb: "malloc", traced_kb: "Python", gpu_kb: "GPU"}[per_call_kb]
    return Measurement("memory_growth", f"memory kept per call over {calls} repeated calls ({source}, trimmed mean)",
                       per_call_kb, "kB/call", allowance, bool(passed), case=case.name,
                       details={"malloc_kb_per_call": heap_kb, "python_kb_per_call": traced_kb,
                                "gpu_kb_per_call": gpu_kb if gpu else None,
                                "gpu_allocated_mb": gpu[-1] if gpu else None,
                                "malloc_statistics": heap_mb is not None,
                                "malloc_growth_mb": heap[-1] - heap[0], "python_growth_mb": traced[-1] - traced[0],
                                "resident_growth_mb": (rss[-1] - rss[0]) if rss[0] is not None else None,
                                "resident_mb_first": rss[0]},
                       atoms=None if passed else case.atoms, seed=seed)
