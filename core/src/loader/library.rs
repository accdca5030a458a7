//! Opens one plugin library and checks what it exports, in order: the path is a regular file
//! (told from its metadata: opening a FIFO would wait forever), the file is a complete ELF
//! shared object for this machine (checked before `dlopen`, see [`elf`]), it opens, it has the
//! entry symbol, its list and descriptors speak this ABI, its layout hash matches, every
//! required function is present, it was built with `panic = "unwind"`. Libraries are never
//! unloaded: unloading Rust libraries with thread-locals crashes, and descriptors point into
//! them.
#![allow(unsafe_code)]

use std::path::Path;

use ctiproxy_plugin_api::abi::{self, EntryFn, PluginList};
use ctiproxy_plugin_api::{DescriptorError, FileKind, Vtable};

use super::elf::{self, ElfError};

/// Why a library could not be used.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoadError {
    /// Refused before opening: a FIFO, a directory or another file that is not a library file.
    #[error("not a regular file: it is {0}")]
    NotRegular(FileKind),
    /// Refused before opening: not a complete shared object for this machine.
    #[error("unusable library file: {0}")]
    File(#[from] ElfError),
    /// `dlopen` failed.
    #[error("cannot open: {0}")]
    Open(String),
    /// No `ctiproxy_plugin_v1` symbol.
    #[error("not a ctiproxy plugin (no `ctiproxy_plugin_v1` entry symbol; a Rust plugin: did you forget `export_plugin!(YourPlugin)`?)")]
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

impl LoadError {
    /// Whether the refused library declared plugin `name` (known only when the descriptor's
    /// layout is ours and a later check failed).
    pub fn is_for(&self, name: &str) -> bool {
        matches!(self, LoadError::Descriptor { name: Some(n), .. } if n == name)
    }
}

#[cfg(unix)]
fn open(file: &Path) -> Result<libloading::Library, libloading::Error> {
    use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
    // SAFETY: opening runs the library's initialisers; we only open files from the directories
    // the user configured (trust model in the README), after `elf::check` proved the file is a
    // complete shared object for this machine, so mapping it cannot fault past its end (unless
    // it changes in between: plugin directories must not be writable by others). RTLD_NOW makes a library with missing
    // symbols fail here, with its name, instead of at first call; RTLD_LOCAL keeps plugins from
    // interposing on each other.
    unsafe { Library::open(Some(file), RTLD_NOW | RTLD_LOCAL) }.map(Into::into)
}

#[cfg(not(unix))]
fn open(file: &Path) -> Result<libloading::Library, libloading::Error> {
    // SAFETY: as in the unix version.
    unsafe { libloading::Library::new(file) }
}

/// Checks one library file, opens it and checks every plugin it exports.
pub fn load_file(file: &Path) -> Result<Vec<Vtable>, LoadError> {
    // Told from the metadata, before anything opens it: opening a FIFO waits for a writer forever.
    if let Ok(metadata) = std::fs::metadata(file) {
        match FileKind::of(&metadata) {
            FileKind::Regular => {}
            kind => return Err(LoadError::NotRegular(kind)),
        }
    }
    // Other platforms' loaders read other formats, and report their own errors.
    if cfg!(all(unix, not(target_vendor = "apple"))) {
        elf::check(file)?;
    }
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
        // The list and each descriptor's header keep their layout in every ABI version, so the
        // first descriptor can still say which plugin-api it was built with.
        let first = (list.count > 0 && !list.plugins.is_null()).then_some(list.plugins);
        // SAFETY: a descriptor of a never-unloaded library; its struct_size is readable in
        // every ABI version, and nothing past the header is read.
        let plugin_api =
            first.and_then(|desc| unsafe { ctiproxy_plugin_api::vtable::header_api_version(desc) });
        return Err(LoadError::List(
            DescriptorError::AbiVersion {
                found: list.abi_version,
                supported: abi::ABI_VERSION,
                plugin_api,
            }
            .to_string(),
        ));
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
