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
    return Model(
        spec=spec, framework="sevennet", make_calculator=make_calculator, calculator=calc,
        elements=parse_elements(list(calc.type_map)), cutoff=float(calc.cutoff), dtype="float32",
        has_stress=True, load_seconds=elapsed,
        version=f"sevenn {sevenn.__version__}, weights {target}",
        call_context=torch_dtype_context("float32"), device=device,
    )
