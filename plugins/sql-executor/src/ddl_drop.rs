//! DROP TABLE / VIEW / SEQUENCE / SCHEMA with PostgreSQL's dependency
//! rules: foreign keys and views depending on a dropped relation make it a
//! 2BP01 error unless CASCADE, which drops the foreign keys and views too.

use std::collections::HashSet;

use aiondb_sdk::prelude::*;
use sqlparser_free::mentions;

use super::Exec;

/// Word-level scanning of stored SQL text (view definitions, defaults),
/// without a parser dependency in the executor.
mod sqlparser_free {
    /// Whether `sql` mentions `name` as an identifier (optionally
    /// schema-qualified), ignoring string literals.
    pub(crate) fn mentions(sql: &str, name: &str) -> bool {
        words(sql).iter().any(|w| w == name)
    }

    pub(crate) use aiondb_sdk::ident::sql_identifiers as words;

    /// Replaces identifier `old` by `new` in SQL text (a renamed table in a
    /// view definition), leaving literals and other words alone.
    pub(crate) fn rename_word(sql: &str, old: &str, new: &str) -> String {
        let mut out = String::with_capacity(sql.len());
        let mut chars = sql.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c == '\'' || c == '"' {
                // Copy a literal or quoted identifier through.
                let mut end = sql.len();
                let mut quoted = String::new();
                while let Some((j, d)) = chars.next() {
                    if d == c {
                        if chars.peek().map(|p| p.1) == Some(c) {
                            chars.next();
                            quoted.push(c);
                            continue;
                        }
                        end = j + 1;
                        break;
                    }
                    quoted.push(d);
                }
                if c == '"' && quoted == old {
                    out.push_str(&quote(new));
                } else {
                    out.push_str(&sql[i..end]);
                }
            } else if c.is_alphabetic() || c == '_' {
                let mut end = i + c.len_utf8();
                while let Some(&(j, d)) = chars.peek() {
                    if d.is_alphanumeric() || d == '_' || d == '$' {
                        end = j + d.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                let word = &sql[i..end];
                if word.to_lowercase() == old {
                    out.push_str(&quote(new));
                } else {
                    out.push_str(word);
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    fn quote(s: &str) -> String {
        let plain = s
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if plain {
            s.to_string()
        } else {
            format!("\"{}\"", s.replace('"', "\"\""))
        }
    }

    /// Sequence names a `nextval('...')` default refers to (the literal,
    /// possibly schema-qualified).
    pub(crate) fn nextval_target(default: &str) -> Option<String> {
        let lower = default.to_lowercase();
        let start = lower.find("nextval('")? + "nextval('".len();
        let rest = &default[start..];
        let end = rest.find('\'')?;
        Some(rest[..end].trim_matches('"').to_string())
    }
}

pub(super) use sqlparser_free::{mentions as sql_mentions, nextval_target, rename_word};

/// What a relation to drop is.
#[derive(Clone)]
enum Rel {
    Table(TableDef),
    Sequence(SequenceDef),
}

impl Rel {
    fn id(&self) -> TableId {
        match self {
            Rel::Table(t) => t.id,
            Rel::Sequence(s) => s.id,
        }
    }

    fn describe(&self) -> String {
        match self {
            Rel::Table(t) if t.kind == RelationKind::View => format!("view {}", t.name),
            Rel::Table(t) => format!("table {}", t.name),
            Rel::Sequence(s) => format!("sequence {}", s.name),
        }
    }
}

fn find(x: &Exec<'_>, id: TableId) -> Option<Rel> {
    if let Some(t) = x.services.catalog.table_by_id(id).into_option() {
        return Some(Rel::Table(t));
    }
    x.services
        .catalog
        .sequences()
        .into_iter()
        .find(|s| s.id == id)
        .map(Rel::Sequence)
}

/// Drops tables, views and sequences (and with `cascade` what depends on
/// them). Missing ids (dropped meanwhile) are skipped.
pub(super) fn drop_relations(x: &mut Exec<'_>, ids: &[TableId], cascade: bool) -> DbResult<()> {
    let mut targets: Vec<Rel> = ids.iter().filter_map(|&id| find(x, id)).collect();
    let first = match targets.first() {
        Some(r) => r.describe(),
        None => return Ok(()),
    };
    // Foreign keys of other tables to remove: (table id, constraint name).
    let mut fk_drops: Vec<(TableId, String)> = Vec::new();
    // Defaults of other tables' columns that call a dropped sequence.
    let mut default_drops: Vec<(TableId, String)> = Vec::new();
    let mut details = Vec::new();
    loop {
        let ids: HashSet<TableId> = targets.iter().map(Rel::id).collect();
        let mut to_add: Vec<TableDef> = Vec::new();
        for other in x.services.catalog.tables(ROption::RNone) {
            if ids.contains(&other.id) {
                continue;
            }
            for t in &targets {
                match t {
                    Rel::Table(t) => {
                        for c in other.constraints.iter() {
                            if let ConstraintKind::ForeignKey { ref_table, .. } = &c.kind {
                                if *ref_table == t.id
                                    && !fk_drops
                                        .iter()
                                        .any(|(i, n)| *i == other.id && n == c.name.as_str())
                                {
                                    details.push(format!(
                                        "constraint {} on table {} depends on {}",
                                        c.name,
                                        other.name,
                                        Rel::Table(t.clone()).describe()
                                    ));
                                    fk_drops.push((other.id, c.name.to_string()));
                                }
                            }
                        }
                        if other.kind == RelationKind::View
                            && other
                                .view_sql
                                .as_ref()
                                .into_option()
                                .is_some_and(|sql| mentions(sql, &t.name))
                            && !to_add.iter().any(|v| v.id == other.id)
                        {
                            details.push(format!(
                                "view {} depends on {}",
                                other.name,
                                Rel::Table(t.clone()).describe()
                            ));
                            to_add.push(other.clone());
                        }
                    }
                    Rel::Sequence(s) => {
                        for col in other.columns.iter() {
                            let Some(target) = col
                                .default_expr
                                .as_ref()
                                .into_option()
                                .and_then(|d| nextval_target(d))
                            else {
                                continue;
                            };
                            let bare = target.rsplit('.').next().unwrap_or(&target);
                            let owned_here = s
                                .owned_by
                                .as_ref()
                                .into_option()
                                .is_some_and(|o| ids.contains(&o.table));
                            if bare == s.name.as_str()
                                && !owned_here
                                && !default_drops
                                    .iter()
                                    .any(|(i, n)| *i == other.id && n == col.name.as_str())
                            {
                                details.push(format!(
                                    "default value for column {} of table {} depends on sequence {}",
                                    col.name, other.name, s.name
                                ));
                                default_drops.push((other.id, col.name.to_string()));
                            }
                        }
                    }
                }
            }
        }
        if to_add.is_empty() {
            break;
        }
        targets.extend(to_add.into_iter().map(Rel::Table));
    }
    if !details.is_empty() && !cascade {
        let what = first;
        return Err(AionError::new(
            SqlState::new(b"2BP01"),
            format!("cannot drop {what} because other objects depend on it"),
        )
        .with_detail(details.join("\n"))
        .with_hint("Use DROP ... CASCADE to drop the dependent objects too."));
    }
    // Dependent foreign keys and defaults first (PostgreSQL: NOTICE drop
    // cascades to ...), then views, tables, sequences.
    let ids: HashSet<TableId> = targets.iter().map(Rel::id).collect();
    for (tid, name) in &fk_drops {
        if ids.contains(tid) {
            continue;
        }
        if let Some(mut t) = x.services.catalog.table_by_id(*tid).into_option() {
            t.constraints.retain(|c| c.name.as_str() != name);
            x.apply(CatalogChange::AlterTable(t))?;
        }
    }
    for (tid, col) in &default_drops {
        if let Some(mut t) = x.services.catalog.table_by_id(*tid).into_option() {
            for c in t.columns.iter_mut() {
                if c.name.as_str() == col {
                    c.default_expr = ROption::RNone;
                }
            }
            x.apply(CatalogChange::AlterTable(t))?;
        }
    }
    targets.sort_by_key(|r| match r {
        Rel::Table(t) if t.kind == RelationKind::View => 0,
        Rel::Table(_) => 1,
        Rel::Sequence(_) => 2,
    });
    let mut dropped: HashSet<TableId> = HashSet::new();
    for r in &targets {
        if !dropped.insert(r.id()) {
            continue;
        }
        match r {
            Rel::Table(t) => {
                if t.kind == RelationKind::Table {
                    match x.storage(t)?.drop_table(x.ctx.txn, t.id).into_result() {
                        Ok(()) => {}
                        // The catalog is not transactional: a table whose
                        // CREATE was rolled back is in the catalog only.
                        // Dropping it must still clean the catalog up.
                        Err(e) if e.sqlstate == SqlState::UNDEFINED_TABLE => {}
                        Err(e) => return Err(e),
                    }
                }
                // Sequences owned by its columns go with it (SERIAL).
                let owned: Vec<TableId> = x
                    .services
                    .catalog
                    .sequences()
                    .into_iter()
                    .filter(|s| {
                        s.owned_by
                            .as_ref()
                            .into_option()
                            .is_some_and(|o| o.table == t.id)
                    })
                    .map(|s| s.id)
                    .collect();
                x.apply(CatalogChange::DropTable { id: t.id })?;
                for s in owned {
                    if dropped.insert(s) {
                        x.apply(CatalogChange::DropSequence { id: s })?;
                    }
                }
            }
            Rel::Sequence(s) => {
                x.apply(CatalogChange::DropSequence { id: s.id })?;
            }
        }
    }
    Ok(())
}

pub(super) fn drop_schema(
    x: &mut Exec<'_>,
    name: &str,
    if_exists: bool,
    cascade: bool,
) -> DbResult<u64> {
    let Some(schema) = x
        .services
        .catalog
        .schema_by_name(RStr::from_str(name))
        .into_option()
    else {
        if if_exists {
            return Ok(0);
        }
        return Err(AionError::new(
            SqlState::INVALID_SCHEMA_NAME,
            format!("schema \"{name}\" does not exist"),
        ));
    };
    let tables = x.services.catalog.tables(ROption::RSome(schema.id));
    let seqs: Vec<SequenceDef> = x
        .services
        .catalog
        .sequences()
        .into_iter()
        .filter(|s| s.schema == schema.id)
        .collect();
    if !tables.is_empty() || !seqs.is_empty() {
        if !cascade {
            let mut details: Vec<String> = tables
                .iter()
                .map(|t| {
                    let kind = if t.kind == RelationKind::View {
                        "view"
                    } else {
                        "table"
                    };
                    format!("{kind} {}.{} depends on schema {name}", name, t.name)
                })
                .collect();
            details.extend(
                seqs.iter()
                    .filter(|s| s.owned_by.is_none())
                    .map(|s| format!("sequence {}.{} depends on schema {name}", name, s.name)),
            );
            return Err(AionError::new(
                SqlState::new(b"2BP01"),
                format!("cannot drop schema {name} because other objects depend on it"),
            )
            .with_detail(details.join("\n"))
            .with_hint("Use DROP ... CASCADE to drop the dependent objects too."));
        }
        let ids: Vec<TableId> = tables
            .iter()
            .map(|t| t.id)
            .chain(seqs.iter().map(|s| s.id))
            .collect();
        drop_relations(x, &ids, true)?;
    }
    x.apply(CatalogChange::DropSchema { id: schema.id })?;
    Ok(0)
}
