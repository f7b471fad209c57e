//! Protection of the built-in reference rows.
//!
//! The starter rows of the reference tables (`is_builtin = true`) are inserted by the
//! install script and changed only by upgrade scripts. `pg_dump` writes only the rows a DBA
//! added (the tables are registered with `WHERE NOT is_builtin`), so a built-in row edited in
//! place would silently revert on restore. This trigger makes that impossible: outside
//! `CREATE EXTENSION` / `ALTER EXTENSION ... UPDATE`, built-in rows cannot be inserted,
//! changed or deleted. Whether an extension script is running is backend state that SQL
//! cannot forge, which is why this is Rust and not PL/pgSQL.

use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use pgrx::WhoAllocated;

use crate::errors::{raise, SqlError};
use crate::trigger_entry::trigger_function;

#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    #[error("built-in reference row \"{code}\" of {table} cannot be {action}")]
    BuiltinRowImmutable {
        table: String,
        code: String,
        action: &'static str,
    },
    #[error("rows of {table} cannot be marked built-in")]
    BuiltinFlagReserved { table: String },
    #[error("reference_guard must be a BEFORE ROW trigger on a table with columns code and is_builtin: {0}")]
    Misconfigured(String),
}

impl SqlError for ReferenceError {
    fn sqlstate(&self) -> PgSqlErrorCode {
        match self {
            Self::BuiltinRowImmutable { .. } | Self::BuiltinFlagReserved { .. } => {
                PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE
            }
            Self::Misconfigured(_) => PgSqlErrorCode::ERRCODE_TRIGGERED_ACTION_EXCEPTION,
        }
    }

    fn detail(&self) -> Option<String> {
        match self {
            Self::BuiltinRowImmutable { .. } | Self::BuiltinFlagReserved { .. } => Some(
                "Built-in rows ship with the extension and change only through extension upgrade scripts."
                    .into(),
            ),
            Self::Misconfigured(_) => None,
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            Self::BuiltinRowImmutable { .. } | Self::BuiltinFlagReserved { .. } => {
                Some("Add a row of your own (is_builtin = false) instead.".into())
            }
            Self::Misconfigured(_) => None,
        }
    }
}

fn is_builtin<A: WhoAllocated>(row: &PgHeapTuple<'_, A>) -> Result<bool, ReferenceError> {
    row.get_by_name::<bool>("is_builtin")
        .map(|flag| flag.unwrap_or(false))
        .map_err(|e| ReferenceError::Misconfigured(e.to_string()))
}

fn code_of<A: WhoAllocated>(row: &PgHeapTuple<'_, A>) -> String {
    row.get_by_name::<String>("code")
        .ok()
        .flatten()
        .unwrap_or_default()
}

fn table_of(trigger: &PgTrigger<'_>) -> String {
    match (trigger.table_schema(), trigger.table_name()) {
        (Ok(schema), Ok(table)) => format!("{schema}.{table}"),
        _ => "a reference table".into(),
    }
}

/// BEFORE INSERT OR UPDATE OR DELETE row trigger on every reference table.
fn reference_guard<'a>(
    trigger: &'a PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, impl WhoAllocated>>, PgHeapTupleError> {
    // SAFETY: `creating_extension` is a plain backend-global flag that PostgreSQL sets while
    // it runs an extension's install or update script; reading it has no side effects.
    if unsafe { pg_sys::creating_extension } {
        return Ok(trigger.new().or_else(|| trigger.old()));
    }
    let result = (|| {
        let old = trigger.old();
        let new = trigger.new();
        if let Some(old_row) = &old {
            if is_builtin(old_row)? {
                let action = if new.is_some() { "changed" } else { "deleted" };
                return Err(ReferenceError::BuiltinRowImmutable {
                    table: table_of(trigger),
                    code: code_of(old_row),
                    action,
                });
            }
        }
        if let Some(new_row) = &new {
            if is_builtin(new_row)? {
                return Err(ReferenceError::BuiltinFlagReserved {
                    table: table_of(trigger),
                });
            }
        }
        Ok(new.or(old))
    })();
    match result {
        Ok(row) => Ok(row),
        Err(error) => raise(error),
    }
}
trigger_function!(
    "pulse.reference_guard()",
    pg_finfo_reference_guard_wrapper,
    reference_guard_wrapper,
    reference_guard
);
