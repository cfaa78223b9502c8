//! Locks between processes: the app and the CLI run at the same time on one profile (a
//! `keyhaven run` in a terminal while the window rotates a key). Each read-modify-write of a
//! file they share (the catalog, the settings, the local key records, the key links, the file
//! vault) and each rotation holds an OS lock on a small lock file beside what it guards: `flock`
//! on Unix, `LockFileEx` on Windows (`std::fs::File::lock`). The OS releases it when the holder
//! closes the file or dies, so a crashed process never leaves a lock behind.
//!
//! The lock belongs to the open file, not the process: two holders in one process exclude each
//! other as two processes do, which is what the tests use.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use crate::catalog::create_private_dir;
use crate::error::{Error, Result};

/// An exclusive lock, released when dropped.
#[derive(Debug)]
pub struct FileLock {
    _file: File,
    path: PathBuf,
}

fn open(path: &Path) -> Result<File> {
    if let Some(dir) = path.parent() {
        create_private_dir(dir)?;
    }
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|source| Error::Catalog {
            action: "open the lock file",
            path: path.to_path_buf(),
            source,
        })
}

impl FileLock {
    /// Waits until `path` is locked by this holder alone. Holders keep these locks for a file
    /// operation, so the wait is short.
    pub fn exclusive(path: &Path) -> Result<FileLock> {
        let file = open(path)?;
        file.lock().map_err(|source| Error::Catalog {
            action: "lock",
            path: path.to_path_buf(),
            source,
        })?;
        Ok(FileLock {
            _file: file,
            path: path.to_path_buf(),
        })
    }

    /// [`FileLock::exclusive`] for a lock held across `.await`s: the wait happens on the blocking
    /// pool, so a runtime thread is never stuck behind a holder that needs it to go on.
    pub async fn exclusive_async(path: PathBuf) -> Result<FileLock> {
        tokio::task::spawn_blocking(move || FileLock::exclusive(&path))
            .await
            .map_err(|_| Error::TaskFailed {
                during: "waiting for a lock",
            })?
    }

    /// Locks `path` if no one else holds it; `None` if another holder does.
    pub fn try_exclusive(path: &Path) -> Result<Option<FileLock>> {
        let file = open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(FileLock {
                _file: file,
                path: path.to_path_buf(),
            })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(source)) => Err(Error::Catalog {
                action: "lock",
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The lock file that guards `file`: `.NAME.lock` in the same folder.
pub fn lock_path_for(file: &Path) -> PathBuf {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    file.with_file_name(format!(".{name}.lock"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_waits_or_is_told_and_a_dropped_lock_frees_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = lock_path_for(&dir.path().join("sub").join("catalog.json"));
        assert!(path.ends_with("sub/.catalog.json.lock"));
        let first = FileLock::exclusive(&path).expect("lock");
        assert!(FileLock::try_exclusive(&path).expect("try").is_none());
        let waiter = {
            let path = path.clone();
            std::thread::spawn(move || FileLock::exclusive(&path).map(|_| ()))
        };
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(!waiter.is_finished(), "the second holder waits");
        drop(first);
        waiter.join().expect("thread").expect("locked once freed");
        assert!(FileLock::try_exclusive(&path).expect("try").is_some());
    }
}
