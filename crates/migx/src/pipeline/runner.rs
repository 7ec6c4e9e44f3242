//! The batch runner and ordered writer: workers convert and write bundles in parallel; one
//! writer publishes them in groups behind the write-ahead journal and streams the audit, the
//! access audit and (ndjson) the resources strictly in input order.

use super::records::{summary, tally, write_audit, RunTotals, Tally};
use super::walk::SkipReason;
use super::{convert_file_with, ShareError};
use crate::batch::OutputFormat;
use crate::batch::Shard;
use crate::error::{ErrorCode, InputError};
use crate::input::InputFile;
use crate::outcome::{Conversion, Status};
use crate::output;
use crate::settings::ConvertSettings;
use sha2::{Digest, Sha256};
use std::io;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// A writer that hashes what passes through it (the access audit names the bundle's SHA-256).
struct HashingWriter<'a, W: ?Sized> {
    inner: &'a mut W,
    hasher: &'a mut Sha256,
}

impl<W: io::Write + ?Sized> io::Write for HashingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Options for a whole run.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// Output folder.
    pub out: PathBuf,
    /// Worker threads.
    pub jobs: usize,
    /// Stop scheduling inputs after the first rejection.
    pub fail_fast: bool,
    /// One Bundle per input, or FHIR bulk NDJSON per resource type.
    pub format: OutputFormat,
    /// Convert only this share of the inputs; audit and summary go to `shards/K-of-N/`.
    pub shard: Option<Shard>,
    /// Files the folder walk left out, per reason ([`super::SkipReason::as_str`]): counted in
    /// `summary.json`, never inputs.
    pub skipped: Tally<SkipReason>,
}

impl BatchOptions {
    /// Where audit.ndjson, summary.json and access-audit.ndjson (and ndjson/) go: the output
    /// folder itself, or `shards/K-of-N/` under it for a sharded run.
    pub fn meta_dir(&self) -> PathBuf {
        match &self.shard {
            Some(s) => self.out.join("shards").join(s.dir_name()),
            None => self.out.clone(),
        }
    }
}

/// Progress callback: (files done, total, bytes done, rejected so far).
pub type Progress<'a> = &'a (dyn Fn(usize, usize, u64, usize) + Sync);

/// Results claimed ahead of the writer, per worker. It bounds memory: a result holds one
/// input's audit records (small) and, with `--format ndjson`, its serialised resources (about
/// a fifth of the input). With bundles the window is wide so that workers keep going while
/// one of them is on a very large input.
const WINDOW_PER_JOB: usize = 64;
const WINDOW_PER_JOB_NDJSON: usize = 4;

/// After an input this large, hand freed memory back to the OS, so that peak memory is
/// set by the largest input, not by how the allocator's free lists fragment over a run.
const TRIM_AFTER_BYTES: u64 = 8 << 20;

/// Convert a batch: outputs under `opts.out`, audit and summary merged in input order.
/// Workers convert and write bundles in parallel; one writer streams the audit, the access
/// audit and (ndjson) the resources, strictly in input order, to temp files renamed into
/// place at the end, so outputs are byte-identical whatever `--jobs` is and memory stays
/// flat however many inputs there are.
pub fn run_batch(
    inputs: &[InputFile],
    settings: &ConvertSettings,
    opts: &BatchOptions,
    progress: Progress<'_>,
) -> io::Result<RunTotals> {
    let bundles = opts.out.join("bundles");
    let meta = opts.meta_dir();
    output::secure_dir(&opts.out)?;
    output::secure_dir(&meta)?;
    output::remove_stale_temps(&meta)?;
    if opts.format == OutputFormat::Bundle {
        output::secure_dir(&bundles)?;
        if opts.shard.is_some() {
            // The bundles folder is shared with other shards that may be running now:
            // remove only the temp files of this shard's own inputs.
            remove_own_stale_temps(&bundles, inputs)?;
        } else {
            output::remove_stale_temps(&bundles)?;
        }
    }
    let mut ndjson = match opts.format {
        OutputFormat::Ndjson => Some(crate::ndjson::Writer::new(&meta.join("ndjson"))?),
        OutputFormat::Bundle => None,
    };

    let done = AtomicUsize::new(0);
    let rejected = AtomicUsize::new(0);
    let bytes_done = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let mut totals = RunTotals {
        inputs: inputs.len(),
        no_snomed_release: settings.policy.snomed_release_version().is_none(),
        hierarchy: settings.exclusion_basis().hierarchy_text(),
        skipped: opts.skipped.clone(),
        ..RunTotals::default()
    };
    let mut journal = output::Journal::open(&meta)?;
    totals.resumed = journal.inherited;
    let mut audit = output::AtomicFile::create(&meta.join("audit.ndjson"))?;
    let mut access = output::AtomicFile::create(&meta.join("access-audit.ndjson"))?;
    let work = |i: usize| {
        let f = &inputs[i];
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        let mut r = process_one(f, settings, &bundles, opts.format);
        r.records = Some(render_records(f, &r));
        if r.c.bytes >= TRIM_AFTER_BYTES {
            output::return_free_memory_to_os();
        }
        if r.c.status == Status::Rejected {
            rejected.fetch_add(1, Ordering::Relaxed);
            if opts.fail_fast {
                stop.store(true, Ordering::SeqCst);
            }
        }
        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
        let b = bytes_done.fetch_add(r.c.bytes as usize, Ordering::Relaxed) + r.c.bytes as usize;
        progress(n, inputs.len(), b as u64, rejected.load(Ordering::Relaxed));
        Some(r)
    };
    let mut sink = Sink {
        inputs,
        bundles: &bundles,
        totals: &mut totals,
        audit: &mut audit,
        access: &mut access,
        journal: &mut journal,
        ndjson: ndjson.as_mut(),
        group: Vec::new(),
        group_bytes: 0,
    };
    // With several workers, start the largest inputs in the window first, after the one the
    // writer waits for (`batch::ordered_map_weighted`; output order is unchanged). One
    // worker keeps plain input order (`--fail-fast` stops where it did).
    let sizes: Option<Vec<u64>> = (opts.jobs > 1).then(|| {
        inputs
            .iter()
            .map(|f| std::fs::metadata(&f.path).map_or(0, |m| m.len()))
            .collect()
    });
    let complete = crate::batch::ordered_map_weighted(
        inputs.len(),
        opts.jobs,
        opts.jobs.max(1)
            * match opts.format {
                OutputFormat::Bundle => WINDOW_PER_JOB,
                OutputFormat::Ndjson => WINDOW_PER_JOB_NDJSON,
            },
        sizes.as_deref(),
        &stop,
        &work,
        |i, r| sink.take(i, r),
    );
    let complete = complete.and_then(|c| sink.flush().map(|()| c));
    if complete.is_err() {
        sink.discard();
    }
    let stopped = |e: io::Error, t: &RunTotals| -> io::Error {
        io::Error::new(
            e.kind(),
            Stopped {
                disclosed: t.disclosed,
                source: e,
            },
        )
    };
    let complete = match complete {
        Ok(c) => c,
        Err(e) => return Err(stopped(e, &totals)),
    };
    if !complete {
        totals.stopped_early = true;
    }
    // Publish the audit (its journal durable first: the ndjson files and the bundles'
    // renames it describes come after it), then the summary, then drop the journal.
    let finish = (|| -> io::Result<()> {
        output::fault_point()?;
        journal.sync()?;
        if let Some(w) = ndjson {
            output::fault_point()?;
            w.commit()?;
            totals.disclosed = totals.by_status.get(Status::Converted);
        }
        crate::rundir::sync_dir(&bundles);
        output::fault_point()?;
        audit.commit()?;
        output::fault_point()?;
        access.commit()?;
        Ok(())
    })();
    if let Err(e) = finish {
        return Err(stopped(e, &totals));
    }
    let summary = summary(&totals, settings, opts.shard);
    let mut s = serde_json::to_vec_pretty(&summary).map_err(io::Error::other)?;
    s.push(b'\n');
    let finish = (|| -> io::Result<()> {
        output::fault_point()?;
        output::write_atomic(&meta.join("summary.json"), &s)?;
        output::fault_point()?;
        journal.finish()?;
        crate::rundir::sync_dir(&meta);
        Ok(())
    })();
    if let Err(e) = finish {
        return Err(stopped(e, &totals));
    }
    Ok(totals)
}

/// The error of a run stopped by a write error: how many records it had disclosed (each
/// published and audited in the journal) when it stopped.
#[derive(Debug)]
pub struct Stopped {
    /// Records disclosed (bundles published, or ndjson records written) before the stop.
    pub disclosed: usize,
    /// The write error.
    pub source: io::Error,
}

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.source)
    }
}

impl std::error::Error for Stopped {}

/// Bundles written (unsynced) since the last group commit are published together once
/// there are this many, or this many input bytes behind them.
const GROUP_FILES: usize = 64;
const GROUP_BYTES: u64 = 128 << 20;

/// The single writer: receives results in input order; publishes bundles in groups (one
/// filesystem sync, then renames), then writes each input's audit lines, tally, access
/// event and ndjson lines, in order.
struct Sink<'a> {
    inputs: &'a [InputFile],
    bundles: &'a Path,
    totals: &'a mut RunTotals,
    audit: &'a mut output::AtomicFile,
    access: &'a mut output::AtomicFile,
    journal: &'a mut output::Journal,
    ndjson: Option<&'a mut crate::ndjson::Writer>,
    group: Vec<(usize, Processed)>,
    group_bytes: u64,
}

impl Sink<'_> {
    fn take(&mut self, i: usize, r: Option<Processed>) -> io::Result<()> {
        let Some(mut r) = r else {
            self.totals.stopped_early = true;
            return Ok(());
        };
        if let Some(e) = r.fatal.take() {
            // The storage failed under this input's bundle: stop the run (nothing of this
            // input was written).
            return Err(e);
        }
        self.group_bytes += r.c.bytes;
        self.group.push((i, r));
        let unsynced = self.group.iter().any(|(_, p)| p.pending.is_some());
        if !unsynced || self.group.len() >= GROUP_FILES || self.group_bytes >= GROUP_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    /// One input's audit lines and access-event line: as its worker rendered them.
    fn records(&self, i: usize, p: &mut Processed) -> io::Result<(Vec<u8>, Vec<u8>)> {
        p.records
            .take()
            .unwrap_or_else(|| render_records(&self.inputs[i], p))
    }

    /// Write-ahead: the group's records go to the journal and are made durable (with the
    /// bundles' temp files, one filesystem sync) before any bundle is published or an
    /// earlier one removed; then the audit and access audit get the same records.
    fn flush(&mut self) -> io::Result<()> {
        let mut group = std::mem::take(&mut self.group);
        self.group_bytes = 0;
        let mut records = Vec::with_capacity(group.len());
        let ahead = (|| -> io::Result<()> {
            let mut must_sync = false;
            for (i, p) in &mut group {
                let (a, ev) = self.records(*i, p)?;
                self.journal.record(&self.inputs[*i].shown(), &a, &ev)?;
                must_sync |= p.pending.is_some() || p.remove.as_ref().is_some_and(|t| t.exists());
                records.push((a, ev));
            }
            output::fault_point()?;
            self.journal.flush()?;
            if must_sync {
                let mut files: Vec<&Path> = group
                    .iter()
                    .filter_map(|(_, p)| p.pending.as_ref().map(|(t, _)| t.as_path()))
                    .collect();
                files.push(self.journal.path());
                output::sync_files(self.bundles, &files)?;
            }
            Ok(())
        })();
        let published = ahead.and_then(|()| self.publish(&mut group, &mut records));
        if let Err(e) = published {
            self.group = group;
            return Err(e);
        }
        for ((i, p), (a, ev)) in group.iter().zip(records) {
            self.audit.write_all(&a)?;
            tally(self.totals, &p.c);
            if let Some(e) = &p.c.error {
                self.totals
                    .rejected
                    .push((self.inputs[*i].display.clone(), e.clone()));
            }
            if let Some(r) = p.c.withheld {
                self.totals
                    .withheld
                    .push((self.inputs[*i].display.clone(), r));
            }
            self.access.write_all(&ev)?;
            if let (Some(w), Some(lines)) = (self.ndjson.as_deref_mut(), &p.lines) {
                w.append(lines)?;
            }
        }
        Ok(())
    }

    /// Rename the group's bundles into place and remove earlier bundles of inputs not
    /// disclosed now. A rename that fails for one input (say a folder in the way) makes that
    /// input `write-failed` (recorded again in the journal); a failing storage stops the run.
    fn publish(
        &mut self,
        group: &mut [(usize, Processed)],
        records: &mut [(Vec<u8>, Vec<u8>)],
    ) -> io::Result<()> {
        for ((i, p), rec) in group.iter_mut().zip(records.iter_mut()) {
            if let Some((tmp, target)) = p.pending.take() {
                if let Err(e) = output::fault_point().and_then(|()| output::publish(&tmp, &target))
                {
                    let _ = std::fs::remove_file(&tmp);
                    if output::stops_run(&e) {
                        return Err(e);
                    }
                    *p = Processed::write_failed(p.c.bytes, "cannot rename the bundle into place");
                    *rec = self.records(*i, p)?;
                    self.journal
                        .record(&self.inputs[*i].shown(), &rec.0, &rec.1)?;
                    p.remove = Some(target);
                } else {
                    self.totals.disclosed += 1;
                }
            }
            if let Some(t) = p.remove.take() {
                output::fault_point()?;
                if let Err(e) = output::remove_if_exists(&t) {
                    if output::stops_run(&e) {
                        return Err(e);
                    }
                }
            }
        }
        Ok(())
    }

    /// After an error: remove the temp files of bundles not yet published.
    fn discard(&mut self) {
        for (_, p) in self.group.drain(..) {
            if let Some((tmp, _)) = p.pending {
                let _ = std::fs::remove_file(tmp);
            }
        }
    }
}

/// Remove temp files an interrupted run of the same inputs left in a shared folder
/// (`.migx-tmp-<pid>-<tag of the bundle name>`), leaving other shards' files alone.
fn remove_own_stale_temps(dir: &Path, inputs: &[InputFile]) -> io::Result<()> {
    let own: std::collections::HashSet<String> = inputs
        .iter()
        .map(|f| output::temp_tag(&f.bundle_name))
        .collect();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(output::TEMP_PREFIX) else {
            continue;
        };
        let Some((pid, bundle)) = rest.split_once('-') else {
            continue;
        };
        if pid.bytes().all(|b| b.is_ascii_digit()) && own.contains(bundle) {
            std::fs::remove_file(e.path())?;
        }
    }
    Ok(())
}

/// A disclosure written (or, for ndjson, prepared for the writer).
struct Written {
    /// Relative to the output folder, e.g. `bundles/x.json` (`ndjson/` for ndjson).
    name: String,
}

/// One input's result as the writer receives it: the bundle itself is already written (or
/// serialised into `lines`) and dropped.
struct Processed {
    c: Conversion,
    written: Option<Written>,
    access: Option<crate::fhir::r4::audit_event::AuditEvent>,
    lines: Option<crate::ndjson::Lines>,
    /// A bundle written to its temp file, not yet synced: (temp, final path).
    pending: Option<(PathBuf, PathBuf)>,
    /// An earlier bundle of this input to remove (it is not disclosed now), once the
    /// journal says so.
    remove: Option<PathBuf>,
    /// A write error that stops the run (the storage is full or failing).
    fatal: Option<io::Error>,
    /// Its audit lines and access-event line ([`render_records`]), rendered by the worker
    /// that converted it.
    records: Option<io::Result<(Vec<u8>, Vec<u8>)>>,
}

impl Processed {
    fn write_failed(size: u64, what: &str) -> Processed {
        Processed {
            c: Conversion::rejected(InputError::new(ErrorCode::WriteFailed, what), size),
            written: None,
            access: None,
            lines: None,
            pending: None,
            remove: None,
            fatal: None,
            records: None,
        }
    }
}

/// One input's audit lines and access-event line. Rendered by the worker that converted the
/// input (the writer only copies them in input order): rendered by the single writer, the
/// audit of a large run (about 15% of its input's size) held the end of the run on one core
/// while the workers had nothing left to do.
fn render_records(f: &InputFile, p: &Processed) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let mut a = Vec::new();
    write_audit(&mut a, f, &p.c, p.written.as_ref().map(|w| w.name.as_str()));
    let mut ev = Vec::new();
    if let Some(e) = &p.access {
        serde_json::to_writer(&mut ev, e).map_err(io::Error::other)?;
        ev.push(b'\n');
    }
    Ok((a, ev))
}

/// Convert one input and write its bundle; a panic (a bug) becomes `internal-error`.
fn process_one(
    f: &InputFile,
    settings: &ConvertSettings,
    bundles: &Path,
    format: OutputFormat,
) -> Processed {
    let target = bundles.join(&f.bundle_name);
    // Never leave an earlier run's bundle for an input that is not disclosed now (removed
    // by the writer once the journal records why).
    let remove = (format == OutputFormat::Bundle).then(|| target.clone());
    let plain = |c: Conversion| Processed {
        c,
        written: None,
        access: None,
        lines: None,
        pending: None,
        remove: remove.clone(),
        fatal: None,
        records: None,
    };
    let internal = |msg: String, size: u64| {
        plain(Conversion::rejected(
            InputError::new(ErrorCode::InternalError, msg),
            size,
        ))
    };
    if let Some(msg) = &f.walk_error {
        return plain(Conversion::rejected(
            InputError::new(ErrorCode::IoError, msg.clone()),
            0,
        ));
    }
    // The bundle (or its ndjson lines) is written as it is made, entry by entry, each entry
    // validated on the way; what the access audit names (ids only) is known before.
    let mut hasher = Sha256::new();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        convert_file_with(&f.path, settings, |share| {
            let ids = share.ids();
            match format {
                OutputFormat::Bundle => {
                    let mut rejected = None;
                    let written = output::write_temp_with(&target, |w| {
                        output::fault_point()?;
                        let mut hw = HashingWriter {
                            inner: w,
                            hasher: &mut hasher,
                        };
                        match share.write_pretty(&mut hw) {
                            Ok(()) => hw.write_all(b"\n"),
                            Err(ShareError::Io(e)) => Err(e),
                            Err(ShareError::Rejected(e)) => {
                                // Not shared: the temp file is removed, never published.
                                rejected = Some(e);
                                Err(io::Error::other("the bundle was not shared"))
                            }
                        }
                    });
                    if let Some(e) = rejected {
                        return Err(ShareError::Rejected(e));
                    }
                    Ok(Disclosure::Bundle {
                        tmp: written.map_err(ShareError::Io)?,
                        ids,
                    })
                }
                OutputFormat::Ndjson => {
                    let mut lines = crate::ndjson::LineWriter::new(share.plan().iter());
                    share.entries(&mut |e| lines.push(e)).map_err(|e| match e {
                        ShareError::Io(e) => ShareError::Rejected(InputError::new(
                            ErrorCode::InternalError,
                            format!("ndjson: {e}"),
                        )),
                        other => other,
                    })?;
                    Ok(Disclosure::Lines {
                        lines: lines.finish(),
                        ids,
                    })
                }
            }
        })
    }));
    let (c, disclosed) = match caught {
        Ok(r) => r,
        Err(_) => {
            // A bundle being written when the bug struck is not published.
            let _ = std::fs::remove_file(output::temp_path(&target));
            return internal(
                "migx failed on this file (a bug); the rest of the batch went on".into(),
                0,
            );
        }
    };
    let Some(disclosed) = disclosed else {
        return plain(c);
    };
    match disclosed {
        Ok(Disclosure::Bundle { tmp, ids }) => {
            let name = format!("bundles/{}", f.bundle_name);
            let sha = crate::digest::hex(&hasher.finalize());
            let access = ids.and_then(|ids| {
                crate::access::access_event(&c, &ids, &name, &sha, &settings.policy)
            });
            Processed {
                c,
                written: Some(Written { name }),
                access,
                lines: None,
                pending: Some((tmp, target)),
                remove: None,
                fatal: None,
                records: None,
            }
        }
        Ok(Disclosure::Lines { lines, ids }) => {
            let name = "ndjson/".to_string();
            let access = ids.and_then(|ids| {
                crate::access::access_event(&c, &ids, &name, &lines.sha256, &settings.policy)
            });
            Processed {
                c,
                written: Some(Written { name }),
                access,
                lines: Some(lines),
                pending: None,
                remove: None,
                fatal: None,
                records: None,
            }
        }
        Err(e) => {
            let size = c.bytes;
            let mut p = plain(Conversion::rejected(
                InputError::new(
                    ErrorCode::WriteFailed,
                    format!("cannot write the bundle: {}", e.kind()),
                ),
                size,
            ));
            if output::stops_run(&e) {
                p.fatal = Some(e);
            }
            p
        }
    }
}

/// What a worker made of a shared record: the disclosure, written.
enum Disclosure {
    /// The bundle, written to its temp file (not yet synced).
    Bundle {
        tmp: PathBuf,
        ids: Option<crate::access::BundleIds>,
    },
    /// Its ndjson lines.
    Lines {
        lines: crate::ndjson::Lines,
        ids: Option<crate::access::BundleIds>,
    },
}
