//! What sessions are doing right now, in shared memory: which backend last authenticated
//! which pulse session (with the client address and user agent the application reported to
//! `pulse.authenticate`: behind an application server, the database's own peer address is the
//! server's), and a ring of recent failed authentications.
//!
//! Failed attempts must outlive their transaction (an authentication error aborts it), so
//! they cannot be rows; shared memory survives the abort. It needs `pulse` in
//! `shared_preload_libraries`; without it the monitor functions raise 55000 with that hint,
//! and authentication works as before.

use std::sync::atomic::{AtomicBool, Ordering};

use pgrx::lwlock::PgLwLock;
use pgrx::prelude::*;
use pgrx::shmem::PGRXSharedMemory;
use pgrx::{pg_shmem_init, PgSqlErrorCode, Uuid};

use crate::errors::{raise, SqlError};

/// Backends tracked (by PGPROC number; larger numbers are not tracked).
const BACKENDS: usize = 1024;
/// Failed authentications remembered (the oldest is overwritten first).
const FAILURES: usize = 2048;
const ADDRESS_BYTES: usize = 46; // the longest textual IPv6 address, and a NUL
const USER_AGENT_BYTES: usize = 192;
const REASON_BYTES: usize = 40;

/// NUL-padded text of fixed size (shared memory holds no pointers).
#[derive(Clone, Copy)]
#[repr(C)]
struct FixedText<const N: usize>([u8; N]);

impl<const N: usize> FixedText<N> {
    const EMPTY: Self = Self([0; N]);

    /// `text` cut at a character boundary to fit.
    fn new(text: Option<&str>) -> Self {
        let mut out = [0u8; N];
        if let Some(text) = text {
            let mut end = text.len().min(N - 1);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            out[..end].copy_from_slice(&text.as_bytes()[..end]);
        }
        Self(out)
    }

    fn get(&self) -> Option<String> {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(N);
        (end > 0).then(|| String::from_utf8_lossy(&self.0[..end]).into_owned())
    }
}

#[derive(Clone, Copy)]
#[repr(C)]
struct Seen {
    pid: i32,
    user_id: i32,
    session_id: [u8; 16],
    at: pg_sys::TimestampTz,
    client_address: FixedText<ADDRESS_BYTES>,
    user_agent: FixedText<USER_AGENT_BYTES>,
}

#[derive(Clone, Copy)]
#[repr(C)]
struct Failure {
    at: pg_sys::TimestampTz,
    /// User ids are per database; so is the ring's view of them.
    database: pg_sys::Oid,
    /// 0 when the token named no session.
    user_id: i32,
    reason: FixedText<REASON_BYTES>,
    client_address: FixedText<ADDRESS_BYTES>,
}

#[repr(C)]
pub struct Monitor {
    seen: [Seen; BACKENDS],
    failures: [Failure; FAILURES],
    /// Failures recorded since the server started; the next goes to `total % FAILURES`.
    total_failures: u64,
}

impl Default for Monitor {
    fn default() -> Self {
        Self {
            seen: [Seen {
                pid: 0,
                user_id: 0,
                session_id: [0; 16],
                at: 0,
                client_address: FixedText::EMPTY,
                user_agent: FixedText::EMPTY,
            }; BACKENDS],
            failures: [Failure {
                at: 0,
                database: pg_sys::InvalidOid,
                user_id: 0,
                reason: FixedText::EMPTY,
                client_address: FixedText::EMPTY,
            }; FAILURES],
            total_failures: 0,
        }
    }
}

// SAFETY: plain data without pointers, fixed size, valid when zeroed.
unsafe impl PGRXSharedMemory for Monitor {}

static MONITOR: PgLwLock<Monitor> = unsafe { PgLwLock::new(c"pulse_session_monitor") };
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Called from `_PG_init`: reserve the shared memory when loaded at server start.
pub fn init() {
    // SAFETY: a backend-global flag PostgreSQL sets while it loads preload libraries.
    if unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        pg_shmem_init!(MONITOR);
        ENABLED.store(true, Ordering::Relaxed);
    }
}

fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

fn now() -> pg_sys::TimestampTz {
    // SAFETY: reads the clock.
    unsafe { pg_sys::GetCurrentTimestamp() }
}

/// Record that this backend authenticated `session_id`.
pub fn record_success(
    user_id: i32,
    session_id: [u8; 16],
    client_address: Option<&str>,
    user_agent: Option<&str>,
) {
    if !enabled() {
        return;
    }
    // SAFETY: MyProc is this backend's PGPROC.
    let (slot, pid) = unsafe { ((*pg_sys::MyProc).pgprocno as usize, pg_sys::MyProcPid) };
    if slot >= BACKENDS {
        return;
    }
    MONITOR.exclusive().seen[slot] = Seen {
        pid,
        user_id,
        session_id,
        at: now(),
        client_address: FixedText::new(client_address),
        user_agent: FixedText::new(user_agent),
    };
}

/// Record a failed authentication (kept after the transaction aborts).
pub fn record_failure(reason: &str, user_id: Option<i32>, client_address: Option<&str>) {
    if !enabled() {
        return;
    }
    let mut monitor = MONITOR.exclusive();
    let next = (monitor.total_failures % FAILURES as u64) as usize;
    monitor.failures[next] = Failure {
        at: now(),
        // SAFETY: plain read of backend state.
        database: unsafe { pg_sys::MyDatabaseId },
        user_id: user_id.unwrap_or(0),
        reason: FixedText::new(Some(reason)),
        client_address: FixedText::new(client_address),
    };
    monitor.total_failures += 1;
}

#[derive(Debug, thiserror::Error)]
#[error("the session monitor needs pulse in shared_preload_libraries")]
pub struct NotPreloaded;

impl SqlError for NotPreloaded {
    fn sqlstate(&self) -> PgSqlErrorCode {
        PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE
    }

    fn hint(&self) -> Option<String> {
        Some(
            "Add pulse to shared_preload_libraries in postgresql.conf and restart the server."
                .into(),
        )
    }
}

fn timestamp(ts: pg_sys::TimestampTz) -> Option<TimestampWithTimeZone> {
    TimestampWithTimeZone::try_from(ts).ok()
}

#[pg_schema]
mod users {
    use super::*;

    /// The pulse session each backend last authenticated (pid, session, user, when, and the
    /// client address and user agent the application reported).
    #[allow(clippy::type_complexity)] // the SQL signature, spelled out for #[pg_extern]
    #[pg_extern(volatile, parallel_restricted)]
    fn session_backends() -> TableIterator<
        'static,
        (
            name!(pid, i32),
            name!(session_id, Uuid),
            name!(user_id, i32),
            name!(authenticated_at, Option<TimestampWithTimeZone>),
            name!(client_address, Option<String>),
            name!(user_agent, Option<String>),
        ),
    > {
        if !enabled() {
            raise(NotPreloaded);
        }
        let rows: Vec<_> = MONITOR
            .share()
            .seen
            .iter()
            .filter(|s| s.pid != 0)
            .map(|s| {
                (
                    s.pid,
                    Uuid::from_bytes(s.session_id),
                    s.user_id,
                    timestamp(s.at),
                    s.client_address.get(),
                    s.user_agent.get(),
                )
            })
            .collect();
        TableIterator::new(rows)
    }

    /// Recent failed authentications in this database, newest first (of the server's last 2048).
    #[allow(clippy::type_complexity)]
    #[pg_extern(volatile, parallel_restricted)]
    fn failed_authentications() -> TableIterator<
        'static,
        (
            name!(failed_at, Option<TimestampWithTimeZone>),
            name!(user_id, Option<i32>),
            name!(client_address, Option<String>),
            name!(reason, String),
        ),
    > {
        if !enabled() {
            raise(NotPreloaded);
        }
        // SAFETY: plain read of backend state.
        let database = unsafe { pg_sys::MyDatabaseId };
        let monitor = MONITOR.share();
        let kept = monitor.total_failures.min(FAILURES as u64) as usize;
        let rows: Vec<_> = (0..kept)
            .map(|back| {
                let index = ((monitor.total_failures - 1 - back as u64) % FAILURES as u64) as usize;
                &monitor.failures[index]
            })
            .filter(|f| f.database == database)
            .map(|f| {
                (
                    timestamp(f.at),
                    (f.user_id != 0).then_some(f.user_id),
                    f.client_address.get(),
                    f.reason.get().unwrap_or_default(),
                )
            })
            .collect();
        TableIterator::new(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::FixedText;

    #[test]
    fn fixed_text_cuts_at_a_character_boundary() {
        let text = FixedText::<6>::new(Some("abcdé"));
        assert_eq!(text.get().as_deref(), Some("abcd"));
        assert_eq!(FixedText::<6>::new(None).get(), None);
        assert_eq!(FixedText::<6>::new(Some("ab")).get().as_deref(), Some("ab"));
    }
}
