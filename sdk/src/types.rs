//! The type model: built-in PostgreSQL types plus room for types that
//! plugins register through `sql.types/1` (for example `vector`).

use std::fmt;

use abi_stable::StableAbi;

/// Identifies a scalar type. Built-ins are listed; `Ext` names a type that a
/// plugin registered, by the OID it was given.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TypeId {
    /// The type of an untyped literal or parameter before inference.
    Unknown,
    /// Pseudo-type for polymorphic function arguments (`anyelement`,
    /// `"any"`, `anyarray` when `is_array`): the planner accepts any
    /// argument type here. When a function's return type is `Any`, the
    /// result type is the element type of the first polymorphic argument,
    /// made an array when the declared return type `is_array`. Never a
    /// column type.
    Any,
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Numeric,
    Text,
    Varchar,
    /// `char(n)` / `bpchar`.
    Char,
    Bytea,
    Date,
    Time,
    Timestamp,
    TimestampTz,
    Interval,
    Uuid,
    Json,
    Jsonb,
    /// `oid`: an unsigned 32-bit object identifier, held as `Value::Int8`
    /// and compared as an integer.
    Oid,
    /// `name`: a system identifier, held as `Value::Text`, behaving as text.
    Name,
    /// `"char"`: the one-byte internal type of `relkind` and friends, held
    /// as `Value::Text`.
    InternalChar,
    /// `regclass`, `regtype`, `regproc`, `regnamespace`, `regrole`: an oid
    /// (held as `Value::Int8`) whose text form is the object's name. The
    /// planner routes their text conversions through the catalog.
    RegClass,
    RegType,
    RegProc,
    RegNamespace,
    RegRole,
    /// A plugin-registered type, identified by its OID (>= [`FIRST_EXT_OID`]).
    Ext(u32),
}

/// OIDs at or above this value belong to plugin-registered types.
pub const FIRST_EXT_OID: u32 = 16384;

impl TypeId {
    /// The system-catalog types (`oid`, `name`, `"char"`, the `reg*` types).
    pub const SYSTEM: [TypeId; 8] = [
        TypeId::Oid,
        TypeId::Name,
        TypeId::InternalChar,
        TypeId::RegClass,
        TypeId::RegType,
        TypeId::RegProc,
        TypeId::RegNamespace,
        TypeId::RegRole,
    ];

    /// Whether values are oids (`oid` and the `reg*` types).
    pub fn is_oid_like(&self) -> bool {
        matches!(
            self,
            TypeId::Oid
                | TypeId::RegClass
                | TypeId::RegType
                | TypeId::RegProc
                | TypeId::RegNamespace
                | TypeId::RegRole
        )
    }

    /// Whether values print as an object name (the `reg*` types).
    pub fn is_reg(&self) -> bool {
        self.is_oid_like() && *self != TypeId::Oid
    }

    /// Every built-in type, for tables and tests that need to enumerate them.
    pub const BUILTINS: [TypeId; 19] = [
        TypeId::Bool,
        TypeId::Int2,
        TypeId::Int4,
        TypeId::Int8,
        TypeId::Float4,
        TypeId::Float8,
        TypeId::Numeric,
        TypeId::Text,
        TypeId::Varchar,
        TypeId::Char,
        TypeId::Bytea,
        TypeId::Date,
        TypeId::Time,
        TypeId::Timestamp,
        TypeId::TimestampTz,
        TypeId::Interval,
        TypeId::Uuid,
        TypeId::Json,
        TypeId::Jsonb,
    ];

    /// The PostgreSQL OID of the scalar type.
    pub fn oid(&self) -> u32 {
        match self {
            TypeId::Unknown => 705,
            TypeId::Any => 2283,
            TypeId::Bool => 16,
            TypeId::Int2 => 21,
            TypeId::Int4 => 23,
            TypeId::Int8 => 20,
            TypeId::Float4 => 700,
            TypeId::Float8 => 701,
            TypeId::Numeric => 1700,
            TypeId::Text => 25,
            TypeId::Varchar => 1043,
            TypeId::Char => 1042,
            TypeId::Bytea => 17,
            TypeId::Date => 1082,
            TypeId::Time => 1083,
            TypeId::Timestamp => 1114,
            TypeId::TimestampTz => 1184,
            TypeId::Interval => 1186,
            TypeId::Uuid => 2950,
            TypeId::Json => 114,
            TypeId::Jsonb => 3802,
            TypeId::Oid => 26,
            TypeId::Name => 19,
            TypeId::InternalChar => 18,
            TypeId::RegClass => 2205,
            TypeId::RegType => 2206,
            TypeId::RegProc => 24,
            TypeId::RegNamespace => 4089,
            TypeId::RegRole => 4096,
            TypeId::Ext(oid) => *oid,
        }
    }

    /// The PostgreSQL OID of the one-dimensional array of this type, if any.
    pub fn array_oid(&self) -> Option<u32> {
        Some(match self {
            TypeId::Bool => 1000,
            TypeId::Bytea => 1001,
            TypeId::Int2 => 1005,
            TypeId::Int4 => 1007,
            TypeId::Text => 1009,
            TypeId::Char => 1014,
            TypeId::Varchar => 1015,
            TypeId::Int8 => 1016,
            TypeId::Float4 => 1021,
            TypeId::Float8 => 1022,
            TypeId::Timestamp => 1115,
            TypeId::Date => 1182,
            TypeId::Time => 1183,
            TypeId::TimestampTz => 1185,
            TypeId::Interval => 1187,
            TypeId::Numeric => 1231,
            TypeId::Uuid => 2951,
            TypeId::Json => 199,
            TypeId::Jsonb => 3807,
            TypeId::Oid => 1028,
            TypeId::Name => 1003,
            TypeId::InternalChar => 1002,
            TypeId::RegClass => 2210,
            TypeId::RegType => 2211,
            TypeId::RegProc => 1008,
            TypeId::RegNamespace => 4090,
            TypeId::RegRole => 4097,
            TypeId::Unknown | TypeId::Any | TypeId::Ext(_) => return None,
        })
    }

    /// Looks a built-in type up by OID (scalar OIDs only).
    pub fn from_oid(oid: u32) -> Option<TypeId> {
        if oid == 705 {
            return Some(TypeId::Unknown);
        }
        Self::BUILTINS
            .iter()
            .chain(Self::SYSTEM.iter())
            .copied()
            .find(|t| t.oid() == oid)
    }

    /// The canonical SQL name, as `format_type` prints it.
    pub fn sql_name(&self) -> &'static str {
        match self {
            TypeId::Unknown => "unknown",
            TypeId::Any => "anyelement",
            TypeId::Bool => "boolean",
            TypeId::Int2 => "smallint",
            TypeId::Int4 => "integer",
            TypeId::Int8 => "bigint",
            TypeId::Float4 => "real",
            TypeId::Float8 => "double precision",
            TypeId::Numeric => "numeric",
            TypeId::Text => "text",
            TypeId::Varchar => "character varying",
            TypeId::Char => "character",
            TypeId::Bytea => "bytea",
            TypeId::Date => "date",
            TypeId::Time => "time without time zone",
            TypeId::Timestamp => "timestamp without time zone",
            TypeId::TimestampTz => "timestamp with time zone",
            TypeId::Interval => "interval",
            TypeId::Uuid => "uuid",
            TypeId::Json => "json",
            TypeId::Jsonb => "jsonb",
            TypeId::Oid => "oid",
            TypeId::Name => "name",
            TypeId::InternalChar => "\"char\"",
            TypeId::RegClass => "regclass",
            TypeId::RegType => "regtype",
            TypeId::RegProc => "regproc",
            TypeId::RegNamespace => "regnamespace",
            TypeId::RegRole => "regrole",
            TypeId::Ext(_) => "extension type",
        }
    }

    /// Resolves a type name as written in SQL (`int4`, `integer`,
    /// `timestamptz`, ...). Plugin types are resolved through the catalog.
    pub fn from_sql_name(name: &str) -> Option<TypeId> {
        let lower = name.trim().to_ascii_lowercase();
        Some(match lower.as_str() {
            "bool" | "boolean" => TypeId::Bool,
            "int2" | "smallint" | "smallserial" | "serial2" => TypeId::Int2,
            "int" | "int4" | "integer" | "serial" | "serial4" => TypeId::Int4,
            "int8" | "bigint" | "bigserial" | "serial8" => TypeId::Int8,
            "float4" | "real" => TypeId::Float4,
            "float8" | "double precision" | "float" => TypeId::Float8,
            "numeric" | "decimal" => TypeId::Numeric,
            "text" => TypeId::Text,
            "varchar" | "character varying" => TypeId::Varchar,
            "char" | "character" | "bpchar" => TypeId::Char,
            "bytea" => TypeId::Bytea,
            "date" => TypeId::Date,
            "time" | "time without time zone" => TypeId::Time,
            "timestamp" | "timestamp without time zone" => TypeId::Timestamp,
            "timestamptz" | "timestamp with time zone" => TypeId::TimestampTz,
            "interval" => TypeId::Interval,
            "uuid" => TypeId::Uuid,
            "json" => TypeId::Json,
            "jsonb" => TypeId::Jsonb,
            "oid" => TypeId::Oid,
            "name" => TypeId::Name,
            "\"char\"" => TypeId::InternalChar,
            "regclass" => TypeId::RegClass,
            "regtype" => TypeId::RegType,
            "regproc" => TypeId::RegProc,
            "regnamespace" => TypeId::RegNamespace,
            "regrole" => TypeId::RegRole,
            _ => return None,
        })
    }

    /// Fixed on-the-wire size in bytes, or `None` for variable-length types
    /// (`pg_type.typlen`, with -1 mapped to `None`).
    pub fn fixed_len(&self) -> Option<i16> {
        match self {
            TypeId::Bool => Some(1),
            TypeId::Int2 => Some(2),
            TypeId::InternalChar => Some(1),
            TypeId::Name => Some(64),
            TypeId::Int4 | TypeId::Float4 | TypeId::Date => Some(4),
            t if t.is_oid_like() => Some(4),
            TypeId::Int8
            | TypeId::Float8
            | TypeId::Time
            | TypeId::Timestamp
            | TypeId::TimestampTz => Some(8),
            TypeId::Interval | TypeId::Uuid => Some(16),
            _ => None,
        }
    }
}

/// A column or expression type: a scalar type, its modifier, and whether it
/// is an array of that scalar.
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DataType {
    pub id: TypeId,
    /// Type modifier as PostgreSQL keeps it (`atttypmod`): -1 for none,
    /// `n + 4` for `varchar(n)`/`char(n)`, `((p << 16) | s) + 4` for
    /// `numeric(p, s)`, the dimension count for `vector(n)`.
    pub typmod: i32,
    pub is_array: bool,
}

impl DataType {
    pub const fn scalar(id: TypeId) -> Self {
        DataType {
            id,
            typmod: -1,
            is_array: false,
        }
    }

    pub const fn array_of(id: TypeId) -> Self {
        DataType {
            id,
            typmod: -1,
            is_array: true,
        }
    }

    pub const fn with_typmod(mut self, typmod: i32) -> Self {
        self.typmod = typmod;
        self
    }

    pub const BOOL: DataType = DataType::scalar(TypeId::Bool);
    pub const INT2: DataType = DataType::scalar(TypeId::Int2);
    pub const INT4: DataType = DataType::scalar(TypeId::Int4);
    pub const INT8: DataType = DataType::scalar(TypeId::Int8);
    pub const FLOAT4: DataType = DataType::scalar(TypeId::Float4);
    pub const FLOAT8: DataType = DataType::scalar(TypeId::Float8);
    pub const NUMERIC: DataType = DataType::scalar(TypeId::Numeric);
    pub const TEXT: DataType = DataType::scalar(TypeId::Text);
    pub const BYTEA: DataType = DataType::scalar(TypeId::Bytea);
    pub const DATE: DataType = DataType::scalar(TypeId::Date);
    pub const TIMESTAMP: DataType = DataType::scalar(TypeId::Timestamp);
    pub const TIMESTAMPTZ: DataType = DataType::scalar(TypeId::TimestampTz);
    pub const UUID: DataType = DataType::scalar(TypeId::Uuid);
    pub const JSONB: DataType = DataType::scalar(TypeId::Jsonb);
    pub const UNKNOWN: DataType = DataType::scalar(TypeId::Unknown);

    /// `varchar(n)`.
    pub const fn varchar(n: i32) -> Self {
        DataType::scalar(TypeId::Varchar).with_typmod(n + 4)
    }

    /// `numeric(precision, scale)`.
    pub const fn numeric(precision: i32, scale: i32) -> Self {
        DataType::scalar(TypeId::Numeric).with_typmod(((precision << 16) | scale) + 4)
    }

    /// The PostgreSQL OID of this type (array OID for arrays).
    pub fn oid(&self) -> u32 {
        if self.is_array {
            self.id.array_oid().unwrap_or(0)
        } else {
            self.id.oid()
        }
    }
}

impl fmt::Display for DataType {
    /// Formats like PostgreSQL's `format_type(oid, typmod)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.typmod;
        match self.id {
            TypeId::Varchar | TypeId::Char if m >= 4 => {
                write!(f, "{}({})", self.id.sql_name(), m - 4)?
            }
            TypeId::Numeric if m >= 4 => {
                let t = m - 4;
                write!(f, "numeric({},{})", (t >> 16) & 0xffff, t & 0xffff)?
            }
            _ => f.write_str(self.id.sql_name())?,
        }
        if self.is_array {
            f.write_str("[]")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oids_round_trip() {
        for t in TypeId::BUILTINS.into_iter().chain(TypeId::SYSTEM) {
            assert_eq!(TypeId::from_oid(t.oid()), Some(t));
            assert!(t.array_oid().is_some());
        }
    }

    #[test]
    fn format_type_matches_postgres() {
        assert_eq!(DataType::varchar(20).to_string(), "character varying(20)");
        assert_eq!(DataType::numeric(10, 2).to_string(), "numeric(10,2)");
        assert_eq!(DataType::array_of(TypeId::Int4).to_string(), "integer[]");
        assert_eq!(
            DataType::TIMESTAMPTZ.to_string(),
            "timestamp with time zone"
        );
    }

    #[test]
    fn sql_names_resolve() {
        assert_eq!(TypeId::from_sql_name("INT"), Some(TypeId::Int4));
        assert_eq!(
            TypeId::from_sql_name("double precision"),
            Some(TypeId::Float8)
        );
        assert_eq!(TypeId::from_sql_name("vector"), None);
    }
}
