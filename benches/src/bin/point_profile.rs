//! Profiling aid: prepared point selects and inserts in a loop, nothing
//! else (`perf record -g target/release/point_profile`).

use aiondb_embedded::{Database, Value};

fn main() {
    let db = Database::in_memory().expect("db");
    let mut c = db
        .connect_anonymous("bench", "point_profile")
        .expect("connect");
    c.execute("CREATE TABLE kv (id int PRIMARY KEY, v text NOT NULL, n int NOT NULL)")
        .expect("create");
    c.execute("INSERT INTO kv SELECT g, 'value-' || g, g % 1000 FROM generate_series(0, 99999) g")
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
    let t = std::time::Instant::now();
    for i in 0..n {
        let r = c.query(&sel, &[Value::Int4(i % 100_000)]).expect("select");
        assert_eq!(r.len(), 1);
    }
    let sel_t = t.elapsed();
    let t = std::time::Instant::now();
    for i in 0..n {
        c.query(
            &ins,
            &[Value::Int4(100_000 + i), Value::text("x"), Value::Int4(i)],
        )
        .expect("insert");
    }
    println!(
        "point select {:.2} us, insert {:.2} us",
        sel_t.as_secs_f64() * 1e6 / n as f64,
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
}
