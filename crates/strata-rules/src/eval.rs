//! Compiled rules and their evaluation, one user at a time.
//!
//! [`compile`] turns a parsed, resolved file into a [`Program`]: every distinct
//! reference becomes an [`Operand`] slot, so the caller fetches each column once and
//! evaluation never looks a name up. Null semantics (documented in docs/rules.md) are
//! SQL's three-valued logic: arithmetic with a null is null, a division by zero is
//! null, a comparison or `in` with a null is null (unknown), `NOT` unknown is unknown,
//! `AND` is false if either side is false and else unknown if either is, `OR` is true
//! if either side is true and else unknown if either is. A user is in a segment only
//! when its conditions are true; `is null` is how a rule asks about missing values.

use crate::ast::{BinOp, Expr, RowTest, RowValue, RuleFile};
use crate::resolve::{resolve, window_request, AggRequest, Names};
use crate::Diagnostic;

/// A value a rule refers to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Operand {
    /// A feature-table column.
    Feature(String),
    /// `user.<attribute>`.
    User(String),
    /// A windowed aggregate from the engine.
    Agg(AggRequest),
    /// `total_features`: the feature catalog's size.
    TotalFeatures,
    /// `usage.percentage_of_limit`: the users table's `usage_pct`.
    UsagePct,
    /// `scores.<name>`.
    Score(String),
}

/// A value during evaluation; strings are borrowed from the program or the table, so
/// evaluation never allocates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// Missing.
    Null,
    /// A number.
    Num(f64),
    /// A string.
    Str(&'a str),
    /// A truth value.
    Bool(bool),
}

impl Value<'_> {
    /// Three-valued truth: `Some(b)` for a boolean, `None` for unknown.
    fn truth(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    fn from_truth(t: Option<bool>) -> Value<'static> {
        t.map_or(Value::Null, Value::Bool)
    }
}

/// A compiled expression: names replaced by operand slots.
#[derive(Debug, Clone, PartialEq)]
pub enum CExpr {
    /// A number.
    Num(f64),
    /// A string.
    Str(String),
    /// An operand slot.
    Slot(usize),
    /// `slot op number`, the commonest leaf, folded when compiling so evaluation
    /// compares two floats without building values (same semantics as `Bin`).
    CmpConst(BinOp, usize, f64),
    /// `NOT e`
    Not(Box<CExpr>),
    /// `-e`
    Neg(Box<CExpr>),
    /// `l op r`
    Bin(BinOp, Box<CExpr>, Box<CExpr>),
    /// `e is [not] null`
    IsNull(Box<CExpr>, bool),
    /// `e [not] in [..]`
    In(Box<CExpr>, Vec<CExpr>, bool),
}

impl CExpr {
    /// Whether the expression asks `is [not] null` of operand `slot` directly.
    pub fn guards(&self, slot: usize) -> bool {
        match self {
            CExpr::IsNull(x, _) => matches!(**x, CExpr::Slot(i) if i == slot) || x.guards(slot),
            CExpr::Num(_) | CExpr::Str(_) | CExpr::Slot(_) | CExpr::CmpConst(..) => false,
            CExpr::Not(x) | CExpr::Neg(x) => x.guards(slot),
            CExpr::Bin(_, l, r) => l.guards(slot) || r.guards(slot),
            CExpr::In(x, items, _) => x.guards(slot) || items.iter().any(|i| i.guards(slot)),
        }
    }

    /// Whether the expression reads operand `slot`.
    pub fn uses(&self, slot: usize) -> bool {
        match self {
            CExpr::Num(_) | CExpr::Str(_) => false,
            CExpr::Slot(i) | CExpr::CmpConst(_, i, _) => *i == slot,
            CExpr::Not(x) | CExpr::Neg(x) | CExpr::IsNull(x, _) => x.uses(slot),
            CExpr::Bin(_, l, r) => l.uses(slot) || r.uses(slot),
            CExpr::In(x, items, _) => x.uses(slot) || items.iter().any(|i| i.uses(slot)),
        }
    }
}

/// One compiled segment.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledSegment {
    /// The name.
    pub name: String,
    /// The family, if any.
    pub family: Option<String>,
    /// The action, if any.
    pub action: Option<String>,
    /// The conditions.
    pub cond: CExpr,
}

/// A compiled rule file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Program {
    /// Every distinct operand, by slot.
    pub operands: Vec<Operand>,
    /// Scores in file order (each may read the ones before it).
    pub scores: Vec<CompiledScore>,
    /// Segments in file order.
    pub segments: Vec<CompiledSegment>,
}

impl Program {
    /// The slot of `op`, if the program reads it.
    pub fn slot_of(&self, op: &Operand) -> Option<usize> {
        self.operands.iter().position(|o| o == op)
    }
}

/// When a row of a bucket table applies.
#[derive(Debug, Clone, PartialEq)]
pub enum CTest {
    /// The input (or the score, for tiers) compared with a bound.
    Cmp(BinOp, CExpr),
    /// A condition.
    When(CExpr),
    /// The input is null.
    Null,
    /// No earlier row matched.
    Else,
}

/// A row of a compiled bucket table.
#[derive(Debug, Clone, PartialEq)]
pub struct CRow<T> {
    /// When it applies.
    pub test: CTest,
    /// Points or label.
    pub value: T,
}

/// A compiled score component.
#[derive(Debug, Clone, PartialEq)]
pub struct CComponent {
    /// Its name.
    pub name: String,
    /// The value that comparison rows read.
    pub input: Option<CExpr>,
    /// Whether matching rows add up (else the first match wins).
    pub sum: bool,
    /// The table.
    pub rows: Vec<CRow<f64>>,
}

impl CComponent {
    /// The component's points for user `row`.
    pub fn points<C: Columns + ?Sized>(&self, cols: &C, row: usize) -> f64 {
        let input = self.input.as_ref().map_or(Value::Null, |e| eval(e, cols, row));
        let mut total = 0.0;
        let mut matched = false;
        for r in &self.rows {
            if row_applies(&r.test, input, matched, cols, row) {
                if !self.sum {
                    return r.value;
                }
                total += r.value;
                matched = true;
            }
        }
        total
    }

    /// The most points the component can give.
    pub fn max_points(&self) -> f64 {
        if self.sum {
            let adds: f64 = self.rows.iter().filter(|r| r.test != CTest::Else).map(|r| r.value.max(0.0)).sum();
            let otherwise = self.rows.iter().filter(|r| r.test == CTest::Else).map(|r| r.value).fold(0.0, f64::max);
            adds.max(otherwise)
        } else {
            self.rows.iter().map(|r| r.value).fold(0.0, f64::max)
        }
    }

    /// The value its comparison rows read, for user `row` (for explanations).
    pub fn input_value<'a>(&'a self, cols: &'a dyn Columns, row: usize) -> Option<Value<'a>> {
        self.input.as_ref().map(|e| eval(e, cols, row))
    }
}

/// `x op y` for two numbers.
#[inline]
pub(crate) fn cmp_num(op: BinOp, x: f64, y: f64) -> bool {
    match op {
        BinOp::Ge => x >= y,
        BinOp::Le => x <= y,
        BinOp::Gt => x > y,
        BinOp::Lt => x < y,
        BinOp::Eq => x == y,
        _ => x != y,
    }
}

fn test(t: &CTest) -> Option<&CExpr> {
    match t {
        CTest::Cmp(_, e) | CTest::When(e) => Some(e),
        _ => None,
    }
}

fn row_applies<C: Columns + ?Sized>(test: &CTest, input: Value<'_>, matched: bool, cols: &C, row: usize) -> bool {
    match test {
        CTest::Cmp(op, CExpr::Num(c)) if !c.is_nan() => match input {
            Value::Num(x) => cmp_num(*op, x, *c),
            Value::Null => false,
            _ => matches!(op, BinOp::Ne),
        },
        CTest::Cmp(op, bound) => compare_or_compute(*op, input, eval(bound, cols, row)) == Value::Bool(true),
        CTest::When(c) => eval(c, cols, row) == Value::Bool(true),
        CTest::Null => input == Value::Null,
        CTest::Else => !matched,
    }
}

/// A compiled score.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledScore {
    /// Its name.
    pub name: String,
    /// Its description, if any.
    pub description: Option<String>,
    /// Its components, in file order.
    pub components: Vec<CComponent>,
    /// Its tiers.
    pub tiers: Vec<CRow<String>>,
}

impl CompiledScore {
    /// Every expression of the score (inputs, row bounds and conditions, tier rows).
    pub fn exprs(&self) -> Vec<&CExpr> {
        let mut v: Vec<&CExpr> = Vec::new();
        for c in &self.components {
            v.extend(c.input.iter());
            v.extend(c.rows.iter().filter_map(|r| test(&r.test)));
        }
        v.extend(self.tiers.iter().filter_map(|r| test(&r.test)));
        v
    }

    /// The tier of a total, if any row applies.
    pub fn tier<C: Columns + ?Sized>(&self, total: f64, cols: &C, row: usize) -> Option<usize> {
        for (i, r) in self.tiers.iter().enumerate() {
            if row_applies(&r.test, Value::Num(total), false, cols, row) {
                return Some(i);
            }
        }
        None
    }

    /// The most points the score can give (the sum of its components' maxima).
    pub fn max_points(&self) -> f64 {
        self.components.iter().map(CComponent::max_points).sum()
    }
}

/// Where evaluation reads operand values.
pub trait Columns {
    /// The value of operand `slot` for user `row`.
    fn get(&self, slot: usize, row: usize) -> Value<'_>;
}

/// Resolves and compiles a parsed file; on any problem, returns every diagnostic.
pub fn compile(file: &RuleFile, names: &Names) -> Result<Program, Vec<Diagnostic>> {
    let r = resolve(file, names);
    if !r.diagnostics.is_empty() {
        return Err(r.diagnostics);
    }
    let mut p = Program::default();
    for sc in &file.scores {
        let components = sc
            .components
            .iter()
            .map(|c| CComponent {
                name: c.name.clone(),
                input: c.input.as_ref().map(|e| lower(e, &mut p.operands)),
                sum: c.sum,
                rows: c
                    .rows
                    .iter()
                    .map(|r| CRow {
                        test: lower_test(&r.test, &mut p.operands),
                        value: match r.value {
                            RowValue::Points(v) => v,
                            RowValue::Label(_) => 0.0,
                        },
                    })
                    .collect(),
            })
            .collect();
        let tiers = sc
            .tiers
            .iter()
            .map(|r| CRow {
                test: lower_test(&r.test, &mut p.operands),
                value: match &r.value {
                    RowValue::Label(l) => l.clone(),
                    RowValue::Points(v) => v.to_string(),
                },
            })
            .collect();
        p.scores.push(CompiledScore {
            name: sc.name.clone(),
            description: sc.description.as_ref().map(|d| d.value.clone()),
            components,
            tiers,
        });
    }
    for s in &file.segments {
        let Some(c) = &s.conditions else { continue };
        let cond = lower(c, &mut p.operands);
        p.segments.push(CompiledSegment {
            name: s.name.clone(),
            family: s.family.as_ref().map(|f| f.value.clone()),
            action: s.action.as_ref().map(|a| a.value.clone()),
            cond,
        });
    }
    Ok(p)
}

fn lower_test(t: &RowTest, ops: &mut Vec<Operand>) -> CTest {
    match t {
        RowTest::Cmp(op, e) => CTest::Cmp(*op, lower(e, ops)),
        RowTest::When(e) => CTest::When(lower(e, ops)),
        RowTest::Null => CTest::Null,
        RowTest::Else => CTest::Else,
    }
}

fn slot(ops: &mut Vec<Operand>, o: Operand) -> CExpr {
    let i = ops.iter().position(|x| *x == o).unwrap_or_else(|| {
        ops.push(o);
        ops.len() - 1
    });
    CExpr::Slot(i)
}

pub(crate) fn lower(e: &Expr, ops: &mut Vec<Operand>) -> CExpr {
    match e {
        Expr::Num(v, _) => CExpr::Num(*v),
        Expr::Str(s, _) => CExpr::Str(s.clone()),
        Expr::Ref(path, _) => {
            let o = match path.as_slice() {
                [one] if one == "total_features" => Operand::TotalFeatures,
                [one] => Operand::Feature(one.clone()),
                [ns, a] if ns == "user" => Operand::User(a.clone()),
                [ns, a] if ns == "scores" => Operand::Score(a.clone()),
                _ => Operand::UsagePct, // resolution admitted only usage.percentage_of_limit here
            };
            slot(ops, o)
        }
        Expr::Call(path, args, _) => match window_request(path, args) {
            Some(req) => slot(ops, Operand::Agg(req)),
            None => CExpr::Num(f64::NAN), // unreachable after resolution; evaluates as a failed comparison
        },
        Expr::Not(x, _) => CExpr::Not(Box::new(lower(x, ops))),
        Expr::Neg(x, _) => CExpr::Neg(Box::new(lower(x, ops))),
        Expr::Bin(op, l, r, _) => {
            let (l, r) = (lower(l, ops), lower(r, ops));
            match (op, &l, &r) {
                (
                    BinOp::Ge | BinOp::Le | BinOp::Gt | BinOp::Lt | BinOp::Eq | BinOp::Ne,
                    CExpr::Slot(i),
                    CExpr::Num(c),
                ) if !c.is_nan() => CExpr::CmpConst(*op, *i, *c),
                _ => CExpr::Bin(*op, Box::new(l), Box::new(r)),
            }
        }
        Expr::IsNull(x, neg, _) => CExpr::IsNull(Box::new(lower(x, ops)), *neg),
        Expr::In(x, items, neg, _) => {
            CExpr::In(Box::new(lower(x, ops)), items.iter().map(|i| lower(i, ops)).collect(), *neg)
        }
    }
}

/// Evaluates `e` for user `row`.
pub fn eval<'a, C: Columns + ?Sized>(e: &'a CExpr, cols: &'a C, row: usize) -> Value<'a> {
    match e {
        CExpr::Num(v) if v.is_nan() => Value::Null,
        CExpr::Num(v) => Value::Num(*v),
        CExpr::Str(s) => Value::Str(s),
        CExpr::Slot(i) => cols.get(*i, row),
        CExpr::CmpConst(op, i, c) => match cols.get(*i, row) {
            Value::Num(x) => Value::Bool(cmp_num(*op, x, *c)),
            Value::Null => Value::Null,
            // A number against a string or truth value: unequal, and unordered (false).
            _ => Value::Bool(matches!(op, BinOp::Ne)),
        },
        CExpr::Not(x) => Value::from_truth(eval(x, cols, row).truth().map(|b| !b)),
        CExpr::Neg(x) => match eval(x, cols, row) {
            Value::Num(v) => Value::Num(-v),
            _ => Value::Null,
        },
        CExpr::IsNull(x, negated) => Value::Bool((eval(x, cols, row) == Value::Null) != *negated),
        CExpr::In(x, items, negated) => {
            let v = eval(x, cols, row);
            if v == Value::Null {
                return Value::Null;
            }
            let found = items.iter().any(|i| eq(&v, &eval(i, cols, row)));
            Value::Bool(found != *negated)
        }
        CExpr::Bin(op, l, r) => {
            match op {
                BinOp::And => {
                    let a = eval(l, cols, row).truth();
                    if a == Some(false) {
                        return Value::Bool(false);
                    }
                    let b = eval(r, cols, row).truth();
                    return Value::from_truth(match (a, b) {
                        (Some(false), _) | (_, Some(false)) => Some(false),
                        (Some(true), Some(true)) => Some(true),
                        _ => None,
                    });
                }
                BinOp::Or => {
                    let a = eval(l, cols, row).truth();
                    if a == Some(true) {
                        return Value::Bool(true);
                    }
                    let b = eval(r, cols, row).truth();
                    return Value::from_truth(match (a, b) {
                        (Some(true), _) | (_, Some(true)) => Some(true),
                        (Some(false), Some(false)) => Some(false),
                        _ => None,
                    });
                }
                _ => {}
            }
            let (a, b) = (eval(l, cols, row), eval(r, cols, row));
            compare_or_compute(*op, a, b)
        }
    }
}

/// `a op b` for arithmetic and comparison operators, with the null rules above.
pub(crate) fn compare_or_compute<'a>(op: BinOp, a: Value<'a>, b: Value<'a>) -> Value<'a> {
    {
        {
            match op {
                BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div => match (a, b) {
                    (Value::Num(x), Value::Num(y)) => {
                        let v = match op {
                            BinOp::Add => x + y,
                            BinOp::Sub => x - y,
                            BinOp::Mul => x * y,
                            _ if y == 0.0 => return Value::Null,
                            _ => x / y,
                        };
                        if v.is_finite() {
                            Value::Num(v)
                        } else {
                            Value::Null
                        }
                    }
                    _ => Value::Null,
                },
                _ if a == Value::Null || b == Value::Null => Value::Null,
                BinOp::Eq => Value::Bool(eq(&a, &b)),
                BinOp::Ne => Value::Bool(!eq(&a, &b)),
                _ => {
                    let ord = match (&a, &b) {
                        (Value::Num(x), Value::Num(y)) => x.partial_cmp(y),
                        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
                        _ => None,
                    };
                    // Comparing a number with a string is false, not unknown.
                    let Some(o) = ord else { return Value::Bool(false) };
                    Value::Bool(match op {
                        BinOp::Ge => o.is_ge(),
                        BinOp::Le => o.is_le(),
                        BinOp::Gt => o.is_gt(),
                        _ => o.is_lt(),
                    })
                }
            }
        }
    }
}

fn eq(a: &Value<'_>, b: &Value<'_>) -> bool {
    match (a, b) {
        (Value::Num(x), Value::Num(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        _ => false,
    }
}
