"""Traps a learner in a notebook falls into: an example that switches matplotlib's
backend (every later inline plot blank), a progress bar that shows full every epoch."""

import importlib.util
import io
import re

import pytest
from docblocks import ROOT

EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


def load(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", ROOT / "examples" / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_no_example_switches_matplotlibs_backend(path):
    source = path.read_text(encoding="utf-8")
    assert not re.search(r"matplotlib\.use\(|switch_backend\(", source)


def test_plot_boundary_keeps_the_callers_backend(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    moons = load("train_moons.py")
    before = matplotlib.get_backend()
    model, X, y = moons.train(1, 0, 0.1, 32, 64, 0.1, out=io.StringIO())
    moons.plot_boundary(model, X, y, str(tmp_path / "boundary.png"))
    assert matplotlib.get_backend() == before
    assert (tmp_path / "boundary.png").read_bytes()[:4] == b"\x89PNG"


class NotebookStream(io.StringIO):
    """A stand-in for Jupyter's stdout: ipykernel's OutStream is not a tty."""


NotebookStream.__module__ = "ipykernel.iostream"


def test_in_a_notebook_the_progress_bar_fills_batch_by_batch():
    moons = load("train_moons.py")
    out = NotebookStream()
    moons.train(2, 0, 0.1, 32, 64, 0.1, out=out)
    frames = out.getvalue().split("\r")
    bars = [re.search(r"\[([#.]+)\]", frame).group(1) for frame in frames if "[" in frame]
    assert bars[0].count("#") < len(bars[0])  # the first frame is not a full bar
    assert [bar.count("#") for bar in bars[:2]] == sorted(bar.count("#") for bar in bars[:2])
    assert bars[-1] == "#" * len(bars[-1])
