//! CREATE TABLE, and the column/constraint compilation ALTER TABLE reuses.

use std::collections::HashSet;

use aiondb_sdk::plan::{CheckConstraint, DdlAction};
use aiondb_sdk::prelude::*;
use sqlparser::ast;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

use super::{ident, make_object_name, nextval_default, Ddl};
use crate::shared::{bind_table_expr, PlanBuilder};

/// A table definition being built (CREATE TABLE) or changed (ALTER TABLE).
pub(crate) struct TableDraft {
    pub schema: SchemaDef,
    pub def: TableDef,
    /// Sequences to create (SERIAL, IDENTITY).
    pub sequences: Vec<SequenceDef>,
    /// Indexes to create (PRIMARY KEY, UNIQUE).
    pub indexes: Vec<IndexDef>,
    /// Relation names this statement will create (indexes, sequences).
    pub new_relations: HashSet<String>,
    /// CHECK constraints added by this statement, to bind and validate.
    pub added_checks: Vec<(String, ast::Expr)>,
    /// Whether this statement adds a foreign key.
    pub added_fk: bool,
    /// Column defaults written by this statement, to bind and check.
    pub added_defaults: Vec<(String, ast::Expr)>,
    /// The table exists already (ALTER TABLE).
    pub existing: bool,
}

/// A constraint as written, before naming and resolution.
pub(crate) enum ConSpec {
    Check {
        name: Option<String>,
        expr: Box<ast::Expr>,
    },
    PrimaryKey {
        name: Option<String>,
        columns: Vec<String>,
    },
    Unique {
        name: Option<String>,
        columns: Vec<String>,
    },
    ForeignKey {
        name: Option<String>,
        columns: Vec<String>,
        ref_table: Box<ast::ObjectName>,
        ref_columns: Vec<String>,
        on_delete: ReferentialAction,
        on_update: ReferentialAction,
    },
}

pub(crate) fn plan_create_table(d: Ddl<'_>, ct: &ast::CreateTable) -> DbResult<Plan> {
    if ct.like.is_some() || ct.clone.is_some() {
        return Err(AionError::feature_not_supported(
            "CREATE TABLE ... LIKE is not supported",
        ));
    }
    if ct.inherits.is_some() || ct.partition_by.is_some() || ct.partition_of.is_some() {
        return Err(AionError::feature_not_supported(
            "table inheritance and partitioning are not supported",
        ));
    }
    let (schema, name) = d.creation_target(&ct.name)?;
    if d.relation_exists(schema.id, &name) && !d.repair_orphan(schema.id, &name) {
        if ct.if_not_exists {
            // The executor re-checks and skips; nothing else is resolved so
            // that a table that exists never fails on its other clauses.
            let def = empty_table(&schema, &name, d.services);
            return Ok(d.finish(
                DdlAction::CreateTable {
                    table: def,
                    sequences: RVec::new(),
                    indexes: RVec::new(),
                    if_not_exists: true,
                },
                "CREATE TABLE",
            ));
        }
        return Err(AionError::new(
            SqlState::DUPLICATE_TABLE,
            format!("relation \"{name}\" already exists"),
        ));
    }
    if let Some(q) = &ct.query {
        return plan_create_table_as(d, ct, schema, name, q);
    }
    let mut draft = TableDraft {
        def: empty_table(&schema, &name, d.services),
        schema,
        sequences: Vec::new(),
        indexes: Vec::new(),
        new_relations: HashSet::new(),
        added_checks: Vec::new(),
        added_fk: false,
        added_defaults: Vec::new(),
        existing: false,
    };
    let mut specs = Vec::new();
    for col in &ct.columns {
        specs.extend(add_column(&d, &mut draft, col)?);
    }
    for tc in &ct.constraints {
        specs.push(table_constraint_spec(tc)?);
    }
    add_constraints(&d, &mut draft, specs)?;
    validate_expressions(&d, &draft)?;
    let TableDraft {
        def,
        sequences,
        indexes,
        ..
    } = draft;
    Ok(d.finish(
        DdlAction::CreateTable {
            table: def,
            sequences: RVec::from(sequences),
            indexes: RVec::from(indexes),
            if_not_exists: ct.if_not_exists,
        },
        "CREATE TABLE",
    ))
}

/// CREATE TABLE ... AS query: the query's plan becomes input 0 of the
/// CreateTable node; the executor creates the table and inserts its rows.
fn plan_create_table_as(
    d: Ddl<'_>,
    ct: &ast::CreateTable,
    schema: SchemaDef,
    name: String,
    q: &ast::Query,
) -> DbResult<Plan> {
    let query_plan = crate::shared::plan_statement(
        d.ctx,
        d.services,
        &ast::Statement::Query(Box::new(q.clone())),
    )?;
    let mut def = empty_table(&schema, &name, d.services);
    let names: Vec<String> = ct.columns.iter().map(|c| ident(&c.name)).collect();
    if names.len() > query_plan.output.len() {
        return Err(AionError::new(
            SqlState::SYNTAX_ERROR,
            "too many column names were specified",
        ));
    }
    let mut seen = HashSet::new();
    for (i, f) in query_plan.output.fields.iter().enumerate() {
        let cname = names.get(i).cloned().unwrap_or_else(|| f.name.to_string());
        if !seen.insert(cname.clone()) {
            return Err(AionError::new(
                SqlState::new(b"42701"),
                format!("column \"{cname}\" specified more than once"),
            ));
        }
        let mut data_type = f.data_type;
        if data_type.id == TypeId::Unknown {
            data_type = DataType::TEXT;
        }
        def.columns.push(ColumnDef {
            name: RString::from(cname),
            data_type,
            nullable: true,
            default_expr: ROption::RNone,
            identity: Identity::None,
        });
    }
    let mut d = d;
    let root = query_plan.root;
    d.b.nodes = query_plan.nodes.into_vec();
    d.b.aliases = query_plan.aliases.into_vec();
    d.b.exprs = query_plan.exprs.into_vec();
    d.b.param_types = query_plan.param_types.into_vec();
    for t in query_plan.tables.iter() {
        d.b.add_table(*t);
    }
    Ok(d.finish_op(
        aiondb_sdk::plan::Operator::Ddl(DdlAction::CreateTable {
            table: def,
            sequences: RVec::new(),
            indexes: RVec::new(),
            if_not_exists: ct.if_not_exists,
        }),
        vec![root],
        "CREATE TABLE AS",
    ))
}

pub(crate) fn empty_table(schema: &SchemaDef, name: &str, services: &Services) -> TableDef {
    TableDef {
        id: 0,
        schema: schema.id,
        name: RString::from(name),
        kind: RelationKind::Table,
        columns: RVec::new(),
        constraints: RVec::new(),
        storage_backend: services.default_storage.clone(),
        view_sql: ROption::RNone,
    }
}

/// The SERIAL pseudo-types: (column type, sequence maximum).
fn serial_type(dt: &ast::DataType) -> Option<(DataType, i64)> {
    let ast::DataType::Custom(name, mods) = dt else {
        return None;
    };
    if !mods.is_empty() || name.0.len() != 1 {
        return None;
    }
    let n = name.0[0].as_ident().map(crate::shared::ident_name)?;
    match n.as_str() {
        "serial" | "serial4" => Some((DataType::INT4, i32::MAX as i64)),
        "bigserial" | "serial8" => Some((DataType::INT8, i64::MAX)),
        "smallserial" | "serial2" => Some((DataType::INT2, i16::MAX as i64)),
        _ => None,
    }
}

fn referential(a: &Option<ast::ReferentialAction>) -> ReferentialAction {
    match a {
        None | Some(ast::ReferentialAction::NoAction) => ReferentialAction::NoAction,
        Some(ast::ReferentialAction::Restrict) => ReferentialAction::Restrict,
        Some(ast::ReferentialAction::Cascade) => ReferentialAction::Cascade,
        Some(ast::ReferentialAction::SetNull) => ReferentialAction::SetNull,
        Some(ast::ReferentialAction::SetDefault) => ReferentialAction::SetDefault,
    }
}

fn index_columns(cols: &[ast::IndexColumn]) -> DbResult<Vec<String>> {
    cols.iter()
        .map(|c| match &c.column.expr {
            ast::Expr::Identifier(id) => Ok(ident(id)),
            other => Err(AionError::new(
                SqlState::SYNTAX_ERROR,
                format!("syntax error at or near \"{other}\""),
            )),
        })
        .collect()
}

/// A table constraint as written.
pub(crate) fn table_constraint_spec(tc: &ast::TableConstraint) -> DbResult<ConSpec> {
    use ast::TableConstraint as T;
    Ok(match tc {
        T::Check(c) => ConSpec::Check {
            name: c.name.as_ref().map(ident),
            expr: c.expr.clone(),
        },
        T::PrimaryKey(c) => ConSpec::PrimaryKey {
            name: c.name.as_ref().map(ident),
            columns: index_columns(&c.columns)?,
        },
        T::Unique(c) => ConSpec::Unique {
            name: c.name.as_ref().map(ident),
            columns: index_columns(&c.columns)?,
        },
        T::ForeignKey(c) => ConSpec::ForeignKey {
            name: c.name.as_ref().map(ident),
            columns: c.columns.iter().map(ident).collect(),
            ref_table: Box::new(c.foreign_table.clone()),
            ref_columns: c.referred_columns.iter().map(ident).collect(),
            on_delete: referential(&c.on_delete),
            on_update: referential(&c.on_update),
        },
        other => {
            return Err(AionError::feature_not_supported(format!(
                "constraint not supported: {other}"
            )))
        }
    })
}

/// Adds a column to the draft; returns its column constraints as table
/// constraints (so they are named and resolved with the others).
pub(crate) fn add_column(
    d: &Ddl<'_>,
    draft: &mut TableDraft,
    col: &ast::ColumnDef,
) -> DbResult<Vec<ConSpec>> {
    let name = ident(&col.name);
    let table_name = draft.def.name.to_string();
    if draft.def.columns.iter().any(|c| c.name.as_str() == name) {
        return Err(if draft.existing {
            AionError::new(
                SqlState::new(b"42701"),
                format!("column \"{name}\" of relation \"{table_name}\" already exists"),
            )
        } else {
            AionError::new(
                SqlState::new(b"42701"),
                format!("column \"{name}\" specified more than once"),
            )
        });
    }
    let serial = serial_type(&col.data_type);
    let data_type = match serial {
        Some((t, _)) => t,
        None => crate::shared::sql_data_type(&col.data_type)?,
    };
    let index = draft.def.columns.len() as u32;
    let mut column = ColumnDef {
        name: RString::from(name.clone()),
        data_type,
        nullable: true,
        default_expr: ROption::RNone,
        identity: Identity::None,
    };
    let mut specs = Vec::new();
    let (mut said_null, mut said_not_null) = (false, false);
    let mut identity_seq: Option<Vec<ast::SequenceOptions>> = None;
    for opt in &col.options {
        let cname = opt.name.as_ref().map(ident);
        use ast::ColumnOption as O;
        match &opt.option {
            O::Null => said_null = true,
            O::NotNull => said_not_null = true,
            O::Default(e) => {
                if column.identity == Identity::Stored {
                    return Err(AionError::new(
                        SqlState::SYNTAX_ERROR,
                        format!(
                            "both default and generation expression specified for column \"{name}\" of table \"{table_name}\""
                        ),
                    ));
                }
                if column.default_expr.is_some() {
                    return Err(multiple_defaults(&name, &table_name));
                }
                column.default_expr = ROption::RSome(RString::from(e.to_string()));
                draft.added_defaults.push((name.clone(), e.clone()));
            }
            O::PrimaryKey(c) => specs.push(ConSpec::PrimaryKey {
                name: cname.or_else(|| c.name.as_ref().map(ident)),
                columns: vec![name.clone()],
            }),
            O::Unique(c) => specs.push(ConSpec::Unique {
                name: cname.or_else(|| c.name.as_ref().map(ident)),
                columns: vec![name.clone()],
            }),
            O::Check(c) => specs.push(ConSpec::Check {
                name: cname.or_else(|| c.name.as_ref().map(ident)),
                expr: c.expr.clone(),
            }),
            O::ForeignKey(c) => {
                if c.referred_columns.len() > 1 {
                    return Err(AionError::new(
                        SqlState::new(b"42830"),
                        "number of referencing and referenced columns for foreign key disagree",
                    ));
                }
                specs.push(ConSpec::ForeignKey {
                    name: cname.or_else(|| c.name.as_ref().map(ident)),
                    columns: vec![name.clone()],
                    ref_table: Box::new(c.foreign_table.clone()),
                    ref_columns: c.referred_columns.iter().map(ident).collect(),
                    on_delete: referential(&c.on_delete),
                    on_update: referential(&c.on_update),
                });
            }
            O::Generated {
                generated_as,
                sequence_options,
                generation_expr: None,
                ..
            } => {
                column.identity = match generated_as {
                    ast::GeneratedAs::Always => Identity::Always,
                    ast::GeneratedAs::ByDefault => Identity::ByDefault,
                    ast::GeneratedAs::ExpStored => {
                        return Err(AionError::feature_not_supported(
                            "generated columns are not supported",
                        ))
                    }
                };
                identity_seq = Some(sequence_options.clone().unwrap_or_default());
            }
            O::Generated {
                generated_as: ast::GeneratedAs::ExpStored | ast::GeneratedAs::Always,
                generation_expr: Some(e),
                generation_expr_mode: Some(ast::GeneratedExpressionMode::Stored),
                ..
            } => {
                if column.default_expr.is_some() {
                    return Err(AionError::new(
                        SqlState::SYNTAX_ERROR,
                        format!(
                            "both default and generation expression specified for column \"{name}\" of table \"{table_name}\""
                        ),
                    ));
                }
                column.default_expr = ROption::RSome(RString::from(e.to_string()));
                column.identity = Identity::Stored;
            }
            O::Generated { .. } | O::Materialized(_) => {
                return Err(AionError::feature_not_supported(
                    "generated columns are not supported",
                ))
            }
            // Collations and comments do not change what we store.
            O::Collation(_) | O::Comment(_) | O::CharacterSet(_) => {}
            other => {
                return Err(AionError::feature_not_supported(format!(
                    "column option not supported: {other}"
                )))
            }
        }
    }
    if said_null && said_not_null {
        return Err(AionError::new(
            SqlState::SYNTAX_ERROR,
            format!(
                "conflicting NULL/NOT NULL declarations for column \"{name}\" of table \"{table_name}\""
            ),
        ));
    }
    column.nullable = !said_not_null;
    if let Some(opts) = identity_seq {
        if column.default_expr.is_some() {
            return Err(AionError::new(
                SqlState::SYNTAX_ERROR,
                format!(
                    "both default and identity specified for column \"{name}\" of table \"{table_name}\""
                ),
            ));
        }
        let max = match data_type {
            t if t == DataType::INT2 => i16::MAX as i64,
            t if t == DataType::INT4 => i32::MAX as i64,
            t if t == DataType::INT8 => i64::MAX,
            _ => {
                return Err(AionError::new(
                    SqlState::new(b"22023"),
                    "identity column type must be smallint, integer, or bigint",
                ))
            }
        };
        let seq = new_owned_sequence(d, draft, &name, index, max, &opts)?;
        column.default_expr = ROption::RSome(RString::from(nextval_default(&draft.schema, &seq)));
        column.nullable = false;
    } else if let Some((_, max)) = serial {
        if column.default_expr.is_some() {
            return Err(multiple_defaults(&name, &table_name));
        }
        let seq = new_owned_sequence(d, draft, &name, index, max, &[])?;
        column.default_expr = ROption::RSome(RString::from(nextval_default(&draft.schema, &seq)));
        column.nullable = false;
    }
    draft.def.columns.push(column);
    Ok(specs)
}

fn multiple_defaults(col: &str, table: &str) -> AionError {
    AionError::new(
        SqlState::SYNTAX_ERROR,
        format!("multiple default values specified for column \"{col}\" of table \"{table}\""),
    )
}

/// Creates the sequence behind a SERIAL or IDENTITY column (`t_c_seq`).
pub(crate) fn new_owned_sequence(
    d: &Ddl<'_>,
    draft: &mut TableDraft,
    column: &str,
    index: u32,
    max: i64,
    opts: &[ast::SequenceOptions],
) -> DbResult<String> {
    let name = d.choose_relation_name(
        draft.schema.id,
        &draft.def.name,
        Some(column),
        "seq",
        &draft.new_relations,
    );
    let mut seq = SequenceDef {
        id: 0,
        schema: draft.schema.id,
        name: RString::from(name.clone()),
        start: 1,
        increment: 1,
        min_value: 1,
        max_value: max,
        cycle: false,
        owned_by: ROption::RSome(OwnedBy {
            table: if draft.existing { draft.def.id } else { 0 },
            column: index,
        }),
    };
    apply_sequence_options(&mut seq, opts, -max - 1, max)?;
    draft.new_relations.insert(name.clone());
    draft.sequences.push(seq);
    Ok(name)
}

/// Applies CREATE SEQUENCE options over PostgreSQL's defaults for the
/// sequence's type range `[type_min, type_max]`, then validates them.
pub(crate) fn apply_sequence_options(
    seq: &mut SequenceDef,
    opts: &[ast::SequenceOptions],
    type_min: i64,
    type_max: i64,
) -> DbResult<()> {
    let (mut start, mut inc, mut min, mut max, mut cycle) = (None, 1i64, None, None, false);
    for o in opts {
        match o {
            ast::SequenceOptions::IncrementBy(e, _) => inc = const_i64(e)?,
            ast::SequenceOptions::MinValue(e) => min = e.as_ref().map(const_i64).transpose()?,
            ast::SequenceOptions::MaxValue(e) => max = e.as_ref().map(const_i64).transpose()?,
            ast::SequenceOptions::StartWith(e, _) => start = Some(const_i64(e)?),
            ast::SequenceOptions::Cache(e) => {
                const_i64(e)?;
            }
            ast::SequenceOptions::Cycle(no) => cycle = !*no,
        }
    }
    if inc == 0 {
        return Err(AionError::new(
            SqlState::new(b"22023"),
            "INCREMENT must not be zero",
        ));
    }
    let min = min.unwrap_or(if inc > 0 { 1 } else { type_min });
    let max = max.unwrap_or(if inc > 0 { type_max } else { -1 });
    if min < type_min || max > type_max {
        let v = if min < type_min { min } else { max };
        let which = if min < type_min {
            "MINVALUE"
        } else {
            "MAXVALUE"
        };
        return Err(AionError::new(
            SqlState::new(b"22023"),
            format!("{which} ({v}) is out of range for sequence data type"),
        ));
    }
    if min >= max {
        return Err(AionError::new(
            SqlState::new(b"22023"),
            format!("MINVALUE ({min}) must be less than MAXVALUE ({max})"),
        ));
    }
    let start = start.unwrap_or(if inc > 0 { min } else { max });
    if start < min {
        return Err(AionError::new(
            SqlState::new(b"22023"),
            format!("START value ({start}) cannot be less than MINVALUE ({min})"),
        ));
    }
    if start > max {
        return Err(AionError::new(
            SqlState::new(b"22023"),
            format!("START value ({start}) cannot be greater than MAXVALUE ({max})"),
        ));
    }
    seq.start = start;
    seq.increment = inc;
    seq.min_value = min;
    seq.max_value = max;
    seq.cycle = cycle;
    Ok(())
}

/// An integer literal (optionally negated) in a sequence option.
pub(crate) fn const_i64(e: &ast::Expr) -> DbResult<i64> {
    match e {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::Number(n, _) => n.parse::<i64>().map_err(|_| {
                AionError::new(
                    SqlState::INVALID_TEXT_REPRESENTATION,
                    format!("invalid input syntax for type bigint: \"{n}\""),
                )
            }),
            other => Err(AionError::new(
                SqlState::SYNTAX_ERROR,
                format!("syntax error at or near \"{other}\""),
            )),
        },
        ast::Expr::UnaryOp {
            op: ast::UnaryOperator::Minus,
            expr,
        } => {
            // The sign belongs to the literal: -9223372036854775808 is a
            // bigint although its digits alone are not.
            if let ast::Expr::Value(v) = expr.as_ref() {
                if let ast::Value::Number(n, _) = &v.value {
                    return format!("-{n}").parse::<i64>().map_err(|_| {
                        AionError::new(
                            SqlState::INVALID_TEXT_REPRESENTATION,
                            format!("invalid input syntax for type bigint: \"-{n}\""),
                        )
                    });
                }
            }
            Ok(const_i64(expr)?.wrapping_neg())
        }
        ast::Expr::UnaryOp {
            op: ast::UnaryOperator::Plus,
            expr,
        } => const_i64(expr),
        ast::Expr::Nested(e) => const_i64(e),
        other => Err(AionError::new(
            SqlState::SYNTAX_ERROR,
            format!("syntax error at or near \"{other}\""),
        )),
    }
}

fn column_index(def: &TableDef, name: &str) -> Option<u32> {
    def.columns
        .iter()
        .position(|c| c.name.as_str() == name)
        .map(|i| i as u32)
}

fn key_columns(def: &TableDef, names: &[String]) -> DbResult<Vec<u32>> {
    let mut out = Vec::with_capacity(names.len());
    for n in names {
        let i = column_index(def, n).ok_or_else(|| {
            AionError::new(
                SqlState::UNDEFINED_COLUMN,
                format!("column \"{n}\" named in key does not exist"),
            )
        })?;
        if out.contains(&i) {
            return Err(AionError::new(
                SqlState::new(b"42701"),
                format!("column \"{n}\" appears twice in primary key constraint"),
            ));
        }
        out.push(i);
    }
    Ok(out)
}

fn constraint_name_taken(draft: &TableDraft, name: &str) -> bool {
    draft
        .def
        .constraints
        .iter()
        .any(|c| c.name.as_str() == name)
        || draft.new_relations.contains(name)
}

/// Picks `t_cols_label[N]` not used by a constraint of the table nor a
/// relation of the schema.
fn choose_constraint_name(
    d: &Ddl<'_>,
    draft: &TableDraft,
    cols: Option<&str>,
    label: &str,
) -> String {
    let mut pass = 0u32;
    loop {
        let modlabel = if pass == 0 {
            label.to_string()
        } else {
            format!("{label}{pass}")
        };
        let candidate = make_object_name(&draft.def.name, cols, &modlabel);
        if !constraint_name_taken(draft, &candidate)
            && !d.relation_exists(draft.schema.id, &candidate)
        {
            return candidate;
        }
        pass += 1;
    }
}

fn explicit_name(d: &Ddl<'_>, draft: &TableDraft, name: &str, index_backed: bool) -> DbResult<()> {
    if constraint_name_taken(draft, name) {
        return Err(AionError::new(
            SqlState::DUPLICATE_OBJECT,
            format!(
                "constraint \"{name}\" for relation \"{}\" already exists",
                draft.def.name
            ),
        ));
    }
    if index_backed && d.relation_exists(draft.schema.id, name) {
        return Err(AionError::new(
            SqlState::DUPLICATE_TABLE,
            format!("relation \"{name}\" already exists"),
        ));
    }
    Ok(())
}

/// Names, resolves and adds constraints in PostgreSQL's order: CHECK
/// first, then PRIMARY KEY and UNIQUE (with their indexes), then FOREIGN KEY.
pub(crate) fn add_constraints(
    d: &Ddl<'_>,
    draft: &mut TableDraft,
    specs: Vec<ConSpec>,
) -> DbResult<()> {
    let (mut checks, mut keys, mut fks) = (Vec::new(), Vec::new(), Vec::new());
    for s in specs {
        match s {
            ConSpec::Check { .. } => checks.push(s),
            ConSpec::PrimaryKey { .. } | ConSpec::Unique { .. } => keys.push(s),
            ConSpec::ForeignKey { .. } => fks.push(s),
        }
    }
    for s in checks.into_iter().chain(keys).chain(fks) {
        add_constraint(d, draft, s)?;
    }
    Ok(())
}

fn add_constraint(d: &Ddl<'_>, draft: &mut TableDraft, spec: ConSpec) -> DbResult<()> {
    match spec {
        ConSpec::Check { name, expr } => {
            let text = expr.to_string();
            let name = match name {
                Some(n) => {
                    explicit_name(d, draft, &n, false)?;
                    n
                }
                None => {
                    let cols = referenced_columns(&text, &draft.def);
                    let col = if cols.len() == 1 {
                        draft
                            .def
                            .columns
                            .get(cols[0] as usize)
                            .map(|c| c.name.to_string())
                    } else {
                        None
                    };
                    choose_constraint_name(d, draft, col.as_deref(), "check")
                }
            };
            draft.def.constraints.push(ConstraintDef {
                name: RString::from(name.clone()),
                kind: ConstraintKind::Check {
                    expr: RString::from(text),
                },
            });
            draft.added_checks.push((name, *expr));
        }
        ConSpec::PrimaryKey { name, columns } => {
            if draft
                .def
                .constraints
                .iter()
                .any(|c| matches!(c.kind, ConstraintKind::PrimaryKey { .. }))
            {
                return Err(AionError::new(
                    SqlState::new(b"42P16"),
                    format!(
                        "multiple primary keys for table \"{}\" are not allowed",
                        draft.def.name
                    ),
                ));
            }
            let cols = key_columns(&draft.def, &columns)?;
            let name = match name {
                Some(n) => {
                    explicit_name(d, draft, &n, true)?;
                    n
                }
                None => choose_constraint_name(d, draft, None, "pkey"),
            };
            for &c in &cols {
                if let Some(col) = draft.def.columns.get_mut(c as usize) {
                    col.nullable = false;
                }
            }
            push_key(draft, name, cols, true);
        }
        ConSpec::Unique { name, columns } => {
            let cols = key_columns(&draft.def, &columns)?;
            let name = match name {
                Some(n) => {
                    explicit_name(d, draft, &n, true)?;
                    n
                }
                None => {
                    let joined = columns.join("_");
                    choose_constraint_name(d, draft, Some(&joined), "key")
                }
            };
            push_key(draft, name, cols, false);
        }
        ConSpec::ForeignKey {
            name,
            columns,
            ref_table,
            ref_columns,
            on_delete,
            on_update,
        } => {
            let cols = columns
                .iter()
                .map(|n| {
                    column_index(&draft.def, n).ok_or_else(|| {
                        AionError::new(
                            SqlState::UNDEFINED_COLUMN,
                            format!(
                                "column \"{n}\" referenced in foreign key constraint does not exist"
                            ),
                        )
                    })
                })
                .collect::<DbResult<Vec<u32>>>()?;
            let name = match name {
                Some(n) => {
                    explicit_name(d, draft, &n, false)?;
                    n
                }
                None => {
                    let joined = columns.join("_");
                    choose_constraint_name(d, draft, Some(&joined), "fkey")
                }
            };
            let (ref_id, ref_cols) =
                resolve_fk_target(d, draft, &name, &cols, &ref_table, &ref_columns)?;
            draft.def.constraints.push(ConstraintDef {
                name: RString::from(name),
                kind: ConstraintKind::ForeignKey {
                    columns: RVec::from(cols),
                    ref_table: ref_id,
                    ref_columns: RVec::from(ref_cols),
                    on_delete,
                    on_update,
                },
            });
            draft.added_fk = true;
        }
    }
    Ok(())
}

fn push_key(draft: &mut TableDraft, name: String, cols: Vec<u32>, primary: bool) {
    let kind = if primary {
        ConstraintKind::PrimaryKey {
            columns: RVec::from(cols.clone()),
        }
    } else {
        ConstraintKind::Unique {
            columns: RVec::from(cols.clone()),
        }
    };
    draft.def.constraints.push(ConstraintDef {
        name: RString::from(name.clone()),
        kind,
    });
    draft.indexes.push(IndexDef {
        id: 0,
        table: draft.def.id,
        name: RString::from(name.clone()),
        method: RString::from("btree"),
        columns: RVec::from(cols),
        unique: true,
        options: RVec::new(),
    });
    draft.new_relations.insert(name);
}

/// Unique column sets of a table: its PRIMARY KEY and UNIQUE constraints,
/// plus unique indexes.
fn unique_sets(
    d: &Ddl<'_>,
    def: &TableDef,
    with_indexes: bool,
) -> (Option<Vec<u32>>, Vec<Vec<u32>>) {
    let mut pk = None;
    let mut sets = Vec::new();
    for c in def.constraints.iter() {
        match &c.kind {
            ConstraintKind::PrimaryKey { columns } => {
                pk = Some(columns.to_vec());
                sets.push(columns.to_vec());
            }
            ConstraintKind::Unique { columns } => sets.push(columns.to_vec()),
            _ => {}
        }
    }
    if with_indexes {
        for i in d.services.catalog.indexes_of(def.id) {
            if i.unique {
                sets.push(i.columns.to_vec());
            }
        }
    }
    (pk, sets)
}

/// Resolves a REFERENCES target: the table id (0 = the table being
/// created) and referenced columns, checked against a unique constraint.
fn resolve_fk_target(
    d: &Ddl<'_>,
    draft: &TableDraft,
    con_name: &str,
    cols: &[u32],
    ref_table: &ast::ObjectName,
    ref_columns: &[String],
) -> DbResult<(TableId, Vec<u32>)> {
    let parts = crate::shared::object_parts(ref_table)?;
    // A reference to the table itself (resolved by name: while it is being
    // created it is not in the catalog yet).
    let is_self = match parts.as_slice() {
        [n] => n == draft.def.name.as_str(),
        [s, n] | [_, s, n] => n == draft.def.name.as_str() && s == draft.schema.name.as_str(),
        _ => false,
    };
    let target: TableDef = if is_self {
        draft.def.clone()
    } else {
        let t = d.resolve_relation(ref_table)?;
        if t.kind != RelationKind::Table {
            return Err(AionError::new(
                SqlState::new(b"42809"),
                format!("referenced relation \"{}\" is not a table", t.name),
            ));
        }
        t
    };
    let (pk, sets) = unique_sets(d, &target, draft.existing || !is_self);
    let ref_cols: Vec<u32> = if ref_columns.is_empty() {
        pk.ok_or_else(|| {
            AionError::new(
                SqlState::UNDEFINED_OBJECT,
                format!(
                    "there is no primary key for referenced table \"{}\"",
                    target.name
                ),
            )
        })?
    } else {
        ref_columns
            .iter()
            .map(|n| {
                column_index(&target, n).ok_or_else(|| {
                    AionError::new(
                        SqlState::UNDEFINED_COLUMN,
                        format!(
                            "column \"{n}\" referenced in foreign key constraint does not exist"
                        ),
                    )
                })
            })
            .collect::<DbResult<_>>()?
    };
    if ref_cols.len() != cols.len() {
        return Err(AionError::new(
            SqlState::new(b"42830"),
            "number of referencing and referenced columns for foreign key disagree",
        ));
    }
    let mut wanted = ref_cols.clone();
    wanted.sort_unstable();
    let matched = sets.iter().any(|s| {
        let mut s = s.clone();
        s.sort_unstable();
        s == wanted
    });
    if !matched {
        return Err(AionError::new(
            SqlState::new(b"42830"),
            format!(
                "there is no unique constraint matching given keys for referenced table \"{}\"",
                target.name
            ),
        ));
    }
    for (&c, &r) in cols.iter().zip(&ref_cols) {
        let (Some(a), Some(b)) = (
            draft.def.columns.get(c as usize),
            target.columns.get(r as usize),
        ) else {
            continue;
        };
        if !fk_compatible(&a.data_type, &b.data_type) {
            return Err(AionError::new(
                SqlState::DATATYPE_MISMATCH,
                format!("foreign key constraint \"{con_name}\" cannot be implemented"),
            )
            .with_detail(format!(
                "Key columns \"{}\" and \"{}\" are of incompatible types: {} and {}.",
                a.name, b.name, a.data_type, b.data_type
            )));
        }
    }
    Ok((if is_self { draft.def.id } else { target.id }, ref_cols))
}

/// Whether values of `a` can be compared with `b` for a foreign key.
fn fk_compatible(a: &DataType, b: &DataType) -> bool {
    fn family(t: &DataType) -> (u8, TypeId) {
        use TypeId as T;
        let f = match t.id {
            T::Int2 | T::Int4 | T::Int8 | T::Numeric | T::Float4 | T::Float8 => 1,
            T::Text | T::Varchar | T::Char => 2,
            T::Timestamp | T::TimestampTz | T::Date => 3,
            _ => 0,
        };
        (f, if f == 0 { t.id } else { T::Unknown })
    }
    a.is_array == b.is_array && family(a) == family(b)
}

/// Binds the CHECK constraints and column defaults of the draft, so that
/// unknown columns, functions and non-boolean checks fail at CREATE time.
pub(crate) fn validate_expressions(d: &Ddl<'_>, draft: &TableDraft) -> DbResult<()> {
    let mut scratch = PlanBuilder::new();
    for (name, expr) in &draft.added_checks {
        check_expr(&mut scratch, d.services, &draft.def, name, expr)?;
    }
    // Generation expressions see the row's columns.
    for c in draft.def.columns.iter() {
        if c.identity == Identity::Stored {
            if let Some(text) = c.default_expr.as_ref().into_option() {
                for r in referenced_columns(text.as_str(), &draft.def) {
                    let Some(rc) = draft.def.columns.get(r as usize) else {
                        continue;
                    };
                    if rc.identity == Identity::Stored {
                        return Err(AionError::new(
                            SqlState::new(b"42P17"),
                            format!(
                                "cannot use generated column \"{}\" in column generation expression",
                                rc.name
                            ),
                        )
                        .with_detail(
                            "A generated column cannot reference another generated column.",
                        ));
                    }
                }
                let e = crate::dml::parse_stored_expr(d.services, text.as_str())?;
                bind_table_expr(&mut scratch, d.services, &draft.def, &e)?;
            }
        }
    }
    validate_defaults(d, draft)
}

/// Binds the column defaults the statement writes: they see no columns and
/// must be assignable to their column.
pub(crate) fn validate_defaults(d: &Ddl<'_>, draft: &TableDraft) -> DbResult<()> {
    let mut scratch = PlanBuilder::new();
    let empty = empty_table(&draft.schema, &draft.def.name, d.services);
    for (col, expr) in &draft.added_defaults {
        let r = bind_table_expr(&mut scratch, d.services, &empty, expr).map_err(|e| {
            if e.sqlstate == SqlState::UNDEFINED_COLUMN {
                AionError::feature_not_supported(
                    "cannot use column reference in DEFAULT expression",
                )
            } else {
                e
            }
        })?;
        let (Some(from), Some(c)) = (
            scratch.exprs.get(r as usize).map(|e| e.data_type),
            draft.def.columns.iter().find(|c| c.name.as_str() == col),
        ) else {
            continue;
        };
        if from.id != TypeId::Unknown
            && !aiondb_sdk::value::can_coerce(
                &from,
                &c.data_type,
                aiondb_sdk::value::CoercionKind::Assignment,
            )
        {
            return Err(AionError::new(
                SqlState::DATATYPE_MISMATCH,
                format!(
                    "column \"{col}\" is of type {} but default expression is of type {from}",
                    c.data_type
                ),
            )
            .with_hint("You will need to rewrite or cast the expression."));
        }
    }
    Ok(())
}

/// Binds one CHECK expression over the table row (must be boolean).
pub(crate) fn check_expr(
    b: &mut PlanBuilder,
    services: &Services,
    def: &TableDef,
    name: &str,
    expr: &ast::Expr,
) -> DbResult<CheckConstraint> {
    let r = bind_table_expr(b, services, def, expr)?;
    let t = b
        .exprs
        .get(r as usize)
        .map(|e| e.data_type)
        .unwrap_or(DataType::BOOL);
    if t.id != TypeId::Bool && t.id != TypeId::Unknown {
        return Err(AionError::new(
            SqlState::DATATYPE_MISMATCH,
            format!("argument of CHECK must be type boolean, not type {t}"),
        ));
    }
    Ok(CheckConstraint {
        name: RString::from(name),
        expr: r,
    })
}

/// Tokens of SQL text; `None` when it does not tokenize.
fn tokens(sql: &str) -> Option<Vec<Token>> {
    Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize().ok()
}

fn word_name(w: &sqlparser::tokenizer::Word) -> String {
    if w.quote_style.is_some() {
        w.value.clone()
    } else {
        w.value.to_lowercase()
    }
}

/// Columns of `def` that SQL text (a CHECK or default) mentions.
pub(crate) fn referenced_columns(sql: &str, def: &TableDef) -> Vec<u32> {
    let mut out = Vec::new();
    for t in tokens(sql).unwrap_or_default() {
        if let Token::Word(w) = t {
            if let Some(i) = column_index(def, &word_name(&w)) {
                if !out.contains(&i) {
                    out.push(i);
                }
            }
        }
    }
    out
}

/// Rewrites SQL text after a column rename (identifiers only).
pub(crate) fn rename_in_sql(sql: &str, old: &str, new: &str) -> String {
    let Some(toks) = tokens(sql) else {
        return sql.to_string();
    };
    let mut out = String::with_capacity(sql.len());
    for t in toks {
        match &t {
            Token::Word(w) if word_name(w) == old => out.push_str(&super::quote_ident(new)),
            other => out.push_str(&other.to_string()),
        }
    }
    out
}
