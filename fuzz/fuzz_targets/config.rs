//! `Config::parse` on arbitrary text, then what a configuration error prints: the location of
//! every key of every `[[pipeline]]` entry (and of rule keys in their sub-tables), as
//! `ctiproxy check` shows them.

#![no_main]

use ctiproxy::config::{server_address, Config};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let config = match Config::parse("fuzz.toml", text) {
        Ok(config) => config,
        Err(error) => {
            let _ = error.to_string();
            return;
        }
    };
    if let Some(server) = &config.proxy.server {
        let _ = server_address(server);
    }
    for (index, entry) in config.pipeline.iter().enumerate() {
        let mut keys = vec![String::new(), "plugin".to_owned()];
        for (key, value) in entry.get_ref() {
            keys.push(key.clone());
            // Errors inside `[[pipeline.NAME]]` sub-tables are located by index and inner key.
            if let Some(items) = value.as_array() {
                for (i, item) in items.iter().enumerate().take(4) {
                    keys.push(format!("{key}[{i}]"));
                    for inner in item.as_table().into_iter().flat_map(|t| t.keys()).take(8) {
                        keys.push(format!("{key}[{i}].{inner}"));
                    }
                }
            }
        }
        for key in keys {
            let _ = config.pipeline_error(index, &key, "fuzz".into()).to_string();
        }
    }
});
