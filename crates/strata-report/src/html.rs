//! `report.html`: one self-contained file that works offline. Every chart is an inline
//! SVG drawn with plotters' SVG backend (segment sizes, the cluster-profile heatmap, the
//! contingency heatmaps, score distributions per cluster); there is no script, no
//! stylesheet link and no external request.

use crate::{Report, ReportError};
use plotters::prelude::*;
use std::fmt::Write;

type Fail = ReportError;

fn fail(chart: &str) -> impl Fn(String) -> Fail + '_ {
    move |e| ReportError::Chart(chart.to_string(), e)
}

/// HTML-escapes text.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let t: String = s.chars().take(max.saturating_sub(1)).collect();
        format!("{t}…")
    }
}

const BAR: RGBColor = RGBColor(66, 110, 180);

/// A horizontal bar chart of counts.
pub fn bars(title: &str, labels: &[String], values: &[f64]) -> Result<String, Fail> {
    let k = labels.len().max(1);
    let h = 60 + 26 * k as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, h)).into_drawing_area();
        let e = fail(title);
        root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
        let max = values.iter().copied().fold(1.0, f64::max) * 1.15;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(8)
            .margin_left(200)
            .x_label_area_size(24)
            .build_cartesian_2d(0.0..max, 0.0..k as f64)
            .map_err(|x| e(x.to_string()))?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .disable_y_axis()
            .x_labels(6)
            .x_label_formatter(&|v| format!("{v:.0}"))
            .draw()
            .map_err(|x| e(x.to_string()))?;
        chart
            .draw_series(values.iter().enumerate().map(|(i, v)| {
                let y = (k - 1 - i) as f64;
                Rectangle::new([(0.0, y + 0.15), (*v, y + 0.85)], BAR.filled())
            }))
            .map_err(|x| e(x.to_string()))?;
        for (i, (l, v)) in labels.iter().zip(values).enumerate() {
            let y = (k - 1 - i) as f64 + 0.5;
            let (px, py) = chart.backend_coord(&(0.0, y));
            root.draw(&Text::new(shorten(l, 28), (px - 192, py - 6), ("sans-serif", 12)))
                .map_err(|x| e(x.to_string()))?;
            let (vx, _) = chart.backend_coord(&(*v, y));
            root.draw(&Text::new(format!("{v:.0}"), (vx + 4, py - 6), ("sans-serif", 11)))
                .map_err(|x| e(x.to_string()))?;
        }
        root.present().map_err(|x| e(x.to_string()))?;
    }
    Ok(svg)
}

/// Colour of a z-score: blue below the mean, red above, white at it (clamped at |z| 2).
fn diverging(z: f64) -> RGBColor {
    let t = (z / 2.0).clamp(-1.0, 1.0);
    let mix = |a: u8, b: u8, w: f64| (a as f64 + (b as f64 - a as f64) * w).round() as u8;
    if t >= 0.0 {
        RGBColor(mix(255, 200, t), mix(255, 50, t), mix(255, 50, t))
    } else {
        RGBColor(mix(255, 40, -t), mix(255, 90, -t), mix(255, 190, -t))
    }
}

/// Colour of a share 0..=1: white to dark blue.
fn sequential(s: f64) -> RGBColor {
    let t = s.clamp(0.0, 1.0);
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * t).round() as u8;
    RGBColor(mix(255, 30), mix(255, 70), mix(255, 150))
}

/// A heatmap: `values[row][col]`, coloured by `colour(value, row)`, each cell labelled.
pub fn heatmap(
    title: &str,
    rows: &[String],
    cols: &[String],
    values: &[Vec<f64>],
    colour: &dyn Fn(f64, usize) -> RGBColor,
    label: &dyn Fn(f64) -> String,
) -> Result<String, Fail> {
    let (nr, nc) = (rows.len().max(1), cols.len().max(1));
    let cw = 64u32;
    let w = (220 + cw * nc as u32).max(420);
    let h = 170 + 24 * nr as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        let e = fail(title);
        root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
        // The title at the top left, clear of the rotated column labels.
        root.draw(&Text::new(title.to_string(), (10, 8), ("sans-serif", 16))).map_err(|x| e(x.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .margin(8)
            .margin_left(200)
            .margin_top(130)
            .build_cartesian_2d(0.0..nc as f64, 0.0..nr as f64)
            .map_err(|x| e(x.to_string()))?;
        chart
            .draw_series(values.iter().enumerate().flat_map(|(i, row)| {
                let y = (nr - 1 - i) as f64;
                row.iter().enumerate().map(move |(j, v)| {
                    Rectangle::new([(j as f64, y), (j as f64 + 1.0, y + 1.0)], colour(*v, i).filled())
                })
            }))
            .map_err(|x| e(x.to_string()))?;
        for (i, row) in values.iter().enumerate() {
            let y = (nr - 1 - i) as f64;
            for (j, v) in row.iter().enumerate() {
                let (px, py) = chart.backend_coord(&(j as f64 + 0.5, y + 0.5));
                root.draw(&Text::new(label(*v), (px - 14, py - 6), ("sans-serif", 11)))
                    .map_err(|x| e(x.to_string()))?;
            }
        }
        for (i, r) in rows.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(0.0, (nr - 1 - i) as f64 + 0.5));
            root.draw(&Text::new(shorten(r, 28), (px - 192, py - 6), ("sans-serif", 12)))
                .map_err(|x| e(x.to_string()))?;
        }
        for (j, c) in cols.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(j as f64 + 0.5, nr as f64));
            let style = ("sans-serif", 11).into_font().transform(FontTransform::Rotate270);
            root.draw(&Text::new(shorten(c, 18), (px - 6, py - 4), style)).map_err(|x| e(x.to_string()))?;
        }
        root.present().map_err(|x| e(x.to_string()))?;
    }
    Ok(svg)
}

/// Box plots of one score per cluster.
pub fn boxes(title: &str, labels: &[String], samples: &[Vec<f64>]) -> Result<String, Fail> {
    let k = labels.len().max(1) as i32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 300)).into_drawing_area();
        let e = fail(title);
        root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(40)
            .build_cartesian_2d((0..k).into_segmented(), 0f32..100f32)
            .map_err(|x| e(x.to_string()))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(k as usize)
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => labels.get(*i as usize).map(|s| shorten(s, 12)).unwrap_or_default(),
                _ => String::new(),
            })
            .draw()
            .map_err(|x| e(x.to_string()))?;
        let quartiles: Vec<(i32, Quartiles)> = samples
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.is_empty())
            .map(|(i, s)| (i as i32, Quartiles::new(s)))
            .collect();
        chart
            .draw_series(
                quartiles
                    .iter()
                    .map(|(i, q)| Boxplot::new_vertical(SegmentValue::CenterOf(*i), q).width(24).style(BAR)),
            )
            .map_err(|x| e(x.to_string()))?;
        root.present().map_err(|x| e(x.to_string()))?;
    }
    Ok(svg)
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}\
table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}\
th{background:#f2f4f8}pre{background:#f6f6f6;padding:8px;overflow-x:auto}.chart{margin:1em 0}\
.candidate{color:#a33;font-weight:bold}h2{border-bottom:1px solid #ddd;padding-bottom:4px}";

fn html_table(o: &mut String, head: &[String], rows: &[Vec<String>]) {
    o.push_str("<table><thead><tr>");
    for h in head {
        let _ = write!(o, "<th>{}</th>", esc(h));
    }
    o.push_str("</tr></thead><tbody>");
    for r in rows {
        o.push_str("<tr>");
        for c in r {
            let _ = write!(o, "<td>{}</td>", esc(c));
        }
        o.push_str("</tr>");
    }
    o.push_str("</tbody></table>\n");
}

fn chart(o: &mut String, svg: &str) {
    let _ = writeln!(o, "<div class=\"chart\">{svg}</div>");
}

/// Renders the whole report as one HTML page.
pub fn render(r: &Report) -> Result<String, Fail> {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>strata report</title><style>{STYLE}</style></head><body>\n"
    );
    let _ = writeln!(
        o,
        "<h1>strata report</h1><p>{} users, {} clusters{}, {} segment families.</p>",
        r.users,
        r.cluster_count,
        if r.noise > 0 { format!(" and {} noise users", r.noise) } else { String::new() },
        r.mapping.len()
    );
    o.push_str("<h2>Headline findings</h2><ol>");
    for h in &r.headlines {
        let _ = write!(o, "<li>{}</li>", esc(h));
    }
    o.push_str("</ol>\n");

    o.push_str("<h2>Segment sizes</h2>\n");
    for m in &r.mapping {
        let sizes: Vec<f64> =
            (0..m.segments.len()).map(|j| m.contingency.iter().map(|row| row[j]).sum::<u64>() as f64).collect();
        chart(&mut o, &bars(&format!("{}: users per segment", m.family), &m.segments, &sizes)?);
    }

    o.push_str("<h2>Clusters against segment families</h2>\n");
    let (head, rows) = crate::mapping_table(r);
    html_table(&mut o, &head, &rows);

    o.push_str("<h2>Cluster profiles</h2>\n");
    let labels: Vec<String> = r.clusters.iter().map(|c| format!("{} ({})", c.label, c.size)).collect();
    if !r.heatmap.0.is_empty() {
        chart(
            &mut o,
            &heatmap(
                "Cluster profiles: z-score of each feature against all users",
                &labels,
                &r.heatmap.0,
                &r.heatmap.1,
                &|v, _| diverging(v),
                &|v| format!("{v:+.1}"),
            )?,
        );
    }
    for c in &r.clusters {
        let _ = writeln!(o, "<h3>{}: {} ({} users, {:.1}%)</h3>", esc(&c.label), esc(&c.name), c.size, 100.0 * c.share);
        if c.candidate {
            o.push_str(
                "<p class=\"candidate\">Candidate new segment: no defined segment has it as its main part.</p>\n",
            );
        }
        let head: Vec<String> = ["family", "dominant segment", "share of cluster", "share of segment", "verdict"]
            .map(String::from)
            .to_vec();
        let rows: Vec<Vec<String>> = c
            .verdicts
            .iter()
            .map(|v| {
                vec![
                    v.family.clone(),
                    v.dominant.clone(),
                    format!("{:.1}%", 100.0 * v.share),
                    format!("{:.1}%", 100.0 * v.coverage),
                    v.text.clone(),
                ]
            })
            .collect();
        html_table(&mut o, &head, &rows);
        if let Some(l) = &c.learned_rule {
            let _ = writeln!(
                o,
                "<p>Learned rule: precision {:.2}, recall {:.2}, selects {} users.</p><pre>{}</pre>",
                l.precision,
                l.recall,
                l.selected,
                esc(&l.text)
            );
        }
    }

    o.push_str("<h2>Score distributions per cluster</h2>\n");
    if let Some(first) = r.clusters.first() {
        for (k, (name, _)) in first.scores.iter().enumerate() {
            let samples: Vec<Vec<f64>> = r
                .clusters
                .iter()
                .map(|c| {
                    c.scores.get(k).map_or(Vec::new(), |(_, d)| {
                        if d.count == 0 {
                            Vec::new()
                        } else {
                            vec![d.min, d.q1, d.median, d.q3, d.max]
                        }
                    })
                })
                .collect();
            let short: Vec<String> = r.clusters.iter().map(|c| c.label.clone()).collect();
            chart(&mut o, &boxes(&format!("{name} score by cluster"), &short, &samples)?);
        }
    }

    o.push_str("<h2>Contingency tables</h2>\n");
    for m in &r.mapping {
        let values: Vec<Vec<f64>> = m.contingency.iter().map(|row| row.iter().map(|v| *v as f64).collect()).collect();
        let totals: Vec<f64> = values.iter().map(|row| row.iter().sum::<f64>().max(1.0)).collect();
        chart(
            &mut o,
            &heatmap(
                &format!("{}: users per cluster and segment", m.family),
                &m.clusters,
                &m.segments,
                &values,
                &|v, i| sequential(v / totals[i]),
                &|v| format!("{v:.0}"),
            )?,
        );
    }

    for t in &r.transitions {
        let values: Vec<Vec<f64>> = t.counts.iter().map(|row| row.iter().map(|v| *v as f64).collect()).collect();
        let totals: Vec<f64> = values.iter().map(|row| row.iter().sum::<f64>().max(1.0)).collect();
        let _ = writeln!(o, "<h2>Movement: {} ({} to {})</h2>", esc(&t.family), esc(&t.from_as_of), esc(&t.to_as_of));
        chart(
            &mut o,
            &heatmap(
                &format!("{}: share of each row moving to each column", t.family),
                &t.rows,
                &t.cols,
                &values,
                &|v, i| sequential(v / totals[i]),
                &|v| format!("{v:.0}"),
            )?,
        );
    }

    if let Some(i) = &r.insights {
        for (title, note, head, rows) in crate::outcomes::insight_tables(i, 12) {
            let _ = writeln!(o, "<h2>{}</h2>\n<p>{}</p>", esc(&title), esc(&note));
            html_table(&mut o, &head, &rows);
        }
    }

    o.push_str("<h2>How well a single cluster reproduces each segment</h2>\n");
    let (head, rows) = crate::reproduction_table(r);
    html_table(&mut o, &head, &rows);

    // The strategy section, from the Markdown renderer's content, as HTML blocks.
    o.push_str("<h2>Segmentation Strategy</h2>\n");
    let s = &r.strategy;
    let _ = write!(o, "<p><b>Primary goal:</b> {}</p>", esc(&s.goal));
    o.push_str("<h3>Data Foundation</h3><ul>");
    for src in &s.sources {
        let _ = write!(o, "<li>{}</li>", esc(src));
    }
    o.push_str("</ul><p><b>Data gaps</b></p><ul>");
    for g in &s.gaps {
        let _ = write!(o, "<li>{}</li>", esc(g));
    }
    o.push_str("</ul><h3>Segment Definitions</h3>\n");
    let head: Vec<String> =
        ["segment", "family", "criteria", "users", "share", "action", "success metric"].map(String::from).to_vec();
    let rows: Vec<Vec<String>> = s
        .segments
        .iter()
        .map(|x| {
            vec![
                x.name.clone(),
                x.family.clone().unwrap_or_default(),
                x.criteria.clone(),
                x.size.to_string(),
                format!("{:.1}%", 100.0 * x.share),
                x.action.clone(),
                x.success_metric.clone(),
            ]
        })
        .collect();
    html_table(&mut o, &head, &rows);
    o.push_str("<h3>Scoring Models</h3><ul>");
    for sc in &s.scores {
        let parts: Vec<String> = sc.components.iter().map(|c| format!("{} (up to {})", c.name, c.max_points)).collect();
        let _ = write!(o, "<li><b>{}</b>: {}</li>", esc(&sc.name), esc(&parts.join(", ")));
    }
    o.push_str("</ul><h3>Personalization Playbook</h3>\n");
    if let Some(fam) = &s.playbook_family {
        let mut head = vec!["Touchpoint".to_string()];
        head.extend(s.segments.iter().filter(|x| x.family.as_ref() == Some(fam)).map(|x| x.name.clone()));
        let rows: Vec<Vec<String>> = s
            .playbook
            .iter()
            .map(|(t, cells)| std::iter::once(t.clone()).chain(cells.iter().cloned()).collect())
            .collect();
        html_table(&mut o, &head, &rows);
    }
    o.push_str("<h3>Implementation Plan</h3><ul>");
    for p in &s.phases {
        let _ = write!(o, "<li>{}</li>", esc(p));
    }
    o.push_str("</ul><h3>Measurement</h3><ul>");
    for m in &s.measurement {
        let _ = write!(o, "<li>{}</li>", esc(m));
    }
    o.push_str("</ul><h3>Cross-Segment Comparison Dashboard</h3>\n");
    if !s.dashboard.is_empty() {
        let mut head = vec!["Metric".to_string()];
        head.extend(s.dashboard.iter().map(|c| c.segment.clone()));
        let mut rows = vec![std::iter::once("Segment size".to_string())
            .chain(s.dashboard.iter().map(|c| format!("{} ({:.1}%)", c.size, 100.0 * c.share)))
            .collect::<Vec<_>>()];
        let dash = |name: &str, f: &dyn Fn(&crate::strategy::DashboardColumn) -> Option<String>| -> Vec<String> {
            std::iter::once(name.to_string())
                .chain(s.dashboard.iter().map(|c| f(c).unwrap_or_else(|| "–".into())))
                .collect()
        };
        if s.dashboard.iter().any(|c| c.retention.is_some()) {
            rows.push(dash("Retention (measured)", &|c| c.retention.map(|x| format!("{:.1}%", 100.0 * x))));
            rows.push(dash("Paid conversion (measured)", &|c| c.paid_conversion.map(|x| format!("{:.1}%", 100.0 * x))));
            rows.push(dash("LTV proxy (measured)", &|c| c.ltv.map(|x| format!("${x:.0}"))));
        }
        rows.push(dash("Active in last 30 days", &|c| c.active_30d.map(|x| format!("{:.1}%", 100.0 * x))));
        rows.push(dash("Paying", &|c| c.paying.map(|x| format!("{:.1}%", 100.0 * x))));
        rows.push(dash("Avg revenue", &|c| c.avg_revenue.map(|x| format!("${x:.2}"))));
        html_table(&mut o, &head, &rows);
    }
    for n in &s.dashboard_notes {
        let _ = write!(o, "<p>{}</p>", esc(n));
    }
    o.push_str("</body></html>\n");
    Ok(o)
}
