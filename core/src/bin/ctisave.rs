//! `ctisave`, the classic command: saves the CTI messages between a client and its server,
//! one file per direction.
//! Everything but parsing lives in [`ctiproxy::classic`].

use std::process::ExitCode;

use ctiproxy::classic::{self, save::Save};

fn main() -> ExitCode {
    classic::main::<Save>()
}
