"""Thresholds as data: one TOML file per profile (quick, full), aware of the model's dtype.

A tolerance is `max(floor, eps_factor * machine_epsilon(dtype) * scale)`: the floor is the
physical resolution asked for; the second term is what rounding in the model's own precision
can explain, with `scale` the magnitude of the quantity compared (given by the check). So a
float32 model gets a tolerance derived from float32's epsilon, never a hand-loosened number,
and a float64 model is held to the floor.

quick.toml is the base and holds every setting with its reason; full.toml and a user's profile
inherit from it (or from the profile their `inherits` names) and state only what differs. A
profile is validated when pytest starts: an unknown or misspelt key, a wrong type or a negative
number is a usage error naming the file, section and key.
"""
from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass
from pathlib import Path

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


def _kind(value) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return "a table"


def _validate(data: dict, base: dict, path: Path):
    """Every key of `data` must exist in `base` (the profile it inherits from) with the same kind
    of value, and no number may be negative: a misspelt key or a wrong type is a usage error
    naming the file, section and key, not a model failure at run time."""
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
            if _kind(value) != _kind(expected):
                raise UsageError(f"{where(section, key)} = {value!r}: must be {_kind(expected)}, "
                                 f"as in {BASE}.toml ({expected!r})")
            numbers = value.values() if isinstance(value, dict) else value if isinstance(value, list) else [value]
            if any(isinstance(v, (int, float)) and not isinstance(v, bool) and v < 0 for v in numbers):
                raise UsageError(f"{where(section, key)} = {value!r}: must not be negative")


def load_profile(name_or_path: str) -> Profile:
    """A profile: quick.toml, or a file that inherits from it (or from the profile its
    `inherits` names) and states only what differs; validated against what it inherits."""
    data, path = _read(name_or_path)
    parent_name = data.get("inherits", BASE if path != HERE / f"{BASE}.toml" else None)
    if parent_name is None:
        _validate(data, data, path)  # the base checks its own kinds and signs
        return Profile(data.get("name", path.stem), data, path)
    parent = load_profile(parent_name)
    _validate(data, parent.data, path)
    merged = {k: (dict(v) if isinstance(v, dict) else v) for k, v in parent.data.items()}
    for section, values in data.items():
        if isinstance(values, dict):
            merged[section].update(values)
        else:
            merged[section] = values
    merged.pop("inherits", None)
    return Profile(data.get("name", path.stem), merged, path)
