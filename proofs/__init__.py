"""Machine checks of the numbered statements of "Information Flow in Self-Supervised Learning".

One file per statement (``test_<kind>_<number>.py``) holds the statement in its module
docstring, a proof a reader can follow, and three kinds of check: ``symbolic`` (sympy),
``high-precision`` (mpmath, 60 digits) and ``randomized`` (hypothesis + local optimisation).
``pytest proofs`` writes a JSON report; ``python -m proofs.report`` prints it as a table.
Every inequality is searched for its worst case (``proofs._power``): the report gives its measured
tightness and the closest configuration found, and ``pytest proofs --power`` shows that the search
refutes the statement with its constant moved 1% past the supremum of the share (where it is known,
else past the measured tightness).
Deviations from the paper are listed, with their evidence, in ``proofs/ERRATA.md``.
"""
