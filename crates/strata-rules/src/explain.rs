//! Why a user is (or is not) in a segment: every condition of the segment with the
//! values that decided it, in the words of the rule file.

use crate::ast::{BinOp, Expr, Segment};
use crate::eval::{eval, lower, Columns, Program, Value};

/// Formats a value as the explanation shows it.
pub fn show(v: &Value<'_>) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Str(s) => format!("\"{s}\""),
        Value::Num(x) => {
            let s = format!("{x:.4}");
            let s = s.trim_end_matches('0').trim_end_matches('.');
            if s == "-0" {
                "0".into()
            } else {
                s.to_string()
            }
        }
    }
}

fn truth(v: &Value<'_>) -> &'static str {
    match v {
        Value::Bool(true) => "true",
        Value::Bool(false) => "false",
        _ => "unknown",
    }
}

/// Evaluates an AST expression for one user and maps the value.
fn ev<R>(
    e: &Expr,
    ops: &mut Vec<crate::eval::Operand>,
    cols: &dyn Columns,
    row: usize,
    f: impl FnOnce(Value<'_>) -> R,
) -> R {
    let c = lower(e, ops);
    f(eval(&c, cols, row))
}

/// Explains segment `seg` (as parsed from `src`) for user `row`.
pub fn explain_segment(seg: &Segment, src: &str, program: &Program, cols: &dyn Columns, row: usize) -> String {
    let mut ops = program.operands.clone();
    let mut out = String::new();
    let Some(cond) = &seg.conditions else {
        return format!("segment \"{}\": no conditions\n", seg.name);
    };
    let v = ev(cond, &mut ops, cols, row, |v| v == Value::Bool(true));
    out.push_str(&format!(
        "segment \"{}\"{}: {}\n",
        seg.name,
        seg.family.as_ref().map(|f| format!(" (family {})", f.value)).unwrap_or_default(),
        if v { "yes" } else { "no" }
    ));
    walk(cond, src, &mut ops, cols, row, 1, None, &mut out);
    out
}

#[allow(clippy::too_many_arguments)]
fn walk(
    e: &Expr,
    src: &str,
    ops: &mut Vec<crate::eval::Operand>,
    cols: &dyn Columns,
    row: usize,
    depth: usize,
    joiner: Option<&str>,
    out: &mut String,
) {
    let pad = "  ".repeat(depth);
    let prefix = joiner.map(|j| format!("{j} ")).unwrap_or_default();
    if let Expr::Bin(op @ (BinOp::And | BinOp::Or), _, _, _) = e {
        // Flatten a chain of the same operator: one line per operand.
        let mut parts = Vec::new();
        flatten(e, *op, &mut parts);
        let word = if *op == BinOp::And { "AND" } else { "OR" };
        let v = ev(e, ops, cols, row, |v| truth(&v));
        if joiner.is_some() || depth > 1 {
            out.push_str(&format!("{pad}{prefix}( ... {word} ... ): {v}\n"));
        }
        let inner = if joiner.is_some() || depth > 1 { depth + 1 } else { depth };
        for (i, p) in parts.iter().enumerate() {
            walk(p, src, ops, cols, row, inner, (i > 0).then_some(word), out);
        }
        return;
    }
    let text = src.get(e.span().start..e.span().end).unwrap_or("?");
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let v = ev(e, ops, cols, row, |v| truth(&v));
    let detail = match e {
        Expr::Bin(_, l, r, _) => {
            let (a, b) = (ev(l, ops, cols, row, |v| show(&v)), ev(r, ops, cols, row, |v| show(&v)));
            format!("{a} vs {b}")
        }
        Expr::IsNull(x, _, _) | Expr::In(x, _, _, _) => ev(x, ops, cols, row, |v| show(&v)),
        Expr::Not(x, _) => format!("inner {}", ev(x, ops, cols, row, |v| truth(&v))),
        other => ev(other, ops, cols, row, |v| show(&v)),
    };
    out.push_str(&format!("{pad}{prefix}{text}    [{detail}] {v}\n"));
}

fn flatten<'a>(e: &'a Expr, op: BinOp, parts: &mut Vec<&'a Expr>) {
    match e {
        Expr::Bin(o, l, r, _) if *o == op => {
            flatten(l, op, parts);
            flatten(r, op, parts);
        }
        other => parts.push(other),
    }
}
