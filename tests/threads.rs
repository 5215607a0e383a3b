//! `--threads`: reading and decoding on a thread of their own change nothing. Every kernel
//! fixture and every shared capture gives byte-identical output (stdout, stderr, exit code) with
//! `--threads 1` and `--threads 4`, in every streamed and whole-document format; and a hook that
//! stops the reading stops it on both paths.

use std::ops::ControlFlow;
use std::path::Path;

use tcpflow_audit::audit::{Config, Hooks, audit_with};
use tcpflow_audit::capture::Input;
use tcpflow_audit::conn::Connection;

mod common;
use common::all_captures;

fn run(threads: &str, args: &[&str], capture: &Path) -> (Vec<u8>, Vec<u8>, Option<i32>) {
    common::outcome(&[&["--threads", threads], args].concat(), capture)
}

#[test]
fn one_thread_and_four_give_the_same_bytes_on_every_capture() {
    let files = all_captures();
    assert!(files.len() >= 100, "found {} captures", files.len());
    let formats: [&[&str]; 5] = [
        &["--format", "json"],
        &["--format", "jsonl"],
        &["--format", "csv"],
        &["--format", "table", "--timeline"],
        &["time-wait"],
    ];
    let mut runs = 0;
    for f in &files {
        for args in formats {
            let one = run("1", args, f);
            let four = run("4", args, f);
            assert!(one == four, "{args:?} {} differs", f.display());
            runs += 1;
        }
    }
    assert_eq!(runs, files.len() * formats.len());
}

/// The finished-connection hook asks to stop after the first connection: the reading stops,
/// on one thread and on two.
#[test]
fn a_hook_that_stops_stops_the_reading_on_both_paths() {
    let capture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/kernel/tw_reuse_client.pcap.gz");
    let mut frames_read = Vec::new();
    for threads in [1, 2] {
        let mut seen = 0u32;
        let mut hook = |_: &Connection, _: u8| {
            seen += 1;
            ControlFlow::Break(())
        };
        let hooks = Hooks {
            finished: Some(&mut hook),
            ..Hooks::default()
        };
        let config = Config {
            threads,
            ..Config::default()
        };
        let a = audit_with(&Input::Path(capture.clone()), &config, hooks).expect("read");
        assert_eq!(seen, 1, "threads {threads}");
        frames_read.push(a.capture.frames);
        // Without the stop every frame is read.
        let whole =
            audit_with(&Input::Path(capture.clone()), &config, Hooks::default()).expect("read");
        assert!(a.capture.frames < whole.capture.frames, "threads {threads}");
    }
    assert!(frames_read.iter().all(|&n| n > 0));
}
