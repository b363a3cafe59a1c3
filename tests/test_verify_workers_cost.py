"""What one op's verification costs stays bounded: stretched examples of ops whose output is
the product of their operands (outer, kron) do not grow to millions of elements."""

import numpy as np
import pytest
from gradledger.extend import Op
from gradledger.loader import host
from gradledger.signature import parse_signature
from gradledger.verify import sampling
from hypothesis import given, settings


def _outer_vjp(out_grad, a, b, out):
    g = np.reshape(out_grad, (np.size(a), np.size(b)))
    return (np.reshape(g @ np.ravel(b), np.shape(a)), np.reshape(np.ravel(a) @ g, np.shape(b)))


OUTER = Op("cost_outer", np.outer, vjp=_outer_vjp, signature="(*),(*)->(*)")


def _same_shapes_only(a, b):
    if np.shape(a) != np.shape(b):
        raise ValueError(f"x and y must have one shape, got {np.shape(a)} and {np.shape(b)}")
    return a * b


ALIKE = Op("cost_alike", _same_shapes_only, vjp=lambda g, a, b, out: (g * b, g * a),
           signature="(*),(*)->(*)")
STAR2 = parse_signature("(*),(*)->(*)")


@pytest.mark.parametrize("choice, kept", [(0, 0), (1, 1), (4, 0)])
def test_an_outer_product_keeps_one_operand_long_and_the_other_of_size_one(choice, kept):
    shapes = sampling._one_long_operand(OUTER, STAR2, ((1237,), (1237,)), {}, choice)
    assert shapes[kept] == (1237,)
    assert shapes[1 - kept] == (1,)


def test_an_op_that_wants_its_operands_alike_keeps_them_stretched_together():
    shapes = ((2, 1300), (2, 1300))
    assert sampling._one_long_operand(ALIKE, STAR2, shapes, {}, 0) == shapes


def test_small_operands_are_left_as_drawn():
    shapes = ((3, 4), (3, 4))
    assert sampling._one_long_operand(OUTER, STAR2, shapes, {}, 0) == shapes


def test_builtin_outer_examples_reach_past_1100_elements_and_stay_small():
    """Drawn as `gradledger verify` draws them (derandomized, 200 examples): some example
    has an axis past 1,100 elements (issue 18: blocked code paths), and no output of
    np.outer holds more than LARGE_CAP elements (it reached 7 million, 800 MiB, before)."""
    host.ensure_loaded()
    op = host.lookup("outer")
    seen = []

    @settings(max_examples=200, derandomize=True, database=None, deadline=None)
    @given(sampling.example_strategy(op))
    def collect(example):
        seen.append([np.shape(a) for a in example.arrays])

    collect()
    longest = max(max((max(s, default=1) for s in shapes), default=1) for shapes in seen)
    largest_output = max(int(np.prod(a)) * int(np.prod(b)) for a, b in seen)
    assert longest >= 1100
    assert largest_output <= sampling.LARGE_CAP


def _sum_squares(x, axis=-1):
    return np.sum(x * x, axis=axis)


def _vjp_assumes_none(out_grad, x, out, axis=None):
    if axis is None:  # the rule's default differs from the forward's (-1)
        return (2.0 * x * out_grad,)
    return (2.0 * x * np.expand_dims(out_grad, axis),)


def _vjp(out_grad, x, out, axis=-1):
    return (2.0 * x * np.expand_dims(out_grad, axis),)


@pytest.mark.parametrize("vjp, status", [(_vjp_assumes_none, "FAIL"), (_vjp, "PASS")])
def test_the_defaults_variant_reuses_the_plain_call_when_the_default_was_drawn(vjp, status):
    """Only the default (-1) is ever drawn, so the call with it given is the plain call
    (not made again): a rule that assumes another default is still caught, its twin
    passes."""
    from gradledger.verify import verify_op

    op = Op("cost_sum_squares", _sum_squares, vjp=vjp, signature="(m,n)->(*)",
            params={"axis": [-1]})
    report = verify_op(op, examples=30)
    assert report.status == status
    if status == "FAIL":
        assert report.failure.check == "defaults"
        assert "left out" in report.failure.message


def _total_vjp(g, *arrays, out):
    return (g,) * len(arrays)  # right for operands alike, as they are drawn


def test_an_elementwise_op_keeps_its_operands_alike_even_where_its_forward_broadcasts():
    """Its rule may assume operands of one shape (the drawing contract): only ops whose
    output grows faster than their operands are narrowed."""
    total = Op("cost_total", lambda *xs: sum(xs[1:], xs[0]), vjp=_total_vjp,
               signature="[(*)]->(*)")
    shapes = ((1237,), (1237,), (1237,))
    sig = sampling.flat_signature(total.sig, 3)
    assert sampling._one_long_operand(total, sig, shapes, {}, 0) == shapes
    elementwise = Op("cost_mul", np.multiply, vjp=lambda g, a, b, out: (g * b, g * a),
                     signature="(*),(*)->(*)")
    assert sampling._one_long_operand(elementwise, STAR2, ((1237,), (1237,)), {}, 0) == (
        (1237,), (1237,))


def test_no_check_of_an_outer_product_makes_an_output_past_the_samplers_cap():
    """The sampler keeps outer's second operand small when the first is stretched; the
    accumulation row's op(x, x) stretched both again (a 1,247 x 6 input made 56 million
    numbers, 2.6 GiB). Every forward call the verifier makes, op(x, x) included, stays
    within the cap, while the drawn examples still reach past 1,100 elements."""
    from gradledger.verify import verify_op

    sizes = []

    def spying_outer(a, b):
        out = np.outer(a, b)
        sizes.append((out.size, max(np.size(a), np.size(b))))
        return out

    op = Op("cost_spying_outer", spying_outer, vjp=_outer_vjp, signature="(*),(*)->(*)")
    report = verify_op(op, examples=200)
    assert report.status == "PASS", str(report)
    assert max(longest for _, longest in sizes) >= 1100
    assert max(size for size, _ in sizes) <= sampling.LARGE_CAP
