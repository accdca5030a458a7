//! The parser's hot loop: how far a string's plain run goes, eight bytes at a time.
//!
//! Inside a string, only a few bytes need a closer look: the closing quote, a backslash, a C0
//! control (refused) and non-ASCII bytes (checked as UTF-8). Strings are most of a CTI line, so
//! instead of looking each byte up in a table the run is scanned a 64-bit word at a time, with the
//! usual bit tricks (SWAR) flagging the bytes that stop it.

/// Every byte of a word set to 0x01, and to 0x80.
const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);

/// How many bytes at the start of `bytes` are printable ASCII other than `"` and `\`: the
/// index of the first byte that ends the plain run, or `bytes.len()`.
pub fn plain_run(bytes: &[u8]) -> usize {
    // Most keys and values end within their first word: that case without the loop's setup.
    if let Some(first) = bytes.first_chunk::<8>() {
        let stops = stops(u64::from_le_bytes(*first));
        if stops != 0 {
            return (stops.trailing_zeros() / 8) as usize;
        }
    }
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("chunks of 8"));
        let stops = stops(word);
        if stops != 0 {
            return at + (stops.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    at + chunks.remainder().iter().take_while(|&&b| !is_stop(b)).count()
}

/// A word with the high bit set in its stop bytes. Only the lowest flagged byte is sure to be
/// a stop (a borrow may flag bytes above a real one), which is all [`plain_run`] reads.
fn stops(word: u64) -> u64 {
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let quote = zero(word ^ (ONES * u64::from(b'"')));
    let backslash = zero(word ^ (ONES * u64::from(b'\\')));
    let control = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
    quote | backslash | control | (word & HIGHS)
}

/// The byte-at-a-time definition the word scan must agree with.
fn is_stop(b: u8) -> bool {
    !(0x20..0x80).contains(&b) || b == b'"' || b == b'\\'
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn byte_at_a_time(bytes: &[u8]) -> usize {
        bytes.iter().take_while(|&&b| !is_stop(b)).count()
    }

    #[test]
    fn stops_at_each_kind_of_byte_in_every_lane() {
        for stop in [b'"', b'\\', 0, 0x1f, 0x80, 0xff, b'\n'] {
            for at in 0..20 {
                let mut bytes = vec![b'a'; 20];
                bytes[at] = stop;
                assert_eq!(plain_run(&bytes), at, "{stop:#x} at {at}");
            }
        }
        assert_eq!(plain_run(b" !#[]~\x7f/0123456789"), 18);
        assert_eq!(plain_run(b""), 0);
    }

    proptest! {
        #[test]
        fn agrees_with_the_byte_at_a_time_scan(
            bytes in proptest::collection::vec(
                prop_oneof![0x20u8..0x80, Just(b'"'), Just(b'\\'), any::<u8>()],
                0..40,
            )
        ) {
            prop_assert_eq!(plain_run(&bytes), byte_at_a_time(&bytes));
        }
    }
}
