"""The method contract: what a registered method declares, receives and returns.

A method is a class registered with ``@register_method(name)`` in a file of ``methods/``. It
declares the tasks it supports, its own hyper-parameters (:attr:`Method.defaults`), the
backbone and training defaults it changes (:attr:`Method.overrides`), its search space, and
the artefacts it depends on (teachers, pre-trained encoders), which the runner resolves
*before* ``fit`` and passes in ``ctx.artifacts``. ``fit`` trains on ``ctx.split.train``,
selects on ``ctx.split.val`` only, and touches ``ctx.split.test`` only when
``ctx.evaluate_test`` is set (final seeds, never tuning trials).

Most methods subclass :class:`benchmark.train.loop_method.LoopMethod` and supply hooks to the
one shared training loop (:mod:`benchmark.train.loop`): ``setup(ctx) -> state`` once per fit,
then ``build``, ``configure_optimizer``, ``training_step`` / ``loss``, ``predict`` …, each
receiving that per-fit state, so that a method object holds no state of its own between or
during fits.

**One parameter namespace per owner.** ``ctx.params`` is flat: the loop's keys
(:data:`~benchmark.fit_context.TRAIN_DEFAULTS`), the backbone's (its ``defaults`` and
:data:`~benchmark.models.backbones.ARCH_KEYS`) and the method's own. A method's own key may not
shadow a loop or backbone key (LAD-GNN's loss weight once was ``alpha``, APPNP's teleport
probability): :func:`check_namespaces` refuses it at registration. A method that *changes* a
loop or backbone default (GLNN's wider MLP student, LAD-GNN's 300 epochs) says so in
``overrides``, whose keys must be loop or backbone keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from benchmark.errors import KdbenchError
from benchmark.fit_context import TRAIN_DEFAULTS, Dependency, FitContext, FitResult

__all__ = ["Dependency", "FitContext", "FitResult", "Method", "check_namespaces", "resolve_params"]

if TYPE_CHECKING:
    import optuna


class Method:
    """Base of every registered method (see the module docstring)."""

    name: ClassVar[str] = ""
    tasks: ClassVar[tuple[str, ...]] = ("node", "graph")
    description: ClassVar[str] = ""
    #: the leaderboard's method-family filter: vanilla, kd-baseline, distillation, mlp-student,
    #: pretraining (or other).
    family: ClassVar[str] = "other"
    #: the method's own hyper-parameters, with defaults; no key may be a loop or backbone key
    #: (registration fails, see :func:`check_namespaces`).
    defaults: ClassVar[dict[str, Any]] = {}
    #: the loop and backbone defaults this method changes (GLNN: its MLP student's width,
    #: learning rate, epochs …); every key must be a loop or backbone key.
    overrides: ClassVar[dict[str, Any]] = {}
    #: the backbones the method can use (``None``: every one; GLNN's student: only the MLP).
    backbones: ClassVar[tuple[str, ...] | None] = None
    #: the dataset families (a card's ``family``) the method applies to (``None``: every one;
    #: pre-trained molecular encoders: ``molecular``).
    families: ClassVar[tuple[str, ...] | None] = None
    #: the split protocol ``--protocol paper`` means for this method (what its official code
    #: did; see ``benchmark.data.splits.PAPER_PROTOCOLS``), ``None`` if it has none.
    paper_protocol: ClassVar[str | None] = None
    #: ``faithful`` (from the paper's math, checked against the official code where there is
    #: one) or ``reimplementation`` (rebuilt from a partial description: the leaderboard marks
    #: the row).
    fidelity: ClassVar[str] = "faithful"
    #: data beyond the dataset that the method learns from (a pre-training corpus), ``None``
    #: if none: the leaderboard marks the row, as OGB's "external data" column.
    external_data: ClassVar[str | None] = None
    #: trained only as another method's dependency (LAD-GNN's label-attentive teacher, which
    #: is fed the labels): never a sweep cell or a leaderboard row, never scored on test.
    dependency_only: ClassVar[bool] = False
    #: bumped when a change alters what a trained run of this method exports as a
    #: dependency, so that cached artefacts of the earlier code are not reused (0: not part of
    #: the cache key, which keeps the keys of every unchanged method as they were).
    revision: ClassVar[int] = 0

    @classmethod
    def check_registration(cls) -> None:
        """Called by :func:`benchmark.registry.register_method`: the parameter namespaces
        (:func:`check_namespaces`)."""
        check_namespaces(cls)

    def dependencies(
        self,
        task: str,
        backbone: str,
        teacher: str | None,
        params: dict[str, Any] | None = None,
    ) -> list[Dependency]:
        """Artefacts to resolve before ``fit`` for a cell with this ``backbone`` and
        ``teacher`` backbone (``None`` unless the method distils); none by default.
        ``params`` are the cell's resolved hyper-parameters when known (``None`` while a sweep
        is expanded): a dependency with fixed ``params`` may derive them from its student's
        (LAD-GNN's teacher shares its student's architecture)."""
        return []

    @property
    def needs_teacher(self) -> bool:
        return type(self).dependencies is not Method.dependencies

    def search_space(self, trial: optuna.Trial, task: str) -> dict[str, Any]:
        """Optuna suggestions for this method's own hyper-parameters (sweeps may override)."""
        return {}

    def fit(self, ctx: FitContext) -> FitResult:
        raise NotImplementedError


def shared_keys() -> dict[str, str]:
    """Every loop and backbone hyper-parameter, mapped to its owner (``"the training loop"``,
    ``"backbone APPNP"``, …): the keys a method may change (``overrides``) but not own."""
    from benchmark.models.backbones import ARCH_KEYS

    owners: dict[str, str] = {"preset": "the preset mechanism"}
    for name, cls in _backbone_items():
        for task_defaults in cls.defaults.values():
            owners.update({k: f"backbone {name}" for k in task_defaults if k not in owners})
    owners.update({k: "the backbones" for k in ARCH_KEYS if k not in owners})
    for task_defaults in TRAIN_DEFAULTS.values():
        owners.update({k: "the training loop" for k in task_defaults})
    return owners


def check_namespaces(cls: type[Method]) -> None:
    """Refuse a method whose own keys (``defaults``) shadow a loop or backbone key, or whose
    ``overrides`` name a key that is neither: one :class:`KdbenchError` naming the key, its
    owner and the fix."""
    owners = shared_keys()
    name = cls.name or cls.__name__
    for key in cls.defaults:
        if key in owners:
            raise KdbenchError(
                f"method '{name}': its own hyper-parameter '{key}' is also a key of "
                f"{owners[key]}, so setting one would silently set the other; rename it "
                f"(e.g. '{name}_{key}'), or, if the method means to change {owners[key]}'s "
                f"default, move it from `defaults` to `overrides`"
            )
    for key in cls.overrides:
        if key not in owners:
            raise KdbenchError(
                f"method '{name}': `overrides` changes the defaults of the loop and the "
                f"backbones, and '{key}' is neither's; move it to `defaults` (the method's own "
                "hyper-parameters)"
            )


def resolve_params(
    method: Method, backbone_cls: type, task: str, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Training defaults ∪ backbone defaults ∪ the method's ``overrides`` (its changes to
    those) ∪ the method's own ``defaults`` ∪ preset ∪ ``overrides`` (the caller's).

    ``overrides["preset"]`` names a preset of :mod:`benchmark.models.presets` (a paper's
    settings for this backbone). An override naming no known hyper-parameter raises, listing
    the known ones.
    """
    from benchmark.models.backbones import ARCH_KEYS
    from benchmark.models.presets import preset_params

    overrides = dict(overrides or {})
    preset = overrides.get("preset")
    backbone_name = next((k for k, v in _backbone_items() if v is backbone_cls), None)
    chosen = preset_params(str(preset), backbone_name or backbone_cls.__name__) if preset else {}
    params = {
        **TRAIN_DEFAULTS[task],
        **backbone_cls.defaults.get(task, {}),
        **method.overrides,
        **method.defaults,
        **chosen,
    }
    known = set(params) | set(ARCH_KEYS) | {"preset"}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise KdbenchError(
            f"unknown hyper-parameter(s) {', '.join(unknown)} for method '{method.name}'; "
            f"known: {', '.join(sorted(known))}"
        )
    return {**params, **overrides}


def _backbone_items() -> list[tuple[str, type]]:
    from benchmark.models.backbones import BACKBONES

    return [(name, BACKBONES.get(name)) for name in BACKBONES.names()]
