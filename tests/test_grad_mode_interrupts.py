"""A KeyboardInterrupt landing as a mode block opens leaves the modes as they were and the
tape's fast path on (`grad_mode.plain`): the block counts out exactly what it counted in."""

import gradledger as gl
import pytest
from gradledger import grad_mode


@pytest.mark.parametrize("when", ["before counting in", "right after counting in"])
@pytest.mark.parametrize("block", [gl.no_grad, gl.enable_grad, gl.detect_anomaly])
def test_an_interrupt_as_a_mode_block_opens_leaves_the_count_and_the_mode_as_they_were(
        monkeypatch, when, block):
    real = grad_mode._enter

    def interrupted():
        if when == "right after counting in":
            real()
        raise KeyboardInterrupt

    monkeypatch.setattr(grad_mode, "_enter", interrupted)
    with pytest.raises(KeyboardInterrupt), block():
        pass
    monkeypatch.undo()
    assert grad_mode._inside == 0 and grad_mode._state.depth == 0
    assert grad_mode.plain and gl.is_grad_enabled() and not gl.is_anomaly_enabled()
    assert (gl.tensor(1.0, requires_grad=True) * 2).requires_grad
