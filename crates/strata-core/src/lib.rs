//! Core types shared by every strata stage.
//!
//! The principal type in this crate is [`Config`], the parsed `strata.toml`: how the
//! input's columns are named ([`ColumnMap`]), which event names carry each scoring
//! [`Signal`], the feature catalog, the session gap and the activation milestones.
//! The crate also pins the time arithmetic of the contract ([`time`]): every window
//! is a half-open interval `(T - N days, T]` counted back from the as-of instant.
//!
//! This crate does no I/O beyond reading one config file and never knows about
//! Arrow or Parquet.

pub mod config;
pub mod time;

pub use config::{ColumnMap, Config, ConfigError, Milestone, ReportConfig, Signal};
pub use time::{AsOf, Micros, MICROS_PER_DAY, MICROS_PER_WEEK};
