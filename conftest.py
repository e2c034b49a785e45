"""Hypothesis profiles shared by ``tests/`` and ``proofs/``, chosen by ``HYPOTHESIS_PROFILE``.

- ``ci``: deterministic (derandomised) and bounded, for the continuous-integration run;
- ``dev`` (default): a fresh random search each run, moderately sized;
- ``thorough``: thousands of examples per property, for a human who wants to look hard.
"""
import os

import pytest
import torch
from hypothesis import HealthCheck, settings

_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
               print_blob=True)
settings.register_profile("ci", derandomize=True, max_examples=30, **_common)
settings.register_profile("dev", max_examples=100, **_common)
settings.register_profile("thorough", max_examples=5000, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(autouse=True)
def _one_thread():
    """The tests use tiny tensors: extra BLAS threads only add synchronisation stalls, and on a
    shared two-core machine they slow a small forward/backward pass by an order of magnitude."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
