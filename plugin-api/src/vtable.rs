//! Host side: a plugin descriptor that passed every check, ready to create instances.
//!
//! The loader finds descriptors in libraries; the test harness builds them in-process. Both go
//! through [`Vtable::from_descriptor`], so the checks are the same everywhere.
#![allow(unsafe_code)]

use crate::abi::{self, CreateFn, DestroyFn, FreeBufFn, OnEventFn, PluginDescriptor, Str};
use crate::error::DescriptorError;

/// A checked plugin descriptor: its metadata copied out and its functions known to be present.
#[derive(Clone, Debug)]
pub struct Vtable {
    /// The plugin's name.
    pub name: String,
    /// The plugin's version.
    pub version: String,
    /// One line saying what it does.
    pub description: String,
    /// The plugin-api version it was built with.
    pub api_version: String,
    pub(crate) create: CreateFn,
    pub(crate) on_event: OnEventFn,
    pub(crate) destroy: DestroyFn,
    pub(crate) free_buf: FreeBufFn,
}

impl Vtable {
    /// Checks a descriptor, in order: ABI version, struct size, layout hash, required functions,
    /// UTF-8 metadata, the name's form, `panic = "unwind"` build.
    ///
    /// # Safety
    /// `desc` must point at a live descriptor whose first two fields are readable (the caller has
    /// checked the list it came from), and its library must never be unloaded.
    pub unsafe fn from_descriptor(desc: *const PluginDescriptor) -> Result<Self, DescriptorError> {
        // SAFETY: the first 8 bytes are struct_size and abi_version in every ABI version.
        let (size, version) = unsafe { ((*desc).struct_size, (*desc).abi_version) };
        if version != abi::ABI_VERSION {
            return Err(DescriptorError::AbiVersion {
                found: version,
                supported: abi::ABI_VERSION,
                // SAFETY: caller's contract.
                plugin_api: unsafe { header_api_version(desc) },
            });
        }
        let needed = std::mem::size_of::<PluginDescriptor>() as u32;
        if size != needed {
            return Err(DescriptorError::StructSize {
                found: size,
                needed,
                // SAFETY: caller's contract.
                plugin_api: unsafe { header_api_version(desc) },
            });
        }
        // SAFETY: same ABI major and our size: every field we read exists.
        let desc = unsafe { &*desc };
        if desc.layout_hash != abi::LAYOUT_HASH {
            // Nothing past the header is read: with another layout it is not where we would look.
            return Err(DescriptorError::LayoutHash {
                found: desc.layout_hash,
                expected: abi::LAYOUT_HASH,
                // SAFETY: the descriptor is at least its header long (checked above).
                plugin_api: unsafe { header_api_version(desc) },
            });
        }
        let create = desc.create.ok_or(DescriptorError::MissingFunction("create"))?;
        let on_event = desc.on_event.ok_or(DescriptorError::MissingFunction("on_event"))?;
        let destroy = desc.destroy.ok_or(DescriptorError::MissingFunction("destroy"))?;
        let free_buf = desc.free_buf.ok_or(DescriptorError::MissingFunction("free_buf"))?;
        // SAFETY: static strings of a never-unloaded library.
        let (name, version, description, api_version) = unsafe {
            (
                text(desc.name, "name")?,
                text(desc.version, "version")?,
                text(desc.description, "description")?,
                text(desc.api_version, "api_version")?,
            )
        };
        if !is_valid_name(&name) {
            return Err(DescriptorError::InvalidName(name));
        }
        if desc.flags & abi::FLAG_PANIC_UNWIND == 0 {
            return Err(DescriptorError::PanicAbort);
        }
        Ok(Vtable { name, version, description, api_version, create, on_event, destroy, free_buf })
    }
}

/// A plugin name as a configuration writes it and the loader derives a file name from it:
/// lowercase ASCII letters, digits and `-`, starting with a letter.
pub fn is_valid_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The plugin-api version a descriptor's header names, when it is long enough to have one and
/// the text looks like a version (a refused plugin's other fields cannot be trusted to be where
/// we look). The header holds `api_version` at this place since plugin-api 0.1.0's descriptor
/// revision; a plugin built before it has its `name` there, which is not a version and so not
/// reported as one.
///
/// # Safety
/// `desc` must point at a live descriptor whose `struct_size` is readable and true, of a
/// never-unloaded library.
pub unsafe fn header_api_version(desc: *const PluginDescriptor) -> Option<String> {
    // SAFETY: caller's contract: struct_size is readable.
    let size = unsafe { (*desc).struct_size } as usize;
    if size < abi::DESCRIPTOR_HEADER_SIZE {
        return None;
    }
    // SAFETY: the header keeps its layout in every ABI version and the descriptor holds it
    // whole.
    let text = unsafe { (*desc).api_version };
    // A refused plugin may be corrupt: no null pointer, no length past any version string.
    if text.ptr.is_null() || text.len == 0 || text.len > 64 {
        return None;
    }
    // SAFETY: non-null and short (checked above); a version string is static text of a library
    // that is never unloaded.
    let bytes = unsafe { text.as_bytes() };
    let version = std::str::from_utf8(bytes).ok()?;
    looks_like_version(version).then(|| version.to_owned())
}

/// A semantic version's shape: a digit first, then digits, letters, `.`, `-` and `+`.
fn looks_like_version(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_digit())
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+'))
}

/// # Safety
/// `s` must describe live bytes.
unsafe fn text(s: Str<'static>, field: &'static str) -> Result<String, DescriptorError> {
    // SAFETY: caller's contract.
    let bytes = unsafe { s.as_bytes() };
    std::str::from_utf8(bytes).map(str::to_owned).map_err(|_| DescriptorError::InvalidUtf8(field))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn descriptor(api_version: Str<'static>) -> PluginDescriptor {
        PluginDescriptor {
            struct_size: std::mem::size_of::<PluginDescriptor>() as u32,
            abi_version: abi::ABI_VERSION,
            layout_hash: 0,
            flags: 0,
            reserved: 0,
            api_version,
            name: Str::from_str("x"),
            version: Str::from_str("1"),
            description: Str::empty(),
            create: None,
            on_event: None,
            destroy: None,
            free_buf: None,
        }
    }

    fn named(api_version: Str<'static>) -> Option<String> {
        let desc = descriptor(api_version);
        // SAFETY: a live descriptor of this crate's layout, its strings static.
        unsafe { header_api_version(&desc) }
    }

    #[test]
    fn a_version_in_the_header_is_named() {
        assert_eq!(named(Str::from_str("0.1.0")).as_deref(), Some("0.1.0"));
        assert_eq!(named(Str::from_str("1.2.3-rc.1+build")).as_deref(), Some("1.2.3-rc.1+build"));
    }

    #[test]
    fn what_is_not_a_version_is_not_named_as_one() {
        // A plugin built before the header existed has its name where the version now is.
        assert_eq!(named(Str::from_str("spy")), None);
        assert_eq!(named(Str::from_str("")), None);
        assert_eq!(named(Str::from_str("1.0 beta")), None);
        let mut null = Str::from_str("0.1.0");
        null.ptr = std::ptr::null();
        assert_eq!(named(null), None);
    }
}
