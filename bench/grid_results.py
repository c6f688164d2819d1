"""The final results of a tuned grid slice as results lines, and their table.

    KDBENCH_RUNS=DIR python bench/grid_results.py SWEEP [--only m1,m2] [--cells GLOB]
        [--storage URL] --out docs/results/ltd_tuned.jsonl
    python bench/grid_results.py --table --out docs/results/ltd_tuned.jsonl [--pairs ltd:kd]

Reads the sweep's Optuna studies (the journal under ``$KDBENCH_RUNS/<sweep>/`` or
``--storage``), never MLflow: per finished cell (every final seed done) the best tuning
trial's values (each final seed's own study under nested selection; a shared study's on the
mean validation score over the tuning seeds), the selection and protocol kind, the trials used
and the final seeds' validation and test scores, the only test figures of a grid. A line has
the per-seed fields of the reproduction scripts' lines (``seeds``, ``val``, ``test``), so the
same table cells and paired tests read it; the line of a cell already in ``--out`` is
replaced. Provenance: the machine and commit of this export, and the hardware tag the runner
logged with the final seeds when an MLflow store is at hand.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _results import cell, load_rows, paired


def cell_row(env: Any, c: Any) -> dict[str, Any] | None:
    """The results line of cell ``c`` (None until all its final seeds are done). ``params``
    and ``tuning_value`` are the shared study's best trial; under nested selection
    ``params_per_seed`` and ``tuning_value_per_seed`` hold each final seed's own study's."""
    from optuna.trial import TrialState

    from benchmark.runner.cellrun import cell_params, selection_of
    from benchmark.runner.studies import load
    from benchmark.runner.sweep import cell_trials
    from benchmark.selection import protocol_kind

    studies = load(env, c)
    done = {
        int(t.user_attrs["seed"]): t
        for t in studies.final.get_trials(deepcopy=False)
        if t.state == TrialState.COMPLETE
    }
    seeds = sorted(done)
    if seeds != sorted(env.sweep.budget.final_seeds):
        return None
    trials = [t for st in studies.tuning.values() for t in st.get_trials(deepcopy=False)]
    count = {
        s.name.lower(): sum(t.state == s for t in trials)
        for s in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    }
    test = [float(done[s].value) for s in seeds]
    val = [float(done[s].user_attrs["val"]) for s in seeds]
    mode = selection_of(env, c)
    best = {seed: st.best_trial for seed, st in studies.tuning.items()}
    shared = best.get(None)
    defaults = {} if best else cell_params(env, c, {})
    return {
        "cell": c.key,
        "sweep": c.sweep,
        "method": c.method,
        "dataset": c.dataset,
        "backbone": c.backbone,
        "teacher": c.teacher,
        "protocol": c.protocol,
        "fixed": dict(c.fixed),
        "selection": mode,
        "protocol_kind": protocol_kind(c.resolved_protocol(), mode),
        "params": shared.params if shared else defaults,
        "tuning_value": shared.value if shared else None,
        "params_per_seed": {str(k): b.params for k, b in best.items() if k is not None},
        "tuning_value_per_seed": {str(k): b.value for k, b in best.items() if k is not None},
        "trials": count,
        "budget": cell_trials(env.sweep, c),
        "tuning_seeds": env.sweep.budget.tuning_seeds if mode == "shared" else None,
        "seeds": seeds,
        "val": val,
        "test": test,
        "val_mean": statistics.fmean(val),
        "test_mean": statistics.fmean(test),
        "test_std": statistics.stdev(test) if len(test) > 1 else None,
    }


def export(
    sweep_path: str, only: str | None, cells: str | None, storage: str | None, out: Path
) -> int:
    """Write (replace) the lines of the selected finished cells; returns how many."""
    import torch

    from benchmark.runner.launch import Selection, make_env
    from benchmark.runner.sweep import expand, load_sweep
    from benchmark.tracking import git_sha, hardware, tracking_uri

    sweep = load_sweep(sweep_path)
    env = make_env(sweep, storage, "cpu", track=False)
    chosen = Selection(only, cells).apply(expand(sweep))
    logged = _logged_hardware(tracking_uri(), sweep.name)
    stamp = {
        "exported": datetime.date.today().isoformat(),
        "git_sha": git_sha(),
        "export_machine": hardware(torch.device("cpu")),
        "command": f"python bench/grid_results.py {sweep_path}"
        + "".join(f" {k} '{v}'" for k, v in (("--only", only), ("--cells", cells)) if v),
    }
    rows = {r["cell"]: r for r in load_rows(out)}
    new = 0
    for c in chosen:
        try:
            row = cell_row(env, c)
        except KeyError:  # the cell's studies do not exist yet
            row = None
        if row is not None:
            rows[c.key] = row | {"hardware": logged.get(c.key)} | stamp
            new += 1
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(r) + "\n" for r in rows.values()))
    return new


def _logged_hardware(uri: str, sweep: str) -> dict[str, str]:
    """Cell key → the hardware tag of its final runs in the MLflow store (empty if none)."""
    try:
        from benchmark.results.aggregate import final_runs

        runs = final_runs(uri, sweep)
    except Exception:  # no store here: the line says so with hardware null
        return {}
    if runs.empty or "hardware" not in runs:
        return {}
    return {k: ", ".join(sorted(set(g["hardware"].dropna()))) for k, g in runs.groupby("cell")}


def table(out: Path, pairs: list[tuple[str, str]]) -> str:
    """Per (dataset, backbone, protocol): each method's test mean ± std with its trials, then
    the paired differences ``a − b`` over the final seeds (two-sided Wilcoxon)."""
    rows = load_rows(out)
    methods = list(dict.fromkeys(r["method"] for r in rows))
    groups: dict[tuple, dict[str, dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["backbone"], r["protocol"]), {})[r["method"]] = r
    head = ["dataset", "backbone", *methods, *(f"{a} − {b}, paired" for a, b in pairs)]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for (ds, bb, _), by in groups.items():
        cells = [f"{cell(by.get(m))}" for m in methods]
        tests = [paired(by.get(a), by.get(b)) for a, b in pairs]
        lines.append("| " + " | ".join([ds, bb, *cells, *tests]) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("sweep", nargs="?")
    ap.add_argument("--only", default=None)
    ap.add_argument("--cells", default=None)
    ap.add_argument("--storage", default=None)
    ap.add_argument("--out", required=True)
    ap.add_argument("--table", action="store_true", help="print the markdown table and exit")
    ap.add_argument("--pairs", default="", help="a:b,... paired differences in the table")
    args = ap.parse_args()
    out = Path(args.out)
    if args.table:
        pairs = [tuple(p.split(":")) for p in args.pairs.split(",") if p]
        print(table(out, pairs))
        return
    if not args.sweep:
        ap.error("give the sweep file (or --table)")
    n = export(args.sweep, args.only, args.cells, args.storage, out)
    print(f"{n} finished cell(s) written to {out}")


if __name__ == "__main__":
    main()
