//! Finds a CTI message's top-level `"class"` without parsing the message: the pipeline thread
//! counts every message by class, and a full JSON parse per line would cost more than the
//! counting is worth.
//!
//! The scan walks the top-level object's keys and skips their values (strings, nested objects
//! and arrays, scalars) without building anything; it stops at the class, which CTI messages
//! usually give first. It does not validate what it skips: a line that is not JSON but starts
//! like an object with a class is counted under that class, which is what a person reading the
//! line would say too. A class with escapes is returned raw (and not a valid label).

/// The raw bytes of `line`'s top-level `"class"` string value, if it has one.
pub fn class_of(line: &[u8]) -> Option<&[u8]> {
    let mut scan = Scan { bytes: line, at: 0 };
    scan.expect(b'{')?;
    loop {
        scan.skip_whitespace();
        let key = scan.string()?;
        scan.expect(b':')?;
        scan.skip_whitespace();
        if key == b"class" {
            return scan.string();
        }
        scan.skip_value()?;
        scan.expect(b',')?;
    }
}

struct Scan<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.at += 1;
        }
    }

    /// Skips whitespace, then `byte`.
    fn expect(&mut self, byte: u8) -> Option<()> {
        self.skip_whitespace();
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// A string at the cursor: its raw content, escapes left as they are.
    fn string(&mut self) -> Option<&'a [u8]> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.at + 1;
        let mut at = start;
        loop {
            match *self.bytes.get(at)? {
                b'"' => {
                    self.at = at + 1;
                    return Some(&self.bytes[start..at]);
                }
                b'\\' => at += 2,
                _ => at += 1,
            }
        }
    }

    /// Skips one value: a string, an object or array (to its matching end), or a scalar.
    fn skip_value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.at += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.at += 1;
                }
            }
            _ => {
                let start = self.at;
                while !matches!(
                    self.peek(),
                    None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n')
                ) {
                    self.at += 1;
                }
                (self.at > start).then_some(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::class_of;

    fn class(line: &str) -> Option<&str> {
        class_of(line.as_bytes()).map(|c| std::str::from_utf8(c).unwrap())
    }

    #[test]
    fn finds_the_top_level_class_wherever_it_is() {
        assert_eq!(class(r#"{"class":"login_id","userlogin":"alice"}"#), Some("login_id"));
        assert_eq!(class(r#" { "timenow" : 1.5 , "class" : "getlist" } "#), Some("getlist"));
        let nested = r#"{"data":{"class":"inner","x":[1,{"class":"deeper"},"]}"]},"n":null,"s":"a\"}","class":"outer"}"#;
        assert_eq!(class(nested), Some("outer"));
        assert_eq!(class(r#"{"a":[[[]]],"b":-1e5,"c":true,"class":"x"}"#), Some("x"));
        assert_eq!(class(r#"{"class":"esc\"aped"}"#), Some(r#"esc\"aped"#));
    }

    #[test]
    fn no_class_is_none() {
        for line in [
            "",
            "hello",
            "[]",
            "{}",
            r#"{"class":3}"#,
            r#"{"data":{"class":"inner"}}"#,
            r#"{"class""#,
            r#"{"class":"unterminated"#,
            r#"{"a":{"b":1}"#,
            r#"{"a" 1, "class":"x"}"#,
            r#"{"a":,"class":"x"}"#,
            r#"{"s":"\"#,
        ] {
            assert_eq!(class(line), None, "{line}");
        }
    }
}
