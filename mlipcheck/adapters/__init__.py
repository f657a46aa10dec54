"""The registry: resolves `--model` text to a loaded Model.

Built-in adapters are listed here; third-party adapters register a `load(spec, allow_download)`
function under the entry-point group `mlipcheck.adapters`, without editing mlipcheck.
"""
import importlib
from importlib.metadata import entry_points

from mlipcheck.adapters.base import Model, ModelSpec, check_options, parse_spec
from mlipcheck.errors import ModelLoadError, UsageError

BUILTIN = {
    "emt": "mlipcheck.adapters.emt",
    "chgnet": "mlipcheck.adapters.chgnet",
    "sevennet": "mlipcheck.adapters.sevennet",
    "mace": "mlipcheck.adapters.mace",
    "nequip": "mlipcheck.adapters.nequip",
    "callable": "mlipcheck.adapters.python_callable",
}

# The options each built-in adapter reads besides mlipcheck's own (METADATA_OPTIONS); a callable's
# other options are its keyword arguments, an entry point's are its own business.
OPTIONS = {"emt": ("device",), "chgnet": ("device",), "sevennet": ("device",),
           "mace": ("device", "size", "path", "head"), "nequip": ("device", "path")}

__all__ = ["Model", "ModelSpec", "known_adapters", "parse_model_specs", "load_model"]


def _entry_points():
    return {ep.name: ep for ep in entry_points(group="mlipcheck.adapters") if ep.name not in BUILTIN}


def known_adapters() -> list[str]:
    return sorted(set(BUILTIN) - {"callable"} | set(_entry_points()))


def parse_model_specs(texts) -> list[ModelSpec]:
    """Parse every --model; refuse combinations that cannot work in one process."""
    specs = [parse_spec(t, known_adapters()) for t in texts]
    for spec in specs:
        if spec.adapter in OPTIONS:
            check_options(spec.text, spec.adapter, spec.options, OPTIONS[spec.adapter])
    short = [s.label for s in specs]
    for spec, label in zip(specs, short):  # a.py:make and b.py:make: labels that name their files
        spec.qualified = any(other == label and s.text != spec.text for s, other in zip(specs, short))
    labels = [s.label for s in specs]
    dupes = {label for label in labels if labels.count(label) > 1}
    if dupes:
        raise UsageError(f"--model given twice for {', '.join(sorted(dupes))}")
    frameworks = {s.adapter for s in specs}
    if {"mace", "nequip"} <= frameworks:
        raise UsageError(
            "MACE and NequIP cannot be loaded in one environment: mace-torch pins e3nn 0.4.4 and "
            "nequip needs e3nn >= 0.6. Run them in separate environments (docs/running.md, 'MACE and "
            "NequIP') and compare the reports with `mlipcheck compare`.")
    return specs


def load_model(spec: ModelSpec, allow_download: bool = False) -> Model:
    if spec.adapter in BUILTIN:
        loader = importlib.import_module(BUILTIN[spec.adapter]).load
    else:
        try:
            loader = _entry_points()[spec.adapter].load()
        except Exception as exc:  # noqa: BLE001 - third-party code raises any type: one clear message instead
            raise ModelLoadError(f"adapter {spec.adapter!r} (entry point) failed to import: {exc}") from None
    model = loader(spec, allow_download=allow_download)
    if not isinstance(model, Model):
        raise ModelLoadError(f"adapter {spec.adapter!r} returned {type(model).__name__}, not a mlipcheck Model")
    return model
