//! Parser tests: the seed's section 6.1 verbatim, every diagnostic with its position,
//! recovery, and random input that must never panic.

#![allow(clippy::unwrap_used)] // Tests may panic: that is how they fail.

use proptest::prelude::*;
use strata_rules::ast::{BinOp, Expr};
use strata_rules::parse;

const SEED_61: &str = include_str!("fixtures/seed-6.1.rules");

#[test]
fn seed_section_6_1_parses_verbatim() {
    let (file, diags) = parse(SEED_61);
    assert!(diags.is_empty(), "{diags:?}");
    let names: Vec<_> = file.segments.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["Power Users", "At Risk", "Expansion Ready"]);
    for s in &file.segments {
        assert_eq!(s.refresh.as_ref().unwrap().value, "daily");
    }
    // Power Users: ((a >= 5) AND (b >= 0.7 * total_features)) AND (c >= 30)
    let Some(Expr::Bin(BinOp::And, l, r, _)) = &file.segments[0].conditions else { panic!("not an AND") };
    assert!(matches!(&**r, Expr::Bin(BinOp::Ge, _, _, _)));
    let Expr::Bin(BinOp::And, first, second, _) = &**l else { panic!("not left-nested") };
    let Expr::Bin(BinOp::Ge, call, five, _) = &**first else { panic!() };
    let Expr::Call(path, args, _) = &**call else { panic!("not a call: {call:?}") };
    assert_eq!(path, &["events", "session_count"]);
    assert!(matches!(args.as_slice(), [Expr::Ref(p, _)] if p == &["last_7_days"]));
    assert!(matches!(**five, Expr::Num(v, _) if v == 5.0));
    let Expr::Bin(BinOp::Ge, _, product, _) = &**second else { panic!() };
    assert!(matches!(&**product, Expr::Bin(BinOp::Mul, _, _, _)));
    // Expansion Ready: scores.engagement >= 60 AND ( ... OR ... OR ... )
    let Some(Expr::Bin(BinOp::And, _, group, _)) = &file.segments[2].conditions else { panic!() };
    assert!(matches!(&**group, Expr::Bin(BinOp::Or, _, _, _)));
    // Spans point back at the text.
    let s = &file.segments[1];
    assert_eq!(&SEED_61[s.name_span.start..s.name_span.end], "\"At Risk\"");
}

#[test]
fn operators_percentages_lists_and_nulls() {
    let src = r#"segment "X" {
  conditions {
    NOT user.plan in ["free", "trial"] AND usage.percentage_of_limit >= 70%
    OR user.role is null OR user.role is not null AND -sessions_7d + 2 * (3 - 1) / 4 != 1
    AND user.country not in ["US"]
  }
  family: "Behavioral"
  action: "Expansion offers"
  description: "test"
}"#;
    let (file, diags) = parse(src);
    assert!(diags.is_empty(), "{diags:?}");
    let s = &file.segments[0];
    assert_eq!(s.family.as_ref().unwrap().value, "Behavioral");
    assert_eq!(s.action.as_ref().unwrap().value, "Expansion offers");
    // OR is loosest: the top node is an OR.
    assert!(matches!(s.conditions, Some(Expr::Bin(BinOp::Or, _, _, _))));
    let text = format!("{:?}", s.conditions);
    assert!(text.contains("Num(0.7"), "70% is 0.7: {text}");
    assert!(text.contains("IsNull"), "{text}");
    assert!(text.contains("In("), "{text}");
}

#[test]
fn errors_name_line_column_and_show_a_caret() {
    let src = "segment \"A\" {\n  conditions {\n    sessions_7d >= \n  }\n}\n";
    let (_, diags) = parse(src);
    assert_eq!(diags.len(), 1, "{diags:?}");
    let text = diags[0].render("rules.txt", src);
    assert_eq!(text, "error: expected a value, a name or '(', found '}'\n  --> rules.txt:4:3\n  |\n4 |   }\n  |   ^");
}

#[test]
fn every_broken_segment_is_reported_in_one_run() {
    let src = r#"
segment "A" { conditions { sessions_7d >= } }
segment "B" { conditions { sessions_7d >= 1 } refresh: daily }
segment C { }
segment "D" { colour: "red" }
segment "E" { conditions { a > 1 } conditions { b > 1 } }
"#;
    let (file, diags) = parse(src);
    assert_eq!(file.segments.len(), 1, "B parses");
    assert_eq!(file.segments[0].name, "B");
    let msgs: Vec<_> = diags.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(msgs.len(), 4, "{msgs:?}");
    assert!(msgs[1].contains("segment's name in double quotes"), "{msgs:?}");
    assert!(msgs[2].contains("unexpected 'colour'"), "{msgs:?}");
    assert_eq!(
        diags[2].hint.as_deref(),
        Some("a segment holds conditions { ... }, refresh:, family:, action: and description:")
    );
    assert!(msgs[3].contains("already has conditions"), "{msgs:?}");
}

#[test]
fn lexer_errors_are_diagnostics() {
    for (src, needle) in [
        ("segment \"A\" { conditions { a >= 1 @ } }", "unexpected character '@'"),
        ("segment \"A", "not closed"),
        ("segment \"A\" { conditions { a >= 1.2.3 } }", "not a number"),
        ("segment \"A\" { conditions { a >= 1 }", "not closed with '}'"),
        ("AND", "expected a `segment"),
    ] {
        let (_, diags) = parse(src);
        assert!(diags.iter().any(|d| d.message.contains(needle)), "{src}: {diags:?}");
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let src = format!("segment \"A\" {{ conditions {{ {}1{} }} }}", "(".repeat(10_000), ")".repeat(10_000));
    let (_, diags) = parse(&src);
    assert!(diags.iter().any(|d| d.message.contains("nested too deeply")), "{diags:?}");
    let src = format!("segment \"A\" {{ conditions {{ {}1 }} }}", "NOT -".repeat(10_000));
    let (_, diags) = parse(&src);
    assert!(!diags.is_empty());
}

const TOKENS: [&str; 33] = [
    "segment",
    "score",
    "component",
    "of",
    "sum",
    "when",
    "else",
    "null:",
    "tiers",
    "description:",
    "\"S\"",
    "{",
    "}",
    "conditions",
    "(",
    ")",
    "AND",
    "OR",
    "NOT",
    ">=",
    "<",
    "==",
    "1",
    "0.5",
    "70%",
    "events.session_count",
    "last_7_days",
    "user.plan",
    "in",
    "[",
    "]",
    ",",
    "is null",
];

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let src = String::from_utf8_lossy(&bytes);
        let (_, diags) = parse(&src);
        for d in &diags {
            let _ = d.render("x", &src);
        }
    }

    #[test]
    fn random_token_sequences_never_panic(idx in prop::collection::vec(0usize..TOKENS.len(), 0..80)) {
        let src: Vec<&str> = idx.iter().map(|i| TOKENS[*i]).collect();
        let src = src.join(" ");
        let (file, diags) = parse(&src);
        for d in &diags {
            prop_assert!(d.span.start <= d.span.end && d.span.end <= src.len());
            let _ = d.render("x", &src);
        }
        // Whatever parsed must resolve, compile and run without panicking.
        if let Ok(p) = strata_rules::compile(&file, &names()) {
            let mut t = strata_rules::Table { rows: 2, cols: vec![strata_rules::Column::Null; p.operands.len()] };
            let out = strata_rules::run(&p, &mut t);
            prop_assert_eq!(out.members.len(), p.segments.len());
        }
    }
}

fn names() -> strata_rules::Names {
    strata_rules::Names {
        features: vec!["sessions_7d".into(), "sessions_28d".into(), "tenure_days".into()],
        scores: vec!["engagement".into(), "churn_risk".into()],
    }
}

#[test]
fn resolution_lists_the_aggregates_the_seed_rules_need() {
    let (file, _) = parse(SEED_61);
    let r = strata_rules::resolve(&file, &names());
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
    let aggs: Vec<String> = r.aggregates.iter().map(|a| a.name()).collect();
    assert_eq!(
        aggs,
        [
            "events.locked_feature_click(last_14_days)",
            "events.pricing_page_view(last_14_days)",
            "events.session_count(last_7_days)",
            "events.avg_weekly_sessions(last_28_days)",
            "events.unique_features_used(last_30_days)",
        ]
    );
}

#[test]
fn unknown_names_get_suggestions_and_bad_windows_are_errors() {
    let src = r#"segment "A" {
  conditions {
    sesions_7d >= 1 AND scores.engagment > 3 AND events.session_count(last_0_days) > 1
    AND events.pricing_page_view(last_week) > 0 AND events.session_count > 2
    AND sessions_7d / 0 > 1 AND nothing.here > 1 AND events.x(-3) > 1
  }
}
segment "A" { conditions { sessions_7d > 1 } }
segment "B" { refresh: daily }
"#;
    let (file, diags) = parse(src);
    assert!(diags.is_empty(), "{diags:?}");
    let r = strata_rules::resolve(&file, &names());
    let rendered: Vec<String> = r.diagnostics.iter().map(|d| d.render("r.rules", src)).collect();
    let all = rendered.join("\n");
    for needle in [
        "error: unknown feature 'sesions_7d'\n  --> r.rules:3:5\n  |\n3 |     sesions_7d >= 1 AND scores.engagment > 3 AND events.session_count(last_0_days) > 1\n  |     ^^^^^^^^^^\n  |\n  = hint: did you mean 'sessions_7d'?",
        "unknown score 'engagment'",
        "did you mean 'engagement'?",
        "'last_0_days' is a window of 0 days",
        "'last_week' is not a window",
        "'events.session_count' needs a window",
        "this divides by zero",
        "unknown name 'nothing.here'",
        "a window cannot be negative",
        "segment \"A\" is defined twice",
        "segment \"B\" has no conditions",
    ] {
        assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
    }
    assert_eq!(r.diagnostics.len(), 10, "{all}");
}

#[test]
fn did_you_mean_only_suggests_near_names() {
    let c = vec!["sessions_7d".to_string(), "sessions_28d".to_string(), "tenure_days".to_string()];
    assert_eq!(strata_rules::did_you_mean("sesions_7d", &c), Some("sessions_7d"));
    assert_eq!(strata_rules::did_you_mean("tenure", &c), None);
    assert_eq!(strata_rules::did_you_mean("zzz", &c), None);
}

#[test]
fn score_blocks_parse_and_their_errors_are_reported_together() {
    let src = r#"score "fit" {
  description: "toy"
  component "size" of user.seats { >= 10: 50  null: 5  else: 0 }
  component "signals" sum { when sessions_7d >= 1: 25  when sessions_7d >= 5: 25 }
  tiers { >= 50: "good" else: "poor" }
}
segment "Fit" { conditions { scores.fit >= 50 } action: "call" }
"#;
    let (file, d) = parse(src);
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(file.scores.len(), 1);
    let sc = &file.scores[0];
    assert_eq!((sc.components.len(), sc.components[1].sum, sc.tiers.len()), (2, true, 2));
    let p = strata_rules::compile(&file, &names()).unwrap();
    assert_eq!(p.scores[0].max_points(), 100.0);

    let bad = r#"score "fit" {
  component "a" { >= 10: 50 }
  component "b" of sessions_7d { else: 0  >= 1: 5 }
  component "b" of sesions_7d { >= 1: 2 }
}
score "fit" { component "c" of scores.later { >= 1: 1 } }
score "later" { component "d" { when sessions_7d > 0: 1 } }
"#;
    let (file, mut d) = parse(bad);
    let r = strata_rules::resolve(&file, &names());
    d.extend(r.diagnostics);
    d.sort_by_key(|x| x.span.start);
    let text: Vec<String> = d.iter().map(|x| x.render("bad.rules", bad)).collect();
    assert_eq!(
        text.join("\n\n"),
        r#"error: this row compares, but the component has no input
  --> bad.rules:2:19
  |
2 |   component "a" { >= 10: 50 }
  |                   ^^^^^^^^^
  |
  = hint: write component "name" of EXPR { ... }, or use `when COND: points`

error: this row comes after `else` and can never apply
  --> bad.rules:3:43
  |
3 |   component "b" of sessions_7d { else: 0  >= 1: 5 }
  |                                           ^^^^^^^
  |
  = hint: put `else` last

error: component "b" appears twice in score "fit"
  --> bad.rules:4:13
  |
4 |   component "b" of sesions_7d { >= 1: 2 }
  |             ^^^

error: unknown feature 'sesions_7d'
  --> bad.rules:4:20
  |
4 |   component "b" of sesions_7d { >= 1: 2 }
  |                    ^^^^^^^^^^
  |
  = hint: did you mean 'sessions_7d'?

error: score "fit" is defined twice
  --> bad.rules:6:7
  |
6 | score "fit" { component "c" of scores.later { >= 1: 1 } }
  |       ^^^^^
  |
  = hint: rename or remove one

error: unknown score 'later'
  --> bad.rules:6:32
  |
6 | score "fit" { component "c" of scores.later { >= 1: 1 } }
  |                                ^^^^^^^^^^^^"#
    );
    // A row whose value is not a number is a parse error naming what it found.
    let (_, d) = parse("score \"s\" { component \"c\" of sessions_7d { >= 1: \"x\" } }");
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].message, "expected a number of points, found the string \"x\"");
}
