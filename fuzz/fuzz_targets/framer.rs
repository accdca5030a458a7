//! The framer against a plain model: whatever the read boundaries and the maximum line length,
//! it must give the lines a one-shot split at `\n` gives (oversize ones as their preview and full
//! length), flush the tail without newline, and never hold more than it promises.

#![no_main]

use bytes::Bytes;
use ctiproxy::framer::{Frame, Framer, OVERSIZE_PREVIEW};
use ctiproxy_plugin_api::abi;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Two header bytes: the maximum line length (below and above the preview's 256 bytes) and
    // the size of the reads the stream arrives in.
    let [max, step, stream @ ..] = data else { return };
    let max_line = 1 + usize::from(*max) * 3;
    let step = 1 + usize::from(*step);

    let mut framer = Framer::new(max_line);
    let mut got = Vec::new();
    for chunk in stream.chunks(step) {
        framer.push(&Bytes::copy_from_slice(chunk), |frame| got.push(frame));
        assert!(framer.buffered() <= max_line.max(OVERSIZE_PREVIEW), "unbounded buffer");
    }
    got.extend(framer.finish());
    assert_eq!(framer.buffered(), 0);

    let mut want = Vec::new();
    let mut lines: Vec<&[u8]> = stream.split(|&b| b == b'\n').collect();
    let tail = lines.pop().unwrap_or_default();
    want.extend(lines.into_iter().map(|line| model(line, max_line, 0)));
    if !tail.is_empty() {
        want.push(model(tail, max_line, abi::MSG_NO_NEWLINE));
    }
    assert_eq!(got, want);
});

fn model(line: &[u8], max_line: usize, flags: u32) -> Frame {
    let len = line.len() as u64;
    if line.len() <= max_line {
        return Frame { line: Bytes::copy_from_slice(line), len, flags };
    }
    let preview = &line[..line.len().min(OVERSIZE_PREVIEW)];
    Frame { line: Bytes::copy_from_slice(preview), len, flags: flags | abi::MSG_OVERSIZE }
}
