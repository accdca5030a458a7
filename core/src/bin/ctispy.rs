//! `ctispy`, the classic command: prints every CTI message between a client and its server.
//! Everything but parsing lives in [`ctiproxy::classic`].

use std::process::ExitCode;

use ctiproxy::classic::{self, spy::Spy};

fn main() -> ExitCode {
    classic::main::<Spy>()
}
