//! Cluster discovery on the feature table (issue #4): a fitted, saved preprocessing
//! [`prep::Pipeline`], [`kmeans`] (standard Lloyd with greedy k-means++ behind linfa's
//! `Fit`/`Predict` traits), exact parallel [`dbscan`] behind linfa's `Transformer`,
//! Gaussian mixtures ([`gmm`], linfa-clustering's EM behind a guard),
//! quality and agreement [`metrics`], automatic k, and cluster [`profile`]s. No I/O.

pub mod dbscan;
pub mod gmm;
pub mod kmeans;
pub mod metrics;
pub mod prep;
pub mod profile;

use ndarray::ArrayView2;
use serde::Serialize;

/// What can go wrong, naming the column, row or value.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    /// A value that is NaN or infinite.
    #[error("column {column}, row {row}: {value} is not a finite number; fix or drop it before clustering")]
    NotFinite {
        /// The column.
        column: String,
        /// The row (0-based).
        row: usize,
        /// The value.
        value: f64,
    },
    /// A column asked for that cannot separate anyone.
    #[error("column {column} {why}: it cannot separate users; leave it out of --columns")]
    Useless {
        /// The column.
        column: String,
        /// Why.
        why: String,
    },
    /// No usable numeric column.
    #[error("no usable numeric column to cluster on{}", if skipped.is_empty() { String::new() } else { format!(" (left out: {})", skipped.join(", ")) })]
    NoColumns {
        /// What was left out and why.
        skipped: Vec<String>,
    },
    /// A column the model was fitted on is missing from the new table.
    #[error("column {column} is missing; the model was fitted with it")]
    MissingColumn {
        /// The column.
        column: String,
    },
    /// A bad setting.
    #[error("{0}")]
    BadParam(String),
}

impl From<linfa::Error> for DiscoverError {
    fn from(e: linfa::Error) -> Self {
        DiscoverError::BadParam(e.to_string())
    }
}

/// Quality of one k.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KScore {
    /// Clusters.
    pub k: usize,
    /// Mean silhouette on the seeded sample.
    pub silhouette: Option<f64>,
    /// Calinski-Harabasz (higher is better).
    pub calinski_harabasz: Option<f64>,
    /// Davies-Bouldin (lower is better).
    pub davies_bouldin: Option<f64>,
    /// Adjusted Rand index between fits on two bootstrap samples, compared on the
    /// silhouette sample (1 = the same clusters).
    pub stability_ari: f64,
    /// Inertia (sum of squared distances).
    pub inertia: f64,
}

/// Scores k-means for one k: fit on all points, silhouette on a seeded sample of at
/// most `sample` points, stability from two bootstrap fits.
pub fn score_k(
    x: ArrayView2<'_, f64>,
    base: &kmeans::KMeansParams,
    sample: usize,
) -> Result<(KScore, kmeans::KMeansModel, Vec<usize>), DiscoverError> {
    let (n, d) = x.dim();
    let model = base.fit_matrix(x)?;
    let labels = model.predict_matrix(x);
    let owned = x.as_standard_layout().to_owned();
    let data = owned.as_slice().unwrap_or(&[]);
    let idx = metrics::sample_indices(n, sample, base.seed ^ 0x5151);
    let opt: Vec<Option<usize>> = labels.iter().map(|l| Some(*l)).collect();
    let silhouette = metrics::silhouette(data, d, &opt, &idx);
    let ch = metrics::calinski_harabasz(data, d, &labels, base.k);
    let db = metrics::davies_bouldin(data, d, &labels, base.k);
    // Stability: two bootstrap samples (seeded), each fitted once, both predicting the
    // silhouette sample.
    let boot = |s: u64| -> Result<Vec<usize>, DiscoverError> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(base.seed ^ s);
        let m = n.min(sample.max(base.k * 10));
        let rows: Vec<usize> = (0..m).map(|_| rng.gen_range(0..n)).collect();
        let sub = ndarray::Array2::from_shape_fn((m, d), |(i, j)| x[[rows[i], j]]);
        let p = kmeans::KMeansParams { n_init: 1, seed: base.seed ^ s, ..base.clone() };
        let fitted = p.fit_matrix(sub.view())?;
        let probe = ndarray::Array2::from_shape_fn((idx.len(), d), |(i, j)| x[[idx[i], j]]);
        Ok(fitted.predict_matrix(probe.view()))
    };
    let stability_ari = if n >= base.k * 2 { metrics::adjusted_rand_index(&boot(0xb00)?, &boot(0xb01)?) } else { 1.0 };
    let inertia = model.inertia;
    Ok((
        KScore { k: base.k, silhouette, calinski_harabasz: ch, davies_bouldin: db, stability_ari, inertia },
        model,
        labels,
    ))
}

/// A saved model: the fitted pipeline and what `assign` needs to label new users.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Model {
    /// Format version.
    pub version: u32,
    /// `kmeans`, `dbscan` or `gmm`.
    pub algo: String,
    /// The preprocessing, fitted.
    pub pipeline: prep::Pipeline,
    /// k-means centres.
    pub kmeans: Option<kmeans::KMeansModel>,
    /// DBSCAN's core points (transformed) and their clusters: a new user joins the
    /// cluster of its nearest core point within `eps`, else is noise.
    pub dbscan: Option<DbscanModel>,
    /// The Gaussian mixture: a new user joins its most likely component.
    #[serde(default)]
    pub gmm: Option<gmm::GmmModel>,
}

/// What DBSCAN keeps for assigning later snapshots.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct DbscanModel {
    /// The radius.
    pub eps: f64,
    /// The density threshold.
    pub min_samples: usize,
    /// Core points, row-major.
    pub core_points: Vec<f64>,
    /// Their clusters.
    pub core_labels: Vec<usize>,
}

impl Model {
    /// A mixture's labels for the rows of `x` (transformed) and each one's probability.
    pub fn assign_with_probability(
        &self,
        g: &gmm::GmmModel,
        x: ArrayView2<'_, f64>,
    ) -> Result<(Vec<Option<usize>>, Vec<f64>), DiscoverError> {
        if g.d != x.ncols() {
            return Err(DiscoverError::BadParam(format!(
                "the mixture has {} dimensions, the transformed table {}",
                g.d,
                x.ncols()
            )));
        }
        let owned = x.as_standard_layout().to_owned();
        dbscan::check_finite(owned.as_slice().unwrap_or(&[]), g.d)?;
        let (labels, prob, _) = g.predict_matrix(x);
        Ok((labels.into_iter().map(Some).collect(), prob))
    }

    /// Labels the rows of `x` (already transformed by `pipeline`).
    pub fn assign(&self, x: ArrayView2<'_, f64>) -> Result<Vec<Option<usize>>, DiscoverError> {
        if let Some(m) = &self.kmeans {
            return Ok(m.predict_matrix(x).into_iter().map(Some).collect());
        }
        if let Some(g) = &self.gmm {
            return Ok(self.assign_with_probability(g, x)?.0);
        }
        let Some(db) = &self.dbscan else {
            return Err(DiscoverError::BadParam(
                "the model holds no k-means centres, DBSCAN core points or mixture".into(),
            ));
        };
        let d = x.ncols();
        let owned = x.as_standard_layout().to_owned();
        let data = owned.as_slice().unwrap_or(&[]);
        dbscan::check_finite(data, d)?;
        let tree = dbscan::KdTree::new(&db.core_points, d);
        let eps2 = db.eps * db.eps;
        use rayon::prelude::*;
        Ok(data
            .par_chunks(d.max(1))
            .map(|p| {
                let mut best: Option<(f64, usize)> = None;
                tree.within(p, eps2, &mut |j| {
                    let q = &db.core_points[j * d..(j + 1) * d];
                    let d2: f64 = p.iter().zip(q).map(|(a, b)| (a - b) * (a - b)).sum();
                    if best.is_none_or(|(bd, bj)| d2 < bd || (d2 == bd && j < bj)) {
                        best = Some((d2, j));
                    }
                });
                best.map(|(_, j)| db.core_labels[j])
            })
            .collect())
    }
}
