use crate::IoError;
use arrow_array::RecordBatch;
use arrow_schema::{DataType, SchemaRef};
use parquet::arrow::arrow_writer::{compute_leaves, ArrowColumnChunk, ArrowRowGroupWriterFactory};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use rayon::prelude::*;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Refuses an output path whose folder does not exist, that is a folder, or that
/// names one of the inputs (which would be overwritten).
pub fn check_output_path(out: &Path, inputs: &[PathBuf]) -> Result<(), IoError> {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        return Err(IoError::BadOutput {
            path: out.to_path_buf(),
            what: format!("the output folder {} does not exist; create it first", parent.display()),
        });
    }
    if out.is_dir() {
        return Err(IoError::BadOutput { path: out.to_path_buf(), what: "is a folder; give a file name".into() });
    }
    let canon_out = parent.canonicalize().ok().map(|p| p.join(out.file_name().unwrap_or_default()));
    for input in inputs {
        let same = match (&canon_out, input.canonicalize()) {
            (Some(o), Ok(i)) => *o == i,
            _ => out == input,
        };
        if same {
            return Err(IoError::BadOutput {
                path: out.to_path_buf(),
                what: "is also an input; strata never writes over its inputs, choose another output path".into(),
            });
        }
    }
    Ok(())
}

/// Writes `path` atomically: `write` fills a temporary file in the same folder, which
/// is renamed over `path` only when it succeeded. On failure nothing is left behind.
pub fn write_atomic(path: &Path, write: impl FnOnce(&mut std::fs::File) -> Result<(), String>) -> Result<(), IoError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let werr = |detail: String| IoError::Write { path: path.to_path_buf(), detail };
    let result = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(|e| werr(e.to_string()))?;
        write(&mut f).map_err(werr)?;
        f.flush().map_err(|e| werr(e.to_string()))?;
        std::fs::rename(&tmp, path).map_err(|e| werr(e.to_string()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The writer settings of every Parquet file strata writes, for a file of `schema`.
fn writer_props(schema: &arrow_schema::Schema) -> WriterProperties {
    let mut b = WriterProperties::builder()
        // Snappy: zstd level 3 took 0.11 s of a 1.2 s run on the 50,000-user benchmark.
        .set_compression(Compression::SNAPPY)
        // Dictionary pages (falling back to plain ones where a column has too many
        // distinct values): weekly snapshots of the 50,000-user benchmark wrote 13 MB
        // instead of 47 (segments) and 8 instead of 19 (changes), with 2-3% less CPU;
        // the feature table 4.1 MB instead of 6.2 for the same CPU.
        .set_dictionary_enabled(true)
        // ...except for user ids, which are unique in most outputs (one row per user),
        // so a dictionary only adds its hashing.
        .set_column_dictionary_enabled(ColumnPath::from("user_id"), false)
        .set_created_by("strata".to_string());
    // No min/max statistics for string columns other than ids (`user_id`,
    // `account_id`): they are labels (segments, tiers, families, plans) and every row
    // group and page holds most of them, so their bounds skip nothing for a reader,
    // while computing them compares every value (about 0.12 s of 5.0 s CPU for weekly
    // snapshots of the 50,000-user benchmark: docs/performance.md). Times, ids and
    // numbers keep theirs.
    for f in schema.fields() {
        if matches!(f.data_type(), DataType::Utf8 | DataType::LargeUtf8) && !f.name().ends_with("_id") {
            b = b.set_column_statistics_enabled(ColumnPath::from(f.name().as_str()), EnabledStatistics::None);
        }
    }
    b.build()
}

/// Writes one record batch as a Parquet file, atomically, with fixed writer settings so
/// the bytes depend only on the batch.
pub fn write_parquet_atomic(path: &Path, batch: &RecordBatch) -> Result<(), IoError> {
    write_parquet_batches_atomic(path, std::slice::from_ref(batch))
}

/// [`write_parquet_atomic`] for several batches of one schema, each its own row group,
/// in order: a long table written without first being copied into one batch.
pub fn write_parquet_batches_atomic(path: &Path, batches: &[RecordBatch]) -> Result<(), IoError> {
    let werr = |detail: String| IoError::Write { path: path.to_path_buf(), detail };
    let Some(first) = batches.first() else {
        return Err(werr("nothing to write".into()));
    };
    let enc = RowGroupEncoder::new(first.schema()).map_err(werr)?;
    let groups = batches.iter().map(|b| enc.encode(b)).collect::<Result<Vec<_>, _>>().map_err(werr)?;
    write_encoded_atomic(path, &first.schema(), groups)
}

/// Encodes record batches of one schema into Parquet row groups, in memory, ready to
/// be written by [`write_encoded_atomic`]: a long table can be encoded piece by piece
/// as its pieces are made (on any thread) and only the compressed pages kept.
#[derive(Debug)]
pub struct RowGroupEncoder {
    factory: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
}

/// One row group's column chunks, encoded and compressed.
#[derive(Debug)]
pub struct EncodedRowGroup(Vec<ArrowColumnChunk>);

impl RowGroupEncoder {
    /// An encoder for batches of `schema`, with the settings of [`write_parquet_atomic`].
    pub fn new(schema: SchemaRef) -> Result<RowGroupEncoder, String> {
        // The factory depends only on the schema and the settings; its chunks are
        // appended to the real file's writer later.
        let w = ArrowWriter::try_new(std::io::sink(), schema.clone(), Some(writer_props(&schema)))
            .map_err(|e| e.to_string())?;
        let (_, factory) = w.into_serialized_writer().map_err(|e| e.to_string())?;
        Ok(RowGroupEncoder { factory, schema })
    }

    /// Encodes `batch` as one row group, its columns in parallel. The bytes are those
    /// of a serial write (serial encoding took 0.07 s of a 0.9 s run on the
    /// 50,000-user benchmark's 63-column table).
    pub fn encode(&self, batch: &RecordBatch) -> Result<EncodedRowGroup, String> {
        if batch.schema() != self.schema {
            return Err("a batch has another schema than the table it belongs to".into());
        }
        let col_writers = self.factory.create_column_writers(0).map_err(|e| e.to_string())?;
        // The leaves (definition levels) in parallel too: 5-10 ms on one thread for the
        // feature table while the other waited.
        let per_field: Vec<Vec<_>> = batch
            .columns()
            .par_iter()
            .zip(self.schema.fields().par_iter())
            .map(|(arr, field)| compute_leaves(field, arr).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        let leaves: Vec<_> = per_field.into_iter().flatten().collect();
        if leaves.len() != col_writers.len() {
            return Err(format!("{} leaf columns for {} column writers", leaves.len(), col_writers.len()));
        }
        let chunks: Result<Vec<ArrowColumnChunk>, String> = col_writers
            .into_par_iter()
            .zip(leaves.into_par_iter())
            .map(|(mut w, leaf)| {
                w.write(&leaf).map_err(|e| e.to_string())?;
                w.close().map_err(|e| e.to_string())
            })
            .collect();
        Ok(EncodedRowGroup(chunks?))
    }
}

/// Writes encoded row groups of `schema` as one Parquet file, in order, atomically.
pub fn write_encoded_atomic(path: &Path, schema: &SchemaRef, groups: Vec<EncodedRowGroup>) -> Result<(), IoError> {
    write_atomic(path, |f| {
        let w = ArrowWriter::try_new(f, schema.clone(), Some(writer_props(schema))).map_err(|e| e.to_string())?;
        let (mut writer, _) = w.into_serialized_writer().map_err(|e| e.to_string())?;
        for group in groups {
            let mut rg = writer.next_row_group().map_err(|e| e.to_string())?;
            for chunk in group.0 {
                chunk.append_to_row_group(&mut rg).map_err(|e| e.to_string())?;
            }
            rg.close().map_err(|e| e.to_string())?;
        }
        writer.close().map_err(|e| e.to_string())?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_inputs_and_missing_folders() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("events.parquet");
        std::fs::write(&input, b"x").unwrap();
        assert!(check_output_path(&input, std::slice::from_ref(&input)).is_err());
        let sneaky = dir.path().join("sub/../events.parquet");
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        assert!(check_output_path(&sneaky, std::slice::from_ref(&input)).is_err());
        assert!(check_output_path(&dir.path().join("nope/out.parquet"), &[]).is_err());
        assert!(check_output_path(&dir.path().join("out.parquet"), &[input]).is_ok());
    }

    #[test]
    fn failed_write_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.bin");
        std::fs::write(&out, b"old").unwrap();
        let r = write_atomic(&out, |_| Err("boom".into()));
        assert!(r.is_err());
        assert_eq!(std::fs::read(&out).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        write_atomic(&out, |f| f.write_all(b"new").map_err(|e| e.to_string())).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"new");
    }

    fn batch(ids: &[&str], vals: &[Option<f64>]) -> RecordBatch {
        use arrow_array::{ArrayRef, Float64Array, StringArray};
        use arrow_schema::{DataType, Field, Schema};
        let schema = Schema::new(vec![
            Field::new("user_id", DataType::Utf8, false),
            Field::new("score", DataType::Float64, true),
        ]);
        let cols: Vec<ArrayRef> = vec![
            std::sync::Arc::new(StringArray::from(ids.to_vec())),
            std::sync::Arc::new(Float64Array::from(vals.to_vec())),
        ];
        RecordBatch::try_new(std::sync::Arc::new(schema), cols).unwrap()
    }

    #[test]
    fn row_groups_encoded_apart_read_back_in_order() {
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        let dir = tempfile::tempdir().unwrap();
        let parts = [batch(&["a", "b"], &[Some(1.0), None]), batch(&[], &[]), batch(&["c"], &[Some(3.5)])];
        let out = dir.path().join("long.parquet");
        // Encoded out of order, on other threads, then written in order.
        let enc = RowGroupEncoder::new(parts[0].schema()).unwrap();
        let mut groups: Vec<(usize, EncodedRowGroup)> =
            parts.par_iter().enumerate().rev().map(|(i, b)| (i, enc.encode(b).unwrap())).collect();
        groups.sort_by_key(|(i, _)| *i);
        write_encoded_atomic(&out, &parts[0].schema(), groups.into_iter().map(|(_, g)| g).collect()).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&out).unwrap()).unwrap();
        assert_eq!(reader.metadata().num_row_groups(), 3);
        let got: Vec<RecordBatch> = reader.build().unwrap().map(|b| b.unwrap()).collect();
        let got = arrow_select::concat::concat_batches(&parts[0].schema(), &got).unwrap();
        let want = arrow_select::concat::concat_batches(&parts[0].schema(), &parts).unwrap();
        assert_eq!(got, want);
        // The same table through the one-call writer gives the same bytes.
        let again = dir.path().join("again.parquet");
        write_parquet_batches_atomic(&again, &parts).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&again).unwrap());
        // A batch of another schema is refused, and nothing is written.
        let other = RecordBatch::try_new(
            std::sync::Arc::new(arrow_schema::Schema::new(vec![arrow_schema::Field::new(
                "x",
                arrow_schema::DataType::Float64,
                false,
            )])),
            vec![std::sync::Arc::new(arrow_array::Float64Array::from(vec![1.0]))],
        )
        .unwrap();
        assert!(enc.encode(&other).is_err());
        let bad = dir.path().join("bad.parquet");
        assert!(write_parquet_batches_atomic(&bad, &[parts[0].clone(), other]).is_err());
        assert!(!bad.exists());
    }
}
