//! Who is calling: identity established by `pulse.authenticate(token)`.
//!
//! The caller lives in backend-private memory (never in a setting SQL can change) and is
//! cleared when the transaction ends, or when the subtransaction that established it
//! aborts, so a pooled connection (PgBouncer in transaction mode) never carries one
//! client's identity into another client's transaction.
//!
//! Other backends that run parts of the same transaction (Citus workers) never called
//! `authenticate`; for them the identity also travels as the transaction-local setting
//! `pulse.identity`, holding an assertion signed with HMAC-SHA256 under the installation's
//! identity key (`pulse.identity_key`, readable only by the extension's owner). A backend
//! without a local caller trusts that setting only when the signature verifies, the
//! assertion has not expired and its session is still valid; anything else is no identity.

use std::cell::{Cell, RefCell};
use std::ffi::{CStr, CString};

use pgrx::prelude::*;
use pgrx::spi::OwnedPreparedStatement;
use pgrx::{PgSqlErrorCode, Uuid};
use pulse_core::assertion::{self, Claims};
use pulse_core::token;

use crate::errors::{raise, SqlError};
use crate::settings;

/// The authenticated caller of the current transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    pub user_id: i32,
    pub session_id: [u8; 16],
    pub is_system_admin: bool,
    /// Transaction nest level at which it was established (1 = top level).
    nest_level: i32,
}

thread_local! {
    /// Set by `pulse.authenticate` in this backend.
    static LOCAL_CALLER: Cell<Option<Caller>> = const { Cell::new(None) };
    /// The last `pulse.identity` assertion verified in this transaction and what it yielded.
    static VERIFIED_ASSERTION: RefCell<Option<(CString, Option<Caller>)>> = const { RefCell::new(None) };
    /// Prepared, kept plans (SPI_keepplan) for the hot path.
    static LOOKUP_PLAN: RefCell<Option<OwnedPreparedStatement>> = const { RefCell::new(None) };
    static TOUCH_PLAN: RefCell<Option<OwnedPreparedStatement>> = const { RefCell::new(None) };
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("invalid session token")]
    MalformedToken,
    #[error("unknown session token")]
    UnknownToken,
    #[error("session has been revoked")]
    Revoked,
    #[error("session has expired")]
    Expired,
    #[error("session has been idle for too long")]
    IdleTimeout,
    #[error("user is disabled")]
    UserDisabled,
    #[error("pulse identity key is missing or invalid")]
    KeyUnavailable,
    #[error("internal error while {0}")]
    Internal(&'static str),
}

impl SqlError for IdentityError {
    fn sqlstate(&self) -> PgSqlErrorCode {
        match self {
            Self::MalformedToken
            | Self::UnknownToken
            | Self::Revoked
            | Self::Expired
            | Self::IdleTimeout
            | Self::UserDisabled => PgSqlErrorCode::ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
            Self::KeyUnavailable => PgSqlErrorCode::ERRCODE_CONFIG_FILE_ERROR,
            Self::Internal(_) => PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
        }
    }

    fn hint(&self) -> Option<String> {
        match self {
            Self::MalformedToken
            | Self::UnknownToken
            | Self::Revoked
            | Self::Expired
            | Self::IdleTimeout => Some("Sign in again to obtain a new session.".into()),
            Self::UserDisabled => Some("A system administrator can re-enable the user.".into()),
            Self::KeyUnavailable => {
                Some("Reinstall the key with SELECT pulse.rotate_identity_key().".into())
            }
            Self::Internal(_) => None,
        }
    }
}

/// A refused password hash, reported as an invalid parameter.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PasswordHashError(pulse_core::phc::PhcError);

impl SqlError for PasswordHashError {
    fn sqlstate(&self) -> PgSqlErrorCode {
        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE
    }

    fn hint(&self) -> Option<String> {
        Some(
            "Hash passwords in the application (argon2id recommended) and store the PHC string."
                .into(),
        )
    }
}

/// Register the transaction callbacks that forget the caller; called once from `_PG_init`.
pub fn register_callbacks() {
    // SAFETY: registering static functions with PostgreSQL's callback lists, once per backend.
    unsafe {
        pg_sys::RegisterXactCallback(Some(on_xact_event), std::ptr::null_mut());
        pg_sys::RegisterSubXactCallback(Some(on_subxact_event), std::ptr::null_mut());
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn on_xact_event(
    event: pg_sys::XactEvent::Type,
    _arg: *mut core::ffi::c_void,
) {
    use pg_sys::XactEvent::*;
    if matches!(
        event,
        XACT_EVENT_COMMIT
            | XACT_EVENT_ABORT
            | XACT_EVENT_PREPARE
            | XACT_EVENT_PARALLEL_COMMIT
            | XACT_EVENT_PARALLEL_ABORT
    ) {
        LOCAL_CALLER.set(None);
        VERIFIED_ASSERTION.with_borrow_mut(|v| *v = None);
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn on_subxact_event(
    event: pg_sys::SubXactEvent::Type,
    _my_subid: pg_sys::SubTransactionId,
    _parent_subid: pg_sys::SubTransactionId,
    _arg: *mut core::ffi::c_void,
) {
    if event == pg_sys::SubXactEvent::SUBXACT_EVENT_ABORT_SUB {
        // The aborting subtransaction is still the current one while callbacks run.
        let level = unsafe { pg_sys::GetCurrentTransactionNestLevel() };
        if LOCAL_CALLER.get().is_some_and(|c| c.nest_level >= level) {
            LOCAL_CALLER.set(None);
        }
        VERIFIED_ASSERTION.with_borrow_mut(|v| *v = None);
    }
}

/// The caller of the current transaction, if any: the local one, else a verified assertion.
pub fn current_caller() -> Option<Caller> {
    if let Some(caller) = LOCAL_CALLER.get() {
        return Some(caller);
    }
    let assertion = settings::IDENTITY.get()?;
    if assertion.as_bytes().is_empty() {
        return None;
    }
    if let Some(known) = VERIFIED_ASSERTION.with_borrow(|v| {
        v.as_ref()
            .filter(|(text, _)| *text == assertion)
            .map(|(_, caller)| *caller)
    }) {
        return known;
    }
    let caller = verify_foreign_assertion(&assertion);
    VERIFIED_ASSERTION.with_borrow_mut(|v| *v = Some((assertion, caller)));
    caller
}

/// Check an assertion written by another backend. Any failure is simply "no identity".
fn verify_foreign_assertion(assertion: &CStr) -> Option<Caller> {
    let text = assertion.to_str().ok()?;
    let row = as_extension_owner(|| {
        Spi::get_two::<Vec<u8>, i64>(
            "SELECT k.key, extract(epoch FROM pg_catalog.now())::bigint FROM pulse.identity_key k",
        )
    })
    .ok()?;
    let (key, now) = (row.0?, row.1?);
    let claims = assertion::verify(&key, text, now).ok()?;
    let session = Uuid::from_bytes(claims.session_id);
    // The session must still be valid: a replayed assertion dies with its session.
    let admin = as_extension_owner(|| {
        Spi::get_one_with_args::<bool>(
            "SELECT u.is_system_admin
               FROM users.sessions s JOIN users.users u ON u.user_id = s.user_id
              WHERE s.session_id = $1 AND s.user_id = $2 AND s.revoked_at IS NULL
                AND s.expires_at > pg_catalog.now() AND u.is_active AND u.deleted_at IS NULL",
            &[session.into(), claims.user_id.into()],
        )
    })
    .ok()??;
    Some(Caller {
        user_id: claims.user_id,
        session_id: claims.session_id,
        is_system_admin: admin,
        nest_level: 0,
    })
}

/// Run `f` with the extension owner's privileges (what SECURITY DEFINER does for SQL
/// functions), restoring the caller's user id afterwards, also on error.
fn as_extension_owner<T>(f: impl FnOnce() -> T + std::panic::UnwindSafe) -> T {
    let owner = Spi::get_one::<pg_sys::Oid>(
        "SELECT extowner FROM pg_catalog.pg_extension WHERE extname = 'pulse'",
    )
    .ok()
    .flatten()
    .unwrap_or_else(|| raise(IdentityError::Internal("looking up the extension owner")));
    let mut saved_user = pg_sys::InvalidOid;
    let mut saved_context = 0;
    // SAFETY: reading and setting the backend's current user id, as fmgr_security_definer does.
    unsafe {
        pg_sys::GetUserIdAndSecContext(&mut saved_user, &mut saved_context);
        pg_sys::SetUserIdAndSecContext(
            owner,
            saved_context
                | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32
                | pg_sys::SECURITY_RESTRICTED_OPERATION as i32,
        );
    }
    PgTryBuilder::new(f)
        .finally(|| unsafe { pg_sys::SetUserIdAndSecContext(saved_user, saved_context) })
        .execute()
}

/// What the session lookup found.
struct SessionRow {
    session_id: Uuid,
    user_id: i32,
    revoked: bool,
    expired: bool,
    idle: bool,
    active: bool,
    is_system_admin: bool,
    touch_due: bool,
    key: Option<Vec<u8>>,
    assertion_expiry: i64,
}

const LOOKUP_SQL: &str = "
    SELECT s.session_id, s.user_id,
           s.revoked_at IS NOT NULL,
           s.expires_at <= pg_catalog.now(),
           $2 > 0 AND s.last_active_at + pg_catalog.make_interval(secs => $2) <= pg_catalog.now(),
           u.is_active AND u.deleted_at IS NULL,
           u.is_system_admin,
           s.last_active_at + pg_catalog.make_interval(secs => $3) <= pg_catalog.now(),
           (SELECT k.key FROM pulse.identity_key k),
           extract(epoch FROM LEAST(s.expires_at, pg_catalog.now() + pg_catalog.make_interval(secs => $4)))::bigint
      FROM users.sessions s JOIN users.users u ON u.user_id = s.user_id
     WHERE s.token_hash = $1";

const TOUCH_SQL: &str = "
    UPDATE users.sessions SET last_active_at = pg_catalog.now()
     WHERE session_id = $1 AND last_active_at < pg_catalog.now()";

fn lookup_session(token_hash: &[u8; 32]) -> Option<SessionRow> {
    Spi::connect(|client| {
        let plan_missing = LOOKUP_PLAN.with_borrow(|p| p.is_none());
        if plan_missing {
            let plan = client
                .prepare(
                    LOOKUP_SQL,
                    &[
                        PgBuiltInOids::BYTEAOID.oid(),
                        PgBuiltInOids::FLOAT8OID.oid(),
                        PgBuiltInOids::FLOAT8OID.oid(),
                        PgBuiltInOids::FLOAT8OID.oid(),
                    ],
                )
                .unwrap_or_else(|_| raise(IdentityError::Internal("preparing the session lookup")))
                .keep();
            LOOKUP_PLAN.with_borrow_mut(|p| *p = Some(plan));
        }
        LOOKUP_PLAN.with_borrow(|plan| {
            let plan = plan.as_ref().expect("prepared above");
            let args = [
                token_hash.to_vec().into(),
                f64::from(settings::SESSION_IDLE_TIMEOUT.get()).into(),
                f64::from(settings::SESSION_TOUCH_INTERVAL.get()).into(),
                f64::from(settings::IDENTITY_ASSERTION_LIFETIME.get()).into(),
            ];
            let table = client
                .select(plan, Some(1), &args)
                .unwrap_or_else(|_| raise(IdentityError::Internal("looking up the session")));
            let row = table.into_iter().next()?;
            let get_bool = |i: usize| row.get::<bool>(i).ok().flatten().unwrap_or(false);
            Some(SessionRow {
                session_id: row.get::<Uuid>(1).ok().flatten()?,
                user_id: row.get::<i32>(2).ok().flatten()?,
                revoked: get_bool(3),
                expired: get_bool(4),
                idle: get_bool(5),
                active: get_bool(6),
                is_system_admin: get_bool(7),
                touch_due: get_bool(8),
                key: row.get::<Vec<u8>>(9).ok().flatten(),
                assertion_expiry: row.get::<i64>(10).ok().flatten()?,
            })
        })
    })
}

fn touch_session(session_id: Uuid) {
    // A read-only transaction or a hot standby cannot write; last_active_at then waits for
    // the next writable authentication.
    // SAFETY: plain reads of backend globals.
    if unsafe { pg_sys::XactReadOnly || pg_sys::RecoveryInProgress() } {
        return;
    }
    Spi::connect_mut(|client| {
        if TOUCH_PLAN.with_borrow(|p| p.is_none()) {
            let plan = client
                .prepare_mut(TOUCH_SQL, &[PgBuiltInOids::UUIDOID.oid()])
                .unwrap_or_else(|_| raise(IdentityError::Internal("preparing the session touch")))
                .keep();
            TOUCH_PLAN.with_borrow_mut(|p| *p = Some(plan));
        }
        TOUCH_PLAN.with_borrow(|plan| {
            client
                .update(
                    plan.as_ref().expect("prepared above"),
                    None,
                    &[session_id.into()],
                )
                .unwrap_or_else(|_| raise(IdentityError::Internal("recording session activity")));
        });
    });
}

/// Publish the signed assertion as a transaction-local setting for other backends.
fn publish_assertion(assertion: &str) {
    let value = CString::new(assertion)
        .unwrap_or_else(|_| raise(IdentityError::Internal("encoding the assertion")));
    // SAFETY: set_config_option copies its arguments; GUC_ACTION_LOCAL ends with the transaction.
    unsafe {
        pg_sys::set_config_option(
            c"pulse.identity".as_ptr(),
            value.as_ptr(),
            pg_sys::GucContext::PGC_USERSET,
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_LOCAL,
            true,
            pg_sys::PGERROR as core::ffi::c_int,
            false,
        );
    }
}

/// Verify `token` and make its user the caller of the current transaction.
pub fn authenticate(token_text: &str) -> i32 {
    if token::check_token_format(token_text).is_err() {
        raise(IdentityError::MalformedToken);
    }
    let hash = token::token_hash(token_text);
    let Some(row) = lookup_session(&hash) else {
        raise(IdentityError::UnknownToken)
    };
    if row.revoked {
        raise(IdentityError::Revoked);
    }
    if row.expired {
        raise(IdentityError::Expired);
    }
    if !row.active {
        raise(IdentityError::UserDisabled);
    }
    if row.idle {
        raise(IdentityError::IdleTimeout);
    }
    let key = row
        .key
        .unwrap_or_else(|| raise(IdentityError::KeyUnavailable));
    let session_id = *row.session_id.as_bytes();
    let claims = Claims {
        user_id: row.user_id,
        session_id,
        expires_at_unix: row.assertion_expiry,
    };
    let signed =
        assertion::sign(&key, &claims).unwrap_or_else(|_| raise(IdentityError::KeyUnavailable));
    if row.touch_due {
        touch_session(row.session_id);
    }
    publish_assertion(&signed);
    LOCAL_CALLER.set(Some(Caller {
        user_id: row.user_id,
        session_id,
        is_system_admin: row.is_system_admin,
        // SAFETY: plain read of backend state.
        nest_level: unsafe { pg_sys::GetCurrentTransactionNestLevel() },
    }));
    row.user_id
}

#[pg_schema]
mod pulse {
    use super::*;

    /// Verify a session token and make its user the caller of the current transaction.
    #[pg_extern(volatile, parallel_unsafe, security_definer)]
    #[search_path(pg_catalog, pg_temp)]
    fn authenticate(token: Option<&str>) -> i32 {
        super::authenticate(token.unwrap_or_else(|| raise(IdentityError::MalformedToken)))
    }

    /// The authenticated user of the current transaction, or NULL.
    #[pg_extern(stable, parallel_restricted)]
    fn current_user_id() -> Option<i32> {
        current_caller().map(|c| c.user_id)
    }

    /// The session of the current transaction's caller, or NULL.
    #[pg_extern(stable, parallel_restricted)]
    fn current_session_id() -> Option<Uuid> {
        current_caller().map(|c| Uuid::from_bytes(c.session_id))
    }

    /// Whether the current caller is a system administrator (false without a caller).
    #[pg_extern(stable, parallel_restricted)]
    fn current_user_is_system_admin() -> bool {
        current_caller().is_some_and(|c| c.is_system_admin)
    }

    /// A fresh session token (256 bits from the server's strong random source).
    #[pg_extern(volatile, parallel_unsafe)]
    fn new_session_token() -> String {
        let mut bytes = [0u8; token::TOKEN_BYTES];
        // SAFETY: pg_strong_random fills exactly `len` bytes of the buffer.
        let ok = unsafe { pg_sys::pg_strong_random(bytes.as_mut_ptr().cast(), bytes.len()) };
        if !ok {
            raise(IdentityError::Internal("reading the strong random source"));
        }
        token::encode_token(&bytes)
    }

    /// Validate a PHC password hash and return its algorithm (22023 otherwise; the message
    /// never repeats the value, which may be a password).
    #[pg_extern(immutable, strict, parallel_safe)]
    fn check_password_hash(password_hash: &str) -> &'static str {
        match pulse_core::phc::validate_password_hash(password_hash) {
            Ok(algorithm) => algorithm.name(),
            Err(error) => raise(PasswordHashError(error)),
        }
    }

    /// 32 bytes from the server's strong random source (for the identity key).
    #[pg_extern(volatile, parallel_unsafe)]
    fn strong_random_key() -> Vec<u8> {
        let mut bytes = [0u8; 32];
        // SAFETY: as above.
        let ok = unsafe { pg_sys::pg_strong_random(bytes.as_mut_ptr().cast(), bytes.len()) };
        if !ok {
            raise(IdentityError::Internal("reading the strong random source"));
        }
        bytes.to_vec()
    }
}
