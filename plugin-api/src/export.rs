//! Plugin side of the boundary: the `extern "C"` shims that [`crate::export_plugin!`] wires to a
//! [`Plugin`] type, so that plugin authors write no `unsafe`.
//!
//! Every shim runs the plugin inside `catch_unwind`. On a panic the plugin value is dropped at
//! once (so nothing ever observes its possibly inconsistent state, which is what makes
//! `AssertUnwindSafe` sound), the panic text goes back to the host, and every later call on that
//! instance returns `STATUS_PANICKED` without running plugin code.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::abi::{self, Event, HostApi, OwnedBuf, PluginDescriptor, Str};
use crate::host::Host;
use crate::message::{Direction, Message, SessionEnd, SessionStart};
use crate::plugin::{Plugin, Verdict};
use crate::settings;

/// An instance as the host holds it: the plugin, or nothing once it panicked.
struct Cell<P> {
    plugin: Option<P>,
}

/// Builds the descriptor of plugin `P`; `version` is the plugin crate's version.
pub const fn descriptor<P: Plugin>(version: &'static str) -> PluginDescriptor {
    PluginDescriptor {
        struct_size: std::mem::size_of::<PluginDescriptor>() as u32,
        abi_version: abi::ABI_VERSION,
        layout_hash: abi::LAYOUT_HASH,
        flags: if cfg!(panic = "unwind") { abi::FLAG_PANIC_UNWIND } else { 0 },
        reserved: 0,
        name: Str::from_str(P::NAME),
        version: Str::from_str(version),
        description: Str::from_str(P::DESCRIPTION),
        api_version: Str::from_str(abi::PLUGIN_API_VERSION),
        create: Some(create::<P>),
        on_event: Some(on_event::<P>),
        destroy: Some(destroy::<P>),
        free_buf: Some(free_buf),
    }
}

/// Runs `f`, swallowing any panic without ever unwinding out: a panic payload whose own `Drop`
/// panics is forgotten rather than dropped, since unwinding out of an `extern "C"` function
/// would abort the whole proxy.
fn contain(f: impl FnOnce()) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
        forget_payload(payload);
    }
}

/// Drops a panic payload, containing a panic in its `Drop`.
fn forget_payload(payload: Box<dyn std::any::Any + Send>) {
    if let Err(inner) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(inner);
    }
}

/// The payload's text; the payload is disposed of safely.
fn take_panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    let text = panic_text(&*payload);
    forget_payload(payload);
    text
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-text payload".to_owned()
    }
}

/// # Safety
/// `out` is null or valid for one write.
unsafe fn give(out: *mut OwnedBuf, bytes: Vec<u8>) {
    if !out.is_null() {
        // SAFETY: caller's contract.
        unsafe { out.write(OwnedBuf::from_vec(bytes)) };
    }
}

/// `create` for plugin `P`.
///
/// # Safety
/// Called by the host per the ABI: `host` valid until `destroy`, `config` valid for the call,
/// out-pointers valid for one write.
pub unsafe extern "C" fn create<P: Plugin>(
    host: *const HostApi,
    config: Str<'_>,
    out_instance: *mut *mut c_void,
    out_err: *mut OwnedBuf,
) -> u32 {
    // SAFETY: ABI contract (see above).
    let (host, config) = unsafe { (Host::from_raw(host), config.as_bytes()) };
    let result = catch_unwind(AssertUnwindSafe(|| {
        settings::from_json(config).and_then(|c| P::new(c, host))
    }));
    match result {
        Ok(Ok(plugin)) => {
            let cell = Box::new(Cell { plugin: Some(plugin) });
            // SAFETY: out_instance valid for one write (ABI contract).
            unsafe { out_instance.write(Box::into_raw(cell).cast()) };
            abi::STATUS_OK
        }
        Ok(Err(err)) => {
            let json = serde_json::to_vec(&err).unwrap_or_default();
            // SAFETY: out_err valid for one write.
            unsafe { give(out_err, json) };
            abi::STATUS_CONFIG_ERROR
        }
        Err(payload) => {
            // SAFETY: out_err valid for one write.
            unsafe { give(out_err, take_panic_text(payload).into_bytes()) };
            abi::STATUS_PANICKED
        }
    }
}

fn dispatch<P: Plugin>(plugin: &mut P, event: &Event<'_>) -> Verdict {
    // SAFETY (for the as_bytes calls below): the host lends every Str for this call.
    let text = |s: Str<'_>| String::from_utf8_lossy(unsafe { s.as_bytes() }).into_owned();
    match event.kind {
        abi::EVENT_MESSAGE => {
            let Some(direction) = Direction::from_code(event.direction) else {
                return Verdict::Pass;
            };
            // SAFETY: the line and its tape are lent for this call.
            let (line, index) = unsafe { (event.line.as_bytes(), event.index.as_slice()) };
            let mut msg =
                Message::new(event.session_id, direction, event.ts_unix_micros, line, event.flags);
            // Set in place: the builders move the message, and each move of it was a memcpy.
            msg.lend(index, event.line_len);
            plugin.on_message(&msg)
        }
        abi::EVENT_SESSION_START => {
            let (client, server) = (text(event.client_addr), text(event.server_addr));
            plugin.on_session_start(&SessionStart {
                session_id: event.session_id,
                timestamp_micros: event.ts_unix_micros,
                client_addr: &client,
                server_addr: &server,
                tls: event.flags & abi::SESSION_TLS != 0,
            });
            Verdict::Pass
        }
        abi::EVENT_SESSION_END => {
            let reason = text(event.reason);
            plugin.on_session_end(&SessionEnd {
                session_id: event.session_id,
                timestamp_micros: event.ts_unix_micros,
                reason: &reason,
                bytes_c2s: event.bytes_c2s,
                bytes_s2c: event.bytes_s2c,
                msgs_c2s: event.msgs_c2s,
                msgs_s2c: event.msgs_s2c,
                reads_c2s: event.reads_c2s,
                reads_s2c: event.reads_s2c,
                dropped: event.dropped,
            });
            Verdict::Pass
        }
        abi::EVENT_SHUTDOWN => {
            plugin.on_shutdown();
            Verdict::Pass
        }
        abi::EVENT_TICK => {
            plugin.on_tick(event.ts_unix_micros);
            Verdict::Pass
        }
        // An event kind from a newer host: not for us.
        _ => Verdict::Pass,
    }
}

/// `on_event` for plugin `P`.
///
/// # Safety
/// Called by the host per the ABI: `instance` from `create`, `event` valid for the call, `out`
/// valid for one write.
pub unsafe extern "C" fn on_event<P: Plugin>(
    instance: *mut c_void,
    event: *const Event<'_>,
    out: *mut OwnedBuf,
) -> u32 {
    // SAFETY: ABI contract: a live instance made by create::<P>, called one thread at a time.
    let cell = unsafe { &mut *instance.cast::<Cell<P>>() };
    let Some(plugin) = cell.plugin.as_mut() else {
        return abi::STATUS_PANICKED;
    };
    // SAFETY: the event is lent for this call.
    let event = unsafe { &*event };
    match catch_unwind(AssertUnwindSafe(|| dispatch(plugin, event))) {
        Ok(Verdict::Pass) => abi::STATUS_PASS,
        Ok(Verdict::Drop) => abi::STATUS_DROP,
        Ok(Verdict::Replace(bytes)) => {
            // SAFETY: out valid for one write.
            unsafe { give(out, bytes) };
            abi::STATUS_REPLACE
        }
        Err(payload) => {
            let text = take_panic_text(payload);
            // Dropping the plugin may itself panic; that must not unwind into the host either.
            contain(|| cell.plugin = None);
            // SAFETY: out valid for one write.
            unsafe { give(out, text.into_bytes()) };
            abi::STATUS_PANICKED
        }
    }
}

/// `destroy` for plugin `P`.
///
/// # Safety
/// `instance` came from `create::<P>` and is destroyed once.
pub unsafe extern "C" fn destroy<P: Plugin>(instance: *mut c_void) {
    if instance.is_null() {
        return;
    }
    // SAFETY: made by Box::into_raw in create::<P>, destroyed exactly once.
    let cell = unsafe { Box::from_raw(instance.cast::<Cell<P>>()) };
    contain(move || drop(cell));
}

/// `free_buf`: releases a buffer this library handed out.
///
/// # Safety
/// `buf` came from this library's `OwnedBuf::from_vec` and is freed once.
pub unsafe extern "C" fn free_buf(buf: OwnedBuf) {
    // SAFETY: caller's contract; same allocator as the Vec that made it.
    drop(unsafe { buf.into_vec() });
}

/// Exports one or more [`Plugin`] types from a `cdylib` through the C ABI.
///
/// ```ignore
/// ctiproxy_plugin_api::export_plugin!(MyPlugin);
/// ctiproxy_plugin_api::export_plugin!(Strip, Include, Exclude);
/// ```
///
/// It generates the library's one entry symbol, `ctiproxy_plugin_v1`, returning a static list of
/// descriptors (with the crate's `CARGO_PKG_VERSION` as each plugin's version). Use it once per
/// crate.
#[macro_export]
macro_rules! export_plugin {
    ($($plugin:ty),+ $(,)?) => {
        /// The ctiproxy plugin entry point, generated by `export_plugin!`.
        #[no_mangle]
        pub extern "C" fn ctiproxy_plugin_v1() -> *const $crate::abi::PluginList {
            const COUNT: usize = [$(stringify!($plugin)),+].len();
            static DESCRIPTORS: [$crate::abi::PluginDescriptor; COUNT] =
                [$($crate::__private::descriptor::<$plugin>(env!("CARGO_PKG_VERSION"))),+];
            static LIST: $crate::abi::PluginList = $crate::abi::PluginList {
                abi_version: $crate::abi::ABI_VERSION,
                struct_size: ::std::mem::size_of::<$crate::abi::PluginList>() as u32,
                count: COUNT as u32,
                reserved: 0,
                plugins: &DESCRIPTORS as *const $crate::abi::PluginDescriptor,
            };
            &LIST
        }
    };
}
