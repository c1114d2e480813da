//! Comparison metrics against values known in advance (scikit-learn's documentation
//! examples, printed by scikit-learn 1.9.1 to full precision) and against naive
//! reference implementations on random labelings.

use proptest::prelude::*;
use strata_report::compare::{hungarian, majority, scores, table, Coded, NOISE, UNASSIGNED};

/// Rows: clusters (`pred`), columns: segments (`truth`), as the report builds them.
fn coded_ints(v: &[i64]) -> Coded {
    Coded::from_strings(&v.iter().map(|x| Some(format!("{x:03}"))).collect::<Vec<_>>(), "none")
}

fn measures(truth: &[i64], pred: &[i64]) -> strata_report::compare::Scores {
    scores(&table(&coded_ints(pred), &coded_ints(truth)))
}

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-9, "{a} != {b}");
}

#[test]
fn scikit_learn_user_guide_example() {
    // sklearn user guide 2.3.11: labels_true = [0, 0, 0, 1, 1, 1], labels_pred = [0, 0, 1, 1, 2, 2]
    let s = measures(&[0, 0, 0, 1, 1, 1], &[0, 0, 1, 1, 2, 2]);
    close(s.ari, 0.24242424242424243);
    close(s.homogeneity, 0.6666666666666669);
    close(s.completeness, 0.420619835714305);
    close(s.v_measure, 0.5158037429793889);
    // NMI with the arithmetic mean equals the V-measure.
    close(s.nmi, 0.5158037429793889);
}

#[test]
fn scikit_learn_docstring_examples() {
    close(measures(&[0, 0, 1, 1], &[1, 1, 0, 0]).ari, 1.0);
    close(measures(&[0, 0, 1, 1], &[0, 0, 1, 2]).ari, 0.5714285714285714);
    close(measures(&[0, 0, 0, 0], &[0, 1, 2, 3]).ari, 0.0);
    close(measures(&[0, 0, 1, 1], &[0, 1, 0, 1]).ari, -0.5);
    close(measures(&[0, 0, 1, 1], &[0, 0, 1, 2]).homogeneity, 1.0);
    close(measures(&[0, 0, 1, 1], &[0, 0, 0, 0]).homogeneity, 0.0);
    close(measures(&[0, 0, 1, 1], &[0, 0, 0, 0]).completeness, 1.0);
    close(measures(&[0, 0, 1, 1], &[0, 1, 0, 1]).completeness, 0.0);
    close(measures(&[0, 0, 1, 1], &[0, 0, 1, 2]).v_measure, 0.8);
    close(measures(&[0, 1, 2, 3], &[0, 0, 1, 1]).v_measure, 0.6666666666666666);
    close(measures(&[0, 0, 1, 1], &[0, 0, 0, 0]).nmi, 0.0);
    close(measures(&[0, 0, 1, 1], &[1, 1, 0, 0]).nmi, 1.0);
}

#[test]
fn noise_and_unassigned_are_one_more_label_each() {
    // Clusters with noise (None) and segments with unassigned users (None): scikit-learn
    // would see -1 as one more label. Truth [a, a, -, b, b, -], pred [0, 0, -1, 1, -1, 1].
    let seg = Coded::from_strings(&[Some("a"), Some("a"), None, Some("b"), Some("b"), None], UNASSIGNED);
    let cl = Coded::from_clusters(&[Some(0), Some(0), None, Some(1), None, Some(1)]);
    assert_eq!(seg.names, vec![UNASSIGNED.to_string(), "a".into(), "b".into()]);
    assert_eq!(cl.names, vec!["cluster 0".to_string(), "cluster 1".into(), NOISE.into()]);
    let t = table(&cl, &seg);
    assert_eq!(t, vec![vec![0, 2, 0], vec![1, 0, 1], vec![1, 0, 1]]);
    // adjusted_rand_score([1, 1, 0, 2, 2, 0], [0, 0, -1, 1, -1, 1]) and friends,
    // printed by scikit-learn 1.9.1.
    let s = scores(&t);
    close(s.ari, 0.16666666666666666);
    close(s.nmi, 0.5793801642856948);
    close(s.homogeneity, 0.5793801642856948);
    close(s.completeness, 0.5793801642856948);
    close(s.purity, 4.0 / 6.0);
}

#[test]
fn matching_one_to_one_and_majority() {
    // Hand-made: cluster 0 is mostly segment 1, cluster 1 mostly segment 1 too (less),
    // cluster 2 mostly segment 0. One-to-one must give segment 1 to cluster 0 and
    // segment 0 to cluster 2, leaving cluster 1 with what remains (segment 2).
    let t = vec![vec![1, 50, 0], vec![0, 30, 5], vec![40, 2, 1]];
    assert_eq!(hungarian(&t), vec![(0, 1), (1, 2), (2, 0)]);
    assert_eq!(majority(&t), vec![1, 1, 0]);
    // More segments than clusters, and more clusters than segments.
    assert_eq!(hungarian(&[vec![1, 9, 3]]), vec![(0, 1)]);
    assert_eq!(hungarian(&[vec![1], vec![7], vec![3]]), vec![(1, 0)]);
}

/// Pair counting: the definition of the Rand index, adjusted (O(n^2)).
fn ari_naive(a: &[usize], b: &[usize]) -> f64 {
    let n = a.len();
    let (mut same_both, mut same_a, mut same_b) = (0f64, 0f64, 0f64);
    for i in 0..n {
        for j in i + 1..n {
            let sa = a[i] == a[j];
            let sb = b[i] == b[j];
            same_a += f64::from(u8::from(sa));
            same_b += f64::from(u8::from(sb));
            same_both += f64::from(u8::from(sa && sb));
        }
    }
    let pairs = (n * (n - 1) / 2) as f64;
    let expected = same_a * same_b / pairs;
    let max = (same_a + same_b) / 2.0;
    if (max - expected).abs() < 1e-12 {
        1.0
    } else {
        (same_both - expected) / (max - expected)
    }
}

/// H(C|K) / H(C) from the definitions.
fn homogeneity_naive(truth: &[usize], pred: &[usize]) -> f64 {
    let n = truth.len() as f64;
    let count = |f: &dyn Fn(usize) -> bool| (0..truth.len()).filter(|&i| f(i)).count() as f64;
    let classes: std::collections::BTreeSet<usize> = truth.iter().copied().collect();
    let clusters: std::collections::BTreeSet<usize> = pred.iter().copied().collect();
    let h_c: f64 = classes
        .iter()
        .map(|c| {
            let p = count(&|i| truth[i] == *c) / n;
            -p * p.ln()
        })
        .sum();
    if h_c == 0.0 {
        return 1.0;
    }
    let mut h_c_k = 0.0;
    for k in &clusters {
        let nk = count(&|i| pred[i] == *k);
        for c in &classes {
            let nck = count(&|i| pred[i] == *k && truth[i] == *c);
            if nck > 0.0 {
                h_c_k -= nck / n * (nck / nk).ln();
            }
        }
    }
    1.0 - h_c_k / h_c
}

proptest! {
    #[test]
    fn metrics_match_naive_definitions(
        pairs in proptest::collection::vec((0usize..4, 0usize..5), 2..60)
    ) {
        let truth: Vec<usize> = pairs.iter().map(|p| p.0).collect();
        let pred: Vec<usize> = pairs.iter().map(|p| p.1).collect();
        let ti: Vec<i64> = truth.iter().map(|v| *v as i64).collect();
        let pi: Vec<i64> = pred.iter().map(|v| *v as i64).collect();
        let s = measures(&ti, &pi);
        prop_assert!((s.ari - ari_naive(&truth, &pred)).abs() < 1e-9, "ari {} vs {}", s.ari, ari_naive(&truth, &pred));
        prop_assert!((s.homogeneity - homogeneity_naive(&truth, &pred)).abs() < 1e-9);
        // Completeness is homogeneity with the roles swapped.
        prop_assert!((s.completeness - homogeneity_naive(&pred, &truth)).abs() < 1e-9);
        // Swapping the labelings leaves ARI and NMI alone.
        let back = measures(&pi, &ti);
        prop_assert!((s.ari - back.ari).abs() < 1e-9);
        prop_assert!((s.nmi - back.nmi).abs() < 1e-9);
        prop_assert!(s.purity > 0.0 && s.purity <= 1.0);
    }
}

#[test]
fn auc_known_values() {
    use strata_report::outcomes::auc;
    // sklearn.metrics.roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    assert_eq!(auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]), Some(0.75));
    // Ties count half.
    assert_eq!(auc(&[1.0, 1.0, 2.0, 2.0], &[false, true, false, true]), Some(0.5));
    assert_eq!(auc(&[3.0, 1.0], &[true, false]), Some(1.0));
    assert_eq!(auc(&[1.0, 2.0], &[true, true]), None);
}

proptest! {
    #[test]
    fn auc_matches_pair_counting(pairs in proptest::collection::vec((0u8..6, proptest::bool::ANY), 2..50)) {
        let scores: Vec<f64> = pairs.iter().map(|p| f64::from(p.0)).collect();
        let labels: Vec<bool> = pairs.iter().map(|p| p.1).collect();
        let (mut wins, mut total) = (0.0, 0.0);
        for i in 0..scores.len() {
            for j in 0..scores.len() {
                if labels[i] && !labels[j] {
                    total += 1.0;
                    wins += if scores[i] > scores[j] { 1.0 } else if scores[i] == scores[j] { 0.5 } else { 0.0 };
                }
            }
        }
        let got = strata_report::outcomes::auc(&scores, &labels);
        if total == 0.0 {
            prop_assert_eq!(got, None);
        } else {
            prop_assert!((got.unwrap() - wins / total).abs() < 1e-12);
        }
    }
}

#[test]
fn best_and_worst_by_mean_percentile_rank() {
    use strata_report::outcomes::{best_and_worst, icp_attribute, percentile_ranks};
    assert_eq!(percentile_ranks(&[3.0, 1.0, 2.0, 2.0]), vec![1.0, 0.0, 0.5, 0.5]);
    // Five users; user 4 is best on every measure, user 0 worst on every measure.
    let retained = vec![0.0, 1.0, 1.0, 0.0, 1.0];
    let revenue = vec![0.0, 5.0, 0.0, 1.0, 9.0];
    let engagement = vec![10.0, 40.0, 50.0, 30.0, 90.0];
    let (top, bottom) = best_and_worst(&[retained, revenue, engagement], 0.2);
    assert_eq!((top, bottom.clone()), (vec![4], vec![0]));
    let a = icp_attribute("x".into(), "behavioral", &[false, true, true, true, true], &[4, 1], &[0, 3]);
    assert_eq!((a.top_share, a.bottom_share, a.lift), (1.0, 0.5, Some(2.0)));
}

#[test]
fn recommendations_on_a_tiny_set_with_a_known_answer() {
    use strata_report::outcomes::{affinity, feature_lifts, recommend};
    let names: Vec<String> = ["alpha", "beta", "gamma"].map(String::from).to_vec();
    // 100 users. Users of beta (code 1) all retain; nobody else does, except half of the
    // gamma users. Alpha is used by everyone.
    let mut sets = Vec::new();
    let mut retained = Vec::new();
    for u in 0..100usize {
        let mut s = vec![0u32];
        let beta = u < 40;
        let gamma = (40..80).contains(&u);
        if beta {
            s.push(1);
        }
        if gamma {
            s.push(2);
        }
        sets.push(s);
        retained.push(beta || (gamma && u % 2 == 0));
    }
    let lifts = feature_lifts(&sets, &retained, &names);
    assert!(lifts[0].is_none(), "alpha: nobody without it to compare with");
    let beta = lifts[1].as_ref().unwrap();
    assert_eq!((beta.users, beta.retention_with), (40, 1.0));
    assert!((beta.retention_without - 20.0 / 60.0).abs() < 1e-12);
    let gamma = lifts[2].as_ref().unwrap();
    // gamma: 20 of 40 retain (0.5); the other 60: 40 beta users retain (40 / 60).
    assert!((gamma.lift - 0.5 / (40.0 / 60.0)).abs() < 1e-12);
    // Only beta has lift > 1: recommended once to each of the 60 users without it.
    let recs = recommend(&sets, &lifts, 2);
    assert_eq!(recs.len(), 60);
    assert!(recs.iter().all(|(u, f)| *u >= 40 && *f == 1));
    // Affinity among users 0..40 (all use alpha and beta, none gamma).
    let group: Vec<usize> = (0..40).collect();
    let aff = affinity(&sets, &group, &names);
    let ab = aff.iter().find(|x| x.feature_a == "alpha" && x.feature_b == "beta").unwrap();
    assert_eq!((ab.users_a, ab.users_both, ab.affinity), (40, 40, 1.0));
    let ag = aff.iter().find(|x| x.feature_a == "alpha" && x.feature_b == "gamma").unwrap();
    assert_eq!(ag.affinity, 0.0);
}

#[test]
fn account_icp_rolls_users_up_with_a_known_answer() {
    use strata_report::outcomes::{best_and_worst, groups_of, icp_attributes, roll_up, IcpColumn};
    // Users 0..6 in accounts A (0, 1), B (2, 3, 4), C (5); user 6 has no account.
    let codes = vec![0, 0, 1, 1, 1, 2, u32::MAX];
    let groups = groups_of(&codes, 3);
    assert_eq!(groups, vec![vec![0, 1], vec![2, 3, 4], vec![5]]);
    let plan = IcpColumn::Categorical {
        name: "plan".into(),
        kind: "firmographic".into(),
        dict: vec!["free".into(), "pro".into()],
        codes: vec![1, 0, 0, 0, 1, u32::MAX, 1],
    };
    let sessions = IcpColumn::Numeric {
        name: "sessions".into(),
        kind: "behavioral".into(),
        values: vec![4.0, f64::NAN, 1.0, 2.0, 3.0, 0.0, 9.0],
    };
    // A: free 1 / pro 1 -> the smaller code (free); B: free 2 / pro 1 -> free; C: null.
    match roll_up(&plan, &groups) {
        IcpColumn::Categorical { codes, .. } => assert_eq!(codes, vec![0, 0, u32::MAX]),
        other => panic!("{other:?}"),
    }
    // Means over members with a value: A 4, B 2, C 0.
    let rolled = roll_up(&sessions, &groups);
    match &rolled {
        IcpColumn::Numeric { values, .. } => assert_eq!(values, &vec![4.0, 2.0, 0.0]),
        other => panic!("{other:?}"),
    }
    // With 5 accounts the top and bottom 20% are one account each.
    let (top, bottom) = best_and_worst(&[vec![0.9, 0.1, 0.5, 0.4, 0.3]], 0.2);
    assert_eq!((top.clone(), bottom.clone()), (vec![0], vec![1]));
    let col = IcpColumn::Numeric {
        name: "seats".into(),
        kind: "firmographic".into(),
        values: vec![10.0, 1.0, 5.0, 5.0, 2.0],
    };
    let attrs = icp_attributes(&[col], &top, &bottom);
    // The median of 1, 2, 5, 5, 10 is 5: the top account has it, the bottom does not.
    assert_eq!(attrs.len(), 1);
    assert_eq!(attrs[0].attribute, "seats >= 5 (median)");
    assert_eq!((attrs[0].top_share, attrs[0].bottom_share, attrs[0].lift), (1.0, 0.0, None));
}
