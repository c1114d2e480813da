//! Evaluation against hand-computed users, including each edge of the seed's 6.1 rules.

#![allow(clippy::unwrap_used)] // Tests may panic: that is how they fail.

use strata_rules::{compile, eval, parse, AggRequest, Columns, Names, Operand, Program, Value};

struct Table {
    program: Program,
    rows: Vec<Vec<(Operand, Value<'static>)>>,
}

impl Columns for Table {
    fn get(&self, slot: usize, row: usize) -> Value<'_> {
        let op = &self.program.operands[slot];
        self.rows[row].iter().find(|(o, _)| o == op).map_or(Value::Null, |(_, v)| *v)
    }
}

fn names() -> Names {
    Names { features: vec!["sessions_7d".into(), "tenure_days".into()], scores: vec!["engagement".into()] }
}

fn program(src: &str) -> Program {
    let (file, d) = parse(src);
    assert!(d.is_empty(), "{d:?}");
    compile(&file, &names()).unwrap()
}

/// Which segments each row matches.
fn matches(t: &Table) -> Vec<Vec<&str>> {
    (0..t.rows.len())
        .map(|r| {
            t.program
                .segments
                .iter()
                .filter(|s| eval(&s.cond, t, r) == Value::Bool(true))
                .map(|s| s.name.as_str())
                .collect()
        })
        .collect()
}

#[test]
fn seed_6_1_rules_on_hand_computed_users() {
    let program = program(include_str!("fixtures/seed-6.1.rules"));
    let s7 = Operand::Agg(AggRequest::SessionCount(7));
    let f30 = Operand::Agg(AggRequest::DistinctFeatures(30));
    let w28 = Operand::Agg(AggRequest::AvgWeeklySessions(28));
    let pricing = Operand::Agg(AggRequest::EventCount("pricing_page_view".into(), 14));
    let locked = Operand::Agg(AggRequest::EventCount("locked_feature_click".into(), 14));
    let signup = Operand::User("days_since_signup".into());
    let n = |v: f64| Value::Num(v);
    let user =
        |s: f64, f: f64, days: Value<'static>, w: f64, eng: Value<'static>, usage: Value<'static>, p: f64, l: f64| {
            vec![
                (s7.clone(), n(s)),
                (f30.clone(), n(f)),
                (signup.clone(), days),
                (w28.clone(), n(w)),
                (Operand::TotalFeatures, n(10.0)),
                (Operand::Score("engagement".into()), eng),
                (Operand::UsagePct, usage),
                (pricing.clone(), n(p)),
                (locked.clone(), n(l)),
            ]
        };
    let rows = vec![
        // Power: exactly 5 sessions, exactly 70% of 10 features, exactly 30 days.
        user(5.0, 7.0, n(30.0), 5.0, n(10.0), Value::Null, 0.0, 0.0),
        // One short on each Power criterion.
        user(4.0, 7.0, n(30.0), 4.0, n(10.0), Value::Null, 0.0, 0.0),
        user(5.0, 6.0, n(30.0), 5.0, n(10.0), Value::Null, 0.0, 0.0),
        user(5.0, 7.0, n(29.9), 5.0, n(10.0), Value::Null, 0.0, 0.0),
        // At Risk: 0.9 sessions this week < 0.5 * 2 weekly average (=1), average >= 2.
        user(0.9, 0.0, n(100.0), 2.0, n(10.0), Value::Null, 0.0, 0.0),
        // Exactly half is not below half; an average under 2 is not at risk.
        user(1.0, 0.0, n(100.0), 2.0, n(10.0), Value::Null, 0.0, 0.0),
        user(0.0, 0.0, n(100.0), 1.9, n(10.0), Value::Null, 0.0, 0.0),
        // Expansion Ready: engagement exactly 60 and one of the three signals.
        user(0.0, 0.0, Value::Null, 0.0, n(60.0), n(0.7), 0.0, 0.0),
        user(0.0, 0.0, Value::Null, 0.0, n(60.0), n(0.69), 1.0, 0.0),
        user(0.0, 0.0, Value::Null, 0.0, n(60.0), Value::Null, 0.0, 1.0),
        user(0.0, 0.0, Value::Null, 0.0, n(59.9), n(1.0), 5.0, 5.0),
        user(0.0, 0.0, Value::Null, 0.0, n(60.0), n(0.69), 0.0, 0.0),
        // A null signup date: the comparison is false, not an error.
        user(9.0, 10.0, Value::Null, 9.0, Value::Null, Value::Null, 0.0, 0.0),
    ];
    let t = Table { program, rows };
    let got = matches(&t);
    let want: Vec<Vec<&str>> = vec![
        vec!["Power Users"],
        vec![],
        vec![],
        vec![],
        vec!["At Risk"],
        vec![],
        vec![],
        vec!["Expansion Ready"],
        vec!["Expansion Ready"],
        vec!["Expansion Ready"],
        vec![],
        vec![],
        vec![],
    ];
    assert_eq!(got, want);
}

#[test]
fn null_semantics_and_operators() {
    let p = program(
        r#"
segment "null is null" { conditions { user.plan is null } }
segment "not null" { conditions { user.plan is not null } }
segment "compare null" { conditions { user.plan == "free" OR NOT (user.plan != "free") } }
segment "in list" { conditions { user.plan in ["free", "trial"] } }
segment "not in list" { conditions { user.plan not in ["free", "trial"] } }
segment "arith" { conditions { (sessions_7d + 1) * 2 / 4 - -1 >= 2 } }
segment "div zero at run time" { conditions { 1 / (sessions_7d - 1) > 0 OR 1 / (sessions_7d - 1) <= 0 } }
segment "strings order" { conditions { user.plan < "g" } }
"#,
    );
    let plan = Operand::User("plan".into());
    let s7 = Operand::Feature("sessions_7d".into());
    let rows = vec![
        vec![(plan.clone(), Value::Null), (s7.clone(), Value::Num(1.0))],
        vec![(plan.clone(), Value::Str("free")), (s7.clone(), Value::Num(2.0))],
        vec![(plan.clone(), Value::Str("pro")), (s7.clone(), Value::Num(0.0))],
    ];
    let t = Table { program: p, rows };
    let got = matches(&t);
    // plan null: comparisons are unknown, so NOT (null != "free") is unknown too;
    // 1 / (1 - 1) is null, so neither comparison holds; (1 + 1) * 2 / 4 + 1 = 2.
    assert_eq!(got[0], vec!["null is null", "arith"]);
    assert_eq!(got[1], vec!["not null", "compare null", "in list", "arith", "div zero at run time", "strings order"]);
    // "compare null" for pro: plan == free false; NOT (pro != free) = NOT true = false.
    assert_eq!(got[2], vec!["not null", "not in list", "div zero at run time"]);
}

#[test]
fn health_counts_sizes_unassigned_overlap_and_anti_patterns() {
    let mut src = String::new();
    for i in 0..9 {
        src.push_str(&format!(
            "segment \"F{i}\" {{ conditions {{ sessions_7d >= {i} }} family: \"Big\" action: \"a\" }}\n"
        ));
    }
    src.push_str("segment \"X\" { conditions { sessions_7d >= 1 } action: \"a\" }\n");
    src.push_str("segment \"Y\" { conditions { user.plan == \"pro\" } }\n");
    let p = program(&src);
    let users = 150;
    // F0 takes everyone in its family (first match), so F1..F8 are empty.
    let mut members: Vec<Vec<bool>> = vec![vec![true; users]];
    members.extend((1..9).map(|_| vec![false; users]));
    members.push((0..users).map(|u| u % 2 == 0).collect()); // X: 75
    members.push((0..users).map(|u| u % 3 == 0).collect()); // Y: 50
    let h = strata_rules::health::health(&p, &members, users);
    assert_eq!(h.segments[0].size, 150);
    assert_eq!(h.segments[9].size, 75);
    assert_eq!(h.segments[9].share, 0.5);
    assert_eq!(h.families.len(), 1);
    assert_eq!(h.families[0].segments, 9);
    assert_eq!(h.families[0].unassigned, 0);
    assert_eq!(h.overlap_segments, ["X", "Y"]);
    // Both: even and divisible by 3 -> multiples of 6 below 150: 25.
    assert_eq!(h.overlap, vec![vec![75, 25], vec![25, 50]]);
    let w = h.warnings.join("\n");
    assert!(w.contains("family \"Big\" has 9 segments, more than 8"), "{w}");
    assert!(w.contains("segment \"F1\" has 0 users, under 100"), "{w}");
    assert!(w.contains("segment \"X\" has 75 users, under 100"), "{w}");
    assert!(w.contains("segment \"Y\" has no action"), "{w}");
    assert!(w.contains("segment \"Y\" uses only profile attributes"), "{w}");
    assert!(!w.contains("segment \"X\" uses only profile"), "{w}");
    assert!(!w.contains("segment \"F0\" has"), "{w}");
}
