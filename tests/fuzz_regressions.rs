//! Every input in `tests/fuzz_regressions/` through the checks the fuzz targets make
//! (`fuzz/src/check.rs`, included here): the whole pipeline, every report, rule and ranking,
//! every frame accounted for, and the streamed jsonl lines equal to the json document.

#[path = "../fuzz/src/check.rs"]
mod check;

use std::path::PathBuf;

use tcpflow_audit::decode::parse_options;

#[test]
fn every_saved_fuzz_input_passes_the_fuzz_checks() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions");
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_none_or(|x| x != "md"))
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no inputs in {}", dir.display());
    for path in inputs {
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let audit = check::check_capture(&bytes);
        assert!(audit.is_some(), "{}: no longer readable", path.display());
    }
}

#[test]
fn the_saved_inputs_warn_about_their_time() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions");
    let read = |name: &str| {
        let bytes = std::fs::read(dir.join(name)).expect("a committed input");
        check::check_capture(&bytes).expect("readable")
    };
    let a = read("pcapng-timestamp-2pow64-seconds.pcapng");
    assert_eq!(a.last_ts, Some(tcpflow_audit::time::Timestamp::MAX));
    assert!(
        a.capture
            .warnings
            .iter()
            .any(|w| w.starts_with("time out of range: frame 2 is stamped outside")),
        "{:?}",
        a.capture.warnings
    );
    let a = read("pcap-fraction-over-a-second-and-clock-back.pcap");
    let w = a.capture.warnings.join("\n");
    assert!(
        w.contains("frame 2 has a fraction-of-second field of 4000000000 µs"),
        "{w}"
    );
    assert!(w.contains("frame 3 is 100003999.000001 s earlier"), "{w}");
}

/// Option lists the `tcp_options` target found interesting; none has crashed the parser.
#[test]
fn tcp_options_regressions() {
    let cases: &[&[u8]] = &[
        &[],
        &[5],
        &[5, 1],
        &[5, 255],
        &[2, 4, 5],
        &[8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 5, 34],
        // Five SACK blocks in one option, more than a header holds: the first four are kept.
        &[
            5, 42, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0, 6, 0, 0, 0,
            7, 0, 0, 0, 8, 0, 0, 0, 9, 0, 0, 0, 10,
        ],
    ];
    for bytes in cases {
        let o = parse_options(bytes);
        assert!(usize::from(o.sack_count) <= o.sack.len());
    }
    assert_eq!(parse_options(cases[6]).sack_count, 4);
}
