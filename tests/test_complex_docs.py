"""docs/complex.md runs as written, printing what it shows: the frequency-domain filter
fitted through np.fft on complex parameters converges to the filter's spectrum."""

from docblocks import ROOT, assert_prints_what_is_shown, run_python_blocks

PATH = ROOT / "docs" / "complex.md"


def test_complex_guide_blocks_run_in_order_and_print_what_it_shows():
    blocks, module = run_python_blocks(PATH, "docs_complex")
    assert len(blocks) >= 2, "the complex numbers page has lost its examples"
    assert_prints_what_is_shown(blocks, PATH)
    assert module.loss.item() < 1e-20  # the fit converged (the page asserts it too)
