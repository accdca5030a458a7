//! Host side: the services a host offers its plugins, turned into the C table ([`HostApi`]) a
//! plugin receives at `create`.
//!
//! The host implements the safe [`HostServices`] trait; [`HostTable`] owns the trampolines and
//! keeps everything the table points at alive. The test harness passes a capturing
//! implementation, the proxy one that logs through `tracing` and buffers stdout.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::sync::Arc;

use crate::abi::{self, HostApi, Str};
use crate::host::Level;

/// What a host does for its plugins. Called from any thread: implementations are thread-safe.
pub trait HostServices: Send + Sync + 'static {
    /// A diagnostic from the instance labelled `instance`.
    fn log(&self, instance: &str, level: Level, message: &str);
    /// User-facing output from an instance.
    fn output(&self, bytes: &[u8]);
    /// A counter increment from an instance.
    fn counter_add(&self, _instance: &str, _name: &str, _delta: u64) {}
    /// Whether the user output is a terminal.
    fn output_is_terminal(&self) -> bool {
        false
    }
    /// Whether the pipeline is only being checked and will never run.
    fn check_only(&self) -> bool {
        false
    }
}

struct Ctx {
    services: Arc<dyn HostServices>,
    instance: &'static str,
}

/// A [`HostApi`] and everything it points at, alive for the rest of the process.
///
/// A plugin may clone its `Host` handle into a thread or a static that outlives the instance;
/// with safe code only, that must never reach freed memory. Tables are made once per instance
/// when a pipeline is built, so leaking them (a few dozen bytes each) is the simple sound choice.
pub struct HostTable {
    api: &'static HostApi,
}

// SAFETY: the table is immutable after construction and its ctx holds only Send + Sync data.
unsafe impl Send for HostTable {}

impl HostTable {
    /// Builds the table for one instance labelled `instance`.
    pub fn new(services: Arc<dyn HostServices>, instance: &str) -> Self {
        // The name must outlive any pointer the plugin keeps; instances are created once per
        // pipeline, so leaking their short labels is the simple, sound choice.
        let instance: &'static str = Box::leak(instance.to_owned().into_boxed_str());
        let mut flags = 0;
        if services.output_is_terminal() {
            flags |= abi::HOST_OUTPUT_IS_TERMINAL;
        }
        if services.check_only() {
            flags |= abi::HOST_CHECK_ONLY;
        }
        let ctx: &'static mut Ctx = Box::leak(Box::new(Ctx { services, instance }));
        let api = Box::leak(Box::new(HostApi {
            struct_size: std::mem::size_of::<HostApi>() as u32,
            abi_version: abi::ABI_VERSION,
            flags,
            reserved: 0,
            ctx: (ctx as *mut Ctx).cast::<c_void>(),
            log: Some(log_trampoline),
            output: Some(output_trampoline),
            counter_add: Some(counter_trampoline),
            instance_name: Str::from_str(instance),
        }));
        HostTable { api }
    }

    /// The table to pass to `create`; valid for the rest of the process.
    pub fn as_ptr(&self) -> *const HostApi {
        self.api
    }
}

/// # Safety
/// `ctx` is the (leaked, immortal) `Ctx` a `HostTable` made.
unsafe fn ctx<'a>(ctx: *mut c_void) -> &'a Ctx {
    // SAFETY: per the contract, ctx points at a leaked Ctx that is never freed.
    unsafe { &*ctx.cast::<Ctx>() }
}

fn lossy(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

unsafe extern "C" fn log_trampoline(ctx_ptr: *mut c_void, level: u32, msg: Str<'_>) {
    // SAFETY: called by the plugin with the ctx we gave it and a Str valid for the call.
    let (ctx, msg) = unsafe { (ctx(ctx_ptr), msg.as_bytes()) };
    // A panic must not unwind into the plugin's frames.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ctx.services.log(ctx.instance, Level::from_code(level), &lossy(msg))
    }));
}

unsafe extern "C" fn output_trampoline(ctx_ptr: *mut c_void, bytes: Str<'_>) {
    // SAFETY: as in log_trampoline.
    let (ctx, bytes) = unsafe { (ctx(ctx_ptr), bytes.as_bytes()) };
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ctx.services.output(bytes)));
}

unsafe extern "C" fn counter_trampoline(ctx_ptr: *mut c_void, name: Str<'_>, delta: u64) {
    // SAFETY: as in log_trampoline.
    let (ctx, name) = unsafe { (ctx(ctx_ptr), name.as_bytes()) };
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ctx.services.counter_add(ctx.instance, &lossy(name), delta)
    }));
}
