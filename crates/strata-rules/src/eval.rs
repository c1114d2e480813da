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

use crate::ast::{BinOp, Expr, RuleFile};
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

/// A value during evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Missing.
    Null,
    /// A number.
    Num(f64),
    /// A string.
    Str(String),
    /// A truth value.
    Bool(bool),
}

impl Value {
    /// Three-valued truth: `Some(b)` for a boolean, `None` for unknown.
    fn truth(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    fn from_truth(t: Option<bool>) -> Value {
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
    /// Whether the expression reads operand `slot`.
    pub fn uses(&self, slot: usize) -> bool {
        match self {
            CExpr::Num(_) | CExpr::Str(_) => false,
            CExpr::Slot(i) => *i == slot,
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
    /// Segments in file order.
    pub segments: Vec<CompiledSegment>,
}

/// Where evaluation reads operand values.
pub trait Columns {
    /// The value of operand `slot` for user `row`.
    fn get(&self, slot: usize, row: usize) -> Value;
}

/// Resolves and compiles a parsed file; on any problem, returns every diagnostic.
pub fn compile(file: &RuleFile, names: &Names) -> Result<Program, Vec<Diagnostic>> {
    let r = resolve(file, names);
    if !r.diagnostics.is_empty() {
        return Err(r.diagnostics);
    }
    let mut p = Program::default();
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
        Expr::Bin(op, l, r, _) => CExpr::Bin(*op, Box::new(lower(l, ops)), Box::new(lower(r, ops))),
        Expr::IsNull(x, neg, _) => CExpr::IsNull(Box::new(lower(x, ops)), *neg),
        Expr::In(x, items, neg, _) => {
            CExpr::In(Box::new(lower(x, ops)), items.iter().map(|i| lower(i, ops)).collect(), *neg)
        }
    }
}

/// Evaluates `e` for user `row`.
pub fn eval(e: &CExpr, cols: &dyn Columns, row: usize) -> Value {
    match e {
        CExpr::Num(v) if v.is_nan() => Value::Null,
        CExpr::Num(v) => Value::Num(*v),
        CExpr::Str(s) => Value::Str(s.clone()),
        CExpr::Slot(i) => cols.get(*i, row),
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
                    let (a, b) = (eval(l, cols, row).truth(), eval(r, cols, row).truth());
                    return Value::from_truth(match (a, b) {
                        (Some(false), _) | (_, Some(false)) => Some(false),
                        (Some(true), Some(true)) => Some(true),
                        _ => None,
                    });
                }
                BinOp::Or => {
                    let (a, b) = (eval(l, cols, row).truth(), eval(r, cols, row).truth());
                    return Value::from_truth(match (a, b) {
                        (Some(true), _) | (_, Some(true)) => Some(true),
                        (Some(false), Some(false)) => Some(false),
                        _ => None,
                    });
                }
                _ => {}
            }
            let (a, b) = (eval(l, cols, row), eval(r, cols, row));
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

fn eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Num(x), Value::Num(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        _ => false,
    }
}
