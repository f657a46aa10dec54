"""The report's plots, one drawing function per check kind, registered by the check's name.

`@plot("eos_delta", title=...)` hands the function the result records of that check (their
details hold the curves); report.html shows each registered plot under its title, in this order.
tests/test_report.py checks that every registered name is a check of the suites, so a renamed
test cannot silently drop its plot. A new check draws its figure here, next to the others.
"""
from __future__ import annotations

import base64
import io
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from mlipcheck.report.record import escape as _esc
from mlipcheck.report.record import format_number as _num


@dataclass(frozen=True)
class Plot:
    checks: tuple[str, ...]  # the check names whose records it draws
    title: str
    draw: Callable[[list[dict]], list[str]]  # records -> <img> tags


PLOTS: list[Plot] = []


def plot(*checks: str, title: str):
    def register(draw):
        PLOTS.append(Plot(checks, title, draw))
        return draw

    return register


def sections(data) -> list[tuple[str, list[str]]]:
    """(title, images) of every registered plot that has something to draw in this run."""
    out = []
    for entry in PLOTS:
        records = [r for r in data["results"] if r["check"] in entry.checks]
        try:
            images = entry.draw(records) if records else []
        except Exception as error:  # noqa: BLE001 - a plot's bug must not cost the run its report
            images = [f"<p>this plot could not be drawn: {_esc(type(error).__name__)}: {_esc(str(error))}</p>"]
        if images:
            out.append((entry.title, images))
    return out


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


@plot("dimer_finite", title="Dimer curves")
def dimer_plots(records) -> list[str]:
    """One plot per element pair, every model's curve on the same axes (E relative to the
    isolated atoms), from the curves that test_dimer_finite records."""
    import matplotlib

    matplotlib.use("Agg")
    # labels are model names and material classes: "$" in them is text, not TeX math
    matplotlib.rcParams["text.parse_math"] = False
    import matplotlib.pyplot as plt

    curves = defaultdict(dict)
    for r in records:
        details = r.get("details") or {}
        if "curve_r" in details:
            curves[r["case"]][r["model"]] = (details["curve_r"], details["curve_E"])
    images = []
    for pair, by_model in sorted(curves.items()):
        figure, axis = plt.subplots(figsize=(4.8, 3.4))
        for model, (r, e) in sorted(by_model.items()):
            axis.plot(r, e, label=model, lw=1.2)
        axis.axhline(0, color="#999", lw=0.6)
        axis.set_ylim(-12, 12)
        axis.set_xlabel("r (Å)")
        axis.set_ylabel("E − E(isolated) (eV)")
        axis.set_title(pair)
        axis.legend(fontsize=7)
        images.append(f'<img alt="{_esc(pair)}" src="{_png(figure)}">')
        plt.close(figure)
    return images


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    # labels are model names and material classes: "$" in them is text, not TeX math
    matplotlib.rcParams["text.parse_math"] = False
    import matplotlib.pyplot as plt

    return plt, *plt.subplots(figsize=(4.8, 3.4))


def _image(plt, figure, title) -> str:
    out = f'<img alt="{_esc(title)}" src="{_png(figure)}">'
    plt.close(figure)
    return out


@plot("eos_delta", title="Equations of state")
def eos_plots(records) -> list[str]:
    """E(V) of each model (points and Birch-Murnaghan fit) with the reference's fitted curve."""
    import numpy as np
    from ase.units import GPa

    from mlipcheck.checks.properties.eos import EosFit

    by_case = defaultdict(dict)
    for r in records:
        d = r.get("details") or {}
        if "curve_V" in d:
            by_case[r["case"]][r["model"]] = d
    images = []
    for case, by_model in sorted(by_case.items()):
        plt, figure, axis = _figure()
        reference = None
        for model, d in sorted(by_model.items()):
            fit = EosFit(d["V0_model"], 0.0, d["B0_model_GPa"] * GPa, d["Bp_model"])
            v = np.linspace(min(d["curve_V"]), max(d["curve_V"]), 100)
            line, = axis.plot(v, 1e3 * fit.energy(v), lw=1.2, label=f"{model} (B-M fit)")
            axis.plot(d["curve_V"], 1e3 * np.array(d["curve_E"]), "o", ms=3, color=line.get_color())
            reference = EosFit(d["V0_reference"], 0.0, d["B0_reference_GPa"] * GPa, d["Bp_reference"])
            axis.plot(v, 1e3 * reference.energy(v), "k--", lw=1, label="reference" if model == min(by_model) else None)
        axis.set_xlabel("V (Å³/atom)")
        axis.set_ylabel("E − E0 (meV/atom)")
        axis.set_title(f"{case}: equation of state")
        axis.legend(fontsize=7)
        images.append(_image(plt, figure, case))
    return images


@plot("phonon_reference", title="Phonons against the reference")
def phonon_plots(records) -> list[str]:
    """Band path (model vs reference) and density of states, per reference and model."""
    import numpy as np

    images = []
    for r in records:
        d = r.get("details") or {}
        if "band_model_THz" not in d:
            continue
        plt, figure, axis = _figure()
        x = np.arange(len(d["band_model_THz"]))
        axis.plot(x, d["band_reference_THz"], "k-", lw=0.8)
        axis.plot(x, d["band_model_THz"], "r--", lw=0.8)
        axis.plot([], [], "k-", label="reference")
        axis.plot([], [], "r--", label=r["model"])
        axis.set_xlabel("q: Γ→X1, Γ→X2, Γ→X3, Γ→R (12 points each)")
        axis.set_ylabel("frequency (THz)")
        axis.set_title(f"{r['case']}: phonon bands")
        axis.legend(fontsize=7)
        images.append(_image(plt, figure, r["case"]))
        plt, figure, axis = _figure()
        centres = 0.5 * (np.array(d["dos_bins_THz"][1:]) + np.array(d["dos_bins_THz"][:-1]))
        axis.plot(centres, d["dos_reference"], "k-", lw=1, label="reference")
        axis.plot(centres, d["dos_model"], "r--", lw=1, label=r["model"])
        axis.set_xlabel("frequency (THz)")
        axis.set_ylabel("DOS (normalised)")
        axis.set_title(f"{r['case']}: phonon DOS")
        axis.legend(fontsize=7)
        images.append(_image(plt, figure, r["case"]))
    return images


@plot("energy_error", "force_error", title="Parity against reference data")
def parity_plots(records) -> list[str]:
    """Model against reference, energy and forces, per material class and model."""
    images = []
    for r in records:
        d = r.get("details") or {}
        key, label = (("parity_energy", "E − composition mean (eV/atom)") if r["check"] == "energy_error" else
                      ("parity_forces", "F component (eV/Å)"))
        if not d.get(key):
            continue
        plt, figure, axis = _figure()
        ref, got = zip(*d[key])
        low, high = min(ref + got), max(ref + got)
        axis.plot([low, high], [low, high], color="#999", lw=0.8)
        axis.plot(ref, got, ".", ms=3)
        axis.set_xlabel(f"reference {label}")
        axis.set_ylabel(f"{r['model']} {label}")
        axis.set_title(f"{r['case']}: {r['check'].replace('_', ' ')} ({_num(r['value'])} {r['unit']})")
        images.append(_image(plt, figure, r["case"]))
    return images


@plot("scaling", title="Throughput")
def throughput_plots(records) -> list[str]:
    """Time per call and peak memory against the number of atoms, every model on shared axes."""
    rows = {r["model"]: r["details"] for r in records if (r.get("details") or {}).get("sizes")}
    if not rows:
        return []
    images = []
    for key, label in (("cpu_s_one_thread", "CPU time per call, one thread (s)"),
                       ("peak_rss_mb", "peak resident memory (MB)")):
        plt, figure, axis = _figure()
        for model, d in sorted(rows.items()):
            points = [(n, v) for n, v in zip(d["sizes"], d.get(key) or []) if v is not None]
            if points:
                axis.loglog(*zip(*points), "o-", ms=3, label=model)
        axis.set_xlabel("atoms")
        axis.set_ylabel(label)
        axis.set_title(f"throughput: {label.split(' (')[0]}")
        axis.legend(fontsize=7)
        images.append(_image(plt, figure, label))
    return images


@plot("migration_path", title="Vacancy migration (climbing-image NEB)")
def migration_plots(records) -> list[str]:
    """The band's energies along the path, and the same profile integrated from its forces."""
    images = []
    for r in records:
        d = r.get("details") or {}
        if "band_E_eV" not in d:
            continue
        plt, figure, axis = _figure()
        axis.plot(d["band_path_A"], d["band_E_eV"], "o-", ms=4, lw=1.2, label=f"{r['model']}: E(image)")
        axis.plot(d["band_path_A"], d["band_E_from_forces_eV"], "k--", lw=0.8, label="integral of -F.dR")
        if d.get("reference_barrier_eV") is not None:
            axis.axhline(d["reference_barrier_eV"], color="#c33", lw=0.8, ls=":", label="PBE barrier")
        axis.set_xlabel("distance along the band (Å, all atoms)")
        axis.set_ylabel("E − E(initial) (eV)")
        axis.set_title(f"{r['case']}: vacancy jump, barrier {d['barrier_eV']:.3g} eV")
        axis.legend(fontsize=7)
        images.append(_image(plt, figure, r["case"]))
    return images


@plot("elastic_softening", title="Elastic constants against the reference")
def elastic_plots(records) -> list[str]:
    """Each model's C_ij against the reference's, every crystal on one parity plot per model: the
    slope of the points is the softening the verdict gates."""
    points = defaultdict(list)
    for r in records:
        d = r.get("details") or {}
        for key, value in d.items():
            if key.startswith("C") and key.endswith("_reference_GPa") and f"{key[:3]}_GPa" in d:
                points[r["model"]].append((r["case"], key[:3], value, d[f"{key[:3]}_GPa"]))
    images = []
    for model, rows in sorted(points.items()):
        plt, figure, axis = _figure()
        ref = [p[2] for p in rows]
        got = [p[3] for p in rows]
        high = max(ref + got) * 1.05
        axis.plot([0, high], [0, high], color="#999", lw=0.8)
        for constant, marker in (("C11", "o"), ("C12", "s"), ("C44", "^")):
            chosen = [p for p in rows if p[1] == constant]
            if chosen:
                axis.plot([p[2] for p in chosen], [p[3] for p in chosen], marker, ms=4, ls="", label=constant)
        for case, constant, x, y in rows:
            if constant == "C11":
                axis.annotate(case, (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points")
        axis.set_xlabel("reference C_ij (GPa)")
        axis.set_ylabel(f"{model} C_ij (GPa)")
        axis.set_title(f"{model}: elastic constants (slope = softening)")
        axis.legend(fontsize=7)
        images.append(_image(plt, figure, model))
    return images


@plot("surface_energy_error", title="Surface energies against PBE")
def surface_plots(records) -> list[str]:
    """Each model's gamma(111) and gamma(100) against the PBE table, one parity plot per model,
    with the gate's band (|error| <= tolerance) drawn around the diagonal."""
    points, tolerance = defaultdict(list), {}
    for r in records:
        d = r.get("details") or {}
        for facet in ("111", "100"):
            if f"gamma_{facet}_reference_J_m2" in d:  # a skipped record (no reference) has none
                tolerance[r["model"]] = r["threshold"]
                points[r["model"]].append((r["case"], facet, d[f"gamma_{facet}_reference_J_m2"], d[f"gamma_{facet}_J_m2"]))
    images = []
    for model, rows in sorted(points.items()):
        plt, figure, axis = _figure()
        high = max([p[2] for p in rows] + [p[3] for p in rows]) * 1.1
        band = tolerance[model]
        axis.plot([0, high], [0, high], color="#999", lw=0.8)
        axis.fill_between([0, high], [0, high * (1 - band)], [0, high * (1 + band)], color="#ddd", alpha=0.5,
                          label=f"±{100 * band:.0f} %")
        for facet, marker in (("111", "o"), ("100", "s")):
            chosen = [p for p in rows if p[1] == facet]
            axis.plot([p[2] for p in chosen], [p[3] for p in chosen], marker, ms=4, ls="", label=f"({facet})")
        for case, facet, x, y in rows:
            if facet == "111":
                axis.annotate(case, (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points")
        axis.set_xlabel("PBE γ (J/m²)")
        axis.set_ylabel(f"{model} γ (J/m²)")
        axis.set_title(f"{model}: surface energies")
        axis.legend(fontsize=7)
        images.append(_image(plt, figure, model))
    return images
