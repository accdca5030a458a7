//! Hostile traffic through the real proxy: a 20 MB line with no newline, invalid UTF-8, lines
//! that are not JSON. All forwarded unchanged; the analysis copes; nothing crashes.
mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;

use support::{ctiproxy, proxy_config, write_config, Running};

#[test]
fn huge_line_invalid_utf8_and_non_json_are_forwarded_unchanged() {
    let mut from_client = b"not json at all\n\xff\xfe{\"class\": broken\n".to_vec();
    from_client.extend(std::iter::repeat_n(b'x', 20 * 1024 * 1024));
    let from_server = b"{\"class\":\"ok\"}\nplain text from the server\n".to_vec();

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server_addr = listener.local_addr().unwrap();
    let server_sends = from_server.clone();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.write_all(&server_sends).unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
        let mut received = Vec::new();
        stream.read_to_end(&mut received).unwrap();
        received
    });
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &proxy_config(server_addr, "", "[[pipeline]]\nplugin = \"spy\"\n"),
    );
    let proxy = Running::start({
        let mut cmd = ctiproxy();
        cmd.arg("run").arg("-c").arg(&config);
        cmd
    });
    let mut client = TcpStream::connect(proxy.addr()).unwrap();
    let mut reader = client.try_clone().unwrap();
    let receiver = thread::spawn(move || {
        let mut received = Vec::new();
        reader.read_to_end(&mut received).unwrap();
        received
    });
    client.write_all(&from_client).unwrap();
    client.shutdown(Shutdown::Write).unwrap();

    assert!(receiver.join().unwrap() == from_server, "server bytes reach the client unchanged");
    assert!(
        server.join().unwrap() == from_client,
        "client bytes (20 MB tail included) reach the server unchanged"
    );
    let done = proxy.finish();
    assert!(done.status.success(), "{}", done.stderr);
    let out = done.stdout;
    assert!(out.contains("Client > Server\nnot json at all\n"), "{out}");
    assert!(
        out.contains("\u{fffd}\u{fffd}{\"class\": broken"),
        "invalid UTF-8 printed as it came: {out:.300}"
    );
    assert!(out.contains("[oversize line: 20971520 bytes, not decoded] xxx"), "oversize reported");
    assert!(out.contains("Server > Client\nplain text from the server\n"), "{out:.500}");
    assert!(out.contains("Server > Client\n{\"class\": \"ok\"}\n"), "{out:.500}");
}
