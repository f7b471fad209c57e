//! Reading history back: the diff between two versions, and rollback of a project or a
//! document to an earlier version.
//!
//! Both run with the caller's rights: row-level security decides which history they can
//! read and which rows they may change, exactly as for the caller's own statements.
//!
//! A rollback restores the row (re-inserting it if it was deleted) and, for a project, its
//! feature, tech-stack, tag and member sets, in one transaction under the entity's lock. It
//! is refused unless the entity is still at the version the caller expects, and it is
//! recorded as one ROLLBACK version (the capture triggers stand aside for that entity while
//! it runs), so a rollback can itself be rolled back. Decisions are a log and stay as they
//! are.

use std::cell::RefCell;

use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use pulse_core::snapshot_diff::{diff, FieldChange};
use serde_json::{Map, Value};

use super::capture::{bookkeeping, write_document_history, write_project_history, Record};
use super::chain::{lock_entity, Chain, EntityKey};
use super::snapshot::{self, RawRow, LINK_SETS};
use super::HistoryError;
use crate::direct_read::{self, Table};
use crate::errors::{raise, SqlError};
use crate::reference_tables::{reference_of_column, reference_of_key};
use crate::spi_read;

thread_local! {
    /// Entities a rollback in progress records itself; capture leaves them alone.
    static ROLLING_BACK: RefCell<Vec<(Chain, EntityKey)>> = const { RefCell::new(Vec::new()) };
}

/// Whether capture should leave this entity to the rollback in progress.
pub fn rolling_back(chain: Chain, key: EntityKey) -> bool {
    ROLLING_BACK.with_borrow(|r| r.contains(&(chain, key)))
}

/// Whether any rollback is restoring rows (rules about how rows may change step aside).
pub fn rollback_in_progress() -> bool {
    ROLLING_BACK.with_borrow(|r| !r.is_empty())
}

pub fn forget_rollbacks() {
    ROLLING_BACK.with_borrow_mut(Vec::clear);
}

#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    #[error("{entity} has no version {version} that you can see")]
    NoSuchVersion { entity: String, version: i32 },
    #[error("{entity} is at version {current}, not {expected}")]
    NotAtExpectedVersion {
        entity: String,
        current: i32,
        expected: i32,
    },
    #[error(
        "version {version} of {entity} records its deletion; roll back to the version before it"
    )]
    DeletionVersion { entity: String, version: i32 },
    #[error("you may not change {entity}")]
    NotAllowed { entity: String },
    #[error("{0} must not be NULL")]
    NullArgument(&'static str),
    #[error("the snapshot of version {version} of {entity} cannot be read")]
    BadSnapshot { entity: String, version: i32 },
}

impl SqlError for RollbackError {
    fn sqlstate(&self) -> PgSqlErrorCode {
        match self {
            Self::NotAtExpectedVersion { .. } => PgSqlErrorCode::ERRCODE_T_R_SERIALIZATION_FAILURE,
            Self::BadSnapshot { .. } => PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
            Self::NotAllowed { .. } => PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            _ => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            Self::NotAtExpectedVersion { .. } => Some(
                "Someone changed it since you read it: read its history again and retry.".into(),
            ),
            _ => None,
        }
    }
}

fn entity_name(chain: Chain, key: EntityKey) -> String {
    match chain {
        Chain::Project => format!("project {}", key.0),
        Chain::Document => format!("document {}", key.1.unwrap_or_default()),
    }
}

/// (operation, snapshot) of one version, as the caller may see it.
fn read_version(
    chain: Chain,
    key: EntityKey,
    version: i32,
) -> Option<(String, Map<String, Value>)> {
    let row = match chain {
        Chain::Project => spi_read::select_two::<String, String>(
            "SELECT operation, snapshot::text FROM audit.project_history WHERE project_id = $1 AND version = $2",
            &[key.0.into(), version.into()],
        ),
        Chain::Document => spi_read::select_two::<String, String>(
            "SELECT operation, snapshot::text FROM audit.document_history
              WHERE project_id = $1 AND document_id = $2 AND version = $3",
            &[key.0.into(), key.1.into(), version.into()],
        ),
    };
    let (operation, text) = match row {
        Some((Some(operation), Some(text))) => (operation, text),
        _ => return None,
    };
    let snapshot = serde_json::from_str::<Map<String, Value>>(&text).unwrap_or_else(|_| {
        raise(RollbackError::BadSnapshot {
            entity: entity_name(chain, key),
            version,
        })
    });
    Some((operation, snapshot))
}

/// The diff between two versions, as (field, old, new) rows.
fn diff_versions(chain: Chain, key: EntityKey, from: i32, to: i32) -> Vec<FieldChange> {
    let read = |version| {
        read_version(chain, key, version)
            .unwrap_or_else(|| {
                raise(RollbackError::NoSuchVersion {
                    entity: entity_name(chain, key),
                    version,
                })
            })
            .1
    };
    diff(&read(from), &read(to), bookkeeping(chain))
}

/// Columns a rollback writes back: everything but the key and the creation and update
/// bookkeeping, which belong to the row's own life.
fn restorable(column: &str) -> bool {
    !matches!(
        column,
        "project_id" | "document_id" | "created_at" | "created_by" | "updated_at" | "updated_by"
    )
}

/// Whether the snapshot holds the column's value: excluded columns are missing, redacted
/// ones hold only a hash. A rollback leaves both as they are.
fn recorded(snapshot: &Map<String, Value>, column: &str) -> bool {
    let key = reference_of_column(column).map_or(column, |r| r.key);
    match snapshot.get(key) {
        None => false,
        Some(Value::String(s)) => !s.starts_with(snapshot::REDACTED_PREFIX),
        Some(_) => true,
    }
}

/// The snapshot as a flat record for jsonb_populate_record: references back to their ids,
/// link sets left out.
fn flat_record(snapshot: &Map<String, Value>) -> Value {
    let mut flat = Map::new();
    for (key, value) in snapshot {
        if LINK_SETS.iter().any(|s| s.key == key) {
            continue;
        }
        match reference_of_key(key) {
            Some(r) => {
                flat.insert(
                    r.column_name().to_owned(),
                    value.get("id").cloned().unwrap_or(Value::Null),
                );
            }
            None => {
                flat.insert(key.clone(), value.clone());
            }
        }
    }
    Value::Object(flat)
}

/// Write the row of `snapshot` back into `table`: update it if it `exists`, re-insert it if
/// it was deleted. Row-level security applies: a row the caller may not change is refused.
fn restore_row(
    table: &str,
    columns: &[String],
    key_condition: &str,
    key: EntityKey,
    snapshot: &Map<String, Value>,
    exists: bool,
    entity: &str,
) {
    let record = flat_record(snapshot).to_string();
    if !exists {
        Spi::run_with_args(
            &format!(
                "INSERT INTO {table} OVERRIDING SYSTEM VALUE SELECT * FROM jsonb_populate_record(NULL::{table}, $1::jsonb)"
            ),
            &[record.into()],
        )
        .unwrap_or_else(|_| raise(HistoryError::Internal("restoring a row")));
        return;
    }
    let list = columns
        .iter()
        .filter(|c| restorable(c) && recorded(snapshot, c))
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let mut args: Vec<pgrx::datum::DatumWithOid> = vec![record.into(), key.0.into()];
    if let Some(document_id) = key.1 {
        args.push(document_id.into());
    }
    let updated = Spi::connect_mut(|client| {
        client
            .update(
                &format!(
                    "UPDATE {table} SET ({list}) = (SELECT {list} FROM jsonb_populate_record(NULL::{table}, $1::jsonb))
                      WHERE {key_condition}"
                ),
                None,
                &args,
            )
            .map(|status| status.len())
    })
    .unwrap_or_else(|_| raise(HistoryError::Internal("restoring a row")));
    if updated == 0 {
        raise(RollbackError::NotAllowed {
            entity: entity.to_owned(),
        });
    }
}

/// Restoring a document's earlier content makes it the next revision: versions only grow,
/// so every revision stays downloadable by its number (`documents.document_revision`).
fn content_as_new_revision(
    live: &Map<String, Value>,
    target: &Map<String, Value>,
) -> Map<String, Value> {
    let mut restored = target.clone();
    if let Some(current) = live.get("version").and_then(Value::as_i64) {
        let content = ["object_key", "checksum_sha256", "size_bytes", "storage"];
        let same = content.iter().all(|c| live.get(*c) == target.get(*c));
        restored.insert("version".into(), (current + i64::from(!same)).into());
    }
    restored
}

/// The (id, role) pairs of a set in a snapshot: a reference's id (role 0), or a member's
/// user and access role.
fn set_pairs(snapshot: &Map<String, Value>, key: &str) -> Vec<(i32, i32)> {
    let number =
        |e: &Value, field: &str| e.get(field)?.as_i64().and_then(|v| i32::try_from(v).ok());
    snapshot
        .get(key)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|e| match key {
                    "members" => Some((number(e, "user_id")?, number(e, "access_role_id")?)),
                    _ => Some((number(e, "id")?, 0)),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Make a project's link sets what `target` says (decisions excepted), touching only the
/// links that differ from `current`, so that a rollback needs no more rights than the
/// changes it undoes.
fn restore_link_sets(project_id: i64, current: &Map<String, Value>, target: &Map<String, Value>) {
    let run = |sql: &str, ids: Vec<i32>, roles: Vec<i32>| {
        if ids.is_empty() {
            return;
        }
        Spi::run_with_args(sql, &[project_id.into(), ids.into(), roles.into()])
            .unwrap_or_else(|_| raise(HistoryError::Internal("restoring a link set")));
    };
    for (key, table, column) in [
        ("features", "projects.project_feature", "feature_id"),
        ("tech_stack", "projects.project_tech_stack", "tech_stack_id"),
        ("tags", "projects.project_tag", "tag_id"),
        ("members", "projects.project_member", "user_id"),
    ] {
        let (now, wanted) = (set_pairs(current, key), set_pairs(target, key));
        // Added or (for members) given another role; then removed. A project keeps an
        // owner throughout, because roles are set before anyone is removed.
        let (ids, roles): (Vec<i32>, Vec<i32>) =
            wanted.iter().filter(|p| !now.contains(p)).copied().unzip();
        let removed: Vec<i32> = now
            .iter()
            .filter(|(id, _)| !wanted.iter().any(|(w, _)| w == id))
            .map(|(id, _)| *id)
            .collect();
        if key == "members" {
            run(
                "INSERT INTO projects.project_member (project_id, user_id, access_role_id)
                 SELECT $1, u, r FROM unnest($2::integer[], $3::integer[]) AS m (u, r)
                 ON CONFLICT (project_id, user_id) DO UPDATE SET access_role_id = EXCLUDED.access_role_id",
                ids,
                roles,
            );
        } else {
            run(
                &format!("INSERT INTO {table} (project_id, {column}) SELECT $1, unnest($2::integer[]) WHERE $3 IS NOT NULL"),
                ids,
                roles,
            );
        }
        let none: Vec<i32> = Vec::new();
        run(
            &format!("DELETE FROM {table} WHERE project_id = $1 AND {column} = ANY ($2) AND $3 IS NOT NULL"),
            removed,
            none,
        );
    }
}

/// The current snapshot of an entity (None when its row is gone).
fn current_snapshot(chain: Chain, key: EntityKey) -> Option<Map<String, Value>> {
    direct_read::with_latest_snapshot(|| {
        let (schema, table, pkey) = match chain {
            Chain::Project => (c"projects", c"projects", c"projects_pkey"),
            Chain::Document => (c"documents", c"documents", c"documents_pkey"),
        };
        let rows = Table::open(schema, table);
        let mut keys = vec![(
            rows.column(c"project_id"),
            pg_sys::F_INT8EQ,
            key.0.into_datum()?,
        )];
        if let Some(document_id) = key.1 {
            keys.push((
                rows.column(c"document_id"),
                pg_sys::F_INT8EQ,
                document_id.into_datum()?,
            ));
        }
        let mut found = None;
        rows.scan_keys(pkey, &keys, |row| {
            let (tuple, desc) = row.raw();
            let raw = RawRow { tuple, desc };
            found = Some(match chain {
                Chain::Project => snapshot::project_snapshot(&raw),
                Chain::Document => snapshot::row_object(snapshot::DOCUMENTS, &raw),
            });
            std::ops::ControlFlow::Break(())
        });
        found
    })
}

fn table_columns(table: &str) -> Vec<String> {
    Spi::connect(|client| {
        client
            .select(
                "SELECT a.attname::text FROM pg_catalog.pg_attribute a
                  WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                None,
                &[table.into()],
            )
            .map(|rows| rows.filter_map(|r| r.get::<String>(1).ok().flatten()).collect())
            .unwrap_or_default()
    })
}

fn rollback(chain: Chain, key: EntityKey, to_version: i32, expected: i32) -> i32 {
    let entity = entity_name(chain, key);
    // The row first, as a write does.
    let lock_row = match chain {
        Chain::Project => Spi::run_with_args(
            "SELECT 1 FROM projects.projects WHERE project_id = $1 FOR NO KEY UPDATE",
            &[key.0.into()],
        ),
        Chain::Document => Spi::run_with_args(
            "SELECT 1 FROM documents.documents WHERE project_id = $1 AND document_id = $2 FOR NO KEY UPDATE",
            &[key.0.into(), key.1.into()],
        ),
    };
    lock_row.unwrap_or_else(|_| raise(HistoryError::Internal("locking the row to roll back")));
    // Through row-level security first: whoever may not read the history learns nothing,
    // not even the current version.
    let (operation, target) = read_version(chain, key, to_version).unwrap_or_else(|| {
        raise(RollbackError::NoSuchVersion {
            entity: entity.clone(),
            version: to_version,
        })
    });
    // Checked now, and again under the entity lock once the rows are restored. The lock is
    // taken last, as capture takes it after the rows it describes: a rollback that held it
    // while waiting for a row another writer holds would deadlock with that writer, who
    // waits for the lock.
    let check_version = || {
        let current = super::chain::head_version(chain, key).unwrap_or(0);
        if current != expected {
            raise(RollbackError::NotAtExpectedVersion {
                entity: entity.clone(),
                current,
                expected,
            });
        }
        current
    };
    let current = check_version();
    if operation == "DELETE" {
        raise(RollbackError::DeletionVersion {
            entity,
            version: to_version,
        });
    }
    // What is there now (nothing, if the row was deleted), and what history last said.
    let live = current_snapshot(chain, key);
    let before = live
        .clone()
        .or_else(|| read_version(chain, key, current).map(|(_, s)| s))
        .unwrap_or_default();
    let live = live.unwrap_or_default();
    let exists = !live.is_empty();

    ROLLING_BACK.with_borrow_mut(|r| r.push((chain, key)));
    let restore = || match chain {
        Chain::Project => {
            let columns = table_columns("projects.projects");
            restore_row(
                "projects.projects",
                &columns,
                "project_id = $2",
                key,
                &target,
                exists,
                &entity,
            );
            restore_link_sets(key.0, &live, &target);
        }
        Chain::Document => {
            let columns = table_columns("documents.documents");
            restore_row(
                "documents.documents",
                &columns,
                "project_id = $2 AND document_id = $3",
                key,
                &content_as_new_revision(&live, &target),
                exists,
                &entity,
            );
        }
    };
    PgTryBuilder::new(restore)
        .finally(|| ROLLING_BACK.with_borrow_mut(|r| r.retain(|e| *e != (chain, key))))
        .execute();
    lock_entity(chain, key);
    check_version();

    let after = current_snapshot(chain, key).unwrap_or_default();
    let changes = diff(&before, &after, bookkeeping(chain));
    let mut record = Record::new("ROLLBACK", after, &changes);
    record.summary = if changes.is_empty() {
        format!("rolled back to version {to_version} (nothing differed)")
    } else {
        format!("rolled back to version {to_version}: {}", record.summary)
    };
    match chain {
        Chain::Project => write_project_history(key.0, record),
        Chain::Document => write_document_history(key.0, key.1.unwrap_or_default(), record),
    }
    super::chain::head_version(chain, key).unwrap_or(current + 1)
}

/// The chain of a document, found through its head (`document_chain_document_idx`): the
/// history itself has no index by document alone (decision log D57). A document stays in
/// its project (its revisions' foreign key refuses a move), so it has one chain; should an
/// id be reused in another project (only with OVERRIDING SYSTEM VALUE), the chain of the
/// lowest project id is read, as `audit.document_as_of` does.
fn document_key(document_id: i64) -> EntityKey {
    let project_id = spi_read::select_one::<i64>(
        "SELECT project_id FROM audit.document_chain WHERE document_id = $1 ORDER BY project_id LIMIT 1",
        &[document_id.into()],
    )
    .unwrap_or_else(|| {
        raise(RollbackError::NoSuchVersion {
            entity: format!("document {document_id}"),
            version: 1,
        })
    });
    (project_id, Some(document_id))
}

type DiffRow = (String, Option<String>, Option<String>);

fn diff_rows(changes: Vec<FieldChange>) -> TableIterator<'static, DiffRow> {
    TableIterator::new(changes.into_iter().map(|c| (c.field, c.old, c.new)))
}

fn required<T>(value: Option<T>, name: &'static str) -> T {
    value.unwrap_or_else(|| raise(RollbackError::NullArgument(name)))
}

#[pg_schema]
mod audit {
    use super::*;

    /// What changed from one version of a project to another: (field, old, new), set
    /// elements one row each, references by label.
    #[pg_extern(stable, parallel_restricted)]
    #[search_path(pg_catalog, pg_temp)]
    fn project_diff(
        project_id: Option<i64>,
        from_version: Option<i32>,
        to_version: Option<i32>,
    ) -> TableIterator<
        'static,
        (
            name!(field, String),
            name!(old_value, Option<String>),
            name!(new_value, Option<String>),
        ),
    > {
        let key = (required(project_id, "project_id"), None);
        diff_rows(diff_versions(
            Chain::Project,
            key,
            required(from_version, "from_version"),
            required(to_version, "to_version"),
        ))
    }

    /// What changed from one version of a document to another.
    #[pg_extern(stable, parallel_restricted)]
    #[search_path(pg_catalog, pg_temp)]
    fn document_diff(
        document_id: Option<i64>,
        from_version: Option<i32>,
        to_version: Option<i32>,
    ) -> TableIterator<
        'static,
        (
            name!(field, String),
            name!(old_value, Option<String>),
            name!(new_value, Option<String>),
        ),
    > {
        let key = document_key(required(document_id, "document_id"));
        diff_rows(diff_versions(
            Chain::Document,
            key,
            required(from_version, "from_version"),
            required(to_version, "to_version"),
        ))
    }

    /// Restore a project and its link sets to an earlier version; returns the new version.
    #[pg_extern(volatile, parallel_unsafe)]
    #[search_path(pg_catalog, pg_temp)]
    fn rollback_project(
        project_id: Option<i64>,
        to_version: Option<i32>,
        expected_current_version: Option<i32>,
    ) -> i32 {
        rollback(
            Chain::Project,
            (required(project_id, "project_id"), None),
            required(to_version, "to_version"),
            required(expected_current_version, "expected_current_version"),
        )
    }

    /// Restore a document to an earlier version; returns the new version.
    #[pg_extern(volatile, parallel_unsafe)]
    #[search_path(pg_catalog, pg_temp)]
    fn rollback_document(
        document_id: Option<i64>,
        to_version: Option<i32>,
        expected_current_version: Option<i32>,
    ) -> i32 {
        rollback(
            Chain::Document,
            document_key(required(document_id, "document_id")),
            required(to_version, "to_version"),
            required(expected_current_version, "expected_current_version"),
        )
    }
}
