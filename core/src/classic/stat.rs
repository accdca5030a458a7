//! `ctistat`: statistics on a CTI connection, printed when the client leaves (and, with
//! `--loop`, totals at Ctrl-C).
//!
//! Pipeline: `stats`, with `show` = `msg`, `network` or `all`.

use clap::Parser;

use super::{entry, ClassicCommand, CommonArgs};

const EXAMPLES: &str = "\
Examples:
  ctistat xivo.example.com
      Listen on port 50030, forward to xivo.example.com:5003, and when the client leaves
      print messages per class and direction, network figures, messages per second and
      request > reply latency per class.
  ctistat xivo.example.com -m
      Only the message counts per class and direction, most frequent first.
  ctistat xivo.example.com -n --loop
      Only the network figures (running time, bytes, estimated packets and wire bytes,
      rates), for each client in turn; Ctrl-C prints the totals of all of them.";

/// The `ctistat` command line.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "ctistat",
    version,
    about = "Statistics on a CTI connection: forward a CTI client to its server and count what \
             goes through.",
    after_help = EXAMPLES
)]
pub struct Stat {
    /// Server, listen address, --loop, -v.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Only the messages per class and direction (default: everything).
    #[arg(short, long, conflicts_with = "network")]
    pub msg: bool,
    /// Only the network figures: running time, application bytes, estimated packets and wire
    /// bytes (50 bytes of headers per read), rates (default: everything).
    #[arg(short, long)]
    pub network: bool,
}

impl ClassicCommand for Stat {
    const NAME: &'static str = "ctistat";

    fn common(&self) -> &CommonArgs {
        &self.common
    }

    fn pipeline(&self) -> Vec<toml::Table> {
        let show = match (self.msg, self.network) {
            (true, _) => "msg",
            (_, true) => "network",
            _ => "all",
        };
        vec![entry("stats", [("show", show.into())])]
    }
}
