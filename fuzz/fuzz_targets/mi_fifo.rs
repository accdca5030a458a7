//! What a reply FIFO gives back (one JSON-RPC reply read to EOF), decoded for the request it
//! must answer, and for another request, which must be refused.

#![no_main]

use ctiproxy_mi::fuzzing::fifo_reply;
use ctiproxy_mi::Error;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        assert!(matches!(fifo_reply(data, 1), Err(Error::MalformedReply { .. })));
        return;
    };
    let id = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|reply| reply.get("id")?.as_u64())
        .and_then(|id| u32::try_from(id).ok());
    let Some(id) = id else {
        let _ = fifo_reply(data, 1);
        return;
    };
    let ours = fifo_reply(data, id);
    if let Ok(reply) = &ours {
        let _ = (reply.to_compact_json(), reply.raw_json());
    }
    let other = fifo_reply(data, id.wrapping_add(1));
    assert!(other.is_err(), "a reply to request {id} was accepted for another");
});
