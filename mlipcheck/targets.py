"""What a suite test runs on besides the model: its targets, from providers that each area registers.

A suite test asks for an argument (`case`, `pair`, `item`, `reference_class`, ...); the area that
knows what those are registers a provider for it here, and the plugin parametrizes every mlipcheck
test whose arguments name a provider. So the plugin knows no suite's vocabulary, and a new area
adds its targets without touching it:

    @provider("pair", marker="pairs", what="element pair")
    def dimer_pairs(session, model, section_name):
        return [Target(f"{a}-{b}", (a, b), case=f"{a}-{b} dimer") for a, b in ...]

A provider registered `per_model` is called once per loaded model (its targets depend on the
model's elements); the others once per run. Providers live in the area modules of AREAS, imported
on first use. Light on purpose: the plugin imports this module at start.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Modules whose import registers providers (each area's own module; nothing else lists them).
AREAS = ("mlipcheck.structures.cases", "mlipcheck.checks.extrapolation.dimers", "mlipcheck.structures.crystals",
         "mlipcheck.reference.sets", "mlipcheck.checks.properties.phonons", "mlipcheck.checks.performance.throughput")


@dataclass(frozen=True)
class Target:
    """One parameter value of a suite test, and how the report names it."""

    id: str  # the test id's part after the model's label
    value: Any  # what the test function receives
    case: str | None = None  # the result record's case (None: the test's parameter id)
    material_class: str | None = None
    marks: tuple[str, ...] = ()  # names of pytest marks of this parameter, e.g. ("quick",)
    skip: str | None = None  # a reason: this parameter is a skip (e.g. no reference given)


@dataclass(frozen=True)
class Provider:
    argument: str  # the test argument it fills
    function: Callable[..., list[Target]]  # (session, model or None, *marker args, **marker kwargs)
    marker: str | None = None  # the marker whose arguments are passed on (e.g. pairs("dimers"))
    per_model: bool = True
    indirect: bool = False  # the value goes through a fixture of the same name first
    what: str = "target"  # a model with none is a skip: "no {what} among its declared elements",
    # formatted with the marker's arguments ("{0} crystal" -> "eos crystal")


PROVIDERS: dict[str, Provider] = {}


def provider(argument: str, *, marker: str | None = None, per_model: bool = True, indirect: bool = False,
             what: str = "target"):
    """Register the decorated function as the provider of `argument`."""

    def register(function):
        PROVIDERS[argument] = Provider(argument, function, marker, per_model, indirect, what)
        return function

    return register


def providers() -> dict[str, Provider]:
    """Every registered provider (the area modules imported on first call)."""
    for module in AREAS:
        importlib.import_module(module)
    return PROVIDERS


def marker_arguments(definition, name: str | None) -> tuple[tuple, dict]:
    """(args, kwargs) of the test's closest marker `name` (none: empty)."""
    marker = definition.get_closest_marker(name) if name else None
    return (tuple(marker.args), dict(marker.kwargs)) if marker else ((), {})
