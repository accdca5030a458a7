//! What the loader opens and what it refuses before opening, through the real binary and real
//! files: truncated and foreign libraries are reported, never fatal; a run opens only the
//! libraries named for the plugins it uses; the broken test plugins cargo builds beside the
//! binary are never searched; writable plugin directories and libraries are warned about.
mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::{
    built_test_plugin, ctiproxy, lib_path, plugin_dir, target_dir, write_config, Running,
};

fn so(dir: &Path, stem: &str) -> PathBuf {
    dir.join(format!("{}{stem}{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX))
}

/// `ctiproxy` searching `dirs` first, then the test plugins.
fn ctiproxy_searching(dirs: &[&Path]) -> Command {
    let mut path: Vec<&Path> = dirs.to_vec();
    path.push(plugin_dir());
    searching_only(&path)
}

/// `ctiproxy` searching `dirs` (and, as always, its own directory).
fn searching_only(dirs: &[&Path]) -> Command {
    let mut cmd = ctiproxy();
    cmd.env("CTIPROXY_PLUGIN_PATH", std::env::join_paths(dirs).unwrap());
    cmd
}

fn run(mut cmd: Command, args: &[&str]) -> Output {
    let out = cmd.args(args).output().unwrap();
    assert!(
        out.status.code().is_some(),
        "`ctiproxy {}` was killed by {:?}; stderr:\n{}",
        args.join(" "),
        std::os::unix::process::ExitStatusExt::signal(&out.status),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A copy of the built `spy` plugin cut in the middle of its first loadable segment, as an
/// interrupted copy leaves it: the dynamic loader would read symbols and relocations from pages
/// past its end.
fn truncated_copy(to: &Path) {
    let bytes = std::fs::read(lib_path("spy")).unwrap();
    assert_eq!(bytes[4], 2, "this reading assumes a 64-bit host");
    let field = |at: usize| u64::from_ne_bytes(bytes[at..at + 8].try_into().unwrap()) as usize;
    let half = |at: usize| u16::from_ne_bytes([bytes[at], bytes[at + 1]]) as usize;
    let (phoff, phentsize, phnum) = (field(32), half(54), half(56));
    let load = (0..phnum)
        .map(|i| phoff + i * phentsize)
        .find(|&ph| u32::from_ne_bytes(bytes[ph..ph + 4].try_into().unwrap()) == 1)
        .expect("a PT_LOAD segment");
    let cut = field(load + 8) + field(load + 32) / 2;
    std::fs::write(to, &bytes[..cut]).unwrap();
}

/// A change to a library's bytes.
type Edit = Box<dyn FnOnce(&mut Vec<u8>)>;

/// A copy of the built `spy` plugin with its header edited.
fn edited_copy(to: &Path, edit: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = std::fs::read(lib_path("spy")).unwrap();
    assert_eq!(bytes[4], 2, "these edits assume a 64-bit host");
    edit(&mut bytes);
    std::fs::write(to, bytes).unwrap();
}

/// What `ctiproxy plugins` printed about `file`: the line above its path, then its path line.
fn reported(stdout: &str, file: &Path) -> String {
    let lines: Vec<&str> = stdout.lines().collect();
    let path = file.display().to_string();
    let at = lines
        .iter()
        .position(|l| l.trim_start() == path || l.trim_start().starts_with(&format!("{path} (")))
        .unwrap_or_else(|| panic!("{path} not reported:\n{stdout}"));
    format!("{}\n{}", lines[at - 1], lines[at])
}

fn spy_config(dir: &Path, pipeline: &str) -> PathBuf {
    let text = format!(
        "[proxy]\nlisten = \"127.0.0.1:0\"\nserver = \"127.0.0.1:9\"\nloop = true\n\n{pipeline}\n"
    );
    write_config(dir, &text)
}

#[test]
fn a_truncated_library_in_the_search_path_crashes_no_command() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    let candidate = so(&bad, "ctiproxy_cut");
    let unrelated = so(&bad, "cut");
    truncated_copy(&candidate);
    truncated_copy(&unrelated);
    // `strip` is not in a library named after it, so the search goes through `candidate`.
    let config = spy_config(dir.path(), "[[pipeline]]\nplugin = \"strip\"\nfields = [\"x\"]");
    let config = config.to_str().unwrap();
    let cut = "unusable library file: truncated: the section header table ends at byte";

    let out = run(ctiproxy_searching(&[&bad]), &["plugins"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let line = reported(&stdout, &candidate);
    assert!(line.starts_with("cut ") && line.contains(&format!("NOT LOADED: {cut}")), "{line}");
    assert!(!stdout.contains(&unrelated.display().to_string()), "{stdout}");

    let out = run(ctiproxy_searching(&[&bad]), &["plugins", "--all"]);
    assert!(reported(&text(&out.stdout), &unrelated).contains(cut), "{}", text(&out.stdout));

    let out = run(ctiproxy_searching(&[&bad]), &["check", "-c", config]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let skipped = format!("Skipping plugin library {}: {cut}", candidate.display());
    assert_eq!(stderr.matches(&skipped).count(), 1, "{stderr}");

    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let out = run(ctiproxy_searching(&[&bad]), &["replay", "-c", config, empty.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let mut cmd = ctiproxy_searching(&[&bad]);
    cmd.args(["run", "-c", config]);
    let running = Running::start(cmd);
    running.signal("TERM");
    let finished = running.finish();
    assert!(finished.status.success(), "{}", finished.stderr);
}

#[test]
fn a_truncated_library_is_refused_naming_the_file_and_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let file = so(dir.path(), "ctiproxy_mine");
    truncated_copy(&file);
    let expect = format!(
        "{}: unusable library file: truncated: the section header table ends at byte",
        file.display()
    );
    // An error about a `library` path points at that key, one about a plugin found by name at
    // `plugin`.
    for (entry, at) in [
        ("plugin = \"mine\"".to_owned(), "config.toml:7:1: pipeline[0] (mine).plugin"),
        (
            format!("plugin = \"spy\"\nlibrary = {:?}", file),
            "config.toml:8:1: pipeline[0] (spy).library",
        ),
    ] {
        let config = spy_config(dir.path(), &format!("[[pipeline]]\n{entry}"));
        let out =
            run(ctiproxy_searching(&[dir.path()]), &["check", "-c", config.to_str().unwrap()]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(at), "{stderr}");
        assert!(stderr.contains(&expect), "{stderr}");
    }
}

#[test]
fn files_for_another_machine_or_of_another_kind_are_refused_before_opening() {
    let dir = tempfile::tempdir().unwrap();
    let host_machine = {
        let bytes = std::fs::read(lib_path("spy")).unwrap();
        u16::from_ne_bytes([bytes[18], bytes[19]])
    };
    let (foreign, foreign_name) =
        if host_machine == 62 { (183, "AArch64") } else { (62, "x86-64") };
    let (other_order, other_order_name) =
        if cfg!(target_endian = "little") { (2, "big-endian") } else { (1, "little-endian") };
    let cases: Vec<(&str, Edit, String)> = vec![
        (
            "foreign",
            Box::new(move |b| b[18..20].copy_from_slice(&u16::to_ne_bytes(foreign))),
            format!("built for {foreign_name} (e_machine {foreign}), this machine is"),
        ),
        ("narrow", Box::new(|b| b[4] = 1), "a 32-bit ELF file, this machine is 64-bit".into()),
        (
            "byteorder",
            Box::new(move |b| b[5] = other_order),
            format!("{other_order_name} ELF file, this machine is"),
        ),
        (
            "executable",
            Box::new(|b| b[16..18].copy_from_slice(&2u16.to_ne_bytes())),
            "not a shared object (ELF type 2: an executable)".into(),
        ),
        (
            "segment",
            Box::new(|b| {
                let len = b.len() as u64;
                let phoff = u64::from_ne_bytes(b[32..40].try_into().unwrap()) as usize;
                b[phoff + 32..phoff + 40].copy_from_slice(&(len + 1).to_ne_bytes());
            }),
            "truncated: the segment #0 ends at byte".into(),
        ),
        ("text", Box::new(|b| *b = b"not a library\n".to_vec()), "not an ELF file".into()),
    ];
    let mut expected = Vec::new();
    for (stem, edit, message) in cases {
        let file = so(dir.path(), &format!("ctiproxy_{stem}"));
        edited_copy(&file, edit);
        expected.push((file, message));
    }

    let out = run(ctiproxy_searching(&[dir.path()]), &["plugins"]);
    let stdout = text(&out.stdout);
    for (file, message) in &expected {
        let line = reported(&stdout, file);
        assert!(line.contains(&format!("NOT LOADED: unusable library file: {message}")), "{line}");
    }

    let config = spy_config(dir.path(), "[[pipeline]]\nplugin = \"foreign\"");
    let out = run(ctiproxy_searching(&[dir.path()]), &["check", "-c", config.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let (file, message) = &expected[0];
    assert!(stderr.contains(&format!("{}: unusable library file: {message}", file.display())));
    assert!(!stderr.contains("No such file"), "{stderr}");
}

/// Copies of a library whose initialiser appends a line to `log` when it is opened.
fn opening_logger(dir: &Path, stems: &[&str]) {
    for stem in stems {
        std::fs::copy(built_test_plugin("nosymbol"), so(dir, stem)).unwrap();
    }
}

fn times_opened(log: &Path) -> usize {
    let count = std::fs::read_to_string(log).map(|t| t.lines().count()).unwrap_or(0);
    let _ = std::fs::remove_file(log);
    count
}

#[test]
fn a_run_opens_only_the_libraries_named_for_its_plugins() {
    let dir = tempfile::tempdir().unwrap();
    let (libs, builtins) = (dir.path().join("libs"), dir.path().join("builtins"));
    std::fs::create_dir(&libs).unwrap();
    std::fs::create_dir(&builtins).unwrap();
    // `aa` sorts first: a plain search in name order would open it before anything else.
    opening_logger(&libs, &["ctiproxy_aa_unused", "unrelated"]);
    for stem in ["spy", "stats", "example"] {
        std::os::unix::fs::symlink(lib_path(stem), so(&builtins, &format!("ctiproxy_{stem}")))
            .unwrap();
    }
    let log = dir.path().join("opened.log");
    let config = spy_config(
        dir.path(),
        "[[pipeline]]\nplugin = \"stats\"\n\n[[pipeline]]\nplugin = \"spy\"",
    );
    let with_log = || {
        let mut cmd = searching_only(&[&libs, &builtins]);
        cmd.env("CTIPROXY_TEST_OPENED", &log);
        cmd
    };

    let out = run(with_log(), &["check", "-c", config.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(times_opened(&log), 0, "check opened a library it did not need");

    // A plugin in a library not named after it is searched for in every candidate, in order.
    let config = spy_config(dir.path(), "[[pipeline]]\nplugin = \"count-class\"\nclass = \"x\"");
    let out = run(with_log(), &["check", "-c", config.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(times_opened(&log), 1);

    run(with_log(), &["plugins"]);
    assert_eq!(times_opened(&log), 1, "plugins opens the candidates, only them");
    let out = run(with_log(), &["plugins", "--all"]);
    assert!(times_opened(&log) >= 2, "plugins --all opens every library");
    let stdout = text(&out.stdout);
    assert!(reported(&stdout, &so(&libs, "unrelated")).contains("NOT LOADED: not a ctiproxy"));
}

/// Hard-links (or copies) `from` into `dir`, under its own name.
fn place(from: &Path, dir: &Path) -> PathBuf {
    let to = dir.join(from.file_name().unwrap());
    if std::fs::hard_link(from, &to).is_err() {
        std::fs::copy(from, &to).unwrap();
    }
    to
}

#[test]
fn the_test_plugins_beside_the_binary_are_never_searched() {
    // What `cargo build --workspace` leaves: the binary, the plugins and the test plugins.
    let dir = tempfile::tempdir_in(target_dir()).unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let exe = place(Path::new(env!("CARGO_BIN_EXE_ctiproxy")), &bin);
    place(&lib_path("spy").canonicalize().unwrap(), &bin);
    place(&built_test_plugin("defective"), &bin);
    place(&built_test_plugin("nosymbol"), &bin);
    let faulty = place(&built_test_plugin("faulty"), &bin);
    let log = dir.path().join("opened.log");
    let beside = || {
        let mut cmd = Command::new(&exe);
        cmd.env_remove("CTIPROXY_PLUGIN_PATH")
            .env_remove("CTIPROXY_TEST_DEFECT")
            .env("CTIPROXY_TEST_OPENED", &log);
        cmd
    };

    let out = run(beside(), &["plugins"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.starts_with("spy "), "{stdout}");
    for name in ["defective", "panic-create", "reject-config", "test_plugin"] {
        assert!(!stdout.contains(name), "{name} listed:\n{stdout}");
    }
    assert_eq!(times_opened(&log), 0);

    let config = spy_config(dir.path(), "[[pipeline]]\nplugin = \"reject-config\"\nmode = \"ok\"");
    let out = run(beside(), &["check", "-c", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("unknown plugin \"reject-config\""), "{:?}", out);

    // Still loadable when named explicitly.
    let entry =
        format!("[[pipeline]]\nplugin = \"reject-config\"\nmode = \"ok\"\nlibrary = {faulty:?}");
    let config = spy_config(dir.path(), &entry);
    let out = run(beside(), &["check", "-c", config.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let out = run(beside(), &["plugins", "--all"]);
    assert!(reported(&text(&out.stdout), &faulty).contains("never searched"), "{:?}", out);
}

#[test]
fn writable_plugin_directories_and_libraries_are_warned_about_once() {
    let dir = tempfile::tempdir().unwrap();
    let open = dir.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o757)).unwrap();
    let spy = so(&open, "ctiproxy_spy");
    std::fs::copy(lib_path("spy"), &spy).unwrap();
    std::fs::set_permissions(&spy, std::fs::Permissions::from_mode(0o664)).unwrap();
    let config =
        spy_config(dir.path(), "[[pipeline]]\nplugin = \"spy\"\n\n[[pipeline]]\nplugin = \"spy\"");

    let out = run(ctiproxy_searching(&[&open]), &["check", "-c", config.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let dir_warning = format!("Plugin directory {} is world-writable", open.display());
    let lib_warning = format!("Plugin library {} is group-writable", spy.display());
    assert_eq!(stderr.matches(&dir_warning).count(), 1, "{stderr}");
    assert_eq!(stderr.matches(&lib_warning).count(), 1, "{stderr}");

    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&spy, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = run(ctiproxy_searching(&[&open]), &["check", "-c", config.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    for path in [&open, &spy] {
        assert!(!stderr.contains(&format!("{} is", path.display())), "{stderr}");
    }
}

/// `ctiproxy check` on a one-plugin pipeline, searching only `dir`, with the defective test
/// plugin presenting `defect`; returns its stderr after asserting it failed.
fn check_refused(dir: &Path, plugin: &str, defect: &str) -> String {
    let config = write_config(dir, &format!("[[pipeline]]\nplugin = {plugin:?}\n"));
    let mut cmd = searching_only(&[dir]);
    cmd.env("CTIPROXY_TEST_DEFECT", defect);
    let out = run(cmd, &["check", "-c", config.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    stderr
}

#[test]
fn a_plugin_refused_during_the_search_is_reported_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mine = so(dir.path(), "ctiproxy_mine");
    std::fs::copy(built_test_plugin("defective"), &mine).unwrap();
    // The library names the plugin: its refusal is the answer, not "unknown plugin".
    let stderr = check_refused(dir.path(), "defective", "abort");
    let expected = format!(
        "pipeline[0] (defective).plugin: {}: plugin #0 (defective): built with panic = \"abort\"",
        mine.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(!stderr.contains("unknown plugin"), "{stderr}");
    // Another layout hides the name: the refused library is still listed with its reason.
    let stderr = check_refused(dir.path(), "defective", "layout");
    assert!(stderr.contains("unknown plugin \"defective\" (available: "), "{stderr}");
    let expected = format!("; refused: {}: plugin #0: layout hash", mine.display());
    assert!(stderr.contains(&expected), "{stderr}");
}
