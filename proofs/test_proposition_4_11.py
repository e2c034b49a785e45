r"""Proposition 4.11 (twin: Proposition A.7): the joint total coding rate dominates the two rates.

**Statement.** For positive semi-definite $K_1, K_2 \in \mathbb{R}^{d\times d}$ with unit diagonals
and $\mu \ge 0$,

$$
\mathrm{TCR}_{\mu^2+2\mu}(K_1\odot K_2) \ge \mathrm{TCR}_\mu(K_1) + \mathrm{TCR}_\mu(K_2).
$$

**Proof.** Because the diagonals are 1,

$$
(K_1+\mu I)\odot(K_2+\mu I) = K_1\odot K_2 + \mu(K_1\odot I + I\odot K_2) + \mu^2 I
= K_1\odot K_2 + (\mu^2+2\mu) I.
$$

The printed proof writes this identity as $(K_1+\mu I)\odot(K_1+\mu I)$, a typo for
$(K_1+\mu I)\odot(K_2+\mu I)$; the printed version expands to $K_1\odot K_1 + (\mu^2+2\mu)I$ and
proves nothing about $K_2$. Then Oppenheim's inequality for positive semi-definite $A$, $B$,
$\det(A\odot B) \ge \det A\prod_i B_{ii}$, with $A = K_1+\mu I$ and $B = K_2+\mu I$
($B_{ii} = 1+\mu$), and Hadamard's inequality $\det B \le \prod_i B_{ii}$ give

$$
\det\big(K_1\odot K_2 + (\mu^2+2\mu)I\big) \ge (1+\mu)^d\det(K_1+\mu I) \ge \det(K_1+\mu I)\det(K_2+\mu I).
$$

Taking logs proves the claim, and the stronger, symmetric form

$$
\mathrm{TCR}_{\mu^2+2\mu}(K_1\odot K_2) \ge d\log(1+\mu) + \max\{\mathrm{TCR}_\mu(K_1), \mathrm{TCR}_\mu(K_2)\},
$$

since $\mathrm{TCR}_\mu(K) \le d\log(1+\mu)$ for unit-diagonal $K$. Equality in the printed form
holds at $K_1 = K_2 = I$ (both sides are $2d\log(1+\mu)$), so the bound is sharp. The unit diagonal
is used in the expansion (the cross terms are $\mu$ times the diagonals).
"""
import mpmath as mp
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, strategies as st

from proofs._mp import DPS, hadamard, matrix, tcr
from proofs._strategies import unit_diag_psd_pair
from proofs._tcr import adversarial_min, mp_unit_diag_psd, np_logdet_shift, settle, with_fixtures
from proofs._power import worst_case_test

STATEMENT = "Proposition 4.11"
TITLE = "the joint total coding rate dominates the two branches' rates"
TWINS = ("Proposition A.7",)
VERDICT = "holds"


def _sym_unit_diag(name, d):
    m = sp.zeros(d, d)
    for i in range(d):
        m[i, i] = 1
        for j in range(i + 1, d):
            m[i, j] = m[j, i] = sp.Symbol(f"{name}{i}{j}", real=True)
    return m


@pytest.mark.check("symbolic")
def test_hadamard_expansion_and_the_typo():
    mu = sp.symbols("mu", positive=True)
    k1, k2 = _sym_unit_diag("a", 3), _sym_unit_diag("b", 3)
    i3 = sp.eye(3)
    lhs = (k1 + mu * i3).multiply_elementwise(k2 + mu * i3)
    assert sp.simplify(lhs - (k1.multiply_elementwise(k2) + (mu ** 2 + 2 * mu) * i3)) == sp.zeros(3, 3)
    printed = (k1 + mu * i3).multiply_elementwise(k1 + mu * i3)  # as printed in the proof of A.7
    assert sp.simplify(printed - (k1.multiply_elementwise(k2) + (mu ** 2 + 2 * mu) * i3)) != sp.zeros(3, 3)


@pytest.mark.check("symbolic")
def test_two_by_two_exact():
    # d = 2, K1 = [[1, a], [a, 1]], K2 = [[1, b], [b, 1]], |a|, |b| <= 1: the inequality between determinants
    a, b = sp.symbols("a b", real=True)
    mu = sp.symbols("mu", nonnegative=True)
    det_joint = (1 + mu ** 2 + 2 * mu) ** 2 - (a * b) ** 2
    det_prod = ((1 + mu) ** 2 - a ** 2) * ((1 + mu) ** 2 - b ** 2)
    diff = sp.expand(det_joint - det_prod)
    assert sp.simplify(diff - ((1 + mu) ** 2 * (a ** 2 + b ** 2) - 2 * a ** 2 * b ** 2)) == 0
    # (1 + mu)^2 >= 1, so diff >= a^2 + b^2 - 2 a^2 b^2 = (a^2 - b^2)^2 + a^2 (1 - a^2) + b^2 (1 - b^2) >= 0
    assert sp.expand((a ** 2 + b ** 2 - 2 * a ** 2 * b ** 2)
                     - ((a ** 2 - b ** 2) ** 2 + a ** 2 * (1 - a ** 2) + b ** 2 * (1 - b ** 2))) == 0


@pytest.mark.check("high-precision")
def test_inequality_and_stronger_form_60_digits(slack):
    rng = np.random.default_rng(411)
    with mp.workdps(DPS):
        for d, r1, r2 in [(2, 2, 2), (3, 1, 3), (4, 2, 2), (5, 5, 3), (6, 6, 6)]:
            k1, k2 = mp_unit_diag_psd(rng, d, r1), mp_unit_diag_psd(rng, d, r2)
            for mu in (mp.mpf("0.01"), mp.mpf(1), mp.mpf(3), mp.mpf(50)):
                joint = tcr(hadamard(k1, k2), mu ** 2 + 2 * mu)
                t1, t2 = tcr(k1, mu), tcr(k2, mu)
                s = joint - t1 - t2
                strong = joint - d * mp.log(1 + mu) - max(t1, t2)
                slack(s, "TCR_{mu^2+2mu}(K1 o K2) - TCR_mu(K1) - TCR_mu(K2)")
                assert strong >= 0 and s >= strong
                assert s > mp.mpf(10) ** -30
        eye = mp.eye(4)
        assert abs(tcr(hadamard(eye, eye), mp.mpf(3)) - 2 * tcr(eye, mp.mpf(1))) < mp.mpf(10) ** -50  # mu = 1: equality


@pytest.mark.check("randomized")
@with_fixtures
@given(pair=unit_diag_psd_pair(max_n=6, exact=True), mu=st.sampled_from([0.0, 1e-3, 0.1, 1.0, 3.0, 100.0]))
def test_inequality_randomized(pair, mu, slack):
    e1, e2 = pair  # exact rationals; float64 first, 60 digits where float64 cannot decide
    k1, k2 = e1.astype(float), e2.astype(float)
    if mu == 0.0 and min(np.linalg.eigvalsh(k1).min(), np.linalg.eigvalsh(k2).min()) < 1e-6:
        mu = 1e-6  # keep log det finite; the mu = 0 case is Oppenheim's inequality on full-rank pairs
    s = np_logdet_shift(k1 * k2, mu ** 2 + 2 * mu) - np_logdet_shift(k1, mu) - np_logdet_shift(k2, mu)
    if s < 1e-9:
        with mp.workdps(DPS):
            m = mp.mpf(mu)
            s = settle(tcr(hadamard(matrix(e1), matrix(e2)), m ** 2 + 2 * m) - tcr(matrix(e1), m) - tcr(matrix(e2), m))
    slack(s, "TCR_{mu^2+2mu}(K1 o K2) - TCR_mu(K1) - TCR_mu(K2)")
    assert s >= 0


@pytest.mark.check("randomized")
def test_adversarial_search(slack, effort):
    rng = np.random.default_rng(4111)
    d, r, mu = 3, 3, 1.0

    def gap(x):
        f = x.reshape(2, d, r)
        f = f / np.linalg.norm(f, axis=2, keepdims=True)
        k1, k2 = f[0] @ f[0].T, f[1] @ f[1].T
        return np_logdet_shift(k1 * k2, mu ** 2 + 2 * mu) - np_logdet_shift(k1, mu) - np_logdet_shift(k2, mu)

    val, x = adversarial_min(gap, [rng.standard_normal(2 * d * r) for _ in range(2 * effort)], maxiter=150)
    with mp.workdps(DPS):
        f = matrix(x.reshape(2 * d, r))
        from proofs._mp import normalise_rows
        f = normalise_rows(f)
        k = [matrix([[mp.fsum(f[o + i, c] * f[o + j, c] for c in range(r)) for j in range(d)] for i in range(d)]) for o in (0, d)]
        s = tcr(hadamard(k[0], k[1]), mp.mpf(3)) - tcr(k[0], mp.mpf(1)) - tcr(k[1], mp.mpf(1))
    s = settle(s)
    slack(s, "smallest gap found by local search (60 digits)")
    assert s >= 0


test_worst_case_search = worst_case_test("Proposition 4.11", "Proposition 4.11 (stronger)")
