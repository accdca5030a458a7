//! The MI client: one endpoint, a timeout per call, `command` for any MI command and the
//! `t_uac_dlg` helpers (`uac_dlg`, `event_notify`, `mwi_update`).

use std::time::Duration;

use crate::error::Error;
use crate::event;
use crate::mwi::{self, MessageCounts};
use crate::request::{IdSource, Params, Request};
use crate::response::Reply;
use crate::transport::{Endpoint, Transport};
use crate::uac::{UacDlg, T_UAC_DLG};
use crate::wiretap::{Direction, Wiretap};

/// The timeout of an MI call unless configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a `t_uac_dlg` call waits unless a timeout is set: OpenSIPS answers a request to a
/// dead phone only when tm's final-response timer (30 s by default) fires, with a result
/// `{"Status":"408 Request Timeout"}`; giving up earlier loses that answer.
pub const UAC_DLG_MIN_TIMEOUT: Duration = Duration::from_secs(35);

/// A synchronous MI client. It opens a socket or FIFO per call and holds no thread, so it can
/// be used from any thread (it is `Send + Sync`) without a runtime.
///
/// ```no_run
/// use ctiproxy_mi::{Client, Endpoint, Params};
/// use serde_json::json;
///
/// let client = Client::new(Endpoint::Datagram("127.0.0.1:8809".into()))?;
/// let uptime = client.command("uptime", Params::None)?;
/// println!("{}", uptime.value()["Up time"]);
/// let stats = client.command("get_statistics", Params::named([("statistics", json!(["tm:"]))]))?;
/// println!("{}", stats.to_pretty_json());
/// client.event_notify("sip:alice@10.0.0.5:5060", "polycom_check_cfg", &[])?;
/// # Ok::<(), ctiproxy_mi::Error>(())
/// ```
#[derive(Debug)]
pub struct Client {
    transport: Transport,
    /// Set by [`Client::with_timeout`]; unset, calls wait [`DEFAULT_TIMEOUT`] and `t_uac_dlg`
    /// calls [`UAC_DLG_MIN_TIMEOUT`].
    timeout: Option<Duration>,
    uac_dlg_timeout: Option<Duration>,
    ids: IdSource,
    wiretap: Wiretap,
}

impl Client {
    /// A client for `endpoint` with the default timeout; the address or URL is checked now,
    /// the server is first contacted by the first call.
    pub fn new(endpoint: Endpoint) -> Result<Client, Error> {
        Ok(Client {
            transport: Transport::open(&endpoint)?,
            timeout: None,
            uac_dlg_timeout: None,
            ids: IdSource::new(),
            wiretap: Wiretap::default(),
        })
    }

    /// Sets the timeout of every call, `t_uac_dlg` included (as `ctiproxy mi --timeout` does):
    /// without it calls wait [`DEFAULT_TIMEOUT`] and `t_uac_dlg` calls
    /// [`UAC_DLG_MIN_TIMEOUT`]. A `t_uac_dlg` timeout shorter than OpenSIPS's transaction timer
    /// gives up before a dead phone's `408`; [`Client::with_uac_dlg_timeout`] sets that one
    /// apart. Any duration, `Duration::MAX` included, is accepted (a deadline past what the
    /// clock can represent waits as long as it can).
    pub fn with_timeout(mut self, timeout: Duration) -> Client {
        self.timeout = Some(timeout);
        self
    }

    /// Calls `observer` with the bytes of every request as sent and every reply as received
    /// (an HTTP reply: its head, then its body), e.g. to show them to a person.
    pub fn with_observer(
        mut self,
        observer: impl Fn(Direction, &[u8]) + Send + Sync + 'static,
    ) -> Client {
        self.wiretap = Wiretap::new(observer);
        self
    }

    /// Sets the timeout of `t_uac_dlg` calls, whatever [`Client::with_timeout`] says.
    pub fn with_uac_dlg_timeout(mut self, timeout: Duration) -> Client {
        self.uac_dlg_timeout = Some(timeout);
        self
    }

    /// The timeout a call of `command` gets: for `t_uac_dlg` its own timeout if set, then the
    /// timeout of every call if set, then the default (35 s for `t_uac_dlg`, 5 s otherwise).
    pub fn timeout_for(&self, command: &str) -> Duration {
        let uac_dlg = command == T_UAC_DLG;
        let own = if uac_dlg { self.uac_dlg_timeout } else { None };
        let default = if uac_dlg { UAC_DLG_MIN_TIMEOUT } else { DEFAULT_TIMEOUT };
        own.or(self.timeout).unwrap_or(default)
    }

    /// Runs an MI command and returns its result; an MI error is [`Error::Mi`].
    pub fn command(&self, name: &str, params: impl Into<Params>) -> Result<Reply, Error> {
        self.command_with_timeout(name, params, self.timeout_for(name))
    }

    /// Runs an MI command with a timeout for this call only.
    pub fn command_with_timeout(
        &self,
        name: &str,
        params: impl Into<Params>,
        timeout: Duration,
    ) -> Result<Reply, Error> {
        let request = Request::new(self.ids.next_id(), name, params.into())?;
        self.transport.call(&request, timeout, &self.wiretap)
    }

    /// Sends a SIP request with `t_uac_dlg`. The reply's result holds the SIP outcome:
    /// `{"Status":"200 OK","Message":"<reply headers>"}`, or `{"Status":"408 Request Timeout"}`.
    pub fn uac_dlg(&self, request: &UacDlg) -> Result<Reply, Error> {
        self.command(T_UAC_DLG, request.to_params()?)
    }

    /// Sends a NOTIFY with a vendor event (see [`event::VENDOR_EVENTS`]) or a literal event.
    pub fn event_notify(
        &self,
        uri: &str,
        event: &str,
        extra_headers: &[(String, String)],
    ) -> Result<Reply, Error> {
        self.uac_dlg(&event::event_notify(uri, event, extra_headers)?)
    }

    /// Sends a message-summary NOTIFY to update a phone's voicemail lamp.
    pub fn mwi_update(
        &self,
        uri: &str,
        account: &str,
        counts: &MessageCounts,
    ) -> Result<Reply, Error> {
        self.uac_dlg(&mwi::mwi_update(uri, account, counts)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Client {
        Client::new(Endpoint::Datagram("127.0.0.1:9".into())).unwrap()
    }

    #[test]
    fn uac_dlg_waits_35_seconds_unless_told() {
        assert_eq!(client().timeout_for(T_UAC_DLG), UAC_DLG_MIN_TIMEOUT);
        let short = client().with_timeout(Duration::from_secs(2));
        assert_eq!(short.timeout_for("uptime"), Duration::from_secs(2));
        assert_eq!(short.timeout_for(T_UAC_DLG), Duration::from_secs(2));
        let both = short.with_uac_dlg_timeout(Duration::from_secs(40));
        assert_eq!(both.timeout_for(T_UAC_DLG), Duration::from_secs(40));
        assert_eq!(both.timeout_for("uptime"), Duration::from_secs(2));
        let long = client().with_timeout(Duration::from_secs(60));
        assert_eq!(long.timeout_for(T_UAC_DLG), Duration::from_secs(60));
        let explicit = client().with_uac_dlg_timeout(Duration::from_millis(200));
        assert_eq!(explicit.timeout_for(T_UAC_DLG), Duration::from_millis(200));
        assert_eq!(client().timeout_for("which"), DEFAULT_TIMEOUT);
    }

    #[test]
    fn huge_timeouts_are_kept_and_saturate_per_call() {
        let client = client().with_timeout(Duration::MAX);
        assert_eq!(client.timeout_for("uptime"), Duration::MAX);
        assert_eq!(client.timeout_for(T_UAC_DLG), Duration::MAX);
    }

    #[test]
    fn clients_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Client>();
    }

    #[test]
    fn bad_endpoints_are_refused_up_front() {
        for endpoint in [
            Endpoint::Datagram("127.0.0.1".into()),
            Endpoint::Datagram("127.0.0.1:99999".into()),
            Endpoint::Datagram("127.0.0.1:0".into()),
            Endpoint::Datagram("127.0.0.1:+80".into()),
            Endpoint::Http("https://127.0.0.1/mi".into()),
            Endpoint::Http("http://127.0.0.1:abc/mi".into()),
            Endpoint::XmlRpc("http://127.0.0.1:99999/RPC2".into()),
            Endpoint::XmlRpc("not a url".into()),
        ] {
            assert!(matches!(Client::new(endpoint), Err(Error::InvalidInput(_))));
        }
    }
}
