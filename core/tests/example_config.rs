//! The documented example configuration is valid and builds every built-in plugin; so is the
//! service's configuration that the Debian package installs.
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

#[test]
fn the_packaged_service_config_checks_ok() {
    let packaged =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/config.toml");
    let text = std::fs::read_to_string(packaged).unwrap();
    // The service's state directory stands in for /var/lib/ctiproxy, which `check` requires.
    let state = tempfile::tempdir().unwrap();
    assert!(text.contains("\"/var/lib/ctiproxy/"), "captures go to the state directory");
    let text = text.replace("\"/var/lib/ctiproxy/", &format!("\"{}/", state.path().display()));
    let config = support::write_config(state.path(), &text);
    let out = support::ctiproxy().arg("check").arg("-c").arg(&config).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("OK, pipeline: stats > save"), "{stdout}");
}
