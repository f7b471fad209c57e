//! The moment a transaction ends, for the modules that keep per-transaction state in
//! backend memory (the caller, the change reason, pending history).

use pgrx::pg_sys;

/// Whether `event` ends the transaction (committed, aborted or prepared), in a backend or
/// in a parallel worker.
pub fn ends_transaction(event: pg_sys::XactEvent::Type) -> bool {
    use pg_sys::XactEvent::*;
    matches!(
        event,
        XACT_EVENT_COMMIT
            | XACT_EVENT_ABORT
            | XACT_EVENT_PREPARE
            | XACT_EVENT_PARALLEL_COMMIT
            | XACT_EVENT_PARALLEL_ABORT
    )
}
