//! Shared test support: the real binaries with the freshly built plugins, a running proxy
//! process whose output is collected, and scripted CTI peers replaying the recorded session.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::Rng;

#[allow(unused_imports)]
pub use ctiproxy::demo::{parse_script, play, start_client, start_server, Step, Transcript};

/// Longest a test waits for a process before killing it.
pub const PROCESS_TIMEOUT: Duration = Duration::from_secs(60);

/// The directory of the test binaries' target (`target/debug`).
pub fn target_dir() -> PathBuf {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_ctiproxy"));
    exe.parent().expect("binary has a directory").to_path_buf()
}

/// The library-name prefix of the deliberately broken test plugins (`test-plugins/*`), chosen
/// outside the loader's `libctiproxy_*` convention so that a run never opens them.
pub const TEST_PLUGIN_PREFIX: &str = "test_plugin_";

/// A directory holding links to the plugin libraries cargo just built for this test run
/// (`target/debug/deps` is fresher than `target/debug` when only `cargo test` ran). The test
/// plugins are linked under the convention's names, `libtest_plugin_X.so` as
/// `libctiproxy_test_X.so`, so that tests reach them by plugin name.
pub fn plugin_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let target = target_dir();
        let lib = std::env::consts::DLL_PREFIX;
        let test_prefix = format!("{lib}{TEST_PLUGIN_PREFIX}");
        for source in [target.join("deps"), target.clone()] {
            let Ok(entries) = std::fs::read_dir(&source) else { continue };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if !name.ends_with(std::env::consts::DLL_SUFFIX) {
                    continue;
                }
                let link_name = match name.strip_prefix(&test_prefix) {
                    Some(rest) => format!("{lib}ctiproxy_test_{rest}"),
                    // `libctiproxy_test_*` files are builds from before the test plugins' rename.
                    None if name.starts_with(&format!("{lib}ctiproxy_test_")) => continue,
                    None if name.starts_with(&format!("{lib}ctiproxy_")) => name,
                    None => continue,
                };
                let link = dir.path().join(link_name);
                if !link.exists() {
                    std::os::unix::fs::symlink(entry.path(), &link).expect("symlink plugin");
                }
            }
        }
        dir
    })
    .path()
}

/// A test plugin library as cargo built it, e.g. `built_test_plugin("nosymbol")`.
pub fn built_test_plugin(stem: &str) -> PathBuf {
    target_dir().join("deps").join(format!(
        "{}{TEST_PLUGIN_PREFIX}{stem}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ))
}

/// The path of one plugin library in [`plugin_dir`], e.g. `lib_path("test_defective")`.
pub fn lib_path(stem: &str) -> PathBuf {
    plugin_dir().join(format!(
        "{}ctiproxy_{stem}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ))
}

/// A command for one of the project's binaries, with the test plugins on its search path.
pub fn command(exe: &str) -> Command {
    let mut cmd = Command::new(exe);
    cmd.env("CTIPROXY_PLUGIN_PATH", plugin_dir())
        .env("RUST_LOG", "info")
        .env_remove("CTIPROXY_TEST_DEFECT");
    cmd
}

/// `ctiproxy` itself.
pub fn ctiproxy() -> Command {
    command(env!("CARGO_BIN_EXE_ctiproxy"))
}

/// Writes a config file into `dir`.
pub fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// The recorded login session.
pub fn session_steps() -> Vec<Step> {
    parse_script(ctiproxy::demo::SESSION).expect("fixture parses")
}

/// What a finished process printed.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// A running proxy process (any of the binaries) whose output is being collected.
pub struct Running {
    child: Child,
    pub addr: Option<SocketAddr>,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
    /// With [`Running::start_unread`]: the stdout pipe, held open and never read.
    _unread: Option<std::process::ChildStdout>,
}

fn collect(
    mut from: impl Read + Send + 'static,
    into: Arc<Mutex<Vec<u8>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            into.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    })
}

impl Running {
    /// Starts `cmd` and waits until it logs `Listening on ADDR`.
    pub fn start(cmd: Command) -> Running {
        let mut running = Running::spawn(cmd);
        running.addr = Some(running.wait_listening());
        running
    }

    /// Starts `cmd` without waiting for anything.
    pub fn spawn(mut cmd: Command) -> Running {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::null());
        let mut child = cmd.spawn().expect("spawn binary");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            collect(child.stdout.take().unwrap(), stdout.clone()),
            collect(child.stderr.take().unwrap(), stderr.clone()),
        ];
        Running { child, addr: None, stdout, stderr, readers, _unread: None }
    }

    /// Starts `cmd` with a stdout nobody reads (a plugin writing to it blocks once the pipe is
    /// full) and waits until it listens.
    pub fn start_unread(cmd: Command) -> Running {
        let mut running = Running::spawn_unread(cmd);
        running.addr = Some(running.wait_listening());
        running
    }

    /// Spawns `cmd` with a stdout nobody reads, without waiting for anything.
    pub fn spawn_unread(mut cmd: Command) -> Running {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::null());
        let mut child = cmd.spawn().expect("spawn binary");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![collect(child.stderr.take().unwrap(), stderr.clone())];
        let unread = child.stdout.take();
        let stdout = Arc::new(Mutex::new(Vec::new()));
        Running { child, addr: None, stdout, stderr, readers, _unread: unread }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A `/proc/PID/status` figure in KiB (`VmRSS`, `VmHWM`…), on Linux.
    pub fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let line = status.lines().find(|l| l.starts_with(&format!("{field}:"))).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    fn wait_listening(&mut self) -> SocketAddr {
        let deadline = Instant::now() + PROCESS_TIMEOUT;
        loop {
            let text = self.stderr();
            if let Some(addr) = text.lines().find_map(|l| l.split("Listening on ").nth(1)) {
                // Text or JSON logs: the address is what follows, up to its last character.
                let addr: String = addr
                    .chars()
                    .take_while(|c| c.is_ascii_hexdigit() || ".:[]".contains(*c))
                    .collect();
                return addr.trim_end_matches('.').parse().expect("address");
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "exited with {status} before listening:\n{text}\nstdout:\n{}",
                    self.stdout()
                );
            }
            assert!(Instant::now() < deadline, "never listened:\n{text}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr.expect("started with Running::start")
    }

    /// stdout so far.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().unwrap()).into_owned()
    }

    /// stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Sends a signal (`INT`, `TERM`) to the process.
    pub fn signal(&self, name: &str) {
        let ok =
            Command::new("kill").arg(format!("-{name}")).arg(self.child.id().to_string()).status();
        assert!(ok.map(|s| s.success()).unwrap_or(false), "kill -{name} failed");
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_none()
    }

    /// Waits for the process to exit (killing it after [`PROCESS_TIMEOUT`]).
    pub fn finish(mut self) -> Finished {
        let deadline = Instant::now() + PROCESS_TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("process did not exit in time\nstderr:\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        Finished { status, stdout: self.stdout(), stderr: self.stderr() }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads lines from a stream until EOF.
pub fn read_lines(stream: std::net::TcpStream) -> Vec<String> {
    BufReader::new(stream).lines().map_while(Result::ok).collect()
}

/// Random newline-terminated JSON lines, the first naming the client.
pub fn payload(rng: &mut StdRng, id: usize, side: &str, lines: usize) -> Vec<u8> {
    let mut out =
        format!("{{\"class\":\"hello\",\"client\":{id},\"side\":\"{side}\"}}\n").into_bytes();
    for seq in 0..lines {
        let pad_len =
            if rng.gen_bool(0.05) { rng.gen_range(10_000..120_000) } else { rng.gen_range(0..600) };
        let pad: String = (0..pad_len).map(|_| rng.gen_range(b'a'..=b'z') as char).collect();
        out.extend_from_slice(
            format!("{{\"class\":\"data\",\"seq\":{seq},\"pad\":\"{pad}\"}}\n").as_bytes(),
        );
    }
    out
}

/// The size of the next write of a random chunking: 1 byte to 64 KiB, at most `left`.
pub fn chunk_size(rng: &mut StdRng, left: usize) -> usize {
    let size = 1usize << rng.gen_range(0..=16);
    rng.gen_range(1..=size).min(left)
}

/// A config for a proxy on an ephemeral port in front of `server`, with `pipeline` appended.
pub fn proxy_config(server: SocketAddr, extra_proxy: &str, pipeline: &str) -> String {
    format!("[proxy]\nlisten = \"127.0.0.1:0\"\nserver = \"{server}\"\n{extra_proxy}\n{pipeline}")
}

/// Starts `ctiproxy run` on an ephemeral port in front of `server` with `pipeline`; keep the
/// returned directory (it holds the config) as long as the proxy runs.
pub fn start_proxy(
    server: SocketAddr,
    extra_proxy: &str,
    pipeline: &str,
) -> (tempfile::TempDir, Running) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), &proxy_config(server, extra_proxy, pipeline));
    let mut cmd = ctiproxy();
    cmd.arg("run").arg("-c").arg(&config);
    (dir, Running::start(cmd))
}
