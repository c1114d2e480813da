use crate::chunks::Preloaded;
use crate::IoError;
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Int64Type, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use arrow_array::{Array, ArrayRef, Decimal128Array, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ProjectionMask;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use strata_core::ColumnMap;

/// Rows decoded at a time; bounds the memory of one task whatever the row-group size.
/// 8,192 rather than 32,768: `strata features` on the benchmark took 1.143 s of CPU
/// against 1.195 s (medians of 8 alternating runs; 0.617 against 0.642 s wall), with
/// 2-3 thousand fewer page faults of about 58,000; 4,096 gave the same as 8,192. Why is
/// not measured; likely, a batch's buffers (64 KiB of timestamps) stay in the cache
/// between decoding and folding. Duplicates are still looked for in windows of 32,768
/// rows (`strata-features` carries them across batches). docs/performance.md.
pub const BATCH_ROWS: usize = 1 << 13;

/// Revenue is held as an exact integer number of nano-units (1e-9 of the currency).
pub const REVENUE_SCALE: i8 = 9;

/// The names, in the data, of the event columns (after `[columns]` mapping).
#[derive(Debug, Clone)]
pub struct EventColumns {
    /// `user_id`.
    pub user_id: String,
    /// `timestamp`.
    pub timestamp: String,
    /// `event`.
    pub event: String,
    /// `session_id` (optional in the data).
    pub session_id: String,
    /// `feature` (optional).
    pub feature: String,
    /// `account_id` (optional).
    pub account_id: String,
    /// `revenue` (optional).
    pub revenue: String,
}

impl EventColumns {
    /// Resolves the contract's names through the config's column map.
    pub fn from_map(map: &ColumnMap) -> EventColumns {
        EventColumns {
            user_id: map.get("user_id").to_string(),
            timestamp: map.get("timestamp").to_string(),
            event: map.get("event").to_string(),
            session_id: map.get("session_id").to_string(),
            feature: map.get("feature").to_string(),
            account_id: map.get("account_id").to_string(),
            revenue: map.get("revenue").to_string(),
        }
    }
}

/// A string column as a dictionary: `keys` index `values`; a null key is a null value.
#[derive(Debug, Clone)]
pub struct DictColumn {
    /// One key per row.
    pub keys: Int32Array,
    /// The distinct values (a null value reads as a null row).
    pub values: StringArray,
}

/// An identifier column: a string dictionary or integers.
#[derive(Debug, Clone)]
pub enum KeyColumn {
    /// String ids.
    Dict(DictColumn),
    /// Integer ids.
    Int(Int64Array),
}

/// A revenue column in the cheapest exact form: floats and integers as they are,
/// decimals at scale 9. [`RevenueColumn::nanos`] converts one value, so the mostly-null
/// column of payment amounts is never converted as a whole.
#[derive(Debug, Clone)]
pub enum RevenueColumn {
    /// Any float type, as Float64.
    Float(Float64Array),
    /// Any integer type, as Int64.
    Int(Int64Array),
    /// Any decimal type, as Decimal128 with scale 9.
    Decimal(Decimal128Array),
}

impl RevenueColumn {
    /// The value at `row` in nano-units (1e-9), or `None` for a null (or a float that is
    /// not finite).
    #[inline]
    pub fn nanos(&self, row: usize) -> Option<i128> {
        match self {
            RevenueColumn::Float(a) => {
                let v = a.is_valid(row).then(|| a.value(row)).filter(|v| v.is_finite())?;
                Some((v * 1e9).round() as i128)
            }
            RevenueColumn::Int(a) => a.is_valid(row).then(|| i128::from(a.value(row)) * 1_000_000_000),
            RevenueColumn::Decimal(a) => a.is_valid(row).then(|| a.value(row)),
        }
    }
}

/// One decoded slice of events with every column in its normalised form.
#[derive(Debug)]
pub struct EventBatch {
    /// `user_id`.
    pub user: KeyColumn,
    /// `timestamp`, microseconds since the epoch, UTC.
    pub ts: Int64Array,
    /// `event`.
    pub event: DictColumn,
    /// `session_id`, when the file has it.
    pub session: Option<KeyColumn>,
    /// `feature`, when the file has it.
    pub feature: Option<DictColumn>,
    /// `account_id`, when the file has it.
    pub account: Option<KeyColumn>,
    /// `revenue`, when the file has it.
    pub revenue: Option<RevenueColumn>,
}

impl EventBatch {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// Whether the batch has no rows.
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }
}

/// One row group of one file: the unit of parallel work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowGroupRef {
    /// Index into [`EventSource::paths`].
    pub file: usize,
    /// Row group within the file.
    pub row_group: usize,
    /// Rows in it.
    pub rows: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    User,
    Ts,
    Event,
    Session,
    Feature,
    Account,
    Revenue,
}

#[derive(Debug)]
struct OpenFile {
    path: PathBuf,
    meta: ArrowReaderMetadata,
    mask: ProjectionMask,
    /// (role, index in the projected batch), in projected order.
    roles: Vec<(Role, usize)>,
    ts_name: String,
    user_type: DataType,
}

/// The event files of one input, each opened once and checked against the contract.
#[derive(Debug)]
pub struct EventSource {
    files: Vec<OpenFile>,
    string_users: bool,
}

const KEY_TYPES: &str = "Utf8, LargeUtf8, Utf8View, Dictionary(*, Utf8), Int32, Int64, UInt64";
const STRING_TYPES: &str = "Utf8, LargeUtf8, Utf8View, Dictionary(*, Utf8)";
const STR_OR_INT_TYPES: &str = "any string type or any integer type";
const TS_TYPES: &str = "Timestamp(any unit, any time zone), Date32, Date64";
const NUM_TYPES: &str = "any integer, float or decimal type";

fn is_string(dt: &DataType) -> bool {
    match dt {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => matches!(**v, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View),
        _ => false,
    }
}

fn is_int(dt: &DataType) -> bool {
    dt.is_integer()
}

impl EventSource {
    /// Opens every file, reading only its footer, and checks the columns.
    pub fn open(paths: &[PathBuf], cols: &EventColumns) -> Result<EventSource, IoError> {
        let mut files = Vec::with_capacity(paths.len());
        let mut string_users: Option<(bool, PathBuf)> = None;
        for path in paths {
            let f = open_one(path, cols)?;
            let s = is_string(&f.user_type);
            match &string_users {
                None => string_users = Some((s, path.clone())),
                Some((prev, first)) if *prev != s => {
                    return Err(IoError::Inconsistent {
                        path: path.clone(),
                        what: format!(
                            "user_id is {} here but {} in {}; all files must use one kind of user id",
                            if s { "a string" } else { "an integer" },
                            if *prev { "a string" } else { "an integer" },
                            first.display()
                        ),
                    })
                }
                _ => {}
            }
            files.push(f);
        }
        Ok(EventSource { files, string_users: string_users.is_none_or(|(s, _)| s) })
    }

    /// Whether user ids are strings (else integers).
    pub fn string_users(&self) -> bool {
        self.string_users
    }

    /// The files, in the order row groups refer to them.
    pub fn paths(&self) -> Vec<&Path> {
        self.files.iter().map(|f| f.path.as_path()).collect()
    }

    /// Whether any file has the optional column `role` ("session_id", "feature", ...).
    pub fn has_column(&self, contract_name: &str) -> bool {
        let role = match contract_name {
            "session_id" => Role::Session,
            "feature" => Role::Feature,
            "account_id" => Role::Account,
            "revenue" => Role::Revenue,
            _ => return true,
        };
        self.files.iter().any(|f| f.roles.iter().any(|(r, _)| *r == role))
    }

    /// Every non-empty row group of every file.
    pub fn row_groups(&self) -> Vec<RowGroupRef> {
        let mut out = Vec::new();
        for (fi, f) in self.files.iter().enumerate() {
            for (ri, rg) in f.meta.metadata().row_groups().iter().enumerate() {
                let rows = usize::try_from(rg.num_rows()).unwrap_or(0);
                if rows > 0 {
                    out.push(RowGroupRef { file: fi, row_group: ri, rows });
                }
            }
        }
        out
    }

    /// Total rows over all files.
    pub fn total_rows(&self) -> u64 {
        self.row_groups().iter().map(|r| r.rows as u64).sum()
    }

    /// The latest timestamp of a row group from its statistics, when they are exact.
    pub fn row_group_max_ts(&self, rg: RowGroupRef) -> Option<i64> {
        self.row_group_ts_stat(rg, true)
    }

    /// The smallest timestamp of a row group, in microseconds, when its statistics
    /// hold it exactly.
    pub fn row_group_min_ts(&self, rg: RowGroupRef) -> Option<i64> {
        self.row_group_ts_stat(rg, false)
    }

    fn row_group_ts_stat(&self, rg: RowGroupRef, max: bool) -> Option<i64> {
        let f = &self.files[rg.file];
        let schema = f.meta.schema();
        let conv = StatisticsConverter::try_new(&f.ts_name, schema, f.meta.parquet_schema()).ok()?;
        let md = f.meta.metadata().row_group(rg.row_group);
        let col_idx = conv.parquet_column_index()?;
        let stats = md.column(col_idx).statistics()?;
        if (max && !stats.max_is_exact()) || (!max && !stats.min_is_exact()) {
            return None;
        }
        let arr = if max {
            conv.row_group_maxes(std::iter::once(md)).ok()?
        } else {
            conv.row_group_mins(std::iter::once(md)).ok()?
        };
        let micros = to_micros(&arr).ok()?;
        if micros.is_null(0) {
            return None;
        }
        Some(micros.value(0))
    }

    /// Decodes one row group, handing `f` batches of at most [`BATCH_ROWS`] rows.
    pub fn read_row_group(
        &self,
        rg: RowGroupRef,
        mut f: impl FnMut(EventBatch) -> Result<(), IoError>,
    ) -> Result<(), IoError> {
        self.read_row_group_dyn(rg, &mut f)
    }

    /// Decodes only the timestamp column of one row group (for the as-of pre-pass).
    pub fn read_row_group_ts(
        &self,
        rg: RowGroupRef,
        mut f: impl FnMut(Int64Array) -> Result<(), IoError>,
    ) -> Result<(), IoError> {
        let file = &self.files[rg.file];
        let ts_idx = file.meta.schema().index_of(&file.ts_name).map_err(|e| decode_err(file, rg, e))?;
        let mask = ProjectionMask::roots(file.meta.parquet_schema(), [ts_idx]);
        let chunks = self.preload(rg, &mask)?;
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(chunks, file.meta.clone())
            .with_row_groups(vec![rg.row_group])
            .with_projection(mask)
            .with_batch_size(BATCH_ROWS.min(rg.rows.max(1)))
            .build()
            .map_err(|e| decode_err(file, rg, e))?;
        for batch in reader {
            let batch = batch.map_err(|e| decode_err(file, rg, e))?;
            f(to_micros(batch.column(0)).map_err(|e| decode_err(file, rg, e))?)?;
        }
        Ok(())
    }

    /// Reads the column chunks of `rg` that `mask` selects, through a handle of this
    /// task's own (arrow-rs readers must not share a `File`).
    fn preload(&self, rg: RowGroupRef, mask: &ProjectionMask) -> Result<Preloaded, IoError> {
        let file = &self.files[rg.file];
        let handle = File::open(&file.path).map_err(|source| IoError::Os { path: file.path.clone(), source })?;
        let meta = file.meta.metadata().row_group(rg.row_group);
        Preloaded::read(handle, meta, |leaf| mask.leaf_included(leaf)).map_err(|e| decode_err(file, rg, e))
    }

    fn read_row_group_dyn(
        &self,
        rg: RowGroupRef,
        f: &mut dyn FnMut(EventBatch) -> Result<(), IoError>,
    ) -> Result<(), IoError> {
        let file = &self.files[rg.file];
        let chunks = self.preload(rg, &file.mask)?;
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(chunks, file.meta.clone())
            .with_row_groups(vec![rg.row_group])
            .with_projection(file.mask.clone())
            .with_batch_size(BATCH_ROWS.min(rg.rows.max(1)))
            .build()
            .map_err(|e| decode_err(file, rg, e))?;
        for batch in reader {
            let batch = batch.map_err(|e| decode_err(file, rg, e))?;
            f(normalise(file, rg, &batch)?)?;
        }
        Ok(())
    }
}

fn decode_err(file: &OpenFile, rg: RowGroupRef, e: impl std::fmt::Display) -> IoError {
    IoError::Decode { path: file.path.clone(), row_group: rg.row_group, detail: e.to_string() }
}

fn open_one(path: &Path, cols: &EventColumns) -> Result<OpenFile, IoError> {
    let handle = File::open(path).map_err(|source| IoError::Os { path: path.to_path_buf(), source })?;
    let not_parquet =
        |e: parquet::errors::ParquetError| IoError::NotParquet { path: path.to_path_buf(), detail: e.to_string() };
    if handle.metadata().map(|m| m.len()).unwrap_or(0) == 0 {
        return Err(IoError::NotParquet { path: path.to_path_buf(), detail: "the file is empty (0 bytes)".into() });
    }
    let plain = ArrowReaderMetadata::load(&handle, ArrowReaderOptions::new()).map_err(not_parquet)?;
    let schema = plain.schema().clone();

    let wanted: [(Role, &str, &str, bool); 7] = [
        (Role::User, &cols.user_id, "user_id", true),
        (Role::Ts, &cols.timestamp, "timestamp", true),
        (Role::Event, &cols.event, "event", true),
        (Role::Session, &cols.session_id, "session_id", false),
        (Role::Feature, &cols.feature, "feature", false),
        (Role::Account, &cols.account_id, "account_id", false),
        (Role::Revenue, &cols.revenue, "revenue", false),
    ];
    let mut found: Vec<(usize, Role)> = Vec::new();
    for (role, name, contract, required) in wanted {
        let Ok(idx) = schema.index_of(name) else {
            if required {
                let present: Vec<_> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                return Err(IoError::MissingColumn {
                    path: path.to_path_buf(),
                    column: name.to_string(),
                    contract: contract.to_string(),
                    mapped: if name != contract { format!(" (mapped from {contract})") } else { String::new() },
                    present: present.join(", "),
                });
            }
            continue;
        };
        let dt = schema.field(idx).data_type();
        let (ok, accepted) = match role {
            Role::User => {
                (is_string(dt) || matches!(dt, DataType::Int32 | DataType::Int64 | DataType::UInt64), KEY_TYPES)
            }
            Role::Ts => (matches!(dt, DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64), TS_TYPES),
            Role::Event | Role::Feature => (is_string(dt), STRING_TYPES),
            Role::Session | Role::Account => (is_string(dt) || is_int(dt), STR_OR_INT_TYPES),
            Role::Revenue => (
                dt.is_integer()
                    || dt.is_floating()
                    || matches!(
                        dt,
                        DataType::Decimal32(_, _)
                            | DataType::Decimal64(_, _)
                            | DataType::Decimal128(_, _)
                            | DataType::Decimal256(_, _)
                    ),
                NUM_TYPES,
            ),
        };
        if !ok {
            return Err(IoError::BadType {
                path: path.to_path_buf(),
                column: name.to_string(),
                contract: contract.to_string(),
                found: dt.to_string(),
                accepted: accepted.to_string(),
            });
        }
        found.push((idx, role));
    }
    found.sort_unstable_by_key(|(i, _)| *i);

    // Ask the decoder for dictionaries on string columns so that event and feature
    // names stay dictionary-encoded through the pipeline; fall back to the file's own
    // types (and cast after decoding) if the hint is refused.
    let hinted: Vec<Arc<Field>> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            if found.iter().any(|(j, _)| *j == i) && is_string(f.data_type()) {
                Arc::new(
                    f.as_ref()
                        .clone()
                        .with_data_type(DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))),
                )
            } else {
                f.clone()
            }
        })
        .collect();
    let hinted = Arc::new(Schema::new_with_metadata(hinted, schema.metadata().clone()));
    let meta = ArrowReaderMetadata::load(&handle, ArrowReaderOptions::new().with_schema(hinted)).unwrap_or(plain);
    let mask = ProjectionMask::roots(meta.parquet_schema(), found.iter().map(|(i, _)| *i));
    let roles = found.iter().enumerate().map(|(pos, (_, r))| (*r, pos)).collect();
    let user_type = schema.field_with_name(&cols.user_id).map(|f| f.data_type().clone()).unwrap_or(DataType::Null);
    Ok(OpenFile { path: path.to_path_buf(), meta, mask, roles, ts_name: cols.timestamp.clone(), user_type })
}

fn normalise(file: &OpenFile, rg: RowGroupRef, batch: &RecordBatch) -> Result<EventBatch, IoError> {
    let col = |role: Role| file.roles.iter().find(|(r, _)| *r == role).map(|(_, i)| batch.column(*i).clone());
    let bad = |name: &str, e: String| IoError::BadValue {
        path: file.path.clone(),
        column: name.to_string(),
        row_group: rg.row_group,
        what: e,
    };
    let missing = |r: Role| decode_err(file, rg, format!("column for {r:?} not decoded"));
    let user = to_key(&col(Role::User).ok_or_else(|| missing(Role::User))?).map_err(|e| bad("user_id", e))?;
    let ts = to_micros(&col(Role::Ts).ok_or_else(|| missing(Role::Ts))?).map_err(|e| bad(&file.ts_name, e))?;
    let event = to_dict(&col(Role::Event).ok_or_else(|| missing(Role::Event))?).map_err(|e| bad("event", e))?;
    let session = col(Role::Session).map(|a| to_key(&a)).transpose().map_err(|e| bad("session_id", e))?;
    let feature = col(Role::Feature).map(|a| to_dict(&a)).transpose().map_err(|e| bad("feature", e))?;
    let account = col(Role::Account).map(|a| to_key(&a)).transpose().map_err(|e| bad("account_id", e))?;
    let revenue = col(Role::Revenue).map(|a| to_revenue(&a)).transpose().map_err(|e| bad("revenue", e))?;
    Ok(EventBatch { user, ts, event, session, feature, account, revenue })
}

fn cast(a: &ArrayRef, to: &DataType) -> Result<ArrayRef, String> {
    arrow_cast::cast(a, to).map_err(|e| e.to_string())
}

/// Any accepted string column as an `Int32`-keyed dictionary over `Utf8` values.
pub(crate) fn to_dict(a: &ArrayRef) -> Result<DictColumn, String> {
    let target = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    let a = if a.data_type() == &target { a.clone() } else { cast(a, &target)? };
    let d = a.as_dictionary::<arrow_array::types::Int32Type>();
    let values = d.values().as_string::<i32>().clone();
    Ok(DictColumn { keys: d.keys().clone(), values })
}

/// Any accepted identifier column: strings as a dictionary, integers as Int64.
pub(crate) fn to_key(a: &ArrayRef) -> Result<KeyColumn, String> {
    if is_string(a.data_type()) {
        return Ok(KeyColumn::Dict(to_dict(a)?));
    }
    if a.data_type() == &DataType::UInt64 {
        let u = a.as_primitive::<arrow_array::types::UInt64Type>();
        if let Some(v) = u.iter().flatten().find(|v| *v > i64::MAX as u64) {
            return Err(format!("integer id {v} does not fit Int64"));
        }
    }
    let a = cast(a, &DataType::Int64)?;
    Ok(KeyColumn::Int(a.as_primitive::<Int64Type>().clone()))
}

/// Any accepted time column as microseconds since the epoch.
pub(crate) fn to_micros(a: &ArrayRef) -> Result<Int64Array, String> {
    Ok(match a.data_type() {
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            a.as_primitive::<TimestampMicrosecondType>().reinterpret_cast::<Int64Type>()
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            a.as_primitive::<TimestampMillisecondType>().unary(|v| v.saturating_mul(1_000))
        }
        DataType::Timestamp(TimeUnit::Second, _) => {
            a.as_primitive::<TimestampSecondType>().unary(|v| v.saturating_mul(1_000_000))
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            a.as_primitive::<TimestampNanosecondType>().unary(|v| v.div_euclid(1_000))
        }
        DataType::Date32 => a.as_primitive::<Date32Type>().unary(|v| i64::from(v) * strata_core::MICROS_PER_DAY),
        DataType::Date64 => a.as_primitive::<Date64Type>().unary(|v| v.saturating_mul(1_000)),
        other => return Err(format!("type {other} is not a timestamp")),
    })
}

/// Any accepted numeric column in the form of [`RevenueColumn`].
pub(crate) fn to_revenue(a: &ArrayRef) -> Result<RevenueColumn, String> {
    let dt = a.data_type();
    if dt.is_floating() {
        let c = cast(a, &DataType::Float64)?;
        return Ok(RevenueColumn::Float(c.as_primitive::<arrow_array::types::Float64Type>().clone()));
    }
    if dt.is_integer() {
        let c = cast(a, &DataType::Int64)?;
        return Ok(RevenueColumn::Int(c.as_primitive::<Int64Type>().clone()));
    }
    let c = cast(a, &DataType::Decimal128(38, REVENUE_SCALE))?;
    Ok(RevenueColumn::Decimal(c.as_primitive::<arrow_array::types::Decimal128Type>().clone()))
}
