"""The README's code runs as written, and CI runs the README's own commands."""

import subprocess
import sys

from docblocks import ROOT, assert_prints_what_is_shown, fenced_blocks, run_python_blocks

README = ROOT / "README.md"


def test_readme_python_blocks_run_in_order_and_print_what_the_readme_shows(fresh_host):
    blocks, _ = run_python_blocks(README, "readme_session")
    assert len(blocks) >= 5, "the README's tour has lost its examples"
    assert any(block.shown for block in blocks), "the README shows no output to check"
    assert_prints_what_is_shown(blocks, README)


def test_ci_runs_the_readme_commands_verbatim():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    text = README.read_text(encoding="utf-8")
    commands = [line for block in fenced_blocks(text, "bash") for line in block.splitlines()
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
