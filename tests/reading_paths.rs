//! A regular pcap file is memory-mapped and walked in place; standard input, gzip and pcapng go
//! through the streaming reader. Both must say exactly the same thing about the same bytes: the
//! same frames, the same analysis and the same warnings where a file is damaged.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{Endian, Pcap, TempPath};

fn run_file(path: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tcpflow-audit"))
        .args(["--format", "json"])
        .arg(path)
        .output()
        .expect("run the binary")
}

fn run_stdin(bytes: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tcpflow-audit"))
        .args(["--format", "json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the binary");
    let mut stdin = child.stdin.take().unwrap();
    // A reader that stops early (an unusable file) closes the pipe: not an error here.
    let _ = stdin.write_all(bytes);
    drop(stdin);
    child.wait_with_output().unwrap()
}

/// The file's report and standard input's agree byte for byte, once the file name (`-` on
/// standard input) is taken out.
fn assert_same(name: &str, bytes: &[u8]) {
    let file = TempPath::with_bytes(name, bytes);
    let a = run_file(file.path());
    let b = run_stdin(bytes);
    let shown = file.path().display().to_string();
    let a_out = String::from_utf8_lossy(&a.stdout).replace(&shown, "-");
    let a_err = String::from_utf8_lossy(&a.stderr).replace(&shown, "-");
    assert_eq!(a.status.code(), b.status.code(), "{name}: exit codes");
    assert_eq!(a_err, String::from_utf8_lossy(&b.stderr), "{name}: stderr");
    assert_eq!(a_out, String::from_utf8_lossy(&b.stdout), "{name}: stdout");
}

fn kernel_traces() -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/kernel");
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    v.sort();
    assert!(v.len() >= 10, "the uncompressed kernel traces are there");
    v
}

#[test]
fn mapped_and_streamed_reading_agree_on_every_kernel_trace() {
    for p in kernel_traces() {
        let bytes = std::fs::read(&p).unwrap();
        assert_same(&p.file_name().unwrap().to_string_lossy(), &bytes);
    }
}

#[test]
fn mapped_and_streamed_reading_agree_on_a_file_cut_anywhere() {
    let bytes = std::fs::read(&kernel_traces()[0]).unwrap();
    // Inside the file header, inside a record header, inside a record's data, at a boundary.
    for cut in [
        10,
        24,
        30,
        40,
        41,
        100,
        777,
        bytes.len() / 2,
        bytes.len() - 1,
    ] {
        assert_same(&format!("cut{cut}.pcap"), &bytes[..cut]);
    }
}

#[test]
fn mapped_and_streamed_reading_agree_on_damaged_records() {
    for (endian, nanos) in [(Endian::Little, false), (Endian::Big, true)] {
        let frame = common::arp_frame([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        // A record claiming more than the file holds, after one good frame.
        let mut p = Pcap::new(endian, nanos, 1);
        p.packet(1_000_000_000, &frame);
        p.record_header(2_000_000_000, 400_000_000, 60);
        p.packet(3_000_000_000, &frame);
        assert_same("claims.pcap", p.bytes());
        // A header with no records, and a header of another version.
        let empty = Pcap::new(endian, nanos, 1).into_bytes();
        assert_same("empty.pcap", &empty);
        let mut v1 = empty.clone();
        v1[if endian == Endian::Big { 5 } else { 4 }] = 1;
        assert_same("v1.pcap", &v1);
    }
}
