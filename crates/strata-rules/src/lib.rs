//! The strata rule language (issue #3, in progress).
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
//! What exists so far: the lexer, the recursive-descent parser with error recovery,
//! the AST with spans, and name resolution ([`resolve`]) that suggests near misses and
//! lists the windowed aggregates the rules need. Evaluation, scores, the default rules
//! and the remaining commands are still to come (see issue #3).

pub mod ast;
pub mod eval;
pub mod explain;
pub mod health;
mod lexer;
mod parser;
mod resolve;
pub mod scores;

pub use eval::{compile, eval, Columns, Operand, Program, Value};
pub use lexer::{lex, Tok, Token};
pub use parser::parse;
pub use resolve::{did_you_mean, resolve, AggRequest, Names, Resolved};

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
    /// Renders `file:line:col: message`, the source line, a caret under the span and
    /// the hint.
    pub fn render(&self, file: &str, src: &str) -> String {
        let start = self.span.start.min(src.len());
        let line_start = src[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = src[start..].find('\n').map_or(src.len(), |i| start + i);
        let line_no = src[..start].matches('\n').count() + 1;
        let col = src[line_start..start].chars().count() + 1;
        let text = &src[line_start..line_end];
        let width = src[start..self.span.end.clamp(start, line_end)].chars().count().max(1);
        let mut out = format!(
            "{file}:{line_no}:{col}: {}\n  |\n  | {text}\n  | {}{}",
            self.message,
            " ".repeat(col - 1),
            "^".repeat(width)
        );
        if let Some(h) = &self.hint {
            out.push_str(&format!("\n  = hint: {h}"));
        }
        out
    }
}
