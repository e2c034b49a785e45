r"""Proposition 4.10 (twin: Proposition A.6): entropy and TCR as matrix KL divergences.

**Statement.** For a positive semi-definite $K \in \mathbb{R}^{d\times d}$ with unit diagonal and
$\mu > 0$,

$$
\begin{aligned}
\mathrm{H}_1(K) &= \log d - \tfrac1d\,\mathrm{KL}(K\,\|\,I_d),\\
\mathrm{TCR}_\mu(K) &= d\log(1+\mu) - \mathrm{KL}\big(I_d \,\big\|\, \tfrac{1}{1+\mu}(\mu I_d + K)\big),
\end{aligned}
$$

with KL exactly as printed in Definition 4.9 (no $1/d$ normalisation) and
$\mathrm{TCR}_\mu(K) = \log\det(\mu I + K)$ (Definition 4.8).

**Proof.** The paper only says "directly from the definition"; here are the two lines. Let
$\lambda_i \ge 0$ be the eigenvalues of $K$; the unit diagonal gives $\sum_i\lambda_i = d$.

- $\mathrm{KL}(K\|I) = \mathrm{tr}[K\log K] = \sum_i\lambda_i\log\lambda_i$ (as $\log I = 0$), and
  $\mathrm{H}_1(K) = -\sum_i \tfrac{\lambda_i}{d}\log\tfrac{\lambda_i}{d}
  = \log d\cdot\tfrac1d\sum_i\lambda_i - \tfrac1d\sum_i\lambda_i\log\lambda_i$; the first term is
  $\log d$ *because* $\sum_i\lambda_i = d$.
- $M = (\mu I + K)/(1+\mu)$ is positive semi-definite with unit diagonal and commutes with $I$, so
  $\mathrm{KL}(I\|M) = -\mathrm{tr}\log M = d\log(1+\mu) - \sum_i\log(\mu+\lambda_i)
  = d\log(1+\mu) - \mathrm{TCR}_\mu(K)$.

Both identities hold exactly with the printed normalisations (the $1/d$ appears only in the first).
What the proof uses: for the first, only $\mathrm{tr}K = d$ (it fails for $K = 2I$, of trace $2d$);
for the second, nothing beyond positive semi-definiteness. That is the reason the right-hand KL has
the normalising factor $1/(1+\mu)$: it makes $M$ unit-diagonal, a legitimate argument of
Definition 4.9. At $\mu = 0$ and singular $K$ both sides are infinite
($-\infty = d\log 1 - (+\infty)$).

**Normalisation.** The printed KL is the unnormalised one,
$\mathrm{KL}(K_1\|K_2) = n\,D(K_1/n\,\|\,K_2/n)$ with $D$ the relative entropy of density matrices; in
terms of $D$ the identities read $\mathrm{H}_1(K) = \log d - D(K/d\,\|\,I/d)$ and
$\mathrm{TCR}_\mu(K) = d\log(1+\mu) - d\,D(I/d\,\|\,M/d)$: the $1/d$ of the first identity and the
missing $1/d$ of the second are both consistent with the printed definition.
"""
import mpmath as mp
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, strategies as st

from proofs._mp import DPS, entropy, matrix, matrix_kl, tcr
from proofs._strategies import unit_diag_psd
from proofs._tcr import mp_unit_diag_psd, with_fixtures

STATEMENT = "Proposition 4.10"
TITLE = "the matrix entropy and the coding rate as matrix KL divergences"
TWINS = ("Proposition A.6",)
VERDICT = "holds"


@pytest.mark.check("symbolic")
def test_both_identities_on_a_symbolic_spectrum():
    mu = sp.symbols("mu", positive=True)
    l1, l2, l3 = lam = sp.symbols("l1 l2 l3", positive=True)  # d = 3
    d = 3
    h1 = -sum((x / d) * sp.log(x / d) for x in lam)
    kl_k_i = sum(x * sp.log(x) for x in lam)
    resid = sp.expand(sp.expand_log(h1 - (sp.log(d) - kl_k_i / d), force=True))
    assert resid != 0  # without the trace condition the identity fails ...
    assert sp.simplify(resid.subs(l3, 3 - l1 - l2)) == 0  # ... with tr K = d it holds
    tcr_ = sum(sp.log(mu + x) for x in lam)
    kl_i_m = -sum(sp.log((mu + x) / (1 + mu)) for x in lam)
    assert sp.simplify(sp.expand_log(tcr_ - (d * sp.log(1 + mu) - kl_i_m), force=True)) == 0


@pytest.mark.check("symbolic")
def test_on_a_symbolic_two_by_two_matrix():
    a = sp.symbols("a", real=True)
    mu = sp.symbols("mu", positive=True)
    k = sp.Matrix([[1, a], [a, 1]])
    m = (mu * sp.eye(2) + k) / (1 + mu)
    assert sp.simplify(m[0, 0] - 1) == 0 and sp.simplify(m[1, 1] - 1) == 0  # a legitimate KL argument
    # det(mu I + K) = (1 + mu)^d det M, i.e. TCR = d log(1 + mu) + log det M = d log(1 + mu) - KL(I || M)
    assert sp.simplify((mu * sp.eye(2) + k).det() - (1 + mu) ** 2 * m.det()) == 0


@pytest.mark.check("symbolic")
def test_first_identity_needs_trace_d():
    d = 2
    lam = [sp.Integer(2), sp.Integer(2)]  # K = 2 I, trace 2d
    h1 = -sum((x / d) * sp.log(x / d) for x in lam)
    rhs = sp.log(d) - sum(x * sp.log(x) for x in lam) / d
    assert sp.N(h1 - rhs, 30) != 0


@pytest.mark.check("high-precision")
def test_identities_60_digits(slack):
    rng = np.random.default_rng(410)
    with mp.workdps(DPS):
        for d, r in [(2, 2), (3, 1), (4, 2), (5, 5), (6, 3)]:
            k = mp_unit_diag_psd(rng, d, r)
            e1 = entropy(k, 1) - (mp.log(d) - matrix_kl(k, mp.eye(d)) / d)
            assert abs(e1) < mp.mpf(10) ** -45
            for mu in (mp.mpf("0.01"), mp.mpf(1), mp.mpf(3), mp.mpf(1000)):
                m = (mu * mp.eye(d) + k) / (1 + mu)
                e2 = tcr(k, mu) - (d * mp.log(1 + mu) - matrix_kl(mp.eye(d), m))
                assert abs(e2) < mp.mpf(10) ** -45
                e3 = tcr(k, mu) - (d * mp.log(1 + mu) - d * matrix_kl(mp.eye(d) / d, m / d))  # density form
                assert abs(e3) < mp.mpf(10) ** -45
            # the KL term on the right is a divergence: >= 0, so TCR <= d log(1 + mu)
            slack(d * mp.log(1 + mu) - tcr(k, mu), "d log(1+mu) - TCR = KL(I || M) >= 0")


@pytest.mark.check("randomized")
@with_fixtures
@given(k=unit_diag_psd(max_n=6, exact=True), mu=st.sampled_from(["1/1000", "1/10", "1", "3", "100"]))
def test_identities_randomized(k, mu):
    with mp.workdps(DPS):
        k = matrix(k)
        d = k.rows
        mu = mp.mpf(mp.fraction(*map(int, mu.split("/")))) if "/" in mu else mp.mpf(mu)
        assert abs(entropy(k, 1) - (mp.log(d) - matrix_kl(k, mp.eye(d)) / d)) < mp.mpf(10) ** -40
        m = (mu * mp.eye(d) + k) / (1 + mu)
        assert abs(tcr(k, mu) - (d * mp.log(1 + mu) - matrix_kl(mp.eye(d), m))) < mp.mpf(10) ** -40


@pytest.mark.check("high-precision")
def test_mmae_info_satisfies_both_identities():
    from mmae import info
    import torch
    rng = np.random.default_rng(4100)
    for d, r in [(3, 3), (5, 2), (8, 8)]:
        f = rng.standard_normal((d, r))
        f /= np.linalg.norm(f, axis=1, keepdims=True)
        k = torch.tensor(f @ f.T, dtype=torch.float64)
        k.fill_diagonal_(1.0)
        eye = torch.eye(d, dtype=torch.float64)
        h = float(info.entropy(k, 1.0))
        assert abs(h - (np.log(d) - float(info.kl_divergence(k, eye)) / d)) <= 1e-10
        for mu in (0.1, 1.0, 3.0):
            m = (mu * eye + k) / (1 + mu)
            lhs = float(info.total_coding_rate(k, mu))
            assert abs(lhs - (d * np.log(1 + mu) - float(info.kl_divergence(eye, m)))) <= 1e-10 * (1 + abs(lhs))
