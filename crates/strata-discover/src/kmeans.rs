//! k-means: greedy k-means++ seeding, Lloyd iterations, several restarts, a seed.
//!
//! Why not linfa-clustering's `KMeans`: in 0.8.1 it updates centroids as
//! (sum + old centroid) / (count + 1), so it is not standard Lloyd and does not match
//! scikit-learn; it runs 2-3x slower per iteration than scikit-learn; its `inertia()` is
//! a mean and `cluster_count()` reports the last run, not the best (issue #4's
//! measurements). This is the standard algorithm behind linfa's `Fit` / `Predict`
//! traits. Determinism: points are split into fixed chunks whose partial sums are added
//! in chunk order, so the result is the same whatever the thread count.

use crate::DiscoverError;
use linfa::dataset::DatasetBase;
use linfa::traits::{Fit, PredictInplace};
use ndarray::{Array1, Array2, ArrayView2};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Points per chunk of the parallel passes (fixed: results do not depend on threads).
const CHUNK: usize = 4096;

/// k-means settings.
#[derive(Debug, Clone, PartialEq)]
pub struct KMeansParams {
    /// Clusters.
    pub k: usize,
    /// Restarts from different seedings; the lowest inertia wins.
    pub n_init: usize,
    /// Lloyd iterations per run, at most.
    pub max_iter: usize,
    /// Stop when the centres move less than `tol` x the mean feature variance (squared).
    pub tol: f64,
    /// Seed of every random choice.
    pub seed: u64,
    /// Start from these centres instead of k-means++ (one run).
    pub init: Option<Array2<f64>>,
}

impl KMeansParams {
    /// Defaults like scikit-learn's: 3 restarts here (it uses 1 with k-means++ seeding in
    /// recent versions), 300 iterations, tolerance 1e-4.
    pub fn new(k: usize, seed: u64) -> Self {
        KMeansParams { k, n_init: 3, max_iter: 300, tol: 1e-4, seed, init: None }
    }
}

/// A fitted k-means model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KMeansModel {
    /// Centres, one row per cluster (in the transformed space).
    pub centroids: Vec<Vec<f64>>,
    /// Sum of squared distances of points to their centre (not a mean).
    pub inertia: f64,
    /// Iterations of the winning run.
    pub iterations: usize,
    /// Inertia of the winning run's initial centres (assigning every point to them).
    pub initial_inertia: f64,
}

#[inline]
fn dist2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Index and squared distance of the nearest centre (ties: the lowest index).
#[inline]
fn nearest(p: &[f64], centres: &[f64], d: usize) -> (usize, f64) {
    let mut best = (0, f64::INFINITY);
    for (c, centre) in centres.chunks_exact(d).enumerate() {
        let v = dist2(p, centre);
        if v < best.1 {
            best = (c, v);
        }
    }
    best
}

/// Assigns every point; returns labels and per-chunk (sums, counts, inertia).
fn assign(x: &[f64], d: usize, centres: &[f64], labels: &mut [usize]) -> (Vec<f64>, Vec<usize>, f64) {
    let k = centres.len() / d;
    // Centres transposed (d x k), so one point's distances to every centre build up
    // side by side in a contiguous accumulator the compiler vectorises. Each distance
    // is still summed over the dimensions in order: the numbers are `dist2`'s exactly.
    let mut ct = vec![0.0; k * d];
    for c in 0..k {
        for j in 0..d {
            ct[j * k + c] = centres[c * d + j];
        }
    }
    let parts: Vec<(Vec<f64>, Vec<usize>, f64)> = x
        .par_chunks(CHUNK * d)
        .zip(labels.par_chunks_mut(CHUNK))
        .map(|(pts, labs)| {
            let mut sums = vec![0.0; k * d];
            let mut counts = vec![0usize; k];
            let mut inertia = 0.0;
            let mut acc = vec![0.0; k];
            for (p, l) in pts.chunks_exact(d).zip(labs.iter_mut()) {
                acc.iter_mut().for_each(|a| *a = 0.0);
                for (xj, row) in p.iter().zip(ct.chunks_exact(k)) {
                    for (a, cv) in acc.iter_mut().zip(row) {
                        let t = xj - cv;
                        *a += t * t;
                    }
                }
                let mut c = 0;
                let mut v = f64::INFINITY;
                for (i, a) in acc.iter().enumerate() {
                    if *a < v {
                        v = *a;
                        c = i;
                    }
                }
                *l = c;
                inertia += v;
                counts[c] += 1;
                for (s, x) in sums[c * d..(c + 1) * d].iter_mut().zip(p) {
                    *s += x;
                }
            }
            (sums, counts, inertia)
        })
        .collect();
    let mut sums = vec![0.0; k * d];
    let mut counts = vec![0usize; k];
    let mut inertia = 0.0;
    for (s, c, i) in parts {
        sums.iter_mut().zip(&s).for_each(|(a, b)| *a += b);
        counts.iter_mut().zip(&c).for_each(|(a, b)| *a += b);
        inertia += i;
    }
    (sums, counts, inertia)
}

/// Greedy k-means++ (scikit-learn's: 2 + ln k candidates per step, the one that lowers
/// the potential most is kept).
fn kmeans_pp(x: &[f64], d: usize, k: usize, rng: &mut StdRng) -> Vec<f64> {
    let n = x.len() / d;
    let trials = 2 + (k as f64).ln().floor() as usize;
    let mut centres = Vec::with_capacity(k * d);
    let first = rng.gen_range(0..n);
    centres.extend_from_slice(&x[first * d..(first + 1) * d]);
    let mut closest: Vec<f64> = x.par_chunks(d).map(|p| dist2(p, &centres[..d])).collect();
    let mut potential: f64 = closest.iter().sum();
    for _ in 1..k {
        let mut best: Option<(f64, Vec<f64>, usize)> = None;
        for _ in 0..trials {
            // Sample a point with probability proportional to its squared distance.
            let target = rng.gen::<f64>() * potential;
            let mut acc = 0.0;
            let mut cand = n - 1;
            for (i, v) in closest.iter().enumerate() {
                acc += v;
                if acc > target {
                    cand = i;
                    break;
                }
            }
            let c = &x[cand * d..(cand + 1) * d];
            let new: Vec<f64> = x.par_chunks(d).zip(&closest).map(|(p, old)| dist2(p, c).min(*old)).collect();
            let pot: f64 = new.iter().sum();
            if best.as_ref().is_none_or(|b| pot < b.0) {
                best = Some((pot, new, cand));
            }
        }
        if let Some((pot, new, cand)) = best {
            potential = pot;
            closest = new;
            centres.extend_from_slice(&x[cand * d..(cand + 1) * d]);
        }
    }
    centres
}

/// Squared distances from `p` to every centre, using the transposed centres `ct` (d x k).
#[inline]
fn all_dist2(p: &[f64], ct: &[f64], k: usize, acc: &mut [f64]) {
    acc.iter_mut().for_each(|a| *a = 0.0);
    for (xj, row) in p.iter().zip(ct.chunks_exact(k)) {
        for (a, cv) in acc.iter_mut().zip(row) {
            let t = xj - cv;
            *a += t * t;
        }
    }
}

/// The nearest centre (ties: the lowest index) and the two smallest squared distances.
#[inline]
fn two_nearest(acc: &[f64]) -> (usize, f64, f64) {
    let (mut b1, mut b2, mut c1) = (f64::INFINITY, f64::INFINITY, 0);
    for (c, v) in acc.iter().enumerate() {
        if *v < b1 {
            b2 = b1;
            b1 = *v;
            c1 = c;
        } else if *v < b2 {
            b2 = *v;
        }
    }
    (c1, b1, b2)
}

fn transpose(centres: &[f64], k: usize, d: usize) -> Vec<f64> {
    let mut ct = vec![0.0; k * d];
    for c in 0..k {
        for j in 0..d {
            ct[j * k + c] = centres[c * d + j];
        }
    }
    ct
}

/// An empty cluster's new centre: the point farthest from its own centre (ties: the
/// lowest index).
fn farthest(x: &[f64], d: usize, centres: &[f64], labels: &[usize]) -> usize {
    (0..x.len() / d)
        .map(|i| (i, dist2(&x[i * d..(i + 1) * d], &centres[labels[i] * d..(labels[i] + 1) * d])))
        .fold((0, -1.0), |a, b| if b.1 > a.1 { b } else { a })
        .0
}

/// Per-chunk sums and counts of the points of each cluster, added in chunk order.
fn centre_sums(x: &[f64], d: usize, k: usize, labels: &[usize]) -> (Vec<f64>, Vec<usize>) {
    let parts: Vec<(Vec<f64>, Vec<usize>)> = x
        .par_chunks(CHUNK * d)
        .zip(labels.par_chunks(CHUNK))
        .map(|(pts, labs)| {
            let mut sums = vec![0.0; k * d];
            let mut counts = vec![0usize; k];
            for (p, l) in pts.chunks_exact(d).zip(labs) {
                counts[*l] += 1;
                for (s, v) in sums[l * d..(l + 1) * d].iter_mut().zip(p) {
                    *s += v;
                }
            }
            (sums, counts)
        })
        .collect();
    let mut sums = vec![0.0; k * d];
    let mut counts = vec![0usize; k];
    for (s, c) in parts {
        sums.iter_mut().zip(&s).for_each(|(a, b)| *a += b);
        counts.iter_mut().zip(&c).for_each(|(a, b)| *a += b);
    }
    (sums, counts)
}

/// Hamerly's exact acceleration of Lloyd: each point keeps an upper bound on the
/// distance to its centre and a lower bound on the distance to any other; when the upper
/// bound is below both the lower bound and half the distance from its centre to the
/// nearest other centre, the point cannot change cluster and no distance is computed.
/// Same iterations and assignments as Lloyd (up to rounding in the bounds); after the
/// first few iterations almost every point is skipped, which is where the speed over
/// scikit-learn's Lloyd comes from (docs/performance.md).
fn hamerly(x: &[f64], d: usize, mut centres: Vec<f64>, p: &KMeansParams, tol: f64) -> (Vec<f64>, f64, usize, f64) {
    let n = x.len() / d;
    let k = centres.len() / d;
    let mut labels = vec![0usize; n];
    let mut upper = vec![0.0f64; n];
    let mut lower = vec![0.0f64; n];
    // Exact first assignment: nearest and second nearest.
    let full = |centres: &[f64], labels: &mut [usize], upper: &mut [f64], lower: &mut [f64]| -> f64 {
        let ct = transpose(centres, k, d);
        let parts: Vec<f64> = x
            .par_chunks(CHUNK * d)
            .zip(labels.par_chunks_mut(CHUNK))
            .zip(upper.par_chunks_mut(CHUNK).zip(lower.par_chunks_mut(CHUNK)))
            .map(|((pts, labs), (ups, lows))| {
                let mut acc = vec![0.0; k];
                let mut inertia = 0.0;
                for (((pt, l), u), lo) in
                    pts.chunks_exact(d).zip(labs.iter_mut()).zip(ups.iter_mut()).zip(lows.iter_mut())
                {
                    all_dist2(pt, &ct, k, &mut acc);
                    let (c1, b1, b2) = two_nearest(&acc);
                    *l = c1;
                    *u = b1.sqrt();
                    *lo = b2.sqrt();
                    inertia += b1;
                }
                inertia
            })
            .collect();
        parts.iter().sum()
    };
    let initial = full(&centres, &mut labels, &mut upper, &mut lower);
    // Cluster sums, kept up to date by the points that change cluster (added in chunk
    // order, so the same whatever the thread count), instead of a pass over all points.
    let (mut sums, mut counts) = centre_sums(x, d, k, &labels);
    let mut iterations = 0;
    for it in 0..p.max_iter.max(1) {
        iterations = it + 1;
        let mut new = centres.clone();
        let mut reseeded = false;
        for c in 0..k {
            if counts[c] > 0 {
                for j in 0..d {
                    new[c * d + j] = sums[c * d + j] / counts[c] as f64;
                }
            } else {
                let far = farthest(x, d, &centres, &labels);
                new[c * d..(c + 1) * d].copy_from_slice(&x[far * d..(far + 1) * d]);
                reseeded = true;
            }
        }
        let moved: Vec<f64> =
            (0..k).map(|c| dist2(&new[c * d..(c + 1) * d], &centres[c * d..(c + 1) * d]).sqrt()).collect();
        let shift: f64 = moved.iter().map(|m| m * m).sum();
        centres = new;
        if reseeded {
            // Bounds mean nothing after a jump: start them again exactly.
            full(&centres, &mut labels, &mut upper, &mut lower);
            (sums, counts) = centre_sums(x, d, k, &labels);
            continue;
        }
        // Half the distance from each centre to its nearest other centre.
        let half: Vec<f64> = (0..k)
            .map(|c| {
                (0..k)
                    .filter(|o| *o != c)
                    .map(|o| dist2(&centres[c * d..(c + 1) * d], &centres[o * d..(o + 1) * d]).sqrt())
                    .fold(f64::INFINITY, f64::min)
                    / 2.0
            })
            .collect();
        let (mut m1, mut m2, mut arg) = (0.0f64, 0.0f64, usize::MAX);
        for (c, m) in moved.iter().enumerate() {
            if *m > m1 {
                m2 = m1;
                m1 = *m;
                arg = c;
            } else if *m > m2 {
                m2 = *m;
            }
        }
        let ct = transpose(&centres, k, d);
        let cs = &centres;
        type Delta = Option<(Vec<f64>, Vec<i64>)>;
        let deltas: Vec<Delta> = x
            .par_chunks(CHUNK * d)
            .zip(labels.par_chunks_mut(CHUNK))
            .zip(upper.par_chunks_mut(CHUNK).zip(lower.par_chunks_mut(CHUNK)))
            .map(|((pts, labs), (ups, lows))| {
                let mut acc = vec![0.0; k];
                let mut delta: Delta = None;
                for (((pt, l), u), lo) in
                    pts.chunks_exact(d).zip(labs.iter_mut()).zip(ups.iter_mut()).zip(lows.iter_mut())
                {
                    *u += moved[*l];
                    *lo -= if *l == arg { m2 } else { m1 };
                    let bound = half[*l].max(*lo);
                    if *u <= bound {
                        continue;
                    }
                    *u = dist2(pt, &cs[*l * d..(*l + 1) * d]).sqrt();
                    if *u <= bound {
                        continue;
                    }
                    all_dist2(pt, &ct, k, &mut acc);
                    let (c1, b1, b2) = two_nearest(&acc);
                    if c1 != *l {
                        let (ds, dc) = delta.get_or_insert_with(|| (vec![0.0; k * d], vec![0i64; k]));
                        for (j, v) in pt.iter().enumerate() {
                            ds[*l * d + j] -= v;
                            ds[c1 * d + j] += v;
                        }
                        dc[*l] -= 1;
                        dc[c1] += 1;
                    }
                    *l = c1;
                    *u = b1.sqrt();
                    *lo = b2.sqrt();
                }
                delta
            })
            .collect();
        for (ds, dc) in deltas.into_iter().flatten() {
            sums.iter_mut().zip(&ds).for_each(|(a, b)| *a += b);
            counts.iter_mut().zip(&dc).for_each(|(a, b)| *a = (*a as i64 + b) as usize);
        }
        if shift <= tol {
            break;
        }
    }
    // The exact inertia of the final assignment.
    let inertia: f64 = x
        .par_chunks(CHUNK * d)
        .zip(labels.par_chunks(CHUNK))
        .map(|(pts, labs)| {
            pts.chunks_exact(d).zip(labs).map(|(pt, l)| dist2(pt, &centres[l * d..(l + 1) * d])).sum::<f64>()
        })
        .collect::<Vec<f64>>()
        .iter()
        .sum();
    (centres, inertia, iterations, initial)
}

/// Plain Lloyd: the reference that [`hamerly`] must agree with (tests).
#[doc(hidden)]
pub fn lloyd_reference(x: &[f64], d: usize, centres: Vec<f64>, max_iter: usize) -> (Vec<f64>, f64, usize) {
    let p = KMeansParams { max_iter, ..KMeansParams::new(centres.len() / d, 0) };
    let (c, i, it, _) = lloyd(x, d, centres, &p, 0.0);
    (c, i, it)
}

/// Hamerly from given centres, for tests against [`lloyd_reference`].
#[doc(hidden)]
pub fn hamerly_from(x: &[f64], d: usize, centres: Vec<f64>, max_iter: usize) -> (Vec<f64>, f64, usize) {
    let p = KMeansParams { max_iter, ..KMeansParams::new(centres.len() / d, 0) };
    let (c, i, it, _) = hamerly(x, d, centres, &p, 0.0);
    (c, i, it)
}

fn lloyd(x: &[f64], d: usize, mut centres: Vec<f64>, p: &KMeansParams, tol: f64) -> (Vec<f64>, f64, usize, f64) {
    let n = x.len() / d;
    let k = centres.len() / d;
    let mut labels = vec![0usize; n];
    let mut initial = f64::NAN;
    let mut inertia = f64::INFINITY;
    let mut iterations = 0;
    for it in 0..p.max_iter.max(1) {
        let (sums, counts, cur) = assign(x, d, &centres, &mut labels);
        if it == 0 {
            initial = cur;
        }
        inertia = cur;
        iterations = it + 1;
        let mut new = centres.clone();
        for c in 0..k {
            if counts[c] > 0 {
                for j in 0..d {
                    new[c * d + j] = sums[c * d + j] / counts[c] as f64;
                }
            } else {
                let far = farthest(x, d, &centres, &labels);
                new[c * d..(c + 1) * d].copy_from_slice(&x[far * d..(far + 1) * d]);
            }
        }
        let shift: f64 = new.iter().zip(&centres).map(|(a, b)| (a - b) * (a - b)).sum();
        centres = new;
        if shift <= tol {
            let (_, _, last) = assign(x, d, &centres, &mut labels);
            inertia = last;
            break;
        }
    }
    if iterations == p.max_iter.max(1) {
        let (_, _, last) = assign(x, d, &centres, &mut labels);
        inertia = last;
    }
    (centres, inertia, iterations, initial)
}

/// The mean over columns of each column's variance, in one row-major pass (chunk sums
/// added in order).
fn mean_variance(x: &[f64], d: usize) -> f64 {
    let n = (x.len() / d.max(1)).max(1) as f64;
    let parts: Vec<(Vec<f64>, Vec<f64>)> = x
        .par_chunks(CHUNK * d)
        .map(|pts| {
            let (mut s, mut q) = (vec![0.0; d], vec![0.0; d]);
            for p in pts.chunks_exact(d) {
                for j in 0..d {
                    s[j] += p[j];
                    q[j] += p[j] * p[j];
                }
            }
            (s, q)
        })
        .collect();
    let (mut s, mut q) = (vec![0.0; d], vec![0.0; d]);
    for (ps, pq) in parts {
        s.iter_mut().zip(&ps).for_each(|(a, b)| *a += b);
        q.iter_mut().zip(&pq).for_each(|(a, b)| *a += b);
    }
    (0..d).map(|j| (q[j] / n - (s[j] / n).powi(2)).max(0.0)).sum::<f64>() / d.max(1) as f64
}

impl KMeansParams {
    /// Fits to a row-major matrix.
    pub fn fit_matrix(&self, x: ArrayView2<'_, f64>) -> Result<KMeansModel, DiscoverError> {
        let (n, d) = x.dim();
        if self.k == 0 {
            return Err(DiscoverError::BadParam("k must be at least 1".into()));
        }
        if n < self.k {
            return Err(DiscoverError::BadParam(format!("{n} users cannot make {} clusters; lower --k", self.k)));
        }
        let owned;
        let data: &[f64] = match x.as_slice() {
            Some(s) => s,
            None => {
                owned = x.as_standard_layout().to_owned();
                owned.as_slice().unwrap_or(&[])
            }
        };
        crate::dbscan::check_finite(data, d)?;
        // scikit-learn's tolerance: relative to the mean variance of the features.
        let mean_var = mean_variance(data, d);
        let tol = self.tol * mean_var;
        let mut best: Option<KMeansModel> = None;
        let runs = if self.init.is_some() { 1 } else { self.n_init.max(1) };
        for run in 0..runs {
            let start = match &self.init {
                Some(c) => {
                    if c.dim() != (self.k, d) {
                        return Err(DiscoverError::BadParam(format!(
                            "initial centres are {:?}, expected {} x {d}",
                            c.dim(),
                            self.k
                        )));
                    }
                    c.as_standard_layout().iter().copied().collect()
                }
                None => {
                    let mut rng = StdRng::seed_from_u64(self.seed.wrapping_add(run as u64 * 0x9e37_79b9));
                    kmeans_pp(data, d, self.k, &mut rng)
                }
            };
            let (centres, inertia, iterations, initial) = hamerly(data, d, start, self, tol);
            if best.as_ref().is_none_or(|b| inertia < b.inertia) {
                best = Some(KMeansModel {
                    centroids: centres.chunks_exact(d).map(<[f64]>::to_vec).collect(),
                    inertia,
                    iterations,
                    initial_inertia: initial,
                });
            }
        }
        best.ok_or_else(|| DiscoverError::BadParam("no k-means run".into()))
    }
}

impl KMeansModel {
    /// The nearest centre of each row.
    pub fn predict_matrix(&self, x: ArrayView2<'_, f64>) -> Vec<usize> {
        let d = x.ncols();
        let centres: Vec<f64> = self.centroids.iter().flatten().copied().collect();
        let rows: Vec<Vec<f64>> = x.rows().into_iter().map(|r| r.to_vec()).collect();
        rows.par_iter().map(|p| nearest(p, &centres, d).0).collect()
    }
}

impl<T> Fit<Array2<f64>, T, DiscoverError> for KMeansParams {
    type Object = KMeansModel;

    fn fit(&self, dataset: &DatasetBase<Array2<f64>, T>) -> Result<KMeansModel, DiscoverError> {
        self.fit_matrix(dataset.records.view())
    }
}

impl PredictInplace<Array2<f64>, Array1<usize>> for KMeansModel {
    fn predict_inplace(&self, x: &Array2<f64>, y: &mut Array1<usize>) {
        for (o, l) in y.iter_mut().zip(self.predict_matrix(x.view())) {
            *o = l;
        }
    }

    fn default_target(&self, x: &Array2<f64>) -> Array1<usize> {
        Array1::zeros(x.nrows())
    }
}
