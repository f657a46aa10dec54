"""Crystals the property suites run on, per model (as dimers.pairs_for picks pairs): the
ground-state crystals of its declared elements (from the Delta test's WIEN2k set in ASE), simple
binaries of them, tabulated vacancy energies. Each list is sampled with the seed to the profile's `max_elements` (0: all)."""
from __future__ import annotations

from ase import Atoms
from ase.build import bulk

from mlipcheck.structures.elements import FALLBACK_ELEMENTS, sample_elements
from mlipcheck.targets import Target, provider

# Binaries that are dynamically stable in experiment and PBE, with experimental lattice
# constants as starting points (the model relaxes them): Wyckoff, Crystal Structures (1963).
BINARIES = [("NaCl", "rocksalt", 5.64), ("MgO", "rocksalt", 4.21), ("LiF", "rocksalt", 4.03),
            ("CsCl", "cesiumchloride", 4.12), ("NiAl", "cesiumchloride", 2.89),
            ("SiC", "zincblende", 4.36), ("GaAs", "zincblende", 5.65)]


# Elemental ground states that PBE itself barely binds: held together by dispersion, which PBE
# lacks, so its equilibrium volume, bulk modulus, elastic constants and soft phonons are those of
# a crystal bound by a few meV/atom of numerical accident. The Delta test's own data (ASE's dcdft
# collection, Lejaeghere et al., Science 351, aad3000 (2016)): WIEN2k PBE Kr V0 65.7 A^3/atom and
# B0 0.67 GPa against 44.0 A^3 and 4.0 GPa measured; Cl 38.9 against 26.9 A^3, B0 19 against 41
# GPa. A model's relaxation, EOS, elastic and phonon verdicts on them would judge that artefact:
# not judged, said in the report. Their dimers, species and conformance checks still run.
# (Mlipcheck's own PBE crystals only: a user's --eos-reference row for them is judged.)
VAN_DER_WAALS = {**{e: "a noble-gas crystal, bound by dispersion" for e in ("He", "Ne", "Ar", "Kr", "Xe", "Rn")},
                 **{e: f"a molecular crystal of {e}2, its molecules bound by dispersion"
                    for e in ("H", "N", "O", "F", "Cl", "Br", "I")},
                 "C": "graphite, its layers bound by dispersion"}  # PBE V0 11.6 against 8.1 A^3 measured


def not_judged(element: str) -> str | None:
    """Why mlipcheck passes no property verdict on `element`'s PBE ground-state crystal, or None."""
    kind = VAN_DER_WAALS.get(element)
    if kind is None:
        return None
    return (f"not judged: {element} is {kind}, which PBE (the reference) lacks; its "
            f"equilibrium volume, bulk modulus, elastic constants and phonons in PBE are those of a crystal "
            f"bound by a few meV/atom (docs/checks.md, 'What is not judged')")


def _declared(model):
    return model.elements or set(FALLBACK_ELEMENTS)


def _judged_when_sampled(elements, limit):
    """A sample (limit > 0) is drawn from the crystals that can be judged, so quick's one crystal
    is never one it would skip; the full list (limit 0) keeps them all, to say why each is skipped."""
    return [e for e in elements if limit == 0 or e not in VAN_DER_WAALS]


def eos_references(model, section, seed=0, extra_files=()):
    """dcdft references of sampled declared elements, plus every entry of --eos-reference files
    whose element is declared."""
    from mlipcheck.checks.properties.eos import dcdft_references, load_eos_reference

    available = dcdft_references(_declared(model), int(section.max_atoms))
    limit = int(section.max_elements)
    chosen = set(sample_elements(_judged_when_sampled({r.name for r in available}, limit), limit, seed))
    out = [r for r in available if r.name in chosen]
    for path in extra_files:
        out += [r for r in load_eos_reference(path) if not model.unsupported(r.atoms.get_chemical_symbols())]
    return [(r.name if r.source.startswith("WIEN2k") else f"{r.name}-{r.source}", r) for r in out]


def phonon_crystals(model, section, seed=0) -> list[tuple[str, Atoms]]:
    """Ground-state crystals (dcdft structures of at most 4 atoms) of sampled declared elements,
    and the binaries of BINARIES whose elements are both declared (the first one in quick)."""
    from ase.collections import dcdft

    declared = _declared(model)
    elemental = [n for n in dcdft.names if n in declared and len(dcdft[n]) <= 4]
    chosen = sample_elements(_judged_when_sampled(elemental, int(section.max_elements)), int(section.max_elements), seed)
    out = []
    for name in chosen:
        atoms = dcdft[name]
        out.append((name, Atoms(atoms.get_chemical_symbols(), cell=atoms.cell,
                                scaled_positions=atoms.get_scaled_positions(), pbc=True)))
    binaries = [(f, s, a) for f, s, a in BINARIES if not model.unsupported(Atoms(f).get_chemical_symbols())]
    if int(section.max_elements) > 0:
        binaries = binaries[:1]
    out += [(formula, bulk(formula, structure, a=a)) for formula, structure, a in binaries]
    return out


def elastic_crystals(model, section, seed=0, references=()) -> list[tuple[str, Atoms]]:
    """The phonon suite's crystals, and a crystal built from each row of `references` (its
    prototype at its a_A) that none of those matches and whose elements the model declares:
    --elastic-reference rows, and in the full profile mlipcheck's own table too (its Si row: the
    Delta set's Si cell has 8 atoms, more than the phonon suite's crystals may)."""
    out = phonon_crystals(model, section, seed)
    for reference in references:
        if model.unsupported(Atoms(reference.name).get_chemical_symbols()):
            continue
        if reference.a is None or any(reference.matches(atoms) for _, atoms in out):
            continue
        out.append((f"{reference.name}-{reference.structure}", bulk(reference.name, reference.structure, a=reference.a)))
    return out


def vacancy_references(model, section, seed=0):
    from mlipcheck.checks.properties.defects import vacancy_references as table

    rows = {e: r for e, r in table().items() if not model.unsupported([e])}
    chosen = sample_elements(rows, int(section.max_elements), seed)
    return [(e, rows[e]) for e in chosen]


@provider("item", marker="model_items", what="{0} crystal")
def crystal_targets(session, model, kind: str, section_name: str) -> list[Target]:
    """The crystals of a property suite for one model: kind eos, phonons, elastic or vacancies."""
    section = session.profile.section(section_name)
    if kind == "eos":
        items = eos_references(model, section, session.seed, session.option("eos_reference"))
    elif kind == "phonons":
        items = phonon_crystals(model, section, session.seed)
    elif kind == "elastic":
        every_row = int(section.max_elements) == 0  # full: every tabulated crystal, not a sample
        items = elastic_crystals(model, section, session.seed,
                                 session.elastic_references() if every_row else session.user_elastic_references())
    elif kind == "vacancies":
        items = vacancy_references(model, section, session.seed)
    else:
        raise ValueError(f"unknown model_items kind {kind!r}")
    own = kind != "vacancies"  # elemental crystals named by their symbol come from mlipcheck's PBE set
    return [Target(item_id, item, case=item_id, skip=not_judged(item_id) if own else None) for item_id, item in items]
