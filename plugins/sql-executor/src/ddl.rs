//! DDL and ANALYZE execution: catalog changes through `Catalog::apply` and
//! the matching storage calls.
//!
//! The catalog is not transactional: a ROLLBACK undoes the storage side of
//! a DDL statement (the in-memory backend keeps an undo log) but not the
//! catalog change, so DDL inside a transaction block that is later rolled
//! back leaves the catalog changed. Within one statement, a failure after
//! some catalog changes undoes them (see [`Undo`]) so a failing statement
//! leaves the catalog as it found it.
//!
//! Conventions from the planner (`sql-planner/src/ddl.rs`): in
//! `CreateTable`, index `table`, sequence `owned_by.table` and a
//! self-referencing foreign key's `ref_table` are 0 until the table has its
//! id; `AlterTable::fill` is evaluated per existing row over the old row.

use std::collections::HashSet;

use aiondb_sdk::plan::{DdlAction, NodeRef, Operator, PlanNode};
use aiondb_sdk::plugin::StorageBackendBox;
use aiondb_sdk::prelude::*;

use crate::shared::{bad_plan, command_cursor, node_of, storage_of, EvalCx};

#[path = "ddl_alter.rs"]
mod alter;
#[path = "ddl_analyze.rs"]
mod analyze;
#[path = "ddl_drop.rs"]
mod drop;

/// Runs `Operator::Ddl` / `Operator::Analyze` at `root_node`.
pub(crate) fn execute_ddl(
    ctx: &ExecContext,
    services: &Services,
    plan: &Plan,
    root_node: NodeRef,
) -> DbResult<RowCursorBox> {
    let node = node_of(plan, root_node)?;
    let mut x = Exec {
        ctx,
        services,
        undo: Undo::default(),
    };
    let result = match &node.op {
        Operator::Ddl(action) => x.run(plan, node, action),
        Operator::Analyze { tables } => analyze::analyze(&x, tables),
        other => Err(bad_plan(format!("not a DDL operator: {other:?}"))),
    };
    match result {
        Ok(affected) => Ok(command_cursor(affected)),
        Err(e) => {
            x.undo.rollback(services);
            Err(e)
        }
    }
}

/// Catalog changes made so far by the statement, undone if it fails.
#[derive(Default)]
pub(super) struct Undo {
    changes: Vec<CatalogChange>,
}

impl Undo {
    fn rollback(&mut self, services: &Services) {
        while let Some(c) = self.changes.pop() {
            // Best effort: the statement's own error is what the client sees.
            let _ = services.catalog.apply(c);
        }
    }
}

pub(super) struct Exec<'a> {
    pub ctx: &'a ExecContext,
    pub services: &'a Services,
    pub undo: Undo,
}

impl<'a> Exec<'a> {
    /// Applies a catalog change, remembering how to undo it.
    pub(super) fn apply(&mut self, change: CatalogChange) -> DbResult<u64> {
        let inverse = self.inverse(&change);
        let applied = self.services.catalog.apply(change).into_result()?;
        let inverse = match inverse {
            Some(Inverse::Drop(kind)) => Some(match kind {
                Kind::Schema => CatalogChange::DropSchema {
                    id: applied.id as SchemaId,
                },
                Kind::Table => CatalogChange::DropTable { id: applied.id },
                Kind::Index => CatalogChange::DropIndex { id: applied.id },
                Kind::Sequence => CatalogChange::DropSequence { id: applied.id },
            }),
            Some(Inverse::Change(c)) => Some(*c),
            None => None,
        };
        if let Some(c) = inverse {
            self.undo.changes.push(c);
        }
        Ok(applied.id)
    }

    fn inverse(&self, change: &CatalogChange) -> Option<Inverse> {
        let cat = &self.services.catalog;
        Some(match change {
            CatalogChange::CreateSchema(_) => Inverse::Drop(Kind::Schema),
            CatalogChange::CreateTable(_) => Inverse::Drop(Kind::Table),
            CatalogChange::CreateIndex(_) => Inverse::Drop(Kind::Index),
            CatalogChange::CreateSequence(_) => Inverse::Drop(Kind::Sequence),
            CatalogChange::AlterTable(t) => Inverse::Change(Box::new(CatalogChange::AlterTable(
                cat.table_by_id(t.id).into_option()?,
            ))),
            // Dropped objects come back with new ids: good enough to leave
            // the catalog usable after a failed statement.
            CatalogChange::DropTable { id } => {
                let mut t = cat.table_by_id(*id).into_option()?;
                t.id = 0;
                Inverse::Change(Box::new(CatalogChange::CreateTable(t)))
            }
            CatalogChange::DropSequence { id } => {
                let mut s = cat.sequences().into_iter().find(|s| s.id == *id)?;
                s.id = 0;
                Inverse::Change(Box::new(CatalogChange::CreateSequence(s)))
            }
            _ => return None,
        })
    }

    pub(super) fn storage(&self, table: &TableDef) -> DbResult<&'a StorageBackendBox> {
        storage_of(self.services, table)
    }

    pub(super) fn eval_cx(&self) -> EvalCx {
        EvalCx::new(self.ctx, self.services, &[])
    }

    /// Every row of a table (with row ids when asked).
    pub(super) fn scan(&self, table: &TableDef, with_row_ids: bool) -> DbResult<Vec<Vec<Value>>> {
        let storage = self.storage(table)?;
        let req = ScanRequest {
            projection: RVec::new(),
            row_ids: ROption::RNone,
            with_row_ids,
            latest: false,
        };
        let mut cursor = storage.scan(self.ctx.txn, table.id, &req).into_result()?;
        let mut rows = Vec::new();
        while let ROption::RSome(batch) = cursor.next_batch(0).into_result()? {
            rows.extend(batch.rows().map(|r| r.to_vec()));
        }
        Ok(rows)
    }

    fn table(&self, id: TableId) -> Option<TableDef> {
        self.services.catalog.table_by_id(id).into_option()
    }

    /// Whether a relation of this name exists in the schema.
    fn relation_exists(&self, schema: SchemaId, name: &str) -> bool {
        let cat = &self.services.catalog;
        cat.table_by_name(schema, RStr::from_str(name)).is_some()
            || cat.sequence_by_name(schema, RStr::from_str(name)).is_some()
            || cat
                .tables(ROption::RSome(schema))
                .iter()
                .any(|t| cat.indexes_of(t.id).iter().any(|i| i.name.as_str() == name))
    }

    fn run(&mut self, plan: &Plan, node: &PlanNode, action: &DdlAction) -> DbResult<u64> {
        match action {
            DdlAction::CreateSchema {
                schema,
                if_not_exists,
            } => {
                if *if_not_exists
                    && self
                        .services
                        .catalog
                        .schema_by_name(RStr::from_str(&schema.name))
                        .is_some()
                {
                    return Ok(0);
                }
                self.apply(CatalogChange::CreateSchema(schema.clone()))?;
                Ok(0)
            }
            DdlAction::DropSchema {
                name,
                if_exists,
                cascade,
            } => drop::drop_schema(self, name, *if_exists, *cascade),
            DdlAction::CreateTable {
                table,
                sequences,
                indexes,
                if_not_exists,
            } => self.create_table(plan, node, table, sequences, indexes, *if_not_exists),
            DdlAction::DropTables { tables, cascade } => {
                drop::drop_relations(self, tables, *cascade)?;
                Ok(0)
            }
            DdlAction::AlterTable { .. } => alter::alter_table(self, plan, action),
            DdlAction::CreateIndex {
                index,
                if_not_exists,
            } => self.create_index(index, *if_not_exists),
            DdlAction::DropIndexes { indexes } => {
                for id in indexes.iter() {
                    self.drop_index(*id)?;
                }
                Ok(0)
            }
            DdlAction::CreateView { view, or_replace } => {
                let existing = self
                    .services
                    .catalog
                    .table_by_name(view.schema, RStr::from_str(&view.name))
                    .into_option();
                match existing {
                    Some(old) if *or_replace && old.kind == RelationKind::View => {
                        let mut v = view.clone();
                        v.id = old.id;
                        self.apply(CatalogChange::AlterTable(v))?;
                    }
                    _ => {
                        let mut v = view.clone();
                        v.id = 0;
                        self.apply(CatalogChange::CreateTable(v))?;
                    }
                }
                Ok(0)
            }
            DdlAction::CreateSequence {
                sequence,
                if_not_exists,
            } => {
                if *if_not_exists && self.relation_exists(sequence.schema, &sequence.name) {
                    return Ok(0);
                }
                self.apply(CatalogChange::CreateSequence(sequence.clone()))?;
                Ok(0)
            }
            DdlAction::Truncate {
                tables,
                restart_identity,
            } => {
                for id in tables.iter() {
                    let Some(t) = self.table(*id) else {
                        continue;
                    };
                    self.storage(&t)?
                        .truncate(self.ctx.txn, t.id)
                        .into_result()?;
                    if *restart_identity {
                        for s in self.services.catalog.sequences() {
                            if s.owned_by
                                .as_ref()
                                .into_option()
                                .is_some_and(|o| o.table == t.id)
                            {
                                self.services
                                    .catalog
                                    .sequence_set(self.ctx.session, s.id, s.start, false)
                                    .into_result()?;
                            }
                        }
                    }
                }
                Ok(0)
            }
        }
    }

    /// CREATE TABLE: the table (ids fixed up), its sequences, its storage
    /// table, then its indexes; CREATE TABLE AS then inserts the query's rows.
    fn create_table(
        &mut self,
        plan: &Plan,
        node: &PlanNode,
        table: &TableDef,
        sequences: &RVec<SequenceDef>,
        indexes: &RVec<IndexDef>,
        if_not_exists: bool,
    ) -> DbResult<u64> {
        if self.relation_exists(table.schema, &table.name) {
            if if_not_exists {
                // PostgreSQL: NOTICE relation "t" already exists, skipping.
                return Ok(0);
            }
            return Err(AionError::new(
                SqlState::DUPLICATE_TABLE,
                format!("relation \"{}\" already exists", table.name),
            ));
        }
        let storage = self.storage(table)?;
        let mut def = table.clone();
        def.id = 0;
        let id = self.apply(CatalogChange::CreateTable(def.clone()))?;
        def.id = id;
        let mut self_ref = false;
        for c in def.constraints.iter_mut() {
            if let ConstraintKind::ForeignKey { ref_table, .. } = &mut c.kind {
                if *ref_table == 0 {
                    *ref_table = id;
                    self_ref = true;
                }
            }
        }
        if self_ref {
            self.apply(CatalogChange::AlterTable(def.clone()))?;
        }
        for s in sequences.iter() {
            let mut s = s.clone();
            if let ROption::RSome(o) = &mut s.owned_by {
                o.table = id;
            }
            self.apply(CatalogChange::CreateSequence(s))?;
        }
        storage.create_table(self.ctx.txn, &def).into_result()?;
        for i in indexes.iter() {
            let mut i = i.clone();
            i.table = id;
            i.id = self.apply(CatalogChange::CreateIndex(i.clone()))?;
            storage.create_index(self.ctx.txn, &i, &def).into_result()?;
        }
        let Some(&input) = node.inputs.first() else {
            return Ok(0);
        };
        // CREATE TABLE AS: run the query and insert its rows.
        let mut cx = self.eval_cx();
        let mut op = crate::ops::build(&mut cx, plan, input)?;
        op.open(&mut cx)?;
        let mut rows = Vec::new();
        while op.advance(&mut cx)? {
            rows.push(op.current().to_vec());
        }
        op.close(&mut cx);
        let mut batch = RowBatch::with_capacity(def.columns.len(), rows.len());
        for r in &rows {
            if r.len() != def.columns.len() {
                return Err(bad_plan("CREATE TABLE AS row width"));
            }
            batch.push_row(r.iter().cloned());
        }
        if !batch.is_empty() {
            storage
                .insert(self.ctx.txn, id, &batch, &mut RVec::new())
                .into_result()?;
        }
        Ok(rows.len() as u64)
    }

    fn create_index(&mut self, index: &IndexDef, if_not_exists: bool) -> DbResult<u64> {
        let table = self.table(index.table).ok_or_else(|| {
            AionError::new(
                SqlState::UNDEFINED_TABLE,
                format!("relation with OID {} does not exist", index.table),
            )
        })?;
        if self.relation_exists(table.schema, &index.name) {
            if if_not_exists {
                return Ok(0);
            }
            return Err(AionError::new(
                SqlState::DUPLICATE_TABLE,
                format!("relation \"{}\" already exists", index.name),
            ));
        }
        if index.unique {
            let rows = self.scan(&table, false)?;
            check_unique(&table, &index.name, &index.columns, &rows)?;
        }
        let mut i = index.clone();
        i.id = self.apply(CatalogChange::CreateIndex(i.clone()))?;
        self.storage(&table)?
            .create_index(self.ctx.txn, &i, &table)
            .into_result()?;
        Ok(0)
    }

    pub(super) fn drop_index(&mut self, id: IndexId) -> DbResult<()> {
        let cat = &self.services.catalog;
        let Some(table) = cat
            .tables(ROption::RNone)
            .into_iter()
            .find(|t| cat.indexes_of(t.id).iter().any(|i| i.id == id))
        else {
            return Ok(());
        };
        self.storage(&table)?
            .drop_index(self.ctx.txn, table.id, id)
            .into_result()?;
        self.apply(CatalogChange::DropIndex { id })?;
        Ok(())
    }
}

enum Kind {
    Schema,
    Table,
    Index,
    Sequence,
}

enum Inverse {
    Drop(Kind),
    Change(Box<CatalogChange>),
}

/// A value's key text for duplicate and reference checks (values of one
/// column share a type, so equal texts mean equal values).
pub(super) fn key_text(values: &[&Value]) -> Option<String> {
    let mut out = String::new();
    for v in values {
        if v.is_null() {
            return None;
        }
        out.push_str(&v.to_pg_text().unwrap_or_default());
        out.push('\u{0}');
    }
    Some(out)
}

/// `(a, b)=(1, x)` as PostgreSQL prints keys in error details.
pub(super) fn key_detail(table: &TableDef, cols: &[u32], row: &[Value]) -> String {
    let names: Vec<String> = cols
        .iter()
        .map(|&c| {
            table
                .columns
                .get(c as usize)
                .map(|c| c.name.to_string())
                .unwrap_or_default()
        })
        .collect();
    let vals: Vec<String> = cols
        .iter()
        .map(|&c| {
            row.get(c as usize)
                .and_then(|v| v.to_pg_text())
                .unwrap_or_else(|| "null".to_string())
        })
        .collect();
    format!("({})=({})", names.join(", "), vals.join(", "))
}

/// 23505 when existing rows would violate a new unique index.
pub(super) fn check_unique(
    table: &TableDef,
    index_name: &str,
    cols: &[u32],
    rows: &[Vec<Value>],
) -> DbResult<()> {
    let mut seen = HashSet::new();
    for r in rows {
        let key: Vec<&Value> = cols
            .iter()
            .map(|&c| r.get(c as usize).unwrap_or(&Value::Null))
            .collect();
        let Some(k) = key_text(&key) else {
            continue;
        };
        if !seen.insert(k) {
            return Err(AionError::new(
                SqlState::UNIQUE_VIOLATION,
                format!("could not create unique index \"{index_name}\""),
            )
            .with_detail(format!("Key {} is duplicated.", key_detail(table, cols, r))));
        }
    }
    Ok(())
}
