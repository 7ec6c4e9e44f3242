//! A whole corpus: every planned extract, written in parallel through the library's atomic
//! writer, then `consent.csv` with one point-of-care decision per patient.

use rayon::prelude::*;
use std::fs;
use std::io::{self, Write};
use std::path::Path;

use crate::extract::Gen;
use crate::plan::{plan, FilePlan, Opts};
use crate::{Res, REQUESTER_NAME, REQUESTER_ODS};

pub(crate) fn err_ctx(
    e: io::Error,
    what: &str,
    path: &Path,
) -> Box<dyn std::error::Error + Send + Sync> {
    format!("{what} {}: {e}", path.display()).into()
}

/// Write `path` through the library's owner-only temp file and rename (readers never see a
/// partial file; no sync per file: a generated corpus can be regenerated).
pub(crate) fn write_atomic<F>(path: &Path, fill: F) -> Res<u64>
where
    F: FnOnce(&mut dyn Write) -> io::Result<u64>,
{
    let mut written = 0;
    let tmp = migx::output::write_temp_with(path, |w| {
        written = fill(w)?;
        Ok(())
    })
    .map_err(|e| err_ctx(e, "write", path))?;
    migx::output::publish(&tmp, path).map_err(|e| err_ctx(e, "rename", path))?;
    Ok(written)
}

pub(crate) fn generate_file(p: &FilePlan, out: &Path) -> Res<u64> {
    let path = out.join(&p.name);
    write_atomic(&path, |w| Gen::new(w, p.clone()).run().map(|(n, _)| n))
}

pub(crate) fn consent_csv(plans: &[FilePlan], out: &Path) -> Res<u64> {
    write_atomic(&out.join("consent.csv"), |w| {
        let mut n = 0u64;
        let head = "nhs_number,decision,recorded_at,requester_ods,requester_name,purpose\n";
        w.write_all(head.as_bytes())?;
        n += head.len() as u64;
        for p in plans {
            let day = migx::ehr::ts::Ts::from_epoch_secs(p.creation, migx::ehr::ts::Precision::Day)
                .map_or_else(String::new, |t| t.date().to_string());
            let line = format!(
                "{},{},{day}T00:00:00+00:00,{REQUESTER_ODS},{REQUESTER_NAME},TREAT\n",
                p.nhs,
                if p.permit { "permit" } else { "deny" }
            );
            w.write_all(line.as_bytes())?;
            n += line.len() as u64;
        }
        Ok(n)
    })
}

pub(crate) fn generate(o: &Opts) -> Res<(usize, u64)> {
    fs::create_dir_all(&o.out).map_err(|e| err_ctx(e, "create dir", &o.out))?;
    let plans = plan(o);
    let bytes: Vec<u64> = plans
        .par_iter()
        .map(|p| generate_file(p, &o.out))
        .collect::<Res<Vec<u64>>>()?;
    consent_csv(&plans, &o.out)?;
    Ok((plans.len(), bytes.iter().sum()))
}
