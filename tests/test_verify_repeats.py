"""Repeats: an example identical to one that passed is not checked again, and says so."""

from __future__ import annotations

import json

import gradledger as gl
import gradledger.extend  # noqa: F401 (gl.extend)
import numpy as np
import pytest
from gradledger.cli import main
from gradledger.verify import PASS, engine, verify_op
from gradledger.verify.checks import Stats
from gradledger.verify.repeats import example_key
from gradledger.verify.sampling import Example

X = np.array([0.5, -1.25, 2.0])


def cube(x):
    CALLS.append(1)
    return x ** 3


CALLS: list = []
CUBE = gl.extend.Op("counted_cube", cube, vjp=lambda g, x, out: (3 * x * x * g,),
                    signature="(*)->(*)")
WRONG = gl.extend.Op("counted_wrong", cube, vjp=lambda g, x, out: (2 * x * x * g,),
                     signature="(*)->(*)")


def example(**changes) -> Example:
    fields = dict(arrays=[X.copy()], params={}, seed=7)
    fields.update(changes)
    return Example(**fields)


def test_a_repeat_of_a_passing_example_passes_without_running_the_op_again():
    stats = Stats()
    make = engine._watching(None, stats)
    assert make(CUBE, example(), stats).run() is None
    assert stats.examples == 1
    CALLS.clear()
    assert make(CUBE, example(), stats).run() is None
    assert CALLS == [] and (stats.examples, stats.repeats) == (1, 1)
    assert make(CUBE, example(seed=8), stats).run() is None  # another seed: checked
    assert CALLS and (stats.examples, stats.repeats) == (2, 1)


def test_a_repeat_of_a_failing_example_is_checked_again():
    stats = Stats()
    make = engine._watching(None, stats)
    first = make(WRONG, example(), stats).run()
    again = make(WRONG, example(), stats).run()
    assert first is not None and again is not None
    assert again.check == first.check and stats.repeats == 0


def test_a_default_run_skips_repeats_and_counts_every_example_drawn(fresh_host):
    report = verify_op("abs", examples=50)
    assert report.status == PASS, str(report)
    assert report.repeats > 0 and report.examples + report.repeats == 50
    assert f"{report.repeats} repeat(s) of a passing example not checked again" in str(report)


def test_the_json_report_counts_repeats_apart_from_checked_examples(fresh_host, tmp_path):
    path = tmp_path / "report.json"
    assert main(["verify", "abs", "--examples", "50", "--workers", "0",
                 "--json", str(path)]) == 0
    entry = json.loads(path.read_text())["ops"][0]
    assert entry["repeats"] > 0 and entry["examples"] + entry["repeats"] == 50


def keyed(**changes) -> bytes | None:
    fields = dict(arrays=[X.copy(), np.float64(2.0)], params={"axis": 0}, seed=7)
    fields.update(changes)
    return example_key(Example(**fields))


def test_identical_examples_share_a_key():
    assert keyed() == keyed()


@pytest.mark.parametrize("change", [
    {"seed": 8},
    {"params": {"axis": 1}},
    {"arrays": [X + np.array([0, 0, 2.0**-50]), np.float64(2.0)]},
    {"arrays": [X.astype(np.float32), np.float64(2.0)]},
    {"arrays": [X.reshape(3, 1), np.float64(2.0)]},
    {"dtype": np.dtype(np.float32)},
    {"frozen": (0,)},
    {"mode": "log"},
    {"shared": X.copy()},
])
def test_any_difference_the_checks_can_read_gives_another_key(change):
    assert keyed(**change) != keyed()


def test_the_same_values_in_another_memory_layout_are_another_example():
    a = np.arange(6.0).reshape(2, 3)
    f = np.asfortranarray(a)
    assert keyed(arrays=[a]) != keyed(arrays=[f])


def test_a_generator_param_is_keyed_by_its_state():
    first = np.random.default_rng(0)
    moved = np.random.default_rng(0)
    moved.random()
    same = np.random.default_rng(0)
    assert keyed(params={"rng": first}) == keyed(params={"rng": same})
    assert keyed(params={"rng": first}) != keyed(params={"rng": moved})


def test_an_example_whose_content_cannot_be_written_down_is_never_a_repeat():
    assert keyed(params={"f": lambda x: x}) is None
    assert keyed(arrays=[np.array([object()])]) is None
