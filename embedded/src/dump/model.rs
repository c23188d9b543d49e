//! The catalog as a dump sees it: user objects only, in output order.

use std::collections::{BTreeMap, HashMap, HashSet};

use aiondb_sdk::catalog::{
    CatalogRef, GraphLabelDef, Identity, RelationKind, RoleDef, SchemaDef, SchemaId, SequenceDef,
    TableDef, TableId,
};
use aiondb_sdk::ident::quote_ident;
use aiondb_sdk::prelude::ROption;

use super::FIRST_USER_ID;

/// The catalog as the dump sees it: user objects only, in output order.
pub(super) struct Model {
    pub(super) schemas: BTreeMap<SchemaId, SchemaDef>,
    pub(super) roles: Vec<RoleDef>,
    /// Kind `Table`, by (schema name, name).
    pub(super) tables: Vec<TableDef>,
    /// Dependency-safe order.
    pub(super) views: Vec<TableDef>,
    pub(super) sequences: Vec<SequenceDef>,
    pub(super) labels: Vec<GraphLabelDef>,
    pub(super) by_id: HashMap<TableId, TableDef>,
    /// The sequence behind each identity column, by (table, column).
    identity_sequences: HashMap<(TableId, u32), TableId>,
}

impl Model {
    pub(super) fn read(cat: &CatalogRef) -> Model {
        let schemas: BTreeMap<SchemaId, SchemaDef> =
            cat.schemas().into_iter().map(|s| (s.id, s)).collect();
        let mut roles: Vec<RoleDef> = cat
            .roles()
            .into_iter()
            .filter(|r| r.id >= FIRST_USER_ID)
            .collect();
        roles.sort_by(|a, b| a.name.cmp(&b.name));
        let all: Vec<TableDef> = cat
            .tables(ROption::RNone)
            .into_iter()
            .filter(|t| !is_system_schema(&schemas, t.schema))
            .collect();
        let by_id: HashMap<TableId, TableDef> = all.iter().map(|t| (t.id, t.clone())).collect();
        let schema_name = |id: SchemaId| {
            schemas
                .get(&id)
                .map(|s| s.name.to_string())
                .unwrap_or_default()
        };
        let mut tables: Vec<TableDef> = all
            .iter()
            .filter(|t| t.kind == RelationKind::Table)
            .cloned()
            .collect();
        tables.sort_by_key(|t| (schema_name(t.schema), t.name.to_string()));
        let mut views: Vec<TableDef> = all
            .iter()
            .filter(|t| t.kind == RelationKind::View)
            .cloned()
            .collect();
        views.sort_by_key(|v| v.id);
        let views = dependency_order(views);
        let mut sequences: Vec<SequenceDef> = cat
            .sequences()
            .into_iter()
            .filter(|s| !is_system_schema(&schemas, s.schema))
            .collect();
        sequences.sort_by_key(|s| (schema_name(s.schema), s.name.to_string()));
        let mut labels: Vec<GraphLabelDef> = cat.graph_labels().into_iter().collect();
        labels.sort_by(|a, b| a.name.cmp(&b.name));
        // An identity column's sequence is the one its default calls; when
        // none matches, the first one it owns.
        let mut identity_sequences: HashMap<(TableId, u32), TableId> = HashMap::new();
        let mut by_id_order: Vec<&SequenceDef> = sequences.iter().collect();
        by_id_order.sort_by_key(|s| s.id);
        for s in by_id_order {
            let Some(o) = s.owned_by.into_option() else {
                continue;
            };
            let Some(col) = by_id
                .get(&o.table)
                .and_then(|t| t.columns.get(o.column as usize))
            else {
                continue;
            };
            if !matches!(col.identity, Identity::Always | Identity::ByDefault) {
                continue;
            }
            let calls_it = schemas.get(&s.schema).is_some_and(|sc| {
                col.default_expr.as_ref().map(|d| d.as_str()).into_option()
                    == Some(nextval_text(sc, &s.name).as_str())
            });
            let key = (o.table, o.column);
            if calls_it || !identity_sequences.contains_key(&key) {
                identity_sequences.insert(key, s.id);
            }
        }
        Model {
            schemas,
            roles,
            tables,
            views,
            sequences,
            labels,
            by_id,
            identity_sequences,
        }
    }

    pub(super) fn schema_name(&self, id: SchemaId) -> &str {
        self.schemas.get(&id).map_or("", |s| s.name.as_str())
    }

    /// `schema.name`, both quoted as needed.
    pub(super) fn qualified(&self, schema: SchemaId, name: &str) -> String {
        format!(
            "{}.{}",
            quote_ident(self.schema_name(schema)),
            quote_ident(name)
        )
    }

    /// How a sequence is created: as an identity of (table, column), as a
    /// sequence owned by a table's column, or standalone.
    pub(super) fn sequence_role(&self, s: &SequenceDef) -> SeqRole {
        let Some(owner) = s.owned_by.into_option() else {
            return SeqRole::Standalone;
        };
        let is_table = self
            .by_id
            .get(&owner.table)
            .is_some_and(|t| t.kind == RelationKind::Table);
        if !is_table {
            return SeqRole::Standalone;
        }
        let (table, column) = (owner.table, owner.column);
        if self.identity_sequences.get(&(table, column)) == Some(&s.id) {
            SeqRole::Identity { table, column }
        } else {
            SeqRole::Owned { table, column }
        }
    }

    /// Whether an identity column has a sequence (one that does not is
    /// restored with a fresh one).
    pub(super) fn has_identity_sequence(&self, table: TableId, column: u32) -> bool {
        self.identity_sequences.contains_key(&(table, column))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SeqRole {
    Standalone,
    Owned { table: TableId, column: u32 },
    Identity { table: TableId, column: u32 },
}

fn is_system_schema(schemas: &BTreeMap<SchemaId, SchemaDef>, id: SchemaId) -> bool {
    schemas
        .get(&id)
        .is_some_and(|s| matches!(s.name.as_str(), "pg_catalog" | "information_schema"))
}

pub(super) fn is_builtin_schema(s: &SchemaDef) -> bool {
    matches!(
        s.name.as_str(),
        "pg_catalog" | "public" | "information_schema"
    ) && (s.id as u64) < FIRST_USER_ID
}

/// The text of the `nextval` default the planner gives a SERIAL or
/// IDENTITY column (unqualified in `public`).
fn nextval_text(schema: &SchemaDef, seq: &str) -> String {
    let lit = if schema.name.as_str() == "public" {
        seq.to_string()
    } else {
        format!("{}.{}", quote_ident(&schema.name), quote_ident(seq))
    };
    format!("nextval('{}')", lit.replace('\'', "''"))
}

/// PostgreSQL's makeObjectName for `table_column_seq` (63-byte names),
/// the name an identity sequence gets when the identity is added.
pub(super) fn canonical_sequence_name(table: &str, column: &str) -> String {
    const MAX: usize = 63;
    let label = "seq";
    let avail = MAX - (label.len() + 1) - 1;
    let (mut n1, mut n2) = (table.len(), column.len());
    while n1 + n2 > avail {
        if n1 > n2 {
            n1 -= 1;
        } else {
            n2 -= 1;
        }
    }
    let cut = |s: &str, mut n: usize| {
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        s[..n].to_string()
    };
    format!("{}_{}_{label}", cut(table, n1), cut(column, n2))
}

/// Views in id (creation) order, except that a view comes after every
/// other view whose name appears in its query text.
pub(super) fn dependency_order(views: Vec<TableDef>) -> Vec<TableDef> {
    let words: Vec<HashSet<String>> = views
        .iter()
        .map(|v| identifier_words(v.view_sql.as_ref().map_or("", |s| s.as_str())))
        .collect();
    let mut out: Vec<usize> = Vec::new();
    let mut state = vec![0u8; views.len()]; // 0 new, 1 visiting, 2 done
    fn visit(
        i: usize,
        views: &[TableDef],
        words: &[HashSet<String>],
        state: &mut [u8],
        out: &mut Vec<usize>,
    ) {
        if state[i] != 0 {
            return; // done, or a cycle: keep creation order
        }
        state[i] = 1;
        for (j, v) in views.iter().enumerate() {
            if j != i && words[i].contains(v.name.as_str()) {
                visit(j, views, words, state, out);
            }
        }
        state[i] = 2;
        out.push(i);
    }
    for i in 0..views.len() {
        visit(i, &views, &words, &mut state, &mut out);
    }
    let mut slots: Vec<Option<TableDef>> = views.into_iter().map(Some).collect();
    out.into_iter().filter_map(|i| slots[i].take()).collect()
}

/// Identifiers in SQL text (see `aiondb_sdk::ident::sql_identifiers`).
fn identifier_words(sql: &str) -> HashSet<String> {
    aiondb_sdk::ident::sql_identifiers(sql)
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_sequence_names_follow_make_object_name() {
        assert_eq!(canonical_sequence_name("t", "id"), "t_id_seq");
        let long = "x".repeat(70);
        let n = canonical_sequence_name(&long, "id");
        assert_eq!(n.len(), 63);
        assert!(n.ends_with("_id_seq"));
    }

    #[test]
    fn views_follow_the_views_they_name() {
        let view = |id: u64, name: &str, sql: &str| TableDef {
            id,
            schema: 2200,
            name: name.into(),
            kind: RelationKind::View,
            columns: Default::default(),
            constraints: Default::default(),
            storage_backend: Default::default(),
            view_sql: ROption::RSome(sql.into()),
        };
        let order = dependency_order(vec![
            view(1, "a", "SELECT * FROM \"B c\" WHERE x = 'a'"),
            view(2, "B c", "SELECT * FROM t"),
            view(3, "d", "SELECT * FROM a"),
        ]);
        let names: Vec<&str> = order.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["B c", "a", "d"]);
    }
}
