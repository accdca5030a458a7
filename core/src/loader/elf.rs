//! Checks that a file is a complete ELF shared object for this machine before anyone `dlopen`s
//! it.
//!
//! The dynamic loader maps a library's segments straight from the file: a truncated library
//! maps pages past its end, and the first touch of one kills the process with SIGBUS, before
//! any error can be reported. A library for another machine only gets a misleading
//! "No such file or directory" from glibc. Reading the headers first turns both into an error
//! that says what is wrong. Only the ELF header and the program header table are read.

use std::fs::File;
use std::io::Read;
use std::path::Path;

const MAGIC: [u8; 4] = *b"\x7fELF";
const ET_DYN: u16 = 3;
/// `e_phnum` escape value: the real count is elsewhere. No linker emits it for a library.
const PN_XNUM: u16 = 0xffff;

/// Why a file is not a loadable shared object for this machine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElfError {
    /// The file cannot be read.
    #[error("cannot read: {0}")]
    Unreadable(String),
    /// No ELF magic.
    #[error("not an ELF file (it does not start with \\x7fELF)")]
    NotElf,
    /// Word size differs from the host's.
    #[error("a {found}-bit ELF file, this machine is {host}-bit")]
    Class {
        /// The file's word size.
        found: u32,
        /// The host's.
        host: u32,
    },
    /// Byte order differs from the host's (or is invalid).
    #[error("{found} ELF file, this machine is {host}")]
    Endianness {
        /// The file's byte order.
        found: &'static str,
        /// The host's.
        host: &'static str,
    },
    /// Built for another processor.
    #[error("built for {} (e_machine {found}), this machine is {}", machine_name(*found), machine_name(*host))]
    Machine {
        /// The file's `e_machine`.
        found: u16,
        /// The host's.
        host: u16,
    },
    /// An executable, object file or core dump.
    #[error("not a shared object (ELF type {e_type}: {})", type_name(*e_type))]
    NotShared {
        /// The file's `e_type`.
        e_type: u16,
    },
    /// A header entry size this reader does not know.
    #[error("malformed ELF header: {0}")]
    Malformed(String),
    /// Part of the file the headers describe lies past its end.
    #[error("truncated: the {what} ends at byte {end}, the file has {len} bytes")]
    Truncated {
        /// The part.
        what: String,
        /// Where it ends.
        end: u64,
        /// The file's size.
        len: u64,
    },
}

/// Checks `file`: magic, class, byte order, machine, type, and that the program header table,
/// every segment and the section header table lie within the file.
pub fn check(file: &Path) -> Result<(), ElfError> {
    let unreadable = |e: std::io::Error| ElfError::Unreadable(e.to_string());
    let mut handle = File::open(file).map_err(unreadable)?;
    let len = handle.metadata().map_err(unreadable)?.len();
    let mut header = Vec::with_capacity(64);
    (&mut handle).take(64).read_to_end(&mut header).map_err(unreadable)?;
    let layout = identify(&header, len)?;
    let reader = Reader { bytes: &header, wide: layout.word == 8 };
    let e_type = reader.u16(16);
    let machine = reader.u16(18);
    if let Some(host) = host_machine() {
        if machine != host {
            return Err(ElfError::Machine { found: machine, host });
        }
    }
    if e_type != ET_DYN {
        return Err(ElfError::NotShared { e_type });
    }
    let phoff = reader.word(layout.phoff);
    let shoff = reader.word(layout.phoff + layout.word);
    let fields = layout.phoff + 2 * layout.word + 6; // e_flags, e_ehsize, then the table sizes
    let (phentsize, phnum) = (reader.u16(fields), reader.u16(fields + 2));
    let (shentsize, shnum) = (reader.u16(fields + 4), reader.u16(fields + 6));
    if phnum == PN_XNUM {
        return Err(ElfError::Malformed("more than 65534 program headers".into()));
    }
    if phnum > 0 && u64::from(phentsize) != layout.phentsize {
        return Err(ElfError::Malformed(format!(
            "program header entry size {phentsize}, expected {}",
            layout.phentsize
        )));
    }
    within("program header table", phoff, u64::from(phentsize) * u64::from(phnum), len)?;
    // e_shnum 0 with a table means the count is in the first entry, which must exist anyway.
    let sections = if shoff != 0 { u64::from(shnum).max(1) } else { 0 };
    within("section header table", shoff, u64::from(shentsize) * sections, len)?;
    check_segments(&mut handle, &layout, phoff, phnum, len)
}

/// Checks the identification bytes against the host; returns where the header's fields are.
fn identify(header: &[u8], len: u64) -> Result<Layout, ElfError> {
    if !header.starts_with(&MAGIC) {
        return Err(ElfError::NotElf);
    }
    let bits = match header.get(4) {
        Some(1) => 32,
        Some(2) => 64,
        Some(other) => return Err(ElfError::Malformed(format!("unknown ELF class {other}"))),
        None => return Err(ElfError::Truncated { what: "ELF header".into(), end: 5, len }),
    };
    if bits != usize::BITS {
        return Err(ElfError::Class { found: bits, host: usize::BITS });
    }
    let host_order = if cfg!(target_endian = "little") { "little-endian" } else { "big-endian" };
    let order = match header.get(5) {
        Some(1) => "little-endian",
        Some(2) => "big-endian",
        Some(other) => return Err(ElfError::Malformed(format!("unknown byte order {other}"))),
        None => return Err(ElfError::Truncated { what: "ELF header".into(), end: 6, len }),
    };
    if order != host_order {
        return Err(ElfError::Endianness { found: order, host: host_order });
    }
    let layout = Layout::of(bits);
    if (header.len() as u64) < layout.ehsize {
        return Err(ElfError::Truncated { what: "ELF header".into(), end: layout.ehsize, len });
    }
    Ok(layout)
}

/// Every segment's bytes in the file must exist: they are what the loader maps.
fn check_segments(
    handle: &mut File,
    layout: &Layout,
    phoff: u64,
    phnum: u16,
    len: u64,
) -> Result<(), ElfError> {
    use std::io::{Seek, SeekFrom};
    let unreadable = |e: std::io::Error| ElfError::Unreadable(e.to_string());
    let mut table = vec![0; layout.phentsize as usize * usize::from(phnum)];
    handle.seek(SeekFrom::Start(phoff)).map_err(unreadable)?;
    handle.read_exact(&mut table).map_err(unreadable)?;
    for (index, entry) in table.chunks_exact(layout.phentsize as usize).enumerate() {
        let reader = Reader { bytes: entry, wide: layout.word == 8 };
        let (offset, filesz) = (reader.word(layout.p_offset), reader.word(layout.p_filesz));
        within(&format!("segment #{index}"), offset, filesz, len)?;
    }
    Ok(())
}

fn within(what: &str, offset: u64, size: u64, len: u64) -> Result<(), ElfError> {
    let end = offset.saturating_add(size);
    if end > len {
        return Err(ElfError::Truncated { what: what.into(), end, len });
    }
    Ok(())
}

/// Where the fields this check reads sit, for one ELF class.
struct Layout {
    word: u64,
    ehsize: u64,
    phoff: u64,
    phentsize: u64,
    p_offset: u64,
    p_filesz: u64,
}

impl Layout {
    fn of(bits: u32) -> Layout {
        if bits == 64 {
            Layout { word: 8, ehsize: 64, phoff: 32, phentsize: 56, p_offset: 8, p_filesz: 32 }
        } else {
            Layout { word: 4, ehsize: 52, phoff: 28, phentsize: 32, p_offset: 4, p_filesz: 16 }
        }
    }
}

/// Reads host-endian fields (the byte order was checked to be the host's).
struct Reader<'a> {
    bytes: &'a [u8],
    wide: bool,
}

impl Reader<'_> {
    fn u16(&self, at: u64) -> u16 {
        let at = at as usize;
        u16::from_ne_bytes([self.bytes[at], self.bytes[at + 1]])
    }

    fn word(&self, at: u64) -> u64 {
        let at = at as usize;
        // In bounds: callers read within a header or entry whose full size was checked.
        if self.wide {
            u64::from_ne_bytes(self.bytes[at..at + 8].try_into().expect("8 bytes"))
        } else {
            u64::from(u32::from_ne_bytes(self.bytes[at..at + 4].try_into().expect("4 bytes")))
        }
    }
}

/// `e_machine` values of the architectures Rust commonly targets, with readable names.
const MACHINES: &[(u16, &str, &str)] = &[
    (3, "x86", "x86"),
    (8, "mips", "MIPS"),
    (20, "powerpc", "PowerPC"),
    (21, "powerpc64", "PowerPC64"),
    (22, "s390x", "S/390"),
    (40, "arm", "ARM"),
    (43, "sparc64", "SPARC V9"),
    (62, "x86_64", "x86-64"),
    (183, "aarch64", "AArch64"),
    (243, "riscv64", "RISC-V"),
    (258, "loongarch64", "LoongArch"),
];

/// This machine's `e_machine`; an architecture missing from [`MACHINES`] skips the check.
fn host_machine() -> Option<u16> {
    MACHINES.iter().find(|m| m.1 == std::env::consts::ARCH).map(|m| m.0)
}

fn machine_name(machine: u16) -> &'static str {
    MACHINES.iter().find(|m| m.0 == machine).map_or("another machine", |m| m.2)
}

fn type_name(e_type: u16) -> &'static str {
    match e_type {
        1 => "a relocatable object",
        2 => "an executable",
        4 => "a core dump",
        _ => "unknown",
    }
}
