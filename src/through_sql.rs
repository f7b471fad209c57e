//! Reading and appending through SQL, for tables whose rows are not in the local relation.
//!
//! pulse reads its hot-path tables through their indexes (`direct_read`, D22) and appends
//! history with heap functions (`history::append`, D45). Both address the relation on this
//! node. Once Citus distributes a table, that relation is an empty shell: the rows live in
//! shards, which only SQL reaches (Citus plans every statement, on a coordinator or a
//! worker). So a table that Citus manages, or every table while `pulse.direct_access` is off,
//! is read and written here instead: the same rows, in the same order, under the same
//! snapshot, with the extension owner's rights and `search_path = pg_catalog, pg_temp`, as
//! a SECURITY DEFINER function would (decision log D47). Every name in the statements is
//! quoted and schema-qualified, and the equality operator is `OPERATOR(pg_catalog.=)`, so
//! nothing resolves through a search_path the caller chose.
//!
//! Rows come back as whole-row values (`SELECT t FROM ... t`), whose layout is the table's
//! own, dropped columns included: callers read them with the relation's descriptor and
//! attribute numbers exactly as they read a heap tuple. They carry no transaction id, so a
//! caller asking whether its transaction wrote a row is told no, the cautious answer (see
//! `history::snapshot::RawRow::written_by_this_transaction`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::ops::ControlFlow;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;

use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use rustc_hash::FxHashMap;

use crate::direct_read::{attributes, Row, Table};
use crate::errors::{raise, SqlError};
use crate::identity::as_extension_owner;
use crate::settings;

/// Rows fetched per round trip of a scan; the caller visits each batch with its own rights.
const BATCH: i64 = 256;

/// What a statement does, which decides its text and its arguments' types.
#[derive(PartialEq, Eq, Hash)]
enum Shape {
    /// Rows of a relation whose columns equal keys ((attribute, equality function)), in an
    /// index's order.
    Scan(pg_sys::Oid, pg_sys::Oid, Vec<(i16, u32)>),
    /// A row of every live column of a relation.
    Insert(pg_sys::Oid),
    /// Columns set in the rows of a relation whose key columns equal values.
    Update(pg_sys::Oid, Vec<i16>, Vec<i16>),
}

/// A statement's text and its arguments' types.
struct Statement {
    text: CString,
    types: Vec<pg_sys::Oid>,
}

thread_local! {
    /// Whether Citus manages a relation, by OID, asked once per backend; emptied with
    /// `direct_read`'s caches on any relcache invalidation (distributing a table sends one).
    static CITUS_TABLES: RefCell<FxHashMap<pg_sys::Oid, bool>> = RefCell::new(FxHashMap::default());
    /// Each statement, built once per backend; emptied with `CITUS_TABLES`, since a renamed
    /// table or column changes its text.
    static STATEMENTS: RefCell<HashMap<Shape, Rc<Statement>>> = RefCell::new(HashMap::new());
    /// The statements' plans by text, prepared once per backend and kept (SPI_keepplan); the
    /// plan cache revalidates them after DDL.
    static PLANS: RefCell<HashMap<CString, usize>> = RefCell::new(HashMap::new());
}

#[derive(Debug, thiserror::Error)]
pub enum ThroughSqlError {
    #[error("internal error while {0} through SQL")]
    Internal(&'static str),
}

impl SqlError for ThroughSqlError {
    fn sqlstate(&self) -> PgSqlErrorCode {
        PgSqlErrorCode::ERRCODE_INTERNAL_ERROR
    }
}

/// Forget what was learnt about Citus and the tables (see `CITUS_TABLES`, `STATEMENTS`).
pub fn forget() {
    CITUS_TABLES.with_borrow_mut(HashMap::clear);
    STATEMENTS.with_borrow_mut(HashMap::clear);
}

/// Whether pulse must read and write `relid` through SQL: `pulse.direct_access` is off, or
/// Citus manages the table (it is listed in `pg_dist_partition`).
pub fn required(relid: pg_sys::Oid) -> bool {
    !settings::DIRECT_ACCESS.get() || managed_by_citus(relid)
}

fn managed_by_citus(relid: pg_sys::Oid) -> bool {
    if let Some(known) = CITUS_TABLES.with_borrow(|m| m.get(&relid).copied()) {
        return known;
    }
    // SAFETY: a catalog lookup by name; a missing extension yields InvalidOid.
    let citus = unsafe { pg_sys::get_extension_oid(c"citus".as_ptr(), true) };
    let managed = citus != pg_sys::InvalidOid
        && crate::spi_read::select_one::<bool>(
            "SELECT EXISTS (SELECT FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1)",
            &[relid.into()],
        )
        .unwrap_or(false);
    CITUS_TABLES.with_borrow_mut(|m| m.insert(relid, managed));
    managed
}

/// `schema.relation`, each part quoted.
fn qualified_name(rel: pg_sys::Relation) -> String {
    // SAFETY: `rel` is open; its namespace exists while it is.
    unsafe {
        let namespace = pg_sys::get_namespace_name((*(*rel).rd_rel).relnamespace);
        let name = (*(*rel).rd_rel).relname.data.as_ptr();
        format!("{}.{}", quoted(namespace), quoted(name))
    }
}

fn quoted(name: *const std::ffi::c_char) -> String {
    // SAFETY: quote_identifier reads a NUL-terminated name and returns it or a palloc'd copy.
    unsafe { CStr::from_ptr(pg_sys::quote_identifier(name)) }
        .to_string_lossy()
        .into_owned()
}

/// Attribute `attnum` (1-based) of `rel`.
fn attribute<'a>(rel: pg_sys::Relation, attnum: i16) -> &'a pg_sys::FormData_pg_attribute {
    // SAFETY: `rel` is open and `attnum` one of its attributes.
    unsafe { &attributes((*rel).rd_att)[attnum as usize - 1] }
}

/// The quoted name of attribute `attnum` (1-based) of `rel`.
fn column_name(rel: pg_sys::Relation, attnum: i16) -> String {
    quoted(attribute(rel, attnum).attname.data.as_ptr())
}

/// The type of the right-hand argument of equality function `equal`: the type a key's
/// value has.
fn key_type(equal: u32) -> pg_sys::Oid {
    let mut argtypes: *mut pg_sys::Oid = std::ptr::null_mut();
    let mut nargs = 0;
    // SAFETY: a syscache lookup of a built-in function; argtypes is palloc'd.
    unsafe {
        pg_sys::get_func_signature(pg_sys::Oid::from(equal), &mut argtypes, &mut nargs);
        if nargs != 2 {
            raise(ThroughSqlError::Internal("typing a scan key"));
        }
        *argtypes.add(1)
    }
}

/// The key columns of index `index_oid`, in order (expression columns left out).
fn index_columns(index_oid: pg_sys::Oid) -> Vec<i16> {
    // SAFETY: opening an existing index by OID for its descriptor; closed before returning,
    // the lock kept to the end of the transaction as a query would.
    unsafe {
        let index = pg_sys::index_open(index_oid, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        let form = (*index).rd_index;
        let keys = (*form).indnkeyatts as usize;
        let columns = (*form)
            .indkey
            .values
            .as_slice(keys)
            .iter()
            .copied()
            .filter(|&attnum| attnum > 0)
            .collect();
        pg_sys::index_close(index, pg_sys::NoLock as pg_sys::LOCKMODE);
        columns
    }
}

/// The values of a statement's arguments, in SPI's form.
#[derive(Default)]
struct Arguments {
    values: Vec<pg_sys::Datum>,
    nulls: Vec<std::ffi::c_char>,
}

impl Arguments {
    fn add(&mut self, value: Option<pg_sys::Datum>) {
        self.values.push(value.unwrap_or(pg_sys::Datum::from(0)));
        self.nulls
            .push(if value.is_some() { b' ' } else { b'n' } as std::ffi::c_char);
    }
}

/// The statement of `shape`, built by `build` (text, argument types) on first use.
fn statement(shape: Shape, build: impl FnOnce() -> (String, Vec<pg_sys::Oid>)) -> Rc<Statement> {
    if let Some(statement) = STATEMENTS.with_borrow(|s| s.get(&shape).cloned()) {
        return statement;
    }
    let (text, types) = build();
    let text = CString::new(text)
        .unwrap_or_else(|_| raise(ThroughSqlError::Internal("building a statement")));
    let statement = Rc::new(Statement { text, types });
    STATEMENTS.with_borrow_mut(|s| s.insert(shape, Rc::clone(&statement)));
    statement
}

/// The kept plan of `statement`, preparing it on first use (SPI must be connected).
fn kept_plan(statement: &Statement) -> pg_sys::SPIPlanPtr {
    if let Some(plan) = PLANS.with_borrow(|plans| plans.get(&statement.text).copied()) {
        return plan as pg_sys::SPIPlanPtr;
    }
    let mut types = statement.types.clone();
    // SAFETY: preparing while connected; SPI_keepplan moves the plan out of the connection's
    // memory, so it outlives SPI_finish and the transaction.
    let plan = unsafe {
        let plan = pg_sys::SPI_prepare(
            statement.text.as_ptr(),
            types.len() as i32,
            types.as_mut_ptr(),
        );
        if plan.is_null() || pg_sys::SPI_keepplan(plan) != 0 {
            raise(ThroughSqlError::Internal("preparing a statement"));
        }
        plan
    };
    PLANS.with_borrow_mut(|plans| plans.insert(statement.text.clone(), plan as usize));
    plan
}

/// `<prefix><column> OPERATOR(pg_catalog.=) $n` for each attribute, numbered from `first`.
fn equalities(rel: pg_sys::Relation, prefix: &str, columns: &[i16], first: usize) -> Vec<String> {
    columns
        .iter()
        .enumerate()
        .map(|(i, &attnum)| {
            format!(
                "{prefix}{} OPERATOR(pg_catalog.=) ${}",
                column_name(rel, attnum),
                first + i
            )
        })
        .collect()
}

/// `SELECT t FROM <rel> AS t WHERE <keys> ORDER BY <index_oid's columns>`.
fn scan_statement(
    rel: pg_sys::Relation,
    index_oid: pg_sys::Oid,
    keys: &[(i16, u32)],
) -> Rc<Statement> {
    // SAFETY: the relation is open.
    let relid = unsafe { (*rel).rd_id };
    statement(Shape::Scan(relid, index_oid, keys.to_vec()), || {
        let columns: Vec<i16> = keys.iter().map(|&(column, _)| column).collect();
        let conditions = equalities(rel, "t.", &columns, 1);
        let order: Vec<String> = index_columns(index_oid)
            .into_iter()
            .map(|column| format!("t.{}", column_name(rel, column)))
            .collect();
        let mut text = format!("SELECT t FROM {} AS t", qualified_name(rel));
        if !conditions.is_empty() {
            text += &format!(" WHERE {}", conditions.join(" AND "));
        }
        if !order.is_empty() {
            text += &format!(" ORDER BY {}", order.join(", "));
        }
        (
            text,
            keys.iter().map(|&(_, equal)| key_type(equal)).collect(),
        )
    })
}

/// Visit the rows of `rel` whose columns equal the keys ((attribute, equality function,
/// value), as for an index scan), in the order of `index_oid`'s columns, under the active
/// snapshot. The statement runs with the extension owner's rights; `visit` runs with the
/// caller's, in the caller's memory context, a batch of rows at a time.
pub fn scan(
    table: &Table,
    index_oid: pg_sys::Oid,
    keys: &[(i16, u32, pg_sys::Datum)],
    mut visit: impl FnMut(&Row) -> ControlFlow<()>,
) {
    let rel = table.relation();
    let shape: Vec<(i16, u32)> = keys
        .iter()
        .map(|&(column, equal, _)| (column, equal))
        .collect();
    let statement = scan_statement(rel, index_oid, &shape);
    let mut arguments = Arguments::default();
    for &(_, _, value) in keys {
        arguments.add(Some(value));
    }

    // SAFETY: the relation is open.
    let (desc, relid) = unsafe { ((*rel).rd_att, (*rel).rd_id) };
    // SAFETY: one SPI connection around the cursor. Every SPI call leaves SPI's memory
    // context current; the caller's is made current again before rows are copied and
    // visited, so what `visit` allocates outlives SPI_finish, as in a heap scan. An error
    // leaves the connection and the portal to the (sub)transaction's abort.
    unsafe {
        let caller_context = pg_sys::CurrentMemoryContext;
        if pg_sys::SPI_connect() < 0 {
            raise(ThroughSqlError::Internal("connecting to SPI"));
        }
        let pushed = !pg_sys::ActiveSnapshotSet();
        if pushed {
            pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
        }
        let portal = as_extension_owner(AssertUnwindSafe(|| {
            let plan = kept_plan(&statement);
            pg_sys::SPI_cursor_open(
                std::ptr::null(),
                plan,
                arguments.values.as_mut_ptr(),
                arguments.nulls.as_ptr(),
                true,
            )
        }));
        if portal.is_null() {
            raise(ThroughSqlError::Internal("opening a cursor"));
        }
        'batches: loop {
            as_extension_owner(AssertUnwindSafe(|| {
                pg_sys::SPI_cursor_fetch(portal, true, BATCH)
            }));
            pg_sys::MemoryContextSwitchTo(caller_context);
            let (table, fetched) = (pg_sys::SPI_tuptable, pg_sys::SPI_processed);
            if table.is_null() || fetched == 0 {
                break;
            }
            let rows = std::slice::from_raw_parts((*table).vals, fetched as usize);
            for &result in rows {
                let mut is_null = false;
                let whole = pg_sys::SPI_getbinval(result, (*table).tupdesc, 1, &mut is_null);
                if is_null {
                    continue;
                }
                let tuple = heap_tuple_of(whole, relid);
                let stop = visit(&Row::new(tuple, desc)).is_break();
                pg_sys::heap_freetuple(tuple);
                if stop {
                    pg_sys::SPI_freetuptable(table);
                    break 'batches;
                }
            }
            pg_sys::SPI_freetuptable(table);
        }
        pg_sys::SPI_cursor_close(portal);
        if pushed {
            pg_sys::PopActiveSnapshot();
        }
        pg_sys::SPI_finish();
    }
}

/// A heap tuple holding the row in a whole-row value of `relid`'s row type, in the current
/// memory context. The header's datum fields (length, type) share space with a stored
/// tuple's transaction ids, so they are overwritten: no xmin (InvalidTransactionId), no
/// position.
///
/// # Safety
/// `whole` must be a composite datum of the relation's row type.
unsafe fn heap_tuple_of(whole: pg_sys::Datum, relid: pg_sys::Oid) -> pg_sys::HeapTuple {
    let header = pg_sys::pg_detoast_datum(whole.cast_mut_ptr()) as pg_sys::HeapTupleHeader;
    let mut borrowed = pg_sys::HeapTupleData {
        t_len: pgrx::varlena::varsize_any(header.cast()) as u32,
        t_self: pg_sys::ItemPointerData::default(),
        t_tableOid: relid,
        t_data: header,
    };
    let tuple = pg_sys::heap_copytuple(&mut borrowed);
    let data = (*tuple).t_data;
    (*data).t_choice.t_heap.t_xmin = pg_sys::InvalidTransactionId;
    (*data).t_choice.t_heap.t_xmax = pg_sys::InvalidTransactionId;
    (*data).t_choice.t_heap.t_field3.t_cid = 0;
    tuple
}

/// Insert one row into `rel`: a value (None for NULL) per attribute, dropped ones ignored.
pub fn insert(table: &Table, values: &[Option<pg_sys::Datum>]) {
    let rel = table.relation();
    let live = live_attributes(rel);
    // SAFETY: the relation is open.
    let relid = unsafe { (*rel).rd_id };
    let statement = statement(Shape::Insert(relid), || {
        let columns: Vec<String> = live
            .iter()
            .map(|&(attnum, _)| column_name(rel, attnum))
            .collect();
        let placeholders: Vec<String> = (1..=live.len()).map(|n| format!("${n}")).collect();
        let text = format!(
            "INSERT INTO {} ({}) VALUES ({})",
            qualified_name(rel),
            columns.join(", "),
            placeholders.join(", ")
        );
        (text, live.iter().map(|&(_, type_oid)| type_oid).collect())
    });
    let mut arguments = Arguments::default();
    for &(attnum, _) in &live {
        arguments.add(values[attnum as usize - 1]);
    }
    execute(&statement, arguments, pg_sys::SPI_OK_INSERT);
}

/// Set the `changed` columns ((attribute, value)) of the rows of `rel` whose `key` columns
/// equal the values given.
pub fn update(
    table: &Table,
    changed: &[(i16, Option<pg_sys::Datum>)],
    key: &[(i16, pg_sys::Datum)],
) {
    let rel = table.relation();
    let set: Vec<i16> = changed.iter().map(|&(attnum, _)| attnum).collect();
    let by: Vec<i16> = key.iter().map(|&(attnum, _)| attnum).collect();
    // SAFETY: the relation is open.
    let relid = unsafe { (*rel).rd_id };
    let statement = statement(Shape::Update(relid, set.clone(), by.clone()), || {
        let assignments: Vec<String> = set
            .iter()
            .enumerate()
            .map(|(i, &attnum)| format!("{} = ${}", column_name(rel, attnum), i + 1))
            .collect();
        let conditions = equalities(rel, "", &by, set.len() + 1);
        let text = format!(
            "UPDATE {} SET {} WHERE {}",
            qualified_name(rel),
            assignments.join(", "),
            conditions.join(" AND ")
        );
        let types = set
            .iter()
            .chain(&by)
            .map(|&attnum| attribute(rel, attnum).atttypid);
        (text, types.collect())
    });
    let mut arguments = Arguments::default();
    changed.iter().for_each(|&(_, value)| arguments.add(value));
    key.iter()
        .for_each(|&(_, value)| arguments.add(Some(value)));
    execute(&statement, arguments, pg_sys::SPI_OK_UPDATE);
}

/// (attribute number, type) of every attribute of `rel` that is not dropped.
fn live_attributes(rel: pg_sys::Relation) -> Vec<(i16, pg_sys::Oid)> {
    // SAFETY: `rel` is open.
    unsafe { attributes((*rel).rd_att) }
        .iter()
        .enumerate()
        .filter(|(_, attribute)| !attribute.attisdropped)
        .map(|(index, attribute)| (index as i16 + 1, attribute.atttypid))
        .collect()
}

/// Run a write with the extension owner's rights; `expected` is SPI's result code for it.
fn execute(statement: &Statement, mut arguments: Arguments, expected: u32) {
    // SAFETY: one SPI connection around one statement; an error leaves it to the abort.
    let result = as_extension_owner(AssertUnwindSafe(|| unsafe {
        if pg_sys::SPI_connect() < 0 {
            raise(ThroughSqlError::Internal("connecting to SPI"));
        }
        let plan = kept_plan(statement);
        let result = pg_sys::SPI_execute_plan(
            plan,
            arguments.values.as_mut_ptr(),
            arguments.nulls.as_ptr(),
            false,
            0,
        );
        pg_sys::SPI_finish();
        result
    }));
    if result != expected as i32 {
        raise(ThroughSqlError::Internal("writing a history table"));
    }
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use std::ops::ControlFlow;

    use pgrx::prelude::*;

    use crate::direct_read::Table;

    /// (id, k, v, w) of every row a scan visits, down the path `direct` chooses.
    fn rows(direct: bool, keyed: bool) -> Vec<(i32, i32, String, String)> {
        Spi::run(if direct {
            "SET pulse.direct_access = on"
        } else {
            "SET pulse.direct_access = off"
        })
        .unwrap();
        let table = Table::open(c"pulse_tests", c"rows");
        assert_eq!(table.through_sql(), !direct);
        let (id, k, v, w) = (
            table.column(c"id"),
            table.column(c"k"),
            table.column(c"v"),
            table.column(c"w"),
        );
        let mut seen = Vec::new();
        let visit = |row: &crate::direct_read::Row| {
            seen.push((
                row.get::<i32>(id).unwrap(),
                row.get::<i32>(k).unwrap(),
                row.get::<String>(v).unwrap(),
                row.get::<String>(w).unwrap(),
            ));
            ControlFlow::Continue(())
        };
        // A fresh snapshot, as pulse's volatile callers take: the rows were written by
        // earlier commands of this transaction.
        crate::direct_read::with_fresh_snapshot(|| {
            if keyed {
                table.scan_equal(c"rows_k_id", k, pg_sys::F_INT4EQ, 1, visit);
            } else {
                table.scan_all(c"rows_pkey", visit);
            }
        });
        seen
    }

    /// Whole-row values keep the table's layout: with a dropped column before live ones,
    /// both paths read the same rows, in the index's order, with the same values, across
    /// several batches of the cursor.
    #[pg_test]
    fn the_sql_path_reads_what_the_index_read_reads() {
        Spi::run("CREATE SCHEMA pulse_tests").unwrap();
        Spi::run("CREATE TABLE pulse_tests.rows (id int PRIMARY KEY, dropped int, k int, v text)")
            .unwrap();
        Spi::run("ALTER TABLE pulse_tests.rows DROP COLUMN dropped").unwrap();
        Spi::run("ALTER TABLE pulse_tests.rows ADD COLUMN w text").unwrap();
        Spi::run("CREATE INDEX rows_k_id ON pulse_tests.rows (k, id)").unwrap();
        Spi::run(
            "INSERT INTO pulse_tests.rows (id, k, v, w)
             SELECT i, i % 3, 'v' || i, 'w' || i FROM generate_series(600, 1, -1) i",
        )
        .unwrap();
        for keyed in [false, true] {
            let direct = rows(true, keyed);
            assert_eq!(direct.len(), if keyed { 200 } else { 600 });
            assert!(direct.windows(2).all(|pair| pair[0].0 < pair[1].0));
            assert_eq!(rows(false, keyed), direct);
        }
        // A visit that stops early closes the cursor and leaves the next scan whole.
        Spi::run("SET pulse.direct_access = off").unwrap();
        let table = Table::open(c"pulse_tests", c"rows");
        let (id, k) = (table.column(c"id"), table.column(c"k"));
        let first = crate::direct_read::with_fresh_snapshot(|| {
            table.find(c"rows_k_id", k, pg_sys::F_INT4EQ, 2, |row| {
                row.get::<i32>(id)
            })
        });
        let mut count = 0;
        crate::direct_read::with_fresh_snapshot(|| {
            table.scan_equal(c"rows_k_id", k, pg_sys::F_INT4EQ, 2, |_| {
                count += 1;
                ControlFlow::Continue(())
            })
        });
        assert_eq!((first, count), (Some(Some(2)), 200));
    }
}
