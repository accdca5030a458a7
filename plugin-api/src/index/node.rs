//! The tape's element: one `#[repr(C)]` node per JSON token, in document order.
//!
//! A tape describes one JSON text (one CTI line) without copying any of it: every node holds
//! byte offsets into the line. A container is followed by its descendants and knows where they
//! end, so a reader skips a whole subtree in O(1). An object's children alternate key, value.
//!
//! Layout (20 bytes, 4-byte aligned, no implicit padding, no pointers), so a tape can be lent
//! across the plugin C ABI next to the line it describes:
//!
//! | offset | field      | type      | meaning                                                        |
//! |-------:|------------|-----------|----------------------------------------------------------------|
//! | 0      | `start`    | `u32`     | offset of the token's first byte (`{`, `[`, `"`, `-`, digit, letter) |
//! | 4      | `end`      | `u32`     | offset one past its last byte (past the closing `}`/`]`/`"`)     |
//! | 8      | `next`     | `u32`     | index of the node after this one's subtree (`self + 1` for scalars) |
//! | 12     | `count`    | `u32`     | objects: entries as written (duplicates included); arrays: items; else 0 |
//! | 16     | `kind`     | `u8`      | one of the `KIND_*` codes                                      |
//! | 17     | `flags`    | `u8`      | `FLAG_*` bits                                                  |
//! | 18     | `reserved` | `[u8; 2]` | zero                                                           |
//!
//! Offsets are `u32`: the parser refuses lines of 4 GiB or more.

/// An object: `count` key/value pairs follow, as `KIND_KEY` then value.
pub const KIND_OBJECT: u8 = 1;
/// An array: `count` values follow.
pub const KIND_ARRAY: u8 = 2;
/// A string value; the span includes the quotes.
pub const KIND_STRING: u8 = 3;
/// A number; the span is its text as written.
pub const KIND_NUMBER: u8 = 4;
/// `true`.
pub const KIND_TRUE: u8 = 5;
/// `false`.
pub const KIND_FALSE: u8 = 6;
/// `null`.
pub const KIND_NULL: u8 = 7;
/// An object key; the span includes the quotes. Its value is the next node.
pub const KIND_KEY: u8 = 8;

/// Strings and keys: the text contains at least one `\` escape, so it must be decoded before
/// use (without it the bytes between the quotes are the string).
pub const FLAG_ESCAPED: u8 = 1;
/// Numbers: written with a fraction or an exponent (serde_json reads these as floats).
pub const FLAG_FLOAT: u8 = 2;

/// One token of a JSON text; see the module documentation for the layout.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Node {
    /// Offset of the token's first byte in the line.
    pub start: u32,
    /// Offset one past the token's last byte.
    pub end: u32,
    /// Index of the first node after this node's subtree.
    pub next: u32,
    /// Children of a container: entries of an object, items of an array; 0 otherwise.
    pub count: u32,
    /// A `KIND_*` code.
    pub kind: u8,
    /// `FLAG_*` bits.
    pub flags: u8,
    /// Zero; keeps the size a multiple of the alignment without implicit padding.
    pub reserved: [u8; 2],
}

// The layout is part of the contract with plugins built separately.
const _: () = assert!(std::mem::size_of::<Node>() == 20 && std::mem::align_of::<Node>() == 4);

/// What a node is, as a Rust enum for matching; the tape itself stores the `KIND_*` codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `{...}`
    Object,
    /// `[...]`
    Array,
    /// `"..."` as a value.
    String,
    /// A number.
    Number,
    /// `true`
    True,
    /// `false`
    False,
    /// `null`
    Null,
    /// `"..."` as an object key.
    Key,
}

impl Kind {
    /// Reads a `KIND_*` code; `None` for a code this version does not know.
    pub fn from_code(code: u8) -> Option<Kind> {
        Some(match code {
            KIND_OBJECT => Kind::Object,
            KIND_ARRAY => Kind::Array,
            KIND_STRING => Kind::String,
            KIND_NUMBER => Kind::Number,
            KIND_TRUE => Kind::True,
            KIND_FALSE => Kind::False,
            KIND_NULL => Kind::Null,
            KIND_KEY => Kind::Key,
            _ => return None,
        })
    }
}

impl Node {
    /// The node's kind. A tape from [`crate::index::parse_into`] holds known codes only; an
    /// unknown one reads as `Null`, so a foreign tape cannot make a reader panic.
    pub fn kind(&self) -> Kind {
        Kind::from_code(self.kind).unwrap_or(Kind::Null)
    }

    /// The token's span in the line.
    pub fn span(&self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }

    /// A string or key containing `\` escapes.
    pub fn is_escaped(&self) -> bool {
        self.flags & FLAG_ESCAPED != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_sit_at_the_documented_offsets() {
        assert_eq!(std::mem::offset_of!(Node, start), 0);
        assert_eq!(std::mem::offset_of!(Node, end), 4);
        assert_eq!(std::mem::offset_of!(Node, next), 8);
        assert_eq!(std::mem::offset_of!(Node, count), 12);
        assert_eq!(std::mem::offset_of!(Node, kind), 16);
        assert_eq!(std::mem::offset_of!(Node, flags), 17);
        assert_eq!(std::mem::offset_of!(Node, reserved), 18);
    }

    #[test]
    fn every_code_reads_back() {
        for code in KIND_OBJECT..=KIND_KEY {
            assert!(Kind::from_code(code).is_some());
        }
        assert_eq!(Kind::from_code(0), None);
        assert_eq!(Node { kind: 99, ..Node::default() }.kind(), Kind::Null);
    }
}
