"""The state of one mlipcheck run: what the user asked for, the loaded models, what was read once.

Created by the plugin in pytest_configure (one per process: the xdist controller and each worker
have their own) and reached through `session_of(config)`. Everything a run keeps between tests is
here, so the plugin's hooks are short calls into it. Light at import, like the plugin: models,
profiles and reference data are loaded on first use.
"""
from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path

from mlipcheck.errors import MlipcheckError, UsageError

NO_MODEL = ("no --model given: mlipcheck's suites need a model under test, e.g. "
            "pytest suites --model emt (or chgnet, sevennet, mace:PATH, nequip:PATH, "
            "path/to/file.py:make_calculator)")


class Session:
    def __init__(self, config):
        self.config = config
        self.specs = []  # ModelSpec of each --model
        self.models = {}  # spec text -> Model, or the MlipcheckError that stopped it loading
        self.written = []  # paths of the structures written for failures and errors
        self.start = time.perf_counter()
        self.report_lock: Path | None = None
        self.collected_total: int | None = None  # before sharding
        self._profile = None
        self._reference_sets = None
        self._elastic_references = None

    def option(self, name):
        return self.config.getoption(name)

    @property
    def seed(self) -> int:
        return self.option("mlipcheck_seed")

    @property
    def report_folder(self) -> Path:
        return Path(self.option("mlipcheck_report"))

    @property
    def profile(self):
        """The threshold profile, read on first use (a bad one is a UsageError)."""
        if self._profile is None:
            from mlipcheck.profiles import load_profile

            self._profile = load_profile(self.option("mlipcheck_profile"))
        return self._profile

    def start_run(self):
        """Read and check what the user asked for, up front: a mistake is a usage error before the
        first test, not an error of every test."""
        from mlipcheck.adapters import parse_model_specs

        self.specs = parse_model_specs(self.option("model"))
        self.profile  # noqa: B018 - read now: a bad profile stops the run here
        seed, timeout = self.seed, self.option("mlipcheck_timeout")
        if seed < 0:
            raise UsageError(f"--mlipcheck-seed {seed}: give a seed >= 0")
        if timeout is not None and not 0 <= timeout < float("inf"):  # NaN compares false: refused
            raise UsageError(f"--mlipcheck-timeout {timeout:g}: give seconds >= 0 (0: no limit per call)")
        self.shard()
        from mlipcheck.reference.sets import parse_class_map

        parse_class_map(self.option("reference_class_map"))
        if self.option("reference"):  # the user's files: a bad one is their mistake, before any test counts it
            for loaded in self.reference_sets():
                if isinstance(loaded, Exception):
                    raise UsageError(f"--reference: {loaded}")
        from mlipcheck.checks.properties.eos import load_eos_reference

        for path in self.option("eos_reference"):
            load_eos_reference(path)
        self.elastic_references()  # a malformed --elastic-reference stops the run here
        if self.option("phonon_reference"):
            from mlipcheck.checks.properties.phonons import load_phonon_reference

            for folder in self.option("phonon_reference"):  # read once, cached
                load_phonon_reference(folder)

    def shard(self) -> tuple[int, int] | None:
        """(K, N) from --mlipcheck-shard K/N, or None."""
        text = self.option("mlipcheck_shard")
        if text is None:
            return None
        k, _, n = text.partition("/")
        if not (k.isdigit() and n.isdigit() and 1 <= int(k) <= int(n)):
            raise UsageError(f"--mlipcheck-shard {text}: give K/N with 1 <= K <= N, e.g. 2/4")
        return int(k), int(n)

    def model(self, spec):
        """The Model of a spec, loaded on first use and kept for the run; or its load error."""
        if spec.text not in self.models:
            try:
                from mlipcheck.adapters import load_model

                model = load_model(spec, self.option("mlipcheck_allow_download"))
                model.call_timeout = self.option("mlipcheck_timeout") or self.profile.section("call").timeout_s
                self.models[spec.text] = model
            except MlipcheckError as exc:
                self.models[spec.text] = exc
        return self.models[spec.text]

    def loaded_models(self) -> list:
        return [m for m in self.models.values() if not isinstance(m, Exception)]

    def seconds_in_models(self) -> float:
        return sum(m.call_seconds for m in self.loaded_models())

    def reference_sets(self) -> list:
        """The --reference files (or the default set), read once; a file that cannot be read is
        kept as its error, so its tests report it and the others run."""
        if self._reference_sets is None:
            from mlipcheck.reference.sets import default_sets, load_reference, parse_class_map

            class_map = parse_class_map(self.option("reference_class_map"))
            self._reference_sets = []
            for path in self.option("reference") or default_sets():
                try:
                    self._reference_sets.append(load_reference(path, class_map))
                except MlipcheckError as exc:
                    self._reference_sets.append(exc)
        return self._reference_sets

    def user_elastic_references(self) -> list:
        """The rows of the --elastic-reference files, read once."""
        if self._elastic_references is None:
            from mlipcheck.checks.properties.elastic import load_elastic_reference

            self._elastic_references = [row for path in self.option("elastic_reference")
                                        for row in load_elastic_reference(path)]
        return self._elastic_references

    def elastic_references(self) -> list:
        """--elastic-reference rows first (the user's own win), then mlipcheck's PBE table."""
        from mlipcheck.checks.properties.elastic import default_elastic_references

        return self.user_elastic_references() + list(default_elastic_references())

    def write_structure(self, test_id: str, atoms, model, reason: str) -> Path:
        """`atoms` as extxyz under the report folder, named after the test, tagged with the model,
        the test and the reason in its info."""
        folder = self.report_folder / "structures"
        folder.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.+-]+", "_", test_id.split("::")[-1]).strip("_")
        if len(name) > 100:  # file names are limited to 255 bytes; a model spec can hold a long path
            name = f"{name[:80]}-{hashlib.sha1(test_id.encode()).hexdigest()[:12]}"
        path = (folder / f"{name}.extxyz").resolve()
        atoms = atoms.copy()
        atoms.calc = None
        atoms.info.update({"mlipcheck_model": model.spec.text if model is not None else "", "mlipcheck_test": test_id,
                           "mlipcheck_reason": reason.splitlines()[0][:500]})
        from ase.io import write

        write(path, atoms, format="extxyz")
        self.written.append(path)
        return path

    def close(self):
        if self.report_lock is not None:
            from mlipcheck.report import release_folder

            release_folder(self.report_lock)
            self.report_lock = None
        from mlipcheck.engine.memo import forget

        for model in self.loaded_models():
            forget(model)
