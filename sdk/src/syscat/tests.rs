use super::funcs::size_pretty;
use super::*;

#[test]
fn every_relation_has_typed_columns() {
    for r in RELATIONS {
        let s = r.schema();
        assert!(!s.fields.is_empty(), "{}", r.name);
        assert!(lookup_relation(Some(r.schema), r.name).is_some());
    }
    let class = lookup_relation(None, "pg_class").unwrap().schema();
    assert_eq!(class.fields[0].data_type, DataType::scalar(TypeId::Oid));
    assert_eq!(class.fields[1].data_type, DataType::scalar(TypeId::Name));
    let kind = class.fields.iter().find(|f| f.name == "relkind").unwrap();
    assert_eq!(kind.data_type, DataType::scalar(TypeId::InternalChar));
    assert!(lookup_relation(None, "tables").is_none());
    assert!(lookup_relation(Some("information_schema"), "tables").is_some());
}

#[test]
fn size_pretty_matches_postgres() {
    assert_eq!(size_pretty(0), "0 bytes");
    assert_eq!(size_pretty(10239), "10239 bytes");
    assert_eq!(size_pretty(10240), "10 kB");
    assert_eq!(size_pretty(8192 * 1024), "8192 kB");
    assert_eq!(size_pretty(20 * 1024 * 1024), "20 MB");
    assert_eq!(size_pretty(-20480), "-20 kB");
}

#[test]
fn format_type_and_defaults() {
    assert_eq!(format_type(23, -1).as_deref(), Some("integer"));
    assert_eq!(
        format_type(1043, 14).as_deref(),
        Some("character varying(10)")
    );
    assert_eq!(format_type(1007, -1).as_deref(), Some("integer[]"));
    assert_eq!(format_type(26, -1).as_deref(), Some("oid"));
    assert_eq!(format_type(18, -1).as_deref(), Some("\"char\""));
    assert_eq!(format_type(999_999, -1), None);
    assert_eq!(
        funcs::display_default("nextval('s_id_seq')"),
        "nextval('s_id_seq'::regclass)"
    );
    assert_eq!(funcs::display_default("100"), "100");
    assert_eq!(quote_ident("books"), "books");
    assert_eq!(quote_ident("Books"), "\"Books\"");
    assert_eq!(quote_ident("user"), "\"user\"");
}

#[test]
fn derived_oids_round_trip() {
    let o = constraint_oid(16390, 3);
    assert_eq!(constraint_of(o), Some((16390, 3)));
    assert_eq!(constraint_of(16390), None);
    assert_eq!(constraint_of(attrdef_oid(16390, 1)), None);
}

#[test]
fn catalog_functions_resolve_by_arity() {
    assert!(lookup_function("pg_get_indexdef", 1).is_some());
    assert!(lookup_function("pg_get_indexdef", 3).is_some());
    assert!(lookup_function("pg_get_indexdef", 4).is_none());
    assert!(lookup_function("format_type", 1).is_none());
}

#[test]
fn system_types_resolve_and_cast_like_postgres() {
    use crate::value::ops::BinaryOp;
    use crate::value::{cast, parse_text, resolve_binary, CoercionKind, Value};
    let oid = DataType::scalar(TypeId::Oid);
    let name = DataType::scalar(TypeId::Name);
    assert!(resolve_binary(BinaryOp::Add, &oid, &DataType::INT4).is_none());
    assert!(resolve_binary(BinaryOp::Eq, &oid, &DataType::INT4).is_some());
    assert_eq!(
        resolve_binary(BinaryOp::Eq, &oid, &DataType::UNKNOWN).map(|r| r.1),
        Some(oid)
    );
    assert!(resolve_binary(BinaryOp::RegexMatch, &name, &DataType::UNKNOWN).is_some());
    assert_eq!(parse_text(oid, "-1").unwrap(), Value::Int8(4_294_967_295));
    assert_eq!(
        parse_text(oid, "4294967296").unwrap_err().sqlstate.as_str(),
        "22003"
    );
    assert_eq!(
        cast(&Value::Int4(7), &oid, CoercionKind::Implicit).unwrap(),
        Value::Int8(7)
    );
    assert!(crate::value::can_coerce(
        &DataType::INT4,
        &oid,
        CoercionKind::Implicit
    ));
    assert!(crate::value::can_coerce(
        &name,
        &DataType::TEXT,
        CoercionKind::Implicit
    ));
    assert!(!crate::value::can_coerce(
        &DataType::TEXT,
        &oid,
        CoercionKind::Assignment
    ));
}

#[test]
fn check_constraints_print_like_postgres() {
    use crate::catalog::{ColumnDef, Identity};
    use abi_stable::std_types::{ROption, RVec};
    let col = |n: &str, t: DataType| ColumnDef {
        name: n.into(),
        data_type: t,
        nullable: true,
        default_expr: ROption::RNone,
        identity: Identity::None,
    };
    let t = TableDef {
        id: 1,
        schema: 2200,
        name: "t".into(),
        kind: crate::catalog::RelationKind::Table,
        columns: RVec::from(vec![
            col("price", DataType::numeric(10, 2)),
            col("n", DataType::INT4),
            col("name", DataType::TEXT),
            col("email", DataType::varchar(50)),
            col("f", DataType::FLOAT8),
        ]),
        constraints: RVec::new(),
        storage_backend: "in_memory".into(),
        view_sql: ROption::RNone,
    };
    let d = |e: &str| funcs::check_as_deparsed(&t, e);
    assert_eq!(d("price > 0"), "price > 0::numeric");
    assert_eq!(d("price > 0.5"), "price > 0.5");
    assert_eq!(d("n > 0"), "n > 0");
    assert_eq!(d("name <> ''"), "name <> ''::text");
    assert_eq!(d("email LIKE '%@%'"), "email::text ~~ '%@%'::text");
    assert_eq!(d("f >= 1"), "f >= 1::double precision");
    assert_eq!(
        d("price > 0 AND price < 1000"),
        "price > 0::numeric AND price < 1000::numeric"
    );
    assert_eq!(d("length(name) > 2"), "length(name) > 2");
    assert_eq!(d("'it''s' = name"), "'it''s' = name");
}
