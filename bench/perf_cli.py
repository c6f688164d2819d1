"""Start-up of the command line: wall seconds of ``kdbench --help`` and ``kdbench methods``
(whole processes: interpreter, imports, parser, output), median of ``--repeats`` runs, at the
working tree and at a reference commit (default: 1684a7d, the flat CLI that imported
torch_geometric at start-up) checked out in a temporary worktree, in the same run.

    python bench/perf_cli.py [--reference REV] [--repeats 5] [--out docs/results/perf_cli.json]

Run it on a quiet machine: a busy neighbour slows imports several-fold.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _perf import provenance, worktree, write_report

ROOT = Path(__file__).resolve().parents[1]
#: each command as the console script runs it (``kdbench ARGS`` = ``main(ARGS)``)
COMMANDS = {"--help": ["--help"], "methods": ["methods"]}


def seconds(tree: Path, argv: list[str], repeats: int) -> list[float]:
    """Wall seconds of ``repeats`` fresh processes running ``kdbench argv`` from ``tree``."""
    code = f"import sys; from benchmark.cli import main; sys.exit(main({argv!r}))"
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=tree,
            env={"PYTHONPATH": str(tree)},
            check=False,
            capture_output=True,
        )
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", default="1684a7d")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "docs" / "results" / "perf_cli.json"))
    args = ap.parse_args()
    report = {"provenance": provenance(), "reference": args.reference, "commands": {}}
    with (
        tempfile.TemporaryDirectory() as tmp,
        worktree(ROOT, args.reference, Path(tmp) / "ref") as ref,
    ):
        for name, argv in COMMANDS.items():
            now = seconds(ROOT, argv, args.repeats)
            before = seconds(ref, argv, args.repeats)
            row = {
                "now_s": now,
                "reference_s": before,
                "now_median_s": round(statistics.median(now), 3),
                "reference_median_s": round(statistics.median(before), 3),
            }
            row["speedup"] = round(row["reference_median_s"] / row["now_median_s"], 1)
            report["commands"][name] = row
            print(name, row, flush=True)
    write_report(Path(args.out), report)


if __name__ == "__main__":
    main()
