"""Static types a checker and an editor can use (issue 24): py.typed ships, the stub of
`import gradledger as gl` is what tools/make_stub.py generates from the package and the
registry, and the typed user script that CI checks with pyright and mypy is correct code."""

import importlib.util
import runpy

import gradledger
from docblocks import ROOT

GENERATOR = ROOT / "tools" / "make_stub.py"
USER_SCRIPT = ROOT / "tests" / "typing" / "user_script.py"


def _generator():
    spec = importlib.util.spec_from_file_location("make_stub", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_package_is_marked_typed_with_py_typed():
    package = ROOT / "core" / "gradledger"
    assert (package / "py.typed").is_file()
    assert (package / "__init__.pyi").is_file()


def test_the_stub_matches_the_package_and_the_builtin_ops(fresh_host):
    stub = _generator()
    assert stub.STUB.read_text(encoding="utf-8") == stub.render(), (
        "core/gradledger/__init__.pyi differs from gradledger's names or its built-in ops: "
        "regenerate it with `.venv/bin/python tools/make_stub.py`"
    )


def test_the_stub_declares_every_public_name_and_builtin_op(fresh_host):
    text = (ROOT / "core" / "gradledger" / "__init__.pyi").read_text(encoding="utf-8")
    for name in gradledger._own_names():
        assert f" as {name}\n" in text or f"def {name}(" in text, name
    for name in ("relu", "mean", "sum", "matmul", "split", "concatenate", "einsum"):
        assert f"\ndef {name}(" in text, name
    assert "\ndef __getattr__(name: str) -> Any:" in text  # other plugins' ops: Any


def test_the_typed_user_script_runs(fresh_host, capsys):
    runpy.run_path(str(USER_SCRIPT), run_name="__main__")
    assert gradledger.__version__ in capsys.readouterr().out
