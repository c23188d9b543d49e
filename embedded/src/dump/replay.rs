//! Replaying a body: the target check, statement splitting, one
//! transaction.

use aiondb_sdk::ident::quote_ident;

use super::model::{is_builtin_schema, Model};
use super::{check_document, RestoreSummary, PROGRESS_ROWS};
use crate::{AionError, Database, DbResult, SqlState};

/// The first user object of a database, if it has any (what makes it an
/// unsuitable restore target), and how many there are.
fn user_objects(db: &Database) -> (Option<String>, usize) {
    let cat = db.kernel().catalog();
    let m = Model::read(&cat);
    let mut found: Vec<String> = Vec::new();
    for r in &m.roles {
        found.push(format!("role {}", quote_ident(&r.name)));
    }
    for s in m.schemas.values().filter(|s| !is_builtin_schema(s)) {
        found.push(format!("schema {}", quote_ident(&s.name)));
    }
    for t in &m.tables {
        found.push(format!("table {}", m.qualified(t.schema, &t.name)));
    }
    for v in &m.views {
        found.push(format!("view {}", m.qualified(v.schema, &v.name)));
    }
    for s in &m.sequences {
        found.push(format!("sequence {}", m.qualified(s.schema, &s.name)));
    }
    for l in &m.labels {
        found.push(format!("graph label {}", quote_ident(&l.name)));
    }
    let n = found.len();
    (found.into_iter().next(), n)
}

/// Restores a document made by [`dump`](super::dump) into `db`, which
/// must be empty.
///
/// Checks the header and checksum ([`check_document`]) and that `db` has
/// no user object (55000) before running anything; then runs the body in
/// one transaction. A failing statement rolls the whole restore back; the
/// error keeps the statement's SQLSTATE and names its line in the
/// document. A body that would end or split that transaction (BEGIN,
/// COMMIT, ROLLBACK, SAVEPOINT ...) is refused before anything runs.
pub fn restore(db: &Database, doc: &[u8]) -> DbResult<RestoreSummary> {
    let (header, body) = check_document(doc)?;
    let body = std::str::from_utf8(body).map_err(|e| {
        AionError::new(
            SqlState::new(b"22021"),
            format!("dump body is not valid UTF-8: {e}"),
        )
    })?;
    if let (Some(first), n) = user_objects(db) {
        return Err(AionError::new(
            SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!(
                "restore target is not empty: it has {first}{}",
                if n > 1 {
                    format!(" and {} more objects", n - 1)
                } else {
                    String::new()
                }
            ),
        )
        .with_hint("Restore into a new, empty database (a new data directory)."));
    }
    let first_line = doc[..doc.len() - body.len()]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1;
    let statements = split_statements(body, first_line);
    if let Some((line, sql)) = statements.iter().find(|(_, sql)| controls_transaction(sql)) {
        return Err(AionError::new(
            SqlState::INVALID_TRANSACTION_STATE,
            format!(
                "dump line {line} controls transactions (\"{}\"); a restore runs in one transaction of its own, nothing was restored",
                sql.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
            ),
        ));
    }
    let total = statements.len();
    log::info!("restore: {total} statements");
    let mut conn = db.connect_anonymous("aiondb", "aiondb-restore")?;
    conn.execute("BEGIN")?;
    let mut summary = RestoreSummary {
        format_version: header.format_version,
        engine_version: header.engine_version.clone(),
        ..RestoreSummary::default()
    };
    let mut next_report = PROGRESS_ROWS;
    for (n, (line, sql)) in statements.iter().enumerate() {
        match conn.execute(sql) {
            Ok(r) => {
                if r.tag().starts_with("INSERT") {
                    summary.rows += r.rows_affected();
                }
            }
            Err(e) => {
                let _ = conn.execute("ROLLBACK");
                let mut shown: String = sql.chars().take(200).collect();
                if shown.len() < sql.len() {
                    shown.push_str("...");
                }
                let mut err = AionError::new(
                    e.sqlstate,
                    format!(
                        "restore failed at line {line} of the dump: {}; nothing was restored",
                        e.message
                    ),
                )
                .with_detail(format!("statement: {shown}"));
                if let Some(h) = e.hint() {
                    err = err.with_hint(h.to_string());
                }
                return Err(err);
            }
        }
        summary.statements += 1;
        if summary.rows >= next_report {
            log::info!(
                "restore: statement {}/{total} (line {line}): {} rows",
                n + 1,
                summary.rows
            );
            next_report = (summary.rows / PROGRESS_ROWS + 1) * PROGRESS_ROWS;
        }
    }
    conn.execute("COMMIT")?;
    log::info!(
        "restore: {} statements, {} rows",
        summary.statements,
        summary.rows
    );
    Ok(summary)
}

/// Whether a statement begins, ends or splits a transaction.
fn controls_transaction(sql: &str) -> bool {
    let mut words = sql.split_whitespace().map(str::to_ascii_lowercase);
    let first = words.next().unwrap_or_default();
    match first.as_str() {
        "begin" | "start" | "commit" | "end" | "rollback" | "abort" | "savepoint" | "release" => {
            true
        }
        "prepare" => words.next().as_deref() == Some("transaction"),
        _ => false,
    }
}

/// Splits SQL text into statements at `;` outside quotes and comments,
/// each with the line (counted from `first_line`) where it starts;
/// comment-only pieces are dropped.
pub(super) fn split_statements(sql: &str, first_line: usize) -> Vec<(usize, &str)> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut line = first_line;
    let mut start: Option<(usize, usize)> = None; // (byte, line) of the first token
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\n' => {
                line += 1;
                i += 1;
            }
            b' ' | b'\t' | b'\r' => i += 1,
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                while i < b.len() {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        if b[i] == b'\n' {
                            line += 1;
                        }
                        i += 1;
                    }
                }
            }
            b';' => {
                if let Some((s, l)) = start.take() {
                    out.push((l, &sql[s..i]));
                }
                i += 1;
            }
            _ => {
                if start.is_none() {
                    start = Some((i, line));
                }
                if c == b'\'' {
                    // E'...' strings take backslash escapes.
                    let escapes = i > 0
                        && matches!(b[i - 1], b'e' | b'E')
                        && (i < 2 || !(b[i - 2].is_ascii_alphanumeric() || b[i - 2] == b'_'));
                    i += 1;
                    while i < b.len() {
                        match b[i] {
                            b'\\' if escapes => i += 1,
                            b'\'' if b.get(i + 1) == Some(&b'\'') => i += 1,
                            b'\'' => break,
                            b'\n' => line += 1,
                            _ => {}
                        }
                        i += 1;
                    }
                    i += 1;
                } else if c == b'"' {
                    i += 1;
                    while i < b.len() && b[i] != b'"' {
                        if b[i] == b'\n' {
                            line += 1;
                        }
                        i += 1;
                    }
                    i += 1;
                } else if c == b'$' {
                    // $tag$ ... $tag$ (a `$1` parameter has no closing `$`).
                    let tag_end = b[i + 1..]
                        .iter()
                        .position(|&x| !(x.is_ascii_alphanumeric() || x == b'_'))
                        .map(|p| i + 1 + p);
                    match tag_end {
                        Some(e) if b[e] == b'$' && !b[i + 1..e].iter().any(u8::is_ascii_digit) => {
                            let tag = &b[i..=e];
                            let close = b[e + 1..]
                                .windows(tag.len())
                                .position(|w| w == tag)
                                .map_or(b.len(), |p| e + 1 + p + tag.len());
                            line += b[i..close].iter().filter(|&&x| x == b'\n').count();
                            i = close;
                        }
                        _ => i += 1,
                    }
                } else {
                    i += 1;
                }
            }
        }
    }
    if let Some((s, l)) = start {
        out.push((l, &sql[s..]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_control_is_recognised() {
        for sql in [
            "BEGIN",
            "commit",
            "ROLLBACK TO SAVEPOINT a",
            "Start transaction",
            "END",
            "PREPARE TRANSACTION 'x'",
        ] {
            assert!(controls_transaction(sql), "{sql}");
        }
        for sql in [
            "CREATE TABLE begin (x int)",
            "SELECT 1",
            "PREPARE p AS SELECT 1",
            "INSERT INTO \"commit\" VALUES (1)",
        ] {
            assert!(!controls_transaction(sql), "{sql}");
        }
    }

    #[test]
    fn statements_split_outside_quotes_and_comments() {
        let sql = "-- c1\nSELECT 'a;b', \"x;\"\"y\";\n/* ; */ SELECT E'\\';' ;\nINSERT INTO t VALUES\n('l1\nl2;');\nSELECT $q$;$q$, $1;\n-- end\n";
        let got = split_statements(sql, 10);
        assert_eq!(
            got,
            vec![
                (11, "SELECT 'a;b', \"x;\"\"y\""),
                (12, "SELECT E'\\';' "),
                (13, "INSERT INTO t VALUES\n('l1\nl2;')"),
                (16, "SELECT $q$;$q$, $1"),
            ]
        );
    }
}
