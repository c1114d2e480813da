//! Per-user accumulators. Every update is commutative and associative, so the result
//! does not depend on the order rows arrive in or how the work was split across
//! threads: sessions merge as intervals, counts add, sets unite, and ties are broken
//! by value, never by arrival.

/// How many recent days the active-day bitmap covers.
pub const DAY_BITS: i64 = 128;
/// How many recent weeks per-week feature sets cover.
pub const WEEKS: i64 = 12;

/// A session: first and last event, and its number of events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Sess {
    /// First event, microseconds.
    pub start: i64,
    /// Last event, microseconds.
    pub end: i64,
    /// Events in it.
    pub count: u32,
}

/// A session keyed by the data's own `session_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdSess {
    /// The session id (integer ids as they are, strings hashed to 64 bits).
    pub sid: u64,
    /// The session.
    pub s: Sess,
}

/// One feature a user used: its global code, the smallest day index it was used on
/// (saturating at `u16::MAX`), and the weeks 0..12 it was used in, as bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatUse {
    /// Global feature code.
    pub code: u32,
    /// Smallest day index of use.
    pub min_day: u16,
    /// Bit `w` set when used in week index `w` (< 12).
    pub weeks: u16,
}

/// Everything the engine keeps about one user; memory grows with sessions and
/// features, never with events.
#[derive(Debug, Clone, Default)]
pub struct UserAcc {
    /// Events at or before `T`.
    pub n: u64,
    /// First event.
    pub first: i64,
    /// Last event.
    pub last: i64,
    /// Bit `d` set when the user had an event on day index `d` (< 128).
    pub day_bits: u128,
    /// Activation milestones reached, as bits.
    pub milestones: u64,
    /// Revenue in nano-units, all time and in the last 30 days.
    pub revenue: i128,
    /// Revenue in the last 30 days.
    pub revenue_30d: i128,
    /// The account of the latest event with one: (timestamp, account hash).
    pub account: Option<(i64, u64)>,
    /// Features used, sorted by code.
    pub features: Vec<FeatUse>,
    /// Bit `c` set when the feature with code `c < 64` is in `features`: the position
    /// of such a code is the number of bits below it (see [`find_feature`]).
    pub feat_mask: u64,
    /// Gap-derived sessions, sorted by start, separated by more than the gap. In a
    /// multi-snapshot scan only the latest snapshot builds them; the others count their
    /// gap events (`gap_n`, `gap_last`) and read theirs with [`UserAcc::sessions_at`].
    pub sessions: Vec<Sess>,
    /// Events without a session id (the ones gap sessions are made of).
    pub gap_n: u64,
    /// The latest of them.
    pub gap_last: i64,
    /// Sessions with an id, sorted by id.
    pub id_sessions: Vec<IdSess>,
}

impl UserAcc {
    /// Records an event's time.
    #[inline]
    pub fn touch(&mut self, ts: i64, day: i64) {
        self.widen(ts, ts);
        self.n += 1;
        if day < DAY_BITS {
            self.day_bits |= 1u128 << day;
        }
    }

    /// Widens the first and last event times to cover `first..=last`; with no event
    /// yet (`n == 0`: call it before counting the new ones) they become exactly that.
    #[inline]
    pub(crate) fn widen(&mut self, first: i64, last: i64) {
        if self.n == 0 {
            self.first = first;
            self.last = last;
        } else {
            self.first = self.first.min(first);
            self.last = self.last.max(last);
        }
    }

    /// [`UserAcc::use_feature`], or nothing for `code == u32::MAX` (no feature), with no
    /// branch on which: a feature the user has (code below 64) and no feature both
    /// update an entry, the second with values that change nothing (the first entry,
    /// taken down to its own first day and or-ed with no week). Rows with and without
    /// a feature alternate in no order a branch predictor learns.
    #[inline]
    pub fn use_feature_or_none(&mut self, code: u32, day: i64, week: i64) {
        let c = code & 63;
        let known = code < 64 && self.feat_mask >> c & 1 == 1;
        let pos = (self.feat_mask & ((1u64 << c) - 1)).count_ones() as usize;
        let d = u16::try_from(day).unwrap_or(u16::MAX);
        let wbit = if week < WEEKS { 1u16 << week } else { 0 };
        let (i, d, wbit) = if known { (pos, d, wbit) } else { (0, u16::MAX, 0) };
        if let Some(f) = self.features.get_mut(i) {
            f.min_day = f.min_day.min(d);
            f.weeks |= wbit;
        }
        if !known && code != u32::MAX {
            self.use_feature(code, day, week);
        }
    }

    /// Records a feature use on `day` (day index) in week `week`.
    #[inline]
    pub fn use_feature(&mut self, code: u32, day: i64, week: i64) {
        let d = u16::try_from(day).unwrap_or(u16::MAX);
        let wbit = if week < WEEKS { 1u16 << week } else { 0 };
        match find_feature(&self.features, self.feat_mask, code) {
            Ok(i) => {
                let f = &mut self.features[i];
                f.min_day = f.min_day.min(d);
                f.weeks |= wbit;
            }
            Err(i) => {
                self.features.insert(i, FeatUse { code, min_day: d, weeks: wbit });
                self.feat_mask |= mask_bit(code);
            }
        }
    }

    /// The position of feature `code` in `features`, added unused (first day
    /// `u16::MAX`, no weeks) if it is not there.
    #[inline]
    pub(crate) fn feature_slot(&mut self, code: u32) -> usize {
        match find_feature(&self.features, self.feat_mask, code) {
            Ok(i) => i,
            Err(i) => {
                self.features.insert(i, FeatUse { code, min_day: u16::MAX, weeks: 0 });
                self.feat_mask |= mask_bit(code);
                i
            }
        }
    }

    /// Adds an event at `ts` to the gap-derived sessions: it joins every session it is
    /// within `gap` of (a gap of exactly `gap` stays in the session).
    #[inline]
    pub fn add_to_sessions(&mut self, ts: i64, gap: i64) {
        insert_point(&mut self.sessions, ts, gap);
    }

    /// Counts an event without a session id.
    #[inline]
    pub fn count_gap_event(&mut self, ts: i64) {
        self.gap_last = if self.gap_n == 0 { ts } else { self.gap_last.max(ts) };
        self.gap_n += 1;
    }

    /// This snapshot's sessions, sorted by start: its gap sessions (every event up to
    /// `t`) derived from `full`, the same user's gap sessions over every event up to the
    /// latest snapshot's time, and its sessions with an id. Restricting the events to
    /// `<= t` keeps every session that ends by `t` as it is, drops those that start
    /// after `t`, and cuts the one running across `t` at the last event up to `t` (which
    /// is in it: a session covers every event from its start to its end), holding the
    /// events up to `t` the earlier sessions do not. Borrowed unless a session is cut or
    /// there are sessions with an id.
    /// `k`, when given, is the number of sessions of `full` that start by `t` (see
    /// [`session_cuts`]).
    pub fn sessions_at<'a>(&'a self, full: &'a [Sess], t: i64, k: Option<usize>) -> std::borrow::Cow<'a, [Sess]> {
        use std::borrow::Cow;
        let gap: Cow<'a, [Sess]> = if self.gap_n == 0 {
            Cow::Borrowed(&[])
        } else {
            let k = k.unwrap_or_else(|| full.partition_point(|s| s.start <= t));
            match full[..k].last() {
                Some(last) if last.end > t => {
                    let before: u64 = full[..k - 1].iter().map(|s| u64::from(s.count)).sum();
                    let mut v = full[..k].to_vec();
                    v[k - 1] = Sess { start: last.start, end: self.gap_last, count: (self.gap_n - before) as u32 };
                    Cow::Owned(v)
                }
                _ => Cow::Borrowed(&full[..k]),
            }
        };
        if self.id_sessions.is_empty() {
            return gap;
        }
        let mut v = gap.into_owned();
        v.extend(self.id_sessions.iter().map(|s| s.s));
        v.sort_unstable();
        Cow::Owned(v)
    }

    /// Adds an event at `ts` to the session with id `sid`.
    #[inline]
    pub fn add_to_id_session(&mut self, sid: u64, ts: i64) {
        match self.id_sessions.binary_search_by_key(&sid, |s| s.sid) {
            Ok(i) => {
                let s = &mut self.id_sessions[i].s;
                s.start = s.start.min(ts);
                s.end = s.end.max(ts);
                s.count += 1;
            }
            Err(i) => self.id_sessions.insert(i, IdSess { sid, s: Sess { start: ts, end: ts, count: 1 } }),
        }
    }

    /// Folds `other` (the same user, seen by another task) into `self`.
    pub fn merge(&mut self, other: UserAcc, gap: i64) {
        // Most users are seen by one worker only: then merging is a move.
        if self.n == 0 && self.sessions.is_empty() && self.id_sessions.is_empty() && self.features.is_empty() {
            *self = other;
            return;
        }
        if other.n > 0 {
            self.widen(other.first, other.last);
        }
        if other.gap_n > 0 {
            self.gap_last = if self.gap_n == 0 { other.gap_last } else { self.gap_last.max(other.gap_last) };
        }
        self.gap_n += other.gap_n;
        self.n += other.n;
        self.day_bits |= other.day_bits;
        self.milestones |= other.milestones;
        self.revenue += other.revenue;
        self.revenue_30d += other.revenue_30d;
        // `None` orders below every `Some`: the later account wins, or the only one.
        self.account = self.account.max(other.account);
        for f in other.features {
            match find_feature(&self.features, self.feat_mask, f.code) {
                Ok(i) => {
                    let g = &mut self.features[i];
                    g.min_day = g.min_day.min(f.min_day);
                    g.weeks |= f.weeks;
                }
                Err(i) => {
                    self.features.insert(i, f);
                    self.feat_mask |= mask_bit(f.code);
                }
            }
        }
        if !other.sessions.is_empty() {
            let mut all = std::mem::take(&mut self.sessions);
            all.extend(other.sessions);
            all.sort_unstable();
            self.sessions = coalesce(all, gap);
        }
        for s in other.id_sessions {
            match self.id_sessions.binary_search_by_key(&s.sid, |x| x.sid) {
                Ok(i) => {
                    let t = &mut self.id_sessions[i].s;
                    t.start = t.start.min(s.s.start);
                    t.end = t.end.max(s.s.end);
                    t.count += s.s.count;
                }
                Err(i) => self.id_sessions.insert(i, s),
            }
        }
    }
}

/// The bit of `code` in [`UserAcc::feat_mask`] (none for codes from 64 on).
#[inline]
fn mask_bit(code: u32) -> u64 {
    if code < 64 {
        1u64 << code
    } else {
        0
    }
}

/// Where `code` is in `feats` (sorted by code, `mask` its codes below 64), or where it
/// would go.
///
/// A user uses a handful of features, at a position that changes from row to row, so
/// an early-exit search mispredicts its exit on almost every row (9% of a whole run on
/// the benchmark data as a binary search, about as much as a linear scan). Codes are
/// numbered in order of first appearance, so nearly all are below 64: their position is
/// the number of the user's codes below them, one population count of `mask`. Other
/// short lists are counted branch-free (the number of codes below `code`).
#[inline]
fn find_feature(feats: &[FeatUse], mask: u64, code: u32) -> Result<usize, usize> {
    if code < 64 {
        let pos = (mask & ((1u64 << code) - 1)).count_ones() as usize;
        return if mask >> code & 1 == 1 { Ok(pos) } else { Err(pos) };
    }
    if feats.len() <= 32 {
        let pos = feats.iter().map(|f| usize::from(f.code < code)).sum::<usize>();
        if feats.get(pos).is_some_and(|f| f.code == code) {
            Ok(pos)
        } else {
            Err(pos)
        }
    } else {
        feats.binary_search_by_key(&code, |f| f.code)
    }
}

/// Every user's gap sessions, by user index: one list per user, or (when several
/// snapshots read them) a few buffers of consecutive users' sessions in user order, so
/// that reading the users in order reads memory in order instead of one scattered list
/// per user.
#[derive(Debug)]
pub(crate) enum SessStore {
    Lists(Vec<Vec<Sess>>),
    /// `per` users to a group; each group's sessions in one buffer with each user's end.
    Flat {
        per: usize,
        groups: Vec<(Vec<Sess>, Vec<usize>)>,
        n: usize,
    },
}

impl SessStore {
    /// Buffers of consecutive users' lists, filled side by side (into one buffer on one
    /// thread, taking the lists and copying the 50,000-user benchmark's 2 million
    /// sessions took 28 ms; this way 15 ms).
    pub fn flat(lists: Vec<Vec<Sess>>) -> SessStore {
        use rayon::prelude::*;
        let n = lists.len();
        let per = n.div_ceil(64).max(1);
        let groups = lists
            .par_chunks(per)
            .map(|chunk| {
                let mut all = Vec::with_capacity(chunk.iter().map(Vec::len).sum());
                let mut ends = Vec::with_capacity(chunk.len());
                for l in chunk {
                    all.extend_from_slice(l);
                    ends.push(all.len());
                }
                (all, ends)
            })
            .collect();
        lists.into_par_iter().for_each(drop);
        SessStore::Flat { per, groups, n }
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        match self {
            SessStore::Lists(l) => l.len(),
            SessStore::Flat { n, .. } => *n,
        }
    }

    /// The sessions of user `i` (none past the end).
    pub fn get(&self, i: usize) -> &[Sess] {
        match self {
            SessStore::Lists(l) => l.get(i).map_or(&[][..], Vec::as_slice),
            SessStore::Flat { per, groups, .. } => {
                let (g, j) = (i / per, i % per);
                match groups.get(g) {
                    Some((all, ends)) => match ends.get(j) {
                        Some(&end) => &all[if j == 0 { 0 } else { ends[j - 1] }..end],
                        None => &[],
                    },
                    None => &[],
                }
            }
        }
    }
}

/// Merges sorted sessions whose gap is at most `gap` into one.
pub(crate) fn coalesce(sorted: Vec<Sess>, gap: i64) -> Vec<Sess> {
    let mut out: Vec<Sess> = Vec::with_capacity(sorted.len());
    for s in sorted {
        match out.last_mut() {
            Some(cur) if s.start - cur.end <= gap => {
                cur.end = cur.end.max(s.end);
                cur.count += s.count;
            }
            _ => out.push(s),
        }
    }
    out
}

/// Adds an event at `ts` to the sorted, coalesced sessions `v`. The usual case, an
/// event at or after the last session's start, is inlined into the fold; an earlier
/// event goes to [`insert_point_before_last`].
#[inline]
pub(crate) fn insert_point(v: &mut Vec<Sess>, ts: i64, gap: i64) {
    // Fast path: events mostly arrive in time order.
    if let Some(last) = v.last_mut() {
        if ts >= last.start {
            if ts - last.end <= gap {
                last.end = last.end.max(ts);
                last.count += 1;
            } else {
                v.push(Sess { start: ts, end: ts, count: 1 });
            }
            return;
        }
    } else {
        v.push(Sess { start: ts, end: ts, count: 1 });
        return;
    }
    insert_point_before_last(v, ts, gap);
}

/// [`insert_point`] for an event before the last session's start.
#[cold]
#[inline(never)]
fn insert_point_before_last(v: &mut Vec<Sess>, ts: i64, gap: i64) {
    // `i` = first session starting after ts.
    let i = v.partition_point(|s| s.start <= ts);
    let joins_prev = i > 0 && ts - v[i - 1].end <= gap;
    let joins_next = i < v.len() && v[i].start - ts <= gap;
    match (joins_prev, joins_next) {
        (true, true) => {
            let next = v.remove(i);
            let p = &mut v[i - 1];
            p.end = p.end.max(next.end);
            p.count += next.count + 1;
        }
        (true, false) => {
            let p = &mut v[i - 1];
            p.end = p.end.max(ts);
            p.count += 1;
        }
        (false, true) => {
            let n = &mut v[i];
            n.start = ts;
            n.count += 1;
        }
        (false, false) => v.insert(i, Sess { start: ts, end: ts, count: 1 }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Feature uses folded in any order, split across two accumulators and merged,
        /// give the same sorted list (and mask) as a plain map: codes below 64 are found
        /// through the mask, the others by search, and both kinds mix in one list. Rows
        /// without a feature (`u32::MAX`, through `use_feature_or_none` like every row
        /// here) change nothing.
        #[test]
        fn feature_lists_equal_a_plain_map(
            uses in prop::collection::vec((prop_oneof![0u32..64, 0u32..200, Just(u32::MAX)], 0i64..200), 0..150),
            split in 0usize..150,
        ) {
            let mut want: std::collections::BTreeMap<u32, (u16, u16)> = Default::default();
            for &(code, day) in uses.iter().filter(|(c, _)| *c != u32::MAX) {
                let e = want.entry(code).or_insert((u16::MAX, 0));
                e.0 = e.0.min(day as u16);
                if day / 7 < WEEKS {
                    e.1 |= 1 << (day / 7);
                }
            }
            let (mut a, mut b) = (UserAcc::default(), UserAcc::default());
            for (i, &(code, day)) in uses.iter().enumerate() {
                let acc = if i < split { &mut a } else { &mut b };
                acc.n += 1;
                acc.use_feature_or_none(code, day, day / 7);
            }
            a.merge(b, 60);
            let got: Vec<(u32, (u16, u16))> = a.features.iter().map(|f| (f.code, (f.min_day, f.weeks))).collect();
            prop_assert_eq!(got, want.clone().into_iter().collect::<Vec<_>>());
            let mask = want.keys().filter(|c| **c < 64).fold(0u64, |m, c| m | 1 << c);
            prop_assert_eq!(a.feat_mask, mask);
        }
    }

    fn sessions_of(points: &[i64], gap: i64) -> Vec<Sess> {
        let mut a = UserAcc::default();
        for &p in points {
            a.add_to_sessions(p, gap);
        }
        a.sessions
    }

    #[test]
    fn sessions_do_not_depend_on_order() {
        let pts = [0, 10, 45, 100, 20, 130, 300, 160, 65];
        let mut sorted = pts;
        sorted.sort_unstable();
        let expect = sessions_of(&sorted, 30);
        // 65 -> 100 is a 35-unit gap: a new session.
        assert_eq!(
            expect,
            vec![
                Sess { start: 0, end: 65, count: 5 },
                Sess { start: 100, end: 160, count: 3 },
                Sess { start: 300, end: 300, count: 1 }
            ]
        );
        assert_eq!(sessions_of(&pts, 30), expect);
        let mut rev = sorted;
        rev.reverse();
        assert_eq!(sessions_of(&rev, 30), expect);
        // Split across two accumulators and merged.
        let mut a = UserAcc::default();
        let mut b = UserAcc::default();
        for (i, &p) in pts.iter().enumerate() {
            if i % 2 == 0 {
                a.add_to_sessions(p, 30)
            } else {
                b.add_to_sessions(p, 30)
            }
        }
        a.merge(b, 30);
        assert_eq!(a.sessions, expect);
    }

    #[test]
    fn gap_of_exactly_the_limit_stays_in_session() {
        assert_eq!(sessions_of(&[0, 30], 30).len(), 1);
        assert_eq!(sessions_of(&[0, 31], 30).len(), 2);
        assert_eq!(sessions_of(&[31, 0], 30).len(), 2);
        assert_eq!(sessions_of(&[60, 0, 30], 30).len(), 1);
    }
}
