"""A plugin defined right here and registered by hand is a first-class op source."""

import re
import types

import gradledger as gl
import numpy as np
import pytest
from gradledger import Op, hookimpl
from gradledger.cli import main as cli_main


def make_plugin():
    module = types.ModuleType("cube_ops")

    @hookimpl
    def gradledger_register_ops(registry):
        registry.register(Op(
            "cube", lambda x: x ** 3, local_grad=lambda x, out: (3 * x * x,),
            signature="()->()", doc="x ** 3",
        ))

    module.gradledger_register_ops = gradledger_register_ops
    return module


def test_a_hand_registered_op_is_usable_as_gl_name_with_its_provenance(fresh_host):
    record = gl.register_plugin(make_plugin())
    assert record.status == "loaded" and record.ops == ["cube"]
    x = gl.tensor([1.0, -2.0], requires_grad=True)
    gl.sum(gl.cube(x)).backward()
    np.testing.assert_array_equal(x.grad, [3.0, 12.0])
    op = gl.ops.cube.op
    assert (op.plugin, op.distribution, op.version) == ("cube_ops", None, None)
    assert op.provenance == "plugin 'cube_ops', registered by hand"
    assert x.cube().op == "cube"


def test_builtin_ops_carry_their_distribution_and_version(fresh_host):
    from importlib.metadata import version

    op = gl.ops.relu.op
    expected = ("builtin", "gradledger", version("gradledger"))
    assert (op.plugin, op.distribution, op.version) == expected


def test_unregistering_a_hand_plugin_withdraws_its_ops(fresh_host):
    gl.register_plugin(make_plugin())
    gl.unregister_plugin("cube_ops")
    with pytest.raises(AttributeError, match="no op named 'cube'"):
        gl.cube  # noqa: B018


def test_a_malformed_op_registered_by_hand_is_refused_naming_plugin_op_and_problem(fresh_host):
    class Malformed:
        @hookimpl
        def gradledger_register_ops(self, registry):
            registry.register(Op("twice", lambda x: 2 * x, signature="()->()"))

    with pytest.raises(gl.OpDefinitionError, match=r"(?s)plugin 'bad'.*'twice'.*got neither"):
        gl.register_plugin(Malformed(), name="bad")


def test_a_second_op_with_a_taken_name_names_both_sources(fresh_host):
    class Clash:
        @hookimpl
        def gradledger_register_ops(self, registry):
            registry.register(Op("relu", lambda x: x, local_grad=lambda x, out: (1.0,),
                                 signature="()->()"))

    expected = r"'relu'.*'builtin', gradledger.*'clash'.*override=True"
    with pytest.raises(gl.DuplicateOpError, match=expected):
        gl.register_plugin(Clash(), name="clash")


def test_gradledger_ops_lists_every_op_with_plugin_distribution_and_version(fresh_host, capsys):
    gl.register_plugin(make_plugin())
    assert cli_main(["ops", "--wide"]) == 0  # the default leaves distribution and version out
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[2:]
            if line.strip() and not line.endswith("op(s)")}
    assert rows["matmul"][3:6] == ["builtin", "gradledger", gl.ops.matmul.op.version]
    assert rows["cube"][3:5] == ["cube_ops", "(by"]


@pytest.mark.parametrize("name,advice", [
    ("explain", "reachable only as gl.ops.explain"),
    ("item", "x.item(...) is not the op"),
])
def test_an_op_named_like_gradledgers_own_api_warns_how_to_reach_it(fresh_host, name, advice):
    class Shadowing:
        @hookimpl
        def gradledger_register_ops(self, registry):
            registry.register(Op(name, lambda x: x, local_grad=lambda x, out: (1.0,),
                                 signature="()->()"))

    with pytest.warns(RuntimeWarning, match=re.escape(advice)):
        gl.register_plugin(Shadowing(), name="shadowing")
    assert getattr(gl.ops, name)(gl.tensor(2.0)).item() == 2.0
