//! Numbers read the way serde_json 1 (without `float_roundtrip` or `arbitrary_precision`) reads
//! them, so the index refuses exactly the numbers serde_json refuses (those whose float
//! overflows) and the view's `as_f64` returns bit for bit what `Message::json()` holds.
//!
//! serde_json keeps at most 19 or 20 significant digits in a `u64`, ignores the rest, and scales
//! by a power of ten with one multiplication or division: not always the nearest double, hence
//! a port rather than `str::parse`. The text itself stays the reference for output.

use std::sync::OnceLock;

/// A number's value as serde_json's `Value` holds it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Parsed {
    /// A non-negative integer that fits.
    U64(u64),
    /// A negative integer that fits.
    I64(i64),
    /// Anything else, `-0` included.
    F64(f64),
}

/// Reads a token that matches the JSON number grammar; `None` when serde_json reports
/// "number out of range".
pub(crate) fn read(text: &[u8]) -> Option<Parsed> {
    let (positive, mut rest) = match text.split_first() {
        Some((b'-', rest)) => (false, rest),
        _ => (true, text),
    };
    let mut significand = 0u64;
    while let Some((&c, tail)) = rest.split_first() {
        let Some(digit) = digit(c) else { break };
        if overflows(significand, digit) {
            // Further integer digits only scale the kept ones.
            let extra = rest.iter().take_while(|c| c.is_ascii_digit()).count();
            return fraction_and_exponent(positive, significand, extra as i32, &rest[extra..])
                .map(Parsed::F64);
        }
        significand = significand * 10 + digit;
        rest = tail;
    }
    if rest.is_empty() {
        return Some(integer(positive, significand));
    }
    fraction_and_exponent(positive, significand, 0, rest).map(Parsed::F64)
}

fn integer(positive: bool, significand: u64) -> Parsed {
    if positive {
        return Parsed::U64(significand);
    }
    let negated = (significand as i64).wrapping_neg();
    // serde_json's rule: an underflow, or `-0`, becomes a float.
    if negated >= 0 {
        Parsed::F64(-(significand as f64))
    } else {
        Parsed::I64(negated)
    }
}

fn fraction_and_exponent(
    positive: bool,
    mut significand: u64,
    mut exponent: i32,
    mut rest: &[u8],
) -> Option<f64> {
    if let Some((b'.', fraction)) = rest.split_first() {
        rest = fraction;
        while let Some(d) = rest.first().copied().and_then(digit) {
            rest = &rest[1..];
            if overflows(significand, d) {
                // The remaining fraction digits are ignored.
                let skipped = rest.iter().take_while(|c| c.is_ascii_digit()).count();
                rest = &rest[skipped..];
                break;
            }
            significand = significand * 10 + d;
            exponent -= 1;
        }
    }
    if let Some((b'e' | b'E', written)) = rest.split_first() {
        match scale_exponent(significand, exponent, written)? {
            Scaled::By(scaled) => exponent = scaled,
            Scaled::ToZero => return Some(if positive { 0.0 } else { -0.0 }),
        }
    }
    from_parts(positive, significand, exponent)
}

enum Scaled {
    By(i32),
    /// serde_json's shortcut when the written exponent overflows an `i32` without making the
    /// number infinite.
    ToZero,
}

/// Applies a written exponent; `None` when the number is out of range.
fn scale_exponent(significand: u64, exponent: i32, written: &[u8]) -> Option<Scaled> {
    let (positive_exp, digits) = match written.split_first() {
        Some((b'-', digits)) => (false, digits),
        Some((b'+', digits)) => (true, digits),
        _ => (true, written),
    };
    let mut exp = 0i32;
    for d in digits.iter().copied().map_while(digit) {
        let d = d as i32;
        if exp >= i32::MAX / 10 && (exp > i32::MAX / 10 || d > i32::MAX % 10) {
            return if significand != 0 && positive_exp { None } else { Some(Scaled::ToZero) };
        }
        exp = exp * 10 + d;
    }
    Some(Scaled::By(if positive_exp {
        exponent.saturating_add(exp)
    } else {
        exponent.saturating_sub(exp)
    }))
}

fn from_parts(positive: bool, significand: u64, mut exponent: i32) -> Option<f64> {
    let pow10 = powers_of_ten();
    let mut f = significand as f64;
    loop {
        if let Some(&pow) = pow10.get(exponent.unsigned_abs() as usize) {
            if exponent >= 0 {
                f *= pow;
                if f.is_infinite() {
                    return None;
                }
            } else {
                f /= pow;
            }
            break;
        }
        if f == 0.0 {
            break;
        }
        if exponent >= 0 {
            return None;
        }
        f /= 1e308;
        exponent += 308;
    }
    Some(if positive { f } else { -f })
}

/// `1e0` to `1e308`, each the nearest double, like the literals of serde_json's table.
fn powers_of_ten() -> &'static [f64; 309] {
    static TABLE: OnceLock<[f64; 309]> = OnceLock::new();
    TABLE.get_or_init(|| {
        std::array::from_fn(|i| format!("1e{i}").parse().expect("a valid float literal"))
    })
}

fn digit(c: u8) -> Option<u64> {
    c.is_ascii_digit().then(|| u64::from(c - b'0'))
}

fn overflows(significand: u64, digit: u64) -> bool {
    significand >= u64::MAX / 10 && (significand > u64::MAX / 10 || digit > u64::MAX % 10)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Number, Value};

    fn serde(text: &str) -> Option<Parsed> {
        let n: Number = match serde_json::from_str::<Value>(text) {
            Ok(Value::Number(n)) => n,
            _ => return None,
        };
        Some(if let Some(u) = n.as_u64() {
            Parsed::U64(u)
        } else if let Some(i) = n.as_i64() {
            Parsed::I64(i)
        } else {
            Parsed::F64(n.as_f64().unwrap())
        })
    }

    #[test]
    fn agrees_with_serde_json_bit_for_bit() {
        for text in [
            "0", "-0", "1", "-1", "18446744073709551615", "18446744073709551616",
            "-9223372036854775808", "-9223372036854775809", "1550844512.3439999", "1e-07",
            "1.0", "0.1", "2.5e3", "1E400", "-1e400", "1e-400", "0e999999999999", "1e999999999999",
            "1e-999999999999", "1.7976931348623157e308", "1.7976931348623159e308",
            "179769313486231570000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
            "18446744073709551619.1", "123456789012345678901234567890e-10",
            "0.000000000000000000000000000001234567890123456789012345", "4.9e-324", "2e-324",
        ] {
            let ours = read(text.as_bytes());
            let theirs = serde(text);
            match (ours, theirs) {
                (Some(Parsed::F64(a)), Some(Parsed::F64(b))) => {
                    assert_eq!(a.to_bits(), b.to_bits(), "{text}")
                }
                (a, b) => assert_eq!(a, b, "{text}"),
            }
        }
    }
}
