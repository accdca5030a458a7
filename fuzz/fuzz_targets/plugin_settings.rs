//! A real plugin built from arbitrary settings through the plugin API's create path (the
//! `extern "C"` shims and the host's checks, as the proxy loads it), then given a few CTI
//! messages so that whatever the settings compiled (rules, templates, matchers) runs once.
//!
//! The input is one `[[pipeline]]` table; its `plugin` key picks the plugin, as in a
//! configuration. Built as `ctiproxy check` builds it (the host says it will never run), so the
//! mi plugin starts no workers and sends nothing. `save` is left out: it creates the files its
//! settings name.

#![no_main]

use ctiproxy_plugin_api::harness::Harness;
use ctiproxy_plugin_api::{Outcome, Plugin};
use libfuzzer_sys::fuzz_target;

const MESSAGES: [(bool, &str); 4] = [
    (
        true,
        r#"{"class":"getlist","function":"listid","listname":"users","tipbxid":"xivo","commandid":7}"#,
    ),
    (
        false,
        r#"{"class":"getlist","function":"listid","listname":"users","tipbxid":"xivo","list":["1","2"],"replyid":7}"#,
    ),
    (
        false,
        r#"{"class":"getlist","function":"updatestatus","listname":"voicemails","tipbxid":"xivo","tid":"3","status":{"new":2,"old":1}}"#,
    ),
    (
        false,
        r#"{"class":"getlist","function":"updateconfig","listname":"phones","tipbxid":"xivo","tid":"1","config":{"number":"1001","iduserfeatures":1}}"#,
    ),
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(mut table) = toml::from_str::<toml::Table>(text) else { return };
    let Some(toml::Value::String(plugin)) = table.remove("plugin") else { return };
    let Ok(settings) = toml::to_string(&table) else { return };
    match plugin.as_str() {
        "mi" => run::<ctiproxy_mi::plugin::MiRules>(&settings),
        "strip" => run::<ctiproxy_filter::Strip>(&settings),
        "include" => run::<ctiproxy_filter::Include>(&settings),
        "exclude" => run::<ctiproxy_filter::Exclude>(&settings),
        "spy" => run::<ctiproxy_spy::Spy>(&settings),
        "stats" => run::<ctiproxy_stats::Stats>(&settings),
        "count-class" => run::<ctiproxy_example::CountClass>(&settings),
        _ => {}
    }
});

fn run<P: Plugin>(settings: &str) {
    let Ok(mut harness) = Harness::<P>::check_only(settings) else { return };
    let mut outcomes = Vec::new();
    harness.start_session();
    for (client, line) in MESSAGES {
        outcomes.push(if client { harness.client(line) } else { harness.server(line) });
    }
    outcomes.push(harness.end_session("fuzz"));
    outcomes.push(harness.shutdown());
    // An error is the plugin's answer to bad settings; a panic is a bug.
    for outcome in outcomes {
        if let Outcome::Panicked(panic) = outcome {
            panic!("{} panicked: {panic}", P::NAME);
        }
    }
}
