"""NequIP / Allegro: a packaged (.nequip.zip), checkpoint (.ckpt) or compiled (.nequip.pt2) model.

`nequip` alone uses the file named by `,path=` or $MLIPCHECK_NEQUIP_MODEL: NequIP foundation
models are fetched by nequip's own tools, which mlipcheck does not call at run time.
NequIP needs e3nn >= 0.5, MACE needs 0.4.4: they need separate environments.
"""
import time
from importlib.metadata import version

from mlipcheck.adapters._files import check_model_file, find_weights
from mlipcheck.adapters.base import Model, parse_elements, require, resolve_device, torch_dtype_context
from mlipcheck.errors import ModelLoadError

ENV_VAR = "MLIPCHECK_NEQUIP_MODEL"


def load(spec, allow_download=False) -> Model:
    e3nn = version("e3nn") if _installed("e3nn") else None
    if e3nn and e3nn.startswith("0.4."):
        raise ModelLoadError(
            f"NequIP needs e3nn >= 0.5 and this environment has e3nn {e3nn} (MACE's). MACE and "
            "NequIP cannot share one environment; test a NequIP model in its own environment "
            "with pip install 'mlipcheck[nequip]' (see docs/running.md, 'MACE and NequIP').")
    require("nequip", "nequip", "NequIP")
    from nequip.integrations.ase import NequIPCalculator

    if spec.target:
        path = check_model_file("NequIP", spec.target, "nequip:path/to/model.nequip.zip")
    else:
        path = find_weights(
            "NequIP foundation model", spec, ENV_VAR, None,
            "Fetch a packaged model (e.g. `nequip-package` or nequip.net) on a machine with "
            "network access.")

    device = resolve_device(spec, "NequIP")

    def make_calculator():
        if path.name.endswith(".pt2"):
            return NequIPCalculator.from_compiled_model(str(path), device=device)
        # Private API, wrapped here only: NequIP's loader for .nequip.zip and .ckpt files.
        return NequIPCalculator._from_saved_model(str(path), device=device)

    start = time.perf_counter()
    try:
        calc = make_calculator()
    except Exception as exc:  # noqa: BLE001 - third-party code raises any type: one clear message instead
        raise ModelLoadError(
            f"NequIP could not load {str(path)!r} ({type(exc).__name__}: {exc}). Give a "
            ".nequip.zip from nequip-package, a .ckpt, or a .nequip.pt2 compiled for this CPU.") from None
    elapsed = time.perf_counter() - start
    metadata = getattr(calc.model, "metadata", {}) or {}
    type_names = metadata.get("type_names")
    dtype = str(metadata.get("model_dtype", "float64")).replace("torch.", "")
    def predict_batch(structures, stress):
        return _predict_batch(calc, structures)

    return Model(
        spec=spec, framework="nequip",
        # A compiled .pt2 is traced for the ASE calculator's single frames: one by one
        predict_batch=None if path.name.endswith(".pt2") else predict_batch, make_calculator=make_calculator, calculator=calc,
        elements=parse_elements(type_names) if type_names else None,
        cutoff=float(metadata["r_max"]) if "r_max" in metadata else None,
        dtype=dtype, has_stress=True, load_seconds=elapsed,
        version=f"nequip {version('nequip')}, file {path}",
        call_context=torch_dtype_context(dtype), device=device,
    )


def _predict_batch(calc, structures):
    """Several frames in one batched data dict through the calculator's own model, each frame
    built and each result converted as NequIPCalculator.calculate does for one."""
    import numpy as np
    from ase.stress import full_3x3_to_voigt_6_stress
    from nequip.data import AtomicDataDict

    batch = AtomicDataDict.batched_from_list([calc.atoms_to_data(a) for a in structures])
    out = calc.model(batch)
    e_unit, l_unit = calc.energy_units_to_eV, calc.length_units_to_A
    energies = e_unit * out[AtomicDataDict.TOTAL_ENERGY_KEY].detach().cpu().numpy().reshape(-1)
    forces = e_unit / l_unit * out[AtomicDataDict.FORCE_KEY].detach().cpu().numpy()
    stresses = None
    if AtomicDataDict.STRESS_KEY in out:
        stresses = e_unit / l_unit**3 * out[AtomicDataDict.STRESS_KEY].detach().cpu().numpy().reshape(-1, 3, 3)
    ptr = np.concatenate([[0], np.cumsum([len(a) for a in structures])])
    return [(energies[i], forces[ptr[i]:ptr[i + 1]],
             full_3x3_to_voigt_6_stress(stresses[i]) if stresses is not None and a.pbc.all() else None)
            for i, a in enumerate(structures)]


def _installed(dist):
    try:
        version(dist)
        return True
    except Exception:  # noqa: BLE001 - third-party code raises any type: one clear message instead
        return False
