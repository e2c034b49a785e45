r"""Lemma 4.2 (twin A.2): a triangle inequality for inner products of unit vectors.

**Statement.** For unit vectors $\mathbf a, \mathbf b, \mathbf b' \in \mathbb R^m$,

$$
|\mathbf a^\top\mathbf b| \le |\mathbf a^\top\mathbf b'| + \|\mathbf b - \mathbf b'\|
= |\mathbf a^\top\mathbf b'| + \sqrt{2(1 - \mathbf b^\top\mathbf b')}.
$$

(The printed statement also names a vector $\mathbf a'$ that appears nowhere.) The inequality needs
only $\|\mathbf a\| \le 1$; the equality needs $\|\mathbf b\| = \|\mathbf b'\| = 1$.

**Proof.** $\mathbf a^\top\mathbf b = \mathbf a^\top\mathbf b' + \mathbf a^\top(\mathbf b - \mathbf b')$, so
$|\mathbf a^\top\mathbf b| \le |\mathbf a^\top\mathbf b'| + \|\mathbf a\|\,\|\mathbf b - \mathbf b'\|$ (triangle
and Cauchy-Schwarz inequalities), and
$\|\mathbf b - \mathbf b'\|^2 = \|\mathbf b\|^2 + \|\mathbf b'\|^2 - 2\,\mathbf b^\top\mathbf b' = 2(1 - \mathbf b^\top\mathbf b')$.
Equality needs equality in both steps: $\mathbf a$ parallel to $\mathbf b - \mathbf b'$, with
$\mathbf a^\top\mathbf b'$ and $\mathbf a^\top(\mathbf b - \mathbf b')$ of the same sign. That is impossible
unless $\mathbf b = \mathbf b'$: for $\mathbf a = \pm(\mathbf b - \mathbf b')/\|\mathbf b - \mathbf b'\|$,
$(\mathbf b - \mathbf b')^\top\mathbf b' = \mathbf b^\top\mathbf b' - 1 < 0$ has the sign opposite to
$(\mathbf b - \mathbf b')^\top(\mathbf b - \mathbf b') > 0$. So the inequality is strict whenever
$\mathbf b \ne \mathbf b'$, and its infimum margin 0 is approached only as $\mathbf b' \to \mathbf b$.
"""
import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given

from proofs import _mp
from proofs import _strategies as S
from proofs._power import worst_case_test

STATEMENT = "Lemma 4.2"
TITLE = "a triangle inequality for inner products of unit vectors"
TWINS = ("Lemma A.2",)
VERDICT = "holds"


@pytest.mark.check("symbolic")
def test_norm_identity_and_cauchy_schwarz_symbolically():
    b = sp.Matrix(sp.symbols("b0:3", real=True))
    c = sp.Matrix(sp.symbols("c0:3", real=True))
    a = sp.Matrix(sp.symbols("a0:3", real=True))
    diff2 = ((b - c).T * (b - c))[0]
    # |b - b'|^2 = |b|^2 + |b'|^2 - 2 b.b' -> 2(1 - b.b') on the unit sphere
    assert sp.expand(diff2 - ((b.T * b)[0] + (c.T * c)[0] - 2 * (b.T * c)[0])) == 0
    # Lagrange's identity: |a|^2 |v|^2 - (a.v)^2 = sum of squares >= 0 (Cauchy-Schwarz)
    v = b - c
    lag = sum(((a[i] * v[j] - a[j] * v[i]) ** 2) for i in range(3) for j in range(i + 1, 3))
    assert sp.expand((a.T * a)[0] * (v.T * v)[0] - (a.T * v)[0] ** 2 - lag) == 0
    # equality analysis: (b - b').b' = b.b' - |b'|^2 = b.b' - 1 on the sphere, (b - b').(b - b') >= 0
    assert sp.expand((v.T * c)[0] - ((b.T * c)[0] - (c.T * c)[0])) == 0


@pytest.mark.check("high-precision")
def test_rational_unit_vectors_in_60_digits(slack):
    rng = np.random.default_rng(2)
    worst = mpmath.inf
    for _ in range(40):
        a, b, c = S.rational_unit_rows(rng, 3, 3)
        lhs = abs(sum(_mp.to_mpf(x * y) for x, y in zip(a, b)))
        bc = sum(_mp.to_mpf(x * y) for x, y in zip(b, c))
        dist = mpmath.sqrt(sum(_mp.to_mpf((x - y) ** 2) for x, y in zip(b, c)))
        assert abs(dist - mpmath.sqrt(2 * (1 - bc))) < mpmath.mpf(10) ** -55
        m = abs(sum(_mp.to_mpf(x * y) for x, y in zip(a, c))) + dist - lhs
        assert m >= 0
        worst = min(worst, m)
    slack(_mp.clean(worst), "smallest margin over 40 exact rational triples")


@pytest.mark.check("randomized")
@given(S.normalised_batch(B=3, min_d=1, max_d=6))
def test_random_unit_triples(slack, z):
    a, b, c = z
    m = abs(a @ c) + math.sqrt(max(0.0, 2 * (1 - b @ c))) - abs(a @ b)
    slack(_mp.clean(m), "margin")
    assert m >= -1e-12


@pytest.mark.check("randomized")
def test_adversarial_search(slack, effort):
    def f(x):
        a, b, c = _mp.np_unit_rows(x.reshape(3, -1))
        return abs(a @ c) + np.linalg.norm(b - c) - abs(a @ b)
    worst = mpmath.inf
    for m in (2, 5):
        for v, x in S.multistart_minimize(f, lambda rng: rng.standard_normal(3 * m), starts=3 * effort,
                                          seed=m, maxiter=50)[:1]:
            a, b, c = (_mp.normalise_rows(x.reshape(3, m))[i, :] for i in range(3))
            dot = lambda u, w: mpmath.fsum(u[k] * w[k] for k in range(m))
            vm = abs(dot(a, c)) + mpmath.sqrt(2 * (1 - dot(b, c))) - abs(dot(a, b))
            assert vm >= -mpmath.mpf(10) ** -40
            worst = min(worst, vm)
    slack(_mp.clean(worst), "smallest margin found by local search")


test_worst_case_search = worst_case_test("Lemma 4.2")
