//! `strata snapshots`: segments at several as-of times computed in one pass over the
//! events, the transition matrix between consecutive snapshots for every family (with
//! `new` and `churned` states), and the users entering and leaving each segment.

use super::frame::{build_table_with, Attributes, Frame};
use crate::args::{InputArgs, SnapshotsArgs};
use crate::Failure;
use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, TimestampMicrosecondArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};
use strata_core::{AsOf, MICROS_PER_DAY};
use strata_features::Plan;
use strata_io::{EncodedRowGroup, RowGroupEncoder};
use strata_rules::Column;

/// A user not yet in the data at a snapshot (signed up or first seen later).
pub const NEW: &str = "new";
/// A user past the inactivity threshold at a snapshot.
pub const CHURNED: &str = "churned";

/// `7d`, `2w`, `12h` in microseconds.
pub fn parse_every(s: &str) -> Result<i64, Failure> {
    let bad = || Failure::Input(format!("--every '{s}': give a number and a unit, like 7d, 2w or 12h"));
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
    let n: i64 = num.parse().map_err(|_| bad())?;
    let unit_us = match unit {
        "d" => MICROS_PER_DAY,
        "w" => 7 * MICROS_PER_DAY,
        "h" => MICROS_PER_DAY / 24,
        _ => return Err(bad()),
    };
    if n <= 0 {
        return Err(bad());
    }
    Ok(n * unit_us)
}

fn parse_time(flag: &str, s: &str) -> Result<i64, Failure> {
    AsOf::parse_rfc3339(s).map(|t| t.0).map_err(|e| Failure::Input(format!("{flag} '{s}': {e}")))
}

/// The as-of times asked for, checked against the span of the events.
fn times(a: &SnapshotsArgs, first: i64, last: i64) -> Result<Vec<i64>, Failure> {
    let span = || format!("the events cover {} to {}", AsOf(first).to_rfc3339(), AsOf(last).to_rfc3339());
    let mut out: Vec<i64> = Vec::new();
    if !a.as_of.is_empty() {
        if a.every.is_some() || a.from.is_some() || a.to.is_some() {
            return Err(Failure::Input("give either --as-of (repeated) or --every with --from/--to, not both".into()));
        }
        for s in &a.as_of {
            out.push(parse_time("--as-of", s)?);
        }
    } else {
        let Some(every) = a.every.as_deref() else {
            return Err(Failure::Input(
                "give the snapshot times: --as-of T (repeated), or --every 7d [--from T1] [--to T2]".into(),
            ));
        };
        let step = parse_every(every)?;
        let to = a.to.as_deref().map(|s| parse_time("--to", s)).transpose()?.unwrap_or(last);
        let from = a.from.as_deref().map(|s| parse_time("--from", s)).transpose()?.unwrap_or(first);
        if from > to {
            return Err(Failure::Input("--from is after --to".into()));
        }
        // Counted back from --to, so the last snapshot is exactly --to.
        let mut t = to;
        while t >= from {
            out.push(t);
            t -= step;
        }
    }
    for t in &out {
        if *t < first || *t > last {
            return Err(Failure::Input(format!(
                "snapshot time {} is outside the data: {}; choose times within it",
                AsOf(*t).to_rfc3339(),
                span()
            )));
        }
    }
    out.sort_unstable();
    out.dedup();
    if out.len() < 2 {
        return Err(Failure::Input(format!("give at least two snapshot times ({})", span())));
    }
    Ok(out)
}

/// One snapshot evaluated.
struct Snap {
    at: i64,
    /// Seconds the shared pass over the events took.
    scan: f64,
    /// How many rows it has in `segments_over_time.parquet`.
    rows: usize,
    /// The users, in row order: the long table's `user_id` column (an Arrow array
    /// shares it). A `UserKey` per user and snapshot held until the end kept about
    /// 700,000 small allocations alive on the benchmark.
    ids: ArrayRef,
    /// Per family, in order: its name and each user's state code (a segment's index,
    /// or `CHURNED_C`, `UNCLASSIFIED_C`). Four bytes a user instead of the outcome's
    /// sixteen and a membership flag per segment: 18 snapshots are held until the end.
    families: Vec<(String, Vec<u32>)>,
    /// Per segment: its members, for segments without a family only (empty otherwise).
    flags: Vec<Vec<bool>>,
}

/// State codes of the transitions: a segment's index, or one of these.
const NEW_C: u32 = u32::MAX;
const CHURNED_C: u32 = u32::MAX - 1;
const UNCLASSIFIED_C: u32 = u32::MAX - 2;

fn ts_field(name: &str) -> Field {
    Field::new(name, DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false)
}

fn ts_array(v: Vec<i64>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(v).with_timezone("UTC"))
}

/// The columns of `membership_changes.parquet`.
fn changes_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Utf8, false),
        ts_field("from_as_of"),
        ts_field("to_as_of"),
        Field::new("family", DataType::Utf8, true),
        Field::new("segment", DataType::Utf8, false),
        Field::new("change", DataType::Utf8, false),
        Field::new("other_segment", DataType::Utf8, true),
    ]))
}

/// One row of `transitions.parquet`: family, from, to, users, share.
type TrRow<'a> = (&'a str, &'a str, &'a str, i64, f64);

/// The transitions and membership changes from snapshot `p` to `q`: the transition
/// rows, and the changes as one batch.
fn pair<'a>(
    program: &'a strata_rules::Program,
    p: &'a Snap,
    q: &'a Snap,
) -> Result<(Vec<TrRow<'a>>, RecordBatch), Failure> {
    let name_of = |c: u32| -> &'a str {
        match c {
            NEW_C => NEW,
            CHURNED_C => CHURNED,
            UNCLASSIFIED_C => "Unclassified",
            i => &program.segments[i as usize].name,
        }
    };
    let state = |s: &Snap, fi: usize, u: usize| -> u32 { s.families[fi].1[u] };
    // Where each user of q was in p (None: not yet signed up).
    let was = align(&p.ids, &q.ids);
    // State codes to dense indexes: segments, then the three codes above.
    let n_seg = program.segments.len();
    let dense = |c: u32| -> usize {
        match c {
            UNCLASSIFIED_C => n_seg,
            CHURNED_C => n_seg + 1,
            NEW_C => n_seg + 2,
            i => i as usize,
        }
    };
    let code_of = |d: usize| -> u32 {
        if d < n_seg {
            d as u32
        } else {
            [UNCLASSIFIED_C, CHURNED_C, NEW_C][d - n_seg]
        }
    };
    let width = n_seg + 3;
    let mut tr: Vec<TrRow<'a>> = Vec::new();
    // (user index in q, family or None for a flag, segment code, entered, other code)
    let mut ch: Vec<(u32, Option<u32>, u32, bool, u32)> = Vec::new();
    for (fi, (fam_name, _)) in q.families.iter().enumerate() {
        let fam_name: &'a str = fam_name;
        let mut counts = vec![0i64; width * width];
        for (u, before) in was.iter().enumerate() {
            let from = before.map_or(NEW_C, |b| state(p, fi, b));
            let to = state(q, fi, u);
            counts[dense(from) * width + dense(to)] += 1;
            if from != to {
                if from != NEW_C {
                    ch.push((u as u32, Some(fi as u32), from, false, to));
                }
                ch.push((u as u32, Some(fi as u32), to, true, from));
            }
        }
        let mut named: Vec<((&str, &str), i64)> = counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, c)| ((name_of(code_of(i / width)), name_of(code_of(i % width))), *c))
            .collect();
        named.sort_unstable();
        let mut row_totals: BTreeMap<&str, i64> = BTreeMap::new();
        for ((f, _), c) in &named {
            *row_totals.entry(f).or_default() += c;
        }
        for ((f, t), c) in named {
            tr.push((fam_name, f, t, c, c as f64 / row_totals[f].max(1) as f64));
        }
    }
    // Flags: entering and leaving.
    for (si, _) in program.segments.iter().enumerate().filter(|(_, s)| s.family.is_none()) {
        for (u, before) in was.iter().enumerate() {
            let had = before.is_some_and(|b| p.flags[si][b]);
            let is = q.flags[si][u];
            if had != is {
                ch.push((u as u32, None, si as u32, is, NEW_C));
            }
        }
    }
    let fam_names: Vec<&str> = q.families.iter().map(|f| f.0.as_str()).collect();
    // Sized for the longest name up front: grown by doubling, the four columns were
    // copied about 17 times over for a weekly pair of the benchmark (125,000 rows).
    let longest = program.segments.iter().map(|s| s.name.len()).chain(fam_names.iter().map(|f| f.len())).max();
    let longest = longest.unwrap_or(0).max(CHURNED.len()).max("Unclassified".len());
    let col = |width: usize| arrow_array::builder::StringBuilder::with_capacity(ch.len(), ch.len() * width);
    let (mut fam_col, mut seg_col) = (col(longest), col(longest));
    let (mut change_col, mut other_col) = (col("entered".len()), col(longest));
    let user_col = ids_at(&q.ids, ch.iter().map(|c| c.0)).map_err(|e| Failure::Internal(e.to_string()))?;
    for &(_, fam, seg, entered, other) in &ch {
        match fam {
            Some(f) => {
                fam_col.append_value(fam_names[f as usize]);
                seg_col.append_value(name_of(seg));
                other_col.append_value(name_of(other));
            }
            None => {
                fam_col.append_null();
                seg_col.append_value(&program.segments[seg as usize].name);
                other_col.append_null();
            }
        }
        change_col.append_value(if entered { "entered" } else { "left" });
    }
    let batch = RecordBatch::try_new(
        changes_schema(),
        vec![
            user_col,
            ts_array(vec![p.at; ch.len()]),
            ts_array(vec![q.at; ch.len()]),
            Arc::new(fam_col.finish()),
            Arc::new(seg_col.finish()),
            Arc::new(change_col.finish()),
            Arc::new(other_col.finish()),
        ],
    )
    .map_err(|e| Failure::Internal(e.to_string()))?;
    Ok((tr, batch))
}

/// The ids at `rows` of a `user_id` column, as strings (integer ids written out).
fn ids_at(ids: &ArrayRef, rows: impl Iterator<Item = u32>) -> Result<ArrayRef, arrow_schema::ArrowError> {
    let rows = arrow_array::UInt32Array::from_iter_values(rows);
    arrow_cast::cast(&arrow_select::take::take(ids, &rows, None)?, &DataType::Utf8)
}

/// Where each user of `q` is in `p` (None: absent), from their `user_id` columns
/// (strings or integers, as the long table has them).
fn align(p: &ArrayRef, q: &ArrayRef) -> Vec<Option<usize>> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    if let (Some(p), Some(q)) = (p.as_string_opt::<i32>(), q.as_string_opt::<i32>()) {
        return align_keys(
            &p.iter().map(Option::unwrap_or_default).collect::<Vec<_>>(),
            &q.iter().map(Option::unwrap_or_default).collect::<Vec<_>>(),
        );
    }
    if let (Some(p), Some(q)) = (p.as_primitive_opt::<Int64Type>(), q.as_primitive_opt::<Int64Type>()) {
        return align_keys(p.values(), q.values());
    }
    vec![None; q.len()]
}

/// [`align`] on the keys. Both are sorted by key (the engine's row order), so a merge
/// finds them; 17 weekly pairs of 50,000 users spent 0.1 s of CPU hashing string keys
/// instead.
fn align_keys<K: Ord + std::hash::Hash>(p: &[K], q: &[K]) -> Vec<Option<usize>> {
    let sorted = |v: &[K]| v.windows(2).all(|w| w[0] < w[1]);
    if !(sorted(p) && sorted(q)) {
        let in_p: HashMap<&K, usize> = p.iter().enumerate().map(|(u, k)| (k, u)).collect();
        return q.iter().map(|k| in_p.get(k).copied()).collect();
    }
    let mut i = 0;
    q.iter()
        .map(|k| {
            while i < p.len() && p[i] < *k {
                i += 1;
            }
            (i < p.len() && p[i] == *k).then_some(i)
        })
        .collect()
}

pub fn run(a: SnapshotsArgs, quiet: bool) -> Result<(), Failure> {
    let started = std::time::Instant::now();
    let (shown, program) = super::rules::load_program(a.rules.as_deref())?;
    std::fs::create_dir_all(&a.out)
        .map_err(|e| Failure::Input(format!("cannot create output folder {}: {e}", a.out.display())))?;
    let seg_path = a.out.join("segments_over_time.parquet");
    let tr_path = a.out.join("transitions.parquet");
    let ch_path = a.out.join("membership_changes.parquet");
    let input = InputArgs::plain(Some(a.events.clone()), a.users.clone(), a.config.clone());
    let mut plan = Plan::new();
    let agg_ids = super::segment::plan_aggregates(&program, &mut plan, &shown)?;
    // Only the feature columns the rules read, and the two that tell churned users.
    plan.keep_only_columns(
        program
            .operands
            .iter()
            .filter_map(|op| match op {
                strata_rules::Operand::Feature(f) => Some(f.clone()),
                _ => None,
            })
            .chain(["days_since_last_seen".to_string(), "tenure_days".to_string()]),
    );
    plan.skip_feature_sets();
    let pick = |source: &strata_io::EventSource, _: Option<&strata_io::UsersTable>, _: &strata_core::Config| {
        let Some((first, last)) = strata_features::event_time_range(source)? else {
            return Err(Failure::Input("the events hold no timestamps: nothing to take snapshots of".into()));
        };
        Ok(times(&a, first, last)?.into_iter().map(|t| (AsOf(t), "--as-of")).collect())
    };
    let trace = std::env::var_os("STRATA_TRACE").is_some();
    let lap = |what: &str| {
        if trace {
            eprintln!("trace: {what} done at {:.3} s", started.elapsed().as_secs_f64());
        }
    };
    let churn_days = a.churn_days as f64;
    // The long table's schema is the first snapshot's; every other must equal it.
    let seg_encoder: OnceLock<Result<(SchemaRef, RowGroupEncoder), String>> = OnceLock::new();
    // Each snapshot's rules run as soon as its features are finished, side by side,
    // and its feature table is dropped once its rows of the long table are encoded:
    // 18 feature tables never sit in memory at once.
    let evaluate = |out: strata_features::Output,
                    attrs: &Attributes<'_>,
                    cfg: &strata_core::Config|
     -> Result<(Snap, EncodedRowGroup), Failure> {
        let at = out.as_of.0;
        let scan = out.timings.iter().find(|(p, _)| *p == "scan").map_or(0.0, |(_, s)| *s);
        let frame = Frame::Engine { out: Box::new(out), agg_ids: agg_ids.clone() };
        let mut table = build_table_with(&program, &frame, attrs, cfg, &shown)?;
        let mut outcome = strata_rules::run(&program, &mut table);
        drop(table);
        let num = |name: &str| match frame.feature(name) {
            Some(Column::Num(v)) => v,
            _ => vec![f64::NAN; frame.rows()],
        };
        let seen = num("days_since_last_seen");
        let tenure = num("tenure_days");
        let churned: Vec<bool> = seen
            .iter()
            .zip(&tenure)
            .map(|(s, t)| if s.is_nan() { !t.is_nan() && *t >= churn_days } else { *s >= churn_days })
            .collect();
        let scores = std::mem::take(&mut outcome.scores);
        let b = super::segment::segments_batch_from(&program, &frame, &outcome, scores)?;
        let ids = b.column(0).clone();
        drop(frame);
        let rows = b.num_rows();
        let mut fields = vec![ts_field("as_of")];
        fields.extend(b.schema().fields().iter().map(|f| f.as_ref().clone()));
        let mut cols: Vec<ArrayRef> = vec![ts_array(vec![at; rows])];
        cols.extend(b.columns().iter().cloned());
        let batch =
            RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).map_err(|e| Failure::Internal(e.to_string()))?;
        let (_, enc) = seg_encoder
            .get_or_init(|| RowGroupEncoder::new(batch.schema()).map(|e| (batch.schema(), e)))
            .as_ref()
            .map_err(|e| Failure::Internal(e.clone()))?;
        let segments = enc.encode(&batch).map_err(Failure::Internal)?;
        // Its rows of the long table, encoded: a fifth of the memory of the rows
        // themselves on the benchmark data.
        let families = outcome
            .families
            .iter()
            .map(|f| {
                let codes = f
                    .assigned
                    .iter()
                    .zip(&churned)
                    .map(|(a, c)| if *c { CHURNED_C } else { a.map_or(UNCLASSIFIED_C, |i| i as u32) })
                    .collect();
                (f.name.clone(), codes)
            })
            .collect();
        let flags = program
            .segments
            .iter()
            .zip(std::mem::take(&mut outcome.members))
            .map(|(s, m)| if s.family.is_none() { m } else { Vec::new() })
            .collect();
        Ok((Snap { at, scan, rows, ids, families, flags }, segments))
    };
    let (snaps, _, _) =
        super::features::engine_each(&input, &plan, &[&seg_path, &tr_path, &ch_path], quiet, &pick, &evaluate)?;
    let (snaps, seg_groups): (Vec<Snap>, Vec<EncodedRowGroup>) =
        snaps.into_iter().collect::<Result<Vec<_>, _>>()?.into_iter().unzip();
    let scan_secs = snaps.iter().map(|s| s.scan).fold(0.0, f64::max);
    let long_rows: usize = snaps.iter().map(|s| s.rows).sum();
    lap("engine and rules");

    // Transitions and membership changes between consecutive snapshots, pair by pair
    // side by side, on state codes rather than names (17 weekly pairs of 50,000 users
    // took 5.3 s with a String per user and state, 0.3 s with codes).
    let ch_schema = changes_schema();
    let ch_encoder = RowGroupEncoder::new(ch_schema.clone()).map_err(Failure::Internal)?;
    use rayon::prelude::*;
    let pairs: Vec<(Vec<TrRow<'_>>, EncodedRowGroup, usize)> = (1..snaps.len())
        .into_par_iter()
        .map(|i| -> Result<_, Failure> {
            let (tr, batch) = pair(&program, &snaps[i - 1], &snaps[i])?;
            let n = batch.num_rows();
            Ok((tr, ch_encoder.encode(&batch).map_err(Failure::Internal)?, n))
        })
        .collect::<Result<_, _>>()?;
    let mut tr: Vec<(TrRow<'_>, i64, i64)> = Vec::new();
    let mut ch_groups = Vec::with_capacity(pairs.len());
    let mut ch_rows = 0;
    for (i, (rows, group, n)) in pairs.into_iter().enumerate() {
        tr.extend(rows.into_iter().map(|r| (r, snaps[i].at, snaps[i + 1].at)));
        ch_groups.push(group);
        ch_rows += n;
    }
    let s_col = |v: Vec<&str>| -> ArrayRef { Arc::new(arrow_array::StringArray::from(v)) };
    let tr_batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("family", DataType::Utf8, false),
            ts_field("from_as_of"),
            ts_field("to_as_of"),
            Field::new("from_segment", DataType::Utf8, false),
            Field::new("to_segment", DataType::Utf8, false),
            Field::new("users", DataType::Int64, false),
            Field::new("share", DataType::Float64, false),
        ])),
        vec![
            s_col(tr.iter().map(|r| r.0 .0).collect()),
            ts_array(tr.iter().map(|r| r.1).collect()),
            ts_array(tr.iter().map(|r| r.2).collect()),
            s_col(tr.iter().map(|r| r.0 .1).collect()),
            s_col(tr.iter().map(|r| r.0 .2).collect()),
            Arc::new(Int64Array::from(tr.iter().map(|r| r.0 .3).collect::<Vec<_>>())),
            Arc::new(Float64Array::from(tr.iter().map(|r| r.0 .4).collect::<Vec<_>>())),
        ],
    )
    .map_err(|e| Failure::Internal(e.to_string()))?;
    lap("transitions and changes");
    let (seg_schema, _) = seg_encoder
        .into_inner()
        .ok_or_else(|| Failure::Internal("no snapshot was evaluated".into()))?
        .map_err(Failure::Internal)?;
    let first_at = snaps[0].at;
    let last_at = snaps[snaps.len() - 1].at;
    let n_snaps = snaps.len();
    // Three files, written side by side, while the snapshots' keys and states are
    // freed (about 700,000 allocations on the benchmark: 10 ms on the main thread alone
    // after the writes).
    let ((a, _), (b, c)) = rayon::join(
        || rayon::join(|| strata_io::write_encoded_atomic(&seg_path, &seg_schema, seg_groups), || drop(snaps)),
        || {
            rayon::join(
                || strata_io::write_parquet_atomic(&tr_path, &tr_batch),
                || strata_io::write_encoded_atomic(&ch_path, &ch_schema, ch_groups),
            )
        },
    );
    a?;
    b?;
    c?;
    lap("writes");
    if !quiet {
        eprintln!(
            "{n_snaps} snapshots from {} to {} in one pass ({scan_secs:.1} s for the events, {:.1} s in all); rules: {shown}",
            AsOf(first_at).to_rfc3339(),
            AsOf(last_at).to_rfc3339(),
            started.elapsed().as_secs_f64()
        );
        eprintln!(
            "wrote {} ({long_rows} rows), {} ({} rows), {} ({ch_rows} rows)",
            seg_path.display(),
            tr_path.display(),
            tr_batch.num_rows(),
            ch_path.display(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::StringArray;

    fn strs(v: &[&str]) -> ArrayRef {
        Arc::new(StringArray::from(v.to_vec()))
    }

    fn ints(v: &[i64]) -> ArrayRef {
        Arc::new(Int64Array::from(v.to_vec()))
    }

    #[test]
    fn align_finds_each_user_of_the_later_snapshot() {
        // Sorted (the engine's order): merged.
        let want = vec![Some(0), None, Some(1), None];
        assert_eq!(align(&strs(&["a", "c"]), &strs(&["a", "b", "c", "d"])), want);
        assert_eq!(align(&ints(&[1, 3]), &ints(&[1, 2, 3, 4])), want);
        // Unsorted: looked up by hash, same answer.
        assert_eq!(align(&strs(&["c", "a"]), &strs(&["d", "c", "b", "a"])), vec![None, Some(0), None, Some(1)]);
        assert_eq!(align(&ints(&[3, 1]), &ints(&[4, 3, 2, 1])), vec![None, Some(0), None, Some(1)]);
        // Nobody before.
        assert_eq!(align(&strs(&[]), &strs(&["a"])), vec![None]);
    }

    #[test]
    fn change_rows_name_users_as_strings() {
        let got = ids_at(&ints(&[10, 20, 30]), [2, 0, 2].into_iter()).unwrap();
        let got: Vec<&str> = got.as_string::<i32>().iter().map(Option::unwrap).collect();
        assert_eq!(got, ["30", "10", "30"]);
        let got = ids_at(&strs(&["x", "y"]), [1].into_iter()).unwrap();
        assert_eq!(got.as_string::<i32>().value(0), "y");
    }
}
