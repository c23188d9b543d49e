//! Writing the body: one function per section, in document order.

use std::collections::HashSet;
use std::io::Write;

use aiondb_kernel::config::keys;
use aiondb_sdk::catalog::{
    CatalogRef, ConstraintKind, GraphLabelKind, Identity, IndexDef, SequenceDef, TableDef,
};
use aiondb_sdk::ident::quote_ident;
use aiondb_sdk::types::TypeId;
use aiondb_sdk::value::write_text;
use sha2::{Digest, Sha256};

use super::model::{canonical_sequence_name, is_builtin_schema, Model, SeqRole};
use super::{hex, io_error, DumpSummary, FETCH_PAGE, INSERT_BATCH, PROGRESS_ROWS};
use crate::{AionError, Connection, DataType, Database, DbResult, Value};

/// A writer that hashes and counts what passes through.
pub(super) struct Hashing<'a> {
    out: &'a mut dyn Write,
    hasher: Sha256,
    bytes: u64,
}

impl<'a> Hashing<'a> {
    pub(super) fn new(out: &'a mut dyn Write) -> Self {
        Hashing {
            out,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    fn put(&mut self, s: &str) -> DbResult<()> {
        self.hasher.update(s.as_bytes());
        self.bytes += s.len() as u64;
        self.out
            .write_all(s.as_bytes())
            .map_err(|e| io_error("writing the dump", e))
    }

    /// Bytes written and their SHA-256 in hex.
    pub(super) fn finish(self) -> (u64, String) {
        (self.bytes, hex(&self.hasher.finalize()))
    }
}

/// Writes the body: the catalog read once, the rows in one REPEATABLE READ
/// READ ONLY transaction of a session of its own.
pub(super) fn write_body(db: &Database, w: &mut Hashing<'_>) -> DbResult<DumpSummary> {
    let mut conn = db.connect_anonymous("aiondb", "aiondb-dump")?;
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
    // The snapshot is taken by the first statement of the transaction.
    conn.execute("SELECT 1")?;
    let cat = db.kernel().catalog();
    let m = Model::read(&cat);
    let sequences = m
        .sequences
        .iter()
        .map(|s| (s.clone(), m.sequence_role(s)))
        .collect();
    // Pages stay within the result-row limit, if one is configured.
    let page = match db.kernel().config().u64(keys::LIMITS_MAX_RESULT_ROWS) {
        Some(n) if n > 0 => (n as usize).min(FETCH_PAGE),
        _ => FETCH_PAGE,
    };
    let mut d = Dumper {
        cat,
        m,
        sequences,
        w,
        sum: DumpSummary::default(),
    };
    let result = d.all_sections(&mut conn, page);
    let end = conn.execute("ROLLBACK");
    result?;
    end?;
    let sum = d.sum;
    log::info!(
        "dump: {} tables, {} views, {} sequences, {} indexes, {} roles, {} rows",
        sum.tables,
        sum.views,
        sum.sequences,
        sum.indexes,
        sum.roles,
        sum.rows
    );
    Ok(sum)
}

struct Dumper<'w, 'o> {
    cat: CatalogRef,
    m: Model,
    /// Every sequence with how it is created.
    sequences: Vec<(SequenceDef, SeqRole)>,
    w: &'w mut Hashing<'o>,
    sum: DumpSummary,
}

impl Dumper<'_, '_> {
    fn all_sections(&mut self, conn: &mut Connection, page: usize) -> DbResult<()> {
        self.roles()?;
        self.schemas()?;
        self.standalone_sequences()?;
        self.tables()?;
        self.data(conn, page)?;
        self.identities()?;
        self.indexes()?;
        self.foreign_keys()?;
        self.sequence_values()?;
        self.views()?;
        self.graph_labels()?;
        self.w.put("\n-- End of dump\n")
    }

    fn section(&mut self, name: &str) -> DbResult<()> {
        let sep = if name == "roles" { "" } else { "\n" };
        self.w.put(&format!("{sep}-- Section: {name}\n"))
    }

    fn warn(&mut self, msg: String) {
        log::warn!("dump: {msg}");
        self.sum.warnings.push(msg);
    }

    fn roles(&mut self) -> DbResult<()> {
        self.section("roles")?;
        for r in &self.m.roles {
            let flag = |on: bool, yes: &str| {
                if on {
                    yes.to_string()
                } else {
                    format!("NO{yes}")
                }
            };
            let mut s = format!(
                "CREATE ROLE {} {} {} {} {} {} {} {} CONNECTION LIMIT {}",
                quote_ident(&r.name),
                flag(r.superuser, "SUPERUSER"),
                flag(r.inherit, "INHERIT"),
                flag(r.create_role, "CREATEROLE"),
                flag(r.create_db, "CREATEDB"),
                flag(r.can_login, "LOGIN"),
                flag(r.replication, "REPLICATION"),
                flag(r.bypass_rls, "BYPASSRLS"),
                r.connection_limit
            );
            if let Some(p) = r.password.as_ref().into_option() {
                s.push_str(&format!(" PASSWORD {}", string_literal(p)));
            }
            if let Some(until) = r.valid_until.into_option() {
                let mut t = String::new();
                write_text(&Value::TimestampTz(until), &mut t);
                s.push_str(&format!(" VALID UNTIL {}", string_literal(&t)));
            }
            s.push_str(";\n");
            self.w.put(&s)?;
            self.sum.roles += 1;
        }
        Ok(())
    }

    fn schemas(&mut self) -> DbResult<()> {
        self.section("schemas")?;
        if !self.m.schemas.values().any(|s| s.name.as_str() == "public") {
            self.w.put("DROP SCHEMA public;\n")?;
        }
        let dumped_roles: HashSet<&str> = self.m.roles.iter().map(|r| r.name.as_str()).collect();
        let mut schemas: Vec<_> = self
            .m
            .schemas
            .values()
            .filter(|s| !is_builtin_schema(s))
            .collect();
        schemas.sort_by(|a, b| a.name.cmp(&b.name));
        for s in schemas {
            let mut stmt = format!("CREATE SCHEMA {}", quote_ident(&s.name));
            // Owned by a role the dump creates; otherwise by whoever restores.
            if dumped_roles.contains(s.owner.as_str()) {
                stmt.push_str(&format!(" AUTHORIZATION {}", quote_ident(&s.owner)));
            }
            stmt.push_str(";\n");
            self.w.put(&stmt)?;
            self.sum.schemas += 1;
        }
        Ok(())
    }

    fn standalone_sequences(&mut self) -> DbResult<()> {
        self.section("sequences")?;
        for (s, role) in &self.sequences {
            if *role == SeqRole::Standalone {
                self.w.put(&format!(
                    "CREATE SEQUENCE {} {};\n",
                    self.m.qualified(s.schema, &s.name),
                    sequence_options(s)
                ))?;
                self.sum.sequences += 1;
            }
        }
        Ok(())
    }

    /// Each table, then the sequences its columns own (SERIAL), which
    /// need the table for OWNED BY.
    fn tables(&mut self) -> DbResult<()> {
        self.section("tables")?;
        for t in &self.m.tables {
            let mut lines: Vec<String> = Vec::new();
            for c in t.columns.iter() {
                let mut s = format!("    {} {}", quote_ident(&c.name), type_sql(&c.data_type)?);
                match (c.identity, c.default_expr.as_ref().into_option()) {
                    (Identity::Stored, Some(e)) => {
                        s.push_str(&format!(" GENERATED ALWAYS AS ({e}) STORED"));
                    }
                    // Added after the rows are loaded.
                    (Identity::Always | Identity::ByDefault, _) => {}
                    (_, Some(e)) => s.push_str(&format!(" DEFAULT {e}")),
                    (_, None) => {}
                }
                if !c.nullable {
                    s.push_str(" NOT NULL");
                }
                lines.push(s);
            }
            for con in t.constraints.iter() {
                let body = match &con.kind {
                    ConstraintKind::PrimaryKey { columns } => {
                        format!("PRIMARY KEY ({})", t.quoted_columns(columns))
                    }
                    ConstraintKind::Unique { columns } => {
                        format!("UNIQUE ({})", t.quoted_columns(columns))
                    }
                    ConstraintKind::Check { expr } => format!("CHECK ({expr})"),
                    // Added after the rows are loaded.
                    ConstraintKind::ForeignKey { .. } => continue,
                };
                lines.push(format!("    CONSTRAINT {} {body}", quote_ident(&con.name)));
            }
            let name = self.m.qualified(t.schema, &t.name);
            self.w.put(&format!(
                "CREATE TABLE {name} (\n{}\n);\n",
                lines.join(",\n")
            ))?;
            self.sum.tables += 1;
            let mut owned: Vec<(&SequenceDef, u32)> = self
                .sequences
                .iter()
                .filter_map(|(s, r)| match r {
                    SeqRole::Owned { table, column } if *table == t.id => Some((s, *column)),
                    _ => None,
                })
                .collect();
            owned.sort_by(|a, b| (a.1, &a.0.name).cmp(&(b.1, &b.0.name)));
            for (s, column) in owned {
                let col = t
                    .columns
                    .get(column as usize)
                    .map_or("", |c| c.name.as_str());
                self.w.put(&format!(
                    "CREATE SEQUENCE {} {} OWNED BY {name}.{};\n",
                    self.m.qualified(s.schema, &s.name),
                    sequence_options(s),
                    quote_ident(col)
                ))?;
                self.sum.sequences += 1;
            }
        }
        Ok(())
    }

    fn data(&mut self, conn: &mut Connection, page: usize) -> DbResult<()> {
        self.section("data")?;
        let total = self.m.tables.len();
        for (n, t) in self.m.tables.iter().enumerate() {
            let name = self.m.qualified(t.schema, &t.name);
            let rows = dump_rows(conn, t, &name, page, self.w)?;
            log::info!("dump: table {name} ({}/{total}): {rows} rows", n + 1);
            self.sum.rows += rows;
        }
        Ok(())
    }

    /// Identity columns become identities once their rows are in (rows
    /// cannot be loaded into a GENERATED ALWAYS column).
    fn identities(&mut self) -> DbResult<()> {
        self.section("identity columns")?;
        let mut warnings = Vec::new();
        for (s, role) in &self.sequences {
            let SeqRole::Identity { table, column } = *role else {
                continue;
            };
            let Some(t) = self.m.by_id.get(&table) else {
                continue;
            };
            let Some(c) = t.columns.get(column as usize) else {
                continue;
            };
            let how = if c.identity == Identity::Always {
                "ALWAYS"
            } else {
                "BY DEFAULT"
            };
            let table_name = self.m.qualified(t.schema, &t.name);
            self.w.put(&format!(
                "ALTER TABLE {table_name} ALTER COLUMN {} ADD GENERATED {how} AS IDENTITY ({});\n",
                quote_ident(&c.name),
                sequence_options(s)
            ))?;
            self.sum.sequences += 1;
            // The restored identity gets the name PostgreSQL would choose.
            let canonical = canonical_sequence_name(&t.name, &c.name);
            if s.name.as_str() != canonical {
                warnings.push(format!(
                    "identity sequence {} of column {table_name}.{} will be restored as {}: the engine cannot name an identity sequence yet",
                    self.m.qualified(s.schema, &s.name),
                    quote_ident(&c.name),
                    self.m.qualified(s.schema, &canonical)
                ));
            }
        }
        // An identity column without a sequence (the catalog lost it) gets
        // a fresh one rather than losing its identity.
        for t in &self.m.tables {
            for (i, c) in t.columns.iter().enumerate() {
                let how = match c.identity {
                    Identity::Always => "ALWAYS",
                    Identity::ByDefault => "BY DEFAULT",
                    _ => continue,
                };
                if self.m.has_identity_sequence(t.id, i as u32) {
                    continue;
                }
                let table_name = self.m.qualified(t.schema, &t.name);
                self.w.put(&format!(
                    "ALTER TABLE {table_name} ALTER COLUMN {} ADD GENERATED {how} AS IDENTITY;\n",
                    quote_ident(&c.name)
                ))?;
                warnings.push(format!(
                    "identity column {table_name}.{} has no sequence in the catalog: restored with a new one",
                    quote_ident(&c.name)
                ));
            }
        }
        for msg in warnings {
            self.warn(msg);
        }
        Ok(())
    }

    /// Indexes other than those backing a PRIMARY KEY or UNIQUE constraint
    /// (which the table's constraints create).
    fn indexes(&mut self) -> DbResult<()> {
        self.section("indexes")?;
        for t in &self.m.tables {
            let backing: HashSet<&str> = t
                .constraints
                .iter()
                .filter(|c| {
                    matches!(
                        c.kind,
                        ConstraintKind::PrimaryKey { .. } | ConstraintKind::Unique { .. }
                    )
                })
                .map(|c| c.name.as_str())
                .collect();
            let mut idx: Vec<IndexDef> = self
                .cat
                .indexes_of(t.id)
                .into_iter()
                .filter(|i| !backing.contains(i.name.as_str()))
                .collect();
            idx.sort_by(|a, b| a.name.cmp(&b.name));
            for i in idx {
                let mut s = format!(
                    "CREATE {}INDEX {} ON {} USING {} ({})",
                    if i.unique { "UNIQUE " } else { "" },
                    quote_ident(&i.name),
                    self.m.qualified(t.schema, &t.name),
                    quote_ident(&i.method),
                    t.quoted_columns(&i.columns)
                );
                if !i.options.is_empty() {
                    let opts: Vec<String> = i
                        .options
                        .iter()
                        .map(|kv| {
                            format!("{} = {}", quote_ident(&kv.key), string_literal(&kv.value))
                        })
                        .collect();
                    s.push_str(&format!(" WITH ({})", opts.join(", ")));
                }
                s.push_str(";\n");
                self.w.put(&s)?;
                self.sum.indexes += 1;
            }
        }
        Ok(())
    }

    fn foreign_keys(&mut self) -> DbResult<()> {
        self.section("foreign keys")?;
        for t in &self.m.tables {
            let mut fks: Vec<_> = t
                .constraints
                .iter()
                .filter(|c| matches!(c.kind, ConstraintKind::ForeignKey { .. }))
                .collect();
            fks.sort_by(|a, b| a.name.cmp(&b.name));
            for c in fks {
                let ConstraintKind::ForeignKey {
                    columns,
                    ref_table,
                    ref_columns,
                    on_delete,
                    on_update,
                } = &c.kind
                else {
                    continue;
                };
                let r = self.m.by_id.get(ref_table).ok_or_else(|| {
                    AionError::internal(format!(
                        "foreign key {} of {} references a missing table (id {ref_table})",
                        c.name, t.name
                    ))
                })?;
                let mut s = format!(
                    "ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({})",
                    self.m.qualified(t.schema, &t.name),
                    quote_ident(&c.name),
                    t.quoted_columns(columns),
                    self.m.qualified(r.schema, &r.name),
                    r.quoted_columns(ref_columns)
                );
                if let Some(a) = on_update.sql() {
                    s.push_str(&format!(" ON UPDATE {a}"));
                }
                if let Some(a) = on_delete.sql() {
                    s.push_str(&format!(" ON DELETE {a}"));
                }
                s.push_str(";\n");
                self.w.put(&s)?;
            }
        }
        Ok(())
    }

    /// `setval` for every sequence that moved from its start; identity
    /// sequences are found through their column (their restored name may
    /// differ).
    fn sequence_values(&mut self) -> DbResult<()> {
        self.section("sequence values")?;
        for (s, role) in &self.sequences {
            let Some(state) = self.cat.sequence_state(s.id).into_option() else {
                continue;
            };
            if !state.is_called && state.last_value == s.start {
                continue;
            }
            let target = match role {
                SeqRole::Identity { table, column } => {
                    let t = &self.m.by_id[table];
                    let col = t
                        .columns
                        .get(*column as usize)
                        .map_or("", |c| c.name.as_str());
                    format!(
                        "pg_get_serial_sequence({}, {})",
                        string_literal(&self.m.qualified(t.schema, &t.name)),
                        string_literal(col)
                    )
                }
                _ => string_literal(&self.m.qualified(s.schema, &s.name)),
            };
            self.w.put(&format!(
                "SELECT setval({target}, {}, {});\n",
                state.last_value, state.is_called
            ))?;
        }
        Ok(())
    }

    fn views(&mut self) -> DbResult<()> {
        self.section("views")?;
        for v in &self.m.views {
            let cols: Vec<String> = v.columns.iter().map(|c| quote_ident(&c.name)).collect();
            self.w.put(&format!(
                "CREATE VIEW {} ({}) AS {};\n",
                self.m.qualified(v.schema, &v.name),
                cols.join(", "),
                v.view_sql.as_ref().map_or("", |s| s.as_str())
            ))?;
            self.sum.views += 1;
        }
        Ok(())
    }

    /// No SQL creates graph labels yet: a label is listed as a comment and
    /// reported, so a dump never drops one silently.
    fn graph_labels(&mut self) -> DbResult<()> {
        self.section("graph labels")?;
        let mut notes = Vec::new();
        for l in &self.m.labels {
            let table = self.m.by_id.get(&l.table).map_or_else(
                || l.table.to_string(),
                |t| self.m.qualified(t.schema, &t.name),
            );
            let kind = match l.kind {
                GraphLabelKind::Node => "node",
                GraphLabelKind::Edge => "edge",
            };
            notes.push(format!(
                "graph {kind} label {} on {table} is not restored: labels cannot be created through SQL yet",
                quote_ident(&l.name)
            ));
        }
        for msg in notes {
            self.w.put(&format!("-- {msg}\n"))?;
            self.warn(msg);
        }
        Ok(())
    }
}

/// `'text'` with quotes doubled.
fn string_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Writes the rows of `t` as INSERT statements; returns how many.
fn dump_rows(
    conn: &mut Connection,
    t: &TableDef,
    name: &str,
    page: usize,
    w: &mut Hashing<'_>,
) -> DbResult<u64> {
    let all_cols: Vec<String> = t.columns.iter().map(|c| quote_ident(&c.name)).collect();
    let insertable: Vec<usize> = (0..t.columns.len())
        .filter(|&i| t.columns[i].identity != Identity::Stored)
        .collect();
    let pk: Option<Vec<usize>> = t.constraints.iter().find_map(|c| match &c.kind {
        ConstraintKind::PrimaryKey { columns } => {
            Some(columns.iter().map(|&c| c as usize).collect())
        }
        _ => None,
    });
    let order: Vec<usize> = pk.clone().unwrap_or_else(|| (0..t.columns.len()).collect());
    let order_sql: Vec<&str> = order.iter().map(|&i| all_cols[i].as_str()).collect();
    let select = format!(
        "SELECT {} FROM {name}",
        if all_cols.is_empty() {
            "1".to_string()
        } else {
            all_cols.join(", ")
        }
    );
    let order_by = if order_sql.is_empty() {
        String::new()
    } else {
        format!(" ORDER BY {}", order_sql.join(", "))
    };
    let insert_head = if insertable.is_empty() {
        None
    } else {
        Some(format!(
            "INSERT INTO {name} ({}) VALUES\n",
            insertable
                .iter()
                .map(|&i| all_cols[i].as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    };
    // Keyset paging along the primary key: rows after the last one seen;
    // OFFSET when that is not possible.
    let next_page = match &pk {
        Some(keys) if !keys.is_empty() => {
            let mut ors = Vec::new();
            for k in 0..keys.len() {
                let mut ands: Vec<String> = (0..k)
                    .map(|j| format!("{} = ${}", all_cols[keys[j]], j + 1))
                    .collect();
                ands.push(format!("{} > ${}", all_cols[keys[k]], k + 1));
                ors.push(format!("({})", ands.join(" AND ")));
            }
            let sql = format!(
                "{select} WHERE {} >= $1 AND ({}){order_by} LIMIT {page}",
                all_cols[keys[0]],
                ors.join(" OR ")
            );
            let types: Vec<DataType> = keys.iter().map(|&k| t.columns[k].data_type).collect();
            // A key type without ordering operators (json) pages by
            // OFFSET instead.
            conn.prepare_typed(&sql, &types).ok()
        }
        _ => None,
    };
    let mut count: u64 = 0;
    let mut pending: Vec<String> = Vec::new();
    let mut last_key: Option<Vec<Value>> = None;
    let mut offset: usize = 0;
    loop {
        let result = match (&next_page, &last_key) {
            (Some(stmt), Some(key)) => conn.query(stmt, key),
            (Some(_), None) => conn.execute(&format!("{select}{order_by} LIMIT {page}")),
            (None, _) => conn.execute(&format!("{select}{order_by} LIMIT {page} OFFSET {offset}")),
        }
        .map_err(|mut e| {
            e.message = format!("dump: reading table {name}: {}", e.message).into();
            e
        })?;
        let n = result.len();
        for row in result.rows() {
            let values = row.values();
            match &insert_head {
                Some(_) => {
                    let mut s = String::from("(");
                    for (j, &i) in insertable.iter().enumerate() {
                        if j > 0 {
                            s.push_str(", ");
                        }
                        literal(&values[i], &t.columns[i].data_type, &mut s)?;
                    }
                    s.push(')');
                    pending.push(s);
                    if pending.len() >= INSERT_BATCH {
                        flush_insert(w, insert_head.as_deref(), &mut pending)?;
                    }
                }
                None => w.put(&format!("INSERT INTO {name} DEFAULT VALUES;\n"))?,
            }
            count += 1;
            if count.is_multiple_of(PROGRESS_ROWS) {
                log::info!("dump: table {name}: {count} rows");
            }
        }
        if let (Some(keys), Some(last)) = (&pk, result.rows().last()) {
            last_key = Some(keys.iter().map(|&k| last.values()[k].clone()).collect());
        }
        offset += n;
        if n < page || (next_page.is_some() && last_key.is_none()) {
            break;
        }
    }
    flush_insert(w, insert_head.as_deref(), &mut pending)?;
    Ok(count)
}

fn flush_insert(w: &mut Hashing<'_>, head: Option<&str>, rows: &mut Vec<String>) -> DbResult<()> {
    let Some(head) = head else {
        return Ok(());
    };
    if rows.is_empty() {
        return Ok(());
    }
    w.put(head)?;
    w.put(&rows.join(",\n"))?;
    w.put(";\n")?;
    rows.clear();
    Ok(())
}

/// `INCREMENT BY .. MINVALUE .. MAXVALUE .. START WITH .. [NO] CYCLE`, in
/// the order the parser reads them.
fn sequence_options(s: &SequenceDef) -> String {
    format!(
        "INCREMENT BY {} MINVALUE {} MAXVALUE {} START WITH {} {}",
        s.increment,
        s.min_value,
        s.max_value,
        s.start,
        if s.cycle { "CYCLE" } else { "NO CYCLE" }
    )
}

/// A column type as SQL; extension types have no name the dump can write
/// yet.
fn type_sql(t: &DataType) -> DbResult<String> {
    if matches!(t.id, TypeId::Ext(_) | TypeId::Unknown | TypeId::Any) {
        return Err(AionError::feature_not_supported(format!(
            "dump of columns of type {} (oid {}) is not supported yet",
            t,
            t.oid()
        )));
    }
    Ok(t.to_string())
}

/// A value as a SQL literal that reads back as exactly this value of type
/// `ty`.
fn literal(v: &Value, ty: &DataType, out: &mut String) -> DbResult<()> {
    match v {
        Value::Null => out.push_str("NULL"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int2(_) | Value::Int4(_) | Value::Int8(_) => write_text(v, out),
        Value::Ext(_) => {
            return Err(AionError::feature_not_supported(format!(
                "dump of values of type {ty} is not supported yet"
            )))
        }
        _ => {
            let mut text = String::new();
            write_text(v, &mut text);
            out.push('\'');
            out.push_str(&text.replace('\'', "''"));
            out.push_str("'::");
            out.push_str(&type_sql(ty)?);
        }
    }
    Ok(())
}
