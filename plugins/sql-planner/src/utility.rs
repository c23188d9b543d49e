//! Transaction control, SET/SHOW/RESET: produces `Operator::Utility`, which
//! the kernel session runs itself. Setting names are spelled as PostgreSQL
//! spells them (`TimeZone`, `DateStyle`); values are the text SHOW prints
//! back (`SET search_path = a, "B"` stores `a, "B"`).

use aiondb_sdk::capability::IsolationLevel;
use aiondb_sdk::plan::{Operator, Utility};
use aiondb_sdk::prelude::*;
use sqlparser::ast;

use crate::shared::{ident_name, PlanBuilder};

/// Settings whose canonical names are not lower case.
const MIXED_CASE_SETTINGS: &[&str] = &["DateStyle", "IntervalStyle", "TimeZone"];

/// Settings whose value is a list of identifiers (GUC_LIST_QUOTE).
const LIST_SETTINGS: &[&str] = &["search_path"];

/// Plans a utility statement; `Ok(None)` when `stmt` is not one.
pub fn plan_utility(
    _ctx: &PlanContext,
    services: &Services,
    stmt: &ast::Statement,
) -> DbResult<Option<Plan>> {
    use ast::Statement as S;
    let (u, command) = match stmt {
        S::StartTransaction {
            modes,
            begin,
            statements,
            ..
        } => {
            if !statements.is_empty() {
                return Err(AionError::feature_not_supported(
                    "BEGIN ... END blocks are not supported",
                ));
            }
            let (isolation, read_only) = transaction_modes(modes)?;
            (
                Utility::Begin {
                    isolation: isolation.into(),
                    read_only: read_only.into(),
                },
                if *begin { "BEGIN" } else { "START TRANSACTION" },
            )
        }
        S::Commit { chain, .. } => {
            no_chain(*chain)?;
            (Utility::Commit, "COMMIT")
        }
        S::Rollback { chain, savepoint } => {
            no_chain(*chain)?;
            match savepoint {
                Some(sp) => (
                    Utility::RollbackToSavepoint(ident_name(sp).into()),
                    "ROLLBACK",
                ),
                None => (Utility::Rollback, "ROLLBACK"),
            }
        }
        S::Savepoint { name } => (Utility::Savepoint(ident_name(name).into()), "SAVEPOINT"),
        S::ReleaseSavepoint { name } => (
            Utility::ReleaseSavepoint(ident_name(name).into()),
            "RELEASE",
        ),
        S::Set(set) => (plan_set(set)?, "SET"),
        S::Reset(r) => match &r.reset {
            ast::Reset::ALL => (Utility::ResetAll, "RESET"),
            ast::Reset::ConfigurationParameter(name) => {
                (Utility::Reset(setting_name(name)?.into()), "RESET")
            }
            ast::Reset::SessionAuthorization => {
                (Utility::Reset("session_authorization".into()), "RESET")
            }
        },
        S::ShowVariable { variable } => {
            let words: Vec<String> = variable.iter().map(ident_name).collect();
            let joined = words.join(" ");
            match joined.as_str() {
                "all" => {
                    let output = Schema::new(vec![
                        Field::new("name", DataType::TEXT, false),
                        Field::new("setting", DataType::TEXT, true),
                        Field::new("description", DataType::TEXT, true),
                    ]);
                    return Ok(Some(finish(services, Utility::ShowAll, "SHOW", output)));
                }
                _ => {
                    let name = match joined.as_str() {
                        "transaction isolation level" => "transaction_isolation".to_string(),
                        "time zone" => "TimeZone".to_string(),
                        "session authorization" => "session_authorization".to_string(),
                        _ => canonical(&words.join(".")),
                    };
                    let output = Schema::new(vec![Field::new(name.clone(), DataType::TEXT, true)]);
                    return Ok(Some(finish(
                        services,
                        Utility::Show(name.into()),
                        "SHOW",
                        output,
                    )));
                }
            }
        }
        S::Deallocate { name, .. } => {
            // `ALL` comes through as a name; a quoted "ALL" is a name.
            if name.quote_style.is_none() && name.value.eq_ignore_ascii_case("all") {
                (Utility::Deallocate(ROption::RNone), "DEALLOCATE ALL")
            } else {
                (
                    Utility::Deallocate(ROption::RSome(ident_name(name).into())),
                    "DEALLOCATE",
                )
            }
        }
        S::CreateRole(cr) => crate::roles::plan_create_role(cr)?,
        S::AlterRole { name, operation } => crate::roles::plan_alter_role(name, operation)?,
        S::Drop {
            object_type: ast::ObjectType::Role | ast::ObjectType::User,
            if_exists,
            names,
            cascade,
            ..
        } => crate::roles::plan_drop_role(names, *if_exists, *cascade)?,
        _ => return Ok(None),
    };
    Ok(Some(finish(services, u, command, Schema::default())))
}

/// `SELECT set_config('name', 'value', is_local)` (constant arguments, no
/// FROM), the form clients and dump tools send: planned as a session
/// utility because only the session can change its settings.
pub fn plan_set_config(services: &Services, stmt: &ast::Statement) -> DbResult<Option<Plan>> {
    let ast::Statement::Query(q) = stmt else {
        return Ok(None);
    };
    if q.with.is_some() || q.order_by.is_some() || q.limit_clause.is_some() {
        return Ok(None);
    }
    let ast::SetExpr::Select(sel) = q.body.as_ref() else {
        return Ok(None);
    };
    if !sel.from.is_empty() || sel.selection.is_some() || sel.projection.len() != 1 {
        return Ok(None);
    }
    let (expr, alias) = match &sel.projection[0] {
        ast::SelectItem::UnnamedExpr(e) => (e, None),
        ast::SelectItem::ExprWithAlias { expr, alias } => (expr, Some(ident_name(alias))),
        _ => return Ok(None),
    };
    let ast::Expr::Function(f) = expr else {
        return Ok(None);
    };
    let parts = crate::shared::object_parts(&f.name)?;
    let is_set_config = match parts.as_slice() {
        [n] => n == "set_config",
        [s, n] => s == "pg_catalog" && n == "set_config",
        _ => false,
    };
    if !is_set_config {
        return Ok(None);
    }
    let ast::FunctionArguments::List(list) = &f.args else {
        return Ok(None);
    };
    let mut args = Vec::new();
    for a in &list.args {
        let ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(ast::Expr::Value(v))) = a else {
            return Ok(None);
        };
        args.push(v.value.clone());
    }
    let (name, value, local) = match args.as_slice() {
        [ast::Value::SingleQuotedString(n), ast::Value::SingleQuotedString(v), ast::Value::Boolean(l)] => {
            (n.clone(), v.clone(), *l)
        }
        _ => return Ok(None),
    };
    let output = Schema::new(vec![Field::new(
        alias.unwrap_or_else(|| "set_config".to_string()),
        DataType::TEXT,
        true,
    )]);
    let u = Utility::SetConfig {
        name: canonical(&name).into(),
        value: value.into(),
        local,
    };
    Ok(Some(finish(services, u, "SELECT", output)))
}

fn finish(services: &Services, u: Utility, command: &str, output: Schema) -> Plan {
    let mut b = PlanBuilder::new();
    let root = b.node(Operator::Utility(u), Vec::new(), Vec::new(), 0.0, 0.0);
    b.finish(services, root, output, command)
}

fn no_chain(chain: bool) -> DbResult<()> {
    if chain {
        return Err(AionError::feature_not_supported(
            "COMMIT AND CHAIN / ROLLBACK AND CHAIN are not supported",
        ));
    }
    Ok(())
}

type TxnModes = (Option<IsolationLevel>, Option<bool>);

fn transaction_modes(modes: &[ast::TransactionMode]) -> DbResult<TxnModes> {
    let (mut isolation, mut read_only) = (None, None);
    for m in modes {
        match m {
            ast::TransactionMode::IsolationLevel(l) => {
                isolation = Some(match l {
                    // As in PostgreSQL, READ UNCOMMITTED behaves as READ COMMITTED.
                    ast::TransactionIsolationLevel::ReadUncommitted
                    | ast::TransactionIsolationLevel::ReadCommitted => {
                        IsolationLevel::ReadCommitted
                    }
                    ast::TransactionIsolationLevel::RepeatableRead
                    | ast::TransactionIsolationLevel::Snapshot => IsolationLevel::RepeatableRead,
                    ast::TransactionIsolationLevel::Serializable => IsolationLevel::Serializable,
                })
            }
            ast::TransactionMode::AccessMode(a) => {
                read_only = Some(matches!(a, ast::TransactionAccessMode::ReadOnly))
            }
        }
    }
    Ok((isolation, read_only))
}

/// PostgreSQL's spelling of a setting name.
fn canonical(name: &str) -> String {
    let lower = name.to_lowercase();
    if lower == "timezone" {
        return "TimeZone".to_string();
    }
    MIXED_CASE_SETTINGS
        .iter()
        .find(|s| s.eq_ignore_ascii_case(&lower))
        .map(|s| s.to_string())
        .unwrap_or(lower)
}

fn setting_name(name: &ast::ObjectName) -> DbResult<String> {
    let parts = crate::shared::object_parts(name)?;
    Ok(canonical(&parts.join(".")))
}

fn plan_set(set: &ast::Set) -> DbResult<Utility> {
    use ast::Set as T;
    Ok(match set {
        T::SingleAssignment {
            scope,
            variable,
            values,
            ..
        } => {
            let local = match scope {
                Some(ast::ContextModifier::Local) => true,
                Some(ast::ContextModifier::Global) => {
                    return Err(AionError::feature_not_supported(
                        "SET GLOBAL is not supported",
                    ))
                }
                _ => false,
            };
            let name = setting_name(variable)?;
            let value = set_value(&name, values)?;
            Utility::Set {
                name: name.into(),
                value: value.map(RString::from).into(),
                local,
            }
        }
        T::SetTimeZone { local, value } => {
            let v = match value {
                ast::Expr::Identifier(id)
                    if id.quote_style.is_none()
                        && (id.value.eq_ignore_ascii_case("local")
                            || id.value.eq_ignore_ascii_case("default")) =>
                {
                    None
                }
                other => Some(value_text(other, false)?),
            };
            Utility::Set {
                name: "TimeZone".into(),
                value: v.map(RString::from).into(),
                local: *local,
            }
        }
        T::SetNames { charset_name, .. } => Utility::Set {
            name: "client_encoding".into(),
            value: ROption::RSome(RString::from(charset_name.value.clone())),
            local: false,
        },
        T::SetNamesDefault {} => Utility::Set {
            name: "client_encoding".into(),
            value: ROption::RNone,
            local: false,
        },
        T::SetTransaction {
            modes,
            snapshot,
            session,
        } => {
            if snapshot.is_some() {
                return Err(AionError::feature_not_supported(
                    "SET TRANSACTION SNAPSHOT is not supported",
                ));
            }
            let (isolation, read_only) = transaction_modes(modes)?;
            if *session {
                // SET SESSION CHARACTERISTICS AS TRANSACTION: the defaults.
                match (isolation, read_only) {
                    (Some(i), None) => Utility::Set {
                        name: "default_transaction_isolation".into(),
                        value: ROption::RSome(i.name().into()),
                        local: false,
                    },
                    (None, Some(r)) => Utility::Set {
                        name: "default_transaction_read_only".into(),
                        value: ROption::RSome(if r { "on" } else { "off" }.into()),
                        local: false,
                    },
                    _ => {
                        return Err(AionError::feature_not_supported(
                            "SET SESSION CHARACTERISTICS with several modes is not supported",
                        ))
                    }
                }
            } else {
                Utility::SetTransaction {
                    isolation: isolation.into(),
                    read_only: read_only.into(),
                }
            }
        }
        other => {
            return Err(AionError::feature_not_supported(format!(
                "statement not supported: {other}"
            )))
        }
    })
}

/// The value text of `SET name = values` (`None` for DEFAULT).
fn set_value(name: &str, values: &[ast::Expr]) -> DbResult<Option<String>> {
    if let [ast::Expr::Identifier(id)] = values {
        if id.quote_style.is_none() && id.value.eq_ignore_ascii_case("default") {
            return Ok(None);
        }
    }
    let list = LIST_SETTINGS.contains(&name);
    if values.len() > 1 && !list {
        return Err(AionError::new(
            SqlState::INVALID_PARAMETER_VALUE,
            format!("SET {name} takes only one argument"),
        ));
    }
    let parts = values
        .iter()
        .map(|v| value_text(v, list))
        .collect::<DbResult<Vec<_>>>()?;
    Ok(Some(parts.join(", ")))
}

/// One SET value as PostgreSQL flattens it: identifiers and strings are
/// strings (quoted as identifiers in list settings), numbers keep their text.
fn value_text(e: &ast::Expr, quote: bool) -> DbResult<String> {
    let s = match e {
        ast::Expr::Identifier(id) => ident_name(id),
        ast::Expr::Value(v) => match &v.value {
            ast::Value::SingleQuotedString(s)
            | ast::Value::DoubleQuotedString(s)
            | ast::Value::EscapedStringLiteral(s) => s.clone(),
            ast::Value::Number(n, _) => return Ok(n.clone()),
            ast::Value::Boolean(b) => return Ok(if *b { "true" } else { "false" }.to_string()),
            other => {
                return Err(AionError::new(
                    SqlState::SYNTAX_ERROR,
                    format!("syntax error at or near \"{other}\""),
                ))
            }
        },
        ast::Expr::UnaryOp {
            op: ast::UnaryOperator::Minus,
            expr,
        } => return Ok(format!("-{}", value_text(expr, false)?)),
        ast::Expr::UnaryOp {
            op: ast::UnaryOperator::Plus,
            expr,
        } => return value_text(expr, false),
        ast::Expr::CompoundIdentifier(ids) => {
            ids.iter().map(ident_name).collect::<Vec<_>>().join(".")
        }
        other => {
            return Err(AionError::new(
                SqlState::SYNTAX_ERROR,
                format!("syntax error at or near \"{other}\""),
            ))
        }
    };
    Ok(if quote {
        crate::ddl::quote_ident(&s)
    } else {
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::dialect::PostgreSqlDialect;
    use sqlparser::parser::Parser;

    fn services() -> Services {
        crate::ddl::test_services()
    }

    fn plan(sql: &str) -> DbResult<Plan> {
        let stmt = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .map_err(|e| AionError::new(SqlState::SYNTAX_ERROR, e.to_string()))?
            .pop()
            .ok_or_else(|| AionError::internal("no statement"))?;
        let ctx = crate::ddl::test_ctx();
        plan_utility(&ctx, &services(), &stmt)?.ok_or_else(|| AionError::internal("not utility"))
    }

    fn utility(sql: &str) -> (Utility, String) {
        let p = plan(sql).unwrap_or_else(|e| panic!("{sql}: {e:?}"));
        assert!(!p.writes);
        (p.utility().cloned().unwrap(), p.command.to_string())
    }

    fn set(name: &str, value: Option<&str>, local: bool) -> Utility {
        Utility::Set {
            name: name.into(),
            value: value.map(RString::from).into(),
            local,
        }
    }

    #[test]
    fn transaction_control() {
        assert_eq!(
            utility("BEGIN"),
            (
                Utility::Begin {
                    isolation: ROption::RNone,
                    read_only: ROption::RNone
                },
                "BEGIN".into()
            )
        );
        assert_eq!(
            utility("START TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY"),
            (
                Utility::Begin {
                    isolation: ROption::RSome(IsolationLevel::Serializable),
                    read_only: ROption::RSome(true)
                },
                "START TRANSACTION".into()
            )
        );
        assert_eq!(
            utility("BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ READ WRITE").0,
            Utility::Begin {
                isolation: ROption::RSome(IsolationLevel::RepeatableRead),
                read_only: ROption::RSome(false)
            }
        );
        assert_eq!(utility("COMMIT"), (Utility::Commit, "COMMIT".into()));
        assert_eq!(utility("END"), (Utility::Commit, "COMMIT".into()));
        assert_eq!(utility("ROLLBACK"), (Utility::Rollback, "ROLLBACK".into()));
        assert_eq!(utility("ABORT"), (Utility::Rollback, "ROLLBACK".into()));
        assert_eq!(
            utility("SAVEPOINT Sp1"),
            (Utility::Savepoint("sp1".into()), "SAVEPOINT".into())
        );
        assert_eq!(
            utility("ROLLBACK TO SAVEPOINT sp1"),
            (
                Utility::RollbackToSavepoint("sp1".into()),
                "ROLLBACK".into()
            )
        );
        assert_eq!(
            utility("ROLLBACK TO sp1").0,
            Utility::RollbackToSavepoint("sp1".into())
        );
        assert_eq!(
            utility("RELEASE SAVEPOINT sp1"),
            (Utility::ReleaseSavepoint("sp1".into()), "RELEASE".into())
        );
        assert_eq!(
            utility("RELEASE sp1").0,
            Utility::ReleaseSavepoint("sp1".into())
        );
        assert_eq!(
            utility("SET TRANSACTION ISOLATION LEVEL READ COMMITTED"),
            (
                Utility::SetTransaction {
                    isolation: ROption::RSome(IsolationLevel::ReadCommitted),
                    read_only: ROption::RNone
                },
                "SET".into()
            )
        );
        assert_eq!(
            utility("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE").0,
            set("default_transaction_isolation", Some("serializable"), false)
        );
    }

    #[test]
    fn set_values_as_postgres_stores_them() {
        // Expected texts checked against PostgreSQL 15's SHOW.
        assert_eq!(
            utility("SET search_path = a, b").0,
            set("search_path", Some("a, b"), false)
        );
        assert_eq!(
            utility("SET search_path TO 'a', \"B\", Cc").0,
            set("search_path", Some("a, \"B\", cc"), false)
        );
        assert_eq!(
            utility("SET search_path = '$user', public").0,
            set("search_path", Some("\"$user\", public"), false)
        );
        assert_eq!(
            utility("SET application_name = 'psql X'").0,
            set("application_name", Some("psql X"), false)
        );
        assert_eq!(
            utility("SET application_name = Foo").0,
            set("application_name", Some("foo"), false)
        );
        assert_eq!(
            utility("SET extra_float_digits = -1").0,
            set("extra_float_digits", Some("-1"), false)
        );
        assert_eq!(
            utility("SET SESSION statement_timeout = 1000").0,
            set("statement_timeout", Some("1000"), false)
        );
        assert_eq!(
            utility("SET LOCAL statement_timeout TO DEFAULT").0,
            set("statement_timeout", None, true)
        );
        assert_eq!(
            utility("SET TIME ZONE 'UTC'").0,
            set("TimeZone", Some("UTC"), false)
        );
        assert_eq!(
            utility("SET TIMEZONE = 'UTC'").0,
            set("TimeZone", Some("UTC"), false)
        );
        assert_eq!(
            utility("SET TIME ZONE LOCAL").0,
            set("TimeZone", None, false)
        );
        assert_eq!(
            utility("SET datestyle = 'ISO, MDY'").0,
            set("DateStyle", Some("ISO, MDY"), false)
        );
        let e = plan("SET application_name = 'a', 'b'").unwrap_err();
        assert_eq!(e.sqlstate.as_str(), "22023");
        assert_eq!(
            e.message.as_str(),
            "SET application_name takes only one argument"
        );
    }

    #[test]
    fn reset_and_show() {
        assert_eq!(
            utility("RESET search_path"),
            (Utility::Reset("search_path".into()), "RESET".into())
        );
        assert_eq!(utility("RESET ALL"), (Utility::ResetAll, "RESET".into()));
        assert_eq!(
            utility("RESET timezone").0,
            Utility::Reset("TimeZone".into())
        );
        let p = plan("SHOW TimeZone").unwrap();
        assert_eq!(p.utility(), Some(&Utility::Show("TimeZone".into())));
        assert_eq!(p.output.fields[0].name.as_str(), "TimeZone");
        assert_eq!(p.command.as_str(), "SHOW");
        let p = plan("SHOW timezone").unwrap();
        assert_eq!(p.output.fields[0].name.as_str(), "TimeZone");
        let p = plan("SHOW search_path").unwrap();
        assert_eq!(p.output.fields[0].name.as_str(), "search_path");
        let p = plan("SHOW DATESTYLE").unwrap();
        assert_eq!(p.output.fields[0].name.as_str(), "DateStyle");
        let p = plan("SHOW TRANSACTION ISOLATION LEVEL").unwrap();
        assert_eq!(
            p.utility(),
            Some(&Utility::Show("transaction_isolation".into()))
        );
        assert_eq!(p.output.fields[0].name.as_str(), "transaction_isolation");
        let p = plan("SHOW ALL").unwrap();
        assert_eq!(p.utility(), Some(&Utility::ShowAll));
        assert_eq!(p.output.len(), 3);
    }

    #[test]
    fn other_statements_are_not_utility() {
        let stmt = Parser::parse_sql(&PostgreSqlDialect {}, "SELECT 1")
            .unwrap()
            .pop()
            .unwrap();
        let ctx = crate::ddl::test_ctx();
        assert!(plan_utility(&ctx, &services(), &stmt).unwrap().is_none());
    }
}
