//! The default rules against hand-computed users: every row of every seed table, with a
//! value at each bucket edge (contract section 5: lower bounds inclusive, the highest
//! bucket reached wins), and the engagement score against the reference implementation
//! of the contract's table on random inputs.

#![allow(clippy::unwrap_used)] // Tests may panic: that is how they fail.

use proptest::prelude::*;
use strata_rules::{
    compile, parse, run, scores, with_default_scores, AggRequest, Column, Names, Operand, Program, Table, Value,
    DEFAULT_RULES,
};

fn defaults() -> Program {
    let (file, d) = parse(DEFAULT_RULES);
    assert!(d.is_empty(), "{d:?}");
    let names = Names { features: strata_features::feature_names(), scores: Vec::new() };
    compile(&with_default_scores(file), &names).unwrap()
}

fn f(name: &str) -> Operand {
    Operand::Feature(name.into())
}

fn table(p: &Program, users: &[Vec<(Operand, Value<'static>)>]) -> Table {
    let cols = p
        .operands
        .iter()
        .map(|op| {
            let vals: Vec<Value<'static>> =
                users.iter().map(|u| u.iter().find(|(o, _)| o == op).map_or(Value::Null, |(_, v)| *v)).collect();
            if vals.iter().any(|v| matches!(v, Value::Str(_))) {
                Column::strings(vals.iter().map(|v| match v {
                    Value::Str(s) => Some(*s),
                    _ => None,
                }))
            } else {
                Column::numbers(vals.iter().map(|v| match v {
                    Value::Num(x) => Some(*x),
                    _ => None,
                }))
            }
        })
        .collect();
    Table { rows: users.len(), cols }
}

/// Points of one component of one score for one user.
fn points(p: &Program, score: &str, component: &str, user: &[(Operand, Value<'static>)]) -> f64 {
    let sc = p.scores.iter().find(|s| s.name == score).unwrap();
    let c = sc.components.iter().find(|c| c.name == component).unwrap_or_else(|| panic!("{component}"));
    c.points(&table(p, &[user.to_vec()]), 0)
}

fn tier(p: &Program, score: &str, total: f64) -> String {
    let sc = p.scores.iter().find(|s| s.name == score).unwrap();
    let t = table(p, &[vec![]]);
    sc.tiers[sc.tier(total, &t, 0).unwrap()].value.clone()
}

fn n(v: f64) -> Value<'static> {
    Value::Num(v)
}

fn table_of(p: &Program, score: &str, component: &str, op: Operand, rows: &[(Value<'static>, f64)]) {
    for (v, want) in rows {
        assert_eq!(points(p, score, component, &[(op.clone(), *v)]), *want, "{score}/{component} at {v:?}");
    }
}

fn tiers_of(p: &Program, score: &str, rows: &[(f64, &str)]) {
    for (v, want) in rows {
        assert_eq!(tier(p, score, *v), *want, "{score} tier at {v}");
    }
}

#[test]
fn engagement_4_1_every_bucket_edge() {
    let p = defaults();
    let e = "engagement";
    table_of(
        &p,
        e,
        "usage frequency",
        f("avg_weekly_sessions_28d"),
        &[
            (n(7.0), 30.0),
            (n(6.99), 20.0),
            (n(4.0), 20.0),
            (n(3.99), 12.0),
            (n(2.0), 12.0),
            (n(1.99), 5.0),
            (n(1.0), 5.0),
            (n(0.99), 0.0),
        ],
    );
    table_of(
        &p,
        e,
        "feature breadth",
        f("feature_breadth_30d"),
        &[
            (n(0.8), 25.0),
            (n(0.79), 18.0),
            (n(0.5), 18.0),
            (n(0.49), 10.0),
            (n(0.25), 10.0),
            (n(0.24), 3.0),
            (Value::Null, 3.0),
        ],
    );
    table_of(
        &p,
        e,
        "engagement depth",
        f("avg_session_minutes_28d"),
        &[
            (n(30.01), 25.0),
            (n(30.0), 18.0),
            (n(15.0), 18.0),
            (n(14.99), 10.0),
            (n(5.0), 10.0),
            (n(4.99), 3.0),
            (Value::Null, 3.0),
        ],
    );
    table_of(
        &p,
        e,
        "recency",
        f("recency_days"),
        &[
            (n(0.0), 20.0),
            (n(1.0), 15.0),
            (n(3.0), 15.0),
            (n(4.0), 8.0),
            (n(7.0), 8.0),
            (n(8.0), 3.0),
            (n(14.0), 3.0),
            (n(15.0), 0.0),
            (Value::Null, 0.0),
        ],
    );
    tiers_of(
        &p,
        e,
        &[
            (100.0, "Highly engaged"),
            (80.0, "Highly engaged"),
            (79.0, "Engaged"),
            (60.0, "Engaged"),
            (59.0, "Moderate"),
            (40.0, "Moderate"),
            (39.0, "Low"),
            (20.0, "Low"),
            (19.0, "Disengaged"),
            (0.0, "Disengaged"),
        ],
    );
}

#[test]
fn activation_4_2_each_milestone_and_tier() {
    let p = defaults();
    let ev = |name: &str| Operand::Agg(AggRequest::EventCount(name.into(), u32::MAX));
    for (comp, event, pts) in [
        ("created first project", "project_created", 20.0),
        ("added first task", "task_added", 15.0),
        ("invited team member", "invite_sent", 25.0),
        ("completed first task", "task_completed", 15.0),
        ("used template", "template_used", 10.0),
        ("connected integration", "integration_connected", 15.0),
    ] {
        table_of(&p, "activation", comp, ev(event), &[(n(1.0), pts), (n(7.0), pts), (n(0.0), 0.0)]);
    }
    tiers_of(
        &p,
        "activation",
        &[
            (100.0, "Fully activated"),
            (80.0, "Fully activated"),
            (79.0, "Partially activated"),
            (50.0, "Partially activated"),
            (49.0, "Early activation"),
            (20.0, "Early activation"),
            (19.0, "Not activated"),
            (0.0, "Not activated"),
        ],
    );
}

#[test]
fn expansion_readiness_4_3_every_row() {
    let p = defaults();
    let x = "expansion_readiness";
    table_of(
        &p,
        x,
        "usage approaching limits",
        Operand::UsagePct,
        &[
            (n(0.8), 25.0),
            (n(0.79), 15.0),
            (n(0.6), 15.0),
            (n(0.59), 5.0),
            (n(0.4), 5.0),
            (n(0.39), 0.0),
            (Value::Null, 0.0),
        ],
    );
    let team = |inv: f64, shared: f64| {
        points(&p, x, "team growth signals", &[(f("invites_sent_30d"), n(inv)), (f("content_shared_30d"), n(shared))])
    };
    assert_eq!([team(1.0, 0.0), team(0.0, 1.0), team(3.0, 2.0), team(0.0, 0.0)], [15.0, 10.0, 25.0, 0.0]);
    let interest = |locked: f64, pricing: f64| {
        points(
            &p,
            x,
            "feature interest signals",
            &[(f("locked_feature_clicks_14d"), n(locked)), (f("pricing_page_views_14d"), n(pricing))],
        )
    };
    assert_eq!(
        [interest(1.0, 0.0), interest(0.0, 1.0), interest(1.0, 1.0), interest(0.0, 0.0)],
        [15.0, 10.0, 25.0, 0.0]
    );
    table_of(
        &p,
        x,
        "engagement level",
        Operand::Score("engagement".into()),
        &[(n(70.5), 25.0), (n(70.0), 15.0), (n(50.0), 15.0), (n(49.0), 5.0), (n(30.0), 5.0), (n(29.0), 0.0)],
    );
    tiers_of(
        &p,
        x,
        &[
            (75.0, "High readiness"),
            (74.0, "Moderate"),
            (50.0, "Moderate"),
            (49.0, "Low"),
            (25.0, "Low"),
            (24.0, "Not ready"),
        ],
    );
}

#[test]
fn churn_risk_4_4_every_row() {
    let p = defaults();
    let c = "churn_risk";
    table_of(
        &p,
        c,
        "usage decline",
        f("session_change_vs_baseline"),
        &[
            (n(-1.0), 30.0),
            (n(-0.7), 30.0),
            (n(-0.69), 20.0),
            (n(-0.5), 20.0),
            (n(-0.49), 10.0),
            (n(-0.3), 10.0),
            (n(-0.29), 0.0),
            (n(0.5), 0.0),
            (Value::Null, 0.0),
        ],
    );
    let gap = |since: Value<'static>, typical: Value<'static>| {
        points(&p, c, "recency gap", &[(f("days_since_last_seen"), since), (f("median_session_gap_days"), typical)])
    };
    assert_eq!(gap(n(4.0), n(2.0)), 25.0);
    assert_eq!(gap(n(3.9), n(2.0)), 15.0);
    assert_eq!(gap(n(3.0), n(2.0)), 15.0);
    assert_eq!(gap(n(2.9), n(2.0)), 5.0);
    assert_eq!(gap(n(2.0), n(2.0)), 5.0);
    assert_eq!(gap(n(1.9), n(2.0)), 0.0);
    assert_eq!(gap(n(9.0), Value::Null), 0.0, "no typical gap: no points");
    assert_eq!(gap(n(9.0), n(0.0)), 0.0, "a zero gap divides by zero: null, no points");
    let support = |neg: f64, tickets: f64| {
        points(
            &p,
            c,
            "support signals",
            &[
                (Operand::Agg(AggRequest::EventCount("negative_feedback".into(), 30)), n(neg)),
                (f("support_tickets_30d"), n(tickets)),
            ],
        )
    };
    assert_eq!([support(1.0, 5.0), support(0.0, 2.0), support(0.0, 1.0)], [20.0, 10.0, 0.0]);
    let billing = |failed: f64, down: f64, cancel: f64| {
        points(
            &p,
            c,
            "billing signals",
            &[
                (f("payment_failures_30d"), n(failed)),
                (f("plan_downgrades_30d"), n(down)),
                (f("cancel_page_views_30d"), n(cancel)),
            ],
        )
    };
    assert_eq!(
        [billing(1.0, 1.0, 1.0), billing(0.0, 1.0, 0.0), billing(0.0, 0.0, 1.0), billing(0.0, 0.0, 0.0)],
        [15.0, 10.0, 10.0, 0.0]
    );
    let trend = |wow: f64, base: f64| {
        points(
            &p,
            c,
            "engagement trend",
            &[(f("wow_session_change"), n(wow)), (f("session_change_vs_baseline"), n(base))],
        )
    };
    assert_eq!([trend(-0.1, -0.1), trend(-0.1, 0.0), trend(0.0, -0.1)], [10.0, 0.0, 0.0]);
    tiers_of(
        &p,
        c,
        &[
            (70.0, "High risk"),
            (69.0, "Moderate risk"),
            (40.0, "Moderate risk"),
            (39.0, "Low risk"),
            (20.0, "Low risk"),
            (19.0, "Healthy"),
        ],
    );
}

#[test]
fn at_risk_composite_3_3_counts_signals_against_the_own_baseline() {
    let p = defaults();
    let user = vec![
        (f("sessions_week_0"), n(1.0)),
        (f("trailing_4w_avg_sessions"), n(2.01)), // 1 < 1.005: a decline
        (f("features_week_0"), n(2.0)),
        (f("peak_week_features_84d"), n(4.0)), // 2 is not < 2: no contraction
        (f("days_since_last_seen"), n(6.1)),
        (f("median_session_gap_days"), n(3.0)), // 6.1 > 6: a login gap
        (f("support_tickets_7d"), n(1.0)),
    ];
    let mut t = table(&p, &[user]);
    let out = run(&p, &mut t);
    let i = p.scores.iter().position(|s| s.name == "at_risk_signals").unwrap();
    assert_eq!(out.scores[i].points.iter().map(|c| c[0]).collect::<Vec<_>>(), [1.0, 0.0, 1.0, 0.0]);
    assert_eq!(out.scores[i].total[0], 2.0);
    let seg = p.segments.iter().position(|s| s.name == "At Risk (composite)").unwrap();
    assert!(out.members[seg][0]);
    tiers_of(&p, "at_risk_signals", &[(2.0, "At risk"), (1.0, "Not at risk")]);
}

#[test]
fn rfm_6_3_scores_and_named_segments() {
    let p = defaults();
    table_of(
        &p,
        "rfm_recency",
        "recency",
        f("recency_days"),
        &[
            (n(0.0), 5.0),
            (n(1.0), 4.0),
            (n(3.0), 4.0),
            (n(4.0), 3.0),
            (n(7.0), 3.0),
            (n(8.0), 2.0),
            (n(14.0), 2.0),
            (n(15.0), 1.0),
            (Value::Null, 1.0),
        ],
    );
    table_of(
        &p,
        "rfm_frequency",
        "frequency",
        f("avg_weekly_sessions_28d"),
        &[
            (n(7.0), 5.0),
            (n(6.9), 4.0),
            (n(4.0), 4.0),
            (n(3.9), 3.0),
            (n(2.0), 3.0),
            (n(1.9), 2.0),
            (n(1.0), 2.0),
            (n(0.9), 1.0),
        ],
    );
    let money = |plan: Value<'static>, revenue: f64, events: f64| {
        points(
            &p,
            "rfm_monetary",
            "monetary",
            &[(Operand::User("plan".into()), plan), (f("revenue_total"), n(revenue)), (f("events_28d"), n(events))],
        )
    };
    assert_eq!(money(Value::Str("enterprise"), 0.0, 0.0), 5.0);
    assert_eq!(money(Value::Str("pro"), 0.0, 0.0), 4.0);
    assert_eq!(money(Value::Str("basic"), 0.0, 0.0), 3.0);
    assert_eq!(money(Value::Null, 10.0, 0.0), 3.0, "no plan column, but paying");
    assert_eq!(money(Value::Str("free"), 0.0, 3.0), 2.0);
    assert_eq!(money(Value::Str("free"), 0.0, 0.0), 1.0);
    // Named segments from the three digits: R=5 (today), F=5 (7+/week), M=4 (pro).
    let user = |recency: f64, weekly: f64, plan: &'static str| {
        vec![
            (f("recency_days"), n(recency)),
            (f("avg_weekly_sessions_28d"), n(weekly)),
            (Operand::User("plan".into()), Value::Str(plan)),
            (f("events_28d"), n(1.0)),
        ]
    };
    let users = vec![
        user(0.0, 8.0, "pro"),
        user(2.0, 5.0, "pro"),
        user(5.0, 3.0, "pro"),
        user(9.0, 2.0, "basic"),
        user(20.0, 0.0, "free"),
        user(0.0, 8.0, "free"),
    ];
    let mut t = table(&p, &users);
    let out = run(&p, &mut t);
    let fam = out.families.iter().find(|f| f.name == "RFM").unwrap();
    let got: Vec<&str> =
        fam.assigned.iter().map(|a| a.map_or("Unclassified", |i| p.segments[i].name.as_str())).collect();
    // 554, 444, 334, 233, 112 (free but active: M=2), 552 (no named segment).
    assert_eq!(got, ["RFM Champions", "RFM Loyal", "RFM Promising", "RFM Need Attention", "RFM Lost", "Unclassified"]);
}

#[test]
fn behavioral_family_takes_decline_before_usage_level() {
    let p = defaults();
    let power = |since: f64, wow: f64| {
        vec![
            (f("avg_weekly_sessions_28d"), n(6.0)),
            (f("feature_breadth_30d"), n(0.7)),
            (f("tenure_days"), n(30.0)),
            (f("days_since_last_seen"), n(since)),
            (f("wow_session_change"), n(wow)),
            (f("sessions_total"), n(40.0)),
        ]
    };
    let users = vec![power(0.5, 0.0), power(0.5, -0.5), power(30.0, 0.0), {
        let mut u = power(0.5, 0.0);
        u[1].1 = n(0.69);
        u
    }];
    let mut t = table(&p, &users);
    let out = run(&p, &mut t);
    let fam = out.families.iter().find(|f| f.name == "Behavioral").unwrap();
    let got: Vec<&str> =
        fam.assigned.iter().map(|a| a.map_or("Unclassified", |i| p.segments[i].name.as_str())).collect();
    assert_eq!(got, ["Power Users", "At-Risk Users", "Dormant Users", "Regular Users"]);
}

proptest! {
    /// The engagement score written in the rule language equals the reference
    /// implementation of contract section 5's table, including at every bucket edge.
    #[test]
    fn engagement_rules_equal_the_reference(
        weekly in prop::sample::select(vec![0.0, 0.99, 1.0, 1.99, 2.0, 3.99, 4.0, 6.99, 7.0, 12.0]),
        breadth in prop::option::of(prop::sample::select(vec![0.0, 0.24, 0.25, 0.49, 0.5, 0.79, 0.8, 1.0])),
        minutes in prop::option::of(prop::sample::select(vec![0.0, 4.99, 5.0, 14.99, 15.0, 30.0, 30.01, 90.0])),
        since in prop::option::of(0.0f64..40.0),
    ) {
        let p = defaults();
        let user = vec![
            (f("avg_weekly_sessions_28d"), n(weekly)),
            (f("feature_breadth_30d"), breadth.map_or(Value::Null, n)),
            (f("avg_session_minutes_28d"), minutes.map_or(Value::Null, n)),
            (f("recency_days"), since.map_or(Value::Null, |s| n(s.floor()))),
        ];
        let mut t = table(&p, &[user]);
        let out = run(&p, &mut t);
        let want = scores::engagement(weekly, breadth, minutes, since);
        prop_assert_eq!(out.scores[0].total[0], want);
        let tier = &p.scores[0].tiers[out.scores[0].tier[0].unwrap()].value;
        prop_assert_eq!(tier.as_str(), scores::engagement_tier(want));
    }
}

/// The family each user lands in.
fn family_of(p: &Program, users: Vec<Vec<(Operand, Value<'static>)>>, family: &str) -> Vec<String> {
    let mut t = table(p, &users);
    let out = run(p, &mut t);
    let fam = out.families.iter().find(|f| f.name == family).unwrap();
    fam.assigned.iter().map(|a| a.map_or("Unclassified".to_string(), |i| p.segments[i].name.clone())).collect()
}

#[test]
fn dormant_3_4_thresholds_follow_the_users_cadence() {
    let p = defaults();
    let user = |gap: Value<'static>, since: f64, revenue: f64, activated: bool| {
        let mut u = vec![
            (f("median_session_gap_days"), gap),
            (f("days_since_last_seen"), n(since)),
            (f("revenue_total"), n(revenue)),
        ];
        if activated {
            for e in ["project_created", "task_added", "invite_sent"] {
                u.push((Operand::Agg(AggRequest::EventCount(e.into(), u32::MAX)), n(1.0)));
            }
        }
        u
    };
    let got = family_of(
        &p,
        vec![
            user(n(1.5), 7.0, 0.0, false),      // daily user, 7 days: dormant
            user(n(1.5), 6.9, 0.0, false),      // daily user, under 7: not
            user(n(1.6), 7.0, 0.0, false),      // weekly user at 7: not yet
            user(n(10.0), 21.0, 0.0, true),     // weekly user, 21 days, activated
            user(n(10.0), 20.9, 0.0, true),     // weekly user under 21: not
            user(n(11.0), 59.9, 0.0, false),    // monthly user under 60: not
            user(Value::Null, 60.0, 9.0, true), // 60 days, paid: the most valuable first
        ],
        "Dormant",
    );
    assert_eq!(
        got,
        [
            "Never Activated",
            "Unclassified",
            "Unclassified",
            "Lapsed After Activation",
            "Unclassified",
            "Unclassified",
            "Churned After Paying"
        ]
    );
}

#[test]
fn sales_tiers_7_2_at_each_edge() {
    let p = defaults();
    // Readiness is computed: usage 25 + team 25 + interest 25 + engagement level.
    let user = |usage: f64, engaged: bool, active: f64, pricing7: f64, sales: f64| {
        let mut u = vec![
            (Operand::UsagePct, n(usage)),
            (f("invites_sent_30d"), n(1.0)),
            (f("content_shared_30d"), n(1.0)),
            (f("locked_feature_clicks_14d"), n(1.0)),
            (f("pricing_page_views_14d"), n(1.0)),
            (f("account_active_users_7d"), n(active)),
            (f("pricing_page_views_7d"), n(pricing7)),
            (f("sales_contacts_30d"), n(sales)),
        ];
        if engaged {
            u.extend([
                (f("avg_weekly_sessions_28d"), n(7.0)),
                (f("feature_breadth_30d"), n(0.8)),
                (f("avg_session_minutes_28d"), n(31.0)),
                (f("recency_days"), n(0.0)),
            ]);
        }
        u
    };
    let got = family_of(
        &p,
        vec![
            user(0.8, true, 5.0, 2.0, 1.0),  // readiness 100, 5 active, 2 pricing, sales contact
            user(0.8, true, 5.0, 2.0, 0.0),  // no enterprise signal: warm
            user(0.8, true, 4.0, 2.0, 1.0),  // 4 active users: warm
            user(0.8, true, 3.0, 0.0, 0.0),  // warm at exactly 3
            user(0.8, true, 2.0, 0.0, 0.0),  // 2 active users: nurture
            user(0.0, false, 9.0, 9.0, 9.0), // readiness 50 (team + interest) with 9 active: warm
            user(0.0, false, 0.0, 0.0, 0.0), // readiness 50, alone: nurture
        ],
        "Sales Tier",
    );
    assert_eq!(
        got,
        [
            "Tier 1: Hot",
            "Tier 2: Warm",
            "Tier 2: Warm",
            "Tier 2: Warm",
            "Tier 3: Nurture",
            "Tier 2: Warm",
            "Tier 3: Nurture"
        ]
    );
    // Nothing at all: readiness 0, tier 4.
    assert_eq!(family_of(&p, vec![vec![]], "Sales Tier"), ["Tier 4: No Action"]);
}

#[test]
fn lifecycle_2_3_and_intent_2_4_orders() {
    let p = defaults();
    let got = family_of(
        &p,
        vec![
            vec![(f("days_since_last_seen"), n(30.0)), (f("tenure_days"), n(90.0))],
            vec![(f("tenure_days"), n(40.0))], // never seen in 40 days: churned
            vec![(f("tenure_days"), n(3.0)), (f("days_since_last_seen"), n(0.0))],
            vec![
                (f("tenure_days"), n(8.0)),
                (f("avg_weekly_sessions_28d"), n(2.0)),
                (f("days_since_last_seen"), n(0.0)),
            ],
        ],
        "Lifecycle",
    );
    assert_eq!(got, ["Churned", "Churned", "New User", "Engaged"]);
    let got = family_of(
        &p,
        vec![
            vec![(f("sales_contacts_30d"), n(1.0)), (f("invites_sent_30d"), n(5.0))],
            vec![(f("invites_sent_30d"), n(2.0))],
            vec![(f("invites_sent_30d"), n(1.0)), (f("content_shared_30d"), n(0.0))],
            vec![
                (f("tenure_days"), n(5.0)),
                (f("avg_session_minutes_28d"), n(3.0)),
                (f("pricing_page_views_14d"), n(1.0)),
            ],
            vec![(f("events_28d"), n(4.0)), (f("account_users"), n(1.0)), (f("invites_sent_30d"), n(0.0))],
            vec![(Operand::User("role".into()), Value::Str("admin"))],
        ],
        "Intent",
    );
    assert_eq!(got, ["Buyer", "Team Champion", "Unclassified", "Evaluator", "Individual User", "Admin/IT"]);
}
