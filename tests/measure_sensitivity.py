"""Measures the smallest defect each conformance check detects (not a test; run it by hand).

Each broken model's defect is linear in its amplitude, and a correct float64 model's errors are
~1e-9 of the thresholds, so the smallest amplitude a check catches is amplitude * threshold /
measured error, on the most sensitive case. Prints a table for the notes.

    python tests/measure_sensitivity.py
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from conftest import load_broken as broken  # noqa: E402
from test_conformance import CASES, CHECKS  # noqa: E402

from mlipcheck.profiles import load_profile  # noqa: E402

DEFECTS = {  # broken model -> (check, amplitude, unit of the amplitude)
    "rotation_broken": ("rotation", 0.005, "eV per bond (orientation term)"),
    "translation_broken": ("translation", 0.003, "eV (centroid term)"),
    "permutation_broken": ("permutation", 0.004, "eV per bond (index-weighted term)"),
    "inconsistent_forces": ("forces_finite_difference", 0.02, "relative force scaling"),
    "stress_scaled": ("stress_finite_strain", 0.03, "relative stress scaling"),
    "coordination_drift": ("net_force", 0.05, "eV/A per unit coordination (direct force)"),
    "constant_offset": ("supercell", 0.01, "eV per structure"),
}


def main():
    profile = load_profile("quick")
    print(f"{'check':26s} {'float64 model':>14s} {'float32 model':>14s}  unit of the defect")
    for name, (check_name, amplitude, unit) in DEFECTS.items():
        row = []
        for dtype in ("float64", "float32"):  # float32: the same model judged with float32 tolerances
            check, section, applies = CHECKS[check_name]
            model = broken(name, dtype=dtype)
            row.append(min(amplitude * r.threshold / r.value for r in
                           (check(model, case, profile.section(section)) for case in CASES
                            if applies(case.atoms))))
        print(f"{check_name:26s} {row[0]:14.2e} {row[1]:14.2e}  {unit}")


if __name__ == "__main__":
    main()
