//! The head of an HTTP reply as mi_http and mi_xmlrpc_ng read it, fed as it would arrive: a
//! growing prefix, which must stay incomplete until the head is whole and then keep its length.

#![no_main]

use ctiproxy_mi::fuzzing::http_head;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let whole = http_head(data);
    if let Ok(Some(length)) = whole {
        assert!(length <= data.len());
        // Reading more after a complete head never changes where the body starts.
        assert!(matches!(http_head(&data[..length]), Ok(Some(l)) if l == length));
        let mut prefix = data[..length].to_vec();
        prefix.pop();
        assert!(matches!(http_head(&prefix), Ok(None) | Err(_)));
    }
});
