"""Every results table of the reproduction docs and the README's reference results is what
``kdbench tables`` generates from the committed record (``docs/tables.yaml``): a table edited
by hand, or a record changed without regenerating the documents, fails here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmark.errors import KdbenchError
from benchmark.results import table_docs, tables
from benchmark.results.record import RECORD_DIR, write_record
from tests.records import toy_cell

REPO = Path(__file__).parents[1]
SPECS = tables.load_spec()
#: tables with no run figures (choices, comparisons of parts, published numbers only), by header
PROSE = {
    "| open choice | our default | alternatives (`--set`) |",
    "| part | ours | the paper / official code |",
    "| | Cora | CiteSeer | MUTAG | PROTEINS | IMDB-BINARY | NCI1 |",  # README: published refs
}


def blocks(markdown: str) -> list[tuple[int, list[str]]]:
    """The tables of a markdown text: (first line index, maximal run of lines starting ``|``)."""
    out: list[tuple[int, list[str]]] = []
    run: list[str] = []
    for i, line in enumerate([*markdown.splitlines(), ""]):
        if line.startswith("|"):
            run.append(line)
        elif run:
            out.append((i - len(run), run))
            run = []
    return out


def results_docs() -> dict[str, str]:
    """The documents whose tables are checked: docs/reproduction/*.md and the README's
    "Reference results" section."""
    docs = {
        str(p.relative_to(REPO)): p.read_text() for p in (REPO / "docs/reproduction").glob("*.md")
    }
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Reference results", 1)[1].split("\n## ", 1)[0]
    docs["README.md"] = "## Reference results" + section
    return docs


@pytest.mark.parametrize("name", list(SPECS))
def test_a_marked_table_is_the_generated_one(name: str) -> None:
    spec = SPECS[name]
    documented = table_docs.marked((REPO / spec.doc).read_text())
    assert name in documented, f"{spec.doc} has no {table_docs.begin(name)} block"
    assert documented[name] == tables.render(name, spec, RECORD_DIR), (
        f"{spec.doc}: table {name} differs from the record; run `kdbench tables`"
    )


def test_every_results_table_is_generated_or_prose() -> None:
    unmarked = []
    for doc, text in results_docs().items():
        lines = text.splitlines()
        for start, table in blocks(text):
            inside = start > 0 and lines[start - 1].startswith("<!-- kdbench-table: ")
            if not inside and table[0] not in PROSE:
                unmarked.append(f"{doc}: {table[0][:80]}")
    assert not unmarked, (
        "tables neither generated (docs/tables.yaml + markers) nor allow-listed as prose: "
        + "; ".join(unmarked)
    )


def test_every_marker_names_a_spec_table() -> None:
    names = {n for text in results_docs().values() for n in table_docs.marked(text)}
    assert names <= set(SPECS), f"markers without a table in docs/tables.yaml: {names - set(SPECS)}"


# ------------------------------------------------------- the machinery on a synthetic record
def toy_record(folder: Path) -> None:
    """Sweep ``toy``: vanilla and kd on GCN, datasets A and B, 6 seeds (kd = vanilla + 1 point
    on A, equal on B)."""
    cells = [
        toy_cell(
            "toy",
            method,
            dataset,
            "GCN",
            [
                0.5 + 0.01 * s + (0.01 if (method, dataset) == ("kd", "A") else 0.0) * (1 + s % 2)
                for s in range(6)
            ],
        )
        for method in ("vanilla", "kd")
        for dataset in ("A", "B")
    ]
    write_record(cells, folder)


SPEC = """
tables:
  toy:
    doc: doc.md
    sweep: toy
    rows: {dataset: [A, B, C]}
    select: {v: {method: vanilla}, kd: {method: kd}}
    columns:
      - {head: dataset, row: dataset}
      - {head: vanilla, value: v}
      - {head: kd, value: kd}
      - {head: "kd − vanilla, paired", compare: [kd, v]}
"""


def test_update_rewrites_the_marked_block_and_check_reports_it(tmp_path: Path) -> None:
    toy_record(tmp_path / "record")
    (tmp_path / "spec.yaml").write_text(SPEC)
    doc = tmp_path / "doc.md"
    doc.write_text(f"intro\n{table_docs.begin('toy')}\n| old |\n{table_docs.END}\nafter\n")
    args = (tmp_path / "record", True, tmp_path / "spec.yaml", tmp_path)
    assert table_docs.update_docs(*args) == ["doc.md: toy"]
    assert "| old |" in doc.read_text()  # --check writes nothing
    assert table_docs.update_docs(tmp_path / "record", False, tmp_path / "spec.yaml", tmp_path)
    assert table_docs.update_docs(*args) == []
    text = doc.read_text()
    assert text.startswith("intro\n") and text.endswith(f"{table_docs.END}\nafter\n")
    rows = table_docs.marked(text)["toy"].splitlines()
    assert rows[0] == "| dataset | vanilla | kd | kd − vanilla, paired |"
    assert len(rows) == 4  # dataset C has no cell: no row
    # A: 6 positive differences, exact p = 2 / 2^6; Holm over A and B: 2 · 0.031
    assert rows[2] == "| A | 52.5 ± 1.9 | 54.0 ± 2.1 | +1.5 (p = 0.031, Holm 0.062) |"
    assert rows[3].endswith("| +0.0 (p = 1, Holm 1.000) |")  # B: identical pairs, p = 1


def test_a_selector_without_cells_fails_in_one_line(tmp_path: Path) -> None:
    toy_record(tmp_path / "record")
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.replace("kd: {method: kd}", "kd: {method: kdd}"))
    with pytest.raises(KdbenchError, match=r"selector kd .* matches no cell") as err:
        tables.render_all(tmp_path / "record", spec)
    assert "\n" not in str(err.value)
    spec.write_text(SPEC.replace("sweep: toy", "sweep: nosuch"))
    with pytest.raises(KdbenchError, match="has no sweep nosuch"):
        tables.render_all(tmp_path / "record", spec)


def test_an_ambiguous_selector_is_an_error(tmp_path: Path) -> None:
    toy_record(tmp_path / "record")
    spec = tmp_path / "spec.yaml"
    one_row = SPEC.replace("rows: {dataset: [A, B, C]}", "rows: {backbone: [GCN]}")
    spec.write_text(one_row)
    with pytest.raises(KdbenchError, match=r"reads row fields \['dataset'\]"):
        tables.render_all(tmp_path / "record", spec)
    spec.write_text(one_row.replace("row: dataset", "row: backbone"))
    with pytest.raises(KdbenchError, match="matches 2 cells"):
        tables.render_all(tmp_path / "record", spec)


def test_the_cli_check_exits_1_on_a_stale_document(tmp_path: Path, monkeypatch, capsys) -> None:
    from benchmark.cli import main

    toy_record(tmp_path / "record")
    (tmp_path / "spec.yaml").write_text(SPEC.replace("doc: doc.md", f"doc: {tmp_path}/doc.md"))
    (tmp_path / "doc.md").write_text(f"{table_docs.begin('toy')}\n| old |\n{table_docs.END}\n")
    argv = ["tables", "--record", str(tmp_path / "record"), "--spec", str(tmp_path / "spec.yaml")]
    assert main([*argv, "--check"]) == 1
    assert "differs: " in capsys.readouterr().err
    assert main(argv) == 0
    assert main([*argv, "--check"]) == 0


def test_the_parser_stays_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from benchmark.cli import build_parser; build_parser(); "
        "print(json.dumps([m for m in ('torch', 'pandas', 'scipy') if m in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", "import json; " + code], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == []
