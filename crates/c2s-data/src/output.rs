//! Outputs written safely: a job claims its output before it starts (a second
//! job writing the same place is refused), replaces only what this program
//! wrote and never a folder that holds an input, and publishes by renaming a
//! complete temporary copy. Temporary folders left by killed processes are
//! removed by the next run.

use crate::error::{DataError, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The folder `path` lives in ("." for a bare name).
pub fn parent_of(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// An exclusive claim on an output, held until dropped. The kernel releases
/// the lock when the process dies, so a killed job never blocks the next one.
#[derive(Debug)]
pub struct Claim {
    lock: File,
    path: PathBuf,
}

impl Drop for Claim {
    /// Removes the lock file while still holding it: a job that opened it
    /// meanwhile finds, once it gets the lock, that the path no longer names
    /// its file, and starts over (see [`claim_file`]).
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let _ = self.lock.unlock();
    }
}

/// Claims `output` (a file or folder, existing or not) for this process,
/// through a hidden `.NAME.c2s-lock` beside it.
pub fn claim(output: &Path) -> Result<Claim> {
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    let dir = parent_of(output);
    std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
    let path = dir.join(format!(".{name}.c2s-lock"));
    claim_file(&path, output)
}

/// Claims `output` through the lock file `lock` (for outputs that keep it
/// inside, such as a training run's folder).
pub fn claim_file(lock: &Path, output: &Path) -> Result<Claim> {
    loop {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(lock)
            .map_err(|e| DataError::io(lock, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(DataError::Output {
                    path: output.to_path_buf(),
                    problem: "another C2S Studio job is writing here now".into(),
                    hint: "wait for it to finish (or stop it), or choose another output".into(),
                })
            }
            Err(TryLockError::Error(e)) => return Err(DataError::io(lock, e)),
        }
        if still_named(&file, lock) {
            return Ok(Claim {
                lock: file,
                path: lock.to_path_buf(),
            });
        }
    }
}

/// Whether `path` still names the open `file` (its last holder may have
/// removed it between our open and our lock).
#[cfg(unix)]
fn still_named(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

/// Windows has no cheap file identity in std; a file open elsewhere is only
/// marked for deletion there, so the path still resolves while it is held.
#[cfg(not(unix))]
fn still_named(_file: &File, path: &Path) -> bool {
    path.exists()
}

/// What marks a folder as one this program wrote.
#[derive(Debug, Clone, Copy)]
pub enum Written {
    /// `c2s convert`: manifest.json with `"format": "c2s-dataset"`.
    Dataset,
    /// `c2s eval`: metrics.json beside report.html.
    Report,
}

impl Written {
    fn recognises(self, dir: &Path) -> bool {
        match self {
            Written::Dataset => crate::manifest::Manifest::is_in(dir),
            Written::Report => {
                dir.join("metrics.json").is_file() && dir.join("report.html").is_file()
            }
        }
    }

    fn what(self) -> &'static str {
        match self {
            Written::Dataset => "a dataset folder written by c2s convert (with its manifest.json)",
            Written::Report => "a report folder written by c2s eval (metrics.json and report.html)",
        }
    }
}

/// Checks that the folder `output` may be written: it is absent, or `force`
/// is given and it is an empty folder or one this program wrote as `kind`,
/// holding none of `inputs`.
pub fn check_folder(output: &Path, kind: Written, force: bool, inputs: &[&Path]) -> Result<()> {
    let Ok(meta) = std::fs::symlink_metadata(output) else {
        return Ok(());
    };
    let refuse = |problem: String, hint: &str| {
        Err(DataError::Output {
            path: output.to_path_buf(),
            problem,
            hint: hint.into(),
        })
    };
    if !force {
        return refuse(
            "the output folder already exists".into(),
            "choose another output folder, or add --force to replace it",
        );
    }
    if !meta.is_dir() {
        return refuse(
            "this is not a folder, and --force replaces only a folder C2S Studio wrote".into(),
            "choose a new folder name for the output",
        );
    }
    if let Ok(out) = output.canonicalize() {
        for input in inputs {
            if input.canonicalize().is_ok_and(|i| i.starts_with(&out)) {
                return refuse(
                    format!("the folder holds the input {}", input.display()),
                    "choose an output folder outside the input's folder",
                );
            }
        }
    }
    let empty = std::fs::read_dir(output)
        .map_err(|e| DataError::io(output, e))?
        .next()
        .is_none();
    if !empty && !kind.recognises(output) {
        return refuse(
            format!(
                "--force replaces only {}; this folder is not one",
                kind.what()
            ),
            "choose a new folder name, or move this folder's files away yourself",
        );
    }
    Ok(())
}

/// A temporary folder beside an output, named `PREFIX...`, that the next run
/// can tell apart from a live job's: its `.c2s-owner` file stays locked while
/// the job that made it runs.
pub struct TempFolder {
    // Declared first, so dropped (unlocked, closed) before the folder is
    // removed: Windows cannot remove a folder holding an open file.
    _owner: File,
    dir: Option<tempfile::TempDir>,
}

const OWNER: &str = ".c2s-owner";

impl TempFolder {
    /// Makes the folder in `parent`, after removing those of dead jobs.
    pub fn new_in(parent: &Path, prefix: &str) -> Result<TempFolder> {
        std::fs::create_dir_all(parent).map_err(|e| DataError::io(parent, e))?;
        remove_stale(parent, prefix);
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in(parent)
            .map_err(|e| DataError::io(parent, e))?;
        // Locked before it takes its name (the lock goes with the open file
        // through the rename), so an owner file that is free is a dead job's.
        let owner_path = dir.path().join(OWNER);
        let staged = dir.path().join(".c2s-owner.new");
        let owner = File::create(&staged).map_err(|e| DataError::io(&staged, e))?;
        owner.lock().map_err(|e| DataError::io(&staged, e))?;
        std::fs::rename(&staged, &owner_path).map_err(|e| DataError::io(&owner_path, e))?;
        Ok(TempFolder {
            _owner: owner,
            dir: Some(dir),
        })
    }

    pub fn path(&self) -> &Path {
        self.dir.as_ref().expect("present until published").path()
    }

    /// Replaces `output` (checked beforehand with [`check_folder`]) by this
    /// folder. On failure the temporary folder is removed, not kept.
    pub fn publish(mut self, output: &Path) -> Result<()> {
        let dir = self.dir.take().expect("present until published");
        let owner = dir.path().join(OWNER);
        std::fs::remove_file(&owner).map_err(|e| DataError::io(&owner, e))?;
        if std::fs::symlink_metadata(output).is_ok_and(|m| m.is_dir()) {
            std::fs::remove_dir_all(output).map_err(|e| DataError::io(output, e))?;
        }
        // The TempDir removes the folder if the rename fails.
        std::fs::rename(dir.path(), output).map_err(|e| DataError::io(output, e))?;
        let _ = dir.keep();
        Ok(())
    }
}

/// Removes the `PREFIX*` folders in `parent` whose job is gone: the owner
/// lock is free (the kernel dropped it with the process), or there is no
/// owner file a minute after the folder was made (its job died between the
/// two, or it is an older version's). Best effort: a folder that cannot be
/// removed is left for the next run.
pub(crate) fn remove_stale(parent: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    let now = SystemTime::now();
    let age = |p: &Path| {
        std::fs::metadata(p)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .unwrap_or_default()
    };
    for e in entries.flatten() {
        let path = e.path();
        let named = e.file_name().to_string_lossy().starts_with(prefix);
        if !named || !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let owner = path.join(OWNER);
        let dead = match File::open(&owner) {
            Ok(f) => f.try_lock().is_ok(),
            // A moment's grace: the maker makes the folder, then the file.
            Err(_) => age(&path) > Duration::from_secs(60),
        };
        if dead {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

const TEMP_FILE_PREFIX: &str = ".c2s-file-";

/// A file output written through a temporary file in a hidden folder beside
/// it (`.c2s-file-*`, cleared by the next job if this one dies), renamed into
/// place when complete. An existing file is replaced only with `force`, and
/// keeps its permissions; a new one gets the usual ones (umask applies).
pub(crate) struct FileOutput {
    path: PathBuf,
    // Declared before the folder, so removed before it.
    tmp: tempfile::NamedTempFile,
    _folder: TempFolder,
    keep: Option<std::fs::Permissions>,
}

impl FileOutput {
    pub fn create(path: &Path, force: bool) -> Result<FileOutput> {
        check_file(path, force)?;
        let existing = std::fs::metadata(path).ok();
        let dir = parent_of(path);
        std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
        // In a temporary folder of its own, whose locked owner file tells
        // the next job whether this one died (HDF5 locks the file it writes,
        // so the file itself cannot carry our lock).
        let folder = TempFolder::new_in(dir, TEMP_FILE_PREFIX)?;
        let mut b = tempfile::Builder::new();
        b.prefix("output").suffix(".tmp");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            b.permissions(std::fs::Permissions::from_mode(0o666));
        }
        let tmp = b
            .tempfile_in(folder.path())
            .map_err(|e| DataError::io(folder.path(), e))?;
        Ok(FileOutput {
            path: path.to_path_buf(),
            tmp,
            _folder: folder,
            keep: existing.map(|m| m.permissions()),
        })
    }

    /// Where to write (a file that is removed unless committed).
    pub(crate) fn temp_path(&self) -> &Path {
        self.tmp.path()
    }

    pub fn file(&mut self) -> &mut File {
        self.tmp.as_file_mut()
    }

    /// Renames the written file onto the output.
    pub fn commit(self) -> Result<()> {
        if let Some(p) = self.keep {
            std::fs::set_permissions(self.tmp.path(), p)
                .map_err(|e| DataError::io(&self.path, e))?;
        }
        self.tmp
            .persist(&self.path)
            .map_err(|e| DataError::io(&self.path, e.error))?;
        Ok(())
    }
}

/// Checks that the file `path` may be written: absent, or replaced with
/// `force`; never a folder.
pub(crate) fn check_file(path: &Path, force: bool) -> Result<()> {
    let problem = match std::fs::metadata(path) {
        Err(_) => return Ok(()),
        Ok(m) if m.is_dir() => "this is a folder; a file was expected",
        Ok(_) if !force => "the file already exists",
        Ok(_) => return Ok(()),
    };
    Err(DataError::Output {
        path: path.to_path_buf(),
        problem: problem.into(),
        hint: "choose another output file, or add --force to replace it".into(),
    })
}

/// Claims the file output `path` for a whole job and checks it may be
/// written ([`check_file`]): a second job writing the same file meanwhile is
/// refused, and once this one is done, the file exists (replaced only with
/// `force`).
pub fn claim_file_output(path: &Path, force: bool) -> Result<Claim> {
    let c = claim(path)?;
    check_file(path, force)?;
    Ok(c)
}

/// Writes `bytes` to `path` as [`FileOutput`] does.
pub fn write_file(path: &Path, bytes: &[u8], force: bool) -> Result<()> {
    use std::io::Write;
    let mut out = FileOutput::create(path, force)?;
    let tmp = out.temp_path().to_path_buf();
    out.file()
        .write_all(bytes)
        .map_err(|e| DataError::io(&tmp, e))?;
    out.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_is_exclusive_and_released_on_drop() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("ds");
        let first = claim(&out).unwrap();
        let err = claim(&out).unwrap_err().to_string();
        assert!(err.contains("another C2S Studio job"), "{err}");
        drop(first);
        let again = claim(&out).unwrap();
        drop(again);
        // Nothing is left behind.
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
    }

    #[test]
    fn force_replaces_only_our_folders_without_inputs() {
        let d = tempfile::tempdir().unwrap();
        let mine = d.path().join("mine");
        std::fs::create_dir(&mine).unwrap();
        std::fs::write(mine.join("manifest.json"), r#"{"format": "c2s-dataset"}"#).unwrap();
        check_folder(&mine, Written::Dataset, true, &[]).unwrap();
        assert!(check_folder(&mine, Written::Dataset, false, &[]).is_err());
        assert!(check_folder(&mine, Written::Report, true, &[]).is_err());
        // Ours, but the input is inside it.
        let input = mine.join("data.h5ad");
        std::fs::write(&input, b"x").unwrap();
        let err = check_folder(&mine, Written::Dataset, true, &[&input])
            .unwrap_err()
            .to_string();
        assert!(err.contains("holds the input"), "{err}");
        // A folder of someone else's files.
        let theirs = d.path().join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        std::fs::write(theirs.join("notes.txt"), b"x").unwrap();
        assert!(check_folder(&theirs, Written::Dataset, true, &[]).is_err());
        // A file, even with --force.
        assert!(check_folder(&input, Written::Dataset, true, &[]).is_err());
        // Empty, or absent: fine.
        std::fs::remove_file(theirs.join("notes.txt")).unwrap();
        check_folder(&theirs, Written::Dataset, true, &[]).unwrap();
        check_folder(&d.path().join("new"), Written::Dataset, false, &[]).unwrap();
    }

    #[test]
    fn stale_temporary_folders_go_live_ones_stay() {
        let d = tempfile::tempdir().unwrap();
        let live = TempFolder::new_in(d.path(), ".c2s-t-").unwrap();
        // A dead job's folder: its owner file exists, unlocked, and is old.
        let dead = d.path().join(".c2s-t-dead");
        std::fs::create_dir(&dead).unwrap();
        let owner = File::create(dead.join(OWNER)).unwrap();
        owner
            .set_modified(SystemTime::now() - Duration::from_secs(60))
            .unwrap();
        drop(owner);
        // One that died before its owner file: kept for a minute, then cleared.
        let unowned = d.path().join(".c2s-t-unowned");
        std::fs::create_dir(&unowned).unwrap();
        remove_stale(d.path(), ".c2s-t-");
        assert!(!dead.exists());
        assert!(unowned.exists());
        File::open(&unowned)
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(120))
            .unwrap();
        remove_stale(d.path(), ".c2s-t-");
        assert!(!unowned.exists());
        assert!(live.path().exists());
        let target = d.path().join("out");
        live.publish(&target).unwrap();
        assert!(target.is_dir() && !target.join(OWNER).exists());
    }

    #[test]
    fn a_dead_jobs_temporary_file_goes_a_live_ones_stays() {
        let d = tempfile::tempdir().unwrap();
        let live = FileOutput::create(&d.path().join("a.jsonl"), false).unwrap();
        // What `kill -9` leaves: a folder whose owner file nobody locks.
        let dead = d.path().join(".c2s-file-killed");
        std::fs::create_dir(&dead).unwrap();
        std::fs::write(dead.join(OWNER), "").unwrap();
        std::fs::write(dead.join("output.tmp"), "half").unwrap();
        write_file(&d.path().join("b.jsonl"), b"x", false).unwrap();
        assert!(!dead.exists(), "a dead job's temporary file was kept");
        assert!(live.temp_path().is_file(), "a live job's file was removed");
        live.commit().unwrap();
        let names: Vec<String> = std::fs::read_dir(d.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn file_outputs_refuse_without_force_and_keep_the_mode() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("cells.jsonl");
        write_file(&p, b"one\n", false).unwrap();
        let err = write_file(&p, b"two\n", false).unwrap_err().to_string();
        assert!(err.contains("already exists"), "{err}");
        assert_eq!(std::fs::read(&p).unwrap(), b"one\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
            write_file(&p, b"two\n", true).unwrap();
            assert_eq!(
                std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o640
            );
            // A new file gets a plain file's mode, not tempfile's private one.
            let q = d.path().join("new.jsonl");
            write_file(&q, b"x", false).unwrap();
            let plain = d.path().join("plain");
            std::fs::write(&plain, b"x").unwrap();
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&q), mode(&plain));
            std::fs::remove_file(&plain).unwrap();
        }
        assert_eq!(std::fs::read(&p).unwrap(), b"two\n");
        // Nothing temporary is left.
        let left: Vec<_> = std::fs::read_dir(d.path()).unwrap().flatten().collect();
        assert_eq!(left.len(), if cfg!(unix) { 2 } else { 1 });
    }
}
