"""The HTML report: one self-contained file (plots inline as PNG data), readable offline.

Failures and errors first, each with its measured value, threshold, structure and reproduction
line; then the verdict table per suite and model, the models side by side, dimer curves with
every model on the same axes, and every result.
"""
from __future__ import annotations

import base64
import html
import io
from collections import Counter, defaultdict

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3}.failed{background:#fde2e1}.error{background:#fff1cc}
.passed{background:#e3f6e5}.skipped{color:#777}.verdict{font-size:28px;font-weight:bold}
code{font-size:12px;word-break:break-all}.plots img{width:380px;margin:4px;border:1px solid #ddd}
"""


def _esc(value) -> str:
    return html.escape("" if value is None else str(value))


def _num(value) -> str:
    return f"{value:.3g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else _esc(value)


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def dimer_plots(data) -> list[str]:
    """One plot per element pair, every model's curve on the same axes (E relative to the
    isolated atoms), from the curves that test_dimer_finite records."""
    import matplotlib

    matplotlib.use("Agg")
    # labels are model names and material classes: "$" in them is text, not TeX math
    matplotlib.rcParams["text.parse_math"] = False
    import matplotlib.pyplot as plt

    curves = defaultdict(dict)
    for r in data["results"]:
        details = r.get("details") or {}
        if r["check"] == "dimer_finite" and "curve_r" in details:
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


def eos_plots(data) -> list[str]:
    """E(V) of each model (points and Birch-Murnaghan fit) with the reference's fitted curve."""
    from mlipcheck.checks.eos import EosFit
    from ase.units import GPa

    import numpy as np

    by_case = defaultdict(dict)
    for r in data["results"]:
        d = r.get("details") or {}
        if r["check"] == "eos_delta" and "curve_V" in d:
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


def phonon_plots(data) -> list[str]:
    """Band path (model vs reference) and density of states, per reference and model."""
    import numpy as np

    images = []
    for r in data["results"]:
        d = r.get("details") or {}
        if r["check"] != "phonon_reference" or "band_model_THz" not in d:
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


def parity_plots(data) -> list[str]:
    """Model against reference, energy and forces, per material class and model."""
    images = []
    for r in data["results"]:
        d = r.get("details") or {}
        key, label = (("parity_energy", "E − composition mean (eV/atom)") if r["check"] == "energy_error" else
                      ("parity_forces", "F component (eV/Å)") if r["check"] == "force_error" else (None, None))
        if key is None or not d.get(key):
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


def throughput_plots(data) -> list[str]:
    """Time per call and peak memory against the number of atoms, every model on shared axes."""
    rows = {r["model"]: r["details"] for r in data["results"]
            if r["check"] == "scaling" and (r.get("details") or {}).get("sizes")}
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


def render(data) -> str:
    run, results = data["run"], data["results"]
    counts = Counter(r["outcome"] for r in results)
    verdict = "PASS" if not (counts["failed"] or counts["error"]) else "FAIL"
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>mlipcheck {verdict}</title>"
             f"<style>{STYLE}</style></head><body>",
             f"<div class='verdict {'passed' if verdict == 'PASS' else 'failed'}'>mlipcheck: {verdict}</div>",
             f"<p>{counts['passed']} passed, {counts['failed']} failed, {counts['error']} errors, "
             f"{counts['skipped']} skipped. Profile <b>{_esc(run['profile'])}</b>, mlipcheck "
             f"{_esc(run['mlipcheck_version'])}, {_esc(run['date'])}"
             f"{'' if run.get('finished') else ' (<b>run did not finish</b>)'}.</p>",
             f"<p><code>{_esc(run['command_line'])}</code></p>"]

    bad = [r for r in results if r["outcome"] in ("failed", "error")]
    parts.append(f"<h2>Failures and errors ({len(bad)})</h2>")
    if bad:
        specs = {label: info.get("spec", label) for label, info in data.get("models", {}).items()}
        parts.append("<table><tr><th>test</th><th>outcome</th><th>measured</th><th>threshold</th>"
                     "<th>what</th><th>structure / reproduce</th></tr>")
        for r in bad:
            reproduce = (f"mlipcheck eval --model {specs.get(r['model'], r['model'])} {r['structure']}"
                         if r["structure"] else "")
            parts.append(
                f"<tr class='{_esc(r['outcome'])}'><td><code>{_esc(r['test_id'].split('::')[-1])}</code></td>"
                f"<td>{_esc(r['outcome'])}</td><td>{_num(r['value'])} {_esc(r['unit'])}</td><td>{_num(r['threshold'])}</td>"
                f"<td>{_esc(r['metric'] or r['message'])}</td><td><code>{_esc(reproduce)}</code></td></tr>")
        parts.append("</table>")
    else:
        parts.append("<p>None.</p>")

    table = defaultdict(Counter)
    for r in results:
        table[(r["suite"], r["model"] or "-")][r["outcome"]] += 1
    parts.append("<h2>Verdicts per suite and model</h2><table><tr><th>suite</th><th>model</th><th>passed</th>"
                 "<th>failed</th><th>errors</th><th>skipped</th></tr>")
    for (suite, model), c in sorted(table.items()):
        parts.append(f"<tr><td>{_esc(suite)}</td><td>{_esc(model)}</td><td class='passed'>{c['passed']}</td>"
                     f"<td class='{'failed' if c['failed'] else ''}'>{c['failed']}</td>"
                     f"<td class='{'error' if c['error'] else ''}'>{c['error']}</td><td>{c['skipped']}</td></tr>")
    parts.append("</table>")

    models = data.get("models", {})
    if models:
        keys = ["spec", "framework", "version", "dtype", "cutoff", "stress", "load_seconds"]
        parts.append("<h2>Models</h2><table><tr><th></th>" + "".join(f"<th>{_esc(m)}</th>" for m in models) + "</tr>")
        for key in keys + ["elements"]:
            cells = []
            for info in models.values():
                value = info.get(key)
                if key == "elements":
                    value = f"{len(value)}: {' '.join(value[:20])}{' ...' if len(value) > 20 else ''}" if value else "any"
                cells.append(f"<td>{_esc(value)}</td>")
            parts.append(f"<tr><th>{key}</th>{''.join(cells)}</tr>")
        model_time = defaultdict(float)
        for r in results:
            model_time[r["model"]] += r.get("model_seconds") or 0.0
        parts.append("<tr><th>time in model calls (s)</th>" +
                     "".join(f"<td>{model_time[m]:.1f}</td>" for m in models) + "</tr></table>")

    for title, plots in (("Dimer curves", dimer_plots), ("Equations of state", eos_plots),
                         ("Phonons against the reference", phonon_plots),
                         ("Parity against reference data", parity_plots), ("Throughput", throughput_plots)):
        images = plots(data)
        if images:
            parts.append(f"<h2>{title}</h2><div class='plots'>" + "".join(images) + "</div>")

    parts.append("<h2>All results</h2><details><summary>show</summary><table><tr><th>test</th><th>outcome</th>"
                 "<th>metric</th><th>value</th><th>threshold</th><th>s (model)</th></tr>")
    for r in sorted(results, key=lambda r: ("passed", "skipped").index(r["outcome"]) + 1
                    if r["outcome"] in ("passed", "skipped") else 0):
        parts.append(f"<tr class='{_esc(r['outcome'])}'><td><code>{_esc(r['test_id'].split('::')[-1])}</code></td>"
                     f"<td>{_esc(r['outcome'])}</td><td>{_esc(r['metric'] or r['message'])}</td><td>{_num(r['value'])} "
                     f"{_esc(r['unit'])}</td><td>{_num(r['threshold'])}</td><td>{_num(r['duration_s'])} "
                     f"({_num(r['model_seconds'])})</td></tr>")
    parts.append("</table></details></body></html>")
    return "\n".join(parts)
