//! Cluster quality and agreement: silhouette on a seeded sample (never O(n^2) on the
//! whole set), Calinski-Harabasz, Davies-Bouldin, adjusted Rand index and normalised
//! mutual information (linfa 0.8.1 has none but an O(n^2) single-threaded silhouette).

use rand::rngs::StdRng;
use rand::seq::index::sample;
use rand::SeedableRng;
use rayon::prelude::*;

fn dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>().sqrt()
}

/// Indices of a seeded sample of at most `m` of `n` points, in ascending order.
pub fn sample_indices(n: usize, m: usize, seed: u64) -> Vec<usize> {
    if n <= m {
        return (0..n).collect();
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut v = sample(&mut rng, n, m).into_vec();
    v.sort_unstable();
    v
}

/// Mean silhouette of the points `idx` (row-major `x`, `d` columns) with `labels`
/// (`None` = noise, left out). Exact on the sample: O(m^2 d).
pub fn silhouette(x: &[f64], d: usize, labels: &[Option<usize>], idx: &[usize]) -> Option<f64> {
    let pts: Vec<(usize, usize)> = idx.iter().filter_map(|&i| labels[i].map(|l| (i, l))).collect();
    let k = pts.iter().map(|p| p.1).max()? + 1;
    let sizes = pts.iter().fold(vec![0usize; k], |mut s, p| {
        s[p.1] += 1;
        s
    });
    if sizes.iter().filter(|s| **s > 0).count() < 2 {
        return None;
    }
    let s: Vec<f64> = pts
        .par_iter()
        .map(|&(i, li)| {
            let mut sum = vec![0.0; k];
            for &(j, lj) in &pts {
                if i != j {
                    sum[lj] += dist(&x[i * d..(i + 1) * d], &x[j * d..(j + 1) * d]);
                }
            }
            if sizes[li] <= 1 {
                return 0.0;
            }
            let a = sum[li] / (sizes[li] - 1) as f64;
            let b = (0..k)
                .filter(|c| *c != li && sizes[*c] > 0)
                .map(|c| sum[c] / sizes[c] as f64)
                .fold(f64::INFINITY, f64::min);
            if a.max(b) > 0.0 {
                (b - a) / a.max(b)
            } else {
                0.0
            }
        })
        .collect();
    Some(s.iter().sum::<f64>() / s.len() as f64)
}

fn centroids(x: &[f64], d: usize, labels: &[usize], k: usize) -> (Vec<f64>, Vec<usize>) {
    let mut c = vec![0.0; k * d];
    let mut n = vec![0usize; k];
    for (p, l) in x.chunks_exact(d).zip(labels) {
        n[*l] += 1;
        for (a, v) in c[l * d..(l + 1) * d].iter_mut().zip(p) {
            *a += v;
        }
    }
    for l in 0..k {
        if n[l] > 0 {
            c[l * d..(l + 1) * d].iter_mut().for_each(|a| *a /= n[l] as f64);
        }
    }
    (c, n)
}

/// Calinski-Harabasz: between-cluster over within-cluster dispersion, scaled.
pub fn calinski_harabasz(x: &[f64], d: usize, labels: &[usize], k: usize) -> Option<f64> {
    let n = labels.len();
    if k < 2 || n <= k {
        return None;
    }
    let (c, sizes) = centroids(x, d, labels, k);
    let mean: Vec<f64> = (0..d).map(|j| x.iter().skip(j).step_by(d).sum::<f64>() / n as f64).collect();
    let between: f64 = (0..k).map(|l| sizes[l] as f64 * dist(&c[l * d..(l + 1) * d], &mean).powi(2)).sum();
    let within: f64 = x.chunks_exact(d).zip(labels).map(|(p, l)| dist(p, &c[l * d..(l + 1) * d]).powi(2)).sum();
    if within == 0.0 {
        return None;
    }
    Some(between * (n - k) as f64 / (within * (k - 1) as f64))
}

/// Davies-Bouldin: mean over clusters of the worst (spread_i + spread_j) / distance_ij.
pub fn davies_bouldin(x: &[f64], d: usize, labels: &[usize], k: usize) -> Option<f64> {
    if k < 2 {
        return None;
    }
    let (c, sizes) = centroids(x, d, labels, k);
    let mut spread = vec![0.0; k];
    for (p, l) in x.chunks_exact(d).zip(labels) {
        spread[*l] += dist(p, &c[l * d..(l + 1) * d]);
    }
    for l in 0..k {
        if sizes[l] > 0 {
            spread[l] /= sizes[l] as f64;
        }
    }
    let live: Vec<usize> = (0..k).filter(|l| sizes[*l] > 0).collect();
    let worst: Vec<f64> = live
        .iter()
        .map(|&i| {
            live.iter()
                .filter(|&&j| j != i)
                .map(|&j| {
                    let m = dist(&c[i * d..(i + 1) * d], &c[j * d..(j + 1) * d]);
                    if m > 0.0 {
                        (spread[i] + spread[j]) / m
                    } else {
                        f64::INFINITY
                    }
                })
                .fold(0.0, f64::max)
        })
        .collect();
    Some(worst.iter().sum::<f64>() / worst.len() as f64)
}

/// The contingency table of two labelings (rows: `a`'s labels, columns: `b`'s).
pub fn contingency(a: &[usize], b: &[usize]) -> Vec<Vec<u64>> {
    let ka = a.iter().max().map_or(0, |m| m + 1);
    let kb = b.iter().max().map_or(0, |m| m + 1);
    let mut t = vec![vec![0u64; kb]; ka];
    for (x, y) in a.iter().zip(b) {
        t[*x][*y] += 1;
    }
    t
}

fn comb2(n: u64) -> f64 {
    let n = n as f64;
    n * (n - 1.0) / 2.0
}

/// Adjusted Rand index (Hubert and Arabie), 1 for identical partitions up to renaming.
pub fn adjusted_rand_index(a: &[usize], b: &[usize]) -> f64 {
    ari_of_table(&contingency(a, b))
}

/// [`adjusted_rand_index`] of a contingency table (any orientation).
pub fn ari_of_table(t: &[Vec<u64>]) -> f64 {
    let n: u64 = t.iter().flatten().sum();
    let sum_ij: f64 = t.iter().flatten().map(|v| comb2(*v)).sum();
    let sum_a: f64 = t.iter().map(|r| comb2(r.iter().sum())).sum();
    let sum_b: f64 = (0..t.first().map_or(0, Vec::len)).map(|j| comb2(t.iter().map(|r| r[j]).sum())).sum();
    let expected = sum_a * sum_b / comb2(n).max(1.0);
    let max = (sum_a + sum_b) / 2.0;
    if (max - expected).abs() < f64::EPSILON {
        return 1.0;
    }
    (sum_ij - expected) / (max - expected)
}

/// Information measures of a contingency table (rows: one labeling, columns: the
/// other), in nats: the rows' entropy, the columns' entropy and the mutual information.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Information {
    /// Entropy of the row labels.
    pub h_rows: f64,
    /// Entropy of the column labels.
    pub h_cols: f64,
    /// Mutual information.
    pub mi: f64,
}

/// The entropies and mutual information of a contingency table.
pub fn information(t: &[Vec<u64>]) -> Information {
    let n = t.iter().flatten().sum::<u64>() as f64;
    let ra: Vec<f64> = t.iter().map(|r| r.iter().sum::<u64>() as f64).collect();
    let rb: Vec<f64> = (0..t.first().map_or(0, Vec::len)).map(|j| t.iter().map(|r| r[j]).sum::<u64>() as f64).collect();
    let h = |v: &[f64]| -v.iter().filter(|x| **x > 0.0).map(|x| x / n * (x / n).ln()).sum::<f64>();
    let mut mi = 0.0;
    for (i, r) in t.iter().enumerate() {
        for (j, v) in r.iter().enumerate() {
            if *v > 0 {
                let v = *v as f64;
                mi += v / n * (v * n / (ra[i] * rb[j])).ln();
            }
        }
    }
    Information { h_rows: h(&ra), h_cols: h(&rb), mi: mi.max(0.0) }
}

/// Normalised mutual information (arithmetic mean of the entropies, as scikit-learn's
/// default).
pub fn normalized_mutual_info(a: &[usize], b: &[usize]) -> f64 {
    nmi_of_table(&contingency(a, b))
}

/// [`normalized_mutual_info`] of a contingency table.
pub fn nmi_of_table(t: &[Vec<u64>]) -> f64 {
    let i = information(t);
    let denom = (i.h_rows + i.h_cols) / 2.0;
    if denom == 0.0 {
        1.0
    } else {
        (i.mi / denom).clamp(0.0, 1.0)
    }
}
