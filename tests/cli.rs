//! The binary as CI jobs use it: formats, --fail-on exit codes, filters, errors, determinism.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

mod common;

use common::{fixture, run};

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn default_table_names_every_connection_and_the_time_wait_holder() {
    let f = fixture("http10_server_close_client.pcap");
    let o = Command::new(env!("CARGO_BIN_EXE_tcpflow-audit"))
        .args(["--all", f.to_str().unwrap()])
        .env("COLUMNS", "200")
        .output()
        .expect("run binary");
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(out.contains("200 connections"), "{out}");
    assert_eq!(
        out.lines()
            .filter(|l| l.contains("server FIN") && l.contains(" SF "))
            .count(),
        200
    );
    assert!(out.contains("TIME_WAIT (duration 60 s)"));
    assert!(
        out.contains("The server closed 200 of its 200 connections first"),
        "{out}"
    );
}

#[test]
fn timeline_of_one_connection_shows_the_ladder_and_states() {
    let f = fixture("http10_server_close_client.pcap");
    let o = run(&[f.to_str().unwrap(), "--conn", "1"]);
    let out = stdout(&o);
    for needle in [
        "client CLOSED -> SYN_SENT",
        "server LISTEN -> SYN_RECEIVED",
        "client SYN_SENT -> ESTABLISHED",
        "server ESTABLISHED -> FIN_WAIT_1",
        "server FIN_WAIT_2 -> TIME_WAIT",
        "client LAST_ACK -> CLOSED",
        "SYN-ACK acks client ISN+1: ok",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
}

/// Every format is deterministic, jsonl included (its lines come in the order connections
/// finish, here with 600 4-tuple reuses that finish connections mid-capture).
#[test]
fn every_format_is_byte_identical_across_runs() {
    let f = fixture("tw_reuse_server.pcap.gz");
    for fmt in ["jsonl", "csv", "table", "json"] {
        let a = run(&["--format", fmt, f.to_str().unwrap()]);
        let b = run(&["--format", fmt, f.to_str().unwrap()]);
        assert!(!a.stdout.is_empty(), "{fmt}");
        assert_eq!(a.stdout, b.stdout, "{fmt}");
    }
}

#[test]
fn json_is_the_spec_document_and_runs_are_byte_identical() {
    let f = fixture("bulk_loss20_client.pcap.gz");
    let a = run(&["--format", "json", f.to_str().unwrap()]);
    let b = run(&["--format", "json", f.to_str().unwrap()]);
    assert_eq!(a.stdout, b.stdout);
    let doc: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
    assert_eq!(doc["schema"], "tcpflow-audit/1");
    for key in [
        "packets",
        "tcp_segments",
        "skipped",
        "first_ts",
        "last_ts",
        "warnings",
    ] {
        assert!(!doc["capture"][key].is_null(), "capture.{key}");
    }
    let c = &doc["connections"][0];
    for key in [
        "id",
        "client",
        "server",
        "start_ts",
        "end_ts",
        "outcome",
        "history",
        "handshake",
        "close",
        "client",
        "server",
        "rtt",
        "events",
    ] {
        assert!(!c[key].is_null(), "connection.{key}");
    }
    for key in [
        "entered",
        "peak",
        "peak_ts",
        "held_at_end",
        "reused",
        "role",
        "endpoint",
    ] {
        assert!(
            !doc["time_wait"]["by_endpoint"][0][key].is_null(),
            "time_wait.{key}"
        );
    }
    // Timestamps keep the capture's precision (microseconds here).
    let ts = serde_json::to_string(&c["start_ts"]).unwrap();
    assert_eq!(ts.split('.').nth(1).map(str::len), Some(6), "{ts}");
}

#[test]
fn jsonl_and_csv_have_one_line_per_connection() {
    let f = fixture("refused_client.pcap");
    let o = run(&["--format", "jsonl", f.to_str().unwrap()]);
    let lines: Vec<&str> = std::str::from_utf8(&o.stdout).unwrap().lines().collect();
    assert_eq!(lines.len(), 5);
    for l in lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["outcome"], "REJ");
    }
    let o = run(&["--format", "csv", f.to_str().unwrap()]);
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 6);
    assert!(out.lines().next().unwrap().starts_with("id,client,server,"));
}

#[test]
fn fail_on_rules_exit_1_and_name_the_connections() {
    let f = fixture("refused_client.pcap");
    let o = run(&[
        f.to_str().unwrap(),
        "--format",
        "json",
        "--fail-on",
        "outcome=REJ",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("rule 'outcome=REJ' matched 5 connection(s): 1, 2, 3, 4, 5"),
        "{}",
        stderr(&o)
    );
    let o = run(&[f.to_str().unwrap(), "--fail-on", "retransmissions>0"]);
    assert_eq!(o.status.code(), Some(0));
    let bulk = fixture("bulk_loss5_client.pcap.gz");
    let o = run(&[
        bulk.to_str().unwrap(),
        "--fail-on",
        "client.retransmissions>=1",
        "--fail-on",
        "resets>0",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("client.retransmissions>=1"));
    assert!(!stderr(&o).contains("resets"));
    let tw = fixture("http10_server_close_server.pcap");
    let o = run(&[
        tw.to_str().unwrap(),
        "--fail-on",
        "server_time_wait_peak>=200",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let o = run(&[
        tw.to_str().unwrap(),
        "--fail-on",
        "server_time_wait_peak>=201",
    ]);
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn a_bad_rule_is_exit_2_naming_the_token() {
    let f = fixture("refused_client.pcap");
    let o = run(&[f.to_str().unwrap(), "--fail-on", "retrans>0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown field 'retrans'"),
        "{}",
        stderr(&o)
    );
    assert!(o.stdout.is_empty());
}

#[test]
fn filters_combine() {
    let f = fixture("http10_server_close_client.pcap");
    let count = |args: &[&str]| {
        let mut all = vec!["--format", "jsonl", f.to_str().unwrap()];
        all.extend_from_slice(args);
        stdout(&run(&all)).lines().count()
    };
    assert_eq!(count(&[]), 200);
    assert_eq!(count(&["--port", "8080"]), 200);
    assert_eq!(count(&["--port", "9999"]), 0);
    assert_eq!(
        count(&["--net", "10.200.2.0/24", "--conn", "7", "--conn", "9"]),
        2
    );
    assert_eq!(count(&["--host", "10.200.9.9"]), 0);
    assert_eq!(count(&["--top", "3", "--top-by", "packets"]), 3);
    assert_eq!(count(&["--anomalies-only"]), 0);
}

#[test]
fn time_wait_command_reports_the_server_endpoint() {
    let f = fixture("tw_reuse_server.pcap.gz");
    let o = run(&["time-wait", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("10.200.2.2:8080"), "{out}");
    assert!(out.contains("4-tuple reuse during TIME_WAIT"), "{out}");
    assert!(out.contains("Diagnosis for 10.200.2.2:8080"), "{out}");
    let o = run(&["time-wait", "--time-wait", "windows", f.to_str().unwrap()]);
    assert!(stdout(&o).contains("TIME_WAIT (duration 240 s)"));
}

#[test]
fn reads_standard_input() {
    let bytes = std::fs::read(fixture("refused_client.pcap")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tcpflow-audit"))
        .args(["--format", "jsonl", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o).lines().count(), 5);
}

#[test]
fn unusable_input_is_one_line_and_exit_2() {
    let dir = std::env::temp_dir().join(format!("tfa-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = dir.join("notes.txt");
    std::fs::write(&text, b"GET / HTTP/1.1\r\n").unwrap();
    let empty = dir.join("empty.pcap");
    std::fs::write(&empty, b"").unwrap();
    for (path, needle) in [
        (
            text.to_str().unwrap(),
            "not a pcap or pcapng capture (first bytes: 47 45 54 20",
        ),
        (empty.to_str().unwrap(), "empty file"),
        (dir.to_str().unwrap(), "is a directory"),
        ("/nonexistent/capture.pcap", "cannot open"),
    ] {
        let o = run(&[path]);
        assert_eq!(o.status.code(), Some(2), "{path}");
        assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{}", stderr(&o));
    }
    let o = run(&["--format", "xml", text.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn completions_for_every_shell_come_from_the_clap_definition() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let o = run(&["completions", shell]);
        assert_eq!(o.status.code(), Some(0), "{shell}: {}", stderr(&o));
        let out = stdout(&o);
        assert!(out.contains("tcpflow-audit"), "{shell}:\n{out}");
        assert!(out.contains("time-wait"), "{shell}: the subcommand");
        assert!(out.contains("fail-on"), "{shell}: an option");
        assert!(stderr(&o).is_empty(), "{shell}: {}", stderr(&o));
    }
    let o = run(&["completions"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("tcsh"), "{}", stderr(&o));
}

#[test]
fn man_page_is_roff_with_options_commands_and_exit_status() {
    let o = run(&["man"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains(".TH tcpflow-audit 1"), "{out}");
    for needle in [
        ".SH SYNOPSIS",
        ".SH OPTIONS",
        "\\-\\-fail\\-on",
        ".SH COMMANDS",
        "time\\-wait",
        ".SH \"EXIT STATUS\"",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
}

#[test]
fn hidden_commands_stay_out_of_help_and_do_not_change_the_main_job() {
    let o = run(&["--help"]);
    let out = stdout(&o);
    assert!(out.contains("time-wait"), "{out}");
    assert!(!out.contains("completions"), "{out}");
    // The main job and `time-wait` parse as before.
    let f = fixture("refused_client.pcap");
    let o = run(&[f.to_str().unwrap(), "--format", "csv"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o).lines().count(), 6);
    let o = run(&["time-wait", "--format", "csv", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    // Analysis options do not combine with the generators.
    let o = run(&["--quiet", "man"]);
    assert_eq!(o.status.code(), Some(2));
}

/// The reports carry no colour or other terminal styling, whatever the terminal claims to be
/// (comfy-table styles nothing unless asked). Only clap's own help and usage errors are coloured,
/// and only on a terminal without `NO_COLOR`: see `usage_errors_are_coloured_only_on_a_terminal`.
#[test]
fn no_escape_byte_in_any_output_even_under_a_colour_terminal() {
    let f = fixture("tw_reuse_server.pcap.gz");
    let refused = fixture("refused_client.pcap");
    let f = f.to_str().unwrap();
    let refused = refused.to_str().unwrap();
    let runs: Vec<Vec<&str>> = vec![
        vec![f],
        vec![f, "--conn", "5"],
        vec!["time-wait", f],
        vec![f, "--format", "csv"],
        vec![f, "--format", "json"],
        vec![refused, "--fail-on", "outcome=REJ"],
        vec!["/nonexistent.pcap"],
    ];
    for args in runs {
        let o = Command::new(env!("CARGO_BIN_EXE_tcpflow-audit"))
            .args(&args)
            .env("TERM", "xterm-256color")
            .env("COLORTERM", "truecolor")
            .env("CLICOLOR_FORCE", "1")
            .env("FORCE_COLOR", "1")
            .env_remove("NO_COLOR")
            .output()
            .unwrap();
        assert!(!o.stdout.contains(&0x1b), "ESC on stdout for {args:?}");
        assert!(!o.stderr.contains(&0x1b), "ESC on stderr for {args:?}");
        assert!(!o.stdout.is_empty() || !o.stderr.is_empty(), "{args:?}");
    }
}

/// A reader that goes away (`| head -1`) ends the run quietly with exit 0.
#[test]
fn a_closed_pipe_is_exit_0_without_a_panic() {
    use std::io::{BufRead, BufReader};
    let f = fixture("http10_server_close_client.pcap");
    let f = f.to_str().unwrap();
    // Each of these writes far more than a pipe buffer holds.
    for args in [
        vec!["--format", "jsonl", f],
        vec!["--format", "json", f],
        vec!["--timeline", f],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tcpflow-audit"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "{args:?}");
        drop(reader);
        let o = child.wait_with_output().unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!err.contains("Broken pipe"), "{args:?}: {err}");
    }
}

/// A little-endian µs pcap of `frames` Ethernet ARP frames (skipped as non-IP): cheap to read,
/// and enough of them to drive the progress hook.
fn arp_capture(name: &str, frames: u32) -> PathBuf {
    let path = std::env::temp_dir().join(format!("tfa-cli-{}-{name}.pcap", std::process::id()));
    let mut b = Vec::with_capacity(24 + frames as usize * 58);
    // Global header: magic, version 2.4, thiszone, sigfigs, snaplen, DLT_EN10MB.
    b.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&65535u32.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes());
    // Broadcast destination, a source MAC, EtherType ARP, zero body to 42 bytes.
    let mut frame = vec![0xffu8; 6];
    frame.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x06]);
    frame.resize(42, 0);
    for i in 0..frames {
        b.extend_from_slice(&(1_700_000_000 + i / 1000).to_le_bytes());
        b.extend_from_slice(&((i % 1000) * 1000).to_le_bytes());
        b.extend_from_slice(&42u32.to_le_bytes());
        b.extend_from_slice(&42u32.to_le_bytes());
        b.extend_from_slice(&frame);
    }
    std::fs::write(&path, b).unwrap();
    path
}

#[test]
fn the_progress_hook_is_called_every_64k_frames() {
    use tcpflow_audit::audit::{Config, Hooks, PROGRESS_EVERY_FRAMES, audit, audit_with};
    use tcpflow_audit::capture::Input;
    assert_eq!(PROGRESS_EVERY_FRAMES, 65_536);
    let path = arp_capture("hook", 140_000);
    let input = Input::Path(path.clone());
    let mut calls = Vec::new();
    let mut hook = |frames: u64| calls.push(frames);
    let hooks = Hooks {
        progress: Some(&mut hook),
        ..Hooks::default()
    };
    let a = audit_with(&input, &Config::default(), hooks).unwrap();
    assert_eq!(calls, vec![65_536, 131_072]);
    assert_eq!(a.capture.frames, 140_000);
    assert_eq!(a.skipped_total(), 140_000);
    // Without a hook the result is the same.
    let b = audit(&input, &Config::default()).unwrap();
    assert_eq!(b.capture.frames, a.capture.frames);
    // A small capture never calls it.
    let mut calls = 0;
    let mut hook = |_: u64| calls += 1;
    let hooks = Hooks {
        progress: Some(&mut hook),
        ..Hooks::default()
    };
    audit_with(
        &Input::Path(fixture("refused_client.pcap")),
        &Config::default(),
        hooks,
    )
    .unwrap();
    assert_eq!(calls, 0);
    std::fs::remove_file(path).unwrap();
}

/// util-linux `script` runs a command on a pseudo-terminal; where it is missing the terminal
/// tests check only the non-terminal half, except under CI, which must run both halves.
fn have_script() -> bool {
    let ok = Command::new("script")
        .args(["-qec", "true", "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "util-linux `script` is missing under CI: the terminal half cannot run"
        );
        eprintln!("no util-linux `script`: terminal half skipped");
    }
    ok
}

/// Run a shell command line with stdout and stderr on a pseudo-terminal; what it printed.
fn on_tty(cmd: &str) -> String {
    let o = Command::new("script")
        .args(["-qec", cmd, "/dev/null"])
        .env("TERM", "xterm")
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    stdout(&o)
}

/// The bar appears on a terminal, with the share of the file read and the time left, also
/// with `NO_COLOR` (it has no colour to turn off); not with `-q` or `TERM=dumb`; with stderr a
/// pipe it never appears.
#[test]
fn progress_bar_only_on_a_terminal() {
    let path = arp_capture("bar", 140_000);
    let bin = env!("CARGO_BIN_EXE_tcpflow-audit");
    let p = path.to_str().unwrap();
    let o = run(&["--format", "csv", p]);
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
    if have_script() {
        let cmd = |env: &str, extra: &str| {
            format!("{env} '{bin}' {extra} --format csv '{p}' > /dev/null; echo rc=$?")
        };
        for env in ["", "NO_COLOR=1"] {
            let shown = on_tty(&cmd(env, ""));
            assert!(shown.contains("% of "), "{env}: {shown:?}");
            assert!(shown.contains("left"), "{env}: {shown:?}");
            assert!(shown.contains("65,536 frames"), "{env}: {shown:?}");
            assert!(shown.contains("rc=0"), "{shown:?}");
        }
        for (env, extra) in [("", "-q"), ("TERM=dumb", "")] {
            let out = on_tty(&cmd(env, extra));
            assert!(!out.contains("frames"), "{env} {extra}: {out:?}");
            assert!(out.contains("rc=0"), "{out:?}");
        }
    }
    std::fs::remove_file(path).unwrap();
}

#[test]
fn usage_errors_are_coloured_only_on_a_terminal() {
    let o = Command::new(env!("CARGO_BIN_EXE_tcpflow-audit"))
        .args(["--format", "xml", "x.pcap"])
        .env("TERM", "xterm-256color")
        .env_remove("CLICOLOR_FORCE")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("invalid value 'xml'"), "{}", stderr(&o));
    assert!(!o.stderr.contains(&0x1b), "{}", stderr(&o));
    if have_script() {
        let bin = env!("CARGO_BIN_EXE_tcpflow-audit");
        let coloured = on_tty(&format!("'{bin}' --format xml x.pcap"));
        assert!(coloured.contains("invalid value"), "{coloured:?}");
        assert!(coloured.contains('\u{1b}'), "{coloured:?}");
        for env in ["NO_COLOR=1", "TERM=dumb"] {
            let plain = on_tty(&format!("{env} '{bin}' --format xml x.pcap"));
            assert!(plain.contains("invalid value"), "{plain:?}");
            assert!(!plain.contains('\u{1b}'), "{env}: {plain:?}");
        }
    }
}

#[test]
fn json_is_compact_with_a_line_per_connection_and_pretty_on_request() {
    let f = fixture("http10_server_close_client.pcap");
    let compact = stdout(&run(&["--format", "json", f.to_str().unwrap()]));
    let pretty = stdout(&run(&["--format", "json", "--pretty", f.to_str().unwrap()]));
    let a: serde_json::Value = serde_json::from_str(&compact).unwrap();
    let b: serde_json::Value = serde_json::from_str(&pretty).unwrap();
    assert_eq!(a, b, "the same document either way");
    let lines: Vec<&str> = compact.lines().collect();
    assert_eq!(
        lines.len(),
        200 + 2,
        "header line, one per connection, trailer"
    );
    assert!(lines[1].starts_with("{\"id\":1,") && lines[200].starts_with("{\"id\":200,"));
    assert!(
        pretty.len() > compact.len() * 3 / 2,
        "{} vs {}",
        pretty.len(),
        compact.len()
    );
}
