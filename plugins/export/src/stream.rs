//! The JetStream stream that stores the records: looked up, and created when missing if the
//! settings allow it (`create_stream`), with their retention and limits. An existing stream is
//! used as it is: its configuration belongs to whoever made it.

use async_nats::jetstream::context::GetStreamErrorKind;
use async_nats::jetstream::stream::{Config, DiscardPolicy, RetentionPolicy, StorageType};
use async_nats::jetstream::{self, ErrorCode};
use ctiproxy_plugin_api::ConfigError;

use crate::settings::{Retention, Storage, StreamSpec};

/// Why the stream is not usable.
#[derive(Debug)]
pub enum Unusable {
    /// It does not exist and may not be created, or the server refused to create it.
    Misconfigured(ConfigError),
    /// The server did not answer; worth retrying.
    Unanswered(String),
}

/// Makes sure the stream exists.
pub async fn ensure(js: &jetstream::Context, spec: &StreamSpec) -> Result<(), Unusable> {
    let missing = match js.get_stream(&spec.name).await {
        Ok(_) => return Ok(()),
        Err(error) => match error.kind() {
            GetStreamErrorKind::JetStream(e) if e.error_code() == ErrorCode::STREAM_NOT_FOUND => {
                error
            }
            _ => {
                return Err(Unusable::Unanswered(format!(
                    "looking up stream {}: {error}",
                    spec.name
                )))
            }
        },
    };
    if !spec.create {
        return Err(Unusable::Misconfigured(ConfigError::at(
            "stream",
            format!(
                "stream {} does not exist on the NATS server ({missing}); create it, or set \
                 create_stream = true",
                spec.name
            ),
        )));
    }
    js.create_stream(config(spec)).await.map(drop).map_err(|error| {
        Unusable::Misconfigured(ConfigError::at(
            "stream",
            format!("cannot create stream {} for {}: {error}", spec.name, spec.subjects),
        ))
    })
}

fn config(spec: &StreamSpec) -> Config {
    Config {
        name: spec.name.clone(),
        subjects: vec![spec.subjects.clone()],
        retention: match spec.retention {
            Retention::Limits => RetentionPolicy::Limits,
            Retention::Interest => RetentionPolicy::Interest,
            Retention::Workqueue => RetentionPolicy::WorkQueue,
        },
        storage: match spec.storage {
            Storage::File => StorageType::File,
            Storage::Memory => StorageType::Memory,
        },
        num_replicas: spec.replicas,
        max_age: spec.max_age,
        max_bytes: if spec.max_bytes == 0 {
            -1
        } else {
            i64::try_from(spec.max_bytes).unwrap_or(i64::MAX)
        },
        discard: DiscardPolicy::Old,
        duplicate_window: spec.duplicate_window,
        ..Config::default()
    }
}
