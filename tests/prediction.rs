//! Header prediction (`src/conn/predict`) changes nothing: every kernel fixture and every
//! shared capture gives byte-identical output (stdout, stderr, exit code) with it and with
//! `--no-prediction`, in JSON (every counter and event) and in the table with the ladder (every
//! segment's class and flags).

use std::path::{Path, PathBuf};
use std::process::Command;

fn captures_under(root: &Path, out: &mut Vec<PathBuf>) {
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.to_string_lossy().contains(".pcap") {
                out.push(p);
            }
        }
    }
}

fn run(args: &[&str], capture: &Path) -> (Vec<u8>, Vec<u8>, Option<i32>) {
    let o = Command::new(env!("CARGO_BIN_EXE_tcpflow-audit"))
        .args(["--threads", "1"])
        .args(args)
        .arg(capture)
        .output()
        .expect("run tcpflow-audit");
    (o.stdout, o.stderr, o.status.code())
}

#[test]
fn prediction_gives_the_same_bytes_on_every_capture() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = here.join("../shared/captures");
    assert!(shared.is_dir(), "{} is missing", shared.display());
    let mut files = Vec::new();
    captures_under(&here.join("fixtures/kernel"), &mut files);
    captures_under(&shared, &mut files);
    files.sort();
    assert!(files.len() >= 100, "found {} captures", files.len());
    let formats: [&[&str]; 2] = [&["--format", "json"], &["--format", "table", "--timeline"]];
    let mut runs = 0;
    for f in &files {
        for args in formats {
            let predicted = run(args, f);
            let full = run(&[args, &["--no-prediction"]].concat(), f);
            assert!(predicted.2.is_some(), "{args:?} {} was killed", f.display());
            assert!(predicted == full, "{args:?} {} differs", f.display());
            runs += 1;
        }
    }
    assert_eq!(runs, files.len() * formats.len());
}
