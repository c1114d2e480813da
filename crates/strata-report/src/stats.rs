//! Summary statistics.

use serde::Serialize;

/// A distribution's summary. Quantiles interpolate linearly between order statistics
/// (numpy's and pandas' default), so they can be checked against either.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Distribution {
    /// Values summarised (nulls left out).
    pub count: usize,
    /// Mean.
    pub mean: f64,
    /// Smallest.
    pub min: f64,
    /// First quartile.
    pub q1: f64,
    /// Median.
    pub median: f64,
    /// Third quartile.
    pub q3: f64,
    /// Largest.
    pub max: f64,
}

/// The `q` quantile (0..=1) of sorted values, linearly interpolated.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Mean and population standard deviation (0, 0 for no values).
pub fn mean_sd(v: &[f64]) -> (f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0);
    }
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n;
    (m, var.sqrt())
}

impl Distribution {
    /// Summarises `values` (non-finite values left out).
    pub fn of(values: &[f64]) -> Distribution {
        let mut s: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        s.sort_by(f64::total_cmp);
        let (mean, _) = mean_sd(&s);
        Distribution {
            count: s.len(),
            mean: if s.is_empty() { f64::NAN } else { mean },
            min: s.first().copied().unwrap_or(f64::NAN),
            q1: quantile(&s, 0.25),
            median: quantile(&s, 0.5),
            q3: quantile(&s, 0.75),
            max: s.last().copied().unwrap_or(f64::NAN),
        }
    }
}
