"""Sweep files (``sweeps/*.yaml``): which cells to run, their search spaces and budget.

A sweep is validated twice before anything trains: by a pydantic model (types, ranges; an error
names the key *and its line* in the file) and against the registries (methods, datasets,
backbones, hyper-parameter names). ``expand`` turns it into :class:`Cell` objects; a grid
entry's combinations that a method does not support (a node method on a graph dataset) are
skipped, and the teacher cells that distillation cells depend on are added first.

**Search spaces: one source per cell.** A cell's space is the sweep's
``search_spaces.<method>``; the method's own ``search_space(trial, task)`` is only the fallback
for a method the sweep gives no space (:func:`benchmark.runner.spaces.space_source`). An entry
is a mapping of parameters, the name of a shared space of ``sweeps/library/spaces.yaml``, or a
list of both merged in order; YAML anchors share blocks within a file
(:mod:`benchmark.runner.spaces`). At load, a trial is drawn from every space a cell of the
sweep can reach and resolved, so a misspelt key stops the sweep with one line naming the file,
the entry and the key.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from benchmark.errors import KdbenchError
from benchmark.runner.spaces import ParamSpec, draw_problem, resolve_entries, space_source
from benchmark.runner.yaml_loc import located_error


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Budget(_Strict):
    """The same for every cell of a sweep (and recorded with each): ``trials`` per tuning study
    (one study per cell and final seed under nested selection, one per cell under shared; a
    grid entry may set its own ``trials``; 1 = the defaults, untuned), ``final_seeds`` for the
    final stage, ``tuning_seeds`` whose mean validation score is a *shared* study's objective
    (unused by nested studies: seed *r*'s study scores seed *r* alone), and an optional
    ``epochs`` cap."""

    trials: int = Field(ge=1)
    tuning_seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    final_seeds: list[int] = Field(default_factory=lambda: list(range(10)), min_length=1)
    epochs: int | None = Field(default=None, ge=1)


class GridEntry(_Strict):
    """Cells = methods × datasets × backbones (× teacher backbones for distillation);
    ``protocol`` (optional) overrides the sweep's ``protocols`` for this entry's cells — e.g.
    LTD's ``ltd`` split on the CPF sets, or ``paper`` (each method's paper protocol).
    ``fixed`` (optional) fixes parameters of every method of the entry and of their teacher
    cells (those the teacher's method has), over the sweep-wide ``fixed`` and under the tuned
    values — e.g. ``preset: ltd``, a paper's architectures; such cells' keys end in
    ``/name=value``. ``trials`` (optional) overrides the budget's for the entry's cells and
    their teachers (``1``: the defaults, untuned; keys end in ``/trials=N``); ``selection``
    (optional) overrides the sweep's (``shared`` on a per-seed protocol leaks across seeds and
    is marked; keys end in ``/selection=shared``)."""

    methods: list[str] = Field(min_length=1)
    datasets: list[str] = Field(min_length=1)
    backbones: list[str] = Field(min_length=1)
    teachers: list[str] | None = None
    protocol: str | None = None
    fixed: dict[str, str | int | float | bool] = Field(default_factory=dict)
    trials: int | None = Field(default=None, ge=1)
    selection: Literal["nested", "shared"] | None = None


class SweepFile(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    budget: Budget
    sampler_seed: int = 0
    pruner: Literal["median", "none"] = "median"
    grid: list[GridEntry] = Field(min_length=1)
    search_spaces: dict[str, dict[str, ParamSpec]] = Field(default_factory=dict)
    fixed: dict[str, dict[str, Any]] = Field(default_factory=dict)
    protocols: dict[str, str] = Field(default_factory=dict)
    #: how tuned cells select (``benchmark.selection``): ``nested`` (default) tunes final seed
    #: r on seed r's own split wherever seeds draw their own partitions; ``shared`` tunes one
    #: study on ``tuning_seeds`` for every seed (marked "shared tuning" on such protocols)
    selection: Literal["nested", "shared"] = "nested"


@dataclass(frozen=True)
class Cell:
    """One leaderboard cell: a method with a backbone (and teacher backbone) on a dataset;
    ``fixed``: its grid entry's fixed parameters, sorted ``(name, value)`` pairs; ``trials``:
    its entry's trial budget when it differs from the sweep's (``None``: the sweep's);
    ``selection``: ``"shared"`` when its entry or sweep asks for shared selection."""

    sweep: str
    method: str
    dataset: str
    backbone: str
    teacher: str | None = None
    protocol: str | None = None
    fixed: tuple[tuple[str, Any], ...] = ()
    trials: int | None = None
    selection: str | None = None

    def dependency(self, method: str, backbone: str) -> Cell:
        """The cell of a dependency (a teacher): same dataset and protocol, and those of the
        fixed values that its method has (a preset, a paper's architecture); a value of the
        student's own (NOSMOG's ``position_dim``, kd's ``teacher_hidden``) stays the
        student's, so that variants of a student share their teacher."""
        known = param_names(method, backbone, self.dataset, dict(self.fixed))
        fixed = tuple((k, v) for k, v in self.fixed if k in known)
        return replace(self, method=method, backbone=backbone, teacher=None, fixed=fixed)

    @property
    def key(self) -> str:
        """A stable, readable identifier (Optuna study name, MLflow tag)."""
        parts = [self.sweep, self.method, self.dataset, self.backbone]
        if self.teacher:
            parts.append(f"teacher={self.teacher}")
        if self.protocol:
            parts.append(f"protocol={self.protocol}")
        parts += [f"{k}={v}" for k, v in self.fixed]
        if self.trials is not None:
            parts.append(f"trials={self.trials}")
        if self.selection == "shared":
            parts.append("selection=shared")
        return "/".join(parts)

    def resolved_protocol(self) -> str:
        """The concrete protocol: the cell's, else its dataset card's."""
        from benchmark.data.card import get_card

        return self.protocol or get_card(self.dataset).protocol


def param_names(method: str, backbone: str, dataset: str, fixed: dict[str, Any]) -> set[str]:
    """The parameter names ``method`` takes with ``backbone`` on ``dataset`` (with the preset
    ``fixed`` names, if any): those :func:`benchmark.method.resolve_params` accepts."""
    from benchmark.data.card import get_card
    from benchmark.method import resolve_params
    from benchmark.models import BACKBONES
    from benchmark.models.backbones import ARCH_KEYS
    from benchmark.registry import METHODS

    preset = {"preset": fixed["preset"]} if "preset" in fixed else {}
    m, bb = METHODS.get(method)(), BACKBONES.get(backbone)
    return {*resolve_params(m, bb, get_card(dataset).task, preset), *ARCH_KEYS, "preset"}


def load_sweep(path: str | Path) -> SweepFile:
    """Read and validate a sweep file; every error names the file, the key and its line."""
    path = Path(path)
    if not path.is_file():
        raise KdbenchError(f"sweep file {path} not found; see sweeps/ for examples")
    text = path.read_text()
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", exc)
        raise KdbenchError(f"{path}{where}: not valid YAML ({problem})") from None
    if isinstance(raw, dict) and "search_spaces" in raw:
        raw = {**raw, "search_spaces": resolve_entries(raw["search_spaces"], path, text)}
    try:
        sweep = SweepFile.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function")))
        more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        raise located_error(path, text, loc, f"{err['msg']}{more}") from None
    check_names(sweep, path, text)
    check_spaces(sweep, path, text)
    return sweep


def check_spaces(sweep: SweepFile, path: Path, text: str) -> None:
    """Draw a trial from every space a cell of the sweep can reach (the sweep's, or the method's
    fallback for the cell's task) and resolve it on the cell's backbones; a failure names the
    space's entry (``search_spaces.<method>``) or, for a fallback, the grid entry."""
    from benchmark.data.card import get_card

    reach: dict[tuple[str, str], tuple[tuple[Any, ...], list[str]]] = {}
    for i, entry in enumerate(sweep.grid):
        for cell in expand(sweep.model_copy(update={"grid": [entry]})):
            j = entry.methods.index(cell.method) if cell.method in entry.methods else None
            loc = ("grid", i, "methods") + ((j,) if j is not None else ())
            _, backbones = reach.setdefault((cell.method, get_card(cell.dataset).task), (loc, []))
            if cell.backbone not in backbones:
                backbones.append(cell.backbone)
    for (method, task), (loc, backbones) in reach.items():
        problem = draw_problem(sweep.search_spaces, method, task, backbones)
        if problem is not None:
            own = space_source(sweep.search_spaces, method) == "sweep"
            raise located_error(path, text, ("search_spaces", method) if own else loc, problem)


def check_names(sweep: SweepFile, path: Path, text: str) -> None:
    """Every method, dataset, backbone and hyper-parameter the sweep names must exist."""
    from benchmark.data.card import get_card
    from benchmark.data.splits import SPLITS
    from benchmark.method import resolve_params
    from benchmark.models import BACKBONES
    from benchmark.registry import METHODS

    def fail(loc: tuple[Any, ...], msg: str) -> None:
        raise located_error(path, text, loc, msg)

    for i, entry in enumerate(sweep.grid):
        for field, registry in (
            ("methods", METHODS),
            ("backbones", BACKBONES),
            ("teachers", BACKBONES),
        ):
            for j, name in enumerate(getattr(entry, field) or []):
                if name not in registry:
                    try:
                        registry.get(name)
                    except KdbenchError as exc:
                        fail(("grid", i, field, j), str(exc))
                elif field == "methods" and METHODS.get(name).dependency_only:
                    fail(
                        ("grid", i, field, j),
                        f"'{name}' is trained only as another "
                        "method's dependency (lad_teacher: lad_gnn's); sweep that method",
                    )
        for j, name in enumerate(entry.datasets):
            try:
                get_card(name)
            except KdbenchError as exc:
                fail(("grid", i, "datasets", j), str(exc))
        if entry.protocol not in (None, "paper"):
            try:
                SPLITS.get(entry.protocol)
            except KdbenchError as exc:
                fail(("grid", i, "protocol"), str(exc))
        paper = entry.protocol == "paper" or any(
            sweep.protocols.get(ds) == "paper" for ds in entry.datasets
        )
        for j, name in enumerate(entry.methods if paper else []):
            if METHODS.get(name).paper_protocol is None:
                fail(
                    ("grid", i, "methods", j),
                    f"method '{name}' has no `paper` protocol; give this entry a protocol by name",
                )
        _check_no_tuning_on_test(sweep, i, entry, fail)
    for ds, protocol in sweep.protocols.items():
        try:
            get_card(ds)
            if protocol != "paper":  # each method's own paper protocol
                SPLITS.get(protocol)
        except KdbenchError as exc:
            fail(("protocols", ds), str(exc))
    # sweep-wide names are checked on every backbone (values are free); an entry's fixed
    # values as given, on the entry's backbones and teachers (an unknown preset fails here)
    named = [
        ((section, method), method, dict.fromkeys(params, 0), BACKBONES.names())
        for section in ("search_spaces", "fixed")
        for method, params in getattr(sweep, section).items()
    ]
    named += [
        (
            ("grid", i, "fixed"),
            method,
            dict(entry.fixed),
            [*entry.backbones, *(entry.teachers or [])],
        )
        for i, entry in enumerate(sweep.grid)
        if entry.fixed
        for method in entry.methods
    ]
    for loc, method, params, backbones in named:
        if method not in METHODS:
            fail(loc, f"unknown method '{method}'")
        m = METHODS.get(method)()
        for task in m.tasks:
            for bb in backbones:
                try:
                    resolve_params(m, BACKBONES.get(bb), task, params)
                except KdbenchError as exc:
                    fail(loc, str(exc))


def _check_no_tuning_on_test(sweep: SweepFile, i: int, entry: GridEntry, fail: Any) -> None:
    """Refuse an entry that would tune on a protocol whose selection part is its test part."""
    from benchmark.data.card import get_card
    from benchmark.data.splits import traits
    from benchmark.registry import METHODS

    trials = entry.trials if entry.trials is not None else sweep.budget.trials
    if trials <= 1:
        return
    for name in entry.methods:
        for ds in entry.datasets:
            protocol = entry.protocol or sweep.protocols.get(ds) or get_card(ds).protocol
            if protocol == "paper":
                protocol = METHODS.get(name).paper_protocol
            if protocol and traits(protocol).selects_on_test:
                loc = ("grid", i, "protocol") if entry.protocol else ("grid", i, "methods")
                fail(
                    loc,
                    f"{name} on {ds}: protocol '{protocol}' selects on its test part, so "
                    f"tuning ({trials} trials) would choose hyper-parameters on test; give "
                    "this entry `trials: 1` (the method's defaults, untuned)",
                )


def expand(sweep: SweepFile) -> list[Cell]:
    """The sweep's cells, teacher cells first, without duplicates or unsupported combinations."""
    from benchmark.data.card import get_card
    from benchmark.registry import METHODS

    cells: list[Cell] = []
    for entry in sweep.grid:
        for method in entry.methods:
            m = METHODS.get(method)()
            for ds in entry.datasets:
                card = get_card(ds)
                if card.task not in m.tasks or card.target == "none":
                    continue
                if m.families is not None and card.family not in m.families:
                    continue
                for bb in entry.backbones:
                    if m.backbones is not None and bb not in m.backbones:
                        continue
                    teachers = (entry.teachers or [bb]) if m.needs_teacher else [None]
                    for t in teachers:
                        protocol = entry.protocol or sweep.protocols.get(ds)
                        if protocol == "paper":  # concrete, so that teacher cells share it
                            protocol = m.paper_protocol
                        cells.append(
                            Cell(
                                sweep.name,
                                method,
                                ds,
                                bb,
                                t,
                                protocol,
                                tuple(sorted(entry.fixed.items())),
                                *_budget_fields(sweep, entry),
                            )
                        )
    ordered: list[Cell] = []
    for cell in cells:
        for dep in teacher_cells(cell):
            if dep not in ordered:
                ordered.append(dep)
        if cell not in ordered:
            ordered.append(cell)
    return ordered


def _budget_fields(sweep: SweepFile, entry: GridEntry) -> tuple[int | None, str | None]:
    """A cell's ``(trials, selection)`` fields: set only where they differ from the default."""
    trials = entry.trials if entry.trials not in (None, sweep.budget.trials) else None
    selection = entry.selection or sweep.selection
    return trials, ("shared" if selection == "shared" else None)


def cell_trials(sweep: SweepFile, cell: Cell) -> int:
    """The trial budget of each of ``cell``'s tuning studies."""
    return cell.trials if cell.trials is not None else sweep.budget.trials


def teacher_cells(cell: Cell) -> list[Cell]:
    """The cells whose tuned configuration ``cell``'s dependencies use (recursively)."""
    from benchmark.data.card import get_card
    from benchmark.registry import METHODS

    out: list[Cell] = []
    task = get_card(cell.dataset).task
    for dep in METHODS.get(cell.method)().dependencies(task, cell.backbone, cell.teacher):
        if dep.params is None:
            parent = cell.dependency(dep.method, dep.backbone)
            out += [*teacher_cells(parent), parent]
    return out
