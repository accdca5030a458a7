//! `ctisave`: save every CTI message that goes through, one file per direction, each message
//! pretty-printed with sorted keys so that two captures compare with vimdiff.
//!
//! Pipeline: `strip` → `include` → `exclude` (each only when given) → `save` (classic
//! format).

use clap::Parser;

use super::{entry, ClassicCommand, CommonArgs, FilterArgs};

const EXAMPLES: &str = "\
Examples:
  ctisave xivo.example.com client.txt server.txt
      Listen on port 50030, forward to xivo.example.com:5003, write what the client sends to
      client.txt and what the server sends to server.txt (both are truncated first).
  ctisave xivo.example.com c1.txt s1.txt -s timenow -s commandid -s replyid
      Without the fields that change from one run to the next, so that a second capture
      (c2.txt, s2.txt) of the same scenario compares with `vimdiff s1.txt s2.txt`.
  ctisave xivo.example.com c.txt s.txt -i class=getlist --loop
      Only getlist messages, for one client after another until Ctrl-C.";

/// The `ctisave` command line.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "ctisave",
    version,
    infer_long_args = true,
    about = "Save a CTI connection: forward a CTI client to its server and write the messages \
             of each direction to a file.",
    after_help = EXAMPLES
)]
pub struct Save {
    /// Server, listen address, --loop, -v.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Where the messages the client sends (client > server) are written.
    #[arg(value_name = "CLIENT_FILE")]
    pub client_file: String,
    /// Where the messages the server sends (server > client) are written.
    #[arg(value_name = "SERVER_FILE")]
    pub server_file: String,
    /// Strip, include, exclude.
    #[command(flatten)]
    pub filters: FilterArgs,
}

impl ClassicCommand for Save {
    const NAME: &'static str = "ctisave";

    fn common(&self) -> &CommonArgs {
        &self.common
    }

    fn pipeline(&self) -> Vec<toml::Table> {
        let mut pipeline = self.filters.entries();
        pipeline.push(entry(
            "save",
            [
                ("format", "classic".into()),
                ("client_file", self.client_file.clone().into()),
                ("server_file", self.server_file.clone().into()),
            ],
        ));
        pipeline
    }
}
