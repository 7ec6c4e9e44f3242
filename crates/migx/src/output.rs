//! Writing outputs safely: owner-only permissions (they hold patient data), atomic
//! replacement (temp file + rename, so an interrupted run never leaves a partial file), and
//! a refusal to write into a folder other users can write to.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};

/// Prefix of temporary files; a run removes stale ones left by an interrupted run.
pub const TEMP_PREFIX: &str = ".migx-tmp-";

/// The temporary name `path` is written under before it is renamed into place:
/// `.migx-tmp-<pid>-<first 16 hex digits of SHA-256(file name)>` in the same folder. Its
/// length does not depend on the final name, so a final name at the file-name limit (255
/// bytes) still has a temporary name that fits; [`temp_tag`] gives the part after the pid.
pub fn temp_path(path: &Path) -> PathBuf {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.join(format!(
        "{TEMP_PREFIX}{}-{}",
        std::process::id(),
        temp_tag(&name)
    ))
}

/// The part of a temporary name that identifies its final file name (see [`temp_path`]).
pub fn temp_tag(final_name: &str) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(final_name.as_bytes());
    d[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Create `dir` (and parents) as owner-only, or check an existing one is safe to write to.
pub fn secure_dir(dir: &Path) -> io::Result<()> {
    if dir.exists() {
        let meta = fs::metadata(dir)?;
        if !meta.is_dir() {
            return Err(io::Error::other(format!(
                "{} is not a folder",
                dir.display()
            )));
        }
        #[cfg(unix)]
        {
            let mode = meta.permissions().mode();
            if mode & 0o022 != 0 {
                return Err(io::Error::other(format!(
                    "{} can be written by other users (mode {:o}); outputs hold patient data: use a folder only you can write to (chmod 700)",
                    dir.display(),
                    mode & 0o777
                )));
            }
        }
        return Ok(());
    }
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    b.mode(0o700);
    b.create(dir)?;
    #[cfg(unix)]
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    Ok(())
}

/// Write `bytes` to `path` atomically with mode 0600.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, bytes, |f, b| f.write_all(b))
}

/// [`write_atomic`] with the write itself supplied (tests inject a failing one: a full disk).
fn write_atomic_with(
    path: &Path,
    bytes: &[u8],
    write: impl FnOnce(&mut File, &[u8]) -> io::Result<()>,
) -> io::Result<()> {
    let tmp = temp_path(path);
    let result = (|| {
        let mut f = open_private(&tmp)?;
        write(&mut f, bytes)?;
        f.sync_data()?;
        drop(f);
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Open a new file for writing, owner-only.
pub fn open_private(path: &Path) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    o.mode(0o600);
    let f = o.open(path)?;
    #[cfg(unix)]
    f.set_permissions(fs::Permissions::from_mode(0o600))?;
    Ok(f)
}

/// Remove temporary files an interrupted run left in `dir`.
pub fn remove_stale_temps(dir: &Path) -> io::Result<usize> {
    let mut n = 0;
    let Ok(rd) = fs::read_dir(dir) else {
        return Ok(0);
    };
    for e in rd.flatten() {
        if e.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            fs::remove_file(e.path())?;
            n += 1;
        }
    }
    Ok(n)
}

/// Remove a file if it exists (a stale bundle for an input that is no longer disclosed).
pub fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// A file written incrementally and published atomically: lines go to an owner-only temp
/// file next to `path`; `commit` flushes, syncs and renames it into place. Dropped without
/// `commit` (an error, a panic), the temp file is removed and `path` is left as it was.
pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    out: Option<io::BufWriter<File>>,
}

impl AtomicFile {
    /// Start writing `path` (its folder must exist).
    pub fn create(path: &Path) -> io::Result<AtomicFile> {
        let tmp = temp_path(path);
        let f = open_private(&tmp)?;
        Ok(AtomicFile {
            path: path.to_path_buf(),
            tmp,
            out: Some(io::BufWriter::with_capacity(256 * 1024, f)),
        })
    }

    /// Where the file will be published.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flush, sync and rename into place.
    pub fn commit(mut self) -> io::Result<()> {
        let Some(out) = self.out.take() else {
            return Err(io::Error::other("already committed"));
        };
        let f = out.into_inner().map_err(|e| e.into_error())?;
        f.sync_data()?;
        drop(f);
        fs::rename(&self.tmp, &self.path)
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.out {
            Some(o) => o.write(buf),
            None => Err(io::Error::other("already committed")),
        }
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match &mut self.out {
            Some(o) => o.write_all(buf),
            None => Err(io::Error::other("already committed")),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match &mut self.out {
            Some(o) => o.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.out.take().is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Write an owner-only temp file beside `path`, its content streamed by `fill` through a
/// buffered writer (no copy of the whole file in memory), without syncing; publish it with
/// [`sync_files`] then [`publish`] (batched durability: one filesystem sync for many files
/// instead of one `fsync` each).
pub fn write_temp_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<PathBuf> {
    let tmp = temp_path(path);
    let result = open_private(&tmp).and_then(|f| {
        let mut w = io::BufWriter::with_capacity(256 * 1024, f);
        fill(&mut w)?;
        w.flush()
    });
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(tmp)
}

/// Make the data of `files` (all on the filesystem of `dir`) durable: one `syncfs` on
/// Linux, else (or if that fails) `fsync` of each file.
pub fn sync_files(dir: &Path, files: &[&Path]) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        if let Ok(d) = File::open(dir) {
            // SAFETY: syncfs takes a valid open file descriptor, which `d` holds until dropped.
            if unsafe { libc::syncfs(d.as_raw_fd()) } == 0 {
                return Ok(());
            }
        }
    }
    let _ = dir;
    for f in files {
        File::open(f)?.sync_data()?;
    }
    Ok(())
}

/// Rename a synced temp file into place (removing the temp file if that fails).
pub fn publish(tmp: &Path, path: &Path) -> io::Result<()> {
    let r = fs::rename(tmp, path);
    if r.is_err() {
        let _ = fs::remove_file(tmp);
    }
    r
}

/// Test-only fault injection, read only in debug builds (release builds compile it out):
/// with `MIGX_FAULT_AFTER_WRITES=N`, the N-th call (counted over the whole process) fails:
/// `MIGX_FAULT=abort` (the default) ends the process at once, as `kill -9` would (no
/// destructor runs, temporary files stay); `MIGX_FAULT=enospc` returns "no space left on
/// device". Every write stage of a run calls it first: bundle temp files, the write-ahead
/// journal, publishing and removing bundles, the audits, the summary.
pub fn fault_point() -> io::Result<()> {
    #[cfg(debug_assertions)]
    {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::OnceLock;
        static AT: OnceLock<Option<(usize, bool)>> = OnceLock::new();
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let at = AT.get_or_init(|| {
            let n = std::env::var("MIGX_FAULT_AFTER_WRITES")
                .ok()?
                .parse()
                .ok()?;
            let enospc = std::env::var("MIGX_FAULT").is_ok_and(|k| k == "enospc");
            Some((n, enospc))
        });
        if let Some((n, enospc)) = *at {
            if COUNT.fetch_add(1, Ordering::SeqCst) + 1 == n {
                if !enospc {
                    std::process::abort();
                }
                return Err(io::Error::from(io::ErrorKind::StorageFull));
            }
        }
    }
    Ok(())
}

/// Whether a write error stops the whole run (the storage is full, read-only or failing:
/// every later write would fail too), rather than failing one input.
pub fn stops_run(e: &io::Error) -> bool {
    if matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::ReadOnlyFilesystem
    ) {
        return true;
    }
    #[cfg(target_os = "linux")]
    if let Some(c) = e.raw_os_error() {
        return [
            libc::ENOSPC,
            libc::EDQUOT,
            libc::EROFS,
            libc::EIO,
            libc::EFBIG,
        ]
        .contains(&c);
    }
    false
}

/// The write-ahead journal of a run (`journal.ndjson` beside its audit): one line per input,
/// `{"input": ..., "audit": [its audit records], "access": its AuditEvent or null}`,
/// appended and made durable before the input's bundle is published or an earlier bundle of
/// it removed, so whatever stops the process every file in `bundles/` is described. A later
/// record for an input supersedes an earlier one. A complete run removes it (its audit then
/// says the same); a rerun of the same run after an interruption appends to it.
pub struct Journal {
    path: PathBuf,
    out: io::BufWriter<File>,
    /// Lines it held when opened, if it was there (an earlier run of the same manifest was
    /// interrupted).
    pub inherited: Option<usize>,
}

/// The journal's file name.
pub const JOURNAL: &str = "journal.ndjson";

impl Journal {
    /// Open (append) `dir/journal.ndjson`.
    pub fn open(dir: &Path) -> io::Result<Journal> {
        let path = dir.join(JOURNAL);
        let inherited = match fs::read(&path) {
            Ok(b) => Some(b.iter().filter(|&&c| c == b'\n').count()),
            Err(_) => None,
        };
        let mut o = OpenOptions::new();
        o.append(true).create(true);
        #[cfg(unix)]
        o.mode(0o600);
        let f = o.open(&path)?;
        Ok(Journal {
            path,
            out: io::BufWriter::with_capacity(256 * 1024, f),
            inherited,
        })
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one input's record: `audit` is its audit lines (NDJSON), `access` its event
    /// line (or empty).
    pub fn record(&mut self, input: &str, audit: &[u8], access: &[u8]) -> io::Result<()> {
        self.out.write_all(b"{\"input\":")?;
        serde_json::to_writer(&mut self.out, input).map_err(io::Error::other)?;
        self.out.write_all(b",\"audit\":[")?;
        let mut first = true;
        let mut rest = audit;
        while !rest.is_empty() {
            // Line by line through memchr (an audit is mostly its item lines).
            let (line, after) = match memchr::memchr(b'\n', rest) {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, &[][..]),
            };
            rest = after;
            if line.is_empty() {
                continue;
            }
            if !first {
                self.out.write_all(b",")?;
            }
            first = false;
            self.out.write_all(line)?;
        }
        self.out.write_all(b"],\"access\":")?;
        let access = access.strip_suffix(b"\n").unwrap_or(access);
        if access.is_empty() {
            self.out.write_all(b"null")?;
        } else {
            self.out.write_all(access)?;
        }
        self.out.write_all(b"}\n")
    }

    /// Hand everything appended so far to the OS (durable after the next sync).
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Flush and sync.
    pub fn sync(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_data()
    }

    /// The run is complete and its audit published: remove the journal.
    pub fn finish(self) -> io::Result<()> {
        drop(self.out);
        remove_if_exists(&self.path)
    }
}

/// Return freed heap memory to the OS (glibc keeps it otherwise; after a large input the
/// freed model and bundle would stay resident and fragment). A no-op elsewhere.
pub fn return_free_memory_to_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A journal record joins the audit's lines as the line-by-line split did: empty lines
    /// (leading, doubled, trailing) dropped, a last line with or without its break, none at
    /// all, and an access line with and without its break.
    #[test]
    fn a_record_joins_the_audit_lines_as_splitting_did() {
        fn by_split(input: &str, audit: &[u8], access: &[u8]) -> Vec<u8> {
            let mut out = Vec::new();
            out.extend_from_slice(b"{\"input\":");
            out.extend_from_slice(&serde_json::to_vec(input).unwrap());
            out.extend_from_slice(b",\"audit\":[");
            let lines: Vec<&[u8]> = audit
                .split(|&c| c == b'\n')
                .filter(|l| !l.is_empty())
                .collect();
            out.extend_from_slice(&lines.join(&b","[..]));
            out.extend_from_slice(b"],\"access\":");
            let access = access.strip_suffix(b"\n").unwrap_or(access);
            out.extend_from_slice(if access.is_empty() { b"null" } else { access });
            out.extend_from_slice(b"}\n");
            out
        }
        let audits: [&[u8]; 7] = [
            b"",
            b"\n",
            b"{\"a\":1}",
            b"{\"a\":1}\n",
            b"{\"a\":1}\n{\"b\":2}\n",
            b"\n\n{\"a\":1}\n\n{\"b\":2}",
            b"{\"a\":1}\n\n\n",
        ];
        let dir = tempfile::tempdir().expect("tempdir");
        let mut expected = Vec::new();
        let mut journal = Journal::open(dir.path()).expect("journal");
        for audit in audits {
            for access in [&b""[..], b"{\"e\":1}", b"{\"e\":1}\n"] {
                journal.record("in/x.xml", audit, access).expect("record");
                expected.extend(by_split("in/x.xml", audit, access));
            }
        }
        journal.flush().expect("flush");
        assert_eq!(fs::read(dir.path().join(JOURNAL)).expect("read"), expected);
    }

    fn temps(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .expect("read_dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(TEMP_PREFIX))
            .collect()
    }

    #[test]
    fn a_full_disk_fails_the_write_keeps_the_old_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("x.json");
        write_atomic(&target, b"old complete bundle\n").expect("first write");
        // Half the bytes go out, then the disk is full (ENOSPC).
        let err = write_atomic_with(&target, b"new bundle that will not fit", |f, b| {
            f.write_all(&b[..b.len() / 2])?;
            Err(io::Error::from_raw_os_error(28))
        })
        .expect_err("a full disk fails the write");
        assert_eq!(err.raw_os_error(), Some(28));
        assert_eq!(
            fs::read(&target).expect("old file"),
            b"old complete bundle\n"
        );
        assert!(temps(dir.path()).is_empty(), "{:?}", temps(dir.path()));
    }

    #[test]
    fn writing_onto_a_folder_fails_and_leaves_no_temp() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("x.json");
        fs::create_dir(&target).expect("mkdir");
        assert!(write_atomic(&target, b"{}").is_err());
        assert!(target.is_dir());
        assert!(temps(dir.path()).is_empty());
    }

    #[test]
    fn a_missing_folder_fails_the_write() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("gone/x.json");
        assert!(write_atomic(&target, b"{}").is_err());
        assert!(!target.exists());
    }
}
