//! Profiling aid: prepared point selects and inserts in a loop, nothing
//! else (`perf record -g target/release/point_profile [N] [select|insert]`;
//! the second argument limits the run to one of the two loops; `range`
//! runs N/100 scans of 100 rows by primary key instead; `simple` runs the
//! point selects as query text with the key inlined, as `pgbench -S` does,
//! through the literal-normalising plan cache). `sqlite-select` and
//! `sqlite-insert` run the same loops on SQLite (rusqlite, in memory, the
//! statements of `embedded_vs_sqlite`), so that instruction counts
//! (`valgrind --tool=cachegrind`) compare the two engines without the
//! timing noise of a shared machine.

use aiondb_embedded::{Database, Value};

fn main() {
    let mode = std::env::args().nth(2).unwrap_or_default();
    if let Some(what) = mode.strip_prefix("sqlite-") {
        sqlite(what);
        return;
    }
    let db = Database::in_memory().expect("db");
    let mut c = db
        .connect_anonymous("bench", "point_profile")
        .expect("connect");
    c.execute("CREATE TABLE kv (id int PRIMARY KEY, v text NOT NULL, n int NOT NULL)")
        .expect("create");
    // AIONDB_PROFILE_ROWS shrinks the table so that it fits in cache: the
    // difference to the default shows what memory misses cost.
    let rows: u32 = std::env::var("AIONDB_PROFILE_ROWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    c.execute(&format!(
        "INSERT INTO kv SELECT g, 'value-' || g, g % 1000 FROM generate_series(0, {}) g",
        rows - 1
    ))
    .expect("load");
    let sel = c
        .prepare("SELECT v, n FROM kv WHERE id = $1")
        .expect("prepare");
    let ins = c
        .prepare("INSERT INTO kv VALUES ($1, $2, $3)")
        .expect("prepare");
    let n: i32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(300_000);
    if mode == "range" {
        let range = c
            .prepare("SELECT id, n FROM kv WHERE id >= $1 AND id < $2")
            .expect("prepare");
        let runs = (n / 100).max(1);
        let t = std::time::Instant::now();
        for i in 0..runs {
            let lo =
                ((i as u32).wrapping_mul(2_654_435_761) % rows.saturating_sub(100).max(1)) as i32;
            let r = c
                .query(&range, &[Value::Int4(lo), Value::Int4(lo + 100)])
                .expect("range");
            assert_eq!(r.len(), 100);
        }
        println!(
            "range scan of 100 rows {:.2} us",
            t.elapsed().as_secs_f64() * 1e6 / runs as f64
        );
        return;
    }
    if mode == "simple" {
        let mut sql = String::new();
        let t = std::time::Instant::now();
        for i in 0..n {
            let key = (i as u32).wrapping_mul(2_654_435_761) % rows;
            sql.clear();
            sql.push_str("SELECT v, n FROM kv WHERE id = ");
            sql.push_str(&key.to_string());
            let r = c.execute(&sql).expect("select");
            assert_eq!(r.len(), 1);
        }
        println!(
            "point select as text {:.2} us",
            t.elapsed().as_secs_f64() * 1e6 / n.max(1) as f64
        );
        return;
    }
    let (n_sel, n_ins) = match mode.as_str() {
        "select" => (n, 0),
        "insert" => (0, n),
        _ => (n, n),
    };
    let t = std::time::Instant::now();
    for i in 0..n_sel {
        let key = (i as u32).wrapping_mul(2_654_435_761) % rows;
        let r = c.query(&sel, &[Value::Int4(key as i32)]).expect("select");
        assert_eq!(r.len(), 1);
    }
    let sel_t = t.elapsed();
    let t = std::time::Instant::now();
    for i in 0..n_ins {
        c.query(
            &ins,
            &[
                Value::Int4(rows as i32 + i),
                Value::text("x"),
                Value::Int4(i),
            ],
        )
        .expect("insert");
    }
    println!(
        "point select {:.2} us, insert {:.2} us",
        sel_t.as_secs_f64() * 1e6 / n_sel.max(1) as f64,
        t.elapsed().as_secs_f64() * 1e6 / n_ins.max(1) as f64
    );
}

/// The select and insert loops on SQLite.
fn sqlite(what: &str) {
    use rusqlite::params;
    let rows: u32 = std::env::var("AIONDB_PROFILE_ROWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(300_000);
    let s = rusqlite::Connection::open_in_memory().expect("sqlite");
    s.execute_batch(
        "CREATE TABLE kv (id INTEGER PRIMARY KEY, v TEXT NOT NULL, n INTEGER NOT NULL)",
    )
    .expect("schema");
    let tx = s.unchecked_transaction().expect("tx");
    {
        let mut st = s
            .prepare("INSERT INTO kv VALUES (?1, ?2, ?3)")
            .expect("prepare");
        for id in 0..rows {
            st.execute(params![id, format!("value-{id}"), id % 1000])
                .expect("load");
        }
    }
    tx.commit().expect("commit");
    let t = std::time::Instant::now();
    if what == "select" {
        let mut st = s
            .prepare("SELECT v, n FROM kv WHERE id = ?1")
            .expect("prepare");
        for i in 0..n {
            let key = i.wrapping_mul(2_654_435_761) % rows;
            let (v, _n): (String, i64) = st
                .query_row(params![key], |r| Ok((r.get(0)?, r.get(1)?)))
                .expect("select");
            assert!(!v.is_empty());
        }
    } else {
        let mut st = s
            .prepare("INSERT INTO kv VALUES (?1, ?2, ?3)")
            .expect("prepare");
        for i in 0..n {
            st.execute(params![rows + i, "x", i]).expect("insert");
        }
    }
    println!(
        "sqlite {what} {:.2} us",
        t.elapsed().as_secs_f64() * 1e6 / n.max(1) as f64
    );
}
