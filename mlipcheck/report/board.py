"""Models side by side: one page (Markdown and HTML) from the report.json of several runs.

A row per check and target (the test id without the model's label, as `compare` matches them), a
column per model, each cell the verdict and its value; the per-class errors against reference
data and MLIP Arena's diatomic metrics across models; and, apart from the failures, what each
model skipped because it does not declare the elements. Runs that differ in how they were made
(profile, seed, mlipcheck version, an unfinished run) are put side by side with the difference
said at the top, since their numbers need not compare.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from mlipcheck.report import _key
from mlipcheck.report.record import escape, format_number

RUN_KEYS = ("profile", "seed", "mlipcheck_version", "finished")
ERROR_CHECKS = ("energy_error", "force_error", "stress_error", "softening")
UNDECLARED = "does not declare"  # the skip message of a target whose elements a model lacks


@dataclass
class Board:
    columns: list[str]  # one per model of every run, in the order given
    rows: dict[str, dict[str, dict]] = field(default_factory=dict)  # test key -> column -> record
    differences: list[str] = field(default_factory=list)  # how the runs were made differently
    arena: dict[str, dict] = field(default_factory=dict)  # column -> Arena's means
    undeclared: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # column -> test keys
    other_skips: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))


def build(runs: list[dict]) -> Board:
    """The board of `runs` (loaded report.json dicts, e.g. by mlipcheck.report.load)."""
    columns, per_run = [], []
    for index, data in enumerate(runs):
        labels = sorted({r["model"] for r in data["results"] if r["model"]} | set(data.get("models", {})))
        named = {}
        for label in labels:
            column = label if label not in columns else f"{label} (run {index + 1})"
            columns.append(column)
            named[label] = column
        per_run.append(named)
    board = Board(columns)
    for key in RUN_KEYS:
        values = [str(data["run"].get(key)) for data in runs]
        if len(set(values)) > 1:
            board.differences.append(f"{key}: " + ", ".join(f"run {i + 1} {v}" for i, v in enumerate(values)))
    for data, named in zip(runs, per_run):
        for label, info in data.get("models", {}).items():
            if "arena_diatomics" in info and label in named:
                board.arena[named[label]] = info["arena_diatomics"]["means"]
        for record in data["results"]:
            column = named.get(record["model"])
            if column is None:  # a test of no model (the run's own): not a column
                continue
            key = _key(record)
            board.rows.setdefault(key, {})[column] = record
            if record["outcome"] == "skipped":
                bucket = board.undeclared if UNDECLARED in (record["message"] or "") else board.other_skips
                bucket[column].append(key)
    return board


def cell(record: dict | None) -> tuple[str, str]:
    """(text, outcome class) of one model's result in one row."""
    if record is None:
        return "not run", "missing"
    outcome, value = record["outcome"], record["value"]
    number = f" {format_number(value)}" if isinstance(value, (int, float)) else ""
    if outcome == "skipped":
        return ("not declared" if UNDECLARED in (record["message"] or "") else "skipped"), "skipped"
    return {"passed": "pass", "failed": "FAIL", "error": "ERROR"}[outcome] + number, outcome


def _unit(records: dict) -> str:
    return next((r["unit"] for r in records.values() if r.get("unit")), "")


def error_table(board: Board) -> list[tuple[str, str, dict[str, str]]]:
    """(class, metric, column -> value text) for the per-class errors against reference data."""
    out = []
    for _, records in sorted(board.rows.items()):
        sample = next(iter(records.values()))
        if sample["check"] not in ERROR_CHECKS:
            continue
        label = f"{sample['check']} ({_unit(records)})" if _unit(records) else sample["check"]
        out.append((sample["case"] or "", label, {c: cell(records.get(c))[0] for c in board.columns}))
    return sorted(out)


ARENA_COLUMNS = (("force_flips", "force flips"), ("energy_jump_eV", "energy jump (eV)"),
                 ("conservation_deviation_eV_per_A", "conservation dev. (eV/Å)"), ("tortuosity", "tortuosity"),
                 ("spearman_repulsive_energy", "ρ(r,E) rep."), ("spearman_repulsive_force", "ρ(r,F) rep."))


def markdown(board: Board) -> str:
    lines = ["## mlipcheck: models side by side", ""]
    if board.differences:
        lines += ["**These runs were made differently; their numbers need not compare:** " +
                  "; ".join(board.differences), ""]
    totals = {c: defaultdict(int) for c in board.columns}
    for records in board.rows.values():
        for column in board.columns:
            totals[column][cell(records.get(column))[1]] += 1
    lines += ["| model | passed | failed | errors | not declared / skipped |", "|---|---:|---:|---:|---:|"]
    for column in board.columns:
        t = totals[column]
        lines.append(f"| {column} | {t['passed']} | {t['failed']} | {t['error']} | "
                     f"{len(board.undeclared[column])} / {len(board.other_skips[column])} |")
    table = error_table(board)
    if table:
        lines += ["", "### Errors against reference data, per material class", "",
                  "| class | metric | " + " | ".join(board.columns) + " |", "|---|---|" + "---|" * len(board.columns)]
        lines += [f"| {cls} | {metric} | " + " | ".join(values[c] for c in board.columns) + " |"
                  for cls, metric, values in table]
    if board.arena:
        lines += ["", "### MLIP Arena diatomics (means over elements, Arena's definitions)", "",
                  "| model | " + " | ".join(title for _, title in ARENA_COLUMNS) + " |",
                  "|---|" + "---:|" * len(ARENA_COLUMNS)]
        for column, means in board.arena.items():
            lines.append(f"| {column} | " + " | ".join(format_number(means.get(k)) for k, _ in ARENA_COLUMNS) + " |")
    lines += ["", "### Every check and target", "", "| test | unit | " + " | ".join(board.columns) + " |",
              "|---|---|" + "---|" * len(board.columns)]
    for key, records in sorted(board.rows.items()):
        lines.append(f"| `{key}` | {_unit(records)} | " +
                     " | ".join(cell(records.get(c))[0] for c in board.columns) + " |")
    lines += ["", "### Not judged because the model does not declare the elements", ""]
    for column in board.columns:
        skipped = board.undeclared[column]
        lines.append(f"- {column}: {len(skipped)}" + (f" ({', '.join(sorted(skipped)[:8])}"
                                                      f"{', ...' if len(skipped) > 8 else ''})" if skipped else ""))
    return "\n".join(lines) + "\n"


STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:left}th{background:#f3f3f3}
.failed{background:#fde2e1}.error{background:#fff1cc}.passed{background:#e3f6e5}
.skipped,.missing{color:#888}.warn{background:#fff1cc;padding:.5em}code{font-size:12px}
"""


def html(board: Board) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in board.columns)
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>mlipcheck board</title><style>{STYLE}"
             "</style></head><body><h1>mlipcheck: models side by side</h1>"]
    if board.differences:
        parts.append("<p class='warn'><b>These runs were made differently; their numbers need not compare:</b> "
                     + escape("; ".join(board.differences)) + "</p>")
    table = error_table(board)
    if table:
        parts.append(f"<h2>Errors against reference data, per material class</h2><table><tr><th>class</th>"
                     f"<th>metric</th>{head}</tr>")
        for cls, metric, values in table:
            parts.append(f"<tr><td>{escape(cls)}</td><td>{escape(metric)}</td>" +
                         "".join(f"<td>{escape(values[c])}</td>" for c in board.columns) + "</tr>")
        parts.append("</table>")
    if board.arena:
        parts.append("<h2>MLIP Arena diatomics</h2><table><tr><th>model</th>" +
                     "".join(f"<th>{escape(t)}</th>" for _, t in ARENA_COLUMNS) + "</tr>")
        for column, means in board.arena.items():
            parts.append(f"<tr><td>{escape(column)}</td>" +
                         "".join(f"<td>{format_number(means.get(k))}</td>" for k, _ in ARENA_COLUMNS) + "</tr>")
        parts.append("</table>")
    parts.append(f"<h2>Every check and target</h2><table><tr><th>test</th><th>unit</th>{head}</tr>")
    for key, records in sorted(board.rows.items()):
        cells = [cell(records.get(c)) for c in board.columns]
        parts.append(f"<tr><td><code>{escape(key)}</code></td><td>{escape(_unit(records))}</td>" +
                     "".join(f"<td class='{kind}'>{escape(text)}</td>" for text, kind in cells) + "</tr>")
    parts.append("</table><h2>Not judged because the model does not declare the elements</h2><ul>")
    for column in board.columns:
        parts.append(f"<li>{escape(column)}: {len(board.undeclared[column])}</li>")
    parts.append("</ul></body></html>")
    return "\n".join(parts)
