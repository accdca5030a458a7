//! An observer of the bytes each call sends and receives, set per client, so a caller can show
//! them (the command line's `-v`) without the library depending on a logger or holding any
//! global state.

use std::fmt;
use std::sync::Arc;

/// Which way the bytes given to an observer went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// A request as written: the datagram, the whole HTTP request, the FIFO line.
    Sent,
    /// A reply as read: the datagram, the HTTP head and then the body, the FIFO content.
    Received,
}

type Observer = dyn Fn(Direction, &[u8]) + Send + Sync;

/// A client's observer, if any; cloning shares it.
#[derive(Clone, Default)]
pub(crate) struct Wiretap(Option<Arc<Observer>>);

impl Wiretap {
    pub(crate) fn new(observer: impl Fn(Direction, &[u8]) + Send + Sync + 'static) -> Wiretap {
        Wiretap(Some(Arc::new(observer)))
    }

    pub(crate) fn sent(&self, bytes: &[u8]) {
        self.observe(Direction::Sent, bytes);
    }

    pub(crate) fn received(&self, bytes: &[u8]) {
        self.observe(Direction::Received, bytes);
    }

    fn observe(&self, direction: Direction, bytes: &[u8]) {
        if let Some(observer) = &self.0 {
            observer(direction, bytes);
        }
    }
}

impl fmt::Debug for Wiretap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "Wiretap(observed)" } else { "Wiretap(off)" })
    }
}
