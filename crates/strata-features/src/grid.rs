//! Several snapshots from one fold per row, when the as-of times lie on one day grid.
//!
//! `--every 7d` gives as-of times whole days apart. Then every window of every snapshot
//! ("the last N days before T") is a range of whole days counted back from the latest
//! as-of time, so each row is folded once, into its user's record of that day, and each
//! snapshot is read from the records afterwards ([`Chain`]). Without
//! the grid each row was folded into every snapshot it precedes (2.4 s of a 5.5 s run
//! for 18 weekly snapshots of 50,000 users). Rows with a `session_id` keep that path.

use crate::acc::{coalesce, insert_point, Sess, UserAcc, DAY_BITS};
use strata_core::MICROS_PER_DAY;

/// Days are clamped here: nothing a snapshot computes looks that far back.
const FAR: u32 = u32::MAX / 2;

/// The whole days from `ts` back to the latest as-of time `t_full` (`ts <= t_full`).
#[inline]
pub(crate) fn day_of(t_full: i64, ts: i64) -> u32 {
    u32::try_from((t_full - ts) / MICROS_PER_DAY).map_or(FAR, |d| d.min(FAR))
}

/// One user's events on one day of the grid.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DayRec {
    /// Whole days before the latest as-of time.
    pub day: u32,
    pub n: u32,
    pub min_ts: i64,
    pub max_ts: i64,
    pub milestones: u64,
    /// Features with codes below 64 used that day, as bits.
    pub feats: u64,
}

impl DayRec {
    fn new(day: u32, ts: i64) -> DayRec {
        DayRec { day, n: 0, min_ts: ts, max_ts: ts, milestones: 0, feats: 0 }
    }

    fn absorb(&mut self, o: &DayRec) {
        self.n += o.n;
        self.min_ts = self.min_ts.min(o.min_ts);
        self.max_ts = self.max_ts.max(o.max_ts);
        self.milestones |= o.milestones;
        self.feats |= o.feats;
    }
}

/// Everything the grid keeps about one user. Days are kept newest last (rows mostly
/// come in time order, so the current day is the last record).
#[derive(Debug, Clone, Default)]
pub(crate) struct GridUser {
    /// Day records, sorted by `day` descending.
    pub days: Vec<DayRec>,
    /// Features with codes from 64 on: (code, day), sorted, unique.
    pub far_feats: Vec<(u32, u32)>,
    /// Named-event count slots: (day, slot, count), sorted by day descending, then slot.
    pub slots: Vec<(u32, u32, u32)>,
    /// Revenue by day, sorted by day descending (kept apart from the day records: most
    /// days have none, and the records are read once per snapshot; 40 bytes each
    /// instead of 96 with revenue and account in them).
    pub revenue: Vec<(u32, i128)>,
    /// The latest (time, account) of each day that has one, sorted by day descending.
    pub accounts: Vec<(u32, (i64, u64))>,
    /// Gap sessions over every event up to the latest as-of time.
    pub sessions: Vec<Sess>,
}

/// Combines `v` into the entry of `day` in `v_by_day` (sorted by day descending; rows
/// mostly come in time order, so the entry is mostly the last one).
fn add_by_day<T: Copy>(by_day: &mut Vec<(u32, T)>, day: u32, v: T, combine: impl Fn(&mut T, T)) {
    match by_day.last_mut() {
        Some(last) if last.0 == day => return combine(&mut last.1, v),
        Some(last) if last.0 > day => return by_day.push((day, v)),
        None => return by_day.push((day, v)),
        Some(_) => {}
    }
    match by_day.binary_search_by(|e| day.cmp(&e.0)) {
        Ok(i) => combine(&mut by_day[i].1, v),
        Err(i) => by_day.insert(i, (day, v)),
    }
}

/// Position of `day` in records sorted by day descending.
fn find_day(days: &[DayRec], day: u32) -> Result<usize, usize> {
    days.binary_search_by(|r| day.cmp(&r.day))
}

/// What one row adds.
pub(crate) struct GridRow<'a> {
    pub day: u32,
    pub ts: i64,
    pub milestones: u64,
    pub slots: &'a [(u32, i64)],
    pub feature: u32,
    pub revenue: Option<i128>,
    pub account: Option<u64>,
}

impl GridUser {
    /// Folds one row in.
    #[inline]
    pub fn fold(&mut self, r: &GridRow<'_>, gap: i64) {
        let i = match self.days.last() {
            Some(last) if last.day == r.day => self.days.len() - 1,
            Some(last) if last.day > r.day => {
                self.days.push(DayRec::new(r.day, r.ts));
                self.days.len() - 1
            }
            None => {
                self.days.push(DayRec::new(r.day, r.ts));
                0
            }
            Some(_) => match find_day(&self.days, r.day) {
                Ok(i) => i,
                Err(i) => {
                    self.days.insert(i, DayRec::new(r.day, r.ts));
                    i
                }
            },
        };
        let rec = &mut self.days[i];
        rec.n += 1;
        rec.min_ts = rec.min_ts.min(r.ts);
        rec.max_ts = rec.max_ts.max(r.ts);
        rec.milestones |= r.milestones;
        // Without a branch on whether the row has a feature (see
        // `UserAcc::use_feature_or_none`): no feature or-s in nothing.
        rec.feats |= u64::from(r.feature < 64) << (r.feature & 63);
        if r.feature >= 64 && r.feature != u32::MAX {
            if let Err(j) = self.far_feats.binary_search(&(r.feature, r.day)) {
                self.far_feats.insert(j, (r.feature, r.day));
            }
        }
        if let Some(v) = r.revenue {
            add_by_day(&mut self.revenue, r.day, v, |a, b| *a += b);
        }
        if let Some(h) = r.account {
            add_by_day(&mut self.accounts, r.day, (r.ts, h), |a, b| *a = (*a).max(b));
        }
        for &(slot, _) in r.slots {
            self.count_slot(r.day, slot, 1);
        }
        insert_point(&mut self.sessions, r.ts, gap);
    }

    fn count_slot(&mut self, day: u32, slot: u32, c: u32) {
        let key = |e: &(u32, u32, u32)| (std::cmp::Reverse(e.0), e.1);
        let want = (std::cmp::Reverse(day), slot);
        if let Some(last) = self.slots.last_mut() {
            if key(last) == want {
                last.2 += c;
                return;
            }
            if key(last) < want {
                self.slots.push((day, slot, c));
                return;
            }
        }
        match self.slots.binary_search_by(|e| key(e).cmp(&want)) {
            Ok(j) => self.slots[j].2 += c,
            Err(j) => self.slots.insert(j, (day, slot, c)),
        }
    }

    /// Keeps, of each run of days whose latest account is the same, only the earliest
    /// day: the account of a snapshot is the one of its latest day with one, and that
    /// day's run starts at or before it. Only the account is kept meaningful (the times
    /// of the dropped days are gone), which is all a snapshot reads; most users have
    /// one account, so their list shrinks to one entry, read once instead of a day's
    /// entry per snapshot.
    pub fn compact_accounts(&mut self) {
        self.accounts.dedup_by(|later, earlier| later.1 .1 == earlier.1 .1);
        self.accounts.shrink_to_fit();
    }

    /// Folds `other` (the same user, seen by another worker) in.
    pub fn merge(&mut self, other: GridUser, gap: i64) {
        if self.days.is_empty() && self.sessions.is_empty() {
            *self = other;
            return;
        }
        for r in &other.days {
            match find_day(&self.days, r.day) {
                Ok(i) => self.days[i].absorb(r),
                Err(i) => self.days.insert(i, *r),
            }
        }
        for f in other.far_feats {
            if let Err(j) = self.far_feats.binary_search(&f) {
                self.far_feats.insert(j, f);
            }
        }
        for (day, slot, c) in other.slots {
            self.count_slot(day, slot, c);
        }
        for (day, v) in other.revenue {
            add_by_day(&mut self.revenue, day, v, |a, b| *a += b);
        }
        for (day, acct) in other.accounts {
            add_by_day(&mut self.accounts, day, acct, |a, b| *a = (*a).max(b));
        }
        if !other.sessions.is_empty() {
            let mut all = std::mem::take(&mut self.sessions);
            all.extend(other.sessions);
            all.sort_unstable();
            self.sessions = coalesce(all, gap);
        }
    }
}

/// Per-snapshot row counts of a grid scan that do not belong to a user.
#[derive(Debug, Clone, Default)]
pub(crate) struct GridCounts {
    /// Rows with a user and a time, by day (rows after the latest as-of time excluded).
    pub rows_by_day: Vec<u64>,
    /// Rows after the latest as-of time.
    pub after_all: u64,
    /// Duplicate rows as a difference array over the snapshots in time order: the
    /// count of snapshot `j` is the sum of the first `j + 1` entries.
    pub dup_diff: Vec<i64>,
}

impl GridCounts {
    pub fn add(&mut self, o: &GridCounts) {
        if self.rows_by_day.len() < o.rows_by_day.len() {
            self.rows_by_day.resize(o.rows_by_day.len(), 0);
        }
        for (a, b) in self.rows_by_day.iter_mut().zip(&o.rows_by_day) {
            *a += b;
        }
        self.after_all += o.after_all;
        if self.dup_diff.len() < o.dup_diff.len() {
            self.dup_diff.resize(o.dup_diff.len(), 0);
        }
        for (a, b) in self.dup_diff.iter_mut().zip(&o.dup_diff) {
            *a += b;
        }
    }

    /// Counts a row of day `day` (time after the latest as-of excluded).
    #[inline]
    pub fn row(&mut self, day: u32) {
        let d = day as usize;
        if d < (1 << 16) {
            if self.rows_by_day.len() <= d {
                self.rows_by_day.resize(d + 1, 0);
            }
            self.rows_by_day[d] += 1;
        }
        // Older rows precede every snapshot of any grid this engine builds (their days
        // exceed every `k`), so they are never "after" one: nothing to record.
    }

    /// Rows after the snapshot `k` days before the latest as-of time.
    pub fn after(&self, k: u32) -> u64 {
        self.after_all + self.rows_by_day.iter().take(k as usize).sum::<u64>()
    }

    /// Duplicate rows of the snapshot at position `j` in time order.
    pub fn duplicates(&self, j: usize) -> u64 {
        self.dup_diff.iter().take(j + 1).sum::<i64>().max(0) as u64
    }
}

/// The grid of a scan: whether the as-of times lie whole days apart, and if so each
/// one's offset `k` in days before the latest.
pub(crate) fn offsets(as_ofs: &[i64]) -> Option<Vec<u32>> {
    let t_full = *as_ofs.iter().max()?;
    as_ofs
        .iter()
        .map(|t| {
            let back = t_full - t;
            (back % MICROS_PER_DAY == 0).then(|| u32::try_from(back / MICROS_PER_DAY).ok()).flatten()
        })
        .collect::<Option<Vec<u32>>>()
        .filter(|ks| ks.iter().all(|k| *k < (1 << 16)))
}

/// Users whose lists are first read together in [`Chain::advance`].
const TOUCH: usize = 16;

/// Where one user's reading of the day records stands in a [`Chain`]: how many of each
/// list's entries (sorted by day descending, so a prefix) lie at or before the last
/// snapshot read, and the days each of the user's features was used on.
#[derive(Debug, Clone, Default)]
struct ChainUser {
    days: u32,
    slots: u32,
    revenue: u32,
    accounts: u32,
    /// Bit `d` set when the feature at the same place in the accumulator's feature list
    /// was used `d` days before the snapshot (`d < 128`).
    feat_days: Vec<u128>,
}

/// Snapshots read from the day records one after another in time order, each from the
/// one before it: the accumulators are moved forward by the days between the two (day
/// bit maps shifted, first days of use pushed back) and only the records in between
/// are read, instead of every record up to each snapshot (18 weekly snapshots of 50,000
/// users read their records 0.7 s of CPU in all). Windowed counts (the count slots, the
/// last 30 days of revenue) are summed again from the records in their window, which
/// end at the snapshot.
pub(crate) struct Chain {
    /// The accumulator of every user at the last snapshot read.
    pub accs: Vec<UserAcc>,
    /// Their count slots, `n_slots` per user.
    pub counters: Vec<u32>,
    users: Vec<ChainUser>,
    /// Days before the latest as-of time of the last snapshot read.
    at: Option<u32>,
    /// The day index of the oldest record of any user (set at the first advance).
    oldest: Option<u32>,
}

impl Chain {
    /// A chain of `n` users that has read nothing yet.
    pub fn new(n: usize, n_slots: usize) -> Chain {
        Chain {
            accs: vec![UserAcc::default(); n],
            counters: vec![0; n * n_slots],
            users: vec![ChainUser::default(); n],
            at: None,
            oldest: None,
        }
    }

    /// Moves every user to the snapshot `k` whole days before the latest as-of time
    /// (`k` at most the last snapshot's). `slot_days` is every slot's window, `any_slots`
    /// the slots that count every event.
    pub fn advance(&mut self, grid: &[GridUser], k: u32, slot_days: &[i64], any_slots: &[(u32, i64)]) {
        let shift = self.at.map(|at| at.saturating_sub(k));
        debug_assert!(self.at.is_none_or(|at| at >= k), "snapshots are read in time order");
        self.at = Some(k);
        let n_slots = slot_days.len();
        // Slots whose window is longer than the records go back (`all_time`, or any
        // window past the first record) count every record up to the snapshot: they
        // are kept from snapshot to snapshot and only the records in between are added.
        // Summing them again from their window walked each user's whole history at every
        // snapshot (18 weekly snapshots of 50,000 users: 0.1 s of CPU).
        let oldest = *self.oldest.get_or_insert_with(|| {
            grid.iter()
                .map(|u| u.days.first().map_or(0, |r| r.day).max(u.slots.first().map_or(0, |e| e.0)))
                .max()
                .unwrap_or(0)
        });
        let cum: Vec<bool> = slot_days.iter().map(|w| *w > i64::from(oldest)).collect();
        let kept = |(slot, _): &&(u32, i64)| cum.get(*slot as usize).copied().unwrap_or(false);
        let any_cum: Vec<(u32, i64)> = any_slots.iter().filter(kept).copied().collect();
        let any_win: Vec<(u32, i64)> = any_slots.iter().filter(|s| !kept(s)).copied().collect();
        let max_any = any_win.iter().map(|s| s.1).max().unwrap_or(0);
        let max_named = slot_days.iter().zip(&cum).filter(|(_, c)| !**c).map(|(w, _)| *w).max().unwrap_or(0);
        let slots = Slots { days: slot_days, cum: &cum, any_cum: &any_cum, any_win: &any_win, max_any, max_named };
        // Blocks of users side by side: the chains of the other threads keep them busy
        // while snapshots are left, and the thread that finds the queue empty helps with
        // the last snapshots instead of waiting (the last advance took 57 ms on one
        // thread for weekly snapshots of the 50,000-user benchmark).
        use rayon::prelude::*;
        // Small blocks for few users, so that tests split them too.
        let block = (self.accs.len() / 32).clamp(1, 2048);
        let counters: Vec<&mut [u32]> = if n_slots == 0 {
            self.accs.chunks(block).map(|_| <&mut [u32]>::default()).collect()
        } else {
            self.counters.chunks_mut(block * n_slots).collect()
        };
        let blocks: Vec<_> =
            self.accs.chunks_mut(block).zip(self.users.chunks_mut(block)).zip(counters).enumerate().collect();
        blocks.into_par_iter().for_each(|(b, ((accs, users), counters))| {
            let base = b * block;
            advance_block(&grid[base.min(grid.len())..], accs, users, counters, n_slots, shift, k, &slots);
        });
    }
}

/// [`Chain::advance`] for one block of users: `grid` starts at the block's first user
/// (and may be shorter than the block: users without records).
#[allow(clippy::too_many_arguments)]
fn advance_block(
    grid: &[GridUser],
    accs: &mut [UserAcc],
    users: &mut [ChainUser],
    counters: &mut [u32],
    n_slots: usize,
    shift: Option<u32>,
    k: u32,
    slots: &Slots<'_>,
) {
    let empty = GridUser::default();
    let n = accs.len();
    let mut j0 = 0;
    while j0 < n {
        let j1 = (j0 + TOUCH).min(n);
        // Each user's lists lie anywhere in the heap, and the first read of each
        // waits on memory: read the first entry of each of the next users' lists
        // first, so those waits overlap instead of coming one after another.
        let mut sink = 0u64;
        for j in j0..j1 {
            let (st, a) = (&users[j], &accs[j]);
            if let Some(u) = grid.get(j) {
                let near = |len: usize, at: u32| (at as usize).min(len.saturating_sub(1));
                sink ^= u.days.get(near(u.days.len(), st.days)).map_or(0, |r| u64::from(r.day));
                sink ^= u.slots.get(near(u.slots.len(), st.slots)).map_or(0, |e| u64::from(e.0));
                sink ^= u.accounts.get(st.accounts as usize).map_or(0, |e| u64::from(e.0));
            }
            sink ^= a.features.first().map_or(0, |f| u64::from(f.code));
            sink ^= st.feat_days.first().map_or(0, |b| *b as u64);
        }
        std::hint::black_box(sink);
        for j in j0..j1 {
            let u = grid.get(j).unwrap_or(&empty);
            let c = counters.get_mut(j * n_slots..(j + 1) * n_slots).unwrap_or_default();
            advance_user(u, &mut accs[j], &mut users[j], shift, k, slots, c);
        }
        j0 = j1;
    }
}

/// The count slots as [`Chain::advance`] reads them.
struct Slots<'a> {
    /// Every slot's window in days.
    days: &'a [i64],
    /// Whether a slot counts every record up to the snapshot (kept, not summed again).
    cum: &'a [bool],
    /// Slots counting every event: those kept, and those summed over their window.
    any_cum: &'a [(u32, i64)],
    any_win: &'a [(u32, i64)],
    /// The longest window of the summed slots counting every event, and of the others.
    max_any: i64,
    max_named: i64,
}

/// One user's part of [`Chain::advance`].
fn advance_user(
    u: &GridUser,
    a: &mut UserAcc,
    st: &mut ChainUser,
    shift: Option<u32>,
    k: u32,
    slots: &Slots<'_>,
    counters: &mut [u32],
) {
    let Slots { days: slot_days, cum, any_cum, any_win, max_any, max_named } = *slots;
    if let Some(d) = shift.filter(|d| *d > 0) {
        a.day_bits = a.day_bits.checked_shl(d).unwrap_or(0);
        let dd = u16::try_from(d).unwrap_or(u16::MAX);
        for (f, bits) in a.features.iter_mut().zip(&mut st.feat_days) {
            *bits = bits.checked_shl(d).unwrap_or(0);
            f.min_day = f.min_day.saturating_add(dd);
        }
    }
    let old = st.days as usize;
    let mut hi = old;
    while let Some(r) = u.days.get(hi).filter(|r| r.day >= k) {
        let ds = i64::from(r.day - k);
        a.widen(r.min_ts, r.max_ts);
        a.n += u64::from(r.n);
        if ds < DAY_BITS {
            a.day_bits |= 1u128 << ds;
        }
        a.milestones |= r.milestones;
        a.gap_last = if a.gap_n == 0 { r.max_ts } else { a.gap_last.max(r.max_ts) };
        a.gap_n += u64::from(r.n);
        for &(slot, _) in any_cum {
            counters[slot as usize] += r.n;
        }
        let mut bits = r.feats;
        while bits != 0 {
            let c = bits.trailing_zeros();
            bits &= bits - 1;
            use_feature(a, &mut st.feat_days, c, ds);
        }
        hi += 1;
    }
    st.days = hi as u32;
    // Features from code 64 on: the uses since the last snapshot.
    let prev = shift.map(|d| k + d);
    for &(code, day) in &u.far_feats {
        if day >= k && prev.is_none_or(|p| day < p) {
            use_feature(a, &mut st.feat_days, code, i64::from(day - k));
        }
    }
    for (f, bits) in a.features.iter_mut().zip(&st.feat_days) {
        f.weeks = week_bits(*bits);
    }
    // Revenue: all of it by addition, the last 30 days summed again.
    let mut r = st.revenue as usize;
    while let Some(&(_, v)) = u.revenue.get(r).filter(|e| e.0 >= k) {
        a.revenue += v;
        r += 1;
    }
    st.revenue = r as u32;
    a.revenue_30d = u.revenue[..r].iter().rev().take_while(|e| e.0 - k < 30).map(|e| e.1).sum();
    let mut h = st.accounts as usize;
    while u.accounts.get(h).is_some_and(|e| e.0 >= k) {
        h += 1;
    }
    st.accounts = h as u32;
    a.account = h.checked_sub(1).map(|i| u.accounts[i].1);
    // Count slots: the kept ones gain the records since the last snapshot (above, for
    // the slots counting every event); the others are summed again over their window,
    // which ends at this snapshot.
    for (c, kept) in counters.iter_mut().zip(cum) {
        if !kept {
            *c = 0;
        }
    }
    if !any_win.is_empty() {
        for r in u.days[..hi].iter().rev().take_while(|r| i64::from(r.day - k) < max_any) {
            let ds = i64::from(r.day - k);
            for &(slot, w) in any_win {
                if ds < w {
                    counters[slot as usize] += r.n;
                }
            }
        }
    }
    let old = st.slots as usize;
    let mut s = old;
    while let Some(&(_, slot, c)) = u.slots.get(s).filter(|e| e.0 >= k) {
        if cum[slot as usize] {
            counters[slot as usize] += c;
        }
        s += 1;
    }
    st.slots = s as u32;
    for &(day, slot, c) in u.slots[..s].iter().rev().take_while(|e| i64::from(e.0 - k) < max_named) {
        if !cum[slot as usize] && i64::from(day - k) < slot_days[slot as usize] {
            counters[slot as usize] += c;
        }
    }
}

/// A feature use `ds` days before the snapshot, kept in the feature list and in the
/// feature's day bits beside it.
#[inline]
fn use_feature(a: &mut UserAcc, feat_days: &mut Vec<u128>, code: u32, ds: i64) {
    let i = a.feature_slot(code);
    if feat_days.len() < a.features.len() {
        feat_days.insert(i, 0);
    }
    let f = &mut a.features[i];
    f.min_day = f.min_day.min(u16::try_from(ds).unwrap_or(u16::MAX));
    if ds < DAY_BITS {
        feat_days[i] |= 1u128 << ds;
    }
}

/// The weeks 0..12 (days `7w..7w + 7`) that hold a day of `bits`, as bits.
#[inline]
fn week_bits(bits: u128) -> u16 {
    let mut w = 0u16;
    for i in 0..crate::acc::WEEKS as u32 {
        w |= u16::from((bits >> (7 * i)) & 0x7f != 0) << i;
    }
    w
}
