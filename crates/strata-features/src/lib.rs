//! The strata event engine: Parquet events in, one row of features per user out.
//!
//! The principal entry point is [`compute`], which takes an opened
//! [`strata_io::EventSource`], the optional users table, the [`strata_core::Config`]
//! and a [`Plan`] of run-time aggregates, and makes one parallel pass over the row
//! groups. Each worker folds rows into per-user accumulators ([`acc::UserAcc`])
//! whose updates commute, so the result is the same whatever the thread count; the
//! partials are merged and turned into a [`FeatureTable`] plus the plan's aggregate
//! values and a [`DataQuality`] summary.
//!
//! Memory grows with users (and their sessions and features), never with events.

pub mod acc;
mod engine;
mod finalize;
mod grid;
pub mod plan;
pub mod quality;
pub mod table;

pub use plan::{Agg, AggId, Plan, PlanError, SIGNAL_COLUMNS};
pub use quality::DataQuality;
pub use table::{Column, FeatureTable};

use engine::{Compiled, Interners, Scan};
use foldhash::HashMap;
use rayon::prelude::*;
use std::sync::Mutex;
use strata_core::{AsOf, Config, MICROS_PER_DAY};
use strata_io::{EventSource, IoError, UserKey, UsersTable};

/// What can stop the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Reading the input failed.
    #[error(transparent)]
    Io(Box<IoError>),
    /// There is nothing to take the as-of time from.
    #[error("the events have no row with a timestamp and the users table no signup_at, so there is no default as-of time; pass --as-of")]
    NoAsOf,
    /// The users table and the events disagree on the kind of user id.
    #[error("user_id is {events} in the events but {users} in the users table; use one kind of id in both")]
    KeyKinds {
        /// Kind in the events.
        events: &'static str,
        /// Kind in the users table.
        users: &'static str,
    },
}

impl From<IoError> for EngineError {
    fn from(e: IoError) -> Self {
        EngineError::Io(Box::new(e))
    }
}

/// One row of the output before features: id, accumulator, signup, table account.
struct OutUser<'a> {
    key: UserKey,
    /// Its row in the users table, if it has one.
    row: Option<usize>,
    idx: Option<usize>,
    signup: Option<i64>,
    account: Option<&'a str>,
}

/// Everything [`compute`] needs.
#[derive(Clone, Copy)]
pub struct Input<'a> {
    /// The events.
    pub source: &'a EventSource,
    /// The users table, if any.
    pub users: Option<&'a UsersTable>,
    /// The config.
    pub config: &'a Config,
    /// The as-of time; `None` means the latest event timestamp.
    pub as_of: Option<AsOf>,
    /// The aggregates to compute beside the default features.
    pub plan: &'a Plan,
    /// Called with the number of rows of each decoded batch.
    pub progress: Option<&'a (dyn Fn(u64) + Sync)>,
}

impl std::fmt::Debug for Input<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input").field("as_of", &self.as_of).field("plan", &self.plan).finish()
    }
}

/// The engine's result.
#[derive(Debug)]
pub struct Output {
    /// The as-of time used.
    pub as_of: AsOf,
    /// The default feature table (docs/features.md).
    pub table: FeatureTable,
    /// For each row of `table`: its row in the users table (an index into
    /// `UsersTable::keys`), if it has one.
    pub users_row: Vec<Option<usize>>,
    /// One column per aggregate of the plan, in plan order, aligned with `table`.
    pub aggs: Vec<Vec<f64>>,
    /// The data-quality summary.
    pub quality: DataQuality,
    /// Seconds since the start of the pass at the end of each phase (for `STRATA_TRACE`).
    pub timings: Vec<(&'static str, f64)>,
    /// Every feature name seen, indexed by the codes in `features_used`.
    pub feature_names: Vec<String>,
    /// Per user (in `table` order): the catalog features used at or before the as-of
    /// time, as sorted codes into `feature_names`.
    pub features_used: FeatureSets,
}

/// Per user, a sorted list of feature codes, all in one buffer (one allocation per
/// snapshot instead of one per user: 18 weekly snapshots of 50,000 users spent 1.5% of
/// their CPU on the per-user lists).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeatureSets {
    /// User `r`'s codes are `codes[ends[r - 1]..ends[r]]` (from 0 for the first).
    ends: Vec<usize>,
    codes: Vec<u32>,
}

impl FeatureSets {
    /// User `r`'s codes (empty past the end).
    pub fn get(&self, r: usize) -> &[u32] {
        let start = if r == 0 { 0 } else { self.ends.get(r - 1).copied().unwrap_or(self.codes.len()) };
        let end = self.ends.get(r).copied().unwrap_or(start);
        &self.codes[start..end]
    }

    /// How many users.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are no users.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Every user's codes as its own list.
    pub fn to_vecs(&self) -> Vec<Vec<u32>> {
        (0..self.len()).map(|r| self.get(r).to_vec()).collect()
    }
}

/// The names of the default feature table's columns (after `user_id`), in order.
pub fn feature_names() -> Vec<String> {
    finalize::layout().into_iter().map(|(n, _)| n).collect()
}

/// The latest event timestamp: row-group statistics where they are exact, else a
/// pass over the timestamp column alone.
pub fn latest_event_time(source: &EventSource) -> Result<Option<i64>, EngineError> {
    let groups = source.row_groups();
    let maxes: Result<Vec<Option<i64>>, IoError> = groups
        .par_iter()
        .map(|rg| {
            if let Some(m) = source.row_group_max_ts(*rg) {
                return Ok(Some(m));
            }
            let mut best: Option<i64> = None;
            source.read_row_group_ts(*rg, |ts| {
                if let Some(m) = arrow_arith_max(&ts) {
                    best = Some(best.map_or(m, |b: i64| b.max(m)));
                }
                Ok(())
            })?;
            Ok(best)
        })
        .collect();
    Ok(maxes?.into_iter().flatten().max())
}

/// The earliest and latest event timestamps: row-group statistics where they are
/// exact, else a pass over the timestamp column alone.
pub fn event_time_range(source: &EventSource) -> Result<Option<(i64, i64)>, EngineError> {
    let groups = source.row_groups();
    let ranges: Result<Vec<Option<(i64, i64)>>, IoError> = groups
        .par_iter()
        .map(|rg| {
            if let (Some(lo), Some(hi)) = (source.row_group_min_ts(*rg), source.row_group_max_ts(*rg)) {
                return Ok(Some((lo, hi)));
            }
            let mut best: Option<(i64, i64)> = None;
            source.read_row_group_ts(*rg, |ts| {
                use arrow_array::Array;
                for i in (0..ts.len()).filter(|i| ts.is_valid(*i)) {
                    let v = ts.value(i);
                    best = Some(best.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))));
                }
                Ok(())
            })?;
            Ok(best)
        })
        .collect();
    Ok(ranges?.into_iter().flatten().reduce(|a, b| (a.0.min(b.0), a.1.max(b.1))))
}

fn arrow_arith_max(a: &arrow_array::Int64Array) -> Option<i64> {
    use arrow_array::Array;
    (0..a.len()).filter(|i| a.is_valid(*i)).map(|i| a.value(i)).max()
}

/// Runs the engine.
pub fn compute(input: Input<'_>) -> Result<Output, EngineError> {
    let (as_of, source) = resolve_as_of(&input)?;
    let mut outs = compute_many(input, &[(as_of, source)])?;
    outs.pop().ok_or(EngineError::NoAsOf)
}

/// The as-of time of `input` and where it came from.
pub fn resolve_as_of(input: &Input<'_>) -> Result<(AsOf, &'static str), EngineError> {
    Ok(match input.as_of {
        Some(t) => (t, "--as-of"),
        None => match latest_event_time(input.source)? {
            Some(t) => (AsOf(t), "latest event"),
            None => match input.users.and_then(|u| u.signup.iter().flatten().max().copied()) {
                Some(t) => (AsOf(t), "latest signup (no events)"),
                None => return Err(EngineError::NoAsOf),
            },
        },
    })
}

/// Runs the engine for several as-of times in **one** pass over the events: each event
/// is decoded once and folded into the accumulators of every snapshot it precedes.
/// Returns one [`Output`] per as-of time, in the order given; each is exactly what
/// [`compute`] gives for that time alone (`input.as_of` is ignored).
pub fn compute_many(input: Input<'_>, as_ofs: &[(AsOf, &'static str)]) -> Result<Vec<Output>, EngineError> {
    compute_each(input, as_ofs, &|out| out)
}

/// [`compute_many`], handing each snapshot's [`Output`] to `each` as soon as it is
/// finished (snapshots are finished side by side, so `each` runs on several threads)
/// and returning what `each` gives, in the order of `as_ofs`. A caller that reduces a
/// snapshot to something smaller keeps only a few feature tables in memory at once
/// (18 weekly snapshots of 50,000 users held 1.9 GB at their peak all together).
pub fn compute_each<T: Send>(
    input: Input<'_>,
    as_ofs: &[(AsOf, &'static str)],
    each: &(dyn Fn(Output) -> T + Sync),
) -> Result<Vec<T>, EngineError> {
    let cfg = input.config;
    // The default plan first, so its aggregates keep fixed ids; the caller's after.
    let mut plan = Plan::default_features();
    let mut caller_ids = Vec::with_capacity(input.plan.aggs().len());
    for a in input.plan.aggs() {
        // The caller's plan validated these already.
        caller_ids.push(plan.add(a.clone()).map_or(0, |id| id.0));
    }
    let t0 = std::time::Instant::now();
    let compiled = Compiled::new(&plan, cfg);
    let shared = Mutex::new(Interners::default());
    // The latest as-of time (the first of equals): its snapshot builds the gap sessions.
    let full = (0..as_ofs.len()).rev().max_by_key(|i| as_ofs[*i].0 .0).unwrap_or(0);
    let times: Vec<i64> = as_ofs.iter().map(|(t, _)| t.0).collect();
    // One fold per row when the as-of times lie whole days apart (`grid`); rows with a
    // session id keep one fold per snapshot (their sessions are per snapshot).
    let offsets = if as_ofs.len() > 1 && !input.source.has_column("session_id") { grid::offsets(&times) } else { None };
    let grid_plan = offsets.as_ref().map(|ks| {
        let mut ks_desc = ks.clone();
        ks_desc.sort_unstable_by(|a, b| b.cmp(a));
        ks_desc.dedup();
        engine::GridPlan { t_full: times.iter().copied().max().unwrap_or(0), ks_desc }
    });
    let scan = Scan {
        source: input.source,
        compiled: &compiled,
        as_ofs: as_ofs.iter().map(|(t, _)| *t).collect(),
        full,
        gap_us: cfg.session_gap_secs * 1_000_000,
        grid: grid_plan,
        shared: &shared,
        progress: input.progress,
        expect_users: input.users.map_or(0, |u| u.keys.len()),
    };
    let mut part = scan.run()?;
    let grid_plan = scan.grid;
    let scan_secs = t0.elapsed().as_secs_f64();
    let mut g = shared.into_inner().unwrap_or_else(|e| e.into_inner());
    // Several snapshots read every user several times: worth putting them in the order
    // they are read. One snapshot reads each once: `strata features` measured no gain
    // from it, so it skips the sort.
    if as_ofs.len() > 1 {
        engine::renumber_by_key(&mut g, &mut part, compiled.n_slots);
    }
    // Snapshots are finished side by side: each is independent of the others, so the
    // result is the same whatever the thread count (18 weekly snapshots of 50,000 users:
    // 3.2 s one after another).
    let mut snaps = part.snaps;
    let mut grid_users = part.grid;
    let gcounts = part.gcounts;
    // Only the latest snapshot built gap sessions (or the grid, for every user): every
    // snapshot reads its own from them (`UserAcc::sessions_at`).
    let lists: Vec<Vec<acc::Sess>> = if grid_plan.is_some() {
        grid_users.iter_mut().map(|u| std::mem::take(&mut u.sessions)).collect()
    } else {
        snaps
            .get_mut(full)
            .map(|s| s.users.iter_mut().map(|u| std::mem::take(&mut u.sessions)).collect())
            .unwrap_or_default()
    };
    // One snapshot reads each user's sessions once anyway: no cut points needed, and
    // no copy into one buffer.
    let full_sessions = if times.len() > 1 { acc::SessStore::flat(lists) } else { acc::SessStore::Lists(lists) };
    let cuts = if times.len() > 1 { finalize::session_cuts(&full_sessions, &times) } else { vec![Vec::new()] };
    let grid_ctx = grid_plan.as_ref().zip(offsets.as_ref());
    let ctx = Finish {
        input: &input,
        plan: &plan,
        compiled: &compiled,
        caller_ids: &caller_ids,
        g: &g,
        started: t0,
        full_sessions: &full_sessions,
        roster: &roster(input.users, &g),
    };
    let n_slots = compiled.n_slots;
    let n_users = g.user_keys.len();
    if let Some((gp, ks)) = grid_ctx {
        // Snapshots in time order, taken one at a time from a shared queue by one chain
        // per thread: each chain reads its snapshots from the day records in time order,
        // each from the one it read before (`grid::Chain`, passing over the records of
        // the snapshots the other chains took), so a user's records are read about once
        // per chain, and whichever thread is free takes the next snapshot (fixed runs,
        // two per thread, ended about 0.1 s apart on the benchmark).
        let mut order: Vec<usize> = (0..as_ofs.len()).collect();
        order.sort_by_key(|i| (std::cmp::Reverse(ks[*i]), *i));
        let counts: Vec<quality::Counts> = snaps.into_iter().map(|s| s.counts).collect();
        grid_users.par_iter_mut().for_each(grid::GridUser::compact_accounts);
        let next = std::sync::atomic::AtomicUsize::new(0);
        let n_chains = rayon::current_num_threads().clamp(1, order.len().max(1));
        let runs: Vec<Vec<(usize, Result<T, EngineError>)>> = (0..n_chains)
            .into_par_iter()
            .map(|_| {
                let mut chain = grid::Chain::new(n_users, n_slots);
                let mut out = Vec::new();
                while let Some(&i) = order.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) {
                    let k = ks[i];
                    chain.advance(&grid_users, k, &compiled.slot_days, &compiled.any_slots);
                    let mut counts = counts[i].clone();
                    counts.after_as_of = gcounts.after(k);
                    let j = gp.ks_desc.iter().position(|x| *x == k).unwrap_or(0);
                    counts.duplicate_rows = gcounts.duplicates(j);
                    let part = SnapIn { users: &chain.accs, counters: &chain.counters, counts: &counts };
                    let (as_of, source) = as_ofs[i];
                    out.push((i, ctx.finish(part, as_of, source, scan_secs, &cuts[i]).map(each)));
                }
                out
            })
            .collect();
        // Every user's day records freed on every thread (one free per user and list:
        // 5-10 ms on the calling thread alone while the other waited).
        grid_users.into_par_iter().with_min_len(2048).for_each(drop);
        let mut all: Vec<(usize, Result<T, EngineError>)> = runs.into_iter().flatten().collect();
        all.sort_by_key(|e| e.0);
        return all.into_iter().map(|e| e.1).collect();
    }
    snaps
        .into_par_iter()
        .zip(as_ofs.par_iter())
        .enumerate()
        .map(|(i, (mut snap, (as_of, source)))| {
            snap.ensure(n_users, n_slots);
            let part = SnapIn { users: &snap.users, counters: &snap.counters, counts: &snap.counts };
            let out = ctx.finish(part, *as_of, source, scan_secs, &cuts[i]);
            // Freed on every thread: each user's lists are one free each (about 8 ms on
            // one thread for the benchmark's 50,000 users while the other waited).
            std::mem::take(&mut snap.users).into_par_iter().with_min_len(4096).for_each(drop);
            out.map(each)
        })
        .collect()
}

/// One snapshot's accumulators as [`Finish::finish`] reads them: a user's at its index,
/// every user's there.
struct SnapIn<'a> {
    users: &'a [acc::UserAcc],
    /// `n_slots` per user.
    counters: &'a [u32],
    counts: &'a quality::Counts,
}

/// Everyone who may get a row, in key order, once per pass (a snapshot keeps those
/// present at its time; hashing every users-table key and sorting the rows by key once
/// per snapshot was about 5 ms of each): the users table's rows with their
/// accumulator, if any, then (merged in key order) the users seen only in the events.
fn roster(users: Option<&UsersTable>, g: &Interners) -> Vec<(Option<usize>, Option<usize>)> {
    let mut in_table = vec![false; g.user_keys.len()];
    let mut v: Vec<(Option<usize>, Option<usize>)> = Vec::new();
    if let Some(u) = users {
        for (i, k) in u.keys.iter().enumerate() {
            let idx = match k {
                UserKey::Str(s) => g.user_str.get(s).map(|i| *i as usize),
                UserKey::Int(i) => g.user_int.get(i).map(|i| *i as usize),
            };
            if let Some(ix) = idx {
                in_table[ix] = true;
            }
            v.push((Some(i), idx));
        }
    }
    v.extend((0..g.user_keys.len()).filter(|ix| !in_table[*ix]).map(|ix| (None, Some(ix))));
    let key = |e: &(Option<usize>, Option<usize>)| -> Option<&UserKey> {
        match (e, users) {
            ((Some(i), _), Some(u)) => u.keys.get(*i),
            ((_, Some(ix)), _) => g.user_keys.get(*ix),
            _ => None,
        }
    };
    v.sort_unstable_by(|a, b| key(a).cmp(&key(b)));
    v
}

struct Finish<'a, 'i> {
    input: &'a Input<'i>,
    plan: &'a Plan,
    compiled: &'a Compiled,
    caller_ids: &'a [usize],
    g: &'a Interners,
    /// When the pass started: every timing is counted from it.
    started: std::time::Instant,
    /// Every user's gap sessions up to the latest as-of time.
    full_sessions: &'a acc::SessStore,
    /// Everyone who may get a row (see [`roster`]).
    roster: &'a [(Option<usize>, Option<usize>)],
}

impl Finish<'_, '_> {
    /// Turns one snapshot's accumulators into its feature table.
    fn finish(
        &self,
        part: SnapIn<'_>,
        as_of: AsOf,
        as_of_source: &str,
        scan_secs: f64,
        cuts: &[finalize::Cut],
    ) -> Result<Output, EngineError> {
        let Finish { input, plan, compiled, caller_ids, g, started, full_sessions, roster } = *self;
        let input = *input;
        let cfg = input.config;
        let t0 = started;
        let mut timings: Vec<(&'static str, f64)> =
            vec![("scan", scan_secs), ("finish started", t0.elapsed().as_secs_f64())];
        let n_slots = compiled.n_slots;

        let string_keys = match input.users {
            Some(u) if !u.keys.is_empty() => {
                let users_str = matches!(u.keys[0], UserKey::Str(_));
                if !g.user_keys.is_empty() && users_str != input.source.string_users() {
                    let kind = |s: bool| if s { "a string" } else { "an integer" };
                    return Err(EngineError::KeyKinds {
                        events: kind(input.source.string_users()),
                        users: kind(users_str),
                    });
                }
                users_str
            }
            _ => input.source.string_users(),
        };

        // Who gets a row.
        let mut q = DataQuality {
            as_of: as_of.to_rfc3339(),
            as_of_source: as_of_source.to_string(),
            event_files: input.source.paths().iter().map(|p| p.display().to_string()).collect(),
            ..DataQuality::default()
        };
        let mut out_users: Vec<OutUser> = Vec::with_capacity(roster.len());
        if let Some(u) = input.users {
            q.users_files = u.paths.iter().map(|p| p.display().to_string()).collect();
            q.users_rows_null_id = u.skipped_null_user;
        }
        let n_of = |idx: Option<usize>| idx.map_or(0, |ix| part.users[ix].n);
        for &(row, idx) in roster {
            match (row, input.users) {
                (Some(i), Some(u)) => {
                    let signup = u.signup[i];
                    if signup.is_some_and(|s| s > as_of.0) {
                        q.users_signing_up_after_as_of += 1;
                        q.events_before_signup += n_of(idx);
                        continue;
                    }
                    if n_of(idx) == 0 {
                        q.users_without_events += 1;
                    }
                    let account = u.account[i].as_deref();
                    out_users.push(OutUser { key: u.keys[i].clone(), row: Some(i), idx, signup, account });
                }
                _ => {
                    let Some(ix) = idx.filter(|ix| part.users[*ix].n > 0) else { continue };
                    if input.users.is_some() {
                        q.users_missing_from_users_table += 1;
                    }
                    out_users.push(OutUser {
                        key: g.user_keys[ix].clone(),
                        row: None,
                        idx,
                        signup: None,
                        account: None,
                    });
                }
            }
        }

        timings.push(("who", t0.elapsed().as_secs_f64()));
        // The feature catalog.
        let mut in_catalog = vec![false; g.feature_names.len()];
        let mut seen = vec![false; g.feature_names.len()];
        for a in part.users {
            for f in &a.features {
                seen[f.code as usize] = true;
            }
        }
        q.features_seen = seen.iter().filter(|s| **s).count() as u64;
        let catalog_size = match &cfg.catalog {
            Some(cat) => {
                for (i, name) in g.feature_names.iter().enumerate() {
                    in_catalog[i] = cat.binary_search_by(|c| c.as_str().cmp(name)).is_ok();
                }
                cat.len()
            }
            None => {
                in_catalog.copy_from_slice(&seen);
                q.features_seen as usize
            }
        };
        q.catalog_size = catalog_size as u64;
        for c in ["session_id", "feature", "account_id", "revenue"] {
            if !input.source.has_column(c) {
                q.missing_optional_columns.push(c.to_string());
            }
        }

        let ctx = finalize::RowCtx {
            t: as_of,
            plan,
            compiled,
            cfg,
            in_catalog: &in_catalog,
            catalog_size,
            has_revenue: input.source.has_column("revenue"),
            slots: finalize::slot_counts().map(|(k, d)| finalize::slot_for(plan, compiled, k, d)),
            base_median: input.plan.keeps_column("baseline_weekly_sessions_median"),
            longest_streak: input.plan.keeps_column("longest_streak_days_84d"),
        };
        let empty = acc::UserAcc::default();
        let zero = vec![0u32; n_slots];
        let n_aggs = plan.aggs().len();
        let keep = finalize::Keep::new(|name| input.plan.keeps_column(name));
        let blocks: Vec<finalize::Block> = out_users
            .par_chunks(finalize::BLOCK)
            .map(|chunk| {
                let mut block = finalize::Block::new(chunk.len(), &keep, n_aggs);
                let mut scratch = finalize::Scratch::default();
                let mut aggs = vec![0.0; n_aggs];
                for (r, u) in chunk.iter().enumerate() {
                    let row = match u.idx {
                        Some(ix) => {
                            let c = &part.counters[ix * n_slots..(ix + 1) * n_slots];
                            let full = full_sessions.get(ix);
                            let user = finalize::UserIn {
                                acc: &part.users[ix],
                                full,
                                counters: c,
                                signup: u.signup,
                                cut: cuts.get(ix).copied(),
                            };
                            finalize::row(&ctx, &user, &mut scratch, &mut aggs)
                        }
                        None => {
                            let user = finalize::UserIn {
                                acc: &empty,
                                full: &[],
                                counters: &zero,
                                signup: u.signup,
                                cut: None,
                            };
                            finalize::row(&ctx, &user, &mut scratch, &mut aggs)
                        }
                    };
                    block.put(r, &row, &aggs, &keep);
                }
                block
            })
            .collect();

        timings.push(("rows", t0.elapsed().as_secs_f64()));
        // Accounts: the users table's, else the account of the user's latest event.
        let accounts: Vec<Option<&str>> = if !keep.accounts {
            Vec::new()
        } else {
            out_users
                .iter()
                .map(|u| {
                    u.account.or_else(|| {
                        u.idx.and_then(|ix| part.users[ix].account).and_then(|(_, h)| g.accounts.get(&h)).map(|s| &**s)
                    })
                })
                .collect()
        };
        let mut per_account: HashMap<&str, [i64; 3]> = HashMap::default();
        // Empty unless an account-users column is kept (then `accounts` is not empty).
        let since_last = keep.since_last.into_iter().flat_map(|k| blocks.iter().flat_map(move |b| b.float(k)));
        for (since, a) in since_last.zip(&accounts) {
            if let Some(a) = a {
                let e = per_account.entry(a).or_insert([0; 3]);
                e[0] += 1;
                if since.is_some_and(|d| d < 7.0) {
                    e[1] += 1;
                }
                if since.is_some_and(|d| d < 30.0) {
                    e[2] += 1;
                }
            }
        }
        let account_users: Vec<[Option<i64>; 3]> = if !keep.account_users {
            Vec::new()
        } else {
            accounts
                .iter()
                .map(|a| match a.and_then(|a| per_account.get(a)) {
                    Some(v) => [Some(v[0]), Some(v[1]), Some(v[2])],
                    None => [None; 3],
                })
                .collect()
        };

        let columns = finalize::columns(&blocks, &keep, &accounts, &account_users);
        let sets = input.plan.wants_feature_sets();
        let mut features_used =
            FeatureSets { ends: Vec::with_capacity(if sets { out_users.len() } else { 0 }), codes: Vec::new() };
        for u in out_users.iter().filter(|_| sets) {
            if let Some(ix) = u.idx {
                let fs = part.users[ix].features.iter().filter(|f| in_catalog[f.code as usize]);
                features_used.codes.extend(fs.map(|f| f.code));
            }
            features_used.ends.push(features_used.codes.len());
        }
        timings.push(("scan + finalize", t0.elapsed().as_secs_f64()));
        let aggs: Vec<Vec<f64>> = caller_ids.iter().map(|&id| finalize::agg_column(&blocks, id)).collect();
        let c = part.counts;
        q.rows_read = c.rows_read;
        q.rows_skipped = quality::Skipped {
            null_user_id: c.null_user,
            null_timestamp: c.null_timestamp,
            after_as_of: c.after_as_of,
        };
        q.rows_used = c.rows_read - c.null_user - c.null_timestamp - c.after_as_of;
        q.duplicate_rows = c.duplicate_rows;
        q.users_out = out_users.len() as u64;
        let _ = MICROS_PER_DAY;
        let users_row = out_users.iter().map(|u| u.row).collect();
        Ok(Output {
            as_of,
            users_row,
            table: FeatureTable { keys: out_users.into_iter().map(|u| u.key).collect(), string_keys, columns },
            aggs,
            quality: q,
            timings,
            feature_names: g.feature_names.iter().map(|s| s.to_string()).collect(),
            features_used,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::FeatureSets;

    #[test]
    fn feature_sets_give_each_user_its_own_codes() {
        let sets = FeatureSets { ends: vec![2, 2, 5], codes: vec![1, 4, 0, 2, 7] };
        assert_eq!(sets.len(), 3);
        assert_eq!(sets.get(0), &[1, 4]);
        assert!(sets.get(1).is_empty());
        assert_eq!(sets.get(2), &[0, 2, 7]);
        assert!(sets.get(3).is_empty());
        assert_eq!(sets.to_vecs(), vec![vec![1, 4], vec![], vec![0, 2, 7]]);
        assert!(FeatureSets::default().is_empty());
    }
}
