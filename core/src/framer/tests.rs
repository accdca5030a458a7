use super::*;

fn frame_all(max: usize, chunks: &[&[u8]]) -> Vec<Frame> {
    let mut framer = Framer::new(max);
    let mut out = Vec::new();
    for c in chunks {
        framer.push(&Bytes::copy_from_slice(c), |f| out.push(f));
    }
    out.extend(framer.finish());
    out
}

fn lines(frames: &[Frame]) -> Vec<&[u8]> {
    frames.iter().map(|f| &f.line[..]).collect()
}

#[test]
fn splits_lines_and_carries_partials_across_reads() {
    let frames = frame_all(100, &[b"{\"a\":1}\n{\"b\"", b":2}\n", b"\n{\"c\":3}\n"]);
    assert_eq!(lines(&frames), vec![&b"{\"a\":1}"[..], b"{\"b\":2}", b"", b"{\"c\":3}"]);
    assert!(frames.iter().all(|f| f.flags == 0));
}

#[test]
fn one_byte_reads_give_the_same_lines() {
    let data = b"one\ntwo\nthree\n";
    let chunks: Vec<&[u8]> = data.chunks(1).collect();
    assert_eq!(lines(&frame_all(100, &chunks)), vec![&b"one"[..], b"two", b"three"]);
}

#[test]
fn trailing_partial_is_flushed_and_flagged() {
    let frames = frame_all(100, &[b"a\nlast"]);
    assert_eq!(lines(&frames), vec![&b"a"[..], b"last"]);
    assert_eq!(frames[1].flags, abi::MSG_NO_NEWLINE);
}

#[test]
fn oversize_line_in_one_read_keeps_a_preview_and_its_length() {
    let mut data = vec![b'x'; 1000];
    data.extend_from_slice(b"\nok\n");
    let frames = frame_all(300, &[&data]);
    assert_eq!(frames[0].flags, abi::MSG_OVERSIZE);
    assert_eq!(frames[0].len, 1000);
    assert_eq!(frames[0].line.len(), OVERSIZE_PREVIEW);
    assert_eq!(&frames[1].line[..], b"ok");
}

#[test]
fn oversize_line_across_reads_stays_bounded() {
    let mut framer = Framer::new(1000);
    let chunk = Bytes::from(vec![b'y'; 4096]);
    for _ in 0..100 {
        framer.push(&chunk, |_| panic!("no line yet"));
        assert!(framer.buffered() <= 1000);
    }
    let mut out = Vec::new();
    framer.push(&Bytes::from_static(b"\n"), |f| out.push(f));
    assert_eq!(out[0].len, 409_600);
    assert_eq!(out[0].flags, abi::MSG_OVERSIZE);
    assert_eq!(out[0].line.len(), OVERSIZE_PREVIEW);
}

#[test]
fn a_line_exactly_at_the_maximum_is_not_oversize() {
    let frames = frame_all(5, &[b"12345\n123", b"456\n"]);
    assert_eq!(frames[0].flags, 0);
    assert_eq!(frames[1].flags, abi::MSG_OVERSIZE);
    assert_eq!(frames[1].len, 6);
}

#[test]
fn unfinished_lines_share_one_budget_and_starved_lines_are_oversize() {
    let budget = Arc::new(PartialBudget::new(10));
    let mut a = Framer::with_budget(100, budget.clone());
    let mut b = Framer::with_budget(100, budget.clone());
    let mut out = Vec::new();
    a.push(&Bytes::from_static(b"12345678"), |f| out.push(f));
    b.push(&Bytes::from_static(b"abcdef"), |f| out.push(f));
    assert_eq!(budget.used(), 8, "b did not fit");
    b.push(&Bytes::from_static(b"gh\n"), |f| out.push(f));
    a.push(&Bytes::from_static(b"9\n"), |f| out.push(f));
    assert_eq!(out[0].flags, abi::MSG_OVERSIZE, "b's line was starved");
    assert_eq!((out[0].len, &out[0].line[..]), (8, &b"abcdefgh"[..]), "its preview kept");
    assert_eq!((out[1].flags, &out[1].line[..]), (0, &b"123456789"[..]));
    assert_eq!(budget.used(), 0, "both lines gave their bytes back");
    a.push(&Bytes::from_static(b"xyz"), |_| {});
    drop(a);
    assert_eq!(budget.used(), 0, "a dropped framer gives back what it held");
}

#[test]
fn a_long_carried_line_is_copied_out_exactly() {
    let mut framer = Framer::new(1 << 20);
    let mut out = Vec::new();
    let chunk = Bytes::from(vec![b'x'; 100_000]);
    framer.push(&chunk, |f| out.push(f));
    framer.push(&Bytes::from_static(b"\n"), |f| out.push(f));
    assert_eq!(out[0].line.len(), 100_000);
}
