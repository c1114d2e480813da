//! Outcomes after a snapshot (seed section 9.1) and backtests of the scores: what
//! happened to each segment's users in the horizon after `T`, and whether a score
//! ranked the users who later churned (or upgraded) first.

use serde::{Deserialize, Serialize};

/// What happened to one user in `(T, T + H]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UserOutcome {
    /// Any event in the horizon.
    pub retained: bool,
    /// Revenue in the horizon.
    pub revenue: f64,
    /// No revenue before `T`, some in the horizon.
    pub converted: bool,
    /// More revenue in the horizon than in the same span before `T`.
    pub upgraded: bool,
}

/// A group's outcomes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupOutcome {
    /// The family (`None` for a flag, or the whole population).
    pub family: Option<String>,
    /// The segment (`all users` for the population).
    pub segment: String,
    /// Users in it at `T`.
    pub users: usize,
    /// Share with any event in the horizon.
    pub retention: f64,
    /// Share converting to paid in the horizon (among those with no revenue before).
    pub paid_conversion: Option<f64>,
    /// Mean revenue in the horizon.
    pub avg_revenue: f64,
    /// A lifetime-value proxy: monthly revenue in the horizon times the expected number of
    /// months a user stays, `1 / (1 - monthly retention)`, capped at 36.
    pub ltv_proxy: f64,
}

/// Summarises the outcomes of `members` (indexes into `outcomes`); `had_revenue[u]` tells
/// who paid before `T`. `horizon_days` scales retention and revenue to a month.
pub fn group(
    family: Option<&str>,
    segment: &str,
    members: &[usize],
    outcomes: &[UserOutcome],
    had_revenue: &[bool],
    horizon_days: f64,
) -> GroupOutcome {
    let n = members.len();
    let nf = n.max(1) as f64;
    let retention = members.iter().filter(|&&u| outcomes[u].retained).count() as f64 / nf;
    let free: Vec<usize> = members.iter().copied().filter(|&u| !had_revenue[u]).collect();
    let paid_conversion =
        (!free.is_empty()).then(|| free.iter().filter(|&&u| outcomes[u].converted).count() as f64 / free.len() as f64);
    let avg_revenue = members.iter().map(|&u| outcomes[u].revenue).sum::<f64>() / nf;
    let months = horizon_days / 30.0;
    let monthly_retention = retention.powf(1.0 / months.max(1e-9)).min(1.0);
    let lifetime = if monthly_retention >= 1.0 { 36.0 } else { (1.0 / (1.0 - monthly_retention)).min(36.0) };
    GroupOutcome {
        family: family.map(str::to_string),
        segment: segment.to_string(),
        users: n,
        retention,
        paid_conversion,
        avg_revenue,
        ltv_proxy: avg_revenue / months.max(1e-9) * lifetime,
    }
}

/// Area under the ROC curve of `scores` for `labels` (true = the event the score should
/// rank first): the probability that a random positive scores above a random negative,
/// ties counting half (Mann-Whitney, with average ranks). `None` without both classes.
pub fn auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let mut idx: Vec<usize> = (0..scores.len()).filter(|&i| scores[i].is_finite()).collect();
    idx.sort_by(|a, b| scores[*a].total_cmp(&scores[*b]));
    let pos = idx.iter().filter(|&&i| labels[i]).count();
    let neg = idx.len() - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += avg_rank * idx[i..=j].iter().filter(|&&k| labels[k]).count() as f64;
        i = j + 1;
    }
    Some((rank_sum - (pos * (pos + 1)) as f64 / 2.0) / (pos as f64 * neg as f64))
}

/// One tier of a score in a backtest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierRate {
    /// The tier label.
    pub tier: String,
    /// Users in it.
    pub users: usize,
    /// Share of them with the outcome.
    pub rate: f64,
    /// `rate / overall rate`.
    pub lift: f64,
}

/// A score against an outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Backtest {
    /// The score.
    pub score: String,
    /// What it should predict.
    pub outcome: String,
    /// AUC of the score for the outcome.
    pub auc: Option<f64>,
    /// Overall rate of the outcome.
    pub base_rate: f64,
    /// Per tier, in the score's tier order.
    pub tiers: Vec<TierRate>,
}

/// Backtests `scores` (with each user's tier label) against `labels`.
pub fn backtest(
    score: &str,
    outcome: &str,
    scores: &[f64],
    tiers: &[Option<String>],
    tier_order: &[String],
    labels: &[bool],
) -> Backtest {
    let n = labels.len().max(1) as f64;
    let base_rate = labels.iter().filter(|b| **b).count() as f64 / n;
    let tiers = tier_order
        .iter()
        .map(|t| {
            let users: Vec<usize> = (0..labels.len()).filter(|&u| tiers[u].as_deref() == Some(t.as_str())).collect();
            let rate = users.iter().filter(|&&u| labels[u]).count() as f64 / users.len().max(1) as f64;
            TierRate {
                tier: t.clone(),
                users: users.len(),
                rate,
                lift: if base_rate > 0.0 { rate / base_rate } else { 0.0 },
            }
        })
        .collect();
    Backtest { score: score.to_string(), outcome: outcome.to_string(), auc: auc(scores, labels), base_rate, tiers }
}

/// One attribute's share among the best and the worst users (seed section 8).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IcpAttribute {
    /// `plan = pro`, `invites_sent_30d > 0`, `sessions_28d >= 12 (median)`.
    pub attribute: String,
    /// Firmographic (users table) or behavioral (feature table).
    pub kind: String,
    /// Share of the top group with it.
    pub top_share: f64,
    /// Share of the bottom group with it.
    pub bottom_share: f64,
    /// `top_share / bottom_share` (`None` when no bottom user has it).
    pub lift: Option<f64>,
}

/// Percentile ranks (0..=1, ties averaged) of `v`.
pub fn percentile_ranks(v: &[f64]) -> Vec<f64> {
    let n = v.len();
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|a, b| v[*a].total_cmp(&v[*b]));
    let mut out = vec![0.0; n];
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let r = if n > 1 { (i + j) as f64 / 2.0 / (n - 1) as f64 } else { 0.5 };
        for k in &idx[i..=j] {
            out[*k] = r;
        }
        i = j + 1;
    }
    out
}

/// The top and bottom `share` of users by the mean of the percentile ranks of each
/// measure (retention, revenue, engagement): (top, bottom) user indexes. Ties at the
/// cut are broken by index, so the result is deterministic.
pub fn best_and_worst(measures: &[Vec<f64>], share: f64) -> (Vec<usize>, Vec<usize>) {
    let n = measures.first().map_or(0, Vec::len);
    let ranks: Vec<Vec<f64>> = measures.iter().map(|m| percentile_ranks(m)).collect();
    let composite: Vec<f64> =
        (0..n).map(|u| ranks.iter().map(|r| r[u]).sum::<f64>() / ranks.len().max(1) as f64).collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|a, b| composite[*b].total_cmp(&composite[*a]).then(a.cmp(b)));
    let k = ((n as f64) * share).round() as usize;
    let top = order[..k.min(n)].to_vec();
    let bottom = order[n.saturating_sub(k)..].to_vec();
    (top, bottom)
}

/// Shares of `has` among `top` and `bottom`.
pub fn icp_attribute(attribute: String, kind: &str, has: &[bool], top: &[usize], bottom: &[usize]) -> IcpAttribute {
    let share = |g: &[usize]| g.iter().filter(|&&u| has[u]).count() as f64 / g.len().max(1) as f64;
    let (t, b) = (share(top), share(bottom));
    IcpAttribute { attribute, kind: kind.to_string(), top_share: t, bottom_share: b, lift: (b > 0.0).then(|| t / b) }
}

/// How often users of `feature_a` also use `feature_b`, among a group (power users).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Affinity {
    /// The feature used.
    pub feature_a: String,
    /// The feature also used.
    pub feature_b: String,
    /// Group members using `feature_a`.
    pub users_a: usize,
    /// Group members using both.
    pub users_both: usize,
    /// `users_both / users_a`.
    pub affinity: f64,
}

/// The feature-affinity matrix of `group` (indexes into `sets`, each a sorted list of
/// feature codes), every ordered pair of distinct features used by someone in the group.
pub fn affinity(sets: &[Vec<u32>], group: &[usize], names: &[String]) -> Vec<Affinity> {
    let k = names.len();
    let mut single = vec![0usize; k];
    let mut both = vec![0usize; k * k];
    for &u in group {
        let s = &sets[u];
        for &a in s {
            single[a as usize] += 1;
            for &b in s {
                if a != b {
                    both[a as usize * k + b as usize] += 1;
                }
            }
        }
    }
    let mut out = Vec::new();
    for a in 0..k {
        for b in 0..k {
            if a != b && single[a] > 0 {
                out.push(Affinity {
                    feature_a: names[a].clone(),
                    feature_b: names[b].clone(),
                    users_a: single[a],
                    users_both: both[a * k + b],
                    affinity: both[a * k + b] as f64 / single[a] as f64,
                });
            }
        }
    }
    out
}

/// Retention of a feature's users against everyone else's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeatureLift {
    /// The feature.
    pub feature: String,
    /// Users using it.
    pub users: usize,
    /// Their retention.
    pub retention_with: f64,
    /// Everyone else's.
    pub retention_without: f64,
    /// `retention_with / retention_without`.
    pub lift: f64,
}

/// Features used by fewer users than this are not recommended (their lift is noise).
pub const MIN_SUPPORT: usize = 20;

/// Each feature's retention lift (`None` below [`MIN_SUPPORT`] users, or when nobody
/// else retains).
pub fn feature_lifts(sets: &[Vec<u32>], retained: &[bool], names: &[String]) -> Vec<Option<FeatureLift>> {
    let k = names.len();
    let (mut users, mut kept) = (vec![0usize; k], vec![0usize; k]);
    for (s, r) in sets.iter().zip(retained) {
        for &f in s {
            users[f as usize] += 1;
            kept[f as usize] += usize::from(*r);
        }
    }
    let n = sets.len();
    let total_kept = retained.iter().filter(|r| **r).count();
    (0..k)
        .map(|f| {
            let others = n - users[f];
            if users[f] < MIN_SUPPORT || others == 0 {
                return None;
            }
            let with = kept[f] as f64 / users[f] as f64;
            let without = (total_kept - kept[f]) as f64 / others as f64;
            (without > 0.0).then(|| FeatureLift {
                feature: names[f].clone(),
                users: users[f],
                retention_with: with,
                retention_without: without,
                lift: with / without,
            })
        })
        .collect()
}

/// For each user, up to `per_user` features they have not used whose users retain
/// better (lift > 1), best first (ties by name): (user, feature code).
pub fn recommend(sets: &[Vec<u32>], lifts: &[Option<FeatureLift>], per_user: usize) -> Vec<(usize, u32)> {
    let mut ranked: Vec<(u32, &FeatureLift)> = lifts
        .iter()
        .enumerate()
        .filter_map(|(f, l)| l.as_ref().filter(|l| l.lift > 1.0).map(|l| (f as u32, l)))
        .collect();
    ranked.sort_by(|a, b| b.1.lift.total_cmp(&a.1.lift).then(a.1.feature.cmp(&b.1.feature)));
    let mut out = Vec::new();
    for (u, s) in sets.iter().enumerate() {
        out.extend(ranked.iter().filter(|(f, _)| s.binary_search(f).is_err()).take(per_user).map(|(f, _)| (u, *f)));
    }
    out
}
