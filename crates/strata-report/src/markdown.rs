//! `report.md`: the report as Markdown, in a fixed order, numbers at fixed precision
//! (so a snapshot of it is stable).

use crate::Report;
use std::fmt::Write;

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

fn num(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.1}")
    } else {
        "–".into()
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Writes a Markdown table.
fn table(out: &mut String, head: &[&str], rows: &[Vec<String>]) {
    let _ = writeln!(out, "| {} |", head.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(head.len()));
    for r in rows {
        let _ = writeln!(out, "| {} |", r.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | "));
    }
    out.push('\n');
}

/// Renders the report.
pub fn render(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# strata report\n");
    let _ = writeln!(
        o,
        "{} users, {} clusters{}, {} segment families.\n",
        r.users,
        r.cluster_count,
        if r.noise > 0 { format!(" and {} noise users", r.noise) } else { String::new() },
        r.mapping.len()
    );
    let _ = writeln!(o, "## Headline findings\n");
    for (i, h) in r.headlines.iter().enumerate() {
        let _ = writeln!(o, "{}. {h}", i + 1);
    }
    o.push('\n');

    let _ = writeln!(o, "## Clusters against segment families\n");
    let (head, rows) = crate::mapping_table(r);
    table(&mut o, &head.iter().map(String::as_str).collect::<Vec<_>>(), &rows);

    let _ = writeln!(o, "## Clusters\n");
    for c in &r.clusters {
        let _ = writeln!(o, "### {}: {} ({} users, {})\n", c.label, c.name, c.size, pct(c.share));
        if !c.distinguishing.is_empty() {
            let d: Vec<String> = c.distinguishing.iter().map(|(f, z)| format!("{f} (z {z:+.2})")).collect();
            let _ = writeln!(o, "Sets it apart: {}.\n", d.join(", "));
        }
        if c.candidate {
            let _ = writeln!(o, "**Candidate new segment**: no defined segment has it as its main part.\n");
        }
        if let Some((p, s)) = &c.persona {
            let _ = writeln!(o, "Planted persona: {p} ({}).\n", pct(*s));
        }
        let rows: Vec<Vec<String>> = c
            .verdicts
            .iter()
            .map(|v| vec![v.family.clone(), v.dominant.clone(), pct(v.share), pct(v.coverage), v.text.clone()])
            .collect();
        table(&mut o, &["family", "dominant segment", "share of cluster", "share of segment", "verdict"], &rows);
        let rows: Vec<Vec<String>> =
            c.scores.iter().map(|(s, d)| vec![s.clone(), num(d.mean), num(d.q1), num(d.median), num(d.q3)]).collect();
        if !rows.is_empty() {
            table(&mut o, &["score", "mean", "Q1", "median", "Q3"], &rows);
        }
        if let Some(l) = &c.learned_rule {
            let _ = writeln!(
                o,
                "Learned rule (precision {:.2}, recall {:.2}, selects {} users):\n\n```\n{}```\n",
                l.precision, l.recall, l.selected, l.text
            );
        }
    }

    let _ = writeln!(o, "## Contingency tables\n");
    for m in &r.mapping {
        let _ = writeln!(o, "### {}\n", m.family);
        let mut head: Vec<&str> = vec!["cluster"];
        head.extend(m.segments.iter().map(String::as_str));
        head.push("purity");
        let rows: Vec<Vec<String>> = m
            .contingency
            .iter()
            .zip(&m.clusters)
            .zip(&m.cluster_purity)
            .map(|((row, c), p)| {
                let mut v = vec![c.clone()];
                v.extend(row.iter().map(u64::to_string));
                v.push(pct(*p));
                v
            })
            .collect();
        table(&mut o, &head, &rows);
        let one: Vec<String> = m.one_to_one.iter().map(|(c, s, k)| format!("{c} ↔ {s} ({k})")).collect();
        let _ =
            writeln!(o, "One-to-one (Hungarian): {}.\n", if one.is_empty() { "none".into() } else { one.join(", ") });
        let many: Vec<String> = m.many_to_one.iter().map(|(c, s)| format!("{c} → {s}")).collect();
        let _ = writeln!(o, "Many-to-one (majority): {}.\n", many.join(", "));
    }

    let _ = writeln!(o, "## How well a single cluster reproduces each segment\n");
    let (head, rows) = crate::reproduction_table(r);
    table(&mut o, &head.iter().map(String::as_str).collect::<Vec<_>>(), &rows);

    let _ = writeln!(o, "## Misfiled users\n");
    let _ = writeln!(
        o,
        "Users whose segment differs from the one their cluster confirms, deepest inside the cluster first, are in `misfiled.parquet`.\n"
    );
    let rows: Vec<Vec<String>> = r.misfiled_count.iter().map(|(f, c)| vec![f.clone(), c.to_string()]).collect();
    table(&mut o, &["family", "misfiled users"], &rows);

    for t in &r.transitions {
        let _ = writeln!(o, "## Movement: {} ({} to {})\n", t.family, t.from_as_of, t.to_as_of);
        let mut head: Vec<&str> = vec!["from \\ to"];
        head.extend(t.cols.iter().map(String::as_str));
        let rows: Vec<Vec<String>> = t
            .rows
            .iter()
            .zip(&t.counts)
            .map(|(name, row)| {
                let total = row.iter().sum::<u64>().max(1) as f64;
                std::iter::once(name.clone())
                    .chain(row.iter().map(|c| format!("{} ({})", c, pct(*c as f64 / total))))
                    .collect()
            })
            .collect();
        table(&mut o, &head, &rows);
    }

    if let Some(i) = &r.insights {
        for (title, note, head, rows) in crate::outcomes::insight_tables(i, 12) {
            let _ = writeln!(o, "## {title}\n\n{note}\n");
            table(&mut o, &head.iter().map(String::as_str).collect::<Vec<_>>(), &rows);
        }
    }

    if let Some(p) = &r.personas {
        let _ = writeln!(o, "## Planted personas\n");
        let mut rows = vec![vec![
            "clusters".to_string(),
            format!("{:.3}", p.clusters.ari),
            format!("{:.3}", p.clusters.nmi),
            format!("{:.3}", p.clusters.v_measure),
        ]];
        rows.extend(p.families.iter().map(|(f, s)| {
            vec![
                format!("{f} segments"),
                format!("{:.3}", s.ari),
                format!("{:.3}", s.nmi),
                format!("{:.3}", s.v_measure),
            ]
        }));
        table(&mut o, &["labeling", "ARI vs personas", "NMI", "V-measure"], &rows);
    }

    strategy(&mut o, r);
    o
}

/// The seed's section 11 output format.
fn strategy(o: &mut String, r: &Report) {
    let s = &r.strategy;
    let _ = writeln!(o, "# Segmentation Strategy\n");
    let _ = writeln!(o, "## Segmentation Goals\n");
    let _ = writeln!(o, "- Primary goal: {}", s.goal);
    let _ = writeln!(o, "- Key questions to answer: {}\n", s.questions.join(" "));
    let _ = writeln!(o, "## Data Foundation\n");
    let _ = writeln!(o, "- Available data sources:");
    for src in &s.sources {
        let _ = writeln!(o, "  - {src}");
    }
    let _ = writeln!(o, "- Data gaps:{}", if s.gaps.is_empty() { " none found" } else { "" });
    for g in &s.gaps {
        let _ = writeln!(o, "  - {g}");
    }
    o.push('\n');
    let _ = writeln!(o, "## Segment Definitions\n");
    for (i, seg) in s.segments.iter().enumerate() {
        let fam = seg.family.as_ref().map_or(String::new(), |f| format!(" ({f})"));
        let _ = writeln!(o, "### Segment {}: {}{}\n", i + 1, seg.name, fam);
        let _ = writeln!(o, "- Criteria: `{}`", seg.criteria);
        let _ = writeln!(o, "- Measured size: {} users, {} of base", seg.size, pct(seg.share));
        let _ = writeln!(
            o,
            "- Actions: {}",
            if seg.action.is_empty() { "none set (seed 10: every segment needs one)" } else { &seg.action }
        );
        let _ = writeln!(o, "- Success metric: {}\n", seg.success_metric);
    }
    let _ = writeln!(o, "## Scoring Models\n");
    for sc in &s.scores {
        let parts: Vec<String> = sc
            .components
            .iter()
            .map(|c| match &c.input {
                Some(i) => format!("{} ({}, up to {})", c.name, i, c.max_points),
                None => format!("{} (up to {})", c.name, c.max_points),
            })
            .collect();
        let tiers = if sc.tiers.is_empty() { String::new() } else { format!("; tiers {}", sc.tiers.join(" / ")) };
        let _ = writeln!(o, "- {} score: {}{tiers}", sc.name, parts.join(", "));
    }
    o.push('\n');
    let _ = writeln!(o, "## Personalization Playbook\n");
    if let Some(fam) = &s.playbook_family {
        let names: Vec<&str> =
            s.segments.iter().filter(|x| x.family.as_ref() == Some(fam)).map(|x| x.name.as_str()).collect();
        let mut head = vec!["Touchpoint"];
        head.extend(names);
        let rows: Vec<Vec<String>> = s
            .playbook
            .iter()
            .map(|(t, cells)| {
                let mut v = vec![t.clone()];
                v.extend(cells.iter().cloned());
                v
            })
            .collect();
        table(o, &head, &rows);
    }
    let _ = writeln!(o, "## Implementation Plan\n");
    for p in &s.phases {
        let _ = writeln!(o, "- {p}");
    }
    o.push('\n');
    let _ = writeln!(o, "## Measurement\n");
    for m in &s.measurement {
        let _ = writeln!(o, "- {m}");
    }
    o.push('\n');
    let _ = writeln!(o, "## Cross-Segment Comparison Dashboard\n");
    if !s.dashboard.is_empty() {
        let mut head = vec!["Metric".to_string()];
        head.extend(s.dashboard.iter().map(|c| c.segment.clone()));
        let head: Vec<&str> = head.iter().map(String::as_str).collect();
        let mut rows = vec![{
            let mut v = vec!["Segment size".to_string()];
            v.extend(s.dashboard.iter().map(|c| format!("{} ({})", c.size, pct(c.share))));
            v
        }];
        let opt = |f: &dyn Fn(&crate::strategy::DashboardColumn) -> Option<String>, name: &str| -> Vec<String> {
            let mut v = vec![name.to_string()];
            v.extend(s.dashboard.iter().map(|c| f(c).unwrap_or_else(|| "–".into())));
            v
        };
        if s.dashboard.iter().any(|c| c.retention.is_some()) {
            rows.push(opt(&|c| c.retention.map(pct), "Retention (measured)"));
            rows.push(opt(&|c| c.paid_conversion.map(pct), "Paid conversion (measured)"));
            rows.push(opt(&|c| c.horizon_revenue.map(|x| format!("${x:.2}")), "Revenue in horizon (measured)"));
            rows.push(opt(&|c| c.ltv.map(|x| format!("${x:.0}")), "LTV proxy (measured)"));
        }
        rows.push(opt(&|c| c.active_30d.map(pct), "Active in last 30 days"));
        rows.push(opt(&|c| c.paying.map(pct), "Paying"));
        rows.push(opt(&|c| c.avg_revenue.map(|x| format!("${x:.2}")), "Avg revenue"));
        if let Some(first) = s.dashboard.first() {
            for (k, (name, _)) in first.mean_scores.iter().enumerate() {
                rows.push(opt(&|c| c.mean_scores.get(k).map(|(_, v)| num(*v)), &format!("Mean {name} score")));
            }
        }
        table(o, &head, &rows);
    }
    for n in &s.dashboard_notes {
        let _ = writeln!(o, "{n}\n");
    }
}
