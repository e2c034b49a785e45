"""Float tolerances derived from round-off.

House rule: a float tolerance is a multiple of the dtype's round-off for the size of the
computation, never an absolute number below it (the suite must pass on any CPU: vectorised and
portable kernels, and BLAS/LAPACK builds, sum in different orders and so round differently).

``roundoff(dtype, n, scale, k) = k * eps * n * scale`` where

- ``eps`` is the machine epsilon of ``dtype`` (float64 2.2e-16, float32 1.2e-7);
- ``n`` is the size of the computation: the number of terms one result accumulates (the length
  of a sum or a dot product; the order of an eigen- or Cholesky factorisation);
- ``scale`` is the magnitude of what is accumulated (the sum of the terms' absolute values, the
  norm of the matrix), times any amplification after it (the slope of a logarithm, a condition
  number);
- ``k`` is a safety factor for the few roundings chained around the accumulation.

``n * eps * scale`` is the classical worst-case error of such an accumulation (Higham, *Accuracy
and Stability of Numerical Algorithms*, 2nd ed., Eq. 3.5: ``|fl(sum x) - sum x| <= gamma_(n-1) sum
|x|`` with ``gamma_n ~ n eps / 2``; backward-stable factorisations of order ``n`` have the same
form). Use it as an absolute tolerance, or with the default ``scale=1`` as a relative one.
"""
import numpy as np
import torch


def eps(dtype) -> float:
    """Machine epsilon of a torch or numpy floating dtype."""
    return torch.finfo(dtype).eps if isinstance(dtype, torch.dtype) else float(np.finfo(dtype).eps)


def roundoff(dtype, n: float = 1, scale: float = 1.0, k: float = 4.0) -> float:
    """``k * eps(dtype) * n * scale``: the round-off of accumulating ``n`` terms of size ``scale``."""
    return k * eps(dtype) * n * scale
