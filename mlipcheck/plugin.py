"""The pytest plugin (registered through the `pytest11` entry point): options, fixtures, hooks.

Only wiring: the run's state is a Session (mlipcheck.session), test parameters come from the
providers that each area registers (mlipcheck.targets), the result record is built by
mlipcheck.report.record and written by mlipcheck.report. What a test sees:

- `--model` (repeatable) parametrizes every test that uses the `model` fixture; each model is
  loaded once per session (per worker under xdist) and its test ids carry its label.
- An argument with a registered provider (`case`, `pair`, `item`, `reference_class`, ...) is
  parametrized over that provider's targets (per model where they depend on its elements).
- `verdict(measurement)` turns a check's Measurement into pass/fail and puts its numbers in the
  test's result record; a failure's structure is written as extxyz.
- A ModelCallError (the model raised, hung, returned NaN or wrong shapes) is an *error*, not a
  *fail*; NotApplicable is a skip; ModelFailure (a check stopped by a broken model) a fail.
"""
from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import pytest

# Only the standard library, pytest and light mlipcheck modules at import: the entry point loads
# this module in every pytest run of the environment, with or without --model. Checks, adapters,
# numpy, ASE and scipy are imported when a model is asked for.
from mlipcheck.errors import MlipcheckError, ModelCallError, ModelFailure
from mlipcheck.report.record import RECORD_PROPERTY, add_measurement, junit_properties, new_record, reproduction
from mlipcheck.session import NO_MODEL, Session
from mlipcheck.targets import marker_arguments, providers

SUITE_MARKERS = {
    "mlipcheck": "parametrize this test over --model and the targets of its arguments (mlipcheck.targets)",
    "cases(classes=None, where=None, one_in_quick=False)": "restrict `case` to these material classes / "
                                                            "where(case) true; one case per model in quick",
    "pairs(section)": "parametrize `pair` over element pairs of the model, per the profile section",
    "model_items(kind, section)": "parametrize `item` over the model's crystals of a kind (eos, phonons, "
                                  "elastic, vacancies), per the profile section",
    "mlipcheck_target(case, material_class)": "set by the plugin: the result record's case of a parameter",
    "quick": "part of the quick profile: at least one check of every suite",
    "symmetry": "conformance: invariances, energy-force-stress consistency, periodicity",
    "extrapolation": "dimers, crazy cubes, compression, MD stability",
    "properties": "equation of state, elastic constants against reference data",
    "phonons": "phonon stability and frequencies",
    "defects": "vacancy, interstitial and surface energies",
    "errors": "per-class errors against reference data",
    "benchmark": "throughput",
    "arena": "MLIP Arena's homonuclear diatomics (with --mlipcheck-profile arena)",
}
SESSION = pytest.StashKey[Session]()
RECORD = pytest.StashKey[dict]()
MODEL_SECONDS = pytest.StashKey[float]()
SETUP_SECONDS = pytest.StashKey[float]()


def session_of(config) -> Session:
    return config.stash[SESSION]


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
                         "error suite (repeatable; default: mlipcheck's own DFT set)")
    group.addoption("--eos-reference", action="append", default=[], metavar="FILE",
                    help="equation-of-state reference (ACWF-style JSON with BM_fit_data), besides "
                         "ASE's WIEN2k Delta-test set (repeatable)")
    group.addoption("--elastic-reference", action="append", default=[], metavar="FILE",
                    help="elastic constants to compare with (CSV: name,structure,C11,C12,C44,... in GPa, "
                         "optional a_A, source), before mlipcheck's PBE table (repeatable)")
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
    session = config.stash[SESSION] = Session(config)
    if not config.getoption("model"):
        return  # not an mlipcheck run: nothing more to set up (a suite test without --model is skipped)
    from mlipcheck import report

    try:
        session.start_run()
        if not hasattr(config, "workerinput"):
            session.report_lock = report.claim_folder(session.report_folder)
    except MlipcheckError as exc:
        raise pytest.UsageError(str(exc)) from None
    if hasattr(config, "workerinput"):
        _share_cores(int(config.workerinput.get("workercount", 1)))
    else:  # under xdist the controller writes the reports; the workers send their records
        config.pluginmanager.register(report.ReportWriter(session), "mlipcheck-report-writer")


def pytest_unconfigure(config):
    if SESSION in config.stash:
        config.stash[SESSION].close()


def _share_cores(workers):
    """Under xdist, give each worker its share of the cores: torch's default of one thread per
    core in every worker oversubscribes the machine, and a CHGNet call then took 8 s, not 0.5 s.
    numpy's BLAS too: with two BLAS threads per worker on 2 cores, CHGNet's relaxation, elastic
    and phonon suites took 33-37 s of test time, with one 13 s (same verdicts)."""
    from threadpoolctl import threadpool_limits  # numpy is loaded by now: its BLAS reads no variable

    threads = max(1, (os.cpu_count() or 1) // max(workers, 1))
    threadpool_limits(threads, user_api="blas")
    if "torch" not in sys.modules and importlib.util.find_spec("torch") is None:
        return
    import torch

    torch.set_num_threads(threads)


def pytest_report_header(config):
    session = session_of(config)
    if session.specs:
        return f"mlipcheck: profile {session.profile.name}; models: {', '.join(s.text for s in session.specs)}"


def group_of(nodeid: str, labels) -> str:
    """The work unit of a test: tests that share memoised work (a case's reference prediction, a
    pair's dimer curve, a crystal's phonons) run in one shard and on one worker. That is every
    test of one model and one target, whatever the suite module (`[chgnet-Cu_fcc]`); a model's
    tests without a target (`[chgnet]`) group by module. Grouping by module once put every MD
    test on one worker, which ran them for 20 minutes while the other sat idle. From the node id
    alone: the xdist controller, which schedules, has no items."""
    path, _, rest = nodeid.partition("::")
    _, bracket, param = rest.partition("[")
    param = param.removesuffix("]")
    if not bracket:
        return path
    return f"{path}::{param}" if param in labels else param


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """Under `-n N`, schedule mlipcheck's tests by `group_of` (unless another `--dist` than
    loadgroup is asked for). xdist's own loadgroup reads a suffix its workers add to node ids,
    which pytest 9.2 no longer lets them add: every group was scattered."""
    given = any(a == "-d" or a.startswith("--dist") for a in map(str, config.invocation_params.args))
    if not config.getoption("model") or (given and config.getvalue("dist") != "loadgroup"):
        return None
    from xdist.scheduler import LoadScopeScheduling

    labels = {spec.label for spec in session_of(config).specs}

    class ByGroup(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return group_of(nodeid, labels)

        def _reschedule(self, node):
            # A worker runs its last test only once it gets more work or is told to shut down:
            # give it at least two tests while there are any, and shut it down once the queue is
            # empty. (xdist gave one group at a time, and a worker that replaced a crashed one
            # and got a group of one test waited for ever: the run hung, issue 29.)
            if node.shutting_down:
                return
            while self.workqueue and self._pending_of(self.assigned_work[node]) < 2:
                self._assign_work_unit(node)
            if not self.workqueue:
                node.shutdown()

        def remove_node(self, node):
            # As xdist's, except that the test the worker crashed on is reported as the crash
            # and not run again (it ran twice: a duplicate record), the rest of its group is.
            workload = self.assigned_work.pop(node)
            if not self._pending_of(workload):
                return None
            crashed = next(nodeid for unit in workload.values() for nodeid, done in unit.items() if not done)
            for scope, unit in workload.items():
                unit.pop(crashed, None)
                if not all(unit.values()):
                    self.workqueue[scope] = unit
            for other in self.assigned_work:
                self._reschedule(other)
            return crashed

    return ByGroup(config, log)


def pytest_collection_modifyitems(session, config, items):
    if not config.getoption("model"):
        return
    labels = {spec.label for spec in session_of(config).specs}
    groups = {}
    for item in items:
        groups.setdefault(group_of(item.nodeid, labels), []).append(item)
    # Larger groups first, each whole: xdist hands out groups in this order, and a large one
    # started last kept one worker busy while the other idled (quick CHGNet -n 2: 49-51 s -> 47-48 s).
    items[:] = [item for _, members in sorted(groups.items(), key=lambda g: -len(g[1])) for item in members]
    shard = session_of(config).shard()
    if shard is None:
        return
    k, n = shard
    # Largest groups first (ties by name), each to the shard with the fewest tests so far: the same
    # split on every machine that collects the same tests, balanced in test count.
    sizes = [0] * n
    mine = set()
    for name, members in sorted(groups.items(), key=lambda g: (-len(g[1]), g[0])):
        target = sizes.index(min(sizes))
        sizes[target] += len(members)
        if target == k - 1:
            mine.add(name)
    session_of(config).collected_total = len(items)
    config.hook.pytest_deselected(items=[item for item in items if group_of(item.nodeid, labels) not in mine])
    items[:] = [item for item in items if group_of(item.nodeid, labels) in mine]


def pytest_generate_tests(metafunc):
    # Only tests that opt in (marker `mlipcheck`, as every module in suites/ does) get models and
    # targets, so a `model` or `case` argument in someone else's tests is left alone.
    if metafunc.definition.get_closest_marker("mlipcheck") is None:
        return
    session = session_of(metafunc.config)
    found = [p for name, p in providers().items() if name in metafunc.fixturenames]
    per_model = [p for p in found if p.per_model]
    if per_model:
        # Targets that depend on the model's elements: the model is loaded at collection (once;
        # the `model` fixture reuses it) and each target is its own test id.
        _parametrize_per_model(metafunc, session, per_model[0])
    elif "model" in metafunc.fixturenames:
        params = [pytest.param(s, id=s.label) for s in session.specs]
        metafunc.parametrize("model", params or [pytest.param(None, id="no-model", marks=pytest.mark.skip(
            reason=NO_MODEL))], indirect=True, scope="session")
    for provider in (p for p in found if not p.per_model):
        args, kwargs = marker_arguments(metafunc.definition, provider.marker)
        targets = _targets(provider, session, None, args, kwargs)
        metafunc.parametrize(provider.argument, [_param(t) for t in targets], indirect=provider.indirect)


def _param(target, *values, prefix=""):
    """A pytest parameter of a Target; its case and class travel in a mark to the result record."""
    marks = [getattr(pytest.mark, name) for name in target.marks]
    if target.case is not None:
        marks.append(pytest.mark.mlipcheck_target(case=target.case, material_class=target.material_class))
    if target.skip:
        marks.append(pytest.mark.skip(reason=target.skip))
    return pytest.param(*values, target.value, id=f"{prefix}{target.id}", marks=marks)


def _targets(provider, session, model, args, kwargs) -> list:
    try:
        return provider.function(session, model, *args, **kwargs)
    except MlipcheckError as exc:  # a bad profile, --reference-class-map or --eos-reference
        raise pytest.UsageError(str(exc)) from None


def _parametrize_per_model(metafunc, session, provider):
    """Parametrize (model, argument) over the provider's targets for every --model; a model that
    does not load gets one test id that reports it, one without targets a skip."""
    args, kwargs = marker_arguments(metafunc.definition, provider.marker)
    params = []
    for spec in session.specs:
        model = session.model(spec)
        if isinstance(model, Exception):
            params.append(pytest.param(spec, None, id=spec.label))
            continue
        targets = _targets(provider, session, model, args, kwargs)
        params += [_param(t, spec, prefix=f"{spec.label}-") for t in targets]
        if not targets:
            params.append(pytest.param(spec, None, id=f"{spec.label}-none", marks=pytest.mark.skip(
                reason=f"{spec.label}: no {provider.what.format(*args)} among its declared elements")))
    if not params:
        params = [pytest.param(None, None, marks=pytest.mark.skip(reason=NO_MODEL))]
    metafunc.parametrize(["model", provider.argument], params, indirect=["model"], scope="session")


@pytest.fixture(scope="session")
def mlipcheck_session(request) -> Session:
    """The run's Session (models, profile, reference sets), for suites that need more than a fixture."""
    return session_of(request.config)


@pytest.fixture(scope="session")
def profile(request):
    """The threshold profile of this run (mlipcheck.profiles.Profile)."""
    return session_of(request.config).profile


@pytest.fixture(scope="session")
def reference_sets(request) -> list:
    """The run's reference sets (--reference, or the default set); an unreadable file is its error."""
    return session_of(request.config).reference_sets()


@pytest.fixture(scope="session")
def model(request):
    """The model under test, loaded once per session; a load failure errors its tests."""
    spec = request.param
    result = session_of(request.config).model(spec)
    if isinstance(result, Exception):
        pytest.fail(f"model {spec.text!r} could not be loaded: {result}", pytrace=False)
    return result


@pytest.fixture(scope="session")
def all_models(request):
    """Every --model that loads, for checks that compare models with each other."""
    session = session_of(request.config)
    usable = [m for m in (session.model(spec) for spec in session.specs) if not isinstance(m, Exception)]
    if len(usable) < 2:
        pytest.skip("needs at least two --model that load")
    return usable


@pytest.fixture
def seed(request):
    return request.config.getoption("mlipcheck_seed")


@pytest.fixture
def ctx(request, model, seed):
    """What a check receives first (mlipcheck.engine.context): the model under test, the seed and
    the user's reference tables (the committee of every model: the `committee` fixture)."""
    from mlipcheck.engine.context import Context

    return Context(model, seed, elastic_references=tuple(session_of(request.config).user_elastic_references()))


@pytest.fixture
def committee(all_models, seed):
    """A context of no single model: the committee of every --model that loads (at least two)."""
    from mlipcheck.engine.context import Context

    return Context(None, seed, committee=tuple(all_models))


@pytest.fixture
def verdict(request):
    """Assert on a Measurement: pass, or fail with what was expected, what came out, by how
    much, and the path of the written-out structure."""

    def judge(measurement):
        item = request.node
        model = item.funcargs.get("model")
        add_measurement(item.stash[RECORD], measurement)
        for k, atoms in enumerate(measurement.to_label):
            path = session_of(item.config).write_structure(f"{item.nodeid}-to-label-{k}", atoms, model,
                                                           atoms.info.get("mlipcheck_reason", measurement.check))
            item.stash[RECORD]["to_label"].append(str(path))
        if measurement.passed:
            return measurement
        message = f"{model.label}: {measurement.describe()}" if model else measurement.describe()
        pytest.fail(with_structure(item, model, measurement.atoms, message), pytrace=False)

    return judge


def with_structure(item, model, atoms, message) -> str:
    """`message` with the path of the structure it happened on (written as extxyz) and the line
    that reproduces it; unchanged when there is no structure or no loaded model."""
    if atoms is None or not hasattr(model, "spec"):
        return message
    path = session_of(item.config).write_structure(item.nodeid, atoms, model, message)
    item.stash[RECORD]["structure"] = str(path)
    return f"{message}\n  structure: {path}\n  reproduce: {reproduction(model.spec.text, path)}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    # Every suite test runs within the profile's wall-time budget (setup included): model calls
    # past it raise ModelCallError(kind="budget"), an ERROR, and the run goes on.
    session = session_of(item.config)
    if session.specs:  # every test of an mlipcheck run has a record, a team's own tests too
        item.stash[RECORD] = _new_record(item)
    if item.get_closest_marker("mlipcheck") is None:
        return (yield)
    from mlipcheck.engine.evaluate import test_budget

    with test_budget(float(session_of(item.config).profile.section("call").test_budget_s)):
        return (yield)


def _new_record(item) -> dict:
    """The test's record before it runs: its names, from the item and its target's mark."""
    params = item.callspec.params if hasattr(item, "callspec") else {}
    spec = params.get("model")
    target = item.get_closest_marker("mlipcheck_target")
    case = target.kwargs["case"] if target else (item.callspec.id if hasattr(item, "callspec") else "")
    return new_record(item.nodeid, item.name, item.path.stem.removeprefix("test_"),
                      getattr(item, "originalname", item.name).removeprefix("test_"), getattr(spec, "label", None), case,
                      target.kwargs["material_class"] if target else None)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    # A check with nothing to judge here raises NotApplicable: a skip with its reason, never a pass.
    # A model that broke a property so badly that the check stopped raises ModelFailure: a fail.
    if item.get_closest_marker("mlipcheck") is None:
        return (yield)
    from mlipcheck.engine.measurement import NotApplicable

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
    item.stash[MODEL_SECONDS] = session_of(item.config).seconds_in_models()
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if RECORD not in item.stash:
        return
    test_report = outcome.get_result()
    record = item.stash[RECORD]
    if call.when == "setup":
        item.stash[SETUP_SECONDS] = test_report.duration
    if call.when == "call" and MODEL_SECONDS in item.stash:
        # Setup and call together: shared work computed in a fixture (a dimer curve, an E(V) scan)
        # is charged once, to the test whose setup computed it, and its duration counts with it.
        spent = session_of(item.config).seconds_in_models() - item.stash[MODEL_SECONDS]
        record["model_seconds"] = round(spent, 4)
    if call.excinfo is not None and call.excinfo.errisinstance(ModelCallError):
        exc = call.excinfo.value
        test_report.longrepr = with_structure(item, item.funcargs.get("model"), exc.atoms,
                                              f"ERROR, the model could not be judged ({exc.kind}): {exc}")
        record["outcome"] = "error"
        test_report.user_properties.append(("mlipcheck_outcome", "error"))
    elif call.when == "call" and _own_error(item, call):
        # Every model call goes through the engine, which turns what the model raises into a
        # ModelCallError: anything else a check raises is mlipcheck's (or a library's it drives),
        # never a verdict about the model.
        entry = call.excinfo.traceback[-1]
        test_report.longrepr = (f"ERROR in mlipcheck, not a verdict about the model: {call.excinfo.typename}: "
                                f"{call.excinfo.value} (raised at {entry.path}:{entry.lineno + 1}); please report it "
                                f"with this line")
        record["outcome"] = "error"
        test_report.user_properties.append(("mlipcheck_outcome", "error"))
    if call.when == "call" or (call.when == "setup" and not test_report.passed):  # what the writer reads
        model = _loaded(item)
        shipped = dict(record, setup_s=item.stash.get(SETUP_SECONDS, 0.0) if call.when == "call" else 0.0,
                       model_info=model.describe() if model is not None else None)
        test_report.user_properties.append((RECORD_PROPERTY, json.dumps(shipped)))
        # JUnit reads the teardown report's properties, which pytest copies from the item
        item.user_properties += junit_properties(record)


def _own_error(item, call) -> bool:
    """An exception in a suite test that is neither the model's (ModelCallError), a verdict
    (pytest's fail or skip) nor a ModelFailure: mlipcheck's own."""
    if call.excinfo is None or item.get_closest_marker("mlipcheck") is None:
        return False
    return call.excinfo.errisinstance(Exception) and not call.excinfo.errisinstance((MlipcheckError, AssertionError))


def _loaded(item):
    spec = item.callspec.params.get("model") if hasattr(item, "callspec") else None
    model = session_of(item.config).models.get(getattr(spec, "text", None))
    return None if model is None or isinstance(model, Exception) else model


def pytest_report_teststatus(report, config):
    # A model that raised, hung or returned NaN is an error, never a fail or a pass; so is a test
    # whose xdist worker died under it (its "when" is "???").
    if report.failed and (report.when == "???" or (
            report.when == "call" and ("mlipcheck_outcome", "error") in report.user_properties)):
        return "error", "E", "ERROR"


def pytest_terminal_summary(terminalreporter, config):
    session = session_of(config)
    writer = config.pluginmanager.get_plugin("mlipcheck-report-writer")
    if not session.models and writer is None:
        return
    terminalreporter.section("mlipcheck")
    wall = time.perf_counter() - session.start
    if session.models:
        inside = session.seconds_in_models()
        terminalreporter.line(f"wall time {wall:.1f} s, {inside:.1f} s inside model calls "
                              f"({100 * inside / wall:.0f} %; the rest is the suite's own work and loading)")
    else:  # the xdist controller: the workers' tests, as their reports tell it
        results = writer.data["results"]
        busy = sum(r["duration_s"] or 0.0 for r in results)
        inside = sum(r["model_seconds"] or 0.0 for r in results)
        terminalreporter.line(f"wall time {wall:.1f} s; the workers' tests took {busy:.1f} s between them, {inside:.1f} s of it "
                              f"inside model calls ({100 * inside / max(busy, 1e-9):.0f} %; the wall time also holds starting "
                              f"workers and loading models); per suite in summary.md")
    for text, model in session.models.items():
        if isinstance(model, Exception):
            terminalreporter.line(f"{text}: not loaded: {model}")
            continue
        terminalreporter.line(
            f"{model.label}: {model.framework} {model.dtype}, cutoff {model.cutoff}, "
            f"loaded in {model.load_seconds:.2f} s; {model.calls} structures in {model.batches} model calls, "
            f"{model.call_seconds:.2f} s inside the model")
    if session.written:
        terminalreporter.line(f"{len(session.written)} structure(s) written under {session.report_folder / 'structures'}")
