r"""``freekd``: Free-direction Knowledge Distillation (Feng, Li, Yuan, Wang, KDD 2022) —
**a re-implementation from the paper's abstract, not a faithful port.** No official code is
public and the method section is not retrievable here; every choice the abstract leaves open is
a named hyper-parameter below (defaults are ours), and the leaderboard names the row a
re-implementation. Beside it, the issue's two ablations: ``freekd_random`` (directions drawn at
random, no agent) and ``freekd_node`` (node-level actions only, no structure-level transfer).

No pre-trained teacher: two peers :math:`\Phi, \Psi` of the cell's backbone (different
initialisations) train together. Each epoch (full batch, node classification):

1. **State** (detached, from both peers' eval-mode outputs at the current parameters) of node
   :math:`i` [N, 8] (``state_embeddings``: [N, 8 + 2d]): per peer :math:`k`, the
   cross-entropy :math:`\ell^k_i` to the label where :math:`i` is a *training* node (0
   elsewhere), the normalised prediction entropy :math:`H(p^k_i)/\log C`, the confidence
   :math:`\max_c p^k_{ic}`; whether :math:`i` is labelled; whether the peers agree
   (:math:`\arg\max p^\Phi_i = \arg\max p^\Psi_i`); with ``state_embeddings`` the embeddings
   :math:`h^\Phi_i, h^\Psi_i`.
2. **Actions** (:class:`Agent`, two MLP heads, ``agent_hidden`` wide): node level
   :math:`a_i \sim \pi(\cdot\mid s_i)` ∈ {0: Φ teaches Ψ at i, 1: Ψ teaches Φ}; structure level
   :math:`b_i \sim \pi_b(\cdot\mid s_i, \bar s_{N(i)}, a_i)` ∈ {0, 1}: whether the teaching
   peer's local structure around :math:`i` is transferred too (:math:`\bar s_{N(i)}` the mean
   state of the neighbours).
3. **Peer step** (one Adam on both peers): peer :math:`k` minimises

   .. math:: L^k = \mathrm{CE}_{V_{tr}}(z^k, y) + \frac{1}{|V_D|}\sum_{i\in V_D} r^k_i\Big(
      \mu\,T^2\,\mathrm{KL}\big(p^{\bar k}_{i,T}\,\Vert\,p^k_{i,T}\big)
      + \rho\, b_i\,\mathrm{KL}\big(S^{\bar k}_i\,\Vert\,S^k_i\big)\Big)

   with :math:`r^k_i = 1` where the agent made :math:`k` the student at :math:`i`, the
   teacher side detached, :math:`V_D` every observed node (the inductive protocol's hidden
   nodes excluded, as ``kd``), and :math:`S^k_i` the local structure of :func:`local_structure`:
   a distribution over the neighbours :math:`j` of :math:`i`, :math:`S_{ij}\propto
   \exp(-\lVert h_i-h_j\rVert^2/2\sigma^2)` (``kernel="rbf"``, ``kernel_width`` σ) or
   :math:`\propto\exp(h_i^\top h_j)` (``kernel="linear"``), sparse over ``edge_index`` (O(E·d)).
4. **Reward** [N] from both peers re-evaluated after the step (eval mode). ``reward=
   "improvement"``: the decrease of :math:`\ell^\Phi_j + \ell^\Psi_j` over the training nodes
   :math:`j` of the closed neighbourhood :math:`\{i\}\cup N(i)`, averaged; ``"margin"``: the
   student's minus the teacher's loss there, before the step (positive when the chosen teacher
   was the better peer around :math:`i`). Nodes with no training node in their closed
   neighbourhood get no reward and no policy gradient.
5. **Agent step** (REINFORCE, its own Adam at ``agent_lr``): :math:`-\frac{1}{|R|}\sum_{i\in R}
   \hat A_i\,[\log\pi(a_i) + \log\pi_b(b_i)] - \beta\,\bar H(\pi)`, with the advantage
   :math:`\hat A` the reward minus a ``baseline`` (``none`` | ``mean`` | ``whiten``: minus the
   mean, divided by the std of this epoch's rewards) and ``agent_entropy`` β.
6. **The answering peer** (``report``): ``val`` — at every evaluation the peer with the
   better validation score (a buffer checkpointed with the state, so the peer chosen is the
   one at the selected epoch); ``phi`` / ``psi`` — a fixed peer. At inference one peer
   answers (:meth:`FreeKD.inference_model`): its parameters are the row's #params.

Hyper-parameters (defaults): ``kd_weight`` μ 1, ``structure_weight`` ρ 1, ``temperature``
T 1, ``kernel`` rbf, ``kernel_width`` 1, ``agent`` rl (``random``: the ablation), ``structure``
true, ``state_embeddings`` true, ``agent_hidden`` 64, ``agent_lr`` 0.01, ``agent_entropy``
0.01, ``reward`` improvement, ``baseline`` whiten, ``report`` val; the peers' training
parameters are the backbone's. Multi-class targets only (the node-level transfer is a KL of
softmaxes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.utils import coalesce, remove_self_loops, scatter

from benchmark.errors import KdbenchError
from benchmark.method import FitContext, FitResult
from benchmark.models import BackboneOutput
from benchmark.registry import METHODS, register_method
from benchmark.train.distill import observed_rows
from benchmark.train.feeders import Batch
from benchmark.train.loop_method import LoopMethod
from benchmark.train.optim import adam

#: per-node signals in the agent's state before the optional embeddings.
NUM_SIGNALS = 8
CHOICES = {
    "agent": ("rl", "random"),
    "kernel": ("rbf", "linear"),
    "reward": ("improvement", "margin"),
    "baseline": ("none", "mean", "whiten"),
    "report": ("val", "phi", "psi"),
}


def node_kd(student: Tensor, teacher: Tensor, temperature: float) -> Tensor:
    r"""Per-node :math:`T^2\,\mathrm{KL}(\mathrm{softmax}(t/T)\Vert\mathrm{softmax}(s/T))` [N]
    from logits ``student``, ``teacher`` [N, C]; the teacher is detached."""
    t = temperature
    lt = F.log_softmax(teacher.detach() / t, -1)
    ls = F.log_softmax(student / t, -1)
    return t * t * (lt.exp() * (lt - ls)).sum(-1)


def local_structure(
    h: Tensor, edge_index: Tensor, num_nodes: int, kernel: str = "rbf", width: float = 1.0
) -> Tensor:
    r"""Log of the local-structure distribution :math:`\log S_{ij}` per edge [E]: for every
    node :math:`i` a distribution over the sources :math:`j` of the edges ``j → i`` of
    ``edge_index`` [2, E], :math:`S_{ij}\propto\exp(\kappa(h_i, h_j))` with
    :math:`\kappa = -\lVert h_i-h_j\rVert^2/2\sigma^2` (``rbf``) or :math:`h_i^\top h_j`
    (``linear``); ``h`` [N, d]. A log-softmax grouped by target node, with scatter ops."""
    src, dst = edge_index
    if kernel == "rbf":
        s = -((h[dst] - h[src]) ** 2).sum(-1) / (2.0 * width * width)
    elif kernel == "linear":
        s = (h[dst] * h[src]).sum(-1)
    else:
        raise KdbenchError(f"unknown kernel {kernel!r}; use rbf or linear (--set kernel=rbf)")
    top = scatter(s.detach(), dst, dim=0, dim_size=num_nodes, reduce="max")
    shifted = s - top[dst]
    lse = scatter(shifted.exp(), dst, dim=0, dim_size=num_nodes, reduce="sum").log()
    return shifted - lse[dst]


def structure_kd(
    student_h: Tensor,
    teacher_h: Tensor,
    edge_index: Tensor,
    num_nodes: int,
    kernel: str = "rbf",
    width: float = 1.0,
) -> Tensor:
    r"""Per-node :math:`\mathrm{KL}(S^T_i\Vert S^S_i)` [N] between the teacher's (detached) and
    the student's local structures (:func:`local_structure`); 0 for nodes without neighbours
    and wherever both embeddings are equal."""
    lt = local_structure(teacher_h.detach(), edge_index, num_nodes, kernel, width)
    ls = local_structure(student_h, edge_index, num_nodes, kernel, width)
    return scatter(lt.exp() * (lt - ls), edge_index[1], dim=0, dim_size=num_nodes, reduce="sum")


def neighbourhood_mean(
    values: Tensor, weight: Tensor, edge_index: Tensor, num_nodes: int
) -> tuple[Tensor, Tensor]:
    r"""Weighted mean of ``values`` [N] over each closed neighbourhood :math:`\{i\}\cup N(i)`
    (``edge_index`` without self-loops) with 0/1 ``weight`` [N] → (mean [N], valid [N] bool:
    some weight in the neighbourhood)."""
    src, dst = edge_index
    num = values * weight + scatter((values * weight)[src], dst, dim=0, dim_size=num_nodes)
    den = weight + scatter(weight[src], dst, dim=0, dim_size=num_nodes)
    return num / den.clamp(min=1e-12), den > 0


def reinforce_loss(log_prob: Tensor, reward: Tensor, valid: Tensor, baseline: str) -> Tensor:
    r"""REINFORCE over a batch of one-step decisions: :math:`-\frac{1}{|R|}\sum_{i\in R}
    \hat A_i \log\pi(a_i\mid s_i)` with ``log_prob``, ``reward`` [N], ``valid`` [N] bool (the
    set R) and :math:`\hat A` the reward minus ``baseline`` (``none``; ``mean`` over R;
    ``whiten``: minus the mean, over the std). No host sync (an empty R gives 0)."""
    w = valid.to(reward.dtype)
    n = w.sum().clamp(min=1.0)
    adv = reward.detach()
    if baseline in ("mean", "whiten"):
        mean = (adv * w).sum() / n
        adv = adv - mean
        if baseline == "whiten":
            std = ((adv**2 * w).sum() / (n - 1).clamp(min=1.0)).sqrt()
            adv = adv / (std + 1e-8)
    elif baseline != "none":
        raise KdbenchError(f"unknown baseline {baseline!r}; use none, mean or whiten")
    return -(adv * log_prob * w).sum() / n


@dataclass
class Actions:
    """One epoch's decisions for N nodes: ``node`` [N] long (0: Φ teaches Ψ, 1: Ψ teaches
    Φ), ``structure`` [N] long (1: transfer the local structure too), ``log_prob`` [N] (sum
    over both levels; zeros for random actions), ``entropy`` [N]."""

    node: Tensor
    structure: Tensor
    log_prob: Tensor
    entropy: Tensor


def _mlp(inp: int, hidden: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inp, hidden), nn.ReLU(), nn.Linear(hidden, out))


class Agent(nn.Module):
    """The policy: a node-level head on the state [N, D] and, with ``structure``, a
    structure-level head on [state, mean neighbour state, one-hot node action] [N, 2D + 2];
    each an MLP (one hidden ReLU layer) giving two action logits."""

    def __init__(self, state_dim: int, hidden: int = 64, structure: bool = True) -> None:
        super().__init__()
        self.node = _mlp(state_dim, hidden, 2)
        self.structure = _mlp(2 * state_dim + 2, hidden, 2) if structure else None

    def act(self, state: Tensor, edge_index: Tensor) -> Actions:
        """Sample both levels of actions for every node of ``state`` [N, D]."""
        n = state.shape[0]
        dist = torch.distributions.Categorical(logits=self.node(state))
        a = dist.sample()
        log_prob, entropy = dist.log_prob(a), dist.entropy()
        b = torch.zeros_like(a)
        if self.structure is not None:
            src, dst = edge_index
            deg = scatter(torch.ones_like(dst, dtype=state.dtype), dst, dim=0, dim_size=n)
            nbr = scatter(state[src], dst, dim=0, dim_size=n) / deg.clamp(min=1).unsqueeze(-1)
            u = torch.cat([state, nbr, F.one_hot(a, 2).to(state.dtype)], dim=-1)
            dist_b = torch.distributions.Categorical(logits=self.structure(u))
            b = dist_b.sample()
            log_prob = log_prob + dist_b.log_prob(b)
            entropy = entropy + dist_b.entropy()
        return Actions(a, b, log_prob, entropy)


def random_actions(n: int, structure: bool, device: torch.device) -> Actions:
    """The ablation's actions: both levels Bernoulli(½) per node, no policy."""
    a = torch.randint(0, 2, (n,), device=device)
    b = torch.randint(0, 2, (n,), device=device) if structure else torch.zeros_like(a)
    zeros = torch.zeros(n, device=device)
    return Actions(a, b, zeros, zeros)


class Peers(nn.Module):
    """The two peers (``peers[0]`` = Φ, ``peers[1]`` = Ψ), the agent (``None`` without one)
    and ``active``, the peer that answers (a 0-d long buffer, checkpointed with the state).
    ``forward`` runs both peers and returns the active one's output, without a host sync."""

    def __init__(self, phi: nn.Module, psi: nn.Module, agent: Agent | None) -> None:
        super().__init__()
        self.peers = nn.ModuleList([phi, psi])
        self.agent = agent
        self.register_buffer("active", torch.zeros((), dtype=torch.long))

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor,
        batch: Tensor | None = None,
        num_graphs: int | None = None,
        edge_attr: Tensor | None = None,
    ) -> BackboneOutput:
        o0, o1 = (p(x, edge_index, batch, num_graphs, edge_attr=edge_attr) for p in self.peers)
        pick = self.active.bool()
        return BackboneOutput(
            h=torch.where(pick, o1.h, o0.h), logits=torch.where(pick, o1.logits, o0.logits)
        )


def agent_state(
    o0: BackboneOutput, o1: BackboneOutput, y: Tensor, labelled: Tensor, embeddings: bool
) -> Tensor:
    """The agent's state [N, 8] (+ [h^Φ, h^Ψ] with ``embeddings``) from both peers' outputs;
    ``y`` [N] is read only where ``labelled`` [N] bool (training nodes). Detached."""
    lab = labelled.to(o0.logits.dtype)
    cols, preds = [], []
    for out in (o0, o1):
        logp = F.log_softmax(out.logits.detach(), -1)
        ce = F.nll_loss(logp, y, reduction="none") * lab
        ent = -(logp.exp() * logp).sum(-1) / math.log(logp.shape[-1])
        conf, pred = logp.max(-1)
        cols += [ce, ent, conf.exp()]
        preds.append(pred)
    cols += [lab, (preds[0] == preds[1]).to(lab.dtype)]
    state = torch.stack(cols, dim=-1)
    if embeddings:
        state = torch.cat([state, o0.h.detach(), o1.h.detach()], dim=-1)
    return state


def labelled_ce(logits: Tensor, y: Tensor, labelled: Tensor) -> Tensor:
    """Cross-entropy per node [N], 0 where not ``labelled``."""
    return F.cross_entropy(logits, y, reduction="none") * labelled.to(logits.dtype)


@dataclass
class FreeKDState:
    """One fit's state, on the device: ``labelled`` [N] bool (the training nodes),
    ``y_train`` [N] (their labels, 0 elsewhere), ``distil`` [N] 0/1 (the distillation rows),
    ``val`` (validation nodes, their labels); the agent's optimiser (``None`` without an
    agent); the step's graph without self-loops (``edges``), both peers' outputs at the end of
    the last step (``now``) and the graph they were computed on (``now_graph``); the
    diagnostics' running sums (``diag`` [3]) over ``steps``; and ``answer``, the peer that
    answers once training ends."""

    labelled: Tensor
    y_train: Tensor
    distil: Tensor
    val: tuple[Tensor, Tensor]
    diag: Tensor
    agent_opt: torch.optim.Optimizer | None = None
    edges: Tensor | None = None
    now: tuple[BackboneOutput, BackboneOutput] | None = None
    now_graph: Tensor | None = None
    steps: int = 0
    answer: int = 0


@register_method("freekd")
class FreeKD(LoopMethod):
    """Two peers teach each other, the direction chosen per node by a REINFORCE agent
    (re-implementation from the abstract: see the module docstring for every choice)."""

    tasks = ("node",)
    family = "distillation"
    fidelity = "reimplementation"
    backbones = ("GCN", "GAT", "GraphSAGE")
    description = (
        "FreeKD (KDD 2022), re-implemented from the abstract: two peers, "
        "per-node direction and structure transfer chosen by an RL agent"
    )
    defaults: ClassVar[dict[str, Any]] = {
        "kd_weight": 1.0,
        "structure_weight": 1.0,
        "temperature": 1.0,
        "kernel": "rbf",
        "kernel_width": 1.0,
        "agent": "rl",
        "structure": True,
        "state_embeddings": True,
        "agent_hidden": 64,
        "agent_lr": 0.01,
        "agent_entropy": 0.01,
        "reward": "improvement",
        "baseline": "whiten",
        "report": "val",
    }

    def search_space(self, trial: Any, task: str) -> dict[str, Any]:
        """The peers' (as ``vanilla``'s) and the transfer weights; the agent's at defaults."""
        return {
            **METHODS.get("vanilla")().search_space(trial, task),
            "kd_weight": trial.suggest_float("kd_weight", 0.1, 10.0, log=True),
            "structure_weight": trial.suggest_float("structure_weight", 0.1, 10.0, log=True),
        }

    def setup(self, ctx: FitContext) -> FreeKDState:
        """Checks the choices and the targets; the node masks and labels on the device."""
        p = ctx.params
        for key, allowed in CHOICES.items():
            if p[key] not in allowed:
                raise KdbenchError(
                    f"{self.name}: {key}={p[key]!r} is not one of "
                    f"{', '.join(allowed)}; fix it with --set {key}={allowed[0]}"
                )
        if ctx.data.card.target != "multiclass":
            raise KdbenchError(
                f"{self.name} transfers class probabilities; {ctx.data.name} "
                f"has {ctx.data.card.target} targets"
            )
        dev = ctx.device
        n = ctx.data.num_items
        train = ctx.split.train.to(dev)
        labelled = torch.zeros(n, dtype=torch.bool, device=dev)
        labelled[train] = True
        y = ctx.data.y.to(dev)
        y_train = torch.where(labelled, y, torch.zeros_like(y))  # no other label
        rows = observed_rows(ctx)
        if rows is None:
            distil = torch.ones(n, device=dev)
        else:
            distil = torch.zeros(n, device=dev).index_fill_(0, rows, 1.0)
        val = (ctx.split.val.to(dev), y[ctx.split.val.to(dev)])
        return FreeKDState(labelled, y_train, distil, val, torch.zeros(3, device=dev))

    def finish(self, result: FitResult, ctx: FitContext, state: FreeKDState) -> FitResult:
        """The answering peer and the diagnostics' means over the steps in ``extra``."""
        result.extra["answering_peer"] = float(state.answer)
        keys = ("teacher_better_rate", "psi_teaches_rate", "structure_rate")
        result.extra.update(zip(keys, (state.diag / max(state.steps, 1)).tolist()))
        return result

    def build(self, ctx: FitContext, state: FreeKDState) -> nn.Module:
        p = ctx.params
        phi, psi = super().build(ctx, state), super().build(ctx, state)  # two draws: two inits
        agent = None
        if p["agent"] == "rl":
            dim = NUM_SIGNALS + (2 * phi.embedding_dim if p["state_embeddings"] else 0)
            agent = Agent(dim, int(p["agent_hidden"]), bool(p["structure"]))
        return Peers(phi, psi, agent)

    def configure_optimizer(
        self, model: nn.Module, ctx: FitContext, state: FreeKDState
    ) -> torch.optim.Optimizer:
        """Adam on both peers (the cell's ``lr``, ``weight_decay``); the agent's own Adam at
        ``agent_lr`` is kept in ``state``."""
        p = ctx.params
        if model.agent is not None:
            state.agent_opt = adam(model.agent.parameters(), float(p["agent_lr"]))
        return adam(model.peers.parameters(), p["lr"], p["weight_decay"])

    @torch.no_grad()
    def _evaluate(self, model: Peers, batch: Batch) -> tuple[BackboneOutput, BackboneOutput]:
        was = model.training
        model.eval()
        outs = tuple(self.forward(peer, batch) for peer in model.peers)
        model.train(was)
        return outs  # type: ignore[return-value]

    def training_step(
        self,
        model: nn.Module,
        batch: Batch,
        optimizer: torch.optim.Optimizer,
        ctx: FitContext,
        state: FreeKDState,
    ) -> Tensor:
        """Actions from the agent's state, a step of both peers, the reward from their
        re-evaluation, a REINFORCE step of the agent, and the answering peer (see the module
        docstring)."""
        p = ctx.params
        n = batch.x.shape[0]
        if state.edges is None or state.now is None:
            ei, _ = remove_self_loops(batch.edge_index)
            state.edges = coalesce(ei, num_nodes=n)
            state.now = self._evaluate(model, batch)
        edges, (b0, b1) = state.edges, state.now
        structure = bool(p["structure"]) and float(p["structure_weight"]) > 0
        if model.agent is not None:
            embeddings = bool(p["state_embeddings"])
            signals = agent_state(b0, b1, state.y_train, state.labelled, embeddings)
            acts = model.agent.act(signals, edges)
        else:
            acts = random_actions(n, structure, batch.x.device)

        self._diagnose(b0, b1, acts, state)

        optimizer.zero_grad(set_to_none=True)
        o0, o1 = (self.forward(peer, batch) for peer in model.peers)
        ce = F.cross_entropy(batch.pick(o0.logits), batch.y)
        ce = ce + F.cross_entropy(batch.pick(o1.logits), batch.y)
        loss = ce + self.transfer(o0, o1, acts, edges, p, state.distil)
        loss.backward()
        optimizer.step()

        a0, a1 = state.now = self._evaluate(model, batch)
        state.now_graph = batch.edge_index
        if model.agent is not None:
            reward, valid = self.reward(b0, b1, a0, a1, acts, edges, p["reward"], state)
            valid &= state.distil > 0
            agent_loss = reinforce_loss(acts.log_prob, reward, valid, p["baseline"])
            agent_loss = agent_loss - float(p["agent_entropy"]) * acts.entropy.mean()
            state.agent_opt.zero_grad(set_to_none=True)
            agent_loss.backward()
            state.agent_opt.step()
        if p["report"] == "val":
            val, y_val = state.val
            sign = 1.0 if ctx.evaluator.higher_is_better else -1.0
            s0 = ctx.evaluator.score(y_val, a0.logits[val]) * sign
            s1 = ctx.evaluator.score(y_val, a1.logits[val]) * sign
            model.active.copy_((s1 > s0).long())
        else:
            model.active.fill_(1 if p["report"] == "psi" else 0)
        return loss.detach()

    @staticmethod
    @torch.no_grad()
    def _diagnose(
        b0: BackboneOutput, b1: BackboneOutput, acts: Actions, state: FreeKDState
    ) -> None:
        """Accumulate, on the device, the epoch's share of training nodes (where the peers'
        losses differ) whose chosen teacher had the lower loss (0.5 for random directions),
        and the shares of nodes where Ψ teaches and where structure is transferred."""
        ce0, ce1 = (labelled_ce(o.logits, state.y_train, state.labelled) for o in (b0, b1))
        better = torch.where(acts.node == 0, ce0 < ce1, ce1 < ce0).float()
        differ = (state.labelled & (ce0 != ce1)).float()
        shares = [acts.node.float().mean(), acts.structure.float().mean()]
        state.diag += torch.stack([(better * differ).sum() / differ.sum().clamp(min=1.0), *shares])
        state.steps += 1

    @staticmethod
    def transfer(
        o0: BackboneOutput,
        o1: BackboneOutput,
        acts: Actions,
        edges: Tensor,
        p: dict[str, Any],
        distil: Tensor,
    ) -> Tensor:
        r"""Both peers' distillation terms, each only at the nodes where it is the student
        and ``distil`` [N] (0/1) is set:
        :math:`\frac{1}{|V_D|}\sum_i r^k_i(\mu\,\mathrm{KL}_{node} + \rho\,b_i\,
        \mathrm{KL}_{struct})` summed over k (scalar)."""
        n = o0.logits.shape[0]
        recv = (acts.node == 1).to(o0.logits.dtype)  # 1: Ψ teaches, Φ receives
        per_peer = []
        for student, teacher, mask in ((o0, o1, recv), (o1, o0, 1.0 - recv)):
            term = float(p["kd_weight"]) * node_kd(
                student.logits, teacher.logits, float(p["temperature"])
            )
            if bool(p["structure"]) and float(p["structure_weight"]) > 0:
                sk = structure_kd(
                    student.h, teacher.h, edges, n, p["kernel"], float(p["kernel_width"])
                )
                term = term + float(p["structure_weight"]) * acts.structure.to(sk.dtype) * sk
            per_peer.append((term * mask * distil).sum())
        return (per_peer[0] + per_peer[1]) / distil.sum()

    @staticmethod
    def reward(
        b0: BackboneOutput,
        b1: BackboneOutput,
        a0: BackboneOutput,
        a1: BackboneOutput,
        acts: Actions,
        edges: Tensor,
        kind: str,
        state: FreeKDState,
    ) -> tuple[Tensor, Tensor]:
        """(reward [N], valid [N]) from the peers' outputs before (``b*``) and after (``a*``)
        the step (see the module docstring, step 4)."""
        y, lab = state.y_train, state.labelled
        n = y.shape[0]
        before = [labelled_ce(o.logits, y, lab) for o in (b0, b1)]
        if kind == "improvement":
            after = [labelled_ce(o.logits, y, lab) for o in (a0, a1)]
            gain = (before[0] - after[0]) + (before[1] - after[1])
            return neighbourhood_mean(gain, lab.to(gain.dtype), edges, n)
        # margin: the student's loss minus the teacher's around i (Φ teaches when a_i = 0)
        phi_better, valid = neighbourhood_mean(before[1] - before[0], lab.float(), edges, n)
        return torch.where(acts.node == 0, phi_better, -phi_better), valid

    def predict(self, model: nn.Module, batch: Batch, state: FreeKDState) -> Tensor:
        """While training, the active peer's rows of the outputs both peers were re-evaluated
        with at the end of the step (same parameters, eval mode, same graph) instead of a
        second forward of both; otherwise (the answering peer) the usual forward."""
        now = state.now
        fresh = now is not None and batch.edge_index is state.now_graph
        if isinstance(model, Peers) and not model.training and fresh:
            return batch.pick(torch.where(model.active.bool(), now[1].logits, now[0].logits))
        return super().predict(model, batch, state)

    def inference_model(self, model: nn.Module, ctx: FitContext, state: FreeKDState) -> nn.Module:
        """The peer chosen on validation at the selected epoch (or the fixed ``report`` peer)."""
        state.now = None  # the restored state is not the one last evaluated
        state.answer = int(model.active)
        return model.peers[state.answer]


@register_method("freekd_random")
class FreeKDRandom(FreeKD):
    """Ablation: FreeKD with every direction and structure decision drawn at random
    (Bernoulli ½ per node and epoch), no agent."""

    description = "FreeKD ablation: directions and structure transfer drawn at random (no agent)"
    defaults: ClassVar[dict[str, Any]] = {**FreeKD.defaults, "agent": "random"}


@register_method("freekd_node")
class FreeKDNode(FreeKD):
    """Ablation: FreeKD with node-level actions only (no structure-level transfer)."""

    description = "FreeKD ablation: node-level actions only (no structure-level transfer)"
    defaults: ClassVar[dict[str, Any]] = {**FreeKD.defaults, "structure": False}
