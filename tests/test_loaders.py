"""Loading real small sets from the mirror (processed once per session) and toy cards."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from benchmark.data.loaders import TRANSFORMS, _check_features, load_dataset
from benchmark.data.types import GraphData
from benchmark.errors import DataError, UnknownNameError

pytest_plugins = ["tests.conftest_data"]


def _check_common(gd: GraphData) -> None:
    card = gd.card
    if card.task == "node":
        assert gd.graphs is None and gd.data is not None
        assert gd.data.x.dtype == torch.float32 and gd.data.x.shape[1] == gd.num_features
        assert gd.data.edge_index.shape[0] == 2
        assert torch.equal(gd.data.y, gd.y)
    else:
        assert gd.data is None and gd.graphs is not None
        assert len(gd.graphs) == gd.num_items == card.stats.num_graphs
    if card.target == "multiclass":
        assert gd.y.dtype == torch.long and gd.y.dim() == 1
        assert gd.num_outputs == card.stats.num_classes == int(gd.y.max()) + 1
    else:
        assert gd.y.dtype == torch.float32 and gd.y.shape == (gd.num_items, gd.num_outputs)
        assert gd.num_outputs == card.stats.num_tasks


def test_mutag(load_real) -> None:
    gd = load_real("MUTAG")
    _check_common(gd)
    assert gd.num_features == 7 and gd.categorical is None
    assert gd.y.bincount().tolist() == [63, 125]
    assert sum(g.num_nodes for g in gd.graphs) == 3371
    assert all(g.x.dtype == torch.float32 and g.y.shape == (1,) for g in gd.graphs)
    assert gd.extra == {}


def test_cora_public_split(load_real) -> None:
    gd = load_real("Cora")
    _check_common(gd)
    assert gd.data.num_nodes == 2708 and gd.data.num_edges == 10556 and gd.num_features == 1433
    masks = gd.extra["masks"]
    assert [int(masks[k].sum()) for k in ("train", "val", "test")] == [140, 500, 1000]
    assert masks["train"].dtype == torch.bool and masks["train"].shape == (2708,)
    assert "train_mask" not in gd.data  # the masks live in extra only


def test_cora_cpf_is_the_largest_component(load_real) -> None:
    gd = load_real("Cora-CPF")
    _check_common(gd)
    assert gd.data.num_nodes == 2485 and gd.num_features == 1433 and gd.num_outputs == 7
    assert "masks" not in gd.extra
    assert gd.card.protocol == "per_class_random"
    assert gd.card.protocol_args == {"sizes": {"train": 20, "val": 30}}


def test_texas_geom_gcn_masks(load_real) -> None:
    gd = load_real("Texas")
    _check_common(gd)
    assert gd.data.num_nodes == 183 and gd.num_features == 1703
    for k in ("train", "val", "test"):
        assert gd.extra["masks"][k].shape == (183, 10) and gd.extra["masks"][k].dtype == torch.bool


def test_freesolv_moleculenet(load_real) -> None:
    from torch_geometric.utils.smiles import e_map, x_map

    gd = load_real("FreeSolv")
    _check_common(gd)
    assert gd.num_items == 642 and gd.y.shape == (642, 1) and not gd.y.isnan().any()
    assert gd.categorical == [len(v) for v in x_map.values()] and gd.num_features == 9
    assert gd.edge_categorical == [len(v) for v in e_map.values()] and gd.featurization == "pyg"
    assert gd.extra["skipped_smiles"] == 0
    assert gd.graphs[0].x.dtype == torch.long and gd.graphs[0].y.shape == (1, 1)
    assert len(gd.extra["smiles"]) == 642 and gd.extra["smiles"][0] == gd.graphs[0].smiles


def test_bbbp_hu_featurization(load_real, session_data_root: Path) -> None:
    with pytest.warns(UserWarning, match="^BBBP: 11 SMILES could not be parsed and were skipped$"):
        gd = load_real("BBBP")
    _check_common(gd)
    assert gd.card.loader_args["featurizer"] == "hu" and gd.featurization == "hu"
    assert gd.categorical == [120, 4] and gd.edge_categorical == [5, 3] and gd.num_features == 2
    assert len(gd.graphs) == gd.card.stats.num_graphs == 2050 - gd.extra["skipped_smiles"]
    assert all(g.x.shape[1] == 2 and g.edge_attr.shape == (g.num_edges, 2) for g in gd.graphs)
    assert all(g.x.dtype == g.edge_attr.dtype == torch.long for g in gd.graphs)
    assert int(torch.cat([g.x for g in gd.graphs])[:, 0].max()) < 119  # never the mask token
    assert [g.smiles for g in gd.graphs] == gd.extra["smiles"]
    folder = session_data_root / "MoleculeNet" / "bbbp"
    assert (folder / "processed_hu" / "data.pt").is_file()  # not PyG's `processed`


def test_ogbg_molbace(load_real) -> None:
    from ogb.utils.features import get_atom_feature_dims, get_bond_feature_dims

    gd = load_real("ogbg-molbace")
    _check_common(gd)
    assert gd.categorical == list(get_atom_feature_dims())
    assert gd.edge_categorical == list(get_bond_feature_dims()) and gd.featurization == "ogb"
    split = gd.extra["ogb_split"]
    assert [len(split[k]) for k in ("train", "valid", "test")] == [1210, 151, 152]
    assert all(v.dtype == torch.long for v in split.values())
    assert len(gd.extra["smiles"]) == 1513
    assert set(gd.y.flatten().tolist()) == {0.0, 1.0}


def test_imdb_gets_degree_features(load_real) -> None:
    gd = load_real("IMDB-BINARY")
    _check_common(gd)
    assert gd.num_features == 136
    assert all(g.x.sum(dim=1).eq(1).all() for g in gd.graphs[:20])  # one-hot rows


def test_second_load_reuses_processed(load_real, session_data_root: Path) -> None:
    load_real("MUTAG")
    assert (session_data_root / "TUDataset" / "MUTAG" / "processed" / "data.pt").is_file()
    assert load_real("MUTAG").num_items == 188


def test_stats_mismatch_names_the_statistic(
    card_dir, real_mirror: Path, session_data_root: Path
) -> None:
    from benchmark.data.card import load_catalogue
    from benchmark.data.fetch import ensure_files

    real = load_catalogue(Path(__file__).resolve().parents[1] / "datasets")["MUTAG"]
    ensure_files(real, session_data_root, str(real_mirror))
    mutag = real.model_dump(exclude_none=True)
    mutag["stats"]["num_graphs"] = 190
    card_dir(**mutag)
    with pytest.raises(DataError) as err:
        load_dataset("MUTAG", session_data_root, "")
    msg = str(err.value)
    assert "num_graphs 188 (card: 190)" in msg and "\n" not in msg


def _corpus(card_fields, root: Path, **over) -> dict:
    (root / "Corpus" / "raw").mkdir(parents=True)
    (root / "Corpus" / "raw" / "c.csv").write_text("SMILES\nCCO\nc1ccccc1\nnot_a_smiles\n")
    return card_fields(
        name="Corpus",
        family="molecular",
        loader="smiles_csv",
        path="Corpus",
        loader_args={"file": "c.csv", "column": "SMILES"},
        files=[{"path": "raw/c.csv"}],
        target="none",
        metric="none",
        protocol="none",
        **over,
    )


@pytest.mark.parametrize("featurizer", ["pyg", "hu", "ogb"])
def test_smiles_corpus(card_dir, card_fields, tmp_path: Path, featurizer: str) -> None:
    from benchmark.data.molecules import FEATURIZATIONS

    root = tmp_path / "root"
    fields = _corpus(card_fields, root)
    fields["loader_args"]["featurizer"] = featurizer
    card_dir(**fields)
    with pytest.warns(UserWarning, match="Corpus: 1 SMILES could not be parsed"):
        gd = load_dataset("Corpus", root, "")
    assert gd.num_items == 2 and gd.y.shape == (2, 0) and gd.num_outputs == 0
    assert gd.extra == {"smiles": ["CCO", "c1ccccc1"], "skipped_smiles": 1}
    feat = FEATURIZATIONS.get(featurizer)
    assert gd.featurization == featurizer and gd.categorical == feat.atom_vocab
    assert gd.edge_categorical == feat.bond_vocab
    assert gd.graphs[1].x.dtype == torch.long and gd.graphs[1].num_nodes == 6
    assert gd.graphs[1].x.shape[1] == gd.num_features == len(feat.atom_vocab)
    assert (root / "Corpus" / "processed" / f"{featurizer}.pt").is_file()


def test_smiles_corpus_unknown_featurizer(card_dir, card_fields, tmp_path: Path) -> None:
    fields = _corpus(card_fields, tmp_path / "root")
    fields["loader_args"]["featurizer"] = "hy"
    card_dir(**fields)
    with pytest.raises(UnknownNameError, match="Did you mean 'hu'"):
        load_dataset("Corpus", tmp_path / "root", "")


def test_edge_features_must_fit_their_vocabulary() -> None:
    from types import SimpleNamespace

    from torch_geometric.data import Data

    card = SimpleNamespace(name="Toy")
    g = Data(
        x=torch.tensor([[5, 0], [7, 0]]),
        edge_index=torch.tensor([[0, 1], [1, 0]]),
        edge_attr=torch.tensor([[0, 0], [4, 0]]),
    )
    _check_features(card, [g], [120, 4], [5, 3])  # fits
    with pytest.raises(DataError) as err:
        _check_features(card, [g], [120, 4], [4, 3])
    assert "edge features [4, 0] (max per column)" in str(err.value)
    assert "\n" not in str(err.value)
    with pytest.raises(DataError, match="3 columns"):
        _check_features(card, [g], [120, 4], [5, 3, 2])
    with pytest.raises(DataError, match="no edge_attr"):
        _check_features(card, [Data(x=g.x, edge_index=g.edge_index)], [120, 4], [5, 3])


@pytest.mark.filterwarnings("ignore:Corpus. 1 SMILES")
def test_unknown_transform(card_dir, card_fields, tmp_path: Path) -> None:
    root = tmp_path / "root"
    card_dir(**_corpus(card_fields, root, transforms=["one_hot_degre"]))
    with pytest.raises(UnknownNameError, match="Did you mean 'one_hot_degree'"):
        load_dataset("Corpus", root, "")


def test_one_hot_degree_computes_max_degree() -> None:
    from torch_geometric.data import Data

    star = Data(edge_index=torch.tensor([[0, 0, 0, 1, 2, 3], [1, 2, 3, 0, 0, 0]]), num_nodes=4)
    pair = Data(edge_index=torch.tensor([[0, 1], [1, 0]]), num_nodes=2)
    t = TRANSFORMS.get("one_hot_degree")([star, pair], {"max_degree": None})
    assert t(star.clone()).x.shape == (4, 4) and t(pair.clone()).x.shape == (2, 4)
    assert math.isclose(float(t(star.clone()).x[0, 3]), 1.0)


def test_minmax_degree_normalises_within_each_graph() -> None:
    from torch_geometric.data import Data

    star = Data(edge_index=torch.tensor([[0, 0, 0, 1, 2, 3], [1, 2, 3, 0, 0, 0]]), num_nodes=4)
    path = Data(edge_index=torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]), num_nodes=4)  # 3: isolated
    t = TRANSFORMS.get("minmax_degree")([star, path], {})
    assert torch.allclose(t(star.clone()).x.flatten(), torch.tensor([1.0, 0, 0, 0]), atol=1e-6)
    assert torch.allclose(t(path.clone()).x.flatten(), torch.tensor([0.5, 1, 0.5, 0]), atol=1e-6)


@pytest.mark.parametrize(
    "name,graphs", [("IMDB-BINARY-minmaxdeg", 1000), ("IMDB-MULTI-minmaxdeg", 1500)]
)
def test_imdb_with_the_lad_official_features(load_real, name: str, graphs: int) -> None:
    gd = load_real(name)
    assert gd.num_features == 1 and gd.num_items == graphs
    for g in gd.graphs[:100]:
        deg = torch.bincount(g.edge_index[0], minlength=g.num_nodes)
        regular = bool((deg == deg[0]).all())  # e.g. a clique: every feature is 0
        assert float(g.x.min()) == 0.0 and (float(g.x.max()) > 0.99) != regular


def test_a_dataset_is_fetched_and_processed_by_one_process_at_a_time(
    real_mirror: Path, session_data_root: Path
) -> None:
    import threading

    from benchmark.data.loaders import dataset_lock

    load_dataset("MUTAG", session_data_root, str(real_mirror))  # warm: a load takes < 1 s
    got: list = []
    worker = threading.Thread(
        target=lambda: got.append(load_dataset("MUTAG", session_data_root, str(real_mirror)))
    )
    with dataset_lock(session_data_root, "TUDataset/MUTAG"):  # another process holds it
        worker.start()
        worker.join(timeout=1.0)
        assert worker.is_alive() and not got  # waits for the lock
    worker.join(timeout=120)
    assert got and got[0].num_items == 188
