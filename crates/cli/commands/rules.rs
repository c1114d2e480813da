use crate::args::RulesCommand;
use crate::Failure;
use std::path::Path;
use strata_rules::{parse, Names, DEFAULT_RULES};

/// How the built-in rules are named in messages.
pub const DEFAULT_NAME: &str = "<default rules>";

/// Parses and compiles rule text; scores it uses but does not define come from the
/// default rules. On any problem, returns every one rendered.
pub fn compile_text(shown: &str, src: &str) -> Result<(strata_rules::ast::RuleFile, strata_rules::Program), Failure> {
    let (rules, mut diags) = parse(src);
    let rules = strata_rules::with_default_scores(rules);
    let names = Names { features: strata_features::feature_names(), scores: Vec::new() };
    let compiled = strata_rules::compile(&rules, &names);
    if let Err(d) = &compiled {
        diags.extend(d.iter().cloned());
    }
    match compiled {
        Ok(p) if diags.is_empty() => Ok((rules, p)),
        _ => {
            diags.sort_by_key(|d| d.span.start);
            diags.dedup();
            let text: Vec<String> = diags.iter().map(|d| d.render(shown, src)).collect();
            let n = diags.len();
            Err(Failure::Input(format!(
                "{n} problem{} in {shown}\n\n{}",
                if n == 1 { "" } else { "s" },
                text.join("\n\n")
            )))
        }
    }
}

/// Reads a rule file (or takes the default rules): its name for messages, its text,
/// the parsed file and the program.
pub fn load_full(
    file: Option<&Path>,
) -> Result<(String, String, strata_rules::ast::RuleFile, strata_rules::Program), Failure> {
    let (shown, src) = match file {
        Some(f) => (
            f.display().to_string(),
            std::fs::read_to_string(f)
                .map_err(|e| Failure::Input(format!("cannot read rule file {}: {e}", f.display())))?,
        ),
        None => (DEFAULT_NAME.to_string(), DEFAULT_RULES.to_string()),
    };
    let (rules, program) = compile_text(&shown, &src)?;
    Ok((shown, src, rules, program))
}

/// [`load_full`], keeping the name and the program.
pub fn load_program(file: Option<&Path>) -> Result<(String, strata_rules::Program), Failure> {
    load_full(file).map(|(shown, _, _, p)| (shown, p))
}

pub fn run(c: RulesCommand, quiet: bool) -> Result<(), Failure> {
    match c {
        RulesCommand::Init { out } => {
            if out.exists() {
                return Err(Failure::Input(format!(
                    "{} already exists; strata rules init never overwrites a file (give --out NEW_FILE)",
                    out.display()
                )));
            }
            strata_io::write_atomic(&out, |f| {
                use std::io::Write;
                f.write_all(DEFAULT_RULES.as_bytes()).map_err(|e| e.to_string())
            })?;
            if !quiet {
                let (_, p) = load_program(None)?;
                eprintln!(
                    "wrote {} ({} scores, {} segments); edit it and run `strata segment --rules {}`",
                    out.display(),
                    p.scores.len(),
                    p.segments.len(),
                    out.display()
                );
            }
            Ok(())
        }
        RulesCommand::Explain { user, seg } => {
            let (shown, src, file, program) = load_full(seg.rules.as_deref())?;
            let ev = super::segment::evaluate(&program, &seg, &shown, &[], quiet)?;
            let keys = ev.frame.keys();
            let Some(row) = keys.iter().position(|k| k.to_string() == user) else {
                return Err(Failure::Input(format!(
                    "user '{user}' has no row {} (not in the events or the users table, or signs up later)",
                    ev.frame.describe()
                )));
            };
            println!("user {user} {}", ev.frame.describe());
            let show = strata_rules::explain::show;
            for (i, sc) in program.scores.iter().enumerate() {
                let res = &ev.outcome.scores[i];
                let tier = res.tier[row].map(|t| format!(" ({})", sc.tiers[t].value)).unwrap_or_default();
                println!("score {} = {}{tier}", sc.name, show(&strata_rules::Value::Num(res.total[row])));
                let parsed = file.scores.iter().find(|s| s.name == sc.name);
                // Scores taken from the default rules carry spans into that text.
                let text_of = parsed.map_or(DEFAULT_RULES, |p| {
                    if src.get(p.name_span.start..p.name_span.end) == Some(&format!("\"{}\"", p.name)) {
                        src.as_str()
                    } else {
                        DEFAULT_RULES
                    }
                });
                for (j, c) in sc.components.iter().enumerate() {
                    let input = c
                        .input_value(&ev.table, row)
                        .map(|v| {
                            let text = parsed
                                .and_then(|p| p.components.get(j))
                                .and_then(|pc| pc.input.as_ref())
                                .map(|e| text_of.get(e.span().start..e.span().end).unwrap_or("input").to_string())
                                .unwrap_or_else(|| "input".into());
                            format!(": {} = {}", text.split_whitespace().collect::<Vec<_>>().join(" "), show(&v))
                        })
                        .unwrap_or_default();
                    println!("  {:>3} points  {}{input}", show(&strata_rules::Value::Num(res.points[j][row])), c.name);
                }
            }
            for seg in &file.segments {
                print!("{}", strata_rules::explain::explain_segment(seg, &src, &program, &ev.table, row));
            }
            Ok(())
        }
        RulesCommand::Check { file } => {
            let (shown, program) = load_program(file.as_deref())?;
            println!("{shown}: {} scores, {} segments, no problems", program.scores.len(), program.segments.len());
            for s in &program.scores {
                println!(
                    "  score \"{}\": {} components, at most {} points, {} tiers",
                    s.name,
                    s.components.len(),
                    s.max_points(),
                    s.tiers.len()
                );
            }
            for s in &program.segments {
                match &s.family {
                    Some(f) => println!("  segment \"{}\" (family {f})", s.name),
                    None => println!("  segment \"{}\"", s.name),
                }
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
