"""What every adapter returns: a calculator and the metadata the checks need.

An adapter knows nothing about checks. It builds an ASE calculator and states what the model
supports: elements, cutoff, dtype, whether it gives stress. Checks read only this.
"""
from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from ase.calculators.calculator import Calculator
from ase.data import atomic_numbers, chemical_symbols

from mlipcheck.errors import ModelLoadError, UsageError

# Endings of model files, dropped from a label (mace:/models/my.model -> mace:my).
MODEL_FILE_SUFFIXES = (".nequip.zip", ".model", ".pt2", ".pth", ".pt", ".ckpt", ".zip", ".json", ".yaml")
# Options mlipcheck itself understands after the comma of a spec; others go to the adapter.
METADATA_OPTIONS = ("elements", "cutoff", "dtype", "stress", "batch_atoms")


@dataclass
class ModelSpec:
    """`--model` as the user wrote it, split into adapter, target and options.

    Grammar: ``ADAPTER[:TARGET][,key=value...]``, where ADAPTER is a known adapter name
    (``emt``, ``chgnet``, ``mace``...), or ``pkg.module:callable`` / ``path/file.py:callable``.
    """

    text: str
    adapter: str
    target: str | None
    options: dict[str, str] = field(default_factory=dict)
    qualified: bool = False  # two specs share a short label: name the callable's file too

    @property
    def label(self) -> str:
        """Short name used in test ids: the adapter plus the model file's or callable's name."""
        if self.qualified and self.adapter == "callable":
            where, _, name = self.target.rpartition(":")
            stem = re.split(r"[\\/]", where)[-1].removesuffix(".py")
            base = f"{stem}.{name}"
        elif self.target is None:
            base = self.adapter
        elif self.adapter == "callable":
            base = self.target.rsplit(":", 1)[-1]
        else:  # a weights file by its name without the extension; a version (chgnet:0.2.0) whole
            name = re.split(r"[\\/]", self.target)[-1]
            stem = next((name[: -len(x)] for x in MODEL_FILE_SUFFIXES if name.endswith(x)), name)
            base = f"{self.adapter}:{stem}"
        # batch_atoms changes how the model is called, not the model: runs with and without compare
        extra = ",".join(f"{k}={v}" for k, v in sorted(self.options.items()) if k not in ("path", "batch_atoms"))
        return f"{base},{extra}" if extra else base


def parse_spec(text: str, known: list[str]) -> ModelSpec:
    head, *option_parts = text.strip().split(",")
    options = {}
    for part in option_parts:
        if "=" not in part:
            raise UsageError(f"--model {text!r}: option {part!r} must look like key=value "
                             "(e.g. mace:my.model,dtype=float64)")
        key, value = part.split("=", 1)
        options[key.strip()] = value.strip()
    _check_metadata_options(text, options)
    name, _, target = head.partition(":")
    if name in known:
        return ModelSpec(text, name, target or None, options)
    if target:  # pkg.module:callable or path/file.py:callable
        _check_callable_exists(text, head)
        return ModelSpec(text, "callable", head, options)
    raise UsageError(
        f"--model {text!r}: unknown model. Available: {', '.join(sorted(known))}; "
        "or mace:PATH, nequip:PATH, pkg.module:callable, path/to/file.py:callable "
        "(a callable that returns an ASE Calculator).")


def _check_callable_exists(text, target):
    """A file or module that is not there is a typing mistake (exit 4), like an unknown model name;
    one that is there but fails to import stays the model's load error."""
    import importlib.util
    from pathlib import Path

    where = target.rpartition(":")[0]
    if where.endswith(".py"):
        if not Path(where).expanduser().is_file():
            raise UsageError(f"--model {text!r}: no file {where!r} (from {Path.cwd()}); give path/to/file.py:callable")
        return
    try:
        found = importlib.util.find_spec(where) is not None
    except (ImportError, ValueError):  # a parent package is missing, or the name is not a module name
        found = False
    if not found:
        raise UsageError(f"--model {text!r}: no module {where!r} is importable here, and it is not a model name; "
                         f"give a known model (mlipcheck models), pkg.module:callable or path/to/file.py:callable")


def check_options(text: str, adapter: str, options: dict, accepted: tuple[str, ...]):
    """Every option after the spec's commas is one the adapter reads: a misspelt one (dtpye=) would
    otherwise be ignored without a word and the run would test something else than asked."""
    import difflib

    allowed = (*METADATA_OPTIONS, *accepted)
    for key in options:
        if key not in allowed:
            near = difflib.get_close_matches(key, allowed, n=1)
            hint = f"did you mean {near[0]}=?" if near else f"{adapter} takes {', '.join(sorted(allowed))}"
            raise UsageError(f"--model {text!r}: {adapter} has no option {key!r}; {hint}")


def _check_metadata_options(text, options):
    """The options mlipcheck reads itself, checked when the command line is read (exit 4)."""
    def bad(key, expected):
        return UsageError(f"--model {text!r}: {key}={options[key]!r} is not {expected}")

    if "cutoff" in options:
        try:
            if not 0 < float(options["cutoff"]) < float("inf"):
                raise ValueError
        except ValueError:
            raise bad("cutoff", "a positive, finite number of Angstrom (e.g. cutoff=5.0)") from None
    if "dtype" in options and options["dtype"] not in ("float32", "float64"):
        raise bad("dtype", "float32 or float64 (the precision the tolerances are made for)")
    if "stress" in options and options["stress"].lower() not in ("1", "0", "true", "false", "yes", "no"):
        raise bad("stress", "true or false")
    if "device" in options and not re.fullmatch(r"cpu|cuda|cuda:\d+|auto", options["device"]):
        raise bad("device", "cpu, cuda, cuda:N or auto")
    if "batch_atoms" in options and not re.fullmatch(r"[1-9]\d*", options["batch_atoms"]):
        raise bad("batch_atoms", "a positive whole number of atoms per batched model call (e.g. batch_atoms=512)")
    if "elements" in options:
        try:
            parse_elements(options["elements"])
        except ModelLoadError:
            raise bad("elements", "a list of element symbols (e.g. elements=Cu+Ni)") from None


def parse_elements(value) -> frozenset[str] | None:
    """Element symbols from a list of symbols or atomic numbers, or 'Cu Ni' / 'Cu+Ni' text."""
    if value is None:
        return None
    if isinstance(value, str):
        value = re.split(r"[\s+;/]+", value.strip())
    out = set()
    for item in value:
        if isinstance(item, str) and not item.isdigit():
            if item not in atomic_numbers:
                raise ModelLoadError(f"unknown element symbol {item!r} in the model's element list")
            out.add(item)
        else:
            out.add(chemical_symbols[int(item)])
    return frozenset(out)


@dataclass
class Model:
    """A loaded model: the system under test."""

    spec: ModelSpec
    framework: str
    make_calculator: Callable[[], Calculator]  # builds a fresh calculator (statelessness check)
    elements: frozenset[str] | None  # None: the model does not say; every element is tried
    cutoff: float | None  # Angstrom
    dtype: str  # "float32" or "float64": sets the numerical tolerances
    has_stress: bool
    load_seconds: float = 0.0
    version: str = ""
    device: str = "cpu"  # where the model runs: cpu, cuda, cuda:N
    # Global state the framework depends on (e.g. torch's default dtype), applied around calls.
    call_context: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext
    calculator: Calculator | None = None
    call_timeout: float | None = None  # seconds per model call; set from --mlipcheck-timeout
    calls: int = 0  # structures evaluated through mlipcheck.engine.evaluate
    batches: int = 0  # model invocations that evaluated them (a batch of several counts once)
    call_seconds: float = 0.0  # wall time spent inside those invocations
    batch_atoms: int | None = None  # atoms per batched call; None: the engine's default for the device
    _fresh: Calculator | None = field(default=None, repr=False)
    # Optional batched path: (list of Atoms, stress wanted) -> list of (energy eV, forces eV/A,
    # stress 3x3 or Voigt 6 in eV/A^3 with ASE's sign, or None). Every evaluation goes through it
    # where it exists (mlipcheck.engine.evaluate.evaluate_batch validates what it returns); the
    # adapter's test holds it against the ASE calculator.
    predict_batch: Callable[[list, bool], list] | None = field(default=None, repr=False)

    def __post_init__(self):
        if self.calculator is None:
            self.calculator = self.make_calculator()
        opts = self.spec.options
        if "elements" in opts:
            self.elements = parse_elements(opts["elements"])
        if "cutoff" in opts:
            self.cutoff = float(opts["cutoff"])
        if "dtype" in opts and self.framework != "mace":  # mace converts the weights itself
            self.dtype = opts["dtype"]
        if "batch_atoms" in opts:
            self.batch_atoms = int(opts["batch_atoms"])
        if "stress" in opts:
            self.has_stress = opts["stress"].lower() in ("1", "true", "yes")
        if self.dtype not in ("float32", "float64"):
            raise ModelLoadError(f"{self.spec.text}: dtype must be float32 or float64, got {self.dtype!r}")

    @property
    def label(self) -> str:
        return self.spec.label

    def fresh_calculator(self) -> Calculator:
        """A second calculator, built once and kept apart from the one every check uses."""
        if self._fresh is None:
            with self.call_context():
                self._fresh = self.make_calculator()
        return self._fresh

    def unsupported(self, symbols) -> list[str]:
        """The symbols in `symbols` this model does not declare, sorted."""
        if self.elements is None:
            return []
        return sorted(set(symbols) - self.elements)

    def describe(self) -> dict:
        return {
            "spec": self.spec.text, "label": self.label, "framework": self.framework,
            "version": self.version,
            "elements": sorted(self.elements, key=lambda s: atomic_numbers[s]) if self.elements else None,
            "cutoff": self.cutoff, "dtype": self.dtype, "stress": self.has_stress, "device": self.device,
            "load_seconds": round(self.load_seconds, 3),
        }


def resolve_device(spec: ModelSpec, framework: str, torch_based: bool = True) -> str:
    """The device a model runs on, from `,device=cpu|cuda|cuda:N|auto` (default cpu): auto is a
    GPU where torch sees one. A GPU asked for where there is none is one clear load error."""
    asked = spec.options.get("device", "cpu")
    if asked == "cpu" or (asked == "auto" and not torch_based):
        return "cpu"
    if not torch_based:
        raise ModelLoadError(f"{spec.text}: {framework} runs on the CPU only; drop device={asked}")
    import torch

    available = torch.cuda.is_available()
    if asked == "auto":
        return "cuda" if available else "cpu"
    if not available:
        raise ModelLoadError(f"{spec.text}: device={asked} asked for, but torch {torch.__version__} sees no GPU "
                             f"(a CPU build, or no driver here); use device=cpu, or device=auto to take a GPU "
                             f"only where there is one")
    index = int(asked.partition(":")[2] or 0)
    if index >= torch.cuda.device_count():
        raise ModelLoadError(f"{spec.text}: device={asked}, but torch sees {torch.cuda.device_count()} GPU(s)")
    return asked


def torch_dtype_context(dtype: str):
    """A context factory that sets torch's default dtype for the duration of a model call.

    MACE changes torch's global default dtype when it loads; a CHGNet called afterwards then
    builds float64 tensors against float32 weights. Setting the dtype each model was loaded
    with, and restoring it afterwards, keeps several models in one process independent.
    """

    @contextlib.contextmanager
    def context():
        import torch

        before = torch.get_default_dtype()
        torch.set_default_dtype(getattr(torch, dtype))
        try:
            yield
        finally:
            torch.set_default_dtype(before)

    return context


def require(module: str, extra: str, framework: str):
    """Import a framework, or say which extra installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ModelLoadError(
            f"{framework} is not installed in this environment ({exc}). "
            f"Install it with: pip install 'mlipcheck[{extra}]' (after pip install torch==2.13.0)."
        ) from None
