//! Splitting an NDJSON stream into lines, with a bound on line length.
//!
//! A line longer than the limit is consumed to its end and reported as too long, so one huge
//! line never makes the reader hold more than `max_line` bytes and never stops the lines after
//! it. Lines may hold invalid UTF-8: the event parser reports that, per line.

use std::io::BufRead;

/// One line of input.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// The bytes of the line without its `\n` (and without a trailing `\r`).
    Bytes,
    /// The line had more than `max_line` bytes; its bytes were skipped.
    TooLong { len: u64 },
}

/// Reads NDJSON lines one at a time.
pub struct LineReader<R> {
    inner: R,
    max_line: usize,
    /// 1-based number of the line last returned.
    pub line_no: u64,
    /// Bytes consumed so far.
    pub bytes_read: u64,
}

impl<R: BufRead> LineReader<R> {
    pub fn new(inner: R, max_line: usize) -> Self {
        LineReader { inner, max_line, line_no: 0, bytes_read: 0 }
    }

    /// Reads the next line into `buf` (cleared first). Returns None at the end of input.
    pub fn next_line(&mut self, buf: &mut Vec<u8>) -> std::io::Result<Option<Line>> {
        buf.clear();
        let mut len: u64 = 0;
        let mut saw_any = false;
        loop {
            let chunk = self.inner.fill_buf()?;
            if chunk.is_empty() {
                break;
            }
            saw_any = true;
            let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i, true),
                None => (chunk.len(), false),
            };
            len += take as u64;
            if buf.len() + take <= self.max_line {
                buf.extend_from_slice(&chunk[..take]);
            }
            let consumed = if done { take + 1 } else { take };
            self.inner.consume(consumed);
            self.bytes_read += consumed as u64;
            if done {
                break;
            }
        }
        if !saw_any {
            return Ok(None);
        }
        self.line_no += 1;
        if len > self.max_line as u64 {
            buf.clear();
            return Ok(Some(Line::TooLong { len }));
        }
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        Ok(Some(Line::Bytes))
    }
}

/// True for a line with nothing but white space (skipped, not an error).
pub fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn lines(input: &[u8], max: usize) -> Vec<Result<Vec<u8>, u64>> {
        let mut r = LineReader::new(std::io::BufReader::with_capacity(4, input), max);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while let Some(line) = r.next_line(&mut buf).unwrap() {
            out.push(match line {
                Line::Bytes => Ok(buf.clone()),
                Line::TooLong { len } => Err(len),
            });
        }
        out
    }

    #[test]
    fn splits_lines_across_small_buffers() {
        let got = lines(b"{\"a\":1}\n\n{\"b\":2}\r\nlast", 100);
        assert_eq!(got, vec![Ok(b"{\"a\":1}".to_vec()), Ok(vec![]), Ok(b"{\"b\":2}".to_vec()), Ok(b"last".to_vec())]);
    }

    #[test]
    fn a_long_line_is_skipped_and_the_next_kept() {
        let got = lines(b"0123456789abcdef\nok\n", 8);
        assert_eq!(got, vec![Err(16), Ok(b"ok".to_vec())]);
    }

    #[test]
    fn empty_input_has_no_lines() {
        assert!(lines(b"", 8).is_empty());
    }
}
