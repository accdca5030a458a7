//! The connection to NATS: async-nats options from the settings, and the first attempt, whose
//! failure is sorted into a misconfiguration (wrong credentials, TLS refused: the proxy must
//! not start) or an outage (the server is away: the proxy starts, the records wait in the
//! buffer and async-nats keeps reconnecting with back-off).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_nats::{Client, ConnectError, ConnectErrorKind, ConnectOptions, Event};
use ctiproxy_plugin_api::{ConfigError, Host};

use crate::settings::{Auth, Settings};

/// The longest pause between two reconnection attempts.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(2);

/// Why the first connection failed.
#[derive(Debug)]
pub enum Refused {
    /// The settings are wrong: credentials, TLS.
    Misconfigured(ConfigError),
    /// The server could not be reached; worth retrying.
    Unreachable(String),
}

/// Connects once, without retrying.
pub async fn connect_once(settings: &Settings, host: &Host) -> Result<Client, Refused> {
    let options = options(settings, host).map_err(Refused::Misconfigured)?;
    options.connect(settings.servers.clone()).await.map_err(|error| {
        match error.kind() {
            ConnectErrorKind::Authentication | ConnectErrorKind::AuthorizationViolation => {
                Refused::Misconfigured(ConfigError::at(
                    "url",
                    format!("the NATS server refused the credentials: {error}"),
                ))
            }
            ConnectErrorKind::Tls => tls_failed(&error),
            // A handshake failure (an unknown certificate authority, a wrong name) comes as
            // invalid data on the socket.
            ConnectErrorKind::Io if is_invalid_data(&error) => tls_failed(&error),
            _ => Refused::Unreachable(error.to_string()),
        }
    })
}

fn tls_failed(error: &ConnectError) -> Refused {
    Refused::Misconfigured(ConfigError::at(
        "url",
        format!("TLS with the NATS server failed: {error} (tls_ca names the servers' CA)"),
    ))
}

fn is_invalid_data(error: &ConnectError) -> bool {
    let source = std::error::Error::source(error);
    source
        .and_then(|source| source.downcast_ref::<std::io::Error>())
        .is_some_and(|io| io.kind() == std::io::ErrorKind::InvalidData)
}

/// A client that connects in the background, retrying until it succeeds.
pub async fn connect_retrying(settings: &Settings, host: &Host) -> Result<Client, String> {
    options(settings, host)
        .map_err(|error| error.to_string())?
        .retry_on_initial_connect()
        .connect(settings.servers.clone())
        .await
        .map_err(|error| error.to_string())
}

fn options(settings: &Settings, host: &Host) -> Result<ConnectOptions, ConfigError> {
    let events = Events { host: host.clone(), last_refusal: Arc::default() };
    let options = base_options(&settings.auth)?
        .name(format!("ctiproxy export ({})", settings.proxy))
        .connection_timeout(settings.connect_timeout)
        .request_timeout(Some(settings.ack_timeout))
        .max_reconnects(None)
        .reconnect_delay_callback(|attempts| {
            let exponent = u32::try_from(attempts.min(8)).unwrap_or(8);
            (Duration::from_millis(50) * 2u32.pow(exponent)).min(MAX_RECONNECT_DELAY)
        })
        .event_callback(move |event| {
            let events = events.clone();
            async move { events.log(&event) }
        });
    Ok(with_auth(options, &settings.auth))
}

/// Options holding the credentials file, if any. The settings already parsed it, so an error
/// cannot happen; were it to, it is the configuration error it would have been then.
fn base_options(auth: &Auth) -> Result<ConnectOptions, ConfigError> {
    match &auth.credentials {
        Some(credentials) => ConnectOptions::with_credentials(credentials)
            .map_err(|e| ConfigError::at("credentials", e.to_string())),
        None => Ok(ConnectOptions::new()),
    }
}

fn with_auth(mut options: ConnectOptions, auth: &Auth) -> ConnectOptions {
    if let Some((user, password)) = &auth.user_password {
        options = options.user_and_password(user.clone(), password.clone());
    }
    if let Some(token) = &auth.token {
        options = options.token(token.clone());
    }
    if let Some(ca) = &auth.tls_ca {
        options = options.add_root_certificates(ca.clone()).require_tls(true);
    }
    if let Some((cert, key)) = &auth.tls_client {
        options = options.add_client_certificate(cert.clone(), key.clone()).require_tls(true);
    }
    options.require_tls(auth.require_tls || auth.tls_ca.is_some() || auth.tls_client.is_some())
}

/// Connection events, at debug level: the publisher logs the outage and the recovery once
/// each, from what deliveries do. An error the server reports (such as an authorization
/// violation while reconnecting) is a warning, once until it changes.
#[derive(Clone)]
struct Events {
    host: Host,
    last_refusal: Arc<Mutex<String>>,
}

impl Events {
    fn log(&self, event: &Event) {
        let text = format!("NATS: {event}");
        if !matches!(event, Event::ServerError(_)) {
            return self.host.debug(&text);
        }
        let mut last = self.last_refusal.lock().unwrap_or_else(PoisonError::into_inner);
        if *last != text {
            self.host.warn(&text);
            *last = text;
        }
    }
}
