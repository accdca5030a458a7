//! ctiproxy: a capture-and-analysis proxy for the XiVO/Wazo CTI protocol.
//!
//! A CTI client connects to the [`proxy`]; each connection becomes a [`session`] that dials the
//! CTI server and forwards every byte unchanged, both ways at once. A copy of each direction is
//! split into lines by the [`framer`] and queued as [`event`]s for the [`pipeline`], a chain of
//! plugins found and checked by the [`loader`] and configured by the [`config`]. The plugins talk
//! back through the [`host`] services, and [`metrics`] serves what they all do to Prometheus. [`app`] assembles all of it for every command;
//! [`demo`] replays a recorded session through it with no CTI server at all, and [`replay`] runs
//! a pipeline over captures instead of live sockets.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod app;
pub mod budget;
pub mod classic;
pub mod config;
pub mod demo;
pub mod event;
pub mod framer;
pub mod host;
pub mod leg;
pub mod loader;
pub mod logging;
pub mod metrics;
pub mod partials;
pub mod pipeline;
pub mod proxy;
pub mod read_buffers;
pub mod replay;
pub mod session;
pub mod stop_signal;
pub mod tls;
