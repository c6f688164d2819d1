"""The molecules an encoder pre-trains on: the seeded sample rule, and loading only the sample.

An encoder with ``molecules`` = k > 0 trains on k molecules of the corpus's n, drawn without
replacement with ``seed`` (:func:`sample_indices`) and kept in corpus order.

:func:`load_corpus` featurises only those k molecules when it can draw them from the SMILES
file alone: a ``smiles_csv`` card (unlabelled, no transforms) whose ``stats.num_graphs``
equals the file's rows, i.e. every row is a molecule, so row i is graph i of the featurised
corpus and the k rows drawn are exactly the k graphs :func:`corpus_sample` draws from it — the
same sample, encoder and artefact-cache key as featurising everything first. Otherwise (the
whole corpus, ``molecules`` = 0 or at least n; a card with unparsable rows or no count) the
corpus is loaded whole (its loader featurises it once, announced with a progress bar, and
caches it) and the sample drawn from it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from torch import Tensor

from benchmark.data.card import DatasetCard, get_card
from benchmark.data.types import GraphData
from benchmark.errors import DataError


def sample_indices(n: int, molecules: int, seed: int) -> Tensor | None:
    """The items a sample of ``molecules`` = k out of ``n`` keeps: the first k of
    ``torch.randperm(n)`` drawn from a CPU generator seeded with ``seed``, sorted → [k] long;
    ``None`` (every item) for k <= 0 or k >= n."""
    if molecules <= 0 or molecules >= n:
        return None
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[:molecules].sort().values


def corpus_sample(data: GraphData, molecules: int, seed: int) -> GraphData:
    """The :func:`sample_indices` graphs of a loaded corpus (``data`` itself for all of them),
    with their SMILES."""
    idx = sample_indices(data.num_items, molecules, seed)
    if idx is None:
        return data
    keep = idx.tolist()
    extra = dict(data.extra)
    if "smiles" in extra:
        extra["smiles"] = [extra["smiles"][i] for i in keep]
    return dataclasses.replace(
        data, graphs=[data.graphs[i] for i in keep], y=data.y[idx], extra=extra
    )


def rows_are_molecules(card: DatasetCard, rows: int) -> bool:
    """Whether row i of ``card``'s SMILES file is graph i of its loaded corpus: a
    ``smiles_csv`` card, unlabelled and without transforms, that counts ``rows`` graphs
    (``stats.num_graphs``, which a full load checks)."""
    return (
        card.loader == "smiles_csv"
        and card.target == "none"
        and not card.transform_specs
        and card.stats.num_graphs == rows
    )


def load_corpus(
    name: str,
    molecules: int,
    seed: int,
    data_root: Path | None = None,
    mirror: str | None = None,
    progress: bool = False,
) -> GraphData:
    """The pre-training sample of the corpus card ``name``: its ``molecules`` graphs drawn with
    ``seed`` (all of them for 0), featurising only those when the file allows it (module
    docstring). ``data_root`` and ``mirror`` as for
    :func:`~benchmark.data.loaders.load_dataset`; ``progress`` shows a bar while featurising
    a sample (the whole corpus always shows one)."""
    from benchmark.data.fetch import default_data_root, ensure_files
    from benchmark.data.loaders import dataset_lock, load_dataset
    from benchmark.data.molecule_loaders import corpus_smiles

    card = get_card(name)
    if molecules > 0 and card.loader == "smiles_csv":
        root = Path(data_root) if data_root is not None else default_data_root()
        with dataset_lock(root, card.path):
            folder = ensure_files(card, root, mirror)
        smiles = corpus_smiles(card, folder)
        idx = sample_indices(len(smiles), molecules, seed)
        if idx is not None and rows_are_molecules(card, len(smiles)):
            return _featurized_sample(card, smiles, idx, progress)
    return corpus_sample(load_dataset(name, data_root, mirror), molecules, seed)


def _featurized_sample(
    card: DatasetCard, smiles: list[str], rows: Tensor, progress: bool
) -> GraphData:
    """The graphs of ``smiles[rows]`` (``rows`` [k] sorted), featurised now, as a
    :class:`GraphData` like the one :func:`~benchmark.data.loaders.load_dataset` gives for the
    whole corpus (``y`` [k, 0]); ``extra["corpus_rows"]`` = ``rows``."""
    from benchmark.data.loaders import _check_features
    from benchmark.data.molecule_loaders import featurize_rows

    loaded = featurize_rows(card, smiles, rows.tolist(), progress)
    if loaded.extra["skipped_smiles"] or not loaded.graphs:
        raise DataError(
            f"{card.name}: {loaded.extra['skipped_smiles']} of the {len(rows)} sampled rows "
            f"cannot be featurised, but the card's stats.num_graphs ({card.stats.num_graphs}) "
            "says every row of its file is a molecule; correct stats.num_graphs (then the "
            "whole corpus is featurised before the sample is drawn)"
        )
    graphs = loaded.graphs
    _check_features(card, graphs, loaded.categorical, loaded.edge_categorical)
    return GraphData(
        card=card,
        y=torch.empty(len(graphs), 0),
        num_features=int(graphs[0].x.shape[1]),
        num_outputs=0,
        graphs=graphs,
        categorical=loaded.categorical,
        edge_categorical=loaded.edge_categorical,
        featurization=loaded.featurization,
        extra={**loaded.extra, "corpus_rows": rows},
    )
