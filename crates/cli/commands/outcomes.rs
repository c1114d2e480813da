//! `strata outcomes`: what happened after a snapshot. Segments and scores at `T`, and
//! activity and revenue in `(T, T + H]`, from one pass over the events (snapshots at
//! `T - H`, `T` and `T + H`): retention, paid conversion, revenue and an LTV proxy per
//! segment (seed 9.1), and backtests of the scores (AUC and lift by tier).

use super::frame::{build_table, Frame};
use crate::args::{InputArgs, OutcomesArgs};
use crate::Failure;
use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use std::collections::HashMap;
use std::sync::Arc;
use strata_core::{AsOf, MICROS_PER_DAY};
use strata_features::Plan;
use strata_report::outcomes::{
    backtest, best_and_worst, group, groups_of, icp_attributes, roll_up, GroupOutcome, IcpColumn, Insights, UserOutcome,
};
use strata_rules::Column;

fn num(frame: &Frame, name: &str) -> Vec<f64> {
    match frame.feature(name) {
        Some(Column::Num(v)) => v,
        _ => vec![f64::NAN; frame.rows()],
    }
}

pub fn run(a: OutcomesArgs, quiet: bool) -> Result<(), Failure> {
    let (shown, program) = super::rules::load_program(a.rules.as_deref())?;
    let h = super::snapshots::parse_every(&a.horizon)?;
    let horizon_days = h as f64 / MICROS_PER_DAY as f64;
    let t = AsOf::parse_rfc3339(&a.as_of).map_err(|e| Failure::Input(format!("--as-of '{}': {e}", a.as_of)))?.0;
    std::fs::create_dir_all(&a.out)
        .map_err(|e| Failure::Input(format!("cannot create output folder {}: {e}", a.out.display())))?;
    let json_path = a.out.join("outcomes.json");
    let pq_path = a.out.join("outcomes_by_segment.parquet");
    let input = InputArgs::plain(Some(a.events.clone()), a.users.clone(), a.config.clone());
    let mut plan = Plan::new();
    let agg_ids = super::segment::plan_aggregates(&program, &mut plan, &shown)?;
    let has_before = std::cell::Cell::new(false);
    let pick = |source: &strata_io::EventSource, _: Option<&strata_io::UsersTable>, _: &strata_core::Config| {
        let Some((first, last)) = strata_features::event_time_range(source)? else {
            return Err(Failure::Input("the events hold no timestamps".into()));
        };
        if t < first || t + h > last {
            return Err(Failure::Input(format!(
                "--as-of {} with --horizon {} needs events up to {}, but the events cover {} to {}; choose an earlier --as-of or a shorter --horizon",
                AsOf(t).to_rfc3339(),
                a.horizon,
                AsOf(t + h).to_rfc3339(),
                AsOf(first).to_rfc3339(),
                AsOf(last).to_rfc3339()
            )));
        }
        let mut times = Vec::new();
        if t - h >= first {
            has_before.set(true);
            times.push((AsOf(t - h), "--as-of - horizon"));
        }
        times.push((AsOf(t), "--as-of"));
        times.push((AsOf(t + h), "--as-of + horizon"));
        Ok(times)
    };
    let (mut outs, users, cfg) = super::features::engine_many(&input, &plan, &[&json_path, &pq_path], quiet, &pick)?;
    let after = Frame::Engine {
        out: Box::new(outs.pop().ok_or_else(|| Failure::Internal("no snapshot".into()))?),
        agg_ids: agg_ids.clone(),
    };
    let at = Frame::Engine {
        out: Box::new(outs.pop().ok_or_else(|| Failure::Internal("no snapshot".into()))?),
        agg_ids: agg_ids.clone(),
    };
    let before = if has_before.get() { outs.pop().map(|o| Frame::Engine { out: Box::new(o), agg_ids }) } else { None };
    let mut table = build_table(&program, &at, users.as_ref(), &cfg, &shown)?;
    let outcome = strata_rules::run(&program, &mut table);

    let keys = at.keys();
    let n = keys.len();
    let index = |f: &Frame| -> HashMap<strata_io::UserKey, usize> {
        f.keys().into_iter().enumerate().map(|(i, k)| (k, i)).collect()
    };
    let after_ix = index(&after);
    let before_ix = before.as_ref().map(index);
    let rev_at = num(&at, "revenue_total");
    let rev_after = num(&after, "revenue_total");
    let seen_after = num(&after, "days_since_last_seen");
    let rev_before = before.as_ref().map(|f| num(f, "revenue_total"));
    let z = |x: f64| if x.is_nan() { 0.0 } else { x };
    let mut user_out = Vec::with_capacity(n);
    let mut had_revenue = Vec::with_capacity(n);
    for (u, k) in keys.iter().enumerate() {
        let j = after_ix.get(k).copied();
        let last_gap = j.map_or(f64::NAN, |j| seen_after[j]);
        let revenue = (j.map_or(0.0, |j| z(rev_after[j])) - z(rev_at[u])).max(0.0);
        let prior = match (&rev_before, &before_ix) {
            (Some(rb), Some(bi)) => z(rev_at[u]) - bi.get(k).map_or(0.0, |i| z(rb[*i])),
            _ => z(rev_at[u]),
        };
        had_revenue.push(z(rev_at[u]) > 0.0);
        user_out.push(UserOutcome {
            // The last event is in (T, T + H] exactly when it is less than H days before T + H.
            retained: last_gap.is_finite() && last_gap < horizon_days,
            revenue,
            converted: z(rev_at[u]) <= 0.0 && revenue > 0.0,
            upgraded: revenue > prior.max(0.0),
        });
    }
    let all: Vec<usize> = (0..n).collect();
    let mut groups: Vec<GroupOutcome> = vec![group(None, "all users", &all, &user_out, &had_revenue, horizon_days)];
    for fam in &outcome.families {
        let mut names: Vec<(Option<usize>, String)> =
            fam.segments.iter().map(|i| (Some(*i), program.segments[*i].name.clone())).collect();
        names.push((None, "Unclassified".into()));
        for (seg, name) in names {
            let members: Vec<usize> = (0..n).filter(|&u| fam.assigned[u] == seg).collect();
            if !members.is_empty() {
                groups.push(group(Some(&fam.name), &name, &members, &user_out, &had_revenue, horizon_days));
            }
        }
    }
    for (si, s) in program.segments.iter().enumerate().filter(|(_, s)| s.family.is_none()) {
        let members: Vec<usize> = (0..n).filter(|&u| outcome.members[si][u]).collect();
        if !members.is_empty() {
            groups.push(group(None, &s.name, &members, &user_out, &had_revenue, horizon_days));
        }
    }
    let mut tests = Vec::new();
    for (si, sc) in program.scores.iter().enumerate() {
        let (label, what): (Vec<bool>, &str) = match sc.name.as_str() {
            "churn_risk" | "at_risk_signals" => {
                (user_out.iter().map(|o| !o.retained).collect(), "no activity in the horizon")
            }
            "expansion_readiness" => {
                (user_out.iter().map(|o| o.upgraded).collect(), "more revenue than in the span before")
            }
            "engagement" | "activation" => (user_out.iter().map(|o| o.retained).collect(), "active in the horizon"),
            _ => continue,
        };
        let res = &outcome.scores[si];
        let tiers: Vec<Option<String>> = res.tier.iter().map(|t| t.map(|i| sc.tiers[i].value.clone())).collect();
        let order: Vec<String> = sc.tiers.iter().map(|r| r.value.clone()).collect();
        tests.push(backtest(&sc.name, what, &res.total, &tiers, &order, &label));
    }
    // ICP refinement (seed 8): the best and worst 20% by retention, revenue and
    // engagement; which attributes set the best apart.
    let engagement =
        outcome.scores.iter().find(|s| s.name == "engagement").map_or_else(|| vec![0.0; n], |s| s.total.clone());
    let measures = vec![
        user_out.iter().map(|o| f64::from(u8::from(o.retained))).collect::<Vec<_>>(),
        user_out.iter().map(|o| o.revenue).collect(),
        engagement,
    ];
    let (top, bottom) = best_and_worst(&measures, 0.2);
    // The attributes tested: the users table's (firmographic) and the behavioural
    // features at T.
    let mut cols: Vec<IcpColumn> = Vec::new();
    if let Some(u) = users.as_ref() {
        let attrs = super::frame::Attributes::new(Some(u));
        let skip = [cfg.columns.get("user_id"), cfg.columns.get("signup_at"), cfg.columns.get("account_id")];
        let names: Vec<String> = u
            .batches
            .first()
            .map(|b| b.schema().fields().iter().map(|f| f.name().clone()).collect())
            .unwrap_or_default();
        for name in names.iter().filter(|c| !skip.contains(&c.as_str())) {
            let kind = "firmographic".to_string();
            match attrs.column(name, &keys, None) {
                Some(Column::Str { dict, codes }) if dict.len() <= 50 => {
                    cols.push(IcpColumn::Categorical { name: name.clone(), kind, dict, codes })
                }
                Some(Column::Num(values)) => cols.push(IcpColumn::Numeric { name: name.clone(), kind, values }),
                _ => {}
            }
        }
    }
    for name in strata_features::feature_names().iter().filter(|f| strata_discover::prep::is_behavioural(f)) {
        cols.push(IcpColumn::Numeric { name: name.to_string(), kind: "behavioral".into(), values: num(&at, name) });
    }
    let icp = icp_attributes(&cols, &top, &bottom);
    // The same by account (seed 8: "top 20% vs bottom 20% of accounts"): retention is
    // the share of the account's users retained, revenue their sum, engagement their
    // mean; attributes are rolled up (most common value, mean).
    let (icp_accounts, account_groups, accounts) = match at.feature("account_id") {
        Some(Column::Str { dict, codes }) => {
            let groups: Vec<Vec<usize>> = groups_of(&codes, dict.len()).into_iter().filter(|g| !g.is_empty()).collect();
            let mean = |g: &Vec<usize>, v: &[f64]| g.iter().map(|u| v[*u]).sum::<f64>() / g.len() as f64;
            let acc_measures = vec![
                groups.iter().map(|g| mean(g, &measures[0])).collect::<Vec<_>>(),
                groups.iter().map(|g| g.iter().map(|u| measures[1][*u]).sum()).collect(),
                groups.iter().map(|g| mean(g, &measures[2])).collect(),
            ];
            let (atop, abottom) = best_and_worst(&acc_measures, 0.2);
            let mut acols: Vec<IcpColumn> = cols.iter().map(|c| roll_up(c, &groups)).collect();
            acols.push(IcpColumn::Numeric {
                name: "account_users".into(),
                kind: "firmographic".into(),
                values: groups.iter().map(|g| g.len() as f64).collect(),
            });
            (icp_attributes(&acols, &atop, &abottom), atop.len(), groups.len())
        }
        _ => (Vec::new(), 0, 0),
    };
    // Feature recommendations (seed 5.2): what power users use together, and for each
    // user the features they have not used whose users retain better.
    let (feature_names, sets) = match &at {
        Frame::Engine { out, .. } => (out.feature_names.clone(), out.features_used.to_vecs()),
        Frame::File { .. } => (Vec::new(), vec![Vec::new(); n]),
    };
    let power: Vec<usize> = (0..n)
        .filter(|&u| {
            outcome.families.iter().any(|f| {
                f.assigned[u].is_some_and(|i| program.segments[i].name.to_lowercase().starts_with("power user"))
            })
        })
        .collect();
    let affinity = strata_report::outcomes::affinity(&sets, &power, &feature_names);
    // The strongest pairs for the report: features most power users use, then the
    // highest affinity.
    let mut top_pairs: Vec<strata_report::outcomes::Affinity> =
        affinity.iter().filter(|x| x.users_both > 0).cloned().collect();
    top_pairs.sort_by(|a, b| {
        b.users_both.cmp(&a.users_both).then(b.affinity.total_cmp(&a.affinity)).then(a.feature_a.cmp(&b.feature_a))
    });
    top_pairs.truncate(20);
    let retained: Vec<bool> = user_out.iter().map(|o| o.retained).collect();
    let lifts = strata_report::outcomes::feature_lifts(&sets, &retained, &feature_names);
    let recs = strata_report::outcomes::recommend(&sets, &lifts, 2);
    let rec_path = a.out.join("recommendations.parquet");
    let aff_path = a.out.join("feature_affinity.parquet");
    let key_text = |k: &strata_io::UserKey| match k {
        strata_io::UserKey::Str(s) => s.to_string(),
        strata_io::UserKey::Int(i) => i.to_string(),
    };
    let lift_of = |f: u32| lifts[f as usize].as_ref();
    let rec_batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("user_id", DataType::Utf8, false),
            Field::new("rank", DataType::Int64, false),
            Field::new("feature", DataType::Utf8, false),
            Field::new("lift", DataType::Float64, false),
            Field::new("retention_with", DataType::Float64, false),
            Field::new("retention_without", DataType::Float64, false),
        ])),
        {
            let mut rank = Vec::with_capacity(recs.len());
            let mut last = usize::MAX;
            let mut r = 0i64;
            for (u, _) in &recs {
                r = if *u == last { r + 1 } else { 1 };
                last = *u;
                rank.push(r);
            }
            vec![
                Arc::new(StringArray::from(recs.iter().map(|(u, _)| key_text(&keys[*u])).collect::<Vec<_>>()))
                    as ArrayRef,
                Arc::new(Int64Array::from(rank)),
                Arc::new(StringArray::from(
                    recs.iter().map(|(_, f)| feature_names[*f as usize].clone()).collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from(
                    recs.iter().map(|(_, f)| lift_of(*f).map_or(f64::NAN, |l| l.lift)).collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from(
                    recs.iter().map(|(_, f)| lift_of(*f).map_or(f64::NAN, |l| l.retention_with)).collect::<Vec<_>>(),
                )),
                Arc::new(Float64Array::from(
                    recs.iter().map(|(_, f)| lift_of(*f).map_or(f64::NAN, |l| l.retention_without)).collect::<Vec<_>>(),
                )),
            ]
        },
    )
    .map_err(|e| Failure::Internal(e.to_string()))?;
    let aff_batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("feature_a", DataType::Utf8, false),
            Field::new("feature_b", DataType::Utf8, false),
            Field::new("power_users_with_a", DataType::Int64, false),
            Field::new("power_users_with_both", DataType::Int64, false),
            Field::new("affinity", DataType::Float64, false),
        ])),
        vec![
            Arc::new(StringArray::from(affinity.iter().map(|x| x.feature_a.clone()).collect::<Vec<_>>())) as ArrayRef,
            Arc::new(StringArray::from(affinity.iter().map(|x| x.feature_b.clone()).collect::<Vec<_>>())),
            Arc::new(Int64Array::from(affinity.iter().map(|x| x.users_a as i64).collect::<Vec<_>>())),
            Arc::new(Int64Array::from(affinity.iter().map(|x| x.users_both as i64).collect::<Vec<_>>())),
            Arc::new(Float64Array::from(affinity.iter().map(|x| x.affinity).collect::<Vec<_>>())),
        ],
    )
    .map_err(|e| Failure::Internal(e.to_string()))?;
    let report = serde_json::json!({
        "as_of": AsOf(t).to_rfc3339(),
        "horizon_days": horizon_days,
        "users": n,
        "rules": shown,
        "definitions": {
            "retention": "any event in (T, T + H]",
            "paid_conversion": "no revenue up to T, some in (T, T + H]; among users without revenue up to T",
            "upgrade": "more revenue in (T, T + H] than in (T - H, T] (all revenue up to T when the data starts after T - H)",
            "ltv_proxy": "monthly revenue in the horizon x min(1 / (1 - monthly retention), 36)",
        },
        "segments": groups,
        "backtests": tests,
        "power_users": power.len(),
        "feature_lifts": lifts.iter().flatten().collect::<Vec<_>>(),
        "recommendations": recs.len(),
        "icp": {
            "definition": "top and bottom 20% of users at T by the mean percentile rank of retention, revenue in the horizon and engagement score; attributes ranked by how far their lift is from 1",
            "top_users": top.len(),
            "bottom_users": bottom.len(),
            "attributes": icp,
            "accounts": accounts,
            "top_accounts": account_groups,
            "bottom_accounts": account_groups,
            "account_attributes": icp_accounts,
        },
        "insights": Insights {
            as_of: AsOf(t).to_rfc3339(),
            horizon_days,
            icp_users: icp.clone(),
            icp_accounts: icp_accounts.clone(),
            icp_account_groups: account_groups,
            feature_lifts: lifts.iter().flatten().cloned().collect(),
            affinity: top_pairs,
            power_users: power.len(),
            users_recommended: recs.iter().map(|(u, _)| *u).collect::<std::collections::BTreeSet<_>>().len(),
        },
    });
    let text = serde_json::to_string_pretty(&report).map_err(|e| Failure::Internal(e.to_string()))? + "\n";
    let opt = |v: Option<f64>| v;
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("family", DataType::Utf8, true),
            Field::new("segment", DataType::Utf8, false),
            Field::new("users", DataType::Int64, false),
            Field::new("retention", DataType::Float64, false),
            Field::new("paid_conversion", DataType::Float64, true),
            Field::new("avg_revenue", DataType::Float64, false),
            Field::new("ltv_proxy", DataType::Float64, false),
        ])),
        vec![
            Arc::new(StringArray::from(groups.iter().map(|g| g.family.clone()).collect::<Vec<_>>())) as ArrayRef,
            Arc::new(StringArray::from(groups.iter().map(|g| g.segment.clone()).collect::<Vec<_>>())),
            Arc::new(Int64Array::from(groups.iter().map(|g| g.users as i64).collect::<Vec<_>>())),
            Arc::new(Float64Array::from(groups.iter().map(|g| g.retention).collect::<Vec<_>>())),
            Arc::new(Float64Array::from(groups.iter().map(|g| opt(g.paid_conversion)).collect::<Vec<_>>())),
            Arc::new(Float64Array::from(groups.iter().map(|g| g.avg_revenue).collect::<Vec<_>>())),
            Arc::new(Float64Array::from(groups.iter().map(|g| g.ltv_proxy).collect::<Vec<_>>())),
        ],
    )
    .map_err(|e| Failure::Internal(e.to_string()))?;
    strata_io::write_parquet_atomic(&pq_path, &batch)?;
    strata_io::write_parquet_atomic(&rec_path, &rec_batch)?;
    strata_io::write_parquet_atomic(&aff_path, &aff_batch)?;
    strata_io::write_atomic(&json_path, |f| {
        use std::io::Write;
        f.write_all(text.as_bytes()).map_err(|e| e.to_string())
    })?;
    if !quiet {
        let all = &groups[0];
        eprintln!(
            "{n} users at {}: {:.1}% active in the next {horizon_days} days, mean revenue {:.2}",
            AsOf(t).to_rfc3339(),
            100.0 * all.retention,
            all.avg_revenue
        );
        for b in &tests {
            eprintln!("  {} vs {}: AUC {}", b.score, b.outcome, b.auc.map_or("n/a".into(), |v| format!("{v:.3}")));
        }
        eprintln!("wrote {} and {}", json_path.display(), pq_path.display());
    }
    Ok(())
}
