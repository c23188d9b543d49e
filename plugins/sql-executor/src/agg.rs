//! Aggregation: accumulators for every `AggFunc` (shared with window
//! functions) and the Aggregate operator (plain, hashed, sorted).

use aiondb_sdk::abi_stable::std_types::ROption::{RNone, RSome};
use aiondb_sdk::plan::{AggCall, AggFunc, AggStrategy, NodeRef, Operator};
use aiondb_sdk::prelude::*;
use aiondb_sdk::value::ops::BinaryOp;
use aiondb_sdk::value::{normalize_jsonb, write_json_string, Numeric};

use crate::expr::{compile, compile_list0, make_array, CExpr};
use crate::ops::{cmp_keys, compile_keys, input_of, CKey, Op};
use crate::rowtable::{hash_row, RowTable};
use crate::shared::*;

/// One compiled aggregate call.
pub(crate) struct AggSpec {
    pub func: AggFunc,
    pub args: Vec<CExpr>,
    pub distinct: bool,
    pub filter: Option<CExpr>,
    pub order_by: Vec<CKey>,
    pub result_type: DataType,
}

pub(crate) fn compile_agg(cx: &mut EvalCx, plan: &Plan, a: &AggCall) -> DbResult<AggSpec> {
    Ok(AggSpec {
        func: a.func,
        args: compile_list0(cx, plan, &a.args)?,
        distinct: a.distinct,
        filter: match &a.filter {
            RSome(f) => Some(compile(cx, plan, *f, &[0])?),
            RNone => None,
        },
        order_by: compile_keys(cx, plan, &a.order_by)?,
        result_type: a.result_type,
    })
}

/// Running state of one aggregate.
pub(crate) enum Acc {
    Count(i64),
    /// Integer sum (or avg) kept exactly.
    IntSum {
        sum: i128,
        n: i64,
    },
    /// Sum (or avg) of other types through `eval_binary`.
    Sum {
        sum: Value,
        n: i64,
    },
    Best(Value),
    Str {
        buf: String,
        any: bool,
    },
    List(Vec<Value>),
    Bool(Option<bool>),
    Bits(Value),
    Json {
        buf: String,
        n: i64,
    },
    /// Variance family: count, mean, M2 (Welford), exact for integers.
    Moments {
        n: i64,
        isum: i128,
        isumsq: i128,
        mean: f64,
        m2: f64,
        ints: bool,
    },
}

impl Acc {
    pub(crate) fn new(func: AggFunc) -> Acc {
        use AggFunc::*;
        match func {
            CountStar | Count => Acc::Count(0),
            Sum | Avg => Acc::IntSum { sum: 0, n: 0 },
            Min | Max => Acc::Best(Value::Null),
            StringAgg => Acc::Str {
                buf: String::new(),
                any: false,
            },
            ArrayAgg => Acc::List(Vec::new()),
            BoolAnd | BoolOr => Acc::Bool(None),
            BitAnd | BitOr => Acc::Bits(Value::Null),
            JsonAgg | JsonbAgg | JsonObjectAgg | JsonbObjectAgg => Acc::Json {
                buf: String::new(),
                n: 0,
            },
            StddevSamp | StddevPop | VarSamp | VarPop => Acc::Moments {
                n: 0,
                isum: 0,
                isumsq: 0,
                mean: 0.0,
                m2: 0.0,
                ints: true,
            },
        }
    }

    /// Adds one input (arguments already evaluated; FILTER already applied).
    pub(crate) fn add(&mut self, func: AggFunc, args: &[Value]) -> DbResult<()> {
        let a0 = args.first().unwrap_or(&Value::Null);
        match self {
            Acc::Count(n) => {
                if func == AggFunc::CountStar || !a0.is_null() {
                    *n += 1;
                }
            }
            Acc::IntSum { sum, n } => {
                if a0.is_null() {
                    return Ok(());
                }
                match a0.as_i64() {
                    Some(i) => {
                        *sum += i as i128;
                        *n += 1;
                    }
                    None => {
                        // Switch to the generic path, carrying what we have.
                        let carried = if *n == 0 {
                            a0.clone()
                        } else {
                            let prev = int_to_value(*sum, a0);
                            eval_binary(BinaryOp::Add, &prev, a0)?
                        };
                        *self = Acc::Sum {
                            sum: carried,
                            n: *n + 1,
                        };
                    }
                }
            }
            Acc::Sum { sum, n } => {
                if a0.is_null() {
                    return Ok(());
                }
                *sum = if sum.is_null() {
                    a0.clone()
                } else {
                    eval_binary(BinaryOp::Add, sum, a0)?
                };
                *n += 1;
            }
            Acc::Best(best) => {
                if a0.is_null() {
                    return Ok(());
                }
                let replace = best.is_null()
                    || match sql_cmp(a0, best) {
                        Some(o) => {
                            if func == AggFunc::Min {
                                o.is_lt()
                            } else {
                                o.is_gt()
                            }
                        }
                        None => false,
                    };
                if replace {
                    *best = a0.clone();
                }
            }
            Acc::Str { buf, any } => {
                if a0.is_null() {
                    return Ok(());
                }
                if *any {
                    if let Some(d) = args.get(1) {
                        if !d.is_null() {
                            buf.push_str(&crate::expr::text_of(d));
                        }
                    }
                }
                buf.push_str(&crate::expr::text_of(a0));
                *any = true;
            }
            Acc::List(list) => list.push(a0.clone()),
            Acc::Bool(b) => {
                if let Value::Bool(v) = a0 {
                    *b = Some(match (*b, func) {
                        (None, _) => *v,
                        (Some(p), AggFunc::BoolAnd) => p && *v,
                        (Some(p), _) => p || *v,
                    });
                }
            }
            Acc::Bits(acc) => {
                if a0.is_null() {
                    return Ok(());
                }
                *acc = if acc.is_null() {
                    a0.clone()
                } else {
                    let op = if func == AggFunc::BitAnd {
                        BinaryOp::BitAnd
                    } else {
                        BinaryOp::BitOr
                    };
                    eval_binary(op, acc, a0)?
                };
            }
            Acc::Json { buf, n } => {
                let object = matches!(func, AggFunc::JsonObjectAgg | AggFunc::JsonbObjectAgg);
                if *n > 0 {
                    buf.push_str(", ");
                }
                if object {
                    if a0.is_null() {
                        return Err(AionError::new(
                            SqlState::new(b"22004"),
                            "field name must not be null",
                        ));
                    }
                    write_json_string(&crate::expr::text_of(a0), buf);
                    buf.push_str(if func == AggFunc::JsonObjectAgg {
                        " : "
                    } else {
                        ": "
                    });
                    to_json(args.get(1).unwrap_or(&Value::Null), buf);
                } else {
                    to_json(a0, buf);
                }
                *n += 1;
            }
            Acc::Moments {
                n,
                isum,
                isumsq,
                mean,
                m2,
                ints,
            } => {
                if a0.is_null() {
                    return Ok(());
                }
                *n += 1;
                match a0.as_i64() {
                    Some(i) if *ints => {
                        *isum += i as i128;
                        *isumsq += (i as i128) * (i as i128);
                    }
                    _ => *ints = false,
                }
                let x = to_f64(a0);
                let d = x - *mean;
                *mean += d / *n as f64;
                *m2 += d * (x - *mean);
            }
        }
        Ok(())
    }

    /// Heap held by accumulators that grow with their input.
    fn heap_bytes(&self) -> u64 {
        match self {
            Acc::Str { buf, .. } | Acc::Json { buf, .. } => buf.capacity() as u64,
            Acc::List(l) => l.iter().map(value_bytes).sum(),
            _ => 0,
        }
    }

    fn grows(&self) -> bool {
        matches!(self, Acc::Str { .. } | Acc::Json { .. } | Acc::List(_))
    }

    pub(crate) fn finish(&self, func: AggFunc, result: &DataType) -> DbResult<Value> {
        Ok(match self {
            Acc::Count(n) => Value::Int8(*n),
            Acc::IntSum { sum, n } => {
                if *n == 0 {
                    return Ok(Value::Null);
                }
                if func == AggFunc::Avg {
                    return avg_of(&numeric_i128(*sum), *n, result);
                }
                match result.id {
                    TypeId::Numeric => numeric_i128(*sum),
                    _ => {
                        let v = i64::try_from(*sum).map_err(|_| {
                            AionError::new(
                                SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
                                "bigint out of range",
                            )
                        })?;
                        cast(&Value::Int8(v), result, CoercionKind::Assignment)?
                    }
                }
            }
            Acc::Sum { sum, n } => {
                if *n == 0 {
                    return Ok(Value::Null);
                }
                if func == AggFunc::Avg {
                    return avg_of(sum, *n, result);
                }
                coerce(sum, result)?
            }
            Acc::Best(v) => v.clone(),
            Acc::Str { buf, any } => {
                if *any {
                    Value::text(buf.as_str())
                } else {
                    Value::Null
                }
            }
            Acc::List(list) => {
                if list.is_empty() {
                    Value::Null
                } else {
                    make_array(result.id, list.clone())?
                }
            }
            Acc::Bool(b) => b.map(Value::Bool).unwrap_or(Value::Null),
            Acc::Bits(v) => v.clone(),
            Acc::Json { buf, n } => {
                if *n == 0 {
                    return Ok(Value::Null);
                }
                match func {
                    AggFunc::JsonAgg => Value::Json(format!("[{buf}]").into()),
                    AggFunc::JsonbAgg => Value::Jsonb(normalize_jsonb(&format!("[{buf}]"))?.into()),
                    AggFunc::JsonObjectAgg => Value::Json(format!("{{ {buf} }}").into()),
                    _ => Value::Jsonb(normalize_jsonb(&format!("{{{buf}}}"))?.into()),
                }
            }
            Acc::Moments {
                n,
                isum,
                isumsq,
                m2,
                ints,
                ..
            } => {
                let samp = matches!(func, AggFunc::StddevSamp | AggFunc::VarSamp);
                let sqrt = matches!(func, AggFunc::StddevSamp | AggFunc::StddevPop);
                if *n == 0 || (samp && *n == 1) {
                    return Ok(Value::Null);
                }
                let denom = if samp { *n * (*n - 1) } else { *n * *n };
                if result.id == TypeId::Numeric && *ints {
                    // Exact, as PostgreSQL: (n*sumsq - sum^2) / (n*(n-1)) with
                    // numeric division, then the square root at that scale.
                    let num = (*n as i128) * *isumsq - *isum * *isum;
                    let var = eval_binary(
                        BinaryOp::Div,
                        &numeric_i128(num),
                        &numeric_i128(denom as i128),
                    )?;
                    if !sqrt {
                        return Ok(var);
                    }
                    if let Some(v) = numeric_sqrt(&var) {
                        return Ok(v);
                    }
                }
                let var = if *ints {
                    ((*n as i128 * *isumsq - *isum * *isum) as f64) / denom as f64
                } else {
                    m2 / (if samp { *n - 1 } else { *n }) as f64
                };
                let v = if sqrt { var.sqrt() } else { var };
                if result.id == TypeId::Numeric {
                    Numeric::parse(&format!("{v:.16}"))
                        .map(|n| Value::Numeric(n.round_to_scale(16)))
                        .unwrap_or(Value::Float8(v))
                } else {
                    Value::Float8(v)
                }
            }
        })
    }
}

/// Square root of a non-negative numeric at its own display scale, rounded
/// half up (PostgreSQL's `sqrt_var` at the variance's scale). `None` when
/// the digits do not fit 128-bit arithmetic.
fn numeric_sqrt(v: &Value) -> Option<Value> {
    let text = v.to_pg_text()?;
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let d = frac.len() as u32;
    let digits: i128 = format!("{int}{frac}").parse().ok()?;
    if digits < 0 {
        return None;
    }
    // sqrt(v) * 10^(d+1) = sqrt(digits * 10^(d + 2)): one extra digit to round.
    let x = digits.checked_mul(10i128.checked_pow(d + 2)?)?;
    let mut r = (x as f64).sqrt() as i128;
    while r > 0 && r.checked_mul(r).is_none_or(|sq| sq > x) {
        r -= 1;
    }
    while (r + 1).checked_mul(r + 1).is_some_and(|sq| sq <= x) {
        r += 1;
    }
    let rounded = (r + 5) / 10;
    let s = rounded.to_string();
    let s = if d == 0 {
        s
    } else {
        let padded = format!("{:0>width$}", s, width = d as usize + 1);
        let (a, b) = padded.split_at(padded.len() - d as usize);
        format!("{a}.{b}")
    };
    Numeric::parse(&s).map(Value::Numeric)
}

fn int_to_value(sum: i128, like: &Value) -> Value {
    match like {
        Value::Float4(_) | Value::Float8(_) => Value::Float8(sum as f64),
        _ => numeric_i128(sum),
    }
}

fn numeric_i128(v: i128) -> Value {
    match i64::try_from(v) {
        Ok(i) => Value::Numeric(Numeric::from_i64(i)),
        Err(_) => Numeric::parse(&v.to_string())
            .map(Value::Numeric)
            .unwrap_or(Value::Null),
    }
}

fn to_f64(v: &Value) -> f64 {
    match v {
        Value::Int2(x) => *x as f64,
        Value::Int4(x) => *x as f64,
        Value::Int8(x) => *x as f64,
        Value::Float4(x) => *x as f64,
        Value::Float8(x) => *x,
        Value::Numeric(n) => n.to_f64(),
        _ => f64::NAN,
    }
}

fn coerce(v: &Value, to: &DataType) -> DbResult<Value> {
    if v.is_null() || to.id == TypeId::Unknown || to.id == TypeId::Any {
        return Ok(v.clone());
    }
    if v.type_id() == Some(to.id) {
        return Ok(v.clone());
    }
    cast(v, to, CoercionKind::Assignment)
}

fn avg_of(sum: &Value, n: i64, result: &DataType) -> DbResult<Value> {
    match (sum, result.id) {
        (Value::Interval(_), _) => eval_binary(BinaryOp::Div, sum, &Value::Float8(n as f64)),
        (_, TypeId::Float8) | (_, TypeId::Float4) => Ok(Value::Float8(to_f64(sum) / n as f64)),
        _ => {
            let s = coerce(sum, &DataType::NUMERIC)?;
            eval_binary(BinaryOp::Div, &s, &Value::Numeric(Numeric::from_i64(n)))
        }
    }
}

/// `to_json` of a value, appended to `out`.
pub(crate) fn to_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int2(_) | Value::Int4(_) | Value::Int8(_) | Value::Numeric(_) => {
            let t = v.to_pg_text().unwrap_or_default();
            if t.chars()
                .all(|c| c.is_ascii_digit() || c == '-' || c == '.')
            {
                out.push_str(&t)
            } else {
                write_json_string(&t, out)
            }
        }
        Value::Float4(_) | Value::Float8(_) => {
            let t = v.to_pg_text().unwrap_or_default();
            if t.parse::<f64>().map(|f| f.is_finite()).unwrap_or(false) {
                out.push_str(&t)
            } else {
                write_json_string(&t, out)
            }
        }
        Value::Json(s) | Value::Jsonb(s) => out.push_str(s.as_str()),
        Value::Array(a) => {
            out.push('[');
            for (i, e) in a.elements.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                to_json(e, out);
            }
            out.push(']');
        }
        Value::Timestamp(_) | Value::TimestampTz(_) => {
            // JSON uses ISO 8601 with a T separator.
            let t = v.to_pg_text().unwrap_or_default().replacen(' ', "T", 1);
            write_json_string(&t, out)
        }
        other => write_json_string(&other.to_pg_text().unwrap_or_default(), out),
    }
}

/// An aggregate's state, buffering inputs when DISTINCT or ORDER BY need
/// the whole group first.
pub(crate) struct AggState {
    acc: Acc,
    buffered: Option<Vec<(Vec<Value>, Vec<Value>)>>,
    /// Bytes reserved in the statement's memory account.
    held: u64,
}

impl AggState {
    pub(crate) fn new(spec: &AggSpec) -> AggState {
        AggState {
            acc: Acc::new(spec.func),
            buffered: (spec.distinct || !spec.order_by.is_empty()).then(Vec::new),
            held: 0,
        }
    }

    /// Feeds one input row.
    pub(crate) fn feed(&mut self, cx: &mut EvalCx, spec: &AggSpec, row: &[Value]) -> DbResult<()> {
        if let Some(f) = &spec.filter {
            if !f.test(cx, row)? {
                return Ok(());
            }
        }
        let mut args: [Value; 2] = [Value::Null, Value::Null];
        let n = spec.args.len().min(2);
        for (i, a) in spec.args.iter().take(2).enumerate() {
            args[i] = a.eval(cx, row)?;
        }
        match &mut self.buffered {
            None if self.acc.grows() => {
                let before = self.acc.heap_bytes();
                self.acc.add(spec.func, &args[..n])?;
                let after = self.acc.heap_bytes();
                if after > before {
                    cx.reserve(after - before)?;
                    self.held += after - before;
                }
                Ok(())
            }
            None => self.acc.add(spec.func, &args[..n]),
            Some(buf) => {
                let mut keys = Vec::with_capacity(spec.order_by.len());
                for k in &spec.order_by {
                    keys.push(k.expr.eval(cx, row)?);
                }
                let a: Vec<Value> = args[..n].to_vec();
                let b = row_bytes(&a) + row_bytes(&keys);
                cx.reserve(b)?;
                self.held += b;
                buf.push((a, keys));
                Ok(())
            }
        }
    }

    pub(crate) fn finish(&mut self, cx: &mut EvalCx, spec: &AggSpec) -> DbResult<Value> {
        cx.release(self.held);
        self.held = 0;
        if let Some(mut buf) = self.buffered.take() {
            if spec.distinct {
                // DISTINCT compares the arguments; ORDER BY must name them (PG rule).
                buf.sort_by(|a, b| {
                    cmp_keys(&spec.order_by, &a.1, &b.1).then_with(|| {
                        for (x, y) in a.0.iter().zip(b.0.iter()) {
                            let o = sort_cmp(x, y);
                            if o.is_ne() {
                                return o;
                            }
                        }
                        std::cmp::Ordering::Equal
                    })
                });
                buf.dedup_by(|a, b| crate::ops::rows_equal(&a.0, &b.0));
            } else {
                buf.sort_by(|a, b| cmp_keys(&spec.order_by, &a.1, &b.1));
            }
            for (args, _) in &buf {
                self.acc.add(spec.func, args)?;
            }
        }
        self.acc.finish(spec.func, &spec.result_type)
    }
}

pub(crate) fn build(cx: &mut EvalCx, plan: &Plan, n: NodeRef) -> DbResult<Box<dyn Op>> {
    let node = node_of(plan, n)?;
    let Operator::Aggregate {
        strategy,
        group_by,
        aggregates,
    } = &node.op
    else {
        return Err(bad_plan("not an aggregate"));
    };
    let child = crate::ops::build(cx, plan, input_of(plan, n, 0)?)?;
    let specs = aggregates
        .iter()
        .map(|a| compile_agg(cx, plan, a))
        .collect::<DbResult<Vec<_>>>()?;
    Ok(Box::new(AggOp {
        child,
        strategy: *strategy,
        group_by: compile_list0(cx, plan, group_by)?,
        specs,
        out: Vec::new(),
        pos: 0,
        held: 0,
    }))
}

struct AggOp {
    child: Box<dyn Op>,
    strategy: AggStrategy,
    group_by: Vec<CExpr>,
    specs: Vec<AggSpec>,
    out: Vec<Vec<Value>>,
    pos: usize,
    held: u64,
}

impl AggOp {
    fn finish_group(
        &self,
        cx: &mut EvalCx,
        keys: Vec<Value>,
        mut states: Vec<AggState>,
    ) -> DbResult<Vec<Value>> {
        let mut row = keys;
        for (st, spec) in states.iter_mut().zip(&self.specs) {
            row.push(st.finish(cx, spec)?);
        }
        Ok(row)
    }
}

impl Op for AggOp {
    fn open(&mut self, cx: &mut EvalCx) -> DbResult<()> {
        cx.release(self.held);
        self.held = 0;
        self.out.clear();
        self.pos = 0;
        self.child.open(cx)?;
        let new_states = |specs: &[AggSpec]| specs.iter().map(AggState::new).collect::<Vec<_>>();
        if self.group_by.is_empty() && self.strategy == AggStrategy::Plain {
            let mut states = new_states(&self.specs);
            while self.child.advance(cx)? {
                cx.tick()?;
                let row = self.child.current();
                for (st, spec) in states.iter_mut().zip(&self.specs) {
                    st.feed(cx, spec, row)?;
                }
            }
            let r = self.finish_group(cx, Vec::new(), states)?;
            self.out.push(r);
        } else if self.strategy == AggStrategy::Sorted {
            let mut cur: Option<(Vec<Value>, Vec<AggState>)> = None;
            while self.child.advance(cx)? {
                cx.tick()?;
                let row = self.child.current();
                let mut keys = Vec::with_capacity(self.group_by.len());
                for g in &self.group_by {
                    keys.push(g.eval(cx, row)?);
                }
                let same = matches!(&cur, Some((k, _)) if crate::ops::rows_equal(k, &keys));
                if !same {
                    if let Some((k, st)) = cur.take() {
                        let r = self.finish_group(cx, k, st)?;
                        let b = row_bytes(&r);
                        cx.reserve(b)?;
                        self.held += b;
                        self.out.push(r);
                    }
                    cur = Some((keys, new_states(&self.specs)));
                }
                if let Some((_, states)) = &mut cur {
                    for (st, spec) in states.iter_mut().zip(&self.specs) {
                        st.feed(cx, spec, row)?;
                    }
                }
            }
            if let Some((k, st)) = cur.take() {
                let r = self.finish_group(cx, k, st)?;
                self.out.push(r);
            }
        } else {
            // Keys are evaluated into one reused buffer; only a new group
            // allocates.
            let mut groups: RowTable<Vec<AggState>> = RowTable::default();
            let mut kbuf: Vec<Value> = Vec::with_capacity(self.group_by.len());
            while self.child.advance(cx)? {
                cx.tick()?;
                let row = self.child.current();
                kbuf.clear();
                for g in &self.group_by {
                    kbuf.push(g.eval(cx, row)?);
                }
                let h = hash_row(&kbuf);
                let gi = match groups.find_hashed(h, &kbuf) {
                    Some(i) => i,
                    None => {
                        let b = row_bytes(&kbuf) * 2 + 64 * self.specs.len() as u64;
                        cx.reserve(b)?;
                        self.held += b;
                        groups.push_hashed(h, kbuf.clone(), new_states(&self.specs))
                    }
                };
                for (st, spec) in groups.vals[gi].iter_mut().zip(&self.specs) {
                    st.feed(cx, spec, row)?;
                }
            }
            let RowTable { keys, vals, .. } = groups;
            for (k, st) in keys.into_iter().zip(vals) {
                let r = self.finish_group(cx, k, st)?;
                self.out.push(r);
            }
        }
        self.child.close(cx);
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
