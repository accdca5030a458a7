//! Loader failures, one purpose-built broken library per check, through the real `ctiproxy
//! check`: each error names the library file and the cause, and nothing listens.
mod support;

use support::{ctiproxy, lib_path, write_config};

/// The plugin-api this host (and every test plugin) was built with.
const HOST_API: &str = ctiproxy_plugin_api::abi::PLUGIN_API_VERSION;

/// Runs `ctiproxy check` on a one-entry pipeline; returns (exit code, stderr).
fn check(entry: &str, defect: Option<&str>) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!("[proxy]\nserver = \"127.0.0.1:9\"\n\n[[pipeline]]\n{entry}\n"),
    );
    let mut cmd = ctiproxy();
    cmd.arg("check").arg("-c").arg(&config);
    if let Some(defect) = defect {
        cmd.env("CTIPROXY_TEST_DEFECT", defect);
    }
    let out = cmd.output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn assert_fails_naming(entry: &str, defect: Option<&str>, file_stem: &str, cause: &str) {
    let (code, stderr) = check(entry, defect);
    assert_eq!(code, Some(1), "{stderr}");
    let file = lib_path(file_stem);
    assert!(
        stderr.contains(&file.display().to_string()),
        "error must name {}:\n{stderr}",
        file.display()
    );
    assert!(stderr.contains(cause), "error must say {cause:?}:\n{stderr}");
    assert!(
        stderr.contains("config.toml:5:1: pipeline[0]"),
        "error must point at the entry:\n{stderr}"
    );
}

#[test]
fn a_library_without_the_entry_symbol_is_not_a_plugin() {
    assert_fails_naming(
        "plugin = \"test-nosymbol\"",
        None,
        "test_nosymbol",
        "not a ctiproxy plugin (no `ctiproxy_plugin_v1` entry symbol; a Rust plugin: did you forget `export_plugin!(YourPlugin)`?)",
    );
}

#[test]
fn an_explicit_library_path_is_checked_the_same_way() {
    let file = lib_path("test_nosymbol").display().to_string();
    let (code, stderr) = check(&format!("plugin = \"x\"\nlibrary = {file:?}"), None);
    assert_eq!(code, Some(1), "{stderr}");
    let expected =
        format!("config.toml:6:1: pipeline[0] (x).library: {file}: not a ctiproxy plugin");
    assert!(stderr.contains(&expected), "{stderr}");
}

#[test]
fn a_fifo_given_as_library_is_refused_without_being_opened() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("libfifo.so");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let file = fifo.display().to_string();
    // Run to its end or killed: opening the FIFO would wait for a writer forever.
    let mut cmd = ctiproxy();
    let config =
        write_config(dir.path(), &format!("[[pipeline]]\nplugin = \"spy\"\nlibrary = {file:?}\n"));
    cmd.arg("check").arg("-c").arg(&config);
    let finished = support::Running::spawn(cmd).finish();
    assert_eq!(finished.status.code(), Some(1), "{}", finished.stderr);
    let expected = format!(
        "config.toml:3:1: pipeline[0] (spy).library: {file}: not a regular file: it is a FIFO (named pipe)"
    );
    assert!(finished.stderr.contains(&expected), "{}", finished.stderr);
}

#[test]
fn a_descriptor_for_another_abi_is_refused() {
    assert_fails_naming(
        "plugin = \"test-defective\"",
        Some("abi"),
        "test_defective",
        &format!("built for plugin ABI 2 with plugin-api {HOST_API}, this host supports ABI 1 (plugin-api {HOST_API})"),
    );
}

#[test]
fn a_plugin_list_for_another_abi_is_refused() {
    assert_fails_naming(
        "plugin = \"test-defective\"",
        Some("list-abi"),
        "test_defective",
        &format!("built for plugin ABI 7 with plugin-api {HOST_API}, this host supports ABI 1"),
    );
}

#[test]
fn a_short_descriptor_is_refused() {
    assert_fails_naming(
        "plugin = \"test-defective\"",
        Some("size"),
        "test_defective",
        &format!("descriptor is 16 bytes, this host's is {}: built against another plugin-api, this host uses plugin-api {HOST_API}", std::mem::size_of::<ctiproxy_plugin_api::abi::PluginDescriptor>()),
    );
}

#[test]
fn a_wrong_layout_hash_is_refused() {
    assert_fails_naming(
        "plugin = \"test-defective\"",
        Some("layout"),
        "test_defective",
        &format!("built against another revision of plugin-api {HOST_API}, this host uses plugin-api {HOST_API}; rebuild the plugin against plugin-api {HOST_API}"),
    );
}

#[test]
fn a_name_with_capitals_or_spaces_is_refused() {
    assert_fails_naming(
        "plugin = \"test-defective\"",
        Some("name"),
        "test_defective",
        "plugin name \"Count Class\" is invalid: use lowercase ASCII letters, digits and `-`",
    );
}

#[test]
fn a_missing_function_is_refused() {
    assert_fails_naming(
        "plugin = \"test-defective\"",
        Some("nofn"),
        "test_defective",
        "required function `on_event` is missing",
    );
}

#[test]
fn a_panic_abort_build_is_refused() {
    assert_fails_naming(
        "plugin = \"test-defective\"",
        Some("abort"),
        "test_defective",
        "panic = \"abort\"",
    );
}

#[test]
fn a_name_that_is_not_utf8_is_refused() {
    assert_fails_naming(
        "plugin = \"test-defective\"",
        Some("utf8"),
        "test_defective",
        "`name` is not valid UTF-8",
    );
}

#[test]
fn a_panic_in_create_is_contained_and_reported() {
    assert_fails_naming(
        "plugin = \"panic-create\"",
        None,
        "test_faulty",
        "panicked in create: deliberate panic in create",
    );
}

#[test]
fn a_rejected_config_is_shown_against_its_key() {
    let (code, stderr) = check("plugin = \"reject-config\"\nmode = \"loud\"", None);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains(
            "config.toml:6:1: pipeline[0] (reject-config).mode: \"loud\" is not a mode; use \"ok\""
        ),
        "{stderr}"
    );
}

#[test]
fn a_good_pipeline_checks_ok_without_listening() {
    let out = {
        let dir = tempfile::tempdir().unwrap();
        // Port 1 is privileged: `check` would fail if it tried to bind it.
        let text = "[proxy]\nlisten = \"127.0.0.1:1\"\nserver = \"127.0.0.1:9\"\n\n[[pipeline]]\nplugin = \"spy\"\n\n[[pipeline]]\nplugin = \"reject-config\"\nmode = \"ok\"\n";
        let config = write_config(dir.path(), text);
        ctiproxy().arg("check").arg("-c").arg(&config).output().unwrap()
    };
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK, pipeline: spy > reject-config"));
}

#[test]
fn plugins_lists_name_version_description_and_file() {
    let out = ctiproxy().arg("plugins").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    let spy_line = stdout.lines().find(|l| l.starts_with("spy ")).expect("spy listed");
    assert!(spy_line.contains(env!("CARGO_PKG_VERSION")), "{spy_line}");
    assert!(stdout.contains(&lib_path("spy").display().to_string()), "{stdout}");
    assert!(stdout.contains("NOT LOADED: plugin #0: built for plugin ABI 2"), "{stdout}");
}

#[test]
fn plugins_path_in_the_config_is_searched_before_the_executable_directory() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("my-plugins");
    std::fs::create_dir(&plugins).unwrap();
    let copy = plugins.join(format!(
        "{}ctiproxy_mine{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    std::fs::copy(lib_path("example"), &copy).unwrap();
    // Relative to the config file, not to the working directory.
    let config = write_config(dir.path(), "[plugins]\npath = [\"my-plugins\"]\n\n[[pipeline]]\nplugin = \"count-class\"\nclass = \"getlist\"\n");
    let out = ctiproxy()
        .env_remove("CTIPROXY_PLUGIN_PATH")
        .arg("plugins")
        .arg("-c")
        .arg(&config)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let listed =
        stdout.lines().skip_while(|l| !l.starts_with("count-class ")).nth(1).unwrap_or_default();
    assert!(
        listed.contains(&copy.display().to_string()),
        "count-class must come from the config's path:\n{stdout}"
    );
    let check = ctiproxy()
        .env_remove("CTIPROXY_PLUGIN_PATH")
        .arg("check")
        .arg("-c")
        .arg(&config)
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
}

/// `ctiproxy check` of `config`, started in another directory than the config's.
fn check_elsewhere(config: &std::path::Path) -> std::process::Output {
    let elsewhere = tempfile::tempdir().unwrap();
    let out = ctiproxy()
        .current_dir(elsewhere.path())
        .env_remove("CTIPROXY_PLUGIN_PATH")
        .arg("check")
        .arg("-c")
        .arg(config)
        .output()
        .unwrap();
    assert!(out.status.code().is_some(), "killed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

#[test]
fn a_library_alone_is_enough_and_a_relative_one_is_next_to_the_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("libs")).unwrap();
    std::fs::copy(lib_path("example"), dir.path().join("libs/libmine.so")).unwrap();
    let config = write_config(
        dir.path(),
        "[[pipeline]]\nlibrary = \"libs/libmine.so\"\nclass = \"getlist\"\n",
    );
    let out = check_elsewhere(&config);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("OK, pipeline: count-class"), "{stdout}");
}

#[test]
fn stages_are_labelled_by_the_plugin_a_library_holds() {
    let dir = tempfile::tempdir().unwrap();
    let example = lib_path("example").display().to_string();
    let config = write_config(
        dir.path(),
        &format!(
            "[[pipeline]]\nplugin = \"spy\"\n[[pipeline]]\nlibrary = {example:?}\nclass = \"getlist\"\n\
             [[pipeline]]\nplugin = \"count-class\"\nclass = \"login_id\"\n"
        ),
    );
    let out = ctiproxy().arg("check").arg("-c").arg(&config).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The library holds count-class, used twice: numbered; spy, once: plain.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("OK, pipeline: spy > count-class#1 > count-class#2"), "{stdout}");
}

#[test]
fn a_library_alone_with_several_plugins_asks_which() {
    let dir = tempfile::tempdir().unwrap();
    let file = lib_path("filter").display().to_string();
    let config = write_config(dir.path(), &format!("[[pipeline]]\nlibrary = {file:?}\n"));
    let out = check_elsewhere(&config);
    assert_eq!(out.status.code(), Some(1));
    let expected = format!(
        "config.toml:2:1: pipeline[0] ({file}).library: {file}: has 3 plugins (strip, include, exclude): say which with plugin = \"NAME\""
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&expected), "{stderr}");
}

#[test]
fn an_entry_without_plugin_or_library_says_both() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "[[pipeline]]\nclass = \"getlist\"\n");
    let out = check_elsewhere(&config);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("missing key `plugin` (the plugin's name) or `library` (a plugin library)"),
        "{stderr}"
    );
}
