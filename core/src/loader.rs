//! Finds plugin libraries, opening only those that may hold a plugin the pipeline needs.
//!
//! Search path, in order: the directories in `CTIPROXY_PLUGIN_PATH`, the config's
//! `[plugins] path`, the directory of the running executable (where cargo puts the built-in
//! plugins), then `../`[`INSTALLED_PLUGINS`] from that directory (where an install under a
//! prefix puts them: `PREFIX/bin` → `PREFIX/lib/ctiproxy/plugins`). Scanning reads file names
//! only ([`candidates`]); plugin `NAME` is then looked for in `libctiproxy_NAME.so` in each
//! directory in turn, then in the other `libctiproxy_*.so` files, directory by directory, in
//! file-name order, and the first library that exports it wins. Each library is opened at most once, after [`elf`] checked the file, through
//! [`library`]. Every failure names the file and the cause.

pub mod candidates;
pub mod elf;
pub mod library;
pub mod permissions;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use ctiproxy_plugin_api::Vtable;

pub use candidates::name_hint;
pub use library::{load_file, LoadError};

/// The environment variable listing extra plugin directories (`:`-separated).
pub const PLUGIN_PATH_VAR: &str = "CTIPROXY_PLUGIN_PATH";

/// Where an installation keeps the plugins, relative to the parent of the executable's
/// directory: binaries in `PREFIX/bin`, plugins in `PREFIX/lib/ctiproxy/plugins` (the Makefile's
/// `install`, the Debian package), so an installed command finds its plugins wherever it is run
/// from.
pub const INSTALLED_PLUGINS: &str = "lib/ctiproxy/plugins";

/// A usable plugin and the file it came from.
#[derive(Debug, Clone)]
pub struct Found {
    /// The checked functions and metadata.
    pub vtable: Vtable,
    /// The library.
    pub file: PathBuf,
}

/// A library that failed to load.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The library.
    pub file: PathBuf,
    /// Why.
    pub error: LoadError,
}

/// How `ctiproxy plugins` shows a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// What a pipeline entry of this name gets.
    Used,
    /// Another library wins for this name.
    Shadowed,
    /// The file is outside the naming convention: a run never opens it.
    NotSearched,
}

/// Everything `ctiproxy plugins` reports.
#[derive(Debug, Default)]
pub struct Inventory {
    /// Plugins, in search order.
    pub plugins: Vec<(Found, Standing)>,
    /// Libraries that are not usable plugins.
    pub failures: Vec<Failure>,
    /// Libraries outside the naming convention, not opened.
    pub unopened: Vec<PathBuf>,
}

/// The libraries of the search path, by name, and those opened so far.
#[derive(Debug, Default)]
pub struct Registry {
    dirs: Vec<PathBuf>,
    /// Libraries following the naming convention, in search order, each file once.
    candidates: Vec<(PathBuf, String)>,
    /// The other shared libraries of the search path.
    others: Vec<PathBuf>,
    opened: Mutex<Opened>,
}

#[derive(Debug, Default)]
struct Opened {
    /// By canonical path: a library reached through two names is opened once.
    libraries: HashMap<PathBuf, Result<Vec<Vtable>, LoadError>>,
    warned: HashSet<String>,
}

/// The directories searched, in order: `CTIPROXY_PLUGIN_PATH`, `extra`, the executable's, the
/// installed plugins beside it.
pub fn search_path(extra: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os(PLUGIN_PATH_VAR)
        .map(|v| std::env::split_paths(&v).filter(|p| !p.as_os_str().is_empty()).collect())
        .unwrap_or_default();
    dirs.extend(extra.iter().cloned());
    if let Some(dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf))
    {
        // Only an existing directory is listed, so that a development build's error message
        // ("searched: …") does not name a directory that was never there.
        let installed = dir.parent().map(|prefix| prefix.join(INSTALLED_PLUGINS));
        dirs.push(dir);
        dirs.extend(installed.filter(|d| d.is_dir()));
    }
    dirs
}

fn canonical(file: &Path) -> PathBuf {
    std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf())
}

impl Registry {
    /// Lists the libraries in `dirs` by file name, opening none.
    pub fn scan(dirs: Vec<PathBuf>) -> Registry {
        let mut registry = Registry { dirs, ..Registry::default() };
        let mut seen = HashSet::new();
        for dir in &registry.dirs {
            if dir.is_dir() {
                registry.warn_if_writable("directory", dir);
            }
            let listing = candidates::list(dir);
            registry.candidates.extend(
                listing.candidates.into_iter().filter(|(file, _)| seen.insert(canonical(file))),
            );
            registry
                .others
                .extend(listing.others.into_iter().filter(|f| seen.insert(canonical(f))));
        }
        registry
    }

    /// The directories searched, in order.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// The plugin a `[[pipeline]]` entry named `name` gets, opening candidates in search order
    /// until one exports it. Broken libraries passed on the way are warned about; when nothing
    /// is found, [`Registry::resolve`]'s error tells instead.
    pub fn get(&self, name: &str) -> Option<Found> {
        let mut skipped = Vec::new();
        let found = self.lookup(name, |file, error| skipped.push((file.to_path_buf(), error)))?;
        for (file, error) in skipped {
            self.warn_once(format!("Skipping plugin library {}: {error}", file.display()));
        }
        Some(found)
    }

    fn lookup(&self, name: &str, mut on_failure: impl FnMut(&Path, LoadError)) -> Option<Found> {
        let stem = candidates::stem_for(name);
        let named = self.candidates.iter().filter(|(_, s)| *s == stem);
        let rest = self.candidates.iter().filter(|(_, s)| *s != stem);
        named.chain(rest).find_map(|(file, _)| match self.open(file) {
            Ok(vtables) => vtables
                .into_iter()
                .find(|v| v.name == name)
                .map(|vtable| Found { vtable, file: file.clone() }),
            Err(error) => {
                on_failure(file, error);
                None
            }
        })
    }

    /// Finds plugin `name`, in `file` when given, else in the search path; a `file` without a
    /// name gives its only plugin. The error says what was tried: the broken library that looks
    /// like it, the libraries refused, or the plugins that exist.
    pub fn resolve(&self, name: Option<&str>, file: Option<&Path>) -> Result<Found, String> {
        let name = match (name, file) {
            (name, Some(file)) => return self.resolve_in_file(name, file),
            (Some(name), None) => name,
            (None, None) => return Err("no plugin name and no library".to_owned()),
        };
        if let Some(found) = self.get(name) {
            return Ok(found);
        }
        // Every candidate has been opened by now, so what is known is all there is.
        let mut known = Vec::new();
        let mut refused = Vec::new();
        for (file, _) in &self.candidates {
            match self.open(file) {
                Ok(vtables) => known.extend(vtables.into_iter().map(|v| v.name)),
                Err(error) if name_hint(file) == name || error.is_for(name) => {
                    return Err(format!("{}: {error}", file.display()))
                }
                Err(error) => refused.push(format!("{}: {error}", file.display())),
            }
        }
        known.sort_unstable();
        known.dedup();
        Err(self.unknown(name, &known, &refused))
    }

    /// Says that no library of the search path exports `name`: what they do export, which
    /// libraries were refused and why (one of them may be the plugin), and where we looked.
    fn unknown(&self, name: &str, known: &[String], refused: &[String]) -> String {
        let dirs: Vec<String> = self.dirs.iter().map(|d| d.display().to_string()).collect();
        let refused = if refused.is_empty() {
            String::new()
        } else {
            format!("; refused: {}", refused.join("; "))
        };
        let ignored = if self.others.is_empty() {
            String::new()
        } else {
            let files: Vec<String> = self.others.iter().map(|f| f.display().to_string()).collect();
            format!("; not searched, as not named libctiproxy_*: {}", files.join(", "))
        };
        format!(
            "unknown plugin {name:?} (available: {}{refused}; searched: {}{ignored}; add a directory with [plugins] path or {PLUGIN_PATH_VAR})",
            if known.is_empty() { "none".to_owned() } else { known.join(", ") },
            dirs.join(", ")
        )
    }

    fn resolve_in_file(&self, name: Option<&str>, file: &Path) -> Result<Found, String> {
        let mut vtables = self.open(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let names: Vec<String> = vtables.iter().map(|v| v.name.clone()).collect();
        let index = match name {
            Some(name) => vtables.iter().position(|v| v.name == name).ok_or_else(|| {
                format!("{}: has no plugin {name:?} (it has: {})", file.display(), names.join(", "))
            })?,
            None if vtables.len() == 1 => 0,
            None => {
                return Err(format!(
                    "{}: has {} plugins ({}): say which with plugin = \"NAME\"",
                    file.display(),
                    names.len(),
                    names.join(", ")
                ))
            }
        };
        Ok(Found { vtable: vtables.swap_remove(index), file: file.to_path_buf() })
    }

    /// Opens every candidate, and with `all` every other library too, for `ctiproxy plugins`.
    pub fn inspect(&self, all: bool) -> Inventory {
        let mut inventory = Inventory::default();
        let candidates = self.candidates.iter().map(|(file, _)| (file, Standing::Used));
        let others = self.others.iter().filter(|_| all).map(|file| (file, Standing::NotSearched));
        for (file, standing) in candidates.chain(others) {
            match self.open(file) {
                Ok(vtables) => inventory.plugins.extend(
                    vtables
                        .into_iter()
                        .map(|vtable| (Found { vtable, file: file.clone() }, standing)),
                ),
                Err(error) => inventory.failures.push(Failure { file: file.clone(), error }),
            }
        }
        for (found, standing) in &mut inventory.plugins {
            if *standing == Standing::Used {
                // Everything is open already: the lookup only reads, and reports nothing twice.
                let winner = self.lookup(&found.vtable.name, |_, _| {}).map(|w| w.file);
                if winner.as_deref() != Some(found.file.as_path()) {
                    *standing = Standing::Shadowed;
                }
            }
        }
        if !all {
            inventory.unopened = self.others.clone();
        }
        inventory
    }

    /// Opens `file` once: later calls get the first outcome.
    fn open(&self, file: &Path) -> Result<Vec<Vtable>, LoadError> {
        let key = canonical(file);
        if let Some(outcome) = self.lock().libraries.get(&key) {
            return outcome.clone();
        }
        self.warn_if_writable("library", file);
        let outcome = load_file(file);
        self.lock().libraries.insert(key, outcome.clone());
        outcome
    }

    fn warn_if_writable(&self, what: &str, path: &Path) {
        if let Some(how) = permissions::writable_by_others(path) {
            self.warn_once(format!(
                "Plugin {what} {} is {how}: other users could make ctiproxy run their code (chmod go-w).",
                path.display()
            ));
        }
    }

    fn warn_once(&self, message: String) {
        if self.lock().warned.insert(message.clone()) {
            tracing::warn!("{message}");
        }
    }

    fn lock(&self) -> MutexGuard<'_, Opened> {
        // The state is a cache that is never left half-updated, so a poisoned lock is still sound.
        self.opened.lock().unwrap_or_else(|e| e.into_inner())
    }
}
