"""Conformance: periodic boundary conditions, supercells, equivalent cells, slabs, wires and molecules.
The slab and the wire run in quick too (mixed_periodicity): crystals and molecules alone do not
show a model that mishandles periodicity in one or two directions."""
import pytest

from mlipcheck.checks.conformance.periodicity import check_equivalent_cell, check_nonperiodic_directions, check_supercell

pytestmark = [pytest.mark.mlipcheck, pytest.mark.symmetry]


@pytest.mark.cases(where=lambda case: case.atoms.pbc.any(), mixed_periodicity=True)
def test_supercell(ctx, case, profile, verdict):
    verdict(check_supercell(ctx, case, profile.section("invariance")))


@pytest.mark.cases(where=lambda case: case.atoms.pbc.sum() >= 2, mixed_periodicity=True)
def test_equivalent_cell(ctx, case, profile, verdict):
    verdict(check_equivalent_cell(ctx, case, profile.section("invariance")))


@pytest.mark.cases(where=lambda case: not case.atoms.pbc.all(), mixed_periodicity=True)
def test_nonperiodic_directions(ctx, case, profile, verdict):
    verdict(check_nonperiodic_directions(ctx, case, profile.section("invariance")))
