"""The per-class error suite: metrics equal an independent numpy computation, a model bad on one
class fails exactly that class, files in the wrong units are refused with the reason."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk, fcc111, graphene, molecule
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read, write
from ase.units import GPa, Hartree, kcal, mol
from conftest import ROOT

from mlipcheck.checks.accuracy.predictions import ClassFrames, predict_set
from mlipcheck.checks.accuracy.reference_errors import (
    check_energy_error,
    check_force_error,
    check_softening,
    check_stress_error,
    check_transferability,
)
from mlipcheck.engine.context import Context
from mlipcheck.profiles import load_profile
from mlipcheck.reference.sets import ReferenceDataError, classify, default_sets, load_reference, parse_class_map

SHARED = Path(__file__).resolve().parents[2] / "shared" / "reference"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/reference not beside the checkout")


def committee_of(models, predictions_by_model, material_class):
    """(ctx, target) of check_uncertainty, as the suite builds them: the committee and its
    predictions on the class."""
    return Context(None, committee=tuple(models)), ClassFrames(material_class, predictions_by_model[0],
                                                                tuple(predictions_by_model))


def emt_labelled(atoms, energy_scale=1.0, force_scale=1.0, stress_scale=1.0):
    """`atoms` with EMT's energy, forces (and stress) stored as reference data."""
    atoms = atoms.copy()
    atoms.calc = EMT()
    results = {"energy": atoms.get_potential_energy() * energy_scale, "forces": atoms.get_forces() * force_scale}
    if atoms.pbc.all():
        results["stress"] = atoms.get_stress() * stress_scale
    atoms.calc = SinglePointCalculator(atoms, **results)
    return atoms


def rattled(atoms, seed):
    atoms = atoms.copy()
    atoms.rattle(0.08, seed=seed)
    return atoms


def emt_set(path, **scales):
    """Three classes, labelled by EMT itself: bulk Cu (metal), a Cu(111) slab (surface), molecules."""
    frames = [rattled(bulk("Cu", "fcc", 3.6, cubic=True) * (2, 1, 1), s) for s in range(4)]
    frames += [rattled(fcc111("Cu", (2, 2, 3), vacuum=6.0, periodic=True), s) for s in range(3)]
    frames += [rattled(molecule(m), s) for m in ("H2O", "CH4", "CO2", "CH3OH") for s in range(2)]
    write(path, [emt_labelled(a, **scales) for a in frames], format="extxyz")
    return path


@pytest.fixture
def sections(quick):
    return quick.section("errors")


def test_classification():
    assert classify(molecule("CH3CH2OH")) == "molecule"
    assert classify(fcc111("Cu", (2, 2, 3), vacuum=6.0, periodic=True)) == "surface"
    layer = graphene("C2", vacuum=6.0)
    layer.pbc = True
    assert classify(layer) == "2d"
    assert classify(bulk("Cu", "fcc", 3.6)) == "metal"
    assert classify(bulk("NaCl", "rocksalt", 5.64)) == "ionic"
    assert classify(bulk("MgO", "rocksalt", 4.21)) == "ionic"
    assert classify(bulk("Si", "diamond", 5.43)) == "covalent"


def test_correct_model_has_zero_error_and_broken_fails_exactly_its_class(broken, tmp_path, sections):
    reference = load_reference(emt_set(tmp_path / "emt.extxyz"))
    assert reference.classes == ["metal", "molecule", "surface"]
    for factory, soft in (("correct", None), ("soft_on_molecules", "molecule")):
        predictions = [predict_set(broken(factory), reference)]
        for c in reference.classes:
            force = check_force_error(None, ClassFrames(c, predictions), sections)
            softening = check_softening(None, ClassFrames(c, predictions), sections)
            energy = check_energy_error(None, ClassFrames(c, predictions), sections)
            assert energy.passed and energy.value < 1e-4  # meV/atom: extxyz keeps ~1e-8 eV; energies untouched
            if c == soft:
                assert not force.passed and not softening.passed
                assert softening.value == pytest.approx(0.7, abs=1e-6)
                assert force.atoms is not None  # the worst frame is handed over
            else:
                assert force.passed and force.value < 1e-4, (factory, c, force.describe())
                assert softening.passed and softening.value == pytest.approx(1.0, abs=1e-6)
        transfer = check_transferability(None, ClassFrames('all classes', predictions), sections)
        assert transfer.passed == (soft is None), transfer.describe()


@needs_shared
@pytest.mark.parametrize("name", ["Cu_test", "Ni_test"])
def test_metrics_equal_numpy_on_mlearn(broken, name, sections, tmp_path):
    """EMT on the shared mlearn VASP set: every reported number recomputed in a few lines of numpy."""
    path = SHARED / "mlearn" / f"{name}.extxyz"
    model = broken("correct")
    predictions = [predict_set(model, load_reference(path))]
    frames = read(path, ":")
    e_ref, e_emt, f_ref, f_emt, s_ref, s_emt = [], [], [], [], [], []
    for atoms in frames:
        e_ref.append(atoms.get_potential_energy() / len(atoms))
        f_ref.append(atoms.get_forces())
        s_ref.append(atoms.get_stress())
        atoms.calc = EMT()
        e_emt.append(atoms.get_potential_energy() / len(atoms))
        f_emt.append(atoms.get_forces())
        s_emt.append(atoms.get_stress())
    f_ref, f_emt = np.concatenate(f_ref), np.concatenate(f_emt)
    energy = check_energy_error(None, ClassFrames("metal", predictions), sections)
    force = check_force_error(None, ClassFrames("metal", predictions), sections)
    with pytest.raises(ReferenceDataError, match="read as xy, xz, yz"):  # mlearn's files swap yz and xy
        check_stress_error(None, ClassFrames("metal", predictions), sections)
    reordered = read(path, ":")  # the same file with its shear columns put back: compared, and as numpy
    for atoms, s in zip(reordered, s_ref):
        atoms.calc = SinglePointCalculator(atoms, energy=atoms.get_potential_energy(), forces=atoms.get_forces(),
                                           stress=s[[0, 1, 2, 5, 4, 3]])
    write(tmp_path / f"{name}.extxyz", reordered, format="extxyz")
    given = [predict_set(model, load_reference(tmp_path / f"{name}.extxyz"))]
    stress = check_stress_error(None, ClassFrames("metal", given), sections)
    s_ref = [s[[0, 1, 2, 5, 4, 3]] for s in s_ref]
    softening = check_softening(None, ClassFrames("metal", predictions), sections)
    raw = np.array(e_emt) - np.array(e_ref)
    aligned = raw - raw.mean()  # one element: the alignment is the mean per-atom shift
    assert energy.details["mae_raw_mev_per_atom"] == pytest.approx(1e3 * np.abs(raw).mean(), rel=1e-9)
    assert energy.details["mae_mev_per_atom"] == pytest.approx(1e3 * np.abs(aligned).mean(), rel=1e-6)
    assert energy.details["rmse_aligned_mev_per_atom"] == pytest.approx(1e3 * np.sqrt((aligned ** 2).mean()), rel=1e-6)
    assert force.details["mae_mev_per_A"] == pytest.approx(1e3 * np.abs(f_emt - f_ref).mean(), rel=1e-9)
    assert force.details["rmse_mev_per_A"] == pytest.approx(1e3 * np.sqrt(((f_emt - f_ref) ** 2).mean()), rel=1e-9)
    assert stress.details["mae_gpa"] == pytest.approx(np.abs(np.array(s_emt) - np.array(s_ref)).mean() / GPa, rel=1e-9)
    assert softening.value == pytest.approx((f_ref * f_emt).sum() / (f_ref ** 2).sum(), rel=1e-9)
    assert force.details["ci_low_mev_per_A"] <= force.details["mae_mev_per_A"] <= force.details["ci_high_mev_per_A"]
    assert force.value == force.details["ci_high_mev_per_A"]  # the headline is what the gate decides on


@pytest.mark.parametrize("scales, words", [
    ({"force_scale": 1 / (kcal / mol)}, "forces look like another unit"),
    ({"energy_scale": 1 / Hartree, "force_scale": 1.0}, "energies look like another unit"),
    ({"stress_scale": -1.0}, "sign looks flipped"),
    ({"stress_scale": 10.0}, "kBar read as GPa"),
])
def test_wrong_units_are_refused_with_the_reason(broken, tmp_path, scales, words):
    reference = load_reference(emt_set(tmp_path / "bad.extxyz", **scales))
    model = broken("correct")
    with pytest.raises(ReferenceDataError, match=words):
        predict_set(model, reference)
    with pytest.raises(ReferenceDataError, match=words):  # cached: the same answer, not recomputed
        predict_set(model, reference)


@pytest.mark.parametrize("order, words", [((5, 3, 4), "read as xy, yz, xz"), ((4, 3, 5), "read as xz, yz, xy")])
def test_shear_columns_in_another_order_are_not_compared(broken, tmp_path, sections, order, words):
    """Sheared Cu labelled by EMT: in ASE's order the stress is compared (and exact); with the
    shear columns in VASP's order (XY YZ ZX) or two of them swapped, the stress check refuses the
    file with the reason, and energies and forces are judged as before."""
    frames = []
    for n, (i, j) in enumerate([(1, 2), (0, 2), (0, 1), (1, 2), (0, 1)]):
        atoms = bulk("Cu", "fcc", 3.6, cubic=True)
        strain = np.eye(3)
        strain[i, j] = strain[j, i] = 0.01 * (n + 1)
        atoms.set_cell(atoms.cell @ strain, scale_atoms=True)
        frames.append(emt_labelled(rattled(atoms, n)))
    write(tmp_path / "right.extxyz", frames, format="extxyz")
    model = broken("correct")
    right = [predict_set(model, load_reference(tmp_path / "right.extxyz"))]
    assert right[0].stress_problem is None
    stress = check_stress_error(None, ClassFrames("metal", right), sections)
    assert stress.passed and stress.value < 1e-6
    permuted = []
    for atoms in frames:
        voigt = atoms.get_stress()
        atoms.calc = SinglePointCalculator(atoms, energy=atoms.get_potential_energy(), forces=atoms.get_forces(),
                                           stress=np.concatenate([voigt[:3], voigt[list(order)]]))
        permuted.append(atoms)
    write(tmp_path / "permuted.extxyz", permuted, format="extxyz")
    wrong = [predict_set(model, load_reference(tmp_path / "permuted.extxyz"))]
    with pytest.raises(ReferenceDataError, match=words):
        check_stress_error(None, ClassFrames("metal", wrong), sections)
    assert check_force_error(None, ClassFrames("metal", wrong), sections).passed
    assert check_energy_error(None, ClassFrames("metal", wrong), sections).passed
    # a soft model (x0.7, as CHGNet is 2x soft in Si's shear) still tells the order
    assert "read as" in predict_set(broken("softened"), load_reference(tmp_path / "permuted.extxyz")).stress_problem


def test_a_poor_model_does_not_make_a_right_file_look_permuted(broken, tmp_path, sections):
    """A model whose stress is far off (energy, forces and stress x0.7) still finds ASE's order best."""
    frames = []
    for n in range(4):
        atoms = bulk("Cu", "fcc", 3.6, cubic=True)
        strain = np.eye(3) + 0.02 * np.random.default_rng(n).normal(size=(3, 3))
        atoms.set_cell(atoms.cell @ (strain + strain.T) / 2, scale_atoms=True)
        frames.append(emt_labelled(rattled(atoms, n)))
    write(tmp_path / "right.extxyz", frames, format="extxyz")
    predictions = predict_set(broken("softened"), load_reference(tmp_path / "right.extxyz"))
    assert predictions.stress_problem is None


def test_stress_in_gpa_and_malformed_files(tmp_path):
    with pytest.raises(ReferenceDataError, match="GPa or kBar"):
        load_reference(emt_set(tmp_path / "gpa.extxyz", stress_scale=1 / GPa))
    (tmp_path / "junk.extxyz").write_text("3\nnot an extxyz header\nCu 0 0\n")
    with pytest.raises(ReferenceDataError, match="could not be read"):
        load_reference(tmp_path / "junk.extxyz")
    with pytest.raises(ReferenceDataError, match="does not exist"):
        load_reference(tmp_path / "missing.extxyz")


def test_a_frame_without_atoms_is_left_out_with_the_reason(tmp_path):
    from ase import Atoms

    frames = read(emt_set(tmp_path / "set.extxyz"), ":")
    empty = Atoms()
    empty.info["energy"] = 0.0
    write(tmp_path / "empty.extxyz", frames + [empty], format="extxyz")
    reference = load_reference(tmp_path / "empty.extxyz")
    assert reference.problems == [f"empty.extxyz:{len(frames)}: no atoms"]
    assert len(reference.frames) == len(frames)


def test_unlabelled_frames_are_counted_and_classes_can_be_renamed(broken, tmp_path):
    frames = read(emt_set(tmp_path / "set.extxyz"), ":")
    bare = molecule("H2O")
    write(tmp_path / "mixed.extxyz", frames + [bare], format="extxyz")
    reference = load_reference(tmp_path / "mixed.extxyz", parse_class_map("molecule=gas,surface=slab"))
    assert reference.problems == ["mixed.extxyz:15: no reference energy or forces"]
    assert reference.classes == ["gas", "metal", "slab"]
    frames = ClassFrames("gas", [predict_set(broken("correct"), reference)])
    force = check_force_error(None, frames, load_profile("quick").section("errors"))
    assert force.details["frames_left_out_of_files"] == 1  # counted in the report, not dropped silently


def test_plugin_runs_one_test_id_per_class(pytester, tmp_path):
    path = emt_set(tmp_path / "emt.extxyz")
    result = pytester.runpytest("--pyargs", "mlipcheck.suites.test_errors", "--model",
                                f"{Path(__file__).parent / 'broken_models.py'}:soft_on_molecules",
                                "--reference", str(path), "-p", "no:cacheprovider", "-rA")
    out = result.stdout.str()
    assert "FAILED" in out and "test_force_error[soft_on_molecules-molecule]" in out
    result.assert_outcomes(passed=9, failed=3, skipped=4)  # 4 skips: uncertainty needs 2 models
    # a --reference file that is not there is the user's mistake: exit 4 before any test
    missing = pytester.runpytest("--pyargs", "mlipcheck.suites.test_errors", "--model", "emt", "--reference",
                                 str(path), "--reference", str(tmp_path / "missing.extxyz"), "-p", "no:cacheprovider")
    assert missing.ret == 4 and "does not exist" in missing.stderr.str()


def test_default_set_exists_and_states_its_method():
    molecules, crystals = (load_reference(path) for path in default_sets())
    assert molecules.classes == ["ionic", "molecule"] and not molecules.problems
    assert crystals.classes == ["2d", "covalent", "disordered", "ionic", "metal", "surface"] and not crystals.problems
    assert all(sum(f.material_class == c for f in crystals.frames) >= 6 for c in crystals.classes)
    for frame in molecules.frames:
        info = frame.atoms.info
        assert info["method"] == "PBE" and info["code"].startswith("PySCF") and "basis" in info
        assert frame.forces is not None and frame.energy is not None and not frame.atoms.pbc.any()
    for frame in crystals.frames:  # one cutoff and smearing for all: energies comparable in the file
        info = frame.atoms.info
        assert info["method"] == "PBE" and info["code"].startswith("GPAW") and info["ecut_eV"] == 700.0
        assert info["smearing"] == "marzari-vanderbilt 0.1 eV" and frame.forces is not None
        assert np.linalg.norm(frame.forces.sum(axis=0)) < 2e-3  # eV/A: forces of a periodic cell sum to zero
        # stress on bulk cells (not on slabs and sheets: it depends on the vacuum); the ionic
        # crystals' from the cutoff where it converged to 0.1 GPa (README, stress.txt)
        bulk_cell = frame.material_class in ("metal", "covalent", "disordered", "ionic")
        assert (frame.stress is not None) == bulk_cell, (frame.material_class, info["config_type"])
        assert ("stress_ecut_eV" in info) == (frame.material_class == "ionic"), info["config_type"]
        # k-points per reciprocal A: metals 5.0, metal slabs 7.0, the rest 4.0; MoS2 and Cu(100)
        # denser, where convergence.txt showed their forces still moving
        metal = set(frame.atoms.get_chemical_symbols()) <= {"Cu", "Al", "W", "Mg", "Au", "Zn"}
        slab = frame.material_class in ("surface", "2d")
        density = {"2D MoS2": 5.5, "surface Cu(100)": 13.0}.get(info["config_type"], 7.0 if metal and slab else
                                                                5.0 if metal else 4.0)
        assert info["k_density_per_A"] == density, info["config_type"]


def _fake(label_errors):
    """SetPredictions of one class from {frame: (model force, reference force)} per frame."""
    from mlipcheck.checks.accuracy.predictions import FrameResult, SetPredictions

    rows = [FrameResult(i, f"f:{i}", "metal", 1, ["Cu"], None, 0.0, np.array([[ref, 0, 0]]),
                        np.array([[got, 0, 0]]), None, None) for i, (got, ref) in enumerate(label_errors)]
    return [SetPredictions(None, rows, {}, {}, {})]


def test_uncertainty_ranks_errors_and_fails_when_it_does_not(broken, sections):
    from mlipcheck.checks.accuracy.reference_errors import check_uncertainty

    models = [broken("correct"), broken("correct")]
    truth = np.linspace(1.0, 2.0, 10)
    # committee spread grows with the error: Spearman 1, the flagged 20 % hold the largest errors
    by_model = [_fake([(2 * t, 0.0) for t in truth]), _fake([(0.0, 0.0) for t in truth])]
    good = check_uncertainty(*committee_of(models, by_model, "metal"), sections)
    assert good.passed and good.value == pytest.approx(1.0)
    assert good.details["error_share_in_flagged"] > 0.2
    # spread large where the committee mean is right, small where it is wrong: fails
    by_model = [_fake([(t + 1 / t, 0.0) for t in truth]), _fake([(t - 1 / t, 0.0) for t in truth])]
    bad = check_uncertainty(*committee_of(models, by_model, "metal"), sections)
    assert not bad.passed and bad.value == pytest.approx(-1.0)


def test_committee_of_real_and_soft_model_flags_the_soft_class(broken, tmp_path, sections):
    from mlipcheck.checks.accuracy.reference_errors import check_uncertainty

    reference = load_reference(emt_set(tmp_path / "emt.extxyz"))
    models = [broken("correct"), broken("soft_on_molecules")]
    m = check_uncertainty(*committee_of(models, [[predict_set(x, reference)] for x in models], "molecule"), sections)
    assert m.passed and m.value > 0.9, m.describe()


@needs_shared
@pytest.mark.skipif(__import__("importlib").util.find_spec("chgnet") is None, reason="needs chgnet")
@pytest.mark.real_model
def test_chgnet_metrics_equal_numpy_through_its_own_calculator(sections):
    """The suite evaluates CHGNet through its batched path; numpy here goes through CHGNet's ASE
    calculator frame by frame. Same numbers (float32)."""
    from chgnet.model.dynamics import CHGNetCalculator

    from mlipcheck.adapters import load_model, parse_model_specs

    model = load_model(parse_model_specs(["chgnet"])[0])
    path = SHARED / "mlearn" / "Si_test.extxyz"
    predictions = [predict_set(model, load_reference(path))]
    frames = read(path, ":")
    calculator = CHGNetCalculator(model=model.calculator.model, use_device="cpu")
    f_ref, f_model, e_raw = [], [], []
    for atoms in frames:
        f_ref.append(atoms.get_forces())
        e_ref = atoms.get_potential_energy()
        atoms.calc = calculator
        f_model.append(atoms.get_forces())
        e_raw.append((atoms.get_potential_energy() - e_ref) / len(atoms))
    f_ref, f_model = np.concatenate(f_ref), np.concatenate(f_model)
    force = check_force_error(None, ClassFrames("semiconductor", predictions), sections)
    energy = check_energy_error(None, ClassFrames("semiconductor", predictions), sections)
    assert force.details["mae_mev_per_A"] == pytest.approx(1e3 * np.abs(f_model - f_ref).mean(), rel=1e-5)
    assert energy.details["mae_raw_mev_per_atom"] == pytest.approx(1e3 * np.abs(e_raw).mean(), rel=1e-5)
    assert force.details["softening_scale"] == pytest.approx((f_ref * f_model).sum() / (f_ref**2).sum(), rel=1e-5)


def test_frames_whose_forces_do_not_sum_to_zero_are_left_out(tmp_path):
    frames = read(emt_set(tmp_path / "set.extxyz"), ":")
    broken_frame = frames[0].copy()
    forces = frames[0].get_forces().copy()
    forces[0] += [1.0, 0.0, 0.0]  # 1 eV/A of drift: what our first PySCF Mg frames looked like, 500x over
    broken_frame.calc = SinglePointCalculator(broken_frame, energy=frames[0].get_potential_energy(), forces=forces)
    write(tmp_path / "drift.extxyz", frames + [broken_frame], format="extxyz")
    reference = load_reference(tmp_path / "drift.extxyz")
    assert len(reference.frames) == len(frames)
    assert "forces sum to 1 eV/A" in reference.problems[0]


def test_uncertainty_and_transferability_without_data_are_not_passes(broken, sections):
    from mlipcheck.checks.accuracy.reference_errors import check_uncertainty
    from mlipcheck.engine.measurement import NotApplicable

    models = [broken("correct"), broken("correct")]
    same = [_fake([(1.0, 0.0)] * 6), _fake([(1.0, 0.0)] * 6)]  # no spread anywhere: nothing to rank
    with pytest.raises(NotApplicable, match="same on every frame"):
        check_uncertainty(*committee_of(models, same, "metal"), sections)
    with pytest.raises(NotApplicable, match="need 4"):
        check_uncertainty(*committee_of(models, [_fake([(1.0, 0.0)] * 3), _fake([(2.0, 0.0)] * 3)], "metal"), sections)
    with pytest.raises(NotApplicable, match="two classes"):
        check_transferability(None, ClassFrames('all classes', _fake([(1.0, 0.5)] * 3)), sections)


def test_calibration_tells_an_error_bar_from_an_overconfident_spread():
    """Residuals drawn from N(0, sigma): calibrated. The same residuals with sigma reported 5x
    too small (an overconfident committee) or 5x too large: far from it."""
    from mlipcheck.engine.statistics import calibration

    rng = np.random.default_rng(0)
    sigma = rng.uniform(0.01, 0.5, 20000)
    residual = rng.normal(0.0, sigma)
    good = calibration(residual, sigma)
    assert good["miscalibration_area"] < 0.02 and good["ence"] < 0.05
    assert good["error_over_spread"] == pytest.approx(1.0, abs=0.03)
    over = calibration(residual, sigma / 5)
    under = calibration(residual, sigma * 5)
    assert over["miscalibration_area"] > 0.3 and over["ence"] > 2 and over["error_over_spread"] > 4
    assert under["miscalibration_area"] > 0.3 and under["ence"] > 0.7


def test_the_periodic_set_script_refuses_a_second_smearing_for_the_frames():
    """`--smearing` is for elastic constants only: frames of two smearings in one file would make
    its energies incomparable (the error suite aligns one energy per element per file). The guard
    runs before GPAW is imported, so this needs ASE only."""
    script = ROOT / "fixtures" / "reference_set" / "make_periodic_set.py"
    result = subprocess.run([sys.executable, str(script), "frames", "--smearing", "0.3"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "--smearing is for `elastic` only" in result.stderr
