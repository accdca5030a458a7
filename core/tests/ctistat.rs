//! `ctistat` through the real binary, the recorded session replayed by a test CTI server and
//! client: by default it prints what the Python ctistat printed (`class count` lists,
//! `Label:\tvalue` network figures), with counts equal to the ones computed here from the
//! fixture; `--format table` keeps the richer report (latency for the requests the fixture
//! answers); Ctrl-C with `--loop` prints the session still open and the totals.
mod classic_support;
mod support;

use std::collections::{BTreeMap, HashMap};

use classic_support::{class_counts, class_of, fixture, interrupt_open_session, replay};
use ctiproxy_plugin_api::Direction;
use serde_json::Value;
use support::session_steps;

const STAT: &str = env!("CARGO_BIN_EXE_ctistat");

/// A table row: its name (`getlist`, `application bytes`) and its numbers.
type Row = (String, Vec<f64>);

/// One printed report: its first line, its tables by title, its `Name: value` lines.
#[derive(Debug, Default)]
struct Report {
    heading: String,
    tables: BTreeMap<String, Vec<Row>>,
    fields: BTreeMap<String, String>,
}

impl Report {
    fn table(&self, title: &str) -> &[Row] {
        self.tables.get(title).unwrap_or_else(|| panic!("no {title} table in {self:#?}"))
    }

    /// The Messages table as class → (client > server, server > client), without `total`.
    fn messages(&self) -> BTreeMap<String, (u64, u64)> {
        let rows = self.table("Messages").iter().filter(|(name, _)| name != "total");
        rows.map(|(name, n)| (name.clone(), (n[0] as u64, n[1] as u64))).collect()
    }

    fn row(&self, title: &str, name: &str) -> &[f64] {
        let rows = self.table(title);
        let row = rows.iter().find(|(n, _)| n == name);
        &row.unwrap_or_else(|| panic!("no {name} in {title}: {rows:?}")).1
    }
}

/// Splits ctistat's text output into reports (each starts with `Session` or `Total:`).
fn reports(stdout: &str) -> Vec<Report> {
    let mut reports: Vec<Report> = Vec::new();
    let mut table: Option<String> = None;
    for line in stdout.lines() {
        if line.starts_with("Session ") || line.starts_with("Total: ") {
            reports.push(Report { heading: line.to_owned(), ..Report::default() });
            table = None;
            continue;
        }
        let report = reports.last_mut().unwrap_or_else(|| panic!("text before a report: {line}"));
        if line.is_empty() {
            table = None;
        } else if let Some(row) = line.strip_prefix("    ") {
            let title = table.as_ref().unwrap_or_else(|| panic!("row outside a table: {line}"));
            let words: Vec<&str> = row.split_whitespace().collect();
            let names = words.iter().take_while(|w| w.parse::<f64>().is_err()).count();
            let numbers = words[names..].iter().map(|w| w.parse().expect("number")).collect();
            report
                .tables
                .entry(title.clone())
                .or_default()
                .push((words[..names].join(" "), numbers));
        } else if let Some((name, value)) = line.split_once(": ") {
            report.fields.insert(name.to_owned(), value.to_owned());
        } else {
            let title = line.split_whitespace().next().expect("table title").to_owned();
            report.tables.insert(title.clone(), Vec::new());
            table = Some(title);
        }
    }
    reports
}

/// Replies per request class: a server message whose `replyid` is (as text) the `commandid`
/// of an earlier client message answers it.
fn replies_per_class(messages: &[(Direction, Value)]) -> BTreeMap<String, u64> {
    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
    let mut waiting: HashMap<String, String> = HashMap::new();
    let mut replies = BTreeMap::new();
    for (direction, message) in messages {
        match direction {
            Direction::ClientToServer => {
                if let Some(id) = message.get("commandid") {
                    waiting.insert(text(id), class_of(message));
                }
            }
            Direction::ServerToClient => {
                let request = message.get("replyid").and_then(|id| waiting.remove(&text(id)));
                if let Some(class) = request {
                    *replies.entry(class).or_insert(0) += 1;
                }
            }
        }
    }
    replies
}

/// Application bytes each way: the lines with their `\n`.
fn bytes_per_direction() -> (f64, f64) {
    let steps = session_steps();
    let sum = |d: Direction| {
        steps.iter().filter(|s| s.direction == d).map(|s| s.line.len() + 1).sum::<usize>() as f64
    };
    (sum(Direction::ClientToServer), sum(Direction::ServerToClient))
}

fn check_network(report: &Report) {
    let (client, server) = bytes_per_direction();
    assert_eq!(report.row("Network", "application bytes"), [client, server]);
    let packets = report.row("Network", "packets (estimated)");
    assert!(packets.iter().all(|p| *p >= 1.0), "{packets:?}");
    // The original's estimate: 14 + 20 + 16 bytes of headers per read.
    let wire = [client + 50.0 * packets[0], server + 50.0 * packets[1]];
    assert_eq!(report.row("Network", "wire bytes (estimated)"), wire);
    assert!(report.fields["Running time"].ends_with(" s"), "{report:?}");
}

#[test]
fn table_counts_every_class_by_direction_as_the_fixture_has_them_with_latency_and_extras() {
    let finished = replay(STAT, &["--format", "table"]);
    let reports = reports(&finished.stdout);
    assert_eq!(reports.len(), 1, "one session, no totals:\n{}", finished.stdout);
    let report = &reports[0];
    // Client and server both close at the end of the script; either EOF may reach the proxy first.
    assert!(report.heading.ends_with(" closed"), "{}", report.heading);

    let counts = class_counts(&fixture());
    assert_eq!(report.messages(), counts);
    let (client, server) = counts.values().fold((0, 0), |(c, s), (dc, ds)| (c + dc, s + ds));
    assert_eq!(report.row("Messages", "total"), [client as f64, server as f64]);
    // Most frequent first, as the original.
    let totals: Vec<u64> =
        report.table("Messages").iter().map(|(_, n)| (n[0] + n[1]) as u64).collect();
    assert!(totals[..totals.len() - 1].windows(2).all(|w| w[0] >= w[1]), "{totals:?}");

    check_network(report);

    let replies = replies_per_class(&fixture());
    assert!(!replies.is_empty(), "the fixture answers some requests");
    let latency = report.table("Latency");
    let classes: BTreeMap<String, u64> =
        latency.iter().map(|(class, n)| (class.clone(), n[0] as u64)).collect();
    assert_eq!(classes, replies);
    for (class, n) in latency {
        let (p50, p99, max) = (n[1], n[2], n[3]);
        assert!(0.0 <= p50 && p50 <= p99 && p99 <= max, "{class}: {n:?}");
    }
    assert!(report.fields.contains_key("Messages/s"), "{report:?}");
    assert_eq!(report.fields["Oversize lines"], "0");
    assert_eq!(report.fields["Dropped (queue full)"], "0");
}

#[test]
fn table_msg_shows_only_the_message_counts() {
    let finished = replay(STAT, &["-m", "--format", "table"]);
    let reports = reports(&finished.stdout);
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].messages(), class_counts(&fixture()));
    let titles: Vec<&String> = reports[0].tables.keys().collect();
    assert_eq!(titles, ["Messages"]);
    assert!(!reports[0].fields.contains_key("Messages/s"));
}

#[test]
fn table_network_shows_only_the_network_figures() {
    let finished = replay(STAT, &["--network", "--format", "table"]);
    let reports = reports(&finished.stdout);
    assert_eq!(reports.len(), 1);
    check_network(&reports[0]);
    let titles: Vec<&String> = reports[0].tables.keys().collect();
    assert_eq!(titles, ["Network"]);
    assert!(!reports[0].fields.contains_key("Messages/s"));
}

#[test]
fn exclusive_options_are_usage_errors() {
    let out = support::command(STAT).args(["xivo", "-m", "-n"]).output().expect("run ctistat");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn ctrl_c_with_loop_prints_the_open_session_and_the_totals() {
    let steps = session_steps();
    let open = &steps[..steps.len() / 2];
    let finished = interrupt_open_session(STAT, &["-m", "--format", "table"], 1, open, "INT");
    let reports = reports(&finished.stdout);
    let headings: Vec<&str> = reports.iter().map(|r| r.heading.as_str()).collect();
    assert_eq!(reports.len(), 3, "{headings:?}\n{}", finished.stdout);
    assert!(headings[0].starts_with("Session ") && headings[0].ends_with(" closed"));
    assert!(headings[1].starts_with("Session "), "{headings:?}");
    assert_eq!(headings[2], "Total: 2 sessions");

    let whole = class_counts(&fixture());
    let half: Vec<(Direction, Value)> = fixture().into_iter().take(open.len()).collect();
    let half = class_counts(&half);
    assert_eq!(reports[0].messages(), whole);
    assert_eq!(reports[1].messages(), half);
    let mut total = whole;
    for (class, (c, s)) in half {
        let entry = total.entry(class).or_default();
        *entry = (entry.0 + c, entry.1 + s);
    }
    assert_eq!(reports[2].messages(), total);
}

#[test]
fn help_explains_every_option_with_examples() {
    let out = support::command(STAT).arg("--help").output().expect("run ctistat --help");
    let help = String::from_utf8_lossy(&out.stdout);
    let options = ["<HOST>", "-m, --msg", "-n, --network", "--format <F>", "--loop", "--port"];
    for option in options {
        assert!(help.contains(option), "--help lacks {option:?}:\n{help}");
    }
    assert!(help.contains("Examples:\n  ctistat xivo.example.com"), "{help}");
}

/// What the original printed for `--msg`: per sender, `class count` lines, most frequent first
/// (ties by name here; the original left them in dict order), a message without class as `None`.
fn classic_lists(counts: &BTreeMap<String, (u64, u64)>) -> String {
    let mut out = String::new();
    for (sender, server) in [("client", false), ("server", true)] {
        out += &format!("=== Messages sent by {sender}\n");
        let mut rows: Vec<(&str, u64)> = counts
            .iter()
            .map(|(class, (c, s))| {
                (
                    if class == "(no class)" { "None" } else { class.as_str() },
                    if server { *s } else { *c },
                )
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        for (class, n) in rows {
            out += &format!("{class} {n}\n");
        }
    }
    out
}

/// The labels the original printed for `--network`, in order, `None` for its separators.
const NETWORK_LABELS: [Option<&str>; 17] = [
    Some("Running time:\t"),
    Some("Client app bytes:"),
    Some("Server app bytes:"),
    Some("Total app bytes:"),
    Some("Avg app bytes/s:"),
    None,
    Some("Client IP packets:"),
    Some("Server IP packets:"),
    Some("Total IP packets:"),
    Some("Average IP packets/s:"),
    None,
    Some("Client wire bytes:"),
    Some("Server wire bytes:"),
    Some("Total wire bytes:"),
    Some("Total headers overhead:"),
    Some("Average wire bytes/s:"),
    None,
];

/// Checks the original's `--network` block, `lines` long, and its figures against the fixture.
fn check_classic_network(lines: &[&str]) {
    let mut figures: BTreeMap<&str, f64> = BTreeMap::new();
    assert_eq!(lines.len(), NETWORK_LABELS.len() - 1, "{lines:#?}");
    for (line, label) in lines.iter().zip(NETWORK_LABELS) {
        match label {
            None => assert_eq!(*line, "==========="),
            Some(label) => {
                let value = line
                    .strip_prefix(label)
                    .and_then(|rest| rest.strip_prefix('\t'))
                    .unwrap_or_else(|| panic!("{line:?} is not {label:?}, a tab and a value"));
                assert!(!value.starts_with(char::is_whitespace), "{line:?}");
                figures.insert(label.trim_end_matches(['\t', ':']), value.parse().expect(line));
            }
        }
    }
    let f = |name: &str| figures[name];
    let (client, server) = bytes_per_direction();
    assert_eq!((f("Client app bytes"), f("Server app bytes")), (client, server));
    assert_eq!(f("Total app bytes"), client + server);
    let packets = [f("Client IP packets"), f("Server IP packets")];
    assert!(packets.iter().all(|p| *p >= 1.0), "{packets:?}");
    assert_eq!(f("Total IP packets"), packets[0] + packets[1]);
    assert_eq!(f("Client wire bytes"), client + 50.0 * packets[0]);
    assert_eq!(f("Server wire bytes"), server + 50.0 * packets[1]);
    assert_eq!(f("Total wire bytes"), f("Client wire bytes") + f("Server wire bytes"));
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
    let overhead = 50.0 * f("Total IP packets") / f("Total app bytes");
    assert!(close(f("Total headers overhead"), overhead), "{figures:?}");
    let seconds = f("Running time");
    assert!(seconds > 0.0, "{figures:?}");
    for (rate, total) in [
        ("Avg app bytes/s", "Total app bytes"),
        ("Average IP packets/s", "Total IP packets"),
        ("Average wire bytes/s", "Total wire bytes"),
    ] {
        // The printed running time has 12 significant digits, so the rate is recomputed loosely.
        let want = f(total) / seconds;
        assert!((f(rate) - want).abs() <= 1e-6 * want, "{rate}: {figures:?}");
    }
}

#[test]
fn msg_prints_the_originals_class_count_lists() {
    let finished = replay(STAT, &["-m"]);
    assert_eq!(finished.stdout, classic_lists(&class_counts(&fixture())));
}

#[test]
fn network_prints_the_originals_figures_with_totals_overhead_and_rates() {
    let finished = replay(STAT, &["-n"]);
    let lines: Vec<&str> = finished.stdout.lines().collect();
    check_classic_network(&lines);
}

#[test]
fn without_m_or_n_the_lists_come_then_the_network_figures() {
    let finished = replay(STAT, &[]);
    let lists = classic_lists(&class_counts(&fixture()));
    let network = finished.stdout.strip_prefix(&lists).unwrap_or_else(|| {
        panic!("does not start with the lists:\n{lists}\ngot:\n{}", finished.stdout)
    });
    check_classic_network(&network.lines().collect::<Vec<_>>());
}

#[test]
fn classic_with_loop_titles_the_later_session_and_the_totals() {
    let steps = session_steps();
    let open = &steps[..steps.len() / 2];
    let finished = interrupt_open_session(STAT, &["--msg"], 1, open, "INT");
    let whole = classic_lists(&class_counts(&fixture()));
    let half: Vec<(Direction, Value)> = fixture().into_iter().take(open.len()).collect();
    let half = classic_lists(&class_counts(&half));
    let (first, rest) = finished.stdout.split_at(whole.len());
    assert_eq!(first, whole, "the first session, untitled as the original printed it");
    let (title, rest) = rest.split_once('\n').expect("a title");
    assert!(title.starts_with("=== Session 2: 127.0.0.1:"), "{title}");
    let (second, total) = rest.split_at(half.len());
    assert_eq!(second, half);
    assert!(total.starts_with("=== Total: 2 sessions\n=== Messages sent by client\n"), "{total}");
}
