//! History: capture of every change into `audit.project_history` / `audit.document_history`,
//! the per-entity SHA-256 hash chain, its verification, and the append-only guard.
//!
//! - `snapshot`: an entity (a project with its link sets, a document) as a JSON object;
//! - `capture`: the triggers on the audited tables that describe each change;
//! - `append`: writes a history row, sealed into its entity's chain, without SQL;
//! - `jsonb_datum`: the snapshot as a jsonb datum, built without printing and parsing it;
//! - `chain`: the chain heads, the canonical row hash, and `audit.verify()`;
//! - `guard`: history is append-only, audited tables cannot be truncated;
//! - `rollback`: the diff between two versions, and rollback to an earlier one.
//!
//! Backend-local state (below) is per transaction and cleared when it ends: the reason the
//! caller gave, and the flag that lets pulse's own statements write history. Neither can be
//! set from SQL except through the functions defined here.

pub mod append;
pub mod capture;
pub mod chain;
pub mod guard;
pub mod jsonb_datum;
pub mod rollback;
pub mod snapshot;

use std::cell::{Cell, RefCell};

use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;

use crate::errors::{raise, SqlError};

thread_local! {
    /// `pulse.set_change_reason()` for the current transaction.
    static CHANGE_REASON: RefCell<Option<String>> = const { RefCell::new(None) };
    /// Depth of pulse's own SQL writes to the tables of history in progress (a purge's
    /// tombstone): only they pass the append-only guard.
    static WRITING_HISTORY: Cell<u32> = const { Cell::new(0) };
    /// Set while `audit.purge_chain_prefix` removes what retention allows.
    static PURGING: Cell<bool> = const { Cell::new(false) };
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("history rows are written only by pulse's capture triggers")]
    DirectWrite,
    #[error("{table} is append-only")]
    AppendOnly { table: String },
    #[error("TRUNCATE of audited table {table} is refused")]
    TruncateAudited { table: String },
    #[error("a reason is required for changes to audited data")]
    ReasonRequired,
    #[error(
        "change reason must be 1 to 2000 characters without control characters other than newline"
    )]
    BadReason,
    #[error("history column {column} has type {type_oid}, which the hash chain cannot encode")]
    UnsupportedColumn { column: String, type_oid: u32 },
    #[error("a string of {bytes} bytes exceeds jsonb's limit for a history snapshot")]
    SnapshotStringTooLong { bytes: usize },
    #[error(
        "an array or object of {elements} elements exceeds jsonb's limit for a history snapshot"
    )]
    SnapshotContainerTooLarge { elements: usize },
    #[error("a jsonb value nested deeper than {levels} levels cannot be recorded in history")]
    SnapshotTooDeep { levels: usize },
    #[error("internal error while {0}")]
    Internal(&'static str),
}

impl SqlError for HistoryError {
    fn sqlstate(&self) -> PgSqlErrorCode {
        match self {
            Self::DirectWrite | Self::AppendOnly { .. } | Self::TruncateAudited { .. } => {
                PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE
            }
            Self::ReasonRequired => PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            Self::BadReason => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            Self::UnsupportedColumn { .. } => PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            Self::SnapshotStringTooLong { .. }
            | Self::SnapshotContainerTooLarge { .. }
            | Self::SnapshotTooDeep { .. } => PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            Self::Internal(_) => PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            Self::AppendOnly { .. } => {
                Some("History is removed only by audit.purge_history() under the retention policy.".into())
            }
            Self::TruncateAudited { .. } => {
                Some("DELETE the rows instead, so that their history records the deletion.".into())
            }
            Self::ReasonRequired => Some(
                "Call pulse.set_change_reason('...') in the transaction first (pulse.require_change_reason is on)."
                    .into(),
            ),
            _ => None,
        }
    }
}

/// Run `f` as one of pulse's own history writes (see `WRITING_HISTORY`).
pub fn writing_history<T>(f: impl FnOnce() -> T + std::panic::UnwindSafe) -> T {
    WRITING_HISTORY.set(WRITING_HISTORY.get() + 1);
    PgTryBuilder::new(f)
        .finally(|| WRITING_HISTORY.set(WRITING_HISTORY.get().saturating_sub(1)))
        .execute()
}

pub fn is_writing_history() -> bool {
    WRITING_HISTORY.get() > 0
}

/// Run `f` as a retention purge: the only time history rows may be deleted.
pub fn purging<T>(f: impl FnOnce() -> T + std::panic::UnwindSafe) -> T {
    PURGING.set(true);
    PgTryBuilder::new(f)
        .finally(|| PURGING.set(false))
        .execute()
}

pub fn is_purging() -> bool {
    PURGING.get()
}

/// The reason for the current transaction's changes; raises when one is required and missing.
pub fn change_reason() -> Option<String> {
    let reason = CHANGE_REASON.with_borrow(Clone::clone);
    if reason.is_none() && crate::settings::REQUIRE_CHANGE_REASON.get() {
        raise(HistoryError::ReasonRequired);
    }
    reason
}

/// Register the callbacks of cached copies; called once from `_PG_init`.
pub fn register_callbacks() {
    snapshot::register_callbacks();
}

/// The transaction ended (`crate::transaction`): forget its reason and pending history.
pub fn forget_transaction_state() {
    CHANGE_REASON.with_borrow_mut(|r| *r = None);
    WRITING_HISTORY.set(0);
    PURGING.set(false);
    capture::forget_pending();
    rollback::forget_rollbacks();
}

/// A subtransaction aborted: the projects it inserted are gone.
pub fn forget_subtransaction_state() {
    capture::forget_inserted_projects();
}

#[pg_schema]
mod pulse {
    use super::*;

    /// Give the reason for this transaction's changes; it is recorded with each of them.
    #[pg_extern(volatile, parallel_unsafe)]
    fn set_change_reason(reason: Option<&str>) {
        let reason = reason.unwrap_or_else(|| raise(HistoryError::BadReason));
        let length = reason.chars().count();
        if !(1..=2000).contains(&length) || reason.chars().any(|c| c.is_control() && c != '\n') {
            raise(HistoryError::BadReason);
        }
        // SAFETY: plain read of transaction state.
        if !unsafe { pg_sys::IsTransactionBlock() } {
            pgrx::warning!("pulse.set_change_reason() outside a transaction block applies to this statement only");
        }
        CHANGE_REASON.with_borrow_mut(|r| *r = Some(reason.to_owned()));
    }
}
