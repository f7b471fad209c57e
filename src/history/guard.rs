//! History is append-only, and audited tables cannot be emptied behind history's back.
//!
//! UPDATE, DELETE and TRUNCATE on the history tables, the chain heads, the tombstones and
//! the DDL log are refused for every role, the owner included, and so is an INSERT into the
//! history and chain tables: pulse appends to those without SQL (`append.rs`). Only a
//! purge's tombstone and the retention purge itself (`audit.purge_history`) pass. Disabling the triggers needs ownership of the tables, which the application role
//! never has; a superuser who does so anyway is caught by `audit.verify()`.

use pgrx::prelude::*;
use pgrx::PgTriggerError;

use super::{is_purging, is_writing_history, HistoryError};
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

    /// BEFORE INSERT, UPDATE OR DELETE (row) and BEFORE TRUNCATE (statement) on the tables
    /// of history: a purge may insert its tombstone and delete what retention allows;
    /// nothing else passes, UPDATE and TRUNCATE never.
    #[pg_trigger]
    fn refuse_history_change<'a>(
        trigger: &'a PgTrigger<'a>,
    ) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, PgTriggerError> {
        let allowed = match trigger.op()? {
            PgTriggerOperation::Insert => is_writing_history(),
            PgTriggerOperation::Delete => is_purging(),
            PgTriggerOperation::Update | PgTriggerOperation::Truncate => false,
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
