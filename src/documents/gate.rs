//! The gate: `documents.upload_url()` and `documents.download_url()` sign only what the
//! caller may write or read. The document is read through row-level security as the
//! caller (a document the caller cannot see does not exist for them); the URL is signed
//! with the storage's credentials, which the caller cannot read; and every URL issued is
//! logged in `documents.url_grant` with the caller's user and session. Callers choose only
//! the document, the version (downloads) and the lifetime: no header or query parameter of
//! theirs is signed.

use pgrx::prelude::*;
use pgrx::{JsonB, Uuid};
use pulse_core::s3_presign::{put_headers, Method};
use serde_json::{Map, Value};

use super::signer::{unix_seconds, with_storage};
use super::DocumentError;
use crate::errors::raise;
use crate::identity::{as_extension_owner, current_caller};
use crate::kept_plans::{with_kept_plan, KeptPlan};

/// Lifetime of a URL when the caller names none (capped by the storage's maximum).
const DEFAULT_EXPIRES_IN: i32 = 900;

thread_local! {
    static READ_TARGET: KeptPlan = const { std::cell::RefCell::new(None) };
    static LOG_GRANT: KeptPlan = const { std::cell::RefCell::new(None) };
}

/// A document version as the caller sees it.
struct Target {
    project_id: i64,
    deleted: bool,
    current_version: i32,
    may_write: bool,
    /// None when the document has no such version.
    revision: Option<Revision>,
}

struct Revision {
    version: i32,
    object_key: String,
    checksum_sha256: String,
    mime_type: String,
    available: bool,
    storage_id: i32,
}

/// Read under the caller's row-level security (this runs with the caller's rights).
fn read_target(document_id: i64, version: Option<i32>) -> Option<Target> {
    use pg_sys::BuiltinOid::*;
    with_kept_plan(
        &READ_TARGET,
        "SELECT d.project_id, d.deleted_at IS NOT NULL, d.version,
                pulse.caller_holds('write', d.project_id),
                r.version, r.object_key, r.checksum_sha256, f.mime_type, r.available_at IS NOT NULL, r.storage_id
           FROM documents.documents d
           LEFT JOIN documents.document_revision r
                  ON r.project_id = d.project_id AND r.document_id = d.document_id
                 AND r.version = coalesce($2, d.version)
           LEFT JOIN pulse.filetype_reference f ON f.filetype_id = r.filetype_id
          WHERE d.document_id = $1",
        &[INT8OID.oid(), INT4OID.oid()],
        "reading a document",
        |client, plan| {
            let rows = client
                .select(plan, Some(1), &[document_id.into(), version.into()])
                .unwrap_or_else(|_| raise(DocumentError::Internal("reading a document")));
            let row = rows.first();
            let get = |i: usize| -> Option<i64> { row.get::<i64>(i).ok().flatten() };
            let project_id = get(1)?;
            let revision = match row.get::<i32>(5).ok().flatten() {
                None => None,
                Some(version) => Some(Revision {
                    version,
                    object_key: row.get::<String>(6).ok().flatten()?,
                    checksum_sha256: row.get::<String>(7).ok().flatten()?,
                    mime_type: row.get::<String>(8).ok().flatten()?,
                    available: row.get::<bool>(9).ok().flatten()?,
                    storage_id: row.get::<i32>(10).ok().flatten()?,
                }),
            };
            Some(Target {
                project_id,
                deleted: row.get::<bool>(2).ok().flatten()?,
                current_version: row.get::<i32>(3).ok().flatten()?,
                may_write: row.get::<bool>(4).ok().flatten().unwrap_or(false),
                revision,
            })
        },
    )
}

/// Sign `method` on the revision and log the grant; returns (url, expires_at).
fn sign_and_log(
    document_id: i64,
    target: &Target,
    revision: &Revision,
    method: Method,
    expires_in: Option<i32>,
) -> (String, pg_sys::TimestampTz) {
    let caller = current_caller().unwrap_or_else(|| raise(DocumentError::NotAuthenticated));
    // SAFETY: plain reads of backend globals.
    if unsafe { pg_sys::XactReadOnly || pg_sys::RecoveryInProgress() } {
        raise(DocumentError::ReadOnly);
    }
    // SAFETY: reading the wall clock; URLs expire relative to when they are signed.
    let issued_at = unsafe { pg_sys::GetCurrentTimestamp() };
    let put = method == Method::Put;
    let (url, expires_in) = with_storage(revision.storage_id, |storage| {
        let expires_in = expires_in.unwrap_or(DEFAULT_EXPIRES_IN.min(storage.max_expires_in));
        let url = storage.sign(
            method,
            &revision.object_key,
            expires_in.into(),
            unix_seconds(issued_at),
            put.then_some(revision.checksum_sha256.as_str()),
            put.then_some(revision.mime_type.as_str()),
        );
        (url, expires_in)
    });
    let url = url.unwrap_or_else(|e| raise(e));
    // Whole seconds: the URL's X-Amz-Date has no fraction.
    let signed_at = issued_at - issued_at.rem_euclid(1_000_000);
    let expires_at = signed_at + i64::from(expires_in) * 1_000_000;
    let args: Vec<pgrx::datum::DatumWithOid<'static>> = vec![
        target.project_id.into(),
        document_id.into(),
        revision.version.into(),
        if put { "PUT" } else { "GET" }.into(),
        caller.user_id.into(),
        Uuid::from_bytes(caller.session_id).into(),
        TimestampWithTimeZone::try_from(signed_at).ok().into(),
        TimestampWithTimeZone::try_from(expires_at).ok().into(),
    ];
    as_extension_owner(move || {
        use pg_sys::BuiltinOid::*;
        with_kept_plan(
            &LOG_GRANT,
            "INSERT INTO documents.url_grant (project_id, document_id, version, method, user_id, session_id,
                                              issued_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                INT8OID.oid(),
                INT8OID.oid(),
                INT4OID.oid(),
                TEXTOID.oid(),
                INT4OID.oid(),
                UUIDOID.oid(),
                TIMESTAMPTZOID.oid(),
                TIMESTAMPTZOID.oid(),
            ],
            "logging a URL",
            |client, plan| {
                client
                    .update(plan, None, &args)
                    .unwrap_or_else(|_| raise(DocumentError::Internal("logging a URL")));
            },
        )
    });
    (url, expires_at)
}

fn timestamp(ts: pg_sys::TimestampTz) -> TimestampWithTimeZone {
    TimestampWithTimeZone::try_from(ts)
        .unwrap_or_else(|_| raise(DocumentError::Internal("computing an expiry")))
}

#[pg_schema]
mod documents {
    use super::*;

    /// A PUT URL for the current version of a document, bound to its checksum and content
    /// type, with the headers the client must send. Needs the write permission. Not strict
    /// (the expiry defaults to NULL), so a NULL document_id is refused here (22004).
    #[pg_extern(volatile, parallel_unsafe)]
    fn upload_url(
        document_id: Option<i64>,
        expires_in: default!(Option<i32>, "NULL"),
    ) -> TableIterator<
        'static,
        (
            name!(url, String),
            name!(headers, JsonB),
            name!(expires_at, TimestampWithTimeZone),
        ),
    > {
        let document_id = document_id.unwrap_or_else(|| raise(DocumentError::NullDocumentId));
        let target = read_target(document_id, None)
            .unwrap_or_else(|| raise(DocumentError::NoDocument(document_id)));
        if !target.may_write {
            raise(DocumentError::NoWrite(document_id));
        }
        if target.deleted {
            raise(DocumentError::Deleted(document_id));
        }
        let Some(revision) = &target.revision else {
            raise(DocumentError::NoVersion {
                document: document_id,
                version: target.current_version,
            })
        };
        if revision.available {
            raise(DocumentError::AlreadyUploaded {
                document: document_id,
                version: revision.version,
            });
        }
        let headers: Map<String, Value> =
            put_headers(Some(&revision.checksum_sha256), Some(&revision.mime_type))
                .unwrap_or_else(|e| raise(DocumentError::from(e)))
                .into_iter()
                .map(|(name, value)| (name.to_owned(), Value::String(value)))
                .collect();
        let (url, expires_at) =
            sign_and_log(document_id, &target, revision, Method::Put, expires_in);
        TableIterator::once((url, JsonB(Value::Object(headers)), timestamp(expires_at)))
    }

    /// A GET URL for a version of a document (the current one by default). Needs read
    /// access; nothing for a soft-deleted document or a version not yet uploaded. Not
    /// strict (version and expiry default to NULL): a NULL document_id is refused (22004).
    #[pg_extern(volatile, parallel_unsafe)]
    fn download_url(
        document_id: Option<i64>,
        version: default!(Option<i32>, "NULL"),
        expires_in: default!(Option<i32>, "NULL"),
    ) -> String {
        let document_id = document_id.unwrap_or_else(|| raise(DocumentError::NullDocumentId));
        let target = read_target(document_id, version)
            .unwrap_or_else(|| raise(DocumentError::NoDocument(document_id)));
        if target.deleted {
            raise(DocumentError::Deleted(document_id));
        }
        let Some(revision) = &target.revision else {
            raise(DocumentError::NoVersion {
                document: document_id,
                version: version.unwrap_or(target.current_version),
            })
        };
        if !revision.available {
            raise(DocumentError::NotUploaded {
                document: document_id,
                version: revision.version,
            });
        }
        sign_and_log(document_id, &target, revision, Method::Get, expires_in).0
    }
}
