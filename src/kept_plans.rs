//! SPI plans prepared once per backend and kept (SPI_keepplan) for the statements pulse runs
//! on every captured change or throttled session touch.

use std::cell::RefCell;
use std::thread::LocalKey;

use pgrx::prelude::*;
use pgrx::spi::{OwnedPreparedStatement, SpiClient};
use pgrx::PgSqlErrorCode;

use crate::errors::{raise, SqlError};

pub type KeptPlan = RefCell<Option<OwnedPreparedStatement>>;

#[derive(Debug, thiserror::Error)]
#[error("internal error while preparing {0}")]
pub struct PrepareError(&'static str);

impl SqlError for PrepareError {
    fn sqlstate(&self) -> PgSqlErrorCode {
        PgSqlErrorCode::ERRCODE_INTERNAL_ERROR
    }
}

/// Run `f` with a connected SPI client and the plan of `sql` kept in `cell`, preparing it on
/// first use; `what` names the statement in the error if it cannot be prepared.
pub fn with_kept_plan<R>(
    cell: &'static LocalKey<KeptPlan>,
    sql: &str,
    types: &[pgrx::PgOid],
    what: &'static str,
    f: impl FnOnce(&mut SpiClient<'_>, &OwnedPreparedStatement) -> R,
) -> R {
    Spi::connect_mut(|client| {
        if cell.with_borrow(|p| p.is_none()) {
            let plan = client
                .prepare_mut(sql, types)
                .unwrap_or_else(|_| raise(PrepareError(what)))
                .keep();
            cell.with_borrow_mut(|p| *p = Some(plan));
        }
        cell.with_borrow(|plan| f(client, plan.as_ref().expect("prepared above")))
    })
}
