//! PostgreSQL's COPY data formats (text and CSV): reading the lines a
//! client sends with `COPY ... FROM STDIN`, and writing the lines of
//! `COPY ... TO STDOUT`. Shared by the executor (input) and the surfaces
//! (output), so both read and write exactly PostgreSQL's format.
//!
//! Reading reuses one buffer per row: a field costs no allocation of its
//! own, only the value its column's input function makes of it.

use crate::error::{AionError, DbResult, SqlState};
use crate::plan::{CopyFormat, CopyOptions};

/// One data line (for CSV, one record, which may span lines), its fields
/// de-escaped into one buffer.
#[derive(Default, Debug)]
pub struct CopyRow {
    buf: Vec<u8>,
    /// Byte ranges in `buf`; `None` is NULL.
    fields: Vec<Option<(u32, u32)>>,
    /// 1-based line number of the record (the header is line 1).
    pub line: u64,
    /// Byte range of the raw record in the input, for error CONTEXT.
    raw: (usize, usize),
}

impl CopyRow {
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Field `i` as text (`None` for NULL). Fails with 22021 when an
    /// escape made invalid UTF-8.
    pub fn field(&self, i: usize) -> DbResult<Option<&str>> {
        match self.fields.get(i).copied().flatten() {
            None => Ok(None),
            Some((a, b)) => std::str::from_utf8(&self.buf[a as usize..b as usize])
                .map(Some)
                .map_err(|_| {
                    AionError::new(
                        SqlState::new(b"22021"),
                        "invalid byte sequence for encoding \"UTF8\"",
                    )
                }),
        }
    }
}

/// Where a [`CopyReader`] is in its data, so a reader can be dropped and
/// resumed (an operator that owns the data keeps this between rows).
#[derive(Clone, Copy, Debug, Default)]
pub struct CopyCursor {
    pos: usize,
    line: u64,
    header_pending: bool,
}

/// Reads records from COPY input data.
pub struct CopyReader<'a> {
    data: &'a [u8],
    pos: usize,
    line: u64,
    opts: &'a CopyOptions,
    header_pending: bool,
}

fn bad_copy(message: impl Into<String>) -> AionError {
    AionError::new(SqlState::new(b"22P04"), message)
}

impl<'a> CopyReader<'a> {
    /// Fails with 22021 unless `data` is UTF-8 (checked once here, so each
    /// field needs no check of its own unless an escape made a byte).
    pub fn new(data: &'a [u8], opts: &'a CopyOptions) -> DbResult<Self> {
        if let Err(e) = std::str::from_utf8(data) {
            let line = data[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1;
            return Err(AionError::new(
                SqlState::new(b"22021"),
                "invalid byte sequence for encoding \"UTF8\"",
            )
            .with_context(format!("line {line}")));
        }
        if opts.format == CopyFormat::Binary {
            return Err(AionError::feature_not_supported(
                "COPY FROM in binary format is not supported",
            )
            .with_hint("Use FORMAT text or FORMAT csv."));
        }
        Ok(CopyReader {
            data,
            pos: 0,
            line: 0,
            opts,
            header_pending: opts.header,
        })
    }

    /// Resumes reading `data` (already checked by [`CopyReader::new`]) at
    /// `cursor`.
    pub fn resume(data: &'a [u8], opts: &'a CopyOptions, cursor: CopyCursor) -> Self {
        CopyReader {
            data,
            pos: cursor.pos,
            line: cursor.line,
            opts,
            header_pending: cursor.header_pending,
        }
    }

    pub fn cursor(&self) -> CopyCursor {
        CopyCursor {
            pos: self.pos,
            line: self.line,
            header_pending: self.header_pending,
        }
    }

    /// The raw text of `row`'s record (no line end), for CONTEXT lines.
    pub fn raw_line(&self, row: &CopyRow) -> &'a str {
        let (a, b) = row.raw;
        let s = self.data.get(a..b).unwrap_or(&[]);
        std::str::from_utf8(s).unwrap_or("")
    }

    /// Reads the next record into `row`; false at the end of the data (or
    /// at the `\.` end marker).
    pub fn next_row(&mut self, row: &mut CopyRow) -> DbResult<bool> {
        loop {
            if self.pos >= self.data.len() {
                return Ok(false);
            }
            row.buf.clear();
            row.fields.clear();
            self.line += 1;
            row.line = self.line;
            let start = self.pos;
            let rest = &self.data[start..];
            if rest.starts_with(b"\\.") && matches!(rest.get(2), None | Some(b'\n') | Some(b'\r')) {
                self.pos = self.data.len();
                return Ok(false);
            }
            let end = match self.opts.format {
                CopyFormat::Csv => self.read_csv(row)?,
                _ => self.read_text(row)?,
            };
            row.raw = (start, end);
            if self.header_pending {
                self.header_pending = false;
                continue;
            }
            return Ok(true);
        }
    }

    /// Moves past the line end at `i` (`\n` or `\r\n`, or a lone `\r`);
    /// returns the end of the line's content.
    fn end_line(&mut self, i: usize) -> usize {
        let d = self.data;
        let mut next = i;
        if d.get(i) == Some(&b'\r') {
            next += 1;
            if d.get(next) == Some(&b'\n') {
                next += 1;
            }
        } else if d.get(i) == Some(&b'\n') {
            next += 1;
        }
        self.pos = next;
        i
    }

    fn read_text(&mut self, row: &mut CopyRow) -> DbResult<usize> {
        let d = self.data;
        let delim = self.opts.delimiter;
        let null = self.opts.null.as_bytes();
        let mut i = self.pos;
        let mut field_start = i;
        let mut buf_start = row.buf.len();
        let mut escaped_high = false;
        loop {
            let b = d.get(i).copied();
            match b {
                None | Some(b'\n') | Some(b'\r') => {
                    push_text_field(row, &d[field_start..i], null, buf_start, escaped_high)?;
                    return Ok(self.end_line(i));
                }
                Some(c) if c == delim => {
                    push_text_field(row, &d[field_start..i], null, buf_start, escaped_high)?;
                    i += 1;
                    field_start = i;
                    buf_start = row.buf.len();
                    escaped_high = false;
                }
                Some(b'\\') => {
                    i += 1;
                    let Some(&e) = d.get(i) else {
                        // A lone backslash at the very end stays itself.
                        row.buf.push(b'\\');
                        continue;
                    };
                    i += 1;
                    let byte = match e {
                        b'b' => 8,
                        b'f' => 12,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'v' => 11,
                        b'0'..=b'7' => {
                            let mut v = u32::from(e - b'0');
                            for _ in 0..2 {
                                match d.get(i) {
                                    Some(&c @ b'0'..=b'7') => {
                                        v = v * 8 + u32::from(c - b'0');
                                        i += 1;
                                    }
                                    _ => break,
                                }
                            }
                            (v & 0xff) as u8
                        }
                        b'x' if d.get(i).is_some_and(u8::is_ascii_hexdigit) => {
                            let mut v = 0u32;
                            for _ in 0..2 {
                                match d.get(i) {
                                    Some(c) if c.is_ascii_hexdigit() => {
                                        v = v * 16 + (*c as char).to_digit(16).unwrap_or(0);
                                        i += 1;
                                    }
                                    _ => break,
                                }
                            }
                            v as u8
                        }
                        b'\n' | b'\r' => {
                            // An escaped line end is data (old clients).
                            e
                        }
                        other => other,
                    };
                    if byte >= 0x80 && matches!(e, b'0'..=b'7' | b'x') {
                        escaped_high = true;
                    }
                    row.buf.push(byte);
                }
                Some(_) => {
                    // Copy the run of plain bytes at once.
                    let run_end = d[i..]
                        .iter()
                        .position(|&x| x == delim || x == b'\\' || x == b'\n' || x == b'\r')
                        .map_or(d.len(), |p| i + p);
                    row.buf.extend_from_slice(&d[i..run_end]);
                    i = run_end;
                }
            }
        }
    }

    fn read_csv(&mut self, row: &mut CopyRow) -> DbResult<usize> {
        let d = self.data;
        let delim = self.opts.delimiter;
        let quote = self.opts.quote;
        let escape = self.opts.escape;
        let null = self.opts.null.as_bytes();
        let mut i = self.pos;
        loop {
            // One field.
            let field_start = i;
            let buf_start = row.buf.len();
            let mut quoted = false;
            loop {
                match d.get(i).copied() {
                    None | Some(b'\n') | Some(b'\r') => break,
                    Some(c) if c == delim => break,
                    Some(c) if c == quote => {
                        quoted = true;
                        i += 1;
                        loop {
                            match d.get(i).copied() {
                                None => {
                                    return Err(bad_copy("unterminated CSV quoted field"));
                                }
                                Some(c) if c == escape && d.get(i + 1) == Some(&quote) => {
                                    row.buf.push(quote);
                                    i += 2;
                                }
                                Some(c) if c == quote => {
                                    i += 1;
                                    break;
                                }
                                Some(b'\n') => {
                                    self.line += 1;
                                    row.buf.push(b'\n');
                                    i += 1;
                                }
                                Some(c) => {
                                    row.buf.push(c);
                                    i += 1;
                                }
                            }
                        }
                    }
                    Some(c) => {
                        row.buf.push(c);
                        i += 1;
                    }
                }
            }
            let raw = &d[field_start..i];
            if !quoted && raw == null {
                row.buf.truncate(buf_start);
                row.fields.push(None);
            } else {
                row.fields
                    .push(Some((buf_start as u32, row.buf.len() as u32)));
            }
            match d.get(i).copied() {
                Some(c) if c == delim => i += 1,
                _ => return Ok(self.end_line(i)),
            }
        }
    }
}

fn push_text_field(
    row: &mut CopyRow,
    raw: &[u8],
    null: &[u8],
    buf_start: usize,
    escaped_high: bool,
) -> DbResult<()> {
    if raw == null {
        row.buf.truncate(buf_start);
        row.fields.push(None);
        return Ok(());
    }
    if escaped_high && std::str::from_utf8(&row.buf[buf_start..]).is_err() {
        return Err(AionError::new(
            SqlState::new(b"22021"),
            "invalid byte sequence for encoding \"UTF8\"",
        ));
    }
    row.fields
        .push(Some((buf_start as u32, row.buf.len() as u32)));
    Ok(())
}

/// Appends one text-format field (`value` is the column's text output;
/// `None` writes the NULL string).
pub fn write_text_field(out: &mut Vec<u8>, value: Option<&str>, opts: &CopyOptions) {
    let Some(s) = value else {
        out.extend_from_slice(opts.null.as_bytes());
        return;
    };
    let delim = opts.delimiter;
    let bytes = s.as_bytes();
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc = match b {
            b'\\' => b'\\',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            8 => b'b',
            12 => b'f',
            11 => b'v',
            c if c == delim => c,
            _ => continue,
        };
        out.extend_from_slice(&bytes[run..i]);
        out.push(b'\\');
        out.push(esc);
        run = i + 1;
    }
    out.extend_from_slice(&bytes[run..]);
}

/// Appends one CSV field, quoted when it must be (it holds the delimiter,
/// the quote, a line end, or reads as the NULL string or the end marker)
/// or when `force` is set.
pub fn write_csv_field(out: &mut Vec<u8>, value: Option<&str>, opts: &CopyOptions, force: bool) {
    let Some(s) = value else {
        out.extend_from_slice(opts.null.as_bytes());
        return;
    };
    let (delim, quote, escape) = (opts.delimiter, opts.quote, opts.escape);
    let bytes = s.as_bytes();
    let needs = force
        || s == opts.null.as_str()
        || s.starts_with("\\.")
        || bytes
            .iter()
            .any(|&b| b == delim || b == quote || b == b'\n' || b == b'\r');
    if !needs {
        out.extend_from_slice(bytes);
        return;
    }
    out.push(quote);
    for &b in bytes {
        if b == quote || (b == escape && escape != quote) {
            out.push(escape);
        }
        out.push(b);
    }
    out.push(quote);
}

/// Appends one field in `opts`' format.
pub fn write_field(out: &mut Vec<u8>, value: Option<&str>, opts: &CopyOptions, column: usize) {
    match opts.format {
        CopyFormat::Csv => {
            let force = opts.force_quote_all || opts.force_quote.contains(&(column as u32));
            write_csv_field(out, value, opts, force && value.is_some())
        }
        _ => write_text_field(out, value, opts),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(data: &str, opts: &CopyOptions) -> DbResult<Vec<Vec<Option<String>>>> {
        let mut r = CopyReader::new(data.as_bytes(), opts)?;
        let mut row = CopyRow::default();
        let mut out = Vec::new();
        while r.next_row(&mut row)? {
            let mut v = Vec::new();
            for i in 0..row.len() {
                v.push(row.field(i)?.map(str::to_string));
            }
            out.push(v);
        }
        Ok(out)
    }

    fn s(x: &str) -> Option<String> {
        Some(x.to_string())
    }

    #[test]
    fn text_format_escapes_and_nulls() {
        let o = CopyOptions::new(CopyFormat::Text);
        let got = rows(
            "1\ta\\tb\\\\c\\N\t\\N\n2\t\\x41\\101\\n\t\r\n\\.\nignored\n",
            &o,
        )
        .unwrap();
        assert_eq!(
            got,
            vec![
                vec![s("1"), s("a\tb\\cN"), None],
                vec![s("2"), s("AA\n"), s("")],
            ]
        );
        // An escaped delimiter is data.
        assert_eq!(rows("a\\\tb\n", &o).unwrap(), vec![vec![s("a\tb")]]);
        // No final newline.
        assert_eq!(rows("x\ty", &o).unwrap(), vec![vec![s("x"), s("y")]]);
    }

    #[test]
    fn csv_quotes_nulls_and_header() {
        let mut o = CopyOptions::new(CopyFormat::Csv);
        o.header = true;
        let got = rows(
            "a,b,c\n1,\"he said \"\"hi\"\"\",\n2,\"\",\"multi\nline\"\n",
            &o,
        )
        .unwrap();
        assert_eq!(
            got,
            vec![
                vec![s("1"), s("he said \"hi\""), None],
                vec![s("2"), s(""), s("multi\nline")],
            ]
        );
        assert!(rows("1,\"open\n", &o).is_err() || rows("h\n1,\"open\n", &o).is_err());
    }

    #[test]
    fn writers_round_trip() {
        let t = CopyOptions::new(CopyFormat::Text);
        let mut out = Vec::new();
        write_text_field(&mut out, Some("a\tb\\c\nd"), &t);
        out.push(b'\t');
        write_text_field(&mut out, None, &t);
        assert_eq!(out, b"a\\tb\\\\c\\nd\t\\N");
        let c = CopyOptions::new(CopyFormat::Csv);
        let mut out = Vec::new();
        write_csv_field(&mut out, Some("he said \"hi\""), &c, false);
        out.push(b',');
        write_csv_field(&mut out, Some(""), &c, false);
        out.push(b',');
        write_csv_field(&mut out, None, &c, false);
        out.push(b',');
        write_csv_field(&mut out, Some("plain"), &c, false);
        assert_eq!(out, b"\"he said \"\"hi\"\"\",\"\",,plain");
    }
}
