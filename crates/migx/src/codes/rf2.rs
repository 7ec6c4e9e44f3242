//! RF2 simple reference sets (`der2_Refset_Simple{Snapshot,Full,Delta}_*.txt`).
//!
//! Tab-separated, UTF-8, with the header
//! `id effectiveTime active moduleId refsetId referencedComponentId`. A Snapshot file holds
//! one row per member; Full and Delta files may hold several rows per member `id` over time.
//! Both are handled the same way: the row with the latest `effectiveTime` per member id wins,
//! and only members whose winning row is active (`1`) are returned.

use std::collections::HashMap;
use std::path::Path;

/// The RF2 simple refset header columns, in order.
pub const SIMPLE_REFSET_HEADER: [&str; 6] = [
    "id",
    "effectiveTime",
    "active",
    "moduleId",
    "refsetId",
    "referencedComponentId",
];

/// One active member of a simple refset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefsetMember {
    /// Member id (a UUID).
    pub id: String,
    /// `YYYYMMDD` as a number.
    pub effective_time: u32,
    /// The module (edition component) that published the member.
    pub module_id: u64,
    /// The refset the row belongs to.
    pub refset_id: u64,
    /// The member concept (or other component).
    pub referenced_component_id: u64,
}

/// An RF2 file that cannot be loaded. Names the file and the 1-based line (0: whole file).
#[derive(Debug, thiserror::Error)]
pub enum Rf2Error {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Io {
        /// The file concerned.
        file: String,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The header or a row is not a valid simple refset row.
    #[error("{file}:{line}: {message}")]
    Format {
        /// The file concerned.
        file: String,
        /// 1-based line (0: the file as a whole).
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// Load a simple refset file, keeping active members of the `wanted` refsets (all refsets if
/// `wanted` is empty).
pub fn load_simple_refset(
    path: impl AsRef<Path>,
    wanted: &[u64],
) -> Result<Vec<RefsetMember>, Rf2Error> {
    let path = path.as_ref();
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| Rf2Error::Io {
        file: file.clone(),
        source,
    })?;
    parse_simple_refset(&text, &file, wanted)
}

/// Parse simple refset text (see [`load_simple_refset`]); `origin` names it in errors.
pub fn parse_simple_refset(
    text: &str,
    origin: &str,
    wanted: &[u64],
) -> Result<Vec<RefsetMember>, Rf2Error> {
    let err = |line: usize, message: String| Rf2Error::Format {
        file: origin.to_string(),
        line,
        message,
    };
    let mut lines = text.lines().enumerate();
    let header = loop {
        match lines.next() {
            Some((_, l)) if l.trim().is_empty() => continue,
            Some((i, l)) => break (i + 1, l),
            None => return Err(err(0, "empty file: no RF2 header".to_string())),
        }
    };
    let hdr = header
        .1
        .trim_start_matches('\u{feff}')
        .trim_end_matches('\r');
    let cols: Vec<&str> = hdr.split('\t').collect();
    if cols.len() < 6 || cols[..6] != SIMPLE_REFSET_HEADER {
        return Err(err(
            header.0,
            format!(
                "not an RF2 simple refset header (expected: {})",
                SIMPLE_REFSET_HEADER.join(" ")
            ),
        ));
    }
    let ncols = cols.len();
    // member id -> (effective time, active, member)
    let mut latest: HashMap<String, (u32, bool, RefsetMember)> = HashMap::new();
    for (i, raw) in lines {
        let line_no = i + 1;
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != ncols {
            return Err(err(
                line_no,
                format!("expected {ncols} tab-separated fields, found {}", f.len()),
            ));
        }
        let id = f[0].trim();
        if id.is_empty() {
            return Err(err(line_no, "empty member id".to_string()));
        }
        let et = f[1].trim();
        let effective_time: u32 = match (et.len(), et.parse()) {
            (8, Ok(v)) => v,
            _ => return Err(err(line_no, "effectiveTime is not YYYYMMDD".to_string())),
        };
        let active = match f[2].trim() {
            "1" => true,
            "0" => false,
            _ => return Err(err(line_no, "active is not 0 or 1".to_string())),
        };
        let num = |v: &str, name: &str| -> Result<u64, Rf2Error> {
            v.trim()
                .parse::<u64>()
                .map_err(|_| err(line_no, format!("{name} is not a SNOMED CT id")))
        };
        let module_id = num(f[3], "moduleId")?;
        let refset_id = num(f[4], "refsetId")?;
        let referenced_component_id = num(f[5], "referencedComponentId")?;
        if !wanted.is_empty() && !wanted.contains(&refset_id) {
            continue;
        }
        let member = RefsetMember {
            id: id.to_string(),
            effective_time,
            module_id,
            refset_id,
            referenced_component_id,
        };
        match latest.get(id) {
            Some((t, _, _)) if *t > effective_time => {}
            Some((t, _, _)) if *t == effective_time => {
                return Err(err(
                    line_no,
                    "member id repeated with the same effectiveTime".to_string(),
                ))
            }
            _ => {
                latest.insert(id.to_string(), (effective_time, active, member));
            }
        }
    }
    let mut out: Vec<RefsetMember> = latest
        .into_values()
        .filter(|(_, active, _)| *active)
        .map(|(_, _, m)| m)
        .collect();
    out.sort_by(|a, b| {
        (a.refset_id, a.referenced_component_id, &a.id).cmp(&(
            b.refset_id,
            b.referenced_component_id,
            &b.id,
        ))
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const H: &str = "id\teffectiveTime\tactive\tmoduleId\trefsetId\treferencedComponentId\n";

    fn snapshot() -> String {
        format!(
            "{H}\
a1b2c3d4-0000-4000-8000-000000000001\t20200401\t1\t999000011000000103\t999004381000000103\t76272004\n\
a1b2c3d4-0000-4000-8000-000000000002\t20200401\t0\t999000011000000103\t999004381000000103\t15628003\n\
a1b2c3d4-0000-4000-8000-000000000003\t20200401\t1\t999000011000000103\t999004361000000107\t57797005\n\
a1b2c3d4-0000-4000-8000-000000000004\t20200401\t1\t999000011000000103\t123\t90560007\n"
        )
    }

    #[test]
    fn snapshot_honours_active_and_wanted() {
        let m = parse_simple_refset(
            &snapshot(),
            "s.txt",
            &[999004381000000103, 999004361000000107],
        )
        .unwrap();
        let ids: Vec<u64> = m.iter().map(|m| m.referenced_component_id).collect();
        assert_eq!(ids, vec![57797005, 76272004]);
        let all = parse_simple_refset(&snapshot(), "s.txt", &[]).unwrap();
        assert_eq!(all.len(), 3);
    }

    #[test]
    fn full_keeps_latest_row_per_member() {
        let text = format!(
            "{H}\
m1\t20190101\t1\t1\t10\t76272004\n\
m1\t20210101\t0\t1\t10\t76272004\n\
m2\t20210101\t1\t1\t10\t15628003\n\
m2\t20190101\t0\t1\t10\t15628003\n\
m3\t20200101\t0\t1\t10\t105629000\n\
m3\t20220101\t1\t1\t10\t105629000\n"
        );
        let m = parse_simple_refset(&text, "full.txt", &[10]).unwrap();
        let ids: Vec<u64> = m.iter().map(|m| m.referenced_component_id).collect();
        assert_eq!(ids, vec![15628003, 105629000]);
        assert_eq!(m[1].effective_time, 20220101);
    }

    #[test]
    fn load_from_file_and_errors_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("der2_Refset_SimpleSnapshot_TEST.txt");
        std::fs::File::create(&p)
            .unwrap()
            .write_all(snapshot().as_bytes())
            .unwrap();
        assert_eq!(
            load_simple_refset(&p, &[999004381000000103]).unwrap().len(),
            1
        );

        let bad = format!("{H}m1\t2020\t1\t1\t10\t1\n");
        let e = parse_simple_refset(&bad, "bad.txt", &[]).unwrap_err();
        assert_eq!(e.to_string(), "bad.txt:2: effectiveTime is not YYYYMMDD");
        let bad = format!("{H}m1\t20200101\tyes\t1\t10\t1\n");
        assert!(parse_simple_refset(&bad, "bad.txt", &[])
            .unwrap_err()
            .to_string()
            .contains(":2: active"));
        let bad = format!("{H}\nm1\t20200101\t1\t1\t10\n");
        assert!(parse_simple_refset(&bad, "bad.txt", &[])
            .unwrap_err()
            .to_string()
            .starts_with("bad.txt:3:"));
        let bad = "id\tx\n";
        assert!(parse_simple_refset(bad, "bad.txt", &[])
            .unwrap_err()
            .to_string()
            .contains("header"));
        let missing = load_simple_refset(dir.path().join("nope.txt"), &[]).unwrap_err();
        assert!(missing.to_string().contains("nope.txt"));
    }
}
