//! The one catalog: schemas, tables, views, indexes (btree, hnsw, ...),
//! sequences and graph labels. The kernel owns it; plugins read and change it
//! only through [`Catalog`], never keeping a second copy.

use abi_stable::{
    sabi_trait,
    std_types::{ROption, RStr, RString, RVec},
    StableAbi,
};

use crate::error::AResult;
use crate::types::DataType;
use crate::value::Value;

pub type SchemaId = u32;
pub type TableId = u64;
pub type IndexId = u64;
pub type RoleId = u64;

#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct SchemaDef {
    pub id: SchemaId,
    pub name: RString,
    pub owner: RString,
}

/// What a relation is.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelationKind {
    Table,
    View,
    Sequence,
}

#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct ColumnDef {
    pub name: RString,
    pub data_type: DataType,
    pub nullable: bool,
    /// Default expression as SQL text, re-parsed by the planner.
    pub default_expr: ROption<RString>,
    pub identity: Identity,
}

#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Identity {
    None,
    Always,
    ByDefault,
    /// Not an identity: a stored generated column (`GENERATED ALWAYS AS
    /// (expr) STORED`). `default_expr` holds the generation expression over
    /// the row's other columns; the planner computes it on INSERT and UPDATE.
    Stored,
}

#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReferentialAction {
    NoAction,
    Restrict,
    Cascade,
    SetNull,
    SetDefault,
}

impl ReferentialAction {
    /// The action as SQL after `ON DELETE` / `ON UPDATE`; `None` for the
    /// default (NO ACTION), which is left out.
    pub fn sql(self) -> Option<&'static str> {
        match self {
            ReferentialAction::NoAction => None,
            ReferentialAction::Restrict => Some("RESTRICT"),
            ReferentialAction::Cascade => Some("CASCADE"),
            ReferentialAction::SetNull => Some("SET NULL"),
            ReferentialAction::SetDefault => Some("SET DEFAULT"),
        }
    }
}

#[repr(u8)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub enum ConstraintKind {
    PrimaryKey {
        columns: RVec<u32>,
    },
    Unique {
        columns: RVec<u32>,
    },
    /// CHECK constraint as SQL text.
    Check {
        expr: RString,
    },
    ForeignKey {
        columns: RVec<u32>,
        ref_table: TableId,
        ref_columns: RVec<u32>,
        on_delete: ReferentialAction,
        on_update: ReferentialAction,
    },
}

#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct ConstraintDef {
    pub name: RString,
    pub kind: ConstraintKind,
}

#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct TableDef {
    pub id: TableId,
    pub schema: SchemaId,
    pub name: RString,
    pub kind: RelationKind,
    pub columns: RVec<ColumnDef>,
    pub constraints: RVec<ConstraintDef>,
    /// Name of the `storage.backend/1` provider holding the rows.
    pub storage_backend: RString,
    /// View definition (SQL text) for views.
    pub view_sql: ROption<RString>,
}

impl TableDef {
    /// The named columns, quoted and comma-separated (`?` for a position
    /// past the end).
    pub fn quoted_columns(&self, cols: &[u32]) -> String {
        cols.iter()
            .map(|c| {
                self.columns
                    .get(*c as usize)
                    .map_or_else(|| "?".to_string(), |c| crate::ident::quote_ident(&c.name))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct KeyValue {
    pub key: RString,
    pub value: RString,
}

#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct IndexDef {
    pub id: IndexId,
    pub table: TableId,
    pub name: RString,
    /// Name of the `index.method/1` provider (`btree`, `hnsw`, `adjacency`).
    pub method: RString,
    pub columns: RVec<u32>,
    pub unique: bool,
    /// Method options (`m`, `ef_construction`, distance operator class ...).
    pub options: RVec<KeyValue>,
}

#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct SequenceDef {
    pub id: TableId,
    pub schema: SchemaId,
    pub name: RString,
    pub start: i64,
    pub increment: i64,
    pub min_value: i64,
    pub max_value: i64,
    pub cycle: bool,
    /// Column owning the sequence (SERIAL, IDENTITY), as (table, column).
    pub owned_by: ROption<OwnedBy>,
}

/// Where a sequence stands, as `SELECT last_value, is_called FROM seq`
/// shows it in PostgreSQL: the next `nextval` returns `last_value +
/// increment` when `is_called`, else `last_value`.
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub struct SequenceState {
    pub last_value: i64,
    pub is_called: bool,
}

#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq)]
pub struct OwnedBy {
    pub table: TableId,
    pub column: u32,
}

#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum GraphLabelKind {
    Node,
    Edge,
}

/// A property-graph label mapped onto a table: nodes are rows; edges are
/// rows with source and target key columns.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct GraphLabelDef {
    pub name: RString,
    pub kind: GraphLabelKind,
    pub table: TableId,
    pub key_columns: RVec<u32>,
    /// Edge labels: (source node label, source key columns).
    pub source: ROption<EdgeEnd>,
    pub target: ROption<EdgeEnd>,
}

#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct EdgeEnd {
    pub label: RString,
    pub columns: RVec<u32>,
}

/// A role (user or group), as `pg_authid` holds it.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct RoleDef {
    pub id: RoleId,
    pub name: RString,
    pub superuser: bool,
    pub inherit: bool,
    pub create_role: bool,
    pub create_db: bool,
    pub can_login: bool,
    pub replication: bool,
    pub bypass_rls: bool,
    /// Concurrent connections allowed, -1 for no limit.
    pub connection_limit: i32,
    /// SCRAM-SHA-256 verifier (`SCRAM-SHA-256$<iterations>:<salt>$<stored
    /// key>:<server key>`), never a plaintext password; `None` means the
    /// role cannot log in with a password.
    pub password: ROption<RString>,
    /// Password expiry, microseconds since 2000-01-01 UTC (`i64::MAX` for
    /// `infinity`); `None` means it never expires.
    pub valid_until: ROption<i64>,
}

/// A change to the catalog. Ids in `Create*` definitions are ignored and
/// assigned by the catalog.
#[repr(u8)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub enum CatalogChange {
    CreateSchema(SchemaDef),
    DropSchema {
        id: SchemaId,
    },
    CreateTable(TableDef),
    /// Replaces a table definition (ALTER TABLE).
    AlterTable(TableDef),
    DropTable {
        id: TableId,
    },
    CreateIndex(IndexDef),
    DropIndex {
        id: IndexId,
    },
    CreateSequence(SequenceDef),
    DropSequence {
        id: TableId,
    },
    CreateGraphLabel(GraphLabelDef),
    DropGraphLabel {
        name: RString,
    },
    CreateRole(RoleDef),
    /// Replaces a role definition, found by id (ALTER ROLE, RENAME).
    AlterRole(RoleDef),
    DropRole {
        id: RoleId,
    },
}

/// Result of applying a [`CatalogChange`].
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq)]
pub struct ChangeApplied {
    /// Id assigned to a created object (0 for drops and alters).
    pub id: u64,
    /// Catalog version after the change.
    pub version: u64,
}

/// Per-column statistics gathered by ANALYZE.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct ColumnStatistics {
    /// Estimated number of distinct non-null values.
    pub n_distinct: f64,
    pub null_fraction: f64,
    pub min: Value,
    pub max: Value,
}

/// Table statistics gathered by ANALYZE, read by the optimizer.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct TableStatistics {
    pub row_count: f64,
    /// One entry per table column.
    pub columns: RVec<ColumnStatistics>,
}

/// Read and change access to the kernel's catalog.
#[sabi_trait]
pub trait Catalog: Send + Sync {
    /// Monotonic version; plans cached against an older version are stale.
    fn version(&self) -> u64;
    fn schemas(&self) -> RVec<SchemaDef>;
    fn schema_by_name(&self, name: RStr<'_>) -> ROption<SchemaDef>;
    fn table_by_name(&self, schema: SchemaId, name: RStr<'_>) -> ROption<TableDef>;
    fn table_by_id(&self, id: TableId) -> ROption<TableDef>;
    fn tables(&self, schema: ROption<SchemaId>) -> RVec<TableDef>;
    fn indexes_of(&self, table: TableId) -> RVec<IndexDef>;
    fn sequences(&self) -> RVec<SequenceDef>;
    fn graph_labels(&self) -> RVec<GraphLabelDef>;
    #[sabi(last_prefix_field)]
    fn apply(&self, change: CatalogChange) -> AResult<ChangeApplied>;
    fn table_stats(&self, table: TableId) -> ROption<TableStatistics>;
    fn set_table_stats(&self, table: TableId, stats: TableStatistics);
    /// Advances a sequence (non-transactional, as in PostgreSQL); 2200H when
    /// it reaches its bound without CYCLE. The value becomes `session`'s
    /// `currval` of the sequence and its `lastval`.
    fn sequence_next(&self, session: u64, id: TableId) -> AResult<i64>;
    /// `setval`: the next `sequence_next` returns `value + increment` when
    /// `is_called`, else `value`. With `is_called`, `value` is also
    /// `session`'s `currval` and `lastval`, as in PostgreSQL.
    fn sequence_set(&self, session: u64, id: TableId, value: i64, is_called: bool) -> AResult<()>;
    /// `currval`: the value `session` last obtained from the sequence
    /// (55000 when it has obtained none).
    fn sequence_current(&self, session: u64, id: TableId) -> AResult<i64>;
    /// `lastval`: the value `session` last obtained from any sequence that
    /// still exists (55000 when none).
    fn sequence_last(&self, session: u64) -> AResult<i64>;
    fn sequence_by_name(&self, schema: SchemaId, name: RStr<'_>) -> ROption<SequenceDef>;
    /// Every role, by id.
    fn roles(&self) -> RVec<RoleDef> {
        RVec::new()
    }
    fn role_by_name(&self, name: RStr<'_>) -> ROption<RoleDef> {
        self.roles()
            .into_iter()
            .find(|r| r.name.as_str() == name.as_str())
            .into()
    }
    /// The state of a sequence (a fresh one is at its start value, not
    /// called); `None` when no sequence has that id. Reading it advances
    /// nothing and sets no session's `currval`.
    fn sequence_state(&self, id: TableId) -> ROption<SequenceState> {
        let _ = id;
        ROption::RNone
    }
}

/// Catalog handle as plugins hold it.
pub type CatalogRef = Catalog_TO<'static, abi_stable::std_types::RArc<()>>;
