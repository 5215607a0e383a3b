//! The committed JSON Schema (`schema/`) against real output of the binary: every kernel fixture
//! and the shared captures (when `../shared/captures` exists), as `--format json` and as
//! `--format jsonl` lines; and a renamed field must fail, so the schema is closed.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use jsonschema::{Registry, Validator};
use serde_json::Value;

const DOCUMENT_ID: &str = "https://tcpflow-audit.invalid/schema/tcpflow-audit-1.schema.json";
const LINE_ID: &str = "https://tcpflow-audit.invalid/schema/tcpflow-audit-1.jsonl.schema.json";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn load(name: &str) -> Value {
    let path = root().join("schema").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

struct Schemas {
    document: Validator,
    line: Validator,
}

fn schemas() -> Schemas {
    let document = load("tcpflow-audit-1.schema.json");
    let line = load("tcpflow-audit-1.jsonl.schema.json");
    assert_eq!(document["$id"], DOCUMENT_ID);
    assert_eq!(line["$id"], LINE_ID);
    for s in [&document, &line] {
        assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
        // The schema files are themselves valid draft 2020-12 schemas.
        if let Err(e) = jsonschema::meta::validate(s) {
            panic!("not a valid schema: {e}");
        }
    }
    // The line schema refers to the document's `$defs/connection`: hand it over, fetch nothing.
    let registry = Registry::new()
        .add(DOCUMENT_ID, document.clone())
        .expect("register the document schema")
        .prepare()
        .expect("prepare the registry");
    Schemas {
        document: jsonschema::draft202012::options()
            .build(&document)
            .expect("document schema compiles"),
        line: jsonschema::draft202012::options()
            .with_registry(&registry)
            .build(&line)
            .expect("line schema compiles"),
    }
}

fn run(format: &str, capture: &Path) -> Option<Vec<u8>> {
    let o = Command::new(env!("CARGO_BIN_EXE_tcpflow-audit"))
        .args(["-q", "--format", format])
        .arg(capture)
        .output()
        .expect("run binary");
    // Exit 2 is an unusable capture (some shared captures are broken on purpose).
    match o.status.code() {
        Some(0) => Some(o.stdout),
        Some(2) => None,
        other => panic!("{}: exit {other:?}", capture.display()),
    }
}

/// Every error, with where it is, for a readable failure.
fn errors(v: &Validator, instance: &Value) -> Vec<String> {
    v.iter_errors(instance)
        .take(10)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// Validate json and jsonl output of one capture; returns the number of connections, or None
/// when the binary refused the capture.
fn check_capture(s: &Schemas, capture: &Path) -> Option<usize> {
    let out = run("json", capture)?;
    let doc: Value = serde_json::from_slice(&out)
        .unwrap_or_else(|e| panic!("{}: json output does not parse: {e}", capture.display()));
    let errs = errors(&s.document, &doc);
    assert!(errs.is_empty(), "{}: {errs:#?}", capture.display());
    let n = doc["connections"].as_array().map_or(0, Vec::len);

    let out = run("jsonl", capture).expect("jsonl run after json run");
    let text = String::from_utf8(out).expect("jsonl is UTF-8");
    let by_id: HashMap<u64, &Value> = doc["connections"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| (c["id"].as_u64().expect("id"), c))
        .collect();
    let mut seen = HashSet::new();
    for (i, l) in text.lines().enumerate() {
        let v: Value = serde_json::from_str(l)
            .unwrap_or_else(|e| panic!("{} line {}: {e}", capture.display(), i + 1));
        let errs = errors(&s.line, &v);
        assert!(
            errs.is_empty(),
            "{} line {}: {errs:#?}",
            capture.display(),
            i + 1
        );
        // A line is exactly the document's connection with that id (lines come in the order
        // the connections finished, the document's in id order).
        let id = v["id"].as_u64().expect("id");
        assert!(
            seen.insert(id),
            "{}: id {id} written twice",
            capture.display()
        );
        assert_eq!(
            Some(&&v),
            by_id.get(&id),
            "{} line {}",
            capture.display(),
            i + 1
        );
    }
    assert_eq!(
        seen.len(),
        n,
        "{}: one jsonl line per connection",
        capture.display()
    );
    Some(n)
}

fn captures_in(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            captures_in(&p, out);
        } else {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if [".pcap", ".pcapng", ".pcap.gz", ".pcapng.gz"]
                .iter()
                .any(|ext| name.ends_with(ext))
            {
                out.push(p);
            }
        }
    }
}

#[test]
fn every_kernel_fixture_validates_as_json_and_jsonl() {
    let s = schemas();
    let mut captures = Vec::new();
    captures_in(&root().join("fixtures/kernel"), &mut captures);
    captures.sort();
    assert!(captures.len() >= 20, "kernel fixtures: {captures:?}");
    let mut connections = 0;
    for c in &captures {
        connections += check_capture(&s, c).unwrap_or_else(|| panic!("{}: refused", c.display()));
    }
    assert!(connections > 1000, "{connections}");
}

#[test]
fn shared_captures_validate() {
    let dir = root().join("../shared/captures");
    assert!(
        dir.is_dir(),
        "{} is missing: the project is tested with ../shared beside it, as CI lays it",
        dir.display()
    );
    let s = schemas();
    let mut captures = Vec::new();
    captures_in(&dir, &mut captures);
    captures.sort();
    let mut validated = 0;
    for c in &captures {
        if check_capture(&s, c).is_some() {
            validated += 1;
        }
    }
    eprintln!(
        "{validated} of {} shared captures validated",
        captures.len()
    );
    // The rest are the unusable files (exit 2), checked by tests/shared_captures.rs.
    assert!(
        validated >= 70 && validated + 10 >= captures.len(),
        "only {validated} of {} shared captures validated",
        captures.len()
    );
}

/// Documents whose shape changed must fail: the schema is closed and typed, not a formality.
#[test]
fn a_renamed_or_mistyped_field_fails_validation() {
    let s = schemas();
    let out = run(
        "json",
        &root().join("fixtures/kernel/tw_reuse_server.pcap.gz"),
    )
    .unwrap();
    let doc: Value = serde_json::from_slice(&out).unwrap();
    assert!(errors(&s.document, &doc).is_empty());

    type Mutation = (&'static str, fn(&mut Value));
    let mutations: Vec<Mutation> = vec![
        ("capture.packets renamed", |d| {
            let m = d["capture"].as_object_mut().unwrap();
            let v = m.shift_remove("packets").unwrap();
            m.insert("frames".into(), v);
        }),
        ("connection.client.dup_acks renamed", |d| {
            let m = d["connections"][0]["client"].as_object_mut().unwrap();
            let v = m.shift_remove("dup_acks").unwrap();
            m.insert("dup_ack".into(), v);
        }),
        ("handshake.rtt_ms removed", |d| {
            d["connections"][0]["handshake"]
                .as_object_mut()
                .unwrap()
                .shift_remove("rtt_ms");
        }),
        ("start_ts as a string", |d| {
            d["connections"][0]["start_ts"] = Value::String("1795249820.928021".into());
        }),
        ("outcome not a Zeek conn_state", |d| {
            d["connections"][0]["outcome"] = Value::String("DONE".into());
        }),
        ("extra field in rtt_by_direction", |d| {
            d["connections"][0]["rtt_by_direction"]["client"]["direction"] =
                Value::String("client".into());
        }),
        ("time_wait peak negative", |d| {
            d["time_wait"]["by_endpoint"][0]["peak"] = serde_json::json!(-1);
        }),
        ("schema version", |d| {
            d["schema"] = Value::String("tcpflow-audit/2".into());
        }),
    ];
    for (what, mutate) in mutations {
        let mut bad = doc.clone();
        mutate(&mut bad);
        assert!(
            !s.document.is_valid(&bad),
            "{what}: the document schema accepted it"
        );
        if bad["schema"] == "tcpflow-audit/1" && bad["time_wait"] == doc["time_wait"] {
            let line = bad["connections"][0].clone();
            if line != doc["connections"][0] {
                assert!(
                    !s.line.is_valid(&line),
                    "{what}: the line schema accepted it"
                );
            }
        }
    }
}

/// `--label` and several files change the document: both validate, the label on every
/// connection and TIME_WAIT record, the files in `capture.files`.
#[test]
fn labelled_output_of_several_files_validates() {
    let s = schemas();
    let kernel = root().join("fixtures/kernel");
    let o = Command::new(env!("CARGO_BIN_EXE_tcpflow-audit"))
        .args(["-q", "--format", "json", "--label", "web-1"])
        .arg(kernel.join("http10_server_close_server.pcap"))
        .arg(kernel.join("tw_reuse_server.pcap.gz"))
        .output()
        .expect("run binary");
    assert_eq!(o.status.code(), Some(0));
    let doc: Value = serde_json::from_slice(&o.stdout).expect("json");
    let errs = errors(&s.document, &doc);
    assert!(errs.is_empty(), "{errs:#?}");
    assert_eq!(doc["capture"]["files"].as_array().map(Vec::len), Some(2));
    assert_eq!(doc["connections"][0]["label"], "web-1");
    for c in doc["connections"].as_array().unwrap() {
        assert!(errs_none(&s.line, c), "{c}");
    }
    // An empty label is refused on the command line, so the schema asks for one character.
    let mut bad = doc.clone();
    bad["connections"][0]["label"] = Value::String(String::new());
    assert!(!errors(&s.document, &bad).is_empty());
}

fn errs_none(v: &Validator, instance: &Value) -> bool {
    errors(v, instance).is_empty()
}
