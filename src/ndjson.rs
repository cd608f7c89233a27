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
            let (take, done) = match memchr::memchr(b'\n', chunk) {
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

/// Splits a stream of chunks (an HTTP body) into lines, holding at most `max_line` bytes of
/// an unfinished line. A longer line is reported as [`SplitLine::TooLong`] once its end
/// arrives, and its bytes are dropped as they come.
#[derive(Debug)]
pub struct LineSplitter {
    buf: Vec<u8>,
    max_line: usize,
    overlong: u64,
    /// 1-based number of the last line returned.
    pub line_no: u64,
}

/// One line from a [`LineSplitter`].
#[derive(Debug, PartialEq, Eq)]
pub enum SplitLine {
    Bytes(Vec<u8>),
    TooLong { len: u64 },
}

impl LineSplitter {
    pub fn new(max_line: usize) -> Self {
        LineSplitter { buf: Vec::new(), max_line, overlong: 0, line_no: 0 }
    }

    /// Feeds a chunk; returns the lines it completed, with their numbers.
    pub fn push(&mut self, mut chunk: &[u8]) -> Vec<(u64, SplitLine)> {
        let mut out = Vec::new();
        while let Some(i) = memchr::memchr(b'\n', chunk) {
            self.take(&chunk[..i]);
            out.push(self.finish_line());
            chunk = &chunk[i + 1..];
        }
        self.take(chunk);
        out
    }

    /// Ends the input: the last line if it had no newline.
    pub fn finish(&mut self) -> Option<(u64, SplitLine)> {
        (!self.buf.is_empty() || self.overlong > 0).then(|| self.finish_line())
    }

    fn take(&mut self, part: &[u8]) {
        if self.overlong > 0 || self.buf.len() + part.len() > self.max_line {
            self.overlong += (self.buf.len() + part.len()) as u64;
            self.buf.clear();
        } else {
            self.buf.extend_from_slice(part);
        }
    }

    fn finish_line(&mut self) -> (u64, SplitLine) {
        self.line_no += 1;
        let line = if self.overlong > 0 {
            SplitLine::TooLong { len: std::mem::take(&mut self.overlong) }
        } else {
            let mut line = std::mem::take(&mut self.buf);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            SplitLine::Bytes(line)
        };
        (self.line_no, line)
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
    fn the_splitter_joins_chunks_and_bounds_long_lines() {
        let mut s = LineSplitter::new(8);
        let mut got = s.push(b"{\"a\"");
        got.extend(s.push(b":1}\n0123456789"));
        got.extend(s.push(b"abc\nok\r\nlast"));
        got.extend(s.finish());
        assert_eq!(
            got,
            vec![
                (1, SplitLine::Bytes(b"{\"a\":1}".to_vec())),
                (2, SplitLine::TooLong { len: 13 }),
                (3, SplitLine::Bytes(b"ok".to_vec())),
                (4, SplitLine::Bytes(b"last".to_vec())),
            ]
        );
        assert_eq!(s.finish(), None);
    }

    #[test]
    fn empty_input_has_no_lines() {
        assert!(lines(b"", 8).is_empty());
    }
}
