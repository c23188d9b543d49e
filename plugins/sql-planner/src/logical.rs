//! The logical plan the binder produces and the optimizer rewrites. Columns
//! are named by statement-wide ids ([`ColId`]) so operators can be reordered
//! freely; lowering (`lower.rs`) turns ids into the IR's positions.

use aiondb_sdk::plan::{
    AggFunc, FunctionRef, JoinKind, RowLockMode, SetOpKind, SpecialFunc, SubqueryKind, WindowFunc,
};
use aiondb_sdk::prelude::*;
use aiondb_sdk::value::ops::{BinaryOp, UnaryOp};
use std::collections::HashSet;

pub type ColId = u32;

/// What the binder knows about a column id.
#[derive(Clone, Debug)]
pub struct ColInfo {
    pub name: String,
    pub ty: DataType,
    /// Table and column the value comes from unchanged (statistics).
    pub origin: Option<(TableId, u32)>,
    /// Qualifier for messages (`t.x`).
    pub qual: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LExpr {
    pub kind: LKind,
    pub ty: DataType,
}

#[derive(Clone, Debug, PartialEq)]
pub enum LKind {
    Const(Value),
    Param(u32),
    Col(ColId),
    Binary(BinaryOp, Box<LExpr>, Box<LExpr>),
    Unary(UnaryOp, Box<LExpr>),
    Like {
        arg: Box<LExpr>,
        pattern: Box<LExpr>,
        escape: Option<Box<LExpr>>,
        ci: bool,
        negated: bool,
    },
    InList {
        arg: Box<LExpr>,
        list: Vec<LExpr>,
        negated: bool,
    },
    AnyAll {
        op: BinaryOp,
        left: Box<LExpr>,
        array: Box<LExpr>,
        all: bool,
    },
    Call {
        func: FunctionRef,
        args: Vec<LExpr>,
        volatile: bool,
    },
    Special(SpecialFunc, Vec<LExpr>),
    Cast {
        arg: Box<LExpr>,
        explicit: bool,
    },
    And(Vec<LExpr>),
    Or(Vec<LExpr>),
    Not(Box<LExpr>),
    IsNull(Box<LExpr>),
    Case {
        operand: Option<Box<LExpr>>,
        whens: Vec<LExpr>,
        thens: Vec<LExpr>,
        otherwise: Option<Box<LExpr>>,
    },
    Array(Vec<LExpr>),
    Subscript(Box<LExpr>, Box<LExpr>),
    Subquery {
        kind: SubqueryKind,
        plan: Box<LPlan>,
        arg: Option<Box<LExpr>>,
    },
}

impl LExpr {
    pub fn new(kind: LKind, ty: DataType) -> Self {
        LExpr { kind, ty }
    }
    pub fn col(id: ColId, ty: DataType) -> Self {
        LExpr::new(LKind::Col(id), ty)
    }
    pub fn constant(v: Value, ty: DataType) -> Self {
        LExpr::new(LKind::Const(v), ty)
    }
    pub fn null(ty: DataType) -> Self {
        LExpr::constant(Value::Null, ty)
    }
    pub fn boolean(b: bool) -> Self {
        LExpr::constant(Value::Bool(b), DataType::BOOL)
    }

    /// Children expressions (not into subquery plans).
    pub fn children(&self) -> Vec<&LExpr> {
        use LKind::*;
        match &self.kind {
            Const(_) | Param(_) | Col(_) => vec![],
            Binary(_, a, b) | Subscript(a, b) => vec![a, b],
            Unary(_, a) | Cast { arg: a, .. } | Not(a) | IsNull(a) => vec![a],
            Like {
                arg,
                pattern,
                escape,
                ..
            } => {
                let mut v = vec![&**arg, &**pattern];
                if let Some(e) = escape {
                    v.push(e);
                }
                v
            }
            InList { arg, list, .. } => {
                let mut v = vec![&**arg];
                v.extend(list.iter());
                v
            }
            AnyAll { left, array, .. } => vec![left, array],
            Call { args, .. } | Special(_, args) | And(args) | Or(args) | Array(args) => {
                args.iter().collect()
            }
            Case {
                operand,
                whens,
                thens,
                otherwise,
            } => {
                let mut v: Vec<&LExpr> = operand.iter().map(|b| &**b).collect();
                v.extend(whens.iter());
                v.extend(thens.iter());
                v.extend(otherwise.iter().map(|b| &**b));
                v
            }
            Subquery { arg, .. } => arg.iter().map(|b| &**b).collect(),
        }
    }

    pub fn children_mut(&mut self) -> Vec<&mut LExpr> {
        use LKind::*;
        match &mut self.kind {
            Const(_) | Param(_) | Col(_) => vec![],
            Binary(_, a, b) | Subscript(a, b) => vec![a, b],
            Unary(_, a) | Cast { arg: a, .. } | Not(a) | IsNull(a) => vec![a],
            Like {
                arg,
                pattern,
                escape,
                ..
            } => {
                let mut v = vec![&mut **arg, &mut **pattern];
                if let Some(e) = escape {
                    v.push(e);
                }
                v
            }
            InList { arg, list, .. } => {
                let mut v = vec![&mut **arg];
                v.extend(list.iter_mut());
                v
            }
            AnyAll { left, array, .. } => vec![left, array],
            Call { args, .. } | Special(_, args) | And(args) | Or(args) | Array(args) => {
                args.iter_mut().collect()
            }
            Case {
                operand,
                whens,
                thens,
                otherwise,
            } => {
                let mut v: Vec<&mut LExpr> = operand.iter_mut().map(|b| &mut **b).collect();
                v.extend(whens.iter_mut());
                v.extend(thens.iter_mut());
                v.extend(otherwise.iter_mut().map(|b| &mut **b));
                v
            }
            Subquery { arg, .. } => arg.iter_mut().map(|b| &mut **b).collect(),
        }
    }

    /// Every column id referenced, including inside subquery plans (a
    /// correlated subquery needs its outer columns kept).
    pub fn cols(&self, out: &mut HashSet<ColId>) {
        if let LKind::Col(c) = self.kind {
            out.insert(c);
        }
        if let LKind::Subquery { plan, .. } = &self.kind {
            plan.all_cols(out);
        }
        for c in self.children() {
            c.cols(out);
        }
    }

    pub fn col_set(&self) -> HashSet<ColId> {
        let mut s = HashSet::new();
        self.cols(&mut s);
        s
    }

    /// Whether the expression contains a subquery or a volatile call.
    pub fn is_volatile(&self) -> bool {
        match &self.kind {
            LKind::Call { volatile: true, .. } => true,
            LKind::Special(f, _) => matches!(
                f,
                SpecialFunc::NextVal
                    | SpecialFunc::SetVal
                    | SpecialFunc::CurrVal
                    | SpecialFunc::LastVal
                    | SpecialFunc::ClockTimestamp
            ),
            _ => self.children().iter().any(|c| c.is_volatile()),
        }
    }

    pub fn has_subquery(&self) -> bool {
        matches!(self.kind, LKind::Subquery { .. })
            || self.children().iter().any(|c| c.has_subquery())
    }

    /// Splits an AND tree into conjuncts.
    pub fn conjuncts(self) -> Vec<LExpr> {
        match self.kind {
            LKind::And(v) => v.into_iter().flat_map(|e| e.conjuncts()).collect(),
            _ => vec![self],
        }
    }

    pub fn and_all(mut v: Vec<LExpr>) -> Option<LExpr> {
        match v.len() {
            0 => None,
            1 => v.pop(),
            _ => Some(LExpr::new(LKind::And(v), DataType::BOOL)),
        }
    }

    /// Replaces column ids through `map` (post-order).
    pub fn replace_cols(&mut self, map: &dyn Fn(ColId) -> Option<LExpr>) {
        if let LKind::Col(c) = self.kind {
            if let Some(e) = map(c) {
                *self = e;
                return;
            }
        }
        for c in self.children_mut() {
            c.replace_cols(map);
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct LAgg {
    pub func: AggFunc,
    pub args: Vec<LExpr>,
    pub distinct: bool,
    pub filter: Option<LExpr>,
    pub order_by: Vec<LSortKey>,
    pub ty: DataType,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LSortKey {
    pub expr: LExpr,
    pub desc: bool,
    pub nulls_first: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum LBound {
    UnboundedPreceding,
    Preceding(LExpr),
    CurrentRow,
    Following(LExpr),
    UnboundedFollowing,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LWin {
    pub func: WindowFunc,
    pub args: Vec<LExpr>,
    pub filter: Option<LExpr>,
    pub mode: aiondb_sdk::plan::FrameMode,
    pub start: LBound,
    pub end: LBound,
    pub ty: DataType,
}

/// How a scan reaches its rows (chosen by the optimizer).
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Access {
    Seq,
    Index {
        index: IndexId,
        probe: LProbe,
        reverse: bool,
    },
}

#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum LProbe {
    Eq(Vec<LExpr>),
    Range {
        lower: Option<(LExpr, bool)>,
        upper: Option<(LExpr, bool)>,
    },
    Full,
}

#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum LPlan {
    Scan {
        table: TableDef,
        /// One id per table column, in table order.
        cols: Vec<ColId>,
        /// Columns actually produced (after pruning); `None` = all.
        used: Option<Vec<usize>>,
        filter: Vec<LExpr>,
        row_id: Option<ColId>,
        lock: RowLockMode,
        access: Access,
        est_rows: f64,
    },
    Values {
        rows: Vec<Vec<LExpr>>,
        cols: Vec<ColId>,
    },
    TableFunc {
        name: String,
        args: Vec<LExpr>,
        cols: Vec<ColId>,
        ordinality: bool,
    },
    Filter {
        input: Box<LPlan>,
        pred: Vec<LExpr>,
    },
    Project {
        input: Box<LPlan>,
        exprs: Vec<(ColId, LExpr)>,
    },
    Join {
        kind: JoinKind,
        left: Box<LPlan>,
        right: Box<LPlan>,
        on: Vec<LExpr>,
        lateral: bool,
        /// Filled by the optimizer.
        method: Option<JoinChoice>,
    },
    Aggregate {
        input: Box<LPlan>,
        group: Vec<(ColId, LExpr)>,
        aggs: Vec<(ColId, LAgg)>,
    },
    Window {
        input: Box<LPlan>,
        partition: Vec<LExpr>,
        order: Vec<LSortKey>,
        funcs: Vec<(ColId, LWin)>,
    },
    Sort {
        input: Box<LPlan>,
        keys: Vec<LSortKey>,
    },
    Limit {
        input: Box<LPlan>,
        limit: Option<LExpr>,
        offset: Option<LExpr>,
    },
    Distinct {
        input: Box<LPlan>,
        on: Vec<LExpr>,
    },
    SetOp {
        op: SetOpKind,
        all: bool,
        left: Box<LPlan>,
        right: Box<LPlan>,
        cols: Vec<ColId>,
    },
    RecursiveUnion {
        anchor: Box<LPlan>,
        recursive: Box<LPlan>,
        worktable: u32,
        all: bool,
        cols: Vec<ColId>,
    },
    WorkTableScan {
        worktable: u32,
        cols: Vec<ColId>,
    },
}

/// The optimizer's physical join choice.
#[derive(Clone, Debug, PartialEq)]
pub struct JoinChoice {
    pub method: aiondb_sdk::plan::JoinMethod,
    /// Equi-join keys (left side, right side).
    pub keys: Vec<(LExpr, LExpr)>,
    /// Residual condition conjuncts.
    pub residual: Vec<LExpr>,
    /// Right side is re-run per left row (parameterised index lookup).
    pub param_lookup: bool,
}

impl LPlan {
    /// Output column ids, in order.
    pub fn outputs(&self) -> Vec<ColId> {
        match self {
            LPlan::Scan {
                cols, used, row_id, ..
            } => {
                let mut v: Vec<ColId> = match used {
                    Some(u) => u.iter().map(|&i| cols[i]).collect(),
                    None => cols.clone(),
                };
                if let Some(r) = row_id {
                    v.push(*r);
                }
                v
            }
            LPlan::Values { cols, .. }
            | LPlan::SetOp { cols, .. }
            | LPlan::RecursiveUnion { cols, .. }
            | LPlan::WorkTableScan { cols, .. } => cols.clone(),
            LPlan::TableFunc { cols, .. } => cols.clone(),
            LPlan::Filter { input, .. }
            | LPlan::Sort { input, .. }
            | LPlan::Limit { input, .. }
            | LPlan::Distinct { input, .. } => input.outputs(),
            LPlan::Project { exprs, .. } => exprs.iter().map(|(c, _)| *c).collect(),
            LPlan::Join {
                kind, left, right, ..
            } => {
                let mut v = left.outputs();
                if !matches!(kind, JoinKind::Semi | JoinKind::Anti) {
                    v.extend(right.outputs());
                }
                v
            }
            LPlan::Aggregate { group, aggs, .. } => group
                .iter()
                .map(|(c, _)| *c)
                .chain(aggs.iter().map(|(c, _)| *c))
                .collect(),
            LPlan::Window { input, funcs, .. } => {
                let mut v = input.outputs();
                v.extend(funcs.iter().map(|(c, _)| *c));
                v
            }
        }
    }

    /// Every column id referenced or produced anywhere in the plan.
    pub fn all_cols(&self, out: &mut HashSet<ColId>) {
        self.for_each_expr(&mut |e| e.cols(out));
        out.extend(self.outputs());
        for c in self.inputs() {
            c.all_cols(out);
        }
    }

    pub fn inputs(&self) -> Vec<&LPlan> {
        match self {
            LPlan::Scan { .. }
            | LPlan::Values { .. }
            | LPlan::TableFunc { .. }
            | LPlan::WorkTableScan { .. } => vec![],
            LPlan::Filter { input, .. }
            | LPlan::Project { input, .. }
            | LPlan::Aggregate { input, .. }
            | LPlan::Window { input, .. }
            | LPlan::Sort { input, .. }
            | LPlan::Limit { input, .. }
            | LPlan::Distinct { input, .. } => vec![input],
            LPlan::Join { left, right, .. } | LPlan::SetOp { left, right, .. } => {
                vec![left, right]
            }
            LPlan::RecursiveUnion {
                anchor, recursive, ..
            } => vec![anchor, recursive],
        }
    }

    /// Visits this node's own expressions (not its inputs').
    pub fn for_each_expr(&self, f: &mut dyn FnMut(&LExpr)) {
        match self {
            LPlan::Scan { filter, access, .. } => {
                filter.iter().for_each(&mut *f);
                if let Access::Index { probe, .. } = access {
                    match probe {
                        LProbe::Eq(v) => v.iter().for_each(&mut *f),
                        LProbe::Range { lower, upper } => {
                            lower.iter().chain(upper.iter()).for_each(|(e, _)| f(e))
                        }
                        LProbe::Full => {}
                    }
                }
            }
            LPlan::Values { rows, .. } => rows.iter().flatten().for_each(f),
            LPlan::TableFunc { args, .. } => args.iter().for_each(f),
            LPlan::Filter { pred, .. } => pred.iter().for_each(f),
            LPlan::Project { exprs, .. } => exprs.iter().for_each(|(_, e)| f(e)),
            LPlan::Join { on, method, .. } => {
                on.iter().for_each(&mut *f);
                if let Some(m) = method {
                    m.keys.iter().for_each(|(a, b)| {
                        f(a);
                        f(b)
                    });
                    m.residual.iter().for_each(&mut *f);
                }
            }
            LPlan::Aggregate { group, aggs, .. } => {
                group.iter().for_each(|(_, e)| f(e));
                for (_, a) in aggs {
                    a.args.iter().for_each(&mut *f);
                    a.filter.iter().for_each(&mut *f);
                    a.order_by.iter().for_each(|k| f(&k.expr));
                }
            }
            LPlan::Window {
                partition,
                order,
                funcs,
                ..
            } => {
                partition.iter().for_each(&mut *f);
                order.iter().for_each(|k| f(&k.expr));
                for (_, w) in funcs {
                    w.args.iter().for_each(&mut *f);
                    w.filter.iter().for_each(&mut *f);
                    for b in [&w.start, &w.end] {
                        if let LBound::Preceding(e) | LBound::Following(e) = b {
                            f(e)
                        }
                    }
                }
            }
            LPlan::Sort { keys, .. } => keys.iter().for_each(|k| f(&k.expr)),
            LPlan::Limit { limit, offset, .. } => limit.iter().chain(offset.iter()).for_each(f),
            LPlan::Distinct { on, .. } => on.iter().for_each(f),
            LPlan::SetOp { .. } | LPlan::RecursiveUnion { .. } | LPlan::WorkTableScan { .. } => {}
        }
    }
}
