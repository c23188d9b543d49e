//! The SQL pgbench sends (schema, data, vacuum and primary-key steps of
//! `pgbench -i`, the TPC-B and select-only scripts), spelled as pgbench 15
//! spells it, through the embedded API. COPY and the catalog queries it
//! makes belong to the wire protocol and are tested there.

use aiondb_embedded::{Connection, Database, Value};

fn run(c: &mut Connection, sql: &str) {
    if let Err(e) = c.execute(sql) {
        panic!("{sql}: {e}");
    }
}

fn int(c: &mut Connection, sql: &str) -> i64 {
    let r = c.execute(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let row = r.rows().next().unwrap_or_else(|| panic!("{sql}: no row"));
    row.get_i64(0)
        .unwrap_or_else(|| panic!("{sql}: not an integer"))
}

#[test]
fn pgbench_init_and_tpcb_statements_run() {
    let db = Database::in_memory().expect("db");
    let mut c = db.connect_anonymous("bench", "pgbench").expect("connect");
    let scale = 1;
    // Step d, t.
    run(
        &mut c,
        "drop table if exists pgbench_accounts, pgbench_branches, pgbench_history, pgbench_tellers",
    );
    run(&mut c, "create table pgbench_history(tid int,bid int,aid    int,delta int,mtime timestamp,filler char(22))");
    run(&mut c, "create table pgbench_tellers(tid int not null,bid int,tbalance int,filler char(84)) with (fillfactor=100)");
    run(&mut c, "create table pgbench_accounts(aid    int not null,bid int,abalance int,filler char(84)) with (fillfactor=100)");
    run(&mut c, "create table pgbench_branches(bid int not null,bbalance int,filler char(88)) with (fillfactor=100)");
    // Step g (rows generated client-side; accounts arrive by COPY over the
    // wire, here by INSERT ... SELECT).
    run(&mut c, "begin");
    run(
        &mut c,
        "truncate table pgbench_accounts, pgbench_branches, pgbench_history, pgbench_tellers",
    );
    run(
        &mut c,
        "insert into pgbench_branches(bid,bbalance) values(1,0)",
    );
    for t in 1..=10 {
        run(
            &mut c,
            &format!("insert into pgbench_tellers(tid,bid,tbalance) values ({t},1,0)"),
        );
    }
    run(
        &mut c,
        "insert into pgbench_accounts(aid,bid,abalance,filler) select aid, (aid - 1) / 100000 + 1, 0, '' from generate_series(1, 100000) aid",
    );
    run(&mut c, "commit");
    // Step v, p.
    for t in [
        "pgbench_branches",
        "pgbench_tellers",
        "pgbench_accounts",
        "pgbench_history",
    ] {
        run(&mut c, &format!("vacuum analyze {t}"));
    }
    run(&mut c, "alter table pgbench_branches add primary key (bid)");
    run(&mut c, "alter table pgbench_tellers add primary key (tid)");
    run(&mut c, "alter table pgbench_accounts add primary key (aid)");

    // Before a run: pgbench's own housekeeping and scale probe.
    run(&mut c, "vacuum pgbench_branches");
    run(&mut c, "vacuum pgbench_tellers");
    run(&mut c, "truncate pgbench_history");
    assert_eq!(int(&mut c, "select count(*) from pgbench_branches"), scale);

    // TPC-B, as `-M prepared` sends it.
    let upd_acc = c
        .prepare("UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2")
        .expect("prepare");
    let sel_acc = c
        .prepare("SELECT abalance FROM pgbench_accounts WHERE aid = $1")
        .expect("prepare");
    let upd_tel = c
        .prepare("UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2")
        .expect("prepare");
    let upd_br = c
        .prepare("UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2")
        .expect("prepare");
    let ins_hist = c
        .prepare("INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP)")
        .expect("prepare");
    let mut total = 0i64;
    for i in 0..200i32 {
        let aid = (i * 7919) % 100_000 + 1;
        let tid = i % 10 + 1;
        let delta = (i * 37) % 10_001 - 5000;
        total += i64::from(delta);
        run(&mut c, "BEGIN");
        let q = |c: &mut Connection, st, p: &[Value]| {
            c.query(st, p).unwrap_or_else(|e| panic!("tpc-b: {e}"))
        };
        let r = q(&mut c, &upd_acc, &[Value::Int4(delta), Value::Int4(aid)]);
        assert_eq!(r.rows_affected(), 1);
        let r = q(&mut c, &sel_acc, &[Value::Int4(aid)]);
        assert_eq!(r.len(), 1);
        q(&mut c, &upd_tel, &[Value::Int4(delta), Value::Int4(tid)]);
        q(&mut c, &upd_br, &[Value::Int4(delta), Value::Int4(1)]);
        q(
            &mut c,
            &ins_hist,
            &[
                Value::Int4(tid),
                Value::Int4(1),
                Value::Int4(aid),
                Value::Int4(delta),
            ],
        );
        run(&mut c, "END");
    }
    // The balances add up, as pgbench's consistency check expects.
    assert_eq!(
        int(&mut c, "select sum(abalance)::int8 from pgbench_accounts"),
        total
    );
    assert_eq!(
        int(&mut c, "select sum(tbalance)::int8 from pgbench_tellers"),
        total
    );
    assert_eq!(
        int(&mut c, "select sum(bbalance)::int8 from pgbench_branches"),
        total
    );
    assert_eq!(
        int(&mut c, "select sum(delta)::int8 from pgbench_history"),
        total
    );
    assert_eq!(int(&mut c, "select count(*) from pgbench_history"), 200);

    // Select-only script.
    let r = c.query(&sel_acc, &[Value::Int4(42)]).expect("select-only");
    assert_eq!(r.len(), 1);
}
