//! Core scalar SQL functions, provided as `sql.functions/1` under the key
//! `core`, with PostgreSQL 15 semantics. String functions count characters,
//! not bytes, as PostgreSQL does with UTF-8 databases.
//!
//! Every function is one [`Def`] row in a per-group static table; a
//! function's id is `group * GROUP_STRIDE + row`, so ids are stable for the
//! life of the process and `call` is two array indexes and an indirect call.

mod arrays;
mod datetime;
mod json;
mod math;
mod num;
mod strings;
#[cfg(test)]
mod tests;

use aiondb_sdk::capability::Volatility;
use aiondb_sdk::prelude::*;
use aiondb_sdk::value::{ArrayValue, Interval, Numeric};

/// Implementation of one signature; arguments arrive already cast to the
/// declared types.
pub(crate) type Imp = fn(&[Value]) -> DbResult<Value>;

/// One row of the signature table.
pub(crate) struct Def {
    pub name: &'static str,
    pub args: &'static [DataType],
    pub variadic: bool,
    pub returns: DataType,
    pub strict: bool,
    pub volatility: Volatility,
    pub imp: Imp,
}

impl Def {
    /// A strict, immutable function (the common case).
    pub const fn new(
        name: &'static str,
        args: &'static [DataType],
        returns: DataType,
        imp: Imp,
    ) -> Def {
        Def {
            name,
            args,
            variadic: false,
            returns,
            strict: true,
            volatility: Volatility::Immutable,
            imp,
        }
    }

    /// Called even when an argument is NULL.
    pub const fn lax(mut self) -> Def {
        self.strict = false;
        self
    }

    pub const fn stable(mut self) -> Def {
        self.volatility = Volatility::Stable;
        self
    }

    pub const fn volatile(mut self) -> Def {
        self.volatility = Volatility::Volatile;
        self
    }

    /// The last declared argument type repeats.
    pub const fn variadic(mut self) -> Def {
        self.variadic = true;
        self
    }
}

/// Short names for the types used in the tables.
pub(crate) mod ty {
    use aiondb_sdk::types::{DataType, TypeId};
    pub const BOOL: DataType = DataType::BOOL;
    pub const I2: DataType = DataType::INT2;
    pub const I4: DataType = DataType::INT4;
    pub const I8: DataType = DataType::INT8;
    pub const F8: DataType = DataType::FLOAT8;
    pub const NUM: DataType = DataType::NUMERIC;
    pub const TEXT: DataType = DataType::TEXT;
    pub const BYTEA: DataType = DataType::BYTEA;
    pub const BPCHAR: DataType = DataType::scalar(TypeId::Char);
    pub const DATE: DataType = DataType::DATE;
    pub const TIME: DataType = DataType::scalar(TypeId::Time);
    pub const TS: DataType = DataType::TIMESTAMP;
    pub const TSTZ: DataType = DataType::TIMESTAMPTZ;
    pub const IV: DataType = DataType::scalar(TypeId::Interval);
    pub const UUID: DataType = DataType::UUID;
    pub const JSON: DataType = DataType::scalar(TypeId::Json);
    pub const JSONB: DataType = DataType::JSONB;
    pub const ANY: DataType = DataType::scalar(TypeId::Any);
    pub const ANYARRAY: DataType = DataType::array_of(TypeId::Any);
    pub const TEXTARR: DataType = DataType::array_of(TypeId::Text);
    pub const I4ARR: DataType = DataType::array_of(TypeId::Int4);
}

/// Ids are `group * GROUP_STRIDE + row`.
const GROUP_STRIDE: u32 = 1000;

/// The signature tables, one per group; order fixes the ids.
const GROUPS: [&[Def]; 5] = [
    strings::DEFS,
    math::DEFS,
    datetime::DEFS,
    json::DEFS,
    arrays::DEFS,
];

pub(crate) fn lookup(id: u32) -> Option<&'static Def> {
    GROUPS
        .get((id / GROUP_STRIDE) as usize)?
        .get((id % GROUP_STRIDE) as usize)
}

/// Every definition with its id, in id order.
pub(crate) fn all_defs() -> impl Iterator<Item = (u32, &'static Def)> {
    GROUPS.iter().enumerate().flat_map(|(g, defs)| {
        defs.iter()
            .enumerate()
            .map(move |(i, d)| (g as u32 * GROUP_STRIDE + i as u32, d))
    })
}

// ------------------------------------------------------------ argument access

/// The planner casts arguments to the declared types; a different variant
/// here means a planner bug, reported rather than panicking.
pub(crate) fn wrong_args() -> AionError {
    AionError::new(
        SqlState::UNDEFINED_FUNCTION,
        "function called with arguments of the wrong type",
    )
    .with_hint("the planner should have cast the arguments; this is a planner bug")
}

pub(crate) fn arg(args: &[Value], i: usize) -> DbResult<&Value> {
    args.get(i).ok_or_else(wrong_args)
}

pub(crate) fn text(args: &[Value], i: usize) -> DbResult<&str> {
    match arg(args, i)? {
        Value::Text(s) => Ok(s.as_str()),
        _ => Err(wrong_args()),
    }
}

pub(crate) fn int(args: &[Value], i: usize) -> DbResult<i64> {
    arg(args, i)?.as_i64().ok_or_else(wrong_args)
}

pub(crate) fn int4(args: &[Value], i: usize) -> DbResult<i32> {
    match arg(args, i)? {
        Value::Int4(v) => Ok(*v),
        Value::Int2(v) => Ok(*v as i32),
        _ => Err(wrong_args()),
    }
}

pub(crate) fn float(args: &[Value], i: usize) -> DbResult<f64> {
    match arg(args, i)? {
        Value::Float8(f) => Ok(*f),
        Value::Float4(f) => Ok(*f as f64),
        v => v.as_i64().map(|i| i as f64).ok_or_else(wrong_args),
    }
}

pub(crate) fn numeric(args: &[Value], i: usize) -> DbResult<&Numeric> {
    match arg(args, i)? {
        Value::Numeric(n) => Ok(n),
        _ => Err(wrong_args()),
    }
}

pub(crate) fn bytea(args: &[Value], i: usize) -> DbResult<&[u8]> {
    match arg(args, i)? {
        Value::Bytea(b) => Ok(b.as_slice()),
        _ => Err(wrong_args()),
    }
}

pub(crate) fn boolean(args: &[Value], i: usize) -> DbResult<bool> {
    match arg(args, i)? {
        Value::Bool(b) => Ok(*b),
        _ => Err(wrong_args()),
    }
}

pub(crate) fn interval(args: &[Value], i: usize) -> DbResult<Interval> {
    match arg(args, i)? {
        Value::Interval(iv) => Ok(*iv),
        _ => Err(wrong_args()),
    }
}

pub(crate) fn array(args: &[Value], i: usize) -> DbResult<&ArrayValue> {
    match arg(args, i)? {
        Value::Array(a) => Ok(a),
        _ => Err(wrong_args()),
    }
}

/// A `text[]` argument as optional strings (NULL elements are `None`).
pub(crate) fn text_array(args: &[Value], i: usize) -> DbResult<Vec<Option<&str>>> {
    array(args, i)?
        .elements
        .iter()
        .map(|e| match e {
            Value::Null => Ok(None),
            Value::Text(s) => Ok(Some(s.as_str())),
            _ => Err(wrong_args()),
        })
        .collect()
}

pub(crate) fn err(state: &[u8; 5], msg: impl Into<String>) -> AionError {
    AionError::new(SqlState::new(state), msg)
}

pub(crate) fn int4_result(n: usize) -> DbResult<Value> {
    i32::try_from(n)
        .map(Value::Int4)
        .map_err(|_| err(b"54000", "result too large for integer"))
}

/// Text output of any value, as the `::text` cast gives it.
pub(crate) fn to_text(v: &Value) -> String {
    let mut s = String::new();
    aiondb_sdk::value::write_text(v, &mut s);
    s
}

// ------------------------------------------------------------ the provider

struct CoreFunctions;

impl FunctionSet for CoreFunctions {
    fn functions(&self) -> AResult<RVec<FunctionSignature>> {
        ROk(all_defs()
            .map(|(id, d)| FunctionSignature {
                id,
                name: d.name.into(),
                args: RVec::from(d.args.to_vec()),
                variadic: d.variadic,
                returns: d.returns,
                volatility: d.volatility,
                strict: d.strict,
            })
            .collect())
    }

    fn call(&self, id: u32, args: RSlice<'_, Value>) -> AResult<Value> {
        datetime::set_zone("UTC");
        call(id, args.as_slice()).into()
    }

    fn call_in(&self, id: u32, args: RSlice<'_, Value>, time_zone: RStr<'_>) -> AResult<Value> {
        datetime::set_zone(time_zone.as_str());
        call(id, args.as_slice()).into()
    }
}

pub(crate) fn call(id: u32, args: &[Value]) -> DbResult<Value> {
    let Some(def) = lookup(id) else {
        return Err(AionError::new(
            SqlState::UNDEFINED_FUNCTION,
            format!("function id {id} is not provided by functions-core"),
        ));
    };
    // The executor skips strict functions on NULL input; this keeps direct
    // callers (tests, other hosts) correct too.
    if def.strict && args.iter().any(Value::is_null) {
        return Ok(Value::Null);
    }
    let fixed = def.args.len();
    let arity_ok = if def.variadic {
        args.len() + 1 >= fixed
    } else {
        args.len() == fixed
    };
    if !arity_ok {
        return Err(AionError::new(
            SqlState::UNDEFINED_FUNCTION,
            format!(
                "function {} called with {} arguments, expected {}",
                def.name,
                args.len(),
                fixed
            ),
        ));
    }
    (def.imp)(args)
}

fn register(_host: HostRef) -> DbResult<Registration> {
    Ok(Registration::new().functions("core", CoreFunctions))
}

aiondb_sdk::declare_plugin! {
    name: "functions-core",
    version: env!("CARGO_PKG_VERSION"),
    description: "core scalar SQL functions",
    register: register,
}
