//! Vectorised evaluation: each expression node over a block of users at once, into a
//! buffer, so the inner loops are branch-free passes over column slices instead of one
//! tree walk per user. Numbers use NaN for null; truth values are 0 (false), 1 (true)
//! and 2 (unknown). Whatever has no block form here (strings, mixed types) falls back to
//! the scalar [`eval`] row by row, so the results are the scalar evaluator's exactly
//! (a property test compares the two on random programs and tables).
//!
//! Measured on the default rules over 1,000,000 users on 2 cores (`cargo bench --bench
//! rules`): the scalar tree walk took 1.09 s, mostly in mispredicted branches on
//! bucket edges; see docs/performance.md for this evaluator's figure.

use crate::ast::BinOp;
use crate::eval::{eval, CComponent, CExpr, CRow, CTest, Value};
use crate::run::{Column, Table};
use std::ops::Range;

/// Users per block.
pub(crate) const BLOCK: usize = 1024;

const F: u8 = 0;
const T: u8 = 1;
const U: u8 = 2;

/// Whether `e` is a number (or null) for every user of `t`, so it has a block form.
pub(crate) fn is_num(e: &CExpr, t: &Table) -> bool {
    match e {
        CExpr::Num(_) => true,
        CExpr::Slot(i) => matches!(t.cols.get(*i), Some(Column::Num(_) | Column::Const(_) | Column::Null)),
        CExpr::Neg(x) => is_num(x, t),
        CExpr::Bin(BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div, l, r) => is_num(l, t) && is_num(r, t),
        _ => false,
    }
}

/// The dictionary and codes of a string column read directly.
fn str_slot<'t>(e: &CExpr, t: &'t Table) -> Option<(&'t [String], &'t [u32])> {
    match e {
        CExpr::Slot(i) => match t.cols.get(*i) {
            Some(Column::Str { dict, codes }) => Some((dict, codes)),
            _ => None,
        },
        _ => None,
    }
}

fn fill<T: Copy>(out: &mut Vec<T>, len: usize, v: T) {
    out.clear();
    out.resize(len, v);
}

/// Numbers of `e` (which must satisfy [`is_num`]) for `rows`; NaN is null.
pub(crate) fn num_block(e: &CExpr, t: &Table, rows: Range<usize>, out: &mut Vec<f64>) {
    let len = rows.len();
    match e {
        CExpr::Num(c) => fill(out, len, *c),
        CExpr::Slot(i) => match t.cols.get(*i) {
            Some(Column::Num(v)) => {
                out.clear();
                out.extend_from_slice(&v[rows]);
            }
            Some(Column::Const(c)) => fill(out, len, *c),
            _ => fill(out, len, f64::NAN),
        },
        CExpr::Neg(x) => {
            num_block(x, t, rows, out);
            out.iter_mut().for_each(|v| *v = -*v);
        }
        CExpr::Bin(op, l, r) => {
            num_block(l, t, rows.clone(), out);
            let mut rhs = Vec::with_capacity(len);
            num_block(r, t, rows, &mut rhs);
            // Non-finite results (a division by zero, an overflow) are null, as in eval.
            let f = |v: f64| if v.is_finite() { v } else { f64::NAN };
            match op {
                BinOp::Add => out.iter_mut().zip(&rhs).for_each(|(a, b)| *a = f(*a + b)),
                BinOp::Sub => out.iter_mut().zip(&rhs).for_each(|(a, b)| *a = f(*a - b)),
                BinOp::Mul => out.iter_mut().zip(&rhs).for_each(|(a, b)| *a = f(*a * b)),
                _ => out.iter_mut().zip(&rhs).for_each(|(a, b)| *a = f(*a / b)),
            }
        }
        // Not reached for expressions that pass is_num; kept total for safety.
        other => {
            out.clear();
            out.extend(rows.map(|r| match eval(other, t, r) {
                Value::Num(x) => x,
                _ => f64::NAN,
            }));
        }
    }
}

/// The numbers of `e` for `rows` (see [`num_block`]): a column's own values when `e`
/// is a column of numbers, else computed into `buf`.
fn num_slice<'a>(e: &CExpr, t: &'a Table, rows: Range<usize>, buf: &'a mut Vec<f64>) -> &'a [f64] {
    if let CExpr::Slot(i) = e {
        if let Some(Column::Num(v)) = t.cols.get(*i) {
            return &v[rows];
        }
    }
    num_block(e, t, rows, buf);
    buf
}

/// Runs the caller's `$go!` with the comparison `$op` stands for, as a closure: the
/// operator is matched once and each arm's loop is compiled for its own comparison.
macro_rules! by_op {
    ($op:expr, $go:ident) => {
        match $op {
            BinOp::Ge => $go!(|x: f64, y: f64| x >= y),
            BinOp::Le => $go!(|x: f64, y: f64| x <= y),
            BinOp::Gt => $go!(|x: f64, y: f64| x > y),
            BinOp::Lt => $go!(|x: f64, y: f64| x < y),
            BinOp::Eq => $go!(|x: f64, y: f64| x == y),
            _ => $go!(|x: f64, y: f64| x != y),
        }
    };
}

/// `cmp3(op, x, y)` for every pair of `xs` and `ys`, into `out`. The operator is
/// matched once, not per value, and the NaN test is arithmetic, so each loop is
/// branch-free (the per-value match and NaN branch were most of the rules' time:
/// `cargo bench --bench rules`, docs/performance.md).
fn cmp3_all(op: BinOp, xs: &[f64], ys: impl Iterator<Item = f64>, out: &mut Vec<u8>) {
    out.clear();
    out.resize(xs.len(), 0);
    macro_rules! go {
        ($f:expr) => {
            for ((o, &x), y) in out.iter_mut().zip(xs).zip(ys) {
                let n = x.is_nan() | y.is_nan();
                *o = u8::from($f(x, y) & !n) | (u8::from(n) << 1);
            }
        };
    }
    by_op!(op, go);
}

/// `cmp3(op, x, y) == T` for every pair of `xs` and `ys`, into `mask` (see
/// [`cmp3_all`]).
fn cmp_true_all(op: BinOp, xs: &[f64], ys: impl Iterator<Item = f64>, mask: &mut [bool]) {
    macro_rules! go {
        ($f:expr) => {
            for ((m, &x), y) in mask.iter_mut().zip(xs).zip(ys) {
                *m = $f(x, y) & !(x.is_nan() | y.is_nan());
            }
        };
    }
    by_op!(op, go);
}

#[inline]
fn cmp3(op: BinOp, x: f64, y: f64) -> u8 {
    if x.is_nan() || y.is_nan() {
        return U;
    }
    u8::from(crate::eval::cmp_num(op, x, y))
}

fn scalar_truth(e: &CExpr, t: &Table, rows: Range<usize>, out: &mut Vec<u8>) {
    out.clear();
    out.extend(rows.map(|r| match eval(e, t, r) {
        Value::Bool(true) => T,
        Value::Bool(false) => F,
        _ => U,
    }));
}

/// Three-valued truth of `e` for `rows`.
pub(crate) fn truth_block(e: &CExpr, t: &Table, rows: Range<usize>, out: &mut Vec<u8>) {
    let len = rows.len();
    match e {
        CExpr::CmpConst(op, i, c) => match t.cols.get(*i) {
            Some(Column::Num(v)) => cmp3_all(*op, &v[rows], std::iter::repeat(*c), out),
            Some(Column::Const(x)) => fill(out, len, cmp3(*op, *x, *c)),
            Some(Column::Null) => fill(out, len, U),
            _ => scalar_truth(e, t, rows, out),
        },
        CExpr::Bin(op @ (BinOp::And | BinOp::Or), l, r) => {
            truth_block(l, t, rows.clone(), out);
            let mut rhs = Vec::with_capacity(len);
            truth_block(r, t, rows, &mut rhs);
            // Indexed by a * 3 + b.
            const AND: [u8; 9] = [F, F, F, F, T, U, F, U, U];
            const OR: [u8; 9] = [F, T, U, T, T, T, U, T, U];
            let table = if *op == BinOp::And { &AND } else { &OR };
            out.iter_mut().zip(&rhs).for_each(|(a, b)| *a = table[(*a * 3 + b) as usize]);
        }
        CExpr::Not(x) => {
            truth_block(x, t, rows, out);
            const NOT: [u8; 3] = [T, F, U];
            out.iter_mut().for_each(|a| *a = NOT[*a as usize]);
        }
        CExpr::Bin(op @ (BinOp::Ge | BinOp::Le | BinOp::Gt | BinOp::Lt | BinOp::Eq | BinOp::Ne), l, r)
            if is_num(l, t) && is_num(r, t) =>
        {
            let (mut a, mut b) = (Vec::with_capacity(len), Vec::with_capacity(len));
            num_block(l, t, rows.clone(), &mut a);
            num_block(r, t, rows, &mut b);
            cmp3_all(*op, &a, b.iter().copied(), out);
        }
        CExpr::Bin(op @ (BinOp::Eq | BinOp::Ne), l, r) if str_slot(l, t).is_some() && matches!(**r, CExpr::Str(_)) => {
            let (Some((dict, codes)), CExpr::Str(s)) = (str_slot(l, t), &**r) else {
                return scalar_truth(e, t, rows, out);
            };
            let target = dict.iter().position(|d| d == s).map_or(u32::MAX - 1, |p| p as u32);
            let ne = *op == BinOp::Ne;
            out.clear();
            out.extend(codes[rows].iter().map(|c| if *c == u32::MAX { U } else { u8::from((*c == target) != ne) }));
        }
        CExpr::In(x, items, negated)
            if str_slot(x, t).is_some() && items.iter().all(|i| matches!(i, CExpr::Str(_))) =>
        {
            let Some((dict, codes)) = str_slot(x, t) else { return scalar_truth(e, t, rows, out) };
            let wanted: Vec<u32> = items
                .iter()
                .filter_map(|i| match i {
                    CExpr::Str(s) => dict.iter().position(|d| d == s).map(|p| p as u32),
                    _ => None,
                })
                .collect();
            out.clear();
            out.extend(codes[rows].iter().map(|c| {
                if *c == u32::MAX {
                    U
                } else {
                    u8::from(wanted.contains(c) != *negated)
                }
            }));
        }
        CExpr::IsNull(x, negated) if str_slot(x, t).is_some() => {
            let Some((_, codes)) = str_slot(x, t) else { return scalar_truth(e, t, rows, out) };
            out.clear();
            out.extend(codes[rows].iter().map(|c| u8::from((*c == u32::MAX) != *negated)));
        }
        CExpr::IsNull(x, negated) if is_num(x, t) => {
            let mut a = Vec::with_capacity(len);
            num_block(x, t, rows, &mut a);
            out.clear();
            out.extend(a.iter().map(|v| u8::from(v.is_nan() != *negated)));
        }
        CExpr::In(x, items, negated) if is_num(x, t) && items.iter().all(|i| matches!(i, CExpr::Num(_))) => {
            let consts: Vec<f64> = items
                .iter()
                .filter_map(|i| match i {
                    CExpr::Num(c) if !c.is_nan() => Some(*c),
                    _ => None,
                })
                .collect();
            let mut a = Vec::with_capacity(len);
            num_block(x, t, rows, &mut a);
            out.clear();
            out.extend(
                a.iter().map(|v| if v.is_nan() { U } else { u8::from(consts.iter().any(|c| c == v) != *negated) }),
            );
        }
        _ => scalar_truth(e, t, rows, out),
    }
}

/// Whether a bucket table has a block form: a numeric input (or none) and bounds that
/// are numbers.
fn table_is_block<V>(input: Option<&CExpr>, rows: &[CRow<V>], t: &Table) -> bool {
    input.is_none_or(|e| is_num(e, t))
        && rows.iter().all(|r| match &r.test {
            CTest::Cmp(_, b) => input.is_some() && is_num(b, t),
            CTest::Null => input.is_some(),
            _ => true,
        })
}

/// For each row test of a table in order, calls `hit(test, mask)` with the users the
/// test applies to, given `matched` (users an earlier test applied to, which `else`
/// reads); `first` stops a user at its first hit.
fn table_block<V>(
    input: Option<&[f64]>,
    tests: &[CRow<V>],
    t: &Table,
    rows: Range<usize>,
    first: bool,
    mut hit: impl FnMut(usize, &[bool]),
) {
    let len = rows.len();
    let mut matched = vec![false; len];
    let mut mask = vec![false; len];
    let mut buf_f = Vec::new();
    let mut buf_t = Vec::new();
    let nan;
    let x = match input {
        Some(x) => x,
        None => {
            nan = vec![f64::NAN; len];
            &nan
        }
    };
    for (k, row) in tests.iter().enumerate() {
        match &row.test {
            // A constant bound (most bucket edges) is compared as it is, not spread
            // into a buffer first.
            CTest::Cmp(op, CExpr::Num(b)) => cmp_true_all(*op, x, std::iter::repeat(*b), &mut mask),
            CTest::Cmp(op, bound) => {
                num_block(bound, t, rows.clone(), &mut buf_f);
                cmp_true_all(*op, x, buf_f.iter().copied(), &mut mask);
            }
            CTest::When(c) => {
                truth_block(c, t, rows.clone(), &mut buf_t);
                for (m, v) in mask.iter_mut().zip(&buf_t) {
                    *m = *v == T;
                }
            }
            CTest::Null => {
                for (m, v) in mask.iter_mut().zip(x) {
                    *m = v.is_nan();
                }
            }
            CTest::Else => {
                for (m, d) in mask.iter_mut().zip(&matched) {
                    *m = !*d;
                }
            }
        }
        if first {
            for (m, d) in mask.iter_mut().zip(&matched) {
                *m &= !*d;
            }
        }
        hit(k, &mask);
        for (d, m) in matched.iter_mut().zip(&mask) {
            *d |= *m;
        }
    }
}

/// A component's points for `rows`.
pub(crate) fn points_block(c: &CComponent, t: &Table, rows: Range<usize>, out: &mut Vec<f64>) {
    if !table_is_block(c.input.as_ref(), &c.rows, t) {
        out.clear();
        out.extend(rows.map(|r| c.points(t, r)));
        return;
    }
    let mut buf = Vec::new();
    let input = c.input.as_ref().map(|e| num_slice(e, t, rows.clone(), &mut buf));
    fill(out, rows.len(), 0.0);
    let sum = c.sum;
    table_block(input, &c.rows, t, rows, !sum, |k, mask| {
        let p = c.rows[k].value;
        for (o, m) in out.iter_mut().zip(mask) {
            // A select rather than a branch: the loop vectorizes.
            *o = if *m { *o + p } else { *o };
        }
    });
}

/// The tier index of each total in `rows` (`totals` is aligned with `rows`).
pub(crate) fn tier_block(
    tiers: &[CRow<String>],
    totals: &[f64],
    t: &Table,
    rows: Range<usize>,
    out: &mut Vec<Option<usize>>,
) {
    let total_expr = CExpr::Num(0.0); // stands for the numeric input in the shape check
    if !table_is_block(Some(&total_expr), tiers, t) {
        out.clear();
        out.extend(rows.zip(totals).map(|(r, v)| tier_scalar(tiers, *v, t, r)));
        return;
    }
    fill(out, rows.len(), None);
    table_block(Some(totals), tiers, t, rows, true, |k, mask| {
        for (o, m) in out.iter_mut().zip(mask) {
            if *m {
                *o = Some(k);
            }
        }
    });
}

fn tier_scalar(tiers: &[CRow<String>], total: f64, t: &Table, row: usize) -> Option<usize> {
    let sc = crate::eval::CompiledScore {
        name: String::new(),
        description: None,
        components: Vec::new(),
        tiers: tiers.to_vec(),
    };
    sc.tier(total, t, row)
}
