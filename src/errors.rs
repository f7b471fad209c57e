//! The boundary between pulse's typed errors and PostgreSQL's error reporting.
//!
//! Every module that can fail defines its own error enum (one per concern) and implements
//! [`SqlError`] for it: the SQLSTATE is chosen once, next to the error, and never by the
//! caller. [`raise`] turns such an error into an `ereport(ERROR, ...)`, so callers see a
//! precise SQLSTATE instead of a Rust panic surfacing as XX000.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::PgLogLevel;
use pgrx::PgSqlErrorCode;

/// An error that knows how PostgreSQL should report it.
pub trait SqlError: std::fmt::Display {
    /// The SQLSTATE clients match on.
    fn sqlstate(&self) -> PgSqlErrorCode;

    /// Optional DETAIL line. Must never contain a secret.
    fn detail(&self) -> Option<String> {
        None
    }

    /// Optional HINT line: what the caller can do about it.
    fn hint(&self) -> Option<String> {
        None
    }
}

/// Raise `error` as a PostgreSQL ERROR; the current transaction (or subtransaction) aborts.
#[track_caller]
pub fn raise<E: SqlError>(error: E) -> ! {
    let mut report = ErrorReport::new(error.sqlstate(), error.to_string(), "pulse");
    if let Some(detail) = error.detail() {
        report = report.set_detail(detail);
    }
    if let Some(hint) = error.hint() {
        report = report.set_hint(hint);
    }
    report.report(PgLogLevel::ERROR);
    unreachable!("ereport(ERROR) does not return")
}
