//! The parsed rule file. Every node keeps its span for diagnostics and explanations.

use crate::Span;

/// A whole rule file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RuleFile {
    /// Segments, in file order (order decides the first match within a family).
    pub segments: Vec<Segment>,
}

/// A `key: value` setting of a block.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    /// The value as written (identifier or string contents).
    pub value: String,
    /// Where the value stands.
    pub span: Span,
}

/// `segment "Name" { ... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// The quoted name.
    pub name: String,
    /// Where the name stands.
    pub name_span: Span,
    /// The `conditions { ... }` expression.
    pub conditions: Option<Expr>,
    /// `refresh: daily`.
    pub refresh: Option<Setting>,
    /// `family: "Behavioral"`: segments of one family are mutually exclusive.
    pub family: Option<Setting>,
    /// `action: "..."`: what to do with the segment.
    pub action: Option<Setting>,
    /// `description: "..."`.
    pub description: Option<Setting>,
    /// The whole block.
    pub span: Span,
}

/// Binary operators, loosest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `OR`
    Or,
    /// `AND`
    And,
    /// `>=`
    Ge,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `<`
    Lt,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
}

/// An expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A number (percentages are already fractions).
    Num(f64, Span),
    /// A string.
    Str(String, Span),
    /// A dotted name: `sessions_7d`, `user.plan`, `scores.engagement`.
    Ref(Vec<String>, Span),
    /// A dotted name applied to arguments: `events.session_count(last_7_days)`.
    Call(Vec<String>, Vec<Expr>, Span),
    /// `NOT e`
    Not(Box<Expr>, Span),
    /// `-e`
    Neg(Box<Expr>, Span),
    /// `l op r`
    Bin(BinOp, Box<Expr>, Box<Expr>, Span),
    /// `e is null` / `e is not null`
    IsNull(Box<Expr>, bool, Span),
    /// `e in [a, b]` / `e not in [a, b]`
    In(Box<Expr>, Vec<Expr>, bool, Span),
}

impl Expr {
    /// Where the expression stands.
    pub fn span(&self) -> Span {
        match self {
            Expr::Num(_, s)
            | Expr::Str(_, s)
            | Expr::Ref(_, s)
            | Expr::Call(_, _, s)
            | Expr::Not(_, s)
            | Expr::Neg(_, s)
            | Expr::Bin(_, _, _, s)
            | Expr::IsNull(_, _, s)
            | Expr::In(_, _, _, s) => *s,
        }
    }
}
