"""Diff two report.json files of the same run, test by test: every field but timings and paths.

    python scripts/diff_reports.py before/report.json after/report.json

Made for refactoring (issue 17): a change that moves code must leave every verdict, value,
threshold, detail and message of a run as it was. Exit status 1 when anything differs.
Fields only one side has (a new field) are listed, not counted as differences.
"""
import json
import sys

IGNORED = {"duration_s", "model_seconds", "structure"}  # timings, and paths under the report folder
# Checks whose values are times or memory measured on the machine: only their outcome is compared.
MEASURED = {"memory_growth", "scaling", "throughput"}


def results(path):
    return {r["test_id"]: r for r in json.load(open(path))["results"]}


def strip_paths(value, folder):
    """Messages name the written structure's path: compare them without the folder."""
    return value.replace(folder, "<report>") if isinstance(value, str) and folder else value


def main(before_path, after_path):
    before, after = results(before_path), results(after_path)
    folders = {}
    for path, rows in ((before_path, before), (after_path, after)):
        structures = [r["structure"] for r in rows.values() if r.get("structure")]
        folders[path] = structures[0].rsplit("/structures/", 1)[0] if structures else ""
    differences, only_one_side = [], set()
    for test_id in sorted(set(before) | set(after)):
        if test_id not in before or test_id not in after:
            differences.append(f"{test_id}: only in {'after' if test_id in after else 'before'}")
            continue
        a, b = before[test_id], after[test_id]
        only_one_side |= set(a) ^ set(b)
        keys = {"outcome"} if a["check"] in MEASURED else (set(a) & set(b)) - IGNORED
        for key in sorted(keys):
            old, new = strip_paths(a[key], folders[before_path]), strip_paths(b[key], folders[after_path])
            if old != new:
                differences.append(f"{test_id}: {key}: {old!r} -> {new!r}")
    print(f"{len(before)} tests before, {len(after)} after; {len(differences)} differences")
    if only_one_side:
        print(f"fields on one side only (not compared): {', '.join(sorted(only_one_side))}")
    for line in differences:
        print("  " + line)
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
