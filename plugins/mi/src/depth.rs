//! The bound on how deeply a server's reply may nest. serde_json stops at 128 levels with an
//! error that reads like a syntax fault, and any recursive walk (XML-RPC values, dropping a
//! tree) of a reply thousands of levels deep overflows the stack and aborts the process. Real
//! MI replies nest a handful of levels, so anything past [`MAX_DEPTH`] is refused before any
//! recursive code sees it, with one recognizable reason.

/// The deepest JSON nesting accepted in a reply (objects and arrays, the reply itself counted).
pub(crate) const MAX_DEPTH: usize = 100;

/// The deepest XML element nesting accepted: an XML-RPC value costs three elements per level
/// (`<value><array><data>`, `<value><struct><member>`) below `<methodResponse><params><param>`
/// and above a typed leaf, so this admits exactly the values JSON admits.
pub(crate) const MAX_XML_DEPTH: usize = 3 * MAX_DEPTH + 5;

/// The reason of every reply refused for its depth.
pub(crate) fn too_deep(limit: usize) -> String {
    format!("nested too deep (more than {limit} levels)")
}

/// Checks the nesting of JSON text without parsing it, in one pass with no recursion; brackets
/// inside strings do not count. Whatever else is wrong with the text is left to the parser.
pub(crate) fn check_json(text: &[u8]) -> Result<(), String> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in text {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(too_deep(MAX_DEPTH));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> String {
        format!("{}{}", "[".repeat(levels), "]".repeat(levels))
    }

    #[test]
    fn the_limit_is_inclusive() {
        assert_eq!(check_json(nested(MAX_DEPTH).as_bytes()), Ok(()));
        assert_eq!(check_json(nested(MAX_DEPTH + 1).as_bytes()), Err(too_deep(MAX_DEPTH)));
        assert!(check_json(format!("{{\"a\":{}}}", nested(MAX_DEPTH)).as_bytes()).is_err());
    }

    #[test]
    fn brackets_in_strings_and_escapes_do_not_count() {
        let text = format!(r#"["{}\"{}", "\\", {}]"#, "[{".repeat(500), "{".repeat(500), "[]");
        assert_eq!(check_json(text.as_bytes()), Ok(()));
    }

    #[test]
    fn closing_brackets_without_openers_do_not_wrap_around() {
        let text = format!("{}{}", "]".repeat(10), nested(MAX_DEPTH));
        assert_eq!(check_json(text.as_bytes()), Ok(()));
    }
}
