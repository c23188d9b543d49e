//! Rows of the system relations, computed from the live catalog.

use abi_stable::std_types::ROption;

use super::*;
use crate::catalog::{ConstraintKind, Identity, IndexDef, ReferentialAction, RelationKind};
use crate::value::{ArrayValue, Value};

fn oid(v: impl TryInto<i64>) -> Value {
    v.try_into().map(Value::Int8).unwrap_or(Value::Null)
}
fn name(s: &str) -> Value {
    Value::text(s)
}
fn ch(c: char) -> Value {
    Value::text(c.to_string())
}
fn b(v: bool) -> Value {
    Value::Bool(v)
}
fn i2(v: impl TryInto<i16>) -> Value {
    v.try_into().map(Value::Int2).unwrap_or(Value::Null)
}
fn i4(v: impl TryInto<i32>) -> Value {
    v.try_into().map(Value::Int4).unwrap_or(Value::Null)
}
fn int2_array(v: impl IntoIterator<Item = u32>) -> Value {
    Value::Array(ArrayValue::one_dim(
        TypeId::Int2,
        v.into_iter().map(|c| i2(c + 1)).collect(),
    ))
}
fn yes_no(v: bool) -> Value {
    Value::text(if v { "YES" } else { "NO" })
}
const NULL: Value = Value::Null;

/// One user relation as `pg_class` shows it.
struct Rel {
    oid: i64,
    name: String,
    schema: u32,
    kind: char,
    natts: usize,
    checks: usize,
    has_index: bool,
    /// PostgreSQL implements foreign keys with triggers on both tables;
    /// psql only looks for foreign keys when this is set.
    has_triggers: bool,
    am: i64,
}

/// Every user table, view, sequence and index with its schema, in OID order.
fn relations(cx: &SysCx<'_>) -> Vec<Rel> {
    let cat = &cx.services.catalog;
    let mut out = Vec::new();
    let tables = cat.tables(ROption::RNone);
    let mut fk_tables = std::collections::HashSet::new();
    for t in tables.iter() {
        for c in t.constraints.iter() {
            if let ConstraintKind::ForeignKey { ref_table, .. } = c.kind {
                fk_tables.insert(t.id);
                fk_tables.insert(ref_table);
            }
        }
    }
    for t in tables.iter() {
        let kind = match t.kind {
            RelationKind::Table => 'r',
            RelationKind::View => 'v',
            RelationKind::Sequence => 'S',
        };
        let indexes = cat.indexes_of(t.id);
        out.push(Rel {
            oid: t.id as i64,
            name: t.name.to_string(),
            schema: t.schema,
            kind,
            natts: t.columns.len(),
            checks: t
                .constraints
                .iter()
                .filter(|c| matches!(c.kind, ConstraintKind::Check { .. }))
                .count(),
            has_index: !indexes.is_empty(),
            has_triggers: fk_tables.contains(&t.id),
            am: if kind == 'r' { 2 } else { 0 },
        });
        for i in indexes.iter() {
            out.push(Rel {
                oid: i.id as i64,
                name: i.name.to_string(),
                schema: t.schema,
                kind: 'i',
                natts: i.columns.len(),
                checks: 0,
                has_index: false,
                has_triggers: false,
                am: am_oid(i.method.as_str()),
            });
        }
    }
    for s in cat.sequences().iter() {
        if !out.iter().any(|r| r.oid == s.id as i64) {
            out.push(Rel {
                oid: s.id as i64,
                name: s.name.to_string(),
                schema: s.schema,
                kind: 'S',
                natts: 3,
                checks: 0,
                has_index: false,
                has_triggers: false,
                am: 0,
            });
        }
    }
    for r in RELATIONS {
        out.push(Rel {
            oid: r.oid(),
            name: r.name.to_string(),
            schema: r.namespace_oid(),
            kind: r.relkind(),
            natts: r.schema().fields.len(),
            checks: 0,
            has_index: false,
            has_triggers: false,
            am: if r.relkind() == 'r' { 2 } else { 0 },
        });
    }
    out.sort_by_key(|r| r.oid);
    out
}

const AMS: &[(i64, &str, char)] = &[
    (2, "heap", 't'),
    (403, "btree", 'i'),
    (405, "hash", 'i'),
    (783, "gist", 'i'),
    (2742, "gin", 'i'),
    (4000, "spgist", 'i'),
    (3580, "brin", 'i'),
];

fn am_oid(method: &str) -> i64 {
    AMS.iter()
        .find(|(_, n, _)| *n == method)
        .map(|(o, _, _)| *o)
        .unwrap_or(403)
}

fn schema_name(cx: &SysCx<'_>, id: u32) -> String {
    cx.schema_by_id(id)
        .map(|s| s.name.to_string())
        .unwrap_or_default()
}

/// Whether an index implements the table's primary key.
pub(crate) fn index_is_primary(t: &TableDef, i: &IndexDef) -> bool {
    t.constraints.iter().any(|c| {
        matches!(&c.kind, ConstraintKind::PrimaryKey { columns } if c.name == i.name
            || columns.as_slice() == i.columns.as_slice())
    })
}

fn action_char(a: ReferentialAction) -> char {
    match a {
        ReferentialAction::NoAction => 'a',
        ReferentialAction::Restrict => 'r',
        ReferentialAction::Cascade => 'c',
        ReferentialAction::SetNull => 'n',
        ReferentialAction::SetDefault => 'd',
    }
}

fn user_tables(cx: &SysCx<'_>) -> Vec<TableDef> {
    cx.services.catalog.tables(ROption::RNone).into_vec()
}

/// The rows of a system relation.
pub fn rows(rel: &SysRelation, cx: &SysCx<'_>) -> Vec<Vec<Value>> {
    let cat = &cx.services.catalog;
    let q = rel.qualified();
    match q.as_str() {
        "pg_catalog.pg_namespace" => cat
            .schemas()
            .iter()
            .map(|s| vec![oid(s.id), name(&s.name), oid(namespace_owner(cx, s)), NULL])
            .chain(std::iter::once(vec![
                oid(INFORMATION_SCHEMA_OID),
                name("information_schema"),
                oid(SESSION_USER_OID),
                NULL,
            ]))
            .collect(),
        "pg_catalog.pg_class" => relations(cx)
            .into_iter()
            .map(|r| {
                vec![
                    oid(r.oid),
                    name(&r.name),
                    oid(r.schema),
                    oid(0),
                    oid(0),
                    oid(SESSION_USER_OID),
                    oid(r.am),
                    oid(r.oid),
                    oid(0),
                    i4(0),
                    Value::Float4(if r.kind == 'S' { 1.0 } else { -1.0 }),
                    i4(0),
                    oid(0),
                    b(r.has_index),
                    b(false),
                    ch('p'),
                    ch(r.kind),
                    i2(r.natts),
                    i2(r.checks),
                    b(false),
                    b(r.has_triggers),
                    b(false),
                    b(false),
                    b(false),
                    b(true),
                    ch(if r.kind == 'r' { 'd' } else { 'n' }),
                    b(false),
                    oid(0),
                    NULL,
                    NULL,
                    NULL,
                ]
            })
            .collect(),
        "pg_catalog.pg_attribute" => {
            let mut out = Vec::new();
            for t in user_tables(cx) {
                for (k, c) in t.columns.iter().enumerate() {
                    out.push(attribute_row(t.id, k, c));
                }
                // Index columns, as `\d index` lists them.
                for i in cat.indexes_of(t.id).iter() {
                    for (k, col) in i.columns.iter().enumerate() {
                        let Some(c) = t.columns.get(*col as usize) else {
                            continue;
                        };
                        let c = crate::catalog::ColumnDef {
                            nullable: true,
                            default_expr: ROption::RNone,
                            identity: Identity::None,
                            ..c.clone()
                        };
                        out.push(attribute_row(i.id, k, &c));
                    }
                }
            }
            for r in RELATIONS {
                for (k, f) in r.schema().fields.iter().enumerate() {
                    let c = crate::catalog::ColumnDef {
                        name: f.name.clone(),
                        data_type: f.data_type,
                        nullable: true,
                        default_expr: ROption::RNone,
                        identity: Identity::None,
                    };
                    out.push(attribute_row(r.oid() as u64, k, &c));
                }
            }
            out
        }
        "pg_catalog.pg_attrdef" => {
            let mut out = Vec::new();
            for t in user_tables(cx) {
                for (k, c) in t.columns.iter().enumerate() {
                    if let (ROption::RSome(d), Identity::None | Identity::Stored) =
                        (&c.default_expr, c.identity)
                    {
                        out.push(vec![
                            oid(attrdef_oid(t.id, k + 1)),
                            oid(t.id),
                            i2(k + 1),
                            Value::text(d.as_str()),
                        ]);
                    }
                }
            }
            out
        }
        "pg_catalog.pg_type" => {
            let mut out = Vec::new();
            for t in TypeId::BUILTINS.iter().chain(TypeId::SYSTEM.iter()) {
                let Some(f) = type_facts(*t) else { continue };
                let array_oid = t.array_oid().unwrap_or(0);
                let coll = type_collation(*t);
                let row = |oid_: u32,
                           typname: String,
                           len: i16,
                           byval: bool,
                           category: char,
                           elem: u32,
                           array: u32,
                           storage: char| {
                    vec![
                        oid(oid_),
                        Value::text(typname),
                        oid(11),
                        oid(SESSION_USER_OID),
                        i2(len),
                        b(byval),
                        ch('b'),
                        ch(category),
                        b(f.preferred && elem == 0),
                        b(true),
                        ch(','),
                        oid(0),
                        oid(0),
                        oid(elem),
                        oid(array),
                        oid(0),
                        oid(0),
                        oid(0),
                        oid(0),
                        oid(0),
                        oid(0),
                        oid(0),
                        ch(f.align),
                        ch(storage),
                        b(false),
                        oid(0),
                        i4(-1),
                        i4(0),
                        oid(coll),
                        NULL,
                        NULL,
                        NULL,
                    ]
                };
                out.push(row(
                    t.oid(),
                    f.typname.to_string(),
                    f.len,
                    f.byval,
                    f.category,
                    0,
                    array_oid,
                    f.storage,
                ));
                if array_oid != 0 {
                    out.push(row(
                        array_oid,
                        format!("_{}", f.typname),
                        -1,
                        false,
                        'A',
                        t.oid(),
                        0,
                        'x',
                    ));
                }
            }
            out
        }
        "pg_catalog.pg_index" => {
            let mut out = Vec::new();
            for t in user_tables(cx) {
                for i in cat.indexes_of(t.id).iter() {
                    let n = i.columns.len();
                    out.push(vec![
                        oid(i.id),
                        oid(t.id),
                        i2(n),
                        i2(n),
                        b(i.unique),
                        b(false),
                        b(index_is_primary(&t, i)),
                        b(false),
                        b(true),
                        b(false),
                        b(true),
                        b(false),
                        b(true),
                        b(true),
                        b(false),
                        int2_array(i.columns.iter().copied()),
                        Value::Array(ArrayValue::one_dim(
                            TypeId::Oid,
                            i.columns
                                .iter()
                                .map(|c| {
                                    let ty = t.columns.get(*c as usize).map(|c| c.data_type.id);
                                    oid(ty.map(type_collation).unwrap_or(0))
                                })
                                .collect(),
                        )),
                        // Operator classes are the access method's defaults.
                        Value::Array(ArrayValue::one_dim(
                            TypeId::Oid,
                            i.columns.iter().map(|_| oid(0)).collect(),
                        )),
                        Value::text(vec!["0"; n].join(" ")),
                        NULL,
                        NULL,
                    ]);
                }
            }
            out
        }
        "pg_catalog.pg_constraint" => {
            let mut out = Vec::new();
            for t in user_tables(cx) {
                let indexes = cat.indexes_of(t.id);
                for (k, c) in t.constraints.iter().enumerate() {
                    let (ty, key, fk) = match &c.kind {
                        ConstraintKind::PrimaryKey { columns } => ('p', Some(columns), None),
                        ConstraintKind::Unique { columns } => ('u', Some(columns), None),
                        ConstraintKind::Check { .. } => ('c', None, None),
                        ConstraintKind::ForeignKey {
                            columns,
                            ref_table,
                            ref_columns,
                            on_delete,
                            on_update,
                        } => (
                            'f',
                            Some(columns),
                            Some((*ref_table, ref_columns, *on_delete, *on_update)),
                        ),
                    };
                    let index = match ty {
                        'p' | 'u' => indexes
                            .iter()
                            .find(|i| i.name == c.name)
                            .or_else(|| {
                                indexes.iter().find(|i| Some(&i.columns) == key && i.unique)
                            })
                            .map(|i| i.id as i64)
                            .unwrap_or(0),
                        _ => 0,
                    };
                    let check = match &c.kind {
                        ConstraintKind::Check { expr } => Value::text(expr.as_str()),
                        _ => NULL,
                    };
                    out.push(vec![
                        oid(constraint_oid(t.id, k)),
                        name(&c.name),
                        oid(t.schema),
                        ch(ty),
                        b(false),
                        b(false),
                        b(true),
                        oid(t.id),
                        oid(0),
                        oid(index),
                        oid(0),
                        oid(fk.as_ref().map(|f| f.0 as i64).unwrap_or(0)),
                        ch(fk.as_ref().map(|f| action_char(f.3)).unwrap_or(' ')),
                        ch(fk.as_ref().map(|f| action_char(f.2)).unwrap_or(' ')),
                        ch(if fk.is_some() { 's' } else { ' ' }),
                        b(true),
                        i4(0),
                        b(false),
                        key.map(|k| int2_array(k.iter().copied())).unwrap_or(NULL),
                        fk.as_ref()
                            .map(|f| int2_array(f.1.iter().copied()))
                            .unwrap_or(NULL),
                        NULL,
                        NULL,
                        NULL,
                        NULL,
                        NULL,
                        check,
                    ]);
                }
            }
            out
        }
        "pg_catalog.pg_database" => vec![vec![
            oid(DATABASE_OID),
            name(cx.database),
            oid(SESSION_USER_OID),
            i4(6),
            ch('c'),
            b(false),
            b(true),
            i4(-1),
            oid(1663),
            Value::text(LOCALE),
            Value::text(LOCALE),
            NULL,
            NULL,
            NULL,
        ]],
        "pg_catalog.pg_roles" => roles(cx)
            .into_iter()
            .map(|r| {
                vec![
                    name(&r.name),
                    b(r.superuser),
                    b(r.inherit),
                    b(r.create_role),
                    b(r.create_db),
                    b(r.can_login),
                    b(r.replication),
                    i4(r.connection_limit),
                    Value::text("********"),
                    valid_until(&r),
                    b(r.bypass_rls),
                    NULL,
                    oid(r.id as i64),
                ]
            })
            .collect(),
        // Password verifiers are never shown, even here.
        "pg_catalog.pg_authid" => roles(cx)
            .into_iter()
            .map(|r| {
                vec![
                    oid(r.id as i64),
                    name(&r.name),
                    b(r.superuser),
                    b(r.inherit),
                    b(r.create_role),
                    b(r.create_db),
                    b(r.can_login),
                    b(r.replication),
                    b(r.bypass_rls),
                    i4(r.connection_limit),
                    NULL,
                    valid_until(&r),
                ]
            })
            .collect(),
        "pg_catalog.pg_user" => roles(cx)
            .into_iter()
            .filter(|r| r.can_login)
            .map(|r| {
                vec![
                    name(&r.name),
                    oid(r.id as i64),
                    b(r.create_db),
                    b(r.superuser),
                    b(r.replication),
                    b(r.bypass_rls),
                    Value::text("********"),
                    valid_until(&r),
                    NULL,
                ]
            })
            .collect(),
        "pg_catalog.pg_settings" => cx
            .settings
            .iter()
            .map(|kv| {
                let read_only = matches!(
                    kv.key.as_str(),
                    "server_version"
                        | "server_version_num"
                        | "server_encoding"
                        | "integer_datetimes"
                );
                vec![
                    Value::text(kv.key.as_str()),
                    Value::text(kv.value.as_str()),
                    if kv.key.as_str().ends_with("_timeout") {
                        Value::text("ms")
                    } else {
                        NULL
                    },
                    Value::text("Client Connection Defaults"),
                    Value::text(""),
                    NULL,
                    Value::text(if read_only { "internal" } else { "user" }),
                    Value::text(setting_vartype(kv.value.as_str())),
                    Value::text("default"),
                    NULL,
                    NULL,
                    NULL,
                    Value::text(kv.value.as_str()),
                    Value::text(kv.value.as_str()),
                    NULL,
                    NULL,
                    b(false),
                ]
            })
            .collect(),
        "pg_catalog.pg_proc" => {
            let mut out = Vec::new();
            let mut next = PROC_OID_BASE;
            for f in cx.services.functions.iter() {
                let Ok(sigs) = f.set.functions().into_result() else {
                    continue;
                };
                for s in sigs.iter() {
                    next += 1;
                    out.push(vec![
                        oid(next),
                        name(&s.name),
                        oid(11),
                        oid(SESSION_USER_OID),
                        oid(12),
                        Value::Float4(1.0),
                        Value::Float4(0.0),
                        oid(0),
                        ch('f'),
                        b(false),
                        b(false),
                        b(s.strict),
                        b(false),
                        ch('i'),
                        ch('s'),
                        i2(s.args.len()),
                        i2(0),
                        oid(s.returns.oid()),
                        Value::Array(ArrayValue::one_dim(
                            TypeId::Oid,
                            s.args.iter().map(|a| oid(a.oid())).collect(),
                        )),
                        NULL,
                        NULL,
                        NULL,
                        Value::text(s.name.as_str()),
                    ]);
                }
            }
            out
        }
        "pg_catalog.pg_am" => AMS
            .iter()
            .map(|(o, n, t)| vec![oid(*o), name(n), oid(0), ch(*t)])
            .collect(),
        "pg_catalog.pg_tablespace" => vec![
            vec![
                oid(1663),
                name("pg_default"),
                oid(SESSION_USER_OID),
                NULL,
                NULL,
            ],
            vec![
                oid(1664),
                name("pg_global"),
                oid(SESSION_USER_OID),
                NULL,
                NULL,
            ],
        ],
        "pg_catalog.pg_collation" => [
            (DEFAULT_COLLATION, "default", 'd', NULL),
            (C_COLLATION, "C", 'c', Value::text("C")),
            (951, "POSIX", 'c', Value::text("POSIX")),
        ]
        .into_iter()
        .map(|(o, n, p, l)| {
            vec![
                oid(o),
                name(n),
                oid(11),
                oid(SESSION_USER_OID),
                ch(p),
                b(true),
                i4(-1),
                l.clone(),
                l,
                NULL,
                NULL,
            ]
        })
        .collect(),
        "pg_catalog.pg_sequence" => cat
            .sequences()
            .iter()
            .map(|s| {
                vec![
                    oid(s.id),
                    oid(sequence_type(s.max_value)),
                    Value::Int8(s.start),
                    Value::Int8(s.increment),
                    Value::Int8(s.max_value),
                    Value::Int8(s.min_value),
                    Value::Int8(1),
                    b(s.cycle),
                ]
            })
            .collect(),
        "pg_catalog.pg_depend" => cat
            .sequences()
            .iter()
            .filter_map(|s| {
                let o = s.owned_by.into_option()?;
                Some(vec![
                    oid(1259),
                    oid(s.id),
                    i4(0),
                    oid(1259),
                    oid(o.table),
                    i4(o.column + 1),
                    ch('a'),
                ])
            })
            .collect(),
        "pg_catalog.pg_tables" => user_tables(cx)
            .iter()
            .filter(|t| t.kind == RelationKind::Table)
            .map(|t| {
                vec![
                    name(&schema_name(cx, t.schema)),
                    name(&t.name),
                    name(cx.user),
                    NULL,
                    b(!cat.indexes_of(t.id).is_empty()),
                    b(false),
                    b(false),
                    b(false),
                ]
            })
            .collect(),
        "pg_catalog.pg_views" => user_tables(cx)
            .iter()
            .filter(|t| t.kind == RelationKind::View)
            .map(|t| {
                vec![
                    name(&schema_name(cx, t.schema)),
                    name(&t.name),
                    name(cx.user),
                    t.view_sql
                        .as_ref()
                        .map(|s| Value::text(format!(" {};", s.as_str())))
                        .unwrap_or(NULL),
                ]
            })
            .collect(),
        "pg_catalog.pg_indexes" => {
            let mut out = Vec::new();
            for t in user_tables(cx) {
                for i in cat.indexes_of(t.id).iter() {
                    out.push(vec![
                        name(&schema_name(cx, t.schema)),
                        name(&t.name),
                        name(&i.name),
                        NULL,
                        Value::text(funcs::index_def(cx, &t, i)),
                    ]);
                }
            }
            out
        }
        "pg_catalog.pg_sequences" => cat
            .sequences()
            .iter()
            .map(|s| {
                vec![
                    name(&schema_name(cx, s.schema)),
                    name(&s.name),
                    name(cx.user),
                    oid(sequence_type(s.max_value)),
                    Value::Int8(s.start),
                    Value::Int8(s.min_value),
                    Value::Int8(s.max_value),
                    Value::Int8(s.increment),
                    b(s.cycle),
                    Value::Int8(1),
                    // NULL until nextval (or setval with is_called) has
                    // given the sequence a value, as in PostgreSQL.
                    match cat.sequence_state(s.id).into_option() {
                        Some(st) if st.is_called => Value::Int8(st.last_value),
                        _ => NULL,
                    },
                ]
            })
            .collect(),
        "pg_catalog.pg_stat_activity" => {
            let mut row = vec![NULL; rel.schema().fields.len()];
            row[0] = oid(DATABASE_OID);
            row[1] = name(cx.database);
            row[2] = i4(cx.session as i64 & 0x7fff_ffff);
            row[4] = oid(SESSION_USER_OID);
            row[5] = name(cx.user);
            row[6] = Value::text(cx.setting("application_name").unwrap_or(""));
            row[16] = Value::text("active");
            row[20] = Value::text("client backend");
            vec![row]
        }
        "information_schema.schemata" => cat
            .schemas()
            .iter()
            .map(|s| (s.name.to_string(), namespace_owner(cx, s)))
            .chain(std::iter::once((
                "information_schema".to_string(),
                SESSION_USER_OID as i64,
            )))
            .map(|(s, owner)| {
                let owner = roles(cx)
                    .into_iter()
                    .find(|r| r.id as i64 == owner)
                    .map(|r| r.name.to_string())
                    .unwrap_or_default();
                vec![
                    name(cx.database),
                    name(&s),
                    name(&owner),
                    NULL,
                    NULL,
                    NULL,
                    NULL,
                ]
            })
            .collect(),
        "information_schema.tables" => {
            let mut out = Vec::new();
            for t in user_tables(cx) {
                let ty = match t.kind {
                    RelationKind::Table => "BASE TABLE",
                    RelationKind::View => "VIEW",
                    RelationKind::Sequence => continue,
                };
                out.push(vec![
                    name(cx.database),
                    name(&schema_name(cx, t.schema)),
                    name(&t.name),
                    Value::text(ty),
                    NULL,
                    NULL,
                    NULL,
                    NULL,
                    NULL,
                    yes_no(t.kind == RelationKind::Table),
                    Value::text("NO"),
                    NULL,
                ]);
            }
            out
        }
        "information_schema.columns" => {
            let mut out = Vec::new();
            for t in user_tables(cx) {
                let schema = schema_name(cx, t.schema);
                for (k, c) in t.columns.iter().enumerate() {
                    out.push(info_column(cx, &schema, &t, k, c));
                }
            }
            out
        }
        "information_schema.table_constraints" => {
            let mut out = Vec::new();
            for t in user_tables(cx) {
                let schema = schema_name(cx, t.schema);
                for c in t.constraints.iter() {
                    let ty = match c.kind {
                        ConstraintKind::PrimaryKey { .. } => "PRIMARY KEY",
                        ConstraintKind::Unique { .. } => "UNIQUE",
                        ConstraintKind::Check { .. } => "CHECK",
                        ConstraintKind::ForeignKey { .. } => "FOREIGN KEY",
                    };
                    out.push(vec![
                        name(cx.database),
                        name(&schema),
                        name(&c.name),
                        name(cx.database),
                        name(&schema),
                        name(&t.name),
                        Value::text(ty),
                        Value::text("NO"),
                        Value::text("NO"),
                        Value::text("YES"),
                        if ty == "UNIQUE" || ty == "PRIMARY KEY" {
                            Value::text("YES")
                        } else {
                            NULL
                        },
                    ]);
                }
            }
            out
        }
        "information_schema.key_column_usage" => {
            let mut out = Vec::new();
            for t in user_tables(cx) {
                let schema = schema_name(cx, t.schema);
                for c in t.constraints.iter() {
                    let (cols, fk) = match &c.kind {
                        ConstraintKind::PrimaryKey { columns }
                        | ConstraintKind::Unique { columns } => (columns, None),
                        ConstraintKind::ForeignKey {
                            columns,
                            ref_table,
                            ref_columns,
                            ..
                        } => (columns, Some((*ref_table, ref_columns))),
                        ConstraintKind::Check { .. } => continue,
                    };
                    for (pos, col) in cols.iter().enumerate() {
                        let Some(cd) = t.columns.get(*col as usize) else {
                            continue;
                        };
                        let unique_pos = fk.as_ref().and_then(|(rt, rc)| {
                            let rt = cat.table_by_id(*rt).into_option()?;
                            let target = rc.get(pos)?;
                            rt.constraints.iter().find_map(|k| match &k.kind {
                                ConstraintKind::PrimaryKey { columns }
                                | ConstraintKind::Unique { columns }
                                    if columns.as_slice() == rc.as_slice() =>
                                {
                                    columns.iter().position(|c| c == target)
                                }
                                _ => None,
                            })
                        });
                        out.push(vec![
                            name(cx.database),
                            name(&schema),
                            name(&c.name),
                            name(cx.database),
                            name(&schema),
                            name(&t.name),
                            name(&cd.name),
                            i4(pos + 1),
                            unique_pos.map(|p| i4(p + 1)).unwrap_or(NULL),
                        ]);
                    }
                }
            }
            out
        }
        "information_schema.views" => user_tables(cx)
            .iter()
            .filter(|t| t.kind == RelationKind::View)
            .map(|t| {
                vec![
                    name(cx.database),
                    name(&schema_name(cx, t.schema)),
                    name(&t.name),
                    t.view_sql
                        .as_ref()
                        .map(|s| Value::text(s.as_str()))
                        .unwrap_or(NULL),
                    Value::text("NONE"),
                    Value::text("NO"),
                    Value::text("NO"),
                    Value::text("NO"),
                    Value::text("NO"),
                    Value::text("NO"),
                ]
            })
            .collect(),
        "information_schema.sequences" => cat
            .sequences()
            .iter()
            .map(|s| {
                vec![
                    name(cx.database),
                    name(&schema_name(cx, s.schema)),
                    name(&s.name),
                    Value::text("bigint"),
                    i4(64),
                    i4(2),
                    i4(0),
                    Value::text(s.start.to_string()),
                    Value::text(s.min_value.to_string()),
                    Value::text(s.max_value.to_string()),
                    Value::text(s.increment.to_string()),
                    yes_no(s.cycle),
                ]
            })
            .collect(),
        // Relations with no rows here: pg_description, pg_shdescription,
        // pg_inherits, pg_auth_members, pg_enum, pg_extension, pg_policy,
        // pg_statistic_ext, pg_publication*, pg_trigger, pg_rewrite.
        _ => Vec::new(),
    }
}

/// `pg_catalog` (11) and `public` (2200) have PostgreSQL's OIDs; this is
/// `information_schema`'s, which the kernel catalog does not hold.
pub(crate) const INFORMATION_SCHEMA_OID: u32 = 13_000;
const PROC_OID_BASE: i64 = 1 << 29;
/// What `pg_database` reports for `datcollate`/`datctype`.
const LOCALE: &str = "C.UTF-8";

/// The sequence's data type, from its bound (the catalog keeps no type:
/// SERIAL's sequences end at int4's maximum, SMALLSERIAL's at int2's).
fn sequence_type(max: i64) -> u32 {
    if max == i16::MAX as i64 {
        21
    } else if max == i32::MAX as i64 {
        23
    } else {
        20
    }
}

/// `public` belongs to `pg_database_owner` (as in PostgreSQL 15); other
/// schemas to the role their catalog entry names (the bootstrap
/// superuser when it names no known role).
fn namespace_owner(cx: &SysCx<'_>, schema: &SchemaDef) -> i64 {
    if schema.name.as_str() == "public" {
        return DATABASE_OWNER_OID as i64;
    }
    cx.services
        .catalog
        .role_by_name(schema.owner.as_str().into())
        .into_option()
        .map(|r| r.id as i64)
        .unwrap_or(SESSION_USER_OID as i64)
}

fn setting_vartype(v: &str) -> &'static str {
    if matches!(v, "on" | "off") {
        "bool"
    } else if v.parse::<i64>().is_ok() {
        "integer"
    } else {
        "string"
    }
}

/// The catalog's roles (`CREATE ROLE`; the bootstrap user is superuser
/// role 10) and `pg_database_owner`. A catalog without roles (tests, other
/// hosts) shows the session user as the bootstrap superuser.
pub(crate) fn roles(cx: &SysCx<'_>) -> Vec<crate::catalog::RoleDef> {
    use crate::catalog::RoleDef;
    let role = |id: u64, name: &str, superuser: bool, login: bool| RoleDef {
        id,
        name: name.into(),
        superuser,
        inherit: true,
        create_role: superuser,
        create_db: superuser,
        can_login: login,
        replication: superuser,
        bypass_rls: superuser,
        connection_limit: -1,
        password: ROption::RNone,
        valid_until: ROption::RNone,
    };
    let mut out = cx.services.catalog.roles().into_vec();
    if out.is_empty() {
        out.push(role(SESSION_USER_OID as u64, cx.user, true, true));
    }
    if !out.iter().any(|r| r.id == DATABASE_OWNER_OID as u64) {
        out.push(role(
            DATABASE_OWNER_OID as u64,
            "pg_database_owner",
            false,
            false,
        ));
    }
    out.sort_by_key(|r| r.id);
    out
}

fn valid_until(r: &crate::catalog::RoleDef) -> Value {
    match r.valid_until {
        ROption::RSome(t) => Value::TimestampTz(t),
        ROption::RNone => NULL,
    }
}

fn info_column(
    cx: &SysCx<'_>,
    schema: &str,
    t: &TableDef,
    k: usize,
    c: &crate::catalog::ColumnDef,
) -> Vec<Value> {
    let dt = c.data_type;
    let data_type = if dt.is_array {
        "ARRAY".to_string()
    } else if matches!(dt.id, TypeId::Ext(_)) {
        "USER-DEFINED".to_string()
    } else {
        DataType::scalar(dt.id).to_string()
    };
    let m = dt.typmod;
    let (char_len, octet_len) = match dt.id {
        TypeId::Varchar | TypeId::Char if !dt.is_array => {
            if m >= 4 {
                (i4(m - 4), i4((m - 4) * 4))
            } else {
                (NULL, i4(1_073_741_824))
            }
        }
        TypeId::Text if !dt.is_array => (NULL, i4(1_073_741_824)),
        _ => (NULL, NULL),
    };
    let (prec, radix, scale) = if dt.is_array {
        (NULL, NULL, NULL)
    } else {
        match dt.id {
            TypeId::Int2 => (i4(16), i4(2), i4(0)),
            TypeId::Int4 => (i4(32), i4(2), i4(0)),
            TypeId::Int8 => (i4(64), i4(2), i4(0)),
            TypeId::Float4 => (i4(24), i4(2), NULL),
            TypeId::Float8 => (i4(53), i4(2), NULL),
            TypeId::Numeric if m >= 4 => {
                (i4(((m - 4) >> 16) & 0xffff), i4(10), i4((m - 4) & 0xffff))
            }
            TypeId::Numeric => (NULL, i4(10), NULL),
            _ => (NULL, NULL, NULL),
        }
    };
    let dt_prec = match dt.id {
        TypeId::Date => i4(0),
        TypeId::Time | TypeId::Timestamp | TypeId::TimestampTz | TypeId::Interval => {
            i4(if m >= 0 { m } else { 6 })
        }
        _ => NULL,
    };
    let udt = type_facts(dt.id)
        .map(|f| {
            if dt.is_array {
                format!("_{}", f.typname)
            } else {
                f.typname.to_string()
            }
        })
        .unwrap_or_default();
    let identity = matches!(c.identity, Identity::Always | Identity::ByDefault);
    let generated = c.identity == Identity::Stored;
    let default = match (&c.default_expr, identity || generated) {
        (ROption::RSome(d), false) => Value::text(funcs::display_default(d.as_str())),
        _ => NULL,
    };
    let mut row = vec![
        name(cx.database),
        name(schema),
        name(&t.name),
        name(&c.name),
        i4(k + 1),
        default,
        yes_no(c.nullable),
        Value::text(data_type),
        char_len,
        octet_len,
        prec,
        radix,
        scale,
        dt_prec,
        NULL,
        NULL,
        NULL,
        NULL,
        NULL,
        NULL,
        NULL,
        NULL,
        NULL,
        NULL,
        NULL,
        name(cx.database),
        name("pg_catalog"),
        name(&udt),
        NULL,
        NULL,
        NULL,
        NULL,
        name(&(k + 1).to_string()),
        Value::text("NO"),
        yes_no(identity),
        match c.identity {
            Identity::Always => Value::text("ALWAYS"),
            Identity::ByDefault => Value::text("BY DEFAULT"),
            _ => NULL,
        },
    ];
    row.extend([NULL, NULL, NULL, NULL]);
    row.push(if identity { Value::text("NO") } else { NULL });
    row.push(Value::text(if generated { "ALWAYS" } else { "NEVER" }));
    row.push(match (&c.default_expr, generated) {
        (ROption::RSome(d), true) => Value::text(d.as_str()),
        _ => NULL,
    });
    row.push(yes_no(t.kind == RelationKind::Table));
    row
}

fn attribute_row(relid: u64, k: usize, c: &crate::catalog::ColumnDef) -> Vec<Value> {
    let dt = c.data_type;
    let facts = type_facts(dt.id);
    let (len, byval, align, storage) = match (&facts, dt.is_array) {
        (Some(f), false) => (f.len, f.byval, f.align, f.storage),
        (Some(f), true) => (-1, false, f.align.max('i'), 'x'),
        (None, _) => (-1, false, 'i', 'x'),
    };
    let identity = match c.identity {
        Identity::Always => "a",
        Identity::ByDefault => "d",
        _ => "",
    };
    let generated = c.identity == Identity::Stored;
    vec![
        oid(relid),
        name(&c.name),
        oid(dt.oid()),
        i4(-1),
        i2(len),
        i2(k + 1),
        i4(dt.is_array as i32),
        i4(-1),
        i4(dt.typmod),
        b(byval),
        ch(align),
        ch(storage),
        Value::text(""),
        b(!c.nullable),
        b(c.default_expr.is_some() && identity.is_empty()),
        b(false),
        Value::text(identity),
        Value::text(if generated { "s" } else { "" }),
        b(false),
        b(true),
        i4(0),
        oid(type_collation(dt.id)),
        NULL,
        NULL,
        NULL,
    ]
}
