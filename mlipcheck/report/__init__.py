"""Reports: report.json (schema mlipcheck-report/1), summary.md, and comparing two runs.

report.json is rewritten atomically after every test, so an interrupted or crashed run leaves a
valid report of what finished. Under pytest-xdist only the controller writes; the workers'
result records (mlipcheck.report.record) reach it through pytest's own reports (user_properties).
Layout: record.py (the one result record), html.py (the page), plots.py (a plot per check),
this module (report.json, summary.md, the table both pages show, compare, merge, the folder lock).
"""
from __future__ import annotations

import datetime
import hashlib
import json
import math
import os
import platform
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import mlipcheck
from mlipcheck.report.record import RECORD_PROPERTY, display_name, finish, new_record, reproduction

SCHEMA = "mlipcheck-report/1"
FRAMEWORKS = ("torch", "ase", "numpy", "phonopy", "chgnet", "mace-torch", "sevenn", "nequip", "e3nn")
OUTCOMES = ("passed", "failed", "error", "skipped")


def _versions():
    out = {}
    for name in FRAMEWORKS:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def _gpus() -> list:
    """The GPUs torch sees (name, memory), where torch is already loaded; never imports it."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return []
    return [{"name": torch.cuda.get_device_name(i),
             "memory_gb": round(torch.cuda.get_device_properties(i).total_memory / 2**30, 1)}
            for i in range(torch.cuda.device_count())]


def new_report(profile_name, argv, seed=0, models=()) -> dict:
    return {
        "schema": SCHEMA,
        "run": {
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "mlipcheck_version": mlipcheck.__version__,
            "profile": profile_name,
            "seed": seed,
            "models": list(models),  # the --model specs, so shards of different models are told apart
            "command_line": " ".join(argv),
            "machine": {"platform": platform.platform(), "python": sys.version.split()[0],
                        "cpus": os.cpu_count(), "gpus": _gpus()},
            "packages": _versions(),
            "finished": False,
        },
        "models": {},
        "results": [],
        "summary": {},
    }


def _short(report) -> str:
    if report.outcome == "skipped" and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2])
    return str(report.longrepr).strip().splitlines()[0][:500] if report.longrepr else ""


def summarize(data) -> dict:
    counts = Counter(r["outcome"] for r in data["results"])
    return {outcome: counts.get(outcome, 0) for outcome in OUTCOMES}


LOCK = ".mlipcheck-run.lock"
MARKER = ".mlipcheck-report"  # written in every report folder: what holds it, mlipcheck may replace
RUN_FILES = ("report.json", "summary.md", "report.html", "to_label.extxyz")


def _written_by_mlipcheck(folder: Path) -> bool:
    """The folder holds mlipcheck's marker or run lock, or (a folder from before the marker) a report.json of
    mlipcheck's schema and nothing but what a run writes."""
    if (folder / MARKER).is_file() or (folder / LOCK).is_file():
        return True
    if not (folder / "report.json").is_file():
        return False
    try:
        ours = json.loads((folder / "report.json").read_text()).get("schema") == SCHEMA
    except (OSError, ValueError, AttributeError):
        return False
    return ours and all(p.name in (*RUN_FILES, "structures", LOCK) for p in folder.iterdir())


def claim_folder(folder: Path) -> Path:
    """Make `folder` this run's: writable (else UsageError, before the first test), not written
    by another live run (a lock file naming its process), and emptied of an earlier run's
    reports and structures, so the folder shows one run. Only a folder mlipcheck wrote (its
    marker) is emptied; a folder holding anything else is refused, never cleaned: the user's
    files in it (a report.json of their own, structures/*.extxyz) are not ours to delete.
    Returns the lock's path."""
    from mlipcheck.errors import UsageError

    option = f"--mlipcheck-report {folder}"
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{option}: a file, not a folder; give a folder for the reports")
    if folder.is_dir() and any(p.name != LOCK for p in folder.iterdir()) and not _written_by_mlipcheck(folder):
        shown = ", ".join(sorted(p.name for p in folder.iterdir())[:5])
        raise UsageError(f"{option}: the folder holds files mlipcheck did not write ({shown}, ...); "
                         f"give a new or empty folder, or one an earlier mlipcheck run wrote")
    if (folder / "structures").exists() and not (folder / "structures").is_dir():
        raise UsageError(f"{option}: {folder / 'structures'} is a file; mlipcheck writes failing structures "
                         f"in a folder of that name: move the file or give another report folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = folder / LOCK
        try:
            descriptor = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            owner = _lock_owner(lock)
            if owner is not None:
                raise UsageError(f"{option}: another mlipcheck run (process {owner}) is writing "
                                 f"there; give this run another folder (--mlipcheck-report DIR)") from None
            lock.unlink(missing_ok=True)  # left by a run that was killed
            descriptor = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        os.write(descriptor, str(os.getpid()).encode())
        os.close(descriptor)
        (folder / MARKER).write_text("This folder is an mlipcheck report folder: a new run replaces "
                                     "its reports and structures/.\n")
        for name in RUN_FILES:
            (folder / name).unlink(missing_ok=True)
        for old in (folder / "structures").glob("*.extxyz"):
            old.unlink()
    except OSError as exc:
        raise UsageError(f"{option}: cannot write there ({exc.strerror or exc})") from None
    return lock


def _lock_owner(lock: Path) -> int | None:
    """The live process holding a lock, or None (gone, or unreadable)."""
    try:
        pid = int(lock.read_text().strip() or 0)
        if pid <= 0 or pid == os.getpid():
            return None
        os.kill(pid, 0)
        return pid
    except (ValueError, ProcessLookupError, FileNotFoundError):
        return None
    except PermissionError:
        return pid  # alive, another user's


def release_folder(lock: Path):
    try:
        if lock.read_text().strip() == str(os.getpid()):
            lock.unlink()
    except OSError:
        pass


def write_json(data, folder: Path):
    folder.mkdir(parents=True, exist_ok=True)
    data["summary"] = summarize(data)
    target = folder / "report.json"
    temporary = folder / f"report.json.{os.getpid()}.tmp"
    temporary.write_text(json.dumps(data, indent=1, default=str))
    os.replace(temporary, target)  # atomic: a reader never sees half a file


def verdict_table(data) -> list[tuple[str, str, Counter]]:
    """(suite, model, outcome counts) per suite and model, sorted: the table both pages show."""
    table = defaultdict(Counter)
    for r in data["results"]:
        table[(r["suite"], r["model"] or "-")][r["outcome"]] += 1
    return [(suite, model, counts) for (suite, model), counts in sorted(table.items())]


def failure_rows(data) -> list[dict]:
    """Failed and errored results, each with its display name and reproduction line."""
    specs = {label: info.get("spec", label) for label, info in data.get("models", {}).items()}
    return [dict(r, display=display_name(r),
                 reproduce=reproduction(specs.get(r["model"], r["model"] or ""), r["structure"]) if r["structure"] else "")
            for r in data["results"] if r["outcome"] in ("failed", "error")]


def markdown(data) -> str:
    """A short table per suite and model, fit for a pull-request comment or a CI job summary."""
    failures = failure_rows(data)
    s = summarize(data)
    verdict = "PASS" if not (s["failed"] or s["error"]) else "FAIL"
    lines = [f"## mlipcheck: {verdict}", "",
             f"profile `{data['run']['profile']}`, mlipcheck {data['run']['mlipcheck_version']}, "
             f"{data['run']['date']}: {s['passed']} passed, {s['failed']} failed, {s['error']} errors, "
             f"{s['skipped']} skipped", "",
             "| suite | model | passed | failed | errors | skipped |", "|---|---|---:|---:|---:|---:|"]
    for suite, model, c in verdict_table(data):
        lines.append(f"| {suite} | {model} | {c['passed']} | {c['failed']} | {c['error']} | {c['skipped']} |")
    lines += ["", "### Where the time went", "", "| suite | tests | seconds (setup + call) | inside model calls |",
              "|---|---:|---:|---:|"]
    for suite, (count, seconds, inside) in sorted(time_per_suite(data).items()):
        share = f"{inside:.1f} s ({100 * inside / seconds:.0f} %)" if seconds > 0 else f"{inside:.1f} s"
        lines.append(f"| {suite} | {count} | {seconds:.1f} | {share} |")
    arena = {label: info["arena_diatomics"]["means"] for label, info in data.get("models", {}).items()
             if "arena_diatomics" in info}
    if arena:
        lines += ["", "### MLIP Arena diatomics (means over elements, Arena's definitions)", "",
                  "| model | force flips | energy jump (eV) | conservation dev. (eV/Å) | tortuosity "
                  "| ρ(r,E) rep. | ρ(r,F) rep. |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for label, m in sorted(arena.items()):
            lines.append(f"| {label} | {m['force_flips']:.2f} | {m['energy_jump_eV']:.3g} | "
                         f"{m['conservation_deviation_eV_per_A']:.3g} | {m['tortuosity']:.3g} | "
                         f"{m['spearman_repulsive_energy']:.3f} | {m['spearman_repulsive_force']:.3f} |")
    if failures:
        lines += ["", "### Failures and errors", "", "| test | outcome | measured | threshold |", "|---|---|---|---|"]
        for r in failures[:50]:
            measured = f"{r['value']:.3g} {r['unit']}" if isinstance(r["value"], (int, float)) else (r["message"] or "")[:80]
            threshold = f"{r['threshold']:.3g}" if isinstance(r["threshold"], (int, float)) else ""
            lines.append(f"| `{r['display']}` | {r['outcome']} | {measured} | {threshold} |")
        if len(failures) > 50:
            lines.append(f"| ... {len(failures) - 50} more | | | |")
    return "\n".join(lines) + "\n"


RECORD_KEYS = ("test_id", "model", "outcome", "value", "threshold", "unit")


def write_to_label(data, folder: Path) -> int:
    """One `to_label.extxyz` of the run: every structure a test failed or errored on, and every
    frame a check flagged as worth labelling whatever its verdict (a committee's most uncertain),
    once each (the same positions, cell and species written by two tests are one frame), tagged in
    `info` with the tests, checks, values and thresholds, ready for a DFT code and then for
    training. Returns the number of frames (none: no file)."""
    import numpy as np
    from ase.io import read, write

    frames, seen = [], {}
    for r in data["results"]:
        paths = [(path, "failed") for path in [r.get("structure")]
                 if path and r["outcome"] in ("failed", "error")]
        paths += [(path, "flagged") for path in r.get("to_label") or []]
        for path, why in paths:
            if not Path(path).is_file():
                continue
            try:
                atoms = read(path)
            except Exception:  # noqa: BLE001 - a structure file that cannot be read is left out
                continue
            key = hashlib.sha1(b"".join(np.ascontiguousarray(a).tobytes() for a in (
                atoms.numbers, np.round(atoms.positions, 6), np.round(atoms.cell.array, 6), atoms.pbc))).hexdigest()
            tag = (f"{display_name(r)}: {r['outcome']}, {r['check']} = {r['value']} (threshold {r['threshold']})"
                   if why == "failed" else f"{display_name(r)}: {atoms.info.get('mlipcheck_reason', 'flagged')}")
            if key in seen:
                seen[key].info["mlipcheck_tests"] += f"; {tag}"
                continue
            atoms.info = {"mlipcheck_tests": tag, "mlipcheck_check": r["check"], "mlipcheck_model": r["model"],
                          "mlipcheck_value": r["value"] if r["value"] is not None else "",
                          "mlipcheck_threshold": r["threshold"] if r["threshold"] is not None else "",
                          "mlipcheck_outcome": r["outcome"] if why == "failed" else "uncertain",
                          "material_class": r.get("material_class") or ""}
            seen[key] = atoms
            frames.append(atoms)
    target = folder / "to_label.extxyz"
    target.unlink(missing_ok=True)
    if frames:
        write(target, frames, format="extxyz")
    return len(frames)


def time_per_suite(data) -> dict:
    """suite -> (tests, seconds of setup + call, seconds inside model calls)."""
    out = defaultdict(lambda: [0, 0.0, 0.0])
    for r in data["results"]:
        row = out[r["suite"]]
        row[0] += 1
        row[1] += r.get("duration_s") or 0.0
        row[2] += r.get("model_seconds") or 0.0
    return {k: tuple(v) for k, v in out.items()}


def load(path) -> dict:
    """A report.json, checked to be one: a clear ValueError for anything else."""
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not a JSON report ({exc})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        schema = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"{path}: not an mlipcheck report (schema {schema!r}, expected {SCHEMA!r})")
    results = data.get("results")
    if not isinstance(results, list) or not isinstance(data.get("run", {}), dict):
        raise ValueError(f"{path}: an mlipcheck report without a list of results")
    finished = data.get("run", {}).get("finished", False)
    if not isinstance(finished, bool):  # "false" is a true string: never read a flag that is not one
        raise ValueError(f"{path}: run.finished is {finished!r}, not true or false")
    for index, record in enumerate(results):
        missing = [k for k in RECORD_KEYS if not isinstance(record, dict) or k not in record]
        if missing:
            raise ValueError(f"{path}: result {index} lacks {', '.join(missing)}")
        if record["outcome"] not in OUTCOMES:
            raise ValueError(f"{path}: result {index} has outcome {str(record['outcome'])[:40]!r}, "
                             f"not one of {', '.join(OUTCOMES)}")
    ids = Counter(record["test_id"] for record in results)
    twice = sorted(test for test, n in ids.items() if n > 1)
    if twice:  # which record would a gate believe? Neither.
        raise ValueError(f"{path}: {len(twice)} test(s) recorded more than once, e.g. {twice[0]}; "
                         f"a report holds one result per test")
    return data


def load_baseline(path) -> dict:
    """A report to gate against: loaded as `load` does, and from a run that finished (a killed
    run's half a report would let every test it never reached pass the gate)."""
    data = load(path)
    if data["run"].get("finished") is not True:
        raise ValueError(f"{path}: the baseline run did not finish (killed, interrupted or still running); "
                         f"gate against a finished run")
    return data


# Shards are one run only if these agree (the models compared by spec, the rest as recorded).
SHARD_KEYS = ("mlipcheck_version", "profile", "seed", "models")


def merge(runs: list[dict]) -> dict:
    """One report from the shards of one run (`--mlipcheck-shard K/N`): results and models
    together, counts recomputed. Shards missing from `runs` are recorded (run.shards.missing) and
    make the merged run unfinished, so a gate refuses it; two shards holding one test are refused."""
    if not runs:
        raise ValueError("merge: give the report.json of every shard")
    counts = {r["run"].get("shard", {}).get("count") for r in runs}
    if None in counts or len(counts) != 1:
        raise ValueError("merge: every report must be a shard of one run (--mlipcheck-shard K/N, the same N)")
    count = counts.pop()
    for key in SHARD_KEYS:
        seen = {json.dumps(r["run"].get(key)) for r in runs}
        if len(seen) > 1:
            raise ValueError(f"merge: the shards are not of one run: their {key} differ ({', '.join(sorted(seen))})")
    labels = {json.dumps(sorted(r["models"])) for r in runs if r["models"]}
    if len(labels) > 1:
        raise ValueError(f"merge: the shards are not of one run: their models differ ({', '.join(sorted(labels))})")
    indices = [r["run"]["shard"]["index"] for r in runs]
    if len(set(indices)) != len(indices):
        raise ValueError(f"merge: shard(s) {sorted({i for i in indices if indices.count(i) > 1})} given twice")
    merged = json.loads(json.dumps(runs[0]))  # a deep copy of the first shard's run header
    merged["run"].pop("shard", None)
    missing = sorted(set(range(1, count + 1)) - set(indices))
    merged["run"]["shards"] = {"count": count, "merged": sorted(indices), "missing": missing}
    merged["run"]["finished"] = not missing and all(r["run"].get("finished") for r in runs)
    merged["run"]["exit_status"] = max(int(r["run"].get("exit_status") or 0) for r in runs)
    merged["run"]["command_line"] = [r["run"].get("command_line") for r in runs]
    merged["models"], merged["results"] = {}, []
    seen = set()
    for r in sorted(runs, key=lambda r: r["run"]["shard"]["index"]):
        merged["models"].update(r["models"])
        for record in r["results"]:
            if record["test_id"] in seen:
                raise ValueError(f"merge: {record['test_id']} is in two shards")
            seen.add(record["test_id"])
            merged["results"].append(record)
    merged["summary"] = summarize(merged)
    return merged


# What a gate may be told to accept, each by its own option; by default each fails the gate.
ALLOWANCES = {"unfinished": "the candidate run did not finish (killed, or still running)",
              "missing": "tests of the baseline are missing from the candidate",
              "skipped": "tests that passed in the baseline are skipped in the candidate"}


BASELINE_UNFINISHED = "the baseline run did not finish: gate against a finished run"


@dataclass
class Comparison:
    regressions: list = field(default_factory=list)
    improvements: list = field(default_factory=list)
    not_compared: list = field(default_factory=list)  # rows with a `why`
    refusals: list = field(default_factory=list)  # why the gate fails besides regressions

    @property
    def gate_passes(self) -> bool:
        return not (self.regressions or self.refusals)


def _key(r) -> str:
    """A test id with its model's label taken out, so a candidate compares with the released model."""
    test = Path(r["test_id"].split("::")[0]).name + "::" + r["test_id"].split("::", 1)[-1]
    if r["model"]:
        test = test.replace(f"[{r['model']}-", "[").replace(f"[{r['model']}]", "[]")
    return test


def compare(old, new, tolerance=0.1, allow=()) -> Comparison:
    """Regressions, improvements and what could not be compared between a baseline and a candidate,
    matched by test id with the model part ignored.

    A regression: a test that passed and now fails or errors, or is skipped (unless `allow` holds
    "skipped"), or a measured value worse by more than `tolerance` times max(|old value|,
    |threshold|), "worse" in the direction of the record's relation (higher for <=, lower for >=).
    The gate also refuses an unfinished candidate and baseline tests missing from the candidate,
    unless `allow` holds "unfinished" / "missing".
    """
    if not (isinstance(tolerance, (int, float)) and math.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"tolerance {tolerance}: give a finite number >= 0 (0.1: worse by 10 % counts)")
    unknown = set(allow) - set(ALLOWANCES)
    if unknown:
        raise ValueError(f"unknown allowance {', '.join(sorted(unknown))}: give any of {', '.join(ALLOWANCES)}")
    out = Comparison()
    shard, shards = new.get("run", {}).get("shard"), new.get("run", {}).get("shards") or {}
    if shard or shards.get("missing"):
        covered = f"shard {shard['index']} of {shard['count']}" if shard else \
            f"shards {shards['merged']} of {shards['count']} (missing {shards['missing']})"
        out.refusals.append(f"the candidate holds {covered} of a sharded run: merge every shard "
                            f"(mlipcheck report merge) before gating")
    if old.get("run", {}).get("finished") is not True:
        out.refusals.append(BASELINE_UNFINISHED)
    if new.get("run", {}).get("finished") is not True:
        (out.not_compared if "unfinished" in allow else out.refusals).append(
            {"test": "(run)", "why": ALLOWANCES["unfinished"]} if "unfinished" in allow else ALLOWANCES["unfinished"])
    before = {_key(r): r for r in old["results"]}
    after = {_key(r): r for r in new["results"]}
    missing = sorted(set(before) - set(after))
    for test in missing:
        out.not_compared.append({"test": test, "why": f"missing from the candidate (was {before[test]['outcome']})"})
    if missing and "missing" not in allow:
        out.refusals.append(f"{len(missing)} {ALLOWANCES['missing']}")
    for test in sorted(set(after) - set(before)):
        out.not_compared.append({"test": test, "why": "new in the candidate (no baseline)"})
    for test in sorted(set(before) & set(after)):
        o, r = before[test], after[test]
        row = {"test": test, "old": o["outcome"], "new": r["outcome"], "old_value": o["value"],
               "new_value": r["value"], "unit": r["unit"]}
        change = f"{o['outcome']} -> {r['outcome']}"
        if o["outcome"] == "passed" and r["outcome"] in ("failed", "error"):
            out.regressions.append(dict(row, why=change))
        elif o["outcome"] == "passed" and r["outcome"] == "skipped":
            (out.not_compared if "skipped" in allow else out.regressions).append(dict(row, why=change))
        elif o["outcome"] == "skipped" or r["outcome"] == "skipped":
            out.not_compared.append(dict(row, why=change))
        elif o["outcome"] in ("failed", "error") and r["outcome"] == "passed":
            out.improvements.append(dict(row, why=change))
        elif isinstance(o["value"], (int, float)) and isinstance(r["value"], (int, float)):
            sign = -1.0 if r.get("relation", "<=") in (">=", ">") else 1.0
            worse = sign * (r["value"] - o["value"])
            # Worse by a fraction of the threshold (or of the old value, if larger): changes far
            # below the threshold are rounding noise, not regressions.
            scale = max(abs(o["value"]), abs(r["threshold"] or 0), 1e-12)
            if worse > tolerance * scale:
                out.regressions.append(dict(row, why=f"value {o['value']:.3g} -> {r['value']:.3g} {r['unit']}"))
            elif -worse > tolerance * scale:
                out.improvements.append(dict(row, why=f"value {o['value']:.3g} -> {r['value']:.3g} {r['unit']}"))
    return out


WRITE_EVERY_S = 5.0  # report.json is rewritten during a run at most this often (and at its end)


class ReportWriter:
    """A pytest plugin object (registered by mlipcheck.plugin, controller only): writes report.json
    as the run goes, and summary.md, report.html and to_label.extxyz at the end."""

    def __init__(self, session):
        self.session = session
        self.folder = session.report_folder
        self.data = new_report(session.profile.name, sys.argv, session.seed, [spec.text for spec in session.specs])
        self.written_at = -WRITE_EVERY_S
        shard = session.shard()
        if shard:
            self.data["run"]["shard"] = {"index": shard[0], "count": shard[1]}

    def pytest_runtest_logreport(self, report):
        if report.when == "???":  # xdist: the worker died running this test (a segfault, out of memory)
            self.data["results"].append(self._crashed(report))
            return
        # Setup problems count too: a model that does not load is an error of each of its tests.
        if not (report.when == "call" or (report.when == "setup" and not report.passed)):
            return
        shipped = dict(report.user_properties).get(RECORD_PROPERTY)
        if shipped is None:
            return
        record = json.loads(shipped)
        info, setup_s = record.pop("model_info"), record.pop("setup_s")
        if info:
            self.data["models"][info["label"]] = {**info, **self.data["models"].get(info["label"], {})}
        # A check may file a summary under its model (e.g. arena_diatomics), beside the model's description
        summary = (record.get("details") or {}).get("model_summary")
        if summary and record["model"]:
            self.data["models"].setdefault(record["model"], {}).update(summary)
        outcome = "error" if record["outcome"] == "error" or (report.when != "call" and report.failed) else report.outcome
        message = _short(report) if outcome in ("failed", "error", "skipped") else None
        self.data["results"].append(finish(record, outcome, message, report.duration + setup_s))
        # Atomic, so a killed run leaves a valid file; at most every WRITE_EVERY_S, because the
        # whole file is rewritten (quick CHGNet: 160 rewrites took 3 s of a core the workers need)
        if time.monotonic() - self.written_at >= WRITE_EVERY_S:
            write_json(self.data, self.folder)
            self.written_at = time.monotonic()

    def _crashed(self, report) -> dict:
        """The record of a test whose worker died: an error of the model that ran it, with xdist's
        reason; its own record died with the worker."""
        path, _, name = report.nodeid.partition("::")
        function, _, param = name.partition("[")
        param = param.removesuffix("]")
        labels = sorted((spec.label for spec in self.session.specs), key=len, reverse=True)
        model = next((label for label in labels if param == label or param.startswith(label + "-")), None)
        case = param[len(model) + 1:] if model and param != model else param
        record = new_record(report.nodeid, name, Path(path).stem.removeprefix("test_"),
                            function.removeprefix("test_"), model, case, None)
        return finish(record, "error", f"ERROR, the worker running this test died: {report.longrepr} (a crash of "
                      "the model's process, e.g. a segfault or out of memory; the test did not finish)", report.duration)

    def pytest_collection_finish(self, session):
        if "shard" in self.data["run"]:  # what the whole run collected, so a merge can tell it is whole
            self.data["run"]["shard"]["collected_total"] = self.session.collected_total
            self.data["run"]["shard"]["collected"] = len(session.items)

    def pytest_sessionfinish(self, session, exitstatus):
        if not self.data["results"]:
            return
        # Ctrl-C (pytest's exit status 2) or an internal error (3) stops a run part way: unfinished
        self.data["run"]["finished"] = int(exitstatus) not in (2, 3)
        self.data["run"]["exit_status"] = int(exitstatus)
        write_json(self.data, self.folder)
        (self.folder / "summary.md").write_text(markdown(self.data))
        from mlipcheck.report.html import render

        (self.folder / "report.html").write_text(render(self.data))
        write_to_label(self.data, self.folder)
