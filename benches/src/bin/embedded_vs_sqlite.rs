//! Embedded AionDB against SQLite (rusqlite, in-memory) on the same machine,
//! in one run, with prepared statements on both sides.
//!
//! ```text
//! cargo run --release -p aiondb-bench --bin embedded_vs_sqlite [-- --scale 1.0]
//! ```
//! `--scale` multiplies every operation count (0.1 for a quick look).

use std::time::{Duration, Instant};

use aiondb_embedded::{Connection, Database, Value};
use rusqlite::{params, Connection as Sqlite};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*: deterministic, identical sequences for both engines.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> i64 {
        (self.next() % n) as i64
    }
}

struct Outcome {
    name: &'static str,
    unit: &'static str,
    aion: f64,
    sqlite: f64,
}

fn per_sec(ops: u64, d: Duration) -> f64 {
    ops as f64 / d.as_secs_f64().max(1e-9)
}

fn aion_exec(c: &mut Connection, sql: &str) {
    if let Err(e) = c.execute(sql) {
        panic!("aiondb: {sql}: {e}");
    }
}

const KV_ROWS: i64 = 100_000;
const BIG_ROWS: i64 = 1_000_000;

fn main() {
    let mut scale = 1.0f64;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--scale" => {
                scale = args
                    .get(i + 1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| panic!("--scale needs a number"));
                i += 1;
            }
            other => panic!("unknown argument {other}; usage: embedded_vs_sqlite [--scale F]"),
        }
        i += 1;
    }
    let n = |base: u64| ((base as f64) * scale).max(1.0) as u64;

    let db = Database::in_memory().expect("aiondb starts");
    let mut a = db
        .connect_anonymous("bench", "embedded_vs_sqlite")
        .expect("connect");
    let s = Sqlite::open_in_memory().expect("sqlite opens");

    // ---- schema and data, identical on both sides
    let kv_rows = (KV_ROWS as f64 * scale.min(1.0)).max(1000.0) as i64;
    aion_exec(
        &mut a,
        "CREATE TABLE kv (id int PRIMARY KEY, v text NOT NULL, n int NOT NULL)",
    );
    s.execute_batch(
        "CREATE TABLE kv (id INTEGER PRIMARY KEY, v TEXT NOT NULL, n INTEGER NOT NULL)",
    )
    .expect("sqlite schema");
    {
        let ins = a
            .prepare("INSERT INTO kv VALUES ($1, $2, $3)")
            .expect("prepare");
        a.execute("BEGIN").expect("begin");
        for id in 0..kv_rows {
            a.query(
                &ins,
                &[
                    Value::Int4(id as i32),
                    Value::text(format!("value-{id}")),
                    Value::Int4((id % 1000) as i32),
                ],
            )
            .expect("load kv");
        }
        a.execute("COMMIT").expect("commit");
        let tx = s.unchecked_transaction().expect("tx");
        {
            let mut st = s
                .prepare("INSERT INTO kv VALUES (?1, ?2, ?3)")
                .expect("prepare");
            for id in 0..kv_rows {
                st.execute(params![id, format!("value-{id}"), id % 1000])
                    .expect("load");
            }
        }
        tx.commit().expect("commit");
    }
    let mut results = Vec::new();

    // ---- point select by primary key
    {
        let ops = n(200_000);
        let st = a
            .prepare("SELECT v, n FROM kv WHERE id = $1")
            .expect("prepare");
        let mut rng = Rng(42);
        let t = Instant::now();
        for _ in 0..ops {
            let r = a
                .query(&st, &[Value::Int4(rng.below(kv_rows as u64) as i32)])
                .expect("point");
            assert_eq!(r.len(), 1);
        }
        let aion = per_sec(ops, t.elapsed());
        let mut sst = s
            .prepare("SELECT v, n FROM kv WHERE id = ?1")
            .expect("prepare");
        let mut rng = Rng(42);
        let t = Instant::now();
        for _ in 0..ops {
            let id = rng.below(kv_rows as u64);
            let (v, _n): (String, i64) = sst
                .query_row(params![id], |r| Ok((r.get(0)?, r.get(1)?)))
                .expect("point");
            assert!(!v.is_empty());
        }
        let sqlite = per_sec(ops, t.elapsed());
        results.push(Outcome {
            name: "point select by primary key",
            unit: "queries/s",
            aion,
            sqlite,
        });
    }

    // ---- single-row insert, autocommit
    {
        let ops = n(100_000);
        aion_exec(
            &mut a,
            "CREATE TABLE ins (id int PRIMARY KEY, v text, n int)",
        );
        s.execute_batch("CREATE TABLE ins (id INTEGER PRIMARY KEY, v TEXT, n INTEGER)")
            .expect("schema");
        let st = a
            .prepare("INSERT INTO ins VALUES ($1, $2, $3)")
            .expect("prepare");
        let t = Instant::now();
        for id in 0..ops as i32 {
            a.query(
                &st,
                &[Value::Int4(id), Value::text("payload"), Value::Int4(id % 7)],
            )
            .expect("insert");
        }
        let aion = per_sec(ops, t.elapsed());
        let mut sst = s
            .prepare("INSERT INTO ins VALUES (?1, ?2, ?3)")
            .expect("prepare");
        let t = Instant::now();
        for id in 0..ops as i64 {
            sst.execute(params![id, "payload", id % 7]).expect("insert");
        }
        let sqlite = per_sec(ops, t.elapsed());
        results.push(Outcome {
            name: "single-row insert (autocommit)",
            unit: "rows/s",
            aion,
            sqlite,
        });
    }

    // ---- range scan of 100 rows by primary key
    {
        let ops = n(20_000);
        let st = a
            .prepare("SELECT id, n FROM kv WHERE id >= $1 AND id < $2")
            .expect("prepare");
        let mut rng = Rng(7);
        let t = Instant::now();
        for _ in 0..ops {
            let lo = rng.below((kv_rows - 100) as u64) as i32;
            let r = a
                .query(&st, &[Value::Int4(lo), Value::Int4(lo + 100)])
                .expect("range");
            assert_eq!(r.len(), 100);
        }
        let aion = per_sec(ops, t.elapsed());
        let mut sst = s
            .prepare("SELECT id, n FROM kv WHERE id >= ?1 AND id < ?2")
            .expect("prepare");
        let mut rng = Rng(7);
        let t = Instant::now();
        for _ in 0..ops {
            let lo = rng.below((kv_rows - 100) as u64);
            let mut rows = sst.query(params![lo, lo + 100]).expect("range");
            let mut count = 0;
            while let Some(r) = rows.next().expect("row") {
                let _: i64 = r.get(1).expect("n");
                count += 1;
            }
            assert_eq!(count, 100);
        }
        let sqlite = per_sec(ops, t.elapsed());
        results.push(Outcome {
            name: "range scan, 100 rows by primary key",
            unit: "queries/s",
            aion,
            sqlite,
        });
    }

    // ---- 3-way join: customers, orders, items
    {
        let customers = 2_000i64;
        let orders = 20_000i64;
        for sql in [
            "CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL)",
            "CREATE TABLE orders (id int PRIMARY KEY, customer int NOT NULL, total int NOT NULL)",
            "CREATE TABLE items (id int PRIMARY KEY, order_id int NOT NULL, qty int NOT NULL)",
            "CREATE INDEX orders_customer ON orders (customer)",
            "CREATE INDEX items_order ON items (order_id)",
        ] {
            aion_exec(&mut a, sql);
            s.execute_batch(sql).expect("sqlite schema");
        }
        a.execute("BEGIN").expect("begin");
        let tx = s.unchecked_transaction().expect("tx");
        let c1 = a
            .prepare("INSERT INTO customers VALUES ($1, $2)")
            .expect("p");
        let c2 = a
            .prepare("INSERT INTO orders VALUES ($1, $2, $3)")
            .expect("p");
        let c3 = a
            .prepare("INSERT INTO items VALUES ($1, $2, $3)")
            .expect("p");
        for id in 0..customers {
            a.query(
                &c1,
                &[Value::Int4(id as i32), Value::text(format!("c{id}"))],
            )
            .expect("c");
            s.execute(
                "INSERT INTO customers VALUES (?1, ?2)",
                params![id, format!("c{id}")],
            )
            .expect("c");
        }
        for id in 0..orders {
            a.query(
                &c2,
                &[
                    Value::Int4(id as i32),
                    Value::Int4((id % customers) as i32),
                    Value::Int4((id % 97) as i32),
                ],
            )
            .expect("o");
            s.execute(
                "INSERT INTO orders VALUES (?1, ?2, ?3)",
                params![id, id % customers, id % 97],
            )
            .expect("o");
            for k in 0..3 {
                let iid = id * 3 + k;
                a.query(
                    &c3,
                    &[
                        Value::Int4(iid as i32),
                        Value::Int4(id as i32),
                        Value::Int4((k + 1) as i32),
                    ],
                )
                .expect("i");
                s.execute(
                    "INSERT INTO items VALUES (?1, ?2, ?3)",
                    params![iid, id, k + 1],
                )
                .expect("i");
            }
        }
        a.execute("COMMIT").expect("commit");
        tx.commit().expect("commit");
        aion_exec(&mut a, "ANALYZE");
        s.execute_batch("ANALYZE").expect("analyze");
        let sql = "SELECT c.name, count(*), sum(i.qty) FROM customers c JOIN orders o ON o.customer = c.id JOIN items i ON i.order_id = o.id WHERE c.id = $1 GROUP BY c.name";
        let ops = n(5_000);
        let st = a.prepare(sql).expect("prepare join");
        let mut rng = Rng(9);
        let t = Instant::now();
        for _ in 0..ops {
            let r = a
                .query(&st, &[Value::Int4(rng.below(customers as u64) as i32)])
                .expect("join");
            assert_eq!(r.len(), 1);
        }
        let aion = per_sec(ops, t.elapsed());
        let mut sst = s.prepare(&sql.replace("$1", "?1")).expect("prepare join");
        let mut rng = Rng(9);
        let t = Instant::now();
        for _ in 0..ops {
            let id = rng.below(customers as u64);
            let (_name, c, _q): (String, i64, i64) = sst
                .query_row(params![id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .expect("join");
            assert_eq!(c, 30);
        }
        let sqlite = per_sec(ops, t.elapsed());
        results.push(Outcome {
            name: "3-way join + group (one customer)",
            unit: "queries/s",
            aion,
            sqlite,
        });
    }

    // ---- aggregate over 1M rows
    {
        let rows = (BIG_ROWS as f64 * scale.min(1.0)).max(10_000.0) as i64;
        aion_exec(
            &mut a,
            "CREATE TABLE big (id int8 PRIMARY KEY, grp int NOT NULL, n int NOT NULL)",
        );
        s.execute_batch(
            "CREATE TABLE big (id INTEGER PRIMARY KEY, grp INTEGER NOT NULL, n INTEGER NOT NULL)",
        )
        .expect("schema");
        aion_exec(
            &mut a,
            &format!(
                "INSERT INTO big SELECT g, g % 100, g % 1000 FROM generate_series(1, {rows}) AS g"
            ),
        );
        s.execute_batch(&format!(
            "WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < {rows}) INSERT INTO big SELECT x, x % 100, x % 1000 FROM g"
        ))
        .expect("load big");
        let sql = "SELECT grp, count(*), sum(n), min(n), max(n) FROM big GROUP BY grp";
        let runs = n(5).max(1);
        let st = a.prepare(sql).expect("prepare agg");
        let t = Instant::now();
        for _ in 0..runs {
            let r = a.query(&st, &[]).expect("agg");
            assert_eq!(r.len(), 100);
        }
        let aion = per_sec(runs * rows as u64, t.elapsed());
        let mut sst = s.prepare(sql).expect("prepare agg");
        let t = Instant::now();
        for _ in 0..runs {
            let mut q = sst.query([]).expect("agg");
            let mut count = 0;
            while q.next().expect("row").is_some() {
                count += 1;
            }
            assert_eq!(count, 100);
        }
        let sqlite = per_sec(runs * rows as u64, t.elapsed());
        results.push(Outcome {
            name: "GROUP BY aggregate over 1M rows",
            unit: "rows/s",
            aion,
            sqlite,
        });
    }

    println!(
        "{:<40} {:>16} {:>16} {:>8}",
        "workload", "aiondb", "sqlite", "ratio"
    );
    for r in &results {
        println!(
            "{:<40} {:>12.0} {:<3} {:>12.0} {:<3} {:>7.2}x",
            r.name,
            r.aion,
            "",
            r.sqlite,
            "",
            r.aion / r.sqlite
        );
    }
    println!(
        "(units: {})",
        results
            .iter()
            .map(|r| format!("{}: {}", r.name, r.unit))
            .collect::<Vec<_>>()
            .join("; ")
    );
}
