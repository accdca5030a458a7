//! Link setting for the fuzz targets.

fn main() {
    // Every plugin crate exports the same `#[no_mangle]` entry point (`ctiproxy_plugin_v1`, what
    // the proxy looks up with dlopen); `plugin_settings` links several of them into one binary.
    // Nothing calls the entry points there (the harness uses each plugin's descriptor directly),
    // so whichever copy the linker keeps is fine.
    println!("cargo::rustc-link-arg-bins=-Wl,--allow-multiple-definition");
}
