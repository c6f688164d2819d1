"""The record (``docs/results/record/``): its format round trip, the merge by cell key, the export
from a real store (``kdbench export --record``) and the committed record itself."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from benchmark.results import record, record_export
from benchmark.results.aggregate import aggregate, final_runs
from benchmark.results.record import (
    RECORD_DIR,
    build_cell,
    cell_key,
    dumps_cell,
    load_record,
    read_cells,
    write_record,
)
from benchmark.results.record_export import record_from_store
from benchmark.selection import KINDS

PROV = {"code_commit": "abc123", "date": "2026-11-30", "hardware": "x86_64 2 cores; cpu"}


def toy_cell(sweep: str, dataset: str, tests: list[float], commit: str = "abc123") -> dict:
    """A two-parameter-set cell of ``vanilla``/GCN on ``dataset`` with one seed per test value."""
    key = cell_key(sweep, "vanilla", dataset, "GCN", fixed={"preset": "x"})
    seeds = [
        (
            {"seed": i, "val": t - 0.1, "test": t, "best_epoch": 3 + i, "num_params": 100},
            {"config_hash": f"h{i % 2}", "params": {"lr": 0.01 * (1 + i % 2), "hidden": 16}},
            {**PROV, "code_commit": commit},
        )
        for i, t in enumerate(tests)
    ]
    identity = {
        "cell": key,
        "sweep": sweep,
        "method": "vanilla",
        "dataset": dataset,
        "backbone": "GCN",
        "teacher": "",
        "protocol": "planetoid_public",
        "protocol_kind": "honest",
        "selection": "shared",
        "metric": "accuracy",
    }
    return build_cell(identity, seeds, trials=3, budget=3, tuning_seeds=[0])


def test_cell_key_is_the_runners():
    from benchmark.runner.sweep import Cell

    cells = [
        Cell("s", "vanilla", "Cora", "GCN"),
        Cell("s", "glnn", "Cora-CPF", "MLP", teacher="GAT", protocol="inductive"),
        Cell("s", "nosmog", "Cora-CPF", "MLP", "SAGE", None, (("a", 0.0), ("preset", "p"))),
    ]
    for c in cells:
        assert (
            cell_key(
                c.sweep,
                c.method,
                c.dataset,
                c.backbone,
                c.teacher,
                c.protocol,
                dict(reversed(c.fixed)),
            )
            == c.key
        )
        assert record.fixed_of_key(c.key) == dict(c.fixed)


def test_round_trip_write_then_load(tmp_path):
    cell = toy_cell("toy", "Cora", [0.8, 0.7, 0.9])
    assert write_record([cell], tmp_path) == {"added": 1, "replaced": 0}
    assert read_cells(tmp_path) == [json.loads(dumps_cell(cell))]
    assert [len(c["configs"]) for c in read_cells(tmp_path)] == [2]  # shared per parameter set
    runs = load_record(tmp_path)
    assert list(runs["seed"]) == ["0", "1", "2"]
    assert list(runs["m.test"]) == [0.8, 0.7, 0.9]
    assert set(runs["source"]) == {"record"} and set(runs["git_sha"]) == {"abc123"}
    assert json.loads(runs["params"][1]) == {"hidden": 16, "lr": 0.02}
    assert runs["m.inference_ms"].isna().all()  # not measured: NaN, never missing


def test_merge_replaces_only_the_re_exported_cell(tmp_path):
    a, b = toy_cell("toy", "Cora", [0.8, 0.7]), toy_cell("toy", "CiteSeer", [0.6, 0.5])
    other = toy_cell("other", "Cora", [0.1])
    write_record([a, b, other], tmp_path)
    before = (tmp_path / "toy.jsonl").read_text()
    again = toy_cell("toy", "Cora", [0.85], commit="def456")
    assert write_record([again], tmp_path) == {"added": 0, "replaced": 1}
    cells = {c["cell"]: c for c in read_cells(tmp_path)}
    assert [s["test"] for s in cells[a["cell"]]["seeds"]] == [0.85]  # all its seeds replaced
    assert cells[a["cell"]]["code_commit"] == "def456"
    assert cells[b["cell"]] == json.loads(dumps_cell(b)) and other["cell"] in cells
    lines = (tmp_path / "toy.jsonl").read_text().splitlines()
    assert lines == sorted(lines) and len(lines) == 2  # sorted by key: small diffs
    assert lines[0] == before.splitlines()[0] == dumps_cell(b)  # CiteSeer's line: untouched
    # deterministic: the same cells in another order write the same bytes
    write_record([b, a], tmp_path / "x")
    write_record([a], tmp_path / "y")
    write_record([b], tmp_path / "y")
    assert (tmp_path / "x" / "toy.jsonl").read_bytes() == (
        tmp_path / "y" / "toy.jsonl"
    ).read_bytes()


def test_export_from_a_real_store_matches_its_final_runs(smoke_runs, tmp_path, monkeypatch):
    from benchmark.cli import main

    uri = f"sqlite:///{smoke_runs / 'mlflow.db'}"
    cells = record_from_store(uri)
    runs = final_runs(uri)
    assert sorted(c["cell"] for c in cells) == sorted(runs["cell"].unique())
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    assert main(["export", "--record", str(tmp_path)]) == 0
    assert (tmp_path / "smoke.jsonl").is_file()
    got = load_record(tmp_path)
    on = ["cell", "seed"]
    both = got.merge(runs, on=on, suffixes=("", "_store"))
    assert len(both) == len(runs) == len(got)
    for col in ("m.test", "m.val", "m.best_epoch", "m.num_params", "m.inference_ms"):
        assert (both[col] == both[f"{col}_store"]).all(), col
    for col in ("protocol", "protocol_kind", "selection", "git_sha", "hardware", "config_hash"):
        assert (both[col] == both[f"{col}_store"]).all(), col
    ids = list(runs["run_id"])  # the SQL reader and the client agree
    assert record_export.run_details_sql(uri, ids) == record_export.run_details_client(uri, ids)
    nested = next(c for c in cells if c["dataset"] == "MUTAG")
    assert nested["selection"] == "nested" and nested["trials"] == 3
    assert all(c["configs"][0]["params"]["epochs"] == 15 for c in cells)  # typed back
    table, store_table = aggregate(got), aggregate(runs)
    cols = ["cell", "seeds", "test_mean", "test_std", "protocol_kind", "selection"]
    pd.testing.assert_frame_equal(table[cols], store_table[cols])
    # record rows and store rows feed one table
    mixed = aggregate(pd.concat([load_record(RECORD_DIR), runs], ignore_index=True))
    assert len(mixed) == len(read_cells(RECORD_DIR)) + len(cells)
    # a second export replaces the same cells; no --out and no --record is an error
    assert main(["export", "--record", str(tmp_path)]) == 0
    assert len(read_cells(tmp_path)) == len(cells)
    assert main(["export"]) == 2
    # a cell with fewer final seeds than its sweep asks for stays out unless --partial
    assert record_export.expected_seeds(uri) == {c["cell"]: 2 for c in cells}
    short = cells[0]["cell"]
    monkeypatch.setattr(
        record_export, "expected_seeds", lambda _: {c["cell"]: 2 for c in cells} | {short: 3}
    )
    assert short not in {c["cell"] for c in record_from_store(uri)}
    assert short in {c["cell"] for c in record_from_store(uri, partial=True)}


def test_committed_record_keeps_kinds_variants_todays_names_and_provenance():
    """The committed record (the studies migrated once from the pre-runner results files,
    then grown by ``kdbench export --record``): every cell holds its kind, its fixed values as
    its seeds ran with them, today's parameter names and the commit, day, machine and command of
    every seed; each file well under 1 MB; the tables take it whole (one row per cell)."""
    cells = {c["cell"]: c for c in read_cells(RECORD_DIR)}
    kinds = {(c["sweep"], c["protocol"], c["protocol_kind"]) for c in cells.values()}
    assert ("lad_reproduction", "lad_paper", "paper") in kinds
    assert ("lad_reproduction", "tu_10fold", "honest") in kinds
    assert ("ltd_reproduction", "ltd_fixed", "paper") in kinds
    assert ("paper", "ltd", "shared-tuning") in kinds  # LTD's tuned grid: one study, seeds 0-2
    assert ("ltd_paper", "ltd_fixed", "paper") in kinds
    lad = cells["lad_reproduction/lad_gnn/MUTAG/GCN/teacher=GCN/protocol=lad_paper"]
    base = cells[lad["cell"] + "/distill_weight=0.0"]
    assert base["configs"][0]["params"]["distill_weight"] == 0.0
    assert lad["configs"][0]["params"]["distill_weight"] == 1.0
    ltd = cells["ltd_reproduction/kd/Cora-CPF/APPNP/teacher=APPNP/protocol=ltd/preset=ltd"]
    assert ltd["teacher"] == "APPNP"
    assert cells["freekd_reproduction/freekd/Cora/GCN"]["teacher"] is None
    for c in cells.values():
        assert c["protocol_kind"] in KINDS and c["selection"] in ("none", "shared", "nested")
        assert c["cell"] == cell_key(
            c["sweep"],
            c["method"],
            c["dataset"],
            c["backbone"],
            c["teacher"],
            c["cell"].split("protocol=")[1].split("/")[0] if "/protocol=" in c["cell"] else None,
            c["fixed"],
        )
        assert all(cfg["params"][k] == v for cfg in c["configs"] for k, v in c["fixed"].items())
        if c["method"] == "lad_gnn":
            assert not any("alpha" in cfg["params"] for cfg in c["configs"])
        assert c["code_commit"] in {p["code_commit"] for p in c["provenance"]}
        for p in c["provenance"]:
            assert p["code_commit"] and p["date"] and p["hardware"] and p["command"]
        assert [s["seed"] for s in c["seeds"]] == sorted({s["seed"] for s in c["seeds"]})
    assert all(p.stat().st_size < 1_000_000 for p in record.record_files(RECORD_DIR))
    table = aggregate(load_record(RECORD_DIR)).set_index("cell")
    assert len(table) == len(cells)
    for key, c in cells.items():
        assert table.loc[key, "protocol_kind"] == c["protocol_kind"]
        tests = [s["test"] for s in c["seeds"]]
        assert table.loc[key, "test_mean"] == pytest.approx(sum(tests) / len(tests), abs=1e-12)
