"""SevenNet with the pretrained weights that ship inside its pip package (never downloads).

`sevennet` is 7net-0; `sevennet:7net-l3i5` / `sevennet:7net-0_22May2024` pick another bundled
model; `sevennet:PATH` loads a checkpoint.

SevenNet needs TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 under e3nn 0.4.4 (e3nn's constants file fails
torch's weights-only loader). That turns off a safety check for every later torch.load in this
process: a model file is as trusted as a script.
"""
import os
import time

from mlipcheck.adapters.base import Model, parse_elements, require, resolve_device, torch_dtype_context
from mlipcheck.errors import ModelLoadError

BUNDLED = ("7net-0", "7net-0_11Jul2024", "7net-0_22May2024", "7net-l3i5")


def load(spec, allow_download=False) -> Model:
    os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    sevenn = require("sevenn", "sevennet", "SevenNet")
    from sevenn.calculator import SevenNetCalculator

    target = spec.target or "7net-0"
    if target.lower() not in {b.lower() for b in BUNDLED} and not os.path.isfile(target):
        raise ModelLoadError(
            f"SevenNet model {target!r} is neither a bundled model ({', '.join(BUNDLED)}) nor a "
            "checkpoint file. Pass one, e.g. --model sevennet:7net-0 or --model "
            "sevennet:/path/to/checkpoint.pth")

    device = resolve_device(spec, "SevenNet")

    def make_calculator():
        with torch_dtype_context("float32")():
            return SevenNetCalculator(target, device=device)

    start = time.perf_counter()
    try:
        calc = make_calculator()
    except Exception as exc:  # noqa: BLE001 - third-party code raises any type: one clear message instead
        raise ModelLoadError(f"SevenNet could not load {target!r}: {type(exc).__name__}: {exc}") from None
    elapsed = time.perf_counter() - start
    def predict_batch(structures, stress):
        return _predict_batch(calc, structures)

    return Model(
        spec=spec, framework="sevennet", predict_batch=predict_batch, make_calculator=make_calculator, calculator=calc,
        elements=parse_elements(list(calc.type_map)), cutoff=float(calc.cutoff), dtype="float32",
        has_stress=True, load_seconds=elapsed,
        version=f"sevenn {sevenn.__version__}, weights {target}",
        call_context=torch_dtype_context("float32"), device=device,
    )


def _predict_batch(calc, structures):
    """Several structures in one torch_geometric batch through the calculator's own model, graphs
    built and results converted as SevenNetCalculator.calculate does for one (stress: the negated
    model output in ASE's Voigt order). The model is switched to batched input for the call only."""
    import numpy as np
    import sevenn._keys as KEY
    import torch_geometric
    from sevenn.atom_graph_data import AtomGraphData
    from sevenn.train.dataload import unlabeled_atoms_to_graph

    if not hasattr(calc.model, "set_is_batch_data"):  # a TorchScript (deployed) model: one by one
        return [_one(calc, a) for a in structures]
    graphs = [AtomGraphData.from_numpy_dict(unlabeled_atoms_to_graph(a, calc.cutoff)) for a in structures]
    batch = torch_geometric.data.Batch.from_data_list(graphs).to(calc.device)
    calc.model.set_is_batch_data(True)
    try:
        out = calc.model(batch)
    finally:
        calc.model.set_is_batch_data(False)
    energies = out[KEY.PRED_TOTAL_ENERGY].detach().cpu().numpy().reshape(-1)
    forces = out[KEY.PRED_FORCE].detach().cpu().numpy()
    stresses = -out[KEY.PRED_STRESS].detach().cpu().numpy().reshape(len(structures), 6)[:, [0, 1, 2, 4, 5, 3]]
    ptr = np.concatenate([[0], np.cumsum([len(a) for a in structures])])
    return [(energies[i], forces[ptr[i]:ptr[i + 1]], stresses[i] if a.pbc.all() else None)
            for i, a in enumerate(structures)]


def _one(calc, atoms):
    atoms = atoms.copy()
    atoms.calc = calc
    return atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress() if atoms.pbc.all() else None
