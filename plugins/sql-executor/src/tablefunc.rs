//! Set-returning functions in FROM: generate_series (streamed), unnest,
//! json(b)_array_elements(_text), json(b)_each(_text),
//! json(b)_object_keys, generate_subscripts; WITH ORDINALITY.

use aiondb_sdk::plan::TableFunctionCall;
use aiondb_sdk::prelude::*;
use aiondb_sdk::value::ops::BinaryOp;
use aiondb_sdk::value::{parse_json, write_json_string, Json};

use crate::expr::{compile_list0, text_of, CExpr};
use crate::ops::Op;
use crate::shared::*;

pub(crate) fn build(
    cx: &mut EvalCx,
    plan: &Plan,
    call: &TableFunctionCall,
    columns: &Schema,
    ordinality: bool,
) -> DbResult<Box<dyn Op>> {
    if let Some(rel) = aiondb_sdk::syscat::relation_by_qualified_name(call.name.as_str()) {
        return Ok(Box::new(SysRowsOp {
            rel,
            rows: Vec::new(),
            pos: 0,
        }));
    }
    if let Some(spec) = call
        .name
        .as_str()
        .strip_prefix("rows from(")
        .and_then(|r| r.strip_suffix(')'))
    {
        return rows_from(cx, plan, spec, call, columns);
    }
    let name = call.name.to_ascii_lowercase();
    let known = [
        "generate_series",
        "unnest",
        "jsonb_array_elements",
        "jsonb_array_elements_text",
        "json_array_elements",
        "json_array_elements_text",
        "jsonb_each",
        "jsonb_each_text",
        "json_each",
        "json_each_text",
        "jsonb_object_keys",
        "json_object_keys",
        "generate_subscripts",
        "pg_partition_ancestors",
    ];
    if !known.contains(&name.as_str()) {
        return Err(AionError::new(
            SqlState::UNDEFINED_FUNCTION,
            format!("function {name} does not exist"),
        ));
    }
    Ok(Box::new(TableFuncOp {
        name,
        args: compile_list0(cx, plan, &call.args)?,
        types: columns.fields.iter().map(|f| f.data_type).collect(),
        ordinality,
        series: None,
        rows: Vec::new(),
        pos: 0,
        ord: 0,
        buf: Vec::new(),
    }))
}

struct Series {
    cur: Value,
    stop: Value,
    step: Value,
    /// Fast path for integers.
    ints: Option<(i64, i64, i64)>,
    ascending: bool,
    done: bool,
}

struct TableFuncOp {
    name: String,
    args: Vec<CExpr>,
    types: Vec<DataType>,
    ordinality: bool,
    series: Option<Series>,
    rows: Vec<Vec<Value>>,
    pos: usize,
    ord: i64,
    buf: Vec<Value>,
}

fn json_of(v: &Value) -> DbResult<Json> {
    parse_json(&text_of(v), matches!(v, Value::Jsonb(_)))
}

/// Writes JSON in jsonb's output layout.
fn write_json(v: &Json, out: &mut String) {
    match v {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => out.push_str(n),
        Json::String(s) => write_json_string(s, out),
        Json::Array(items) => {
            out.push('[');
            for (k, item) in items.iter().enumerate() {
                if k > 0 {
                    out.push_str(", ");
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Json::Object(members) => {
            out.push('{');
            for (k, (key, val)) in members.iter().enumerate() {
                if k > 0 {
                    out.push_str(", ");
                }
                write_json_string(key, out);
                out.push_str(": ");
                write_json(val, out);
            }
            out.push('}');
        }
    }
}

fn json_value(j: &Json, jsonb: bool) -> Value {
    let mut s = String::new();
    write_json(j, &mut s);
    if jsonb {
        Value::Jsonb(s.into())
    } else {
        Value::Json(s.into())
    }
}

fn json_text(j: &Json) -> Value {
    match j {
        Json::Null => Value::Null,
        Json::String(s) => Value::text(s.as_str()),
        other => {
            let mut s = String::new();
            write_json(other, &mut s);
            Value::text(s)
        }
    }
}

impl TableFuncOp {
    fn start(&mut self, cx: &mut EvalCx) -> DbResult<()> {
        let mut args = Vec::with_capacity(self.args.len());
        for a in &self.args {
            args.push(a.eval(cx, &[])?);
        }
        self.rows.clear();
        self.series = None;
        let jsonb = self.name.starts_with("jsonb");
        match self.name.as_str() {
            "pg_partition_ancestors" => {
                if let Some(v) = args.first().filter(|v| !v.is_null()) {
                    self.rows.push(vec![v.clone()]);
                }
            }
            "generate_series" => {
                if args.len() < 2 || args.iter().any(Value::is_null) {
                    return Ok(());
                }
                let step = match args.get(2) {
                    Some(s) => s.clone(),
                    None => match &args[0] {
                        Value::Int2(_) | Value::Int4(_) | Value::Int8(_) => Value::Int8(1),
                        Value::Numeric(_) => {
                            Value::Numeric(aiondb_sdk::value::Numeric::from_i64(1))
                        }
                        _ => {
                            return Err(AionError::new(
                                SqlState::UNDEFINED_FUNCTION,
                                "function generate_series(timestamp, timestamp) does not exist",
                            ))
                        }
                    },
                };
                let ints = match (args[0].as_i64(), args[1].as_i64(), step.as_i64()) {
                    (Some(a), Some(b), Some(s)) => Some((a, b, s)),
                    _ => None,
                };
                let zero = match &step {
                    Value::Interval(iv) => iv.months == 0 && iv.days == 0 && iv.micros == 0,
                    Value::Numeric(n) => n.is_zero(),
                    other => other.as_i64() == Some(0),
                };
                if zero {
                    return Err(AionError::new(
                        SqlState::INVALID_PARAMETER_VALUE,
                        "step size cannot equal zero",
                    ));
                }
                let ascending = match &step {
                    Value::Interval(_) => {
                        let next = eval_binary(BinaryOp::Add, &args[0], &step)?;
                        sql_cmp(&next, &args[0]).is_none_or(|o| o.is_gt())
                    }
                    Value::Numeric(n) => !n.negative,
                    other => other.as_i64().unwrap_or(1) > 0,
                };
                self.series = Some(Series {
                    cur: args[0].clone(),
                    stop: args[1].clone(),
                    step,
                    ints,
                    ascending,
                    done: false,
                });
            }
            "unnest" => {
                let mut cols: Vec<Vec<Value>> = Vec::new();
                for a in &args {
                    cols.push(match a {
                        Value::Array(arr) => arr.elements.to_vec(),
                        Value::Null => Vec::new(),
                        _ => return Err(bad_plan("unnest of a non-array")),
                    });
                }
                let n = cols.iter().map(Vec::len).max().unwrap_or(0);
                for i in 0..n {
                    self.rows.push(
                        cols.iter()
                            .map(|c| c.get(i).cloned().unwrap_or(Value::Null))
                            .collect(),
                    );
                }
            }
            "jsonb_array_elements"
            | "json_array_elements"
            | "jsonb_array_elements_text"
            | "json_array_elements_text" => {
                let Some(v) = args.first().filter(|v| !v.is_null()) else {
                    return Ok(());
                };
                let Json::Array(items) = json_of(v)? else {
                    return Err(AionError::new(
                        SqlState::INVALID_PARAMETER_VALUE,
                        "cannot extract elements from an object",
                    ));
                };
                let text = self.name.ends_with("_text");
                for it in &items {
                    self.rows.push(vec![if text {
                        json_text(it)
                    } else {
                        json_value(it, jsonb)
                    }]);
                }
            }
            "jsonb_each" | "json_each" | "jsonb_each_text" | "json_each_text"
            | "jsonb_object_keys" | "json_object_keys" => {
                let Some(v) = args.first().filter(|v| !v.is_null()) else {
                    return Ok(());
                };
                let Json::Object(members) = json_of(v)? else {
                    let what = if self.name.ends_with("object_keys") {
                        format!("cannot call {} on a non-object", self.name)
                    } else {
                        "cannot deconstruct an array as an object".to_string()
                    };
                    return Err(AionError::new(SqlState::INVALID_PARAMETER_VALUE, what));
                };
                let keys_only = self.name.ends_with("object_keys");
                let text = self.name.ends_with("_text");
                for (k, val) in &members {
                    let mut r = vec![Value::text(k.as_str())];
                    if !keys_only {
                        r.push(if text {
                            json_text(val)
                        } else {
                            json_value(val, jsonb)
                        });
                    }
                    self.rows.push(r);
                }
            }
            "generate_subscripts" => {
                let (Some(Value::Array(arr)), Some(dim)) =
                    (args.first(), args.get(1).and_then(Value::as_i64))
                else {
                    return Ok(());
                };
                let reverse = args.get(2).map(truthy).unwrap_or(false);
                if dim < 1 || dim as usize > arr.dims.len() {
                    return Ok(());
                }
                let d = arr.dims[dim as usize - 1];
                let mut subs: Vec<i32> = (d.lower..d.lower + d.len).collect();
                if reverse {
                    subs.reverse();
                }
                for s in subs {
                    self.rows.push(vec![Value::Int4(s)]);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn next_series(&mut self, cx: &mut EvalCx) -> DbResult<Option<Value>> {
        let ty = self.types.first().map(|t| t.id);
        let Some(s) = self.series.as_mut() else {
            return Ok(None);
        };
        if s.done {
            return Ok(None);
        }
        if let Some((cur, stop, step)) = s.ints.as_mut() {
            if (step.is_positive() && *cur > *stop) || (step.is_negative() && *cur < *stop) {
                s.done = true;
                return Ok(None);
            }
            let v = *cur;
            match cur.checked_add(*step) {
                Some(n) => *cur = n,
                None => s.done = true,
            }
            return Ok(Some(match ty {
                Some(TypeId::Int4) => Value::Int4(v as i32),
                Some(TypeId::Int2) => Value::Int2(v as i16),
                _ => Value::Int8(v),
            }));
        }
        let Some(o) = sql_cmp(&s.cur, &s.stop) else {
            s.done = true;
            return Ok(None);
        };
        if (s.ascending && o.is_gt()) || (!s.ascending && o.is_lt()) {
            s.done = true;
            return Ok(None);
        }
        cx.tick()?;
        let next = eval_binary(BinaryOp::Add, &s.cur, &s.step)?;
        let v = std::mem::replace(&mut s.cur, next);
        // generate_series(date, date, interval) resolves to the timestamptz
        // variant: deliver the declared column type.
        match self.types.first() {
            Some(t) if !v.is_null() && v.type_id() != Some(t.id) && t.id != TypeId::Unknown => {
                Ok(Some(cast(&v, t, CoercionKind::Implicit)?))
            }
            _ => Ok(Some(v)),
        }
    }
}

impl Op for TableFuncOp {
    fn open(&mut self, cx: &mut EvalCx) -> DbResult<()> {
        self.pos = 0;
        self.ord = 0;
        self.start(cx)
    }
    fn advance(&mut self, cx: &mut EvalCx) -> DbResult<bool> {
        self.buf.clear();
        if self.series.is_some() {
            match self.next_series(cx)? {
                Some(v) => self.buf.push(v),
                None => return Ok(false),
            }
        } else {
            let Some(r) = self.rows.get(self.pos) else {
                return Ok(false);
            };
            self.pos += 1;
            self.buf.extend_from_slice(r);
        }
        if self.ordinality {
            self.ord += 1;
            self.buf.push(Value::Int8(self.ord));
        }
        Ok(true)
    }
    fn current(&self) -> &[Value] {
        &self.buf
    }
}

/// A system relation (`pg_catalog.pg_class`, ...): its rows are computed
/// from the live catalog each time the scan opens.
struct SysRowsOp {
    rel: &'static aiondb_sdk::syscat::SysRelation,
    rows: Vec<Vec<Value>>,
    /// 1-based position of the current row (0 before the first).
    pos: usize,
}

impl Op for SysRowsOp {
    fn open(&mut self, cx: &mut EvalCx) -> DbResult<()> {
        let scx = aiondb_sdk::syscat::SysCx::new(&cx.ctx, &cx.services);
        self.rows = aiondb_sdk::syscat::rows(self.rel, &scx);
        self.pos = 0;
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
        match self.pos.checked_sub(1).and_then(|p| self.rows.get(p)) {
            Some(r) => r,
            None => &[],
        }
    }
    fn close(&mut self, _cx: &mut EvalCx) {
        self.rows = Vec::new();
    }
}

/// `ROWS FROM (f(..), g(..))`: `spec` lists `name/args/columns` per
/// function; the functions run side by side, shorter ones padded with NULLs.
fn rows_from(
    cx: &mut EvalCx,
    plan: &Plan,
    spec: &str,
    call: &TableFunctionCall,
    columns: &Schema,
) -> DbResult<Box<dyn Op>> {
    let mut subs = Vec::new();
    let (mut arg, mut col) = (0usize, 0usize);
    for part in spec.split(',') {
        let mut it = part.split('/');
        let (Some(name), Some(nargs), Some(ncols)) = (
            it.next(),
            it.next().and_then(|n| n.parse::<usize>().ok()),
            it.next().and_then(|n| n.parse::<usize>().ok()),
        ) else {
            return Err(bad_plan(format!("malformed ROWS FROM item {part}")));
        };
        let (Some(args), Some(fields)) = (
            call.args.get(arg..arg + nargs),
            columns.fields.get(col..col + ncols),
        ) else {
            return Err(bad_plan("ROWS FROM arguments or columns out of range"));
        };
        let sub = TableFunctionCall {
            name: name.into(),
            args: args.iter().copied().collect(),
        };
        let op = build(cx, plan, &sub, &Schema::new(fields.to_vec()), false)?;
        subs.push((op, ncols));
        arg += nargs;
        col += ncols;
    }
    Ok(Box::new(RowsFromOp {
        subs,
        done: Vec::new(),
        buf: Vec::new(),
    }))
}

struct RowsFromOp {
    subs: Vec<(Box<dyn Op>, usize)>,
    done: Vec<bool>,
    buf: Vec<Value>,
}

impl Op for RowsFromOp {
    fn open(&mut self, cx: &mut EvalCx) -> DbResult<()> {
        for (op, _) in self.subs.iter_mut() {
            op.open(cx)?;
        }
        self.done = vec![false; self.subs.len()];
        Ok(())
    }
    fn advance(&mut self, cx: &mut EvalCx) -> DbResult<bool> {
        self.buf.clear();
        let mut any = false;
        for (k, (op, width)) in self.subs.iter_mut().enumerate() {
            let has = !self.done[k] && op.advance(cx)?;
            if has {
                any = true;
                self.buf.extend_from_slice(op.current());
            } else {
                self.done[k] = true;
                self.buf.extend(std::iter::repeat_n(Value::Null, *width));
            }
        }
        Ok(any)
    }
    fn current(&self) -> &[Value] {
        &self.buf
    }
    fn close(&mut self, cx: &mut EvalCx) {
        for (op, _) in self.subs.iter_mut() {
            op.close(cx);
        }
    }
}
