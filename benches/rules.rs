//! The default rules (8 scores, 37 segments) evaluated over 1,000,000 users, after the
//! features: issue #3 asks for under 1 second on 2 cores.
//!
//! `RAYON_NUM_THREADS=2 cargo bench --bench rules`. The operand values are drawn from
//! plausible ranges with a fixed seed (null ~5% of the time for nullable features); the
//! cost of evaluation does not depend on where the values came from.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use strata_rules::{compile, parse, run, with_default_scores, Column, Names, Operand, Program, Table, DEFAULT_RULES};

const USERS: usize = 1_000_000;

fn program() -> Program {
    let (file, d) = parse(DEFAULT_RULES);
    assert!(d.is_empty());
    let names = Names { features: strata_features::feature_names(), scores: Vec::new() };
    compile(&with_default_scores(file), &names).unwrap_or_default()
}

fn table(p: &Program) -> Table {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let cols = p
        .operands
        .iter()
        .map(|op| match op {
            Operand::User(a) if a == "plan" || a == "role" => {
                let vals = ["free", "trial", "basic", "pro", "enterprise"];
                let picks: Vec<usize> = (0..USERS).map(|_| (next() % 5) as usize).collect();
                Column::strings(picks.iter().map(|i| Some(vals[*i])))
            }
            Operand::TotalFeatures => Column::Const(12.0),
            _ => Column::numbers((0..USERS).map(|_| {
                let r = next();
                (r % 20 != 0).then(|| (r >> 8) as f64 % 1000.0 / 100.0 - 1.0)
            })),
        })
        .collect();
    Table { rows: USERS, cols }
}

fn default_rules(c: &mut Criterion) {
    let p = program();
    let base = table(&p);
    let mut g = c.benchmark_group("rules");
    g.sample_size(10);
    g.throughput(Throughput::Elements(USERS as u64));
    g.bench_function("default_rules_1m_users", |b| {
        b.iter_batched_ref(|| base.clone(), |t| run(&p, t), criterion::BatchSize::LargeInput)
    });
    g.finish();
}

criterion_group!(benches, default_rules);
criterion_main!(benches);
