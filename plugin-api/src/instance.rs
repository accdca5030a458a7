//! Host side: one live plugin instance and the safe calls into it.
//!
//! This is where the host crosses the boundary at run time: it builds the C [`Event`], calls the
//! plugin, reads the status code (validated, never trusted as an enum), copies any buffer the
//! plugin returned and hands it back to the plugin's own `free_buf`. A panicked instance is
//! poisoned here: it is never called again.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::ops::Range;
use std::sync::Arc;

use crate::abi::{self, Event, Node, Nodes, OwnedBuf, Str};
use crate::error::{ConfigError, CreateError};
use crate::services::{HostServices, HostTable};
use crate::vtable::Vtable;

/// What an instance answered to an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Pass the message on unchanged.
    Pass,
    /// Later plugins do not see it.
    Drop,
    /// Later plugins see these bytes instead.
    Replace(Vec<u8>),
    /// The call failed; the message passes on unchanged.
    Error(String),
    /// The plugin panicked just now; it is poisoned from here on.
    Panicked(String),
    /// The plugin panicked earlier and was not called.
    Poisoned,
}

/// A live instance of a plugin. Dropping it destroys the instance.
pub struct Instance {
    vtable: Vtable,
    ptr: *mut c_void,
    poisoned: bool,
}

// SAFETY: the ABI allows an instance to be called from a thread other than its creator's, one
// thread at a time; `&mut self` on every call enforces the "one at a time".
unsafe impl Send for Instance {}

impl Instance {
    /// Creates an instance from its JSON configuration, labelled `label` in logs.
    pub fn create(
        vtable: &Vtable,
        services: Arc<dyn HostServices>,
        label: &str,
        config_json: &str,
    ) -> Result<Instance, CreateError> {
        let table = HostTable::new(services, label);
        let mut ptr: *mut c_void = std::ptr::null_mut();
        let mut err = OwnedBuf::empty();
        // SAFETY: the vtable passed the descriptor checks; the table is never freed (it is
        // leaked); the config and out-pointers are valid for the call.
        let status = unsafe {
            (vtable.create)(table.as_ptr(), Str::from_str(config_json), &mut ptr, &mut err)
        };
        let text = take(vtable, err);
        match status {
            abi::STATUS_OK if !ptr.is_null() => {
                Ok(Instance { vtable: vtable.clone(), ptr, poisoned: false })
            }
            abi::STATUS_OK => Err(CreateError::Failed("create returned no instance".into())),
            abi::STATUS_CONFIG_ERROR => Err(CreateError::Config(
                serde_json::from_slice::<ConfigError>(&text)
                    .unwrap_or_else(|_| ConfigError::from(lossy(&text))),
            )),
            abi::STATUS_PANICKED => Err(CreateError::Panicked(lossy(&text))),
            abi::STATUS_ERROR => Err(CreateError::Failed(lossy(&text))),
            other => Err(CreateError::Failed(format!("unknown status code {other}"))),
        }
    }

    /// The plugin this is an instance of.
    pub fn vtable(&self) -> &Vtable {
        &self.vtable
    }

    /// True once the instance has panicked.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Delivers one event.
    pub fn call(&mut self, event: &Event<'_>) -> Outcome {
        if self.poisoned {
            return Outcome::Poisoned;
        }
        let mut out = OwnedBuf::empty();
        // SAFETY: ptr is our live instance; the event and out-pointer are valid for the call.
        let status = unsafe { (self.vtable.on_event)(self.ptr, event, &mut out) };
        let bytes = take(&self.vtable, out);
        match status {
            abi::STATUS_PASS => Outcome::Pass,
            abi::STATUS_DROP => Outcome::Drop,
            abi::STATUS_REPLACE => Outcome::Replace(bytes),
            abi::STATUS_PANICKED => {
                self.poisoned = true;
                Outcome::Panicked(lossy(&bytes))
            }
            abi::STATUS_ERROR => Outcome::Error(lossy(&bytes)),
            other => Outcome::Error(format!("unknown status code {other}")),
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        // SAFETY: ptr came from create and is destroyed exactly once, here.
        unsafe { (self.vtable.destroy)(self.ptr) }
    }
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("plugin", &self.vtable.name)
            .field("poisoned", &self.poisoned)
            .finish()
    }
}

/// Copies a plugin's buffer and gives the allocation back to that plugin.
fn take(vtable: &Vtable, buf: OwnedBuf) -> Vec<u8> {
    if buf.ptr.is_null() {
        return Vec::new();
    }
    // SAFETY: the plugin filled buf with ptr/len describing its own live allocation.
    let copy = unsafe { std::slice::from_raw_parts(buf.ptr, buf.len) }.to_vec();
    // SAFETY: handed back exactly once to the library that allocated it.
    unsafe { (vtable.free_buf)(buf) };
    copy
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Builds the C event for one message.
pub fn message_event<'a>(
    session_id: u64,
    direction: crate::Direction,
    ts_unix_micros: i64,
    line: &'a [u8],
    line_len: u64,
    flags: u32,
    index: &'a [Node],
) -> Event<'a> {
    Event {
        kind: abi::EVENT_MESSAGE,
        direction: direction.code(),
        flags,
        session_id,
        ts_unix_micros,
        line: Str::new(line),
        line_len,
        index: Nodes::new(index),
        ..empty_event(abi::EVENT_MESSAGE)
    }
}

/// Indexes a message line for the plugins (host side): the JSON tape of `line` into `nodes`,
/// reused from message to message, or no tape when the line is not JSON, is oversize (only a
/// preview) or a raw read (not one line).
pub fn index_line(line: &[u8], flags: u32, nodes: &mut Vec<Node>) {
    nodes.clear();
    index_line_append(line, flags, nodes);
}

/// [`index_line`] onto the end of `nodes`, for the tapes of several lines in one buffer:
/// returns where the line's tape is, an empty range when it gets none.
pub fn index_line_append(line: &[u8], flags: u32, nodes: &mut Vec<Node>) -> Range<usize> {
    let one_whole_line = flags & (abi::MSG_OVERSIZE | abi::MSG_RAW) == 0;
    let end = nodes.len();
    if one_whole_line {
        crate::index::parse_append(line, nodes).unwrap_or(end..end)
    } else {
        end..end
    }
}

/// Builds the C event for a session start.
pub fn session_start_event<'a>(start: &crate::SessionStart<'a>) -> Event<'a> {
    Event {
        session_id: start.session_id,
        ts_unix_micros: start.timestamp_micros,
        client_addr: Str::from_str(start.client_addr),
        server_addr: Str::from_str(start.server_addr),
        flags: if start.tls { abi::SESSION_TLS } else { 0 },
        ..empty_event(abi::EVENT_SESSION_START)
    }
}

/// Builds the C event for a session end.
pub fn session_end_event<'a>(end: &crate::SessionEnd<'a>) -> Event<'a> {
    Event {
        session_id: end.session_id,
        ts_unix_micros: end.timestamp_micros,
        reason: Str::from_str(end.reason),
        bytes_c2s: end.bytes_c2s,
        bytes_s2c: end.bytes_s2c,
        msgs_c2s: end.msgs_c2s,
        msgs_s2c: end.msgs_s2c,
        reads_c2s: end.reads_c2s,
        reads_s2c: end.reads_s2c,
        dropped: end.dropped,
        ..empty_event(abi::EVENT_SESSION_END)
    }
}

/// Builds the C event for a timer tick.
pub fn tick_event(ts_unix_micros: i64) -> Event<'static> {
    Event { ts_unix_micros, ..empty_event(abi::EVENT_TICK) }
}

/// Builds the C event for shutdown.
pub fn shutdown_event(ts_unix_micros: i64) -> Event<'static> {
    Event { ts_unix_micros, ..empty_event(abi::EVENT_SHUTDOWN) }
}

fn empty_event(kind: u32) -> Event<'static> {
    Event {
        kind,
        direction: 0,
        flags: 0,
        reserved: 0,
        session_id: 0,
        ts_unix_micros: 0,
        line: Str::empty(),
        line_len: 0,
        client_addr: Str::empty(),
        server_addr: Str::empty(),
        reason: Str::empty(),
        bytes_c2s: 0,
        bytes_s2c: 0,
        msgs_c2s: 0,
        msgs_s2c: 0,
        reads_c2s: 0,
        reads_s2c: 0,
        dropped: 0,
        index: Nodes::empty(),
    }
}
