//! Header prediction (`src/conn/predict`) changes nothing: every kernel fixture and every
//! shared capture gives byte-identical output (stdout, stderr, exit code) with it and with
//! `--no-prediction`, in JSON (every counter and event) and in the table with the ladder (every
//! segment's class and flags).

mod common;

use common::{all_captures, outcome};

#[test]
fn prediction_gives_the_same_bytes_on_every_capture() {
    let files = all_captures();
    assert!(files.len() >= 100, "found {} captures", files.len());
    let formats: [&[&str]; 2] = [&["--format", "json"], &["--format", "table", "--timeline"]];
    let mut runs = 0;
    for f in &files {
        for args in formats {
            let args = [&["--threads", "1"], args].concat();
            let predicted = outcome(&args, f);
            let full = outcome(&[&args[..], &["--no-prediction"]].concat(), f);
            assert!(predicted.2.is_some(), "{args:?} {} was killed", f.display());
            assert!(predicted == full, "{args:?} {} differs", f.display());
            runs += 1;
        }
    }
    assert_eq!(runs, files.len() * formats.len());
}
