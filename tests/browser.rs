//! The page in a real browser: headless Chromium opens the HTML of two kernel traces, its
//! script runs without error (it sets `data-ready` on `<body>`, which `--dump-dom` shows), and
//! a screenshot is not blank. The README's pictures are made here too:
//! `TCPFLOW_AUDIT_WRITE_DOCS=1 cargo test --release --test browser` rewrites docs/*.png.
//!
//! `.ci/run` installs Chromium, so under `CI=true` a missing browser fails the test; elsewhere
//! the test says why it is skipped.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_tcpflow-audit");

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/kernel")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

/// The browser, or `None` (with the reason printed) when this machine has none and is not CI.
fn browser_or_skip() -> Option<&'static str> {
    match chromium() {
        Some(b) => Some(b),
        None if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but no Chromium: .ci/run installs it (apt-get install chromium)")
        }
        None => {
            eprintln!(
                "SKIPPED: no chromium on this machine (apt-get install chromium); under CI=true this test fails instead"
            );
            None
        }
    }
}

fn headless(browser: &str) -> Command {
    let mut c = Command::new(browser);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--disable-extensions",
        "--run-all-compositor-stages-before-draw",
    ]);
    c
}

fn url(p: &Path) -> String {
    format!("file://{}", p.display())
}

fn write_output(args: &[&str], to: &Path) {
    let o = Command::new(BIN).args(args).output().expect("run binary");
    assert_eq!(o.status.code(), Some(0), "{args:?}");
    std::fs::write(to, o.stdout).expect("write");
}

fn screenshot(browser: &str, page: &Path, png: &Path, size: (u32, u32)) {
    let _ = std::fs::remove_file(png);
    let o = headless(browser)
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("--window-size={},{}", size.0, size.1))
        .arg(url(page))
        .output()
        .expect("run chromium");
    assert!(
        png.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Decoded pixels: how many are not white, and how many distinct colours there are.
fn ink(png: &Path) -> (f64, usize) {
    let decoder = png::Decoder::new(std::fs::File::open(png).expect("open png"));
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("png frame");
    let step = info.color_type.samples();
    let bytes = &buf[..info.buffer_size()];
    let mut colours = std::collections::BTreeSet::new();
    let mut inked = 0usize;
    let mut total = 0usize;
    for px in bytes.chunks(step) {
        total += 1;
        let rgb = (px[0], px[1.min(step - 1)], px[2.min(step - 1)]);
        if rgb != (255, 255, 255) {
            inked += 1;
        }
        if colours.len() < 4096 {
            colours.insert(rgb);
        }
    }
    (inked as f64 / total.max(1) as f64, colours.len())
}

/// The size an SVG asks for.
fn svg_size(svg: &Path) -> (u32, u32) {
    let text = std::fs::read_to_string(svg).expect("svg");
    let attr = |name: &str| -> u32 {
        let key = format!(" {name}=\"");
        let i = text.find(&key).expect(name) + key.len();
        text[i..]
            .split('"')
            .next()
            .and_then(|v| v.parse().ok())
            .expect(name)
    };
    (attr("width"), attr("height"))
}

#[test]
fn chromium_runs_the_page_script_and_draws_the_graphs() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&dir).expect("mkdir");
    for (name, trace) in [
        ("bulk_loss5", "bulk_loss5_server.pcap.gz"),
        ("http10_server_close", "http10_server_close_server.pcap"),
    ] {
        let page = dir.join(format!("{name}.html"));
        write_output(&["--format", "html", &fixture(trace)], &page);
        let o = headless(browser)
            .arg("--dump-dom")
            .arg(url(&page))
            .output()
            .expect("run chromium");
        let dom = String::from_utf8_lossy(&o.stdout);
        assert!(
            dom.contains("<body data-ready=\"1\">"),
            "{name}: the script did not finish: {}",
            dom.lines()
                .find(|l| l.contains("<body"))
                .unwrap_or("no <body>")
        );
        let body = dom.lines().find(|l| l.contains("<body")).unwrap_or("");
        assert!(!body.contains("data-error"), "{name}: script error: {body}");
        let png = dir.join(format!("{name}.png"));
        screenshot(browser, &page, &png, (1200, 2400));
        let (inked, colours) = ink(&png);
        assert!(
            inked > 0.03 && colours > 20,
            "{name}: blank screenshot ({inked}, {colours})"
        );
    }
}

#[test]
fn readme_pictures_of_a_kernel_trace() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let write_docs = std::env::var_os("TCPFLOW_AUDIT_WRITE_DOCS").is_some();
    let out = if write_docs {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs")
    } else {
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("docs")
    };
    std::fs::create_dir_all(&out).expect("mkdir");
    for (kind, trace) in [
        ("tsg", "bulk_loss5_server.pcap.gz"),
        ("ladder", "http10_server_close_server.pcap"),
    ] {
        let svg = out.join(format!("{kind}.svg"));
        write_output(&["plot", kind, "--conn", "1", &fixture(trace)], &svg);
        let png = out.join(format!("{kind}.png"));
        screenshot(browser, &svg, &png, svg_size(&svg));
        let (inked, colours) = ink(&png);
        assert!(inked > 0.02 && colours > 10, "{kind}: blank picture");
        if write_docs {
            std::fs::remove_file(&svg).expect("rm svg");
        }
    }
}
