//! DROP, CREATE SCHEMA, CREATE INDEX, CREATE VIEW, CREATE SEQUENCE,
//! TRUNCATE and ANALYZE.

use std::collections::HashSet;

use aiondb_sdk::plan::{DdlAction, Operator};
use aiondb_sdk::prelude::*;
use sqlparser::ast;

use super::table::apply_sequence_options;
use super::{ident, wrong_object_type, Ddl};

pub(super) fn plan_drop(
    d: Ddl<'_>,
    object_type: ast::ObjectType,
    if_exists: bool,
    names: &[ast::ObjectName],
    cascade: bool,
) -> DbResult<Plan> {
    use ast::ObjectType as O;
    let (kind, word, command) = match object_type {
        O::Table => (RelationKind::Table, "table", "DROP TABLE"),
        O::View => (RelationKind::View, "view", "DROP VIEW"),
        O::Sequence => (RelationKind::Sequence, "sequence", "DROP SEQUENCE"),
        O::Index => return plan_drop_index(d, if_exists, names),
        O::Schema => return plan_drop_schema(d, if_exists, names, cascade),
        other => {
            return Err(AionError::feature_not_supported(format!(
                "DROP {other} is not supported"
            )))
        }
    };
    let mut ids = Vec::new();
    for name in names {
        let found = if kind == RelationKind::Sequence {
            find_sequence(&d, name)?.map(|s| (s.id, RelationKind::Sequence, s.name))
        } else {
            match d.find_relation(name)? {
                Some(t) => Some((t.id, t.kind, t.name)),
                // A sequence of that name: wrong type, not missing.
                None => find_sequence(&d, name)?.map(|s| (s.id, RelationKind::Sequence, s.name)),
            }
        };
        match found {
            Some((id, k, _)) if k == kind => {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            Some((_, k, n2)) => {
                let hint = match k {
                    RelationKind::Table => "Use DROP TABLE to remove a table.",
                    RelationKind::View => "Use DROP VIEW to remove a view.",
                    RelationKind::Sequence => "Use DROP SEQUENCE to remove a sequence.",
                };
                let what = match kind {
                    RelationKind::Table => "a table",
                    RelationKind::View => "a view",
                    RelationKind::Sequence => "a sequence",
                };
                return Err(wrong_object_type(&n2, what).with_hint(hint));
            }
            None if if_exists => {}
            None => {
                let bare = crate::shared::object_parts(name)?.join(".");
                return Err(AionError::new(
                    SqlState::UNDEFINED_TABLE,
                    format!("{word} \"{bare}\" does not exist"),
                ));
            }
        }
    }
    let mut d = d;
    for id in &ids {
        d.b.add_table(*id);
    }
    Ok(d.finish(
        DdlAction::DropTables {
            tables: RVec::from(ids),
            cascade,
        },
        command,
    ))
}

/// A sequence by (possibly qualified) name through the search path.
pub(super) fn find_sequence(d: &Ddl<'_>, name: &ast::ObjectName) -> DbResult<Option<SequenceDef>> {
    let (schemas, bare) = d.lookup_scope(name)?;
    Ok(schemas.iter().find_map(|s| {
        d.services
            .catalog
            .sequence_by_name(s.id, RStr::from_str(&bare))
            .into_option()
    }))
}

fn plan_drop_index(d: Ddl<'_>, if_exists: bool, names: &[ast::ObjectName]) -> DbResult<Plan> {
    let mut ids = Vec::new();
    for name in names {
        let (schemas, bare) = d.lookup_scope(name)?;
        let found = schemas.iter().find_map(|s| d.index_by_name(s.id, &bare));
        match found {
            Some((index, table)) => {
                // Indexes behind PRIMARY KEY / UNIQUE go with their constraint.
                if let Some(c) = table.constraints.iter().find(|c| {
                    c.name == index.name
                        && matches!(
                            c.kind,
                            ConstraintKind::PrimaryKey { .. } | ConstraintKind::Unique { .. }
                        )
                }) {
                    return Err(AionError::new(
                        SqlState::new(b"2BP01"),
                        format!(
                            "cannot drop index {} because constraint {} on table {} requires it",
                            index.name, c.name, table.name
                        ),
                    )
                    .with_hint(format!(
                        "You can drop constraint {} on table {} instead.",
                        c.name, table.name
                    )));
                }
                if !ids.contains(&index.id) {
                    ids.push(index.id);
                }
            }
            None if if_exists => {}
            None => {
                return Err(AionError::new(
                    SqlState::UNDEFINED_OBJECT,
                    format!("index \"{bare}\" does not exist"),
                ))
            }
        }
    }
    Ok(d.finish(
        DdlAction::DropIndexes {
            indexes: RVec::from(ids),
        },
        "DROP INDEX",
    ))
}

fn plan_drop_schema(
    d: Ddl<'_>,
    if_exists: bool,
    names: &[ast::ObjectName],
    cascade: bool,
) -> DbResult<Plan> {
    let [name] = names else {
        return Err(AionError::feature_not_supported(
            "DROP SCHEMA of several schemas at once is not supported",
        ));
    };
    let parts = crate::shared::object_parts(name)?;
    let [schema] = parts.as_slice() else {
        return Err(AionError::new(
            SqlState::SYNTAX_ERROR,
            format!("improper qualified name (too many dotted names): {name}"),
        ));
    };
    if !if_exists {
        d.schema(schema)?;
    }
    Ok(d.finish(
        DdlAction::DropSchema {
            name: RString::from(schema.as_str()),
            if_exists,
            cascade,
        },
        "DROP SCHEMA",
    ))
}

pub(super) fn plan_create_schema(
    d: Ddl<'_>,
    schema_name: &ast::SchemaName,
    if_not_exists: bool,
) -> DbResult<Plan> {
    let (name, owner) = match schema_name {
        ast::SchemaName::Simple(n) => {
            let parts = crate::shared::object_parts(n)?;
            let [s] = parts.as_slice() else {
                return Err(AionError::new(
                    SqlState::SYNTAX_ERROR,
                    format!("improper qualified name (too many dotted names): {n}"),
                ));
            };
            (s.clone(), d.ctx.user.to_string())
        }
        ast::SchemaName::UnnamedAuthorization(a) => (ident(a), ident(a)),
        ast::SchemaName::NamedAuthorization(n, a) => {
            let parts = crate::shared::object_parts(n)?;
            (parts.join("."), ident(a))
        }
    };
    if name.starts_with("pg_") {
        return Err(AionError::new(
            SqlState::new(b"42939"),
            format!("unacceptable schema name \"{name}\""),
        )
        .with_detail("The prefix \"pg_\" is reserved for system schemas."));
    }
    if !if_not_exists
        && d.services
            .catalog
            .schema_by_name(RStr::from_str(&name))
            .is_some()
    {
        return Err(AionError::new(
            SqlState::DUPLICATE_SCHEMA,
            format!("schema \"{name}\" already exists"),
        ));
    }
    Ok(d.finish(
        DdlAction::CreateSchema {
            schema: SchemaDef {
                id: 0,
                name: RString::from(name),
                owner: RString::from(owner),
            },
            if_not_exists,
        },
        "CREATE SCHEMA",
    ))
}

pub(super) fn plan_create_index(d: Ddl<'_>, ci: &ast::CreateIndex) -> DbResult<Plan> {
    let table = d.resolve_relation(&ci.table_name)?;
    if table.kind != RelationKind::Table {
        return Err(wrong_object_type(&table.name, "a table"));
    }
    if ci.predicate.is_some() {
        return Err(AionError::feature_not_supported(
            "partial indexes are not supported",
        ));
    }
    if !ci.include.is_empty() {
        return Err(AionError::feature_not_supported(
            "INCLUDE columns are not supported",
        ));
    }
    let mut cols = Vec::new();
    let mut col_names = Vec::new();
    for c in &ci.columns {
        let ast::Expr::Identifier(id) = &c.column.expr else {
            return Err(AionError::feature_not_supported(
                "indexes on expressions are not supported",
            ));
        };
        let n = ident(id);
        let i = table
            .columns
            .iter()
            .position(|c| c.name.as_str() == n)
            .ok_or_else(|| {
                AionError::new(
                    SqlState::UNDEFINED_COLUMN,
                    format!("column \"{n}\" does not exist"),
                )
            })?;
        cols.push(i as u32);
        col_names.push(n);
    }
    let method = match &ci.using {
        None => "btree".to_string(),
        Some(m) => {
            let m = m.to_string().to_lowercase();
            // A btree answers every equality probe a hash index would.
            if m == "hash" {
                "btree".to_string()
            } else {
                m
            }
        }
    };
    let schema = d
        .services
        .catalog
        .schemas()
        .into_iter()
        .find(|s| s.id == table.schema)
        .ok_or_else(|| AionError::internal("table schema vanished"))?;
    let name = match &ci.name {
        Some(n) => {
            let parts = crate::shared::object_parts(n)?;
            let Some(bare) = parts.last() else {
                return Err(AionError::new(SqlState::SYNTAX_ERROR, "empty index name"));
            };
            if parts.len() > 1 {
                return Err(AionError::new(
                    SqlState::SYNTAX_ERROR,
                    "index name cannot be schema-qualified",
                ));
            }
            let bare = super::truncate_name(bare);
            if d.relation_exists(schema.id, &bare) && !ci.if_not_exists {
                return Err(AionError::new(
                    SqlState::DUPLICATE_TABLE,
                    format!("relation \"{bare}\" already exists"),
                ));
            }
            bare
        }
        None => d.choose_relation_name(
            schema.id,
            &table.name,
            Some(&col_names.join("_")),
            "idx",
            &HashSet::new(),
        ),
    };
    let mut options = Vec::new();
    for w in &ci.with {
        if let ast::Expr::BinaryOp {
            left,
            op: ast::BinaryOperator::Eq,
            right,
        } = w
        {
            let v = match right.as_ref() {
                ast::Expr::Value(v) => match &v.value {
                    ast::Value::SingleQuotedString(s) => s.clone(),
                    other => other.to_string(),
                },
                other => other.to_string(),
            };
            options.push(KeyValue {
                key: RString::from(left.to_string().to_lowercase()),
                value: RString::from(v),
            });
        }
    }
    let mut d = d;
    d.b.add_table(table.id);
    Ok(d.finish(
        DdlAction::CreateIndex {
            index: IndexDef {
                id: 0,
                table: table.id,
                name: RString::from(name),
                method: RString::from(method),
                columns: RVec::from(cols),
                unique: ci.unique,
                options: RVec::from(options),
            },
            if_not_exists: ci.if_not_exists,
        },
        "CREATE INDEX",
    ))
}

pub(super) fn plan_create_view(d: Ddl<'_>, cv: &ast::CreateView) -> DbResult<Plan> {
    if cv.materialized {
        return Err(AionError::feature_not_supported(
            "materialized views are not supported",
        ));
    }
    let (schema, name) = d.creation_target(&cv.name)?;
    let existing = d
        .services
        .catalog
        .table_by_name(schema.id, RStr::from_str(&name))
        .into_option();
    match &existing {
        Some(t) if cv.or_replace && t.kind != RelationKind::View => {
            return Err(wrong_object_type(&name, "a view"));
        }
        Some(_) if cv.or_replace => {}
        Some(_) if cv.if_not_exists => {
            // Exists: nothing to do (PostgreSQL: NOTICE ... skipping).
            return Ok(d.finish(
                DdlAction::DropIndexes {
                    indexes: RVec::new(),
                },
                "CREATE VIEW",
            ));
        }
        _ if d.relation_exists(schema.id, &name) && !cv.if_not_exists => {
            return Err(AionError::new(
                SqlState::DUPLICATE_TABLE,
                format!("relation \"{name}\" already exists"),
            ))
        }
        _ => {}
    }
    // A view runs its query at every use; PostgreSQL refuses it outright.
    let has_dml_with = cv.query.with.as_ref().is_some_and(|w| {
        w.cte_tables.iter().any(|c| {
            matches!(
                &*c.query.body,
                ast::SetExpr::Insert(_) | ast::SetExpr::Update(_) | ast::SetExpr::Delete(_)
            )
        })
    });
    if has_dml_with {
        return Err(AionError::feature_not_supported(
            "views must not contain data-modifying statements in WITH",
        ));
    }
    let out = crate::shared::query_output_schema(d.ctx, d.services, &cv.query)?;
    if cv.columns.len() > out.len() {
        return Err(AionError::new(
            SqlState::SYNTAX_ERROR,
            "CREATE VIEW specifies more column names than columns",
        ));
    }
    let mut columns = Vec::new();
    let mut seen = HashSet::new();
    for (i, f) in out.fields.iter().enumerate() {
        let cname = cv
            .columns
            .get(i)
            .map(|c| ident(&c.name))
            .unwrap_or_else(|| f.name.to_string());
        if !seen.insert(cname.clone()) {
            return Err(AionError::new(
                SqlState::new(b"42701"),
                format!("column \"{cname}\" specified more than once"),
            ));
        }
        let data_type = if f.data_type.id == TypeId::Unknown {
            DataType::TEXT
        } else {
            f.data_type
        };
        columns.push(ColumnDef {
            name: RString::from(cname),
            data_type,
            nullable: true,
            default_expr: ROption::RNone,
            identity: Identity::None,
        });
    }
    if let (Some(old), true) = (&existing, cv.or_replace) {
        // CREATE OR REPLACE VIEW may only add columns at the end.
        if columns.len() < old.columns.len() {
            return Err(AionError::new(
                SqlState::new(b"42P16"),
                "cannot drop columns from view",
            ));
        }
        for (o, n) in old.columns.iter().zip(&columns) {
            if o.name != n.name {
                return Err(AionError::new(
                    SqlState::new(b"42P16"),
                    format!(
                        "cannot change name of view column \"{}\" to \"{}\"",
                        o.name, n.name
                    ),
                )
                .with_hint(
                    "Use ALTER VIEW ... RENAME COLUMN ... to change name of view column instead.",
                ));
            }
            if o.data_type != n.data_type {
                return Err(AionError::new(
                    SqlState::new(b"42P16"),
                    format!(
                        "cannot change data type of view column \"{}\" from {} to {}",
                        o.name, o.data_type, n.data_type
                    ),
                ));
            }
        }
    }
    let view = TableDef {
        id: existing.as_ref().map_or(0, |t| t.id),
        schema: schema.id,
        name: RString::from(name),
        kind: RelationKind::View,
        columns: RVec::from(columns),
        constraints: RVec::new(),
        storage_backend: RString::new(),
        view_sql: ROption::RSome(RString::from(cv.query.to_string())),
    };
    Ok(d.finish(
        DdlAction::CreateView {
            view,
            or_replace: cv.or_replace,
        },
        "CREATE VIEW",
    ))
}

pub(super) fn plan_create_sequence(
    d: Ddl<'_>,
    if_not_exists: bool,
    name: &ast::ObjectName,
    data_type: Option<&ast::DataType>,
    options: &[ast::SequenceOptions],
    owned_by: Option<&ast::ObjectName>,
) -> DbResult<Plan> {
    let (schema, bare) = d.creation_target(name)?;
    if d.relation_exists(schema.id, &bare) && !if_not_exists {
        return Err(AionError::new(
            SqlState::DUPLICATE_TABLE,
            format!("relation \"{bare}\" already exists"),
        ));
    }
    let (type_min, type_max) = match data_type {
        None => (i64::MIN, i64::MAX),
        Some(t) => match crate::shared::sql_data_type(t)? {
            t if t == DataType::INT2 => (i16::MIN as i64, i16::MAX as i64),
            t if t == DataType::INT4 => (i32::MIN as i64, i32::MAX as i64),
            t if t == DataType::INT8 => (i64::MIN, i64::MAX),
            _ => {
                return Err(AionError::new(
                    SqlState::new(b"22023"),
                    "sequence type must be smallint, integer, or bigint",
                ))
            }
        },
    };
    let mut seq = SequenceDef {
        id: 0,
        schema: schema.id,
        name: RString::from(bare),
        start: 1,
        increment: 1,
        min_value: 1,
        max_value: i64::MAX,
        cycle: false,
        owned_by: ROption::RNone,
    };
    apply_sequence_options(&mut seq, options, type_min, type_max)?;
    if let Some(o) = owned_by {
        let parts = crate::shared::object_parts(o)?;
        if !(parts.len() == 1 && parts[0] == "none") {
            let Some((col, rel)) = parts.split_last() else {
                return Err(AionError::new(SqlState::SYNTAX_ERROR, "invalid OWNED BY"));
            };
            if rel.is_empty() {
                return Err(
                    AionError::new(SqlState::SYNTAX_ERROR, "invalid OWNED BY option")
                        .with_hint("Specify OWNED BY table.column or OWNED BY NONE."),
                );
            }
            let rel_name = ast::ObjectName::from(
                rel.iter()
                    .map(|p| ast::Ident::with_quote('"', p.clone()))
                    .collect::<Vec<_>>(),
            );
            let t = d.resolve_relation(&rel_name)?;
            let c = t
                .columns
                .iter()
                .position(|c| c.name.as_str() == col)
                .ok_or_else(|| {
                    AionError::new(
                        SqlState::UNDEFINED_COLUMN,
                        format!("column \"{col}\" of relation \"{}\" does not exist", t.name),
                    )
                })?;
            if t.schema != schema.id {
                return Err(AionError::new(
                    SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE,
                    "sequence must be in same schema as table it is linked to",
                ));
            }
            seq.owned_by = ROption::RSome(OwnedBy {
                table: t.id,
                column: c as u32,
            });
        }
    }
    Ok(d.finish(
        DdlAction::CreateSequence {
            sequence: seq,
            if_not_exists,
        },
        "CREATE SEQUENCE",
    ))
}

pub(super) fn plan_truncate(d: Ddl<'_>, t: &ast::Truncate) -> DbResult<Plan> {
    let mut ids: Vec<TableId> = Vec::new();
    let mut names = Vec::new();
    for target in &t.table_names {
        let table = match d.find_relation(&target.name)? {
            Some(t) => t,
            None if t.if_exists => continue,
            None => {
                let bare = crate::shared::object_parts(&target.name)?.join(".");
                return Err(AionError::new(
                    SqlState::UNDEFINED_TABLE,
                    format!("relation \"{bare}\" does not exist"),
                ));
            }
        };
        if table.kind != RelationKind::Table {
            return Err(wrong_object_type(&table.name, "a table"));
        }
        if !ids.contains(&table.id) {
            ids.push(table.id);
            names.push(table.name.to_string());
        }
    }
    let cascade = matches!(t.cascade, Some(ast::CascadeOption::Cascade));
    // Tables whose foreign keys point at a truncated table must be
    // truncated too (CASCADE adds them, otherwise it is an error).
    let all = d.services.catalog.tables(ROption::RNone);
    loop {
        let mut added = false;
        for other in all.iter() {
            if ids.contains(&other.id) {
                continue;
            }
            let refd = other.constraints.iter().find_map(|c| match &c.kind {
                ConstraintKind::ForeignKey { ref_table, .. } if ids.contains(ref_table) => {
                    Some(*ref_table)
                }
                _ => None,
            });
            if let Some(p) = refd {
                if !cascade {
                    let pname = all
                        .iter()
                        .find(|x| x.id == p)
                        .map(|x| x.name.to_string())
                        .unwrap_or_default();
                    return Err(AionError::feature_not_supported(
                        "cannot truncate a table referenced in a foreign key constraint",
                    )
                    .with_detail(format!("Table \"{}\" references \"{pname}\".", other.name))
                    .with_hint(format!(
                        "Truncate table \"{}\" at the same time, or use TRUNCATE ... CASCADE.",
                        other.name
                    )));
                }
                ids.push(other.id);
                added = true;
            }
        }
        if !added {
            break;
        }
    }
    let restart_identity = matches!(t.identity, Some(ast::TruncateIdentityOption::Restart));
    let mut d = d;
    for id in &ids {
        d.b.add_table(*id);
    }
    Ok(d.finish(
        DdlAction::Truncate {
            tables: RVec::from(ids),
            restart_identity,
        },
        "TRUNCATE TABLE",
    ))
}

pub(super) fn plan_analyze(d: Ddl<'_>, a: &ast::Analyze) -> DbResult<Plan> {
    let mut tables = Vec::new();
    if let Some(name) = &a.table_name {
        let t = d.resolve_relation(name)?;
        if t.kind == RelationKind::Table {
            tables.push(t.id);
        }
        // ANALYZE of a view or an empty list of tables: nothing to do, but
        // an empty list means "all tables", so keep an explicit no-op.
        if tables.is_empty() {
            return Ok(d.finish(
                DdlAction::DropIndexes {
                    indexes: RVec::new(),
                },
                "ANALYZE",
            ));
        }
    }
    let mut d = d;
    for id in &tables {
        d.b.add_table(*id);
    }
    Ok(d.finish_op(
        Operator::Analyze {
            tables: RVec::from(tables),
        },
        Vec::new(),
        "ANALYZE",
    ))
}
