import pytest

from benchmark.errors import KdbenchError, UnknownNameError
from benchmark.models import BACKBONES
from benchmark.registry import METHODS, Registry, register_method


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
