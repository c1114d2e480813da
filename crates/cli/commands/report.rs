//! `strata report`: reads the feature table, segments and clusters, builds the report
//! (crates/strata-report) and writes report.md, report.html, report.json and
//! misfiled.parquet. Everything is rendered in memory first and each file is written
//! atomically, so a failed run leaves an earlier report as it was.

use super::frame::read_parquet;
use crate::args::ReportArgs;
use crate::Failure;
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use strata_discover::prep::InputColumn;
use strata_report::strategy::{Context, RuleBook};
use strata_report::{FlagColumn, Input, LabelColumn, Report};

/// The files a report folder holds.
pub const FILES: [&str; 4] = ["report.md", "report.html", "report.json", "misfiled.parquet"];

fn ids(batch: &RecordBatch, path: &Path) -> Result<Vec<String>, Failure> {
    let col = batch
        .column_by_name("user_id")
        .ok_or_else(|| Failure::Input(format!("{} has no user_id column", path.display())))?;
    let s = arrow_cast::cast(col, &DataType::Utf8)
        .map_err(|e| Failure::Input(format!("{}: user_id: {e}", path.display())))?;
    Ok(s.as_string::<i32>().iter().map(|v| v.unwrap_or("").to_string()).collect())
}

/// Row of each feature-table user in `batch` (read from `path`); every user must be there.
fn align(users: &[String], batch: &RecordBatch, path: &Path, what: &str) -> Result<Vec<usize>, Failure> {
    let other = ids(batch, path)?;
    let at: HashMap<&str, usize> = other.iter().enumerate().map(|(i, u)| (u.as_str(), i)).collect();
    let mut rows = Vec::with_capacity(users.len());
    let mut missing = Vec::new();
    for u in users {
        match at.get(u.as_str()) {
            Some(r) => rows.push(*r),
            None => missing.push(u.as_str()),
        }
    }
    if !missing.is_empty() {
        return Err(Failure::Input(format!(
            "{} ({what}) lacks {} of the feature table's users (first: {}); give files from the same run",
            path.display(),
            missing.len(),
            missing[0]
        )));
    }
    Ok(rows)
}

fn strings(a: &ArrayRef, rows: &[usize]) -> Vec<Option<String>> {
    let s = a.as_string::<i32>();
    rows.iter().map(|r| if s.is_null(*r) { None } else { Some(s.value(*r).to_string()) }).collect()
}

fn numbers(a: &ArrayRef, rows: &[usize], name: &str) -> Result<Vec<Option<f64>>, Failure> {
    let f = arrow_cast::cast(a, &DataType::Float64).map_err(|e| Failure::Internal(format!("{name}: {e}")))?;
    let f = f.as_primitive::<arrow_array::types::Float64Type>();
    Ok(rows.iter().map(|r| if f.is_null(*r) { None } else { Some(f.value(*r)) }).collect())
}

/// Reads the inputs and builds the report.
pub fn build(a: &ReportArgs) -> Result<Report, Failure> {
    let features = read_parquet(&a.features, "feature table")?;
    let users = ids(&features, &a.features)?;
    if users.is_empty() {
        return Err(Failure::Input(format!("{} has no users", a.features.display())));
    }
    let feature_cols = super::discover::input_columns(&features, None, &a.features)?;
    let (shown, src, file, _) = super::rules::load_full(a.rules.as_deref())?;
    let book = RuleBook::from_rules(&shown, &file, &src);

    let seg = read_parquet(&a.segments, "segment table")?;
    let seg_rows = align(&users, &seg, &a.segments, "segments")?;
    let mut families = Vec::new();
    let mut flags = Vec::new();
    let mut scores = Vec::new();
    let mut parts = Vec::new();
    let family_names: Vec<String> = book.segments.iter().filter_map(|s| s.family.clone()).collect();
    let schema = seg.schema();
    for (i, f) in schema.fields().iter().enumerate() {
        let name = f.name();
        let col = seg.column(i);
        match f.data_type() {
            DataType::Utf8 if name != "user_id" && !name.ends_with("_tier") => {
                // Only the families the rules define: other string columns are not segments.
                if let Some(family) = family_names.iter().find(|fam| strata_rules::snake_case(fam) == *name) {
                    if !families.iter().any(|f: &LabelColumn| &f.name == family) {
                        families.push(LabelColumn { name: family.clone(), values: strings(col, &seg_rows) });
                    }
                }
            }
            DataType::Boolean => {
                let b = col.as_boolean();
                let rule =
                    book.segments.iter().find(|s| s.family.is_none() && strata_rules::snake_case(&s.name) == *name);
                if let Some(rule) = rule {
                    flags.push(FlagColumn {
                        name: rule.name.clone(),
                        values: seg_rows.iter().map(|r| !b.is_null(*r) && b.value(*r)).collect(),
                    });
                }
            }
            dt if dt.is_numeric() => {
                let values = numbers(col, &seg_rows, name)?;
                if let Some(score) = name.strip_suffix("_score") {
                    scores.push(InputColumn { name: score.to_string(), values });
                } else if name.ends_with("_points") {
                    parts.push(InputColumn { name: name.clone(), values });
                }
            }
            _ => {}
        }
    }
    if families.is_empty() && flags.is_empty() {
        let mut expected: Vec<String> = family_names.iter().map(|f| strata_rules::snake_case(f)).collect();
        expected.extend(book.segments.iter().filter(|s| s.family.is_none()).map(|s| strata_rules::snake_case(&s.name)));
        expected.dedup();
        return Err(Failure::Input(format!(
            "{} holds none of the segment columns of {shown} (expected {}); give the table `strata segment` wrote with these rules",
            a.segments.display(),
            expected.join(", ")
        )));
    }

    let cl = read_parquet(&a.clusters, "cluster table")?;
    let cl_rows = align(&users, &cl, &a.clusters, "clusters")?;
    let ccol = cl.column_by_name("cluster").ok_or_else(|| {
        Failure::Input(format!(
            "{} has no cluster column; give a table written by `strata discover`",
            a.clusters.display()
        ))
    })?;
    let c64 = arrow_cast::cast(ccol, &DataType::Int64).map_err(|e| Failure::Input(format!("cluster: {e}")))?;
    let c64 = c64.as_primitive::<arrow_array::types::Int64Type>();
    let mut clusters = Vec::with_capacity(users.len());
    for r in &cl_rows {
        if c64.is_null(*r) {
            clusters.push(None);
        } else {
            let v = c64.value(*r);
            let v = usize::try_from(v).map_err(|_| {
                Failure::Input(format!("{}: row {}: cluster {v} is negative (noise is null)", a.clusters.display(), r))
            })?;
            clusters.push(Some(v));
        }
    }

    let personas = match &a.personas {
        Some(p) => {
            let b = read_parquet(p, "persona table")?;
            let rows = align(&users, &b, p, "personas")?;
            let col = b
                .column_by_name("persona")
                .ok_or_else(|| Failure::Input(format!("{} has no persona column", p.display())))?;
            let col = arrow_cast::cast(col, &DataType::Utf8).map_err(|e| Failure::Input(format!("persona: {e}")))?;
            Some(LabelColumn { name: "persona".into(), values: strings(&col, &rows) })
        }
        None => None,
    };

    let cfg = match &a.config {
        Some(c) => strata_core::Config::from_file(c)?,
        None => strata_core::Config::default(),
    };
    let k = clusters.iter().flatten().collect::<std::collections::BTreeSet<_>>().len();
    let mut sources = vec![
        format!(
            "Feature table {} ({} users, {} behavioural columns)",
            a.features.display(),
            users.len(),
            feature_cols.len()
        ),
        format!(
            "Segments {} ({} families, {} flags, {} scores; rules: {shown})",
            a.segments.display(),
            families.len(),
            flags.len(),
            scores.len()
        ),
        format!("Clusters {} ({k} clusters)", a.clusters.display()),
    ];
    let quality = super::features::quality_path(&a.features);
    if let Some(q) =
        std::fs::read_to_string(&quality).ok().and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
    {
        let rows = q.get("rows_read").or_else(|| q.get("events_read")).and_then(serde_json::Value::as_u64);
        if let Some(rows) = rows {
            sources.push(format!("Product events: {rows} rows read ({})", quality.display()));
        }
    }
    if let Some(p) = &a.personas {
        sources.push(format!("Planted personas {}", p.display()));
    }
    let profiles = a.clusters.with_file_name(format!(
        "{}.profiles.json",
        a.clusters.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
    ));
    let discovery = std::fs::read_to_string(&profiles)
        .ok()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        .map(|v| {
            let algo = v.get("algo").and_then(|x| x.as_str()).unwrap_or("clustering").to_string();
            match v.get("k").and_then(serde_json::Value::as_u64) {
                Some(k) => format!("{algo} with k = {k} (strata discover)"),
                None => format!("{algo} (strata discover)"),
            }
        })
        .unwrap_or_default();
    let (outcomes, insights) = match &a.outcomes {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| Failure::Input(format!("cannot read --outcomes {}: {e}", p.display())))?;
            let v: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| Failure::Input(format!("--outcomes {} is not JSON: {e}", p.display())))?;
            sources.push(format!(
                "Outcomes {} (as of {}, horizon {} days)",
                p.display(),
                v["as_of"].as_str().unwrap_or("?"),
                v["horizon_days"]
            ));
            let not_ours = |e: serde_json::Error| {
                Failure::Input(format!(
                    "--outcomes {}: not the outcomes.json `strata outcomes` writes: {e}",
                    p.display()
                ))
            };
            let groups = serde_json::from_value(v["segments"].clone()).map_err(not_ours)?;
            // Older outcomes files have no insights: the report simply leaves them out.
            let insights = match v.get("insights") {
                Some(i) => Some(serde_json::from_value(i.clone()).map_err(not_ours)?),
                None => None,
            };
            (groups, insights)
        }
        None => (Vec::new(), None),
    };
    let transitions = match &a.transitions {
        Some(p) => read_transitions(p)?,
        None => Vec::new(),
    };
    let input = Input {
        user_ids: users,
        features: feature_cols,
        families,
        flags,
        scores,
        score_parts: parts,
        clusters,
        rules: book,
        context: Context {
            goal: cfg.report.goal.clone(),
            questions: cfg.report.questions.clone(),
            sources,
            gaps: Vec::new(),
            discovery,
        },
        personas,
        seed: a.seed,
        outcomes,
        transitions,
        insights,
    };
    strata_report::build(&input).map_err(|e| Failure::Input(e.to_string()))
}

/// The latest pair of snapshots in a transitions.parquet, one matrix per family.
fn read_transitions(path: &Path) -> Result<Vec<strata_report::Transitions>, Failure> {
    let b = read_parquet(path, "transitions table")?;
    let bad = |what: &str| {
        Failure::Input(format!("{}: {what}; give the transitions.parquet `strata snapshots` writes", path.display()))
    };
    let col = |name: &str| b.column_by_name(name).ok_or_else(|| bad(&format!("no column {name}")));
    let text = |name: &str| -> Result<Vec<String>, Failure> {
        let c = arrow_cast::cast(col(name)?, &DataType::Utf8).map_err(|e| bad(&e.to_string()))?;
        Ok(c.as_string::<i32>().iter().map(|v| v.unwrap_or("").to_string()).collect())
    };
    // Timestamps as RFC 3339 (arrow's own cast of a zoned timestamp to text needs chrono-tz).
    let time = |name: &str| -> Result<Vec<String>, Failure> {
        let c = arrow_cast::cast(col(name)?, &DataType::Int64).map_err(|e| bad(&e.to_string()))?;
        Ok(c.as_primitive::<arrow_array::types::Int64Type>()
            .values()
            .iter()
            .map(|v| strata_core::AsOf(*v).to_rfc3339())
            .collect())
    };
    let (family, from, to, from_seg, to_seg) =
        (text("family")?, time("from_as_of")?, time("to_as_of")?, text("from_segment")?, text("to_segment")?);
    let users = arrow_cast::cast(col("users")?, &DataType::Int64).map_err(|e| bad(&e.to_string()))?;
    let users = users.as_primitive::<arrow_array::types::Int64Type>();
    let Some(last) = to.iter().max().cloned() else { return Ok(Vec::new()) };
    let mut out: Vec<strata_report::Transitions> = Vec::new();
    let order = |v: &mut Vec<String>| {
        v.sort_by_key(|s| (s == "new" || s == "churned", s.clone()));
        v.dedup();
    };
    for i in (0..b.num_rows()).filter(|i| to[*i] == last) {
        let t = match out.iter().position(|t| t.family == family[i]) {
            Some(k) => &mut out[k],
            None => {
                out.push(strata_report::Transitions {
                    family: family[i].clone(),
                    from_as_of: from[i].clone(),
                    to_as_of: last.clone(),
                    rows: Vec::new(),
                    cols: Vec::new(),
                    counts: Vec::new(),
                });
                out.last_mut().ok_or_else(|| Failure::Internal("empty".into()))?
            }
        };
        t.rows.push(from_seg[i].clone());
        t.cols.push(to_seg[i].clone());
    }
    for t in &mut out {
        order(&mut t.rows);
        order(&mut t.cols);
        t.counts = vec![vec![0; t.cols.len()]; t.rows.len()];
    }
    for i in (0..b.num_rows()).filter(|i| to[*i] == last) {
        if let Some(t) = out.iter_mut().find(|t| t.family == family[i]) {
            let r = t.rows.iter().position(|x| *x == from_seg[i]).unwrap_or(0);
            let c = t.cols.iter().position(|x| *x == to_seg[i]).unwrap_or(0);
            t.counts[r][c] += u64::try_from(users.value(i)).unwrap_or(0);
        }
    }
    Ok(out)
}

fn misfiled_batch(r: &Report) -> Result<RecordBatch, Failure> {
    let m = &r.misfiled;
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(m.iter().map(|x| x.user_id.as_str()))),
        Arc::new(StringArray::from_iter_values(m.iter().map(|x| x.family.as_str()))),
        Arc::new(StringArray::from_iter_values(m.iter().map(|x| x.segment.as_str()))),
        Arc::new(Int64Array::from_iter(m.iter().map(|x| x.cluster.map(|c| c as i64)))),
        Arc::new(StringArray::from_iter_values(m.iter().map(|x| x.cluster_segment.as_str()))),
        Arc::new(Float64Array::from_iter_values(m.iter().map(|x| x.distance))),
        Arc::new(Int64Array::from_iter_values(m.iter().map(|x| x.rank as i64))),
    ];
    let schema = Schema::new(vec![
        Field::new("user_id", DataType::Utf8, false),
        Field::new("family", DataType::Utf8, false),
        Field::new("segment", DataType::Utf8, false),
        Field::new("cluster", DataType::Int64, true),
        Field::new("cluster_segment", DataType::Utf8, false),
        Field::new("distance", DataType::Float64, false),
        Field::new("rank", DataType::Int64, false),
    ]);
    RecordBatch::try_new(Arc::new(schema), cols).map_err(|e| Failure::Internal(e.to_string()))
}

fn write_text(path: &Path, text: &str) -> Result<(), Failure> {
    strata_io::write_atomic(path, |f| {
        use std::io::Write;
        f.write_all(text.as_bytes()).map_err(|e| e.to_string())
    })?;
    Ok(())
}

/// Builds the report and writes its files; returns the report.
pub fn run(a: ReportArgs, quiet: bool) -> Result<Report, Failure> {
    let inputs: Vec<PathBuf> = [
        Some(&a.features),
        Some(&a.segments),
        Some(&a.clusters),
        a.rules.as_ref(),
        a.personas.as_ref(),
        a.config.as_ref(),
    ]
    .into_iter()
    .flatten()
    .cloned()
    .collect();
    std::fs::create_dir_all(&a.out)
        .map_err(|e| Failure::Input(format!("cannot create report folder {}: {e}", a.out.display())))?;
    let paths: Vec<PathBuf> = FILES.iter().map(|f| a.out.join(f)).collect();
    for p in &paths {
        strata_io::check_output_path(p, &inputs)?;
    }
    let report = build(&a)?;
    // Render everything before writing anything.
    let md = strata_report::markdown::render(&report);
    let html = strata_report::html::render(&report).map_err(|e| Failure::Internal(e.to_string()))?;
    let json = {
        let mut v = serde_json::to_value(&report).map_err(|e| Failure::Internal(e.to_string()))?;
        v["version"] = serde_json::json!(1);
        serde_json::to_string_pretty(&v).map_err(|e| Failure::Internal(e.to_string()))? + "\n"
    };
    let misfiled = misfiled_batch(&report)?;
    write_text(&paths[0], &md)?;
    write_text(&paths[1], &html)?;
    write_text(&paths[2], &json)?;
    strata_io::write_parquet_atomic(&paths[3], &misfiled)?;
    if !quiet {
        eprintln!(
            "report on {} users, {} clusters, {} families: {}",
            report.users,
            report.cluster_count,
            report.mapping.len(),
            paths[1].display()
        );
    }
    Ok(report)
}
