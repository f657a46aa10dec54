"""Any Python callable that returns an ASE Calculator: `pkg.module:make_calc` or `file.py:make_calc`.

This is how users test their own models. Metadata comes from attributes on the calculator
(`elements`, `cutoff`, `dtype`; stress if 'stress' is in `implemented_properties`), or from spec
options (`,elements=Cu+Ni,cutoff=5,dtype=float32`). Other options are passed to the callable as
keyword arguments (strings).
"""
import importlib
import importlib.util
import sys
import time
from pathlib import Path

from ase.calculators.calculator import Calculator

from mlipcheck.adapters.base import METADATA_OPTIONS, Model, parse_elements
from mlipcheck.errors import ModelLoadError


def resolve(target: str):
    where, _, name = target.rpartition(":")
    if where.endswith(".py"):
        path = Path(where).expanduser().resolve()
        if not path.is_file():
            raise ModelLoadError(f"--model {target!r}: no such file {where!r}.")
        module_name = f"mlipcheck_user_{path.stem}_{abs(hash(str(path)))}"
        module = sys.modules.get(module_name)
        if module is None:
            spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            try:
                spec.loader.exec_module(module)
            except Exception as exc:  # noqa: BLE001 - third-party code raises any type: one clear message instead
                del sys.modules[module_name]
                raise ModelLoadError(f"--model {target!r}: importing {where} failed: "
                                     f"{type(exc).__name__}: {exc}") from None
    else:
        try:
            module = importlib.import_module(where)
        except Exception as exc:  # noqa: BLE001 - third-party code raises any type: one clear message instead
            raise ModelLoadError(f"--model {target!r}: cannot import module {where!r} "
                                 f"({type(exc).__name__}: {exc}).") from None
    factory = getattr(module, name, None)
    if not callable(factory):
        raise ModelLoadError(f"--model {target!r}: {where} has no callable named {name!r}.")
    return factory


def load(spec, allow_download=False) -> Model:
    factory = resolve(spec.target)
    kwargs = {k: v for k, v in spec.options.items() if k not in METADATA_OPTIONS}

    def make_calculator():
        calc = factory(**kwargs)
        if not isinstance(calc, Calculator) and not hasattr(calc, "get_potential_energy"):
            raise ModelLoadError(f"--model {spec.text!r}: the callable returned "
                                 f"{type(calc).__name__}, not an ASE Calculator.")
        return calc

    start = time.perf_counter()
    try:
        calc = make_calculator()
    except ModelLoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - third-party code raises any type: one clear message instead
        raise ModelLoadError(f"--model {spec.text!r}: the callable raised "
                             f"{type(exc).__name__}: {exc}") from None
    elements = getattr(calc, "elements", None)
    cutoff = getattr(calc, "cutoff", None)
    try:
        cutoff = float(cutoff) if cutoff is not None else None
    except (TypeError, ValueError):
        raise ModelLoadError(f"{spec.target}: the calculator declares cutoff = {cutoff!r}; it must be a number "
                             f"of Angstrom (or give ,cutoff=5.0 after the --model spec)") from None
    return Model(
        spec=spec, framework="callable", make_calculator=make_calculator, calculator=calc,
        elements=parse_elements(elements), cutoff=cutoff,
        dtype=str(getattr(calc, "dtype", "float64")).replace("torch.", ""),
        has_stress="stress" in getattr(calc, "implemented_properties", ()),
        load_seconds=time.perf_counter() - start, version=type(calc).__name__,
        device=str(spec.options.get("device") or getattr(calc, "device", "cpu")),
    )
