//! Throughput benchmark: forwarding through the proxy against a direct loopback transfer
//! measured in the same run, and the full spy pipeline's message rate.
//!
//! `cargo bench -p ctiproxy --bench throughput` (release build). Reports ratios, never asserts:
//! timing targets belong here, not in tests, because shared machines make timed tests flaky.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use ctiproxy::budget::QueueLimits;
use ctiproxy::config::{Config, Overflow, ProxyConfig};
use ctiproxy::event::Event;
use ctiproxy::host::ProxyHost;
use ctiproxy::loader::Registry;
use ctiproxy::pipeline::Pipeline;
use ctiproxy::proxy;
use ctiproxy::session::SessionContext;
use ctiproxy_plugin_api::Direction;

const MESSAGE_BYTES: usize = 300;

/// `count` JSON lines of about 300 bytes each.
fn messages(count: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(count * MESSAGE_BYTES);
    for n in 0..count {
        let head = format!("{{\"class\":\"getlist\",\"function\":\"updatestatus\",\"listname\":\"phones\",\"tid\":\"{n}\",\"status\":{{\"hintstatus\":\"0\"}},\"pad\":\"");
        out.extend_from_slice(head.as_bytes());
        out.extend(std::iter::repeat_n(b'x', MESSAGE_BYTES - head.len() - 3));
        out.extend_from_slice(b"\"}\n");
    }
    out
}

/// A queue as the default config has it, in block mode.
fn limits() -> QueueLimits {
    QueueLimits { overflow: Overflow::Block, ..QueueLimits::of(&ProxyConfig::default()) }
}

/// A sink server: accepts one connection, reads to EOF, returns the byte count.
fn sink_server() -> (SocketAddr, thread::JoinHandle<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = 0;
        loop {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return total,
                Ok(n) => total += n,
            }
        }
    });
    (addr, handle)
}

/// Sends `data` to `addr` and waits until the far end has read it all.
fn transfer(addr: SocketAddr, data: &[u8], server: thread::JoinHandle<usize>) -> Duration {
    let start = Instant::now();
    let mut stream = TcpStream::connect(addr).unwrap();
    for chunk in data.chunks(64 * 1024) {
        stream.write_all(chunk).unwrap();
    }
    stream.shutdown(Shutdown::Write).unwrap();
    let received = server.join().unwrap();
    assert_eq!(received, data.len());
    start.elapsed()
}

fn plugin_registry() -> Registry {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap().to_path_buf();
    Registry::scan(vec![deps.clone(), deps.parent().unwrap().to_path_buf()])
}

fn pipeline(registry: &Registry, text: &str) -> Pipeline {
    let config = Config::parse("<bench>", text).unwrap();
    let host = Arc::new(ProxyHost::with_sink(Box::new(std::io::sink()), false));
    Pipeline::build(&config, registry, host).unwrap_or_else(|e| panic!("{e:?}"))
}

/// Sends `data` through an in-process proxy with `pipeline_text`, to a sink server.
fn through_proxy(registry: &Registry, pipeline_text: &str, data: &[u8]) -> Duration {
    let (server_addr, server) = sink_server();
    let (handle, running) = pipeline(registry, pipeline_text).spawn(limits()).unwrap();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let proxy_addr = listener.local_addr().unwrap();
    let ctx = SessionContext::new(&ProxyConfig::default(), server_addr.to_string(), handle);
    let proxy = runtime.spawn(proxy::run(listener, ctx, false, std::future::pending()));
    let start = Instant::now();
    transfer(proxy_addr, data, server);
    runtime.block_on(proxy).unwrap();
    let report = running.join();
    let elapsed = start.elapsed();
    assert_eq!(report.messages as usize, data.len() / MESSAGE_BYTES);
    elapsed
}

/// Feeds `count` messages straight to the pipeline thread (no sockets).
fn pipeline_only(registry: &Registry, pipeline_text: &str, count: usize) -> Duration {
    let data = bytes::Bytes::from(messages(count));
    let (handle, running) = pipeline(registry, pipeline_text).spawn(limits()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let start = Instant::now();
    runtime.block_on(async {
        for n in 0..count {
            let line = data.slice(n * MESSAGE_BYTES..(n + 1) * MESSAGE_BYTES - 1);
            handle.send_messages(Event::line(1, Direction::ServerToClient, 0, line)).await;
        }
    });
    drop(handle);
    running.join();
    start.elapsed()
}

fn rate(amount: usize, took: Duration) -> f64 {
    amount as f64 / took.as_secs_f64()
}

fn main() {
    let registry = plugin_registry();
    let count = 400_000;
    let data = messages(count);
    let mb = data.len() as f64 / 1e6;
    println!("ctiproxy throughput, {count} messages of {MESSAGE_BYTES} bytes ({mb:.0} MB)\n");

    let (addr, server) = sink_server();
    let direct = transfer(addr, &data, server);
    println!("direct loopback (baseline)     {:>10.0} MB/s", mb / direct.as_secs_f64());

    for (name, text) in [
        ("proxy, empty pipeline", ""),
        ("proxy, spy pipeline", "[[pipeline]]\nplugin = \"spy\"\n"),
        ("proxy, ctispy -s -i pipeline", "[[pipeline]]\nplugin = \"strip\"\nfields = [\"pad\"]\n[[pipeline]]\nplugin = \"include\"\nmatch = [\"class=getlist\"]\n[[pipeline]]\nplugin = \"spy\"\n"),
    ] {
        let took = through_proxy(&registry, text, &data);
        println!(
            "{name:<30} {:>10.0} MB/s  {:>10.0} msg/s  {:.2}x the baseline's time",
            mb / took.as_secs_f64(),
            rate(count, took),
            took.as_secs_f64() / direct.as_secs_f64()
        );
    }
    println!();
    for (name, text) in [
        ("pipeline only, empty", ""),
        ("pipeline only, spy", "[[pipeline]]\nplugin = \"spy\"\n"),
        ("pipeline only, stats", "[[pipeline]]\nplugin = \"stats\"\n"),
    ] {
        let took = pipeline_only(&registry, text, count);
        println!("{name:<30} {:>10.0} msg/s", rate(count, took));
    }
}
