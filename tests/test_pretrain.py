"""Pre-trained GNNs (Hu et al. 2020): masking, context rings, the encoder artefact, the
molecular GIN and a tiny pre-train → fine-tune run."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Data

from benchmark.artifacts import ArtifactCache
from benchmark.errors import KdbenchError
from benchmark.method import FitContext, resolve_params
from benchmark.metrics import Evaluator
from benchmark.models import BACKBONES
from benchmark.models.backbones import build_backbone
from benchmark.pretrain.context import UNREACHED, hop_distances, ring_masks, sample_centres
from benchmark.pretrain.corpus import corpus_sample, load_corpus
from benchmark.pretrain.encoder import (
    PretrainConfig,
    config_from_params,
    ensure_encoder,
    load_encoder,
    train_encoder,
)
from benchmark.pretrain.strategies import STRATEGIES, mask_counts, sample_masked_atoms
from benchmark.registry import METHODS
from benchmark.train.feeders import GraphFeeder
from tests.conftest import MOLECULES, make_molecule_data, simple_split

SMALL = {
    "hidden": 16,
    "layers": 3,
    "gin_mlp": "wide",
    "edge_features": True,
    "norm": "batch",
    "act_last": False,
    "jk": "last",
}


def _batch(data, ids=None):
    ids = torch.arange(data.num_items) if ids is None else ids
    split = simple_split(data.num_items)
    return GraphFeeder(data, split, torch.device("cpu"), 8, 0).batch_of(ids)


def chain(n: int) -> Data:
    """A path 0 - 1 - ... - n-1 (both directions)."""
    src = torch.arange(n - 1)
    ei = torch.stack([torch.cat([src, src + 1]), torch.cat([src + 1, src])])
    return Data(edge_index=ei, num_nodes=n)


# ------------------------------------------------------------------ attribute masking


def test_mask_counts_are_fifteen_percent_rounded_at_least_one():
    sizes = torch.tensor([1, 3, 6, 7, 10, 20, 40])
    assert mask_counts(sizes, 0.15).tolist() == [1, 1, 1, 1, 2, 3, 6]
    assert mask_counts(sizes, 0.15, "official").tolist() == [1, 1, 1, 2, 2, 4, 7]
    with pytest.raises(KdbenchError, match="mask_rule"):
        mask_counts(sizes, 0.15, "ceil")


def test_masking_hides_exactly_the_share_per_molecule_and_labels_are_original_types():
    data = make_molecule_data()
    batch = _batch(data)
    masked = sample_masked_atoms(
        batch.batch, batch.num_graphs, 0.15, torch.Generator().manual_seed(0)
    )
    sizes = torch.bincount(batch.batch)
    assert torch.equal(
        torch.bincount(batch.batch[masked], minlength=len(sizes)), mask_counts(sizes, 0.15)
    )
    # the loss's targets are the atoms' original types (mask token never a target)
    strategy = STRATEGIES.get("attrmask")
    seen = {}

    def spy(logits, target):
        seen["target"] = target
        return logits.sum() * 0

    enc = build_backbone(
        "GIN",
        2,
        1,
        "graph",
        SMALL,
        categorical=data.categorical,
        edge_categorical=data.edge_categorical,
    )
    vocab = {
        "atom_vocab": data.categorical,
        "bond_vocab": data.edge_categorical,
        "mask_atom": 119,
        "mask_bond": 4,
    }
    s = strategy(enc, vocab, {}, SMALL)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("benchmark.pretrain.strategies.F.cross_entropy", spy)
        s.loss(enc, batch, torch.Generator().manual_seed(0))
    assert torch.equal(seen["target"], batch.x[masked, 0]) and (seen["target"] < 119).all()


def test_masks_differ_between_draws_and_molecules_keep_their_counts():
    batch = torch.repeat_interleave(torch.arange(3), torch.tensor([10, 20, 7]))
    g = torch.Generator().manual_seed(1)
    a, b = (sample_masked_atoms(batch, 3, 0.15, g) for _ in range(2))
    assert not torch.equal(a, b)
    assert torch.bincount(batch[a]).tolist() == [2, 3, 1]


# ------------------------------------------------------------------ context prediction


def test_hop_distances_and_ring_on_a_chain():
    g = chain(10)
    dist = hop_distances(g.edge_index, 10, torch.tensor([0]), max_hops=7)
    assert dist[:8].tolist() == list(range(8)) and (dist[8:] == UNREACHED).all()
    inner, ring, anchors = ring_masks(dist, k=5, r1=4, r2=7)
    assert inner.nonzero().flatten().tolist() == [0, 1, 2, 3, 4, 5]
    assert ring.nonzero().flatten().tolist() == [5, 6, 7]  # r1 < d <= r2, as the official code
    assert anchors.nonzero().flatten().tolist() == [5]


def test_ring_and_anchors_on_a_branched_toy_molecule():
    # centre 0; a ring 1-2-3-4-5-1 hangs off 0 at 1, and a chain 0-6-7 on the other side
    bonds = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 1), (0, 6), (6, 7)]
    src = torch.tensor([a for a, b in bonds] + [b for a, b in bonds])
    dst = torch.tensor([b for a, b in bonds] + [a for a, b in bonds])
    dist = hop_distances(torch.stack([src, dst]), 8, torch.tensor([0]), max_hops=4)
    assert dist.tolist() == [0, 1, 2, 3, 3, 2, 1, 2]
    inner, ring, anchors = ring_masks(dist, k=2, r1=1, r2=3)
    assert ring.nonzero().flatten().tolist() == [2, 3, 4, 5, 7]
    assert anchors.nonzero().flatten().tolist() == [2, 5, 7]
    assert inner.nonzero().flatten().tolist() == [0, 1, 2, 5, 6, 7]


def test_batched_distances_stay_inside_each_molecule():
    a, b = chain(4), chain(3)
    ei = torch.cat([a.edge_index, b.edge_index + 4], 1)
    batch = torch.tensor([0, 0, 0, 0, 1, 1, 1])
    centres = sample_centres(batch, 2, torch.Generator().manual_seed(0))
    assert batch[centres].tolist() == [0, 1]
    dist = hop_distances(ei, 7, centres, max_hops=7)
    assert (dist[:4] <= 3).all() and (dist[4:] <= 2).all()


def test_context_prediction_needs_anchors_between_the_radii():
    data = make_molecule_data()
    enc = build_backbone(
        "GIN",
        2,
        1,
        "graph",
        SMALL,
        categorical=data.categorical,
        edge_categorical=data.edge_categorical,
    )
    vocab = {"atom_vocab": data.categorical, "bond_vocab": data.edge_categorical}
    with pytest.raises(KdbenchError, match="r1 < layers <= r2"):
        STRATEGIES.get("contextpred")(enc, vocab, {"r1": 3, "r2": 7}, SMALL)
    s = STRATEGIES.get("contextpred")(enc, vocab, {"r1": 1, "r2": 4}, SMALL)
    loss = s.loss(enc, _batch(data), torch.Generator().manual_seed(0))
    assert loss.dim() == 0 and torch.isfinite(loss) and loss > 0
    loss.backward()
    assert enc.convs[0].mlp[0].weight.grad.abs().sum() > 0
    assert s.context_gnn.convs[0].mlp[0].weight.grad.abs().sum() > 0


# ------------------------------------------------------------------ the molecular GIN


def test_gin_edge_features_change_the_output_and_hu_head_is_linear():
    data = make_molecule_data()
    batch = _batch(data)
    params = {**SMALL, "graph_head": "linear", "readout": "mean"}
    model = build_backbone(
        "GIN",
        2,
        2,
        "graph",
        params,
        categorical=data.categorical,
        edge_categorical=data.edge_categorical,
    ).eval()
    assert isinstance(model.head, torch.nn.Linear)
    out = model(batch.x, batch.edge_index, batch.batch, batch.num_graphs, edge_attr=batch.edge_attr)
    other = batch.edge_attr.clone()
    other[:, 0] = (other[:, 0] + 1) % 4
    out2 = model(batch.x, batch.edge_index, batch.batch, batch.num_graphs, edge_attr=other)
    assert out.logits.shape == (data.num_items, 2) and not torch.allclose(out.logits, out2.logits)
    assert (out.h < 0).any()  # act_last=False: the last layer ends with batch norm, no ReLU
    with pytest.raises(KdbenchError, match="GIN only"):
        build_backbone(
            "GCN",
            2,
            2,
            "graph",
            params,
            categorical=data.categorical,
            edge_categorical=data.edge_categorical,
        )


# ------------------------------------------------------------------ the encoder artefact


def _config(strategy: str, **kw) -> PretrainConfig:
    params = {**SMALL, "pretrain_epochs": 2, "pretrain_batch_size": 8, "r1": 1, "r2": 4, **kw}
    return config_from_params(strategy, params)


def test_encoder_round_trips_through_the_cache(tmp_path, monkeypatch):
    corpus = make_molecule_data(target="none")
    monkeypatch.setattr("benchmark.pretrain.corpus.load_corpus", lambda *a, **k: corpus)
    cache = ArtifactCache(tmp_path)
    config = _config("attrmask")
    first = ensure_encoder(config, cache, torch.device("cpu"))
    again = ensure_encoder(config, cache, torch.device("cpu"))
    assert cache.built == 1 and len(first["losses"]) == 2
    assert all(torch.equal(first["encoder"][k], again["encoder"][k]) for k in first["encoder"])
    assert not any(k.startswith("head.") for k in first["encoder"])
    model = build_backbone(
        "GIN",
        2,
        3,
        "graph",
        {**SMALL, "graph_head": "linear"},
        categorical=corpus.categorical,
        edge_categorical=corpus.edge_categorical,
    )
    load_encoder(model, first, make_molecule_data())
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in first["encoder"].items())
    with pytest.raises(KdbenchError, match="kdbench pretrain --strategy contextpred"):
        ensure_encoder(_config("contextpred"), cache, torch.device("cpu"), missing="fail")


def test_a_killed_pretraining_resumes_to_the_same_encoder(tmp_path):
    corpus = make_molecule_data(target="none")
    cpu = torch.device("cpu")
    full = train_encoder(_config("contextpred", pretrain_epochs=3), corpus, cpu)
    ckpt = tmp_path / "enc.ckpt"
    train_encoder(_config("contextpred", pretrain_epochs=1), corpus, cpu, ckpt)  # "killed"
    resumed = train_encoder(_config("contextpred", pretrain_epochs=3), corpus, cpu, ckpt)
    assert resumed["losses"][0] == full["losses"][0]
    assert torch.allclose(torch.tensor(resumed["losses"]), torch.tensor(full["losses"]))
    for k, v in full["encoder"].items():
        assert torch.allclose(v.float(), resumed["encoder"][k].float(), atol=1e-5), k


def test_encoder_of_another_featurisation_or_architecture_is_refused():
    corpus = make_molecule_data(target="none")
    art = train_encoder(_config("attrmask", pretrain_epochs=1), corpus, torch.device("cpu"))
    data = make_molecule_data()
    wider = build_backbone(
        "GIN",
        2,
        1,
        "graph",
        {**SMALL, "hidden": 32},
        categorical=data.categorical,
        edge_categorical=data.edge_categorical,
    )
    with pytest.raises(KdbenchError, match="does not fit"):
        load_encoder(wider, art, data)
    data.featurization = "ogb"
    with pytest.raises(KdbenchError, match="featurised"):
        load_encoder(wider, art, data)


# ------------------------------------------------------------------ the corpus sample

#: 30 distinct molecules: a tiny stand-in for a SMILES corpus file.
CORPUS = [*MOLECULES, *("C" * i + "O" for i in range(1, 15))]


def _write_corpus(card_dir, card_fields, root, smiles, graphs) -> None:
    """A ``smiles_csv`` card ``Corpus`` (hu featurisation) counting ``graphs`` molecules."""
    (root / "Corpus" / "raw").mkdir(parents=True)
    (root / "Corpus" / "raw" / "c.csv").write_text("SMILES\n" + "\n".join(smiles) + "\n")
    card_dir(
        **card_fields(
            name="Corpus",
            family="molecular",
            loader="smiles_csv",
            path="Corpus",
            loader_args={"file": "c.csv", "column": "SMILES", "featurizer": "hu"},
            files=[{"path": "raw/c.csv"}],
            target="none",
            metric="none",
            protocol="none",
            stats={"num_graphs": graphs},
        )
    )


def _count_featurised(monkeypatch) -> list[str]:
    """Every SMILES featurised from now on, in order."""
    from benchmark.data.molecules import Featurization

    seen: list[str] = []
    featurize = Featurization.featurize

    def counting(self, smiles):
        seen.append(smiles)
        return featurize(self, smiles)

    monkeypatch.setattr(Featurization, "featurize", counting)
    return seen


def _same_graphs(a, b) -> bool:
    return len(a) == len(b) and all(
        g.smiles == h.smiles
        and all(torch.equal(g[k], h[k]) for k in ("x", "edge_index", "edge_attr"))
        for g, h in zip(a, b)
    )


def test_a_sample_featurises_only_its_molecules_and_is_the_sample_drawn_before(
    card_dir, card_fields, tmp_path, monkeypatch
):
    from benchmark.data.loaders import load_dataset

    root = tmp_path / "root"
    _write_corpus(card_dir, card_fields, root, CORPUS, len(CORPUS))
    seen = _count_featurised(monkeypatch)
    sample = load_corpus("Corpus", 7, 3, root, "")
    # the previous rule: the first 7 of a permutation seeded by 3 of the featurised corpus
    old = torch.randperm(len(CORPUS), generator=torch.Generator().manual_seed(3))[:7].sort().values
    assert len(seen) == 7 and sample.num_items == 7 and sample.y.shape == (7, 0)
    assert seen == sample.extra["smiles"] == [CORPUS[i] for i in old.tolist()]
    assert torch.equal(sample.extra["corpus_rows"], old)
    full = load_dataset("Corpus", root, "")  # everything featurised, then drawn from
    assert len(seen) == 7 + len(CORPUS)
    drawn = corpus_sample(full, 7, 3)
    assert _same_graphs(sample.graphs, drawn.graphs) and drawn.extra["smiles"] == seen[:7]
    # so the encoder (and its cache key: corpus, molecules, seed) is the one built before
    config = _config(
        "attrmask",
        pretrain_corpus="Corpus",
        pretrain_epochs=1,
        pretrain_molecules=7,
        pretrain_seed=3,
    )
    a, b = (train_encoder(config, d, torch.device("cpu")) for d in (sample, full))
    assert a["losses"] == b["losses"] and a["molecules"] == b["molecules"] == 7
    assert all(torch.equal(a["encoder"][k], b["encoder"][k]) for k in a["encoder"])


def test_the_whole_corpus_is_featurised_once_announced_when_rows_are_not_all_molecules(
    card_dir, card_fields, tmp_path, monkeypatch, capsys
):
    root = tmp_path / "root"
    smiles = [*CORPUS[:10], "not_a_smiles", *CORPUS[10:]]  # row 10 is no molecule
    _write_corpus(card_dir, card_fields, root, smiles, len(CORPUS))
    seen = _count_featurised(monkeypatch)
    with pytest.warns(UserWarning, match="1 SMILES could not be parsed"):
        sample = load_corpus("Corpus", 7, 3, root, "")
    assert seen == smiles and "featurising all 31 molecules (hu) once" in capsys.readouterr().err
    # drawn from the 30 graphs (not the 31 rows), as before
    old = torch.randperm(len(CORPUS), generator=torch.Generator().manual_seed(3))[:7].sort().values
    assert sample.extra["smiles"] == [CORPUS[i] for i in old.tolist()]
    with pytest.warns(UserWarning, match="1 SMILES could not be parsed"):
        whole = load_corpus("Corpus", 0, 3, root, "")
    assert whole.num_items == len(CORPUS) and len(seen) == len(smiles)  # cached, not redone


# ------------------------------------------------------------------ pre-train → fine-tune


@pytest.mark.parametrize("name", ["pretrain_attrmask", "pretrain_contextpred"])
def test_tiny_pretrain_then_finetune(name, tmp_path, monkeypatch):
    corpus = make_molecule_data(target="none")
    monkeypatch.setattr("benchmark.pretrain.corpus.load_corpus", lambda *a, **k: corpus)
    method = METHODS.get(name)()
    data = make_molecule_data()
    over = {**SMALL, "epochs": 3, "pretrain_epochs": 1, "pretrain_batch_size": 8}
    if name == "pretrain_contextpred":
        over.update(r1=1, r2=4)  # rings inside 3 layers
    params = resolve_params(method, BACKBONES.get("GIN"), "graph", over)
    (dep,) = method.dependencies("graph", "GIN", None, params)
    cache = ArtifactCache(tmp_path)
    art = dep.build(cache, torch.device("cpu"))
    ctx = FitContext(
        data,
        simple_split(data.num_items),
        "GIN",
        params,
        0,
        torch.device("cpu"),
        Evaluator("rocauc"),
        artifacts={"encoder": art},
    )
    result = method.fit(ctx)
    assert 0.0 <= result.test <= 1.0 and result.epochs_run == 3
    assert cache.built == 1


def test_the_named_pretrain_command_builds_the_encoder_a_cell_needs():
    import shlex

    from benchmark.cli import build_parser
    from benchmark.cli.pretrain import pretrain_config

    method = METHODS.get("pretrain_contextpred")()
    params = resolve_params(
        method, BACKBONES.get("GIN"), "graph", {"pretrain_molecules": 1234, "r2": 8, "hidden": 256}
    )
    config = config_from_params("contextpred", params)
    argv = shlex.split(config.command())[1:]
    assert argv[:3] == ["pretrain", "--strategy", "contextpred"]
    assert pretrain_config(build_parser().parse_args(argv)).key() == config.key()
    assert "--set hidden=256 r2=8" in config.command()  # only what differs from the defaults
