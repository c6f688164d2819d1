"""The molecule loaders: MoleculeNet CSVs and unlabelled SMILES corpora, featurised by a named
featurisation (:data:`benchmark.data.molecules.FEATURIZATIONS`: ``pyg``, ``hu``, ``ogb``; a
card's ``loader_args.featurizer``). SMILES RDKit cannot parse are skipped and counted
(``extra["skipped_smiles"]``), with one warning per load.

A ``smiles_csv`` corpus is featurised whole once (announced, with a progress bar) into
``processed/<featurizer>.pt``; :func:`featurize_rows` featurises only some of its rows (a
pre-training sample, :mod:`benchmark.pretrain.corpus`) and stores nothing.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch_geometric.data import Data, InMemoryDataset
from torch_geometric.datasets import MoleculeNet

from benchmark.data.card import DatasetCard
from benchmark.data.loader_registry import LOADERS, Loaded, loader_arg
from benchmark.errors import DataError

if TYPE_CHECKING:
    from benchmark.data.molecules import Featurization

#: Hu et al.'s featurisation on one core, molecules per second (docs/results/perf_pretrain.json:
#: ~3,300 on this project's 2-core CPU); only used to announce the one-time cost of a corpus.
FEATURIZE_RATE = 3_000


def _featurization(card: DatasetCard) -> Featurization:
    """The card's ``loader_args.featurizer`` (default ``pyg``); unknown names raise."""
    from benchmark.data.molecules import FEATURIZATIONS

    return FEATURIZATIONS.get(card.loader_args.get("featurizer", "pyg"))


def vocabularies(feat: Featurization) -> dict[str, Any]:
    """``Loaded``'s ``categorical``, ``edge_categorical`` and ``featurization`` for ``feat``."""
    return {
        "categorical": list(feat.atom_vocab),
        "edge_categorical": list(feat.bond_vocab) if feat.bond_vocab is not None else None,
        "featurization": feat.name,
    }


def _molecules(graphs: list[Data], feat: Featurization, skipped: int) -> Loaded:
    """What a SMILES loader returns: the graphs, their vocabularies and SMILES."""
    extra = {"smiles": [g.smiles for g in graphs], "skipped_smiles": skipped}
    return Loaded(graphs=graphs, extra=extra, **vocabularies(feat))


def _warn_skipped(card: DatasetCard, skipped: int) -> None:
    if skipped:
        warnings.warn(
            f"{card.name}: {skipped} SMILES could not be parsed and were skipped", stacklevel=3
        )


class FeaturizedMoleculeNet(MoleculeNet):
    """PyG's ``MoleculeNet`` featurised by a :class:`~benchmark.data.molecules.Featurization`.

    PyG's ``process`` reads the CSV's data lines, featurises each SMILES and skips graphs with
    0 atoms, which is what a bad SMILES becomes here (``featurize_or_empty``). Each
    featurisation keeps its own ``<folder>/processed_<name>`` (``pyg``: PyG's ``processed``),
    or PyG would load another featurisation's processed file.
    """

    def __init__(self, root: str, name: str, featurization: Featurization) -> None:
        self.featurization = featurization
        super().__init__(root, name, from_smiles=featurization.featurize_or_empty)

    @property
    def processed_dir(self) -> str:
        feat = self.featurization.name
        sub = "processed" if feat == "pyg" else f"processed_{feat}"
        return str(Path(self.root, self.name, sub))

    def num_rows(self) -> int:
        """The CSV's data lines, as ``process`` reads them (text after the last newline is not
        a line)."""
        return sum(1 for line in Path(self.raw_paths[0]).read_text().split("\n")[1:-1] if line)


@LOADERS.register("moleculenet")
def load_moleculenet(card: DatasetCard, folder: Path) -> Loaded:
    """PyG MoleculeNet featurised by ``loader_args.featurizer`` (``pyg`` default, ``hu``,
    ``ogb``), with each graph's SMILES; SMILES RDKit cannot parse are skipped (one warning)."""
    from benchmark.data.molecules import rdkit_quiet

    feat = _featurization(card)
    with warnings.catch_warnings(), rdkit_quiet():
        warnings.filterwarnings("ignore", message="Skipping molecule")  # PyG: one per bad SMILES
        ds = FeaturizedMoleculeNet(str(folder.parent), loader_arg(card, "name"), feat)
    graphs = [g for g in (ds[i] for i in range(len(ds))) if g.num_nodes]
    skipped = ds.num_rows() - len(graphs)
    _warn_skipped(card, skipped)
    return _molecules(graphs, feat, skipped)


class SmilesCsv(InMemoryDataset):
    """Molecules from one SMILES column of ``raw/<file>``, featurised by ``featurizer`` (a key
    of :data:`~benchmark.data.molecules.FEATURIZATIONS`) once into ``processed/<featurizer>.pt``;
    unparsable SMILES are left out."""

    def __init__(self, root: str, file: str, column: str, featurizer: str) -> None:
        self.file, self.column, self.featurizer = file, column, featurizer
        super().__init__(root)
        self.load(self.processed_paths[0])

    @property
    def raw_file_names(self) -> list[str]:
        return [self.file]

    @property
    def processed_file_names(self) -> list[str]:
        return [f"{self.featurizer}.pt"]

    def download(self) -> None:  # the files come from ensure_files
        raise DataError(f"missing {self.raw_paths[0]}")

    def smiles(self) -> list[str]:
        """The column's SMILES, one per row of the file."""
        return read_smiles(Path(self.raw_paths[0]), self.column)

    def process(self) -> None:
        """Featurise every row once (the cost announced first, a progress bar meanwhile)."""
        from benchmark.data.molecules import featurize_all

        smiles = self.smiles()
        seconds = len(smiles) / FEATURIZE_RATE
        took = f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"
        print(
            f"{Path(self.root).name}: featurising all {len(smiles):,} molecules "
            f"({self.featurizer}) once, ~{took} on one core; cached in "
            f"{self.processed_paths[0]}",
            file=sys.stderr,
            flush=True,
        )
        graphs, _ = featurize_all(smiles, self.featurizer, progress=True)
        self.save(graphs, self.processed_paths[0])


def read_smiles(path: Path, column: str) -> list[str]:
    """The SMILES of ``column`` in the CSV ``path`` (gzip by suffix), one per data row."""
    import pandas as pd

    return pd.read_csv(path, usecols=[column])[column].astype(str).tolist()


def corpus_smiles(card: DatasetCard, folder: Path) -> list[str]:
    """Every row's SMILES of a ``smiles_csv`` card's file (``folder/raw/<file>``, ``column``),
    without featurising any."""
    column = card.loader_args.get("column", "smiles")
    return read_smiles(folder / "raw" / loader_arg(card, "file"), column)


def featurize_rows(
    card: DatasetCard, smiles: Sequence[str], rows: Sequence[int], progress: bool = False
) -> Loaded:
    """The graphs of ``smiles[i]`` for ``i`` in ``rows`` (in that order), featurised by the
    card's ``loader_args.featurizer``: only those rows, nothing cached. Rows RDKit cannot
    parse are left out and counted in ``extra["skipped_smiles"]``; ``progress``: a tqdm bar."""
    from benchmark.data.molecules import featurize_all

    feat = _featurization(card)
    graphs, skipped = featurize_all([smiles[i] for i in rows], feat.name, progress)
    return _molecules(graphs, feat, len(skipped))


@LOADERS.register("smiles_csv")
def load_smiles_csv(card: DatasetCard, folder: Path) -> Loaded:
    """An unlabeled SMILES corpus (pre-training): loader_args ``file`` (under ``raw/``),
    ``column`` (default ``smiles``), ``featurizer`` (``pyg`` default, ``hu`` or ``ogb``).
    ``extra["skipped_smiles"]`` counts the rows RDKit could not parse (one warning)."""
    feat = _featurization(card)
    ds = SmilesCsv(
        str(folder), loader_arg(card, "file"), card.loader_args.get("column", "smiles"), feat.name
    )
    graphs = [ds[i] for i in range(len(ds))]
    skipped = len(ds.smiles()) - len(graphs)
    _warn_skipped(card, skipped)
    return _molecules(graphs, feat, skipped)
