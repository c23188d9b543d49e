//! Lowering: the optimized logical plan into the IR arenas, column ids into
//! positions (`Column`) or enclosing rows (`OuterColumn`), with estimates.

use crate::logical::*;
use crate::optimizer::{
    bare_col, index_scan_cost, merge_sort_cost, sort_node_cost, Optimizer, CPU_OPERATOR_COST,
    CPU_TUPLE_COST, HASH_BUILD_ROW_COST, SEQ_ROW_COST,
};
use crate::shared::PlanBuilder;
use aiondb_sdk::plan::{
    AggCall, AggStrategy, Bound, ExprKind, ExprRef, FrameBound, IndexProbe, JoinMethod, NodeRef,
    Operator, SortKey, TableFunctionCall, WindowCall, WindowFrame,
};
use aiondb_sdk::prelude::*;

pub struct Lower<'a, 'b> {
    pub b: &'a mut PlanBuilder,
    pub cols: &'a [ColInfo],
    pub params: &'a [DataType],
    pub opt: Optimizer<'b>,
    /// Layouts of enclosing rows, innermost last.
    pub outer: Vec<Vec<ColId>>,
}

pub struct Lowered {
    pub node: NodeRef,
    pub layout: Vec<ColId>,
    pub rows: f64,
    pub cost: f64,
}

fn ierr(msg: &str) -> AionError {
    AionError::internal(format!("planner: {msg}"))
}

impl<'a, 'b> Lower<'a, 'b> {
    fn ty(&self, c: ColId) -> DataType {
        self.cols
            .get(c as usize)
            .map(|i| i.ty)
            .unwrap_or(DataType::TEXT)
    }

    fn types(&self, layout: &[ColId]) -> Vec<DataType> {
        layout.iter().map(|c| self.ty(*c)).collect()
    }

    /// Lowers an expression evaluated against `inputs` (one layout per
    /// operator input).
    pub fn expr(&mut self, e: &LExpr, inputs: &[&[ColId]]) -> DbResult<ExprRef> {
        let kind = match &e.kind {
            LKind::Const(v) => ExprKind::Const(v.clone()),
            LKind::Param(n) => {
                let t = self.params.get(*n as usize).copied().unwrap_or(e.ty);
                let t = if t.id == TypeId::Unknown {
                    DataType::TEXT
                } else {
                    t
                };
                return Ok(self.b.expr(ExprKind::Param(*n), t));
            }
            LKind::Col(c) => {
                for (i, l) in inputs.iter().enumerate() {
                    if let Some(p) = l.iter().position(|x| x == c) {
                        return Ok(self.b.expr(
                            ExprKind::Column {
                                input: i as u32,
                                column: p as u32,
                            },
                            e.ty,
                        ));
                    }
                }
                for (d, l) in self.outer.iter().rev().enumerate() {
                    if let Some(p) = l.iter().position(|x| x == c) {
                        return Ok(self.b.expr(
                            ExprKind::OuterColumn {
                                depth: d as u32 + 1,
                                column: p as u32,
                            },
                            e.ty,
                        ));
                    }
                }
                let name = self
                    .cols
                    .get(*c as usize)
                    .map(|i| i.name.clone())
                    .unwrap_or_default();
                return Err(ierr(&format!("column {name} (#{c}) is not available here")));
            }
            LKind::Binary(op, l, r) => {
                let l = self.expr(l, inputs)?;
                let r = self.expr(r, inputs)?;
                ExprKind::Binary {
                    op: *op,
                    left: l,
                    right: r,
                }
            }
            LKind::Unary(op, a) => ExprKind::Unary {
                op: *op,
                arg: self.expr(a, inputs)?,
            },
            LKind::Like {
                arg,
                pattern,
                escape,
                ci,
                negated,
            } => {
                let arg = self.expr(arg, inputs)?;
                let pattern = self.expr(pattern, inputs)?;
                let escape = match escape {
                    Some(x) => ROption::RSome(self.expr(x, inputs)?),
                    None => ROption::RNone,
                };
                ExprKind::Like {
                    arg,
                    pattern,
                    escape,
                    case_insensitive: *ci,
                    negated: *negated,
                }
            }
            LKind::InList { arg, list, negated } => {
                let arg = self.expr(arg, inputs)?;
                let list = self.exprs(list, inputs)?;
                ExprKind::InList {
                    arg,
                    list: RVec::from(list),
                    negated: *negated,
                }
            }
            LKind::AnyAll {
                op,
                left,
                array,
                all,
            } => {
                let left = self.expr(left, inputs)?;
                let array = self.expr(array, inputs)?;
                ExprKind::AnyAll {
                    op: *op,
                    left,
                    array,
                    all: *all,
                }
            }
            LKind::Call { func, args, .. } => {
                let args = self.exprs(args, inputs)?;
                ExprKind::Call {
                    function: func.clone(),
                    args: RVec::from(args),
                }
            }
            LKind::Special(f, args) => {
                let args = self.exprs(args, inputs)?;
                ExprKind::Special {
                    func: *f,
                    args: RVec::from(args),
                }
            }
            LKind::Cast { arg, explicit } => ExprKind::Cast {
                arg: self.expr(arg, inputs)?,
                to: e.ty,
                explicit: *explicit,
            },
            LKind::And(v) => ExprKind::And(RVec::from(self.exprs(v, inputs)?)),
            LKind::Or(v) => ExprKind::Or(RVec::from(self.exprs(v, inputs)?)),
            LKind::Not(a) => ExprKind::Not(self.expr(a, inputs)?),
            LKind::IsNull(a) => ExprKind::IsNull(self.expr(a, inputs)?),
            LKind::Case {
                operand,
                whens,
                thens,
                otherwise,
            } => {
                let operand = match operand {
                    Some(o) => ROption::RSome(self.expr(o, inputs)?),
                    None => ROption::RNone,
                };
                let whens = RVec::from(self.exprs(whens, inputs)?);
                let thens = RVec::from(self.exprs(thens, inputs)?);
                let otherwise = match otherwise {
                    Some(o) => ROption::RSome(self.expr(o, inputs)?),
                    None => ROption::RNone,
                };
                ExprKind::Case {
                    operand,
                    whens,
                    thens,
                    otherwise,
                }
            }
            LKind::Array(v) => ExprKind::Array(RVec::from(self.exprs(v, inputs)?)),
            LKind::Subscript(a, i) => {
                let arg = self.expr(a, inputs)?;
                let index = self.expr(i, inputs)?;
                ExprKind::Subscript { arg, index }
            }
            LKind::Subquery { kind, plan, arg } => {
                let arg = match arg {
                    Some(a) => ROption::RSome(self.expr(a, inputs)?),
                    None => ROption::RNone,
                };
                let row: Vec<ColId> = inputs.iter().flat_map(|l| l.iter().copied()).collect();
                self.outer.push(row);
                let plan = self.opt.optimize((**plan).clone());
                let r = self.node(&plan);
                self.outer.pop();
                ExprKind::Subquery {
                    kind: *kind,
                    plan: r?.node,
                    arg,
                }
            }
        };
        Ok(self.b.expr(kind, e.ty))
    }

    fn exprs(&mut self, v: &[LExpr], inputs: &[&[ColId]]) -> DbResult<Vec<ExprRef>> {
        v.iter().map(|e| self.expr(e, inputs)).collect()
    }

    fn keys(&mut self, v: &[LSortKey], inputs: &[&[ColId]]) -> DbResult<Vec<SortKey>> {
        v.iter()
            .map(|k| {
                Ok(SortKey {
                    expr: self.expr(&k.expr, inputs)?,
                    descending: k.desc,
                    nulls_first: k.nulls_first,
                })
            })
            .collect()
    }

    fn push(
        &mut self,
        op: Operator,
        inputs: Vec<NodeRef>,
        layout: Vec<ColId>,
        rows: f64,
        cost: f64,
    ) -> Lowered {
        let types = self.types(&layout);
        let node = self.b.node(op, inputs, types, rows, cost);
        Lowered {
            node,
            layout,
            rows,
            cost,
        }
    }

    pub fn node(&mut self, p: &LPlan) -> DbResult<Lowered> {
        let rows = self.opt.rows(p);
        match p {
            LPlan::Scan {
                table,
                cols,
                used,
                filter,
                row_id,
                lock,
                access,
                ..
            } => {
                self.b.add_table(table.id);
                let proj: Vec<u32> = match used {
                    Some(u) => u.iter().map(|i| *i as u32).collect(),
                    None => (0..cols.len() as u32).collect(),
                };
                let f = match LExpr::and_all(filter.clone()) {
                    Some(f) => ROption::RSome(self.expr(&f, &[cols])?),
                    None => ROption::RNone,
                };
                let layout = p.outputs();
                let table_rows = self.opt.rows(&LPlan::Scan {
                    table: table.clone(),
                    cols: vec![],
                    used: None,
                    filter: vec![],
                    row_id: None,
                    lock: *lock,
                    access: Access::Seq,
                    est_rows: 0.0,
                });
                let op = match access {
                    Access::Seq => Operator::SeqScan {
                        table: table.id,
                        projection: RVec::from(proj),
                        filter: f,
                        with_row_id: row_id.is_some(),
                        lock: *lock,
                    },
                    Access::Index {
                        index,
                        probe,
                        reverse,
                    } => {
                        let probe = match probe {
                            LProbe::Eq(v) => IndexProbe::Eq(RVec::from(self.exprs(v, &[])?)),
                            LProbe::Full => IndexProbe::Full,
                            LProbe::Range { lower, upper } => {
                                let mut bound =
                                    |x: &Option<(LExpr, bool)>| -> DbResult<ROption<Bound>> {
                                        Ok(match x {
                                            Some((e, inc)) => ROption::RSome(Bound {
                                                exprs: RVec::from(vec![self.expr(e, &[])?]),
                                                inclusive: *inc,
                                            }),
                                            None => ROption::RNone,
                                        })
                                    };
                                let lower = bound(lower)?;
                                let upper = bound(upper)?;
                                IndexProbe::Range { lower, upper }
                            }
                        };
                        Operator::IndexScan {
                            table: table.id,
                            index: *index,
                            probe,
                            projection: RVec::from(proj),
                            filter: f,
                            with_row_id: row_id.is_some(),
                            lock: *lock,
                            reverse: *reverse,
                        }
                    }
                };
                let cost = match access {
                    Access::Seq => table_rows * SEQ_ROW_COST,
                    Access::Index {
                        probe: LProbe::Full,
                        ..
                    } => index_scan_cost(table_rows),
                    Access::Index { .. } => index_scan_cost(rows),
                };
                // The scan's columns carry the name the query gave the
                // relation (its alias, else the table name).
                let alias = cols
                    .first()
                    .and_then(|c| self.cols.get(*c as usize))
                    .and_then(|c| c.qual.clone())
                    .filter(|q| q.as_str() != table.name.as_str());
                let lowered = self.push(op, vec![], layout, rows, cost);
                if let Some(alias) = alias {
                    self.b.aliases.push(aiondb_sdk::plan::RelationAlias {
                        node: lowered.node,
                        alias: RString::from(alias),
                    });
                }
                Ok(lowered)
            }
            LPlan::Values { rows: vals, cols } => {
                let mut out = Vec::new();
                for r in vals {
                    out.push(RVec::from(self.exprs(r, &[])?));
                }
                Ok(self.push(
                    Operator::Values {
                        rows: RVec::from(out),
                    },
                    vec![],
                    cols.clone(),
                    rows,
                    vals.len() as f64 * 0.01,
                ))
            }
            LPlan::TableFunc {
                name,
                args,
                cols,
                ordinality,
            } => {
                let args = self.exprs(args, &[])?;
                let fields: Vec<Field> = cols
                    .iter()
                    .map(|c| {
                        Field::new(
                            self.cols
                                .get(*c as usize)
                                .map(|i| i.name.clone())
                                .unwrap_or_default(),
                            self.ty(*c),
                            true,
                        )
                    })
                    .collect();
                let mut fields = fields;
                if *ordinality {
                    fields.pop();
                }
                let op = Operator::TableFunction {
                    call: TableFunctionCall {
                        name: RString::from(name.as_str()),
                        args: RVec::from(args),
                    },
                    columns: Schema::new(fields),
                    ordinality: *ordinality,
                };
                Ok(self.push(op, vec![], cols.clone(), rows, rows * 0.01))
            }
            LPlan::Filter { input, pred } => {
                let i = self.node(input)?;
                let pe = LExpr::and_all(pred.clone()).unwrap_or_else(|| LExpr::boolean(true));
                let e = self.expr(&pe, &[&i.layout])?;
                let cost = i.cost + i.rows * 0.01;
                Ok(self.push(
                    Operator::Filter { predicate: e },
                    vec![i.node],
                    i.layout,
                    rows,
                    cost,
                ))
            }
            LPlan::Project { input, exprs } => {
                let i = self.node(input)?;
                let mut es = Vec::new();
                for (_, e) in exprs {
                    es.push(self.expr(e, &[&i.layout])?);
                }
                let layout = exprs.iter().map(|(c, _)| *c).collect();
                let cost = i.cost + i.rows * 0.01;
                Ok(self.push(
                    Operator::Project {
                        exprs: RVec::from(es),
                    },
                    vec![i.node],
                    layout,
                    rows,
                    cost,
                ))
            }
            LPlan::Join {
                kind,
                left,
                right,
                on,
                lateral,
                method,
            } => {
                let l = self.node(left)?;
                if *lateral {
                    self.outer.push(l.layout.clone());
                }
                let r = self.node(right);
                if *lateral {
                    self.outer.pop();
                }
                let r = r?;
                let choice = method.clone().unwrap_or(JoinChoice {
                    method: JoinMethod::NestedLoop,
                    keys: vec![],
                    residual: on.clone(),
                    param_lookup: false,
                });
                let mut lk = Vec::new();
                let mut rk = Vec::new();
                for (a, b2) in &choice.keys {
                    lk.push(self.expr(a, &[&l.layout])?);
                    rk.push(self.expr(b2, &[&[], &r.layout])?);
                }
                let mut residual = choice.residual.clone();
                if method.is_some() {
                    residual.extend(on.iter().cloned());
                }
                let cond = match LExpr::and_all(residual) {
                    Some(c) => ROption::RSome(self.expr(&c, &[&l.layout, &r.layout])?),
                    None => ROption::RNone,
                };
                let cost = match choice.method {
                    JoinMethod::Hash => {
                        l.cost
                            + r.cost
                            + r.rows * HASH_BUILD_ROW_COST
                            + l.rows * CPU_OPERATOR_COST
                            + rows * CPU_TUPLE_COST
                    }
                    JoinMethod::Merge => {
                        // The executor sorts each input not already in key
                        // order (as the optimizer assumed when choosing).
                        let key = choice.keys.first();
                        let lkey = key.and_then(|(a, _)| bare_col(a));
                        let rkey = key.and_then(|(_, b)| bare_col(b));
                        let lsorted = lkey.is_some_and(|c| self.opt.ordered_by(left, c));
                        let rsorted = rkey.is_some_and(|c| self.opt.ordered_by(right, c));
                        l.cost
                            + r.cost
                            + if lsorted {
                                0.0
                            } else {
                                merge_sort_cost(l.rows)
                            }
                            + if rsorted {
                                0.0
                            } else {
                                merge_sort_cost(r.rows)
                            }
                            + (l.rows + r.rows) * CPU_OPERATOR_COST
                            + rows * CPU_TUPLE_COST
                    }
                    JoinMethod::NestedLoop if *lateral => {
                        l.cost + l.rows * r.cost + rows * CPU_TUPLE_COST
                    }
                    JoinMethod::NestedLoop => {
                        l.cost
                            + r.cost
                            + l.rows * r.rows * CPU_OPERATOR_COST
                            + rows * CPU_TUPLE_COST
                    }
                };
                let mut layout = l.layout.clone();
                if !matches!(
                    kind,
                    aiondb_sdk::plan::JoinKind::Semi | aiondb_sdk::plan::JoinKind::Anti
                ) {
                    layout.extend(r.layout.iter().copied());
                }
                let op = Operator::Join {
                    kind: *kind,
                    method: choice.method,
                    condition: cond,
                    left_keys: RVec::from(lk),
                    right_keys: RVec::from(rk),
                    lateral: *lateral,
                };
                Ok(self.push(op, vec![l.node, r.node], layout, rows, cost))
            }
            LPlan::Aggregate { input, group, aggs } => {
                let i = self.node(input)?;
                let inp: &[&[ColId]] = &[&i.layout];
                let mut g = Vec::new();
                for (_, e) in group {
                    g.push(self.expr(e, inp)?);
                }
                let mut calls = Vec::new();
                for (_, a) in aggs {
                    let args = self.exprs(&a.args, inp)?;
                    let filter = match &a.filter {
                        Some(f) => ROption::RSome(self.expr(f, inp)?),
                        None => ROption::RNone,
                    };
                    let order_by = self.keys(&a.order_by, inp)?;
                    calls.push(AggCall {
                        func: a.func,
                        args: RVec::from(args),
                        distinct: a.distinct,
                        filter,
                        order_by: RVec::from(order_by),
                        result_type: a.ty,
                    });
                }
                let strategy = if group.is_empty() {
                    AggStrategy::Plain
                } else {
                    AggStrategy::Hash
                };
                let layout = p.outputs();
                let cost = i.cost + i.rows * 0.02;
                Ok(self.push(
                    Operator::Aggregate {
                        strategy,
                        group_by: RVec::from(g),
                        aggregates: RVec::from(calls),
                    },
                    vec![i.node],
                    layout,
                    rows,
                    cost,
                ))
            }
            LPlan::Window {
                input,
                partition,
                order,
                funcs,
            } => {
                let i = self.node(input)?;
                let inp: &[&[ColId]] = &[&i.layout];
                let part = self.exprs(partition, inp)?;
                let ord = self.keys(order, inp)?;
                let mut calls = Vec::new();
                for (_, w) in funcs {
                    let args = self.exprs(&w.args, inp)?;
                    let filter = match &w.filter {
                        Some(f) => ROption::RSome(self.expr(f, inp)?),
                        None => ROption::RNone,
                    };
                    let mut bound = |b: &LBound| -> DbResult<FrameBound> {
                        Ok(match b {
                            LBound::UnboundedPreceding => FrameBound::UnboundedPreceding,
                            LBound::UnboundedFollowing => FrameBound::UnboundedFollowing,
                            LBound::CurrentRow => FrameBound::CurrentRow,
                            LBound::Preceding(e) => FrameBound::Preceding(self.expr(e, inp)?),
                            LBound::Following(e) => FrameBound::Following(self.expr(e, inp)?),
                        })
                    };
                    let start = bound(&w.start)?;
                    let end = bound(&w.end)?;
                    calls.push(WindowCall {
                        func: w.func,
                        args: RVec::from(args),
                        filter,
                        frame: WindowFrame {
                            mode: w.mode,
                            start,
                            end,
                        },
                        result_type: w.ty,
                    });
                }
                let layout = p.outputs();
                let cost = i.cost + i.rows * (i.rows.max(2.0)).log2() * 0.01;
                Ok(self.push(
                    Operator::Window {
                        partition_by: RVec::from(part),
                        order_by: RVec::from(ord),
                        functions: RVec::from(calls),
                    },
                    vec![i.node],
                    layout,
                    rows,
                    cost,
                ))
            }
            LPlan::Sort { input, keys } => {
                let i = self.node(input)?;
                let k = self.keys(keys, &[&i.layout])?;
                let cost = i.cost + sort_node_cost(i.rows);
                Ok(self.push(
                    Operator::Sort {
                        keys: RVec::from(k),
                    },
                    vec![i.node],
                    i.layout,
                    rows,
                    cost,
                ))
            }
            LPlan::Limit {
                input,
                limit,
                offset,
            } => {
                let i = self.node(input)?;
                let l = match limit {
                    Some(e) => ROption::RSome(self.expr(e, &[])?),
                    None => ROption::RNone,
                };
                let o = match offset {
                    Some(e) => ROption::RSome(self.expr(e, &[])?),
                    None => ROption::RNone,
                };
                let cost = if i.rows > 0.0 {
                    i.cost * (rows / i.rows).min(1.0)
                } else {
                    i.cost
                };
                Ok(self.push(
                    Operator::Limit {
                        limit: l,
                        offset: o,
                    },
                    vec![i.node],
                    i.layout,
                    rows,
                    cost,
                ))
            }
            LPlan::Distinct { input, on } => {
                let i = self.node(input)?;
                let on = self.exprs(on, &[&i.layout])?;
                let cost = i.cost + i.rows * 0.02;
                Ok(self.push(
                    Operator::Distinct { on: RVec::from(on) },
                    vec![i.node],
                    i.layout,
                    rows,
                    cost,
                ))
            }
            LPlan::SetOp {
                op,
                all,
                left,
                right,
                cols,
            } => {
                let l = self.node(left)?;
                let r = self.node(right)?;
                let cost = l.cost + r.cost + (l.rows + r.rows) * 0.02;
                Ok(self.push(
                    Operator::SetOp { op: *op, all: *all },
                    vec![l.node, r.node],
                    cols.clone(),
                    rows,
                    cost,
                ))
            }
            LPlan::RecursiveUnion {
                anchor,
                recursive,
                worktable,
                all,
                cols,
            } => {
                let a = self.node(anchor)?;
                let r = self.node(recursive)?;
                let cost = a.cost + r.cost * 10.0;
                Ok(self.push(
                    Operator::RecursiveUnion {
                        worktable: *worktable,
                        all: *all,
                    },
                    vec![a.node, r.node],
                    cols.clone(),
                    rows,
                    cost,
                ))
            }
            LPlan::WorkTableScan { worktable, cols } => Ok(self.push(
                Operator::WorkTableScan {
                    worktable: *worktable,
                },
                vec![],
                cols.clone(),
                rows,
                rows * 0.01,
            )),
        }
    }
}
