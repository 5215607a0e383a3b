//! Any bytes as a capture file: read, decode, track, analyse, every report, every rule, and
//! the streamed jsonl lines against the json document (see `check::check_capture`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tcpflow_audit_fuzz::check::check_capture(data);
});
