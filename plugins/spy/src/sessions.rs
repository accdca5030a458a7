//! Tells whether the output mixes sessions, so headers need to say which one a message is from.

/// Remembers the first session seen and whether any other one appeared since.
#[derive(Debug, Default)]
pub struct SessionTracker {
    first: Option<u64>,
    several: bool,
}

impl SessionTracker {
    /// Notes that `session_id` exists (it started or sent a message).
    pub fn see(&mut self, session_id: u64) {
        match self.first {
            None => self.first = Some(session_id),
            Some(first) => self.several |= first != session_id,
        }
    }

    /// True once more than one session has been seen in this process.
    pub fn several(&self) -> bool {
        self.several
    }
}
