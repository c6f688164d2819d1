r"""Sparse input features for node tasks: the first layer's :math:`XW^\top` and input dropout
on the non-zeros of a sparse bag-of-words :math:`X` only.

Cora's :math:`X` is 2,708 × 1,433 with 1.3 % non-zeros (CiteSeer 3,327 × 3,703, 0.9 %). Dense,
an epoch spends most of its time on three things of size N×F: the input-dropout mask, the
product :math:`X W^\top` (train and validation forwards) and its weight gradient
:math:`G^\top X` (``docs/performance.md``). Dropout commutes with sparsity — a zero stays zero
whether it is dropped or not — so masking the non-zeros alone gives the same distribution
of :math:`\mathrm{drop}(X)`, and :math:`\mathrm{drop}(X) W^\top` is a sparse × dense product.

:class:`SparseFeatures` holds :math:`X` in CSR form together with the CSR form of
:math:`X^\top` and the permutation between their value orders, computed once; its
:meth:`~SparseFeatures.dropout` returns a CSR tensor that carries its transpose (attribute
``kdbench_transpose``), which :func:`sparse_linear` uses for the weight gradient
:math:`\nabla_W = (X^\top G)^\top` without re-sorting (PyTorch's own backward of a CSR
product converts :math:`X^\top` to CSR on every call). The backward is itself differentiable
in :math:`G`, so second-order methods (LTD's meta-gradient) work through it.

Which path runs is :func:`sparse_input_mode`: ``auto`` (the default) uses the sparse path on
the CPU for float inputs with at most :data:`MAX_DENSITY` non-zeros, that require no
gradient (NOSMOG's adversarial :math:`X + \delta` stays dense); ``off`` never; ``on`` also on
other devices (CUDA's dense GEMM is fast at these sizes and the sparse path is not measured
there, hence not the default). The random stream differs from the dense path (one draw per
non-zero instead of per entry), so a seed's numbers differ between the two paths; their
distributions are the same.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from benchmark.models.layers import keep_mask

#: the sparse path is used up to this fraction of non-zero entries
MAX_DENSITY = 0.1
_MODES = ("auto", "on", "off")
_mode = "auto"


def sparse_input_mode(mode: str | None = None) -> str:
    """Get (and with ``mode`` set) the process-wide choice ``auto`` | ``on`` | ``off``."""
    global _mode
    if mode is not None:
        if mode not in _MODES:
            raise ValueError(f"unknown sparse input mode '{mode}' (expected {_MODES})")
        _mode = mode
    return _mode


@dataclass(frozen=True)
class SparseFeatures:
    r""":math:`X` [N, F] as CSR (``crow`` [N+1], ``col`` [nnz], ``values`` [nnz]) and
    :math:`X^\top` [F, N] as CSR (``crow_t`` [F+1], ``col_t`` [nnz]) whose values are
    ``values[perm]``."""

    shape: tuple[int, int]
    crow: Tensor
    col: Tensor
    values: Tensor
    crow_t: Tensor
    col_t: Tensor
    perm: Tensor

    @classmethod
    def from_dense(cls, x: Tensor) -> SparseFeatures:
        """CSR of ``x`` [N, F] and of its transpose (one stable sort, on ``x``'s device)."""
        n, f = x.shape
        with warnings.catch_warnings():  # "CSR support is in beta": stable for CSR × dense
            warnings.simplefilter("ignore", UserWarning)
            csr = x.detach().to_sparse_csr()
        crow, col = csr.crow_indices(), csr.col_indices()
        row = torch.repeat_interleave(torch.arange(n, device=x.device), crow.diff())
        perm = torch.argsort(col * n + row, stable=True)
        crow_t = torch.zeros(f + 1, dtype=crow.dtype, device=x.device)
        crow_t[1:] = torch.cumsum(torch.bincount(col, minlength=f), 0)
        return cls((n, f), crow, col, csr.values(), crow_t, row[perm].to(crow.dtype), perm)

    def dropout(self, p: float, training: bool) -> Tensor:
        r"""CSR tensor of inverted dropout on the non-zeros (``p`` = 0 or not training: of
        :math:`X` itself), carrying its transpose for :func:`sparse_linear`."""
        values = self.values
        if training and p > 0.0:
            keep, scale = keep_mask(values, p)
            values = values * (keep * scale)
        x = torch.sparse_csr_tensor(
            self.crow, self.col, values, self.shape, check_invariants=False
        )  # built valid by from_dense
        x.kdbench_transpose = torch.sparse_csr_tensor(  # type: ignore[attr-defined]
            self.crow_t, self.col_t, values[self.perm], self.shape[::-1], check_invariants=False
        )
        return x


def wants_sparse(x: Tensor) -> bool:
    """Whether :func:`sparse_input_mode` lets ``x`` take the sparse path (before the density,
    which :class:`SparseInputCache` checks once per input)."""
    mode = sparse_input_mode()
    if mode == "off" or x.layout != torch.strided or x.dim() != 2:
        return False
    if not x.is_floating_point() or x.requires_grad:
        return False
    return mode == "on" or x.device.type == "cpu"


class SparseInputCache:
    """The :class:`SparseFeatures` of the last input seen (by identity and version), or
    ``None`` when that input is too dense: a transductive graph converts once per training.
    A new input costs one host read of its non-zero count (every step for GLNN's mini-batches;
    a sync only off the CPU, where ``auto`` does not take this path)."""

    def __init__(self) -> None:
        self._key: tuple[Any, int] | None = None
        self._value: SparseFeatures | None = None

    def get(self, x: Tensor) -> SparseFeatures | None:
        if self._key is None or self._key[0] is not x or self._key[1] != x._version:
            dense = x.count_nonzero().item() > MAX_DENSITY * x.numel()
            self._value = None if dense else SparseFeatures.from_dense(x)
            self._key = (x, x._version)
        return self._value

    def __getstate__(self) -> dict[str, Any]:  # never pickle the cached input
        return {"_key": None, "_value": None}


class _SparseLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, xt: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        ctx.xt, ctx.has_bias = xt, bias is not None
        out = torch.sparse.mm(x, weight.t())
        return out + bias if bias is not None else out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[None, None, Tensor, Tensor | None]:
        grad_w = torch.sparse.mm(ctx.xt, grad).t()
        return None, None, grad_w, grad.sum(0) if ctx.has_bias else None


def sparse_linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    r""":math:`X W^\top + b` for a CSR ``x`` [N, F], ``weight`` [O, F], ``bias`` [O] → [N, O];
    gradients flow to ``weight`` and ``bias`` (twice differentiable), not to ``x``."""
    xt = getattr(x, "kdbench_transpose", None)
    if xt is None:
        xt = x.t().to_sparse_csr()
    return _SparseLinear.apply(x, xt, weight, bias)


class SparseAware:
    """Mix-in for a linear module (``torch.nn.Linear``, PyG's ``Linear``): a CSR input takes
    :func:`sparse_linear`, anything else the module's own forward."""

    weight: Tensor
    bias: Tensor | None

    def forward(self, x: Tensor) -> Tensor:
        if x.layout == torch.sparse_csr:
            return sparse_linear(x, self.weight, self.bias)
        return super().forward(x)  # type: ignore[misc]


_AWARE: dict[type, type] = {}


def make_sparse_aware(linear: torch.nn.Module) -> None:
    """Let ``linear`` (a module with ``weight`` [O, F] and ``bias``, applied as
    :math:`xW^\\top + b`) accept a CSR input, in place: its class becomes a subclass that only
    adds the CSR branch, so parameters, initialisation and ``state_dict`` keys are unchanged."""
    cls = type(linear)
    if issubclass(cls, SparseAware):
        return
    if cls not in _AWARE:
        _AWARE[cls] = type(f"SparseAware{cls.__name__}", (SparseAware, cls), {})
    linear.__class__ = _AWARE[cls]
