//! Floats written the way Python 2's `print` wrote them (`str(float)`: 12 significant digits,
//! `%g` style, `.0` kept on whole numbers), so the classic layout's figures read exactly like
//! the original `ctistat`'s: `1.5`, `2.0`, `0.333333333333`, `1e+16`.

/// Significant digits of Python 2's `str(float)`.
const DIGITS: i32 = 12;

/// `value` as Python 2 printed it.
pub fn python2_str(value: f64) -> String {
    if !value.is_finite() {
        let text = if value.is_nan() {
            "nan"
        } else if value > 0.0 {
            "inf"
        } else {
            "-inf"
        };
        return text.to_owned();
    }
    // The exponent is the one of the rounded scientific form, as C's `%g` decides with it.
    let scientific = format!("{:.*e}", (DIGITS - 1) as usize, value);
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if !(-4..DIGITS).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{}e{sign}{:02}", trim_zeros(mantissa), exponent.abs());
    }
    let decimals = (DIGITS - 1 - exponent).max(0) as usize;
    let fixed = format!("{value:.decimals$}");
    let trimmed = trim_zeros(&fixed);
    if trimmed.contains('.') {
        trimmed.to_owned()
    } else {
        format!("{trimmed}.0")
    }
}

/// `%g` drops the fraction's trailing zeros, and the point when nothing is left after it.
fn trim_zeros(number: &str) -> &str {
    if number.contains('.') {
        number.trim_end_matches('0').trim_end_matches('.')
    } else {
        number
    }
}

#[cfg(test)]
mod tests {
    use super::python2_str;

    #[test]
    fn matches_python2_str_of_float() {
        for (value, text) in [
            (0.0, "0.0"),
            (2.0, "2.0"),
            (1.5, "1.5"),
            (-1.25, "-1.25"),
            (1.0 / 3.0, "0.333333333333"),
            (2.0 / 3.0, "0.666666666667"),
            (1234.5678, "1234.5678"),
            (123_456_789.012_345_67, "123456789.012"),
            (999_999_999_999.0, "999999999999.0"),
            (999_999_999_999.9, "1e+12"),
            (1e16, "1e+16"),
            (1_234_567_890_123.0, "1.23456789012e+12"),
            (0.0001, "0.0001"),
            (0.000_012_5, "1.25e-05"),
            (f64::INFINITY, "inf"),
            (f64::NAN, "nan"),
        ] {
            assert_eq!(python2_str(value), text, "{value:e}");
        }
    }
}
