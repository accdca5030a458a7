//! The C ABI between the ctiproxy host and its plugins: the only types that cross a shared
//! library boundary.
//!
//! Rust's own ABI is not stable between compilers, so nothing here is a Rust-only type: every
//! struct is `#[repr(C)]` and holds fixed-width integers, raw pointers, lengths and optional
//! `extern "C"` function pointers (whose `None` is guaranteed to be the null pointer). Kinds,
//! directions and status codes are `u32` constants, never Rust enums, because an out-of-range
//! discriminant read from a foreign library would be undefined behaviour.
//!
//! Ownership rules (each pointer below says which applies):
//! - [`Str`] is *borrowed*: valid only for the duration of the call it is passed to, or for the
//!   life of the process when it points at a plugin's static data (names, descriptions).
//! - [`OwnedBuf`] is *owned by the library that allocated it*: a plugin fills it, the host reads it
//!   and hands it back to that same plugin's `free_buf`. Allocators are never mixed.
//! - Libraries are never unloaded, so a descriptor's static data lives for the whole process.
//!
//! Threading: an instance is called by one thread at a time (the pipeline thread), not
//! necessarily the thread that created it; the host's callbacks in [`HostApi`] are thread-safe
//! and may be called from any thread the plugin owns. Events of different sessions interleave:
//! keep per-session state keyed by `session_id`.
//!
//! Checks, in this order, before the host calls anything: the [`PluginList`]'s
//! [`ABI_VERSION`] and size, then per [`PluginDescriptor`]: its [`ABI_VERSION`], its
//! `struct_size` (exactly this crate's), its [`LAYOUT_HASH`] (exactly this crate's), the four
//! functions present, UTF-8 texts, a name of lowercase letters, digits and `-`, and
//! [`FLAG_PANIC_UNWIND`] (a plugin written in C sets it: it cannot unwind). A refusal names the
//! library, the check, and both plugin-api versions when the versions differ.
//!
//! How the ABI grows: [`LAYOUT_HASH`] covers the size, alignment and field offsets of every struct
//! above and the event kind and status codes it lists, so any change to them refuses every plugin
//! built before it, which must then be rebuilt against the new plugin-api: structs are never
//! extended in place. What keeps the hash, and so keeps old plugins loading, is new meaning for
//! existing room: a new `MSG_*`, `SESSION_*` or `HOST_*` flag bit, or a new `EVENT_*` kind (a
//! plugin ignores kinds it does not know and passes them on) added with a new plugin-api minor
//! version. A change that old plugins could not ignore bumps [`ABI_VERSION`], and with it the entry
//! symbol's name. The [`PluginList`] and the descriptor's header keep their layout in every ABI
//! version, so a host can always say what a refused plugin was built with.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::marker::PhantomData;
use std::mem::{align_of, offset_of, size_of};

pub use crate::index::Node;

/// The ABI major version this crate speaks. A host refuses plugins built for another major.
pub const ABI_VERSION: u32 = 1;

/// This plugin-api's version, which a plugin puts in its descriptor's `api_version`.
pub const PLUGIN_API_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The one symbol a plugin library exports (NUL-terminated for `dlsym`). The ABI major is part of
/// its name so a future host can probe `_v2` and then `_v1`.
pub const ENTRY_SYMBOL: &[u8] = b"ctiproxy_plugin_v1\0";

/// The type of [`ENTRY_SYMBOL`]: returns a pointer to the library's static [`PluginList`].
pub type EntryFn = unsafe extern "C" fn() -> *const PluginList;

/// Descriptor flag: the library was built with `panic = "unwind"`, so its panics can be caught.
/// Plugins built with `panic = "abort"` are refused: one panic would kill the whole proxy.
pub const FLAG_PANIC_UNWIND: u32 = 1;

/// Event kind: a client connected and the server leg is up.
pub const EVENT_SESSION_START: u32 = 1;
/// Event kind: one line (or, in raw mode, one read) in one direction.
pub const EVENT_MESSAGE: u32 = 2;
/// Event kind: a session ended; no more messages for it will follow.
pub const EVENT_SESSION_END: u32 = 3;
/// Event kind: the pipeline is shutting down; flush files, print totals.
pub const EVENT_SHUTDOWN: u32 = 4;
/// Event kind: a timer tick, about once a second while the pipeline is idle or busy, so plugins
/// can flush buffers or expire state without a thread of their own.
pub const EVENT_TICK: u32 = 5;

/// Direction: bytes the client sent towards the server.
pub const DIR_CLIENT_TO_SERVER: u32 = 1;
/// Direction: bytes the server sent towards the client.
pub const DIR_SERVER_TO_CLIENT: u32 = 2;

/// Message flag: the line was longer than the configured maximum; `line` holds only a preview and
/// `line_len` the full length. The bytes were still forwarded.
pub const MSG_OVERSIZE: u32 = 1;
/// Message flag: raw mode, the message is one TCP read rather than one line.
pub const MSG_RAW: u32 = 1 << 1;
/// Message flag: the peer closed the connection before a final newline; this is the tail.
pub const MSG_NO_NEWLINE: u32 = 1 << 2;
/// Message flag: the message travelled encrypted (TLS) and the proxy decrypted it: every message
/// after a STARTTLS switch, and every message of a session on a TLS listener.
pub const MSG_TLS: u32 = 1 << 3;

/// Session-start flag: the session is TLS from its first byte (a TLS listener, `tls = "always"`).
/// A STARTTLS session starts in plain text, so its start has no flag; its messages after the
/// switch carry [`MSG_TLS`].
pub const SESSION_TLS: u32 = 1;

/// Status: success (`create`), or "pass the message on unchanged" (`on_event`).
pub const STATUS_OK: u32 = 0;
/// Status of `on_event`: pass the message on unchanged.
pub const STATUS_PASS: u32 = 0;
/// Status of `on_event`: later plugins do not see this message. The wire is not affected.
pub const STATUS_DROP: u32 = 1;
/// Status of `on_event`: later plugins see the bytes in the out buffer instead.
pub const STATUS_REPLACE: u32 = 2;
/// Status of `create`: the configuration was rejected; the out buffer holds a JSON
/// `{"path": "a.b", "message": "..."}`.
pub const STATUS_CONFIG_ERROR: u32 = 3;
/// Status: the call failed; the out buffer holds UTF-8 error text.
pub const STATUS_ERROR: u32 = 4;
/// Status: the plugin panicked; the out buffer holds the panic message. The instance is
/// poisoned: every later call returns this status without running plugin code.
pub const STATUS_PANICKED: u32 = 5;

/// Host log level codes for [`HostApi::log`].
pub const LOG_ERROR: u32 = 1;
/// Warning level.
pub const LOG_WARN: u32 = 2;
/// Info level.
pub const LOG_INFO: u32 = 3;
/// Debug level.
pub const LOG_DEBUG: u32 = 4;

/// Host flag: the host's user output (stdout) is a terminal, so colour is welcome.
pub const HOST_OUTPUT_IS_TERMINAL: u32 = 1;
/// Host flag: the pipeline is only being checked (`ctiproxy check`) and will never run. Validate
/// the settings, but create no file, open no connection, start no thread.
pub const HOST_CHECK_ONLY: u32 = 1 << 1;

/// A borrowed byte string: `ptr` to `len` bytes, not NUL-terminated, not necessarily UTF-8.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Str<'a> {
    /// First byte; may be dangling when `len == 0`.
    pub ptr: *const u8,
    /// Number of bytes.
    pub len: usize,
    _borrow: PhantomData<&'a [u8]>,
}

impl<'a> Str<'a> {
    /// Borrows a byte slice for the boundary.
    pub const fn new(bytes: &'a [u8]) -> Self {
        Str { ptr: bytes.as_ptr(), len: bytes.len(), _borrow: PhantomData }
    }

    /// Borrows a string for the boundary.
    pub const fn from_str(s: &'a str) -> Self {
        Self::new(s.as_bytes())
    }

    /// The empty string.
    pub const fn empty() -> Self {
        Self::new(&[])
    }

    /// Views the bytes again.
    ///
    /// # Safety
    /// `ptr` must point at `len` readable bytes that stay valid and unchanged for `'a`, which holds
    /// for every `Str` built by [`Str::new`] and for every `Str` the other side passes in a call,
    /// for the duration of that call.
    pub unsafe fn as_bytes(&self) -> &'a [u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: the caller guarantees ptr/len describe live bytes for 'a (see above).
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// A borrowed slice of index nodes (the JSON tape of a message line, see [`crate::index`]): the
/// host parses each line once and lends the tape to every plugin with the line.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Nodes<'a> {
    /// First node; may be dangling when `len == 0`.
    pub ptr: *const Node,
    /// Number of nodes; 0 when the line is not JSON (or was not indexed: raw, oversize).
    pub len: usize,
    _borrow: PhantomData<&'a [Node]>,
}

impl<'a> Nodes<'a> {
    /// Borrows a tape for the boundary.
    pub const fn new(nodes: &'a [Node]) -> Self {
        Nodes { ptr: nodes.as_ptr(), len: nodes.len(), _borrow: PhantomData }
    }

    /// No tape.
    pub const fn empty() -> Self {
        Self::new(&[])
    }

    /// Views the nodes again.
    ///
    /// # Safety
    /// As [`Str::as_bytes`]: `ptr` must point at `len` nodes valid for `'a`, which holds for every
    /// `Nodes` the host lends in a call, for the duration of that call.
    pub unsafe fn as_slice(&self) -> &'a [Node] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: the caller guarantees ptr/len describe live nodes for 'a (see above).
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// A buffer allocated by a plugin and released only by that plugin's `free_buf`.
#[repr(C)]
#[derive(Debug)]
pub struct OwnedBuf {
    /// Start of the allocation, or null for "no buffer".
    pub ptr: *mut u8,
    /// Bytes in use.
    pub len: usize,
    /// Allocated capacity (needed to rebuild the `Vec` that allocated it).
    pub cap: usize,
}

impl OwnedBuf {
    /// The empty buffer: nothing to free.
    pub const fn empty() -> Self {
        OwnedBuf { ptr: std::ptr::null_mut(), len: 0, cap: 0 }
    }

    /// Gives up a `Vec`'s allocation to the boundary; rebuild it with [`OwnedBuf::into_vec`] in the
    /// same library.
    pub fn from_vec(v: Vec<u8>) -> Self {
        let mut v = std::mem::ManuallyDrop::new(v);
        OwnedBuf { ptr: v.as_mut_ptr(), len: v.len(), cap: v.capacity() }
    }

    /// Takes back an allocation made by [`OwnedBuf::from_vec`].
    ///
    /// # Safety
    /// Must be called in the library that made the buffer, at most once per buffer, on a buffer
    /// that came from `from_vec` (or is empty).
    pub unsafe fn into_vec(self) -> Vec<u8> {
        if self.ptr.is_null() {
            return Vec::new();
        }
        // SAFETY: ptr/len/cap come from a Vec<u8> of this allocator (caller's contract).
        unsafe { Vec::from_raw_parts(self.ptr, self.len, self.cap) }
    }
}

/// Creates an instance from its JSON configuration. On success writes the instance pointer and
/// returns [`STATUS_OK`]; otherwise fills `out_err` and returns [`STATUS_CONFIG_ERROR`],
/// [`STATUS_ERROR`] or [`STATUS_PANICKED`]. `host` stays valid for the rest of the process.
pub type CreateFn = unsafe extern "C" fn(
    host: *const HostApi,
    config_json: Str<'_>,
    out_instance: *mut *mut c_void,
    out_err: *mut OwnedBuf,
) -> u32;

/// Delivers one [`Event`]. Returns a `STATUS_*` code; `out` receives the replacement bytes for
/// [`STATUS_REPLACE`], or error text for [`STATUS_ERROR`] / [`STATUS_PANICKED`].
pub type OnEventFn =
    unsafe extern "C" fn(instance: *mut c_void, event: *const Event<'_>, out: *mut OwnedBuf) -> u32;

/// Drops an instance. Never fails; a no-op on a poisoned instance's already-dropped state.
pub type DestroyFn = unsafe extern "C" fn(instance: *mut c_void);

/// Releases a buffer this library handed out.
pub type FreeBufFn = unsafe extern "C" fn(buf: OwnedBuf);

/// One plugin exported by a library.
///
/// Its size is part of [`LAYOUT_HASH`], so the host accepts exactly its own layout: a longer or
/// shorter descriptor is refused (see "How the ABI grows" in the module documentation). Its
/// header, the fields up to and including `api_version`, keeps its place in every ABI version,
/// so that a host can always tell which ABI and which plugin-api a refused plugin was built with.
#[repr(C)]
#[derive(Debug)]
pub struct PluginDescriptor {
    /// `size_of::<PluginDescriptor>()` as the plugin was built.
    pub struct_size: u32,
    /// [`ABI_VERSION`] as the plugin was built.
    pub abi_version: u32,
    /// [`LAYOUT_HASH`] as the plugin was built; differs if it used an incompatible plugin-api.
    pub layout_hash: u64,
    /// `FLAG_*` bits.
    pub flags: u32,
    /// Reserved, zero.
    pub reserved: u32,
    /// The plugin-api crate version it was built with (static, UTF-8); a C plugin puts
    /// `CTIPROXY_PLUGIN_API_VERSION` from the header it included. Named in load errors.
    pub api_version: Str<'static>,
    /// The name used in `[[pipeline]] plugin = "..."` (static, UTF-8): lowercase ASCII letters,
    /// digits and `-`, starting with a letter, or the host refuses the plugin.
    pub name: Str<'static>,
    /// The plugin's own version (static, UTF-8).
    pub version: Str<'static>,
    /// One line saying what it does (static, UTF-8).
    pub description: Str<'static>,
    /// See [`CreateFn`].
    pub create: Option<CreateFn>,
    /// See [`OnEventFn`].
    pub on_event: Option<OnEventFn>,
    /// See [`DestroyFn`].
    pub destroy: Option<DestroyFn>,
    /// See [`FreeBufFn`].
    pub free_buf: Option<FreeBufFn>,
}

/// Bytes of the descriptor's header (up to and including `api_version`), the part that keeps
/// its place in every ABI version.
pub const DESCRIPTOR_HEADER_SIZE: usize = offset_of!(PluginDescriptor, name);

// SAFETY: a descriptor is immutable static data (pointers to static strings and functions);
// sharing it between threads cannot race.
unsafe impl Sync for PluginDescriptor {}
// SAFETY: as above; it owns nothing.
unsafe impl Send for PluginDescriptor {}

/// What [`ENTRY_SYMBOL`] returns: the library's plugins, in static memory. Its layout is the
/// same in every ABI version.
#[repr(C)]
#[derive(Debug)]
pub struct PluginList {
    /// [`ABI_VERSION`] as the library was built; checked before anything else is read.
    pub abi_version: u32,
    /// `size_of::<PluginList>()` as the library was built.
    pub struct_size: u32,
    /// Number of descriptors at `plugins`.
    pub count: u32,
    /// Reserved, zero.
    pub reserved: u32,
    /// `count` descriptors, each `size_of::<PluginDescriptor>()` apart as this crate defines it.
    pub plugins: *const PluginDescriptor,
}

// SAFETY: immutable static data, see PluginDescriptor.
unsafe impl Sync for PluginList {}
// SAFETY: as above.
unsafe impl Send for PluginList {}

/// One event, flat so that a new kind never changes the function table. Fields that do not apply
/// to a kind are zero or empty.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    /// `EVENT_*`.
    pub kind: u32,
    /// `DIR_*` for messages, 0 otherwise.
    pub direction: u32,
    /// `MSG_*` bits for messages, `SESSION_*` bits for a session start.
    pub flags: u32,
    /// Reserved, zero.
    pub reserved: u32,
    /// The session this event belongs to (0 for shutdown).
    pub session_id: u64,
    /// When the bytes arrived (or the session started/ended), microseconds since the Unix epoch.
    pub ts_unix_micros: i64,
    /// The line without its `\n` (messages); borrowed for the call.
    pub line: Str<'a>,
    /// Full length of the line; larger than `line.len` only for oversize lines.
    pub line_len: u64,
    /// Client address as text (session events).
    pub client_addr: Str<'a>,
    /// Server address as text (session events).
    pub server_addr: Str<'a>,
    /// Why a session ended (session end).
    pub reason: Str<'a>,
    /// Bytes forwarded client → server (session end).
    pub bytes_c2s: u64,
    /// Bytes forwarded server → client (session end).
    pub bytes_s2c: u64,
    /// Lines client → server (session end).
    pub msgs_c2s: u64,
    /// Lines server → client (session end).
    pub msgs_s2c: u64,
    /// TCP reads client → server (session end), for wire-level estimates.
    pub reads_c2s: u64,
    /// TCP reads server → client (session end).
    pub reads_s2c: u64,
    /// Events of this session the pipeline lost to a full queue (`overflow = "drop"`).
    pub dropped: u64,
    /// Messages: the line's JSON tape, parsed once by the host (empty when the line is not JSON,
    /// is oversize or a raw read); borrowed for the call. A replaced line is indexed again for
    /// the plugins after the one that replaced it.
    pub index: Nodes<'a>,
}

/// Services the host offers a plugin instance, passed to `create`. The host never frees it (a
/// plugin may keep using it from its own threads after `destroy`); every callback is
/// thread-safe.
#[repr(C)]
#[derive(Debug)]
pub struct HostApi {
    /// `size_of::<HostApi>()` as the host was built.
    pub struct_size: u32,
    /// [`ABI_VERSION`] of the host.
    pub abi_version: u32,
    /// `HOST_*` flags.
    pub flags: u32,
    /// Reserved, zero.
    pub reserved: u32,
    /// Opaque host state passed back to every callback.
    pub ctx: *mut c_void,
    /// Logs a diagnostic (stderr, via the host's logger) under the instance's name.
    pub log: Option<unsafe extern "C" fn(ctx: *mut c_void, level: u32, msg: Str<'_>)>,
    /// Writes user-facing output (stdout). The host buffers and orders it.
    pub output: Option<unsafe extern "C" fn(ctx: *mut c_void, bytes: Str<'_>)>,
    /// Adds to a named counter of this instance.
    pub counter_add: Option<unsafe extern "C" fn(ctx: *mut c_void, name: Str<'_>, delta: u64)>,
    /// The instance's label in the pipeline, e.g. `spy` or `pipeline[2] (spy)`.
    pub instance_name: Str<'static>,
}

/// A fingerprint of every boundary struct's size, alignment and field offsets. A plugin built
/// against a plugin-api whose structs differ reports another value and is refused, even if it
/// claims the same [`ABI_VERSION`].
pub const LAYOUT_HASH: u64 = {
    let parts: [usize; 66] = [
        size_of::<Str>(),
        align_of::<Str>(),
        offset_of!(Str, len),
        size_of::<OwnedBuf>(),
        offset_of!(OwnedBuf, len),
        offset_of!(OwnedBuf, cap),
        size_of::<PluginDescriptor>(),
        align_of::<PluginDescriptor>(),
        offset_of!(PluginDescriptor, abi_version),
        offset_of!(PluginDescriptor, layout_hash),
        offset_of!(PluginDescriptor, flags),
        offset_of!(PluginDescriptor, name),
        offset_of!(PluginDescriptor, version),
        offset_of!(PluginDescriptor, description),
        offset_of!(PluginDescriptor, api_version),
        offset_of!(PluginDescriptor, create),
        offset_of!(PluginDescriptor, on_event),
        offset_of!(PluginDescriptor, destroy),
        offset_of!(PluginDescriptor, free_buf),
        size_of::<PluginList>(),
        offset_of!(PluginList, count),
        offset_of!(PluginList, plugins),
        size_of::<Event>(),
        align_of::<Event>(),
        offset_of!(Event, direction),
        offset_of!(Event, flags),
        offset_of!(Event, session_id),
        offset_of!(Event, ts_unix_micros),
        offset_of!(Event, line),
        offset_of!(Event, line_len),
        offset_of!(Event, client_addr),
        offset_of!(Event, server_addr),
        offset_of!(Event, reason),
        offset_of!(Event, bytes_c2s),
        offset_of!(Event, bytes_s2c),
        offset_of!(Event, msgs_c2s),
        offset_of!(Event, msgs_s2c),
        offset_of!(Event, reads_c2s),
        offset_of!(Event, reads_s2c),
        offset_of!(Event, dropped),
        offset_of!(Event, index),
        size_of::<Nodes>(),
        offset_of!(Nodes, len),
        size_of::<Node>(),
        align_of::<Node>(),
        offset_of!(Node, end),
        offset_of!(Node, next),
        offset_of!(Node, count),
        offset_of!(Node, kind),
        offset_of!(Node, flags),
        size_of::<HostApi>(),
        align_of::<HostApi>(),
        offset_of!(HostApi, flags),
        offset_of!(HostApi, ctx),
        offset_of!(HostApi, log),
        offset_of!(HostApi, output),
        offset_of!(HostApi, counter_add),
        offset_of!(HostApi, instance_name),
        EVENT_SESSION_START as usize,
        EVENT_MESSAGE as usize,
        EVENT_SESSION_END as usize,
        EVENT_SHUTDOWN as usize,
        EVENT_TICK as usize,
        STATUS_REPLACE as usize,
        STATUS_PANICKED as usize,
        ABI_VERSION as usize,
    ];
    // FNV-1a: tiny, const-evaluable, and stable across compilers.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < parts.len() {
        let bytes = (parts[i] as u64).to_le_bytes();
        let mut j = 0;
        while j < bytes.len() {
            hash ^= bytes[j] as u64;
            hash = hash.wrapping_mul(0x0100_0000_01b3);
            j += 1;
        }
        i += 1;
    }
    hash
};
