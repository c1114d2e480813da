use crate::args::RulesCommand;
use crate::Failure;
use strata_rules::{parse, resolve, Names};

/// The contract's users-table columns, plus the derived `days_since_signup`.
pub const USER_ATTRIBUTES: [&str; 10] = [
    "days_since_signup",
    "signup_at",
    "plan",
    "role",
    "industry",
    "country",
    "company_size",
    "seats",
    "usage_pct",
    "account_id",
];

/// The seed's four score models (section 4).
const SCORES: [&str; 4] = ["engagement", "activation", "expansion_readiness", "churn_risk"];

/// Parses and compiles a rule file, or returns every problem rendered.
pub fn load(file: &std::path::Path, scores: &[&str]) -> Result<strata_rules::Program, Failure> {
    let src = std::fs::read_to_string(file)
        .map_err(|e| Failure::Input(format!("cannot read rule file {}: {e}", file.display())))?;
    let shown = file.display().to_string();
    let (rules, mut diags) = parse(&src);
    let names = Names {
        features: strata_features::feature_names(),
        user_attributes: USER_ATTRIBUTES.iter().map(|s| s.to_string()).collect(),
        scores: scores.iter().map(|s| s.to_string()).collect(),
    };
    let compiled = strata_rules::compile(&rules, &names);
    if let Err(d) = &compiled {
        diags.extend(d.iter().cloned());
    }
    match compiled {
        Ok(p) if diags.is_empty() => Ok(p),
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

pub fn run(c: RulesCommand) -> Result<(), Failure> {
    match c {
        RulesCommand::Check { file } => {
            let src = std::fs::read_to_string(&file)
                .map_err(|e| Failure::Input(format!("cannot read rule file {}: {e}", file.display())))?;
            let shown = file.display().to_string();
            let (rules, mut diags) = parse(&src);
            let names = Names {
                features: strata_features::feature_names(),
                user_attributes: USER_ATTRIBUTES.iter().map(|s| s.to_string()).collect(),
                scores: SCORES.iter().map(|s| s.to_string()).collect(),
            };
            let resolved = resolve(&rules, &names);
            diags.extend(resolved.diagnostics);
            diags.sort_by_key(|d| d.span.start);
            if !diags.is_empty() {
                let text: Vec<String> = diags.iter().map(|d| d.render(&shown, &src)).collect();
                let n = diags.len();
                return Err(Failure::Input(format!(
                    "{n} problem{} in {shown}\n\n{}",
                    if n == 1 { "" } else { "s" },
                    text.join("\n\n")
                )));
            }
            println!("{shown}: {} segments, no problems", rules.segments.len());
            for s in &rules.segments {
                println!("  segment \"{}\"", s.name);
            }
            if resolved.aggregates.is_empty() {
                println!("aggregates the rules need from the events: none");
            } else {
                println!("aggregates the rules need from the events (computed in the same pass):");
                for a in &resolved.aggregates {
                    println!("  {}", a.name());
                }
            }
            Ok(())
        }
    }
}
