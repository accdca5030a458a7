//! Analysis throughput benchmark (issue 9): how fast the real release binaries get a stream of
//! CTI messages *analysed*, not merely forwarded, for every built-in pipeline, against socat (a
//! forwarding-only reference, when installed) and a direct loopback transfer measured in the
//! same run.
//!
//! `cargo bench -p ctiproxy --bench throughput [-- WORD...]` (release build; with words, only
//! the pipelines whose name holds one, beside the baselines). Reports, never asserts timings:
//! shared machines make timed tests flaky. The issue's targets are printed beside the figures.
//!
//! Everything is on loopback: a stub CTI server (this process) streams to a client (this
//! process) through the process under test, which loads the freshly built plugins.
//! - **msg/s**: from the server's first byte to the process's exit after the client closed, so
//!   every message has been analysed and printed (stdout to /dev/null). Timing the last byte
//!   forwarded instead would report a stream that fits in the queue at forwarding speed while
//!   the spy is still printing. Two corpora: the server messages of the demo session cycled,
//!   each with its own `timenow` (so no two lines are alike), and 300-byte synthetic messages.
//! - **ping-pong p50/p99**: the client sends one small line, the server echoes it, one at a time;
//!   of `REPEATS` runs, the one with the lowest p99, for every subject alike. A p99 of 2,000
//!   round trips is their 20th worst, which one hiccup of a shared machine moves by half (the
//!   same subject measured 0.62x and 1.64x socat's an hour apart); the rates are best-of too.
//! - The runs go in rounds, each running every subject once: the speed of a shared machine
//!   drifts by half within minutes (ctisave 833k and 1,338k msg/s an hour apart, socat with
//!   it), and three runs in a row would put one subject's best in a slow stretch.
//! - **peak RSS**: the process's VmHWM, polled while it runs: with the one connection of the
//!   realistic run, and with 8 concurrent connections (`--loop`) streaming an eighth each.
//! - **against the build before** (`CTIPROXY_BENCH_BEFORE=DIR`, the release directory of
//!   another checkout, e.g. the commit before issue 9): each classic command of that build is
//!   measured right after this build's, on the realistic corpus, in the same rounds, and a
//!   second table sets this build's speedup beside the one issue 9 asks (its target over the
//!   rate it measured before its work). Issue 9's absolute targets were measured on its
//!   machine; this ratio holds on any.

#[path = "common/corpus.rs"]
mod corpus;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Server messages in the realistic corpus (234 MB). More would not change the rates, which the
/// analysis sets: forwarding runs ahead until the queue is full. But the classic commands give
/// the analysis 5 s after the stream to finish (`shutdown_timeout_secs`, fixed for them), and
/// on a loaded 2-core machine `ctispy -s -i` analyses about 40 k messages a second.
const REALISTIC_MESSAGES: usize = 1_000_000;
/// Messages in the synthetic corpus (45 MB), and their size with the newline.
const SYNTHETIC_MESSAGES: usize = 150_000;
const SYNTHETIC_BYTES: usize = 300;
/// Runs of each throughput measurement; the best rate is kept, the one the machine's other
/// load disturbed least.
const REPEATS: usize = 3;
/// Ping-pong round trips measured, after some unmeasured ones (page faults, lazy setup).
const ROUND_TRIPS: usize = 2_000;
const WARMUP: usize = 100;
/// Concurrent connections of the second RSS measurement.
const CONNECTIONS: usize = 8;
/// Longest wait for a process before the bench gives up (a broken setup, not a slow machine).
const PATIENCE: Duration = Duration::from_secs(120);

/// What the proxy says when the shutdown timeout cuts the analysis off.
const CUT_OFF: &str = "the pipeline did not finish within";

/// The line each ping-pong round trip sends and gets back: a CTI status update that every
/// pipeline analyses (the `--include` filter keeps it).
const PING: &str = "{\"class\":\"getlist\",\"function\":\"updatestatus\",\"listname\":\"phones\",\"tipbxid\":\"xivo\",\"tid\":\"8\",\"status\":{\"hintstatus\":\"0\"},\"timenow\":1550844512.21}\n";

// ---------------------------------------------------------------------------------------------
// The corpora.

struct Corpus {
    data: Arc<[u8]>,
    messages: usize,
}

impl Corpus {
    fn megabytes(&self) -> f64 {
        self.data.len() as f64 / 1e6
    }
}

/// `count` server messages of the demo session, cycled, with increasing full-precision
/// `timenow`s as a live server sends them.
fn realistic(count: usize) -> Corpus {
    let mut data = Vec::new();
    for line in corpus::realistic_lines(count) {
        data.extend_from_slice(line.as_bytes());
        data.push(b'\n');
    }
    Corpus { data: data.into(), messages: count }
}

/// `count` JSON lines of `SYNTHETIC_BYTES` bytes each.
fn synthetic(count: usize) -> Corpus {
    let mut data = Vec::with_capacity(count * SYNTHETIC_BYTES);
    for n in 0..count {
        let head = format!("{{\"class\":\"getlist\",\"function\":\"updatestatus\",\"listname\":\"phones\",\"tid\":\"{n}\",\"status\":{{\"hintstatus\":\"0\"}},\"pad\":\"");
        data.extend_from_slice(head.as_bytes());
        data.extend(std::iter::repeat_n(b'x', SYNTHETIC_BYTES - head.len() - 3));
        data.extend_from_slice(b"\"}\n");
    }
    Corpus { data: data.into(), messages: count }
}

// ---------------------------------------------------------------------------------------------
// The processes under test.

/// How a pipeline's process is started.
enum Program {
    /// `ctiproxy run` with a configuration holding no `[[pipeline]]`; with `[metrics]` (what
    /// the live counters cost), or not.
    EmptyRun { metrics: bool },
    /// A classic command and its options after `HOST`.
    Classic(PathBuf, &'static [&'static str]),
    /// `socat` relaying one connection.
    Socat,
}

/// What shows that a run analysed every message.
enum Check {
    /// Nothing printed to count: the process's successful exit and the client's bytes.
    Exit,
    /// ctistat's count of the messages sent by the server.
    StatCount,
    /// ctisave's server file, one pretty-printed object per message.
    SavedObjects,
}

/// A pipeline measured, and what issue 9 expects of it.
struct Subject {
    name: &'static str,
    program: Program,
    check: Check,
    /// Issue 9's targets besides the rate: latency, memory.
    target: &'static str,
    /// The issue's figures for its realistic rate, for the classic commands.
    issue: Option<IssueRates>,
}

impl Subject {
    /// All of issue 9's targets for it, the rate first.
    fn targets(&self) -> String {
        match self.issue {
            Some(issue) => format!("≥ {} msg/s, {}", kilo(issue.target), self.target),
            None => self.target.to_owned(),
        }
    }
}

/// A rate issue 9 measured before its work and the rate it asks for, in msg/s, on the issue's
/// machine. Their ratio is the speedup it asks for, which holds on any machine: the build
/// before the issue, measured in the same run (`CTIPROXY_BENCH_BEFORE`), stands for "today".
#[derive(Clone, Copy)]
struct IssueRates {
    today: f64,
    target: f64,
}

impl Program {
    fn command(&self, server: SocketAddr, keep_serving: bool, dir: &Path) -> Command {
        match self {
            Program::EmptyRun { metrics } => {
                let config = dir.join("config.toml");
                let mut text = format!(
                    "[proxy]\nlisten = \"127.0.0.1:0\"\nserver = \"{server}\"\nloop = {keep_serving}\n"
                );
                if *metrics {
                    text.push_str("[metrics]\nlisten = \"127.0.0.1:0\"\n");
                }
                std::fs::write(&config, text).expect("write the config");
                let mut command = Command::new(env!("CARGO_BIN_EXE_ctiproxy"));
                command.arg("run").arg("-c").arg(config);
                command
            }
            Program::Classic(exe, options) => {
                let port = server.port().to_string();
                let mut command = Command::new(exe);
                command.args(["127.0.0.1", "--port", &port, "--listen-addr", "127.0.0.1"]);
                command.args(["--listen-port", "0"]).args(*options);
                if keep_serving {
                    command.arg("--loop");
                }
                command
            }
            Program::Socat => {
                assert!(!keep_serving, "socat forks a process per connection: nothing to compare");
                let mut command = Command::new("socat");
                command.args(["-d", "-d", "TCP-LISTEN:0,bind=127.0.0.1,reuseaddr"]);
                command.arg(format!("TCP:{server}"));
                command
            }
        }
    }
}

/// A directory of links to the plugin libraries this bench build made (the freshest of
/// `target/release/deps` and `target/release`), for `CTIPROXY_PLUGIN_PATH`: a stale library
/// beside the binary must not be what is measured.
fn plugin_dir() -> tempfile::TempDir {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_ctiproxy"));
    let target = exe.parent().expect("the binary has a directory");
    let dir = tempfile::tempdir().expect("temp dir");
    for plugin in ["spy", "filter", "stats", "save"] {
        let name = format!(
            "{}ctiproxy_{plugin}{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        );
        let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let library = [target.join("deps").join(&name), target.join(&name)]
            .into_iter()
            .filter(|p| p.exists())
            .max_by_key(|p| modified(p))
            .unwrap_or_else(|| {
                panic!("{name} not found in {}/deps or beside it", target.display())
            });
        std::os::unix::fs::symlink(&library, dir.path().join(&name)).expect("link the plugin");
    }
    dir
}

/// A running process under test, killed when dropped; its stderr is collected, its peak RSS
/// watched.
struct Proxy {
    child: Child,
    addr: SocketAddr,
    stderr: Arc<Mutex<Vec<u8>>>,
    peak_rss: Option<JoinHandle<u64>>,
    dir: tempfile::TempDir,
}

impl Proxy {
    /// Starts `subject` in front of `server` and waits until it listens. Its working directory
    /// is a fresh temp dir (ctisave's files land there).
    fn start(subject: &Subject, server: SocketAddr, keep_serving: bool, plugins: &Path) -> Proxy {
        let dir = tempfile::tempdir().expect("temp dir");
        let stdout = match subject.check {
            Check::StatCount => std::fs::File::create(dir.path().join("stdout")).unwrap().into(),
            _ => Stdio::null(),
        };
        let mut child = subject
            .program
            .command(server, keep_serving, dir.path())
            .current_dir(dir.path())
            .env("CTIPROXY_PLUGIN_PATH", plugins)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", subject.name));
        let stderr = collect(child.stderr.take().unwrap());
        let pid = child.id();
        let peak_rss = Some(thread::spawn(move || watch_peak_rss(pid)));
        let addr = listening_addr(&mut child, &stderr);
        Proxy { child, addr, stderr, peak_rss, dir }
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Waits for the exit; returns when it was seen, or `None` when the analysis was cut off
    /// by the shutdown timeout. Panics on any other failure.
    fn wait_exit(&mut self) -> Option<Instant> {
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for the process") {
                break status;
            }
            assert!(Instant::now() < deadline, "the process did not exit:\n{}", self.stderr());
            // Short: the exit instant ends the measured time.
            thread::sleep(Duration::from_micros(500));
        };
        let exited = Instant::now();
        if status.success() {
            return Some(exited);
        }
        let stderr = self.stderr();
        assert!(stderr.contains(CUT_OFF), "the process exited with {status}:\n{stderr}");
        None
    }

    /// Asks a `--loop` process to finish (SIGINT) and waits for its exit.
    fn stop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").arg("-INT").arg(&pid).status();
        self.wait_exit();
    }

    /// The highest VmHWM seen, in KiB; after the exit.
    fn peak_rss_kib(&mut self) -> u64 {
        self.peak_rss.take().expect("asked once").join().expect("the RSS watcher")
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Collects a pipe's bytes in the background.
fn collect(mut pipe: impl Read + Send + 'static) -> Arc<Mutex<Vec<u8>>> {
    let collected: Arc<Mutex<Vec<u8>>> = Arc::default();
    let into = collected.clone();
    thread::spawn(move || {
        let mut buffer = [0u8; 8192];
        while let Ok(n @ 1..) = pipe.read(&mut buffer) {
            into.lock().unwrap().extend_from_slice(&buffer[..n]);
        }
    });
    collected
}

/// The address the process says it listens on: ctiproxy's `Listening on ADDR.`, socat's
/// `listening on AF=2 ADDR`.
fn listening_addr(child: &mut Child, stderr: &Mutex<Vec<u8>>) -> SocketAddr {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let text = String::from_utf8_lossy(&stderr.lock().unwrap()).into_owned();
        let line = text.lines().find(|l| l.contains("istening on "));
        if let Some(addr) = line.and_then(|l| l.split_whitespace().last()) {
            return addr.trim_end_matches('.').parse().expect("the listening address");
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("exited with {status} before listening:\n{text}");
        }
        assert!(Instant::now() < deadline, "never listened:\n{text}");
        thread::sleep(Duration::from_millis(5));
    }
}

/// Polls `/proc/PID/status` until the process is gone; returns the highest VmHWM (KiB). The
/// high-water mark only grows, so the last reading before the exit is the peak.
fn watch_peak_rss(pid: u32) -> u64 {
    let path = format!("/proc/{pid}/status");
    let mut peak = 0;
    // A zombie has no VmHWM line: the process has exited.
    while let Some(kib) = std::fs::read_to_string(&path).ok().as_deref().and_then(vm_hwm) {
        peak = peak.max(kib);
        thread::sleep(Duration::from_millis(2));
    }
    peak
}

fn vm_hwm(status: &str) -> Option<u64> {
    let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
    line.trim().trim_end_matches("kB").trim().parse().ok()
}

// ---------------------------------------------------------------------------------------------
// The traffic.

fn stub_server() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the stub server");
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// Streams `corpus` from the stub server to a client connected to `to`, over `connections`
/// concurrent sessions; returns when the first byte went and when the last byte arrived.
fn stream(
    corpus: &Corpus,
    server: TcpListener,
    to: SocketAddr,
    connections: usize,
) -> (Instant, Instant) {
    let data = corpus.data.clone();
    let sending = thread::spawn(move || {
        let senders: Vec<_> = (0..connections)
            .map(|_| {
                let (stream, _) = server.accept().expect("the stub server accepts");
                let data = data.clone();
                thread::spawn(move || send(stream, &data))
            })
            .collect();
        senders.into_iter().map(|s| s.join().unwrap()).min().unwrap()
    });
    let readers: Vec<_> = (0..connections).map(|_| thread::spawn(move || receive(to))).collect();
    let arrivals: Vec<(usize, Instant)> = readers.into_iter().map(|r| r.join().unwrap()).collect();
    let first_sent = sending.join().unwrap();
    for (received, _) in &arrivals {
        assert_eq!(*received, corpus.data.len(), "the client got every byte");
    }
    (first_sent, arrivals.iter().map(|(_, at)| *at).max().unwrap())
}

/// Writes `data` and closes; returns when the first byte went.
fn send(mut stream: TcpStream, data: &[u8]) -> Instant {
    let start = Instant::now();
    for chunk in data.chunks(64 * 1024) {
        stream.write_all(chunk).expect("the stub server writes");
    }
    start
}

/// Reads from `addr` to the end, then closes; returns the byte count and when the end came.
fn receive(addr: SocketAddr) -> (usize, Instant) {
    let mut stream = TcpStream::connect(addr).expect("the client connects");
    let mut buffer = vec![0u8; 256 * 1024];
    let mut total = 0;
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return (total, Instant::now()),
            Ok(n) => total += n,
        }
    }
}

/// `WARMUP + ROUND_TRIPS` round trips of `PING` from a client connected to `to`, echoed by the
/// stub server; returns the measured ones, sorted.
fn ping_pong(server: TcpListener, to: SocketAddr) -> Vec<Duration> {
    let echo = thread::spawn(move || {
        let (stream, _) = server.accept().expect("the stub server accepts");
        stream.set_nodelay(true).unwrap();
        echo_lines(stream);
    });
    let client = TcpStream::connect(to).expect("the client connects");
    client.set_nodelay(true).unwrap();
    let mut replies = BufReader::new(client.try_clone().unwrap());
    let mut line = String::new();
    let mut samples = Vec::with_capacity(ROUND_TRIPS);
    for n in 0..WARMUP + ROUND_TRIPS {
        let sent = Instant::now();
        (&client).write_all(PING.as_bytes()).expect("the client writes");
        line.clear();
        replies.read_line(&mut line).expect("the client reads");
        if n >= WARMUP {
            samples.push(sent.elapsed());
        }
        assert_eq!(line, PING, "the echo came back whole");
    }
    drop((client, replies));
    echo.join().unwrap();
    samples.sort();
    samples
}

fn echo_lines(stream: TcpStream) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
        writer.write_all(line.as_bytes()).expect("the stub server echoes");
        line.clear();
    }
}

// ---------------------------------------------------------------------------------------------
// The measurements.

/// Messages per second of `corpus` through the process (or straight, for `None`), until the
/// analysis is done (`None`: cut off); and the process's peak RSS (KiB).
fn throughput(
    subject: Option<&Subject>,
    corpus: &Corpus,
    plugins: &Path,
) -> (Option<f64>, Option<u64>) {
    let (server, server_addr) = stub_server();
    let rate = |from: Instant, to: Instant| corpus.messages as f64 / (to - from).as_secs_f64();
    let Some(subject) = subject else {
        let (first_sent, last_arrived) = stream(corpus, server, server_addr, 1);
        return (Some(rate(first_sent, last_arrived)), None);
    };
    let mut proxy = Proxy::start(subject, server_addr, false, plugins);
    let (first_sent, _) = stream(corpus, server, proxy.addr, 1);
    let done = proxy.wait_exit();
    if done.is_some() {
        verify(subject, &proxy, corpus.messages);
    }
    (done.map(|done| rate(first_sent, done)), Some(proxy.peak_rss_kib()))
}

/// Panics unless the run's output accounts for every message.
fn verify(subject: &Subject, proxy: &Proxy, messages: usize) {
    let counted = match subject.check {
        Check::Exit => return,
        Check::StatCount => server_count(&read(&proxy.dir.path().join("stdout"))),
        Check::SavedObjects => {
            read(&proxy.dir.path().join("s.txt")).lines().filter(|l| *l == "}").count()
        }
    };
    assert_eq!(counted, messages, "{} analysed every message:\n{}", subject.name, proxy.stderr());
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The sum of the `class count` lines under ctistat's `=== Messages sent by server`.
fn server_count(report: &str) -> usize {
    let section = report.split("=== Messages sent by server\n").nth(1).expect("ctistat's messages");
    section
        .lines()
        .take_while(|l| !l.starts_with("==="))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<usize>().ok())
        .sum()
}

/// Ping-pong round trips through the process (or straight, for `None`), sorted.
fn latencies(subject: Option<&Subject>, plugins: &Path) -> Vec<Duration> {
    let (server, server_addr) = stub_server();
    let Some(subject) = subject else { return ping_pong(server, server_addr) };
    let mut proxy = Proxy::start(subject, server_addr, false, plugins);
    let samples = ping_pong(server, proxy.addr);
    proxy.wait_exit();
    samples
}

/// Peak RSS (KiB) of one `--loop` process serving `CONNECTIONS` sessions at once, each
/// streaming `corpus`.
fn concurrent_rss(subject: &Subject, corpus: &Corpus, plugins: &Path) -> u64 {
    let (server, server_addr) = stub_server();
    let mut proxy = Proxy::start(subject, server_addr, true, plugins);
    stream(corpus, server, proxy.addr, CONNECTIONS);
    proxy.stop();
    proxy.peak_rss_kib()
}

struct Corpora {
    realistic: Corpus,
    synthetic: Corpus,
    /// What each of the concurrent connections streams.
    eighth: Corpus,
}

/// One line of the table.
struct Row {
    name: &'static str,
    /// Messages per second; `None` when the analysis was cut off.
    realistic: Option<f64>,
    synthetic: Option<f64>,
    /// Sorted round trips.
    latency: Vec<Duration>,
    rss_kib: Option<u64>,
    concurrent_rss_kib: Option<u64>,
    target: String,
}

/// One run of each measurement of a subject (or of the direct baseline, for `None`).
struct Run {
    realistic: Option<f64>,
    rss_kib: Option<u64>,
    synthetic: Option<f64>,
    latency: Vec<Duration>,
}

fn run(subject: Option<&Subject>, corpora: &Corpora, plugins: &Path) -> Run {
    let (realistic, rss_kib) = throughput(subject, &corpora.realistic, plugins);
    let (synthetic, _) = throughput(subject, &corpora.synthetic, plugins);
    Run { realistic, rss_kib, synthetic, latency: latencies(subject, plugins) }
}

/// The higher of two rates; `None` (cut off) only when both are.
fn best(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(f64::max(a, b)),
        (a, b) => a.or(b),
    }
}

/// A subject's line from its runs: the best rates, the ping-pong with the lowest p99, the
/// highest peak RSS.
fn row(
    name: &'static str,
    subject: Option<&Subject>,
    runs: Vec<Run>,
    corpora: &Corpora,
    plugins: &Path,
) -> Row {
    let realistic = runs.iter().fold(None, |b, run| best(b, run.realistic));
    let synthetic = runs.iter().fold(None, |b, run| best(b, run.synthetic));
    let rss_kib = runs.iter().map(|run| run.rss_kib).max().flatten();
    let latency = runs
        .into_iter()
        .map(|run| run.latency)
        .min_by_key(|latency| quantile(latency, 0.99))
        .expect("REPEATS runs");
    let concurrent_rss_kib = subject
        .filter(|s| !matches!(s.program, Program::Socat))
        .map(|s| concurrent_rss(s, &corpora.eighth, plugins));
    let target = subject.map_or(String::new(), Subject::targets);
    Row { name, realistic, synthetic, latency, rss_kib, concurrent_rss_kib, target }
}

/// Every measurement of every subject, in `REPEATS` rounds that each run every subject once:
/// a slow minute of a shared machine then costs every subject one run, instead of all the runs
/// of the one measured then. With `before` (another build's release directory), each classic
/// command's twin from that build is measured right after it: its best realistic rate.
fn measure_all(
    subjects: &[(&'static str, Option<&Subject>)],
    corpora: &Corpora,
    plugins: &Path,
    before: Option<&Path>,
) -> (Vec<Row>, Vec<Option<f64>>) {
    let mut runs: Vec<Vec<Run>> = subjects.iter().map(|_| Vec::new()).collect();
    let mut before_rates: Vec<Option<f64>> = subjects.iter().map(|_| None).collect();
    for round in 1..=REPEATS {
        for (i, (name, subject)) in subjects.iter().enumerate() {
            eprintln!("round {round} of {REPEATS}: {name}");
            runs[i].push(run(*subject, corpora, plugins));
            let dir_and_twin = before.zip(*subject).and_then(|(dir, s)| Some((dir, twin(s, dir)?)));
            if let Some((dir, twin)) = dir_and_twin {
                eprintln!("round {round} of {REPEATS}: {name}, the build before");
                let (rate, _) = throughput(Some(&twin), &corpora.realistic, dir);
                before_rates[i] = best(before_rates[i], rate);
            }
        }
    }
    let rows = subjects
        .iter()
        .zip(runs)
        .map(|((name, subject), runs)| row(name, *subject, runs, corpora, plugins))
        .collect();
    (rows, before_rates)
}

/// A classic command as the build in `dir` runs it: its binary and plugins, its successful exit
/// the only check (an older build may lay its output out otherwise). `None` for the others.
fn twin(subject: &Subject, dir: &Path) -> Option<Subject> {
    let Program::Classic(exe, options) = &subject.program else { return None };
    let program = Program::Classic(dir.join(exe.file_name()?), options);
    let issue = Some(subject.issue?);
    Some(Subject { name: subject.name, program, check: Check::Exit, target: "", issue })
}

/// `CTIPROXY_BENCH_BEFORE`: the release directory of another build (the classic commands and
/// their plugin libraries), to measure beside this one. Checked before anything is measured.
fn before_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("CTIPROXY_BENCH_BEFORE")?);
    // cargo runs a bench in its package's directory, not where it was called from.
    assert!(
        dir.is_absolute(),
        "CTIPROXY_BENCH_BEFORE: give an absolute path (cargo bench runs in core/): {}",
        dir.display()
    );
    for exe in ["ctispy", "ctistat", "ctisave"] {
        let path = dir.join(exe);
        assert!(path.is_file(), "CTIPROXY_BENCH_BEFORE: {} is not there", path.display());
    }
    Some(dir)
}

const SOCAT: &str = "socat (forwarding only)";
const RSS_TARGET: &str = "RSS < 30 MiB at 8";

fn classic(
    name: &'static str,
    exe: &'static str,
    options: &'static [&'static str],
    check: Check,
    (target, issue): (&'static str, IssueRates),
) -> Subject {
    let program = Program::Classic(exe.into(), options);
    Subject { name, program, check, target, issue: Some(issue) }
}

/// Issue 9's targets for a classic command: its rate before and the rate asked, msg/s, and
/// the others.
fn goal(today: f64, asked: f64, others: &'static str) -> (&'static str, IssueRates) {
    (others, IssueRates { today, target: asked })
}

fn socat_installed() -> bool {
    Command::new("socat").arg("-V").stdout(Stdio::null()).status().is_ok()
}

/// The pipelines measured, with issue 9's targets.
fn subjects(socat: bool) -> Vec<Subject> {
    let spy = env!("CARGO_BIN_EXE_ctispy");
    let reference = Subject {
        name: SOCAT,
        program: Program::Socat,
        check: Check::Exit,
        target: "",
        issue: None,
    };
    socat
        .then_some(reference)
        .into_iter()
        .chain([
            Subject {
                name: "ctiproxy run, empty pipeline",
                program: Program::EmptyRun { metrics: false },
                check: Check::Exit,
                target: RSS_TARGET,
                issue: None,
            },
            Subject {
                name: "ctiproxy run, empty, [metrics]",
                program: Program::EmptyRun { metrics: true },
                check: Check::Exit,
                target: "as without [metrics]",
                issue: None,
            },
            classic(
                "ctispy",
                spy,
                &[],
                Check::Exit,
                goal(320e3, 1_000e3, "p99 ≤ 1.5× socat, RSS < 30 MiB at 8"),
            ),
            classic(
                "ctispy -s timenow -i class=getlist",
                spy,
                &["--strip", "timenow", "--include", "class=getlist"],
                Check::Exit,
                goal(120e3, 1_000e3, RSS_TARGET),
            ),
            classic(
                "ctistat",
                env!("CARGO_BIN_EXE_ctistat"),
                &[],
                Check::StatCount,
                goal(422e3, 2_000e3, RSS_TARGET),
            ),
            classic(
                "ctisave c.txt s.txt",
                env!("CARGO_BIN_EXE_ctisave"),
                &["c.txt", "s.txt"],
                Check::SavedObjects,
                goal(306e3, 1_000e3, RSS_TARGET),
            ),
        ])
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The report.

/// The `q` quantile (0.5, 0.99) of sorted durations.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// `1,234,567`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let groups: Vec<&str> =
        digits.as_bytes().rchunks(3).rev().map(|g| std::str::from_utf8(g).unwrap()).collect();
    groups.join(",")
}

/// Thousands of messages per second: `1,234k`.
fn kilo(rate: f64) -> String {
    thousands((rate / 1e3).round() as usize) + "k"
}

fn show(d: Duration) -> String {
    let micros = d.as_secs_f64() * 1e6;
    if micros < 1_000.0 {
        format!("{micros:.0} µs")
    } else {
        format!("{:.2} ms", micros / 1_000.0)
    }
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("-".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

/// `value / reference`, when both were measured.
fn ratio(value: Option<f64>, reference: Option<f64>) -> String {
    match (value, reference) {
        // Three decimals below 0.1, so that 0.004× is not shown as nothing at all.
        (Some(value), Some(reference)) if value < 0.1 * reference => {
            format!("{:.3}×", value / reference)
        }
        (Some(value), Some(reference)) => format!("{:.2}×", value / reference),
        _ => "-".into(),
    }
}

/// Column widths; the first column is left-aligned, the last (target) unpadded.
const WIDTHS: [usize; 14] = [36, 9, 7, 7, 9, 7, 7, 7, 7, 7, 7, 9, 9, 0];
/// The columns that start a group, set apart by a wider gap.
const GROUPS: [usize; 5] = [1, 4, 7, 11, 13];

fn print_line(cells: &[String]) {
    let mut line = String::new();
    for (n, (cell, width)) in cells.iter().zip(WIDTHS).enumerate() {
        let gap = if GROUPS.contains(&n) { "   " } else { " " };
        match n {
            0 => line += &format!("{cell:<width$}"),
            13 => line += &format!("{gap}{cell}"),
            _ => line += &format!("{gap}{cell:>width$}"),
        }
    }
    println!("{}", line.trim_end());
}

/// The group titles above the column headers, centred over their columns.
fn print_groups(titles: [&str; 4]) {
    let mut line = " ".repeat(WIDTHS[0]);
    for (title, columns) in titles.iter().zip(GROUPS.windows(2)) {
        let span: usize = WIDTHS[columns[0]..columns[1]].iter().map(|w| w + 1).sum::<usize>() - 1;
        line += &format!("   {title:^span$}");
    }
    println!("{}", line.trim_end());
}

fn cells(row: &Row, socat: Option<&Row>, direct: &Row) -> Vec<String> {
    let p99 = |r: &Row| Some(quantile(&r.latency, 0.99).as_secs_f64());
    let rates: [fn(&Row) -> Option<f64>; 2] = [|r| r.realistic, |r| r.synthetic];
    let mut cells = vec![row.name.to_owned()];
    for rate in rates {
        cells.push(rate(row).map_or("cut off".into(), kilo));
        cells.push(ratio(rate(row), socat.and_then(rate)));
        cells.push(ratio(rate(row), rate(direct)));
    }
    cells.push(show(quantile(&row.latency, 0.5)));
    cells.push(show(quantile(&row.latency, 0.99)));
    cells.push(ratio(p99(row), socat.and_then(p99)));
    cells.push(ratio(p99(row), p99(direct)));
    cells.extend([mib(row.rss_kib), mib(row.concurrent_rss_kib), row.target.clone()]);
    cells
}

fn print_table(rows: &[Row]) {
    let direct = &rows[0];
    let socat = rows.iter().find(|r| r.name == SOCAT);
    print_groups(["realistic msg/s", "synthetic msg/s", "ping-pong", "peak RSS"]);
    let header = [
        "pipeline", "rate", "×socat", "×direct", "rate", "×socat", "×direct", "p50", "p99",
        "×socat", "×direct", "1 conn", "8 conns", "target",
    ];
    print_line(&header.map(String::from));
    for row in rows {
        print_line(&cells(row, socat, direct));
    }
}

/// The realistic rates of this build over the build before's, against the speedup issue 9 asks
/// for (its target over its "today", both measured on the issue's machine).
fn print_against_before(
    rows: &[Row],
    subjects: &[(&'static str, Option<&Subject>)],
    before: &[Option<f64>],
    dir: &Path,
) {
    println!();
    println!("Against the build before (CTIPROXY_BENCH_BEFORE={}),", dir.display());
    println!("  realistic msg/s, best of the same {REPEATS} rounds; issue 9 asks: its target over its \"today\"");
    println!();
    let widths = [36, 9, 9, 9, 9];
    let header = ["pipeline", "before", "now", "speedup", "asked", ""];
    let line = |cells: [String; 6]| {
        let mut text = format!("{:<w$}", cells[0], w = widths[0]);
        for (cell, width) in cells[1..5].iter().zip(&widths[1..]) {
            text += &format!(" {cell:>width$}");
        }
        println!("{}", format!("{text}   {}", cells[5]).trim_end());
    };
    line(header.map(String::from));
    for ((row, (_, subject)), before) in rows.iter().zip(subjects).zip(before) {
        let Some(issue) = subject.and_then(|s| s.issue) else { continue };
        let asked = issue.target / issue.today;
        let speedup = row.realistic.zip(*before).map(|(now, before)| now / before);
        let verdict = match speedup {
            Some(speedup) if speedup >= asked => "met",
            Some(_) => "not met",
            None => "cut off",
        };
        line([
            row.name.to_owned(),
            before.map_or("cut off".into(), kilo),
            row.realistic.map_or("cut off".into(), kilo),
            speedup.map_or("-".into(), |s| format!("{s:.2}×")),
            format!("{asked:.2}×"),
            format!("{verdict} ({} → {})", kilo(issue.today), kilo(issue.target)),
        ]);
    }
}

fn print_legend(corpora: &Corpora, socat: bool) {
    let Corpora { realistic, synthetic, eighth } = corpora;
    println!("ctiproxy analysis throughput (issue 9): the release binaries on loopback, stdout to /dev/null");
    println!(
        "  realistic: {} server messages of the demo session, cycled, each with its own timenow ({:.0} MB)",
        thousands(realistic.messages),
        realistic.megabytes()
    );
    println!(
        "  synthetic: {} messages of {SYNTHETIC_BYTES} bytes ({:.0} MB)",
        thousands(synthetic.messages),
        synthetic.megabytes()
    );
    println!("  msg/s: the server's first byte → the process's exit after the client closed (analysis done),\n    best of {REPEATS} rounds that each run every pipeline once; direct: → the client's last byte");
    println!(
        "  ping-pong: {} round trips of a {}-byte line, client → server → client, after {WARMUP} unmeasured;\n    of {REPEATS} runs, the one with the lowest p99",
        thousands(ROUND_TRIPS),
        PING.len()
    );
    println!(
        "  peak RSS: the process's VmHWM, with the realistic run's one connection / {CONNECTIONS} concurrent connections of {} messages each",
        thousands(eighth.messages)
    );
    println!("  ×socat, ×direct: rate or p99 over socat's / the direct baseline's, same run; targets are issue 9's, for the realistic corpus");
    println!("  cut off: the analysis was still running 5 s after the stream ended, so the process gave up (shutdown_timeout_secs)");
    if !socat {
        println!("  socat: not installed");
    }
    println!();
}

fn main() {
    let before = before_dir();
    let plugins = plugin_dir();
    let corpora = Corpora {
        realistic: realistic(REALISTIC_MESSAGES),
        synthetic: synthetic(SYNTHETIC_MESSAGES),
        eighth: realistic(REALISTIC_MESSAGES / CONNECTIONS),
    };
    let socat = socat_installed();
    // `-- NAME...`: only the pipelines whose name holds one of these words; the baselines
    // (direct, socat) are always measured, for the ratios.
    let wanted: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let subjects: Vec<Subject> = subjects(socat)
        .into_iter()
        .filter(|subject| {
            matches!(subject.program, Program::Socat)
                || wanted.is_empty()
                || wanted.iter().any(|word| subject.name.contains(word.as_str()))
        })
        .collect();
    let mut measured = vec![("direct loopback (no proxy)", None)];
    measured.extend(subjects.iter().map(|s| (s.name, Some(s))));
    let (rows, before_rates) = measure_all(&measured, &corpora, plugins.path(), before.as_deref());
    print_legend(&corpora, socat);
    print_table(&rows);
    if let Some(dir) = before {
        print_against_before(&rows, &measured, &before_rates, &dir);
    }
}
