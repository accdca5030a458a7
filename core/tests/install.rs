//! `make install-files` (what `make install` runs after the release build) puts the binaries in
//! `PREFIX/bin` and only the product plugins in `PREFIX/lib/ctiproxy/plugins`; the installed
//! commands then find those plugins from any working directory, with no plugin path set. The
//! test installs this run's debug artifacts, so that it needs no release build.
mod classic_support;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::{plugin_dir, session_steps, start_client, start_server, target_dir, Running};

const BINARIES: [&str; 4] = [
    env!("CARGO_BIN_EXE_ctiproxy"),
    env!("CARGO_BIN_EXE_ctispy"),
    env!("CARGO_BIN_EXE_ctisave"),
    env!("CARGO_BIN_EXE_ctistat"),
];

/// A build directory as `cargo build --workspace` leaves it: the binaries beside every plugin
/// library of this run, the deliberately broken test plugins included.
fn staged_build(dir: &Path) -> PathBuf {
    let build = dir.join("build");
    std::fs::create_dir(&build).unwrap();
    let plugins = std::fs::read_dir(plugin_dir()).unwrap().flatten().map(|e| e.path());
    let binaries = BINARIES.iter().map(PathBuf::from);
    for file in binaries.chain(plugins) {
        std::os::unix::fs::symlink(&file, build.join(file.file_name().unwrap())).unwrap();
    }
    build
}

/// The installed command `name`, run from `cwd` with nothing but the installation to find
/// plugins in.
fn installed(prefix: &Path, name: &str, cwd: &Path) -> Command {
    let mut cmd = Command::new(prefix.join("bin").join(name));
    isolate(&mut cmd, cwd);
    cmd
}

fn isolate(cmd: &mut Command, cwd: &Path) {
    cmd.current_dir(cwd).env_remove("CTIPROXY_PLUGIN_PATH").env_remove("CTIPROXY_TEST_DEFECT");
}

/// The file names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let entries = std::fs::read_dir(dir).unwrap();
    let mut names: Vec<String> =
        entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn succeeded(what: &str, out: Output) -> String {
    assert!(out.status.success(), "{what}: {:?}\n{}", out.status, text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn installed_commands_find_their_plugins_from_any_directory() {
    // In the target directory, not /tmp: the debug binaries are large and /tmp may be small.
    let dir = tempfile::tempdir_in(target_dir()).unwrap();
    let build = staged_build(dir.path());
    let prefix = dir.path().join("prefix");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();

    let makefile = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Makefile");
    let out = Command::new("make")
        .arg("-f")
        .arg(&makefile)
        .arg("install-files")
        .arg(format!("BUILD_DIR={}", build.display()))
        .arg(format!("PREFIX={}", prefix.display()))
        // A jobserver inherited from cargo means nothing to this make.
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .current_dir(dir.path())
        .output()
        .expect("make is installed");
    succeeded("make install-files", out);

    assert_eq!(names(&prefix.join("bin")), ["ctiproxy", "ctisave", "ctispy", "ctistat"]);
    let plugin_files = prefix.join("lib/ctiproxy/plugins");
    let libs = names(&plugin_files);
    let product = ["example", "export", "filter", "mi", "save", "spy", "stats"];
    let expected: Vec<String> = product.iter().map(|p| format!("libctiproxy_{p}.so")).collect();
    assert_eq!(libs, expected, "only the product plugins are installed");

    // The demo leaves out the plugins it cannot find: all three must have been found.
    let demo =
        succeeded("demo", installed(&prefix, "ctiproxy", &elsewhere).arg("demo").output().unwrap());
    assert!(demo.contains("pipeline: spy > mi > stats"), "{demo}");
    assert!(demo.contains("each side received exactly what the other sent"), "{demo}");

    let listed = succeeded(
        "plugins",
        installed(&prefix, "ctiproxy", &elsewhere).arg("plugins").output().unwrap(),
    );
    // The loader names the directory from the canonical path of the running executable.
    let from = plugin_files.canonicalize().unwrap().display().to_string();
    let lines: Vec<&str> = listed.lines().collect();
    for name in ["spy", "strip", "include", "exclude", "save", "stats", "mi", "count-class"] {
        // Each plugin is listed as `NAME VERSION DESCRIPTION`, its file on the next line.
        let at = lines.iter().position(|l| l.starts_with(&format!("{name} ")));
        let at = at.unwrap_or_else(|| panic!("{name} not listed:\n{listed}"));
        assert!(lines[at + 1].trim().starts_with(&from), "{name} not from {from}:\n{listed}");
    }

    // A classic command, in front of a test server, with the recorded session through it.
    let (server_addr, server) = start_server(session_steps()).expect("test server");
    let ctistat = prefix.join("bin/ctistat");
    let mut cmd = classic_support::classic(ctistat.to_str().unwrap(), server_addr, &[]);
    isolate(&mut cmd, &elsewhere);
    let running = Running::start(cmd);
    let client = start_client(running.addr(), session_steps()).join().unwrap();
    client.expect("client played the session");
    server.join().unwrap().expect("server played the session");
    let finished = running.finish();
    assert!(finished.status.success(), "ctistat: {}", finished.stderr);
    assert!(finished.stdout.contains("getlist"), "{}", finished.stdout);
}
