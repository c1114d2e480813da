//! Known answers: planted blobs, DBSCAN against a brute-force reference, bad settings.

#![allow(clippy::unwrap_used)] // Tests may panic: that is how they fail.

use ndarray::Array2;
use proptest::prelude::*;
use strata_discover::dbscan::DbscanParams;
use strata_discover::kmeans::KMeansParams;
use strata_discover::metrics::{adjusted_rand_index, normalized_mutual_info};
use strata_discover::{score_k, DiscoverError};

/// `k` tight blobs far apart in `d` dimensions, `per` points each; returns the matrix
/// and the planted labels.
fn blobs(k: usize, per: usize, d: usize, seed: u64) -> (Array2<f64>, Vec<usize>) {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    let mut data = Vec::new();
    let mut labels = Vec::new();
    for i in 0..k * per {
        let c = i % k;
        for j in 0..d {
            let centre = if j % k == c { 20.0 } else { 0.0 } + (c * 7 + j) as f64 % 3.0;
            data.push(centre + next());
        }
        labels.push(c);
    }
    (Array2::from_shape_vec((k * per, d), data).unwrap(), labels)
}

#[test]
fn kmeans_recovers_well_separated_blobs_exactly() {
    let (x, truth) = blobs(4, 250, 5, 1);
    let m = KMeansParams::new(4, 7).fit_matrix(x.view()).unwrap();
    let labels = m.predict_matrix(x.view());
    assert_eq!(adjusted_rand_index(&labels, &truth), 1.0);
    assert!((normalized_mutual_info(&labels, &truth) - 1.0).abs() < 1e-12);
    assert!(m.inertia <= m.initial_inertia, "Lloyd never makes the start worse");
    // The same seed gives the same model.
    assert_eq!(KMeansParams::new(4, 7).fit_matrix(x.view()).unwrap(), m);
}

#[test]
fn auto_k_picks_the_planted_k_by_silhouette() {
    let (x, _) = blobs(5, 120, 6, 3);
    let mut best = (0, f64::NEG_INFINITY);
    for k in 2..=9 {
        let (s, _, _) = score_k(x.view(), &KMeansParams::new(k, 11), 400).unwrap();
        let sil = s.silhouette.unwrap();
        if sil > best.1 {
            best = (k, sil);
        }
        if k == 5 {
            assert!(s.stability_ari > 0.99, "{s:?}");
        }
    }
    assert_eq!(best.0, 5);
}

#[test]
fn inertia_from_given_centres_never_exceeds_theirs() {
    let (x, _) = blobs(3, 100, 4, 5);
    let init = Array2::from_shape_fn((3, 4), |(i, j)| (i * 4 + j) as f64);
    let p = KMeansParams { init: Some(init), ..KMeansParams::new(3, 0) };
    let m = p.fit_matrix(x.view()).unwrap();
    assert!(m.inertia <= m.initial_inertia);
}

#[test]
fn bad_settings_are_errors_not_panics() {
    let (x, _) = blobs(2, 5, 2, 9);
    assert!(matches!(KMeansParams::new(0, 1).fit_matrix(x.view()), Err(DiscoverError::BadParam(_))));
    assert!(matches!(KMeansParams::new(11, 1).fit_matrix(x.view()), Err(DiscoverError::BadParam(_))));
    let mut bad = x.clone();
    bad[[3, 1]] = f64::NAN;
    assert!(matches!(KMeansParams::new(2, 1).fit_matrix(bad.view()), Err(DiscoverError::NotFinite { row: 3, .. })));
    assert!(matches!(DbscanParams { eps: f64::NAN, min_samples: 3 }.run(bad.view()), Err(DiscoverError::BadParam(_))));
    assert!(matches!(DbscanParams { eps: 1.0, min_samples: 3 }.run(bad.view()), Err(DiscoverError::NotFinite { .. })));
    assert!(matches!(DbscanParams { eps: 0.0, min_samples: 3 }.run(x.view()), Err(DiscoverError::BadParam(_))));
}

/// scikit-learn's DBSCAN, written plainly: O(n^2) neighbourhoods, clusters grown in
/// index order, border points to the first cluster that reaches them.
fn brute_dbscan(x: &Array2<f64>, eps: f64, min_samples: usize) -> Vec<Option<usize>> {
    let n = x.nrows();
    let nb: Vec<Vec<usize>> = (0..n)
        .map(|i| {
            (0..n)
                .filter(|&j| {
                    x.row(i).iter().zip(x.row(j).iter()).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() <= eps * eps
                })
                .collect()
        })
        .collect();
    let core: Vec<bool> = nb.iter().map(|v| v.len() >= min_samples).collect();
    let mut labels: Vec<Option<usize>> = vec![None; n];
    let mut next = 0;
    for i in 0..n {
        if labels[i].is_some() || !core[i] {
            continue;
        }
        let mut stack = vec![i];
        labels[i] = Some(next);
        while let Some(p) = stack.pop() {
            if !core[p] {
                continue;
            }
            for &q in &nb[p] {
                if labels[q].is_none() {
                    labels[q] = Some(next);
                    stack.push(q);
                }
            }
        }
        next += 1;
    }
    labels
}

proptest! {
    #[test]
    fn dbscan_equals_the_brute_force_reference(
        pts in prop::collection::vec((0.0f64..10.0, 0.0f64..10.0, 0.0f64..3.0), 1..120),
        eps in 0.3f64..2.5,
        min_samples in 1usize..6,
    ) {
        let x = Array2::from_shape_fn((pts.len(), 3), |(i, j)| match j { 0 => pts[i].0, 1 => pts[i].1, _ => pts[i].2 });
        let got = DbscanParams { eps, min_samples }.run(x.view()).unwrap();
        prop_assert_eq!(got.labels, brute_dbscan(&x, eps, min_samples));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    /// Enough points for many leaves (192 points each), so the leaf-against-leaf union
    /// runs across boxes, boxes within eps end to end, and the parallel split.
    #[test]
    fn dbscan_on_many_leaves_equals_the_brute_force_reference(
        pts in prop::collection::vec((0.0f64..6.0, 0.0f64..6.0, 0.0f64..2.0), 400..1500),
        eps in 0.2f64..1.5,
        min_samples in 1usize..8,
        // Small scales pack points so tight that whole leaves fall within eps.
        scale in prop::sample::select(vec![0.1f64, 0.3, 1.0]),
    ) {
        let x = Array2::from_shape_fn((pts.len(), 3), |(i, j)| scale * match j { 0 => pts[i].0, 1 => pts[i].1, _ => pts[i].2 });
        let got = DbscanParams { eps, min_samples }.run(x.view()).unwrap();
        prop_assert_eq!(got.labels, brute_dbscan(&x, eps, min_samples));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    /// Hamerly's bounds only skip work: from the same start it reaches Lloyd's centres,
    /// inertia and iteration count.
    #[test]
    fn hamerly_equals_plain_lloyd(
        pts in prop::collection::vec(prop::collection::vec(-5.0f64..5.0, 3), 20..400),
        k in 2usize..7,
        iters in 1usize..40,
    ) {
        let d = 3;
        let x: Vec<f64> = pts.iter().flatten().copied().collect();
        let start: Vec<f64> = x[..k * d].to_vec();
        let (c1, i1, n1) = strata_discover::kmeans::lloyd_reference(&x, d, start.clone(), iters);
        let (c2, i2, n2) = strata_discover::kmeans::hamerly_from(&x, d, start, iters);
        prop_assert_eq!(n1, n2);
        prop_assert!((i1 - i2).abs() <= 1e-9 * i1.max(1.0), "{} vs {}", i1, i2);
        for (a, b) in c1.iter().zip(&c2) {
            prop_assert!((a - b).abs() <= 1e-9, "{} vs {}", a, b);
        }
    }
}

/// Two tight clumps (600 points each, every leaf's box far within eps, so leaves join
/// without a distance) 1.5 apart with eps 1: two clusters, never one.
#[test]
fn dbscan_keeps_tight_clumps_apart_when_their_gap_exceeds_eps() {
    let n = 1200;
    let x = Array2::from_shape_fn((n, 2), |(i, j)| {
        let jitter = ((i * 7 + j * 13) % 97) as f64 / 97.0 * 0.1;
        let base = if i < n / 2 { 0.0 } else { 1.6 };
        if j == 0 {
            base + jitter
        } else {
            jitter
        }
    });
    let got = DbscanParams { eps: 1.0, min_samples: 5 }.run(x.view()).unwrap();
    assert_eq!(got.clusters, 2);
    assert!(got.labels[..n / 2].iter().all(|l| *l == Some(0)));
    assert!(got.labels[n / 2..].iter().all(|l| *l == Some(1)));
    assert_eq!(got.labels, brute_dbscan(&x, 1.0, 5));
}
