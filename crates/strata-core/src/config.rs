//! `strata.toml`: column names, signal names, the feature catalog, sessionization
//! and activation milestones. Every key is optional; an empty file is the default.
//!
//! ```toml
//! [columns]            # contract column name = the name in your data
//! user_id = "distinct_id"
//! timestamp = "event_time"
//! event = "event_type"
//!
//! [signals]            # signal key = event name, or list of event names
//! pricing_page_view = ["Pricing Viewed", "pricing_page_viewed"]
//!
//! [features]
//! catalog = ["dashboards", "reports"]   # default: every feature seen in the data
//! session_gap_minutes = 30
//!
//! [[activation.milestones]]
//! event = "project_created"
//! points = 20
//! ```

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A problem with a config file, with the line and column where toml found it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Io {
        /// The config file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or has a key or value strata does not know.
    #[error("{path}:{line}:{col}: {message}")]
    Parse {
        /// The config file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
        /// What is wrong.
        message: String,
    },
    /// A value parses but makes no sense (an empty list, a zero gap).
    #[error("{path}: {message}")]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
}

/// The signal keys of contract section 1: events that mean something to the scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Signal {
    /// A team member was invited.
    InviteSent,
    /// The user created content (a document, a project, a board).
    ContentCreated,
    /// The user shared content.
    ContentShared,
    /// The user viewed the pricing page.
    PricingPageView,
    /// The user clicked a feature their plan does not include.
    LockedFeatureClick,
    /// The user opened a support ticket.
    SupportTicket,
    /// A payment failed.
    PaymentFailed,
    /// The user moved to a cheaper plan.
    PlanDowngraded,
    /// The user viewed the cancellation page.
    CancelPageView,
    /// The user contacted sales or asked for a quote.
    SalesContact,
}

impl Signal {
    /// Every signal, in the contract's order.
    pub const ALL: [Signal; 10] = [
        Signal::InviteSent,
        Signal::ContentCreated,
        Signal::ContentShared,
        Signal::PricingPageView,
        Signal::LockedFeatureClick,
        Signal::SupportTicket,
        Signal::PaymentFailed,
        Signal::PlanDowngraded,
        Signal::CancelPageView,
        Signal::SalesContact,
    ];

    /// The key as written in config files and rules.
    pub fn key(self) -> &'static str {
        match self {
            Signal::InviteSent => "invite_sent",
            Signal::ContentCreated => "content_created",
            Signal::ContentShared => "content_shared",
            Signal::PricingPageView => "pricing_page_view",
            Signal::LockedFeatureClick => "locked_feature_click",
            Signal::SupportTicket => "support_ticket",
            Signal::PaymentFailed => "payment_failed",
            Signal::PlanDowngraded => "plan_downgraded",
            Signal::CancelPageView => "cancel_page_view",
            Signal::SalesContact => "sales_contact",
        }
    }

    /// The signal with this key, if it is one.
    pub fn from_key(key: &str) -> Option<Signal> {
        Signal::ALL.into_iter().find(|s| s.key() == key)
    }
}

/// Contract column name -> the column name in the data. Unmapped names are literal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnMap {
    map: BTreeMap<String, String>,
}

impl ColumnMap {
    /// Column names the contract knows, for the events and users tables.
    pub const KNOWN: [&'static str; 17] = [
        "user_id",
        "timestamp",
        "event",
        "session_id",
        "feature",
        "account_id",
        "revenue",
        "signup_at",
        "plan",
        "role",
        "industry",
        "country",
        "company_size",
        "seats",
        "usage_pct",
        "email",
        "name",
    ];

    /// The name in the data for a contract column name.
    pub fn get<'a>(&'a self, contract_name: &'a str) -> &'a str {
        self.map.get(contract_name).map_or(contract_name, String::as_str)
    }

    /// Maps a contract column to the data's name.
    pub fn set(&mut self, contract_name: &str, data_name: &str) {
        self.map.insert(contract_name.to_string(), data_name.to_string());
    }
}

/// One activation milestone: reaching `event` at least once earns `points`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Milestone {
    /// The event name (or a signal key) that marks the milestone.
    pub event: String,
    /// Points earned, 0-100.
    pub points: f64,
}

/// The parsed `strata.toml`.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Column names.
    pub columns: ColumnMap,
    /// Signal key -> event names; a key not present means the event of that very name.
    pub signals: BTreeMap<Signal, Vec<String>>,
    /// The feature catalog; `None` means every feature seen in the data.
    pub catalog: Option<Vec<String>>,
    /// A gap longer than this, in seconds, starts a new derived session.
    pub session_gap_secs: i64,
    /// Activation milestones.
    pub milestones: Vec<Milestone>,
    /// `[report]`: the segmentation goal and key questions the report states.
    pub report: ReportConfig,
}

/// `[report]` in strata.toml.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    /// The primary goal: what decisions the segmentation informs.
    pub goal: Option<String>,
    /// Key questions to answer.
    #[serde(default)]
    pub questions: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            columns: ColumnMap::default(),
            signals: BTreeMap::new(),
            catalog: None,
            session_gap_secs: 30 * 60,
            milestones: default_milestones(),
            report: ReportConfig::default(),
        }
    }
}

/// The seed's section 4.2 example milestones, under the event names `strata generate` uses.
pub fn default_milestones() -> Vec<Milestone> {
    [
        ("project_created", 20.0),
        ("task_added", 15.0),
        ("invite_sent", 25.0),
        ("task_completed", 15.0),
        ("template_used", 10.0),
        ("integration_connected", 15.0),
    ]
    .into_iter()
    .map(|(e, p)| Milestone { event: e.to_string(), points: p })
    .collect()
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    columns: BTreeMap<String, String>,
    #[serde(default)]
    signals: BTreeMap<String, OneOrMany>,
    #[serde(default)]
    features: RawFeatures,
    #[serde(default)]
    activation: Option<RawActivation>,
    #[serde(default)]
    report: ReportConfig,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFeatures {
    catalog: Option<Vec<String>>,
    session_gap_minutes: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawActivation {
    milestones: Vec<Milestone>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl Config {
    /// Reads and validates a config file.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.to_path_buf(), source })?;
        Config::from_str_at(&text, path)
    }

    /// Parses config text; `path` is only used in error messages.
    pub fn from_str_at(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let (line, col) = e.span().map_or((1, 1), |s| line_col(text, s.start));
            ConfigError::Parse { path: path.to_path_buf(), line, col, message: e.message().trim().to_string() }
        })?;
        let invalid = |message: String| ConfigError::Invalid { path: path.to_path_buf(), message };
        let mut cfg = Config::default();
        for (k, v) in raw.columns {
            if !ColumnMap::KNOWN.contains(&k.as_str()) {
                return Err(invalid(format!(
                    "[columns] has unknown key '{k}'; the keys are the contract's column names: {}",
                    ColumnMap::KNOWN.join(", ")
                )));
            }
            if v.is_empty() {
                return Err(invalid(format!("[columns] {k} maps to an empty column name")));
            }
            cfg.columns.set(&k, &v);
        }
        for (k, v) in raw.signals {
            let sig = Signal::from_key(&k).ok_or_else(|| {
                let keys: Vec<_> = Signal::ALL.iter().map(|s| s.key()).collect();
                invalid(format!("[signals] has unknown key '{k}'; signal keys are: {}", keys.join(", ")))
            })?;
            let names = match v {
                OneOrMany::One(s) => vec![s],
                OneOrMany::Many(v) => v,
            };
            if names.is_empty() {
                return Err(invalid(format!("[signals] {k} maps to an empty list of event names")));
            }
            cfg.signals.insert(sig, names);
        }
        cfg.report = raw.report;
        if let Some(cat) = raw.features.catalog {
            let mut cat = cat;
            cat.sort();
            cat.dedup();
            cfg.catalog = Some(cat);
        }
        if let Some(m) = raw.features.session_gap_minutes {
            if !(m.is_finite() && m > 0.0) {
                return Err(invalid(format!(
                    "[features] session_gap_minutes must be a positive number of minutes, not {m}"
                )));
            }
            cfg.session_gap_secs = (m * 60.0).round() as i64;
        }
        if let Some(a) = raw.activation {
            for m in &a.milestones {
                if !(m.points.is_finite() && (0.0..=100.0).contains(&m.points)) {
                    return Err(invalid(format!(
                        "activation milestone '{}' has {} points; points must be between 0 and 100",
                        m.event, m.points
                    )));
                }
            }
            cfg.milestones = a.milestones;
        }
        Ok(cfg)
    }

    /// The event names that count as `signal` in the data.
    pub fn signal_events(&self, signal: Signal) -> Vec<String> {
        self.signals.get(&signal).cloned().unwrap_or_else(|| vec![signal.key().to_string()])
    }

    /// The event names that `events.<name>(...)` counts: a signal key's mapped names,
    /// or the literal event name.
    pub fn event_names_for(&self, name: &str) -> Vec<String> {
        match Signal::from_key(name) {
            Some(s) => self.signal_events(s),
            None => vec![name.to_string()],
        }
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_config() {
        let cfg = Config::from_str_at(
            r#"
[columns]
user_id = "distinct_id"
event = "event_type"

[signals]
pricing_page_view = ["Pricing Viewed", "pricing_page_viewed"]
invite_sent = "Invite Sent"

[features]
catalog = ["b", "a", "a"]
session_gap_minutes = 45

[[activation.milestones]]
event = "signup_done"
points = 40
"#,
            Path::new("strata.toml"),
        )
        .unwrap();
        assert_eq!(cfg.columns.get("user_id"), "distinct_id");
        assert_eq!(cfg.columns.get("timestamp"), "timestamp");
        assert_eq!(cfg.signal_events(Signal::PricingPageView), vec!["Pricing Viewed", "pricing_page_viewed"]);
        assert_eq!(cfg.signal_events(Signal::InviteSent), vec!["Invite Sent"]);
        assert_eq!(cfg.signal_events(Signal::SupportTicket), vec!["support_ticket"]);
        assert_eq!(cfg.event_names_for("signup"), vec!["signup"]);
        assert_eq!(cfg.catalog, Some(vec!["a".into(), "b".into()]));
        assert_eq!(cfg.session_gap_secs, 2700);
        assert_eq!(cfg.milestones.len(), 1);
    }

    #[test]
    fn errors_name_line_and_column() {
        let err = Config::from_str_at("[columns]\nuser_id = 3\n", Path::new("x.toml")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("x.toml:2:"), "{msg}");
        let err = Config::from_str_at("[colums]\n", Path::new("x.toml")).unwrap_err();
        assert!(err.to_string().contains("colums"), "{err}");
        let err = Config::from_str_at("[signals]\npricing = \"x\"\n", Path::new("x.toml")).unwrap_err();
        assert!(err.to_string().contains("unknown key 'pricing'"), "{err}");
        let err = Config::from_str_at("[features]\nsession_gap_minutes = 0\n", Path::new("x.toml")).unwrap_err();
        assert!(err.to_string().contains("positive"), "{err}");
    }
}
