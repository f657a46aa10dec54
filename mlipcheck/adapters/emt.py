"""ASE's EMT: the embedded default model. Needs nothing beyond ASE, float64, runs in seconds."""
import time

import ase
from ase.build import bulk
from ase.calculators.emt import EMT, parameters

from mlipcheck.adapters.base import Model, resolve_device


def _cutoff() -> float:
    # EMT's cutoff depends on the elements present; the largest (all elements together) bounds it.
    atoms = bulk("Cu") * (1, 1, 1)
    atoms.set_chemical_symbols(["Cu"])
    calc = EMT()
    rc_list = []
    for symbol in parameters:
        probe = atoms.copy()
        probe.set_chemical_symbols([symbol])
        calc.initialize(probe)
        rc_list.append(calc.rc_list)
    return float(max(rc_list))


def load(spec, allow_download=False) -> Model:
    resolve_device(spec, "EMT", torch_based=False)  # the CPU, or one clear message
    start = time.perf_counter()
    return Model(
        spec=spec, framework="emt", make_calculator=EMT,
        elements=frozenset(parameters), cutoff=_cutoff(), dtype="float64",
        has_stress="stress" in EMT.implemented_properties,
        load_seconds=time.perf_counter() - start, version=f"ase {ase.__version__}",
    )
