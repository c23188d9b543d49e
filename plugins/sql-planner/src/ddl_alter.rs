//! ALTER TABLE.
//!
//! The plan carries the whole new definition. Column positions shift when a
//! column is dropped, so indexes over later columns are dropped and created
//! again with the new positions (same names). `fill` gives the one column
//! that needs a value for existing rows (added with a default, or changing
//! type) and is evaluated over the old row.

use std::collections::HashSet;

use aiondb_sdk::plan::{DdlAction, ExprKind, ExprRef, SpecialFunc};
use aiondb_sdk::prelude::*;
use sqlparser::ast;

use super::table::{
    add_column, add_constraints, check_expr, empty_table, new_owned_sequence, referenced_columns,
    rename_in_sql, table_constraint_spec, validate_defaults, TableDraft,
};
use super::{ident, nextval_default, wrong_object_type, Ddl};
use crate::shared::bind_table_expr;

/// An index of the table as the statement leaves it.
struct IndexState {
    def: IndexDef,
    /// Existing index whose column positions moved.
    moved: bool,
}

pub(super) fn plan_alter_table(d: Ddl<'_>, at: &ast::AlterTable) -> DbResult<Plan> {
    let Some(old) = d.find_relation(&at.name)? else {
        if at.if_exists {
            // PostgreSQL: NOTICE relation "x" does not exist, skipping.
            return Ok(noop(d));
        }
        let bare = crate::shared::object_parts(&at.name)?.join(".");
        return Err(AionError::new(
            SqlState::UNDEFINED_TABLE,
            format!("relation \"{bare}\" does not exist"),
        ));
    };
    let renames = at.operations.iter().any(|o| {
        matches!(
            o,
            ast::AlterTableOperation::RenameTable { .. }
                | ast::AlterTableOperation::RenameColumn { .. }
                | ast::AlterTableOperation::RenameConstraint { .. }
        )
    });
    if renames && at.operations.len() > 1 {
        return Err(AionError::new(
            SqlState::SYNTAX_ERROR,
            "syntax error at or near \",\"",
        ));
    }
    let only_rename = matches!(
        at.operations.as_slice(),
        [ast::AlterTableOperation::RenameTable { .. }]
    );
    if old.kind != RelationKind::Table && !only_rename {
        return Err(wrong_object_type(&old.name, "a table"));
    }
    let schema = d
        .services
        .catalog
        .schemas()
        .into_iter()
        .find(|s| s.id == old.schema)
        .ok_or_else(|| AionError::internal("table schema vanished"))?;
    let mut draft = TableDraft {
        schema,
        def: old.clone(),
        sequences: Vec::new(),
        indexes: Vec::new(),
        new_relations: HashSet::new(),
        added_checks: Vec::new(),
        added_fk: false,
        added_defaults: Vec::new(),
        existing: true,
    };
    let mut idx: Vec<IndexState> = d
        .services
        .catalog
        .indexes_of(old.id)
        .into_iter()
        .map(|def| IndexState { def, moved: false })
        .collect();
    // (column name, fill expression over the old row)
    let mut fill: Option<(String, ExprRef)> = None;
    let mut not_valid: HashSet<String> = HashSet::new();
    let mut d = d;
    for op in &at.operations {
        use ast::AlterTableOperation as A;
        match op {
            A::AddColumn {
                if_not_exists,
                column_def,
                ..
            } => {
                let name = ident(&column_def.name);
                if *if_not_exists && draft.def.columns.iter().any(|c| c.name.as_str() == name) {
                    continue;
                }
                let specs = add_column(&d, &mut draft, column_def)?;
                add_constraints(&d, &mut draft, specs)?;
                let Some(col) = draft.def.columns.last().cloned() else {
                    continue;
                };
                if let Some(text) = col.default_expr.as_ref().into_option() {
                    let e = fill_for_default(&mut d, &old, &draft, &col, text)?;
                    set_fill(&mut fill, &name, e)?;
                }
            }
            A::DropColumn {
                column_names,
                if_exists,
                drop_behavior,
                ..
            } => {
                let cascade = matches!(drop_behavior, Some(ast::DropBehavior::Cascade));
                for c in column_names {
                    drop_column(&d, &mut draft, &mut idx, &ident(c), *if_exists, cascade)?;
                }
            }
            A::RenameColumn {
                old_column_name,
                new_column_name,
            } => rename_column(&mut draft, &ident(old_column_name), &ident(new_column_name))?,
            A::RenameTable { table_name } => {
                let (ast::RenameTableNameKind::To(n) | ast::RenameTableNameKind::As(n)) =
                    table_name;
                let parts = crate::shared::object_parts(n)?;
                let [new_name] = parts.as_slice() else {
                    return Err(AionError::new(
                        SqlState::SYNTAX_ERROR,
                        "syntax error at or near \".\"",
                    ));
                };
                let new_name = super::truncate_name(new_name);
                if new_name != draft.def.name.as_str()
                    && d.relation_exists(draft.schema.id, &new_name)
                {
                    return Err(AionError::new(
                        SqlState::DUPLICATE_TABLE,
                        format!("relation \"{new_name}\" already exists"),
                    ));
                }
                draft.def.name = RString::from(new_name);
            }
            A::RenameConstraint { old_name, new_name } => {
                rename_constraint(&d, &mut draft, &mut idx, &ident(old_name), &ident(new_name))?
            }
            A::AddConstraint {
                constraint,
                not_valid: nv,
            } => {
                let spec = table_constraint_spec(constraint)?;
                let before = draft.def.constraints.len();
                add_constraints(&d, &mut draft, vec![spec])?;
                if *nv {
                    for c in draft.def.constraints.iter().skip(before) {
                        not_valid.insert(c.name.to_string());
                    }
                }
            }
            A::DropConstraint {
                if_exists,
                name,
                drop_behavior,
            } => {
                let cascade = matches!(drop_behavior, Some(ast::DropBehavior::Cascade));
                drop_constraint(&d, &mut draft, &mut idx, &ident(name), *if_exists, cascade)?;
            }
            A::AlterColumn { column_name, op } => {
                let cname = ident(column_name);
                let Some(ci) = draft
                    .def
                    .columns
                    .iter()
                    .position(|c| c.name.as_str() == cname)
                else {
                    return Err(AionError::new(
                        SqlState::UNDEFINED_COLUMN,
                        format!(
                            "column \"{cname}\" of relation \"{}\" does not exist",
                            draft.def.name
                        ),
                    ));
                };
                alter_column(&mut d, &old, &mut draft, ci, op, &mut fill)?;
            }
            other => {
                return Err(AionError::feature_not_supported(format!(
                    "ALTER TABLE {other} is not supported"
                )))
            }
        }
    }
    // Storage (and the executor) match columns by position when the width
    // is unchanged (a rename) and by name otherwise: dropping and adding
    // the same number of columns in one statement would be misread.
    let kept = old
        .columns
        .iter()
        .filter(|o| draft.def.columns.iter().any(|c| c.name == o.name))
        .count();
    if kept < old.columns.len() && draft.def.columns.len() == old.columns.len() && !renames {
        return Err(AionError::feature_not_supported(
            "dropping and adding the same number of columns in one ALTER TABLE is not supported",
        )
        .with_hint("Run the DROP COLUMN and ADD COLUMN as separate statements."));
    }
    validate_defaults(&d, &draft)?;
    // Added CHECK constraints are validated against the existing rows in
    // the new layout (NOT VALID ones are not).
    let mut checks = Vec::new();
    for (name, expr) in &draft.added_checks {
        let c = check_expr(&mut d.b, d.services, &draft.def, name, expr)?;
        if !not_valid.contains(name) {
            checks.push(c);
        }
    }
    let originals: Vec<IndexDef> = d.services.catalog.indexes_of(old.id).into_vec();
    let mut drop_indexes = Vec::new();
    let mut create_indexes = Vec::new();
    for o in &originals {
        match idx.iter().find(|s| s.def.id == o.id) {
            Some(s) if !s.moved => {}
            Some(s) => {
                drop_indexes.push(o.id);
                let mut n = s.def.clone();
                n.id = 0;
                create_indexes.push(n);
            }
            None => drop_indexes.push(o.id),
        }
    }
    create_indexes.extend(draft.indexes);
    d.b.add_table(old.id);
    let fill = fill.map(|(_, e)| e);
    Ok(d.finish(
        DdlAction::AlterTable {
            new: draft.def,
            fill: fill.into(),
            validate_checks: RVec::from(checks),
            create_indexes: RVec::from(create_indexes),
            drop_indexes: RVec::from(drop_indexes),
            validate_foreign_keys: draft.added_fk,
            sequences: RVec::from(draft.sequences),
        },
        "ALTER TABLE",
    ))
}

/// A plan that changes nothing (ALTER TABLE IF EXISTS of a missing table).
fn noop(d: Ddl<'_>) -> Plan {
    d.finish(
        DdlAction::DropIndexes {
            indexes: RVec::new(),
        },
        "ALTER TABLE",
    )
}

fn set_fill(fill: &mut Option<(String, ExprRef)>, col: &str, e: ExprRef) -> DbResult<()> {
    if let Some((other, _)) = fill {
        if other != col {
            return Err(AionError::feature_not_supported(
                "rewriting more than one column in one ALTER TABLE is not supported",
            )
            .with_hint("Split the ALTER TABLE into one statement per column."));
        }
    }
    *fill = Some((col.to_string(), e));
    Ok(())
}

/// The value existing rows get for an added column with a default.
fn fill_for_default(
    d: &mut Ddl<'_>,
    old: &TableDef,
    draft: &TableDraft,
    col: &ColumnDef,
    text: &str,
) -> DbResult<ExprRef> {
    // SERIAL / IDENTITY: the sequence is created by this same statement,
    // so it is called by name at run time rather than bound now.
    if let Some(seq) = draft.sequences.iter().find(|s| {
        s.owned_by.as_ref().into_option().is_some_and(|o| {
            draft.def.columns.get(o.column as usize).map(|c| &c.name) == Some(&col.name)
        })
    }) {
        let qualified = format!("{}.{}", draft.schema.name, seq.name);
        let arg = d.b.constant(Value::text(qualified), DataType::TEXT);
        let call = d.b.expr(
            ExprKind::Special {
                func: SpecialFunc::NextVal,
                args: RVec::from(vec![arg]),
            },
            DataType::INT8,
        );
        return Ok(cast_to(d, call, DataType::INT8, col.data_type));
    }
    let expr = crate::dml::parse_stored_expr(d.services, text)?;
    let e = bind_table_expr(&mut d.b, d.services, old, &expr)?;
    let t =
        d.b.exprs
            .get(e as usize)
            .map(|x| x.data_type)
            .unwrap_or(col.data_type);
    Ok(cast_to(d, e, t, col.data_type))
}

fn cast_to(d: &mut Ddl<'_>, e: ExprRef, from: DataType, to: DataType) -> ExprRef {
    if from == to {
        return e;
    }
    d.b.expr(
        ExprKind::Cast {
            arg: e,
            to,
            explicit: false,
        },
        to,
    )
}

fn alter_column(
    d: &mut Ddl<'_>,
    old: &TableDef,
    draft: &mut TableDraft,
    ci: usize,
    op: &ast::AlterColumnOperation,
    fill: &mut Option<(String, ExprRef)>,
) -> DbResult<()> {
    use ast::AlterColumnOperation as C;
    let table_name = draft.def.name.to_string();
    let Some(col) = draft.def.columns.get(ci).cloned() else {
        return Err(AionError::internal("column index out of range"));
    };
    let cname = col.name.to_string();
    match op {
        C::SetNotNull => draft.def.columns[ci].nullable = false,
        C::DropNotNull => {
            let in_pk = draft.def.constraints.iter().any(|c| match &c.kind {
                ConstraintKind::PrimaryKey { columns } => columns.contains(&(ci as u32)),
                _ => false,
            });
            if in_pk {
                return Err(AionError::new(
                    SqlState::new(b"42P16"),
                    format!("column \"{cname}\" is in a primary key"),
                ));
            }
            if col.identity != Identity::None {
                return Err(AionError::new(
                    SqlState::new(b"42P16"),
                    format!(
                        "column \"{cname}\" of relation \"{table_name}\" is an identity column"
                    ),
                ));
            }
            draft.def.columns[ci].nullable = true;
        }
        C::SetDefault { value } => {
            if col.identity != Identity::None {
                return Err(AionError::new(
                    SqlState::SYNTAX_ERROR,
                    format!(
                        "column \"{cname}\" of relation \"{table_name}\" is an identity column"
                    ),
                )
                .with_hint("Use ALTER TABLE ... ALTER COLUMN ... DROP IDENTITY instead."));
            }
            // Binding now reports unknown functions and column references.
            let mut scratch = crate::shared::PlanBuilder::new();
            let empty = empty_table(&draft.schema, &table_name, d.services);
            bind_table_expr(&mut scratch, d.services, &empty, value).map_err(|e| {
                if e.sqlstate == SqlState::UNDEFINED_COLUMN {
                    AionError::feature_not_supported(
                        "cannot use column reference in DEFAULT expression",
                    )
                } else {
                    e
                }
            })?;
            draft.def.columns[ci].default_expr = ROption::RSome(RString::from(value.to_string()));
        }
        C::DropDefault => {
            if col.identity == Identity::None {
                draft.def.columns[ci].default_expr = ROption::RNone;
            }
        }
        C::SetDataType {
            data_type, using, ..
        } => {
            let to = crate::shared::sql_data_type(data_type)?;
            let old_index = old
                .columns
                .iter()
                .position(|c| c.name == col.name)
                .ok_or_else(|| {
                    AionError::feature_not_supported(
                        "changing the type of a column added in the same statement is not supported",
                    )
                })?;
            let e = match using {
                Some(u) => {
                    let e = bind_table_expr(&mut d.b, d.services, old, u)?;
                    let t = d.b.exprs.get(e as usize).map(|x| x.data_type).unwrap_or(to);
                    cast_to(d, e, t, to)
                }
                None => {
                    let from = old.columns[old_index].data_type;
                    if !aiondb_sdk::value::can_coerce(
                        &from,
                        &to,
                        aiondb_sdk::value::CoercionKind::Assignment,
                    ) {
                        return Err(AionError::new(
                            SqlState::DATATYPE_MISMATCH,
                            format!("column \"{cname}\" cannot be cast automatically to type {to}"),
                        )
                        .with_hint(format!(
                            "You might need to specify \"USING {cname}::{to}\"."
                        )));
                    }
                    let c = d.b.expr(
                        ExprKind::Column {
                            input: 0,
                            column: old_index as u32,
                        },
                        from,
                    );
                    cast_to(d, c, from, to)
                }
            };
            draft.def.columns[ci].data_type = to;
            set_fill(fill, &cname, e)?;
        }
        C::AddGenerated {
            generated_as,
            sequence_options,
        } => {
            let identity = match generated_as {
                Some(ast::GeneratedAs::Always) => Identity::Always,
                Some(ast::GeneratedAs::ByDefault) => Identity::ByDefault,
                _ => {
                    return Err(AionError::new(
                        SqlState::SYNTAX_ERROR,
                        "syntax error at or near \"AS\"",
                    ))
                }
            };
            let state = |what: &str| {
                AionError::new(
                    SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
                    format!("column \"{cname}\" of relation \"{table_name}\" {what}"),
                )
            };
            let max = match col.data_type {
                t if t == DataType::INT2 => i16::MAX as i64,
                t if t == DataType::INT4 => i32::MAX as i64,
                t if t == DataType::INT8 => i64::MAX,
                _ => {
                    return Err(AionError::new(
                        SqlState::INVALID_PARAMETER_VALUE,
                        "identity column type must be smallint, integer, or bigint",
                    ))
                }
            };
            // PostgreSQL's order of checks.
            if col.nullable {
                return Err(state(
                    "must be declared NOT NULL before identity can be added",
                ));
            }
            if matches!(col.identity, Identity::Always | Identity::ByDefault) {
                return Err(state("is already an identity column"));
            }
            if col.default_expr.is_some() {
                return Err(state("already has a default value"));
            }
            let opts = sequence_options.clone().unwrap_or_default();
            let seq = new_owned_sequence(d, draft, &cname, ci as u32, max, &opts)?;
            let column = &mut draft.def.columns[ci];
            column.identity = identity;
            column.default_expr =
                ROption::RSome(RString::from(nextval_default(&draft.schema, &seq)));
        }
    }
    Ok(())
}

fn rename_column(draft: &mut TableDraft, old: &str, new: &str) -> DbResult<()> {
    let Some(ci) = draft
        .def
        .columns
        .iter()
        .position(|c| c.name.as_str() == old)
    else {
        return Err(AionError::new(
            SqlState::UNDEFINED_COLUMN,
            format!("column \"{old}\" does not exist"),
        ));
    };
    if draft.def.columns.iter().any(|c| c.name.as_str() == new) {
        return Err(AionError::new(
            SqlState::new(b"42701"),
            format!(
                "column \"{new}\" of relation \"{}\" already exists",
                draft.def.name
            ),
        ));
    }
    draft.def.columns[ci].name = RString::from(new);
    for c in draft.def.constraints.iter_mut() {
        if let ConstraintKind::Check { expr } = &mut c.kind {
            *expr = RString::from(rename_in_sql(expr, old, new));
        }
    }
    Ok(())
}

/// Column lists of a constraint.
fn constraint_columns(k: &ConstraintKind) -> Option<&RVec<u32>> {
    match k {
        ConstraintKind::PrimaryKey { columns }
        | ConstraintKind::Unique { columns }
        | ConstraintKind::ForeignKey { columns, .. } => Some(columns),
        ConstraintKind::Check { .. } => None,
    }
}

/// Foreign keys of other tables that reference `cols` (as a set) of
/// `table`, or any column of it when `cols` is `None`.
fn referencing_fks(d: &Ddl<'_>, table: TableId, cols: Option<&[u32]>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for t in d.services.catalog.tables(ROption::RNone) {
        if t.id == table {
            continue;
        }
        for c in t.constraints.iter() {
            if let ConstraintKind::ForeignKey {
                ref_table,
                ref_columns,
                ..
            } = &c.kind
            {
                if *ref_table != table {
                    continue;
                }
                let hit = match cols {
                    None => true,
                    Some(cols) => {
                        let mut a = ref_columns.to_vec();
                        let mut b = cols.to_vec();
                        a.sort_unstable();
                        b.sort_unstable();
                        a == b
                    }
                };
                if hit {
                    out.push((c.name.to_string(), t.name.to_string()));
                }
            }
        }
    }
    out
}

fn drop_column(
    d: &Ddl<'_>,
    draft: &mut TableDraft,
    idx: &mut Vec<IndexState>,
    name: &str,
    if_exists: bool,
    cascade: bool,
) -> DbResult<()> {
    let table_name = draft.def.name.to_string();
    let Some(ci) = draft
        .def
        .columns
        .iter()
        .position(|c| c.name.as_str() == name)
    else {
        if if_exists {
            return Ok(());
        }
        return Err(AionError::new(
            SqlState::UNDEFINED_COLUMN,
            format!("column \"{name}\" of relation \"{table_name}\" does not exist"),
        ));
    };
    let ci32 = ci as u32;
    // Foreign keys elsewhere that point at this column, or at a column
    // whose position would move.
    for t in d.services.catalog.tables(ROption::RNone) {
        if t.id == draft.def.id {
            continue;
        }
        for c in t.constraints.iter() {
            if let ConstraintKind::ForeignKey {
                ref_table,
                ref_columns,
                ..
            } = &c.kind
            {
                if *ref_table != draft.def.id {
                    continue;
                }
                // With CASCADE the executor drops such foreign keys; it
                // renumbers the ones over columns that move.
                if ref_columns.contains(&ci32) && !cascade {
                    return Err(AionError::new(
                        SqlState::new(b"2BP01"),
                        format!(
                            "cannot drop column {name} of table {table_name} because other objects depend on it"
                        ),
                    )
                    .with_detail(format!(
                        "constraint {} on table {} depends on column {name} of table {table_name}",
                        c.name, t.name
                    ))
                    .with_hint("Use DROP ... CASCADE to drop the dependent objects too."));
                }
            }
        }
    }
    // Constraints over the column go with it, as in PostgreSQL.
    let mut dropped_names = Vec::new();
    let self_id = draft.def.id;
    let def = &mut draft.def;
    let cols_before = def.clone();
    def.constraints.retain(|c| {
        let involved = match &c.kind {
            ConstraintKind::Check { expr } => {
                referenced_columns(expr, &cols_before).contains(&ci32)
            }
            k => constraint_columns(k).is_some_and(|cols| cols.contains(&ci32)),
        };
        if involved {
            dropped_names.push(c.name.to_string());
        }
        !involved
    });
    def.columns.remove(ci);
    let shift = |cols: &mut RVec<u32>| {
        for c in cols.iter_mut() {
            if *c > ci32 {
                *c -= 1;
            }
        }
    };
    for c in def.constraints.iter_mut() {
        match &mut c.kind {
            ConstraintKind::PrimaryKey { columns } | ConstraintKind::Unique { columns } => {
                shift(columns)
            }
            ConstraintKind::ForeignKey {
                columns,
                ref_table,
                ref_columns,
                ..
            } => {
                shift(columns);
                if *ref_table == self_id {
                    shift(ref_columns);
                }
            }
            ConstraintKind::Check { .. } => {}
        }
    }
    draft
        .added_checks
        .retain(|(n, _)| !dropped_names.contains(n));
    // Indexes over the column go; later ones move.
    idx.retain(|s| !s.def.columns.contains(&ci32));
    for s in idx.iter_mut() {
        if s.def.columns.iter().any(|&c| c > ci32) {
            shift(&mut s.def.columns);
            s.moved = true;
        }
    }
    draft.indexes.retain(|i| !i.columns.contains(&ci32));
    for i in draft.indexes.iter_mut() {
        shift(&mut i.columns);
    }
    Ok(())
}

fn drop_constraint(
    d: &Ddl<'_>,
    draft: &mut TableDraft,
    idx: &mut Vec<IndexState>,
    name: &str,
    if_exists: bool,
    cascade: bool,
) -> DbResult<()> {
    let Some(pos) = draft
        .def
        .constraints
        .iter()
        .position(|c| c.name.as_str() == name)
    else {
        if if_exists {
            return Ok(());
        }
        return Err(AionError::new(
            SqlState::UNDEFINED_OBJECT,
            format!(
                "constraint \"{name}\" of relation \"{}\" does not exist",
                draft.def.name
            ),
        ));
    };
    let c = draft.def.constraints[pos].clone();
    if let ConstraintKind::PrimaryKey { columns } | ConstraintKind::Unique { columns } = &c.kind {
        let deps = referencing_fks(d, draft.def.id, Some(columns));
        if let Some((fk, t)) = deps.first() {
            if cascade {
                return Err(AionError::feature_not_supported(
                    "DROP CONSTRAINT ... CASCADE of a key referenced by a foreign key is not supported",
                ));
            }
            return Err(AionError::new(
                SqlState::new(b"2BP01"),
                format!(
                    "cannot drop constraint {name} on table {} because other objects depend on it",
                    draft.def.name
                ),
            )
            .with_detail(format!(
                "constraint {fk} on table {t} depends on index {name}"
            ))
            .with_hint("Use DROP ... CASCADE to drop the dependent objects too."));
        }
        idx.retain(|s| s.def.name.as_str() != name);
        draft.indexes.retain(|i| i.name.as_str() != name);
        draft.new_relations.remove(name);
    }
    draft.def.constraints.remove(pos);
    draft.added_checks.retain(|(n, _)| n != name);
    Ok(())
}

/// ALTER TABLE ... RENAME CONSTRAINT: an index-backed constraint renames
/// its index too (dropped and built again under the new name).
fn rename_constraint(
    d: &Ddl<'_>,
    draft: &mut TableDraft,
    idx: &mut [IndexState],
    old: &str,
    new: &str,
) -> DbResult<()> {
    let table_name = draft.def.name.to_string();
    let Some(pos) = draft
        .def
        .constraints
        .iter()
        .position(|c| c.name.as_str() == old)
    else {
        return Err(AionError::new(
            SqlState::UNDEFINED_OBJECT,
            format!("constraint \"{old}\" for table \"{table_name}\" does not exist"),
        ));
    };
    if draft.def.constraints.iter().any(|c| c.name.as_str() == new) {
        return Err(AionError::new(
            SqlState::DUPLICATE_OBJECT,
            format!("constraint \"{new}\" for relation \"{table_name}\" already exists"),
        ));
    }
    let backed = matches!(
        draft.def.constraints[pos].kind,
        ConstraintKind::PrimaryKey { .. } | ConstraintKind::Unique { .. }
    );
    if backed {
        if d.relation_exists(draft.schema.id, new) {
            return Err(AionError::new(
                SqlState::DUPLICATE_TABLE,
                format!("relation \"{new}\" already exists"),
            ));
        }
        for s in idx.iter_mut() {
            if s.def.name.as_str() == old {
                s.def.name = RString::from(new);
                s.moved = true;
            }
        }
    }
    draft.def.constraints[pos].name = RString::from(new);
    Ok(())
}

/// ALTER INDEX ... RENAME TO: the index is dropped and built again under
/// its new name (the catalog has no index rename); a PRIMARY KEY or
/// UNIQUE constraint it backs is renamed with it.
pub(super) fn plan_rename_index(
    d: Ddl<'_>,
    name: &ast::ObjectName,
    new_name: &ast::ObjectName,
) -> DbResult<Plan> {
    let (schemas, bare) = d.lookup_scope(name)?;
    let Some((index, table)) = schemas.iter().find_map(|s| d.index_by_name(s.id, &bare)) else {
        return Err(AionError::new(
            SqlState::UNDEFINED_TABLE,
            format!("relation \"{bare}\" does not exist"),
        ));
    };
    let parts = crate::shared::object_parts(new_name)?;
    let [new] = parts.as_slice() else {
        return Err(AionError::new(
            SqlState::SYNTAX_ERROR,
            "syntax error at or near \".\"",
        ));
    };
    let new = super::truncate_name(new);
    if d.relation_exists(table.schema, &new) {
        return Err(AionError::new(
            SqlState::DUPLICATE_TABLE,
            format!("relation \"{new}\" already exists"),
        ));
    }
    let mut def = table.clone();
    for c in def.constraints.iter_mut() {
        if c.name == index.name {
            c.name = RString::from(new.as_str());
        }
    }
    let mut renamed = index.clone();
    renamed.id = 0;
    renamed.name = RString::from(new);
    let mut d = d;
    d.b.add_table(table.id);
    Ok(d.finish(
        DdlAction::AlterTable {
            new: def,
            fill: ROption::RNone,
            validate_checks: RVec::new(),
            create_indexes: RVec::from(vec![renamed]),
            drop_indexes: RVec::from(vec![index.id]),
            validate_foreign_keys: false,
            sequences: RVec::new(),
        },
        "ALTER INDEX",
    ))
}
