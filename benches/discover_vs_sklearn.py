#!/usr/bin/env python3
"""strata discover vs scikit-learn on the same matrices (issue #4).

    python3 -m venv .venv && .venv/bin/pip install scikit-learn pyarrow numpy
    cargo build --release
    .venv/bin/python benches/discover_vs_sklearn.py [--skip-1m] [--skip-auto]

Both tools get 2 threads (RAYON_NUM_THREADS / OMP_NUM_THREADS). strata runs with
`--scale none`, so it clusters exactly the matrix scikit-learn gets.

- k-means: 1,000,000 x 16, k = 8, both from the same initial centres, tol 0 and the
  same iteration cap; compares seconds per Lloyd iteration and the inertia.
- DBSCAN: 50,000 x 8 Gaussian blobs, eps 2, min_samples 10; compares time and checks
  that every label is identical (same clusters, same noise). Then 1,000,000 points with
  strata alone: time and peak memory.
- --k auto over 2..=12 on 200,000 generated users (strata generate + features).
"""
import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time

os.environ["OMP_NUM_THREADS"] = "2"
os.environ["OPENBLAS_NUM_THREADS"] = "2"

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from sklearn.cluster import DBSCAN, KMeans  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STRATA = os.path.join(ROOT, "target", "release", "strata")


def write_table(path, x):
    cols = {"user_id": pa.array(np.arange(len(x), dtype=np.int64))}
    for j in range(x.shape[1]):
        cols[f"f{j}"] = pa.array(x[:, j])
    pq.write_table(pa.table(cols), path)


def strata(args):
    env = dict(os.environ, RAYON_NUM_THREADS="2", STRATA_TRACE="1")
    t0 = time.perf_counter()
    p = subprocess.run(
        ["/usr/bin/time", "-f", "maxrss_kb=%M", STRATA, "-q", *args], env=env, capture_output=True, text=True
    )
    secs = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"strata failed: {p.stderr}")
    rss = int(re.search(r"maxrss_kb=(\d+)", p.stderr).group(1)) / 1024
    return p.stderr, secs, rss


def blobs(n, d, centers, std, seed):
    rng = np.random.default_rng(seed)
    c = rng.uniform(-30, 30, size=(centers, d))
    lab = rng.integers(0, centers, size=n)
    return c[lab] + rng.normal(0, std, size=(n, d))


def bench_kmeans(tmp, iters):
    n, d, k = 1_000_000, 16, 8
    x = blobs(n, d, 12, 10.0, 1)
    init = x[np.random.default_rng(2).choice(n, k, replace=False)]
    f = os.path.join(tmp, "km.parquet")
    write_table(f, x)
    c = os.path.join(tmp, "init.csv")
    np.savetxt(c, init, delimiter=",", fmt="%.17g")
    t0 = time.perf_counter()
    km = KMeans(n_clusters=k, init=init, n_init=1, max_iter=iters, tol=0.0, algorithm="lloyd").fit(x)
    sk_secs = time.perf_counter() - t0
    sk_iter = sk_secs / km.n_iter_
    out = os.path.join(tmp, "km-out.parquet")
    err, _, _ = strata(
        ["discover", "--features", f, "--scale", "none", "--k", str(k), "--init-centers", c,
         "--max-iter", str(iters), "--tol", "0", "--sample", "500", "--out", out]
    )
    m = re.search(r"k-means k=8: 1 runs, ([\d.]+) s, last-best run (\d+) iterations, inertia ([\d.e+-]+)", err)
    st_secs, st_iters, st_inertia = float(m.group(1)), int(m.group(2)), float(m.group(3))
    st_iter = st_secs / st_iters
    rel = abs(st_inertia - km.inertia_) / km.inertia_
    print(f"k-means 1,000,000 x 16, k=8, same initial centres, tol 0, max_iter {iters}:")
    print(f"  scikit-learn {sklearn_version()}: {km.n_iter_} iterations in {sk_secs:.2f} s = {sk_iter:.3f} s/iteration, inertia {km.inertia_:.6e}")
    print(f"  strata: {st_iters} iterations in {st_secs:.2f} s = {st_iter:.3f} s/iteration, inertia {st_inertia:.6e}")
    print(f"  per-iteration speed: {sk_iter / st_iter:.2f}x scikit-learn; inertia differs by {100 * rel:.4f}%")


def sklearn_version():
    import sklearn

    return sklearn.__version__


def bench_dbscan(tmp, skip_1m):
    x = blobs(50_000, 8, 10, 1.0, 3)
    f = os.path.join(tmp, "db.parquet")
    write_table(f, x)
    t0 = time.perf_counter()
    sk = DBSCAN(eps=2.0, min_samples=10, n_jobs=2).fit(x)
    sk_secs = time.perf_counter() - t0
    out = os.path.join(tmp, "db-out.parquet")
    _, st_secs, rss = strata(
        ["discover", "--features", f, "--algo", "dbscan", "--scale", "none", "--eps", "2", "--min-samples", "10",
         "--sample", "500", "--out", out]
    )
    got = pq.read_table(out).column("cluster").to_numpy(zero_copy_only=False)
    got = np.where(np.isnan(got.astype(float)), -1, got).astype(np.int64)
    same = np.array_equal(got, sk.labels_)
    print("DBSCAN 50,000 x 8 blobs, eps 2, min_samples 10:")
    print(f"  scikit-learn: {sk_secs:.2f} s, {len(set(sk.labels_)) - (1 if -1 in sk.labels_ else 0)} clusters, {int((sk.labels_ == -1).sum())} noise")
    print(f"  strata (whole command, reading Parquet included): {st_secs:.2f} s, {rss:.0f} MiB peak")
    print(f"  speed: {sk_secs / st_secs:.1f}x scikit-learn; identical labels (clusters and noise): {same}")
    if skip_1m:
        return
    big = blobs(1_000_000, 8, 10, 1.0, 4)
    f = os.path.join(tmp, "db1m.parquet")
    write_table(f, big)
    _, secs, rss = strata(
        ["discover", "--features", f, "--algo", "dbscan", "--scale", "none", "--eps", "2", "--min-samples", "10",
         "--sample", "500", "--out", os.path.join(tmp, "db1m-out.parquet")]
    )
    print(f"  strata on 1,000,000 x 8: {secs:.1f} s, {rss:.0f} MiB peak (the matrix alone is {8 * 8 * 1_000_000 / 2**20:.0f} MiB)")


def bench_auto(tmp):
    data = os.path.join(tmp, "gen")
    subprocess.run([STRATA, "-q", "generate", "--users", "200000", "--days", "60", "--seed", "8", "--out", data], check=True)
    f = os.path.join(tmp, "f200k.parquet")
    subprocess.run([STRATA, "-q", "features", "--events", os.path.join(data, "events.parquet"), "--out", f], check=True)
    _, secs, rss = strata(["discover", "--features", f, "--k", "auto", "--out", os.path.join(tmp, "auto.parquet")])
    print(f"--k auto 2..=12 on 200,000 generated users: {secs:.1f} s, {rss:.0f} MiB peak")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--skip-1m", action="store_true")
    ap.add_argument("--skip-auto", action="store_true")
    ap.add_argument("--only", choices=["kmeans", "dbscan", "auto"])
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if a.only in (None, "kmeans"):
            bench_kmeans(tmp, a.iters)
        if a.only in (None, "dbscan"):
            bench_dbscan(tmp, a.skip_1m)
        if a.only in (None, "auto") and not a.skip_auto:
            bench_auto(tmp)
    print(f"(python {sys.version.split()[0]}, {os.cpu_count()} CPUs; self RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB)")


if __name__ == "__main__":
    main()
