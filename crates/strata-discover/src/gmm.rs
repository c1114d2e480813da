//! Gaussian mixtures (full covariances): EM with a log-sum-exp E-step, initialised by
//! linfa-clustering's k-means, checked against linfa-clustering's own
//! `GaussianMixtureModel` on data where that one works (tests/gmm.rs).
//!
//! Why not linfa-clustering's EM: its 0.8.1 E-step (rust-ml/linfa#442) normalises with
//! `ln(sum(exp(x)))` instead of the log-sum-exp trick. A weighted log-density above about
//! 709 overflows and one below about -745 for every component underflows to `ln(0)`;
//! either makes every responsibility NaN. Measured here: on the feature table of
//! `strata generate --users 20000 --days 90 --seed 3` (64 columns after preprocessing)
//! it failed for every k from 2 up, at every regularisation from 1e-6 to 1e-3
//! ("Undefined ordering between a tested pair of values": NaN responsibilities), because
//! heavy-tailed users sit thousands of standard deviations from every tight component.
//! The guard, then:
//!
//! 1. **The E-step is ours**, with log-sum-exp: finite for any finite row, so a user far
//!    from every component still gets its most likely component and a probability.
//! 2. **No overflow by construction** even so: every covariance is regularised by `reg`
//!    on its diagonal, so its eigenvalues are at least `reg` and a log-density is at
//!    most `-d/2 ln(2 pi reg)`; [`safe_reg`] keeps that below 700 for the matrix's `d`.
//! 3. **A component that empties or a covariance that is not positive definite** is
//!    refitted with `reg` ten times larger, at most [`RETRIES`] times; then the error
//!    says what to do.
//!
//! EM is O(n k d^2) per iteration, so it is fitted on a seeded sample (`sample` rows,
//! default 20,000) and every row is then labelled by the fitted model. The sums of the
//! M-step are taken over fixed chunks of rows in parallel and added in chunk order:
//! byte-identical results whatever the thread count.

use crate::DiscoverError;
use linfa::dataset::DatasetBase;
use linfa::traits::{Fit, Predict};
use linfa_clustering::{GaussianMixtureModel, KMeans};
use ndarray::{Array1, Array2, ArrayView2};
use rand::SeedableRng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Refits with a larger `reg` before giving up.
pub const RETRIES: usize = 3;

/// The smallest diagonal regularisation at which no weighted log-density in `d`
/// dimensions can exceed 700 (so linfa's `exp` cannot overflow), and at least 1e-6
/// (scikit-learn's default).
pub fn safe_reg(d: usize) -> f64 {
    let bound = (-1400.0 / d.max(1) as f64).exp() / (2.0 * std::f64::consts::PI);
    bound.max(1e-6)
}

/// Gaussian mixture settings.
#[derive(Debug, Clone, PartialEq)]
pub struct GmmParams {
    /// Components.
    pub k: usize,
    /// Seed of the sample and of linfa's k-means initialisation.
    pub seed: u64,
    /// EM iterations at most.
    pub max_iter: u64,
    /// Convergence: change in the mean log-likelihood per point.
    pub tol: f64,
    /// Rows EM is fitted on (a seeded sample when there are more).
    pub sample: usize,
    /// Diagonal regularisation; `None` = [`safe_reg`].
    pub reg: Option<f64>,
    /// Diagonal covariances (each feature its own variance, no correlations): O(n k d)
    /// per iteration instead of O(n k d^2), and far fewer parameters for BIC to charge.
    pub diagonal: bool,
}

impl GmmParams {
    /// Defaults for `k` components.
    pub fn new(k: usize, seed: u64) -> Self {
        GmmParams { k, seed, max_iter: 200, tol: 1e-3, sample: 20_000, reg: None, diagonal: false }
    }
}

/// A fitted mixture, in the transformed space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GmmModel {
    /// Dimensions.
    pub d: usize,
    /// Mixing weights, one per component.
    pub weights: Vec<f64>,
    /// Means, row-major k x d.
    pub means: Vec<f64>,
    /// Lower Cholesky factors `L` of the covariances (`Sigma = L L^T`), k x d x d.
    pub cov_chol: Vec<f64>,
    /// The regularisation the fit ended with.
    pub reg_covariance: f64,
    /// Refits needed (0 = the first fit was finite).
    pub retries: usize,
    /// Rows EM was fitted on.
    pub fitted_on: usize,
    /// Mean log-likelihood per row on those rows.
    pub mean_log_likelihood: f64,
    /// Bayesian information criterion on those rows (lower is better).
    pub bic: f64,
    /// EM iterations run.
    #[serde(default)]
    pub iterations: u64,
    /// Whether the log-likelihood settled within the tolerance before the cap.
    #[serde(default)]
    pub converged: bool,
    /// Diagonal covariances (`cov_chol` holds standard deviations on its diagonal).
    #[serde(default)]
    pub diagonal: bool,
}

/// Lower Cholesky factor of a symmetric positive definite `d x d` matrix.
fn cholesky(a: &[f64], d: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let s: f64 = (0..j).map(|m| l[i * d + m] * l[j * d + m]).sum();
            if i == j {
                let v = a[i * d + i] - s;
                if v.is_nan() || v <= 0.0 {
                    return None;
                }
                l[i * d + i] = v.sqrt();
            } else {
                l[i * d + j] = (a[i * d + j] - s) / l[j * d + j];
            }
        }
    }
    Some(l)
}

impl GmmModel {
    /// Components.
    pub fn k(&self) -> usize {
        self.weights.len()
    }

    /// `ln w_c + ln N(p | mu_c, Sigma_c)` for every component `c`.
    pub fn weighted_log_density(&self, p: &[f64], out: &mut Vec<f64>) {
        let d = self.d;
        let half_log_2pi = 0.5 * d as f64 * (2.0 * std::f64::consts::PI).ln();
        out.clear();
        let mut diff = vec![0.0; d];
        for c in 0..self.k() {
            let mu = &self.means[c * d..(c + 1) * d];
            let l = &self.cov_chol[c * d * d..(c + 1) * d * d];
            // (x - mu)^T Sigma^-1 (x - mu) = |z|^2 with L z = x - mu (forward
            // substitution); ln det Sigma = 2 sum ln L_jj.
            let mut maha = 0.0;
            let mut half_log_det = 0.0;
            if self.diagonal {
                for j in 0..d {
                    let sd = l[j * d + j];
                    let z = (p[j] - mu[j]) / sd;
                    maha += z * z;
                    half_log_det += sd.ln();
                }
                out.push(self.weights[c].ln() - half_log_det - half_log_2pi - 0.5 * maha);
                continue;
            }
            for j in 0..d {
                let row = &l[j * d..j * d + j];
                let z = (p[j] - mu[j] - row.iter().zip(&diff[..j]).map(|(a, b)| a * b).sum::<f64>()) / l[j * d + j];
                diff[j] = z;
                maha += z * z;
                half_log_det += l[j * d + j].ln();
            }
            out.push(self.weights[c].ln() - half_log_det - half_log_2pi - 0.5 * maha);
        }
    }

    /// The most likely component of each row, its responsibility (probability), and
    /// the row's log-likelihood, all by log-sum-exp (finite for any finite row).
    pub fn predict_matrix(&self, x: ArrayView2<'_, f64>) -> (Vec<usize>, Vec<f64>, Vec<f64>) {
        let owned = x.as_standard_layout().to_owned();
        let data = owned.as_slice().unwrap_or(&[]);
        let rows: Vec<(usize, f64, f64)> = data
            .par_chunks(self.d.max(1))
            .map_init(Vec::new, |buf, p| {
                self.weighted_log_density(p, buf);
                let (mut best, mut top) = (0, f64::NEG_INFINITY);
                for (c, v) in buf.iter().enumerate() {
                    if *v > top {
                        top = *v;
                        best = c;
                    }
                }
                let sum: f64 = buf.iter().map(|v| (v - top).exp()).sum();
                let log_norm = top + sum.ln();
                (best, (top - log_norm).exp(), log_norm)
            })
            .collect();
        let mut labels = Vec::with_capacity(rows.len());
        let mut prob = Vec::with_capacity(rows.len());
        let mut ll = Vec::with_capacity(rows.len());
        for (l, p, v) in rows {
            labels.push(l);
            prob.push(p);
            ll.push(v);
        }
        (labels, prob, ll)
    }

    /// Converts a fitted linfa mixture (covariances to their Cholesky factors); an error
    /// if any parameter is not finite.
    pub fn from_linfa(g: &GaussianMixtureModel<f64>, reg: f64, retries: usize) -> Result<Self, DiscoverError> {
        let (k, d) = g.means().dim();
        let weights: Vec<f64> = g.weights().iter().copied().collect();
        let means: Vec<f64> = g.means().iter().copied().collect();
        let cov = g.covariances();
        let mut cov_chol = Vec::with_capacity(k * d * d);
        for c in 0..k {
            let m: Vec<f64> = (0..d * d).map(|i| cov[[c, i / d, i % d]]).collect();
            let l = cholesky(&m, d).ok_or_else(|| {
                DiscoverError::BadParam(format!("component {c}'s covariance is not positive definite"))
            })?;
            cov_chol.extend(l);
        }
        let finite =
            weights.iter().chain(&means).chain(&cov_chol).all(|v| v.is_finite()) && weights.iter().all(|w| *w > 0.0);
        if !finite {
            return Err(DiscoverError::BadParam("the fitted mixture is not finite".into()));
        }
        Ok(GmmModel {
            d,
            weights,
            means,
            cov_chol,
            reg_covariance: reg,
            retries,
            fitted_on: 0,
            mean_log_likelihood: f64::NAN,
            bic: f64::NAN,
            iterations: 0,
            converged: false,
            diagonal: false,
        })
    }
}

impl GmmParams {
    /// Fits on a seeded sample of at most `sample` rows; see the module notes for the
    /// guard around linfa's EM.
    pub fn fit_matrix(&self, x: ArrayView2<'_, f64>) -> Result<GmmModel, DiscoverError> {
        let (n, d) = x.dim();
        if self.k == 0 {
            return Err(DiscoverError::BadParam("k = 0: give at least 1 component".into()));
        }
        if n < self.k * 2 {
            return Err(DiscoverError::BadParam(format!(
                "{n} users cannot fit {} mixture components (at least 2 users per component); lower --k",
                self.k
            )));
        }
        if d == 0 {
            return Err(DiscoverError::NoColumns { skipped: Vec::new() });
        }
        if self.max_iter == 0 || self.tol.is_nan() || self.tol <= 0.0 {
            return Err(DiscoverError::BadParam(format!(
                "the mixture needs max_iter >= 1 and tol > 0 (got {} and {})",
                self.max_iter, self.tol
            )));
        }
        let owned = x.as_standard_layout().to_owned();
        crate::dbscan::check_finite(owned.as_slice().unwrap_or(&[]), d)?;
        let idx = crate::metrics::sample_indices(n, self.sample.max(self.k * 2), self.seed ^ 0x6a3);
        let sub = Array2::from_shape_fn((idx.len(), d), |(i, j)| x[[idx[i], j]]);
        // linfa-clustering's k-means (its defaults, as its own mixture uses) gives the
        // starting responsibilities: one-hot on each row's nearest centre.
        let init: Array1<usize> = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            KMeans::params_with_rng(self.k, rand_xoshiro_seed(self.seed))
                .fit(&DatasetBase::from(sub.clone()))
                .map(|m| m.predict(&sub))
                .map_err(|e| e.to_string())
        }))
        .unwrap_or_else(|_| Err("linfa's k-means panicked".into()))
        .map_err(|e| DiscoverError::BadParam(format!("the mixture's k-means start failed: {e}")))?;
        let data = sub.as_slice().unwrap_or(&[]);
        let mut reg = self.reg.unwrap_or_else(|| safe_reg(d));
        let mut last = String::new();
        for attempt in 0..=RETRIES {
            match self.em(data, d, init.as_slice().unwrap_or(&[]), reg) {
                Ok((mut m, total)) => {
                    let per_cov = if self.diagonal { d } else { d * (d + 1) / 2 };
                    let params = (self.k * d + self.k * per_cov + self.k - 1) as f64;
                    m.retries = attempt;
                    m.fitted_on = idx.len();
                    m.mean_log_likelihood = total / idx.len() as f64;
                    m.bic = -2.0 * total + params * (idx.len() as f64).ln();
                    if m.bic.is_finite() {
                        return Ok(m);
                    }
                    last = "the log-likelihood is not finite".into();
                }
                Err(e) => last = e,
            }
            reg *= 10.0;
        }
        Err(DiscoverError::BadParam(format!(
            "the Gaussian mixture with k = {} did not fit ({last}), even with covariance regularisation {:e}; \
             try a smaller --k, fewer --columns, or --algo kmeans",
            self.k,
            reg / 10.0
        )))
    }

    /// EM from one-hot responsibilities `init`: returns the model and the total
    /// log-likelihood of `data` under it.
    fn em(&self, data: &[f64], d: usize, init: &[usize], reg: f64) -> Result<(GmmModel, f64), String> {
        let k = self.k;
        let n = data.len() / d;
        let mut resp = vec![0.0; n * k];
        for (i, c) in init.iter().enumerate() {
            resp[i * k + c] = 1.0;
        }
        let mut model = m_step(data, d, k, &resp, reg, self.diagonal)?;
        let mut lower = f64::NEG_INFINITY;
        // Like scikit-learn, a fit that runs out of iterations is kept; the model says so.
        let (mut iterations, mut converged) = (0, false);
        for _ in 0..self.max_iter {
            let prev = lower;
            let log_norm = e_step(&model, data, &mut resp);
            lower = log_norm.iter().sum::<f64>() / n as f64;
            model = m_step(data, d, k, &resp, reg, self.diagonal)?;
            iterations += 1;
            if (lower - prev).abs() < self.tol {
                converged = true;
                break;
            }
        }
        model.iterations = iterations;
        model.converged = converged;
        let mut scratch = vec![0.0; n * k];
        let total: f64 = e_step(&model, data, &mut scratch).iter().sum();
        Ok((model, total))
    }
}

/// Rows per chunk of the parallel sums (fixed, so the additions happen in one order).
const CHUNK: usize = 1024;

/// Responsibilities into `resp` (row-major n x k); returns each row's log-likelihood.
fn e_step(model: &GmmModel, data: &[f64], resp: &mut [f64]) -> Vec<f64> {
    let (d, k) = (model.d, model.k());
    let mut log_norm = vec![0.0; data.len() / d];
    data.par_chunks(d * CHUNK).zip(resp.par_chunks_mut(k * CHUNK)).zip(log_norm.par_chunks_mut(CHUNK)).for_each(
        |((rows, r), ln)| {
            let mut buf = Vec::with_capacity(k);
            for (i, p) in rows.chunks(d).enumerate() {
                model.weighted_log_density(p, &mut buf);
                let top = buf.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let norm = top + buf.iter().map(|v| (v - top).exp()).sum::<f64>().ln();
                for c in 0..k {
                    r[i * k + c] = (buf[c] - norm).exp();
                }
                ln[i] = norm;
            }
        },
    );
    log_norm
}

/// Sums over one chunk of rows and their responsibilities.
type ChunkSum<'a> = dyn Fn(&[f64], &[f64]) -> Vec<f64> + Sync + 'a;

/// Weights, means and regularised full covariances from responsibilities.
fn m_step(data: &[f64], d: usize, k: usize, resp: &[f64], reg: f64, diagonal: bool) -> Result<GmmModel, String> {
    let n = data.len() / d;
    let chunks = |f: &ChunkSum<'_>, len: usize| -> Vec<f64> {
        let parts: Vec<Vec<f64>> =
            data.par_chunks(d * CHUNK).zip(resp.par_chunks(k * CHUNK)).map(|(x, r)| f(x, r)).collect();
        let mut total = vec![0.0; len];
        for p in parts {
            for (t, v) in total.iter_mut().zip(p) {
                *t += v;
            }
        }
        total
    };
    // Pass 1: nk and the weighted sums of rows.
    let sums = chunks(
        &|x, r| {
            let mut s = vec![0.0; k * (d + 1)];
            for (p, rr) in x.chunks(d).zip(r.chunks(k)) {
                for c in 0..k {
                    let w = rr[c];
                    s[c * (d + 1)] += w;
                    for j in 0..d {
                        s[c * (d + 1) + 1 + j] += w * p[j];
                    }
                }
            }
            s
        },
        k * (d + 1),
    );
    let nk: Vec<f64> = (0..k).map(|c| sums[c * (d + 1)]).collect();
    if let Some(c) = nk.iter().position(|v| !v.is_finite() || *v < 10.0 * f64::EPSILON) {
        return Err(format!("component {c} lost all its users"));
    }
    let mut means = vec![0.0; k * d];
    for c in 0..k {
        for j in 0..d {
            means[c * d + j] = sums[c * (d + 1) + 1 + j] / nk[c];
        }
    }
    // Pass 2: the weighted scatter about the new means (lower triangle).
    let scatter = chunks(
        &|x, r| {
            let mut s = vec![0.0; k * d * d];
            let mut diff = vec![0.0; d];
            for (p, rr) in x.chunks(d).zip(r.chunks(k)) {
                for c in 0..k {
                    let w = rr[c];
                    if w == 0.0 {
                        continue;
                    }
                    for j in 0..d {
                        diff[j] = p[j] - means[c * d + j];
                    }
                    let block = &mut s[c * d * d..(c + 1) * d * d];
                    if diagonal {
                        for a in 0..d {
                            block[a * d + a] += w * diff[a] * diff[a];
                        }
                        continue;
                    }
                    for a in 0..d {
                        let wa = w * diff[a];
                        let row = &mut block[a * d..a * d + a + 1];
                        for (b, v) in row.iter_mut().enumerate() {
                            *v += wa * diff[b];
                        }
                    }
                }
            }
            s
        },
        k * d * d,
    );
    let mut cov_chol = Vec::with_capacity(k * d * d);
    for c in 0..k {
        let mut cov = vec![0.0; d * d];
        for a in 0..d {
            for b in 0..=a {
                let v = scatter[c * d * d + a * d + b] / nk[c];
                cov[a * d + b] = v;
                cov[b * d + a] = v;
            }
            cov[a * d + a] += reg;
        }
        cov_chol
            .extend(cholesky(&cov, d).ok_or_else(|| format!("component {c}'s covariance is not positive definite"))?);
    }
    Ok(GmmModel {
        d,
        weights: nk.iter().map(|v| v / n as f64).collect(),
        means,
        cov_chol,
        reg_covariance: reg,
        retries: 0,
        fitted_on: n,
        mean_log_likelihood: f64::NAN,
        bic: f64::NAN,
        iterations: 0,
        converged: false,
        diagonal,
    })
}

/// linfa's mixture takes a `Xoshiro256Plus`; seeded from ours.
fn rand_xoshiro_seed(seed: u64) -> rand_xoshiro::Xoshiro256Plus {
    rand_xoshiro::Xoshiro256Plus::seed_from_u64(seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_reg_bounds_the_log_density_below_the_overflow() {
        for d in [1usize, 8, 64, 128, 400] {
            let reg = safe_reg(d);
            let bound = -0.5 * d as f64 * (2.0 * std::f64::consts::PI * reg).ln();
            assert!(bound <= 700.0 + 1e-9, "d {d}: bound {bound}");
        }
        assert_eq!(safe_reg(8), 1e-6);
        assert!(safe_reg(400) > 1e-6);
    }

    #[test]
    fn cholesky_of_a_known_matrix() {
        // [[4, 2], [2, 3]] = L L^T with L = [[2, 0], [1, sqrt 2]].
        let l = cholesky(&[4.0, 2.0, 2.0, 3.0], 2).expect("positive definite");
        assert!((l[0] - 2.0).abs() < 1e-12 && (l[2] - 1.0).abs() < 1e-12 && (l[3] - 2f64.sqrt()).abs() < 1e-12);
        assert!(cholesky(&[1.0, 2.0, 2.0, 1.0], 2).is_none());
    }

    #[test]
    fn a_far_away_point_gets_a_finite_probability() {
        let m = GmmModel {
            d: 1,
            weights: vec![0.5, 0.5],
            means: vec![0.0, 10.0],
            cov_chol: vec![0.001, 0.001], // sd 0.001: ln N at 1e6 sds ~ -5e11
            reg_covariance: 1e-6,
            retries: 0,
            fitted_on: 0,
            mean_log_likelihood: 0.0,
            bic: 0.0,
            iterations: 0,
            converged: true,
            diagonal: false,
        };
        let x = Array2::from_shape_vec((2, 1), vec![1e3, 4.0]).expect("shape");
        let (labels, prob, ll) = m.predict_matrix(x.view());
        assert_eq!(labels, vec![1, 0]);
        assert!(prob.iter().all(|p| p.is_finite() && *p > 0.99), "{prob:?}");
        assert!(ll.iter().all(|v| v.is_finite()));
    }
}
