"""The `mlipcheck` command.

    mlipcheck run --model chgnet [pytest options]   run the installed suites (exit code: pytest's)
    mlipcheck models                                 adapters known here and whether each loads
    mlipcheck eval --model SPEC FILE.extxyz          one model on one structure (reproduce a failure)

Exit codes: 0 all passed, 1 a check failed or errored, 2 usage error (unknown model, bad option),
other pytest codes as pytest defines them.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

USAGE_ERROR = 2


def _run(args, rest) -> int:
    import pytest

    import mlipcheck.suites

    suites = str(Path(mlipcheck.suites.__file__).parent)
    argv = [suites, "-p", "no:cacheprovider"]
    for spec in args.model:
        argv += ["--model", spec]
    return int(pytest.main(argv + rest))


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
    from mlipcheck.checks.evaluate import evaluate

    model = load_model(parse_model_specs([args.model[0]])[0])
    for index, atoms in enumerate(read(args.structure, index=":")):
        prediction = evaluate(model, atoms)
        print(f"frame {index}: {atoms.get_chemical_formula()} ({len(atoms)} atoms), "
              f"energy {prediction.energy:.8f} eV")
        print("forces (eV/A):")
        for symbol, force in zip(atoms.get_chemical_symbols(), prediction.forces):
            print(f"  {symbol:2s} {force[0]:14.8f} {force[1]:14.8f} {force[2]:14.8f}")
        if prediction.stress is not None:
            print(f"stress (eV/A^3, 3x3):\n{prediction.stress}")
    return 0


def main(argv=None) -> int:
    from mlipcheck.errors import MlipcheckError

    parser = argparse.ArgumentParser(prog="mlipcheck", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the installed suites; other options go to pytest")
    run.add_argument("--model", action="append", default=[], required=True)
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
        return _eval(args)
    except MlipcheckError as exc:
        print(f"mlipcheck: {exc}", file=sys.stderr)
        return USAGE_ERROR if type(exc).__name__ == "UsageError" else 1


if __name__ == "__main__":
    sys.exit(main())
