//! The byte bound on one XML node, enforced before quick-xml buffers it whole.

use std::io::BufRead;

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
/// per-event check could see it. This counts the bytes since the last `<`: a start tag
/// cannot contain `<`, so such a run is at most one tag plus the text after it, and a run
/// longer than twice the node limit means some node is over the limit. The read then fails
/// (with [`NodeTooLarge`]) after at most `2 * limit` plus one buffer of bytes.
pub(super) struct NodeBound<R> {
    inner: R,
    /// Bytes since the last `<`.
    run: u64,
    max_run: u64,
    /// Bytes handed to the parser so far (for the error position).
    pub(super) consumed: u64,
}

impl<R> NodeBound<R> {
    pub(super) fn new(inner: R, max_node: usize) -> Self {
        NodeBound {
            inner,
            run: 0,
            max_run: (max_node as u64).saturating_mul(2),
            consumed: 0,
        }
    }
}

impl<R: BufRead> std::io::Read for NodeBound<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = {
            let avail = self.fill_buf()?;
            let n = avail.len().min(out.len());
            out[..n].copy_from_slice(&avail[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for NodeBound<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.run > self.max_run {
            return Err(std::io::Error::other(NodeTooLarge));
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, n: usize) {
        // The bytes being consumed are still at the front of the inner buffer (quick-xml
        // consumes only what fill_buf returned), so this does no I/O.
        if let Ok(avail) = self.inner.fill_buf() {
            let done = &avail[..n.min(avail.len())];
            match memchr::memrchr(b'<', done) {
                Some(i) => self.run = (done.len() - i - 1) as u64,
                None => self.run += done.len() as u64,
            }
        }
        self.consumed += n as u64;
        self.inner.consume(n);
    }
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
}
