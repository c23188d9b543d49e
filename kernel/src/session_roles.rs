//! CREATE/ALTER/DROP ROLE, run by the session: role commands need the
//! current user's attributes, hash passwords into SCRAM-SHA-256 verifiers
//! (a plaintext password is never stored), and go into the transaction's
//! catalog journal so a ROLLBACK undoes them, as in PostgreSQL.

use abi_stable::std_types::{ROption, RStr, RString};
use aiondb_sdk::catalog::{CatalogChange, RoleDef};
use aiondb_sdk::error::{AionError, DbResult, Severity, SqlState};
use aiondb_sdk::plan::{RoleOptions, Utility};
use aiondb_sdk::types::DataType;
use aiondb_sdk::value::Value;

use super::{Session, StatementResult};
use crate::catalog;

fn denied(message: &str) -> AionError {
    AionError::new(SqlState::INSUFFICIENT_PRIVILEGE, message)
}

fn no_role(name: &str) -> AionError {
    AionError::new(
        SqlState::UNDEFINED_OBJECT,
        format!("role \"{name}\" does not exist"),
    )
}

/// Whether `text` already is a SCRAM-SHA-256 verifier (stored as given,
/// as PostgreSQL does, so dumps can carry passwords without knowing them).
pub(crate) fn is_scram_verifier(text: &str) -> bool {
    let Some(rest) = text.strip_prefix("SCRAM-SHA-256$") else {
        return false;
    };
    let Some((iter_salt, keys)) = rest.split_once('$') else {
        return false;
    };
    let Some((iterations, salt)) = iter_salt.split_once(':') else {
        return false;
    };
    let Some((stored, server)) = keys.split_once(':') else {
        return false;
    };
    let b64 = |s: &str| {
        !s.is_empty()
            && s.len().is_multiple_of(4)
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
    };
    // 32-byte SHA-256 keys are 44 base64 characters.
    iterations.parse::<u32>().is_ok_and(|n| n > 0)
        && b64(salt)
        && stored.len() == 44
        && server.len() == 44
        && b64(stored)
        && b64(server)
}

fn verifier(password: &str) -> RString {
    if is_scram_verifier(password) {
        RString::from(password)
    } else {
        RString::from(postgres_protocol::password::scram_sha_256(
            password.as_bytes(),
        ))
    }
}

fn reserved(name: &str) -> Option<AionError> {
    if name.starts_with("pg_") {
        return Some(
            AionError::new(
                SqlState::new(b"42939"),
                format!("role name \"{name}\" is reserved"),
            )
            .with_detail("Role names starting with \"pg_\" are reserved."),
        );
    }
    if ["public", "none"].contains(&name) {
        return Some(AionError::new(
            SqlState::new(b"42939"),
            format!("role name \"{name}\" is reserved"),
        ));
    }
    None
}

/// What the current user may do with roles.
struct Actor {
    superuser: bool,
    create_role: bool,
}

impl Session {
    fn actor(&self) -> Actor {
        if self.trusted {
            return Actor {
                superuser: true,
                create_role: true,
            };
        }
        match self
            .engine
            .services
            .catalog
            .role_by_name(RStr::from_str(&self.user))
        {
            ROption::RSome(r) => Actor {
                superuser: r.superuser,
                create_role: r.superuser || r.create_role,
            },
            ROption::RNone => Actor {
                superuser: false,
                create_role: false,
            },
        }
    }

    fn valid_until(&self, text: &str) -> DbResult<i64> {
        match aiondb_sdk::value::parse_text_with(DataType::TIMESTAMPTZ, text, &self.format)? {
            Value::TimestampTz(t) => Ok(t),
            _ => Err(AionError::internal("timestamptz input gave another type")),
        }
    }

    fn apply_options(&self, role: &mut RoleDef, o: &RoleOptions) -> DbResult<()> {
        // Attributes the statement names replace the role's; the others stay.
        for (slot, given) in [
            (&mut role.superuser, o.superuser),
            (&mut role.inherit, o.inherit),
            (&mut role.create_role, o.create_role),
            (&mut role.create_db, o.create_db),
            (&mut role.can_login, o.login),
            (&mut role.replication, o.replication),
            (&mut role.bypass_rls, o.bypass_rls),
        ] {
            if let ROption::RSome(v) = given {
                *slot = v;
            }
        }
        if let ROption::RSome(v) = o.connection_limit {
            role.connection_limit = v;
        }
        if let ROption::RSome(p) = &o.password {
            role.password = match p {
                ROption::RSome(p) if p.is_empty() => ROption::RNone,
                ROption::RSome(p) => ROption::RSome(verifier(p)),
                ROption::RNone => ROption::RNone,
            };
        }
        if let ROption::RSome(v) = &o.valid_until {
            role.valid_until = ROption::RSome(self.valid_until(v)?);
        }
        Ok(())
    }

    /// Applies catalog changes as one step of the current transaction: in a
    /// transaction they join its journal (undone by ROLLBACK); outside one
    /// they commit at once.
    fn apply_role_changes(&mut self, changes: Vec<CatalogChange>) -> DbResult<()> {
        if self.txn.as_ref().is_some_and(|t| t.read_only) {
            return Err(AionError::new(
                SqlState::new(b"25006"),
                "cannot execute a role command in a read-only transaction",
            ));
        }
        let catalog = self.engine.services.catalog.clone();
        let journaling = self.txn.is_some();
        if journaling {
            catalog::journal_begin();
        }
        let mut outcome = Ok(());
        for c in changes {
            if let Err(e) = catalog.apply(c).into_result() {
                outcome = Err(e);
                break;
            }
        }
        if journaling {
            let undo = catalog::journal_take();
            if let Some(t) = &mut self.txn {
                if outcome.is_err() {
                    // Leave the catalog as the statement found it.
                    self.engine.kernel_catalog.undo(undo);
                } else {
                    t.journal(undo);
                }
            }
        }
        outcome
    }

    pub(super) fn run_role_utility(
        &mut self,
        u: &Utility,
        result: &mut StatementResult,
    ) -> DbResult<()> {
        let actor = self.actor();
        let catalog = self.engine.services.catalog.clone();
        match u {
            Utility::CreateRole { name, options } => {
                if let Some(e) = reserved(name) {
                    return Err(e);
                }
                if !actor.create_role {
                    return Err(denied("permission denied to create role"));
                }
                if !actor.superuser {
                    if options.superuser == ROption::RSome(true) {
                        return Err(denied("must be superuser to create superusers"));
                    }
                    if options.replication == ROption::RSome(true) {
                        return Err(denied("must be superuser to create replication users"));
                    }
                    if options.bypass_rls == ROption::RSome(true) {
                        return Err(denied("must be superuser to create bypassrls users"));
                    }
                }
                if catalog.role_by_name(RStr::from_str(name)).is_some() {
                    return Err(AionError::new(
                        SqlState::DUPLICATE_OBJECT,
                        format!("role \"{name}\" already exists"),
                    ));
                }
                let mut role = RoleDef {
                    id: 0,
                    name: name.clone(),
                    superuser: false,
                    inherit: true,
                    create_role: false,
                    create_db: false,
                    can_login: false,
                    replication: false,
                    bypass_rls: false,
                    connection_limit: -1,
                    password: ROption::RNone,
                    valid_until: ROption::RNone,
                };
                self.apply_options(&mut role, options)?;
                self.apply_role_changes(vec![CatalogChange::CreateRole(role)])
            }
            Utility::AlterRole { name, options } => {
                let Some(old) = catalog.role_by_name(RStr::from_str(name)).into_option() else {
                    return Err(no_role(name));
                };
                let only_password = *options
                    == RoleOptions {
                        password: options.password.clone(),
                        ..RoleOptions::default()
                    };
                let touches_super = options.superuser.is_some()
                    || options.replication.is_some()
                    || options.bypass_rls.is_some();
                if !actor.superuser {
                    if old.superuser || touches_super {
                        return Err(denied(
                            "must be superuser to alter superuser roles or change superuser attribute",
                        ));
                    }
                    let own_password = only_password && old.name.as_str() == self.user;
                    if !actor.create_role && !own_password {
                        return Err(denied("permission denied"));
                    }
                }
                let mut role = old.clone();
                self.apply_options(&mut role, options)?;
                self.apply_role_changes(vec![CatalogChange::AlterRole(role)])
            }
            Utility::RenameRole { name, new_name } => {
                let Some(old) = catalog.role_by_name(RStr::from_str(name)).into_option() else {
                    return Err(no_role(name));
                };
                if old.name.as_str() == self.user {
                    return Err(AionError::feature_not_supported(
                        "session user cannot be renamed",
                    ));
                }
                if let Some(e) = reserved(new_name) {
                    return Err(e);
                }
                if !actor.create_role {
                    return Err(denied("permission denied to rename role"));
                }
                if old.superuser && !actor.superuser {
                    return Err(denied("must be superuser to rename superusers"));
                }
                if catalog.role_by_name(RStr::from_str(new_name)).is_some() {
                    return Err(AionError::new(
                        SqlState::DUPLICATE_OBJECT,
                        format!("role \"{new_name}\" already exists"),
                    ));
                }
                let mut role = old;
                role.name = new_name.clone();
                self.apply_role_changes(vec![CatalogChange::AlterRole(role)])
            }
            Utility::DropRole { names, if_exists } => {
                if !actor.create_role {
                    return Err(denied("permission denied to drop role"));
                }
                let mut changes = Vec::new();
                for name in names.iter() {
                    let Some(role) = catalog.role_by_name(RStr::from_str(name)).into_option()
                    else {
                        if *if_exists {
                            result.notices.push(
                                AionError::new(
                                    SqlState::new(b"00000"),
                                    format!("role \"{name}\" does not exist, skipping"),
                                )
                                .with_severity(Severity::Notice),
                            );
                            continue;
                        }
                        return Err(no_role(name));
                    };
                    if role.name.as_str() == self.user {
                        return Err(AionError::new(
                            SqlState::new(b"55006"),
                            "current user cannot be dropped",
                        ));
                    }
                    if role.id == catalog::BOOTSTRAP_ROLE_ID {
                        return Err(AionError::new(
                            SqlState::new(b"2BP01"),
                            format!(
                                "cannot drop role {name} because it is required by the database system"
                            ),
                        ));
                    }
                    if role.superuser && !actor.superuser {
                        return Err(denied("must be superuser to drop superusers"));
                    }
                    changes.push(CatalogChange::DropRole { id: role.id });
                }
                self.apply_role_changes(changes)
            }
            _ => Err(AionError::internal("not a role command")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_scram_verifier;

    #[test]
    fn recognises_verifiers_only() {
        let v = postgres_protocol::password::scram_sha_256(b"secret");
        assert!(is_scram_verifier(&v));
        assert!(!is_scram_verifier("secret"));
        assert!(!is_scram_verifier("SCRAM-SHA-256$4096:c2FsdA==$AAAA:BBBB"));
        assert!(!is_scram_verifier("SCRAM-SHA-256$x:c2FsdA==$"));
    }
}
