//! Progress on stderr: a bar on a terminal, plain periodic lines otherwise, nothing with
//! `--quiet`. Numbers only: never a file's contents.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Batch progress reporter, shared by the worker threads.
pub(super) struct Progress {
    bar: Option<ProgressBar>,
    plain: bool,
    started: Instant,
    last_line: Mutex<Instant>,
    total_bytes: u64,
}

impl Progress {
    /// A reporter for `total` files of `total_bytes` bytes: a bar when stderr is a terminal, a line
    /// every 5 s otherwise, silent when `quiet`.
    pub(super) fn new(total: usize, total_bytes: u64, quiet: bool) -> Progress {
        let terminal = std::io::stderr().is_terminal();
        let bar = (!quiet && terminal).then(|| {
            let b = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            let colour = std::env::var_os("NO_COLOR").is_none();
            let template = if colour {
                "{spinner:.green} [{elapsed_precise}] [{bar:32.cyan/blue}] {pos}/{len} files  {msg}  ETA {eta}"
            } else {
                "[{elapsed_precise}] [{bar:32}] {pos}/{len} files  {msg}  ETA {eta}"
            };
            b.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> "));
            b.enable_steady_tick(Duration::from_millis(200));
            b
        });
        Progress {
            bar,
            plain: !quiet && !terminal,
            started: Instant::now(),
            last_line: Mutex::new(Instant::now()),
            total_bytes,
        }
    }

    /// Report `done` of `total` files, `bytes` read so far and how many were rejected.
    pub(super) fn update(&self, done: usize, total: usize, bytes: u64, rejected: usize) {
        let secs = self.started.elapsed().as_secs_f64().max(1e-6);
        let mbps = bytes as f64 / 1e6 / secs;
        if let Some(b) = &self.bar {
            b.set_position(done as u64);
            b.set_message(format!("{mbps:.0} MB/s  {rejected} rejected"));
        } else if self.plain {
            let Ok(mut last) = self.last_line.lock() else {
                return;
            };
            if last.elapsed() >= Duration::from_secs(5) || done == total {
                *last = Instant::now();
                eprintln!(
                    "migx: {done}/{total} files, {}/{}, {}/s, {rejected} rejected",
                    size(bytes as f64),
                    size(self.total_bytes as f64),
                    size(bytes as f64 / secs)
                );
            }
        }
    }

    /// Clear the bar at the end of the run.
    pub(super) fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// A byte count for people: kB below 1 MB (so a small run never reads "0 MB"), MB above
/// (1 kB = 10^3 bytes, 1 MB = 10^6).
pub(super) fn size(bytes: f64) -> String {
    if bytes < 1e6 {
        format!(
            "{:.0} kB",
            (bytes / 1e3).max(if bytes > 0.0 { 1.0 } else { 0.0 })
        )
    } else {
        format!("{:.0} MB", bytes / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::size;

    #[test]
    fn sizes_below_a_megabyte_are_in_kilobytes() {
        assert_eq!(size(0.0), "0 kB");
        assert_eq!(size(300.0), "1 kB");
        assert_eq!(size(42_000.0), "42 kB");
        assert_eq!(size(999_000.0), "999 kB");
        assert_eq!(size(2_400_000.0), "2 MB");
    }
}
