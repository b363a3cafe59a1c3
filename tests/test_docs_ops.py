"""docs/ops.md lists exactly the built-in ops the registry holds, as the generator writes it."""

import importlib.util

from docblocks import ROOT

GENERATOR = ROOT / "docs" / "make_ops_page.py"


def _generator():
    spec = importlib.util.spec_from_file_location("make_ops_page", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ops_page_matches_the_registry(fresh_host):
    page = _generator()
    written = page.PAGE.read_text(encoding="utf-8")
    assert written == page.render(), (
        "docs/ops.md differs from the registry: regenerate it with "
        "`.venv/bin/python docs/make_ops_page.py`"
    )


def test_ops_page_has_a_row_for_every_builtin_op_in_its_family(fresh_host):
    import gradledger_builtin

    page = _generator().PAGE.read_text(encoding="utf-8")
    sections = {s.split("\n", 1)[0]: s for s in page.split("\n## ")[1:]}
    for family in gradledger_builtin.FAMILIES:
        section = sections[family.__name__.rsplit(".", 1)[-1]]
        for op in family.OPS:
            assert f"| `{op.name}` |" in section, f"{op.name} missing from its family's table"


def test_ops_page_counts_what_it_lists(fresh_host):
    page = _generator()
    text = page.PAGE.read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert text.rstrip().endswith(f"{len(rows)} built-in ops.")
    assert len(rows) == len(page.builtin_ops())
