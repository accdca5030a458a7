//! The OpenSIPS Management Interface (MI) client of ctiproxy: a library for the MI plugin and
//! the `ctiproxy mi` command line.
//!
//! It speaks JSON-RPC 2.0 over mi_datagram (UDP), mi_http and mi_fifo, and XML-RPC over
//! mi_xmlrpc_ng, the way a real OpenSIPS 3.5 does on each (replies over 1500 bytes, plain-text
//! `400 Parse_error` datagrams, HTTP errors that never send their body, FIFO reply deadlines,
//! XML-RPC named parameters as one struct, CR sent as `&#13;`). It is synchronous (std sockets
//! and FIFOs, no runtime) so the plugin can call it from its own worker thread.
//!
//! On top of `t_uac_dlg` it builds SIP requests ([`UacDlg`]), vendor check-sync NOTIFYs
//! ([`event::event_notify`]) and message-waiting NOTIFYs ([`mwi::mwi_update`]), refusing any
//! header value, URI or event with a control character before anything is sent.
//!
//! Built as a `cdylib` too, it is the `mi` pipeline plugin ([`plugin`]): rules that turn CTI
//! events into these commands, with the CTI state learnt from the traffic.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cli;
mod client;
mod depth;
mod error;
pub mod event;
#[doc(hidden)]
pub mod fuzzing;
pub mod mwi;
pub mod plugin;
mod request;
mod response;
mod sip_status;
#[cfg(feature = "test-server")]
pub mod test_server;
mod transport;
mod uac;
mod wiretap;
mod xml_value;

pub use client::{Client, DEFAULT_TIMEOUT, UAC_DLG_MIN_TIMEOUT};
pub use error::{Error, MiError};
pub use event::{resolve_event, VENDOR_EVENTS};
pub use mwi::MessageCounts;
pub use request::{IdSource, Params, Request};
pub use response::Reply;
pub use sip_status::SipStatus;
pub use transport::datagram::MAX_REQUEST as MAX_DATAGRAM_REQUEST;
pub use transport::fifo::{DEFAULT_REPLY_DIR, MAX_REQUEST_LINE as MAX_FIFO_REQUEST_LINE};
pub use transport::xmlrpc::method_call as xmlrpc_method_call;
pub use transport::Endpoint;
pub use uac::{check_text, random_tag, UacDlg, T_UAC_DLG};
pub use wiretap::Direction;

ctiproxy_plugin_api::export_plugin!(plugin::MiRules);
