"""Conformance: periodic boundary conditions, supercells, equivalent cells, slabs, wires and molecules.
The slab and the wire run in quick too (mixed_periodicity): crystals and molecules alone do not
show a model that mishandles periodicity in one or two directions."""
import pytest

from mlipcheck.checks.conformance.periodicity import check_equivalent_cell, check_nonperiodic_directions, check_supercell

pytestmark = [pytest.mark.mlipcheck, pytest.mark.symmetry]


@pytest.mark.cases(where=lambda case: case.atoms.pbc.any(), mixed_periodicity=True)
def test_supercell(model, case, profile, seed, verdict):
    verdict(check_supercell(model, case, profile.section("invariance"), seed))


@pytest.mark.cases(where=lambda case: case.atoms.pbc.sum() >= 2, mixed_periodicity=True)
def test_equivalent_cell(model, case, profile, seed, verdict):
    verdict(check_equivalent_cell(model, case, profile.section("invariance"), seed))


@pytest.mark.cases(where=lambda case: not case.atoms.pbc.all(), mixed_periodicity=True)
def test_nonperiodic_directions(model, case, profile, seed, verdict):
    verdict(check_nonperiodic_directions(model, case, profile.section("invariance"), seed))
