//! The command line (clap) and its conversion into the plain configuration the library sees.

use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum, ValueHint};
use clap_complete::Shell;

use tcpflow_audit::audit::Config;
use tcpflow_audit::capture::Input;
use tcpflow_audit::plot::PlotKind;
use tcpflow_audit::report::html::DRAWN_BY_DEFAULT;
use tcpflow_audit::rules::Rule;
use tcpflow_audit::select::{Selection, TopKey, parse_net};
use tcpflow_audit::track::budget::{Budget, parse_size};
use tcpflow_audit::track::{SketchSelect, TimelineSelect, TrackOptions};

#[derive(Parser, Debug)]
#[command(
    name = "tcpflow-audit",
    version,
    about = "The TCP story of every connection in a pcap/pcapng capture: handshakes, per-endpoint states, retransmissions, TIME_WAIT.",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub opts: Opts,
}

#[derive(Subcommand, Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "parsed once per run; boxing would only complicate the clap derive"
)]
pub enum Command {
    /// TIME_WAIT report: who closes first, how many sockets each endpoint holds, reuse, diagnosis.
    TimeWait(Opts),
    /// Draw one graph as a standalone SVG on stdout: tsg, ladder, rtt, throughput (with --conn N) or time-wait.
    Plot(PlotArgs),
    /// Print a completion script for SHELL on stdout, e.g. `tcpflow-audit completions bash`.
    #[command(hide = true)]
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print the man page (roff) on stdout, e.g. `tcpflow-audit man > tcpflow-audit.1`.
    #[command(hide = true)]
    Man,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Jsonl,
    Csv,
    /// Parquet files in the `--output` directory: connections, TIME_WAIT endpoints and hosts.
    Parquet,
    /// One self-contained page: the findings and the pictures of the drawn connections.
    Html,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlotKindArg {
    /// Time-sequence graph (sequence numbers, ACK line, window, SACK, marked segment classes).
    Tsg,
    /// Ladder of the handshake and close with each endpoint's states.
    Ladder,
    /// RTT samples, SRTT and RTO over time.
    Rtt,
    /// Bits per second each side sent and had acknowledged.
    Throughput,
    /// TIME_WAIT sockets held over the capture per server endpoint and per host.
    TimeWait,
}

#[derive(Args, Debug)]
pub struct PlotArgs {
    /// What to draw.
    #[arg(value_enum)]
    pub kind: PlotKindArg,
    #[command(flatten)]
    pub opts: Opts,
}

#[derive(Args, Debug)]
pub struct Opts {
    /// Capture files (pcap or pcapng, optionally gzip-compressed), read as one capture merged in
    /// timestamp order; `-` reads standard input.
    #[arg(value_name = "CAPTURE", value_hint = ValueHint::FilePath, required_unless_present = "read")]
    pub captures: Vec<String>,

    /// Capture file, as tcpdump and tshark take it (`-r FILE`; repeatable, read with the others).
    #[arg(short = 'r', long = "read", value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub read: Vec<String>,

    /// List every connection in the table, in id order (by default the 40 with the most anomalies).
    #[arg(long)]
    pub all: bool,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Print the per-segment timeline (ladder) of every selected connection.
    #[arg(long)]
    pub timeline: bool,

    /// Select connection ID (repeatable); in table output its timeline is printed.
    #[arg(long = "conn", value_name = "ID")]
    pub conns: Vec<u32>,

    /// TIME_WAIT duration: seconds (`60`, `60s`, `2m`, `500ms`) or an OS profile: linux, bsd (60 s), windows, rfc (240 s).
    #[arg(long = "time-wait", value_name = "DURATION", default_value = "linux")]
    pub time_wait: String,

    /// An endpoint in TIME_WAIT ignores an in-window RST (RFC 1337, Linux `net.ipv4.tcp_rfc1337 = 1`); by default it closes, as Linux does.
    #[arg(long)]
    pub rfc1337: bool,

    /// Track connections by 4-tuple alone, ignoring 802.1Q/QinQ VLAN IDs (for captures where one direction is tagged and the other is not).
    #[arg(long)]
    pub ignore_vlan: bool,

    /// Send every segment down the full analysis, none by header prediction (the short path of in-order data and plain ACKs in ESTABLISHED): slower, with the same output; for checking that it is the same.
    #[arg(long)]
    pub no_prediction: bool,

    /// Bound on connection state, reckoned at 3 KiB a working connection, 256 bytes one that sent only a SYN and a frozen one (closed and lingering, or finished and kept for the report) at its size plus 160 bytes (`512M`, `2G`); past it the least recently seen half-open and closed connections are evicted first, counted in `capture.evicted_connections` but not reported one by one.
    #[arg(long = "memory-limit", value_name = "SIZE", default_value = "512M", value_parser = parse_size)]
    pub memory_limit: u64,

    /// Threads: above 1, the capture is read and decoded on a thread of its own beside the analysis (the output is the same). Default: the cores, at most 8; `1` for one thread.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,

    /// Hold at most N connections at once (tracked, or finished and waiting for the report); past it, evict as for `--memory-limit`.
    #[arg(long = "max-connections", value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: Option<u64>,

    /// Exit with code 1 if RULE matches, e.g. `retransmissions>0`, `outcome=REJ`, `server_time_wait_peak>=1000` (repeatable; `--help` lists the fields).
    #[arg(long = "fail-on", value_name = "RULE")]
    pub fail_on: Vec<String>,

    /// Only connections with an endpoint at this address (repeatable).
    #[arg(long = "host", value_name = "IP")]
    pub hosts: Vec<IpAddr>,

    /// Only connections with an endpoint on this port (repeatable).
    #[arg(long = "port", value_name = "PORT")]
    pub ports: Vec<u16>,

    /// Only connections with an endpoint in this network, e.g. 10.0.0.0/8 (repeatable).
    #[arg(long = "net", value_name = "CIDR")]
    pub nets: Vec<String>,

    /// Only connections with anomalies.
    #[arg(long)]
    pub anomalies_only: bool,

    /// Only the N connections with the largest `--top-by` count.
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,

    /// The count `--top` ranks by: retransmissions, dup_acks, packets, bytes, duration, anomalies.
    #[arg(long = "top-by", value_name = "KEY", default_value = "retransmissions")]
    pub top_by: String,

    /// Stamp every connection and TIME_WAIT record with NAME (e.g. the host name), so the
    /// outputs of many hosts can be joined (json, jsonl, csv, parquet).
    #[arg(long, value_name = "NAME")]
    pub label: Option<String>,

    /// Directory for `--format parquet` (created if missing).
    #[arg(short = 'o', long = "output", value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub output: Option<PathBuf>,

    /// Write the frames of the selected connections (--conn, --host, --port, --net) to FILE,
    /// a pcap, unchanged.
    #[arg(long = "write-pcap", value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub write_pcap: Option<PathBuf>,

    /// No warnings, rule reports or progress bar on stderr.
    #[arg(short, long)]
    pub quiet: bool,

    /// Pretty-print the JSON document (the default on a terminal; elsewhere it is compact, one
    /// connection per line).
    #[arg(long)]
    pub pretty: bool,
}

/// What the command line asks for.
pub enum Action {
    Audit(Box<Plan>),
    /// A generated text for stdout (completion script, man page).
    Print(Vec<u8>),
}

/// Everything main needs, validated.
pub struct Plan {
    /// One or more capture files, read as one capture.
    pub inputs: Vec<Input>,
    /// Where `--format parquet` writes its files.
    pub output: Option<PathBuf>,
    pub write_pcap: Option<PathBuf>,
    pub config: Config,
    pub selection: Selection,
    pub rules: Vec<Rule>,
    pub format: Format,
    pub time_wait_only: bool,
    /// `plot KIND`: the graph to draw instead of a report.
    pub plot: Option<PlotKind>,
    pub show_timelines: bool,
    pub quiet: bool,
    /// Every connection in the table, not the 40 with the most anomalies.
    pub all: bool,
    /// Filters were given: an empty selection is worth saying.
    pub filtered: bool,
    pub pretty: bool,
}

pub fn parse_duration(s: &str) -> Result<f64> {
    let secs = match s.to_ascii_lowercase().as_str() {
        "linux" | "bsd" => 60.0,
        "windows" | "rfc" => 240.0,
        other => {
            let (num, unit) = match other.strip_suffix("ms") {
                Some(n) => (n, 0.001),
                None => match other.strip_suffix('s') {
                    Some(n) => (n, 1.0),
                    None => match other.strip_suffix('m') {
                        Some(n) => (n, 60.0),
                        None => (other, 1.0),
                    },
                },
            };
            let v: f64 = num.trim().parse().ok().with_context(|| {
                format!("--time-wait '{s}': not a duration or profile; accepted: seconds (60, 60s, 2m, 500ms) or linux, bsd (60 s), windows, rfc (240 s)")
            })?;
            v * unit
        }
    };
    if !(secs.is_finite() && secs > 0.0) {
        bail!("--time-wait '{s}': must be positive");
    }
    Ok(secs)
}

/// The `--fail-on` fields, from the registry and the capture-wide list, for `--help`, the man
/// page and the error on an unknown field.
pub fn fail_on_help() -> String {
    format!(
        "Exit with code 1 if RULE matches (repeatable): FIELD OP VALUE with OP one of > >= < <= = !=, e.g. `retransmissions>0`, `client.dup_acks>=10`, `outcome=REJ`, `server_time_wait_peak>=1000`. A matched rule prints on stderr which connections broke it.\n\n{}",
        Rule::fields_help()
    )
}

/// The command definition with the help texts built at run time (the `--fail-on` fields).
pub fn command() -> clap::Command {
    let help = fail_on_help();
    Cli::command()
        .mut_arg("fail_on", |a| a.long_help(help.clone()))
        .mut_subcommand("time-wait", |c| {
            c.mut_arg("fail_on", |a| a.long_help(help.clone()))
        })
}

/// The completion script for `shell`, generated from the clap definition.
pub fn completions(shell: Shell) -> Vec<u8> {
    let mut cmd = command();
    let name = cmd.get_name().to_string();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, name, &mut out);
    out
}

/// The man page (section 1, roff), generated from the clap definition: clap_mangen's sections,
/// with the `time-wait` command and the exit codes described here instead of a reference to a
/// separate page.
pub fn man_page() -> Result<Vec<u8>> {
    let man = clap_mangen::Man::new(command());
    let mut out = Vec::new();
    let render = |out: &mut Vec<u8>| -> std::io::Result<()> {
        man.render_title(out)?;
        man.render_name_section(out)?;
        man.render_synopsis_section(out)?;
        man.render_description_section(out)?;
        man.render_options_section(out)?;
        out.extend_from_slice(MAN_COMMANDS_AND_EXIT_STATUS.as_bytes());
        out.extend_from_slice(MAN_EXAMPLES.as_bytes());
        man.render_version_section(out)
    };
    render(&mut out).context("cannot render the man page")?;
    Ok(out)
}

const MAN_COMMANDS_AND_EXIT_STATUS: &str = r#".SH COMMANDS
.TP
\fBtcpflow\-audit time\-wait\fR [\fIOPTIONS\fR] <\fICAPTURE\fR>
The TIME_WAIT report only: who closes first, how many sockets each endpoint holds in TIME_WAIT
and when, 4\-tuple reuse during TIME_WAIT, and a diagnosis. Takes the options above.
.TP
\fBtcpflow\-audit plot\fR \fIKIND\fR [\fB\-\-conn\fR \fIID\fR] [\fIOPTIONS\fR] <\fICAPTURE\fR>
One graph as a standalone SVG on standard output: \fBtsg\fR (time\-sequence graph),
\fBladder\fR, \fBrtt\fR, \fBthroughput\fR (each of the connection named by \fB\-\-conn\fR) or
\fBtime\-wait\fR (TIME_WAIT sockets held over the capture).
.TP
\fBtcpflow\-audit completions\fR <\fISHELL\fR>
Print a completion script for bash, zsh, fish, powershell or elvish on standard output.
.TP
\fBtcpflow\-audit man\fR
Print this page on standard output.
.SH "EXIT STATUS"
.TP
\fB0\fR
The capture was analysed (also when it was cut short: a warning says where).
.TP
\fB1\fR
A \fB\-\-fail\-on\fR rule matched; the matching connections are named on standard error.
.TP
\fB2\fR
The capture is unusable (missing, a directory, empty, not a capture, bad header) or the command
line is wrong; one line on standard error.
"#;

const MAN_EXAMPLES: &str = r#".SH EXAMPLES
.TP
\fBtcpflow\-audit capture.pcap\fR
The report, answer first: the capture, the findings (totals, each anomaly kind and the
connections with the most of it), patterns, the TIME_WAIT diagnosis, then the 40 connections
with the most anomalies, sized to the terminal.
.TP
\fBtcpflow\-audit \-r capture.pcap \-\-all | less \-S\fR
Every connection, one line each, in id order.
.TP
\fBtcpflow\-audit capture.pcap \-\-conn 17\fR
The timeline (ladder) of connection 17: every segment, its class and the state changes.
.TP
\fBtcpflow\-audit capture.pcap \-\-host 10.0.0.5 \-\-anomalies\-only \-\-format csv\fR
The connections of one host that had anomalies, as CSV.
.TP
\fBtcpflow\-audit time\-wait \-\-time\-wait windows capture.pcapng\fR
Who holds TIME_WAIT, per host and per endpoint, with a 240 s TIME_WAIT.
.TP
\fBtcpflow\-audit capture.pcap \-q \-\-fail\-on 'rto_retransmissions>0' \-\-fail\-on 'host_time_wait_peak>=20000'\fR
For CI: exit 1 when a connection had an RTO or a host held 20,000 TIME_WAIT sockets at once.
.TP
\fBtcpdump \-U \-w \- \-i eth0 | tcpflow\-audit \-\-format jsonl \-\fR
Each connection as a JSON line as soon as it is finished.
"#;

impl Cli {
    pub fn into_action(self) -> Result<Action> {
        let (opts, time_wait_only) = match self.command {
            Some(Command::Completions { shell }) => return Ok(Action::Print(completions(shell))),
            Some(Command::Man) => return man_page().map(Action::Print),
            Some(Command::TimeWait(o)) => (o, true),
            Some(Command::Plot(p)) => {
                return Self::plot_plan(p).map(|p| Action::Audit(Box::new(p)));
            }
            None => (self.opts, false),
        };
        Self::plan(opts, time_wait_only).map(|p| Action::Audit(Box::new(p)))
    }

    fn plot_plan(p: PlotArgs) -> Result<Plan> {
        let kind = match p.kind {
            PlotKindArg::Tsg => PlotKind::Tsg,
            PlotKindArg::Ladder => PlotKind::Ladder,
            PlotKindArg::Rtt => PlotKind::Rtt,
            PlotKindArg::Throughput => PlotKind::Throughput,
            PlotKindArg::TimeWait => PlotKind::TimeWait,
        };
        if kind != PlotKind::TimeWait && p.opts.conns.len() != 1 {
            bail!("plot: name the connection to draw with one --conn ID");
        }
        let mut plan = Self::plan(p.opts, false)?;
        plan.config.sketches = if kind == PlotKind::TimeWait {
            SketchSelect::None
        } else {
            SketchSelect::Ids(plan.selection.ids.clone())
        };
        plan.plot = Some(kind);
        Ok(plan)
    }

    fn plan(opts: Opts, time_wait_only: bool) -> Result<Plan> {
        let files: Vec<String> = opts.read.iter().chain(&opts.captures).cloned().collect();
        if files.is_empty() {
            bail!("a capture file is required (tcpflow-audit FILE, or -r FILE)");
        }
        if files.iter().filter(|c| *c == "-").count() > 1 {
            bail!("standard input ('-') can be given only once");
        }
        match (opts.format, &opts.output) {
            (Format::Parquet, None) => {
                bail!("--format parquet writes files: give their directory with -o DIR")
            }
            (Format::Parquet, Some(_)) => {}
            (_, Some(_)) => bail!("-o DIR is for --format parquet; other formats go to stdout"),
            (_, None) => {}
        }
        if opts.write_pcap.is_some() && (opts.anomalies_only || opts.top.is_some()) {
            bail!(
                "--write-pcap selects connections by --conn, --host, --port and --net as their frames are read; --anomalies-only and --top are known only at the end and cannot choose its frames"
            );
        }
        if opts.label.as_deref().is_some_and(str::is_empty) {
            bail!("--label: give a non-empty name");
        }
        let time_wait_s = parse_duration(&opts.time_wait)?;
        let rules = opts
            .fail_on
            .iter()
            .map(|r| Rule::parse(r))
            .collect::<Result<Vec<_>, _>>()?;
        let mut nets = Vec::new();
        for n in &opts.nets {
            nets.push(
                parse_net(n)
                    .with_context(|| format!("--net '{n}': not a network like 10.0.0.0/8"))?,
            );
        }
        let top_key = TopKey::parse(&opts.top_by).with_context(|| format!("--top-by '{}': not one of retransmissions, dup_acks, packets, bytes, duration, anomalies", opts.top_by))?;
        let filtered = !opts.hosts.is_empty()
            || !opts.ports.is_empty()
            || !opts.nets.is_empty()
            || !opts.conns.is_empty()
            || opts.anomalies_only;
        if time_wait_only && opts.format == Format::Jsonl {
            bail!("time-wait: --format table, json or csv (the TIME_WAIT report is one document)");
        }
        let show_timelines = opts.timeline || !opts.conns.is_empty();
        let timeline = if opts.timeline {
            TimelineSelect::All
        } else if !opts.conns.is_empty() && opts.format == Format::Table {
            TimelineSelect::Ids(opts.conns.clone())
        } else {
            TimelineSelect::None
        };
        // The page draws the connections of --conn, else the most anomalous: their sketches are
        // kept while reading, except under --top, which chooses them only at the end (a second
        // pass records those).
        let sketches = match (opts.format, opts.conns.is_empty(), opts.top) {
            _ if time_wait_only => SketchSelect::None,
            (Format::Html, false, _) => SketchSelect::Ids(opts.conns.clone()),
            (Format::Html, true, None) => SketchSelect::MostAnomalous(DRAWN_BY_DEFAULT),
            _ => SketchSelect::None,
        };
        Ok(Plan {
            inputs: files.iter().map(|c| Input::from_arg(c)).collect(),
            output: opts.output,
            write_pcap: opts.write_pcap,
            config: Config {
                time_wait_s,
                timeline,
                sketches,
                label: opts.label,
                track: TrackOptions {
                    rfc1337: opts.rfc1337,
                    ignore_vlan: opts.ignore_vlan,
                    full_path: opts.no_prediction,
                },
                budget: Budget {
                    memory_bytes: opts.memory_limit,
                    max_connections: opts.max_connections,
                },
                threads: match opts.threads {
                    Some(n) => usize::from(n),
                    None => std::thread::available_parallelism().map_or(1, |n| n.get().min(8)),
                },
            },
            selection: Selection {
                hosts: opts.hosts,
                ports: opts.ports,
                nets,
                ids: opts.conns,
                anomalies_only: opts.anomalies_only,
                top: opts.top.map(|n| (n, top_key)),
            },
            rules,
            format: opts.format,
            time_wait_only,
            plot: None,
            show_timelines,
            quiet: opts.quiet,
            all: opts.all || opts.top.is_some(),
            filtered,
            pretty: opts.pretty,
        })
    }
}
