//! Finds plugin libraries and loads them through the C ABI.
//!
//! Search order (the first plugin of a name wins): the directories in `CTIPROXY_PLUGIN_PATH`,
//! then the config's `[plugins] path`, then the directory of the running executable (where cargo
//! puts the built-in plugins). Each library goes through the checks in order: it opens, it has
//! the entry symbol, its list and descriptors speak this ABI, its layout hash matches, every
//! required function is present, it was built with `panic = "unwind"`. Every failure names the
//! file and the cause. Libraries are never unloaded: unloading Rust libraries with thread-locals
//! crashes, and descriptors point into them.
#![allow(unsafe_code)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use ctiproxy_plugin_api::abi::{self, EntryFn, PluginList};
use ctiproxy_plugin_api::{DescriptorError, Vtable};

/// The environment variable listing extra plugin directories (`:`-separated).
pub const PLUGIN_PATH_VAR: &str = "CTIPROXY_PLUGIN_PATH";

/// Why a library could not be used.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoadError {
    /// `dlopen` failed.
    #[error("cannot open: {0}")]
    Open(String),
    /// No `ctiproxy_plugin_v1` symbol.
    #[error("not a ctiproxy plugin (no `ctiproxy_plugin_v1` entry symbol)")]
    NoEntry,
    /// The plugin list is unusable.
    #[error("{0}")]
    List(String),
    /// One descriptor failed its checks.
    #[error("plugin #{index}{}: {source}", name.as_ref().map(|n| format!(" ({n})")).unwrap_or_default())]
    Descriptor {
        /// Position in the library's list.
        index: usize,
        /// Its name, when readable.
        name: Option<String>,
        /// The failed check.
        source: DescriptorError,
    },
}

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

/// Every plugin found in the search path.
#[derive(Debug, Default)]
pub struct Registry {
    /// Directories searched, in order.
    pub dirs: Vec<PathBuf>,
    /// Usable plugins, in search order (a later plugin of an earlier name is shadowed).
    pub found: Vec<Found>,
    /// Libraries that are not usable plugins.
    pub failures: Vec<Failure>,
}

/// The directories searched, in order: `CTIPROXY_PLUGIN_PATH`, `extra`, the executable's.
pub fn search_path(extra: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os(PLUGIN_PATH_VAR)
        .map(|v| std::env::split_paths(&v).filter(|p| !p.as_os_str().is_empty()).collect())
        .unwrap_or_default();
    dirs.extend(extra.iter().cloned());
    if let Some(dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf))
    {
        dirs.push(dir);
    }
    dirs
}

fn is_library(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == std::env::consts::DLL_EXTENSION)
}

/// The plugin name a file suggests: `libctiproxy_spy.so` → `spy`.
pub fn name_hint(file: &Path) -> String {
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let stem = stem.strip_prefix(std::env::consts::DLL_PREFIX).unwrap_or(stem);
    let stem = stem.strip_prefix("ctiproxy_").unwrap_or(stem);
    stem.replace('_', "-")
}

impl Registry {
    /// Loads every library in `dirs`.
    pub fn scan(dirs: Vec<PathBuf>) -> Registry {
        let mut registry = Registry { dirs, ..Registry::default() };
        let mut seen = HashSet::new();
        for dir in registry.dirs.clone() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            let mut files: Vec<PathBuf> =
                entries.flatten().map(|e| e.path()).filter(|p| is_library(p)).collect();
            files.sort();
            for file in files {
                let key = std::fs::canonicalize(&file).unwrap_or_else(|_| file.clone());
                if seen.insert(key) {
                    registry.add(file);
                }
            }
        }
        registry
    }

    fn add(&mut self, file: PathBuf) {
        match load_file(&file) {
            Ok(vtables) => self
                .found
                .extend(vtables.into_iter().map(|vtable| Found { vtable, file: file.clone() })),
            Err(error) => self.failures.push(Failure { file, error }),
        }
    }

    /// The first usable plugin called `name`.
    pub fn get(&self, name: &str) -> Option<&Found> {
        self.found.iter().find(|f| f.vtable.name == name)
    }

    /// Finds plugin `name`, in `file` when given, else in the search path. The error says what
    /// was tried: the broken library that looks like it, or the plugins that exist.
    pub fn resolve(&self, name: &str, file: Option<&Path>) -> Result<Found, String> {
        if let Some(file) = file {
            return resolve_in_file(name, file);
        }
        if let Some(found) = self.get(name) {
            return Ok(found.clone());
        }
        if let Some(failure) = self.failures.iter().find(|f| name_hint(&f.file) == name) {
            return Err(format!("{}: {}", failure.file.display(), failure.error));
        }
        let mut known: Vec<&str> = self.found.iter().map(|f| f.vtable.name.as_str()).collect();
        known.sort_unstable();
        known.dedup();
        let dirs: Vec<String> = self.dirs.iter().map(|d| d.display().to_string()).collect();
        Err(format!(
            "unknown plugin {name:?} (available: {}; searched: {}; add a directory with [plugins] path or {PLUGIN_PATH_VAR})",
            if known.is_empty() { "none".to_owned() } else { known.join(", ") },
            dirs.join(", ")
        ))
    }
}

fn resolve_in_file(name: &str, file: &Path) -> Result<Found, String> {
    let vtables = load_file(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let names: Vec<String> = vtables.iter().map(|v| v.name.clone()).collect();
    vtables
        .into_iter()
        .find(|v| v.name == name)
        .map(|vtable| Found { vtable, file: file.to_path_buf() })
        .ok_or_else(|| {
            format!("{}: has no plugin {name:?} (it has: {})", file.display(), names.join(", "))
        })
}

#[cfg(unix)]
fn open(file: &Path) -> Result<libloading::Library, libloading::Error> {
    use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
    // SAFETY: opening runs the library's initialisers; we only open files from the directories
    // the user configured (trust model in the README). RTLD_NOW makes a library with missing
    // symbols fail here, with its name, instead of at first call; RTLD_LOCAL keeps plugins from
    // interposing on each other.
    unsafe { Library::open(Some(file), RTLD_NOW | RTLD_LOCAL) }.map(Into::into)
}

#[cfg(not(unix))]
fn open(file: &Path) -> Result<libloading::Library, libloading::Error> {
    // SAFETY: as in the unix version.
    unsafe { libloading::Library::new(file) }
}

/// Opens one library and checks every plugin it exports.
pub fn load_file(file: &Path) -> Result<Vec<Vtable>, LoadError> {
    let library = open(file).map_err(|e| LoadError::Open(e.to_string()))?;
    // SAFETY: the symbol, if present, has the EntryFn type by the ABI's definition; a library
    // exporting the name with another type is outside the trust model.
    let entry: EntryFn = match unsafe { library.get::<EntryFn>(abi::ENTRY_SYMBOL) } {
        Ok(symbol) => *symbol,
        Err(_) => return Err(LoadError::NoEntry),
    };
    // Never unloaded (see the module doc): the entry and every descriptor stay valid.
    std::mem::forget(library);
    // SAFETY: the entry takes no arguments and returns a pointer to static data.
    let list = unsafe { entry() };
    // SAFETY: checked for null; the list's first fields are the same in every ABI version.
    let list: &PluginList = unsafe { list.as_ref() }
        .ok_or(LoadError::List("the entry returned no plugin list".into()))?;
    check_list(list)?;
    (0..list.count as usize)
        .map(|index| {
            // SAFETY: the list is of our ABI and size, so `plugins` holds `count` descriptors.
            let desc = unsafe { list.plugins.add(index) };
            // SAFETY: a descriptor of a never-unloaded library, first fields always readable.
            unsafe { Vtable::from_descriptor(desc) }.map_err(|source| {
                // The name is read only when the failed check proves the layout is ours.
                let layout_ok = matches!(
                    source,
                    DescriptorError::MissingFunction(_) | DescriptorError::PanicAbort
                );
                // SAFETY: same ABI, size and layout hash: `name` is where we read it, and static.
                let name = layout_ok
                    .then(|| unsafe { std::str::from_utf8((*desc).name.as_bytes()).ok() })
                    .flatten()
                    .map(str::to_owned);
                LoadError::Descriptor { index, name, source }
            })
        })
        .collect()
}

fn check_list(list: &PluginList) -> Result<(), LoadError> {
    if list.abi_version != abi::ABI_VERSION {
        return Err(LoadError::List(format!(
            "built for plugin ABI {}, this host supports ABI {}",
            list.abi_version,
            abi::ABI_VERSION
        )));
    }
    if (list.struct_size as usize) < std::mem::size_of::<PluginList>() {
        return Err(LoadError::List(format!(
            "plugin list is {} bytes, too short",
            list.struct_size
        )));
    }
    if list.count == 0 || list.plugins.is_null() {
        return Err(LoadError::List("the library exports no plugins".into()));
    }
    Ok(())
}
