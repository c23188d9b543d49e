//! Built-ins the executor evaluates itself (`SpecialFunc`) and subquery
//! expressions.

use aiondb_sdk::plan::{SpecialFunc, SubqueryKind};
use aiondb_sdk::prelude::*;
use aiondb_sdk::value::ops::BinaryOp;
use aiondb_sdk::value::{ArrayValue, USECS_PER_DAY};

use crate::expr::{quantified, text_of, CExpr};
use crate::shared::*;

pub(crate) fn eval_special(
    cx: &mut EvalCx,
    func: SpecialFunc,
    args: &[CExpr],
    row: &[Value],
) -> DbResult<Value> {
    use SpecialFunc::*;
    let arg = |cx: &mut EvalCx, i: usize| -> DbResult<Value> {
        match args.get(i) {
            Some(a) => a.eval(cx, row),
            None => Err(bad_plan(format!("{func:?} is missing argument {}", i + 1))),
        }
    };
    Ok(match func {
        Coalesce => {
            for a in args {
                let v = a.eval(cx, row)?;
                if !v.is_null() {
                    return Ok(v);
                }
            }
            Value::Null
        }
        NullIf => {
            let a = arg(cx, 0)?;
            let b = arg(cx, 1)?;
            if matches!(eval_binary(BinaryOp::Eq, &a, &b)?, Value::Bool(true)) {
                Value::Null
            } else {
                a
            }
        }
        Greatest | Least => {
            let mut best = Value::Null;
            for a in args {
                let v = a.eval(cx, row)?;
                if v.is_null() {
                    continue;
                }
                let better = best.is_null()
                    || match sql_cmp(&v, &best) {
                        Some(o) => {
                            if func == Greatest {
                                o.is_gt()
                            } else {
                                o.is_lt()
                            }
                        }
                        None => false,
                    };
                if better {
                    best = v;
                }
            }
            best
        }
        Now => Value::TimestampTz(cx.ctx.txn_start),
        StatementTimestamp => Value::TimestampTz(cx.ctx.statement_start),
        ClockTimestamp => Value::TimestampTz(pg_now_us()),
        // The wall clock in the session zone.
        CurrentDate => Value::Date(
            cx.format
                .time_zone
                .utc_to_local(cx.ctx.txn_start)
                .div_euclid(USECS_PER_DAY) as i32,
        ),
        CurrentTime => Value::Time(
            cx.format
                .time_zone
                .utc_to_local(cx.ctx.txn_start)
                .rem_euclid(USECS_PER_DAY),
        ),
        LocalTimestamp => Value::Timestamp(cx.format.time_zone.utc_to_local(cx.ctx.txn_start)),
        NextVal | CurrVal | SetVal => {
            let seq = arg(cx, 0)?;
            if seq.is_null() {
                return Ok(Value::Null);
            }
            if cx.ctx.read_only && func != CurrVal {
                let name = if func == NextVal {
                    "nextval()"
                } else {
                    "setval()"
                };
                return Err(read_only_error(name));
            }
            let id = sequence_id(cx, &seq)?;
            let cat = &cx.services.catalog;
            match func {
                NextVal => Value::Int8(cat.sequence_next(cx.ctx.session, id).into_result()?),
                CurrVal => Value::Int8(cat.sequence_current(cx.ctx.session, id).into_result()?),
                _ => {
                    let v = arg(cx, 1)?;
                    let is_called = if args.len() > 2 {
                        truthy(&arg(cx, 2)?)
                    } else {
                        true
                    };
                    let Some(n) = v.as_i64() else {
                        return Ok(Value::Null);
                    };
                    cx.services
                        .catalog
                        .sequence_set(cx.ctx.session, id, n, is_called)
                        .into_result()?;
                    Value::Int8(n)
                }
            }
        }
        CurrentSetting => {
            let name = arg(cx, 0)?;
            if name.is_null() {
                return Ok(Value::Null);
            }
            let name = text_of(&name).to_ascii_lowercase();
            let missing_ok = args.len() > 1 && truthy(&arg(cx, 1)?);
            match cx
                .ctx
                .settings
                .iter()
                .find(|kv| kv.key.as_str().eq_ignore_ascii_case(&name))
            {
                Some(kv) => Value::text(kv.value.as_str()),
                None if name == "search_path" => Value::text(
                    cx.ctx
                        .search_path
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                None if missing_ok => Value::Null,
                None => {
                    return Err(AionError::new(
                        SqlState::UNDEFINED_OBJECT,
                        format!("unrecognized configuration parameter \"{name}\""),
                    ))
                }
            }
        }
        CurrentUser => Value::text(cx.ctx.user.as_str()),
        CurrentDatabase => Value::text(cx.ctx.database.as_str()),
        CurrentSchema => {
            let mut found = Value::Null;
            for s in cx.ctx.search_path.iter() {
                let name = if s.as_str() == "$user" {
                    cx.ctx.user.as_str()
                } else {
                    s.as_str()
                };
                if cx.services.catalog.schema_by_name(name.into()).is_some() {
                    found = Value::text(name);
                    break;
                }
            }
            found
        }
        Version => Value::text(version_string()),
        Catalog(f) => {
            let mut vals = Vec::with_capacity(args.len());
            for a in args {
                vals.push(a.eval(cx, row)?);
            }
            let scx = aiondb_sdk::syscat::SysCx::new(&cx.ctx, &cx.services);
            aiondb_sdk::syscat::call(f, &scx, &vals)?
        }
        LastVal => Value::Int8(
            cx.services
                .catalog
                .sequence_last(cx.ctx.session)
                .into_result()?,
        ),
    })
}

/// `version()`: PostgreSQL's shape, so tools that parse it keep working.
pub(crate) fn version_string() -> String {
    format!(
        "PostgreSQL 15.0 on AionDB {} ({}-{}), 64-bit",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH,
        std::env::consts::OS
    )
}

/// Splits `a.b` / `"A".b` into lower-cased (unless quoted) parts.
fn split_name(s: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = s.trim().chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            '"' => quoted = !quoted,
            '.' if !quoted => parts.push(std::mem::take(&mut cur)),
            c if quoted => cur.push(c),
            c => cur.extend(c.to_lowercase()),
        }
    }
    parts.push(cur);
    parts
}

fn sequence_id(cx: &EvalCx, v: &Value) -> DbResult<TableId> {
    if let Some(i) = v.as_i64() {
        return Ok(i as TableId);
    }
    let text = text_of(v);
    let parts = split_name(&text);
    let cat = &cx.services.catalog;
    let not_found = || {
        AionError::new(
            SqlState::UNDEFINED_TABLE,
            format!("relation \"{text}\" does not exist"),
        )
    };
    let (schemas, name): (Vec<String>, &str) = match parts.as_slice() {
        [name] => (
            cx.ctx
                .search_path
                .iter()
                .map(|s| {
                    if s.as_str() == "$user" {
                        cx.ctx.user.to_string()
                    } else {
                        s.to_string()
                    }
                })
                .collect(),
            name,
        ),
        [schema, name] => (vec![schema.clone()], name),
        _ => return Err(not_found()),
    };
    for s in schemas {
        if let ROption::RSome(sd) = cat.schema_by_name(s.as_str().into()) {
            if let ROption::RSome(seq) = cat.sequence_by_name(sd.id, name.into()) {
                return Ok(seq.id);
            }
        }
    }
    Err(not_found())
}

/// Runs (or reads the cache of) subquery `slot` and reduces its rows.
pub(crate) fn eval_subquery(
    cx: &mut EvalCx,
    kind: SubqueryKind,
    slot: usize,
    arg: Option<Value>,
    elem: TypeId,
    row: &[Value],
) -> DbResult<Value> {
    let sp = cx
        .subplans
        .get_mut(slot)
        .ok_or_else(|| bad_plan("subquery slot out of range"))?;
    let correlated = sp.correlated;
    let is_in = matches!(kind, SubqueryKind::In | SubqueryKind::Any(BinaryOp::Eq));
    if !correlated && is_in {
        if let Some(rows) = &sp.cache {
            if sp.in_set.is_none() {
                let mut set = crate::rowtable::RowTable::default();
                let mut has_null = false;
                for r in rows {
                    match r.first() {
                        Some(Value::Null) | None => has_null = true,
                        Some(v) => {
                            let k = std::slice::from_ref(v);
                            if set.find(k).is_none() {
                                set.push(vec![v.clone()], ());
                            }
                        }
                    }
                }
                sp.in_set = Some((set, has_null));
            }
            let empty = rows.is_empty();
            if let Some((set, has_null)) = &sp.in_set {
                let l = arg.unwrap_or(Value::Null);
                return Ok(if empty {
                    Value::Bool(false)
                } else if l.is_null() {
                    Value::Null
                } else if set.find(std::slice::from_ref(&l)).is_some() {
                    Value::Bool(true)
                } else if *has_null {
                    Value::Null
                } else {
                    Value::Bool(false)
                });
            }
        }
    }
    if !correlated {
        if let Some(rows) = sp.cache.take() {
            let r = reduce(kind, arg.as_ref(), &rows, elem);
            if let Some(sp) = cx.subplans.get_mut(slot) {
                sp.cache = Some(rows);
            }
            return r;
        }
    }
    let mut op = sp
        .op
        .take()
        .ok_or_else(|| bad_plan("subquery evaluated recursively"))?;
    // How many rows decide the answer.
    let need = match kind {
        SubqueryKind::Exists => 1,
        SubqueryKind::Scalar => 2,
        _ => usize::MAX,
    };
    if correlated {
        cx.outer.push(row.to_vec());
    }
    let mut rows: Vec<Vec<Value>> = Vec::new();
    let run = (|| -> DbResult<()> {
        op.open(cx)?;
        while rows.len() < need && op.advance(cx)? {
            cx.tick()?;
            rows.push(op.current().to_vec());
        }
        Ok(())
    })();
    op.close(cx);
    if correlated {
        cx.outer.pop();
    }
    if let Some(sp) = cx.subplans.get_mut(slot) {
        sp.op = Some(op);
    }
    run?;
    let r = reduce(kind, arg.as_ref(), &rows, elem);
    if !correlated {
        if let Some(sp) = cx.subplans.get_mut(slot) {
            sp.cache = Some(rows);
        }
    }
    r
}

fn reduce(
    kind: SubqueryKind,
    arg: Option<&Value>,
    rows: &[Vec<Value>],
    elem: TypeId,
) -> DbResult<Value> {
    let first = |r: &Vec<Value>| r.first().cloned().unwrap_or(Value::Null);
    match kind {
        SubqueryKind::Scalar => {
            if rows.len() > 1 {
                return Err(AionError::new(
                    SqlState::new(b"21000"),
                    "more than one row returned by a subquery used as an expression",
                ));
            }
            Ok(rows.first().map(first).unwrap_or(Value::Null))
        }
        SubqueryKind::Exists => Ok(Value::Bool(!rows.is_empty())),
        SubqueryKind::In | SubqueryKind::Any(_) | SubqueryKind::All(_) => {
            let (op, all) = match kind {
                SubqueryKind::Any(op) => (op, false),
                SubqueryKind::All(op) => (op, true),
                _ => (BinaryOp::Eq, false),
            };
            let l = arg.cloned().unwrap_or(Value::Null);
            if rows.is_empty() {
                return Ok(Value::Bool(all));
            }
            if l.is_null() {
                return Ok(Value::Null);
            }
            quantified(op, &l, rows.iter().filter_map(|r| r.first()), all)
        }
        SubqueryKind::Array => Ok(Value::Array(ArrayValue::one_dim(
            elem,
            rows.iter().map(first).collect(),
        ))),
    }
}
