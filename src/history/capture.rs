//! The triggers that record every change of a project (its row and its link sets) and of a
//! document, one history row per change, attributed to the authenticated session.
//!
//! - `projects.projects` and `documents.documents`: an AFTER ROW trigger compares the old
//!   and new snapshots; an UPDATE that changes nothing but bookkeeping writes nothing.
//! - Link tables (features, tech stack, tags, members, decisions): an AFTER ROW trigger
//!   collects the added and removed elements per project, and an AFTER STATEMENT trigger
//!   writes one project version per statement ("tags +Security −Legacy").
//!
//! Row triggers fire for every way rows change: multi-row statements, `INSERT ... ON
//! CONFLICT`, `MERGE`, `COPY`. History is written in the same transaction, so a rolled-back
//! transaction leaves none.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::ffi::CStr;

use pgrx::prelude::*;
use pgrx::{IntoDatum, PgTriggerError, Uuid};
use pulse_core::snapshot_diff::{changed_fields, diff, summary, FieldChange};
use serde_json::{Map, Value};

use super::append::{append, Values};
use super::chain::{lock_entity, Chain};
use super::change_reason;
use super::rollback::rolling_back;
use super::snapshot::{self, link_element, LinkSet, RawRow, LINK_SETS};
use crate::direct_read::{self, Table};
use crate::errors::raise;
use crate::identity::{as_extension_owner, current_caller};
use crate::kept_plans::{with_kept_plan, KeptPlan};
use crate::trigger_entry::{trigger_function, TriggerError};

/// Fields that never make a change on their own: every write touches them, and a project's
/// row version counts the changes (a document's version is its content revision, which is one).
pub(crate) fn bookkeeping(chain: Chain) -> &'static [&'static str] {
    match chain {
        Chain::Project => &["updated_at", "updated_by", "version"],
        Chain::Document => &["updated_at", "updated_by"],
    }
}

/// Added and removed elements of one link set.
#[derive(Default)]
struct SetDelta {
    added: Vec<Value>,
    removed: Vec<Value>,
}

thread_local! {
    /// Link changes of the statements in progress: project -> set -> delta.
    static PENDING_LINKS: RefCell<BTreeMap<i64, BTreeMap<&'static str, SetDelta>>> =
        const { RefCell::new(BTreeMap::new()) };
    static LAST_PROJECT_SNAPSHOT: KeptPlan = const { RefCell::new(None) };
    /// Projects this transaction inserted. A project read through SQL cannot say which
    /// transaction wrote it (`crate::through_sql`); the link flush asks here instead, so
    /// that links added to new projects take no lock per project there either. Emptied
    /// when the transaction ends and when a subtransaction aborts (its inserts are gone).
    static INSERTED_PROJECTS: RefCell<HashSet<i64>> = RefCell::new(HashSet::new());
}

pub fn forget_pending() {
    PENDING_LINKS.with_borrow_mut(BTreeMap::clear);
    forget_inserted_projects();
}

pub fn forget_inserted_projects() {
    INSERTED_PROJECTS.with_borrow_mut(HashSet::clear);
}

/// What one history row says, before the chain seals it.
pub struct Record {
    pub operation: &'static str,
    pub snapshot: Map<String, Value>,
    pub changed_columns: Vec<String>,
    pub summary: String,
}

impl Record {
    pub fn new(
        operation: &'static str,
        snapshot: Map<String, Value>,
        changes: &[FieldChange],
    ) -> Self {
        let summary = match operation {
            "INSERT" => "created".to_owned(),
            "DELETE" => "deleted".to_owned(),
            "SOFT_DELETE" | "RESTORE" => {
                // The deletion columns are the operation itself; name anything else that changed.
                let others: Vec<FieldChange> = changes
                    .iter()
                    .filter(|c| c.field != "deleted_at" && c.field != "deleted_by")
                    .cloned()
                    .collect();
                let verb = if operation == "RESTORE" {
                    "restored"
                } else {
                    "soft-deleted"
                };
                if others.is_empty() {
                    verb.to_owned()
                } else {
                    format!("{verb}; {}", summary(&others))
                }
            }
            _ => summary(changes),
        };
        let changed_columns = match operation {
            "INSERT" => snapshot
                .iter()
                .filter(|(_, v)| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()))
                .map(|(k, _)| k.clone())
                .collect(),
            "DELETE" => Vec::new(),
            _ => changed_fields(changes),
        };
        Self {
            operation,
            snapshot,
            changed_columns,
            summary,
        }
    }
}

/// The operation an UPDATE records. `before` holds the fields that changed
/// (`snapshot::update_objects`): one it lacks is as in `after`.
fn operation_of_update(before: &Map<String, Value>, after: &Map<String, Value>) -> &'static str {
    let deleted = |m: &Map<String, Value>| m.get("deleted_at").map(|v| !v.is_null());
    let now_deleted = deleted(after).unwrap_or(false);
    match (deleted(before).unwrap_or(now_deleted), now_deleted) {
        (false, true) => "SOFT_DELETE",
        (true, false) => "RESTORE",
        _ => "UPDATE",
    }
}

/// The fields of `after` that `before` holds: with `before` from
/// `snapshot::update_objects`, the two sides of an UPDATE's diff.
fn alongside(after: &Map<String, Value>, before: &Map<String, Value>) -> Map<String, Value> {
    before
        .keys()
        .filter_map(|key| Some((key.clone(), after.get(key)?.clone())))
        .collect()
}

fn field_i32(snapshot: &Map<String, Value>, key: &str) -> Option<i32> {
    let value = snapshot.get(key)?;
    value
        .get("id")
        .unwrap_or(value)
        .as_i64()
        .and_then(|v| i32::try_from(v).ok())
}

/// Who and why, from the session and the transaction.
fn attribution() -> (Option<i32>, Option<Uuid>, Option<String>) {
    let caller = current_caller();
    (
        caller.map(|c| c.user_id),
        caller.map(|c| Uuid::from_bytes(c.session_id)),
        change_reason(),
    )
}

/// The columns every history row has, from the record and the session.
fn common_values(record: Record) -> Values {
    let (changed_by, session_id, reason) = attribution();
    vec![
        (c"operation", record.operation.into_datum()),
        (c"changed_columns", record.changed_columns.into_datum()),
        (c"change_summary", record.summary.into_datum()),
        (c"reason", reason.into_datum()),
        (c"changed_by", changed_by.into_datum()),
        (c"session_id", session_id.into_datum()),
    ]
}

pub fn write_project_history(project_id: i64, mut record: Record) {
    let s = &record.snapshot;
    let mut values: Values = vec![
        (c"project_version", field_i32(s, "version").into_datum()),
        (c"owner_id", field_i32(s, "owner_id").into_datum()),
        (c"priority_id", field_i32(s, "priority").into_datum()),
        (c"phase_id", field_i32(s, "phase").into_datum()),
    ];
    let snapshot = Value::Object(std::mem::take(&mut record.snapshot));
    values.extend(common_values(record));
    append(Chain::Project, (project_id, None), &snapshot, values);
}

pub fn write_document_history(project_id: i64, document_id: i64, mut record: Record) {
    let s = &record.snapshot;
    let mut values: Values = vec![
        (c"document_version", field_i32(s, "version").into_datum()),
        (c"uploaded_by", field_i32(s, "uploaded_by").into_datum()),
        (c"priority_id", field_i32(s, "priority").into_datum()),
        (c"phase_id", field_i32(s, "phase").into_datum()),
        (
            c"checksum_sha256",
            s.get("checksum_sha256")
                .and_then(Value::as_str)
                .into_datum(),
        ),
    ];
    let snapshot = Value::Object(std::mem::take(&mut record.snapshot));
    values.extend(common_values(record));
    append(
        Chain::Document,
        (project_id, Some(document_id)),
        &snapshot,
        values,
    );
}

/// The link sets of a project's last recorded snapshot (a DELETE comes after the cascade
/// has already removed the links).
fn last_recorded_link_sets(project_id: i64) -> Map<String, Value> {
    let text: Option<String> = as_extension_owner(|| {
        with_kept_plan(
            &LAST_PROJECT_SNAPSHOT,
            "SELECT snapshot::text FROM audit.project_history WHERE project_id = $1 ORDER BY version DESC LIMIT 1",
            &[PgBuiltInOids::INT8OID.oid()],
            "a history read",
            |client, plan| {
                client
                    .select(plan, Some(1), &[project_id.into()])
                    .ok()
                    .and_then(|t| t.first().get::<String>(1).ok().flatten())
            },
        )
    });
    let last: Map<String, Value> = text
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    snapshot::LINK_SETS
        .iter()
        .map(|set| {
            let elements = last
                .get(set.key)
                .cloned()
                .unwrap_or(Value::Array(Vec::new()));
            (set.key.to_owned(), elements)
        })
        .collect()
}

/// Refuses a capture trigger that fired on a table it does not serve. pulse attaches each
/// capture function to its own tables only; another table's rows (a superuser's trigger)
/// would otherwise be recorded as the history of whatever ids their columns hold.
fn misattached(function: &'static str, trigger: &PgTrigger<'_>, serves: &str) -> ! {
    let schema = trigger.table_schema().unwrap_or_default();
    let table = trigger.table_name().unwrap_or_default();
    raise(TriggerError::Misused {
        function,
        error: format!("fired on {schema}.{table}, but it records only {serves}"),
    })
}

/// Whether `trigger` fired on the table `schema.name`, or on one of its shards: on a Citus
/// node the triggers of a distributed table fire on the shard, a table of the same schema
/// named `<name>_<shard id>` (docs/scaling.md).
fn fires_on(trigger: &PgTrigger<'_>, schema: &'static CStr, name: &'static CStr) -> bool {
    // SAFETY: the trigger manager's relation, and its pg_class row, are open while the
    // trigger runs; relname is a NUL-terminated name.
    let (relid, relname, namespace) = unsafe {
        let relation = trigger.trigger_data().tg_relation;
        let class = (*relation).rd_rel;
        (
            (*relation).rd_id,
            CStr::from_ptr((*class).relname.data.as_ptr()),
            (*class).relnamespace,
        )
    };
    if relid == direct_read::relation_oid(schema, name) {
        return true;
    }
    let is_shard_name = relname
        .to_bytes()
        .strip_prefix(name.to_bytes())
        .and_then(|rest| rest.strip_prefix(b"_"))
        .is_some_and(|id| !id.is_empty() && id.iter().all(u8::is_ascii_digit));
    // SAFETY: a catalog lookup by name; a missing schema yields InvalidOid.
    is_shard_name && namespace == unsafe { pg_sys::get_namespace_oid(schema.as_ptr(), true) }
}

/// The OLD and NEW rows of a row trigger.
fn rows_of(trigger: &PgTrigger<'_>) -> (Option<RawRow>, Option<RawRow>) {
    let data = trigger.trigger_data();
    // SAFETY: the trigger manager's TriggerData for a row trigger.
    let desc = unsafe { (*data.tg_relation).rd_att };
    let row = |tuple: pg_sys::HeapTuple| (!tuple.is_null()).then_some(RawRow { tuple, desc });
    match trigger.op() {
        Ok(PgTriggerOperation::Insert) => (None, row(data.tg_trigtuple)),
        Ok(PgTriggerOperation::Update) => (row(data.tg_trigtuple), row(data.tg_newtuple)),
        Ok(PgTriggerOperation::Delete) => (row(data.tg_trigtuple), None),
        _ => (None, None),
    }
}

/// A project row changed.
fn capture_project_row(old: Option<RawRow>, new: Option<RawRow>) {
    let Some(project_id) = new.or(old).and_then(|row| row.get::<i64>("project_id")) else {
        return;
    };
    if rolling_back(Chain::Project, (project_id, None)) {
        return;
    }
    // An INSERT's row, or an earlier version this transaction wrote, needs no lock (see
    // `written_by_this_transaction`); one lock per project and transaction otherwise.
    if !old
        .or(new)
        .is_some_and(|row| row.written_by_this_transaction())
    {
        lock_entity(Chain::Project, (project_id, None));
    }
    match (old, new) {
        (None, Some(new)) => {
            INSERTED_PROJECTS.with_borrow_mut(|inserted| inserted.insert(project_id));
            let snapshot = direct_read::with_latest_snapshot(|| snapshot::project_snapshot(&new));
            write_project_history(project_id, Record::new("INSERT", snapshot, &[]));
        }
        (Some(old), Some(new)) => {
            // The link sets are not the row's: an UPDATE of the row leaves them as they are,
            // so the old side has none.
            let (before, after) = direct_read::with_latest_snapshot(|| {
                let (before, row) = snapshot::update_objects(snapshot::PROJECTS, &old, &new);
                (before, snapshot::with_link_sets(row, &new))
            });
            let changes = diff(
                &before,
                &alongside(&after, &before),
                bookkeeping(Chain::Project),
            );
            if changes.is_empty() {
                return;
            }
            let operation = operation_of_update(&before, &after);
            write_project_history(project_id, Record::new(operation, after, &changes));
        }
        (Some(old), None) => {
            let mut last = snapshot::row_object(snapshot::PROJECTS, &old);
            last.extend(last_recorded_link_sets(project_id));
            write_project_history(project_id, Record::new("DELETE", last, &[]));
        }
        (None, None) => {}
    }
}

/// A link row changed: remember the element until the statement ends.
fn collect_link_change(set: &'static LinkSet, old: Option<RawRow>, new: Option<RawRow>) {
    let project_of = |row: &RawRow| row.get::<i64>("project_id").unwrap_or_default();
    let push = |row: &RawRow, added: bool| {
        if rolling_back(Chain::Project, (project_of(row), None)) {
            return;
        }
        let element = link_element(set, row);
        PENDING_LINKS.with_borrow_mut(|pending| {
            let delta = pending
                .entry(project_of(row))
                .or_default()
                .entry(set.key)
                .or_default();
            if added {
                delta.added.push(element)
            } else {
                delta.removed.push(element)
            }
        });
    };
    if let Some(old) = &old {
        push(old, false);
    }
    if let Some(new) = &new {
        push(new, true);
    }
}

/// The statement on a link table ended: one project version per project it touched.
fn flush_link_changes() {
    let pending = PENDING_LINKS.with_borrow_mut(std::mem::take);
    for (project_id, deltas) in pending {
        let read = || {
            direct_read::with_latest_snapshot(|| {
                let projects = Table::open(c"projects", c"projects");
                let id = projects.column(c"project_id");
                projects.find(c"projects_pkey", id, pg_sys::F_INT8EQ, project_id, |row| {
                    let (tuple, desc) = row.raw();
                    let row = RawRow { tuple, desc };
                    (
                        row.written_by_this_transaction()
                            || INSERTED_PROJECTS.with_borrow(|i| i.contains(&project_id)),
                        snapshot::project_snapshot(&row),
                    )
                })
            })
        };
        // A project this transaction created or already wrote needs no lock; any other is
        // locked, and read again, so that the snapshot is what its last version left.
        let after = match read() {
            Some((true, after)) => Some(after),
            Some((false, _)) => {
                lock_entity(Chain::Project, (project_id, None));
                read().map(|(_, after)| after)
            }
            None => None,
        };
        // The project itself is gone (a cascade from its DELETE, which is recorded).
        let Some(after) = after else { continue };
        let mut before = after.clone();
        for (key, delta) in deltas {
            let current = after[key].as_array().cloned().unwrap_or_default();
            let mut elements: Vec<Value> = current
                .into_iter()
                .filter(|e| !delta.added.contains(e))
                .collect();
            elements.extend(delta.removed);
            snapshot::sort_elements(&mut elements);
            before.insert(key.to_owned(), Value::Array(elements));
        }
        let changes = diff(&before, &after, bookkeeping(Chain::Project));
        if !changes.is_empty() {
            write_project_history(project_id, Record::new("UPDATE", after, &changes));
        }
    }
}

/// A document row changed.
fn capture_document_row(old: Option<RawRow>, new: Option<RawRow>) {
    let ids = |row: &RawRow| {
        (
            row.get::<i64>("project_id").unwrap_or_default(),
            row.get::<i64>("document_id").unwrap_or_default(),
        )
    };
    let Some(row) = new.as_ref().or(old.as_ref()) else {
        return;
    };
    let (project_id, document_id) = ids(row);
    // No entity lock: the UPDATE or DELETE that fired this trigger holds the document's row
    // lock to the end of the transaction, which serializes every writer of its history, and
    // an INSERT's document is invisible to everyone else until commit.
    if rolling_back(Chain::Document, (project_id, Some(document_id))) {
        return;
    }
    let record = match (&old, &new) {
        (None, Some(new)) => Record::new(
            "INSERT",
            snapshot::row_object(snapshot::DOCUMENTS, new),
            &[],
        ),
        (Some(old), Some(new)) => {
            let (before, after) = snapshot::update_objects(snapshot::DOCUMENTS, old, new);
            let changes = diff(
                &before,
                &alongside(&after, &before),
                bookkeeping(Chain::Document),
            );
            if changes.is_empty() {
                return;
            }
            Record::new(operation_of_update(&before, &after), after, &changes)
        }
        (Some(old), None) => Record::new(
            "DELETE",
            snapshot::row_object(snapshot::DOCUMENTS, old),
            &[],
        ),
        (None, None) => return,
    };
    write_document_history(project_id, document_id, record);
}

/// AFTER ROW trigger on projects.projects.
fn capture_project<'a>(
    trigger: &'a PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByRust>>, PgTriggerError> {
    if !fires_on(trigger, c"projects", c"projects") {
        misattached("audit.capture_project()", trigger, "projects.projects");
    }
    let (old, new) = rows_of(trigger);
    capture_project_row(old, new);
    Ok(None)
}
trigger_function!(
    "audit.capture_project()",
    pg_finfo_capture_project_wrapper,
    capture_project_wrapper,
    capture_project
);

/// AFTER ROW trigger on the project link tables: collects the change.
fn capture_project_link<'a>(
    trigger: &'a PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByRust>>, PgTriggerError> {
    let Some(set) = LINK_SETS
        .iter()
        .find(|set| fires_on(trigger, c"projects", set.table))
    else {
        misattached(
            "audit.capture_project_link()",
            trigger,
            "the link tables of projects",
        )
    };
    let (old, new) = rows_of(trigger);
    collect_link_change(set, old, new);
    Ok(None)
}
trigger_function!(
    "audit.capture_project_link()",
    pg_finfo_capture_project_link_wrapper,
    capture_project_link_wrapper,
    capture_project_link
);

/// AFTER STATEMENT trigger on the project link tables: records what was collected.
fn flush_project_links<'a>(
    _trigger: &'a PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByRust>>, PgTriggerError> {
    flush_link_changes();
    Ok(None)
}
trigger_function!(
    "audit.flush_project_links()",
    pg_finfo_flush_project_links_wrapper,
    flush_project_links_wrapper,
    flush_project_links
);

/// AFTER ROW trigger on documents.documents.
fn capture_document<'a>(
    trigger: &'a PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByRust>>, PgTriggerError> {
    if !fires_on(trigger, c"documents", c"documents") {
        misattached("audit.capture_document()", trigger, "documents.documents");
    }
    let (old, new) = rows_of(trigger);
    capture_document_row(old, new);
    Ok(None)
}
trigger_function!(
    "audit.capture_document()",
    pg_finfo_capture_document_wrapper,
    capture_document_wrapper,
    capture_document
);
