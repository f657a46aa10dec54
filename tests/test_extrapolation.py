"""Extrapolation checks: each passes EMT and catches the broken model made for it."""
import numpy as np
import pytest
from scipy.stats import spearmanr

from mlipcheck.checks.extrapolation.committee import check_committee
from mlipcheck.checks.extrapolation.crazy_cubes import check_compression, check_crazy_cubes, check_generated_cubes
from mlipcheck.checks.extrapolation.dimers import (
    DimerCurve,
    arena_metrics,
    check_dimer_continuity,
    check_dimer_dissociation,
    check_dimer_finite,
    check_dimer_force_flips,
    check_dimer_forces,
    check_dimer_repulsion,
    dimer_curve,
    force_flips,
)
from mlipcheck.checks.extrapolation.dynamics import check_md_stability, check_nve_drift
from mlipcheck.engine.context import Context
from mlipcheck.engine.measurement import NotApplicable
from mlipcheck.structures import all_cases

CU = next(c for c in all_cases() if c.name == "Cu_fcc")


def committee_of(*models):
    """The context the suite gives committee checks: no model of its own, every model of the run."""
    return Context(None, committee=models)


def applicable(check, *args):
    try:
        return check(*args)
    except NotApplicable:
        return None


def dimer_verdicts(model, pair, section):
    return {
        "finite": check_dimer_finite(model, pair, section),
        "continuity": applicable(check_dimer_continuity, model, pair, section),
        "forces": applicable(check_dimer_forces, model, pair, section),
        "force_flips": check_dimer_force_flips(model, pair, section),
        "repulsion": check_dimer_repulsion(model, pair, section),
        "dissociation": check_dimer_dissociation(model, pair, section),
    }


@pytest.mark.parametrize("pair", [("Cu", "Cu"), ("H", "H"), ("C", "O")])
def test_emt_dimers_pass_every_verdict(broken, pair, quick):
    for result in dimer_verdicts(broken("correct"), pair, quick.section("dimers")).values():
        assert result.passed, result.describe()


@pytest.mark.parametrize("model_name, failing", [
    ("hard_cutoff", {"continuity"}),  # 3 meV per pair at 4 A, forces blind to it
    ("low_wall_hole", {"repulsion"}),
    ("nan_under_compression", {"finite"}),
    ("inconsistent_forces", {"forces"}),
])
def test_broken_dimers_are_caught(broken, model_name, failing, quick):
    verdicts = dimer_verdicts(broken(model_name, elements="Cu"), ("Cu", "Cu"), quick.section("dimers"))
    for name in failing:
        assert not verdicts[name].passed, f"{name} should fail"
    assert verdicts["dissociation"].passed


def test_hard_cutoff_jump_size_is_measured(broken, quick):
    curve = dimer_curve(broken("hard_cutoff"), "H", "H", quick.section("dimers"))
    result = check_dimer_continuity(broken("hard_cutoff"), curve, quick.section("dimers"))
    assert result.value == pytest.approx(0.003, rel=0.2)  # the 3 meV step, found at ~4 A
    assert abs(float(result.metric.split("r = ")[1].split()[0]) - 4.0) < 0.1


def morse(r, depth=2.0, a=1.5, r0=2.2):
    return depth * (1 - np.exp(-a * (r - r0))) ** 2 - depth


def test_arena_metrics_against_an_independent_computation():
    r = np.arange(0.9 * 1.32, 3.1 * 1.40 + 1e-9, 0.01)  # Cu: covalent 1.32 A, vdW 1.40 A
    energy = morse(r)
    force = -np.gradient(energy, r)
    curve = DimerCurve("Cu-Cu", r, energy, force, isolated=0.0, cutoff=6.0)
    metrics = arena_metrics(curve)
    assert metrics["force_flips"] == 1
    assert 0 < metrics["energy_jump_eV"] < 0.005  # Arena counts the well's own turn (two differences > 1 meV)
    assert metrics["tortuosity"] == pytest.approx(1.0, abs=1e-9)
    shifted = energy - energy[-1]
    i_min = int(np.argmin(shifted))
    assert metrics["spearman_repulsive_energy"] == pytest.approx(spearmanr(r[: i_min + 1], shifted[: i_min + 1])[0])
    assert metrics["conservation_deviation_eV_per_A"] == pytest.approx(0.0, abs=1e-12)
    # A wiggle adds flips and tortuosity, as Arena counts them.
    wiggly = DimerCurve("Cu-Cu", r, energy + 0.05 * np.sin(12 * r), force - 0.6 * np.cos(12 * r), 0.0, 6.0)
    assert arena_metrics(wiggly)["force_flips"] > 1 and arena_metrics(wiggly)["tortuosity"] > 1


def arena_analyze(rs, es, fs):
    """MLIP Arena's metrics as its own code computes them (mlip_arena/flows/diatomics.py `analyze`,
    the same lines as run.ipynb at a959782, which made the published table), transcribed: the
    independent computation mlipcheck's arena_metrics is held against."""
    indices = np.argsort(rs)[::-1]
    rs, es, fs = rs[indices], es[indices] - es[indices][0], fs[indices]
    iminf, imine = np.argmin(fs), np.argmin(es)
    de_dr = np.gradient(es, rs)
    rounded = np.copy(fs)
    rounded[np.abs(rounded) < 1e-2] = 0
    sign = np.sign(rounded)
    sign = sign[sign != 0]
    ediff = np.diff(es)
    ediff[np.abs(ediff) < 1e-3] = 0
    esign = np.sign(ediff)
    ediff, esign = ediff[esign != 0], esign[esign != 0]
    eflip = np.diff(esign) != 0
    return {"force_flips": np.sum(np.diff(sign) != 0),
            "energy_jump_eV": np.abs(ediff[:-1][eflip]).sum() + np.abs(ediff[1:][eflip]).sum(),
            "conservation_deviation_eV_per_A": np.mean(np.abs(fs + de_dr)),
            "tortuosity": np.sum(np.abs(np.diff(es))) / (abs(es[0] - es.min()) + (es[-1] - es.min())),
            "spearman_repulsive_energy": spearmanr(rs[imine:], es[imine:]).statistic,
            "spearman_repulsive_force": spearmanr(rs[iminf:], fs[iminf:]).statistic}


def test_arena_metrics_equal_arenas_own_code_on_its_edge_cases():
    """Energy differences below 1 meV are dropped before sign changes are counted (a jump across
    a flat stretch counts); the force Spearman runs from the force minimum inward, not the
    energy minimum; any order of r. On Arena's published CHGNet curves (94 elements, not in this
    repository: scripts/arena_compare.py) the six means agree to 4 decimals, per element to 1e-8."""
    from mlipcheck.checks.extrapolation.arena import arena_metrics as metrics

    r = np.linspace(0.9 * 1.32, 3.1 * 1.96, 500)  # Cu on Arena's grid: Alvarez's vdW radius 1.96 A
    energy = morse(r)
    force = -np.gradient(energy, r) + 0.3 * np.exp(-((r - 1.6) / 0.05) ** 2)  # a bump: force min moves
    energy[300:303] += [0.0004, 0.0, 0.0003]  # sub-meV steps: zeroed and dropped
    energy[200] += 0.02  # a jump across the flat part
    rng = np.random.default_rng(0)
    for order in (np.arange(len(r)), rng.permutation(len(r))):
        ours = metrics(r[order], energy[order] - energy[-1], force[order])
        theirs = arena_analyze(r, energy, force)
        for key, value in theirs.items():
            assert ours[key] == pytest.approx(float(value), rel=1e-12, abs=1e-12), key
    assert np.argmin(force) != np.argmin(energy)  # the two Spearman ranges differ here


def test_force_flips_ignore_small_forces():
    assert force_flips(np.array([5.0, 1.0, 0.005, -0.004, 0.003, -1.0, -0.5])) == 1


def test_crazy_cubes(broken, quick):
    section = quick.section("crazy_cubes")
    assert check_crazy_cubes(broken("correct"), None, section).passed
    hole = check_crazy_cubes(broken("short_range_hole", elements="Cu+Ni+Al"), None, section)
    assert not hole.passed and "a hole" in hole.details["problems"] and hole.atoms is not None
    nan = check_crazy_cubes(broken("nan_under_compression", elements="Cu+Ni+Al"), None, section)
    assert not nan.passed and "non-finite" in nan.details["problems"]


def test_crazy_cubes_bound_forces(broken, full):
    result = check_crazy_cubes(broken("exploding_forces", elements="Cu+Ni+Al"), None, full.section("crazy_cubes"))
    assert not result.passed and "eV/A with no atoms closer than" in result.details["problems"]


def test_generated_cubes_shrink_a_hole(broken, quick):
    section = quick.section("crazy_cubes")
    assert check_generated_cubes(broken("correct"), None, section).passed
    hole = check_generated_cubes(Context(broken("short_range_hole", elements="Cu+Ni+Al"), seed=2), None, section)
    assert not hole.passed and "a hole" in hole.metric and hole.atoms is not None
    assert hole.details["reproduce_with"] == "--mlipcheck-seed 2"


def test_compression(broken, quick):
    section = quick.section("compression")
    assert check_compression(broken("correct"), CU, section).passed
    result = check_compression(broken("nan_under_compression"), CU, section)
    assert not result.passed and "non-finite output at 0.4" in result.metric


def test_md_stability(broken, quick):
    section = quick.section("md")
    assert check_md_stability(broken("correct"), CU, section).passed
    result = check_md_stability(broken("collapses_when_hot"), CU, section)
    assert not result.passed and "hot run" in result.metric and result.details["step"] > 0
    assert result.atoms is not None  # the frame where it went wrong


def test_nve_drift(broken, quick):
    section = quick.section("md")
    good = check_nve_drift(broken("correct"), CU, section)
    assert good.passed and good.value < 0.1 * good.threshold
    bad = check_nve_drift(broken("inconsistent_forces"), CU, section)
    assert not bad.passed


def test_committee_spread_grows_far_from_equilibrium(broken, quick):
    section = quick.section("committee")
    disagreeing = committee_of(broken("correct", elements="Cu"), broken("short_range_hole", elements="Cu"))
    result = check_committee(disagreeing, None, section)
    assert result.passed  # report-only by default
    assert result.details["in_domain_force_spread_eV_per_A"] < 1e-6  # the hole is invisible near equilibrium
    assert result.details["extrapolation_force_spread_eV_per_A"] > 1.0
    # the most uncertain structures are flagged for labelling, largest spread first
    spreads = [float(a.info["mlipcheck_reason"].split()[3]) for a in result.to_label]
    assert 1 <= len(spreads) <= section["label_frames"] and spreads == sorted(spreads, reverse=True)
    assert spreads[-1] > 1.0  # the hole's structures; the fifth candidate (3e-5 eV/A) is not flagged
    assert len(check_committee(committee_of(*[broken("correct", elements="Cu")] * 2), None, section).to_label) == 0  # agreement
    from mlipcheck.profiles import Section

    gated = Section("committee", dict(section.values, max_extrapolation_spread=0.5), quick)
    assert not check_committee(disagreeing, None, gated).passed


def with_values(profile, section, **values):
    """A profile section with some values replaced."""
    from mlipcheck.profiles import Section

    return Section(section, {**profile.section(section).values, **values}, profile)


def test_wiggly_but_conservative_dimer_passes_once_the_difference_converges(broken, quick):
    """A correct model whose force ripple a fixed step cannot resolve: the fixed-step estimate
    (no halving) fails it; the converged one passes it; a 2 % force slip on the same model fails."""
    from mlipcheck.engine.finite_difference import converged_derivative

    section = with_values(quick, "dimers", force_points=120)
    model = broken("wiggly_core", elements="Cu")
    curve = dimer_curve(model, "Cu", "Cu", section)
    result = check_dimer_forces(model, curve, section)
    assert result.passed, result.describe()
    assert result.details["smallest_step_A"] < 1e-3  # it had to halve
    # The old fixed steps (h, h/2 and Richardson) at a ripple point: off by more than the tolerance.
    from mlipcheck.checks.extrapolation.dimers import dimer
    from mlipcheck.engine.evaluate import evaluate

    r = 1.876  # a crest of the ripple's force (r / period is whole)
    exact = -evaluate(model, dimer("Cu", "Cu", r)).forces[1, 0]  # dE/dr: the second atom sits at +r along x
    fixed = converged_derivative(lambda d: evaluate(model, dimer("Cu", "Cu", r + d)).energy, 1e-3,
                                 lambda h: 0.0, max_halvings=0)
    converged = converged_derivative(lambda d: evaluate(model, dimer("Cu", "Cu", r + d)).energy, 1e-3,
                                     lambda h: 0.015)
    assert abs(fixed.value - exact) > 0.03 and not fixed.converged
    assert abs(converged.value - exact) < 0.015 and converged.converged


def test_dimer_defects_deep_behind_the_wall_are_notes_not_failures(broken, quick):
    """ShortRangeHole's -1000 eV well lies behind a ~20 eV wall: reported, not failed (quick's
    ceiling is 3 eV); LowWallHole's lies in front of a wall below the ceiling: a failure."""
    section = quick.section("dimers")
    deep = check_dimer_repulsion(broken("short_range_hole", elements="Cu"), ("Cu", "Cu"), section)
    assert deep.passed and "hole at r = " in deep.details["note"]
    low = check_dimer_repulsion(broken("low_wall_hole", elements="Cu"), ("Cu", "Cu"), section)
    assert not low.passed and "no repulsive wall" in low.metric


def synthetic_curve(energy, r, cutoff=5.0):
    force = -np.gradient(energy, r)
    return DimerCurve("Cu-Cu", r, energy, force, 0.0, cutoff)


def test_flips_and_jumps_count_inside_the_judged_region_only(quick):
    """A Morse curve with a jump and force wiggles 10 eV up the wall: outside the region, reported;
    the same jump at 1 eV: a failure."""
    from types import SimpleNamespace

    section = quick.section("dimers")
    r = np.arange(0.3, 6.0, 0.01)
    smooth = morse(r, depth=2.0, a=1.5, r0=2.2)
    at_10 = r[np.argmin(np.abs(smooth - 10.0))] + 0.005
    at_1 = r[np.argmin(np.abs(np.where(r < 2.2, smooth, 99) - 1.0))] + 0.005

    def stepped(where):
        return lambda x: morse(x, depth=2.0, a=1.5, r0=2.2) + (0.5 if x < where else 0.0)

    model = SimpleNamespace(dtype="float64")
    high = np.array([stepped(at_10)(x) for x in r])
    result = check_dimer_continuity(model, synthetic_curve(high, r), section, energy_at=stepped(at_10))
    assert result.passed and result.details["jump_behind_wall_eV"] > 0.4
    low = np.array([stepped(at_1)(x) for x in r])
    failed = check_dimer_continuity(model, synthetic_curve(low, r), section, energy_at=stepped(at_1))
    assert not failed.passed and failed.value == pytest.approx(0.5, rel=0.01), failed.describe()
    wiggly = smooth + np.where(smooth > 8.0, 3.0 * np.sin(r * 60), 0.0)
    flips = check_dimer_force_flips(None, synthetic_curve(wiggly, r), section)
    assert flips.passed and flips.details["flips_whole_curve"] > 2


def test_a_sharp_but_continuous_feature_is_not_a_jump(quick):
    """A Morse curve with a tanh kink 5 mA wide (the force turns by 3 eV/A, as CHGNet's Be-Be at
    1.06 A): on the 0.05 A grid its third differences alternate like a step's; resolved on the
    finer grid it is continuous. A real step of 3 meV at the same place still fails."""
    from types import SimpleNamespace

    section = quick.section("dimers")
    r = np.arange(0.3, 6.0, 0.05)

    def kinked(x):
        return morse(x, depth=2.0, a=1.5, r0=2.2) + 0.015 * np.tanh((x - 4.025) / 0.005)

    def stepped(x):
        return morse(x, depth=2.0, a=1.5, r0=2.2) + (0.003 if x < 4.025 else 0.0)

    model = SimpleNamespace(dtype="float64")
    kink = check_dimer_continuity(model, synthetic_curve(kinked(r), r), section, energy_at=kinked)
    assert kink.passed and kink.details["grid_estimate_eV"] > section["jump_floor"], kink.describe()
    step = check_dimer_continuity(model, synthetic_curve(np.array([stepped(x) for x in r]), r), section,
                                  energy_at=stepped)
    assert not step.passed and step.value == pytest.approx(0.003, rel=0.05), step.describe()


def test_arena_diatomics_on_arena_grid_passes_emt_and_catches_inconsistent_forces(broken):
    """Arena's metrics on its own grid: EMT's dimers are single wells (1 flip, tortuosity 1,
    Spearman -1 on the repulsive side). The gate (forces against the resolved derivative) passes
    EMT at ~5e-5 and fails forces 2 % off the derivative at ~0.02; off outside the arena profile."""
    from ase.data import vdw_alvarez

    from mlipcheck.checks.extrapolation.arena import arena_grid, check_arena_diatomics
    from mlipcheck.engine.measurement import NotApplicable
    from mlipcheck.profiles import load_profile

    grid = arena_grid("Cu")  # Arena's np.linspace with int((r_max - r_min) / 0.01) points
    assert grid[0] == pytest.approx(0.9 * 1.32) and grid[-1] == pytest.approx(3.1 * vdw_alvarez.vdw_radii[29])
    assert len(grid) == int((grid[-1] - grid[0]) / 0.01)
    section = load_profile("arena").section("dimers")
    good = check_arena_diatomics(broken("correct"), None, section)
    assert good.passed and good.value < 1e-3
    means = good.details["model_summary"]["arena_diatomics"]["means"]
    assert means["force_flips"] == 1 and means["tortuosity"] == pytest.approx(1.0, abs=1e-3)
    assert means["spearman_repulsive_energy"] == -1.0
    assert not check_arena_diatomics(broken("inconsistent_forces"), None, section).passed
    with pytest.raises(NotApplicable):
        check_arena_diatomics(broken("correct"), None, load_profile("quick").section("dimers"))
