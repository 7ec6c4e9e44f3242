//! One run, one folder: the output folder of `migx convert` holds exactly one run. This
//! module keeps outputs and inputs apart (an output folder inside an input folder, or an
//! input inside the output folder, is refused, so outputs are never read back as inputs).

use std::path::{Component, Path, PathBuf};

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
/// GP Connect input and release them again.
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
