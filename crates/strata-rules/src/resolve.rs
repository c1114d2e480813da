//! Name resolution: every name a rule uses is checked against what strata can compute,
//! with a suggestion for near misses, and the windowed aggregates the rules need are
//! collected so the engine computes them in its single pass.

use crate::ast::{BinOp, Expr, RowTest, RowValue, RuleFile};
use crate::{Diagnostic, Span};

/// What names exist besides the rules themselves. Any `user.<attribute>` is accepted
/// here: the users table may carry firmographic extras, so attributes are checked
/// against the data when the rules run.
#[derive(Debug, Clone, Default)]
pub struct Names {
    /// Columns of the feature table (`docs/features.md`).
    pub features: Vec<String>,
    /// Score names usable as `scores.<name>`.
    pub scores: Vec<String>,
}

/// A windowed aggregate a rule asks the engine for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AggRequest {
    /// `events.<name>(last_N_days)`: events of that name or signal key.
    EventCount(String, u32),
    /// `events.count(last_N_days)`: all events.
    AllEvents(u32),
    /// `events.session_count(last_N_days)`.
    SessionCount(u32),
    /// `events.avg_weekly_sessions(last_N_days)`.
    AvgWeeklySessions(u32),
    /// `events.unique_features_used(last_N_days)`.
    DistinctFeatures(u32),
    /// `events.active_days(last_N_days)`.
    ActiveDays(u32),
}

impl AggRequest {
    /// The canonical spelling.
    pub fn name(&self) -> String {
        if let AggRequest::EventCount(n, ALL_TIME) = self {
            return format!("events.{n}(all_time)");
        }
        if let AggRequest::AllEvents(ALL_TIME) = self {
            return "events.count(all_time)".into();
        }
        match self {
            AggRequest::EventCount(n, d) => format!("events.{n}(last_{d}_days)"),
            AggRequest::AllEvents(d) => format!("events.count(last_{d}_days)"),
            AggRequest::SessionCount(d) => format!("events.session_count(last_{d}_days)"),
            AggRequest::AvgWeeklySessions(d) => format!("events.avg_weekly_sessions(last_{d}_days)"),
            AggRequest::DistinctFeatures(d) => format!("events.unique_features_used(last_{d}_days)"),
            AggRequest::ActiveDays(d) => format!("events.active_days(last_{d}_days)"),
        }
    }
}

/// The window `all_time` stands for: every event at or before the as-of instant.
pub const ALL_TIME: u32 = u32::MAX;

/// What resolution found: the aggregates needed (sorted, unique) and the problems.
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    /// Aggregates the rules need from the engine.
    pub aggregates: Vec<AggRequest>,
    /// Every problem, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

/// Checks every name of every score and segment.
pub fn resolve(file: &RuleFile, names: &Names) -> Resolved {
    let mut r = Resolved::default();
    // Scores first: each may use the scores given in `names` and those defined above it.
    let mut visible = names.clone();
    for (i, sc) in file.scores.iter().enumerate() {
        if names.scores.contains(&sc.name) || file.scores[..i].iter().any(|o| o.name == sc.name) {
            r.diagnostics.push(Diagnostic {
                span: sc.name_span,
                message: format!("score \"{}\" is defined twice", sc.name),
                hint: Some("rename or remove one".into()),
            });
        }
        if sc.components.is_empty() {
            r.diagnostics.push(Diagnostic {
                span: sc.name_span,
                message: format!("score \"{}\" has no components", sc.name),
                hint: Some("add component \"name\" of EXPR { >= 1: 10 else: 0 }".into()),
            });
        }
        if !sc.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || sc.name.is_empty() {
            r.diagnostics.push(Diagnostic {
                span: sc.name_span,
                message: format!("score name \"{}\" must be letters, digits and '_'", sc.name),
                hint: Some("it names the columns <name>_score and <name>_tier and scores.<name> in rules".into()),
            });
        }
        for (j, c) in sc.components.iter().enumerate() {
            if sc.components[..j].iter().any(|o| o.name == c.name) {
                r.diagnostics.push(Diagnostic {
                    span: c.name_span,
                    message: format!("component \"{}\" appears twice in score \"{}\"", c.name, sc.name),
                    hint: None,
                });
            }
            if let Some(e) = &c.input {
                walk(e, &visible, &mut r);
            }
            table(&c.rows, c.input.is_some(), false, &visible, &mut r);
        }
        table(&sc.tiers, true, true, &visible, &mut r);
        visible.scores.push(sc.name.clone());
    }
    let mut seen: Vec<(&str, Span)> = Vec::new();
    for seg in &file.segments {
        if let Some((_, first)) = seen.iter().find(|(n, _)| *n == seg.name) {
            r.diagnostics.push(Diagnostic {
                span: seg.name_span,
                message: format!("segment \"{}\" is defined twice", seg.name),
                hint: Some(format!("the first definition starts at byte {}; rename or remove one", first.start)),
            });
        } else {
            seen.push((&seg.name, seg.name_span));
        }
        match &seg.conditions {
            Some(e) => walk(e, &visible, &mut r),
            None => r.diagnostics.push(Diagnostic {
                span: seg.name_span,
                message: format!("segment \"{}\" has no conditions", seg.name),
                hint: Some("add conditions { ... }".into()),
            }),
        }
    }
    r.aggregates.sort();
    r.aggregates.dedup();
    r
}

/// Checks the rows of a bucket table (`labels`: a tiers table).
fn table(rows: &[crate::ast::Row], has_input: bool, labels: bool, names: &Names, r: &mut Resolved) {
    let mut after_else = false;
    for row in rows {
        if after_else {
            r.diagnostics.push(Diagnostic {
                span: row.span,
                message: "this row comes after `else` and can never apply".into(),
                hint: Some("put `else` last".into()),
            });
        }
        match &row.test {
            RowTest::Cmp(_, e) => {
                walk(e, names, r);
                if !has_input {
                    r.diagnostics.push(Diagnostic {
                        span: row.span,
                        message: "this row compares, but the component has no input".into(),
                        hint: Some("write component \"name\" of EXPR { ... }, or use `when COND: points`".into()),
                    });
                }
            }
            RowTest::When(e) => walk(e, names, r),
            RowTest::Null if !has_input => r.diagnostics.push(Diagnostic {
                span: row.span,
                message: "a `null:` row needs the component's input (`of EXPR`)".into(),
                hint: None,
            }),
            RowTest::Null => {}
            RowTest::Else => after_else = true,
        }
        if let RowValue::Points(p) = row.value {
            if !p.is_finite() {
                r.diagnostics.push(Diagnostic {
                    span: row.span,
                    message: "points must be a finite number".into(),
                    hint: None,
                });
            }
        }
        if labels && matches!(row.value, RowValue::Points(_)) {
            r.diagnostics.push(Diagnostic {
                span: row.span,
                message: "a tier needs a label in double quotes".into(),
                hint: None,
            });
        }
    }
}

fn walk(e: &Expr, names: &Names, r: &mut Resolved) {
    match e {
        Expr::Num(..) | Expr::Str(..) => {}
        Expr::Ref(path, span) => reference(path, *span, names, r),
        Expr::Call(path, args, span) => call(path, args, *span, r),
        Expr::Not(x, _) | Expr::Neg(x, _) | Expr::IsNull(x, _, _) => walk(x, names, r),
        Expr::Bin(op, l, rhs, span) => {
            walk(l, names, r);
            walk(rhs, names, r);
            if *op == BinOp::Div && matches!(**rhs, Expr::Num(v, _) if v == 0.0) {
                r.diagnostics.push(Diagnostic { span: *span, message: "this divides by zero".into(), hint: None });
            }
        }
        Expr::In(x, items, _, _) => {
            walk(x, names, r);
            for i in items {
                walk(i, names, r);
            }
        }
    }
}

fn reference(path: &[String], span: Span, names: &Names, r: &mut Resolved) {
    let joined = path.join(".");
    let unknown = |what: &str, name: &str, candidates: &[String]| Diagnostic {
        span,
        message: format!("unknown {what} '{name}'"),
        hint: did_you_mean(name, candidates).map(|s| format!("did you mean '{s}'?")),
    };
    match path {
        [one] if one == "total_features" => {}
        [one] => {
            if !names.features.iter().any(|f| f == one) {
                r.diagnostics.push(unknown("feature", one, &names.features));
            }
        }
        [ns, attr] if ns == "user" => {
            let _ = attr; // any attribute may exist in the users table; checked against the data
        }
        [ns, name] if ns == "scores" => {
            if !names.scores.iter().any(|s| s == name) {
                r.diagnostics.push(unknown("score", name, &names.scores));
            }
        }
        [ns, name] if ns == "usage" && name == "percentage_of_limit" => {}
        [ns, ..] if ns == "events" => r.diagnostics.push(Diagnostic {
            span,
            message: format!("'{joined}' needs a window"),
            hint: Some(format!("write {joined}(last_7_days)")),
        }),
        _ => r.diagnostics.push(Diagnostic {
            span,
            message: format!("unknown name '{joined}'"),
            hint: Some("names are features, user.<attribute>, scores.<name>, events.<name>(last_N_days), total_features or usage.percentage_of_limit".into()),
        }),
    }
}

fn call(path: &[String], args: &[Expr], span: Span, r: &mut Resolved) {
    let [ns, func] = path else {
        r.diagnostics.push(Diagnostic {
            span,
            message: format!("unknown function '{}'", path.join(".")),
            hint: Some("functions are events.<name>(last_N_days)".into()),
        });
        return;
    };
    if ns != "events" {
        r.diagnostics.push(Diagnostic {
            span,
            message: format!("unknown function '{ns}.{func}'"),
            hint: Some("functions are events.<name>(last_N_days)".into()),
        });
        return;
    }
    let days = match args {
        [Expr::Ref(p, s)] if p.len() == 1 => match window_days(&p[0]) {
            Ok(d) => d,
            Err(msg) => {
                r.diagnostics.push(Diagnostic {
                    span: *s,
                    message: msg,
                    hint: Some("write last_N_days with N at least 1, e.g. last_14_days".into()),
                });
                return;
            }
        },
        [Expr::Neg(_, s)] => {
            r.diagnostics.push(Diagnostic {
                span: *s,
                message: "a window cannot be negative".into(),
                hint: Some("write last_N_days with N at least 1".into()),
            });
            return;
        }
        _ => {
            r.diagnostics.push(Diagnostic {
                span,
                message: format!("events.{func} takes one window, like last_7_days"),
                hint: None,
            });
            return;
        }
    };
    if days == ALL_TIME
        && matches!(func.as_str(), "session_count" | "avg_weekly_sessions" | "unique_features_used" | "active_days")
    {
        r.diagnostics.push(Diagnostic {
            span,
            message: format!("events.{func} needs a window of days; all_time is for event counts"),
            hint: Some(format!("write events.{func}(last_28_days)")),
        });
        return;
    }
    r.aggregates.push(match func.as_str() {
        "session_count" => AggRequest::SessionCount(days),
        "avg_weekly_sessions" => AggRequest::AvgWeeklySessions(days),
        "unique_features_used" => AggRequest::DistinctFeatures(days),
        "count" => AggRequest::AllEvents(days),
        "active_days" => {
            if days > 128 {
                r.diagnostics.push(Diagnostic {
                    span,
                    message: "events.active_days counts at most the last 128 days".into(),
                    hint: None,
                });
                return;
            }
            AggRequest::ActiveDays(days)
        }
        other => AggRequest::EventCount(other.to_string(), days),
    });
}

/// The aggregate a well-formed `events.<fn>(last_N_days)` call asks for.
pub(crate) fn window_request(path: &[String], args: &[Expr]) -> Option<AggRequest> {
    let [ns, func] = path else { return None };
    if ns != "events" {
        return None;
    }
    let [Expr::Ref(p, _)] = args else { return None };
    let days = window_days(p.first()?).ok()?;
    Some(match func.as_str() {
        "session_count" => AggRequest::SessionCount(days),
        "avg_weekly_sessions" => AggRequest::AvgWeeklySessions(days),
        "unique_features_used" => AggRequest::DistinctFeatures(days),
        "count" => AggRequest::AllEvents(days),
        "active_days" => AggRequest::ActiveDays(days),
        other => AggRequest::EventCount(other.to_string(), days),
    })
}

/// `last_N_days` -> N; `all_time` -> [`ALL_TIME`].
fn window_days(s: &str) -> Result<u32, String> {
    if s == "all_time" {
        return Ok(ALL_TIME);
    }
    let n = s.strip_prefix("last_").and_then(|r| r.strip_suffix("_days").or_else(|| r.strip_suffix("_day")));
    match n.map(str::parse::<u32>) {
        Some(Ok(0)) => Err(format!("'{s}' is a window of 0 days, which counts nothing")),
        Some(Ok(d)) if d < ALL_TIME => Ok(d),
        _ => Err(format!("'{s}' is not a window")),
    }
}

/// The closest candidate within an edit distance of a third of the name's length.
pub fn did_you_mean<'a>(name: &str, candidates: &'a [String]) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|c| (levenshtein(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(b.1)))
        .map(|(_, c)| c.as_str())
}

fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
