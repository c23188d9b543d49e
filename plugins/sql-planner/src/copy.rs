//! COPY: `FROM STDIN` becomes an `Insert` fed by a `CopyFrom` source (the
//! data arrives after planning, as the statement's one hidden parameter);
//! `TO STDOUT` is the query whose rows the surface writes as COPY data.

use crate::dml::{checks, column_default, column_index, finish, generated_exprs, lower_expr};
use crate::expr::Binder;
use crate::logical::LExpr;
use crate::shared::{ident_name, resolve_table};
use aiondb_sdk::ident::quote_ident;
use aiondb_sdk::plan::{CheckConstraint, CopyFormat, CopyOptions, Operator};
use aiondb_sdk::prelude::*;
use sqlparser::ast;

pub(crate) fn plan_copy(
    ctx: &PlanContext,
    services: &Services,
    stmt: &ast::Statement,
) -> DbResult<Option<Plan>> {
    let ast::Statement::Copy {
        source,
        to,
        target,
        options,
        legacy_options,
        ..
    } = stmt
    else {
        return Ok(None);
    };
    let (mut opts, force_quote) = copy_options(options, legacy_options)?;
    match (target, *to) {
        (ast::CopyTarget::Stdin, false) | (ast::CopyTarget::Stdout, true) => {}
        (ast::CopyTarget::File { .. } | ast::CopyTarget::Program { .. }, _) => {
            return Err(AionError::feature_not_supported(
                "COPY to or from a file or program on the server is not supported",
            )
            .with_hint("Use COPY ... FROM STDIN or COPY ... TO STDOUT (psql's \\copy)."))
        }
        (ast::CopyTarget::Stdin, true) | (ast::CopyTarget::Stdout, false) => {
            return Err(AionError::new(
                SqlState::SYNTAX_ERROR,
                "COPY FROM reads STDIN and COPY TO writes STDOUT",
            ))
        }
    }
    if *to {
        let plan = match source {
            ast::CopySource::Query(q) => crate::planner::plan_query(ctx, services, q)?,
            ast::CopySource::Table {
                table_name,
                columns,
            } => {
                let table = resolve_table(ctx, services, table_name)?;
                if table.kind != RelationKind::Table {
                    return Err(AionError::new(
                        SqlState::new(b"42809"),
                        format!("cannot copy from view \"{}\"", table.name),
                    )
                    .with_hint("Try the COPY (SELECT ...) TO variant."));
                }
                let list = if columns.is_empty() {
                    table
                        .columns
                        .iter()
                        .map(|c| quote_ident(c.name.as_str()))
                        .collect::<Vec<_>>()
                        .join(", ")
                } else {
                    let mut v = Vec::new();
                    for c in columns {
                        let n = ident_name(c);
                        column_index(&table, &n)?;
                        v.push(quote_ident(&n));
                    }
                    v.join(", ")
                };
                let sql = format!("SELECT {list} FROM {table_name}");
                let ast::Statement::Query(q) = crate::shared::parse_stored(services, &sql)? else {
                    return Err(AionError::internal(
                        "COPY TO: generated query did not parse",
                    ));
                };
                crate::planner::plan_query(ctx, services, &q)?
            }
        };
        for name in force_quote {
            if name == "*" {
                opts.force_quote_all = true;
                continue;
            }
            let pos = plan
                .output
                .fields
                .iter()
                .position(|f| f.name.as_str() == name)
                .ok_or_else(|| {
                    AionError::new(
                        SqlState::UNDEFINED_COLUMN,
                        format!("FORCE_QUOTE column \"{name}\" not referenced by COPY"),
                    )
                })?;
            opts.force_quote.push(pos as u32);
        }
        return Ok(Some(wrap_copy_to(plan, opts)));
    }
    if !force_quote.is_empty() {
        return Err(AionError::feature_not_supported(
            "COPY force quote only available using COPY TO",
        ));
    }
    let ast::CopySource::Table {
        table_name,
        columns,
    } = source
    else {
        return Err(AionError::new(
            SqlState::SYNTAX_ERROR,
            "COPY FROM does not take a query",
        ));
    };
    plan_copy_from(ctx, services, table_name, columns, opts).map(Some)
}

/// Puts a `CopyTo` root over a planned query.
fn wrap_copy_to(mut plan: Plan, options: CopyOptions) -> Plan {
    let types: RVec<DataType> = plan.output.fields.iter().map(|f| f.data_type).collect();
    let (rows, cost) = plan
        .node(plan.root)
        .map_or((0.0, 0.0), |n| (n.est_rows, n.est_cost));
    plan.nodes.push(aiondb_sdk::plan::PlanNode {
        op: Operator::CopyTo { options },
        inputs: RVec::from(vec![plan.root]),
        est_rows: rows,
        est_cost: cost,
        output: types,
    });
    plan.root = (plan.nodes.len() - 1) as u32;
    plan.command = RString::from("COPY");
    plan
}

fn plan_copy_from(
    ctx: &PlanContext,
    services: &Services,
    table_name: &ast::ObjectName,
    columns: &[ast::Ident],
    options: CopyOptions,
) -> DbResult<Plan> {
    let mut binder = Binder::new(ctx, services);
    let table = resolve_table(ctx, services, table_name)?;
    if table.kind != RelationKind::Table {
        let what = if table.kind == RelationKind::View {
            "view"
        } else {
            "sequence"
        };
        return Err(AionError::new(
            SqlState::new(b"42809"),
            format!("cannot copy to {what} \"{}\"", table.name),
        ));
    }
    binder.tables.push(table.id);
    let ncols = table.columns.len();
    // Without a column list: every column but the generated ones.
    let target: Vec<usize> = if columns.is_empty() {
        (0..ncols)
            .filter(|&i| table.columns[i].identity != Identity::Stored)
            .collect()
    } else {
        let mut v = Vec::new();
        for c in columns {
            let n = ident_name(c);
            let i = column_index(&table, &n)?;
            if v.contains(&i) {
                return Err(AionError::new(
                    SqlState::new(b"42701"),
                    format!("column \"{n}\" specified more than once"),
                ));
            }
            if table.columns[i].identity == Identity::Stored {
                return Err(AionError::new(
                    SqlState::new(b"42P10"),
                    format!("column \"{n}\" is a generated column"),
                )
                .with_detail("Generated columns cannot be used in COPY."));
            }
            v.push(i);
        }
        v
    };
    let src_ids: Vec<u32> = target
        .iter()
        .map(|&i| {
            let c = &table.columns[i];
            binder.new_col(c.name.as_str(), c.data_type)
        })
        .collect();
    let mut row: Vec<LExpr> = Vec::with_capacity(ncols);
    for c in 0..ncols {
        row.push(match target.iter().position(|&t| t == c) {
            Some(k) => LExpr::col(src_ids[k], table.columns[c].data_type),
            None => column_default(&mut binder, &table, c)?,
        });
    }
    let has_generated = table.columns.iter().any(|c| c.identity == Identity::Stored);
    let full_ids: Vec<u32> = table
        .columns
        .iter()
        .map(|c| binder.new_col(c.name.as_str(), c.data_type))
        .collect();
    let generated = if has_generated {
        generated_exprs(&mut binder, &table, &full_ids)?
    } else {
        Vec::new()
    };
    let (check_list, check_ids) = checks(&mut binder, &table)?;

    let mut pb = std::mem::take(&mut binder.pre);
    let table_types: Vec<DataType> = table.columns.iter().map(|c| c.data_type).collect();
    let src = pb.node(
        Operator::CopyFrom {
            table_name: RString::from(table.name.as_str()),
            columns: target
                .iter()
                .map(|&i| table.columns[i].name.clone())
                .collect(),
            options,
        },
        vec![],
        target.iter().map(|&i| table.columns[i].data_type).collect(),
        1000.0,
        1000.0,
    );
    let mut exprs = Vec::with_capacity(ncols);
    for e in &row {
        exprs.push(lower_expr(&binder, &mut pb, e, &[&src_ids])?);
    }
    let mut input = pb.node(
        Operator::Project {
            exprs: RVec::from(exprs),
        },
        vec![src],
        table_types.clone(),
        1000.0,
        1000.0,
    );
    if has_generated {
        let mut exprs = Vec::with_capacity(ncols);
        for (i, g) in generated.iter().enumerate() {
            exprs.push(match g {
                Some(e) => lower_expr(&binder, &mut pb, e, &[&full_ids])?,
                None => lower_expr(
                    &binder,
                    &mut pb,
                    &LExpr::col(full_ids[i], table_types[i]),
                    &[&full_ids],
                )?,
            });
        }
        input = pb.node(
            Operator::Project {
                exprs: RVec::from(exprs),
            },
            vec![input],
            table_types.clone(),
            1000.0,
            1000.0,
        );
    }
    let mut check_out = Vec::new();
    for (n, e) in &check_list {
        check_out.push(CheckConstraint {
            name: RString::from(n.as_str()),
            expr: lower_expr(&binder, &mut pb, e, &[&check_ids])?,
        });
    }
    pb.add_table(table.id);
    let root = pb.node(
        Operator::Insert {
            table: table.id,
            checks: RVec::from(check_out),
            on_conflict: ROption::RNone,
            returning: RVec::new(),
        },
        vec![input],
        vec![],
        1000.0,
        1000.0,
    );
    Ok(finish(&binder, pb, root, &[], "COPY"))
}

fn one_byte(c: char, what: &str) -> DbResult<u8> {
    if c.is_ascii() && c != '\n' && c != '\r' {
        Ok(c as u8)
    } else {
        Err(AionError::feature_not_supported(format!(
            "COPY {what} must be a single one-byte character"
        )))
    }
}

/// Reads COPY's options (new and pre-9.0 spellings) into `CopyOptions`,
/// PostgreSQL's defaults first; FORCE_QUOTE names are returned apart.
fn copy_options(
    options: &[ast::CopyOption],
    legacy: &[ast::CopyLegacyOption],
) -> DbResult<(CopyOptions, Vec<String>)> {
    use ast::{CopyLegacyCsvOption as L, CopyLegacyOption as LO, CopyOption as O};
    let mut format = CopyFormat::Text;
    for o in options {
        if let O::Format(f) = o {
            format = match f.value.to_ascii_lowercase().as_str() {
                "text" => CopyFormat::Text,
                "csv" => CopyFormat::Csv,
                "binary" => CopyFormat::Binary,
                other => {
                    return Err(AionError::new(
                        SqlState::new(b"22023"),
                        format!("COPY format \"{other}\" not recognized"),
                    ))
                }
            };
        }
    }
    for o in legacy {
        match o {
            LO::Binary => format = CopyFormat::Binary,
            LO::Csv(_) => format = CopyFormat::Csv,
            _ => {}
        }
    }
    if format == CopyFormat::Binary {
        return Err(
            AionError::feature_not_supported("COPY in binary format is not supported")
                .with_hint("Use FORMAT text or FORMAT csv."),
        );
    }
    let mut opts = CopyOptions::new(format);
    let mut force_quote = Vec::new();
    let mut quote = None;
    let mut escape = None;
    let csv_only = |what: &str| {
        AionError::feature_not_supported(format!("COPY {what} available only in CSV mode"))
    };
    let names = |cols: &[ast::Ident], out: &mut Vec<String>| {
        for c in cols {
            out.push(if c.value == "*" {
                "*".to_string()
            } else {
                ident_name(c)
            });
        }
    };
    for o in options {
        match o {
            O::Format(_) | O::Freeze(_) => {}
            O::Delimiter(c) => opts.delimiter = one_byte(*c, "delimiter")?,
            O::Null(s) => opts.null = RString::from(s.as_str()),
            O::Header(h) => opts.header = *h,
            O::Quote(c) => quote = Some(one_byte(*c, "quote")?),
            O::Escape(c) => escape = Some(one_byte(*c, "escape")?),
            O::ForceQuote(cols) => names(cols, &mut force_quote),
            O::ForceNotNull(_) | O::ForceNull(_) => {
                return Err(AionError::feature_not_supported(
                    "COPY FORCE_NOT_NULL and FORCE_NULL are not supported",
                ))
            }
            O::Encoding(e) => {
                let e = e.to_ascii_uppercase().replace('-', "");
                if e != "UTF8" && e != "UNICODE" {
                    return Err(AionError::feature_not_supported(
                        "COPY ENCODING other than UTF8 is not supported",
                    ));
                }
            }
        }
    }
    for o in legacy {
        match o {
            LO::Binary => {}
            LO::Delimiter(c) => opts.delimiter = one_byte(*c, "delimiter")?,
            LO::Null(s) => opts.null = RString::from(s.as_str()),
            LO::Header => opts.header = true,
            LO::Csv(list) => {
                for l in list {
                    match l {
                        L::Header => opts.header = true,
                        L::Quote(c) => quote = Some(one_byte(*c, "quote")?),
                        L::Escape(c) => escape = Some(one_byte(*c, "escape")?),
                        L::ForceQuote(cols) => names(cols, &mut force_quote),
                        L::ForceNotNull(_) => {
                            return Err(AionError::feature_not_supported(
                                "COPY FORCE NOT NULL is not supported",
                            ))
                        }
                    }
                }
            }
            other => {
                return Err(AionError::new(
                    SqlState::SYNTAX_ERROR,
                    format!("COPY option \"{other}\" is not PostgreSQL's"),
                ))
            }
        }
    }
    if format != CopyFormat::Csv {
        if quote.is_some() {
            return Err(csv_only("quote"));
        }
        if escape.is_some() {
            return Err(csv_only("escape"));
        }
        if !force_quote.is_empty() {
            return Err(csv_only("force quote"));
        }
    }
    if let Some(q) = quote {
        opts.quote = q;
        opts.escape = q;
    }
    if let Some(e) = escape {
        opts.escape = e;
    }
    if format == CopyFormat::Text
        && matches!(opts.delimiter, b'\\' | b'.' | b'a'..=b'z' | b'0'..=b'9')
    {
        return Err(AionError::feature_not_supported(format!(
            "COPY delimiter cannot be \"{}\"",
            opts.delimiter as char
        )));
    }
    if opts.null.as_str().contains(opts.delimiter as char) {
        return Err(AionError::feature_not_supported(
            "COPY delimiter must not appear in the NULL specification",
        ));
    }
    if format == CopyFormat::Csv && opts.delimiter == opts.quote {
        return Err(AionError::feature_not_supported(
            "COPY delimiter and quote must be different",
        ));
    }
    Ok((opts, force_quote))
}
