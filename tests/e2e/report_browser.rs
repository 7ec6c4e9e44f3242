//! The HTML run report, end to end: convert the fixtures with the built binary, write the
//! report both ways (`convert --report-html` and `migx report`), and render it in a real
//! headless Chromium when one is installed (screenshot + DOM dump).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::MIGX;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Convert the authored and hostile fixtures into `out`, with the report at `out/report.html`.
fn convert(out: &Path) -> PathBuf {
    let report = out.join("report.html");
    let f = fixtures();
    let status = Command::new(MIGX)
        .arg("convert")
        .arg(f.join("extracts"))
        .arg(f.join("hostile"))
        .arg("--consent")
        .arg(f.join("consent.csv"))
        .args([
            "--permit-requester",
            "Y02345",
            "--without-official-refsets",
            "--quiet",
            "--out",
        ])
        .arg(out)
        .arg("--report-html")
        .arg(&report)
        .status()
        .expect("run migx");
    // The hostile fixtures are rejected: exit 1, but the run (and report) completes.
    assert_eq!(status.code(), Some(1), "migx convert exit code");
    report
}

#[test]
fn report_is_written_both_ways_identically_and_owner_only() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let report = convert(&out);
    let html = std::fs::read_to_string(&report).expect("report written by --report-html");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&report).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "report mode");
    }
    assert!(html.contains("<svg id=\"chart-shared\""));
    assert!(html.contains("<svg id=\"chart-withheld\""));
    assert!(html.contains("id=\"rejected-files\""));
    assert!(html.contains("h01-empty.xml"));
    assert!(html.contains("<code>empty-file</code>"));
    assert!(html.contains("08-practice-dissent.xml"));
    assert!(!html.to_ascii_lowercase().contains("<script"));

    // `migx report DIR --out FILE` gives the same bytes; the default is DIR/report.html.
    let again = tmp.path().join("again.html");
    let st = Command::new(MIGX)
        .arg("report")
        .arg(&out)
        .arg("--out")
        .arg(&again)
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(0));
    assert_eq!(std::fs::read_to_string(&again).unwrap(), html);
    std::fs::remove_file(&report).unwrap();
    let st = Command::new(MIGX).arg("report").arg(&out).status().unwrap();
    assert_eq!(st.code(), Some(0));
    assert_eq!(std::fs::read_to_string(&report).unwrap(), html);

    // Not an output folder: a usage error that names the missing file.
    let o = Command::new(MIGX)
        .arg("report")
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("summary.json"));

    // A --report-html in a folder that does not exist is refused before converting anything.
    let out2 = tmp.path().join("out2");
    let o = Command::new(MIGX)
        .arg("convert")
        .arg(fixtures().join("extracts"))
        .arg("--consent")
        .arg(fixtures().join("consent.csv"))
        .args([
            "--permit-requester",
            "Y02345",
            "--without-official-refsets",
            "--quiet",
            "--out",
        ])
        .arg(&out2)
        .arg("--report-html")
        .arg(tmp.path().join("no/such/dir/r.html"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(!out2.exists(), "nothing converted after a usage error");
}

fn find_chromium() -> Option<PathBuf> {
    let fixed = Path::new("/usr/bin/chromium");
    if fixed.is_file() {
        return Some(fixed.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("chromium"))
        .find(|p| p.is_file())
}

/// Run Chromium headless on `url` with `extra` flags; stdout, or a panic after a timeout.
fn chromium(bin: &Path, profile: &Path, extra: &[String], url: &str) -> Vec<u8> {
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .current_dir(profile)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let mut stdout = child.stdout.take().expect("chromium stdout");
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout, &mut buf);
        buf
    });
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            assert!(status.success(), "chromium exited with {status}");
            break;
        }
        if started.elapsed() > Duration::from_secs(180) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 180 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    reader.join().expect("chromium stdout reader")
}

#[test]
fn report_renders_in_headless_chromium() {
    let Some(bin) = find_chromium() else {
        eprintln!(
            "SKIP report_renders_in_headless_chromium: no chromium at /usr/bin/chromium or on PATH \
             (install it with: apt-get install -y chromium)"
        );
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let report = convert(&tmp.path().join("out"));
    let url = format!("file://{}", report.display());

    // Screenshot.
    let shot = tmp.path().join("report.png");
    let profile = tempfile::tempdir().unwrap();
    chromium(
        &bin,
        profile.path(),
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1200,1600".into(),
        ],
        &url,
    );
    let size = std::fs::metadata(&shot).expect("screenshot written").len();
    assert!(size > 20_000, "screenshot is only {size} bytes");
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().expect("screenshot is a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("PNG buffer size")];
    let info = reader.next_frame(&mut buf).expect("decode the screenshot");
    assert_eq!((info.width, info.height), (1200, 1600));
    let channels = info.color_type.samples();
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()]
        .chunks_exact(channels * (info.bit_depth as usize / 8).max(1))
        .collect();
    let distinct: std::collections::HashSet<&[u8]> = pixels.iter().copied().collect();
    assert!(
        distinct.len() > 16,
        "screenshot has only {} colour(s): the page did not render",
        distinct.len()
    );
    // The page background is the most common colour; a rendered report covers a fair part of
    // the window with something else (header band, cards, bars, text).
    let mut counts = std::collections::HashMap::new();
    for p in &pixels {
        *counts.entry(*p).or_insert(0usize) += 1;
    }
    let background = counts.values().copied().max().unwrap_or(0);
    let other = pixels.len() - background;
    assert!(
        other * 10 > pixels.len(),
        "only {other} of {} pixels differ from the background",
        pixels.len()
    );
    // The header band (dark) and the shared-items bars (green) are there.
    let has = |rgb: [u8; 3]| {
        pixels
            .iter()
            .any(|p| p.len() >= 3 && p[0] == rgb[0] && p[1] == rgb[1] && p[2] == rgb[2])
    };
    assert!(has([0x1d, 0x2b, 0x3a]), "no header band in the screenshot");
    assert!(
        has([0x1f, 0x7a, 0x54]),
        "no shared-items bars in the screenshot"
    );
    let keep = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-screenshot.png");
    if std::fs::copy(&shot, &keep).is_ok() {
        eprintln!("screenshot kept at {}", keep.display());
    }

    // DOM as the browser built it.
    let profile = tempfile::tempdir().unwrap();
    let dom = chromium(&bin, profile.path(), &["--dump-dom".into()], &url);
    let dom = String::from_utf8_lossy(&dom);
    assert!(
        dom.contains("<svg id=\"chart-shared\""),
        "no chart in the DOM"
    );
    assert!(
        dom.contains("<svg id=\"chart-withheld\""),
        "no chart in the DOM"
    );
    assert!(dom.contains("<title>tests: "), "chart bar titles");
    assert!(
        dom.contains("<table id=\"rejected-files\">"),
        "no rejected-file table in the DOM"
    );
    assert!(dom.contains("h08-truncated-mid-element.xml"));
    assert!(dom.contains("<table id=\"withheld-files\">"));
}
