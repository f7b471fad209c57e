//! The C entry points of pulse's trigger functions.
//!
//! pgrx's `#[pg_trigger]` turns a call that does not come from the trigger manager (`SELECT
//! audit.capture_document()`, say) into a Rust panic, reported as XX000 in pgrx's words.
//! [`trigger_function!`] declares the entry point instead: such a call is refused before
//! anything else runs, with the SQLSTATE PostgreSQL's own C triggers use for it (39P01,
//! trigger protocol violated). The functions are declared by hand in the sql/ files
//! (`LANGUAGE c` with the entry point's symbol), next to the triggers that use them.

use std::fmt;

use pgrx::prelude::*;
use pgrx::{PgSqlErrorCode, WhoAllocated};

use crate::errors::{raise, SqlError};

/// Why a trigger function could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    /// Called other than by the trigger manager.
    #[error("{function} can only be called as a trigger")]
    NotCalledAsTrigger { function: &'static str },
    /// Fired in a way it does not support: by a trigger on another kind of event, on a table
    /// without the columns it reads, or on a table it does not record (pulse creates no such
    /// trigger; a superuser could).
    #[error("{function}: {error}")]
    Misused {
        function: &'static str,
        error: String,
    },
}

impl SqlError for TriggerError {
    fn sqlstate(&self) -> PgSqlErrorCode {
        PgSqlErrorCode::ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED
    }
}

/// Refuses a call that did not come from the trigger manager.
pub fn refuse_direct_call(function: &'static str) -> ! {
    raise(TriggerError::NotCalledAsTrigger { function })
}

/// What the trigger manager expects back from a trigger function: the row to go on with,
/// or a null pointer (an AFTER or statement trigger, or a row to skip).
pub fn trigger_result<A: WhoAllocated, E: fmt::Display>(
    function: &'static str,
    result: Result<Option<PgHeapTuple<'_, A>>, E>,
) -> pg_sys::Datum {
    match result {
        Ok(row) => row
            .and_then(PgHeapTuple::into_trigger_datum)
            .unwrap_or(pg_sys::Datum::from(0)),
        Err(error) => raise(TriggerError::Misused {
            function,
            error: error.to_string(),
        }),
    }
}

/// Declares the C entry point `$symbol` (and its `pg_finfo_` record, `$finfo`) of the trigger
/// function `$function`, whose work is `$body`: a function of the `PgTrigger` that returns
/// the row to go on with, as a pgrx trigger does.
macro_rules! trigger_function {
    ($function:literal, $finfo:ident, $symbol:ident, $body:path) => {
        $crate::c_function::function_info_v1!($finfo);

        #[unsafe(no_mangle)]
        #[doc(hidden)]
        #[::pgrx::pg_guard]
        pub unsafe extern "C-unwind" fn $symbol(
            fcinfo: ::pgrx::pg_sys::FunctionCallInfo,
        ) -> ::pgrx::pg_sys::Datum {
            // SAFETY: PostgreSQL passes a valid fcinfo; from_fcinfo checks that the trigger
            // manager made the call before it reads the trigger data.
            let Ok(trigger) = (unsafe { ::pgrx::PgTrigger::from_fcinfo(&*fcinfo) }) else {
                $crate::trigger_entry::refuse_direct_call($function)
            };
            $crate::trigger_entry::trigger_result($function, $body(&trigger))
        }
    };
}

pub(crate) use trigger_function;
