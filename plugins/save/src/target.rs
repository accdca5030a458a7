//! An output file named by a config key: resolved and checked from its metadata before anything
//! opens it, then opened without destroying anything that should survive.
//!
//! A capture may belong to a proxy that is still writing it, so opening is ordered: open without
//! truncating, take an exclusive advisory lock (held as long as the file is open), and only then
//! truncate, if there is anything to cut. A second instance on the same file fails on the lock
//! and leaves the file as it was. Anything but a regular file or a character device
//! (`/dev/null`) is refused before opening: a FIFO would block the open until someone reads it.
//!
//! Captures hold what users typed, so a file is given the configured `mode` (`0600` unless told
//! otherwise) when it is opened, whether it was just created or is being overwritten: the umask
//! does not widen or narrow it, and a file left world-readable by an earlier run is tightened.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

use ctiproxy_plugin_api::{ConfigError, FileKind};

use crate::config::Mode;

/// A checked output file, not yet opened.
#[derive(Debug)]
pub struct Target {
    /// The config key that named it, for errors.
    pub key: &'static str,
    /// The path as configured.
    pub path: PathBuf,
    /// The canonical path (for a file not created yet: its directory's, plus its name), so that
    /// two spellings of one file (`same.txt`, `./same.txt`) are recognised as one.
    pub identity: PathBuf,
    /// Whether it is a device: written as it is, never truncated, locked or claimed (several
    /// writers may share `/dev/null`).
    pub device: bool,
    append: bool,
    mode: Mode,
}

impl Target {
    /// Checks the path named by `key` without opening it: not empty, a regular file, a character
    /// device or nothing yet (in an existing directory).
    pub fn resolve(
        key: &'static str,
        path: &Path,
        append: bool,
        mode: Mode,
    ) -> Result<Target, ConfigError> {
        if path.as_os_str().is_empty() {
            return Err(ConfigError::at(key, "must not be empty: give a file path"));
        }
        let target = |identity, device| Target {
            key,
            path: path.to_owned(),
            identity,
            device,
            append,
            mode,
        };
        let metadata = match fs::metadata(path) {
            Ok(metadata) => metadata,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(target(
                    new_file_identity(path).map_err(|e| fail(key, path, append, e))?,
                    false,
                ))
            }
            Err(e) => return Err(fail(key, path, append, e.to_string())),
        };
        let device = match FileKind::of(&metadata) {
            FileKind::Regular => false,
            FileKind::CharDevice => true,
            kind => {
                return Err(fail(key, path, append, format!("it is {kind}, not a regular file")))
            }
        };
        let identity =
            fs::canonicalize(path).map_err(|e| fail(key, path, append, e.to_string()))?;
        Ok(target(identity, device))
    }

    /// What `ctiproxy check` does instead of opening for real: an existing file must open for
    /// appending (which changes nothing in it); a new one is not created.
    pub fn probe(&self) -> Result<(), ConfigError> {
        if self.path.exists() {
            self.open_untouched(true).map(drop)?;
        }
        Ok(())
    }

    /// Opens the file for writing: created if need be, locked, then emptied unless `append`.
    pub fn open(&self) -> Result<File, ConfigError> {
        let file = self.open_untouched(self.append)?;
        if self.device {
            return Ok(file);
        }
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(self.error(
                    "another process is writing to it (is a ctiproxy already running with this \
                     file?); it was left untouched"
                        .into(),
                ))
            }
            Err(TryLockError::Error(e)) => return Err(self.error(format!("cannot lock it: {e}"))),
        }
        set_mode(&file, self.mode).map_err(|e| self.error(format!("cannot set its mode: {e}")))?;
        if !self.append && !is_empty(&file) {
            file.set_len(0).map_err(|e| self.error(format!("cannot truncate it: {e}")))?;
        }
        Ok(file)
    }

    /// Opens without truncating; refuses what turned out not to be a regular file or a device
    /// (the path changed since [`Target::resolve`]).
    fn open_untouched(&self, append: bool) -> Result<File, ConfigError> {
        let mut options = OpenOptions::new();
        options.create(true);
        if append {
            options.append(true);
        } else {
            options.write(true);
        }
        #[cfg(unix)]
        {
            // Should the path have become a FIFO since it was checked, fail instead of waiting.
            use std::os::unix::fs::OpenOptionsExt;
            options.custom_flags(libc::O_NONBLOCK);
            // Never readable by others, not even between creating and `set_mode`.
            options.mode(self.mode.0 & 0o600);
        }
        let file = options.open(&self.path).map_err(|e| self.error(e.to_string()))?;
        let metadata = file.metadata().map_err(|e| self.error(e.to_string()))?;
        match FileKind::of(&metadata) {
            FileKind::Regular | FileKind::CharDevice => Ok(file),
            kind => Err(self.error(format!("it is {kind}, not a regular file"))),
        }
    }

    fn error(&self, reason: String) -> ConfigError {
        fail(self.key, &self.path, self.append, reason)
    }
}

#[cfg(unix)]
fn set_mode(file: &File, mode: Mode) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(mode.0))
}

#[cfg(not(unix))]
fn set_mode(_file: &File, _mode: Mode) -> io::Result<()> {
    Ok(())
}

/// `KEY: cannot create PATH: REASON` (`cannot open` when appending).
fn fail(key: &str, path: &Path, append: bool, reason: impl std::fmt::Display) -> ConfigError {
    let verb = if append { "open" } else { "create" };
    ConfigError::at(key, format!("cannot {verb} {}: {reason}", path.display()))
}

/// The canonical path a file not created yet will have: its directory must exist.
fn new_file_identity(path: &Path) -> Result<PathBuf, String> {
    let name = path.file_name().ok_or("not a file name")?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match fs::canonicalize(parent) {
        Ok(dir) if dir.is_dir() => Ok(dir.join(name)),
        Ok(_) => Err(format!("{} is not a directory", parent.display())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            Err(format!("directory {} does not exist", parent.display()))
        }
        Err(e) => Err(format!("directory {}: {e}", parent.display())),
    }
}

/// Whether `file` holds nothing, so truncating it would change nothing but the filesystem's
/// view of it: ext4 takes a truncation to zero for an application replacing the file's content
/// and, when the file is closed, writes all of it to disk in the closing thread. A new capture
/// of a few hundred megabytes then held the process's exit for a fifth of a second.
fn is_empty(file: &File) -> bool {
    file.metadata().is_ok_and(|metadata| metadata.len() == 0)
}
