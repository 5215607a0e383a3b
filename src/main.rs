//! The thin binary: parse the command line, run the audit, write the chosen report, map the
//! outcome to an exit code (0 analysed, 1 a --fail-on rule matched, 2 unusable input).

mod cli;

use std::io::{self, IsTerminal, Write};
use std::ops::ControlFlow;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{CommandFactory, FromArgMatches};
use indicatif::{HumanCount, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use cli::{Action, Cli, Format, Plan};
use tcpflow_audit::audit::{Audit, Hooks, audit_with};
use tcpflow_audit::capture::Input;
use tcpflow_audit::conn::Connection;
use tcpflow_audit::report::{self, Report, html, json};

fn main() -> ExitCode {
    // Colour only where a person reads a capable terminal: NO_COLOR and TERM=dumb always win
    // (clap alone would still colour a dumb terminal when CI is set).
    let plain = env_set("NO_COLOR") || std::env::var_os("TERM").is_some_and(|t| t == "dumb");
    let mut command = Cli::command();
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
    // The page's drawing pass reads the capture again: standard input is kept in a file.
    let _spool = if plan.format == Format::Html
        && plan.plot.is_none()
        && plan.selection.ids.is_empty()
        && matches!(plan.input, Input::Stdin)
    {
        match html::spool_stdin() {
            Ok(spool) => {
                plan.input = Input::Path(spool.path.clone());
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
    // jsonl writes each connection as it finishes, unless --top must see them all first.
    let streaming = plan.format == Format::Jsonl && plan.selection.top.is_none();
    let mut hits: Vec<Vec<u32>> = vec![Vec::new(); plan.rules.len()];
    let mut lines = io::BufWriter::new(io::stdout().lock());
    let mut write_error: Option<io::Error> = None;
    let audit = {
        let mut bar: Option<ProgressBar> = None;
        let show = show_progress(plan.quiet);
        let started = Instant::now();
        let mut progress = |frames: u64| match &bar {
            Some(b) => b.set_position(frames),
            None => bar = Some(progress_bar(&plan.input.name(), started, frames)),
        };
        let mut finished = |c: &Connection, digits: u8| {
            if !plan.selection.matches(c) {
                return ControlFlow::Continue(());
            }
            record_hits(&plan, c, &mut hits);
            match json::write_line(&mut lines, c, digits) {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => {
                    write_error = Some(e);
                    ControlFlow::Break(())
                }
            }
        };
        let hooks = Hooks {
            progress: show.then_some(&mut progress as &mut dyn FnMut(u64)),
            finished: streaming
                .then_some(&mut finished as &mut dyn FnMut(&Connection, u8) -> ControlFlow<()>),
        };
        let result = audit_with(&plan.input, &plan.config, hooks);
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        result
    };
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
    if !plan.quiet && plan.format != Format::Table {
        for w in &audit.capture.warnings {
            eprintln!("tcpflow-audit: warning: {w}");
        }
    }
    let written = match write_error {
        Some(e) => Err(e),
        None if streaming => Ok(()),
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
        for c in &selected {
            record_hits(&plan, c, &mut hits);
        }
    }
    if report_rules(&plan, &audit, &mut hits) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// A progress bar only for a person watching: stderr is a terminal, not `-q`, no `NO_COLOR`,
/// and a terminal that can redraw a line.
fn show_progress(quiet: bool) -> bool {
    !quiet
        && io::stderr().is_terminal()
        && !env_set("NO_COLOR")
        && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}

/// Made at the first progress call, so a capture under 64k frames never shows one; its clock
/// starts with the reading (`started`).
fn progress_bar(capture: &str, started: Instant, frames: u64) -> ProgressBar {
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
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
        .with_elapsed(started.elapsed())
        .with_message(capture.to_string());
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} {msg}: {human_pos} frames read in {elapsed}{rate}")
    {
        bar.set_style(style.with_key("rate", rate));
    }
    bar.set_position(frames);
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

fn write_report(plan: &Plan, a: &Audit, selected: &[&Connection]) -> io::Result<()> {
    let simple = |kind| Some(report::writer(kind));
    let boxed = match plan.format {
        Format::Json => simple(report::Kind::Json {
            pretty: plan.pretty || io::stdout().is_terminal(),
        }),
        Format::Jsonl => simple(report::Kind::Jsonl),
        Format::Csv => simple(report::Kind::Csv),
        Format::Table if plan.time_wait_only => simple(report::Kind::TimeWait),
        Format::Table => simple(report::Kind::Table {
            timelines: plan.show_timelines,
        }),
        Format::Html => None,
    };
    // The HTML report reads the capture a second time for the connections it draws.
    let html = html::Html {
        input: &plan.input,
        time_wait_s: plan.config.time_wait_s,
        ids: &plan.selection.ids,
    };
    let writer: &dyn Report = boxed.as_deref().unwrap_or(&html);
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
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

fn env_set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty())
}
