//! The statistics the test server reports: the groups and names of a small OpenSIPS 3.5.9
//! (core, shmem, net, load, pkmem, tm, sl), with the values seen in the captures, and the
//! matching rules of `get_statistics` (bare name, `group:`, `all`; `group:name` matches nothing).

use serde_json::Value;

/// (group, name, value, incremental)
type Stat = (&'static str, String, i64, bool);

const CORE: &[&str] = &[
    "rcv_requests",
    "rcv_replies",
    "fwd_requests",
    "fwd_replies",
    "drop_requests",
    "drop_replies",
    "err_requests",
    "err_replies",
    "bad_URIs_rcvd",
    "unsupported_methods",
    "bad_msg_hdr",
    "timestamp",
];
const SHMEM: &[(&str, i64)] = &[
    ("total_size", 67108864),
    ("max_used_size", 3559784),
    ("free_size", 63549080),
    ("used_size", 3503120),
    ("real_used_size", 3559784),
    ("fragments", 408),
];
const TM: &[&str] = &[
    "received_replies",
    "relayed_replies",
    "local_replies",
    "UAS_transactions",
    "UAC_transactions",
    "2xx_transactions",
    "3xx_transactions",
    "4xx_transactions",
    "5xx_transactions",
    "6xx_transactions",
    "inuse_transactions",
    "cluster_reply_sent",
    "cluster_request_sent",
    "cluster_cancel_sent",
    "cluster_reply_recv",
    "cluster_request_recv",
    "cluster_cancel_recv",
    "retransmission_req_T1_1",
    "retransmission_req_T1_2",
    "retransmission_req_T1_3",
    "retransmission_req_T2",
    "retransmission_rpl_T2",
    "timeout_finalresponse",
    "timeout_finalresponse_inv",
];
const SL: &[&str] = &[
    "1xx_replies",
    "2xx_replies",
    "3xx_replies",
    "4xx_replies",
    "5xx_replies",
    "6xx_replies",
    "sent_replies",
    "sent_err_replies",
    "received_ACKs",
];
const PKMEM: &[&str] =
    &["total_size", "used_size", "real_used_size", "max_used_size", "free_size", "fragments"];
const PROCESSES: usize = 9;

/// Every statistic, in OpenSIPS's listing order.
pub(crate) fn all() -> Vec<Stat> {
    let mut stats: Vec<Stat> = CORE.iter().map(|n| ("core", n.to_string(), 0, true)).collect();
    stats.extend(SHMEM.iter().map(|(n, v)| ("shmem", n.to_string(), *v, false)));
    stats.extend(["waiting_udp", "waiting_tcp"].iter().map(|n| ("net", n.to_string(), 0, false)));
    stats.extend(["load", "load1m", "load10m"].iter().map(|n| ("load", n.to_string(), 0, false)));
    for process in 0..PROCESSES {
        stats.extend(PKMEM.iter().map(|n| ("pkmem", format!("{process}-{n}"), 1048576, false)));
    }
    stats.extend(TM.iter().map(|n| ("tm", n.to_string(), 0, true)));
    stats.extend(SL.iter().map(|n| ("sl", n.to_string(), 0, true)));
    stats
}

/// The `group:name` pairs `get_statistics` answers for `wanted`, in request order, repeating a
/// statistic that two entries match (as OpenSIPS does).
pub(crate) fn select(wanted: &[String], value: impl Fn(&Stat) -> Value) -> Vec<(String, Value)> {
    let stats = all();
    let mut out = Vec::new();
    for entry in wanted {
        for stat in &stats {
            if matches(entry, stat) {
                out.push((format!("{}:{}", stat.0, stat.1), value(stat)));
            }
        }
    }
    out
}

fn matches(entry: &str, (group, name, _, _): &Stat) -> bool {
    match entry.strip_suffix(':') {
        _ if entry == "all" => true,
        Some(wanted_group) => wanted_group == *group,
        None => entry == name,
    }
}
