"""The generated tables in their documents: each sits between ``<!-- kdbench-table: NAME -->``
and ``<!-- /kdbench-table -->`` (:func:`marked`); :func:`update_docs` rewrites every block of
the spec ``docs/tables.yaml`` from :func:`benchmark.results.tables.render` (``kdbench
tables``), or only reports the blocks that differ (``--check``)."""

from __future__ import annotations

from pathlib import Path

from benchmark.errors import KdbenchError
from benchmark.results.tables import SPEC, load_spec, render
from benchmark.tracking import REPO


def begin(name: str) -> str:
    """The opening marker of table ``name``."""
    return f"<!-- kdbench-table: {name} -->"


END = "<!-- /kdbench-table -->"


def marked(text: str) -> dict[str, str]:
    """The marked tables of a document: name → the text between its markers."""
    out: dict[str, str] = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("<!-- kdbench-table: "):
            name = line.removeprefix("<!-- kdbench-table: ").removesuffix(" -->").strip()
            if END not in lines[i + 1 :]:
                raise KdbenchError(f"the table {name} has no closing marker {END}")
            j = lines.index(END, i + 1)
            out[name] = "\n".join(lines[i + 1 : j])
    return out


def splice(text: str, name: str, table: str, doc: str = "") -> str:
    """``text`` with the block of table ``name`` replaced by ``table``."""
    start = begin(name)
    if start not in text:
        raise KdbenchError(
            f"{doc or 'the document'} has no marker {start}: put it on the line above the "
            f"table and {END} on the line below"
        )
    head, rest = text.split(start, 1)
    if END not in rest:
        raise KdbenchError(f"{doc}: the table {name} has no closing marker {END}")
    _, tail = rest.split(END, 1)
    return f"{head}{start}\n{table}\n{END}{tail}"


def update_docs(
    record_dir: str | Path, check: bool, spec_path: str | Path = SPEC, root: Path = REPO
) -> list[str]:
    """Regenerate every table of the spec in its document (``check``: write nothing); returns
    ``doc: table`` of the tables that differed."""
    specs = load_spec(spec_path)
    tables = {name: render(name, t, record_dir) for name, t in specs.items()}
    changed = []
    for doc in dict.fromkeys(t.doc for t in specs.values()):
        path = root / doc
        old = path.read_text()
        new = old
        for name, t in specs.items():
            if t.doc == doc:
                new = splice(new, name, tables[name], doc)
                if marked(old).get(name) != tables[name]:
                    changed.append(f"{doc}: {name}")
        if new != old and not check:
            path.write_text(new)
    return changed
