//! The helpers row-level security policies call, once per statement (see sql/access.sql).
//!
//! They answer only about the caller's own standing (the projects in which they hold a
//! permission, whether they hold a blanket right), so they reveal nothing about other rows;
//! they read through `direct_read` because every policy pays for them.

use std::ffi::CString;
use std::ops::ControlFlow;

use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;

use crate::direct_read::Table;
use crate::errors::{raise, SqlError};
use crate::identity::current_caller;

/// A project permission: a flag column of pulse.access_role_reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    Read,
    Write,
    ManageMembers,
    DeleteRestore,
    Administer,
}

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("unknown permission \"{0}\"")]
    UnknownPermission(String),
}

impl SqlError for AccessError {
    fn sqlstate(&self) -> PgSqlErrorCode {
        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE
    }

    fn hint(&self) -> Option<String> {
        Some("One of read, write, manage_members, delete_restore, administer.".into())
    }
}

impl Permission {
    pub fn parse(name: &str) -> Result<Self, AccessError> {
        Ok(match name {
            "read" => Self::Read,
            "write" => Self::Write,
            "manage_members" => Self::ManageMembers,
            "delete_restore" => Self::DeleteRestore,
            "administer" => Self::Administer,
            other => {
                return Err(AccessError::UnknownPermission(
                    other.chars().take(64).collect(),
                ))
            }
        })
    }

    fn column(self) -> &'static std::ffi::CStr {
        match self {
            Self::Read => c"can_read",
            Self::Write => c"can_write",
            Self::ManageMembers => c"can_manage_members",
            Self::DeleteRestore => c"can_delete_restore",
            Self::Administer => c"can_administer",
        }
    }
}

/// Projects in which `user_id`'s membership grants `permission`, ascending.
fn member_project_ids(user_id: i32, permission: Permission) -> Vec<i64> {
    // The access roles (a handful of rows) that grant the permission.
    let roles = Table::open(c"pulse", c"access_role_reference");
    let (role_id, flag) = (
        roles.column(c"access_role_id"),
        roles.column(permission.column()),
    );
    let mut granting = Vec::new();
    roles.scan_all(c"access_role_reference_pkey", |row| {
        if row.get::<bool>(flag) == Some(true) {
            granting.extend(row.get::<i32>(role_id));
        }
        ControlFlow::Continue(())
    });

    let members = Table::open(c"projects", c"project_member");
    let (user, project, role) = (
        members.column(c"user_id"),
        members.column(c"project_id"),
        members.column(c"access_role_id"),
    );
    let mut ids = Vec::new();
    members.scan_equal(
        c"project_member_user_id_idx",
        user,
        pg_sys::F_INT4EQ,
        user_id,
        |row| {
            if row.get::<i32>(role).is_some_and(|r| granting.contains(&r)) {
                ids.extend(row.get::<i64>(project));
            }
            ControlFlow::Continue(())
        },
    );
    ids.sort_unstable();
    ids
}

/// Whether the current database role is a member of a role registered in pulse.auditor_role.
pub fn caller_is_auditor() -> bool {
    let auditors = Table::open(c"pulse", c"auditor_role");
    let name = auditors.column(c"role_name");
    // SAFETY: plain read of the current user id.
    let me = unsafe { pg_sys::GetUserId() };
    let mut found = false;
    auditors.scan_all(c"auditor_role_pkey", |row| {
        let Some(role) = row.get::<&core::ffi::CStr>(name).map(CString::from) else {
            return ControlFlow::Continue(());
        };
        // SAFETY: a role lookup by name (missing_ok) and a membership test, as pg_has_role.
        found = unsafe {
            let oid = pg_sys::get_role_oid(role.as_ptr(), true);
            oid != pg_sys::InvalidOid && pg_sys::is_member_of_role(me, oid)
        };
        if found {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    found
}

/// Projects in which the caller's membership grants `permission`, ascending; empty without a
/// caller.
pub fn caller_project_ids(permission: Permission) -> Vec<i64> {
    current_caller()
        .map(|caller| member_project_ids(caller.user_id, permission))
        .unwrap_or_default()
}

/// Whether the caller holds `permission` on every project: a system administrator, or for
/// read a member of an auditor role.
pub fn holds_on_every_project(permission: Permission) -> bool {
    current_caller().is_some_and(|c| c.is_system_admin)
        || (permission == Permission::Read && caller_is_auditor())
}

/// Whether the caller may read the rows of `reference` (a pulse.*_reference table) that pulse
/// reads without SQL: the `read` policy every reference table has (`everyone` in
/// sql/access.sql: an authenticated caller or an auditor role), or no row-level security on
/// the table for the current role. tests/integration/test_discovery.py checks that the
/// policies still say this.
pub fn reference_rows_visible(reference: &Table) -> bool {
    !reference.row_security_active() || current_caller().is_some() || caller_is_auditor()
}

fn parse_or_raise(permission: &str) -> Permission {
    Permission::parse(permission).unwrap_or_else(|error| raise(error))
}

#[pg_schema]
pub mod pulse {
    use super::*;

    /// Projects in which the caller's membership grants `permission`; empty without a caller.
    #[pg_extern(stable, strict, parallel_restricted)]
    fn caller_project_ids(permission: &str) -> Vec<i64> {
        super::caller_project_ids(parse_or_raise(permission))
    }

    /// The lower bound of the blanket-right range in every project policy: the smallest
    /// bigint when the caller holds `permission` on every project (a system administrator;
    /// an auditor role for read), NULL otherwise.
    #[pg_extern(stable, strict, parallel_restricted)]
    fn caller_all_projects_from(permission: &str) -> Option<i64> {
        holds_on_every_project(parse_or_raise(permission)).then_some(i64::MIN)
    }

    /// Whether the current database role is (a member of) a registered auditor role.
    #[pg_extern(stable, parallel_restricted, name = "caller_is_auditor")]
    fn caller_is_auditor_sql() -> bool {
        super::caller_is_auditor()
    }
}
