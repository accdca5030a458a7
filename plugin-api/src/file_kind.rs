//! What a path names, told from its metadata before anything opens it: opening a FIFO for
//! reading or writing blocks until a peer opens the other end, so a host or plugin that takes a
//! file path from its settings must refuse a FIFO (or a directory, a socket) without opening it.

use std::fmt;
use std::fs::Metadata;

/// The kind of file a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A regular file.
    Regular,
    /// A directory.
    Directory,
    /// A named pipe: opening it waits for the other end.
    Fifo,
    /// A Unix socket.
    Socket,
    /// A block device (a disk).
    BlockDevice,
    /// A character device (`/dev/null`, a terminal).
    CharDevice,
    /// Anything else the platform has.
    Other,
}

impl FileKind {
    /// The kind of file `metadata` describes (as `std::fs::metadata` gives it: symbolic links
    /// followed).
    pub fn of(metadata: &Metadata) -> FileKind {
        let kind = metadata.file_type();
        if kind.is_file() {
            return FileKind::Regular;
        }
        if kind.is_dir() {
            return FileKind::Directory;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt;
            if kind.is_fifo() {
                return FileKind::Fifo;
            }
            if kind.is_socket() {
                return FileKind::Socket;
            }
            if kind.is_block_device() {
                return FileKind::BlockDevice;
            }
            if kind.is_char_device() {
                return FileKind::CharDevice;
            }
        }
        FileKind::Other
    }
}

/// Reads as the end of "PATH is …": `a FIFO`, `a directory`.
impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::Regular => "a regular file",
            FileKind::Directory => "a directory",
            FileKind::Fifo => "a FIFO (named pipe)",
            FileKind::Socket => "a socket",
            FileKind::BlockDevice => "a block device",
            FileKind::CharDevice => "a character device",
            FileKind::Other => "a special file",
        })
    }
}
