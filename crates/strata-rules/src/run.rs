//! Running a compiled program over a column table: every score (in file order, each
//! score's total becoming `scores.<name>` for what follows), then every segment, with
//! the first match in file order winning within a family. Users are independent, so
//! each column is computed in parallel over users and collected in user order: the
//! result does not depend on the thread count.

use crate::eval::{eval, Columns, Operand, Program, Value};
use rayon::prelude::*;

/// One operand's values for every user.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// Numbers; NaN is null.
    Num(Vec<f64>),
    /// Strings, dictionary-encoded: `codes[row]` indexes `dict`, `u32::MAX` is null.
    Str {
        /// Distinct values.
        dict: Vec<String>,
        /// One code per user.
        codes: Vec<u32>,
    },
    /// Truth values.
    Bool(Vec<Option<bool>>),
    /// The same number for every user.
    Const(f64),
    /// Null for every user (an attribute a rule guards with `is null` and the data lacks).
    Null,
}

impl Column {
    /// A string column from optional values.
    pub fn strings<'a>(values: impl IntoIterator<Item = Option<&'a str>>) -> Column {
        // Looked up before anything is allocated: a string per value (and SipHash) was
        // most of the cost of an account column in every snapshot.
        let mut index: foldhash::HashMap<&'a str, u32> = foldhash::HashMap::default();
        let codes = values
            .into_iter()
            .map(|v| match v {
                None => u32::MAX,
                Some(s) => {
                    let next = index.len() as u32;
                    *index.entry(s).or_insert(next)
                }
            })
            .collect();
        let mut dict = vec![String::new(); index.len()];
        for (s, c) in index {
            dict[c as usize] = s.to_string();
        }
        Column::Str { dict, codes }
    }

    /// A number column from optional values.
    pub fn numbers(values: impl IntoIterator<Item = Option<f64>>) -> Column {
        Column::Num(values.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect())
    }

    #[inline]
    fn get(&self, row: usize) -> Value<'_> {
        match self {
            Column::Num(v) => match v.get(row) {
                Some(x) if !x.is_nan() => Value::Num(*x),
                _ => Value::Null,
            },
            Column::Str { dict, codes } => {
                codes.get(row).and_then(|c| dict.get(*c as usize)).map_or(Value::Null, |s| Value::Str(s))
            }
            Column::Bool(v) => v.get(row).copied().flatten().map_or(Value::Null, Value::Bool),
            Column::Const(x) => Value::Num(*x),
            Column::Null => Value::Null,
        }
    }
}

/// Every operand of a program, by slot, for `rows` users.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Users.
    pub rows: usize,
    /// One column per operand slot.
    pub cols: Vec<Column>,
}

impl Columns for Table {
    #[inline]
    fn get(&self, slot: usize, row: usize) -> Value<'_> {
        self.cols.get(slot).map_or(Value::Null, |c| c.get(row))
    }
}

/// One score's results.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreResult {
    /// The score's name.
    pub name: String,
    /// `points[c][u]`: component c's points for user u.
    pub points: Vec<Vec<f64>>,
    /// The sum of the components, per user.
    pub total: Vec<f64>,
    /// The tier row that applied, per user (index into the score's tiers).
    pub tier: Vec<Option<usize>>,
}

/// One family's assignment.
#[derive(Debug, Clone, PartialEq)]
pub struct FamilyResult {
    /// The family's name.
    pub name: String,
    /// Indexes of its segments in the program, in file order.
    pub segments: Vec<usize>,
    /// The segment each user was assigned (index into the program's segments).
    pub assigned: Vec<Option<usize>>,
}

/// What running a program produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Users.
    pub users: usize,
    /// Scores in file order.
    pub scores: Vec<ScoreResult>,
    /// `members[s][u]`: user u is in segment s (for a family segment: assigned to it).
    pub members: Vec<Vec<bool>>,
    /// Families in order of first appearance.
    pub families: Vec<FamilyResult>,
}

/// Runs every score and segment of `program` over `table`, block by block
/// (`crate::block`): one parallel pass over blocks of users per score, then one for all
/// segments. Score totals are written into the table's `scores.<name>` slots as they
/// are computed. Gives exactly what [`run_scalar`] gives.
pub fn run(program: &Program, table: &mut Table) -> Outcome {
    use crate::block::{points_block, tier_block, truth_block, BLOCK};
    let n = table.rows;
    let blocks = n.div_ceil(BLOCK);
    let range = |b: usize| b * BLOCK..((b + 1) * BLOCK).min(n);
    let mut scores = Vec::with_capacity(program.scores.len());
    for sc in &program.scores {
        let t: &Table = table;
        type ScoreBlock = (Vec<Vec<f64>>, Vec<f64>, Vec<Option<usize>>);
        let parts: Vec<ScoreBlock> = (0..blocks)
            .into_par_iter()
            .map(|b| {
                let rows = range(b);
                let pts: Vec<Vec<f64>> = sc
                    .components
                    .iter()
                    .map(|c| {
                        let mut v = Vec::with_capacity(rows.len());
                        points_block(c, t, rows.clone(), &mut v);
                        v
                    })
                    .collect();
                let total: Vec<f64> = (0..rows.len()).map(|i| pts.iter().map(|p| p[i]).sum()).collect();
                let mut tier = Vec::with_capacity(rows.len());
                tier_block(&sc.tiers, &total, t, rows, &mut tier);
                (pts, total, tier)
            })
            .collect();
        // One allocation each: `vec![Vec::with_capacity(n); k]` clones its first element,
        // and a clone has no spare capacity, so every other column grew by reallocation
        // (about 2% of the CPU of weekly snapshots of the 50,000-user benchmark).
        let mut points: Vec<Vec<f64>> = sc.components.iter().map(|_| Vec::with_capacity(n)).collect();
        let (mut total, mut tier) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for (p, tt, ti) in parts {
            for (dst, src) in points.iter_mut().zip(p) {
                dst.extend(src);
            }
            total.extend(tt);
            tier.extend(ti);
        }
        if let Some(slot) = program.slot_of(&Operand::Score(sc.name.clone())) {
            if let Some(c) = table.cols.get_mut(slot) {
                *c = Column::Num(total.clone());
            }
        }
        scores.push(ScoreResult { name: sc.name.clone(), points, total, tier });
    }
    // Families in order of first appearance, and each segment's family index.
    let mut families: Vec<FamilyResult> = Vec::new();
    let mut family_of = Vec::with_capacity(program.segments.len());
    for (i, s) in program.segments.iter().enumerate() {
        family_of.push(s.family.as_ref().map(|f| match families.iter().position(|x| &x.name == f) {
            Some(fi) => {
                families[fi].segments.push(i);
                fi
            }
            None => {
                families.push(FamilyResult { name: f.clone(), segments: vec![i], assigned: Vec::with_capacity(n) });
                families.len() - 1
            }
        }));
    }
    let t: &Table = table;
    let nf = families.len();
    type SegBlock = (Vec<Vec<bool>>, Vec<Vec<Option<usize>>>);
    let parts: Vec<SegBlock> = (0..blocks)
        .into_par_iter()
        .map(|b| {
            let rows = range(b);
            let len = rows.len();
            let mut assigned: Vec<Vec<Option<usize>>> = vec![vec![None; len]; nf];
            let mut buf = Vec::with_capacity(len);
            let members = program
                .segments
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    truth_block(&s.cond, t, rows.clone(), &mut buf);
                    match family_of[i] {
                        None => buf.iter().map(|v| *v == 1).collect(),
                        Some(fi) => buf
                            .iter()
                            .zip(assigned[fi].iter_mut())
                            .map(|(v, a)| {
                                let hit = *v == 1 && a.is_none();
                                if hit {
                                    *a = Some(i);
                                }
                                hit
                            })
                            .collect(),
                    }
                })
                .collect();
            (members, assigned)
        })
        .collect();
    let mut members: Vec<Vec<bool>> = program.segments.iter().map(|_| Vec::with_capacity(n)).collect();
    for (m, a) in parts {
        for (dst, src) in members.iter_mut().zip(m) {
            dst.extend(src);
        }
        for (fam, src) in families.iter_mut().zip(a) {
            fam.assigned.extend(src);
        }
    }
    Outcome { users: n, scores, members, families }
}

/// The reference evaluator: one tree walk per user and value, in the simplest form.
/// [`run`] must give exactly its results (tested on random programs and tables).
pub fn run_scalar(program: &Program, table: &mut Table) -> Outcome {
    let n = table.rows;
    let mut scores = Vec::with_capacity(program.scores.len());
    for sc in &program.scores {
        let t: &Table = table;
        let points: Vec<Vec<f64>> =
            sc.components.iter().map(|c| (0..n).into_par_iter().map(|r| c.points(t, r)).collect()).collect();
        let total: Vec<f64> = (0..n).map(|r| points.iter().map(|p| p[r]).sum()).collect();
        let tier: Vec<Option<usize>> = (0..n).into_par_iter().map(|r| sc.tier(total[r], t, r)).collect();
        if let Some(slot) = program.slot_of(&Operand::Score(sc.name.clone())) {
            if let Some(c) = table.cols.get_mut(slot) {
                *c = Column::Num(total.clone());
            }
        }
        scores.push(ScoreResult { name: sc.name.clone(), points, total, tier });
    }
    let t: &Table = table;
    let mut families: Vec<FamilyResult> = Vec::new();
    let mut members = Vec::with_capacity(program.segments.len());
    for (i, s) in program.segments.iter().enumerate() {
        match &s.family {
            None => {
                members.push((0..n).into_par_iter().map(|r| eval(&s.cond, t, r) == Value::Bool(true)).collect());
            }
            Some(f) => {
                let fi = match families.iter().position(|x| &x.name == f) {
                    Some(fi) => fi,
                    None => {
                        families.push(FamilyResult { name: f.clone(), segments: Vec::new(), assigned: vec![None; n] });
                        families.len() - 1
                    }
                };
                let fam = &mut families[fi];
                fam.segments.push(i);
                let hits: Vec<bool> = fam
                    .assigned
                    .par_iter()
                    .enumerate()
                    .map(|(r, a)| a.is_none() && eval(&s.cond, t, r) == Value::Bool(true))
                    .collect();
                for (a, h) in fam.assigned.iter_mut().zip(&hits) {
                    if *h {
                        *a = Some(i);
                    }
                }
                members.push(hits);
            }
        }
    }
    Outcome { users: n, scores, members, families }
}
