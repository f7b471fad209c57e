//! pulse's configuration parameters (GUCs).
//!
//! Session lifetimes are `PGC_SUSET`: an application role must not be able to stretch its
//! own sessions. `pulse.identity` is `PGC_USERSET` on purpose: Citus forwards `SET LOCAL`
//! statements to worker backends as the connected (non-superuser) role, and the value is
//! only ever trusted after its HMAC verifies (see `identity.rs`).

use std::ffi::CString;

use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};

/// Default and maximum lifetime of a session, in seconds.
pub static SESSION_LIFETIME: GucSetting<i32> = GucSetting::<i32>::new(12 * 3600);
/// Idle timeout of a session, in seconds; 0 disables it.
pub static SESSION_IDLE_TIMEOUT: GucSetting<i32> = GucSetting::<i32>::new(30 * 60);
/// `last_active_at` is written at most once per this many seconds.
pub static SESSION_TOUCH_INTERVAL: GucSetting<i32> = GucSetting::<i32>::new(60);
/// Lifetime of the signed identity assertion, in seconds.
pub static IDENTITY_ASSERTION_LIFETIME: GucSetting<i32> = GucSetting::<i32>::new(600);
/// Whether every change to audited data needs `pulse.set_change_reason()` first.
pub static REQUIRE_CHANGE_REASON: GucSetting<bool> = GucSetting::<bool>::new(false);
/// What registering content already present in the project and storage does.
pub static DUPLICATE_DOCUMENTS: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"refuse"));

/// Whether pulse reads its hot-path tables and appends history through the local relations
/// (see `through_sql`); a table Citus manages is reached through SQL either way.
pub static DIRECT_ACCESS: GucSetting<bool> = GucSetting::<bool>::new(true);

/// The signed identity assertion of the current transaction (set by `pulse.authenticate`).
pub static IDENTITY: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);

pub fn register() {
    GucRegistry::define_int_guc(
        c"pulse.session_lifetime",
        c"Default and maximum lifetime of a pulse session.",
        c"users.open_session() uses it when no TTL is given and refuses a longer TTL.",
        &SESSION_LIFETIME,
        1,
        7 * 24 * 3600 * 52,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"pulse.session_idle_timeout",
        c"A session unused for this long is refused by pulse.authenticate(); 0 disables.",
        c"Measured from users.sessions.last_active_at, which is written at most once per pulse.session_touch_interval.",
        &SESSION_IDLE_TIMEOUT,
        0,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"pulse.session_touch_interval",
        c"Minimum time between two writes of users.sessions.last_active_at for one session.",
        c"Keeps a busy session from turning every authenticated read into a write.",
        &SESSION_TOUCH_INTERVAL,
        0,
        24 * 3600,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"pulse.identity_assertion_lifetime",
        c"Lifetime of the signed identity assertion that pulse.authenticate() sets for other backends.",
        c"A replayed assertion is refused after this time even if its session is still valid.",
        &IDENTITY_ASSERTION_LIFETIME,
        1,
        24 * 3600,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_bool_guc(
        c"pulse.require_change_reason",
        c"Refuse changes to audited data unless the transaction gave a reason.",
        c"The reason is given with pulse.set_change_reason(text) and recorded in every history row of the transaction.",
        &REQUIRE_CHANGE_REASON,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"pulse.duplicate_documents",
        c"What registering content that already exists in the same project and storage does: refuse, link or allow.",
        c"Read by documents.register_document() when its on_duplicate argument is NULL.",
        &DUPLICATE_DOCUMENTS,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"pulse.direct_access",
        c"Read pulse's tables through their indexes and append history without SQL.",
        c"Off, pulse reads and appends through SQL, as it does by itself for the tables Citus distributes; slower, for diagnosis and for testing that path.",
        &DIRECT_ACCESS,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"pulse.identity",
        c"Signed identity assertion of the current transaction (set by pulse.authenticate()).",
        c"Trusted only when its HMAC verifies under the installation's identity key; writing it by hand yields no identity.",
        &IDENTITY,
        GucContext::Userset,
        GucFlags::NO_SHOW_ALL | GucFlags::NO_RESET_ALL,
    );
}
