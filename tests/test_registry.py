import ast
from pathlib import Path

import pytest

from benchmark.errors import KdbenchError, UnknownNameError
from benchmark.models import BACKBONES
from benchmark.registry import METHODS, Registry, register_method

METHODS_DIR = Path(__file__).resolve().parents[1] / "methods"


def test_duplicate_name_is_refused():
    reg: Registry[object] = Registry("thing")
    reg.register("a")(object)
    with pytest.raises(KdbenchError, match="registered twice"):
        reg.register("a")(int)


def test_unknown_name_suggests_and_lists():
    with pytest.raises(UnknownNameError) as exc:
        METHODS.get("vanila")
    msg = str(exc.value)
    assert "Did you mean 'vanilla'?" in msg and "kdbench methods" in msg
    assert "\n" not in msg


def test_case_insensitive_suggestion():
    with pytest.raises(UnknownNameError, match="Did you mean 'GCN'"):
        BACKBONES.get("gcn")


def test_methods_are_discovered_from_the_methods_package():
    assert "vanilla" in METHODS.names()
    assert METHODS.get("vanilla").name == "vanilla"


def test_register_method_sets_name_and_rejects_duplicate():
    with pytest.raises(KdbenchError, match="registered twice"):

        @register_method("vanilla")
        class Other:
            pass


def method_imports(source: str) -> list[str]:
    """The imports of ``methods`` or ``methods.*`` in ``source`` (anywhere, relative ones too)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = ["." * node.level + (node.module or "")]
        else:
            continue
        found += [n for n in names if n.startswith(".") or n.split(".")[0] == "methods"]
    return found


def test_the_import_check_catches_every_spelling():
    source = (
        "import methods.kd\nfrom methods.glnn import GLNN\nfrom . import kd\n"
        "def f():\n    from methods import vanilla\nimport benchmark.method\n"
    )
    assert method_imports(source) == ["methods.kd", "methods.glnn", ".", "methods"]


@pytest.mark.parametrize("path", sorted(METHODS_DIR.glob("*.py")), ids=lambda p: p.name)
def test_method_files_import_only_benchmark_never_each_other(path):
    """DESIGN.md, Layers: a plug-in imports the core (``benchmark``), never another method."""
    assert method_imports(path.read_text()) == [], f"{path.name}: import from benchmark instead"
