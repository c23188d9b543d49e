//! The durable backend: a volatile MVCC backend (`in_memory`, reached
//! through the registry) made durable by logging every committed change.
//!
//! Reads pass straight through. Writes are applied to the inner backend
//! first (it checks constraints and takes locks) and, when they succeed,
//! encoded into the transaction's redo buffer. COMMIT commits the inner
//! transaction and appends the buffer as one WAL frame under one lock, so
//! the log's order is the commit order; the fsync happens after the lock is
//! released, shared with concurrent committers. Nothing uncommitted ever
//! reaches the log, so recovery is redo-only.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use aiondb_sdk::abi_stable::std_types::RArc;
use aiondb_sdk::persist::{self, Writer};
use aiondb_sdk::plugin::StorageBackendBox;
use aiondb_sdk::prelude::*;

use crate::recovery::{self, Committed};
use crate::wal::{self, CommitPolicy, Wal};
use crate::{manifest, snapshot};

pub(crate) const REC_TXN: u8 = 1;
pub(crate) const REC_CATALOG: u8 = 2;

pub(crate) const OP_CREATE_TABLE: u8 = 1;
pub(crate) const OP_ALTER_TABLE: u8 = 2;
pub(crate) const OP_DROP_TABLE: u8 = 3;
pub(crate) const OP_TRUNCATE: u8 = 4;
pub(crate) const OP_CREATE_INDEX: u8 = 5;
pub(crate) const OP_DROP_INDEX: u8 = 6;
pub(crate) const OP_INSERT: u8 = 7;
pub(crate) const OP_UPDATE: u8 = 8;
pub(crate) const OP_DELETE: u8 = 9;
pub(crate) const OP_CATALOG: u8 = 10;

const SHARDS: usize = 16;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn io_error(what: &str, e: std::io::Error) -> AionError {
    AionError::new(SqlState::IO_ERROR, format!("{what}: {e}"))
}

/// A change to the set of stored tables, applied to [`Committed`] when its
/// transaction commits.
#[derive(Clone, Debug)]
pub(crate) enum Ddl {
    Create(TableDef),
    Alter(TableDef),
    Drop(TableId),
    CreateIndex(IndexDef),
    DropIndex(TableId, IndexId),
}

/// What one running transaction will log at commit.
struct TxnLog {
    /// Frame header space, the record type, then the ops.
    buf: Vec<u8>,
    catalog: Vec<CatalogEntry>,
    ddl: Vec<Ddl>,
    /// (name, buf, catalog, ddl) lengths when each savepoint was set.
    savepoints: Vec<(String, usize, usize, usize)>,
}

const LOG_START: usize = wal::FRAME_HEADER + 1;

impl Default for TxnLog {
    /// An empty log: frame header space and the record type.
    fn default() -> TxnLog {
        let mut buf = Vec::with_capacity(256);
        buf.resize(wal::FRAME_HEADER, 0);
        buf.push(REC_TXN);
        TxnLog {
            buf,
            catalog: Vec::new(),
            ddl: Vec::new(),
            savepoints: Vec::new(),
        }
    }
}

impl TxnLog {
    fn is_empty(&self) -> bool {
        self.buf.len() <= LOG_START && self.catalog.is_empty()
    }

    fn writer(&mut self) -> Writer {
        Writer {
            buf: std::mem::take(&mut self.buf),
        }
    }
}

/// Fills in the frame header reserved at the front of `buf`.
pub(crate) fn seal(buf: &mut [u8]) -> DbResult<()> {
    let len = buf.len() - wal::FRAME_HEADER;
    if len > wal::MAX_FRAME {
        return Err(AionError::new(
            SqlState::PROGRAM_LIMIT_EXCEEDED,
            format!(
                "transaction too large for one WAL record ({len} bytes, limit {})",
                wal::MAX_FRAME
            ),
        )
        .with_hint("split the change into several transactions"));
    }
    let len_bytes = (len as u32).to_le_bytes();
    let mut h = crc32fast::Hasher::new();
    h.update(&len_bytes);
    h.update(&buf[wal::FRAME_HEADER..]);
    buf[0..4].copy_from_slice(&len_bytes);
    buf[4..8].copy_from_slice(&h.finalize().to_le_bytes());
    Ok(())
}

pub(crate) fn write_entries(w: &mut Writer, entries: &[CatalogEntry]) {
    w.u32(entries.len() as u32);
    for e in entries {
        w.bytes(&e.key);
        match &e.value {
            ROption::RSome(v) => {
                w.u8(1);
                w.bytes(v);
            }
            ROption::RNone => w.u8(0),
        }
    }
}

pub(crate) fn read_entries(r: &mut persist::Reader) -> DbResult<Vec<CatalogEntry>> {
    let n = r.count(5)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let key = RVec::from(r.bytes()?.to_vec());
        let value = match r.u8()? {
            0 => ROption::RNone,
            1 => ROption::RSome(RVec::from(r.bytes()?.to_vec())),
            b => return Err(persist::corrupt(&format!("bad option tag {b}"))),
        };
        out.push(CatalogEntry { key, value });
    }
    Ok(out)
}

pub(crate) fn write_rows(w: &mut Writer, table: TableId, ids: &[RowId], rows: &RowBatch) {
    w.u64(table);
    w.u32(ids.len() as u32);
    w.u32(rows.width() as u32);
    for (id, row) in ids.iter().zip(rows.rows()) {
        w.u64(*id);
        for v in row {
            w.value(v);
        }
    }
}

/// The open data directory.
pub(crate) struct Open {
    pub inner: RArc<StorageBackendBox>,
    pub dir: PathBuf,
    pub wal: Wal,
    logs: Vec<Mutex<HashMap<TxnId, TxnLog>>>,
    /// Held while committing (inner commit + WAL append) and while a
    /// checkpoint fixes its snapshot point: the log order is the commit
    /// order, and a checkpoint sees exactly the commits logged before it.
    pub committed: Mutex<Committed>,
    /// Bumped by every committed table DDL: a checkpoint that overlapped
    /// one is retried.
    ddl_epoch: AtomicU64,
    checkpoint_lock: Mutex<()>,
    /// Refuses writes after a failed WAL write or fsync.
    broken: AtomicBool,
    stop: Mutex<bool>,
    wake: Condvar,
    checkpoint_bytes: u64,
    /// Keeps other processes out of the directory until closed.
    lock_file: Mutex<Option<File>>,
}

impl Open {
    fn shard(&self, txn: TxnId) -> MutexGuard<'_, HashMap<TxnId, TxnLog>> {
        lock(&self.logs[(txn as usize) % SHARDS])
    }

    fn with_log<R>(&self, txn: TxnId, f: impl FnOnce(&mut TxnLog) -> R) -> R {
        let mut shard = self.shard(txn);
        f(shard.entry(txn).or_default())
    }

    /// Appends one op to `txn`'s redo buffer, and the change it makes to
    /// the stored tables, if any.
    fn log_op(&self, txn: TxnId, ddl: Option<Ddl>, encode: impl FnOnce(&mut Writer)) {
        self.with_log(txn, |l| {
            let mut w = l.writer();
            encode(&mut w);
            l.buf = w.buf;
            l.ddl.extend(ddl);
        })
    }

    fn check_writable(&self) -> DbResult<()> {
        if self.broken.load(Ordering::Acquire) {
            return Err(AionError::new(
                SqlState::IO_ERROR,
                "the write-ahead log failed earlier; this server accepts no more writes",
            )
            .with_hint(
                "restart the server: recovery replays the log up to the last complete commit",
            ));
        }
        Ok(())
    }

    fn fail(&self, what: &str, e: std::io::Error) -> AionError {
        self.broken.store(true, Ordering::Release);
        log::error!("{what}: {e}; no more writes are accepted until restart");
        io_error(what, e)
    }

    fn commit(&self, txn: TxnId) -> DbResult<()> {
        let log = self.shard(txn).remove(&txn);
        let Some(mut log) = log.filter(|l| !l.is_empty()) else {
            return self.inner.commit(txn).into_result();
        };
        if let Err(e) = self.check_writable().and_then(|()| {
            if !log.catalog.is_empty() {
                let mut w = log.writer();
                w.u8(OP_CATALOG);
                write_entries(&mut w, &log.catalog);
                log.buf = w.buf;
            }
            seal(&mut log.buf)
        }) {
            let _ = self.inner.rollback(txn);
            return Err(e);
        }
        let position = {
            let mut c = lock(&self.committed);
            self.inner.commit(txn).into_result()?;
            let position = self
                .wal
                .append(&log.buf)
                .map_err(|e| self.fail("could not write to the write-ahead log", e))?;
            c.apply(&log.ddl, &log.catalog);
            if !log.ddl.is_empty() {
                self.ddl_epoch.fetch_add(1, Ordering::AcqRel);
            }
            position
        };
        self.wal
            .commit_sync(position)
            .map_err(|e| self.fail("could not fsync the write-ahead log", e))?;
        if self.wal.bytes_since_checkpoint() > self.checkpoint_bytes {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Sequence state: logged at once, outside any transaction.
    fn log_standalone(&self, entries: &[CatalogEntry]) -> DbResult<()> {
        self.check_writable()?;
        let mut w = Writer::new();
        w.buf.resize(wal::FRAME_HEADER, 0);
        w.u8(REC_CATALOG);
        write_entries(&mut w, entries);
        seal(&mut w.buf)?;
        let mut c = lock(&self.committed);
        self.wal
            .append(&w.buf)
            .map_err(|e| self.fail("could not write to the write-ahead log", e))?;
        c.apply(&[], entries);
        Ok(())
    }

    /// Writes a snapshot of everything committed so far and retires the
    /// log before it. Returns false when a concurrent DDL made it give up
    /// (the next one retries).
    pub fn checkpoint(&self) -> DbResult<bool> {
        let _one = lock(&self.checkpoint_lock);
        let epoch = self.ddl_epoch.load(Ordering::Acquire);
        let (segment, txn, image) = {
            let c = lock(&self.committed);
            let segment = self
                .wal
                .rotate()
                .map_err(|e| io_error("could not start a new WAL segment", e))?;
            self.wal.reset_checkpoint_counter();
            let txn = self
                .inner
                .begin(IsolationLevel::RepeatableRead, true)
                .into_result()?;
            if let Err(e) = self
                .inner
                .begin_statement(txn, &LockWait::default())
                .into_result()
            {
                let _ = self.inner.rollback(txn);
                return Err(e);
            }
            (segment, txn, c.clone())
        };
        let started = std::time::Instant::now();
        let written = snapshot::write(&self.dir, segment, &image, &self.inner, txn, || {
            self.ddl_epoch.load(Ordering::Acquire) != epoch
        });
        let _ = self.inner.commit(txn);
        let Some(stats) = written? else {
            log::info!("checkpoint skipped: a table definition changed while it ran");
            return Ok(false);
        };
        let retired = self
            .wal
            .retire_before(segment)
            .map_err(|e| io_error("could not remove old WAL segments", e))?;
        snapshot::retire_before(&self.dir, segment)
            .map_err(|e| io_error("could not remove old snapshots", e))?;
        log::info!(
            "checkpoint: {} tables, {} rows, {} bytes in {:?}; {} WAL segment(s) retired",
            stats.tables,
            stats.rows,
            stats.bytes,
            started.elapsed(),
            retired
        );
        Ok(true)
    }

    fn checkpointer(self: Arc<Self>, interval: Duration) {
        let mut stop = lock(&self.stop);
        loop {
            if *stop {
                return;
            }
            let (guard, _) = self
                .wake
                .wait_timeout(stop, interval)
                .unwrap_or_else(|e| e.into_inner());
            stop = guard;
            if *stop {
                return;
            }
            if self.wal.bytes_since_checkpoint() == 0 {
                continue;
            }
            drop(stop);
            if let Err(e) = self.checkpoint() {
                log::warn!("checkpoint failed: {e}");
            }
            stop = lock(&self.stop);
        }
    }
}

/// `storage.backend/1` key `durable`.
pub struct DurableBackend {
    /// Taken by `open`: kept, it would keep the kernel (which keeps this
    /// backend) alive forever.
    host: Mutex<Option<HostRef>>,
    open: OnceLock<Arc<Open>>,
    checkpointer: Mutex<Option<JoinHandle<()>>>,
}

fn setting_text(host: &HostRef, key: &str) -> Option<String> {
    match host.setting(RStr::from_str(key)) {
        ROption::RSome(SettingValue::Text(t)) => Some(t.to_string()),
        _ => None,
    }
}

fn setting_u64(host: &HostRef, key: &str) -> Option<u64> {
    match host.setting(RStr::from_str(key)) {
        ROption::RSome(SettingValue::U64(n)) => Some(n),
        _ => None,
    }
}

fn not_open() -> AionError {
    AionError::new(
        SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
        "the durable storage backend is not open",
    )
}

/// The directory is refused with this when it is not on encrypted storage.
pub(crate) fn unencrypted_error(dir: &Path, what: &str) -> AionError {
    AionError::new(
        SqlState::new(b"58000"),
        format!(
            "refusing to use data directory \"{}\": it is not on an encrypted filesystem ({what})",
            dir.display()
        ),
    )
    .with_hint(
        "put it on dm-crypt/LUKS (or eCryptfs), or accept unencrypted storage with \
         AIONDB_ALLOW_UNENCRYPTED_STORAGE=true or --allow-unencrypted-storage",
    )
}

impl DurableBackend {
    pub fn new(host: HostRef) -> Self {
        DurableBackend {
            host: Mutex::new(Some(host)),
            open: OnceLock::new(),
            checkpointer: Mutex::new(None),
        }
    }

    fn get(&self) -> DbResult<&Arc<Open>> {
        self.open.get().ok_or_else(not_open)
    }

    fn inner(&self) -> DbResult<&StorageBackendBox> {
        Ok(&self.get()?.inner)
    }

    /// A call the inner backend answers unchanged (reads, locks, begin).
    fn pass<T>(&self, f: impl FnOnce(&StorageBackendBox) -> AResult<T>) -> AResult<T> {
        match self.inner() {
            Ok(i) => f(i),
            Err(e) => RErr(e),
        }
    }

    fn open_impl(&self, options: &StorageOptions) -> DbResult<()> {
        if self.open.get().is_some() {
            return Ok(());
        }
        let ROption::RSome(dir) = &options.data_dir else {
            return Err(AionError::new(
                SqlState::CONFIG_FILE_ERROR,
                "the durable storage backend needs a data directory",
            )
            .with_hint("pass --data-dir PATH (or AIONDB_DATA_DIR), or run with --ephemeral"));
        };
        let dir = PathBuf::from(dir.as_str());
        let Some(host) = lock(&self.host).clone() else {
            return Err(not_open());
        };
        if !options.allow_unencrypted {
            if let Err(what) = crate::fscheck::encryption_of(&dir) {
                return Err(unencrypted_error(&dir, &what));
            }
        }
        std::fs::create_dir_all(&dir)
            .map_err(|e| io_error(&format!("could not create \"{}\"", dir.display()), e))?;
        manifest_check(&dir)?;
        let lock_file = File::create(dir.join("LOCK"))
            .map_err(|e| io_error("could not create the directory lock", e))?;
        if lock_file.try_lock().is_err() {
            return Err(AionError::new(
                SqlState::new(b"55006"),
                format!(
                    "data directory \"{}\" is in use by another AionDB process",
                    dir.display()
                ),
            ));
        }
        let ROption::RSome(inner) = host.storage_backend(RStr::from_str("in_memory")) else {
            return Err(AionError::new(
                SqlState::FEATURE_NOT_SUPPORTED,
                "the durable backend stores its tables through storage.backend/1:in_memory, which no loaded plugin provides",
            )
            .with_hint("load the storage-memory plugin"));
        };
        inner
            .open(&StorageOptions {
                data_dir: ROption::RNone,
                allow_unencrypted: true,
                memory_limit_bytes: options.memory_limit_bytes,
            })
            .into_result()?;
        let policy_text = setting_text(&host, "AIONDB_STORAGE_DURABLE_WAL_COMMIT_POLICY")
            .unwrap_or_else(|| "always".into());
        let policy = CommitPolicy::parse(&policy_text).ok_or_else(|| {
            AionError::new(
                SqlState::INVALID_PARAMETER_VALUE,
                format!("invalid WAL commit policy \"{policy_text}\" (always, never or every:N)"),
            )
        })?;
        let segment_bytes =
            setting_u64(&host, "AIONDB_STORAGE_DURABLE_WAL_SEGMENT_BYTES").unwrap_or(64 << 20);
        let interval = setting_u64(&host, "AIONDB_STORAGE_CHECKPOINT_INTERVAL_MS")
            .unwrap_or(60_000)
            .max(10);

        let recovered = recovery::recover(&dir, &inner)?;
        let wal = Wal::open(
            &dir.join("wal"),
            recovered.next_segment,
            policy,
            segment_bytes,
        )
        .map_err(|e| io_error("could not open the write-ahead log", e))?;
        let open = Arc::new(Open {
            inner,
            dir,
            wal,
            logs: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            committed: Mutex::new(recovered.committed),
            ddl_epoch: AtomicU64::new(0),
            checkpoint_lock: Mutex::new(()),
            broken: AtomicBool::new(false),
            stop: Mutex::new(false),
            wake: Condvar::new(),
            checkpoint_bytes: (segment_bytes * 4).max(256 << 20),
            lock_file: Mutex::new(Some(lock_file)),
        });
        if recovered.replayed {
            // Row ids were renumbered while replaying: the old log must not
            // be replayed again, so a fresh snapshot replaces it now.
            if !open.checkpoint()? {
                return Err(AionError::new(
                    SqlState::INTERNAL_ERROR,
                    "the checkpoint after recovery could not complete",
                ));
            }
        }
        let worker = Arc::clone(&open);
        let handle = std::thread::Builder::new()
            .name("aiondb-checkpointer".into())
            .spawn(move || worker.checkpointer(Duration::from_millis(interval)))
            .map_err(|e| io_error("could not start the checkpointer", e))?;
        *lock(&self.checkpointer) = Some(handle);
        let _ = self.open.set(open);
        lock(&self.host).take();
        Ok(())
    }

    fn close_impl(&self) -> DbResult<()> {
        let Some(open) = self.open.get() else {
            return Ok(());
        };
        *lock(&open.stop) = true;
        open.wake.notify_all();
        if let Some(h) = lock(&self.checkpointer).take() {
            let _ = h.join();
        }
        if open.wal.bytes_since_checkpoint() > 0 && !open.broken.load(Ordering::Acquire) {
            open.checkpoint()?;
        }
        open.wal
            .sync_all()
            .map_err(|e| io_error("could not fsync the write-ahead log", e))?;
        let (frames, syncs) = open.wal.counts();
        log::info!(
            "durable storage closed: {frames} WAL records written with {syncs} commit fsyncs"
        );
        // Another process (or a reopen in this one) may use it now.
        lock(&open.lock_file).take();
        Ok(())
    }
}

/// Refuses directories without a manifest that hold storage files, and
/// manifests of another format; writes the manifest of a new directory.
pub(crate) fn manifest_check(dir: &Path) -> DbResult<()> {
    let state =
        manifest::read(dir).map_err(|e| io_error("could not read the storage manifest", e))?;
    match state {
        manifest::ManifestState::Present(m) => check_manifest_version(dir, &m),
        manifest::ManifestState::Missing => {
            if crate::doctor::has_storage_files(dir) {
                return Err(AionError::new(
                    SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
                    format!(
                        "data directory \"{}\" holds storage files but no storage manifest ({})",
                        dir.display(),
                        manifest::FILE
                    ),
                )
                .with_hint(format!(
                    "run `aiondb upgrade --data-dir {}` to check it and write the manifest",
                    dir.display()
                )));
            }
            manifest::write(dir, &manifest::new_manifest())
                .map_err(|e| io_error("could not write the storage manifest", e))
        }
        manifest::ManifestState::Invalid(why) => Err(AionError::new(
            SqlState::DATA_CORRUPTED,
            format!(
                "the storage manifest of \"{}\" is unreadable: {why}",
                dir.display()
            ),
        )
        .with_hint(format!(
            "run `aiondb doctor --data-dir {}` for details",
            dir.display()
        ))),
    }
}

pub(crate) fn check_manifest_version(dir: &Path, m: &manifest::Manifest) -> DbResult<()> {
    if m.backend != "durable" {
        return Err(AionError::new(
            SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!(
                "data directory \"{}\" belongs to the {} backend, not durable",
                dir.display(),
                m.backend
            ),
        ));
    }
    if m.format_version > manifest::FORMAT_VERSION {
        return Err(AionError::new(
            SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!(
                "data directory \"{}\" uses storage format {} (written by AionDB {}); this build reads format {}",
                dir.display(),
                m.format_version,
                m.engine_version,
                manifest::FORMAT_VERSION
            ),
        )
        .with_hint("run a newer AionDB"));
    }
    if m.format_version < manifest::FORMAT_VERSION {
        return Err(AionError::new(
            SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!(
                "data directory \"{}\" uses storage format {}; this build needs format {}",
                dir.display(),
                m.format_version,
                manifest::FORMAT_VERSION
            ),
        )
        .with_hint(format!(
            "run `aiondb upgrade --data-dir {}` (it backs the directory up first)",
            dir.display()
        )));
    }
    Ok(())
}

fn r<T>(x: DbResult<T>) -> AResult<T> {
    x.into()
}

impl StorageBackend for DurableBackend {
    fn info(&self) -> AResult<BackendInfo> {
        // Reads pass through to the inner backend: its autocommit reads
        // are ours.
        let (methods, autocommit_reads) = match self.inner() {
            Ok(i) => i
                .info()
                .into_result()
                .map(|i| (i.index_methods, i.autocommit_reads))
                .unwrap_or_default(),
            Err(_) => (RVec::from(vec![RString::from("btree")]), false),
        };
        r(Ok(BackendInfo {
            persistent: true,
            mvcc: true,
            max_isolation: IsolationLevel::Serializable,
            index_methods: methods,
            autocommit_reads,
        }))
    }

    fn open(&self, options: &StorageOptions) -> AResult<()> {
        r(self.open_impl(options))
    }

    fn begin(&self, isolation: IsolationLevel, read_only: bool) -> AResult<TxnId> {
        self.pass(|i| i.begin(isolation, read_only))
    }

    fn begin_statement(&self, txn: TxnId, wait: &LockWait) -> AResult<()> {
        self.pass(|i| i.begin_statement(txn, wait))
    }

    fn commit(&self, txn: TxnId) -> AResult<()> {
        r(self.get().and_then(|o| o.commit(txn)))
    }

    fn rollback(&self, txn: TxnId) -> AResult<()> {
        r(self.get().and_then(|o| {
            o.shard(txn).remove(&txn);
            o.inner.rollback(txn).into_result()
        }))
    }

    fn savepoint(&self, txn: TxnId, name: RStr<'_>) -> AResult<()> {
        r(self.get().and_then(|o| {
            o.inner.savepoint(txn, name).into_result()?;
            o.with_log(txn, |l| {
                let mark = (name.to_string(), l.buf.len(), l.catalog.len(), l.ddl.len());
                l.savepoints.push(mark);
            });
            Ok(())
        }))
    }

    fn rollback_to_savepoint(&self, txn: TxnId, name: RStr<'_>) -> AResult<()> {
        r(self.get().and_then(|o| {
            o.inner.rollback_to_savepoint(txn, name).into_result()?;
            o.with_log(txn, |l| {
                if let Some(pos) = l.savepoints.iter().rposition(|s| s.0 == name.as_str()) {
                    let (_, b, c, d) = l.savepoints[pos].clone();
                    l.savepoints.truncate(pos + 1);
                    l.buf.truncate(b);
                    l.catalog.truncate(c);
                    l.ddl.truncate(d);
                }
            });
            Ok(())
        }))
    }

    fn release_savepoint(&self, txn: TxnId, name: RStr<'_>) -> AResult<()> {
        r(self.get().and_then(|o| {
            o.inner.release_savepoint(txn, name).into_result()?;
            o.with_log(txn, |l| {
                if let Some(pos) = l.savepoints.iter().rposition(|s| s.0 == name.as_str()) {
                    l.savepoints.truncate(pos);
                }
            });
            Ok(())
        }))
    }

    fn create_table(&self, txn: TxnId, table: &TableDef) -> AResult<()> {
        r(self.get().and_then(|o| {
            o.check_writable()?;
            o.inner.create_table(txn, table).into_result()?;
            o.log_op(txn, Some(Ddl::Create(table.clone())), |w| {
                w.u8(OP_CREATE_TABLE);
                persist::write_table(w, table);
            });
            Ok(())
        }))
    }

    fn alter_table(&self, txn: TxnId, old: &TableDef, new: &TableDef, fill: &Value) -> AResult<()> {
        r(self.get().and_then(|o| {
            o.check_writable()?;
            o.inner.alter_table(txn, old, new, fill).into_result()?;
            o.log_op(txn, Some(Ddl::Alter(new.clone())), |w| {
                w.u8(OP_ALTER_TABLE);
                persist::write_table(w, old);
                persist::write_table(w, new);
                w.value(fill);
            });
            Ok(())
        }))
    }

    fn drop_table(&self, txn: TxnId, table: TableId) -> AResult<()> {
        r(self.get().and_then(|o| {
            o.check_writable()?;
            o.inner.drop_table(txn, table).into_result()?;
            o.log_op(txn, Some(Ddl::Drop(table)), |w| {
                w.u8(OP_DROP_TABLE);
                w.u64(table);
            });
            Ok(())
        }))
    }

    fn truncate(&self, txn: TxnId, table: TableId) -> AResult<()> {
        r(self.get().and_then(|o| {
            o.check_writable()?;
            o.inner.truncate(txn, table).into_result()?;
            o.log_op(txn, None, |w| {
                w.u8(OP_TRUNCATE);
                w.u64(table);
            });
            Ok(())
        }))
    }

    fn create_index(&self, txn: TxnId, index: &IndexDef, table: &TableDef) -> AResult<()> {
        r(self.get().and_then(|o| {
            o.check_writable()?;
            o.inner.create_index(txn, index, table).into_result()?;
            o.log_op(txn, Some(Ddl::CreateIndex(index.clone())), |w| {
                w.u8(OP_CREATE_INDEX);
                persist::write_index(w, index);
                persist::write_table(w, table);
            });
            Ok(())
        }))
    }

    fn drop_index(&self, txn: TxnId, table: TableId, index: IndexId) -> AResult<()> {
        r(self.get().and_then(|o| {
            o.check_writable()?;
            o.inner.drop_index(txn, table, index).into_result()?;
            o.log_op(txn, Some(Ddl::DropIndex(table, index)), |w| {
                w.u8(OP_DROP_INDEX);
                w.u64(table);
                w.u64(index);
            });
            Ok(())
        }))
    }

    fn insert(
        &self,
        txn: TxnId,
        table: TableId,
        rows: &RowBatch,
        ids: &mut RVec<RowId>,
    ) -> AResult<()> {
        r(self.get().and_then(|o| {
            o.check_writable()?;
            let first = ids.len();
            o.inner.insert(txn, table, rows, ids).into_result()?;
            o.log_op(txn, None, |w| {
                w.u8(OP_INSERT);
                write_rows(w, table, &ids[first..], rows);
            });
            Ok(())
        }))
    }

    fn lock_row(
        &self,
        txn: TxnId,
        table: TableId,
        row: RowId,
        exclusive: bool,
        wait: &LockWait,
    ) -> AResult<LockOutcome> {
        self.pass(|i| i.lock_row(txn, table, row, exclusive, wait))
    }

    fn update(
        &self,
        txn: TxnId,
        table: TableId,
        row_ids: RSlice<'_, RowId>,
        rows: &RowBatch,
    ) -> AResult<u64> {
        r(self.get().and_then(|o| {
            o.check_writable()?;
            let n = o.inner.update(txn, table, row_ids, rows).into_result()?;
            o.log_op(txn, None, |w| {
                w.u8(OP_UPDATE);
                write_rows(w, table, &row_ids, rows);
            });
            Ok(n)
        }))
    }

    fn delete(&self, txn: TxnId, table: TableId, row_ids: RSlice<'_, RowId>) -> AResult<u64> {
        r(self.get().and_then(|o| {
            o.check_writable()?;
            let n = o.inner.delete(txn, table, row_ids).into_result()?;
            o.log_op(txn, None, |w| {
                w.u8(OP_DELETE);
                w.u64(table);
                w.u32(row_ids.len() as u32);
                for id in row_ids.iter() {
                    w.u64(*id);
                }
            });
            Ok(n)
        }))
    }

    fn scan(&self, txn: TxnId, table: TableId, request: &ScanRequest) -> AResult<RowCursorBox> {
        self.pass(|i| i.scan(txn, table, request))
    }

    fn index_scan(
        &self,
        txn: TxnId,
        table: TableId,
        index: IndexId,
        query: &IndexQuery,
        request: &ScanRequest,
        reverse: bool,
    ) -> AResult<RowCursorBox> {
        self.pass(|i| i.index_scan(txn, table, index, query, request, reverse))
    }

    fn stats(&self, txn: TxnId, table: TableId) -> AResult<TableStats> {
        self.pass(|i| i.stats(txn, table))
    }

    fn checkpoint(&self) -> AResult<()> {
        r(self.get().and_then(|o| o.checkpoint().map(|_| ())))
    }

    fn close(&self) -> AResult<()> {
        r(self.close_impl())
    }

    fn begin_with_statement(
        &self,
        isolation: IsolationLevel,
        read_only: bool,
        wait: &LockWait,
    ) -> AResult<TxnId> {
        self.pass(|i| i.begin_with_statement(isolation, read_only, wait))
    }

    fn fetch(
        &self,
        txn: TxnId,
        table: TableId,
        index: IndexId,
        key: RSlice<'_, Value>,
        request: &ScanRequest,
        out: &mut RowBatch,
    ) -> AResult<()> {
        self.pass(|i| i.fetch(txn, table, index, key, request, out))
    }

    fn log_catalog(&self, txn: TxnId, entries: RSlice<'_, CatalogEntry>) -> AResult<()> {
        r(self.get().and_then(|o| {
            if txn == 0 {
                return o.log_standalone(&entries);
            }
            o.with_log(txn, |l| l.catalog.extend(entries.iter().cloned()));
            Ok(())
        }))
    }

    fn recovered_catalog(&self) -> AResult<RVec<CatalogEntry>> {
        r(self.get().map(|o| lock(&o.committed).catalog_entries()))
    }
}

/// Index columns after ALTER TABLE, as the inner backend maps them: by
/// position when the column count is unchanged, else by name; an index on a
/// dropped column is dropped.
fn remap_indexes(old: &TableDef, new: &TableDef, indexes: &mut BTreeMap<IndexId, IndexDef>) {
    if old.columns.len() == new.columns.len() {
        return;
    }
    indexes.retain(|_, i| {
        let mapped: Option<Vec<u32>> = i
            .columns
            .iter()
            .map(|c| {
                let name = &old.columns.get(*c as usize)?.name;
                new.columns
                    .iter()
                    .position(|n| &n.name == name)
                    .map(|p| p as u32)
            })
            .collect();
        match mapped {
            Some(cols) => {
                i.columns = RVec::from(cols);
                true
            }
            None => false,
        }
    });
}

/// Catalog entries and stored tables as of the last commit.
impl Committed {
    pub(crate) fn apply(&mut self, ddl: &[Ddl], catalog: &[CatalogEntry]) {
        for d in ddl {
            match d {
                Ddl::Create(t) => {
                    self.tables.insert(t.id, (t.clone(), BTreeMap::new()));
                }
                Ddl::Alter(t) => {
                    if let Some(entry) = self.tables.get_mut(&t.id) {
                        let old = std::mem::replace(&mut entry.0, t.clone());
                        remap_indexes(&old, t, &mut entry.1);
                    }
                }
                Ddl::Drop(id) => {
                    self.tables.remove(id);
                }
                Ddl::CreateIndex(i) => {
                    if let Some(entry) = self.tables.get_mut(&i.table) {
                        entry.1.insert(i.id, i.clone());
                    }
                }
                Ddl::DropIndex(table, index) => {
                    if let Some(entry) = self.tables.get_mut(table) {
                        entry.1.remove(index);
                    }
                }
            }
        }
        for e in catalog {
            match &e.value {
                ROption::RSome(v) => {
                    self.catalog.insert(e.key.to_vec(), v.to_vec());
                }
                ROption::RNone => {
                    self.catalog.remove(e.key.as_slice());
                }
            }
        }
    }

    pub(crate) fn catalog_entries(&self) -> RVec<CatalogEntry> {
        self.catalog
            .iter()
            .map(|(k, v)| CatalogEntry {
                key: RVec::from(k.clone()),
                value: ROption::RSome(RVec::from(v.clone())),
            })
            .collect()
    }
}
