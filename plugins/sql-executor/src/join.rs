//! Joins: nested loop (with LATERAL re-execution), hash and merge. The
//! right input is materialised; a hash join indexes it by key and streams
//! the left input. A merge join sorts both inputs by their keys and walks
//! them together with a cursor that only moves forward, so its output comes
//! in key order (what a plan above it may rely on).

use aiondb_sdk::abi_stable::std_types::ROption::{RNone, RSome};
use aiondb_sdk::plan::{JoinKind, JoinMethod, NodeRef, Operator};
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
    let merge = matches!(
        node.op,
        Operator::Join {
            method: JoinMethod::Merge,
            ..
        }
    ) && !*lateral
        && !lkeys.is_empty();
    let left: Box<dyn Op> = if merge {
        let keys = left_keys
            .iter()
            .map(|e| compile(cx, plan, *e, &[0, 0]))
            .collect::<DbResult<Vec<_>>>()?;
        Box::new(SortedByKeys {
            input: left,
            keys,
            rows: Vec::new(),
            pos: 0,
            held: 0,
        })
    } else {
        left
    };
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
        merge,
        sorted_right: Vec::new(),
        right_keys_of: Vec::new(),
        merge_pos: 0,
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
    /// Merge join: the left input arrives sorted by its keys
    /// ([`SortedByKeys`]), the right rows are sorted in `sorted_right`.
    merge: bool,
    /// Right row indices with non-NULL keys, in key order.
    sorted_right: Vec<usize>,
    /// Key of each right row (None for NULL keys).
    right_keys_of: Vec<Option<Vec<Value>>>,
    /// First entry of `sorted_right` whose key is not below the current
    /// left key; never moves backwards.
    merge_pos: usize,
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
        if self.merge {
            if fill_key(cx, &self.lkeys, lrow, &mut self.kbuf)? {
                let key_of = |i: usize| self.right_keys_of[i].as_deref().unwrap_or(&[]);
                while self.merge_pos < self.sorted_right.len()
                    && crate::ops::rows_cmp(key_of(self.sorted_right[self.merge_pos]), &self.kbuf)
                        == std::cmp::Ordering::Less
                {
                    self.merge_pos += 1;
                }
                let mut i = self.merge_pos;
                while i < self.sorted_right.len()
                    && crate::ops::rows_cmp(key_of(self.sorted_right[i]), &self.kbuf)
                        == std::cmp::Ordering::Equal
                {
                    self.cands.push(self.sorted_right[i]);
                    i += 1;
                }
            }
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
        self.sorted_right.clear();
        self.right_keys_of.clear();
        self.merge_pos = 0;
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
                if self.merge {
                    self.right_keys_of.push(eval_key(cx, &self.rkeys, row)?);
                } else if !self.rkeys.is_empty() {
                    if let Some(k) = eval_key(cx, &self.rkeys, row)? {
                        self.table.push(k, idx);
                    }
                }
                self.rows.push(row.to_vec());
            }
            self.right.close(cx);
            if self.merge {
                let keys = &self.right_keys_of;
                self.sorted_right = (0..self.rows.len())
                    .filter(|i| keys[*i].is_some())
                    .collect();
                self.sorted_right.sort_by(|a, b| {
                    crate::ops::rows_cmp(
                        keys[*a].as_deref().unwrap_or(&[]),
                        keys[*b].as_deref().unwrap_or(&[]),
                    )
                });
            }
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

/// The left input of a merge join: materialised and sorted by the join keys
/// (rows with a NULL key last, in input order; they match nothing).
struct SortedByKeys {
    input: Box<dyn Op>,
    keys: Vec<CExpr>,
    rows: Vec<(Option<Vec<Value>>, Vec<Value>)>,
    pos: usize,
    held: u64,
}

impl Op for SortedByKeys {
    fn open(&mut self, cx: &mut EvalCx) -> DbResult<()> {
        cx.release(self.held);
        self.held = 0;
        self.rows.clear();
        self.pos = 0;
        self.input.open(cx)?;
        while self.input.advance(cx)? {
            cx.tick()?;
            let row = self.input.current();
            let b = row_bytes(row) + 16;
            cx.reserve(b)?;
            self.held += b;
            let key = eval_key(cx, &self.keys, row)?;
            self.rows.push((key, row.to_vec()));
        }
        self.input.close(cx);
        self.rows.sort_by(|(a, _), (b, _)| match (a, b) {
            (Some(a), Some(b)) => crate::ops::rows_cmp(a, b),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        });
        Ok(())
    }

    fn advance(&mut self, _cx: &mut EvalCx) -> DbResult<bool> {
        if self.pos < self.rows.len() {
            self.pos += 1;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    fn current(&self) -> &[Value] {
        self.rows
            .get(self.pos.wrapping_sub(1))
            .map(|(_, r)| r.as_slice())
            .unwrap_or(&[])
    }

    fn close(&mut self, cx: &mut EvalCx) {
        cx.release(self.held);
        self.held = 0;
        self.rows = Vec::new();
        self.input.close(cx);
    }
}
