"""docs/verifier.md runs as written: its Python blocks, in order, in one namespace."""

from docblocks import ROOT, fenced_blocks, run_python_blocks

GUIDE = ROOT / "docs" / "verifier.md"


def test_verifier_guide_python_blocks_run_in_order(fresh_host):
    blocks, _ = run_python_blocks(GUIDE, "docs_verifier")
    assert len(blocks) >= 3, "the verifier guide has lost its examples"
    printed = "".join(block.printed for block in blocks)
    # The report the guide says the last block prints (its timings vary, so: contained).
    shown = fenced_blocks(GUIDE.read_text(encoding="utf-8"), "text")[-1]
    assert shown.strip() in printed
