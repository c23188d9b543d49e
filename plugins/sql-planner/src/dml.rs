//! INSERT / UPDATE / DELETE: defaults, identity columns, assignment casts,
//! CHECK constraints, ON CONFLICT and RETURNING.

use crate::expr::*;
use crate::logical::*;
use crate::lower::Lower;
use crate::optimizer::Optimizer;
use crate::shared::{ident_name, object_parts, resolve_table, PlanBuilder};
use aiondb_sdk::plan::{
    Assignment, CheckConstraint, ConflictAction, ExprRef, OnConflict, Operator, RowLockMode,
    SpecialFunc,
};
use aiondb_sdk::prelude::*;
use aiondb_sdk::value::CoercionKind;
use sqlparser::ast;

/// A scope over one table's row with fresh column ids.
pub fn table_scope(
    b: &mut Binder<'_>,
    table: &TableDef,
    alias: Option<&str>,
) -> (Scope, Vec<ColId>) {
    let qual = alias.unwrap_or(table.name.as_str()).to_string();
    let mut cols = Vec::new();
    let mut ids = Vec::new();
    for (i, c) in table.columns.iter().enumerate() {
        let id = b.new_col(c.name.as_str(), c.data_type);
        b.cols[id as usize].origin = Some((table.id, i as u32));
        b.cols[id as usize].qual = Some(qual.clone());
        ids.push(id);
        cols.push(ScopeCol {
            qual: Some(qual.clone()),
            name: c.name.to_string(),
            id,
            ty: c.data_type,
            hidden: false,
        });
    }
    (Scope { cols }, ids)
}

/// Parses SQL text stored in the catalog (a default or CHECK expression).
pub fn parse_stored_expr(services: &Services, text: &str) -> DbResult<ast::Expr> {
    let stmt = crate::shared::parse_stored(services, &format!("SELECT {text}"))?;
    if let ast::Statement::Query(q) = stmt {
        if let ast::SetExpr::Select(s) = *q.body {
            if let Some(
                ast::SelectItem::UnnamedExpr(e) | ast::SelectItem::ExprWithAlias { expr: e, .. },
            ) = s.projection.into_iter().next()
            {
                return Ok(e);
            }
        }
    }
    Err(AionError::internal(
        "stored expression is not an expression",
    ))
}

fn is_default_kw(e: &ast::Expr) -> bool {
    matches!(e, ast::Expr::Identifier(id) if id.quote_style.is_none() && id.value.eq_ignore_ascii_case("default"))
}

/// The value a column gets when none is given.
pub(crate) fn column_default(b: &mut Binder<'_>, table: &TableDef, col: usize) -> DbResult<LExpr> {
    let c = &table.columns[col];
    if c.identity == Identity::Stored {
        // Computed over the new row by `with_generated`.
        return Ok(LExpr::null(c.data_type));
    }
    if let Some(text) = c.default_expr.clone().into_option() {
        let e = parse_stored_expr(b.services, text.as_str())?;
        let x = b.expr(&Scope::default(), &e)?;
        return b.coerce(x, c.data_type, CoercionKind::Assignment);
    }
    if c.identity != Identity::None {
        let seq = b
            .services
            .catalog
            .sequences()
            .into_iter()
            .find(|s| matches!(s.owned_by.into_option(), Some(o) if o.table == table.id && o.column == col as u32));
        if let Some(s) = seq {
            let nv = LExpr::new(
                LKind::Special(
                    SpecialFunc::NextVal,
                    vec![LExpr::constant(Value::Int8(s.id as i64), DataType::INT8)],
                ),
                DataType::INT8,
            );
            return b.coerce(nv, c.data_type, CoercionKind::Assignment);
        }
    }
    Ok(LExpr::null(c.data_type))
}

fn assign(b: &mut Binder<'_>, table: &TableDef, col: usize, e: LExpr) -> DbResult<LExpr> {
    let c = &table.columns[col];
    let ety = e.ty;
    b.coerce(e, c.data_type, CoercionKind::Assignment)
        .map_err(|err0| {
            if err0.sqlstate == SqlState::DATATYPE_MISMATCH {
                err(
                    SqlState::DATATYPE_MISMATCH,
                    format!(
                        "column \"{}\" is of type {} but expression is of type {}",
                        c.name, c.data_type, ety
                    ),
                )
                .with_hint("You will need to rewrite or cast the expression.")
            } else {
                err0
            }
        })
}

fn writable(table: &TableDef, verb: &str) -> DbResult<()> {
    match table.kind {
        RelationKind::Table => Ok(()),
        RelationKind::View => Err(err(
            SqlState::new(b"55000"),
            format!("cannot {verb} view \"{}\"", table.name),
        )
        .with_detail(
            "Views that do not select from a single table or view are not automatically updatable.",
        )),
        RelationKind::Sequence => Err(err(
            SqlState::new(b"42809"),
            format!("cannot change sequence \"{}\"", table.name),
        )),
    }
}

pub(crate) fn column_index(table: &TableDef, name: &str) -> DbResult<usize> {
    table
        .columns
        .iter()
        .position(|c| c.name.as_str() == name)
        .ok_or_else(|| {
            err(
                SqlState::UNDEFINED_COLUMN,
                format!(
                    "column \"{name}\" of relation \"{}\" does not exist",
                    table.name
                ),
            )
        })
}

/// The error for an explicit value written into a column that only takes
/// DEFAULT (GENERATED ALWAYS identity or stored generated column).
fn non_default_error(c: &ColumnDef, verb_update: bool) -> Option<AionError> {
    let name = c.name.as_str();
    let msg = if verb_update {
        format!("column \"{name}\" can only be updated to DEFAULT")
    } else {
        format!("cannot insert a non-DEFAULT value into column \"{name}\"")
    };
    match c.identity {
        Identity::Always => {
            let e = err(SqlState::new(b"428C9"), msg).with_detail(format!(
                "Column \"{name}\" is an identity column defined as GENERATED ALWAYS."
            ));
            Some(if verb_update {
                e
            } else {
                e.with_hint("Use OVERRIDING SYSTEM VALUE to override.")
            })
        }
        Identity::Stored => Some(
            err(SqlState::new(b"428C9"), msg)
                .with_detail(format!("Column \"{name}\" is a generated column.")),
        ),
        Identity::None | Identity::ByDefault => None,
    }
}

/// Binds the stored generation expressions of `table` over a row laid out as
/// `ids` (one id per table column); `None` for ordinary columns.
pub(crate) fn generated_exprs(
    b: &mut Binder<'_>,
    table: &TableDef,
    ids: &[ColId],
) -> DbResult<Vec<Option<LExpr>>> {
    let scope = Scope {
        cols: table
            .columns
            .iter()
            .zip(ids)
            .map(|(c, id)| ScopeCol {
                qual: Some(table.name.to_string()),
                name: c.name.to_string(),
                id: *id,
                ty: c.data_type,
                hidden: false,
            })
            .collect(),
    };
    let mut out = Vec::new();
    for (i, c) in table.columns.iter().enumerate() {
        match (c.identity, c.default_expr.as_ref().into_option()) {
            (Identity::Stored, Some(text)) => {
                let e = parse_stored_expr(b.services, text.as_str())?;
                let x = b.expr(&scope, &e)?;
                out.push(Some(assign(b, table, i, x)?));
            }
            _ => out.push(None),
        }
    }
    Ok(out)
}

/// Adds assignments recomputing the stored generated columns of an updated
/// row: their expressions over the old row (`old_ids`) with the assigned
/// columns substituted.
fn recompute_generated(
    b: &mut Binder<'_>,
    table: &TableDef,
    old_ids: &[ColId],
    assigns: &mut Vec<(usize, LExpr)>,
) -> DbResult<()> {
    let gen = generated_exprs(b, table, old_ids)?;
    if gen.iter().all(|g| g.is_none()) {
        return Ok(());
    }
    assigns.retain(|(c, _)| gen.get(*c).is_some_and(|g| g.is_none()));
    let by_id: Vec<(ColId, LExpr)> = assigns
        .iter()
        .filter_map(|(c, e)| old_ids.get(*c).map(|id| (*id, e.clone())))
        .collect();
    for (c, g) in gen.into_iter().enumerate() {
        if let Some(mut g) = g {
            g.replace_cols(&|id| by_id.iter().find(|(k, _)| *k == id).map(|(_, e)| e.clone()));
            assigns.push((c, g));
        }
    }
    Ok(())
}

/// Puts a projection over an INSERT source (one output per table column)
/// that computes the stored generated columns from the other new values.
fn with_generated(b: &mut Binder<'_>, table: &TableDef, plan: LPlan) -> DbResult<LPlan> {
    if !table.columns.iter().any(|c| c.identity == Identity::Stored) {
        return Ok(plan);
    }
    let outs = plan.outputs();
    if outs.len() != table.columns.len() {
        return Ok(plan);
    }
    let gen = generated_exprs(b, table, &outs)?;
    let mut exprs = Vec::new();
    for (i, (id, g)) in outs.iter().zip(gen).enumerate() {
        match g {
            Some(e) => {
                let c = &table.columns[i];
                let nid = b.new_col(c.name.as_str(), c.data_type);
                exprs.push((nid, e));
            }
            None => exprs.push((*id, LExpr::col(*id, b.col_type(*id)))),
        }
    }
    Ok(LPlan::Project {
        input: Box::new(plan),
        exprs,
    })
}

/// Compiles the table's CHECK constraints over a new-row layout.
pub(crate) type Checks = (Vec<(String, LExpr)>, Vec<ColId>);
type ConflictParts = (Vec<(usize, LExpr)>, Option<LExpr>, Vec<ColId>);

pub(crate) fn checks(b: &mut Binder<'_>, table: &TableDef) -> DbResult<Checks> {
    let (scope, ids) = table_scope(b, table, None);
    let mut out = Vec::new();
    for c in table.constraints.iter() {
        if let ConstraintKind::Check { expr } = &c.kind {
            let e = parse_stored_expr(b.services, expr.as_str())?;
            let x = b.expr(&scope, &e)?;
            let x = b.require_bool(x, "CHECK")?;
            out.push((c.name.to_string(), x));
        }
    }
    Ok((out, ids))
}

fn returning_items(
    b: &mut Binder<'_>,
    scope: &Scope,
    items: &[ast::SelectItem],
) -> DbResult<Vec<(String, LExpr)>> {
    let mut out = Vec::new();
    for it in items {
        match it {
            ast::SelectItem::UnnamedExpr(e) => {
                let x = b.expr(scope, e)?;
                let x = if x.ty.id == TypeId::Unknown {
                    b.coerce(x, DataType::TEXT, CoercionKind::Implicit)?
                } else {
                    x
                };
                out.push((crate::query::output_name(e), x));
            }
            ast::SelectItem::ExprWithAlias { expr, alias } => {
                let x = b.expr(scope, expr)?;
                let x = if x.ty.id == TypeId::Unknown {
                    b.coerce(x, DataType::TEXT, CoercionKind::Implicit)?
                } else {
                    x
                };
                out.push((ident_name(alias), x));
            }
            ast::SelectItem::Wildcard(_) => {
                for c in scope.cols.iter().filter(|c| !c.hidden) {
                    out.push((c.name.clone(), LExpr::col(c.id, c.ty)));
                }
            }
            ast::SelectItem::QualifiedWildcard(kind, _) => {
                let q = match kind {
                    ast::SelectItemQualifiedWildcardKind::ObjectName(n) => {
                        object_parts(n)?.last().cloned().unwrap_or_default()
                    }
                    ast::SelectItemQualifiedWildcardKind::Expr(e) => e.to_string(),
                };
                for c in scope
                    .cols
                    .iter()
                    .filter(|c| c.qual.as_deref() == Some(q.as_str()))
                {
                    out.push((c.name.clone(), LExpr::col(c.id, c.ty)));
                }
            }
            _ => return Err(AionError::feature_not_supported("RETURNING item")),
        }
    }
    Ok(out)
}

pub(crate) fn lower_expr(
    binder: &Binder<'_>,
    pb: &mut PlanBuilder,
    e: &LExpr,
    layouts: &[&[ColId]],
) -> DbResult<ExprRef> {
    let mut l = Lower {
        b: pb,
        cols: &binder.cols,
        params: &binder.params,
        opt: Optimizer::new(binder.services, &binder.cols),
        outer: vec![],
    };
    l.expr(e, layouts)
}

pub(crate) fn finish(
    binder: &Binder<'_>,
    mut pb: PlanBuilder,
    root: u32,
    ret: &[(String, LExpr)],
    command: &str,
) -> Plan {
    let fields = ret
        .iter()
        .map(|(n, e)| Field::new(n.clone(), e.ty, true))
        .collect();
    pb.param_types = binder.params.clone();
    pb.writes = true;
    for t in &binder.tables {
        pb.add_table(*t);
    }
    pb.finish(binder.services, root, Schema::new(fields), command)
}

pub fn plan_insert(ctx: &PlanContext, services: &Services, ins: &ast::Insert) -> DbResult<Plan> {
    let mut binder = Binder::new(ctx, services);
    let (root, ret) = insert_node(&mut binder, ins)?;
    let pb = std::mem::take(&mut binder.pre);
    Ok(finish(&binder, pb, root, &ret, "INSERT"))
}

fn insert_node(
    binder: &mut Binder<'_>,
    ins: &ast::Insert,
) -> DbResult<(u32, Vec<(String, LExpr)>)> {
    // WITH lists inside the statement are not top-level.
    binder.top_level_with = false;
    let name = match &ins.table {
        ast::TableObject::TableName(n) => n.clone(),
        _ => {
            return Err(AionError::feature_not_supported(
                "INSERT into a table function",
            ))
        }
    };
    let table = resolve_table(binder.ctx, binder.services, &name)?;
    writable(&table, "insert into")?;
    binder.tables.push(table.id);
    let ncols = table.columns.len();
    // Without a column list, a shorter source fills the leading columns and
    // the rest take their defaults.
    let implicit = ins.columns.is_empty();
    let mut target: Vec<usize> = if implicit {
        (0..ncols).collect()
    } else {
        let mut v = Vec::new();
        for c in &ins.columns {
            let parts = object_parts(c)?;
            let n = parts.last().cloned().unwrap_or_default();
            let i = column_index(&table, &n)?;
            if v.contains(&i) {
                return Err(err(
                    SqlState::new(b"42701"),
                    format!("column \"{n}\" specified more than once"),
                ));
            }
            v.push(i);
        }
        v
    };
    let source_plan: LPlan = match ins.source.as_deref() {
        None => {
            // DEFAULT VALUES
            let mut row = Vec::new();
            for c in 0..ncols {
                row.push(column_default(binder, &table, c)?);
            }
            let cols = table
                .columns
                .iter()
                .map(|c| binder.new_col(c.name.as_str(), c.data_type))
                .collect();
            LPlan::Values {
                rows: vec![row],
                cols,
            }
        }
        Some(q) => match (
            &*q.body,
            q.order_by.is_none() && q.limit_clause.is_none() && q.with.is_none(),
        ) {
            (ast::SetExpr::Values(vals), true) => {
                let mut rows = Vec::new();
                if let Some(first) = vals.rows.first() {
                    if vals
                        .rows
                        .iter()
                        .any(|r| r.content.len() != first.content.len())
                    {
                        return Err(err(
                            SqlState::SYNTAX_ERROR,
                            "VALUES lists must all be the same length",
                        ));
                    }
                    if implicit && first.content.len() < target.len() {
                        target.truncate(first.content.len());
                    }
                }
                for r in &vals.rows {
                    if r.content.len() > target.len() {
                        return Err(err(
                            SqlState::SYNTAX_ERROR,
                            "INSERT has more expressions than target columns",
                        ));
                    }
                    if r.content.len() < target.len() {
                        return Err(err(
                            SqlState::SYNTAX_ERROR,
                            "INSERT has more target columns than expressions",
                        ));
                    }
                    let mut full: Vec<Option<LExpr>> = vec![None; ncols];
                    for (k, e) in r.content.iter().enumerate() {
                        let col = target[k];
                        if is_default_kw(e) {
                            continue;
                        }
                        if let Some(e) = non_default_error(&table.columns[col], false) {
                            return Err(e);
                        }
                        let x = binder.expr(&Scope::default(), e)?;
                        full[col] = Some(assign(binder, &table, col, x)?);
                    }
                    let mut row = Vec::new();
                    for (c, v) in full.into_iter().enumerate() {
                        row.push(match v {
                            Some(x) => x,
                            None => column_default(binder, &table, c)?,
                        });
                    }
                    rows.push(row);
                }
                let cols = table
                    .columns
                    .iter()
                    .map(|c| binder.new_col(c.name.as_str(), c.data_type))
                    .collect();
                LPlan::Values { rows, cols }
            }
            _ => {
                let (p, _) = crate::query::bind_query(binder, q)?;
                let outs = p.outputs();
                if implicit && outs.len() < target.len() {
                    target.truncate(outs.len());
                }
                if outs.len() > target.len() {
                    return Err(err(
                        SqlState::SYNTAX_ERROR,
                        "INSERT has more expressions than target columns",
                    ));
                }
                if outs.len() < target.len() {
                    return Err(err(
                        SqlState::SYNTAX_ERROR,
                        "INSERT has more target columns than expressions",
                    ));
                }
                let mut exprs = Vec::new();
                for c in 0..ncols {
                    let e = match target.iter().position(|t| *t == c) {
                        Some(k) => {
                            if let Some(e) = non_default_error(&table.columns[c], false) {
                                return Err(e);
                            }
                            let x = LExpr::col(outs[k], binder.col_type(outs[k]));
                            assign(binder, &table, c, x)?
                        }
                        None => column_default(binder, &table, c)?,
                    };
                    let id =
                        binder.new_col(table.columns[c].name.as_str(), table.columns[c].data_type);
                    exprs.push((id, e));
                }
                LPlan::Project {
                    input: Box::new(p),
                    exprs,
                }
            }
        },
    };
    let source_plan = with_generated(binder, &table, source_plan)?;
    let (check_list, check_ids) = checks(binder, &table)?;
    // ON CONFLICT
    let alias = ins.table_alias.as_ref().map(|a| ident_name(&a.alias));
    let mut conflict = None;
    let mut conflict_parts: Option<ConflictParts> = None;
    if let Some(ast::OnInsert::OnConflict(oc)) = &ins.on {
        let idxs = binder.services.catalog.indexes_of(table.id);
        let index = match &oc.conflict_target {
            None => None,
            Some(ast::ConflictTarget::Columns(cols)) => {
                let mut want = Vec::new();
                for c in cols {
                    want.push(column_index(&table, &ident_name(c))? as u32);
                }
                want.sort_unstable();
                let found = idxs.iter().find(|i| {
                    let mut have: Vec<u32> = i.columns.iter().copied().collect();
                    have.sort_unstable();
                    i.unique && have == want
                });
                match found {
                    Some(i) => Some(i.id),
                    None => {
                        return Err(err(
                            SqlState::new(b"42P10"),
                            "there is no unique or exclusion constraint matching the ON CONFLICT specification",
                        ))
                    }
                }
            }
            Some(ast::ConflictTarget::OnConstraint(n)) => {
                let n = object_parts(n)?.last().cloned().unwrap_or_default();
                match idxs.iter().find(|i| i.name.as_str() == n) {
                    Some(i) => Some(i.id),
                    None => {
                        return Err(err(
                            SqlState::UNDEFINED_OBJECT,
                            format!(
                                "constraint \"{n}\" for table \"{}\" does not exist",
                                table.name
                            ),
                        ))
                    }
                }
            }
        };
        match &oc.action {
            ast::OnConflictAction::DoNothing => conflict = Some((index, None)),
            ast::OnConflictAction::DoUpdate(du) => {
                let (mut scope, mut ids) = table_scope(binder, &table, alias.as_deref());
                let (ex_scope, ex_ids) = table_scope(binder, &table, Some("excluded"));
                scope.cols.extend(ex_scope.cols);
                ids.extend(ex_ids);
                let mut assigns = Vec::new();
                for a in &du.assignments {
                    let targets = assignment_targets(a)?;
                    if targets.len() != 1 {
                        return Err(AionError::feature_not_supported(
                            "multi-column assignment in ON CONFLICT",
                        ));
                    }
                    let col = column_index(&table, &targets[0])?;
                    let v = if is_default_kw(&a.value) {
                        column_default(binder, &table, col)?
                    } else {
                        if let Some(e) = non_default_error(&table.columns[col], true) {
                            return Err(e);
                        }
                        binder.expr(&scope, &a.value)?
                    };
                    assigns.push((col, assign(binder, &table, col, v)?));
                }
                let existing: Vec<ColId> = ids.iter().take(ncols).copied().collect();
                recompute_generated(binder, &table, &existing, &mut assigns)?;
                let filter = match &du.selection {
                    Some(w) => {
                        let x = binder.expr(&scope, w)?;
                        Some(binder.require_bool(x, "WHERE")?)
                    }
                    None => None,
                };
                conflict = Some((index, Some(())));
                conflict_parts = Some((assigns, filter, ids));
            }
        }
    }
    // RETURNING
    let (ret_scope, ret_ids) = table_scope(binder, &table, alias.as_deref());
    let ret = match &ins.returning {
        Some(items) => returning_items(binder, &ret_scope, items)?,
        None => vec![],
    };
    let mut pb = std::mem::take(&mut binder.pre);
    let (input, _) = crate::planner::lower_plan(binder, &mut pb, source_plan)?;
    let mut check_out = Vec::new();
    for (n, e) in &check_list {
        let x = lower_expr(binder, &mut pb, e, &[&check_ids])?;
        check_out.push(CheckConstraint {
            name: RString::from(n.as_str()),
            expr: x,
        });
    }
    let on_conflict = match conflict {
        None => ROption::RNone,
        Some((index, None)) => ROption::RSome(OnConflict {
            index: index.into(),
            action: ConflictAction::DoNothing,
        }),
        Some((index, Some(()))) => {
            let (assigns, filter, ids) = conflict_parts.take().unwrap_or_default();
            let mut out = Vec::new();
            for (c, e) in &assigns {
                out.push(Assignment {
                    column: *c as u32,
                    value: lower_expr(binder, &mut pb, e, &[&ids])?,
                });
            }
            let filter = match &filter {
                Some(f) => ROption::RSome(lower_expr(binder, &mut pb, f, &[&ids])?),
                None => ROption::RNone,
            };
            ROption::RSome(OnConflict {
                index: index.into(),
                action: ConflictAction::DoUpdate {
                    assignments: RVec::from(out),
                    filter,
                },
            })
        }
    };
    let mut rets = Vec::new();
    for (_, e) in &ret {
        rets.push(lower_expr(binder, &mut pb, e, &[&ret_ids])?);
    }
    let out_types = ret.iter().map(|(_, e)| e.ty).collect();
    pb.add_table(table.id);
    let root = pb.node(
        Operator::Insert {
            table: table.id,
            checks: RVec::from(check_out),
            on_conflict,
            returning: RVec::from(rets),
        },
        vec![input],
        out_types,
        1.0,
        1.0,
    );
    pb.writes = true;
    binder.pre = pb;
    Ok((root, ret))
}

fn assignment_targets(a: &ast::Assignment) -> DbResult<Vec<String>> {
    let names = match &a.target {
        ast::AssignmentTarget::ColumnName(n) => vec![n.clone()],
        ast::AssignmentTarget::Tuple(v) => v.clone(),
    };
    names
        .iter()
        .map(|n| Ok(object_parts(n)?.last().cloned().unwrap_or_default()))
        .collect()
}

/// The input of UPDATE/DELETE: target scan (with row ids) joined with the
/// extra FROM/USING tables, filtered by WHERE.
struct Target {
    table: TableDef,
    scope: Scope,
    ids: Vec<ColId>,
    row_id: ColId,
    extra: Vec<ColId>,
    plan: LPlan,
    recheck: Vec<LExpr>,
    alias: Option<String>,
}

fn bind_target(
    binder: &mut Binder<'_>,
    relation: &ast::TableFactor,
    from: &[ast::TableWithJoins],
    selection: Option<&ast::Expr>,
    verb: &str,
) -> DbResult<Target> {
    let (name, alias) = match relation {
        ast::TableFactor::Table { name, alias, .. } => {
            (name.clone(), alias.as_ref().map(|a| ident_name(&a.name)))
        }
        _ => return Err(AionError::feature_not_supported("target must be a table")),
    };
    let table = resolve_table(binder.ctx, binder.services, &name)?;
    writable(&table, verb)?;
    binder.tables.push(table.id);
    let (mut scope, ids) = table_scope(binder, &table, alias.as_deref());
    let row_id = binder.new_col("ctid", DataType::INT8);
    let mut plan = LPlan::Scan {
        table: table.clone(),
        cols: ids.clone(),
        used: None,
        filter: vec![],
        row_id: Some(row_id),
        lock: RowLockMode::None,
        access: Access::Seq,
        est_rows: 0.0,
    };
    let mut extra = Vec::new();
    if !from.is_empty() {
        let fr = crate::query::bind_from_pub(binder, from)?;
        if let Some(p) = fr.plan {
            plan = LPlan::Join {
                kind: aiondb_sdk::plan::JoinKind::Inner,
                left: Box::new(plan),
                right: Box::new(p),
                on: vec![],
                lateral: false,
                method: None,
            };
        }
        for c in &fr.scope.cols {
            extra.push(c.id);
        }
        scope.cols.extend(fr.scope.cols);
    }
    let mut recheck = Vec::new();
    if let Some(w) = selection {
        let saved = binder.agg_forbidden.replace("WHERE");
        let r = binder.expr(&scope, w);
        binder.agg_forbidden = saved;
        let w = r?;
        let w = binder.require_bool(w, "WHERE")?;
        let conj = w.conjuncts();
        for c in &conj {
            if !c.has_subquery() && c.col_set().iter().all(|x| ids.contains(x)) {
                recheck.push(c.clone());
            }
        }
        plan = LPlan::Filter {
            input: Box::new(plan),
            pred: conj,
        };
    }
    Ok(Target {
        table,
        scope,
        ids,
        row_id,
        extra,
        plan,
        recheck,
        alias,
    })
}

fn target_layout(t: &Target) -> Vec<ColId> {
    let mut v = t.ids.clone();
    v.push(t.row_id);
    v.extend(t.extra.iter().copied());
    v
}

fn project_target(binder: &Binder<'_>, t: &mut Target) {
    let layout = target_layout(t);
    let exprs = layout
        .iter()
        .map(|c| (*c, LExpr::col(*c, binder.col_type(*c))))
        .collect();
    let plan = std::mem::replace(
        &mut t.plan,
        LPlan::Values {
            rows: vec![],
            cols: vec![],
        },
    );
    t.plan = LPlan::Project {
        input: Box::new(plan),
        exprs,
    };
}

pub fn plan_update(ctx: &PlanContext, services: &Services, up: &ast::Update) -> DbResult<Plan> {
    let mut binder = Binder::new(ctx, services);
    let (root, ret) = update_node(&mut binder, up)?;
    let pb = std::mem::take(&mut binder.pre);
    Ok(finish(&binder, pb, root, &ret, "UPDATE"))
}

fn update_node(binder: &mut Binder<'_>, up: &ast::Update) -> DbResult<(u32, Vec<(String, LExpr)>)> {
    // WITH lists inside the statement are not top-level.
    binder.top_level_with = false;
    let from: Vec<ast::TableWithJoins> = match &up.from {
        Some(ast::UpdateTableFromKind::AfterSet(v))
        | Some(ast::UpdateTableFromKind::BeforeSet(v)) => v.clone(),
        None => vec![],
    };
    if !up.table.joins.is_empty() {
        return Err(AionError::feature_not_supported("UPDATE of a join"));
    }
    let mut t = bind_target(
        binder,
        &up.table.relation,
        &from,
        up.selection.as_ref(),
        "update",
    )?;
    let mut assigns: Vec<(usize, LExpr)> = Vec::new();
    for a in &up.assignments {
        let targets = assignment_targets(a)?;
        let values: Vec<&ast::Expr> = if targets.len() == 1 {
            vec![&a.value]
        } else {
            match &a.value {
                ast::Expr::Tuple(v) => v.iter().collect(),
                _ => {
                    return Err(AionError::feature_not_supported(
                        "multi-column assignment from a subquery",
                    ))
                }
            }
        };
        if values.len() != targets.len() {
            return Err(err(
                SqlState::SYNTAX_ERROR,
                "number of columns does not match number of values",
            ));
        }
        for (n, v) in targets.iter().zip(values) {
            let col = column_index(&t.table, n)?;
            if assigns.iter().any(|(c, _)| *c == col) {
                return Err(err(
                    SqlState::new(b"42601"),
                    format!("multiple assignments to same column \"{n}\""),
                ));
            }
            let x = if is_default_kw(v) {
                column_default(binder, &t.table, col)?
            } else {
                if let Some(e) = non_default_error(&t.table.columns[col], true) {
                    return Err(e);
                }
                binder.expr(&t.scope, v)?
            };
            assigns.push((col, assign(binder, &t.table, col, x)?));
        }
    }
    let old_ids = t.ids.clone();
    recompute_generated(binder, &t.table, &old_ids, &mut assigns)?;
    let (check_list, check_ids) = checks(binder, &t.table)?;
    // RETURNING sees the new row under the table's names, FROM items as read.
    let (mut ret_scope, new_ids) = table_scope(binder, &t.table, t.alias.as_deref());
    for c in &t.scope.cols {
        if !t.ids.contains(&c.id) {
            ret_scope.cols.push(c.clone());
        }
    }
    let ret = match &up.returning {
        Some(items) => returning_items(binder, &ret_scope, items)?,
        None => vec![],
    };
    project_target(binder, &mut t);
    let layout = target_layout(&t);
    let mut pb = std::mem::take(&mut binder.pre);
    let plan = std::mem::replace(
        &mut t.plan,
        LPlan::Values {
            rows: vec![],
            cols: vec![],
        },
    );
    let (input, _) = crate::planner::lower_plan(binder, &mut pb, plan)?;
    let mut out = Vec::new();
    for (c, e) in &assigns {
        out.push(Assignment {
            column: *c as u32,
            value: lower_expr(binder, &mut pb, e, &[&layout])?,
        });
    }
    let mut check_out = Vec::new();
    for (n, e) in &check_list {
        check_out.push(CheckConstraint {
            name: RString::from(n.as_str()),
            expr: lower_expr(binder, &mut pb, e, &[&check_ids])?,
        });
    }
    let recheck = match LExpr::and_all(t.recheck.clone()) {
        Some(r) => ROption::RSome(lower_expr(binder, &mut pb, &r, &[&layout])?),
        None => ROption::RNone,
    };
    let mut ret_layout = new_ids.clone();
    ret_layout.extend(layout.iter().copied());
    let mut rets = Vec::new();
    for (_, e) in &ret {
        rets.push(lower_expr(binder, &mut pb, e, &[&ret_layout])?);
    }
    let out_types = ret.iter().map(|(_, e)| e.ty).collect();
    pb.add_table(t.table.id);
    let root = pb.node(
        Operator::Update {
            table: t.table.id,
            row_id_column: t.ids.len() as u32,
            assignments: RVec::from(out),
            checks: RVec::from(check_out),
            recheck,
            returning: RVec::from(rets),
        },
        vec![input],
        out_types,
        1.0,
        1.0,
    );
    pb.writes = true;
    binder.pre = pb;
    Ok((root, ret))
}

pub fn plan_delete(ctx: &PlanContext, services: &Services, del: &ast::Delete) -> DbResult<Plan> {
    let mut binder = Binder::new(ctx, services);
    let (root, ret) = delete_node(&mut binder, del)?;
    let pb = std::mem::take(&mut binder.pre);
    Ok(finish(&binder, pb, root, &ret, "DELETE"))
}

fn delete_node(
    binder: &mut Binder<'_>,
    del: &ast::Delete,
) -> DbResult<(u32, Vec<(String, LExpr)>)> {
    // WITH lists inside the statement are not top-level.
    binder.top_level_with = false;
    let tables = match &del.from {
        ast::FromTable::WithFromKeyword(v) | ast::FromTable::WithoutKeyword(v) => v,
    };
    let first = tables
        .first()
        .ok_or_else(|| err(SqlState::SYNTAX_ERROR, "DELETE without a table"))?;
    let using = del.using.clone().unwrap_or_default();
    let mut t = bind_target(
        binder,
        &first.relation,
        &using,
        del.selection.as_ref(),
        "delete from",
    )?;
    let ret = match &del.returning {
        Some(items) => {
            let scope = t.scope.clone();
            returning_items(binder, &scope, items)?
        }
        None => vec![],
    };
    project_target(binder, &mut t);
    let layout = target_layout(&t);
    let mut pb = std::mem::take(&mut binder.pre);
    let plan = std::mem::replace(
        &mut t.plan,
        LPlan::Values {
            rows: vec![],
            cols: vec![],
        },
    );
    let (input, _) = crate::planner::lower_plan(binder, &mut pb, plan)?;
    let recheck = match LExpr::and_all(t.recheck.clone()) {
        Some(r) => ROption::RSome(lower_expr(binder, &mut pb, &r, &[&layout])?),
        None => ROption::RNone,
    };
    let mut rets = Vec::new();
    for (_, e) in &ret {
        rets.push(lower_expr(binder, &mut pb, e, &[&layout])?);
    }
    let out_types = ret.iter().map(|(_, e)| e.ty).collect();
    pb.add_table(t.table.id);
    let root = pb.node(
        Operator::Delete {
            table: t.table.id,
            row_id_column: t.ids.len() as u32,
            recheck,
            returning: RVec::from(rets),
        },
        vec![input],
        out_types,
        1.0,
        1.0,
    );
    pb.writes = true;
    binder.pre = pb;
    Ok((root, ret))
}

/// Plans the DML of a data-modifying CTE into `binder.pre`; returns its node
/// and the RETURNING columns (name, type).
pub fn dml_node(
    binder: &mut Binder<'_>,
    st: &ast::Statement,
) -> DbResult<(u32, Vec<(String, DataType)>)> {
    let (root, ret) = match st {
        ast::Statement::Insert(i) => insert_node(binder, i)?,
        ast::Statement::Update(u) => update_node(binder, u)?,
        ast::Statement::Delete(d) => delete_node(binder, d)?,
        _ => return Err(AionError::feature_not_supported("this statement in WITH")),
    };
    Ok((root, ret.into_iter().map(|(n, e)| (n, e.ty)).collect()))
}

/// `WITH ... INSERT/UPDATE/DELETE`: the statement sees the WITH list.
pub fn plan_with_dml(
    ctx: &PlanContext,
    services: &Services,
    q: &ast::Query,
    st: &ast::Statement,
) -> DbResult<Plan> {
    let mut binder = Binder::new(ctx, services);
    crate::query::push_ctes(&mut binder, q)?;
    let (root, ret) = match st {
        ast::Statement::Insert(i) => (insert_node(&mut binder, i)?, "INSERT"),
        ast::Statement::Update(u) => (update_node(&mut binder, u)?, "UPDATE"),
        ast::Statement::Delete(d) => (delete_node(&mut binder, d)?, "DELETE"),
        _ => {
            return Err(AionError::feature_not_supported(
                "this statement after WITH",
            ))
        }
    };
    let ((root, items), verb) = (root, ret);
    let mut pb = std::mem::take(&mut binder.pre);
    let root = crate::planner::wrap_dml_ctes(&binder, &mut pb, root)?;
    Ok(finish(&binder, pb, root, &items, verb))
}
