//! The block evaluator (`run`) against the reference tree walk (`run_scalar`) on random
//! programs and random tables: nulls, strings, zero divisors, families, sums, tiers,
//! and tables of one, several and partial blocks (1,024 users each).

#![allow(clippy::unwrap_used)] // Tests may panic: that is how they fail.

use proptest::prelude::*;
use strata_rules::{compile, parse, run, run_scalar, Column, Names, Operand, Table};

const FEATURES: [&str; 3] = ["fa", "fb", "fc"];

fn num(with_scores: bool) -> impl Strategy<Value = String> {
    let mut leaves: Vec<BoxedStrategy<String>> = vec![
        prop::sample::select(FEATURES.to_vec()).prop_map(str::to_string).boxed(),
        prop::sample::select(vec!["0.5", "1", "2", "3", "7"]).prop_map(str::to_string).boxed(),
    ];
    if with_scores {
        leaves.push(Just("scores.s1".to_string()).boxed());
    }
    let leaf = prop::strategy::Union::new(leaves);
    leaf.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), prop::sample::select(vec!["+", "-", "*", "/"]), inner.clone())
                .prop_map(|(a, op, b)| format!("({a} {op} {b})")),
            inner.prop_map(|a| format!("-{a}")),
        ]
    })
}

fn cond(with_scores: bool) -> impl Strategy<Value = String> {
    let cmp = prop::sample::select(vec![">=", "<=", ">", "<", "==", "!="]);
    let leaf = prop_oneof![
        (num(with_scores), cmp, num(with_scores)).prop_map(|(a, op, b)| format!("{a} {op} {b}")),
        (prop::sample::select(FEATURES.to_vec()), prop::sample::select(vec![">=", "<", "=="]), 0i32..4)
            .prop_map(|(f, op, c)| format!("{f} {op} {c}")),
        prop::sample::select(vec!["\"a\"", "\"b\"", "\"z\""]).prop_map(|s| format!("user.plan == {s}")),
        Just("user.plan in [\"a\", \"b\"]".to_string()),
        Just("user.plan != \"a\"".to_string()),
        Just("user.plan > 1".to_string()),
        Just("user.plan is null".to_string()),
        Just("user.plan not in [\"c\", \"q\"]".to_string()),
        num(with_scores).prop_map(|a| format!("{a} is null")),
        num(with_scores).prop_map(|a| format!("{a} not in [1, 2, 3]")),
    ];
    leaf.prop_recursive(3, 16, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} AND {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} OR {b})")),
            inner.prop_map(|a| format!("NOT ({a})")),
        ]
    })
}

fn program_src() -> impl Strategy<Value = String> {
    (
        num(false),
        prop::collection::vec((prop::sample::select(vec![">=", "<=", ">", "<", "==", "!="]), 0i32..4, 0i32..30), 1..4),
        prop::collection::vec((cond(false), 0i32..20), 1..4),
        any::<bool>(),
        num(true),
        prop::collection::vec((cond(true), prop::option::of(0usize..2)), 1..6),
    )
        .prop_map(|(input, buckets, whens, sum, input2, segs)| {
            let mut s = String::from("score \"s1\" {\n  component \"a\" of ");
            s.push_str(&input);
            s.push_str(" {\n");
            for (op, k, p) in &buckets {
                s.push_str(&format!("    {op} {k}: {p}\n"));
            }
            s.push_str("    null: 1\n    else: 2\n  }\n");
            s.push_str(&format!("  component \"b\"{} {{\n", if sum { " sum" } else { "" }));
            for (c, p) in &whens {
                s.push_str(&format!("    when {c}: {p}\n"));
            }
            s.push_str("    else: 3\n  }\n  tiers { >= 20: \"hi\" >= 5: \"mid\" }\n}\n");
            s.push_str(&format!(
                "score \"s2\" {{\n  component \"c\" of scores.s1 + {input2} {{ > 10: 5  <= 2: 1 }}\n  tiers {{ >= 5: \"x\" else: \"y\" }}\n}}\n"
            ));
            for (i, (c, fam)) in segs.iter().enumerate() {
                let family = fam.map(|f| format!("family: \"F{f}\"\n")).unwrap_or_default();
                s.push_str(&format!("segment \"S{i}\" {{\n{family}conditions {{ {c} OR scores.s2 >= 5 AND fa > 1 }}\n}}\n"));
            }
            s
        })
}

fn column() -> impl Strategy<Value = Vec<Option<f64>>> {
    prop::collection::vec(prop::option::of(prop::sample::select(vec![0.0, 0.5, 1.0, 2.0, 3.0, 7.0, -1.0, 30.0])), 40)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
    #[test]
    fn block_evaluation_equals_the_reference(
        src in program_src(),
        cols in prop::collection::vec(column(), 3),
        plans in prop::collection::vec(prop::option::of(prop::sample::select(vec!["a", "b", "c"])), 40),
        users in prop::sample::select(vec![1usize, 7, 40, 1023, 1024, 1025, 2600]),
    ) {
        let (file, d) = parse(&src);
        prop_assert!(d.is_empty(), "{:?}\n{}", d, src);
        let names = Names { features: FEATURES.iter().map(|s| s.to_string()).collect(), scores: Vec::new() };
        let p = compile(&file, &names).map_err(|e| TestCaseError::fail(format!("{e:?}\n{src}")))?;
        let table = Table {
            rows: users,
            cols: p
                .operands
                .iter()
                .map(|op| match op {
                    Operand::Feature(f) => {
                        let i = FEATURES.iter().position(|x| x == f).unwrap();
                        Column::numbers((0..users).map(|r| cols[i][(r * 7 + r / 40) % 40]))
                    }
                    Operand::User(_) => Column::strings((0..users).map(|r| plans[(r * 3 + r / 40) % 40])),
                    _ => Column::Null,
                })
                .collect(),
        };
        let (mut a, mut b) = (table.clone(), table);
        prop_assert_eq!(run(&p, &mut a), run_scalar(&p, &mut b), "{}", src);
    }
}
