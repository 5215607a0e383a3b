//! Several capture files as one capture, `--label`, and `--write-pcap`: a capture split into
//! files (in order, interleaved, in mixed formats) reads as the whole, an unusable file is one
//! error before any output, and the frames written for a selection are exactly its frames.

mod common;

use std::collections::BTreeSet;
use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use common::{
    Endian, FIN, Link, Pcap, PcapNg, SYN, Tcp, TempPath, TsResol, fixture, gzip, run, udp_packet,
};
use serde_json::Value;

const ACK: u8 = 0x10;

fn json_of(args: &[&str]) -> Value {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let o = run(&all);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("json document")
}

/// One record of a legacy pcap file.
#[derive(Clone, PartialEq, Eq, Debug)]
struct Record {
    ts_ns: u64,
    data: Vec<u8>,
    orig_len: u32,
}

/// The link type and records of a little-endian legacy pcap file (gzip or not), as the kernel
/// fixtures are.
fn read_pcap(path: &Path) -> (u32, bool, Vec<Record>) {
    let raw = std::fs::read(path).expect("read capture");
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .expect("gunzip");
        out
    } else {
        raw
    };
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap());
    let nanos = match u32_at(0) {
        0xa1b2_c3d4 => false,
        0xa1b2_3c4d => true,
        m => panic!("{}: not a little-endian pcap ({m:#x})", path.display()),
    };
    let linktype = u32_at(20);
    let mut records = Vec::new();
    let mut i = 24;
    while i + 16 <= bytes.len() {
        let frac = u64::from(u32_at(i + 4));
        let ts_ns = u64::from(u32_at(i)) * 1_000_000_000 + if nanos { frac } else { frac * 1000 };
        let caplen = u32_at(i + 8) as usize;
        let orig_len = u32_at(i + 12);
        records.push(Record {
            ts_ns,
            data: bytes[i + 16..i + 16 + caplen].to_vec(),
            orig_len,
        });
        i += 16 + caplen;
    }
    (linktype, nanos, records)
}

fn pcap_of(linktype: u32, nanos: bool, records: &[Record]) -> Vec<u8> {
    let mut p = Pcap::new(Endian::Little, nanos, linktype);
    for r in records {
        p.record(r.ts_ns, &r.data, r.orig_len);
    }
    p.into_bytes()
}

/// The same records as pcapng, big-endian, with the pcap's own resolution.
fn pcapng_of(linktype: u32, nanos: bool, records: &[Record]) -> Vec<u8> {
    let mut ng = PcapNg::new(Endian::Big);
    let (resol, unit) = if nanos { (9, 1) } else { (6, 1000) };
    ng.interface(linktype as u16, Some(TsResol::Decimal(resol)), None);
    for r in records {
        ng.epb(0, r.ts_ns / unit, &r.data, r.orig_len);
    }
    ng.into_bytes()
}

/// What must not change when the capture comes in several files: everything but the file
/// description.
fn analysis(doc: &Value) -> Value {
    let mut doc = doc.clone();
    let capture = doc["capture"].as_object_mut().unwrap();
    for key in [
        "file",
        "format",
        "gzip",
        "big_endian",
        "sections",
        "interfaces",
        "files",
    ] {
        capture.remove(key);
    }
    doc
}

#[test]
fn a_capture_split_into_three_files_reads_as_the_whole() {
    for name in ["http10_server_close_server.pcap", "tw_reuse_server.pcap.gz"] {
        let whole = fixture(name);
        let (linktype, nanos, records) = read_pcap(&whole);
        let third = records.len() / 3;
        let a = TempPath::with_bytes("part-a.pcap", &pcap_of(linktype, nanos, &records[..third]));
        let b = TempPath::with_bytes(
            "part-b.pcap.gz",
            &gzip(&pcap_of(linktype, nanos, &records[third..2 * third])),
        );
        let c = TempPath::with_bytes(
            "part-c.pcapng",
            &pcapng_of(linktype, nanos, &records[2 * third..]),
        );
        let expected = json_of(&[whole.to_str().unwrap()]);
        let parts = [a.path(), b.path(), c.path()].map(|p| p.to_str().unwrap().to_string());
        let got = json_of(&parts.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(
            expected["connections"].as_array().unwrap().len() > 1,
            "{name}"
        );
        assert_eq!(analysis(&got), analysis(&expected), "{name}");
        let files = got["capture"]["files"].as_array().unwrap();
        let described: Vec<(String, String, u64, bool)> = files
            .iter()
            .map(|f| {
                (
                    f["file"].as_str().unwrap().to_string(),
                    f["format"].as_str().unwrap().to_string(),
                    f["frames"].as_u64().unwrap(),
                    f["gzip"].as_bool().unwrap(),
                )
            })
            .collect();
        let n = records.len() as u64;
        let t = third as u64;
        assert_eq!(
            described,
            vec![
                (parts[0].clone(), "pcap".into(), t, false),
                (parts[1].clone(), "pcap".into(), t, true),
                (parts[2].clone(), "pcapng".into(), n - 2 * t, false),
            ],
            "{name}"
        );
        assert_eq!(got["capture"]["format"], "mixed");
        assert_eq!(got["capture"]["packets"], n);
        // The TIME_WAIT report in words is the same too.
        let tw = |args: &[&str]| {
            let mut all = vec!["time-wait"];
            all.extend_from_slice(args);
            let out = String::from_utf8(run(&all).stdout).unwrap();
            out.lines()
                .skip_while(|l| !l.starts_with("TIME_WAIT"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let whole_tw = tw(&[whole.to_str().unwrap()]);
        assert!(whole_tw.contains("TIME_WAIT"), "{whole_tw}");
        assert_eq!(
            tw(&parts.iter().map(String::as_str).collect::<Vec<_>>()),
            whole_tw,
            "{name}"
        );
    }
}

#[test]
fn files_whose_times_interleave_are_merged_in_time_order() {
    let whole = fixture("tw_reuse_client.pcap.gz");
    let (linktype, nanos, records) = read_pcap(&whole);
    // Every other frame in each file: each file alone is a broken capture, merged it is whole.
    let (even, odd): (Vec<_>, Vec<_>) = records
        .iter()
        .cloned()
        .enumerate()
        .partition(|(i, _)| i % 2 == 0);
    let strip = |v: Vec<(usize, Record)>| v.into_iter().map(|(_, r)| r).collect::<Vec<_>>();
    let a = TempPath::with_bytes("odd.pcap", &pcap_of(linktype, nanos, &strip(odd)));
    let b = TempPath::with_bytes("even.pcapng", &pcapng_of(linktype, nanos, &strip(even)));
    let expected = json_of(&[whole.to_str().unwrap()]);
    // Given in either order, the merge is the same capture.
    for (x, y) in [(&a, &b), (&b, &a)] {
        let got = json_of(&[x.path().to_str().unwrap(), y.path().to_str().unwrap()]);
        assert_eq!(analysis(&got), analysis(&expected));
    }
}

#[test]
fn standard_input_is_one_of_the_files() {
    let whole = fixture("http10_server_close_client.pcap");
    let (linktype, nanos, records) = read_pcap(&whole);
    let half = records.len() / 2;
    let a = TempPath::with_bytes("first.pcap", &pcap_of(linktype, nanos, &records[..half]));
    let second = pcap_of(linktype, nanos, &records[half..]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_tcpflow-audit"))
        .args(["--format", "json", a.path().to_str().unwrap(), "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&second).unwrap();
    }
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    let got: Value = serde_json::from_slice(&o.stdout).unwrap();
    let expected = json_of(&[whole.to_str().unwrap()]);
    assert_eq!(analysis(&got), analysis(&expected));
    assert_eq!(got["capture"]["files"][1]["file"], "-");
    let twice = run(&["-", "-"]);
    assert_eq!(twice.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&twice.stderr).contains("only once"));
}

#[test]
fn an_unusable_file_among_several_is_one_error_naming_it_before_any_output() {
    let good = fixture("http10_server_close_client.pcap");
    let bad = TempPath::with_bytes("not-a-capture.pcap", b"HTTP/1.1 200 OK\r\n");
    let empty = TempPath::with_bytes("empty.pcap", b"");
    let header_only = TempPath::with_bytes(
        "header-only.pcap",
        &Pcap::new(Endian::Little, false, 1).into_bytes()[..20],
    );
    let dir = TempPath::dir("out-dir");
    let pcap_out = dir.path().join("selected.pcap");
    let parquet_out = dir.path().join("parquet");
    for broken in [
        bad.path(),
        empty.path(),
        header_only.path(),
        Path::new("/nonexistent/x.pcap"),
    ] {
        for format in ["jsonl", "table", "parquet"] {
            let mut args = vec![
                "--format",
                format,
                "--write-pcap",
                pcap_out.to_str().unwrap(),
                good.to_str().unwrap(),
                broken.to_str().unwrap(),
            ];
            if format == "parquet" {
                args.extend(["-o", parquet_out.to_str().unwrap()]);
            }
            let o = run(&args);
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{format} {err}");
            assert!(o.stdout.is_empty(), "{format}");
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(err.contains(broken.to_str().unwrap()), "{err}");
            assert!(
                !pcap_out.exists() && !parquet_out.exists(),
                "{format}: a file was left"
            );
        }
    }
}

#[test]
fn label_stamps_connection_and_time_wait_records() {
    let f = fixture("http10_server_close_server.pcap");
    let f = f.to_str().unwrap();
    let doc = json_of(&["--label", "web-1", f]);
    let conns = doc["connections"].as_array().unwrap();
    assert!(conns.iter().all(|c| c["label"] == "web-1"));
    let eps = doc["time_wait"]["by_endpoint"].as_array().unwrap();
    assert!(!eps.is_empty());
    assert!(eps.iter().all(|e| e["label"] == "web-1"));
    let line =
        String::from_utf8(run(&["--format", "jsonl", "--label", "web-1", f]).stdout).unwrap();
    assert!(
        line.lines()
            .all(|l| l.starts_with(r#"{"label":"web-1","id":"#)),
        "{line}"
    );
    let csv = String::from_utf8(run(&["--format", "csv", "--label", "a,b", f]).stdout).unwrap();
    assert!(csv.starts_with("label,id,client,"), "{csv}");
    assert!(csv.lines().skip(1).all(|l| l.starts_with("\"a,b\",")));
    // Without a label nothing changes.
    let plain = json_of(&[f]);
    assert!(plain["connections"][0].get("label").is_none());
    assert!(plain["time_wait"]["by_endpoint"][0].get("label").is_none());
}

// ---------------------------------------------------------------------------------------------
// --write-pcap
// ---------------------------------------------------------------------------------------------

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Six connections, to ports 80 and 443 in turn, each followed by a UDP frame; returns the
/// capture, its frames, and the indexes of the port 443 connections' frames.
fn two_services() -> (Vec<u8>, Vec<Vec<u8>>, BTreeSet<usize>) {
    let link = Link::Ethernet;
    let mut frames: Vec<Vec<u8>> = Vec::new();
    let mut of_443 = BTreeSet::new();
    for i in 0..6u16 {
        let port = if i % 2 == 0 { 80 } else { 443 };
        let c = addr(&format!("10.0.0.{}:{}", 1 + i, 40000 + i));
        let s = addr(&format!("10.0.9.9:{port}"));
        let segs = [
            Tcp::new(c, s, SYN).seq(100),
            Tcp::new(s, c, SYN | ACK).seq(500).ack(101),
            Tcp::new(c, s, ACK).seq(101).ack(501).payload(10),
            Tcp::new(s, c, FIN | ACK).seq(501).ack(111),
            Tcp::new(c, s, FIN | ACK).seq(111).ack(502),
            Tcp::new(s, c, ACK).seq(502).ack(112),
        ];
        for seg in segs {
            if port == 443 {
                of_443.insert(frames.len());
            }
            frames.push(seg.frame(link));
        }
        frames.push(link.wrap(&udp_packet(c, addr("10.0.9.9:53"), 20)));
    }
    let mut p = Pcap::new(Endian::Little, false, link.dlt(false));
    // Frame k at 1.7e9 s + k ms: ports alternate every seven frames.
    for (k, f) in frames.iter().enumerate() {
        p.packet(1_700_000_000_000_000_000 + k as u64 * 1_000_000, f);
    }
    (p.into_bytes(), frames, of_443)
}

#[test]
fn write_pcap_holds_exactly_the_selected_connections_frames() {
    let (capture, frames, of_443) = two_services();
    let input = TempPath::with_bytes("services.pcap", &capture);
    let out = TempPath::new("port443.pcap");
    let o = run(&[
        "--format",
        "json",
        "--port",
        "443",
        "--write-pcap",
        out.path().to_str().unwrap(),
        input.path().to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let (_, _, written) = read_pcap(out.path());
    let expected: Vec<&Vec<u8>> = of_443.iter().map(|&i| &frames[i]).collect();
    let got: Vec<&Vec<u8>> = written.iter().map(|r| &r.data).collect();
    assert_eq!(
        got, expected,
        "the frames of the port 443 connections, unchanged, in order"
    );
    // Times are kept to the nanosecond.
    let first = *of_443.iter().next().unwrap() as u64;
    assert_eq!(
        written[0].ts_ns,
        1_700_000_000_000_000_000 + first * 1_000_000
    );
    // Read back by the tool: the same connections, with the same counts.
    let back = json_of(&[out.path().to_str().unwrap()]);
    let selected: Value = serde_json::from_slice(&o.stdout).unwrap();
    let strip = |v: &Value| {
        v["connections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["client_address"].clone(),
                    c["server_address"].clone(),
                    c["outcome"].clone(),
                    c["client"]["packets"].clone(),
                    c["server"]["packets"].clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&back), strip(&selected));
    assert_eq!(back["capture"]["packets"], of_443.len());
    assert_eq!(back["capture"]["tcp_segments"], of_443.len());
}

#[test]
fn write_pcap_with_a_connection_id_and_no_match() {
    let (capture, frames, _) = two_services();
    let input = TempPath::with_bytes("services.pcap", &capture);
    let out = TempPath::new("conn2.pcap");
    let o = run(&[
        "--conn",
        "2",
        "--format",
        "csv",
        "--write-pcap",
        out.path().to_str().unwrap(),
        input.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    let (_, _, written) = read_pcap(out.path());
    // Connection 2 is the second TCP connection: frames 7..13 of the capture.
    let got: Vec<&Vec<u8>> = written.iter().map(|r| &r.data).collect();
    assert_eq!(got, frames[7..13].iter().collect::<Vec<_>>());
    // Nothing selected: a valid, empty pcap.
    let o = run(&[
        "--port",
        "9",
        "--write-pcap",
        out.path().to_str().unwrap(),
        input.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert!(read_pcap(out.path()).2.is_empty());
    // A selection known only at the end cannot choose frames as they are read.
    let o = run(&[
        "--anomalies-only",
        "--write-pcap",
        out.path().to_str().unwrap(),
        input.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
}

/// tshark reads what `--write-pcap` wrote and finds exactly the selected connections' frames.
#[test]
fn write_pcap_output_is_read_by_tshark() {
    let tshark = Command::new("tshark").arg("--version").output();
    assert!(
        tshark.is_ok_and(|o| o.status.success()),
        "tshark is needed (apt-get install -y tshark; .ci/run installs it)"
    );
    let f = fixture("tw_reuse_client.pcap.gz");
    let out = TempPath::new("tw-conn.pcap");
    let doc = json_of(&[
        "--conn",
        "3",
        "--conn",
        "7",
        "--write-pcap",
        out.path().to_str().unwrap(),
        f.to_str().unwrap(),
    ]);
    let conns = doc["connections"].as_array().unwrap();
    assert_eq!(conns.len(), 2);
    let o = Command::new("tshark")
        .args(["-n", "-r", out.path().to_str().unwrap(), "-T", "fields"])
        .args([
            "-e",
            "tcp.srcport",
            "-e",
            "tcp.dstport",
            "-e",
            "frame.time_epoch",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines = String::from_utf8(o.stdout).unwrap();
    let packets: u64 = conns
        .iter()
        .map(|c| {
            c["client"]["packets"].as_u64().unwrap() + c["server"]["packets"].as_u64().unwrap()
        })
        .sum();
    assert_eq!(lines.lines().count() as u64, packets, "{lines}");
    let ports: BTreeSet<String> = conns
        .iter()
        .map(|c| {
            c["client_address"]
                .as_str()
                .unwrap()
                .rsplit(':')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    for l in lines.lines() {
        let mut f = l.split('\t');
        let (src, dst) = (f.next().unwrap(), f.next().unwrap());
        assert!(ports.contains(src) || ports.contains(dst), "{l}");
    }
}
