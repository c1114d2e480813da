//! One row group's column chunks read into memory before decoding.
//!
//! parquet's `ChunkReader` for `File` duplicates the handle, seeks and wraps it in a
//! small `BufReader` for every page it reads: on the 50,000-user benchmark file (22 row
//! groups, 6 columns, pages of 20,000 rows) that was about 13,500 `dup`, 13,500 `lseek`,
//! 13,500 `close` and 20,000 `read` calls per scan (`strace -c -f`). Reading each
//! projected column chunk whole, with one seek and a few reads, and serving the pages
//! from those buffers makes it 383 `read` calls per scan.

use bytes::{Buf, Bytes};
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::RowGroupMetaData;
use parquet::file::reader::{ChunkReader, Length};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

/// At most this many compressed bytes of one row group are held in memory per worker;
/// a larger row group (a Spark or DuckDB export may write row groups of hundreds of
/// megabytes) is read page by page from the file as before, so memory stays bounded
/// whatever the writer chose. The benchmark file's row groups hold about 9 MB.
const MAX_HELD_BYTES: u64 = 256 << 20;

/// The column chunks of one row group: held whole, or (past [`MAX_HELD_BYTES`]) read
/// from the file page by page.
#[derive(Debug)]
pub(crate) struct Preloaded {
    /// The file's length (what `Length::len` reports, as the file would).
    file_len: u64,
    held: Held,
}

#[derive(Debug)]
enum Held {
    /// `(start, bytes)`, sorted by start, not overlapping.
    Parts(Vec<(u64, Bytes)>),
    /// Too large to hold: parquet's own reader for a file.
    File(File),
}

impl Preloaded {
    /// Reads, from `file`, the column chunks of `rg` whose leaf index `wanted` accepts.
    pub(crate) fn read(
        file: File,
        rg: &RowGroupMetaData,
        wanted: impl Fn(usize) -> bool,
    ) -> std::io::Result<Preloaded> {
        Preloaded::read_up_to(file, rg, wanted, MAX_HELD_BYTES)
    }

    /// [`Preloaded::read`], holding the chunks only if they total at most `max` bytes.
    fn read_up_to(
        mut file: File,
        rg: &RowGroupMetaData,
        wanted: impl Fn(usize) -> bool,
        max: u64,
    ) -> std::io::Result<Preloaded> {
        let file_len = file.metadata()?.len();
        let mut ranges: Vec<(u64, u64)> =
            rg.columns().iter().enumerate().filter(|(i, _)| wanted(*i)).map(|(_, c)| c.byte_range()).collect();
        ranges.sort_unstable();
        // Chunks that touch or overlap are read as one.
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
        for (start, len) in ranges {
            match merged.last_mut() {
                // Saturating: the ranges come from the file's metadata, which may be corrupt.
                Some((s, l)) if start <= s.saturating_add(*l) => *l = (*l).max(start.saturating_add(len) - *s),
                _ => merged.push((start, len)),
            }
        }
        if merged.iter().fold(0u64, |t, (_, len)| t.saturating_add(*len)) > max {
            return Ok(Preloaded { file_len, held: Held::File(file) });
        }
        let mut parts = Vec::with_capacity(merged.len());
        for (start, len) in merged {
            let end = start.checked_add(len).filter(|e| *e <= file_len).ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!(
                        "a column chunk at bytes {start}..{} lies past the end of the file ({file_len} bytes)",
                        start.saturating_add(len)
                    ),
                )
            })?;
            // `read_to_end` reads into the spare capacity without zeroing it first
            // (`vec![0; n]` spent 1.3% of the scan's samples in memset).
            let mut buf = Vec::with_capacity((end - start) as usize);
            file.seek(SeekFrom::Start(start))?;
            (&mut file).take(end - start).read_to_end(&mut buf)?;
            if buf.len() as u64 != end - start {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("the file ended inside the column chunk at bytes {start}..{end}"),
                ));
            }
            parts.push((start, Bytes::from(buf)));
        }
        Ok(Preloaded { file_len, held: Held::Parts(parts) })
    }

    /// The held bytes from `start` to the end of the part that holds `start`.
    fn tail(parts: &[(u64, Bytes)], start: u64) -> Result<Bytes> {
        let i = parts.partition_point(|(s, _)| *s <= start);
        if let Some((s, b)) = i.checked_sub(1).map(|i| &parts[i]) {
            let off = (start - s) as usize;
            if off < b.len() {
                return Ok(b.slice(off..));
            }
        }
        Err(ParquetError::General(format!("byte {start} lies outside the column chunks that were read")))
    }
}

impl Length for Preloaded {
    fn len(&self) -> u64 {
        self.file_len
    }
}

impl ChunkReader for Preloaded {
    type T = Box<dyn Read + Send>;

    fn get_read(&self, start: u64) -> Result<Self::T> {
        match &self.held {
            Held::Parts(parts) => Ok(Box::new(Preloaded::tail(parts, start)?.reader())),
            Held::File(f) => Ok(Box::new(ChunkReader::get_read(f, start)?)),
        }
    }

    fn get_bytes(&self, start: u64, length: usize) -> Result<Bytes> {
        let parts = match &self.held {
            Held::Parts(parts) => parts,
            Held::File(f) => return ChunkReader::get_bytes(f, start, length),
        };
        let tail = Preloaded::tail(parts, start)?;
        if length > tail.len() {
            return Err(ParquetError::General(format!(
                "bytes {start}..{} run past the column chunk that holds them",
                start + length as u64
            )));
        }
        Ok(tail.slice(..length))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, RecordBatch, StringArray};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::arrow::{ArrowWriter, ProjectionMask};
    use parquet::file::properties::WriterProperties;
    use std::sync::Arc;

    /// Decoding a projection through the preloaded chunks gives the same values as
    /// decoding it from the file, on a file with several row groups and many pages,
    /// and a byte outside the chunks read is an error, not a wrong value.
    #[test]
    fn preloaded_chunks_decode_like_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let n = 10_000i64;
        let a = Int64Array::from_iter_values((0..n).map(|i| i * 7 % 1013));
        let b = StringArray::from_iter_values((0..n).map(|i| format!("v{}", i % 37)));
        let c = Int64Array::from_iter_values((0..n).map(|i| i * i));
        let batch = RecordBatch::try_from_iter([
            ("a", Arc::new(a) as arrow_array::ArrayRef),
            ("b", Arc::new(b) as _),
            ("c", Arc::new(c) as _),
        ])
        .unwrap();
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(3_000))
            .set_data_page_row_count_limit(500)
            .build();
        let mut w = ArrowWriter::try_new(File::create(&path).unwrap(), batch.schema(), Some(props)).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();

        let direct = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap()).unwrap();
        let meta = direct.metadata().clone();
        assert_eq!(meta.num_row_groups(), 4);
        for rg in 0..meta.num_row_groups() {
            let mask = ProjectionMask::leaves(meta.file_metadata().schema_descr(), [0, 2]);
            let from_file = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap())
                .unwrap()
                .with_row_groups(vec![rg])
                .with_projection(mask.clone())
                .build()
                .unwrap()
                .collect::<std::result::Result<Vec<_>, _>>()
                .unwrap();
            let pre = Preloaded::read(File::open(&path).unwrap(), meta.row_group(rg), |i| i != 1).unwrap();
            assert!(matches!(&pre.held, Held::Parts(p) if p.len() == 2), "columns 0 and 2 are not adjacent");
            let from_mem = ParquetRecordBatchReaderBuilder::try_new_with_options(pre, Default::default())
                .map(|b| b.with_row_groups(vec![rg]).with_projection(mask));
            // The footer is not among the preloaded bytes: opening from them fails.
            assert!(from_mem.is_err());
            // Columns 0 and 2 of row group `rg`, decoded through `chunks`.
            let decode = |chunks: Preloaded| {
                let arrow_meta = parquet::arrow::arrow_reader::ArrowReaderMetadata::load(
                    &File::open(&path).unwrap(),
                    Default::default(),
                )
                .unwrap();
                ParquetRecordBatchReaderBuilder::new_with_metadata(chunks, arrow_meta)
                    .with_row_groups(vec![rg])
                    .with_projection(ProjectionMask::leaves(meta.file_metadata().schema_descr(), [0, 2]))
                    .build()
                    .unwrap()
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .unwrap()
            };
            let got = decode(Preloaded::read(File::open(&path).unwrap(), meta.row_group(rg), |i| i != 1).unwrap());
            assert_eq!(got, from_file);
            assert_eq!(got.iter().map(|b| b.num_rows()).sum::<usize>(), meta.row_group(rg).num_rows() as usize);
            // Past the limit the pages are read from the file: the same batches.
            let big = Preloaded::read_up_to(File::open(&path).unwrap(), meta.row_group(rg), |i| i != 1, 100).unwrap();
            assert!(matches!(big.held, Held::File(_)));
            assert_eq!(decode(big), from_file);
        }
        // Asking for the skipped column's bytes is an error.
        let pre = Preloaded::read(File::open(&path).unwrap(), meta.row_group(0), |i| i != 1).unwrap();
        let (start, len) = meta.row_group(0).column(1).byte_range();
        assert!(pre.get_bytes(start, len as usize).is_err());
        assert!(pre.get_read(start + 1).is_err());
    }
}
