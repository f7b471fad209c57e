//! An audited entity as a JSON object: the snapshot each history row holds.
//!
//! Every column of the row, under its own name, with values that do not depend on session
//! settings (timestamps as ISO 8601 UTC, `pulse_core::timestamp`). A reference column
//! (`phase_id`, `priority_id`, ...) becomes `{"id", "code", "label"}` under the name without
//! `_id` (`phase`), so that history reads in words and survives a relabelling. A project
//! also carries its link sets: `features`, `tech_stack`, `tags` (references), `members` and
//! `decisions`. `pulse_core::snapshot_diff` compares two snapshots.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::CStr;
use std::ops::ControlFlow;

use pgrx::prelude::*;
use pgrx::{FromDatum, Uuid};
use pulse_core::snapshot_diff::nesting_depth;
use rustc_hash::FxHashMap;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::direct_read::{attributes, Table};
use crate::errors::raise;
use crate::history::HistoryError;
use crate::reference_tables::{reference_of_column, Reference};

pub const PROJECTS: &str = "projects.projects";
pub const DOCUMENTS: &str = "documents.documents";

/// A heap tuple with its descriptor, read column by column.
#[derive(Clone, Copy)]
pub struct RawRow {
    pub tuple: pg_sys::HeapTuple,
    pub desc: pg_sys::TupleDesc,
}

impl RawRow {
    fn attributes(&self) -> impl Iterator<Item = (i16, &pg_sys::FormData_pg_attribute)> {
        // SAFETY: `desc` describes `tuple` and outlives this row.
        unsafe { attributes(self.desc) }
            .iter()
            .enumerate()
            .filter(|(_, a)| !a.attisdropped)
            .map(|(i, a)| (i as i16 + 1, a))
    }

    /// The raw datum of column `attnum`, None when NULL.
    pub fn datum(&self, attnum: i16) -> Option<pg_sys::Datum> {
        let mut is_null = false;
        // SAFETY: as above.
        let datum =
            unsafe { pg_sys::heap_getattr(self.tuple, attnum.into(), self.desc, &mut is_null) };
        (!is_null).then_some(datum)
    }

    fn attnum(&self, name: &str) -> Option<i16> {
        self.attributes()
            .find(|(_, a)| attribute_name(a) == name)
            .map(|(n, _)| n)
    }

    /// Whether this row version was written by the current transaction (or one of its
    /// subtransactions): then its entity is either new, invisible to every other transaction
    /// until commit, or was already written, and locked, earlier in this transaction.
    pub fn written_by_this_transaction(&self) -> bool {
        // SAFETY: `tuple` is a valid heap tuple with a header; the raw xmin is enough (our own
        // transaction id is never frozen).
        unsafe {
            let xmin = (*(*self.tuple).t_data).t_choice.t_heap.t_xmin;
            pg_sys::TransactionIdIsCurrentTransactionId(xmin)
        }
    }

    /// Column `name` as `T`; None when NULL or missing.
    pub fn get<T: FromDatum>(&self, name: &str) -> Option<T> {
        let datum = self.datum(self.attnum(name)?)?;
        // SAFETY: `T` matches the column type (pulse's own schema).
        unsafe { T::from_datum(datum, false) }
    }

    /// Every live column, in order: (name, type OID, value or None for NULL). The tuple is
    /// deformed once: reading column by column would walk the row from its start again for
    /// each column that follows a variable-length one.
    pub fn fields(&self) -> impl Iterator<Item = (&str, pg_sys::Oid, Option<pg_sys::Datum>)> {
        let (values, nulls) = self.deformed();
        // SAFETY: as above.
        live_fields(unsafe { attributes(self.desc) }, values, nulls)
    }

    /// One datum and one null flag per attribute of the descriptor, dropped ones included.
    fn deformed(&self) -> (Vec<pg_sys::Datum>, Vec<bool>) {
        // SAFETY: `desc` describes `tuple`; natts is its attribute count.
        let natts = unsafe { (*self.desc).natts as usize };
        let mut values = vec![pg_sys::Datum::from(0); natts];
        let mut nulls = vec![true; natts];
        // SAFETY: values and nulls have natts entries each.
        unsafe {
            pg_sys::heap_deform_tuple(
                self.tuple,
                self.desc,
                values.as_mut_ptr(),
                nulls.as_mut_ptr(),
            )
        };
        (values, nulls)
    }
}

/// The live columns of a row given as one value and one null flag per attribute, in order:
/// (name, type OID, value or None for NULL). What the row hash reads, of a stored row
/// (`RawRow::fields`) or of one being formed (`append.rs`).
pub fn live_fields<'a>(
    attributes: &'a [pg_sys::FormData_pg_attribute],
    values: impl AsRef<[pg_sys::Datum]> + 'a,
    nulls: impl AsRef<[bool]> + 'a,
) -> impl Iterator<Item = (&'a str, pg_sys::Oid, Option<pg_sys::Datum>)> + 'a {
    live_fields_where(attributes, values, nulls, |_| true)
}

/// The live columns whose index `keep` accepts, as `live_fields` gives them.
fn live_fields_where<'a>(
    attributes: &'a [pg_sys::FormData_pg_attribute],
    values: impl AsRef<[pg_sys::Datum]> + 'a,
    nulls: impl AsRef<[bool]> + 'a,
    keep: impl Fn(usize) -> bool + 'a,
) -> impl Iterator<Item = (&'a str, pg_sys::Oid, Option<pg_sys::Datum>)> + 'a {
    attributes
        .iter()
        .enumerate()
        .filter(move |&(i, attribute)| !attribute.attisdropped && keep(i))
        .map(move |(i, attribute)| {
            (
                attribute_name(attribute),
                attribute.atttypid,
                (!nulls.as_ref()[i]).then_some(values.as_ref()[i]),
            )
        })
}

pub fn attribute_name(attribute: &pg_sys::FormData_pg_attribute) -> &str {
    // SAFETY: NameData is NUL-terminated.
    unsafe { CStr::from_ptr(attribute.attname.data.as_ptr()) }
        .to_str()
        .unwrap_or("?")
}

/// The text PostgreSQL's output function gives for a datum of type `type_oid`.
pub fn output_text(type_oid: pg_sys::Oid, datum: pg_sys::Datum) -> String {
    let mut function = pg_sys::InvalidOid;
    let mut is_varlena = false;
    // SAFETY: catalog lookup and the type's own output function on a valid datum.
    unsafe {
        pg_sys::getTypeOutputInfo(type_oid, &mut function, &mut is_varlena);
        let text = pg_sys::OidOutputFunctionCall(function, datum);
        let owned = CStr::from_ptr(text).to_string_lossy().into_owned();
        pg_sys::pfree(text.cast());
        owned
    }
}

/// `{"id", "code", "label"}` of reference row `id` (code and label NULL if it is gone).
fn reference(r: &Reference, id: i32) -> Value {
    let key = (r.key, id);
    if let Some(value) = REFERENCE_CACHE.with_borrow(|c| c.get(&key).cloned()) {
        return value;
    }
    let refs = Table::open(c"pulse", r.table);
    let (code, label, id_column) = (
        refs.column(c"code"),
        refs.column(c"label"),
        refs.column(r.column),
    );
    let found = refs.find(r.pkey, id_column, pg_sys::F_INT4EQ, id, |row| {
        (row.get::<String>(code), row.get::<String>(label))
    });
    let (code, label) = found.unwrap_or((None, None));
    let value = json!({"id": id, "code": code, "label": label});
    REFERENCE_CACHE.with_borrow_mut(|c| c.insert(key, value.clone()));
    value
}

thread_local! {
    /// Reference rows already resolved: a handful of rows that every captured change of a
    /// document or project looks up. Forgotten with the other cached copies
    /// (`forget_cached_copies` below) whenever a reference table is written. Hashed as
    /// `direct_read`'s caches are, cheaply.
    static REFERENCE_CACHE: RefCell<FxHashMap<(&'static str, i32), Value>> =
        RefCell::new(FxHashMap::default());
}

fn reference_by_column(column: &str, id: i32) -> Value {
    reference(
        reference_of_column(column)
            .unwrap_or_else(|| raise(HistoryError::Internal("resolving a reference"))),
        id,
    )
}

/// How deeply a jsonb column's value may nest to be recorded. serde_json reads at most 127
/// levels, and a snapshot adds one, which rollback reads back; this leaves room, and bounds
/// the recursion of everything that walks the value (diff, jsonb_text, jsonb_datum) well
/// within the backend's stack.
const MAX_JSONB_NESTING: usize = 100;

/// A jsonb column's value, read from jsonb_out's text. Its numbers are read exactly (serde_json's
/// `arbitrary_precision`: numeric's digits, not a float's), so the only failure is nesting.
fn jsonb_value(text: &str) -> Value {
    let too_deep = || {
        raise(HistoryError::SnapshotTooDeep {
            levels: MAX_JSONB_NESTING,
        })
    };
    let value: Value = serde_json::from_str(text).unwrap_or_else(|_| too_deep());
    if nesting_depth(&value) > MAX_JSONB_NESTING {
        too_deep();
    }
    value
}

/// A plain column value as JSON.
fn plain_value(type_oid: pg_sys::Oid, datum: pg_sys::Datum) -> Value {
    // SAFETY: each arm reads the datum as its declared type.
    unsafe {
        match type_oid {
            pg_sys::INT2OID => json!(i16::from_datum(datum, false)),
            pg_sys::INT4OID => json!(i32::from_datum(datum, false)),
            pg_sys::INT8OID => json!(i64::from_datum(datum, false)),
            pg_sys::BOOLOID => json!(bool::from_datum(datum, false)),
            pg_sys::TEXTOID | pg_sys::VARCHAROID => json!(String::from_datum(datum, false)),
            pg_sys::TIMESTAMPTZOID => {
                json!(pulse_core::timestamp::format_utc(datum.value() as i64))
            }
            pg_sys::UUIDOID => json!(Uuid::from_datum(datum, false).map(|u| u.to_string())),
            pg_sys::TEXTARRAYOID => json!(Vec::<Option<String>>::from_datum(datum, false)),
            pg_sys::JSONBOID => jsonb_value(&output_text(type_oid, datum)),
            other => Value::String(output_text(other, datum)),
        }
    }
}

/// How history treats a column (audit.column_policy).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Treatment {
    Exclude,
    Redact,
}

/// The column policies and the redaction salt, read once per backend and forgotten on any
/// relcache invalidation (changes to either table fire `pulse.forget_cached_copies()`).
#[derive(Default)]
struct Policies {
    /// (table, column, treatment): a few entries, searched in place.
    columns: Vec<(String, String, Treatment)>,
    salt: Vec<u8>,
}

thread_local! {
    static POLICIES: RefCell<Option<std::rc::Rc<Policies>>> = const { RefCell::new(None) };
}

pub fn register_callbacks() {
    // SAFETY: registers a static function with PostgreSQL's relcache callback list.
    unsafe {
        pg_sys::CacheRegisterRelcacheCallback(Some(forget_cached_copies), pg_sys::Datum::from(0))
    };
}

/// Any relcache invalidation (the reference tables, the column policies and the salt fire
/// one through `pulse.forget_cached_copies()` when written) drops what this module caches.
#[pg_guard]
unsafe extern "C-unwind" fn forget_cached_copies(_arg: pg_sys::Datum, _relid: pg_sys::Oid) {
    POLICIES.with_borrow_mut(|p| *p = None);
    REFERENCE_CACHE.with_borrow_mut(HashMap::clear);
}

fn policies() -> std::rc::Rc<Policies> {
    if let Some(p) = POLICIES.with_borrow(Clone::clone) {
        return p;
    }
    let mut loaded = Policies::default();
    let table = Table::open(c"audit", c"column_policy");
    let (t, c, k) = (
        table.column(c"table_name"),
        table.column(c"column_name"),
        table.column(c"treatment"),
    );
    table.scan_all(c"column_policy_pkey", |row| {
        let name = row
            .get::<&CStr>(c)
            .map(|n| n.to_string_lossy().into_owned());
        if let (Some(t), Some(c), Some(k)) = (row.get::<String>(t), name, row.get::<String>(k)) {
            let treatment = if k == "redact" {
                Treatment::Redact
            } else {
                Treatment::Exclude
            };
            loaded.columns.push((t, c, treatment));
        }
        ControlFlow::Continue(())
    });
    let salts = Table::open(c"pulse", c"redaction_salt");
    let s = salts.column(c"salt");
    salts.scan_all(c"redaction_salt_pkey", |row| {
        loaded.salt = row.get::<Vec<u8>>(s).unwrap_or_default();
        ControlFlow::Break(())
    });
    let loaded = std::rc::Rc::new(loaded);
    POLICIES.with_borrow_mut(|p| *p = Some(loaded.clone()));
    loaded
}

impl Policies {
    /// The treatment of `table`'s `column`, if any.
    fn treatment(&self, table: &str, column: &str) -> Option<Treatment> {
        self.columns
            .iter()
            .find(|(t, c, _)| t == table && c == column)
            .map(|(_, _, treatment)| *treatment)
    }
}

/// What stands for a redacted value: a salted SHA-256 that tells equal values apart from
/// different ones, and nothing else.
pub const REDACTED_PREFIX: &str = "redacted:";

fn redact(salt: &[u8], table: &str, column: &str, value: &Value) -> Value {
    let mut hasher = Sha256::new();
    for part in [
        salt,
        table.as_bytes(),
        column.as_bytes(),
        value.to_string().as_bytes(),
    ] {
        hasher.update((part.len() as u32).to_be_bytes());
        hasher.update(part);
    }
    let digest: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Value::String(format!("{REDACTED_PREFIX}{digest}"))
}

/// Every column of an audited row of `table`, references resolved, column policies applied.
pub fn row_object(table: &str, row: &RawRow) -> Map<String, Value> {
    object_of(table, row.fields())
}

/// The two sides of an UPDATE of a row of `table` (two versions of one row, one descriptor),
/// each tuple deformed once: the new row whole, as `row_object` renders it, and of the old row
/// only the columns whose stored bytes differ from the new row's. A column stored with the
/// same bytes renders to the same value on both sides, which `diff` skips, so leaving it out
/// of the old side changes no recorded change and spares rendering most of the row again
/// (decision log D55).
pub fn update_objects(
    table: &str,
    old: &RawRow,
    new: &RawRow,
) -> (Map<String, Value>, Map<String, Value>) {
    let ((old_values, old_nulls), (new_values, new_nulls)) = (old.deformed(), new.deformed());
    // SAFETY: `old.desc` describes both tuples (the trigger's relation).
    let attributes = unsafe { attributes(old.desc) };
    let differs = |i: usize| match (old_nulls[i], new_nulls[i]) {
        (true, true) => false,
        // SAFETY: two datums of the attribute's type, from tuples that outlive this call.
        (false, false) => unsafe { !same_bytes(old_values[i], new_values[i], &attributes[i]) },
        _ => true,
    };
    let before = object_of(
        table,
        live_fields_where(attributes, &old_values, &old_nulls, differs),
    );
    let after = object_of(table, live_fields(attributes, &new_values, &new_nulls));
    (before, after)
}

/// Whether two datums of `attribute` are stored with the same bytes: PostgreSQL's
/// `datumIsEqual` (utils/adt/datum.c), which pgrx does not bind. Equal bytes are an equal
/// value; different bytes may still be one (a compressed and a plain copy), which the caller
/// then renders and compares.
///
/// # Safety
/// Both datums are of `attribute`'s type and point to memory that is valid while they are read.
unsafe fn same_bytes(
    a: pg_sys::Datum,
    b: pg_sys::Datum,
    attribute: &pg_sys::FormData_pg_attribute,
) -> bool {
    if attribute.attbyval {
        return a == b;
    }
    // SAFETY: by-reference datums of a fixed length, a varlena or a C string (attlen -2).
    let bytes = |datum: pg_sys::Datum| unsafe {
        let pointer = datum.cast_mut_ptr::<u8>();
        let length = match attribute.attlen {
            -1 => pgrx::varlena::varsize_any(pointer.cast()),
            -2 => CStr::from_ptr(pointer.cast()).to_bytes_with_nul().len(),
            length => length as usize,
        };
        std::slice::from_raw_parts(pointer, length)
    };
    bytes(a) == bytes(b)
}

/// The snapshot object of some columns of a row of `table` (see `row_object`).
fn object_of<'a>(
    table: &str,
    fields: impl Iterator<Item = (&'a str, pg_sys::Oid, Option<pg_sys::Datum>)>,
) -> Map<String, Value> {
    let policies = policies();
    let mut object = Map::new();
    for (name, type_oid, datum) in fields {
        let treatment = policies.treatment(table, name);
        if treatment == Some(Treatment::Exclude) {
            continue;
        }
        if treatment == Some(Treatment::Redact) {
            let value = datum.map_or(Value::Null, |d| plain_value(type_oid, d));
            object.insert(
                name.to_owned(),
                if value.is_null() {
                    value
                } else {
                    redact(&policies.salt, table, name, &value)
                },
            );
            continue;
        }
        if let Some(r) = reference_of_column(name) {
            let value = datum.map_or(Value::Null, |d| {
                // SAFETY: reference columns are integer.
                let id = unsafe { i32::from_datum(d, false) }.unwrap_or_default();
                reference(r, id)
            });
            object.insert(r.key.to_owned(), value);
        } else {
            object.insert(
                name.to_owned(),
                datum.map_or(Value::Null, |d| plain_value(type_oid, d)),
            );
        }
    }
    object
}

/// A project's link sets: the snapshot key, the link table, its primary key (project_id
/// first) and how a link row becomes a set element.
pub struct LinkSet {
    pub key: &'static str,
    pub table: &'static CStr,
    pub pkey: &'static CStr,
    /// For sets of references: the link table's reference column.
    pub reference_column: &'static str,
}

pub const LINK_SETS: &[LinkSet] = &[
    LinkSet {
        key: "features",
        table: c"project_feature",
        pkey: c"project_feature_pkey",
        reference_column: "feature_id",
    },
    LinkSet {
        key: "tech_stack",
        table: c"project_tech_stack",
        pkey: c"project_tech_stack_pkey",
        reference_column: "tech_stack_id",
    },
    LinkSet {
        key: "tags",
        table: c"project_tag",
        pkey: c"project_tag_pkey",
        reference_column: "tag_id",
    },
    LinkSet {
        key: "members",
        table: c"project_member",
        pkey: c"project_member_pkey",
        reference_column: "",
    },
    LinkSet {
        key: "decisions",
        table: c"project_decision_log",
        pkey: c"project_decision_log_pkey",
        reference_column: "",
    },
];

/// The set element a link row stands for.
pub fn link_element(set: &LinkSet, row: &RawRow) -> Value {
    match set.key {
        "members" => {
            let user = row.get::<i32>("user_id").unwrap_or_default();
            let role_id = row.get::<i32>("access_role_id").unwrap_or_default();
            let role = reference_by_column("access_role_id", role_id);
            let role_label = role["label"].as_str().unwrap_or("?").to_owned();
            let role_code = role["code"].as_str().unwrap_or("?").to_owned();
            json!({
                "code": format!("{user}:{role_code}"),
                "label": format!("user {user} as {role_label}"),
                "user_id": user,
                "access_role_id": role_id,
            })
        }
        "decisions" => {
            let id = row.get::<i64>("decision_id").unwrap_or_default();
            let title = row.get::<String>("title").unwrap_or_default();
            let status = row.get::<String>("status").unwrap_or_default();
            json!({
                "decision_id": id,
                "title": title,
                "status": status,
                "label": format!("#{id} {title} ({status})"),
            })
        }
        _ => {
            let column = set.reference_column;
            reference_by_column(column, row.get::<i32>(column).unwrap_or_default())
        }
    }
}

/// The elements of one link set of a project, as stored now (under the active snapshot).
pub fn read_link_set(set: &LinkSet, project_id: i64) -> Vec<Value> {
    let table = Table::open(c"projects", set.table);
    let key = table.column(c"project_id");
    let mut elements = Vec::new();
    table.scan_equal(set.pkey, key, pg_sys::F_INT8EQ, project_id, |row| {
        let (tuple, desc) = row.raw();
        elements.push(link_element(set, &RawRow { tuple, desc }));
        ControlFlow::Continue(())
    });
    sort_elements(&mut elements);
    elements
}

/// Sets are stored in a stable order, so equal sets give equal snapshots.
pub fn sort_elements(elements: &mut [Value]) {
    elements.sort_by_cached_key(|e| e.to_string());
}

/// A project's snapshot: its row and every link set.
pub fn project_snapshot(row: &RawRow) -> Map<String, Value> {
    with_link_sets(row_object(PROJECTS, row), row)
}

/// `object`, the rendered project `row`, with every link set of the project added.
pub fn with_link_sets(mut object: Map<String, Value>, row: &RawRow) -> Map<String, Value> {
    let project_id = row.get::<i64>("project_id").unwrap_or_default();
    for set in LINK_SETS {
        object.insert(
            set.key.to_owned(),
            Value::Array(read_link_set(set, project_id)),
        );
    }
    object
}
