//! The data-quality summary written beside every output.

use serde::Serialize;

/// Row counts gathered during the scan; they add up across workers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Rows decoded.
    pub rows_read: u64,
    /// Rows skipped: null `user_id`.
    pub null_user: u64,
    /// Rows skipped: null `timestamp`.
    pub null_timestamp: u64,
    /// Rows skipped: later than the as-of time.
    pub after_as_of: u64,
    /// Rows identical (user, timestamp, event, feature, session) to the row just before
    /// them in the same file: counted, not removed.
    pub duplicate_rows: u64,
}

impl Counts {
    pub(crate) fn add(&mut self, o: &Counts) {
        self.rows_read += o.rows_read;
        self.null_user += o.null_user;
        self.null_timestamp += o.null_timestamp;
        self.after_as_of += o.after_as_of;
        self.duplicate_rows += o.duplicate_rows;
    }
}

/// The data-quality summary of one run (`*.quality.json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DataQuality {
    /// The as-of instant, RFC 3339.
    pub as_of: String,
    /// Where the as-of came from: "--as-of", "latest event", "latest signup".
    pub as_of_source: String,
    /// Event files read.
    pub event_files: Vec<String>,
    /// Users files read.
    pub users_files: Vec<String>,
    /// Rows decoded.
    pub rows_read: u64,
    /// Rows used (at or before `T`, with a user and a timestamp).
    pub rows_used: u64,
    /// Rows skipped, by reason.
    pub rows_skipped: Skipped,
    /// Events of users whose `signup_at` is after `T` (they have no row).
    pub events_before_signup: u64,
    /// Duplicate rows (adjacent, identical); counted, not removed.
    pub duplicate_rows: u64,
    /// Users in the feature table.
    pub users_out: u64,
    /// Users seen in events but missing from the users table (0 without a table).
    pub users_missing_from_users_table: u64,
    /// Users of the users table with no event at or before `T`.
    pub users_without_events: u64,
    /// Users of the users table left out because they sign up after `T`.
    pub users_signing_up_after_as_of: u64,
    /// Rows of the users table skipped for a null `user_id`.
    pub users_rows_null_id: u64,
    /// Distinct features seen at or before `T`, and the catalog size used.
    pub features_seen: u64,
    /// The catalog size behind `feature_breadth_30d`.
    pub catalog_size: u64,
    /// Optional columns absent from the events (their features are 0 or null).
    pub missing_optional_columns: Vec<String>,
}

/// Rows skipped, by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Null `user_id`.
    pub null_user_id: u64,
    /// Null `timestamp`.
    pub null_timestamp: u64,
    /// Later than the as-of time.
    pub after_as_of: u64,
}

impl DataQuality {
    /// A few lines for the terminal.
    pub fn brief(&self) -> String {
        let s = &self.rows_skipped;
        let mut out = format!(
            "as of {} ({}): {} rows read, {} used, skipped {} (null user_id {}, null timestamp {}, after as-of {}); {} users",
            self.as_of,
            self.as_of_source,
            self.rows_read,
            self.rows_used,
            s.null_user_id + s.null_timestamp + s.after_as_of,
            s.null_user_id,
            s.null_timestamp,
            s.after_as_of,
            self.users_out
        );
        if self.duplicate_rows > 0 {
            out.push_str(&format!("\n  {} duplicate rows (counted, not removed)", self.duplicate_rows));
        }
        if self.users_missing_from_users_table > 0 {
            out.push_str(&format!(
                "\n  {} users have events but no row in the users table",
                self.users_missing_from_users_table
            ));
        }
        if self.events_before_signup > 0 {
            out.push_str(&format!(
                "\n  {} events belong to {} users who sign up after the as-of time (left out)",
                self.events_before_signup, self.users_signing_up_after_as_of
            ));
        }
        if !self.missing_optional_columns.is_empty() {
            out.push_str(&format!(
                "\n  optional columns not in the data: {}",
                self.missing_optional_columns.join(", ")
            ));
        }
        out
    }
}
