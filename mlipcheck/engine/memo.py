"""Work a run computes once and several checks read: a dimer curve, an E(V) scan, a relaxed
crystal's phonons, predictions on a reference set.

Kept per model, outside the Model (which describes the model and nothing else), keyed by what the
result depends on (pair and grid, crystal and settings, file and content): two checks that need the
same thing share it, and a different setting never reads another's result. The plugin's session
forgets a model's memo when the run ends.
"""
from __future__ import annotations

import weakref

_MEMOS: dict[int, dict] = {}


def memo(model) -> dict:
    """The memo of `model` (created on first use, dropped with the model)."""
    key = id(model)
    if key not in _MEMOS:
        _MEMOS[key] = {}
        weakref.finalize(model, _MEMOS.pop, key, None)
    return _MEMOS[key]


def forget(model) -> None:
    _MEMOS.get(id(model), {}).clear()
