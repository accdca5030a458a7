//! The write half of one leg of a session, plain TCP or TLS: writing, and what a pump does
//! with it when the other leg was reset.

use tokio::io::{AsyncRead, AsyncWrite, WriteHalf};
use tokio::net::tcp::OwnedWriteHalf;

/// Where a pump writes.
pub trait WriteLeg: AsyncWrite + Unpin + Send {
    /// Passes the other leg's reset on, as far as the leg can.
    fn pass_reset(self);
}

impl WriteLeg for OwnedWriteHalf {
    /// A reset, not a clean end of stream: no FIN from this half, and the socket closes with
    /// linger 0 when the other direction lets go of it.
    fn pass_reset(self) {
        let _ = self.as_ref().set_zero_linger();
        self.forget();
    }
}

impl<S: AsyncRead + AsyncWrite + Send> WriteLeg for WriteHalf<S> {
    /// A TLS leg has no reset of its own: it ends without a close_notify when the other
    /// direction lets go of it, which its peer reports as a truncated stream, not a clean end.
    fn pass_reset(self) {}
}
