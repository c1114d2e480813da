use crate::IoError;
use std::path::{Path, PathBuf};

/// The Parquet files behind an input argument, sorted by path.
///
/// A file is taken as it is; a directory is walked recursively (hive-style
/// `key=value/` folders included; hidden `.x` and `_x` entries such as `_SUCCESS` are
/// skipped) for `*.parquet` / `*.parq` files; anything with `*`, `?` or `[` is a glob.
pub fn discover(arg: &str) -> Result<Vec<PathBuf>, IoError> {
    let path = Path::new(arg);
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    if path.is_dir() {
        let mut out = Vec::new();
        walk(path, &mut out)?;
        out.sort();
        if out.is_empty() {
            return Err(IoError::NotFound {
                path: arg.to_string(),
                what: "the folder holds no *.parquet files (searched recursively)".into(),
            });
        }
        return Ok(out);
    }
    if arg.contains(['*', '?', '[']) {
        let paths = glob::glob(arg)
            .map_err(|e| IoError::NotFound { path: arg.to_string(), what: format!("not a valid glob pattern: {e}") })?;
        let mut out = Vec::new();
        for p in paths {
            let p = p.map_err(|e| IoError::Os { path: e.path().to_path_buf(), source: e.into() })?;
            if p.is_file() {
                out.push(p);
            } else if p.is_dir() {
                walk(&p, &mut out)?;
            }
        }
        out.sort();
        out.dedup();
        if out.is_empty() {
            return Err(IoError::NotFound { path: arg.to_string(), what: "the glob matches no file".into() });
        }
        return Ok(out);
    }
    Err(IoError::NotFound { path: arg.to_string(), what: "no such file or folder".into() })
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), IoError> {
    let rd = std::fs::read_dir(dir).map_err(|source| IoError::Os { path: dir.to_path_buf(), source })?;
    for entry in rd {
        let entry = entry.map_err(|source| IoError::Os { path: dir.to_path_buf(), source })?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        let p = entry.path();
        if p.is_dir() {
            walk(&p, out)?;
        } else if name.ends_with(".parquet") || name.ends_with(".parq") {
            out.push(p);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_hive_folders_and_globs() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("date=2026-01-01");
        let b = dir.path().join("date=2026-01-02");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        for p in [a.join("part-0.parquet"), b.join("part-0.parquet"), b.join("part-1.parquet")] {
            std::fs::write(p, b"x").unwrap();
        }
        std::fs::write(dir.path().join("_SUCCESS"), b"").unwrap();
        std::fs::write(b.join("notes.txt"), b"").unwrap();
        let found = discover(dir.path().to_str().unwrap()).unwrap();
        assert_eq!(found.len(), 3);
        let pattern = format!("{}/date=*/part-1.parquet", dir.path().display());
        assert_eq!(discover(&pattern).unwrap().len(), 1);
        assert!(discover(&format!("{}/nothing", dir.path().display())).is_err());
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        assert!(discover(empty.to_str().unwrap()).is_err());
    }
}
