"""The global generator: gl.manual_seed makes every draw without an rng reproducible."""

import subprocess
import sys

import gradledger as gl
import numpy as np
import pytest


def test_manual_seed_restarts_the_global_sequence_as_numpys_pcg64_of_that_seed():
    gl.manual_seed(3)
    first = gl.randn(4).data
    gl.manual_seed(3)
    np.testing.assert_array_equal(gl.randn(4).data, first)
    expected = np.random.Generator(np.random.PCG64(3)).standard_normal(4)
    np.testing.assert_array_equal(first, expected)
    assert gl.initial_seed() == 3


def test_a_fresh_interpreter_draws_the_same_numbers_every_run():
    code = "import gradledger as gl; print(gl.rand(3).data.tolist(), gl.initial_seed())"
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout for _ in range(2)]
    assert runs[0] == runs[1]
    expected = np.random.Generator(np.random.PCG64(67280421310721)).random(3).tolist()
    assert runs[0] == f"{expected} 67280421310721\n"


def test_layers_without_an_rng_draw_from_the_global_generator():
    def build():
        return gl.nn.Sequential(gl.nn.Linear(3, 4), gl.nn.Conv2d(1, 2, 3), gl.nn.LSTM(2, 3),
                                gl.nn.Embedding(5, 2))

    gl.manual_seed(11)
    a = build()
    gl.manual_seed(11)
    b = build()
    for (key, wa), wb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        np.testing.assert_array_equal(wa, wb, err_msg=key)
    c = build()  # the sequence moved on: different weights
    assert not np.array_equal(a[0].weight.data, c[0].weight.data)


def test_dropout_without_an_rng_is_reproducible_after_manual_seed_and_an_int_seed_repeats():
    x = gl.ones(100, requires_grad=True)
    drop = gl.nn.Dropout(0.5)
    gl.manual_seed(5)
    first = drop(x).data
    gl.manual_seed(5)
    np.testing.assert_array_equal(drop(x).data, first)
    assert set(np.unique(first)) == {0.0, 2.0}
    F = gl.nn.functional
    np.testing.assert_array_equal(F.dropout(x, 0.5, rng=7).data, F.dropout(x, 0.5, rng=7).data)


def test_an_explicit_rng_ignores_the_global_state():
    gl.manual_seed(1)
    a = gl.nn.Linear(3, 3, rng=42).weight.data
    gl.manual_seed(2)
    np.testing.assert_array_equal(gl.nn.Linear(3, 3, rng=42).weight.data, a)
    generator = gl.Generator(9)
    np.testing.assert_array_equal(gl.randn(2, rng=generator).data,
                                  np.random.default_rng(9).standard_normal(2))


def test_bad_seeds_and_rngs_are_refused_naming_what_is_accepted():
    with pytest.raises(TypeError, match="manual_seed: expected an int >= 0; got -1"):
        gl.manual_seed(-1)
    with pytest.raises(TypeError, match="an int seed, a np.random.Generator or a gl.Generator"):
        gl.randn(2, rng="zero")
