"""Thresholds as data: one TOML file per profile (quick, full), aware of the model's dtype.

A tolerance is `max(floor, eps_factor * machine_epsilon(dtype) * scale)`: the floor is the
physical resolution asked for; the second term is what rounding in the model's own precision
can explain, with `scale` the magnitude of the quantity compared (given by the check). So a
float32 model gets a tolerance derived from float32's epsilon, never a hand-loosened number,
and a float64 model is held to the floor.

quick.toml is the base and holds every setting with its reason; full.toml and a user's profile
inherit from it (or from the profile their `inherits` names) and state only what differs.

Settings are typed by quick.toml, which declares every one: a whole number there (`steps = 150`)
must stay whole, a decimal (`fmax = 0.01`) takes any finite number, a table per dtype stays a
table. RANGES adds the bounds a sign cannot say. A profile is validated when it loads, before
any test: an unknown or misspelt key, a wrong type, NaN or infinity, a negative number, a value
out of its range or a profile that inherits itself is a usage error (exit 4) naming the file,
section and key. Checks read a setting as an attribute (`section.fmax`).
"""
from __future__ import annotations

import difflib
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from mlipcheck.errors import UsageError

HERE = Path(__file__).parent
EPSILON = {"float32": float(np.finfo(np.float32).eps), "float64": float(np.finfo(np.float64).eps)}


@dataclass
class Profile:
    name: str
    data: dict
    path: Path

    def section(self, name: str) -> Section:
        if name not in self.data:
            raise UsageError(f"profile {self.name!r} ({self.path}) has no [{name}] section")
        return Section(name, self.data[name], self)

    def sections(self, *names: str) -> SimpleNamespace:
        """Several sections as one check's settings, each an attribute (`settings.invariance`):
        for a check that runs others' checks with their tolerances."""
        return SimpleNamespace(**{name: self.section(name) for name in names})

    @property
    def quick(self) -> bool:
        return bool(self.data.get("quick", False))


@dataclass
class Section:
    name: str
    values: dict
    profile: Profile

    def __getitem__(self, key):
        try:
            return self.values[key]
        except KeyError:
            raise UsageError(f"profile {self.profile.name!r}: [{self.name}] has no {key!r}") from None

    def __getattr__(self, key):
        if key.startswith("_") or key in ("name", "values", "profile"):
            raise AttributeError(key)
        return self[key]

    def per_dtype(self, key, dtype):
        """A value given per dtype as `key = {float32 = .., float64 = ..}`, or one for both."""
        value = self[key]
        return value[dtype] if isinstance(value, dict) else value

    def tolerance(self, quantity: str, dtype: str, scale: float = 0.0) -> float:
        floor = self.per_dtype(f"{quantity}_floor", dtype)
        factor = self.values.get(f"{quantity}_eps_factor", 0.0)
        return max(float(floor), factor * EPSILON[dtype] * abs(scale))


# Top-level keys of a profile file; everything else is a [section].
TOP_LEVEL = {"name": str, "inherits": str, "quick": bool}
BASE = "quick"  # every profile inherits from quick unless it names another with `inherits`


def _read(name_or_path: str) -> tuple[dict, Path]:
    path = Path(name_or_path)
    if not path.suffix:
        path = HERE / f"{name_or_path}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in HERE.glob("*.toml")))
        raise UsageError(f"profile {name_or_path!r} not found: give one of {known} or a .toml file")
    try:
        return tomllib.loads(path.read_text()), path
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"profile {path} is not valid TOML: {exc}") from None


# Bounds beyond "not negative" (inclusive unless the bound is given as an open one): a fraction, a
# probability, or a count whose zero means nothing. (low, high, low_open, high_open)
RANGES = {
    "errors.confidence": (0.0, 1.0, True, True),
    "errors.flag_fraction": (0.0, 1.0, True, False),
    "dimers.hole_fraction": (0.0, 1.0, True, True),
    "md.collapse_fraction": (0.0, 1.0, True, True),
    "md.compressed_volume": (0.0, 1.0, True, False),
    "crazy_cubes.reasonable_bond_fraction": (0.0, 1.0, True, False),
    "eos.points": (5, None, False, False),  # a Birch-Murnaghan fit of 4 parameters needs more points
    "eos.span": (0.0, 0.5, True, False),
    "md.steps": (1, None, False, False),
    "md.nve_steps": (10, None, False, False),  # the drift is a fit over check_every samples
    "md.check_every": (1, None, False, False),
    "md.time_step_fs": (0.0, None, True, False),
    "phonons.mesh": (1, None, False, False),
    "phonons.displacement": (0.0, None, True, False),
    "relaxation.steps": (1, None, False, False),
    "throughput.rounds": (1, None, False, False),
    "throughput.scaling_rounds": (1, None, False, False),
    "concurrency.threads": (2, None, False, False),  # one thread cannot race
    "concurrency.calls": (2, None, False, False),
    "errors.bootstrap_samples": (10, None, False, False),
    "dimers.step": (0.0, None, True, False),
    "call.timeout_s": (0.0, None, True, False),
    "call.test_budget_s": (0.0, None, True, False),
}


def _kind(value) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return "a table"


def _fits(value, expected) -> bool:
    """`value` may stand where quick.toml has `expected`: the same kind, a whole number where a
    decimal is declared, and inside a list or a per-dtype table the same rule for each item."""
    if isinstance(expected, float) and isinstance(value, int) and not isinstance(value, bool):
        return True
    if _kind(value) != _kind(expected):
        return False
    if isinstance(value, list) and value and expected:
        return all(_fits(v, expected[0]) for v in value)
    if isinstance(value, dict) and isinstance(expected, dict) and expected:
        sample = next(iter(expected.values()))
        return all(_fits(v, sample) for v in value.values())
    return True


def _numbers(value):
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers(v)]
    if isinstance(value, list):
        return [n for v in value for n in _numbers(v)]
    return [value] if isinstance(value, (int, float)) and not isinstance(value, bool) else []


def _out_of_range(key, value) -> str | None:
    if key not in RANGES:
        return None
    low, high, low_open, high_open = RANGES[key]
    for v in _numbers(value):
        if (low is not None and (v < low or (low_open and v == low))) or \
                (high is not None and (v > high or (high_open and v == high))):
            left = "(" if low_open else "["
            right = ")" if high_open else "]"
            return f"must lie in {left}{low}, {'inf' if high is None else high}{right}"
    return None


def _validate(data: dict, base: dict, path: Path):
    """Every key of `data` must exist in `base` (the profile it inherits from) with a value that
    fits its declared type (`_fits`), finite, not negative and inside RANGES: a misspelt key or a
    wrong value is a usage error naming the file, section and key, not a model failure at run time."""
    def where(section, key):
        return f"profile {path}: [{section}] {key}" if section else f"profile {path}: {key}"

    for section, values in data.items():
        if section in TOP_LEVEL:
            if not isinstance(values, TOP_LEVEL[section]):
                raise UsageError(f"{where('', section)} must be {_kind(TOP_LEVEL[section]())}")
            continue
        if section not in base or not isinstance(values, dict):
            close = difflib.get_close_matches(section, [k for k in base if k not in TOP_LEVEL], 1)
            hint = f" (did you mean [{close[0]}]?)" if close else ""
            raise UsageError(f"profile {path}: unknown section [{section}]{hint}")
        for key, value in values.items():
            if key not in base[section]:
                close = difflib.get_close_matches(key, list(base[section]), 1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise UsageError(f"{where(section, key)}: unknown setting{hint}")
            expected = base[section][key]
            if not _fits(value, expected):
                kind = _kind(expected)
                if isinstance(expected, list) and expected:
                    kind += f" of {_kind(expected[0]).removeprefix('a ')}s"
                raise UsageError(f"{where(section, key)} = {value!r}: must be {kind}, "
                                 f"as in {BASE}.toml ({expected!r})")
            numbers = _numbers(value)
            if any(not math.isfinite(v) for v in numbers):
                raise UsageError(f"{where(section, key)} = {value!r}: must be a finite number")
            if any(v < 0 for v in numbers):
                raise UsageError(f"{where(section, key)} = {value!r}: must not be negative")
            problem = _out_of_range(f"{section}.{key}", value)
            if problem:
                raise UsageError(f"{where(section, key)} = {value!r}: {problem}")


def load_profile(name_or_path: str, _chain: tuple = ()) -> Profile:
    """A profile: quick.toml, or a file that inherits from it (or from the profile its
    `inherits` names) and states only what differs; validated against what it inherits."""
    data, path = _read(name_or_path)
    if path.resolve() in _chain:
        names = " -> ".join(str(p) for p in (*_chain, path.resolve()))
        raise UsageError(f"profile {path} inherits itself: {names}")
    parent_name = data.get("inherits", BASE if path != HERE / f"{BASE}.toml" else None)
    if parent_name is None:
        _validate(data, data, path)  # the base checks its own kinds and signs
        return Profile(data.get("name", path.stem), data, path)
    beside = path.parent / parent_name
    if Path(parent_name).suffix and not Path(parent_name).is_absolute() and beside.is_file():
        parent_name = str(beside)  # a file beside the profile that names it
    parent = load_profile(parent_name, (*_chain, path.resolve()))
    _validate(data, parent.data, path)
    merged = {k: (dict(v) if isinstance(v, dict) else v) for k, v in parent.data.items()}
    for section, values in data.items():
        if isinstance(values, dict):
            merged[section].update(values)
        else:
            merged[section] = values
    merged.pop("inherits", None)
    return Profile(data.get("name", path.stem), merged, path)
