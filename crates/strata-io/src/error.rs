use std::path::PathBuf;

/// Everything that can go wrong reading inputs or writing outputs. Each variant names
/// the file, and the column or value where there is one.
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    /// The path, folder or glob matched nothing.
    #[error("{path}: {what}")]
    NotFound {
        /// What was asked for.
        path: String,
        /// What is missing and what to do.
        what: String,
    },
    /// An operating-system error on a file.
    #[error("{path}: {source}")]
    Os {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is empty, truncated, or not Parquet at all.
    #[error("{path}: not a readable Parquet file ({detail}); check that the file is complete and really Parquet")]
    NotParquet {
        /// The file.
        path: PathBuf,
        /// What the Parquet reader said.
        detail: String,
    },
    /// A required column is absent.
    #[error("{path}: no column '{column}'{mapped}; columns present: {present}. Map the name with [columns] {contract} = \"...\" in the config")]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The name looked for in the data.
        column: String,
        /// The contract's name of the column.
        contract: String,
        /// " (mapped from ...)" when the config renamed it.
        mapped: String,
        /// The columns the file has.
        present: String,
    },
    /// A column has a type the contract does not accept.
    #[error("{path}: column '{column}' has type {found}, but {contract} must be one of: {accepted}")]
    BadType {
        /// The file.
        path: PathBuf,
        /// The column in the data.
        column: String,
        /// The contract's name of the column.
        contract: String,
        /// The Arrow type found.
        found: String,
        /// The Arrow types accepted.
        accepted: String,
    },
    /// A value that cannot be represented (an unsigned id beyond Int64, say).
    #[error("{path}: column '{column}', row group {row_group}: {what}")]
    BadValue {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
        /// The row group.
        row_group: usize,
        /// What is wrong.
        what: String,
    },
    /// Files of one input disagree in a way that cannot be reconciled.
    #[error("{path}: {what}")]
    Inconsistent {
        /// The file that disagrees with the ones before it.
        path: PathBuf,
        /// What disagrees.
        what: String,
    },
    /// The Parquet decoder failed part-way through a file.
    #[error("{path}: row group {row_group} cannot be decoded ({detail}); the file may be truncated or corrupt")]
    Decode {
        /// The file.
        path: PathBuf,
        /// The row group.
        row_group: usize,
        /// What the decoder said.
        detail: String,
    },
    /// A duplicate key in a table that must have one row per key.
    #[error("{path}: user_id '{key}' appears more than once; the users table must have one row per user")]
    DuplicateUser {
        /// The users file.
        path: PathBuf,
        /// The repeated id.
        key: String,
    },
    /// An output path that would overwrite an input, or whose folder does not exist.
    #[error("{path}: {what}")]
    BadOutput {
        /// The output path.
        path: PathBuf,
        /// What is wrong and what to do.
        what: String,
    },
    /// Writing an output failed.
    #[error("writing {path}: {detail}")]
    Write {
        /// The output path.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
}

impl IoError {
    /// Whether the error is the user's input (exit 2) rather than a failure of ours.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, IoError::Write { .. })
    }
}
