"""detect_anomaly(): the first NaN or infinity is reported at the op that made it."""

import subprocess
import sys
import threading
import warnings

import gradledger as gl
import numpy as np
import pytest

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def test_forward_nan_names_op_plugin_shapes_and_the_calling_line():
    x = gl.tensor(np.array([1.0, -1.0]), requires_grad=True)
    with gl.detect_anomaly(), pytest.raises(gl.AnomalyError) as caught:
        gl.log(x)  # the line the report must point at
    message = str(caught.value)
    assert "op 'log' (plugin 'builtin'" in message and "NaN" in message
    assert "input shapes (2,)" in message and "every input was finite" in message
    assert f"{__file__}:" in message and "gl.log(x)  # the line the report must point at" in message


def test_backward_inf_names_the_op_whose_rule_made_it_and_where_it_was_called():
    x = gl.tensor(np.array([0.0, 4.0]), requires_grad=True)
    with gl.detect_anomaly():
        y = x ** 0.5  # sqrt is fine at 0; its derivative is not
        with pytest.raises(gl.AnomalyError) as caught:
            gl.sum(y).backward()
    message = str(caught.value)
    assert "op 'pow'" in message and "local_grad rule for input 1 during backward" in message
    assert "inf" in message and "y = x ** 0.5" in message


def test_non_finite_input_is_reported_as_already_there():
    x = gl.tensor(np.array([np.nan, 1.0]))
    with gl.detect_anomaly(), pytest.raises(gl.AnomalyError, match="input 1 already holds NaN"):
        gl.exp(x)


def test_without_detect_anomaly_nan_flows_through_silently_as_in_numpy():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y = gl.log(gl.tensor(-1.0))
    assert np.isnan(y.data)
    assert not gl.is_anomaly_enabled()


def test_detect_anomaly_is_per_thread():
    seen = []
    with gl.detect_anomaly():
        thread = threading.Thread(target=lambda: seen.append(gl.is_anomaly_enabled()))
        thread.start()
        thread.join()
        assert gl.is_anomaly_enabled()
    assert seen == [False]


def test_environment_variable_turns_detection_on_for_the_whole_process():
    code = (
        "import numpy as np, gradledger as gl\n"
        "try:\n"
        "    gl.log(gl.tensor(np.array([-1.0])))\n"
        "except gl.AnomalyError as e:\n"
        "    print('caught', 'log' in str(e))\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True,
        env={**__import__("os").environ, "GRADLEDGER_DETECT_ANOMALY": "1"}, check=True,
    )
    assert result.stdout.strip() == "caught True"
