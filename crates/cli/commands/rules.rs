use crate::args::RulesCommand;
use crate::Failure;
use strata_rules::{parse, Names};

/// Score names a rule may use: the engagement score is computed today; the seed's
/// activation, expansion-readiness and churn-risk models come with score blocks.
pub const SCORES: [&str; 1] = ["engagement"];

/// Parses and compiles a rule file, or returns every problem rendered.
pub fn load(file: &std::path::Path, scores: &[&str]) -> Result<strata_rules::Program, Failure> {
    load_full(file, scores).map(|(_, _, p)| p)
}

/// [`load`], also returning the source text and the parsed file.
pub fn load_full(
    file: &std::path::Path,
    scores: &[&str],
) -> Result<(String, strata_rules::ast::RuleFile, strata_rules::Program), Failure> {
    let src = std::fs::read_to_string(file)
        .map_err(|e| Failure::Input(format!("cannot read rule file {}: {e}", file.display())))?;
    let shown = file.display().to_string();
    let (rules, mut diags) = parse(&src);
    let names =
        Names { features: strata_features::feature_names(), scores: scores.iter().map(|s| s.to_string()).collect() };
    let compiled = strata_rules::compile(&rules, &names);
    if let Err(d) = &compiled {
        diags.extend(d.iter().cloned());
    }
    match compiled {
        Ok(p) if diags.is_empty() => Ok((src, rules, p)),
        _ => {
            diags.sort_by_key(|d| d.span.start);
            let text: Vec<String> = diags.iter().map(|d| d.render(&shown, &src)).collect();
            let n = diags.len();
            Err(Failure::Input(format!(
                "{n} problem{} in {shown}\n\n{}",
                if n == 1 { "" } else { "s" },
                text.join("\n\n")
            )))
        }
    }
}

pub fn run(c: RulesCommand, quiet: bool) -> Result<(), Failure> {
    match c {
        RulesCommand::Explain { user, rules, input } => {
            let (src, file, program) = load_full(&rules, &SCORES)?;
            let ev = super::segment::evaluate(&program, &input, &rules, &[], quiet)?;
            let t = &ev.out.table;
            let Some(row) = t.keys.iter().position(|k| k.to_string() == user) else {
                return Err(Failure::Input(format!(
                    "user '{user}' has no row as of {} (not in the events or the users table, or signs up later)",
                    ev.out.as_of.to_rfc3339()
                )));
            };
            println!("user {user} as of {}", ev.out.as_of.to_rfc3339());
            for seg in &file.segments {
                print!("{}", strata_rules::explain::explain_segment(seg, &src, &program, &ev.cols, row));
            }
            let p = ev.points[row];
            let f = |name: &str| {
                strata_rules::explain::show(
                    &t.column(name)
                        .and_then(|c| c.f64_at(row))
                        .map_or(strata_rules::Value::Null, strata_rules::Value::Num),
                )
            };
            println!(
                "engagement score {} ({})",
                strata_rules::explain::show(&strata_rules::Value::Num(ev.engagement[row])),
                strata_rules::scores::engagement_tier(ev.engagement[row])
            );
            println!(
                "  usage frequency {:>2} points: avg_weekly_sessions_28d = {}",
                p[0],
                f("avg_weekly_sessions_28d")
            );
            println!("  feature breadth {:>2} points: feature_breadth_30d = {}", p[1], f("feature_breadth_30d"));
            println!(
                "  engagement depth {:>2} points: avg_session_minutes_28d = {}",
                p[2],
                f("avg_session_minutes_28d")
            );
            println!("  recency {:>2} points: days_since_last_seen = {}", p[3], f("days_since_last_seen"));
            Ok(())
        }
        RulesCommand::Check { file } => {
            let program = load(&file, &SCORES)?;
            println!("{}: {} segments, no problems", file.display(), program.segments.len());
            for s in &program.segments {
                println!("  segment \"{}\"", s.name);
            }
            let mut aggs: Vec<&strata_rules::AggRequest> = program
                .operands
                .iter()
                .filter_map(|o| match o {
                    strata_rules::Operand::Agg(a) => Some(a),
                    _ => None,
                })
                .collect();
            aggs.sort();
            if aggs.is_empty() {
                println!("aggregates the rules need from the events: none");
            } else {
                println!("aggregates the rules need from the events (computed in the same pass):");
                for a in aggs {
                    println!("  {}", a.name());
                }
            }
            Ok(())
        }
    }
}
