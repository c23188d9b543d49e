//! `CopyFrom`: rows parsed from the COPY data the session hands over as
//! parameter `$1`, each field read by its column's text input function.

use aiondb_sdk::copy::{CopyCursor, CopyReader, CopyRow};
use aiondb_sdk::plan::CopyOptions;
use aiondb_sdk::prelude::*;
use aiondb_sdk::value::parse_text_with;

use crate::ops::Op;
use crate::shared::EvalCx;

pub(crate) struct CopyFromOp {
    data: Vec<u8>,
    opts: CopyOptions,
    table: String,
    columns: Vec<String>,
    types: Vec<DataType>,
    cursor: Option<CopyCursor>,
    row: CopyRow,
    buf: Vec<Value>,
}

impl CopyFromOp {
    pub(crate) fn new(
        table: &str,
        columns: &[RString],
        types: &[DataType],
        opts: &CopyOptions,
    ) -> Self {
        CopyFromOp {
            data: Vec::new(),
            opts: opts.clone(),
            table: table.to_string(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            types: types.to_vec(),
            cursor: None,
            row: CopyRow::default(),
            buf: Vec::with_capacity(types.len()),
        }
    }

    fn line_context(&self, reader: &CopyReader<'_>) -> String {
        let raw = reader.raw_line(&self.row);
        format!(
            "COPY {}, line {}: \"{}\"",
            self.table,
            self.row.line,
            clip(raw)
        )
    }
}

/// PostgreSQL shortens long lines in CONTEXT; so do we.
fn clip(s: &str) -> &str {
    const MAX: usize = 100;
    if s.len() <= MAX {
        return s;
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl Op for CopyFromOp {
    fn open(&mut self, cx: &mut EvalCx) -> DbResult<()> {
        if self.cursor.is_none() {
            // The data is taken, not copied: this operator runs once.
            self.data = match cx.params.get_mut(0) {
                Some(Value::Bytea(b)) => std::mem::take(b).into_vec(),
                Some(Value::Text(t)) => std::mem::take(t).into_string().into_bytes(),
                _ => {
                    return Err(AionError::new(
                        SqlState::new(b"08P01"),
                        "COPY FROM STDIN ran without its data",
                    ))
                }
            };
            let reader = CopyReader::new(&self.data, &self.opts).map_err(|e| {
                let ctx = e.context().map(|c| format!("COPY {}, {}", self.table, c));
                match ctx {
                    Some(c) => e.with_context(c),
                    None => e,
                }
            })?;
            self.cursor = Some(reader.cursor());
        }
        Ok(())
    }

    fn advance(&mut self, cx: &mut EvalCx) -> DbResult<bool> {
        let Some(cursor) = self.cursor else {
            return Ok(false);
        };
        cx.tick()?;
        let data = std::mem::take(&mut self.data);
        let result = self.read(cx, &data, cursor);
        self.data = data;
        result
    }

    fn current(&self) -> &[Value] {
        &self.buf
    }

    fn take_current(&mut self, out: &mut RowBatch) {
        out.push_row(self.buf.drain(..));
    }
}

impl CopyFromOp {
    fn read(&mut self, cx: &EvalCx, data: &[u8], cursor: CopyCursor) -> DbResult<bool> {
        let mut reader = CopyReader::resume(data, &self.opts, cursor);
        let more = reader
            .next_row(&mut self.row)
            .map_err(|e| e.with_context(self.line_context(&reader)))?;
        self.cursor = Some(reader.cursor());
        if !more {
            self.cursor = None;
            return Ok(false);
        }
        let n = self.types.len();
        let got = self.row.len();
        if got < n {
            return Err(AionError::new(
                SqlState::new(b"22P04"),
                format!("missing data for column \"{}\"", self.columns[got]),
            )
            .with_context(self.line_context(&reader)));
        }
        if got > n {
            return Err(AionError::new(
                SqlState::new(b"22P04"),
                "extra data after last expected column",
            )
            .with_context(self.line_context(&reader)));
        }
        self.buf.clear();
        for i in 0..n {
            let field = self
                .row
                .field(i)
                .map_err(|e| e.with_context(self.line_context(&reader)))?;
            let v = match field {
                None => Value::Null,
                Some(s) => parse_text_with(self.types[i], s, &cx.format).map_err(|e| {
                    e.with_context(format!(
                        "COPY {}, line {}, column {}: \"{}\"",
                        self.table,
                        self.row.line,
                        self.columns[i],
                        clip(s)
                    ))
                })?,
            };
            self.buf.push(v);
        }
        Ok(true)
    }
}
