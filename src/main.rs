//! The thin binary: parse the command line, run the audit, write the chosen report, map the
//! outcome to an exit code (0 analysed, 1 a --fail-on rule matched, 2 unusable input).

mod cli;

use std::io::{self, IsTerminal, Write};
use std::ops::ControlFlow;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::FromArgMatches;
use indicatif::{HumanCount, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use cli::{Action, Cli, Format, Plan};
use tcpflow_audit::audit::{Audit, Hooks, audit_files};
use tcpflow_audit::capture::write::PcapWriter;
use tcpflow_audit::capture::{Frame, Input};
use tcpflow_audit::conn::Connection;
use tcpflow_audit::report::parquet::ParquetReport;
use tcpflow_audit::report::{self, Report, html, json};
use tcpflow_audit::track::{Drawable, SketchSelect};

fn main() -> ExitCode {
    // Colour only where a person reads a capable terminal: NO_COLOR and TERM=dumb always win
    // (clap alone would still colour a dumb terminal when CI is set).
    let plain = env_set("NO_COLOR") || std::env::var_os("TERM").is_some_and(|t| t == "dumb");
    let mut command = cli::command();
    if plain {
        command = command.color(clap::ColorChoice::Never);
    }
    let parsed = command
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let mut plan = match cli.into_action() {
        Ok(Action::Audit(plan)) => plan,
        Ok(Action::Print(text)) => return print(&text),
        Err(e) => {
            eprintln!("tcpflow-audit: {e:#}");
            return ExitCode::from(2);
        }
    };
    // Unless --conn chose them, the connections the page draws are known only at the end, and
    // some may have kept no sketch (those of --top, those opened while many were): the
    // drawing pass reads the capture again for them, so standard input is kept in a file.
    let stdin_given = plan.inputs.contains(&Input::Stdin);
    let _spool = if plan.format == Format::Html
        && plan.plot.is_none()
        && !matches!(plan.config.sketches, SketchSelect::Ids(_))
        && stdin_given
    {
        match html::spool_stdin() {
            Ok(spool) => {
                for input in &mut plan.inputs {
                    if *input == Input::Stdin {
                        *input = Input::Path(spool.path.clone());
                    }
                }
                Some(spool)
            }
            Err(e) => {
                eprintln!("tcpflow-audit: cannot keep standard input for drawing: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        None
    };
    // jsonl and parquet write each connection as it finishes, unless --top must see them all
    // first.
    let streaming = matches!(plan.format, Format::Jsonl | Format::Parquet)
        && plan.selection.top.is_none()
        && !plan.time_wait_only;
    let label = plan.config.label.as_deref();
    let mut matched = 0u64;
    let mut hits: Vec<Vec<u32>> = vec![Vec::new(); plan.rules.len()];
    let mut lines = report::stdout::Stdout::new();
    // Each line is flushed as it is written where someone may be reading as it comes: stdout
    // is a terminal, a pipe or a socket, or a capture read live from a pipe may keep the next
    // line (and the flush with it) waiting for traffic. Into a regular file or /dev/null from
    // capture files, the lines go in 64 KiB blocks: the pass runs flat out, and a system call
    // per line was a tenth of its time (40k connections).
    let flush_each = lines.reader_follows() || !plan.inputs.iter().all(Input::never_waits);
    let mut write_error: Option<io::Error> = None;
    // Output files are created when the first thing is written to them, so an unusable capture
    // leaves none behind.
    let mut parquet: Option<ParquetReport> = None;
    let mut pcap: Option<PcapWriter> = None;
    let mut file_error: Option<io::Error> = None;
    let mut pcap_error: Option<io::Error> = None;
    let audit = {
        let mut bar: Option<ProgressBar> = None;
        let show = show_progress(plan.quiet);
        let started = Instant::now();
        let bytes_read = Arc::new(AtomicU64::new(0));
        // One regular file's size, for the share read and the time left; several files show
        // the frames read.
        let (name, total) = match plan.inputs.as_slice() {
            [one] => (
                one.name(),
                match one {
                    Input::Path(p) => std::fs::metadata(p)
                        .ok()
                        .filter(|m| m.is_file())
                        .map(|m| m.len()),
                    _ => None,
                },
            ),
            many => (format!("{} files", many.len()), None),
        };
        let mut progress = |frames: u64| {
            let b = bar.get_or_insert_with(|| progress_bar(&name, started, total));
            match total {
                Some(_) => {
                    b.set_message(format!("{} frames", HumanCount(frames)));
                    b.set_position(bytes_read.load(Ordering::Relaxed));
                }
                None => b.set_position(frames),
            }
        };
        let mut finished = |c: &Connection, digits: u8| {
            if !plan.selection.matches(c) {
                return ControlFlow::Continue(());
            }
            matched += 1;
            record_hits(&plan, c, &mut hits);
            if plan.format == Format::Parquet {
                let written =
                    parquet_report(&mut parquet, &plan).and_then(|p| p.connection(c, digits));
                return match written {
                    Ok(()) => ControlFlow::Continue(()),
                    Err(e) => {
                        file_error = Some(e);
                        ControlFlow::Break(())
                    }
                };
            }
            let written = json::write_line(&mut lines, c, digits, label)
                .and_then(|()| if flush_each { lines.flush() } else { Ok(()) });
            match written {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => {
                    write_error = Some(e);
                    ControlFlow::Break(())
                }
            }
        };
        let mut on_frame = |f: &Frame, c: Option<&Connection>| {
            let (Some(path), Some(c)) = (&plan.write_pcap, c) else {
                return ControlFlow::Continue(());
            };
            if !plan.selection.matches(c) {
                return ControlFlow::Continue(());
            }
            let written = match &mut pcap {
                Some(w) => w.write(f),
                None => PcapWriter::create(path).and_then(|w| pcap.insert(w).write(f)),
            };
            match written {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => {
                    pcap_error = Some(e);
                    ControlFlow::Break(())
                }
            }
        };
        let selection = plan.selection.clone();
        let drawable: Drawable = Rc::new(move |c| selection.matches(c));
        let hooks = Hooks {
            progress: show.then_some(&mut progress as &mut dyn FnMut(u64)),
            finished: streaming
                .then_some(&mut finished as &mut dyn FnMut(&Connection, u8) -> ControlFlow<()>),
            bytes_read: (show && total.is_some()).then(|| Arc::clone(&bytes_read)),
            frame: plan.write_pcap.is_some().then_some(
                &mut on_frame as &mut dyn FnMut(&Frame, Option<&Connection>) -> ControlFlow<()>,
            ),
            drawable: Some(drawable),
        };
        let result = audit_files(&plan.inputs, &plan.config, hooks);
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        result
    };
    if let Err(e) = lines.flush() {
        write_error.get_or_insert(e);
    }
    drop(lines);
    let audit = match audit {
        Ok(a) => a,
        Err(e) => {
            eprintln!("tcpflow-audit: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(kind) = plan.plot {
        let id = plan.selection.ids.first().copied();
        return match html::plot_svg(kind, &audit, id) {
            Some(svg) => print(svg.as_bytes()),
            None => {
                eprintln!(
                    "tcpflow-audit: plot: no connection {} in the capture",
                    id.unwrap_or_default()
                );
                ExitCode::from(2)
            }
        };
    }
    let selected = plan.selection.apply(&audit.connections);
    if !plan.quiet {
        // On stderr in every format, also when the report repeats them.
        for w in &audit.capture.warnings {
            eprintln!("tcpflow-audit: warning: {w}");
        }
        // A stream of connections has no place for what spans them (a SYN flood, a scan).
        if streaming {
            for p in &audit.patterns {
                eprintln!("tcpflow-audit: pattern {}: {}", p.kind, p.summary);
            }
        }
        let none = if streaming {
            matched == 0
        } else {
            selected.is_empty()
        };
        if plan.filtered && none && !plan.time_wait_only {
            eprintln!(
                "tcpflow-audit: no connection matches the filters (of {} connections in the capture)",
                audit.connection_count
            );
        }
    }
    if let Err(e) = write_files(
        &plan,
        &audit,
        &selected,
        &mut parquet,
        &mut pcap,
        file_error.or(pcap_error),
    ) {
        eprintln!("tcpflow-audit: cannot write: {e}");
        return ExitCode::from(2);
    }
    let written = match write_error {
        Some(e) => Err(e),
        None if streaming || plan.format == Format::Parquet => Ok(()),
        None => write_report(&plan, &audit, &selected),
    };
    match written {
        Ok(()) => {}
        // A reader that went away (`| head`) is not an error.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tcpflow-audit: cannot write the report: {e}");
            return ExitCode::from(2);
        }
    }
    if !streaming {
        for c in audit.connections.each_of(&selected) {
            record_hits(&plan, &c, &mut hits);
        }
    }
    if report_rules(&plan, &audit, &mut hits) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// A progress line only for a person watching: stderr is a terminal, not `-q`, and a terminal
/// that can redraw a line. `NO_COLOR` asks for no colour, and the line has none.
fn show_progress(quiet: bool) -> bool {
    !quiet && io::stderr().is_terminal() && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}

/// Made at the first progress call, so a capture under 64k frames never shows one; its clock
/// starts with the reading (`started`). For a regular file of `total` bytes it shows the share
/// read and the time left; for a pipe, the frames read and the rate.
fn progress_bar(capture: &str, started: Instant, total: Option<u64>) -> ProgressBar {
    let rate = |s: &ProgressState, w: &mut dyn std::fmt::Write| {
        let secs = s.elapsed().as_secs_f64();
        if secs > 0.0 {
            let _ = write!(
                w,
                ", {} frames/s",
                HumanCount((s.pos() as f64 / secs) as u64)
            );
        }
    };
    let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr())
        .with_elapsed(started.elapsed())
        .with_prefix(capture.to_string());
    let template = match total {
        Some(_) => {
            "{spinner} {prefix}: {percent}% of {total_bytes} read, {msg} in {elapsed}, about {eta} left"
        }
        None => "{spinner} {prefix}: {human_pos} frames read in {elapsed}{rate}",
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.with_key("rate", rate));
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Generated text (completions, man page) on stdout; a closed pipe is not an error.
fn print(text: &[u8]) -> ExitCode {
    let mut out = io::stdout().lock();
    match out.write_all(text).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tcpflow-audit: cannot write: {e}");
            ExitCode::from(2)
        }
    }
}

/// The Parquet report, created in `-o DIR` at its first use.
fn parquet_report<'p>(
    parquet: &'p mut Option<ParquetReport>,
    plan: &Plan,
) -> io::Result<&'p mut ParquetReport> {
    match parquet {
        Some(p) => Ok(p),
        None => {
            let dir = plan.output.as_deref().unwrap_or(std::path::Path::new("."));
            Ok(parquet.insert(ParquetReport::create(dir, plan.config.label.as_deref())?))
        }
    }
}

/// Finish the files the run writes (`--format parquet`, `--write-pcap`), or report the error
/// that stopped one while the capture was read.
fn write_files(
    plan: &Plan,
    a: &Audit,
    selected: &[usize],
    parquet: &mut Option<ParquetReport>,
    pcap: &mut Option<PcapWriter>,
    file_error: Option<io::Error>,
) -> io::Result<()> {
    if let Some(e) = file_error {
        return Err(e);
    }
    if plan.format == Format::Parquet {
        let report = parquet_report(parquet, plan)?;
        for c in a.connections.each_of(selected) {
            report.connection(&c, a.capture.ts_digits)?;
        }
        if let Some(report) = parquet.take() {
            for (path, rows) in report.finish(a)? {
                if !plan.quiet {
                    eprintln!("tcpflow-audit: wrote {} ({rows} rows)", path.display());
                }
            }
        }
    }
    if let Some(path) = &plan.write_pcap {
        let w = match pcap {
            Some(w) => w,
            None => pcap.insert(PcapWriter::create(path)?),
        };
        w.finish()?;
        if !plan.quiet {
            eprintln!(
                "tcpflow-audit: wrote {} frames to {}",
                w.written,
                w.path().display()
            );
            if w.other_link_type > 0 {
                eprintln!(
                    "tcpflow-audit: warning: {} frames of another link type than the first were not written to {} (a pcap holds one)",
                    w.other_link_type,
                    w.path().display()
                );
            }
            if w.out_of_range > 0 {
                eprintln!(
                    "tcpflow-audit: warning: {} frames with a time a pcap cannot hold were not written",
                    w.out_of_range
                );
            }
        }
    }
    Ok(())
}

fn write_report(plan: &Plan, a: &Audit, selected: &[usize]) -> io::Result<()> {
    let width = terminal_width();
    let simple = |kind| Some(report::writer(kind));
    let boxed = match plan.format {
        Format::Json | Format::Jsonl if plan.time_wait_only => simple(report::Kind::TimeWaitJson),
        Format::Csv if plan.time_wait_only => simple(report::Kind::TimeWaitCsv),
        Format::Table if plan.time_wait_only => simple(report::Kind::TimeWait { width }),
        Format::Parquet => return Ok(()),
        Format::Json => simple(report::Kind::Json {
            pretty: plan.pretty || io::stdout().is_terminal(),
        }),
        Format::Jsonl => simple(report::Kind::Jsonl),
        Format::Csv => simple(report::Kind::Csv),
        Format::Table => simple(report::Kind::Table {
            timelines: plan.show_timelines,
            layout: report::Layout {
                width,
                all: plan.all,
            },
        }),
        Format::Html => None,
    };
    // The HTML report reads the capture a second time for connections it draws that kept no
    // sketch (those of --top).
    let html = html::Html {
        inputs: &plan.inputs,
        time_wait_s: plan.config.time_wait_s,
        ids: &plan.selection.ids,
    };
    let writer: &dyn Report = boxed.as_deref().unwrap_or(&html);
    let mut out = report::stdout::Stdout::new();
    writer.write(&mut out, a, selected)?;
    out.flush()
}

/// Note `c` under every per-connection rule it matches (`hits` is indexed like `plan.rules`).
fn record_hits(plan: &Plan, c: &Connection, hits: &mut [Vec<u32>]) {
    for (rule, ids) in plan.rules.iter().zip(hits.iter_mut()) {
        if !rule.is_capture_wide() && rule.matches_connection(c) {
            ids.push(c.id);
        }
    }
}

/// Report every matched rule on stderr; true if any matched.
fn report_rules(plan: &Plan, a: &Audit, hits: &mut [Vec<u32>]) -> bool {
    let mut matched = false;
    for (rule, ids) in plan.rules.iter().zip(hits.iter_mut()) {
        if rule.is_capture_wide() {
            if rule.matches_capture(a) {
                matched = true;
                if !plan.quiet {
                    eprintln!("tcpflow-audit: rule '{rule}' matched the capture");
                }
            }
            continue;
        }
        if ids.is_empty() {
            continue;
        }
        matched = true;
        if !plan.quiet {
            ids.sort_unstable();
            let shown: Vec<String> = ids.iter().take(20).map(|i| i.to_string()).collect();
            let more = if ids.len() > 20 {
                format!(" and {} more", ids.len() - 20)
            } else {
                String::new()
            };
            eprintln!(
                "tcpflow-audit: rule '{rule}' matched {} connection(s): {}{more}",
                ids.len(),
                shown.join(", ")
            );
        }
    }
    matched
}

/// The width the table report fits: `COLUMNS`, else the terminal's (stdout's, then
/// stderr's), else 120.
fn terminal_width() -> usize {
    if let Some(n) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
    {
        return n;
    }
    [console::Term::stdout(), console::Term::stderr()]
        .iter()
        .find_map(|t| t.size_checked())
        .map_or(report::table::DEFAULT_WIDTH, |(_, cols)| usize::from(cols))
}

fn env_set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty())
}
