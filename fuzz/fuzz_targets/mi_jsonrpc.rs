//! JSON-RPC replies as mi_datagram, mi_http and mi_fifo carry them: decoded, matched to a
//! request id, and the result re-printed (compact and pretty) without losing a member.

#![no_main]

use ctiproxy_mi::fuzzing::{jsonrpc_reply, jsonrpc_reply_for};
use ctiproxy_mi::Reply;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok((id, answers, outcome)) = jsonrpc_reply(data, 1) else { return };
    if let Some(id) = id.as_u64().and_then(|id| u32::try_from(id).ok()) {
        // The reply must be accepted for the request it names, whatever it says otherwise.
        let decoded = jsonrpc_reply_for(data, id);
        assert_eq!(decoded.is_ok(), outcome.is_ok());
    }
    let _ = answers;
    if let Ok(reply) = outcome {
        check_reprint(&reply);
    }
});

// Re-printing streams the raw text, so it must give back the value that was parsed. Floats may
// move by an ulp: serde_json's default float parser does not round-trip exactly.
fn check_reprint(reply: &Reply) {
    for text in [reply.to_compact_json(), reply.to_pretty_json()] {
        let again: Value = serde_json::from_str(&text).expect("re-printed JSON");
        assert!(same(&again, reply.value()), "{text} is not {}", reply.value());
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
            x == y || (x - y).abs() <= x.abs().max(y.abs()) * 1e-15
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|((kx, x), (ky, y))| kx == ky && same(x, y))
        }
        _ => a == b,
    }
}
