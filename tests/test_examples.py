"""Every example runs in a fresh interpreter; without matplotlib it skips its plot and says so."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
NO_PLOT_NOTE = "matplotlib is not installed: no plot"


@pytest.fixture
def no_matplotlib(tmp_path):
    """A PYTHONPATH entry whose `matplotlib` fails to import, as if it were not installed."""
    blocker = tmp_path / "blocker" / "matplotlib"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('matplotlib is blocked by the test')\n")
    return str(blocker.parent)


def run_example(name, *args, cwd, pythonpath=None):
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [pythonpath, env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args], cwd=cwd, env=env,
        capture_output=True, text=True, encoding="utf-8", timeout=120, check=False,
    )
    assert result.returncode == 0, f"{name} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_seed_walkthrough_agrees_with_every_number_of_the_seed(tmp_path):
    out = run_example("seed_walkthrough.py", cwd=tmp_path)
    assert "MISMATCH" not in out
    assert "Every number agrees with the seed." in out
    assert "x.grad += 3.0 × a.grad (12.0)  → 36.0" in out
    assert "ratio 0.1001 / 0.01" in out and "10.01" in out


def test_nudge_vs_backprop_runs_small_and_skips_the_plot_without_matplotlib(
    tmp_path, no_matplotlib
):
    out = run_example("nudge_vs_backprop.py", "--max-n", "300", cwd=tmp_path,
                      pythonpath=no_matplotlib)
    rows = re.findall(r"^\s+([\d,]+)\s+\d+×\d+\s+([\d,]+)\s", out, flags=re.MULTILINE)
    assert rows == [("10", "11"), ("30", "31"), ("100", "101"), ("300", "301")]
    differences = [float(d) for d in re.findall(r"(\d\.\de[-+]\d+)\s*$", out, flags=re.MULTILINE)]
    assert len(differences) == 4 and max(differences) < 1e-4  # the same gradients both ways
    assert NO_PLOT_NOTE in out
    assert not list(tmp_path.glob("*.png"))


def test_train_moons_reaches_90_percent_in_a_few_epochs_without_matplotlib(
    tmp_path, no_matplotlib
):
    out = run_example("train_moons.py", "--epochs", "10", "--seed", "0", cwd=tmp_path,
                      pythonpath=no_matplotlib)
    epochs = re.findall(r"^epoch\s+(\d+)/10 \[#+\] loss [\d.]+  accuracy\s+([\d.]+)%", out,
                        flags=re.MULTILINE)
    assert [int(e) for e, _ in epochs] == list(range(1, 11))  # one progress line per epoch
    final = float(re.search(r"training accuracy ([\d.]+)%", out).group(1))
    assert final >= 90.0
    assert NO_PLOT_NOTE in out
    assert not list(tmp_path.glob("*.png"))


@pytest.mark.skipif(not HAS_MATPLOTLIB, reason="matplotlib is not installed")
@pytest.mark.parametrize("name, args", [
    ("nudge_vs_backprop.py", ["--max-n", "100", "--plot", "plot.png"]),
    ("train_moons.py", ["--epochs", "2", "--plot", "plot.png"]),
])
def test_examples_save_their_png_with_matplotlib(tmp_path, name, args):
    run_example(name, *args, cwd=tmp_path)
    assert (tmp_path / "plot.png").read_bytes()[:4] == b"\x89PNG"
