"""The dataset catalogue: every card parses, agrees with the registries and with the mirror."""

from __future__ import annotations

import csv
import inspect
from pathlib import Path

import pytest

from benchmark.data.card import (
    DatasetCard,
    cards_dir,
    catalogue_rows,
    get_card,
    load_catalogue,
    parse_card,
)
from benchmark.data.fetch import sha256_file
from benchmark.data.loaders import LOADERS, TRANSFORMS
from benchmark.data.molecules import FEATURIZATIONS
from benchmark.data.splits import SPLITS
from benchmark.errors import KdbenchError, UnknownNameError

pytest_plugins = ["tests.conftest_data"]

CARDS = load_catalogue()
MIRRORED = sorted(n for n, c in CARDS.items() if c.mirrored)
METRICS = {"multiclass": {"accuracy"}, "multilabel": {"rocauc"}, "regression": {"rmse", "mae"}}


def test_catalogue_holds_every_dataset() -> None:
    assert len(CARDS) >= 41
    assert len(MIRRORED) == 31  # two IMDB cards with the LAD-GNN features share files
    for name in ["Cora", "MUTAG", "ogbg-molbace", "Cora-CPF", "ZINC_MOSES", "PubMed", "DD"]:
        assert name in CARDS
    assert cards_dir() == Path(__file__).resolve().parents[1] / "datasets"
    assert not (cards_dir() / "__init__.py").exists()  # not a python package


@pytest.mark.parametrize("name", sorted(CARDS))
def test_card_is_consistent(name: str) -> None:
    card = CARDS[name]
    assert card.loader in LOADERS
    for tname, _ in card.transform_specs:
        assert tname in TRANSFORMS
    if "featurizer" in card.loader_args:
        assert card.loader in ("moleculenet", "smiles_csv")
        assert card.loader_args["featurizer"] in FEATURIZATIONS
    assert card.protocol in SPLITS, f"{name}: protocol {card.protocol} is not registered"
    params = inspect.signature(SPLITS.get(card.protocol)).parameters
    assert set(card.protocol_args) <= set(params) - {"data", "seed"}
    if card.target == "none":
        assert card.protocol == "none"
    else:
        assert card.metric in METRICS[card.target]
    assert (card.task == "node") == (card.family == "node")
    s = card.stats
    assert (s.num_classes is not None) == (card.target == "multiclass")
    if card.target in ("multilabel", "regression"):
        assert s.num_tasks is not None
    assert (s.num_graphs is None) or card.task == "graph"
    if card.mirrored:
        assert all(f.sha256 for f in card.files)
    assert card.reference and card.description


@pytest.mark.parametrize("name", [n for n in sorted(CARDS) if CARDS[n].ogb_name])
def test_ogb_cards_match_ogb_master(name: str) -> None:
    import ogb
    import pandas as pd

    card = CARDS[name]
    sub = "graphproppred" if card.ogb_name.startswith("ogbg") else "nodeproppred"
    master = pd.read_csv(
        Path(ogb.__file__).parent / sub / "master.csv", index_col=0, keep_default_na=False
    )
    meta = master[card.ogb_name]
    assert card.protocol == "ogb_official"
    assert {"acc": "accuracy"}.get(meta["eval metric"], meta["eval metric"]) == card.metric
    assert card.path.endswith(card.ogb_name.replace("-", "_"))
    assert any(a.url == meta["url"] for a in card.archives)
    if card.stats.num_tasks is not None:
        assert card.stats.num_tasks == int(meta["num tasks"])


def test_mirrored_cards_cover_the_mirror_exactly(real_mirror: Path) -> None:
    """Every file in the mirror's PROVENANCE belongs to a mirrored card with the same sha256."""
    with open(real_mirror / "PROVENANCE.tsv") as f:
        provenance = {r["path"]: r["sha256"] for r in csv.DictReader(f, delimiter="\t")}
    pinned = {f"{c.path}/{f.path}": f.sha256 for c in CARDS.values() if c.mirrored for f in c.files}
    assert pinned == provenance
    with open(real_mirror / "MANIFEST.csv") as f:
        assert {r["path"] for r in csv.DictReader(f)} == {CARDS[n].path for n in MIRRORED}


@pytest.mark.parametrize("name", MIRRORED)
def test_mirror_files_match_card_checksums(name: str, real_mirror: Path) -> None:
    card = CARDS[name]
    for spec in card.files:
        path = real_mirror / card.path / spec.path
        assert path.is_file(), f"{name}: {path} missing from the mirror"
        assert sha256_file(path) == spec.sha256, f"{name}: {path} differs from the card"


def test_unknown_dataset_suggests_the_right_name() -> None:
    with pytest.raises(UnknownNameError, match=r"Did you mean 'Cora'\?.*kdbench datasets"):
        get_card("cora")
    with pytest.raises(UnknownNameError, match="Did you mean 'ogbg-molbace'"):
        get_card("ogbg-molbac")


def test_typo_in_a_card_names_key_and_file(card_dir, card_fields) -> None:
    path = card_dir(**card_fields(protocl="tu_10fold"))
    with pytest.raises(KdbenchError) as err:
        parse_card(path)
    msg = str(err.value)
    assert str(path) in msg and "protocl" in msg and "\n" not in msg


def test_bad_values_are_reported(card_dir, card_fields) -> None:
    path = card_dir(**card_fields(task="edge", files=[{"path": "a", "sha256": "xyz"}]))
    with pytest.raises(KdbenchError, match=r"task: .*files\.0\.sha256"):
        parse_card(path)


def test_duplicate_names_are_an_error(card_dir, card_fields) -> None:
    card_dir("one.yaml", **card_fields())
    card_dir("two.yaml", **card_fields())
    with pytest.raises(KdbenchError, match=r"'Toy' is defined twice: .*one\.yaml and .*two\.yaml"):
        load_catalogue()


def test_cards_env_overrides_the_folder(card_dir, card_fields) -> None:
    card_dir(**card_fields(transforms=[{"one_hot_degree": {"max_degree": 3}}, "constant"]))
    card = get_card("Toy")
    assert isinstance(card, DatasetCard)
    assert card.transform_specs == [("one_hot_degree", {"max_degree": 3}), ("constant", {})]
    with pytest.raises(UnknownNameError):
        get_card("Cora")


def test_catalogue_rows(tmp_path: Path, real_mirror: Path) -> None:
    rows = {r["name"]: r for r in catalogue_rows(tmp_path, str(real_mirror))}
    assert set(rows) == set(CARDS)
    assert rows["MUTAG"]["size"] == "188 graphs" and rows["MUTAG"]["classes"] == "2"
    assert rows["Cora"]["size"] == "2708 nodes" and rows["Cora"]["protocol"] == "planetoid_public"
    assert rows["SIDER"]["classes"] == "27 tasks"
    assert rows["MUTAG"]["available"] == "mirror"
    assert rows["PubMed"]["available"] == "download"
    no_mirror = {r["name"]: r for r in catalogue_rows(tmp_path, "")}
    assert no_mirror["PTC_MR_GIN"]["available"] == "no"
    assert no_mirror["MUTAG"]["available"] == "download"
