//! The single parallel pass over the events.

use crate::acc::{UserAcc, WEEKS};
use crate::grid::{self, GridCounts, GridRow, GridUser};
use crate::plan::{Agg, Plan};
use crate::quality::Counts;
use crate::EngineError;
use arrow_array::{Array, Int64Array, StringArray};
use foldhash::HashMap;
use rayon::prelude::*;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::sync::{Condvar, Mutex};
use strata_core::{AsOf, Config, MICROS_PER_DAY, MICROS_PER_WEEK};
use strata_io::{EventBatch, EventSource, KeyColumn, UserKey};

/// Hash for string session ids and account ids: fixed seed, so the same on every run.
pub(crate) fn stable_hash(s: &str) -> u64 {
    foldhash::fast::FixedState::with_seed(0x5752_4154_4153).hash_one(s)
}

/// What an event name means to the plan: the count slots it feeds, with their window
/// in days, and the activation milestones it reaches.
#[derive(Debug, Clone, Default)]
pub(crate) struct EventInfo {
    slots: Vec<(u32, i64)>,
    milestones: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Interners {
    pub user_str: HashMap<Box<str>, u32>,
    pub user_int: HashMap<i64, u32>,
    pub user_keys: Vec<UserKey>,
    pub events: HashMap<Box<str>, (u32, EventInfo)>,
    pub features: HashMap<Box<str>, u32>,
    pub feature_names: Vec<Box<str>>,
    pub accounts: HashMap<u64, Box<str>>,
}

impl Interners {
    fn user_str(&mut self, s: &str) -> u32 {
        if let Some(i) = self.user_str.get(s) {
            return *i;
        }
        self.user(UserKey::Str(s.into()))
    }

    fn user(&mut self, key: UserKey) -> u32 {
        let next = self.user_keys.len() as u32;
        let id = match &key {
            UserKey::Str(s) => *self.user_str.entry(s.clone()).or_insert(next),
            UserKey::Int(i) => *self.user_int.entry(*i).or_insert(next),
        };
        if id == next {
            self.user_keys.push(key);
        }
        id
    }
}

/// The plan compiled against the config: what each event name feeds.
#[derive(Debug)]
pub(crate) struct Compiled {
    /// Count slots: one per `EventCount` aggregate, in plan order.
    pub n_slots: usize,
    /// The slot of each plan aggregate that is an event count.
    pub slot_of_agg: Vec<Option<u32>>,
    /// Slots that count every event, with their window in days.
    pub any_slots: Vec<(u32, i64)>,
    /// The window in days of every slot.
    pub slot_days: Vec<i64>,
    /// Event name -> slots (with days) that count it.
    by_name: HashMap<String, Vec<(u32, i64)>>,
    /// Event name -> milestone bits.
    milestones: HashMap<String, u64>,
}

impl Compiled {
    pub fn new(plan: &Plan, cfg: &Config) -> Compiled {
        let mut c = Compiled {
            n_slots: 0,
            slot_of_agg: Vec::new(),
            any_slots: Vec::new(),
            slot_days: Vec::new(),
            by_name: HashMap::default(),
            milestones: HashMap::default(),
        };
        let names = plan.event_names(cfg);
        for (agg, names) in plan.aggs().iter().zip(names) {
            if let Agg::EventCount { days, .. } = agg {
                let slot = c.n_slots as u32;
                c.n_slots += 1;
                c.slot_of_agg.push(Some(slot));
                c.slot_days.push(i64::from(*days));
                match names {
                    None => c.any_slots.push((slot, i64::from(*days))),
                    Some(names) => {
                        for n in names {
                            c.by_name.entry(n).or_default().push((slot, i64::from(*days)));
                        }
                    }
                }
            } else {
                c.slot_of_agg.push(None);
            }
        }
        for (i, m) in cfg.milestones.iter().enumerate().take(64) {
            for n in cfg.event_names_for(&m.event) {
                *c.milestones.entry(n).or_default() |= 1u64 << i;
            }
        }
        c
    }

    fn info(&self, name: &str) -> EventInfo {
        EventInfo {
            slots: self.by_name.get(name).cloned().unwrap_or_default(),
            milestones: self.milestones.get(name).copied().unwrap_or(0),
        }
    }
}

/// What makes a row a duplicate of the row before it: user, time, event, feature, session.
type RowKey = (u32, i64, i32, i32, u64);

/// One snapshot's accumulators within a worker's partial result.
#[derive(Debug, Default)]
pub(crate) struct Snap {
    pub users: Vec<UserAcc>,
    pub counters: Vec<u32>,
    pub counts: Counts,
}

impl Snap {
    pub(crate) fn ensure(&mut self, n_users: usize, n_slots: usize) {
        if self.users.len() < n_users {
            self.users.resize_with(n_users, UserAcc::default);
            self.counters.resize(n_users * n_slots, 0);
        }
    }

    fn merge(&mut self, other: Snap, n_slots: usize, gap: i64) {
        self.ensure(other.users.len(), n_slots);
        // In parallel: with events in time order every user is in both workers' parts
        // (one thread merging them took 10-15 ms while the other waited).
        self.users.par_iter_mut().zip(other.users.into_par_iter()).with_min_len(1024).for_each(|(a, u)| {
            if u.n > 0 || !u.sessions.is_empty() {
                a.merge(u, gap);
            }
        });
        self.counters.par_iter_mut().zip(other.counters.into_par_iter()).with_min_len(1 << 14).for_each(|(a, b)| {
            *a += b;
        });
        self.counts.add(&other.counts);
    }
}

/// One worker's partial result: one [`Snap`] per as-of time of the scan.
#[derive(Debug, Default)]
pub(crate) struct Partial {
    pub cache: Caches,
    pub snaps: Vec<Snap>,
    /// Grid scans: every user's day records (the snapshots' users stay empty).
    pub grid: Vec<GridUser>,
    /// Grid scans: row counts by day and duplicates by snapshot.
    pub gcounts: GridCounts,
}

impl Partial {
    fn new(snapshots: usize) -> Partial {
        Partial {
            cache: Caches::default(),
            snaps: (0..snapshots).map(|_| Snap::default()).collect(),
            grid: Vec::new(),
            gcounts: GridCounts::default(),
        }
    }

    /// Room for `n_users` users in the accumulators the scan fills: the day records on a
    /// grid scan, else every snapshot's.
    fn reserve(&mut self, n_users: usize, n_slots: usize, grid: bool) {
        if grid {
            self.grid.reserve(n_users);
        } else {
            for sn in &mut self.snaps {
                sn.users.reserve(n_users);
                sn.counters.reserve(n_users * n_slots);
            }
        }
    }

    pub fn merge(&mut self, other: Partial, n_slots: usize, gap: i64) {
        for (a, b) in self.snaps.iter_mut().zip(other.snaps) {
            a.merge(b, n_slots, gap);
        }
        if self.grid.len() < other.grid.len() {
            self.grid.resize_with(other.grid.len(), GridUser::default);
        }
        self.grid.par_iter_mut().zip(other.grid.into_par_iter()).with_min_len(1024).for_each(|(a, u)| {
            if !u.days.is_empty() || !u.sessions.is_empty() {
                a.merge(u, gap);
            }
        });
        self.gcounts.add(&other.gcounts);
    }
}

/// `v` reordered so that entry `new` is the old entry `order[new]` (`order` is a
/// permutation of `0..v.len()`).
fn permute<T>(v: Vec<T>, order: &[u32]) -> Vec<T> {
    let mut old: Vec<Option<T>> = v.into_iter().map(Some).collect();
    order.iter().filter_map(|&o| old.get_mut(o as usize).and_then(Option::take)).collect()
}

/// Renumbers the users in key order, the order their rows are written in, after the
/// scan numbered them as it met them. Finishing a snapshot then reads the accumulators,
/// count slots and per-user list headers in memory order instead of at random (the
/// lists' contents stay where the scan put them; the gap sessions are copied in order
/// afterwards, `acc::SessStore`). Measured in docs/performance.md.
pub(crate) fn renumber_by_key(g: &mut Interners, part: &mut Partial, n_slots: usize) {
    let n = g.user_keys.len();
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_unstable_by(|a, b| g.user_keys[*a as usize].cmp(&g.user_keys[*b as usize]));
    let mut new_of_old = vec![0u32; n];
    for (new, &old) in order.iter().enumerate() {
        new_of_old[old as usize] = new as u32;
    }
    g.user_keys = permute(std::mem::take(&mut g.user_keys), &order);
    for v in g.user_str.values_mut().chain(g.user_int.values_mut()) {
        *v = new_of_old[*v as usize];
    }
    for sn in &mut part.snaps {
        if sn.users.is_empty() {
            continue;
        }
        sn.ensure(n, n_slots);
        sn.users.truncate(n);
        sn.users = permute(std::mem::take(&mut sn.users), &order);
        let old = std::mem::take(&mut sn.counters);
        sn.counters =
            order.iter().flat_map(|&o| &old[o as usize * n_slots..(o as usize + 1) * n_slots]).copied().collect();
    }
    if !part.grid.is_empty() {
        part.grid.resize_with(n, GridUser::default);
        part.grid.truncate(n);
        part.grid = permute(std::mem::take(&mut part.grid), &order);
    }
}

/// A scan on one day grid (see `grid`): the latest as-of time and the distinct
/// offsets of the as-of times in days before it, largest first (time order).
#[derive(Debug)]
pub(crate) struct GridPlan {
    pub t_full: i64,
    pub ks_desc: Vec<u32>,
}

pub(crate) struct Scan<'a> {
    pub source: &'a EventSource,
    pub compiled: &'a Compiled,
    /// The as-of times: every event is folded into the snapshot of each one it
    /// precedes, in this one pass.
    pub as_ofs: Vec<AsOf>,
    /// The snapshot of the latest as-of time: the only one that builds gap sessions
    /// (the others derive theirs from it when they are finished).
    pub full: usize,
    pub gap_us: i64,
    /// Set when the as-of times lie whole days apart and no row has a session id:
    /// each row is then folded once, into its user's day record.
    pub grid: Option<GridPlan>,
    pub shared: &'a Mutex<Interners>,
    pub progress: Option<&'a (dyn Fn(u64) + Sync)>,
    /// Users the scan expects to meet (the users table's): each worker reserves room
    /// for them once instead of growing its accumulators by reallocation as it meets
    /// them (copies and page faults of every doubling; see docs/performance.md).
    pub expect_users: usize,
}

impl Scan<'_> {
    /// Runs the pass: one worker per thread pulls row groups from a shared queue.
    pub fn run(&self) -> Result<Partial, EngineError> {
        let groups = self.source.row_groups();
        let next = AtomicUsize::new(0);
        let workers = rayon::current_num_threads().clamp(1, groups.len().max(1));
        let spare: Spare<Vec<EventBatch>> = Spare::default();
        let results: Vec<Result<Partial, EngineError>> = (0..workers)
            .into_par_iter()
            .map(|_| {
                let mut part = Partial::new(self.as_ofs.len());
                part.reserve(self.expect_users, self.compiled.n_slots, self.grid.is_some());
                let mut dup = DupState::default();
                let mut fold = |batch: &EventBatch, dup: &mut DupState| {
                    self.batch(&mut part, batch, dup);
                    if let Some(p) = self.progress {
                        p(batch.len() as u64);
                    }
                };
                spare.start_decoding();
                let decoded: Result<(), EngineError> = (|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(rg) = groups.get(i) else { return Ok(()) };
                    // Rows of the row group before the batch, and the window being
                    // collected for a waiting worker.
                    let mut off = 0usize;
                    let mut window: Option<usize> = None;
                    let mut given: Option<Vec<EventBatch>> = None;
                    self.source.read_row_group(*rg, |batch| {
                        if window != Some(off / DUP_WINDOW_ROWS) {
                            // A window starts with this batch (the reader's batches
                            // divide it).
                            window = Some(off / DUP_WINDOW_ROWS);
                            if let Some(w) = given.take() {
                                spare.give(w);
                            }
                            dup.reset();
                            if spare.wants() {
                                given = Some(Vec::new());
                            }
                        }
                        off += batch.len();
                        match given.as_mut() {
                            Some(w) => w.push(batch),
                            None => fold(&batch, &mut dup),
                        }
                        Ok(())
                    })?;
                    if let Some(w) = given.take() {
                        spare.give(w);
                    }
                })();
                // Always, even on an error: the workers waiting in `take` count on it.
                spare.stop_decoding();
                decoded?;
                while let Some(window) = spare.take() {
                    dup.reset();
                    for batch in &window {
                        fold(batch, &mut dup);
                    }
                }
                Ok(part)
            })
            .collect();
        // The first part is the total: merging it into an empty one was a copy of every
        // accumulator.
        let mut parts = results.into_iter();
        let mut total = match parts.next() {
            Some(first) => first?,
            None => Partial::new(self.as_ofs.len()),
        };
        for r in parts {
            total.merge(r?, self.compiled.n_slots, self.gap_us);
        }
        Ok(total)
    }

    fn batch(&self, part: &mut Partial, b: &EventBatch, dup: &mut DupState) {
        let n = b.len();
        for sn in &mut part.snaps {
            sn.counts.rows_read += n as u64;
        }
        // Resolve this batch's dictionaries to global codes under one lock each.
        let (user_ids, ev_info, feat_codes, acct_hash) = {
            let mut g = self.shared.lock().unwrap_or_else(|e| e.into_inner());
            let user_ids = match &b.user {
                KeyColumn::Dict(d) => UserIds::Dict(part.cache.users.get(&d.values, |v| {
                    (0..v.len()).map(|k| if v.is_null(k) { u32::MAX } else { g.user_str(v.value(k)) }).collect()
                })),
                KeyColumn::Int(a) => UserIds::Rows(resolve_int_users(&mut g, a)),
            };
            let ev_info = part.cache.events.get(&b.event.values, |v| {
                (0..v.len())
                    .map(|k| {
                        if v.is_null(k) {
                            return EventInfo::default();
                        }
                        let name = v.value(k);
                        if let Some((_, info)) = g.events.get(name) {
                            return info.clone();
                        }
                        let info = self.compiled.info(name);
                        let code = g.events.len() as u32;
                        g.events.insert(name.into(), (code, info.clone()));
                        info
                    })
                    .collect()
            });
            let feat_codes = b.feature.as_ref().map(|f| {
                part.cache.features.get(&f.values, |v| {
                    (0..v.len())
                        .map(|k| {
                            if v.is_null(k) {
                                return u32::MAX;
                            }
                            let name = v.value(k);
                            if let Some(c) = g.features.get(name) {
                                return *c;
                            }
                            let c = g.feature_names.len() as u32;
                            g.features.insert(name.into(), c);
                            g.feature_names.push(name.into());
                            c
                        })
                        .collect()
                })
            });
            let acct_hash = match &b.account {
                Some(KeyColumn::Dict(d)) => Some(part.cache.accounts.get(&d.values, |v| {
                    (0..v.len())
                        .map(|k| {
                            (!v.is_null(k)).then(|| {
                                let s = v.value(k);
                                let h = stable_hash(s);
                                g.accounts.entry(h).or_insert_with(|| s.into());
                                h
                            })
                        })
                        .collect()
                })),
                _ => None,
            };
            (user_ids, ev_info, feat_codes, acct_hash)
        };
        let n_users = self.shared.lock().unwrap_or_else(|e| e.into_inner()).user_keys.len();
        let n_slots = self.compiled.n_slots;
        if self.grid.is_some() {
            if part.grid.len() < n_users {
                part.grid.resize_with(n_users, GridUser::default);
            }
        } else {
            for sn in &mut part.snaps {
                sn.ensure(n_users, n_slots);
            }
        }
        let DupState { prev, gprev, seq } = dup;
        if gprev.is_empty() && prev.is_empty() {
            gprev.resize(self.grid.as_ref().map_or(0, |g| g.ks_desc.len()), None);
            prev.resize(self.as_ofs.len(), None);
        }
        if let Some(g) = &self.grid {
            if part.gcounts.dup_diff.len() < g.ks_desc.len() + 1 {
                part.gcounts.dup_diff.resize(g.ks_desc.len() + 1, 0);
            }
        }

        let ts = &b.ts;
        let ev_keys = &b.event.keys;
        let feats = match (&b.feature, &feat_codes) {
            (Some(f), Some(codes)) => {
                Some((f.keys.values(), f.keys.nulls().filter(|nb| nb.null_count() > 0), codes.as_slice()))
            }
            _ => None,
        };
        let mut int_accounts: HashMap<i64, u64> = HashMap::default();
        // Grid scans: the last row's day and its epoch (`grid::day_of` never gives
        // `u32::MAX`: it caps days at `FAR`).
        let mut epoch: (u32, usize) = (u32::MAX, 0);
        for row in 0..n {
            if ts.is_null(row) {
                for sn in &mut part.snaps {
                    sn.counts.null_timestamp += 1;
                }
                continue;
            }
            let u = match &user_ids {
                UserIds::Dict(map) => match &b.user {
                    KeyColumn::Dict(d) if d.keys.is_valid(row) => {
                        map.get(d.keys.value(row) as usize).copied().unwrap_or(u32::MAX)
                    }
                    _ => u32::MAX,
                },
                UserIds::Rows(v) => v[row],
            };
            if u == u32::MAX {
                for sn in &mut part.snaps {
                    sn.counts.null_user += 1;
                }
                continue;
            }
            let when = ts.value(row);
            // What the row is, computed once for every snapshot.
            let ek = if ev_keys.is_valid(row) { ev_keys.value(row) } else { -1 };
            let info = if ek >= 0 { ev_info.get(ek as usize) } else { None };
            // Selected without a branch: 40% of the benchmark's rows have no feature,
            // in no order a predictor learns (the mispredicted branch and what followed
            // it took about 10% of the fold's samples).
            let (feature, fk) = match &feats {
                Some((keys, nulls, codes)) => {
                    let k = keys[row];
                    let valid = nulls.is_none_or(|nb| nb.is_valid(row));
                    let code = codes.get(k as usize).copied().unwrap_or(u32::MAX);
                    (if valid { code } else { u32::MAX }, if valid { k } else { -1 })
                }
                None => (u32::MAX, -1),
            };
            let sid = session_at(&b.session, row);
            let sid_v = sid.unwrap_or(u64::MAX);
            let revenue = b.revenue.as_ref().and_then(|rev| rev.nanos(row));
            let account = b.account.as_ref().and_then(|a| match a {
                KeyColumn::Dict(d) => d
                    .keys
                    .is_valid(row)
                    .then(|| acct_hash.as_deref().and_then(|v| v.get(d.keys.value(row) as usize).copied().flatten()))
                    .flatten(),
                KeyColumn::Int(arr) => arr.is_valid(row).then(|| {
                    let v = arr.value(row);
                    *int_accounts.entry(v).or_insert_with(|| stable_hash(&v.to_string()))
                }),
            });
            let ui = u as usize;
            if let Some(gp) = &self.grid {
                if when > gp.t_full {
                    part.gcounts.after_all += 1;
                    continue;
                }
                let day = grid::day_of(gp.t_full, when);
                part.gcounts.row(day);
                let row = GridRow {
                    day,
                    ts: when,
                    milestones: info.map_or(0, |i| i.milestones),
                    slots: info.map_or(&[], |i| &i.slots),
                    feature,
                    revenue,
                    account,
                };
                part.grid[ui].fold(&row, self.gap_us);
                // Duplicates: an identical row has the same time, so the same epoch
                // (the first snapshot it belongs to). It is a duplicate in snapshot j
                // when it equals the latest row of its epoch and no row of another
                // epoch that snapshot j holds came after that one.
                let key = (u, when, ek, fk, sid_v);
                // The epoch of the day, searched once per run of rows on one day.
                if epoch.0 != day {
                    epoch = (day, gp.ks_desc.partition_point(|k| *k > day));
                }
                let e = epoch.1;
                if let Some((q, pk)) = gprev[e] {
                    if pk == key {
                        let m = gprev.len();
                        let stop =
                            (0..m).filter(|e2| *e2 != e && gprev[*e2].is_some_and(|(s2, _)| s2 > q)).min().unwrap_or(m);
                        if stop > e {
                            part.gcounts.dup_diff[e] += 1;
                            part.gcounts.dup_diff[stop] -= 1;
                        }
                    }
                }
                gprev[e] = Some((*seq, key));
                *seq += 1;
                continue;
            }
            let r = RowIn { ui, when, info, feature, sid, revenue, account, key: (u, when, ek, fk, sid_v) };
            // One snapshot (`strata features`, `strata segment`): folded without the loop
            // over snapshots, in its own copy of `fold_row`.
            if let ([sn], [t], [p]) = (&mut part.snaps[..], &self.as_ofs[..], &mut prev[..]) {
                self.fold_row(sn, *t, self.full == 0, p, &r, n_slots);
            } else {
                for (si, ((sn, t), p)) in part.snaps.iter_mut().zip(&self.as_ofs).zip(prev.iter_mut()).enumerate() {
                    self.fold_row(sn, *t, si == self.full, p, &r, n_slots);
                }
            }
        }
        if !int_accounts.is_empty() {
            let mut g = self.shared.lock().unwrap_or_else(|e| e.into_inner());
            for (v, h) in int_accounts {
                g.accounts.entry(h).or_insert_with(|| v.to_string().into());
            }
        }
    }
}

/// What one row brings to a snapshot, resolved once for all of them.
struct RowIn<'a> {
    ui: usize,
    when: i64,
    info: Option<&'a EventInfo>,
    feature: u32,
    sid: Option<u64>,
    revenue: Option<i128>,
    account: Option<u64>,
    key: RowKey,
}

impl Scan<'_> {
    /// Folds one row into snapshot `sn` (as of `t`); `sessions` when this snapshot
    /// builds the gap sessions; `prev` is the key of the row it used last.
    #[inline(always)]
    fn fold_row(
        &self,
        sn: &mut Snap,
        t: AsOf,
        sessions: bool,
        prev: &mut Option<RowKey>,
        r: &RowIn<'_>,
        n_slots: usize,
    ) {
        let when = r.when;
        if when > t.0 {
            sn.counts.after_as_of += 1;
            return;
        }
        let delta = t.0 - when;
        let day = delta / MICROS_PER_DAY;
        let week = delta / MICROS_PER_WEEK;
        let ui = r.ui;
        let acc = &mut sn.users[ui];
        acc.touch(when, day);
        if let Some(info) = r.info {
            acc.milestones |= info.milestones;
            let base = ui * n_slots;
            for &(slot, days) in &info.slots {
                if day < days {
                    sn.counters[base + slot as usize] += 1;
                }
            }
        }
        for &(slot, days) in &self.compiled.any_slots {
            if day < days {
                sn.counters[ui * n_slots + slot as usize] += 1;
            }
        }
        acc.use_feature_or_none(r.feature, day, week);
        match r.sid {
            Some(sid) => acc.add_to_id_session(sid, when),
            None => {
                acc.count_gap_event(when);
                if sessions {
                    acc.add_to_sessions(when, self.gap_us);
                }
            }
        }
        if let Some(v) = r.revenue {
            acc.revenue += v;
            if day < 30 {
                acc.revenue_30d += v;
            }
        }
        if let Some(h) = r.account {
            let cand = (when, h);
            acc.account = Some(acc.account.map_or(cand, |c| c.max(cand)));
        }
        // Duplicate rows: identical to the row just before in the same file.
        if *prev == Some(r.key) {
            sn.counts.duplicate_rows += 1;
        }
        *prev = Some(r.key);
    }
}

/// Decoded windows of batches (see [`DUP_WINDOW_ROWS`]) handed from the workers still
/// decoding to the ones that ran out of row groups. Without it the scan ended with one
/// worker folding its last row group alone (the 50,000-user benchmark file has 21 row
/// groups of 2^20 rows and a small one: one worker got a whole group more, 30-45 ms of
/// one idle core). A decoding worker gives a window away only while another waits and
/// fewer than two are queued or promised, so a helper that keeps up gets every window
/// and the decoder only decodes. Folding is commutative and duplicates are looked for
/// within a window, so who folds a window never changes the result.
struct Spare<T> {
    state: Mutex<SpareState<T>>,
    ready: Condvar,
}

impl<T> Default for Spare<T> {
    fn default() -> Self {
        Spare {
            state: Mutex::new(SpareState { queue: Default::default(), decoding: 0, waiting: 0, promised: 0 }),
            ready: Condvar::new(),
        }
    }
}

struct SpareState<T> {
    queue: std::collections::VecDeque<T>,
    /// Workers that may still offer batches. A worker counts itself in when it starts
    /// (rayon may start a worker only after another has finished), so a waiting worker
    /// only ever waits on a running one.
    decoding: usize,
    waiting: usize,
    /// Windows promised by [`Spare::wants`] and not yet given.
    promised: usize,
}

impl<T> Spare<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, SpareState<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn start_decoding(&self) {
        self.lock().decoding += 1;
    }

    fn stop_decoding(&self) {
        self.lock().decoding -= 1;
        self.ready.notify_all();
    }

    /// Whether the next window should go to a waiting worker (fewer than two queued or
    /// promised); if so it is promised, and the caller hands it over with
    /// [`Spare::give`].
    fn wants(&self) -> bool {
        let mut st = self.lock();
        if st.waiting > 0 && st.queue.len() + st.promised < 2 {
            st.promised += 1;
            true
        } else {
            false
        }
    }

    /// Queues a promised window for a waiting worker.
    fn give(&self, item: T) {
        let mut st = self.lock();
        st.promised = st.promised.saturating_sub(1);
        st.queue.push_back(item);
        drop(st);
        self.ready.notify_one();
    }

    /// The next queued window; waits while a worker is still decoding; `None` when
    /// none is queued and none can come.
    fn take(&self) -> Option<T> {
        let mut st = self.lock();
        loop {
            if let Some(b) = st.queue.pop_front() {
                return Some(b);
            }
            if st.decoding == 0 {
                return None;
            }
            st.waiting += 1;
            st = self.ready.wait(st).unwrap_or_else(|e| e.into_inner());
            st.waiting -= 1;
        }
    }
}

/// Rows of a row group that duplicates are looked for within: a row is compared with
/// the used row before it in the same window of 32,768 rows (from the row group's
/// start). The reader decodes 8,192 rows at a time (smaller buffers, reused by the
/// allocator instead of being faulted in again: docs/performance.md), and each window's
/// batches are folded in order by one worker, so the count is the one of 32,768-row
/// batches whatever the decoder's batch size and whoever folds them.
const DUP_WINDOW_ROWS: usize = 1 << 15;
const _: () = assert!(DUP_WINDOW_ROWS % strata_io::BATCH_ROWS == 0, "the reader's batches must divide a window");

/// The rows last used, carried from batch to batch within a duplicate window.
#[derive(Debug, Default)]
pub(crate) struct DupState {
    /// Per snapshot.
    prev: Vec<Option<RowKey>>,
    /// Grid scans: per epoch, with the row's sequence number in the window.
    gprev: Vec<Option<(u64, RowKey)>>,
    seq: u64,
}

impl DupState {
    fn reset(&mut self) {
        self.prev.clear();
        self.gprev.clear();
        self.seq = 0;
    }
}

fn session_at(col: &Option<KeyColumn>, row: usize) -> Option<u64> {
    match col.as_ref()? {
        KeyColumn::Int(a) => a.is_valid(row).then(|| a.value(row) as u64),
        KeyColumn::Dict(d) => {
            if !d.keys.is_valid(row) {
                return None;
            }
            let k = d.keys.value(row) as usize;
            (!d.values.is_null(k)).then(|| stable_hash(d.values.value(k)))
        }
    }
}

/// Global user index of every row of an integer id column (`u32::MAX` for null).
fn resolve_int_users(g: &mut Interners, a: &Int64Array) -> Vec<u32> {
    // Called under the lock: one hash per row into a batch-local cache.
    let mut cache: HashMap<i64, u32> = HashMap::default();
    (0..a.len())
        .map(|r| {
            if a.is_null(r) {
                return u32::MAX;
            }
            let v = a.value(r);
            *cache.entry(v).or_insert_with(|| g.user(UserKey::Int(v)))
        })
        .collect()
}

enum UserIds {
    /// Per dictionary value.
    Dict(Arc<Vec<u32>>),
    /// Per row.
    Rows(Vec<u32>),
}

/// The global codes of one dictionary's values, kept while the decoder hands out
/// batches that share the dictionary (every batch of a dictionary-encoded row group).
/// The cached array is held, so its buffers cannot be freed and reused by another
/// dictionary while the pointers serve as its identity.
#[derive(Debug)]
pub(crate) struct DictCache<T> {
    held: Option<StringArray>,
    map: Arc<Vec<T>>,
}

impl<T> Default for DictCache<T> {
    fn default() -> Self {
        DictCache { held: None, map: Arc::new(Vec::new()) }
    }
}

impl<T> DictCache<T> {
    fn get(&mut self, values: &StringArray, build: impl FnOnce(&StringArray) -> Vec<T>) -> Arc<Vec<T>> {
        let same = self.held.as_ref().is_some_and(|h| {
            h.len() == values.len()
                && h.offsets().as_ptr() == values.offsets().as_ptr()
                && h.values().as_ptr() == values.values().as_ptr()
        });
        if !same {
            self.map = Arc::new(build(values));
            self.held = Some(values.clone());
        }
        self.map.clone()
    }
}

/// One worker's dictionary caches.
#[derive(Debug, Default)]
pub(crate) struct Caches {
    users: DictCache<u32>,
    events: DictCache<EventInfo>,
    features: DictCache<u32>,
    accounts: DictCache<Option<u64>>,
}

/// Number of weeks the per-week features cover.
pub(crate) const N_WEEKS: usize = WEEKS as usize;

#[cfg(test)]
mod tests {
    use super::Spare;

    fn waiting(s: &Spare<i64>) -> usize {
        s.lock().waiting
    }

    /// Windows are given away only while a worker waits and fewer than two are queued
    /// or promised; every window given away reaches a waiting worker; waiting ends when
    /// the last decoder stops.
    #[test]
    fn spare_windows_go_to_waiting_workers_only() {
        let spare: Spare<i64> = Spare::default();
        spare.start_decoding();
        // Nobody waits: the window stays here.
        assert!(!spare.wants());
        std::thread::scope(|s| {
            let helper = s.spawn(|| {
                let mut got = Vec::new();
                while let Some(b) = spare.take() {
                    got.push(b);
                }
                got
            });
            while waiting(&spare) == 0 {
                std::thread::yield_now();
            }
            assert!(spare.wants(), "a worker waits: the window is promised");
            spare.give(2);
            // Once the helper has folded that window it waits again.
            while waiting(&spare) == 0 {
                std::thread::yield_now();
            }
            assert!(spare.wants());
            spare.give(3);
            spare.stop_decoding();
            assert_eq!(helper.join().unwrap(), vec![2, 3]);
        });
        // No decoder left: `take` does not wait.
        assert!(spare.take().is_none());
    }

    /// At most two windows are queued or promised; the rest stay with their decoder.
    #[test]
    fn spare_queue_holds_two() {
        let spare: Spare<i64> = Spare::default();
        spare.start_decoding();
        spare.lock().waiting = 1; // as if a worker were waiting
        assert!(spare.wants());
        assert!(spare.wants());
        assert!(!spare.wants(), "two promised: no third");
        spare.give(1);
        assert!(!spare.wants(), "one queued, one promised");
        spare.give(2);
        assert!(!spare.wants(), "two queued");
        spare.lock().waiting = 0;
        spare.stop_decoding();
        assert_eq!(spare.take(), Some(1));
        assert_eq!(spare.take(), Some(2));
        assert!(spare.take().is_none());
    }
}
