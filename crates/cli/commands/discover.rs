use super::frame::Frame;
use crate::args::{Algo, AssignArgs, CovarianceArg, DiscoverArgs, ScaleArg};
use crate::Failure;
use arrow_array::cast::AsArray;
use arrow_array::{ArrayRef, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use ndarray::Array2;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use strata_discover::dbscan::{auto_eps, DbscanParams};
use strata_discover::gmm::{GmmModel, GmmParams};
use strata_discover::kmeans::KMeansParams;
use strata_discover::prep::{is_behavioural, InputColumn, Pipeline, Scale};
use strata_discover::{profile, score_k, DiscoverError, KScore, Model};

fn bad(e: DiscoverError) -> Failure {
    Failure::Input(e.to_string())
}

/// `<dir>/<stem>.<suffix>` beside an output.
fn beside(out: &Path, suffix: &str) -> PathBuf {
    let stem = out.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "clusters".into());
    out.with_file_name(format!("{stem}.{suffix}"))
}

/// The numeric columns of a feature table: the ones named, or every behavioural one.
pub fn input_columns(batch: &RecordBatch, wanted: Option<&[String]>, path: &Path) -> Result<Vec<InputColumn>, Failure> {
    let schema = batch.schema();
    let numeric = |dt: &DataType| dt.is_numeric();
    let to_col = |name: &str, a: &ArrayRef| -> Result<InputColumn, Failure> {
        let f = arrow_cast::cast(a, &DataType::Float64).map_err(|e| Failure::Internal(format!("{name}: {e}")))?;
        let f = f.as_primitive::<arrow_array::types::Float64Type>();
        Ok(InputColumn { name: name.to_string(), values: f.iter().collect() })
    };
    match wanted {
        Some(names) => names
            .iter()
            .map(|n| {
                let Ok(i) = schema.index_of(n) else {
                    let have: Vec<&str> =
                        schema.fields().iter().filter(|f| numeric(f.data_type())).map(|f| f.name().as_str()).collect();
                    let hint = strata_rules::did_you_mean(n, &have.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                        .map(|s| format!("did you mean '{s}'? "))
                        .unwrap_or_default();
                    return Err(Failure::Input(format!(
                        "--columns: {} has no column '{n}'; {hint}numeric columns are: {}",
                        path.display(),
                        have.join(", ")
                    )));
                };
                if !numeric(schema.field(i).data_type()) {
                    return Err(Failure::Input(format!(
                        "--columns: column '{n}' of {} is {}, not numeric",
                        path.display(),
                        schema.field(i).data_type()
                    )));
                }
                to_col(n, batch.column(i))
            })
            .collect(),
        None => schema
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| numeric(f.data_type()) && is_behavioural(f.name()))
            .map(|(i, f)| to_col(f.name(), batch.column(i)))
            .collect(),
    }
}

fn read_centres(path: &Path) -> Result<Array2<f64>, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Input(format!("cannot read --init-centers {}: {e}", path.display())))?;
    let mut rows: Vec<Vec<f64>> = Vec::new();
    for (ln, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let row: Result<Vec<f64>, _> = line.split(',').map(|v| v.trim().parse::<f64>()).collect();
        rows.push(row.map_err(|e| Failure::Input(format!("{}:{}: {e}", path.display(), ln + 1)))?);
    }
    let d = rows.first().map_or(0, Vec::len);
    if rows.iter().any(|r| r.len() != d) {
        return Err(Failure::Input(format!("{}: rows of different lengths", path.display())));
    }
    Array2::from_shape_vec((rows.len(), d), rows.into_iter().flatten().collect())
        .map_err(|e| Failure::Input(format!("{}: {e}", path.display())))
}

/// `user_id, cluster` (and, for a mixture, `cluster_probability`: the responsibility of
/// the chosen component).
fn clusters_batch(frame: &Frame, labels: &[Option<usize>], prob: Option<&[f64]>) -> Result<RecordBatch, Failure> {
    let (field, users) = frame.user_array()?;
    let cluster: ArrayRef = Arc::new(Int64Array::from_iter(labels.iter().map(|l| l.map(|v| v as i64))));
    let mut fields = vec![field, Field::new("cluster", DataType::Int64, true)];
    let mut cols = vec![users, cluster];
    if let Some(p) = prob {
        fields.push(Field::new("cluster_probability", DataType::Float64, false));
        cols.push(Arc::new(arrow_array::Float64Array::from(p.to_vec())));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).map_err(|e| Failure::Internal(e.to_string()))
}

/// The k values `--k` asks for (`auto`: `--k-min..=--k-max`, capped below the user count).
fn k_range(a: &DiscoverArgs, n: usize) -> Result<Vec<usize>, Failure> {
    if a.k == "auto" {
        if a.k_min < 2 || a.k_max < a.k_min {
            return Err(Failure::Input(format!(
                "--k auto needs 2 <= --k-min <= --k-max (got {}..={})",
                a.k_min, a.k_max
            )));
        }
        Ok((a.k_min..=a.k_max.min(n.saturating_sub(1)).max(a.k_min)).collect())
    } else {
        match a.k.parse::<usize>() {
            Ok(0) => Err(Failure::Input("--k 0: give at least 1 cluster, or auto".into())),
            Ok(k) => Ok(vec![k]),
            Err(_) => Err(Failure::Input(format!("--k '{}': give a number or auto", a.k))),
        }
    }
}

pub fn write_json(path: &Path, v: &serde_json::Value) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(v).map_err(|e| Failure::Internal(e.to_string()))?;
    strata_io::write_atomic(path, |f| {
        use std::io::Write;
        f.write_all(text.as_bytes()).and_then(|_| f.write_all(b"\n")).map_err(|e| e.to_string())
    })?;
    Ok(())
}

pub fn run(a: DiscoverArgs, quiet: bool) -> Result<(), Failure> {
    let profiles_path = beside(&a.out, "profiles.json");
    let inputs = vec![a.features.clone()];
    for out in [Some(&a.out), Some(&profiles_path), a.model.as_ref()].into_iter().flatten() {
        strata_io::check_output_path(out, &inputs)?;
    }
    let frame = Frame::open(&a.features)?;
    let Frame::File { batch, .. } = &frame else {
        return Err(Failure::Internal("a feature table frame was expected".into()));
    };
    let cols = input_columns(batch, a.columns.as_deref(), &a.features)?;
    let n = frame.rows();
    let scale = match a.scale {
        ScaleArg::Standard => Scale::Standard,
        ScaleArg::Robust => Scale::Robust,
        ScaleArg::None => Scale::None,
    };
    let mut skipped = Vec::new();
    let pipeline = Pipeline::fit(&cols, scale, a.pca, a.columns.is_some(), &mut skipped).map_err(bad)?;
    let x = pipeline.transform(&cols).map_err(bad)?;
    let trace = std::env::var_os("STRATA_TRACE").is_some();
    let mut report = json!({
        "algo": match a.algo { Algo::Kmeans => "kmeans", Algo::Dbscan => "dbscan", Algo::Gmm => "gmm" },
        "users": n,
        "columns": pipeline.output_names(),
        "left_out": skipped,
        "seed": a.seed,
    });
    let mut probability: Option<Vec<f64>> = None;
    let (labels, model) = match a.algo {
        Algo::Kmeans => {
            if a.tol.is_nan() || a.tol < 0.0 {
                return Err(Failure::Input(format!("--tol {}: give a number >= 0", a.tol)));
            }
            let mut base =
                KMeansParams { n_init: a.n_init, max_iter: a.max_iter, tol: a.tol, ..KMeansParams::new(2, a.seed) };
            if let Some(p) = &a.init_centers {
                base.init = Some(read_centres(p)?);
            }
            let ks = k_range(&a, n)?;
            if let Some(init) = &base.init {
                if ks.len() != 1 || init.nrows() != ks[0] {
                    return Err(Failure::Input(format!(
                        "--init-centers has {} rows: give --k {} with it",
                        init.nrows(),
                        init.nrows()
                    )));
                }
            }
            let mut scores: Vec<KScore> = Vec::new();
            let mut best: Option<(KScore, strata_discover::kmeans::KMeansModel, Vec<usize>)> = None;
            for k in ks {
                let p = KMeansParams { k, ..base.clone() };
                if trace {
                    let t0 = std::time::Instant::now();
                    let m = p.fit_matrix(x.view()).map_err(bad)?;
                    let secs = t0.elapsed().as_secs_f64();
                    eprintln!(
                        "trace: k-means k={k}: {} runs, {secs:.3} s, last-best run {} iterations, inertia {}",
                        if p.init.is_some() { 1 } else { p.n_init.max(1) },
                        m.iterations,
                        m.inertia
                    );
                }
                let (s, m, l) = score_k(x.view(), &p, a.sample).map_err(bad)?;
                if !quiet && a.k == "auto" {
                    eprintln!(
                        "  k = {k:>2}: silhouette {:.3}, stability (ARI) {:.3}",
                        s.silhouette.unwrap_or(f64::NAN),
                        s.stability_ari
                    );
                }
                scores.push(s.clone());
                let better = best.as_ref().is_none_or(|(b, _, _)| {
                    s.silhouette.unwrap_or(f64::NEG_INFINITY) > b.silhouette.unwrap_or(f64::NEG_INFINITY)
                });
                if better {
                    best = Some((s, m, l));
                }
            }
            let Some((chosen, m, l)) = best else {
                return Err(Failure::Input("no k to try".into()));
            };
            report["k"] = json!(chosen.k);
            report["k_scores"] = json!(scores);
            report["inertia"] = json!(m.inertia);
            report["iterations"] = json!(m.iterations);
            let model = Model {
                version: 1,
                algo: "kmeans".into(),
                pipeline: pipeline.clone(),
                kmeans: Some(m),
                dbscan: None,
                gmm: None,
            };
            (l.into_iter().map(Some).collect::<Vec<_>>(), model)
        }
        Algo::Gmm => {
            let ks = k_range(&a, n)?;
            let mut scores = Vec::new();
            let mut best: Option<GmmModel> = None;
            for k in ks {
                let p = GmmParams {
                    k,
                    sample: a.gmm_sample,
                    max_iter: a.max_iter as u64,
                    diagonal: a.covariance == CovarianceArg::Diag,
                    ..GmmParams::new(k, a.seed)
                };
                let t0 = std::time::Instant::now();
                let m = match p.fit_matrix(x.view()) {
                    Ok(m) => m,
                    // With --k auto one k that cannot be fitted leaves the others to choose
                    // from; it is recorded and said.
                    Err(e) if a.k == "auto" => {
                        if !quiet {
                            eprintln!("  k = {k:>2}: not fitted: {e}");
                        }
                        scores.push(json!({ "k": k, "error": e.to_string() }));
                        continue;
                    }
                    Err(e) => return Err(bad(e)),
                };
                if trace {
                    eprintln!("trace: gmm k={k}: {:.3} s, bic {}", t0.elapsed().as_secs_f64(), m.bic);
                }
                if !quiet && a.k == "auto" {
                    eprintln!("  k = {k:>2}: BIC {:.1}, mean log-likelihood {:.3}", m.bic, m.mean_log_likelihood);
                }
                scores.push(json!({
                    "k": k,
                    "bic": m.bic,
                    "mean_log_likelihood": m.mean_log_likelihood,
                    "reg_covariance": m.reg_covariance,
                    "retries": m.retries,
                    "iterations": m.iterations,
                    "converged": m.converged,
                }));
                if best.as_ref().is_none_or(|b| m.bic < b.bic) {
                    best = Some(m);
                }
            }
            let Some(m) = best else {
                let why: Vec<String> = scores.iter().filter_map(|s| s["error"].as_str().map(String::from)).collect();
                return Err(Failure::Input(format!(
                    "no k in --k-min..=--k-max could be fitted{}",
                    why.first().map(|w| format!(" ({w})")).unwrap_or_default()
                )));
            };
            let (labels, prob, _) = m.predict_matrix(x.view());
            report["k"] = json!(m.k());
            report["k_scores"] = json!(scores);
            report["bic"] = json!(m.bic);
            report["fitted_on"] = json!(m.fitted_on);
            report["reg_covariance"] = json!(m.reg_covariance);
            report["covariance"] = json!(if m.diagonal { "diag" } else { "full" });
            let opt: Vec<Option<usize>> = labels.iter().map(|l| Some(*l)).collect();
            let idx = strata_discover::metrics::sample_indices(n, a.sample, a.seed ^ 0x5151);
            let data = x.as_standard_layout().to_owned();
            report["silhouette"] =
                json!(strata_discover::metrics::silhouette(data.as_slice().unwrap_or(&[]), x.ncols(), &opt, &idx));
            probability = Some(prob);
            let model = Model {
                version: 1,
                algo: "gmm".into(),
                pipeline: pipeline.clone(),
                kmeans: None,
                dbscan: None,
                gmm: Some(m),
            };
            (opt, model)
        }
        Algo::Dbscan => {
            let eps = if a.eps == "auto" {
                auto_eps(x.view(), a.min_samples, a.seed).map_err(bad)?
            } else {
                match a.eps.parse::<f64>() {
                    Ok(e) if e > 0.0 && e.is_finite() => e,
                    _ => return Err(Failure::Input(format!("--eps '{}': give a positive number or auto", a.eps))),
                }
            };
            let t0 = std::time::Instant::now();
            let r = DbscanParams { eps, min_samples: a.min_samples }.run(x.view()).map_err(bad)?;
            if trace {
                eprintln!("trace: dbscan eps={eps}: {:.3} s, {} clusters", t0.elapsed().as_secs_f64(), r.clusters);
            }
            let noise = r.labels.iter().filter(|l| l.is_none()).count();
            report["eps"] = json!(eps);
            report["min_samples"] = json!(a.min_samples);
            report["clusters"] = json!(r.clusters);
            report["noise"] = json!(noise);
            let opt = &r.labels;
            let idx = strata_discover::metrics::sample_indices(n, a.sample, a.seed ^ 0x5151);
            let data = x.as_standard_layout().to_owned();
            report["silhouette"] =
                json!(strata_discover::metrics::silhouette(data.as_slice().unwrap_or(&[]), x.ncols(), opt, &idx));
            let mut core_points = Vec::new();
            let mut core_labels = Vec::new();
            for (i, c) in r.core.iter().enumerate() {
                if *c {
                    core_points.extend(x.row(i).iter().copied());
                    core_labels.push(r.labels[i].unwrap_or(0));
                }
            }
            let model = Model {
                version: 1,
                algo: "dbscan".into(),
                pipeline: pipeline.clone(),
                kmeans: None,
                dbscan: Some(strata_discover::DbscanModel {
                    eps,
                    min_samples: a.min_samples,
                    core_points,
                    core_labels,
                }),
                gmm: None,
            };
            (r.labels, model)
        }
    };
    let profiles = profile::profiles(&cols, &labels);
    report["profiles"] = json!(profiles);
    let batch_out = clusters_batch(&frame, &labels, probability.as_deref())?;
    strata_io::write_parquet_atomic(&a.out, &batch_out)?;
    write_json(&profiles_path, &report)?;
    if let Some(m) = &a.model {
        write_json(m, &serde_json::to_value(&model).map_err(|e| Failure::Internal(e.to_string()))?)?;
    }
    if !quiet {
        let cols_used = pipeline.output_names().len();
        eprintln!("clustered {n} users on {cols_used} columns ({} left out)", skipped.len());
        for p in &profiles {
            let label = p.cluster.map_or("noise".to_string(), |c| format!("cluster {c}"));
            eprintln!("  {label:<10} {:>6} users ({:>5.1}%): {}", p.size, 100.0 * p.share, p.name);
        }
        eprintln!("wrote {} and {}", a.out.display(), profiles_path.display());
        if let Some(m) = &a.model {
            eprintln!("saved the model to {}", m.display());
        }
    }
    Ok(())
}

pub fn assign(a: AssignArgs, quiet: bool) -> Result<(), Failure> {
    strata_io::check_output_path(&a.out, &[a.features.clone(), a.model.clone()])?;
    let text = std::fs::read_to_string(&a.model)
        .map_err(|e| Failure::Input(format!("cannot read model {}: {e}", a.model.display())))?;
    let model: Model = serde_json::from_str(&text)
        .map_err(|e| Failure::Input(format!("{} is not a strata model: {e}", a.model.display())))?;
    let frame = Frame::open(&a.features)?;
    let Frame::File { batch, .. } = &frame else {
        return Err(Failure::Internal("a feature table frame was expected".into()));
    };
    let names: Vec<String> = model.pipeline.columns.iter().map(|c| c.name.clone()).collect();
    let cols = input_columns(batch, Some(&names), &a.features)?;
    let x = model.pipeline.transform(&cols).map_err(bad)?;
    // A mixture's labels and probabilities come from one evaluation.
    let (labels, prob) = match &model.gmm {
        Some(g) => {
            let (l, p) = model.assign_with_probability(g, x.view()).map_err(bad)?;
            (l, Some(p))
        }
        None => (model.assign(x.view()).map_err(bad)?, None),
    };
    let out = clusters_batch(&frame, &labels, prob.as_deref())?;
    strata_io::write_parquet_atomic(&a.out, &out)?;
    if !quiet {
        let noise = labels.iter().filter(|l| l.is_none()).count();
        eprintln!(
            "labelled {} users with the {} model ({} noise); wrote {}",
            labels.len(),
            model.algo,
            noise,
            a.out.display()
        );
    }
    Ok(())
}
