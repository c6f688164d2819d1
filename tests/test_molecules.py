"""The molecule featurisations (benchmark/data/molecules.py) on hand-checked SMILES."""

from __future__ import annotations

import pytest
import torch

from benchmark.data.molecules import FEATURIZATIONS, featurize_all
from benchmark.errors import UnknownNameError

SMILES = ["CCO", "C[C@H](N)O", "c1ccccc1", "C/C=C/C", "[Na+]", "*C", "CC(=O)[O-].[Na+]"]


def hu(smiles: str):
    g = FEATURIZATIONS.get("hu").featurize(smiles)
    assert g is not None
    return g


def test_hu_ethanol() -> None:
    g = hu("CCO")
    assert g.x.dtype == torch.long and g.x.tolist() == [[5, 0], [5, 0], [7, 0]]
    assert g.edge_index.tolist() == [[0, 1, 1, 2], [1, 0, 2, 1]]  # both directions per bond
    assert g.edge_attr.dtype == torch.long and g.edge_attr.tolist() == [[0, 0]] * 4
    assert g.smiles == "CCO"


def test_hu_chirality_aromatic_and_bond_direction() -> None:
    chiral = hu("C[C@H](N)O")
    assert chiral.x[:, 1].tolist() == [0, 2, 0, 0]  # @ is CCW, index 2
    assert hu("C[C@@H](N)O").x[1, 1] == 1  # @@ is CW, index 1
    benzene = hu("c1ccccc1")
    assert benzene.edge_index.shape == (2, 12) and benzene.edge_attr[:, 0].eq(3).all()
    butene = hu("C/C=C/C")
    assert butene.edge_attr[:, 0].tolist() == [0, 0, 1, 1, 0, 0]  # single, double, single
    assert butene.edge_attr[:, 1].ne(0).any() and butene.edge_attr[2:4, 1].eq(0).all()
    assert hu("C#N").edge_attr[:, 0].tolist() == [2, 2]


def test_hu_single_atom_and_unknown_atom() -> None:
    sodium = hu("[Na+]")
    assert sodium.x.tolist() == [[10, 0]]
    assert sodium.edge_index.shape == (2, 0) and sodium.edge_attr.shape == (0, 2)
    assert hu("*C").x[:, 0].tolist() == [118, 5]  # atomic number 0 → the "other" index


def test_hu_maps_other_tags_and_bond_types_to_the_documented_indices() -> None:
    assert hu("F[Pt@SP1](Cl)(Br)I").x[1].tolist() == [77, 3]  # square planar → CHI_OTHER's 3
    assert hu("[NH3]->[Cu]").edge_attr.tolist() == [[0, 0], [0, 0]]  # dative → SINGLE's 0
    assert hu("C$C").edge_attr[:, 0].tolist() == [0, 0]  # quadruple → SINGLE's 0


def test_unparsable_smiles_are_skipped_and_counted() -> None:
    for name in ("hu", "pyg", "ogb"):
        assert FEATURIZATIONS.get(name).featurize("C1CC") is None
        graphs, skipped = featurize_all(["CCO", "C1CC", "not_a_smiles", "", "c1ccccc1"], name)
        assert skipped == [1, 2, 3]
        assert [g.smiles for g in graphs] == ["CCO", "c1ccccc1"]
        assert [g.num_nodes for g in graphs] == [3, 6]


def test_empty_graph_for_moleculenet() -> None:
    for name in ("hu", "pyg", "ogb"):
        feat = FEATURIZATIONS.get(name)
        g = feat.featurize_or_empty("C1CC")
        assert g.num_nodes == 0 and g.x.shape == (0, len(feat.atom_vocab))
        assert g.edge_index.shape == (2, 0) and g.edge_attr.shape == (0, len(feat.bond_vocab))


@pytest.mark.parametrize("name", ["hu", "pyg", "ogb"])
def test_outputs_fit_the_vocabularies(name: str) -> None:
    feat = FEATURIZATIONS.get(name)
    graphs, skipped = featurize_all(SMILES, name)
    assert skipped == [] and feat.name == name
    x = torch.cat([g.x for g in graphs])
    e = torch.cat([g.edge_attr for g in graphs])
    assert x.dtype == e.dtype == torch.long and x.min() >= 0 and e.min() >= 0
    assert x.shape[1] == len(feat.atom_vocab) and e.shape[1] == len(feat.bond_vocab)
    assert (x.amax(0) < torch.tensor(feat.atom_vocab)).all()
    assert (e.amax(0) < torch.tensor(feat.bond_vocab)).all()
    if feat.mask_atom is not None:  # the mask tokens are never produced
        assert (x[:, 0] != feat.mask_atom).all() and feat.mask_atom < feat.atom_vocab[0]
    if feat.mask_bond is not None:
        assert (e[:, 0] != feat.mask_bond).all() and feat.mask_bond < feat.bond_vocab[0]


def test_hu_vocabulary_and_masks() -> None:
    feat = FEATURIZATIONS.get("hu")
    assert (feat.atom_vocab, feat.bond_vocab) == ([120, 4], [5, 3])
    assert (feat.mask_atom, feat.mask_bond) == (119, 4)
    for name in ("pyg", "ogb"):
        assert FEATURIZATIONS.get(name).mask_atom is None is FEATURIZATIONS.get(name).mask_bond
    with pytest.raises(UnknownNameError, match="Did you mean 'hu'"):
        FEATURIZATIONS.get("hy")
