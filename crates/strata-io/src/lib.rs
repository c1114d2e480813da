//! Parquet in and out for strata.
//!
//! The principal type is [`EventSource`]: the Parquet files behind an `--events`
//! path (a file, a directory walked recursively with hive-style `key=value/`
//! folders, or a glob), each checked once against the contract's column types.
//! [`EventSource::read_row_group`] decodes only the needed columns of one row group
//! into an [`EventBatch`], whose columns are normalised so the engine sees one form
//! whatever the file held: timestamps as microseconds, low-cardinality strings as
//! dictionaries, revenue as exact nano-units.
//!
//! Outputs go through [`write_atomic`]: a temporary file in the target folder that is
//! renamed into place, so an interrupted run never leaves half a file.

mod chunks;
mod error;
mod events;
mod files;
mod users;
mod write;

pub use error::IoError;
pub use events::{
    DictColumn, EventBatch, EventColumns, EventSource, KeyColumn, RevenueColumn, RowGroupRef, BATCH_ROWS,
};
pub use files::discover;
pub use users::{key_at, read_users, UsersTable};
pub use write::{
    check_output_path, write_atomic, write_encoded_atomic, write_parquet_atomic, write_parquet_batches_atomic,
    EncodedRowGroup, RowGroupEncoder,
};

/// One user's identity as found in the data: strings stay strings, integers integers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UserKey {
    /// A string id.
    Str(Box<str>),
    /// An integer id (Int32, Int64 and UInt64 up to `i64::MAX`).
    Int(i64),
}

impl std::fmt::Display for UserKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UserKey::Str(s) => f.write_str(s),
            UserKey::Int(i) => write!(f, "{i}"),
        }
    }
}
