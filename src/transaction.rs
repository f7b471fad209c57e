//! The moment a transaction ends, or a subtransaction aborts, for the modules that keep
//! per-transaction state in backend memory (the caller, the change reason, pending
//! history): one pair of callbacks, registered once per backend, tells each of them.

use pgrx::prelude::*;

use crate::{history, identity};

/// Register the transaction callbacks; called once from `_PG_init`.
pub fn register_callbacks() {
    // SAFETY: registering static functions with PostgreSQL's callback lists, once per backend.
    unsafe {
        pg_sys::RegisterXactCallback(Some(on_xact_event), std::ptr::null_mut());
        pg_sys::RegisterSubXactCallback(Some(on_subxact_event), std::ptr::null_mut());
    }
}

/// Whether `event` ends the transaction (committed, aborted or prepared), in a backend or
/// in a parallel worker.
fn ends_transaction(event: pg_sys::XactEvent::Type) -> bool {
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

#[pg_guard]
unsafe extern "C-unwind" fn on_xact_event(
    event: pg_sys::XactEvent::Type,
    _arg: *mut core::ffi::c_void,
) {
    if ends_transaction(event) {
        identity::forget_transaction_state();
        history::forget_transaction_state();
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn on_subxact_event(
    event: pg_sys::SubXactEvent::Type,
    _my_subid: pg_sys::SubTransactionId,
    _parent_subid: pg_sys::SubTransactionId,
    _arg: *mut core::ffi::c_void,
) {
    if event == pg_sys::SubXactEvent::SUBXACT_EVENT_ABORT_SUB {
        // The aborting subtransaction is still the current one while callbacks run.
        // SAFETY: plain read of transaction state.
        let level = unsafe { pg_sys::GetCurrentTransactionNestLevel() };
        identity::forget_subtransaction_state(level);
        history::forget_subtransaction_state();
    }
}
