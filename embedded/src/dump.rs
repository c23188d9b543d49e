//! Logical dump and restore: a database as one canonical SQL document.
//!
//! [`dump`] writes every schema object, every row and every sequence
//! position of a [`Database`] as SQL; [`restore`] replays such a document
//! into an empty database in one transaction. The same database always
//! dumps to the same bytes, so a dump of a restored database is
//! byte-identical to the dump it was restored from.
//!
//! ```
//! use aiondb_embedded::{dump, Database};
//! let a = Database::in_memory()?;
//! a.connect_anonymous("app", "doc")?
//!     .execute("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'x')")?;
//! let mut doc = Vec::new();
//! dump::dump(&a, &mut doc)?;
//! let b = Database::in_memory()?;
//! dump::restore(&b, &doc)?;
//! let mut again = Vec::new();
//! dump::dump(&b, &mut again)?;
//! assert_eq!(doc, again);
//! # Ok::<(), aiondb_embedded::AionError>(())
//! ```
//!
//! # Format (version 1)
//!
//! A header of `-- key: value` lines, a blank line, then the body:
//!
//! ```text
//! -- AionDB logical dump
//! -- format-version: 1
//! -- engine-version: aiondb 0.1.0
//! -- body-sha256: <64 lower-case hex digits>
//!
//! <body>
//! ```
//!
//! `body-sha256` is the SHA-256 of exactly the bytes after the blank line.
//! A reader refuses a document whose first line differs, whose
//! `format-version` it does not know or whose body does not hash to
//! `body-sha256`; it ignores header fields it does not know.
//!
//! The body is UTF-8 SQL, one statement per `;`, in this order (each
//! section starts with a `-- Section:` comment line):
//!
//! 1. **Roles** other than the built-in ones (ids below 16384, among them
//!    the bootstrap superuser, id 10), by name: `CREATE ROLE` with every
//!    attribute spelled out, the SCRAM verifier as `PASSWORD '...'`.
//! 2. **Schemas** other than `pg_catalog`, `public` and
//!    `information_schema`, by name (`AUTHORIZATION` when the owner is a
//!    dumped role); `DROP SCHEMA public` when the database has none.
//! 3. **Sequences** not owned by a column, by schema and name, with every
//!    option (`INCREMENT BY`, `MINVALUE`, `MAXVALUE`, `START WITH`,
//!    `[NO] CYCLE`).
//! 4. **Tables**, by schema and name: columns with their types (typmods
//!    included), `NOT NULL`, `DEFAULT`, `GENERATED ALWAYS AS (...) STORED`,
//!    then the named PRIMARY KEY, UNIQUE and CHECK constraints; each
//!    followed by the sequences its columns own (SERIAL, or `CREATE
//!    SEQUENCE ... OWNED BY`) other than identity sequences.
//! 5. **Data**: per table, multi-row `INSERT`s of at most 1000 rows, in
//!    primary-key order (all columns when there is none). Values are
//!    literals that read back exactly: integers and booleans as such, every
//!    other value as its text output quoted and cast to the column's type
//!    (`'1.50'::numeric(10,2)`); stored generated columns are left out
//!    (recomputed).
//! 6. **Identity columns**: `ALTER TABLE ... ALTER COLUMN ... ADD
//!    GENERATED {ALWAYS | BY DEFAULT} AS IDENTITY (options)`, after the
//!    rows so GENERATED ALWAYS columns can be loaded.
//! 7. **Indexes** not backing a constraint, by table then name, with their
//!    method and options.
//! 8. **Foreign keys**, by table then name, with their actions.
//! 9. **Sequence values**: `SELECT setval(...)` for every sequence that has
//!    moved from its start (identity sequences through
//!    `pg_get_serial_sequence`).
//! 10. **Views** in creation order, a view after the views it names:
//!     `CREATE VIEW s.v (columns) AS ...`.
//! 11. **Graph labels**: none can be created through SQL yet; a label in
//!     the catalog is listed as a comment and reported as a warning.
//!
//! # Restore
//!
//! [`restore`] checks the header and the checksum first (nothing runs when
//! either is wrong), refuses a target that has any user object (schema,
//! table, view, sequence, non-built-in role, graph label), then runs the
//! body in one transaction: any failing statement rolls everything back
//! and is reported with its line number in the document. A body with
//! transaction control (BEGIN, COMMIT, ...) is refused before it runs.
//!
//! # Files
//!
//! [`resolve_in_data_dir`] turns a user-supplied relative path into a path
//! inside the data directory (no absolute paths, no `..`, no symlinks out);
//! [`dump_to_file`] never overwrites an existing file.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::{AionError, Database, DbResult, SqlState};

mod model;
mod paths;
mod replay;
mod write;

pub use paths::resolve_in_data_dir;
pub use replay::restore;
use write::{write_body, Hashing};

/// The format version this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// The first line of every dump.
pub const MAGIC: &str = "-- AionDB logical dump";

/// Ids below this are built-in objects (PostgreSQL's FirstNormalObjectId).
const FIRST_USER_ID: u64 = 16384;

/// Rows per `INSERT` statement.
const INSERT_BATCH: usize = 1000;

/// Rows fetched per query while reading a table.
const FETCH_PAGE: usize = 10_000;

/// A progress line every this many rows.
const PROGRESS_ROWS: u64 = 100_000;

/// What a dump wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DumpSummary {
    pub roles: usize,
    pub schemas: usize,
    pub tables: usize,
    pub views: usize,
    pub sequences: usize,
    pub indexes: usize,
    pub rows: u64,
    /// Bytes of the body (the document is the header plus these).
    pub body_bytes: u64,
    /// SHA-256 of the body, as in the header.
    pub body_sha256: String,
    /// What the document cannot carry exactly (also logged as warnings).
    pub warnings: Vec<String>,
}

/// What a restore ran.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RestoreSummary {
    pub format_version: u32,
    /// The `engine-version` header field of the document.
    pub engine_version: String,
    pub statements: u64,
    pub rows: u64,
}

/// The header fields of a dump.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DumpHeader {
    pub format_version: u32,
    pub engine_version: String,
    pub body_sha256: String,
}

/// The header for a body with this SHA-256; its length does not depend on
/// the digits, so a file can be written with a placeholder and patched.
fn header(sha256_hex: &str) -> String {
    format!(
        "{MAGIC}\n-- format-version: {FORMAT_VERSION}\n-- engine-version: aiondb {}\n-- body-sha256: {sha256_hex}\n\n",
        env!("CARGO_PKG_VERSION")
    )
}

fn io_error(what: &str, e: std::io::Error) -> AionError {
    AionError::new(SqlState::IO_ERROR, format!("{what}: {e}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes the whole document (header, then body) to `out`.
///
/// The body is built in memory first (the header carries its checksum);
/// [`dump_to_file`] streams instead. Rows are read in one REPEATABLE READ
/// transaction, so they are one consistent snapshot; the schema is read
/// from the catalog when the dump starts (DDL running concurrently with a
/// dump is not isolated from it).
pub fn dump(db: &Database, out: &mut dyn Write) -> DbResult<DumpSummary> {
    let mut body = Vec::new();
    let summary = {
        let mut sink = Hashing::new(&mut body);
        let mut summary = write_body(db, &mut sink)?;
        (summary.body_bytes, summary.body_sha256) = sink.finish();
        summary
    };
    out.write_all(header(&summary.body_sha256).as_bytes())
        .and_then(|()| out.write_all(&body))
        .and_then(|()| out.flush())
        .map_err(|e| io_error("writing the dump", e))?;
    Ok(summary)
}

/// Writes the document to a new file at `path` (which must not exist: it
/// is created with `create_new`), streaming the body and filling in the
/// checksum at the end. On error the partial file is removed.
pub fn dump_to_file(db: &Database, path: &Path) -> DbResult<DumpSummary> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                AionError::new(
                    SqlState::new(b"58P02"),
                    format!(
                        "dump file \"{}\" already exists; dump never overwrites a file",
                        path.display()
                    ),
                )
            } else {
                io_error(&format!("creating dump file \"{}\"", path.display()), e)
            }
        })?;
    let result = write_file(db, file);
    if result.is_err() {
        let _ = std::fs::remove_file(path);
    }
    result
}

fn write_file(db: &Database, file: File) -> DbResult<DumpSummary> {
    let placeholder = header(&"0".repeat(64));
    let mut w = BufWriter::new(file);
    w.write_all(placeholder.as_bytes())
        .map_err(|e| io_error("writing the dump", e))?;
    let summary = {
        let mut sink = Hashing::new(&mut w);
        let mut summary = write_body(db, &mut sink)?;
        (summary.body_bytes, summary.body_sha256) = sink.finish();
        summary
    };
    let mut file = w
        .into_inner()
        .map_err(|e| io_error("writing the dump", e.into_error()))?;
    let real = header(&summary.body_sha256);
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.write_all(real.as_bytes()))
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error("writing the dump", e))?;
    Ok(summary)
}

/// Checks a document's header and body checksum without running anything;
/// returns the header and the body.
///
/// # Errors
/// 22P02 when it is not an AionDB dump, 0A000 for a format version this
/// build cannot read, XX001 when the body does not hash to the header's
/// checksum.
pub fn check_document(doc: &[u8]) -> DbResult<(DumpHeader, &[u8])> {
    let not_a_dump = |why: &str| {
        AionError::new(
            SqlState::INVALID_TEXT_REPRESENTATION,
            format!("not an AionDB dump: {why}"),
        )
        .with_hint(format!("A dump starts with the line \"{MAGIC}\"."))
    };
    let Some(split) = doc.windows(2).position(|w| w == b"\n\n") else {
        return Err(not_a_dump("no blank line ends the header"));
    };
    let head = std::str::from_utf8(&doc[..split]).map_err(|_| not_a_dump("header is not UTF-8"))?;
    let body = &doc[split + 2..];
    let mut lines = head.lines();
    if lines.next() != Some(MAGIC) {
        return Err(not_a_dump(&format!("the first line is not \"{MAGIC}\"")));
    }
    let mut fields: HashMap<&str, &str> = HashMap::new();
    for l in lines {
        let Some((k, v)) = l.strip_prefix("-- ").and_then(|r| r.split_once(':')) else {
            return Err(not_a_dump(&format!("malformed header line \"{l}\"")));
        };
        fields.insert(k.trim(), v.trim());
    }
    let version = fields
        .get("format-version")
        .ok_or_else(|| not_a_dump("the header has no format-version"))?;
    let format_version: u32 = version
        .parse()
        .map_err(|_| not_a_dump(&format!("format-version \"{version}\" is not a number")))?;
    if format_version != FORMAT_VERSION {
        return Err(AionError::feature_not_supported(format!(
            "unsupported dump format version {format_version}: this aiondb {} reads format version {FORMAT_VERSION}",
            env!("CARGO_PKG_VERSION")
        ))
        .with_hint("Restore it with the aiondb release that wrote it, or a newer one."));
    }
    let expected = fields
        .get("body-sha256")
        .ok_or_else(|| not_a_dump("the header has no body-sha256"))?
        .to_ascii_lowercase();
    let found = hex(&Sha256::digest(body));
    if expected != found {
        return Err(AionError::new(
            SqlState::DATA_CORRUPTED,
            format!(
                "dump body checksum mismatch: the header says body-sha256 {expected}, the body hashes to {found}"
            ),
        )
        .with_hint("The file is damaged or was edited after it was written; nothing was restored."));
    }
    Ok((
        DumpHeader {
            format_version,
            engine_version: fields
                .get("engine-version")
                .map(|s| s.to_string())
                .unwrap_or_default(),
            body_sha256: found,
        },
        body,
    ))
}

/// Reads the dump at `path` (see [`resolve_in_data_dir`]) and restores it.
pub fn restore_from_file(db: &Database, path: &Path) -> DbResult<RestoreSummary> {
    let doc = std::fs::read(path)
        .map_err(|e| io_error(&format!("reading dump file \"{}\"", path.display()), e))?;
    restore(db, &doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_checks() {
        let body = b"SELECT 1;\n";
        let doc = [header(&hex(&Sha256::digest(body))).as_bytes(), body].concat();
        assert_eq!(check_document(&doc).unwrap().1, body);
        let mut bad = doc.clone();
        *bad.last_mut().unwrap() = b' ';
        assert_eq!(check_document(&bad).unwrap_err().sqlstate.as_str(), "XX001");
        let v2 = String::from_utf8(doc.clone())
            .unwrap()
            .replace("format-version: 1", "format-version: 2");
        assert_eq!(
            check_document(v2.as_bytes()).unwrap_err().sqlstate.as_str(),
            "0A000"
        );
        assert_eq!(
            check_document(b"SELECT 1;\n\n")
                .unwrap_err()
                .sqlstate
                .as_str(),
            "22P02"
        );
    }
}
