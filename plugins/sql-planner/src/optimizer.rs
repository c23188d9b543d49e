//! Cost-based optimizer over the logical plan: predicate pushdown, join
//! ordering (dynamic programming up to 8 relations, greedy beyond), access
//! paths (btree equality/range probes, index-ordered LIMIT), join methods
//! (hash, parameterised index nested loop, nested loop) and projection
//! pruning. Estimates follow PostgreSQL's defaults when ANALYZE has not run.

use crate::logical::*;
use aiondb_sdk::plan::{JoinKind, JoinMethod};
use aiondb_sdk::prelude::*;
use aiondb_sdk::value::ops::BinaryOp;
use std::collections::{HashMap, HashSet};

pub struct Optimizer<'a> {
    pub services: &'a Services,
    pub cols: &'a [ColInfo],
    stats: HashMap<TableId, (f64, Option<TableStatistics>)>,
    indexes: HashMap<TableId, Vec<IndexDef>>,
}

const DEFAULT_EQ_SEL: f64 = 0.005;
const DEFAULT_RANGE_SEL: f64 = 1.0 / 3.0;

// Cost units, scaled like PostgreSQL's defaults (seq_page_cost = 1,
// random_page_cost = 4, cpu_tuple_cost = 0.01, about 100 rows a page).
/// Reading one row in a sequential scan.
pub const SEQ_ROW_COST: f64 = 0.02;
/// Putting one row into a hash table (build side).
pub const HASH_BUILD_ROW_COST: f64 = 0.0125;
/// Probing a hash table or comparing in a merge, per row.
pub const CPU_OPERATOR_COST: f64 = 0.0025;
/// Emitting one joined row.
pub const CPU_TUPLE_COST: f64 = 0.01;

/// Cost of one index scan returning `rows` rows: the descent plus one heap
/// fetch per row (mostly cached pages, hence well below random_page_cost).
pub fn index_scan_cost(rows: f64) -> f64 {
    0.3 + rows * 0.05
}

/// Sorting `n` rows inside a merge join (the input it does not get in key
/// order).
pub fn merge_sort_cost(n: f64) -> f64 {
    n * n.max(2.0).log2() * CPU_OPERATOR_COST
}

/// A Sort node over `n` rows.
pub fn sort_node_cost(n: f64) -> f64 {
    n * n.max(2.0).log2() * 0.01
}

impl<'a> Optimizer<'a> {
    pub fn new(services: &'a Services, cols: &'a [ColInfo]) -> Self {
        Optimizer {
            services,
            cols,
            stats: HashMap::new(),
            indexes: HashMap::new(),
        }
    }

    pub fn optimize(&mut self, plan: LPlan) -> LPlan {
        let plan = push_down(plan, vec![]);
        let plan = self.reorder(plan);
        let mut plan = self.physical(plan);
        let req: HashSet<ColId> = plan.outputs().into_iter().collect();
        prune(&mut plan, &req);
        plan
    }

    // ------------------------------------------------------------ statistics

    fn table_rows(&mut self, t: &TableDef) -> f64 {
        self.table_stats(t).0
    }

    fn table_stats(&mut self, t: &TableDef) -> (f64, Option<TableStatistics>) {
        if let Some(s) = self.stats.get(&t.id) {
            return s.clone();
        }
        let st = self.services.catalog.table_stats(t.id).into_option();
        let rows = match &st {
            Some(s) => s.row_count,
            None => self
                .services
                .storage(t.storage_backend.as_str())
                .and_then(|s| s.stats(0, t.id).into_result().ok())
                .map(|s| s.row_count as f64)
                .unwrap_or(1000.0),
        };
        let v = (rows.max(1.0), st);
        self.stats.insert(t.id, v.clone());
        v
    }

    fn indexes(&mut self, t: TableId) -> Vec<IndexDef> {
        if let Some(v) = self.indexes.get(&t) {
            return v.clone();
        }
        let v: Vec<IndexDef> = self
            .services
            .catalog
            .indexes_of(t)
            .into_iter()
            .filter(|i| i.method.as_str() == "btree")
            .collect();
        self.indexes.insert(t, v.clone());
        v
    }

    fn n_distinct(&mut self, c: ColId) -> Option<f64> {
        let (tid, col) = self.cols.get(c as usize)?.origin?;
        let def = self.services.catalog.table_by_id(tid).into_option()?;
        let (_, st) = self.table_stats(&def);
        let cs = st?.columns.get(col as usize)?.clone();
        (cs.n_distinct > 0.0).then_some(cs.n_distinct)
    }

    /// Whether a table column is the sole column of a unique index.
    fn is_unique_col(&mut self, c: ColId) -> bool {
        let Some((tid, col)) = self.cols.get(c as usize).and_then(|i| i.origin) else {
            return false;
        };
        self.indexes(tid)
            .iter()
            .any(|i| i.unique && i.columns.len() == 1 && i.columns[0] == col)
    }

    fn selectivity(&mut self, e: &LExpr) -> f64 {
        match &e.kind {
            LKind::Binary(op, l, r) => match op {
                BinaryOp::Eq => {
                    let (lc, rc) = (bare_col(l), bare_col(r));
                    match (lc, rc) {
                        (Some(a), Some(b)) => {
                            let da = self
                                .n_distinct(a)
                                .or_else(|| self.is_unique_col(a).then(|| self.col_rows(a)));
                            let db = self
                                .n_distinct(b)
                                .or_else(|| self.is_unique_col(b).then(|| self.col_rows(b)));
                            match (da, db) {
                                (Some(x), Some(y)) => 1.0 / x.max(y).max(1.0),
                                (Some(x), None) | (None, Some(x)) => 1.0 / x.max(1.0),
                                _ => DEFAULT_EQ_SEL,
                            }
                        }
                        (Some(a), None) | (None, Some(a)) => {
                            if self.is_unique_col(a) {
                                return 1.0 / self.col_rows(a).max(1.0);
                            }
                            self.n_distinct(a)
                                .map(|d| 1.0 / d.max(1.0))
                                .unwrap_or(DEFAULT_EQ_SEL)
                        }
                        _ => DEFAULT_EQ_SEL,
                    }
                }
                BinaryOp::NotEq => 1.0 - DEFAULT_EQ_SEL,
                BinaryOp::Lt | BinaryOp::LtEq | BinaryOp::Gt | BinaryOp::GtEq => DEFAULT_RANGE_SEL,
                _ => DEFAULT_EQ_SEL,
            },
            LKind::And(v) => v.iter().map(|x| self.selectivity(x)).product(),
            LKind::Or(v) => {
                let mut p = 1.0;
                for x in v {
                    p *= 1.0 - self.selectivity(x);
                }
                1.0 - p
            }
            LKind::Not(x) => 1.0 - self.selectivity(x),
            LKind::IsNull(_) => DEFAULT_EQ_SEL,
            LKind::InList { list, negated, .. } => {
                let s = (list.len() as f64 * DEFAULT_EQ_SEL).min(0.5);
                if *negated {
                    1.0 - s
                } else {
                    s
                }
            }
            LKind::Like { .. } => DEFAULT_EQ_SEL * 5.0,
            LKind::Const(Value::Bool(true)) => 1.0,
            LKind::Const(Value::Bool(false)) | LKind::Const(Value::Null) => 0.0,
            _ => DEFAULT_RANGE_SEL,
        }
    }

    fn col_rows(&mut self, c: ColId) -> f64 {
        let Some((tid, _)) = self.cols.get(c as usize).and_then(|i| i.origin) else {
            return 1000.0;
        };
        match self.services.catalog.table_by_id(tid).into_option() {
            Some(def) => self.table_rows(&def),
            None => 1000.0,
        }
    }

    /// Estimated output rows of a plan.
    pub fn rows(&mut self, p: &LPlan) -> f64 {
        match p {
            LPlan::Scan {
                est_rows,
                table,
                filter,
                ..
            } => {
                if *est_rows > 0.0 {
                    return *est_rows;
                }
                let base = self.table_rows(table);
                let sel: f64 = filter.iter().map(|f| self.selectivity(f)).product();
                (base * sel).max(1.0)
            }
            LPlan::Values { rows, .. } => rows.len() as f64,
            LPlan::TableFunc { .. } => 1000.0,
            LPlan::Filter { input, pred } => {
                let r = self.rows(input);
                let sel: f64 = pred.iter().map(|f| self.selectivity(f)).product();
                (r * sel).max(1.0)
            }
            LPlan::Project { input, .. }
            | LPlan::Sort { input, .. }
            | LPlan::Window { input, .. } => self.rows(input),
            LPlan::Join {
                kind,
                left,
                right,
                on,
                method,
                ..
            } => {
                let l = self.rows(left);
                let r = self.rows(right);
                let mut sel: f64 = on.iter().map(|f| self.selectivity(f)).product();
                if let Some(m) = method {
                    for (a, b) in &m.keys {
                        let eq = LExpr::new(
                            LKind::Binary(BinaryOp::Eq, Box::new(a.clone()), Box::new(b.clone())),
                            DataType::BOOL,
                        );
                        sel *= self.selectivity(&eq);
                    }
                    if m.param_lookup {
                        // The right side's estimate already is per lookup.
                        sel = m.residual.iter().map(|f| self.selectivity(f)).product();
                    }
                }
                let out = (l * r * sel).max(1.0);
                match kind {
                    JoinKind::Left => out.max(l),
                    JoinKind::Right => out.max(r),
                    JoinKind::Full => out.max(l + r),
                    JoinKind::Semi | JoinKind::Anti => l * 0.5,
                    _ => out,
                }
            }
            LPlan::Aggregate { input, group, .. } => {
                if group.is_empty() {
                    1.0
                } else {
                    let input_rows = self.rows(input);
                    // Grouping by plain columns with ANALYZE statistics:
                    // the product of their distinct counts.
                    let mut nd = Some(1.0);
                    for (_, g) in group {
                        nd = match (nd, bare_col(g).and_then(|c| self.n_distinct(c))) {
                            (Some(acc), Some(d)) => Some(acc * d),
                            _ => None,
                        };
                    }
                    match nd {
                        Some(d) => d.min(input_rows).max(1.0),
                        None => (input_rows * 0.1)
                            .max(1.0)
                            .min(200.0_f64.max(input_rows.sqrt())),
                    }
                }
            }
            LPlan::Limit {
                input,
                limit,
                offset,
            } => {
                let r = self.rows(input);
                let off = match offset.as_ref().map(|o| &o.kind) {
                    Some(LKind::Const(v)) => v.as_i64().unwrap_or(0) as f64,
                    _ => 0.0,
                };
                match limit.as_ref().map(|o| &o.kind) {
                    Some(LKind::Const(v)) => (v.as_i64().unwrap_or(0) as f64)
                        .min((r - off).max(0.0))
                        .max(1.0),
                    Some(_) => (r * 0.1).max(1.0),
                    None => (r - off).max(1.0),
                }
            }
            LPlan::Distinct { input, .. } => (self.rows(input) * 0.5).max(1.0),
            LPlan::SetOp { left, right, .. } => self.rows(left) + self.rows(right),
            LPlan::RecursiveUnion { anchor, .. } => self.rows(anchor) * 10.0,
            LPlan::WorkTableScan { .. } => 10.0,
        }
    }

    // ------------------------------------------------------------ join order

    fn reorder(&mut self, plan: LPlan) -> LPlan {
        let plan = map_inputs(plan, &mut |p| self.reorder(p));
        let is_block = matches!(
            &plan,
            LPlan::Join {
                kind: JoinKind::Inner,
                lateral: false,
                ..
            }
        );
        if !is_block {
            return plan;
        }
        let mut leaves = Vec::new();
        let mut preds = Vec::new();
        flatten(plan, &mut leaves, &mut preds);
        if leaves.len() <= 2 && leaves.len() == 2 {
            // Two relations: put the smaller one on the build (right) side.
            let mut it = leaves.into_iter();
            let (a, c) = (it.next(), it.next());
            let (Some(mut a), Some(mut c)) = (a, c) else {
                unreachable!()
            };
            if self.rows(&a) < self.rows(&c) && !has_equi(&preds).is_empty() {
                std::mem::swap(&mut a, &mut c);
            }
            return LPlan::Join {
                kind: JoinKind::Inner,
                left: Box::new(a),
                right: Box::new(c),
                on: preds,
                lateral: false,
                method: None,
            };
        }
        let n = leaves.len();
        let outs: Vec<HashSet<ColId>> = leaves
            .iter()
            .map(|l| l.outputs().into_iter().collect())
            .collect();
        let rows: Vec<f64> = leaves.iter().map(|l| self.rows(l)).collect();
        // Each predicate's relation mask and selectivity.
        let pinfo: Vec<(u32, f64)> = preds
            .iter()
            .map(|p| {
                let cs = p.col_set();
                let mut m = 0u32;
                for (i, o) in outs.iter().enumerate() {
                    if cs.iter().any(|c| o.contains(c)) {
                        m |= 1 << i;
                    }
                }
                (m, self.selectivity(p))
            })
            .collect();
        let card = |mask: u32| -> f64 {
            let mut r = 1.0;
            for (i, rr) in rows.iter().enumerate() {
                if mask & (1 << i) != 0 {
                    r *= rr;
                }
            }
            for (m, s) in &pinfo {
                if *m & mask == *m && m.count_ones() > 1 {
                    r *= s;
                }
            }
            r.max(1.0)
        };
        let connected = |a: u32, b: u32| {
            pinfo
                .iter()
                .any(|(m, _)| m & a != 0 && m & b != 0 && m & !(a | b) == 0)
        };
        #[derive(Clone)]
        enum T {
            Leaf(usize),
            Join(Box<T>, Box<T>),
        }
        let tree = if n <= 8 {
            let full = (1u32 << n) - 1;
            let mut best: HashMap<u32, (f64, T)> = HashMap::new();
            for (i, r) in rows.iter().enumerate() {
                best.insert(1 << i, (*r, T::Leaf(i)));
            }
            for size in 2..=n {
                for mask in 1..=full {
                    if mask.count_ones() as usize != size {
                        continue;
                    }
                    let out_rows = card(mask);
                    let mut cand: Option<(f64, T)> = None;
                    let mut sub = (mask - 1) & mask;
                    while sub > 0 {
                        let other = mask & !sub;
                        if let (Some((cl, tl)), Some((cr, tr))) = (best.get(&sub), best.get(&other))
                        {
                            let conn = connected(sub, other);
                            let (lr, rr) = (card(sub), card(other));
                            // Hash join: build the right side, probe with the left.
                            let join_cost = if conn {
                                lr + rr * 1.5 + out_rows
                            } else {
                                lr * rr + out_rows
                            };
                            let c = cl + cr + join_cost;
                            if cand.as_ref().map(|(x, _)| c < *x).unwrap_or(true) {
                                cand =
                                    Some((c, T::Join(Box::new(tl.clone()), Box::new(tr.clone()))));
                            }
                        }
                        sub = (sub - 1) & mask;
                    }
                    if let Some(c) = cand {
                        best.insert(mask, c);
                    }
                }
            }
            best.remove(&full).map(|(_, t)| t)
        } else {
            None
        };
        let tree = tree.unwrap_or_else(|| {
            // Greedy: start from the smallest relation, add the cheapest
            // connected one.
            let mut used = vec![false; n];
            let start = (0..n)
                .min_by(|a, b| rows[*a].total_cmp(&rows[*b]))
                .unwrap_or(0);
            used[start] = true;
            let mut mask = 1u32 << start;
            let mut t = T::Leaf(start);
            for _ in 1..n {
                let next = (0..n)
                    .filter(|i| !used[*i])
                    .min_by(|a, b| {
                        let ca =
                            card(mask | 1 << a) + if connected(mask, 1 << a) { 0.0 } else { 1e12 };
                        let cb =
                            card(mask | 1 << b) + if connected(mask, 1 << b) { 0.0 } else { 1e12 };
                        ca.total_cmp(&cb)
                    })
                    .unwrap_or(0);
                used[next] = true;
                mask |= 1 << next;
                t = T::Join(Box::new(t), Box::new(T::Leaf(next)));
            }
            t
        });
        let mut slots: Vec<Option<LPlan>> = leaves.into_iter().map(Some).collect();
        let mut preds: Vec<Option<LExpr>> = preds.into_iter().map(Some).collect();
        fn build(
            t: &T,
            slots: &mut [Option<LPlan>],
            preds: &mut [Option<LExpr>],
            pinfo: &[(u32, f64)],
        ) -> (LPlan, u32) {
            match t {
                T::Leaf(i) => (
                    slots[*i].take().unwrap_or(LPlan::Values {
                        rows: vec![],
                        cols: vec![],
                    }),
                    1 << i,
                ),
                T::Join(a, b) => {
                    let (l, ml) = build(a, slots, preds, pinfo);
                    let (r, mr) = build(b, slots, preds, pinfo);
                    let m = ml | mr;
                    let mut on = Vec::new();
                    for (k, (pm, _)) in pinfo.iter().enumerate() {
                        if pm & m == *pm {
                            if let Some(p) = preds[k].take() {
                                on.push(p);
                            }
                        }
                    }
                    (
                        LPlan::Join {
                            kind: JoinKind::Inner,
                            left: Box::new(l),
                            right: Box::new(r),
                            on,
                            lateral: false,
                            method: None,
                        },
                        m,
                    )
                }
            }
        }
        let (mut p, _) = build(&tree, &mut slots, &mut preds, &pinfo);
        let rest: Vec<LExpr> = preds.into_iter().flatten().collect();
        if !rest.is_empty() {
            p = LPlan::Filter {
                input: Box::new(p),
                pred: rest,
            };
        }
        p
    }

    // ------------------------------------------------------------ physical

    fn physical(&mut self, plan: LPlan) -> LPlan {
        if let LPlan::Sort { input, keys } = plan {
            // ORDER BY on plain columns, ascending with NULLs last: the order
            // a merge join or an index scan delivers, so the Sort may go.
            let want: Option<Vec<ColId>> = keys
                .iter()
                .map(|k| {
                    if k.desc || k.nulls_first {
                        None
                    } else {
                        bare_col(&k.expr)
                    }
                })
                .collect();
            let input = self.physical_sorted(*input, want.as_deref().unwrap_or(&[]));
            if let Some(w) = &want {
                if self.provides_order(&input, w) {
                    return input;
                }
            }
            return LPlan::Sort {
                input: Box::new(input),
                keys,
            };
        }
        let plan = map_inputs(plan, &mut |p| self.physical(p));
        match plan {
            LPlan::Scan {
                table,
                cols,
                used,
                filter,
                row_id,
                lock,
                access: _,
                est_rows: _,
            } => {
                let (access, filter) = self.choose_access(&table, &cols, filter);
                let mut p = LPlan::Scan {
                    table,
                    cols,
                    used,
                    filter,
                    row_id,
                    lock,
                    access,
                    est_rows: 0.0,
                };
                let r = self.rows(&p);
                if let LPlan::Scan {
                    est_rows,
                    access,
                    table,
                    ..
                } = &mut p
                {
                    *est_rows = match access {
                        Access::Index {
                            probe: LProbe::Eq(_),
                            index,
                            ..
                        } => {
                            let unique_full = self
                                .indexes(table.id)
                                .iter()
                                .any(|i| i.id == *index && i.unique);
                            if unique_full {
                                1.0
                            } else {
                                r
                            }
                        }
                        _ => r,
                    };
                }
                p
            }
            LPlan::Join {
                kind,
                left,
                right,
                on,
                lateral,
                method: None,
            } => self.choose_join(kind, *left, *right, on, lateral, &[]),
            LPlan::Limit {
                input,
                limit,
                offset,
            } => {
                let input = self.index_order(*input);
                LPlan::Limit {
                    input: Box::new(input),
                    limit,
                    offset,
                }
            }
            other => other,
        }
    }

    /// Physical planning of the input of a Sort on `want` (columns of `p`'s
    /// output, ascending, NULLs last; empty when the Sort is on anything
    /// else): a join right below may pick a merge join to deliver that order.
    fn physical_sorted(&mut self, p: LPlan, want: &[ColId]) -> LPlan {
        if want.is_empty() {
            return self.physical(p);
        }
        match p {
            LPlan::Project { input, exprs } => {
                let inner: Option<Vec<ColId>> = want
                    .iter()
                    .map(|c| {
                        exprs
                            .iter()
                            .find(|(id, _)| id == c)
                            .and_then(|(_, e)| bare_col(e))
                    })
                    .collect();
                let input = self.physical_sorted(*input, inner.as_deref().unwrap_or(&[]));
                LPlan::Project {
                    input: Box::new(input),
                    exprs,
                }
            }
            LPlan::Filter { input, pred } => LPlan::Filter {
                input: Box::new(self.physical_sorted(*input, want)),
                pred,
            },
            LPlan::Join {
                kind,
                left,
                right,
                on,
                lateral,
                method: None,
            } => {
                let left = self.physical(*left);
                let right = self.physical(*right);
                self.choose_join(kind, left, right, on, lateral, want)
            }
            other => self.physical(other),
        }
    }

    /// The order `p`'s rows come in, as far as the optimizer knows: one set
    /// of equal columns per sort position, each ascending with NULLs last.
    fn ordering(&mut self, p: &LPlan) -> Vec<Vec<ColId>> {
        match p {
            LPlan::Scan {
                table,
                cols,
                access:
                    Access::Index {
                        index,
                        probe: LProbe::Full | LProbe::Range { .. },
                        reverse: false,
                    },
                ..
            } => {
                let Some(idx) = self.indexes(table.id).into_iter().find(|i| i.id == *index) else {
                    return vec![];
                };
                idx.columns
                    .iter()
                    .map_while(|c| cols.get(*c as usize).map(|x| vec![*x]))
                    .collect()
            }
            LPlan::Sort { keys, .. } => keys
                .iter()
                .map_while(|k| {
                    if k.desc || k.nulls_first {
                        None
                    } else {
                        bare_col(&k.expr).map(|c| vec![c])
                    }
                })
                .collect(),
            LPlan::Project { input, exprs } => {
                let inner = self.ordering(input);
                inner
                    .iter()
                    .map_while(|set| {
                        let out: Vec<ColId> = exprs
                            .iter()
                            .filter(|(_, e)| bare_col(e).is_some_and(|c| set.contains(&c)))
                            .map(|(id, _)| *id)
                            .collect();
                        (!out.is_empty()).then_some(out)
                    })
                    .collect()
            }
            LPlan::Filter { input, .. } | LPlan::Limit { input, .. } => self.ordering(input),
            LPlan::Join {
                kind,
                lateral: false,
                method:
                    Some(JoinChoice {
                        method: JoinMethod::Merge,
                        keys,
                        ..
                    }),
                ..
            } => {
                // Left rows with a NULL in any key come after all others, so
                // with several keys the order only holds where no such row
                // is emitted. Inner output rows have equal keys on both sides.
                let emits_null_keys =
                    matches!(kind, JoinKind::Left | JoinKind::Full | JoinKind::Anti);
                if emits_null_keys && keys.len() > 1 {
                    return vec![];
                }
                keys.iter()
                    .map_while(|(a, b)| {
                        let mut set = vec![bare_col(a)?];
                        if *kind == JoinKind::Inner {
                            set.extend(bare_col(b));
                        }
                        Some(set)
                    })
                    .collect()
            }
            _ => vec![],
        }
    }

    /// Whether `p`'s rows come ordered by `want` (ascending, NULLs last).
    pub fn provides_order(&mut self, p: &LPlan, want: &[ColId]) -> bool {
        let ord = self.ordering(p);
        want.len() <= ord.len() && want.iter().zip(&ord).all(|(c, set)| set.contains(c))
    }

    /// Whether `p`'s rows come ordered by column `c` (ascending, NULLs last).
    pub fn ordered_by(&mut self, p: &LPlan, c: ColId) -> bool {
        self.provides_order(p, &[c])
    }

    /// Extra cost for one merge join input to arrive in `key` order: none
    /// when it already does, else the cheaper of the merge join's own sort
    /// and reading a plain sequential scan through a btree index leading
    /// with the key column (returned as the replacement input).
    fn merge_input_cost(&mut self, side: &LPlan, key: Option<ColId>) -> (f64, Option<LPlan>) {
        let n = self.rows(side);
        let sort = merge_sort_cost(n);
        let Some(key) = key else {
            return (sort, None);
        };
        if self.ordered_by(side, key) {
            return (0.0, None);
        }
        let mut cur = side;
        let mut col = key;
        while let LPlan::Project { input, exprs } = cur {
            match exprs
                .iter()
                .find(|(id, _)| *id == col)
                .and_then(|(_, e)| bare_col(e))
            {
                Some(c) => col = c,
                None => return (sort, None),
            }
            cur = input;
        }
        let LPlan::Scan {
            table,
            cols,
            access: Access::Seq,
            ..
        } = cur
        else {
            return (sort, None);
        };
        let Some(pos) = cols.iter().position(|x| *x == col) else {
            return (sort, None);
        };
        let Some(idx) = self
            .indexes(table.id)
            .into_iter()
            .find(|i| i.columns.first() == Some(&(pos as u32)))
        else {
            return (sort, None);
        };
        let trows = self.table_rows(table);
        let extra = index_scan_cost(trows) - trows * SEQ_ROW_COST;
        if extra >= sort {
            return (sort, None);
        }
        let mut p = side.clone();
        set_scan_access(
            &mut p,
            Access::Index {
                index: idx.id,
                probe: LProbe::Full,
                reverse: false,
            },
        );
        (extra, Some(p))
    }

    /// ORDER BY ... LIMIT over one table: read a btree index in order.
    fn index_order(&mut self, p: LPlan) -> LPlan {
        let LPlan::Sort { input, keys } = p else {
            return p;
        };
        let mut cur: &LPlan = &input;
        while let LPlan::Project { input, .. } = cur {
            cur = input;
        }
        let LPlan::Scan {
            table,
            cols,
            access: Access::Seq,
            ..
        } = cur
        else {
            return LPlan::Sort { input, keys };
        };
        // Keys must be table columns passed through unchanged.
        let mut key_cols = Vec::new();
        for k in &keys {
            let Some(c) = bare_col(&k.expr) else {
                return LPlan::Sort { input, keys };
            };
            let c = resolve_through_projects(&input, c);
            let Some(pos) = cols.iter().position(|x| *x == c) else {
                return LPlan::Sort { input, keys };
            };
            key_cols.push(pos as u32);
        }
        let desc = keys[0].desc;
        if keys.iter().any(|k| k.desc != desc || k.nulls_first != desc) {
            return LPlan::Sort { input, keys };
        }
        let tid = table.id;
        let Some(idx) = self.indexes(tid).into_iter().find(|i| {
            i.columns.len() >= key_cols.len() && i.columns[..key_cols.len()] == key_cols[..]
        }) else {
            return LPlan::Sort { input, keys };
        };
        let mut input = *input;
        set_scan_access(
            &mut input,
            Access::Index {
                index: idx.id,
                probe: LProbe::Full,
                reverse: desc,
            },
        );
        input
    }

    fn choose_access(
        &mut self,
        table: &TableDef,
        cols: &[ColId],
        filter: Vec<LExpr>,
    ) -> (Access, Vec<LExpr>) {
        if filter.is_empty() {
            return (Access::Seq, filter);
        }
        let idxs = self.indexes(table.id);
        if idxs.is_empty() {
            return (Access::Seq, filter);
        }
        let own: HashSet<ColId> = cols.iter().copied().collect();
        // (table column, op, value expr, conjunct index)
        let mut sargs: Vec<(u32, BinaryOp, LExpr, usize)> = Vec::new();
        for (k, f) in filter.iter().enumerate() {
            if let LKind::Binary(op, l, r) = &f.kind {
                let op = *op;
                if !op.is_comparison() || op == BinaryOp::NotEq {
                    continue;
                }
                let try_side =
                    |c: &LExpr, v: &LExpr, op: BinaryOp| -> Option<(u32, BinaryOp, LExpr)> {
                        let id = bare_col(c)?;
                        let pos = cols.iter().position(|x| *x == id)?;
                        if v.col_set().iter().any(|x| own.contains(x))
                            || v.is_volatile()
                            || v.has_subquery()
                        {
                            return None;
                        }
                        if c.ty != v.ty {
                            return None;
                        }
                        Some((pos as u32, op, v.clone()))
                    };
                if let Some((c, o, v)) = try_side(l, r, op) {
                    sargs.push((c, o, v, k));
                } else if let Some((c, o, v)) = try_side(r, l, flip(op)) {
                    sargs.push((c, o, v, k));
                }
            }
        }
        if sargs.is_empty() {
            return (Access::Seq, filter);
        }
        // Prefer the longest equality prefix, then a unique index, then a
        // range on the first column.
        let mut best: Option<(f64, IndexDef, LProbe, Vec<usize>)> = None;
        for idx in &idxs {
            let mut eq = Vec::new();
            let mut used = Vec::new();
            for c in idx.columns.iter() {
                match sargs.iter().find(|s| s.0 == *c && s.1 == BinaryOp::Eq) {
                    Some(s) => {
                        eq.push(s.2.clone());
                        used.push(s.3);
                    }
                    None => break,
                }
            }
            if !eq.is_empty() {
                let full = eq.len() == idx.columns.len();
                let score = eq.len() as f64 * 10.0 + if full && idx.unique { 100.0 } else { 0.0 };
                if best.as_ref().map(|b| score > b.0).unwrap_or(true) {
                    best = Some((score, idx.clone(), LProbe::Eq(eq), used));
                }
                continue;
            }
            let first = idx.columns[0];
            let mut lower = None;
            let mut upper = None;
            // The bounds the probe enforces: storage compares keys of the
            // same type in SQL order (NULLs never match a bound), so those
            // conjuncts need no re-check per row.
            let mut used = Vec::new();
            for s in sargs.iter().filter(|s| s.0 == first) {
                match s.1 {
                    BinaryOp::Gt | BinaryOp::GtEq if lower.is_none() => {
                        lower = Some((s.2.clone(), s.1 == BinaryOp::GtEq));
                        used.push(s.3);
                    }
                    BinaryOp::Lt | BinaryOp::LtEq if upper.is_none() => {
                        upper = Some((s.2.clone(), s.1 == BinaryOp::LtEq));
                        used.push(s.3);
                    }
                    _ => {}
                }
            }
            if lower.is_some() || upper.is_some() {
                let score = if lower.is_some() && upper.is_some() {
                    5.0
                } else {
                    2.0
                };
                if best.as_ref().map(|b| score > b.0).unwrap_or(true) {
                    best = Some((score, idx.clone(), LProbe::Range { lower, upper }, used));
                }
            }
        }
        let Some((score, idx, probe, used)) = best else {
            return (Access::Seq, filter);
        };
        // A range probe on a tiny table is not worth it.
        if score < 10.0 && self.table_rows(table) < 100.0 {
            return (Access::Seq, filter);
        }
        let rest = filter
            .into_iter()
            .enumerate()
            .filter(|(k, _)| !used.contains(k))
            .map(|(_, f)| f)
            .collect();
        (
            Access::Index {
                index: idx.id,
                probe,
                reverse: false,
            },
            rest,
        )
    }

    fn choose_join(
        &mut self,
        kind: JoinKind,
        left: LPlan,
        right: LPlan,
        on: Vec<LExpr>,
        lateral: bool,
        want: &[ColId],
    ) -> LPlan {
        // An inner join whose left side is an indexable table and whose
        // right side is small is turned around for an index lookup.
        if kind == JoinKind::Inner
            && !lateral
            && matches!(
                left,
                LPlan::Scan {
                    access: Access::Seq,
                    ..
                }
            )
        {
            let (lr, rr) = (self.rows(&left), self.rows(&right));
            if rr * 4.0 < lr {
                let swapped = self.choose_join_oriented(
                    kind,
                    right.clone(),
                    left.clone(),
                    on.clone(),
                    lateral,
                    want,
                );
                if matches!(
                    &swapped,
                    LPlan::Join {
                        method: Some(JoinChoice {
                            param_lookup: true,
                            ..
                        }),
                        ..
                    }
                ) {
                    return swapped;
                }
            }
        }
        self.choose_join_oriented(kind, left, right, on, lateral, want)
    }

    /// `want`: the columns (ascending, NULLs last) a Sort right above the
    /// join orders by, which a merge join can make redundant.
    fn choose_join_oriented(
        &mut self,
        kind: JoinKind,
        left: LPlan,
        right: LPlan,
        on: Vec<LExpr>,
        lateral: bool,
        want: &[ColId],
    ) -> LPlan {
        let lo: HashSet<ColId> = left.outputs().into_iter().collect();
        let ro: HashSet<ColId> = right.outputs().into_iter().collect();
        let mut keys = Vec::new();
        let mut residual = Vec::new();
        for c in on {
            if let LKind::Binary(BinaryOp::Eq, a, b) = &c.kind {
                if !c.is_volatile() && !c.has_subquery() {
                    let (ca, cb) = (a.col_set(), b.col_set());
                    let side = |s: &HashSet<ColId>, o: &HashSet<ColId>| {
                        !s.is_empty() && s.iter().all(|x| o.contains(x))
                    };
                    if side(&ca, &lo) && side(&cb, &ro) {
                        keys.push(((**a).clone(), (**b).clone()));
                        continue;
                    }
                    if side(&ca, &ro) && side(&cb, &lo) {
                        keys.push(((**b).clone(), (**a).clone()));
                        continue;
                    }
                }
            }
            residual.push(c);
        }
        if lateral || keys.is_empty() {
            let mut on = residual;
            for (a, b) in keys {
                on.push(LExpr::new(
                    LKind::Binary(BinaryOp::Eq, Box::new(a), Box::new(b)),
                    DataType::BOOL,
                ));
            }
            return LPlan::Join {
                kind,
                left: Box::new(left),
                right: Box::new(right),
                on: vec![],
                lateral,
                method: Some(JoinChoice {
                    method: JoinMethod::NestedLoop,
                    keys: vec![],
                    residual: on,
                    param_lookup: false,
                }),
            };
        }
        // Parameterised index lookup on the inner side when the outer side
        // is small compared to the inner table.
        if matches!(kind, JoinKind::Inner | JoinKind::Left) {
            if let LPlan::Scan {
                table,
                cols,
                access: Access::Seq,
                ..
            } = &right
            {
                let lrows = self.rows(&left);
                let rrows = self.rows(&right);
                let trows = self.table_rows(table);
                // A hash join reads the inner table once; the alternative
                // is one index scan per outer row.
                let hash_cost =
                    trows * SEQ_ROW_COST + rrows * HASH_BUILD_ROW_COST + lrows * CPU_OPERATOR_COST;
                let mut key_sel = 1.0;
                for (a, b) in &keys {
                    let eq = LExpr::new(
                        LKind::Binary(BinaryOp::Eq, Box::new(a.clone()), Box::new(b.clone())),
                        DataType::BOOL,
                    );
                    key_sel *= self.selectivity(&eq);
                }
                let per_lookup = (rrows * key_sel).max(1.0);
                if lrows * index_scan_cost(per_lookup) < hash_cost {
                    let idxs = self.indexes(table.id);
                    for idx in idxs {
                        let mut probe = Vec::new();
                        let mut used = Vec::new();
                        for c in idx.columns.iter() {
                            let pos = keys.iter().position(|(lk, rk)| {
                                bare_col(rk)
                                    .map(|x| cols.get(*c as usize) == Some(&x))
                                    .unwrap_or(false)
                                    && lk.ty == rk.ty
                            });
                            match pos {
                                Some(p) => {
                                    probe.push(keys[p].0.clone());
                                    used.push(p);
                                }
                                None => break,
                            }
                        }
                        if probe.is_empty() {
                            continue;
                        }
                        let mut right = right.clone();
                        set_scan_access(
                            &mut right,
                            Access::Index {
                                index: idx.id,
                                probe: LProbe::Eq(probe),
                                reverse: false,
                            },
                        );
                        // Rows per lookup: the inner rows matching the used
                        // keys (n_distinct from ANALYZE when there is one).
                        let mut sel = 1.0;
                        for k in &used {
                            let (a, b) = &keys[*k];
                            let eq = LExpr::new(
                                LKind::Binary(
                                    BinaryOp::Eq,
                                    Box::new(a.clone()),
                                    Box::new(b.clone()),
                                ),
                                DataType::BOOL,
                            );
                            sel *= self.selectivity(&eq);
                        }
                        let per = (rrows * sel).max(1.0);
                        if let LPlan::Scan { est_rows, .. } = &mut right {
                            *est_rows = if idx.unique && used.len() == idx.columns.len() {
                                1.0
                            } else {
                                per
                            };
                        }
                        let mut res = residual.clone();
                        for (k, (a, b)) in keys.iter().enumerate() {
                            if !used.contains(&k) {
                                res.push(LExpr::new(
                                    LKind::Binary(
                                        BinaryOp::Eq,
                                        Box::new(a.clone()),
                                        Box::new(b.clone()),
                                    ),
                                    DataType::BOOL,
                                ));
                            }
                        }
                        return LPlan::Join {
                            kind,
                            left: Box::new(left),
                            right: Box::new(right),
                            on: vec![],
                            lateral: true,
                            method: Some(JoinChoice {
                                method: JoinMethod::NestedLoop,
                                keys: vec![],
                                residual: res,
                                param_lookup: true,
                            }),
                        };
                    }
                }
            }
        }
        let hash = LPlan::Join {
            kind,
            left: Box::new(left),
            right: Box::new(right),
            on: vec![],
            lateral: false,
            method: Some(JoinChoice {
                method: JoinMethod::Hash,
                keys,
                residual,
                param_lookup: false,
            }),
        };
        self.consider_merge(hash, want)
    }

    /// Replaces a hash join by a merge join when that is cheaper: inputs
    /// already in key order (or cheaply read through an index in key order)
    /// spare the sorts, and a Sort above on the key becomes redundant.
    fn consider_merge(&mut self, hash: LPlan, want: &[ColId]) -> LPlan {
        let LPlan::Join {
            kind,
            left,
            right,
            method: Some(choice),
            ..
        } = &hash
        else {
            return hash;
        };
        let kind = *kind;
        // The merge compares left and right keys directly: same types only.
        if choice.keys.is_empty() || choice.keys.iter().any(|(a, b)| a.ty != b.ty) {
            return hash;
        }
        // Keys on the wanted columns go first so the output follows them.
        let mut keys = choice.keys.clone();
        let mut ordered_keys = Vec::new();
        for w in want {
            let pos = keys.iter().position(|(a, b)| {
                bare_col(a) == Some(*w) || (kind == JoinKind::Inner && bare_col(b) == Some(*w))
            });
            match pos {
                Some(p) => ordered_keys.push(keys.remove(p)),
                None => break,
            }
        }
        let satisfies = !want.is_empty() && ordered_keys.len() == want.len();
        ordered_keys.extend(keys);
        let keys = ordered_keys;
        let (lrows, rrows) = (self.rows(left), self.rows(right));
        let out = self.rows(&hash);
        let (lk, rk) = (bare_col(&keys[0].0), bare_col(&keys[0].1));
        let (lextra, lalt) = self.merge_input_cost(left, lk);
        let (rextra, ralt) = self.merge_input_cost(right, rk);
        let merge_cost = lextra + rextra + (lrows + rrows) * CPU_OPERATOR_COST;
        let mut hash_cost = rrows * HASH_BUILD_ROW_COST + lrows * CPU_OPERATOR_COST;
        let merge = LPlan::Join {
            kind,
            left: Box::new(lalt.unwrap_or_else(|| (**left).clone())),
            right: Box::new(ralt.unwrap_or_else(|| (**right).clone())),
            on: vec![],
            lateral: false,
            method: Some(JoinChoice {
                method: JoinMethod::Merge,
                keys,
                residual: choice.residual.clone(),
                param_lookup: false,
            }),
        };
        if satisfies && self.provides_order(&merge, want) {
            hash_cost += sort_node_cost(out);
        }
        if merge_cost < hash_cost {
            merge
        } else {
            hash
        }
    }
}

fn has_equi(preds: &[LExpr]) -> Vec<usize> {
    preds
        .iter()
        .enumerate()
        .filter(|(_, p)| matches!(p.kind, LKind::Binary(BinaryOp::Eq, _, _)))
        .map(|(i, _)| i)
        .collect()
}

fn flip(op: BinaryOp) -> BinaryOp {
    match op {
        BinaryOp::Lt => BinaryOp::Gt,
        BinaryOp::LtEq => BinaryOp::GtEq,
        BinaryOp::Gt => BinaryOp::Lt,
        BinaryOp::GtEq => BinaryOp::LtEq,
        o => o,
    }
}

pub fn bare_col(e: &LExpr) -> Option<ColId> {
    match e.kind {
        LKind::Col(c) => Some(c),
        _ => None,
    }
}

fn resolve_through_projects(p: &LPlan, c: ColId) -> ColId {
    match p {
        LPlan::Project { input, exprs } => match exprs
            .iter()
            .find(|(id, _)| *id == c)
            .and_then(|(_, e)| bare_col(e))
        {
            Some(inner) => resolve_through_projects(input, inner),
            None => c,
        },
        _ => c,
    }
}

fn set_scan_access(p: &mut LPlan, a: Access) {
    match p {
        LPlan::Scan { access, .. } => *access = a,
        LPlan::Project { input, .. } => set_scan_access(input, a),
        _ => {}
    }
}

fn flatten(p: LPlan, leaves: &mut Vec<LPlan>, preds: &mut Vec<LExpr>) {
    match p {
        LPlan::Join {
            kind: JoinKind::Inner,
            left,
            right,
            on,
            lateral: false,
            method: None,
        } => {
            flatten(*left, leaves, preds);
            flatten(*right, leaves, preds);
            preds.extend(on);
        }
        LPlan::Filter { input, pred }
            if matches!(
                &*input,
                LPlan::Join {
                    kind: JoinKind::Inner,
                    lateral: false,
                    ..
                }
            ) =>
        {
            flatten(*input, leaves, preds);
            preds.extend(pred);
        }
        other => leaves.push(other),
    }
}

/// Applies `f` to each input of the node.
pub fn map_inputs(p: LPlan, f: &mut dyn FnMut(LPlan) -> LPlan) -> LPlan {
    let mut bx = |b: Box<LPlan>| Box::new(f(*b));
    match p {
        LPlan::Filter { input, pred } => LPlan::Filter {
            input: bx(input),
            pred,
        },
        LPlan::Project { input, exprs } => LPlan::Project {
            input: bx(input),
            exprs,
        },
        LPlan::Join {
            kind,
            left,
            right,
            on,
            lateral,
            method,
        } => {
            let left = bx(left);
            let right = bx(right);
            LPlan::Join {
                kind,
                left,
                right,
                on,
                lateral,
                method,
            }
        }
        LPlan::Aggregate { input, group, aggs } => LPlan::Aggregate {
            input: bx(input),
            group,
            aggs,
        },
        LPlan::Window {
            input,
            partition,
            order,
            funcs,
        } => LPlan::Window {
            input: bx(input),
            partition,
            order,
            funcs,
        },
        LPlan::Sort { input, keys } => LPlan::Sort {
            input: bx(input),
            keys,
        },
        LPlan::Limit {
            input,
            limit,
            offset,
        } => LPlan::Limit {
            input: bx(input),
            limit,
            offset,
        },
        LPlan::Distinct { input, on } => LPlan::Distinct {
            input: bx(input),
            on,
        },
        LPlan::SetOp {
            op,
            all,
            left,
            right,
            cols,
        } => {
            let left = bx(left);
            let right = bx(right);
            LPlan::SetOp {
                op,
                all,
                left,
                right,
                cols,
            }
        }
        LPlan::RecursiveUnion {
            anchor,
            recursive,
            worktable,
            all,
            cols,
        } => {
            let anchor = bx(anchor);
            let recursive = bx(recursive);
            LPlan::RecursiveUnion {
                anchor,
                recursive,
                worktable,
                all,
                cols,
            }
        }
        leaf => leaf,
    }
}

fn wrap_filter(p: LPlan, preds: Vec<LExpr>) -> LPlan {
    if preds.is_empty() {
        p
    } else {
        LPlan::Filter {
            input: Box::new(p),
            pred: preds,
        }
    }
}

/// Splits predicates at a node that defines columns by expressions
/// (projection, grouping): those `can_pass` lets through are rewritten in
/// terms of the node's input, the rest stay above it.
fn split_through(
    preds: Vec<LExpr>,
    defs: &[(ColId, LExpr)],
    can_pass: impl Fn(&LExpr) -> bool,
) -> (Vec<LExpr>, Vec<LExpr>) {
    let mut down = Vec::new();
    let mut above = Vec::new();
    for mut e in preds {
        if can_pass(&e) {
            e.replace_cols(&|c| defs.iter().find(|(id, _)| *id == c).map(|(_, x)| x.clone()));
            down.push(e);
        } else {
            above.push(e);
        }
    }
    (down, above)
}

/// Pushes `preds` (conjuncts over `p`'s outputs) as far down as is safe.
pub fn push_down(p: LPlan, mut preds: Vec<LExpr>) -> LPlan {
    match p {
        LPlan::Filter { input, pred } => {
            preds.extend(pred);
            push_down(*input, preds)
        }
        LPlan::Scan {
            table,
            cols,
            used,
            mut filter,
            row_id,
            lock,
            access,
            est_rows,
        } => {
            // Predicates on the row id stay above the scan.
            let (mine, above): (Vec<LExpr>, Vec<LExpr>) = preds
                .into_iter()
                .partition(|e| row_id.map(|r| !e.col_set().contains(&r)).unwrap_or(true));
            filter.extend(mine);
            wrap_filter(
                LPlan::Scan {
                    table,
                    cols,
                    used,
                    filter,
                    row_id,
                    lock,
                    access,
                    est_rows,
                },
                above,
            )
        }
        LPlan::Join {
            kind,
            left,
            right,
            on,
            lateral,
            method,
        } => {
            let lo: HashSet<ColId> = left.outputs().into_iter().collect();
            let ro: HashSet<ColId> = right.outputs().into_iter().collect();
            let local = |e: &LExpr| -> (bool, bool) {
                let cs = e.col_set();
                let l = cs.iter().any(|c| lo.contains(c));
                let r = cs.iter().any(|c| ro.contains(c));
                (l, r)
            };
            let mut lp = Vec::new();
            let mut rp = Vec::new();
            let mut keep_on = Vec::new();
            let mut above = Vec::new();
            let all: Vec<(LExpr, bool)> = preds
                .into_iter()
                .map(|e| (e, true))
                .chain(on.into_iter().map(|e| (e, false)))
                .collect();
            for (e, from_where) in all {
                let (l, r) = local(&e);
                let movable = !e.is_volatile();
                match kind {
                    JoinKind::Inner | JoinKind::Cross => {
                        if movable && !r {
                            lp.push(e)
                        } else if movable && !l && !lateral {
                            rp.push(e)
                        } else {
                            keep_on.push(e)
                        }
                    }
                    JoinKind::Left | JoinKind::Semi | JoinKind::Anti => {
                        if from_where {
                            if movable && !r {
                                lp.push(e)
                            } else {
                                above.push(e)
                            }
                        } else if movable && !l && !lateral {
                            rp.push(e)
                        } else {
                            keep_on.push(e)
                        }
                    }
                    JoinKind::Right => {
                        if from_where {
                            if movable && !l && !lateral {
                                rp.push(e)
                            } else {
                                above.push(e)
                            }
                        } else if movable && !r {
                            lp.push(e)
                        } else {
                            keep_on.push(e)
                        }
                    }
                    JoinKind::Full => {
                        if from_where {
                            above.push(e)
                        } else {
                            keep_on.push(e)
                        }
                    }
                }
            }
            let left = push_down(*left, lp);
            let right = push_down(*right, rp);
            wrap_filter(
                LPlan::Join {
                    kind,
                    left: Box::new(left),
                    right: Box::new(right),
                    on: keep_on,
                    lateral,
                    method,
                },
                above,
            )
        }
        LPlan::Project { input, exprs } => {
            let (down, above) = split_through(preds, &exprs, |e| {
                e.col_set()
                    .iter()
                    .all(|c| match exprs.iter().find(|(id, _)| id == c) {
                        Some((_, x)) => !x.is_volatile() && !x.has_subquery(),
                        None => true,
                    })
            });
            let input = push_down(*input, down);
            wrap_filter(
                LPlan::Project {
                    input: Box::new(input),
                    exprs,
                },
                above,
            )
        }
        LPlan::Aggregate { input, group, aggs } => {
            let (down, above) = split_through(preds, &group, |e| {
                let cs = e.col_set();
                !e.is_volatile() && aggs.iter().all(|(id, _)| !cs.contains(id)) && !group.is_empty()
            });
            let input = push_down(*input, down);
            wrap_filter(
                LPlan::Aggregate {
                    input: Box::new(input),
                    group,
                    aggs,
                },
                above,
            )
        }
        LPlan::Sort { input, keys } => LPlan::Sort {
            input: Box::new(push_down(*input, preds)),
            keys,
        },
        other => {
            let p = map_inputs(other, &mut |c| push_down(c, vec![]));
            wrap_filter(p, preds)
        }
    }
}

/// Restricts scans to the columns something above needs.
pub fn prune(p: &mut LPlan, required: &HashSet<ColId>) {
    let mut need: HashSet<ColId> = required.clone();
    p.for_each_expr(&mut |e| e.cols(&mut need));
    match p {
        LPlan::Scan { cols, used, .. } => {
            let u: Vec<usize> = (0..cols.len())
                .filter(|i| need.contains(&cols[*i]))
                .collect();
            *used = Some(u);
        }
        LPlan::Join {
            left,
            right,
            lateral,
            ..
        } => {
            if *lateral {
                right.all_cols(&mut need);
            }
            prune(left, &need);
            prune(right, &need);
        }
        LPlan::Distinct { input, on } if on.is_empty() => {
            let all: HashSet<ColId> = input.outputs().into_iter().collect();
            prune(input, &all);
        }
        LPlan::SetOp { left, right, .. }
        | LPlan::RecursiveUnion {
            anchor: left,
            recursive: right,
            ..
        } => {
            let l: HashSet<ColId> = left.outputs().into_iter().collect();
            let r: HashSet<ColId> = right.outputs().into_iter().collect();
            prune(left, &l);
            prune(right, &r);
        }
        LPlan::Filter { input, .. }
        | LPlan::Project { input, .. }
        | LPlan::Aggregate { input, .. }
        | LPlan::Window { input, .. }
        | LPlan::Sort { input, .. }
        | LPlan::Limit { input, .. }
        | LPlan::Distinct { input, .. } => prune(input, &need),
        _ => {}
    }
}

/// Renames column ids throughout a plan (GROUP BY outer references).
pub fn rename_cols_in_plan(p: &mut LPlan, map: &[(ColId, ColId)]) {
    let f = |c: ColId| map.iter().find(|(a, _)| *a == c).map(|(_, b)| *b);
    fn fix(e: &mut LExpr, f: &dyn Fn(ColId) -> Option<ColId>, map: &[(ColId, ColId)]) {
        if let LKind::Col(c) = e.kind {
            if let Some(n) = f(c) {
                e.kind = LKind::Col(n);
            }
        }
        if let LKind::Subquery { plan, .. } = &mut e.kind {
            rename_cols_in_plan(plan, map);
        }
        for c in e.children_mut() {
            fix(c, f, map);
        }
    }
    for_each_expr_mut(p, &mut |e| fix(e, &f, map));
    match p {
        LPlan::Filter { input, .. }
        | LPlan::Project { input, .. }
        | LPlan::Aggregate { input, .. }
        | LPlan::Window { input, .. }
        | LPlan::Sort { input, .. }
        | LPlan::Limit { input, .. }
        | LPlan::Distinct { input, .. } => rename_cols_in_plan(input, map),
        LPlan::Join { left, right, .. } | LPlan::SetOp { left, right, .. } => {
            rename_cols_in_plan(left, map);
            rename_cols_in_plan(right, map);
        }
        LPlan::RecursiveUnion {
            anchor, recursive, ..
        } => {
            rename_cols_in_plan(anchor, map);
            rename_cols_in_plan(recursive, map);
        }
        _ => {}
    }
}

fn for_each_expr_mut(p: &mut LPlan, f: &mut dyn FnMut(&mut LExpr)) {
    match p {
        LPlan::Scan { filter, .. } => filter.iter_mut().for_each(f),
        LPlan::Values { rows, .. } => rows.iter_mut().flatten().for_each(f),
        LPlan::TableFunc { args, .. } => args.iter_mut().for_each(f),
        LPlan::Filter { pred, .. } => pred.iter_mut().for_each(f),
        LPlan::Project { exprs, .. } => exprs.iter_mut().for_each(|(_, e)| f(e)),
        LPlan::Join { on, .. } => on.iter_mut().for_each(f),
        LPlan::Aggregate { group, aggs, .. } => {
            group.iter_mut().for_each(|(_, e)| f(e));
            for (_, a) in aggs {
                a.args.iter_mut().for_each(&mut *f);
                a.filter.iter_mut().for_each(&mut *f);
                a.order_by.iter_mut().for_each(|k| f(&mut k.expr));
            }
        }
        LPlan::Window {
            partition,
            order,
            funcs,
            ..
        } => {
            partition.iter_mut().for_each(&mut *f);
            order.iter_mut().for_each(|k| f(&mut k.expr));
            for (_, w) in funcs {
                w.args.iter_mut().for_each(&mut *f);
            }
        }
        LPlan::Sort { keys, .. } => keys.iter_mut().for_each(|k| f(&mut k.expr)),
        LPlan::Limit { limit, offset, .. } => limit.iter_mut().chain(offset.iter_mut()).for_each(f),
        LPlan::Distinct { on, .. } => on.iter_mut().for_each(f),
        _ => {}
    }
}
