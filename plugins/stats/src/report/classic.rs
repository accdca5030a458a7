//! The classic layout: what the Python `ctistat` printed, line for line, so the scripts and eyes
//! used to it keep working. `--msg` printed a `class count` list per direction, most frequent
//! first; `--network` printed `Label:\tvalue` lines in three groups (application bytes, packets,
//! wire bytes), each with its total and average rate, floats as Python 2 wrote them.
//!
//! The original printed one block per connection and nothing else. Blocks get a `=== ` title
//! only where that alone would be ambiguous: the totals, and sessions once several share the
//! output (the spy numbers its headers from the same moment).

use std::fmt::Write;

use super::{rate, ClassRow, Messages, Network, Report, Traffic, HEADER_BYTES_PER_READ};
use crate::py_float::python2_str;

/// What separated the original's network groups.
const GROUP_SEPARATOR: &str = "===========";

impl Report<'_> {
    /// The classic layout; `titled` names the session, for output that several sessions share.
    pub fn to_classic(&self, titled: bool) -> String {
        let mut out = String::new();
        let _ = match (self.session, self.sessions) {
            (Some(id), _) if titled => writeln!(
                out,
                "=== Session {id}: {} > {}, {}",
                self.client.unwrap_or("?"),
                self.server.unwrap_or("?"),
                self.reason.unwrap_or("?")
            ),
            (None, Some(sessions)) => writeln!(out, "=== Total: {sessions} sessions"),
            _ => Ok(()),
        };
        if let Some(messages) = &self.messages {
            write_messages(&mut out, messages);
        }
        if let Some(network) = &self.network {
            write_network(&mut out, network, self.duration_s);
        }
        out
    }
}

fn write_messages(out: &mut String, messages: &Messages) {
    for sender in ["client", "server"] {
        let count = |row: &ClassRow| if sender == "client" { row.client } else { row.server };
        let _ = writeln!(out, "=== Messages sent by {sender}");
        let mut rows: Vec<(&str, u64)> = messages
            .classes
            .iter()
            .map(|row| (classic_label(&row.class), count(row)))
            .filter(|(_, n)| *n > 0)
            .collect();
        rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        for (class, n) in rows {
            let _ = writeln!(out, "{class} {n}");
        }
    }
}

/// The original counted `msg.get('class')`, so a message without one was `None`. It never
/// counted lines that were not JSON; they are listed here, under one-word names so that a
/// `class count` line still splits into two fields.
fn classic_label(class: &str) -> &str {
    match class {
        "(no class)" => "None",
        "(not json)" => "(not-json)",
        other => other,
    }
}

fn write_network(out: &mut String, network: &Network, seconds: f64) {
    let (client, server) = (&network.client, &network.server);
    let total = |figure: fn(&Traffic) -> u64| figure(client) + figure(server);
    let bytes = total(|t| t.bytes);
    let packets = total(|t| t.packets);
    let wire_bytes = total(|t| t.wire_bytes);
    let overhead =
        if bytes > 0 { (HEADER_BYTES_PER_READ * packets) as f64 / bytes as f64 } else { 0.0 };
    let per_second = |count: u64| python2_str(rate(count, seconds));
    let groups = [
        vec![
            ("Running time:\t", python2_str(seconds)),
            ("Client app bytes:", client.bytes.to_string()),
            ("Server app bytes:", server.bytes.to_string()),
            ("Total app bytes:", bytes.to_string()),
            ("Avg app bytes/s:", per_second(bytes)),
        ],
        vec![
            ("Client IP packets:", client.packets.to_string()),
            ("Server IP packets:", server.packets.to_string()),
            ("Total IP packets:", packets.to_string()),
            ("Average IP packets/s:", per_second(packets)),
        ],
        vec![
            ("Client wire bytes:", client.wire_bytes.to_string()),
            ("Server wire bytes:", server.wire_bytes.to_string()),
            ("Total wire bytes:", wire_bytes.to_string()),
            ("Total headers overhead:", python2_str(overhead)),
            ("Average wire bytes/s:", per_second(wire_bytes)),
        ],
    ];
    for (i, group) in groups.iter().enumerate() {
        if i > 0 {
            let _ = writeln!(out, "{GROUP_SEPARATOR}");
        }
        for (label, value) in group {
            let _ = writeln!(out, "{label}\t{value}");
        }
    }
}
