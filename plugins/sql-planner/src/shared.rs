//! Entry point and the pieces every planning module shares. Owned by the
//! query/DML planner; `ddl` and `utility` call into it.
//!
//! Stable interface for `ddl.rs` / `utility.rs`:
//! * [`PlanBuilder`]: the plan arenas (`expr`, `node`, `finish`).
//! * [`Planning`]: context + services + builder handed to `ddl::plan_ddl`.
//! * [`resolve_table`], [`resolve_schema`], [`object_parts`]: names.
//! * [`bind_table_expr`]: an expression over one table's row.
//! * [`query_output_schema`]: the result columns of a query (CREATE VIEW).
//! * [`sql_data_type`]: sqlparser's `DataType` to ours.

use aiondb_sdk::plan::{Expr, ExprKind, ExprRef, NodeRef, Operator, PlanNode};
use aiondb_sdk::prelude::*;
use sqlparser::ast;

/// Arena under construction: nodes and expressions pushed in any order,
/// referenced by index.
#[derive(Default, Debug, Clone)]
pub struct PlanBuilder {
    pub nodes: Vec<PlanNode>,
    pub exprs: Vec<Expr>,
    /// Parameter types, `$1` first (grown as parameters are seen).
    pub param_types: Vec<DataType>,
    pub tables: Vec<TableId>,
    pub writes: bool,
    /// Scan nodes' relation aliases (EXPLAIN).
    pub aliases: Vec<aiondb_sdk::plan::RelationAlias>,
}

impl PlanBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Pushes an expression and returns its reference.
    pub fn expr(&mut self, kind: ExprKind, data_type: DataType) -> ExprRef {
        self.exprs.push(Expr { kind, data_type });
        (self.exprs.len() - 1) as ExprRef
    }

    /// A constant expression.
    pub fn constant(&mut self, value: Value, data_type: DataType) -> ExprRef {
        self.expr(ExprKind::Const(value), data_type)
    }

    /// Pushes a node and returns its reference.
    pub fn node(
        &mut self,
        op: Operator,
        inputs: Vec<NodeRef>,
        output: Vec<DataType>,
        est_rows: f64,
        est_cost: f64,
    ) -> NodeRef {
        self.nodes.push(PlanNode {
            op,
            inputs: RVec::from(inputs),
            est_rows,
            est_cost,
            output: RVec::from(output),
        });
        (self.nodes.len() - 1) as NodeRef
    }

    /// Records a table the plan reads or writes (deduplicated).
    pub fn add_table(&mut self, id: TableId) {
        if !self.tables.contains(&id) {
            self.tables.push(id);
        }
    }

    /// Finishes the plan rooted at `root`.
    pub fn finish(self, services: &Services, root: NodeRef, output: Schema, command: &str) -> Plan {
        Plan {
            nodes: RVec::from(self.nodes),
            exprs: RVec::from(self.exprs),
            root,
            output,
            param_types: RVec::from(
                self.param_types
                    .into_iter()
                    .map(|t| {
                        if t.id == TypeId::Unknown {
                            DataType::TEXT
                        } else {
                            t
                        }
                    })
                    .collect::<Vec<_>>(),
            ),
            command: RString::from(command),
            catalog_version: services.catalog.version(),
            tables: RVec::from(self.tables),
            writes: self.writes,
            cache_id: 0,
            aliases: RVec::from(self.aliases),
        }
    }
}

/// What `ddl::plan_ddl` gets: the session context, the services and a
/// fresh builder.
pub struct Planning<'a> {
    pub ctx: &'a PlanContext,
    pub services: &'a Services,
    pub builder: PlanBuilder,
}

/// Decodes the syntax tree and plans the statement.
pub(crate) fn plan_tree(
    ctx: &PlanContext,
    services: &Services,
    tree: &SyntaxTree,
) -> DbResult<Plan> {
    let stmt = decode_statement(tree)?;
    plan_statement(ctx, services, &stmt)
}

/// Parses SQL text stored in the catalog (view queries, defaults, CHECK
/// constraints) through the registered `sql.parser/1` provider: the
/// planner never parses text on its own.
pub(crate) fn parse_stored(services: &Services, sql: &str) -> DbResult<ast::Statement> {
    let trees = services
        .parser
        .parse(RStr::from_str(sql))
        .into_result()
        .map_err(|e| {
            AionError::internal(format!(
                "SQL text stored in the catalog does not parse ({}): {sql}",
                e.message
            ))
        })?;
    match trees.first() {
        Some(t) => decode_statement(t),
        None => Err(AionError::internal(
            "SQL text stored in the catalog is empty",
        )),
    }
}

pub(crate) fn decode_statement(tree: &SyntaxTree) -> DbResult<ast::Statement> {
    use aiondb_sdk::syntax::generic::{decode_json, SCHEMA_SQLPARSER};
    if tree.schema.as_str() != SCHEMA_SQLPARSER {
        return Err(AionError::feature_not_supported(format!(
            "syntax tree schema {} is not supported",
            tree.schema
        )));
    }
    serde_json::from_value(decode_json(tree)?)
        .map_err(|e| AionError::internal(format!("cannot decode statement: {e}")))
}

/// Plans one statement.
pub fn plan_statement(
    ctx: &PlanContext,
    services: &Services,
    stmt: &ast::Statement,
) -> DbResult<Plan> {
    if let Some(plan) = crate::utility::plan_set_config(services, stmt)? {
        return Ok(plan);
    }
    if let Some(plan) = crate::copy::plan_copy(ctx, services, stmt)? {
        return Ok(plan);
    }
    if let Some(plan) = crate::planner::plan_own(ctx, services, stmt)? {
        return Ok(plan);
    }
    if let Some(plan) = crate::utility::plan_utility(ctx, services, stmt)? {
        return Ok(plan);
    }
    let mut p = Planning {
        ctx,
        services,
        builder: PlanBuilder::new(),
    };
    if let Some(plan) = crate::ddl::plan_ddl(&mut p, stmt)? {
        return Ok(plan);
    }
    Err(AionError::feature_not_supported(format!(
        "statement not supported: {}",
        first_words(&stmt.to_string())
    )))
}

fn first_words(s: &str) -> String {
    s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// Folds an identifier as PostgreSQL does: unquoted names are lower-cased.
pub fn ident_name(id: &ast::Ident) -> String {
    if id.quote_style.is_some() {
        id.value.clone()
    } else {
        id.value.to_lowercase()
    }
}

/// The folded parts of a dotted name.
pub fn object_parts(name: &ast::ObjectName) -> DbResult<Vec<String>> {
    name.0
        .iter()
        .map(|p| match p.as_ident() {
            Some(id) => Ok(ident_name(id)),
            None => Err(AionError::new(
                SqlState::SYNTAX_ERROR,
                format!("invalid name syntax: {name}"),
            )),
        })
        .collect()
}

/// Looks a schema up (3F000 when missing).
pub fn resolve_schema(services: &Services, name: &str) -> DbResult<SchemaDef> {
    services
        .catalog
        .schema_by_name(RStr::from_str(name))
        .into_option()
        .ok_or_else(|| {
            AionError::new(
                SqlState::INVALID_SCHEMA_NAME,
                format!("schema \"{name}\" does not exist"),
            )
        })
}

/// The schemas searched for an unqualified name: `pg_catalog` first unless
/// the search path names it, then the search path.
pub fn search_schemas(ctx: &PlanContext) -> Vec<String> {
    let mut out = Vec::new();
    if !ctx.search_path.iter().any(|s| s.as_str() == "pg_catalog") {
        out.push("pg_catalog".to_string());
    }
    for s in ctx.search_path.iter() {
        let s = s.as_str().trim();
        if s == "$user" {
            out.push(ctx.user.to_string());
        } else {
            out.push(s.to_string());
        }
    }
    if ctx.search_path.is_empty() {
        out.push("public".to_string());
    }
    out
}

/// Resolves a (possibly qualified) relation name through the search path
/// (42P01 when missing).
pub fn resolve_table(
    ctx: &PlanContext,
    services: &Services,
    name: &ast::ObjectName,
) -> DbResult<TableDef> {
    let parts = object_parts(name)?;
    let missing = || {
        AionError::new(
            SqlState::UNDEFINED_TABLE,
            format!("relation \"{}\" does not exist", parts.join(".")),
        )
    };
    match parts.len() {
        1 => lookup_table(ctx, services, &parts[0]).ok_or_else(missing),
        2 | 3 => {
            let schema = &parts[parts.len() - 2];
            let s = resolve_schema(services, schema)?;
            services
                .catalog
                .table_by_name(s.id, RStr::from_str(&parts[parts.len() - 1]))
                .into_option()
                .ok_or_else(missing)
        }
        _ => Err(AionError::new(
            SqlState::SYNTAX_ERROR,
            format!("improper relation name (too many dotted names): {name}"),
        )),
    }
}

/// Whether `schema` holds a table, view or sequence called `name`.
pub fn schema_has_relation(services: &Services, schema: &str, name: &str) -> bool {
    match services
        .catalog
        .schema_by_name(RStr::from_str(schema))
        .into_option()
    {
        Some(s) => {
            services
                .catalog
                .table_by_name(s.id, RStr::from_str(name))
                .is_some()
                || services
                    .catalog
                    .sequence_by_name(s.id, RStr::from_str(name))
                    .is_some()
        }
        None => false,
    }
}

/// Unqualified lookup through the search path.
pub fn lookup_table(ctx: &PlanContext, services: &Services, name: &str) -> Option<TableDef> {
    for schema in search_schemas(ctx) {
        if let Some(s) = services
            .catalog
            .schema_by_name(RStr::from_str(&schema))
            .into_option()
        {
            if let Some(t) = services
                .catalog
                .table_by_name(s.id, RStr::from_str(name))
                .into_option()
            {
                return Some(t);
            }
        }
    }
    None
}

/// Binds `expr` over one table's row (column `i` = table column `i`): CHECK
/// constraints, ALTER TABLE fill values, defaults.
pub fn bind_table_expr(
    builder: &mut PlanBuilder,
    services: &Services,
    table: &TableDef,
    expr: &ast::Expr,
) -> DbResult<ExprRef> {
    crate::planner::bind_table_expr(builder, services, table, expr)
}

/// The result columns a query would produce (CREATE VIEW).
pub fn query_output_schema(
    ctx: &PlanContext,
    services: &Services,
    query: &ast::Query,
) -> DbResult<Schema> {
    crate::planner::query_output_schema(ctx, services, query)
}

/// Converts a SQL type as written to ours (42704 for unknown types).
pub fn sql_data_type(dt: &ast::DataType) -> DbResult<DataType> {
    crate::types::sql_data_type(dt)
}
