"""MACE: a local .model file (`mace:PATH`) or the MACE-MP foundation model (`mace`).

`mace` alone looks for the MACE-MP file named by `,path=`, then $MLIPCHECK_MACE_MODEL, then the
file that MACE's own `mace_mp()` caches (~/.cache/mace/...). It downloads only with
--mlipcheck-allow-download. Options: dtype=float32|float64 (default: the dtype the model was
saved in), head=NAME for multi-head models.
"""
import time
from importlib.metadata import version

from mlipcheck.adapters._files import check_model_file, find_weights
from mlipcheck.adapters.base import Model, parse_elements, require, resolve_device, torch_dtype_context
from mlipcheck.errors import ModelLoadError

ENV_VAR = "MLIPCHECK_MACE_MODEL"


def _check_e3nn():
    e3nn = version("e3nn")
    if not e3nn.startswith("0.4."):
        raise ModelLoadError(
            f"MACE needs e3nn 0.4.x and this environment has e3nn {e3nn} (NequIP's). MACE and "
            "NequIP cannot share one environment; test a MACE model in an environment with "
            "pip install 'mlipcheck[mace]' (see docs/running.md, 'MACE and NequIP').")


def _foundation_file(spec, allow_download):
    from mace.calculators import foundations_models as fm

    name = spec.options.get("size", "medium-mpa-0")
    if name not in fm.mace_mp_urls:
        raise ModelLoadError(f"mace: unknown MACE-MP model size={name!r}; known: {', '.join(fm.mace_mp_urls)}")
    url = fm.mace_mp_urls[name]
    # The name mace_mp() gives its cached copy: the URL's basename with only [A-Za-z0-9_] kept.
    cached = fm.get_cache_dir() / "".join(c for c in url.rsplit("/", 1)[-1] if c.isalnum() or c == "_")
    if allow_download and not cached.is_file() and not spec.options.get("path"):
        try:
            return fm.download_mace_mp_checkpoint(name)
        except Exception as exc:  # noqa: BLE001 - third-party code raises any type: one clear message instead
            raise ModelLoadError(f"mace: download of {url} failed ({exc}).") from None
    return find_weights(
        "MACE-MP", spec, ENV_VAR, cached,
        f"Download {url} on a machine with network access (or allow it with "
        "--mlipcheck-allow-download).")


def load(spec, allow_download=False) -> Model:
    require("mace", "mace", "MACE")
    _check_e3nn()
    from mace.calculators import MACECalculator

    if spec.target:
        path = check_model_file("MACE", spec.target, "mace:path/to/model.model")
    else:
        path = _foundation_file(spec, allow_download)
    dtype = spec.options.get("dtype", "")
    kwargs = {"head": spec.options["head"]} if "head" in spec.options else {}
    device = resolve_device(spec, "MACE")

    def make_calculator():
        return MACECalculator(model_paths=str(path), device=device,
                              default_dtype=dtype, **kwargs)

    import torch

    before = torch.get_default_dtype()
    start = time.perf_counter()
    try:
        calc = make_calculator()
    except Exception as exc:  # noqa: BLE001 - third-party code raises any type: one clear message instead
        raise ModelLoadError(
            f"MACE could not read {str(path)!r} as a model file ({type(exc).__name__}: {exc}). "
            "Give a .model file saved by mace_run_train (the *_compiled.model or .model).") from None
    finally:
        torch.set_default_dtype(before)  # MACE sets the global default dtype; undo it
    elapsed = time.perf_counter() - start
    def predict_batch(structures, stress):
        return _predict_batch(calc, structures, stress)

    return Model(
        spec=spec, framework="mace", predict_batch=predict_batch, make_calculator=make_calculator, calculator=calc,
        elements=parse_elements([int(z) for z in calc.z_table.zs]), cutoff=float(calc.r_max),
        dtype=calc.default_dtype, has_stress="stress" in calc.implemented_properties,
        load_seconds=elapsed, version=f"mace-torch {version('mace-torch')}, file {path}",
        call_context=torch_dtype_context(calc.default_dtype), device=device,
    )


def _predict_batch(calc, structures, stress):
    """Several structures in one torch_geometric batch through the calculator's own model(s),
    graphs built and results converted as MACECalculator.calculate does for one (without its
    padding for compiled models); a committee file's models are averaged as it averages them."""
    import torch
    from mace import data as mace_data
    from mace.tools import torch_geometric, torch_tools  # MACE's own copy of torch_geometric

    keyspec = mace_data.KeySpecification(info_keys=calc.info_keys,
                                         arrays_keys={**calc.arrays_keys, calc.charges_key: "charges"})
    with torch_tools.default_dtype(calc.default_dtype):
        graphs = [mace_data.AtomicData.from_config(
            mace_data.config_from_atoms(a, key_specification=keyspec, head_name=calc.head),
            z_table=calc.z_table, cutoff=calc.r_max, heads=calc.available_heads) for a in structures]
    base = torch_geometric.Batch.from_data_list(graphs).to(calc.device)
    energy = forces = virial_stress = 0.0
    for model in calc.models:
        batch = base.clone()
        dtype = next(model.parameters()).dtype
        for key in batch.keys:
            if torch.is_tensor(batch[key]) and torch.is_floating_point(batch[key]):
                batch[key] = batch[key].to(dtype=dtype)
        out = model(batch.to_dict(), compute_stress=stress, training=False)
        energy = energy + out["energy"].detach()
        forces = forces + out["forces"].detach()
        if stress:
            virial_stress = virial_stress + out["stress"].detach()
    n_models = len(calc.models)
    e_unit, l_unit = calc.energy_units_to_eV, calc.length_units_to_A
    energies = (energy / n_models * e_unit).cpu().numpy()
    forces = (forces / n_models * e_unit / l_unit).cpu().numpy()
    stresses = (virial_stress / n_models * e_unit / l_unit**3).cpu().numpy() if stress else None
    ptr = base["ptr"].cpu().numpy()
    return [(energies[i], forces[ptr[i]:ptr[i + 1]], stresses[i] if stress and a.pbc.all() else None)
            for i, a in enumerate(structures)]
