//! Test fixture: a well-formed shared library that exports no `ctiproxy_plugin_v1` entry symbol,
//! so the loader must refuse it as "not a ctiproxy plugin".

/// An unrelated exported function, so the library is not empty.
#[no_mangle]
pub extern "C" fn not_a_ctiproxy_plugin() -> u32 {
    42
}
