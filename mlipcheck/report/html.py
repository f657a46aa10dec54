"""The HTML report: one self-contained file (plots inline as PNG data), readable offline.

Failures and errors first, each with its measured value, threshold, structure and reproduction
line; then the verdict table per suite and model, the models side by side, dimer curves with
every model on the same axes, and every result.
"""
from __future__ import annotations

from collections import Counter, defaultdict

from mlipcheck.report import failure_rows, plots, verdict_table
from mlipcheck.report.record import display_name
from mlipcheck.report.record import escape as _esc
from mlipcheck.report.record import format_number as _num

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3}.failed{background:#fde2e1}.error{background:#fff1cc}
.passed{background:#e3f6e5}.skipped{color:#777}.verdict{font-size:28px;font-weight:bold}
code{font-size:12px;word-break:break-all}.plots img{width:380px;margin:4px;border:1px solid #ddd}
"""


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

    bad = failure_rows(data)
    parts.append(f"<h2>Failures and errors ({len(bad)})</h2>")
    if bad:
        parts.append("<table><tr><th>test</th><th>outcome</th><th>measured</th><th>threshold</th>"
                     "<th>what</th><th>structure / reproduce</th></tr>")
        for r in bad:
            parts.append(
                f"<tr class='{_esc(r['outcome'])}'><td><code>{_esc(r['display'])}</code></td>"
                f"<td>{_esc(r['outcome'])}</td><td>{_num(r['value'])} {_esc(r['unit'])}</td><td>{_num(r['threshold'])}</td>"
                f"<td>{_esc(r['metric'] or r['message'])}</td><td><code>{_esc(r['reproduce'])}</code></td></tr>")
        parts.append("</table>")
    else:
        parts.append("<p>None.</p>")

    parts.append("<h2>Verdicts per suite and model</h2><table><tr><th>suite</th><th>model</th><th>passed</th>"
                 "<th>failed</th><th>errors</th><th>skipped</th></tr>")
    for suite, model, c in verdict_table(data):
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

    for title, images in plots.sections(data):
        parts.append(f"<h2>{title}</h2><div class='plots'>" + "".join(images) + "</div>")

    parts.append("<h2>All results</h2><details><summary>show</summary><table><tr><th>test</th><th>outcome</th>"
                 "<th>metric</th><th>value</th><th>threshold</th><th>s (model)</th></tr>")
    for r in sorted(results, key=lambda r: ("passed", "skipped").index(r["outcome"]) + 1
                    if r["outcome"] in ("passed", "skipped") else 0):
        parts.append(f"<tr class='{_esc(r['outcome'])}'><td><code>{_esc(display_name(r))}</code></td>"
                     f"<td>{_esc(r['outcome'])}</td><td>{_esc(r['metric'] or r['message'])}</td><td>{_num(r['value'])} "
                     f"{_esc(r['unit'])}</td><td>{_num(r['threshold'])}</td><td>{_num(r['duration_s'])} "
                     f"({_num(r['model_seconds'])})</td></tr>")
    parts.append("</table></details></body></html>")
    return "\n".join(parts)
