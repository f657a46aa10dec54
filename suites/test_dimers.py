"""Extrapolation: dimer curves of the declared elements (and pairs of them in `full`).

Each curve is computed once per model and pair; every test below judges one property of it.
"""
import pytest

from mlipcheck.checks.extrapolation.arena import check_arena_diatomics
from mlipcheck.checks.extrapolation.dimers import (
    check_dimer_continuity,
    check_dimer_dissociation,
    check_dimer_finite,
    check_dimer_force_flips,
    check_dimer_forces,
    check_dimer_repulsion,
    dimer_curve,
)

pytestmark = [pytest.mark.mlipcheck, pytest.mark.extrapolation, pytest.mark.quick, pytest.mark.pairs("dimers")]


@pytest.fixture
def dimers(profile):
    return profile.section("dimers")


@pytest.fixture
def full_curve(model, pair, dimers):
    return dimer_curve(model, *pair, dimers)


@pytest.fixture
def curve(full_curve):
    """The finite part of the curve; too little of it to judge is a skip (test_dimer_finite fails)."""
    if len(full_curve.r) < 8:
        pytest.skip(f"{full_curve.pair}: outputs not finite below r = {full_curve.nonfinite_at} A")
    return full_curve


def test_dimer_finite(full_curve, dimers, verdict):
    verdict(check_dimer_finite(full_curve, dimers))


def test_dimer_continuity(curve, dimers, model, verdict):
    verdict(check_dimer_continuity(model, curve, dimers))


def test_dimer_forces_are_minus_dE_dr(curve, dimers, model, verdict):
    verdict(check_dimer_forces(model, curve, dimers))


def test_dimer_force_flips(curve, dimers, verdict):
    verdict(check_dimer_force_flips(curve, dimers))


def test_dimer_repulsive_wall(curve, dimers, verdict):
    verdict(check_dimer_repulsion(curve, dimers))


def test_dimer_dissociation(curve, dimers, model, verdict):
    verdict(check_dimer_dissociation(curve, dimers, model.dtype))


@pytest.mark.arena
def test_arena_diatomics(model, profile, verdict):
    """MLIP Arena's diatomic metrics on its own grid (arena profile; report.json: models.<label>.arena_diatomics)."""
    verdict(check_arena_diatomics(model, profile.section("dimers")))
