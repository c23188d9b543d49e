//! The kernel's catalog: the one place schemas, tables, indexes, sequences
//! and graph labels live. Plugins reach it through the host API.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

use abi_stable::std_types::{ROption, RResult, RStr, RString, RVec};
use aiondb_sdk::capability::CatalogEntry;
use aiondb_sdk::catalog::*;
use aiondb_sdk::error::{AResult, AionError, SqlState};
use aiondb_sdk::persist::{self, Reader, Writer};

/// OID of `pg_catalog`, as in PostgreSQL.
pub const PG_CATALOG_SCHEMA: SchemaId = 11;
/// OID of `public`, as in PostgreSQL.
pub const PUBLIC_SCHEMA: SchemaId = 2200;
/// OID of the bootstrap superuser, as in PostgreSQL.
pub const BOOTSTRAP_ROLE_ID: RoleId = 10;
/// First id handed to user objects (PostgreSQL's FirstNormalObjectId).
const FIRST_USER_ID: u64 = 16384;

struct State {
    version: u64,
    next_id: u64,
    schemas: BTreeMap<SchemaId, SchemaDef>,
    tables: BTreeMap<TableId, TableDef>,
    indexes: BTreeMap<IndexId, IndexDef>,
    sequences: BTreeMap<TableId, SequenceDef>,
    labels: BTreeMap<String, GraphLabelDef>,
    roles: BTreeMap<RoleId, RoleDef>,
    stats: BTreeMap<TableId, TableStatistics>,
    /// Sequence state: (last value, is_called), outside transactions as in
    /// PostgreSQL.
    seq_state: BTreeMap<TableId, (i64, bool)>,
    /// Per session: what `currval` and `lastval` return.
    session_seq: HashMap<u64, SessionSequences>,
    /// Per sequence: the value a persistent backend has logged as used, so
    /// `nextval` logs once per [`SEQUENCE_LOG_AHEAD`] values, as
    /// PostgreSQL does.
    seq_logged: HashMap<TableId, i64>,
}

/// Sequence values logged ahead of use: after a crash a sequence resumes
/// past them (a gap, never a repeat).
const SEQUENCE_LOG_AHEAD: i64 = 32;

/// Where sequence state goes when it changes outside a transaction: the
/// persistent backend's `log_catalog(0, ...)`.
pub type SequenceLog = Box<dyn Fn(&[CatalogEntry]) -> Result<(), AionError> + Send + Sync>;

/// The sequence values one session obtained.
#[derive(Default)]
struct SessionSequences {
    values: HashMap<TableId, i64>,
    last: Option<TableId>,
}

impl SessionSequences {
    fn obtained(&mut self, id: TableId, value: i64) {
        self.values.insert(id, value);
        self.last = Some(id);
    }
}

/// The state of one catalog entry before a change, to put back if the
/// transaction that made the change rolls back.
#[derive(Clone, Debug)]
pub enum UndoEntry {
    Schema(SchemaId, Option<SchemaDef>),
    Table(TableId, Option<TableDef>),
    Index(IndexId, Option<IndexDef>),
    Sequence(TableId, Option<SequenceDef>),
    Label(String, Option<GraphLabelDef>),
    Role(RoleId, Option<RoleDef>),
    Stats(TableId, Option<TableStatistics>),
}

thread_local! {
    /// Undo entries of the statement running on this thread. The session
    /// opens it around each statement (plugins call the catalog on the
    /// thread that runs the statement), so DDL becomes transactional
    /// without a transaction id in the catalog interface.
    static JOURNAL: RefCell<Option<Vec<UndoEntry>>> = const { RefCell::new(None) };
}

/// Starts recording catalog changes made on this thread.
pub fn journal_begin() {
    JOURNAL.with(|j| *j.borrow_mut() = Some(Vec::new()));
}

/// Stops recording and returns what was recorded, oldest first.
pub fn journal_take() -> Vec<UndoEntry> {
    JOURNAL.with(|j| j.borrow_mut().take().unwrap_or_default())
}

fn journal_record(entries: impl FnOnce() -> Vec<UndoEntry>) {
    JOURNAL.with(|j| {
        if let Some(list) = j.borrow_mut().as_mut() {
            list.extend(entries());
        }
    });
}

/// Before-images of every key whose value differs between `before` and
/// `after` (inserted, removed or changed).
fn diff<K: Ord + Clone, V: PartialEq + Clone>(
    before: &BTreeMap<K, V>,
    after: &BTreeMap<K, V>,
    wrap: impl Fn(K, Option<V>) -> UndoEntry,
    out: &mut Vec<UndoEntry>,
) {
    for (k, v) in before {
        if after.get(k) != Some(v) {
            out.push(wrap(k.clone(), Some(v.clone())));
        }
    }
    for k in after.keys() {
        if !before.contains_key(k) {
            out.push(wrap(k.clone(), None));
        }
    }
}

/// An in-memory catalog. Durable backends persist its changes through their
/// WAL and replay them at start.
pub struct KernelCatalog {
    state: RwLock<State>,
    /// `state.version`, readable without the lock: every statement checks
    /// it (plan reuse), few change it.
    version: AtomicU64,
    /// Set once, when the storage backend persists the catalog.
    sequence_log: std::sync::OnceLock<SequenceLog>,
}

impl Default for KernelCatalog {
    fn default() -> Self {
        Self::new()
    }
}

fn schema(id: SchemaId, name: &str) -> SchemaDef {
    SchemaDef {
        id,
        name: RString::from(name),
        owner: RString::from("aiondb"),
    }
}

impl KernelCatalog {
    /// A catalog holding `pg_catalog` and `public`.
    pub fn new() -> Self {
        let mut schemas = BTreeMap::new();
        schemas.insert(PG_CATALOG_SCHEMA, schema(PG_CATALOG_SCHEMA, "pg_catalog"));
        schemas.insert(PUBLIC_SCHEMA, schema(PUBLIC_SCHEMA, "public"));
        KernelCatalog {
            state: RwLock::new(State {
                version: 1,
                next_id: FIRST_USER_ID,
                schemas,
                tables: BTreeMap::new(),
                indexes: BTreeMap::new(),
                sequences: BTreeMap::new(),
                labels: BTreeMap::new(),
                roles: BTreeMap::new(),
                stats: BTreeMap::new(),
                seq_state: BTreeMap::new(),
                session_seq: HashMap::new(),
                seq_logged: HashMap::new(),
            }),
            version: AtomicU64::new(1),
            sequence_log: std::sync::OnceLock::new(),
        }
    }

    /// Puts back the before-images of a rolled-back transaction's changes,
    /// newest first. Entries of other transactions are untouched.
    pub fn undo(&self, entries: Vec<UndoEntry>) {
        if entries.is_empty() {
            return;
        }
        let mut s = self.write();
        fn put<K: Ord, V>(map: &mut BTreeMap<K, V>, k: K, v: Option<V>) {
            match v {
                Some(v) => {
                    map.insert(k, v);
                }
                None => {
                    map.remove(&k);
                }
            }
        }
        for e in entries.into_iter().rev() {
            match e {
                UndoEntry::Schema(k, v) => put(&mut s.schemas, k, v),
                UndoEntry::Table(k, v) => put(&mut s.tables, k, v),
                UndoEntry::Index(k, v) => put(&mut s.indexes, k, v),
                UndoEntry::Sequence(k, v) => put(&mut s.sequences, k, v),
                UndoEntry::Label(k, v) => put(&mut s.labels, k, v),
                UndoEntry::Role(k, v) => put(&mut s.roles, k, v),
                UndoEntry::Stats(k, v) => put(&mut s.stats, k, v),
            }
        }
        s.version += 1;
        self.version.store(s.version, Ordering::Release);
    }

    /// Creates or replaces the bootstrap superuser. It takes OID 10, as
    /// PostgreSQL's bootstrap superuser does.
    pub fn set_bootstrap_role(&self, mut role: RoleDef) {
        let mut s = self.write();
        role.id = BOOTSTRAP_ROLE_ID;
        s.roles.insert(BOOTSTRAP_ROLE_ID, role);
        s.version += 1;
        self.version.store(s.version, Ordering::Release);
    }

    /// Forgets a finished session's `currval`/`lastval` state.
    pub fn end_session(&self, session: u64) {
        self.write().session_seq.remove(&session);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-changed:
        // every change is validated first and applied with plain inserts.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// Catalog entry keys: a kind byte, then the object's key.
mod entry_kind {
    pub const SCHEMA: u8 = 1;
    pub const TABLE: u8 = 2;
    pub const INDEX: u8 = 3;
    pub const SEQUENCE: u8 = 4;
    pub const LABEL: u8 = 5;
    pub const ROLE: u8 = 6;
    pub const STATS: u8 = 7;
    pub const SEQUENCE_STATE: u8 = 8;
    pub const NEXT_ID: u8 = 9;
}

fn entry_key(kind: u8, id: &[u8]) -> RVec<u8> {
    let mut k = Vec::with_capacity(1 + id.len());
    k.push(kind);
    k.extend_from_slice(id);
    RVec::from(k)
}

fn entry<T>(kind: u8, id: &[u8], value: Option<&T>, write: fn(&mut Writer, &T)) -> CatalogEntry {
    CatalogEntry {
        key: entry_key(kind, id),
        value: value
            .map(|v| {
                let mut w = Writer::new();
                write(&mut w, v);
                RVec::from(w.buf)
            })
            .into(),
    }
}

/// Persistence: the catalog as entries a persistent storage backend logs
/// with each transaction's commit and hands back after recovery.
impl KernelCatalog {
    /// The newest value of every entry `journal` touched (deduplicated),
    /// plus the id counter: what a committing transaction logs.
    pub fn entries_for(&self, journal: &[UndoEntry]) -> Vec<CatalogEntry> {
        use entry_kind::*;
        let s = self.read();
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for e in journal {
            let item = match e {
                UndoEntry::Schema(k, _) => entry(
                    SCHEMA,
                    &k.to_le_bytes(),
                    s.schemas.get(k),
                    persist::write_schema,
                ),
                UndoEntry::Table(k, _) => entry(
                    TABLE,
                    &k.to_le_bytes(),
                    s.tables.get(k),
                    persist::write_table,
                ),
                UndoEntry::Index(k, _) => entry(
                    INDEX,
                    &k.to_le_bytes(),
                    s.indexes.get(k),
                    persist::write_index,
                ),
                UndoEntry::Sequence(k, _) => entry(
                    SEQUENCE,
                    &k.to_le_bytes(),
                    s.sequences.get(k),
                    persist::write_sequence,
                ),
                UndoEntry::Label(k, _) => {
                    entry(LABEL, k.as_bytes(), s.labels.get(k), persist::write_label)
                }
                UndoEntry::Role(k, _) => {
                    entry(ROLE, &k.to_le_bytes(), s.roles.get(k), persist::write_role)
                }
                UndoEntry::Stats(k, _) => entry(
                    STATS,
                    &k.to_le_bytes(),
                    s.stats.get(k),
                    persist::write_stats,
                ),
            };
            if seen.insert(item.key.clone()) {
                out.push(item);
            }
        }
        out.push(entry(NEXT_ID, &[], Some(&s.next_id), |w, v| w.u64(*v)));
        out
    }

    /// Loads entries a persistent backend recovered (newest values; `RNone`
    /// removes). Unknown kinds are refused: they come from a newer format.
    pub fn load(&self, entries: &[CatalogEntry]) -> Result<(), AionError> {
        use entry_kind::*;
        let mut s = self.write();
        for e in entries {
            let Some((&kind, key)) = e.key.as_slice().split_first() else {
                return Err(persist::corrupt("empty catalog key"));
            };
            let value = e.value.as_ref().into_option().map(|v| v.as_slice());
            let mut r = value.map(Reader::new);
            let id = || -> Result<u64, AionError> {
                match key.len() {
                    4 => Ok(u64::from(u32::from_le_bytes([
                        key[0], key[1], key[2], key[3],
                    ]))),
                    8 => Ok(u64::from_le_bytes(
                        key.try_into()
                            .map_err(|_| persist::corrupt("catalog key"))?,
                    )),
                    _ => Err(persist::corrupt("catalog key length")),
                }
            };
            fn put<K: Ord, V>(
                map: &mut BTreeMap<K, V>,
                k: K,
                r: Option<&mut Reader>,
                read: fn(&mut Reader) -> DbResultOf<V>,
            ) -> Result<(), AionError> {
                match r {
                    Some(r) => {
                        map.insert(k, read(r)?);
                    }
                    None => {
                        map.remove(&k);
                    }
                }
                Ok(())
            }
            match kind {
                SCHEMA => put(
                    &mut s.schemas,
                    id()? as SchemaId,
                    r.as_mut(),
                    persist::read_schema,
                )?,
                TABLE => put(&mut s.tables, id()?, r.as_mut(), persist::read_table)?,
                INDEX => put(&mut s.indexes, id()?, r.as_mut(), persist::read_index)?,
                SEQUENCE => put(&mut s.sequences, id()?, r.as_mut(), persist::read_sequence)?,
                ROLE => put(&mut s.roles, id()?, r.as_mut(), persist::read_role)?,
                STATS => put(&mut s.stats, id()?, r.as_mut(), persist::read_stats)?,
                LABEL => {
                    let name = String::from_utf8(key.to_vec())
                        .map_err(|_| persist::corrupt("label name"))?;
                    put(&mut s.labels, name, r.as_mut(), persist::read_label)?
                }
                SEQUENCE_STATE => {
                    let id = id()?;
                    match r.as_mut() {
                        Some(r) => {
                            let value = r.i64()?;
                            let called = r.bool()?;
                            s.seq_state.insert(id, (value, called));
                        }
                        None => {
                            s.seq_state.remove(&id);
                        }
                    }
                }
                NEXT_ID => {
                    if let Some(r) = r.as_mut() {
                        s.next_id = s.next_id.max(r.u64()?);
                    }
                }
                k => {
                    return Err(persist::corrupt(&format!(
                        "unknown catalog entry kind {k} (written by a newer AionDB?)"
                    )))
                }
            }
        }
        s.version += 1;
        self.version.store(s.version, Ordering::Release);
        Ok(())
    }

    /// Routes sequence changes (which no transaction owns) to a persistent
    /// backend.
    pub fn set_sequence_log(&self, log: SequenceLog) {
        let _ = self.sequence_log.set(log);
    }

    /// Logs the exact state of every sequence logged ahead, so a clean
    /// shutdown leaves no gap (only a crash does, as in PostgreSQL).
    pub fn persist_sequences_exactly(&self) -> Result<(), AionError> {
        let exact: Vec<(TableId, i64, bool)> = {
            let mut s = self.write();
            let ids: Vec<TableId> = s.seq_logged.drain().map(|(id, _)| id).collect();
            ids.into_iter()
                .filter_map(|id| s.seq_state.get(&id).map(|(v, c)| (id, *v, *c)))
                .collect()
        };
        for (id, value, called) in exact {
            self.log_sequence(id, value, called)?;
        }
        Ok(())
    }

    fn persists_sequences(&self) -> bool {
        self.sequence_log.get().is_some()
    }

    fn log_sequence(&self, id: TableId, value: i64, called: bool) -> Result<(), AionError> {
        let Some(log) = self.sequence_log.get() else {
            return Ok(());
        };
        let e = entry(
            entry_kind::SEQUENCE_STATE,
            &id.to_le_bytes(),
            Some(&(value, called)),
            |w, (v, c)| {
                w.i64(*v);
                w.bool(*c);
            },
        );
        log(&[e])
    }
}

type DbResultOf<T> = Result<T, AionError>;

type Maps = (
    BTreeMap<SchemaId, SchemaDef>,
    BTreeMap<TableId, TableDef>,
    BTreeMap<IndexId, IndexDef>,
    BTreeMap<TableId, SequenceDef>,
    BTreeMap<String, GraphLabelDef>,
    BTreeMap<RoleId, RoleDef>,
);

impl State {
    fn clone_maps(&self) -> Maps {
        (
            self.schemas.clone(),
            self.tables.clone(),
            self.indexes.clone(),
            self.sequences.clone(),
            self.labels.clone(),
            self.roles.clone(),
        )
    }

    fn relation_name_taken(&self, schema: SchemaId, name: &str) -> bool {
        self.tables
            .values()
            .any(|t| t.schema == schema && t.name.as_str() == name)
            || self
                .sequences
                .values()
                .any(|s| s.schema == schema && s.name.as_str() == name)
            || self.indexes.values().any(|i| {
                i.name.as_str() == name
                    && self
                        .tables
                        .get(&i.table)
                        .is_some_and(|t| t.schema == schema)
            })
    }

    fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn apply(&mut self, change: CatalogChange) -> Result<u64, AionError> {
        match change {
            CatalogChange::CreateRole(mut r) => {
                if self.roles.values().any(|x| x.name == r.name) {
                    return Err(role_exists(&r.name));
                }
                let id = self.take_id();
                r.id = id;
                self.roles.insert(id, r);
                Ok(id)
            }
            CatalogChange::AlterRole(r) => {
                let Some(old) = self.roles.get(&r.id) else {
                    return Err(no_role_id(r.id));
                };
                if old.name != r.name && self.roles.values().any(|x| x.name == r.name) {
                    return Err(role_exists(&r.name));
                }
                self.roles.insert(r.id, r);
                Ok(0)
            }
            CatalogChange::DropRole { id } => {
                if self.roles.remove(&id).is_none() {
                    return Err(no_role_id(id));
                }
                Ok(0)
            }
            CatalogChange::CreateSchema(mut s) => {
                if self.schemas.values().any(|x| x.name == s.name) {
                    return Err(AionError::new(
                        SqlState::DUPLICATE_SCHEMA,
                        format!("schema \"{}\" already exists", s.name),
                    ));
                }
                let id = self.take_id() as SchemaId;
                s.id = id;
                self.schemas.insert(id, s);
                Ok(id as u64)
            }
            CatalogChange::DropSchema { id } => {
                let Some(s) = self.schemas.get(&id) else {
                    return Err(AionError::new(
                        SqlState::INVALID_SCHEMA_NAME,
                        format!("schema with id {id} does not exist"),
                    ));
                };
                if id == PG_CATALOG_SCHEMA {
                    return Err(AionError::new(SqlState::INSUFFICIENT_PRIVILEGE, "cannot drop schema pg_catalog because it is required by the database system"));
                }
                if self.tables.values().any(|t| t.schema == id)
                    || self.sequences.values().any(|q| q.schema == id)
                {
                    return Err(AionError::new(
                        SqlState::new(b"2BP01"),
                        format!(
                            "cannot drop schema {} because other objects depend on it",
                            s.name
                        ),
                    )
                    .with_hint("Use DROP ... CASCADE to drop the dependent objects too."));
                }
                self.schemas.remove(&id);
                Ok(0)
            }
            CatalogChange::CreateTable(mut t) => {
                if !self.schemas.contains_key(&t.schema) {
                    return Err(AionError::new(
                        SqlState::INVALID_SCHEMA_NAME,
                        format!("schema with id {} does not exist", t.schema),
                    ));
                }
                if self.relation_name_taken(t.schema, &t.name) {
                    return Err(AionError::new(
                        SqlState::DUPLICATE_TABLE,
                        format!("relation \"{}\" already exists", t.name),
                    ));
                }
                let id = self.take_id();
                t.id = id;
                self.tables.insert(id, t);
                Ok(id)
            }
            CatalogChange::AlterTable(t) => {
                let Some(old) = self.tables.get(&t.id) else {
                    return Err(AionError::new(
                        SqlState::UNDEFINED_TABLE,
                        format!("relation with id {} does not exist", t.id),
                    ));
                };
                if (old.name != t.name || old.schema != t.schema)
                    && self.relation_name_taken(t.schema, &t.name)
                {
                    return Err(AionError::new(
                        SqlState::DUPLICATE_TABLE,
                        format!("relation \"{}\" already exists", t.name),
                    ));
                }
                self.tables.insert(t.id, t);
                Ok(0)
            }
            CatalogChange::DropTable { id } => {
                if self.tables.remove(&id).is_none() {
                    return Err(AionError::new(
                        SqlState::UNDEFINED_TABLE,
                        format!("relation with id {id} does not exist"),
                    ));
                }
                self.indexes.retain(|_, i| i.table != id);
                self.labels.retain(|_, l| l.table != id);
                for s in self.sequences.values_mut() {
                    if s.owned_by
                        .as_ref()
                        .into_option()
                        .is_some_and(|o| o.table == id)
                    {
                        s.owned_by = ROption::RNone;
                    }
                }
                Ok(0)
            }
            CatalogChange::CreateIndex(mut i) => {
                let Some(table) = self.tables.get(&i.table) else {
                    return Err(AionError::new(
                        SqlState::UNDEFINED_TABLE,
                        format!("relation with id {} does not exist", i.table),
                    ));
                };
                if let Some(bad) = i
                    .columns
                    .iter()
                    .find(|&&c| c as usize >= table.columns.len())
                {
                    return Err(AionError::new(
                        SqlState::UNDEFINED_COLUMN,
                        format!("column number {bad} does not exist in \"{}\"", table.name),
                    ));
                }
                if self.relation_name_taken(table.schema, &i.name) {
                    return Err(AionError::new(
                        SqlState::DUPLICATE_TABLE,
                        format!("relation \"{}\" already exists", i.name),
                    ));
                }
                let id = self.take_id();
                i.id = id;
                self.indexes.insert(id, i);
                Ok(id)
            }
            CatalogChange::DropIndex { id } => {
                if self.indexes.remove(&id).is_none() {
                    return Err(AionError::new(
                        SqlState::UNDEFINED_OBJECT,
                        format!("index with id {id} does not exist"),
                    ));
                }
                Ok(0)
            }
            CatalogChange::CreateSequence(mut s) => {
                if !self.schemas.contains_key(&s.schema) {
                    return Err(AionError::new(
                        SqlState::INVALID_SCHEMA_NAME,
                        format!("schema with id {} does not exist", s.schema),
                    ));
                }
                if self.relation_name_taken(s.schema, &s.name) {
                    return Err(AionError::new(
                        SqlState::DUPLICATE_TABLE,
                        format!("relation \"{}\" already exists", s.name),
                    ));
                }
                if s.increment == 0 {
                    return Err(AionError::new(
                        SqlState::INVALID_PARAMETER_VALUE,
                        "INCREMENT must not be zero",
                    ));
                }
                if s.min_value > s.max_value || s.start < s.min_value || s.start > s.max_value {
                    return Err(AionError::new(
                        SqlState::INVALID_PARAMETER_VALUE,
                        format!(
                            "START value ({}) cannot be outside MINVALUE ({}) .. MAXVALUE ({})",
                            s.start, s.min_value, s.max_value
                        ),
                    ));
                }
                let id = self.take_id();
                s.id = id;
                self.sequences.insert(id, s);
                Ok(id)
            }
            CatalogChange::DropSequence { id } => {
                if self.sequences.remove(&id).is_none() {
                    return Err(AionError::new(
                        SqlState::UNDEFINED_TABLE,
                        format!("sequence with id {id} does not exist"),
                    ));
                }
                Ok(0)
            }
            CatalogChange::CreateGraphLabel(l) => {
                if self.labels.contains_key(l.name.as_str()) {
                    return Err(AionError::new(
                        SqlState::DUPLICATE_OBJECT,
                        format!("graph label \"{}\" already exists", l.name),
                    ));
                }
                let Some(table) = self.tables.get(&l.table) else {
                    return Err(AionError::new(
                        SqlState::UNDEFINED_TABLE,
                        format!("relation with id {} does not exist", l.table),
                    ));
                };
                if l.key_columns
                    .iter()
                    .any(|&c| c as usize >= table.columns.len())
                {
                    return Err(AionError::new(
                        SqlState::UNDEFINED_COLUMN,
                        format!("key column out of range for \"{}\"", table.name),
                    ));
                }
                for end in [&l.source, &l.target]
                    .into_iter()
                    .filter_map(|e| e.as_ref().into_option())
                {
                    if !self
                        .labels
                        .get(end.label.as_str())
                        .is_some_and(|n| n.kind == GraphLabelKind::Node)
                    {
                        return Err(AionError::new(
                            SqlState::UNDEFINED_OBJECT,
                            format!("node label \"{}\" does not exist", end.label),
                        ));
                    }
                }
                if l.kind == GraphLabelKind::Edge && (l.source.is_none() || l.target.is_none()) {
                    return Err(AionError::new(
                        SqlState::INVALID_PARAMETER_VALUE,
                        "an edge label needs a source and a target node label",
                    ));
                }
                self.labels.insert(l.name.to_string(), l);
                Ok(0)
            }
            CatalogChange::DropGraphLabel { name } => {
                if self.labels.values().any(|e| {
                    [&e.source, &e.target].into_iter().any(|end| {
                        end.as_ref()
                            .into_option()
                            .is_some_and(|end| end.label == name)
                    })
                }) {
                    return Err(AionError::new(
                        SqlState::new(b"2BP01"),
                        format!("cannot drop graph label {name} because edge labels depend on it"),
                    ));
                }
                if self.labels.remove(name.as_str()).is_none() {
                    return Err(AionError::new(
                        SqlState::UNDEFINED_OBJECT,
                        format!("graph label \"{name}\" does not exist"),
                    ));
                }
                Ok(0)
            }
        }
    }
}

impl Catalog for KernelCatalog {
    fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    fn schemas(&self) -> RVec<SchemaDef> {
        self.read().schemas.values().cloned().collect()
    }

    fn schema_by_name(&self, name: RStr<'_>) -> ROption<SchemaDef> {
        self.read()
            .schemas
            .values()
            .find(|s| s.name.as_str() == name.as_str())
            .cloned()
            .into()
    }

    fn table_by_name(&self, schema: SchemaId, name: RStr<'_>) -> ROption<TableDef> {
        self.read()
            .tables
            .values()
            .find(|t| t.schema == schema && t.name.as_str() == name.as_str())
            .cloned()
            .into()
    }

    fn table_by_id(&self, id: TableId) -> ROption<TableDef> {
        self.read().tables.get(&id).cloned().into()
    }

    fn tables(&self, schema: ROption<SchemaId>) -> RVec<TableDef> {
        let s = self.read();
        s.tables
            .values()
            .filter(|t| {
                schema
                    .as_ref()
                    .into_option()
                    .is_none_or(|id| t.schema == *id)
            })
            .cloned()
            .collect()
    }

    fn indexes_of(&self, table: TableId) -> RVec<IndexDef> {
        self.read()
            .indexes
            .values()
            .filter(|i| i.table == table)
            .cloned()
            .collect()
    }

    fn sequences(&self) -> RVec<SequenceDef> {
        self.read().sequences.values().cloned().collect()
    }

    fn graph_labels(&self) -> RVec<GraphLabelDef> {
        self.read().labels.values().cloned().collect()
    }

    fn apply(&self, change: CatalogChange) -> AResult<ChangeApplied> {
        let mut s = self.write();
        let journaling = JOURNAL.with(|j| j.borrow().is_some());
        let before = journaling.then(|| s.clone_maps());
        let outcome = s.apply(change);
        if let (Some(before), Ok(_)) = (before, &outcome) {
            let mut out = Vec::new();
            diff(&before.0, &s.schemas, UndoEntry::Schema, &mut out);
            diff(&before.1, &s.tables, UndoEntry::Table, &mut out);
            diff(&before.2, &s.indexes, UndoEntry::Index, &mut out);
            diff(&before.3, &s.sequences, UndoEntry::Sequence, &mut out);
            diff(&before.4, &s.labels, UndoEntry::Label, &mut out);
            diff(&before.5, &s.roles, UndoEntry::Role, &mut out);
            journal_record(|| out);
        }
        match outcome {
            Ok(id) => {
                s.version += 1;
                self.version.store(s.version, Ordering::Release);
                RResult::ROk(ChangeApplied {
                    id,
                    version: s.version,
                })
            }
            Err(e) => RResult::RErr(e),
        }
    }

    fn table_stats(&self, table: TableId) -> ROption<TableStatistics> {
        self.read().stats.get(&table).cloned().into()
    }

    fn set_table_stats(&self, table: TableId, stats: TableStatistics) {
        let mut s = self.write();
        if s.tables.contains_key(&table) {
            let old = s.stats.insert(table, stats);
            journal_record(|| vec![UndoEntry::Stats(table, old)]);
        }
    }

    fn sequence_next(&self, session: u64, id: TableId) -> AResult<i64> {
        let mut s = self.write();
        let Some(seq) = s.sequences.get(&id) else {
            return RResult::RErr(no_sequence(id));
        };
        let (last, called) = s.seq_state.get(&id).copied().unwrap_or((seq.start, false));
        let next = if !called {
            last
        } else {
            match last.checked_add(seq.increment) {
                Some(n) if n >= seq.min_value && n <= seq.max_value => n,
                _ if seq.cycle => {
                    if seq.increment > 0 {
                        seq.min_value
                    } else {
                        seq.max_value
                    }
                }
                _ => {
                    let bound = if seq.increment > 0 {
                        "maximum"
                    } else {
                        "minimum"
                    };
                    let v = if seq.increment > 0 {
                        seq.max_value
                    } else {
                        seq.min_value
                    };
                    return RResult::RErr(AionError::new(
                        SqlState::new(b"2200H"),
                        format!(
                            "nextval: reached {bound} value of sequence \"{}\" ({v})",
                            seq.name
                        ),
                    ));
                }
            }
        };
        let wrapped = called && (next - last).signum() != seq.increment.signum();
        let (inc, min, max) = (seq.increment, seq.min_value, seq.max_value);
        s.seq_state.insert(id, (next, true));
        s.session_seq.entry(session).or_default().obtained(id, next);
        let logged = s.seq_logged.get(&id).copied();
        let covered = logged.is_some_and(|l| if inc > 0 { next <= l } else { next >= l });
        if covered && !wrapped || !self.persists_sequences() {
            return RResult::ROk(next);
        }
        // Log a batch ahead of use, or exactly this value near the bound.
        let ahead = inc
            .checked_mul(SEQUENCE_LOG_AHEAD)
            .and_then(|d| next.checked_add(d))
            .filter(|v| *v >= min && *v <= max)
            .unwrap_or(next);
        s.seq_logged.insert(id, ahead);
        drop(s);
        if let Err(e) = self.log_sequence(id, ahead, true) {
            return RResult::RErr(e);
        }
        RResult::ROk(next)
    }

    fn sequence_set(&self, session: u64, id: TableId, value: i64, is_called: bool) -> AResult<()> {
        let mut s = self.write();
        let Some(seq) = s.sequences.get(&id) else {
            return RResult::RErr(no_sequence(id));
        };
        if value < seq.min_value || value > seq.max_value {
            return RResult::RErr(AionError::new(
                SqlState::new(b"22003"),
                format!(
                    "setval: value {value} is out of bounds for sequence \"{}\" ({}..{})",
                    seq.name, seq.min_value, seq.max_value
                ),
            ));
        }
        s.seq_state.insert(id, (value, is_called));
        // The next nextval logs again, whatever was logged ahead.
        s.seq_logged.remove(&id);
        if self.persists_sequences() {
            if let Err(e) = self.log_sequence(id, value, is_called) {
                return RResult::RErr(e);
            }
        }
        if is_called {
            s.session_seq
                .entry(session)
                .or_default()
                .obtained(id, value);
        }
        RResult::ROk(())
    }

    fn sequence_current(&self, session: u64, id: TableId) -> AResult<i64> {
        let s = self.read();
        let Some(seq) = s.sequences.get(&id) else {
            return RResult::RErr(no_sequence(id));
        };
        match s
            .session_seq
            .get(&session)
            .and_then(|ss| ss.values.get(&id))
        {
            Some(v) => RResult::ROk(*v),
            None => RResult::RErr(AionError::new(
                SqlState::new(b"55000"),
                format!(
                    "currval of sequence \"{}\" is not yet defined in this session",
                    seq.name
                ),
            )),
        }
    }

    fn sequence_last(&self, session: u64) -> AResult<i64> {
        let s = self.read();
        let last = s.session_seq.get(&session).and_then(|ss| {
            let id = ss.last?;
            // A dropped sequence leaves lastval undefined, as in PostgreSQL.
            s.sequences
                .contains_key(&id)
                .then(|| ss.values.get(&id).copied())?
        });
        match last {
            Some(v) => RResult::ROk(v),
            None => RResult::RErr(AionError::new(
                SqlState::new(b"55000"),
                "lastval is not yet defined in this session",
            )),
        }
    }

    fn sequence_by_name(&self, schema: SchemaId, name: RStr<'_>) -> ROption<SequenceDef> {
        self.read()
            .sequences
            .values()
            .find(|q| q.schema == schema && q.name.as_str() == name.as_str())
            .cloned()
            .into()
    }

    fn roles(&self) -> RVec<RoleDef> {
        self.read().roles.values().cloned().collect()
    }

    fn sequence_state(&self, id: TableId) -> ROption<SequenceState> {
        let s = self.read();
        let Some(seq) = s.sequences.get(&id) else {
            return ROption::RNone;
        };
        let (last_value, is_called) = s.seq_state.get(&id).copied().unwrap_or((seq.start, false));
        ROption::RSome(SequenceState {
            last_value,
            is_called,
        })
    }

    fn role_by_name(&self, name: RStr<'_>) -> ROption<RoleDef> {
        self.read()
            .roles
            .values()
            .find(|r| r.name.as_str() == name.as_str())
            .cloned()
            .into()
    }
}

fn role_exists(name: &str) -> AionError {
    AionError::new(
        SqlState::DUPLICATE_OBJECT,
        format!("role \"{name}\" already exists"),
    )
}

fn no_role_id(id: RoleId) -> AionError {
    AionError::new(
        SqlState::UNDEFINED_OBJECT,
        format!("role with OID {id} does not exist"),
    )
}

fn no_sequence(id: TableId) -> AionError {
    AionError::new(
        SqlState::new(b"42P01"),
        format!("sequence with id {id} does not exist"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use aiondb_sdk::types::DataType;

    fn table(name: &str) -> TableDef {
        TableDef {
            id: 0,
            schema: PUBLIC_SCHEMA,
            name: name.into(),
            kind: RelationKind::Table,
            columns: RVec::from(vec![ColumnDef {
                name: "id".into(),
                data_type: DataType::INT4,
                nullable: false,
                default_expr: ROption::RNone,
                identity: Identity::None,
            }]),
            constraints: RVec::new(),
            storage_backend: "in_memory".into(),
            view_sql: ROption::RNone,
        }
    }

    #[test]
    fn create_lookup_drop() {
        let c = KernelCatalog::new();
        let v0 = c.version();
        let t = c.apply(CatalogChange::CreateTable(table("t"))).unwrap();
        assert!(t.id >= FIRST_USER_ID && t.version > v0);
        assert_eq!(c.table_by_name(PUBLIC_SCHEMA, "t".into()).unwrap().id, t.id);
        let dup = c.apply(CatalogChange::CreateTable(table("t"))).unwrap_err();
        assert_eq!(dup.sqlstate, SqlState::DUPLICATE_TABLE);
        let idx = IndexDef {
            id: 0,
            table: t.id,
            name: "t_pkey".into(),
            method: "btree".into(),
            columns: RVec::from(vec![0]),
            unique: true,
            options: RVec::new(),
        };
        c.apply(CatalogChange::CreateIndex(idx.clone())).unwrap();
        // Index names share the relation namespace.
        let clash = c
            .apply(CatalogChange::CreateTable(table("t_pkey")))
            .unwrap_err();
        assert_eq!(clash.sqlstate, SqlState::DUPLICATE_TABLE);
        c.apply(CatalogChange::DropTable { id: t.id }).unwrap();
        assert!(c.indexes_of(t.id).is_empty());
        assert!(c.table_by_id(t.id).is_none());
    }

    #[test]
    fn sequence_state_reads_without_advancing() {
        let c = KernelCatalog::new();
        let seq = SequenceDef {
            id: 0,
            schema: PUBLIC_SCHEMA,
            name: "s".into(),
            start: 5,
            increment: 2,
            min_value: 1,
            max_value: 100,
            cycle: false,
            owned_by: ROption::RNone,
        };
        let id = c.apply(CatalogChange::CreateSequence(seq)).unwrap().id;
        let state = |last_value, is_called| {
            ROption::RSome(SequenceState {
                last_value,
                is_called,
            })
        };
        assert_eq!(c.sequence_state(id), state(5, false));
        assert_eq!(c.sequence_next(1, id).unwrap(), 5);
        assert_eq!(c.sequence_state(id), state(5, true));
        assert_eq!(c.sequence_state(id), state(5, true));
        c.sequence_set(1, id, 40, false).unwrap();
        assert_eq!(c.sequence_state(id), state(40, false));
        // Reading sets no currval.
        assert!(c.sequence_current(2, id).is_err());
        assert_eq!(c.sequence_state(id + 1000), ROption::RNone);
    }

    #[test]
    fn schema_with_tables_cannot_be_dropped() {
        let c = KernelCatalog::new();
        let s = c
            .apply(CatalogChange::CreateSchema(schema(0, "app")))
            .unwrap();
        let mut t = table("x");
        t.schema = s.id as SchemaId;
        c.apply(CatalogChange::CreateTable(t)).unwrap();
        let e = c
            .apply(CatalogChange::DropSchema {
                id: s.id as SchemaId,
            })
            .unwrap_err();
        assert_eq!(e.sqlstate.as_str(), "2BP01");
        let dup = c
            .apply(CatalogChange::CreateSchema(schema(0, "app")))
            .unwrap_err();
        assert_eq!(dup.sqlstate, SqlState::DUPLICATE_SCHEMA);
    }

    #[test]
    fn edge_labels_need_node_labels() {
        let c = KernelCatalog::new();
        let t = c
            .apply(CatalogChange::CreateTable(table("people")))
            .unwrap();
        let edge = GraphLabelDef {
            name: "KNOWS".into(),
            kind: GraphLabelKind::Edge,
            table: t.id,
            key_columns: RVec::from(vec![0]),
            source: ROption::RSome(EdgeEnd {
                label: "Person".into(),
                columns: RVec::from(vec![0]),
            }),
            target: ROption::RSome(EdgeEnd {
                label: "Person".into(),
                columns: RVec::from(vec![0]),
            }),
        };
        assert!(c
            .apply(CatalogChange::CreateGraphLabel(edge.clone()))
            .is_err());
        let node = GraphLabelDef {
            name: "Person".into(),
            kind: GraphLabelKind::Node,
            table: t.id,
            key_columns: RVec::from(vec![0]),
            source: ROption::RNone,
            target: ROption::RNone,
        };
        c.apply(CatalogChange::CreateGraphLabel(node)).unwrap();
        c.apply(CatalogChange::CreateGraphLabel(edge)).unwrap();
        assert!(c
            .apply(CatalogChange::DropGraphLabel {
                name: "Person".into()
            })
            .is_err());
        assert_eq!(c.graph_labels().len(), 2);
    }
}
