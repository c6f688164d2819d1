"""Feeders: the data of one split as device-resident batches, moved to the device once.

A node task is one full batch: the graph with the rows of the current part. A graph task
concatenates every graph on the device once (:class:`GraphStore`); each epoch draws a seeded
permutation of the training graphs and cuts mini-batches out of the device tensors by index
(no host→device copies of data, no per-step Python collation), while the validation and test
parts are cut once and reused every epoch.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor
from torch_geometric.data import Batch as PygBatch
from torch_geometric.data import Data

from benchmark.data.types import GraphData, Split


@dataclass
class Batch:
    """What a method's hooks see for one step or evaluation.

    ``x`` [N, F], ``edge_index`` [2, E], ``batch`` [N] graph id per node (graph task, else
    ``None``), ``num_graphs``; ``rows`` are the rows of the model output that this batch
    supervises or evaluates (node ids; ``None`` = every row, graph task), ``y`` their targets
    and ``ids`` their global ids in the dataset (node or graph ids: index teacher outputs by
    them). ``edge_attr`` [E, K] holds the edges' features where the data have them (molecules'
    bonds), else ``None``. ``graph`` is the PyG object for methods that need more attributes.
    """

    x: Tensor
    edge_index: Tensor
    y: Tensor
    ids: Tensor
    rows: Tensor | None = None
    batch: Tensor | None = None
    num_graphs: int | None = None
    graph: Data | None = None
    edge_attr: Tensor | None = None

    def pick(self, out: Tensor) -> Tensor:
        """The rows of a model output that belong to this batch's part."""
        return out if self.rows is None else out[self.rows]


class NodeFeeder:
    """Full-batch feeder for a node task (transductive).

    Inductive splits name the nodes the model may not see while training in
    ``split.parts['hidden']``: every edge touching them is dropped from the graph used for
    training, validation and exported outputs (the *observed* graph, as GLNN's inductive
    setting), and only the test part is predicted on the full graph.
    """

    def __init__(self, data: GraphData, split: Split, device: torch.device) -> None:
        g = data.data.to(device)
        self.graph, self.y = g, data.y.to(device)
        self.split = split.to(device)
        self.observed = g
        hidden = self.split.parts.get("hidden")
        if hidden is not None and hidden.numel():
            ei = g.edge_index
            keep = ~(torch.isin(ei[0], hidden) | torch.isin(ei[1], hidden))
            self.observed = Data(x=g.x, edge_index=ei[:, keep], num_nodes=g.num_nodes)

    def part(self, name: str) -> Batch:
        rows = self.split.part(name)
        g = self.graph if name == "test" else self.observed
        return Batch(g.x, g.edge_index, self.y[rows], rows, rows=rows, graph=g)

    def train_batches(self) -> Iterator[Batch]:
        yield self.part("train")

    def all_batches(self) -> list[Batch]:
        """Every node, in order, on the observed graph (for exporting a teacher's outputs)."""
        g = self.observed
        ids = torch.arange(g.num_nodes, device=self.y.device)
        return [Batch(g.x, g.edge_index, self.y, ids, rows=None, graph=g)]

    def eval_batches(self, name: str) -> list[Batch]:
        return [self.part(name)]


def _ranges(starts: Tensor, counts: Tensor, total: int) -> Tensor:
    """Concatenated ``arange(s, s + c)`` for each (start, count): [total] long."""
    offsets = torch.cumsum(counts, 0) - counts
    base = torch.repeat_interleave(starts - offsets, counts, output_size=total)
    return base + torch.arange(total, device=starts.device)


class GraphStore:
    r"""Every graph of a dataset concatenated once on the device, and :meth:`select`, which
    cuts out any set of graphs as one mini-batch with a few tensor operations (instead of
    collating Python ``Data`` objects every step). Sizes come from host copies of the
    per-graph node/edge counts, so selecting never synchronises with the device."""

    def __init__(self, graphs: list[Data], device: torch.device) -> None:
        big = PygBatch.from_data_list(graphs, exclude_keys=["y", "smiles", "name"])
        self.device = device
        self.x = big.x.to(device)
        self.edge_index = big.edge_index.to(device)
        self.edge_attr = big.edge_attr.to(device) if big.edge_attr is not None else None
        n_nodes = torch.tensor([g.num_nodes for g in graphs])
        n_edges = torch.tensor([g.edge_index.shape[1] for g in graphs])
        self.counts_host = (n_nodes, n_edges)
        self.n_nodes, self.n_edges = n_nodes.to(device), n_edges.to(device)
        self.node_ptr = (torch.cumsum(n_nodes, 0) - n_nodes).to(device)
        self.edge_ptr = (torch.cumsum(n_edges, 0) - n_edges).to(device)

    def select(self, ids: Tensor) -> Data:
        """Graphs ``ids`` (host long tensor) as one batch: ``x``, ``edge_index`` (relabelled),
        ``edge_attr``, ``batch`` [N], ``gid`` [B] (global graph ids) on the device."""
        total_n = int(self.counts_host[0][ids].sum())
        total_e = int(self.counts_host[1][ids].sum())
        dev_ids = ids.to(self.device, non_blocking=True)
        nn_, ne = self.n_nodes[dev_ids], self.n_edges[dev_ids]
        nodes = _ranges(self.node_ptr[dev_ids], nn_, total_n)
        edges = _ranges(self.edge_ptr[dev_ids], ne, total_e)
        new_start = torch.cumsum(nn_, 0) - nn_
        shift = torch.repeat_interleave(new_start - self.node_ptr[dev_ids], ne, output_size=total_e)
        out = Data(
            x=self.x[nodes],
            edge_index=self.edge_index[:, edges] + shift,
            gid=dev_ids,
            batch=torch.repeat_interleave(
                torch.arange(ids.numel(), device=self.device), nn_, output_size=total_n
            ),
        )
        if self.edge_attr is not None:
            out.edge_attr = self.edge_attr[edges]
        out.num_graphs = ids.numel()
        return out


class GraphFeeder:
    """Mini-batch feeder for a graph task; every graph lives on the device from the start
    (in a :class:`GraphStore`)."""

    def __init__(
        self,
        data: GraphData,
        split: Split,
        device: torch.device,
        batch_size: int,
        seed: int,
        eval_batch_size: int = 1024,
    ) -> None:
        self.y = data.y.to(device)
        self.split = split
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.store = GraphStore(data.graphs, device)
        self._eval_cache: dict[str, list[Batch]] = {}

    def batch_of(self, ids: Tensor) -> Batch:
        """One mini-batch of the graphs ``ids`` [b] (global ids, in that order)."""
        g = self.store.select(ids)
        return Batch(
            g.x,
            g.edge_index,
            self.y[g.gid],
            g.gid,
            batch=g.batch,
            num_graphs=g.num_graphs,
            graph=g,
            edge_attr=g.get("edge_attr"),
        )

    def train_batches(self) -> Iterator[Batch]:
        """Shuffled mini-batches of nearly equal size (never a batch of one graph, which
        batch norm cannot train on, unless the training part has one graph)."""
        train = self.split.train
        order = train[torch.randperm(train.numel(), generator=self.generator)]
        n_batches = max(1, -(-order.numel() // self.batch_size))
        for chunk in torch.tensor_split(order, n_batches):
            yield self.batch_of(chunk)

    def all_batches(self) -> list[Batch]:
        """Every graph, in dataset order (for exporting a teacher's outputs)."""
        ids = torch.arange(self.y.shape[0])
        n = max(1, -(-ids.numel() // self.eval_batch_size))
        return [self.batch_of(c) for c in torch.tensor_split(ids, n)]

    def eval_batches(self, name: str) -> list[Batch]:
        if name not in self._eval_cache:
            ids = self.split.part(name)
            n = max(1, -(-ids.numel() // self.eval_batch_size))
            self._eval_cache[name] = [self.batch_of(c) for c in torch.tensor_split(ids, n)]
        return self._eval_cache[name]


def make_feeder(
    data: GraphData, split: Split, device: torch.device, **graph_options: int
) -> NodeFeeder | GraphFeeder:
    """The feeder for the dataset's task; ``graph_options`` (``batch_size``, ``seed``,
    ``eval_batch_size``: graphs per evaluation batch) go to a graph task's
    :class:`GraphFeeder` (a node task trains full batch)."""
    if data.task == "node":
        return NodeFeeder(data, split, device)
    return GraphFeeder(data, split, device, **graph_options)
