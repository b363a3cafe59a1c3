"""docs/ledger.md runs as written: its Python blocks in order, each printing the text
block shown under it."""

import contextlib
import io
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDE = (ROOT / "docs" / "ledger.md").read_text(encoding="utf-8")


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """Every fenced block as (language, body), in order."""
    return re.findall(r"^```(\w*)\n(.*?)^```", text, flags=re.S | re.M)


def python_blocks_with_output(text: str) -> list[tuple[str, str | None]]:
    """Each python block, with the text block right after it (its output) or None."""
    blocks = fenced_blocks(text)
    pairs = []
    for i, (language, body) in enumerate(blocks):
        if language == "python":
            following = blocks[i + 1] if i + 1 < len(blocks) else None
            pairs.append((body, following[1] if following and following[0] == "text" else None))
    return pairs


def test_ledger_guide_blocks_run_in_order_and_print_what_the_guide_shows(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pairs = python_blocks_with_output(GUIDE)
    assert len(pairs) >= 5, "the ledger guide has lost its examples"
    namespace: dict = {"__name__": "docs_ledger"}
    for number, (code, expected) in enumerate(pairs, 1):
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(code, f"docs/ledger.md python block {number}", "exec"), namespace)
        if expected is not None:
            assert printed.getvalue() == expected, f"python block {number} printed otherwise"
    assert namespace["x"].grad == 36.0


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")
def test_ledger_guide_render_block_draws_the_picture(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for code, _ in python_blocks_with_output(GUIDE):
        with contextlib.redirect_stdout(io.StringIO()):
            exec(code, namespace)
    assert (tmp_path / "seed_chain.svg").read_text().lstrip().startswith("<?xml")


def test_ledger_guide_picture_is_in_the_repository():
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", GUIDE)
    assert pictures, "the guide shows no picture"
    for picture in pictures:
        assert (ROOT / "docs" / picture).resolve().is_file(), picture
