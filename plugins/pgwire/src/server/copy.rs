//! COPY over the wire: CopyOutResponse/CopyData/CopyDone for `TO STDOUT`,
//! and for `FROM STDIN` CopyInResponse, then the client's CopyData until
//! CopyDone (or CopyFail), handed to the session in one call so the rows
//! go in as one statement.

use std::sync::{Arc, Mutex};

use aiondb_sdk::copy::write_field;
use aiondb_sdk::error::{AionError, SqlState};
use aiondb_sdk::plan::CopyFormat;
use aiondb_sdk::prelude::{RStr, RVec};
use aiondb_sdk::surface::{CopyState, QueryOutcome, StatementOutcome, SurfaceSessionBox};

use super::{protocol_violation, Conn, Fatal, FLUSH_AT};
use crate::proto;
use crate::values;
use async_std::io::{Read, Write};

/// The most COPY data one statement takes (it is held in memory until
/// CopyDone, so that a bad row loads nothing).
const MAX_COPY: usize = 1 << 30;

impl<S: Read + Write + Unpin + Send + 'static> Conn<S> {
    /// Writes a COPY TO STDOUT result: its rows as CopyData, one line each.
    pub(super) async fn write_copy_out(
        &mut self,
        r: &StatementOutcome,
        c: &CopyState,
    ) -> Result<(), Fatal> {
        let opts = &c.options;
        proto::copy_out_response(
            &mut self.out,
            opts.format == CopyFormat::Binary,
            c.columns as usize,
        );
        let mut line: Vec<u8> = Vec::with_capacity(256);
        let mut scratch: Vec<u8> = Vec::with_capacity(64);
        let delimiter = opts.delimiter;
        if opts.header {
            for (i, f) in r.columns.fields.iter().enumerate() {
                if i > 0 {
                    line.push(delimiter);
                }
                write_field(&mut line, Some(f.name.as_str()), opts, usize::MAX);
            }
            line.push(b'\n');
            proto::copy_data(&mut self.out, &line);
        }
        for i in 0..r.rows.len() {
            let Some(row) = r.rows.row(i) else { break };
            line.clear();
            for (col, v) in row.iter().enumerate() {
                if col > 0 {
                    line.push(delimiter);
                }
                if v.is_null() {
                    write_field(&mut line, None, opts, col);
                    continue;
                }
                scratch.clear();
                values::encode_text(v, &self.fmt, &mut scratch);
                let text = String::from_utf8_lossy(&scratch);
                write_field(&mut line, Some(&text), opts, col);
            }
            line.push(b'\n');
            proto::copy_data(&mut self.out, &line);
            if self.out.len() >= FLUSH_AT {
                self.flush().await?;
            }
        }
        proto::copy_done(&mut self.out);
        proto::command_complete(&mut self.out, r.tag.as_str());
        Ok(())
    }

    /// Runs a COPY FROM STDIN the session is waiting on: asks the client
    /// for the data, collects it and hands it over. The outcome is the
    /// COPY's (and, in a simple query, that of the statements after it).
    pub(super) async fn copy_in(
        &mut self,
        session: &Arc<Mutex<SurfaceSessionBox>>,
        c: &CopyState,
    ) -> Result<QueryOutcome, Fatal> {
        proto::copy_in_response(
            &mut self.out,
            c.options.format == CopyFormat::Binary,
            c.columns as usize,
        );
        self.flush().await?;
        let mut data: Vec<u8> = Vec::new();
        // Why the copy fails, when it does; the client's data is still
        // read up to CopyDone/CopyFail so the connection stays in step.
        let mut failed: Option<AionError> = None;
        let mut client_fail: Option<String> = None;
        loop {
            let (tag, n) = self.read_head().await?;
            if tag == b'd' && failed.is_none() && data.len() + n <= MAX_COPY {
                // Straight into the data: no copy per message.
                self.read_into(n, &mut data).await?;
                continue;
            }
            let mut body = std::mem::take(&mut self.body);
            body.clear();
            let r = self.read_into(n, &mut body).await;
            self.body = body;
            r?;
            match tag {
                b'd' => {
                    if failed.is_none() {
                        failed = Some(AionError::new(
                            SqlState::PROGRAM_LIMIT_EXCEEDED,
                            format!("COPY data exceeds {} MB", MAX_COPY >> 20),
                        ));
                        data = Vec::new();
                    }
                }
                b'c' => break,
                b'f' => {
                    let msg = self.body.split(|&b| b == 0).next().unwrap_or(&[]);
                    client_fail = Some(String::from_utf8_lossy(msg).into_owned());
                    break;
                }
                // Ignored during copy-in, as PostgreSQL does.
                b'H' | b'S' => {}
                other => {
                    failed = Some(protocol_violation(format!(
                        "unexpected message type 0x{other:02X} during COPY from stdin"
                    )));
                    break;
                }
            }
        }
        let sess = Arc::clone(session);
        let outcome = match (client_fail, failed) {
            (Some(msg), _) => {
                self.on_pool(move || {
                    sess.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .copy_fail(RStr::from_str(&msg))
                })
                .await
            }
            (None, Some(e)) => {
                let msg = e.message.to_string();
                let r = self
                    .on_pool(move || {
                        sess.lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .copy_fail(RStr::from_str(&msg))
                    })
                    .await;
                // The real cause, not the generic "COPY failed".
                r.map(|mut o| {
                    o.error = aiondb_sdk::prelude::ROption::RSome(e);
                    o
                })
            }
            (None, None) => {
                self.on_pool(move || {
                    sess.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .copy_in(RVec::from(data))
                })
                .await
            }
        };
        Ok(outcome.unwrap_or_else(|e| QueryOutcome {
            results: RVec::new(),
            error: aiondb_sdk::prelude::ROption::RSome(e),
        }))
    }
}
