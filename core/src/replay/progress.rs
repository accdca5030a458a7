//! The progress bar of a long replay, on stderr, by bytes read. Only on a terminal and for a
//! large input: pipes, log files and tests never see it, and a small replay ends before a bar
//! would tell anything.

use std::fs::File;
use std::io::{BufReader, IsTerminal};
use std::path::Path;

use indicatif::{ProgressBar, ProgressBarIter, ProgressStyle};

use super::error::ReplayError;

/// Inputs larger than this get a bar.
const LARGE: u64 = 1024 * 1024;
const READ_BUFFER: usize = 64 * 1024;

/// A capture file being read, counted on the bar.
pub type Input = BufReader<ProgressBarIter<File>>;

/// A bar for reading `total` bytes, hidden unless stderr is a terminal and `total` is large.
pub fn bar(total: u64) -> ProgressBar {
    if total <= LARGE || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template(
        "replay {bar:40} {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left) {wide_msg}",
    );
    let bar = ProgressBar::new(total);
    if let Ok(style) = style {
        bar.set_style(style);
    }
    bar
}

/// The total size of `files` (unknown sizes count as 0).
pub fn total_size(files: &[&Path]) -> u64 {
    files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum()
}

/// Opens `path` for reading, its bytes counted on `bar`.
pub fn open(path: &Path, bar: &ProgressBar) -> Result<Input, ReplayError> {
    let file =
        File::open(path).map_err(|reason| ReplayError::Open { path: path.to_owned(), reason })?;
    bar.set_message(path.display().to_string());
    Ok(BufReader::with_capacity(READ_BUFFER, bar.wrap_read(file)))
}
