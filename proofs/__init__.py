"""Machine checks of the numbered statements of "Information Flow in Self-Supervised Learning".

One file per statement (``test_<kind>_<number>.py``) holds the statement in its module
docstring, a proof a reader can follow, and three kinds of check: ``symbolic`` (sympy),
``high-precision`` (mpmath, 60 digits) and ``randomized`` (hypothesis + local optimisation).
``pytest proofs`` writes a JSON report; ``python -m proofs.report`` prints it as a table.
Deviations from the paper are listed, with their evidence, in ``proofs/ERRATA.md``.
"""
