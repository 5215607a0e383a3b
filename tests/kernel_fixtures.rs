//! The Linux kernel is the ground truth: every trace in fixtures/kernel was recorded between
//! network namespaces by fixtures/record/record.sh, with the kernel's own counters saved beside
//! it (`<scenario>.truth.json`). These tests run the real binary on each trace and compare what
//! it reconstructs with what the kernel counted. No expected number is written here: they all
//! come from the truth files.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn kernel_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/kernel")
}

fn run_json(path: &Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_tcpflow-audit"))
        .arg("--format")
        .arg("json")
        .arg(path)
        .output()
        .expect("run binary");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON")
}

struct Truth {
    name: String,
    doc: Value,
}

impl Truth {
    fn all() -> Vec<Truth> {
        let mut v: Vec<Truth> = std::fs::read_dir(kernel_dir())
            .expect("fixtures/kernel")
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().ends_with(".truth.json"))
            .map(|p| {
                let doc: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
                Truth {
                    name: doc["scenario"].as_str().unwrap().to_string(),
                    doc,
                }
            })
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        assert!(
            v.len() >= 10,
            "expected the recorded scenarios, found {}",
            v.len()
        );
        v
    }

    /// A kernel counter delta of `host` ("client" or "server"); absent means 0.
    fn nstat(&self, host: &str, key: &str) -> u64 {
        self.doc[host]["nstat"][key].as_u64().unwrap_or(0)
    }

    /// TcpExtTW counts TIME_WAIT sockets whose timer ran out, so it is read after the wait.
    fn time_wait_entries(&self, host: &str) -> u64 {
        let after = &self.doc[host]["nstat_after_time_wait"];
        match after.as_object() {
            Some(m) if !m.is_empty() => after["TcpExtTW"].as_u64().unwrap_or(0),
            _ => self.nstat(host, "TcpExtTW"),
        }
    }

    fn addr(&self, host: &str) -> String {
        self.doc[host]["addr"].as_str().unwrap().to_string()
    }

    /// (capture point, analysed document) for each trace of the scenario.
    fn captures(&self) -> Vec<(&'static str, Value)> {
        ["client", "server"]
            .into_iter()
            .filter_map(|point| {
                let file = self.doc["captures"][point].as_str()?;
                Some((point, run_json(&kernel_dir().join(file))))
            })
            .collect()
    }
}

fn conns(doc: &Value) -> &Vec<Value> {
    doc["connections"].as_array().unwrap()
}

/// Sum of a per-endpoint counter over all connections, for the endpoints of `role`.
fn sum(doc: &Value, role: &str, key: &str) -> u64 {
    conns(doc)
        .iter()
        .map(|c| c[role][key].as_u64().unwrap())
        .sum()
}

fn ip_of(endpoint: &str) -> String {
    let (ip, _) = endpoint.rsplit_once(':').unwrap();
    ip.trim_start_matches('[').trim_end_matches(']').to_string()
}

#[test]
fn connection_count_equals_kernel_active_opens() {
    for t in Truth::all() {
        for (point, doc) in t.captures() {
            assert_eq!(
                conns(&doc).len() as u64,
                t.nstat("client", "TcpActiveOpens"),
                "{} at {point}",
                t.name
            );
            let passive = t.nstat("server", "TcpPassiveOpens");
            let established = conns(&doc)
                .iter()
                .filter(|c| c["handshake"]["valid"] == true)
                .count() as u64;
            assert_eq!(
                established, passive,
                "{} at {point}: completed handshakes vs TcpPassiveOpens",
                t.name
            );
        }
    }
}

#[test]
fn frame_accounting_and_segments_sent_by_the_captured_host() {
    for t in Truth::all() {
        for (point, doc) in t.captures() {
            let cap = &doc["capture"];
            let skipped: u64 = cap["skipped"]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_u64().unwrap())
                .sum();
            assert_eq!(
                cap["tcp_segments"].as_u64().unwrap() + skipped,
                cap["packets"].as_u64().unwrap(),
                "{} at {point}",
                t.name
            );
            // The host beside the capture point: everything it sent passed the capture. Linux's
            // TcpOutSegs leaves out retransmitted segments (RFC 1213's tcpOutSegs).
            let sent = sum(&doc, point, "packets") - sum(&doc, point, "retransmissions");
            assert_eq!(
                sent,
                t.nstat(point, "TcpOutSegs"),
                "{} at {point}: segments sent vs TcpOutSegs",
                t.name
            );
        }
    }
}

#[test]
fn retransmissions_at_the_sender_equal_the_kernel_counters() {
    for t in Truth::all() {
        for (point, doc) in t.captures() {
            if point != "client" {
                continue;
            }
            let name = &t.name;
            assert_eq!(
                sum(&doc, "client", "retransmissions"),
                t.nstat("client", "TcpRetransSegs"),
                "{name}: TcpRetransSegs"
            );
            assert_eq!(
                sum(&doc, "client", "fast_retransmissions"),
                t.nstat("client", "TcpExtTCPFastRetrans"),
                "{name}: TcpExtTCPFastRetrans"
            );
            // Every firing of the retransmission timer counts in TCPTimeouts; the last firing
            // of a connection attempt that gives up (S0) sends nothing.
            let gave_up = conns(&doc).iter().filter(|c| c["outcome"] == "S0").count() as u64;
            assert_eq!(
                sum(&doc, "client", "rto_retransmissions") + gave_up,
                t.nstat("client", "TcpExtTCPTimeouts"),
                "{name}: TcpExtTCPTimeouts"
            );
            // TCPLossProbes counts both kinds of probe: a resend of the tail (a retransmission)
            // and new data (not one: bulk_loss50 has one, which TcpRetransSegs leaves out).
            assert_eq!(
                sum(&doc, "client", "tail_loss_probes") + sum(&doc, "client", "new_data_probes"),
                t.nstat("client", "TcpExtTCPLossProbes"),
                "{name}: TcpExtTCPLossProbes"
            );
        }
    }
}

#[test]
fn retransmissions_at_the_receiver_never_exceed_the_senders_count() {
    for t in Truth::all() {
        for (point, doc) in t.captures() {
            if point == "server" {
                // Retransmissions lost between sender and capture are not seen there.
                assert!(
                    sum(&doc, "client", "retransmissions") <= t.nstat("client", "TcpRetransSegs"),
                    "{}",
                    t.name
                );
            }
        }
    }
}

#[test]
fn time_wait_entries_and_held_at_end_equal_the_kernel() {
    for t in Truth::all() {
        for (point, doc) in t.captures() {
            let by_endpoint = doc["time_wait"]["by_endpoint"].as_array().unwrap();
            for host in ["client", "server"] {
                let addr = t.addr(host);
                let mine = || {
                    by_endpoint
                        .iter()
                        .filter(|e| ip_of(e["endpoint"].as_str().unwrap()) == addr)
                };
                let entered: u64 = mine().map(|e| e["entered"].as_u64().unwrap()).sum();
                assert_eq!(
                    entered,
                    t.time_wait_entries(host),
                    "{} at {point}: {host} TIME_WAIT entries vs TcpExtTW",
                    t.name
                );
                let held: u64 = mine().map(|e| e["held_at_end"].as_u64().unwrap()).sum();
                let ss = t.doc[host]["time_wait_at_end"].as_u64().unwrap();
                assert_eq!(
                    held, ss,
                    "{} at {point}: {host} TIME_WAIT held at the end vs ss",
                    t.name
                );
            }
        }
    }
}

fn states(c: &Value, role: &str) -> Vec<String> {
    c[role]["states"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn server_close_scenarios_show_the_server_holding_time_wait() {
    for t in Truth::all()
        .into_iter()
        .filter(|t| t.doc["params"]["closer"] == "server" || t.name == "http10_server_close")
    {
        for (point, doc) in t.captures() {
            for c in conns(&doc) {
                let server = states(c, "server");
                assert_eq!(
                    &server[..6],
                    [
                        "LISTEN",
                        "SYN_RECEIVED",
                        "ESTABLISHED",
                        "FIN_WAIT_1",
                        "FIN_WAIT_2",
                        "TIME_WAIT"
                    ],
                    "{} at {point} conn {}",
                    t.name,
                    c["id"]
                );
                // TIME_WAIT ends (expiry or reuse by a new SYN) or is still held at the end.
                assert!(
                    server.len() == 6 || server[6..] == ["CLOSED"],
                    "{} at {point} conn {}: {server:?}",
                    t.name,
                    c["id"]
                );
                assert_eq!(
                    states(c, "client"),
                    [
                        "CLOSED",
                        "SYN_SENT",
                        "ESTABLISHED",
                        "CLOSE_WAIT",
                        "LAST_ACK",
                        "CLOSED"
                    ],
                    "{} at {point} conn {}",
                    t.name,
                    c["id"]
                );
                assert_eq!(c["close"]["initiator"], "server");
                assert_eq!(c["close"]["time_wait"], "server");
                assert_eq!(c["outcome"], "SF");
            }
        }
    }
}

#[test]
fn outcomes_match_what_the_kernel_did() {
    for t in Truth::all() {
        let expected = match t.name.as_str() {
            "refused" => "REJ",
            "syn_unanswered" => "S0",
            "rst_abort" => "RSTO",
            "client_close"
            | "http10_server_close"
            | "ipv6_http"
            | "tw_reuse"
            | "keepalive"
            | "zero_window" => "SF",
            _ => continue,
        };
        for (point, doc) in t.captures() {
            for c in conns(&doc) {
                assert_eq!(
                    c["outcome"], expected,
                    "{} at {point} conn {}",
                    t.name, c["id"]
                );
            }
            if t.name == "client_close" {
                assert!(
                    conns(&doc)
                        .iter()
                        .all(|c| c["close"]["initiator"] == "client"
                            && c["close"]["time_wait"] == "client")
                );
            }
            if t.name == "rst_abort" {
                assert!(
                    conns(&doc)
                        .iter()
                        .all(|c| c["close"]["reset_by"] == "client")
                );
            }
        }
    }
}

#[test]
fn keep_alives_and_zero_window_probes_equal_the_kernel() {
    for t in Truth::all() {
        for (point, doc) in t.captures() {
            assert_eq!(
                sum(&doc, "client", "keep_alives"),
                t.nstat("client", "TcpExtTCPKeepAlive"),
                "{} at {point}",
                t.name
            );
            assert_eq!(
                sum(&doc, "client", "zero_window_probes"),
                t.nstat("client", "TcpExtTCPWinProbe"),
                "{} at {point}",
                t.name
            );
            assert_eq!(
                sum(&doc, "server", "zero_window_episodes"),
                t.nstat("server", "TcpExtTCPToZeroWindowAdv"),
                "{} at {point}",
                t.name
            );
            // D-SACK (RFC 2883): what the receiver reported twice-received, and what the
            // sender was told (none of the recorded traces has one yet; the counts must agree).
            let dsack_sent = t.nstat("server", "TcpExtTCPDSACKOldSent")
                + t.nstat("server", "TcpExtTCPDSACKOfoSent");
            assert_eq!(
                sum(&doc, "server", "dsacks_sent"),
                dsack_sent,
                "{} at {point}",
                t.name
            );
            assert_eq!(
                sum(&doc, "client", "dsacked_retransmissions"),
                t.nstat("client", "TcpExtTCPDSACKRecv"),
                "{} at {point}",
                t.name
            );
        }
    }
}

#[test]
fn reuse_during_time_wait_is_judged_acceptable_and_accepted() {
    let t = Truth::all()
        .into_iter()
        .find(|t| t.name == "tw_reuse")
        .expect("tw_reuse fixture");
    for (point, doc) in t.captures() {
        let reused: Vec<&Value> = conns(&doc)
            .iter()
            .filter(|c| !c["reuse"].is_null())
            .collect();
        let by_server: u64 = doc["time_wait"]["by_endpoint"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["reused"].as_u64().unwrap())
            .sum();
        assert_eq!(reused.len() as u64, by_server, "{point}");
        // The kernel accepted every connection (TcpPassiveOpens == attempts), so every reuse it
        // saw in TIME_WAIT must have been acceptable by RFC 6191 and answered with a SYN-ACK.
        assert!(!reused.is_empty());
        for c in reused {
            assert_eq!(c["reuse"]["acceptable"], true, "{point} conn {}", c["id"]);
            assert_eq!(
                c["reuse"]["outcome"], "accepted (SYN-ACK)",
                "{point} conn {}",
                c["id"]
            );
            assert_eq!(c["reuse"]["time_wait_holder"], "server");
        }
    }
}

/// RTT against the path the recorder built: each direction crosses the router with a fixed
/// one-way delay, so no round trip can be shorter than twice it, and on an idle veth path the
/// shortest is barely longer. Samples are taken at the sender (SPEC.md §5).
#[test]
fn rtt_at_the_sender_matches_the_recorded_path_delay() {
    for t in Truth::all() {
        let Some(one_way) = t.doc["params"]["one_way_delay_ms"].as_f64() else {
            continue;
        };
        let path_rtt = 2.0 * one_way;
        // The recorder's delay stage notes how late it released any packet (params.delay).
        let late = t.doc["params"]["delay"]["max_late_ms"]
            .as_f64()
            .unwrap_or(0.0);
        let ceiling = path_rtt + 2.0 * late + 5.0;
        for (point, doc) in t.captures() {
            for c in conns(&doc) {
                let hs = c["handshake"]["rtt_ms"].as_f64();
                if let Some(hs) = hs {
                    assert!(
                        (path_rtt..ceiling).contains(&hs),
                        "{} at {point} conn {}: handshake RTT {hs} ms vs path {path_rtt} ms",
                        t.name,
                        c["id"]
                    );
                }
                let rtt = &c["rtt_by_direction"]["client"];
                if point == "client" && rtt["samples"].as_u64().unwrap() > 0 {
                    let min = rtt["min_ms"].as_f64().unwrap();
                    assert!(
                        (path_rtt..ceiling).contains(&min),
                        "{} conn {}: min RTT {min} ms vs path {path_rtt} ms",
                        t.name,
                        c["id"]
                    );
                    let srtt = rtt["srtt_ms"].as_f64().unwrap();
                    // Above the path RTT by the queueing a bulk sender builds in the router.
                    assert!(
                        srtt >= min,
                        "{} conn {}: SRTT {srtt} ms below the minimum {min} ms",
                        t.name,
                        c["id"]
                    );
                    let rto = rtt["linux_rto_ms"].as_f64().unwrap();
                    assert!(
                        rto >= 200.0 && rto >= srtt,
                        "{} conn {}: RTO {rto} ms",
                        t.name,
                        c["id"]
                    );
                }
            }
        }
    }
}
