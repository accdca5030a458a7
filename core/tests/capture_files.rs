//! A capture is never destroyed: through the real binaries on real files, nothing that fails
//! before the proxy runs (a busy address, a bad override, an invalid later entry) touches an
//! existing file; a second proxy on a file another one writes is refused without touching it;
//! one file named twice, a FIFO and an empty path are configuration errors, the same in `check`
//! and `run`, naming the key and the file.
mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::{ctiproxy, write_config, Finished, Running, PROCESS_TIMEOUT};

const SAVE: &str = env!("CARGO_BIN_EXE_ctisave");
const PRECIOUS: &str = "a capture that must survive\n";

/// Runs `cmd` to its end (killed and failed after [`PROCESS_TIMEOUT`], should it wait forever).
fn finish(cmd: Command) -> Finished {
    Running::spawn(cmd).finish()
}

/// `ctiproxy SUBCOMMAND -c config ARGS...`.
fn ctiproxy_with(subcommand: &str, config: &Path, args: &[&str]) -> Command {
    let mut cmd = ctiproxy();
    cmd.arg(subcommand).arg("-c").arg(config).args(args);
    cmd
}

/// Asserts a failed run (exit 1) whose stderr says each of `needles`.
fn assert_fails_saying(finished: &Finished, needles: &[&str]) {
    assert_eq!(finished.status.code(), Some(1), "{}", finished.stderr);
    for needle in needles {
        assert!(finished.stderr.contains(needle), "stderr lacks {needle:?}:\n{}", finished.stderr);
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A CTI server answering each line `L` with `{"reply": L}`, for one client.
fn echo_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut out = stream.try_clone().unwrap();
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            let reply = serde_json::json!({ "reply": line });
            if writeln!(out, "{reply}").is_err() {
                break;
            }
        }
    });
    addr
}

/// Sends `line` through the proxy and waits for its reply.
fn exchange(client: &mut BufReader<TcpStream>, line: &str) {
    writeln!(client.get_mut(), "{line}").unwrap();
    let mut reply = String::new();
    client.read_line(&mut reply).unwrap();
    assert!(reply.contains("reply"), "{reply:?}");
}

/// Waits until `path` holds `lines` lines (the save plugin flushes about once a second).
fn wait_for_lines(path: &Path, lines: usize) -> String {
    let deadline = Instant::now() + PROCESS_TIMEOUT;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().count() >= lines {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{} never reached {lines} lines: {text:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A proxy config in `dir` saving a jsonl capture to `capture`, in front of an echo server.
fn jsonl_config(dir: &std::path::Path, capture: &std::path::Path) -> std::path::PathBuf {
    let text = format!(
        "[proxy]\nlisten = \"127.0.0.1:0\"\nserver = \"{}\"\n\n[[pipeline]]\nplugin = \"save\"\nformat = \"jsonl\"\nfile = {:?}\n",
        echo_server(),
        capture.display().to_string()
    );
    write_config(dir, &text)
}

#[test]
fn a_second_proxy_on_the_same_config_fails_and_the_first_ones_capture_survives() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("capture.jsonl");
    let config = jsonl_config(dir.path(), &capture);
    let first = Running::start(ctiproxy_with("run", &config, &["--loop"]));
    let addr = first.addr().to_string();
    let mut client = BufReader::new(TcpStream::connect(first.addr()).unwrap());
    exchange(&mut client, r#"{"class": "one"}"#);
    let before = wait_for_lines(&capture, 3);

    // The same config, on the same address: the address is busy.
    let second = finish(ctiproxy_with("run", &config, &["--listen", &addr]));
    assert_fails_saying(&second, &["cannot listen on", &addr]);
    assert_eq!(read(&capture), before, "the second proxy touched the first one's capture");

    // The same config on a free address: the file is busy.
    let third = finish(ctiproxy_with("run", &config, &["--listen", "127.0.0.1:0"]));
    assert_fails_saying(
        &third,
        &["pipeline[0] (save).file: cannot create", "another process is writing to it"],
    );
    assert!(third.stderr.contains(&capture.display().to_string()), "{}", third.stderr);
    assert_eq!(read(&capture), before, "the third proxy touched the first one's capture");

    exchange(&mut client, r#"{"class": "two"}"#);
    drop(client);
    wait_for_lines(&capture, 6);
    first.signal("TERM");
    assert!(first.finish().status.success());
    let after = read(&capture);
    assert!(after.starts_with(&before), "rewritten:\n{after}");
    assert!(!after.contains('\0'), "a hole of NUL bytes:\n{after:?}");
    let events: Vec<String> = after
        .lines()
        .map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            let dir = record.get("dir").and_then(|d| d.as_str());
            record["event"].as_str().or(dir).unwrap_or("?").to_owned()
        })
        .collect();
    assert_eq!(events, ["start", "client", "server", "client", "server", "end"], "{after}");
}

/// A classic pair holding [`PRECIOUS`], and a config saving to it in front of `server`.
struct Pair {
    dir: tempfile::TempDir,
    client: PathBuf,
    server: PathBuf,
}

impl Pair {
    fn new() -> Pair {
        let dir = tempfile::tempdir().unwrap();
        let (client, server) = (dir.path().join("client.txt"), dir.path().join("server.txt"));
        for file in [&client, &server] {
            std::fs::write(file, PRECIOUS).unwrap();
        }
        Pair { dir, client, server }
    }

    /// A config file `name` whose pipeline saves to the pair, then holds `after`.
    fn config(&self, name: &str, after: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        let text = format!(
            "[proxy]\nlisten = \"127.0.0.1:0\"\nserver = \"127.0.0.1:9\"\n\n[[pipeline]]\nplugin = \"save\"\nclient_file = {:?}\nserver_file = {:?}\n\n{after}",
            self.client.display().to_string(),
            self.server.display().to_string()
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    fn ctisave(&self, args: &[&str]) -> Command {
        let mut cmd = support::command(SAVE);
        cmd.arg("127.0.0.1").arg(&self.client).arg(&self.server).args(args);
        cmd
    }

    fn assert_untouched(&self, case: &str) {
        assert_eq!(read(&self.client), PRECIOUS, "{case}: client file");
        assert_eq!(read(&self.server), PRECIOUS, "{case}: server file");
    }
}

#[test]
fn what_fails_before_the_proxy_runs_leaves_existing_captures_untouched() {
    let pair = Pair::new();
    let config = pair.config("save.toml", "");
    let bad_entry =
        pair.config("bad.toml", "[[pipeline]]\nplugin = \"include\"\nmatch = [\"noequals\"]\n");
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port().to_string();
    let empty_capture = pair.dir.path().join("empty.jsonl");
    std::fs::write(&empty_capture, "").unwrap();
    let cases: Vec<(&str, Command, &[&str])> = vec![
        (
            "run --listen nonsense",
            ctiproxy_with("run", &config, &["--listen", "nonsense"]),
            &["proxy.listen", "\"nonsense\" is not an ip:port"],
        ),
        (
            "run --server 'bad host'",
            ctiproxy_with("run", &config, &["--server", "bad host"]),
            &["proxy.server", "\"bad host\""],
        ),
        (
            "run with an invalid later entry",
            ctiproxy_with("run", &bad_entry, &[]),
            &["pipeline[1] (include).match[0]: expected key=value"],
        ),
        (
            "replay with an invalid later entry",
            ctiproxy_with("replay", &bad_entry, &[empty_capture.to_str().unwrap()]),
            &["pipeline[1] (include).match[0]: expected key=value"],
        ),
        (
            "ctisave -i noequals",
            pair.ctisave(&["--listen-addr", "127.0.0.1", "--listen-port", "0", "-i", "noequals"]),
            &["(include).match[0]: expected key=value"],
        ),
        (
            "ctisave on a busy port",
            pair.ctisave(&["--listen-addr", "127.0.0.1", "--listen-port", &busy_port]),
            &["cannot listen on"],
        ),
    ];
    for (case, cmd, says) in cases {
        let finished = finish(cmd);
        pair.assert_untouched(case);
        assert_fails_saying(&finished, says);
    }
}

/// `ctiproxy check` and `ctiproxy run` on `pipeline`, run in `dir`: both must fail saying
/// `says`.
fn assert_check_and_run_refuse(dir: &Path, pipeline: &str, says: &[&str]) {
    let config = write_config(
        dir,
        &format!("[proxy]\nlisten = \"127.0.0.1:0\"\nserver = \"127.0.0.1:9\"\n\n{pipeline}"),
    );
    for subcommand in ["check", "run"] {
        let mut cmd = ctiproxy_with(subcommand, &config, &[]);
        cmd.current_dir(dir);
        let finished = finish(cmd);
        assert_fails_saying(&finished, says);
        assert!(!finished.stderr.contains("Listening"), "{subcommand}: {}", finished.stderr);
    }
}

#[test]
fn one_file_named_twice_is_refused_whatever_the_spelling() {
    let dir = tempfile::tempdir().unwrap();
    assert_check_and_run_refuse(
        dir.path(),
        "[[pipeline]]\nplugin = \"save\"\nclient_file = \"same.txt\"\nserver_file = \"./same.txt\"\n",
        // Relative paths are shown resolved against the configuration file's directory.
        &["config.toml:8:1: pipeline[0] (save).server_file: /", "/./same.txt: same file as client_file"],
    );
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    assert_check_and_run_refuse(
        dir.path(),
        "[[pipeline]]\nplugin = \"save\"\nformat = \"jsonl\"\nfile = \"cap.jsonl\"\n\n\
         [[pipeline]]\nplugin = \"save\"\nformat = \"jsonl\"\nfile = \"sub/../cap.jsonl\"\n",
        &[
            "config.toml:13:1: pipeline[1] (save).file: /",
            "/sub/../cap.jsonl is already written by save#0 file",
        ],
    );
    assert!(!dir.path().join("same.txt").exists() && !dir.path().join("cap.jsonl").exists());
}

#[test]
fn a_fifo_is_refused_without_being_opened() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let fifo_text = fifo.display().to_string();
    let reason = "it is a FIFO (named pipe), not a regular file";
    assert_check_and_run_refuse(
        dir.path(),
        &format!("[[pipeline]]\nplugin = \"save\"\nformat = \"jsonl\"\nfile = {fifo_text:?}\n"),
        &[&format!(
            "config.toml:8:1: pipeline[0] (save).file: cannot create {fifo_text}: {reason}"
        )],
    );
    assert_check_and_run_refuse(
        dir.path(),
        &format!(
            "[[pipeline]]\nplugin = \"save\"\nappend = true\nclient_file = \"client.txt\"\nserver_file = {fifo_text:?}\n"
        ),
        &[&format!("pipeline[0] (save).server_file: cannot open {fifo_text}: {reason}")],
    );
}

#[test]
fn an_empty_path_is_a_configuration_error_for_check_and_run_alike() {
    let dir = tempfile::tempdir().unwrap();
    assert_check_and_run_refuse(
        dir.path(),
        "[[pipeline]]\nplugin = \"save\"\nformat = \"jsonl\"\nfile = \"\"\n",
        &["config.toml:8:1: pipeline[0] (save).file: must not be empty"],
    );
    assert_check_and_run_refuse(
        dir.path(),
        "[[pipeline]]\nplugin = \"save\"\nclient_file = \"client.txt\"\nserver_file = \"\"\n",
        &["config.toml:8:1: pipeline[0] (save).server_file: must not be empty"],
    );
    assert!(!dir.path().join("client.txt").exists(), "created before the error");
}

#[test]
fn a_live_capture_masks_passwords_and_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("capture.jsonl");
    let config = jsonl_config(dir.path(), &capture);
    let proxy = Running::start(ctiproxy_with("run", &config, &[]));
    let mut client = BufReader::new(TcpStream::connect(proxy.addr()).unwrap());
    exchange(&mut client, r#"{"class": "login_pass", "password": "secret"}"#);
    let text = wait_for_lines(&capture, 3);
    proxy.signal("TERM");
    assert!(proxy.finish().status.success());
    let sent = text.lines().find(|l| l.contains(r#""dir":"client""#)).unwrap();
    assert!(sent.contains(r#"\"password\": \"***\""#) && !sent.contains("secret"), "{sent}");
    let mode = std::fs::metadata(&capture).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn relative_capture_paths_are_next_to_the_config_file_and_logs_can_be_json() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "[proxy]\nlisten = \"127.0.0.1:0\"\nserver = \"{}\"\n\n[[pipeline]]\nplugin = \"save\"\nformat = \"jsonl\"\nfile = \"capture.jsonl\"\n",
            echo_server()
        ),
    );
    let mut cmd = ctiproxy();
    cmd.current_dir(elsewhere.path()).args(["--log-format", "json", "run", "-c"]).arg(&config);
    let proxy = Running::start(cmd);
    // One exchange first: by then the proxy is serving, its signal handling included.
    let mut client = BufReader::new(TcpStream::connect(proxy.addr()).unwrap());
    exchange(&mut client, r#"{"class": "one"}"#);
    wait_for_lines(&dir.path().join("capture.jsonl"), 3);
    assert!(!elsewhere.path().join("capture.jsonl").exists());
    proxy.signal("TERM");
    let finished = proxy.finish();
    assert!(finished.status.success(), "{}", finished.stderr);
    for line in finished.stderr.lines() {
        let record: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line:?}"));
        assert!(record["level"].is_string() && record["fields"]["message"].is_string(), "{line}");
    }
}
