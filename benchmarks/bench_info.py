"""Time mmae.info against the naive formulation (scipy matrix logarithm / fractional power, float64).

    python benchmarks/bench_info.py                         # d in 64 256 1024 2048, 3 repeats
    python benchmarks/bench_info.py --sizes 64 256 --repeat 5 --naive-max 256

Inputs are d x d correlation matrices of 2d Gaussian samples (full rank, condition number ~30),
so the naive formulas are defined. Each function is timed as called by a user (float64 input,
validate=True); "naive" is the textbook formula with explicit matrix functions:
H_1(K) = -tr(K/d logm(K/d)), H_a(K) = log tr(fractional_matrix_power(K/d, a)) / (1 - a),
KL = tr(K1 (logm K1 - logm K2)), TCR = tr logm(mu I + K), effective rank from a full numpy SVD,
spectrum JS from general (non-symmetric) eigenvalues. The naive side is skipped above
--naive-max because a single scipy logm at d = 1024 already takes tens of seconds on a small CPU.
Timings are medians over --repeat runs (naive runs stop early after --naive-budget seconds), in
one thread by default: on a shared small machine, extra BLAS threads mostly add contention.
Prints a Markdown table; the last column is |ours - naive|, a check that both compute the same.
"""
import argparse
import os
import platform
import statistics
import sys
import time


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 256, 1024, 2048], help="matrix sizes d")
    p.add_argument("--repeat", type=int, default=3, help="timed runs per measurement (median)")
    p.add_argument("--naive-max", type=int, default=256, help="largest d for the naive scipy formulas")
    p.add_argument("--naive-budget", type=float, default=10.0, help="seconds after which naive repeats stop")
    p.add_argument("--threads", type=int, default=1, help="BLAS/torch threads (0: library default)")
    p.add_argument("--functions", nargs="+", default=None, help="subset of function labels to run")
    p.add_argument("--no-cuda", action="store_true", help="skip the CUDA column even if a GPU is present")
    args = p.parse_args(argv)
    if args.repeat < 1 or min(args.sizes) < 2:
        p.error("--repeat must be >= 1 and every size >= 2")
    return args


ARGS = parse_args()
if ARGS.threads > 0:  # before numpy/scipy/torch load their BLAS
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402
import scipy  # noqa: E402
import scipy.linalg as sla  # noqa: E402
import torch  # noqa: E402
from scipy.spatial.distance import jensenshannon  # noqa: E402

from mmae import info  # noqa: E402

if ARGS.threads > 0:
    torch.set_num_threads(ARGS.threads)


# ----------------------------------------------------------------------------- naive formulas

def logm(A):
    return np.real(sla.logm(A))


def naive_h1(K):
    n = K.shape[0]
    return -np.trace(K / n @ logm(K / n))


def naive_renyi(K, a):
    n = K.shape[0]
    return np.log(np.trace(np.real(sla.fractional_matrix_power(K / n, a)))) / (1 - a)


def naive_kl(K1, K2):
    return np.trace(K1 @ (logm(K1) - logm(K2)))


def naive_erank(A):
    s = np.linalg.svd(A, compute_uv=True)[1]
    p = s / s.sum()
    return np.exp(-(p * np.log(p)).sum())


def naive_spectrum_js(K1, K2):
    p1, p2 = (np.sort(np.real(sla.eigvals(K))) for K in (K1, K2))
    return jensenshannon(p1 / p1.sum(), p2 / p2.sum()) ** 2


MU = 1.0
CASES = {  # label: (ours(K1, K2), naive(K1, K2) on numpy float64)
    "entropy (alpha=1)": (lambda a, b: info.entropy(a), lambda a, b: naive_h1(a)),
    "entropy (alpha=0.5)": (lambda a, b: info.entropy(a, 0.5), lambda a, b: naive_renyi(a, 0.5)),
    "mutual_information": (lambda a, b: info.mutual_information(a, b),
                           lambda a, b: naive_h1(a) + naive_h1(b) - naive_h1(a * b)),
    "joint_entropy": (lambda a, b: info.joint_entropy(a, b), lambda a, b: naive_h1(a * b)),
    "kl_divergence": (lambda a, b: info.kl_divergence(a, b), naive_kl),
    "js_divergence": (lambda a, b: info.js_divergence(a, b),
                      lambda a, b: naive_h1((a + b) / 2) - (naive_h1(a) + naive_h1(b)) / 2),
    "total_coding_rate (mu=1)": (lambda a, b: info.total_coding_rate(a, MU),
                                 lambda a, b: np.trace(logm(MU * np.eye(a.shape[0]) + a))),
    "effective_rank": (lambda a, b: info.effective_rank(a), lambda a, b: naive_erank(a)),
    "spectrum_js": (lambda a, b: info.spectrum_js(a, b), naive_spectrum_js),
}


# ----------------------------------------------------------------------------- timing

def inputs(d, seed=0):
    g = torch.Generator().manual_seed(seed)
    z1 = torch.randn(2 * d, d, dtype=torch.float64, generator=g)
    z2 = z1 + 0.5 * torch.randn(2 * d, d, dtype=torch.float64, generator=g)
    return info.feature_gram(z1), info.feature_gram(z2)


def timed(fn, repeat, budget=float("inf"), sync=lambda: None, warmup=True):
    if warmup:
        fn()
        sync()
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        sync()
        times.append(time.perf_counter() - t)
        if sum(times) > budget:
            break
    return statistics.median(times), out


def fmt_ms(t):
    return "—" if t is None else (f"{t * 1e3:.3g}" if t < 1 else f"{t * 1e3:,.0f}")


def main(args):
    cuda = torch.cuda.is_available() and not args.no_cuda
    labels = args.functions or list(CASES)
    unknown = sorted(set(labels) - set(CASES))
    if unknown:
        sys.exit(f"unknown function label(s) {unknown}; choose from {list(CASES)}")
    cpu = platform.processor() or platform.machine()
    print(f"# mmae.info benchmark: {os.cpu_count()}-core {platform.machine()} CPU ({cpu}), "
          f"torch {torch.__version__}, numpy {np.__version__}, scipy {scipy.__version__}, "
          f"threads {args.threads or 'default'}"
          + (f", CUDA {torch.cuda.get_device_name()}" if cuda else ", no CUDA"))
    print(f"# command: python benchmarks/bench_info.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"# ms = median of {args.repeat} runs; naive (scipy logm / fractional_matrix_power, float64) "
          f"only for d <= {args.naive_max}, '—' above\n")
    head = ["function", "d", "ours CPU (ms)"] + (["ours CUDA (ms)"] if cuda else []) + \
        ["naive CPU (ms)", "speed-up (CPU)", "abs diff"]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join(" --- " if i < 2 else " ---: " for i in range(len(head))) + "|")
    for d in args.sizes:
        K1, K2 = inputs(d)
        N1, N2 = K1.numpy(), K2.numpy()
        if cuda:
            C1, C2 = K1.cuda(), K2.cuda()
        for label in labels:
            ours, naive = CASES[label]
            t_ours, v_ours = timed(lambda: ours(K1, K2), args.repeat)
            row = [label, str(d), fmt_ms(t_ours)]
            if cuda:
                t_cuda, _ = timed(lambda: ours(C1, C2), args.repeat, sync=torch.cuda.synchronize)
                row.append(fmt_ms(t_cuda))
            if d <= args.naive_max:
                t_naive, v_naive = timed(lambda: naive(N1, N2), args.repeat, args.naive_budget, warmup=False)
                r = t_naive / t_ours
                row += [fmt_ms(t_naive), f"{r:,.0f}x" if r >= 10 else f"{r:.2g}x",
                        f"{abs(float(v_ours) - float(v_naive)):.1e}"]
            else:
                row += ["—", "—", "—"]
            print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main(ARGS)
