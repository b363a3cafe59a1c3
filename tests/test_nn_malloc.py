"""gl.nn.malloc: glibc's thresholds raised so that a training step's temporaries reuse
memory instead of faulting on fresh pages; harmless where the C library is not glibc."""

import os
import platform
import subprocess
import sys

import gradledger as gl
import pytest

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"  # (the slow way)
resource = pytest.importorskip("resource")  # Unix only: the fault counter


FAULTS = """
import resource
import numpy as np
import gradledger as gl


def faults():  # minor page faults of 20 arrays of 2 MiB, each made, touched and freed
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        a = np.ones(2**18)
        del a
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


assert gl.nn.malloc.tune_malloc(False)
faults()
untuned = faults()
assert gl.nn.malloc.tune_malloc()
faults()
print(untuned, faults())
"""


@pytest.mark.skipif(not GLIBC, reason="glibc's mallopt: this C library is not glibc")
def test_raised_thresholds_stop_the_page_faults_of_fresh_temporaries():
    # in a fresh process: malloc's state is process-wide, and a test run before this one
    # in the same worker once left 2 MiB arrays reusing heap memory untuned
    done = subprocess.run([sys.executable, "-c", FAULTS], capture_output=True, text=True,
                          check=True, env={**os.environ, "GRADLEDGER_MALLOC": ""})
    untuned, tuned = (int(n) for n in done.stdout.split())
    assert untuned > 20 * 256  # each 2 MiB array mmapped anew: 512 pages
    assert tuned < 20


def test_elsewhere_than_glibc_tune_malloc_does_nothing_and_says_so(monkeypatch):
    monkeypatch.setattr(gl.nn.malloc, "_is_glibc", lambda: False)
    assert gl.nn.malloc.tune_malloc() is False
    assert gl.nn.malloc.tune_malloc(False) is False


def test_a_threshold_glibc_cannot_take_is_refused_naming_the_limit():
    with pytest.raises(ValueError, match=r"mmap_threshold must be in \(0, 33554432\]"):
        gl.nn.malloc.tune_malloc(mmap_threshold=2**30)


@pytest.mark.skipif(not GLIBC, reason="glibc's mallopt: this C library is not glibc")
@pytest.mark.parametrize(("setting", "tuned"), [("", True), ("default", False)])
def test_importing_nn_tunes_malloc_unless_the_environment_says_default(setting, tuned):
    # arrays of 256 KiB, 384 KiB, ... 3.75 MiB, each made, touched and freed: each is
    # larger than the last, so glibc's own sliding threshold maps every one afresh
    # (about 14,800 faults), where raised thresholds serve them from one heap (about 900)
    script = ("import resource, numpy as np, gradledger as gl; gl.nn\n"
              "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
              "for k in range(2, 31):\n"
              "    a = np.ones(k * 2**14); del a\n"
              "print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)\n")
    env = {**os.environ, "GRADLEDGER_MALLOC": setting}
    faults = int(subprocess.run([sys.executable, "-c", script], env=env, check=True,
                                capture_output=True, text=True).stdout)
    assert (faults < 3000) if tuned else (faults > 10000)


def test_glibc_is_recognised_as_platform_libc_ver_says_without_reading_the_binary():
    assert gl.nn.malloc._is_glibc() == (platform.libc_ver()[0] == "glibc")
