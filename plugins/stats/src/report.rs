//! A report: the figures of one session or of the totals, as text for people, as one line of
//! JSON for programs, or in the classic `ctistat` layout ([`classic`]). All are rendered from the
//! same [`Report`] so they always agree.

mod classic;

use std::fmt::Write;

use serde::Serialize;

use crate::config::Show;
use crate::figures::{Figures, C2S, S2C};
use crate::latency::LatencyRow;

/// What the classic tools added per TCP read to estimate wire bytes: Ethernet (14), IPv4 (20)
/// and TCP (16) headers.
pub const HEADER_BYTES_PER_READ: u64 = 50;

/// Which reports this is: one session, or the totals.
#[derive(Debug, Clone)]
pub enum Scope<'a> {
    /// One session that ended.
    Session {
        /// Its id.
        id: u64,
        /// The client's address.
        client: &'a str,
        /// The server's address.
        server: &'a str,
        /// Why it ended.
        reason: &'a str,
    },
    /// Every session of this run.
    Total {
        /// How many.
        sessions: u64,
    },
}

/// One report, with stable JSON keys (documented in README.md).
#[derive(Debug, Serialize)]
pub struct Report<'a> {
    report: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    session: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sessions: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    start_us: i64,
    end_us: i64,
    duration_s: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    messages: Option<Messages>,
    #[serde(skip_serializing_if = "Option::is_none")]
    network: Option<Network>,
    #[serde(skip_serializing_if = "Option::is_none")]
    messages_per_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    latency: Option<Vec<LatencyRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    oversize: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dropped: Option<u64>,
}

#[derive(Debug, Serialize)]
struct Messages {
    client: u64,
    server: u64,
    classes: Vec<ClassRow>,
}

#[derive(Debug, Serialize)]
struct ClassRow {
    class: String,
    client: u64,
    server: u64,
}

#[derive(Debug, Serialize)]
struct Network {
    client: Traffic,
    server: Traffic,
}

/// One direction's traffic; `client` is what the client sent.
#[derive(Debug, Serialize)]
struct Traffic {
    bytes: u64,
    packets: u64,
    wire_bytes: u64,
    bytes_per_s: f64,
    packets_per_s: f64,
}

impl<'a> Report<'a> {
    /// Builds the report of `figures` with the sections `show` asks for.
    pub fn new(scope: Scope<'a>, figures: &Figures, show: Show) -> Self {
        let (start_us, end_us) = figures.span.unwrap_or((0, 0));
        let seconds = figures.duration_us() as f64 / 1e6;
        let mut report = Report {
            report: "session",
            session: None,
            sessions: None,
            client: None,
            server: None,
            reason: None,
            start_us,
            end_us,
            duration_s: seconds,
            messages: show.messages().then(|| messages(figures)),
            network: show.network().then(|| Network {
                client: traffic(figures, C2S, seconds),
                server: traffic(figures, S2C, seconds),
            }),
            messages_per_s: show
                .extras()
                .then(|| rate(figures.msgs[C2S] + figures.msgs[S2C], seconds)),
            latency: show.extras().then(|| figures.latency.rows()),
            oversize: show.extras().then_some(figures.oversize),
            dropped: show.extras().then_some(figures.dropped),
        };
        match scope {
            Scope::Session { id, client, server, reason } => {
                report.session = Some(id);
                report.client = Some(client);
                report.server = Some(server);
                report.reason = Some(reason);
            }
            Scope::Total { sessions } => {
                report.report = "total";
                report.sessions = Some(sessions);
            }
        }
        report
    }

    /// One line of JSON, with its `\n`.
    pub fn to_json_line(&self) -> String {
        let mut line = serde_json::to_string(self).unwrap_or_default();
        line.push('\n');
        line
    }

    /// Aligned text, ending with a blank line.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        self.write_title(&mut out);
        if let Some(messages) = &self.messages {
            write_messages(&mut out, messages);
        }
        if let Some(network) = &self.network {
            write_network(&mut out, network);
        }
        if let Some(latency) = &self.latency {
            write_latency(&mut out, latency);
        }
        self.write_extras(&mut out);
        out
    }

    fn write_title(&self, out: &mut String) {
        let _ = match (self.session, self.sessions) {
            (Some(id), _) => writeln!(
                out,
                "Session {id}: {} > {}, {}",
                self.client.unwrap_or("?"),
                self.server.unwrap_or("?"),
                self.reason.unwrap_or("?")
            ),
            (None, sessions) => writeln!(out, "Total: {} sessions", sessions.unwrap_or(0)),
        };
        let _ = writeln!(out, "Running time: {:.3} s\n", self.duration_s);
    }

    fn write_extras(&self, out: &mut String) {
        if let Some(rate) = self.messages_per_s {
            let _ = writeln!(out, "Messages/s: {rate:.1}");
        }
        if let Some(oversize) = self.oversize {
            let _ = writeln!(out, "Oversize lines: {oversize}");
        }
        if let Some(dropped) = self.dropped {
            let _ = writeln!(out, "Dropped (queue full): {dropped}");
        }
        if self.messages_per_s.is_some() {
            out.push('\n');
        }
    }
}

fn messages(figures: &Figures) -> Messages {
    let mut classes: Vec<ClassRow> = figures
        .classes
        .iter()
        .map(|(class, counts)| ClassRow {
            class: class.clone(),
            client: counts[C2S],
            server: counts[S2C],
        })
        .collect();
    classes.sort_by(|a, b| {
        (b.client + b.server).cmp(&(a.client + a.server)).then_with(|| a.class.cmp(&b.class))
    });
    Messages { client: figures.msgs[C2S], server: figures.msgs[S2C], classes }
}

fn traffic(figures: &Figures, d: usize, seconds: f64) -> Traffic {
    let (bytes, packets) = (figures.bytes[d], figures.reads[d]);
    Traffic {
        bytes,
        packets,
        wire_bytes: bytes + HEADER_BYTES_PER_READ * packets,
        bytes_per_s: rate(bytes, seconds),
        packets_per_s: rate(packets, seconds),
    }
}

/// Per second; 0 over an instant, rather than infinity.
fn rate(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

const DIRECTIONS: [&str; 2] = ["Client > Server", "Server > Client"];

fn write_messages(out: &mut String, messages: &Messages) {
    let mut rows: Vec<(String, Vec<String>)> = messages
        .classes
        .iter()
        .map(|row| (row.class.clone(), vec![row.client.to_string(), row.server.to_string()]))
        .collect();
    rows.push(("total".into(), vec![messages.client.to_string(), messages.server.to_string()]));
    write_table(out, "Messages", &DIRECTIONS, &rows);
}

fn write_network(out: &mut String, network: &Network) {
    let both = |f: fn(&Traffic) -> String| vec![f(&network.client), f(&network.server)];
    let rows = [
        ("application bytes".to_owned(), both(|t| t.bytes.to_string())),
        ("packets (estimated)".to_owned(), both(|t| t.packets.to_string())),
        ("wire bytes (estimated)".to_owned(), both(|t| t.wire_bytes.to_string())),
        ("bytes/s".to_owned(), both(|t| format!("{:.1}", t.bytes_per_s))),
        ("packets/s".to_owned(), both(|t| format!("{:.1}", t.packets_per_s))),
    ];
    write_table(out, "Network", &DIRECTIONS, &rows);
}

fn write_latency(out: &mut String, latency: &[LatencyRow]) {
    if latency.is_empty() {
        return;
    }
    let ms = |v: f64| format!("{v:.3}");
    let rows: Vec<(String, Vec<String>)> = latency
        .iter()
        .map(|r| {
            (r.class.clone(), vec![r.count.to_string(), ms(r.p50_ms), ms(r.p99_ms), ms(r.max_ms)])
        })
        .collect();
    write_table(out, "Latency (request > reply)", &["count", "p50 ms", "p99 ms", "max ms"], &rows);
}

/// A title line with right-aligned column headers, then indented rows, then a blank line.
fn write_table(out: &mut String, title: &str, headers: &[&str], rows: &[(String, Vec<String>)]) {
    const INDENT: usize = 4;
    let label_width =
        rows.iter().map(|(label, _)| INDENT + label.chars().count()).fold(title.len(), usize::max);
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| rows.iter().map(|(_, cells)| cells[i].len()).fold(h.len(), usize::max))
        .collect();
    let _ = write!(out, "{title:<label_width$}");
    for (header, width) in headers.iter().zip(&widths) {
        let _ = write!(out, "  {header:>width$}");
    }
    out.push('\n');
    for (label, cells) in rows {
        let _ = write!(out, "{:INDENT$}{label:<width$}", "", width = label_width - INDENT);
        for (cell, width) in cells.iter().zip(&widths) {
            let _ = write!(out, "  {cell:>width$}");
        }
        out.push('\n');
    }
    out.push('\n');
}
