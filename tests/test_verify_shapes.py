"""The verifier's shapes, decoded from one drawn byte string (sampling.decode_shapes): they
fit the signature as numpy runs it, zero bytes give the smallest, and random bytes reach
what hypothesis's mutually_broadcastable_shapes reaches (batches, broadcasting against 1,
operands of different ranks, a missing optional dimension)."""

import numpy as np
import pytest
from gradledger.signature import parse_signature
from gradledger.verify.sampling import MAX_DIMS, MAX_SIDE, decode_shapes


def _byte_count(sig, broadcast: bool) -> int:
    names = {d.rstrip("?") for dims in (*sig.inputs, *sig.outputs) if dims != "*"
             for d in dims if not d.rstrip("?").isdigit()}
    return (2 * len(names) + MAX_DIMS * (1 + len(sig.inputs)) if broadcast
            else 1 + MAX_DIMS + len(names))


def _draws(text: str, count: int = 3000, broadcast: bool = True) -> list:
    sig = parse_signature(text)
    rng = np.random.default_rng(0)
    size = _byte_count(sig, broadcast)
    return [decode_shapes(sig, rng.integers(0, 256, size, dtype=np.uint8), broadcast)
            for _ in range(count)]


def test_elementwise_shapes_broadcast_as_numpy_does_and_reach_every_kind():
    shapes = _draws("(),()->()")
    for a, b in shapes:
        np.add(np.ones(a), np.ones(b))  # raises if they do not broadcast
        assert len(a) <= MAX_DIMS and len(b) <= MAX_DIMS
        assert all(1 <= n <= MAX_SIDE for n in a + b)
    assert any(len(a) != len(b) for a, b in shapes)  # different ranks
    assert any(1 in a and len(a) == len(b) and a != b for a, b in shapes)  # a 1 against n
    assert any(len(a) == MAX_DIMS for a, _ in shapes)
    assert sum(a == b == () for a, b in shapes) < len(shapes) / 2


def test_matmul_shapes_run_through_numpy_matmul_with_batches_and_1d_operands():
    shapes = _draws("(n?,k),(k,m?)->(n?,m?)")
    for a, b in shapes:
        np.matmul(np.ones(a), np.ones(b))  # raises if numpy reads them otherwise
    assert any(len(a) == 1 for a, _ in shapes) and any(len(b) == 1 for _, b in shapes)
    assert any(len(a) > 2 and len(b) > 2 for a, b in shapes)  # batched on both sides


def test_square_core_dimensions_stay_square():
    for (a,) in _draws("(m,m)->()"):
        assert a[-1] == a[-2]
        np.linalg.det(np.eye(a[-1]) + np.zeros(a))


def test_any_shape_operands_share_one_shape_of_up_to_max_dims():
    shapes = _draws("(*),(*)->(*)", broadcast=False)
    assert all(a == b and len(a) <= MAX_DIMS for a, b in shapes)
    assert {len(a) for a, _ in shapes} == set(range(MAX_DIMS + 1))


@pytest.mark.parametrize("text, broadcast, smallest", [
    ("(),()->()", True, ((), ())),
    ("(n?,k),(k,m?)->(n?,m?)", True, ((1,), (1,))),
    ("(m,m)->()", True, ((1, 1),)),
    ("(*)->(*)", False, ((),)),
])
def test_zero_bytes_decode_to_the_smallest_shapes(text, broadcast, smallest):
    sig = parse_signature(text)
    assert decode_shapes(sig, bytes(_byte_count(sig, broadcast)), broadcast) == smallest


# -- the same seed draws the same examples, however a plugin is installed (issue 18) -------


def test_while_the_verifier_draws_hypothesis_mixes_in_no_constants_from_local_source():
    from gradledger.verify import sampling
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from hypothesis.internal.conjecture import providers

    seen = []

    @st.composite
    def probe(draw):
        seen.append(len(providers._get_local_constants().floats))
        return draw(st.integers(0, 3))

    @settings(max_examples=3, database=None)
    @given(st.data())
    def draws(data):
        sampling._drawing += 1
        try:
            data.draw(probe())
        finally:
            sampling._drawing -= 1

    draws()
    assert seen and set(seen) == {0}
    outside = providers._get_local_constants()
    assert outside is not None and not sampling._drawing


def test_one_seed_draws_the_same_examples_whatever_constants_local_source_holds(monkeypatch):
    """An editable install makes a plugin's source local: its literals must not move draws
    (and they would, without the switch: the control run below)."""
    from gradledger.loader import host
    from gradledger.verify import checks, sampling, verify_op
    from hypothesis.internal.conjecture import providers

    drawn = []

    class Recording(checks.Checker):
        def __init__(self, op, example, stats=None):
            drawn.append(tuple(np.ravel(a).tobytes() for a in example.arrays))
            super().__init__(op, example, stats)

    monkeypatch.setattr(checks, "Checker", Recording)  # the engine looks it up per run

    def draws(seed):
        drawn.clear()
        host.reset()
        verify_op("sin", examples=40, seed=seed)
        return list(drawn)

    first = draws(5)
    planted = providers._local_constants
    monkeypatch.setattr(providers, "_local_constants", type(planted)(
        integers=type(planted.integers)(range(7, 40)),
        floats=type(planted.floats)([1.2345, -987.25, 3e-9, 55.5], key=providers.float_to_int),
        bytes=type(planted.bytes)(), strings=type(planted.strings)()))
    assert draws(5) == first
    monkeypatch.setattr(sampling, "_drawing", -1)  # control: the switch off while drawing
    monkeypatch.setattr(providers, "CONSTANTS_CACHE", providers.LRUCache(1024))
    assert draws(5) != first
