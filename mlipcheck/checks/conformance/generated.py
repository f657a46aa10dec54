"""Invariance checks on Hypothesis-generated structures, with shrinking to a minimal failure.

Plain function (no pytest): runs translation, rotation, permutation and net-force checks on up to
`max_examples` drawn structures; returns the Measurement of the minimal failing structure Hypothesis
found, or a passing Measurement that says how many structures were tried. The same seed draws
the same structures: `--mlipcheck-seed` reproduces a failure.
"""
from __future__ import annotations

from hypothesis import HealthCheck, Phase, given
from hypothesis import seed as hypothesis_seed
from hypothesis import settings as hypothesis_settings

from mlipcheck.checks.conformance.consistency import check_net_force
from mlipcheck.checks.conformance.symmetry import check_permutation, check_rotation, check_translation
from mlipcheck.engine.context import as_context
from mlipcheck.engine.measurement import Measurement
from mlipcheck.structures.cases import Case
from mlipcheck.structures.elements import FALLBACK_ELEMENTS
from mlipcheck.structures.strategies import structures


class _Failed(AssertionError):
    pass


def check_generated_structures(ctx, target, settings) -> Measurement:
    """`settings`: the profile's [hypothesis], [invariance] and [net_force] sections
    (`profile.sections("hypothesis", "invariance", "net_force")`): how many structures, and the
    tolerances of the checks run on each."""
    ctx = as_context(ctx)
    model, seed = ctx.model, ctx.seed
    drawn, invariance, net_force = settings.hypothesis, settings.invariance, settings.net_force
    elements = model.elements or FALLBACK_ELEMENTS
    tried = []
    failures = []

    @hypothesis_seed(seed)
    @hypothesis_settings(max_examples=int(drawn.max_examples), deadline=None, database=None,
              suppress_health_check=list(HealthCheck),
              phases=[Phase.generate, Phase.shrink] if drawn.shrink else [Phase.generate])
    @given(structures(elements, max_atoms=int(drawn.max_atoms), cutoff=model.cutoff or 6.0))
    def property_holds(atoms):
        case = Case(f"generated {atoms.get_chemical_formula()}", atoms, "generated")
        tried.append(case.name)
        for result in (check_translation(ctx, case, invariance),
                       check_rotation(ctx, case, invariance),
                       check_permutation(ctx, case, invariance),
                       check_net_force(ctx, case, net_force)):
            if not result.passed:
                failures.append(result)
                raise _Failed(result.describe())

    try:
        property_holds()
    except _Failed:
        # Hypothesis replays the minimal failing example last: that is the one to hand over.
        minimal = failures[-1]
        minimal.details["structures_tried"] = len(tried)
        minimal.details["reproduce_with"] = f"--mlipcheck-seed {seed}"
        return minimal
    return Measurement("generated_structures", "structures that broke an invariance", 0, "structures",
                       0, True, case=f"{len(tried)} generated structures", seed=seed,
                       details={"tried": len(tried)})
