//! mi_xmlrpc_ng `methodResponse` bodies: decoded into a result (transcribed to JSON, struct
//! members in order) or an MI fault.

#![no_main]

use ctiproxy_mi::fuzzing::xmlrpc_reply;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(reply) = xmlrpc_reply(data) {
        let _ = reply.to_pretty_json();
    }
});
