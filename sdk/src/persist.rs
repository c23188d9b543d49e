//! Binary forms of catalog definitions and rows for persistent backends
//! (WAL records, snapshots) and for the kernel's catalog entries.
//!
//! Little-endian, length-prefixed, versionless: a format change bumps the
//! storage manifest version instead. Reading checks every length and tag, so
//! a corrupt buffer gives XX001, never a panic.

use abi_stable::std_types::{ROption, RString, RVec};

use crate::catalog::*;
use crate::error::{AionError, DbResult, SqlState};
use crate::types::{DataType, TypeId};
use crate::value::{codec, Value};

/// An append-only byte writer.
#[derive(Default, Debug, Clone)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Self {
        Writer { buf: Vec::new() }
    }
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub fn bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn f64(&mut self, v: f64) {
        self.buf.extend_from_slice(&v.to_bits().to_le_bytes());
    }
    pub fn bytes(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.buf.extend_from_slice(b);
    }
    pub fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    pub fn value(&mut self, v: &Value) {
        codec::encode(v, &mut self.buf);
    }
    pub fn u32s(&mut self, v: &[u32]) {
        self.u32(v.len() as u32);
        for x in v {
            self.u32(*x);
        }
    }
    fn opt_str(&mut self, s: &ROption<RString>) {
        match s {
            ROption::RSome(s) => {
                self.u8(1);
                self.str(s);
            }
            ROption::RNone => self.u8(0),
        }
    }
}

/// A checked reader over a byte slice.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// XX001 for a buffer that does not decode.
pub fn corrupt(what: &str) -> AionError {
    AionError::new(
        SqlState::DATA_CORRUPTED,
        format!("corrupt persistent record: {what}"),
    )
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }
    pub fn position(&self) -> usize {
        self.pos
    }
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }
    pub fn take(&mut self, n: usize) -> DbResult<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(|| corrupt("truncated"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn arr<const N: usize>(&mut self) -> DbResult<[u8; N]> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    pub fn u8(&mut self) -> DbResult<u8> {
        Ok(self.take(1)?[0])
    }
    pub fn bool(&mut self) -> DbResult<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(corrupt(&format!("bad boolean {b}"))),
        }
    }
    pub fn u32(&mut self) -> DbResult<u32> {
        Ok(u32::from_le_bytes(self.arr()?))
    }
    pub fn i32(&mut self) -> DbResult<i32> {
        Ok(i32::from_le_bytes(self.arr()?))
    }
    pub fn u64(&mut self) -> DbResult<u64> {
        Ok(u64::from_le_bytes(self.arr()?))
    }
    pub fn i64(&mut self) -> DbResult<i64> {
        Ok(i64::from_le_bytes(self.arr()?))
    }
    pub fn f64(&mut self) -> DbResult<f64> {
        Ok(f64::from_bits(self.u64()?))
    }
    pub fn bytes(&mut self) -> DbResult<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    pub fn str(&mut self) -> DbResult<&'a str> {
        std::str::from_utf8(self.bytes()?).map_err(|_| corrupt("invalid UTF-8"))
    }
    pub fn rstring(&mut self) -> DbResult<RString> {
        Ok(RString::from(self.str()?))
    }
    pub fn value(&mut self) -> DbResult<Value> {
        let (v, n) = codec::decode(&self.buf[self.pos..])?;
        self.pos += n;
        Ok(v)
    }
    pub fn u32s(&mut self) -> DbResult<RVec<u32>> {
        let n = self.u32()? as usize;
        // Bounded by the remaining bytes, so a corrupt count cannot make
        // us allocate gigabytes.
        if n > (self.buf.len() - self.pos) / 4 {
            return Err(corrupt("list longer than its record"));
        }
        (0..n).map(|_| self.u32()).collect()
    }
    /// A count of items at least `min_size` bytes each, checked against
    /// what is left.
    pub fn count(&mut self, min_size: usize) -> DbResult<usize> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_size.max(1)) > self.buf.len() - self.pos {
            return Err(corrupt("count larger than its record"));
        }
        Ok(n)
    }
    fn opt_str(&mut self) -> DbResult<ROption<RString>> {
        Ok(match self.u8()? {
            0 => ROption::RNone,
            1 => ROption::RSome(self.rstring()?),
            b => return Err(corrupt(&format!("bad option tag {b}"))),
        })
    }
}

fn data_type(w: &mut Writer, t: &DataType) {
    w.u32(t.id.oid());
    w.i32(t.typmod);
    w.bool(t.is_array);
}

fn read_data_type(r: &mut Reader) -> DbResult<DataType> {
    let oid = r.u32()?;
    let id = if oid >= crate::types::FIRST_EXT_OID {
        TypeId::Ext(oid)
    } else if oid == TypeId::Any.oid() {
        TypeId::Any
    } else if oid == TypeId::Unknown.oid() {
        TypeId::Unknown
    } else {
        TypeId::from_oid(oid).ok_or_else(|| corrupt(&format!("unknown type oid {oid}")))?
    };
    Ok(DataType {
        id,
        typmod: r.i32()?,
        is_array: r.bool()?,
    })
}

fn action(a: ReferentialAction) -> u8 {
    match a {
        ReferentialAction::NoAction => 0,
        ReferentialAction::Restrict => 1,
        ReferentialAction::Cascade => 2,
        ReferentialAction::SetNull => 3,
        ReferentialAction::SetDefault => 4,
    }
}

fn read_action(r: &mut Reader) -> DbResult<ReferentialAction> {
    Ok(match r.u8()? {
        0 => ReferentialAction::NoAction,
        1 => ReferentialAction::Restrict,
        2 => ReferentialAction::Cascade,
        3 => ReferentialAction::SetNull,
        4 => ReferentialAction::SetDefault,
        b => return Err(corrupt(&format!("bad referential action {b}"))),
    })
}

pub fn write_table(w: &mut Writer, t: &TableDef) {
    w.u64(t.id);
    w.u32(t.schema);
    w.str(&t.name);
    w.u8(match t.kind {
        RelationKind::Table => 0,
        RelationKind::View => 1,
        RelationKind::Sequence => 2,
    });
    w.u32(t.columns.len() as u32);
    for c in &t.columns {
        w.str(&c.name);
        data_type(w, &c.data_type);
        w.bool(c.nullable);
        w.opt_str(&c.default_expr);
        w.u8(match c.identity {
            Identity::None => 0,
            Identity::Always => 1,
            Identity::ByDefault => 2,
            Identity::Stored => 3,
        });
    }
    w.u32(t.constraints.len() as u32);
    for c in &t.constraints {
        w.str(&c.name);
        match &c.kind {
            ConstraintKind::PrimaryKey { columns } => {
                w.u8(0);
                w.u32s(columns);
            }
            ConstraintKind::Unique { columns } => {
                w.u8(1);
                w.u32s(columns);
            }
            ConstraintKind::Check { expr } => {
                w.u8(2);
                w.str(expr);
            }
            ConstraintKind::ForeignKey {
                columns,
                ref_table,
                ref_columns,
                on_delete,
                on_update,
            } => {
                w.u8(3);
                w.u32s(columns);
                w.u64(*ref_table);
                w.u32s(ref_columns);
                w.u8(action(*on_delete));
                w.u8(action(*on_update));
            }
        }
    }
    w.str(&t.storage_backend);
    w.opt_str(&t.view_sql);
}

pub fn read_table(r: &mut Reader) -> DbResult<TableDef> {
    let id = r.u64()?;
    let schema = r.u32()?;
    let name = r.rstring()?;
    let kind = match r.u8()? {
        0 => RelationKind::Table,
        1 => RelationKind::View,
        2 => RelationKind::Sequence,
        b => return Err(corrupt(&format!("bad relation kind {b}"))),
    };
    let n = r.count(8)?;
    let mut columns = RVec::with_capacity(n);
    for _ in 0..n {
        columns.push(ColumnDef {
            name: r.rstring()?,
            data_type: read_data_type(r)?,
            nullable: r.bool()?,
            default_expr: r.opt_str()?,
            identity: match r.u8()? {
                0 => Identity::None,
                1 => Identity::Always,
                2 => Identity::ByDefault,
                3 => Identity::Stored,
                b => return Err(corrupt(&format!("bad identity {b}"))),
            },
        });
    }
    let n = r.count(5)?;
    let mut constraints = RVec::with_capacity(n);
    for _ in 0..n {
        let name = r.rstring()?;
        let kind = match r.u8()? {
            0 => ConstraintKind::PrimaryKey { columns: r.u32s()? },
            1 => ConstraintKind::Unique { columns: r.u32s()? },
            2 => ConstraintKind::Check { expr: r.rstring()? },
            3 => ConstraintKind::ForeignKey {
                columns: r.u32s()?,
                ref_table: r.u64()?,
                ref_columns: r.u32s()?,
                on_delete: read_action(r)?,
                on_update: read_action(r)?,
            },
            b => return Err(corrupt(&format!("bad constraint kind {b}"))),
        };
        constraints.push(ConstraintDef { name, kind });
    }
    Ok(TableDef {
        id,
        schema,
        name,
        kind,
        columns,
        constraints,
        storage_backend: r.rstring()?,
        view_sql: r.opt_str()?,
    })
}

pub fn write_index(w: &mut Writer, i: &IndexDef) {
    w.u64(i.id);
    w.u64(i.table);
    w.str(&i.name);
    w.str(&i.method);
    w.u32s(&i.columns);
    w.bool(i.unique);
    w.u32(i.options.len() as u32);
    for kv in &i.options {
        w.str(&kv.key);
        w.str(&kv.value);
    }
}

pub fn read_index(r: &mut Reader) -> DbResult<IndexDef> {
    let id = r.u64()?;
    let table = r.u64()?;
    let name = r.rstring()?;
    let method = r.rstring()?;
    let columns = r.u32s()?;
    let unique = r.bool()?;
    let n = r.count(8)?;
    let mut options = RVec::with_capacity(n);
    for _ in 0..n {
        options.push(KeyValue {
            key: r.rstring()?,
            value: r.rstring()?,
        });
    }
    Ok(IndexDef {
        id,
        table,
        name,
        method,
        columns,
        unique,
        options,
    })
}

pub fn write_schema(w: &mut Writer, s: &SchemaDef) {
    w.u32(s.id);
    w.str(&s.name);
    w.str(&s.owner);
}

pub fn read_schema(r: &mut Reader) -> DbResult<SchemaDef> {
    Ok(SchemaDef {
        id: r.u32()?,
        name: r.rstring()?,
        owner: r.rstring()?,
    })
}

pub fn write_sequence(w: &mut Writer, s: &SequenceDef) {
    w.u64(s.id);
    w.u32(s.schema);
    w.str(&s.name);
    w.i64(s.start);
    w.i64(s.increment);
    w.i64(s.min_value);
    w.i64(s.max_value);
    w.bool(s.cycle);
    match &s.owned_by {
        ROption::RSome(o) => {
            w.u8(1);
            w.u64(o.table);
            w.u32(o.column);
        }
        ROption::RNone => w.u8(0),
    }
}

pub fn read_sequence(r: &mut Reader) -> DbResult<SequenceDef> {
    Ok(SequenceDef {
        id: r.u64()?,
        schema: r.u32()?,
        name: r.rstring()?,
        start: r.i64()?,
        increment: r.i64()?,
        min_value: r.i64()?,
        max_value: r.i64()?,
        cycle: r.bool()?,
        owned_by: match r.u8()? {
            0 => ROption::RNone,
            1 => ROption::RSome(OwnedBy {
                table: r.u64()?,
                column: r.u32()?,
            }),
            b => return Err(corrupt(&format!("bad option tag {b}"))),
        },
    })
}

fn edge_end(w: &mut Writer, e: &ROption<EdgeEnd>) {
    match e {
        ROption::RSome(e) => {
            w.u8(1);
            w.str(&e.label);
            w.u32s(&e.columns);
        }
        ROption::RNone => w.u8(0),
    }
}

fn read_edge_end(r: &mut Reader) -> DbResult<ROption<EdgeEnd>> {
    Ok(match r.u8()? {
        0 => ROption::RNone,
        1 => ROption::RSome(EdgeEnd {
            label: r.rstring()?,
            columns: r.u32s()?,
        }),
        b => return Err(corrupt(&format!("bad option tag {b}"))),
    })
}

pub fn write_label(w: &mut Writer, l: &GraphLabelDef) {
    w.str(&l.name);
    w.u8(match l.kind {
        GraphLabelKind::Node => 0,
        GraphLabelKind::Edge => 1,
    });
    w.u64(l.table);
    w.u32s(&l.key_columns);
    edge_end(w, &l.source);
    edge_end(w, &l.target);
}

pub fn read_label(r: &mut Reader) -> DbResult<GraphLabelDef> {
    Ok(GraphLabelDef {
        name: r.rstring()?,
        kind: match r.u8()? {
            0 => GraphLabelKind::Node,
            1 => GraphLabelKind::Edge,
            b => return Err(corrupt(&format!("bad label kind {b}"))),
        },
        table: r.u64()?,
        key_columns: r.u32s()?,
        source: read_edge_end(r)?,
        target: read_edge_end(r)?,
    })
}

pub fn write_role(w: &mut Writer, role: &RoleDef) {
    w.u64(role.id);
    w.str(&role.name);
    for b in [
        role.superuser,
        role.inherit,
        role.create_role,
        role.create_db,
        role.can_login,
        role.replication,
        role.bypass_rls,
    ] {
        w.bool(b);
    }
    w.i32(role.connection_limit);
    w.opt_str(&role.password);
    match role.valid_until {
        ROption::RSome(t) => {
            w.u8(1);
            w.i64(t);
        }
        ROption::RNone => w.u8(0),
    }
}

pub fn read_role(r: &mut Reader) -> DbResult<RoleDef> {
    Ok(RoleDef {
        id: r.u64()?,
        name: r.rstring()?,
        superuser: r.bool()?,
        inherit: r.bool()?,
        create_role: r.bool()?,
        create_db: r.bool()?,
        can_login: r.bool()?,
        replication: r.bool()?,
        bypass_rls: r.bool()?,
        connection_limit: r.i32()?,
        password: r.opt_str()?,
        valid_until: match r.u8()? {
            0 => ROption::RNone,
            1 => ROption::RSome(r.i64()?),
            b => return Err(corrupt(&format!("bad option tag {b}"))),
        },
    })
}

pub fn write_stats(w: &mut Writer, s: &TableStatistics) {
    w.f64(s.row_count);
    w.u32(s.columns.len() as u32);
    for c in &s.columns {
        w.f64(c.n_distinct);
        w.f64(c.null_fraction);
        w.value(&c.min);
        w.value(&c.max);
    }
}

pub fn read_stats(r: &mut Reader) -> DbResult<TableStatistics> {
    let row_count = r.f64()?;
    let n = r.count(18)?;
    let mut columns = RVec::with_capacity(n);
    for _ in 0..n {
        columns.push(ColumnStatistics {
            n_distinct: r.f64()?,
            null_fraction: r.f64()?,
            min: r.value()?,
            max: r.value()?,
        });
    }
    Ok(TableStatistics { row_count, columns })
}

/// A row: its values, each in the value codec's form.
pub fn write_row(w: &mut Writer, values: &[Value]) {
    w.u32(values.len() as u32);
    for v in values {
        w.value(v);
    }
}

pub fn read_row(r: &mut Reader) -> DbResult<Vec<Value>> {
    let n = r.count(1)?;
    (0..n).map(|_| r.value()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> TableDef {
        TableDef {
            id: 16390,
            schema: 2200,
            name: "t\"x".into(),
            kind: RelationKind::Table,
            columns: vec![
                ColumnDef {
                    name: "id".into(),
                    data_type: DataType::scalar(TypeId::Int8),
                    nullable: false,
                    default_expr: ROption::RSome("nextval('s')".into()),
                    identity: Identity::ByDefault,
                },
                ColumnDef {
                    name: "n".into(),
                    data_type: DataType {
                        id: TypeId::Numeric,
                        typmod: (10 << 16 | 2) + 4,
                        is_array: true,
                    },
                    nullable: true,
                    default_expr: ROption::RNone,
                    identity: Identity::None,
                },
            ]
            .into(),
            constraints: vec![
                ConstraintDef {
                    name: "pk".into(),
                    kind: ConstraintKind::PrimaryKey {
                        columns: vec![0].into(),
                    },
                },
                ConstraintDef {
                    name: "fk".into(),
                    kind: ConstraintKind::ForeignKey {
                        columns: vec![1].into(),
                        ref_table: 7,
                        ref_columns: vec![0].into(),
                        on_delete: ReferentialAction::Cascade,
                        on_update: ReferentialAction::NoAction,
                    },
                },
                ConstraintDef {
                    name: "ck".into(),
                    kind: ConstraintKind::Check {
                        expr: "n > 0".into(),
                    },
                },
            ]
            .into(),
            storage_backend: "durable".into(),
            view_sql: ROption::RNone,
        }
    }

    #[test]
    fn definitions_round_trip() -> DbResult<()> {
        let mut w = Writer::new();
        let t = table();
        write_table(&mut w, &t);
        let role = RoleDef {
            id: 16400,
            name: "alice".into(),
            superuser: false,
            inherit: true,
            create_role: false,
            create_db: true,
            can_login: true,
            replication: false,
            bypass_rls: false,
            connection_limit: 3,
            password: ROption::RSome("SCRAM-SHA-256$4096:x$y:z".into()),
            valid_until: ROption::RSome(i64::MAX),
        };
        write_role(&mut w, &role);
        let stats = TableStatistics {
            row_count: 10.0,
            columns: vec![ColumnStatistics {
                n_distinct: 3.0,
                null_fraction: 0.5,
                min: Value::Int8(1),
                max: Value::Null,
            }]
            .into(),
        };
        write_stats(&mut w, &stats);
        let mut r = Reader::new(&w.buf);
        assert_eq!(read_table(&mut r)?, t);
        assert_eq!(read_role(&mut r)?, role);
        assert_eq!(read_stats(&mut r)?, stats);
        assert!(r.is_empty());
        Ok(())
    }

    #[test]
    fn truncated_or_garbled_records_are_errors_not_panics() {
        let mut w = Writer::new();
        write_table(&mut w, &table());
        for cut in 0..w.buf.len() {
            let mut r = Reader::new(&w.buf[..cut]);
            assert!(read_table(&mut r).is_err(), "cut at {cut}");
        }
        for i in 0..w.buf.len() {
            let mut b = w.buf.clone();
            b[i] ^= 0xff;
            // May decode to something else, but never panics.
            let _ = read_table(&mut Reader::new(&b));
        }
    }
}
