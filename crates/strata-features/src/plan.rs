//! The run-time aggregate plan: which windowed aggregates one pass must compute.
//!
//! The default feature table is one plan ([`Plan::default_features`]); the rules
//! stage adds whatever its expressions name (`events.pricing_page_view(last_14_days)`)
//! with [`Plan::add`], and the engine computes all of it in the same single scan.

use strata_core::Config;

/// One windowed aggregate over "the last `days` days" before the as-of instant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Agg {
    /// Events named `name` (a signal key maps through `[signals]`; anything else is
    /// the literal event name); `name = "*"` counts every event.
    EventCount {
        /// Signal key or event name, or `*`.
        name: String,
        /// Window length in days.
        days: u32,
    },
    /// Distinct non-null `feature` values.
    DistinctFeatures {
        /// Window length in days.
        days: u32,
    },
    /// Sessions whose start lies in the window.
    SessionCount {
        /// Window length in days.
        days: u32,
    },
    /// Sessions in the window divided by `days / 7`.
    AvgWeeklySessions {
        /// Window length in days.
        days: u32,
    },
    /// Distinct day indexes with an event.
    ActiveDays {
        /// Window length in days, at most 128.
        days: u32,
    },
}

impl Agg {
    /// The canonical name, as the rule language writes it.
    pub fn name(&self) -> String {
        match self {
            Agg::EventCount { name, days: u32::MAX } if name == "*" => "events.count(all_time)".into(),
            Agg::EventCount { name, days: u32::MAX } => format!("events.{name}(all_time)"),
            Agg::EventCount { name, days } if name == "*" => {
                format!("events.count(last_{days}_days)")
            }
            Agg::EventCount { name, days } => format!("events.{name}(last_{days}_days)"),
            Agg::DistinctFeatures { days } => {
                format!("events.unique_features_used(last_{days}_days)")
            }
            Agg::SessionCount { days } => format!("events.session_count(last_{days}_days)"),
            Agg::AvgWeeklySessions { days } => {
                format!("events.avg_weekly_sessions(last_{days}_days)")
            }
            Agg::ActiveDays { days } => format!("events.active_days(last_{days}_days)"),
        }
    }

    /// The window in days.
    pub fn days(&self) -> u32 {
        match self {
            Agg::EventCount { days, .. }
            | Agg::DistinctFeatures { days }
            | Agg::SessionCount { days }
            | Agg::AvgWeeklySessions { days }
            | Agg::ActiveDays { days } => *days,
        }
    }
}

/// Why a plan refused an aggregate.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// A window of zero days (or negative, before it got here) counts nothing.
    #[error("{agg}: a window must be at least 1 day")]
    EmptyWindow {
        /// The aggregate.
        agg: String,
    },
    /// Active days are tracked for the last 128 days only.
    #[error("{agg}: active days can be counted over at most 128 days")]
    WindowTooLong {
        /// The aggregate.
        agg: String,
    },
}

/// Handle to an aggregate's values in the engine's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AggId(pub usize);

/// A set of aggregates to compute in one pass, plus the event-name resolution, and
/// which columns of the default feature table the caller reads.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    aggs: Vec<Agg>,
    /// `None`: every column (the default).
    columns: Option<Vec<String>>,
    /// Set when the caller does not read [`crate::Output::features_used`].
    no_feature_sets: bool,
}

impl Plan {
    /// An empty plan.
    pub fn new() -> Plan {
        Plan::default()
    }

    /// Asks for only these columns of the default feature table (`docs/features.md`);
    /// the others are left out of [`crate::Output::table`]. A caller that reads a few
    /// columns of many snapshots saves spreading the rest into columns (weekly
    /// snapshots of the benchmark data read 30 of its 63). Names that are not columns
    /// are ignored.
    pub fn keep_only_columns(&mut self, names: impl IntoIterator<Item = String>) {
        let mut v: Vec<String> = names.into_iter().collect();
        v.sort_unstable();
        v.dedup();
        self.columns = Some(v);
    }

    /// Leaves [`crate::Output::features_used`] empty: a caller that does not read each
    /// user's features saves listing them for every snapshot.
    pub fn skip_feature_sets(&mut self) {
        self.no_feature_sets = true;
    }

    /// Whether [`crate::Output::features_used`] is filled.
    pub fn wants_feature_sets(&self) -> bool {
        !self.no_feature_sets
    }

    /// Whether the default feature table's column `name` is asked for.
    pub fn keeps_column(&self, name: &str) -> bool {
        self.columns.as_ref().is_none_or(|v| v.binary_search_by(|c| c.as_str().cmp(name)).is_ok())
    }

    /// Adds an aggregate (or finds it if already present).
    pub fn add(&mut self, agg: Agg) -> Result<AggId, PlanError> {
        if agg.days() == 0 {
            return Err(PlanError::EmptyWindow { agg: agg.name() });
        }
        if matches!(agg, Agg::ActiveDays { .. }) && agg.days() > 128 {
            return Err(PlanError::WindowTooLong { agg: agg.name() });
        }
        if let Some(i) = self.aggs.iter().position(|a| *a == agg) {
            return Ok(AggId(i));
        }
        self.aggs.push(agg);
        Ok(AggId(self.aggs.len() - 1))
    }

    /// The aggregates, in the order of their ids.
    pub fn aggs(&self) -> &[Agg] {
        &self.aggs
    }

    /// The plan behind the default feature table (`docs/features.md`).
    pub fn default_features() -> Plan {
        let mut p = Plan::new();
        for a in default_aggs() {
            // Every default window is valid by construction.
            let _ = p.add(a);
        }
        p
    }

    /// Event names each `EventCount` aggregate matches, resolved through the config.
    pub(crate) fn event_names(&self, cfg: &Config) -> Vec<Option<Vec<String>>> {
        self.aggs
            .iter()
            .map(|a| match a {
                Agg::EventCount { name, .. } if name == "*" => None,
                Agg::EventCount { name, .. } => Some(cfg.event_names_for(name)),
                _ => Some(Vec::new()),
            })
            .collect()
    }
}

/// The event-count aggregates behind the default table's signal columns:
/// (output column, signal key, days).
pub const SIGNAL_COLUMNS: [(&str, &str, u32); 14] = [
    ("invites_sent_30d", "invite_sent", 30),
    ("pricing_page_views_14d", "pricing_page_view", 14),
    ("locked_feature_clicks_14d", "locked_feature_click", 14),
    ("support_tickets_7d", "support_ticket", 7),
    ("invites_sent_7d", "invite_sent", 7),
    ("pricing_page_views_7d", "pricing_page_view", 7),
    ("support_tickets_30d", "support_ticket", 30),
    ("content_created_30d", "content_created", 30),
    ("content_shared_30d", "content_shared", 30),
    ("payment_failures_30d", "payment_failed", 30),
    ("plan_downgrades_30d", "plan_downgraded", 30),
    ("cancel_page_views_30d", "cancel_page_view", 30),
    ("sales_contacts_30d", "sales_contact", 30),
    ("locked_feature_clicks_30d", "locked_feature_click", 30),
];

fn default_aggs() -> Vec<Agg> {
    let mut v = vec![Agg::EventCount { name: "*".into(), days: 28 }, Agg::EventCount { name: "*".into(), days: 7 }];
    for (_, key, days) in SIGNAL_COLUMNS {
        v.push(Agg::EventCount { name: key.into(), days });
    }
    v
}
