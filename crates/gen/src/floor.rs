//! `migx-gen floor`: a bare quick-xml pass (no allocation per event, no model) over every
//! `.xml` file, the lower bound a converter reading the same files can approach.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::corpus::err_ctx;
use crate::{Res, MB};

pub(crate) fn xml_files(dirs: &[PathBuf]) -> Res<Vec<PathBuf>> {
    let mut files = Vec::new();
    for d in dirs {
        for e in walkdir::WalkDir::new(d).follow_links(true) {
            let e = e.map_err(|e| format!("walk {}: {e}", d.display()))?;
            if e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "xml") {
                files.push(e.into_path());
            }
        }
    }
    files.sort();
    Ok(files)
}

/// One bare quick-xml pass; returns (bytes, events).
pub(crate) fn floor_file(path: &Path, buf: &mut Vec<u8>) -> Res<(u64, u64)> {
    use quick_xml::events::Event;
    let f = File::open(path).map_err(|e| err_ctx(e, "open", path))?;
    let bytes = f.metadata().map_err(|e| err_ctx(e, "stat", path))?.len();
    let mut r = quick_xml::Reader::from_reader(BufReader::with_capacity(64 * 1024, f));
    let mut events = 0u64;
    loop {
        buf.clear();
        match r.read_event_into(buf) {
            Ok(Event::Eof) => break,
            Ok(_) => events += 1,
            Err(e) => {
                return Err(format!(
                    "{}: XML error at byte {}: {e}",
                    path.display(),
                    r.buffer_position()
                )
                .into())
            }
        }
    }
    Ok((bytes, events))
}

pub(crate) fn floor(dirs: &[PathBuf]) -> Res<()> {
    let files = xml_files(dirs)?;
    let t0 = Instant::now();
    let mut buf = Vec::with_capacity(64 * 1024);
    let (mut bytes, mut events) = (0u64, 0u64);
    for f in &files {
        let (b, e) = floor_file(f, &mut buf)?;
        bytes += b;
        events += e;
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "floor: files={} bytes={} events={} seconds={:.3} MB/s={:.1}",
        files.len(),
        bytes,
        events,
        secs,
        bytes as f64 / MB as f64 / secs.max(1e-9)
    );
    Ok(())
}
