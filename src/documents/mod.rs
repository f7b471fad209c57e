//! Documents and their objects in S3-compatible storage (issue 5).
//!
//! - `checksum`: SHA-256 over bytea, equal to PostgreSQL's `sha256()`.
//! - `signer`: each storage's configuration and credentials, read without SQL (nobody but
//!   the extension owner may read them) into a per-backend SigV4 presigner
//!   (`pulse_core::s3_presign`), and `pulse.s3_presign()` for administrators.
//! - `gate`: `documents.upload_url()` and `documents.download_url()`, which sign only what
//!   the caller may write or read under row-level security, and log every URL.
//! - `phase`: phase changes follow the order of `pulse.phase_reference`.
//!
//! Registration, revisions, deduplication, soft delete and reconciliation are SQL
//! (`sql/document_lifecycle.sql`).

pub mod checksum;
pub mod gate;
pub mod phase;
pub mod signer;

use pgrx::PgSqlErrorCode;
use pulse_core::s3_presign::PresignError;

use crate::errors::SqlError;

/// Why a URL cannot be signed. Never carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error(transparent)]
    Presign(#[from] PresignError),
    #[error("unknown storage \"{0}\"")]
    UnknownStorage(String),
    #[error("storage \"{0}\" has no credentials")]
    NoCredentials(String),
    #[error("storage \"{storage}\" is misconfigured: {problem}")]
    Misconfigured { storage: String, problem: String },
    #[error("storage, method, object_key, expires_in and signed_at must not be NULL")]
    MissingArgument,
    #[error("unknown method \"{0}\"")]
    UnknownMethod(String),
    #[error("expiry must be between 1 and {max} seconds for this storage, not {given}")]
    ExpiryOutOfRange { given: i64, max: i32 },
    #[error("document_id must not be NULL")]
    NullDocumentId,
    #[error("no document {0} or no access to it")]
    NoDocument(i64),
    #[error("document {document} has no version {version}")]
    NoVersion { document: i64, version: i32 },
    #[error("uploading to document {0} needs the write permission in its project")]
    NoWrite(i64),
    #[error("document {0} is deleted")]
    Deleted(i64),
    #[error("version {version} of document {document} has not been uploaded yet")]
    NotUploaded { document: i64, version: i32 },
    #[error("version {version} of document {document} is already stored")]
    AlreadyUploaded { document: i64, version: i32 },
    #[error("URLs are issued to an authenticated pulse session only")]
    NotAuthenticated,
    #[error("URLs are issued only where they can be logged: not in a read-only transaction or on a standby")]
    ReadOnly,
    #[error("internal error while {0}")]
    Internal(&'static str),
}

impl SqlError for DocumentError {
    fn sqlstate(&self) -> PgSqlErrorCode {
        use PgSqlErrorCode::*;
        match self {
            Self::Presign(e) => match e.sqlstate() {
                "22008" => ERRCODE_DATETIME_FIELD_OVERFLOW,
                "XX000" => ERRCODE_INTERNAL_ERROR,
                _ => ERRCODE_INVALID_PARAMETER_VALUE,
            },
            Self::UnknownStorage(_) => ERRCODE_UNDEFINED_OBJECT,
            Self::MissingArgument | Self::NullDocumentId => ERRCODE_NULL_VALUE_NOT_ALLOWED,
            Self::NoCredentials(_) | Self::Misconfigured { .. } => {
                ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE
            }
            Self::UnknownMethod(_) | Self::ExpiryOutOfRange { .. } | Self::NoVersion { .. } => {
                ERRCODE_INVALID_PARAMETER_VALUE
            }
            Self::NoDocument(_) | Self::NoWrite(_) | Self::Deleted(_) => {
                ERRCODE_INSUFFICIENT_PRIVILEGE
            }
            Self::NotUploaded { .. } | Self::AlreadyUploaded { .. } => {
                ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE
            }
            Self::NotAuthenticated => ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
            Self::ReadOnly => ERRCODE_READ_ONLY_SQL_TRANSACTION,
            Self::Internal(_) => ERRCODE_INTERNAL_ERROR,
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            Self::NoCredentials(_) => Some(
                "A superuser inserts them into pulse.storage_credential (see docs/document-ingest.md)."
                    .into(),
            ),
            Self::Deleted(_) => Some("Restore it first.".into()),
            Self::NotUploaded { .. } => {
                Some("Upload it and call documents.confirm_upload().".into())
            }
            Self::NotAuthenticated => Some("Call pulse.authenticate(token) first.".into()),
            Self::ReadOnly => Some(
                "Every URL is recorded in documents.url_grant: ask the primary, in a read-write transaction."
                    .into(),
            ),
            _ => None,
        }
    }
}
