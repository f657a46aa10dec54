"""Test structures, grouped by material class, built with ASE's builders.

Each case is rattled and/or strained: a perfect lattice has zero forces by symmetry and would
hide force errors. Builders are seeded, so a case is the same structure in every run.
A case whose elements a model does not declare is skipped with a reason naming the elements.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import numpy as np
from ase import Atoms
from ase.build import bulk, fcc111, graphene, molecule
from ase.cluster import Icosahedron

from mlipcheck.targets import Target, provider


@dataclass(frozen=True)
class Case:
    name: str
    atoms: Atoms = field(compare=False)
    material_class: str
    quick: bool = False  # part of the quick profile

    @property
    def symbols(self) -> set[str]:
        return set(self.atoms.get_chemical_symbols())

    @property
    def periodic(self) -> bool:
        return bool(self.atoms.pbc.any())


def _distorted(atoms: Atoms, seed: int, rattle=0.05, strain=0.01) -> Atoms:
    """Rattle positions (stdev `rattle`, Angstrom) and strain a periodic cell by up to `strain`."""
    rng = np.random.default_rng(seed)
    atoms = atoms.copy()
    if atoms.pbc.all() and strain:
        deformation = np.eye(3) + rng.uniform(-strain, strain, (3, 3))
        atoms.set_cell(atoms.cell @ deformation, scale_atoms=True)
    atoms.positions += rng.normal(0.0, rattle, atoms.positions.shape)
    return atoms


def _molecule(name: str, vacuum=5.0) -> Atoms:
    atoms = molecule(name)
    atoms.center(vacuum=vacuum)
    atoms.pbc = False
    return atoms


def _alloy(symbols: str, a: float, seed: int) -> Atoms:
    """A random fcc solid solution: `symbols` cycled over a 2x2x2 conventional cell (32 atoms)."""
    atoms = bulk("Cu", "fcc", a=a, cubic=True) * (2, 2, 2)
    rng = np.random.default_rng(seed)
    atoms.set_chemical_symbols(rng.permutation([symbols.split()[i % len(symbols.split())]
                                                for i in range(len(atoms))]))
    return atoms


@cache
def all_cases() -> tuple[Case, ...]:
    cases = [
        # metals
        Case("Cu_fcc", _distorted(bulk("Cu", "fcc", a=3.61, cubic=True) * (2, 1, 1), 1), "metal", quick=True),
        Case("Al_fcc", _distorted(bulk("Al", "fcc", a=4.05, cubic=True) * (2, 1, 1), 2), "metal"),
        Case("Fe_bcc", _distorted(bulk("Fe", "bcc", a=2.83, cubic=True) * (2, 2, 1), 3), "metal"),
        Case("Mg_hcp", _distorted(bulk("Mg", "hcp", a=3.21, c=5.21) * (2, 2, 1), 4), "metal"),
        Case("CuAu_fcc_alloy", _distorted(_alloy("Cu Au", 3.85, 5), 5), "metal"),
        # covalent
        Case("Si_diamond", _distorted(bulk("Si", "diamond", a=5.43, cubic=True), 6), "covalent", quick=True),
        Case("C_diamond", _distorted(bulk("C", "diamond", a=3.57, cubic=True), 7), "covalent"),
        # ionic and oxides
        Case("NaCl_rocksalt", _distorted(bulk("NaCl", "rocksalt", a=5.64, cubic=True), 8), "ionic"),
        Case("MgO_rocksalt", _distorted(bulk("MgO", "rocksalt", a=4.21, cubic=True), 9), "oxide", quick=True),
        # molecules and clusters (not periodic)
        Case("ethanol", _distorted(_molecule("CH3CH2OH"), 10, rattle=0.03), "molecule", quick=True),
        Case("H2O", _distorted(_molecule("H2O"), 11, rattle=0.03), "molecule"),
        Case("Cu13_cluster", _distorted(_cluster("Cu"), 12), "cluster", quick=True),
        # surfaces and 2D sheets (periodic in two directions)
        Case("Cu_111_slab", _distorted(fcc111("Cu", (2, 2, 3), a=3.61, vacuum=6.0), 13), "surface"),
        Case("graphene", _distorted(_sheet(), 14, rattle=0.03), "2D"),
        # the other combinations of periodic directions: a wire along z, a slab open along y
        Case("Cu_wire", _distorted(_open(bulk("Cu", "fcc", a=3.61, cubic=True) * (2, 2, 2), (False, False, True)), 19),
             "1D"),
        Case("Cu_100_slab_y", _distorted(_open(bulk("Cu", "fcc", a=3.61, cubic=True) * (2, 2, 2), (True, False, True)), 20),
             "surface"),
        # primitive cells shorter than any cutoff: atoms see their own periodic images
        Case("Cu_fcc_primitive", _distorted(bulk("Cu", "fcc", a=3.61), 16, rattle=0.0, strain=0.02), "metal",
             quick=True),
        Case("Si_primitive", _distorted(bulk("Si", "diamond", a=5.43), 17, rattle=0.03), "covalent"),
        Case("MgO_primitive", _distorted(bulk("MgO", "rocksalt", a=4.21), 18, rattle=0.03), "oxide"),
        # amorphous: strongly rattled
        Case("Cu_rattled", _distorted(bulk("Cu", "fcc", a=3.61, cubic=True) * (2, 2, 1), 15, rattle=0.15),
             "amorphous"),
    ]
    return tuple(cases)


def _cluster(symbol: str) -> Atoms:
    atoms = Icosahedron(symbol, 2, latticeconstant=3.61)
    atoms.center(vacuum=5.0)
    atoms.pbc = False
    return atoms


def _open(atoms: Atoms, pbc) -> Atoms:
    """`atoms` with vacuum (6 A each side) along the directions where `pbc` is False."""
    atoms = atoms.copy()
    for axis, periodic in enumerate(pbc):
        if not periodic:
            atoms.center(vacuum=6.0, axis=axis)
    atoms.pbc = pbc
    return atoms


def _sheet() -> Atoms:
    atoms = graphene("C2", a=2.46, vacuum=6.0) * (2, 2, 1)
    atoms.pbc = (True, True, False)
    return atoms


# A slab (periodic in x, y) and a wire (periodic in z): the periodicity and translation suites
# run them in quick too, so a model right for crystals and molecules but wrong for mixed
# periodicity (OpenKIM's PeriodicitySupport tries all combinations) does not pass quick.
MIXED_PERIODICITY = ("Cu_111_slab", "Cu_wire")


def cases_for(quick: bool, classes=None, where=None, mixed_periodicity=False) -> list[Case]:
    """The cases a suite runs: the quick ones in a quick profile (with `mixed_periodicity`, the
    slab and the wire too), else all; optionally only these material classes, or those for which
    `where(case)` is true."""
    cases = [c for c in all_cases() if c.quick or not quick or (mixed_periodicity and c.name in MIXED_PERIODICITY)]
    if classes is not None:
        cases = [c for c in cases if c.material_class in classes]
    if where is not None:
        cases = [c for c in cases if where(c)]
    return cases


@provider("case", marker="cases", per_model=False, indirect=True)
def case_targets(session, model, classes=None, where=None, one_in_quick=False, mixed_periodicity=False) -> list[Target]:
    """The profile's cases (the `case` fixture skips those with elements a model does not declare)."""
    quick = ("quick",)
    return [Target(c.name, c, case=c.name, material_class=c.material_class,
                   marks=quick if c.quick or (mixed_periodicity and c.name in MIXED_PERIODICITY) else ())
            for c in cases_for(session.profile.quick, classes, where, mixed_periodicity)]
