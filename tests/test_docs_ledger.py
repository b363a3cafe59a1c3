"""docs/ledger.md runs as written: its Python blocks in order, each printing the text
block shown under it."""

import contextlib
import io
import re

from docblocks import ROOT, assert_prints_what_is_shown, python_blocks, run_python_blocks

PATH = ROOT / "docs" / "ledger.md"
GUIDE = PATH.read_text(encoding="utf-8")


def test_ledger_guide_blocks_run_in_order_and_print_what_the_guide_shows(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks, module = run_python_blocks(PATH, "docs_ledger")
    assert len(blocks) >= 5, "the ledger guide has lost its examples"
    assert_prints_what_is_shown(blocks, PATH)
    assert module.x.grad == 36.0


def test_ledger_guide_save_block_draws_the_picture_without_graphviz(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` anywhere
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in python_blocks(PATH):
        with contextlib.redirect_stdout(io.StringIO()):
            exec(block.code, namespace)
    assert (tmp_path / "seed_chain.svg").read_text().startswith("<svg")
    assert (tmp_path / "seed_backward.html").read_text().startswith("<!DOCTYPE html>")


def test_ledger_guide_picture_is_in_the_repository():
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", GUIDE)
    assert pictures, "the guide shows no picture"
    for picture in pictures:
        assert (ROOT / "docs" / picture).resolve().is_file(), picture
