"""Diff two report.json files of the same run, test by test: every field but timings and paths.

    python scripts/diff_reports.py before/report.json after/report.json [--rtol 1e-4]

With --rtol, numbers (also inside details and messages) count as equal within that relative
tolerance (or 1e-9 absolute), and a difference is named by its path inside the field: for a change
that batches model calls, where a float32 model's sums run in another order (issue 28).

Made for refactoring (issue 17): a change that moves code must leave every verdict, value,
threshold, detail and message of a run as it was. Exit status 1 when anything differs.
Fields only one side has (a new field) are listed, not counted as differences.
"""
import json
import math
import re
import sys

IGNORED = {"duration_s", "model_seconds", "structure"}  # timings, and paths under the report folder
# Checks whose values are times or memory measured on the machine: only their outcome is compared.
MEASURED = {"memory_growth", "scaling", "throughput"}


def results(path):
    return {r["test_id"]: r for r in json.load(open(path))["results"]}


def strip_paths(value, folder):
    """Messages name the written structure's path: compare them without the folder."""
    return value.replace(folder, "<report>") if isinstance(value, str) and folder else value


NUMBER = re.compile(r"-?\d+\.?\d*(?:e[-+]?\d+)?")


def close(a, b, rtol) -> bool:
    return a == b or (isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool)
                      and math.isclose(a, b, rel_tol=rtol, abs_tol=1e-9))


def leaf_differences(old, new, rtol, path=""):
    """Paths inside a field where `old` and `new` differ beyond `rtol` (texts: their numbers)."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [d for k in sorted(set(old) | set(new), key=str)
                for d in leaf_differences(old.get(k), new.get(k), rtol, f"{path}.{k}")]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [d for i, (a, b) in enumerate(zip(old, new)) for d in leaf_differences(a, b, rtol, f"{path}[{i}]")]
    if isinstance(old, str) and isinstance(new, str):
        a, b = NUMBER.findall(old), NUMBER.findall(new)
        same_words = NUMBER.sub("#", old) == NUMBER.sub("#", new)
        if same_words and len(a) == len(b) and all(close(float(x), float(y), rtol) for x, y in zip(a, b)):
            return []
    return [] if close(old, new, rtol) else [f"{path}: {old!r} -> {new!r}"]


def main(before_path, after_path, rtol=None):
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
            if rtol is not None:
                differences += [f"{test_id}: {key}{d}" for d in leaf_differences(old, new, rtol)]
            elif old != new:
                differences.append(f"{test_id}: {key}: {old!r} -> {new!r}")
    print(f"{len(before)} tests before, {len(after)} after; {len(differences)} differences")
    if only_one_side:
        print(f"fields on one side only (not compared): {', '.join(sorted(only_one_side))}")
    for line in differences:
        print("  " + line)
    return 1 if differences else 0


if __name__ == "__main__":
    args = sys.argv[1:]
    rtol = None
    if "--rtol" in args:
        at = args.index("--rtol")
        rtol = float(args[at + 1])
        del args[at:at + 2]
    sys.exit(main(*args[:2], rtol=rtol))
