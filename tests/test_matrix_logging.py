"""The branch monitor computes each spectrum once and derives every quantity from it: its values
equal `mmae.info`'s functions on the same matrices (each of which decomposes on its own), and it
performs exactly eight eigendecompositions and no other factorisation."""
import math

import pytest
import torch

from mmae import info
from mmae.engine.matrix_logging import branch_metrics
from _tol import roundoff

F64 = torch.float64


def _branches(B, d, seed):
    g = torch.Generator().manual_seed(seed)
    z1 = torch.randn(B, d, dtype=F64, generator=g)
    return z1, z1 + 0.5 * torch.randn(B, d, dtype=F64, generator=g)


@pytest.mark.parametrize("B,d", [(40, 24), (12, 30)])  # the sample Gram, then the feature Gram, rank-deficient
def test_monitor_equals_the_info_functions(B, d):
    z1, z2 = _branches(B, d, seed=B)
    r = branch_metrics(z1, z2, mus=(1.0, 2.5))
    f1, f2 = torch.nn.functional.normalize(z1, dim=1), torch.nn.functional.normalize(z2, dim=1)
    kinds = {"feat": (info.feature_gram(f1), info.feature_gram(f2),
                      torch.nn.functional.normalize(f1, dim=0), torch.nn.functional.normalize(f2, dim=0)),
             "sample": (info.sample_gram(f1), info.sample_gram(f2), f1, f2)}
    for kind, (K1, K2, A1, A2) in kinds.items():
        n = K1.shape[0]
        # entropies of n-term spectra: log n per unit of relative error in p, which eigvalsh makes ~n eps
        tol = roundoff(F64, n, scale=math.log(n), k=16)
        want = {}
        for a in (1.0, 2.0):
            t = f"a{a:g}"
            want[f"{kind}_h1_{t}"] = info.entropy(K1, a)
            want[f"{kind}_h2_{t}"] = info.entropy(K2, a)
            want[f"{kind}_joint_{t}"] = info.joint_entropy(K1, K2, a)
            want[f"{kind}_mi_{t}"] = info.mutual_information(K1, K2, a)
        want[f"{kind}_js"] = info.js_divergence(K1, K2)
        want[f"{kind}_spectrum_js"] = info.spectrum_js(K1, K2)
        for key, v in want.items():
            assert r[key] == pytest.approx(v.item(), abs=tol), key
        # effective rank from the Gram eigenvalues against svdvals of the batch matrix: erank = exp(H),
        # so its error is erank times the entropy's
        for k, A in ((1, A1), (2, A2)):
            e = info.effective_rank(A).item()
            assert r[f"{kind}_erank{k}"] == pytest.approx(e, abs=e * tol), (kind, k)
    # TCR from the joint spectrum against the Cholesky log-determinant: a sum of d logarithms
    K1, K2 = kinds["feat"][:2]
    for mu in (1.0, 2.5):
        tcr = info.total_coding_rate(K1 * K2, mu).item()
        assert r[f"feat_tcr_joint_mu{mu:g}"] == pytest.approx(tcr, abs=roundoff(F64, d, scale=d * math.log(mu + d), k=16))


def test_monitor_decomposes_each_matrix_once(monkeypatch):
    calls = {}
    for name in ("eigvalsh", "eigh", "svdvals", "svd", "cholesky", "cholesky_ex", "eigvals", "eig"):
        fn = getattr(torch.linalg, name)

        def counted(*a, _fn=fn, _name=name, **k):
            calls[_name] = calls.get(_name, 0) + 1
            return _fn(*a, **k)
        monkeypatch.setattr(torch.linalg, name, counted)
    z1, z2 = _branches(32, 16, seed=0)
    r = branch_metrics(z1, z2, mus=(1.0, 3.0))
    # K1, K2, K1 o K2 and (K1 + K2)/2 of the feature and of the sample Gram matrices
    assert calls == {"eigvalsh": 8}
    assert "feat_tcr_joint_mu3" in r and "sample_erank2" in r
    # the counter sees what mmae.info calls: the stand-alone functions need more of them
    calls.clear()
    K1 = info.feature_gram(torch.nn.functional.normalize(z1, dim=1))
    info.mutual_information(K1, K1)
    info.total_coding_rate(K1, 1.0)
    assert calls["eigvalsh"] == 3 and calls["cholesky_ex"] == 2
