"""What every check returns: one measured number, its threshold and the verdict."""
from __future__ import annotations

from dataclasses import dataclass, field

from ase import Atoms


class NotApplicable(Exception):
    """A check that has nothing to judge here (the suite skips with this reason): never a pass."""


@dataclass
class Measurement:
    check: str  # e.g. "rotation"
    metric: str  # what `value` is, e.g. "max |F(R x) - R F(x)|"
    value: float
    unit: str
    threshold: float
    passed: bool
    case: str = ""
    details: dict = field(default_factory=dict)  # other numbers worth reporting, JSON-friendly
    atoms: Atoms | None = None  # the structure to hand over when the check fails
    seed: int | None = None

    def describe(self) -> str:
        relation = "<=" if self.passed else ">"
        text = (f"{self.check} on {self.case}: {self.metric} = {self.value:.3g} {self.unit} "
                f"{relation} threshold {self.threshold:.3g} {self.unit}")
        # lists (curves, parity points) are for the report's plots, not for a message
        extras = ", ".join(f"{k}={_fmt(v)}" for k, v in self.details.items()
                           if not isinstance(v, (list, dict)))
        if extras:
            text += f" ({extras})"
        if self.seed is not None:
            text += f" [seed {self.seed}]"
        return text


def _fmt(value):
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)
