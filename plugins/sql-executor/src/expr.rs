//! Expressions compiled from the plan's arena into a tree of small enums,
//! evaluated per row with PostgreSQL's NULL rules.

use std::cmp::Ordering;

use aiondb_sdk::abi_stable::std_types::RArc;
use aiondb_sdk::plan::{Expr, ExprKind, ExprRef, Plan, SpecialFunc, SubqueryKind};
use aiondb_sdk::plugin::FunctionSetBox;
use aiondb_sdk::prelude::*;
use aiondb_sdk::value::ops::{BinaryOp, UnaryOp};
use aiondb_sdk::value::{ArrayDim, ArrayValue};

use crate::shared::*;

pub(crate) enum CExpr {
    Const(Value),
    Param(usize),
    Col(usize),
    Outer {
        depth: usize,
        col: usize,
    },
    Binary(BinaryOp, Box<CExpr>, Box<CExpr>),
    Unary(UnaryOp, Box<CExpr>),
    Like {
        arg: Box<CExpr>,
        pattern: Box<CExpr>,
        escape: Option<Box<CExpr>>,
        ci: bool,
        negated: bool,
    },
    InList {
        arg: Box<CExpr>,
        list: Vec<CExpr>,
        negated: bool,
    },
    AnyAll {
        op: BinaryOp,
        left: Box<CExpr>,
        array: Box<CExpr>,
        all: bool,
    },
    Call {
        set: RArc<FunctionSetBox>,
        id: u32,
        strict: bool,
        args: Vec<CExpr>,
    },
    Special {
        func: SpecialFunc,
        args: Vec<CExpr>,
    },
    Cast {
        arg: Box<CExpr>,
        to: DataType,
        kind: CoercionKind,
        /// char(n) -> text/varchar drops the padding, as PostgreSQL does.
        rtrim: bool,
    },
    And(Vec<CExpr>),
    Or(Vec<CExpr>),
    Not(Box<CExpr>),
    IsNull(Box<CExpr>),
    Case {
        operand: Option<Box<CExpr>>,
        whens: Vec<CExpr>,
        thens: Vec<CExpr>,
        otherwise: Option<Box<CExpr>>,
    },
    Array {
        elems: Vec<CExpr>,
        elem: TypeId,
    },
    Subscript(Box<CExpr>, Box<CExpr>),
    Subquery {
        kind: SubqueryKind,
        slot: usize,
        arg: Option<Box<CExpr>>,
        elem: TypeId,
    },
}

fn expr_of(plan: &Plan, e: ExprRef) -> DbResult<&Expr> {
    plan.expr(e)
        .ok_or_else(|| bad_plan(format!("expression {e} out of range")))
}

/// Compiles expression `e`. `offsets[input]` is where input `input`'s
/// columns start in the row the expression is evaluated against.
pub(crate) fn compile(
    cx: &mut EvalCx,
    plan: &Plan,
    e: ExprRef,
    offsets: &[usize],
) -> DbResult<CExpr> {
    compile_with(cx, plan, e, &|input, column| {
        offsets.get(input as usize).map(|o| o + column as usize)
    })
}

/// Column resolver: (input, column) -> position in the evaluated row.
pub(crate) type ColMap<'a> = &'a dyn Fn(u32, u32) -> Option<usize>;

/// Like [`compile`] with an arbitrary column mapping (scans that fetch a
/// subset of the table's columns).
pub(crate) fn compile_with(
    cx: &mut EvalCx,
    plan: &Plan,
    e: ExprRef,
    offsets: ColMap<'_>,
) -> DbResult<CExpr> {
    let ex = expr_of(plan, e)?;
    let c = |x: ExprRef, cx: &mut EvalCx| compile_with(cx, plan, x, offsets).map(Box::new);
    Ok(match &ex.kind {
        ExprKind::Const(v) => CExpr::Const(v.clone()),
        ExprKind::Param(i) => CExpr::Param(*i as usize),
        ExprKind::Column { input, column } => {
            let pos = offsets(*input, *column)
                .ok_or_else(|| bad_plan(format!("column of input {input} not available here")))?;
            CExpr::Col(pos)
        }
        ExprKind::OuterColumn { depth, column } => CExpr::Outer {
            depth: *depth as usize,
            col: *column as usize,
        },
        ExprKind::Binary { op, left, right } => CExpr::Binary(*op, c(*left, cx)?, c(*right, cx)?),
        ExprKind::Unary { op, arg } => CExpr::Unary(*op, c(*arg, cx)?),
        ExprKind::Like {
            arg,
            pattern,
            escape,
            case_insensitive,
            negated,
        } => CExpr::Like {
            arg: c(*arg, cx)?,
            pattern: c(*pattern, cx)?,
            escape: match escape {
                ROption::RSome(x) => Some(c(*x, cx)?),
                ROption::RNone => None,
            },
            ci: *case_insensitive,
            negated: *negated,
        },
        ExprKind::InList { arg, list, negated } => CExpr::InList {
            arg: c(*arg, cx)?,
            list: compile_list(cx, plan, list, offsets)?,
            negated: *negated,
        },
        ExprKind::AnyAll {
            op,
            left,
            array,
            all,
        } => CExpr::AnyAll {
            op: *op,
            left: c(*left, cx)?,
            array: c(*array, cx)?,
            all: *all,
        },
        ExprKind::Call { function, args } => {
            let set = cx
                .services
                .functions
                .iter()
                .find(|f| f.key.as_str() == function.provider.as_str())
                .map(|f| f.set.clone())
                .ok_or_else(|| {
                    AionError::new(
                        SqlState::UNDEFINED_FUNCTION,
                        format!(
                            "function {} is not available (provider \"{}\" is not loaded)",
                            function.name, function.provider
                        ),
                    )
                })?;
            CExpr::Call {
                set,
                id: function.id,
                strict: function.strict,
                args: compile_list(cx, plan, args, offsets)?,
            }
        }
        ExprKind::Special { func, args } => CExpr::Special {
            func: *func,
            args: compile_list(cx, plan, args, offsets)?,
        },
        ExprKind::Cast { arg, to, explicit } => CExpr::Cast {
            rtrim: plan
                .expr(*arg)
                .is_some_and(|a| a.data_type.id == TypeId::Char && !a.data_type.is_array)
                && matches!(to.id, TypeId::Text | TypeId::Varchar)
                && !to.is_array,
            arg: c(*arg, cx)?,
            to: *to,
            kind: if *explicit {
                CoercionKind::Explicit
            } else {
                CoercionKind::Assignment
            },
        },
        ExprKind::And(list) => CExpr::And(compile_list(cx, plan, list, offsets)?),
        ExprKind::Or(list) => CExpr::Or(compile_list(cx, plan, list, offsets)?),
        ExprKind::Not(x) => CExpr::Not(c(*x, cx)?),
        ExprKind::IsNull(x) => CExpr::IsNull(c(*x, cx)?),
        ExprKind::Case {
            operand,
            whens,
            thens,
            otherwise,
        } => {
            if whens.len() != thens.len() {
                return Err(bad_plan("CASE with unequal WHEN/THEN counts"));
            }
            CExpr::Case {
                operand: match operand {
                    ROption::RSome(x) => Some(c(*x, cx)?),
                    ROption::RNone => None,
                },
                whens: compile_list(cx, plan, whens, offsets)?,
                thens: compile_list(cx, plan, thens, offsets)?,
                otherwise: match otherwise {
                    ROption::RSome(x) => Some(c(*x, cx)?),
                    ROption::RNone => None,
                },
            }
        }
        ExprKind::Array(list) => CExpr::Array {
            elems: compile_list(cx, plan, list, offsets)?,
            elem: ex.data_type.id,
        },
        ExprKind::Subscript { arg, index } => CExpr::Subscript(c(*arg, cx)?, c(*index, cx)?),
        ExprKind::Subquery {
            kind,
            plan: node,
            arg,
        } => {
            let op = crate::ops::build(cx, plan, *node)?;
            let correlated = crate::ops::references_outer(plan, *node);
            let slot = cx.subplans.len();
            cx.subplans.push(Subplan {
                op: Some(op),
                correlated,
                cache: None,
                in_set: None,
            });
            let elem = match kind {
                SubqueryKind::Array => ex.data_type.id,
                _ => TypeId::Unknown,
            };
            CExpr::Subquery {
                kind: *kind,
                slot,
                arg: match arg {
                    ROption::RSome(x) => Some(c(*x, cx)?),
                    ROption::RNone => None,
                },
                elem,
            }
        }
    })
}

pub(crate) fn compile_list(
    cx: &mut EvalCx,
    plan: &Plan,
    list: &[ExprRef],
    offsets: ColMap<'_>,
) -> DbResult<Vec<CExpr>> {
    list.iter()
        .map(|e| compile_with(cx, plan, *e, offsets))
        .collect()
}

/// [`compile_list`] for single-input operators.
pub(crate) fn compile_list0(
    cx: &mut EvalCx,
    plan: &Plan,
    list: &[ExprRef],
) -> DbResult<Vec<CExpr>> {
    list.iter().map(|e| compile(cx, plan, *e, &[0])).collect()
}

fn cmp_true(op: BinaryOp, l: &Value, r: &Value) -> DbResult<Option<bool>> {
    match eval_binary(op, l, r)? {
        Value::Bool(b) => Ok(Some(b)),
        Value::Null => Ok(None),
        other => Err(AionError::new(
            SqlState::DATATYPE_MISMATCH,
            format!(
                "operator {} must return type boolean, not {:?}",
                op.symbol(),
                other.type_id()
            ),
        )),
    }
}

impl CExpr {
    /// Evaluates over `row` (see [`compile`] for the layout).
    pub(crate) fn eval(&self, cx: &mut EvalCx, row: &[Value]) -> DbResult<Value> {
        match self {
            CExpr::Const(v) => Ok(v.clone()),
            CExpr::Param(i) => cx.params.get(*i).cloned().ok_or_else(|| {
                AionError::new(
                    SqlState::UNDEFINED_PARAMETER,
                    format!("there is no parameter ${}", i + 1),
                )
            }),
            CExpr::Col(i) => row.get(*i).cloned().ok_or_else(|| {
                bad_plan(format!("column {i} out of range (row width {})", row.len()))
            }),
            CExpr::Outer { depth, col } => {
                let n = cx.outer.len();
                if *depth == 0 || *depth > n {
                    return Err(bad_plan(format!(
                        "outer row at depth {depth} not available"
                    )));
                }
                cx.outer[n - depth]
                    .get(*col)
                    .cloned()
                    .ok_or_else(|| bad_plan(format!("outer column {col} out of range")))
            }
            CExpr::Binary(op, l, r) => {
                let a = l.eval(cx, row)?;
                let b = r.eval(cx, row)?;
                // `||` and timestamptz arithmetic depend on the session
                // zone and DateStyle.
                aiondb_sdk::value::eval_binary_with(*op, &a, &b, &cx.format)
            }
            CExpr::Unary(op, a) => {
                let v = a.eval(cx, row)?;
                eval_unary(*op, &v)
            }
            CExpr::Like {
                arg,
                pattern,
                escape,
                ci,
                negated,
            } => {
                let s = arg.eval(cx, row)?;
                let p = pattern.eval(cx, row)?;
                let esc = match escape {
                    Some(e) => match e.eval(cx, row)? {
                        Value::Null => return Ok(Value::Null),
                        v => {
                            let t = text_of(&v);
                            let mut ch = t.chars();
                            match (ch.next(), ch.next()) {
                                (None, _) => None,
                                (Some(c), None) => Some(c),
                                _ => {
                                    return Err(AionError::new(
                                        SqlState::new(b"22025"),
                                        "invalid escape string",
                                    )
                                    .with_hint("Escape string must be empty or one character."))
                                }
                            }
                        }
                    },
                    None => Some('\\'),
                };
                if s.is_null() || p.is_null() {
                    return Ok(Value::Null);
                }
                let m = like_match(&text_of(&s), &text_of(&p), *ci, esc)?;
                Ok(Value::Bool(m != *negated))
            }
            CExpr::InList { arg, list, negated } => {
                let a = arg.eval(cx, row)?;
                if a.is_null() {
                    return Ok(Value::Null);
                }
                let mut saw_null = false;
                for item in list {
                    let v = item.eval(cx, row)?;
                    match cmp_true(BinaryOp::Eq, &a, &v)? {
                        Some(true) => return Ok(Value::Bool(!*negated)),
                        Some(false) => {}
                        None => saw_null = true,
                    }
                }
                Ok(if saw_null {
                    Value::Null
                } else {
                    Value::Bool(*negated)
                })
            }
            CExpr::AnyAll {
                op,
                left,
                array,
                all,
            } => {
                let l = left.eval(cx, row)?;
                let arr = array.eval(cx, row)?;
                let elems = match &arr {
                    Value::Null => return Ok(Value::Null),
                    Value::Array(a) => a.elements.as_slice(),
                    _ => return Err(bad_plan("ANY/ALL over a non-array")),
                };
                quantified(*op, &l, elems.iter(), *all)
            }
            CExpr::Call {
                set,
                id,
                strict,
                args,
            } => {
                // Up to four arguments live on the stack (no per-row allocation).
                if args.len() <= 4 {
                    let mut buf: [Value; 4] = [Value::Null, Value::Null, Value::Null, Value::Null];
                    for (i, a) in args.iter().enumerate() {
                        buf[i] = a.eval(cx, row)?;
                        if *strict && buf[i].is_null() {
                            return Ok(Value::Null);
                        }
                    }
                    set.call_in(
                        *id,
                        RSlice::from_slice(&buf[..args.len()]),
                        cx.zone.as_rstr(),
                    )
                    .into_result()
                } else {
                    let mut vals = Vec::with_capacity(args.len());
                    for a in args {
                        let v = a.eval(cx, row)?;
                        if *strict && v.is_null() {
                            return Ok(Value::Null);
                        }
                        vals.push(v);
                    }
                    set.call_in(*id, RSlice::from_slice(&vals), cx.zone.as_rstr())
                        .into_result()
                }
            }
            CExpr::Special { func, args } => crate::special::eval_special(cx, *func, args, row),
            CExpr::Cast {
                arg,
                to,
                kind,
                rtrim,
            } => {
                let v = arg.eval(cx, row)?;
                if v.is_null() {
                    return Ok(Value::Null);
                }
                if *rtrim {
                    if let Value::Text(s) = &v {
                        let t = Value::text(s.trim_end_matches(' '));
                        return cast_with(&t, to, *kind, &cx.format);
                    }
                }
                cast_with(&v, to, *kind, &cx.format)
            }
            CExpr::And(list) => {
                let mut saw_null = false;
                for x in list {
                    match x.eval(cx, row)? {
                        Value::Bool(false) => return Ok(Value::Bool(false)),
                        Value::Null => saw_null = true,
                        _ => {}
                    }
                }
                Ok(if saw_null {
                    Value::Null
                } else {
                    Value::Bool(true)
                })
            }
            CExpr::Or(list) => {
                let mut saw_null = false;
                for x in list {
                    match x.eval(cx, row)? {
                        Value::Bool(true) => return Ok(Value::Bool(true)),
                        Value::Null => saw_null = true,
                        _ => {}
                    }
                }
                Ok(if saw_null {
                    Value::Null
                } else {
                    Value::Bool(false)
                })
            }
            CExpr::Not(x) => Ok(match x.eval(cx, row)? {
                Value::Bool(b) => Value::Bool(!b),
                _ => Value::Null,
            }),
            CExpr::IsNull(x) => Ok(Value::Bool(x.eval(cx, row)?.is_null())),
            CExpr::Case {
                operand,
                whens,
                thens,
                otherwise,
            } => {
                let op = match operand {
                    Some(o) => Some(o.eval(cx, row)?),
                    None => None,
                };
                for (w, t) in whens.iter().zip(thens) {
                    let wv = w.eval(cx, row)?;
                    let hit = match &op {
                        Some(o) => cmp_true(BinaryOp::Eq, o, &wv)? == Some(true),
                        None => truthy(&wv),
                    };
                    if hit {
                        return t.eval(cx, row);
                    }
                }
                match otherwise {
                    Some(o) => o.eval(cx, row),
                    None => Ok(Value::Null),
                }
            }
            CExpr::Array { elems, elem } => {
                let mut vals = Vec::with_capacity(elems.len());
                for e in elems {
                    vals.push(e.eval(cx, row)?);
                }
                make_array(*elem, vals)
            }
            CExpr::Subscript(a, i) => {
                let arr = a.eval(cx, row)?;
                let idx = i.eval(cx, row)?;
                let (Value::Array(arr), Some(idx)) = (&arr, idx.as_i64()) else {
                    return Ok(Value::Null);
                };
                Ok(subscript(arr, idx))
            }
            CExpr::Subquery {
                kind,
                slot,
                arg,
                elem,
            } => {
                let a = match arg {
                    Some(a) => Some(a.eval(cx, row)?),
                    None => None,
                };
                crate::special::eval_subquery(cx, *kind, *slot, a, *elem, row)
            }
        }
    }

    /// Evaluates as a predicate: true only for TRUE.
    #[inline]
    pub(crate) fn test(&self, cx: &mut EvalCx, row: &[Value]) -> DbResult<bool> {
        Ok(truthy(&self.eval(cx, row)?))
    }
}

/// `l op ANY|ALL (elems)` with SQL's NULL rules.
pub(crate) fn quantified<'v>(
    op: BinaryOp,
    l: &Value,
    elems: impl Iterator<Item = &'v Value>,
    all: bool,
) -> DbResult<Value> {
    let mut saw_null = false;
    for e in elems {
        match cmp_true(op, l, e)? {
            Some(b) if b != all => return Ok(Value::Bool(b)),
            Some(_) => {}
            None => saw_null = true,
        }
    }
    Ok(if saw_null {
        Value::Null
    } else {
        Value::Bool(all)
    })
}

/// Text content of a value (its text output for non-text types).
pub(crate) fn text_of(v: &Value) -> std::borrow::Cow<'_, str> {
    match v {
        Value::Text(s) => std::borrow::Cow::Borrowed(s.as_str()),
        other => std::borrow::Cow::Owned(other.to_pg_text().unwrap_or_default()),
    }
}

/// `ARRAY[...]`: a one-dimensional array, or a multi-dimensional one when
/// every element is itself an array of equal shape.
pub(crate) fn make_array(elem: TypeId, vals: Vec<Value>) -> DbResult<Value> {
    if !vals.is_empty() && vals.iter().all(|v| matches!(v, Value::Array(_))) {
        let mut dims: Option<Vec<ArrayDim>> = None;
        let mut elements = Vec::new();
        let n = vals.len();
        for v in vals {
            if let Value::Array(a) = v {
                let d = a.dims.to_vec();
                match &dims {
                    None => dims = Some(d),
                    Some(prev) if *prev != d => {
                        return Err(AionError::new(
                            SqlState::new(b"2202E"),
                            "multidimensional arrays must have array expressions with matching dimensions",
                        ))
                    }
                    _ => {}
                }
                elements.extend(a.elements);
            }
        }
        let inner = dims.unwrap_or_default();
        if inner.is_empty() {
            return Ok(Value::Array(ArrayValue::one_dim(elem, Vec::new())));
        }
        let mut all = vec![ArrayDim {
            len: n as i32,
            lower: 1,
        }];
        all.extend(inner);
        return Ok(Value::Array(ArrayValue {
            element_type: elem,
            dims: all.into(),
            elements: elements.into(),
        }));
    }
    Ok(Value::Array(ArrayValue::one_dim(elem, vals)))
}

fn subscript(arr: &ArrayValue, idx: i64) -> Value {
    let Some(d0) = arr.dims.first() else {
        return Value::Null;
    };
    let pos = idx - d0.lower as i64;
    if pos < 0 || pos >= d0.len as i64 {
        return Value::Null;
    }
    if arr.dims.len() != 1 {
        // PostgreSQL needs one subscript per dimension for element access.
        return Value::Null;
    }
    arr.elements
        .get(pos as usize)
        .cloned()
        .unwrap_or(Value::Null)
}

/// Ordering of two values for ORDER BY with direction and NULL placement.
#[inline]
pub(crate) fn key_cmp(a: &Value, b: &Value, desc: bool, nulls_first: bool) -> Ordering {
    match (a.is_null(), b.is_null()) {
        (true, true) => Ordering::Equal,
        (true, false) => {
            if nulls_first {
                Ordering::Less
            } else {
                Ordering::Greater
            }
        }
        (false, true) => {
            if nulls_first {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
        _ => {
            let o = sort_cmp(a, b);
            if desc {
                o.reverse()
            } else {
                o
            }
        }
    }
}
