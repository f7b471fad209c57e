//! Reading pulse's own tables without SQL, for the paths every statement takes.
//!
//! `pulse.authenticate`, `pulse.current_user_id` (when it verifies an assertion) and the
//! helpers every row-level security policy calls once per statement run on each request.
//! Through SQL (SPI, or a PL/pgSQL SECURITY DEFINER function) each cost 30-35 us, most of
//! it executor start-up and switching `search_path` for the definer; read here through the
//! table's index under the statement's snapshot they cost a few microseconds. Reading this
//! way also resolves no names through `search_path` and checks no table privileges: the
//! callers are pulse's own functions, whose EXECUTE privilege is the gate, exactly as it is
//! for a SECURITY DEFINER function.
//!
//! A table Citus manages holds no rows in the local relation, so it is read through SQL
//! instead (`through_sql`), as is every table while `pulse.direct_access` is off.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::CStr;
use std::ops::ControlFlow;

use pgrx::prelude::*;
use pgrx::{FromDatum, IntoDatum};
use rustc_hash::FxHashMap;

use crate::errors::raise;
use crate::identity::IdentityError;
use crate::through_sql;
use crate::trigger_entry::trigger_function;

thread_local! {
    /// Catalog lookups made once per backend: (schema, relation) -> OID and (relation,
    /// column) -> attribute number. Any relcache invalidation (DROP, ALTER, a reinstalled
    /// extension) empties them; they refill at the next use. Looked up a few dozen times per
    /// captured row, with a hasher several times cheaper than the default one (the keys are
    /// pulse's own names, so it need not resist chosen collisions).
    static RELATION_OIDS: RefCell<FxHashMap<(&'static CStr, &'static CStr), pg_sys::Oid>> =
        RefCell::new(FxHashMap::default());
    static ATTNUMS: RefCell<FxHashMap<(pg_sys::Oid, &'static CStr), i16>> =
        RefCell::new(FxHashMap::default());
}

/// Register the invalidation callback that empties the caches; called once from `_PG_init`.
pub fn register_callbacks() {
    // SAFETY: registers a static function with PostgreSQL's relcache callback list.
    unsafe {
        pg_sys::CacheRegisterRelcacheCallback(Some(forget_catalog_lookups), pg_sys::Datum::from(0))
    };
}

#[pg_guard]
unsafe extern "C-unwind" fn forget_catalog_lookups(_arg: pg_sys::Datum, _relid: pg_sys::Oid) {
    // No borrow is ever held across a call into PostgreSQL, so these cannot conflict.
    RELATION_OIDS.with_borrow_mut(HashMap::clear);
    ATTNUMS.with_borrow_mut(HashMap::clear);
    through_sql::forget();
}

/// The OID of relation `schema.name` (a table or an index), InvalidOid when missing.
pub fn relation_oid(schema: &'static CStr, name: &'static CStr) -> pg_sys::Oid {
    if let Some(oid) = RELATION_OIDS.with_borrow(|m| m.get(&(schema, name)).copied()) {
        return oid;
    }
    // SAFETY: catalog lookups by name; missing objects yield InvalidOid.
    let oid = unsafe {
        let namespace = pg_sys::get_namespace_oid(schema.as_ptr(), true);
        if namespace == pg_sys::InvalidOid {
            return pg_sys::InvalidOid;
        }
        pg_sys::get_relname_relid(name.as_ptr(), namespace)
    };
    if oid != pg_sys::InvalidOid {
        RELATION_OIDS.with_borrow_mut(|m| m.insert((schema, name), oid));
    }
    oid
}

/// The attributes of tuple descriptor `desc`, dropped ones included: attribute number n is at
/// index n - 1.
///
/// # Safety
/// `desc` must be valid for as long as the slice is used (an open relation's, a tuple's).
pub unsafe fn attributes<'a>(desc: pg_sys::TupleDesc) -> &'a [pg_sys::FormData_pg_attribute] {
    (*desc).attrs.as_slice((*desc).natts as usize)
}

/// Run `f` with a fresh snapshot that also sees this transaction's earlier commands, which
/// is what SQL in a VOLATILE function sees (SPI does the same); STABLE callers read under
/// the calling statement's snapshot instead, as SQL in a STABLE function does.
pub fn with_fresh_snapshot<T>(f: impl FnOnce() -> T) -> T {
    with_snapshot(pg_sys::GetTransactionSnapshot, f)
}

/// Run `f` under the newest snapshot: it also sees what transactions that committed after
/// this one began wrote. The hash chain reads its head so, after taking the entity's lock.
pub fn with_latest_snapshot<T>(f: impl FnOnce() -> T) -> T {
    with_snapshot(pg_sys::GetLatestSnapshot, f)
}

/// Run `f` with the snapshot `take` returns active, taken after a CommandCounterIncrement,
/// as `_SPI_execute_plan` does for a non-read-only call.
fn with_snapshot<T>(take: unsafe fn() -> pg_sys::Snapshot, f: impl FnOnce() -> T) -> T {
    // SAFETY: PushActiveSnapshot copies the static snapshot it is given; an error pops it at
    // (sub)transaction abort.
    unsafe {
        pg_sys::CommandCounterIncrement();
        pg_sys::PushActiveSnapshot(take());
        // Under REPEATABLE READ the transaction snapshot predates this command.
        pg_sys::UpdateActiveSnapshotCommandId();
    }
    let result = f();
    // SAFETY: pops what was pushed above.
    unsafe { pg_sys::PopActiveSnapshot() };
    result
}

/// A pulse table opened for reading (AccessShareLock) or for pulse's own writes
/// (RowExclusiveLock), the lock held to the end of the transaction, as a query would.
pub struct Table {
    rel: pg_sys::Relation,
    schema: &'static CStr,
    /// Read (and, for history, written) through SQL: see `through_sql`.
    through_sql: bool,
}

impl Table {
    pub fn open(schema: &'static CStr, name: &'static CStr) -> Self {
        Self::open_with(schema, name, pg_sys::AccessShareLock)
    }

    /// Opened for writing (see `crate::history::append`).
    pub fn open_for_write(schema: &'static CStr, name: &'static CStr) -> Self {
        Self::open_with(schema, name, pg_sys::RowExclusiveLock)
    }

    fn open_with(schema: &'static CStr, name: &'static CStr, lock: u32) -> Self {
        let relid = relation_oid(schema, name);
        if relid == pg_sys::InvalidOid {
            raise(IdentityError::Internal("opening a pulse table"));
        }
        // SAFETY: opening an existing relation by OID.
        let rel = unsafe { pg_sys::table_open(relid, lock as pg_sys::LOCKMODE) };
        Self {
            rel,
            schema,
            through_sql: through_sql::required(relid),
        }
    }

    /// The open relation.
    pub fn relation(&self) -> pg_sys::Relation {
        self.rel
    }

    /// Whether this table's rows are reached through SQL rather than the local relation.
    pub fn through_sql(&self) -> bool {
        self.through_sql
    }

    /// Whether row-level security applies to this table for the current role: not for a
    /// superuser or the table's owner, as `row_security_active` says.
    pub fn row_security_active(&self) -> bool {
        // SAFETY: `rel` is open; the check row_security_active makes.
        unsafe {
            pg_sys::check_enable_rls((*self.rel).rd_id, pg_sys::InvalidOid, true)
                == pg_sys::CheckEnableRlsResult::RLS_ENABLED as i32
        }
    }

    /// The attribute number of `column`.
    pub fn column(&self, column: &'static CStr) -> i16 {
        // SAFETY: `rel` is open.
        let relid = unsafe { (*self.rel).rd_id };
        if let Some(attnum) = ATTNUMS.with_borrow(|m| m.get(&(relid, column)).copied()) {
            return attnum;
        }
        // SAFETY: a syscache lookup.
        let attnum = unsafe { pg_sys::get_attnum(relid, column.as_ptr()) };
        if attnum <= 0 {
            raise(IdentityError::Internal("resolving a pulse column"));
        }
        ATTNUMS.with_borrow_mut(|m| m.insert((relid, column), attnum));
        attnum
    }

    /// Visit the rows whose `column` equals `value`, through `index` (which must lead with
    /// that column); `equal` is the equality function's OID (F_INT4EQ, ...).
    pub fn scan_equal<T: IntoDatum>(
        &self,
        index: &'static CStr,
        column: i16,
        equal: u32,
        value: T,
        visit: impl FnMut(&Row) -> ControlFlow<()>,
    ) {
        let datum = value
            .into_datum()
            .unwrap_or_else(|| raise(IdentityError::Internal("building a scan key")));
        self.scan_keys(index, &[(column, equal, datum)], visit);
    }

    /// Visit the rows matching every (column, equality function, value) key, through
    /// `index`, whose leading columns they must be.
    pub fn scan_keys(
        &self,
        index: &'static CStr,
        keys: &[(i16, u32, pg_sys::Datum)],
        visit: impl FnMut(&Row) -> ControlFlow<()>,
    ) {
        let index_oid = self.index(index);
        if self.through_sql {
            return through_sql::scan(self, index_oid, keys, visit);
        }
        let mut scan_keys: Vec<pg_sys::ScanKeyData> = keys
            .iter()
            .map(|&(column, equal, datum)| {
                let mut key = pg_sys::ScanKeyData::default();
                // SAFETY: initialising a scan key on a heap attribute number, as
                // systable_beginscan expects (it maps it to the index column).
                unsafe {
                    pg_sys::ScanKeyInit(
                        &mut key,
                        column,
                        pg_sys::BTEqualStrategyNumber as pg_sys::StrategyNumber,
                        pg_sys::Oid::from(equal),
                        datum,
                    );
                }
                key
            })
            .collect();
        self.scan(index_oid, &mut scan_keys, visit);
    }

    /// Visit every row of a small table (roles, auditors, the key), in `index` order: a
    /// full index scan, which unlike a heap scan needs no system call to size the table.
    pub fn scan_all(&self, index: &'static CStr, visit: impl FnMut(&Row) -> ControlFlow<()>) {
        self.scan_keys(index, &[], visit);
    }

    fn index(&self, index: &'static CStr) -> pg_sys::Oid {
        let oid = relation_oid(self.schema, index);
        if oid == pg_sys::InvalidOid {
            raise(IdentityError::Internal("opening a pulse index"));
        }
        oid
    }

    fn scan(
        &self,
        index_oid: pg_sys::Oid,
        keys: &mut [pg_sys::ScanKeyData],
        mut visit: impl FnMut(&Row) -> ControlFlow<()>,
    ) {
        // SAFETY: a systable scan of an open relation under an MVCC snapshot: the active one
        // (the calling statement's), else the transaction's. Tuples are valid until the next
        // systable_getnext; `visit` copies what it keeps.
        unsafe {
            let snapshot = if pg_sys::ActiveSnapshotSet() {
                pg_sys::GetActiveSnapshot()
            } else {
                pg_sys::GetTransactionSnapshot()
            };
            let scan = pg_sys::systable_beginscan(
                self.rel,
                index_oid,
                true,
                snapshot,
                keys.len() as i32,
                keys.as_mut_ptr(),
            );
            let desc = (*self.rel).rd_att;
            loop {
                let tuple = pg_sys::systable_getnext(scan);
                if tuple.is_null() || visit(&Row { tuple, desc }).is_break() {
                    break;
                }
            }
            pg_sys::systable_endscan(scan);
        }
    }

    /// The first row whose `column` equals `value`, turned into `T` by `read`.
    pub fn find<K: IntoDatum, T>(
        &self,
        index: &'static CStr,
        column: i16,
        equal: u32,
        value: K,
        read: impl Fn(&Row) -> T,
    ) -> Option<T> {
        let mut found = None;
        self.scan_equal(index, column, equal, value, |row| {
            found = Some(read(row));
            ControlFlow::Break(())
        });
        found
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        // SAFETY: closes what `open` opened; the lock stays until the transaction ends.
        unsafe { pg_sys::table_close(self.rel, pg_sys::NoLock as pg_sys::LOCKMODE) };
    }
}

/// One row of a scan.
pub struct Row {
    tuple: pg_sys::HeapTuple,
    desc: pg_sys::TupleDesc,
}

impl Row {
    pub(crate) fn new(tuple: pg_sys::HeapTuple, desc: pg_sys::TupleDesc) -> Self {
        Self { tuple, desc }
    }

    /// The tuple and its descriptor, valid until the scan moves on.
    pub fn raw(&self) -> (pg_sys::HeapTuple, pg_sys::TupleDesc) {
        (self.tuple, self.desc)
    }

    /// Column `attnum` as `T`; None when NULL.
    pub fn get<T: FromDatum>(&self, attnum: i16) -> Option<T> {
        let mut is_null = false;
        // SAFETY: the tuple and descriptor come from the scan in progress; `T` matches the
        // column's type (pulse's own schema, fixed by the install script).
        unsafe {
            let datum = pg_sys::heap_getattr(self.tuple, attnum.into(), self.desc, &mut is_null);
            T::from_datum(datum, is_null)
        }
    }
}

/// Statement trigger on the tables whose contents backends cache (the identity key, the
/// history column policies and salt, the reference tables): when the change commits,
/// every backend's relcache callbacks run and the caches are read again (this
/// backend's at the next command).
fn forget_cached_copies<'a>(
    trigger: &'a pgrx::PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByRust>>, pgrx::PgTriggerError> {
    // SAFETY: the trigger's relation is open; this queues a relcache invalidation.
    unsafe { pg_sys::CacheInvalidateRelcacheByRelid(trigger.relation()?.oid()) };
    Ok(None)
}
trigger_function!(
    "pulse.forget_cached_copies()",
    pg_finfo_forget_cached_copies_wrapper,
    forget_cached_copies_wrapper,
    forget_cached_copies
);
