//! The report on a tiny data set whose answer is known: verdicts, the learned rule,
//! misfiled users, a snapshot of report.md and the HTML's structure.

use strata_discover::prep::InputColumn;
use strata_report::strategy::{Context, RuleBook};
use strata_report::{build, html, markdown, FlagColumn, Input, LabelColumn};

const RULES: &str = r#"
segment "Heavy" {
  conditions { sessions_7d >= 5 }
  family: "Usage"
  action: "Beta access"
}
segment "Light" {
  conditions { sessions_7d >= 1 }
  family: "Usage"
  action: "Activation nudges"
}
segment "Inviter" {
  conditions { invites_sent_30d >= 3 }
}
"#;

/// 60 users in three groups of 20:
/// - cluster 0: heavy users (sessions 8-10, no invites), all filed Heavy except one
///   filed Light (misfiled);
/// - cluster 1: light users (sessions 1-3), filed Light;
/// - cluster 2: a group the family does not name: no sessions this week but many
///   invites (invites 5-7), filed nowhere (Unassigned).
fn input() -> Input {
    let n = 60;
    let mut sessions = Vec::new();
    let mut invites = Vec::new();
    let mut usage = Vec::new();
    let mut clusters = Vec::new();
    let mut engagement = Vec::new();
    for u in 0..n {
        let g = u / 20;
        let k = (u % 3) as f64;
        match g {
            0 => {
                sessions.push(Some(8.0 + k));
                invites.push(Some(0.0));
                usage.push(Some(if u == 7 { "Light" } else { "Heavy" }.to_string()));
                engagement.push(Some(80.0 + k));
            }
            1 => {
                sessions.push(Some(1.0 + k));
                invites.push(Some(k / 2.0));
                usage.push(Some("Light".to_string()));
                engagement.push(Some(40.0 + k));
            }
            _ => {
                sessions.push(Some(0.0));
                invites.push(Some(5.0 + k));
                usage.push(None);
                engagement.push(Some(20.0 + k));
            }
        }
        clusters.push(Some(g));
    }
    let (file, diags) = strata_rules::parse(RULES);
    assert!(diags.is_empty(), "{diags:?}");
    Input {
        user_ids: (0..n).map(|u| format!("u{u:03}")).collect(),
        features: vec![
            InputColumn { name: "sessions_7d".into(), values: sessions },
            InputColumn { name: "invites_sent_30d".into(), values: invites.clone() },
        ],
        families: vec![LabelColumn { name: "Usage".into(), values: usage }],
        flags: vec![FlagColumn {
            name: "Inviter".into(),
            values: invites.iter().map(|v| v.is_some_and(|x| x >= 3.0)).collect(),
        }],
        scores: vec![InputColumn { name: "engagement".into(), values: engagement }],
        score_parts: vec![InputColumn { name: "engagement_depth_points".into(), values: vec![Some(3.0); n] }],
        clusters,
        rules: RuleBook::from_rules("tiny.rules", &file, RULES),
        context: Context {
            goal: Some("Route users to the right campaign".into()),
            questions: vec!["Is there a group we do not name?".into()],
            sources: vec!["tiny in-memory data".into()],
            gaps: Vec::new(),
            discovery: "hand-made clusters".into(),
        },
        personas: None,
        seed: 1,
        outcomes: Vec::new(),
        transitions: Vec::new(),
        insights: None,
    }
}

#[test]
fn verdicts_rules_and_misfiled_users_are_the_known_ones() {
    let r = build(&input()).expect("report");
    assert_eq!(r.users, 60);
    assert_eq!(r.cluster_count, 3);
    let by = |label: &str| r.clusters.iter().find(|c| c.label == label).expect("cluster");
    assert_eq!(by("cluster 0").verdicts[0].kind, "confirms");
    assert_eq!(by("cluster 0").verdicts[0].dominant, "Heavy");
    assert_eq!(by("cluster 1").verdicts[0].kind, "confirms");
    assert_eq!(by("cluster 1").verdicts[0].dominant, "Light");
    let c2 = by("cluster 2");
    assert_eq!(c2.verdicts[0].kind, "none");
    assert!(c2.candidate);
    assert!(!by("cluster 0").candidate && !by("cluster 1").candidate);
    // The learned rule separates cluster 2 exactly, and it compiles as a rule file.
    let rule = c2.learned_rule.as_ref().expect("a learned rule");
    assert_eq!((rule.precision, rule.recall, rule.selected), (1.0, 1.0, 20));
    let (file, diags) = strata_rules::parse(&rule.text);
    assert!(diags.is_empty(), "{}", rule.text);
    assert_eq!(file.segments.len(), 1);
    // One misfiled user: u007, filed Light inside the Heavy cluster.
    assert_eq!(r.misfiled.len(), 1);
    assert_eq!(r.misfiled[0].user_id, "u007");
    assert_eq!(r.misfiled[0].cluster_segment, "Heavy");
    assert_eq!(r.misfiled[0].rank, 1);
    // Contingency: rows clusters 0..2, columns Heavy, Light, Unassigned (sorted).
    let m = &r.mapping[0];
    assert_eq!(m.segments, vec!["Heavy", "Light", "Unassigned"]);
    assert_eq!(m.contingency, vec![vec![19, 1, 0], vec![0, 20, 0], vec![0, 0, 20]]);
    // The Inviter flag is reproduced by cluster 2.
    let inv = r.reproduction.iter().find(|s| s.segment == "Inviter").expect("flag");
    assert_eq!(inv.best_cluster, "cluster 2");
    assert_eq!(inv.f1, 1.0);
    // A component that gives everyone the same points is a data gap.
    assert!(r.strategy.gaps.iter().any(|g| g.contains("engagement_depth_points")));
    assert_eq!(r.headlines.len(), 3);
}

#[test]
fn report_markdown_snapshot() {
    let r = build(&input()).expect("report");
    insta::assert_snapshot!(markdown::render(&r));
}

#[test]
fn html_is_self_contained_with_its_charts_and_tables() {
    let r = build(&input()).expect("report");
    let page = html::render(&r).expect("html");
    let doc = scraper::Html::parse_document(&page);
    assert!(doc.errors.is_empty(), "HTML parse errors: {:?}", doc.errors);
    let sel = |s: &str| scraper::Selector::parse(s).expect("selector");
    // Sizes (one per family), the profile heatmap, one box plot per score, one
    // contingency heatmap per family.
    let svgs = doc.select(&sel("div.chart svg")).count();
    assert_eq!(svgs, 1 + 1 + 1 + 1, "charts");
    assert!(doc.select(&sel("table")).count() >= 6);
    assert!(doc.select(&sel("script, link, img, iframe")).next().is_none());
    let refs: Vec<String> = doc.select(&sel("[src], [href]")).map(|el| format!("{:?}", el.value())).collect();
    assert!(refs.is_empty(), "external references: {refs:?}");
    // Chart text is there: the segment names, the cluster labels.
    let text: String = doc.root_element().text().collect();
    assert!(text.contains("Heavy") && text.contains("cluster 2"));
    assert!(text.contains("Candidate new segment"));
}

#[test]
fn measured_outcomes_fill_the_dashboard_and_transitions_are_drawn() {
    let mut inp = input();
    inp.outcomes = vec![strata_report::outcomes::GroupOutcome {
        family: Some("Usage".into()),
        segment: "Heavy".into(),
        users: 19,
        retention: 0.9,
        paid_conversion: Some(0.25),
        avg_revenue: 12.0,
        ltv_proxy: 120.0,
    }];
    inp.transitions = vec![strata_report::Transitions {
        family: "Usage".into(),
        from_as_of: "2026-01-01T00:00:00Z".into(),
        to_as_of: "2026-01-08T00:00:00Z".into(),
        rows: vec!["Heavy".into(), "new".into()],
        cols: vec!["Heavy".into(), "churned".into()],
        counts: vec![vec![3, 1], vec![2, 0]],
    }];
    let r = build(&inp).expect("report");
    let md = markdown::render(&r);
    assert!(md.contains("| Retention (measured) | 90.0% |"), "{md}");
    assert!(md.contains("| Paid conversion (measured) | 25.0% |"));
    assert!(md.contains("## Movement: Usage (2026-01-01T00:00:00Z to 2026-01-08T00:00:00Z)"));
    assert!(md.contains("| Heavy | 3 (75.0%) | 1 (25.0%) |"), "{md}");
    let page = html::render(&r).expect("html");
    let doc = scraper::Html::parse_document(&page);
    let sel = scraper::Selector::parse("div.chart svg").expect("selector");
    assert_eq!(doc.select(&sel).count(), 5, "one more chart: the transition heatmap");
}

#[test]
fn icp_and_recommendations_get_their_sections() {
    use strata_report::outcomes::{Affinity, FeatureLift, IcpAttribute, Insights};
    let mut inp = input();
    let attr = |a: &str, t: f64, b: f64| IcpAttribute {
        attribute: a.into(),
        kind: "firmographic".into(),
        top_share: t,
        bottom_share: b,
        lift: (b > 0.0).then(|| t / b),
    };
    inp.insights = Some(Insights {
        as_of: "2026-01-08T00:00:00Z".into(),
        horizon_days: 14.0,
        icp_users: vec![attr("plan = pro", 0.8, 0.2)],
        icp_accounts: vec![attr("industry = fintech", 0.5, 0.0)],
        icp_account_groups: 3,
        feature_lifts: vec![
            FeatureLift { feature: "export".into(), users: 40, retention_with: 0.9, retention_without: 0.6, lift: 1.5 },
            FeatureLift { feature: "search".into(), users: 90, retention_with: 0.7, retention_without: 0.7, lift: 1.0 },
        ],
        affinity: vec![Affinity {
            feature_a: "export".into(),
            feature_b: "search".into(),
            users_a: 10,
            users_both: 7,
            affinity: 0.7,
        }],
        power_users: 12,
        users_recommended: 33,
    });
    let r = build(&inp).expect("report");
    let md = markdown::render(&r);
    assert!(md.contains("## Ideal customer profile: users"), "{md}");
    assert!(md.contains("| plan = pro | firmographic | 80.0% | 20.0% | 4.00 |"), "{md}");
    assert!(md.contains("## Ideal customer profile: accounts"));
    assert!(md.contains("| industry = fintech | firmographic | 50.0% | 0.0% | only in the top |"), "{md}");
    assert!(md.contains("(3 each)"));
    // Highest lift first.
    let (e, s) = (md.find("| export | 40 |").expect("export row"), md.find("| search | 90 |").expect("search"));
    assert!(e < s);
    assert!(md.contains("(33 users, `recommendations.parquet`)"));
    assert!(md.contains("| export | search | 10 | 70.0% |"), "{md}");
    let page = html::render(&r).expect("html");
    let doc = scraper::Html::parse_document(&page);
    let sel = scraper::Selector::parse("h2").expect("selector");
    let titles: Vec<String> = doc.select(&sel).map(|h| h.text().collect()).collect();
    for t in ["Ideal customer profile: users", "Ideal customer profile: accounts", "Feature recommendations"] {
        assert!(titles.iter().any(|x| x == t), "{titles:?}");
    }
}
