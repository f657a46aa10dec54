"""What every check receives first: the model under test and what else of the run it may use.

Every check has one shape:

    check(ctx, target, settings) -> Measurement      (or raise NotApplicable(reason): a skip)

- `ctx`, a Context: the model, its batched `evaluate`, its memo, the run's seed, the other models
  of the run (checks of their disagreement) and the reference tables the user gave;
- `target`: what the suite parametrizes over (a case, an element pair, a crystal, a material
  class's frames), or None for a check of the model as a whole;
- `settings`: the check's profile section (validated when the profile loads; read as attributes).

A script may pass a bare model where a Context is asked for: it is the model with seed 0.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlipcheck.engine.evaluate import evaluate_all
from mlipcheck.engine.memo import memo


@dataclass(frozen=True)
class Context:
    model: Any  # the model under test (None for a check of predictions already made)
    seed: int = 0  # of every random choice a check makes
    committee: tuple = ()  # every model of the run that loaded, for checks that compare them
    elastic_references: tuple = ()  # the user's --elastic-reference rows, tried before mlipcheck's table
    surface_references: dict | None = None  # (element, facet) -> SurfaceReference; None: mlipcheck's table

    def evaluate(self, structures, stress=None) -> list:
        """Predictions of `structures` in as few model calls as the model's batches allow."""
        return evaluate_all(self.model, structures, stress=stress)

    @property
    def memo(self) -> dict:
        """Work computed once per model and shared between checks (curves, relaxations, tensors)."""
        return memo(self.model)


def as_context(ctx_or_model) -> Context:
    """`ctx_or_model` as a Context (a bare model: seed 0, no committee, mlipcheck's own tables)."""
    return ctx_or_model if isinstance(ctx_or_model, Context) else Context(ctx_or_model)
