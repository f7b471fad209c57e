//! History is append-only, and audited tables cannot be emptied behind history's back.
//!
//! UPDATE, DELETE and TRUNCATE on the history tables, the chain heads, the tombstones and
//! the DDL log are refused for every role, the owner included, and so is an INSERT into the
//! history and chain tables: pulse appends to those without SQL (`append.rs`). Only a
//! purge's tombstone, the retention purge itself (`audit.purge_history`) and, where Citus
//! manages the tables, pulse's own appends through SQL pass. Disabling the triggers needs ownership of the tables, which the application role
//! never has; a superuser who does so anyway is caught by `audit.verify()`.

use pgrx::prelude::*;
use pgrx::PgTriggerError;

use super::{is_purging, is_writing_history, HistoryError};
use crate::c_function::function_info_v1;
use crate::errors::raise;
use crate::trigger_entry::trigger_function;

fn qualified(trigger: &PgTrigger<'_>) -> String {
    match (trigger.table_schema(), trigger.table_name()) {
        (Ok(schema), Ok(table)) => format!("{schema}.{table}"),
        _ => "this table".into(),
    }
}

fn is_chain_head(trigger: &PgTrigger<'_>) -> bool {
    trigger.table_schema().is_ok_and(|schema| schema == "audit")
        && trigger
            .table_name()
            .is_ok_and(|table| table == "project_chain" || table == "document_chain")
}

/// BEFORE INSERT, UPDATE OR DELETE (row) and BEFORE TRUNCATE (statement) on the tables
/// of history: a purge may insert its tombstone and delete what retention allows;
/// nothing else passes, UPDATE and TRUNCATE never.
fn refuse_history_change<'a>(
    trigger: &'a PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, PgTriggerError> {
    let allowed = match trigger.op()? {
        PgTriggerOperation::Insert => is_writing_history(),
        // A head moved through SQL (`through_sql`, where Citus manages the tables).
        PgTriggerOperation::Update => is_writing_history() && is_chain_head(trigger),
        PgTriggerOperation::Delete => is_purging(),
        PgTriggerOperation::Truncate => false,
    };
    if allowed {
        return Ok(trigger.new().or_else(|| trigger.old()));
    }
    if matches!(trigger.op()?, PgTriggerOperation::Insert) {
        raise(HistoryError::DirectWrite)
    }
    raise(HistoryError::AppendOnly {
        table: qualified(trigger),
    })
}
trigger_function!(
    "audit.refuse_history_change()",
    pg_finfo_refuse_history_change_wrapper,
    refuse_history_change_wrapper,
    refuse_history_change
);

/// BEFORE TRUNCATE (statement) on every audited table.
fn refuse_truncate<'a>(
    trigger: &'a PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, PgTriggerError> {
    raise(HistoryError::TruncateAudited {
        table: qualified(trigger),
    })
}
trigger_function!(
    "audit.refuse_truncate()",
    pg_finfo_refuse_truncate_wrapper,
    refuse_truncate_wrapper,
    refuse_truncate
);

function_info_v1!(pg_finfo_seal_history_row_wrapper);

/// Release 0.1.0's `audit.seal_history_row()` trigger, kept for its install script: `CREATE
/// EXTENSION pulse VERSION '0.1.0'` (and a database still at 0.1.0 when this library is
/// installed, until `ALTER EXTENSION pulse UPDATE`) looks the symbol up in this library.
/// Pulse no longer writes history through SQL (decision log D45), so a row reaching this
/// trigger is a direct write, refused as the 0.2.0 guard refuses it. The 0.1.0 → 0.2.0
/// upgrade drops the trigger and the function.
#[unsafe(no_mangle)]
#[doc(hidden)]
#[pg_guard]
pub unsafe extern "C-unwind" fn seal_history_row_wrapper(
    _fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    raise(HistoryError::DirectWrite)
}
