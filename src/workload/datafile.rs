//! Trace and empirical CSV files, read as a stream under limits: a file of more than
//! [`MAX_BYTES`], a line of more than [`MAX_LINE_BYTES`] or more than [`MAX_ROWS`] data rows is
//! refused with the limit named, after reading no more than the limit (a trace of
//! `/dev/zero` is refused after 1 MiB, not after filling the memory).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

/// Largest trace or empirical file, bytes (256 MiB).
pub const MAX_BYTES: u64 = 256 << 20;
/// Longest line of a trace or empirical file, bytes (1 MiB).
pub const MAX_LINE_BYTES: u64 = 1 << 20;
/// Most data rows of a trace or empirical file (each kept row holds 8 to 24 bytes of memory).
pub const MAX_ROWS: u64 = 10_000_000;

/// Which limit a file went past.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Over {
    Bytes,
    /// The line (from 1) that is too long.
    Line(u64),
}

/// A reader that stops with an error at [`MAX_BYTES`] or at a line longer than
/// [`MAX_LINE_BYTES`], remembering which.
pub(super) struct Capped<R> {
    inner: R,
    read: u64,
    line: u64,
    line_len: u64,
    over: Option<Over>,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let refuse = || std::io::Error::other("past a limit of trace and empirical files");
        if self.over.is_some() {
            return Err(refuse());
        }
        let room = MAX_BYTES - self.read;
        if room == 0 {
            // At the limit: the file is too long if one more byte follows.
            let mut one = [0u8; 1];
            return match self.inner.read(&mut one)? {
                0 => Ok(0),
                _ => {
                    self.over = Some(Over::Bytes);
                    Err(refuse())
                }
            };
        }
        let want = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let got = self.inner.read(&mut buf[..want])?;
        for &b in &buf[..got] {
            if b == b'\n' {
                self.line += 1;
                self.line_len = 0;
            } else {
                self.line_len += 1;
                if self.line_len > MAX_LINE_BYTES {
                    self.over = Some(Over::Line(self.line + 1));
                    return Err(refuse());
                }
            }
        }
        self.read += got as u64;
        Ok(got)
    }
}

/// A CSV reader of a trace or empirical file, with the file's name as messages show it.
pub(super) struct DataFile {
    /// The reader (headers first).
    pub rdr: csv::Reader<Capped<BufReader<File>>>,
    /// `trace` or `empirical`, the start of every message.
    what: &'static str,
    /// The file as messages name it.
    pub shown: String,
    rows: u64,
}

impl DataFile {
    /// Opens `path` (a file larger than the limit is refused without reading it).
    pub fn open(path: &Path, what: &'static str) -> Result<DataFile, String> {
        let shown = path.display().to_string();
        let file = File::open(path).map_err(|e| format!("{what}: cannot read {shown}: {e}"))?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let df = DataFile {
            rdr: csv::ReaderBuilder::new()
                .trim(csv::Trim::All)
                .from_reader(Capped {
                    inner: BufReader::new(file),
                    read: 0,
                    line: 0,
                    line_len: 0,
                    over: None,
                }),
            what,
            shown,
            rows: 0,
        };
        if len > MAX_BYTES {
            return Err(df.too_large());
        }
        Ok(df)
    }

    fn too_large(&self) -> String {
        format!(
            "{}: {} is larger than {MAX_BYTES} bytes (256 MiB), the limit for trace and \
             empirical files",
            self.what, self.shown
        )
    }

    /// The message of a CSV error: the limit it went past, or what the CSV reader says.
    pub fn error(&self, e: csv::Error) -> String {
        match self.rdr.get_ref().over {
            Some(Over::Bytes) => self.too_large(),
            Some(Over::Line(n)) => format!(
                "{}: {}: line {n} is longer than {MAX_LINE_BYTES} bytes (1 MiB), the limit for \
                 a line of a trace or empirical file",
                self.what, self.shown
            ),
            None => format!("{}: {}: {e}", self.what, self.shown),
        }
    }

    /// The header row.
    pub fn headers(&mut self) -> Result<csv::StringRecord, String> {
        match self.rdr.headers() {
            Ok(h) => Ok(h.clone()),
            Err(e) => Err(self.error(e)),
        }
    }

    /// The next data row, if any; refuses the row past [`MAX_ROWS`].
    pub fn next_row(&mut self, rec: &mut csv::StringRecord) -> Result<bool, String> {
        match self.rdr.read_record(rec) {
            Ok(false) => Ok(false),
            Ok(true) => {
                self.rows += 1;
                if self.rows > MAX_ROWS {
                    return Err(format!(
                        "{}: {} has more than {MAX_ROWS} rows, the limit for trace and \
                         empirical files",
                        self.what, self.shown
                    ));
                }
                Ok(true)
            }
            Err(e) => Err(self.error(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(bytes: Vec<u8>) -> Result<u64, Over> {
        let mut c = Capped {
            inner: std::io::Cursor::new(bytes),
            read: 0,
            line: 0,
            line_len: 0,
            over: None,
        };
        let mut sink = Vec::new();
        match c.read_to_end(&mut sink) {
            Ok(n) => Ok(n as u64),
            Err(_) => Err(c.over.expect("a limit")),
        }
    }

    #[test]
    fn lines_up_to_the_limit_pass_and_a_longer_one_is_named() {
        let mut ok = vec![b'a'; MAX_LINE_BYTES as usize];
        ok.push(b'\n');
        assert_eq!(read_all(ok.clone()), Ok(MAX_LINE_BYTES + 1));
        let mut bad = b"h\nx\n".to_vec();
        bad.extend(vec![b'0'; MAX_LINE_BYTES as usize + 1]);
        assert_eq!(read_all(bad), Err(Over::Line(3)));
    }
}
