"""Split protocols on tiny synthetic datasets: disjoint, complete, stratified, deterministic."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from benchmark.data.splits import SPLITS, make_split
from benchmark.data.types import GraphData, Split
from benchmark.errors import KdbenchError, UnknownNameError


def toy(y: torch.Tensor, task: str = "graph", **extra) -> GraphData:
    card = SimpleNamespace(name="toy", task=task)
    return GraphData(card=card, y=y, num_features=1, num_outputs=int(y.max()) + 1, extra=extra)


def parts(split: Split) -> dict[str, torch.Tensor]:
    return {"train": split.train, "val": split.val, "test": split.test, **split.parts}


def assert_well_formed(split: Split, n: int, complete: bool = False) -> None:
    seen = torch.zeros(n, dtype=torch.long)
    for idx in parts(split).values():
        assert idx.dtype == torch.long and idx.device.type == "cpu" and idx.dim() == 1
        assert torch.equal(idx, idx.sort().values)
        seen[idx] += 1
    assert seen.max() <= 1, "parts overlap"
    if complete:
        assert seen.min() == 1, "some item is in no part"


def same(a: Split, b: Split) -> bool:
    pa, pb = parts(a), parts(b)
    return pa.keys() == pb.keys() and all(torch.equal(pa[k], pb[k]) for k in pa)


# 3 classes, unbalanced: 60 / 40 / 20 items, interleaved
Y3 = torch.tensor([0, 1, 0, 2, 0, 1] * 20)


# ------------------------------------------------------------------ planetoid / geom / ogb


def test_planetoid_public_uses_masks_and_ignores_seed():
    n = 30
    masks = {k: torch.zeros(n, dtype=torch.bool) for k in ("train", "val", "test")}
    masks["train"][:5] = True
    masks["val"][5:10] = True
    masks["test"][20:] = True
    data = toy(torch.arange(n) % 3, task="node", masks=masks)
    s0, s7 = make_split(data, "planetoid_public", 0), make_split(data, "planetoid_public", 7)
    assert_well_formed(s0, n)
    assert s0.train.tolist() == list(range(5)) and s0.test.tolist() == list(range(20, 30))
    assert same(s0, s7) and s0.name == s7.name == "planetoid_public"


def test_geom_gcn_picks_column_seed_mod_10():
    n = 40
    train = torch.zeros(n, 10, dtype=torch.bool)
    val = torch.zeros(n, 10, dtype=torch.bool)
    test = torch.zeros(n, 10, dtype=torch.bool)
    for c in range(10):
        train[c, c] = True
        val[10 + c, c] = True
        test[20 + c :, c] = True
    data = toy(torch.arange(n) % 2, task="node", masks={"train": train, "val": val, "test": test})
    for r in (0, 3, 13):
        s = make_split(data, "geom_gcn", r)
        assert_well_formed(s, n)
        assert s.train.tolist() == [r % 10] and s.val.tolist() == [10 + r % 10]
        assert s.name.endswith(f"split{r % 10}")
    assert same(make_split(data, "geom_gcn", 3), make_split(data, "geom_gcn", 13))


def test_ogb_official_maps_valid_to_val():
    split = {
        "train": torch.tensor([4, 0, 2]),
        "valid": torch.tensor([1]),
        "test": torch.tensor([3]),
    }
    data = toy(torch.zeros(6, 1), ogb_split=split)
    s = make_split(data, "ogb_official", 5)
    assert_well_formed(s, 6)
    assert s.train.tolist() == [0, 2, 4] and s.val.tolist() == [1] and s.test.tolist() == [3]


def test_overlapping_masks_are_rejected():
    split = {"train": torch.tensor([0, 1]), "valid": torch.tensor([1]), "test": torch.tensor([2])}
    with pytest.raises(KdbenchError, match="overlaps"):
        make_split(toy(torch.zeros(3, 1), ogb_split=split), "ogb_official", 0)


# ------------------------------------------------------------------ tu_10fold


def test_tu_10fold_folds_partition_and_are_stratified():
    n, data = len(Y3), toy(Y3)
    counts = torch.bincount(Y3)
    tests = []
    for r in range(10):
        s = make_split(data, "tu_10fold", r)
        assert_well_formed(s, n, complete=True)
        assert s.val.numel() == round(0.1 * n)
        for part in (s.test, s.val):
            expected = counts * part.numel() / n
            assert (torch.bincount(Y3[part], minlength=3) - expected).abs().max() <= 1
        tests.append(s.test)
        assert s.name == f"tu_10fold(folds=10,split_seed=0,val_fraction=0.1)/fold{r}"
    assert torch.equal(torch.cat(tests).sort().values, torch.arange(n))


def test_tu_10fold_fixed_folds_and_seeded_val_carve():
    data = toy(Y3)
    a, b = make_split(data, "tu_10fold", 2), make_split(data, "tu_10fold", 2)
    assert same(a, b)
    c = make_split(data, "tu_10fold", 12)  # same test fold, another validation carve
    assert torch.equal(a.test, c.test) and not torch.equal(a.val, c.val) and a.name != c.name
    other = make_split(data, "tu_10fold", 2, {"split_seed": 1})
    assert not torch.equal(a.test, other.test) and "split_seed=1" in other.name


def test_tu_10fold_multilabel_falls_back_to_kfold():
    y = torch.rand(50, 3)
    tests = [make_split(toy(y), "tu_10fold", r, {"folds": 5}).test for r in range(5)]
    assert torch.equal(torch.cat(tests).sort().values, torch.arange(50))


# ------------------------------------------------------------------ per_class_random


def test_per_class_random_counts_and_ltd_parts():
    y, n = Y3, len(Y3)
    ltd = {"train": 5, "meta": 5, "val": 3}
    s = make_split(toy(y, task="node"), "per_class_random", 1, {"sizes": ltd, "test_per_class": 4})
    assert_well_formed(s, n)
    assert list(s.parts) == ["meta"]
    for part, k in [(s.train, 5), (s.parts["meta"], 5), (s.val, 3), (s.test, 4)]:
        assert torch.bincount(y[part], minlength=3).tolist() == [k, k, k]
    assert s.name == "per_class_random(sizes={train:5,meta:5,val:3},test_per_class=4)/seed1"


def test_ltd_split_is_20_20_10_per_class_and_baselines_train_on_train_and_meta():
    y = torch.arange(600) % 4  # 150 per class
    data = toy(y, task="node")
    s = make_split(data, "ltd", 3)
    meta = s.parts["meta"]
    held_in = s.train[~torch.isin(s.train, meta)]  # LTD's cross-entropy nodes
    for part, k in [(held_in, 20), (meta, 20), (s.train, 40), (s.val, 10), (s.test, 100)]:
        assert torch.bincount(y[part], minlength=4).tolist() == [k] * 4
    assert torch.isin(meta, s.train).all()  # meta ⊂ train: every baseline sees the 40 labels
    everything = torch.cat([s.train, s.val, s.test])
    assert everything.unique().numel() == everything.numel() == 600  # disjoint and complete
    assert s.name == "ltd(train=20,meta=20,val=10)/seed3"
    assert not same(s, make_split(data, "ltd", 4))  # a fresh split per seed
    fixed = [make_split(data, "ltd_fixed", r) for r in (0, 5)]
    assert same(fixed[0], fixed[1]) and same(fixed[0], make_split(data, "ltd", 0))
    assert fixed[0].name == "ltd_fixed(train=20,meta=20,val=10)"


def test_ltd_split_names_the_class_that_is_too_small():
    y = torch.cat([torch.zeros(60), torch.ones(49)]).long()
    with pytest.raises(KdbenchError, match=r"protocol ltd needs .*class 1 has 49 items"):
        make_split(toy(y, task="node"), "ltd", 0)


def test_per_class_random_default_sizes_exact():
    y = torch.arange(300) % 3  # 100 per class
    s = make_split(toy(y, task="node"), "per_class_random", 0)
    assert torch.bincount(y[s.train]).tolist() == [20, 20, 20]
    assert torch.bincount(y[s.val]).tolist() == [30, 30, 30]
    assert torch.bincount(y[s.test]).tolist() == [50, 50, 50]


def test_per_class_random_seeded():
    data = toy(torch.arange(300) % 3, task="node")
    a, b = make_split(data, "per_class_random", 4), make_split(data, "per_class_random", 4)
    c = make_split(data, "per_class_random", 5)
    assert same(a, b) and a.name == b.name
    assert not torch.equal(a.train, c.train) and a.name != c.name


def test_per_class_random_small_class_error():
    y = torch.tensor([0] * 60 + [1] * 30)
    with pytest.raises(KdbenchError, match=r"class 1 has 30 items .* needs 50"):
        make_split(toy(y, task="node"), "per_class_random", 0)


# ------------------------------------------------------------------ scaffold

SCAFFOLDS = ["c1ccccc1", "C1CCCCC1", "c1ccncc1", "C1CCOC1", "c1ccc2ccccc2c1"]
SUBST = ["C", "CC", "O", "N", "Cl", "CCC", "OC", "CN", "F", "Br"]


def molecules() -> list[str]:
    """Scaffold i gets 8, 5, 3, 2, 1 substituted copies, plus two acyclic molecules."""
    out = []
    for scaf, k in zip(SCAFFOLDS, (8, 5, 3, 2, 1)):
        out += [f"{SUBST[j]}{scaf}" for j in range(k)]
    return [*out, "CCO", "CCCCN"]


def test_scaffold_groups_never_straddle_and_sizes_approx():
    from rdkit.Chem.Scaffolds.MurckoScaffold import MurckoScaffoldSmiles

    smiles = molecules()
    n = len(smiles)
    data = toy(torch.rand(n, 2), smiles=smiles)
    s = make_split(data, "scaffold", 0)
    assert_well_formed(s, n, complete=True)
    where = {}
    for name, idx in parts(s).items():
        for i in idx.tolist():
            scaf = MurckoScaffoldSmiles(smiles=smiles[i], includeChirality=True)
            assert where.setdefault(scaf, name) == name, f"scaffold {scaf} straddles parts"
    # groups 8,5,3 fill train (16 <= 0.8 * 21), then 2 to valid (<= 18.9), the rest test
    assert s.train.numel() == 16 and s.val.numel() == 2 and s.test.numel() == 3
    assert same(s, make_split(data, "scaffold", 9)) and s.name == "scaffold(frac=(0.8,0.1,0.1))"


def test_scaffold_on_a_larger_set_is_about_80_10_10():
    smiles = [f"{'C' * (i % 7 + 1)}c1ccc(cc1){'C' * (i // 7)}" for i in range(200)]
    smiles = [s if i % 5 else f"C1CC{'C' * (i % 40)}C1" for i, s in enumerate(smiles)]
    s = make_split(toy(torch.rand(200, 1), smiles=smiles), "scaffold", 0)
    assert_well_formed(s, 200, complete=True)
    assert abs(s.train.numel() - 160) <= 10 and abs(s.val.numel() - 20) <= 10


def test_hu_paper_is_the_scaffold_split_selected_at_the_last_epoch():
    from benchmark.data.splits import PAPER_PROTOCOLS

    data = toy(torch.rand(len(molecules()), 2), smiles=molecules())
    s, base = make_split(data, "hu_paper", 3), make_split(data, "scaffold", 0)
    assert same(s, base) and s.selection == "last" and base.selection == "val"
    assert "hu_paper" in PAPER_PROTOCOLS and s.to("cpu").selection == "last"


def test_scaffold_needs_one_smiles_per_graph():
    with pytest.raises(KdbenchError, match="SMILES for 3 graphs"):
        make_split(toy(torch.rand(3, 1), smiles=["CCO"]), "scaffold", 0)


# ------------------------------------------------------------------ random / none


def test_random_split_stratified_and_seeded():
    n, data = len(Y3), toy(Y3)
    s = make_split(data, "random", 0)
    assert_well_formed(s, n, complete=True)
    assert (s.train.numel(), s.val.numel(), s.test.numel()) == (96, 12, 12)
    expected = torch.bincount(Y3) * 12 / n
    assert (torch.bincount(Y3[s.test], minlength=3) - expected).abs().max() <= 1
    assert same(s, make_split(data, "random", 0))
    assert not torch.equal(s.test, make_split(data, "random", 1).test)
    multi = make_split(toy(torch.rand(n, 2)), "random", 0, {"frac": [0.6, 0.2, 0.2]})
    assert_well_formed(multi, n, complete=True)
    assert multi.name == "random(frac=(0.6,0.2,0.2),stratify=False)/seed0"


def test_none_protocol_says_pretraining_corpus():
    with pytest.raises(KdbenchError, match="pre-training corpus"):
        make_split(toy(torch.zeros(3, 1)), "none", 0)


# ------------------------------------------------------------------ errors


def test_unknown_protocol_did_you_mean():
    with pytest.raises(UnknownNameError, match="Did you mean 'scaffold'"):
        make_split(toy(Y3), "scafold", 0)


def test_unknown_arg_is_named():
    with pytest.raises(KdbenchError, match=r"no argument 'fold'.*folds"):
        make_split(toy(Y3), "tu_10fold", 0, {"fold": 5})


def test_bad_frac_is_named():
    with pytest.raises(KdbenchError, match="frac"):
        make_split(toy(Y3), "random", 0, {"frac": (0.8, 0.3, 0.1)})


@pytest.mark.parametrize(
    ("protocol", "key"),
    [
        ("planetoid_public", "masks"),
        ("geom_gcn", "masks"),
        ("scaffold", "smiles"),
        ("ogb_official", "ogb_split"),
    ],
)
def test_missing_extra_key_names_protocol_dataset_key(protocol, key):
    with pytest.raises(KdbenchError) as err:
        make_split(toy(Y3), protocol, 0)
    assert protocol in str(err.value) and "'toy'" in str(err.value) and key in str(err.value)


def test_registry_lists_every_protocol():
    assert set(SPLITS.names()) == {
        "planetoid_public",
        "geom_gcn",
        "tu_10fold",
        "per_class_random",
        "scaffold",
        "ogb_official",
        "random",
        "none",
        "ltd",
        "ltd_fixed",
        "inductive",
        "lad_paper",
        "hu_paper",
    }
