"""docs/plugins.md runs as written: its Python blocks, in order, are the module `my_ops`."""

import pytest
from docblocks import ROOT, fenced_blocks, run_python_blocks

GUIDE = ROOT / "docs" / "plugins.md"


def test_plugin_guide_python_blocks_run_in_order_as_the_module_my_ops(fresh_host):
    blocks, _ = run_python_blocks(GUIDE, "my_ops")
    assert len(blocks) >= 8, "the plugin guide has lost its examples"
    record = fresh_host.records["my_ops"]
    assert record.ops == ["silu", "logit", "leaky_relu", "reverse_cumsum", "batched_outer",
                          "switch", "add_n", "top_k", "soft_cross_entropy", "noisy_scale",
                          "gather_rows", "cubic", "abs2"]
    assert "fast_relu" not in fresh_host.records
    # The guide teaches these declarations: each must pass the verifier it advertises.
    from gradledger.verify import verify_op

    for name in record.ops:
        report = verify_op(name)
        assert report.ok, str(report)


def test_plugin_guide_entry_point_is_the_one_the_example_package_uses():
    tomllib = pytest.importorskip("tomllib")
    guide = tomllib.loads(fenced_blocks(GUIDE.read_text(encoding="utf-8"), "toml")[0])
    example = tomllib.loads((ROOT / "plugins_example" / "pyproject.toml").read_text())
    assert guide["project"]["entry-points"]["gradledger"] == {"my_ops": "my_ops"}
    assert example["project"]["entry-points"]["gradledger"] == {"example": "gradledger_example_ops"}
    assert example["project"]["name"] == "gradledger-example-ops"
