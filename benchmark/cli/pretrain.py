"""``kdbench pretrain``: pre-train an encoder into the artefact cache that fine-tuning cells
read (the same entry a ``pretrain_*`` cell would build; a killed run resumes from its last
epoch)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from benchmark.cli.options import (
    add_data_options,
    add_device_option,
    add_set_option,
    add_threads_option,
    parse_overrides,
)
from benchmark.errors import KdbenchError


def corpus_card(name: str) -> str:
    """The card name of a corpus given as written on the command line: ``zinc-moses`` →
    ``ZINC_MOSES`` (case and ``-``/``_`` do not matter)."""
    from benchmark.data.card import get_card, load_catalogue

    norm = name.lower().replace("-", "_")
    match = [c for c in load_catalogue() if c.lower().replace("-", "_") == norm]
    card = get_card(match[0] if match else name)  # unknown: did-you-mean error
    if card.target != "none":
        raise KdbenchError(
            f"{card.name} is a labelled dataset, not a pre-training corpus; use ZINC_MOSES"
        )
    return card.name


def pretrain_config(args: argparse.Namespace) -> Any:
    """The :class:`~benchmark.pretrain.encoder.PretrainConfig` of the command line: the
    ``hu2020`` GIN, the preset's molecules and epochs, then explicit flags and ``--set``."""
    from benchmark.models.presets import preset_params
    from benchmark.pretrain.encoder import ENCODER_KEYS, PRESETS, PretrainConfig
    from benchmark.pretrain.strategies import STRATEGIES

    strategy = STRATEGIES.get(args.strategy)
    if args.preset not in PRESETS:
        raise KdbenchError(
            f"unknown --preset '{args.preset}'; use one of {', '.join(sorted(PRESETS))}"
        )
    scale = dict(PRESETS[args.preset])
    for key in ("molecules", "epochs"):
        if getattr(args, key) is not None:
            scale[key] = getattr(args, key)
    overrides = parse_overrides(args.set or [])
    arch = {k: v for k, v in preset_params("hu2020", "GIN").items() if k in ENCODER_KEYS}
    params = dict(strategy.defaults)
    for key, value in overrides.items():
        if key in ENCODER_KEYS:
            arch[key] = value
        elif key in params:
            params[key] = value
        else:
            raise KdbenchError(
                f"unknown --set {key}; known: {', '.join(sorted([*ENCODER_KEYS, *params]))}"
            )
    return PretrainConfig(
        strategy=args.strategy,
        corpus=corpus_card(args.corpus),
        molecules=int(scale["molecules"]),
        epochs=int(scale["epochs"]),
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        arch=arch,
        strategy_params=params,
    )


def cmd_pretrain(args: argparse.Namespace) -> int:
    from benchmark.artifacts import ArtifactCache
    from benchmark.device import resolve_device
    from benchmark.pretrain.encoder import ensure_encoder
    from benchmark.tracking import runs_dir

    config = pretrain_config(args)
    cache = ArtifactCache(runs_dir() / "artifacts")
    device = resolve_device(args.device)
    path = cache.path(config.key())
    state = (
        "cached"
        if path.exists()
        else ("resuming" if path.with_suffix(".ckpt").exists() else "training")
    )
    print(
        f"{config.strategy} encoder ({state}): {config.molecules or 'all'} molecules of "
        f"{config.corpus}, {config.epochs} epochs, on {device} → {path}",
        flush=True,
    )
    art = ensure_encoder(
        config, cache, device, "train", progress=True, data_root=args.data_root, mirror=args.mirror
    )
    seconds = float(art["seconds"])
    rate = art["molecules"] * len(art["losses"]) / seconds if seconds else float("nan")
    summary = {
        "artefact": str(path),
        "molecules": art["molecules"],
        "epochs": len(art["losses"]),
        "losses": [round(x, 4) for x in art["losses"]],
        "train_seconds": round(seconds, 1),
        "molecules_per_second": round(rate, 1),
    }
    print(
        json.dumps(summary)
        if args.json
        else f"loss per epoch {summary['losses']}; {seconds:.0f} s training "
        f"({rate:.0f} molecules/s)",
        flush=True,
    )
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``pretrain`` to the ``kdbench`` sub-commands."""
    p = sub.add_parser("pretrain", help="pre-train a GNN encoder on a molecule corpus (cached)")
    p.add_argument("--strategy", required=True, help="attrmask or contextpred")
    p.add_argument("--corpus", default="ZINC_MOSES", help="corpus card (default ZINC_MOSES)")
    p.add_argument(
        "--preset",
        default="cpu",
        help="cpu: 50k molecules x 10 epochs; paper: every molecule x 100 epochs (a GPU job)",
    )
    p.add_argument(
        "--molecules",
        type=int,
        default=None,
        help="corpus sample size (0: all; overrides the preset)",
    )
    p.add_argument("--epochs", type=int, default=None, help="epochs (overrides the preset)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0, help="seeds the sample, init and batches")
    add_set_option(p, "strategy or architecture settings, e.g. mask_rate=0.15 hidden=300")
    add_device_option(p)
    add_threads_option(p)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_data_options(p)
    p.set_defaults(func=cmd_pretrain)
