"""The split-protocol registry and what each protocol declares about selection.

Every protocol is registered with :func:`protocol`, which records its
:class:`ProtocolTraits` beside the function: whether its seeds share one partition (then seeds
vary only the initialisation, and one shared tuning study may serve all of them), whether its
selection part is its test part (then nothing may be tuned on it), and, for a paper protocol
(what an official code did), what it changes against the honest rule. The runner reads these
traits to choose nested or shared selection; the leaderboard to mark rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from benchmark.data.types import Split
from benchmark.registry import Registry

Protocol = Callable[..., Split]

SPLITS: Registry[Protocol] = Registry(
    "split protocol",
    hint="Set `protocol:` in the dataset card (or --protocol) to one of these.",
)


@dataclass(frozen=True)
class ProtocolTraits:
    """What a protocol declares.

    ``shared``: every seed gets the same train/validation/test partition (Planetoid's public
    split, OGB's official one, a deterministic scaffold split, one fixed paper split); seeds
    then vary only the initialisation. ``False``: each seed draws its own partition (a fold, a
    random draw), so the training and validation items of one seed are test items of others,
    and selection must be nested per seed.
    ``selects_on_test``: the selection part is the test part (``Split.val`` is ``Split.test``);
    such a protocol may never be tuned.
    ``paper``: empty for an honest protocol; for a paper protocol, what it does that the honest
    rule does not (shown with every row it produced)."""

    shared: bool
    selects_on_test: bool = False
    paper: str = ""


TRAITS: dict[str, ProtocolTraits] = {}


def protocol(
    name: str, *, shared: bool, selects_on_test: bool = False, paper: str = ""
) -> Callable[[Protocol], Protocol]:
    """Decorator: register a split protocol under ``name`` with its traits."""
    register = SPLITS.register(name)

    def deco(fn: Protocol) -> Protocol:
        TRAITS[name] = ProtocolTraits(shared, selects_on_test, paper)
        return register(fn)

    return deco
