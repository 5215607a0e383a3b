//! Every public capture in ../shared/captures (the folder beside the project; missing, it fails) is read
//! without a panic and with every frame accounted for: TCP segments plus skipped frames equal
//! frames. Files that cannot be analysed at all must fail with one clear error, not a panic.

use std::path::{Path, PathBuf};
use std::process::Command;

use tcpflow_audit::audit::{Config, audit};
use tcpflow_audit::capture::Input;

mod common;

fn shared_captures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/captures");
    assert!(
        root.is_dir(),
        "{} is missing: the project is tested with ../shared beside it, as CI lays it",
        root.display()
    );
    common::captures_under(root)
}

/// Files that SOURCES.md describes as unusable from their first bytes.
const UNUSABLE: &[&str] = &["pcap-invalid-version-1.pcap", "shb-option-too-long.pcapng"];

#[test]
fn every_shared_capture_is_read_and_every_frame_accounted_for() {
    let files = shared_captures();
    assert!(files.len() >= 70, "found {} captures", files.len());
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let result =
            std::panic::catch_unwind(|| audit(&Input::Path(f.clone()), &Config::default()));
        let result = result.unwrap_or_else(|_| panic!("{name}: panicked"));
        match result {
            Ok(a) => {
                assert!(
                    !UNUSABLE.contains(&name.as_str()),
                    "{name} should be unusable"
                );
                assert_eq!(
                    a.tcp_segments + a.skipped_total(),
                    a.capture.frames,
                    "{name}: frame accounting"
                );
                let per_conn: u64 = a
                    .connections
                    .iter()
                    .map(|c| c.dirs[0].stats.packets + c.dirs[1].stats.packets)
                    .sum();
                assert_eq!(
                    per_conn, a.tcp_segments,
                    "{name}: every segment belongs to one connection"
                );
            }
            Err(e) => assert!(
                UNUSABLE.contains(&name.as_str()),
                "{name}: unexpected error {e}"
            ),
        }
    }
}

#[test]
fn unusable_shared_captures_exit_2_with_one_line() {
    let files = shared_captures();
    for f in files
        .iter()
        .filter(|f| UNUSABLE.iter().any(|u| f.ends_with(u)))
    {
        let out = Command::new(env!("CARGO_BIN_EXE_tcpflow-audit"))
            .arg(f)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", f.display());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(out.stdout.is_empty());
    }
}

/// Facts SOURCES.md states about particular captures (counted there with tshark).
#[test]
fn shared_capture_facts() {
    let files = shared_captures();
    let get = |suffix: &str| {
        let f = files
            .iter()
            .find(|f| f.ends_with(suffix))
            .unwrap_or_else(|| panic!("{suffix} missing"));
        audit(&Input::Path(f.clone()), &Config::default()).unwrap()
    };
    // A capture cut short mid-record is analysed up to the cut, with a warning.
    let cut = get("suricata-verify/http-mime-truncated_zerowindow_cutshort.pcap");
    assert_eq!(cut.capture.frames, 2696);
    assert_eq!(cut.capture.warnings.len(), 1);
    // A record claiming 3.9 GB after 18 good frames.
    let damaged = get("suricata-verify/smtp-to-comma_damaged.pcap");
    assert_eq!((damaged.capture.frames, damaged.tcp_segments), (18, 18));
    assert_eq!(damaged.capture.warnings.len(), 1);
    // 500 loopback echo connections, gzip-compressed, all closed by FIN.
    let echo = get("zeek/echo-connections_500conns.pcap.gz");
    assert!(echo.capture.gzip);
    assert_eq!(echo.connections.len(), 500);
    assert_eq!(
        echo.connections
            .iter()
            .filter(|c| c.summary().outcome.name() == "SF")
            .count(),
        500
    );
    // A SYN scan: 1994 SYNs to distinct ports from one host.
    let scan = get("chrissanders-packets/synscan.pcapng");
    assert_eq!(scan.connections.len(), 1994);
    assert!(scan.patterns.iter().any(|p| p.kind == "port_scan"));
    // A synthetic SYN flood: 200 unanswered SYNs to port 443.
    let flood = get("suricata-verify/syn-flood_tcp-session-syn-flood-drop-precedence.pcap");
    assert_eq!(flood.connections.len(), 200);
    assert!(
        flood
            .connections
            .iter()
            .all(|c| c.summary().outcome.name() == "S0")
    );
    assert!(
        flood
            .patterns
            .iter()
            .any(|p| p.kind == "syn_flood" && p.connections.len() == 200)
    );
    // Refused: one SYN answered by RST/ACK.
    let refused = get("chrissanders-packets/tcp_refuseconnection.pcapng");
    assert_eq!(refused.connections[0].summary().outcome.name(), "REJ");
    // A single SYN and nothing else.
    assert_eq!(
        get("zeek/tcp_syn_only.pcap").connections[0]
            .summary()
            .outcome
            .name(),
        "S0"
    );
    // RTO backoff: one segment resent five times, never acknowledged.
    let rto = get("chrissanders-packets/tcp_retransmissions.pcapng");
    let sender = rto.connections[0]
        .dirs
        .iter()
        .map(|d| d.stats.retransmissions)
        .max()
        .unwrap();
    assert_eq!(sender, 5);
    // Linux zero-window probes at SND.NXT-1: SPEC.md calls them probes, Wireshark keep-alives.
    let zw = get("chrissanders-packets/tcp_zerowindowdead.pcapng");
    let probes: u32 = zw.connections[0]
        .dirs
        .iter()
        .map(|d| d.stats.zero_window_probes)
        .sum();
    let keepalives: u32 = zw.connections[0]
        .dirs
        .iter()
        .map(|d| d.stats.keep_alives)
        .sum();
    assert_eq!((probes, keepalives), (3, 0));
    // Six keep-alives in the Docker upgrade capture.
    let ka = get("zeek/http_docker-http-upgrade_keepalive.pcap");
    assert_eq!(
        ka.connections
            .iter()
            .map(|c| c.dirs[0].stats.keep_alives + c.dirs[1].stats.keep_alives)
            .sum::<u32>(),
        6
    );
}

/// The table and time-wait reports of every shared capture stay within 80 and 200 columns:
/// long file names, warnings, patterns and addresses included.
#[test]
fn every_shared_capture_report_fits_the_width() {
    for f in shared_captures() {
        for width in ["80", "200"] {
            for args in [&[][..], &["time-wait"][..], &["--all"][..]] {
                let o = Command::new(env!("CARGO_BIN_EXE_tcpflow-audit"))
                    .args(args)
                    .arg(&f)
                    .env("COLUMNS", width)
                    .output()
                    .unwrap();
                let w: usize = width.parse().unwrap();
                for line in String::from_utf8_lossy(&o.stdout).lines() {
                    assert!(
                        line.chars().count() <= w,
                        "{} {args:?} at {w}: {line}",
                        f.display()
                    );
                }
            }
        }
    }
}
