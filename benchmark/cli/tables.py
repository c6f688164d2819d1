"""``kdbench tables``: regenerate the results tables of the docs from the record."""

from __future__ import annotations

import argparse
import sys

from benchmark.cli.options import add_record_option


def cmd_tables(args: argparse.Namespace) -> int:
    from benchmark.results.record import RECORD_DIR, require_record
    from benchmark.results.table_docs import update_docs
    from benchmark.results.tables import SPEC

    record = require_record(args.record or RECORD_DIR)
    changed = update_docs(record, check=args.check, spec_path=args.spec or SPEC)
    if args.check:
        for item in changed:
            print(f"differs: {item}", file=sys.stderr)
        if changed:
            print("run `kdbench tables` to regenerate them", file=sys.stderr)
        return 1 if changed else 0
    print(f"{len(changed)} table(s) rewritten" + "".join(f"\n  {c}" for c in changed))
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``tables`` to the ``kdbench`` sub-commands."""
    p = sub.add_parser(
        "tables",
        help="regenerate the docs' results tables from the record (docs/tables.yaml)",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 listing the tables whose document differs",
    )
    add_record_option(p, "record folder (default docs/results/record)", alone=False)
    p.add_argument("--spec", default=None, help="table spec (default docs/tables.yaml)")
    p.set_defaults(func=cmd_tables)
