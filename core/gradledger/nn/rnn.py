"""Recurrent layers with PyTorch's names, layouts, gate orders and initialisation.

LSTMCell and GRUCell step once; LSTM and GRU run a whole sequence through
`num_layers` stacked cells, with `batch_first` and inter-layer `dropout` as PyTorch's.
Every weight is drawn from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as PyTorch's.

Gates (PyTorch's order, rows of weight_ih and weight_hh):
  LSTM  i, f, g, o:  c' = f c + i g,  h' = o tanh(c')     (i, f, o sigmoid; g tanh)
  GRU   r, z, n:     n = tanh(W_in x + b_in + r (W_hn h + b_hn)),  h' = (1 - z) n + z h

A sequence's input projections are one matmul for every time step at once. An LSTM
layer records one op for the whole sequence, `lstm_layer` (the projection, then
`lstm_seq`, whose rule back-propagates through time; its outputs are every step's h and
the last h and c); an LSTMCell records one op per step, `lstm_input_step`, whose outputs
are h' and c'. A GRU's loop over time records its ops step by step, each state keeping
a leading axis of 1, so that the steps join back into the output by one concatenation.
"""

from __future__ import annotations

import math

import numpy as np

from ..ops import ops
from ..random import resolve
from ..tensor import Tensor
from . import functional as F
from .module import Module

__all__ = ["GRU", "LSTM", "GRUCell", "LSTMCell"]


def _size(owner: str, label: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{owner} {label}: expected a positive int; got {value!r}")
    return int(value)


def _uniform(rng, shape, hidden_size, dtype, name) -> Tensor:
    bound = 1.0 / math.sqrt(hidden_size)
    return Tensor(rng.uniform(-bound, bound, size=shape).astype(dtype), requires_grad=True,
                  name=name)


def _dtype(x) -> np.dtype:
    return np.asarray(x.data if isinstance(x, Tensor) else x).dtype


def _lstm_cell(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
    """One LSTM step from the input x: the op `lstm_input_step` (x W_ih^T + b_ih, then
    h W_hh^T, the add and `lstm_cell`, in one), whose two outputs are h' and c'."""
    zeros = None
    if bias_ih is None or bias_hh is None:
        zeros = np.zeros(np.shape(weight_hh)[0], dtype=weight_hh.dtype)
    h, c = ops.lstm_input_step(x, h, weight_ih, zeros if bias_ih is None else bias_ih,
                               weight_hh, zeros if bias_hh is None else bias_hh, c)
    return h, c


def _gru_step(x_proj, h, weight_hh, bias_hh):
    """One GRU step from the input's projection (x W_ih^T + b_ih)."""
    hidden = ops.linear(h, weight_hh)
    if bias_hh is not None:
        hidden = hidden + bias_hh
    x_r, x_z, x_n = ops.split(x_proj, 3, axis=-1)
    h_r, h_z, h_n = ops.split(hidden, 3, axis=-1)
    r = ops.sigmoid(x_r + h_r)
    z = ops.sigmoid(x_z + h_z)
    n = ops.tanh(x_n + r * h_n)
    return (1.0 - z) * n + z * h


class _Cell(Module):
    _gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, rng=None,
                 dtype=np.float64) -> None:
        name = type(self).__name__
        self.input_size = _size(name, "input_size", input_size)
        self.hidden_size = _size(name, "hidden_size", hidden_size)
        rng = resolve(rng, f"{name} rng")
        rows = self._gates * self.hidden_size
        self.weight_ih = _uniform(rng, (rows, self.input_size), hidden_size, dtype, "weight_ih")
        self.weight_hh = _uniform(rng, (rows, self.hidden_size), hidden_size, dtype, "weight_hh")
        self.bias_ih = self.bias_hh = None
        if bias:
            self.bias_ih = _uniform(rng, (rows,), hidden_size, dtype, "bias_ih")
            self.bias_hh = _uniform(rng, (rows,), hidden_size, dtype, "bias_hh")

    def _zeros(self, x) -> np.ndarray:
        shape = np.shape(x.data if isinstance(x, Tensor) else x)
        if len(shape) not in (1, 2) or shape[-1] != self.input_size:
            raise ValueError(
                f"{type(self).__name__}: expected an input (batch, {self.input_size}) or "
                f"({self.input_size},); got shape {shape}"
            )
        return np.zeros((*shape[:-1], self.hidden_size), dtype=_dtype(x))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.input_size}, {self.hidden_size})"


class LSTMCell(_Cell):
    """One LSTM step: `(h', c') = cell(x, (h, c))`; (h, c) default to zeros."""

    _gates = 4

    def forward(self, x, hx=None):
        if hx is None:
            zeros = self._zeros(x)
            hx = (zeros, zeros)
        else:
            self._zeros(x)
        h, c = hx
        return _lstm_cell(x, h, c, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


class GRUCell(_Cell):
    """One GRU step: `h' = cell(x, h)`; h defaults to zeros."""

    _gates = 3

    def forward(self, x, hx=None):
        zeros = self._zeros(x)
        h = zeros if hx is None else hx
        return _gru_step(F.linear(x, self.weight_ih, self.bias_ih), h, self.weight_hh,
                         self.bias_hh)


class _Recurrent(Module):
    _gates = 1

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 rng=None, dtype=np.float64) -> None:
        name = type(self).__name__
        if bidirectional:
            raise NotImplementedError(
                f"{name}(bidirectional=True) is not supported: run a second {name} on the "
                "reversed sequence (x[::-1]) and concatenate the outputs"
            )
        self.input_size = _size(name, "input_size", input_size)
        self.hidden_size = _size(name, "hidden_size", hidden_size)
        self.num_layers = _size(name, "num_layers", num_layers)
        self.batch_first, self.bias = bool(batch_first), bool(bias)
        self.dropout = F.check_probability(f"{name} dropout", dropout)
        rng = resolve(rng, f"{name} rng")
        rows = self._gates * self.hidden_size
        for layer in range(self.num_layers):
            fan = self.input_size if layer == 0 else self.hidden_size
            setattr(self, f"weight_ih_l{layer}",
                    _uniform(rng, (rows, fan), hidden_size, dtype, f"weight_ih_l{layer}"))
            setattr(self, f"weight_hh_l{layer}", _uniform(
                rng, (rows, self.hidden_size), hidden_size, dtype, f"weight_hh_l{layer}"))
            if bias:
                setattr(self, f"bias_ih_l{layer}",
                        _uniform(rng, (rows,), hidden_size, dtype, f"bias_ih_l{layer}"))
                setattr(self, f"bias_hh_l{layer}",
                        _uniform(rng, (rows,), hidden_size, dtype, f"bias_hh_l{layer}"))

    def _layer(self, k: int):
        get = vars(self).get
        return (get(f"weight_ih_l{k}"), get(f"weight_hh_l{k}"), get(f"bias_ih_l{k}"),
                get(f"bias_hh_l{k}"))

    def _sequence_shape(self, shape):
        if len(shape) not in (2, 3) or shape[-1] != self.input_size:
            order = "(N, L, input_size)" if self.batch_first else "(L, N, input_size)"
            raise ValueError(
                f"{type(self).__name__}: expected an input {order} or (L, input_size) with "
                f"input_size {self.input_size}; got shape {shape}"
            )

    def _sequence(self, x):
        """x as (L, N, input) (a view of a batch_first input), whether it was batched."""
        shape = np.shape(x.data if isinstance(x, Tensor) else x)
        self._sequence_shape(shape)
        if not isinstance(x, Tensor):
            x = Tensor(np.asarray(x))
        if len(shape) == 2:
            return ops.expand_dims(x, 1), False
        return (ops.swapaxes(x, 0, 1) if self.batch_first else x), True

    def _output(self, out, batched):
        if not batched:
            return ops.squeeze(out, axis=1)
        return ops.swapaxes(out, 0, 1) if self.batch_first else out

    def _state(self, state, batched):
        stacked = ops.concatenate(state, axis=0) if len(state) > 1 else state[0]
        return stacked if batched else ops.squeeze(stacked, axis=1)

    def _initial(self, hx, k, batch, dtype, batched):
        """Layer k's initial state as (1, N, hidden)."""
        if hx is None:
            return np.zeros((1, batch, self.hidden_size), dtype=dtype)
        return ops.expand_dims(hx[k], 0) if batched else ops.reshape(hx[k], shape=(1, 1, -1))

    @staticmethod
    def _steps(projected, length):
        """The projections of the steps, each (1, N, gates): one split op."""
        return ops.split(projected, length, axis=0) if length > 1 else [projected]

    def _between_layers(self, h, k):
        if self.dropout and self.training and k < self.num_layers - 1:
            return F.dropout(h, self.dropout, training=True)
        return h

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.input_size}, {self.hidden_size}, "
                f"num_layers={self.num_layers}, batch_first={self.batch_first})")


class LSTM(_Recurrent):
    """A multi-layer LSTM over a sequence: `output, (h_n, c_n) = lstm(x, (h_0, c_0))`.

    x is (L, N, input_size) ((N, L, input_size) with batch_first, or (L, input_size)
    unbatched); output is every step's last-layer h, (L, N, hidden_size); h_n and c_n
    are (num_layers, N, hidden_size). Parameters weight_ih_l{k} (4 hidden, in),
    weight_hh_l{k} (4 hidden, hidden), bias_ih_l{k}, bias_hh_l{k}: PyTorch's names.
    """

    _gates = 4

    def forward(self, x, hx=None):
        shape = np.shape(x.data if isinstance(x, Tensor) else x)
        self._sequence_shape(shape)
        batched = len(shape) == 3
        seq = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
        batch_first = self.batch_first and batched
        lead = (shape[0 if batch_first else 1],) if batched else ()
        h0, c0 = (None, None) if hx is None else hx
        hs, cs = [], []
        for k in range(self.num_layers):
            weight_ih, weight_hh, bias_ih, bias_hh = self._layer(k)
            zeros = None
            if bias_ih is None:
                zeros = np.zeros(np.shape(weight_hh)[0], dtype=weight_hh.dtype)
            start = None
            if h0 is None or c0 is None:
                start = np.zeros((*lead, self.hidden_size), dtype=seq.dtype)
            out, h_n, c_n = ops.lstm_layer(
                seq, start if h0 is None else h0[k], weight_ih,
                zeros if bias_ih is None else bias_ih, weight_hh,
                zeros if bias_hh is None else bias_hh, start if c0 is None else c0[k],
                batch_first=batch_first)  # one op: the projection, the steps, the states
            hs.append(h_n)
            cs.append(c_n)
            seq = self._between_layers(out, k)
        if len(hs) > 1:
            return out, (ops.concatenate(hs, axis=0), ops.concatenate(cs, axis=0))
        return out, (hs[0], cs[0])


class GRU(_Recurrent):
    """A multi-layer GRU over a sequence: `output, h_n = gru(x, h_0)`; shapes as LSTM's,
    with weight_ih_l{k} (3 hidden, in) and weight_hh_l{k} (3 hidden, hidden)."""

    _gates = 3

    def forward(self, x, hx=None):
        seq, batched = self._sequence(x)
        length, batch = seq.shape[:2]
        hs = []
        for k in range(self.num_layers):
            weight_ih, weight_hh, bias_ih, bias_hh = self._layer(k)
            projected = F.linear(seq, weight_ih, bias_ih)
            h = self._initial(hx, k, batch, seq.dtype, batched)
            outputs = []
            for x_proj in self._steps(projected, length):
                h = _gru_step(x_proj, h, weight_hh, bias_hh)
                outputs.append(h)
            hs.append(h)
            out = ops.concatenate(outputs, axis=0) if length > 1 else outputs[0]
            seq = self._between_layers(out, k)
        return self._output(out, batched), self._state(hs, batched)
