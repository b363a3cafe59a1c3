"""Multi-head attention, as torch.nn.MultiheadAttention (Vaswani et al. 2017)."""

from __future__ import annotations

import math

import numpy as np

from ..ops import ops
from ..random import resolve
from ..tensor import Tensor
from . import functional as F
from . import init
from .layers import Linear
from .module import Module

__all__ = ["MultiheadAttention"]


class MultiheadAttention(Module):
    """`out, weights = mha(query, key, value)`: num_heads scaled-dot-product attentions of
    embed_dim / num_heads each, their outputs joined by `out_proj`.

    PyTorch's parameters and layouts: in_proj_weight (3 embed_dim, embed_dim) (query, key
    and value projections stacked), in_proj_bias (3 embed_dim,), out_proj (a Linear).
    Inputs are (L, N, E) ((N, L, E) with batch_first). `attn_mask` (L, S), boolean (True:
    masked out, as PyTorch's) or float (added); `key_padding_mask` (N, S), True at
    padding; `is_causal` with no mask masks the future. `weights` are averaged over heads
    (None with need_weights=False).

    With need_weights=False, no key_padding_mask, no dropout at work and no mask but the
    causal one, the attention is one recorded op, `attention` (PyTorch takes its fused
    path in the same case); otherwise scores, mask, softmax and product are separate ops,
    so that the weights can be returned with their grads.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 batch_first: bool = False, rng=None, dtype=np.float64) -> None:
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible by "
                             f"num_heads ({num_heads})")
        rng = resolve(rng, "MultiheadAttention rng")
        self.embed_dim, self.num_heads, self.batch_first = embed_dim, num_heads, batch_first
        self.dropout = F.check_probability("MultiheadAttention dropout", dropout)
        self.in_proj_weight = Tensor(np.zeros((3 * embed_dim, embed_dim), dtype=dtype),
                                     requires_grad=True, name="in_proj_weight")
        init.xavier_uniform_(self.in_proj_weight, generator=rng)
        self.in_proj_bias = (Tensor(np.zeros(3 * embed_dim, dtype=dtype), requires_grad=True,
                                    name="in_proj_bias") if bias else None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, rng=rng, dtype=dtype)
        if bias:
            init.zeros_(self.out_proj.bias)

    def _heads(self, x, length, batch):
        """(length, batch, E) -> (batch, heads, length, E / heads)."""
        x = ops.reshape(x, shape=(length, batch, self.num_heads, -1))
        return ops.transpose(x, axes=(1, 2, 0, 3))

    def forward(self, query, key, value, key_padding_mask=None, need_weights: bool = True,
                attn_mask=None, average_attn_weights: bool = True, is_causal: bool = False):
        query, key, value = (t if isinstance(t, Tensor) else Tensor(np.asarray(t))
                             for t in (query, key, value))
        if self.batch_first:
            query, key, value = (ops.swapaxes(t, 0, 1) for t in (query, key, value))
        (length, batch, e), source = query.shape, key.shape[0]
        w_q, w_k, w_v = ops.split(self.in_proj_weight, 3, axis=0)
        b_q = b_k = b_v = None
        if self.in_proj_bias is not None:
            b_q, b_k, b_v = ops.split(self.in_proj_bias, 3, axis=0)
        q = self._heads(F.linear(query, w_q, b_q), length, batch)
        k = self._heads(F.linear(key, w_k, b_k), source, batch)
        v = self._heads(F.linear(value, w_v, b_v), source, batch)
        causal = self._fused_causal(need_weights, attn_mask, key_padding_mask, is_causal,
                                    length, source)
        if causal is not None:  # one op, as PyTorch's fast path (no weights asked for)
            out = ops.attention(q, k, v, is_causal=causal)
            return self._joined(out, length, batch, e), None
        scale = 1.0 / math.sqrt(e // self.num_heads)  # a Python float: float32 stays float32
        scores = ops.matmul(q, ops.swapaxes(k, -2, -1)) * scale
        blocked = np.zeros((length, source), dtype=bool)
        if attn_mask is None and is_causal:
            blocked = np.triu(np.ones((length, source), dtype=bool), k=1)
        elif attn_mask is not None:
            mask = np.asarray(attn_mask.data if isinstance(attn_mask, Tensor) else attn_mask)
            if mask.dtype == np.bool_:
                blocked = blocked | mask
            else:
                scores = scores + mask
        if key_padding_mask is not None:
            padding = np.asarray(key_padding_mask.data if isinstance(key_padding_mask, Tensor)
                                 else key_padding_mask).astype(bool)
            blocked = blocked | padding[:, None, None, :]
        if blocked.any():
            scores = ops.masked_fill(scores, blocked, value=-np.inf)
        weights = ops.softmax(scores, axis=-1)
        if self.dropout and self.training:
            weights = F.dropout(weights, self.dropout)
        out = self._joined(ops.matmul(weights, v), length, batch, e)
        if not need_weights:
            return out, None
        return out, ops.mean(weights, axis=1) if average_attn_weights else weights

    def _joined(self, out, length, batch, e):
        """The heads' outputs (batch, heads, length, head_dim) joined and projected."""
        out = ops.reshape(ops.transpose(out, axes=(2, 0, 1, 3)), shape=(length, batch, e))
        out = self.out_proj(out)
        return ops.swapaxes(out, 0, 1) if self.batch_first else out

    def _fused_causal(self, need_weights, attn_mask, key_padding_mask, is_causal, length,
                      source):
        """Whether the call can be the one op `attention`, and then its is_causal (else
        None): as PyTorch, only when no weights are asked for (need_weights=False), with
        no key padding and no dropout at work, and a mask that is none or the causal one
        (True above the diagonal)."""
        if need_weights or key_padding_mask is not None or (self.dropout and self.training):
            return None
        if attn_mask is None:
            return bool(is_causal)
        mask = np.asarray(attn_mask.data if isinstance(attn_mask, Tensor) else attn_mask)
        causal = np.triu(np.ones((length, source), dtype=bool), k=1)
        if mask.dtype == np.bool_ and mask.shape == causal.shape and np.array_equal(mask, causal):
            return True
        return None
