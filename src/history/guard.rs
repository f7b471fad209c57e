//! History is append-only, and audited tables cannot be emptied behind history's back.
//!
//! UPDATE, DELETE and TRUNCATE on the history tables and the chain heads are refused for
//! every role, the owner included; only pulse's own writes (sealing moves a chain head)
//! pass. Disabling the triggers needs ownership of the tables, which the application role
//! never has; a superuser who does so anyway is caught by `audit.verify()`.

use pgrx::prelude::*;
use pgrx::PgTriggerError;

use super::{is_writing_history, HistoryError};
use crate::errors::raise;

fn qualified(trigger: &PgTrigger<'_>) -> String {
    match (trigger.table_schema(), trigger.table_name()) {
        (Ok(schema), Ok(table)) => format!("{schema}.{table}"),
        _ => "this table".into(),
    }
}

#[pg_schema]
mod audit {
    use super::*;

    /// BEFORE UPDATE OR DELETE (row) and BEFORE TRUNCATE (statement) on history and chain tables.
    #[pg_trigger]
    fn refuse_history_change<'a>(
        trigger: &'a PgTrigger<'a>,
    ) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, PgTriggerError> {
        if is_writing_history() && matches!(trigger.op()?, PgTriggerOperation::Update) {
            return Ok(trigger.new());
        }
        raise(HistoryError::AppendOnly {
            table: qualified(trigger),
        })
    }

    /// BEFORE TRUNCATE (statement) on every audited table.
    #[pg_trigger]
    fn refuse_truncate<'a>(
        trigger: &'a PgTrigger<'a>,
    ) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, PgTriggerError> {
        raise(HistoryError::TruncateAudited {
            table: qualified(trigger),
        })
    }
}
