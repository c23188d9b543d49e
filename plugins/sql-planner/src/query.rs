//! SELECT, set operations, CTEs, FROM items, grouping, windows, ordering.

use crate::expr::*;
use crate::logical::*;
use crate::shared::{ident_name, object_parts, resolve_table};
use aiondb_sdk::plan::{JoinKind, RowLockMode, SetOpKind};
use aiondb_sdk::prelude::*;
use aiondb_sdk::value::CoercionKind;
use sqlparser::ast;

/// Binds a query; returns its plan and output column names.
pub fn bind_query(b: &mut Binder<'_>, q: &ast::Query) -> DbResult<(LPlan, Vec<String>)> {
    let saved = b.ctes.len();
    let r = bind_query_inner(b, q);
    b.ctes.truncate(saved);
    r
}

fn bind_query_inner(b: &mut Binder<'_>, q: &ast::Query) -> DbResult<(LPlan, Vec<String>)> {
    push_ctes(b, q)?;
    bind_query_body(b, q)
}

/// Registers the WITH list of `q` (the caller truncates `b.ctes` after).
pub fn push_ctes(b: &mut Binder<'_>, q: &ast::Query) -> DbResult<()> {
    // Only the statement's first WITH may hold data-modifying queries.
    let top = std::mem::replace(&mut b.top_level_with, false);
    if let Some(with) = &q.with {
        let has_dml = with.cte_tables.iter().any(|c| {
            matches!(
                &*c.query.body,
                ast::SetExpr::Insert(_) | ast::SetExpr::Update(_) | ast::SetExpr::Delete(_)
            )
        });
        if has_dml && !top {
            return Err(AionError::feature_not_supported(
                "WITH clause containing a data-modifying statement must be at the top level",
            ));
        }
        for (i, cte) in with.cte_tables.iter().enumerate() {
            let name = ident_name(&cte.alias.name);
            if with.cte_tables[..i]
                .iter()
                .any(|c| ident_name(&c.alias.name) == name)
            {
                return Err(err(
                    SqlState::new(b"42712"),
                    format!("WITH query name \"{name}\" specified more than once"),
                ));
            }
            let cols: Vec<String> = cte
                .alias
                .columns
                .iter()
                .map(|c| ident_name(&c.name))
                .collect();
            if with.recursive && query_references(&cte.query, &name) {
                let (plan, names) = bind_recursive(b, &name, &cols, &cte.query)?;
                b.ctes.push((name, CteDef::Plan(Box::new(plan), names)));
                continue;
            }
            if let ast::SetExpr::Insert(st) | ast::SetExpr::Update(st) | ast::SetExpr::Delete(st) =
                &*cte.query.body
            {
                // Planned now, in statement order, so that it runs even when
                // nothing references it (PostgreSQL runs each exactly once).
                let def = bind_dml_cte(b, &name, st, cols)?;
                b.ctes.push((name, def));
                continue;
            }
            b.ctes.push((name, CteDef::Query(cte.query.clone(), cols)));
        }
    }
    Ok(())
}

/// Plans a data-modifying CTE into `b.pre` and records it in `b.dml_ctes`.
fn bind_dml_cte(
    b: &mut Binder<'_>,
    name: &str,
    st: &ast::Statement,
    cols: Vec<String>,
) -> DbResult<CteDef> {
    // The statement binds on its own: no outer scope, and only the CTEs
    // defined before it (all of `b.ctes` so far).
    let saved_outer = std::mem::take(&mut b.outer);
    let saved_agg = b.agg.take();
    let saved_forbid = b.agg_forbidden.take();
    let r = crate::dml::dml_node(b, st);
    b.outer = saved_outer;
    b.agg = saved_agg;
    b.agg_forbidden = saved_forbid;
    let (node, ret) = r?;
    let mut names: Vec<String> = ret.iter().map(|(n, _)| n.clone()).collect();
    for (i, c) in cols.into_iter().enumerate() {
        if let Some(n) = names.get_mut(i) {
            *n = c;
        }
    }
    let worktable = b.next_worktable;
    b.next_worktable += 1;
    b.dml_ctes.push(DmlCte {
        name: name.to_string(),
        node,
        worktable,
    });
    Ok(CteDef::Dml {
        worktable,
        names,
        types: ret.into_iter().map(|(_, t)| t).collect(),
    })
}

fn bind_query_body(b: &mut Binder<'_>, q: &ast::Query) -> DbResult<(LPlan, Vec<String>)> {
    let lock = q.locks.first().map(|l| match l.lock_type {
        ast::LockType::Share => RowLockMode::Share,
        ast::LockType::Update => RowLockMode::Update,
    });
    let order: Vec<ast::OrderByExpr> = match &q.order_by {
        Some(ob) => match &ob.kind {
            ast::OrderByKind::Expressions(v) => v.clone(),
            ast::OrderByKind::All(_) => {
                return Err(AionError::feature_not_supported(
                    "ORDER BY ALL is not supported",
                ))
            }
        },
        None => vec![],
    };
    let (mut plan, names) = match &*q.body {
        ast::SetExpr::Select(s) => bind_select(b, s, &order, lock.unwrap_or(RowLockMode::None))?,
        other => {
            let (mut plan, names) = bind_set_expr(b, other)?;
            if !order.is_empty() {
                let outs = plan.outputs();
                let scope = Scope {
                    cols: outs
                        .iter()
                        .zip(&names)
                        .map(|(id, n)| ScopeCol {
                            qual: None,
                            name: n.clone(),
                            id: *id,
                            ty: b.col_type(*id),
                            hidden: false,
                        })
                        .collect(),
                };
                let mut keys = Vec::new();
                for o in &order {
                    let e = match ordinal(&o.expr) {
                        Some(n) => {
                            let id = *outs.get(n.wrapping_sub(1)).ok_or_else(|| {
                                err(
                                    SqlState::new(b"42P10"),
                                    format!("ORDER BY position {n} is not in select list"),
                                )
                            })?;
                            LExpr::col(id, b.col_type(id))
                        }
                        None => b.expr(&scope, &o.expr)?,
                    };
                    keys.push(make_key(e, &o.options));
                }
                plan = LPlan::Sort {
                    input: Box::new(plan),
                    keys,
                };
            }
            (plan, names)
        }
    };
    let (limit, offset) = match &q.limit_clause {
        Some(ast::LimitClause::LimitOffset { limit, offset, .. }) => {
            (limit.clone(), offset.as_ref().map(|o| o.value.clone()))
        }
        Some(ast::LimitClause::OffsetCommaLimit { offset, limit }) => {
            (Some(limit.clone()), Some(offset.clone()))
        }
        None => (None, None),
    };
    let limit = match (&q.fetch, limit) {
        (Some(f), None) => Some(
            f.quantity
                .clone()
                .unwrap_or(ast::Expr::value(ast::Value::Number("1".into(), false))),
        ),
        (_, l) => l,
    };
    if limit.is_some() || offset.is_some() {
        let empty = Scope::default();
        let bind_count =
            |b: &mut Binder<'_>, e: &ast::Expr, what: &str| -> DbResult<Option<LExpr>> {
                let x = b.expr(&empty, e)?;
                if matches!(x.kind, LKind::Const(Value::Null)) && what == "LIMIT" {
                    return Ok(None);
                }
                Ok(Some(b.coerce(x, DataType::INT8, CoercionKind::Implicit)?))
            };
        let l = match &limit {
            Some(e) => bind_count(b, e, "LIMIT")?,
            None => None,
        };
        let o = match &offset {
            Some(e) => bind_count(b, e, "OFFSET")?,
            None => None,
        };
        if l.is_some() || o.is_some() {
            plan = LPlan::Limit {
                input: Box::new(plan),
                limit: l,
                offset: o,
            };
        }
    }
    Ok((plan, names))
}

fn query_references(q: &ast::Query, name: &str) -> bool {
    // Cheap textual check: whether the query mentions the CTE name.
    let text = q.to_string().to_lowercase();
    text.split(|c: char| !c.is_alphanumeric() && c != '_')
        .any(|w| w == name)
}

fn bind_recursive(
    b: &mut Binder<'_>,
    name: &str,
    cols: &[String],
    q: &ast::Query,
) -> DbResult<(LPlan, Vec<String>)> {
    let ast::SetExpr::SetOperation {
        left,
        op: ast::SetOperator::Union,
        set_quantifier,
        right,
    } = &*q.body
    else {
        return Err(err(
            SqlState::new(b"42P19"),
            format!("recursive query \"{name}\" does not have the form non-recursive-term UNION [ALL] recursive-term"),
        ));
    };
    let all = matches!(set_quantifier, ast::SetQuantifier::All);
    b.ctes.push((name.to_string(), CteDef::NonRecursiveTerm));
    let r = bind_set_expr(b, left);
    b.ctes.pop();
    let (anchor, anames) = r?;
    let names: Vec<String> = if cols.is_empty() {
        anames
    } else {
        cols.to_vec()
    };
    let a_outs = anchor.outputs();
    let types: Vec<DataType> = a_outs.iter().map(|c| b.col_type(*c)).collect();
    let wt = b.next_worktable;
    b.next_worktable += 1;
    b.ctes.push((
        name.to_string(),
        CteDef::WorkTable {
            worktable: wt,
            names: names.clone(),
            types: types.clone(),
        },
    ));
    let r = bind_set_expr(b, right);
    b.ctes.pop();
    let (rec, _) = r?;
    let r_outs = rec.outputs();
    if r_outs.len() != a_outs.len() {
        return Err(err(
            SqlState::SYNTAX_ERROR,
            "each UNION query must have the same number of columns",
        ));
    }
    // The recursive term is cast to the anchor's types.
    let mut exprs = Vec::new();
    for (i, c) in r_outs.iter().enumerate() {
        let e = LExpr::col(*c, b.col_type(*c));
        let e = b.coerce(e, types[i], CoercionKind::Assignment)?;
        let id = b.new_col(&names[i], types[i]);
        exprs.push((id, e));
    }
    let rec = LPlan::Project {
        input: Box::new(rec),
        exprs,
    };
    let out: Vec<ColId> = names
        .iter()
        .zip(&types)
        .map(|(n, t)| b.new_col(n, *t))
        .collect();
    Ok((
        LPlan::RecursiveUnion {
            anchor: Box::new(anchor),
            recursive: Box::new(rec),
            worktable: wt,
            all,
            cols: out,
        },
        names,
    ))
}

fn bind_set_expr(b: &mut Binder<'_>, s: &ast::SetExpr) -> DbResult<(LPlan, Vec<String>)> {
    match s {
        ast::SetExpr::Select(sel) => bind_select(b, sel, &[], RowLockMode::None),
        ast::SetExpr::Query(q) => bind_query(b, q),
        ast::SetExpr::Values(v) => bind_values(b, v, None),
        ast::SetExpr::SetOperation {
            left,
            op,
            set_quantifier,
            right,
        } => {
            let (l, lnames) = bind_set_expr(b, left)?;
            let (r, _) = bind_set_expr(b, right)?;
            let opk = match op {
                ast::SetOperator::Union => SetOpKind::Union,
                ast::SetOperator::Intersect => SetOpKind::Intersect,
                ast::SetOperator::Except | ast::SetOperator::Minus => SetOpKind::Except,
            };
            let all = matches!(set_quantifier, ast::SetQuantifier::All);
            let lo = l.outputs();
            let ro = r.outputs();
            let opname = match opk {
                SetOpKind::Union => "UNION",
                SetOpKind::Intersect => "INTERSECT",
                SetOpKind::Except => "EXCEPT",
            };
            if lo.len() != ro.len() {
                return Err(err(
                    SqlState::SYNTAX_ERROR,
                    format!("each {opname} query must have the same number of columns"),
                ));
            }
            let mut ltypes = Vec::new();
            for (a, c) in lo.iter().zip(&ro) {
                let (_, t) = b.unify(
                    vec![
                        LExpr::col(*a, b.col_type(*a)),
                        LExpr::col(*c, b.col_type(*c)),
                    ],
                    opname,
                )?;
                ltypes.push(t);
            }
            let l = cast_plan(b, l, &ltypes, &lnames)?;
            let r = cast_plan(b, r, &ltypes, &lnames)?;
            let cols: Vec<ColId> = lnames
                .iter()
                .zip(&ltypes)
                .map(|(n, t)| b.new_col(n, *t))
                .collect();
            Ok((
                LPlan::SetOp {
                    op: opk,
                    all,
                    left: Box::new(l),
                    right: Box::new(r),
                    cols,
                },
                lnames,
            ))
        }
        _ => Err(AionError::feature_not_supported(
            "this query form is not supported",
        )),
    }
}

/// Adds a projection casting the plan's outputs to `types` when needed.
pub fn cast_plan(
    b: &mut Binder<'_>,
    p: LPlan,
    types: &[DataType],
    names: &[String],
) -> DbResult<LPlan> {
    let outs = p.outputs();
    if outs.iter().zip(types).all(|(c, t)| b.col_type(*c) == *t) {
        return Ok(p);
    }
    let mut exprs = Vec::new();
    for (i, c) in outs.iter().enumerate() {
        let e = LExpr::col(*c, b.col_type(*c));
        let e = b.coerce(e, types[i], CoercionKind::Implicit)?;
        let id = b.new_col(
            names.get(i).map(|s| s.as_str()).unwrap_or("?column?"),
            types[i],
        );
        exprs.push((id, e));
    }
    Ok(LPlan::Project {
        input: Box::new(p),
        exprs,
    })
}

/// `VALUES (...), (...)`; `target` gives column types to coerce to.
pub fn bind_values(
    b: &mut Binder<'_>,
    v: &ast::Values,
    target: Option<&[DataType]>,
) -> DbResult<(LPlan, Vec<String>)> {
    let scope = Scope::default();
    let mut rows: Vec<Vec<LExpr>> = Vec::new();
    let width = v.rows.first().map(|r| r.content.len()).unwrap_or(0);
    for r in &v.rows {
        if r.content.len() != width {
            return Err(err(
                SqlState::SYNTAX_ERROR,
                "VALUES lists must all be the same length",
            ));
        }
        let mut row = Vec::new();
        for e in &r.content {
            row.push(b.expr(&scope, e)?);
        }
        rows.push(row);
    }
    let mut types = Vec::new();
    for c in 0..width {
        let col: Vec<LExpr> = rows.iter().map(|r| r[c].clone()).collect();
        let t = match target.and_then(|t| t.get(c)) {
            Some(t) => *t,
            None => b.unify(col, "VALUES")?.1,
        };
        for r in rows.iter_mut() {
            let e = std::mem::replace(&mut r[c], LExpr::null(t));
            r[c] = b.coerce(e, t, CoercionKind::Implicit)?;
        }
        types.push(t);
    }
    let names: Vec<String> = (1..=width).map(|i| format!("column{i}")).collect();
    let cols = names
        .iter()
        .zip(&types)
        .map(|(n, t)| b.new_col(n, *t))
        .collect();
    Ok((LPlan::Values { rows, cols }, names))
}

fn ordinal(e: &ast::Expr) -> Option<usize> {
    match e {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::Number(s, _) => s.parse().ok(),
            _ => None,
        },
        _ => None,
    }
}

/// Output name PostgreSQL gives an unaliased select item.
pub fn output_name(e: &ast::Expr) -> String {
    use ast::Expr as E;
    match e {
        E::Identifier(id) => ident_name(id),
        E::CompoundIdentifier(ids) => ids.last().map(ident_name).unwrap_or_default(),
        E::Function(f) => f
            .name
            .0
            .last()
            .and_then(|p| p.as_ident())
            .map(ident_name)
            .unwrap_or_default(),
        E::Cast {
            expr, data_type, ..
        } => match &**expr {
            E::Value(_) => cast_type_name(data_type),
            inner => {
                let n = output_name(inner);
                if n == "?column?" {
                    cast_type_name(data_type)
                } else {
                    n
                }
            }
        },
        E::Nested(x) => output_name(x),
        E::Case { .. } => "case".into(),
        E::Exists { .. } => "exists".into(),
        E::Array(_) => "array".into(),
        E::Subquery(q) => match &*q.body {
            ast::SetExpr::Select(s) if s.projection.len() == 1 => match &s.projection[0] {
                ast::SelectItem::UnnamedExpr(x) => output_name(x),
                ast::SelectItem::ExprWithAlias { alias, .. } => ident_name(alias),
                _ => "?column?".into(),
            },
            _ => "?column?".into(),
        },
        E::Extract { .. } => "extract".into(),
        E::Position { .. } => "position".into(),
        E::Substring { .. } => "substring".into(),
        E::Trim { .. } => "btrim".into(),
        E::TypedString(ts) => cast_type_name(&ts.data_type),
        E::Interval(_) => "interval".into(),
        E::CompoundFieldAccess { root, .. } => output_name(root),
        _ => "?column?".into(),
    }
}

fn cast_type_name(dt: &ast::DataType) -> String {
    match crate::types::sql_data_type(dt) {
        Ok(t) => match t.id {
            TypeId::Int2 => "int2".into(),
            TypeId::Int4 => "int4".into(),
            TypeId::Int8 => "int8".into(),
            TypeId::Float4 => "float4".into(),
            TypeId::Float8 => "float8".into(),
            TypeId::Bool => "bool".into(),
            TypeId::Varchar => "varchar".into(),
            TypeId::Char => "bpchar".into(),
            TypeId::Timestamp => "timestamp".into(),
            TypeId::TimestampTz => "timestamptz".into(),
            TypeId::Time => "time".into(),
            _ => t.id.sql_name().to_string(),
        },
        Err(_) => "?column?".into(),
    }
}

// ------------------------------------------------------------------ FROM

pub struct FromResult {
    pub plan: Option<LPlan>,
    pub scope: Scope,
}

pub fn bind_from_pub(b: &mut Binder<'_>, from: &[ast::TableWithJoins]) -> DbResult<FromResult> {
    bind_from(b, from, RowLockMode::None)
}

fn bind_from(
    b: &mut Binder<'_>,
    from: &[ast::TableWithJoins],
    lock: RowLockMode,
) -> DbResult<FromResult> {
    let mut plan: Option<LPlan> = None;
    let mut scope = Scope::default();
    for twj in from {
        let (p, s) = bind_table_with_joins(b, twj, &scope, lock)?;
        plan = Some(match plan {
            None => p,
            Some(l) => {
                let lateral = plan_is_lateral(&p);
                LPlan::Join {
                    kind: JoinKind::Inner,
                    left: Box::new(l),
                    right: Box::new(p),
                    on: vec![],
                    lateral,
                    method: None,
                }
            }
        });
        check_duplicate_alias(&scope, &s)?;
        scope.cols.extend(s.cols);
    }
    Ok(FromResult { plan, scope })
}

fn check_duplicate_alias(a: &Scope, b: &Scope) -> DbResult<()> {
    for c in &b.cols {
        if let Some(q) = &c.qual {
            if a.cols.iter().any(|x| x.qual.as_ref() == Some(q)) {
                return Err(err(
                    SqlState::new(b"42712"),
                    format!("table name \"{q}\" specified more than once"),
                ));
            }
        }
    }
    Ok(())
}

thread_local! {
    static LATERAL_MARK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn plan_is_lateral(_p: &LPlan) -> bool {
    LATERAL_MARK.with(|m| m.replace(false))
}

fn bind_table_with_joins(
    b: &mut Binder<'_>,
    twj: &ast::TableWithJoins,
    left_scope: &Scope,
    lock: RowLockMode,
) -> DbResult<(LPlan, Scope)> {
    let (mut plan, mut scope) = bind_factor(b, &twj.relation, left_scope, lock)?;
    let first_lateral = LATERAL_MARK.with(|m| m.replace(false));
    for j in &twj.joins {
        let mut visible = left_scope.clone();
        visible.cols.extend(scope.cols.iter().cloned());
        let (rp, rs) = bind_factor(b, &j.relation, &visible, lock)?;
        let lateral = LATERAL_MARK.with(|m| m.replace(false));
        check_duplicate_alias(&scope, &rs)?;
        use ast::JoinOperator as J;
        let (kind, constraint) = match &j.join_operator {
            J::Join(c) | J::Inner(c) => (JoinKind::Inner, Some(c)),
            J::Left(c) | J::LeftOuter(c) => (JoinKind::Left, Some(c)),
            J::Right(c) | J::RightOuter(c) => (JoinKind::Right, Some(c)),
            J::FullOuter(c) => (JoinKind::Full, Some(c)),
            J::CrossJoin(_) => (JoinKind::Inner, None),
            J::CrossApply => (JoinKind::Inner, None),
            J::OuterApply => (JoinKind::Left, None),
            _ => return Err(AionError::feature_not_supported("join type not supported")),
        };
        let mut on = Vec::new();
        let mut rs = rs;
        let mut using: Vec<String> = Vec::new();
        match constraint {
            Some(ast::JoinConstraint::On(e)) => {
                let mut both = scope.clone();
                both.cols.extend(rs.cols.iter().cloned());
                let saved = b.agg_forbidden.replace("JOIN conditions");
                let r = b.expr(&both, e);
                b.agg_forbidden = saved;
                let c = r?;
                let c = b.require_bool(c, "JOIN/ON")?;
                on = c.conjuncts();
            }
            Some(ast::JoinConstraint::Using(names)) => {
                for n in names {
                    let parts = object_parts(n)?;
                    using.push(parts.last().cloned().unwrap_or_default());
                }
            }
            Some(ast::JoinConstraint::Natural) => {
                for c in &scope.cols {
                    if !c.hidden
                        && rs.cols.iter().any(|r| !r.hidden && r.name == c.name)
                        && !using.contains(&c.name)
                    {
                        using.push(c.name.clone());
                    }
                }
            }
            _ => {}
        }
        // Positions of each USING column in the left and right scopes.
        let mut pairs: Vec<(usize, usize)> = Vec::new();
        for (i, name) in using.iter().enumerate() {
            if using[..i].contains(name) {
                return Err(err(
                    SqlState::new(b"42701"),
                    format!("column name \"{name}\" appears more than once in USING clause"),
                ));
            }
            let li = scope.cols.iter().position(|c| !c.hidden && &c.name == name).ok_or_else(|| {
                err(SqlState::UNDEFINED_COLUMN, format!("column \"{name}\" specified in USING clause does not exist in left table"))
            })?;
            let ri = rs.cols.iter().position(|c| !c.hidden && &c.name == name).ok_or_else(|| {
                err(SqlState::UNDEFINED_COLUMN, format!("column \"{name}\" specified in USING clause does not exist in right table"))
            })?;
            let (l, r) = (&scope.cols[li], &rs.cols[ri]);
            let cond = b.binary(
                aiondb_sdk::value::ops::BinaryOp::Eq,
                LExpr::col(l.id, l.ty),
                LExpr::col(r.id, r.ty),
            )?;
            on.push(cond);
            pairs.push((li, ri));
        }
        plan = LPlan::Join {
            kind,
            left: Box::new(plan),
            right: Box::new(rp),
            on,
            lateral,
            method: None,
        };
        // The merged USING columns come first (for `*`) and are the only
        // ones reachable unqualified: the left column for INNER/LEFT, the
        // right one for RIGHT, COALESCE(left, right) for FULL.
        let mut merged: Vec<ScopeCol> = Vec::new();
        let mut full_exprs: Vec<(ColId, LExpr)> = Vec::new();
        for (name, (li, ri)) in using.iter().zip(&pairs) {
            let (lc, rc) = (scope.cols[*li].clone(), rs.cols[*ri].clone());
            let (id, ty) = match kind {
                JoinKind::Right => (rc.id, rc.ty),
                JoinKind::Full => {
                    let e = b.call_function(
                        "coalesce",
                        vec![LExpr::col(lc.id, lc.ty), LExpr::col(rc.id, rc.ty)],
                    )?;
                    let id = b.new_col(name, e.ty);
                    let ty = e.ty;
                    full_exprs.push((id, e));
                    (id, ty)
                }
                _ => (lc.id, lc.ty),
            };
            scope.cols[*li].hidden = true;
            rs.cols[*ri].hidden = true;
            merged.push(ScopeCol {
                qual: None,
                name: name.clone(),
                id,
                ty,
                hidden: false,
            });
        }
        if !full_exprs.is_empty() {
            let mut exprs: Vec<(ColId, LExpr)> = plan
                .outputs()
                .into_iter()
                .map(|c| (c, LExpr::col(c, b.col_type(c))))
                .collect();
            exprs.extend(full_exprs);
            plan = LPlan::Project {
                input: Box::new(plan),
                exprs,
            };
        }
        scope.cols.splice(0..0, merged);
        scope.cols.extend(rs.cols);
    }
    LATERAL_MARK.with(|m| m.set(first_lateral));
    Ok((plan, scope))
}

fn alias_scope(
    b: &mut Binder<'_>,
    qual: &str,
    names: &[String],
    ids: &[ColId],
    alias: Option<&ast::TableAlias>,
) -> DbResult<Scope> {
    let (qual, renames): (String, Vec<String>) = match alias {
        Some(a) => (
            ident_name(&a.name),
            a.columns.iter().map(|c| ident_name(&c.name)).collect(),
        ),
        None => (qual.to_string(), vec![]),
    };
    if renames.len() > names.len() {
        return Err(err(
            SqlState::new(b"42P10"),
            format!(
                "table \"{qual}\" has {} columns available but {} columns specified",
                names.len(),
                renames.len()
            ),
        ));
    }
    let mut cols = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let name = renames.get(i).cloned().unwrap_or_else(|| names[i].clone());
        b.cols[*id as usize].qual = Some(qual.clone());
        b.cols[*id as usize].name = name.clone();
        cols.push(ScopeCol {
            qual: Some(qual.clone()),
            name,
            id: *id,
            ty: b.col_type(*id),
            hidden: false,
        });
    }
    Ok(Scope { cols })
}

fn bind_factor(
    b: &mut Binder<'_>,
    f: &ast::TableFactor,
    left: &Scope,
    lock: RowLockMode,
) -> DbResult<(LPlan, Scope)> {
    match f {
        ast::TableFactor::Table {
            name,
            alias,
            args,
            with_ordinality,
            ..
        } => {
            if let Some(args) = args {
                let fname = object_parts(name)?.last().cloned().unwrap_or_default();
                return bind_table_function(
                    b,
                    &fname,
                    &args.args,
                    *with_ordinality,
                    alias.as_ref(),
                    left,
                );
            }
            let parts = object_parts(name)?;
            if parts.len() == 1 {
                if let Some(pos) = b.ctes.iter().rposition(|(n, _)| *n == parts[0]) {
                    return bind_cte_ref(b, pos, &parts[0], alias.as_ref());
                }
            }
            if let Some(rel) = system_relation(b, &parts) {
                let fields = rel.schema();
                let names: Vec<String> = fields.fields.iter().map(|f| f.name.to_string()).collect();
                let ids: Vec<ColId> = fields
                    .fields
                    .iter()
                    .map(|f| b.new_col(f.name.as_str(), f.data_type))
                    .collect();
                let scope = alias_scope(b, rel.name, &names, &ids, alias.as_ref())?;
                return Ok((
                    LPlan::TableFunc {
                        name: rel.qualified(),
                        args: vec![],
                        cols: ids,
                        ordinality: false,
                    },
                    scope,
                ));
            }
            let table = resolve_table(b.ctx, b.services, name)?;
            let qual = table.name.to_string();
            match table.kind {
                RelationKind::View => {
                    let sql = table.view_sql.clone().into_option().unwrap_or_default();
                    let q = parse_query(b.services, sql.as_str())?;
                    let saved_outer = std::mem::take(&mut b.outer);
                    let saved_ctes = std::mem::take(&mut b.ctes);
                    let r = bind_query(b, &q);
                    b.outer = saved_outer;
                    b.ctes = saved_ctes;
                    let (p, names) = r?;
                    let view_names: Vec<String> =
                        table.columns.iter().map(|c| c.name.to_string()).collect();
                    let names = if view_names.len() == names.len() {
                        view_names
                    } else {
                        names
                    };
                    let ids = p.outputs();
                    b.tables.push(table.id);
                    let scope = alias_scope(b, &qual, &names, &ids, alias.as_ref())?;
                    Ok((p, scope))
                }
                RelationKind::Sequence => Err(AionError::feature_not_supported(
                    "selecting from a sequence is not supported",
                )),
                RelationKind::Table => {
                    let names: Vec<String> =
                        table.columns.iter().map(|c| c.name.to_string()).collect();
                    let ids: Vec<ColId> = table
                        .columns
                        .iter()
                        .enumerate()
                        .map(|(i, c)| {
                            let id = b.new_col(c.name.as_str(), c.data_type);
                            b.cols[id as usize].origin = Some((table.id, i as u32));
                            id
                        })
                        .collect();
                    b.tables.push(table.id);
                    let scope = alias_scope(b, &qual, &names, &ids, alias.as_ref())?;
                    Ok((
                        LPlan::Scan {
                            table,
                            cols: ids,
                            used: None,
                            filter: vec![],
                            row_id: None,
                            lock,
                            access: Access::Seq,
                            est_rows: 0.0,
                        },
                        scope,
                    ))
                }
            }
        }
        ast::TableFactor::Derived {
            lateral,
            subquery,
            alias,
            ..
        } => {
            if *lateral {
                b.outer.push(left.clone());
            }
            let saved_agg = b.agg.take();
            let r = bind_query(b, subquery);
            b.agg = saved_agg;
            if *lateral {
                b.outer.pop();
            }
            let (p, names) = r?;
            let lateral_used = *lateral && references_any(&p, left);
            let ids = p.outputs();
            let qual = alias
                .as_ref()
                .map(|a| ident_name(&a.name))
                .unwrap_or_else(|| "unnamed_subquery".into());
            let mut scope = alias_scope(b, &qual, &names, &ids, alias.as_ref())?;
            if alias.is_none() {
                for c in scope.cols.iter_mut() {
                    c.qual = None;
                }
            }
            LATERAL_MARK.with(|m| m.set(lateral_used));
            Ok((p, scope))
        }
        ast::TableFactor::Function {
            name,
            args,
            with_ordinality,
            alias,
            ..
        } => {
            let fname = object_parts(name)?.last().cloned().unwrap_or_default();
            bind_table_function(b, &fname, args, *with_ordinality, alias.as_ref(), left)
        }
        ast::TableFactor::NestedJoin {
            table_with_joins,
            alias,
        } => {
            let (p, mut s) = bind_table_with_joins(b, table_with_joins, left, lock)?;
            if let Some(a) = alias {
                let q = ident_name(&a.name);
                for c in s.cols.iter_mut() {
                    c.qual = Some(q.clone());
                }
            }
            Ok((p, s))
        }
        ast::TableFactor::UNNEST {
            alias,
            array_exprs,
            with_ordinality,
            ..
        } => {
            let args: Vec<ast::FunctionArg> = array_exprs
                .iter()
                .map(|e| ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e.clone())))
                .collect();
            bind_table_function(b, "unnest", &args, *with_ordinality, alias.as_ref(), left)
        }
        _ => Err(AionError::feature_not_supported(
            "this FROM item is not supported",
        )),
    }
}

/// The system relation (`pg_catalog.pg_class`, `information_schema.tables`)
/// a FROM name means: qualified by its schema, or unqualified when the
/// search path reaches `pg_catalog` before a user relation of that name.
fn system_relation(
    b: &Binder<'_>,
    parts: &[String],
) -> Option<&'static aiondb_sdk::syscat::SysRelation> {
    use aiondb_sdk::syscat::lookup_relation;
    match parts {
        [name] => {
            for schema in crate::shared::search_schemas(b.ctx) {
                if schema == "pg_catalog" {
                    if let Some(r) = lookup_relation(None, name) {
                        return Some(r);
                    }
                } else if crate::shared::schema_has_relation(b.services, &schema, name) {
                    return None;
                }
            }
            None
        }
        [.., schema, name] if parts.len() <= 3 => lookup_relation(Some(schema), name),
        _ => None,
    }
}

fn references_any(p: &LPlan, scope: &Scope) -> bool {
    let mut s = std::collections::HashSet::new();
    p.all_cols(&mut s);
    scope.cols.iter().any(|c| s.contains(&c.id))
}

fn bind_cte_ref(
    b: &mut Binder<'_>,
    pos: usize,
    name: &str,
    alias: Option<&ast::TableAlias>,
) -> DbResult<(LPlan, Scope)> {
    let def = b.ctes[pos].1.clone();
    let (p, names) = match def {
        CteDef::WorkTable {
            worktable,
            names,
            types,
        } => {
            let cols = names
                .iter()
                .zip(&types)
                .map(|(n, t)| b.new_col(n, *t))
                .collect();
            (LPlan::WorkTableScan { worktable, cols }, names)
        }
        CteDef::Plan(p, names) => (renumber(b, *p), names),
        CteDef::NonRecursiveTerm => {
            return Err(err(
                SqlState::new(b"42P19"),
                format!(
                    "recursive reference to query \"{name}\" must not appear within its non-recursive term"
                ),
            ))
        }
        CteDef::Dml {
            worktable,
            names,
            types,
        } => {
            if names.is_empty() {
                return Err(err(
                    SqlState::FEATURE_NOT_SUPPORTED,
                    format!("WITH query \"{name}\" does not have a RETURNING clause"),
                ));
            }
            // Every reference reads the same stored RETURNING rows.
            let cols = names
                .iter()
                .zip(&types)
                .map(|(n, t)| b.new_col(n, *t))
                .collect();
            (LPlan::WorkTableScan { worktable, cols }, names)
        }
        CteDef::Query(q, cols) => {
            let (p, names) = {
                // CTEs see only the CTEs defined before them.
                let rest = b.ctes.split_off(pos);
                let r = bind_query(b, &q);
                b.ctes.extend(rest);
                r?
            };
            let names = if cols.is_empty() {
                names
            } else {
                let mut c = cols;
                c.extend(names.into_iter().skip(c.len()));
                c
            };
            (p, names)
        }
    };
    let ids = p.outputs();
    let scope = alias_scope(b, name, &names, &ids, alias)?;
    Ok((p, scope))
}

/// A recursive CTE referenced again: wrap in a projection with fresh ids.
fn renumber(b: &mut Binder<'_>, p: LPlan) -> LPlan {
    let outs = p.outputs();
    let exprs = outs
        .iter()
        .map(|c| {
            let info = b.cols[*c as usize].clone();
            let id = b.new_col(&info.name, info.ty);
            (id, LExpr::col(*c, info.ty))
        })
        .collect();
    LPlan::Project {
        input: Box::new(p),
        exprs,
    }
}

pub fn parse_query(services: &Services, sql: &str) -> DbResult<ast::Query> {
    match crate::shared::parse_stored(services, sql)? {
        ast::Statement::Query(q) => Ok(*q),
        _ => Err(AionError::internal("stored query text is not a query")),
    }
}

fn bind_table_function(
    b: &mut Binder<'_>,
    name: &str,
    args: &[ast::FunctionArg],
    ordinality: bool,
    alias: Option<&ast::TableAlias>,
    left: &Scope,
) -> DbResult<(LPlan, Scope)> {
    if name == "__rows_from" {
        return bind_rows_from(b, args, alias, left);
    }
    let bound = bind_srf_args(b, args, left)?;
    let (args, cols) = srf_shape(b, name, bound)?;
    finish_table_function(b, name, name, args, cols, ordinality, alias, left)
}

/// Binds each argument expression of a table function (they may reference
/// earlier FROM items: implicitly LATERAL).
fn bind_srf_args(
    b: &mut Binder<'_>,
    args: &[ast::FunctionArg],
    left: &Scope,
) -> DbResult<Vec<LExpr>> {
    b.outer.push(left.clone());
    let mut bound = Vec::new();
    let mut res = Ok(());
    for a in args {
        let e = match a {
            ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => e,
            _ => {
                res = Err(AionError::feature_not_supported(
                    "named table function arguments",
                ));
                break;
            }
        };
        match b.expr(&Scope::default(), e) {
            Ok(x) => bound.push(x),
            Err(e) => {
                res = Err(e);
                break;
            }
        }
    }
    b.outer.pop();
    res.map(|_| bound)
}

/// Set-returning functions allowed in a select list (single-column ones).
const SELECT_LIST_SRFS: &[&str] = &[
    "unnest",
    "generate_series",
    "generate_subscripts",
    "jsonb_array_elements",
    "jsonb_array_elements_text",
    "json_array_elements",
    "json_array_elements_text",
    "jsonb_object_keys",
    "json_object_keys",
    "pg_partition_ancestors",
];

/// `ROWS FROM (f(..), g(..))`: the functions side by side, the shorter
/// ones padded with NULLs. Select-list set-returning functions are
/// rewritten to this (see [`srf_select_list`]); its columns are named
/// `__srf_0`, `__srf_1`, ...
fn bind_rows_from(
    b: &mut Binder<'_>,
    args: &[ast::FunctionArg],
    alias: Option<&ast::TableAlias>,
    left: &Scope,
) -> DbResult<(LPlan, Scope)> {
    let mut all_args = Vec::new();
    let mut all_cols = Vec::new();
    let mut spec = Vec::new();
    for (k, a) in args.iter().enumerate() {
        let f = match a {
            ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(ast::Expr::Function(f))) => f,
            _ => return Err(AionError::internal("ROWS FROM expects function calls")),
        };
        let fname = object_parts(&f.name)?.last().cloned().unwrap_or_default();
        let fargs = match &f.args {
            ast::FunctionArguments::List(l) => l.args.clone(),
            _ => vec![],
        };
        let bound = bind_srf_args(b, &fargs, left)?;
        let (args, cols) = srf_shape(b, &fname, bound)?;
        spec.push(format!("{fname}/{}/{}", args.len(), cols.len()));
        all_args.extend(args);
        for (c, (_, t)) in cols.into_iter().enumerate() {
            let n = if c == 0 {
                format!("__srf_{k}")
            } else {
                format!("__srf_{k}_{c}")
            };
            all_cols.push((n, t));
        }
    }
    let name = format!("rows from({})", spec.join(","));
    // Columns keep their `__srf_k` names (a one-column function would
    // otherwise be renamed after the alias).
    let _ = alias;
    finish_table_function(b, &name, "__srf", all_args, all_cols, false, None, left)
}

/// Rewrites a SELECT whose select list calls set-returning functions
/// (`SELECT unnest(a), generate_subscripts(a, 1) FROM t`) into a LATERAL
/// `ROWS FROM` over the FROM list, as PostgreSQL evaluates them: zipped,
/// one output row per row of the longest. `None` when there are none.
fn srf_select_list(s: &ast::Select) -> Option<ast::Select> {
    let is_srf = |e: &ast::Expr| match e {
        ast::Expr::Function(f) => {
            matches!(f.args, ast::FunctionArguments::List(_))
                && f.over.is_none()
                && object_parts(&f.name).ok().is_some_and(|p| {
                    p.len() <= 2 && SELECT_LIST_SRFS.contains(&p[p.len() - 1].as_str())
                })
        }
        _ => false,
    };
    let any = s.projection.iter().any(|it| match it {
        ast::SelectItem::UnnamedExpr(e) | ast::SelectItem::ExprWithAlias { expr: e, .. } => {
            is_srf(e)
        }
        _ => false,
    });
    let grouped = match &s.group_by {
        ast::GroupByExpr::Expressions(e, _) => !e.is_empty(),
        ast::GroupByExpr::All(_) => true,
    };
    if !any || grouped || s.having.is_some() {
        return None;
    }
    let mut out = s.clone();
    let mut calls = Vec::new();
    for it in out.projection.iter_mut() {
        let (e, alias) = match it {
            ast::SelectItem::UnnamedExpr(e) => (e.clone(), None),
            ast::SelectItem::ExprWithAlias { expr, alias } => (expr.clone(), Some(alias.clone())),
            _ => continue,
        };
        if !is_srf(&e) {
            continue;
        }
        let fname = match &e {
            ast::Expr::Function(f) => object_parts(&f.name)
                .ok()
                .and_then(|p| p.last().cloned())
                .unwrap_or_default(),
            _ => continue,
        };
        let k = calls.len();
        calls.push(ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)));
        *it = ast::SelectItem::ExprWithAlias {
            expr: ast::Expr::CompoundIdentifier(vec![
                ast::Ident::new("__srf"),
                ast::Ident::new(format!("__srf_{k}")),
            ]),
            alias: alias.unwrap_or_else(|| ast::Ident::with_quote('"', fname)),
        };
    }
    out.from.push(ast::TableWithJoins {
        relation: ast::TableFactor::Function {
            lateral: true,
            name: ast::ObjectName::from(vec![ast::Ident::new("__rows_from")]),
            args: calls,
            with_ordinality: false,
            alias: Some(ast::TableAlias {
                explicit: true,
                name: ast::Ident::new("__srf"),
                columns: vec![],
                at: None,
            }),
        },
        joins: vec![],
    });
    Some(out)
}

/// The arguments (coerced) and output columns of a set-returning function.
type SrfShape = (Vec<LExpr>, Vec<(String, DataType)>);

fn srf_shape(b: &mut Binder<'_>, name: &str, bound: Vec<LExpr>) -> DbResult<SrfShape> {
    Ok(match name {
        "generate_series" => {
            if bound.len() < 2 || bound.len() > 3 {
                return Err(err(
                    SqlState::UNDEFINED_FUNCTION,
                    "function generate_series does not exist",
                ));
            }
            let ts = bound.iter().any(|a| {
                matches!(
                    a.ty.id,
                    TypeId::Timestamp | TypeId::TimestampTz | TypeId::Date
                )
            });
            if ts {
                let t = if bound.iter().any(|a| a.ty.id == TypeId::TimestampTz) {
                    DataType::TIMESTAMPTZ
                } else {
                    DataType::TIMESTAMP
                };
                let mut out = Vec::new();
                for (i, a) in bound.into_iter().enumerate() {
                    out.push(b.coerce(
                        a,
                        if i < 2 {
                            t
                        } else {
                            DataType::scalar(TypeId::Interval)
                        },
                        CoercionKind::Implicit,
                    )?);
                }
                (out, vec![("generate_series".into(), t)])
            } else {
                let (out, t) = b.unify(bound, "generate_series")?;
                let t = if matches!(t.id, TypeId::Int2) {
                    DataType::INT4
                } else {
                    t
                };
                let out = out
                    .into_iter()
                    .map(|a| b.coerce(a, t, CoercionKind::Implicit))
                    .collect::<DbResult<Vec<_>>>()?;
                (out, vec![("generate_series".into(), t)])
            }
        }
        "unnest" => {
            let a = bound.into_iter().next().ok_or_else(|| {
                err(
                    SqlState::UNDEFINED_FUNCTION,
                    "function unnest() does not exist",
                )
            })?;
            if !a.ty.is_array {
                return Err(err(
                    SqlState::UNDEFINED_FUNCTION,
                    format!("function unnest({}) does not exist", a.ty),
                ));
            }
            let t = DataType::scalar(a.ty.id);
            (vec![a], vec![("unnest".into(), t)])
        }
        // Relations are never partitioned here: a relation's only
        // "ancestor" is itself.
        "pg_partition_ancestors" => {
            let a = bound.into_iter().next().ok_or_else(|| {
                err(
                    SqlState::UNDEFINED_FUNCTION,
                    "function pg_partition_ancestors() does not exist",
                )
            })?;
            let a = b.coerce(
                a,
                DataType::scalar(TypeId::RegClass),
                CoercionKind::Implicit,
            )?;
            (
                vec![a],
                vec![(
                    "pg_partition_ancestors".into(),
                    DataType::scalar(TypeId::RegClass),
                )],
            )
        }
        "generate_subscripts" => {
            let out = bound;
            (out, vec![("generate_subscripts".into(), DataType::INT4)])
        }
        "jsonb_array_elements"
        | "json_array_elements"
        | "jsonb_array_elements_text"
        | "json_array_elements_text"
        | "jsonb_each"
        | "json_each"
        | "jsonb_each_text"
        | "json_each_text"
        | "jsonb_object_keys"
        | "json_object_keys" => {
            let jt = if name.starts_with("jsonb") {
                DataType::JSONB
            } else {
                DataType::scalar(TypeId::Json)
            };
            let a = bound.into_iter().next().ok_or_else(|| {
                err(
                    SqlState::UNDEFINED_FUNCTION,
                    format!("function {name}() does not exist"),
                )
            })?;
            let a = b.coerce(a, jt, CoercionKind::Implicit)?;
            let cols = match name {
                "jsonb_array_elements" | "json_array_elements" => vec![("value".into(), jt)],
                "jsonb_array_elements_text" | "json_array_elements_text" => {
                    vec![("value".into(), DataType::TEXT)]
                }
                "jsonb_each" | "json_each" => {
                    vec![("key".into(), DataType::TEXT), ("value".into(), jt)]
                }
                "jsonb_each_text" | "json_each_text" => vec![
                    ("key".into(), DataType::TEXT),
                    ("value".into(), DataType::TEXT),
                ],
                _ => vec![(name.to_string(), DataType::TEXT)],
            };
            (vec![a], cols)
        }
        _ => {
            return Err(err(
                SqlState::UNDEFINED_FUNCTION,
                format!("function {name} does not exist or is not a set-returning function"),
            ))
        }
    })
}

#[allow(clippy::too_many_arguments)]
fn finish_table_function(
    b: &mut Binder<'_>,
    name: &str,
    qual: &str,
    args: Vec<LExpr>,
    cols: Vec<(String, DataType)>,
    ordinality: bool,
    alias: Option<&ast::TableAlias>,
    left: &Scope,
) -> DbResult<(LPlan, Scope)> {
    let mut names: Vec<String> = cols.iter().map(|(n, _)| n.clone()).collect();
    let mut types: Vec<DataType> = cols.iter().map(|(_, t)| *t).collect();
    // A single-column function's column is named after the alias.
    if let Some(a) = alias {
        if names.len() == 1 && a.columns.is_empty() {
            names[0] = ident_name(&a.name);
        }
    }
    if ordinality {
        names.push("ordinality".into());
        types.push(DataType::INT8);
    }
    let ids: Vec<ColId> = names
        .iter()
        .zip(&types)
        .map(|(n, t)| b.new_col(n, *t))
        .collect();
    let lateral = {
        let mut s = std::collections::HashSet::new();
        for a in &args {
            a.cols(&mut s);
        }
        left.cols.iter().any(|c| s.contains(&c.id))
    };
    let scope = alias_scope(b, qual, &names, &ids, alias)?;
    LATERAL_MARK.with(|m| m.set(lateral));
    Ok((
        LPlan::TableFunc {
            name: name.to_string(),
            args,
            cols: ids,
            ordinality,
        },
        scope,
    ))
}

// ------------------------------------------------------------------ SELECT

struct Item {
    name: String,
    expr: LExpr,
}

fn bind_select(
    b: &mut Binder<'_>,
    s: &ast::Select,
    order: &[ast::OrderByExpr],
    lock: RowLockMode,
) -> DbResult<(LPlan, Vec<String>)> {
    if let Some(rewritten) = srf_select_list(s) {
        return bind_select(b, &rewritten, order, lock);
    }
    let from = bind_from(b, &s.from, lock)?;
    let scope = from.scope;
    let mut plan = match from.plan {
        Some(p) => p,
        None => LPlan::Values {
            rows: vec![vec![]],
            cols: vec![],
        },
    };
    if let Some(w) = &s.selection {
        let saved = b.agg_forbidden.replace("WHERE");
        let r = b.expr(&scope, w);
        b.agg_forbidden = saved;
        let w = r?;
        let w = b.require_bool(w, "WHERE")?;
        plan = LPlan::Filter {
            input: Box::new(plan),
            pred: w.conjuncts(),
        };
    }
    b.named_windows = s
        .named_window
        .iter()
        .filter_map(|nw| match &nw.1 {
            ast::NamedWindowExpr::WindowSpec(spec) => Some((ident_name(&nw.0), spec.clone())),
            _ => None,
        })
        .collect();

    let saved_agg = b.agg.replace(AggCtx::default());
    let r = bind_select_body(b, s, order, scope, plan);
    b.agg = saved_agg;
    r
}

fn bind_select_body(
    b: &mut Binder<'_>,
    s: &ast::Select,
    order: &[ast::OrderByExpr],
    scope: Scope,
    mut plan: LPlan,
) -> DbResult<(LPlan, Vec<String>)> {
    // Select list.
    let mut items: Vec<Item> = Vec::new();
    for it in &s.projection {
        match it {
            ast::SelectItem::UnnamedExpr(e) => {
                let x = b.expr(&scope, e)?;
                items.push(Item {
                    name: output_name(e),
                    expr: x,
                });
            }
            ast::SelectItem::ExprWithAlias { expr, alias } => {
                let x = b.expr(&scope, expr)?;
                items.push(Item {
                    name: ident_name(alias),
                    expr: x,
                });
            }
            ast::SelectItem::Wildcard(_) => {
                if scope.cols.is_empty() {
                    return Err(err(
                        SqlState::SYNTAX_ERROR,
                        "SELECT * with no tables specified is not valid",
                    ));
                }
                for c in scope.cols.iter().filter(|c| !c.hidden) {
                    items.push(Item {
                        name: c.name.clone(),
                        expr: LExpr::col(c.id, c.ty),
                    });
                }
            }
            ast::SelectItem::QualifiedWildcard(kind, _) => {
                let q = match kind {
                    ast::SelectItemQualifiedWildcardKind::ObjectName(n) => {
                        object_parts(n)?.last().cloned().unwrap_or_default()
                    }
                    ast::SelectItemQualifiedWildcardKind::Expr(e) => e.to_string(),
                };
                let cols: Vec<&ScopeCol> = scope
                    .cols
                    .iter()
                    .filter(|c| c.qual.as_deref() == Some(q.as_str()))
                    .collect();
                if cols.is_empty() {
                    return Err(err(
                        SqlState::UNDEFINED_TABLE,
                        format!("missing FROM-clause entry for table \"{q}\""),
                    ));
                }
                for c in cols {
                    items.push(Item {
                        name: c.name.clone(),
                        expr: LExpr::col(c.id, c.ty),
                    });
                }
            }
            ast::SelectItem::ExprWithAliases { .. } => {
                return Err(AionError::feature_not_supported("multiple aliases"))
            }
        }
    }
    // Untyped literals in the select list become text, as PostgreSQL does.
    for it in items.iter_mut() {
        if it.expr.ty.id == TypeId::Unknown {
            let e = std::mem::replace(&mut it.expr, LExpr::null(DataType::TEXT));
            it.expr = b.coerce(e, DataType::TEXT, CoercionKind::Implicit)?;
        }
    }

    // GROUP BY: ordinals and output aliases refer to the select list.
    let mut group_exprs: Vec<LExpr> = Vec::new();
    let group_ast: Vec<ast::Expr> = match &s.group_by {
        ast::GroupByExpr::Expressions(v, _) => v.clone(),
        ast::GroupByExpr::All(_) => return Err(AionError::feature_not_supported("GROUP BY ALL")),
    };
    {
        let saved = b.agg_forbidden.replace("GROUP BY");
        let mut res = Ok(());
        for g in &group_ast {
            let r = (|| -> DbResult<LExpr> {
                if let Some(n) = ordinal(g) {
                    return items
                        .get(n.wrapping_sub(1))
                        .map(|i| i.expr.clone())
                        .ok_or_else(|| {
                            err(
                                SqlState::new(b"42P10"),
                                format!("GROUP BY position {n} is not in select list"),
                            )
                        });
                }
                if let ast::Expr::Identifier(id) = g {
                    let n = ident_name(id);
                    let in_from = scope.cols.iter().any(|c| !c.hidden && c.name == n);
                    if !in_from {
                        if let Some(i) = items.iter().find(|i| i.name == n) {
                            return Ok(i.expr.clone());
                        }
                    }
                }
                b.expr(&scope, g)
            })();
            match r {
                Ok(e) => group_exprs.push(e),
                Err(e) => {
                    res = Err(e);
                    break;
                }
            }
        }
        b.agg_forbidden = saved;
        res?;
    }

    // HAVING.
    let having = match &s.having {
        Some(h) => {
            let x = b.expr(&scope, h)?;
            Some(b.require_bool(x, "HAVING")?)
        }
        None => None,
    };

    // ORDER BY: output names and ordinals first, then expressions.
    let distinct_on = matches!(s.distinct, Some(ast::Distinct::On(_)));
    let mut sort_keys: Vec<(LSortKey, Option<usize>)> = Vec::new();
    for o in order {
        if let Some(n) = ordinal(&o.expr) {
            let i = n.wrapping_sub(1);
            let it = items.get(i).ok_or_else(|| {
                err(
                    SqlState::new(b"42P10"),
                    format!("ORDER BY position {n} is not in select list"),
                )
            })?;
            sort_keys.push((make_key(it.expr.clone(), &o.options), Some(i)));
            continue;
        }
        if let ast::Expr::Identifier(id) = &o.expr {
            let n = ident_name(id);
            let matches: Vec<usize> = items
                .iter()
                .enumerate()
                .filter(|(_, it)| it.name == n)
                .map(|(i, _)| i)
                .collect();
            if matches.len() > 1 {
                let first = &items[matches[0]].expr;
                if !matches.iter().all(|&i| &items[i].expr == first) {
                    return Err(err(
                        SqlState::new(b"42702"),
                        format!("ORDER BY \"{n}\" is ambiguous"),
                    ));
                }
            }
            if let Some(&i) = matches.first() {
                sort_keys.push((make_key(items[i].expr.clone(), &o.options), Some(i)));
                continue;
            }
        }
        let k = b.sort_key(&scope, o)?;
        let pos = items.iter().position(|it| it.expr == k.expr);
        sort_keys.push((k, pos));
    }
    let mut distinct_on_exprs = Vec::new();
    if let Some(ast::Distinct::On(v)) = &s.distinct {
        for e in v {
            let x = match ordinal(e) {
                Some(n) => items
                    .get(n.wrapping_sub(1))
                    .map(|i| i.expr.clone())
                    .ok_or_else(|| {
                        err(
                            SqlState::new(b"42P10"),
                            format!("SELECT DISTINCT ON position {n} is not in select list"),
                        )
                    })?,
                None => b.expr(&scope, e)?,
            };
            distinct_on_exprs.push(x);
        }
    }

    let agg = b.agg.take().unwrap_or_default();
    let has_agg = !agg.aggs.is_empty() || !group_ast.is_empty() || having.is_some();
    let mut wins = agg.wins;
    let mut project_exprs: Vec<LExpr> = items.iter().map(|i| i.expr.clone()).collect();
    let mut having = having;
    if has_agg {
        let group_ids: Vec<(ColId, LExpr)> = group_exprs
            .iter()
            .map(|g| {
                let name = match &g.kind {
                    LKind::Col(c) => b.cols[*c as usize].name.clone(),
                    _ => "?column?".into(),
                };
                (b.new_col(&name, g.ty), g.clone())
            })
            .collect();
        let from_cols: std::collections::HashSet<ColId> = scope.cols.iter().map(|c| c.id).collect();
        let subst = |b: &Binder<'_>, e: &mut LExpr| -> DbResult<()> {
            substitute_groups(b, e, &group_ids, &from_cols)
        };
        for e in project_exprs.iter_mut() {
            subst(b, e)?;
        }
        if let Some(h) = having.as_mut() {
            subst(b, h)?;
        }
        for (k, _) in sort_keys.iter_mut() {
            subst(b, &mut k.expr)?;
        }
        for e in distinct_on_exprs.iter_mut() {
            subst(b, e)?;
        }
        for (_, spec, w) in wins.iter_mut() {
            for e in spec.partition.iter_mut() {
                subst(b, e)?;
            }
            for k in spec.order.iter_mut() {
                subst(b, &mut k.expr)?;
            }
            for e in w.args.iter_mut() {
                subst(b, e)?;
            }
        }
        plan = LPlan::Aggregate {
            input: Box::new(plan),
            group: group_ids,
            aggs: agg.aggs,
        };
        if let Some(h) = having {
            plan = LPlan::Filter {
                input: Box::new(plan),
                pred: h.conjuncts(),
            };
        }
    }
    // Windows, one node per distinct (PARTITION BY, ORDER BY).
    while !wins.is_empty() {
        let spec = wins[0].1.clone();
        let mut funcs = Vec::new();
        let mut rest = Vec::new();
        for (id, sp, w) in wins {
            if sp == spec {
                funcs.push((id, w));
            } else {
                rest.push((id, sp, w));
            }
        }
        wins = rest;
        plan = LPlan::Window {
            input: Box::new(plan),
            partition: spec.partition,
            order: spec.order,
            funcs,
        };
    }

    // Projection (plus hidden sort columns).
    let names: Vec<String> = items.iter().map(|i| i.name.clone()).collect();
    let mut proj: Vec<(ColId, LExpr)> = Vec::new();
    for (i, e) in project_exprs.iter().enumerate() {
        let id = match &e.kind {
            LKind::Col(c)
                if !proj.iter().any(|(x, _)| x == c) && b.cols[*c as usize].name == names[i] =>
            {
                *c
            }
            _ => b.new_col(&names[i], e.ty),
        };
        proj.push((id, e.clone()));
    }
    let visible = proj.len();
    let is_distinct = matches!(s.distinct, Some(ast::Distinct::Distinct));
    let mut final_keys = Vec::new();
    for (k, pos) in sort_keys {
        let pos = pos.or_else(|| proj.iter().position(|(_, e)| *e == k.expr));
        let id = match pos {
            Some(p) => proj[p].0,
            None => {
                if is_distinct {
                    return Err(err(
                        SqlState::new(b"42P10"),
                        "for SELECT DISTINCT, ORDER BY expressions must appear in select list",
                    ));
                }
                let id = b.new_col("?sort?", k.expr.ty);
                proj.push((id, k.expr.clone()));
                id
            }
        };
        final_keys.push(LSortKey {
            expr: LExpr::col(id, k.expr.ty),
            desc: k.desc,
            nulls_first: k.nulls_first,
        });
    }
    let mut on_keys = Vec::new();
    for e in distinct_on_exprs {
        let id = match proj.iter().position(|(_, x)| *x == e) {
            Some(p) => proj[p].0,
            None => {
                let id = b.new_col("?distinct?", e.ty);
                proj.push((id, e.clone()));
                id
            }
        };
        on_keys.push(LExpr::col(id, e.ty));
    }
    plan = LPlan::Project {
        input: Box::new(plan),
        exprs: proj.clone(),
    };
    if is_distinct {
        plan = LPlan::Distinct {
            input: Box::new(plan),
            on: vec![],
        };
    }
    if distinct_on {
        // DISTINCT ON keeps the first row per key in ORDER BY order.
        let mut keys: Vec<LSortKey> = Vec::new();
        for (i, k) in on_keys.iter().enumerate() {
            match final_keys.get(i) {
                Some(fk) if fk.expr == *k => keys.push(fk.clone()),
                Some(_) => {
                    return Err(err(
                        SqlState::new(b"42P10"),
                        "SELECT DISTINCT ON expressions must match initial ORDER BY expressions",
                    ))
                }
                None => keys.push(LSortKey {
                    expr: k.clone(),
                    desc: false,
                    nulls_first: false,
                }),
            }
        }
        for fk in final_keys.iter().skip(on_keys.len()) {
            keys.push(fk.clone());
        }
        plan = LPlan::Sort {
            input: Box::new(plan),
            keys,
        };
        plan = LPlan::Distinct {
            input: Box::new(plan),
            on: on_keys,
        };
    } else if !final_keys.is_empty() {
        plan = LPlan::Sort {
            input: Box::new(plan),
            keys: final_keys,
        };
    }
    if proj.len() > visible {
        let keep = proj[..visible]
            .iter()
            .map(|(c, e)| (*c, LExpr::col(*c, e.ty)))
            .collect();
        plan = LPlan::Project {
            input: Box::new(plan),
            exprs: keep,
        };
    }
    let _ = distinct_on;
    Ok((plan, names))
}

/// Replaces GROUP BY expressions by their output columns and rejects
/// ungrouped FROM columns (42803).
fn substitute_groups(
    b: &Binder<'_>,
    e: &mut LExpr,
    groups: &[(ColId, LExpr)],
    from: &std::collections::HashSet<ColId>,
) -> DbResult<()> {
    if let Some((id, g)) = groups.iter().find(|(_, g)| g == e) {
        *e = LExpr::col(*id, g.ty);
        return Ok(());
    }
    if let LKind::Col(c) = e.kind {
        if from.contains(&c) {
            let info = &b.cols[c as usize];
            let name = match &info.qual {
                Some(q) => format!("{q}.{}", info.name),
                None => info.name.clone(),
            };
            return Err(err(
                SqlState::new(b"42803"),
                format!("column \"{name}\" must appear in the GROUP BY clause or be used in an aggregate function"),
            ));
        }
        return Ok(());
    }
    if let LKind::Subquery { plan, .. } = &mut e.kind {
        // Outer references inside a subquery must be grouped too.
        let mut cols = std::collections::HashSet::new();
        plan.all_cols(&mut cols);
        let mut map: Vec<(ColId, ColId)> = Vec::new();
        for (gid, g) in groups {
            if let LKind::Col(c) = g.kind {
                if cols.contains(&c) {
                    map.push((c, *gid));
                }
            }
        }
        for c in &cols {
            if from.contains(c) && !map.iter().any(|(x, _)| x == c) {
                let info = &b.cols[*c as usize];
                let name = match &info.qual {
                    Some(q) => format!("{q}.{}", info.name),
                    None => info.name.clone(),
                };
                return Err(err(
                    SqlState::new(b"42803"),
                    format!("subquery uses ungrouped column \"{name}\" from outer query"),
                ));
            }
        }
        if !map.is_empty() {
            crate::optimizer::rename_cols_in_plan(plan, &map);
        }
    }
    for c in e.children_mut() {
        substitute_groups(b, c, groups, from)?;
    }
    Ok(())
}
