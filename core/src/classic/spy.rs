//! `ctispy`: print every CTI message that goes through, under a timestamped direction header.
//!
//! Pipeline: `strip` → `include` → `exclude` (each only when given) → `spy`. When no
//! `--include`/`--exclude` key lies in or around a stripped field, which is the usual case
//! (`-s timenow -i class=getlist`), the spy leaves the fields out itself (its `strip` setting)
//! after the filters: the same output, without rewriting and indexing every message again.

use clap::Parser;

use super::{entry, ClassicCommand, CommonArgs, FilterArgs};

const EXAMPLES: &str = "\
Examples:
  ctispy xivo.example.com
      Listen on port 50030 and forward to xivo.example.com:5003; point the CTI client at
      this machine, port 50030. Each message is printed under a header such as
      `    14:08:32.215103 Client > Server` (the time its bytes arrived).
  ctispy xivo.example.com --pretty-print -s timenow -i class=getlist -i class=sheet
      Only getlist and sheet messages, indented, without their timenow field.
  ctispy 10.0.0.5 --port 5013 --no-client -e class=keepalive --loop
      What the server sends except keepalives, for one client after another.
  ctispy xivo.example.com --raw
      Each TCP read exactly as it came, nothing decoded.";

/// The `ctispy` command line.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "ctispy",
    version,
    infer_long_args = true,
    about = "Spy on a CTI connection: forward a CTI client to its server and print every \
             message exchanged.",
    after_help = EXAMPLES
)]
pub struct Spy {
    /// Server, listen address, --loop, -v.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Indent each JSON message by 4 spaces, one key per line (keys are always sorted).
    /// --raw wins when both are given.
    #[arg(long)]
    pub pretty_print: bool,
    /// Print what each TCP read carried, exactly as it came: no splitting into lines, no
    /// decoding, so --strip, --include and --exclude do not apply.
    #[arg(long)]
    pub raw: bool,
    /// Strip, include, exclude.
    #[command(flatten)]
    pub filters: FilterArgs,
    /// Do not print what the client sends (client > server).
    #[arg(long, conflicts_with = "no_server")]
    pub no_client: bool,
    /// Do not print what the server sends (server > client).
    #[arg(long)]
    pub no_server: bool,
}

/// What `--raw` with filters says.
pub const RAW_IGNORES_FILTERS: &str =
    "--raw prints each read undecoded; --strip/--include/--exclude do not apply";

/// What `--raw` with `--pretty-print` says.
pub const RAW_IGNORES_PRETTY: &str =
    "--raw prints each read undecoded; --pretty-print does not apply";

impl ClassicCommand for Spy {
    const NAME: &'static str = "ctispy";

    fn common(&self) -> &CommonArgs {
        &self.common
    }

    fn pipeline(&self) -> Vec<toml::Table> {
        // Filters need decoded lines; a raw read is neither, so they would only drop or pass
        // it blindly (include would hide everything).
        let (mut pipeline, strip) =
            if self.raw { (Vec::new(), Vec::new()) } else { self.filters.entries_printer_strips() };
        let mut spy = entry(
            "spy",
            [
                ("pretty", (self.pretty_print && !self.raw).into()),
                ("raw", self.raw.into()),
                ("client", (!self.no_client).into()),
                ("server", (!self.no_server).into()),
            ],
        );
        if !strip.is_empty() {
            spy.insert("strip".into(), strip.into());
        }
        pipeline.push(spy);
        pipeline
    }

    fn raw(&self) -> bool {
        self.raw
    }

    fn warnings(&self) -> Vec<&'static str> {
        // The original accepted both silently; saying so costs nothing and explains the output.
        let ignored = [
            (!self.filters.is_empty(), RAW_IGNORES_FILTERS),
            (self.pretty_print, RAW_IGNORES_PRETTY),
        ];
        ignored
            .into_iter()
            .filter(|(given, _)| self.raw && *given)
            .map(|(_, warning)| warning)
            .collect()
    }
}
