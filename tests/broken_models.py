"""Deliberately broken models: each breaks exactly one property, by a small, realistic amount.

Every check in mlipcheck has a model here that it must catch, while EMT (the correct model all of
these wrap) passes. Each factory returns an ASE calculator, so the suites can run them too:

    pytest suites --model tests/broken_models.py:rotation_broken

The defects are terms of a few meV with exact (conservative) forces and stress, so that they
break one symmetry and nothing else; `inconsistent_forces` instead breaks F = -dE/dx.
"""
from __future__ import annotations

import sys
import time

import numpy as np
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT
from ase.neighborlist import neighbor_list

EMT_ELEMENTS = ["H", "C", "N", "O", "Al", "Ni", "Cu", "Pd", "Ag", "Pt", "Au"]


class Wrapped(Calculator):
    """EMT plus `extra(atoms) -> (energy, forces, stress_3x3)`; subclasses define the defect."""

    implemented_properties = ["energy", "forces", "stress"]
    elements = EMT_ELEMENTS
    dtype = "float64"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.base = EMT()

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.prepare(self.atoms.copy())
        atoms.calc = self.base
        energy = atoms.get_potential_energy()
        forces = atoms.get_forces()
        stress = atoms.get_stress(voigt=False) if atoms.pbc.all() else np.zeros((3, 3))
        e, f, s = self.extra(atoms)
        self.results = {"energy": energy + e, "free_energy": energy + e, "forces": forces + f}
        if atoms.pbc.all():
            self.results["stress"] = _voigt(stress + s)

    def prepare(self, atoms):
        return atoms

    def extra(self, atoms):
        return 0.0, np.zeros((len(atoms), 3)), np.zeros((3, 3))


def _voigt(s):
    return np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])


def pair_term(atoms, pair_energy, cutoff=3.0):
    """Sum over neighbour pairs (each once) of pair_energy(i, j, d) -> (e, de/dd), with exact
    forces and virial stress. `d` is r_j - r_i including periodic images."""
    i_list, j_list, d_list = neighbor_list("ijD", atoms, cutoff)
    energy, forces, virial = 0.0, np.zeros((len(atoms), 3)), np.zeros((3, 3))
    for i, j, d in zip(i_list, j_list, d_list):
        e, grad = pair_energy(i, j, d, cutoff)
        energy += 0.5 * e  # each pair appears twice (i->j and j->i)
        forces[i] += 0.5 * grad
        forces[j] -= 0.5 * grad
        virial += 0.5 * np.outer(d, grad)
    stress = virial / atoms.get_volume() if atoms.pbc.all() else np.zeros((3, 3))
    return energy, forces, stress


def _switch(r, cutoff):
    """(1 - r/rc)^2 and its derivative: smooth to zero at the cutoff."""
    x = 1.0 - r / cutoff
    return x * x, -2.0 * x / cutoff


class OrientationTerm(Wrapped):
    """A pair term that prefers bonds along z: breaks rotation (a learned frame that leaks,
    an un-symmetrized descriptor), keeps translation and permutation. ~5 meV per bond."""

    strength = 0.005

    def extra(self, atoms):
        def pair(i, j, d, rc):
            r = np.linalg.norm(d)
            w, dw = _switch(r, rc)
            cos2 = d[2] ** 2 / r**2
            dcos2 = (2 * d[2] * np.array([0, 0, 1.0]) - 2 * d[2] ** 2 * d / r**2) / r**2
            return self.strength * cos2 * w, self.strength * (dcos2 * w + cos2 * dw * d / r)

        return pair_term(atoms, pair)


class OriginTerm(Wrapped):
    """An energy that depends on where the atoms' centroid is (|R|^2, so rotations about the
    origin and permutations leave it alone): breaks translation only. A few meV."""

    strength = 0.003
    length = 7.0

    def extra(self, atoms):
        centroid = atoms.positions.mean(axis=0)
        phase = centroid @ centroid / self.length**2
        energy = self.strength * np.sin(phase)
        grad = self.strength * np.cos(phase) * 2 * centroid / self.length**2 / len(atoms)
        forces = -np.tile(grad, (len(atoms), 1))
        # Uniform strain moves the centroid too: dE/de_ab = R_a * dE/dR_b.
        stress = np.outer(centroid, grad * len(atoms)) / atoms.get_volume() if atoms.pbc.all() else np.zeros((3, 3))
        return energy, forces, stress


class Float32Positions(Wrapped):
    """Claims float64 but rounds positions to float32 before computing: loses digits far from
    the origin, exactly what the far-offset translation check is for."""

    def prepare(self, atoms):
        atoms.positions = atoms.positions.astype(np.float32).astype(np.float64)
        return atoms


class IndexTerm(Wrapped):
    """A pair term weighted by the atoms' indices (a type map looked up by index instead of
    by atomic number): breaks permutation only. Up to ~4 meV per bond."""

    strength = 0.004

    def extra(self, atoms):
        n = len(atoms)

        def pair(i, j, d, rc):
            r = np.linalg.norm(d)
            w, dw = _switch(r, rc)
            weight = self.strength * ((i + 1) * (j + 1)) / n**2
            return weight * w, weight * dw * d / r

        return pair_term(atoms, pair)


class ScaledForces(Wrapped):
    """Forces 2 % larger than -dE/dx (a unit or scaling slip in the force head)."""

    factor = 1.02

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.results["forces"] = self.results["forces"] * self.factor


class SoftOnMolecules(Wrapped):
    """Forces 0.7 x -dE/dx on structures without a periodic direction (molecules), exact elsewhere:
    good on one material class, soft on another (issue 7, issue 10's softening s = 0.7)."""

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        if not atoms.pbc.any():
            self.results["forces"] = self.results["forces"] * 0.7


class SharedScratch(Wrapped):
    """Keeps its working copy of the structure in a class attribute, shared by every instance
    (like a module-level neighbour-list buffer): alone it is exact; two threads overwrite each
    other's structure between the write and the read."""

    scratch = {}

    def prepare(self, atoms):
        SharedScratch.scratch["atoms"] = atoms
        time.sleep(0.002)  # work between the write and the read: another thread runs here
        return SharedScratch.scratch["atoms"]


class SharedBuffer(Wrapped):
    """One structure buffer for every instance, and no sleep: it writes the structure there,
    does 0.2 ms of bookkeeping in Python (holding the GIL), then computes on whatever the buffer
    holds. Two calls in flight compute each other's structure only if a thread switch lands
    inside that window."""

    buffer = {}

    def prepare(self, atoms):
        SharedBuffer.buffer["atoms"] = atoms
        sum(range(20000))  # bookkeeping in Python, about 0.2 ms: the GIL is held throughout
        return SharedBuffer.buffer["atoms"]


class Leaks(Wrapped):
    """Keeps every result in a list that is never emptied (2 MB per call)."""

    kept = []

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        Leaks.kept.append(np.ones(2 ** 18))


class LeaksNative(Wrapped):
    """Leaks 1 MB of C memory per call (malloc without free, as a C extension that forgets a
    buffer): invisible to tracemalloc, seen by malloc's own statistics."""

    def __init__(self, **kwargs):
        import ctypes

        super().__init__(**kwargs)
        self.libc = ctypes.CDLL("libc.so.6")
        self.libc.malloc.restype = ctypes.c_void_p
        self.memset = ctypes.memset

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.memset(self.libc.malloc(2**20), 1, 2**20)  # touched, so resident too


class LazyBuffer(Wrapped):
    """Correct: allocates a 40 MB work buffer once, on its 8th call, and keeps it (a lazily built
    table, a JIT cache). A one-time allocation, not a leak: memory does not keep growing."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.calls, self.buffer = 0, None

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.calls += 1
        if self.calls == 8:
            self.buffer = np.ones(5 * 2**20)


class SoftMode(Wrapped):
    """A Gaussian bump centred on the Cu nearest-neighbour distance: no force at the ideal bond
    length (the crystal keeps its structure and lattice) but negative curvature along every
    bond: fcc Cu turns dynamically unstable."""

    depth, width, centre = 0.04, 0.15, 3.5898 / np.sqrt(2)  # eV, A, A (EMT's Cu bond)

    def extra(self, atoms):
        def pair(i, j, d, rc):
            r = np.linalg.norm(d)
            g = np.exp(-((r - self.centre) ** 2) / (2 * self.width**2))
            return self.depth * g, -self.depth * g * (r - self.centre) / self.width**2 * d / r

        return pair_term(atoms, pair, cutoff=3.3)


class SoftCore(Wrapped):
    """An attractive well at 1.9 A, far inside Cu's nearest-neighbour distance (2.54 A, where it
    is 1e-6 eV): crystals do not notice, but an extra atom squeezed between neighbours (1.8 A at
    the octahedral site) is stabilised, so self-interstitials come out cheap (a core not repulsive
    enough where training data had no atoms)."""

    depth, width, centre = 2.0, 0.12, 1.9  # eV, A, A

    def extra(self, atoms):
        def pair(i, j, d, rc):
            r = np.linalg.norm(d)
            g = np.exp(-((r - self.centre) ** 2) / (2 * self.width**2))
            return -self.depth * g, self.depth * g * (r - self.centre) / self.width**2 * d / r

        return pair_term(atoms, pair, cutoff=3.3)


class PinnedToLattice(Wrapped):
    """Each atom feels a weak periodic potential fixed in space, with minima on the sites of
    EMT's Cu lattice (period a/2 along x, y, z): the energy is unchanged on the perfect crystal,
    but translating the crystal costs energy, so the acoustic modes at Gamma are not zero
    (0.7 THz): the acoustic sum rule is broken."""

    amplitude, period = 0.005, 3.5898 / 2  # eV, A

    def extra(self, atoms):
        k = 2 * np.pi / self.period
        x = atoms.positions
        energy = self.amplitude * np.sum(1 - np.cos(k * x))
        grad = self.amplitude * k * np.sin(k * x)
        virial = x.T @ grad  # not rotation invariant: only its symmetric part is a stress
        stress = 0.5 * (virial + virial.T) / atoms.get_volume() if atoms.pbc.all() else np.zeros((3, 3))
        return energy, -grad, stress


class CuspAtBonds(Wrapped):
    """A Ni-Al bond term c * sqrt((r - r0)^2 + 1e-8) with its minimum at EMT's B2 NiAl bond
    (r0 = a0 sqrt(3)/2): a cusp, as a learned angle or distance feature that is not smooth at a
    crystal's sites. Forces still sum to zero (a pair term) and, a pair term being reciprocal,
    the sum rule holds; but the force on a displaced atom is not linear in its displacement
    (the self force constant at 0.01 A is twice that at 0.02 A): what the diagnosis reads."""

    c, r0 = 0.02, 3.04855 * 3 ** 0.5 / 2  # eV/A; EMT's relaxed B2 NiAl a0 = 3.04855 A

    def extra(self, atoms):
        symbols = atoms.get_chemical_symbols()

        def bond(i, j, d, cutoff):
            if {symbols[i], symbols[j]} != {"Ni", "Al"}:
                return 0.0, np.zeros(3)
            r = np.linalg.norm(d)
            root = np.sqrt((r - self.r0) ** 2 + 1e-8)
            return self.c * root, self.c * (r - self.r0) / root * d / r

        return pair_term(atoms, bond, cutoff=2.9)


class ShearUnstable(Wrapped):
    """A cell-shape term -k N sum_(i<j) cos^2(angle between cell vectors i, j), k = 10 eV: rotation-
    and translation-invariant, no forces, and it rewards shearing an orthogonal cell, so the
    conventional fcc cell's C44 turns negative (EMT Cu: C44 ~ 90 GPa; the term takes ~ -270)."""

    k = 10.0

    def _energy(self, cell, n):
        g = cell @ cell.T
        cosines = [g[i, j] / np.sqrt(g[i, i] * g[j, j]) for i, j in ((0, 1), (0, 2), (1, 2))]
        return -self.k * n * sum(c * c for c in cosines)

    def extra(self, atoms):
        if not atoms.pbc.all():
            return 0.0, np.zeros((len(atoms), 3)), np.zeros((3, 3))
        cell, n, h = atoms.cell.array, len(atoms), 1e-6
        stress = np.zeros((3, 3))
        for a in range(3):  # (1/V) dE/d(strain), central differences of the analytic energy
            for b in range(3):
                strain = np.zeros((3, 3))
                strain[a, b] = strain[b, a] = h / 2 if a != b else h
                up, down = cell @ (np.eye(3) + strain), cell @ (np.eye(3) - strain)
                stress[a, b] = (self._energy(up, n) - self._energy(down, n)) / (2 * h) / atoms.get_volume()
        return self._energy(cell, n), np.zeros((n, 3)), stress


class Undercoordinated(Wrapped):
    """Penalises atoms with fewer than 12 neighbours within ~3 A (smooth count: 1 below 2.8 A,
    cosine to 0 at 3.2 A; fcc Cu has 12 at 2.54 A and the next at 3.59 A), by 0.1 eV per missing
    neighbour squared: bulk Cu is untouched, but a vacancy costs ~1.2 eV more and surfaces
    too much (a model that over-penalises under-coordinated atoms)."""

    strength, inner, cutoff, full = 0.1, 2.8, 3.2, 12.0

    def penalty(self, missing):
        """(energy of each atom, its derivative) for `missing` neighbours."""
        return self.strength * missing**2, 2 * self.strength * missing

    def extra(self, atoms):
        i, j, d, D = neighbor_list("ijdD", atoms, self.cutoff)
        x = np.clip((d - self.inner) / (self.cutoff - self.inner), 0.0, 1.0)
        w = 0.5 * (1 + np.cos(np.pi * x))
        dw = np.where((x > 0) & (x < 1), -0.5 * np.pi * np.sin(np.pi * x) / (self.cutoff - self.inner), 0.0)
        count = np.bincount(i, weights=w, minlength=len(atoms))
        missing = np.maximum(self.full - count, 0.0)
        energy, slope = self.penalty(missing)
        # dE/dD_ij = -penalty'(missing_i) dw(d) D/d, for D = r_j - r_i
        g = (-slope[i] * dw / d)[:, None] * D
        forces = np.zeros((len(atoms), 3))
        np.add.at(forces, i, g)
        np.add.at(forces, j, -g)
        stress = (D.T @ g) / atoms.get_volume() if atoms.pbc.all() else np.zeros((3, 3))
        return float(np.sum(energy)), forces, stress


class SurfaceBlind(Undercoordinated):
    """Charges every under-coordinated atom about the same, 0.6 eV x tanh(missing neighbours), however
    many bonds it lost: a descriptor that saturates, and sees "surface atom" as a category. An
    fcc (100) atom (8 neighbours) then costs what a (111) atom (9) costs, and the (100) facet, with
    fewer atoms per area, comes out below (111): the facet ordering inverted. Bulk untouched."""

    strength = 0.6

    def penalty(self, missing):
        return self.strength * np.tanh(missing), self.strength * (1 - np.tanh(missing) ** 2)


class Expanded(Wrapped):
    """EMT evaluated on the structure shrunk by 2 %: a lattice 2 % too large (V0 +6 %), bulk
    modulus and phonons scaled accordingly; everything else (symmetry, consistency) exact."""

    scale = 1.02

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        Calculator.calculate(self, atoms, properties, system_changes)
        shrunk = self.atoms.copy()
        shrunk.set_cell(shrunk.cell.array / self.scale, scale_atoms=True)
        shrunk.positions = self.atoms.positions / self.scale
        shrunk.calc = self.base
        energy = shrunk.get_potential_energy()
        self.results = {"energy": energy, "free_energy": energy, "forces": shrunk.get_forces() / self.scale}
        if shrunk.pbc.all():
            self.results["stress"] = shrunk.get_stress() / self.scale**3


class QuadraticCost(Wrapped):
    """Exact EMT, plus 1 microsecond of CPU work per pair of atoms (like an all-pairs neighbour
    search in Python): cost grows as N^2 (0.26 s extra at 512 atoms)."""

    def extra(self, atoms):
        end = time.process_time() + 1e-6 * len(atoms) ** 2
        while time.process_time() < end:  # busy, as a real search is: CPU time, not a sleep
            pass
        return 0.0, np.zeros((len(atoms), 3)), np.zeros((3, 3))


class StressSignFlipped(Wrapped):
    """Stress with the opposite sign (compression positive, as VASP prints it): CHGNet issue 228."""

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        if "stress" in self.results:
            self.results["stress"] = -self.results["stress"]


class StressScaled(Wrapped):
    """Stress 3 % too large (a volume taken from the wrong cell, a unit rounded)."""

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        if "stress" in self.results:
            self.results["stress"] = self.results["stress"] * 1.03


class CoordinationDrift(Wrapped):
    """Direct (non-conservative) forces with a term that does not obey Newton's third law:
    each atom is pushed away from its neighbours in proportion to its own coordination. The
    energy is EMT's: invariances hold, but forces do not sum to zero and are not -dE/dx."""

    strength = 0.05

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        i_list, j_list, d_list = neighbor_list("ijD", self.atoms, 3.0)
        r = np.linalg.norm(d_list, axis=1)
        w = (1.0 - r / 3.0) ** 2
        coordination = np.bincount(i_list, weights=w, minlength=len(self.atoms))
        push = np.zeros((len(self.atoms), 3))
        np.add.at(push, i_list, -(w * coordination[i_list])[:, None] * d_list / r[:, None])
        self.results["forces"] = self.results["forces"] + self.strength * push


class RotationalForces(Wrapped):
    """Direct forces with a small curl: each bond adds c * w(r) * (z x d) to its atoms, equal and
    opposite (no net force), 0.05 eV/A at 1 A. Energy is EMT's; the force Jacobian gets an
    antisymmetric part."""

    strength = 0.05

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        i_list, j_list, d_list = neighbor_list("ijD", self.atoms, 3.0)
        w = (1.0 - np.linalg.norm(d_list, axis=1) / 3.0) ** 2
        curl = self.strength * w[:, None] * np.cross([0.0, 0.0, 1.0], d_list)
        extra = np.zeros((len(self.atoms), 3))
        np.add.at(extra, i_list, curl)
        self.results["forces"] = self.results["forces"] + extra


class ConstantOffset(Wrapped):
    """Adds a reference energy once per structure instead of once per atom (an E0 bug):
    a supercell's energy is then not n times the cell's. 10 meV."""

    def extra(self, atoms):
        return 0.01, np.zeros((len(atoms), 3)), np.zeros((3, 3))


class IgnoresPbc(Wrapped):
    """Treats every structure as periodic in all three directions."""

    def prepare(self, atoms):
        atoms.pbc = True
        return atoms


class MixedPbcAsOpen(Wrapped):
    """Exact for crystals and molecules; a structure periodic in one or two directions only is
    computed as if open in all (a model that tests `pbc.all()` where it means per direction)."""

    def prepare(self, atoms):
        if atoms.pbc.any() and not atoms.pbc.all():
            atoms.pbc = False
        return atoms


class CellVolumeTerm(Wrapped):
    """An energy term of 1 meV per atom per 1000 A^3 of inverse cell volume on structures with an
    open axis (a density feature taken from the cell, vacuum included): no force, only the energy
    moves with the vacuum."""

    def extra(self, atoms):
        if atoms.pbc.all():
            return 0.0, np.zeros((len(atoms), 3)), np.zeros((3, 3))
        return 1e-3 * len(atoms) * 1000.0 / atoms.get_volume(), np.zeros((len(atoms), 3)), np.zeros((3, 3))


class StaleCache(Wrapped):
    """Caches results keyed on the chemical formula (a cache keyed on the wrong thing)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.cache = {}

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        key = atoms.get_chemical_formula()
        if key not in self.cache:
            super().calculate(atoms, properties, system_changes)
            self.cache[key] = dict(self.results)
        self.atoms = atoms.copy()
        self.results = dict(self.cache[key])


class CachesByAtomCount(StaleCache):
    """Caches results keyed on the number of atoms: any structure of the same size gets the first
    one's answer. Under relaxation the stale stress never vanishes, so the cell runs away."""

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        key = len(atoms)
        if key not in self.cache:
            Wrapped.calculate(self, atoms, properties, system_changes)
            self.cache[key] = dict(self.results)
        self.atoms = atoms.copy()
        self.results = dict(self.cache[key])


class Dropout(Wrapped):
    """Dropout left on at inference: 0.1 meV of noise on the energy, 1 meV/A on forces."""

    def extra(self, atoms):
        rng = np.random.default_rng()
        return (rng.normal(0, 1e-4), rng.normal(0, 1e-3, (len(atoms), 3)), np.zeros((3, 3)))


class SilentElement(Wrapped):
    """Declares Cu only but answers for anything EMT knows."""

    elements = ["Cu"]


class FlatSilver(Wrapped):
    """Declares Ag but its Ag is a constant: an element with an untrained embedding."""

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        if set(atoms.get_chemical_symbols()) == {"Ag"}:
            Calculator.calculate(self, atoms, properties, system_changes)
            self.results = {"energy": -1.0 * len(atoms), "forces": np.zeros((len(atoms), 3)),
                            "stress": np.zeros(6)}
            if not atoms.pbc.all():
                del self.results["stress"]
            return
        super().calculate(atoms, properties, system_changes)


class ShortRangeHole(Wrapped):
    """A deep well at short range (no repulsive wall: "the 99 % typical problem of MLIPs",
    python-ace issue 76). Invisible at the distances of ordinary structures."""

    depth, width, power = 1000.0, 0.9, 4  # beats EMT's 600 eV wall at 0.3 A; < 1e-5 eV beyond 1.9 A

    def extra(self, atoms):
        def pair(i, j, d, rc):
            r = np.linalg.norm(d)
            e = -self.depth * np.exp(-((r / self.width) ** self.power))
            return e, e * (-self.power * r ** (self.power - 1) / self.width**self.power) * d / r

        return pair_term(atoms, pair, cutoff=2.5)


class LowWallHole(ShortRangeHole):
    """A hole behind a wall lower than any profile's ceiling: the well (-1000 eV, narrow power-8
    edge at 1.4 A) overtakes EMT's Cu-Cu repulsion at 1.7 A, where the wall has risen only to
    -0.2 eV; an MD pair that climbs there falls in. (ShortRangeHole's hole lies behind a ~20 eV
    wall, outside the judged region.)"""

    depth, width, power = 1000.0, 1.4, 8


class WigglyCore(Wrapped):
    """Correct, and hard on finite differences: a conservative ripple of 0.1 meV with a 2 mA
    period on Cu-Cu pairs between 1.75 and 2.0 A (exact forces). A central difference at the
    profiles' 1 mA step sees none of its 0.3 eV/A force (sin(pi) = 0); halving the step
    resolves it. Stands for a real model's steep, wiggly core (CHGNet's V-V at 0.45 A)."""

    amplitude, period, low, high = 1e-4, 2e-3, 1.75, 2.0

    def extra(self, atoms):
        k = 2 * np.pi / self.period

        def pair(i, j, d, rc):
            r = np.linalg.norm(d)
            if not self.low < r < self.high:
                return 0.0, np.zeros(3)
            x = np.pi * (r - self.low) / (self.high - self.low)  # a sin^2 window, zero at both ends
            w, dw = np.sin(x) ** 2, np.sin(2 * x) * np.pi / (self.high - self.low)
            e = self.amplitude * w * np.sin(k * r)
            de = self.amplitude * (dw * np.sin(k * r) + w * k * np.cos(k * r))
            return e, de * d / r

        return pair_term(atoms, pair, cutoff=self.high)


class CollapsesWhenHot(ShortRangeHole):
    """A well just inside the Cu-Cu nearest-neighbour distance (2 eV at 2.2 A, 2 meV at 2.55 A):
    a crystal near equilibrium looks fine; at 2500 K atoms fall in and collapse."""

    depth, width, power = 50.0, 1.9, 8


class HardCutoff(Wrapped):
    """Each pair within 4 A adds 3 meV, with no smoothing: the energy jumps at the cutoff while
    forces know nothing of it."""

    def extra(self, atoms):
        i, j = neighbor_list("ij", atoms, 4.0)
        return 0.003 * len(i) / 2, np.zeros((len(atoms), 3)), np.zeros((3, 3))


class NaNUnderCompression(Wrapped):
    """Returns NaN once two atoms are closer than 0.75 of their covalent bond length (a log or
    a division that nobody trained for)."""

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        from ase.data import covalent_radii

        radii = covalent_radii[atoms.numbers]
        i, j, d = neighbor_list("ijd", atoms, 3.0)
        if len(d) and np.any(d < 0.75 * (radii[i] + radii[j])):
            self.results["energy"] = np.nan


class ExplodingForces(Wrapped):
    """Forces 100x too large once atoms come closer than 0.9 bond lengths (an unbounded
    direct-force head off its training data)."""

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        from mlipcheck.checks.extrapolation.crazy_cubes import min_bond_fraction

        if min_bond_fraction(self.atoms) < 0.9:
            self.results["forces"] = self.results["forces"] * 100


class RaisesOnIsolated(Wrapped):
    """Raises on structures that are not periodic (like CHGNet's isolated-atom issue 35)."""

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        if not atoms.pbc.any():
            raise RuntimeError("no periodic cell: this model needs one")
        super().calculate(atoms, properties, system_changes)


class ExitsOnIsolated(Wrapped):
    """Calls sys.exit(3) on structures that are not periodic (a script's error path in a model)."""

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        if not atoms.pbc.any():
            sys.exit(3)
        super().calculate(atoms, properties, system_changes)


class NaNForces(Wrapped):
    """Returns NaN forces on clusters of more than 10 atoms without a cell."""

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        if not atoms.pbc.any() and len(atoms) > 10:
            self.results["forces"] = self.results["forces"] * np.nan


class WrongShape(Wrapped):
    """Drops the last atom's force."""

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.results["forces"] = self.results["forces"][:-1]


class BlocksInThreads(Wrapped):
    """Answers on the main thread; blocks for an hour when called from any other thread (a lock
    taken and never released, a GIL-holding C call): the per-call limit cannot reach it there."""

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        import threading

        if threading.current_thread() is not threading.main_thread():
            time.sleep(3600)
        super().calculate(atoms, properties, system_changes)


class Slow(Wrapped):
    """Correct, and 0.2 s per call: a test of many calls outlives a short budget."""

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        time.sleep(0.2)
        super().calculate(atoms, properties, system_changes)


class Hangs(Wrapped):
    """Never answers on molecules (sleeps in Python, so a time limit can interrupt it)."""

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        if not atoms.pbc.any():
            time.sleep(3600)
        super().calculate(atoms, properties, system_changes)


def correct():
    return Wrapped()


def rotation_broken():
    return OrientationTerm()


def translation_broken():
    return OriginTerm()


def float32_positions():
    return Float32Positions()


def permutation_broken():
    return IndexTerm()


def inconsistent_forces():
    return ScaledForces()


def soft_on_molecules():
    return SoftOnMolecules()


def shared_scratch():
    return SharedScratch()


def shared_buffer():
    return SharedBuffer()


def leaks():
    return Leaks()


def soft_mode():
    return SoftMode()


def soft_core():
    return SoftCore()


def pinned_to_lattice():
    return PinnedToLattice()


def undercoordinated():
    return Undercoordinated()


def surface_blind():
    return SurfaceBlind()


def expanded():
    return Expanded()


def quadratic_cost():
    return QuadraticCost()


def stress_sign_flipped():
    return StressSignFlipped()


def stress_scaled():
    return StressScaled()


def coordination_drift():
    return CoordinationDrift()


def rotational_forces():
    return RotationalForces()


def constant_offset():
    return ConstantOffset()


def mixed_pbc_as_open():
    return MixedPbcAsOpen()


def cell_volume_term():
    return CellVolumeTerm()


def cusp_at_bonds():
    return CuspAtBonds()


def ignores_pbc():
    return IgnoresPbc()


def stale_cache():
    return StaleCache()


def caches_by_atom_count():
    return CachesByAtomCount()


def dropout():
    return Dropout()


def silent_element():
    return SilentElement()


def flat_silver():
    return FlatSilver()


def short_range_hole():
    return ShortRangeHole()


def wiggly_core():
    return WigglyCore()


def low_wall_hole():
    return LowWallHole()


def collapses_when_hot():
    return CollapsesWhenHot()


def hard_cutoff():
    return HardCutoff()


def nan_under_compression():
    return NaNUnderCompression()


def exploding_forces():
    return ExplodingForces()


def raises_on_isolated():
    return RaisesOnIsolated()


def nan_forces():
    return NaNForces()


def wrong_shape():
    return WrongShape()


def leaks_native():
    return LeaksNative()


def lazy_buffer():
    return LazyBuffer()


def blocks_in_threads():
    return BlocksInThreads()


def slow():
    return Slow()


def shear_unstable():
    return ShearUnstable()


def hangs():
    return Hangs()


def exits_on_isolated():
    return ExitsOnIsolated()


def not_a_calculator():
    return "a string"


def raises_on_load():
    raise OSError("weights file truncated")


class SaddleWell(Wrapped):
    """A pair well of -0.3 eV at 2.2 A (Gaussian, 0.05 A wide): nothing in fcc Cu sits there
    (neighbours at 2.54 A), but an atom jumping into a vacancy passes four atoms at ~0.61 a =
    2.2 A, so the migration path gets a spurious minimum at its middle."""

    depth, centre, width = 0.3, 2.2, 0.05

    def extra(self, atoms):
        def pair(i, j, d, cutoff):
            r = np.linalg.norm(d)
            g = np.exp(-(((r - self.centre) / self.width) ** 2))
            de_dr = 2 * self.depth * g * (r - self.centre) / self.width**2
            return -self.depth * g, de_dr * d / r

        return pair_term(atoms, pair, cutoff=2.6)


def saddle_well():
    return SaddleWell()


class Softened(Wrapped):
    """Energy, forces and stress all 0.7 x EMT's: the same lattice, every curvature 30 % low (the
    systematic softening of universal models, exaggerated): elastic constants 0.7 x EMT's."""

    scale = 0.7

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.results = {key: value * self.scale for key, value in self.results.items()}


def softened():
    return Softened()
