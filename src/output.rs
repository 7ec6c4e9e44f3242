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
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!("{TEMP_PREFIX}{}-{name}", std::process::id()));
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

/// Remove a file if it exists (a stale bundle for an input that is no longer released).
pub fn remove_if_exists(path: &PathBuf) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
