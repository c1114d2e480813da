//! Sales prioritization at account level (seed section 7.2): the account's users rolled
//! up, then the seed's four tiers.

use super::frame::Frame;
use crate::Failure;
use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use std::collections::BTreeMap;
use std::sync::Arc;
use strata_rules::{Column, Outcome, Program};

#[derive(Debug, Default)]
struct Account {
    users: i64,
    active_7d: f64,
    readiness: f64,
    pricing_7d: f64,
    team: bool,
    enterprise: bool,
}

/// The seed's tier for an account.
fn tier(a: &Account) -> &'static str {
    if a.readiness > 75.0 && a.active_7d >= 5.0 && a.pricing_7d >= 2.0 && a.enterprise {
        "Tier 1: Hot"
    } else if a.readiness >= 50.0 && a.active_7d >= 3.0 && a.team {
        "Tier 2: Warm"
    } else if a.readiness >= 25.0 {
        "Tier 3: Nurture"
    } else {
        "Tier 4: No Action"
    }
}

/// One row per account: users, active users in the last 7 days, the highest expansion
/// readiness among its users, pricing-page views in the last 7 days (summed), team
/// signals (any invite or share in 30 days), enterprise signals (a sales contact in 30
/// days, or an enterprise plan in the users table), and the tier. `None` when the
/// feature table has no accounts.
pub fn accounts_batch(
    program: &Program,
    frame: &Frame,
    outcome: &Outcome,
    plan: Option<&Column>,
) -> Result<Option<RecordBatch>, Failure> {
    let Some(Column::Str { dict, codes }) = frame.feature("account_id") else { return Ok(None) };
    let num = |name: &str| match frame.feature(name) {
        Some(Column::Num(v)) => v,
        _ => vec![f64::NAN; frame.rows()],
    };
    let z = |x: f64| if x.is_nan() { 0.0 } else { x };
    let readiness = program
        .scores
        .iter()
        .position(|s| s.name == "expansion_readiness")
        .map(|i| outcome.scores[i].total.clone())
        .unwrap_or_else(|| vec![0.0; frame.rows()]);
    let (active, pricing, invites, shares, sales) = (
        num("account_active_users_7d"),
        num("pricing_page_views_7d"),
        num("invites_sent_30d"),
        num("content_shared_30d"),
        num("sales_contacts_30d"),
    );
    let mut acc: BTreeMap<&str, Account> = BTreeMap::new();
    for (u, code) in codes.iter().enumerate() {
        let Some(name) = dict.get(*code as usize) else { continue };
        let a = acc.entry(name.as_str()).or_default();
        a.users += 1;
        a.active_7d = a.active_7d.max(z(active[u]));
        a.readiness = a.readiness.max(z(readiness[u]));
        a.pricing_7d += z(pricing[u]);
        a.team |= z(invites[u]) > 0.0 || z(shares[u]) > 0.0;
        let enterprise_plan = match plan {
            Some(Column::Str { dict, codes }) => dict.get(codes[u] as usize).is_some_and(|p| p == "enterprise"),
            _ => false,
        };
        a.enterprise |= z(sales[u]) > 0.0 || enterprise_plan;
    }
    let mut rows: Vec<(&str, Account, &'static str)> = acc
        .into_iter()
        .map(|(k, a)| {
            let t = tier(&a);
            (k, a, t)
        })
        .collect();
    rows.sort_by(|x, y| x.2.cmp(y.2).then(y.1.readiness.total_cmp(&x.1.readiness)).then(x.0.cmp(y.0)));
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("account_id", DataType::Utf8, false),
            Field::new("users", DataType::Int64, false),
            Field::new("active_users_7d", DataType::Float64, false),
            Field::new("max_expansion_readiness", DataType::Float64, false),
            Field::new("pricing_page_views_7d", DataType::Float64, false),
            Field::new("team_signals", DataType::Boolean, false),
            Field::new("enterprise_signals", DataType::Boolean, false),
            Field::new("sales_tier", DataType::Utf8, false),
        ])),
        vec![
            Arc::new(StringArray::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())) as ArrayRef,
            Arc::new(Int64Array::from(rows.iter().map(|r| r.1.users).collect::<Vec<_>>())),
            Arc::new(Float64Array::from(rows.iter().map(|r| r.1.active_7d).collect::<Vec<_>>())),
            Arc::new(Float64Array::from(rows.iter().map(|r| r.1.readiness).collect::<Vec<_>>())),
            Arc::new(Float64Array::from(rows.iter().map(|r| r.1.pricing_7d).collect::<Vec<_>>())),
            Arc::new(BooleanArray::from(rows.iter().map(|r| r.1.team).collect::<Vec<_>>())),
            Arc::new(BooleanArray::from(rows.iter().map(|r| r.1.enterprise).collect::<Vec<_>>())),
            Arc::new(StringArray::from(rows.iter().map(|r| r.2).collect::<Vec<_>>())),
        ],
    )
    .map_err(|e| Failure::Internal(e.to_string()))?;
    Ok(Some(batch))
}

#[cfg(test)]
mod tests {
    use super::{tier, Account};

    #[test]
    fn the_seeds_four_tiers() {
        let hot = Account { users: 9, active_7d: 5.0, readiness: 80.0, pricing_7d: 2.0, team: true, enterprise: true };
        assert_eq!(tier(&hot), "Tier 1: Hot");
        // Without an enterprise signal, or at readiness 75 (not above), it is Warm.
        assert_eq!(tier(&Account { enterprise: false, ..hot }), "Tier 2: Warm");
        let at_75 = Account { readiness: 75.0, ..Account { enterprise: true, ..hot } };
        assert_eq!(tier(&at_75), "Tier 2: Warm");
        // Warm needs three active users and team signals.
        let solo = Account { active_7d: 1.0, team: false, readiness: 60.0, ..Account::default() };
        assert_eq!(tier(&solo), "Tier 3: Nurture");
        assert_eq!(tier(&Account { readiness: 24.0, ..Account::default() }), "Tier 4: No Action");
        assert_eq!(tier(&Account { readiness: 25.0, ..Account::default() }), "Tier 3: Nurture");
    }
}
