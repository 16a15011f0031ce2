//! The HTML report in a real browser: headless Debian chromium renders it
//! to a PNG that must show the page (not a blank or error page), and its DOM
//! must carry the run id and the scores. The HTML itself must ask the
//! browser to fetch nothing.
//!
//! `.ci/run` installs chromium. Under `CI=true` a missing browser fails
//! these tests loudly; elsewhere they are skipped with a message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use core::time::Duration;
use std::path::Path;
use std::process::Command;

use airlock_tests::*;

/// A headless browser kept off the network and out of the user's profile.
fn browser(chromium: &Path, profile: &Path) -> Command {
    let mut command = airlock_tests::browser::headless(chromium, profile);
    command.args(["--disable-quic", "--disable-background-networking"]);
    command
}

fn file_url(path: &Path) -> String {
    format!("file://{}", path.canonicalize().unwrap().display())
}

/// A decoded screenshot as RGB pixels.
struct Picture {
    width: u32,
    height: u32,
    rgb: Vec<[u8; 3]>,
}

impl Picture {
    fn decode(bytes: Vec<u8>) -> Picture {
        let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
        let mut reader = decoder.read_info().expect("the screenshot is a PNG");
        let mut buf = vec![0; reader.output_buffer_size().expect("PNG size fits memory")];
        let info = reader.next_frame(&mut buf).expect("the PNG decodes");
        let channels = match info.color_type {
            png::ColorType::Rgb => 3,
            png::ColorType::Rgba => 4,
            other => panic!("unexpected PNG colour type {other:?}"),
        };
        let rgb = buf[..info.buffer_size()]
            .chunks_exact(channels)
            .map(|p| [p[0], p[1], p[2]])
            .collect();
        Picture {
            width: info.width,
            height: info.height,
            rgb,
        }
    }

    fn at(&self, x: u32, y: u32) -> [u8; 3] {
        self.rgb[(y * self.width + x) as usize]
    }

    fn has_near(&self, colour: [u8; 3]) -> bool {
        self.rgb
            .iter()
            .any(|p| p.iter().zip(colour).all(|(a, b)| a.abs_diff(b) <= 12))
    }

    fn distinct_colours(&self) -> usize {
        let mut seen: Vec<[u8; 3]> = self.rgb.clone();
        seen.sort_unstable();
        seen.dedup();
        seen.len()
    }
}

/// Renders `html` headless to a 1200×1600 PNG.
fn screenshot(chromium: &Path, html: &Path, scratch: &Path, name: &str) -> Picture {
    let png = scratch.join(format!("{name}.png"));
    let profile = scratch.join(format!("{name}-profile"));
    let done = finish_within(
        browser(chromium, &profile)
            .arg(format!("--screenshot={}", png.display()))
            .arg("--window-size=1200,1600")
            .arg(file_url(html)),
        Duration::from_secs(180),
    );
    assert!(done.status.success(), "chromium failed: {done}");
    let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("no screenshot ({e}): {done}"));
    assert!(
        bytes.len() > 10_000,
        "implausibly small screenshot: {} bytes",
        bytes.len()
    );
    let picture = Picture::decode(bytes);
    assert_eq!((picture.width, picture.height), (1200, 1600));
    picture
}

/// The DOM after the browser has parsed the page.
fn dump_dom(chromium: &Path, html: &Path, scratch: &Path, name: &str) -> String {
    let done = finish_within(
        browser(chromium, &scratch.join(format!("{name}-dom-profile")))
            .arg("--dump-dom")
            .arg(file_url(html)),
        Duration::from_secs(180),
    );
    assert!(done.status.success(), "chromium --dump-dom failed: {done}");
    done.stdout
}

/// Nothing in the page makes a browser fetch: no script, no external
/// reference, and the only `http` text is the SVG namespace name.
fn assert_fetches_nothing(html: &str) {
    let lower = html.to_ascii_lowercase();
    for banned in [
        "<script",
        "<link",
        "<img",
        "<iframe",
        "<object",
        "<embed",
        "<base",
        "@import",
        "@font-face",
        "url(",
        "src=",
        "href=",
        "srcset",
        "<meta http-equiv=\"refresh",
    ] {
        assert!(!lower.contains(banned), "the report contains {banned:?}");
    }
    for (at, _) in lower.match_indices("http") {
        let before = &lower[..at];
        assert!(
            before.ends_with("xmlns=\"") || before.ends_with("<meta "),
            "a URL in the report: {:?}",
            &html[at.saturating_sub(40)..(at + 60).min(html.len())]
        );
    }
    assert!(
        html.contains("Content-Security-Policy\" content=\"default-src 'none'"),
        "the page must forbid every fetch by policy too"
    );
}

fn report_html(bundle: &Path, trust: &Path, out: &Path) -> Finished {
    finish(
        airlock()
            .arg("report")
            .arg(bundle)
            .arg("--trust")
            .arg(trust)
            .args(["--format", "html", "--out"])
            .arg(out),
    )
}

#[test]
fn html_report_renders_in_a_browser_with_run_id_and_scores() {
    let Some(chromium) = chromium("the HTML report") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let bundle = dir.path().join("run.bundle");
    let run = Run::new("reference", &key, &bundle)
        .seed(seed(5))
        .arg("--epochs")
        .arg("2")
        .arg("--json");
    let done = run.finish();
    done.expect_code(0);
    let run_id = done.json()["run_id"].as_str().unwrap().to_owned();

    let html_path = dir.path().join("report.html");
    report_html(&bundle, &key.public, &html_path).expect_code(0);
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert_fetches_nothing(&html);

    let picture = screenshot(&chromium, &html_path, dir.path(), "verified");
    // The green banner, the white page and the blue score bars all show:
    // the page rendered, with its inline style and SVG.
    let banner = picture.at(20, 20);
    assert!(
        banner[1] > banner[0] + 50 && banner[1] > banner[2] + 30,
        "banner is not green: {banner:?}"
    );
    assert_eq!(picture.at(1100, 200), [255, 255, 255], "page background");
    assert!(
        picture.has_near([0x09, 0x69, 0xda]),
        "no blue bar in the screenshot"
    );
    assert!(
        picture.distinct_colours() > 50,
        "too few colours for a rendered page: {}",
        picture.distinct_colours()
    );

    let dom = dump_dom(&chromium, &html_path, dir.path(), "verified");
    assert!(dom.contains(&run_id), "run id missing from the DOM");
    assert!(
        dom.contains("id=\"overall-mean\">100.00%<"),
        "overall score missing from the DOM"
    );
    assert!(
        dom.contains("VERIFIED: every record"),
        "verdict missing from the DOM"
    );
    assert!(
        !dom.contains("UNVERIFIED"),
        "a verified report says UNVERIFIED"
    );
    for task in DEFAULT_TASKS {
        assert!(dom.contains(task), "{task} missing from the DOM");
    }
    assert!(
        dom.contains("[100.00%, 100.00%]"),
        "interval missing from the DOM"
    );
}

#[test]
fn unverified_html_report_is_red_and_says_so() {
    let Some(chromium) = chromium("the HTML report") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path());
    let bundle = dir.path().join("run.bundle");
    Run::new("null", &key, &bundle)
        .seed(seed(6))
        .finish()
        .expect_code(0);
    let mut bytes = std::fs::read(&bundle).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 0x10;
    std::fs::write(&bundle, &bytes).unwrap();

    let html_path = dir.path().join("report.html");
    report_html(&bundle, &key.public, &html_path).expect_code(1);
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert_fetches_nothing(&html);
    assert!(
        html.contains("<title>UNVERIFIED"),
        "title must say UNVERIFIED"
    );

    let picture = screenshot(&chromium, &html_path, dir.path(), "unverified");
    let banner = picture.at(20, 20);
    assert!(
        banner[0] > banner[1] + 100 && banner[0] > banner[2] + 100,
        "banner is not red: {banner:?}"
    );
    let dom = dump_dom(&chromium, &html_path, dir.path(), "unverified");
    assert!(
        dom.contains("UNVERIFIED BUNDLE: do not rely"),
        "warning missing from the DOM"
    );
    assert!(dom.contains("failed"), "the failing level is not named");
}
