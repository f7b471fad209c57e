//! The per-entity SHA-256 hash chain of history rows, and its verification.
//!
//! Every history row is sealed as it is appended (`append.rs`): under the lock its writer
//! holds on the entity (a document's row lock; pulse's lock on a project, `lock_entity`) the
//! chain head (`audit.project_chain` / `audit.document_chain`: last version and row hash) is
//! read, the row gets the next version and that hash as `prev_hash`, its canonical encoding
//! (`pulse_core::chain`, every column but `row_hash`) is hashed into `row_hash`, and the head
//! moves. The lock serializes writers of one entity, so no two rows can chain to the same
//! predecessor; the head also anchors the end of the chain, so deleting the last row is
//! found too. `audit.verify()` recomputes everything from the stored rows.

use std::collections::BTreeMap;
use std::ffi::CStr;
use std::ops::ControlFlow;

use pgrx::prelude::*;
use pgrx::{FromDatum, IntoDatum, Uuid};
use pulse_core::chain::{RowEncoder, Value};

use super::snapshot::{output_text, RawRow};
use super::HistoryError;
use crate::direct_read::{self, Table};
use crate::errors::raise;

/// Which chain: the history table, its head table and the entity's key columns.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Chain {
    Project,
    Document,
}

impl Chain {
    pub fn history_table(self) -> &'static str {
        match self {
            Self::Project => "audit.project_history",
            Self::Document => "audit.document_history",
        }
    }

    /// The history table, in schema `audit`, and its primary key.
    pub fn history_relation(self) -> (&'static CStr, &'static CStr) {
        match self {
            Self::Project => (c"project_history", c"project_history_pkey"),
            Self::Document => (c"document_history", c"document_history_pkey"),
        }
    }

    /// The head table, in schema `audit`, and its primary key.
    pub fn head_relation(self) -> (&'static CStr, &'static CStr) {
        match self {
            Self::Project => (c"project_chain", c"project_chain_pkey"),
            Self::Document => (c"document_chain", c"document_chain_pkey"),
        }
    }

    /// Distinguishes the two kinds of entity lock from each other and from user advisory
    /// locks (which use 1 and 2 in this field).
    fn lock_class(self) -> u16 {
        match self {
            Self::Project => 0x7001,
            Self::Document => 0x7002,
        }
    }
}

/// An entity: project id, and document id for documents.
pub type EntityKey = (i64, Option<i64>);

/// Take the transaction-scoped lock that serializes the chain of one entity. Capture takes
/// it before reading a project's state, so that what it records is what the row it chains
/// to left behind. Documents need it only where no row lock is held (rollback, purge): one
/// lock per changed row would fill the shared lock table on a bulk change.
pub fn lock_entity(chain: Chain, key: EntityKey) {
    let id = key.1.unwrap_or(key.0) as u64;
    // SAFETY: an advisory-type lock tag in pulse's own field4 space, held to the end of the
    // transaction (sessionLock = false); LockAcquire waits for a concurrent holder.
    unsafe {
        let tag = pg_sys::LOCKTAG {
            locktag_field1: pg_sys::MyDatabaseId.to_u32(),
            locktag_field2: (id >> 32) as u32,
            locktag_field3: id as u32,
            locktag_field4: chain.lock_class(),
            locktag_type: pg_sys::LockTagType::LOCKTAG_ADVISORY as u8,
            locktag_lockmethodid: pg_sys::USER_LOCKMETHOD as u8,
        };
        pg_sys::LockAcquire(
            &tag,
            pg_sys::ExclusiveLock as pg_sys::LOCKMODE,
            false,
            false,
        );
    }
}

/// The chain head of an entity: its last version, that row's hash, and where the head row is.
pub struct Head {
    pub version: i32,
    pub row_hash: Vec<u8>,
    pub tid: pg_sys::ItemPointerData,
}

/// The head of an entity's chain under the newest snapshot: the last committed one, or this
/// transaction's own (the caller holds the entity, see `lock_entity`).
pub fn read_head(chain: Chain, key: EntityKey) -> Option<Head> {
    read_head_in(&Table::open(c"audit", chain.head_relation().0), chain, key)
}

/// `read_head` from `heads`, the chain's head table already open: an append opens it once,
/// to write, and reads the head there (one relation open and one lock per row, not two).
pub fn read_head_in(heads: &Table, chain: Chain, key: EntityKey) -> Option<Head> {
    direct_read::with_latest_snapshot(|| {
        let (_, pkey) = chain.head_relation();
        let (version, hash) = (heads.column(c"version"), heads.column(c"row_hash"));
        let mut keys = vec![(
            heads.column(c"project_id"),
            pg_sys::F_INT8EQ,
            key.0.into_datum()?,
        )];
        if let Some(document_id) = key.1 {
            keys.push((
                heads.column(c"document_id"),
                pg_sys::F_INT8EQ,
                document_id.into_datum()?,
            ));
        }
        let mut found = None;
        heads.scan_keys(pkey, &keys, |row| {
            // SAFETY: the scan's current tuple.
            let tid = unsafe { (*row.raw().0).t_self };
            found =
                row.get::<i32>(version)
                    .zip(row.get::<Vec<u8>>(hash))
                    .map(|(version, row_hash)| Head {
                        version,
                        row_hash,
                        tid,
                    });
            ControlFlow::Break(())
        });
        found
    })
}

/// The version an entity's chain is at (None before its first history row).
pub fn head_version(chain: Chain, key: EntityKey) -> Option<i32> {
    read_head(chain, key).map(|head| head.version)
}

/// The hash of a history row, given as its live columns in order (`RawRow::fields`): its
/// canonical encoding without `row_hash`. `snapshot_text`, when the caller has it, is what
/// `jsonb_out` prints for the row's jsonb column (see `pulse_core::jsonb_text`); otherwise
/// `jsonb_out` is called.
pub fn row_hash<'a>(
    chain: Chain,
    fields: impl Iterator<Item = (&'a str, pg_sys::Oid, Option<pg_sys::Datum>)>,
    snapshot_text: Option<&str>,
) -> [u8; 32] {
    let mut encoder = RowEncoder::new(chain.history_table());
    for (name, type_oid, datum) in fields {
        if name == "row_hash" {
            continue;
        }
        let Some(datum) = datum else {
            encoder.field(name, &Value::Null);
            continue;
        };
        // SAFETY: each arm reads the datum as its declared type.
        unsafe {
            match type_oid {
                pg_sys::INT2OID => encoder.field(
                    name,
                    &Value::Int(i16::from_datum(datum, false).unwrap_or_default().into()),
                ),
                pg_sys::INT4OID => encoder.field(
                    name,
                    &Value::Int(i32::from_datum(datum, false).unwrap_or_default().into()),
                ),
                pg_sys::INT8OID | pg_sys::TIMESTAMPTZOID => {
                    encoder.field(name, &Value::Int(datum.value() as i64))
                }
                pg_sys::XID8OID => encoder.field(name, &Value::Unsigned(datum.value() as u64)),
                pg_sys::BOOLOID => encoder.field(name, &Value::Bool(datum.value() != 0)),
                pg_sys::TEXTOID => {
                    let text = String::from_datum(datum, false).unwrap_or_default();
                    encoder.field(name, &Value::Text(&text))
                }
                // jsonb_out is canonical: keys in jsonb order, fixed spacing.
                pg_sys::JSONBOID => match snapshot_text {
                    Some(text) => encoder.field(name, &Value::Text(text)),
                    None => encoder.field(name, &Value::Text(&output_text(type_oid, datum))),
                },
                pg_sys::BYTEAOID => {
                    let bytes = Vec::<u8>::from_datum(datum, false).unwrap_or_default();
                    encoder.field(name, &Value::Bytes(&bytes))
                }
                pg_sys::UUIDOID => {
                    let uuid =
                        Uuid::from_datum(datum, false).unwrap_or_else(|| Uuid::from_bytes([0; 16]));
                    encoder.field(name, &Value::Bytes(uuid.as_bytes()))
                }
                pg_sys::TEXTARRAYOID => {
                    let items: Vec<String> = Vec::<Option<String>>::from_datum(datum, false)
                        .unwrap_or_default()
                        .into_iter()
                        .flatten()
                        .collect();
                    encoder.field(
                        name,
                        &Value::TextArray(items.iter().map(String::as_str).collect()),
                    )
                }
                other => raise(HistoryError::UnsupportedColumn {
                    column: name.to_owned(),
                    type_oid: other.to_u32(),
                }),
            };
        }
    }
    encoder.hash()
}

/// One finding of `audit.verify()`.
type Finding = (String, i64, Option<i64>, Option<i32>, String);

/// Walk one history table in key order and compare every row with its predecessor, its own
/// content and the chain head.
fn verify_chain(chain: Chain, findings: &mut Vec<Finding>) {
    let name = chain.history_table().to_owned();
    let mut report = |key: EntityKey, version: Option<i32>, problem: String| {
        findings.push((name.clone(), key.0, key.1, version, problem));
    };

    let (head_table, head_pkey) = chain.head_relation();
    let (history_table, history_pkey) = chain.history_relation();
    let mut heads: BTreeMap<EntityKey, (i32, Vec<u8>)> = BTreeMap::new();
    {
        let table = Table::open(c"audit", head_table);
        let (p, v, h) = (
            table.column(c"project_id"),
            table.column(c"version"),
            table.column(c"row_hash"),
        );
        let d = (chain == Chain::Document).then(|| table.column(c"document_id"));
        table.scan_all(head_pkey, |row| {
            let key = (
                row.get::<i64>(p).unwrap_or_default(),
                d.and_then(|d| row.get::<i64>(d)),
            );
            heads.insert(
                key,
                (
                    row.get(v).unwrap_or_default(),
                    row.get(h).unwrap_or_default(),
                ),
            );
            ControlFlow::Continue(())
        });
    }

    // Where purges cut each chain: the latest tombstone's version and hash.
    let mut tombstones: BTreeMap<EntityKey, (i32, Vec<u8>)> = BTreeMap::new();
    {
        let table = Table::open(c"audit", c"history_tombstone");
        let (p, t, e, v, h) = (
            table.column(c"project_id"),
            table.column(c"history_table"),
            table.column(c"entity_id"),
            table.column(c"up_to_version"),
            table.column(c"removed_hash"),
        );
        table.scan_all(c"history_tombstone_pkey", |row| {
            if row.get::<String>(t).as_deref() == Some(chain.history_table()) {
                let project = row.get::<i64>(p).unwrap_or_default();
                let entity = row.get::<i64>(e).unwrap_or_default();
                let key = match chain {
                    Chain::Project => (project, None),
                    Chain::Document => (project, Some(entity)),
                };
                let version = row.get::<i32>(v).unwrap_or_default();
                if tombstones
                    .get(&key)
                    .is_none_or(|(known, _)| *known < version)
                {
                    tombstones.insert(key, (version, row.get(h).unwrap_or_default()));
                }
            }
            ControlFlow::Continue(())
        });
    }

    // The entity being walked: its key, the last version seen and that row's hash.
    let mut current: Option<(EntityKey, i32, Vec<u8>)> = None;
    let mut finish = |entity: &(EntityKey, i32, Vec<u8>),
                      report: &mut dyn FnMut(EntityKey, Option<i32>, String)| {
        let (key, last, hash) = entity;
        match heads.remove(key) {
            None => report(
                *key,
                Some(*last),
                "the entity has history but no chain head".into(),
            ),
            Some((head_version, head_hash)) => {
                if head_version != *last {
                    report(*key, Some(*last), format!("history ends at version {last} but the chain head is at version {head_version}"));
                } else if head_hash != *hash {
                    report(
                        *key,
                        Some(*last),
                        "the last row's hash differs from the chain head's".into(),
                    );
                }
            }
        }
    };
    let table = Table::open(c"audit", history_table);
    let (p, v, prev, own) = (
        table.column(c"project_id"),
        table.column(c"version"),
        table.column(c"prev_hash"),
        table.column(c"row_hash"),
    );
    let d = (chain == Chain::Document).then(|| table.column(c"document_id"));
    table.scan_all(history_pkey, |row| {
        let key = (
            row.get::<i64>(p).unwrap_or_default(),
            d.and_then(|d| row.get::<i64>(d)),
        );
        let version = row.get::<i32>(v).unwrap_or_default();
        let prev_hash = row.get::<Vec<u8>>(prev);
        let stored = row.get::<Vec<u8>>(own).unwrap_or_default();
        let (tuple, desc) = row.raw();
        let computed = row_hash(chain, RawRow { tuple, desc }.fields(), None);
        if computed.as_slice() != stored.as_slice() {
            report(
                key,
                Some(version),
                "row_hash does not match the row's content".into(),
            );
        }
        let predecessor = match current.take() {
            Some(entity) if entity.0 == key => Some(entity),
            Some(other) => {
                finish(&other, &mut report);
                None
            }
            None => None,
        };
        match &predecessor {
            None => {
                // A chain starts at version 1, or just after what its last purge removed.
                let (first, start_hash) = match tombstones.get(&key) {
                    Some((up_to, hash)) => (up_to + 1, Some(hash.as_slice())),
                    None => (1, None),
                };
                if version != first {
                    report(
                        key,
                        Some(version),
                        format!("the chain starts at version {version}, not {first}"),
                    );
                }
                if prev_hash.as_deref() != start_hash {
                    let problem = if start_hash.is_some() {
                        "prev_hash is not the hash the purge's tombstone recorded"
                    } else {
                        "the first version has a prev_hash"
                    };
                    report(key, Some(version), problem.into());
                }
            }
            Some((_, last, last_hash)) => {
                if version != last + 1 {
                    report(
                        key,
                        Some(version),
                        format!("version {version} follows version {last}"),
                    );
                }
                if prev_hash.as_deref() != Some(last_hash.as_slice()) {
                    report(
                        key,
                        Some(version),
                        format!("prev_hash is not the row_hash of version {last}"),
                    );
                }
            }
        }
        current = Some((key, version, stored));
        ControlFlow::Continue(())
    });
    if let Some(entity) = current.take() {
        finish(&entity, &mut report);
    }
    for (key, (version, _)) in heads {
        report(key, Some(version), "the chain head has no history".into());
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PurgeError {
    #[error("unknown history table {0}")]
    UnknownTable(String),
    #[error("versions up to {up_to} of this chain cannot be purged: it ends at version {last}, which is always kept")]
    KeepsLast { up_to: i32, last: i32 },
    #[error("history_table, project_id, up_to_version and reason must not be NULL")]
    NullArgument,
}

impl crate::errors::SqlError for PurgeError {
    fn sqlstate(&self) -> pgrx::PgSqlErrorCode {
        match self {
            Self::NullArgument => pgrx::PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            _ => pgrx::PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        }
    }
}

/// Remove versions 1..=up_to of one chain and record the tombstone; returns how many rows.
fn purge_prefix(
    history_table: &str,
    project_id: i64,
    document_id: Option<i64>,
    up_to: i32,
    reason: &str,
) -> i32 {
    let chain = match history_table {
        "audit.project_history" => Chain::Project,
        "audit.document_history" => Chain::Document,
        other => raise(PurgeError::UnknownTable(other.to_owned())),
    };
    let key = (project_id, document_id.filter(|_| chain == Chain::Document));
    lock_entity(chain, key);
    let last = head_version(chain, key).unwrap_or(0);
    if up_to < 1 || up_to >= last {
        raise(PurgeError::KeepsLast { up_to, last });
    }
    let (select, delete) = match chain {
        Chain::Project => (
            "SELECT row_hash FROM audit.project_history WHERE project_id = $1 AND version = $3 AND $2::bigint IS NULL",
            "DELETE FROM audit.project_history WHERE project_id = $1 AND version <= $3 AND $2::bigint IS NULL",
        ),
        Chain::Document => (
            "SELECT row_hash FROM audit.document_history WHERE project_id = $1 AND document_id = $2 AND version = $3",
            "DELETE FROM audit.document_history WHERE project_id = $1 AND document_id = $2 AND version <= $3",
        ),
    };
    let args =
        || -> Vec<pgrx::datum::DatumWithOid> { vec![key.0.into(), key.1.into(), up_to.into()] };
    let removed_hash = Spi::get_one_with_args::<Vec<u8>>(select, &args())
        .ok()
        .flatten()
        .unwrap_or_else(|| raise(HistoryError::Internal("reading the last purged row")));
    let removed = super::purging(|| {
        Spi::connect_mut(|client| client.update(delete, None, &args()).map(|s| s.len()))
    })
    .unwrap_or_else(|_| raise(HistoryError::Internal("purging history")));
    let caller = crate::identity::current_caller().map(|c| c.user_id);
    super::writing_history(|| {
        Spi::run_with_args(
            "INSERT INTO audit.history_tombstone (project_id, history_table, entity_id, up_to_version, removed_rows,
                                                  removed_hash, purged_by, reason)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                key.0.into(),
                chain.history_table().into(),
                key.1.unwrap_or(key.0).into(),
                up_to.into(),
                (removed as i32).into(),
                removed_hash.into(),
                caller.into(),
                reason.into(),
            ],
        )
    })
    .unwrap_or_else(|_| raise(HistoryError::Internal("recording the tombstone")));
    removed as i32
}

#[pg_schema]
mod audit {
    use super::*;

    /// Internal to audit.purge_history(): remove versions 1..up_to_version of one chain.
    /// Not strict: document_id is NULL for a project's chain; the other arguments may not be.
    #[pg_extern(volatile, parallel_unsafe)]
    #[search_path(pg_catalog, pg_temp)]
    fn purge_chain_prefix(
        history_table: Option<&str>,
        project_id: Option<i64>,
        document_id: Option<i64>,
        up_to_version: Option<i32>,
        reason: Option<&str>,
    ) -> i32 {
        let (Some(history_table), Some(project_id), Some(up_to_version), Some(reason)) =
            (history_table, project_id, up_to_version, reason)
        else {
            raise(PurgeError::NullArgument)
        };
        purge_prefix(
            history_table,
            project_id,
            document_id,
            up_to_version,
            reason,
        )
    }

    /// One row per broken link of the hash chains: nothing when history is intact.
    #[allow(clippy::type_complexity)] // the SQL signature, spelled out for #[pg_extern]
    #[pg_extern(stable, parallel_restricted)]
    fn verify() -> TableIterator<
        'static,
        (
            name!(history_table, String),
            name!(project_id, i64),
            name!(document_id, Option<i64>),
            name!(version, Option<i32>),
            name!(problem, String),
        ),
    > {
        let mut findings = Vec::new();
        verify_chain(Chain::Project, &mut findings);
        verify_chain(Chain::Document, &mut findings);
        TableIterator::new(findings)
    }
}
