"""An independent yardstick for the tests: the seed's nudge method, written out plainly."""

import numpy as np


def nudge_grads(f, arrays, eps=1e-6):
    """Central differences of the scalar `f(*arrays)` with respect to every element."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    grads = []
    for a in arrays:
        g = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            original = a[idx]
            a[idx] = original + eps
            up = f(*arrays)
            a[idx] = original - eps
            down = f(*arrays)
            a[idx] = original
            g[idx] = (up - down) / (2 * eps)
        grads.append(g)
    return grads


def complex_nudge_grads(f, arrays, eps=1e-6):
    """The same for complex (or real) inputs, in PyTorch's convention: for each element,
    d f / d Re + i d f / d Im (the imaginary nudge only where the input is complex).
    `f` returns a real scalar."""
    arrays = [np.array(a, dtype=np.complex128 if np.iscomplexobj(a) else np.float64)
              for a in arrays]
    grads = []
    for a in arrays:
        g = np.zeros_like(a)
        steps = (eps, 1j * eps) if np.iscomplexobj(a) else (eps,)
        for idx in np.ndindex(a.shape):
            original = a[idx]
            for step in steps:
                a[idx] = original + step
                up = f(*arrays)
                a[idx] = original - step
                down = f(*arrays)
                a[idx] = original
                g[idx] += (step / abs(step)) * (up - down) / (2 * eps)
            # step / |step| is 1 or i: the real nudge books the real part, i the imaginary
        grads.append(g)
    return grads
