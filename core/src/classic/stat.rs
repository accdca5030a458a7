//! `ctistat`: statistics on a CTI connection, printed when the client leaves (and, with
//! `--loop`, totals at Ctrl-C).
//!
//! Pipeline: `stats`, with `show` = `msg`, `network` or `all`, and `format = "classic"`: the
//! original's own lines, unless `--format` asks for the table or JSON.

use clap::{Parser, ValueEnum};

use super::{entry, ClassicCommand, CommonArgs};

const EXAMPLES: &str = "\
Examples:
  ctistat xivo.example.com
      Listen on port 50030, forward to xivo.example.com:5003, and when the client leaves
      print the messages per class sent by each side, then the network figures, as the
      original ctistat printed them.
  ctistat xivo.example.com -m
      Only the message counts per class (`class count` lines), most frequent first.
  ctistat xivo.example.com -n --loop
      Only the network figures (running time, bytes, estimated packets and wire bytes,
      totals, headers overhead, rates), for each client in turn; Ctrl-C prints the totals.
  ctistat xivo.example.com --format table
      Aligned tables, with messages per second, request > reply latency per class, oversize
      lines and events dropped by a full queue.";

/// The `ctistat` command line.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "ctistat",
    version,
    infer_long_args = true,
    about = "Statistics on a CTI connection: forward a CTI client to its server and count what \
             goes through.",
    after_help = EXAMPLES
)]
pub struct Stat {
    /// Server, listen address, --loop, -v.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Only the messages per class and direction (default: messages and network).
    #[arg(short, long, conflicts_with = "network")]
    pub msg: bool,
    /// Only the network figures: running time, application bytes, estimated packets and wire
    /// bytes (50 bytes of headers per read), rates (default: messages and network).
    #[arg(short, long)]
    pub network: bool,
    /// How the statistics look.
    #[arg(long, value_enum, value_name = "F", default_value_t = StatFormat::Classic)]
    pub format: StatFormat,
}

/// `--format`: the stats plugin's `format`, named for what ctistat users see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatFormat {
    /// The original ctistat's lines: `class count` lists, `Label:<tab>value` figures.
    Classic,
    /// Aligned tables, plus messages/s, latency per class, oversize and dropped counts.
    Table,
    /// One JSON object per report, on one line, with everything the table has.
    Json,
}

impl StatFormat {
    /// The stats plugin's name for it.
    pub fn plugin_format(self) -> &'static str {
        match self {
            StatFormat::Classic => "classic",
            StatFormat::Table => "text",
            StatFormat::Json => "json",
        }
    }
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
        vec![entry(
            "stats",
            [("show", show.into()), ("format", self.format.plugin_format().into())],
        )]
    }
}
