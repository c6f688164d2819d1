"""Split protocols: which nodes or graphs train, select and test a model in run ``r``.

A protocol is a function ``(data, seed, **args) -> Split`` registered in :data:`SPLITS`;
:func:`make_split` looks it up, checks its arguments and calls it. The seed is the run index
``r`` (0..9). Every returned :class:`Split` holds sorted, disjoint 1-D long CPU tensors, and a
``name`` such as ``tu_10fold(folds=10,split_seed=0,val_fraction=0.1)/fold3`` that fixes the
protocol, its effective arguments and, where it matters, the seed (a cache key; the dataset is
not part of it). Protocols whose split does not depend on the seed leave it out of the name.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from torch import Tensor

from benchmark.data.protocols import SPLITS, TRAITS, ProtocolTraits, protocol
from benchmark.data.types import GraphData, Split
from benchmark.errors import KdbenchError

#: paper protocols' notes: what each does that the honest rule does not
_LTD_FIXED = (
    "one fixed split (the official code's seed-0 draw) for every seed; seeds vary only "
    "the initialisation"
)
_LAD_PAPER = "test chose the epoch (the best test accuracy over epochs, as the official code)"
_HU_PAPER = "scored at the last epoch, not at the epoch chosen on validation"


def make_split(
    data: GraphData, protocol: str, seed: int, args: Mapping[str, Any] | None = None
) -> Split:
    """The split of ``data`` under ``protocol`` for run ``seed``, with ``args`` from the card.

    Unknown protocols raise the registry's did-you-mean error; an argument the protocol does
    not take, or a bad value, raises :class:`KdbenchError` naming it.
    """
    fn = SPLITS.get(protocol)
    args = dict(args or {})
    params = inspect.signature(fn).parameters
    accepted = [p for p in params if p not in ("data", "seed")]
    for key in args:
        if key not in accepted:
            raise KdbenchError(
                f"split protocol '{protocol}' has no argument '{key}'; "
                f"it takes: {', '.join(accepted) or '(none)'}."
            )
    return fn(data, int(seed), **args)


# ---------------------------------------------------------------------------- helpers


def _extra(data: GraphData, key: str, protocol: str) -> Any:
    if key not in data.extra:
        raise KdbenchError(
            f"split protocol '{protocol}' needs data.extra['{key}'], but the loader of dataset "
            f"'{data.name}' did not provide it; fix the loader or choose another `protocol:` "
            "in the card."
        )
    return data.extra[key]


def _fmt(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{_fmt(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (tuple, list)):
        return "(" + ",".join(_fmt(v) for v in value) + ")"
    return str(value)


def _name(protocol: str, args: Mapping[str, Any], suffix: str = "") -> str:
    inner = ",".join(f"{k}={_fmt(v)}" for k, v in args.items())
    return f"{protocol}({inner}){suffix}"


def _index(t: Any, n: int, what: str) -> Tensor:
    """A bool mask [n] or an integer index tensor → sorted 1-D long CPU indices."""
    t = torch.as_tensor(t).cpu()
    if t.dtype == torch.bool:
        if t.shape != (n,):
            raise KdbenchError(f"{what}: expected a bool mask of shape [{n}], got {list(t.shape)}.")
        t = t.nonzero().flatten()
    return t.long().flatten()


def _finish(
    name: str, n: int, train: Any, val: Any, test: Any, parts: Mapping[str, Any] | None = None
) -> Split:
    """Builds the Split; checks range and disjointness (a loader's masks may be wrong)."""
    sets = {"train": train, "val": val, "test": test, **(parts or {})}
    out = {
        k: torch.as_tensor(v, dtype=torch.long).cpu().flatten().sort().values
        for k, v in sets.items()
    }
    seen = torch.zeros(n, dtype=torch.bool)
    for k, idx in out.items():
        if idx.numel() and (idx.min() < 0 or idx.max() >= n):
            raise KdbenchError(f"split '{name}': '{k}' indexes outside [0, {n}).")
        if idx.unique().numel() != idx.numel() or seen[idx].any():
            raise KdbenchError(f"split '{name}': '{k}' repeats or overlaps another part.")
        seen[idx] = True
    tr, va, te = out.pop("train"), out.pop("val"), out.pop("test")
    return Split(tr, va, te, name=name, parts=out)


def _classes(data: GraphData) -> np.ndarray | None:
    """Class ids [n] as numpy for a 1-D label vector, ``None`` for [n, T] targets."""
    y = data.y
    if y.dim() == 2 and y.shape[1] == 1 and not y.is_floating_point():
        y = y.flatten()
    if y.dim() != 1 or y.is_floating_point():
        return None
    return y.cpu().numpy()


def _fracs(frac: Sequence[float], protocol: str) -> tuple[float, float, float]:
    f = tuple(float(v) for v in frac)
    if len(f) != 3 or min(f) < 0 or abs(sum(f) - 1.0) > 1e-6:
        raise KdbenchError(
            f"split protocol '{protocol}': frac must be three non-negative fractions "
            f"(train, val, test) summing to 1, got {list(frac)}."
        )
    return f  # type: ignore[return-value]


# ---------------------------------------------------------------------------- protocols


@protocol("planetoid_public", shared=True)
def planetoid_public(data: GraphData, seed: int) -> Split:
    """The fixed public Planetoid split (Yang et al. 2016; Kipf & Welling 2017): 20 labels per
    class train, 500 val, 1000 test, from ``data.extra["masks"]`` (bool [N] per train/val/test).
    The seed varies only initialisation."""
    masks = _extra(data, "masks", "planetoid_public")
    n = data.num_items
    idx = [_index(masks[k], n, f"planetoid_public masks['{k}']") for k in ("train", "val", "test")]
    return _finish("planetoid_public", n, *idx)


@protocol("geom_gcn", shared=False)
def geom_gcn(data: GraphData, seed: int) -> Split:
    """The ten fixed 48/32/20 splits of Geom-GCN (Pei et al. 2020), as PyG ships them:
    ``data.extra["masks"]`` holds bool [N, 10] per part; run ``r`` uses column ``r % 10``
    (``r % K`` for K columns)."""
    masks = _extra(data, "masks", "geom_gcn")
    n = data.num_items
    cols = torch.as_tensor(masks["train"])
    if cols.dim() != 2:
        raise KdbenchError(
            f"geom_gcn on '{data.name}': masks must be [N, 10] (one column per split), got "
            f"{list(cols.shape)}; a single split is `planetoid_public`."
        )
    col = seed % cols.shape[1]
    idx = [
        _index(torch.as_tensor(masks[k])[:, col], n, f"geom_gcn masks['{k}']")
        for k in ("train", "val", "test")
    ]
    return _finish(f"geom_gcn/split{col}", n, *idx)


@protocol("tu_10fold", shared=False)
def tu_10fold(
    data: GraphData, seed: int, folds: int = 10, split_seed: int = 0, val_fraction: float = 0.1
) -> Split:
    """Stratified k-fold cross-validation for TU graph classification (Errica et al. 2020,
    "A fair comparison of GNNs for graph classification"): ``StratifiedKFold(folds,
    shuffle=True, random_state=split_seed)`` over ``y``, the same folds in every run; run
    ``r`` tests on fold ``r % folds``. Validation, ``val_fraction`` of the whole dataset, is
    carved stratified from the other folds with ``random_state=split_seed + r``; the rest
    trains. [n, T] targets fall back to unstratified ``KFold``. The name ends in ``/fold{f}``,
    and ``/fold{f}/seed{r}`` once ``r >= folds`` (same test fold, another validation carve)."""
    from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

    if int(folds) != folds or folds < 2 or folds > data.num_items:
        raise KdbenchError(f"tu_10fold: folds must be an integer in [2, n], got {folds}.")
    if not 0 <= val_fraction < 1:
        raise KdbenchError(f"tu_10fold: val_fraction must be in [0, 1), got {val_fraction}.")
    folds, n = int(folds), data.num_items
    y = _classes(data)
    every = np.arange(n)
    if y is not None:
        kf = StratifiedKFold(folds, shuffle=True, random_state=split_seed)
        fold_list = list(kf.split(every, y))
    else:
        fold_list = list(KFold(folds, shuffle=True, random_state=split_seed).split(every))
    f = seed % folds
    rest, test = fold_list[f]
    n_val = round(val_fraction * n)
    if n_val == 0:
        train, val = rest, np.empty(0, dtype=np.int64)
    else:
        try:
            train, val = train_test_split(
                rest,
                test_size=n_val,
                random_state=split_seed + seed,
                stratify=None if y is None else y[rest],
            )
        except ValueError as e:
            raise KdbenchError(
                f"tu_10fold on '{data.name}': cannot carve a stratified validation set of "
                f"{n_val} graphs ({e}); lower val_fraction or use `random` with stratify=false."
            ) from None
    args = {"folds": folds, "split_seed": split_seed, "val_fraction": val_fraction}
    suffix = f"/fold{f}" if seed < folds else f"/fold{f}/seed{seed}"
    return _finish(_name("tu_10fold", args, suffix), n, train, val, test)


@protocol("per_class_random", shared=False)
def per_class_random(
    data: GraphData,
    seed: int,
    sizes: Mapping[str, int] | None = None,
    test_per_class: int | None = None,
) -> Split:
    """A fresh per-class random split per seed (Shchur et al. 2018 for Amazon/Coauthor; CPF,
    GLNN: 20 train / 30 val per class, LTD: ``{train: 20, meta: 20, val: 10}``). One
    permutation of all items is drawn from ``torch.Generator().manual_seed(seed)``; within each
    class, items are taken in permutation order: the first ``sizes[part]`` go to each part in
    the order given, the rest (at most ``test_per_class``) to test. Parts other than
    train/val land in ``Split.parts``. Items with a negative label are left out."""
    sizes = dict(sizes if sizes is not None else {"train": 20, "val": 30})
    if "train" not in sizes or "test" in sizes:
        raise KdbenchError(
            f"per_class_random: sizes must name 'train' (and may name val and extra parts) but "
            f"not 'test' (the rest is test; cap it with test_per_class), got {sizes}."
        )
    for part, k in sizes.items():
        if int(k) != k or k < 0:
            raise KdbenchError(f"per_class_random: sizes['{part}'] must be a count >= 0, got {k}.")
    if test_per_class is not None and (int(test_per_class) != test_per_class or test_per_class < 0):
        raise KdbenchError(
            f"per_class_random: test_per_class must be a count >= 0 or null, got {test_per_class}."
        )
    y = _classes(data)
    if y is None:
        raise KdbenchError(
            f"per_class_random on '{data.name}' needs one class id per item, but y has shape "
            f"{list(data.y.shape)} ({data.y.dtype}); use `random` for multilabel or regression."
        )
    n = data.num_items
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).numpy()
    y_perm = y[perm]
    need = sum(int(k) for k in sizes.values())
    out: dict[str, list[np.ndarray]] = {p: [] for p in [*sizes, "test"]}
    for c in np.unique(y[y >= 0]):
        members = perm[y_perm == c]
        if len(members) < need:
            raise KdbenchError(
                f"per_class_random on '{data.name}': class {c} has {len(members)} items but "
                f"the split needs {need} per class ({_fmt(sizes)}); lower the sizes."
            )
        start = 0
        for part, k in sizes.items():
            out[part].append(members[start : start + int(k)])
            start += int(k)
        stop = None if test_per_class is None else start + int(test_per_class)
        out["test"].append(members[start:stop])
    cat = {p: np.concatenate(v) if v else np.empty(0, dtype=np.int64) for p, v in out.items()}
    extra_parts = {p: cat[p] for p in sizes if p not in ("train", "val")}
    val = cat.get("val", np.empty(0, dtype=np.int64))
    args = {"sizes": {k: int(v) for k, v in sizes.items()}, "test_per_class": test_per_class}
    return _finish(
        _name("per_class_random", args, f"/seed{seed}"),
        n,
        cat["train"],
        val,
        cat["test"],
        extra_parts,
    )


@protocol("ltd", shared=False)
def ltd(data: GraphData, seed: int, train: int = 20, meta: int = 20, val: int = 10) -> Split:
    """LTD's split (Guo et al., WSDM 2023), drawn afresh per seed as :func:`per_class_random`
    with sizes ``{train, meta, val}`` per class, the rest test. ``Split.train`` is train ∪ meta
    (40 per class): what LTD's teacher and every baseline train on, so that all methods see the
    same labels; ``Split.parts['meta']`` names the meta subset, which LTD holds out of its
    cross-entropy to score the distilled student. ``val`` (10 per class) selects the epoch."""
    sizes = {"train": train, "meta": meta, "val": val}
    try:
        base = per_class_random(data, seed, sizes)
    except KdbenchError as exc:
        raise KdbenchError(
            f"protocol ltd needs {_fmt(sizes)} labelled items per class: {exc}"
        ) from None
    held = base.parts["meta"]
    args = {"train": train, "meta": meta, "val": val}
    return Split(
        torch.cat([base.train, held]).sort().values,
        base.val,
        base.test,
        name=_name("ltd", args, f"/seed{seed}"),
        parts={"meta": held},
    )


@protocol("ltd_fixed", shared=True, paper=_LTD_FIXED)
def ltd_fixed(data: GraphData, seed: int, train: int = 20, meta: int = 20, val: int = 10) -> Split:
    """LTD's ``paper`` protocol: the official code's single fixed split — the seed-0 draw of
    :func:`ltd` for every run (seeds then vary only the initialisation). Labelled as a paper
    protocol; the honest one is ``ltd``."""
    s = ltd(data, 0, train, meta, val)
    s.name = _name("ltd_fixed", {"train": train, "meta": meta, "val": val})
    return s


@protocol("inductive", shared=False)
def inductive(
    data: GraphData, seed: int, sizes: Mapping[str, int] | None = None, rate: float = 0.2
) -> Split:
    """GLNN's inductive setting (Zhang et al., ICLR 2022) on top of :func:`per_class_random`
    (default 20 train / 30 val per class): a fraction ``rate`` of the test nodes, drawn with
    the seed, is *inductive* — hidden with all its edges from the graph every model trains,
    selects and distils on — and is the test part; ``parts['hidden']`` names it (the feeder
    drops its edges) and ``parts['test_tran']`` holds the other, observed test nodes
    (unlabelled, visible). Score it beside the transductive ``per_class_random`` run of the
    same seed; GLNN's *production* score is 0.8 · transductive + 0.2 · inductive."""
    if not 0.0 < rate < 1.0:
        raise KdbenchError(f"inductive: rate must be in (0, 1), got {rate}.")
    base = per_class_random(data, seed, sizes)
    test = base.test[
        torch.randperm(base.test.numel(), generator=torch.Generator().manual_seed(seed + 1))
    ]
    k = round(rate * test.numel())
    hidden, observed = test[:k].sort().values, test[k:].sort().values
    args = {"sizes": dict(sizes or {"train": 20, "val": 30}), "rate": rate}
    return Split(
        base.train,
        base.val,
        hidden,
        name=_name("inductive", args, f"/seed{seed}"),
        parts={**base.parts, "hidden": hidden, "test_tran": observed},
    )


@protocol("lad_paper", shared=False, selects_on_test=True, paper=_LAD_PAPER)
def lad_paper(data: GraphData, seed: int) -> Split:
    """LAD-GNN's ``paper`` protocol (the official ``main.py``): run ``seed`` shuffles every
    graph with the seed and takes 80 % train, 10 % validation, 10 % test (not stratified), and
    the reported score is the **best test accuracy over all epochs**. The latter is reproduced
    by making the selection part the test part: ``Split.val`` = ``Split.test``, so the shared
    loop keeps the epoch with the best test score. The official validation tenth is
    ``parts['val_official']`` (the official code stops early on its loss; here it is unused).
    Test data chooses the epoch: labelled ``paper``, never a default; the honest protocol is the
    card's (stratified 10-fold CV)."""
    n = data.num_items
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_test = n_val = n // 10
    test, val = order[:n_test].sort().values, order[n_test : n_test + n_val].sort().values
    train = order[n_test + n_val :].sort().values
    return Split(train, test, test, name=f"lad_paper/seed{seed}", parts={"val_official": val})


@protocol("hu_paper", shared=True, paper=_HU_PAPER)
def hu_paper(data: GraphData, seed: int) -> Split:
    """The reporting rule follow-up papers attribute to Hu et al. 2020: the deterministic
    :func:`scaffold` split, and the score of the **last** epoch (``Split.selection = "last"``)
    instead of the epoch chosen on validation. Test still chooses nothing; labelled ``paper``
    because it is not the benchmark's rule."""
    base = scaffold(data, seed)
    return Split(
        base.train, base.val, base.test, name="hu_paper", parts=base.parts, selection="last"
    )


def traits(name: str) -> ProtocolTraits:
    """The traits of protocol ``name`` (unknown names raise the registry's did-you-mean)."""
    SPLITS.get(name)
    if name not in TRAITS:
        raise KdbenchError(
            f"split protocol '{name}' was registered without its traits; "
            "register it with benchmark.data.protocols.protocol(...)"
        )
    return TRAITS[name]


#: paper protocols: what an official code did, reported beside (never instead of) the honest
#: protocol and labelled ``paper`` in the leaderboard (their traits say what each changes).
PAPER_PROTOCOLS = frozenset(name for name, t in TRAITS.items() if t.paper)


def resolve_protocol(
    data: GraphData, protocol: str | None, paper: str | None = None, method: str = "this method"
) -> tuple[str, dict[str, Any]]:
    """(protocol, arguments) of a run: ``None`` → the card's protocol with the card's
    arguments; ``"paper"`` → ``paper`` (the method's paper protocol; error if it has none);
    any other name → that protocol with its own defaults."""
    if protocol == "paper":
        if paper is None:
            raise KdbenchError(
                f"{method} has no `paper` protocol; pick a protocol by name "
                f"({', '.join(SPLITS.names())})"
            )
        protocol = paper
    if protocol is None or protocol == data.card.protocol:
        return data.card.protocol, dict(data.card.protocol_args or {})
    SPLITS.get(protocol)
    return protocol, {}


@lru_cache(maxsize=8)
def _scaffold_sets(smiles: tuple[str, ...]) -> tuple[tuple[int, ...], ...]:
    """Indices grouped by Bemis–Murcko scaffold (with chirality), largest group first; ties
    broken by the larger first index first, exactly as ``sorted(..., reverse=True)`` in
    Hu et al.'s ``scaffold_split``. Unparseable SMILES form singleton groups."""
    from rdkit import RDLogger
    from rdkit.Chem.Scaffolds.MurckoScaffold import MurckoScaffoldSmiles

    groups: dict[str, list[int]] = {}
    bad = 0
    RDLogger.DisableLog("rdApp.*")
    try:
        for i, s in enumerate(smiles):
            try:
                key = MurckoScaffoldSmiles(smiles=s, includeChirality=True)
            except ValueError:  # rdkit: "No molecule provided"
                key, bad = f"\x00invalid:{i}", bad + 1
            groups.setdefault(key, []).append(i)
    finally:
        RDLogger.EnableLog("rdApp.*")
    if bad:
        warnings.warn(
            f"scaffold split: {bad} SMILES could not be parsed; each is its own group.",
            stacklevel=3,
        )
    ordered = sorted(groups.values(), key=lambda g: (len(g), g[0]), reverse=True)
    return tuple(tuple(g) for g in ordered)


@protocol("scaffold", shared=True)
def scaffold(data: GraphData, seed: int, frac: Sequence[float] = (0.8, 0.1, 0.1)) -> Split:
    """The deterministic scaffold split of Hu et al. 2020 ("Strategies for pre-training GNNs"),
    used by OGB and MoleculeNet benchmarks: molecules (``data.extra["smiles"]``) are grouped by
    Bemis–Murcko scaffold; groups, largest first, fill train while it stays within
    ``frac[0] * n``, else valid within ``(frac[0] + frac[1]) * n``, else test. A scaffold never
    straddles two parts. The seed varies only initialisation."""
    f = _fracs(frac, "scaffold")
    smiles = _extra(data, "smiles", "scaffold")
    n = data.num_items
    if len(smiles) != n:
        raise KdbenchError(
            f"scaffold on '{data.name}': {len(smiles)} SMILES for {n} graphs; "
            "the loader must give one SMILES per graph, in order."
        )
    train_cut, valid_cut = f[0] * n, (f[0] + f[1]) * n
    train: list[int] = []
    val: list[int] = []
    test: list[int] = []
    for group in _scaffold_sets(tuple(smiles)):
        if len(train) + len(group) <= train_cut:
            train.extend(group)
        elif len(train) + len(val) + len(group) <= valid_cut:
            val.extend(group)
        else:
            test.extend(group)
    return _finish(_name("scaffold", {"frac": f}), n, train, val, test)


@protocol("ogb_official", shared=True)
def ogb_official(data: GraphData, seed: int) -> Split:
    """OGB's official split (Hu et al. 2020, "Open Graph Benchmark"): ``get_idx_split()``'s
    train/valid/test index tensors, stored as ``data.extra["ogb_split"]``. Seed-independent."""
    parts = _extra(data, "ogb_split", "ogb_official")
    n = data.num_items
    idx = [_index(parts[k], n, f"ogb_split['{k}']") for k in ("train", "valid", "test")]
    return _finish("ogb_official", n, *idx)


@protocol("random", shared=False)
def random_split(
    data: GraphData, seed: int, frac: Sequence[float] = (0.8, 0.1, 0.1), stratify: bool = True
) -> Split:
    """A seeded random train/val/test split by ``frac`` for datasets without an official one,
    via scikit-learn ``train_test_split(random_state=seed)`` (test first, then val from the
    rest), stratified by class when ``stratify`` and ``y`` holds class ids ([n, T] targets
    are never stratified)."""
    from sklearn.model_selection import train_test_split

    f = _fracs(frac, "random")
    n = data.num_items
    y = _classes(data) if stratify else None
    n_test, n_val = round(f[2] * n), round(f[1] * n)
    every = np.arange(n)
    try:
        rest, test = (
            (every, every[:0])
            if n_test == 0
            else train_test_split(every, test_size=n_test, random_state=seed, stratify=y)
        )
        train, val = (
            (rest, rest[:0])
            if n_val == 0
            else train_test_split(
                rest, test_size=n_val, random_state=seed, stratify=None if y is None else y[rest]
            )
        )
    except ValueError as e:
        raise KdbenchError(
            f"random split of '{data.name}' failed ({e}); use stratify=false or other fractions."
        ) from None
    args = {"frac": f, "stratify": y is not None}
    return _finish(_name("random", args, f"/seed{seed}"), n, train, val, test)


@protocol("none", shared=True)
def no_split(data: GraphData, seed: int) -> Split:
    """Unlabeled pre-training corpora (e.g. ZINC-2M of Hu et al. 2020) have no split."""
    raise KdbenchError(
        f"dataset '{data.name}' is a pre-training corpus and has no evaluation split; "
        "use it for pre-training only, or evaluate on a dataset whose card names a protocol."
    )
