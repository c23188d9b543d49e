//! DDL planning (CREATE/DROP/ALTER ...): produces `Operator::Ddl` (and
//! `Operator::Analyze`). Names are resolved and constraints named here, as
//! PostgreSQL names them; the executor applies the change.
//!
//! Module map (files `ddl_*.rs` next to this one):
//! * `table`   — CREATE TABLE, column definitions and constraints (also
//!   used by ALTER TABLE ADD COLUMN / ADD CONSTRAINT).
//! * `alter`   — ALTER TABLE.
//! * `objects` — DROP, schemas, indexes, views, sequences, TRUNCATE, ANALYZE.
//!
//! Conventions the executor relies on (see `sql-executor/src/ddl.rs`):
//! * In `CreateTable`, ids of the new table are not known yet: index
//!   `table`, sequence `owned_by.table` and a self-referencing foreign key's
//!   `ref_table` are 0 and fixed up by the executor.
//! * `AlterTable::fill` is evaluated once per existing row over the *old*
//!   table row; it gives the value of the one column that needs one (an
//!   added column, or a column whose type changes).

use std::collections::HashSet;

use aiondb_sdk::plan::{DdlAction, Operator};
use aiondb_sdk::prelude::*;
use sqlparser::ast;

use crate::shared::{ident_name, object_parts, PlanBuilder, Planning};

#[path = "ddl_alter.rs"]
mod alter;
#[path = "ddl_objects.rs"]
mod objects;
#[path = "ddl_table.rs"]
pub(crate) mod table;
#[cfg(test)]
#[path = "ddl_tests.rs"]
pub(crate) mod tests;

/// PostgreSQL's NAMEDATALEN - 1: identifiers are truncated to 63 bytes.
pub(crate) const MAX_NAME_LEN: usize = 63;

/// Plans a DDL statement; `Ok(None)` when `stmt` is not DDL.
pub fn plan_ddl(p: &mut Planning<'_>, stmt: &ast::Statement) -> DbResult<Option<Plan>> {
    let d = Ddl {
        ctx: p.ctx,
        services: p.services,
        b: std::mem::take(&mut p.builder),
    };
    d.plan(stmt)
}

/// One DDL statement being planned.
pub(crate) struct Ddl<'a> {
    pub ctx: &'a PlanContext,
    pub services: &'a Services,
    pub b: PlanBuilder,
}

impl<'a> Ddl<'a> {
    fn plan(self, stmt: &ast::Statement) -> DbResult<Option<Plan>> {
        use ast::Statement as S;
        Ok(Some(match stmt {
            S::CreateTable(ct) => table::plan_create_table(self, ct)?,
            S::AlterTable(at) => alter::plan_alter_table(self, at)?,
            S::Drop {
                object_type,
                if_exists,
                names,
                cascade,
                ..
            } => objects::plan_drop(self, *object_type, *if_exists, names, *cascade)?,
            S::CreateSchema {
                schema_name,
                if_not_exists,
                ..
            } => objects::plan_create_schema(self, schema_name, *if_not_exists)?,
            S::CreateIndex(ci) => objects::plan_create_index(self, ci)?,
            S::CreateView(cv) => objects::plan_create_view(self, cv)?,
            S::CreateSequence {
                if_not_exists,
                name,
                data_type,
                sequence_options,
                owned_by,
                ..
            } => objects::plan_create_sequence(
                self,
                *if_not_exists,
                name,
                data_type.as_ref(),
                sequence_options,
                owned_by.as_ref(),
            )?,
            S::Truncate(t) => objects::plan_truncate(self, t)?,
            S::AlterIndex {
                name,
                operation: ast::AlterIndexOperation::RenameIndex { index_name },
            } => alter::plan_rename_index(self, name, index_name)?,
            S::Comment {
                object_type,
                object_name,
                ..
            } => {
                // Comments are accepted (dumps carry them) but not kept:
                // the catalog has no place for them yet. A commented table
                // must exist, as in PostgreSQL.
                if matches!(object_type, ast::CommentObject::Table) {
                    self.resolve_relation(object_name)?;
                }
                self.finish(
                    DdlAction::DropIndexes {
                        indexes: RVec::new(),
                    },
                    "COMMENT",
                )
            }
            S::Analyze(a) => objects::plan_analyze(self, a)?,
            _ => return Ok(None),
        }))
    }

    /// A one-node plan running `action`.
    pub(crate) fn finish(self, action: DdlAction, command: &str) -> Plan {
        self.finish_op(Operator::Ddl(action), Vec::new(), command)
    }

    pub(crate) fn finish_op(self, op: Operator, inputs: Vec<u32>, command: &str) -> Plan {
        let mut b = self.b;
        b.writes = true;
        let root = b.node(op, inputs, Vec::new(), 0.0, 0.0);
        b.finish(self.services, root, Schema::default(), command)
    }

    /// The schema a new relation goes to, and its bare name: the named
    /// schema, else the first existing schema of the search path.
    pub(crate) fn creation_target(&self, name: &ast::ObjectName) -> DbResult<(SchemaDef, String)> {
        let parts = object_parts(name)?;
        match parts.as_slice() {
            [rel] => Ok((self.default_creation_schema()?, truncate_name(rel))),
            [schema, rel] => Ok((self.schema(schema)?, truncate_name(rel))),
            [db, schema, rel] => {
                if db != self.ctx.database.as_str() {
                    return Err(AionError::feature_not_supported(format!(
                        "cross-database references are not implemented: {name}"
                    )));
                }
                Ok((self.schema(schema)?, truncate_name(rel)))
            }
            _ => Err(AionError::new(
                SqlState::SYNTAX_ERROR,
                format!("improper qualified name (too many dotted names): {name}"),
            )),
        }
    }

    fn default_creation_schema(&self) -> DbResult<SchemaDef> {
        for s in self.ctx.search_path.iter() {
            let s = s.as_str().trim().trim_matches('"');
            let s = if s == "$user" {
                self.ctx.user.as_str()
            } else {
                s
            };
            if let Some(def) = self
                .services
                .catalog
                .schema_by_name(RStr::from_str(s))
                .into_option()
            {
                return Ok(def);
            }
        }
        if self.ctx.search_path.is_empty() {
            if let Some(def) = self
                .services
                .catalog
                .schema_by_name(RStr::from_str("public"))
                .into_option()
            {
                return Ok(def);
            }
        }
        Err(AionError::new(
            SqlState::INVALID_SCHEMA_NAME,
            "no schema has been selected to create in",
        ))
    }

    pub(crate) fn schema(&self, name: &str) -> DbResult<SchemaDef> {
        self.services
            .catalog
            .schema_by_name(RStr::from_str(name))
            .into_option()
            .ok_or_else(|| {
                AionError::new(
                    SqlState::INVALID_SCHEMA_NAME,
                    format!("schema \"{name}\" does not exist"),
                )
            })
    }

    /// Whether a relation (table, view, sequence or index) of this name
    /// exists in the schema.
    pub(crate) fn relation_exists(&self, schema: SchemaId, name: &str) -> bool {
        let cat = &self.services.catalog;
        cat.table_by_name(schema, RStr::from_str(name)).is_some()
            || cat.sequence_by_name(schema, RStr::from_str(name)).is_some()
            || self.index_by_name(schema, name).is_some()
    }

    /// Removes a table the catalog has but its storage backend does not:
    /// the catalog is not transactional, so a CREATE TABLE whose
    /// transaction rolled back leaves such an entry behind. Returns whether
    /// one was removed.
    pub(crate) fn repair_orphan(&self, schema: SchemaId, name: &str) -> bool {
        let cat = &self.services.catalog;
        let Some(t) = cat
            .table_by_name(schema, RStr::from_str(name))
            .into_option()
        else {
            return false;
        };
        if t.kind != RelationKind::Table {
            return false;
        }
        let Some(storage) = self.services.storage(&t.storage_backend) else {
            return false;
        };
        match storage.stats(0, t.id).into_result() {
            Err(e) if e.sqlstate == SqlState::UNDEFINED_TABLE => {}
            _ => return false,
        }
        for i in cat.indexes_of(t.id) {
            let _ = cat.apply(CatalogChange::DropIndex { id: i.id });
        }
        for s in cat.sequences() {
            if s.owned_by
                .as_ref()
                .into_option()
                .is_some_and(|o| o.table == t.id)
            {
                let _ = cat.apply(CatalogChange::DropSequence { id: s.id });
            }
        }
        cat.apply(CatalogChange::DropTable { id: t.id }).is_ok()
    }

    /// An index of the schema by name, with its table.
    pub(crate) fn index_by_name(
        &self,
        schema: SchemaId,
        name: &str,
    ) -> Option<(IndexDef, TableDef)> {
        let cat = &self.services.catalog;
        cat.tables(ROption::RSome(schema))
            .into_iter()
            .find_map(|t| {
                cat.indexes_of(t.id)
                    .into_iter()
                    .find(|i| i.name.as_str() == name)
                    .map(|i| (i, t.clone()))
            })
    }

    /// PostgreSQL's ChooseRelationName: `name1_name2_label`, truncated to
    /// fit, with a number appended to the label until it is free.
    pub(crate) fn choose_relation_name(
        &self,
        schema: SchemaId,
        name1: &str,
        name2: Option<&str>,
        label: &str,
        also_taken: &HashSet<String>,
    ) -> String {
        let mut pass = 0u32;
        loop {
            let modlabel = if pass == 0 {
                label.to_string()
            } else {
                format!("{label}{pass}")
            };
            let candidate = make_object_name(name1, name2, &modlabel);
            if !also_taken.contains(&candidate) && !self.relation_exists(schema, &candidate) {
                return candidate;
            }
            pass += 1;
        }
    }

    /// Resolves an existing relation through the search path.
    pub(crate) fn resolve_relation(&self, name: &ast::ObjectName) -> DbResult<TableDef> {
        crate::shared::resolve_table(self.ctx, self.services, name)
    }

    /// Resolves an existing relation, `None` when it does not exist (other
    /// errors, such as a missing schema, still fail).
    pub(crate) fn find_relation(&self, name: &ast::ObjectName) -> DbResult<Option<TableDef>> {
        match self.resolve_relation(name) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.sqlstate == SqlState::UNDEFINED_TABLE => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Schemas of the search path that exist, in order (for unqualified
    /// sequence and index names).
    pub(crate) fn search_schema_ids(&self) -> Vec<SchemaDef> {
        crate::shared::search_schemas(self.ctx)
            .iter()
            .filter_map(|s| {
                self.services
                    .catalog
                    .schema_by_name(RStr::from_str(s.trim_matches('"')))
                    .into_option()
            })
            .collect()
    }

    /// Resolves `[schema.]name` to the schemas to search and the bare name.
    pub(crate) fn lookup_scope(
        &self,
        name: &ast::ObjectName,
    ) -> DbResult<(Vec<SchemaDef>, String)> {
        let parts = object_parts(name)?;
        match parts.as_slice() {
            [rel] => Ok((self.search_schema_ids(), rel.clone())),
            [schema, rel] | [_, schema, rel] => Ok((vec![self.schema(schema)?], rel.clone())),
            _ => Err(AionError::new(
                SqlState::SYNTAX_ERROR,
                format!("improper qualified name (too many dotted names): {name}"),
            )),
        }
    }
}

/// Truncates an identifier to 63 bytes on a character boundary.
pub(crate) fn truncate_name(name: &str) -> String {
    truncate_bytes(name, MAX_NAME_LEN).to_string()
}

fn truncate_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// PostgreSQL's makeObjectName: `name1[_name2][_label]`, shortening the
/// longer of name1/name2 first so the whole fits in 63 bytes.
pub(crate) fn make_object_name(name1: &str, name2: Option<&str>, label: &str) -> String {
    let mut overhead = 0;
    if !label.is_empty() {
        overhead += label.len() + 1;
    }
    if name2.is_some() {
        overhead += 1;
    }
    let avail = MAX_NAME_LEN.saturating_sub(overhead);
    let mut n1 = name1.len();
    let mut n2 = name2.map_or(0, str::len);
    while n1 + n2 > avail {
        if n1 > n2 {
            n1 -= 1;
        } else {
            n2 -= 1;
        }
    }
    let mut out = truncate_bytes(name1, n1).to_string();
    if let Some(n) = name2 {
        out.push('_');
        out.push_str(truncate_bytes(n, n2));
    }
    if !label.is_empty() {
        out.push('_');
        out.push_str(label);
    }
    out
}

/// The folded name of an identifier, truncated as PostgreSQL does.
pub(crate) fn ident(id: &ast::Ident) -> String {
    truncate_name(&ident_name(id))
}

/// `"x" is not a <what>` (42809), with PostgreSQL's hint for DROP.
pub(crate) fn wrong_object_type(name: &str, what: &str) -> AionError {
    AionError::new(SqlState::new(b"42809"), format!("\"{name}\" is not {what}"))
}

/// The SQL text of a `nextval` default for a sequence: qualified unless it
/// lives in `public`, so the DML planner resolves it wherever the session's
/// search path points.
pub(crate) fn nextval_default(schema: &SchemaDef, seq: &str) -> String {
    let lit = if schema.name.as_str() == "public" {
        seq.to_string()
    } else {
        format!("{}.{}", quote_ident(&schema.name), quote_ident(seq))
    };
    format!("nextval('{}')", lit.replace('\'', "''"))
}

/// Quotes an identifier when it would not survive case folding.
pub(crate) use aiondb_sdk::ident::quote_ident;

#[cfg(test)]
pub(crate) use tests::{test_ctx, test_services};
