//! A rule for a candidate new segment, learned as a shallow decision tree (linfa-trees)
//! of the cluster against everyone else on features in their own units, and written in
//! strata's rule language. The rule text is then compiled and run by `strata-rules`
//! itself, so the precision and recall reported are those of the text a user pastes,
//! not of the tree.

use linfa::prelude::*;
use linfa_trees::{DecisionTree, SplitQuality, TreeNode};
use ndarray::{Array1, Array2};
use serde::Serialize;
use strata_discover::prep::InputColumn;
use strata_rules::run::{Column, Table};

/// The tree's depth: deep enough for a two- or three-condition rule, shallow enough to
/// read.
pub const MAX_DEPTH: usize = 3;
/// Training rows at most (a seeded sample); precision and recall use every user.
pub const TRAIN_ROWS: usize = 20_000;

/// A learned rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LearnedRule {
    /// The condition, in the rule language.
    pub condition: String,
    /// A whole `segment` block, ready to paste into a rules file.
    pub text: String,
    /// Share of the users the rule selects that are in the cluster.
    pub precision: f64,
    /// Share of the cluster's users the rule selects.
    pub recall: f64,
    /// Users the rule selects.
    pub selected: usize,
}

/// A bound on one feature along a path: `feature < v` or `feature >= v`.
#[derive(Debug, Clone, PartialEq)]
struct Bound {
    feature: usize,
    below: bool,
    value: f64,
}

/// Rounds a split point to 3 significant digits (the reported precision and recall are
/// measured on the rounded text).
fn number(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return "0".into();
    }
    let digits = (2 - v.abs().log10().floor() as i32).max(0) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn paths(node: &TreeNode<f64, usize>, path: &mut Vec<Bound>, out: &mut Vec<Vec<Bound>>) {
    if node.is_leaf() {
        if node.prediction() == Some(1) {
            out.push(path.clone());
        }
        return;
    }
    let (feature, value, _) = node.split();
    let children = node.children();
    for (child, below) in children.into_iter().zip([true, false]) {
        if let Some(c) = child {
            path.push(Bound { feature, below, value });
            paths(c, path, out);
            path.pop();
        }
    }
}

/// One path as `a < 1 AND b >= 2`, keeping the tightest bound per feature and side.
fn conjunction(path: &[Bound], names: &[&str]) -> String {
    let mut tight: Vec<Bound> = Vec::new();
    for b in path {
        match tight.iter_mut().find(|t| t.feature == b.feature && t.below == b.below) {
            Some(t) if b.below => t.value = t.value.min(b.value),
            Some(t) => t.value = t.value.max(b.value),
            None => tight.push(b.clone()),
        }
    }
    tight
        .iter()
        .map(|b| format!("{} {} {}", names[b.feature], if b.below { "<" } else { ">=" }, number(b.value)))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// Selects the rows a condition written over `cols` accepts, through the rule compiler
/// and evaluator. `None` if the text does not compile (it always should).
pub fn select(condition: &str, cols: &[InputColumn]) -> Option<Vec<bool>> {
    let text = format!("segment \"probe\" {{\n  conditions {{ {condition} }}\n}}\n");
    let (file, diags) = strata_rules::parse(&text);
    if !diags.is_empty() {
        return None;
    }
    let names = strata_rules::Names { features: cols.iter().map(|c| c.name.clone()).collect(), scores: Vec::new() };
    let program = strata_rules::compile(&file, &names).ok()?;
    let rows = cols.first().map_or(0, |c| c.values.len());
    let mut table_cols = Vec::new();
    for op in &program.operands {
        match op {
            strata_rules::Operand::Feature(f) => {
                let c = cols.iter().find(|c| &c.name == f)?;
                table_cols.push(Column::numbers(c.values.iter().copied()));
            }
            _ => return None,
        }
    }
    let mut table = Table { rows, cols: table_cols };
    let out = strata_rules::run::run(&program, &mut table);
    out.members.into_iter().next()
}

/// Learns a rule that separates `target` users from the rest. Features with nulls are
/// left out (a rule's comparison with null is false, which a tree trained on imputed
/// values would not know). `None` when no split separates anything.
pub fn learn(features: &[InputColumn], target: &[bool], name: &str, label: &str, seed: u64) -> Option<LearnedRule> {
    let usable: Vec<&InputColumn> =
        features.iter().filter(|c| c.values.iter().all(|v| v.is_some_and(f64::is_finite))).collect();
    let n = target.len();
    if usable.is_empty() || n == 0 {
        return None;
    }
    let rows =
        if n > TRAIN_ROWS { strata_discover::metrics::sample_indices(n, TRAIN_ROWS, seed) } else { (0..n).collect() };
    let d = usable.len();
    let mut x = Array2::<f64>::zeros((rows.len(), d));
    for (i, &r) in rows.iter().enumerate() {
        for (j, c) in usable.iter().enumerate() {
            x[(i, j)] = c.values[r].unwrap_or(0.0);
        }
    }
    let y: Array1<usize> = rows.iter().map(|&r| usize::from(target[r])).collect();
    let names: Vec<&str> = usable.iter().map(|c| c.name.as_str()).collect();
    let data = Dataset::new(x, y).with_feature_names(names.clone());
    let min_leaf = (rows.len() as f32 * 0.005).max(5.0);
    let tree: DecisionTree<f64, usize> = DecisionTree::params()
        .split_quality(SplitQuality::Gini)
        .max_depth(Some(MAX_DEPTH))
        .min_weight_leaf(min_leaf)
        .min_weight_split(2.0 * min_leaf)
        .fit(&data)
        .ok()?;
    let mut found = Vec::new();
    paths(tree.root_node(), &mut Vec::new(), &mut found);
    if found.is_empty() || found.iter().any(Vec::is_empty) {
        return None;
    }
    let parts: Vec<String> = found.iter().map(|p| conjunction(p, &names)).collect();
    let condition = if parts.len() == 1 {
        parts[0].clone()
    } else {
        parts.iter().map(|p| format!("({p})")).collect::<Vec<_>>().join("\n    OR ")
    };
    let cols: Vec<InputColumn> = usable.iter().map(|c| (*c).clone()).collect();
    let chosen = select(&condition, &cols)?;
    let selected = chosen.iter().filter(|b| **b).count();
    let hits = chosen.iter().zip(target).filter(|(a, b)| **a && **b).count();
    let size = target.iter().filter(|b| **b).count();
    let precision = if selected > 0 { hits as f64 / selected as f64 } else { 0.0 };
    let recall = if size > 0 { hits as f64 / size as f64 } else { 0.0 };
    let text = format!(
        "segment \"{name}\" {{\n  conditions {{\n    {condition}\n  }}\n  refresh: weekly\n  description: \"Learned from {label} ({size} users): precision {precision:.2}, recall {recall:.2}\"\n}}\n"
    );
    Some(LearnedRule { condition, text, precision, recall, selected })
}
