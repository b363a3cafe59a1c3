"""docs/plugins.md runs as written: its Python blocks, in order, are the module `my_ops`."""

import re
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDE = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")


def fenced_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.S | re.M)


def test_plugin_guide_python_blocks_run_in_order_as_the_module_my_ops(fresh_host):
    blocks = fenced_blocks(GUIDE, "python")
    assert len(blocks) >= 8, "the plugin guide has lost its examples"
    module = types.ModuleType("my_ops")
    sys.modules["my_ops"] = module
    try:
        for number, block in enumerate(blocks, 1):
            exec(compile(block, f"docs/plugins.md python block {number}", "exec"), module.__dict__)
        record = fresh_host.records["my_ops"]
        assert record.ops == ["silu", "log1p", "absolute", "cumsum", "outer", "where"]
        assert "fast_relu" not in fresh_host.records
        # The guide teaches these declarations: each must pass the verifier it advertises.
        from gradledger.verify import verify_op

        for name in record.ops:
            report = verify_op(name)
            assert report.ok, str(report)
    finally:
        del sys.modules["my_ops"]


def test_plugin_guide_entry_point_is_the_one_the_example_package_uses():
    tomllib = pytest.importorskip("tomllib")
    guide = tomllib.loads(fenced_blocks(GUIDE, "toml")[0])
    example = tomllib.loads((ROOT / "plugins_example" / "pyproject.toml").read_text())
    assert guide["project"]["entry-points"]["gradledger"] == {"my_ops": "my_ops"}
    assert example["project"]["entry-points"]["gradledger"] == {"example": "gradledger_example_ops"}
    assert example["project"]["name"] == "gradledger-example-ops"
