"""The record's staleness (code, config, unknown) and `kdbench verify`: a real tiny sweep,
exported into a record, re-fitted exactly; a tampered value fails; the committed record's
cheap pairs reproduce (the CI check)."""

import json
import subprocess
import sys

import pytest
import torch

from benchmark.cli import main
from benchmark.results.record import build_cell, read_cells, write_record
from benchmark.runner import staleness
from benchmark.runner.cellrun import Env, cell_params
from benchmark.runner.staleness import GitDiffs, method_files, record_staleness, summary
from benchmark.runner.sweep import expand, load_sweep
from benchmark.runner.verify import eligible_pairs, refit, this_cpu, verify
from benchmark.tracking import config_hash
from tests.test_runner import write


def write_sweep(folder, name, **over):
    """:func:`tests.test_runner.write`'s tiny MUTAG sweep, in ``folder`` (created)."""
    folder.mkdir(parents=True, exist_ok=True)
    return write(folder, name, **over)


def fake_git(monkeypatch, changes):
    """``GitDiffs.changed``: the files ``changes`` maps a commit to (absent: unknown)."""
    monkeypatch.setattr(GitDiffs, "changed", lambda self, c: changes.get(c.removesuffix("-dirty")))


def synthetic_cell(sweep_path, commit, tuned_lr=0.01, hash_=None, sweep=None):
    sw = load_sweep(sweep_path)
    cell = expand(sw)[0]
    params = cell_params(Env(sw, None, None, None, None), cell, {"lr": tuned_lr})
    config = {
        "config_hash": hash_ or config_hash({"cell": cell.key, "params": params}),
        "params": params,
    }
    identity = {
        "cell": cell.key,
        "sweep": sweep or cell.sweep,
        "method": "vanilla",
        "dataset": "MUTAG",
        "backbone": "MLP",
    }
    prov = {"code_commit": commit, "date": "2026-12-01", "threads": 1}
    seeds = [({"seed": s, "val": 0.5, "test": 0.5}, config, prov) for s in (0, 1)]
    return build_cell(identity, seeds, fixed={})


def test_staleness_tells_fresh_code_config_and_unknown(tmp_path, monkeypatch):
    path = write_sweep(tmp_path / "sweeps", "s")
    fake_git(
        monkeypatch,
        {
            "a" * 40: frozenset({"benchmark/runner/launch.py", "methods/ltd.py"}),  # elsewhere
            "b" * 40: frozenset({"benchmark/train/loop.py"}),  # the shared loop
            "d" * 40: frozenset({"methods/vanilla.py"}),  # the cell's own method
        },
    )
    cells = [
        synthetic_cell(path, "a" * 40),
        synthetic_cell(path, "b" * 40),
        synthetic_cell(path, "d" * 40 + "-dirty"),
        synthetic_cell(path, "a" * 40, hash_="0" * 16),
        synthetic_cell(path, "c" * 40),  # not in the clone
        synthetic_cell(path, "a" * 40, sweep="gone"),  # no sweep file of that name
    ]
    rows = record_staleness(cells, sweeps_dir=tmp_path / "sweeps")
    assert [r.reasons for r in rows] == [[], ["code"], ["code"], ["config"], ["code?"], ["config?"]]
    assert [r.state for r in rows] == ["fresh", "stale", "stale", "stale", "unknown", "unknown"]
    assert "benchmark/train/loop.py" in rows[1].details[0] and "bbbbbbb" in rows[1].details[0]
    assert "fetch --unshallow" in rows[4].details[0]
    assert summary(rows) == {
        "cells": 6,
        "fresh": 1,
        "stale code": 2,
        "stale config": 1,
        "unknown": 2,
    }


def test_a_changed_default_or_tuned_name_makes_a_cell_config_stale(tmp_path, monkeypatch):
    """Recorded under a sweep without an epoch cap, checked against today's with one: the
    runner would now run (and hash) other parameters; a tuned value outside today's names
    does not count."""
    old = write_sweep(tmp_path / "old", "s", budget={"trials": 2, "final_seeds": [0, 1]})
    write_sweep(tmp_path / "sweeps", "s")
    fake_git(monkeypatch, {"a" * 40: frozenset()})
    (row,) = record_staleness([synthetic_cell(old, "a" * 40)], sweeps_dir=tmp_path / "sweeps")
    assert row.reasons == ["config"] and "epochs" in row.details[0], row.details


def test_a_recorded_code_hash_decides_without_git_history(tmp_path, monkeypatch):
    """A seed that carries the hash of its cell's code files is judged by it alone: equal to
    today's is fresh, another is ``code`` — also where git knows nothing of its commit (a
    shallow clone, an exported tree); without a hash such a seed is ``code?``."""
    from benchmark.runner.fingerprint import cell_hash

    path = write_sweep(tmp_path / "sweeps", "s")
    fake_git(monkeypatch, {})  # no commit is known
    today = cell_hash("vanilla", "MUTAG", "MLP", None)
    cells = [synthetic_cell(path, "e" * 40) for _ in range(3)]
    cells[0]["provenance"][0]["code_hash"] = today
    cells[1]["provenance"][0]["code_hash"] = "0" * 16
    rows = record_staleness(cells, sweeps_dir=tmp_path / "sweeps")
    assert [r.reasons for r in rows] == [[], ["code"], ["code?"]], [r.details for r in rows]
    assert today in rows[1].details[0] and "0" * 16 in rows[1].details[0]


def test_the_code_hash_covers_the_core_and_the_methods_files(tmp_path):
    """The hash changes with a core file or the method's own file, not with another's; at a
    commit it is the hash of the same files as they were then (git cat-file)."""
    import subprocess

    from benchmark.runner.fingerprint import CommitFiles, digest, disk_files, disk_hash

    for rel, text in {
        "benchmark/train/loop.py": "a",
        "methods/vanilla.py": "v",
        "methods/ltd.py": "l",
        "benchmark/train/__pycache__/x.pyc": "binary",
    }.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    roots = ["benchmark/train", "methods/vanilla.py"]
    assert set(disk_files(roots, tmp_path)) == {"benchmark/train/loop.py", "methods/vanilla.py"}
    before = disk_hash(roots, tmp_path)
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "add", "benchmark", "methods"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "x"], cwd=tmp_path, check=True)
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True
    ).stdout.strip()
    (tmp_path / "methods/ltd.py").write_text("changed")
    assert disk_hash(roots, tmp_path) == before  # another method's file
    (tmp_path / "methods/vanilla.py").write_text("changed")
    assert disk_hash(roots, tmp_path) != before
    commits = CommitFiles(tmp_path)
    assert commits.hash(sha, roots) == before == commits.hash(sha + "-dirty", roots)
    assert commits.hash("f" * 40, roots) is None
    assert digest({"a": b"1"}) != digest({"a": b"2"}) != digest({"b": b"2"})


def test_git_diffs_name_the_changed_files_and_unknown_commits(tmp_path):
    def git(*args):
        return subprocess.run(
            ["git", "-C", str(tmp_path), *args], check=True, capture_output=True, text=True
        ).stdout.strip()

    git("init", "-q")
    (tmp_path / "benchmark" / "train").mkdir(parents=True)
    (tmp_path / "benchmark" / "train" / "loop.py").write_text("a = 1\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    sha = git("rev-parse", "HEAD")
    diffs = GitDiffs(tmp_path)
    assert diffs.changed(sha) == frozenset()
    (tmp_path / "benchmark" / "train" / "loop.py").write_text("a = 2\n")  # the working tree
    assert GitDiffs(tmp_path).changed(sha + "-dirty") == {"benchmark/train/loop.py"}
    assert diffs.changed("f" * 40) is None and diffs.changed("unknown") is None


def test_a_students_code_includes_its_teachers_method():
    files = method_files("kd", "graph", "MLP", "GCN")
    assert {"methods/kd.py", "methods/vanilla.py"} <= files
    assert "methods/ltd.py" not in files
    assert all(not f.startswith("/") for f in files)
    assert "benchmark/train" in staleness.CODE_PATHS


@pytest.fixture
def tiny_record(runs, tmp_path, monkeypatch):
    """A real tiny sweep (kd MLP ← GCN teacher, both tuned; untuned vanilla GIN; MUTAG folds
    0, 1; 15 epochs, so that scores differ) run on one thread, exported as a record under
    ``tmp_path/record``."""
    from benchmark.results.record_export import record_from_store
    from benchmark.runner.launch import run_sweep

    path = write_sweep(
        tmp_path / "sweeps",
        "tiny",
        budget={"trials": 2, "tuning_seeds": [0], "final_seeds": [0, 1], "epochs": 15},
        grid=[
            {"methods": ["kd"], "datasets": ["MUTAG"], "backbones": ["MLP"], "teachers": ["GCN"]},
            {"methods": ["vanilla"], "datasets": ["MUTAG"], "backbones": ["GIN"], "trials": 1},
        ],
        search_spaces={
            "vanilla": {"lr": {"type": "float", "low": 0.001, "high": 0.05, "log": True}},
            "kd": {"lr": {"type": "float", "low": 0.001, "high": 0.05, "log": True}},
        },
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the record's threads (the runner does not tag them yet)
    try:
        run_sweep(str(path), device="cpu")
    finally:
        torch.set_num_threads(threads)
    cells = record_from_store(f"sqlite:///{runs / 'mlflow.db'}")
    write_record(cells, tmp_path / "record")
    return tmp_path / "record"


def test_verify_reproduces_a_fresh_record_exactly_and_flags_a_tampered_value(
    tiny_record, tmp_path, monkeypatch, capsys
):
    cells = read_cells(tiny_record)
    assert [c["cell"] for c in cells] == [
        "tiny/kd/MUTAG/MLP/teacher=GCN",
        "tiny/vanilla/MUTAG/GCN",
        "tiny/vanilla/MUTAG/GIN/trials=1",
    ]
    fake_git(monkeypatch, {c["code_commit"].removesuffix("-dirty"): frozenset() for c in cells})
    rows = record_staleness(cells, sweeps_dir=tmp_path / "sweeps")
    assert [r.state for r in rows] == ["fresh"] * 3, [r.details for r in rows]
    checks = verify(cells, sample=10, same_cpu=True, sweeps_dir=tmp_path / "sweeps")
    assert len(checks) == 6 and all(c.ok and c.delta == 0.0 for c in checks), checks
    # the runner records the CPU; a seed recorded on another is left out by --same-cpu
    prov = cells[1]["provenance"][0]
    assert (prov["cpu"], prov["cpu_capability"]) == this_cpu()
    prov["cpu_capability"] = "SOME_OTHER_ISA"
    pairs, dropped = eligible_pairs(cells, same_cpu=True, sweeps_dir=tmp_path / "sweeps")
    assert len(pairs) == 4 and dropped["other cpu"] == 1
    note = refit(cells[1], cells[1]["seeds"][0], {}, torch.device("cpu"), None).note
    assert "SOME_OTHER_ISA" in note
    assert len({(c.val, c.test) for c in checks}) > 2  # not every fit the majority class
    kd = [c for c in checks if c.cell.startswith("tiny/kd")]
    assert kd and all("defaults" not in c.note for c in kd)  # the teacher cell's params

    lines = (tiny_record / "tiny.jsonl").read_text().splitlines()
    kd_line = json.loads(lines[0])
    kd_line["seeds"][1]["test"] += 0.01
    lines[0] = json.dumps(kd_line)
    (tiny_record / "tiny.jsonl").write_text("\n".join(lines) + "\n")
    argv = ["verify", "--record", str(tiny_record), "--stale", "--cells", "tiny/kd/*"]
    assert main([*argv, "--sample", "2"]) == 1
    out = capsys.readouterr().out
    print(out)
    assert "FAIL" in out and "1/2 pairs reproduce" in out and "0.01" in out


def test_verify_without_a_qualifying_pair_says_how_to_make_one(tmp_path, monkeypatch, capsys):
    path = write_sweep(tmp_path / "sweeps", "s")
    write_record([synthetic_cell(path, "b" * 40)], tmp_path / "record")
    fake_git(monkeypatch, {"b" * 40: frozenset({"benchmark/train/loop.py"})})
    assert main(["verify", "--record", str(tmp_path / "record")]) == 2
    err = capsys.readouterr().err
    assert "no (cell, seed) pair" in err and "kdbench export --record" in err


def test_status_record_counts_the_staleness(tmp_path, monkeypatch, capsys):
    path = write_sweep(tmp_path / "sweeps", "s")
    write_record([synthetic_cell(path, "b" * 40)], tmp_path / "record")
    fake_git(monkeypatch, {"b" * 40: frozenset({"benchmark/train/loop.py"})})
    assert main(["status", "--record", str(tmp_path / "record"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["summary"]["stale code"] == 1 and out["cells"][0]["reasons"][0] == "code"


def test_committed_record_two_cheap_pairs(runs, capsys):
    """The CI check: two cheap pairs of the committed record's fresh cells, recorded on this
    machine's CPU model and kernel instruction set (CI runs on the submitting session's
    machine), reproduce exactly. With no such pair (the training code changed since the
    record's cells were made, or a machine of another CPU) it fails with the one-line error
    naming the fix — re-run a few cheap cells there and export them — never skips."""
    status = main(["verify", "--sample", "2", "--max-seconds", "5", "--same-cpu"])
    captured = capsys.readouterr()
    assert status == 0, captured.out + captured.err


@pytest.mark.parametrize("argv", [["verify", "--help"], ["status", "--help"]])
def test_verify_and_status_parse_without_torch_or_pandas(argv):
    code = (
        f"import sys\nfrom benchmark.cli import main\ntry:\n    main({argv!r})\n"
        "except SystemExit:\n    pass\n"
        "print([m for m in ('torch', 'pandas', 'optuna', 'mlflow') if m in sys.modules])"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert proc.stdout.strip().splitlines()[-1] == "[]", proc.stdout


@pytest.mark.parametrize(
    "argv, says",
    [
        (["status", "--record", "{tmp}/none"], "no record at"),
        (["verify", "--record", "{tmp}/none"], "no record at"),
        (["tables", "--check", "--record", "{tmp}/none"], "no record at"),
        (["tables", "--check", "--spec", "{tmp}/none.yaml"], "cannot read the table spec"),
    ],
)
def test_a_missing_record_or_spec_is_one_line_naming_it(argv, says, tmp_path, capsys):
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0] and str(tmp_path) in err[0], err


def test_verify_wants_at_least_one_pair(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["verify", "--sample", "0"])
    assert exc.value.code == 2 and "≥ 1" in capsys.readouterr().err
