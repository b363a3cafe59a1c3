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
HAS_SKLEARN = importlib.util.find_spec("sklearn") is not None
needs_sklearn = pytest.mark.skipif(not HAS_SKLEARN, reason="scikit-learn is not installed")
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


@needs_sklearn
def test_digits_cnn_learns_the_digits_in_a_few_epochs_without_matplotlib(tmp_path, no_matplotlib):
    out = run_example("digits_cnn.py", "--epochs", "3", "--seed", "0", cwd=tmp_path,
                      pythonpath=no_matplotlib)
    epochs = re.findall(r"^epoch (\d)/3  loss ([\d.]+)  train accuracy\s+([\d.]+)%  "
                        r"test accuracy\s+([\d.]+)%  time [\d.]+ s$", out, flags=re.MULTILINE)
    assert [int(e[0]) for e in epochs] == [1, 2, 3]  # one progress line per epoch
    losses = [float(e[1]) for e in epochs]
    assert losses[2] < losses[0] / 2
    final = float(re.search(r"^test accuracy ([\d.]+)% after 3 epochs", out, re.M).group(1))
    assert final >= 90.0  # the full run (15 epochs) reaches about 97%
    assert NO_PLOT_NOTE in out
    assert not list(tmp_path.glob("*.png"))


def test_char_lm_falls_well_below_the_uniform_baseline_and_makes_up_names(
    tmp_path, no_matplotlib
):
    out = run_example("char_lm.py", "--steps", "600", "--samples", "8", cwd=tmp_path,
                      pythonpath=no_matplotlib)
    steps = re.findall(r"^step\s+(\d+)/600  train loss ([\d.]+)  val loss ([\d.]+)", out, re.M)
    assert [int(s[0]) for s in steps] == list(range(60, 601, 60))
    baseline = float(re.search(r"uniform baseline log\(27\) = ([\d.]+)", out).group(1))
    assert baseline == pytest.approx(3.2958, abs=1e-4)
    val = float(steps[-1][2])
    assert val < baseline - 0.8  # the full run (3,000 steps) gets near 2.0
    names = re.search(r"^sampled names: (.*)$", out, re.M).group(1).split(", ")
    assert len(names) == 8 and all(re.fullmatch(r"[a-z]*", name) for name in names)
    assert NO_PLOT_NOTE in out


@pytest.mark.skipif(not HAS_MATPLOTLIB, reason="matplotlib is not installed")
@pytest.mark.parametrize("name, args, pngs", [
    ("nudge_vs_backprop.py", ["--max-n", "100", "--plot", "plot.png"], ["plot.png"]),
    ("train_moons.py", ["--epochs", "2", "--plot", "plot.png"], ["plot.png"]),
    ("char_lm.py", ["--steps", "20", "--samples", "1", "--plot", "plot.png"], ["plot.png"]),
    pytest.param("digits_cnn.py", ["--epochs", "1", "--plot", "plot"],
                 ["plot_curves.png", "plot_filters.png"], marks=needs_sklearn),
])
def test_examples_save_their_png_with_matplotlib(tmp_path, name, args, pngs):
    run_example(name, *args, cwd=tmp_path)
    for png in pngs:
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG"


def test_newton_logistic_converges_quadratically_in_a_handful_of_steps(tmp_path):
    out = run_example("newton_logistic.py", cwd=tmp_path)
    norms = [float(n) for n in re.findall(r"\|grad\| ([\d.e+-]+)$", out, flags=re.MULTILINE)]
    newton, descent = norms[:-1], norms[-1]
    assert len(newton) <= 9 and newton[-1] < 1e-10
    # quadratic convergence: once small, the gradient's norm at least squares each step
    small = [n for n in newton if n < 1e-2]
    assert all(b <= 10 * a * a for a, b in zip(small, small[1:], strict=False))
    assert descent > 1e-4  # gradient descent, given as many steps, is still far off
    assert re.search(r"converged in \d Newton steps; training accuracy \d+\.\d%", out)


def test_char_gpt_learns_the_names_well_below_the_uniform_baseline(tmp_path):
    out = run_example("char_gpt.py", "--steps", "60", "--embed", "32", "--layers", "1",
                      "--heads", "2", cwd=tmp_path)
    steps = re.findall(r"^step\s+(\d+)/60  train loss ([\d.]+)  val loss ([\d.]+)", out, re.M)
    assert [int(s[0]) for s in steps] == list(range(6, 61, 6))
    baseline = float(re.search(r"uniform baseline log\(27\) = ([\d.]+)", out).group(1))
    final = float(re.search(r"^final validation loss ([\d.]+)", out, re.M).group(1))
    assert final < baseline - 0.7  # the full run (1,500 steps, 104k parameters) reaches 1.95


def test_lstm_lm_with_truncated_bptt_falls_well_below_the_uniform_baseline(tmp_path):
    out = run_example("lstm_lm.py", "--epochs", "1", "--hidden", "32", cwd=tmp_path)
    assert re.search(r"^epoch 1/1  steps 57  train loss [\d.]+  val loss [\d.]+  lr 0.01", out,
                     re.M)
    baseline = float(re.search(r"uniform baseline log\(27\) = ([\d.]+)", out).group(1))
    final = float(re.search(r"^final validation loss ([\d.]+)", out, re.M).group(1))
    assert final < baseline - 0.9  # the full run (3 epochs, hidden 128) reaches 1.97


@needs_sklearn
def test_bn_cnn_learns_the_digits_with_batchnorm_and_dropout(tmp_path):
    out = run_example("bn_cnn.py", "--epochs", "2", "--train-size", "1000", cwd=tmp_path)
    epochs = re.findall(r"^epoch (\d)/2  loss ([\d.]+)  test accuracy\s+([\d.]+)%", out, re.M)
    assert [int(e[0]) for e in epochs] == [1, 2]
    assert float(epochs[1][1]) < float(epochs[0][1])
    final = float(re.search(r"^test accuracy ([\d.]+)% after 2 epochs", out, re.M).group(1))
    assert final >= 80.0  # the full run (10 epochs, every training image) reaches 99.3%


@needs_sklearn
def test_vae_beats_the_mean_image_baseline_on_held_out_digits(tmp_path):
    out = run_example("vae.py", "--epochs", "5", cwd=tmp_path)
    test, baseline = map(float, re.search(
        r"^test loss ([\d.]+) nats per image, \d+% below the mean-image baseline ([\d.]+)",
        out, re.M).groups())
    assert test < 0.9 * baseline  # the full run (60 epochs) is about a third below it
