//! Core scalar SQL functions, provided as `sql.functions/1` under the key
//! `core`. String functions count characters, not bytes, as PostgreSQL does
//! with UTF-8 databases.

use aiondb_sdk::prelude::*;

struct CoreFunctions;

#[derive(Clone, Copy)]
enum Func {
    Lower,
    Upper,
    Length,
    Reverse,
    AbsInt8,
    AbsFloat8,
    Sign,
}

const FUNCS: &[(Func, &str, &[DataType], DataType)] = &[
    (Func::Lower, "lower", &[DataType::TEXT], DataType::TEXT),
    (Func::Upper, "upper", &[DataType::TEXT], DataType::TEXT),
    (Func::Length, "length", &[DataType::TEXT], DataType::INT4),
    (Func::Reverse, "reverse", &[DataType::TEXT], DataType::TEXT),
    (Func::AbsInt8, "abs", &[DataType::INT8], DataType::INT8),
    (
        Func::AbsFloat8,
        "abs",
        &[DataType::FLOAT8],
        DataType::FLOAT8,
    ),
    (Func::Sign, "sign", &[DataType::FLOAT8], DataType::FLOAT8),
];

fn wrong_args(name: &str) -> AionError {
    AionError::new(
        SqlState::UNDEFINED_FUNCTION,
        format!("function {name} called with arguments of the wrong type"),
    )
    .with_hint("the planner should have cast the arguments; this is a planner bug")
}

fn float_arg(v: &Value) -> Option<f64> {
    match v {
        Value::Float8(f) => Some(*f),
        Value::Float4(f) => Some(*f as f64),
        other => other.as_i64().map(|i| i as f64),
    }
}

fn call(func: Func, name: &str, args: &[Value]) -> DbResult<Value> {
    let [arg] = args else {
        return Err(wrong_args(name));
    };
    if arg.is_null() {
        // All functions here are strict.
        return Ok(Value::Null);
    }
    Ok(match func {
        Func::Lower => Value::text(arg.as_str().ok_or_else(|| wrong_args(name))?.to_lowercase()),
        Func::Upper => Value::text(arg.as_str().ok_or_else(|| wrong_args(name))?.to_uppercase()),
        Func::Length => {
            let n = arg
                .as_str()
                .ok_or_else(|| wrong_args(name))?
                .chars()
                .count();
            Value::Int4(i32::try_from(n).map_err(|_| {
                AionError::new(
                    SqlState::PROGRAM_LIMIT_EXCEEDED,
                    "string too long for length()",
                )
            })?)
        }
        Func::Reverse => Value::text(
            arg.as_str()
                .ok_or_else(|| wrong_args(name))?
                .chars()
                .rev()
                .collect::<String>(),
        ),
        Func::AbsInt8 => {
            let i = arg.as_i64().ok_or_else(|| wrong_args(name))?;
            Value::Int8(i.checked_abs().ok_or_else(|| {
                AionError::new(SqlState::NUMERIC_VALUE_OUT_OF_RANGE, "bigint out of range")
            })?)
        }
        Func::AbsFloat8 => Value::Float8(float_arg(arg).ok_or_else(|| wrong_args(name))?.abs()),
        Func::Sign => {
            let f = float_arg(arg).ok_or_else(|| wrong_args(name))?;
            Value::Float8(if f > 0.0 {
                1.0
            } else if f < 0.0 {
                -1.0
            } else {
                0.0
            })
        }
    })
}

impl FunctionSet for CoreFunctions {
    fn functions(&self) -> AResult<RVec<FunctionSignature>> {
        ROk(FUNCS
            .iter()
            .enumerate()
            .map(|(id, (_, name, args, returns))| FunctionSignature {
                id: id as u32,
                name: (*name).into(),
                args: RVec::from(args.to_vec()),
                variadic: false,
                returns: *returns,
                volatility: Volatility::Immutable,
                strict: true,
            })
            .collect())
    }

    fn call(&self, id: u32, args: RSlice<'_, Value>) -> AResult<Value> {
        match FUNCS.get(id as usize) {
            Some((func, name, ..)) => call(*func, name, args.as_slice()).into(),
            None => RErr(AionError::new(
                SqlState::UNDEFINED_FUNCTION,
                format!("function id {id} is not provided by functions-core"),
            )),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn run(name: &str, arg: Value) -> DbResult<Value> {
        let (id, _) = FUNCS
            .iter()
            .enumerate()
            .find(|(_, (_, n, args, _))| *n == name && arg.data_type().is_none_or(|t| t == args[0]))
            .ok_or_else(|| AionError::internal("no such function in test"))?;
        CoreFunctions
            .call(id as u32, RSlice::from_slice(&[arg]))
            .into_result()
    }

    #[test]
    fn string_functions_count_characters() {
        assert_eq!(run("length", Value::text("héllo")).unwrap(), Value::Int4(5));
        assert_eq!(
            run("upper", Value::text("straße")).unwrap(),
            Value::text("STRASSE")
        );
        assert_eq!(
            run("reverse", Value::text("abc")).unwrap(),
            Value::text("cba")
        );
        assert_eq!(run("lower", Value::Null).unwrap(), Value::Null);
    }

    #[test]
    fn abs_overflow_is_22003() {
        let e = run("abs", Value::Int8(i64::MIN)).unwrap_err();
        assert_eq!(e.sqlstate, SqlState::NUMERIC_VALUE_OUT_OF_RANGE);
        assert_eq!(run("abs", Value::Float8(-2.5)).unwrap(), Value::Float8(2.5));
    }
}
