//! The parsed rule file. Every node keeps its span for diagnostics and explanations.

use crate::Span;

/// A whole rule file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RuleFile {
    /// Segments, in file order (order decides the first match within a family).
    pub segments: Vec<Segment>,
    /// Scores, in file order (a score may use the scores defined before it).
    pub scores: Vec<Score>,
}

/// `score "name" { component ... tiers { ... } }`: points from bucket tables, summed.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// The quoted name (`engagement` becomes `scores.engagement`, `engagement_score`).
    pub name: String,
    /// Where the name stands.
    pub name_span: Span,
    /// `description: "..."`.
    pub description: Option<Setting>,
    /// The components, in file order.
    pub components: Vec<Component>,
    /// `tiers { >= 80: "Highly engaged" ... else: "Disengaged" }`: rows whose value is a label.
    pub tiers: Vec<Row>,
    /// The whole block.
    pub span: Span,
}

/// `component "usage frequency" of avg_weekly_sessions_28d { >= 7: 30 ... else: 0 }`, or
/// `component "team growth" sum { when invites_sent_30d >= 1: 15 ... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    /// The quoted name.
    pub name: String,
    /// Where the name stands.
    pub name_span: Span,
    /// `of EXPR`: the value that `>= N` rows compare.
    pub input: Option<Expr>,
    /// `sum`: every matching row adds its points; otherwise the first matching row wins.
    pub sum: bool,
    /// The rows, in file order.
    pub rows: Vec<Row>,
}

/// One row of a bucket table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// When the row applies.
    pub test: RowTest,
    /// What it gives.
    pub value: RowValue,
    /// The whole row.
    pub span: Span,
}

/// When a row applies.
#[derive(Debug, Clone, PartialEq)]
pub enum RowTest {
    /// `>= 7:` compares the component's input (or the score, in `tiers`) with a bound.
    Cmp(BinOp, Expr),
    /// `when COND:`.
    When(Expr),
    /// `null:`: the input is null.
    Null,
    /// `else:`: no earlier row matched.
    Else,
}

/// What a row gives.
#[derive(Debug, Clone, PartialEq)]
pub enum RowValue {
    /// Points (components).
    Points(f64),
    /// A label (tiers).
    Label(String),
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
