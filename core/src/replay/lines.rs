//! Reads a capture file one line at a time, counting lines for error messages and refusing a
//! line longer than a bound, so neither a huge capture nor a corrupt one (a binary file with no
//! newline) costs more memory than one allowed line.

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use super::error::ReplayError;

/// Worst-case growth of a line once written into a capture: JSON escapes a control byte as
/// `\u00XX` (6 bytes), base64 grows by 4/3. Records also carry a few short keys.
const ESCAPE_FACTOR: usize = 6;
const RECORD_OVERHEAD: usize = 4096;

/// The longest line a capture made with `max_line` (the proxy's `max_line_bytes`) can hold.
pub fn limit_for(max_line: usize) -> usize {
    max_line.saturating_mul(ESCAPE_FACTOR).saturating_add(RECORD_OVERHEAD)
}

/// Bounded lines of one file.
pub struct Lines<R> {
    reader: R,
    path: PathBuf,
    number: u64,
    limit: usize,
    buf: Vec<u8>,
}

impl<R: BufRead> Lines<R> {
    /// Lines of `reader` (the file `path`), each at most `limit` bytes.
    pub fn new(reader: R, path: &Path, limit: usize) -> Self {
        Lines { reader, path: path.to_owned(), number: 0, limit, buf: Vec::new() }
    }

    /// The next line without its `\n`, or `None` at the end of the file.
    pub fn next_line(&mut self) -> Result<Option<&[u8]>, ReplayError> {
        self.buf.clear();
        let bound = u64::try_from(self.limit).unwrap_or(u64::MAX).saturating_add(1);
        let read = (&mut self.reader).take(bound).read_until(b'\n', &mut self.buf);
        let read = read.map_err(|reason| ReplayError::Read {
            path: self.path.clone(),
            line: self.number + 1,
            reason,
        })?;
        if read == 0 {
            return Ok(None);
        }
        self.number += 1;
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
        } else if self.buf.len() > self.limit {
            let why = format!(
                "line longer than {} bytes, more than a capture made with this configuration's [proxy] max_line_bytes can hold",
                self.limit
            );
            return Err(self.invalid(why));
        }
        Ok(Some(&self.buf))
    }

    /// The number of the line last read (1-based; 0 before the first).
    pub fn number(&self) -> u64 {
        self.number
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// An error about the line last read.
    pub fn invalid(&self, why: impl Into<String>) -> ReplayError {
        ReplayError::invalid(&self.path, self.number, why)
    }

    /// The bound on one line.
    pub fn limit(&self) -> usize {
        self.limit
    }
}
