//! The seed's section 11 "Output Format" filled in from the rules and the data:
//! goals, data foundation (with the gaps the data shows), every segment's criteria,
//! measured size and share, action and success metric, the scoring models with their
//! weights, the personalization playbook, the implementation plan and the measurement
//! plan; and the cross-segment comparison dashboard of seed section 9.1 with every
//! metric one snapshot supports.

use crate::compare::Coded;
use crate::Input;
use serde::Serialize;
use strata_rules::ast::{RowTest, RowValue, RuleFile};

/// What the rules say about one segment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentRule {
    /// Name.
    pub name: String,
    /// Family, if any.
    pub family: Option<String>,
    /// The conditions as written (whitespace collapsed).
    pub criteria: String,
    /// `action:`.
    pub action: Option<String>,
    /// `description:`.
    pub description: Option<String>,
    /// `refresh:`.
    pub refresh: Option<String>,
}

/// One component of a score model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComponentRule {
    /// Name.
    pub name: String,
    /// Its input as written, if it has one.
    pub input: Option<String>,
    /// The most points it can give.
    pub max_points: f64,
}

/// One score model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreRule {
    /// Name.
    pub name: String,
    /// `description:`.
    pub description: Option<String>,
    /// Components in order.
    pub components: Vec<ComponentRule>,
    /// Tier labels, highest first.
    pub tiers: Vec<String>,
}

/// The rules, as the report shows them.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct RuleBook {
    /// Where the rules came from.
    pub source: String,
    /// Segments in file order.
    pub segments: Vec<SegmentRule>,
    /// Scores in file order.
    pub scores: Vec<ScoreRule>,
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Drops `#` and `//` comments (outside strings) from rule text.
fn strip_comments(s: &str) -> String {
    s.lines()
        .map(|line| {
            let mut in_str = false;
            let b = line.as_bytes();
            let mut end = line.len();
            for i in 0..b.len() {
                match b[i] {
                    b'"' => in_str = !in_str,
                    b'#' if !in_str => {
                        end = i;
                        break;
                    }
                    b'/' if !in_str && b.get(i + 1) == Some(&b'/') => {
                        end = i;
                        break;
                    }
                    _ => {}
                }
            }
            &line[..end]
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The text inside a segment's `conditions { ... }`, comments dropped.
fn conditions_text(block: &str) -> Option<String> {
    let at = block.find("conditions")?;
    let open = at + block[at..].find('{')?;
    let mut depth = 0usize;
    for (i, c) in block[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(collapse(&strip_comments(&block[open + 1..open + i])));
                }
            }
            _ => {}
        }
    }
    None
}

impl RuleBook {
    /// Reads the parts of a parsed rule file the report shows.
    pub fn from_rules(source: &str, file: &RuleFile, src: &str) -> RuleBook {
        let text = |s: strata_rules::Span| src.get(s.start..s.end).map(collapse).unwrap_or_default();
        let segments = file
            .segments
            .iter()
            .map(|s| SegmentRule {
                name: s.name.clone(),
                family: s.family.as_ref().map(|f| f.value.clone()),
                criteria: src
                    .get(s.span.start..s.span.end)
                    .and_then(conditions_text)
                    .or_else(|| s.conditions.as_ref().map(|c| text(c.span())))
                    .unwrap_or_default(),
                action: s.action.as_ref().map(|a| a.value.clone()),
                description: s.description.as_ref().map(|a| a.value.clone()),
                refresh: s.refresh.as_ref().map(|a| a.value.clone()),
            })
            .collect();
        let scores = file
            .scores
            .iter()
            .map(|sc| ScoreRule {
                name: sc.name.clone(),
                description: sc.description.as_ref().map(|d| d.value.clone()),
                components: sc
                    .components
                    .iter()
                    .map(|c| {
                        let pts = c.rows.iter().filter_map(|r| match r.value {
                            RowValue::Points(p) => Some(p),
                            RowValue::Label(_) => None,
                        });
                        let max_points = if c.sum { pts.filter(|p| *p > 0.0).sum() } else { pts.fold(0.0, f64::max) };
                        ComponentRule {
                            name: c.name.clone(),
                            input: c.input.as_ref().map(|e| text(e.span())),
                            max_points,
                        }
                    })
                    .collect(),
                tiers: sc
                    .tiers
                    .iter()
                    .filter(|r| !matches!(r.test, RowTest::Null))
                    .filter_map(|r| match &r.value {
                        RowValue::Label(l) => Some(l.clone()),
                        RowValue::Points(_) => None,
                    })
                    .collect(),
            })
            .collect();
        RuleBook { source: source.to_string(), segments, scores }
    }
}

/// What the user tells the report about the job (`[report]` in strata.toml) and what
/// the binary knows about the inputs.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Context {
    /// Primary goal.
    pub goal: Option<String>,
    /// Key questions.
    pub questions: Vec<String>,
    /// The inputs found, one line each.
    pub sources: Vec<String>,
    /// Gaps the binary found (missing columns, missing users table).
    pub gaps: Vec<String>,
    /// How the clusters were made (algorithm, k, columns).
    pub discovery: String,
}

/// One segment as the strategy lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentEntry {
    /// Name.
    pub name: String,
    /// Family, if any.
    pub family: Option<String>,
    /// The rule's conditions.
    pub criteria: String,
    /// Users in it.
    pub size: usize,
    /// Share of all users.
    pub share: f64,
    /// The rule's action.
    pub action: String,
    /// How to tell the segment is served well.
    pub success_metric: String,
}

/// One column of the comparison dashboard.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DashboardColumn {
    /// The segment.
    pub segment: String,
    /// Users.
    pub size: usize,
    /// Share.
    pub share: f64,
    /// Share seen in the last 30 days.
    pub active_30d: Option<f64>,
    /// Share with any revenue.
    pub paying: Option<f64>,
    /// Mean revenue per user.
    pub avg_revenue: Option<f64>,
    /// Mean score per score model.
    pub mean_scores: Vec<(String, f64)>,
    /// Measured (`strata outcomes`): retention over the horizon.
    pub retention: Option<f64>,
    /// Measured: paid conversion over the horizon.
    pub paid_conversion: Option<f64>,
    /// Measured: the LTV proxy.
    pub ltv: Option<f64>,
    /// Measured: revenue per user over the horizon.
    pub horizon_revenue: Option<f64>,
}

/// The filled-in output format.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Strategy {
    /// Goal and questions.
    pub goal: String,
    /// Key questions.
    pub questions: Vec<String>,
    /// Sources.
    pub sources: Vec<String>,
    /// Gaps: the binary's plus score components that give everyone the same points and
    /// signals nobody shows.
    pub gaps: Vec<String>,
    /// Every segment with its measured size.
    pub segments: Vec<SegmentEntry>,
    /// Score models.
    pub scores: Vec<ScoreRule>,
    /// The family the playbook and dashboard are drawn for.
    pub playbook_family: Option<String>,
    /// Playbook rows (touchpoint, one cell per segment of that family).
    pub playbook: Vec<(String, Vec<String>)>,
    /// Implementation phases with the families each covers.
    pub phases: Vec<String>,
    /// Measurement plan.
    pub measurement: Vec<String>,
    /// Seed 9.1 dashboard, one column per segment of `playbook_family`.
    pub dashboard: Vec<DashboardColumn>,
    /// Dashboard metrics one snapshot cannot give, and why.
    pub dashboard_notes: Vec<String>,
}

/// Success metric by what the segment's name or family says.
fn success_metric(name: &str, family: Option<&str>) -> String {
    let n = name.to_lowercase();
    let f = family.unwrap_or("").to_lowercase();
    let s = if n.contains("risk") || n.contains("declin") || n.contains("attention") {
        "share returning to weekly use within 30 days; churn rate vs last period"
    } else if n.contains("dormant") || n.contains("churn") || n.contains("lost") || n.contains("hibernat") {
        "win-back rate: share active again within 30 days"
    } else if n.contains("new") || n.contains("onboard") || n.contains("trial") || n.contains("evaluat") {
        "activation rate within 14 days of signup"
    } else if n.contains("power") || n.contains("champion") || n.contains("expansion") || f.contains("sales") {
        "expansion revenue and seat growth; referral count"
    } else if f.contains("plan") || f.contains("rfm") {
        "paid conversion and revenue per user"
    } else {
        "30-day retention and movement to a more engaged segment"
    };
    s.to_string()
}

/// Playbook cells by segment: (onboarding, in-product, email, upgrade prompt), from seed
/// sections 2, 3 and 7.1 by the segment's name; the rule's action otherwise.
fn playbook_cells(name: &str, action: &str) -> [String; 4] {
    let n = name.to_lowercase();
    let c = |a: &str, b: &str, e: &str, u: &str| [a.to_string(), b.to_string(), e.to_string(), u.to_string()];
    if n.contains("power") || n.contains("champion") {
        c(
            "Skip basics; advanced setup",
            "Beta features, advocacy asks",
            "Community and referral invites",
            "Team and enterprise plans",
        )
    } else if n.contains("risk") || n.contains("declin") {
        c(
            "Re-onboard the core workflow",
            "Value reminders, what's new",
            "Re-engagement: 1x now, then weekly",
            "Hold: fix value first",
        )
    } else if n.contains("dormant") || n.contains("churn") || n.contains("lost") {
        c("Fresh start checklist", "Welcome-back tour", "Win-back at churn, 30 and 90 days", "Special offer on return")
    } else if n.contains("casual") || n.contains("new") || n.contains("trial") {
        c(
            "Activation drip, daily x 7 days",
            "Activation nudges, use-case guides",
            "Onboarding drip",
            "After activation only",
        )
    } else if n.contains("regular") || n.contains("engaged") || n.contains("active") {
        c(
            "Feature discovery",
            "Highlight unused features",
            "Feature discovery, 2x/week x 2 weeks",
            "Upgrade nurture, weekly",
        )
    } else {
        let a = if action.is_empty() { "Follow the segment's action" } else { action };
        c(a, a, a, a)
    }
}

/// Fills in the strategy.
pub fn build(input: &Input, families: &[Coded]) -> Strategy {
    let n = input.user_ids.len().max(1);
    let mut gaps = input.context.gaps.clone();
    for part in &input.score_parts {
        let mut vals = part.values.iter().flatten();
        if let Some(first) = vals.next() {
            if vals.all(|v| v == first) {
                gaps.push(format!(
                    "{} is {} for every user: its input carries no information in this data",
                    part.name, first
                ));
            }
        }
    }
    let empty: Vec<&str> = input
        .features
        .iter()
        .filter(|f| f.values.iter().all(|v| v.is_none_or(|x| x == 0.0)))
        .map(|f| f.name.as_str())
        .collect();
    if !empty.is_empty() {
        gaps.push(format!(
            "{} feature{} zero or empty for every user ({}): their events are missing from the export, or the data does not reach that far back",
            empty.len(),
            if empty.len() == 1 { " is" } else { "s are" },
            empty.join(", ")
        ));
    }
    let size_of = |family: Option<&str>, name: &str| -> usize {
        match family {
            Some(fam) => input
                .families
                .iter()
                .position(|f| f.name == fam)
                .map_or(0, |i| families[i].codes.iter().filter(|c| families[i].names[**c] == name).count()),
            None => input.flags.iter().find(|f| f.name == name).map_or(0, |f| f.values.iter().filter(|b| **b).count()),
        }
    };
    let segments: Vec<SegmentEntry> = input
        .rules
        .segments
        .iter()
        .map(|s| {
            let size = size_of(s.family.as_deref(), &s.name);
            SegmentEntry {
                name: s.name.clone(),
                family: s.family.clone(),
                criteria: s.criteria.clone(),
                size,
                share: size as f64 / n as f64,
                action: s.action.clone().unwrap_or_default(),
                success_metric: success_metric(&s.name, s.family.as_deref()),
            }
        })
        .collect();
    let playbook_family = input
        .families
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case("behavioral"))
        .or_else(|| input.families.first())
        .map(|f| f.name.clone());
    let fam_segments: Vec<&SegmentEntry> =
        segments.iter().filter(|s| s.family.is_some() && s.family == playbook_family).collect();
    let touch = ["Onboarding", "In-product messaging", "Email campaigns", "Upgrade prompts"];
    let cells: Vec<[String; 4]> = fam_segments.iter().map(|s| playbook_cells(&s.name, &s.action)).collect();
    let playbook =
        touch.iter().enumerate().map(|(i, t)| (t.to_string(), cells.iter().map(|c| c[i].clone()).collect())).collect();
    let fams: Vec<String> = input.families.iter().map(|f| f.name.clone()).collect();
    let pick = |keys: &[&str]| -> String {
        let v: Vec<&str> =
            fams.iter().filter(|f| keys.iter().any(|k| f.to_lowercase().contains(k))).map(String::as_str).collect();
        if v.is_empty() {
            "none defined yet".into()
        } else {
            v.join(", ")
        }
    };
    let phases = vec![
        format!("Phase 1: basic segments (lifecycle + plan): {}", pick(&["lifecycle", "plan"])),
        format!(
            "Phase 2: behavioral segments (engagement scoring): {}; scores: {}",
            pick(&["behavior", "intent", "dormant"]),
            input.rules.scores.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
        ),
        format!(
            "Phase 3: advanced (ML clustering, predictive scoring): {}; candidate segments from this report",
            if input.context.discovery.is_empty() { "strata discover" } else { &input.context.discovery }
        ),
    ];
    let mut refresh: Vec<String> = input.rules.segments.iter().filter_map(|s| s.refresh.clone()).collect();
    refresh.sort();
    refresh.dedup();
    let measurement = vec![
        "Track: segment distribution, transitions between snapshots, per-segment KPIs (the dashboard below)".into(),
        format!(
            "Cadence: {} (the rules' refresh settings); rerun `strata run` and compare reports",
            if refresh.is_empty() { "weekly".into() } else { refresh.join(", ") }
        ),
        "Guard rails (seed 10): segments under 100 users, segments without an action".into(),
    ];
    // Dashboard.
    let feature = |name: &str| input.features.iter().find(|f| f.name == name);
    let mut dashboard = Vec::new();
    if let Some(fam) = &playbook_family {
        let i = input.families.iter().position(|f| &f.name == fam).unwrap_or(0);
        let coded = &families[i];
        let measured =
            |seg: &str| input.outcomes.iter().find(|o| o.family.as_deref() == Some(fam.as_str()) && o.segment == seg);
        for (j, seg) in coded.names.iter().enumerate() {
            let users: Vec<usize> = (0..input.user_ids.len()).filter(|&u| coded.codes[u] == j).collect();
            let m = users.len().max(1) as f64;
            let share_of = |f: &strata_discover::prep::InputColumn, test: &dyn Fn(f64) -> bool| {
                users.iter().filter(|&&u| f.values[u].is_some_and(test)).count() as f64 / m
            };
            dashboard.push(DashboardColumn {
                segment: seg.clone(),
                size: users.len(),
                share: users.len() as f64 / n as f64,
                active_30d: feature("days_since_last_seen").map(|f| share_of(f, &|x| x <= 30.0)),
                paying: feature("revenue_total").map(|f| share_of(f, &|x| x > 0.0)),
                avg_revenue: feature("revenue_total")
                    .map(|f| users.iter().filter_map(|&u| f.values[u]).sum::<f64>() / m),
                retention: measured(seg).map(|o| o.retention),
                paid_conversion: measured(seg).and_then(|o| o.paid_conversion),
                ltv: measured(seg).map(|o| o.ltv_proxy),
                horizon_revenue: measured(seg).map(|o| o.avg_revenue),
                mean_scores: input
                    .scores
                    .iter()
                    .map(|s| {
                        let v: Vec<f64> = users.iter().filter_map(|&u| s.values[u]).collect();
                        (s.name.clone(), crate::stats::mean_sd(&v).0)
                    })
                    .collect(),
            });
        }
    }
    let dashboard_notes = if input.outcomes.is_empty() {
        vec!["Retention, paid conversion and LTV need a later snapshot of the same users: run `strata outcomes` and pass its outcomes.json with --outcomes. One snapshot gives the share active in the last 30 days, the share paying and revenue to date instead.".into()]
    } else {
        vec!["Retention, paid conversion, revenue in the horizon and the LTV proxy are measured by `strata outcomes` (its segments at its as-of time; docs/snapshots.md).".into()]
    };
    Strategy {
        goal: input.context.goal.clone().unwrap_or_else(|| {
            "Decide who gets which onboarding, messaging, upgrade path and support (set [report] goal in strata.toml)".into()
        }),
        questions: if input.context.questions.is_empty() {
            vec![
                "Are the playbook's segments real groups in the data?".into(),
                "Which groups does the playbook miss?".into(),
                "Which users are filed in the wrong segment?".into(),
            ]
        } else {
            input.context.questions.clone()
        },
        sources: input.context.sources.clone(),
        gaps,
        segments,
        scores: input.rules.scores.clone(),
        playbook_family,
        playbook,
        phases,
        measurement,
        dashboard,
        dashboard_notes,
    }
}
