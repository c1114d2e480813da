//! criterion benches for the engine's inner loops and one whole pass.
//!
//! `cargo bench --bench engine`. Timings live here and in docs/performance.md, never in tests.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::hint::black_box;
use strata_core::Config;
use strata_features::acc::UserAcc;
use strata_features::{compute, Input, Plan};
use strata_io::{EventColumns, EventSource};

const GAP: i64 = 30 * 60 * 1_000_000;

fn sessions(c: &mut Criterion) {
    // 10,000 events of one user, a few minutes apart with an occasional long gap.
    let mut ts: Vec<i64> = Vec::with_capacity(10_000);
    let mut t = 0i64;
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..10_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        t += if x % 20 == 0 { 3 * 3_600_000_000 } else { (x % 300) as i64 * 1_000_000 };
        ts.push(t);
    }
    let mut shuffled = ts.clone();
    shuffled.reverse();
    let mut g = c.benchmark_group("sessionize");
    g.throughput(Throughput::Elements(ts.len() as u64));
    g.bench_function("in_order", |b| {
        b.iter_batched(
            UserAcc::default,
            |mut a| {
                for &t in &ts {
                    a.add_to_sessions(t, GAP);
                }
                black_box(a.sessions.len())
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("reverse_order", |b| {
        b.iter_batched(
            UserAcc::default,
            |mut a| {
                for &t in &shuffled {
                    a.add_to_sessions(t, GAP);
                }
                black_box(a.sessions.len())
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("features", |b| {
        b.iter_batched(
            UserAcc::default,
            |mut a| {
                for (i, &t) in ts.iter().enumerate() {
                    a.use_feature((i % 12) as u32, t / 86_400_000_000 % 120, t / 604_800_000_000 % 20);
                }
                black_box(a.features.len())
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn whole_pass(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let s =
        strata_gen::generate(strata_gen::GenParams { users: 2_000, days: 60, seed: 1 }, dir.path()).expect("generate");
    let cfg = Config::default();
    let source =
        EventSource::open(&[dir.path().join("events.parquet")], &EventColumns::from_map(&cfg.columns)).expect("open");
    let plan = Plan::new();
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(s.events));
    g.sample_size(10);
    g.bench_function("features_2000_users_60_days", |b| {
        b.iter(|| {
            let out =
                compute(Input { source: &source, users: None, config: &cfg, as_of: None, plan: &plan, progress: None })
                    .expect("compute");
            black_box(out.table.len())
        })
    });
    g.finish();
}

criterion_group!(benches, sessions, whole_pass);
criterion_main!(benches);
