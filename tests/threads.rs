//! `--threads`: reading and decoding on a thread of their own change nothing. Every kernel
//! fixture and every shared capture gives byte-identical output (stdout, stderr, exit code) with
//! `--threads 1` and `--threads 4`, in every streamed and whole-document format; and a hook that
//! stops the reading stops it on both paths.

use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::path::Path;

use tcpflow_audit::audit::{Config, Hooks, audit_with};
use tcpflow_audit::capture::Input;
use tcpflow_audit::conn::Connection;

mod common;
use common::{ACK, Endian, FIN, Link, Pcap, SYN, Tcp, all_captures};

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

/// A connection that closes at once, then, 100 s later (past its 60 s linger, so it is handed
/// over at the next segment), 30,000 segments of another: more than the two-thread pipeline
/// can read ahead of the analysis (the batches in the channel, the one being analysed and the
/// one being filled: six of 4096), so a stop asked when the first connection is handed over
/// always leaves frames unread.
fn closes_early_then_runs_long() -> Vec<u8> {
    const MS: u64 = 1_000_000;
    let (c, s): (SocketAddr, SocketAddr) = (
        "10.1.0.2:40000".parse().unwrap(),
        "10.1.0.1:80".parse().unwrap(),
    );
    let (c2, t0) = (
        "10.1.0.3:40001".parse::<SocketAddr>().unwrap(),
        100_000 * MS,
    );
    let mut p = Pcap::new(Endian::Little, false, 1);
    let mut put = |t: u64, seg: Tcp| p.packet(t, &seg.frame(Link::Ethernet));
    put(0, Tcp::new(c, s, SYN).seq(100));
    put(MS, Tcp::new(s, c, SYN | ACK).seq(500).ack(101));
    put(2 * MS, Tcp::new(c, s, ACK).seq(101).ack(501));
    put(3 * MS, Tcp::new(s, c, FIN | ACK).seq(501).ack(101));
    put(4 * MS, Tcp::new(c, s, FIN | ACK).seq(101).ack(502));
    put(5 * MS, Tcp::new(s, c, ACK).seq(502).ack(102));
    put(t0, Tcp::new(c2, s, SYN).seq(100));
    put(t0 + MS, Tcp::new(s, c2, SYN | ACK).seq(500).ack(101));
    for i in 0..30_000u32 {
        let seq = 101 + i * 100;
        put(
            t0 + 2 * MS + u64::from(i) * MS,
            Tcp::new(c2, s, ACK).seq(seq).ack(501).payload(100),
        );
    }
    p.into_bytes()
}

/// The finished-connection hook asks to stop after the first connection: the reading stops,
/// on one thread and on two.
#[test]
fn a_hook_that_stops_stops_the_reading_on_both_paths() {
    let capture = Input::Bytes(closes_early_then_runs_long().into());
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
        let a = audit_with(&capture, &config, hooks).expect("read");
        assert_eq!(seen, 1, "threads {threads}");
        frames_read.push(a.capture.frames);
        // Without the stop every frame is read.
        let whole = audit_with(&capture, &config, Hooks::default()).expect("read");
        assert_eq!(whole.capture.frames, 30_008, "threads {threads}");
        assert!(a.capture.frames < whole.capture.frames, "threads {threads}");
    }
    // One thread stops at the frame that handed the connection over: the eighth, as the clock
    // that retires connections is the earlier of a frame's time and the one before it.
    assert_eq!(frames_read[0], 8);
    assert!(frames_read.iter().all(|&n| n > 0), "{frames_read:?}");
}
