//! Cluster profiles: size, share, centre in original units, every feature's z-score
//! against the whole population, the features that most set the cluster apart, and a
//! plain-language name built from them ("frequent sessions, broad feature use, long
//! tenure").

use crate::prep::InputColumn;
use serde::Serialize;

/// One feature of one cluster.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeatureStat {
    /// The feature.
    pub feature: String,
    /// The cluster's mean, in the feature's own units (nulls left out).
    pub mean: Option<f64>,
    /// The population's mean.
    pub population_mean: Option<f64>,
    /// `(cluster mean - population mean) / population standard deviation`.
    pub z: f64,
}

/// One cluster's profile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    /// The cluster (null for noise).
    pub cluster: Option<usize>,
    /// Its generated name.
    pub name: String,
    /// Users in it.
    pub size: usize,
    /// `size / users`.
    pub share: f64,
    /// Every feature, in input order.
    pub features: Vec<FeatureStat>,
    /// The features with the largest |z|, most distinguishing first (at most 5).
    pub distinguishing: Vec<String>,
}

/// Plain words for the features strata computes: (feature, when high, when low).
const WORDS: &[(&str, &str, &str)] = &[
    ("avg_weekly_sessions_28d", "frequent sessions", "rare sessions"),
    ("sessions_7d", "many sessions this week", "few sessions this week"),
    ("sessions_28d", "many sessions", "few sessions"),
    ("active_days_30d", "active most days", "seldom active"),
    ("feature_breadth_30d", "broad feature use", "narrow feature use"),
    ("features_used_30d", "many features", "few features"),
    ("avg_session_minutes_28d", "long sessions", "short sessions"),
    ("events_28d", "heavy activity", "light activity"),
    ("days_since_last_seen", "long absent", "recently active"),
    ("recency_days", "long absent", "recently active"),
    ("tenure_days", "long tenure", "new users"),
    ("invites_sent_30d", "inviting teammates", "no invites"),
    ("content_shared_30d", "sharing content", "not sharing"),
    ("content_created_30d", "creating content", "creating little"),
    ("pricing_page_views_14d", "viewing pricing", "not viewing pricing"),
    ("locked_feature_clicks_14d", "hitting locked features", "no locked-feature clicks"),
    ("support_tickets_30d", "filing support tickets", "no support tickets"),
    ("payment_failures_30d", "failed payments", "payments fine"),
    ("revenue_total", "high revenue", "low revenue"),
    ("session_change_vs_baseline", "rising usage", "declining usage"),
    ("wow_session_change", "growing week over week", "falling week over week"),
    ("longest_streak_days_84d", "long streaks", "short streaks"),
    ("activation_points", "well activated", "barely activated"),
    ("account_active_users_7d", "active teams", "solo accounts"),
];

fn words(feature: &str, z: f64) -> String {
    let high = z > 0.0;
    match WORDS.iter().find(|(f, _, _)| *f == feature) {
        Some((_, h, l)) => (if high { *h } else { *l }).to_string(),
        None => format!("{} {}", if high { "high" } else { "low" }, feature.replace('_', " ")),
    }
}

fn mean_std(v: &[Option<f64>]) -> (Option<f64>, f64) {
    let present: Vec<f64> = v.iter().flatten().copied().collect();
    if present.is_empty() {
        return (None, 0.0);
    }
    let n = present.len() as f64;
    let m = present.iter().sum::<f64>() / n;
    let var = present.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n;
    (Some(m), var.sqrt())
}

/// Profiles of every cluster (and of noise, when there is any), largest first.
pub fn profiles(cols: &[InputColumn], labels: &[Option<usize>]) -> Vec<Profile> {
    let n = labels.len();
    let pop: Vec<(Option<f64>, f64)> = cols.iter().map(|c| mean_std(&c.values)).collect();
    let mut keys: Vec<Option<usize>> = labels.to_vec();
    keys.sort_unstable();
    keys.dedup();
    let mut out: Vec<Profile> = keys
        .into_iter()
        .map(|key| {
            let rows: Vec<usize> = (0..n).filter(|r| labels[*r] == key).collect();
            let features: Vec<FeatureStat> = cols
                .iter()
                .zip(&pop)
                .map(|(c, (pm, ps))| {
                    let vals: Vec<Option<f64>> = rows.iter().map(|r| c.values[*r]).collect();
                    let (m, _) = mean_std(&vals);
                    let z = match (m, pm) {
                        (Some(m), Some(pm)) if *ps > 0.0 => (m - pm) / ps,
                        _ => 0.0,
                    };
                    FeatureStat { feature: c.name.clone(), mean: m, population_mean: *pm, z }
                })
                .collect();
            let mut order: Vec<&FeatureStat> = features.iter().filter(|f| f.z.abs() >= 0.25).collect();
            order.sort_by(|a, b| b.z.abs().total_cmp(&a.z.abs()).then(a.feature.cmp(&b.feature)));
            let distinguishing: Vec<String> = order.iter().take(5).map(|f| f.feature.clone()).collect();
            let mut phrases: Vec<String> = Vec::new();
            for f in &order {
                let w = words(&f.feature, f.z);
                if !phrases.contains(&w) {
                    phrases.push(w);
                }
                if phrases.len() == 3 {
                    break;
                }
            }
            let name = match (key, phrases.is_empty()) {
                (None, _) => "noise: no dense group".to_string(),
                (_, true) => "close to the average user".to_string(),
                _ => phrases.join(", "),
            };
            Profile {
                cluster: key,
                name,
                size: rows.len(),
                share: if n > 0 { rows.len() as f64 / n as f64 } else { 0.0 },
                features,
                distinguishing,
            }
        })
        .collect();
    out.sort_by(|a, b| b.size.cmp(&a.size).then(a.cluster.cmp(&b.cluster)));
    out
}
