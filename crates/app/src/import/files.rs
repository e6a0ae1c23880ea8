//! The files named on the command line: files as they are; directories
//! walked in name order (so that an import is repeatable), taking the log
//! files in them (`.json`, `.jsonl`, `.ndjson`, `.log`, `.gz`) and leaving
//! out hidden entries, READMEs and the like, and CloudTrail's digest
//! folders (`CloudTrail-Digest/`: digests describe log files, they are not
//! events).

use std::io;
use std::path::{Path, PathBuf};

/// Every file under `paths`.
pub fn collect(paths: &[PathBuf]) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        walk(path, &mut files)?;
    }
    Ok(files)
}

/// Endings of the files a directory walk takes.
const LOG_FILE_ENDINGS: [&str; 5] = [".json", ".jsonl", ".ndjson", ".log", ".gz"];

fn walk(path: &Path, files: &mut Vec<PathBuf>) -> io::Result<()> {
    let metadata = std::fs::metadata(path)
        .map_err(|error| io::Error::new(error.kind(), format!("{}: {error}", path.display())))?;
    if !metadata.is_dir() {
        files.push(path.to_path_buf());
        return Ok(());
    }
    walk_dir(path, files)
}

fn walk_dir(path: &Path, files: &mut Vec<PathBuf>) -> io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|entry| {
            !entry
                .file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with('.'))
        })
        .collect();
    entries.sort();
    for entry in entries {
        let name = entry
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        if entry.is_dir() {
            if name != "cloudtrail-digest" {
                walk_dir(&entry, files)?;
            }
        } else if LOG_FILE_ENDINGS.iter().any(|ending| name.ends_with(ending)) {
            files.push(entry);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_directories_in_order_taking_log_files_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("b")).expect("mkdir");
        std::fs::create_dir_all(dir.path().join("CloudTrail-Digest")).expect("mkdir");
        for name in [
            "b/2.json",
            "a.json",
            ".hidden.json",
            "b/1.jsonl.gz",
            "README.md",
            "CloudTrail-Digest/d.json.gz",
        ] {
            std::fs::write(dir.path().join(name), "{}").expect("write");
        }
        let files = collect(&[dir.path().to_path_buf()]).expect("walk");
        let names: Vec<String> = files
            .iter()
            .map(|file| {
                file.strip_prefix(dir.path())
                    .expect("inside")
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(names, ["a.json", "b/1.jsonl.gz", "b/2.json"]);
        // Named files are taken whatever their name.
        let named = collect(&[dir.path().join("README.md")]).expect("walk");
        assert_eq!(named.len(), 1);
        assert!(collect(&[dir.path().join("missing")]).is_err());
    }
}
