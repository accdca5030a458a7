//! The `/metrics` endpoint of the real binary: scraped over HTTP during a session and after it,
//! read with a real exposition parser (types included), with the MI plugin's rules in dry-run,
//! TLS handshakes on the legacy TLS listener, and its errors (an address in use, an invalid one
//! at `check`).
#[path = "support/tls.rs"]
mod peers;
mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use prometheus_parse::{Scrape, Value};
use support::{ctiproxy, proxy_config, write_config, Running};

const METRICS: &str = "\n[metrics]\nlisten = \"127.0.0.1:0\"\n";

/// Starts `ctiproxy run` with `[metrics]` on an ephemeral port; returns the proxy and the
/// endpoint's address, as logged.
fn start(
    server: SocketAddr,
    extra_proxy: &str,
    pipeline: &str,
) -> (tempfile::TempDir, Running, SocketAddr) {
    let dir = tempfile::tempdir().unwrap();
    let text = proxy_config(server, &format!("loop = true\n{extra_proxy}"), pipeline) + METRICS;
    let config = write_config(dir.path(), &text);
    let mut cmd = ctiproxy();
    cmd.arg("run").arg("-c").arg(&config);
    let proxy = Running::start(cmd);
    let stderr = proxy.stderr();
    let logged = stderr.lines().find_map(|l| l.split("Metrics on http://").nth(1));
    let addr = logged.and_then(|rest| rest.strip_suffix("/metrics.")).expect(&stderr);
    (dir, proxy, addr.parse().unwrap())
}

/// One HTTP/1.1 request: the status, the head (lower case) and the body.
fn http(addr: SocketAddr, method: &str, path: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(stream, "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect(&response);
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect(head);
    (status, head.to_ascii_lowercase(), body.to_owned())
}

fn scrape(addr: SocketAddr) -> (Scrape, String) {
    let (status, head, body) = http(addr, "GET", "/metrics");
    assert_eq!(status, 200, "{head}\n{body}");
    assert!(head.contains("content-type: text/plain; version=0.0.4"), "{head}");
    let scrape = Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).expect("exposition parses");
    (scrape, body)
}

fn find<'s>(scrape: &'s Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<&'s Value> {
    let sample = scrape.samples.iter().find(|s| {
        s.metric == metric
            && s.labels.len() == labels.len()
            && labels.iter().all(|(k, v)| s.labels.get(k) == Some(v))
    });
    sample.map(|s| &s.value)
}

/// A counter's value (it must be typed as a counter); 0 when the series is absent.
fn counter(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    match find(scrape, metric, labels) {
        Some(Value::Counter(v)) => *v,
        Some(other) => panic!("{metric} {labels:?} is not a counter: {other:?}"),
        None => 0.0,
    }
}

/// A gauge's value (it must exist and be typed as a gauge).
fn gauge(scrape: &Scrape, metric: &str) -> f64 {
    match find(scrape, metric, &[]) {
        Some(Value::Gauge(v)) => *v,
        other => panic!("{metric} is not a gauge: {other:?}"),
    }
}

/// Scrapes until `ok` holds (analysis and counting run alongside the wire), or fails showing
/// the last exposition.
fn eventually(addr: SocketAddr, what: &str, ok: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (scrape, text) = scrape(addr);
        if ok(&scrape) {
            return scrape;
        }
        assert!(Instant::now() < deadline, "never true: {what}\n{text}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn c2s(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    [&[("direction", "client_to_server")], extra].concat()
}

fn s2c(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    [&[("direction", "server_to_client")], extra].concat()
}

#[test]
fn a_session_is_counted_while_it_runs_and_after_it_ends() {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let pipeline = "[[pipeline]]\nplugin = \"panic-message\"\n\n[[pipeline]]\nplugin = \"stats\"\n";
    let (_dir, proxy, metrics) =
        start(server.local_addr().unwrap(), "max_line_bytes = 1024", pipeline);
    let mut client = TcpStream::connect(proxy.addr()).unwrap();
    let (mut upstream, _) = server.accept().unwrap();

    let request = b"{\"class\":\"login_id\",\"userlogin\":\"alice\"}\n{\"class\":\"getlist\"}\n";
    client.write_all(request).unwrap();
    upstream.read_exact(&mut vec![0; request.len()]).unwrap();
    let big = format!("{{\"class\":\"big\",\"pad\":\"{}\"}}\n", "x".repeat(2000));
    let answer = format!("{{\"timenow\":1.5,\"class\":\"getlist\"}}\nnot json\n{big}");
    upstream.write_all(answer.as_bytes()).unwrap();
    client.read_exact(&mut vec![0; answer.len()]).unwrap();

    let during = eventually(metrics, "the session's traffic and classes are counted", |s| {
        counter(s, "ctiproxy_class_messages_total", &s2c(&[("class", "none")])) == 2.0
            && counter(s, "ctiproxy_forwarded_bytes_total", &s2c(&[])) == answer.len() as f64
    });
    let count = |metric, labels: &[(&str, &str)]| counter(&during, metric, labels);
    assert_eq!(gauge(&during, "ctiproxy_sessions_open"), 1.0);
    assert_eq!(count("ctiproxy_sessions_total", &[]), 1.0);
    assert_eq!(count("ctiproxy_forwarded_bytes_total", &c2s(&[])), request.len() as f64);
    assert_eq!(count("ctiproxy_messages_total", &c2s(&[])), 2.0);
    assert_eq!(count("ctiproxy_messages_total", &s2c(&[])), 3.0);
    assert_eq!(count("ctiproxy_oversize_lines_total", &s2c(&[])), 1.0);
    assert_eq!(count("ctiproxy_oversize_lines_total", &c2s(&[])), 0.0);
    for (labels, n) in [
        (c2s(&[("class", "login_id")]), 1.0),
        (c2s(&[("class", "getlist")]), 1.0),
        (s2c(&[("class", "getlist")]), 1.0),
        (s2c(&[("class", "big")]), 0.0), // oversize: not indexed, so no class
        (s2c(&[("class", "none")]), 2.0),
        (s2c(&[("class", "login_id")]), 0.0),
    ] {
        assert_eq!(count("ctiproxy_class_messages_total", &labels), n, "{labels:?}");
    }
    assert_eq!(count("ctiproxy_plugin_panics_total", &[("plugin", "panic-message")]), 1.0);
    assert_eq!(count("ctiproxy_plugin_errors_total", &[("plugin", "stats")]), 0.0);
    assert!(find(&during, "ctiproxy_plugin_errors_total", &[("plugin", "stats")]).is_some());
    assert_eq!(count("ctiproxy_dropped_messages_total", &[]), 0.0);
    assert_eq!(gauge(&during, "ctiproxy_queue_limit_events"), 8192.0);
    assert!(gauge(&during, "ctiproxy_queue_events") >= 0.0);
    assert!(gauge(&during, "ctiproxy_queue_bytes") >= 0.0);
    for side in ["client", "server"] {
        for outcome in ["ok", "failed", "timeout"] {
            let labels = [("side", side), ("outcome", outcome)];
            assert!(
                find(&during, "ctiproxy_tls_handshakes_total", &labels).is_some(),
                "{labels:?}"
            );
        }
    }

    let (status, head, _) = http(metrics, "POST", "/metrics");
    assert_eq!(status, 405);
    assert!(head.contains("allow: get, head"), "{head}");
    assert_eq!(http(metrics, "GET", "/").0, 404);

    client.shutdown(Shutdown::Write).unwrap();
    upstream.read_to_end(&mut Vec::new()).unwrap();
    drop(upstream);
    client.read_to_end(&mut Vec::new()).unwrap();
    let after =
        eventually(metrics, "the session is ended", |s| gauge(s, "ctiproxy_sessions_open") == 0.0);
    let ended = |reason| counter(&after, "ctiproxy_sessions_ended_total", &[("reason", reason)]);
    assert_eq!(ended("client_closed"), 1.0);
    for reason in ["server_closed", "failed", "shutdown", "idle", "refused", "server_unreachable"] {
        assert_eq!(ended(reason), 0.0, "{reason}");
    }
    assert_eq!(counter(&after, "ctiproxy_sessions_total", &[]), 1.0);
    assert_eq!(counter(&after, "ctiproxy_messages_total", &c2s(&[])), 2.0);

    proxy.signal("TERM");
    let done = proxy.finish();
    assert!(done.status.success(), "{}", done.stderr);
}

#[test]
fn the_mi_rules_in_dry_run_are_counted_by_rule_and_outcome() {
    let steps = support::session_steps();
    let (server_addr, server) = support::start_server(steps.clone()).unwrap();
    let (_dir, proxy, metrics) = start(server_addr, "", ctiproxy::demo::example_mi_entry());
    support::start_client(proxy.addr(), steps).join().unwrap().expect("client side");
    server.join().unwrap().expect("server side");

    let fired = |s: &Scrape| {
        s.samples
            .iter()
            .filter(|x| x.metric == "ctiproxy_mi_commands_total")
            .filter(|x| x.labels.get("outcome") == Some("fired"))
            .map(|x| match x.value {
                Value::Counter(v) => v,
                _ => panic!("not a counter: {x:?}"),
            })
            .sum::<f64>()
    };
    let printed = || proxy.stdout().matches("mi dry-run: rule").count() as f64;
    let after = eventually(metrics, "every printed dry-run command is counted as fired", |s| {
        let fired = fired(s);
        fired > 0.0 && fired == printed() && gauge(s, "ctiproxy_sessions_open") == 0.0
    });
    let rule = |rule, outcome| {
        let labels = [("plugin", "mi"), ("rule", rule), ("outcome", outcome)];
        counter(&after, "ctiproxy_mi_commands_total", &labels)
    };
    assert!(rule("mwi-lamp", "fired") > 0.0, "{:?}", after.samples);
    assert!(rule("mwi-lamp", "matched") >= rule("mwi-lamp", "fired"));
    assert_eq!(rule("mwi-lamp", "failed"), 0.0);
    assert!(
        !after
            .samples
            .iter()
            .any(|s| s.metric == "ctiproxy_plugin_counter_total"
                && s.labels.get("plugin") == Some("mi")),
        "MI rule counters are exposed once, as ctiproxy_mi_commands_total"
    );
    proxy.signal("TERM");
    assert!(proxy.finish().status.success());
}

#[test]
fn a_client_beyond_max_sessions_is_counted_as_refused() {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let (_dir, proxy, metrics) = start(server.local_addr().unwrap(), "max_sessions = 1", "");
    let _first = TcpStream::connect(proxy.addr()).unwrap();
    let _upstream = server.accept().unwrap();
    eventually(metrics, "one session open", |s| gauge(s, "ctiproxy_sessions_open") == 1.0);
    let mut second = TcpStream::connect(proxy.addr()).unwrap();
    assert_eq!(second.read(&mut [0; 16]).unwrap_or(0), 0, "closed at once");
    let after = eventually(metrics, "the second client is refused", |s| {
        counter(s, "ctiproxy_sessions_ended_total", &[("reason", "refused")]) == 1.0
    });
    assert_eq!(counter(&after, "ctiproxy_sessions_total", &[]), 2.0);
    assert_eq!(gauge(&after, "ctiproxy_sessions_open"), 1.0);
}

#[test]
fn a_metrics_address_in_use_is_a_clear_error_and_a_bad_one_fails_the_check() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = proxy_config(addr, "", "") + &format!("\n[metrics]\nlisten = \"{addr}\"\n");
    let config = write_config(dir.path(), &text);
    let out = ctiproxy().arg("run").arg("-c").arg(&config).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("cannot serve metrics on {addr}: ")), "{stderr}");
    assert!(stderr.to_lowercase().contains("in use"), "{stderr}");

    let config = write_config(dir.path(), "[metrics]\nlisten = \"localhost\"\n");
    let out = ctiproxy().arg("check").arg("-c").arg(&config).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let expected =
        format!("{}:2:10: metrics.listen: \"localhost\" is not an ip:port", config.display());
    assert!(stderr.contains(&expected), "{stderr}");
}

/// One session through a `tls = "always"` proxy: the server completes its handshake when the
/// proxy's does; the client either does too, or sends `garbage` instead of a ClientHello.
fn tls_session(proxy: SocketAddr, server: &TcpListener, garbage: Option<&[u8]>) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let server = tokio::net::TcpListener::from_std(server.try_clone().unwrap()).unwrap();
        let upstream = async {
            let (tcp, _) = server.accept().await.unwrap();
            if let Ok(mut stream) = peers::Identity::new().acceptor().accept(tcp).await {
                let _ = tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut Vec::new()).await;
            }
        };
        let client = async {
            let mut tcp = tokio::net::TcpStream::connect(proxy).await.unwrap();
            match garbage {
                Some(bytes) => {
                    tokio::io::AsyncWriteExt::write_all(&mut tcp, bytes).await.unwrap();
                    let _ = tokio::io::AsyncReadExt::read_to_end(&mut tcp, &mut Vec::new()).await;
                }
                None => {
                    let connector = peers::trusting_anything();
                    let mut stream = connector.connect(peers::localhost(), tcp).await.unwrap();
                    tokio::io::AsyncWriteExt::shutdown(&mut stream).await.unwrap();
                    let _ =
                        tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut Vec::new()).await;
                }
            }
        };
        tokio::join!(upstream, client)
    });
}

#[test]
fn tls_handshakes_are_counted_by_leg_and_outcome() {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    server.set_nonblocking(true).unwrap();
    let (_dir, proxy, metrics) = start(server.local_addr().unwrap(), "tls = \"always\"", "");
    let handshakes = |s: &Scrape, side, outcome| {
        counter(s, "ctiproxy_tls_handshakes_total", &[("side", side), ("outcome", outcome)])
    };
    tls_session(proxy.addr(), &server, None);
    eventually(metrics, "both legs' handshakes completed", |s| {
        handshakes(s, "client", "ok") == 1.0 && handshakes(s, "server", "ok") == 1.0
    });
    tls_session(proxy.addr(), &server, Some(b"GET / HTTP/1.0\r\n\r\n"));
    let after = eventually(metrics, "the client's handshake failed", |s| {
        handshakes(s, "client", "failed") == 1.0 && gauge(s, "ctiproxy_sessions_open") == 0.0
    });
    assert_eq!(handshakes(&after, "client", "ok"), 1.0);
    assert_eq!(handshakes(&after, "client", "timeout"), 0.0);
    let ended = |reason| counter(&after, "ctiproxy_sessions_ended_total", &[("reason", reason)]);
    assert_eq!(ended("client_closed"), 1.0, "the session whose handshakes completed");
    assert_eq!(ended("failed"), 1.0, "the session whose client handshake failed");
}
