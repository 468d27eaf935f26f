//! New outputs' names, claimed when a job starts.

use super::*;

/// A new output's name, `PREFIX-N` (plus `.EXT` for a file) under `parent`,
/// taken on disk when the job starts (an empty folder or file, made only if
/// absent), so two jobs started together never share one. Dropped while
/// still empty (the job failed or was cancelled), it is removed again.
pub(crate) struct Reserved(PathBuf);

impl Reserved {
    pub(crate) fn new(parent: &Path, prefix: &str, ext: Option<&str>) -> CmdResult<Reserved> {
        std::fs::create_dir_all(parent).map_err(text_io(parent))?;
        for i in 1.. {
            let p = match ext {
                Some(e) => parent.join(format!("{prefix}-{i}.{e}")),
                None => parent.join(format!("{prefix}-{i}")),
            };
            let made = match ext {
                Some(_) => std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&p)
                    .map(drop),
                None => std::fs::create_dir(&p),
            };
            match made {
                Ok(()) => return Ok(Reserved(p)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(text_io(&p)(e)),
            }
        }
        unreachable!("some number is free")
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    /// Keeps the name even while empty (a record points to it).
    pub(crate) fn keep(mut self) -> PathBuf {
        std::mem::take(&mut self.0)
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        let p = &self.0;
        if p.as_os_str().is_empty() {
            return;
        }
        if std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.len() == 0) {
            let _ = std::fs::remove_file(p);
        } else {
            // Fails, as it should, unless the folder is empty.
            let _ = std::fs::remove_dir(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_names_are_distinct_and_released_when_unused() {
        let d = tempfile::tempdir().unwrap();
        let parent = d.path().join("predictions");
        let a = Reserved::new(&parent, "predictions", Some("jsonl")).unwrap();
        let b = Reserved::new(&parent, "predictions", Some("jsonl")).unwrap();
        assert_ne!(a.path(), b.path());
        assert!(a.path().ends_with("predictions-1.jsonl"));
        std::fs::write(b.path(), "{}\n").unwrap();
        let (pa, pb) = (a.path().to_path_buf(), b.path().to_path_buf());
        drop((a, b));
        assert!(!pa.exists(), "an unused reservation stays");
        assert!(pb.is_file(), "a written output was removed");
        // The freed number is taken again; folders work the same way.
        let c = Reserved::new(&parent, "predictions", Some("jsonl")).unwrap();
        assert_eq!(c.path(), pa);
        let f = Reserved::new(d.path(), "run", None).unwrap();
        assert!(f.path().is_dir());
        let kept = f.keep();
        assert!(kept.is_dir());
    }
}
