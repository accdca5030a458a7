//! The file-name convention that lets the loader pick libraries without opening them.
//!
//! Opening a library runs its initialisers, so a run opens only libraries that may hold a plugin
//! it needs: files named `libctiproxy_STEM.so`. Plugin `NAME` is first looked for in
//! `libctiproxy_NAME.so` (`-` written `_`), then in the other candidates, since one library may
//! export several plugins (`libctiproxy_filter.so` holds `strip`, `include` and `exclude`).
//! Every other `.so` is left alone, except by `ctiproxy plugins --all`.

use std::path::{Path, PathBuf};

const PREFIX: &str = "ctiproxy_";

/// One directory's libraries, each list in file-name order.
#[derive(Debug, Default)]
pub struct Listing {
    /// `libctiproxy_*.so`, with their stems.
    pub candidates: Vec<(PathBuf, String)>,
    /// Every other shared library.
    pub others: Vec<PathBuf>,
}

/// Lists `dir` by file name only; a directory that cannot be read lists nothing.
pub fn list(dir: &Path) -> Listing {
    let mut listing = Listing::default();
    let Ok(entries) = std::fs::read_dir(dir) else { return listing };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == std::env::consts::DLL_EXTENSION))
        .collect();
    files.sort();
    for file in files {
        match stem(&file) {
            Some(stem) => listing.candidates.push((file, stem)),
            None => listing.others.push(file),
        }
    }
    listing
}

/// `libctiproxy_spy.so` → `spy`; `None` for a file outside the convention.
fn stem(file: &Path) -> Option<String> {
    let name = file.file_name()?.to_str()?;
    let name = name.strip_prefix(std::env::consts::DLL_PREFIX)?.strip_prefix(PREFIX)?;
    let stem = name.strip_suffix(std::env::consts::DLL_SUFFIX)?;
    (!stem.is_empty()).then(|| stem.to_owned())
}

/// The stem of the library named after plugin `name`: `count-class` → `count_class`.
pub fn stem_for(name: &str) -> String {
    name.replace('-', "_")
}

/// The plugin name a file suggests, to tell which plugin a broken library was meant to be:
/// `libctiproxy_test_defective.so` → `test-defective`.
pub fn name_hint(file: &Path) -> String {
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let stem = stem.strip_prefix(std::env::consts::DLL_PREFIX).unwrap_or(stem);
    let stem = stem.strip_prefix(PREFIX).unwrap_or(stem);
    stem.replace('_', "-")
}
