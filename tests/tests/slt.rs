//! Runs the sqllogictest files under `tests/slt/` against the embedded API
//! (the same kernel session pgwire uses), and all of them again over
//! pgwire with a Rust client: the results must be identical. Each file
//! gets a fresh in-memory database (over pgwire, a fresh server). Conventions (also followed by `tests/slt/tools/verify_pg.py`,
//! which checks the same files against PostgreSQL): values in PostgreSQL's
//! text format, NULL as `NULL`, the empty string as `(empty)`, errors as
//! `<SQLSTATE>: <message>`.

use std::path::{Path, PathBuf};

use aiondb_embedded::{Connection, Database};
use sqllogictest::{DBOutput, DefaultColumnType, Runner, DB};

#[derive(Debug)]
struct SltError(String);

impl std::fmt::Display for SltError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SltError {}

struct Aion {
    _db: std::sync::Arc<Database>,
    conn: Connection,
}

impl DB for Aion {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError> {
        let mut results = self
            .conn
            .execute_batch(sql)
            .map_err(|e| SltError(format!("{}: {}", e.sqlstate, e.message)))?;
        let Some(last) = results.pop() else {
            return Ok(DBOutput::StatementComplete(0));
        };
        if last.columns().is_empty() {
            return Ok(DBOutput::StatementComplete(last.rows_affected()));
        }
        let rows = last
            .to_text()
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|v| match v {
                        None => "NULL".to_string(),
                        Some(s) if s.is_empty() => "(empty)".to_string(),
                        Some(s) => s,
                    })
                    .collect()
            })
            .collect();
        Ok(DBOutput::Rows {
            types: vec![DefaultColumnType::Any; last.columns().len()],
            rows,
        })
    }

    fn engine_name(&self) -> &str {
        "aiondb"
    }
}

/// The same files over the wire: simple query protocol, text results.
struct Wire {
    client: postgres::Client,
}

impl DB for Wire {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError> {
        use postgres::SimpleQueryMessage as M;
        let messages = self
            .client
            .simple_query(sql)
            .map_err(|e| match e.as_db_error() {
                Some(db) => SltError(format!("{}: {}", db.code().code(), db.message())),
                None => SltError(e.to_string()),
            })?;
        // The last statement's result, as the embedded runner reports it.
        let mut columns: Option<usize> = None;
        let mut rows: Vec<Vec<String>> = Vec::new();
        let mut last = DBOutput::StatementComplete(0);
        for m in messages {
            match m {
                M::RowDescription(cols) => {
                    columns = Some(cols.len());
                    rows.clear();
                }
                M::Row(r) => rows.push(
                    (0..r.len())
                        .map(|i| match r.get(i) {
                            None => "NULL".to_string(),
                            Some("") => "(empty)".to_string(),
                            Some(s) => s.to_string(),
                        })
                        .collect(),
                ),
                M::CommandComplete(n) => {
                    last = match columns.take() {
                        Some(width) => DBOutput::Rows {
                            types: vec![DefaultColumnType::Any; width],
                            rows: std::mem::take(&mut rows),
                        },
                        None => DBOutput::StatementComplete(n),
                    };
                }
                _ => {}
            }
        }
        Ok(last)
    }

    fn engine_name(&self) -> &str {
        "aiondb-pgwire"
    }
}

/// Every file over pgwire, each against a fresh server.
#[test]
fn every_slt_file_over_pgwire() {
    use aiondb_integration_tests::wire::{Server, PASSWORD};
    let mut files: Vec<PathBuf> = std::fs::read_dir(slt_dir())
        .expect("tests/slt exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "slt"))
        .collect();
    files.sort();
    let mut failures = Vec::new();
    for path in files {
        let server = Server::start(&[]);
        let conninfo = server.conninfo(PASSWORD);
        let mut runner = Runner::new(move || {
            let conninfo = conninfo.clone();
            async move {
                let client = postgres::Client::connect(&conninfo, postgres::NoTls)
                    .map_err(|e| SltError(e.to_string()))?;
                Ok::<_, SltError>(Wire { client })
            }
        });
        if let Err(e) = runner.run_file(&path) {
            failures.push(format!("{}: {}", path.display(), e.display(true)));
        }
        drop(server);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn slt_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("slt")
}

fn run_file(name: &str) {
    let db = std::sync::Arc::new(Database::in_memory().expect("in-memory database starts"));
    let mut runner = Runner::new(move || {
        let db = db.clone();
        async move {
            let conn = db
                .connect_anonymous("slt", "sqllogictest")
                .map_err(|e| SltError(e.to_string()))?;
            Ok::<_, SltError>(Aion { _db: db, conn })
        }
    });
    let path = slt_dir().join(name);
    // SLT_KEEP_GOING=1 reports every failing record of the file instead of
    // stopping at the first one (handy when fixing a file).
    if std::env::var_os("SLT_KEEP_GOING").is_some() {
        let records = sqllogictest::parse_file(&path).expect("slt file parses");
        let mut failures = Vec::new();
        for record in records {
            if let Err(e) = runner.run(record) {
                failures.push(e.display(true).to_string());
            }
        }
        if !failures.is_empty() {
            panic!(
                "{} failing records:\n{}",
                failures.len(),
                failures.join("\n")
            );
        }
        return;
    }
    if let Err(e) = runner.run_file(&path) {
        panic!("{}", e.display(true));
    }
}

macro_rules! slt_files {
    ($($test:ident => $file:literal,)*) => {
        $(#[test] fn $test() { run_file($file); })*

        /// Every file on disk has a test above.
        #[test]
        fn every_slt_file_has_a_test() {
            let known = [$($file),*];
            for entry in std::fs::read_dir(slt_dir()).expect("tests/slt exists") {
                let name = entry.expect("dir entry").file_name().to_string_lossy().to_string();
                if name.ends_with(".slt") {
                    assert!(known.contains(&name.as_str()), "{name} has no test in tests/tests/slt.rs");
                }
            }
        }
    };
}

slt_files! {
    slt_aggregates => "aggregates.slt",
    slt_catalog => "catalog.slt",
    slt_constraints => "constraints.slt",
    slt_cte => "cte.slt",
    slt_ddl => "ddl.slt",
    slt_dml => "dml.slt",
    slt_expressions => "expressions.slt",
    slt_functions => "functions.slt",
    slt_joins => "joins.slt",
    slt_select => "select.slt",
    slt_setops => "setops.slt",
    slt_settings => "settings.slt",
    slt_subqueries => "subqueries.slt",
    slt_transactions => "transactions.slt",
    slt_types => "types.slt",
    slt_window => "window.slt",
}
