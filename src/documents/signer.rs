//! Each storage's SigV4 presigner, built from `pulse.storage_reference` and
//! `pulse.storage_credential` and kept per backend.
//!
//! The credential table grants nothing to anyone and has row-level security without a
//! policy; pulse reads it through the index, with no SQL and so no privilege check, only
//! here. Presigners cache the derived signing key per day (`pulse_core::s3_presign`); every
//! write to either table invalidates the cache of every backend at commit
//! (`pulse.forget_cached_copies()`).

use std::cell::RefCell;
use std::collections::HashMap;

use pgrx::prelude::*;
use pulse_core::s3_presign::{Addressing, Credentials, Endpoint, Method, Presigner, Scheme};

use super::DocumentError;
use crate::direct_read::Table;
use crate::errors::raise;

/// A storage ready to sign.
pub struct Storage {
    pub presigner: Presigner,
    /// The longest lifetime of a URL for this storage, in seconds.
    pub max_expires_in: i32,
}

thread_local! {
    static STORAGES: RefCell<HashMap<i32, Storage>> = RefCell::new(HashMap::new());
    /// Storage codes already looked up (a third of the cost of a URL otherwise).
    static STORAGE_IDS: RefCell<HashMap<String, i32>> = RefCell::new(HashMap::new());
}

pub fn register_callbacks() {
    // SAFETY: registers a static function with PostgreSQL's relcache callback list.
    unsafe { pg_sys::CacheRegisterRelcacheCallback(Some(forget_storages), pg_sys::Datum::from(0)) }
}

#[pg_guard]
unsafe extern "C-unwind" fn forget_storages(_arg: pg_sys::Datum, _relid: pg_sys::Oid) {
    STORAGES.with_borrow_mut(HashMap::clear);
    STORAGE_IDS.with_borrow_mut(HashMap::clear);
}

/// The id of the storage with `code`.
pub fn storage_id(code: &str) -> i32 {
    if let Some(id) = STORAGE_IDS.with_borrow(|ids| ids.get(code).copied()) {
        return id;
    }
    let id = read_storage_id(code);
    STORAGE_IDS.with_borrow_mut(|ids| ids.insert(code.to_owned(), id));
    id
}

fn read_storage_id(code: &str) -> i32 {
    let storages = Table::open(c"pulse", c"storage_reference");
    let (code_column, id) = (storages.column(c"code"), storages.column(c"storage_id"));
    storages
        .find(
            c"storage_reference_code_key",
            code_column,
            pg_sys::F_TEXTEQ,
            code,
            |row| row.get::<i32>(id),
        )
        .flatten()
        .unwrap_or_else(|| raise(DocumentError::UnknownStorage(code.to_owned())))
}

/// Run `f` with the signer of storage `storage_id`, reading its configuration on first use.
pub fn with_storage<T>(storage_id: i32, f: impl FnOnce(&mut Storage) -> T) -> T {
    let cached = STORAGES.with_borrow(|s| s.contains_key(&storage_id));
    if !cached {
        let storage = load(storage_id).unwrap_or_else(|e| raise(e));
        STORAGES.with_borrow_mut(|s| s.insert(storage_id, storage));
    }
    STORAGES.with_borrow_mut(|s| f(s.get_mut(&storage_id).expect("inserted above")))
}

fn load(storage_id: i32) -> Result<Storage, DocumentError> {
    let storages = Table::open(c"pulse", c"storage_reference");
    let id = storages.column(c"storage_id");
    let columns = [
        c"code",
        c"bucket",
        c"region",
        c"endpoint",
        c"addressing_style",
    ]
    .map(|c| storages.column(c));
    let [code, bucket, region, endpoint, addressing] = storages
        .find(
            c"storage_reference_pkey",
            id,
            pg_sys::F_INT4EQ,
            storage_id,
            |row| columns.map(|c| row.get::<String>(c)),
        )
        .ok_or(DocumentError::Internal("reading a storage"))?;
    let code = code.unwrap_or_default();
    let misconfigured = |problem: String| DocumentError::Misconfigured {
        storage: code.clone(),
        problem,
    };
    let addressing = match addressing.as_deref() {
        Some("path") => Addressing::Path,
        _ => Addressing::VirtualHosted,
    };
    let region = region.unwrap_or_default();
    let endpoint = match endpoint {
        None => Endpoint::aws(&region, addressing),
        Some(url) => {
            let (scheme, host) = if let Some(host) = url.strip_prefix("https://") {
                (Scheme::Https, host)
            } else if let Some(host) = url.strip_prefix("http://") {
                (Scheme::Http, host)
            } else {
                return Err(misconfigured("its endpoint is not an http(s) URL".into()));
            };
            Endpoint {
                scheme,
                host: host.to_owned(),
                region,
                addressing,
            }
        }
    };

    let credentials = Table::open(c"pulse", c"storage_credential");
    let id = credentials.column(c"storage_id");
    let secret_columns =
        [c"access_key_id", c"secret_access_key", c"session_token"].map(|c| credentials.column(c));
    let max_column = credentials.column(c"max_expires_in");
    let (secrets, max_expires_in) = credentials
        .find(
            c"storage_credential_pkey",
            id,
            pg_sys::F_INT4EQ,
            storage_id,
            |row| {
                (
                    secret_columns.map(|c| row.get::<String>(c)),
                    row.get::<i32>(max_column).unwrap_or(1),
                )
            },
        )
        .ok_or_else(|| DocumentError::NoCredentials(code.clone()))?;
    let [access_key_id, secret_access_key, session_token] = secrets;
    let credentials = Credentials {
        access_key_id: access_key_id.unwrap_or_default(),
        secret_access_key: secret_access_key.unwrap_or_default(),
        session_token,
    };
    // The presigner's own checks name the problem, never the secret.
    let presigner = Presigner::new(endpoint, credentials, &bucket.unwrap_or_default())
        .map_err(|e| misconfigured(e.to_string()))?;
    Ok(Storage {
        presigner,
        max_expires_in,
    })
}

pub fn parse_method(method: &str) -> Result<Method, DocumentError> {
    match method.to_ascii_uppercase().as_str() {
        "GET" => Ok(Method::Get),
        "PUT" => Ok(Method::Put),
        "HEAD" => Ok(Method::Head),
        "DELETE" => Ok(Method::Delete),
        _ => Err(DocumentError::UnknownMethod(method.to_owned())),
    }
}

/// Seconds since 1970 of a PostgreSQL timestamp (microseconds since 2000).
pub fn unix_seconds(ts: pg_sys::TimestampTz) -> i64 {
    const POSTGRES_EPOCH_UNIX: i64 = 946_684_800;
    ts.div_euclid(1_000_000) + POSTGRES_EPOCH_UNIX
}

impl Storage {
    /// A presigned URL; `expires_in` must be within the storage's maximum.
    pub fn sign(
        &mut self,
        method: Method,
        key: &str,
        expires_in: i64,
        signed_at_unix: i64,
        checksum_sha256: Option<&str>,
        content_type: Option<&str>,
    ) -> Result<String, DocumentError> {
        if !(1..=i64::from(self.max_expires_in)).contains(&expires_in) {
            return Err(DocumentError::ExpiryOutOfRange {
                given: expires_in,
                max: self.max_expires_in,
            });
        }
        Ok(self.presigner.presign(
            method,
            key,
            expires_in,
            signed_at_unix,
            checksum_sha256,
            content_type,
        )?)
    }
}

#[pg_schema]
mod pulse {
    use super::*;

    /// A SigV4 presigned URL for `object_key` in `storage`, with that storage's credentials.
    /// For administrators and conformance tests: EXECUTE is granted to no one by default.
    #[pg_extern(stable, parallel_restricted)]
    #[allow(clippy::too_many_arguments)]
    fn s3_presign(
        storage: Option<&str>,
        method: Option<&str>,
        object_key: Option<&str>,
        expires_in: Option<i32>,
        signed_at: default!(Option<TimestampWithTimeZone>, "now()"),
        checksum_sha256: default!(Option<&str>, "NULL"),
        content_type: default!(Option<&str>, "NULL"),
    ) -> String {
        let (Some(storage), Some(method), Some(object_key), Some(expires_in), Some(signed_at)) =
            (storage, method, object_key, expires_in, signed_at)
        else {
            raise(DocumentError::MissingArgument)
        };
        let method = parse_method(method).unwrap_or_else(|e| raise(e));
        let id = storage_id(storage);
        let signed_at = unix_seconds(signed_at.into_inner());
        with_storage(id, |s| {
            s.sign(
                method,
                object_key,
                expires_in.into(),
                signed_at,
                checksum_sha256,
                content_type,
            )
        })
        .unwrap_or_else(|e| raise(e))
    }
}
