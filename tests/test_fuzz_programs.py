"""Composed-program fuzzing: random DAGs of registered ops, backward vs the nudge method."""

import gradledger as gl
import numpy as np
from gradledger.loader import host
from gradledger.verify import gradcheck
from gradledger.verify.programs import Program, Step, composable_ops, programs
from hypothesis import HealthCheck, find, given, settings

FUZZ = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                       HealthCheck.data_too_large])


@FUZZ
@given(programs())
def test_random_programs_of_registered_ops_backpropagate_like_the_nudge_method(program):
    assert gradcheck(program, *program.leaves)


def test_every_composable_registered_op_shows_up_in_generated_programs():
    seen = set()

    @settings(FUZZ, max_examples=400, derandomize=True, database=None)  # 200+ ops to meet
    @given(programs())
    def collect(program):
        seen.update(step.op for step in program.steps)

    collect()
    assert {op.name for op in composable_ops()} <= seen


def test_the_fuzzer_finds_and_shrinks_a_program_through_a_wrong_op(fresh_host):
    class WrongTanh:
        @gl.hookimpl
        def gradledger_register_ops(self, registry):
            registry.register(gl.Op("bad_tanh", np.tanh, local_grad=lambda x, out: (1 - out,),
                                    signature="()->()"))

    gl.register_plugin(WrongTanh(), name="wrong")
    ops = [host.lookup(name) for name in ("bad_tanh", "add", "mul")]
    program = find(
        programs(max_steps=6, ops=ops),
        lambda p: not gradcheck(p, *p.leaves, raise_on_failure=False),
        settings=settings(FUZZ, max_examples=500, derandomize=True, database=None),
    )
    assert "bad_tanh" in {step.op for step in program.steps}
    assert len(program.steps) <= 3, f"not shrunk:\n{program}"


def test_a_program_prints_as_python_that_recomputes_it():
    program = Program([np.array([1.0, 2.0]), np.array(0.5)],
                      [Step("mul", (0, 1)), Step("sum", (2,), {"axis": 0})])
    namespace = {"gl": gl}
    exec(str(program), namespace)
    out = namespace["program"](gl.tensor(namespace["x1"]), gl.tensor(namespace["x2"]))
    assert out.item() == program(*map(gl.tensor, program.leaves)).item() == 1.5


def test_a_program_with_a_generator_param_is_a_function_of_its_leaves():
    """dropout drawing from a Generator: every call of the program starts the Generator in
    the state drawn, so repeated calls (the nudges of gradcheck) see one mask."""
    program = Program(leaves=[np.linspace(-0.9, 0.9, 20), np.float64(-0.97)], steps=[
        Step("abs", (0,), {}),
        Step("dropout", (2,), {"p": 0.5, "seed": 0, "rng": np.random.default_rng(3)})])
    first, second = (np.asarray(program(*map(gl.tensor, program.leaves)).data)
                     for _ in range(2))
    np.testing.assert_array_equal(first, second)
    assert gradcheck(program, *program.leaves)
