//! Comparison of one clustering with one labeling (a segment family, or planted
//! personas), as contract section 6 pins it: the contingency table, adjusted Rand
//! index, normalised mutual information, V-measure, homogeneity, completeness; purity
//! per cluster; one-to-one (Hungarian) and many-to-one (majority) matching.
//!
//! Noise (a null cluster) is one more cluster label, named `noise`; a user without a
//! segment is one more segment label, named `Unassigned`, as scikit-learn counts `-1`.

use pathfinding::kuhn_munkres::kuhn_munkres;
use pathfinding::matrix::Matrix;
use serde::Serialize;
use strata_discover::metrics::{ari_of_table, information, nmi_of_table};

/// The name noise takes as a cluster label.
pub const NOISE: &str = "noise";
/// The name a missing segment takes as a label.
pub const UNASSIGNED: &str = "Unassigned";

/// A labeling as codes into a list of names, built in first-seen order and then
/// sorted by name so the output does not depend on the row order.
#[derive(Debug, Clone, PartialEq)]
pub struct Coded {
    /// The label names.
    pub names: Vec<String>,
    /// One code per user.
    pub codes: Vec<usize>,
}

impl Coded {
    /// Codes string labels; `None` becomes `missing`.
    pub fn from_strings<S: AsRef<str>>(values: &[Option<S>], missing: &str) -> Coded {
        let mut names: Vec<String> =
            values.iter().map(|v| v.as_ref().map_or(missing, |s| s.as_ref()).to_string()).collect();
        names.sort_unstable();
        names.dedup();
        let codes = values
            .iter()
            .map(|v| {
                let s = v.as_ref().map_or(missing, |s| s.as_ref());
                names.binary_search_by(|n| n.as_str().cmp(s)).unwrap_or(0)
            })
            .collect();
        Coded { names, codes }
    }

    /// Codes cluster numbers: `cluster 0`, `cluster 1`, ..., then `noise` for `None`.
    pub fn from_clusters(values: &[Option<usize>]) -> Coded {
        let mut ids: Vec<usize> = values.iter().flatten().copied().collect();
        ids.sort_unstable();
        ids.dedup();
        let has_noise = values.iter().any(Option::is_none);
        let mut names: Vec<String> = ids.iter().map(|c| format!("cluster {c}")).collect();
        if has_noise {
            names.push(NOISE.to_string());
        }
        let codes = values
            .iter()
            .map(|v| match v {
                Some(c) => ids.binary_search(c).unwrap_or(0),
                None => ids.len(),
            })
            .collect();
        Coded { names, codes }
    }
}

/// The contingency table of two labelings: rows `rows`'s labels, columns `cols`'s.
pub fn table(rows: &Coded, cols: &Coded) -> Vec<Vec<u64>> {
    let mut t = vec![vec![0u64; cols.names.len()]; rows.names.len()];
    for (r, c) in rows.codes.iter().zip(&cols.codes) {
        t[*r][*c] += 1;
    }
    t
}

/// Agreement measures of a clustering (rows) against a labeling (columns).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Scores {
    /// Adjusted Rand index.
    pub ari: f64,
    /// Normalised mutual information (arithmetic mean).
    pub nmi: f64,
    /// Harmonic mean of homogeneity and completeness.
    pub v_measure: f64,
    /// Each cluster holds only one segment: MI / H(segments).
    pub homogeneity: f64,
    /// Each segment sits in only one cluster: MI / H(clusters).
    pub completeness: f64,
    /// Share of users in their cluster's largest segment.
    pub purity: f64,
}

/// Every measure of a contingency table whose rows are clusters and columns segments,
/// computed as `sklearn.metrics` computes them.
pub fn scores(t: &[Vec<u64>]) -> Scores {
    let info = information(t);
    let homogeneity = if info.h_cols > 0.0 { info.mi / info.h_cols } else { 1.0 };
    let completeness = if info.h_rows > 0.0 { info.mi / info.h_rows } else { 1.0 };
    let v_measure = if homogeneity + completeness > 0.0 {
        2.0 * homogeneity * completeness / (homogeneity + completeness)
    } else {
        0.0
    };
    let n: u64 = t.iter().flatten().sum();
    let top: u64 = t.iter().map(|r| r.iter().copied().max().unwrap_or(0)).sum();
    Scores {
        ari: ari_of_table(t),
        nmi: nmi_of_table(t),
        v_measure,
        homogeneity,
        completeness,
        purity: if n > 0 { top as f64 / n as f64 } else { 0.0 },
    }
}

/// One-to-one matching of rows to columns maximising the users they share (Hungarian
/// algorithm): `(row, column)` pairs; with more rows than columns some rows stay
/// unmatched, and the other way round.
pub fn hungarian(t: &[Vec<u64>]) -> Vec<(usize, usize)> {
    let rows = t.len();
    let cols = t.first().map_or(0, Vec::len);
    if rows == 0 || cols == 0 {
        return Vec::new();
    }
    let transpose = rows > cols;
    let (r, c) = if transpose { (cols, rows) } else { (rows, cols) };
    let weight = |i: usize, j: usize| -> i64 {
        let v = if transpose { t[j][i] } else { t[i][j] };
        i64::try_from(v).unwrap_or(i64::MAX / (r as i64 + 1))
    };
    let data: Vec<i64> = (0..r).flat_map(|i| (0..c).map(move |j| weight(i, j))).collect();
    let Ok(m) = Matrix::from_vec(r, c, data) else {
        return Vec::new();
    };
    let (_, assign) = kuhn_munkres(&m);
    let mut pairs: Vec<(usize, usize)> =
        assign.into_iter().enumerate().map(|(i, j)| if transpose { (j, i) } else { (i, j) }).collect();
    pairs.sort_unstable();
    pairs
}

/// Many-to-one matching: each row's column with the most users (lowest index on ties).
pub fn majority(t: &[Vec<u64>]) -> Vec<usize> {
    t.iter()
        .map(|r| {
            let mut best = 0;
            for (j, v) in r.iter().enumerate() {
                if *v > r[best] {
                    best = j;
                }
            }
            best
        })
        .collect()
}
