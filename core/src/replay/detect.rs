//! Tells what the capture files are from their content, never their names, and checks that
//! they make a replayable set: JSON-lines captures (any number, in turn) or exactly one classic
//! pair. Done before the pipeline is built, so a wrong file costs no plugin side effects.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use super::classic::OVERSIZE_START;
use super::error::ReplayError;

/// How much of a file is looked at; the first line of either format shows within it.
const HEAD: usize = 64 * 1024;

/// What one file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The save plugin's JSON-lines capture.
    Jsonl,
    /// One file of a classic ctisave pair.
    Classic,
    /// Nothing at all (either kind, with no message).
    Empty,
}

/// What to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// JSON-lines captures, one after the other.
    Jsonl(Vec<PathBuf>),
    /// A classic pair.
    Pair {
        /// Client → server messages.
        client: PathBuf,
        /// Server → client messages.
        server: PathBuf,
    },
}

impl Plan {
    /// The files, in the order given.
    pub fn files(&self) -> Vec<&Path> {
        match self {
            Plan::Jsonl(files) => files.iter().map(PathBuf::as_path).collect(),
            Plan::Pair { client, server } => vec![client, server],
        }
    }
}

/// Looks at every file and decides how to replay them.
pub fn plan(files: &[PathBuf]) -> Result<Plan, ReplayError> {
    let kinds = files.iter().map(|f| detect(f)).collect::<Result<Vec<_>, _>>()?;
    let Some(classic) = kinds.iter().position(|k| *k == Kind::Classic) else {
        return Ok(Plan::Jsonl(files.to_vec()));
    };
    match (files, kinds.as_slice()) {
        ([client, server], [a, b]) if *a != Kind::Jsonl && *b != Kind::Jsonl => {
            Ok(Plan::Pair { client: client.clone(), server: server.clone() })
        }
        _ => Err(ReplayError::Arguments(format!(
            "{} is a classic ctisave file: give exactly two of them, CLIENT_FILE SERVER_FILE, and no other capture",
            files[classic].display()
        ))),
    }
}

/// The kind of one file, from its first line.
pub fn detect(path: &Path) -> Result<Kind, ReplayError> {
    let open_error = |reason| ReplayError::Open { path: path.to_owned(), reason };
    let file = File::open(path).map_err(open_error)?;
    let mut reader = BufReader::with_capacity(HEAD, file);
    let head = reader.fill_buf().map_err(open_error)?;
    let first = head.split(|b| *b == b'\n').next().unwrap_or_default();
    if head.is_empty() {
        Ok(Kind::Empty)
    } else if is_record(first) {
        Ok(Kind::Jsonl)
    } else if is_classic(first) {
        Ok(Kind::Classic)
    } else {
        Err(ReplayError::Unknown(path.to_owned()))
    }
}

/// Every record of the JSON-lines format starts with the key `ts` (or, written by hand,
/// `ts_us`).
fn is_record(line: &[u8]) -> bool {
    let Some(rest) = line.strip_prefix(b"{") else { return false };
    rest.trim_ascii_start().starts_with(b"\"ts")
}

/// A classic file starts with a message: pretty-printed JSON opens with `{` or `[` alone on
/// its line (or is an empty `{}`/`[]`), an oversize line with its marker.
fn is_classic(line: &[u8]) -> bool {
    matches!(line, b"{" | b"[" | b"{}" | b"[]") || line.starts_with(OVERSIZE_START)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn kinds_come_from_the_content() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let jsonl = file(d, "a.txt", "{\"ts\":\"x\",\"ts_us\":1,\"session\":1}\n");
        let classic = file(d, "b.jsonl", "{\n    \"class\": \"x\"\n}\n");
        let empty = file(d, "c", "");
        let other = file(d, "d.jsonl", "hello\n");
        assert_eq!(detect(&jsonl).unwrap(), Kind::Jsonl);
        assert_eq!(detect(&classic).unwrap(), Kind::Classic);
        assert_eq!(detect(&empty).unwrap(), Kind::Empty);
        assert!(matches!(detect(&other), Err(ReplayError::Unknown(_))));
        assert_eq!(
            plan(&[classic.clone(), empty.clone()]).unwrap(),
            Plan::Pair { client: classic.clone(), server: empty.clone() }
        );
        assert!(plan(std::slice::from_ref(&classic)).is_err());
        assert!(plan(&[classic, jsonl.clone()]).is_err());
        assert_eq!(plan(&[jsonl.clone(), empty.clone()]).unwrap(), Plan::Jsonl(vec![jsonl, empty]));
    }
}
