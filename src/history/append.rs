//! Appending a history row and moving its chain head, without SQL.
//!
//! Every audited change writes one history row and moves its entity's chain head. Through
//! SQL that took two executor start-ups per row (an `INSERT` and an `INSERT ... ON
//! CONFLICT`), each compiling the history table's CHECK constraints again, and a BEFORE
//! trigger that sealed the row: most of what capture cost (decision log D45). Here the row is
//! formed in Rust, sealed (version, `prev_hash`, `row_hash`), inserted with
//! `simple_heap_insert` and indexed by the executor's own index insertion (unique checks and
//! partial-index predicates included); the head is updated in place, a HOT update whenever
//! its page has room. The values are pulse's own and satisfy the tables' CHECK constraints
//! by construction; `tests/integration/test_history.py` checks every constraint against
//! every row a concurrent random workload wrote.
//!
//! Where Citus manages the tables (or `pulse.direct_access` is off) the same sealed row and
//! head go through SQL instead (`crate::through_sql`), which the append-only guard lets
//! pass while pulse writes them.
//!
//! The caller holds the entity (see `chain::lock_entity`), so the head read here under the
//! newest snapshot is the last committed one or this transaction's own.

use std::ffi::CStr;

use pgrx::prelude::*;
use pgrx::IntoDatum;

use super::chain::{read_head_in, row_hash, Chain, EntityKey, Head};
use super::jsonb_datum::jsonb_datum;
use super::snapshot::live_fields;
use super::{writing_history, HistoryError};
use crate::direct_read::{attributes, Table};
use crate::errors::raise;
use crate::through_sql;

/// The values of a history row that describe the change (everything but the entity key, the
/// snapshot, the chain columns and the transaction's time and id, which `append` fills in).
pub type Values = Vec<(&'static CStr, Option<pg_sys::Datum>)>;

/// A row being formed for one table: a datum and a null flag per attribute.
struct NewRow {
    values: Vec<pg_sys::Datum>,
    nulls: Vec<bool>,
    set: Vec<bool>,
}

impl NewRow {
    fn for_table(table: &Table) -> Self {
        // SAFETY: the relation is open; its descriptor has natts attributes.
        let natts = unsafe { (*(*table.relation()).rd_att).natts as usize };
        Self {
            values: vec![pg_sys::Datum::from(0); natts],
            nulls: vec![true; natts],
            set: vec![false; natts],
        }
    }

    fn put(&mut self, table: &Table, column: &'static CStr, value: Option<pg_sys::Datum>) {
        let index = table.column(column) as usize - 1;
        self.values[index] = value.unwrap_or(pg_sys::Datum::from(0));
        self.nulls[index] = value.is_none();
        self.set[index] = true;
    }

    /// The table's attributes, after checking that every live column was given a value: a
    /// column added to a history table that pulse does not write is an error, never a
    /// silent NULL.
    fn complete_attributes(&self, table: &Table) -> &[pg_sys::FormData_pg_attribute] {
        // SAFETY: the relation is open, and stays open for the whole append.
        let attrs = unsafe { attributes((*table.relation()).rd_att) };
        if attrs
            .iter()
            .zip(&self.set)
            .any(|(attr, set)| !attr.attisdropped && !set)
        {
            raise(HistoryError::Internal(
                "writing a history table that has a column pulse does not know",
            ));
        }
        attrs
    }

    /// The tuple.
    fn form(&mut self, table: &Table) -> pg_sys::HeapTuple {
        self.complete_attributes(table);
        // SAFETY: the relation is open; values and nulls have one entry per attribute.
        unsafe {
            pg_sys::heap_form_tuple(
                (*table.relation()).rd_att,
                self.values.as_mut_ptr(),
                self.nulls.as_mut_ptr(),
            )
        }
    }

    /// The live columns in order, as `RawRow::fields` gives a stored row's: what the row hash
    /// reads, without forming a tuple.
    fn fields<'a>(
        &'a self,
        table: &'a Table,
    ) -> impl Iterator<Item = (&'a str, pg_sys::Oid, Option<pg_sys::Datum>)> {
        live_fields(self.complete_attributes(table), &self.values, &self.nulls)
    }

    /// The value of every attribute, None for NULL (what `through_sql::insert` takes).
    fn values(&self) -> Vec<Option<pg_sys::Datum>> {
        self.values
            .iter()
            .zip(&self.nulls)
            .map(|(&value, &null)| (!null).then_some(value))
            .collect()
    }
}

/// Insert the index entries of `tuple`, just written to `table`, as the executor does for
/// an INSERT (or for the new version of a non-HOT UPDATE): unique indexes are checked and
/// partial indexes' predicates evaluated. (The executor's `update` hint is not given: it
/// looks up the updated columns in a range table this private state does not have.)
fn insert_index_entries(table: &Table, tuple: pg_sys::HeapTuple) {
    // SAFETY: a private executor state, result relation and slot over an open relation,
    // all released before returning (an error releases the memory with its context).
    unsafe {
        let rel = table.relation();
        if !(*(*rel).rd_rel).relhasindex {
            return;
        }
        let estate = pg_sys::CreateExecutorState();
        let result_rel =
            pgrx::PgBox::<pg_sys::ResultRelInfo>::alloc_node(pg_sys::NodeTag::T_ResultRelInfo)
                .into_pg();
        pg_sys::InitResultRelInfo(result_rel, rel, 1, std::ptr::null_mut(), 0);
        pg_sys::ExecOpenIndices(result_rel, false);
        let slot = pg_sys::MakeSingleTupleTableSlot((*rel).rd_att, &pg_sys::TTSOpsHeapTuple);
        pg_sys::ExecStoreHeapTuple(tuple, slot, false);
        pg_sys::ExecInsertIndexTuples(
            result_rel,
            slot,
            estate,
            false,
            false,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        );
        pg_sys::ExecDropSingleTupleTableSlot(slot);
        // Not ExecCloseIndices, which releases the indexes' locks: they are kept until the
        // transaction ends, as a freshly planned write keeps them (the planner took them
        // first), so that the next row finds them in the backend's lock table instead of
        // acquiring them anew, with the invalidation messages that brings.
        let indexes = (*result_rel).ri_IndexRelationDescs;
        for i in 0..(*result_rel).ri_NumIndices as usize {
            // ExecCloseIndices skips an empty slot too (ExecOpenIndices leaves none).
            let index = *indexes.add(i);
            if !index.is_null() {
                pg_sys::index_close(index, pg_sys::NoLock as pg_sys::LOCKMODE);
            }
        }
        pg_sys::FreeExecutorState(estate);
    }
}

fn datum<T: IntoDatum>(value: T) -> Option<pg_sys::Datum> {
    value.into_datum()
}

/// Append one history row to the chain of `key`: number it, chain it to the head, hash it,
/// insert it and move the head. Returns the version it got.
pub fn append(chain: Chain, key: EntityKey, snapshot: &serde_json::Value, values: Values) -> i32 {
    let heads = Table::open_for_write(c"audit", chain.head_relation().0);
    let head = read_head_in(&heads, chain, key);
    let version = head.as_ref().map_or(1, |h| h.version + 1);

    let history = Table::open_for_write(c"audit", chain.history_relation().0);
    let mut row = NewRow::for_table(&history);
    row.put(&history, c"project_id", datum(key.0));
    if chain == Chain::Document {
        row.put(&history, c"document_id", datum(key.1));
    }
    for (column, value) in values {
        row.put(&history, column, value);
    }
    // Stored as built from the value (`jsonb_datum`), and hashed as jsonb_out will print it.
    row.put(&history, c"snapshot", Some(jsonb_datum(snapshot)));
    let snapshot_text = pulse_core::jsonb_text::jsonb_text(snapshot);
    // SAFETY: reads of the current transaction's state; the top-level id is assigned here if
    // the transaction has none yet, as pg_current_xact_id() (the column's default) does.
    let (now, xid) = unsafe {
        (
            pg_sys::GetCurrentTransactionStartTimestamp(),
            pg_sys::GetTopFullTransactionId().value,
        )
    };
    row.put(&history, c"changed_at", datum(now));
    row.put(&history, c"transaction_id", Some(pg_sys::Datum::from(xid)));
    row.put(&history, c"version", datum(version));
    row.put(
        &history,
        c"prev_hash",
        head.as_ref().and_then(|h| datum(h.row_hash.clone())),
    );
    // The hash covers every column but row_hash itself (which row_hash skips), read from
    // the values the row will be formed of.
    row.put(&history, c"row_hash", None);
    let hash = row_hash(chain, row.fields(&history), Some(&snapshot_text));
    row.put(&history, c"row_hash", datum(hash.to_vec()));

    let mut new_head = NewRow::for_table(&heads);
    new_head.put(&heads, c"project_id", datum(key.0));
    if chain == Chain::Document {
        new_head.put(&heads, c"document_id", datum(key.1));
    }
    new_head.put(&heads, c"version", datum(version));
    new_head.put(&heads, c"row_hash", datum(hash.to_vec()));

    if history.through_sql() || heads.through_sql() {
        append_through_sql(&history, &row, &heads, &new_head, head.is_some(), key);
    } else {
        append_directly(&history, &mut row, &heads, &mut new_head, head);
    }
    // What SPI does after a write: later reads in this command see the row and the head.
    // SAFETY: plain transaction bookkeeping.
    unsafe { pg_sys::CommandCounterIncrement() };
    version
}

/// Insert the sealed row with `simple_heap_insert` and its index entries, and move the head
/// in place (or insert it for an entity's first row).
fn append_directly(
    history: &Table,
    row: &mut NewRow,
    heads: &Table,
    new_head: &mut NewRow,
    head: Option<Head>,
) {
    let sealed = row.form(history);
    // SAFETY: `sealed` was formed for this open relation; simple_heap_insert sets its t_self.
    unsafe { pg_sys::simple_heap_insert(history.relation(), sealed) };
    insert_index_entries(history, sealed);
    let tuple = new_head.form(heads);
    match head {
        Some(mut old) => {
            // SAFETY: `old.tid` is the head row read above under the newest snapshot, which
            // the entity lock keeps current; the update sets the new tuple's HOT flag.
            let heap_only = unsafe {
                pg_sys::simple_heap_update(heads.relation(), &mut old.tid, tuple);
                (*(*tuple).t_data).t_infomask2 & pg_sys::HEAP_ONLY_TUPLE as u16 != 0
            };
            if !heap_only {
                insert_index_entries(heads, tuple);
            }
        }
        None => {
            // SAFETY: as for the history row.
            unsafe { pg_sys::simple_heap_insert(heads.relation(), tuple) };
            insert_index_entries(heads, tuple);
        }
    }
}

/// The same append as statements: an INSERT of the sealed row, and an UPDATE of the head
/// (an INSERT for an entity's first row), which the append-only guard passes while pulse
/// writes history. SPI makes the rows visible to the transaction's later commands.
fn append_through_sql(
    history: &Table,
    row: &NewRow,
    heads: &Table,
    new_head: &NewRow,
    head_exists: bool,
    key: EntityKey,
) {
    let values = row.values();
    let head_values = new_head.values();
    writing_history(std::panic::AssertUnwindSafe(|| {
        through_sql::insert(history, &values);
        if !head_exists {
            return through_sql::insert(heads, &head_values);
        }
        let at = |column| {
            let attnum = heads.column(column);
            (attnum, head_values[attnum as usize - 1])
        };
        let mut entity = vec![(heads.column(c"project_id"), pg_sys::Datum::from(key.0))];
        if let Some(document_id) = key.1 {
            entity.push((
                heads.column(c"document_id"),
                pg_sys::Datum::from(document_id),
            ));
        }
        through_sql::update(heads, &[at(c"version"), at(c"row_hash")], &entity);
    }));
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;
    use serde_json::{json, Map, Value};

    use crate::history::snapshot::output_text;
    use pulse_core::jsonb_text::jsonb_text;

    /// A small deterministic generator (no dependency for a test).
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self, below: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) % below
        }

        fn string(&mut self) -> String {
            const PIECES: [&str; 14] = [
                "a", "Z", "é", "✓", "\"", "\\", "/", "\n", "\t", "\u{1}", "\u{1f}", "\u{7f}", " ",
                "𝄞",
            ];
            (0..self.next(6))
                .map(|_| PIECES[self.next(PIECES.len() as u64) as usize])
                .collect()
        }

        fn number(&mut self) -> Value {
            const TEXTS: [&str; 10] = [
                "0.1",
                "1e21",
                "2.5e-5",
                "-0.0",
                "1.0",
                "123456.789",
                "-1e-7",
                "1.5e300",
                "42",
                "-9007199254740993",
            ];
            match self.next(3) {
                0 => json!(self.next(1 << 40) as i64 - (1 << 39)),
                1 => serde_json::from_str(TEXTS[self.next(TEXTS.len() as u64) as usize]).unwrap(),
                _ => json!(self.next(1000) as f64 / 8.0),
            }
        }

        fn value(&mut self, depth: u32) -> Value {
            match self.next(if depth == 0 { 4 } else { 6 }) {
                0 => Value::Null,
                1 => json!(self.next(2) == 0),
                2 => Value::String(self.string()),
                3 => self.number(),
                4 => (0..self.next(4)).map(|_| self.value(depth - 1)).collect(),
                _ => {
                    let map: Map<String, Value> = (0..self.next(6))
                        .map(|_| (self.string(), self.value(depth - 1)))
                        .collect();
                    Value::Object(map)
                }
            }
        }
    }

    /// `jsonb_in` of a text.
    fn jsonb_in(text: &str) -> pg_sys::Datum {
        let text = std::ffi::CString::new(text).expect("no NUL in generated text");
        // SAFETY: jsonb_in reads a NUL-terminated string and returns a palloc'd jsonb.
        unsafe {
            pgrx::direct_function_call_as_datum(pg_sys::jsonb_in, &[Some(text.as_ptr().into())])
        }
        .expect("jsonb_in returns a value")
    }

    /// The bytes of a (detoasted) varlena datum.
    fn varlena_bytes(datum: pg_sys::Datum) -> Vec<u8> {
        // SAFETY: a jsonb datum built in this memory context, never toasted.
        unsafe {
            let varlena = pg_sys::pg_detoast_datum(datum.cast_mut_ptr());
            pgrx::varlena::varlena_to_byte_slice(varlena).to_vec()
        }
    }

    /// The history hash relies on `jsonb_text` printing exactly what `jsonb_out` prints for
    /// the jsonb stored from it (`append.rs`); `audit.verify()` recomputes with `jsonb_out`.
    /// The stored jsonb is built by `jsonb_datum` without text, and must be exactly what
    /// `jsonb_in` makes of the value's text, byte for byte.
    #[pg_test]
    fn jsonb_datum_equals_jsonb_in_and_jsonb_text_equals_jsonb_out() {
        let mut generator = Lcg(7);
        for _ in 0..2000 {
            let value = generator.value(3);
            let printed = jsonb_text(&value);
            let stored = super::jsonb_datum(&value);
            assert_eq!(output_text(pg_sys::JSONBOID, stored), printed, "{value:?}");
            assert_eq!(
                varlena_bytes(stored),
                varlena_bytes(jsonb_in(&printed)),
                "{value:?}"
            );
            // The same value read from serde_json's own text stores the same jsonb.
            assert_eq!(
                varlena_bytes(stored),
                varlena_bytes(jsonb_in(&value.to_string())),
                "{value:?}"
            );
        }
    }
}
