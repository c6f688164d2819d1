r"""LAD-GNN speed per trained model at equal epochs: kdbench's ``lad_teacher`` / ``lad_gnn``
against the official code (github.com/XiaobinHong/LAD-GNN), teacher and student separately.

    python bench/perf_lad.py [--datasets MUTAG PROTEINS] [--backbone GCN] [--epochs 10 110]
        [--repeats 3] [--threads 1] [--official /tmp/ladofficial/LAD-GNN]
        [--official-mirror /work/.mirror/XiaobinHong+LAD-GNN/repo] [--pause PID ...]
        [--out docs/results/perf_lad.json]

**Design (the same on both sides).** Every measurement is the wall time of a whole
subprocess training *one* model for ``E`` epochs, early stopping off, on the CPU
(``CUDA_VISIBLE_DEVICES=""``) with ``OMP_NUM_THREADS = MKL_NUM_THREADS = --threads`` (the
official code has no thread option; torch reads these at start-up on both sides). Each
(dataset, role, side) is run at two epoch counts E1 < E2, ``--repeats`` times each (median),
in interleaved order (official then ours, E1 then E2, repeat after repeat) so that drift in
the machine's load hits both sides alike. Then

.. math::
    c = \frac{\tilde w(E_2) - \tilde w(E_1)}{E_2 - E_1}, \qquad
    \text{per model} = 300\,c, \qquad \text{ratio} = c_\text{official} / c_\text{ours},

which cancels process start-up, imports, data loading and one-off work (ours: the teacher
export, the final validation/test pass; official: nothing comparable) — reported apart as the
intercept :math:`\tilde w(E_1) - E_1 c`. 300 is the official default ``--epochs``. Raw walls
are kept in the report.

* official teacher: ``main.py --train_mode T --lr 0.01 --epochs E --early_stop E+1`` (the
  early stop never fires); official student: ``--train_mode S --lr 0.001 --runs 1`` with the
  teacher checkpoint the last T run wrote. Both ``--nhid 64 --nlayers 2 --seed 1``, batch 32.
* ours: this script's ``--worker teacher|student|prime`` mode, which drives
  :func:`benchmark.fitting.plan_fit` / :func:`~benchmark.fitting.fit_seed` as ``kdbench fit``
  does (``kdbench fit --method lad_teacher`` refuses: the teacher is dependency-only) with
  ``epochs=E, patience=0`` on fold 0 of the card's protocol. teacher: ``lad_teacher`` with the
  parameters ``lad_gnn`` gives its dependency, ``evaluate_test=False, export_outputs=True``
  (as :func:`benchmark.artifacts.resolve_dependencies` trains it); student: ``lad_gnn`` with
  its teacher already in the artefact cache of a temporary ``KDBENCH_RUNS`` (put there,
  untimed, by a ``prime`` run per epoch count: the teacher's parameters include ``epochs``).

**What one epoch does** (not the same work; that is part of what is compared):

* official, both modes: training batches (per batch a Python loop over the graphs to repeat
  labels), ``ReduceLROnPlateau`` step, a pass over validation *and* test (with sklearn
  AUC/F1 every epoch), and ``torch.save`` of the whole model whenever validation loss
  improves. Student mode additionally **re-loads the teacher from disk every epoch** and runs
  its forward on every training and validation batch (the distillation target is recomputed,
  and the validation loss includes the distillation term).
* ours: training batches, then one validation pass (teacher: validation loss in batches of
  32; student: accuracy), keeping the best state in memory. The student reads the teacher's
  pooled embeddings precomputed once (no teacher forward per batch); test is scored once
  after training (student only), outside the per-epoch cost.
* data: official train/val/test = 80/10/10 % of one shuffle; ours fold 0 of the card's
  stratified 10-fold protocol (the worker reports its split sizes). PROTEINS features:
  official ``use_node_attr=True`` (node attribute + one-hot label); ours the card's.

**Official copy.** Built outside this repository (default ``/tmp/ladofficial/LAD-GNN``) from
the git mirror when absent (``git --git-dir=<mirror> archive HEAD | tar -x -C <dir>``), then
four fixes for PyG 2.8 / torch 2.13, applied by :func:`prepare_official` (:data:`FIXES`;
each must match, or the checkout changed), equivalent to::

    sed -i 's/^from torch_sparse import .*/from torch_geometric.typing import SparseTensor/' \
        GNN_models/*.py              # torch_sparse not installed; unused on this path
    sed -i 's/^from torch_geometric.data import DataLoader, Dataset$/from torch_geometric.\
    loader import DataLoader\nfrom torch_geometric.data import Dataset/' main.py  # (one line)
    sed -i 's/,\s*verbose=True)/)/' main.py                    # ReduceLROnPlateau
    sed -i 's/\(torch\.load([^)]*\))/\1, weights_only=False)/' main.py  # pickled teacher

and the committed ``checkpoints/``, ``results/`` and any ``data/*/*/processed`` are removed;
each dataset's raw TU files are copied from ``$KDBENCH_MIRROR/TUDataset/<NAME>/raw`` into
``data/<NAME>/<NAME>/raw`` (processed from raw by the untimed warm-up run). A marker file
``.kdbench_prepared`` records that the copy was prepared.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _perf import epoch_cost, paused, provenance, write_report

REPO = Path(__file__).resolve().parents[1]
OFFICIAL_BACKBONE = {"GCN": "GCN", "GIN": "GIN", "GAT": "GAT", "GraphSAGE": "SAGE"}
OFFICIAL_EPOCHS = 300  # the official main.py's default --epochs
OFFICIAL_LR = {"teacher": "0.01", "student": "0.001"}
MARKER = ".kdbench_prepared"
#: (files, pattern, replacement): the fixes the official code needs with PyG 2.8 / torch 2.13.
FIXES = (
    (
        "GNN_models/*.py",
        r"^from torch_sparse import .*$",
        "from torch_geometric.typing import SparseTensor  # kdbench: no torch_sparse",
    ),
    (
        "main.py",
        r"^from torch_geometric\.data import DataLoader, Dataset$",
        "from torch_geometric.loader import DataLoader\nfrom torch_geometric.data import Dataset",
    ),
    ("main.py", r",\s*verbose=True\)", ")"),
    ("main.py", r"(torch\.load\([^)]*)\)", r"\1, weights_only=False)"),
)


def prepare_official(mirror: Path, dest: Path) -> None:
    """Extract the mirror's ``HEAD`` into ``dest`` (which must not exist) and apply
    :data:`FIXES`; drop the committed checkpoints, results and processed data."""
    if dest.exists():
        raise SystemExit(f"{dest} exists but was not prepared by this script ({MARKER} missing)")
    dest.mkdir(parents=True)
    archive = subprocess.run(
        ["git", f"--git-dir={mirror}", "archive", "HEAD"], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    for pattern, regex, replacement in FIXES:
        hits = 0
        for file in sorted(dest.glob(pattern)):
            with file.open(newline="") as f:  # the files have CRLF line ends: keep them
                text = f.read()
            eol = "\r\n" if "\r\n" in text else "\n"
            text, n = re.subn(regex, replacement, text.replace(eol, "\n"), flags=re.M)
            with file.open("w", newline="") as f:
                f.write(text.replace("\n", eol))
            hits += n
        if not hits:
            raise SystemExit(f"fix {regex!r} matched nothing in {pattern}: the checkout changed")
    for stale in ("checkpoints", "results", *map(str, dest.glob("data/*/*/processed"))):
        shutil.rmtree(dest / stale, ignore_errors=True)
    (dest / MARKER).write_text(f"from {mirror} HEAD with bench/perf_lad.py's FIXES\n")


def ensure_raw(official: Path, dataset: str) -> None:
    """Copy ``dataset``'s raw TU files from ``$KDBENCH_MIRROR/TUDataset`` into the copy."""
    source = Path(os.environ.get("KDBENCH_MIRROR", "")) / "TUDataset" / dataset / "raw"
    if not source.is_dir():
        raise SystemExit(f"no raw TU files at {source}; set KDBENCH_MIRROR to the mirror folder")
    target = official / "data" / dataset / dataset / "raw"
    if not target.is_dir() or sorted(p.name for p in target.iterdir()) != sorted(
        p.name for p in source.iterdir()
    ):
        shutil.rmtree(target.parent, ignore_errors=True)
        shutil.copytree(source, target)


def official_cmd(role: str, dataset: str, backbone: str, epochs: int) -> list[str]:
    cmd = [sys.executable, "main.py", "--train_mode", "T" if role == "teacher" else "S"]
    cmd += ["--lr", OFFICIAL_LR[role], "--epochs", str(epochs), "--early_stop", str(epochs + 1)]
    cmd += ["--dataset", dataset, "--backbone", OFFICIAL_BACKBONE[backbone]]
    return [*cmd, "--nhid", "64", "--nlayers", "2", "--seed", "1", "--runs", "1"]


def ours_cmd(role: str, dataset: str, backbone: str, epochs: int) -> list[str]:
    cmd = [sys.executable, __file__, "--worker", role, "--datasets", dataset]
    return [*cmd, "--backbone", backbone, "--epochs", str(epochs)]


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    """Run ``cmd``; its wall seconds and stdout (stops the script if it fails)."""
    t = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return seconds, done.stdout


def check_epochs(side: str, stdout: str, epochs: int) -> dict[str, Any]:
    """The epochs a run trained must be ``epochs`` (no early stop); ours also reports more."""
    if side == "official":
        done = len(re.findall(r"^\[\*\] Epoch: ", stdout, flags=re.M))
        info: dict[str, Any] = {}
    else:
        info = json.loads(stdout.strip().splitlines()[-1])
        done = info["epochs_run"]
    if done != epochs:
        raise SystemExit(f"{side} trained {done} epochs, not {epochs}: early stopping not off?")
    return info


def worker(role: str, dataset: str, backbone: str, epochs: int) -> None:
    """One of ours in this process: train ``role`` (``prime``: only put the student's
    teacher into the artefact cache) and print one JSON line about it."""
    import torch

    from benchmark.artifacts import resolve_dependencies
    from benchmark.data.loaders import load_dataset
    from benchmark.data.splits import make_split
    from benchmark.fitting import FitPlan, default_cache, fit_seed, plan_fit
    from benchmark.registry import METHODS

    seed, device = 0, torch.device("cpu")
    data = load_dataset(dataset)
    plan = plan_fit("lad_gnn", data, backbone, {"epochs": epochs, "patience": 0})
    split = make_split(data, plan.protocol, seed, plan.protocol_args)
    if role == "prime":
        resolve_dependencies(
            default_cache(), plan.method, data, split, seed, backbone, None, device,
            lambda dep: plan.params_of(dep, seed), plan.params,
        )  # fmt: skip
        print(json.dumps({"epochs_run": epochs}))
        return
    if role == "teacher":
        (dep,) = plan.dependencies()
        method = METHODS.get(dep.method)()
        plan = FitPlan(method, data, backbone, dep.params, plan.protocol, plan.protocol_args)
        kwargs = {"evaluate_test": False, "export_outputs": True}
    else:
        kwargs = {"cache": default_cache()}
    result = fit_seed(plan, seed, device, split=split, **kwargs).result
    sizes = {k: len(split.part(k)) for k in ("train", "val", "test")}
    line = {"epochs_run": result.epochs_run, "train_seconds": result.train_seconds}
    print(json.dumps(line | {"split": sizes, "threads": torch.get_num_threads()}))


def measure(args: argparse.Namespace, dataset: str, runs: str) -> dict[str, Any]:
    """Both sides, both roles, on ``dataset``: warm-ups, then the interleaved timings."""
    base = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    base |= {"OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    envs = {"official": base, "ours": dict(base, KDBENCH_RUNS=runs)}
    cwds = {"official": args.official, "ours": REPO}
    cmds = {"official": official_cmd, "ours": ours_cmd}
    ensure_raw(args.official, dataset)
    # untimed: the official T run processes the raw files and writes a teacher checkpoint;
    # ours loads (processes) the dataset and caches the student's teacher for each E
    run(official_cmd("teacher", dataset, args.backbone, args.epochs[0]), args.official, base)
    for e in args.epochs:
        run(ours_cmd("prime", dataset, args.backbone, e), REPO, envs["ours"])
    walls: dict[tuple[str, str], dict[int, list[float]]] = {}
    info: dict[str, Any] = {}
    for rep in range(args.repeats):
        for e in args.epochs:
            for role in ("teacher", "student"):
                for side in ("official", "ours"):
                    cmd = cmds[side](role, dataset, args.backbone, e)
                    seconds, stdout = run(cmd, cwds[side], envs[side])
                    info[f"{side}_{role}"] = check_epochs(side, stdout, e)
                    walls.setdefault((side, role), {}).setdefault(e, []).append(seconds)
                    print(f"{dataset} {role} {side} E={e} rep {rep}: {seconds:.2f} s", flush=True)
    out: dict[str, Any] = {}
    for role in ("teacher", "student"):
        official = epoch_cost(walls["official", role], OFFICIAL_EPOCHS)
        ours = epoch_cost(walls["ours", role], OFFICIAL_EPOCHS)
        out[role] = {
            "official": official,
            "ours": ours | {"last_run": info[f"ours_{role}"]},
            "ratio_official_over_ours": round(official["per_epoch_s"] / ours["per_epoch_s"], 2)
            if ours["per_epoch_s"] > 0
            else None,
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["MUTAG", "PROTEINS"])
    ap.add_argument("--backbone", default="GCN", choices=sorted(OFFICIAL_BACKBONE))
    ap.add_argument("--epochs", type=int, nargs="+", default=[10, 110], help="E1 E2 (E1 < E2)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per epoch count (median)")
    ap.add_argument("--threads", type=int, default=1, help="OMP/MKL threads of both sides")
    ap.add_argument("--official", type=Path, default=Path("/tmp/ladofficial/LAD-GNN"))
    ap.add_argument(
        "--official-mirror", type=Path, default=Path("/work/.mirror/XiaobinHong+LAD-GNN/repo")
    )
    ap.add_argument("--pause", type=int, nargs="*", default=[])
    ap.add_argument("--out", type=Path, default=REPO / "docs/results/perf_lad.json")
    ap.add_argument("--worker", choices=["prime", "teacher", "student"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.datasets[0], args.backbone, args.epochs[0])
        return
    if len(args.epochs) != 2 or not 0 < args.epochs[0] < args.epochs[1]:
        ap.error("--epochs takes two epoch counts E1 < E2")
    import torch

    torch.set_num_threads(args.threads)  # so that provenance() records the threads used
    if not (args.official / MARKER).exists():
        prepare_official(args.official_mirror, args.official)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as runs, paused(args.pause):
        load = os.getloadavg()[0]
        t = time.perf_counter()
        for dataset in args.datasets:
            results[dataset] = measure(args, dataset, runs)
        total = time.perf_counter() - t
    report = provenance() | {
        "what": (
            "LAD-GNN seconds per trained model at equal epochs (early stopping off), teacher "
            "and student apart: per-epoch cost from whole-process walls at two epoch counts, "
            f"times {OFFICIAL_EPOCHS} (the official default epochs); see bench/perf_lad.py"
        ),
        "backbone": args.backbone,
        "epochs": args.epochs,
        "repeats": args.repeats,
        "official_checkout": str(args.official),
        "results": results,
        "harness_seconds": round(total, 1),
        "loadavg_1min_before": round(load, 2),
        "paused_pids": args.pause,
    }
    write_report(args.out, report, echo=True)


if __name__ == "__main__":
    main()
