r"""Definition 4.8: the total coding rate.

**Statement.** For a batch of $B$ samples stacked as columns, $Z \in \mathbb{R}^{d\times B}$,
and $\mu \ge 0$,

$$
\mathrm{TCR}_\mu(Z) = \log\det(\mu I_d + Z Z^\top),
$$

also written $\mathrm{TCR}_\mu(ZZ^\top)$, so that $\mathrm{TCR}_\mu(K) = \log\det(\mu I + K)$
for a positive semi-definite matrix $K$.

What is checked (the consequences the rest of the paper relies on):

1. *Spectral form.* $\mathrm{TCR}_\mu(K) = \sum_i \log(\mu + \lambda_i(K))$.
2. *Batch/feature duality* (Sylvester's determinant identity $\det(I_d + AB) = \det(I_B + BA)$):
   for $\mu > 0$,
   $\log\det(\mu I_d + ZZ^\top) = (d - B)\log\mu + \log\det(\mu I_B + Z^\top Z)$.
   Proof: factor $\mu$ out of both determinants and apply Sylvester's identity to
   $A = Z/\sqrt\mu$, $B = Z^\top/\sqrt\mu$.
3. *Two-sided bound.* $d\log\mu \le \mathrm{TCR}_\mu(K) \le d\log(\mu + \mathrm{tr}K/d)$;
   the left because every $\lambda_i \ge 0$, the right by the AM-GM inequality on
   $\mu + \lambda_i$, with equality if and only if $K = (\mathrm{tr}K/d)\, I$.
4. *The condition the definition leaves out.* "Non-negative" admits $\mu = 0$, where
   $\mathrm{TCR}_0(Z) = \log\det ZZ^\top = -\infty$ for every rank-deficient $Z$, in
   particular for every batch with $B < d$. Exact instance: $d = 2$, $B = 1$,
   $Z = (3/5, 4/5)^\top$ gives $\det ZZ^\top = 0$. The rate is a finite number only for
   $\mu > 0$ (or full-rank $ZZ^\top$).

The implementation under test, [`mmae.info.total_coding_rate`][mmae.info.total_coding_rate], is
compared with a 60-digit evaluation, and [`mmae.losses.tcr_loss`][mmae.losses.tcr_loss] (the
public code's $-\log\det(I_d + \tfrac{\mu}{d}F^\top F)$) with the identity
$-\text{tcr\_loss}(z,\mu) = \mathrm{TCR}_{d/\mu}(F^\top F) - d\log(d/\mu)$.
"""
import mpmath as mp
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, strategies as st

from proofs._mp import DPS, matrix as mp_matrix
from proofs._strategies import normalised_batch
from proofs._tcr import mp_logdet_shift, with_fixtures

STATEMENT = "Definition 4.8"
TITLE = "the total coding rate"
VERDICT = "holds under a condition"
CONDITION = (r"$\mu > 0$: with $\mu = 0$, which 'non-negative' admits, the rate is $-\infty$ for every "
             r"rank-deficient $Z$, e.g. every batch with $B < d$")


@pytest.mark.check("symbolic")
def test_sylvester_duality_symbolic():
    mu = sp.symbols("mu", positive=True)
    z = sp.Matrix(2, 3, sp.symbols("z0:6", real=True))  # d = 2 features, B = 3 samples
    lhs = (mu * sp.eye(2) + z * z.T).det()
    rhs = mu ** (2 - 3) * (mu * sp.eye(3) + z.T * z).det()
    assert sp.expand(sp.simplify(lhs - rhs)) == 0


@pytest.mark.check("symbolic")
def test_mu_zero_is_minus_infinity_for_small_batches(counterexample):
    z = sp.Matrix([sp.Rational(3, 5), sp.Rational(4, 5)])  # d = 2, B = 1, a unit sample
    assert (z * z.T).det() == 0
    assert mp.log(mp.mpf(0)) == -mp.inf  # log det(0 I + Z Z^T)
    counterexample({"d": 2, "B": 1, "Z": "[3/5, 4/5]^T", "mu": 0, "det(mu I + Z Z^T)": 0},
                   "TCR_0 is -infinity: the definition needs mu > 0")
    # with any mu > 0 it is finite: log(mu) + log(mu + 1)
    mu = sp.symbols("mu", positive=True)
    assert sp.simplify((mu * sp.eye(2) + z * z.T).det() - mu * (mu + 1)) == 0


@pytest.mark.check("high-precision")
def test_spectral_form_duality_and_bounds(slack):
    rng = np.random.default_rng(48)
    with mp.workdps(DPS):
        for (b, d) in [(2, 5), (5, 2), (4, 4), (7, 3)]:
            z = mp_matrix(rng.standard_normal((d, b)))  # paper layout: columns are samples
            for mu in (mp.mpf("1e-3"), mp.mpf(1), mp.mpf(3), mp.mpf(100)):
                k = z * z.T
                tcr = mp_logdet_shift(k, mu)
                assert abs(tcr - mp.log(mp.det(mu * mp.eye(d) + k))) < mp.mpf(10) ** -40
                dual = (d - b) * mp.log(mu) + mp_logdet_shift(z.T * z, mu)
                assert abs(tcr - dual) < mp.mpf(10) ** -40
                tr = sum(k[i, i] for i in range(d))
                slack(tcr - d * mp.log(mu), "TCR - d log mu")
                slack(d * mp.log(mu + tr / d) - tcr, "d log(mu + tr K / d) - TCR")
                assert tcr - d * mp.log(mu) > 0
                assert d * mp.log(mu + tr / d) - tcr > mp.mpf(10) ** -30
        # AM-GM bound is attained exactly at K proportional to I
        k = 2 * mp.eye(3)
        assert abs(mp_logdet_shift(k, mp.mpf(1)) - 3 * mp.log(3)) < mp.mpf(10) ** -50


@pytest.mark.check("randomized")
@with_fixtures
@given(z=normalised_batch(max_B=6, max_d=6), mu=st.sampled_from([1e-3, 0.1, 1.0, 3.0, 50.0]))
def test_duality_and_bounds_randomized(z, mu, slack):
    zt = z.T  # (d, B), the paper's layout
    d, b = zt.shape
    tcr = np.linalg.slogdet(mu * np.eye(d) + zt @ zt.T)[1]
    dual = (d - b) * np.log(mu) + np.linalg.slogdet(mu * np.eye(b) + zt.T @ zt)[1]
    assert abs(tcr - dual) <= 1e-9 * (1 + abs(tcr))
    upper = d * np.log(mu + np.trace(zt @ zt.T) / d) - tcr
    slack(upper, "d log(mu + tr K / d) - TCR")
    assert upper >= -1e-9 * (1 + abs(tcr))


@pytest.mark.check("high-precision")
def test_mmae_total_coding_rate_and_tcr_loss_agree_with_60_digits():
    from mmae import info
    from mmae import losses
    import torch
    rng = np.random.default_rng(8)
    with mp.workdps(DPS):
        for (b, d) in [(3, 5), (6, 4)]:
            z = rng.standard_normal((b, d))
            f = z / np.linalg.norm(z, axis=1, keepdims=True)
            ff = mp_matrix(f)
            k = ff.T * ff  # paper Z Z^T, d x d
            for mu in (0.5, 1.0, 3.0):
                ref = mp_logdet_shift(k, mp.mpf(mu))
                got = float(info.total_coding_rate(torch.tensor(f.T @ f, dtype=torch.float64), mu))
                assert abs(got - float(ref)) <= 1e-10 * (1 + abs(float(ref)))
                m = mp.mpf(d) / mu
                ref_code = -(mp_logdet_shift(k, m) - d * mp.log(m))
                got_code = float(losses.tcr_loss(torch.tensor(z, dtype=torch.float64), mu))
                assert abs(got_code - float(ref_code)) <= 1e-10 * (1 + abs(float(ref_code)))
