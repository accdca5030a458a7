//! Test fixture: a well-formed shared library that exports no `ctiproxy_plugin_v1` entry symbol,
//! so the loader must refuse it as "not a ctiproxy plugin". It stands for any unrelated library:
//! when `CTIPROXY_TEST_OPENED` names a file, opening the library appends a line to it, so tests
//! can tell which copies the loader opened (and so ran their initialisers).

/// An unrelated exported function, so the library is not empty.
#[no_mangle]
pub extern "C" fn not_a_ctiproxy_plugin() -> u32 {
    42
}

/// The dynamic loader calls `.init_array` entries when the library is opened, like the
/// constructors of any C or C++ library.
#[used]
#[link_section = ".init_array"]
static ON_OPEN: extern "C" fn() = on_open;

extern "C" fn on_open() {
    use std::io::Write;
    let Some(log) = std::env::var_os("CTIPROXY_TEST_OPENED") else { return };
    if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(log) {
        let _ = file.write_all(b"opened\n");
    }
}
