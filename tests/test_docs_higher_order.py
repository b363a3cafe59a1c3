"""docs/higher-order.md runs as written, printing what it shows."""

from docblocks import ROOT, assert_prints_what_is_shown, run_python_blocks

PATH = ROOT / "docs" / "higher-order.md"


def test_higher_order_guide_blocks_run_in_order_and_print_what_it_shows(fresh_host):
    blocks, _ = run_python_blocks(PATH, "docs_higher_order")
    assert len(blocks) >= 4, "the higher-order guide has lost its examples"
    assert_prints_what_is_shown(blocks, PATH)
