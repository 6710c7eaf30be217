//! Saving a file so that it is all there or not there at all.
//!
//! 1. The body goes into a temporary file in `--dir` ([`TempFile`]).
//! 2. `sync_all` makes its bytes durable.
//! 3. A rename gives it its real name in one step ([`TempFile::persist`]);
//!    without `--overwrite` the rename itself refuses a name that is taken.
//! 4. The folder is synced ([`sync_dir`]), so the new name is durable too.
//!
//! Anything that stops an upload before step 3 drops the `TempFile`, which
//! deletes it. A signal ends the process without `Drop`, so the path is also
//! kept where the signal handler finds it ([`remove_unfinished_upload`]). And
//! `kill -9` or a power cut, which nothing can catch, leave a temporary file
//! that the next server removes at start ([`remove_leftovers`]).

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, bail};

/// How every temporary file's name starts and ends: `.upload-<pid>-<n>.part`.
const TEMP_PREFIX: &str = ".upload-";
const TEMP_SUFFIX: &str = ".part";

/// True for the names of temporary files (`.upload-….part`). No client may
/// upload a file under such a name: the server would take it for a leftover.
pub fn is_temporary_name(name: &str) -> bool {
    name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX)
}

// ANCHOR: temp_file
/// A temporary file inside `--dir` that deletes itself unless it is kept.
///
/// Its name is `.upload-<pid>-<n>.part`: the dot hides it from `ls`, the
/// process id and a counter that only goes up make two uploads of this server
/// never share one, and it is created with `create_new` (`O_EXCL`), which
/// fails instead of opening a file that is already there, so it can never
/// clobber anything. Being in `--dir` itself matters: a rename is atomic only
/// within one file system.
///
/// The server holds a lock (`flock`) on the file for as long as it has it
/// open. The kernel releases a process's locks when the process ends,
/// however it ends, so a temporary file that nobody holds locked was left by
/// a server that is gone: [`remove_leftovers`] removes exactly those.
///
/// `Drop` removes the file. Every way out of an upload that is not
/// [`TempFile::persist`] (a short body, a time-out, a full disk, an early
/// `return` added in an exercise, a panic) therefore leaves nothing behind.
pub struct TempFile {
    path: PathBuf,
    /// The open file; the body is written here.
    pub file: File,
    kept: bool,
}

/// How many names [`TempFile::create_in`] tries before it gives up.
const TEMP_ATTEMPTS: usize = 100;

/// Numbers the temporary files of this process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl TempFile {
    /// Creates and locks a new temporary file in `dir`.
    pub fn create_in(dir: &Path) -> io::Result<TempFile> {
        // Each retry below has a reason that goes away by itself (a leftover
        // name, a sweep at this very moment); a bound keeps a file system
        // that behaves oddly from turning that into an endless loop.
        for _ in 0..TEMP_ATTEMPTS {
            let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
            let name = format!("{TEMP_PREFIX}{}-{n}{TEMP_SUFFIX}", std::process::id());
            let path = dir.join(name);
            let file = match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => file,
                // Left over from an earlier server with the same pid: take
                // the next number.
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(err) => return Err(err),
            };
            match file.try_lock() {
                Ok(()) => {}
                // Another server, starting at this very moment, locked it to
                // remove it as a leftover: let it, and take the next number.
                Err(TryLockError::WouldBlock) => continue,
                // A file system without locks: go on unlocked. A starting
                // server cannot lock the file either, so it leaves it alone.
                Err(TryLockError::Error(_)) => {}
            }
            // Between `open` and `try_lock` a starting server may have locked,
            // removed and unlocked the file: then the name is gone or is
            // someone else's, and we start again.
            if !still_named(&file, &path) {
                continue;
            }
            set_unfinished(Some(path.clone()));
            return Ok(TempFile {
                path,
                file,
                kept: false,
            });
        }
        Err(io::Error::other(format!(
            "no usable temporary name after {TEMP_ATTEMPTS} tries"
        )))
    }

    // ANCHOR: persist
    /// Gives the file its real name, `target`, in one step: anyone who opens
    /// `target` sees the old file (or none) or the new one, never half.
    ///
    /// With `overwrite` a file already at `target` is replaced. Without it,
    /// the rename fails with `AlreadyExists` if `target` exists *at the
    /// moment of the rename*. The server also checked before the body
    /// arrived, but a check followed by an act is a race: a file created in
    /// between (by another program, or another server on the same folder)
    /// would be replaced. Here the file system checks and acts in one step.
    pub fn persist(mut self, target: &Path, overwrite: bool) -> io::Result<()> {
        if overwrite {
            fs::rename(&self.path, target)?;
        } else {
            rename_no_replace(&self.path, target)?;
        }
        self.kept = true;
        set_unfinished(None);
        Ok(())
    }
    // ANCHOR_END: persist
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.kept {
            // Nothing more can be done if this fails; the next server's
            // start-up removes the file.
            let _ = fs::remove_file(&self.path);
            set_unfinished(None);
        }
    }
}
// ANCHOR_END: temp_file

// ANCHOR: rename_no_replace
/// Renames `from` to `to`, failing with `AlreadyExists` if `to` exists.
///
/// Linux has a rename that checks in the same step: `renameat2` with
/// `RENAME_NOREPLACE`. A file system that does not know the flag answers
/// `EINVAL` (and a kernel older than 3.15 `ENOSYS`); then, and on other
/// systems, [`link_then_unlink`] does the same job.
fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        use rustix::io::Errno;
        match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
            Ok(()) => return Ok(()),
            Err(Errno::INVAL | Errno::NOSYS) => {} // not supported here
            Err(errno) => return Err(errno.into()),
        }
    }
    link_then_unlink(from, to)
}

/// The portable no-replace rename: a hard link never replaces an existing
/// name, it fails with `AlreadyExists`, atomically. Once the second name is
/// there the temporary one is removed; if that fails the file is saved all
/// the same, and the leftover name is removed at the next start.
fn link_then_unlink(from: &Path, to: &Path) -> io::Result<()> {
    fs::hard_link(from, to)?;
    let _ = fs::remove_file(from);
    Ok(())
}
// ANCHOR_END: rename_no_replace

/// Flushes a directory's entries to disk, so a rename survives a power cut.
/// On Unix a directory can be opened and synced like a file; elsewhere this
/// is not possible and the rename's own durability has to do.
///
/// No test can observe this (nor the file's own `sync_all`): what they buy
/// shows only after a power cut, and until then the kernel serves the same
/// bytes from its cache with or without them.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    if cfg!(unix) {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// True if `path` still names the file `file` has open (not another file,
/// and not nothing). On Unix a file is its device and inode number; other
/// systems have no cheap way to ask, and are trusted.
fn still_named(file: &File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), fs::symlink_metadata(path)) {
            (Ok(open), Ok(named)) => open.dev() == named.dev() && open.ino() == named.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (file, path);
        true
    }
}

// ANCHOR: remove_leftovers
/// Removes the temporary files in `dir` that no running server holds, and
/// returns their names.
///
/// A server killed with `kill -9` (or by a power cut) leaves its temporary
/// file behind. Its name holds the old server's pid, but a pid proves
/// little: once the process is gone the number can be given to another. The
/// lock is better evidence. Every server locks its temporary files, and the
/// kernel releases a lock the moment its process ends, so if this server can
/// take the lock, nobody alive holds the file.
pub fn remove_leftovers(dir: &Path) -> io::Result<Vec<String>> {
    let mut removed = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !is_temporary_name(&name) {
            continue;
        }
        let path = entry.path();
        let Ok(file) = File::open(&path) else {
            continue; // gone meanwhile, or not ours to open
        };
        if file.try_lock().is_err() {
            continue; // a live server's (or a file system without locks)
        }
        if still_named(&file, &path) && fs::remove_file(&path).is_ok() {
            removed.push(name);
        }
    }
    Ok(removed)
}
// ANCHOR_END: remove_leftovers

/// The temporary file of the upload in progress, if any. A signal (Ctrl-C,
/// `kill`) ends the process without running `Drop`, so the server's signal
/// handler removes this one by name: see [`remove_unfinished_upload`].
static UNFINISHED: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Records (or, with `None`, forgets) the upload in progress.
fn set_unfinished(path: Option<PathBuf>) {
    // A poisoned lock only means another thread panicked while holding it;
    // the path inside is still right.
    let mut slot = UNFINISHED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    *slot = path;
}

/// Removes the temporary file of the upload in progress, if there is one.
/// For the server's signal handler, just before the process exits.
pub fn remove_unfinished_upload() {
    let mut slot = UNFINISHED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(path) = slot.take() {
        let _ = fs::remove_file(path);
    }
}

/// Creates `dir` if it is missing and proves the server can write there, so
/// that an unusable `--dir` is an error at start, not at the first upload.
pub fn prepare_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() && !dir.is_dir() {
        bail!("cannot use --dir {}: it is not a folder", dir.display());
    }
    let created = !dir.exists();
    fs::create_dir_all(dir).with_context(|| format!("cannot use --dir {}", dir.display()))?;
    // Creating (and, on drop, removing) a temporary file is exactly what an
    // upload does first.
    if let Err(err) = TempFile::create_in(dir) {
        if created {
            // A failed start leaves nothing behind (`remove_dir` removes
            // only an empty folder).
            let _ = fs::remove_dir(dir);
        }
        return Err(err).with_context(|| format!("cannot write into --dir {}", dir.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(test: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("lesson-04-unit-{test}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("creating a scratch folder");
        dir
    }

    #[test]
    fn link_then_unlink_refuses_a_taken_name_and_moves_a_free_one() {
        let dir = scratch("link");
        let from = dir.join("from");
        let taken = dir.join("taken");
        fs::write(&from, b"new").expect("writing from");
        fs::write(&taken, b"old").expect("writing taken");
        let err = link_then_unlink(&from, &taken).expect_err("the name is taken");
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&taken).expect("reading taken"), b"old");
        link_then_unlink(&from, &dir.join("free")).expect("a free name");
        assert_eq!(fs::read(dir.join("free")).expect("reading free"), b"new");
        assert!(!from.exists(), "the old name must be gone");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn still_named_tells_the_same_file_from_another_or_none() {
        let dir = scratch("named");
        let path = dir.join("a");
        fs::write(&path, b"first").expect("writing a");
        let file = File::open(&path).expect("opening a");
        assert!(still_named(&file, &path), "the same file");
        fs::remove_file(&path).expect("removing a");
        assert!(!still_named(&file, &path), "no file by that name any more");
        fs::write(&path, b"second").expect("writing another a");
        assert!(!still_named(&file, &path), "another file by that name");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_locked_temporary_file_survives_the_sweep_and_an_unlocked_one_does_not() {
        let dir = scratch("sweep");
        let live = TempFile::create_in(&dir).expect("creating a temporary file");
        let leftover = dir.join(".upload-1-1.part");
        fs::write(&leftover, b"left behind").expect("writing a leftover");
        fs::write(dir.join("kept.txt"), b"a real file").expect("writing kept.txt");
        let removed = remove_leftovers(&dir).expect("sweeping");
        assert_eq!(removed, [".upload-1-1.part"]);
        assert!(live.path.exists(), "the live temporary file must stay");
        assert!(dir.join("kept.txt").exists(), "other files must stay");
        drop(live);
        let _ = fs::remove_dir_all(&dir);
    }
}
