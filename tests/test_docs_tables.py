"""Every results table of the README and ``docs/`` is what its ``bench/`` script prints from
the committed results: a table edited by hand, or results added to ``docs/results/`` without
regenerating the document, fails here (the command that regenerates it is in the message)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).parents[1]
sys.path.insert(0, str(REPO / "bench"))

#: (script, its function, extra arguments, results file, the document quoting it, command)
TABLES: list[tuple[str, str, tuple, str, str, str]] = [
    ("vanilla_reference", "table", (), "vanilla_defaults.jsonl", "README.md", "--table"),
    (
        "lad_reproduction",
        "table",
        (),
        "lad_reproduction.jsonl",
        "docs/reproduction/lad_gnn.md",
        "--table",
    ),
    (
        "lad_reproduction",
        "inflation",
        (),
        "lad_reproduction.jsonl",
        "docs/reproduction/lad_gnn.md",
        "--inflation",
    ),
    (
        "lad_reproduction",
        "multiplicity",
        (),
        "lad_reproduction.jsonl",
        "docs/reproduction/lad_gnn.md",
        "--multiplicity",
    ),
    ("lad_official", "table", (), "lad_official.jsonl", "docs/reproduction/lad_gnn.md", "--table"),
    (
        "freekd_reproduction",
        "table",
        (),
        "freekd_reproduction.jsonl",
        "docs/reproduction/freekd.md",
        "--table",
    ),
    (
        "glnn_reproduction",
        "table",
        (),
        "glnn_reproduction.jsonl",
        "docs/reproduction/mlp_students.md",
        "--table",
    ),
    (
        "nosmog_ablation",
        "table",
        (),
        "nosmog_ablation.jsonl",
        "docs/reproduction/mlp_students.md",
        "--table",
    ),
    (
        "ltd_reproduction",
        "table",
        (),
        "ltd_reproduction.jsonl",
        "docs/reproduction/ltd.md",
        "--table",
    ),
    (
        "grid_results",
        "table",
        ([("ltd", "kd"), ("ltd_fo", "kd"), ("ltd", "vanilla")],),
        "ltd_tuned.jsonl",
        "docs/reproduction/ltd.md",
        "--table --out docs/results/ltd_tuned.jsonl --pairs ltd:kd,ltd_fo:kd,ltd:vanilla",
    ),
    (
        "grid_results",
        "table",
        ([],),
        "ltd_paper_tuned.jsonl",
        "docs/reproduction/ltd.md",
        "--table --out docs/results/ltd_paper_tuned.jsonl",
    ),
    (
        "pretrain_reproduction",
        "table",
        (),
        "pretrain_reproduction.jsonl",
        "docs/reproduction/pretrained_gnns.md",
        "--table",
    ),
]


def blocks(markdown: str) -> list[list[str]]:
    """The tables of a markdown text: maximal runs of lines starting with ``|``."""
    out: list[list[str]] = []
    run: list[str] = []
    for line in [*markdown.splitlines(), ""]:
        if line.startswith("|"):
            run.append(line)
        elif run:
            out.append(run)
            run = []
    return out


def test_blocks_are_the_maximal_runs_of_table_lines() -> None:
    text = "intro\n| a |\n| --- |\n| 1 |\n\ntext\n| b |\n"
    assert blocks(text) == [["| a |", "| --- |", "| 1 |"], ["| b |"]]


@pytest.mark.parametrize(
    ("script", "function", "args", "results", "doc", "command"),
    TABLES,
    ids=[f"{t[0]}.{t[1]}:{t[3]}" for t in TABLES],
)
def test_a_documented_table_is_its_script_output(
    script: str, function: str, args: tuple, results: str, doc: str, command: str
) -> None:
    make: Callable[..., str] = getattr(importlib.import_module(script), function)
    printed = blocks(make(REPO / "docs/results" / results, *args))
    assert printed, f"bench/{script}.py printed no table from docs/results/{results}"
    documented = blocks((REPO / doc).read_text())
    for table in printed:
        assert table in documented, (
            f"{doc} does not hold the table `python bench/{script}.py {command}` prints "
            f"(header {table[0][:80]!r}): paste its output into the document"
        )
