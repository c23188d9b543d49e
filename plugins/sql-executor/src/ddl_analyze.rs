//! ANALYZE: row count and per-column statistics over a full scan.

use std::cmp::Ordering;
use std::collections::HashSet;

use aiondb_sdk::prelude::*;

use super::{key_text, Exec};
use crate::shared::sort_cmp;

pub(super) fn analyze(x: &Exec<'_>, tables: &RVec<TableId>) -> DbResult<u64> {
    let targets: Vec<TableDef> = if tables.is_empty() {
        x.services
            .catalog
            .tables(ROption::RNone)
            .into_iter()
            .filter(|t| t.kind == RelationKind::Table)
            .collect()
    } else {
        tables
            .iter()
            .filter_map(|id| x.services.catalog.table_by_id(*id).into_option())
            .collect()
    };
    for t in targets {
        let rows = x.scan(&t, false)?;
        let stats = table_statistics(&t, &rows);
        x.services.catalog.set_table_stats(t.id, stats);
    }
    Ok(0)
}

/// Statistics of `rows` (full table rows of `table`).
pub(super) fn table_statistics(table: &TableDef, rows: &[Vec<Value>]) -> TableStatistics {
    let n = rows.len();
    let columns = (0..table.columns.len())
        .map(|c| {
            let mut nulls = 0usize;
            let mut distinct = HashSet::new();
            let (mut min, mut max): (Option<&Value>, Option<&Value>) = (None, None);
            for r in rows {
                let v = r.get(c).unwrap_or(&Value::Null);
                if v.is_null() {
                    nulls += 1;
                    continue;
                }
                if let Some(k) = key_text(&[v]) {
                    distinct.insert(k);
                }
                if min.is_none_or(|m| sort_cmp(v, m) == Ordering::Less) {
                    min = Some(v);
                }
                if max.is_none_or(|m| sort_cmp(v, m) == Ordering::Greater) {
                    max = Some(v);
                }
            }
            ColumnStatistics {
                n_distinct: distinct.len() as f64,
                null_fraction: if n == 0 { 0.0 } else { nulls as f64 / n as f64 },
                min: min.cloned().unwrap_or(Value::Null),
                max: max.cloned().unwrap_or(Value::Null),
            }
        })
        .collect::<Vec<_>>();
    TableStatistics {
        row_count: n as f64,
        columns: RVec::from(columns),
    }
}
