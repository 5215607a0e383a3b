//! A frozen connection (`conn::frozen`) thaws field for field as it was, on every kernel trace
//! and every shared capture, in under 1 KB on average.

mod common;

use std::path::PathBuf;

use tcpflow_audit::audit::{Config, audit};
use tcpflow_audit::capture::Input;
use tcpflow_audit::conn::frozen::Frozen;

fn captures() -> Vec<PathBuf> {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in [
        here.join("fixtures/kernel"),
        here.join("fixtures/kernel/round2"),
        here.join("../shared/captures"),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if p.is_file() && (name.contains(".pcap") || name.ends_with(".cap")) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_connection_thaws_as_it_was_frozen() {
    let mut scratch = Vec::new();
    let (mut n, mut bytes) = (0usize, 0usize);
    for path in captures() {
        let Ok(a) = audit(&Input::Path(path.clone()), &Config::default()) else {
            continue;
        };
        for c in &a.connections {
            let Some(f) = Frozen::of(c, &mut scratch) else {
                continue;
            };
            let thawed = f.thaw();
            assert_eq!(
                format!("{thawed:?}"),
                format!("{c:?}"),
                "{}: connection {}",
                path.display(),
                c.id
            );
            n += 1;
            bytes += f.len();
        }
    }
    eprintln!(
        "{n} connections frozen, {} bytes on average",
        bytes / n.max(1)
    );
    assert!(n > 1000, "the captures were found ({n} connections)");
}
