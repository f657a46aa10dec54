"""The pytest plugin (registered through the `pytest11` entry point): options, fixtures, hooks.

Thin on purpose: models come from mlipcheck.adapters, cases from mlipcheck.structures,
verdicts from mlipcheck.checks. This module only wires them into pytest:

- `--model` (repeatable) parametrizes every test that uses the `model` fixture; each model is
  loaded once per session (per worker under xdist) and its test ids carry its label.
- A test that uses the `case` fixture is parametrized over the profile's cases; a case with an
  element the model does not declare is skipped with a reason naming the element.
- `verdict(measurement)` turns a check's Measurement into pass/fail, writes the structure of a
  failure as extxyz and records the numbers as JUnit properties.
- A ModelCallError (the model raised, hung, returned NaN or wrong shapes) is reported as an
  *error*, not a *fail*, with the structure written out and a one-line reproduction.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shlex
import sys
import time
from pathlib import Path

import pytest

# Only the standard library, pytest and mlipcheck.errors at import: the entry point loads this
# module in every pytest run of the environment, with or without --model. Checks, adapters,
# numpy, ASE and scipy are imported when a model is asked for.
from mlipcheck.errors import MlipcheckError, ModelCallError, ModelFailure, UsageError

SUITE_MARKERS = {
    "mlipcheck": "parametrize this test over --model and, if it takes `case`, the profile's cases",
    "cases(classes=None, where=None, one_in_quick=False)": "restrict `case` to these material classes / "
                                                            "where(case) true; one case per model in quick",
    "pairs(section)": "parametrize `pair` over element pairs of the model, per the profile section",
    "model_items(kind, section)": "parametrize `item` over the model's crystals of a kind (eos, phonons, "
                                  "vacancies), per the profile section",
    "quick": "part of the quick profile: at least one check of every suite",
    "symmetry": "conformance: invariances, energy-force-stress consistency, periodicity",
    "extrapolation": "dimers, crazy cubes, compression, MD stability",
    "properties": "equation of state against reference data",
    "phonons": "phonon stability and frequencies",
    "defects": "vacancy, interstitial and surface energies",
    "errors": "per-class errors against reference data",
    "benchmark": "throughput",
}
NO_MODEL = ("no --model given: mlipcheck's suites need a model under test, e.g. "
            "pytest suites --model emt (or chgnet, sevennet, mace:PATH, nequip:PATH, "
            "path/to/file.py:make_calculator)")
MODELS_KEY = pytest.StashKey[dict]()
FAILURE_KEY = pytest.StashKey[list]()
REFERENCE_KEY = pytest.StashKey[list]()
START_KEY = pytest.StashKey[float]()
MODEL_SECONDS_KEY = pytest.StashKey[float]()
SETUP_SECONDS_KEY = pytest.StashKey[float]()


def pytest_addoption(parser):
    group = parser.getgroup("mlipcheck", "mlipcheck: conformance tests of interatomic models")
    group.addoption("--model", action="append", default=[], metavar="SPEC",
                    help="model under test (repeatable): emt, chgnet[:VERSION], sevennet[:NAME], "
                         "mace[:PATH], nequip[:PATH], pkg.module:callable, file.py:callable; "
                         "options after commas, e.g. mace:my.model,dtype=float64")
    group.addoption("--mlipcheck-profile", default="quick", metavar="NAME",
                    help="threshold profile: quick (default), full, or a .toml file")
    group.addoption("--mlipcheck-report", default="mlipcheck-report", metavar="DIR",
                    help="folder for failing structures and reports (default: mlipcheck-report)")
    group.addoption("--mlipcheck-timeout", type=float, default=None, metavar="SECONDS",
                    help="time limit of one model call (default: from the profile)")
    group.addoption("--mlipcheck-seed", type=int, default=0,
                    help="seed of every random choice of the checks (default 0: same run twice)")
    group.addoption("--mlipcheck-allow-download", action="store_true",
                    help="let adapters download missing foundation-model weights (off by default)")
    group.addoption("--reference", action="append", default=[], metavar="FILE",
                    help="reference data (extxyz or any ASE format; eV, eV/A, eV/A^3) for the per-class "
                         "error suite (repeatable; default: mlipcheck's own PySCF set)")
    group.addoption("--eos-reference", action="append", default=[], metavar="FILE",
                    help="equation-of-state reference (ACWF-style JSON with BM_fit_data), besides "
                         "ASE's WIEN2k Delta-test set (repeatable)")
    group.addoption("--phonon-reference", action="append", default=[], metavar="DIR",
                    help="phonopy reference folder (phonopy_disp.yaml or POSCAR-unitcell, FORCE_SETS, "
                         "optional BORN) to compare frequencies with (repeatable)")
    group.addoption("--mlipcheck-shard", default=None, metavar="K/N",
                    help="run shard K of N (1 <= K <= N): a deterministic split of the collected tests, "
                         "each model's tests of one suite kept together; merge the shards' reports with "
                         "`mlipcheck report merge`")
    group.addoption("--reference-class-map", default=None, metavar="LABEL=CLASS,...",
                    help="rename material_class / config_type labels of reference frames, e.g. "
                         "Surface=surface,Vacancy=defect")


def pytest_load_initial_conftests(early_config, parser, args):
    """`pytest --model X` with no path runs mlipcheck's installed suites beside whatever pytest
    would have collected (the project's testpaths, or the current folder): a team's own checks
    that ask for the `model` fixture run with them. Paths given by the user win."""
    namespace = early_config.known_args_namespace
    if not getattr(namespace, "model", None) or namespace.file_or_dir or namespace.pyargs:
        return
    import mlipcheck.suites

    suites = str(Path(mlipcheck.suites.__file__).parent)
    defaults = early_config.getini("testpaths") or [str(early_config.invocation_params.dir)]
    args.extend(path for path in [*defaults, suites] if path != suites or suites not in defaults)


def pytest_configure(config):
    for name, text in SUITE_MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    config.mlipcheck_specs, config.mlipcheck_profile = [], None
    config.stash[MODELS_KEY] = {}
    config.stash[FAILURE_KEY] = []
    config.stash[START_KEY] = time.perf_counter()
    if not config.getoption("model"):
        return  # not an mlipcheck run: nothing more to set up (a suite test without --model is skipped)
    from mlipcheck import report as report_module
    from mlipcheck.adapters import parse_model_specs

    try:
        config.mlipcheck_specs = parse_model_specs(config.getoption("model"))
        config.mlipcheck_profile = profile_of(config)
        _check_numbers(config)
        shard_of(config)
        from mlipcheck.checks.eos import load_eos_reference

        for path in config.getoption("eos_reference"):  # a bad file is a usage error, up front
            load_eos_reference(path)
        if config.getoption("phonon_reference"):  # likewise a phonopy folder (read once, cached)
            from mlipcheck.checks.phonons import load_phonon_reference

            for folder in config.getoption("phonon_reference"):
                load_phonon_reference(folder)
        if config.mlipcheck_specs and not hasattr(config, "workerinput"):
            config.mlipcheck_report_lock = report_module.claim_folder(Path(config.getoption("mlipcheck_report")))
    except MlipcheckError as exc:
        raise pytest.UsageError(str(exc)) from None
    if not hasattr(config, "workerinput") and config.mlipcheck_specs:  # xdist: the controller writes
        config.pluginmanager.register(ReportWriter(config), "mlipcheck-report-writer")
    if hasattr(config, "workerinput"):
        _share_cores(int(config.workerinput.get("workercount", 1)))


def profile_of(config):
    """The run's threshold profile, read on first use (a bad one is a usage error)."""
    if getattr(config, "mlipcheck_profile", None) is None:
        from mlipcheck.profiles import load_profile

        try:
            config.mlipcheck_profile = load_profile(config.getoption("mlipcheck_profile"))
        except MlipcheckError as exc:
            raise pytest.UsageError(str(exc)) from None
    return config.mlipcheck_profile


def shard_of(config) -> tuple[int, int] | None:
    """(K, N) from --mlipcheck-shard K/N, or None."""
    text = config.getoption("mlipcheck_shard")
    if text is None:
        return None
    k, _, n = text.partition("/")
    if not (k.isdigit() and n.isdigit() and 1 <= int(k) <= int(n)):
        raise UsageError(f"--mlipcheck-shard {text}: give K/N with 1 <= K <= N, e.g. 2/4")
    return int(k), int(n)


def _group(item) -> str:
    """Tests that share cached work run in one shard (and, with --dist loadgroup, one worker):
    one model's tests of one suite module."""
    spec = item.callspec.params.get("model") if hasattr(item, "callspec") else None
    return f"{getattr(spec, 'label', '-')}::{item.nodeid.split('::')[0]}"


def pytest_collection_modifyitems(session, config, items):
    for item in items:  # pytest-xdist's --dist loadgroup keeps a group on one worker
        if item.get_closest_marker("mlipcheck") is not None:
            item.add_marker(pytest.mark.xdist_group(_group(item)))
    shard = shard_of(config)
    if shard is None:
        return
    k, n = shard
    groups = {}
    for item in items:
        groups.setdefault(_group(item), []).append(item)
    # Largest groups first (ties by name), each to the shard with the fewest tests so far: the same
    # split on every machine that collects the same tests, balanced in test count.
    sizes = [0] * n
    mine = set()
    for name, members in sorted(groups.items(), key=lambda g: (-len(g[1]), g[0])):
        target = sizes.index(min(sizes))
        sizes[target] += len(members)
        if target == k - 1:
            mine.add(name)
    kept = [item for item in items if _group(item) in mine]
    config.hook.pytest_deselected(items=[item for item in items if _group(item) not in mine])
    config.mlipcheck_shard_total = len(items)
    items[:] = kept


def _check_numbers(config):
    seed, timeout = config.getoption("mlipcheck_seed"), config.getoption("mlipcheck_timeout")
    if seed < 0:
        raise UsageError(f"--mlipcheck-seed {seed}: give a seed >= 0")
    if timeout is not None and timeout < 0:
        raise UsageError(f"--mlipcheck-timeout {timeout:g}: give seconds >= 0 (0: no limit per call)")


def pytest_unconfigure(config):
    lock = getattr(config, "mlipcheck_report_lock", None)
    if lock is not None:
        from mlipcheck.report import release_folder

        release_folder(lock)


def _share_cores(workers):
    """Under xdist, give each worker its share of the cores: torch's default of one thread per
    core in every worker oversubscribes the machine, and a CHGNet call then took 8 s, not 0.5 s."""
    if "torch" not in sys.modules and importlib.util.find_spec("torch") is None:
        return
    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(workers, 1)))


def pytest_report_header(config):
    if config.mlipcheck_specs:
        specs = ", ".join(s.text for s in config.mlipcheck_specs)
        return f"mlipcheck: profile {config.mlipcheck_profile.name}; models: {specs}"


def pytest_generate_tests(metafunc):
    # Only tests that opt in (marker `mlipcheck`, as every module in suites/ does) get models and
    # cases, so a `model` or `case` argument in someone else's tests is left alone.
    if metafunc.definition.get_closest_marker("mlipcheck") is None:
        return
    config = metafunc.config
    specs = config.mlipcheck_specs
    no_model = [pytest.param(None, id="no-model", marks=pytest.mark.skip(reason=NO_MODEL))]
    if "pair" in metafunc.fixturenames:
        # Element pairs depend on the model's elements: the model is loaded at collection
        # (once; the `model` fixture reuses it) and each pair is its own test id.
        from mlipcheck.checks.dimers import pairs_for

        section = profile_of(config).section(metafunc.definition.get_closest_marker("pairs").args[0])
        seed = config.getoption("mlipcheck_seed")
        _parametrize_per_model(metafunc, "pair", lambda model: [
            ("-".join(pair), pair) for pair in pairs_for(model, section, seed)], "element pair")
    elif "item" in metafunc.fixturenames:
        # Likewise the crystals of the property suites.
        kind, section = metafunc.definition.get_closest_marker("model_items").args
        _parametrize_per_model(metafunc, "item", lambda model: model_items(
            config, model, kind, profile_of(config).section(section)), f"{kind} crystal")
    elif "model" in metafunc.fixturenames:
        params = [pytest.param(s, id=s.label) for s in specs] or no_model
        metafunc.parametrize("model", params, indirect=True, scope="session")
    if "phonon_reference" in metafunc.fixturenames:
        folders = config.getoption("phonon_reference")
        params = [pytest.param(f, id=Path(f).name) for f in folders]
        metafunc.parametrize("phonon_reference", params or [pytest.param(None, id="none", marks=pytest.mark.skip(
            reason="no --phonon-reference given"))])
    if "reference_class" in metafunc.fixturenames:
        sets = reference_sets(config)
        classes = sorted({c for s in sets if not isinstance(s, Exception) for c in s.classes})
        params = [pytest.param(c, id=c) for c in classes]
        params += [pytest.param(s, id=f"unreadable-{i}") for i, s in enumerate(sets) if isinstance(s, Exception)]
        metafunc.parametrize("reference_class", params)
    if "case" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("cases")
        selection = {k: v for k, v in (marker.kwargs if marker else {}).items() if k != "one_in_quick"}
        from mlipcheck.structures import cases_for

        cases = cases_for(profile_of(config).quick, **selection)
        metafunc.parametrize("case", [
            pytest.param(c, id=c.name, marks=[pytest.mark.quick] if c.quick else [])
            for c in cases], indirect=True)


def _parametrize_per_model(metafunc, name, items_for, what):
    """Parametrize (model, `name`) over items_for(model) -> [(id, item)] of every --model; a model
    that does not load gets one test id that reports it, one without items a skip."""
    params = []
    for spec in metafunc.config.mlipcheck_specs:
        model = loaded_model(metafunc.config, spec)
        if isinstance(model, Exception):
            params.append(pytest.param(spec, None, id=spec.label))
            continue
        items = items_for(model)
        params += [pytest.param(spec, item, id=f"{spec.label}-{item_id}") for item_id, item in items]
        if not items:
            params.append(pytest.param(spec, None, id=f"{spec.label}-none", marks=pytest.mark.skip(
                reason=f"{spec.label}: no {what} among its declared elements")))
    if not params:
        params = [pytest.param(None, None, marks=pytest.mark.skip(reason=NO_MODEL))]
    metafunc.parametrize(["model", name], params, indirect=["model"], scope="session")


def model_items(config, model, kind, section) -> list:
    """(id, item) pairs of a property suite for one model; a bad --eos-reference is a usage error."""
    from mlipcheck.checks import crystals

    seed = config.getoption("mlipcheck_seed")
    try:
        if kind == "eos":
            return crystals.eos_references(model, section, seed, config.getoption("eos_reference"))
        if kind == "phonons":
            return crystals.phonon_crystals(model, section, seed)
        if kind == "vacancies":
            return crystals.vacancy_references(model, section, seed)
    except MlipcheckError as exc:
        raise pytest.UsageError(str(exc)) from None
    raise ValueError(f"unknown model_items kind {kind!r}")


def reference_sets(config) -> list:
    """The --reference files (or the default set), read once per session; a file that cannot
    be read is kept as its error, so its tests report it and the others run."""
    if REFERENCE_KEY not in config.stash:
        from mlipcheck.structures.reference_sets import default_sets, load_reference, parse_class_map

        paths = config.getoption("reference") or default_sets()
        try:
            class_map = parse_class_map(config.getoption("reference_class_map"))
        except MlipcheckError as exc:
            raise pytest.UsageError(str(exc)) from None
        loaded = []
        for path in paths:
            try:
                loaded.append(load_reference(path, class_map))
            except MlipcheckError as exc:
                loaded.append(exc)
        config.stash[REFERENCE_KEY] = loaded
    return config.stash[REFERENCE_KEY]


@pytest.fixture(scope="session")
def profile(request):
    """The threshold profile of this run (mlipcheck.profiles.Profile)."""
    return profile_of(request.config)


def loaded_model(config, spec):
    """The Model for a spec, loaded on first use and kept for the session; or the load error."""
    loaded = config.stash[MODELS_KEY]
    if spec.text not in loaded:
        try:
            from mlipcheck.adapters import load_model

            loaded[spec.text] = load_model(spec, config.getoption("mlipcheck_allow_download"))
            timeout = config.getoption("mlipcheck_timeout")
            loaded[spec.text].call_timeout = timeout or profile_of(config).section("call")["timeout_s"]
        except MlipcheckError as exc:
            loaded[spec.text] = exc
    return loaded[spec.text]


@pytest.fixture(scope="session")
def model(request):
    """The model under test, loaded once per session; a load failure errors its tests."""
    spec = request.param
    result = loaded_model(request.config, spec)
    if isinstance(result, Exception):
        pytest.fail(f"model {spec.text!r} could not be loaded: {result}", pytrace=False)
    return result


@pytest.fixture(scope="session")
def all_models(request):
    """Every --model that loads, for checks that compare models with each other."""
    models = [loaded_model(request.config, spec) for spec in request.config.mlipcheck_specs]
    usable = [m for m in models if not isinstance(m, Exception)]
    if len(usable) < 2:
        pytest.skip("needs at least two --model that load")
    return usable


@pytest.fixture
def case(request, model):
    """One test structure; skipped when it holds an element the model does not declare, or when
    the suite asks for one case per model in a quick profile and this is not the first."""
    missing = model.unsupported(request.param.symbols)
    if missing:
        pytest.skip(f"{model.label} does not declare {', '.join(missing)} (case {request.param.name})")
    marker = request.node.get_closest_marker("cases")
    profile = profile_of(request.config)
    if marker and marker.kwargs.get("one_in_quick") and profile.quick:
        selection = {k: v for k, v in marker.kwargs.items() if k != "one_in_quick"}
        from mlipcheck.structures import cases_for

        first = next(c for c in cases_for(True, **selection) if not model.unsupported(c.symbols))
        if first is not request.param:
            pytest.skip(f"the quick profile runs this on one case per model ({first.name})")
    return request.param


@pytest.fixture
def reference_predictions(request, model, reference_class):
    """The model's predictions on every reference set holding frames of this class (computed
    once per model and file); a file the model shows to be in the wrong units is an error here."""
    from mlipcheck.checks.errors import predict_set
    from mlipcheck.structures.reference_sets import ReferenceDataError

    if isinstance(reference_class, Exception):
        pytest.fail(f"reference data not usable: {reference_class}", pytrace=False)
    out = []
    for reference in reference_sets(request.config):
        if isinstance(reference, Exception) or reference_class not in reference.classes:
            continue
        try:
            out.append(predict_set(model, reference))
        except ReferenceDataError as exc:
            pytest.fail(str(exc), pytrace=False)
    return out


@pytest.fixture
def seed(request):
    return request.config.getoption("mlipcheck_seed")


@pytest.fixture
def verdict(request):
    """Assert on a Measurement: pass, or fail with what was expected, what came out, by how
    much, and the path of the written-out structure."""

    def judge(measurement):
        item = request.node
        model = item.funcargs.get("model")
        for key in ("value", "threshold", "unit", "metric", "relation"):
            item.user_properties.append((f"mlipcheck_{key}", _plain(getattr(measurement, key))))
        item.user_properties.append(("mlipcheck_passed", bool(measurement.passed)))
        if measurement.details:
            item.user_properties.append(("mlipcheck_details", json.dumps(measurement.details, default=str)))
        if measurement.passed:
            return measurement
        message = f"{model.label}: {measurement.describe()}" if model else measurement.describe()
        pytest.fail(with_structure(item, model, measurement.atoms, message), pytrace=False)

    return judge


def _plain(value):
    """numpy scalars as Python numbers: xdist sends user properties between processes."""
    return value.item() if hasattr(value, "item") and not isinstance(value, (str, bytes)) else value


def with_structure(item, model, atoms, message) -> str:
    """`message` with the path of the structure it happened on (written as extxyz) and the line
    that reproduces it; unchanged when there is no structure or no loaded model."""
    if atoms is None or not hasattr(model, "spec"):
        return message
    path = write_structure(item.config, item.nodeid, atoms, model, message)
    item.user_properties.append(("mlipcheck_structure", str(path)))
    return f"{message}\n  structure: {path}\n  reproduce: {reproduction(model, path)}"


def write_structure(config, nodeid, atoms, model, reason) -> Path:
    folder = Path(config.getoption("mlipcheck_report")) / "structures"
    folder.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.+-]+", "_", nodeid.split("::")[-1]).strip("_")
    if len(name) > 100:  # file names are limited to 255 bytes; a model spec can hold a long path
        name = f"{name[:80]}-{hashlib.sha1(nodeid.encode()).hexdigest()[:12]}"
    path = (folder / f"{name}.extxyz").resolve()
    atoms = atoms.copy()
    atoms.calc = None
    atoms.info.update({"mlipcheck_model": model.spec.text, "mlipcheck_test": nodeid,
                       "mlipcheck_reason": reason.splitlines()[0][:500]})
    from ase.io import write

    write(path, atoms, format="extxyz")
    config.stash[FAILURE_KEY].append(path)
    return path


def reproduction(model, path) -> str:
    return f"mlipcheck eval --model {shlex.quote(model.spec.text)} {shlex.quote(str(path))}"


def _seconds_in_models(config) -> float:
    return sum(m.call_seconds for m in config.stash[MODELS_KEY].values() if not isinstance(m, Exception))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    # Every suite test runs within the profile's wall-time budget (setup included): model calls
    # past it raise ModelCallError(kind="budget"), an ERROR, and the run goes on.
    if item.get_closest_marker("mlipcheck") is None:
        return (yield)
    from mlipcheck.checks.evaluate import test_budget

    with test_budget(float(profile_of(item.config).section("call")["test_budget_s"])):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    # A check with nothing to judge here raises NotApplicable: a skip with its reason, never a pass.
    # A model that broke a property so badly that the check stopped raises ModelFailure: a fail.
    if item.get_closest_marker("mlipcheck") is None:
        return (yield)
    from mlipcheck.checks.measurement import NotApplicable

    try:
        return (yield)
    except NotApplicable as exc:
        pytest.skip(str(exc))
    except ModelFailure as exc:
        model = item.funcargs.get("model")
        message = f"{model.label}: {exc}" if hasattr(model, "label") else str(exc)
        pytest.fail(with_structure(item, model, exc.atoms, message), pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    # Time inside the model during setup and call (fixtures compute dimer curves, predictions on
    # reference sets, E(V) curves): one test runs at a time per process, so the total over all
    # loaded models moves by this test's share. The rest is the suite's own overhead.
    item.stash[MODEL_SECONDS_KEY] = _seconds_in_models(item.config)
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    if call.when == "setup" and item.get_closest_marker("mlipcheck"):  # before the report is made,
        params = item.callspec.params if hasattr(item, "callspec") else {}  # so every phase carries these
        spec, case = params.get("model"), params.get("case")
        if spec is not None:
            item.user_properties.append(("mlipcheck_model", spec.label))
            model = item.config.stash[MODELS_KEY].get(spec.text)
            if model is not None and not isinstance(model, Exception):
                item.user_properties.append(("mlipcheck_model_info", json.dumps(model.describe())))
        if case is not None:
            item.user_properties += [("mlipcheck_case", case.name), ("mlipcheck_material_class", case.material_class)]
        if isinstance(params.get("reference_class"), str):
            item.user_properties += [("mlipcheck_case", params["reference_class"]),
                                     ("mlipcheck_material_class", params["reference_class"])]
        if params.get("item") is not None:
            item.user_properties.append(("mlipcheck_case", item.callspec.id.split("-", 1)[-1]))
        if "pair" in params and params["pair"]:
            item.user_properties.append(("mlipcheck_case", "-".join(params["pair"]) + " dimer"))
    if call.when == "call" and item.get_closest_marker("mlipcheck") and MODEL_SECONDS_KEY in item.stash:
        # Setup and call together: shared work computed in a fixture (a dimer curve, an E(V) scan)
        # is charged once, to the test whose setup computed it, and its duration counts with it.
        spent = _seconds_in_models(item.config) - item.stash[MODEL_SECONDS_KEY]
        item.user_properties.append(("mlipcheck_model_seconds", round(spent, 4)))
        item.user_properties.append(("mlipcheck_setup_s", round(item.stash.get(SETUP_SECONDS_KEY, 0.0), 4)))
    outcome = yield
    test_report = outcome.get_result()
    if call.when == "setup":
        item.stash[SETUP_SECONDS_KEY] = test_report.duration
    if call.excinfo is None or not call.excinfo.errisinstance(ModelCallError):
        return
    exc = call.excinfo.value
    model = item.funcargs.get("model")
    test_report.longrepr = with_structure(item, model, exc.atoms,
                                          f"ERROR, the model could not be judged ({exc.kind}): {exc}")
    test_report.user_properties.append(("mlipcheck_outcome", "error"))


class ReportWriter:
    """Writes report.json as the run goes and summary.md at the end (controller only)."""

    def __init__(self, config):
        from mlipcheck import report as report_module

        self.report = report_module
        self.config = config
        self.folder = Path(config.getoption("mlipcheck_report"))
        self.data = report_module.new_report(config.mlipcheck_profile.name, sys.argv)
        shard = shard_of(config)
        if shard:
            self.data["run"]["shard"] = {"index": shard[0], "count": shard[1]}

    def pytest_runtest_logreport(self, report):
        # Setup problems count too: a model that does not load is an error of each of its tests.
        if not (report.when == "call" or (report.when == "setup" and not report.passed)):
            return
        properties = dict(report.user_properties)
        if "mlipcheck_model_info" in properties:
            info = json.loads(properties["mlipcheck_model_info"])
            self.data["models"][info["label"]] = info
        self.data["results"].append(self.report.record_from(report, properties))
        self.report.write_json(self.data, self.folder)  # atomic: a killed run leaves a valid file

    def pytest_collection_finish(self, session):
        if "shard" in self.data["run"]:  # what the whole run collected, so a merge can tell it is whole
            self.data["run"]["shard"]["collected_total"] = getattr(self.config, "mlipcheck_shard_total", None)
            self.data["run"]["shard"]["collected"] = len(session.items)

    def pytest_sessionfinish(self, session, exitstatus):
        if not self.data["results"]:
            return
        self.data["run"]["finished"] = True
        self.data["run"]["exit_status"] = int(exitstatus)
        self.report.write_json(self.data, self.folder)
        (self.folder / "summary.md").write_text(self.report.markdown(self.data))
        from mlipcheck.html import render

        (self.folder / "report.html").write_text(render(self.data))
        self.report.write_to_label(self.data, self.folder)


def pytest_report_teststatus(report, config):
    # A model that raised, hung or returned NaN is an error, never a fail or a pass.
    if report.when == "call" and report.failed and ("mlipcheck_outcome", "error") in report.user_properties:
        return "error", "E", "ERROR"


def pytest_terminal_summary(terminalreporter, config):
    loaded = config.stash.get(MODELS_KEY, {})
    writer = config.pluginmanager.get_plugin("mlipcheck-report-writer")
    if not loaded and writer is None:
        return
    terminalreporter.section("mlipcheck")
    wall = time.perf_counter() - config.stash[START_KEY]
    if loaded:
        inside = sum(m.call_seconds for m in loaded.values() if not isinstance(m, Exception))
        terminalreporter.line(f"wall time {wall:.1f} s, {inside:.1f} s inside model calls "
                              f"({100 * inside / wall:.0f} %; the rest is the suite's own work and loading)")
    else:  # the xdist controller: the workers' tests, as their reports tell it
        results = writer.data["results"]
        busy = sum(r["duration_s"] or 0.0 for r in results)
        inside = sum(r["model_seconds"] or 0.0 for r in results)
        terminalreporter.line(f"wall time {wall:.1f} s; the workers' tests took {busy:.1f} s between them, {inside:.1f} s of it "
                              f"inside model calls ({100 * inside / max(busy, 1e-9):.0f} %; the wall time also holds starting "
                              f"workers and loading models); per suite in summary.md")
    for text, model in loaded.items():
        if isinstance(model, Exception):
            terminalreporter.line(f"{text}: not loaded: {model}")
            continue
        terminalreporter.line(
            f"{model.label}: {model.framework} {model.dtype}, cutoff {model.cutoff}, "
            f"loaded in {model.load_seconds:.2f} s; {model.calls} model calls, "
            f"{model.call_seconds:.2f} s inside the model")
    written = config.stash.get(FAILURE_KEY, [])
    if written:
        terminalreporter.line(f"{len(written)} structure(s) written under "
                              f"{Path(config.getoption('mlipcheck_report')) / 'structures'}")
