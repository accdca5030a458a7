//! TLS through the real binaries, with real TLS on both legs (tokio-rustls peers written here,
//! certificates from rcgen): STARTTLS intercepted byte for byte before the switch and byte-exact
//! after it under random chunking, the pipeline seeing the plaintext; a declined offer; a failed
//! handshake on each side and a server that never answers one; the legacy TLS listener; STARTTLS
//! with `tls = "off"`; `check` on bad files; `ctispy --tls`.
#[path = "support/tls.rs"]
mod peers;
mod support;

use std::net::SocketAddr;
use std::path::Path;

use peers::{Identity, ACCEPT, CONFIRM, DECLINE, OFFER};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::Value;
use support::{payload, Finished};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn seeded() -> u64 {
    let seed = rand::random();
    eprintln!("seed {seed}");
    seed
}

/// A save plugin writing a JSON-lines capture.
fn capture_pipeline(capture: &Path) -> String {
    format!(
        "[[pipeline]]\nplugin = \"save\"\nformat = \"jsonl\"\nfile = {:?}\n",
        capture.display().to_string()
    )
}

fn records(capture: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(capture).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// (direction, line, tls) of each message record.
fn messages(records: &[Value]) -> Vec<(String, String, bool)> {
    records
        .iter()
        .filter(|r| r.get("dir").is_some())
        .map(|r| {
            let tls = r.get("tls") == Some(&Value::Bool(true));
            (r["dir"].as_str().unwrap().to_owned(), r["line"].as_str().unwrap().to_owned(), tls)
        })
        .collect()
}

fn lines(direction: &str, data: &[u8], tls: bool) -> Vec<(String, String, bool)> {
    let text = String::from_utf8(data.to_vec()).unwrap();
    text.lines().map(|l| (direction.to_owned(), l.to_owned(), tls)).collect()
}

fn quoted(path: &Path) -> String {
    format!("{:?}", path.display().to_string())
}

/// What the scripted CTI server saw: the client's answer to its offer and, after that, what it
/// received (decrypted when the session switched).
struct ServerSaw {
    answer: Vec<u8>,
    received: Vec<u8>,
}

/// Offers STARTTLS; on acceptance confirms and accepts TLS on the same socket; then exchanges
/// `payload` both ways.
async fn starttls_server(
    listener: TcpListener,
    tls: TlsAcceptor,
    payload: Vec<u8>,
    seed: u64,
) -> ServerSaw {
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut tcp, _) = listener.accept().await.unwrap();
    peers::write_chunked(&mut tcp, OFFER, &mut rng).await;
    let answer = peers::read_line(&mut tcp).await;
    let received = if answer == ACCEPT {
        peers::write_chunked(&mut tcp, CONFIRM, &mut rng).await;
        let stream = tls.accept(tcp).await.unwrap();
        peers::exchange(stream, &payload, &mut rng).await
    } else {
        peers::exchange(tcp, &payload, &mut rng).await
    };
    ServerSaw { answer, received }
}

/// What the scripted CTI client saw.
struct ClientSaw {
    offer: Vec<u8>,
    confirmation: Vec<u8>,
    received: Vec<u8>,
}

/// Answers the offer with `answer`; after an acceptance reads the confirmation and starts TLS;
/// then exchanges `payload` both ways.
async fn starttls_client(
    proxy: SocketAddr,
    tls: TlsConnector,
    answer: &[u8],
    payload: Vec<u8>,
    seed: u64,
) -> ClientSaw {
    let mut rng = StdRng::seed_from_u64(seed + 1);
    let mut tcp = TcpStream::connect(proxy).await.unwrap();
    let offer = peers::read_line(&mut tcp).await;
    peers::write_chunked(&mut tcp, answer, &mut rng).await;
    if answer != ACCEPT {
        let received = peers::exchange(tcp, &payload, &mut rng).await;
        return ClientSaw { offer, confirmation: Vec::new(), received };
    }
    let confirmation = peers::read_line(&mut tcp).await;
    let stream = tls.connect(peers::localhost(), tcp).await.unwrap();
    let received = peers::exchange(stream, &payload, &mut rng).await;
    ClientSaw { offer, confirmation, received }
}

/// Runs one STARTTLS session through `ctiproxy run` with `[proxy]` lines `extra`.
fn starttls_session(
    extra: &str,
    server_tls: TlsAcceptor,
    client_tls: TlsConnector,
    answer: &'static [u8],
    capture: &Path,
) -> (ServerSaw, ClientSaw, Vec<u8>, Vec<u8>, Finished) {
    let seed = seeded();
    let rt = runtime();
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let server_addr = listener.local_addr().unwrap();
    let (_config, proxy) = support::start_proxy(server_addr, extra, &capture_pipeline(capture));
    let mut rng = StdRng::seed_from_u64(seed);
    let from_server = payload(&mut rng, 1, "server", 80);
    let from_client = payload(&mut rng, 1, "client", 80);
    let (server, client) = rt.block_on(async {
        tokio::join!(
            starttls_server(listener, server_tls, from_server.clone(), seed),
            starttls_client(proxy.addr(), client_tls, answer, from_client.clone(), seed)
        )
    });
    let done = proxy.finish();
    assert!(done.status.success(), "{}", done.stderr);
    (server, client, from_client, from_server, done)
}

#[test]
fn starttls_is_intercepted_byte_exact_both_ways_and_the_pipeline_sees_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let (proxy_id, server_id) = (Identity::new(), Identity::new());
    let (cert, key) = proxy_id.write(dir.path(), "proxy");
    let (server_cert, _) = server_id.write(dir.path(), "server");
    let capture = dir.path().join("capture.jsonl");
    let extra = format!(
        "tls = \"intercept\"\ntls_cert = {}\ntls_key = {}\ntls_server_ca = {}\n",
        quoted(&cert),
        quoted(&key),
        quoted(&server_cert)
    );
    let (server, client, from_client, from_server, done) =
        starttls_session(&extra, server_id.acceptor(), proxy_id.trusted_by(), ACCEPT, &capture);
    assert_eq!(client.offer, OFFER, "the offer is relayed byte for byte");
    assert_eq!(server.answer, ACCEPT, "the answer is relayed byte for byte");
    assert_eq!(client.confirmation, CONFIRM, "the confirmation is relayed byte for byte");
    assert!(server.received == from_client, "client → server bytes differ after the switch");
    assert!(client.received == from_server, "server → client bytes differ after the switch");
    let mut expected = lines("server", OFFER, false);
    expected.extend(lines("client", ACCEPT, false));
    expected.extend(lines("server", CONFIRM, false));
    let seen = messages(&records(&capture));
    assert_eq!(seen[..3], expected[..], "the negotiation is analysed, in plain text");
    let (to_server, to_client): (Vec<_>, Vec<_>) =
        seen[3..].iter().cloned().partition(|m| m.0 == "client");
    assert_eq!(to_server, lines("client", &from_client, true), "decrypted, in order, flagged tls");
    assert_eq!(to_client, lines("server", &from_server, true), "decrypted, in order, flagged tls");
    assert!(done.stderr.contains("STARTTLS accepted"), "{}", done.stderr);
    assert!(!done.stderr.contains("not verified"), "tls_server_ca verifies: {}", done.stderr);
}

#[test]
fn a_declined_offer_goes_on_in_plain_text() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("capture.jsonl");
    let id = Identity::new();
    let (server, client, from_client, from_server, done) =
        starttls_session("tls = \"intercept\"", id.acceptor(), id.trusted_by(), DECLINE, &capture);
    assert_eq!(server.answer, DECLINE);
    assert!(server.received == from_client && client.received == from_server, "byte-exact");
    let mut expected = lines("server", OFFER, false);
    expected.extend(lines("client", DECLINE, false));
    let seen = messages(&records(&capture));
    assert_eq!(seen[..2], expected[..]);
    let (to_server, to_client): (Vec<_>, Vec<_>) =
        seen[2..].iter().cloned().partition(|m| m.0 == "client");
    assert_eq!(to_server, lines("client", &from_client, false), "analysed, not flagged tls");
    assert_eq!(to_client, lines("server", &from_server, false), "analysed, not flagged tls");
    assert!(done.stderr.contains("did not accept STARTTLS"), "{}", done.stderr);
}

#[test]
fn with_tls_off_a_switch_is_said_once_and_the_rest_is_forwarded_unanalysed() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("capture.jsonl");
    // The client and the server do TLS with each other, through the proxy.
    let id = Identity::new();
    let (server, client, from_client, from_server, done) =
        starttls_session("", id.acceptor(), id.trusted_by(), ACCEPT, &capture);
    assert!(server.received == from_client && client.received == from_server, "byte-exact");
    let mut expected = lines("server", OFFER, false);
    expected.extend(lines("client", ACCEPT, false));
    expected.extend(lines("server", CONFIRM, false));
    assert_eq!(messages(&records(&capture)), expected, "nothing after the switch is analysed");
    let warning = "switched to TLS (STARTTLS): the rest of it is encrypted";
    assert_eq!(done.stderr.matches(warning).count(), 1, "{}", done.stderr);
}

/// A STARTTLS session whose handshake goes wrong; returns the proxy's stderr and the
/// session's end reason.
fn failed_handshake(
    extra: &str,
    server: impl std::future::Future<Output = ()> + Send + 'static,
    client_after_confirmation: &'static [u8],
    server_addr: SocketAddr,
    rt: &tokio::runtime::Runtime,
) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("capture.jsonl");
    let (_config, proxy) = support::start_proxy(server_addr, extra, &capture_pipeline(&capture));
    let server = rt.spawn(server);
    let addr = proxy.addr();
    rt.block_on(async move {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        assert_eq!(peers::read_line(&mut tcp).await, OFFER);
        tokio::io::AsyncWriteExt::write_all(&mut tcp, ACCEPT).await.unwrap();
        assert_eq!(peers::read_line(&mut tcp).await, CONFIRM);
        if client_after_confirmation.is_empty() {
            let _ = peers::trusting_anything().connect(peers::localhost(), tcp).await;
        } else {
            tokio::io::AsyncWriteExt::write_all(&mut tcp, client_after_confirmation).await.unwrap();
            let _ = tcp.read_to_end(&mut Vec::new()).await;
        }
    });
    rt.block_on(server).unwrap();
    let done = proxy.finish();
    assert!(done.status.success(), "{}", done.stderr);
    let records = records(&capture);
    let end = records.iter().find(|r| r["event"] == "end").expect("session end");
    let reason = end["reason"].as_str().unwrap().to_owned();
    eprintln!("end reason: {reason}");
    (done.stderr, reason)
}

/// A server that offers, confirms, then hands the socket to `then`.
async fn confirming_server<F, Fut>(listener: TcpListener, then: F)
where
    F: FnOnce(TcpStream) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let (mut tcp, _) = listener.accept().await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut tcp, OFFER).await.unwrap();
    assert_eq!(peers::read_line(&mut tcp).await, ACCEPT);
    tokio::io::AsyncWriteExt::write_all(&mut tcp, CONFIRM).await.unwrap();
    then(tcp).await;
}

/// The server side completes its handshake or sees it abandoned; either way it reads to the end.
async fn tls_server_to_the_end(tcp: TcpStream, tls: TlsAcceptor) {
    if let Ok(mut stream) = tls.accept(tcp).await {
        let _ = stream.read_to_end(&mut Vec::new()).await;
    }
}

fn listener(rt: &tokio::runtime::Runtime) -> (TcpListener, SocketAddr) {
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

#[test]
fn a_client_that_speaks_garbage_after_accepting_fails_the_client_handshake() {
    let rt = runtime();
    let (listener, addr) = listener(&rt);
    let id = Identity::new();
    let server = confirming_server(listener, move |tcp| tls_server_to_the_end(tcp, id.acceptor()));
    let (stderr, reason) =
        failed_handshake("tls = \"intercept\"", server, b"GET / HTTP/1.0\r\n\r\n", addr, &rt);
    assert!(reason.starts_with("TLS handshake with the client failed: "), "{reason}");
    assert!(stderr.contains("TLS handshake with the client failed"), "{stderr}");
}

#[test]
fn a_server_certificate_outside_tls_server_ca_fails_the_server_handshake() {
    let rt = runtime();
    let (listener, addr) = listener(&rt);
    let dir = tempfile::tempdir().unwrap();
    let (other_ca, _) = Identity::new().write(dir.path(), "other");
    let id = Identity::new();
    let server = confirming_server(listener, move |tcp| tls_server_to_the_end(tcp, id.acceptor()));
    let extra = format!("tls = \"intercept\"\ntls_server_ca = {}", quoted(&other_ca));
    let (stderr, reason) = failed_handshake(&extra, server, b"", addr, &rt);
    assert!(reason.starts_with("TLS handshake with the server failed: "), "{reason}");
    assert!(reason.contains("invalid peer certificate"), "{reason}");
    assert!(stderr.contains("TLS handshake with the server failed"), "{stderr}");
}

#[test]
fn a_server_that_never_answers_the_handshake_times_out() {
    let rt = runtime();
    let (listener, addr) = listener(&rt);
    // Reads the proxy's ClientHello and never answers, until the proxy gives up.
    let server = confirming_server(listener, |mut tcp| async move {
        let _ = tcp.read_to_end(&mut Vec::new()).await;
    });
    let extra = "tls = \"intercept\"\ntls_handshake_timeout_secs = 0.5";
    let (stderr, reason) = failed_handshake(extra, server, b"", addr, &rt);
    assert!(reason.starts_with("TLS handshake with the server timed out"), "{reason}");
    assert!(stderr.contains("TLS handshake with the server timed out"), "{stderr}");
}

#[test]
fn the_legacy_tls_listener_decrypts_from_the_first_byte_with_a_self_signed_certificate() {
    let seed = seeded();
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("capture.jsonl");
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let (_config, proxy) = support::start_proxy(
        listener.local_addr().unwrap(),
        "tls = \"always\"",
        &capture_pipeline(&capture),
    );
    let mut rng = StdRng::seed_from_u64(seed);
    let from_server = payload(&mut rng, 1, "server", 60);
    let from_client = payload(&mut rng, 1, "client", 60);
    let id = Identity::new();
    let addr = proxy.addr();
    let (server_received, (client_received, shown)) = rt.block_on(async {
        let server = async {
            let (tcp, _) = listener.accept().await.unwrap();
            let stream = id.acceptor().accept(tcp).await.unwrap();
            peers::exchange(stream, &from_server, &mut StdRng::seed_from_u64(seed + 2)).await
        };
        let client = async {
            let tcp = TcpStream::connect(addr).await.unwrap();
            let stream = peers::trusting_anything().connect(peers::localhost(), tcp).await.unwrap();
            let shown = peers::fingerprint(&stream.get_ref().1.peer_certificates().unwrap()[0]);
            (
                peers::exchange(stream, &from_client, &mut StdRng::seed_from_u64(seed + 3)).await,
                shown,
            )
        };
        tokio::join!(server, client)
    });
    let done = proxy.finish();
    assert!(done.status.success(), "{}", done.stderr);
    assert!(server_received == from_client && client_received == from_server, "byte-exact");
    assert!(
        done.stderr.contains(&format!(
            "self-signed certificate generated at start, SHA-256 fingerprint {shown}"
        )),
        "the fingerprint logged is the certificate the client was shown:\n{}",
        done.stderr
    );
    assert!(done.stderr.contains("certificate is not verified"), "{}", done.stderr);
    let records = records(&capture);
    assert_eq!(records[0]["event"], "start");
    assert_eq!(records[0]["tls"], true, "the session start says TLS");
    let seen = messages(&records);
    assert_eq!(seen.len(), 2 * 61);
    assert!(seen.iter().all(|m| m.2), "every message is flagged tls");
}

fn check(dir: &Path, proxy: &str) -> Finished {
    let config = support::write_config(dir, &format!("[proxy]\n{proxy}\n"));
    let out = support::ctiproxy().arg("check").arg("-c").arg(&config).output().unwrap();
    Finished {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn check_names_the_key_and_the_file_of_a_bad_certificate_key_or_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = Identity::new().write(dir.path(), "good");
    let (_, other_key) = Identity::new().write(dir.path(), "other");
    std::fs::write(dir.path().join("garbage.crt"), "not a certificate\n").unwrap();
    let ok =
        check(dir.path(), "tls = \"intercept\"\ntls_cert = \"good.crt\"\ntls_key = \"good.key\"");
    assert!(ok.status.success(), "relative to the config file: {}", ok.stderr);
    let cases = [
        (
            "tls = \"always\"\ntls_cert = \"garbage.crt\"\ntls_key = \"good.key\"",
            "proxy.tls_cert: ",
            "garbage.crt: no certificate in it",
        ),
        (
            "tls = \"always\"\ntls_cert = \"good.crt\"\ntls_key = \"other.key\"",
            "proxy.tls_key: ",
            "other.key: not the private key of the certificate in",
        ),
        (
            "tls = \"intercept\"\ntls_cert = \"good.crt\"\ntls_key = \"good.crt\"",
            "proxy.tls_key: ",
            "good.crt: no private key in it",
        ),
        (
            "tls = \"intercept\"\ntls_server_ca = \"missing.pem\"",
            "proxy.tls_server_ca: ",
            "cannot read",
        ),
    ];
    for (proxy, key, why) in cases {
        let done = check(dir.path(), proxy);
        assert_eq!(done.status.code(), Some(1), "{proxy}: {}", done.stderr);
        assert!(
            done.stderr.contains(key) && done.stderr.contains(why),
            "{proxy}:\n{}",
            done.stderr
        );
        assert!(!done.stdout.contains("OK"), "{}", done.stdout);
    }
    let _ = (cert, key, other_key);
}

#[test]
fn ctispy_tls_shows_the_decrypted_messages() {
    let seed = seeded();
    let rt = runtime();
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let mut cmd = support::command(env!("CARGO_BIN_EXE_ctispy"));
    cmd.args(["127.0.0.1", "--port", &port, "--listen-addr", "127.0.0.1", "--listen-port", "0"]);
    cmd.args(["--tls", "-v"]);
    let spy = support::Running::start(cmd);
    let secret = b"{\"class\":\"login_pass\",\"password\":\"s3cret\"}\n".to_vec();
    let id = Identity::new();
    let addr = spy.addr();
    let (server, _) = rt.block_on(async {
        tokio::join!(
            starttls_server(listener, id.acceptor(), Vec::new(), seed),
            starttls_client(addr, peers::trusting_anything(), ACCEPT, secret.clone(), seed)
        )
    });
    assert_eq!(server.received, secret);
    let done = spy.finish();
    assert!(done.status.success(), "{}", done.stderr);
    // Decrypted, then masked like any password: the wire (checked above) kept it.
    assert!(done.stdout.contains("\"password\": \"***\""), "{}", done.stdout);
    assert!(!done.stdout.contains("s3cret"), "{}", done.stdout);
    assert!(done.stdout.contains("\"class\": \"starttls\""), "{}", done.stdout);
}
