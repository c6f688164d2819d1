"""``kdbench datasets | methods``: the dataset catalogue and the method registry."""

from __future__ import annotations

import argparse
import json

from benchmark.cli.console import console
from benchmark.cli.options import add_data_options


def cmd_datasets(args: argparse.Namespace) -> int:
    from rich.table import Table

    from benchmark.data.card import catalogue_rows

    rows = catalogue_rows(args.data_root, args.mirror)
    if args.json:
        print(json.dumps(rows))
        return 0
    table = Table(title="kdbench datasets")
    for col in ("name", "task", "size", "classes", "metric", "protocol", "available"):
        table.add_column(col, justify="right" if col in ("size", "classes") else "left")
    for r in rows:
        table.add_row(
            *(
                str(r[c])
                for c in ("name", "task", "size", "classes", "metric", "protocol", "available")
            )
        )
    console().print(table)
    return 0


def cmd_methods(args: argparse.Namespace) -> int:
    from rich.table import Table

    from benchmark.registry import METHODS

    rows = []
    for name in METHODS.names():
        m = METHODS.get(name)()
        rows.append(
            {
                "name": name,
                "tasks": list(m.tasks),
                "needs_teacher": m.needs_teacher,
                "description": m.description,
            }
        )
    if args.json:
        print(json.dumps(rows))
        return 0
    table = Table(title="kdbench methods")
    for col in ("name", "tasks", "teacher?", "description"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["name"], "/".join(r["tasks"]), "yes" if r["needs_teacher"] else "no", r["description"]
        )
    console().print(table)
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``datasets`` and ``methods`` to the ``kdbench`` sub-commands."""
    p = sub.add_parser("datasets", help="list the dataset catalogue")
    add_data_options(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_datasets)

    p = sub.add_parser("methods", help="list the registered methods")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_methods)
