"""docs/verifier.md runs as written: its Python blocks, in order, in one namespace."""

import contextlib
import io
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GUIDE = (ROOT / "docs" / "verifier.md").read_text(encoding="utf-8")


def fenced_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.S | re.M)


def test_verifier_guide_python_blocks_run_in_order(fresh_host):
    blocks = fenced_blocks(GUIDE, "python")
    assert len(blocks) >= 3, "the verifier guide has lost its examples"
    namespace = {}
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        for number, block in enumerate(blocks, 1):
            exec(compile(block, f"docs/verifier.md python block {number}", "exec"), namespace)
    printed = output.getvalue()
    shown = fenced_blocks(GUIDE, "text")[-1]  # the report the guide says the last block prints
    assert shown.strip() in printed
