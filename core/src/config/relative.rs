//! Relative paths in a configuration file mean "next to this file", whatever directory the
//! proxy is started from (a service's working directory is rarely the one of its
//! configuration): `[plugins] path`, every entry's `library`, the TLS files, the files the
//! built-in `save` plugin writes and those the `export` plugin reads (credentials,
//! certificates). Plugins receive their settings as written and cannot know where the file
//! was, so the host resolves these paths before building the pipeline. The classic commands
//! take paths from their command line and keep the working directory.

use std::path::{Path, PathBuf};

/// The settings of built-in plugins that name files, by plugin.
const FILE_SETTINGS: &[(&str, &[&str])] = &[
    ("save", &["file", "client_file", "server_file"]),
    ("export", &["credentials", "tls_ca", "tls_cert", "tls_key"]),
];

/// `file` joined to `base` when it is relative (an empty path is left for the plugin to refuse).
pub fn resolve(base: &Path, file: &mut PathBuf) {
    if file.is_relative() && !file.as_os_str().is_empty() {
        *file = base.join(&*file);
    }
}

/// Resolves the file settings of one `[[pipeline]]` entry against `base`: its `library`, and
/// the files a built-in plugin names.
pub fn resolve_entry(base: &Path, entry: &mut toml::Table) {
    let plugin = entry.get("plugin").and_then(toml::Value::as_str).unwrap_or_default();
    let keys = FILE_SETTINGS.iter().find(|(name, _)| *name == plugin).map_or(&[][..], |(_, k)| k);
    for key in std::iter::once(&"library").chain(keys) {
        if let Some(toml::Value::String(text)) = entry.get_mut(*key) {
            let mut file = PathBuf::from(&*text);
            resolve(base, &mut file);
            // The path came from TOML text, so it is UTF-8 and so is its join with the base
            // unless the base is not; such a base leaves the path as written.
            if let Some(joined) = file.to_str() {
                *text = joined.to_owned();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_files_are_resolved_and_other_plugins_left_alone() {
        let mut save: toml::Table = toml::from_str(
            "plugin = \"save\"\nclient_file = \"c.txt\"\nserver_file = \"/abs/s.txt\"\nfile = \"\"",
        )
        .unwrap();
        resolve_entry(Path::new("/etc/ctiproxy"), &mut save);
        assert_eq!(save["client_file"].as_str(), Some("/etc/ctiproxy/c.txt"));
        assert_eq!(save["server_file"].as_str(), Some("/abs/s.txt"));
        assert_eq!(save["file"].as_str(), Some(""));
        let mut other: toml::Table = toml::from_str("plugin = \"mine\"\nfile = \"x\"").unwrap();
        resolve_entry(Path::new("/etc"), &mut other);
        assert_eq!(other["file"].as_str(), Some("x"));
        let mut library: toml::Table = toml::from_str("library = \"lib/libmine.so\"").unwrap();
        resolve_entry(Path::new("/etc/ctiproxy"), &mut library);
        assert_eq!(library["library"].as_str(), Some("/etc/ctiproxy/lib/libmine.so"));
    }
}
