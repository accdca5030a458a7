//! Test fixture: one plugin library that presents a different defect depending on the
//! environment variable `CTIPROXY_TEST_DEFECT`, so each loader check is exercised by a real
//! `dlopen`: `abi` (wrong ABI version, the default), `list-abi` (wrong list version), `size`
//! (descriptor too short), `layout` (wrong layout hash), `nofn` (on_event missing), `name`
//! (a name with capitals and a space), `abort`
//! (built as if with `panic = "abort"`), `utf8` (name not UTF-8).
#![allow(unsafe_code)]

use std::sync::OnceLock;

use ctiproxy_plugin_api::abi::{self, PluginDescriptor, PluginList, Str};
use ctiproxy_plugin_api::{ConfigError, Host, Plugin};

/// A plugin that would work if its descriptor were not broken.
pub struct Defective;

impl Plugin for Defective {
    const NAME: &'static str = "defective";
    const DESCRIPTION: &'static str = "Test fixture with a broken descriptor.";
    type Config = ctiproxy_plugin_api::serde_json::Value;
    fn new(_: Self::Config, _: Host) -> Result<Self, ConfigError> {
        Ok(Defective)
    }
}

fn broken(defect: &str) -> PluginDescriptor {
    let mut d = ctiproxy_plugin_api::__private::descriptor::<Defective>("0.0.0");
    match defect {
        "size" => d.struct_size = 16,
        "layout" => d.layout_hash ^= 0xdead_beef,
        "nofn" => d.on_event = None,
        "name" => d.name = Str::from_str("Count Class"),
        "abort" => d.flags &= !abi::FLAG_PANIC_UNWIND,
        "utf8" => d.name = Str::new(b"bad\xff"),
        "list-abi" => {}
        _ => d.abi_version = 2,
    }
    d
}

struct Static(PluginList);
// SAFETY: written once, then only read; the descriptor it points at is leaked and immutable.
unsafe impl Sync for Static {}
// SAFETY: as above.
unsafe impl Send for Static {}

/// The entry point, broken on purpose.
#[no_mangle]
pub extern "C" fn ctiproxy_plugin_v1() -> *const PluginList {
    static LIST: OnceLock<Static> = OnceLock::new();
    let list = LIST.get_or_init(|| {
        let defect = std::env::var("CTIPROXY_TEST_DEFECT").unwrap_or_default();
        let desc: &'static PluginDescriptor = Box::leak(Box::new(broken(&defect)));
        let abi_version = if defect == "list-abi" { 7 } else { abi::ABI_VERSION };
        Static(PluginList {
            abi_version,
            struct_size: std::mem::size_of::<PluginList>() as u32,
            count: 1,
            reserved: 0,
            plugins: desc,
        })
    });
    &list.0
}
