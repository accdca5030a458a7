//! Whether someone else could swap the code the proxy loads: a plugin directory or library that
//! other users can write to lets them run code with the proxy's privileges.

use std::path::Path;

/// `Some("group-writable")`, `Some("world-writable")`… when users other than the owner may
/// write `path` (following symlinks); `None` otherwise, or when it cannot be read.
#[cfg(unix)]
pub fn writable_by_others(path: &Path) -> Option<&'static str> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    match (mode & 0o020 != 0, mode & 0o002 != 0) {
        (true, true) => Some("group- and world-writable"),
        (true, false) => Some("group-writable"),
        (false, true) => Some("world-writable"),
        (false, false) => None,
    }
}

/// Other platforms' permission models are not checked.
#[cfg(not(unix))]
pub fn writable_by_others(_: &Path) -> Option<&'static str> {
    None
}
