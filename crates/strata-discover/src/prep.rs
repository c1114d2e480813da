//! Preprocessing as a fitted, saved pipeline: choose columns, impute nulls with the
//! median (plus a 0/1 indicator column where the column had nulls), `log1p` for
//! heavy-tailed non-negative columns, standard or robust scaling, optional PCA. The
//! fitted parameters are serialised with the model so a later snapshot is transformed
//! exactly the same way.

use crate::DiscoverError;
use ndarray::Array2;
use serde::{Deserialize, Serialize};

/// How columns are scaled after imputation and `log1p`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scale {
    /// `(x - mean) / standard deviation`.
    Standard,
    /// `(x - median) / interquartile range`.
    Robust,
    /// Left as they are.
    None,
}

/// One input column as the pipeline sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct InputColumn {
    /// Its name.
    pub name: String,
    /// One value per user; `None` is null.
    pub values: Vec<Option<f64>>,
}

/// The fitted treatment of one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnPrep {
    /// The column.
    pub name: String,
    /// What nulls become (the median of the non-null values).
    pub impute: f64,
    /// Whether an indicator column `<name>_was_null` follows it.
    pub indicator: bool,
    /// Whether `log1p` is applied (heavy-tailed, never negative).
    pub log1p: bool,
    /// Subtracted after `log1p`.
    pub center: f64,
    /// Divided by after centring.
    pub scale: f64,
}

/// A fitted pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pipeline {
    /// The columns, in matrix order.
    pub columns: Vec<ColumnPrep>,
    /// The scaling used.
    pub scale: Scale,
    /// PCA: the mean subtracted and the components (rows), when asked for.
    pub pca: Option<Pca>,
}

/// A fitted PCA projection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pca {
    /// Column means of the scaled matrix.
    pub mean: Vec<f64>,
    /// Components, one row each, unit length.
    pub components: Vec<Vec<f64>>,
    /// Variance explained by each component.
    pub explained_variance: Vec<f64>,
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Columns that name users, accounts, dates, segments or scores rather than behaviour:
/// left out of the default selection.
pub fn is_behavioural(name: &str) -> bool {
    !(name == "user_id"
        || name.starts_with("account_id")
        || name.ends_with("_score")
        || name.ends_with("_tier")
        || name.ends_with("_points")
        || name.contains("signup")
        || name.starts_with("events.")
        || name == "cluster")
}

impl Pipeline {
    /// Fits the pipeline to `cols` (all the same length). With `explicit`, a constant or
    /// all-null column is an error; otherwise such columns are left out and named in
    /// `skipped`.
    pub fn fit(
        cols: &[InputColumn],
        scale: Scale,
        pca: Option<usize>,
        explicit: bool,
        skipped: &mut Vec<String>,
    ) -> Result<Pipeline, DiscoverError> {
        let mut columns = Vec::new();
        for c in cols {
            if let Some((row, v)) =
                c.values.iter().enumerate().find_map(|(i, v)| v.filter(|x| !x.is_finite()).map(|x| (i, x)))
            {
                return Err(DiscoverError::NotFinite { column: c.name.clone(), row, value: v });
            }
            let mut present: Vec<f64> = c.values.iter().flatten().copied().collect();
            if present.is_empty() {
                if explicit {
                    return Err(DiscoverError::Useless {
                        column: c.name.clone(),
                        why: "is null for every user".into(),
                    });
                }
                skipped.push(format!("{} (all null)", c.name));
                continue;
            }
            present.sort_by(f64::total_cmp);
            let (min, max) = (present[0], present[present.len() - 1]);
            if min == max && present.len() == c.values.len() {
                if explicit {
                    return Err(DiscoverError::Useless {
                        column: c.name.clone(),
                        why: format!("is {min} for every user"),
                    });
                }
                skipped.push(format!("{} (constant)", c.name));
                continue;
            }
            let median = quantile(&present, 0.5);
            let p99 = quantile(&present, 0.99);
            // Heavy-tailed counts: never negative and a tail far above the middle.
            let log1p = min >= 0.0 && max > 10.0 && p99 > 4.0 * median.max(1.0);
            let indicator = present.len() < c.values.len();
            columns.push(ColumnPrep {
                name: c.name.clone(),
                impute: median,
                indicator,
                log1p,
                center: 0.0,
                scale: 1.0,
            });
        }
        if columns.is_empty() {
            return Err(DiscoverError::NoColumns { skipped: skipped.clone() });
        }
        let mut p = Pipeline { columns, scale, pca: None };
        // Centre and scale on the imputed, log1p-ed values.
        let by_name: std::collections::HashMap<&str, &InputColumn> =
            cols.iter().map(|c| (c.name.as_str(), c)).collect();
        for cp in &mut p.columns {
            let src = by_name[cp.name.as_str()];
            let mut v: Vec<f64> = src.values.iter().map(|x| cp.apply(*x)).collect();
            let (center, spread) = match scale {
                Scale::None => (0.0, 1.0),
                Scale::Standard => {
                    let n = v.len() as f64;
                    let mean = v.iter().sum::<f64>() / n;
                    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
                    (mean, var.sqrt())
                }
                Scale::Robust => {
                    v.sort_by(f64::total_cmp);
                    let iqr = quantile(&v, 0.75) - quantile(&v, 0.25);
                    let iqr = if iqr > 0.0 { iqr } else { (v[v.len() - 1] - v[0]).max(0.0) };
                    (quantile(&v, 0.5), iqr)
                }
            };
            cp.center = center;
            cp.scale = if spread > 0.0 && spread.is_finite() { spread } else { 1.0 };
        }
        if let Some(k) = pca {
            let x = p.scaled(cols)?;
            p.pca = Some(Pca::fit(&x, k)?);
        }
        Ok(p)
    }

    /// The matrix's column names (indicator columns included, or the PCA components).
    pub fn output_names(&self) -> Vec<String> {
        if let Some(pca) = &self.pca {
            return (1..=pca.components.len()).map(|i| format!("pc{i}")).collect();
        }
        let mut v = Vec::new();
        for c in &self.columns {
            v.push(c.name.clone());
            if c.indicator {
                v.push(format!("{}_was_null", c.name));
            }
        }
        v
    }

    fn scaled(&self, cols: &[InputColumn]) -> Result<Array2<f64>, DiscoverError> {
        let by_name: std::collections::HashMap<&str, &InputColumn> =
            cols.iter().map(|c| (c.name.as_str(), c)).collect();
        let n = cols.first().map_or(0, |c| c.values.len());
        let width: usize = self.columns.iter().map(|c| 1 + usize::from(c.indicator)).sum();
        let mut x = Array2::<f64>::zeros((n, width));
        let mut j = 0;
        for cp in &self.columns {
            let src = by_name
                .get(cp.name.as_str())
                .ok_or_else(|| DiscoverError::MissingColumn { column: cp.name.clone() })?;
            for (i, v) in src.values.iter().enumerate() {
                if let Some(bad) = v.filter(|x| !x.is_finite()) {
                    return Err(DiscoverError::NotFinite { column: cp.name.clone(), row: i, value: bad });
                }
                x[[i, j]] = (cp.apply(*v) - cp.center) / cp.scale;
                if cp.indicator {
                    x[[i, j + 1]] = if v.is_none() { 1.0 } else { 0.0 };
                }
            }
            j += 1 + usize::from(cp.indicator);
        }
        Ok(x)
    }

    /// The matrix for `cols` (a later snapshot is transformed with the fitted values).
    pub fn transform(&self, cols: &[InputColumn]) -> Result<Array2<f64>, DiscoverError> {
        let x = self.scaled(cols)?;
        Ok(match &self.pca {
            Some(p) => p.project(&x),
            None => x,
        })
    }
}

impl ColumnPrep {
    /// Imputation and `log1p` of one value (before centring and scaling).
    pub fn apply(&self, v: Option<f64>) -> f64 {
        let x = v.unwrap_or(self.impute);
        if self.log1p {
            x.max(0.0).ln_1p()
        } else {
            x
        }
    }
}

impl Pca {
    /// The top `k` principal components of `x` by power iteration with deflation on the
    /// covariance matrix (d x d, small), from a fixed start: deterministic.
    #[allow(clippy::needless_range_loop)] // symmetric-matrix index arithmetic reads best as indices
    pub fn fit(x: &Array2<f64>, k: usize) -> Result<Pca, DiscoverError> {
        let (n, d) = x.dim();
        if k == 0 || k > d {
            return Err(DiscoverError::BadParam(format!("--pca {k}: choose between 1 and {d} (the columns)")));
        }
        let mean: Vec<f64> = (0..d).map(|j| x.column(j).sum() / n.max(1) as f64).collect();
        let mut cov = vec![vec![0.0; d]; d];
        for row in x.rows() {
            for a in 0..d {
                let da = row[a] - mean[a];
                for b in a..d {
                    cov[a][b] += da * (row[b] - mean[b]);
                }
            }
        }
        for a in 0..d {
            for b in a..d {
                cov[a][b] /= n.max(1) as f64;
                cov[b][a] = cov[a][b];
            }
        }
        let mut components = Vec::new();
        let mut explained = Vec::new();
        for c in 0..k {
            let mut v: Vec<f64> = (0..d).map(|j| 1.0 + ((j + c) % 7) as f64 * 0.1).collect();
            let mut lambda = 0.0;
            for _ in 0..500 {
                let mut w: Vec<f64> = (0..d).map(|a| (0..d).map(|b| cov[a][b] * v[b]).sum()).collect();
                let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
                if norm == 0.0 {
                    break;
                }
                w.iter_mut().for_each(|x| *x /= norm);
                let diff: f64 = w.iter().zip(&v).map(|(a, b)| (a - b).abs()).sum();
                v = w;
                lambda = norm;
                if diff < 1e-12 {
                    break;
                }
            }
            for a in 0..d {
                for b in 0..d {
                    cov[a][b] -= lambda * v[a] * v[b];
                }
            }
            components.push(v);
            explained.push(lambda);
        }
        Ok(Pca { mean, components, explained_variance: explained })
    }

    fn project(&self, x: &Array2<f64>) -> Array2<f64> {
        let (n, _) = x.dim();
        let k = self.components.len();
        let mut out = Array2::<f64>::zeros((n, k));
        for (i, row) in x.rows().into_iter().enumerate() {
            for (c, comp) in self.components.iter().enumerate() {
                out[[i, c]] = row.iter().zip(&self.mean).zip(comp).map(|((x, m), w)| (x - m) * w).sum();
            }
        }
        out
    }
}
