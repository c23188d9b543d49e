//! Statements this module plans itself: queries, DML, EXPLAIN, ANALYZE.

use crate::expr::{Binder, Scope};
use crate::logical::{LExpr, LKind, LPlan};
use crate::lower::Lower;
use crate::optimizer::Optimizer;
use crate::shared::{resolve_table, PlanBuilder};
use aiondb_sdk::plan::{DmlCte, ExprRef, NodeRef, Operator};
use aiondb_sdk::prelude::*;
use sqlparser::ast;

pub(crate) fn plan_own(
    ctx: &PlanContext,
    services: &Services,
    stmt: &ast::Statement,
) -> DbResult<Option<Plan>> {
    Ok(Some(match stmt {
        ast::Statement::Query(q) => match &*q.body {
            // WITH ... INSERT/UPDATE/DELETE
            ast::SetExpr::Insert(st) | ast::SetExpr::Update(st) | ast::SetExpr::Delete(st) => {
                crate::dml::plan_with_dml(ctx, services, q, st)?
            }
            _ => plan_query(ctx, services, q)?,
        },
        ast::Statement::Insert(i) => crate::dml::plan_insert(ctx, services, i)?,
        ast::Statement::Update(u) => crate::dml::plan_update(ctx, services, u)?,
        ast::Statement::Delete(d) => crate::dml::plan_delete(ctx, services, d)?,
        ast::Statement::Explain {
            analyze,
            verbose,
            statement,
            ..
        } => {
            let inner = crate::shared::plan_statement(ctx, services, statement)?;
            explain(services, inner, *analyze, *verbose)
        }
        ast::Statement::Analyze(a) => {
            refresh_statistics(ctx, services, a.table_name.as_ref(), "ANALYZE")?
        }
        // Dead versions are reclaimed as transactions end; what a VACUUM
        // changes that sessions see is the table statistics (PostgreSQL's
        // reltuples), so it refreshes them like ANALYZE.
        ast::Statement::Vacuum(v) => {
            refresh_statistics(ctx, services, v.table_name.as_ref(), "VACUUM")?
        }
        _ => return Ok(None),
    }))
}

/// ANALYZE / VACUUM of one table (or of all tables).
fn refresh_statistics(
    ctx: &PlanContext,
    services: &Services,
    table: Option<&ast::ObjectName>,
    command: &str,
) -> DbResult<Plan> {
    let mut b = PlanBuilder::new();
    let mut tables = Vec::new();
    if let Some(n) = table {
        let t = resolve_table(ctx, services, n)?;
        tables.push(t.id);
        b.add_table(t.id);
    }
    b.writes = false;
    let root = b.node(
        Operator::Analyze {
            tables: RVec::from(tables),
        },
        vec![],
        vec![],
        0.0,
        0.0,
    );
    Ok(b.finish(services, root, Schema::default(), command))
}

/// Wraps a planned statement in `Explain`: the inner plan's nodes and
/// expressions stay where they are, the new root points at the old one.
fn explain(services: &Services, inner: Plan, analyze: bool, verbose: bool) -> Plan {
    let mut b = PlanBuilder::new();
    b.nodes = inner.nodes.into_iter().collect();
    b.exprs = inner.exprs.into_iter().collect();
    b.param_types = inner.param_types.into_iter().collect();
    b.tables = inner.tables.into_iter().collect();
    b.aliases = inner.aliases.into_iter().collect();
    b.writes = analyze && inner.writes;
    let root = b.node(
        Operator::Explain { analyze, verbose },
        vec![inner.root],
        vec![DataType::TEXT],
        0.0,
        0.0,
    );
    let out = Schema::new(vec![Field::new("QUERY PLAN", DataType::TEXT, false)]);
    b.finish(services, root, out, "EXPLAIN")
}

/// Result columns of a `reg*` type print the object's name, which takes
/// the catalog: they are converted to text before leaving the plan.
fn reg_columns_as_text(binder: &mut Binder<'_>, plan: LPlan, names: &[String]) -> LPlan {
    let outs = plan.outputs();
    let is_reg = |t: DataType| !t.is_array && t.id.is_reg();
    if !outs.iter().any(|c| is_reg(binder.col_type(*c))) {
        return plan;
    }
    let mut exprs = Vec::with_capacity(outs.len());
    for (c, n) in outs.iter().zip(names) {
        let ty = binder.col_type(*c);
        let e = LExpr::col(*c, ty);
        match aiondb_sdk::syscat::reg_output(ty.id).filter(|_| !ty.is_array) {
            Some(f) => {
                let id = binder.new_col(n, DataType::TEXT);
                exprs.push((
                    id,
                    LExpr::new(
                        LKind::Special(aiondb_sdk::plan::SpecialFunc::Catalog(f), vec![e]),
                        DataType::TEXT,
                    ),
                ));
            }
            None => {
                let id = binder.new_col(n, ty);
                exprs.push((id, e));
            }
        }
    }
    LPlan::Project {
        input: Box::new(plan),
        exprs,
    }
}

pub(crate) fn plan_query(ctx: &PlanContext, services: &Services, q: &ast::Query) -> DbResult<Plan> {
    let mut binder = Binder::new(ctx, services);
    let (plan, names) = crate::query::bind_query(&mut binder, q)?;
    let plan = reg_columns_as_text(&mut binder, plan, &names);
    let mut b = std::mem::take(&mut binder.pre);
    for t in &binder.tables {
        b.add_table(*t);
    }
    let (root, layout) = lower_plan(&binder, &mut b, plan)?;
    let root = wrap_dml_ctes(&binder, &mut b, root)?;
    let fields = layout
        .iter()
        .zip(&names)
        .map(|(c, n)| Field::new(n.clone(), binder.col_type(*c), true))
        .collect();
    b.param_types = binder.params.clone();
    let has_lock = b.nodes.iter().any(|n| {
        matches!(
            n.op,
            Operator::SeqScan {
                lock: aiondb_sdk::plan::RowLockMode::Update | aiondb_sdk::plan::RowLockMode::Share,
                ..
            } | Operator::IndexScan {
                lock: aiondb_sdk::plan::RowLockMode::Update | aiondb_sdk::plan::RowLockMode::Share,
                ..
            }
        )
    });
    // `writes` is already set when a data-modifying CTE was planned.
    b.writes |= has_lock;
    Ok(b.finish(services, root, Schema::new(fields), "SELECT"))
}

/// Puts the statement's data-modifying CTEs (if any) under a `WithDml`
/// node that runs them before the main plan rooted at `root`: above a
/// query, or between a DML root and its input (the DML node must stay the
/// root: the executor runs DML statements and counts their rows by it).
/// Returns the new root.
pub(crate) fn wrap_dml_ctes(
    binder: &Binder<'_>,
    b: &mut PlanBuilder,
    root: NodeRef,
) -> DbResult<NodeRef> {
    if binder.dml_ctes.is_empty() {
        return Ok(root);
    }
    let main_node = b
        .nodes
        .get(root as usize)
        .ok_or_else(|| AionError::internal("planner: main plan root out of range"))?;
    let is_dml = matches!(
        main_node.op,
        Operator::Insert { .. } | Operator::Update { .. } | Operator::Delete { .. }
    );
    let main = if is_dml {
        *main_node
            .inputs
            .first()
            .ok_or_else(|| AionError::internal("planner: DML node without input"))?
    } else {
        root
    };
    let (output, rows, mut cost) = match b.nodes.get(main as usize) {
        Some(n) => (n.output.to_vec(), n.est_rows, n.est_cost),
        None => return Err(AionError::internal("planner: main plan out of range")),
    };
    let mut inputs = vec![main];
    let mut ctes = Vec::new();
    for c in &binder.dml_ctes {
        inputs.push(c.node);
        cost += b.nodes.get(c.node as usize).map_or(0.0, |n| n.est_cost);
        ctes.push(DmlCte {
            name: RString::from(c.name.as_str()),
            worktable: c.worktable,
        });
    }
    let with = b.node(
        Operator::WithDml {
            ctes: RVec::from(ctes),
        },
        inputs,
        output,
        rows,
        cost,
    );
    if !is_dml {
        return Ok(with);
    }
    if let Some(n) = b.nodes.get_mut(root as usize) {
        if let Some(first) = n.inputs.first_mut() {
            *first = with;
        }
    }
    Ok(root)
}

/// Optimizes and lowers a bound plan; returns the root and its layout.
pub(crate) fn lower_plan(
    binder: &Binder<'_>,
    b: &mut PlanBuilder,
    plan: LPlan,
) -> DbResult<(u32, Vec<u32>)> {
    let mut opt = Optimizer::new(binder.services, &binder.cols);
    let plan = opt.optimize(plan);
    let mut l = Lower {
        b,
        cols: &binder.cols,
        params: &binder.params,
        opt,
        outer: Vec::new(),
    };
    let r = l.node(&plan)?;
    Ok((r.node, r.layout))
}

pub(crate) fn bind_table_expr(
    builder: &mut PlanBuilder,
    services: &Services,
    table: &TableDef,
    expr: &ast::Expr,
) -> DbResult<ExprRef> {
    let ctx = PlanContext {
        search_path: RVec::from(vec![RString::from("public")]),
        user: RString::new(),
        database: RString::new(),
        param_types: RVec::new(),
    };
    let mut binder = Binder::new(&ctx, services);
    let (scope, ids) = crate::dml::table_scope(&mut binder, table, None);
    let e = binder.expr(&scope, expr)?;
    let mut opt_l = Lower {
        b: builder,
        cols: &binder.cols,
        params: &binder.params,
        opt: Optimizer::new(services, &binder.cols),
        outer: vec![],
    };
    opt_l.expr(&e, &[&ids])
}

pub(crate) fn query_output_schema(
    ctx: &PlanContext,
    services: &Services,
    query: &ast::Query,
) -> DbResult<Schema> {
    let mut binder = Binder::new(ctx, services);
    let (plan, names) = crate::query::bind_query(&mut binder, query)?;
    let _ = Scope::default();
    Ok(Schema::new(
        plan.outputs()
            .iter()
            .zip(&names)
            .map(|(c, n)| Field::new(n.clone(), binder.col_type(*c), true))
            .collect(),
    ))
}
