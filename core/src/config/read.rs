//! Reading a configuration file: a regular file only, at most [`MAX_CONFIG_BYTES`], and UTF-8
//! text, its first invalid byte located by line and column.
//!
//! `check -c /dev/zero` once read until memory ran out: a device, a pipe or a file that keeps
//! growing is never read past the limit.

use std::fs::{File, FileType, Metadata};
use std::io::Read;
use std::path::Path;

use ctiproxy_plugin_api::visible::{self, Newlines};

use super::{ConfigError, Location};

/// Largest configuration file read (16 MiB); real ones are a few kilobytes.
pub const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;

/// The text of the configuration file at `path`.
pub(super) fn read(path: &Path) -> Result<String, ConfigError> {
    let name = path.display().to_string();
    let cannot = |why: String| ConfigError {
        location: None,
        key: String::new(),
        message: format!("cannot read {name}: {why}"),
    };
    // Looked at before opening, because opening a FIFO waits for a writer.
    let metadata = std::fs::metadata(path).map_err(|e| cannot(e.to_string()))?;
    regular(&metadata).map_err(&cannot)?;
    let file = File::open(path).map_err(|e| cannot(e.to_string()))?;
    // And again on what was opened, in case the path was replaced in between.
    let metadata = file.metadata().map_err(|e| cannot(e.to_string()))?;
    regular(&metadata).map_err(&cannot)?;
    let too_large = || {
        cannot(format!("larger than {} MiB, the limit for a configuration", MAX_CONFIG_BYTES >> 20))
    };
    if metadata.len() > MAX_CONFIG_BYTES {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1).read_to_end(&mut bytes).map_err(|e| cannot(e.to_string()))?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(too_large());
    }
    decode(&name, bytes)
}

fn regular(metadata: &Metadata) -> Result<(), String> {
    if metadata.is_file() {
        Ok(())
    } else {
        Err(format!("not a regular file ({})", kind(&metadata.file_type())))
    }
}

#[cfg(unix)]
fn kind(file_type: &FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "of an unknown kind"
    }
}

#[cfg(not(unix))]
fn kind(file_type: &FileType) -> &'static str {
    if file_type.is_dir() {
        "a directory"
    } else {
        "of an unknown kind"
    }
}

/// The file's text, or where its first byte that is not UTF-8 is.
fn decode(name: &str, bytes: Vec<u8>) -> Result<String, ConfigError> {
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let len = e.utf8_error().error_len().unwrap_or(bytes.len() - at);
        let invalid = visible::bytes(&bytes[at..at + len], Newlines::Escape);
        ConfigError {
            location: Some(Location::in_bytes(name, bytes, at)),
            key: String::new(),
            message: format!("invalid UTF-8 (byte {invalid}): a configuration is UTF-8 text"),
        }
    })
}
