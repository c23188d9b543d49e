//! SQLAlchemy 2's PostgreSQL dialect (over psycopg 3) connecting to the
//! `aiondb` binary and reflecting a schema through `inspect(engine)`: the
//! connect-time queries and the pg_catalog reflection queries (which use
//! `to_regtype`, `regclass` casts, select-list `unnest`/
//! `generate_subscripts`, `pg_get_constraintdef`, ...).
//!
//! The expected values are what SQLAlchemy reports for the same schema on
//! PostgreSQL 15. Without
//! python3 + psycopg + sqlalchemy a local run skips; with `CI` set it
//! fails (.ci/run installs them).

use std::process::Command;

use aiondb_integration_tests::wire::{Server, PASSWORD, USER};

const SCRIPT: &str = r#"
import sys
from sqlalchemy import create_engine, inspect, text
eng = create_engine(sys.argv[1])
with eng.begin() as c:
    for stmt in [
        "CREATE TABLE authors (id serial PRIMARY KEY, name text NOT NULL, email varchar(100) UNIQUE)",
        "CREATE TABLE books (id int PRIMARY KEY, author_id int REFERENCES authors(id), title text NOT NULL, price numeric(10,2) CHECK (price > 0), pages int DEFAULT 100)",
        "CREATE INDEX books_title_idx ON books (title)",
        "CREATE VIEW cheap_books AS SELECT id, title FROM books WHERE price < 10",
        "CREATE SCHEMA inventory",
        "CREATE TABLE inventory.items (sku text PRIMARY KEY, qty int NOT NULL DEFAULT 0)",
    ]:
        c.execute(text(stmt))
insp = inspect(eng)
print("tables", insp.get_table_names())
print("views", insp.get_view_names())
print("schemas", insp.get_schema_names())
print("has_table", insp.has_table("books"), insp.has_table("nope"), insp.has_table("items", schema="inventory"))
print("columns", [(c["name"], str(c["type"]), c["nullable"], c["default"]) for c in insp.get_columns("authors")])
print("columns", [(c["name"], str(c["type"]), c["nullable"], c["default"]) for c in insp.get_columns("books")])
print("pk", insp.get_pk_constraint("books")["constrained_columns"], insp.get_pk_constraint("books")["name"])
print("fks", [(f["name"], f["constrained_columns"], f["referred_table"], f["referred_columns"]) for f in insp.get_foreign_keys("books")])
print("indexes", [(i["name"], i["unique"], i["column_names"]) for i in insp.get_indexes("books")])
print("indexes", [(i["name"], i["unique"], i["column_names"]) for i in insp.get_indexes("authors")])
print("uniques", [(u["name"], u["column_names"]) for u in insp.get_unique_constraints("authors")])
print("checks", [(c["name"], c["sqltext"]) for c in insp.get_check_constraints("books")])
print("items", [(c["name"], c["nullable"], c["default"]) for c in insp.get_columns("items", schema="inventory")])
"#;

const EXPECTED: &str = "\
tables ['authors', 'books']
views ['cheap_books']
schemas ['information_schema', 'inventory', 'public']
has_table True False True
columns [('id', 'INTEGER', False, \"nextval('authors_id_seq'::regclass)\"), ('name', 'TEXT', False, None), ('email', 'VARCHAR(100)', True, None)]
columns [('id', 'INTEGER', False, None), ('author_id', 'INTEGER', True, None), ('title', 'TEXT', False, None), ('price', 'NUMERIC(10, 2)', True, None), ('pages', 'INTEGER', True, '100')]
pk ['id'] books_pkey
fks [('books_author_id_fkey', ['author_id'], 'authors', ['id'])]
indexes [('books_title_idx', False, ['title'])]
indexes [('authors_email_key', True, ['email'])]
uniques [('authors_email_key', ['email'])]
checks [('books_price_check', 'price > 0::numeric')]
items [('sku', False, None), ('qty', False, '0')]
";

#[test]
fn sqlalchemy_reflects_the_schema() {
    let probe = Command::new("python3")
        .args(["-c", "import sqlalchemy, psycopg"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 with sqlalchemy and psycopg is required in CI (.ci/run installs them)"
        );
        eprintln!("skipping: python3 sqlalchemy/psycopg are not installed");
        return;
    }
    let server = Server::start(&[]);
    let url = format!(
        "postgresql+psycopg://{USER}:{PASSWORD}@127.0.0.1:{}/aiondb",
        server.port
    );
    let out = Command::new("python3")
        .args(["-c", SCRIPT, &url])
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "sqlalchemy failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout, EXPECTED);
}

const PSYCOPG_SCRIPT: &str = r#"
import sys, psycopg
from psycopg.types import TypeInfo
c = psycopg.connect(sys.argv[1], autocommit=True)
c.execute("CREATE TABLE books (id int PRIMARY KEY, title text)")
for binary in (False, True):
    cur = c.cursor(binary=binary)
    cur.execute("SELECT relname, relkind, relnamespace::regnamespace, oid = %s::regclass FROM pg_class WHERE relname = %s", ["books", "books"])
    print(binary, cur.fetchall(), [d.type_code for d in cur.description])
    cur.execute("SELECT attname, atttypid FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 ORDER BY attnum", ["books"])
    print(binary, cur.fetchall())
print(TypeInfo.fetch(c, "int4"), TypeInfo.fetch(c, "nope"))
"#;

const PSYCOPG_EXPECTED: &str = "\
False [('books', 'r', 'public', True)] [19, 18, 25, 16]
False [('id', 23), ('title', 25)]
True [('books', 'r', 'public', True)] [19, 18, 25, 16]
True [('id', 23), ('title', 25)]
<TypeInfo: int4 (oid: 23, array oid: 1007)> None
";

#[test]
fn psycopg_reads_catalog_types_in_text_and_binary() {
    let probe = Command::new("python3")
        .args(["-c", "import psycopg"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 with psycopg is required in CI (.ci/run installs it)"
        );
        eprintln!("skipping: python3 psycopg is not installed");
        return;
    }
    let server = Server::start(&[]);
    let conninfo = format!(
        "host=127.0.0.1 port={} user={USER} password={PASSWORD} dbname=aiondb",
        server.port
    );
    let out = Command::new("python3")
        .args(["-c", PSYCOPG_SCRIPT, &conninfo])
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "psycopg failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout, PSYCOPG_EXPECTED);
}
