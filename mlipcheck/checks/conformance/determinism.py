"""Determinism and statelessness: a model is a function of the structure it is given.

The same structure twice gives the same answer; A, then B, then A gives the first answer for A;
B after A equals B from a fresh calculator. A cache keyed on the wrong thing (formula, number
of atoms), dropout left on, or state carried between calls fails here.
"""
from __future__ import annotations

import numpy as np

from mlipcheck.engine.context import as_context
from mlipcheck.engine.evaluate import evaluate
from mlipcheck.engine.tolerances import compare, verdict


def check_determinism(ctx, case, settings):
    ctx = as_context(ctx)
    model, seed = ctx.model, ctx.seed
    rng = np.random.default_rng(seed)
    a = case.atoms
    b = a.copy()  # same formula, cell and number of atoms: what a wrong cache key confuses
    b.positions += rng.normal(0.0, 0.02, b.positions.shape)
    first = evaluate(model, a)
    again = evaluate(model, a)
    after_a = evaluate(model, b)
    back = evaluate(model, a)
    fresh = evaluate(model, b, calculator=model.fresh_calculator())
    n = len(a)
    comparisons = [
        ("the same structure twice", compare(model, settings, first, first, again, n), a),
        ("A after B", compare(model, settings, first, first, back, n), a),
        ("B after A vs a fresh calculator", compare(model, settings, fresh, fresh, after_a, n), b),
    ]
    return verdict("determinism", case.name, comparisons, seed)
