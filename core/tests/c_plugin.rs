//! The C example plugin (`plugins/example-c/`), built with the system C compiler through its own
//! Makefile against the generated header, loaded by the real `ctiproxy` exactly like a Rust
//! plugin: it counts in a real session through the proxy, its settings are checked with the
//! config file's line, and built against another header it is refused by the layout check,
//! naming both plugin-api versions.
mod support;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;

use ctiproxy_plugin_api::abi::{LAYOUT_HASH, PLUGIN_API_VERSION};
use ctiproxy_plugin_api::Direction;
use support::{ctiproxy, play, plugin_dir, session_steps, start_server, write_config, Running};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn header_dir() -> PathBuf {
    repo().join("plugin-api/include")
}

/// Builds the example with its Makefile into `out` (warnings are errors here) against the
/// header in `include`; returns the library.
fn build_c_plugin(out: &Path, include: &Path) -> PathBuf {
    let made = Command::new("make")
        .arg("-C")
        .arg(repo().join("plugins/example-c"))
        .arg(format!("O={}", out.display()))
        .arg(format!("CTIPROXY_INCLUDE={}", include.display()))
        .arg("WARNINGS=-Wall -Wextra -Wpedantic -Werror")
        .output()
        .expect("make and a C compiler (README: Development)");
    assert!(
        made.status.success(),
        "building the C example failed:\n{}{}",
        String::from_utf8_lossy(&made.stdout),
        String::from_utf8_lossy(&made.stderr)
    );
    let library = out.join("libctiproxy_count_class_c.so");
    assert!(library.is_file(), "the Makefile must build {}", library.display());
    library
}

/// `ctiproxy` searching `dir` first, then the plugins cargo built.
fn ctiproxy_with(dir: &Path) -> Command {
    let mut cmd = ctiproxy();
    cmd.env("CTIPROXY_PLUGIN_PATH", std::env::join_paths([dir, plugin_dir()]).unwrap());
    cmd
}

fn check(dir: &Path, entry: &str) -> std::process::Output {
    let config = write_config(dir, &format!("[[pipeline]]\n{entry}\n"));
    ctiproxy_with(dir).arg("check").arg("-c").arg(&config).output().unwrap()
}

#[test]
fn the_c_example_counts_in_a_real_session_like_the_rust_one() {
    let plugins = tempfile::tempdir().unwrap();
    build_c_plugin(plugins.path(), &header_dir());
    let steps = session_steps();
    let getlists = steps
        .iter()
        .filter(|s| {
            let json: serde_json::Value = serde_json::from_str(&s.line).unwrap_or_default();
            json.get("class").and_then(|c| c.as_str()) == Some("getlist")
        })
        .count();
    assert!(getlists > 0, "the recorded session has getlist messages");
    let (server_addr, server) = start_server(steps.clone()).unwrap();
    let pipeline = "[[pipeline]]\nplugin = \"count-class-c\"\nclass = \"getlist\"\n\n\
                    [[pipeline]]\nplugin = \"count-class\"\nclass = \"getlist\"\n";
    let config = write_config(plugins.path(), &support::proxy_config(server_addr, "", pipeline));
    let mut cmd = ctiproxy_with(plugins.path());
    cmd.arg("run").arg("-c").arg(&config);
    let proxy = Running::start(cmd);
    let client =
        play(TcpStream::connect(proxy.addr()).unwrap(), &steps, Direction::ClientToServer).unwrap();
    assert_eq!(client.received, server.join().unwrap().unwrap().sent, "the wire is unaffected");
    let done = proxy.finish();
    assert!(done.status.success(), "{}", done.stderr);
    // The C plugin and the Rust example, one after the other, say the same.
    let line = format!("session 1: {getlists} x getlist\n");
    assert_eq!(done.stdout.matches(&line).count(), 2, "{}\n{}", done.stdout, done.stderr);
}

#[test]
fn the_c_example_checks_its_settings_like_a_rust_plugin() {
    let dir = tempfile::tempdir().unwrap();
    build_c_plugin(dir.path(), &header_dir());
    let out = check(dir.path(), "plugin = \"count-class-c\"\nclass = \"getlist\"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK, pipeline: count-class-c"));
    let out = check(dir.path(), "plugin = \"count-class-c\"\nclass = 3");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "config.toml:3:1: pipeline[0] (count-class-c).class: must be a string, a message class"
        ),
        "{stderr}"
    );
}

#[test]
fn a_c_plugin_built_against_another_header_is_refused_naming_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    // What an author has after the proxy moved on: a header of another plugin-api.
    let include = dir.path().join("include");
    std::fs::create_dir(&include).unwrap();
    let header = std::fs::read_to_string(header_dir().join("ctiproxy_plugin.h")).unwrap();
    let current_hash = format!("UINT64_C({LAYOUT_HASH:#018x})");
    let current_version = format!("\"{PLUGIN_API_VERSION}\"");
    assert!(header.contains(&current_hash) && header.contains(&current_version));
    let old = header
        .replace(&current_hash, "UINT64_C(0x0123456789abcdef)")
        .replace(&current_version, "\"0.0.9\"");
    std::fs::write(include.join("ctiproxy_plugin.h"), old).unwrap();
    let library = build_c_plugin(dir.path(), &include);
    let out = check(dir.path(), "plugin = \"count-class-c\"\nclass = \"getlist\"");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = format!(
        "{}: plugin #0: layout hash 0x0123456789abcdef differs from this host's {LAYOUT_HASH:#018x}: built against plugin-api 0.0.9, this host uses plugin-api {PLUGIN_API_VERSION}; rebuild the plugin against plugin-api {PLUGIN_API_VERSION}",
        library.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
}

/// A server that accepts `sessions` connections and reads each until the client closes.
fn draining_server(sessions: usize) -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(sessions).flatten() {
            std::thread::spawn(move || std::io::copy(&mut &stream, &mut std::io::sink()));
        }
    });
    addr
}

#[test]
fn both_examples_keep_overlapping_sessions_apart() {
    let plugins = tempfile::tempdir().unwrap();
    build_c_plugin(plugins.path(), &header_dir());
    let counts = [5usize, 10, 15, 20];
    let server = draining_server(counts.len());
    let pipeline = "[[pipeline]]\nplugin = \"count-class-c\"\nclass = \"x\"\n\n\
                    [[pipeline]]\nplugin = \"count-class\"\nclass = \"x\"\n";
    let config =
        write_config(plugins.path(), &support::proxy_config(server, "loop = true", pipeline));
    let mut cmd = ctiproxy_with(plugins.path());
    cmd.arg("run").arg("-c").arg(&config);
    let proxy = Running::start(cmd);
    // Every session starts before any sends, and their lines alternate.
    let mut clients: Vec<TcpStream> =
        counts.iter().map(|_| TcpStream::connect(proxy.addr()).unwrap()).collect();
    for round in 0..*counts.iter().max().unwrap() {
        for (client, &count) in clients.iter_mut().zip(&counts) {
            if round < count {
                std::io::Write::write_all(client, b"{\"class\":\"x\"}\n").unwrap();
            }
        }
    }
    for client in &clients {
        client.shutdown(std::net::Shutdown::Write).unwrap();
    }
    // Each session ends when its server side closes after the client's end; both plugins print.
    let ends = |text: &str| text.lines().filter(|l| l.starts_with("session ")).count();
    let deadline = std::time::Instant::now() + support::PROCESS_TIMEOUT;
    while ends(&proxy.stdout()) < 2 * counts.len() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    drop(clients);
    proxy.signal("TERM");
    let done = proxy.finish();
    let mut lines: Vec<&str> = done.stdout.lines().filter(|l| l.starts_with("session ")).collect();
    lines.sort_unstable();
    // Counted apart, each session gets its own count, from both plugins (a shared count gives
    // running totals instead).
    let mut got: Vec<&str> = lines.iter().filter_map(|l| l.split(": ").nth(1)).collect();
    got.sort_unstable();
    let mut expected: Vec<String> =
        counts.iter().flat_map(|n| std::iter::repeat_n(format!("{n} x x"), 2)).collect();
    expected.sort_unstable();
    assert_eq!(got, expected, "{}", done.stdout);
    // The C and the Rust plugin agree line for line, session ids included.
    assert!(lines.chunks(2).all(|pair| pair[0] == pair[1]), "{}", done.stdout);
}

#[test]
fn the_c_example_reads_duplicate_keys_as_the_host_does() {
    let dir = tempfile::tempdir().unwrap();
    build_c_plugin(dir.path(), &header_dir());
    // Of duplicate keys the last counts (serde_json, the host's index, the Rust example).
    let lines = [
        r#"{"class":"getlist","class":"phones"}"#,
        r#"{"class":"getlist","n":1,"class":"phones"}"#,
        r#"{"class":"phones","class":"getlist"}"#,
        r#"{"class":"getlist"}"#,
    ];
    let capture: String = lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let record = serde_json::json!({
                "ts": "2019-02-22T14:08:32.101000Z", "ts_us": 1_550_844_512_101_000_i64 + i as i64,
                "session": 1, "dir": "server", "line": line,
            });
            format!("{record}\n")
        })
        .collect();
    let capture_file = dir.path().join("capture.jsonl");
    std::fs::write(&capture_file, capture).unwrap();
    let pipeline = "[[pipeline]]\nplugin = \"count-class-c\"\nclass = \"getlist\"\n\n\
                    [[pipeline]]\nplugin = \"count-class\"\nclass = \"getlist\"\n";
    let config = write_config(dir.path(), pipeline);
    let out = ctiproxy_with(dir.path())
        .arg("replay")
        .arg("-c")
        .arg(&config)
        .arg(&capture_file)
        .output()
        .unwrap();
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout.matches("session 1: 2 x getlist\n").count(), 2, "{stdout}\n{stderr}");
}
