//! The byte bound on one XML node, enforced before quick-xml buffers it whole.

use std::io::{BufReader, Read};

/// The marker inside the I/O error [`NodeBound`] raises.
#[derive(Debug)]
pub(super) struct NodeTooLarge;

impl std::fmt::Display for NodeTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a single XML node is larger than the limit")
    }
}

impl std::error::Error for NodeTooLarge {}

/// Bounds the memory one event can take *before* quick-xml has buffered it: quick-xml reads a
/// whole tag (all its attributes) or a whole text node into memory before returning it, so a
/// 100 MB text node or a tag with 10 million attributes would be held in full before any
/// per-event check could see it. This sits below the reader's buffer and counts, over the
/// blocks read from the source, the bytes since the last `<`: a start tag cannot contain
/// `<`, so such a run is at most one tag plus the text after it, and a run longer than twice
/// the node limit means some node is over the limit. The next read then fails (with
/// [`NodeTooLarge`]) after at most `2 * limit` plus one block of bytes.
///
/// One backward search per block (it stops at the block's last `<`, usually a few bytes
/// from its end), not one per event: the bound costs nothing measurable.
pub(super) struct NodeBound<R> {
    inner: R,
    /// Bytes since the last `<`, at the end of what was read so far.
    run: u64,
    max_run: u64,
    /// Bytes read from the source so far.
    pub(super) read: u64,
}

impl<R> NodeBound<R> {
    pub(super) fn new(inner: R, max_node: usize) -> Self {
        NodeBound {
            inner,
            run: 0,
            max_run: (max_node as u64).saturating_mul(2),
            read: 0,
        }
    }
}

impl<R: Read> Read for NodeBound<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.run > self.max_run {
            return Err(std::io::Error::other(NodeTooLarge));
        }
        let n = self.inner.read(out)?;
        let got = out.get(..n).unwrap_or_default();
        match memchr::memrchr(b'<', got) {
            Some(i) => self.run = (got.len() - i - 1) as u64,
            None => self.run += got.len() as u64,
        }
        self.read += got.len() as u64;
        Ok(n)
    }
}

/// The reader's buffer over a bounded source: one block is at most 64 KiB, and never more
/// than the node limit (so a small limit stops a read early too).
pub(super) fn bounded<R: Read>(source: R, max_node: usize) -> BufReader<NodeBound<R>> {
    BufReader::with_capacity(
        max_node.clamp(1, 64 * 1024),
        NodeBound::new(source, max_node),
    )
}

/// Bytes handed to the parser so far: read from the source, less what is still buffered.
pub(super) fn consumed<R>(b: &BufReader<NodeBound<R>>) -> u64 {
    b.get_ref().read.saturating_sub(b.buffer().len() as u64)
}

#[cfg(test)]
mod tests {
    use crate::ehr::reader::testing::*;

    #[test]
    fn a_node_over_the_limit_fails_before_it_is_buffered_whole() {
        let limits = Limits {
            max_text_bytes: 1000,
            ..Limits::default()
        };
        // Far bigger than 2 x the limit: the read stops near 2000 bytes in.
        let doc = format!(
            "{ROOT}<text>{}</text></RCMR_IN030000UK06>",
            "x".repeat(1 << 20)
        );
        let source = std::io::BufReader::with_capacity(4096, doc.as_bytes());
        let e = read_extract(source, &limits, 0).expect_err("too big");
        assert_eq!(e.code, ErrorCode::LimitExceeded);
        assert!(e.offset.is_some_and(|o| o < 10_000), "{e:?}");
        assert_eq!(e.element.as_deref(), Some("text"));
        // Within the limit, the same shape reads.
        let doc = format!("{ROOT}<text>{}</text></RCMR_IN030000UK06>", "x".repeat(900));
        assert!(read_extract(doc.as_bytes(), &limits, 0).is_ok());
    }

    #[test]
    fn the_bound_holds_wherever_a_node_falls_across_blocks() {
        let limits = Limits {
            max_text_bytes: 1000,
            ..Limits::default()
        };
        // A node within the limit reads wherever it starts relative to the 1000-byte
        // blocks, after any amount of ordinary markup (which resets the run).
        for lead in (0..2100).step_by(37) {
            for len in [1, 999, 1000] {
                let doc = format!(
                    "{ROOT}{}<text>{}</text><text>{}</text></RCMR_IN030000UK06>",
                    "<id root=\"1\"/>".repeat(lead / 14 + 1),
                    "x".repeat(lead % 1000 + 1),
                    "y".repeat(len)
                );
                assert!(read(&doc).is_ok(), "{lead} {len}");
            }
            // One over twice the limit plus a block: refused before it is buffered whole.
            let doc = format!(
                "{ROOT}{}<text>{}</text></RCMR_IN030000UK06>",
                "<id root=\"1\"/>".repeat(lead / 14 + 1),
                "z".repeat(3 * 1000 + 2)
            );
            let e = read_extract(doc.as_bytes(), &limits, 0).expect_err("too big");
            assert_eq!(e.code, ErrorCode::LimitExceeded, "{lead}");
            assert!(e.offset.is_some_and(|o| o as usize <= doc.len()), "{e:?}");
        }
    }
}
