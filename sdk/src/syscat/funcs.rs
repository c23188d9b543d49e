//! Catalog functions (`pg_get_indexdef`, `format_type`, ...) and the text
//! conversions of the `reg*` types, evaluated over the live catalog.

use abi_stable::std_types::ROption;
use abi_stable::StableAbi;

use super::rows::{index_is_primary, roles};
use super::*;
use crate::catalog::{ConstraintKind, IndexDef, RelationKind};
use crate::error::{AionError, DbResult, SqlState};
use crate::value::{ArrayValue, Value};

/// A catalog function, as [`SpecialFunc::Catalog`](crate::plan::SpecialFunc)
/// carries it.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SysFunc {
    GetUserById,
    FormatType,
    TableIsVisible,
    /// `pg_type_is_visible` and the other always-visible checks.
    AlwaysVisible,
    ObjDescription,
    ColDescription,
    ShobjDescription,
    GetIndexDef,
    GetConstraintDef,
    GetExpr,
    GetViewDef,
    RelationSize,
    SizePretty,
    /// `has_table_privilege` and friends: the only role is a superuser.
    HasPrivilege,
    EncodingToChar,
    /// `pg_char_to_encoding`: 6 for UTF8, the only server encoding.
    CharToEncoding,
    DatabaseEncoding,
    /// `pg_tablespace_location`: the default tablespaces have no path.
    TablespaceLocation,
    GetSerialSequence,
    BackendPid,
    /// Functions with no answer here (`inet_server_addr` over a Unix
    /// socket, `pg_get_triggerdef` with no triggers ...): NULL.
    NullText,
    CurrentSchemas,
    /// `pg_partition_ancestors` of a relation that is never partitioned:
    /// the relation itself.
    PartitionAncestors,
    RelationIsPublishable,
    IsInRecovery,
    ToRegClass,
    /// `to_regtype`, `to_regnamespace`, `to_regrole`, `to_regproc`: the
    /// `reg*` input, NULL instead of an error for a missing object.
    ToRegType,
    ToRegNamespace,
    ToRegRole,
    ToRegProc,
    /// `x::regclass::text` and friends.
    RegClassOut,
    RegTypeOut,
    RegProcOut,
    RegNamespaceOut,
    RegRoleOut,
    /// `'name'::regclass` and friends (42P01/42704/3F000/42883 when the
    /// object does not exist).
    RegClassIn,
    RegTypeIn,
    RegProcIn,
    RegNamespaceIn,
    RegRoleIn,
}

/// A catalog function's signature: the planner coerces untyped arguments
/// to `params` (`Any`: left as written) and accepts `min..=params.len()`
/// arguments.
pub struct SysFunction {
    pub func: SysFunc,
    pub name: &'static str,
    pub params: &'static [DataType],
    pub min: usize,
    pub returns: DataType,
}

const OID: DataType = DataType::scalar(TypeId::Oid);
const REGCLASS: DataType = DataType::scalar(TypeId::RegClass);
const TEXT: DataType = DataType::TEXT;
const NAME: DataType = DataType::scalar(TypeId::Name);
const INT4: DataType = DataType::INT4;
const INT8: DataType = DataType::INT8;
const BOOL: DataType = DataType::BOOL;
const ANY: DataType = DataType::scalar(TypeId::Any);

macro_rules! f {
    ($name:literal, $func:ident, $min:literal, [$($p:expr),*], $ret:expr) => {
        SysFunction {
            func: SysFunc::$func,
            name: $name,
            params: &[$($p),*],
            min: $min,
            returns: $ret,
        }
    };
}

static FUNCTIONS: &[SysFunction] = &[
    f!("pg_get_userbyid", GetUserById, 1, [OID], NAME),
    f!("format_type", FormatType, 2, [OID, INT4], TEXT),
    f!("pg_table_is_visible", TableIsVisible, 1, [OID], BOOL),
    f!("pg_type_is_visible", AlwaysVisible, 1, [OID], BOOL),
    f!("pg_function_is_visible", AlwaysVisible, 1, [OID], BOOL),
    f!("pg_collation_is_visible", AlwaysVisible, 1, [OID], BOOL),
    f!("pg_operator_is_visible", AlwaysVisible, 1, [OID], BOOL),
    f!("pg_conversion_is_visible", AlwaysVisible, 1, [OID], BOOL),
    f!("pg_ts_config_is_visible", AlwaysVisible, 1, [OID], BOOL),
    f!(
        "pg_statistics_obj_is_visible",
        AlwaysVisible,
        1,
        [OID],
        BOOL
    ),
    f!("pg_opclass_is_visible", AlwaysVisible, 1, [OID], BOOL),
    f!("pg_tablespace_location", TablespaceLocation, 1, [OID], TEXT),
    f!("getdatabaseencoding", DatabaseEncoding, 0, [], NAME),
    f!("pg_char_to_encoding", CharToEncoding, 1, [NAME], INT4),
    f!("obj_description", ObjDescription, 1, [OID, NAME], TEXT),
    f!("col_description", ColDescription, 2, [OID, INT4], TEXT),
    f!("shobj_description", ShobjDescription, 2, [OID, NAME], TEXT),
    f!("pg_get_indexdef", GetIndexDef, 1, [OID, INT4, BOOL], TEXT),
    f!(
        "pg_get_constraintdef",
        GetConstraintDef,
        1,
        [OID, BOOL],
        TEXT
    ),
    f!("pg_get_expr", GetExpr, 2, [TEXT, OID, BOOL], TEXT),
    f!("pg_get_viewdef", GetViewDef, 1, [ANY, BOOL], TEXT),
    f!("pg_relation_size", RelationSize, 1, [REGCLASS, TEXT], INT8),
    f!("pg_total_relation_size", RelationSize, 1, [REGCLASS], INT8),
    f!("pg_table_size", RelationSize, 1, [REGCLASS], INT8),
    f!("pg_indexes_size", RelationSize, 1, [REGCLASS], INT8),
    f!("pg_size_pretty", SizePretty, 1, [INT8], TEXT),
    f!(
        "has_table_privilege",
        HasPrivilege,
        2,
        [ANY, ANY, ANY],
        BOOL
    ),
    f!(
        "has_schema_privilege",
        HasPrivilege,
        2,
        [ANY, ANY, ANY],
        BOOL
    ),
    f!(
        "has_database_privilege",
        HasPrivilege,
        2,
        [ANY, ANY, ANY],
        BOOL
    ),
    f!(
        "has_column_privilege",
        HasPrivilege,
        3,
        [ANY, ANY, ANY, ANY],
        BOOL
    ),
    f!(
        "has_sequence_privilege",
        HasPrivilege,
        2,
        [ANY, ANY, ANY],
        BOOL
    ),
    f!(
        "has_function_privilege",
        HasPrivilege,
        2,
        [ANY, ANY, ANY],
        BOOL
    ),
    f!(
        "has_any_column_privilege",
        HasPrivilege,
        2,
        [ANY, ANY, ANY],
        BOOL
    ),
    f!("pg_has_role", HasPrivilege, 2, [ANY, ANY, ANY], BOOL),
    f!("pg_encoding_to_char", EncodingToChar, 1, [INT4], NAME),
    f!(
        "pg_get_serial_sequence",
        GetSerialSequence,
        2,
        [TEXT, TEXT],
        TEXT
    ),
    f!("pg_backend_pid", BackendPid, 0, [], INT4),
    f!("inet_server_addr", NullText, 0, [], TEXT),
    f!("inet_client_addr", NullText, 0, [], TEXT),
    f!("pg_get_triggerdef", NullText, 1, [OID, BOOL], TEXT),
    f!("pg_get_statisticsobjdef_columns", NullText, 1, [OID], TEXT),
    f!("pg_get_partkeydef", NullText, 1, [OID], TEXT),
    f!("pg_get_function_arguments", NullText, 1, [OID], TEXT),
    f!("pg_get_function_result", NullText, 1, [OID], TEXT),
    f!(
        "pg_get_function_identity_arguments",
        NullText,
        1,
        [OID],
        TEXT
    ),
    f!(
        "current_schemas",
        CurrentSchemas,
        1,
        [BOOL],
        DataType::array_of(TypeId::Name)
    ),
    f!(
        "pg_partition_ancestors",
        PartitionAncestors,
        1,
        [REGCLASS],
        REGCLASS
    ),
    f!(
        "pg_relation_is_publishable",
        RelationIsPublishable,
        1,
        [REGCLASS],
        BOOL
    ),
    f!("pg_is_in_recovery", IsInRecovery, 0, [], BOOL),
    f!("to_regclass", ToRegClass, 1, [TEXT], REGCLASS),
    f!(
        "to_regtype",
        ToRegType,
        1,
        [TEXT],
        DataType::scalar(TypeId::RegType)
    ),
    f!(
        "to_regnamespace",
        ToRegNamespace,
        1,
        [TEXT],
        DataType::scalar(TypeId::RegNamespace)
    ),
    f!(
        "to_regrole",
        ToRegRole,
        1,
        [TEXT],
        DataType::scalar(TypeId::RegRole)
    ),
    f!(
        "to_regproc",
        ToRegProc,
        1,
        [TEXT],
        DataType::scalar(TypeId::RegProc)
    ),
];

/// The catalog function `name` taking `nargs` arguments.
pub fn lookup_function(name: &str, nargs: usize) -> Option<&'static SysFunction> {
    FUNCTIONS
        .iter()
        .find(|f| f.name == name && nargs >= f.min && nargs <= f.params.len())
}

/// The function converting text to `to` (a `reg*` type) and back.
pub fn reg_input(to: TypeId) -> Option<SysFunc> {
    Some(match to {
        TypeId::RegClass => SysFunc::RegClassIn,
        TypeId::RegType => SysFunc::RegTypeIn,
        TypeId::RegProc => SysFunc::RegProcIn,
        TypeId::RegNamespace => SysFunc::RegNamespaceIn,
        TypeId::RegRole => SysFunc::RegRoleIn,
        _ => return None,
    })
}

pub fn reg_output(from: TypeId) -> Option<SysFunc> {
    Some(match from {
        TypeId::RegClass => SysFunc::RegClassOut,
        TypeId::RegType => SysFunc::RegTypeOut,
        TypeId::RegProc => SysFunc::RegProcOut,
        TypeId::RegNamespace => SysFunc::RegNamespaceOut,
        TypeId::RegRole => SysFunc::RegRoleOut,
        _ => return None,
    })
}

impl SysFunc {
    /// The SQL name (EXPLAIN).
    pub fn name(&self) -> &'static str {
        match self {
            SysFunc::RegClassOut => "regclassout",
            SysFunc::RegTypeOut => "regtypeout",
            SysFunc::RegProcOut => "regprocout",
            SysFunc::RegNamespaceOut => "regnamespaceout",
            SysFunc::RegRoleOut => "regroleout",
            SysFunc::RegClassIn => "regclassin",
            SysFunc::RegTypeIn => "regtypein",
            SysFunc::RegProcIn => "regprocin",
            SysFunc::RegNamespaceIn => "regnamespacein",
            SysFunc::RegRoleIn => "regrolein",
            f => FUNCTIONS
                .iter()
                .find(|d| d.func == *f)
                .map(|d| d.name)
                .unwrap_or("?"),
        }
    }
}

fn int_arg(args: &[Value], i: usize) -> Option<i64> {
    match args.get(i)? {
        Value::Int2(v) => Some(*v as i64),
        Value::Int4(v) => Some(*v as i64),
        Value::Int8(v) => Some(*v),
        _ => None,
    }
}

fn text_arg(args: &[Value], i: usize) -> Option<&str> {
    args.get(i)?.as_str()
}

fn bool_arg(args: &[Value], i: usize) -> bool {
    matches!(args.get(i), Some(Value::Bool(true)))
}

/// Evaluates a catalog function.
pub fn call(func: SysFunc, cx: &SysCx<'_>, args: &[Value]) -> DbResult<Value> {
    use SysFunc::*;
    let strict = !matches!(
        func,
        HasPrivilege | BackendPid | NullText | IsInRecovery | FormatType
    );
    if strict && args.iter().any(Value::is_null) {
        return Ok(Value::Null);
    }
    let oid0 = int_arg(args, 0);
    Ok(match func {
        GetUserById => {
            let o = oid0.unwrap_or(0);
            Value::text(
                roles(cx)
                    .into_iter()
                    .find(|r| r.id as i64 == o)
                    .map(|r| r.name.to_string())
                    .unwrap_or_else(|| format!("unknown (OID={o})")),
            )
        }
        FormatType if args.first().is_none_or(Value::is_null) => Value::Null,
        FormatType => {
            let o = u32::try_from(oid0.unwrap_or(0)).unwrap_or(0);
            let typmod = int_arg(args, 1).unwrap_or(-1) as i32;
            Value::text(format_type(o, typmod).unwrap_or_else(|| "???".to_string()))
        }
        TableIsVisible => match oid0.and_then(|o| relation_any(cx, o)) {
            Some((schema, name, _)) => Value::Bool(cx.relation_visible(schema, &name)),
            None => Value::Null,
        },
        AlwaysVisible | HasPrivilege => Value::Bool(true),
        ObjDescription | ColDescription | ShobjDescription | NullText => Value::Null,
        GetIndexDef => {
            let Some((t, i)) = oid0.and_then(|o| index_by_oid(cx, o)) else {
                return Ok(Value::Null);
            };
            match int_arg(args, 1).unwrap_or(0) {
                0 => Value::text(index_def(cx, &t, &i)),
                k => i
                    .columns
                    .get((k - 1) as usize)
                    .and_then(|c| t.columns.get(*c as usize))
                    .map(|c| Value::text(quote_ident(&c.name)))
                    .unwrap_or(Value::Null),
            }
        }
        GetConstraintDef => {
            let Some((table, k)) = oid0.and_then(constraint_of) else {
                return Ok(Value::Null);
            };
            let Some(t) = cx.services.catalog.table_by_id(table).into_option() else {
                return Ok(Value::Null);
            };
            match t.constraints.get(k) {
                Some(c) => Value::text(constraint_def(cx, &t, &c.kind, bool_arg(args, 1))),
                None => Value::Null,
            }
        }
        GetExpr => Value::text(display_default(text_arg(args, 0).unwrap_or_default())),
        GetViewDef => {
            let t = match &args.first() {
                Some(Value::Text(s)) => regclass_in(cx, s.as_str())?.and_then(|o| cx.relation(o)),
                _ => oid0.and_then(|o| cx.relation(o)),
            };
            match t.and_then(|t| t.view_sql.into_option()) {
                Some(sql) => Value::text(format!(" {};", sql.as_str().trim_end_matches(';'))),
                None => Value::Null,
            }
        }
        RelationSize => {
            let rows = oid0
                .and_then(|o| u64::try_from(o).ok())
                .and_then(|o| cx.services.catalog.table_stats(o).into_option())
                .map(|s| s.row_count)
                .unwrap_or(0.0);
            // An estimate: 8 kB pages of about 100 rows each.
            Value::Int8(((rows / 100.0).ceil() as i64) * 8192)
        }
        SizePretty => Value::text(size_pretty(int_arg(args, 0).unwrap_or(0))),
        EncodingToChar => Value::text(match int_arg(args, 0) {
            Some(6) => "UTF8",
            Some(0) => "SQL_ASCII",
            _ => "",
        }),
        CharToEncoding => Value::Int4(match text_arg(args, 0).map(str::to_ascii_uppercase) {
            Some(e) if e == "UTF8" || e == "UTF-8" => 6,
            Some(e) if e == "SQL_ASCII" => 0,
            _ => -1,
        }),
        DatabaseEncoding => Value::text("UTF8"),
        TablespaceLocation => Value::text(""),
        GetSerialSequence => serial_sequence(
            cx,
            text_arg(args, 0).unwrap_or_default(),
            text_arg(args, 1).unwrap_or_default(),
        )?,
        BackendPid => Value::Int4((cx.session & 0x7fff_ffff) as i32),
        CurrentSchemas => {
            let implicit = bool_arg(args, 0);
            let mut out = Vec::new();
            for (k, s) in cx.search_schemas().into_iter().enumerate() {
                if k == 0 && s == "pg_catalog" && !implicit {
                    continue;
                }
                if cx
                    .services
                    .catalog
                    .schema_by_name(s.as_str().into())
                    .is_some()
                {
                    out.push(Value::text(s));
                }
            }
            Value::Array(ArrayValue::one_dim(TypeId::Name, out))
        }
        PartitionAncestors => Value::Int8(oid0.unwrap_or(0)),
        RelationIsPublishable => Value::Bool(
            oid0.and_then(|o| cx.relation(o))
                .is_some_and(|t| t.kind == RelationKind::Table),
        ),
        IsInRecovery => Value::Bool(false),
        ToRegClass => match regclass_in(cx, text_arg(args, 0).unwrap_or_default()) {
            Ok(Some(o)) => Value::Int8(o),
            _ => Value::Null,
        },
        ToRegType | ToRegNamespace | ToRegRole | ToRegProc => {
            let input = match func {
                ToRegType => RegTypeIn,
                ToRegNamespace => RegNamespaceIn,
                ToRegRole => RegRoleIn,
                _ => RegProcIn,
            };
            call(input, cx, args).unwrap_or(Value::Null)
        }
        RegClassOut => {
            let o = oid0.unwrap_or(0);
            Value::text(match relation_any(cx, o) {
                _ if o == 0 => "-".to_string(),
                Some((schema, name, _)) => cx.relation_display_name(schema, &name),
                None => o.to_string(),
            })
        }
        RegTypeOut => {
            let o = oid0.unwrap_or(0);
            Value::text(if o == 0 {
                "-".to_string()
            } else {
                u32::try_from(o)
                    .ok()
                    .and_then(|o| format_type(o, -1))
                    .unwrap_or_else(|| o.to_string())
            })
        }
        RegNamespaceOut => {
            let o = oid0.unwrap_or(0);
            Value::text(
                u32::try_from(o)
                    .ok()
                    .and_then(|o| schema_name_of(cx, o))
                    .map(|s| quote_ident(&s))
                    .unwrap_or_else(|| o.to_string()),
            )
        }
        RegRoleOut => {
            let o = oid0.unwrap_or(0);
            Value::text(
                roles(cx)
                    .into_iter()
                    .find(|r| r.id as i64 == o)
                    .map(|r| quote_ident(&r.name))
                    .unwrap_or_else(|| o.to_string()),
            )
        }
        RegProcOut => {
            let o = oid0.unwrap_or(0);
            if o == 0 {
                Value::text("-")
            } else {
                let rows = super::rows(
                    super::lookup_relation(None, "pg_proc").ok_or_else(missing_proc)?,
                    cx,
                );
                Value::text(
                    rows.iter()
                        .find(|r| r.first() == Some(&Value::Int8(o)))
                        .and_then(|r| r.get(1))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .unwrap_or_else(|| o.to_string()),
                )
            }
        }
        RegClassIn => {
            let s = text_arg(args, 0).unwrap_or_default();
            match regclass_in(cx, s)? {
                Some(o) => Value::Int8(o),
                None => {
                    return Err(AionError::new(
                        SqlState::UNDEFINED_TABLE,
                        format!("relation \"{s}\" does not exist"),
                    ))
                }
            }
        }
        RegTypeIn => {
            let s = text_arg(args, 0).unwrap_or_default();
            if let Some(o) = numeric_oid(s) {
                return Ok(Value::Int8(o));
            }
            match type_by_name(s) {
                Some(t) => Value::Int8(t.oid() as i64),
                None => {
                    return Err(AionError::new(
                        SqlState::UNDEFINED_OBJECT,
                        format!("type \"{s}\" does not exist"),
                    ))
                }
            }
        }
        RegNamespaceIn => {
            let s = text_arg(args, 0).unwrap_or_default();
            if let Some(o) = numeric_oid(s) {
                return Ok(Value::Int8(o));
            }
            let n = fold_ident(s);
            if n == "information_schema" {
                return Ok(Value::Int8(super::rows::INFORMATION_SCHEMA_OID as i64));
            }
            match cx.services.catalog.schema_by_name(n.as_str().into()) {
                ROption::RSome(d) => Value::Int8(d.id as i64),
                ROption::RNone => {
                    return Err(AionError::new(
                        SqlState::INVALID_SCHEMA_NAME,
                        format!("schema \"{n}\" does not exist"),
                    ))
                }
            }
        }
        RegRoleIn => {
            let s = text_arg(args, 0).unwrap_or_default();
            if let Some(o) = numeric_oid(s) {
                return Ok(Value::Int8(o));
            }
            let n = fold_ident(s);
            match roles(cx).into_iter().find(|r| r.name.as_str() == n) {
                Some(r) => Value::Int8(r.id as i64),
                None => {
                    return Err(AionError::new(
                        SqlState::UNDEFINED_OBJECT,
                        format!("role \"{n}\" does not exist"),
                    ))
                }
            }
        }
        RegProcIn => {
            let s = text_arg(args, 0).unwrap_or_default();
            if let Some(o) = numeric_oid(s) {
                return Ok(Value::Int8(o));
            }
            let n = split_name(s).pop().unwrap_or_default();
            let rows = super::rows(
                super::lookup_relation(None, "pg_proc").ok_or_else(missing_proc)?,
                cx,
            );
            let found: Vec<&Vec<Value>> = rows
                .iter()
                .filter(|r| r.get(1).and_then(Value::as_str) == Some(n.as_str()))
                .collect();
            match found.as_slice() {
                [one] => one.first().cloned().unwrap_or(Value::Null),
                [] => {
                    return Err(AionError::new(
                        SqlState::UNDEFINED_FUNCTION,
                        format!("function \"{s}\" does not exist"),
                    ))
                }
                _ => {
                    return Err(AionError::new(
                        SqlState::new(b"42725"),
                        format!("more than one function named \"{s}\""),
                    ))
                }
            }
        }
    })
}

fn missing_proc() -> AionError {
    AionError::new(SqlState::INTERNAL_ERROR, "pg_proc is not defined")
}

fn numeric_oid(s: &str) -> Option<i64> {
    let t = s.trim();
    if t.is_empty() || !t.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    t.parse::<u32>().ok().map(i64::from)
}

/// Splits `a.b` / `"A".b` into folded parts.
fn split_name(s: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut was_quoted = false;
    let mut chars = s.trim().chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => {
                quoted = !quoted;
                was_quoted = true;
            }
            '.' if !quoted => {
                parts.push(finish_part(&cur, was_quoted));
                cur.clear();
                was_quoted = false;
            }
            c => cur.push(c),
        }
    }
    parts.push(finish_part(&cur, was_quoted));
    parts
}

fn finish_part(s: &str, quoted: bool) -> String {
    if quoted {
        s.to_string()
    } else {
        s.trim().to_lowercase()
    }
}

fn fold_ident(s: &str) -> String {
    split_name(s).join(".")
}

/// Resolves a relation name (through the search path when unqualified) or
/// a numeric OID; `None` when there is no such relation.
pub fn regclass_in(cx: &SysCx<'_>, s: &str) -> DbResult<Option<i64>> {
    if let Some(o) = numeric_oid(s) {
        return Ok(Some(o));
    }
    let parts = split_name(s);
    let cat = &cx.services.catalog;
    let find_in = |schema: &str, name: &str| -> Option<i64> {
        if let Some(r) = super::lookup_relation(Some(schema), name) {
            return Some(r.oid());
        }
        let def = cat.schema_by_name(schema.into()).into_option()?;
        if let Some(t) = cat.table_by_name(def.id, name.into()).into_option() {
            return Some(t.id as i64);
        }
        if let Some(s) = cat.sequence_by_name(def.id, name.into()).into_option() {
            return Some(s.id as i64);
        }
        cx.index_by_name(def.id, name)
    };
    Ok(match parts.as_slice() {
        [name] => cx
            .search_schemas()
            .iter()
            .find_map(|schema| find_in(schema, name)),
        [.., schema, name] if parts.len() <= 3 => find_in(schema, name),
        _ => {
            return Err(AionError::new(
                SqlState::SYNTAX_ERROR,
                format!("improper relation name (too many dotted names): {s}"),
            ))
        }
    })
}

fn type_by_name(s: &str) -> Option<DataType> {
    let t = s.trim();
    let (t, array) = match t.strip_suffix("[]") {
        Some(b) => (b.trim(), true),
        None => (t, false),
    };
    let t = t.strip_prefix("pg_catalog.").unwrap_or(t);
    // A type modifier does not change the type's OID.
    let base = t.split('(').next().unwrap_or(t).trim();
    let id = TypeId::from_sql_name(base).or_else(|| {
        TypeId::BUILTINS
            .iter()
            .chain(TypeId::SYSTEM.iter())
            .copied()
            .find(|id| type_facts(*id).is_some_and(|f| f.typname == base))
    })?;
    Some(if array {
        DataType::array_of(id)
    } else {
        DataType::scalar(id)
    })
}

fn schema_name_of(cx: &SysCx<'_>, o: u32) -> Option<String> {
    if o == super::rows::INFORMATION_SCHEMA_OID {
        return Some("information_schema".into());
    }
    cx.schema_by_id(o).map(|s| s.name.to_string())
}

/// (schema, name, kind) of any relation: table, view, sequence or index.
fn relation_any(cx: &SysCx<'_>, o: i64) -> Option<(u32, String, char)> {
    if o < 16384 {
        return super::RELATIONS
            .iter()
            .find(|r| r.oid() == o)
            .map(|r| (r.namespace_oid(), r.name.to_string(), r.relkind()));
    }
    if let Some(t) = cx.relation(o) {
        let k = match t.kind {
            RelationKind::Table => 'r',
            RelationKind::View => 'v',
            RelationKind::Sequence => 'S',
        };
        return Some((t.schema, t.name.to_string(), k));
    }
    index_by_oid(cx, o).map(|(t, i)| (t.schema, i.name.to_string(), 'i'))
}

fn index_by_oid(cx: &SysCx<'_>, o: i64) -> Option<(TableDef, IndexDef)> {
    cx.index_by_oid(o)
}

/// `pg_get_indexdef`: `CREATE [UNIQUE] INDEX name ON schema.table USING
/// method (columns)`.
pub(crate) fn index_def(cx: &SysCx<'_>, t: &TableDef, i: &IndexDef) -> String {
    let schema = schema_name_of(cx, t.schema).unwrap_or_default();
    let mut s = format!(
        "CREATE {}INDEX {} ON {}.{} USING {} ({})",
        if i.unique { "UNIQUE " } else { "" },
        quote_ident(&i.name),
        quote_ident(&schema),
        quote_ident(&t.name),
        i.method,
        t.quoted_columns(&i.columns)
    );
    let opts: Vec<String> = i
        .options
        .iter()
        .map(|kv| format!("{}='{}'", kv.key, kv.value))
        .collect();
    if !opts.is_empty() && i.method.as_str() != "btree" {
        s.push_str(&format!(" WITH ({})", opts.join(", ")));
    }
    let _ = index_is_primary;
    s
}

/// `pg_get_constraintdef`.
fn constraint_def(cx: &SysCx<'_>, t: &TableDef, c: &ConstraintKind, pretty: bool) -> String {
    match c {
        ConstraintKind::PrimaryKey { columns } => {
            format!("PRIMARY KEY ({})", t.quoted_columns(columns))
        }
        ConstraintKind::Unique { columns } => format!("UNIQUE ({})", t.quoted_columns(columns)),
        ConstraintKind::Check { expr } => {
            let expr = check_as_deparsed(t, expr);
            if pretty {
                format!("CHECK ({expr})")
            } else {
                format!("CHECK (({expr}))")
            }
        }
        ConstraintKind::ForeignKey {
            columns,
            ref_table,
            ref_columns,
            on_delete,
            on_update,
        } => {
            let (rname, rcols) = match cx.services.catalog.table_by_id(*ref_table).into_option() {
                Some(r) => (
                    cx.relation_display_name(r.schema, &r.name),
                    r.quoted_columns(ref_columns),
                ),
                None => (ref_table.to_string(), String::new()),
            };
            let mut s = format!(
                "FOREIGN KEY ({}) REFERENCES {}({})",
                t.quoted_columns(columns),
                rname,
                rcols
            );
            if let Some(a) = on_update.sql() {
                s.push_str(&format!(" ON UPDATE {a}"));
            }
            if let Some(a) = on_delete.sql() {
                s.push_str(&format!(" ON DELETE {a}"));
            }
            s
        }
    }
}

/// A stored default as `pg_get_expr` prints it: the sequence argument of
/// `nextval` is a `regclass` literal there.
pub(crate) fn display_default(d: &str) -> String {
    // SQL-standard value functions print in upper case, as PostgreSQL
    // deparses them.
    const VALUE_FUNCTIONS: &[&str] = &[
        "current_date",
        "current_time",
        "current_timestamp",
        "localtime",
        "localtimestamp",
        "current_user",
        "session_user",
        "current_role",
        "current_catalog",
        "current_schema",
    ];
    if VALUE_FUNCTIONS.contains(&d.trim().to_ascii_lowercase().as_str()) {
        return d.trim().to_ascii_uppercase();
    }
    if let Some(inner) = d
        .strip_prefix("nextval('")
        .and_then(|r| r.strip_suffix("')"))
    {
        if !inner.contains('\'') {
            return format!("nextval('{inner}'::regclass)");
        }
    }
    d.to_string()
}

/// `pg_get_serial_sequence(table, column)`: the sequence owned by the
/// column, schema-qualified, or NULL.
fn serial_sequence(cx: &SysCx<'_>, table: &str, column: &str) -> DbResult<Value> {
    let Some(oid) = regclass_in(cx, table)? else {
        return Err(AionError::new(
            SqlState::UNDEFINED_TABLE,
            format!("relation \"{table}\" does not exist"),
        ));
    };
    let Some(t) = cx.relation(oid) else {
        return Ok(Value::Null);
    };
    let col = column.to_string();
    let Some(k) = t.columns.iter().position(|c| c.name.as_str() == col) else {
        return Err(AionError::new(
            SqlState::UNDEFINED_COLUMN,
            format!("column \"{col}\" of relation \"{}\" does not exist", t.name),
        ));
    };
    let seq = cx.services.catalog.sequences().into_iter().find(|s| {
        s.owned_by
            .into_option()
            .is_some_and(|o| o.table == t.id && o.column as usize == k)
    });
    Ok(match seq {
        Some(s) => Value::text(format!(
            "{}.{}",
            quote_ident(&schema_name_of(cx, s.schema).unwrap_or_default()),
            quote_ident(&s.name)
        )),
        None => Value::Null,
    })
}

/// `pg_size_pretty(bigint)` with PostgreSQL's rounding.
pub fn size_pretty(size: i64) -> String {
    let limit: i64 = 10 * 1024;
    let limit2 = limit * 2 - 1;
    let half_rounded = |x: i64| (x + if x < 0 { -1 } else { 1 }) / 2;
    if size.abs() < limit {
        return format!("{size} bytes");
    }
    let mut s = size >> 9;
    for unit in ["kB", "MB", "GB", "TB"] {
        if s.abs() < limit2 || unit == "TB" {
            return format!("{} {unit}", half_rounded(s));
        }
        s >>= 10;
    }
    format!("{size} bytes")
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Space(String),
    Ident(String),
    Quoted(String),
    Number(String),
    Str(String),
    Op(String),
    Punct(char),
}

fn tokenize(s: &str) -> Option<Vec<Tok>> {
    let cs: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        let start = i;
        if c.is_whitespace() {
            while i < cs.len() && cs[i].is_whitespace() {
                i += 1;
            }
            out.push(Tok::Space(cs[start..i].iter().collect()));
        } else if c == '\'' || c == '"' {
            i += 1;
            loop {
                let ch = *cs.get(i)?;
                i += 1;
                if ch == c {
                    if cs.get(i) == Some(&c) {
                        i += 1;
                        continue;
                    }
                    break;
                }
            }
            let text: String = cs[start..i].iter().collect();
            out.push(if c == '\'' {
                Tok::Str(text)
            } else {
                Tok::Quoted(text)
            });
        } else if c.is_alphabetic() || c == '_' {
            while i < cs.len() && (cs[i].is_alphanumeric() || cs[i] == '_' || cs[i] == '$') {
                i += 1;
            }
            out.push(Tok::Ident(cs[start..i].iter().collect()));
        } else if c.is_ascii_digit() {
            while i < cs.len() && (cs[i].is_ascii_digit() || cs[i] == '.') {
                i += 1;
            }
            out.push(Tok::Number(cs[start..i].iter().collect()));
        } else if "<>=!~+-*/%^&|#@:".contains(c) {
            while i < cs.len() && "<>=!~+-*/%^&|#@:".contains(cs[i]) {
                i += 1;
            }
            out.push(Tok::Op(cs[start..i].iter().collect()));
        } else {
            i += 1;
            out.push(Tok::Punct(c));
        }
    }
    Some(out)
}

/// A stored CHECK expression as PostgreSQL's deparser prints it, for the
/// common `column op literal` comparisons: the literal carries the cast
/// PostgreSQL's parser added (`price > 0::numeric`, `name <> ''::text`),
/// a varchar column compared with text is cast (`email::text ~~ ...`),
/// and LIKE is printed as its operator. Anything else is kept as written.
pub(crate) fn check_as_deparsed(t: &TableDef, expr: &str) -> String {
    let Some(mut toks) = tokenize(expr) else {
        return expr.to_string();
    };
    // Indexes of the non-space tokens.
    let idx: Vec<usize> = (0..toks.len())
        .filter(|k| !matches!(toks[*k], Tok::Space(_)))
        .collect();
    let column = |tok: &Tok| -> Option<DataType> {
        let n = match tok {
            Tok::Ident(s) => s.to_lowercase(),
            Tok::Quoted(s) => s[1..s.len() - 1].replace("\"\"", "\""),
            _ => return None,
        };
        t.columns
            .iter()
            .find(|c| c.name.as_str() == n)
            .map(|c| c.data_type)
    };
    let mut edits: Vec<(usize, String)> = Vec::new();
    let mut j = 0;
    while j + 2 < idx.len() {
        let (a, o, l) = (idx[j], idx[j + 1], idx[j + 2]);
        let op = match &toks[o] {
            Tok::Op(x) if matches!(x.as_str(), "=" | "<>" | "!=" | "<" | "<=" | ">" | ">=") => {
                x.clone()
            }
            Tok::Ident(x) if x.eq_ignore_ascii_case("like") => "~~".to_string(),
            Tok::Ident(x) if x.eq_ignore_ascii_case("ilike") => "~~*".to_string(),
            _ => {
                j += 1;
                continue;
            }
        };
        let before_ok = j == 0
            || !matches!(&toks[idx[j - 1]], Tok::Op(x) if x == "::")
                && toks[idx[j - 1]] != Tok::Punct('.');
        let after_ok = idx.get(j + 3).is_none_or(|k| {
            !matches!(&toks[*k], Tok::Op(x) if x == "::")
                && toks[*k] != Tok::Punct('.')
                && toks[*k] != Tok::Punct('(')
        });
        let (Some(ty), true, true) = (column(&toks[a]), before_ok, after_ok) else {
            j += 1;
            continue;
        };
        if ty.is_array {
            j += 1;
            continue;
        }
        let lit = toks[l].clone();
        let new_lit = match (&lit, ty.id) {
            (Tok::Number(n), TypeId::Numeric) if !n.contains('.') => Some(format!("{n}::numeric")),
            (Tok::Number(n), TypeId::Float8) => Some(format!("{n}::double precision")),
            (Tok::Number(n), TypeId::Float4) => Some(format!("{n}::real")),
            (Tok::Str(sv), TypeId::Varchar) => Some(format!("{sv}::text")),
            (Tok::Str(sv), id) => type_facts(id).map(|_| {
                let name = match id {
                    TypeId::Char => "bpchar".to_string(),
                    other => DataType::scalar(other).to_string(),
                };
                format!("{sv}::{name}")
            }),
            _ => None,
        };
        let like = op.starts_with("~~");
        if new_lit.is_none() && !like {
            j += 1;
            continue;
        }
        if ty.id == TypeId::Varchar && matches!(lit, Tok::Str(_)) {
            let col = match &toks[a] {
                Tok::Ident(s) => s.to_lowercase(),
                Tok::Quoted(s) => s.clone(),
                _ => String::new(),
            };
            edits.push((a, format!("{col}::text")));
        }
        if let Some(nl) = new_lit {
            edits.push((l, nl));
        }
        if like {
            edits.push((o, op));
        }
        j += 3;
    }
    for (k, text) in edits {
        toks[k] = Tok::Op(text);
    }
    toks.into_iter()
        .map(|t| match t {
            Tok::Space(s)
            | Tok::Ident(s)
            | Tok::Quoted(s)
            | Tok::Number(s)
            | Tok::Str(s)
            | Tok::Op(s) => s,
            Tok::Punct(c) => c.to_string(),
        })
        .collect()
}
