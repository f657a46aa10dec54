"""The `mlipcheck` command.

    mlipcheck run --model chgnet [pytest options]   run the installed suites (exit code: pytest's)
    mlipcheck run --model X --baseline OLD.json      run, then gate on regressions against OLD
    mlipcheck compare OLD.json NEW.json              what got better or worse between two runs
    mlipcheck report RUN.json --html OUT.html        re-render a run's report (or --markdown OUT.md)
    mlipcheck report merge A.json B.json -o DIR      one report from the shards of a run (--mlipcheck-shard)
    mlipcheck report board A.json B.json -o DIR      models side by side: board.md and board.html
    mlipcheck models                                 adapters known here and whether each loads
    mlipcheck eval --model SPEC FILE.extxyz          one model on one structure (reproduce a failure)

Exit codes: `run` returns pytest's (0 all passed, 1 a check failed or errored, 4 usage error);
with --baseline, 1 means a regression against the baseline and 0 none. `compare`: 0 no
regression, 1 regressions. 2: mlipcheck's own usage errors.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

USAGE_ERROR = 2


def _run(args, rest) -> int:
    import pytest

    import mlipcheck.suites

    if args.baseline is not None:  # a missing or foreign baseline is said now, not after the whole run
        from mlipcheck import report

        report.load_baseline(args.baseline)
    suites = str(Path(mlipcheck.suites.__file__).parent)
    argv = [suites, "-p", "no:cacheprovider", "--mlipcheck-report", args.report]
    for spec in args.model:
        argv += ["--model", spec]
    code = int(pytest.main(argv + rest))
    if args.baseline is None or code not in (0, 1):
        return code
    return _gate(args.baseline, str(Path(args.report) / "report.json"), args.tolerance, _allowances(args))


def _gate(old_path, new_path, tolerance, allow=()) -> int:
    from mlipcheck import report

    result = report.compare(report.load_baseline(old_path), report.load(new_path), tolerance, allow)
    for title, rows in (("regressions", result.regressions), ("improvements", result.improvements),
                        ("not compared", result.not_compared)):
        print(f"{len(rows)} {title}")
        for row in rows[:200]:
            print(f"  {row['test']}: {row['why']}")
        if len(rows) > 200:
            print(f"  ... {len(rows) - 200} more")
    for reason in result.refusals:
        option = reason_option(reason)
        print(f"gate refused: {reason}" + (f" (allow it with --allow-{option})" if option else ""))
    print("gate: PASS" if result.gate_passes else "gate: FAIL")
    return 0 if result.gate_passes else 1


def reason_option(reason: str) -> str | None:
    """The --allow-X option that accepts a refusal, or None where none may (a sharded candidate)."""
    from mlipcheck.report import ALLOWANCES

    return next((k for k, text in ALLOWANCES.items() if text in reason), None)


def tolerance_option(text: str) -> float:
    value = float(text)
    if not (value >= 0 and value != float("inf")):  # NaN compares false: refused here too
        raise argparse.ArgumentTypeError(f"{text}: give a finite number >= 0 (0.1: worse by 10 % counts)")
    return value


def _allowances(args) -> tuple:
    return tuple(k for k in ("unfinished", "missing", "skipped") if getattr(args, f"allow_{k}"))


def _gate_options(command):
    command.add_argument("--tolerance", type=tolerance_option, default=0.1, help="relative worsening that counts (0.1)")
    command.add_argument("--allow-unfinished", action="store_true", help="gate an unfinished candidate run")
    command.add_argument("--allow-missing", action="store_true", help="accept baseline tests the candidate lacks")
    command.add_argument("--allow-skipped", action="store_true", help="accept passed -> skipped")


def _models(args) -> int:
    from mlipcheck.adapters import known_adapters, load_model, parse_model_specs
    from mlipcheck.errors import MlipcheckError

    for name in known_adapters():
        try:
            model = load_model(parse_model_specs([name])[0])
            elements = len(model.elements) if model.elements else "any"
            print(f"{name:10s} usable   {model.framework} {model.dtype}, cutoff {model.cutoff}, "
                  f"{elements} elements, loaded in {model.load_seconds:.1f} s")
        except MlipcheckError as exc:
            print(f"{name:10s} unusable {exc}")
    print("also: mace:PATH, nequip:PATH, pkg.module:callable, path/to/file.py:callable")
    return 0


def _eval(args) -> int:
    from ase.io import read

    from mlipcheck.adapters import load_model, parse_model_specs
    from mlipcheck.engine.evaluate import evaluate
    from mlipcheck.errors import UsageError

    try:
        frames = read(args.structure, index=":")
    except Exception as exc:  # noqa: BLE001 - ASE raises many types for unknown formats and malformed files
        raise UsageError(f"{args.structure}: not a structure file ASE can read ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}); give an .extxyz "
                         f"written by mlipcheck or any ASE format") from None
    if not frames:
        raise UsageError(f"{args.structure}: holds no structures")
    model = load_model(parse_model_specs([args.model[0]])[0])
    for index, atoms in enumerate(frames):
        prediction = evaluate(model, atoms)
        print(f"frame {index}: {atoms.get_chemical_formula()} ({len(atoms)} atoms), "
              f"energy {prediction.energy:.8f} eV")
        print("forces (eV/A):")
        for symbol, force in zip(atoms.get_chemical_symbols(), prediction.forces):
            print(f"  {symbol:2s} {force[0]:14.8f} {force[1]:14.8f} {force[2]:14.8f}")
        if prediction.stress is not None:
            print(f"stress (eV/A^3, 3x3):\n{prediction.stress}")
    return 0


def _merge(paths, output, parser) -> int:
    from mlipcheck import report
    from mlipcheck.report.html import render

    if not output:
        parser.error("report merge: give the output folder with -o DIR")
    merged = report.merge([report.load(p) for p in paths])
    folder = Path(output)
    report.write_json(merged, folder)
    (folder / "summary.md").write_text(report.markdown(merged))
    (folder / "report.html").write_text(render(merged))
    report.write_to_label(merged, folder)
    shards = merged["run"]["shards"]
    print(f"merged shards {shards['merged']} of {shards['count']} into {folder}: "
          f"{merged['summary']}" + (f"; MISSING shards {shards['missing']}" if shards["missing"] else ""))
    return 1 if shards["missing"] else 0


def _board(paths, output, parser) -> int:
    from mlipcheck import report
    from mlipcheck.report import board

    if not output or not paths:
        parser.error("report board: give the report.json of each run and the output folder with -o DIR")
    built = board.build([report.load(p) for p in paths])
    folder = Path(output)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "board.md").write_text(board.markdown(built))
    (folder / "board.html").write_text(board.html(built))
    print(f"{len(built.columns)} models ({', '.join(built.columns)}), {len(built.rows)} checks and targets: "
          f"{folder / 'board.md'}, {folder / 'board.html'}" +
          (f"; the runs differ in {'; '.join(built.differences)}" if built.differences else ""))
    return 0


def main(argv=None) -> int:
    from mlipcheck.errors import MlipcheckError

    parser = argparse.ArgumentParser(prog="mlipcheck", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the installed suites; other options go to pytest")
    run.add_argument("--model", action="append", default=[], required=True)
    run.add_argument("--report", default="mlipcheck-report", help="report folder (default mlipcheck-report)")
    run.add_argument("--baseline", help="report.json of the released model: exit 1 on regression")
    _gate_options(run)
    cmp = commands.add_parser("compare", help="per check, what got better or worse; exit 1 on regression")
    cmp.add_argument("old")
    cmp.add_argument("new")
    _gate_options(cmp)
    render = commands.add_parser("report", help="re-render a report.json; merge shards (report merge A B -o DIR); "
                                 "models side by side (report board A B -o DIR)")
    render.add_argument("run_json", nargs="+", help="RUN.json, or: merge SHARD1.json SHARD2.json ...")
    render.add_argument("--markdown", help="where to write the Markdown summary")
    render.add_argument("--html", help="where to write the self-contained HTML report")
    render.add_argument("-o", "--output", help="merge: the folder for report.json, summary.md, report.html")
    commands.add_parser("models", help="list adapters and whether each is usable here")
    one = commands.add_parser("eval", help="evaluate one model on a structure file")
    one.add_argument("--model", action="append", required=True)
    one.add_argument("structure")
    args, rest = parser.parse_known_args(argv)
    if rest and args.command != "run":
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        if args.command == "run":
            return _run(args, rest)
        if args.command == "models":
            return _models(args)
        if args.command == "compare":
            return _gate(args.old, args.new, args.tolerance, _allowances(args))
        if args.command == "report":
            from mlipcheck import report

            if args.run_json[0] == "merge":
                return _merge(args.run_json[1:], args.output, parser)
            if args.run_json[0] == "board":
                return _board(args.run_json[1:], args.output, parser)
            if len(args.run_json) != 1:
                parser.error("report: give one RUN.json (or: report merge A.json B.json ... -o DIR)")
            data = report.load(args.run_json[0])
            if not (args.markdown or args.html):
                parser.error("report: give --markdown OUT.md and/or --html OUT.html")
            if args.markdown:
                Path(args.markdown).write_text(report.markdown(data))
            if args.html:
                from mlipcheck.report.html import render

                Path(args.html).write_text(render(data))
            return 0
        return _eval(args)
    except MlipcheckError as exc:
        print(f"mlipcheck: {exc}", file=sys.stderr)
        return USAGE_ERROR if type(exc).__name__ == "UsageError" else 1
    except (OSError, ValueError) as exc:  # unreadable or foreign report files
        print(f"mlipcheck: {exc}", file=sys.stderr)
        return USAGE_ERROR


if __name__ == "__main__":
    sys.exit(main())
