"""Run the code in Markdown files, so that README and docs examples never rot."""

from __future__ import annotations

import contextlib
import io
import re
import sys
import types
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Block:
    """One python block: its code, the text block shown right after it (if any), and
    what it printed when run."""

    number: int
    code: str
    shown: str | None
    printed: str = ""


def fenced_blocks(text: str, language: str) -> list[str]:
    """The bodies of the fenced blocks in `language`, in order."""
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.S | re.M)


def python_blocks(path: Path) -> list[Block]:
    """Each python block, paired with the ```text block right after it (its output)."""
    fenced = re.findall(r"^```(\w*)\n(.*?)^```", path.read_text(encoding="utf-8"),
                        flags=re.S | re.M)
    blocks = []
    for i, (language, body) in enumerate(fenced):
        if language == "python":
            following = fenced[i + 1] if i + 1 < len(fenced) else ("", "")
            shown = following[1] if following[0] == "text" else None
            blocks.append(Block(len(blocks) + 1, body, shown))
    return blocks


def run_python_blocks(path: Path, module_name: str) -> tuple[list[Block], types.ModuleType]:
    """Run a Markdown file's python blocks in order, as one module named `module_name`
    (in sys.modules while they run), recording what each prints."""
    blocks = python_blocks(path)
    module = types.ModuleType(module_name)
    sys.modules[module_name] = module
    try:
        for block in blocks:
            code = compile(block.code, f"{path.name} python block {block.number}", "exec")
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                exec(code, module.__dict__)
            block.printed = printed.getvalue()
    finally:
        del sys.modules[module_name]
    return blocks, module


def assert_prints_what_is_shown(blocks: list[Block], path: Path) -> None:
    for block in blocks:
        if block.shown is not None:
            assert block.printed == block.shown, (
                f"{path.name} python block {block.number} printed:\n{block.printed}"
                f"but the file shows:\n{block.shown}"
            )
