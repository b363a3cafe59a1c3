"""How much of numpy a gl.Tensor reaches: a checklist of numpy functions, methods,
operators and calling forms that numpy-gradient test suites exercise, each tried on
gl.Tensors through numpy's own name.

    python tools/numpy_reach.py [--order 1|2] [--only SUBSTRING] [-v]

Each case is a function written against numpy (`np.tensordot(x, y, axes=1)`, `x.T`,
`x % y`) and a few inputs. The case passes when, called with gl.Tensors that require
grad, (1) it returns Tensors that require grad (no silent detach), (2) their values
equal the same function run on plain numpy arrays, (3) a vector-Jacobian product
against a random cotangent agrees with central differences of the numpy function
along a random direction, and (4) with --order 2 (the default), the vjp itself,
recorded with create_graph=True, is differentiated the same way (with respect to the
inputs and the cotangent) and checked by central differences of gradledger's own
first-order vjp. Complex numbers and np.fft are out of scope here (another checklist).

Status per case: ok, value (wrong numbers), grad, grad2 (wrong first or second order),
detach (an output lost its grad), error (raised: the form is not reached). The summary
counts them; wrong gradients and detaches are listed first, since they are the bugs.
"""

from __future__ import annotations

import argparse
import operator
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import gradledger as gl
import numpy as np

EPS = 1e-6
RTOL = 1e-5
ATOL = 1e-7


@dataclass
class Case:
    name: str
    fun: Callable
    args: tuple
    wrt: tuple = (0,)
    order: int = 2
    reference: Callable | None = None  # what numpy computes, when fun is not numpy's (gl.*)


def _rng():
    return np.random.default_rng(2026)


RNG = _rng()


def R(*shape):
    return RNG.standard_normal(shape) if shape else float(RNG.standard_normal())


def U(low, high, *shape):
    return RNG.uniform(low, high, shape) if shape else float(RNG.uniform(low, high))


def PSD(n, batch=()):
    a = RNG.standard_normal(batch + (n, n))
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


def SYM(n, batch=()):
    a = RNG.standard_normal(batch + (n, n))
    return (a + np.swapaxes(a, -1, -2)) / 2


# -- the structure of an argument: a number or array, or a sequence of them --------------------


def _flat(value) -> list:
    if isinstance(value, (list, tuple)):
        return [leaf for v in value for leaf in _flat(v)]
    return [value]


def _rebuild(value, leaves: list):
    if isinstance(value, (list, tuple)):
        return type(value)(_rebuild(v, leaves) for v in value)
    return leaves.pop(0)


def _outputs(result) -> list:
    return _flat(result) if isinstance(result, (list, tuple)) else [result]


def _float_leaves(case: Case) -> list[np.ndarray]:
    return [np.asarray(leaf, dtype=np.float64) for i in case.wrt for leaf in _flat(case.args[i])]


def _call(case: Case, leaves: list, make: Callable, fun: Callable | None = None):
    """The case's function with the wrt arguments' leaves replaced by make(leaf)."""
    leaves = [make(x) for x in leaves]
    args = list(case.args)
    for i in case.wrt:
        count = len(_flat(args[i]))
        args[i] = _rebuild(args[i], leaves[:count])
        del leaves[:count]
    return (fun or case.fun)(*args)


def _numpy_outputs(case: Case, leaves: list) -> list[np.ndarray]:
    return [np.asarray(o, dtype=np.float64)
            for o in _outputs(_call(case, leaves, lambda x: x, case.reference))]


def _directional(f: Callable, leaves: list, direction: list) -> list[np.ndarray]:
    up = f([x + EPS / 2 * d for x, d in zip(leaves, direction, strict=True)])
    down = f([x - EPS / 2 * d for x, d in zip(leaves, direction, strict=True)])
    return [(a - b) / EPS for a, b in zip(up, down, strict=True)]


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= ATOL + RTOL * max(abs(a), abs(b))


class Failure(Exception):
    def __init__(self, status: str, detail: str):
        super().__init__(detail)
        self.status = status


def _vjp(case: Case, leaves: list, cotangents: list, create_graph: bool):
    tensors = [gl.tensor(x, requires_grad=True) for x in leaves]
    outs = _outputs(_call(case, tensors, lambda t: t))
    for k, o in enumerate(outs):
        if not isinstance(o, gl.Tensor):
            raise Failure("detach", f"output {k} is a {type(o).__name__}, not a gl.Tensor")
        if not o.requires_grad and o.dtype.kind == "f":
            raise Failure("detach", f"output {k} does not require grad")
    if not any(o.requires_grad for o in outs):  # booleans (signbit): nothing to differentiate
        return tensors, [], outs, None
    seeds = [gl.tensor(c, requires_grad=create_graph) for c in cotangents]
    grads = gl.grad(outs, tensors, seeds, create_graph=create_graph, allow_unused=True)
    grads = [gl.tensor(np.zeros_like(x)) if g is None else g
             for g, x in zip(grads, leaves, strict=True)]
    return tensors, seeds, outs, grads


def check(case: Case) -> None:
    rng = np.random.default_rng(7)
    leaves = _float_leaves(case)
    expected = _numpy_outputs(case, leaves)
    cotangents = [rng.standard_normal(e.shape) for e in expected]
    tensors, seeds, outs, grads = _vjp(case, leaves, cotangents, case.order > 1)
    for k, (o, e) in enumerate(zip(outs, expected, strict=True)):
        if np.shape(o.data) != e.shape or not np.allclose(o.data, e, rtol=1e-9, atol=1e-12,
                                                          equal_nan=True):
            raise Failure("value", f"output {k} differs from numpy's (shape {np.shape(o.data)}"
                          f", numpy's {e.shape})")
    if grads is None:
        return
    direction = [rng.standard_normal(x.shape) for x in leaves]
    numeric = _directional(lambda xs: _numpy_outputs(case, xs), leaves, direction)
    exact = sum(float(np.sum(np.asarray(g.data) * d)) for g, d in zip(grads, direction,
                                                                       strict=True))
    nudged = sum(float(np.sum(c * n)) for c, n in zip(cotangents, numeric, strict=True))
    if not _close(exact, nudged):
        raise Failure("grad", f"vjp {exact:.9g} vs nudge {nudged:.9g}")
    if case.order < 2:
        return
    # second order: s = <vjp(x, u), w>, differentiated with respect to x and u
    weights = [rng.standard_normal(x.shape) for x in leaves]
    live = [(g, w) for g, w in zip(grads, weights, strict=True) if g.requires_grad]
    if not live:
        return  # the vjp does not depend on x or u (a constant-gradient op): nothing to check
    s = sum(gl.sum(g * w) for g, w in live)
    second = gl.grad(s, tensors + seeds, allow_unused=True)
    second = [np.zeros(np.shape(t.data)) if g is None else np.asarray(g.data)
              for g, t in zip(second, tensors + seeds, strict=True)]
    dx = [rng.standard_normal(x.shape) for x in leaves]
    du = [rng.standard_normal(c.shape) for c in cotangents]
    exact2 = sum(float(np.sum(g * d)) for g, d in zip(second, dx + du, strict=True))

    def first_order(values):
        xs, us = values[:len(leaves)], values[len(leaves):]
        _, _, _, gs = _vjp(case, xs, us, False)
        return [np.asarray(g.data, dtype=np.float64) for g in gs]

    numeric2 = _directional(first_order, leaves + cotangents, dx + du)
    nudged2 = sum(float(np.sum(n * w)) for n, w in zip(numeric2, weights, strict=True))
    if not _close(exact2, nudged2):
        raise Failure("grad2", f"second order {exact2:.9g} vs nudge {nudged2:.9g}")


def _unsigned(wv):
    """Eigenvalues and the squares of the eigenvectors: the same whatever each vector's
    sign (numpy's signs are LAPACK's choice; gradledger fixes its own)."""
    w, v = wv
    return w, v * v


def _sorted_eig(wv):
    w, v = wv
    order = np.argsort(w.data if isinstance(w, gl.Tensor) else w)
    return w[order], v[:, order]


# -- the checklist -----------------------------------------------------------------------------


def cases() -> list[Case]:
    C = Case
    out: list[Case] = []
    add = out.append

    # reductions and statistics
    for fname in ("sum", "mean", "prod", "max", "min", "var", "std", "amax", "amin"):
        f = getattr(np, fname)
        add(C(f"{fname}()", lambda x, f=f: f(x), (U(0.5, 1.5, 2, 3),)))
        add(C(f"{fname}(scalar)", lambda x, f=f: f(x), (U(0.5, 1.5),)))
        add(C(f"{fname}(axis=0, keepdims)", lambda x, f=f: f(x, axis=0, keepdims=True),
              (U(0.5, 1.5, 2, 3),)))
        add(C(f"{fname}(axis=1)", lambda x, f=f: f(x, axis=1), (U(0.5, 1.5, 1, 3),)))
        add(C(f"{fname}(axis=(1, 2))", lambda x, f=f: f(x, axis=(1, 2)), (U(0.5, 1.5, 2, 3, 2),)))
    for ddof in (0, 1, 2):
        add(C(f"var(ddof={ddof})", lambda x, d=ddof: np.var(x, ddof=d), (R(3, 4),)))
        add(C(f"std(axis=1, ddof={ddof})", lambda x, d=ddof: np.std(x, axis=1, ddof=d),
              (R(3, 4),)))
    add(C("std of one element", lambda x: np.std(x), (R(1),), order=1))
    add(C("mean of a list of tensors", lambda x: np.mean([x, x + 2]), (R(),)))
    add(C("std of a tuple of tensors", lambda x: np.std((x, x * 3)), (R(),)))
    add(C("var of a list of tensors", lambda x: np.var([x, x * 2]), (R(),)))
    add(C("norm of a list of tensors", lambda x: np.linalg.norm([x, x + 2]), (R(),)))
    add(C("python sum of tensors", lambda x, y: sum([x, y]), (R(3, 2), R(3, 2)), wrt=(0, 1)))
    add(C("cumsum axis=None", lambda x: np.cumsum(x), (R(3, 4),)))
    add(C("cumsum axis=1", lambda x: np.cumsum(x, axis=1), (R(3, 4),)))
    add(C("cumprod axis=None", lambda x: np.cumprod(x), (U(0.5, 1.5, 2, 3),)))
    add(C("cumprod axis=0", lambda x: np.cumprod(x, axis=0), (U(0.5, 1.5, 3, 2),)))
    add(C("prod with a zero", lambda x: np.prod(x * np.array([0.0, 1.0, 1.0])), (R(3),)))
    add(C("nansum", lambda x: np.nansum(x, axis=0), (R(3, 2),)))
    add(C("nanmean", lambda x: np.nanmean(x), (R(3, 2),)))
    add(C("nanmax", lambda x: np.nanmax(x, axis=1), (R(3, 2),)))
    add(C("nanmin", lambda x: np.nanmin(x), (R(3, 2),)))
    add(C("nanvar", lambda x: np.nanvar(x, axis=0), (R(4, 3),)))
    add(C("nanstd", lambda x: np.nanstd(x, ddof=1), (R(4, 3),)))
    add(C("nanprod", lambda x: np.nanprod(x, axis=1), (U(0.5, 1.5, 2, 3),)))
    add(C("nancumsum", lambda x: np.nancumsum(x), (R(2, 3),)))
    add(C("nanmedian", lambda x: np.nanmedian(x, axis=0), (R(3, 4),)))
    add(C("median", lambda x: np.median(x, axis=1), (R(3, 5),)))
    add(C("percentile", lambda x: np.percentile(x, 30.0), (R(7),)))
    add(C("quantile axis", lambda x: np.quantile(x, [0.2, 0.7], axis=0), (R(5, 2),)))
    add(C("average weights", lambda x: np.average(x, axis=1, weights=[1.0, 2.0, 3.0]),
          (R(2, 3),)))
    add(C("average", lambda x: np.average(x), (R(2, 3),)))
    add(C("ptp", lambda x: np.ptp(x, axis=0), (R(3, 2),)))
    add(C("logsumexp-like", lambda x: np.log(np.sum(np.exp(x - np.max(x)))) + np.max(x),
          (R(4),)))
    add(C("cov", lambda x: np.cov(x), (R(3, 5),)))
    add(C("cov rowvar=False", lambda x: np.cov(x, rowvar=False, ddof=0), (R(5, 3),)))
    add(C("cov of two", lambda x, y: np.cov(x, y), (R(5), R(5)), wrt=(0, 1)))
    add(C("corrcoef", lambda x: np.corrcoef(x), (R(3, 6),)))
    add(C("trapezoid", lambda y: np.trapezoid(y, dx=0.5), (R(6),)))
    add(C("gradient 1-D", lambda x: np.gradient(x), (R(6),)))
    add(C("gradient 2-D", lambda x: np.gradient(x), (R(4, 5),)))
    add(C("gradient axis=-1", lambda x: np.gradient(x, axis=-1), (R(3, 4, 5),)))
    add(C("gradient axis tuple", lambda x: np.gradient(x, axis=(0, -1)), (R(3, 4, 5),)))
    add(C("gradient spacing", lambda x: np.gradient(x, 0.5), (R(6),)))
    add(C("interp", lambda y: np.interp([0.5, 1.7, 2.2], [0.0, 1.0, 2.0, 3.0], y), (R(4),)))
    add(C("interp x", lambda x: np.interp(x, [0.0, 1.0, 2.0, 3.0], [1.0, -1.0, 2.0, 0.5]),
          (U(0.1, 2.9, 5),)))

    # elementwise functions
    unary = {
        "sin": (-2, 2), "cos": (-2, 2), "tan": (-1.1, 1.1), "sinh": (-2, 2), "cosh": (-2, 2),
        "tanh": (-2, 2), "arcsin": (-0.9, 0.9), "arccos": (-0.9, 0.9), "arctan": (-2, 2),
        "arcsinh": (-2, 2), "arccosh": (1.1, 4), "arctanh": (-0.9, 0.9), "exp": (-2, 2),
        "exp2": (-2, 2), "expm1": (-2, 2), "log": (0.2, 2), "log2": (0.2, 2),
        "log10": (0.2, 2), "log1p": (0.2, 2), "sqrt": (1, 3), "cbrt": (0.5, 3),
        "square": (-2, 2), "abs": (0.1, 4), "absolute": (0.1, 4), "fabs": (0.1, 4),
        "negative": (-2, 2), "positive": (-2, 2), "reciprocal": (0.5, 2), "sign": (0.1, 2),
        "deg2rad": (-2, 2), "rad2deg": (-2, 2), "degrees": (-2, 2), "radians": (-2, 2),
        "sinc": (0.1, 2), "floor": (-1.4, 1.4), "ceil": (-1.4, 1.4), "round": (0.1, 0.4),
        "rint": (0.1, 0.4), "trunc": (0.1, 0.9), "fix": (0.1, 0.9), "real": (-2, 2),
        "imag": (-2, 2), "conj": (-2, 2), "conjugate": (-2, 2), "angle": (0.1, 2),
        "real_if_close": (-2, 2), "nan_to_num": (-2, 2), "i0": (-2, 2),
        "spacing": (1, 2),
    }
    for fname, (lo, hi) in unary.items():
        f = getattr(np, fname)
        add(C(f"{fname}", lambda x, f=f: f(x), (U(lo, hi, 3, 2),)))
        add(C(f"{fname}(scalar)", lambda x, f=f: 3.0 * f(x), (U(lo, hi),)))
    add(C("signbit (a boolean)", lambda x: np.signbit(x), (R(3, 2),)))
    binary = {
        "add": ((-2, 2), (-2, 2)), "subtract": ((-2, 2), (-2, 2)),
        "multiply": ((-2, 2), (-2, 2)), "divide": ((-2, 2), (0.5, 2)),
        "true_divide": ((-2, 2), (-2, -0.5)), "power": ((0.5, 2), (-2, 2)),
        "float_power": ((0.5, 2), (-2, 2)), "maximum": ((-2, 2), (-2, 2)),
        "minimum": ((-2, 2), (-2, 2)), "fmax": ((-2, 2), (-2, 2)), "fmin": ((-2, 2), (-2, 2)),
        "arctan2": ((-2, 2), (0.2, 2)), "hypot": ((-2, 2), (-2, 2)),
        "logaddexp": ((-2, 2), (-2, 2)), "logaddexp2": ((-2, 2), (-2, 2)),
        "remainder": ((-0.9, 0.9), (0.7, 1.9)), "mod": ((-2, 2), (0.8, 2.1)),
        "fmod": ((0.1, 2), (0.7, 1.9)), "copysign": ((0.5, 2), (-2, 2)),
        "heaviside": ((0.5, 2), (-2, 2)), "floor_divide": ((0.1, 2), (0.7, 1.9)),
    }
    for fname, (la, lb) in binary.items():
        f = getattr(np, fname)
        add(C(f"{fname}", lambda x, y, f=f: f(x, y), (U(*la, 3, 2), U(*lb, 1, 2)), wrt=(0, 1)))
        add(C(f"{fname}(scalars)", lambda x, y, f=f: f(x, y), (U(*la), U(*lb)), wrt=(0, 1)))
    add(C("power(0.0, y)", lambda y: np.power(0.0, y), (U(0.2, 1.0, 3),)))
    add(C("power(x, 0.0) at x = 0", lambda x: np.power(x, 0.0), (np.zeros(3),)))
    add(C("mod(x, y) with x < 0", lambda x, y: np.mod(x, y), (U(-2, -0.1, 3), U(0.7, 1.9, 3)),
          wrt=(0, 1)))
    add(C("mod by negative", lambda x, y: np.mod(x, y), (U(0.1, 2, 3), U(-2, -0.3, 3)),
          wrt=(0, 1)))
    add(C("where", lambda x, y: np.where(np.arange(6).reshape(2, 3) % 2 == 0, x, y),
          (R(2, 3), R(2, 3)), wrt=(0, 1)))
    add(C("where on a tensor mask", lambda x: np.where(x > 0, x, 0.5 * x), (R(2, 3),)))
    add(C("select", lambda x, y: np.select([np.arange(4) < 2, np.arange(4) > 2], [x, y], 1.1),
          (R(4), R(4)), wrt=(0, 1)))
    add(C("clip", lambda x: np.clip(x, 0.1, 1.1), (U(-1, 2, 5),)))
    add(C("clip keywords", lambda x: np.clip(x, a_min=-0.5, a_max=None), (U(-1, 2, 5),)))
    add(C("clip tensor bounds", lambda x, lo: np.clip(x, lo, 2.0), (U(-1, 1, 5), U(-1, 1, 5)),
          wrt=(0, 1)))

    # operators and builtins
    ops = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
           "**": operator.pow, "%": operator.mod, "//": operator.floordiv,
           "@": operator.matmul}
    for sym, f in ops.items():
        a, b = (U(0.5, 2, 3, 3), U(0.5, 2, 3, 3))
        add(C(f"x {sym} y", lambda x, y, f=f: f(x, y), (a, b), wrt=(0, 1)))
        add(C(f"2.0 {sym} y", lambda y, f=f: f(np.full((3, 3), 2.0), y), (b,)))
        add(C(f"x {sym} 1.5", lambda x, f=f: f(x, np.full((3, 3), 1.5) if f is operator.matmul
                                                else 1.5), (a,)))
    add(C("-x", lambda x: -x, (R(3),)))
    add(C("+x", lambda x: +x, (R(3),)))
    add(C("abs(x)", lambda x: abs(x), (U(0.2, 1, 3),)))
    add(C("x ** tensor", lambda x, y: x ** y, (U(1.1, 2, 3), R(3)), wrt=(0, 1)))
    add(C("divmod's mod", lambda x: divmod(x, 0.7)[1], (U(0.1, 2, 3),)))
    add(C("comparison + 0.0", lambda x, y: np.sum(x < y) + 0.0 * np.sum(x), (R(3), R(3))))
    add(C("len(x) and x", lambda x: x * len(x), (R(3, 2),)))

    # ndarray methods and attributes
    meth = [
        ("x.T", lambda x: x.T, (R(3, 4),)),
        ("x.mT", lambda x: x.mT, (R(2, 3, 4),)),
        ("x.dot(y)", lambda x, y: x.dot(y), (R(3, 4), R(4))),
        ("x.sum(axis, keepdims)", lambda x: x.sum(axis=1, keepdims=True), (R(3, 4),)),
        ("x.sum(0)", lambda x: x.sum(0), (R(3, 4),)),
        ("x.mean()", lambda x: x.mean(), (R(3, 4),)),
        ("x.prod(1)", lambda x: x.prod(1), (U(0.5, 1.5, 3, 4),)),
        ("x.max(axis)", lambda x: x.max(axis=0), (R(3, 4),)),
        ("x.min()", lambda x: x.min(), (R(3, 4),)),
        ("x.var(ddof=1)", lambda x: x.var(ddof=1), (R(3, 4),)),
        ("x.std(axis)", lambda x: x.std(axis=0), (R(3, 4),)),
        ("x.reshape(*shape)", lambda x: x.reshape(4, 3), (R(3, 4),)),
        ("x.reshape(tuple)", lambda x: x.reshape((2, 6)), (R(3, 4),)),
        ("x.reshape(-1)", lambda x: x.reshape(-1), (R(3, 4),)),
        ("x.flatten()", lambda x: x.flatten(), (R(3, 4),)),
        ("x.ravel()", lambda x: x.ravel(), (R(3, 4),)),
        ("x.squeeze()", lambda x: x.squeeze(), (R(3, 1, 4),)),
        ("x.squeeze(axis)", lambda x: x.squeeze(1), (R(3, 1, 4),)),
        ("x.clip(a, b)", lambda x: x.clip(-0.5, 0.5), (R(3, 4),)),
        ("x.transpose(1, 0, 2)", lambda x: x.transpose(1, 0, 2), (R(2, 3, 4),)),
        ("x.transpose()", lambda x: x.transpose(), (R(2, 3, 4),)),
        ("x.swapaxes(0, 1)", lambda x: x.swapaxes(0, 1), (R(2, 3),)),
        ("x.cumsum(0)", lambda x: x.cumsum(0), (R(2, 3),)),
        ("x.cumprod()", lambda x: x.cumprod(), (U(0.5, 1.5, 2, 3),)),
        ("x.trace()", lambda x: x.trace(), (R(3, 3),)),
        ("x.diagonal()", lambda x: x.diagonal(), (R(3, 3),)),
        ("x.repeat(2, 0)", lambda x: x.repeat(2, 0), (R(2, 3),)),
        ("x.take([0, 2])", lambda x: x.take([0, 2]), (R(2, 3),)),
        ("x.astype(float64)", lambda x: np.sin(x.astype("float64")), (R(2, 3),)),
        ("x.conj()", lambda x: x.conj(), (R(2, 3),)),
        ("x.real", lambda x: x.real, (R(2, 3),)),
        ("x.round(1)", lambda x: x.round(1) + x, (R(2, 3),)),
        ("x.sort() copy", lambda x: np.sort(x), (R(5),)),
        ("x.argmax() indexing", lambda x: x[x.argmax()], (R(5),)),
        ("x.copy()", lambda x: x.copy(), (R(2, 3),)),
        ("x.dtype/shape/ndim/size", lambda x: x * (x.ndim + x.size + len(x.shape)), (R(2, 3),)),
    ]
    for name, f, args in meth:
        add(C(name, f, args, wrt=tuple(range(len(args)))))

    # products and contractions
    prods = [
        ("dot mat vec", lambda x, y: np.dot(x, y), (R(4, 5), R(5))),
        ("dot vec mat", lambda x, y: np.dot(x, y), (R(4), R(4, 5))),
        ("dot vec vec", lambda x, y: np.dot(x, y), (R(5), R(5))),
        ("dot scalar", lambda x, y: np.dot(x, y), (R(), R(3, 2))),
        ("dot 3-D", lambda x, y: np.dot(x, y), (R(2, 2, 3), R(2, 3, 4))),
        ("inner", lambda x, y: np.inner(x, y), (R(2, 3), R(4, 3))),
        ("inner scalar", lambda x, y: np.inner(x, y), (R(), R(3))),
        ("vdot", lambda x, y: np.vdot(x, y), (R(2, 3), R(2, 3))),
        ("outer", lambda x, y: np.outer(x, y), (R(3), R(4))),
        ("outer of matrices", lambda x, y: np.outer(x, y), (R(2, 2), R(3))),
        ("matmul", lambda x, y: np.matmul(x, y), (R(2, 3), R(3, 4))),
        ("matmul vec", lambda x, y: np.matmul(x, y), (R(3), R(2, 3, 4))),
        ("matmul broadcast", lambda x, y: np.matmul(x, y), (R(1, 2, 2), R(3, 2, 1))),
        ("tensordot axes=1", lambda x, y: np.tensordot(x, y, 1), (R(2, 3), R(3, 4))),
        ("tensordot axes=2", lambda x, y: np.tensordot(x, y, axes=2), (R(4, 2, 2), R(2, 2, 4))),
        ("tensordot axes=0", lambda x, y: np.tensordot(x, y, axes=0), (R(4), R())),
        ("tensordot pairs", lambda x, y: np.tensordot(x, y, axes=[(0, 1), (1, 2)]),
         (R(2, 3), R(4, 2, 3))),
        ("tensordot reordered", lambda x, y: np.tensordot(x, y, axes=[(1, 0), (2, 1)]),
         (R(2, 3, 4), R(2, 2, 3, 4))),
        ("tensordot [[-1], [0]]", lambda x, y: np.tensordot(x, y, axes=[[-1], [0]]),
         (R(2, 6), R(6, 3))),
        ("tensordot [-1, 0]", lambda x, y: np.tensordot(x, y, axes=[-1, 0]),
         (R(2, 6), R(6, 3))),
        ("tensordot [0, 1]", lambda x, y: np.tensordot(x, y, axes=[0, 1]), (R(2), R(2, 2))),
        ("tensordot default", lambda x, y: np.tensordot(x, y), (R(3, 2, 2), R(2, 2))),
        ("kron", lambda x, y: np.kron(x, y), (R(2, 3), R(3, 2))),
        ("kron 1-D with 2-D", lambda x, y: np.kron(x, y), (R(3), R(1, 3))),
        ("kron scalars", lambda x, y: np.kron(x, y), (R(), R())),
        ("cross", lambda x, y: np.cross(x, y), (R(4, 3), R(4, 3))),
        ("cross axisa", lambda x, y: np.cross(x, y, axisa=0, axisb=1, axisc=0),
         (R(3, 3), R(3, 3))),
        ("cross axis", lambda x, y: np.cross(x, y, axis=0), (R(3, 3), R(3, 3))),
        ("einsum ij->ji", lambda x: np.einsum("ij->ji", x), (R(3, 4),)),
        ("einsum matmul", lambda x, y: np.einsum("ij,jk->ik", x, y), (R(2, 3), R(3, 4))),
        ("einsum ellipsis", lambda x, y: np.einsum("...ij,...jk->...ik", x, y),
         (R(2, 2, 3), R(3, 4))),
        ("einsum leading zero", lambda x, y: np.einsum("...ij,...jk->...ik", x, y),
         (R(0, 2, 3), R(0, 3, 4))),
        ("einsum ellipsis tail", lambda x, y: np.einsum("jk...,lj...->lk...", x, y),
         (R(3, 2, 4), R(2, 3, 4))),
        ("einsum ellipsis centre", lambda x, y: np.einsum("j...k,lj...->lk...", x, y),
         (R(2, 2, 2), R(2, 2, 2))),
        ("einsum three", lambda x, y, z: np.einsum("ijk,lji,lli->lki", x, y, z),
         (R(3, 4, 4), R(4, 4, 3), R(4, 4, 3))),
        ("einsum implicit", lambda x, y: np.einsum("ij,k", x, y), (R(3, 4), R(3))),
        ("einsum naked sum", lambda x, y: np.einsum("k,nk->", x, y), (R(5), R(4, 5))),
        ("einsum ...,...", lambda x, y: np.einsum("...,...->...", x, y), (R(3, 4), R(3, 4))),
        ("einsum sublist", lambda x: np.einsum(x, [0, 1], [1, 0]), (R(3, 4),)),
        ("einsum sublist tuple", lambda x: np.einsum(x, (0, 1), (1, 0)), (R(3, 4),)),
        ("einsum sublist two", lambda x, y: np.einsum(x, [0, 1], y, [1, 2], [0, 2]),
         (R(2, 3), R(3, 4))),
        ("einsum sublist ellipsis",
         lambda x, y: np.einsum(x, [Ellipsis, 0, 1], y, [Ellipsis, 1, 2], [Ellipsis, 0, 2]),
         (R(2, 2, 3), R(3, 4))),
        ("einsum sublist repeated",
         lambda x, y: np.einsum(x, (0, 1, 2), y, (3, 1, 0), (3, 2, 0)),
         (R(3, 4, 4), R(4, 4, 3))),
        ("multi_dot", lambda x, y: np.linalg.multi_dot([x, y, x.T]), (R(2, 3), R(3, 3))),
        ("vecdot", lambda x, y: np.vecdot(x, y), (R(2, 3), R(2, 3))),
        ("convolve", lambda x, y: np.convolve(x, y), (R(4), R(3))),
        ("correlate", lambda x, y: np.correlate(x, y, "full"), (R(4), R(3))),
    ]
    for name, f, args in prods:
        add(C(name, f, args, wrt=tuple(range(len(args)))))
    add(C("gl.einsum sublist", lambda x: gl.einsum(x, [0, 1], [1, 0]), (R(3, 4),),
          reference=lambda x: np.einsum(x, [0, 1], [1, 0])))
    add(C("gl.einsum sublist two", lambda x, y: gl.einsum(x, [0, 1], y, [1, 2], [0, 2]),
          (R(2, 3), R(3, 4)), wrt=(0, 1),
          reference=lambda x, y: np.einsum(x, [0, 1], y, [1, 2], [0, 2])))

    # every pairing of operand ranks, as numpy-gradient suites try them
    for fname, lefts, rights in (
            ("kron", [(), (3,), (2, 2), (3, 1), (1, 3)], [(), (2,), (2, 2), (2, 1), (1, 2)]),
            ("inner", [(), (3,), (2, 3)], [(), (3,), (4, 3)]),
            ("dot", [(), (3,), (2, 3), (2, 2, 3)], [(), (3,), (3, 4), (2, 3, 4)]),
            ("matmul", [(3,), (2, 3), (2, 2, 3)], [(3,), (3, 4), (2, 3, 4)]),
            ("outer", [(3,), (2, 2)], [(3,), ()]),
            ("maximum", [(1,), (1, 4), (3, 4)], [(1,), (1, 4), (3, 4)]),
            ("fmin", [(1,), (1, 4), (3, 4)], [(1,), (1, 4), (3, 4)])):
        f = getattr(np, fname)
        for a in lefts:
            for b in rights:
                if fname in ("inner", "matmul") and (a and b) and a[-1] != b[-1 if fname ==
                                                                        "inner" else 0]:
                    continue
                if fname == "matmul" and len(b) > 1 and a[-1] != b[-2]:
                    continue
                if fname == "dot" and a and len(b) > 1 and a[-1] != b[-2]:
                    continue
                if fname == "dot" and a and len(b) == 1 and a[-1] != b[0]:
                    continue
                add(C(f"{fname} {a} {b}", lambda x, y, f=f: f(x, y), (R(*a), R(*b)),
                      wrt=(0, 1)))
    add(C("maximum(x, x) tie", lambda x: np.maximum(x, x), (R(3),)))
    add(C("fmax tie with itself", lambda x: np.fmax(x, x * 1.0), (R(3),)))
    add(C("max of a tie", lambda x: np.max(np.stack([x, x])), (R(),)))
    add(C("tensordot kwargs by position", lambda x: np.tensordot(x * np.ones((2, 2)),
                                                                 x * np.ones((2, 2)), 2),
          (R(),)))
    add(C("solve batched vector as column", lambda a: np.linalg.solve(
        a, np.ones((3, 4))[..., None])[..., 0], (PSD(4, (3,)),)))
    add(C("inv 4-D batch", lambda a: np.linalg.inv(a), (PSD(3, (2, 2)),)))
    add(C("slogdet of a negative det", lambda a: np.linalg.slogdet(-a)[1], (PSD(3),)))
    add(C("norm axis=0 of 3-D", lambda x: np.linalg.norm(x, axis=0), (R(3, 4, 2),)))
    add(C("svd tuple sum", lambda a: sum(np.sum(t) for t in np.linalg.svd(
        a, full_matrices=False)), (R(3, 3),)))

    # shapes, joining, splitting, indexing
    shapes = [
        ("reshape", lambda x: np.reshape(x, (4, 3)), (R(3, 4),)),
        ("ravel", lambda x: np.ravel(x), (R(3, 4),)),
        ("squeeze", lambda x: np.squeeze(x), (R(3, 1, 4),)),
        ("expand_dims", lambda x: np.expand_dims(x, 2), (R(3, 4),)),
        ("expand_dims tuple", lambda x: np.expand_dims(x, (0, 2)), (R(3, 4),)),
        ("transpose axes", lambda x: np.transpose(x, [2, 0, 1]), (R(2, 3, 4),)),
        ("transpose", lambda x: np.transpose(x), (R(2, 3, 4),)),
        ("moveaxis", lambda x: np.moveaxis(x, 0, 2), (R(2, 3, 4),)),
        ("swapaxes", lambda x: np.swapaxes(x, 0, 2), (R(2, 3, 4),)),
        ("rollaxis", lambda x: np.rollaxis(x, 2, 0), (R(2, 3, 4),)),
        ("flip", lambda x: np.flip(x, 1), (R(2, 3),)),
        ("flipud", lambda x: np.flipud(x), (R(2, 3),)),
        ("fliplr", lambda x: np.fliplr(x), (R(2, 3),)),
        ("rot90", lambda x: np.rot90(x), (R(2, 3),)),
        ("rot90 k=3 axes", lambda x: np.rot90(x, 3, axes=(1, 2)), (R(2, 3, 4),)),
        ("roll axis", lambda x: np.roll(x, 2, axis=1), (R(3, 4),)),
        ("roll flat", lambda x: np.roll(x, -1), (R(3, 4),)),
        ("tile", lambda x: np.tile(x, (2, 3)), (R(1, 2),)),
        ("tile int", lambda x: np.tile(x, 2), (R(3),)),
        ("tile more reps", lambda x: np.tile(x, (3, 2, 1)), (R(1, 2),)),
        ("repeat axis", lambda x: np.repeat(x, 2, axis=1), (R(2, 3, 2),)),
        ("repeat flat", lambda x: np.repeat(x, 2), (R(2, 3),)),
        ("repeat zero", lambda x: np.repeat(x, 0, axis=0), (R(2, 3),)),
        ("repeat per element", lambda x: np.repeat(x, [1, 0, 2], axis=1), (R(2, 3),)),
        ("concatenate", lambda x: np.concatenate((np.ones((2, 3)), x, x), axis=1), (R(2, 2),)),
        ("concatenate positional axis", lambda x, y: np.concatenate([x, y], 1),
         (R(2, 2), R(2, 1))),
        ("concatenate axis=None", lambda x, y: np.concatenate([x, y], axis=None),
         (R(2, 2), R(3))),
        ("stack", lambda x, y: np.stack([x, y], axis=1), (R(3), R(3))),
        ("vstack", lambda x, y: np.vstack((x, y)), (R(2, 3), R(1, 3))),
        ("vstack 1-D", lambda x, y: np.vstack([x, y]), (R(3), R(3))),
        ("vstack of one array", lambda x: np.vstack(x), (R(3),)),
        ("hstack", lambda x, y: np.hstack((x, y)), (R(2, 3), R(2, 1))),
        ("hstack of one array", lambda x: np.hstack(x), (R(2, 3),)),
        ("dstack", lambda x, y: np.dstack((x, y)), (R(2, 3), R(2, 3))),
        ("column_stack", lambda x, y: np.column_stack((x, y)), (R(3), R(3, 2))),
        ("row_stack", lambda x, y: getattr(np, "row_stack", np.vstack)((x, y)),
         (R(3), R(3))),
        ("block", lambda x, y: np.block([[x, y], [y, x]]), (R(2, 2), R(2, 2))),
        ("append", lambda x, y: np.append(x, y), (R(3), R())),
        ("append axis", lambda x, y: np.append(x, y, axis=0), (R(2, 3), R(1, 3))),
        ("split", lambda x: np.split(x, 2, axis=1), (R(2, 4),)),
        ("split indices", lambda x: np.split(x, [1, 3]), (R(5, 2),)),
        ("array_split", lambda x: np.array_split(x, 3), (R(7),)),
        ("hsplit", lambda x: np.hsplit(x, [1, 2]), (R(3, 4),)),
        ("vsplit", lambda x: np.vsplit(x, 2), (R(4, 3),)),
        ("dsplit", lambda x: np.dsplit(x, [1]), (R(2, 2, 3),)),
        ("atleast_1d", lambda x: np.atleast_1d(x), (R(),)),
        ("atleast_2d", lambda x: np.atleast_2d(x), (R(3),)),
        ("atleast_3d", lambda x: np.atleast_3d(x), (R(3, 2),)),
        ("broadcast_to", lambda x: np.broadcast_to(x, (3, 2)), (R(2),)),
        ("broadcast_arrays", lambda x, y: np.broadcast_arrays(x, y), (R(3, 1), R(2))),
        ("meshgrid", lambda x, y: np.meshgrid(x, y), (R(3), R(2))),
        ("meshgrid ij", lambda x, y: np.meshgrid(x, y, indexing="ij"), (R(3), R(2))),
        ("diff", lambda x: np.diff(x), (R(5),)),
        ("diff n=2 axis=0", lambda x: np.diff(x, n=2, axis=0), (R(5, 3),)),
        ("diff of one", lambda x: np.diff(x, axis=0), (R(1, 2),)),
        ("ediff1d", lambda x: np.ediff1d(x), (R(2, 3),)),
        ("pad constant", lambda x: np.pad(x, 2), (R(2, 2),)),
        ("pad ((1,2),(3,4))", lambda x: np.pad(x, ((1, 2), (3, 4))), (R(2, 2),)),
        ("pad (3,)", lambda x: np.pad(x, (3,)), (R(2, 2),)),
        ("pad ((3,2),)", lambda x: np.pad(x, ((3, 2),), "constant"), (R(2, 2),)),
        ("pad zeros", lambda x: np.pad(x, ((0, 0), (0, 0))), (R(2, 2),)),
        ("pad value", lambda x: np.pad(x, 1, constant_values=2.0), (R(2, 2),)),
        ("pad edge", lambda x: np.pad(x, 1, mode="edge"), (R(2, 3),)),
        ("pad reflect", lambda x: np.pad(x, 2, mode="reflect"), (R(4, 3),)),
        ("pad symmetric", lambda x: np.pad(x, 1, mode="symmetric"), (R(3, 3),)),
        ("pad wrap", lambda x: np.pad(x, 1, mode="wrap"), (R(3, 3),)),
        ("trace", lambda x: np.trace(x), (R(3, 4),)),
        ("trace offset", lambda x: np.trace(x, offset=-1), (R(4, 3),)),
        ("trace 3-D", lambda x: np.trace(x, 1), (R(3, 4, 5),)),
        ("diag of matrix", lambda x: np.diag(x, k=1), (R(4, 4),)),
        ("diag of vector", lambda x: np.diag(x, -1), (R(4),)),
        ("diagonal axes", lambda x: np.diagonal(x, axis1=-1, axis2=-2), (R(3, 4, 4),)),
        ("diagflat", lambda x: np.diagflat(x), (R(3),)),
        ("tril", lambda x: np.tril(x, k=-1), (R(4, 4),)),
        ("triu 3-D", lambda x: np.triu(x, 1), (R(4, 4, 3),)),
        ("triu_indices gather", lambda x: x[np.triu_indices(3)], (R(3, 3),)),
        ("tril_indices_from gather", lambda x: x[np.tril_indices_from(np.ones((3, 3)))],
         (R(3, 3),)),
        ("diag_indices gather", lambda x: x[np.diag_indices(3)], (R(3, 3),)),
        ("index ints", lambda x: x[1, 0, 2], (R(2, 3, 4),)),
        ("index slices", lambda x: x[::-1, 1:3, :], (R(2, 4, 4),)),
        ("index list", lambda x: x[[0, 1, 0]], (R(3, 2),)),
        ("index mixed", lambda x: x[1, 1:, [1, 3]], (R(2, 3, 4),)),
        ("index mask", lambda x: x[x > 0], (R(4, 3),)),
        ("index None, Ellipsis", lambda x: x[None, ..., 1], (R(3, 2),)),
        ("take", lambda x: np.take(x, [2, 0, 2], axis=1), (R(2, 3),)),
        ("take flat", lambda x: np.take(x, [4, 0]), (R(2, 3),)),
        ("take_along_axis", lambda x: np.take_along_axis(x, np.array([[0, 2], [1, 1]]), 1),
         (R(2, 3),)),
        ("compress", lambda x: np.compress([True, False, True], x, axis=1), (R(2, 3),)),
        ("extract", lambda x: np.extract(np.arange(6).reshape(2, 3) > 2, x), (R(2, 3),)),
        ("sort", lambda x: np.sort(x), (R(7),)),
        ("sort axis=0", lambda x: np.sort(x, axis=0), (R(4, 3),)),
        ("sort axis=None", lambda x: np.sort(x, axis=None), (R(4, 3),)),
        ("partition", lambda x: np.partition(x, 3), (R(7),)),
        ("partition 2-D", lambda x: np.partition(x, 1, axis=0), (R(4, 3),)),
        ("fftshift", lambda x: np.fft.fftshift(x), (R(5),)),
        ("flatnonzero gather", lambda x: x.ravel()[np.flatnonzero(np.arange(6) % 2)],
         (R(2, 3),)),
        ("zeros_like + x", lambda x: np.zeros_like(x) + x, (R(2, 3),)),
        ("ones_like * x", lambda x: np.ones_like(x) * x, (R(2, 3),)),
        ("full_like + x", lambda x: np.full_like(x, 2.0) + x, (R(2, 3),)),
        ("empty_like shape", lambda x: x + 0.0 * np.zeros(np.shape(x)), (R(2, 3),)),
        ("linspace", lambda x, y: np.linspace(x, y, 5), (R(), R())),
        ("linspace num=1", lambda x, y: np.linspace(x, y, 1), (R(), R())),
        ("linspace num=0", lambda x, y: np.linspace(x, y, 0) + 0.0, (R(), R())),
        ("copy", lambda x: np.copy(x), (R(2, 3),)),
        ("asarray", lambda x: np.asarray(x) * 1.0, (R(2, 3),)),
        ("array of tensors", lambda x: np.array([x, x * 2.0, x + 1.0]), (R(),)),
        ("array of arrays", lambda x: np.array([[2 * x, x + 1], [x, x]]), (R(3, 2),)),
        ("r_", lambda x: np.r_[x, x], (R(3),)),
        ("c_", lambda x: np.c_[x, np.ones((3, 2)), x], (R(3, 2),)),
        ("select default", lambda x: np.select([x > 0], [x], default=0.5), (R(4),)),
        ("nan_to_num of infs", lambda x: np.sin(np.nan_to_num(
            x + np.array([0.0, np.nan, np.inf, -np.inf]))), (R(4),)),
    ]
    for name, f, args in shapes:
        add(C(name, f, args, wrt=tuple(range(len(args)))))

    # linear algebra
    sym_in = lambda f: lambda a: f((np.tril(a) + np.swapaxes(np.tril(a), -1, -2)) / 2)  # noqa: E731
    lin = [
        ("inv", lambda a: np.linalg.inv(a), (PSD(4),)),
        ("inv batched", lambda a: np.linalg.inv(a), (PSD(3, (2,)),)),
        ("solve", lambda a, b: np.linalg.solve(a, b), (PSD(4), R(4, 2))),
        ("solve vector", lambda a, b: np.linalg.solve(a, b), (PSD(4), R(4))),
        ("solve batched", lambda a, b: np.linalg.solve(a, b), (PSD(3, (2,)), R(2, 3, 4))),
        ("det", lambda a: np.linalg.det(a), (R(4, 4),)),
        ("det batched", lambda a: np.linalg.det(a), (R(3, 3, 3),)),
        ("slogdet", lambda a: np.linalg.slogdet(a)[1], (R(4, 4),)),
        ("slogdet batched sum", lambda a: np.sum(np.linalg.slogdet(a)[1]), (PSD(3, (2,)),)),
        ("slogdet named", lambda a: np.linalg.slogdet(a).logabsdet, (PSD(3),)),
        ("pinv tall", lambda a: np.linalg.pinv(a), (R(5, 3),)),
        ("pinv wide batched", lambda a: np.linalg.pinv(a), (R(2, 3, 5),)),
        ("pinv low rank", lambda a: np.linalg.pinv(a.T @ a), (R(5, 3),)),
        ("matrix_power", lambda a: np.linalg.matrix_power(a, 3), (R(3, 3),)),
        ("matrix_power -2", lambda a: np.linalg.matrix_power(a, -2), (PSD(3),)),
        ("norm", lambda x: np.linalg.norm(x), (R(3, 4),)),
        ("norm vector", lambda x: np.linalg.norm(x), (R(6),)),
        ("norm axis", lambda x: np.linalg.norm(x, axis=1), (R(3, 4, 2),)),
        ("norm axis pair", lambda x: np.linalg.norm(x, axis=(0, 1)), (R(3, 4, 2),)),
        ("norm ord=3", lambda x: np.linalg.norm(x, ord=3), (R(6),)),
        ("norm ord=4", lambda x: np.linalg.norm(x, ord=4), (R(6),)),
        ("norm ord=1", lambda x: np.linalg.norm(x, ord=1), (R(6),)),
        ("norm ord=inf", lambda x: np.linalg.norm(x, ord=np.inf), (R(6),)),
        ("norm nuc", lambda x: np.linalg.norm(x, ord="nuc"), (R(4, 3),)),
        ("norm nuc axis", lambda x: np.linalg.norm(x, "nuc", axis=(0, 1)), (R(4, 3, 2),)),
        ("norm ord=2 matrix", lambda x: np.linalg.norm(x, 2), (R(4, 3),)),
        ("norm fro keepdims", lambda x: np.linalg.norm(x, "fro", keepdims=True), (R(4, 3),)),
        ("eigh, vectors as numpy's signs", lambda a: np.linalg.eigh(a), (SYM(4),)),
        ("eigh", lambda a: _unsigned(np.linalg.eigh(a)), (SYM(4),)),
        ("eigh of any matrix (lower)", lambda a: _unsigned(np.linalg.eigh(a)), (R(4, 4),)),
        ("eigh upper", lambda a: _unsigned(np.linalg.eigh(a, "U")), (R(4, 4),)),
        ("eigh UPLO keyword", lambda a: _unsigned(np.linalg.eigh(a, UPLO="U")), (R(4, 4),)),
        ("eigh batched", lambda a: _unsigned(np.linalg.eigh(a)), (PSD(4, (2, 3)),)),
        ("eig real spectrum, sorted", lambda a: _unsigned(_sorted_eig(np.linalg.eig(a))),
         (PSD(3) + 0.1 * R(3, 3),)),
        ("eigh named", lambda a: np.linalg.eigh(a).eigenvalues, (SYM(3),)),
        ("eigvalsh", lambda a: np.linalg.eigvalsh(a), (SYM(4),)),
        ("eig real spectrum", lambda a: np.linalg.eig(a), (PSD(3) + 0.1 * R(3, 3),)),
        ("eigvals real spectrum", lambda a: np.linalg.eigvals(a), (PSD(3) + 0.1 * R(3, 3),)),
        ("eigvals real spectrum, sorted", lambda a: np.sort(np.linalg.eigvals(a)),
         (PSD(3) + 0.1 * R(3, 3),)),
        ("cholesky", sym_in(np.linalg.cholesky), (PSD(4),)),
        ("cholesky batched", sym_in(np.linalg.cholesky), (PSD(3, (2,)),)),
        ("cholesky reparameterisation",
         sym_in(lambda a: np.linalg.norm(np.dot(np.linalg.cholesky(a), np.arange(4.0)))),
         (PSD(4),)),
        ("qr", lambda a: np.linalg.qr(a), (R(4, 3),)),
        ("qr square batched", lambda a: np.linalg.qr(a), (R(2, 3, 3),)),
        ("qr r", lambda a: np.linalg.qr(a, mode="r"), (R(4, 3),)),
        ("svd wide", lambda a: np.linalg.svd(a, full_matrices=False), (R(3, 5),)),
        ("svd tall batched", lambda a: np.linalg.svd(a, full_matrices=False), (R(2, 5, 3),)),
        ("svd square", lambda a: np.linalg.svd(a, full_matrices=False), (R(4, 4),)),
        ("svd compute_uv=False", lambda a: np.linalg.svd(a, full_matrices=False,
                                                          compute_uv=False), (R(5, 3),)),
        ("svd named", lambda a: np.linalg.svd(a, full_matrices=False).S, (R(4, 3),)),
        ("svdvals", lambda a: np.linalg.svdvals(a), (R(4, 3),)),
        ("lstsq", lambda a, b: np.linalg.lstsq(a, b, rcond=None)[0], (R(5, 3), R(5))),
        ("cond", lambda a: np.linalg.cond(a), (R(3, 3),)),
        ("cond fro", lambda a: np.linalg.cond(a, "fro"), (PSD(3),)),
        ("tensorsolve", lambda a, b: np.linalg.tensorsolve(a, b),
         (PSD(4).reshape(2, 2, 4), R(2, 2))),
        ("tensorinv", lambda a: np.linalg.tensorinv(a, ind=1), (PSD(4),)),
        ("outer then det", lambda x: np.linalg.det(np.outer(x, x) + np.eye(3)), (R(3),)),
    ]
    for name, f, args in lin:
        add(C(name, f, args, wrt=tuple(range(len(args)))))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--order", type=int, default=2, choices=(1, 2))
    parser.add_argument("--only", default=None, help="run the cases whose name has this")
    parser.add_argument("-v", "--verbose", action="store_true", help="show each error")
    args = parser.parse_args(argv)
    np.seterr(all="ignore")
    counts: dict[str, list[str]] = {}
    for case in cases():
        if args.only and args.only not in case.name:
            continue
        case.order = min(case.order, args.order)
        try:
            check(case)
            status, detail = "ok", ""
        except Failure as failure:
            status, detail = failure.status, str(failure)
        except Exception as error:  # noqa: BLE001 - any exception means "not reached"
            status = "error"
            detail = f"{type(error).__name__}: {str(error).splitlines()[0][:150]}"
            if args.verbose:
                traceback.print_exc()
        counts.setdefault(status, []).append(f"{case.name}: {detail}" if detail else case.name)
    total = sum(len(v) for v in counts.values())
    for status in ("value", "grad", "grad2", "detach", "error"):
        for line in counts.get(status, []):
            print(f"{status:6s}  {line}")
    print()
    ok = len(counts.get("ok", []))
    print(f"reach: {ok}/{total} cases ok ({100 * ok / max(total, 1):.1f}%), order {args.order}; "
          + ", ".join(f"{k} {len(v)}" for k, v in sorted(counts.items()) if k != "ok"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
