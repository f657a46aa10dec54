"""`--model` text -> a loaded Model: every adapter, its metadata, and every bad input's message."""
import importlib.util
import sys

import pytest
from conftest import BROKEN, TINY_MACE, TINY_NEQUIP

from mlipcheck.adapters import known_adapters, load_model, parse_model_specs
from mlipcheck.engine.evaluate import evaluate
from mlipcheck.errors import ModelLoadError, UsageError
from mlipcheck.structures import all_cases

HAS = {name: importlib.util.find_spec(name) is not None for name in ("chgnet", "sevenn", "mace", "nequip")}
CU = next(c for c in all_cases() if c.name == "Cu_fcc")


def load(text, **kwargs):
    return load_model(parse_model_specs([text])[0], **kwargs)


def test_spec_grammar():
    spec = parse_model_specs(["mace:/models/my.model,dtype=float64,device=cpu"])[0]
    assert (spec.adapter, spec.target) == ("mace", "/models/my.model")
    assert spec.options == {"dtype": "float64", "device": "cpu"}
    assert spec.label == "mace:my,device=cpu,dtype=float64"
    assert parse_model_specs(["chgnet"])[0].label == "chgnet"
    # a version is kept whole: chgnet:0.2.0 and chgnet:0.3.0 were both "chgnet:0" (one column, one
    # baseline key for two models)
    assert [s.label for s in parse_model_specs(["chgnet:0.2.0", "chgnet:0.3.0"])] == ["chgnet:0.2.0", "chgnet:0.3.0"]
    assert parse_model_specs(["nequip:/m/cu.nequip.zip"])[0].label == "nequip:cu"
    user = parse_model_specs([f"{BROKEN}:make_calc"])[0]  # the file must exist; the callable is read at load
    assert (user.adapter, user.label) == ("callable", "make_calc")
    assert parse_model_specs(["ase.calculators.emt:EMT"])[0].adapter == "callable"


def test_unknown_model_lists_what_is_available():
    with pytest.raises(UsageError) as info:
        parse_model_specs(["gpt5"])
    for name in ("emt", "chgnet", "mace", "nequip", "sevennet", "callable"):
        assert name in str(info.value)


def test_malformed_option_is_a_usage_error():
    with pytest.raises(UsageError, match="key=value"):
        parse_model_specs(["mace:x.model,float64"])


@pytest.mark.real_model
def test_mace_and_nequip_together_get_one_clear_message():
    with pytest.raises(UsageError, match="cannot be loaded in one environment"):
        parse_model_specs(["mace:a.model", "nequip:b.nequip.zip"])


def test_emt_metadata():
    model = load("emt")
    assert model.elements == frozenset(["H", "C", "N", "O", "Al", "Ni", "Cu", "Pd", "Ag", "Pt", "Au"])
    assert model.dtype == "float64" and model.has_stress and 5 < model.cutoff < 7
    assert model.unsupported({"Cu", "Si", "Fe"}) == ["Fe", "Si"]


def test_callable_from_file_and_module(broken):
    model = broken("correct")
    assert model.framework == "callable" and "Cu" in model.elements
    module_model = load("ase.calculators.emt:EMT")
    assert module_model.elements is None  # EMT the class declares nothing: every element is tried
    assert abs(evaluate(model, CU.atoms).energy - evaluate(module_model, CU.atoms).energy) < 1e-12


def test_metadata_options_override_the_calculator():
    model = load(f"{BROKEN}:correct,elements=Cu+Ni,cutoff=4.5,dtype=float32,stress=false")
    assert model.elements == {"Cu", "Ni"} and model.cutoff == 4.5
    assert model.dtype == "float32" and not model.has_stress


@pytest.mark.parametrize("name, message", [
    ("not_a_calculator", "not an ASE Calculator"),
    ("raises_on_load", "weights file truncated"),
    ("no_such_function", "has no callable named"),
])
def test_bad_callables(name, message):
    with pytest.raises(ModelLoadError, match=message):
        load(f"{BROKEN}:{name}")


def test_missing_python_file_or_module_is_a_usage_error():
    """A file or module that is not there is a typing mistake like an unknown model name (exit 4),
    not the model's load error."""
    with pytest.raises(UsageError, match="no file 'nowhere/models.py'"):
        load("nowhere/models.py:make")
    with pytest.raises(UsageError, match="no module 'nosuchpackage.sub' is importable"):
        load("nosuchpackage.sub:make")


@pytest.mark.skipif(not HAS["mace"], reason="needs the mace extra")
@pytest.mark.real_model
class TestMace:
    def test_tiny_model_metadata(self):
        model = load(f"mace:{TINY_MACE}")
        assert model.elements == {"Cu"} and model.cutoff == 4.0 and model.dtype == "float64"
        assert model.has_stress
        assert evaluate(model, CU.atoms).forces.shape == (8, 3)

    def test_dtype_option(self):
        assert load(f"mace:{TINY_MACE},dtype=float32").dtype == "float32"

    def test_loading_leaves_torch_default_dtype_alone(self):
        import torch

        before = torch.get_default_dtype()
        load(f"mace:{TINY_MACE}")
        assert torch.get_default_dtype() == before

    def test_missing_file_says_what_to_give(self):
        with pytest.raises(ModelLoadError, match=r"does not exist.*--model mace:"):
            load("mace:/nonexistent/model.model")

    def test_corrupt_file(self, tmp_path):
        bad = tmp_path / "corrupt.model"
        bad.write_bytes(b"not a torch file")
        with pytest.raises(ModelLoadError, match="could not read"):
            load(f"mace:{bad}")

    def test_foundation_model_without_file_names_it_and_where(self, tmp_path, monkeypatch):
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
        monkeypatch.delenv("MLIPCHECK_MACE_MODEL", raising=False)
        with pytest.raises(ModelLoadError) as info:
            load("mace")
        text = str(info.value)
        assert "mace-mpa-0-medium.model" in text  # the file to get
        assert str(tmp_path / "mace") in text  # where mace_mp() would look
        assert "MLIPCHECK_MACE_MODEL" in text and "does not download" in text
        assert not (tmp_path / "mace" / "macempa0mediummodel").exists()

    def test_foundation_model_from_environment_variable(self, monkeypatch):
        monkeypatch.setenv("MLIPCHECK_MACE_MODEL", str(TINY_MACE))
        assert load("mace").elements == {"Cu"}

    def test_foundation_model_from_cache(self, tmp_path, monkeypatch):
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
        monkeypatch.delenv("MLIPCHECK_MACE_MODEL", raising=False)
        (tmp_path / "mace").mkdir()
        (tmp_path / "mace" / "macempa0mediummodel").write_bytes(TINY_MACE.read_bytes())
        assert load("mace").elements == {"Cu"}

    def test_nequip_file_in_mace_environment(self):
        if HAS["nequip"]:
            pytest.skip("nequip importable here")
        with pytest.raises(ModelLoadError, match="e3nn"):
            load(f"nequip:{TINY_NEQUIP}")


@pytest.mark.skipif(not HAS["chgnet"], reason="needs the chgnet extra")
@pytest.mark.real_model
class TestChgnet:
    def test_bundled_weights(self):
        model = load("chgnet")
        assert model.dtype == "float32" and model.cutoff == 6.0 and len(model.elements) == 94
        prediction = evaluate(model, CU.atoms)
        assert prediction.stress.shape == (3, 3)

    def test_unknown_version(self):
        with pytest.raises(ModelLoadError, match="bundled version"):
            load("chgnet:9.9.9")


@pytest.mark.skipif(not HAS["sevenn"], reason="needs the sevennet extra")
@pytest.mark.real_model
def test_sevennet_bundled_weights():
    model = load("sevennet")
    assert model.dtype == "float32" and model.cutoff == 5.0 and len(model.elements) == 89
    assert evaluate(model, CU.atoms).forces.shape == (8, 3)


@pytest.mark.nequip
@pytest.mark.skipif(not HAS["nequip"], reason="needs the nequip extra (its own environment)")
@pytest.mark.real_model
class TestNequip:
    def test_packaged_tiny_model(self):
        model = load(f"nequip:{TINY_NEQUIP}")
        assert model.elements == {"Cu"} and model.cutoff == 4.0 and model.dtype == "float64"
        assert evaluate(model, CU.atoms).stress.shape == (3, 3)

    def test_foundation_model_without_file(self, monkeypatch):
        monkeypatch.delenv("MLIPCHECK_NEQUIP_MODEL", raising=False)
        with pytest.raises(ModelLoadError, match="MLIPCHECK_NEQUIP_MODEL"):
            load("nequip")

    def test_mace_file_in_nequip_environment(self):
        if HAS["mace"]:
            pytest.skip("mace importable here")
        with pytest.raises(ModelLoadError, match="not installed|e3nn"):
            load(f"mace:{TINY_MACE}")


def test_framework_not_installed_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "chgnet", None)  # makes `import chgnet` raise ImportError
    with pytest.raises(ModelLoadError, match=r"pip install 'mlipcheck\[chgnet\]'"):
        load("chgnet")


def test_third_party_adapter_through_entry_point(tmp_path, monkeypatch):
    """A package that declares `[mlipcheck.adapters] fake = ...` plugs in without editing mlipcheck."""
    info = tmp_path / "fake_mlip-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-mlip\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[mlipcheck.adapters]\nfake = fake_mlip_adapter:load\n")
    (tmp_path / "fake_mlip_adapter.py").write_text(
        "from ase.calculators.emt import EMT\n"
        "from mlipcheck.adapters import Model\n"
        "def load(spec, allow_download=False):\n"
        "    return Model(spec=spec, framework='fake', make_calculator=EMT, elements=frozenset(['Cu']),\n"
        "                 cutoff=5.0, dtype='float64', has_stress=True)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "fake" in known_adapters()
    model = load("fake")
    assert model.framework == "fake" and model.elements == {"Cu"}


def test_device_cuda_without_a_gpu_is_one_clear_message():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ModelLoadError, match="device=cuda asked for, but torch .* sees no GPU"):
        spec = f"mace:{TINY_MACE}" if importlib.util.find_spec("mace") else f"nequip:{TINY_NEQUIP}"
        load_model(parse_model_specs([f"{spec},device=cuda"])[0])
    with pytest.raises(ModelLoadError, match="EMT runs on the CPU only"):
        load_model(parse_model_specs(["emt,device=cuda"])[0])
    assert load_model(parse_model_specs(["emt,device=auto"])[0]).device == "cpu"
    with pytest.raises(UsageError, match="cpu, cuda, cuda:N or auto"):
        parse_model_specs(["emt,device=gpu0"])


def mixed_structures(elements):
    """Isolated atom, dimer, cluster, periodic cells of two sizes, a slab, a wire: different sizes
    and (where the model has them) elements, in one list."""
    from ase.build import bulk, fcc111, molecule

    from mlipcheck.structures.elements import dimer, isolated_atom

    metal = "Cu"
    other = [e for e in ("Si", "Na", "Cl", "O", "H") if e in elements]
    out = [isolated_atom(metal), dimer(metal, metal, 2.3), bulk(metal, "fcc", 3.6), bulk(metal, "fcc", 3.6).repeat(2)]
    cluster = bulk(metal, "fcc", 3.6, cubic=True)
    cluster.center(vacuum=5.0)
    cluster.pbc = False
    slab = fcc111(metal, (2, 2, 3), vacuum=6.0)
    wire = bulk(metal, "fcc", 3.6, cubic=True).repeat((1, 1, 2))
    wire.center(vacuum=6.0, axis=(0, 1))
    wire.pbc = [False, False, True]
    out += [cluster, slab, wire]
    if {"Na", "Cl"} <= set(other):
        out.append(bulk("NaCl", "rocksalt", 5.64))
    if "Si" in other:
        out.append(bulk("Si", "diamond", 5.43))
    if {"H", "O"} <= set(other):
        water = molecule("H2O")
        water.center(vacuum=6.0)
        out.append(water)
    for i, a in enumerate(out):
        a.rattle(0.02, seed=i)
    return out


@pytest.mark.real_model
@pytest.mark.parametrize("spec, module", [("chgnet", "chgnet"), ("sevennet", "sevenn"), (f"mace:{TINY_MACE}", "mace"),
                                          (f"nequip:{TINY_NEQUIP}", "nequip")])
def test_batched_path_equals_the_ase_calculator(spec, module, quick):
    """The adapter's batched path, on a mixed list in one call, gives what its ASE calculator gives
    one structure at a time, within the model's dtype rounding ([invariance] tolerances)."""
    if not HAS[module]:
        pytest.skip(f"needs {module}")
    from mlipcheck.engine.evaluate import evaluate_batch

    model = load(spec)
    if model.predict_batch is None:
        pytest.skip(f"{model.framework} has no batched path: the engine calls it one by one")
    structures = mixed_structures(model.elements or {"Cu"})
    model.batch_atoms = 10_000
    batches_before = model.batches
    batched = evaluate_batch(model, structures)
    assert model.batches - batches_before == 1
    section = quick.section("invariance")
    for atoms, got in zip(structures, batched):
        alone = evaluate(model, atoms, calculator=model.calculator)
        n = len(atoms)
        scale = max(abs(alone.energy) / n, float(section["atomic_energy_scale"]))
        assert abs(got.energy - alone.energy) / n <= section.tolerance("energy", model.dtype, scale), atoms
        force_scale = max(scale, float(abs(alone.forces).max()))
        assert abs(got.forces - alone.forces).max() <= section.tolerance("force", model.dtype, force_scale), atoms
        assert (got.stress is None) == (alone.stress is None) == (not atoms.pbc.all()), atoms
        if got.stress is not None:
            stress_scale = max(scale, float(abs(alone.stress).max()))
            assert abs(got.stress - alone.stress).max() <= section.tolerance("stress", model.dtype, stress_scale), atoms
