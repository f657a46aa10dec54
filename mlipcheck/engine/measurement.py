"""What every check returns: one measured number, its threshold and the verdict."""
from __future__ import annotations

from dataclasses import dataclass, field

from ase import Atoms


class NotApplicable(Exception):
    """A check that has nothing to judge here (the suite skips with this reason): never a pass."""


RELATIONS = {"<=": lambda v, t: v <= t, "<": lambda v, t: v < t, ">=": lambda v, t: v >= t, ">": lambda v, t: v > t}
NEGATION = {"<=": ">", "<": ">=", ">=": "<", ">": "<="}


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
    # What a pass requires of value against threshold. A check with several criteria puts the one
    # that decided the verdict in metric/value/threshold/relation: the headline is that quantity.
    relation: str = "<="
    # Structures worth a DFT label whatever the verdict (a committee's most uncertain frames), each
    # with info["mlipcheck_reason"]: written beside the failing structures and into to_label.extxyz.
    to_label: list = field(default_factory=list)

    def __post_init__(self):
        # The headline must be the quantity that decided: value `relation` threshold says what
        # `passed` says (NaN: a fail). A check that breaks this is a defect of mlipcheck.
        holds = bool(RELATIONS[self.relation](self.value, self.threshold))
        if holds != bool(self.passed):
            raise ValueError(f"mlipcheck defect: {self.check}'s headline {self.metric} = {self.value} "
                             f"{self.relation} {self.threshold} disagrees with passed={self.passed}")

    def describe(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        if self.passed:
            comparison = f"{self.relation} threshold {self.threshold:.3g}{unit}"
        else:
            comparison = f"{NEGATION[self.relation]} threshold {self.threshold:.3g}{unit} (must be {self.relation})"
        text = f"{self.check} on {self.case}: {self.metric} = {self.value:.3g}{unit} {comparison}"
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
