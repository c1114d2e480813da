//! The report: how discovered clusters map onto the segments and scores the rules
//! define, for one snapshot of users.
//!
//! [`build`] takes columns already in memory ([`Input`]) and returns a [`Report`]:
//! per segment family the comparison metrics of contract section 6 ([`compare`]), a
//! verdict for every cluster, learned rules for candidate new segments ([`learn`]),
//! misfiled users ([`Misfiled`]) and the seed's "Output Format" filled in from the data
//! ([`strategy`]). [`markdown`], [`html`] and `serde_json` render it. Nothing here reads
//! or writes files: the binary does that, atomically.

pub mod compare;
pub mod html;
pub mod learn;
pub mod markdown;
pub mod outcomes;
pub mod stats;
pub mod strategy;

use compare::{Coded, Scores};
use serde::Serialize;
use stats::Distribution;
use strata_discover::prep::InputColumn;

/// Why a report could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Columns of different lengths.
    #[error("column '{column}' has {got} rows, the users {want}")]
    Length {
        /// The column.
        column: String,
        /// Its rows.
        got: usize,
        /// The users.
        want: usize,
    },
    /// No users at all.
    #[error("there are no users to report on")]
    Empty,
    /// A chart could not be drawn.
    #[error("drawing chart '{0}': {1}")]
    Chart(String, String),
}

/// A segment family: one label per user (`None`: no segment).
#[derive(Debug, Clone, PartialEq)]
pub struct LabelColumn {
    /// The family's name as the rules spell it (`Behavioral`).
    pub name: String,
    /// One segment name per user.
    pub values: Vec<Option<String>>,
}

/// A Boolean segment outside any family.
#[derive(Debug, Clone, PartialEq)]
pub struct FlagColumn {
    /// The segment's name as the rules spell it (`Power Cohort`).
    pub name: String,
    /// Membership per user.
    pub values: Vec<bool>,
}

/// What the report is built from. All columns have one value per user, in the order of
/// `user_ids`.
#[derive(Debug, Clone, Default)]
pub struct Input {
    /// The users.
    pub user_ids: Vec<String>,
    /// Behavioural features in their own units: profiles, learned rules, distances.
    pub features: Vec<InputColumn>,
    /// Segment families.
    pub families: Vec<LabelColumn>,
    /// Segments outside any family.
    pub flags: Vec<FlagColumn>,
    /// Score totals, named after the score (`engagement`).
    pub scores: Vec<InputColumn>,
    /// Component points, named `<score>_<component>_points` as `strata segment` writes.
    pub score_parts: Vec<InputColumn>,
    /// The cluster of each user (`None`: noise).
    pub clusters: Vec<Option<usize>>,
    /// The rules that made the segments.
    pub rules: strategy::RuleBook,
    /// Goals, sources and known gaps for the strategy section.
    pub context: strategy::Context,
    /// Planted personas, when the data is synthetic (`strata generate`).
    pub personas: Option<LabelColumn>,
    /// Seed for the learned rules' training sample.
    pub seed: u64,
    /// Measured outcomes per segment (`strata outcomes`), for the dashboard.
    pub outcomes: Vec<outcomes::GroupOutcome>,
    /// Transition matrices between two snapshots (`strata snapshots`).
    pub transitions: Vec<Transitions>,
    /// ICP refinement and feature recommendations (`strata outcomes`).
    pub insights: Option<outcomes::Insights>,
}

/// One family's movement between two snapshots.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transitions {
    /// The family.
    pub family: String,
    /// The earlier snapshot.
    pub from_as_of: String,
    /// The later snapshot.
    pub to_as_of: String,
    /// Row states (including `new`).
    pub rows: Vec<String>,
    /// Column states (including `churned`).
    pub cols: Vec<String>,
    /// Users moving from row to column.
    pub counts: Vec<Vec<u64>>,
}

/// A cluster's verdict within one family.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// The family.
    pub family: String,
    /// The segment holding most of the cluster's users.
    pub dominant: String,
    /// Its share of the cluster.
    pub share: f64,
    /// The share of that segment's users that fall in this cluster.
    pub coverage: f64,
    /// `confirms`, `splits`, `mixes` or `none`.
    pub kind: String,
    /// A clean cluster holding less of the segment than another cluster does.
    pub minor: bool,
    /// The verdict in words.
    pub text: String,
}

/// One cluster.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterReport {
    /// The cluster number (`None`: noise).
    pub cluster: Option<usize>,
    /// `cluster 3` or `noise`.
    pub label: String,
    /// The generated plain-language name.
    pub name: String,
    /// Users.
    pub size: usize,
    /// Share of all users.
    pub share: f64,
    /// The features that most set it apart (z-score against everyone).
    pub distinguishing: Vec<(String, f64)>,
    /// Score distributions in the cluster.
    pub scores: Vec<(String, Distribution)>,
    /// One verdict per family.
    pub verdicts: Vec<Verdict>,
    /// No family has it as (the main part of) a segment: a candidate new segment.
    pub candidate: bool,
    /// For a candidate: the rule learned for it.
    pub learned_rule: Option<learn::LearnedRule>,
    /// With planted personas: the persona holding most of the cluster, and its share.
    pub persona: Option<(String, f64)>,
}

/// One segment family against the clusters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mapping {
    /// The family.
    pub family: String,
    /// ARI, NMI, V-measure, homogeneity, completeness and purity (flattened into the
    /// entry in report.json, as contract section 6 pins).
    #[serde(flatten)]
    pub scores: Scores,
    /// Row labels of the contingency table.
    pub clusters: Vec<String>,
    /// Column labels.
    pub segments: Vec<String>,
    /// Rows: clusters; columns: segments.
    pub contingency: Vec<Vec<u64>>,
    /// Purity of each cluster (its largest segment's share).
    pub cluster_purity: Vec<f64>,
    /// One-to-one (Hungarian) matching: (cluster, segment, users shared).
    pub one_to_one: Vec<(String, String, u64)>,
    /// Many-to-one (majority) matching: (cluster, segment).
    pub many_to_one: Vec<(String, String)>,
}

/// How well the best single cluster reproduces a defined segment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reproduction {
    /// The family (`None` for a segment outside any family).
    pub family: Option<String>,
    /// The segment.
    pub segment: String,
    /// Its users.
    pub size: usize,
    /// The cluster with the best F1 against it.
    pub best_cluster: String,
    /// Share of the cluster's users in the segment.
    pub precision: f64,
    /// Share of the segment's users in the cluster.
    pub recall: f64,
    /// Harmonic mean.
    pub f1: f64,
}

/// A user whose segment disagrees with the segment their cluster confirms.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Misfiled {
    /// The user.
    pub user_id: String,
    /// The family.
    pub family: String,
    /// The segment the rules gave.
    pub segment: String,
    /// The user's cluster.
    pub cluster: Option<usize>,
    /// The segment that cluster confirms.
    pub cluster_segment: String,
    /// Distance to the cluster's centre in z-scored features: smaller is deeper inside.
    pub distance: f64,
    /// 1 = deepest inside, within the family.
    pub rank: usize,
}

/// Planted personas against the clustering and each family.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PersonaCheck {
    /// ARI and friends of the clusters against the personas.
    pub clusters: Scores,
    /// The same for each family.
    pub families: Vec<(String, Scores)>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Users.
    pub users: usize,
    /// Clusters (noise not counted).
    pub cluster_count: usize,
    /// Users in noise.
    pub noise: usize,
    /// Contract section 6: one entry per family.
    pub mapping: Vec<Mapping>,
    /// Every cluster, largest first.
    pub clusters: Vec<ClusterReport>,
    /// Every defined segment against its best cluster.
    pub reproduction: Vec<Reproduction>,
    /// Users per family whose segment disagrees with their cluster's (not in the JSON
    /// when large; see `misfiled_count`).
    #[serde(skip)]
    pub misfiled: Vec<Misfiled>,
    /// Misfiled users per family.
    pub misfiled_count: Vec<(String, usize)>,
    /// The seed's "Output Format", filled in.
    pub strategy: strategy::Strategy,
    /// With planted personas.
    pub personas: Option<PersonaCheck>,
    /// Three findings in plain words.
    pub headlines: Vec<String>,
    /// Movement between snapshots, when given.
    pub transitions: Vec<Transitions>,
    /// ICP refinement and feature recommendations, when given.
    pub insights: Option<outcomes::Insights>,
    /// The z-score of each distinguishing feature per cluster (for the heatmap):
    /// features, then one row per cluster in `clusters` order.
    pub heatmap: (Vec<String>, Vec<Vec<f64>>),
}

/// A cluster's largest segment must hold at least this share for the cluster to
/// confirm (or split) it.
pub const CONFIRM_SHARE: f64 = 0.6;
/// Two clusters split a segment when each confirms it and each holds at least this
/// share of its users.
pub const SPLIT_COVERAGE: f64 = 0.2;
/// A cluster mixes two segments when its two largest hold at least this share.
pub const MIX_SHARE: f64 = 0.7;

fn check_len(name: &str, got: usize, want: usize) -> Result<(), ReportError> {
    if got == want {
        Ok(())
    } else {
        Err(ReportError::Length { column: name.to_string(), got, want })
    }
}

fn is_unassigned(name: &str) -> bool {
    name == compare::UNASSIGNED || name == "Unclassified"
}

/// The verdicts of every cluster (rows of `t`) for one family.
///
/// A cluster whose largest segment X (a named one) holds at least [`CONFIRM_SHARE`] of
/// it *confirms* X when it is the cluster holding the most of X; when other clusters
/// that also confirm X hold at least [`SPLIT_COVERAGE`] of X each, it *splits* X with
/// them. A clean cluster that holds less of X than another cluster does is a distinct
/// part of X: it *splits* X too, as its minor part (`minor`). A cluster whose two
/// largest named segments hold [`MIX_SHARE`] of it *mixes* them; anything else matches
/// no segment.
fn verdicts(family: &str, rows: &Coded, cols: &Coded, t: &[Vec<u64>]) -> Vec<Verdict> {
    let col_sums: Vec<u64> = (0..cols.names.len()).map(|j| t.iter().map(|r| r[j]).sum()).collect();
    let dom = compare::majority(t);
    let size = |i: usize| t[i].iter().sum::<u64>().max(1) as f64;
    let clean = |i: usize| {
        let j = dom[i];
        !is_unassigned(&cols.names[j]) && t[i][j] as f64 / size(i) >= CONFIRM_SHARE
    };
    // The cluster holding the most of each segment (lowest index on ties).
    let holder: Vec<usize> = (0..cols.names.len())
        .map(|j| (0..t.len()).fold(0, |best, i| if t[i][j] > t[best][j] { i } else { best }))
        .collect();
    (0..t.len())
        .map(|i| {
            let j = dom[i];
            let seg = &cols.names[j];
            let share = t[i][j] as f64 / size(i);
            let coverage = t[i][j] as f64 / col_sums[j].max(1) as f64;
            let mut minor = false;
            let (kind, text) = if clean(i) && holder[j] != i {
                minor = true;
                (
                    "splits",
                    format!(
                        "splits segment {seg} (with {}): a distinct {:.0}% of it",
                        rows.names[holder[j]],
                        100.0 * coverage
                    ),
                )
            } else if clean(i) {
                let others: Vec<&str> = (0..t.len())
                    .filter(|&o| {
                        o != i
                            && dom[o] == j
                            && clean(o)
                            && t[o][j] as f64 / col_sums[j].max(1) as f64 >= SPLIT_COVERAGE
                    })
                    .map(|o| rows.names[o].as_str())
                    .collect();
                if others.is_empty() {
                    ("confirms", format!("confirms segment {seg}"))
                } else {
                    ("splits", format!("splits segment {seg} (with {})", others.join(", ")))
                }
            } else {
                let mut order: Vec<usize> = (0..cols.names.len()).collect();
                order.sort_by(|a, b| t[i][*b].cmp(&t[i][*a]).then(a.cmp(b)));
                let two = order.iter().take(2).map(|&o| t[i][o]).sum::<u64>() as f64 / size(i);
                let named = order.iter().take(2).all(|&o| !is_unassigned(&cols.names[o]));
                if order.len() >= 2 && two >= MIX_SHARE && named && t[i][order[1]] > 0 {
                    ("mixes", format!("mixes {} and {}", cols.names[order[0]], cols.names[order[1]]))
                } else {
                    ("none", "matches no segment".to_string())
                }
            };
            Verdict {
                family: family.to_string(),
                dominant: seg.clone(),
                share,
                coverage,
                kind: kind.to_string(),
                minor,
                text,
            }
        })
        .collect()
}

/// A cluster is a candidate new segment when no family has it as (the main part of) a
/// segment, and the family that agrees best with the clusters either has no segment for
/// it or holds it as a distinct minor part of a larger segment.
fn is_candidate(verdicts: &[Verdict], primary: usize) -> bool {
    let describes = |v: &Verdict| v.kind == "confirms" || (v.kind == "splits" && !v.minor);
    let Some(p) = verdicts.get(primary) else { return false };
    !verdicts.iter().any(describes) && (p.kind == "none" || p.minor)
}

fn mapping(family: &str, rows: &Coded, cols: &Coded) -> (Mapping, Vec<Vec<u64>>) {
    let t = compare::table(rows, cols);
    let s = compare::scores(&t);
    let one = compare::hungarian(&t)
        .into_iter()
        .filter(|(i, j)| t[*i][*j] > 0)
        .map(|(i, j)| (rows.names[i].clone(), cols.names[j].clone(), t[i][j]))
        .collect();
    let many = compare::majority(&t)
        .into_iter()
        .enumerate()
        .map(|(i, j)| (rows.names[i].clone(), cols.names[j].clone()))
        .collect();
    let cluster_purity = t
        .iter()
        .map(|r| {
            let n: u64 = r.iter().sum();
            if n == 0 {
                0.0
            } else {
                r.iter().copied().max().unwrap_or(0) as f64 / n as f64
            }
        })
        .collect();
    let m = Mapping {
        family: family.to_string(),
        scores: s,
        clusters: rows.names.clone(),
        segments: cols.names.clone(),
        contingency: t.clone(),
        cluster_purity,
        one_to_one: one,
        many_to_one: many,
    };
    (m, t)
}

/// Z-scored features (nulls at the mean) as rows of a dense matrix.
fn zscored(features: &[InputColumn], n: usize) -> Vec<Vec<f64>> {
    let stats: Vec<(f64, f64)> = features
        .iter()
        .map(|c| {
            let v: Vec<f64> = c.values.iter().flatten().copied().filter(|x| x.is_finite()).collect();
            stats::mean_sd(&v)
        })
        .collect();
    (0..n)
        .map(|r| {
            features
                .iter()
                .zip(&stats)
                .map(|(c, (m, sd))| match c.values[r] {
                    Some(x) if x.is_finite() && *sd > 0.0 => (x - m) / sd,
                    _ => 0.0,
                })
                .collect()
        })
        .collect()
}

/// Builds the report.
pub fn build(input: &Input) -> Result<Report, ReportError> {
    let n = input.user_ids.len();
    if n == 0 {
        return Err(ReportError::Empty);
    }
    check_len("cluster", input.clusters.len(), n)?;
    for c in input.features.iter().chain(&input.scores).chain(&input.score_parts) {
        check_len(&c.name, c.values.len(), n)?;
    }
    for f in &input.families {
        check_len(&f.name, f.values.len(), n)?;
    }
    for f in &input.flags {
        check_len(&f.name, f.values.len(), n)?;
    }
    let rows = Coded::from_clusters(&input.clusters);
    let mut maps = Vec::new();
    let mut family_verdicts = Vec::new();
    let mut family_coded = Vec::new();
    for f in &input.families {
        let cols = Coded::from_strings(&f.values, compare::UNASSIGNED);
        let (m, t) = mapping(&f.name, &rows, &cols);
        family_verdicts.push(verdicts(&f.name, &rows, &cols, &t));
        maps.push(m);
        family_coded.push(cols);
    }
    // The family that agrees best with the clusters.
    let primary =
        (0..maps.len()).max_by(|a, b| maps[*a].scores.nmi.total_cmp(&maps[*b].scores.nmi).then(b.cmp(a))).unwrap_or(0);
    let profiles = strata_discover::profile::profiles(&input.features, &input.clusters);
    let persona_coded = input.personas.as_ref().map(|p| Coded::from_strings(&p.values, compare::UNASSIGNED));
    let members_of = |code: usize| -> Vec<usize> { (0..n).filter(|&u| rows.codes[u] == code).collect() };
    let mut clusters: Vec<ClusterReport> = Vec::new();
    for p in &profiles {
        let code = match p.cluster {
            Some(c) => rows.names.iter().position(|x| *x == format!("cluster {c}")).unwrap_or(0),
            None => rows.names.len() - 1,
        };
        let users = members_of(code);
        let verdicts: Vec<Verdict> = family_verdicts.iter().map(|v| v[code].clone()).collect();
        let candidate = p.cluster.is_some() && is_candidate(&verdicts, primary);
        let mut distinguishing: Vec<(String, f64)> = p
            .distinguishing
            .iter()
            .filter_map(|f| p.features.iter().find(|s| &s.feature == f).map(|s| (f.clone(), s.z)))
            .collect();
        distinguishing.truncate(5);
        let scores = input
            .scores
            .iter()
            .map(|s| {
                let v: Vec<f64> = users.iter().filter_map(|&u| s.values[u]).collect();
                (s.name.clone(), Distribution::of(&v))
            })
            .collect();
        let persona = persona_coded.as_ref().map(|pc| {
            let mut counts = vec![0usize; pc.names.len()];
            for &u in &users {
                counts[pc.codes[u]] += 1;
            }
            let best = (0..counts.len()).max_by(|a, b| counts[*a].cmp(&counts[*b]).then(b.cmp(a))).unwrap_or(0);
            (pc.names[best].clone(), counts[best] as f64 / users.len().max(1) as f64)
        });
        clusters.push(ClusterReport {
            cluster: p.cluster,
            label: rows.names[code].clone(),
            name: p.name.clone(),
            size: p.size,
            share: p.share,
            distinguishing,
            scores,
            verdicts,
            candidate,
            learned_rule: None,
            persona,
        });
    }
    // Learned rules for the candidates.
    for c in clusters.iter_mut().filter(|c| c.candidate) {
        let Some(id) = c.cluster else { continue };
        let target: Vec<bool> = input.clusters.iter().map(|l| *l == Some(id)).collect();
        c.learned_rule =
            learn::learn(&input.features, &target, &format!("Candidate: {}", c.name), &c.label, input.seed);
    }
    // Every defined segment against its best cluster.
    let mut reproduction = Vec::new();
    let mut add_repro = |family: Option<&str>, segment: &str, member: &dyn Fn(usize) -> bool| {
        let in_seg: Vec<usize> = (0..n).filter(|&u| member(u)).collect();
        if in_seg.is_empty() {
            return;
        }
        let mut per = vec![0u64; rows.names.len()];
        for &u in &in_seg {
            per[rows.codes[u]] += 1;
        }
        let sizes = rows.codes.iter().fold(vec![0u64; rows.names.len()], |mut acc, c| {
            acc[*c] += 1;
            acc
        });
        let mut best = (0usize, 0.0f64, 0.0f64, -1.0f64);
        for (k, shared) in per.iter().enumerate() {
            let precision = *shared as f64 / sizes[k].max(1) as f64;
            let recall = *shared as f64 / in_seg.len() as f64;
            let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
            if f1 > best.3 {
                best = (k, precision, recall, f1);
            }
        }
        reproduction.push(Reproduction {
            family: family.map(str::to_string),
            segment: segment.to_string(),
            size: in_seg.len(),
            best_cluster: rows.names[best.0].clone(),
            precision: best.1,
            recall: best.2,
            f1: best.3,
        });
    };
    for (f, coded) in input.families.iter().zip(&family_coded) {
        for (j, seg) in coded.names.iter().enumerate() {
            if is_unassigned(seg) {
                continue;
            }
            add_repro(Some(&f.name), seg, &|u| coded.codes[u] == j);
        }
    }
    for f in &input.flags {
        add_repro(None, &f.name, &|u| f.values[u]);
    }
    // Misfiled users: in a cluster that confirms (or splits) a segment, filed elsewhere.
    let z = zscored(&input.features, n);
    let centres: Vec<Vec<f64>> = (0..rows.names.len())
        .map(|k| {
            let users = members_of(k);
            let d = input.features.len();
            let mut c = vec![0.0; d];
            for &u in &users {
                for (a, b) in c.iter_mut().zip(&z[u]) {
                    *a += b;
                }
            }
            c.iter_mut().for_each(|a| *a /= users.len().max(1) as f64);
            c
        })
        .collect();
    let mut misfiled = Vec::new();
    let mut misfiled_count = Vec::new();
    for ((f, coded), verdicts) in input.families.iter().zip(&family_coded).zip(&family_verdicts) {
        let mut rows_f: Vec<Misfiled> = Vec::new();
        for (u, zu) in z.iter().enumerate() {
            let k = rows.codes[u];
            let v = &verdicts[k];
            if input.clusters[u].is_none() || (v.kind != "confirms" && v.kind != "splits") {
                continue;
            }
            let seg = &coded.names[coded.codes[u]];
            if *seg == v.dominant {
                continue;
            }
            let distance = zu.iter().zip(&centres[k]).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt();
            rows_f.push(Misfiled {
                user_id: input.user_ids[u].clone(),
                family: f.name.clone(),
                segment: seg.clone(),
                cluster: input.clusters[u],
                cluster_segment: v.dominant.clone(),
                distance,
                rank: 0,
            });
        }
        rows_f.sort_by(|a, b| a.distance.total_cmp(&b.distance).then(a.user_id.cmp(&b.user_id)));
        for (i, r) in rows_f.iter_mut().enumerate() {
            r.rank = i + 1;
        }
        misfiled_count.push((f.name.clone(), rows_f.len()));
        misfiled.extend(rows_f);
    }
    let personas = persona_coded.as_ref().map(|pc| PersonaCheck {
        clusters: compare::scores(&compare::table(&rows, pc)),
        families: family_coded
            .iter()
            .zip(&input.families)
            .map(|(c, f)| (f.name.clone(), compare::scores(&compare::table(c, pc))))
            .collect(),
    });
    // Heatmap: the union of every cluster's distinguishing features.
    let mut hm_features: Vec<String> = Vec::new();
    for p in &profiles {
        for f in p.distinguishing.iter().take(4) {
            if !hm_features.contains(f) {
                hm_features.push(f.clone());
            }
        }
    }
    let hm_rows: Vec<Vec<f64>> = profiles
        .iter()
        .map(|p| hm_features.iter().map(|f| p.features.iter().find(|s| &s.feature == f).map_or(0.0, |s| s.z)).collect())
        .collect();
    let strategy = strategy::build(input, &family_coded);
    let noise = input.clusters.iter().filter(|c| c.is_none()).count();
    let cluster_count = rows.names.len() - usize::from(noise > 0);
    let mut report = Report {
        users: n,
        cluster_count,
        noise,
        mapping: maps,
        clusters,
        reproduction,
        misfiled,
        misfiled_count,
        strategy,
        personas,
        headlines: Vec::new(),
        transitions: input.transitions.clone(),
        insights: input.insights.clone(),
        heatmap: (hm_features, hm_rows),
    };
    report.headlines = headlines(&report);
    Ok(report)
}

fn pct(x: f64) -> String {
    format!("{:.0}%", 100.0 * x)
}

/// The header and rows of the families' agreement table, as both renderers show it.
pub fn mapping_table(r: &Report) -> (Vec<String>, Vec<Vec<String>>) {
    let head =
        ["family", "ARI", "NMI", "V-measure", "homogeneity", "completeness", "purity"].map(String::from).to_vec();
    let rows = r
        .mapping
        .iter()
        .map(|m| {
            let s = &m.scores;
            std::iter::once(m.family.clone())
                .chain(
                    [s.ari, s.nmi, s.v_measure, s.homogeneity, s.completeness, s.purity]
                        .iter()
                        .map(|v| format!("{v:.3}")),
                )
                .collect()
        })
        .collect();
    (head, rows)
}

/// The header and rows of the segment-reproduction table, as both renderers show it.
pub fn reproduction_table(r: &Report) -> (Vec<String>, Vec<Vec<String>>) {
    let head = ["family", "segment", "users", "best cluster", "precision", "recall", "F1"].map(String::from).to_vec();
    let rows = r
        .reproduction
        .iter()
        .map(|s| {
            vec![
                s.family.clone().unwrap_or_else(|| "(flag)".into()),
                s.segment.clone(),
                s.size.to_string(),
                s.best_cluster.clone(),
                format!("{:.2}", s.precision),
                format!("{:.2}", s.recall),
                format!("{:.2}", s.f1),
            ]
        })
        .collect();
    (head, rows)
}

/// Three findings in plain words: how far the clusters agree with the best-matching
/// family, the largest candidate new segment, and the worst-reproduced segment or the
/// misfiled users.
fn headlines(r: &Report) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(best) =
        r.mapping.iter().max_by(|a, b| a.scores.nmi.total_cmp(&b.scores.nmi).then(b.family.cmp(&a.family)))
    {
        let confirmed: Vec<String> = r
            .clusters
            .iter()
            .filter_map(|c| c.verdicts.iter().find(|v| v.family == best.family && v.kind == "confirms"))
            .map(|v| v.dominant.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        out.push(format!(
            "The {} clusters agree best with the {} segments (NMI {:.2}, ARI {:.2}){}.",
            r.cluster_count,
            best.family,
            best.scores.nmi,
            best.scores.ari,
            if confirmed.is_empty() {
                String::from("; no cluster confirms one of them on its own")
            } else {
                format!("; the data confirms {}", confirmed.join(", "))
            }
        ));
    }
    let candidates: Vec<&ClusterReport> = r.clusters.iter().filter(|c| c.candidate).collect();
    match candidates.first() {
        Some(c) => {
            let rule = c.learned_rule.as_ref().map_or(String::new(), |l| {
                format!("; a learned rule finds it with precision {:.2} and recall {:.2}", l.precision, l.recall)
            });
            out.push(format!(
                "{} candidate new segment{}: the largest, {} ({} users, {}), is \"{}\" and no defined segment holds it{}.",
                candidates.len(),
                if candidates.len() == 1 { "" } else { "s" },
                c.label,
                c.size,
                pct(c.share),
                c.name,
                rule
            ));
        }
        None => out.push("Every cluster maps onto a defined segment: the data shows no missing segment.".into()),
    }
    let worst = r.reproduction.iter().filter(|s| s.size >= 100).min_by(|a, b| a.f1.total_cmp(&b.f1));
    let misfiled: usize = r.misfiled_count.iter().map(|(_, c)| c).sum();
    match worst {
        Some(w) if w.f1 < 0.5 => out.push(format!(
            "Segment {} ({} users) is not a natural group: the best single cluster ({}) reproduces it with F1 {:.2}; {} users across families are filed against their cluster's segment (misfiled.parquet).",
            w.segment, w.size, w.best_cluster, w.f1, misfiled
        )),
        _ => out.push(format!(
            "{misfiled} users across families are filed in a different segment than the one their cluster confirms (misfiled.parquet)."
        )),
    }
    out
}
