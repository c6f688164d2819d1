r"""Position features of nodes: DeepWalk embeddings (Perozzi et al. 2014), as NOSMOG (Tian et
al., ICLR 2023) concatenates them to an MLP student's input.

DeepWalk: ``num_walks`` uniform random walks of ``walk_length`` nodes from every node, read as
sentences by a skip-gram word2vec with hierarchical softmax (gensim's ``Word2Vec(sg=1,
hs=1)``, ``window``, ``epochs``): nodes that co-occur on short walks get close vectors, so an
MLP fed them knows where in the graph a node sits without reading the graph at inference.

Inductive nodes (``hidden``: unseen while training) are not walked; as in NOSMOG's official
code each gets the mean of the position features of its *observed* neighbours in the full graph
(zeros if it has none). That lookup reads one hop of the graph for the new node: NOSMOG's
student is graph-free at inference only for nodes present when the walks were made.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from benchmark.errors import KdbenchError


def random_walks(
    edge_index: Tensor,
    num_nodes: int,
    starts: Tensor,
    walk_length: int,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Uniform random walks, one per entry of ``starts``, all advanced together.

    ``edge_index`` [2, E] (each undirected edge in both directions), ``starts`` [W] long →
    walks [W, walk_length] long. Each step moves to a uniformly drawn out-neighbour; a walk at a
    node without neighbours stays there (the official walker stops early instead; a repeated
    token adds no skip-gram pair between distinct nodes). CPU tensors.
    """
    src, dst = edge_index
    order = torch.argsort(src, stable=True)
    col = dst[order]
    deg = torch.bincount(src, minlength=num_nodes)
    ptr = torch.cumsum(deg, 0) - deg
    walks = torch.empty(starts.numel(), walk_length, dtype=torch.long)
    cur = starts.clone()
    walks[:, 0] = cur
    for step in range(1, walk_length):
        d = deg[cur]
        offset = (torch.rand(cur.numel(), generator=generator) * d).long()
        has = d > 0
        nxt = cur.clone()
        nxt[has] = col[ptr[cur[has]] + offset[has]]
        walks[:, step] = cur = nxt
    return walks


def deepwalk(
    edge_index: Tensor,
    num_nodes: int,
    dim: int,
    walk_length: int = 50,
    num_walks: int = 5,
    window: int = 5,
    epochs: int = 1,
    seed: int = 0,
    nodes: Tensor | None = None,
) -> Tensor:
    """DeepWalk embeddings [num_nodes, dim] float32 (CPU) of the graph ``edge_index`` [2, E].

    Walks start ``num_walks`` times from every node of ``nodes`` (default: all); a node that
    no walk visits keeps a zero row. Deterministic for a ``seed`` (one gensim worker).
    """
    try:
        from gensim.models import Word2Vec
    except ImportError as err:  # pragma: no cover - gensim is a core dependency
        raise KdbenchError("position features need gensim: pip install gensim") from err
    ei = edge_index.cpu()
    starts = torch.arange(num_nodes) if nodes is None else nodes.cpu()
    gen = torch.Generator().manual_seed(seed)
    walks = random_walks(ei, num_nodes, starts.repeat(num_walks), walk_length, gen)
    walks = walks[torch.randperm(walks.shape[0], generator=gen)]  # gensim reads in order
    names = [str(i) for i in range(num_nodes)]  # gensim's tokens: strings, shared by walks
    sentences = [[names[i] for i in walk] for walk in walks.tolist()]
    model = Word2Vec(
        sentences,
        vector_size=dim,
        window=window,
        epochs=epochs,
        sg=1,
        hs=1,
        min_count=0,
        workers=1,
        seed=seed,
    )
    out = np.zeros((num_nodes, dim), dtype=np.float32)
    keys = np.asarray(model.wv.index_to_key, dtype=np.int64)
    out[keys] = model.wv.vectors
    return torch.from_numpy(out)


def position_features(
    edge_index: Tensor,
    num_nodes: int,
    dim: int,
    hidden: Tensor | None = None,
    seed: int = 0,
    **walk: int,
) -> Tensor:
    """NOSMOG's position features [num_nodes, dim] (CPU).

    Transductive (``hidden`` ``None`` or empty): DeepWalk on the whole graph. Inductive: DeepWalk
    on the observed graph (every edge touching a ``hidden`` node removed, walks from observed
    nodes only); each hidden node then gets the mean of its observed neighbours' rows in the
    full graph, or zeros. ``walk`` holds :func:`deepwalk`'s ``walk_length``, ``num_walks``,
    ``window``, ``epochs``.
    """
    ei = edge_index.cpu()
    if hidden is None or hidden.numel() == 0:
        return deepwalk(ei, num_nodes, dim, seed=seed, **walk)
    hidden = hidden.cpu()
    is_hidden = torch.zeros(num_nodes, dtype=torch.bool)
    is_hidden[hidden] = True
    touches = is_hidden[ei[0]] | is_hidden[ei[1]]
    observed = (~is_hidden).nonzero().flatten()
    pos = deepwalk(ei[:, ~touches], num_nodes, dim, seed=seed, nodes=observed, **walk)
    into_hidden = is_hidden[ei[1]] & ~is_hidden[ei[0]]  # observed neighbour → hidden node
    src, dst = ei[:, into_hidden]
    total = torch.zeros(num_nodes, dim).index_add_(0, dst, pos[src])
    count = torch.bincount(dst, minlength=num_nodes).clamp(min=1).unsqueeze(1)
    pos[hidden] = (total / count)[hidden]
    return pos
