"""Pre-trained encoders as artefacts: configuration, training loop with epoch checkpoints,
cache entry and loading into a fine-tuning model.

An encoder is determined by :class:`PretrainConfig` (strategy and its parameters, corpus and
its featurisation, sample size and seed, epochs, batch size, learning rate, architecture) and
:data:`CODE_VERSION`; its artefact lives in the runner's :class:`~benchmark.artifacts.
ArtifactCache` under the hash of that key, built once and reused by every fine-tuning cell and
seed (and by ``kdbench pretrain``, which builds the same entry). While it trains, a checkpoint
``<hash>.ckpt`` is written after every epoch; a killed pre-training started again (by either
route) resumes from it, so the result is identical to an uninterrupted run.

The loop is not the shared supervised loop (:mod:`benchmark.train.loop`): pre-training has no
labels and no validation part to select on; it trains for ``epochs`` epochs and keeps the last
state, as the paper. It reuses the feeder (:class:`~benchmark.train.feeders.GraphFeeder`: the
corpus on the device once, seeded mini-batches cut by index) and the fused Adam.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch_geometric import seed_everything

from benchmark.data.types import GraphData, Split
from benchmark.errors import KdbenchError
from benchmark.models.backbones import Backbone, build_backbone
from benchmark.pretrain.corpus import corpus_sample
from benchmark.pretrain.strategies import STRATEGIES
from benchmark.train.optim import adam

#: bump when the pre-training math changes, so that older encoders are not reused.
CODE_VERSION = 1
#: the architecture keys an encoder and the model fine-tuning it must share.
ENCODER_KEYS = ("hidden", "layers", "norm", "jk", "act_last", "edge_features", "gin_mlp")
#: Hu et al.'s pre-training settings that a preset scales (the corpus is ours: 250k ZINC
#: molecules where the paper used 2M).
PRESETS: dict[str, dict[str, int]] = {
    "cpu": {"molecules": 50_000, "epochs": 10},  # ≈ 17 min per strategy on a 2-core CPU
    "paper": {"molecules": 0, "epochs": 100},  # every corpus molecule, the paper's epochs
}


@dataclass(frozen=True)
class PretrainConfig:
    """What determines a pre-trained encoder. ``molecules`` = 0: the whole corpus; otherwise
    a sample drawn with ``seed`` (which also seeds initialisation and the batches)."""

    strategy: str
    corpus: str = "ZINC_MOSES"
    molecules: int = 50_000
    epochs: int = 10
    batch_size: int = 256
    lr: float = 1e-3
    seed: int = 0
    arch: dict[str, Any] = field(default_factory=dict)
    strategy_params: dict[str, Any] = field(default_factory=dict)

    def key(self) -> dict[str, Any]:
        """The artefact-cache key (with the corpus's featurisation and the code version)."""
        from benchmark.data.card import get_card

        featurizer = get_card(self.corpus).loader_args.get("featurizer", "pyg")
        return {
            "kind": "pretrained_encoder",
            "code_version": CODE_VERSION,
            "featurization": featurizer,
            **dataclasses.asdict(self),
        }

    def command(self) -> str:
        """The ``kdbench pretrain`` command that builds this encoder (``--set`` lists what
        differs from the strategy's and the ``hu2020`` architecture's defaults)."""
        from benchmark.models.presets import preset_params

        base = {**preset_params("hu2020", "GIN"), **STRATEGIES.get(self.strategy).defaults}
        changed = {**self.arch, **self.strategy_params}
        sets = [f"{k}={v}" for k, v in sorted(changed.items()) if base.get(k) != v]
        extra = f" --set {' '.join(sets)}" if sets else ""
        if (self.batch_size, self.lr, self.seed) != (256, 1e-3, 0):
            extra += f" --batch-size {self.batch_size} --lr {self.lr} --seed {self.seed}"
        return (
            f"kdbench pretrain --strategy {self.strategy} --corpus {self.corpus} "
            f"--molecules {self.molecules} --epochs {self.epochs}{extra}"
        )


def config_from_params(strategy: str, params: dict[str, Any]) -> PretrainConfig:
    """The encoder a fine-tuning cell with hyper-parameters ``params`` needs: its architecture
    (:data:`ENCODER_KEYS`), the ``pretrain_*`` settings and the strategy's parameters."""
    cls = STRATEGIES.get(strategy)
    return PretrainConfig(
        strategy=strategy,
        corpus=str(params.get("pretrain_corpus", "ZINC_MOSES")),
        molecules=int(params.get("pretrain_molecules", 50_000)),
        epochs=int(params.get("pretrain_epochs", 10)),
        batch_size=int(params.get("pretrain_batch_size", 256)),
        lr=float(params.get("pretrain_lr", 1e-3)),
        seed=int(params.get("pretrain_seed", 0)),
        arch={k: params[k] for k in ENCODER_KEYS if k in params},
        strategy_params={k: params.get(k, v) for k, v in cls.defaults.items()},
    )


def vocab_of(data: GraphData) -> dict[str, Any]:
    """The featurisation facts a strategy and a fine-tuning check need."""
    from benchmark.data.molecules import FEATURIZATIONS

    f = FEATURIZATIONS.get(data.featurization) if data.featurization else None
    return {
        "featurization": data.featurization,
        "atom_vocab": data.categorical,
        "bond_vocab": data.edge_categorical,
        "mask_atom": f.mask_atom if f else None,
        "mask_bond": f.mask_bond if f else None,
    }


def build_encoder(data: GraphData, arch: dict[str, Any]) -> Backbone:
    """A GIN with ``arch`` for ``data``'s featurisation (no dropout, as pre-training)."""
    return build_backbone(
        "GIN",
        data.num_features,
        1,
        "graph",
        {**arch, "dropout": 0.0, "layer_dropout": 0.0},
        categorical=data.categorical,
        edge_categorical=data.edge_categorical if arch.get("edge_features") else None,
    )


def train_encoder(
    config: PretrainConfig,
    data: GraphData,
    device: torch.device,
    checkpoint: Path | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Pre-train an encoder with ``config`` on its sample of ``data`` (the corpus; see
    :func:`~benchmark.pretrain.corpus.corpus_sample`), or on ``data`` whole when it holds at
    most ``config.molecules`` graphs (e.g. the sample :func:`~benchmark.pretrain.corpus.
    load_corpus` drew). Resumes from ``checkpoint`` if it exists and rewrites it after every
    epoch. Returns the artefact:
    ``encoder`` (state dict on the CPU, without the unused head), ``vocab``, ``losses`` (mean
    loss per epoch), ``seconds``, ``molecules`` and the ``config`` key."""
    from benchmark.train.feeders import GraphFeeder

    seed_everything(config.seed)
    sample = corpus_sample(data, config.molecules, config.seed)
    vocab = vocab_of(sample)
    encoder = build_encoder(sample, config.arch).to(device)
    strategy = STRATEGIES.get(config.strategy)(
        encoder, vocab, config.strategy_params, config.arch
    ).to(device)
    optimizer = adam([*encoder.parameters(), *strategy.parameters()], config.lr)
    everything = torch.arange(sample.num_items)
    split = Split(everything, everything[:0], everything[:0], name="corpus")
    feeder = GraphFeeder(sample, split, device, config.batch_size, config.seed)
    rng = torch.Generator(device=device).manual_seed(config.seed)
    losses: list[float] = []
    seconds, first = 0.0, 0
    if checkpoint is not None and checkpoint.exists():
        state = torch.load(checkpoint, weights_only=False, map_location="cpu")
        encoder.load_state_dict(state["encoder"])
        strategy.load_state_dict(state["strategy"])
        optimizer.load_state_dict(state["optimizer"])
        feeder.generator.set_state(state["feeder_rng"])
        rng.set_state(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        losses, seconds, first = state["losses"], state["seconds"], state["epoch"] + 1
    n_batches = max(1, -(-sample.num_items // config.batch_size))
    for epoch in range(first, config.epochs):
        start = time.perf_counter()
        encoder.train()
        strategy.train()
        total = torch.zeros((), device=device)
        batches = feeder.train_batches()
        if progress:
            from tqdm import tqdm

            batches = tqdm(
                batches,
                total=n_batches,
                unit="batch",
                leave=False,
                desc=f"{config.strategy} epoch {epoch + 1}/{config.epochs}",
            )
        for batch in batches:
            optimizer.zero_grad(set_to_none=True)
            loss = strategy.loss(encoder, batch, rng)
            loss.backward()
            optimizer.step()
            total = total + loss.detach()
        losses.append(float(total) / n_batches)  # one host sync per epoch
        seconds += time.perf_counter() - start
        if checkpoint is not None:
            _save(
                {
                    "epoch": epoch,
                    "encoder": encoder.state_dict(),
                    "strategy": strategy.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "feeder_rng": feeder.generator.get_state(),
                    "rng": rng.get_state(),
                    "torch_rng": torch.get_rng_state(),
                    "losses": losses,
                    "seconds": seconds,
                },
                checkpoint,
            )
    return {
        "config": config.key(),
        "vocab": vocab,
        "losses": losses,
        "seconds": seconds,
        "molecules": sample.num_items,
        "encoder": {
            k: v.detach().cpu()
            for k, v in encoder.state_dict().items()
            if not k.startswith("head.")
        },
    }


def _save(obj: Any, path: Path) -> None:
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def ensure_encoder(
    config: PretrainConfig,
    cache: Any,
    device: torch.device,
    missing: str = "train",
    progress: bool = False,
    data_root: Path | None = None,
    mirror: str | None = None,
) -> dict[str, Any]:
    """The encoder artefact for ``config`` from ``cache``, pre-training it first if no process
    has (``missing="train"``) or failing with the ``kdbench pretrain`` command that builds it
    (``missing="fail"``)."""
    key = config.key()
    path = cache.path(key)
    if missing not in ("train", "fail"):
        raise KdbenchError(f"pretrain_missing must be 'train' or 'fail', not {missing!r}")
    if missing == "fail" and not path.exists():
        raise KdbenchError(
            f"no pre-trained {config.strategy} encoder for this configuration "
            f"yet; build it with `{config.command()}` (or set "
            "pretrain_missing=train)"
        )

    def build() -> dict[str, Any]:
        from benchmark.pretrain.corpus import load_corpus

        sample = load_corpus(
            config.corpus, config.molecules, config.seed, data_root, mirror, progress
        )
        return train_encoder(config, sample, device, path.with_suffix(".ckpt"), progress)

    artefact = cache.get_or_create(key, build)
    path.with_suffix(".ckpt").unlink(missing_ok=True)
    return artefact


def load_encoder(model: nn.Module, artefact: dict[str, Any], data: GraphData) -> None:
    """Copy a pre-trained encoder into ``model`` (a backbone of the same architecture whose
    head stays freshly initialised). Raises if ``data`` is featurised differently from the
    corpus (one comparison never mixes featurisations) or the architectures differ."""
    vocab = vocab_of(data)
    pre = artefact["vocab"]
    if (vocab["featurization"], vocab["atom_vocab"]) != (pre["featurization"], pre["atom_vocab"]):
        raise KdbenchError(
            f"{data.name} is featurised as {vocab['featurization']!r} but the encoder was "
            f"pre-trained on {pre['featurization']!r} features; give both cards the same "
            "loader_args.featurizer"
        )
    try:
        missing, unexpected = model.load_state_dict(artefact["encoder"], strict=False)
        wrong = [k for k in missing if not k.startswith("head.")] + list(unexpected)
    except RuntimeError as exc:  # a tensor of another shape
        wrong = [str(exc).splitlines()[-1].strip()]
    if wrong:
        raise KdbenchError(
            f"the pre-trained encoder does not fit this model ({', '.join(wrong[:4])} ...): "
            f"fine-tune with the architecture it was trained with ({artefact['config']['arch']})"
        )


def encoder_dependency_builder(config: PretrainConfig, missing: str) -> Callable[..., Any]:
    """The callable a :class:`~benchmark.method.Dependency` runs to resolve an encoder."""

    def build(cache: Any, device: torch.device) -> dict[str, Any]:
        return ensure_encoder(config, cache, device, missing)

    return build
