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
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
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

/// An attribute of each entity (user or account) that ICP refinement tests.
#[derive(Debug, Clone, PartialEq)]
pub enum IcpColumn {
    /// Values from a small dictionary; each value is tested (`u32::MAX` = null).
    Categorical {
        /// The column.
        name: String,
        /// `firmographic` or `behavioral`.
        kind: String,
        /// Distinct values.
        dict: Vec<String>,
        /// One code per entity.
        codes: Vec<u32>,
    },
    /// Numbers (NaN = null): tested as `>= median`, or `> 0` when the median is 0.
    Numeric {
        /// The column.
        name: String,
        /// `firmographic` or `behavioral`.
        kind: String,
        /// One value per entity.
        values: Vec<f64>,
    },
}

/// Every attribute of `cols` with its shares among `top` and `bottom`, those nobody in
/// either group has left out, ranked by how far the lift is from 1 (an attribute only
/// the top has first), then by the gap between the two shares, then by name.
pub fn icp_attributes(cols: &[IcpColumn], top: &[usize], bottom: &[usize]) -> Vec<IcpAttribute> {
    let mut out = Vec::new();
    for col in cols {
        match col {
            IcpColumn::Categorical { name, kind, dict, codes } => {
                for (code, value) in dict.iter().enumerate() {
                    let has: Vec<bool> = codes.iter().map(|c| *c == code as u32).collect();
                    out.push(icp_attribute(format!("{name} = {value}"), kind, &has, top, bottom));
                }
            }
            IcpColumn::Numeric { name, kind, values } => {
                let mut present: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
                present.sort_by(f64::total_cmp);
                let Some(med) = present.get(present.len() / 2).copied() else { continue };
                let (label, has): (String, Vec<bool>) = if med > 0.0 {
                    (format!("{name} >= {med} (median)"), values.iter().map(|x| *x >= med).collect())
                } else {
                    (format!("{name} > 0"), values.iter().map(|x| *x > 0.0).collect())
                };
                out.push(icp_attribute(label, kind, &has, top, bottom));
            }
        }
    }
    out.retain(|a| a.top_share > 0.0 || a.bottom_share > 0.0);
    let key = |x: &IcpAttribute| x.lift.map_or(f64::INFINITY, |l| (l.max(1e-9)).ln().abs());
    let gap = |x: &IcpAttribute| (x.top_share - x.bottom_share).abs();
    out.sort_by(|a, b| key(b).total_cmp(&key(a)).then(gap(b).total_cmp(&gap(a))).then(a.attribute.cmp(&b.attribute)));
    out
}

/// Users grouped by a dictionary-coded column (an account): one member list per
/// dictionary value, in dictionary order; null codes belong to no group.
pub fn groups_of(codes: &[u32], groups: usize) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new(); groups];
    for (u, c) in codes.iter().enumerate() {
        if let Some(g) = out.get_mut(*c as usize) {
            g.push(u);
        }
    }
    out
}

/// A user column rolled up to groups: numbers by their mean over members with a value
/// (NaN when none has one), categories by their most common value among members
/// (ties to the smaller code; null when no member has one).
pub fn roll_up(col: &IcpColumn, groups: &[Vec<usize>]) -> IcpColumn {
    match col {
        IcpColumn::Numeric { name, kind, values } => IcpColumn::Numeric {
            name: name.clone(),
            kind: kind.clone(),
            values: groups
                .iter()
                .map(|g| {
                    let v: Vec<f64> = g.iter().map(|u| values[*u]).filter(|x| !x.is_nan()).collect();
                    if v.is_empty() {
                        f64::NAN
                    } else {
                        v.iter().sum::<f64>() / v.len() as f64
                    }
                })
                .collect(),
        },
        IcpColumn::Categorical { name, kind, dict, codes } => IcpColumn::Categorical {
            name: name.clone(),
            kind: kind.clone(),
            dict: dict.clone(),
            codes: groups
                .iter()
                .map(|g| {
                    let mut count = vec![0usize; dict.len()];
                    for u in g {
                        if let Some(c) = count.get_mut(codes[*u] as usize) {
                            *c += 1;
                        }
                    }
                    let best = count.iter().enumerate().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)));
                    best.filter(|(_, c)| **c > 0).map_or(u32::MAX, |(i, _)| i as u32)
                })
                .collect(),
        },
    }
}

/// What `strata outcomes` learned beyond the per-segment table, for the report.
#[derive(Debug, Clone, PartialEq, Default, Serialize, serde::Deserialize)]
pub struct Insights {
    /// The snapshot.
    pub as_of: String,
    /// The horizon.
    pub horizon_days: f64,
    /// ICP attributes of the best against the worst 20% of users.
    pub icp_users: Vec<IcpAttribute>,
    /// The same for accounts (empty without accounts).
    pub icp_accounts: Vec<IcpAttribute>,
    /// Accounts in each of the two groups.
    pub icp_account_groups: usize,
    /// Retention lift of each feature (enough users only).
    pub feature_lifts: Vec<FeatureLift>,
    /// The strongest feature pairs among power users.
    pub affinity: Vec<Affinity>,
    /// Power users the affinity counts.
    pub power_users: usize,
    /// Users given at least one recommendation.
    pub users_recommended: usize,
}

/// A titled table: (title, note, header, rows).
pub type InsightTable = (String, String, Vec<String>, Vec<Vec<String>>);

/// The report's tables from [`Insights`]: (title, note, header, rows), each table at
/// most `limit` rows. Shared by the Markdown and HTML renderers.
pub fn insight_tables(i: &Insights, limit: usize) -> Vec<InsightTable> {
    let pct = |v: f64| format!("{:.1}%", 100.0 * v);
    let icp = |attrs: &[IcpAttribute]| -> Vec<Vec<String>> {
        attrs
            .iter()
            .take(limit)
            .map(|a| {
                vec![
                    a.attribute.clone(),
                    a.kind.clone(),
                    pct(a.top_share),
                    pct(a.bottom_share),
                    a.lift.map_or("only in the top".into(), |l| format!("{l:.2}")),
                ]
            })
            .collect()
    };
    let head = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let icp_head = head(&["attribute", "kind", "top 20%", "bottom 20%", "lift"]);
    let mut out = vec![(
        "Ideal customer profile: users".to_string(),
        format!(
            "The best and worst 20% of users at {} by retention, revenue over the next {} days and engagement; attributes ranked by how far their lift is from 1.",
            i.as_of, i.horizon_days
        ),
        icp_head.clone(),
        icp(&i.icp_users),
    )];
    if !i.icp_accounts.is_empty() {
        out.push((
            "Ideal customer profile: accounts".to_string(),
            format!(
                "The best and worst 20% of accounts ({} each) by the share of their users retained, their revenue and their users' mean engagement; firmographics are the account's most common value, behaviour its users' mean.",
                i.icp_account_groups
            ),
            icp_head,
            icp(&i.icp_accounts),
        ));
    }
    let mut lifts: Vec<&FeatureLift> = i.feature_lifts.iter().collect();
    lifts.sort_by(|a, b| b.lift.total_cmp(&a.lift).then(a.feature.cmp(&b.feature)));
    out.push((
        "Feature recommendations".to_string(),
        format!(
            "Retention over the next {} days of each feature's users against everyone else's; each user is recommended the two features with the highest lift above 1 they have not used ({} users, `recommendations.parquet`).",
            i.horizon_days, i.users_recommended
        ),
        head(&["feature", "users", "retention with", "retention without", "lift"]),
        lifts
            .iter()
            .take(limit)
            .map(|l| {
                vec![
                    l.feature.clone(),
                    l.users.to_string(),
                    pct(l.retention_with),
                    pct(l.retention_without),
                    format!("{:.2}", l.lift),
                ]
            })
            .collect(),
    ));
    if !i.affinity.is_empty() {
        out.push((
            "Feature affinity among power users".to_string(),
            format!(
                "Of the {} power users using the first feature, the share also using the second (`feature_affinity.parquet` has every pair).",
                i.power_users
            ),
            head(&["feature", "also uses", "users of the first", "affinity"]),
            i.affinity
                .iter()
                .take(limit)
                .map(|a| vec![a.feature_a.clone(), a.feature_b.clone(), a.users_a.to_string(), pct(a.affinity)])
                .collect(),
        ));
    }
    out
}

/// How often users of `feature_a` also use `feature_b`, among a group (power users).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
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
