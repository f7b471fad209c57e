//! Reading through SPI without making the transaction writable.
//!
//! pgrx's `Spi::get_one`, `Spi::get_two_with_args`, `Spi::run` and `SpiClient::update` first
//! give the transaction an id (`Spi::mark_mutable`). On a hot standby that is an error
//! ("cannot assign TransactionIds during recovery"); elsewhere it makes a read-only
//! transaction write a commit record. Reads go through `SpiClient::select` here instead.

use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::{FromDatum, IntoDatum};

/// The first column of the first row, None when there is no row or it is NULL.
pub fn select_one<A: FromDatum + IntoDatum>(query: &str, args: &[DatumWithOid]) -> Option<A> {
    Spi::connect(|client| {
        let rows = client.select(query, Some(1), args).ok()?;
        if rows.is_empty() {
            return None;
        }
        rows.first().get_one::<A>().ok().flatten()
    })
}

/// The first two columns of the first row, None when there is no row.
pub fn select_two<A: FromDatum + IntoDatum, B: FromDatum + IntoDatum>(
    query: &str,
    args: &[DatumWithOid],
) -> Option<(Option<A>, Option<B>)> {
    Spi::connect(|client| {
        let rows = client.select(query, Some(1), args).ok()?;
        if rows.is_empty() {
            return None;
        }
        rows.first().get_two::<A, B>().ok()
    })
}

/// Run a utility statement that writes nothing (`SET LOCAL`), without a transaction id.
pub fn run_utility(statement: &std::ffi::CStr) -> bool {
    // SAFETY: a plain SPI session around one statement; an error raised inside leaves the
    // connection to the transaction's abort, which closes it.
    unsafe {
        if pg_sys::SPI_connect() < 0 {
            return false;
        }
        let result = pg_sys::SPI_execute(statement.as_ptr(), false, 0);
        pg_sys::SPI_finish();
        result >= 0
    }
}
