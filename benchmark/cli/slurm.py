"""``kdbench slurm``: a SLURM job array of ``kdbench worker`` processes, through submitit.

The launcher prepares the grid (studies and parent runs, exactly as ``kdbench run`` does, so
that workers never race to create them), then submits ``--array`` jobs, each running one
worker on the shared storage and tracking server until the grid is done. Every job is the
same worker; a job that dies is recovered like any dead worker. ``--cluster local`` runs
the jobs as local processes through submitit's local executor (what the tests use).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmark.cli.grid import add_selection, selection_of
from benchmark.cli.options import add_device_option, add_tracking_option
from benchmark.errors import KdbenchError

if TYPE_CHECKING:
    from benchmark.runner.launch import Selection


def worker_job(
    sweep: str,
    storage: str | None,
    tracking: str | None,
    track: bool,
    device: str,
    selection: Selection,
    index: int,
    threads: int,
) -> int:
    """What one array job runs (picklable: submitit sends it to the node)."""
    if tracking:
        os.environ["MLFLOW_TRACKING_URI"] = tracking
    if threads:
        import torch

        torch.set_num_threads(threads)
    from benchmark.runner.launch import run_worker

    run_worker(sweep, storage, device, track, selection, index)
    return index


def submit(args: argparse.Namespace) -> list[Any]:
    """Prepare the grid and submit the array; returns the submitit jobs."""
    try:
        import submitit
    except ImportError:
        raise KdbenchError("kdbench slurm needs submitit: pip install 'kdbench[scale]'") from None
    from benchmark.runner.grid import prepare
    from benchmark.runner.launch import available, make_env
    from benchmark.runner.sweep import expand, load_sweep
    from benchmark.tracking import runs_dir

    if args.tracking_uri:
        os.environ["MLFLOW_TRACKING_URI"] = args.tracking_uri
    if args.storage is None and args.cluster != "local":
        raise KdbenchError(
            "jobs on other nodes cannot share the embedded journal: give "
            "--storage postgresql+psycopg2://USER@HOST/DB "
            "(docs/scale-out.md)"
        )
    sweep = load_sweep(args.sweep)
    cells = available(selection_of(args).apply(expand(sweep)), None, None)
    env = make_env(sweep, args.storage, "cpu", track=not args.no_track)
    prepare(env, cells)
    folder = Path(args.folder or runs_dir() / "slurm" / sweep.name)
    executor = submitit.AutoExecutor(folder=folder, cluster=args.cluster)
    params: dict[str, Any] = {
        "timeout_min": args.time_min,
        "cpus_per_task": args.cpus_per_task,
        "name": f"kdbench-{sweep.name}",
    }
    if args.cluster != "local":
        params.update(slurm_array_parallelism=args.array, gpus_per_node=args.gpus_per_task)
        if args.partition:
            params["slurm_partition"] = args.partition
    executor.update_parameters(**params)
    tracking = (
        None if args.no_track else (args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI"))
    )
    with executor.batch():
        jobs = [
            executor.submit(
                worker_job,
                str(Path(args.sweep).resolve()),
                args.storage,
                tracking,
                not args.no_track,
                args.device,
                selection_of(args),
                i + 1,
                args.cpus_per_task,
            )
            for i in range(args.array)
        ]
    return jobs


def cmd_slurm(args: argparse.Namespace) -> int:
    jobs = submit(args)
    ids = ", ".join(str(j.job_id) for j in jobs)
    print(
        f"submitted {len(jobs)} worker job(s): {ids}; follow with `kdbench status "
        f"{args.sweep}{' --storage ...' if args.storage else ''}`",
        flush=True,
    )
    if args.wait:
        for job in jobs:
            job.result()
        print("all worker jobs finished", flush=True)
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``slurm`` to the ``kdbench`` sub-commands."""
    p = sub.add_parser("slurm", help="submit a SLURM job array of grid workers (submitit)")
    p.add_argument("sweep")
    p.add_argument("--array", type=int, default=4, help="number of worker jobs")
    p.add_argument("--storage", default=None, help="shared Optuna storage URL (PostgreSQL)")
    add_tracking_option(p)
    p.add_argument("--no-track", action="store_true")
    p.add_argument("--gpus-per-task", type=int, default=1)
    p.add_argument("--cpus-per-task", type=int, default=4)
    p.add_argument("--time-min", type=int, default=24 * 60, help="time limit per job (min)")
    p.add_argument("--partition", default=None)
    add_device_option(p)
    add_selection(p)
    p.add_argument("--folder", default=None, help="submitit's log folder (default runs/slurm)")
    p.add_argument(
        "--cluster",
        default=None,
        help="submitit cluster: slurm (default when sbatch exists) or local",
    )
    p.add_argument("--wait", action="store_true", help="wait for every job to finish")
    p.set_defaults(func=cmd_slurm)
