"""The import layers of ``pyproject.toml`` (import-linter): kept by the tree, broken by an
upward import, and complete (every module of ``benchmark`` sits in a layer)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")
pytestmark = pytest.mark.skipif(
    not LINT.exists(), reason="import-linter is not installed (pip install -e '.[dev]')"
)


def lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT), "--no-cache", str(root / "pyproject.toml")],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
    )


def copy_tree(tmp_path: Path) -> Path:
    for name in ("benchmark", "methods", "leaderboard"):
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_keeps_every_contract():
    out = lint(REPO)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert " 0 broken" in out.stdout.split("Contracts:")[-1], out.stdout[-2000:]


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("benchmark/metrics.py", "from benchmark.runner import grid", "CLI above the runner"),
        ("benchmark/tracking.py", "import leaderboard.views", "never import the leaderboard"),
        ("methods/vanilla.py", "from benchmark.runner import cellrun", "methods import only"),
        ("benchmark/data/types.py", "from benchmark.data import loaders", "no import cycle"),
        ("methods/kd.py", "from methods import vanilla", "methods never import each other"),
    ],
)
def test_a_deliberate_upward_import_breaks_a_contract(tmp_path, module, line, contract):
    root = copy_tree(tmp_path)
    path = root / module
    path.write_text(path.read_text() + f"\n{line}  # noqa\n")
    out = lint(root)
    assert out.returncode != 0, out.stdout[-3000:]
    broken = out.stdout.split("Broken contracts")[-1]
    assert contract in broken, broken[-3000:]
