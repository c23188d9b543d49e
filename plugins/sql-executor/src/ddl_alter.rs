//! ALTER TABLE: validates existing rows in the new layout first (NOT NULL,
//! CHECK, FOREIGN KEY, UNIQUE), then applies the change: indexes dropped,
//! storage rewritten, catalog updated, indexes created.

use std::collections::HashSet;

use aiondb_sdk::plan::{DdlAction, ExprKind};
use aiondb_sdk::prelude::*;

use super::drop::{nextval_target, rename_word, sql_mentions};
use super::{check_unique, key_detail, key_text, Exec};
use crate::shared::{bad_plan, compile_expr};

pub(super) fn alter_table(x: &mut Exec<'_>, plan: &Plan, action: &DdlAction) -> DbResult<u64> {
    let DdlAction::AlterTable {
        new,
        fill,
        validate_checks,
        create_indexes,
        drop_indexes,
        validate_foreign_keys,
        sequences,
    } = action
    else {
        return Err(bad_plan("not ALTER TABLE"));
    };
    let old = x
        .services
        .catalog
        .table_by_id(new.id)
        .into_option()
        .ok_or_else(|| {
            AionError::new(
                SqlState::UNDEFINED_TABLE,
                format!("relation \"{}\" does not exist", new.name),
            )
        })?;
    if old.kind != RelationKind::Table {
        // ALTER TABLE ... RENAME of a view or sequence-like relation.
        x.apply(CatalogChange::AlterTable(new.clone()))?;
        rename_in_views(x, &old, new)?;
        return Ok(0);
    }
    // Where each new column's value comes from: an old column, or nothing
    // (added). Same width keeps positions (renames), as the storage does.
    let positional = old.columns.len() == new.columns.len();
    let map: Vec<Option<usize>> = if positional {
        (0..new.columns.len()).map(Some).collect()
    } else {
        new.columns
            .iter()
            .map(|c| old.columns.iter().position(|o| o.name == c.name))
            .collect()
    };
    let type_changed: Vec<usize> = (0..new.columns.len())
        .filter(|&j| {
            map[j].is_some_and(|i| {
                old.columns.get(i).map(|c| c.data_type) != Some(new.columns[j].data_type)
            })
        })
        .collect();
    // The column `fill` is for: the one whose type changes, else the added
    // column with a default.
    let fill_target: Option<usize> = fill.as_ref().into_option().and_then(|_| {
        type_changed.first().copied().or_else(|| {
            (0..new.columns.len())
                .find(|&j| map[j].is_none() && new.columns[j].default_expr.is_some())
        })
    });
    let tightened = new.columns.iter().enumerate().any(|(j, c)| {
        !c.nullable && map[j].is_none_or(|i| old.columns.get(i).is_none_or(|o| o.nullable))
    });
    let new_fks: Vec<&ConstraintDef> = new
        .constraints
        .iter()
        .filter(|c| matches!(c.kind, ConstraintKind::ForeignKey { .. }))
        .filter(|c| !old.constraints.iter().any(|o| o == *c))
        .collect();
    let rewrite = map.iter().any(Option::is_none)
        || old.columns.len() != new.columns.len()
        || !type_changed.is_empty();
    let need_rows = rewrite
        || tightened
        || !validate_checks.is_empty()
        || (*validate_foreign_keys && !new_fks.is_empty())
        || create_indexes.iter().any(|i| i.unique);
    let storage = x.storage(&old)?;
    let txn = x.ctx.txn;

    // Sequences first: a SERIAL column's fill calls nextval on its own.
    for s in sequences.iter() {
        x.apply(CatalogChange::CreateSequence(s.clone()))?;
    }
    // Existing rows, converted to the new layout.
    let mut row_ids: Vec<RowId> = Vec::new();
    let mut new_rows: Vec<Vec<Value>> = Vec::new();
    let mut fill_const: Option<Value> = None;
    if need_rows {
        let scanned = x.scan(&old, true)?;
        let mut cx = x.eval_cx();
        let fill_expr = match (fill.as_ref().into_option(), fill_target) {
            (Some(&e), Some(_)) => Some(compile_expr(&mut cx, plan, e)?),
            _ => None,
        };
        if let Some(&e) = fill.as_ref().into_option() {
            if let Some(ExprKind::Const(v)) = plan.expr(e).map(|x| &x.kind) {
                fill_const = Some(v.clone());
            }
        }
        for mut r in scanned {
            let rid = match r.pop() {
                Some(Value::Int8(id)) => id as RowId,
                _ => return Err(AionError::internal("scan without row id")),
            };
            cx.tick()?;
            let mut out = Vec::with_capacity(new.columns.len());
            for (j, from) in map.iter().enumerate() {
                let v = if Some(j) == fill_target {
                    match &fill_expr {
                        Some(f) => f.eval(&mut cx, &r)?,
                        None => Value::Null,
                    }
                } else {
                    from.and_then(|i| r.get(i).cloned()).unwrap_or(Value::Null)
                };
                out.push(v);
            }
            row_ids.push(rid);
            new_rows.push(out);
        }
        validate(x, plan, new, validate_checks, &new_fks, &new_rows)?;
        for i in create_indexes.iter().filter(|i| i.unique) {
            check_unique(new, &i.name, &i.columns, &new_rows)?;
        }
    } else if let Some(&e) = fill.as_ref().into_option() {
        // No rows to fill: evaluate once only if constant (volatile fills
        // such as nextval must not advance a sequence for no row).
        if let Some(ExprKind::Const(v)) = plan.expr(e).map(|x| &x.kind) {
            fill_const = Some(v.clone());
        }
    }

    // Apply.
    for id in drop_indexes.iter() {
        x.drop_index(*id)?;
    }
    if rewrite {
        // A constant fill is stored by the backend directly; anything else
        // (volatile defaults, type changes) rewrites each row.
        let per_row = fill_target.is_some() && fill_const.is_none() && !new_rows.is_empty();
        let fill_value = if per_row {
            Value::Null
        } else {
            fill_const.clone().unwrap_or(Value::Null)
        };
        storage
            .alter_table(txn, &old, new, &fill_value)
            .into_result()?;
        if per_row || !type_changed.is_empty() {
            rewrite_rows(x, new, &row_ids, &new_rows)?;
        }
    }
    x.apply(CatalogChange::AlterTable(new.clone()))?;
    rename_in_views(x, &old, new)?;
    if !positional {
        follow_referencing_fks(x, &old, new)?;
    }
    for i in create_indexes.iter() {
        let mut i = i.clone();
        i.table = new.id;
        i.id = x.apply(CatalogChange::CreateIndex(i.clone()))?;
        storage.create_index(txn, &i, new).into_result()?;
    }
    // Sequences owned by dropped columns go with them.
    let dropped: HashSet<&str> = old
        .columns
        .iter()
        .filter(|o| !new.columns.iter().any(|c| c.name == o.name) && !positional)
        .map(|o| o.name.as_str())
        .collect();
    if !dropped.is_empty() {
        for s in x.services.catalog.sequences() {
            let Some(o) = s.owned_by.as_ref().into_option() else {
                continue;
            };
            if o.table == old.id
                && old
                    .columns
                    .get(o.column as usize)
                    .is_some_and(|c| dropped.contains(c.name.as_str()))
                && !new.columns.iter().any(|c| {
                    c.default_expr
                        .as_ref()
                        .into_option()
                        .and_then(|d| nextval_target(d))
                        .is_some_and(|t| t.rsplit('.').next() == Some(s.name.as_str()))
                })
            {
                x.apply(CatalogChange::DropSequence { id: s.id })?;
            }
        }
    }
    Ok(0)
}

/// Foreign keys of other tables over columns of this one: renumbered when
/// columns moved, dropped (DROP COLUMN ... CASCADE) when theirs went.
fn follow_referencing_fks(x: &mut Exec<'_>, old: &TableDef, new: &TableDef) -> DbResult<()> {
    let position = |r: u32| -> Option<u32> {
        let name = &old.columns.get(r as usize)?.name;
        new.columns
            .iter()
            .position(|c| &c.name == name)
            .map(|p| p as u32)
    };
    for t in x.services.catalog.tables(ROption::RNone) {
        if t.id == new.id {
            continue;
        }
        let mut changed = t.clone();
        let mut dirty = false;
        let mut kept = Vec::with_capacity(t.constraints.len());
        for c in t.constraints.iter() {
            let mut c = c.clone();
            if let ConstraintKind::ForeignKey {
                ref_table,
                ref_columns,
                ..
            } = &mut c.kind
            {
                if *ref_table == new.id {
                    let mapped: Option<Vec<u32>> =
                        ref_columns.iter().map(|&r| position(r)).collect();
                    match mapped {
                        Some(m) => {
                            if m.as_slice() != ref_columns.as_slice() {
                                *ref_columns = RVec::from(m);
                                dirty = true;
                            }
                        }
                        None => {
                            dirty = true;
                            continue;
                        }
                    }
                }
            }
            kept.push(c);
        }
        changed.constraints = RVec::from(kept);
        if dirty {
            x.apply(CatalogChange::AlterTable(changed))?;
        }
    }
    Ok(())
}

/// Views keep their SQL text, so a renamed relation is renamed in the
/// views that mention it (PostgreSQL tracks them by OID).
fn rename_in_views(x: &mut Exec<'_>, old: &TableDef, new: &TableDef) -> DbResult<()> {
    if old.name == new.name {
        return Ok(());
    }
    for v in x.services.catalog.tables(ROption::RNone) {
        if v.kind != RelationKind::View || v.id == new.id {
            continue;
        }
        let Some(sql) = v.view_sql.as_ref().into_option() else {
            continue;
        };
        if !sql_mentions(sql, &old.name) {
            continue;
        }
        let mut nv = v.clone();
        nv.view_sql = ROption::RSome(RString::from(rename_word(sql, &old.name, &new.name)));
        x.apply(CatalogChange::AlterTable(nv))?;
    }
    Ok(())
}

/// Writes the converted rows back (type changes, per-row fill values).
fn rewrite_rows(
    x: &Exec<'_>,
    new: &TableDef,
    row_ids: &[RowId],
    rows: &[Vec<Value>],
) -> DbResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let storage = x.storage(new)?;
    let wait = LockWait {
        timeout_ms: x.ctx.lock_timeout_ms,
        deadline_unix_us: x.ctx.deadline_unix_us,
        cancel: x.ctx.cancel.clone(),
    };
    for &rid in row_ids {
        storage
            .lock_row(x.ctx.txn, new.id, rid, true, &wait)
            .into_result()?;
    }
    let mut batch = RowBatch::with_capacity(new.columns.len(), rows.len());
    for r in rows {
        batch.push_row(r.iter().cloned());
    }
    storage
        .update(x.ctx.txn, new.id, RSlice::from_slice(row_ids), &batch)
        .into_result()?;
    Ok(())
}

/// NOT NULL, CHECK and FOREIGN KEY validation of existing rows (already in
/// the new layout).
fn validate(
    x: &Exec<'_>,
    plan: &Plan,
    new: &TableDef,
    checks: &RVec<aiondb_sdk::plan::CheckConstraint>,
    new_fks: &[&ConstraintDef],
    rows: &[Vec<Value>],
) -> DbResult<()> {
    for (j, c) in new.columns.iter().enumerate() {
        if c.nullable {
            continue;
        }
        if rows.iter().any(|r| r.get(j).is_none_or(Value::is_null)) {
            return Err(AionError::new(
                SqlState::NOT_NULL_VIOLATION,
                format!(
                    "column \"{}\" of relation \"{}\" contains null values",
                    c.name, new.name
                ),
            ));
        }
    }
    let mut cx = x.eval_cx();
    for c in checks.iter() {
        let e = compile_expr(&mut cx, plan, c.expr)?;
        for r in rows {
            cx.tick()?;
            if matches!(e.eval(&mut cx, r)?, Value::Bool(false)) {
                return Err(AionError::new(
                    SqlState::CHECK_VIOLATION,
                    format!(
                        "check constraint \"{}\" of relation \"{}\" is violated by some row",
                        c.name, new.name
                    ),
                ));
            }
        }
    }
    for fk in new_fks {
        let ConstraintKind::ForeignKey {
            columns,
            ref_table,
            ref_columns,
            ..
        } = &fk.kind
        else {
            continue;
        };
        let (parent, parent_rows): (TableDef, Vec<Vec<Value>>) = if *ref_table == new.id {
            (new.clone(), rows.to_vec())
        } else {
            let p = x
                .services
                .catalog
                .table_by_id(*ref_table)
                .into_option()
                .ok_or_else(|| {
                    AionError::new(
                        SqlState::UNDEFINED_TABLE,
                        format!("relation with OID {ref_table} does not exist"),
                    )
                })?;
            let rows = x.scan(&p, false)?;
            (p, rows)
        };
        let keys: HashSet<String> = parent_rows
            .iter()
            .filter_map(|r| {
                let k: Vec<&Value> = ref_columns
                    .iter()
                    .map(|&c| r.get(c as usize).unwrap_or(&Value::Null))
                    .collect();
                key_text(&k)
            })
            .collect();
        for r in rows {
            let k: Vec<&Value> = columns
                .iter()
                .map(|&c| r.get(c as usize).unwrap_or(&Value::Null))
                .collect();
            // MATCH SIMPLE: a key with a NULL is not checked.
            let Some(k) = key_text(&k) else {
                continue;
            };
            if !keys.contains(&k) {
                return Err(AionError::new(
                    SqlState::FOREIGN_KEY_VIOLATION,
                    format!(
                        "insert or update on table \"{}\" violates foreign key constraint \"{}\"",
                        new.name, fk.name
                    ),
                )
                .with_detail(format!(
                    "Key {} is not present in table \"{}\".",
                    key_detail(new, columns, r),
                    parent.name
                )));
            }
        }
    }
    Ok(())
}
