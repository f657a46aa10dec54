"""MLIP Arena's diatomic metrics, held against Arena's own records.

    python scripts/arena_compare.py ARENA.json [REPORT.json]

ARENA.json: Arena's per-element records of one model (name, R, E, F and its metrics), e.g. the
run behind its published table:
    git -C mlip-arena show a959782:mlip_arena/tasks/diatomics/chgnet/homonuclear-diatomics.json
Prints, metric by metric, the mean of Arena's stored values, the mean of mlipcheck's
arena_metrics recomputed from Arena's stored curves (the definitions: these must agree), and with
REPORT.json (a run of `--mlipcheck-profile arena -m arena`) mlipcheck's own run: its means, and
the elements whose values differ most from Arena's, each with |dE| and |dF| between the curves
where both have the same grid.
"""
from __future__ import annotations

import json
import sys

import numpy as np

from mlipcheck.checks.extrapolation.arena import METRICS, arena_metrics

# mlipcheck's metric names -> Arena's record keys
ARENA_KEYS = {"force_flips": "force-flip-times", "energy_jump_eV": "energy-jump",
              "conservation_deviation_eV_per_A": "conservation-deviation", "tortuosity": "tortuosity",
              "spearman_repulsive_energy": "spearman-repulsion-energy",
              "spearman_repulsive_force": "spearman-descending-force"}


def mean(values) -> float:
    """As pandas' mean: NaN and None left out."""
    kept = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(kept)) if kept else float("nan")


def main(argv) -> int:
    if not argv:
        print(__doc__)
        return 2
    records = json.loads(open(argv[0]).read())
    stored, recomputed, curves = {}, {}, {}
    for row in records:
        symbol = row["name"][: len(row["name"]) // 2]
        r, e, f = (np.asarray(row[k], float) for k in ("R", "E", "F"))
        far = int(np.argmax(r))
        curves[symbol] = (r, e - e[far], f)
        stored[symbol] = {k: row.get(ARENA_KEYS[k]) for k in METRICS}
        recomputed[symbol] = arena_metrics(*curves[symbol])
    run = None
    if len(argv) > 1:
        report = json.loads(open(argv[1]).read())
        summary = next(info["arena_diatomics"] for info in report["models"].values() if "arena_diatomics" in info)
        run = summary["per_element"]
    print(f"{len(records)} elements in {argv[0]}")
    header = f"{'metric':34s} {'Arena stored':>13s} {'mlipcheck on Arena curves':>26s}"
    print(header + (f" {'mlipcheck run':>14s}" if run else ""))
    for k in METRICS:
        line = (f"{k:34s} {mean(v[k] for v in stored.values()):13.4f} "
                f"{mean(v[k] for v in recomputed.values()):26.4f}")
        if run:
            line += f" {mean(v[k] for v in run.values()):14.4f}"
        print(line)
    worst = max(abs((stored[s][k] or 0) - recomputed[s][k]) if np.isfinite(recomputed[s][k]) else 0
                for s in stored for k in METRICS)
    print(f"largest per-element difference, Arena stored vs recomputed: {worst:.3g}")
    if run:
        for k in METRICS:
            gaps = sorted(((abs((run[s][k] or 0) - (stored[s][k] or 0)), s) for s in run if s in stored), reverse=True)
            print(f"{k}: largest gaps {', '.join(f'{s} {g:.3g}' for g, s in gaps[:5])}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
