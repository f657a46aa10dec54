"""Thresholds as data: one TOML file per profile (quick, full), aware of the model's dtype.

A tolerance is `max(floor, eps_factor * machine_epsilon(dtype) * scale)`: the floor is the
physical resolution asked for; the second term is what rounding in the model's own precision
can explain, with `scale` the magnitude of the quantity compared (given by the check). So a
float32 model gets a tolerance derived from float32's epsilon, never a hand-loosened number,
and a float64 model is held to the floor.
"""
from __future__ import annotations

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

    def section(self, name: str) -> "Section":
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


def load_profile(name_or_path: str) -> Profile:
    path = Path(name_or_path)
    if not path.suffix:
        path = HERE / f"{name_or_path}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in HERE.glob("*.toml")))
        raise UsageError(f"profile {name_or_path!r} not found: give one of {known} or a .toml file")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"profile {path} is not valid TOML: {exc}") from None
    return Profile(data.get("name", path.stem), data, path)
