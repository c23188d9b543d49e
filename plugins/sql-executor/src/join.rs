//! Joins: nested loop (with LATERAL re-execution), hash and merge. The
//! right input is materialised (hash table on its keys when there are
//! equi-join keys); the left input streams. Merge joins are run as hash
//! joins probed in left order, which keeps the left input's ordering.

use aiondb_sdk::abi_stable::std_types::ROption::{RNone, RSome};
use aiondb_sdk::plan::{JoinKind, NodeRef, Operator};
use aiondb_sdk::prelude::*;

use crate::expr::{compile, CExpr};
use crate::ops::{input_of, width_of, Op};
use crate::rowtable::RowTable;
use crate::shared::*;

pub(crate) fn build(cx: &mut EvalCx, plan: &Plan, n: NodeRef) -> DbResult<Box<dyn Op>> {
    let node = node_of(plan, n)?;
    let Operator::Join {
        kind,
        condition,
        left_keys,
        right_keys,
        lateral,
        ..
    } = &node.op
    else {
        return Err(bad_plan("not a join"));
    };
    if left_keys.len() != right_keys.len() {
        return Err(bad_plan("join key lists of unequal length"));
    }
    let l = input_of(plan, n, 0)?;
    let r = input_of(plan, n, 1)?;
    let lw = width_of(plan, l)?;
    let rw = width_of(plan, r)?;
    let left = crate::ops::build(cx, plan, l)?;
    let right = crate::ops::build(cx, plan, r)?;
    let cond = match condition {
        RSome(c) => Some(compile(cx, plan, *c, &[0, lw])?),
        RNone => None,
    };
    let lkeys = left_keys
        .iter()
        .map(|e| compile(cx, plan, *e, &[0, 0]))
        .collect::<DbResult<Vec<_>>>()?;
    let rkeys = right_keys
        .iter()
        .map(|e| compile(cx, plan, *e, &[0, 0]))
        .collect::<DbResult<Vec<_>>>()?;
    let kind = if *kind == JoinKind::Cross {
        JoinKind::Inner
    } else {
        *kind
    };
    if *lateral && matches!(kind, JoinKind::Right | JoinKind::Full) {
        return Err(AionError::new(
            SqlState::FEATURE_NOT_SUPPORTED,
            "FULL JOIN is only supported with merge-joinable or hash-joinable join conditions",
        ));
    }
    Ok(Box::new(JoinOp {
        kind,
        lateral: *lateral,
        left,
        right,
        cond,
        lkeys,
        rkeys,
        lw,
        rw,
        rows: Vec::new(),
        table: RowTable::default(),
        kbuf: Vec::new(),
        matched: Vec::new(),
        cands: Vec::new(),
        all_cands: false,
        ci: 0,
        left_live: false,
        left_matched: false,
        phase: Phase::Probe,
        buf: Vec::new(),
        left_only: false,
        left_copy: Vec::new(),
        held: 0,
    }))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Probe,
    Unmatched(usize),
    Done,
}

struct JoinOp {
    kind: JoinKind,
    lateral: bool,
    left: Box<dyn Op>,
    right: Box<dyn Op>,
    cond: Option<CExpr>,
    lkeys: Vec<CExpr>,
    rkeys: Vec<CExpr>,
    lw: usize,
    rw: usize,
    rows: Vec<Vec<Value>>,
    /// Right key -> right row index (duplicates allowed).
    table: RowTable<usize>,
    kbuf: Vec<Value>,
    matched: Vec<bool>,
    cands: Vec<usize>,
    all_cands: bool,
    ci: usize,
    left_live: bool,
    left_matched: bool,
    phase: Phase,
    buf: Vec<Value>,
    left_only: bool,
    left_copy: Vec<Value>,
    held: u64,
}

/// Evaluates join keys into `buf`; false when one is NULL (no match).
fn fill_key(
    cx: &mut EvalCx,
    keys: &[CExpr],
    row: &[Value],
    buf: &mut Vec<Value>,
) -> DbResult<bool> {
    buf.clear();
    for k in keys {
        let v = k.eval(cx, row)?;
        if v.is_null() {
            return Ok(false);
        }
        buf.push(v);
    }
    Ok(true)
}

fn eval_key(cx: &mut EvalCx, keys: &[CExpr], row: &[Value]) -> DbResult<Option<Vec<Value>>> {
    let mut out = Vec::with_capacity(keys.len());
    for k in keys {
        let v = k.eval(cx, row)?;
        // NULL keys never join.
        if v.is_null() {
            return Ok(None);
        }
        out.push(v);
    }
    Ok(Some(out))
}

impl JoinOp {
    fn right_next_lateral(&mut self, cx: &mut EvalCx) -> DbResult<bool> {
        cx.outer.push(std::mem::take(&mut self.left_copy));
        let r = self.right.advance(cx);
        self.left_copy = cx.outer.pop().unwrap_or_default();
        r
    }

    fn start_left(&mut self, cx: &mut EvalCx) -> DbResult<()> {
        self.left_matched = false;
        self.ci = 0;
        self.cands.clear();
        self.all_cands = false;
        let lrow = self.left.current();
        if self.lateral {
            self.left_copy.clear();
            self.left_copy.extend_from_slice(lrow);
            cx.outer.push(std::mem::take(&mut self.left_copy));
            let r = self.right.open(cx);
            self.left_copy = cx.outer.pop().unwrap_or_default();
            return r;
        }
        if self.lkeys.is_empty() {
            self.all_cands = true;
            return Ok(());
        }
        if fill_key(cx, &self.lkeys, lrow, &mut self.kbuf)? {
            let t = &self.table;
            self.cands
                .extend(t.all_matching(&self.kbuf).map(|i| t.vals[i]));
        }
        Ok(())
    }

    /// Builds `left ++ right` in `buf` and tests the residual condition.
    fn try_pair(&mut self, cx: &mut EvalCx, ri: Option<usize>) -> DbResult<bool> {
        let lrow = self.left.current();
        let rrow: &[Value] = match ri {
            Some(i) => self.rows.get(i).map(|r| r.as_slice()).unwrap_or(&[]),
            None => self.right.current(),
        };
        if self.lateral && !self.lkeys.is_empty() {
            let lk = eval_key(cx, &self.lkeys, lrow)?;
            let rk = eval_key(cx, &self.rkeys, rrow)?;
            match (lk, rk) {
                (Some(a), Some(b)) if crate::ops::rows_equal(&a, &b) => {}
                _ => return Ok(false),
            }
        }
        self.buf.clear();
        self.buf.extend_from_slice(lrow);
        self.buf.extend_from_slice(rrow);
        match &self.cond {
            Some(c) => c.test(cx, &self.buf),
            None => Ok(true),
        }
    }
}

impl Op for JoinOp {
    fn open(&mut self, cx: &mut EvalCx) -> DbResult<()> {
        cx.release(self.held);
        self.held = 0;
        self.rows.clear();
        self.table.clear();
        self.matched.clear();
        self.phase = Phase::Probe;
        self.left_live = false;
        if !self.lateral {
            self.right.open(cx)?;
            while self.right.advance(cx)? {
                cx.tick()?;
                let row = self.right.current();
                let b = row_bytes(row) + 16;
                cx.reserve(b)?;
                self.held += b;
                let idx = self.rows.len();
                if !self.rkeys.is_empty() {
                    if let Some(k) = eval_key(cx, &self.rkeys, row)? {
                        self.table.push(k, idx);
                    }
                }
                self.rows.push(row.to_vec());
            }
            self.right.close(cx);
            if matches!(self.kind, JoinKind::Right | JoinKind::Full) {
                self.matched = vec![false; self.rows.len()];
            }
        }
        self.left.open(cx)
    }

    fn advance(&mut self, cx: &mut EvalCx) -> DbResult<bool> {
        loop {
            match self.phase {
                Phase::Done => return Ok(false),
                Phase::Unmatched(pos) => {
                    let next = (pos..self.rows.len()).find(|i| !self.matched[*i]);
                    match next {
                        Some(i) => {
                            self.phase = Phase::Unmatched(i + 1);
                            self.left_only = false;
                            self.buf.clear();
                            self.buf.extend(std::iter::repeat_n(Value::Null, self.lw));
                            self.buf.extend_from_slice(&self.rows[i]);
                            return Ok(true);
                        }
                        None => {
                            self.phase = Phase::Done;
                            return Ok(false);
                        }
                    }
                }
                Phase::Probe => {}
            }
            if !self.left_live {
                if !self.left.advance(cx)? {
                    self.phase = if matches!(self.kind, JoinKind::Right | JoinKind::Full) {
                        Phase::Unmatched(0)
                    } else {
                        Phase::Done
                    };
                    continue;
                }
                self.left_live = true;
                self.start_left(cx)?;
            }
            cx.tick()?;
            // Next candidate right row.
            let cand: Option<Option<usize>> = if self.lateral {
                if self.right_next_lateral(cx)? {
                    Some(None)
                } else {
                    None
                }
            } else if self.all_cands {
                if self.ci < self.rows.len() {
                    self.ci += 1;
                    Some(Some(self.ci - 1))
                } else {
                    None
                }
            } else if self.ci < self.cands.len() {
                self.ci += 1;
                Some(Some(self.cands[self.ci - 1]))
            } else {
                None
            };
            match cand {
                Some(ri) => {
                    if !self.try_pair(cx, ri)? {
                        continue;
                    }
                    self.left_matched = true;
                    if let Some(i) = ri {
                        if let Some(m) = self.matched.get_mut(i) {
                            *m = true;
                        }
                    }
                    match self.kind {
                        JoinKind::Semi => {
                            self.left_live = false;
                            self.left_only = true;
                            return Ok(true);
                        }
                        JoinKind::Anti => {
                            self.left_live = false;
                            continue;
                        }
                        _ => {
                            self.left_only = false;
                            return Ok(true);
                        }
                    }
                }
                None => {
                    self.left_live = false;
                    if !self.left_matched {
                        match self.kind {
                            JoinKind::Left | JoinKind::Full => {
                                self.left_only = false;
                                self.buf.clear();
                                self.buf.extend_from_slice(self.left.current());
                                self.buf.extend(std::iter::repeat_n(Value::Null, self.rw));
                                return Ok(true);
                            }
                            JoinKind::Anti => {
                                self.left_only = true;
                                return Ok(true);
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
    }

    fn current(&self) -> &[Value] {
        if self.left_only {
            self.left.current()
        } else {
            &self.buf
        }
    }

    fn close(&mut self, cx: &mut EvalCx) {
        cx.release(self.held);
        self.held = 0;
        self.rows = Vec::new();
        self.table = RowTable::default();
        self.left.close(cx);
        self.right.close(cx);
    }
}
