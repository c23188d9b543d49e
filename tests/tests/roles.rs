//! CREATE/ALTER/DROP ROLE through the embedded API (whose caller is
//! trusted with every privilege): PostgreSQL's errors and SQLSTATEs,
//! transactional role changes. Logging in with roles, and what a
//! non-superuser may not do, are in `pgwire.rs`.

use aiondb_embedded::{Connection, Database};

fn sqlstate(c: &mut Connection, sql: &str) -> String {
    match c.execute(sql) {
        Ok(_) => "ok".into(),
        Err(e) => e.sqlstate.to_string(),
    }
}

fn ok(c: &mut Connection, sql: &str) -> String {
    c.execute(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .tag()
        .to_string()
}

#[test]
fn role_commands_follow_postgresql() {
    let db = Database::in_memory().expect("db");
    let mut c = db.connect_anonymous("main", "roles").expect("connect");
    assert_eq!(
        ok(
            &mut c,
            "CREATE ROLE alice LOGIN PASSWORD 'pw' CONNECTION LIMIT 3 VALID UNTIL 'infinity'"
        ),
        "CREATE ROLE"
    );
    assert_eq!(sqlstate(&mut c, "CREATE ROLE alice"), "42710");
    assert_eq!(
        ok(&mut c, "CREATE USER bob WITH PASSWORD 'x'"),
        "CREATE ROLE"
    );
    assert_eq!(ok(&mut c, "CREATE USER carol NOLOGIN"), "CREATE ROLE");
    // Reserved names.
    assert_eq!(sqlstate(&mut c, "CREATE ROLE pg_mine"), "42939");
    assert_eq!(sqlstate(&mut c, "CREATE ROLE public"), "42939");
    assert_eq!(
        sqlstate(&mut c, "CREATE ROLE d CONNECTION LIMIT -2"),
        "22023"
    );
    assert_eq!(
        sqlstate(&mut c, "CREATE ROLE d VALID UNTIL 'soon'"),
        "22007"
    );
    assert_eq!(sqlstate(&mut c, "CREATE ROLE d LOGIN NOLOGIN"), "42601");

    assert_eq!(
        ok(&mut c, "ALTER ROLE alice NOLOGIN PASSWORD NULL"),
        "ALTER ROLE"
    );
    assert_eq!(ok(&mut c, "ALTER USER bob CREATEDB"), "ALTER ROLE");
    assert_eq!(sqlstate(&mut c, "ALTER ROLE nobody LOGIN"), "42704");
    assert_eq!(ok(&mut c, "ALTER ROLE bob RENAME TO robert"), "ALTER ROLE");
    assert_eq!(
        sqlstate(&mut c, "ALTER ROLE robert RENAME TO alice"),
        "42710"
    );
    assert_eq!(sqlstate(&mut c, "DROP ROLE bob"), "42704");

    // DROP of several roles is all or nothing.
    assert_eq!(sqlstate(&mut c, "DROP ROLE robert, nobody"), "42704");
    assert_eq!(sqlstate(&mut c, "CREATE ROLE robert"), "42710");
    let r = c
        .execute("DROP ROLE IF EXISTS nobody, robert")
        .expect("drop if exists");
    assert_eq!(r.tag(), "DROP ROLE");
    assert_eq!(
        r.notices()
            .iter()
            .map(|n| n.message.to_string())
            .collect::<Vec<_>>(),
        vec!["role \"nobody\" does not exist, skipping".to_string()]
    );
    assert_eq!(ok(&mut c, "CREATE ROLE robert"), "CREATE ROLE");
    assert_eq!(ok(&mut c, "DROP USER robert, carol"), "DROP ROLE");
}

#[test]
fn role_changes_are_transactional() {
    let db = Database::in_memory().expect("db");
    let mut c = db.connect_anonymous("main", "roles").expect("connect");
    ok(&mut c, "BEGIN");
    ok(&mut c, "CREATE ROLE temp_role");
    assert_eq!(sqlstate(&mut c, "CREATE ROLE temp_role"), "42710");
    ok(&mut c, "ROLLBACK");
    // Rolled back: the name is free again.
    ok(&mut c, "CREATE ROLE temp_role");

    ok(&mut c, "BEGIN");
    ok(&mut c, "DROP ROLE temp_role");
    ok(&mut c, "SAVEPOINT s");
    ok(&mut c, "CREATE ROLE other");
    ok(&mut c, "ROLLBACK TO SAVEPOINT s");
    ok(&mut c, "COMMIT");
    assert_eq!(sqlstate(&mut c, "DROP ROLE temp_role"), "42704");
    assert_eq!(sqlstate(&mut c, "DROP ROLE other"), "42704");

    // A read-only transaction refuses role changes.
    ok(&mut c, "BEGIN READ ONLY");
    assert_eq!(sqlstate(&mut c, "CREATE ROLE ro"), "25006");
    ok(&mut c, "ROLLBACK");
}
