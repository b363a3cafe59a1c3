"""`gl.functional`: the helpers of `torch.autograd.functional`, also reachable as `gl.NAME`.

See gradledger.autograd for what each costs.
"""

from .autograd import grad, hessian, hvp, jacobian, jvp, vjp

__all__ = ["grad", "hessian", "hvp", "jacobian", "jvp", "vjp"]
