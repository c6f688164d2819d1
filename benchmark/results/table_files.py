"""Tables of results files that are not in the record (``kind: file`` in ``docs/tables.yaml``):
the official LAD-GNN code's printout (``docs/results/lad_official.jsonl``, written by
``bench/lad_official.py``) and the pre-trained encoders' record
(``docs/results/pretrain_encoders.json``). One renderer per ``render:`` name."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmark.errors import KdbenchError
from benchmark.tracking import REPO

if TYPE_CHECKING:
    from benchmark.results.tables import TableSpec


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def lad_official(path: Path, spec: TableSpec) -> str:
    """One line per (dataset, backbone, α) of the official runner's output (the last one
    written): the best test accuracy per run (%, as the log prints it), their mean ± unbiased
    std, and the official printout's mean ± population std; the published (vanilla → LAD)
    numbers from the spec's ``paper`` (key ``dataset/backbone``)."""
    rows = {(r["dataset"], r["backbone"], r["alpha"]): r for r in _lines(path)}
    lines = [
        "| dataset | backbone | paper (vanilla → LAD) | α | best test accuracy per run "
        "| mean ± std | official printout |",
        "|" + " --- |" * 7,
    ]
    for (ds, bb, alpha), r in rows.items():
        per_run = ", ".join(f"{100 * x['best_test_acc']:.0f}" for x in r["runs"])
        printed = r["official_printout"]
        printed = (
            f"{100 * printed['test_avg_acc']:.2f} ± {100 * printed['test_std_acc']:.2f}"
            if printed
            else "–"
        )
        lines.append(
            f"| {ds} | {bb} | {spec.paper.get(f'{ds}/{bb}', '')} | {alpha:g} | {per_run} | "
            f"{r['mean']:.1f} ± {r['std']:.1f} | {printed} |"
        )
    return "\n".join(lines)


def pretrain_encoders(path: Path, spec: TableSpec) -> str:
    """The encoders' pre-training: corpus sample, epochs, loss of the first and last epoch,
    training time and speed."""
    rec = json.loads(path.read_text())
    lines = [
        "| encoder | molecules | epochs | loss, first → last epoch | training | "
        "molecules/s | hardware, threads, date |",
        "|" + " --- |" * 7,
    ]
    for name, r in rec.items():
        lines.append(
            f"| {name} | {r['molecules']:,} | {r['epochs']} | {r['losses'][0]:.3f} → "
            f"{r['losses'][-1]:.3f} | {r['train_seconds'] / 60:.0f} min | "
            f"{r['molecules_per_second']:.0f} | {r['hardware']}, {r['threads']}, "
            f"{r['date']} |"
        )
    return "\n".join(lines)


RENDERERS: dict[str, Callable[[Path, TableSpec], str]] = {
    "lad_official": lad_official,
    "pretrain_encoders": pretrain_encoders,
}


def render(name: str, spec: TableSpec) -> str:
    """The markdown of the ``kind: file`` table ``name``."""
    if spec.render not in RENDERERS or not spec.file:
        raise KdbenchError(
            f"table {name}: a file table needs file: and render: one of {sorted(RENDERERS)}"
        )
    path = REPO / spec.file
    if not path.is_file():
        raise KdbenchError(f"table {name}: {spec.file} does not exist")
    return RENDERERS[spec.render](path, spec)
