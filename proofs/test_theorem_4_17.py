r"""Theorem 4.17 (twin: Theorem A.11): the Barlow Twins loss bounds the joint total coding rate.

**Statement.** Let $\bar Z_1, \bar Z_2 \in \mathbb{R}^{d\times B}$ be the two branches with every
feature (row) $\ell_2$-normalised over the batch, without centring (Sec. 3.2),
$K_k = \bar Z_k\bar Z_k^\top$ (unit diagonal), $\mathcal C = \bar Z_1\bar Z_2^\top$ and
$\mathcal L_{BT} = \sum_i(1-\mathcal C_{ii})^2 + \lambda\sum_{i\ne j}\mathcal C_{ij}^2$ (Eq. (3)). Then, for
$\mu > 0$ and $\lambda > 0$,

$$
\mathrm{TCR}_\mu(K_1\odot K_2) \ge d\log(\mu+1) - \frac1{2\mu^2}\Big(\frac2\lambda\mathcal L_{BT}
+ 4(d-1)\sqrt{d\,\mathcal L_{BT}}\Big).
$$

In our text copy the printed proof is unreadable (a PDF-extraction fault repeats one equation
many times), and the part that can be read skips two steps; here the proof is reconstructed.
(The paper uses $\lambda$ both for the loss weight and for eigenvalues; below the eigenvalues are
$\nu_i$.)

1. $K = K_1\odot K_2$ is positive semi-definite (Schur) with unit diagonal, so its eigenvalues
   satisfy $\nu_i \ge 0$, $\sum_i\nu_i = d$ and $\sum_i\nu_i^2 = \|K\|_F^2$.
2. $\mathrm{TCR}_\mu(K) = d\log\mu + \sum_i\log(1+\nu_i/\mu)$. Lemma A.12 with
   $x = \nu_i/\mu \ge 0$ and $a = 1/\mu$, summed over $i$: the linear terms add to
   $(\sum_i\nu_i - d)/(\mu+1) = 0$ and the quadratic ones to
   $-\tfrac1{2\mu^2}\sum_i(\nu_i-1)^2 = -\tfrac1{2\mu^2}(\|K\|_F^2 - d)$, so
   $\mathrm{TCR}_\mu(K) \ge d\log(\mu+1) - \tfrac1{2\mu^2}\sum_{i\ne j}K_1(i,j)^2K_2(i,j)^2$.
3. $|K_2(i,j)| \le 1$ (Cauchy-Schwarz on unit rows; not stated in the paper) gives
   $\sum_{i\ne j}K_1(i,j)^2K_2(i,j)^2 \le \sum_{i\ne j}K_1(i,j)^2$.
4. Lemma 4.2 with $a = \bar z^{(1)}_i$, $b = \bar z^{(1)}_j$, $b' = \bar z^{(2)}_j$ (all unit):
   $|K_1(i,j)| \le |\mathcal C_{ij}| + \sqrt{2(1-\mathcal C_{jj})}$, and $(u+v)^2 \le 2(u^2+v^2)$
   gives $K_1(i,j)^2 \le 2\mathcal C_{ij}^2 + 4(1-\mathcal C_{jj})$. Summing over $i\ne j$ (each $j$
   appears $d - 1$ times):
   $\sum_{i\ne j}K_1(i,j)^2 \le 2\sum_{i\ne j}\mathcal C_{ij}^2 + 4(d-1)\sum_j(1-\mathcal C_{jj})$.
5. $\sum_{i\ne j}\mathcal C_{ij}^2 \le \mathcal L_{BT}/\lambda$, and by Cauchy-Schwarz (not stated in
   the paper) $\sum_j(1-\mathcal C_{jj}) \le \sqrt{d\sum_j(1-\mathcal C_{jj})^2} \le \sqrt{d\,\mathcal L_{BT}}$.

**Tightness** (the remark after the theorem): at $\mathcal L_{BT} = 0$ we get $\mathcal C = I$, hence
$\bar Z_1 = \bar Z_2$ with orthonormal rows, $K_1 = K_2 = I$, and both sides equal $d\log(\mu+1)$;
this needs $B \ge d$. **Conditions** the statement leaves implicit: $\mu > 0$ (Definition 4.8
allows $\mu = 0$, where the right side is undefined), $\lambda > 0$, and no feature that is zero
over the whole batch (else the normalisation of Sec. 3.2 does not exist).

**Sharp constant (ours).** Steps 4-5 bound each entry by Lemma 4.2 and square with
$(u+v)^2 \le 2u^2 + 2v^2$; summing first (the summed Lemma 4.2 of `proofs/_sharp.py`, on the unit
features) gives $\sqrt{\sum_{i\ne j}K_1(i,j)^2} \le \sqrt{\textstyle\sum_{i\ne j}\mathcal C_{ij}^2}
+ \sqrt{2(d-1)\sum_j(1-\mathcal C_{jj})}$, hence

$$
\mathrm{TCR}_\mu(K_1\odot K_2) \ge d\log(\mu+1) - \frac{1}{2\mu^2}\Big(\sqrt{\mathcal L_{BT}/\lambda}
+ \sqrt{2(d-1)\sqrt{d\,\mathcal L_{BT}}}\Big)^2,
$$

at most the printed allowance (the difference is $(\sqrt{\mathcal L_{BT}/\lambda} - \sqrt{2(d-1)\sqrt{d\mathcal L_{BT}}})^2/(2\mu^2)$).
It is sharp: on collapsed equal views (all features equal, $K_1 = K_2 = \mathbf 1\mathbf 1^\top$) its share
tends to 1 as $\lambda \to 0$ and $\mu \to \infty$ (on the family $(1-\varepsilon)I + \varepsilon\mathbf 1\mathbf 1^\top$ the
limit is $\varepsilon^2$, derived in sympy from the series in $1/\mu$, checked at 60 digits), where the
printed bound's share tends to $\tfrac12$. That $\tfrac12$ is the printed bound's supremum is conjectured
from the worst-case search, which covers every $\lambda > 0$ and $\mu$ up to $\infty$.
"""
import mpmath as mp
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, strategies as st

from proofs import _sharp
from proofs._mp import DPS, hadamard, matrix
from proofs._strategies import near_zero_loss_pair, normalised_batch
from proofs._tcr import (check_mmae_loss_and_tcr, mp_bt, mp_logdet_shift, mp_offdiag2, np_bt, np_logdet_shift, settle,
                         with_fixtures)
from proofs._power import worst_case_test

STATEMENT = "Theorem 4.17"
TITLE = "the Barlow Twins loss bounds the joint total coding rate"
TWINS = ("Theorem A.11",)
VERDICT = "holds under a condition"
CONDITION = r"$\mu > 0$ and $\lambda > 0$ (the bound divides by both), and no feature identically zero over the batch"


def bound(d, mu, lam, loss, sqrt=mp.sqrt):
    return d * mp.log(mu + 1) - (2 * loss / lam + 4 * (d - 1) * sqrt(d * loss)) / (2 * mu ** 2)


def chain_mp(z1, z2, lam, mu):
    """The five quantities of the proof, at 60 digits: TCR >= s2 >= s3 >= s4 >= bound."""
    loss, c, k1, k2 = mp_bt(z1, z2, lam)
    d = c.rows
    k = hadamard(k1, k2)
    tcr = mp_logdet_shift(k, mu)
    s2 = d * mp.log(mu + 1) - mp_offdiag2(k) / (2 * mu ** 2)
    s3 = d * mp.log(mu + 1) - mp_offdiag2(k1) / (2 * mu ** 2)
    s4 = d * mp.log(mu + 1) - (2 * mp_offdiag2(c) + 4 * (d - 1) * mp.fsum(1 - c[j, j] for j in range(d))) / (2 * mu ** 2)
    return [tcr, s2, s3, s4, bound(d, mu, lam, loss)], loss


@pytest.mark.check("symbolic")
def test_lemma_summation_step():
    mu = sp.symbols("mu", positive=True)
    nu = sp.symbols("n0:3", nonnegative=True)
    d, a = 3, 1 / mu
    rhs = sum(sp.log(mu) + sp.log(1 + a) + (n / mu - a) / (1 + a) - (n / mu - a) ** 2 / 2 for n in nu)
    target = d * sp.log(mu + 1) - (sum(n ** 2 for n in nu) - d) / (2 * mu ** 2)
    diff = sp.expand(sp.expand_log(rhs - target, force=True))
    assert sp.simplify(diff.subs(nu[2], d - nu[0] - nu[1])) == 0  # uses sum(nu) = d


@pytest.mark.check("symbolic")
def test_elementary_steps():
    u, v = sp.symbols("u v", real=True)
    assert sp.expand(2 * (u ** 2 + v ** 2) - (u + v) ** 2 - (u - v) ** 2) == 0  # (u+v)^2 <= 2(u^2+v^2)
    t = sp.symbols("t0:3", real=True)  # Cauchy-Schwarz: d sum t^2 - (sum t)^2 = sum_{i<j} (t_i - t_j)^2
    assert sp.expand(3 * sum(x ** 2 for x in t) - sum(t) ** 2 - sum((t[i] - t[j]) ** 2 for i in range(3) for j in range(i + 1, 3))) == 0
    # ||b - b'||^2 = 2 (1 - b.b') for unit b, b' (Lemma 4.2's equality), on the unit circle
    p, q = sp.symbols("p q", real=True)
    b, b2 = sp.Matrix([sp.cos(p), sp.sin(p)]), sp.Matrix([sp.cos(q), sp.sin(q)])
    assert sp.simplify((b - b2).dot(b - b2) - 2 * (1 - b.dot(b2))) == 0


@pytest.mark.check("symbolic")
def test_tight_at_zero_loss_exactly(slack):
    mu, lam = sp.symbols("mu lambda", positive=True)
    d = 3
    z = sp.Matrix([[sp.Rational(3, 5), sp.Rational(4, 5), 0], [sp.Rational(-4, 5), sp.Rational(3, 5), 0], [0, 0, 1]])
    zb = z  # rows and columns already unit: B = d = 3, an exact rational rotation
    c = zb.T * zb  # C = zbar1^T zbar2 with both branches equal (row-major, features = columns)
    assert c == sp.eye(3)
    loss = sum((1 - c[i, i]) ** 2 for i in range(d)) + lam * sum(c[i, j] ** 2 for i in range(d) for j in range(d) if i != j)
    assert loss == 0
    k = c.multiply_elementwise(c)
    rhs = d * sp.log(mu + 1) - (2 * loss / lam + 4 * (d - 1) * sp.sqrt(d * loss)) / (2 * mu ** 2)
    assert rhs == d * sp.log(mu + 1)
    det = sp.factor((mu * sp.eye(d) + k).det())
    assert det == (mu + 1) ** d  # TCR = d log(mu + 1) = the bound
    slack(sp.simplify(sp.expand_log(sp.log(det) - rhs, force=True)), "TCR - bound at zero loss (exact)")


@pytest.mark.check("high-precision")
def test_each_step_of_the_proof_60_digits(slack):
    rng = np.random.default_rng(417)
    with mp.workdps(DPS):
        for b, d in [(3, 2), (5, 3), (2, 4), (8, 4)]:
            for scale in (1.0, 1e-2, 1e-5):  # generic, near zero loss, very near zero loss
                q = np.linalg.qr(rng.standard_normal((max(b, d), max(b, d))))[0][:b, :d]
                z1 = matrix(q + scale * rng.standard_normal((b, d)))
                z2 = matrix(q + scale * rng.standard_normal((b, d)))
                for lam, mu in [(mp.mpf("0.005"), mp.mpf(1)), (mp.mpf(1), mp.mpf("0.3")), (mp.mpf(10), mp.mpf(3))]:
                    vals, loss = chain_mp(z1, z2, lam, mu)
                    for hi, lo in zip(vals, vals[1:]):
                        assert hi - lo >= -mp.mpf(10) ** -45
                    slack(vals[0] - vals[-1], "TCR - bound")
                    assert vals[0] - vals[-1] > mp.mpf(10) ** -40


@pytest.mark.check("randomized")
@with_fixtures
@given(pair=near_zero_loss_pair(kind="columns", max_B=8, max_d=4),
       lam=st.sampled_from([1e-3, 5e-3, 0.1, 1.0, 100.0]), mu=st.sampled_from([0.05, 0.5, 1.0, 3.0, 30.0]))
def test_near_zero_loss_randomized(pair, lam, mu, slack):
    z1, z2, _, _ = pair
    loss, c, k1, k2 = np_bt(z1, z2, lam)
    d = c.shape[0]
    s = np_logdet_shift(k1 * k2, mu) - (d * np.log(mu + 1) - (2 * loss / lam + 4 * (d - 1) * np.sqrt(d * loss)) / (2 * mu ** 2))
    if s < 1e-9:  # re-evaluate at 60 digits before judging
        with mp.workdps(DPS):
            vals, _ = chain_mp(matrix(z1), matrix(z2), mp.mpf(lam), mp.mpf(mu))
            s = settle(vals[0] - vals[-1])
    slack(s, "TCR - bound")
    assert s >= 0


@pytest.mark.check("randomized")
@with_fixtures
@given(z1=normalised_batch(min_B=2, max_B=6, max_d=4), seed=st.integers(0, 2 ** 16),
       lam=st.sampled_from([5e-3, 1.0]), mu=st.sampled_from([0.2, 1.0, 3.0]))
def test_generic_batches_randomized(z1, seed, lam, mu, slack):
    z2 = z1 + 0.3 * np.random.default_rng(seed).standard_normal(z1.shape)
    if np.min(np.abs(z1).sum(0)) < 1e-12 or np.min(np.abs(z2).sum(0)) < 1e-12:
        return
    loss, c, k1, k2 = np_bt(z1, z2, lam)
    d = c.shape[0]
    s = np_logdet_shift(k1 * k2, mu) - (d * np.log(mu + 1) - (2 * loss / lam + 4 * (d - 1) * np.sqrt(d * loss)) / (2 * mu ** 2))
    slack(s, "TCR - bound (float64)")
    assert s >= -1e-9


@pytest.mark.check("high-precision")
def test_mmae_barlow_twins_and_tcr_agree():
    rng = np.random.default_rng(41700)
    check_mmae_loss_and_tcr("bt", rng.standard_normal((6, 3)), rng.standard_normal((6, 3)), 0.005)


test_worst_case_search = worst_case_test("Theorem 4.17", "Theorem 4.17 (sharp)")


test_sharp_constants_symbolic, test_sharp_constants_60_digits = _sharp.tests("Theorem 4.17")
