"""The README's pictures are what docs/make_figures.py draws today: regenerated and
compared as SVG text (every number in them is computed, none timed)."""

import importlib.util
import re

import pytest
from docblocks import ROOT

spec = importlib.util.spec_from_file_location("make_figures", ROOT / "docs" / "make_figures.py")
make_figures = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_figures)
FIGURES = make_figures.figures()


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_each_picture_in_the_repository_is_what_make_figures_draws(name):
    kept = (ROOT / "docs" / "figures" / name).read_text(encoding="utf-8")
    assert kept == FIGURES[name], (
        f"docs/figures/{name} is stale: run .venv/bin/python docs/make_figures.py")


def test_the_readme_shows_every_generated_picture():
    shown = set(re.findall(r"!\[[^\]]*\]\(docs/figures/([^)]+)\)",
                           (ROOT / "README.md").read_text(encoding="utf-8")))
    assert {"nudge_vs_backprop.svg", "mlp_graph.svg", "step_page.svg"} <= shown <= set(FIGURES)


def test_the_pictures_carry_the_seeds_numbers():
    assert ">10.01<" in FIGURES["nudge_vs_backprop.svg"]  # (5.01² − 25) / 0.01
    assert ">1,001<" in FIGURES["nudge_vs_backprop.svg"]  # forward passes at n = 1,000
    assert ">grad 12.0<" in FIGURES["step_page.svg"] and ">grad —<" in FIGURES["step_page.svg"]
    assert FIGURES["mlp_graph.svg"].count(">grad ") == 11  # every box but the 2 constants
