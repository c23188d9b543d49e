//! CREATE/ALTER/DROP ROLE (and USER): planned as session utilities, since
//! the session owns logins and hashes passwords; here they are only
//! checked for what PostgreSQL's grammar accepts.

use aiondb_sdk::plan::{RoleOptions, Utility};
use aiondb_sdk::prelude::*;
use sqlparser::ast;

use crate::shared::ident_name;

fn unsupported(what: &str) -> AionError {
    AionError::feature_not_supported(format!("{what} is not supported"))
}

fn role_name(name: &ast::ObjectName) -> DbResult<String> {
    let parts = crate::shared::object_parts(name)?;
    match parts.as_slice() {
        [n] => Ok(n.clone()),
        _ => Err(AionError::new(
            SqlState::SYNTAX_ERROR,
            format!("syntax error at or near \"{name}\""),
        )),
    }
}

fn text_value(e: &ast::Expr, what: &str) -> DbResult<String> {
    match e {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::SingleQuotedString(s)
            | ast::Value::EscapedStringLiteral(s)
            | ast::Value::DollarQuotedString(ast::DollarQuotedString { value: s, .. }) => {
                Ok(s.clone())
            }
            _ => Err(AionError::new(
                SqlState::SYNTAX_ERROR,
                format!("{what} must be a string constant"),
            )),
        },
        _ => Err(AionError::new(
            SqlState::SYNTAX_ERROR,
            format!("{what} must be a string constant"),
        )),
    }
}

fn connection_limit(e: &ast::Expr) -> DbResult<i32> {
    let bad = || {
        AionError::new(
            SqlState::SYNTAX_ERROR,
            "CONNECTION LIMIT must be an integer",
        )
    };
    let (neg, inner) = match e {
        ast::Expr::UnaryOp {
            op: ast::UnaryOperator::Minus,
            expr,
        } => (true, expr.as_ref()),
        other => (false, other),
    };
    let ast::Expr::Value(v) = inner else {
        return Err(bad());
    };
    let ast::Value::Number(n, _) = &v.value else {
        return Err(bad());
    };
    let n: i32 = n.parse().map_err(|_| bad())?;
    let n = if neg { -n } else { n };
    if n < -1 {
        return Err(AionError::new(
            SqlState::INVALID_PARAMETER_VALUE,
            format!("invalid connection limit: {n}"),
        ));
    }
    Ok(n)
}

fn password(p: &ast::Password) -> DbResult<ROption<RString>> {
    Ok(match p {
        ast::Password::NullPassword => ROption::RNone,
        ast::Password::Password(e) => ROption::RSome(text_value(e, "password")?.into()),
    })
}

fn set<T>(slot: &mut ROption<T>, value: T) -> DbResult<()> {
    if slot.is_some() {
        return Err(AionError::new(
            SqlState::SYNTAX_ERROR,
            "conflicting or redundant options",
        ));
    }
    *slot = ROption::RSome(value);
    Ok(())
}

pub fn plan_create_role(cr: &ast::CreateRole) -> DbResult<(Utility, &'static str)> {
    if cr.if_not_exists {
        return Err(AionError::new(
            SqlState::SYNTAX_ERROR,
            "syntax error at or near \"IF\"",
        ));
    }
    if !cr.in_role.is_empty()
        || !cr.in_group.is_empty()
        || !cr.role.is_empty()
        || !cr.user.is_empty()
        || !cr.admin.is_empty()
    {
        return Err(unsupported("role membership (IN ROLE, ROLE, ADMIN)"));
    }
    if cr.authorization_owner.is_some() {
        return Err(unsupported("AUTHORIZATION"));
    }
    let [name] = cr.names.as_slice() else {
        return Err(AionError::new(
            SqlState::SYNTAX_ERROR,
            "syntax error at or near \",\"",
        ));
    };
    let mut o = RoleOptions {
        superuser: cr.superuser.into(),
        inherit: cr.inherit.into(),
        create_role: cr.create_role.into(),
        create_db: cr.create_db.into(),
        login: cr.login.into(),
        replication: cr.replication.into(),
        bypass_rls: cr.bypassrls.into(),
        ..RoleOptions::default()
    };
    if let Some(c) = &cr.connection_limit {
        o.connection_limit = ROption::RSome(connection_limit(c)?);
    }
    if let Some(p) = &cr.password {
        o.password = ROption::RSome(password(p)?);
    }
    if let Some(v) = &cr.valid_until {
        o.valid_until = ROption::RSome(text_value(v, "VALID UNTIL")?.into());
    }
    Ok((
        Utility::CreateRole {
            name: role_name(name)?.into(),
            options: o,
        },
        "CREATE ROLE",
    ))
}

pub fn plan_alter_role(
    name: &ast::Ident,
    op: &ast::AlterRoleOperation,
) -> DbResult<(Utility, &'static str)> {
    let name = ident_name(name);
    match op {
        ast::AlterRoleOperation::RenameRole { role_name } => Ok((
            Utility::RenameRole {
                name: name.into(),
                new_name: ident_name(role_name).into(),
            },
            "ALTER ROLE",
        )),
        ast::AlterRoleOperation::WithOptions { options } => {
            let mut o = RoleOptions::default();
            for opt in options {
                match opt {
                    ast::RoleOption::BypassRLS(b) => set(&mut o.bypass_rls, *b)?,
                    ast::RoleOption::ConnectionLimit(e) => {
                        set(&mut o.connection_limit, connection_limit(e)?)?
                    }
                    ast::RoleOption::CreateDB(b) => set(&mut o.create_db, *b)?,
                    ast::RoleOption::CreateRole(b) => set(&mut o.create_role, *b)?,
                    ast::RoleOption::Inherit(b) => set(&mut o.inherit, *b)?,
                    ast::RoleOption::Login(b) => set(&mut o.login, *b)?,
                    ast::RoleOption::Password(p) => set(&mut o.password, password(p)?)?,
                    ast::RoleOption::Replication(b) => set(&mut o.replication, *b)?,
                    ast::RoleOption::SuperUser(b) => set(&mut o.superuser, *b)?,
                    ast::RoleOption::ValidUntil(e) => {
                        set(&mut o.valid_until, text_value(e, "VALID UNTIL")?.into())?
                    }
                }
            }
            Ok((
                Utility::AlterRole {
                    name: name.into(),
                    options: o,
                },
                "ALTER ROLE",
            ))
        }
        ast::AlterRoleOperation::Set { .. } | ast::AlterRoleOperation::Reset { .. } => {
            Err(unsupported("ALTER ROLE ... SET/RESET (per-role settings)"))
        }
        _ => Err(unsupported("this form of ALTER ROLE")),
    }
}

pub fn plan_drop_role(
    names: &[ast::ObjectName],
    if_exists: bool,
    cascade: bool,
) -> DbResult<(Utility, &'static str)> {
    if cascade {
        return Err(AionError::new(
            SqlState::SYNTAX_ERROR,
            "syntax error at or near \"CASCADE\"",
        ));
    }
    let names = names
        .iter()
        .map(|n| role_name(n).map(RString::from))
        .collect::<DbResult<RVec<_>>>()?;
    Ok((Utility::DropRole { names, if_exists }, "DROP ROLE"))
}
