//! One run, one folder: the output folder of `migx convert` holds exactly one run.
//!
//! - Outputs and inputs are kept apart (an output folder inside an input folder, or an
//!   input inside the output folder, is refused), so outputs are never read back as inputs.
//! - `manifest.json`, written before anything else, names the run: migx version, output
//!   format, inputs (the arguments and a digest of every input with its bundle name),
//!   policy SHA-256, SNOMED CT release, consent source (a consent file by its SHA-256) and
//!   the settings that change outputs. It never names a shard: the shards of one run write
//!   the same manifest into the one folder.
//! - A run claims its folder ([`claim`]): a lock (`.migx-lock`; exclusive for an unsharded
//!   run, shared by the shards of one run, each shard also locking its own
//!   `shards/K-of-N/`) makes a second concurrent run refuse at once; a folder holding a
//!   different run (another manifest, or files and no manifest) is refused unless
//!   `--replace`, which builds the new run beside the folder and swaps it in whole when it
//!   is complete, so the folder never mixes runs. Rerunning the same command completes or
//!   confirms the same folder; files in `bundles/` that no input of the run names are
//!   removed, and the run says so.

use serde::Serialize;
use serde_json::Value as Json;
use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};

/// The manifest's file name in the output folder.
pub const MANIFEST: &str = "manifest.json";
/// The lock file's name (in the output folder and in each `shards/K-of-N/`).
pub const LOCK: &str = ".migx-lock";

/// `p` made absolute with symlinks resolved, also when it does not exist yet: the longest
/// existing ancestor is canonicalised and the rest appended (`..` and `.` folded).
pub fn resolved(p: &Path) -> PathBuf {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    };
    let mut rest: Vec<std::ffi::OsString> = Vec::new();
    let mut cur = abs.as_path();
    loop {
        if let Ok(c) = std::fs::canonicalize(cur) {
            let mut out = c;
            for part in rest.iter().rev() {
                if part == ".." {
                    out.pop();
                } else if part != "." {
                    out.push(part);
                }
            }
            return out;
        }
        match (cur.parent(), cur.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                cur = parent;
            }
            _ => break,
        }
    }
    // Nothing exists (not even the root): fold the path lexically.
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Refuse an output folder that is, or is inside, one of the inputs, and an input that is
/// inside the output folder: either way a later run would read its own bundles back as
/// GP Connect input and disclose them again.
pub fn check_apart(out: &Path, inputs: &[PathBuf]) -> Result<(), String> {
    let o = resolved(out);
    for i in inputs {
        let r = resolved(i);
        if o.starts_with(&r) && r.is_dir() {
            return Err(format!(
                "--out {} is inside the input folder {}: a later run would read its own outputs back as inputs; choose an output folder outside every input",
                out.display(),
                i.display()
            ));
        }
        if r.starts_with(&o) {
            return Err(format!(
                "input {} is inside the output folder {}: migx never reads its own outputs back as inputs; choose an output folder outside every input",
                i.display(),
                out.display()
            ));
        }
    }
    Ok(())
}

/// Why a run may not write into its output folder.
#[derive(Debug)]
pub enum Refusal {
    /// Another run holds the lock now.
    Busy(String),
    /// The folder holds a different run (or files that are no run's).
    OtherRun(String),
    /// The folder cannot be used at all (not a folder, unsafe permissions, I/O error).
    Unusable(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Busy(m) | Refusal::OtherRun(m) | Refusal::Unusable(m) => f.write_str(m),
        }
    }
}

/// A folder claimed for one run; dropping it frees the locks.
#[derive(Debug)]
pub struct Claim {
    /// Where this run writes: the output folder, or (with `--replace`) the folder being
    /// built beside it, swapped in by [`Claim::finish`].
    pub dir: PathBuf,
    /// The output folder as given.
    pub out: PathBuf,
    /// What the claim found and did (say each to the operator).
    pub notes: Vec<String>,
    replacing: bool,
    _locks: Vec<File>,
}

impl Claim {
    /// After a complete run: with `--replace`, swap the new folder in for the old one (one
    /// atomic exchange where the OS has it) and remove the old run.
    pub fn finish(&mut self) -> io::Result<()> {
        if !self.replacing {
            return Ok(());
        }
        exchange(&self.dir, &self.out)?;
        // `self.dir` now holds the old run.
        fs::remove_dir_all(&self.dir)?;
        self.replacing = false;
        self.dir = self.out.clone();
        Ok(())
    }
}

/// Swap two folders. Linux: one `renameat2(RENAME_EXCHANGE)`, so there is no moment
/// without a complete run at `b`. Elsewhere (or where the filesystem lacks it): `b` is
/// renamed aside, `a` into place, the old one back to `a`.
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let ca = CString::new(a.as_os_str().as_bytes()).map_err(io::Error::other)?;
        let cb = CString::new(b.as_os_str().as_bytes()).map_err(io::Error::other)?;
        // SAFETY: both paths are valid NUL-terminated strings for the duration of the call.
        let r = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                ca.as_ptr(),
                libc::AT_FDCWD,
                cb.as_ptr(),
                libc::RENAME_EXCHANGE,
            )
        };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if !matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS)) {
            return Err(e);
        }
    }
    let aside = sibling(b, "migx-old");
    let _ = fs::remove_dir_all(&aside);
    fs::rename(b, &aside)?;
    fs::rename(a, b)?;
    fs::rename(&aside, a)
}

/// `.<name>.<what>` beside `p`.
fn sibling(p: &Path, what: &str) -> PathBuf {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    p.with_file_name(format!(".{name}.{what}"))
}

/// Lock `dir/.migx-lock` without waiting: `Ok(None)` when another process holds it.
fn try_lock(dir: &Path, shared: bool) -> io::Result<Option<File>> {
    let mut o = OpenOptions::new();
    o.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let f = o.open(dir.join(LOCK))?;
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let op = if shared { libc::LOCK_SH } else { libc::LOCK_EX } | libc::LOCK_NB;
        // SAFETY: flock on a file descriptor `f` keeps open; the lock goes with it.
        if unsafe { libc::flock(f.as_raw_fd(), op) } != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                return Ok(None);
            }
            return Err(e);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = shared;
    Ok(Some(f))
}

fn read_manifest(dir: &Path) -> io::Result<Option<Json>> {
    match fs::read(dir.join(MANIFEST)) {
        Ok(b) => Ok(Some(serde_json::from_slice(&b).unwrap_or(Json::Null))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The manifest of the run whose outputs are in `dir`, if it has one.
pub fn manifest_of(dir: &Path) -> Option<Json> {
    read_manifest(dir).ok().flatten().filter(|m| m.is_object())
}

/// The manifest bytes (pretty JSON and a newline: reruns write the same bytes).
fn manifest_bytes(m: &Json) -> io::Result<Vec<u8>> {
    let mut b = serde_json::to_vec_pretty(m).map_err(io::Error::other)?;
    b.push(b'\n');
    Ok(b)
}

/// Write the manifest unless one is there already (whoever is first wins: concurrent
/// shards of one run all write the same bytes). Returns the manifest now in `dir`.
fn write_manifest_once(dir: &Path, m: &Json) -> io::Result<Json> {
    let path = dir.join(MANIFEST);
    let bytes = manifest_bytes(m)?;
    let tmp = crate::output::write_temp_with(&path, |w| w.write_all(&bytes))?;
    let r = File::open(&tmp).and_then(|f| f.sync_data());
    let linked = r.and_then(|()| fs::hard_link(&tmp, &path));
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            sync_dir(dir);
            Ok(m.clone())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            Ok(read_manifest(dir)?.unwrap_or(Json::Null))
        }
        Err(_) => {
            // No hard links on this filesystem: create it exclusively instead.
            let mut o = OpenOptions::new();
            o.write(true).create_new(true);
            match o.open(&path) {
                Ok(mut f) => {
                    f.write_all(&bytes)?;
                    f.sync_data()?;
                    Ok(m.clone())
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    Ok(read_manifest(dir)?.unwrap_or(Json::Null))
                }
                Err(e) => Err(e),
            }
        }
    }
}

/// Make renames in `dir` durable (best effort where folders cannot be synced).
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Whether `dir` holds any file besides locks and temporary files (empty folders are
/// nothing: no run's outputs).
fn holds_files(dir: &Path) -> bool {
    walkdir::WalkDir::new(dir)
        .follow_links(false)
        .into_iter()
        .flatten()
        .any(|e| {
            let name = e.file_name().to_string_lossy();
            !e.file_type().is_dir() && name != LOCK && !name.starts_with(crate::output::TEMP_PREFIX)
        })
}

/// Top-level keys in which two manifests differ.
fn differences(a: &Json, b: &Json) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    let empty = serde_json::Map::new();
    let (ma, mb) = (
        a.as_object().unwrap_or(&empty),
        b.as_object().unwrap_or(&empty),
    );
    for k in ma.keys().chain(mb.keys()) {
        if ma.get(k) != mb.get(k) && !keys.contains(k) {
            keys.push(k.clone());
        }
    }
    if keys.is_empty() && a != b {
        keys.push("(unreadable)".into());
    }
    keys
}

/// Claim `out` for the run `manifest` names. `names` are the bundle file names of every
/// input of the run (all shards'), `shard` this process's share.
pub fn claim(
    out: &Path,
    manifest: &Manifest,
    names: &HashSet<String>,
    shard: Option<crate::batch::Shard>,
    replace: bool,
) -> Result<Claim, Refusal> {
    let unusable = |e: io::Error| Refusal::Unusable(format!("{}: {e}", out.display()));
    // Compared with (and written as) the JSON value a manifest on disk reads back as.
    let manifest = &serde_json::to_value(manifest).map_err(|e| unusable(io::Error::other(e)))?;
    crate::output::secure_dir(out).map_err(|e| Refusal::Unusable(e.to_string()))?;
    let busy = |what: &Path| {
        Refusal::Busy(format!(
            "another migx run is writing to {} now (it holds {}): wait for it to finish, or give another --out",
            out.display(),
            what.join(LOCK).display()
        ))
    };
    let mut locks = Vec::new();
    let mut notes = Vec::new();
    match try_lock(out, shard.is_some()).map_err(unusable)? {
        Some(l) => locks.push(l),
        None => return Err(busy(out)),
    }
    // Files are looked for before the manifest is read: the shards of one run claim the
    // folder together (shared locks), and each writes the manifest before any other file,
    // so files found without a manifest read after them are not this run's. Read the other
    // way round, a shard could miss the manifest another shard was linking and then find it
    // as a file, and refuse the folder as another program's.
    let had_files = holds_files(out);
    let existing = read_manifest(out).map_err(unusable)?;
    let same = match &existing {
        Some(m) => m == manifest,
        None => !had_files,
    };
    if !same {
        let what = match &existing {
            Some(m) => format!(
                "holds a different run (its manifest differs in: {})",
                differences(m, manifest).join(", ")
            ),
            None => "holds files but no migx manifest (not a run of this migx, or made before manifests)".into(),
        };
        if !replace {
            return Err(Refusal::OtherRun(format!(
                "{} {what}: a folder holds one run. Give --replace to replace it (the new run is built beside it and swapped in when complete), or choose a fresh --out",
                out.display()
            )));
        }
        if shard.is_some() {
            return Err(Refusal::OtherRun(format!(
                "{} {what}, and --replace cannot be used with --shard (shards finish at different times, so no one shard can swap the folder): remove the folder or choose a fresh --out, then run the shards",
                out.display()
            )));
        }
        // Build beside, under our lock on the old folder.
        let staging = sibling(out, "migx-replace");
        if staging.exists() {
            match try_lock(&staging, false).map_err(unusable)? {
                None => return Err(busy(&staging)),
                Some(l) => {
                    let keep = read_manifest(&staging).ok().flatten().as_ref() == Some(manifest);
                    if keep {
                        locks.push(l);
                    } else {
                        drop(l);
                        fs::remove_dir_all(&staging).map_err(unusable)?;
                    }
                }
            }
        }
        if !staging.exists() {
            crate::output::secure_dir(&staging).map_err(unusable)?;
            match try_lock(&staging, false).map_err(unusable)? {
                Some(l) => locks.push(l),
                None => return Err(busy(&staging)),
            }
        }
        write_manifest_once(&staging, manifest).map_err(unusable)?;
        notes.push(format!(
            "replacing the run in {}: the new run is built in {} and swapped in when complete",
            out.display(),
            staging.display()
        ));
        return Ok(Claim {
            dir: staging,
            out: out.to_path_buf(),
            notes,
            replacing: true,
            _locks: locks,
        });
    }
    if existing.is_none() {
        let now = write_manifest_once(out, manifest).map_err(unusable)?;
        if &now != manifest {
            return Err(Refusal::OtherRun(format!(
                "{}: a different run wrote its manifest at the same moment (its manifest differs in: {}); choose a fresh --out",
                out.display(),
                differences(&now, manifest).join(", ")
            )));
        }
    } else {
        notes.push(format!(
            "{} already holds this run (same manifest): completing or confirming it",
            out.display()
        ));
    }
    if let Some(s) = shard {
        let shards = out.join("shards");
        if let Ok(rd) = fs::read_dir(&shards) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some((_, n)) = name.split_once("-of-") {
                    if n != s.count.to_string() {
                        return Err(Refusal::OtherRun(format!(
                            "{} holds shards of a fan-out into {n} ({}); this run splits into {}: a folder holds one fan-out, so keep N or choose a fresh --out",
                            out.display(),
                            shards.join(&name).display(),
                            s.count
                        )));
                    }
                }
            }
        }
        let own = shards.join(s.dir_name());
        crate::output::secure_dir(&shards).map_err(unusable)?;
        crate::output::secure_dir(&own).map_err(unusable)?;
        match try_lock(&own, false).map_err(unusable)? {
            Some(l) => locks.push(l),
            None => return Err(busy(&own)),
        }
    }
    let removed = remove_unnamed_bundles(&out.join("bundles"), names).map_err(unusable)?;
    if removed > 0 {
        notes.push(format!(
            "removed {removed} file(s) from {} that no input of this run names (migx cannot vouch for them)",
            out.join("bundles").display()
        ));
    }
    Ok(Claim {
        dir: out.to_path_buf(),
        out: out.to_path_buf(),
        notes,
        replacing: false,
        _locks: locks,
    })
}

/// Remove files in `bundles` whose names no input of the run has (temporary files are left
/// to the run's own clean-up).
fn remove_unnamed_bundles(bundles: &Path, names: &HashSet<String>) -> io::Result<usize> {
    let Ok(rd) = fs::read_dir(bundles) else {
        return Ok(0);
    };
    let mut n = 0;
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
        if is_dir || name.starts_with(crate::output::TEMP_PREFIX) || names.contains(&name) {
            continue;
        }
        fs::remove_file(e.path())?;
        n += 1;
    }
    Ok(n)
}

/// The manifest of a `migx convert` run (`manifest.json`): what it read and under which
/// rules, fields in the order the file has always had. Two runs with equal manifests write
/// identical folders (given the same input bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Manifest {
    /// The manifest's own format version (1).
    pub migx_run_manifest: u32,
    /// The migx version.
    pub migx_version: &'static str,
    /// `bundle` or `ndjson`.
    pub format: &'static str,
    /// What the run read.
    pub inputs: ManifestInputs,
    /// The policy's name and version.
    pub policy: ManifestPolicy,
    /// SHA-256 of the policy.
    pub policy_sha256: String,
    /// The SNOMED CT release loaded, if any.
    pub snomed_release: Option<String>,
    /// Where the point-of-care decisions came from.
    pub consent: ManifestConsent,
    /// The settings that change what is written.
    pub settings: ManifestSettings,
}

/// The run's inputs as the manifest names them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManifestInputs {
    /// The command line's input arguments, NHS numbers masked.
    pub arguments: Vec<String>,
    /// How many inputs the walk found.
    pub count: usize,
    /// SHA-256 over every input's real name and bundle name.
    pub sha256: String,
}

/// A policy's name and version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManifestPolicy {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
}

/// Where a run's point-of-care decisions came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "source", rename_all = "kebab-case")]
pub enum ManifestConsent {
    /// A consent file, by its SHA-256.
    ConsentFile {
        /// SHA-256 of the file's bytes.
        sha256: String,
    },
    /// One decision for every patient, asserted by the operator (`--consent-all`).
    OperatorAssertion {
        /// `permit` or `deny`.
        decision: Option<&'static str>,
        /// The requesting organisation's ODS code.
        requester: Option<String>,
        /// The purpose of use.
        purpose: String,
    },
}

/// The settings of a run that change what it writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManifestSettings {
    /// `--as-of`, as a FHIR instant.
    pub as_of: Option<String>,
    /// `--allow-test-identities`.
    pub allow_test_identities: bool,
    /// `--permit-requester`.
    pub permit_requesters: Vec<String>,
    /// `--max-file-size`.
    pub max_file_size: u64,
}

/// The manifest of a `migx convert` run.
pub fn manifest(
    format: &'static str,
    input_args: &[PathBuf],
    inputs: &[crate::input::InputFile],
    settings: &crate::settings::ConvertSettings,
    consent: ManifestConsent,
) -> Manifest {
    use sha2::{Digest, Sha256};
    // The real names (not the masked ones the records show), so two runs whose inputs
    // differ only in an NHS number are never taken for one run.
    let mut h = Sha256::new();
    for f in inputs {
        h.update(f.display.as_bytes());
        h.update(b"\t");
        h.update(f.bundle_name.as_bytes());
        h.update(b"\n");
    }
    Manifest {
        migx_run_manifest: 1,
        migx_version: env!("CARGO_PKG_VERSION"),
        format,
        inputs: ManifestInputs {
            arguments: input_args
                .iter()
                .map(|p| crate::nhs::mask_nhs_numbers_in(&p.display().to_string()))
                .collect(),
            count: inputs.len(),
            sha256: crate::digest::hex(&h.finalize()),
        },
        policy: ManifestPolicy {
            name: settings.policy.name().to_string(),
            version: settings.policy.version().to_string(),
        },
        policy_sha256: settings.policy.sha256().to_string(),
        snomed_release: settings.policy.snomed_release_version(),
        consent,
        settings: ManifestSettings {
            as_of: settings.as_of.map(|t| t.fhir_instant()),
            allow_test_identities: settings.allow_test_identities,
            permit_requesters: settings.run_permitted_requesters.clone(),
            max_file_size: settings.max_file_size,
        },
    }
}

/// A one-line description of the run an output folder holds, from its manifest.
pub fn describe(dir: &Path) -> Option<String> {
    let m = manifest_of(dir)?;
    let s = |v: &Json| {
        v.as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string())
    };
    Some(format!(
        "run: {} input(s) from {}, format {}, policy {} {} (sha256 {}), consent {}, migx {}",
        m["inputs"]["count"],
        m["inputs"]["arguments"]
            .as_array()
            .map(|a| a.iter().map(s).collect::<Vec<_>>().join(" "))
            .unwrap_or_default(),
        s(&m["format"]),
        s(&m["policy"]["name"]),
        s(&m["policy"]["version"]),
        s(&m["policy_sha256"]).get(..12).unwrap_or(""),
        s(&m["consent"]["source"]),
        s(&m["migx_version"]),
    ))
}

/// What is wrong with an output folder as the record of one run: no manifest, a run that
/// did not finish (a journal), a file in `bundles/` no access event describes, or an
/// audited disclosure that is missing or is not the bytes audited. Empty when the folder is
/// one complete, consistent run.
pub fn check_folder(dir: &Path) -> Vec<String> {
    use sha2::{Digest, Sha256};
    let mut problems = Vec::new();
    if manifest_of(dir).is_none() {
        problems.push(format!(
            "{}: no {MANIFEST}: not the folder of one migx run",
            dir.display()
        ));
    }
    let mut metas = vec![dir.to_path_buf()];
    if let Ok(rd) = fs::read_dir(dir.join("shards")) {
        metas.extend(rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
    }
    for m in &metas {
        if m.join(crate::output::JOURNAL).exists() {
            problems.push(format!(
                "{}: the run did not finish ({} is there): rerun the same command to complete it",
                m.display(),
                crate::output::JOURNAL
            ));
        }
    }
    // Access events: the folder's own, else (shards not merged yet) the shards'.
    let sources: Vec<&PathBuf> = if dir.join("access-audit.ndjson").exists() {
        vec![&metas[0]]
    } else {
        metas[1..].iter().collect()
    };
    let mut described: HashSet<String> = HashSet::new();
    for src in sources {
        let Ok(events) = crate::access::disclosures(src, None) else {
            problems.push(format!(
                "{}: no readable access-audit.ndjson",
                src.display()
            ));
            continue;
        };
        for ev in events {
            let (Some(name), Some(sha)) = (
                ev["entity"][1]["name"].as_str(),
                ev["entity"][1]["detail"][0]["valueString"].as_str(),
            ) else {
                continue;
            };
            if !name.starts_with("bundles/") {
                continue; // ndjson: one disclosure spread over the per-type files
            }
            match fs::read(dir.join(name)) {
                Ok(b) if crate::digest::hex(&Sha256::digest(&b)) == sha => {}
                Ok(_) => problems.push(format!("{name}: not the bytes its audit records")),
                Err(_) => problems.push(format!("{name}: audited as disclosed but missing")),
            }
            described.insert(name.to_string());
        }
    }
    if let Ok(rd) = fs::read_dir(dir.join("bundles")) {
        for e in rd.flatten() {
            let file = e.file_name().to_string_lossy().into_owned();
            let name = format!("bundles/{file}");
            if !file.starts_with(crate::output::TEMP_PREFIX) && !described.contains(&name) {
                problems.push(format!("{name}: in no access audit of this run"));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_inside_inputs_and_inputs_inside_outputs_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let inp = d.path().join("in");
        std::fs::create_dir_all(inp.join("sub")).unwrap();
        std::fs::write(inp.join("a.xml"), b"x").unwrap();
        let err = check_apart(&inp.join("out"), std::slice::from_ref(&inp)).unwrap_err();
        assert!(err.contains("inside the input folder"), "{err}");
        // Spelled differently: `..`, a not-yet-existing nested folder, the folder itself.
        for out in [
            inp.join("sub/../out"),
            inp.join("new/deeper/out"),
            inp.clone(),
        ] {
            assert!(
                check_apart(&out, std::slice::from_ref(&inp)).is_err(),
                "{out:?}"
            );
        }
        // An input inside the output folder (e.g. its bundles/).
        let out = d.path().join("out");
        std::fs::create_dir_all(out.join("bundles")).unwrap();
        let err = check_apart(&out, &[out.join("bundles")]).unwrap_err();
        assert!(err.contains("inside the output folder"), "{err}");
        // Beside each other: fine; a file input whose folder holds the output: fine.
        check_apart(&d.path().join("out2"), std::slice::from_ref(&inp)).unwrap();
        check_apart(&inp.join("out3"), &[inp.join("a.xml")]).unwrap();
        #[cfg(unix)]
        {
            // Through a symlink to the input folder.
            let link = d.path().join("link");
            std::os::unix::fs::symlink(&inp, &link).unwrap();
            assert!(check_apart(&link.join("out"), std::slice::from_ref(&inp)).is_err());
            assert!(check_apart(&inp.join("out"), std::slice::from_ref(&link)).is_err());
        }
    }
}
