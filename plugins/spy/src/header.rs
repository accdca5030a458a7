//! The line above each message: `    HH:MM:SS.ffffff Client > Server`, in local time, with a
//! session suffix once several sessions share the output.

use std::io::Write;

use chrono::{DateTime, Local};
use ctiproxy_plugin_api::Direction;

const CYAN: &[u8] = b"\x1b[36m";
const YELLOW: &[u8] = b"\x1b[33m";
const RESET: &[u8] = b"\x1b[0m";

/// Converts receive timestamps to local wall-clock time of day.
///
/// Asking the time zone database costs far more than printing a message, and an offset only
/// changes on a minute boundary, so the offset is looked up once per minute of timestamps.
#[derive(Debug, Default)]
pub struct LocalClock {
    minute: Option<i64>,
    offset_secs: i64,
}

impl LocalClock {
    /// Microseconds since the Unix epoch → (seconds since local midnight, microseconds).
    pub fn time_of_day(&mut self, unix_micros: i64) -> (i64, i64) {
        let secs = unix_micros.div_euclid(1_000_000);
        let local = secs + self.offset(secs);
        (local.rem_euclid(86_400), unix_micros.rem_euclid(1_000_000))
    }

    fn offset(&mut self, unix_secs: i64) -> i64 {
        let minute = unix_secs.div_euclid(60);
        if self.minute != Some(minute) {
            self.minute = Some(minute);
            self.offset_secs = local_offset(unix_secs);
        }
        self.offset_secs
    }
}

fn local_offset(unix_secs: i64) -> i64 {
    DateTime::from_timestamp(unix_secs, 0)
        .map_or(0, |utc| i64::from(utc.with_timezone(&Local).offset().local_minus_utc()))
}

/// How headers look: coloured or not, with the session id or not.
#[derive(Debug, Clone, Copy)]
pub struct HeaderStyle {
    /// Wrap the header text in ANSI colour (cyan client → server, yellow server → client).
    pub color: bool,
    /// Append ` [session N]`.
    pub show_session: bool,
}

/// Appends the header line (with its `\n`) for one message to `out`.
pub fn write_header(
    out: &mut Vec<u8>,
    clock: &mut LocalClock,
    style: HeaderStyle,
    direction: Direction,
    unix_micros: i64,
    session_id: u64,
) {
    let (secs, micros) = clock.time_of_day(unix_micros);
    out.extend_from_slice(b"    ");
    if style.color {
        out.extend_from_slice(match direction {
            Direction::ClientToServer => CYAN,
            Direction::ServerToClient => YELLOW,
        });
    }
    // By hand rather than `write!`: the formatting machinery cost more than a whole compact
    // message's body.
    push_digits(out, secs / 3600, 2);
    out.push(b':');
    push_digits(out, secs / 60 % 60, 2);
    out.push(b':');
    push_digits(out, secs % 60, 2);
    out.push(b'.');
    push_digits(out, micros, 6);
    out.push(b' ');
    out.extend_from_slice(direction.label().as_bytes());
    if style.show_session {
        // Writing to a Vec cannot fail.
        let _ = write!(out, " [session {session_id}]");
    }
    if style.color {
        out.extend_from_slice(RESET);
    }
    out.push(b'\n');
}

/// Appends `value` (0 ≤ value < 10^width) as exactly `width` decimal digits, zero-padded.
fn push_digits(out: &mut Vec<u8>, value: i64, width: u32) {
    let mut divisor = 10i64.pow(width - 1);
    for _ in 0..width {
        out.push(b'0' + (value / divisor % 10) as u8);
        divisor /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hms(clock: &mut LocalClock, unix_micros: i64) -> String {
        let (secs, micros) = clock.time_of_day(unix_micros);
        format!("{:02}:{:02}:{:02}.{micros:06}", secs / 3600, secs / 60 % 60, secs % 60)
    }

    #[test]
    fn follows_a_daylight_saving_change_between_two_minutes() {
        // The only test in this binary that reads the local zone, so setting TZ here is safe.
        std::env::set_var("TZ", "Europe/Paris");
        // 2019-03-31 01:00:00 UTC: Paris jumps from 02:00 CET to 03:00 CEST.
        let switch = 1_553_994_000_000_000;
        let mut clock = LocalClock::default();
        assert_eq!(hms(&mut clock, switch - 500_000), "01:59:59.500000");
        assert_eq!(hms(&mut clock, switch + 250_000), "03:00:00.250000");
    }

    #[test]
    fn digits_are_written_as_the_format_machinery_writes_them() {
        for value in [0, 7, 59, 120_000, 999_999] {
            for width in [2, 6] {
                if value < 10i64.pow(width) {
                    let mut out = Vec::new();
                    push_digits(&mut out, value, width);
                    let expected = format!("{value:0width$}", width = width as usize);
                    assert_eq!(String::from_utf8(out).unwrap(), expected);
                }
            }
        }
    }

    #[test]
    fn header_has_four_spaces_colour_around_the_text_and_the_session() {
        let mut out = Vec::new();
        let style = HeaderStyle { color: true, show_session: true };
        write_header(&mut out, &mut LocalClock::default(), style, Direction::ServerToClient, 0, 7);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("    \x1b[33m"), "{text:?}");
        assert!(text.ends_with(" Server > Client [session 7]\x1b[0m\n"), "{text:?}");
    }
}
