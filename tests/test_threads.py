"""Graphs built and walked in 8 threads at once give exactly their serial grads."""

import threading
from concurrent.futures import ThreadPoolExecutor

import gradledger as gl
import numpy as np
import pytest


def train_step(seed: int):
    rng = np.random.default_rng(seed)
    w1 = gl.tensor(rng.standard_normal((4, 8)), requires_grad=True)
    w2 = gl.tensor(rng.standard_normal((8, 1)), requires_grad=True)
    x = rng.standard_normal((16, 4))
    for _ in range(20):
        loss = gl.mean((gl.tanh(x @ w1) @ w2 - 1.0) ** 2)
        loss.backward()
    scalar = gl.tensor(float(seed), requires_grad=True)
    chain = scalar
    for _ in range(200):
        chain = chain * 0.99 + 0.01
    chain.backward()
    return w1.grad, w2.grad, scalar.grad


def test_eight_threads_give_bitwise_the_serial_grads():
    seeds = list(range(16))
    serial = [train_step(s) for s in seeds]
    with ThreadPoolExecutor(max_workers=8) as pool:
        threaded = list(pool.map(train_step, seeds))
    for expected, got in zip(serial, threaded, strict=False):
        for e, g in zip(expected, got, strict=False):
            np.testing.assert_array_equal(e, g)


def test_no_grad_in_one_thread_does_not_stop_recording_in_another():
    def records(_):
        x = gl.tensor(1.0, requires_grad=True)
        return (x * 2).requires_grad

    with gl.no_grad(), ThreadPoolExecutor(max_workers=4) as pool:
        assert all(pool.map(records, range(8)))


def test_backward_in_eight_threads_into_one_shared_leaf_loses_no_booking():
    w = gl.tensor(np.zeros((64, 64)), requires_grad=True)

    def fifty_backwards(_):
        for _ in range(50):
            gl.sum(w * 1.0).backward()

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(fifty_backwards, range(8)))
    np.testing.assert_array_equal(w.grad, np.full((64, 64), 400.0))


def test_a_mode_block_open_in_one_thread_changes_only_that_thread_and_ends_cleanly():
    from gradledger import grad_mode

    inside, done = threading.Event(), threading.Event()
    seen = {}

    def detecting():
        with gl.detect_anomaly():
            inside.set()
            done.wait(10)
            try:
                gl.log(gl.tensor(0.0, requires_grad=True))
            except gl.AnomalyError:
                seen["anomaly raised in the detecting thread"] = True

    thread = threading.Thread(target=detecting)
    thread.start()
    inside.wait(10)
    assert not grad_mode.plain  # some thread is in a mode block: the tape asks its own
    with np.errstate(divide="ignore"):
        out = gl.log(gl.tensor(0.0, requires_grad=True))  # no detection in this thread
    assert out.requires_grad and np.isneginf(out.data)
    done.set()
    thread.join()
    assert seen == {"anomaly raised in the detecting thread": True}
    assert grad_mode.plain and gl.is_grad_enabled() and not gl.is_anomaly_enabled()


def test_a_mode_block_left_by_an_exception_restores_the_mode_and_the_fast_path():
    from gradledger import grad_mode

    with pytest.raises(ValueError), gl.no_grad():
        raise ValueError("leave the block")
    assert grad_mode.plain and gl.is_grad_enabled()
    assert (gl.tensor(1.0, requires_grad=True) * 2).requires_grad
