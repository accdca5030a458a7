//! The documented example configuration is valid and builds every built-in plugin.
mod support;

#[test]
fn config_example_toml_checks_ok() {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config.example.toml");
    let dir = tempfile::tempdir().unwrap();
    let out = support::ctiproxy()
        .current_dir(dir.path())
        .arg("check")
        .arg("-c")
        .arg(&example)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains(
            "OK, pipeline: stats > mi > strip > include > exclude > spy > save#6 > save#7"
        ),
        "{stdout}"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "check created files");
}
