"""Registries of named components (methods, backbones, loaders, split protocols).

One plain dict per kind, a ``register`` decorator that refuses duplicate keys, and a lookup
that answers an unknown key with a did-you-mean and the full list (GraphGym's ``register.py``).
Methods are discovered by importing every module of the top-level ``methods`` package and
any package advertised under the ``kdbench.methods`` entry-point group.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from benchmark.errors import KdbenchError, unknown_name

T = TypeVar("T")


class Registry(Generic[T]):
    """A name → object mapping for one kind of component."""

    def __init__(self, kind: str, hint: str = "") -> None:
        self.kind = kind
        self.hint = hint
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@REG.register("gcn")``; a name already taken raises ``KdbenchError``."""

        def deco(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise KdbenchError(
                    f"{self.kind} '{name}' is registered twice ({self._items[name]!r} and "
                    f"{obj!r}); give one of them another name."
                )
            self._items[name] = obj
            return obj

        return deco

    def get(self, name: str) -> T:
        """The object registered as ``name``; unknown names raise with a did-you-mean."""
        self._load()
        try:
            return self._items[name]
        except KeyError:
            raise unknown_name(self.kind, name, self._items, self.hint) from None

    def names(self) -> list[str]:
        self._load()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def _load(self) -> None:
        """Hook for lazily importing plug-ins (overridden by the method registry)."""


class _MethodRegistry(Registry[type]):
    _loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        import methods  # the package of plug-in files, one per method

        for info in pkgutil.iter_modules(methods.__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"methods.{info.name}")
        for ep in entry_points(group="kdbench.methods"):
            ep.load()


METHODS: Registry[type] = _MethodRegistry(
    "method", hint="List them with `kdbench methods`; add one as a file in methods/."
)


def register_method(name: str) -> Callable[[type], type]:
    """Class decorator registering a :class:`benchmark.method.Method` subclass as ``name``,
    after the class's own checks (``check_registration``: a method's hyper-parameters may not
    shadow the loop's or a backbone's); a failed check raises ``KdbenchError``."""

    def deco(cls: type) -> type:
        cls.name = name
        check = getattr(cls, "check_registration", None)
        if check is not None:
            check()
        return METHODS.register(name)(cls)

    return deco
