//! SQL type names as written (sqlparser's `DataType`) to our `DataType`.

use aiondb_sdk::prelude::*;
use sqlparser::ast;

fn char_len(l: &Option<ast::CharacterLength>) -> i32 {
    match l {
        Some(ast::CharacterLength::IntegerLength { length, .. }) => *length as i32 + 4,
        _ => -1,
    }
}

fn numeric_info(info: &ast::ExactNumberInfo) -> DataType {
    match info {
        ast::ExactNumberInfo::None => DataType::NUMERIC,
        ast::ExactNumberInfo::Precision(p) => DataType::numeric(*p as i32, 0),
        ast::ExactNumberInfo::PrecisionAndScale(p, s) => DataType::numeric(*p as i32, *s as i32),
    }
}

/// Converts a SQL type as written to ours (42704 for unknown types).
pub fn sql_data_type(dt: &ast::DataType) -> DbResult<DataType> {
    use ast::DataType as D;
    Ok(match dt {
        D::Character(l) | D::Char(l) => {
            // `char` without a length is char(1), as in PostgreSQL.
            let m = char_len(l);
            DataType::scalar(TypeId::Char).with_typmod(if m < 0 { 5 } else { m })
        }
        D::CharacterVarying(l) | D::CharVarying(l) | D::Varchar(l) | D::Nvarchar(l) => {
            DataType::scalar(TypeId::Varchar).with_typmod(char_len(l))
        }
        D::Uuid => DataType::UUID,
        D::Numeric(i) | D::Decimal(i) | D::Dec(i) => numeric_info(i),
        D::Float(ast::ExactNumberInfo::Precision(p)) if *p <= 24 => DataType::FLOAT4,
        D::Float(_) => DataType::FLOAT8,
        D::Int2(_) | D::SmallInt(_) => DataType::INT2,
        D::Int(_) | D::Int4(_) | D::Integer(_) => DataType::INT4,
        D::Int8(_) | D::BigInt(_) => DataType::INT8,
        D::Float4 | D::Real => DataType::FLOAT4,
        D::Float8 | D::DoublePrecision | D::Double(_) => DataType::FLOAT8,
        D::Bool | D::Boolean => DataType::BOOL,
        D::Date => DataType::DATE,
        D::Time(_, tz) => match tz {
            ast::TimezoneInfo::WithTimeZone | ast::TimezoneInfo::Tz => {
                return Err(AionError::feature_not_supported(
                    "type time with time zone is not supported",
                ))
            }
            _ => DataType::scalar(TypeId::Time),
        },
        D::Timestamp(_, tz) => match tz {
            ast::TimezoneInfo::WithTimeZone | ast::TimezoneInfo::Tz => DataType::TIMESTAMPTZ,
            _ => DataType::TIMESTAMP,
        },
        D::Interval { .. } => DataType::scalar(TypeId::Interval),
        D::JSON => DataType::scalar(TypeId::Json),
        D::JSONB => DataType::JSONB,
        D::Text | D::String(_) => DataType::TEXT,
        D::Bytea => DataType::BYTEA,
        D::Array(elem) => {
            let inner = match elem {
                ast::ArrayElemTypeDef::AngleBracket(t)
                | ast::ArrayElemTypeDef::SquareBracket(t, _)
                | ast::ArrayElemTypeDef::Parenthesis(t)
                | ast::ArrayElemTypeDef::Qualified(t, _) => sql_data_type(t)?,
                ast::ArrayElemTypeDef::None => {
                    return Err(AionError::new(
                        SqlState::SYNTAX_ERROR,
                        "array type without element type",
                    ))
                }
            };
            DataType {
                id: inner.id,
                typmod: inner.typmod,
                is_array: true,
            }
        }
        D::Regclass => DataType::scalar(TypeId::RegClass),
        // `"char"` (quoted) is the one-byte internal type, not char(1).
        D::Custom(name, _)
            if name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .is_some_and(|id| id.quote_style.is_some() && id.value == "char") =>
        {
            DataType::scalar(TypeId::InternalChar)
        }
        D::Custom(name, mods) => {
            let last = name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .map(crate::shared::ident_name)
                .unwrap_or_default();
            let id = TypeId::from_sql_name(&last).ok_or_else(|| {
                AionError::new(
                    SqlState::UNDEFINED_OBJECT,
                    format!("type \"{last}\" does not exist"),
                )
            })?;
            let mut t = DataType::scalar(id);
            let nums: Vec<i32> = mods.iter().filter_map(|m| m.trim().parse().ok()).collect();
            match (id, nums.as_slice()) {
                (TypeId::Varchar | TypeId::Char, [n]) => t.typmod = n + 4,
                (TypeId::Numeric, [p]) => t = DataType::numeric(*p, 0),
                (TypeId::Numeric, [p, s]) => t = DataType::numeric(*p, *s),
                _ => {}
            }
            t
        }
        other => {
            return Err(AionError::new(
                SqlState::UNDEFINED_OBJECT,
                format!("type \"{other}\" does not exist"),
            ))
        }
    })
}
