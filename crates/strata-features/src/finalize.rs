//! From accumulators to the feature table: every column of `docs/features.md`.

use crate::acc::{Sess, UserAcc};
use crate::engine::{Compiled, N_WEEKS};
use crate::plan::{Agg, Plan, SIGNAL_COLUMNS};
use crate::table::Column;
use strata_core::{AsOf, Config, MICROS_PER_DAY, MICROS_PER_WEEK};

/// Inputs of one user's row besides the accumulator.
pub(crate) struct RowCtx<'a> {
    pub t: AsOf,
    pub plan: &'a Plan,
    pub compiled: &'a Compiled,
    pub cfg: &'a Config,
    /// Feature code -> counts toward features (in the catalog).
    pub in_catalog: &'a [bool],
    pub catalog_size: usize,
    pub has_revenue: bool,
    /// The count slot of every default event count, looked up once: `(*, 28 days)`,
    /// `(*, 7 days)`, then [`SIGNAL_COLUMNS`] in order.
    pub slots: [Option<usize>; N_SLOT_COUNTS],
    /// Whether `baseline_weekly_sessions_median` and `longest_streak_days_84d` are
    /// kept: a selection per user and a walk over its active days, skipped when the
    /// plan leaves their columns out (the baseline median alone was 1.1% of the weekly
    /// snapshots' CPU, and their rules read neither).
    pub base_median: bool,
    pub longest_streak: bool,
}

/// The default event counts a row reads: all events over 28 and 7 days, then the
/// signal columns.
pub(crate) const N_SLOT_COUNTS: usize = 2 + SIGNAL_COLUMNS.len();

/// The (event name, days) of each entry of [`RowCtx::slots`].
pub(crate) fn slot_counts() -> [(&'static str, u32); N_SLOT_COUNTS] {
    std::array::from_fn(|i| match i {
        0 => ("*", 28),
        1 => ("*", 7),
        i => (SIGNAL_COLUMNS[i - 2].1, SIGNAL_COLUMNS[i - 2].2),
    })
}

/// Count columns of a row.
pub(crate) const N_COUNTS: usize = 11 + N_WEEKS + 9 + SIGNAL_COLUMNS.len() - 4;
/// Float columns of a row.
pub(crate) const N_FLOATS: usize = 15;
/// Nullable integer columns of a row.
pub(crate) const N_INTS: usize = 1;
/// Index of `days_since_last_seen` among the floats.
pub(crate) const SINCE_LAST: usize = 3;

/// Every value of one row, before it is spread into columns.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Row {
    pub counts: [i64; N_COUNTS],
    pub ints: [Option<i64>; N_INTS],
    pub floats: [Option<f64>; N_FLOATS],
}

/// One user's inputs to [`row`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct UserIn<'a> {
    pub acc: &'a UserAcc,
    /// The user's gap sessions up to the latest as-of time of the pass.
    pub full: &'a [Sess],
    /// Its count slots.
    pub counters: &'a [u32],
    /// The users table's `signup_at`, if any.
    pub signup: Option<i64>,
    /// Where this as-of time cuts `full`, when known.
    pub cut: Option<Cut>,
}

/// Space one worker reuses from row to row.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    gaps: Vec<f64>,
    feats: Vec<crate::acc::FeatUse>,
}

/// Users per [`Block`]: their rows fit in the core's cache while they are spread into
/// columns (18 snapshots of 50,000 users spent 0.5 s of CPU reading one field of every
/// row for each column, when each row held its values behind four pointers).
pub(crate) const BLOCK: usize = 512;

/// The values of consecutive users, column by column (`counts[k * n + r]` is count
/// column `k` of the block's row `r`).
pub(crate) struct Block {
    n: usize,
    counts: Vec<i64>,
    ints: Vec<Option<i64>>,
    floats: Vec<Option<f64>>,
    /// Plan aggregate `a` of row `r` at `aggs[a * n + r]`.
    aggs: Vec<f64>,
}

/// The columns of [`layout`] a run keeps (see [`crate::Plan::keep_only_columns`]), and
/// where a [`Block`] holds each kept value of a [`Row`].
#[derive(Debug, Default)]
pub(crate) struct Keep {
    /// The row's count, int and float columns a block holds, in block order.
    counts: Vec<usize>,
    ints: Vec<usize>,
    floats: Vec<usize>,
    /// The kept columns in output order, their kinds pointing into a block.
    layout: Vec<(String, Kind)>,
    /// Where a block holds `days_since_last_seen` (when the account columns need it).
    pub since_last: Option<usize>,
    /// Whether an account column is kept (the users' accounts are needed).
    pub accounts: bool,
    /// Whether an account-users column is kept (the accounts' counts are needed).
    pub account_users: bool,
}

impl Keep {
    /// The columns `wants` asks for.
    pub(crate) fn new(wants: impl Fn(&str) -> bool) -> Keep {
        let all = layout();
        let mut k = Keep {
            account_users: all.iter().any(|(n, kind)| matches!(kind, Kind::AccountUsers(_)) && wants(n)),
            ..Keep::default()
        };
        for (name, kind) in all {
            let kept = wants(&name);
            match kind {
                Kind::C(i) if kept => {
                    k.layout.push((name, Kind::C(k.counts.len())));
                    k.counts.push(i);
                }
                Kind::I(i) if kept => {
                    k.layout.push((name, Kind::I(k.ints.len())));
                    k.ints.push(i);
                }
                Kind::F(i) if kept || (i == SINCE_LAST && k.account_users) => {
                    let j = k.floats.len();
                    if i == SINCE_LAST {
                        k.since_last = Some(j);
                    }
                    if kept {
                        k.layout.push((name, Kind::F(j)));
                    }
                    k.floats.push(i);
                }
                Kind::Account | Kind::AccountUsers(_) if kept => {
                    k.accounts = true;
                    k.layout.push((name, kind));
                }
                _ => {}
            }
        }
        k.accounts |= k.account_users;
        k
    }
}

impl Block {
    pub(crate) fn new(n: usize, keep: &Keep, n_aggs: usize) -> Block {
        Block {
            n,
            counts: vec![0; keep.counts.len() * n],
            ints: vec![None; keep.ints.len() * n],
            floats: vec![None; keep.floats.len() * n],
            aggs: vec![0.0; n_aggs * n],
        }
    }

    /// Puts the kept values of `row` and its aggregates at row `r`.
    pub(crate) fn put(&mut self, r: usize, row: &Row, aggs: &[f64], keep: &Keep) {
        let n = self.n;
        for (k, i) in keep.counts.iter().enumerate() {
            self.counts[k * n + r] = row.counts[*i];
        }
        for (k, i) in keep.ints.iter().enumerate() {
            self.ints[k * n + r] = row.ints[*i];
        }
        for (k, i) in keep.floats.iter().enumerate() {
            self.floats[k * n + r] = row.floats[*i];
        }
        for (k, v) in aggs.iter().enumerate() {
            self.aggs[k * n + r] = *v;
        }
    }

    /// Float column `k` of this block.
    pub(crate) fn float(&self, k: usize) -> &[Option<f64>] {
        &self.floats[k * self.n..(k + 1) * self.n]
    }
}

/// One column gathered from consecutive blocks.
fn gather<T: Copy>(blocks: &[Block], part: impl Fn(&Block) -> &[T], k: usize) -> Vec<T> {
    let mut v = Vec::with_capacity(blocks.iter().map(|b| b.n).sum());
    for b in blocks {
        v.extend_from_slice(&part(b)[k * b.n..(k + 1) * b.n]);
    }
    v
}

/// Plan aggregate `id` of every user, from consecutive blocks.
pub(crate) fn agg_column(blocks: &[Block], id: usize) -> Vec<f64> {
    gather(blocks, |b| &b.aggs, id)
}

/// Column names and kinds, in output order. Counts, then nullable ints, then floats
/// would be simplest, but the contract pins the order of the core columns, so each
/// column names the list it lives in and its index there.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    C(usize),
    I(usize),
    F(usize),
    Account,
    AccountUsers(usize),
}

pub(crate) fn layout() -> Vec<(String, Kind)> {
    let mut v: Vec<(String, Kind)> = Vec::new();
    let mut c = 0;
    let mut i = 0;
    let mut f = 0;
    let mut push = |name: &str, k: char| {
        let kind = match k {
            'c' => {
                c += 1;
                Kind::C(c - 1)
            }
            'i' => {
                i += 1;
                Kind::I(i - 1)
            }
            _ => {
                f += 1;
                Kind::F(f - 1)
            }
        };
        v.push((name.to_string(), kind));
    };
    // Contract section 3, in its order.
    for (n, k) in [
        ("sessions_7d", 'c'),
        ("sessions_28d", 'c'),
        ("avg_weekly_sessions_28d", 'f'),
        ("active_days_30d", 'c'),
        ("features_used_7d", 'c'),
        ("features_used_30d", 'c'),
        ("feature_breadth_30d", 'f'),
        ("peak_week_features_84d", 'c'),
        ("avg_session_minutes_28d", 'f'),
        ("events_28d", 'c'),
        ("days_since_last_seen", 'f'),
        ("median_session_gap_days", 'f'),
        ("tenure_days", 'f'),
        ("invites_sent_30d", 'c'),
        ("pricing_page_views_14d", 'c'),
        ("locked_feature_clicks_14d", 'c'),
        ("support_tickets_7d", 'c'),
    ] {
        push(n, k);
    }
    // Extensions (docs/features.md).
    for w in 0..N_WEEKS {
        push(&format!("sessions_week_{w}"), 'c');
    }
    for (n, k) in [
        ("trailing_4w_avg_sessions", 'f'),
        ("baseline_weeks", 'c'),
        ("baseline_weekly_sessions_mean", 'f'),
        ("baseline_weekly_sessions_median", 'f'),
        ("wow_session_change", 'f'),
        ("session_change_vs_baseline", 'f'),
        ("active_weeks_84d", 'c'),
        ("longest_streak_days_84d", 'c'),
        ("current_streak_days", 'c'),
        ("features_week_0", 'c'),
        ("sessions_total", 'c'),
        ("events_total", 'c'),
        ("events_7d", 'c'),
        ("events_per_session_28d", 'f'),
        ("recency_days", 'i'),
        ("revenue_total", 'f'),
        ("revenue_30d", 'f'),
        ("activation_points", 'f'),
        ("activation_milestones_reached", 'c'),
    ] {
        push(n, k);
    }
    for (n, _, _) in &SIGNAL_COLUMNS[4..] {
        push(n, 'c');
    }
    let _ = push;
    v.push(("account_id".into(), Kind::Account));
    v.push(("account_users".into(), Kind::AccountUsers(0)));
    v.push(("account_active_users_7d".into(), Kind::AccountUsers(1)));
    v.push(("account_active_users_30d".into(), Kind::AccountUsers(2)));
    v
}

/// The count slot of `events.<name>(last_<days>_days)` in the compiled plan.
pub(crate) fn slot_for(plan: &Plan, compiled: &Compiled, name: &str, days: u32) -> Option<usize> {
    let id = plan.aggs().iter().position(|a| *a == Agg::EventCount { name: name.into(), days })?;
    compiled.slot_of_agg[id].map(|s| s as usize)
}

/// Where one snapshot's gap sessions lie in a user's full sessions (see
/// [`session_cuts`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cut {
    /// Sessions of `full` that start by the as-of time.
    pub k: u32,
    /// Of those, the ones that start by 12 weeks before it.
    pub r: u32,
    /// The median gap between the starts of the first `k`.
    pub median_gap: Option<f64>,
}

/// For every user's sessions `full` (sorted by start) and every time of `times`: the
/// [`Cut`] of that time. Found once per user for all the times while its sessions are
/// in cache: searching them per snapshot was a cache miss per step (18 weekly snapshots
/// of 50,000 users: 0.45 s of CPU). The median gap comes from a [`RunningMedian`] fed
/// the gaps in time order: with a selection over the first `k` gaps for each time this
/// step took 76-87 ms of the run's wall time (2 threads), with the running median 45 ms.
/// Indexed `[time][user]`.
pub(crate) fn session_cuts(full: &crate::acc::SessStore, times: &[i64]) -> Vec<Vec<Cut>> {
    use rayon::prelude::*;
    let weeks = N_WEEKS as i64 * MICROS_PER_WEEK;
    let mut order: Vec<usize> = (0..times.len()).collect();
    order.sort_by_key(|i| times[*i]);
    let per_user: Vec<Vec<Cut>> = (0..full.len())
        .into_par_iter()
        .map(|i| full.get(i))
        .map_init(RunningMedian::default, |run, v| {
            run.clear();
            let mut cuts = vec![Cut { k: 0, r: 0, median_gap: None }; times.len()];
            let (mut fed, mut k, mut r) = (0, 0, 0);
            // Times in increasing order: both cut points only move forward.
            for &i in &order {
                let t = times[i];
                while v.get(k).is_some_and(|s| s.start <= t) {
                    k += 1;
                }
                while r < k && v[r].start <= t - weeks {
                    r += 1;
                }
                // The gaps between the first k starts are the first k - 1 gaps.
                while fed + 1 < k {
                    run.push(v[fed + 1].start - v[fed].start);
                    fed += 1;
                }
                let median_gap =
                    if k < 2 { None } else { run.median().map(|(lo, hi)| (gap_days(lo) + gap_days(hi)) / 2.0) };
                // An odd count has one middle: (x + x) / 2 is x exactly.
                cuts[i] = Cut { k: k as u32, r: r as u32, median_gap };
            }
            cuts
        })
        .collect();
    (0..times.len()).into_par_iter().map(|i| per_user.iter().map(|u| u[i]).collect()).collect()
}

/// A gap between session starts in days: the one conversion [`start_gaps`] and
/// [`session_cuts`] share, so their medians agree exactly.
fn gap_days(us: i64) -> f64 {
    us as f64 / MICROS_PER_DAY as f64
}

/// The median of integers pushed one at a time: the lower half in a max-heap, the upper
/// half in a min-heap. [`RunningMedian::median`] gives the two middle values (the same
/// one twice for an odd count), so that converting them to days and averaging gives
/// exactly what [`median`] gives on the converted values (the conversion keeps order).
#[derive(Debug, Default)]
pub(crate) struct RunningMedian {
    lo: std::collections::BinaryHeap<i64>,
    hi: std::collections::BinaryHeap<std::cmp::Reverse<i64>>,
}

impl RunningMedian {
    pub fn clear(&mut self) {
        self.lo.clear();
        self.hi.clear();
    }

    pub fn push(&mut self, x: i64) {
        match self.lo.peek() {
            Some(&top) if x > top => self.hi.push(std::cmp::Reverse(x)),
            _ => self.lo.push(x),
        }
        // Keep lo.len() == hi.len() or hi.len() + 1.
        if self.lo.len() > self.hi.len() + 1 {
            if let Some(v) = self.lo.pop() {
                self.hi.push(std::cmp::Reverse(v));
            }
        } else if self.hi.len() > self.lo.len() {
            if let Some(std::cmp::Reverse(v)) = self.hi.pop() {
                self.lo.push(v);
            }
        }
    }

    /// The lower and upper middle values; `None` when empty.
    pub fn median(&self) -> Option<(i64, i64)> {
        let lo = *self.lo.peek()?;
        if self.lo.len() > self.hi.len() {
            Some((lo, lo))
        } else {
            self.hi.peek().map(|h| (lo, h.0))
        }
    }
}

/// The days between the starts of consecutive sessions, into `out`.
fn start_gaps(sessions: &[Sess], out: &mut Vec<f64>) {
    out.clear();
    out.extend(sessions.windows(2).map(|p| gap_days(p[1].start - p[0].start)));
}

/// The median, by selection (linear time: a user's whole session history is read once
/// per snapshot, so a sort here was the largest part of finishing 18 snapshots).
fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let n = v.len();
    let (left, mid, _) = v.select_nth_unstable_by(n / 2, f64::total_cmp);
    let upper = *mid;
    Some(if n % 2 == 1 {
        upper
    } else {
        // The lower middle is the largest of the values below.
        let lower = left.iter().copied().max_by(f64::total_cmp).unwrap_or(upper);
        (lower + upper) / 2.0
    })
}

/// Computes one user's row; the plan's aggregates go to `aggs`, in plan order.
pub(crate) fn row(ctx: &RowCtx<'_>, user: &UserIn<'_>, scratch: &mut Scratch, aggs: &mut [f64]) -> Row {
    let UserIn { acc, full, counters, signup, cut } = *user;
    let t = ctx.t.0;
    let sessions = acc.sessions_at(full, t, cut.map(|c| c.k as usize));
    // The cut was made on `full`: it holds unless sessions with an id joined them.
    let cut = cut.filter(|_| acc.id_sessions.is_empty());
    let mut s7 = 0i64;
    let mut s28 = 0i64;
    let mut len28 = 0i64;
    let mut ev28_sess = 0i64;
    let mut weeks = [0i64; N_WEEKS];
    // Sessions are sorted by start: only the last 12 weeks' count below (a user's whole
    // history was walked once per snapshot).
    let recent = match cut {
        Some(c) => (c.r as usize).min(sessions.len()),
        None => sessions.partition_point(|s| t - s.start >= N_WEEKS as i64 * MICROS_PER_WEEK),
    };
    for s in &sessions[recent..] {
        // "Started in the last n days" (whole days before t below n) is `t - start`
        // below n days (floor(x / d) < n exactly when x < n * d): one division a
        // session instead of two.
        let x = t - s.start;
        if x < 7 * MICROS_PER_DAY {
            s7 += 1;
        }
        if x < 28 * MICROS_PER_DAY {
            s28 += 1;
            len28 += s.end - s.start;
            ev28_sess += i64::from(s.count);
        }
        let w = x.div_euclid(MICROS_PER_WEEK);
        if (0..N_WEEKS as i64).contains(&w) {
            weeks[w as usize] += 1;
        }
    }
    let median_gap = match cut {
        Some(c) => c.median_gap,
        None => {
            let gaps = &mut scratch.gaps;
            start_gaps(&sessions, gaps);
            if sessions.len() < 2 {
                None
            } else {
                median(gaps)
            }
        }
    };

    // `i` indexes `slot_counts()`.
    let cnt = |i: usize| -> i64 { ctx.slots[i].map_or(0, |s| i64::from(counters[s])) };
    let feats = &mut scratch.feats;
    feats.clear();
    feats.extend(acc.features.iter().filter(|f| ctx.in_catalog.get(f.code as usize).copied().unwrap_or(false)));
    let mut f7 = 0i64;
    let mut f30 = 0i64;
    let mut week_feats = [0i64; N_WEEKS];
    for f in feats.iter() {
        f7 += i64::from(f.min_day < 7);
        f30 += i64::from(f.min_day < 30);
        for (w, c) in week_feats.iter_mut().enumerate() {
            *c += i64::from(f.weeks >> w & 1);
        }
    }
    let peak = week_feats.iter().copied().max().unwrap_or(0);

    let has_events = acc.n > 0;
    let since_last = has_events.then(|| (t - acc.last) as f64 / MICROS_PER_DAY as f64);
    let start = signup.or(has_events.then_some(acc.first));
    let tenure = start.map(|s| (t - s) as f64 / MICROS_PER_DAY as f64);

    let trailing4 = weeks[1..=4].iter().sum::<i64>() as f64 / 4.0;
    let bw = tenure.map_or(0, |d| ((d / 7.0).floor() as i64).clamp(0, 11)) as usize;
    let mut base = [0f64; N_WEEKS];
    for (b, w) in base.iter_mut().zip(&weeks[1..=bw]) {
        *b = *w as f64;
    }
    let base = &mut base[..bw];
    let base_mean = (bw > 0).then(|| base.iter().sum::<f64>() / bw as f64);
    let base_median = if ctx.base_median { median(base) } else { None };
    let w0 = weeks[0] as f64;
    let wow = (weeks[1] > 0).then(|| (w0 - weeks[1] as f64) / weeks[1] as f64);
    let vs_base = base_mean.filter(|m| *m > 0.0).map(|m| (w0 - m) / m);

    let bits84 = acc.day_bits & ((1u128 << 84) - 1);
    let active_weeks = (0..12).filter(|w| (bits84 >> (7 * w)) & 0x7f != 0).count() as i64;
    // The longest run of set bits, run by run.
    let mut longest = 0i64;
    let mut rest = if ctx.longest_streak { bits84 } else { 0 };
    while rest != 0 {
        rest >>= rest.trailing_zeros();
        let run = rest.trailing_ones();
        longest = longest.max(i64::from(run));
        rest = rest.checked_shr(run).unwrap_or(0);
    }
    let current_streak = i64::from(acc.day_bits.trailing_ones());

    let points: f64 = ctx
        .cfg
        .milestones
        .iter()
        .enumerate()
        .take(64)
        .filter(|(i, _)| acc.milestones >> i & 1 == 1)
        .map(|(_, m)| m.points)
        .sum();
    let nano = |v: i128| v as f64 / 1e9;

    let mut counts = [0i64; N_COUNTS];
    let head = [
        s7,
        s28,
        i64::from((acc.day_bits & ((1u128 << 30) - 1)).count_ones()),
        f7,
        f30,
        peak,
        cnt(0),
        cnt(2),
        cnt(3),
        cnt(4),
        cnt(5),
    ];
    let tail = [
        bw as i64,
        active_weeks,
        longest,
        current_streak,
        week_feats[0],
        sessions.len() as i64,
        acc.n as i64,
        cnt(1),
        acc.milestones.count_ones() as i64,
    ];
    let signals = (6..N_SLOT_COUNTS).map(cnt);
    for (c, v) in counts.iter_mut().zip(head.into_iter().chain(weeks).chain(tail).chain(signals)) {
        *c = v;
    }
    let floats = [
        Some(s28 as f64 / 4.0),
        (ctx.catalog_size > 0).then(|| f30 as f64 / ctx.catalog_size as f64),
        (s28 > 0).then(|| len28 as f64 / 60e6 / s28 as f64),
        since_last,
        median_gap,
        tenure,
        Some(trailing4),
        base_mean,
        base_median,
        wow,
        vs_base,
        (s28 > 0).then(|| ev28_sess as f64 / s28 as f64),
        ctx.has_revenue.then(|| nano(acc.revenue)),
        ctx.has_revenue.then(|| nano(acc.revenue_30d)),
        Some(points.min(100.0)),
    ];
    let ints = [since_last.map(|d| d.floor() as i64)];

    // Sessions that started in the last `days` days (a suffix: sorted by start).
    // (Likewise `t - start` against whole days: no division a probe.)
    let within =
        |days: u32| sessions.len() - sessions.partition_point(|s| t - s.start >= i64::from(days) * MICROS_PER_DAY);
    for ((i, a), out) in ctx.plan.aggs().iter().enumerate().zip(aggs.iter_mut()) {
        *out = match a {
            Agg::EventCount { .. } => ctx.compiled.slot_of_agg[i].map_or(0.0, |s| f64::from(counters[s as usize])),
            Agg::DistinctFeatures { days } => {
                let d = u16::try_from(*days).unwrap_or(u16::MAX);
                feats.iter().filter(|f| f.min_day < d || (d == u16::MAX)).count() as f64
            }
            Agg::SessionCount { days } => within(*days) as f64,
            Agg::AvgWeeklySessions { days } => within(*days) as f64 / (f64::from(*days) / 7.0),
            Agg::ActiveDays { days } => {
                let mask = if *days >= 128 { u128::MAX } else { (1u128 << days) - 1 };
                f64::from((acc.day_bits & mask).count_ones())
            }
        };
    }
    Row { counts, ints, floats }
}

/// Gathers the blocks into the kept columns of [`layout`].
pub(crate) fn columns(
    blocks: &[Block],
    keep: &Keep,
    accounts: &[Option<&str>],
    account_users: &[[Option<i64>; 3]],
) -> Vec<(String, Column)> {
    use rayon::prelude::*;
    keep.layout
        .par_iter()
        .cloned()
        .map(|(name, kind)| {
            let col = match kind {
                Kind::C(i) => Column::Count(gather(blocks, |b| &b.counts, i)),
                Kind::I(i) => Column::Int(gather(blocks, |b| &b.ints, i)),
                Kind::F(i) => Column::Float(gather(blocks, |b| &b.floats, i)),
                Kind::Account => Column::Str(accounts.iter().map(|a| a.map(str::to_string)).collect()),
                Kind::AccountUsers(i) => Column::Int(account_users.iter().map(|a| a[i]).collect()),
            };
            (name, col)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The running median after every push equals the selection median of the
        /// values so far, converted to days.
        #[test]
        fn running_median_is_the_median(xs in proptest::collection::vec(0i64..5 * MICROS_PER_DAY, 0..60)) {
            let mut run = RunningMedian::default();
            for (i, &x) in xs.iter().enumerate() {
                run.push(x);
                let mut days: Vec<f64> = xs[..=i].iter().map(|&v| gap_days(v)).collect();
                let want = median(&mut days);
                let got = run.median().map(|(lo, hi)| (gap_days(lo) + gap_days(hi)) / 2.0);
                prop_assert_eq!(got, want);
            }
        }
    }

    #[test]
    fn session_cuts_at_the_edges_and_out_of_order() {
        let weeks = N_WEEKS as i64 * MICROS_PER_WEEK;
        let t = 400 * MICROS_PER_DAY;
        let s = |start: i64| Sess { start, end: start, count: 1 };
        // Starts: before the 12-week edge, on it, after it, on t, after t.
        let v = vec![s(t - weeks - 1), s(t - weeks), s(t - weeks + 1), s(t), s(t + 1)];
        let store = crate::acc::SessStore::flat(vec![v.clone(), Vec::new()]);
        // The later time first: cuts are per time, whatever their order.
        let cuts = session_cuts(&store, &[t, t - weeks]);
        let c = cuts[0][0];
        assert_eq!((c.k, c.r), (4, 2), "a start on t is in; one on t - 12 weeks is before the window");
        // Gaps between the first 4 starts: 1 us, 1 us, weeks - 1 us: median 1 us.
        assert_eq!(c.median_gap, Some(gap_days(1)));
        let c = cuts[1][0];
        assert_eq!((c.k, c.r), (2, 0));
        assert_eq!(c.median_gap, Some(gap_days(1)));
        let empty = cuts[0][1];
        assert_eq!((empty.k, empty.r, empty.median_gap), (0, 0, None));
    }

    #[test]
    fn running_median_of_a_known_list() {
        let mut run = RunningMedian::default();
        assert_eq!(run.median(), None);
        for x in [5, 1, 9, 3] {
            run.push(x);
        }
        assert_eq!(run.median(), Some((3, 5)));
        run.push(4);
        assert_eq!(run.median(), Some((4, 4)));
    }
}
