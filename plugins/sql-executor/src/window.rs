//! Window functions. The input is materialised and sorted by
//! (PARTITION BY, ORDER BY); each function is computed per partition over
//! its frame (ROWS / RANGE with value offsets / GROUPS). Aggregates over the
//! default running frame are computed incrementally.

use aiondb_sdk::abi_stable::std_types::ROption::{RNone, RSome};
use aiondb_sdk::plan::{FrameBound, FrameMode, NodeRef, Operator, WindowFunc};
use aiondb_sdk::prelude::*;
use aiondb_sdk::value::ops::BinaryOp;

use crate::agg::Acc;
use crate::expr::{compile, compile_list0, key_cmp, CExpr};
use crate::ops::{cmp_keys, compile_keys, input_of, rows_equal, CKey, Op};
use crate::shared::*;

enum CBound {
    UnboundedPreceding,
    Preceding(CExpr),
    CurrentRow,
    Following(CExpr),
    UnboundedFollowing,
}

struct CWin {
    func: WindowFunc,
    args: Vec<CExpr>,
    filter: Option<CExpr>,
    mode: FrameMode,
    start: CBound,
    end: CBound,
    result_type: DataType,
}

pub(crate) fn build(cx: &mut EvalCx, plan: &Plan, n: NodeRef) -> DbResult<Box<dyn Op>> {
    let node = node_of(plan, n)?;
    let Operator::Window {
        partition_by,
        order_by,
        functions,
    } = &node.op
    else {
        return Err(bad_plan("not a window node"));
    };
    let child = crate::ops::build(cx, plan, input_of(plan, n, 0)?)?;
    let mut funcs = Vec::new();
    for f in functions.iter() {
        let mut bound = |b: &FrameBound| -> DbResult<CBound> {
            Ok(match b {
                FrameBound::UnboundedPreceding => CBound::UnboundedPreceding,
                FrameBound::Preceding(e) => CBound::Preceding(compile(cx, plan, *e, &[0])?),
                FrameBound::CurrentRow => CBound::CurrentRow,
                FrameBound::Following(e) => CBound::Following(compile(cx, plan, *e, &[0])?),
                FrameBound::UnboundedFollowing => CBound::UnboundedFollowing,
            })
        };
        let start = bound(&f.frame.start)?;
        let end = bound(&f.frame.end)?;
        funcs.push(CWin {
            func: f.func,
            args: compile_list0(cx, plan, &f.args)?,
            filter: match &f.filter {
                RSome(e) => Some(compile(cx, plan, *e, &[0])?),
                RNone => None,
            },
            mode: f.frame.mode,
            start,
            end,
            result_type: f.result_type,
        });
    }
    Ok(Box::new(WindowOp {
        child,
        partition: compile_list0(cx, plan, partition_by)?,
        order: compile_keys(cx, plan, order_by)?,
        funcs,
        out: Vec::new(),
        pos: 0,
        held: 0,
    }))
}

struct WindowOp {
    child: Box<dyn Op>,
    partition: Vec<CExpr>,
    order: Vec<CKey>,
    funcs: Vec<CWin>,
    out: Vec<Vec<Value>>,
    pos: usize,
    held: u64,
}

struct Row {
    part: Vec<Value>,
    keys: Vec<Value>,
    row: Vec<Value>,
}

fn offset_value(cx: &mut EvalCx, e: &CExpr, row: &[Value], mode: FrameMode) -> DbResult<Value> {
    let v = e.eval(cx, row)?;
    if v.is_null() {
        return Err(AionError::new(
            SqlState::new(b"22013"),
            "frame starting offset must not be null",
        ));
    }
    if mode != FrameMode::Range {
        let n = v.as_i64().unwrap_or(0);
        if n < 0 {
            return Err(AionError::new(
                SqlState::new(b"22013"),
                "frame starting offset must not be negative",
            ));
        }
    }
    Ok(v)
}

impl WindowOp {
    /// Computes every function over one partition.
    #[allow(clippy::needless_range_loop)] // rows, groups and results share indexes
    fn partition(&self, cx: &mut EvalCx, rows: &[Row], out: &mut Vec<Vec<Value>>) -> DbResult<()> {
        let n = rows.len();
        // Peer groups: group index per row and each group's [start, end).
        let mut group = vec![0usize; n];
        let mut gstart = Vec::new();
        let mut gend = Vec::new();
        for i in 0..n {
            if i == 0 || !rows_equal(&rows[i].keys, &rows[i - 1].keys) {
                if i > 0 {
                    gend.push(i);
                }
                gstart.push(i);
            }
            group[i] = gstart.len() - 1;
        }
        if n > 0 {
            gend.push(n);
        }
        let mut results: Vec<Vec<Value>> = vec![Vec::with_capacity(self.funcs.len()); n];
        for f in &self.funcs {
            // Arguments and filter per row.
            let mut args: Vec<Vec<Value>> = Vec::with_capacity(n);
            let mut pass: Vec<bool> = Vec::with_capacity(n);
            for r in rows {
                cx.tick()?;
                let mut a = Vec::with_capacity(f.args.len());
                for e in &f.args {
                    a.push(e.eval(cx, &r.row)?);
                }
                args.push(a);
                pass.push(match &f.filter {
                    Some(e) => e.test(cx, &r.row)?,
                    None => true,
                });
            }
            let arg = |i: usize, k: usize| args[i].get(k).cloned().unwrap_or(Value::Null);
            match f.func {
                WindowFunc::RowNumber => {
                    for (i, res) in results.iter_mut().enumerate() {
                        res.push(Value::Int8(i as i64 + 1));
                    }
                }
                WindowFunc::Rank => {
                    for i in 0..n {
                        results[i].push(Value::Int8(gstart[group[i]] as i64 + 1));
                    }
                }
                WindowFunc::DenseRank => {
                    for i in 0..n {
                        results[i].push(Value::Int8(group[i] as i64 + 1));
                    }
                }
                WindowFunc::PercentRank => {
                    for i in 0..n {
                        let v = if n <= 1 {
                            0.0
                        } else {
                            gstart[group[i]] as f64 / (n - 1) as f64
                        };
                        results[i].push(Value::Float8(v));
                    }
                }
                WindowFunc::CumeDist => {
                    for i in 0..n {
                        results[i].push(Value::Float8(gend[group[i]] as f64 / n as f64));
                    }
                }
                WindowFunc::Ntile => {
                    for i in 0..n {
                        let k = arg(i, 0);
                        let Some(k) = k.as_i64() else {
                            results[i].push(Value::Null);
                            continue;
                        };
                        if k <= 0 {
                            return Err(AionError::new(
                                SqlState::new(b"22014"),
                                "argument of ntile must be greater than zero",
                            ));
                        }
                        let k = k as usize;
                        let per = n / k;
                        let extra = n % k;
                        // The first `extra` buckets hold `per + 1` rows.
                        let big = extra * (per + 1);
                        let b = if i < big {
                            i / (per + 1)
                        } else {
                            extra + (i - big) / per.max(1)
                        };
                        results[i].push(Value::Int4(b as i32 + 1));
                    }
                }
                WindowFunc::Lag | WindowFunc::Lead => {
                    for i in 0..n {
                        let off = if f.args.len() > 1 {
                            match arg(i, 1).as_i64() {
                                Some(o) => o,
                                None => {
                                    results[i].push(Value::Null);
                                    continue;
                                }
                            }
                        } else {
                            1
                        };
                        let j = if f.func == WindowFunc::Lag {
                            i as i64 - off
                        } else {
                            i as i64 + off
                        };
                        let v = if j >= 0 && (j as usize) < n {
                            arg(j as usize, 0)
                        } else if f.args.len() > 2 {
                            arg(i, 2)
                        } else {
                            Value::Null
                        };
                        results[i].push(v);
                    }
                }
                _ => {
                    self.framed(
                        cx,
                        f,
                        rows,
                        &group,
                        &gstart,
                        &gend,
                        &args,
                        &pass,
                        &mut results,
                    )?;
                }
            }
        }
        for (r, res) in rows.iter().zip(results) {
            let mut row = r.row.clone();
            row.extend(res);
            out.push(row);
        }
        Ok(())
    }

    /// Frame bounds [start, end) of row `i`.
    #[allow(clippy::too_many_arguments)]
    fn frame(
        &self,
        cx: &mut EvalCx,
        f: &CWin,
        rows: &[Row],
        i: usize,
        group: &[usize],
        gstart: &[usize],
        gend: &[usize],
    ) -> DbResult<(usize, usize)> {
        let n = rows.len();
        let g = group[i];
        let ngroups = gstart.len();
        let bound = |cx: &mut EvalCx, b: &CBound, is_start: bool| -> DbResult<usize> {
            Ok(match b {
                CBound::UnboundedPreceding => 0,
                CBound::UnboundedFollowing => n,
                CBound::CurrentRow => match f.mode {
                    FrameMode::Rows => {
                        if is_start {
                            i
                        } else {
                            i + 1
                        }
                    }
                    _ => {
                        if is_start {
                            gstart[g]
                        } else {
                            gend[g]
                        }
                    }
                },
                CBound::Preceding(e) | CBound::Following(e) => {
                    let preceding = matches!(b, CBound::Preceding(_));
                    let v = offset_value(cx, e, &rows[i].row, f.mode)?;
                    match f.mode {
                        FrameMode::Rows => {
                            let o = v.as_i64().unwrap_or(0);
                            let t = if preceding {
                                i as i64 - o
                            } else {
                                i as i64 + o
                            };
                            let t = if is_start { t } else { t + 1 };
                            t.clamp(0, n as i64) as usize
                        }
                        FrameMode::Groups => {
                            let o = v.as_i64().unwrap_or(0);
                            let tg = if preceding {
                                g as i64 - o
                            } else {
                                g as i64 + o
                            };
                            if is_start {
                                if tg < 0 {
                                    0
                                } else if tg as usize >= ngroups {
                                    n
                                } else {
                                    gstart[tg as usize]
                                }
                            } else if tg < 0 {
                                0
                            } else if tg as usize >= ngroups {
                                n
                            } else {
                                gend[tg as usize]
                            }
                        }
                        FrameMode::Range => {
                            let Some(k) = self.order.first() else {
                                return Err(AionError::new(
                                    SqlState::new(b"42P20"),
                                    "RANGE with offset PRECEDING/FOLLOWING requires exactly one ORDER BY column",
                                ));
                            };
                            let cur = &rows[i].keys[0];
                            if cur.is_null() {
                                return Ok(if is_start { gstart[g] } else { gend[g] });
                            }
                            // Moving "forward" in sort order adds the offset
                            // when ascending and subtracts it when descending.
                            let forward = !preceding;
                            let op = if forward != k.desc {
                                BinaryOp::Add
                            } else {
                                BinaryOp::Sub
                            };
                            let target = eval_binary(op, cur, &v)?;
                            // Rows are sorted on this key, so both tests are monotone.
                            if is_start {
                                rows.partition_point(|r| {
                                    key_cmp(&r.keys[0], &target, k.desc, k.nulls_first).is_lt()
                                })
                            } else {
                                rows.partition_point(|r| {
                                    !key_cmp(&r.keys[0], &target, k.desc, k.nulls_first).is_gt()
                                })
                            }
                        }
                    }
                }
            })
        };
        let s = bound(cx, &f.start, true)?;
        let e = bound(cx, &f.end, false)?;
        Ok((s, e.max(s)))
    }

    #[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
    fn framed(
        &self,
        cx: &mut EvalCx,
        f: &CWin,
        rows: &[Row],
        group: &[usize],
        gstart: &[usize],
        gend: &[usize],
        args: &[Vec<Value>],
        pass: &[bool],
        results: &mut [Vec<Value>],
    ) -> DbResult<()> {
        let n = rows.len();
        let running = matches!(f.start, CBound::UnboundedPreceding)
            && matches!(f.end, CBound::CurrentRow | CBound::UnboundedFollowing);
        if let WindowFunc::Aggregate(func) = f.func {
            if running {
                // Frame [0, end(i)) with end non-decreasing: add incrementally.
                let mut acc = Acc::new(func);
                let mut added = 0;
                for i in 0..n {
                    cx.tick()?;
                    let (_, e) = self.frame(cx, f, rows, i, group, gstart, gend)?;
                    while added < e {
                        if pass[added] {
                            acc.add(func, &args[added])?;
                        }
                        added += 1;
                    }
                    results[i].push(acc.finish(func, &f.result_type)?);
                }
                return Ok(());
            }
            for i in 0..n {
                cx.tick()?;
                let (s, e) = self.frame(cx, f, rows, i, group, gstart, gend)?;
                let mut acc = Acc::new(func);
                for j in s..e {
                    if pass[j] {
                        acc.add(func, &args[j])?;
                    }
                }
                results[i].push(acc.finish(func, &f.result_type)?);
            }
            return Ok(());
        }
        for i in 0..n {
            cx.tick()?;
            let (s, e) = self.frame(cx, f, rows, i, group, gstart, gend)?;
            let pick = |j: usize| args[j].first().cloned().unwrap_or(Value::Null);
            let v = match f.func {
                WindowFunc::FirstValue => {
                    if s < e {
                        pick(s)
                    } else {
                        Value::Null
                    }
                }
                WindowFunc::LastValue => {
                    if s < e {
                        pick(e - 1)
                    } else {
                        Value::Null
                    }
                }
                WindowFunc::NthValue => {
                    let k = args[i].get(1).and_then(Value::as_i64).unwrap_or(0);
                    if k <= 0 {
                        return Err(AionError::new(
                            SqlState::new(b"22016"),
                            "argument of nth_value must be greater than zero",
                        ));
                    }
                    let j = s + (k as usize - 1);
                    if j < e {
                        pick(j)
                    } else {
                        Value::Null
                    }
                }
                _ => Value::Null,
            };
            results[i].push(v);
        }
        Ok(())
    }
}

impl Op for WindowOp {
    fn open(&mut self, cx: &mut EvalCx) -> DbResult<()> {
        cx.release(self.held);
        self.held = 0;
        self.out.clear();
        self.pos = 0;
        self.child.open(cx)?;
        let mut rows: Vec<Row> = Vec::new();
        while self.child.advance(cx)? {
            cx.tick()?;
            let row = self.child.current();
            let mut part = Vec::with_capacity(self.partition.len());
            for e in &self.partition {
                part.push(e.eval(cx, row)?);
            }
            let keys = crate::ops::eval_keys(cx, &self.order, row)?;
            let b = row_bytes(row) * 2 + row_bytes(&part) + row_bytes(&keys);
            cx.reserve(b)?;
            self.held += b;
            rows.push(Row {
                part,
                keys,
                row: row.to_vec(),
            });
        }
        self.child.close(cx);
        let order = &self.order;
        rows.sort_by(|a, b| {
            for (x, y) in a.part.iter().zip(b.part.iter()) {
                let o = sort_cmp(x, y);
                if o.is_ne() {
                    return o;
                }
            }
            cmp_keys(order, &a.keys, &b.keys)
        });
        let mut out = Vec::with_capacity(rows.len());
        let mut start = 0;
        while start < rows.len() {
            let mut end = start + 1;
            while end < rows.len() && rows_equal(&rows[end].part, &rows[start].part) {
                end += 1;
            }
            self.partition(cx, &rows[start..end], &mut out)?;
            start = end;
        }
        self.out = out;
        Ok(())
    }
    fn advance(&mut self, _cx: &mut EvalCx) -> DbResult<bool> {
        if self.pos < self.out.len() {
            self.pos += 1;
            Ok(true)
        } else {
            Ok(false)
        }
    }
    fn current(&self) -> &[Value] {
        self.out
            .get(self.pos.wrapping_sub(1))
            .map(|r| r.as_slice())
            .unwrap_or(&[])
    }
    fn close(&mut self, cx: &mut EvalCx) {
        cx.release(self.held);
        self.held = 0;
        self.out = Vec::new();
    }
}
