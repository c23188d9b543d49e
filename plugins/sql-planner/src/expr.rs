//! Expression binding and type checking: names to column ids, literals and
//! parameters typed from context, operators and functions resolved with
//! implicit casts inserted.

use crate::logical::*;
use crate::shared::{ident_name, object_parts};
use aiondb_sdk::plan::{AggFunc, FunctionRef, SpecialFunc, SubqueryKind, WindowFunc};
use aiondb_sdk::prelude::*;
use aiondb_sdk::value::ops::{BinaryOp, UnaryOp};
use aiondb_sdk::value::{cast_uses_format_options, parse_text, text_input_uses_format_options};

/// A date/time literal whose value depends on TimeZone or DateStyle: read
/// at execution, in the session's settings, instead of at plan time.
fn deferred_input(text: RString, to: DataType, explicit: bool) -> LExpr {
    LExpr::new(
        LKind::Cast {
            arg: Box::new(LExpr::constant(Value::Text(text), DataType::TEXT)),
            explicit,
        },
        to,
    )
}
use aiondb_sdk::value::{can_coerce, common_type, resolve_binary, resolve_unary, CoercionKind};
use sqlparser::ast;

/// One visible column of a FROM clause.
#[derive(Clone, Debug)]
pub struct ScopeCol {
    pub qual: Option<String>,
    pub name: String,
    pub id: ColId,
    pub ty: DataType,
    /// Not reachable unqualified (the right side of USING), nor by `*`.
    pub hidden: bool,
}

#[derive(Clone, Debug, Default)]
pub struct Scope {
    pub cols: Vec<ScopeCol>,
}

/// Aggregates and window calls found while binding a SELECT list.
#[derive(Default)]
pub struct AggCtx {
    pub aggs: Vec<(ColId, LAgg)>,
    pub wins: Vec<(ColId, WinSpec, LWin)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct WinSpec {
    pub partition: Vec<LExpr>,
    pub order: Vec<LSortKey>,
}

pub struct Binder<'a> {
    pub ctx: &'a PlanContext,
    pub services: &'a Services,
    pub cols: Vec<ColInfo>,
    pub params: Vec<DataType>,
    pub outer: Vec<Scope>,
    pub agg: Option<AggCtx>,
    /// Error text when an aggregate appears where none is allowed.
    pub agg_forbidden: Option<&'static str>,
    funcs: Option<Vec<(String, FunctionSignature)>>,
    pub ctes: Vec<(String, CteDef)>,
    pub next_worktable: u32,
    pub tables: Vec<TableId>,
    pub named_windows: Vec<(String, ast::WindowSpec)>,
    /// Nodes lowered while binding (data-modifying CTEs); the statement's
    /// plan builder starts from it.
    pub pre: crate::shared::PlanBuilder,
    /// No WITH list has been bound yet (data-modifying CTEs are only
    /// allowed in the statement's top-level WITH).
    pub top_level_with: bool,
    /// Data-modifying CTEs of the top-level WITH, in statement order, each
    /// already planned into `pre`: they all run before the main query
    /// (`Operator::WithDml`), referenced or not.
    pub dml_ctes: Vec<DmlCte>,
}

/// A planned data-modifying CTE.
#[derive(Clone, Debug)]
pub struct DmlCte {
    pub name: String,
    pub node: u32,
    pub worktable: u32,
}

#[derive(Clone, Debug)]
pub enum CteDef {
    Query(Box<ast::Query>, Vec<String>),
    /// A bound recursive CTE (re-numbered at each reference).
    Plan(Box<LPlan>, Vec<String>),
    /// The self-reference of a recursive CTE while its recursive term binds.
    WorkTable {
        worktable: u32,
        names: Vec<String>,
        types: Vec<DataType>,
    },
    /// `WITH x AS (INSERT/UPDATE/DELETE ...)`, already planned (see
    /// [`Binder::dml_ctes`]): references read its RETURNING rows from
    /// `worktable`. No `names` means no RETURNING clause.
    Dml {
        worktable: u32,
        names: Vec<String>,
        types: Vec<DataType>,
    },
    /// A recursive CTE's name while its non-recursive term binds.
    NonRecursiveTerm,
}

pub fn err(state: SqlState, msg: impl Into<String>) -> AionError {
    AionError::new(state, msg)
}

fn type_name(t: &DataType) -> String {
    t.to_string()
}

impl<'a> Binder<'a> {
    pub fn new(ctx: &'a PlanContext, services: &'a Services) -> Self {
        Binder {
            ctx,
            services,
            cols: Vec::new(),
            params: ctx.param_types.iter().copied().collect(),
            outer: Vec::new(),
            agg: None,
            agg_forbidden: None,
            funcs: None,
            ctes: Vec::new(),
            next_worktable: 0,
            tables: Vec::new(),
            named_windows: Vec::new(),
            pre: crate::shared::PlanBuilder::new(),
            top_level_with: true,
            dml_ctes: Vec::new(),
        }
    }

    pub fn new_col(&mut self, name: &str, ty: DataType) -> ColId {
        self.cols.push(ColInfo {
            name: name.to_string(),
            ty,
            origin: None,
            qual: None,
        });
        (self.cols.len() - 1) as ColId
    }

    pub fn col_type(&self, c: ColId) -> DataType {
        self.cols[c as usize].ty
    }

    // ------------------------------------------------------------ coercion

    /// Casts `e` to `to` with `kind` semantics; untyped literals and
    /// parameters take the type directly.
    pub fn coerce(&mut self, e: LExpr, to: DataType, kind: CoercionKind) -> DbResult<LExpr> {
        if to.id == TypeId::Unknown || to.id == TypeId::Any {
            return Ok(e);
        }
        if e.ty == to {
            return Ok(e);
        }
        if let Some(x) = self.reg_conversion(&e, to)? {
            return Ok(x);
        }
        if e.ty.id == TypeId::Unknown {
            return Ok(match e.kind {
                LKind::Const(Value::Null) => LExpr::null(to),
                LKind::Const(Value::Text(s)) => {
                    if text_input_uses_format_options(&to, s.as_str()) {
                        return Ok(deferred_input(s, to, kind == CoercionKind::Explicit));
                    }
                    let v = parse_text(to, s.as_str())?;
                    LExpr::constant(v, to)
                }
                LKind::Param(n) => {
                    if let Some(p) = self.params.get_mut(n as usize) {
                        if p.id == TypeId::Unknown {
                            *p = to;
                        }
                    }
                    let pt = self.params.get(n as usize).copied().unwrap_or(to);
                    let pe = LExpr::new(LKind::Param(n), pt);
                    if pt == to {
                        pe
                    } else {
                        return self.coerce(pe, to, kind);
                    }
                }
                k => LExpr::new(
                    LKind::Cast {
                        arg: Box::new(LExpr::new(k, DataType::TEXT)),
                        explicit: kind == CoercionKind::Explicit,
                    },
                    to,
                ),
            });
        }
        // Same type, different or no typmod: only a length coercion.
        let same_base = e.ty.id == to.id && e.ty.is_array == to.is_array;
        if same_base
            && (to.typmod < 0 || e.ty.typmod == to.typmod)
            && kind == CoercionKind::Implicit
        {
            return Ok(e);
        }
        if !same_base && !can_coerce(&e.ty, &to, kind) {
            return Err(err(
                SqlState::DATATYPE_MISMATCH,
                format!(
                    "cannot cast type {} to {}",
                    type_name(&e.ty),
                    type_name(&to)
                ),
            ));
        }
        // Casts whose result depends on TimeZone/DateStyle run at
        // execution: plans outlive a SET.
        let foldable = !cast_uses_format_options(&e.ty, &to);
        if let (LKind::Const(v), true) = (&e.kind, foldable) {
            // char(n) sheds its padding when it becomes another type.
            let stripped;
            let v = match v {
                Value::Text(s) if e.ty.id == TypeId::Char && !e.ty.is_array => {
                    stripped = Value::text(s.trim_end_matches(' '));
                    &stripped
                }
                _ => v,
            };
            if let Ok(v2) = aiondb_sdk::value::cast(v, &to, kind) {
                if kind != CoercionKind::Explicit
                    || !matches!(to.id, TypeId::Varchar | TypeId::Char)
                {
                    return Ok(LExpr::constant(v2, to));
                }
            }
        }
        Ok(LExpr::new(
            LKind::Cast {
                arg: Box::new(e),
                explicit: kind == CoercionKind::Explicit,
            },
            to,
        ))
    }

    /// Resolves untyped operands: an unknown side takes the other's type.
    fn unify_unknown(&mut self, l: LExpr, r: LExpr, concat: bool) -> DbResult<(LExpr, LExpr)> {
        let lu = l.ty.id == TypeId::Unknown;
        let ru = r.ty.id == TypeId::Unknown;
        Ok(match (lu, ru) {
            (true, true) => (
                self.coerce(l, DataType::TEXT, CoercionKind::Implicit)?,
                self.coerce(r, DataType::TEXT, CoercionKind::Implicit)?,
            ),
            (true, false) => {
                let t = if concat && !r.ty.is_array && r.ty.id != TypeId::Jsonb {
                    DataType::TEXT
                } else {
                    r.ty
                };
                (self.coerce(l, t, CoercionKind::Implicit)?, r)
            }
            (false, true) => {
                let t = if concat && !l.ty.is_array && l.ty.id != TypeId::Jsonb {
                    DataType::TEXT
                } else {
                    l.ty
                };
                let t = if matches!(l.ty.id, TypeId::Json | TypeId::Jsonb)
                    && !concat
                    && !matches!(r.kind, LKind::Param(_))
                {
                    // `j -> 'key'`: the key is text.
                    DataType::TEXT
                } else {
                    t
                };
                (l, self.coerce(r, t, CoercionKind::Implicit)?)
            }
            _ => (l, r),
        })
    }

    pub fn binary(&mut self, op: BinaryOp, l: LExpr, r: LExpr) -> DbResult<LExpr> {
        // Untyped operands are resolved by `resolve_binary` itself, which
        // knows each operator's candidates (`jsonb #> '{a,b}'` is text[]).
        let Some((lt, rt, res)) = resolve_binary(op, &l.ty, &r.ty) else {
            return Err(err(
                SqlState::UNDEFINED_FUNCTION,
                format!(
                    "operator does not exist: {} {} {}",
                    type_name(&l.ty),
                    op.symbol(),
                    type_name(&r.ty)
                ),
            )
            .with_hint("No operator matches the given name and argument types. You might need to add explicit type casts."));
        };
        // `text || anynonarray` converts the other side through its output
        // function, as PostgreSQL does.
        let kind = if op == BinaryOp::Concat && res.id == TypeId::Text {
            CoercionKind::Explicit
        } else {
            CoercionKind::Implicit
        };
        let l = self.coerce(l, lt, kind)?;
        let r = self.coerce(r, rt, kind)?;
        Ok(LExpr::new(LKind::Binary(op, Box::new(l), Box::new(r)), res))
    }

    pub fn require_bool(&mut self, e: LExpr, what: &str) -> DbResult<LExpr> {
        if e.ty.id == TypeId::Unknown {
            return self.coerce(e, DataType::BOOL, CoercionKind::Implicit);
        }
        if e.ty != DataType::BOOL {
            return Err(err(
                SqlState::DATATYPE_MISMATCH,
                format!(
                    "argument of {what} must be type boolean, not type {}",
                    type_name(&e.ty)
                ),
            ));
        }
        Ok(e)
    }

    /// Coerces all expressions to their common type.
    pub fn unify(&mut self, exprs: Vec<LExpr>, what: &str) -> DbResult<(Vec<LExpr>, DataType)> {
        let types: Vec<DataType> = exprs.iter().map(|e| e.ty).collect();
        let t = if types.iter().all(|t| t.id == TypeId::Unknown) {
            DataType::TEXT
        } else {
            common_type(&types).ok_or_else(|| {
                let known: Vec<&DataType> =
                    types.iter().filter(|t| t.id != TypeId::Unknown).collect();
                err(
                    SqlState::DATATYPE_MISMATCH,
                    format!(
                        "{what} types {} and {} cannot be matched",
                        known.first().map(|t| type_name(t)).unwrap_or_default(),
                        known.last().map(|t| type_name(t)).unwrap_or_default()
                    ),
                )
            })?
        };
        let mut out = Vec::with_capacity(exprs.len());
        for e in exprs {
            out.push(self.coerce(e, t, CoercionKind::Implicit)?);
        }
        Ok((out, t))
    }

    // ------------------------------------------------------------ names

    fn find_col(&self, scope: &Scope, qual: Option<&str>, name: &str) -> DbResult<Option<LExpr>> {
        let scopes = std::iter::once(scope).chain(self.outer.iter().rev());
        let mut qual_seen = false;
        for s in scopes {
            let mut found: Option<&ScopeCol> = None;
            for c in &s.cols {
                let ok = match qual {
                    Some(q) => {
                        if c.qual.as_deref() == Some(q) {
                            qual_seen = true;
                            c.name == name
                        } else {
                            false
                        }
                    }
                    None => !c.hidden && c.name == name,
                };
                if ok {
                    if found.is_some() {
                        let shown = match qual {
                            Some(q) => format!("{q}.{name}"),
                            None => name.to_string(),
                        };
                        return Err(err(
                            SqlState::new(b"42702"),
                            format!("column reference \"{shown}\" is ambiguous"),
                        ));
                    }
                    found = Some(c);
                }
            }
            if let Some(c) = found {
                return Ok(Some(LExpr::col(c.id, c.ty)));
            }
            if qual_seen {
                break;
            }
        }
        if let Some(q) = qual {
            if !qual_seen {
                return Err(err(
                    SqlState::UNDEFINED_TABLE,
                    format!("missing FROM-clause entry for table \"{q}\""),
                ));
            }
            return Err(err(
                SqlState::UNDEFINED_COLUMN,
                format!("column {q}.{name} does not exist"),
            ));
        }
        Ok(None)
    }

    fn column_ref(&mut self, scope: &Scope, parts: &[ast::Ident]) -> DbResult<LExpr> {
        let names: Vec<String> = parts.iter().map(ident_name).collect();
        match names.len() {
            1 => self.find_col(scope, None, &names[0])?.ok_or_else(|| {
                err(
                    SqlState::UNDEFINED_COLUMN,
                    format!("column \"{}\" does not exist", names[0]),
                )
            }),
            2 => Ok(self
                .find_col(scope, Some(&names[0]), &names[1])?
                .unwrap_or_else(|| LExpr::null(DataType::UNKNOWN))),
            3 | 4 => {
                let n = names.len();
                Ok(self
                    .find_col(scope, Some(&names[n - 2]), &names[n - 1])?
                    .unwrap_or_else(|| LExpr::null(DataType::UNKNOWN)))
            }
            _ => Err(err(
                SqlState::SYNTAX_ERROR,
                format!(
                    "improper qualified name (too many dotted names): {}",
                    names.join(".")
                ),
            )),
        }
    }

    // ------------------------------------------------------------ literals

    pub fn literal(&mut self, v: &ast::Value) -> DbResult<LExpr> {
        use ast::Value as V;
        Ok(match v {
            V::Number(s, _) => number_literal(s)?,
            V::SingleQuotedString(s)
            | V::EscapedStringLiteral(s)
            | V::UnicodeStringLiteral(s)
            | V::NationalStringLiteral(s)
            | V::TripleSingleQuotedString(s) => {
                LExpr::constant(Value::text(s.clone()), DataType::UNKNOWN)
            }
            V::DollarQuotedString(d) => {
                LExpr::constant(Value::text(d.value.clone()), DataType::UNKNOWN)
            }
            V::HexStringLiteral(s) => {
                let bytes = (0..s.len())
                    .step_by(2)
                    .filter_map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
                    .collect::<Vec<u8>>();
                LExpr::constant(Value::Bytea(RVec::from(bytes)), DataType::BYTEA)
            }
            V::Boolean(b) => LExpr::boolean(*b),
            V::Null => LExpr::null(DataType::UNKNOWN),
            V::Placeholder(p) => self.param(p)?,
            other => {
                return Err(AionError::feature_not_supported(format!(
                    "literal {other} is not supported"
                )))
            }
        })
    }

    fn param(&mut self, p: &str) -> DbResult<LExpr> {
        let n: usize = p.trim_start_matches('$').parse().map_err(|_| {
            err(
                SqlState::SYNTAX_ERROR,
                format!("syntax error at or near \"{p}\""),
            )
        })?;
        if n == 0 || n > 65535 {
            return Err(err(
                SqlState::UNDEFINED_PARAMETER,
                format!("there is no parameter ${n}"),
            ));
        }
        while self.params.len() < n {
            self.params.push(DataType::UNKNOWN);
        }
        Ok(LExpr::new(LKind::Param((n - 1) as u32), self.params[n - 1]))
    }

    // ------------------------------------------------------------ expressions

    pub fn expr(&mut self, scope: &Scope, e: &ast::Expr) -> DbResult<LExpr> {
        use ast::Expr as E;
        match e {
            E::Identifier(id) => self.column_ref(scope, std::slice::from_ref(id)),
            E::CompoundIdentifier(ids) => self.column_ref(scope, ids),
            E::Value(v) => self.literal(&v.value),
            E::Nested(inner) => self.expr(scope, inner),
            E::BinaryOp { left, op, right } => self.binary_op(scope, left, op, right),
            E::UnaryOp { op, expr } => {
                if matches!(op, ast::UnaryOperator::Minus) {
                    // PostgreSQL's grammar folds the minus into a numeric
                    // literal, so `-2147483648` is an integer, not bigint.
                    // Nested minuses fold too: `-(-2147483648)` is bigint.
                    let mut inner = &**expr;
                    let mut negative = true;
                    loop {
                        match inner {
                            E::Nested(x) => inner = x,
                            E::UnaryOp {
                                op: ast::UnaryOperator::Minus,
                                expr: x,
                            } => {
                                negative = !negative;
                                inner = x;
                            }
                            _ => break,
                        }
                    }
                    if let E::Value(v) = inner {
                        if let ast::Value::Number(n, _) = &v.value {
                            let sign = if negative { "-" } else { "" };
                            return number_literal(&format!("{sign}{n}"));
                        }
                    }
                }
                let a = self.expr(scope, expr)?;
                match op {
                    ast::UnaryOperator::Not => {
                        let a = self.require_bool(a, "NOT")?;
                        Ok(fold_not(a))
                    }
                    ast::UnaryOperator::Plus => Ok(a),
                    ast::UnaryOperator::Minus => self.unary(UnaryOp::Neg, a, "-"),
                    ast::UnaryOperator::BitwiseNot => self.unary(UnaryOp::BitNot, a, "~"),
                    // PostgreSQL implements these prefix operators with the
                    // functions of the same meaning.
                    ast::UnaryOperator::PGAbs => {
                        let a = if a.ty.id == TypeId::Unknown {
                            self.coerce(a, DataType::FLOAT8, CoercionKind::Implicit)?
                        } else {
                            a
                        };
                        let ty = a.ty;
                        self.call_function("abs", vec![a]).map_err(|_| {
                            err(
                                SqlState::UNDEFINED_FUNCTION,
                                format!("operator does not exist: @ {ty}"),
                            )
                        })
                    }
                    ast::UnaryOperator::PGSquareRoot | ast::UnaryOperator::PGCubeRoot => {
                        let sym = op.to_string();
                        if a.ty.id != TypeId::Unknown
                            && !can_coerce(&a.ty, &DataType::FLOAT8, CoercionKind::Implicit)
                        {
                            return Err(err(
                                SqlState::UNDEFINED_FUNCTION,
                                format!("operator does not exist: {sym} {}", a.ty),
                            ));
                        }
                        let a = self.coerce(a, DataType::FLOAT8, CoercionKind::Implicit)?;
                        let f = if sym == "|/" { "sqrt" } else { "cbrt" };
                        self.call_function(f, vec![a])
                    }
                    other => Err(AionError::feature_not_supported(format!(
                        "operator {other} is not supported"
                    ))),
                }
            }
            E::IsNull(a) => Ok(LExpr::new(
                LKind::IsNull(Box::new(self.expr(scope, a)?)),
                DataType::BOOL,
            )),
            E::IsNotNull(a) => Ok(LExpr::new(
                LKind::Not(Box::new(LExpr::new(
                    LKind::IsNull(Box::new(self.expr(scope, a)?)),
                    DataType::BOOL,
                ))),
                DataType::BOOL,
            )),
            E::IsTrue(a) | E::IsNotTrue(a) | E::IsFalse(a) | E::IsNotFalse(a) => {
                let v = self.expr(scope, a)?;
                let v = self.require_bool(v, "IS TRUE")?;
                let want = matches!(e, E::IsTrue(_) | E::IsNotTrue(_));
                let neg = matches!(e, E::IsNotTrue(_) | E::IsNotFalse(_));
                let op = if neg {
                    BinaryOp::IsDistinctFrom
                } else {
                    BinaryOp::IsNotDistinctFrom
                };
                Ok(LExpr::new(
                    LKind::Binary(op, Box::new(v), Box::new(LExpr::boolean(want))),
                    DataType::BOOL,
                ))
            }
            E::IsUnknown(a) | E::IsNotUnknown(a) => {
                let v = self.expr(scope, a)?;
                let v = self.require_bool(v, "IS UNKNOWN")?;
                let isn = LExpr::new(LKind::IsNull(Box::new(v)), DataType::BOOL);
                Ok(if matches!(e, E::IsNotUnknown(_)) {
                    LExpr::new(LKind::Not(Box::new(isn)), DataType::BOOL)
                } else {
                    isn
                })
            }
            E::IsDistinctFrom(a, b) | E::IsNotDistinctFrom(a, b) => {
                let l = self.expr(scope, a)?;
                let r = self.expr(scope, b)?;
                let op = if matches!(e, E::IsDistinctFrom(..)) {
                    BinaryOp::IsDistinctFrom
                } else {
                    BinaryOp::IsNotDistinctFrom
                };
                self.binary(op, l, r)
            }
            E::Between {
                expr,
                negated,
                low,
                high,
            } => {
                let x = self.expr(scope, expr)?;
                let lo = self.expr(scope, low)?;
                let hi = self.expr(scope, high)?;
                let a = self.binary(BinaryOp::GtEq, x.clone(), lo)?;
                let b = self.binary(BinaryOp::LtEq, x, hi)?;
                let both = LExpr::new(LKind::And(vec![a, b]), DataType::BOOL);
                Ok(if *negated {
                    LExpr::new(LKind::Not(Box::new(both)), DataType::BOOL)
                } else {
                    both
                })
            }
            E::InList {
                expr,
                list,
                negated,
            } => {
                let x = self.expr(scope, expr)?;
                let mut all = vec![x];
                for i in list {
                    all.push(self.expr(scope, i)?);
                }
                let (mut all, _) = self.unify(all, "IN")?;
                let x = all.remove(0);
                Ok(LExpr::new(
                    LKind::InList {
                        arg: Box::new(x),
                        list: all,
                        negated: *negated,
                    },
                    DataType::BOOL,
                ))
            }
            E::InSubquery {
                expr,
                subquery,
                negated,
            } => {
                let x = self.expr(scope, expr)?;
                let (plan, ty) = self.subquery(scope, subquery, true)?;
                let x = self.subquery_arg(x, ty)?;
                let sq = LExpr::new(
                    LKind::Subquery {
                        kind: SubqueryKind::In,
                        plan: Box::new(plan),
                        arg: Some(Box::new(x)),
                    },
                    DataType::BOOL,
                );
                Ok(if *negated {
                    LExpr::new(LKind::Not(Box::new(sq)), DataType::BOOL)
                } else {
                    sq
                })
            }
            E::Exists { subquery, negated } => {
                let (plan, _) = self.subquery(scope, subquery, false)?;
                let sq = LExpr::new(
                    LKind::Subquery {
                        kind: SubqueryKind::Exists,
                        plan: Box::new(plan),
                        arg: None,
                    },
                    DataType::BOOL,
                );
                Ok(if *negated {
                    LExpr::new(LKind::Not(Box::new(sq)), DataType::BOOL)
                } else {
                    sq
                })
            }
            E::Subquery(q) => {
                let (plan, ty) = self.subquery(scope, q, true)?;
                Ok(LExpr::new(
                    LKind::Subquery {
                        kind: SubqueryKind::Scalar,
                        plan: Box::new(plan),
                        arg: None,
                    },
                    ty,
                ))
            }
            E::AnyOp {
                left,
                compare_op,
                right,
                ..
            }
            | E::AllOp {
                left,
                compare_op,
                right,
            } => {
                let all = matches!(e, E::AllOp { .. });
                let op = map_binop(compare_op)?;
                let l = self.expr(scope, left)?;
                let inner = match &**right {
                    E::Nested(x) => &**x,
                    x => x,
                };
                if let E::Subquery(q) = inner {
                    let (plan, ty) = self.subquery(scope, q, true)?;
                    let l = self.subquery_arg(l, ty)?;
                    let kind = if all {
                        SubqueryKind::All(op)
                    } else {
                        SubqueryKind::Any(op)
                    };
                    return Ok(LExpr::new(
                        LKind::Subquery {
                            kind,
                            plan: Box::new(plan),
                            arg: Some(Box::new(l)),
                        },
                        DataType::BOOL,
                    ));
                }
                let arr = self.expr(scope, right)?;
                let (l, arr) = if arr.ty.id == TypeId::Unknown {
                    let t = if l.ty.id == TypeId::Unknown {
                        DataType::TEXT
                    } else {
                        l.ty
                    };
                    let at = DataType {
                        is_array: true,
                        ..t
                    };
                    let l = self.coerce(l, t, CoercionKind::Implicit)?;
                    (l, self.coerce(arr, at, CoercionKind::Implicit)?)
                } else {
                    if !arr.ty.is_array {
                        return Err(err(
                            SqlState::DATATYPE_MISMATCH,
                            "op ANY/ALL (array) requires array on right side",
                        ));
                    }
                    let elem = DataType::scalar(arr.ty.id);
                    let (l, _) = self.unify_unknown(l, LExpr::null(elem), false)?;
                    (l, arr)
                };
                let elem = DataType::scalar(arr.ty.id);
                if resolve_binary(op, &l.ty, &elem).is_none() {
                    return Err(err(
                        SqlState::UNDEFINED_FUNCTION,
                        format!("operator does not exist: {} {} {}", l.ty, op.symbol(), elem),
                    ));
                }
                Ok(LExpr::new(
                    LKind::AnyAll {
                        op,
                        left: Box::new(l),
                        array: Box::new(arr),
                        all,
                    },
                    DataType::BOOL,
                ))
            }
            E::Like {
                negated,
                expr,
                pattern,
                escape_char,
                any: _,
            }
            | E::ILike {
                negated,
                expr,
                pattern,
                escape_char,
                any: _,
            } => {
                let ci = matches!(e, E::ILike { .. });
                let a = self.expr(scope, expr)?;
                let a = self.text_arg(a)?;
                let p = self.expr(scope, pattern)?;
                let p = self.text_arg(p)?;
                let esc = match escape_char {
                    Some(x) => {
                        let x = self.expr(scope, x)?;
                        Some(Box::new(self.text_arg(x)?))
                    }
                    None => None,
                };
                Ok(LExpr::new(
                    LKind::Like {
                        arg: Box::new(a),
                        pattern: Box::new(p),
                        escape: esc,
                        ci,
                        negated: *negated,
                    },
                    DataType::BOOL,
                ))
            }
            E::Cast {
                expr, data_type, ..
            } => {
                let to = crate::types::sql_data_type(data_type)?;
                let a = self.expr(scope, expr)?;
                self.explicit_cast(a, to)
            }
            E::TypedString(ts) => {
                let to = crate::types::sql_data_type(&ts.data_type)?;
                let a = self.literal(&ts.value.value)?;
                self.explicit_cast(a, to)
            }
            E::Interval(iv) => {
                let a = self.expr(scope, &iv.value)?;
                let a = match (&a.kind, &iv.leading_field) {
                    (LKind::Const(Value::Text(s)), Some(f)) if iv.last_field.is_none() => {
                        LExpr::constant(Value::text(format!("{} {}", s, f)), DataType::UNKNOWN)
                    }
                    _ => a,
                };
                self.explicit_cast(a, DataType::scalar(TypeId::Interval))
            }
            E::Case {
                operand,
                conditions,
                else_result,
                ..
            } => self.case(
                scope,
                operand.as_deref(),
                conditions,
                else_result.as_deref(),
            ),
            E::Function(f) => self.function(scope, f),
            E::Array(arr) => {
                let mut items = Vec::new();
                for i in &arr.elem {
                    items.push(self.expr(scope, i)?);
                }
                if items.is_empty() {
                    return Ok(LExpr::new(
                        LKind::Array(vec![]),
                        DataType::array_of(TypeId::Text),
                    ));
                }
                let (items, t) = self.unify(items, "ARRAY")?;
                let at = if t.is_array {
                    t
                } else {
                    DataType {
                        is_array: true,
                        typmod: -1,
                        ..t
                    }
                };
                Ok(LExpr::new(LKind::Array(items), at))
            }
            E::CompoundFieldAccess { root, access_chain } => {
                let mut cur = self.expr(scope, root)?;
                for a in access_chain {
                    match a {
                        ast::AccessExpr::Subscript(ast::Subscript::Index { index }) => {
                            let i = self.expr(scope, index)?;
                            cur = self.subscript(cur, i)?;
                        }
                        _ => {
                            return Err(AionError::feature_not_supported(
                                "array slices and field access are not supported",
                            ))
                        }
                    }
                }
                Ok(cur)
            }
            E::Extract { field, expr, .. } => {
                let x = self.expr(scope, expr)?;
                let fname = LExpr::constant(
                    Value::text(field.to_string().to_lowercase()),
                    DataType::TEXT,
                );
                self.call_function("extract", vec![fname, x])
            }
            E::Position { expr, r#in } => {
                let needle = self.expr(scope, expr)?;
                let hay = self.expr(scope, r#in)?;
                self.call_function("strpos", vec![hay, needle])
            }
            E::Substring {
                expr,
                substring_from,
                substring_for,
                ..
            } => {
                let mut args = vec![self.expr(scope, expr)?];
                match substring_from {
                    Some(f) => args.push(self.expr(scope, f)?),
                    None => args.push(LExpr::constant(Value::Int4(1), DataType::INT4)),
                }
                if let Some(f) = substring_for {
                    args.push(self.expr(scope, f)?);
                }
                self.call_function("substr", args)
            }
            E::Trim {
                expr,
                trim_where,
                trim_what,
                trim_characters,
            } => {
                let name = match trim_where {
                    Some(ast::TrimWhereField::Leading) => "ltrim",
                    Some(ast::TrimWhereField::Trailing) => "rtrim",
                    _ => "btrim",
                };
                let mut args = vec![self.expr(scope, expr)?];
                if let Some(w) = trim_what {
                    args.push(self.expr(scope, w)?);
                } else if let Some(cs) = trim_characters {
                    for c in cs {
                        args.push(self.expr(scope, c)?);
                    }
                }
                self.call_function(name, args)
            }
            E::Ceil { expr, .. } => {
                let x = self.expr(scope, expr)?;
                self.call_function("ceil", vec![x])
            }
            E::Floor { expr, .. } => {
                let x = self.expr(scope, expr)?;
                self.call_function("floor", vec![x])
            }
            E::AtTimeZone {
                timestamp,
                time_zone,
            } => {
                let z = self.expr(scope, time_zone)?;
                let t = self.expr(scope, timestamp)?;
                self.call_function("timezone", vec![z, t])
            }
            E::Collate { expr, .. } => self.expr(scope, expr),
            E::Tuple(_) => Err(AionError::feature_not_supported(
                "row constructors are not supported",
            )),
            other => Err(AionError::feature_not_supported(format!(
                "expression not supported: {other}"
            ))),
        }
    }

    fn text_arg(&mut self, a: LExpr) -> DbResult<LExpr> {
        if matches!(a.ty.id, TypeId::Text | TypeId::Varchar | TypeId::Char) && !a.ty.is_array {
            return Ok(a);
        }
        if matches!(a.ty.id, TypeId::Name | TypeId::InternalChar) && !a.ty.is_array {
            return self.coerce(a, DataType::TEXT, CoercionKind::Implicit);
        }
        if a.ty.id == TypeId::Unknown {
            return self.coerce(a, DataType::TEXT, CoercionKind::Implicit);
        }
        Err(err(
            SqlState::UNDEFINED_FUNCTION,
            format!("operator does not exist: {} ~~ unknown", a.ty),
        ))
    }

    fn subquery_arg(&mut self, x: LExpr, ty: DataType) -> DbResult<LExpr> {
        if x.ty.id == TypeId::Unknown {
            return self.coerce(x, ty, CoercionKind::Implicit);
        }
        if resolve_binary(BinaryOp::Eq, &x.ty, &ty).is_none() {
            return Err(err(
                SqlState::UNDEFINED_FUNCTION,
                format!("operator does not exist: {} = {}", x.ty, ty),
            ));
        }
        Ok(x)
    }

    pub fn explicit_cast(&mut self, a: LExpr, to: DataType) -> DbResult<LExpr> {
        if let Some(x) = self.reg_conversion(&a, to)? {
            return Ok(x);
        }
        if a.ty.id == TypeId::Unknown {
            if let LKind::Const(Value::Text(s)) = &a.kind {
                if text_input_uses_format_options(&to, s.as_str()) {
                    return Ok(deferred_input(s.clone(), to, true));
                }
                // A typed literal: the type's input function, then the typmod.
                let base = DataType { typmod: -1, ..to };
                let v = parse_text(base, s.as_str())?;
                if to.typmod < 0 {
                    return Ok(LExpr::constant(v, to));
                }
                return Ok(LExpr::new(
                    LKind::Cast {
                        arg: Box::new(LExpr::constant(v, base)),
                        explicit: true,
                    },
                    to,
                ));
            }
        }
        if a.ty == to {
            return Ok(a);
        }
        if a.ty.id != TypeId::Unknown && !can_coerce(&a.ty, &to, CoercionKind::Explicit) {
            return Err(err(
                SqlState::new(b"42846"),
                format!("cannot cast type {} to {}", a.ty, to),
            ));
        }
        if a.ty.id == TypeId::Unknown {
            return self.coerce(a, to, CoercionKind::Explicit);
        }
        Ok(LExpr::new(
            LKind::Cast {
                arg: Box::new(a),
                explicit: true,
            },
            to,
        ))
    }

    fn unary(&mut self, op: UnaryOp, a: LExpr, sym: &str) -> DbResult<LExpr> {
        // `-5` is a negative literal, as in PostgreSQL's grammar.
        if op == UnaryOp::Neg {
            if let LKind::Const(v) = &a.kind {
                if let Ok(n) = aiondb_sdk::value::eval_unary(op, v) {
                    return Ok(LExpr::constant(n, a.ty));
                }
                if let Value::Numeric(_) = v {
                    let s = v.to_pg_text().unwrap_or_default();
                    if let Ok(n) = parse_text(DataType::NUMERIC, &format!("-{s}")) {
                        return Ok(LExpr::constant(n, a.ty));
                    }
                }
            }
        }
        let a = if a.ty.id == TypeId::Unknown {
            self.coerce(
                a,
                if op == UnaryOp::Not {
                    DataType::BOOL
                } else {
                    DataType::FLOAT8
                },
                CoercionKind::Implicit,
            )?
        } else {
            a
        };
        let Some((at, rt)) = resolve_unary(op, &a.ty) else {
            return Err(err(
                SqlState::UNDEFINED_FUNCTION,
                format!("operator does not exist: {sym} {}", a.ty),
            ));
        };
        let a = self.coerce(a, at, CoercionKind::Implicit)?;
        Ok(LExpr::new(LKind::Unary(op, Box::new(a)), rt))
    }

    fn subscript(&mut self, arr: LExpr, idx: LExpr) -> DbResult<LExpr> {
        if arr.ty.id == TypeId::Jsonb || arr.ty.id == TypeId::Json {
            return self.binary(BinaryOp::JsonGet, arr, idx);
        }
        if !arr.ty.is_array {
            return Err(err(
                SqlState::DATATYPE_MISMATCH,
                format!(
                    "cannot subscript type {} because it does not support subscripting",
                    arr.ty
                ),
            ));
        }
        let idx = self.coerce(idx, DataType::INT4, CoercionKind::Implicit)?;
        let t = DataType::scalar(arr.ty.id);
        Ok(LExpr::new(
            LKind::Subscript(Box::new(arr), Box::new(idx)),
            t,
        ))
    }

    fn binary_op(
        &mut self,
        scope: &Scope,
        left: &ast::Expr,
        op: &ast::BinaryOperator,
        right: &ast::Expr,
    ) -> DbResult<LExpr> {
        use ast::BinaryOperator as B;
        match op {
            B::And | B::Or => {
                let name = if matches!(op, B::And) { "AND" } else { "OR" };
                let l = self.expr(scope, left)?;
                let l = self.require_bool(l, name)?;
                let r = self.expr(scope, right)?;
                let r = self.require_bool(r, name)?;
                let mut items = Vec::new();
                for x in [l, r] {
                    match (x.kind, matches!(op, B::And)) {
                        (LKind::And(v), true) => items.extend(v),
                        (LKind::Or(v), false) => items.extend(v),
                        (k, _) => items.push(LExpr::new(k, DataType::BOOL)),
                    }
                }
                Ok(LExpr::new(
                    if matches!(op, B::And) {
                        LKind::And(items)
                    } else {
                        LKind::Or(items)
                    },
                    DataType::BOOL,
                ))
            }
            B::PGLikeMatch | B::PGILikeMatch | B::PGNotLikeMatch | B::PGNotILikeMatch => {
                let a = self.expr(scope, left)?;
                let a = self.text_arg(a)?;
                let p = self.expr(scope, right)?;
                let p = self.text_arg(p)?;
                let ci = matches!(op, B::PGILikeMatch | B::PGNotILikeMatch);
                let negated = matches!(op, B::PGNotLikeMatch | B::PGNotILikeMatch);
                Ok(LExpr::new(
                    LKind::Like {
                        arg: Box::new(a),
                        pattern: Box::new(p),
                        escape: None,
                        ci,
                        negated,
                    },
                    DataType::BOOL,
                ))
            }
            _ => {
                let bop = map_binop(op)?;
                let l = self.expr(scope, left)?;
                let r = self.expr(scope, right)?;
                self.binary(bop, l, r)
            }
        }
    }

    fn case(
        &mut self,
        scope: &Scope,
        operand: Option<&ast::Expr>,
        conds: &[ast::CaseWhen],
        otherwise: Option<&ast::Expr>,
    ) -> DbResult<LExpr> {
        let mut whens = Vec::new();
        let operand = match operand {
            Some(o) => {
                let o = self.expr(scope, o)?;
                let mut ws = vec![o];
                for c in conds {
                    ws.push(self.expr(scope, &c.condition)?);
                }
                let (mut ws, _) = self.unify(ws, "CASE/WHEN")?;
                let o = ws.remove(0);
                whens = ws;
                Some(Box::new(o))
            }
            None => {
                for c in conds {
                    let w = self.expr(scope, &c.condition)?;
                    whens.push(self.require_bool(w, "CASE/WHEN")?);
                }
                None
            }
        };
        let mut results = Vec::new();
        for c in conds {
            results.push(self.expr(scope, &c.result)?);
        }
        if let Some(o) = otherwise {
            results.push(self.expr(scope, o)?);
        }
        let (mut results, t) = self.unify(results, "CASE")?;
        let otherwise = if otherwise.is_some() {
            results.pop().map(Box::new)
        } else {
            None
        };
        Ok(LExpr::new(
            LKind::Case {
                operand,
                whens,
                thens: results,
                otherwise,
            },
            t,
        ))
    }

    // ------------------------------------------------------------ functions

    fn function_args(
        &mut self,
        scope: &Scope,
        f: &ast::Function,
    ) -> DbResult<(Vec<LExpr>, bool, bool, Vec<LSortKey>)> {
        let mut args = Vec::new();
        let mut star = false;
        let mut distinct = false;
        let mut order = Vec::new();
        match &f.args {
            ast::FunctionArguments::None => {}
            ast::FunctionArguments::Subquery(_) => {
                return Err(AionError::feature_not_supported(
                    "subquery as function argument",
                ))
            }
            ast::FunctionArguments::List(list) => {
                distinct = matches!(
                    list.duplicate_treatment,
                    Some(ast::DuplicateTreatment::Distinct)
                );
                for a in &list.args {
                    let ae = match a {
                        ast::FunctionArg::Unnamed(x) => x,
                        ast::FunctionArg::Named { arg, .. }
                        | ast::FunctionArg::ExprNamed { arg, .. } => arg,
                    };
                    match ae {
                        ast::FunctionArgExpr::Expr(x) => args.push(self.expr(scope, x)?),
                        ast::FunctionArgExpr::Wildcard => star = true,
                        _ => {
                            return Err(AionError::feature_not_supported(
                                "qualified wildcard argument",
                            ))
                        }
                    }
                }
                for c in &list.clauses {
                    if let ast::FunctionArgumentClause::OrderBy(obs) = c {
                        for ob in obs {
                            order.push(self.sort_key(scope, ob)?);
                        }
                    }
                }
            }
        }
        Ok((args, star, distinct, order))
    }

    pub fn sort_key(&mut self, scope: &Scope, ob: &ast::OrderByExpr) -> DbResult<LSortKey> {
        let e = self.expr(scope, &ob.expr)?;
        let e = if e.ty.id == TypeId::Unknown {
            self.coerce(e, DataType::TEXT, CoercionKind::Implicit)?
        } else {
            e
        };
        Ok(make_key(e, &ob.options))
    }

    fn function(&mut self, scope: &Scope, f: &ast::Function) -> DbResult<LExpr> {
        let parts = object_parts(&f.name)?;
        let name = parts.last().cloned().unwrap_or_default();
        if parts.len() > 1 && parts[0] != "pg_catalog" && parts[0] != "public" {
            return Err(err(
                SqlState::UNDEFINED_FUNCTION,
                format!("function {}() does not exist", parts.join(".")),
            ));
        }
        if let Some(over) = &f.over {
            return self.window_call(scope, f, &name, over);
        }
        if let Some(af) = agg_func(&name) {
            return self.aggregate(scope, f, &name, af);
        }
        if let (true, ast::FunctionArguments::Subquery(q)) = (name == "array", &f.args) {
            // `ARRAY(SELECT ...)`: one array of the subquery's column.
            let (plan, ty) = self.subquery(scope, q, true)?;
            return Ok(LExpr::new(
                LKind::Subquery {
                    kind: SubqueryKind::Array,
                    plan: Box::new(plan),
                    arg: None,
                },
                DataType {
                    is_array: true,
                    ..ty
                },
            ));
        }
        let (args, _star, _, _) = self.function_args(scope, f)?;
        let no_parens = matches!(f.args, ast::FunctionArguments::None);
        let special = |s: SpecialFunc, t: DataType| Ok(LExpr::new(LKind::Special(s, vec![]), t));
        match (name.as_str(), args.len()) {
            ("now" | "transaction_timestamp", 0) | ("current_timestamp", 0) => {
                return special(SpecialFunc::Now, DataType::TIMESTAMPTZ)
            }
            ("statement_timestamp", 0) => {
                return special(SpecialFunc::StatementTimestamp, DataType::TIMESTAMPTZ)
            }
            ("clock_timestamp", 0) => {
                return special(SpecialFunc::ClockTimestamp, DataType::TIMESTAMPTZ)
            }
            ("current_date", 0) => return special(SpecialFunc::CurrentDate, DataType::DATE),
            ("current_time", 0) if no_parens => {
                return special(SpecialFunc::CurrentTime, DataType::scalar(TypeId::Time))
            }
            ("localtimestamp", 0) => {
                return special(SpecialFunc::LocalTimestamp, DataType::TIMESTAMP)
            }
            ("current_user" | "user" | "session_user" | "current_role", 0) => {
                return special(SpecialFunc::CurrentUser, DataType::TEXT)
            }
            ("current_database", 0) => {
                return special(SpecialFunc::CurrentDatabase, DataType::TEXT)
            }
            ("current_schema", 0) => return special(SpecialFunc::CurrentSchema, DataType::TEXT),
            ("version", 0) => return special(SpecialFunc::Version, DataType::TEXT),
            ("pg_typeof", 1) => {
                let t = if args[0].ty.id == TypeId::Unknown {
                    "unknown".to_string()
                } else {
                    args[0].ty.to_string()
                };
                return Ok(LExpr::constant(Value::text(t), DataType::TEXT));
            }
            _ => {}
        }
        if let Some(f) = aiondb_sdk::syscat::lookup_function(&name, args.len()) {
            return self.catalog_call(f, args);
        }
        self.call_function(&name, args)
    }

    /// A system-catalog function: untyped arguments take the declared
    /// parameter types; oid-like parameters accept any integer.
    fn catalog_call(
        &mut self,
        f: &aiondb_sdk::syscat::SysFunction,
        args: Vec<LExpr>,
    ) -> DbResult<LExpr> {
        let mut out = Vec::with_capacity(args.len());
        for (a, p) in args.into_iter().zip(f.params.iter()) {
            let a = if p.id == TypeId::Any {
                if a.ty.id == TypeId::Unknown {
                    self.coerce(a, DataType::TEXT, CoercionKind::Implicit)?
                } else {
                    a
                }
            } else if a.ty.id == TypeId::Unknown {
                self.coerce(a, *p, CoercionKind::Explicit)?
            } else if p.id.is_oid_like()
                && !a.ty.is_array
                && (a.ty.id.is_oid_like()
                    || matches!(a.ty.id, TypeId::Int2 | TypeId::Int4 | TypeId::Int8))
            {
                a
            } else if can_coerce(&a.ty, p, CoercionKind::Implicit) {
                self.coerce(a, *p, CoercionKind::Implicit)?
            } else {
                return Err(err(
                    SqlState::UNDEFINED_FUNCTION,
                    format!("function {}({}) does not exist", f.name, a.ty),
                ));
            };
            out.push(a);
        }
        Ok(LExpr::new(
            LKind::Special(SpecialFunc::Catalog(f.func), out),
            f.returns,
        ))
    }

    /// Text to and from the `reg*` types goes through the catalog
    /// (`'books'::regclass`, `c.oid::regclass::text`); `None` for every
    /// other conversion.
    fn reg_conversion(&mut self, e: &LExpr, to: DataType) -> DbResult<Option<LExpr>> {
        use aiondb_sdk::syscat::{reg_input, reg_output};
        let stringish = |t: &DataType| {
            !t.is_array
                && matches!(
                    t.id,
                    TypeId::Text | TypeId::Varchar | TypeId::Char | TypeId::Name | TypeId::Unknown
                )
        };
        if let (Some(f), false) = (reg_input(to.id), to.is_array) {
            if stringish(&e.ty) && !matches!(e.kind, LKind::Const(Value::Null)) {
                let arg = if e.ty == DataType::TEXT {
                    e.clone()
                } else {
                    self.coerce(e.clone(), DataType::TEXT, CoercionKind::Explicit)?
                };
                return Ok(Some(LExpr::new(
                    LKind::Special(SpecialFunc::Catalog(f), vec![arg]),
                    to,
                )));
            }
        }
        if let (Some(f), false) = (reg_output(e.ty.id), e.ty.is_array) {
            if stringish(&to) {
                let text = LExpr::new(
                    LKind::Special(SpecialFunc::Catalog(f), vec![e.clone()]),
                    DataType::TEXT,
                );
                return Ok(Some(if to == DataType::TEXT {
                    text
                } else {
                    self.coerce(text, to, CoercionKind::Explicit)?
                }));
            }
        }
        Ok(None)
    }

    /// Resolves `name(args)` over the special built-ins and every function
    /// provider, with PostgreSQL-like overload resolution.
    pub fn call_function(&mut self, name: &str, args: Vec<LExpr>) -> DbResult<LExpr> {
        match name {
            "coalesce" | "greatest" | "least" => {
                if args.is_empty() {
                    return Err(err(
                        SqlState::SYNTAX_ERROR,
                        "syntax error at or near \")\"".to_string(),
                    ));
                }
                let (args, t) = self.unify(args, &name.to_uppercase())?;
                let f = match name {
                    "coalesce" => SpecialFunc::Coalesce,
                    "greatest" => SpecialFunc::Greatest,
                    _ => SpecialFunc::Least,
                };
                return Ok(LExpr::new(LKind::Special(f, args), t));
            }
            "nullif" if args.len() == 2 => {
                let mut it = args.into_iter();
                let (a, b) = (it.next(), it.next());
                let (Some(a), Some(b)) = (a, b) else {
                    unreachable!()
                };
                let (a, b) = self.unify_unknown(a, b, false)?;
                let t = a.ty;
                let cmp = self.binary(BinaryOp::Eq, a.clone(), b.clone())?;
                drop(cmp);
                let b = if b.ty == t {
                    b
                } else {
                    self.coerce(b, t, CoercionKind::Implicit)
                        .unwrap_or(b_fallback(t))
                };
                return Ok(LExpr::new(
                    LKind::Special(SpecialFunc::NullIf, vec![a, b]),
                    t,
                ));
            }
            "nextval" | "currval" if args.len() == 1 => {
                let a = self.coerce(
                    args.into_iter()
                        .next()
                        .unwrap_or(LExpr::null(DataType::TEXT)),
                    DataType::TEXT,
                    CoercionKind::Implicit,
                )?;
                let f = if name == "nextval" {
                    SpecialFunc::NextVal
                } else {
                    SpecialFunc::CurrVal
                };
                return Ok(LExpr::new(LKind::Special(f, vec![a]), DataType::INT8));
            }
            "lastval" if args.is_empty() => {
                return Ok(LExpr::new(
                    LKind::Special(SpecialFunc::LastVal, vec![]),
                    DataType::INT8,
                ));
            }
            "setval" if args.len() == 2 || args.len() == 3 => {
                let mut out = Vec::new();
                for (i, a) in args.into_iter().enumerate() {
                    let t = [DataType::TEXT, DataType::INT8, DataType::BOOL][i];
                    out.push(self.coerce(a, t, CoercionKind::Implicit)?);
                }
                return Ok(LExpr::new(
                    LKind::Special(SpecialFunc::SetVal, out),
                    DataType::INT8,
                ));
            }
            "current_setting" if !args.is_empty() => {
                let mut out = Vec::new();
                for a in args {
                    let t = if out.is_empty() {
                        DataType::TEXT
                    } else {
                        DataType::BOOL
                    };
                    out.push(self.coerce(a, t, CoercionKind::Implicit)?);
                }
                return Ok(LExpr::new(
                    LKind::Special(SpecialFunc::CurrentSetting, out),
                    DataType::TEXT,
                ));
            }
            _ => {}
        }
        self.load_functions()?;
        let funcs = self.funcs.as_deref().unwrap_or(&[]);
        let mut best: Option<(i32, usize)> = None;
        for (i, (_, sig)) in funcs.iter().enumerate() {
            if sig.name.as_str() != name {
                continue;
            }
            let n = sig.args.len();
            let ok_count = if sig.variadic {
                args.len() + 1 >= n
            } else {
                args.len() == n
            };
            if !ok_count {
                continue;
            }
            let mut score = 0i32;
            let mut ok = true;
            for (k, a) in args.iter().enumerate() {
                let p = if k < n { sig.args[k] } else { sig.args[n - 1] };
                if p.id == TypeId::Any {
                    if p.is_array && !a.ty.is_array && a.ty.id != TypeId::Unknown {
                        ok = false;
                        break;
                    }
                    continue;
                }
                if a.ty.id == TypeId::Unknown {
                    // Unknown literals prefer text parameters.
                    if p.id == TypeId::Text {
                        score += 1;
                    }
                    continue;
                }
                if a.ty.id == p.id && a.ty.is_array == p.is_array {
                    score += 10;
                } else if can_coerce(&a.ty, &p, CoercionKind::Implicit) {
                    if matches!(p.id, TypeId::Float8 | TypeId::Text) {
                        score += 2;
                    } else if matches!(p.id, TypeId::Numeric) {
                        score += 1;
                    }
                } else {
                    ok = false;
                    break;
                }
            }
            if ok && best.map(|(s, _)| score > s).unwrap_or(true) {
                best = Some((score, i));
            }
        }
        let Some((_, idx)) = best else {
            let types: Vec<String> = args
                .iter()
                .map(|a| {
                    if a.ty.id == TypeId::Unknown {
                        "unknown".to_string()
                    } else {
                        a.ty.to_string()
                    }
                })
                .collect();
            return Err(err(
                SqlState::UNDEFINED_FUNCTION,
                format!("function {}({}) does not exist", name, types.join(", ")),
            )
            .with_hint("No function matches the given name and argument types. You might need to add explicit type casts."));
        };
        let (provider, sig) = funcs[idx].clone();
        let n = sig.args.len();
        let mut poly: Option<DataType> = None;
        let mut out = Vec::with_capacity(args.len());
        for (k, a) in args.into_iter().enumerate() {
            let p = if k < n { sig.args[k] } else { sig.args[n - 1] };
            if p.id == TypeId::Any {
                let a = if a.ty.id == TypeId::Unknown {
                    self.coerce(a, DataType::TEXT, CoercionKind::Implicit)?
                } else {
                    a
                };
                if poly.is_none() {
                    poly = Some(if p.is_array {
                        DataType::scalar(a.ty.id)
                    } else {
                        a.ty
                    });
                }
                out.push(a);
            } else {
                out.push(self.coerce(a, p, CoercionKind::Implicit)?);
            }
        }
        let mut ret = sig.returns;
        if ret.id == TypeId::Any {
            let base = poly.unwrap_or(DataType::TEXT);
            ret = if sig.returns.is_array {
                DataType {
                    is_array: true,
                    typmod: -1,
                    ..base
                }
            } else {
                base
            };
        }
        Ok(LExpr::new(
            LKind::Call {
                func: FunctionRef {
                    provider: RString::from(provider),
                    id: sig.id,
                    name: sig.name.clone(),
                    strict: sig.strict,
                },
                args: out,
                volatile: sig.volatility != Volatility::Immutable,
            },
            ret,
        ))
    }

    fn load_functions(&mut self) -> DbResult<()> {
        if self.funcs.is_some() {
            return Ok(());
        }
        let mut all = Vec::new();
        for h in self.services.functions.iter() {
            let sigs = h.set.functions().into_result()?;
            for s in sigs {
                all.push((h.key.to_string(), s));
            }
        }
        self.funcs = Some(all);
        Ok(())
    }

    // ------------------------------------------------------------ aggregates

    fn aggregate(
        &mut self,
        scope: &Scope,
        f: &ast::Function,
        name: &str,
        af: AggFunc,
    ) -> DbResult<LExpr> {
        if let Some(msg) = self.agg_forbidden {
            return Err(err(
                SqlState::new(b"42803"),
                format!("aggregate functions are not allowed in {msg}"),
            ));
        }
        if self.agg.is_none() {
            return Err(err(
                SqlState::new(b"42803"),
                "aggregate functions are not allowed here",
            ));
        }
        // Arguments may not contain aggregates themselves.
        let saved = self.agg_forbidden.replace("aggregate function calls");
        let r = self.function_args(scope, f);
        self.agg_forbidden = saved;
        let (args, star, distinct, order) = r?;
        let filter = match &f.filter {
            Some(x) => {
                let x = self.expr(scope, x)?;
                Some(self.require_bool(x, "FILTER")?)
            }
            None => None,
        };
        let (func, args, ty) = self.agg_signature(name, af, args, star)?;
        let id = self.new_col(name, ty);
        let agg = LAgg {
            func,
            args,
            distinct,
            filter,
            order_by: order,
            ty,
        };
        if let Some(a) = self.agg.as_mut() {
            a.aggs.push((id, agg));
        }
        Ok(LExpr::col(id, ty))
    }

    fn agg_signature(
        &mut self,
        name: &str,
        af: AggFunc,
        mut args: Vec<LExpr>,
        star: bool,
    ) -> DbResult<(AggFunc, Vec<LExpr>, DataType)> {
        let bad = |args: &[LExpr]| {
            let types: Vec<String> = args.iter().map(|a| a.ty.to_string()).collect();
            err(
                SqlState::UNDEFINED_FUNCTION,
                format!("function {}({}) does not exist", name, types.join(", ")),
            )
        };
        if af == AggFunc::Count {
            if star || args.is_empty() {
                return Ok((AggFunc::CountStar, vec![], DataType::INT8));
            }
            if args.len() != 1 {
                return Err(bad(&args));
            }
            let a = args.pop().unwrap_or_else(|| LExpr::null(DataType::TEXT));
            let a = if a.ty.id == TypeId::Unknown {
                self.coerce(a, DataType::TEXT, CoercionKind::Implicit)?
            } else {
                a
            };
            return Ok((AggFunc::Count, vec![a], DataType::INT8));
        }
        let want = match af {
            AggFunc::StringAgg | AggFunc::JsonObjectAgg | AggFunc::JsonbObjectAgg => 2,
            _ => 1,
        };
        if args.len() != want {
            return Err(bad(&args));
        }
        for a in args.iter_mut() {
            if a.ty.id == TypeId::Unknown {
                let t = if matches!(
                    af,
                    AggFunc::Sum
                        | AggFunc::Avg
                        | AggFunc::StddevSamp
                        | AggFunc::StddevPop
                        | AggFunc::VarSamp
                        | AggFunc::VarPop
                ) {
                    DataType::FLOAT8
                } else {
                    DataType::TEXT
                };
                *a = self.coerce(a.clone(), t, CoercionKind::Implicit)?;
            }
        }
        let t = args[0].ty;
        let numeric_ish = !t.is_array
            && matches!(
                t.id,
                TypeId::Int2
                    | TypeId::Int4
                    | TypeId::Int8
                    | TypeId::Numeric
                    | TypeId::Float4
                    | TypeId::Float8
            );
        let ty = match af {
            AggFunc::Sum => match t.id {
                _ if t.is_array => return Err(bad(&args)),
                TypeId::Int2 | TypeId::Int4 => DataType::INT8,
                TypeId::Int8 | TypeId::Numeric => DataType::NUMERIC,
                TypeId::Float4 => DataType::FLOAT4,
                TypeId::Float8 => DataType::FLOAT8,
                TypeId::Interval => DataType::scalar(TypeId::Interval),
                _ => return Err(bad(&args)),
            },
            AggFunc::Avg => match t.id {
                _ if t.is_array => return Err(bad(&args)),
                TypeId::Int2 | TypeId::Int4 | TypeId::Int8 | TypeId::Numeric => DataType::NUMERIC,
                TypeId::Float4 | TypeId::Float8 => DataType::FLOAT8,
                TypeId::Interval => DataType::scalar(TypeId::Interval),
                _ => return Err(bad(&args)),
            },
            AggFunc::StddevSamp | AggFunc::StddevPop | AggFunc::VarSamp | AggFunc::VarPop => {
                if !numeric_ish {
                    return Err(bad(&args));
                }
                if matches!(t.id, TypeId::Float4 | TypeId::Float8) {
                    DataType::FLOAT8
                } else {
                    DataType::NUMERIC
                }
            }
            AggFunc::Min | AggFunc::Max => {
                if matches!(t.id, TypeId::Json) || (t.id == TypeId::Bool && !t.is_array) {
                    return Err(bad(&args));
                }
                DataType { typmod: -1, ..t }
            }
            AggFunc::StringAgg => {
                let a1 = args.pop().unwrap_or_else(|| LExpr::null(DataType::TEXT));
                let a0 = args.pop().unwrap_or_else(|| LExpr::null(DataType::TEXT));
                if a0.ty.id == TypeId::Bytea {
                    let d = self.coerce(a1, DataType::BYTEA, CoercionKind::Implicit)?;
                    args = vec![a0, d];
                    DataType::BYTEA
                } else {
                    let a0 = self
                        .coerce(a0, DataType::TEXT, CoercionKind::Implicit)
                        .map_err(|_| bad(&[]))?;
                    let a1 = self.coerce(a1, DataType::TEXT, CoercionKind::Implicit)?;
                    args = vec![a0, a1];
                    DataType::TEXT
                }
            }
            AggFunc::ArrayAgg => {
                if t.is_array {
                    t
                } else {
                    DataType {
                        is_array: true,
                        typmod: -1,
                        ..t
                    }
                }
            }
            AggFunc::BoolAnd | AggFunc::BoolOr => {
                let a = args.pop().unwrap_or_else(|| LExpr::null(DataType::BOOL));
                args = vec![self.require_bool(a, name).map_err(|_| bad(&[]))?];
                DataType::BOOL
            }
            AggFunc::BitAnd | AggFunc::BitOr => t,
            AggFunc::JsonAgg | AggFunc::JsonObjectAgg => DataType::scalar(TypeId::Json),
            AggFunc::JsonbAgg | AggFunc::JsonbObjectAgg => DataType::JSONB,
            AggFunc::CountStar | AggFunc::Count => DataType::INT8,
        };
        Ok((af, args, ty))
    }

    fn window_call(
        &mut self,
        scope: &Scope,
        f: &ast::Function,
        name: &str,
        over: &ast::WindowType,
    ) -> DbResult<LExpr> {
        // PostgreSQL names the clause that forbids the call.
        match self.agg_forbidden {
            Some("aggregate function calls") => {
                return Err(err(
                    SqlState::new(b"42803"),
                    "aggregate function calls cannot contain window function calls",
                ))
            }
            Some(clause) => {
                return Err(err(
                    SqlState::new(b"42P20"),
                    format!("window functions are not allowed in {clause}"),
                ))
            }
            None => {}
        }
        if self.agg.is_none() {
            return Err(err(
                SqlState::new(b"42P20"),
                "window functions are not allowed here",
            ));
        }
        let spec = match over {
            ast::WindowType::WindowSpec(s) => s.clone(),
            ast::WindowType::NamedWindow(n) => {
                let n = ident_name(n);
                self.named_windows
                    .iter()
                    .find(|(k, _)| *k == n)
                    .map(|(_, s)| s.clone())
                    .ok_or_else(|| {
                        err(
                            SqlState::UNDEFINED_OBJECT,
                            format!("window \"{n}\" does not exist"),
                        )
                    })?
            }
        };
        let spec = match &spec.window_name {
            Some(base) => {
                let b = ident_name(base);
                let mut bs = self
                    .named_windows
                    .iter()
                    .find(|(k, _)| *k == b)
                    .map(|(_, s)| s.clone())
                    .ok_or_else(|| {
                        err(
                            SqlState::UNDEFINED_OBJECT,
                            format!("window \"{b}\" does not exist"),
                        )
                    })?;
                if !spec.order_by.is_empty() {
                    bs.order_by = spec.order_by.clone();
                }
                if spec.window_frame.is_some() {
                    bs.window_frame = spec.window_frame.clone();
                }
                bs
            }
            None => spec,
        };
        // Aggregates are allowed inside window arguments (they are computed
        // first); nested window calls are not.
        let (args, star, _distinct, _) = self.function_args(scope, f)?;
        let filter = match &f.filter {
            Some(x) => {
                let x = self.expr(scope, x)?;
                Some(self.require_bool(x, "FILTER")?)
            }
            None => None,
        };
        let mut partition = Vec::new();
        for p in &spec.partition_by {
            let e = self.expr(scope, p)?;
            partition.push(if e.ty.id == TypeId::Unknown {
                self.coerce(e, DataType::TEXT, CoercionKind::Implicit)?
            } else {
                e
            });
        }
        let mut order = Vec::new();
        for o in &spec.order_by {
            order.push(self.sort_key(scope, o)?);
        }
        let (func, args, ty) = match name {
            "row_number" => (WindowFunc::RowNumber, args, DataType::INT8),
            "rank" => (WindowFunc::Rank, args, DataType::INT8),
            "dense_rank" => (WindowFunc::DenseRank, args, DataType::INT8),
            "percent_rank" => (WindowFunc::PercentRank, args, DataType::FLOAT8),
            "cume_dist" => (WindowFunc::CumeDist, args, DataType::FLOAT8),
            "ntile" => {
                let a: Vec<LExpr> = args
                    .into_iter()
                    .map(|a| self.coerce(a, DataType::INT4, CoercionKind::Implicit))
                    .collect::<DbResult<_>>()?;
                (WindowFunc::Ntile, a, DataType::INT4)
            }
            "lag" | "lead" => {
                let mut it = args.into_iter();
                let v = it.next().ok_or_else(|| {
                    err(
                        SqlState::UNDEFINED_FUNCTION,
                        format!("function {name}() does not exist"),
                    )
                })?;
                let v = if v.ty.id == TypeId::Unknown {
                    self.coerce(v, DataType::TEXT, CoercionKind::Implicit)?
                } else {
                    v
                };
                let t = v.ty;
                let mut a = vec![v];
                if let Some(off) = it.next() {
                    a.push(self.coerce(off, DataType::INT4, CoercionKind::Implicit)?);
                }
                if let Some(d) = it.next() {
                    a.push(self.coerce(d, t, CoercionKind::Implicit)?);
                }
                (
                    if name == "lag" {
                        WindowFunc::Lag
                    } else {
                        WindowFunc::Lead
                    },
                    a,
                    t,
                )
            }
            "first_value" | "last_value" | "nth_value" => {
                let mut it = args.into_iter();
                let v = it.next().ok_or_else(|| {
                    err(
                        SqlState::UNDEFINED_FUNCTION,
                        format!("function {name}() does not exist"),
                    )
                })?;
                let v = if v.ty.id == TypeId::Unknown {
                    self.coerce(v, DataType::TEXT, CoercionKind::Implicit)?
                } else {
                    v
                };
                let t = v.ty;
                let mut a = vec![v];
                if let Some(n) = it.next() {
                    a.push(self.coerce(n, DataType::INT4, CoercionKind::Implicit)?);
                }
                let wf = match name {
                    "first_value" => WindowFunc::FirstValue,
                    "last_value" => WindowFunc::LastValue,
                    _ => WindowFunc::NthValue,
                };
                (wf, a, t)
            }
            _ => {
                let Some(af) = agg_func(name) else {
                    self.load_functions()?;
                    let scalar = self
                        .funcs
                        .as_deref()
                        .unwrap_or(&[])
                        .iter()
                        .any(|(_, sig)| sig.name.as_str() == name);
                    return Err(if scalar {
                        err(
                            SqlState::new(b"42809"),
                            format!("OVER specified, but {name} is not a window function nor an aggregate function"),
                        )
                    } else {
                        let types: Vec<String> = args
                            .iter()
                            .map(|a| {
                                if a.ty.id == TypeId::Unknown {
                                    "unknown".to_string()
                                } else {
                                    a.ty.to_string()
                                }
                            })
                            .collect();
                        err(
                            SqlState::UNDEFINED_FUNCTION,
                            format!("function {name}({}) does not exist", types.join(", ")),
                        )
                        .with_hint("No function matches the given name and argument types. You might need to add explicit type casts.")
                    });
                };
                let (af, a, t) = self.agg_signature(name, af, args, star)?;
                (WindowFunc::Aggregate(af), a, t)
            }
        };
        let (mode, start, end) = match &spec.window_frame {
            None => {
                if order.is_empty() {
                    (
                        aiondb_sdk::plan::FrameMode::Range,
                        LBound::UnboundedPreceding,
                        LBound::UnboundedFollowing,
                    )
                } else {
                    (
                        aiondb_sdk::plan::FrameMode::Range,
                        LBound::UnboundedPreceding,
                        LBound::CurrentRow,
                    )
                }
            }
            Some(fr) => {
                let mode = match fr.units {
                    ast::WindowFrameUnits::Rows => aiondb_sdk::plan::FrameMode::Rows,
                    ast::WindowFrameUnits::Range => aiondb_sdk::plan::FrameMode::Range,
                    ast::WindowFrameUnits::Groups => aiondb_sdk::plan::FrameMode::Groups,
                };
                let s = self.frame_bound(scope, &fr.start_bound, true)?;
                let e = match &fr.end_bound {
                    Some(b) => self.frame_bound(scope, b, false)?,
                    None => LBound::CurrentRow,
                };
                (mode, s, e)
            }
        };
        let id = self.new_col(name, ty);
        let win = LWin {
            func,
            args,
            filter,
            mode,
            start,
            end,
            ty,
        };
        if let Some(a) = self.agg.as_mut() {
            a.wins.push((id, WinSpec { partition, order }, win));
        }
        Ok(LExpr::col(id, ty))
    }

    fn frame_bound(
        &mut self,
        scope: &Scope,
        b: &ast::WindowFrameBound,
        start: bool,
    ) -> DbResult<LBound> {
        Ok(match b {
            ast::WindowFrameBound::CurrentRow => LBound::CurrentRow,
            ast::WindowFrameBound::Preceding(None) => LBound::UnboundedPreceding,
            ast::WindowFrameBound::Following(None) => LBound::UnboundedFollowing,
            ast::WindowFrameBound::Preceding(Some(e)) => {
                let x = self.expr(scope, e)?;
                let x = if x.ty.id == TypeId::Unknown {
                    self.coerce(x, DataType::INT8, CoercionKind::Implicit)?
                } else {
                    x
                };
                LBound::Preceding(x)
            }
            ast::WindowFrameBound::Following(Some(e)) => {
                let x = self.expr(scope, e)?;
                let x = if x.ty.id == TypeId::Unknown {
                    self.coerce(x, DataType::INT8, CoercionKind::Implicit)?
                } else {
                    x
                };
                let _ = start;
                LBound::Following(x)
            }
        })
    }

    /// Binds a subquery with the current scope as its outer scope; returns
    /// the plan and its first column's type.
    pub fn subquery(
        &mut self,
        scope: &Scope,
        q: &ast::Query,
        one_col: bool,
    ) -> DbResult<(LPlan, DataType)> {
        self.outer.push(scope.clone());
        let saved_agg = self.agg.take();
        let saved_forbid = self.agg_forbidden.take();
        let r = crate::query::bind_query(self, q);
        self.agg = saved_agg;
        self.agg_forbidden = saved_forbid;
        self.outer.pop();
        let (plan, names) = r?;
        let outs = plan.outputs();
        if one_col && outs.len() != 1 {
            return Err(err(
                SqlState::SYNTAX_ERROR,
                "subquery must return only one column",
            ));
        }
        let _ = names;
        let ty = outs
            .first()
            .map(|c| self.col_type(*c))
            .unwrap_or(DataType::BOOL);
        Ok((plan, ty))
    }
}

fn b_fallback(t: DataType) -> LExpr {
    LExpr::null(t)
}

fn fold_not(a: LExpr) -> LExpr {
    match a.kind {
        LKind::Const(Value::Bool(b)) => LExpr::boolean(!b),
        k => LExpr::new(
            LKind::Not(Box::new(LExpr::new(k, DataType::BOOL))),
            DataType::BOOL,
        ),
    }
}

pub fn make_key(e: LExpr, o: &ast::OrderByOptions) -> LSortKey {
    let desc = matches!(o.sort, Some(ast::OrderBySort::Desc));
    let nulls_first = o.nulls_first.unwrap_or(desc);
    LSortKey {
        expr: e,
        desc,
        nulls_first,
    }
}

pub fn number_literal(s: &str) -> DbResult<LExpr> {
    if !s.contains(['.', 'e', 'E']) {
        if let Ok(i) = s.parse::<i32>() {
            return Ok(LExpr::constant(Value::Int4(i), DataType::INT4));
        }
        if let Ok(i) = s.parse::<i64>() {
            return Ok(LExpr::constant(Value::Int8(i), DataType::INT8));
        }
    }
    let v = parse_text(DataType::NUMERIC, s)?;
    Ok(LExpr::constant(v, DataType::NUMERIC))
}

pub fn agg_func(name: &str) -> Option<AggFunc> {
    Some(match name {
        "count" => AggFunc::Count,
        "sum" => AggFunc::Sum,
        "avg" => AggFunc::Avg,
        "min" => AggFunc::Min,
        "max" => AggFunc::Max,
        "string_agg" => AggFunc::StringAgg,
        "array_agg" => AggFunc::ArrayAgg,
        "bool_and" | "every" => AggFunc::BoolAnd,
        "bool_or" => AggFunc::BoolOr,
        "bit_and" => AggFunc::BitAnd,
        "bit_or" => AggFunc::BitOr,
        "json_agg" => AggFunc::JsonAgg,
        "jsonb_agg" => AggFunc::JsonbAgg,
        "json_object_agg" => AggFunc::JsonObjectAgg,
        "jsonb_object_agg" => AggFunc::JsonbObjectAgg,
        "stddev" | "stddev_samp" => AggFunc::StddevSamp,
        "stddev_pop" => AggFunc::StddevPop,
        "variance" | "var_samp" => AggFunc::VarSamp,
        "var_pop" => AggFunc::VarPop,
        _ => return None,
    })
}

pub fn map_binop(op: &ast::BinaryOperator) -> DbResult<BinaryOp> {
    use ast::BinaryOperator as B;
    Ok(match op {
        B::Plus => BinaryOp::Add,
        B::Minus => BinaryOp::Sub,
        B::Multiply => BinaryOp::Mul,
        B::Divide => BinaryOp::Div,
        B::Modulo => BinaryOp::Mod,
        B::PGExp => BinaryOp::Pow,
        B::Eq => BinaryOp::Eq,
        B::NotEq => BinaryOp::NotEq,
        B::Lt => BinaryOp::Lt,
        B::LtEq => BinaryOp::LtEq,
        B::Gt => BinaryOp::Gt,
        B::GtEq => BinaryOp::GtEq,
        B::StringConcat => BinaryOp::Concat,
        B::PGRegexMatch => BinaryOp::RegexMatch,
        B::PGRegexIMatch => BinaryOp::RegexIMatch,
        B::PGRegexNotMatch => BinaryOp::NotRegexMatch,
        B::PGRegexNotIMatch => BinaryOp::NotRegexIMatch,
        B::BitwiseAnd => BinaryOp::BitAnd,
        B::BitwiseOr => BinaryOp::BitOr,
        B::PGBitwiseXor => BinaryOp::BitXor,
        B::PGBitwiseShiftLeft => BinaryOp::ShiftLeft,
        B::PGBitwiseShiftRight => BinaryOp::ShiftRight,
        B::Arrow => BinaryOp::JsonGet,
        B::LongArrow => BinaryOp::JsonGetText,
        B::HashArrow => BinaryOp::JsonPath,
        B::HashLongArrow => BinaryOp::JsonPathText,
        B::AtArrow => BinaryOp::Contains,
        B::ArrowAt => BinaryOp::ContainedBy,
        B::Question => BinaryOp::JsonExists,
        B::PGOverlap => BinaryOp::Overlap,
        // `OPERATOR(pg_catalog.~)`, as psql writes its pattern matches.
        B::PGCustomBinaryOperator(parts)
            if parts.len() <= 2
                && (parts.len() == 1 || parts[0].eq_ignore_ascii_case("pg_catalog")) =>
        {
            let sym = parts.last().map(String::as_str).unwrap_or_default();
            let plain = match sym {
                "=" => B::Eq,
                "<>" | "!=" => B::NotEq,
                "<" => B::Lt,
                "<=" => B::LtEq,
                ">" => B::Gt,
                ">=" => B::GtEq,
                "~" => B::PGRegexMatch,
                "~*" => B::PGRegexIMatch,
                "!~" => B::PGRegexNotMatch,
                "!~*" => B::PGRegexNotIMatch,
                "||" => B::StringConcat,
                "+" => B::Plus,
                "-" => B::Minus,
                "*" => B::Multiply,
                "/" => B::Divide,
                _ => {
                    return Err(err(
                        SqlState::UNDEFINED_FUNCTION,
                        format!("operator does not exist: {}", parts.join(".")),
                    ))
                }
            };
            return map_binop(&plain);
        }
        other => {
            return Err(err(
                SqlState::UNDEFINED_FUNCTION,
                format!("operator does not exist: {other}"),
            ))
        }
    })
}
