//! Running a batch at scale: an ordered parallel map (workers convert files in any order,
//! one writer consumes results strictly in input order, with a bounded window of results
//! in flight so memory stays flat however many files there are), output formats, and
//! deterministic sharding (`--shard K/N`) so any scheduler can fan a corpus out.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};

/// How disclosed records are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// One pretty-printed Bundle per input under `bundles/`.
    #[default]
    Bundle,
    /// FHIR bulk data: `ndjson/<ResourceType>.ndjson`, one resource per line.
    Ndjson,
}

/// One share of a corpus: inputs whose stable hash modulo `count` is `index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This shard, `K` in `0..N`.
    pub index: u32,
    /// How many shards the inputs are split into, `N`.
    pub count: u32,
}

impl Shard {
    /// Parse `K/N` (0 <= K < N).
    pub fn parse(s: &str) -> Result<Shard, String> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("--shard {s:?}: use K/N, e.g. 0/3"))?;
        let k: u32 = k
            .trim()
            .parse()
            .map_err(|_| format!("--shard {s:?}: K must be a whole number"))?;
        let n: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("--shard {s:?}: N must be a whole number"))?;
        if n == 0 || k >= n {
            return Err(format!(
                "--shard {s:?}: need 0 <= K < N (shards are numbered from 0)"
            ));
        }
        Ok(Shard { index: k, count: n })
    }

    /// The shard a path (relative to the input root it was found under) belongs to:
    /// the first 8 bytes of its SHA-256, big-endian, modulo N. Stable across machines,
    /// runs, Rust versions and mount points.
    pub fn of(rel_path: &str, count: u32) -> u32 {
        let d = Sha256::digest(rel_path.as_bytes());
        let mut b = [0u8; 8];
        b.copy_from_slice(&d[..8]);
        (u64::from_be_bytes(b) % u64::from(count.max(1))) as u32
    }

    /// Whether the input at this path (relative to its input root) belongs to this shard.
    pub fn contains(&self, rel_path: &str) -> bool {
        Shard::of(rel_path, self.count) == self.index
    }

    /// Folder name for this shard's audit and summary: `K-of-N`.
    pub fn dir_name(&self) -> String {
        format!("{}-of-{}", self.index, self.count)
    }
}

/// Longest file name (bytes) most filesystems accept (ext4, XFS, APFS, NTFS: 255).
pub const NAME_MAX: usize = 255;

/// Give every input its bundle file name, unique within the run however the inputs are
/// named, and the same in every shard (every shard names the whole input list).
///
/// Names are claimed in input path order (`display`), each taking the first candidate no
/// earlier input holds, compared case-insensitively (so a case-insensitive output
/// filesystem cannot merge two bundles either):
/// 1. `<stem>.json`, when no other input has that stem;
/// 2. `<stem>-<h8>.json`, `<stem>-<h16>.json`, `<stem>-<h64>.json`, where `h` is the hex
///    SHA-256 of the input's path as shown in the audit;
/// 3. `<stem>-<h64>-<n>.json` for n = 2, 3, ... (two inputs can only reach this by a
///    SHA-256 collision, but the loop makes uniqueness unconditional).
///
/// A stem starting with `.` gets `_` instead (a bundle is never a hidden or temporary
/// file), an empty one is `input`, and a stem too long for the file-name limit is cut (on
/// a character boundary) and always takes a hash, so every name fits in [`NAME_MAX`].
pub fn assign_bundle_names(files: &mut [crate::input::InputFile]) {
    use std::collections::{HashMap, HashSet};
    let stems: Vec<String> = files.iter().map(|f| safe_stem(&f.path)).collect();
    let mut stem_counts: HashMap<String, usize> = HashMap::new();
    for s in &stems {
        *stem_counts.entry(s.to_lowercase()).or_insert(0) += 1;
    }
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by(|&a, &b| files[a].display.cmp(&files[b].display));
    let mut used: HashSet<String> = HashSet::new();
    for i in order {
        let stem = &stems[i];
        // The masked name: a hash of the real one could be searched for the NHS number.
        let h = crate::digest::hex(&Sha256::digest(files[i].shown().as_bytes()));
        let unique_stem = stem_counts[&stem.to_lowercase()] == 1;
        let mut candidates: Vec<String> = Vec::new();
        if unique_stem && stem.len() + ".json".len() <= NAME_MAX {
            candidates.push(format!("{stem}.json"));
        }
        for n in [8, 16, 64] {
            candidates.push(with_suffix(stem, &format!("-{}.json", &h[..n])));
        }
        let mut k = 2u64;
        let name = loop {
            if let Some(c) = candidates
                .iter()
                .find(|c| !used.contains(&c.to_lowercase()))
            {
                break c.clone();
            }
            candidates = vec![with_suffix(stem, &format!("-{h}-{k}.json"))];
            k += 1;
        };
        used.insert(name.to_lowercase());
        files[i].bundle_name = name;
    }
}

/// `stem` cut (on a character boundary) so that `stem + suffix` fits in [`NAME_MAX`].
fn with_suffix(stem: &str, suffix: &str) -> String {
    let room = NAME_MAX.saturating_sub(suffix.len());
    let mut end = stem.len().min(room);
    while !stem.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{suffix}", &stem[..end])
}

/// The file stem, made safe as the start of a bundle name.
fn safe_stem(p: &std::path::Path) -> String {
    // NHS numbers in an input's name never reach the bundle's name (issue 24.13); the mask
    // is written `x` there, as `*` is a shell wildcard.
    let s = crate::nhs::mask_nhs_numbers_in(
        &p.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    )
    .replace('*', "x");
    match s.strip_prefix('.') {
        _ if s.is_empty() => "input".into(),
        Some(rest) => format!("_{rest}"),
        None => s,
    }
}

struct State<R> {
    /// Lowest index not yet claimed.
    next: usize,
    /// Claimed indices at or above `next` (claims within the window may be out of order).
    claimed: Vec<bool>,
    emitted: usize,
    ready: BTreeMap<usize, R>,
    abort: bool,
}

/// The index a worker claims next (some index in the window is unclaimed): the one the
/// writer waits for when it is unclaimed, else the heaviest unclaimed in the window (the
/// first of equals); then `next` moves past the claimed prefix. Heaviest first alone left
/// the window's small first inputs to the end of each window, so the writer and the window
/// stood still meanwhile: on the bench corpus (`-j2`, window 128) the 20 MB input, 129th,
/// started half-way through the run and one worker ended it alone.
fn claim_weighted<R>(s: &mut State<R>, weights: &[u64], window: usize) -> usize {
    let n = weights.len();
    let end = n.min(s.emitted + window);
    let mut best = s.next;
    if s.next != s.emitted {
        for j in s.next..end {
            if !s.claimed[j] && (s.claimed[best] || weights[j] > weights[best]) {
                best = j;
            }
        }
    }
    s.claimed[best] = true;
    while s.next < n && s.claimed[s.next] {
        s.next += 1;
    }
    best
}

/// Run `work(i)` for i in 0..n on `jobs` threads and hand each result to `sink` in order of
/// `i`. At most `window` results are claimed ahead of the writer. When `stop` becomes true
/// no new work starts; results already started are still delivered. Returns whether every
/// index was delivered. A panic in `work` aborts the run with an error; an error from
/// `sink` stops the workers and is returned.
pub fn ordered_map<R: Send>(
    n: usize,
    jobs: usize,
    window: usize,
    stop: &AtomicBool,
    work: &(dyn Fn(usize) -> R + Sync),
    sink: impl FnMut(usize, R) -> io::Result<()>,
) -> io::Result<bool> {
    ordered_map_weighted(n, jobs, window, None, stop, work, sink)
}

/// [`ordered_map`], but within the window each worker claims the unclaimed index of
/// largest `weights[i]` first (e.g. input size): a large input starts as soon as it enters
/// the window instead of last, so it rarely holds the writer (and the other workers) up,
/// and the run does not end with one worker on a large input while the others idle.
/// The one exception is the index the writer waits for: unclaimed, it is claimed first
/// ([`claim_weighted`]), so the window keeps moving and a large input past it enters soon.
/// Results are still delivered in order of `i`, and at most `window` are claimed ahead of
/// the writer, so memory stays bounded exactly as without weights.
pub fn ordered_map_weighted<R: Send>(
    n: usize,
    jobs: usize,
    window: usize,
    weights: Option<&[u64]>,
    stop: &AtomicBool,
    work: &(dyn Fn(usize) -> R + Sync),
    mut sink: impl FnMut(usize, R) -> io::Result<()>,
) -> io::Result<bool> {
    let window = window.max(1);
    let weights = weights.filter(|w| w.len() == n);
    let state = Mutex::new(State {
        next: 0,
        claimed: vec![false; if weights.is_some() { n } else { 0 }],
        emitted: 0,
        ready: BTreeMap::new(),
        abort: false,
    });
    let cv = Condvar::new();
    let lock = || state.lock().unwrap_or_else(|p| p.into_inner());
    let mut result: io::Result<bool> = Ok(false);
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| loop {
                let i = {
                    let mut s = lock();
                    loop {
                        if s.abort || stop.load(Ordering::SeqCst) || s.next >= n {
                            return;
                        }
                        if s.next < s.emitted + window {
                            break;
                        }
                        s = cv.wait(s).unwrap_or_else(|p| p.into_inner());
                    }
                    match weights {
                        None => {
                            s.next += 1;
                            s.next - 1
                        }
                        Some(w) => claim_weighted(&mut s, w, window),
                    }
                };
                let r = catch_unwind(AssertUnwindSafe(|| work(i)));
                let mut s = lock();
                match r {
                    Ok(r) => {
                        s.ready.insert(i, r);
                    }
                    Err(_) => s.abort = true,
                }
                cv.notify_all();
            });
        }
        let mut emitted = 0;
        loop {
            let r = {
                let mut s = lock();
                loop {
                    if let Some(r) = s.ready.remove(&emitted) {
                        s.emitted = emitted + 1;
                        cv.notify_all();
                        break Some(r);
                    }
                    if emitted >= n || s.abort {
                        break None;
                    }
                    let started = emitted < s.next || s.claimed.get(emitted) == Some(&true);
                    if !started && stop.load(Ordering::SeqCst) {
                        break None;
                    }
                    s = cv.wait(s).unwrap_or_else(|p| p.into_inner());
                }
            };
            let Some(r) = r else { break };
            if let Err(e) = sink(emitted, r) {
                lock().abort = true;
                cv.notify_all();
                result = Err(e);
                return;
            }
            emitted += 1;
        }
        if lock().abort {
            result = Err(io::Error::other("internal error: a worker failed"));
        } else {
            result = Ok(emitted == n);
        }
    });
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(paths: &[String]) -> BTreeMap<String, String> {
        let mut files: Vec<crate::input::InputFile> = paths
            .iter()
            .map(|p| crate::input::InputFile {
                path: std::path::PathBuf::from(p),
                display: p.clone(),
                bundle_name: String::new(),
                walk_error: None,
                rel: p.clone(),
            })
            .collect();
        assign_bundle_names(&mut files);
        files
            .into_iter()
            .map(|f| (f.display, f.bundle_name))
            .collect()
    }

    fn assert_names_safe(names: &BTreeMap<String, String>) {
        let mut seen = std::collections::HashSet::new();
        for (input, name) in names {
            assert!(
                seen.insert(name.to_lowercase()),
                "{input}: {name} is taken (case-insensitively) by another input"
            );
            assert!(name.len() <= NAME_MAX, "{input}: {} bytes", name.len());
            assert!(name.ends_with(".json") && !name.starts_with('.'), "{name}");
            assert!(!name.contains('/'), "{name}");
        }
    }

    /// Adversarial names, generated: every round adds, in fresh folders, inputs whose stems
    /// are exactly the names (plain, hashed, cut) the previous round handed out, in varied
    /// case, beside dot-files, empty stems and stems at the file-name limit. Names stay
    /// unique, fit, and do not depend on the order the inputs are listed in.
    #[test]
    fn bundle_names_never_collide_whatever_the_inputs_are_called() {
        let long_ascii = "r".repeat(NAME_MAX - 4);
        let long_multi = "é".repeat(NAME_MAX / 2 - 1);
        let mut paths: Vec<String> = vec![
            "a/rec.xml".into(),
            "b/rec.xml".into(),
            "c/REC.xml".into(),
            "d/.rec.xml".into(),
            "d/_rec.xml".into(),
            "e/.xml".into(),
            "e/_xml.xml".into(),
            "f/input".into(),
            format!("g/{long_ascii}.xml"),
            format!("h/{long_ascii}.xml"),
            format!("i/{long_multi}.xml"),
            format!("j/{long_multi}.json"),
            "k/.migx-tmp-1-rec.xml".into(),
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..4 {
            let names = named(&paths);
            assert_names_safe(&names);
            // Reversed and shuffled listings give every input the same name.
            let mut shuffled = paths.clone();
            shuffled.reverse();
            for i in (1..shuffled.len()).rev() {
                let j = (next() % (i as u64 + 1)) as usize;
                shuffled.swap(i, j);
            }
            assert_eq!(named(&shuffled), names, "round {round}");
            // Next round: impersonate every name handed out, from new folders.
            let mut more = Vec::new();
            for (k, name) in names.values().enumerate() {
                let stem = name.trim_end_matches(".json");
                let stem = if next() % 2 == 0 {
                    stem.to_uppercase()
                } else {
                    stem.to_string()
                };
                more.push(format!("r{round}-{k}/{stem}.xml"));
                more.push(format!("r{round}-{k}/sub/{stem}.json"));
            }
            paths.extend(more);
        }
        assert!(paths.len() > 1000, "{}", paths.len());
    }

    #[test]
    fn the_three_inputs_of_the_issue_get_three_names() {
        let h = crate::digest::hex(&Sha256::digest(b"b/rec.xml"));
        let third = format!("c/rec-{}.xml", &h[..8]);
        let names = named(&["a/rec.xml".into(), "b/rec.xml".into(), third.clone()]);
        assert_names_safe(&names);
        assert_eq!(names["b/rec.xml"], format!("rec-{}.json", &h[..8]));
        assert_ne!(names[&third], names["b/rec.xml"]);
        // A stem no other input shares keeps its plain name.
        assert_eq!(named(&["x/only.xml".into()])["x/only.xml"], "only.json");
    }

    #[test]
    fn shard_parse() {
        assert_eq!(Shard::parse("0/3").unwrap(), Shard { index: 0, count: 3 });
        assert_eq!(Shard::parse("2/3").unwrap().dir_name(), "2-of-3");
        for bad in ["3/3", "1/0", "x/2", "1", "-1/2", "1/2/3"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shard_hash_is_stable_and_partitions() {
        // Pinned values: changing the hash would silently reshuffle running fan-outs.
        assert_eq!(Shard::of("a.xml", 1), 0);
        let v: Vec<u32> = ["a.xml", "b.xml", "c/d.xml"]
            .iter()
            .map(|p| Shard::of(p, 1000))
            .collect();
        assert_eq!(v, vec![801, 111, 172]); // sha256sum, first 16 hex digits, mod 1000
        let names: Vec<String> = (0..300).map(|i| format!("f{i}.xml")).collect();
        let mut counts = [0usize; 3];
        for n in &names {
            let k = Shard::of(n, 3);
            counts[k as usize] += 1;
            let owners = (0..3)
                .filter(|&i| Shard { index: i, count: 3 }.contains(n))
                .count();
            assert_eq!(owners, 1);
        }
        assert!(counts.iter().all(|&c| c > 70), "{counts:?}");
    }

    #[test]
    fn ordered_map_delivers_in_order_with_any_jobs() {
        for jobs in [1, 2, 4] {
            let stop = AtomicBool::new(false);
            let mut got = Vec::new();
            let work = |i: usize| {
                // uneven work so completion order differs from input order
                std::thread::sleep(std::time::Duration::from_micros(((i * 7) % 5) as u64 * 200));
                i * 10
            };
            let done = ordered_map(50, jobs, 3, &stop, &work, |i, r| {
                got.push((i, r));
                Ok(())
            })
            .unwrap();
            assert!(done);
            assert_eq!(got, (0..50).map(|i| (i, i * 10)).collect::<Vec<_>>());
        }
    }

    #[test]
    fn weighted_claims_take_the_heaviest_in_the_window_and_deliver_in_order() {
        let weights: Vec<u64> = vec![1, 5, 3, 9, 2, 7, 4, 8, 6, 0];
        let claims = Mutex::new(Vec::new());
        let work = |i: usize| {
            claims.lock().unwrap().push(i);
            i * 10
        };
        let stop = AtomicBool::new(false);
        let mut got = Vec::new();
        let done = ordered_map_weighted(10, 1, 4, Some(&weights), &stop, &work, |i, r| {
            got.push((i, r));
            Ok(())
        })
        .unwrap();
        assert!(done);
        assert_eq!(got, (0..10).map(|i| (i, i * 10)).collect::<Vec<_>>());
        // Every index claimed exactly once (the order depends on when the writer moves:
        // `a_claim_is_the_writers_next_index_or_the_heaviest_in_the_window`).
        let mut claims = claims.into_inner().unwrap();
        claims.sort_unstable();
        assert_eq!(claims, (0..10).collect::<Vec<_>>());
        for jobs in [2, 3] {
            let mut got = Vec::new();
            ordered_map_weighted(10, jobs, 3, Some(&weights), &stop, &|i| i, |i, r| {
                got.push((i, r));
                Ok(())
            })
            .unwrap();
            assert_eq!(got, (0..10).map(|i| (i, i)).collect::<Vec<_>>());
        }
    }

    /// The claims of two workers, step by step: the index the writer waits for when it is
    /// unclaimed, else the heaviest unclaimed in the window; a heavy index just past the
    /// window is claimed as soon as the writer's progress brings it in.
    #[test]
    fn a_claim_is_the_writers_next_index_or_the_heaviest_in_the_window() {
        let weights: Vec<u64> = vec![1, 5, 3, 9, 2, 7, 4, 8, 6, 100];
        let mut s: State<()> = State {
            next: 0,
            claimed: vec![false; weights.len()],
            emitted: 0,
            ready: BTreeMap::new(),
            abort: false,
        };
        let window = 4;
        // The writer waits for 0: claimed first; then the heaviest of 1..4 (3), then of 1..3.
        assert_eq!(claim_weighted(&mut s, &weights, window), 0);
        assert_eq!(claim_weighted(&mut s, &weights, window), 3);
        assert_eq!(claim_weighted(&mut s, &weights, window), 1);
        // 0 is written: the window is 1..5, and the writer waits for 1 (claimed): the
        // heaviest unclaimed is 2 (4 is lighter).
        s.emitted = 1;
        assert_eq!(claim_weighted(&mut s, &weights, window), 2);
        // 1, 2 and 3 are written: the writer waits for 4, unclaimed, which is claimed
        // first; then the heaviest of 5..8 (7), then 5.
        s.emitted = 4;
        assert_eq!(claim_weighted(&mut s, &weights, window), 4);
        assert_eq!(claim_weighted(&mut s, &weights, window), 7);
        assert_eq!(claim_weighted(&mut s, &weights, window), 5);
        // 4 and 5 are written: 9, the heaviest input, is in the window (6..10), and is
        // claimed right after 6, which the writer waits for.
        s.emitted = 6;
        assert_eq!(claim_weighted(&mut s, &weights, window), 6);
        assert_eq!(claim_weighted(&mut s, &weights, window), 9);
        assert_eq!(claim_weighted(&mut s, &weights, window), 8);
        assert_eq!(s.next, weights.len(), "every index claimed once");
        assert!(s.claimed.iter().all(|&c| c));
    }

    #[test]
    fn ordered_map_stops_and_reports_errors() {
        let stop = AtomicBool::new(false);
        let work = |i: usize| {
            if i == 5 {
                stop.store(true, Ordering::SeqCst);
            }
            i
        };
        let mut got = Vec::new();
        let done = ordered_map(100, 1, 2, &stop, &work, |_, r| {
            got.push(r);
            Ok(())
        })
        .unwrap();
        assert!(!done);
        assert_eq!(got, (0..=5).collect::<Vec<_>>());

        let stop = AtomicBool::new(false);
        let err = ordered_map(100, 2, 4, &stop, &|i| i, |i, _| {
            if i == 3 {
                Err(io::Error::other("disk full"))
            } else {
                Ok(())
            }
        });
        assert!(err.is_err());

        let stop = AtomicBool::new(false);
        let work = |i: usize| {
            if i == 7 {
                panic!("bug");
            }
            i
        };
        assert!(ordered_map(20, 2, 4, &stop, &work, |_, _| Ok(())).is_err());
    }
}
