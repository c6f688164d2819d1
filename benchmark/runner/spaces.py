"""Search spaces: one source per cell, shared blocks written once, every space drawn at load.

**Where a cell's space comes from** (one rule, :func:`space_source`): the sweep's
``search_spaces.<method>`` when the sweep gives one; otherwise the method's own
``search_space(trial, task)``, the documented fallback. Never both, never merged.

**Writing a space.** An entry of a sweep's ``search_spaces`` is

- a mapping of parameters, each a :class:`ParamSpec` (``lr: {type: float, low: 0.001, ...}``);
- the name of a space of the library ``sweeps/library/spaces.yaml`` (``vanilla: gnn_training``),
  which holds the blocks that several sweep files share;
- or a list of both, merged in order: a later item's parameter replaces an earlier one's in
  place, as YAML's merge key ``<<`` does (``kd: [gnn_training, kd_transfer]``).

Within one file, YAML anchors and aliases (``&name``, ``*name``, ``<<: *name``) share blocks.
Named spaces are resolved when the sweep is read: the validated sweep holds plain spaces.

**Drawn at load.** :func:`draw_problem` draws one real trial (an in-memory Optuna study, random
sampler) from a space a cell can reach, the sweep's or the method's fallback for the cell's
task, and resolves it through :func:`benchmark.method.resolve_params`, which refuses unknown
keys: a misspelt key is one error line when the sweep is read, not a failure of every trial.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, model_validator

from benchmark.errors import KdbenchError
from benchmark.runner.yaml_loc import located_error

if TYPE_CHECKING:
    import optuna

    from benchmark.method import Method


class ParamSpec(BaseModel):
    """One tuned hyper-parameter: ``float``/``int`` in [low, high] (``log`` scale, ``step``) or
    ``categorical`` over ``choices``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: list[Any] | None = None

    @model_validator(mode="after")
    def _check(self) -> ParamSpec:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("categorical needs a non-empty 'choices' list")
            return self
        if self.low is None or self.high is None:
            raise ValueError(f"{self.type} needs 'low' and 'high'")
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError("log scale needs low > 0")
        return self

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        """The value ``trial`` suggests for ``name`` in this range."""
        if self.type == "categorical":
            return trial.suggest_categorical(name, self.choices)
        if self.type == "int":
            step = int(self.step or 1)
            return trial.suggest_int(name, int(self.low), int(self.high), log=self.log, step=step)
        return trial.suggest_float(name, self.low, self.high, log=self.log, step=self.step)

    def contains(self, value: Any) -> bool:
        """Whether ``value`` lies in this range (the defaults enqueued as trial 0 must)."""
        if self.type == "categorical":
            return value in self.choices
        return isinstance(value, int | float) and self.low <= value <= self.high


#: a search space: parameter name → its range, in the order the trial suggests them
Space = dict[str, ParamSpec]

_LIBRARY = TypeAdapter(dict[str, Space])


def library_path() -> Path:
    """The named-space library: ``<repo>/sweeps/library/spaces.yaml``."""
    import benchmark

    return Path(benchmark.__file__).resolve().parents[1] / "sweeps" / "library" / "spaces.yaml"


def _shown(path: Path) -> str:
    """``path`` relative to the repository when it lies inside it."""
    root = library_path().parents[2]
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def load_library(path: Path | None = None) -> dict[str, Space]:
    """The named spaces of ``path`` (default :func:`library_path`), validated; an error names
    the file, the key and its line."""
    path = path or library_path()
    text = path.read_text()
    try:
        return _LIBRARY.validate_python(yaml.safe_load(text))
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function")))
        raise located_error(path, text, loc, err["msg"]) from None


def resolve_entries(entries: Any, path: Path, text: str) -> Any:
    """A sweep's raw ``search_spaces`` with every named space looked up in the library and every
    list merged in order (module docstring); anything else is left to the sweep's validation.
    The library is read only when an entry names a space."""
    if not isinstance(entries, dict):
        return entries
    library: dict[str, Space] | None = None
    out: dict[Any, Any] = {}
    for method, entry in entries.items():
        if not isinstance(entry, str | list):
            out[method] = entry
            continue
        merged: dict[str, Any] = {}
        for k, item in enumerate(entry if isinstance(entry, list) else [entry]):
            loc = ("search_spaces", method, *((k,) if isinstance(entry, list) else ()))
            if isinstance(item, dict):
                merged.update(item)
                continue
            if not isinstance(item, str):
                raise located_error(
                    path,
                    text,
                    loc,
                    "expected the name of a space of "
                    f"{_shown(library_path())} or a mapping of parameters",
                )
            library = library if library is not None else load_library()
            if item not in library:
                raise located_error(path, text, loc, _unknown(item, library))
            merged.update(library[item])
        out[method] = merged
    return out


def _unknown(name: str, library: dict[str, Space]) -> str:
    close = difflib.get_close_matches(name, list(library), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return (
        f"unknown search space '{name}'{hint}; the named spaces of "
        f"{_shown(library_path())} are {', '.join(sorted(library))}: fix the name, or "
        "add the space there"
    )


def space_source(spaces: dict[str, Space], method: str) -> Literal["sweep", "method"]:
    """Where a cell of ``method`` takes its space from: the sweep's ``search_spaces`` entry,
    else the method's own ``search_space`` (the fallback)."""
    return "sweep" if method in spaces else "method"


def suggest_params(
    spaces: dict[str, Space], method: Method, task: str, trial: optuna.Trial
) -> dict[str, Any]:
    """The tuned values ``trial`` suggests for a cell of ``method`` on a ``task`` dataset, from
    the one source :func:`space_source` names."""
    space = spaces.get(method.name)
    if space is None:
        return method.search_space(trial, task)
    return {name: spec.suggest(trial, name) for name, spec in space.items()}


def draw(spaces: dict[str, Space], method: Method, task: str) -> dict[str, Any]:
    """One real trial's values (a fresh in-memory study, random sampler, seed 0)."""
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "new study created" per draw
    try:
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    finally:
        optuna.logging.set_verbosity(verbosity)
    return suggest_params(spaces, method, task, study.ask())


def draw_problem(
    spaces: dict[str, Space], method_name: str, task: str, backbones: Iterable[str]
) -> str | None:
    """What goes wrong when a trial drawn from the space of a cell of ``method_name`` on a
    ``task`` dataset is resolved on each of ``backbones`` (``None``: nothing). The message
    says which source the space came from and where to fix it."""
    from benchmark.method import resolve_params
    from benchmark.models import BACKBONES
    from benchmark.registry import METHODS

    method = METHODS.get(method_name)()
    on = ""
    try:
        params = draw(spaces, method, task)
        for bb in backbones:
            on = f" on {bb}"
            resolve_params(method, BACKBONES.get(bb), task, params)
    except Exception as exc:  # a space that cannot be drawn or resolved, whatever the reason
        why = str(exc) if isinstance(exc, KdbenchError) else f"{type(exc).__name__}: {exc}"
        why = why.splitlines()[0] if why else type(exc).__name__
        if space_source(spaces, method_name) == "sweep":
            return f"a trial drawn from this space ({task} task{on}) fails: {why}"
        fn = type(method).search_space
        return (
            f"{method_name}'s own search space, the fallback as the sweep has no "
            f"search_spaces.{method_name} (fix {fn.__module__}.{fn.__qualname__}, or give "
            f"the sweep one), fails ({task} task{on}): {why}"
        )
    return None
