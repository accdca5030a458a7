//! `ctistat`, the classic command: prints statistics on the CTI messages between a client and
//! its server.
//! Everything but parsing lives in [`ctiproxy::classic`].

use std::process::ExitCode;

use ctiproxy::classic::{self, stat::Stat};

fn main() -> ExitCode {
    classic::main::<Stat>()
}
