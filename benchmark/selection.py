"""How a cell's hyper-parameters are selected, and the protocol kind that follows from it.

Test data never chooses anything. Where every seed of a protocol shares one partition
(:attr:`~benchmark.data.protocols.ProtocolTraits.shared`), one study tuned on the validation
part serves every seed (``shared``). Where each seed draws its own partition (a fold, a random
draw), the training and validation items of one seed are test items of the others, so final
seed *r*'s hyper-parameters are chosen on seed *r*'s own training/validation parts alone: one
study per (cell, seed), as Errica et al. (ICLR 2020) select inside each outer fold
(``nested``). A cell with a budget of one trial chooses nothing: it runs its defaults
(``none``). A sweep may still ask for ``shared`` on a per-seed protocol; its rows are then
marked, like a paper protocol's, and never ranked with honest rows.

Every cell carries its **protocol kind**: ``honest``; ``paper`` (a paper protocol: what an
official code did, e.g. choosing the epoch on test); ``shared-tuning`` (shared selection on a
per-seed protocol: leaks across seeds).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from benchmark.data.splits import traits

Selection = Literal["nested", "shared", "none"]
HONEST, PAPER, SHARED_TUNING = "honest", "paper", "shared-tuning"
KINDS = (HONEST, PAPER, SHARED_TUNING)
#: the leaderboard's marks of the kinds that are never ranked with honest rows
MARKS = {PAPER: "[paper]", SHARED_TUNING: "[shared tuning]"}


def selection_mode(protocol: str, requested: str, trials: int) -> Selection:
    """``none`` for an untuned cell (``trials == 1``: its defaults), ``shared`` where the
    protocol's seeds share one partition or the sweep asks for it, else ``nested``."""
    if trials <= 1:
        return "none"
    if requested == "shared" or traits(protocol).shared:
        return "shared"
    return "nested"


def protocol_kind(protocol: str, selection: str) -> str:
    """``paper`` for a paper protocol; ``shared-tuning`` for shared selection on a protocol
    whose seeds draw their own partitions; else ``honest``."""
    t = traits(protocol)
    if t.paper:
        return PAPER
    if selection == "shared" and not t.shared:
        return SHARED_TUNING
    return HONEST


def legacy_kind(protocol: str, trials: float | None) -> str:
    """The kind of a run logged before kinds were tags: every tuned cell then shared one study
    across seeds, so a per-seed protocol with more than one trial is ``shared-tuning``.
    Unknown protocols (a plug-in removed since) count as honest."""
    try:
        t = traits(protocol)
    except Exception:
        return HONEST
    if t.paper:
        return PAPER
    return SHARED_TUNING if (trials or 0) > 1 and not t.shared else HONEST


def kind_warning(kind: str, protocol: str, tuning_seeds: Sequence[int] = ()) -> str:
    """One sentence for a marked row: what test chose, or what leaks; empty for honest."""
    if kind == PAPER:
        try:
            what = traits(protocol).paper
        except Exception:
            what = "an official code's protocol"
        return (
            f"Paper protocol `{protocol}`: {what}. Reproduced beside the honest protocol; "
            "never ranked with honest rows."
        )
    if kind == SHARED_TUNING:
        seeds = f"seeds {', '.join(map(str, tuning_seeds))}" if tuning_seeds else "the tuning seeds"
        return (
            f"Shared tuning on `{protocol}`, whose seeds draw their own partitions: the "
            f"hyper-parameters were chosen on the validation score of {seeds}, whose "
            "training and validation items are test items of the other final seeds (leaks "
            "across seeds). Never ranked with honest rows."
        )
    return ""
