//! EXPLAIN [ANALYZE] in PostgreSQL's text format: one line per node with
//! `->` indentation, estimates from the plan, detail lines (`Filter:`,
//! `Hash Cond:`, `Sort Key:` ...) with expressions deparsed against the
//! catalog's column names; ANALYZE adds per-node actual times and rows.

use std::time::Instant;

use aiondb_sdk::abi_stable::std_types::ROption::{RNone, RSome};
use aiondb_sdk::plan::{
    AggFunc, AggStrategy, ExprKind, ExprRef, IndexProbe, JoinKind, JoinMethod, NodeRef, Operator,
    SetOpKind, SortKey, SpecialFunc, SubqueryKind,
};
use aiondb_sdk::prelude::*;

use crate::ops::NodeStats;
use crate::shared::*;

pub(crate) fn explain(
    ctx: &ExecContext,
    services: &Services,
    plan: &Plan,
    params: &[Value],
    analyze: bool,
    verbose: bool,
) -> DbResult<RowCursorBox> {
    let root = node_of(plan, plan.root)?;
    let target = *root
        .inputs
        .first()
        .ok_or_else(|| bad_plan("EXPLAIN without an input"))?;
    let mut stats: Vec<NodeStats> = Vec::new();
    let mut exec_ms = 0.0;
    if analyze {
        let t = Instant::now();
        let mut cx = EvalCx::new(ctx, services, params);
        cx.stats = vec![NodeStats::default(); plan.nodes.len()];
        let node = node_of(plan, target)?;
        match node.op {
            Operator::Insert { .. } | Operator::Update { .. } | Operator::Delete { .. } => {
                if ctx.read_only {
                    return Err(read_only_error(plan.command.as_str()));
                }
                let mut cur = crate::dml::execute_dml(&mut cx, plan, target)?;
                let mut rows = 0;
                while let Some(b) = cur.next_batch(0).into_result()?.into_option() {
                    rows += b.len() as u64;
                }
                if let Some(s) = cx.stats.get_mut(target as usize) {
                    s.executed = true;
                    s.loops = 1;
                    s.rows = rows;
                    s.total_us = t.elapsed().as_secs_f64() * 1e6;
                }
            }
            Operator::Ddl(_) | Operator::Utility(_) | Operator::Analyze { .. } => {
                return Err(AionError::feature_not_supported(
                    "EXPLAIN ANALYZE of this statement is not supported",
                ))
            }
            _ => {
                let mut op = crate::ops::build(&mut cx, plan, target)?;
                op.open(&mut cx)?;
                while op.advance(&mut cx)? {
                    cx.tick()?;
                }
                op.close(&mut cx);
            }
        }
        exec_ms = t.elapsed().as_secs_f64() * 1e3;
        stats = cx.stats;
    }
    let mut w = Writer {
        plan,
        services,
        lines: Vec::new(),
        stats: &stats,
        analyze,
        verbose,
        qualify: count_scans(plan, target) > 1,
        subplans: 0,
        outer: Vec::new(),
        shift: 0,
        pending: Vec::new(),
        cte_names: plan
            .nodes
            .iter()
            .flat_map(|n| match &n.op {
                Operator::WithDml { ctes } => ctes
                    .iter()
                    .map(|c| (c.worktable, c.name.to_string()))
                    .collect(),
                _ => Vec::new(),
            })
            .collect(),
    };
    w.node(target, 0, Vec::new())?;
    if analyze {
        w.lines.push("Planning Time: 0.000 ms".to_string());
        w.lines.push(format!("Execution Time: {exec_ms:.3} ms"));
    }
    let schema = if plan.output.len() == 1 {
        plan.output.clone()
    } else {
        Schema::new(vec![Field::new("QUERY PLAN", DataType::TEXT, false)])
    };
    let mut batch = RowBatch::with_capacity(1, w.lines.len());
    for l in w.lines {
        batch.push_row([Value::text(l)]);
    }
    Ok(rows_cursor(schema, batch, 0))
}

fn count_scans(plan: &Plan, n: NodeRef) -> usize {
    let Some(node) = plan.node(n) else { return 0 };
    let own = usize::from(matches!(
        node.op,
        Operator::SeqScan { .. } | Operator::IndexScan { .. }
    ));
    own + node
        .inputs
        .iter()
        .map(|c| count_scans(plan, *c))
        .sum::<usize>()
}

fn type_width(t: &DataType) -> u32 {
    if t.is_array {
        return 32;
    }
    match t.id {
        TypeId::Bool => 1,
        TypeId::Int2 => 2,
        TypeId::Int4 | TypeId::Float4 | TypeId::Date => 4,
        TypeId::Int8 | TypeId::Float8 | TypeId::Time | TypeId::Timestamp | TypeId::TimestampTz => 8,
        TypeId::Interval | TypeId::Uuid => 16,
        TypeId::Numeric => 32,
        TypeId::Varchar | TypeId::Char if t.typmod > 4 => (t.typmod - 4) as u32 + 1,
        _ => 32,
    }
}

struct Writer<'a> {
    plan: &'a Plan,
    services: &'a Services,
    lines: Vec<String>,
    stats: &'a [NodeStats],
    analyze: bool,
    verbose: bool,
    qualify: bool,
    subplans: usize,
    /// Labels of the enclosing rows of a lateral join's inner side,
    /// innermost last (what `OuterColumn` reads).
    outer: Vec<Labels>,
    /// Extra indentation of a SubPlan's tree.
    shift: usize,
    /// Data-modifying CTEs of a `WithDml` root, shown (as "CTE name") under
    /// the next node rendered, as PostgreSQL shows them under the top node.
    pending: Vec<Child>,
    /// Worktable numbers of data-modifying CTEs and their names.
    cte_names: Vec<(u32, String)>,
}

/// Column labels of a node's output.
type Labels = Vec<String>;

/// A node to render under another, with its tag line ("CTE d", "SubPlan 1";
/// none for a plain input).
type Child = (NodeRef, Vec<String>);

fn agg_name(f: AggFunc) -> &'static str {
    match f {
        AggFunc::CountStar | AggFunc::Count => "count",
        AggFunc::Sum => "sum",
        AggFunc::Avg => "avg",
        AggFunc::Min => "min",
        AggFunc::Max => "max",
        AggFunc::StringAgg => "string_agg",
        AggFunc::ArrayAgg => "array_agg",
        AggFunc::BoolAnd => "bool_and",
        AggFunc::BoolOr => "bool_or",
        AggFunc::BitAnd => "bit_and",
        AggFunc::BitOr => "bit_or",
        AggFunc::JsonAgg => "json_agg",
        AggFunc::JsonbAgg => "jsonb_agg",
        AggFunc::JsonObjectAgg => "json_object_agg",
        AggFunc::JsonbObjectAgg => "jsonb_object_agg",
        AggFunc::StddevSamp => "stddev",
        AggFunc::StddevPop => "stddev_pop",
        AggFunc::VarSamp => "variance",
        AggFunc::VarPop => "var_pop",
    }
}

impl Writer<'_> {
    /// The relation name; VERBOSE qualifies it with its schema, as
    /// PostgreSQL does.
    fn table_name(&self, id: TableId) -> String {
        let cat = &self.services.catalog;
        match cat.table_by_id(id).into_option() {
            Some(t) if self.verbose => {
                let schema = cat
                    .schemas()
                    .iter()
                    .find(|s| s.id == t.schema)
                    .map(|s| s.name.to_string());
                match schema {
                    Some(s) => format!("{s}.{}", t.name),
                    None => t.name.to_string(),
                }
            }
            Some(t) => t.name.to_string(),
            None => format!("table {id}"),
        }
    }

    /// `table name [alias]` of scan node `n`, as PostgreSQL prints it.
    fn scanned(&self, n: NodeRef, id: TableId) -> String {
        match self.plan.alias(n) {
            Some(a) => format!("{} {a}", self.table_name(id)),
            None => self.table_name(id),
        }
    }

    /// Column labels of scan node `n`, qualified with the relation's alias
    /// when the query gave one.
    fn table_cols(&self, n: NodeRef, id: TableId) -> Vec<String> {
        match self.services.catalog.table_by_id(id).into_option() {
            Some(t) => {
                let name = match self.plan.alias(n) {
                    Some(a) => a.to_string(),
                    None => t.name.to_string(),
                };
                t.columns
                    .iter()
                    .map(|c| {
                        if self.qualify {
                            format!("{name}.{}", c.name)
                        } else {
                            c.name.to_string()
                        }
                    })
                    .collect()
            }
            None => Vec::new(),
        }
    }

    fn index_name(&self, table: TableId, index: IndexId) -> (String, Vec<u32>) {
        self.services
            .catalog
            .indexes_of(table)
            .iter()
            .find(|i| i.id == index)
            .map(|i| (i.name.to_string(), i.columns.to_vec()))
            .unwrap_or_else(|| (format!("index {index}"), Vec::new()))
    }

    /// Output labels of node `n`.
    fn labels(&self, n: NodeRef) -> Labels {
        let Some(node) = self.plan.node(n) else {
            return Vec::new();
        };
        let child = |i: usize| -> Labels {
            node.inputs
                .get(i)
                .map(|c| self.labels(*c))
                .unwrap_or_default()
        };
        match &node.op {
            Operator::SeqScan {
                table,
                projection,
                with_row_id,
                ..
            }
            | Operator::IndexScan {
                table,
                projection,
                with_row_id,
                ..
            } => {
                let cols = self.table_cols(n, *table);
                let mut l: Labels = projection
                    .iter()
                    .map(|c| cols.get(*c as usize).cloned().unwrap_or_default())
                    .collect();
                if *with_row_id {
                    l.push("ctid".into());
                }
                l
            }
            Operator::Values { rows } => (1..=rows.first().map(|r| r.len()).unwrap_or(0))
                .map(|i| format!("\"*VALUES*\".column{i}"))
                .collect(),
            Operator::TableFunction {
                columns,
                ordinality,
                ..
            } => {
                let mut l: Labels = columns.fields.iter().map(|f| f.name.to_string()).collect();
                if *ordinality && l.len() < node.output.len() {
                    l.push("ordinality".into());
                }
                l
            }
            Operator::Project { exprs } => {
                let c = child(0);
                exprs.iter().map(|e| self.expr(*e, &[&c])).collect()
            }
            Operator::Join { kind, .. } => {
                let mut l = child(0);
                if !matches!(kind, JoinKind::Semi | JoinKind::Anti) {
                    l.extend(child(1));
                }
                l
            }
            Operator::Aggregate {
                group_by,
                aggregates,
                ..
            } => {
                let c = child(0);
                let mut l: Labels = group_by.iter().map(|e| self.expr(*e, &[&c])).collect();
                for a in aggregates.iter() {
                    let args: Vec<String> = a.args.iter().map(|e| self.expr(*e, &[&c])).collect();
                    l.push(if a.func == AggFunc::CountStar {
                        "count(*)".into()
                    } else {
                        format!("{}({})", agg_name(a.func), args.join(", "))
                    });
                }
                l
            }
            Operator::WorkTableScan { .. } => (1..=node.output.len())
                .map(|i| format!("column{i}"))
                .collect(),
            Operator::Window { functions, .. } => {
                let mut l = child(0);
                for f in functions.iter() {
                    l.push(format!("{:?}() OVER (?)", f.func).to_lowercase());
                }
                l
            }
            _ => child(0),
        }
    }

    fn col_label(labels: &[&Labels], input: u32, column: u32) -> String {
        labels
            .get(input as usize)
            .and_then(|l| l.get(column as usize))
            .cloned()
            .unwrap_or_else(|| format!("${input}.{column}"))
    }

    /// Deparses an expression PostgreSQL-style.
    fn expr(&self, e: ExprRef, labels: &[&Labels]) -> String {
        let Some(ex) = self.plan.expr(e) else {
            return "?".into();
        };
        let r = |x: ExprRef| self.expr(x, labels);
        match &ex.kind {
            ExprKind::Const(v) => match v {
                Value::Null => "NULL".into(),
                Value::Int2(_) | Value::Int4(_) | Value::Int8(_) | Value::Numeric(_) => {
                    let t = v.to_pg_text().unwrap_or_default();
                    if t.starts_with('-') {
                        format!("'{t}'::{}", ex.data_type)
                    } else {
                        t
                    }
                }
                Value::Bool(b) => (if *b { "true" } else { "false" }).into(),
                other => format!(
                    "'{}'::{}",
                    other.to_pg_text().unwrap_or_default().replace('\'', "''"),
                    ex.data_type
                ),
            },
            ExprKind::Param(i) => format!("${}", i + 1),
            ExprKind::Column { input, column } => Self::col_label(labels, *input, *column),
            ExprKind::OuterColumn { depth, column } => self
                .outer
                .len()
                .checked_sub(*depth as usize)
                .and_then(|i| self.outer.get(i))
                .and_then(|l| l.get(*column as usize))
                .cloned()
                .unwrap_or_else(|| format!("outer.column{}", column + 1)),
            ExprKind::Binary { op, left, right } => {
                format!("({} {} {})", r(*left), op.symbol(), r(*right))
            }
            ExprKind::Unary { op, arg } => match op {
                aiondb_sdk::value::ops::UnaryOp::Neg => format!("(- {})", r(*arg)),
                aiondb_sdk::value::ops::UnaryOp::Not => format!("(NOT {})", r(*arg)),
                aiondb_sdk::value::ops::UnaryOp::BitNot => format!("(~ {})", r(*arg)),
            },
            ExprKind::Like {
                arg,
                pattern,
                case_insensitive,
                negated,
                ..
            } => {
                let op = match (case_insensitive, negated) {
                    (false, false) => "~~",
                    (false, true) => "!~~",
                    (true, false) => "~~*",
                    (true, true) => "!~~*",
                };
                format!("({} {op} {})", r(*arg), r(*pattern))
            }
            ExprKind::InList { arg, list, negated } => {
                let items: Vec<String> = list.iter().map(|x| r(*x)).collect();
                format!(
                    "({} {}IN ({}))",
                    r(*arg),
                    if *negated { "NOT " } else { "" },
                    items.join(", ")
                )
            }
            ExprKind::AnyAll {
                op,
                left,
                array,
                all,
            } => format!(
                "({} {} {} ({}))",
                r(*left),
                op.symbol(),
                if *all { "ALL" } else { "ANY" },
                r(*array)
            ),
            ExprKind::Call { function, args } => {
                let a: Vec<String> = args.iter().map(|x| r(*x)).collect();
                format!("{}({})", function.name, a.join(", "))
            }
            ExprKind::Special { func, args } => {
                let a: Vec<String> = args.iter().map(|x| r(*x)).collect();
                let name = match func {
                    SpecialFunc::Coalesce => "COALESCE",
                    SpecialFunc::NullIf => "NULLIF",
                    SpecialFunc::Greatest => "GREATEST",
                    SpecialFunc::Least => "LEAST",
                    SpecialFunc::Now => "now",
                    SpecialFunc::StatementTimestamp => "statement_timestamp",
                    SpecialFunc::ClockTimestamp => "clock_timestamp",
                    SpecialFunc::CurrentDate => "CURRENT_DATE",
                    SpecialFunc::CurrentTime => "CURRENT_TIME",
                    SpecialFunc::LocalTimestamp => "LOCALTIMESTAMP",
                    SpecialFunc::NextVal => "nextval",
                    SpecialFunc::CurrVal => "currval",
                    SpecialFunc::SetVal => "setval",
                    SpecialFunc::CurrentSetting => "current_setting",
                    SpecialFunc::CurrentUser => "CURRENT_USER",
                    SpecialFunc::CurrentDatabase => "current_database",
                    SpecialFunc::CurrentSchema => "CURRENT_SCHEMA",
                    SpecialFunc::Version => "version",
                    SpecialFunc::LastVal => "lastval",
                    SpecialFunc::Catalog(f) => f.name(),
                };
                format!("{name}({})", a.join(", "))
            }
            ExprKind::Cast { arg, to, .. } => format!("({})::{to}", r(*arg)),
            ExprKind::And(l) | ExprKind::Or(l) => {
                let sep = if matches!(ex.kind, ExprKind::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                let parts: Vec<String> = l.iter().map(|x| r(*x)).collect();
                format!("({})", parts.join(sep))
            }
            ExprKind::Not(x) => format!("(NOT {})", r(*x)),
            ExprKind::IsNull(x) => format!("({} IS NULL)", r(*x)),
            ExprKind::Case {
                operand,
                whens,
                thens,
                otherwise,
            } => {
                let mut s = String::from("CASE");
                if let RSome(o) = operand {
                    s.push(' ');
                    s.push_str(&r(*o));
                }
                for (w, t) in whens.iter().zip(thens.iter()) {
                    s.push_str(&format!(" WHEN {} THEN {}", r(*w), r(*t)));
                }
                if let RSome(o) = otherwise {
                    s.push_str(&format!(" ELSE {}", r(*o)));
                }
                s.push_str(" END");
                s
            }
            ExprKind::Array(l) => {
                let parts: Vec<String> = l.iter().map(|x| r(*x)).collect();
                format!("ARRAY[{}]", parts.join(", "))
            }
            ExprKind::Subscript { arg, index } => format!("({})[{}]", r(*arg), r(*index)),
            ExprKind::Subquery { kind, arg, .. } => {
                let a = match arg {
                    RSome(a) => r(*a),
                    RNone => String::new(),
                };
                match kind {
                    SubqueryKind::Scalar => "(SubPlan)".into(),
                    SubqueryKind::Exists => "(SubPlan)".into(),
                    SubqueryKind::In => format!("({a} = ANY (SubPlan))"),
                    SubqueryKind::Any(op) => format!("({a} {} ANY (SubPlan))", op.symbol()),
                    SubqueryKind::All(op) => format!("({a} {} ALL (SubPlan))", op.symbol()),
                    SubqueryKind::Array => "(ARRAY(SubPlan))".into(),
                }
            }
        }
    }

    fn sort_keys(&self, keys: &[SortKey], labels: &[&Labels]) -> String {
        keys.iter()
            .map(|k| {
                let mut s = self.expr(k.expr, labels);
                // Strip the outer parentheses PostgreSQL omits in Sort Key.
                if k.descending {
                    s.push_str(" DESC");
                    if !k.nulls_first {
                        s.push_str(" NULLS LAST");
                    }
                } else if k.nulls_first {
                    s.push_str(" NULLS FIRST");
                }
                s
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn push(&mut self, level: usize, text: String) {
        let indent = if level == 0 { 0 } else { 2 + 6 * (level - 1) } + self.shift;
        let s = if level == 0 {
            format!("{}{text}", " ".repeat(indent))
        } else {
            format!("{}->  {}", " ".repeat(indent), text)
        };
        self.lines.push(s);
    }

    fn detail(&mut self, level: usize, text: String) {
        let indent = if level == 0 {
            2
        } else {
            2 + 6 * (level - 1) + 6
        } + self.shift;
        self.lines.push(format!("{}{}", " ".repeat(indent), text));
    }

    fn head(&self, n: NodeRef, name: String) -> String {
        let Some(node) = self.plan.node(n) else {
            return name;
        };
        let width: u32 = node.output.iter().map(type_width).sum();
        let mut s = format!(
            "{name}  (cost=0.00..{:.2} rows={} width={width})",
            node.est_cost.max(0.0),
            node.est_rows.max(0.0).round() as u64
        );
        if self.analyze {
            match self.stats.get(n as usize) {
                Some(st) if st.executed => {
                    let loops = st.loops.max(1);
                    s.push_str(&format!(
                        " (actual time={:.3}..{:.3} rows={} loops={})",
                        st.first_us / 1000.0 / loops as f64,
                        st.total_us / 1000.0 / loops as f64,
                        st.rows / loops,
                        loops
                    ));
                }
                _ => s.push_str(" (never executed)"),
            }
        }
        s
    }

    /// Renders node `n` at `level`, with extra detail lines from a parent
    /// that PostgreSQL folds into this node (a Filter above it).
    fn node(&mut self, n: NodeRef, level: usize, extra: Vec<String>) -> DbResult<()> {
        let node = node_of(self.plan, n)?;
        if let Operator::WithDml { .. } = &node.op {
            // Not a node of its own: its CTEs go under the main plan's top.
            let (main, ctes) = self.with_dml_parts(n)?;
            self.pending.extend(ctes);
            return self.node(main, level, extra);
        }
        let child_labels = |w: &Writer, i: usize| -> Labels {
            node.inputs.get(i).map(|c| w.labels(*c)).unwrap_or_default()
        };
        let mut details: Vec<String> = Vec::new();
        // CTEs first (PostgreSQL's order), then inputs, then SubPlans.
        let mut children: Vec<Child> = std::mem::take(&mut self.pending);
        for c in node.inputs.iter() {
            match self.plan.node(*c).map(|x| &x.op) {
                // A DML statement's input: its CTEs show under the DML node.
                Some(Operator::WithDml { .. }) => {
                    let (main, ctes) = self.with_dml_parts(*c)?;
                    children.extend(ctes);
                    children.push((main, Vec::new()));
                }
                _ => children.push((*c, Vec::new())),
            }
        }
        let mut hash_right = false;
        let name = match &node.op {
            Operator::SeqScan { table, filter, .. } => {
                if let RSome(f) = filter {
                    let l = self.table_cols(n, *table);
                    details.push(format!("Filter: {}", self.expr(*f, &[&l])));
                }
                format!("Seq Scan on {}", self.scanned(n, *table))
            }
            Operator::IndexScan {
                table,
                index,
                probe,
                filter,
                reverse,
                ..
            } => {
                let (iname, icols) = self.index_name(*table, *index);
                let l = self.table_cols(n, *table);
                let colname = |i: usize| {
                    icols
                        .get(i)
                        .and_then(|c| l.get(*c as usize))
                        .cloned()
                        .unwrap_or_else(|| "?".into())
                };
                let mut conds = Vec::new();
                match probe {
                    IndexProbe::Eq(list) => {
                        for (i, e) in list.iter().enumerate() {
                            conds.push(format!("({} = {})", colname(i), self.expr(*e, &[&l])));
                        }
                    }
                    IndexProbe::Range { lower, upper } => {
                        if let RSome(b) = lower {
                            let op = if b.inclusive { ">=" } else { ">" };
                            for (i, e) in b.exprs.iter().enumerate() {
                                conds.push(format!(
                                    "({} {op} {})",
                                    colname(i),
                                    self.expr(*e, &[&l])
                                ));
                            }
                        }
                        if let RSome(b) = upper {
                            let op = if b.inclusive { "<=" } else { "<" };
                            for (i, e) in b.exprs.iter().enumerate() {
                                conds.push(format!(
                                    "({} {op} {})",
                                    colname(i),
                                    self.expr(*e, &[&l])
                                ));
                            }
                        }
                    }
                    IndexProbe::Full => {}
                }
                if !conds.is_empty() {
                    let c = if conds.len() == 1 {
                        conds.remove(0)
                    } else {
                        format!("({})", conds.join(" AND "))
                    };
                    details.push(format!("Index Cond: {c}"));
                }
                if let RSome(f) = filter {
                    details.push(format!("Filter: {}", self.expr(*f, &[&l])));
                }
                format!(
                    "Index Scan{} using {iname} on {}",
                    if *reverse { " Backward" } else { "" },
                    self.scanned(n, *table)
                )
            }
            Operator::VectorSearch { table, .. } => {
                format!("Vector Search on {}", self.table_name(*table))
            }
            Operator::GraphExpand { .. } => "Graph Expand".into(),
            Operator::Values { rows } => {
                if rows.len() == 1 && rows[0].is_empty() {
                    "Result".into()
                } else {
                    "Values Scan on \"*VALUES*\"".into()
                }
            }
            Operator::TableFunction { call, .. } => {
                if let Some(rel) = aiondb_sdk::syscat::relation_by_qualified_name(&call.name) {
                    // A system catalog reads like a table scan, as in PostgreSQL.
                    format!("Seq Scan on {}", rel.name)
                } else if call.name.starts_with("rows from(") {
                    // Set-returning functions of a select list.
                    "ProjectSet".into()
                } else {
                    format!("Function Scan on {}", call.name)
                }
            }
            Operator::Filter { predicate } => {
                // PostgreSQL shows a filter on the node that produces the rows.
                let l = child_labels(self, 0);
                let mut more = extra.clone();
                more.push(format!("Filter: {}", self.expr(*predicate, &[&l])));
                if let Some(c) = node.inputs.first() {
                    return self.node(*c, level, more);
                }
                "Result".into()
            }
            Operator::Project { exprs } => {
                let child = node.inputs.first().copied();
                let zero_values = child
                    .and_then(|c| self.plan.node(c))
                    .is_some_and(|c| matches!(&c.op, Operator::Values { rows } if rows.len() == 1 && rows[0].is_empty()));
                if self.verbose {
                    let l = child_labels(self, 0);
                    details.push(format!(
                        "Output: {}",
                        exprs
                            .iter()
                            .map(|e| self.expr(*e, &[&l]))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                self.subquery_children(exprs, &mut children);
                if zero_values {
                    children.retain(|(c, _)| Some(*c) != child);
                    "Result".into()
                } else if let (Some(c), false) = (child, self.verbose) {
                    if children.len() == 1 {
                        return self.node(c, level, extra);
                    }
                    "Result".into()
                } else {
                    "Result".into()
                }
            }
            Operator::Join {
                kind,
                method,
                condition,
                left_keys,
                right_keys,
                ..
            } => {
                let ll = child_labels(self, 0);
                let rl = child_labels(self, 1);
                let keys: Vec<String> = left_keys
                    .iter()
                    .zip(right_keys.iter())
                    .map(|(a, b)| {
                        format!(
                            "({} = {})",
                            self.expr(*a, &[&ll, &ll]),
                            self.expr(*b, &[&rl, &rl])
                        )
                    })
                    .collect();
                let keys = if keys.len() == 1 {
                    keys[0].clone()
                } else {
                    format!("({})", keys.join(" AND "))
                };
                let base = match method {
                    JoinMethod::NestedLoop => "Nested Loop",
                    JoinMethod::Hash => "Hash",
                    JoinMethod::Merge => "Merge",
                };
                if !left_keys.is_empty() {
                    match method {
                        JoinMethod::Hash => details.push(format!("Hash Cond: {keys}")),
                        JoinMethod::Merge => details.push(format!("Merge Cond: {keys}")),
                        JoinMethod::NestedLoop => details.push(format!("Join Filter: {keys}")),
                    }
                }
                if let RSome(c) = condition {
                    details.push(format!("Join Filter: {}", self.expr(*c, &[&ll, &rl])));
                }
                hash_right = *method == JoinMethod::Hash;
                let k = match kind {
                    JoinKind::Inner | JoinKind::Cross => "",
                    JoinKind::Left => " Left",
                    JoinKind::Right => " Right",
                    JoinKind::Full => " Full",
                    JoinKind::Semi => " Semi",
                    JoinKind::Anti => " Anti",
                };
                if *method == JoinMethod::NestedLoop {
                    if k.is_empty() {
                        base.to_string()
                    } else {
                        format!("{base}{k} Join")
                    }
                } else {
                    format!("{base}{k} Join")
                }
            }
            Operator::Aggregate {
                strategy,
                group_by,
                aggregates,
            } => {
                let l = child_labels(self, 0);
                if !group_by.is_empty() {
                    details.push(format!(
                        "Group Key: {}",
                        group_by
                            .iter()
                            .map(|e| self.expr(*e, &[&l]))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                let mut exprs = Vec::new();
                for a in aggregates.iter() {
                    exprs.extend(a.args.iter().copied());
                }
                self.subquery_children(&exprs, &mut children);
                match strategy {
                    AggStrategy::Plain => "Aggregate",
                    AggStrategy::Hash => "HashAggregate",
                    AggStrategy::Sorted => "GroupAggregate",
                }
                .into()
            }
            Operator::Window { .. } => "WindowAgg".into(),
            Operator::Sort { keys } => {
                let l = child_labels(self, 0);
                details.push(format!("Sort Key: {}", self.sort_keys(keys, &[&l])));
                "Sort".into()
            }
            Operator::Limit { .. } => "Limit".into(),
            Operator::Distinct { on } => {
                if on.is_empty() {
                    let l = child_labels(self, 0);
                    details.push(format!("Group Key: {}", l.join(", ")));
                    "HashAggregate".into()
                } else {
                    "Unique".into()
                }
            }
            Operator::SetOp { op, all } => match (op, all) {
                (SetOpKind::Union, true) => "Append".into(),
                (SetOpKind::Union, false) => {
                    let l = child_labels(self, 0);
                    details.push(format!("Group Key: {}", l.join(", ")));
                    "HashAggregate".into()
                }
                (SetOpKind::Intersect, a) => {
                    format!("HashSetOp Intersect{}", if *a { " All" } else { "" })
                }
                (SetOpKind::Except, a) => {
                    format!("HashSetOp Except{}", if *a { " All" } else { "" })
                }
            },
            Operator::RecursiveUnion { .. } => "Recursive Union".into(),
            Operator::WorkTableScan { worktable } => {
                match self.cte_names.iter().find(|c| c.0 == *worktable) {
                    Some((_, name)) => format!("CTE Scan on {name}"),
                    None => format!("WorkTable Scan on worktable{worktable}"),
                }
            }
            Operator::WithDml { .. } => "With".into(),
            Operator::Insert { table, .. } => format!("Insert on {}", self.table_name(*table)),
            Operator::Update { table, .. } => format!("Update on {}", self.table_name(*table)),
            Operator::Delete { table, .. } => format!("Delete on {}", self.table_name(*table)),
            Operator::Ddl(_) => "Utility Statement".into(),
            Operator::Explain { .. } => "Explain".into(),
            Operator::Analyze { .. } => "Analyze".into(),
            Operator::Utility(_) => "Utility Statement".into(),
            Operator::Extension { name, .. } => format!("Custom Scan ({name})"),
            Operator::CopyFrom { table_name, .. } => format!("Copy From on {table_name}"),
            Operator::CopyTo { .. } => "Copy To".into(),
        };
        // Subqueries in filters and projections show as SubPlans.
        if let Operator::Filter { .. } = &node.op {
        } else {
            let own: Vec<ExprRef> = match &node.op {
                Operator::SeqScan {
                    filter: RSome(f), ..
                } => vec![*f],
                Operator::IndexScan {
                    filter: RSome(f), ..
                } => vec![*f],
                _ => Vec::new(),
            };
            self.subquery_children(&own, &mut children);
        }
        if self.verbose
            && !matches!(
                node.op,
                Operator::Project { .. }
                    | Operator::Insert { .. }
                    | Operator::Update { .. }
                    | Operator::Delete { .. }
            )
        {
            let out = self.labels(n);
            if !out.is_empty() {
                details.insert(0, format!("Output: {}", out.join(", ")));
            }
        }
        let head = self.head(n, name);
        self.push(level, head);
        for d in details.into_iter().chain(extra) {
            self.detail(level, d);
        }
        let nchildren = children.iter().filter(|(_, t)| t.is_empty()).count();
        // Position among the node's inputs (tagged CTEs/SubPlans not counted).
        let mut pos = 0;
        // The inner side of a lateral join reads the current outer row.
        let lateral_left = match &node.op {
            Operator::Join { lateral: true, .. } => Some(child_labels(self, 0)),
            _ => None,
        };
        for (c, tag) in children {
            if let Some(t) = tag.first() {
                // PostgreSQL: "SubPlan N" at the detail indent, its tree
                // two columns further in.
                self.detail(level, t.clone());
                self.shift += 2;
                let r = self.node(c, level + 1, Vec::new());
                self.shift -= 2;
                r?;
                continue;
            }
            let i = pos;
            pos += 1;
            if i == 1 {
                if let Some(l) = &lateral_left {
                    self.outer.push(l.clone());
                    let r = self.node(c, level + 1, Vec::new());
                    self.outer.pop();
                    r?;
                    continue;
                }
            }
            if hash_right && i == 1 && nchildren >= 2 {
                // PostgreSQL shows the build side under a Hash node.
                let Some(cn) = self.plan.node(c) else {
                    continue;
                };
                let width: u32 = cn.output.iter().map(type_width).sum();
                let mut h = format!(
                    "Hash  (cost=0.00..{:.2} rows={} width={width})",
                    cn.est_cost.max(0.0),
                    cn.est_rows.max(0.0).round() as u64
                );
                if self.analyze {
                    if let Some(st) = self.stats.get(c as usize).filter(|s| s.executed) {
                        h.push_str(&format!(
                            " (actual time={:.3}..{:.3} rows={} loops={})",
                            st.total_us / 1000.0,
                            st.total_us / 1000.0,
                            st.rows,
                            st.loops.max(1)
                        ));
                    } else {
                        h.push_str(" (never executed)");
                    }
                }
                self.push(level + 1, h);
                self.node(c, level + 2, Vec::new())?;
            } else {
                self.node(c, level + 1, Vec::new())?;
            }
        }
        Ok(())
    }

    /// A `WithDml` node's main input and its CTEs as tagged children.
    fn with_dml_parts(&self, n: NodeRef) -> DbResult<(NodeRef, Vec<Child>)> {
        let node = node_of(self.plan, n)?;
        let Operator::WithDml { ctes } = &node.op else {
            return Err(bad_plan(format!("node {n} is not WithDml")));
        };
        let main = *node
            .inputs
            .first()
            .ok_or_else(|| bad_plan("WithDml without a main input"))?;
        let tagged = ctes
            .iter()
            .zip(node.inputs.iter().skip(1))
            .map(|(c, i)| (*i, vec![format!("CTE {}", c.name)]))
            .collect();
        Ok((main, tagged))
    }

    fn subquery_children(&mut self, exprs: &[ExprRef], out: &mut Vec<Child>) {
        let mut stack: Vec<ExprRef> = exprs.to_vec();
        while let Some(e) = stack.pop() {
            let Some(ex) = self.plan.expr(e) else {
                continue;
            };
            if let ExprKind::Subquery { plan, arg, .. } = &ex.kind {
                self.subplans += 1;
                out.push((*plan, vec![format!("SubPlan {}", self.subplans)]));
                if let RSome(a) = arg {
                    stack.push(*a);
                }
            } else {
                crate::ops::child_exprs(&ex.kind, &mut stack);
            }
        }
    }
}
