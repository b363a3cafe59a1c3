"""The README's code runs as written, and CI runs the README's own commands."""

import contextlib
import io
import re
import subprocess
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def fenced_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.S | re.M)


def python_blocks_with_output(text: str) -> list[tuple[str, str | None]]:
    """Each python block, with the text block right after it (what it prints), if any."""
    pattern = r"^```python\n(.*?)^```\n(?:\n```text\n(.*?)^```)?"
    return re.findall(pattern, text, flags=re.S | re.M)


def test_readme_python_blocks_run_in_order_and_print_what_the_readme_shows(fresh_host):
    blocks = python_blocks_with_output(README)
    assert len(blocks) >= 5, "the README's tour has lost its examples"
    assert any(shown for _, shown in blocks), "the README shows no output to check"
    session = types.ModuleType("readme_session")
    sys.modules[session.__name__] = session
    try:
        for number, (block, shown) in enumerate(blocks, 1):
            code = compile(block, f"README.md python block {number}", "exec")
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                exec(code, session.__dict__)
            if shown:
                assert printed.getvalue() == shown, f"README python block {number} printed"
    finally:
        del sys.modules[session.__name__]


def test_ci_runs_the_readme_commands_verbatim():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = [line for block in fenced_blocks(README, "bash") for line in block.splitlines()
                if line.strip()]
    assert len(commands) == 2, f"the README gives exactly two commands; found {commands}"
    for command in commands:
        assert command in ci.splitlines(), f"CI does not run the README command {command!r}"


def test_import_gradledger_loads_no_plugin_hypothesis_or_pytest():
    probe = (
        "import sys, gradledger; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'hypothesis', 'pytest', '_pytest', 'gradledger_builtin', 'gradledger_example_ops', "
        "'matplotlib'}); print(bad)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
