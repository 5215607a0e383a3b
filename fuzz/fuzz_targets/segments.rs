//! Crafted TCP segments on a few flows, written as a valid pcap or pcapng file, through the
//! whole pipeline: mutations reach the state machine and the classifier, not the file header.
//!
//! With `TCPFLOW_FUZZ_WRITE=FILE` set, the capture built from the input is written to FILE
//! (to turn a crash into a regression test under `tests/fuzz_regressions/`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tcpflow_audit_fuzz::check::check_capture;
use tcpflow_audit_fuzz::craft::Scenario;

fuzz_target!(|data: &[u8]| {
    let Some(scenario) = Scenario::from_bytes(data) else {
        return;
    };
    let capture = scenario.to_capture();
    if let Some(path) = std::env::var_os("TCPFLOW_FUZZ_WRITE") {
        std::fs::write(path, &capture).expect("write the capture");
    }
    let audit = check_capture(&capture).expect("a crafted capture is always readable");
    // A crafted segment that repeats the one before it byte for byte within a millisecond is
    // a duplicate frame (left out of the analysis, counted), not a second TCP segment.
    assert_eq!(
        audit.tcp_segments + audit.capture.duplicate_frames,
        audit.capture.frames,
        "every crafted frame is a TCP segment or a duplicate"
    );
});
