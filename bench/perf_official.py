r"""GLNN and LTD speed at equal epochs on Cora-CPF: kdbench against the official codes
(github.com/snap-research/graphless-neural-networks, github.com/BUPT-GAMMA/LTD), on the CPU.

    python bench/perf_official.py [--cells glnn_teacher glnn_student ltd_student]
        [--glnn-epochs 50 450] [--ltd-epochs 30 80] [--repeats 3] [--threads 1]
        [--glnn-batch-size 0] [--official-venv /tmp/hc/venv] [--glnn /tmp/hc/glnn_work]
        [--ltd /tmp/hc/ltd_work] [--pause PID ...] [--out docs/results/perf_official.json]

**Design** (that of ``bench/perf_lad.py``). Every measurement is the wall time of a whole
subprocess training *one* model for ``E`` epochs, early stopping off, on the CPU
(``CUDA_VISIBLE_DEVICES=""``, ``OMP_NUM_THREADS = MKL_NUM_THREADS = --threads`` for both
sides; DGL and torch read them at start-up). Each cell × side runs at two epoch counts
E1 < E2, ``--repeats`` times each (median), interleaved (official then ours, E1 then E2, cell
after cell, repeat after repeat), and :func:`_perf.epoch_cost` gives
:math:`c = (\tilde w(E_2) - \tilde w(E_1)) / (E_2 - E_1)`, which cancels start-up, imports,
data loading and one-off set-up (reported apart as the intercept). Per model: :math:`c` times
the official default epochs (GLNN ``--max_epoch 500``; LTD ``max_epoch: 600``). Every run is
checked to have trained exactly E epochs (official: its per-epoch log lines; ours: the
worker's ``epochs_run``), and our students to have read their teacher from the cache.

**Cells.** The teachers are trained beforehand, untimed, once per side: official GLNN's
``train_teacher.py`` at its defaults (500 epochs, patience 50); ours through the artefact
cache of a temporary ``KDBENCH_RUNS`` as ``kdbench fit`` trains them (their presets).

* ``glnn_teacher`` — official ``train_teacher.py --exp_setting tran --teacher GCN --dataset
  cora --max_epoch E --patience E+1 --log_level 10`` (DEBUG: one log line per epoch, counted)
  against ours: ``vanilla`` GCN with the parameters ``kdbench fit --method glnn --backbone MLP
  --teacher GCN --set preset=glnn_cora`` gives its teacher, with ``epochs=E, patience=0``,
  trained as a dependency (``evaluate_test=False, export_outputs=True``). Per epoch, both: one
  full-graph step. Official: then one full-graph forward scoring train, val *and* test, and a
  ``deepcopy`` of the state when val does not drop. Ours: one forward scoring val.
* ``glnn_student`` — official ``train_student.py ... --student MLP --out_t_path <teacher>``
  against ``kdbench fit --method glnn --dataset Cora-CPF --backbone MLP --teacher GCN --set
  preset=glnn_cora epochs=E patience=0 --seeds 0``. Official, per epoch: a mini-batch pass
  over the 140 labelled nodes (one batch; at λ = 0 its loss is zero but Adam steps) and one
  over 4 batches of 512 of the 2,485 nodes (the remainder dropped), then three mini-batch
  evaluations (train, val, test). Ours with ``--glnn-batch-size 0`` (the default and what
  ``kdbench fit`` runs): one full-batch step, one val forward; ``512`` gives ours the
  official schedule (still one evaluation).
* ``ltd_student`` — official ``spawn_worker.py --dataset cora --teacher GCN --student GCN``
  (epochs only through ``global.max_epoch`` of ``models/train.conf.yaml``; it trains
  max_epoch − 1 epochs, so a copy per E gets ``max_epoch: E+1, patience: E+2``) against
  ``kdbench fit --method ltd --dataset Cora-CPF --backbone GCN --teacher GCN --protocol ltd
  --set preset=ltd epochs=E patience=0 --seeds 0``. **Student only**: the official code does
  not train its teacher, it reads the shipped teacher logits
  (``outputs/cora/GCN/cascade_random_0_20/logits.txt``). Per epoch, both: a distillation step
  (plain SGD, gradient kept for the unroll) and, from epoch 21 on, the second-order meta
  step of the temperature network — so E1 > 21 puts meta steps in both points and ``c`` is
  the cost of a meta epoch. The official per-epoch time includes its own evaluation (a
  full-graph forward scoring 3 node sets, a console line, a ``deepcopy`` of the state when
  val does not drop); ours a val forward. Its set-up before epoch 1 (a dense N×N adjacency,
  Python loops over the nodes) is in the intercept, as our sparse neighbourhood entropy.

Data: both sides read the CPF ``cora.npz`` (2,485 nodes of the largest component, 12,623
directed edges). Splits: GLNN 20 per class train / 30 val (official: CPF's seed-0 draw; ours:
seed 0 of the card's protocol); LTD ours: the ``ltd`` protocol, official: its own draw.
The worker reports its split sizes.

**Official copies and their venv** (outside this repository; checked by
:func:`check_official`, which names what is missing). Built from the ``fetch`` mirrors
(``github:snap-research/graphless-neural-networks``, ``github:BUPT-GAMMA/LTD``)::

    git --git-dir=/work/.mirror/snap-research+graphless-neural-networks/repo archive HEAD \
        | tar -x -C /tmp/hc/glnn_work            # likewise BUPT-GAMMA+LTD → /tmp/hc/ltd_work
    cd /tmp/hc/glnn_work                          # dgl 2.x: NodeDataLoader is gone (5 sites)
    sed -i 's/dgl\.dataloading\.NodeDataLoader(/dgl.dataloading.DataLoader(/' train_and_eval.py
    ln -s $KDBENCH_MIRROR/CPF/raw/cora.npz data/cora.npz
    cd /tmp/hc/ltd_work                           # 5 fixes, /tmp/hc/ltd_fixes.diff:
    #  distill_dgl.py: `from numpy.lib.function_base import append` → `from numpy import
    #    append`; G.adj(scipy_fmt=...) → G.adj_external(...); both `load_state_dict(...dict)`
    #    of the unrolled step → copy into `p.data` under no_grad (torch ≥ 2 version counters)
    #  models/GCN.py: `from dgl.transform import reverse` → `from dgl import reverse`;
    #    fn.copy_edge → fn.copy_e, fn.copy_src → fn.copy_u
    python3 -m venv /tmp/hc/venv; V=/tmp/hc/venv/bin
    $V/pip install torch==2.13.0 dgl==2.1.0; $V/pip install --no-deps torchdata==0.9.0
    $V/pip install torch==2.13.0 packaging pandas pyyaml pytz optuna tabulate scikit-learn \
        category_encoders ogb 'googledrivedownloader==0.4'

plus, in the venv's ``dgl/graphbolt/__init__.py`` (no graphbolt build for this torch), the
module-level ``load_graphbolt()`` wrapped as ``try: load_graphbolt()`` / ``except
(FileNotFoundError, ImportError): warnings.warn(...)``. The harness never writes into the
copies: outputs go to a temporary folder, and LTD runs in per-E copies of ``--ltd``.
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
from perf_lad import run

REPO = Path(__file__).resolve().parents[1]
DATASET = "Cora-CPF"
CELLS = ("glnn_teacher", "glnn_student", "ltd_student")
#: the official default epochs (GLNN ``--max_epoch``; LTD ``global.max_epoch``)
OFFICIAL_EPOCHS = {"glnn": 500, "ltd": 600}
META_START = 21  # LTD's first epoch with a meta step (official ``epoch > 20``)
#: (copy, file, text that must be there or, led by "!", must not): the fixes applied
FIXES = (
    ("glnn", "train_and_eval.py", "!dgl.dataloading.NodeDataLoader("),
    ("glnn", "data/cora.npz", ""),
    ("ltd", "distill_dgl.py", "from numpy import append"),
    ("ltd", "distill_dgl.py", "G.adj_external(scipy_fmt='coo')"),
    ("ltd", "distill_dgl.py", "!model.load_state_dict(model_dict)"),
    ("ltd", "models/GCN.py", "from dgl import reverse"),
    ("ltd", "models/GCN.py", "!fn.copy_edge("),
    ("ltd", "models/GCN.py", "!fn.copy_src("),
)
LTD_TEACHER = "outputs/cora/GCN/cascade_random_0_20/logits.txt"


def check_official(args: argparse.Namespace) -> None:
    """Stop with what is missing unless the venv and both patched copies are in place."""
    problems = [] if args.official_venv.joinpath("bin/python").exists() else ["no venv python"]
    for copy, name, text in (*FIXES, ("ltd", LTD_TEACHER, "")):
        path = getattr(args, copy) / name
        if not path.exists():
            problems.append(f"{path} missing")
        elif text and (text.removeprefix("!") in path.read_text()) == text.startswith("!"):
            problems.append(f"{path}: fix not applied ({text!r})")
    if problems:
        raise SystemExit("official copies not ready (see the docstring):\n" + "\n".join(problems))


def ltd_copy(args: argparse.Namespace, root: Path, epochs: int) -> Path:
    """A copy of the LTD checkout training ``epochs`` epochs without early stopping."""
    dest = root / f"ltd_E{epochs}"
    if not dest.exists():
        shutil.copytree(args.ltd, dest, ignore=shutil.ignore_patterns("*.pdf", "__pycache__"))
        conf = dest / "models/train.conf.yaml"
        text, n = re.subn(
            r"^(  max_epoch:) *\d+", rf"\g<1> {epochs + 1}", conf.read_text(), count=1, flags=re.M
        )
        text, m = re.subn(r"^(  patience:) *\d+", rf"\g<1> {epochs + 2}", text, count=1, flags=re.M)
        if n != 1 or m != 1:
            raise SystemExit(f"{conf}: no global max_epoch / patience to set")
        conf.write_text(text)
    return dest


def official_run(
    args: argparse.Namespace, cell: str, epochs: int, root: Path, env: dict[str, str]
) -> tuple[float, dict[str, Any]]:
    """One official run of ``cell``: its wall seconds and the epochs its log shows."""
    python = str(args.official_venv / "bin/python")
    if cell == "ltd_student":
        cmd = [python, "spawn_worker.py", "--dataset", "cora", "--teacher", "GCN"]
        seconds, stdout = run([*cmd, "--student", "GCN"], ltd_copy(args, root, epochs), env)
        done = [int(e) for e in re.findall(r"^Epoch (\d+) \|", stdout, flags=re.M)]
        return seconds, {"epochs": len(done), "meta_epochs": sum(e >= META_START for e in done)}
    out = Path(tempfile.mkdtemp(dir=root, prefix=f"{cell}_E{epochs}_"))
    cmd = [python, f"train_{cell.split('_')[1]}.py", "--exp_setting", "tran", "--dataset", "cora"]
    cmd += ["--teacher", "GCN", "--max_epoch", str(epochs), "--patience", str(epochs + 1)]
    cmd += ["--log_level", "10", "--output_path", str(out)]
    model = "GCN"
    if cell == "glnn_student":
        cmd += ["--student", "MLP", "--out_t_path", str(root / "glnn_teacher_full")]
        model = "GCN_MLP"
    seconds, _ = run(cmd, args.glnn, env)
    log = (out / "transductive/cora" / model / "seed_0/log").read_text()
    done = len(re.findall(r": Ep +\d+ \|", log))
    shutil.rmtree(out)
    return seconds, {"epochs": done}


def ours_run(
    args: argparse.Namespace, cell: str, epochs: int, env: dict[str, str]
) -> tuple[float, dict[str, Any]]:
    """One of ours in a subprocess (:func:`worker`): its wall seconds and JSON line."""
    cmd = [sys.executable, __file__, "--worker", cell, "--epochs", str(epochs)]
    seconds, stdout = run([*cmd, "--glnn-batch-size", str(args.glnn_batch_size)], REPO, env)
    info = json.loads(stdout.strip().splitlines()[-1])
    if info.pop("teacher_built"):
        raise SystemExit(f"ours {cell} trained its teacher: the artefact cache was not primed")
    info["epochs"] = info.pop("epochs_run")
    return seconds, info


def worker(role: str, epochs: int, glnn_batch_size: int) -> None:
    """One of ours in this process, as ``kdbench fit`` runs it on seed 0: ``prime_glnn`` /
    ``prime_ltd`` put the student's teacher into the artefact cache (its preset's epochs);
    ``glnn_teacher`` trains that teacher for ``epochs``; ``glnn_student`` / ``ltd_student``
    train the student with its cached teacher. Prints one JSON line."""
    import torch

    from benchmark.artifacts import resolve_dependencies
    from benchmark.data.loaders import load_dataset
    from benchmark.data.splits import make_split
    from benchmark.fitting import FitPlan, default_cache, fit_seed, plan_fit
    from benchmark.registry import METHODS

    seed, device, data = 0, torch.device("cpu"), load_dataset(DATASET)
    over: dict[str, Any] = {"epochs": epochs, "patience": 0}
    if "glnn" in role:
        over |= {"preset": "glnn_cora", "batch_size": glnn_batch_size}
        plan = plan_fit("glnn", data, "MLP", over, teacher="GCN")
    else:
        plan = plan_fit("ltd", data, "GCN", over | {"preset": "ltd"}, "ltd", teacher="GCN")
    split = make_split(data, plan.protocol, seed, plan.protocol_args)
    cache = default_cache()
    if role.startswith("prime"):
        resolve_dependencies(
            cache, plan.method, data, split, seed, plan.backbone, plan.teacher, device,
            lambda dep: plan.params_of(dep, seed), plan.params,
        )  # fmt: skip
        print(json.dumps({"epochs_run": epochs, "teacher_built": 0}))
        return
    kwargs: dict[str, Any] = {"cache": cache}
    if role == "glnn_teacher":
        (dep,) = plan.dependencies()
        params = {**plan.params_of(dep, seed), **(dep.overrides or {}), **over}
        method = METHODS.get(dep.method)()
        plan = FitPlan(method, data, dep.backbone, params, plan.protocol, plan.protocol_args)
        kwargs = {"evaluate_test": False, "export_outputs": True}
    result = fit_seed(plan, seed, device, split=split, **kwargs).result
    sizes = {k: len(split.part(k)) for k in ("train", "val", "test", *split.parts)}
    line = {"epochs_run": result.epochs_run, "train_seconds": round(result.train_seconds, 3)}
    line |= {"teacher_built": cache.built, "split": sizes, "threads": torch.get_num_threads()}
    print(json.dumps(line))


def measure(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    """Warm-ups and teachers (untimed), then the interleaved timings of every cell."""
    base = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    base |= {"OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    ours_env = dict(base, KDBENCH_RUNS=str(root / "runs"))
    epochs = {c: args.ltd_epochs if c.startswith("ltd") else args.glnn_epochs for c in args.cells}
    python = str(args.official_venv / "bin/python")
    if any(c.startswith("glnn") for c in args.cells):  # official teacher at its defaults
        teacher = [python, "train_teacher.py", "--exp_setting", "tran", "--dataset", "cora"]
        teacher += ["--teacher", "GCN", "--output_path", str(root / "glnn_teacher_full")]
        run(teacher, args.glnn, base)
        ours_run(args, "prime_glnn", args.glnn_epochs[0], ours_env)
    if "ltd_student" in args.cells:  # warm-up, and the per-E copies
        for e in args.ltd_epochs:
            ltd_copy(args, root, e)
        official_run(args, "ltd_student", 1, root, base)
        ours_run(args, "prime_ltd", args.ltd_epochs[0], ours_env)
    walls: dict[tuple[str, str], dict[int, list[float]]] = {}
    last: dict[tuple[str, str], dict[str, Any]] = {}
    for rep in range(args.repeats):
        for i in (0, 1):
            for cell in args.cells:
                e = epochs[cell][i]
                for side in ("official", "ours"):
                    if side == "official":
                        seconds, info = official_run(args, cell, e, root, base)
                    else:
                        seconds, info = ours_run(args, cell, e, ours_env)
                    meta = info.get("meta_epochs", max(0, e - META_START + 1))
                    if info["epochs"] != e or meta != max(0, e - META_START + 1):
                        raise SystemExit(f"{side} {cell}: {info} after E={e}; early stop on?")
                    last[side, cell] = info
                    walls.setdefault((side, cell), {}).setdefault(e, []).append(seconds)
                    print(f"{cell} {side} E={e} rep {rep}: {seconds:.2f} s", flush=True)
    out: dict[str, Any] = {}
    for cell in args.cells:
        n = OFFICIAL_EPOCHS[cell.split("_")[0]]
        official = epoch_cost(walls["official", cell], n) | {"last_run": last["official", cell]}
        ours = epoch_cost(walls["ours", cell], n) | {"last_run": last["ours", cell]}
        out[cell] = {
            "epochs": epochs[cell],
            "official": official,
            "ours": ours,
            "ratio_official_over_ours": round(official["per_epoch_s"] / ours["per_epoch_s"], 2)
            if min(official["per_epoch_s"], ours["per_epoch_s"]) > 0
            else None,  # a cost ≤ 0: noise swamped the epochs (E2 − E1 too small)
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cells", nargs="+", default=list(CELLS), choices=CELLS)
    ap.add_argument("--glnn-epochs", type=int, nargs=2, default=[50, 450], help="E1 E2")
    ap.add_argument("--ltd-epochs", type=int, nargs=2, default=[30, 80], help="E1 E2 (E1 > 21)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per epoch count (median)")
    ap.add_argument("--threads", type=int, default=1, help="OMP/MKL threads of both sides")
    ap.add_argument(
        "--glnn-batch-size", type=int, default=0, help="ours: 0 full batch (default), 512 official"
    )
    ap.add_argument("--official-venv", type=Path, default=Path("/tmp/hc/venv"))
    ap.add_argument("--glnn", type=Path, default=Path("/tmp/hc/glnn_work"))
    ap.add_argument("--ltd", type=Path, default=Path("/tmp/hc/ltd_work"))
    ap.add_argument("--pause", type=int, nargs="*", default=[])
    ap.add_argument("--out", type=Path, default=REPO / "docs/results/perf_official.json")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--epochs", type=int, help=argparse.SUPPRESS)  # the worker's
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.epochs, args.glnn_batch_size)
        return
    for name in ("glnn_epochs", "ltd_epochs"):
        e1, e2 = getattr(args, name)
        if not 0 < e1 < e2:
            ap.error(f"--{name.replace('_', '-')} takes two epoch counts E1 < E2")
    if args.ltd_epochs[0] <= META_START and "ltd_student" in args.cells:
        print(f"warning: LTD E1 <= {META_START}: E1 has fewer meta steps than epochs", flush=True)
    import torch

    torch.set_num_threads(args.threads)  # so that provenance() records the threads used
    check_official(args)
    with tempfile.TemporaryDirectory() as root, paused(args.pause):
        load = os.getloadavg()[0]
        t = time.perf_counter()
        results = measure(args, Path(root))
        total = time.perf_counter() - t
    official_sha = {}
    for name in ("glnn", "ltd"):
        mirror = {"glnn": "snap-research+graphless-neural-networks", "ltd": "BUPT-GAMMA+LTD"}[name]
        sha = subprocess.run(
            ["git", f"--git-dir=/work/.mirror/{mirror}/repo", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        official_sha[name] = {"checkout": str(getattr(args, name)), "mirror_head": sha or None}
    report = provenance() | {
        "what": (
            f"GLNN and LTD on {DATASET}, kdbench against the official codes at equal epochs "
            "(early stopping off): per-epoch cost from whole-process walls at two epoch "
            "counts, times the official default epochs; LTD: student only (the official code "
            "ships its teacher's logits); see bench/perf_official.py"
        ),
        "epochs": {"glnn": args.glnn_epochs, "ltd": args.ltd_epochs},
        "repeats": args.repeats,
        "glnn_batch_size_ours": args.glnn_batch_size,
        "official": official_sha | {"venv": str(args.official_venv)},
        "results": results,
        "harness_seconds": round(total, 1),
        "loadavg_1min_before": round(load, 2),
        "paused_pids": args.pause,
    }
    write_report(args.out, report, echo=True)


if __name__ == "__main__":
    main()
