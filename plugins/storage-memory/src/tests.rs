//! Behaviour tests, calling the backend through the `StorageBackend` trait.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aiondb_sdk::capability::{
    IndexQuery, IsolationLevel, LockOutcome, LockWait, RowCursorBox, RowId, ScanRequest,
    StorageBackend, StorageOptions, TxnId, AUTOCOMMIT_READ,
};
use aiondb_sdk::prelude::*;
use aiondb_sdk::value::{ArrayValue, Interval, Numeric};

use crate::MemoryBackend;

use IsolationLevel::{ReadCommitted as RC, RepeatableRead as RR, Serializable as SER};

fn ok<T>(r: AResult<T>) -> T {
    match r {
        ROk(v) => v,
        RErr(e) => panic!("unexpected error: {e}"),
    }
}

fn err<T: std::fmt::Debug>(r: AResult<T>) -> AionError {
    match r {
        ROk(v) => panic!("expected an error, got {v:?}"),
        RErr(e) => e,
    }
}

/// `insert` with the new ids returned, as most tests want them.
trait InsertIds {
    fn insert_ids(&self, x: TxnId, table: TableId, rows: &RowBatch) -> AResult<RVec<RowId>>;
}

impl<B: StorageBackend + ?Sized> InsertIds for B {
    fn insert_ids(&self, x: TxnId, table: TableId, rows: &RowBatch) -> AResult<RVec<RowId>> {
        let mut ids = RVec::new();
        self.insert(x, table, rows, &mut ids).map(|()| ids)
    }
}

fn err_c(r: AResult<RowCursorBox>) -> AionError {
    match r {
        ROk(_) => panic!("expected an error, got a cursor"),
        RErr(e) => e,
    }
}

fn i(v: i32) -> Value {
    Value::Int4(v)
}

fn t(s: &str) -> Value {
    Value::text(s)
}

fn col(name: &str, ty: DataType) -> ColumnDef {
    ColumnDef {
        name: name.into(),
        data_type: ty,
        nullable: true,
        default_expr: ROption::RNone,
        identity: Identity::None,
    }
}

fn table_def(id: TableId, cols: &[&str]) -> TableDef {
    TableDef {
        id,
        schema: 1,
        name: format!("t{id}").as_str().into(),
        kind: RelationKind::Table,
        columns: cols
            .iter()
            .enumerate()
            .map(|(n, c)| {
                col(
                    c,
                    if n == 0 {
                        DataType::INT4
                    } else {
                        DataType::TEXT
                    },
                )
            })
            .collect(),
        constraints: RVec::new(),
        storage_backend: "in_memory".into(),
        view_sql: ROption::RNone,
    }
}

fn index_def(id: IndexId, table: TableId, name: &str, cols: &[u32], unique: bool) -> IndexDef {
    IndexDef {
        id,
        table,
        name: name.into(),
        method: "btree".into(),
        columns: RVec::from(cols.to_vec()),
        unique,
        options: RVec::new(),
    }
}

fn batch(rows: &[Vec<Value>]) -> RowBatch {
    let w = rows.first().map_or(0, Vec::len);
    let mut b = RowBatch::new(w);
    for r in rows {
        b.push_row(r.iter().cloned());
    }
    b
}

fn drain(mut c: RowCursorBox, max_rows: u32) -> Vec<Vec<Value>> {
    let mut out = Vec::new();
    while let ROption::RSome(b) = ok(c.next_batch(max_rows)) {
        assert!(max_rows == 0 || b.len() <= max_rows as usize);
        out.extend(b.rows().map(|r| r.to_vec()));
    }
    out
}

fn all() -> ScanRequest {
    ScanRequest {
        projection: RVec::new(),
        row_ids: ROption::RNone,
        with_row_ids: false,
        latest: false,
    }
}

fn with_ids() -> ScanRequest {
    ScanRequest {
        with_row_ids: true,
        ..all()
    }
}

/// A backend with table 1 `(id int4, v text)` and a unique index 10 on id.
struct Db {
    b: MemoryBackend,
}

const T: TableId = 1;
const PK: IndexId = 10;

impl Db {
    fn new() -> Db {
        let db = Db {
            b: MemoryBackend::new(),
        };
        let def = table_def(T, &["id", "v"]);
        let x = db.begin(RC);
        ok(db.b.create_table(x, &def));
        ok(db
            .b
            .create_index(x, &index_def(PK, T, "t1_pkey", &[0], true), &def));
        ok(db.b.commit(x));
        db
    }

    fn begin(&self, iso: IsolationLevel) -> TxnId {
        let x = ok(self.b.begin(iso, false));
        ok(self.b.begin_statement(x, &LockWait::default()));
        x
    }

    fn stmt(&self, x: TxnId) {
        ok(self.b.begin_statement(x, &LockWait::default()));
    }

    fn ins(&self, x: TxnId, rows: &[Vec<Value>]) -> Vec<RowId> {
        ok(self.b.insert_ids(x, T, &batch(rows))).to_vec()
    }

    /// Rows visible to the current statement of `x`, sorted by id.
    fn sel(&self, x: TxnId) -> Vec<Vec<Value>> {
        let mut rows = drain(ok(self.b.scan(x, T, &all())), 0);
        rows.sort_by_key(|r| r[0].as_i64());
        rows
    }

    /// (row id, id) pairs visible to `x`.
    fn ids(&self, x: TxnId) -> Vec<(RowId, i64)> {
        drain(ok(self.b.scan(x, T, &with_ids())), 0)
            .into_iter()
            .map(|r| {
                (
                    r[2].as_i64().unwrap_or(-1) as RowId,
                    r[0].as_i64().unwrap_or(-1),
                )
            })
            .collect()
    }

    fn row_id_of(&self, x: TxnId, id: i64) -> RowId {
        self.ids(x)
            .into_iter()
            .find(|(_, k)| *k == id)
            .map(|(r, _)| r)
            .unwrap_or_else(|| panic!("row {id} not visible"))
    }

    fn upd(&self, x: TxnId, row: RowId, values: Vec<Value>) -> u64 {
        ok(self
            .b
            .update(x, T, RSlice::from_slice(&[row]), &batch(&[values])))
    }

    fn eq(&self, x: TxnId, key: Vec<Value>) -> Vec<Vec<Value>> {
        drain(
            ok(self
                .b
                .index_scan(x, T, PK, &IndexQuery::Eq(RVec::from(key)), &all(), false)),
            0,
        )
    }

    /// Committed contents, read by a fresh transaction.
    fn committed(&self) -> Vec<Vec<Value>> {
        let x = self.begin(RC);
        let rows = self.sel(x);
        ok(self.b.commit(x));
        rows
    }

    fn seed(&self, n: i32) {
        let x = self.begin(RC);
        let rows: Vec<Vec<Value>> = (1..=n).map(|k| vec![i(k), t(&format!("v{k}"))]).collect();
        self.ins(x, &rows);
        ok(self.b.commit(x));
    }
}

fn wait_forever() -> LockWait {
    LockWait {
        timeout_ms: 0,
        deadline_unix_us: 0,
        cancel: Default::default(),
    }
}

/// Gives a spawned thread time to reach its lock wait.
fn settle() {
    thread::sleep(Duration::from_millis(150));
}

// ------------------------------------------------------------- visibility

#[test]
fn read_committed_sees_commits_at_next_statement() {
    let db = Db::new();
    let a = db.begin(RC);
    let b = db.begin(RC);
    db.ins(a, &[vec![i(1), t("a")]]);
    assert!(db.sel(b).is_empty(), "uncommitted insert visible");
    ok(db.b.commit(a));
    assert!(
        db.sel(b).is_empty(),
        "same statement must keep its snapshot"
    );
    db.stmt(b);
    assert_eq!(db.sel(b), vec![vec![i(1), t("a")]]);
}

#[test]
fn repeatable_read_keeps_first_snapshot() {
    for iso in [RR, SER] {
        let db = Db::new();
        db.seed(1);
        let r = db.begin(iso);
        assert_eq!(db.sel(r).len(), 1);
        let w = db.begin(RC);
        db.ins(w, &[vec![i(2), t("b")]]);
        let row = db.row_id_of(w, 1);
        assert_eq!(db.upd(w, row, vec![i(1), t("changed")]), 1);
        ok(db.b.commit(w));
        db.stmt(r);
        assert_eq!(db.sel(r), vec![vec![i(1), t("v1")]]);
        // Index scans use the same snapshot.
        assert_eq!(db.eq(r, vec![i(1)]), vec![vec![i(1), t("v1")]]);
        assert!(db.eq(r, vec![i(2)]).is_empty());
        ok(db.b.commit(r));
        assert_eq!(db.committed().len(), 2);
    }
}

#[test]
fn own_writes_visible_from_the_next_statement() {
    let db = Db::new();
    let x = db.begin(RC);
    db.ins(x, &[vec![i(1), t("a")]]);
    assert!(
        db.sel(x).is_empty(),
        "a statement must not see its own inserts"
    );
    db.stmt(x);
    assert_eq!(db.sel(x).len(), 1);
    let row = db.row_id_of(x, 1);
    assert_eq!(db.upd(x, row, vec![i(1), t("b")]), 1);
    assert_eq!(db.sel(x), vec![vec![i(1), t("a")]]);
    db.stmt(x);
    assert_eq!(db.sel(x), vec![vec![i(1), t("b")]]);
    ok(db.b.delete(x, T, RSlice::from_slice(&[row])));
    assert_eq!(
        db.sel(x).len(),
        1,
        "own delete visible only from the next statement"
    );
    db.stmt(x);
    assert!(db.sel(x).is_empty());
    ok(db.b.commit(x));
}

#[test]
fn halloween_scan_does_not_see_its_own_inserts_or_updates() {
    let db = Db::new();
    db.seed(10);
    let x = db.begin(RC);
    // INSERT INTO t SELECT id + 100 ... while scanning in small batches.
    let mut c = ok(db.b.scan(x, T, &all()));
    let mut seen = 0;
    while let ROption::RSome(b) = ok(c.next_batch(3)) {
        let new: Vec<Vec<Value>> = b
            .rows()
            .map(|r| vec![i(r[0].as_i64().unwrap_or(0) as i32 + 100), t("copy")])
            .collect();
        seen += new.len();
        db.ins(x, &new);
    }
    assert_eq!(seen, 10);
    db.stmt(x);
    // UPDATE t SET id = id + 1000 via the index in key order: moved keys
    // must not be met again.
    let mut c = ok(db
        .b
        .index_scan(x, T, PK, &IndexQuery::All, &with_ids(), false));
    let mut updated = 0;
    while let ROption::RSome(b) = ok(c.next_batch(2)) {
        for r in b.rows() {
            let row = r[2].as_i64().unwrap_or(0) as RowId;
            updated += db.upd(
                x,
                row,
                vec![i(r[0].as_i64().unwrap_or(0) as i32 + 1000), r[1].clone()],
            );
        }
    }
    assert_eq!(updated, 20);
    db.stmt(x);
    let ids: Vec<i64> = db.sel(x).iter().filter_map(|r| r[0].as_i64()).collect();
    assert_eq!(ids, (1001..=1010).chain(1101..=1110).collect::<Vec<_>>());
    ok(db.b.commit(x));
}

#[test]
fn rollback_undoes_everything() {
    let db = Db::new();
    db.seed(3);
    let before = db.committed();
    let x = db.begin(RC);
    db.ins(x, &[vec![i(4), t("d")]]);
    let r1 = db.row_id_of(x, 1);
    let r2 = db.row_id_of(x, 2);
    db.upd(x, r1, vec![i(1), t("changed")]);
    ok(db.b.delete(x, T, RSlice::from_slice(&[r2])));
    db.stmt(x);
    assert_eq!(db.sel(x).len(), 3);
    ok(db.b.rollback(x));
    assert_eq!(db.committed(), before);
    // The index is back too: key 4 is free again and key 1 has its value.
    let y = db.begin(RC);
    db.ins(y, &[vec![i(4), t("again")]]);
    assert_eq!(db.eq(y, vec![i(1)]), vec![vec![i(1), t("v1")]]);
    ok(db.b.commit(y));
}

#[test]
fn savepoints_undo_exactly_the_later_writes() {
    let db = Db::new();
    let x = db.begin(RC);
    db.ins(x, &[vec![i(1), t("a")]]);
    ok(db.b.savepoint(x, "s".into()));
    db.ins(x, &[vec![i(2), t("b")]]);
    db.stmt(x);
    let r1 = db.row_id_of(x, 1);
    db.upd(x, r1, vec![i(1), t("a2")]);
    ok(db.b.rollback_to_savepoint(x, "s".into()));
    db.stmt(x);
    assert_eq!(db.sel(x), vec![vec![i(1), t("a")]]);
    // The savepoint survives ROLLBACK TO; a second one with the same name
    // shadows it.
    db.ins(x, &[vec![i(3), t("c")]]);
    ok(db.b.savepoint(x, "s".into()));
    db.ins(x, &[vec![i(4), t("d")]]);
    ok(db.b.rollback_to_savepoint(x, "s".into()));
    db.stmt(x);
    assert_eq!(db.sel(x).len(), 2);
    ok(db.b.release_savepoint(x, "s".into()));
    ok(db.b.rollback_to_savepoint(x, "s".into()));
    db.stmt(x);
    assert_eq!(db.sel(x), vec![vec![i(1), t("a")]]);
    ok(db.b.release_savepoint(x, "s".into()));
    let e = err(db.b.rollback_to_savepoint(x, "s".into()));
    assert_eq!(e.sqlstate.as_str(), "3B001");
    assert_eq!(e.message.as_str(), "savepoint \"s\" does not exist");
    let e = err(db.b.release_savepoint(x, "nope".into()));
    assert_eq!(e.sqlstate.as_str(), "3B001");
    // Key 2 was rolled back: reinserting it works.
    db.ins(x, &[vec![i(2), t("b")]]);
    ok(db.b.commit(x));
    assert_eq!(db.committed().len(), 2);
}

// ----------------------------------------------------------------- unique

#[test]
fn unique_violation_message_and_nulls() {
    let db = Db::new();
    db.seed(2);
    let x = db.begin(RC);
    let e = err(db.b.insert_ids(x, T, &batch(&[vec![i(2), t("dup")]])));
    assert_eq!(e.sqlstate.as_str(), "23505");
    assert_eq!(
        e.message.as_str(),
        "duplicate key value violates unique constraint \"t1_pkey\""
    );
    assert_eq!(e.detail(), Some("Key (id)=(2) already exists."));
    ok(db.b.rollback(x));
    // NULLs never conflict.
    let x = db.begin(RC);
    db.ins(x, &[vec![Value::Null, t("n1")], vec![Value::Null, t("n2")]]);
    // Duplicates inside one statement are caught.
    let e = err(db
        .b
        .insert_ids(x, T, &batch(&[vec![i(7), t("a")], vec![i(7), t("b")]])));
    assert_eq!(e.sqlstate.as_str(), "23505");
    ok(db.b.rollback(x));
    // An update to an existing key fails; delete then reinsert works.
    let x = db.begin(RC);
    let r1 = db.row_id_of(x, 1);
    let e = err(db.b.update(
        x,
        T,
        RSlice::from_slice(&[r1]),
        &batch(&[vec![i(2), t("x")]]),
    ));
    assert_eq!(e.sqlstate.as_str(), "23505");
    ok(db.b.rollback(x));
    let x = db.begin(RC);
    let r1 = db.row_id_of(x, 1);
    ok(db.b.delete(x, T, RSlice::from_slice(&[r1])));
    db.stmt(x);
    db.ins(x, &[vec![i(1), t("again")]]);
    ok(db.b.commit(x));
    assert_eq!(db.committed()[0], vec![i(1), t("again")]);
}

#[test]
fn multi_column_unique_detail() {
    let b = MemoryBackend::new();
    let def = table_def(5, &["a", "b"]);
    let x = ok(b.begin(RC, false));
    ok(b.begin_statement(x, &LockWait::default()));
    ok(b.create_table(x, &def));
    ok(b.create_index(x, &index_def(50, 5, "ab_key", &[0, 1], true), &def));
    ok(b.insert_ids(x, 5, &batch(&[vec![i(1), t("x")], vec![i(1), t("y")]])));
    let e = err(b.insert_ids(x, 5, &batch(&[vec![i(1), t("y")]])));
    assert_eq!(e.detail(), Some("Key (a, b)=(1, y) already exists."));
}

#[test]
fn concurrent_inserter_is_waited_for() {
    for commit_first in [true, false] {
        let db = Db::new();
        let a = db.begin(RC);
        db.ins(a, &[vec![i(1), t("a")]]);
        let b2 = db.b.clone();
        let (tx, rx) = mpsc::channel();
        let h = thread::spawn(move || {
            let x = ok(b2.begin(RC, false));
            ok(b2.begin_statement(x, &LockWait::default()));
            let r = b2.insert_ids(x, T, &batch(&[vec![i(1), t("b")]]));
            tx.send(()).ok();
            let out = r
                .into_result()
                .map(|_| ())
                .map_err(|e| e.sqlstate.as_str().to_string());
            ok(b2.commit(x));
            out
        });
        settle();
        assert!(rx.try_recv().is_err(), "second inserter must wait");
        if commit_first {
            ok(db.b.commit(a));
        } else {
            ok(db.b.rollback(a));
        }
        let res = h.join().unwrap_or_else(|_| Err("panicked".into()));
        if commit_first {
            assert_eq!(res, Err("23505".to_string()));
            assert_eq!(db.committed(), vec![vec![i(1), t("a")]]);
        } else {
            assert_eq!(res, Ok(()));
            assert_eq!(db.committed(), vec![vec![i(1), t("b")]]);
        }
    }
}

#[test]
fn create_unique_index_over_duplicates_fails() {
    let b = MemoryBackend::new();
    let def = table_def(2, &["a", "b"]);
    let x = ok(b.begin(RC, false));
    ok(b.begin_statement(x, &LockWait::default()));
    ok(b.create_table(x, &def));
    ok(b.insert_ids(
        x,
        2,
        &batch(&[
            vec![i(1), t("x")],
            vec![i(1), t("y")],
            vec![Value::Null, t("z")],
            vec![Value::Null, t("w")],
        ]),
    ));
    let e = err(b.create_index(x, &index_def(20, 2, "t2_a_key", &[0], true), &def));
    assert_eq!(e.sqlstate.as_str(), "23505");
    assert_eq!(
        e.message.as_str(),
        "could not create unique index \"t2_a_key\""
    );
    assert_eq!(e.detail(), Some("Key (a)=(1) is duplicated."));
    // A non-unique one builds and answers.
    ok(b.create_index(x, &index_def(21, 2, "t2_a_idx", &[0], false), &def));
    ok(b.begin_statement(x, &LockWait::default()));
    let rows = drain(
        ok(b.index_scan(
            x,
            2,
            21,
            &IndexQuery::Eq(RVec::from(vec![i(1)])),
            &all(),
            false,
        )),
        0,
    );
    assert_eq!(rows.len(), 2);
}

// ------------------------------------------------------------------ locks

#[test]
fn lock_wait_prevents_lost_update() {
    let db = Db::new();
    db.seed(1);
    let a = db.begin(RC);
    let row = db.row_id_of(a, 1);
    assert_eq!(
        ok(db.b.lock_row(a, T, row, true, &wait_forever())),
        LockOutcome::Locked
    );
    let b2 = db.b.clone();
    let (tx, rx) = mpsc::channel();
    let h = thread::spawn(move || {
        let x = ok(b2.begin(RC, false));
        ok(b2.begin_statement(x, &LockWait::default()));
        let out = ok(b2.lock_row(x, T, row, true, &wait_forever()));
        tx.send(()).ok();
        // READ COMMITTED: re-read the newest version and apply on top.
        let req = ScanRequest {
            row_ids: ROption::RSome(RVec::from(vec![row])),
            latest: true,
            ..all()
        };
        let cur = drain(ok(b2.scan(x, T, &req)), 0);
        let v = cur[0][1].as_str().unwrap_or("").to_string();
        ok(b2.update(
            x,
            T,
            RSlice::from_slice(&[row]),
            &batch(&[vec![i(1), t(&format!("{v}+b"))]]),
        ));
        ok(b2.commit(x));
        out
    });
    settle();
    assert!(rx.try_recv().is_err(), "second locker must wait");
    db.upd(a, row, vec![i(1), t("v1+a")]);
    ok(db.b.commit(a));
    let out = h.join().unwrap_or(LockOutcome::Deleted);
    assert_eq!(out, LockOutcome::LockedChanged);
    assert_eq!(db.committed(), vec![vec![i(1), t("v1+a+b")]]);
}

#[test]
fn update_without_lock_waits_implicitly() {
    let db = Db::new();
    db.seed(1);
    let a = db.begin(RC);
    let row = db.row_id_of(a, 1);
    db.upd(a, row, vec![i(1), t("a")]);
    let b2 = db.b.clone();
    let h = thread::spawn(move || {
        let x = ok(b2.begin(RC, false));
        ok(b2.begin_statement(x, &LockWait::default()));
        let n = ok(b2.delete(x, T, RSlice::from_slice(&[row])));
        ok(b2.commit(x));
        n
    });
    settle();
    ok(db.b.commit(a));
    assert_eq!(h.join().unwrap_or(99), 1);
    assert!(db.committed().is_empty());
}

#[test]
fn shared_locks_coexist_exclusive_waits() {
    let db = Db::new();
    db.seed(1);
    let a = db.begin(RC);
    let b = db.begin(RC);
    let row = db.row_id_of(a, 1);
    assert_eq!(
        ok(db.b.lock_row(a, T, row, false, &wait_forever())),
        LockOutcome::Locked
    );
    assert_eq!(
        ok(db.b.lock_row(b, T, row, false, &wait_forever())),
        LockOutcome::Locked
    );
    let quick = LockWait {
        timeout_ms: 50,
        deadline_unix_us: 0,
        cancel: Default::default(),
    };
    let e = err(db.b.lock_row(a, T, row, true, &quick));
    assert_eq!(e.sqlstate.as_str(), "55P03");
    ok(db.b.commit(b));
    assert_eq!(
        ok(db.b.lock_row(a, T, row, true, &quick)),
        LockOutcome::Locked
    );
    ok(db.b.commit(a));
}

#[test]
fn lock_timeout_and_statement_timeout() {
    let db = Db::new();
    db.seed(1);
    let a = db.begin(RC);
    let b = db.begin(RC);
    let row = db.row_id_of(a, 1);
    ok(db.b.lock_row(a, T, row, true, &wait_forever()));
    let start = Instant::now();
    let e = err(db.b.lock_row(
        b,
        T,
        row,
        true,
        &LockWait {
            timeout_ms: 100,
            deadline_unix_us: 0,
            cancel: Default::default(),
        },
    ));
    assert!(start.elapsed() >= Duration::from_millis(100));
    assert_eq!(e.sqlstate.as_str(), "55P03");
    assert_eq!(
        e.message.as_str(),
        "canceling statement due to lock timeout"
    );
    let now_us = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0);
    let e = err(db.b.lock_row(
        b,
        T,
        row,
        true,
        &LockWait {
            timeout_ms: 0,
            deadline_unix_us: now_us + 80_000,
            cancel: Default::default(),
        },
    ));
    assert_eq!(e.sqlstate.as_str(), "57014");
    assert_eq!(
        e.message.as_str(),
        "canceling statement due to statement timeout"
    );
    ok(db.b.rollback(a));
    ok(db.b.rollback(b));
}

#[test]
fn cancel_ends_a_row_lock_wait() {
    let db = Db::new();
    db.seed(1);
    let a = db.begin(RC);
    let b = db.begin(RC);
    let row = db.row_id_of(a, 1);
    ok(db.b.lock_row(a, T, row, true, &wait_forever()));
    let cancel = aiondb_sdk::capability::CancelFlag::new();
    let wait = LockWait {
        cancel: cancel.clone(),
        ..wait_forever()
    };
    let setter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(150));
        cancel.set();
    });
    let start = Instant::now();
    let e = err(db.b.lock_row(b, T, row, true, &wait));
    assert_eq!(e.sqlstate.as_str(), "57014");
    assert_eq!(
        e.message.as_str(),
        "canceling statement due to user request"
    );
    // Noticed within the wait's polling period, not at some timeout.
    assert!(start.elapsed() < Duration::from_secs(5));
    let _ = setter.join();
    ok(db.b.rollback(a));
    ok(db.b.rollback(b));
}

#[test]
fn deadlock_is_detected() {
    let db = Db::new();
    db.seed(2);
    let a = db.begin(RC);
    let b = db.begin(RC);
    let r1 = db.row_id_of(a, 1);
    let r2 = db.row_id_of(a, 2);
    ok(db.b.lock_row(a, T, r1, true, &wait_forever()));
    ok(db.b.lock_row(b, T, r2, true, &wait_forever()));
    let b2 = db.b.clone();
    let h = thread::spawn(move || b2.lock_row(a, T, r2, true, &wait_forever()).into_result());
    settle();
    let e = err(db.b.lock_row(b, T, r1, true, &wait_forever()));
    assert_eq!(e.sqlstate.as_str(), "40P01");
    assert_eq!(e.message.as_str(), "deadlock detected");
    let detail = e.detail().map(|d| d.to_string()).unwrap_or_default();
    assert!(
        detail.contains(&format!(
            "Transaction {b} waits for ShareLock on transaction {a}"
        )),
        "{detail}"
    );
    ok(db.b.rollback(b));
    let res = h.join().map_err(|_| ()).and_then(|r| r.map_err(|_| ()));
    assert_eq!(res, Ok(LockOutcome::Locked));
    ok(db.b.commit(a));
}

#[test]
fn repeatable_read_concurrent_update_fails() {
    for iso in [RR, SER] {
        let db = Db::new();
        db.seed(2);
        let r = db.begin(iso);
        let r1 = db.row_id_of(r, 1);
        let r2 = db.row_id_of(r, 2);
        let w = db.begin(RC);
        db.upd(w, r1, vec![i(1), t("w")]);
        ok(db.b.delete(w, T, RSlice::from_slice(&[r2])));
        ok(db.b.commit(w));
        db.stmt(r);
        let e = err(db.b.lock_row(r, T, r1, true, &wait_forever()));
        assert_eq!(e.sqlstate.as_str(), "40001");
        assert_eq!(
            e.message.as_str(),
            "could not serialize access due to concurrent update"
        );
        let e = err(db.b.delete(r, T, RSlice::from_slice(&[r2])));
        assert_eq!(
            e.message.as_str(),
            "could not serialize access due to concurrent delete"
        );
        ok(db.b.rollback(r));
    }
    // READ COMMITTED reports the change instead.
    let db = Db::new();
    db.seed(2);
    let r = db.begin(RC);
    let r1 = db.row_id_of(r, 1);
    let r2 = db.row_id_of(r, 2);
    let w = db.begin(RC);
    db.upd(w, r1, vec![i(1), t("w")]);
    ok(db.b.delete(w, T, RSlice::from_slice(&[r2])));
    ok(db.b.commit(w));
    assert_eq!(
        ok(db.b.lock_row(r, T, r1, true, &wait_forever())),
        LockOutcome::LockedChanged
    );
    assert_eq!(
        ok(db.b.lock_row(r, T, r2, true, &wait_forever())),
        LockOutcome::Deleted
    );
    ok(db.b.commit(r));
}

// ------------------------------------------------------------ serializable

/// Doctors on call: each checks that two are on call, then takes one off.
#[test]
fn serializable_write_skew_is_refused() {
    let db = Db::new();
    db.seed(2);
    let a = db.begin(SER);
    let b = db.begin(SER);
    assert_eq!(db.sel(a).len(), 2);
    assert_eq!(db.sel(b).len(), 2);
    let ra = db.row_id_of(a, 1);
    let rb = db.row_id_of(b, 2);
    db.stmt(a);
    db.stmt(b);
    db.upd(a, ra, vec![i(1), t("off")]);
    db.upd(b, rb, vec![i(2), t("off")]);
    let first = db.b.commit(a).into_result();
    let second = db.b.commit(b).into_result();
    let failures: Vec<AionError> = [first, second]
        .into_iter()
        .filter_map(Result::err)
        .collect();
    assert_eq!(failures.len(), 1, "exactly one of the two must fail");
    let e = &failures[0];
    assert_eq!(e.sqlstate.as_str(), "40001");
    assert_eq!(
        e.message.as_str(),
        "could not serialize access due to read/write dependencies among transactions"
    );
    assert_eq!(e.hint(), Some("The transaction might succeed if retried."));
    let on_call = db.committed().iter().filter(|r| r[1] != t("off")).count();
    assert_eq!(on_call, 1);
}

#[test]
fn serializable_write_skew_after_first_commit() {
    // The second transaction writes only after the first has committed.
    let db = Db::new();
    db.seed(2);
    let a = db.begin(SER);
    let b = db.begin(SER);
    db.sel(a);
    db.sel(b);
    let ra = db.row_id_of(a, 1);
    let rb = db.row_id_of(b, 2);
    db.upd(a, ra, vec![i(1), t("off")]);
    ok(db.b.commit(a));
    db.upd(b, rb, vec![i(2), t("off")]);
    let e = err(db.b.commit(b));
    assert_eq!(e.sqlstate.as_str(), "40001");
    // The failed commit rolled back: a later rollback is harmless.
    ok(db.b.rollback(b));
    assert_eq!(db.committed()[1], vec![i(2), t("v2")]);
}

#[test]
fn serializable_disjoint_tables_commit() {
    let db = Db::new();
    let def2 = table_def(2, &["id", "v"]);
    let x = db.begin(RC);
    ok(db.b.create_table(x, &def2));
    ok(db.b.commit(x));
    let a = db.begin(SER);
    let b = db.begin(SER);
    db.sel(a);
    db.ins(a, &[vec![i(1), t("a")]]);
    drain(ok(db.b.scan(b, 2, &all())), 0);
    ok(db.b.insert_ids(b, 2, &batch(&[vec![i(1), t("b")]])));
    ok(db.b.commit(a));
    ok(db.b.commit(b));
}

// ----------------------------------------------------------------- indexes

#[test]
fn index_eq_range_prefix_reverse() {
    let b = MemoryBackend::new();
    let def = table_def(3, &["a", "b"]);
    let x = ok(b.begin(RC, false));
    ok(b.begin_statement(x, &LockWait::default()));
    ok(b.create_table(x, &def));
    ok(b.create_index(x, &index_def(30, 3, "ab", &[0, 1], false), &def));
    let mut rows = Vec::new();
    for a in 1..=5 {
        for s in ["x", "y", "z"] {
            rows.push(vec![i(a), t(s)]);
        }
    }
    rows.push(vec![Value::Null, t("n")]);
    rows.push(vec![i(3), Value::Null]);
    ok(b.insert_ids(x, 3, &batch(&rows)));
    ok(b.begin_statement(x, &LockWait::default()));
    let q = |query: IndexQuery, reverse: bool, max: u32| -> Vec<String> {
        drain(ok(b.index_scan(x, 3, 30, &query, &all(), reverse)), max)
            .iter()
            .map(|r| {
                format!(
                    "{}{}",
                    r[0].to_pg_text().unwrap_or_else(|| "N".into()),
                    r[1].to_pg_text().unwrap_or_else(|| "N".into())
                )
            })
            .collect()
    };
    let v = |x: Vec<Value>| ROption::RSome(RVec::from(x));
    assert_eq!(
        q(IndexQuery::Eq(RVec::from(vec![i(2), t("y")])), false, 0),
        ["2y"]
    );
    // Prefix equality, mixed integer widths.
    assert_eq!(
        q(IndexQuery::Eq(RVec::from(vec![Value::Int8(3)])), false, 0),
        ["3x", "3y", "3z", "3N"]
    );
    assert_eq!(
        q(IndexQuery::Eq(RVec::from(vec![i(3)])), true, 1),
        ["3N", "3z", "3y", "3x"]
    );
    assert!(q(IndexQuery::Eq(RVec::from(vec![Value::Null])), false, 0).is_empty());
    // a > 4: NULL keys are not returned.
    let gt4 = IndexQuery::Range {
        lower: v(vec![i(4)]),
        lower_inclusive: false,
        upper: ROption::RNone,
        upper_inclusive: false,
    };
    assert_eq!(q(gt4.clone(), false, 0), ["5x", "5y", "5z"]);
    assert_eq!(q(gt4, true, 2), ["5z", "5y", "5x"]);
    // 2 <= a < 4
    let r = IndexQuery::Range {
        lower: v(vec![i(2)]),
        lower_inclusive: true,
        upper: v(vec![i(4)]),
        upper_inclusive: false,
    };
    assert_eq!(q(r, false, 4), ["2x", "2y", "2z", "3x", "3y", "3z", "3N"]);
    // (a, b) between (1, 'y') and (2, 'x') inclusive
    let r = IndexQuery::Range {
        lower: v(vec![i(1), t("y")]),
        lower_inclusive: true,
        upper: v(vec![i(2), t("x")]),
        upper_inclusive: true,
    };
    assert_eq!(q(r, false, 0), ["1y", "1z", "2x"]);
    // a <= 1
    let r = IndexQuery::Range {
        lower: ROption::RNone,
        lower_inclusive: false,
        upper: v(vec![i(1)]),
        upper_inclusive: true,
    };
    assert_eq!(q(r, true, 0), ["1z", "1y", "1x"]);
    // Empty and inverted ranges.
    let r = IndexQuery::Range {
        lower: v(vec![i(3)]),
        lower_inclusive: false,
        upper: v(vec![i(3)]),
        upper_inclusive: false,
    };
    assert!(q(r, false, 0).is_empty());
    let r = IndexQuery::Range {
        lower: v(vec![i(4)]),
        lower_inclusive: true,
        upper: v(vec![i(2)]),
        upper_inclusive: true,
    };
    assert!(q(r, false, 0).is_empty());
    // Full scans: NULLS LAST ascending, first descending.
    let full = q(IndexQuery::All, false, 5);
    assert_eq!(full.len(), 17);
    assert_eq!(full.first().map(String::as_str), Some("1x"));
    assert_eq!(full.last().map(String::as_str), Some("Nn"));
    let rev = q(IndexQuery::All, true, 3);
    assert_eq!(rev.first().map(String::as_str), Some("Nn"));
    assert_eq!(rev.len(), 17);
}

#[test]
fn index_skips_stale_entries_and_projects() {
    let db = Db::new();
    db.seed(3);
    let x = db.begin(RC);
    let r2 = db.row_id_of(x, 2);
    db.upd(x, r2, vec![i(20), t("moved")]);
    ok(db.b.commit(x));
    let y = db.begin(RC);
    assert!(db.eq(y, vec![i(2)]).is_empty());
    assert_eq!(db.eq(y, vec![i(20)]), vec![vec![i(20), t("moved")]]);
    let req = ScanRequest {
        projection: RVec::from(vec![1u32]),
        with_row_ids: true,
        ..all()
    };
    let c = ok(db.b.index_scan(
        y,
        T,
        PK,
        &IndexQuery::Eq(RVec::from(vec![i(20)])),
        &req,
        false,
    ));
    let schema = ok(c.schema());
    assert_eq!(schema.len(), 2);
    assert_eq!(schema.fields[0].name.as_str(), "v");
    let rows = drain(c, 0);
    assert_eq!(rows, vec![vec![t("moved"), Value::Int8(r2 as i64)]]);
    let all_keys: Vec<i64> = drain(
        ok(db.b.index_scan(y, T, PK, &IndexQuery::All, &all(), false)),
        1,
    )
    .iter()
    .filter_map(|r| r[0].as_i64())
    .collect();
    assert_eq!(all_keys, vec![1, 3, 20]);
    ok(db.b.commit(y));
}

// --------------------------------------------------------------------- DDL

#[test]
fn alter_table_fill_drop_and_rename() {
    let db = Db::new();
    db.seed(2);
    let old = table_def(T, &["id", "v"]);
    let mut added = old.clone();
    added.columns.push(col("w", DataType::INT4));
    let x = db.begin(RC);
    ok(db.b.alter_table(x, &old, &added, &i(42)));
    ok(db.b.commit(x));
    let rows = db.committed();
    assert_eq!(
        rows,
        vec![vec![i(1), t("v1"), i(42)], vec![i(2), t("v2"), i(42)]]
    );
    // Drop `v`: the unique index on id follows its column.
    let mut dropped = added.clone();
    dropped.columns.remove(1);
    let x = db.begin(RC);
    ok(db.b.alter_table(x, &added, &dropped, &Value::Null));
    ok(db.b.commit(x));
    assert_eq!(db.committed(), vec![vec![i(1), i(42)], vec![i(2), i(42)]]);
    let x = db.begin(RC);
    let e = err(db.b.insert_ids(x, T, &batch(&[vec![i(1), i(0)]])));
    assert_eq!(e.sqlstate.as_str(), "23505");
    ok(db.b.rollback(x));
    // Rename keeps data; a rolled-back ALTER restores the old layout.
    let mut renamed = dropped.clone();
    renamed.columns[1].name = "w2".into();
    let x = db.begin(RC);
    ok(db.b.alter_table(x, &dropped, &renamed, &Value::Null));
    assert_eq!(db.sel(x).len(), 2);
    let mut wider = renamed.clone();
    wider.columns.push(col("z", DataType::INT4));
    ok(db.b.alter_table(x, &renamed, &wider, &i(7)));
    ok(db.b.rollback(x));
    assert_eq!(db.committed(), vec![vec![i(1), i(42)], vec![i(2), i(42)]]);
}

#[test]
fn ddl_rollback_truncate_and_drop() {
    let db = Db::new();
    db.seed(3);
    // A rolled-back CREATE TABLE leaves nothing behind.
    let x = db.begin(RC);
    ok(db.b.create_table(x, &table_def(9, &["a"])));
    ok(db.b.insert_ids(x, 9, &batch(&[vec![i(1)]])));
    ok(db.b.rollback(x));
    let x = db.begin(RC);
    assert_eq!(err_c(db.b.scan(x, 9, &all())).sqlstate.as_str(), "42P01");
    ok(db.b.create_table(x, &table_def(9, &["a"])));
    ok(db.b.commit(x));
    // TRUNCATE and DROP TABLE roll back.
    let x = db.begin(RC);
    ok(db.b.truncate(x, T));
    db.stmt(x);
    assert!(db.sel(x).is_empty());
    db.ins(x, &[vec![i(1), t("new")]]);
    ok(db.b.rollback(x));
    assert_eq!(db.committed().len(), 3);
    let x = db.begin(RC);
    ok(db.b.drop_table(x, T));
    ok(db.b.rollback(x));
    assert_eq!(db.committed().len(), 3);
    let x = db.begin(RC);
    ok(db.b.truncate(x, T));
    ok(db.b.commit(x));
    assert!(db.committed().is_empty());
    assert_eq!(ok(db.b.stats(0, T)).row_count, 0);
    // Dropped index: gone, and back after rollback.
    let x = db.begin(RC);
    ok(db.b.drop_index(x, T, PK));
    assert_eq!(
        err_c(db.b.index_scan(x, T, PK, &IndexQuery::All, &all(), false))
            .sqlstate
            .as_str(),
        "42704"
    );
    ok(db.b.rollback(x));
    let x = db.begin(RC);
    db.ins(x, &[vec![i(1), t("a")]]);
    assert_eq!(
        err(db.b.insert_ids(x, T, &batch(&[vec![i(1), t("b")]])))
            .sqlstate
            .as_str(),
        "23505"
    );
    ok(db.b.rollback(x));
}

// ----------------------------------------------------------- stats, memory

#[test]
fn stats_count_live_rows() {
    let db = Db::new();
    db.seed(5);
    assert_eq!(ok(db.b.stats(0, T)).row_count, 5);
    let x = db.begin(RC);
    let r = db.row_id_of(x, 1);
    ok(db.b.delete(x, T, RSlice::from_slice(&[r])));
    db.ins(x, &[vec![i(6), t("a")], vec![i(7), t("b")]]);
    assert_eq!(ok(db.b.stats(0, T)).row_count, 5);
    assert_eq!(ok(db.b.stats(x, T)).row_count, 6);
    ok(db.b.commit(x));
    let s = ok(db.b.stats(0, T));
    assert_eq!(s.row_count, 6);
    assert!(s.total_bytes > 0);
    let info = ok(db.b.info());
    assert!(!info.persistent && info.mvcc);
    assert_eq!(info.max_isolation, SER);
}

#[test]
fn memory_limit_refuses_inserts() {
    let db = Db::new();
    ok(db.b.open(&StorageOptions {
        data_dir: ROption::RNone,
        allow_unencrypted: false,
        memory_limit_bytes: 20_000,
    }));
    let x = db.begin(RC);
    let mut failed = None;
    for k in 0..1000 {
        if let RErr(e) =
            db.b.insert_ids(x, T, &batch(&[vec![i(k), t("some payload text")]]))
        {
            failed = Some((k, e));
            break;
        }
    }
    let (k, e) = failed.unwrap_or_else(|| panic!("limit never reached"));
    assert!(k > 10);
    assert_eq!(e.sqlstate.as_str(), "53200");
    assert_eq!(e.message.as_str(), "out of memory");
    assert!(e.detail().is_some_and(|d| d.contains("20000")));
    ok(db.b.rollback(x));
    assert!(
        db.b.memory_used() < 2_000,
        "rollback must give the memory back"
    );
}

#[test]
fn point_update_loop_keeps_memory_bounded() {
    let db = Db::new();
    db.seed(1);
    let mut peak = 0;
    for n in 0..2000 {
        let x = db.begin(RC);
        let r = db.row_id_of(x, 1);
        db.upd(x, r, vec![i(1), t(&format!("value {n}"))]);
        ok(db.b.commit(x));
        if n > 10 {
            peak = peak.max(db.b.memory_used());
        }
    }
    assert!(peak < 4_000, "old versions are not pruned: {peak} bytes");
    // Deleting everything eventually frees the rows as well.
    db.seed_more(3000);
    let x = db.begin(RC);
    let ids: Vec<RowId> = db.ids(x).into_iter().map(|(r, _)| r).collect();
    ok(db.b.delete(x, T, RSlice::from_slice(&ids)));
    ok(db.b.commit(x));
    let x = db.begin(RC);
    db.ins(x, &[vec![i(1), t("x")]]);
    let ids: Vec<RowId> = db.ids(x).into_iter().map(|(r, _)| r).collect();
    assert!(ids.is_empty());
    ok(db.b.commit(x));
}

impl Db {
    fn seed_more(&self, n: i32) {
        let x = self.begin(RC);
        let rows: Vec<Vec<Value>> = (2..=n).map(|k| vec![i(k), t("more")]).collect();
        self.ins(x, &rows);
        ok(self.b.commit(x));
    }
}

// ------------------------------------------------------------------ plugin

#[test]
fn plugin_registers_in_memory_backend() {
    let module = crate::plugin_module();
    assert_eq!(module.name().as_str(), "storage-memory");
    let reg = Registration::new().storage_backend("in_memory", MemoryBackend::new());
    let p = &reg.provides[0];
    assert_eq!(p.capability.to_string(), "storage.backend/1");
    assert_eq!(p.key.as_str(), "in_memory");
    let aiondb_sdk::plugin::ProviderObject::StorageBackend(backend) = &p.object else {
        panic!("wrong provider kind");
    };
    // Through the ABI-stable trait object.
    let def = table_def(1, &["id", "v"]);
    let x = ok(backend.begin(RC, false));
    ok(backend.begin_statement(x, &LockWait::default()));
    ok(backend.create_table(x, &def));
    ok(backend.insert_ids(x, 1, &batch(&[vec![i(1), t("a")]])));
    ok(backend.begin_statement(x, &LockWait::default()));
    assert_eq!(
        drain(ok(backend.scan(x, 1, &all())), 0),
        vec![vec![i(1), t("a")]]
    );
    ok(backend.commit(x));
}

/// Rough timings of the hot paths: `cargo test --release -- --ignored bench`.
#[test]
#[ignore]
fn bench_point_ops() {
    let db = Db::new();
    let n = 100_000;
    let start = Instant::now();
    for k in 0..n {
        let x = ok(db.b.begin(RC, false));
        ok(db.b.begin_statement(x, &LockWait::default()));
        ok(db
            .b
            .insert_ids(x, T, &batch(&[vec![i(k), t("some text value")]])));
        ok(db.b.commit(x));
    }
    let ins = start.elapsed();
    let start = Instant::now();
    let mut found = 0;
    for k in 0..n {
        let x = ok(db.b.begin(RC, false));
        ok(db.b.begin_statement(x, &LockWait::default()));
        let key = RVec::from(vec![Value::Int4((k * 7919) % n)]);
        let mut c = ok(db
            .b
            .index_scan(x, T, PK, &IndexQuery::Eq(key), &all(), false));
        while let ROption::RSome(b) = ok(c.next_batch(0)) {
            found += b.len();
        }
        ok(db.b.commit(x));
    }
    let sel = start.elapsed();
    let start = Instant::now();
    for k in 0..n {
        let x = ok(db.b.begin(RC, false));
        ok(db.b.begin_statement(x, &LockWait::default()));
        let key = RVec::from(vec![Value::Int4(k)]);
        let req = ScanRequest {
            with_row_ids: true,
            ..all()
        };
        let rows = drain(
            ok(db.b.index_scan(x, T, PK, &IndexQuery::Eq(key), &req, false)),
            0,
        );
        let row = rows[0][2].as_i64().unwrap_or(0) as RowId;
        ok(db.b.lock_row(x, T, row, true, &wait_forever()));
        ok(db.b.update(
            x,
            T,
            RSlice::from_slice(&[row]),
            &batch(&[vec![i(k), t("updated")]]),
        ));
        ok(db.b.commit(x));
    }
    let upd = start.elapsed();
    assert_eq!(found, n as usize);
    eprintln!(
        "insert {:?}/row, point select {:?}/row, point update {:?}/row, memory {} bytes",
        ins / n as u32,
        sel / n as u32,
        upd / n as u32,
        db.b.memory_used()
    );
}

#[test]
#[ignore]
fn bench_txn_overhead() {
    let db = Db::new();
    db.seed(10);
    let n = 200_000u32;
    let start = Instant::now();
    for _ in 0..n {
        let x = ok(db.b.begin(RC, false));
        ok(db.b.begin_statement(x, &LockWait::default()));
        ok(db.b.commit(x));
    }
    let txn = start.elapsed() / n;
    let x = ok(db.b.begin(RC, false));
    ok(db.b.begin_statement(x, &LockWait::default()));
    let start = Instant::now();
    for k in 0..n {
        let key = RVec::from(vec![Value::Int4((k % 10) as i32 + 1)]);
        let c = ok(db
            .b
            .index_scan(x, T, PK, &IndexQuery::Eq(key), &all(), false));
        drop(c);
    }
    let open = start.elapsed() / n;
    let start = Instant::now();
    for k in 0..n {
        let key = RVec::from(vec![Value::Int4((k % 10) as i32 + 1)]);
        let mut c = ok(db
            .b
            .index_scan(x, T, PK, &IndexQuery::Eq(key), &all(), false));
        let _ = ok(c.next_batch(0));
    }
    let fetch = start.elapsed() / n;
    eprintln!(
        "txn {txn:?}, open cursor {open:?}, open+fetch {fetch:?}, value {} bytes",
        std::mem::size_of::<Value>()
    );
}

/// T1 -rw-> T2 -rw-> T3 with T3 committed before T1 started: T2 is a
/// pivot and must not commit even though no two of them form a cycle.
#[test]
fn serializable_pivot_with_three_transactions() {
    let db = Db::new();
    const P: TableId = 2;
    let x = db.begin(RC);
    ok(db.b.create_table(x, &table_def(P, &["id", "v"])));
    ok(db.b.commit(x));
    let t2 = db.begin(SER);
    db.sel(t2); // reads Q (table 1)
    let t3 = db.begin(SER);
    db.ins(t3, &[vec![i(1), t("q")]]); // writes Q
    ok(db.b.commit(t3));
    let t1 = db.begin(SER);
    drain(ok(db.b.scan(t1, P, &all())), 0); // reads P
    ok(db.b.insert_ids(t2, P, &batch(&[vec![i(1), t("p")]]))); // T2 writes P
    ok(db.b.commit(t1));
    let e = err(db.b.commit(t2));
    assert_eq!(e.sqlstate.as_str(), "40001");
}

/// Concurrent transfers between accounts in random order: deadlocks and
/// serialization failures are retried; money is neither made nor lost.
#[test]
fn concurrent_transfers_conserve_total() {
    for iso in [RC, RR, SER] {
        let db = Db::new();
        let x = db.begin(RC);
        let rows: Vec<Vec<Value>> = (0..8).map(|k| vec![i(k), t("100")]).collect();
        db.ins(x, &rows);
        ok(db.b.commit(x));
        let handles: Vec<_> = (0..4u64)
            .map(|seed| {
                let b = db.b.clone();
                thread::spawn(move || {
                    let mut state = seed * 7 + 3;
                    let mut next = || {
                        state = state
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        (state >> 33) as i32
                    };
                    let mut done = 0;
                    while done < 60 {
                        let from = next().rem_euclid(8);
                        let to = (from + 1 + next().rem_euclid(7)) % 8;
                        if transfer(&b, iso, from, to).is_ok() {
                            done += 1;
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            assert!(h.join().is_ok());
        }
        let total: i64 = db
            .committed()
            .iter()
            .map(|r| {
                r[1].as_str()
                    .and_then(|s| s.parse::<i64>().ok())
                    .unwrap_or(-1000)
            })
            .sum();
        assert_eq!(total, 800, "isolation {iso:?}");
    }
}

fn transfer(b: &MemoryBackend, iso: IsolationLevel, from: i32, to: i32) -> Result<(), AionError> {
    let x = b.begin(iso, false).into_result()?;
    let res = (|| -> Result<(), AionError> {
        b.begin_statement(x, &LockWait::default()).into_result()?;
        for (k, delta) in [(from, -1i64), (to, 1)] {
            let key = RVec::from(vec![i(k)]);
            let rows = drain(
                b.index_scan(x, T, PK, &IndexQuery::Eq(key), &with_ids(), false)
                    .into_result()?,
                0,
            );
            let row = rows[0][2].as_i64().unwrap_or(0) as RowId;
            let out = b.lock_row(x, T, row, true, &wait_forever()).into_result()?;
            let req = ScanRequest {
                row_ids: ROption::RSome(RVec::from(vec![row])),
                latest: out == LockOutcome::LockedChanged,
                ..all()
            };
            let cur = drain(b.scan(x, T, &req).into_result()?, 0);
            let bal: i64 = cur[0][1].as_str().and_then(|s| s.parse().ok()).unwrap_or(0);
            let new = batch(&[vec![i(k), t(&(bal + delta).to_string())]]);
            b.update(x, T, RSlice::from_slice(&[row]), &new)
                .into_result()?;
            b.begin_statement(x, &LockWait::default()).into_result()?;
        }
        Ok(())
    })();
    match res {
        Ok(()) => b.commit(x).into_result(),
        Err(e) => {
            b.rollback(x).into_result()?;
            let code = e.sqlstate.as_str();
            assert!(code == "40P01" || code == "40001", "unexpected {e}");
            Err(e)
        }
    }
}

/// Snapshots are reused until a writer commits: commits without writes,
/// aborts and later begins must not hide or reveal anything wrongly.
#[test]
fn reused_snapshots_follow_commits() {
    let db = Db::new();
    let reader = db.begin(RC);
    // A read-only transaction ends; a writer starts after the reader.
    let idle = db.begin(RC);
    ok(db.b.commit(idle));
    let w = db.begin(RC);
    db.ins(w, &[vec![i(1), t("a")]]);
    db.stmt(reader);
    assert!(db.sel(reader).is_empty(), "uncommitted row visible");
    // RR's snapshot is fixed by its first statement (before the commit).
    let late = db.begin(RR);
    let later = ok(db.b.begin(RR, false));
    ok(db.b.commit(w));
    // RC: the next statement sees the commit; an RR transaction whose
    // first statement comes after it too.
    db.stmt(reader);
    assert_eq!(db.sel(reader).len(), 1);
    db.stmt(late);
    assert!(db.sel(late).is_empty());
    db.stmt(later);
    assert_eq!(db.sel(later).len(), 1);
    // An aborted writer leaves nothing behind, and a later commit shows.
    let a = db.begin(RC);
    db.ins(a, &[vec![i(2), t("b")]]);
    ok(db.b.rollback(a));
    let w2 = db.begin(RC);
    db.ins(w2, &[vec![i(3), t("c")]]);
    ok(db.b.commit(w2));
    db.stmt(reader);
    let ids: Vec<i64> = db
        .sel(reader)
        .iter()
        .filter_map(|r| r[0].as_i64())
        .collect();
    assert_eq!(ids, vec![1, 3]);
    // RR keeps its first snapshot.
    db.stmt(later);
    assert_eq!(db.sel(later).len(), 1);
    ok(db.b.commit(reader));
    ok(db.b.commit(late));
    ok(db.b.commit(later));
}

/// Memory per row drives point-query speed (cache misses) and insert speed
/// (fresh pages): keep the hot structures at their intended sizes.
#[test]
fn hot_structures_stay_small() {
    use std::mem::size_of;
    assert_eq!(size_of::<crate::keys::IndexKey>(), 16);
    assert_eq!(size_of::<crate::table::Posting>(), 16);
    // 32 bytes of version header and links, 48 of row (inline up to 46
    // bytes of encoded values).
    assert_eq!(size_of::<Option<crate::table::LogicalRow>>(), 80);
}

// ------------------------------------------------------------ packed rows

#[test]
fn every_value_kind_survives_packing_and_text_keys_probe_in_place() {
    let b = MemoryBackend::new();
    let mut def = table_def(5, &["id", "v", "x"]);
    def.columns[2].data_type = DataType::TEXT;
    let x = ok(b.begin(RC, false));
    ok(b.begin_statement(x, &LockWait::default()));
    ok(b.create_table(x, &def));
    ok(b.create_index(x, &index_def(50, 5, "t5_v", &[1], true), &def));
    let odd = [
        Value::Null,
        Value::Bool(true),
        Value::Float8(-0.125),
        Value::Numeric(Numeric::parse("123.4500").unwrap_or_else(Numeric::nan)),
        Value::Bytea(RVec::from(vec![0u8, 1, 255])),
        Value::TimestampTz(-5),
        Value::Interval(Interval {
            months: 1,
            days: -2,
            micros: 3,
        }),
        Value::Uuid([7; 16]),
        Value::Jsonb("{\"k\": 1}".into()),
        Value::Array(ArrayValue::one_dim(
            TypeId::Int4,
            vec![Value::Int4(1), Value::Null],
        )),
    ];
    let rows: Vec<Vec<Value>> = odd
        .iter()
        .enumerate()
        .map(|(n, v)| vec![i(n as i32), t(&format!("key{n}")), v.clone()])
        .collect();
    ok(b.insert_ids(x, 5, &batch(&rows)));
    ok(b.begin_statement(x, &LockWait::default()));
    let mut back = drain(ok(b.scan(x, 5, &all())), 0);
    back.sort_by_key(|r| r[0].as_i64());
    assert_eq!(back, rows);
    let hit = drain(
        ok(b.index_scan(
            x,
            5,
            50,
            &IndexQuery::Eq(RVec::from(vec![t("key3")])),
            &all(),
            false,
        )),
        0,
    );
    assert_eq!(hit, vec![rows[3].clone()]);
    let e = err(b.insert_ids(x, 5, &batch(&[vec![i(99), t("key3"), Value::Null]])));
    assert_eq!(e.sqlstate, SqlState::UNIQUE_VIOLATION);
    let detail = e.detail().map(|d| d.to_string());
    assert!(detail.is_some_and(|d| d.contains("(v)=(key3)")), "{e}");
    ok(b.commit(x));
}

#[test]
fn more_than_1600_columns_is_refused() {
    let b = MemoryBackend::new();
    let names: Vec<String> = (0..1601).map(|n| format!("c{n}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let x = ok(b.begin(RC, false));
    let e = err(b.create_table(x, &table_def(6, &refs)));
    assert_eq!(e.sqlstate, SqlState::new(b"54011"));
    ok(b.create_table(x, &table_def(6, &refs[..1600])));
    ok(b.rollback(x));
}

// ------------------------------------------------- the per-thread table cache

impl Db {
    /// `v` of the row with key `k`, by a point read.
    fn fetch_v(&self, x: TxnId, k: i32) -> AResult<Option<Value>> {
        let mut out = RowBatch::new(2);
        match self
            .b
            .fetch(x, T, PK, RSlice::from_slice(&[i(k)]), &all(), &mut out)
        {
            ROk(()) => ROk(out.row(0).map(|r| r[1].clone())),
            RErr(e) => RErr(e),
        }
    }
}

#[test]
fn point_reads_follow_drops_and_their_rollbacks() {
    let db = Db::new();
    db.seed(3);
    let r = db.begin(RC);
    assert_eq!(ok(db.fetch_v(r, 2)), Some(t("v2")));
    ok(db.b.commit(r));
    // Dropped, then rolled back: the table is back, with its rows.
    let x = db.begin(RC);
    ok(db.b.drop_table(x, T));
    ok(db.b.rollback(x));
    let r = db.begin(RC);
    assert_eq!(ok(db.fetch_v(r, 2)), Some(t("v2")));
    ok(db.b.commit(r));
    // Dropped for good: no stale table behind the next read, and its rows
    // are freed although this thread read it last.
    let used = db.b.memory_used();
    assert!(used > 0);
    let x = db.begin(RC);
    ok(db.b.drop_table(x, T));
    ok(db.b.commit(x));
    assert!(db.b.memory_used() < used);
    let r = db.begin(RC);
    assert_eq!(err(db.fetch_v(r, 2)).sqlstate, SqlState::UNDEFINED_TABLE);
    ok(db.b.commit(r));
    // A second backend's table of the same id is its own.
    let other = Db::new();
    other.seed(1);
    let r = other.begin(RC);
    assert_eq!(ok(other.fetch_v(r, 1)), Some(t("v1")));
    assert_eq!(ok(other.fetch_v(r, 2)), None);
    ok(other.b.commit(r));
}

// ---------------------------------------------------------- autocommit reads

#[test]
fn autocommit_reads_see_the_latest_commit_and_nothing_uncommitted() {
    let db = Db::new();
    db.seed(2);
    let w = db.begin(RC);
    db.ins(w, &[vec![i(3), t("v3")]]);
    let r = db.row_id_of(w, 1);
    db.upd(w, r, vec![i(1), t("changed")]);
    // The open writer's insert and update are not seen.
    assert_eq!(ok(db.fetch_v(AUTOCOMMIT_READ, 1)), Some(t("v1")));
    assert_eq!(ok(db.fetch_v(AUTOCOMMIT_READ, 3)), None);
    assert_eq!(db.sel(AUTOCOMMIT_READ).len(), 2);
    assert_eq!(
        db.eq(AUTOCOMMIT_READ, vec![i(2)]),
        vec![vec![i(2), t("v2")]]
    );
    ok(db.b.commit(w));
    // Each call reads the latest committed state.
    assert_eq!(ok(db.fetch_v(AUTOCOMMIT_READ, 1)), Some(t("changed")));
    assert_eq!(ok(db.fetch_v(AUTOCOMMIT_READ, 3)), Some(t("v3")));
    assert_eq!(db.sel(AUTOCOMMIT_READ).len(), 3);
    assert!(ok(db.b.info()).autocommit_reads);
}

#[test]
fn autocommit_reads_refuse_a_table_under_uncommitted_ddl_instead_of_waiting() {
    let db = Db::new();
    db.seed(2);
    let d = db.begin(RC);
    ok(db.b.truncate(d, T));
    let e = err(db.fetch_v(AUTOCOMMIT_READ, 1));
    assert_eq!(e.sqlstate, SqlState::LOCK_NOT_AVAILABLE);
    assert_eq!(
        err_c(db.b.scan(AUTOCOMMIT_READ, T, &all()))
            .sqlstate
            .as_str(),
        "55P03"
    );
    ok(db.b.rollback(d));
    // The rolled-back TRUNCATE left the rows; the table reads again.
    assert_eq!(ok(db.fetch_v(AUTOCOMMIT_READ, 1)), Some(t("v1")));
    assert_eq!(db.sel(AUTOCOMMIT_READ).len(), 2);
}

#[test]
fn an_autocommit_cursor_keeps_its_snapshot_while_updates_prune_old_versions() {
    let db = Db::new();
    db.seed(1);
    // Opened, not read yet: it has no transaction, so only its pin keeps
    // the version it sees from the pruning the updates below do.
    let cursor = ok(db.b.scan(AUTOCOMMIT_READ, T, &all()));
    for n in 0..50 {
        let x = db.begin(RC);
        let r = db.row_id_of(x, 1);
        db.upd(x, r, vec![i(1), t(&format!("value {n}"))]);
        ok(db.b.commit(x));
    }
    assert_eq!(drain(cursor, 0), vec![vec![i(1), t("v1")]]);
    // With the cursor gone, pruning goes on: the row's versions are
    // freed down to what the horizon allows.
    let x = db.begin(RC);
    let r = db.row_id_of(x, 1);
    db.upd(x, r, vec![i(1), t("last")]);
    ok(db.b.commit(x));
    let before = db.b.memory_used();
    for _ in 0..3 {
        let x = db.begin(RC);
        let r = db.row_id_of(x, 1);
        db.upd(x, r, vec![i(1), t("last")]);
        ok(db.b.commit(x));
    }
    assert!(db.b.memory_used() <= before, "versions are pruned again");
    assert_eq!(ok(db.fetch_v(AUTOCOMMIT_READ, 1)), Some(t("last")));
}
