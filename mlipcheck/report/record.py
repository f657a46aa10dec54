"""The result record: one per test, built where the test runs and carried whole to every output.

Fields known before the test runs (ids, model, suite, check, case) come from the test item and its
target; the verdict adds the Measurement's numbers; the report adds outcome, message and duration.
report.json, summary.md, report.html, JUnit and to_label.extxyz all read this record: nothing is
parsed back out of a test id. Under pytest-xdist it travels from worker to controller as one JSON
user property (RECORD_PROPERTY).
"""
from __future__ import annotations

import html
import json
import shlex

RECORD_PROPERTY = "mlipcheck_record"
# Record fields also written as flat JUnit properties (mlipcheck_value, ...): what a CI system shows.
JUNIT_FIELDS = ("model", "case", "metric", "value", "relation", "unit", "threshold", "passed", "structure", "details",
                "model_seconds")


def new_record(test_id: str, name: str, suite: str, check: str, model: str | None, case: str,
               material_class: str | None) -> dict:
    """A record before its test has run: no measurement, no outcome."""
    return {"test_id": test_id, "name": name, "model": model, "suite": suite, "check": check, "case": plain(case),
            "material_class": plain(material_class), "metric": None, "value": None, "relation": "<=", "unit": None,
            "threshold": None, "passed": False, "outcome": None, "message": None, "structure": None, "to_label": [],
            "details": None, "duration_s": None, "model_seconds": None}


def add_measurement(record: dict, measurement) -> None:
    """The Measurement's headline and details (JSON-plain: numpy scalars as numbers)."""
    for key in ("value", "threshold", "unit", "metric", "relation"):
        record[key] = plain(getattr(measurement, key))
    record["details"] = json.loads(json.dumps(measurement.details, default=str)) if measurement.details else None


def finish(record: dict, outcome: str, message: str | None, duration_s: float) -> dict:
    """The outcome of the test: passed, failed, error or skipped."""
    record.update(outcome=outcome, passed=outcome == "passed", message=message, duration_s=round(duration_s, 4))
    return record


def plain(value):
    """numpy scalars as Python numbers and strings (numpy.str_ included): user properties cross
    processes under xdist, whose serializer knows only Python's own types."""
    if isinstance(value, str):
        return str(value)
    return value.item() if hasattr(value, "item") and not isinstance(value, bytes) else value


def display_name(record: dict) -> str:
    """The test's name with its parameters, e.g. test_rotation[emt-Cu_fcc] (reports written
    before the record had `name` fall back to the end of the test id)."""
    return record.get("name") or record["test_id"].split("::")[-1]


def reproduction(spec_text: str, path) -> str:
    """The one line that evaluates a model on a written structure (quoted for a shell)."""
    return f"mlipcheck eval --model {shlex.quote(spec_text)} {shlex.quote(str(path))}"


def escape(value) -> str:
    """Text for HTML."""
    return html.escape("" if value is None else str(value))


def format_number(value) -> str:
    """A number to 3 significant digits; anything else as escaped text."""
    return f"{value:.3g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else escape(value)


def junit_properties(record: dict) -> list[tuple[str, object]]:
    """The record as flat JUnit properties (mlipcheck_value, ...; details as JSON)."""
    return [(f"mlipcheck_{key}", json.dumps(record[key]) if isinstance(record[key], dict) else plain(record[key]))
            for key in JUNIT_FIELDS if record[key] is not None]
