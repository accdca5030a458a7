//! Turns a recorded line into the frame plugins see, bounded by the configuration's
//! `max_line_bytes` exactly as the live framer bounds it: a longer line becomes an oversize
//! frame holding only a preview and the full length, so a capture made with a larger limit
//! never makes the pipeline hold more than this configuration allows.

use bytes::Bytes;
use ctiproxy_plugin_api::abi;

use crate::framer::{Frame, OVERSIZE_PREVIEW};

/// A frame for `line` with `flags` (`abi::MSG_*`); `full_len` is the recorded full length of
/// an oversize line.
pub fn frame(line: Bytes, full_len: Option<u64>, flags: u32, max_line: usize) -> Frame {
    let len = full_len.unwrap_or(line.len() as u64);
    if flags & abi::MSG_OVERSIZE == 0 && line.len() > max_line {
        let preview = line.slice(..OVERSIZE_PREVIEW.min(line.len()));
        return Frame { line: preview, len, flags: flags | abi::MSG_OVERSIZE };
    }
    Frame { line, len, flags }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_over_the_limit_becomes_an_oversize_preview() {
        let line = Bytes::from(vec![b'x'; 1000]);
        let f = frame(line, None, 0, 999);
        assert_eq!((f.line.len(), f.len, f.flags), (OVERSIZE_PREVIEW, 1000, abi::MSG_OVERSIZE));
    }

    #[test]
    fn a_recorded_oversize_frame_keeps_its_full_length() {
        let f = frame(Bytes::from_static(b"{\"list\":["), Some(9_000_000), abi::MSG_OVERSIZE, 10);
        assert_eq!((f.line.len(), f.len, f.flags), (9, 9_000_000, abi::MSG_OVERSIZE));
    }
}
