//! Server side of the PostgreSQL v3 frontend/backend protocol: parsing of
//! what clients send and writers for what the server answers.
//!
//! Pure functions over byte slices: framing (reading the tag and length
//! from the socket) belongs to the caller, which hands over each message
//! body. Parsers never panic on malformed input; writers append to a
//! caller-owned buffer so a whole batch of messages goes out in one write.

use std::fmt;

use aiondb_sdk::error::AionError;

/// SQLSTATE of a malformed message (`protocol_violation`).
pub const PROTOCOL_VIOLATION: &str = "08P01";
/// SQLSTATE of text that is not valid UTF-8 (`character_not_in_repertoire`).
pub const CHARACTER_NOT_IN_REPERTOIRE: &str = "22021";

/// A message the server cannot accept. `code` is the SQLSTATE to report:
/// 08P01 for framing errors, 22021 for strings that are not UTF-8.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtoError {
    pub code: &'static str,
    pub message: String,
}

impl ProtoError {
    /// A protocol violation (08P01).
    pub fn new(message: impl Into<String>) -> Self {
        ProtoError {
            code: PROTOCOL_VIOLATION,
            message: message.into(),
        }
    }
}

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ProtoError {}

/// Protocol codes carried in place of a version by special startup packets.
pub const SSL_REQUEST_CODE: i32 = 80_877_103;
pub const GSSENC_REQUEST_CODE: i32 = 80_877_104;
pub const CANCEL_REQUEST_CODE: i32 = 80_877_102;
/// Protocol 3.0.
pub const PROTOCOL_3_0: i32 = 196_608;

/// Bounds-checked cursor over a message body.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], ProtoError> {
        if n > self.remaining() {
            return Err(ProtoError::new("insufficient data left in message"));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ProtoError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.bytes(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, ProtoError> {
        Ok(self.array::<1>()?[0])
    }

    fn i16(&mut self) -> Result<i16, ProtoError> {
        self.array().map(i16::from_be_bytes)
    }

    fn i32(&mut self) -> Result<i32, ProtoError> {
        self.array().map(i32::from_be_bytes)
    }

    fn u32(&mut self) -> Result<u32, ProtoError> {
        self.array().map(u32::from_be_bytes)
    }

    /// A count prefix: negative is a violation, and each counted item needs
    /// at least `item_min` bytes, so a huge count cannot make us allocate.
    fn count(&mut self, item_min: usize) -> Result<usize, ProtoError> {
        let n = self.i16()?;
        let n = usize::try_from(n).map_err(|_| ProtoError::new("invalid negative count"))?;
        if n.saturating_mul(item_min) > self.remaining() {
            return Err(ProtoError::new("insufficient data left in message"));
        }
        Ok(n)
    }

    fn cstr(&mut self) -> Result<&'a str, ProtoError> {
        let rest = &self.buf[self.pos..];
        let end = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| ProtoError::new("invalid string in message"))?;
        self.pos += end + 1;
        std::str::from_utf8(&rest[..end]).map_err(|_| ProtoError {
            code: CHARACTER_NOT_IN_REPERTOIRE,
            message: "invalid byte sequence for encoding \"UTF8\"".to_string(),
        })
    }

    fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }

    /// PostgreSQL rejects trailing bytes after a message's last field.
    fn end(&self) -> Result<(), ProtoError> {
        if self.remaining() != 0 {
            return Err(ProtoError::new("invalid message format"));
        }
        Ok(())
    }
}

/// A startup packet, the first thing a client sends (and again after an
/// SSL or GSS refusal).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Startup {
    Ssl,
    Gss,
    Cancel {
        pid: i32,
        key: i32,
    },
    /// Parameters are only read for protocol major version 3; for any other
    /// major version they are empty and the caller rejects the version.
    Start {
        major: u16,
        minor: u16,
        params: Vec<(String, String)>,
    },
}

/// Parses a startup packet `body` (everything after its 4-byte length).
pub fn parse_startup(body: &[u8]) -> Result<Startup, ProtoError> {
    let mut r = Reader::new(body);
    let code = r
        .i32()
        .map_err(|_| ProtoError::new("invalid length of startup packet"))?;
    match code {
        SSL_REQUEST_CODE | GSSENC_REQUEST_CODE => {
            r.end()
                .map_err(|_| ProtoError::new("invalid length of startup packet"))?;
            Ok(if code == SSL_REQUEST_CODE {
                Startup::Ssl
            } else {
                Startup::Gss
            })
        }
        CANCEL_REQUEST_CODE => {
            let bad = |_| ProtoError::new("invalid length of cancel request packet");
            let pid = r.i32().map_err(bad)?;
            let key = r.i32().map_err(bad)?;
            r.end().map_err(bad)?;
            Ok(Startup::Cancel { pid, key })
        }
        _ => {
            let major = (code as u32 >> 16) as u16;
            let minor = (code as u32 & 0xffff) as u16;
            let mut params = Vec::new();
            if major == 3 {
                loop {
                    let key = r.cstr().map_err(layout_error)?;
                    if key.is_empty() {
                        break;
                    }
                    let value = r.cstr().map_err(layout_error)?;
                    params.push((key.to_string(), value.to_string()));
                }
                r.end().map_err(|_| {
                    ProtoError::new(
                        "invalid startup packet layout: expected terminator as last byte",
                    )
                })?;
            }
            Ok(Startup::Start {
                major,
                minor,
                params,
            })
        }
    }
}

fn layout_error(e: ProtoError) -> ProtoError {
    if e.code == PROTOCOL_VIOLATION {
        ProtoError::new("invalid startup packet layout: expected terminator as last byte")
    } else {
        e
    }
}

/// A message from a client after startup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frontend<'a> {
    Query(&'a str),
    Parse {
        name: String,
        sql: String,
        param_types: Vec<u32>,
    },
    /// Format codes are passed through unchecked: PostgreSQL reports a code
    /// other than 0 or 1 as 22023 when it applies them, not as a framing
    /// error.
    Bind(Bind<'a>),
    Describe {
        portal: bool,
        name: String,
    },
    Execute {
        portal: String,
        max_rows: i32,
    },
    Sync,
    Flush,
    Close {
        portal: bool,
        name: String,
    },
    Terminate,
    CopyData(Vec<u8>),
    CopyDone,
    CopyFail(String),
    /// PasswordMessage, SASLInitialResponse or SASLResponse: which one
    /// depends on the authentication state, so the body is kept raw.
    Password(Vec<u8>),
}

/// Parses a message `body` (without tag and length) of type `tag`.
pub fn parse_frontend(tag: u8, body: &[u8]) -> Result<Frontend<'_>, ProtoError> {
    let mut r = Reader::new(body);
    let msg = match tag {
        b'Q' => Frontend::Query(r.cstr()?),
        b'P' => {
            let name = r.cstr()?.to_string();
            let sql = r.cstr()?.to_string();
            let n = r.count(4)?;
            let param_types = (0..n).map(|_| r.u32()).collect::<Result<_, _>>()?;
            Frontend::Parse {
                name,
                sql,
                param_types,
            }
        }
        b'B' => parse_bind(&mut r)?,
        b'D' | b'C' => {
            let portal = match r.u8()? {
                b'P' => true,
                b'S' => false,
                other => {
                    let what = if tag == b'D' { "Describe" } else { "Close" };
                    return Err(ProtoError::new(format!(
                        "invalid {what} message subtype {other}"
                    )));
                }
            };
            let name = r.cstr()?.to_string();
            if tag == b'D' {
                Frontend::Describe { portal, name }
            } else {
                Frontend::Close { portal, name }
            }
        }
        b'E' => {
            let portal = r.cstr()?.to_string();
            let max_rows = r.i32()?;
            Frontend::Execute { portal, max_rows }
        }
        b'S' => Frontend::Sync,
        b'H' => Frontend::Flush,
        b'X' => Frontend::Terminate,
        b'c' => Frontend::CopyDone,
        b'd' => Frontend::CopyData(r.rest().to_vec()),
        b'f' => Frontend::CopyFail(r.cstr()?.to_string()),
        b'p' => Frontend::Password(r.rest().to_vec()),
        other => {
            return Err(ProtoError::new(format!(
                "invalid frontend message type {other}"
            )))
        }
    };
    r.end()?;
    Ok(msg)
}

/// A Bind message, borrowed from its body: binding copies nothing but the
/// parameter values it decodes. Checked when parsed, so the accessors
/// cannot fail.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct Bind<'a> {
    pub portal: &'a str,
    pub statement: &'a str,
    /// Big-endian `i16` codes.
    param_formats: &'a [u8],
    /// `nparams` times a big-endian `i32` length (-1 for NULL) and the
    /// bytes.
    params: &'a [u8],
    pub nparams: usize,
    result_formats: &'a [u8],
}

fn codes(b: &[u8]) -> impl ExactSizeIterator<Item = i16> + '_ {
    b.chunks_exact(2).map(|c| i16::from_be_bytes([c[0], c[1]]))
}

/// Format code `i` of a list that holds none (text for all), one (for
/// all) or one per item.
fn code_at(b: &[u8], i: usize) -> i16 {
    let i = if b.len() == 2 { 0 } else { i };
    match b.get(2 * i..2 * i + 2) {
        Some(c) => i16::from_be_bytes([c[0], c[1]]),
        None => 0,
    }
}

impl<'a> Bind<'a> {
    pub fn param_formats(&self) -> impl ExactSizeIterator<Item = i16> + 'a {
        codes(self.param_formats)
    }

    pub fn result_formats(&self) -> impl ExactSizeIterator<Item = i16> + 'a {
        codes(self.result_formats)
    }

    /// The format code of parameter `i`.
    pub fn param_format(&self, i: usize) -> i16 {
        code_at(self.param_formats, i)
    }

    /// The format code of result column `i`.
    pub fn result_format(&self, i: usize) -> i16 {
        code_at(self.result_formats, i)
    }

    /// The parameter values in order, `None` for NULL.
    pub fn params(&self) -> impl Iterator<Item = Option<&'a [u8]>> + 'a {
        let mut rest = self.params;
        (0..self.nparams).map_while(move |_| {
            let (len, tail) = rest.split_first_chunk::<4>()?;
            let len = i32::from_be_bytes(*len);
            if len < 0 {
                rest = tail;
                return Some(None);
            }
            let (value, tail) = tail.split_at_checked(len as usize)?;
            rest = tail;
            Some(Some(value))
        })
    }
}

fn parse_bind<'a>(r: &mut Reader<'a>) -> Result<Frontend<'a>, ProtoError> {
    let portal = r.cstr()?;
    let statement = r.cstr()?;
    let nformats = r.count(2)?;
    let param_formats = r.bytes(2 * nformats)?;
    let nparams = r.count(4)?;
    if nformats > 1 && nformats != nparams {
        return Err(ProtoError::new(format!(
            "bind message has {nformats} parameter formats but {nparams} parameters"
        )));
    }
    let start = r.pos;
    for _ in 0..nparams {
        match r.i32()? {
            -1 => {}
            n if n < 0 => return Err(ProtoError::new(format!("invalid parameter length {n}"))),
            n => {
                r.bytes(n as usize)?;
            }
        }
    }
    let params = &r.buf[start..r.pos];
    let nresults = r.count(2)?;
    let result_formats = r.bytes(2 * nresults)?;
    Ok(Frontend::Bind(Bind {
        portal,
        statement,
        param_formats,
        params,
        nparams,
        result_formats,
    }))
}

/// Splits a SASLInitialResponse body into the chosen mechanism and the
/// client-first-message (empty when the client sent length -1).
pub fn parse_sasl_initial(body: &[u8]) -> Result<(String, Vec<u8>), ProtoError> {
    let mut r = Reader::new(body);
    let mechanism = r.cstr()?.to_string();
    let data = match r.i32()? {
        -1 => Vec::new(),
        n if n < 0 => return Err(ProtoError::new("invalid SASL response length")),
        n => r.bytes(n as usize)?.to_vec(),
    };
    r.end()?;
    Ok((mechanism, data))
}

// ---------------------------------------------------------------------------
// Backend messages.

/// Appends a tag and a length placeholder; returns where the length goes.
fn begin(out: &mut Vec<u8>, tag: u8) -> usize {
    out.push(tag);
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    at
}

/// Patches the length (which counts itself but not the tag) at `at`.
fn finish(out: &mut [u8], at: usize) {
    let len = out.len() - at;
    patch_i32(out, at, len);
}

fn patch_i32(out: &mut [u8], at: usize, len: usize) {
    // Messages beyond 2 GiB cannot be framed at all; PostgreSQL caps them at
    // 1 GiB long before this, so saturating is only a backstop.
    let len = i32::try_from(len).unwrap_or(i32::MAX);
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

/// A C string: everything up to a NUL byte, which would end the field early
/// and desynchronise the client, so the rest is dropped as C would.
fn put_cstr(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    out.extend_from_slice(&b[..end]);
    out.push(0);
}

fn empty(out: &mut Vec<u8>, tag: u8) {
    out.push(tag);
    out.extend_from_slice(&4i32.to_be_bytes());
}

fn auth(out: &mut Vec<u8>, code: i32, data: &[u8]) {
    let at = begin(out, b'R');
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(data);
    finish(out, at);
}

/// AuthenticationOk.
pub fn auth_ok(out: &mut Vec<u8>) {
    auth(out, 0, &[]);
}

/// AuthenticationCleartextPassword.
pub fn auth_cleartext(out: &mut Vec<u8>) {
    auth(out, 3, &[]);
}

/// AuthenticationSASL listing the offered mechanisms.
pub fn auth_sasl(out: &mut Vec<u8>, mechanisms: &[&str]) {
    let at = begin(out, b'R');
    out.extend_from_slice(&10i32.to_be_bytes());
    for m in mechanisms {
        put_cstr(out, m);
    }
    out.push(0);
    finish(out, at);
}

/// AuthenticationSASLContinue (server-first-message).
pub fn auth_sasl_continue(out: &mut Vec<u8>, data: &[u8]) {
    auth(out, 11, data);
}

/// AuthenticationSASLFinal (server-final-message).
pub fn auth_sasl_final(out: &mut Vec<u8>, data: &[u8]) {
    auth(out, 12, data);
}

pub fn parameter_status(out: &mut Vec<u8>, name: &str, value: &str) {
    let at = begin(out, b'S');
    put_cstr(out, name);
    put_cstr(out, value);
    finish(out, at);
}

pub fn backend_key_data(out: &mut Vec<u8>, pid: i32, key: i32) {
    let at = begin(out, b'K');
    out.extend_from_slice(&pid.to_be_bytes());
    out.extend_from_slice(&key.to_be_bytes());
    finish(out, at);
}

/// NegotiateProtocolVersion: the newest minor version we support and the
/// `_pq_.` options we did not recognise.
pub fn negotiate_protocol_version(out: &mut Vec<u8>, newest_minor: i32, unsupported: &[&str]) {
    let at = begin(out, b'v');
    out.extend_from_slice(&newest_minor.to_be_bytes());
    out.extend_from_slice(&(unsupported.len() as i32).to_be_bytes());
    for o in unsupported {
        put_cstr(out, o);
    }
    finish(out, at);
}

/// ReadyForQuery; `status` is `b'I'` (idle), `b'T'` (in a transaction) or
/// `b'E'` (in a failed transaction).
pub fn ready_for_query(out: &mut Vec<u8>, status: u8) {
    let at = begin(out, b'Z');
    out.push(status);
    finish(out, at);
}

/// One column of a RowDescription (the name borrowed from the schema: a
/// description is written for every simple query that returns rows).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldDescription<'a> {
    pub name: &'a str,
    /// OID of the source table, 0 when the column is not a plain column.
    pub table_oid: u32,
    /// Attribute number in the source table, 0 when none.
    pub column: i16,
    pub type_oid: u32,
    /// `pg_type.typlen`: see [`type_len`].
    pub type_len: i16,
    pub type_modifier: i32,
    /// 0 text, 1 binary.
    pub format: i16,
}

pub fn row_description<'a>(
    out: &mut Vec<u8>,
    fields: impl ExactSizeIterator<Item = FieldDescription<'a>>,
) {
    let at = begin(out, b'T');
    out.extend_from_slice(&(fields.len() as i16).to_be_bytes());
    for f in fields {
        put_cstr(out, f.name);
        out.extend_from_slice(&f.table_oid.to_be_bytes());
        out.extend_from_slice(&f.column.to_be_bytes());
        out.extend_from_slice(&f.type_oid.to_be_bytes());
        out.extend_from_slice(&f.type_len.to_be_bytes());
        out.extend_from_slice(&f.type_modifier.to_be_bytes());
        out.extend_from_slice(&f.format.to_be_bytes());
    }
    finish(out, at);
}

/// CommandComplete with a tag such as `SELECT 3` or `INSERT 0 1`.
pub fn command_complete(out: &mut Vec<u8>, tag: &str) {
    let at = begin(out, b'C');
    put_cstr(out, tag);
    finish(out, at);
}

pub fn empty_query_response(out: &mut Vec<u8>) {
    empty(out, b'I');
}

pub fn parse_complete(out: &mut Vec<u8>) {
    empty(out, b'1');
}

pub fn bind_complete(out: &mut Vec<u8>) {
    empty(out, b'2');
}

pub fn close_complete(out: &mut Vec<u8>) {
    empty(out, b'3');
}

pub fn no_data(out: &mut Vec<u8>) {
    empty(out, b'n');
}

pub fn portal_suspended(out: &mut Vec<u8>) {
    empty(out, b's');
}

pub fn parameter_description(out: &mut Vec<u8>, oids: &[u32]) {
    let at = begin(out, b't');
    out.extend_from_slice(&(oids.len() as i16).to_be_bytes());
    for o in oids {
        out.extend_from_slice(&o.to_be_bytes());
    }
    finish(out, at);
}

fn copy_response(out: &mut Vec<u8>, tag: u8, binary: bool, columns: usize) {
    let at = begin(out, tag);
    let format = i16::from(binary);
    out.push(format as u8);
    out.extend_from_slice(&(columns as i16).to_be_bytes());
    for _ in 0..columns {
        out.extend_from_slice(&format.to_be_bytes());
    }
    finish(out, at);
}

/// CopyInResponse: every column in the overall format.
pub fn copy_in_response(out: &mut Vec<u8>, binary: bool, columns: usize) {
    copy_response(out, b'G', binary, columns);
}

/// CopyOutResponse: every column in the overall format.
pub fn copy_out_response(out: &mut Vec<u8>, binary: bool, columns: usize) {
    copy_response(out, b'H', binary, columns);
}

pub fn copy_data(out: &mut Vec<u8>, bytes: &[u8]) {
    let at = begin(out, b'd');
    out.extend_from_slice(bytes);
    finish(out, at);
}

pub fn copy_done(out: &mut Vec<u8>) {
    empty(out, b'c');
}

/// The fields of an ErrorResponse or NoticeResponse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorFields<'a> {
    /// ERROR, FATAL, PANIC, WARNING, NOTICE, INFO, ...
    pub severity: &'a str,
    /// The SQLSTATE.
    pub code: &'a str,
    pub message: &'a str,
    pub detail: Option<&'a str>,
    pub hint: Option<&'a str>,
    /// 1-based character position in the query text.
    pub position: Option<u32>,
    /// Where it happened (CONTEXT, field 'W').
    pub context: Option<&'a str>,
}

impl<'a> ErrorFields<'a> {
    /// The fields of an engine error, as the client should see them.
    pub fn from_error(e: &'a AionError) -> Self {
        ErrorFields {
            severity: e.severity.as_str(),
            code: e.sqlstate.as_str(),
            message: e.message.as_str(),
            detail: e.detail(),
            hint: e.hint(),
            position: e.position(),
            context: e.context(),
        }
    }

    /// The same fields for a [`ProtoError`], with the given severity.
    pub fn from_proto(e: &'a ProtoError, severity: &'a str) -> Self {
        ErrorFields {
            severity,
            code: e.code,
            message: &e.message,
            detail: None,
            hint: None,
            position: None,
            context: None,
        }
    }
}

fn error_like(out: &mut Vec<u8>, tag: u8, f: &ErrorFields<'_>) {
    let at = begin(out, tag);
    // 'S' may be localised, 'V' never is; we do not localise, so both carry
    // the same text, as PostgreSQL 9.6+ sends both.
    for (field, value) in [
        (b'S', Some(f.severity)),
        (b'V', Some(f.severity)),
        (b'C', Some(f.code)),
        (b'M', Some(f.message)),
        (b'D', f.detail),
        (b'H', f.hint),
        (b'W', f.context),
    ] {
        if let Some(v) = value {
            out.push(field);
            put_cstr(out, v);
        }
    }
    if let Some(p) = f.position {
        out.push(b'P');
        put_cstr(out, &p.to_string());
    }
    out.push(0);
    finish(out, at);
}

pub fn error_response(out: &mut Vec<u8>, fields: &ErrorFields<'_>) {
    error_like(out, b'E', fields);
}

pub fn notice_response(out: &mut Vec<u8>, fields: &ErrorFields<'_>) {
    error_like(out, b'N', fields);
}

/// Writes one DataRow straight into the output buffer, without building
/// the row anywhere else first.
///
/// The column count and the message length are patched by
/// [`finish`](DataRowWriter::finish), so they always match what was
/// written. Dropping the writer without calling `finish` (an early `?`
/// return after a failed encoding, say) removes the partial row, so a
/// half-written message can never reach the client.
#[must_use = "a DataRow is only kept once finish() is called"]
pub struct DataRowWriter<'a> {
    out: &'a mut Vec<u8>,
    /// Offset of the 'D' tag.
    start: usize,
    columns: u16,
    done: bool,
}

impl<'a> DataRowWriter<'a> {
    pub fn begin(out: &'a mut Vec<u8>) -> Self {
        let start = out.len();
        out.push(b'D');
        out.extend_from_slice(&[0; 6]);
        DataRowWriter {
            out,
            start,
            columns: 0,
            done: false,
        }
    }

    /// A NULL column.
    pub fn null(&mut self) {
        self.out.extend_from_slice(&(-1i32).to_be_bytes());
        self.columns = self.columns.wrapping_add(1);
    }

    /// A column whose bytes are already at hand.
    pub fn bytes(&mut self, v: &[u8]) {
        self.out.extend_from_slice(&(v.len() as i32).to_be_bytes());
        self.out.extend_from_slice(v);
        self.columns = self.columns.wrapping_add(1);
    }

    /// A column whose bytes `write` appends to the buffer it is given; its
    /// length is patched afterwards. If `write` fails, the column is
    /// removed again and the error returned.
    pub fn value<E>(&mut self, write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>) -> Result<(), E> {
        let at = self.out.len();
        self.out.extend_from_slice(&[0; 4]);
        if let Err(e) = write(self.out) {
            self.out.truncate(at);
            return Err(e);
        }
        let len = self.out.len() - at - 4;
        patch_i32(self.out, at, len);
        self.columns = self.columns.wrapping_add(1);
        Ok(())
    }

    /// Number of columns written so far.
    pub fn columns(&self) -> usize {
        self.columns as usize
    }

    /// Completes the message: patches the column count and the length.
    pub fn finish(mut self) {
        let start = self.start;
        self.out[start + 5..start + 7].copy_from_slice(&self.columns.to_be_bytes());
        finish(self.out, start + 1);
        self.done = true;
    }

    /// Drops the row written so far.
    pub fn abort(self) {}
}

impl Drop for DataRowWriter<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.out.truncate(self.start);
        }
    }
}

/// `pg_type.typlen` of a built-in type: the fixed size, or -1 for
/// variable-length types (and anything unknown).
pub fn type_len(oid: u32) -> i16 {
    match oid {
        16 => 1,                            // bool
        21 => 2,                            // int2
        23 | 700 | 1082 => 4,               // int4, float4, date
        20 | 701 | 1083 | 1114 | 1184 => 8, // int8, float8, time, timestamp(tz)
        1186 | 2950 => 16,                  // interval, uuid
        _ => -1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn startup_body(code: i32, rest: &[u8]) -> Vec<u8> {
        let mut b = code.to_be_bytes().to_vec();
        b.extend_from_slice(rest);
        b
    }

    /// Splits a buffer of backend messages into (tag, body) pairs, checking
    /// every length on the way.
    fn split(mut buf: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut v = Vec::new();
        while !buf.is_empty() {
            let tag = buf[0];
            let len = i32::from_be_bytes(buf[1..5].try_into().unwrap()) as usize;
            assert!(len >= 4);
            v.push((tag, buf[5..1 + len].to_vec()));
            buf = &buf[1 + len..];
        }
        v
    }

    #[test]
    fn startup_special_codes() {
        assert_eq!(
            parse_startup(&startup_body(SSL_REQUEST_CODE, &[])),
            Ok(Startup::Ssl)
        );
        assert_eq!(
            parse_startup(&startup_body(GSSENC_REQUEST_CODE, &[])),
            Ok(Startup::Gss)
        );
        let mut rest = 42i32.to_be_bytes().to_vec();
        rest.extend_from_slice(&(-7i32).to_be_bytes());
        assert_eq!(
            parse_startup(&startup_body(CANCEL_REQUEST_CODE, &rest)),
            Ok(Startup::Cancel { pid: 42, key: -7 })
        );
        assert!(parse_startup(&startup_body(CANCEL_REQUEST_CODE, &rest[..6])).is_err());
        assert!(parse_startup(&startup_body(SSL_REQUEST_CODE, &[0])).is_err());
        assert!(parse_startup(&[0, 0]).is_err());
        assert!(parse_startup(&[]).is_err());
    }

    #[test]
    fn startup_params() {
        let body = startup_body(PROTOCOL_3_0, b"user\0alice\0database\0db\0\0");
        assert_eq!(
            parse_startup(&body),
            Ok(Startup::Start {
                major: 3,
                minor: 0,
                params: vec![
                    ("user".into(), "alice".into()),
                    ("database".into(), "db".into())
                ],
            })
        );
        // Missing final terminator, value without NUL, trailing garbage.
        for rest in [
            &b"user\0alice\0"[..],
            b"user\0alice",
            b"user",
            b"user\0alice\0\0x",
            b"",
        ] {
            let e = parse_startup(&startup_body(PROTOCOL_3_0, rest)).unwrap_err();
            assert_eq!(e.code, PROTOCOL_VIOLATION, "{rest:?}");
        }
        let e = parse_startup(&startup_body(PROTOCOL_3_0, b"user\0\xff\0\0")).unwrap_err();
        assert_eq!(e.code, CHARACTER_NOT_IN_REPERTOIRE);
        // Other versions are kept for the caller to reject or negotiate.
        assert_eq!(
            parse_startup(&startup_body(2 << 16, b"whatever")),
            Ok(Startup::Start {
                major: 2,
                minor: 0,
                params: vec![]
            })
        );
        assert!(matches!(
            parse_startup(&startup_body((3 << 16) | 2, b"\0")),
            Ok(Startup::Start {
                major: 3,
                minor: 2,
                ..
            })
        ));
    }

    #[test]
    fn simple_messages() {
        assert_eq!(
            parse_frontend(b'Q', b"select 1\0"),
            Ok(Frontend::Query("select 1"))
        );
        assert!(parse_frontend(b'Q', b"select 1").is_err());
        assert!(parse_frontend(b'Q', b"select 1\0x").is_err());
        assert_eq!(parse_frontend(b'S', b""), Ok(Frontend::Sync));
        assert_eq!(parse_frontend(b'H', b""), Ok(Frontend::Flush));
        assert_eq!(parse_frontend(b'X', b""), Ok(Frontend::Terminate));
        assert_eq!(parse_frontend(b'c', b""), Ok(Frontend::CopyDone));
        assert!(parse_frontend(b'S', b"x").is_err());
        assert_eq!(
            parse_frontend(b'd', b"1\t2\n"),
            Ok(Frontend::CopyData(b"1\t2\n".to_vec()))
        );
        assert_eq!(
            parse_frontend(b'f', b"boom\0"),
            Ok(Frontend::CopyFail("boom".into()))
        );
        assert_eq!(
            parse_frontend(b'p', b"secret\0"),
            Ok(Frontend::Password(b"secret\0".to_vec()))
        );
        assert!(parse_frontend(b'F', b"").is_err());
        assert!(parse_frontend(0, b"").is_err());
    }

    #[test]
    fn parse_message() {
        let mut b = b"s1\0select $1, $2\0".to_vec();
        b.extend_from_slice(&2i16.to_be_bytes());
        b.extend_from_slice(&23u32.to_be_bytes());
        b.extend_from_slice(&0u32.to_be_bytes());
        assert_eq!(
            parse_frontend(b'P', &b),
            Ok(Frontend::Parse {
                name: "s1".into(),
                sql: "select $1, $2".into(),
                param_types: vec![23, 0],
            })
        );
        assert!(parse_frontend(b'P', &b[..b.len() - 1]).is_err());
        let mut extra = b.clone();
        extra.push(0);
        assert!(parse_frontend(b'P', &extra).is_err());
        // Count beyond the body and negative count.
        let mut bad = b"\0q\0".to_vec();
        bad.extend_from_slice(&i16::MAX.to_be_bytes());
        assert!(parse_frontend(b'P', &bad).is_err());
        let mut bad = b"\0q\0".to_vec();
        bad.extend_from_slice(&(-1i16).to_be_bytes());
        assert!(parse_frontend(b'P', &bad).is_err());
    }

    /// A Bind body (no tag, no length) from postgres-protocol's client
    /// encoder: portal "p", statement "s".
    fn bind_body(formats: &[i16], params: &[Option<&[u8]>], results: &[i16]) -> Vec<u8> {
        let mut b = bytes::BytesMut::new();
        let encoded = postgres_protocol::message::frontend::bind(
            "p",
            "s",
            formats.iter().copied(),
            params.iter(),
            |p, buf| match p {
                Some(v) => {
                    buf.extend_from_slice(v);
                    Ok(postgres_protocol::IsNull::No)
                }
                None => Ok(postgres_protocol::IsNull::Yes),
            },
            results.iter().copied(),
            &mut b,
        );
        assert!(encoded.is_ok(), "bind encodes");
        b[5..].to_vec()
    }

    #[test]
    fn bind_message() {
        let b = bind_body(&[1], &[Some(b"\0\0\0\x07"), None, Some(b"")], &[0, 1]);
        let Ok(Frontend::Bind(m)) = parse_frontend(b'B', &b) else {
            panic!("not a bind: {:?}", parse_frontend(b'B', &b));
        };
        assert_eq!((m.portal, m.statement, m.nparams), ("p", "s", 3));
        assert_eq!(m.param_formats().collect::<Vec<_>>(), vec![1]);
        let params: Vec<Option<&[u8]>> = m.params().collect();
        assert_eq!(params, vec![Some(&[0u8, 0, 0, 7][..]), None, Some(&[][..])]);
        assert_eq!(m.result_formats().collect::<Vec<_>>(), vec![0, 1]);
        for cut in 0..b.len() {
            assert!(parse_frontend(b'B', &b[..cut]).is_err(), "cut at {cut}");
        }
        let mut extra = b.clone();
        extra.push(1);
        assert!(parse_frontend(b'B', &extra).is_err());
        // Two formats for three parameters.
        let b = bind_body(&[1, 0], &[None, None, None], &[]);
        assert!(parse_frontend(b'B', &b).is_err());
        // Length -2.
        let mut b = b"\0\0".to_vec();
        b.extend_from_slice(&0i16.to_be_bytes());
        b.extend_from_slice(&1i16.to_be_bytes());
        b.extend_from_slice(&(-2i32).to_be_bytes());
        b.extend_from_slice(&0i16.to_be_bytes());
        assert!(parse_frontend(b'B', &b).is_err());
        // Length beyond the body.
        let mut b = b"\0\0".to_vec();
        b.extend_from_slice(&0i16.to_be_bytes());
        b.extend_from_slice(&1i16.to_be_bytes());
        b.extend_from_slice(&i32::MAX.to_be_bytes());
        b.extend_from_slice(&0i16.to_be_bytes());
        assert!(parse_frontend(b'B', &b).is_err());
    }

    #[test]
    fn describe_close_execute() {
        assert_eq!(
            parse_frontend(b'D', b"Sstmt\0"),
            Ok(Frontend::Describe {
                portal: false,
                name: "stmt".into()
            })
        );
        assert_eq!(
            parse_frontend(b'C', b"P\0"),
            Ok(Frontend::Close {
                portal: true,
                name: "".into()
            })
        );
        assert!(parse_frontend(b'D', b"Xs\0").is_err());
        assert!(parse_frontend(b'D', b"").is_err());
        assert!(parse_frontend(b'C', b"S").is_err());
        let mut b = b"\0".to_vec();
        b.extend_from_slice(&10i32.to_be_bytes());
        assert_eq!(
            parse_frontend(b'E', &b),
            Ok(Frontend::Execute {
                portal: "".into(),
                max_rows: 10
            })
        );
        assert!(parse_frontend(b'E', &b[..3]).is_err());
    }

    #[test]
    fn sasl_initial() {
        let mut b = b"SCRAM-SHA-256\0".to_vec();
        b.extend_from_slice(&5i32.to_be_bytes());
        b.extend_from_slice(b"n,,n=");
        assert_eq!(
            parse_sasl_initial(&b),
            Ok(("SCRAM-SHA-256".into(), b"n,,n=".to_vec()))
        );
        assert!(parse_sasl_initial(&b[..b.len() - 1]).is_err());
        let mut extra = b.clone();
        extra.push(0);
        assert!(parse_sasl_initial(&extra).is_err());
        let mut b = b"X\0".to_vec();
        b.extend_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(parse_sasl_initial(&b), Ok(("X".into(), vec![])));
        let mut b = b"X\0".to_vec();
        b.extend_from_slice(&(-3i32).to_be_bytes());
        assert!(parse_sasl_initial(&b).is_err());
        assert!(parse_sasl_initial(b"X").is_err());
    }

    #[test]
    fn backend_framing() {
        let mut out = Vec::new();
        auth_ok(&mut out);
        auth_sasl(&mut out, &["SCRAM-SHA-256"]);
        auth_sasl_continue(&mut out, b"r=abc");
        auth_sasl_final(&mut out, b"v=xyz");
        parameter_status(&mut out, "server_version", "17.0");
        backend_key_data(&mut out, 7, -1);
        ready_for_query(&mut out, b'I');
        command_complete(&mut out, "SELECT 1");
        empty_query_response(&mut out);
        parse_complete(&mut out);
        bind_complete(&mut out);
        close_complete(&mut out);
        no_data(&mut out);
        portal_suspended(&mut out);
        parameter_description(&mut out, &[23, 25]);
        copy_in_response(&mut out, false, 2);
        copy_out_response(&mut out, true, 1);
        copy_data(&mut out, b"row\n");
        copy_done(&mut out);
        negotiate_protocol_version(&mut out, 0, &["_pq_.x"]);
        let msgs = split(&out);
        let tags: Vec<u8> = msgs.iter().map(|m| m.0).collect();
        assert_eq!(tags, b"RRRRSKZCI123nstGHdcv".to_vec());
        assert_eq!(msgs[0].1, [0, 0, 0, 0]);
        assert_eq!(msgs[1].1, b"\0\0\0\x0aSCRAM-SHA-256\0\0".to_vec());
        assert_eq!(msgs[2].1, b"\0\0\0\x0br=abc".to_vec());
        assert_eq!(msgs[3].1, b"\0\0\0\x0cv=xyz".to_vec());
        assert_eq!(msgs[4].1, b"server_version\x0017.0\0".to_vec());
        assert_eq!(msgs[5].1, [0, 0, 0, 7, 255, 255, 255, 255]);
        assert_eq!(msgs[6].1, b"I");
        assert_eq!(msgs[7].1, b"SELECT 1\0");
        assert!(msgs[8..14].iter().all(|m| m.1.is_empty()));
        assert_eq!(msgs[14].1, [0, 2, 0, 0, 0, 23, 0, 0, 0, 25]);
        assert_eq!(msgs[15].1, [0, 0, 2, 0, 0, 0, 0]);
        assert_eq!(msgs[16].1, [1, 0, 1, 0, 1]);
        assert_eq!(msgs[17].1, b"row\n");
        assert_eq!(msgs[19].1, b"\0\0\0\0\0\0\0\x01_pq_.x\0".to_vec());
        // Exact bytes of a whole message, tag and length included.
        let mut out = Vec::new();
        ready_for_query(&mut out, b'T');
        assert_eq!(out, [b'Z', 0, 0, 0, 5, b'T']);
    }

    #[test]
    fn row_description_layout() {
        let mut out = Vec::new();
        row_description(
            &mut out,
            [FieldDescription {
                name: "id",
                table_oid: 16385,
                column: 1,
                type_oid: 23,
                type_len: type_len(23),
                type_modifier: -1,
                format: 1,
            }]
            .into_iter(),
        );
        let msgs = split(&out);
        assert_eq!(msgs[0].0, b'T');
        let mut want = vec![0, 1];
        want.extend_from_slice(b"id\0");
        want.extend_from_slice(&16385u32.to_be_bytes());
        want.extend_from_slice(&1i16.to_be_bytes());
        want.extend_from_slice(&23u32.to_be_bytes());
        want.extend_from_slice(&4i16.to_be_bytes());
        want.extend_from_slice(&(-1i32).to_be_bytes());
        want.extend_from_slice(&1i16.to_be_bytes());
        assert_eq!(msgs[0].1, want);
    }

    #[test]
    fn error_fields() {
        let mut out = Vec::new();
        error_response(
            &mut out,
            &ErrorFields {
                severity: "ERROR",
                code: "42601",
                message: "syntax error at or near \"x\"",
                detail: None,
                hint: Some("check it"),
                position: Some(8),
                context: None,
            },
        );
        let msgs = split(&out);
        assert_eq!(msgs[0].0, b'E');
        assert_eq!(
            msgs[0].1,
            b"SERROR\0VERROR\0C42601\0Msyntax error at or near \"x\"\0Hcheck it\0P8\0\0".to_vec()
        );
        let e = AionError::new(
            aiondb_sdk::error::SqlState::DIVISION_BY_ZERO,
            "division by zero",
        )
        .with_detail("d\0etail");
        let mut out = Vec::new();
        notice_response(&mut out, &ErrorFields::from_error(&e));
        let msgs = split(&out);
        assert_eq!(msgs[0].0, b'N');
        // The embedded NUL cannot end the field early.
        assert_eq!(
            msgs[0].1,
            b"SERROR\0VERROR\0C22012\0Mdivision by zero\0Dd\0\0".to_vec()
        );
    }

    #[test]
    fn data_row_writer() {
        let mut out = b"prefix".to_vec();
        let mut row = DataRowWriter::begin(&mut out);
        row.bytes(b"42");
        row.null();
        row.value(|o| {
            o.extend_from_slice(b"hello");
            Ok::<_, ()>(())
        })
        .unwrap();
        // A failed value leaves no trace.
        assert_eq!(
            row.value(|o| {
                o.extend_from_slice(b"junk");
                Err("nope")
            }),
            Err("nope")
        );
        assert_eq!(row.columns(), 3);
        row.finish();
        let msgs = split(&out[6..]);
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].0, b'D');
        assert_eq!(
            msgs[0].1,
            b"\0\x03\0\0\0\x0242\xff\xff\xff\xff\0\0\0\x05hello".to_vec()
        );

        // Dropped before finish: the partial row disappears.
        let mut out = b"keep".to_vec();
        {
            let mut row = DataRowWriter::begin(&mut out);
            row.bytes(b"x");
        }
        assert_eq!(out, b"keep");
        let row = DataRowWriter::begin(&mut out);
        row.abort();
        assert_eq!(out, b"keep");

        // Zero columns is a valid row.
        let mut out = Vec::new();
        DataRowWriter::begin(&mut out).finish();
        assert_eq!(out, [b'D', 0, 0, 0, 6, 0, 0]);
    }

    #[test]
    fn type_lengths() {
        for (oid, len) in [
            (16, 1),
            (21, 2),
            (23, 4),
            (20, 8),
            (700, 4),
            (701, 8),
            (1082, 4),
            (1083, 8),
            (1114, 8),
            (1184, 8),
            (1186, 16),
            (2950, 16),
            (25, -1),
            (1700, -1),
            (1007, -1),
            (99999, -1),
        ] {
            assert_eq!(type_len(oid), len, "oid {oid}");
        }
        for t in aiondb_sdk::types::TypeId::BUILTINS {
            assert_eq!(type_len(t.oid()), t.fixed_len().unwrap_or(-1));
        }
    }
}
