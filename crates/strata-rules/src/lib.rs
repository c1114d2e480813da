//! The strata rule language (issue #3): segments and scores written like the seed.
//!
//! Rule files read like the seed's section 6.1:
//!
//! ```text
//! segment "Power Users" {
//!   conditions {
//!     events.session_count(last_7_days) >= 5
//!     AND events.unique_features_used(last_30_days) >= 0.7 * total_features
//!     AND user.days_since_signup >= 30
//!   }
//!   refresh: daily
//! }
//! ```
//!
//! The principal entry point is [`parse`], which never fails: it returns the
//! [`ast::RuleFile`] it could read *and* every [`Diagnostic`] of the file, each with
//! its byte span, so a user sees all problems at once. This crate does no I/O.
//!
//! [`compile`] resolves and lowers a file into a [`Program`]; [`run()`] evaluates it over a
//! column [`Table`] block by block ([`run_scalar`] is the plain reference);
//! [`DEFAULT_RULES`] is the whole seed as a rule file.

pub mod ast;
mod block;
pub mod eval;
pub mod explain;
pub mod health;
mod lexer;
mod parser;
mod resolve;
pub mod run;
pub mod scores;

pub use eval::{compile, eval, Columns, CompiledScore, Operand, Program, Value};
pub use lexer::{lex, Tok, Token};
pub use parser::parse;
pub use resolve::{did_you_mean, resolve, AggRequest, Names, Resolved};
pub use run::{run, run_scalar, Column, Outcome, Table};

/// A byte range in the rule file's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// The span covering both.
    pub fn to(self, other: Span) -> Span {
        Span { start: self.start.min(other.start), end: self.end.max(other.end) }
    }
}

/// One problem in a rule file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where.
    pub span: Span,
    /// What is wrong.
    pub message: String,
    /// What to do, when there is something to suggest.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// Renders the diagnostic with codespan-reporting, in plain ASCII: `error: message`,
    /// `--> file:line:col`, the source line with carets under the span, and the hint.
    pub fn render(&self, file: &str, src: &str) -> String {
        use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label};
        use codespan_reporting::files::SimpleFile;
        use codespan_reporting::term::{self, Chars, Config};
        let files = SimpleFile::new(file, src);
        let start = self.span.start.min(src.len());
        let end = self.span.end.clamp(start, src.len());
        let mut d = CsDiagnostic::error().with_message(&self.message).with_labels(vec![Label::primary((), start..end)]);
        if let Some(h) = &self.hint {
            d = d.with_notes(vec![format!("hint: {h}")]);
        }
        let config = Config { chars: Chars::ascii(), ..Config::default() };
        let mut out = Vec::new();
        match term::emit(&mut out, &config, &files, &d) {
            Ok(()) => String::from_utf8_lossy(&out).trim_end().to_string(),
            // A span outside the text (cannot happen for spans the parser made): say it plainly.
            Err(_) => format!("error: {}\n --> {file}", self.message),
        }
    }
}

/// The default rules: the whole seed as a rule file (`strata rules init` writes it).
pub const DEFAULT_RULES: &str = include_str!("../rules/default.rules");

/// The scores a file uses (`scores.<name>`) but does not define, taken from the default
/// rules with the default scores they use in turn, placed before the file's own scores.
/// This is how the seed's own 6.1 rules, which use `scores.engagement`, run verbatim.
pub fn with_default_scores(mut file: ast::RuleFile) -> ast::RuleFile {
    let (defaults, _) = parse(DEFAULT_RULES);
    let mut wanted: Vec<String> = Vec::new();
    let visit = |e: &ast::Expr, wanted: &mut Vec<String>| score_refs(e, wanted);
    for s in &file.segments {
        if let Some(c) = &s.conditions {
            visit(c, &mut wanted);
        }
    }
    for sc in &file.scores {
        for e in score_exprs(sc) {
            visit(e, &mut wanted);
        }
    }
    let mut taken: Vec<ast::Score> = Vec::new();
    while let Some(name) = wanted.pop() {
        if file.scores.iter().any(|s| s.name == name) || taken.iter().any(|s| s.name == name) {
            continue;
        }
        if let Some(d) = defaults.scores.iter().find(|s| s.name == name) {
            for e in score_exprs(d) {
                score_refs(e, &mut wanted);
            }
            taken.push(d.clone());
        }
    }
    // Keep the defaults' own order, so each score still follows the ones it uses.
    taken.sort_by_key(|s| defaults.scores.iter().position(|d| d.name == s.name));
    taken.append(&mut file.scores);
    file.scores = taken;
    file
}

fn score_exprs(sc: &ast::Score) -> Vec<&ast::Expr> {
    let mut v = Vec::new();
    for c in &sc.components {
        v.extend(c.input.iter());
        for r in &c.rows {
            if let ast::RowTest::Cmp(_, e) | ast::RowTest::When(e) = &r.test {
                v.push(e);
            }
        }
    }
    for r in &sc.tiers {
        if let ast::RowTest::Cmp(_, e) | ast::RowTest::When(e) = &r.test {
            v.push(e);
        }
    }
    v
}

fn score_refs(e: &ast::Expr, out: &mut Vec<String>) {
    use ast::Expr;
    match e {
        Expr::Ref(p, _) if p.len() == 2 && p[0] == "scores" => out.push(p[1].clone()),
        Expr::Num(..) | Expr::Str(..) | Expr::Ref(..) => {}
        Expr::Call(_, args, _) => args.iter().for_each(|a| score_refs(a, out)),
        Expr::Not(x, _) | Expr::Neg(x, _) | Expr::IsNull(x, _, _) => score_refs(x, out),
        Expr::Bin(_, l, r, _) => {
            score_refs(l, out);
            score_refs(r, out);
        }
        Expr::In(x, items, _, _) => {
            score_refs(x, out);
            items.iter().for_each(|i| score_refs(i, out));
        }
    }
}

/// A segment's or component's column name: `Power Users` -> `power_users`.
pub fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    out.trim_end_matches('_').to_string()
}
