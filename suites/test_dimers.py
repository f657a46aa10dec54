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
)

pytestmark = [pytest.mark.mlipcheck, pytest.mark.extrapolation, pytest.mark.quick, pytest.mark.pairs("dimers")]


@pytest.fixture
def dimers(profile):
    return profile.section("dimers")


def test_dimer_finite(ctx, pair, dimers, verdict):
    verdict(check_dimer_finite(ctx, pair, dimers))


def test_dimer_continuity(ctx, pair, dimers, verdict):
    verdict(check_dimer_continuity(ctx, pair, dimers))


def test_dimer_forces_are_minus_dE_dr(ctx, pair, dimers, verdict):
    verdict(check_dimer_forces(ctx, pair, dimers))


def test_dimer_force_flips(ctx, pair, dimers, verdict):
    verdict(check_dimer_force_flips(ctx, pair, dimers))


def test_dimer_repulsive_wall(ctx, pair, dimers, verdict):
    verdict(check_dimer_repulsion(ctx, pair, dimers))


def test_dimer_dissociation(ctx, pair, dimers, verdict):
    verdict(check_dimer_dissociation(ctx, pair, dimers))


@pytest.mark.arena
def test_arena_diatomics(ctx, profile, verdict):
    """MLIP Arena's diatomic metrics on its own grid (arena profile; report.json: models.<label>.arena_diatomics)."""
    verdict(check_arena_diatomics(ctx, None, profile.section("dimers")))
