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
use std::ops::ControlFlow;

use pgrx::prelude::*;
use pgrx::{PgSqlErrorCode, Uuid};
use pulse_core::assertion::{self, Claims};
use pulse_core::token;

use crate::direct_read::{self, Row, Table};
use crate::errors::{raise, SqlError};
use crate::kept_plans::{with_kept_plan, KeptPlan};
use crate::session_monitor;
use crate::settings;
use crate::spi_read;

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
    /// The extension's owner, read once per backend (see `as_extension_owner`).
    static EXTENSION_OWNER: Cell<Option<pg_sys::Oid>> = const { Cell::new(None) };
    /// The identity key, read once per backend (see `identity_key`).
    static IDENTITY_KEY: RefCell<Option<Vec<u8>>> = const { RefCell::new(None) };
    /// The prepared, kept plan (SPI_keepplan) that records session activity.
    static TOUCH_PLAN: KeptPlan = const { RefCell::new(None) };
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

/// Register the callback that forgets the cached identity key; called once from `_PG_init`.
pub fn register_callbacks() {
    // SAFETY: registering a static function with PostgreSQL's callback list, once per backend.
    // Any relcache invalidation drops the cached key: rare, and refilled at once.
    unsafe {
        pg_sys::CacheRegisterRelcacheCallback(Some(forget_identity_key), pg_sys::Datum::from(0))
    };
}

/// The transaction ended (`crate::transaction`): it has no caller any more.
pub fn forget_transaction_state() {
    LOCAL_CALLER.set(None);
    VERIFIED_ASSERTION.with_borrow_mut(|v| *v = None);
}

/// The subtransaction at nesting `level` aborted: a caller it established is gone.
pub fn forget_subtransaction_state(level: i32) {
    if LOCAL_CALLER.get().is_some_and(|c| c.nest_level >= level) {
        LOCAL_CALLER.set(None);
    }
    VERIFIED_ASSERTION.with_borrow_mut(|v| *v = None);
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
    let key = identity_key()?;
    let claims = assertion::verify(&key, text, now_unix_seconds(now())).ok()?;
    // The session must still be valid: a replayed assertion dies with its session.
    let session = read_session_by_id(Uuid::from_bytes(claims.session_id))?;
    let user = read_user(session.user_id)?;
    let valid = session.user_id == claims.user_id
        && session.revoked_at.is_none()
        && session.expires_at > now()
        && user.usable;
    valid.then_some(Caller {
        user_id: claims.user_id,
        session_id: claims.session_id,
        is_system_admin: user.is_system_admin,
        nest_level: 0,
    })
}

/// `now()`: the start of the current transaction, in PostgreSQL's microseconds since 2000.
fn now() -> pg_sys::TimestampTz {
    // SAFETY: plain read of transaction state.
    unsafe { pg_sys::GetCurrentTransactionStartTimestamp() }
}

/// PostgreSQL timestamps count microseconds from 2000-01-01; Unix time starts 946684800 s earlier.
fn now_unix_seconds(ts: pg_sys::TimestampTz) -> i64 {
    ts.div_euclid(1_000_000) + 946_684_800
}

/// The installation's identity key, if present. Cached per backend: any change to
/// pulse.identity_key fires `pulse.forget_cached_copies()`, which invalidates the table's
/// relcache entry in every backend (`forget_identity_key`), so a rotation takes effect at
/// its commit.
fn identity_key() -> Option<Vec<u8>> {
    if let Some(key) = IDENTITY_KEY.with_borrow(Clone::clone) {
        return Some(key);
    }
    let table = Table::open(c"pulse", c"identity_key");
    let key = table.column(c"key");
    let mut found = None;
    table.scan_all(c"identity_key_pkey", |row| {
        found = row.get::<Vec<u8>>(key);
        ControlFlow::Break(())
    });
    IDENTITY_KEY.with_borrow_mut(|cached| cached.clone_from(&found));
    found
}

#[pg_guard]
unsafe extern "C-unwind" fn forget_identity_key(_arg: pg_sys::Datum, _relid: pg_sys::Oid) {
    IDENTITY_KEY.with_borrow_mut(|key| *key = None);
    // Ownership moves (REASSIGN OWNED) invalidate the relations too.
    EXTENSION_OWNER.set(None);
}

/// What authentication needs of a session row.
struct SessionRow {
    session_id: Uuid,
    user_id: i32,
    expires_at: pg_sys::TimestampTz,
    revoked_at: Option<pg_sys::TimestampTz>,
    last_active_at: pg_sys::TimestampTz,
}

struct SessionColumns {
    session_id: i16,
    user_id: i16,
    expires_at: i16,
    revoked_at: i16,
    last_active_at: i16,
}

impl SessionColumns {
    fn of(table: &Table) -> Self {
        Self {
            session_id: table.column(c"session_id"),
            user_id: table.column(c"user_id"),
            expires_at: table.column(c"expires_at"),
            revoked_at: table.column(c"revoked_at"),
            last_active_at: table.column(c"last_active_at"),
        }
    }

    fn read(&self, row: &Row) -> Option<SessionRow> {
        Some(SessionRow {
            session_id: row.get(self.session_id)?,
            user_id: row.get(self.user_id)?,
            expires_at: row.get(self.expires_at)?,
            revoked_at: row.get(self.revoked_at),
            last_active_at: row.get(self.last_active_at)?,
        })
    }
}

fn read_session_by_token_hash(token_hash: &[u8; 32]) -> Option<SessionRow> {
    let table = Table::open(c"users", c"sessions");
    let columns = SessionColumns::of(&table);
    let column = table.column(c"token_hash");
    table
        .find(
            c"sessions_token_hash_key",
            column,
            pg_sys::F_BYTEAEQ,
            token_hash.to_vec(),
            |row| columns.read(row),
        )
        .flatten()
}

fn read_session_by_id(session_id: Uuid) -> Option<SessionRow> {
    let table = Table::open(c"users", c"sessions");
    let columns = SessionColumns::of(&table);
    table
        .find(
            c"sessions_pkey",
            columns.session_id,
            pg_sys::F_UUID_EQ,
            session_id,
            |row| columns.read(row),
        )
        .flatten()
}

/// What authentication needs of a user row.
struct UserRow {
    /// Active and not deleted.
    usable: bool,
    is_system_admin: bool,
}

fn read_user(user_id: i32) -> Option<UserRow> {
    let table = Table::open(c"users", c"users");
    let (id, active, deleted, admin) = (
        table.column(c"user_id"),
        table.column(c"is_active"),
        table.column(c"deleted_at"),
        table.column(c"is_system_admin"),
    );
    table.find(c"users_pkey", id, pg_sys::F_INT4EQ, user_id, |row| {
        UserRow {
            usable: row.get::<bool>(active) == Some(true) && row.get::<i64>(deleted).is_none(),
            is_system_admin: row.get::<bool>(admin) == Some(true),
        }
    })
}

/// Run `f` with the extension owner's privileges and `search_path = pg_catalog, pg_temp`,
/// which is what a SECURITY DEFINER function with a pinned search_path gets; restores both
/// afterwards, also on error. Used by the statements pulse runs on the caller's behalf
/// from functions that are not themselves SECURITY DEFINER (the session touch, history
/// capture): they must not run with the caller's rights, nor resolve a name through a
/// search_path the caller chose.
pub(crate) fn as_extension_owner<T>(f: impl FnOnce() -> T + std::panic::UnwindSafe) -> T {
    // SAFETY: the same GUC nesting fmgr_security_definer uses for a function's SET clause;
    // AtEOXact_GUC below (or transaction abort) pops it.
    let guc_level = unsafe { pg_sys::NewGUCNestLevel() };
    set_setting(
        c"search_path",
        c"pg_catalog, pg_temp",
        pg_sys::GucAction::GUC_ACTION_SAVE,
    );
    let mut saved_user = pg_sys::InvalidOid;
    let mut saved_context = 0;
    // SAFETY: reading the backend's current user id, as fmgr_security_definer does.
    unsafe { pg_sys::GetUserIdAndSecContext(&mut saved_user, &mut saved_context) };
    PgTryBuilder::new(|| {
        let owner = EXTENSION_OWNER.get().unwrap_or_else(|| {
            let owner = spi_read::select_one::<pg_sys::Oid>(
                "SELECT extowner FROM pg_catalog.pg_extension WHERE extname = 'pulse'",
                &[],
            )
            .unwrap_or_else(|| raise(IdentityError::Internal("looking up the extension owner")));
            EXTENSION_OWNER.set(Some(owner));
            owner
        });
        // SAFETY: as above; restored in `finally`.
        unsafe {
            pg_sys::SetUserIdAndSecContext(
                owner,
                saved_context
                    | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32
                    | pg_sys::SECURITY_RESTRICTED_OPERATION as i32,
            )
        };
        f()
    })
    .finally(|| unsafe {
        pg_sys::SetUserIdAndSecContext(saved_user, saved_context);
        pg_sys::AtEOXact_GUC(true, guc_level);
    })
    .execute()
}

const TOUCH_SQL: &str = "
    UPDATE users.sessions SET last_active_at = pg_catalog.now()
     WHERE session_id = $1 AND last_active_at < pg_catalog.now()";

fn touch_session(session_id: Uuid) {
    // A read-only transaction or a hot standby cannot write; last_active_at then waits for
    // the next writable authentication.
    // SAFETY: plain reads of backend globals.
    if unsafe { pg_sys::XactReadOnly || pg_sys::RecoveryInProgress() } {
        return;
    }
    as_extension_owner(|| {
        with_kept_plan(
            &TOUCH_PLAN,
            TOUCH_SQL,
            &[PgBuiltInOids::UUIDOID.oid()],
            "the session touch",
            |client, plan| {
                client
                    .update(plan, None, &[session_id.into()])
                    .unwrap_or_else(|_| {
                        raise(IdentityError::Internal("recording session activity"))
                    });
            },
        )
    });
}

/// Publish the signed assertion as the transaction-local setting `pulse.identity`.
///
/// Citus forwards to its worker backends only settings made by executing a `SET LOCAL`
/// statement (with `citus.propagate_set_commands = 'local'`), not those made through
/// `set_config`; so when Citus is loaded the assertion is set by a statement run through
/// SPI. Otherwise the direct call is used, which is cheaper. The assertion holds only
/// `[A-Za-z0-9._-]`, so quoting it is exact.
fn publish_assertion(assertion: &str) {
    if citus_loaded() {
        if !assertion
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            raise(IdentityError::Internal("encoding the assertion"));
        }
        let statement = CString::new(format!("SET LOCAL pulse.identity = '{assertion}'"))
            .unwrap_or_else(|_| raise(IdentityError::Internal("encoding the assertion")));
        if !spi_read::run_utility(&statement) {
            raise(IdentityError::Internal("publishing the assertion"));
        }
        return;
    }
    let value = CString::new(assertion)
        .unwrap_or_else(|_| raise(IdentityError::Internal("encoding the assertion")));
    set_setting(
        c"pulse.identity",
        &value,
        pg_sys::GucAction::GUC_ACTION_LOCAL,
    );
}

/// Set a user-level setting as SET does: GUC_ACTION_LOCAL lasts until the transaction ends,
/// GUC_ACTION_SAVE until the enclosing GUC nest level is popped.
fn set_setting(name: &CStr, value: &CStr, action: pg_sys::GucAction::Type) {
    // SAFETY: set_config_option copies its arguments and raises on a bad value.
    unsafe {
        pg_sys::set_config_option(
            name.as_ptr(),
            value.as_ptr(),
            pg_sys::GucContext::PGC_USERSET,
            pg_sys::GucSource::PGC_S_SESSION,
            action,
            true,
            pg_sys::PGERROR as core::ffi::c_int,
            false,
        );
    }
}

/// Whether Citus is loaded in this backend, known by the setting it defines.
fn citus_loaded() -> bool {
    // SAFETY: a lookup by name; missing_ok returns NULL instead of raising.
    unsafe {
        !pg_sys::GetConfigOption(c"citus.propagate_set_commands".as_ptr(), true, false).is_null()
    }
}

/// Verify `token` and make its user the caller of the current transaction. The client's
/// address and user agent, when the application passes them, go to the session monitor.
pub fn authenticate(
    token_text: &str,
    client_address: Option<&str>,
    user_agent: Option<&str>,
) -> i32 {
    // A refusal is counted by the session monitor first: the error aborts the transaction.
    let refuse = |error: IdentityError, user_id: Option<i32>| -> ! {
        session_monitor::record_failure(&error.to_string(), user_id, client_address);
        raise(error)
    };
    if token::check_token_format(token_text).is_err() {
        refuse(IdentityError::MalformedToken, None);
    }
    let hash = token::token_hash(token_text);
    let Some((session, user)) = direct_read::with_fresh_snapshot(|| {
        let session = read_session_by_token_hash(&hash)?;
        let user = read_user(session.user_id)
            .unwrap_or_else(|| raise(IdentityError::Internal("reading the session's user")));
        Some((session, user))
    }) else {
        refuse(IdentityError::UnknownToken, None)
    };
    let now = now();
    let seconds = |s: i32| i64::from(s) * 1_000_000;
    let user_id = Some(session.user_id);
    // A disabled user's sessions are revoked too; say the more useful thing first.
    if !user.usable {
        refuse(IdentityError::UserDisabled, user_id);
    }
    if session.revoked_at.is_some() {
        refuse(IdentityError::Revoked, user_id);
    }
    if session.expires_at <= now {
        refuse(IdentityError::Expired, user_id);
    }
    let idle_timeout = settings::SESSION_IDLE_TIMEOUT.get();
    if idle_timeout > 0 && session.last_active_at + seconds(idle_timeout) <= now {
        refuse(IdentityError::IdleTimeout, user_id);
    }
    let key = identity_key().unwrap_or_else(|| raise(IdentityError::KeyUnavailable));
    let session_id = *session.session_id.as_bytes();
    let assertion_expiry = session
        .expires_at
        .min(now + seconds(settings::IDENTITY_ASSERTION_LIFETIME.get()));
    let claims = Claims {
        user_id: session.user_id,
        session_id,
        expires_at_unix: now_unix_seconds(assertion_expiry),
    };
    let signed =
        assertion::sign(&key, &claims).unwrap_or_else(|_| raise(IdentityError::KeyUnavailable));
    if session.last_active_at + seconds(settings::SESSION_TOUCH_INTERVAL.get()) <= now {
        touch_session(session.session_id);
    }
    publish_assertion(&signed);
    session_monitor::record_success(session.user_id, session_id, client_address, user_agent);
    LOCAL_CALLER.set(Some(Caller {
        user_id: session.user_id,
        session_id,
        is_system_admin: user.is_system_admin,
        // SAFETY: plain read of backend state.
        nest_level: unsafe { pg_sys::GetCurrentTransactionNestLevel() },
    }));
    session.user_id
}

#[pg_schema]
mod pulse {
    use super::*;

    /// Verify a session token and make its user the caller of the current transaction.
    /// Not SECURITY DEFINER: it reads the session through `direct_read` (no SQL, no
    /// search_path) and records activity with the owner's rights (`as_extension_owner`).
    #[pg_extern(volatile, parallel_unsafe)]
    fn authenticate(
        token: Option<&str>,
        client_address: default!(Option<&str>, "NULL"),
        user_agent: default!(Option<&str>, "NULL"),
    ) -> i32 {
        super::authenticate(
            token.unwrap_or_else(|| raise(IdentityError::MalformedToken)),
            client_address,
            user_agent,
        )
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

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use super::*;

    /// A user with a fresh session, made through the maintenance path; returns the token.
    fn new_session(email: &str) -> String {
        Spi::get_one::<String>(&format!(
            "SELECT token FROM users.open_session(users.create_user('{email}', 'Test'))"
        ))
        .unwrap()
        .unwrap()
    }

    #[pg_test]
    fn authenticate_sets_the_local_caller_and_publishes_a_verifiable_assertion() {
        let token = new_session("a@example.com");
        let user_id = authenticate(&token, None, None);
        assert_eq!(current_caller().map(|c| c.user_id), Some(user_id));
        // What another backend would see: no local caller, only the setting.
        let local = LOCAL_CALLER.take();
        // As a later statement would: with a snapshot that sees the new session.
        let foreign = direct_read::with_fresh_snapshot(current_caller)
            .expect("the published assertion verifies");
        assert_eq!(foreign.user_id, user_id);
        assert_eq!(Some(foreign.session_id), local.map(|c| c.session_id));
        LOCAL_CALLER.set(local);
    }

    #[pg_test]
    fn an_assertion_with_a_changed_byte_is_nobody() {
        let token = new_session("b@example.com");
        authenticate(&token, None, None);
        let genuine = settings::IDENTITY.get().unwrap().into_string().unwrap();
        LOCAL_CALLER.set(None);
        let mut forged = genuine.clone().into_bytes();
        let last = forged.len() - 1;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        Spi::run(&format!("SET LOCAL pulse.identity = '{forged}'")).unwrap();
        assert_eq!(direct_read::with_fresh_snapshot(current_caller), None);
        // The genuine one verifies under the same conditions.
        Spi::run(&format!("SET LOCAL pulse.identity = '{genuine}'")).unwrap();
        assert!(direct_read::with_fresh_snapshot(current_caller).is_some());
    }

    #[pg_test]
    fn a_caller_established_in_an_aborted_subtransaction_is_forgotten() {
        let token = new_session("c@example.com");
        // SAFETY: a subtransaction begun and rolled back around one call, as PL/pgSQL's
        // exception blocks do.
        unsafe {
            let context = pg_sys::CurrentMemoryContext;
            let owner = pg_sys::CurrentResourceOwner;
            pg_sys::BeginInternalSubTransaction(std::ptr::null());
            authenticate(&token, None, None);
            assert!(LOCAL_CALLER.get().is_some());
            pg_sys::RollbackAndReleaseCurrentSubTransaction();
            pg_sys::MemoryContextSwitchTo(context);
            pg_sys::CurrentResourceOwner = owner;
        }
        assert_eq!(LOCAL_CALLER.get(), None);
    }

    #[pg_test]
    fn a_caller_established_before_a_subtransaction_survives_its_abort() {
        let token = new_session("d@example.com");
        let user_id = authenticate(&token, None, None);
        // SAFETY: as above.
        unsafe {
            let context = pg_sys::CurrentMemoryContext;
            let owner = pg_sys::CurrentResourceOwner;
            pg_sys::BeginInternalSubTransaction(std::ptr::null());
            pg_sys::RollbackAndReleaseCurrentSubTransaction();
            pg_sys::MemoryContextSwitchTo(context);
            pg_sys::CurrentResourceOwner = owner;
        }
        assert_eq!(LOCAL_CALLER.get().map(|c| c.user_id), Some(user_id));
    }

    #[pg_test(error = "unknown session token")]
    fn an_unknown_well_formed_token_is_refused() {
        authenticate(&format!("pulse_{}", "A".repeat(43)), None, None);
    }

    #[pg_test(error = "invalid session token")]
    fn a_malformed_token_is_refused() {
        authenticate("pulse_short", None, None);
    }

    #[pg_test]
    fn unix_time_conversion_matches_postgres() {
        let from_sql = Spi::get_one::<i64>("SELECT extract(epoch FROM now())::bigint").unwrap();
        let ours = now_unix_seconds(now());
        assert!(from_sql.is_some_and(|s| (s - ours).abs() <= 1));
    }
}
