//! `pulse.parse_discovery_filter`, which every discovery function (sql/discovery.sql) calls
//! first: the caller's filter, page size and cursor checked, reference codes turned into ids,
//! and the caller's standing (who, which projects) read once, as one `pulse.discovery_filter`
//! value. The rules are `pulse_core::discovery_filter`; this module answers its questions
//! from the database and builds the value. `pulse.discovery_cursor` makes the cursor a page
//! carries, which the filter decodes.
//!
//! Both are C-language functions declared in sql/discovery.sql rather than `#[pg_extern]`s.
//! The filter's argument is a jsonb taken as the text `jsonb_out` prints (pgrx's `JsonB`
//! would parse it into serde_json numbers, losing digits of a `properties` value and failing
//! on numbers beyond a double), and its result is the composite type that SQL file declares;
//! the cursor's declaration stays beside the filter's, which decodes it.

use std::ffi::{CStr, CString};
use std::ops::ControlFlow;

use pgrx::fcinfo::{direct_function_call, direct_function_call_as_datum, pg_getarg};
use pgrx::pg_sys::panic::CaughtError;
use pgrx::prelude::*;
use pgrx::{IntoDatum, PgSqlErrorCode};
use pulse_core::discovery_filter::{
    check, encode_cursor, CodeKey, Filter, FilterError, Kind, Resolve,
};

use crate::access::{
    caller_project_ids, holds_on_every_project, reference_rows_visible, Permission,
};
use crate::c_function::function_info_v1;
use crate::direct_read::Table;
use crate::errors::{raise, SqlError};
use crate::identity::current_caller;
use crate::reference_tables::{reference_of_key, Reference};

impl SqlError for FilterError {
    fn sqlstate(&self) -> PgSqlErrorCode {
        if self.is_malformed() {
            PgSqlErrorCode::ERRCODE_INVALID_TEXT_REPRESENTATION
        } else {
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE
        }
    }

    fn hint(&self) -> Option<String> {
        FilterError::hint(self)
    }
}

#[derive(Debug, thiserror::Error)]
enum DiscoveryError {
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl SqlError for DiscoveryError {
    fn sqlstate(&self) -> PgSqlErrorCode {
        PgSqlErrorCode::ERRCODE_INTERNAL_ERROR
    }
}

/// The `simple` text search configuration (a pinned catalog object: its OID is fixed), which
/// the words indexes and queries of sql/discovery.sql use.
const SIMPLE_CONFIG: pg_sys::Oid = pg_sys::Oid::from_u32(3748);

/// Where the codes of `key` are: its reference table, and the column holding the codes (a
/// MIME category is a column of the filetypes).
fn code_table(key: CodeKey) -> (&'static Reference, &'static CStr) {
    let (reference, column) = match key {
        CodeKey::Features => ("feature", c"code"),
        CodeKey::TechStack => ("tech_stack", c"code"),
        CodeKey::Tags => ("tag", c"code"),
        CodeKey::Phase => ("phase", c"code"),
        CodeKey::Priority => ("priority", c"code"),
        CodeKey::License => ("license", c"code"),
        CodeKey::Role => ("role", c"code"),
        CodeKey::Filetype => ("filetype", c"code"),
        CodeKey::MimeCategory => ("filetype", c"category"),
        CodeKey::Storage => ("storage", c"code"),
    };
    let reference = reference_of_key(reference)
        .unwrap_or_else(|| raise(DiscoveryError::Internal("an unknown reference table")));
    (reference, column)
}

/// The database's side of a check.
struct Database;

impl Resolve for Database {
    type Words = pg_sys::Datum;

    /// Read from the reference table without SQL (a few rows; through SPI each key cost tens
    /// of microseconds), as the caller may see it: an unauthenticated caller sees no code.
    fn codes(&mut self, key: CodeKey, codes: &[String]) -> (Vec<i32>, Vec<String>) {
        let (reference, code) = code_table(key);
        let table = Table::open(c"pulse", reference.table);
        let (mut ids, mut found) = (Vec::new(), Vec::new());
        if !reference_rows_visible(&table) {
            return (ids, found);
        }
        let (id, code) = (table.column(reference.column), table.column(code));
        table.scan_all(reference.pkey, |row| {
            // SPDX identifiers are unique case-insensitively; the codes asked for arrive
            // lower-cased.
            let value = row.get::<String>(code).map(|c| match key {
                CodeKey::License => c.to_lowercase(),
                _ => c,
            });
            if let Some(value) = value.filter(|v| codes.contains(v)) {
                ids.extend(row.get::<i32>(id));
                found.push(value);
            }
            ControlFlow::Continue(())
        });
        ids.sort_unstable();
        (ids, found)
    }

    fn time(&mut self, text: &str) -> Option<i64> {
        let text = CString::new(text).ok()?;
        catching_data_exceptions(|| {
            // SAFETY: timestamptz_in with its three arguments (text, unused type oid, typmod -1).
            unsafe {
                direct_function_call::<i64>(
                    pg_sys::timestamptz_in,
                    &[
                        text.as_c_str().into_datum(),
                        pg_sys::InvalidOid.into_datum(),
                        (-1i32).into_datum(),
                    ],
                )
            }
        })
        .flatten()
    }

    fn words(&mut self, text: &str) -> Option<pg_sys::Datum> {
        // SAFETY: websearch_to_tsquery(regconfig, text) and numnode(tsquery), as SQL calls them.
        unsafe {
            let query = direct_function_call_as_datum(
                pg_sys::websearch_to_tsquery_byid,
                &[SIMPLE_CONFIG.into_datum(), text.into_datum()],
            )?;
            let nodes = direct_function_call::<i32>(pg_sys::tsquery_numnode, &[Some(query)])?;
            (nodes > 0).then_some(query)
        }
    }
}

/// Runs `f` in a subtransaction (as a PL/pgSQL exception block does) and turns an error of the
/// data exception class (22, such as an invalid timestamp) into None; other errors go on.
fn catching_data_exceptions<T>(f: impl FnOnce() -> T + std::panic::UnwindSafe) -> Option<T> {
    // SAFETY: the subtransaction protocol of PL/pgSQL's exception blocks: begin, then release
    // on success or roll back on error, restoring the memory context and resource owner.
    unsafe {
        let context = pg_sys::CurrentMemoryContext;
        let owner = pg_sys::CurrentResourceOwner;
        pg_sys::BeginInternalSubTransaction(std::ptr::null());
        pg_sys::MemoryContextSwitchTo(context);
        PgTryBuilder::new(move || {
            let value = f();
            pg_sys::ReleaseCurrentSubTransaction();
            pg_sys::MemoryContextSwitchTo(context);
            pg_sys::CurrentResourceOwner = owner;
            Some(value)
        })
        .catch_others(move |error| {
            pg_sys::MemoryContextSwitchTo(context);
            pg_sys::RollbackAndReleaseCurrentSubTransaction();
            pg_sys::MemoryContextSwitchTo(context);
            pg_sys::CurrentResourceOwner = owner;
            match &error {
                CaughtError::PostgresError(report)
                    if is_data_exception(report.sql_error_code()) =>
                {
                    None
                }
                _ => error.rethrow(),
            }
        })
        .execute()
    }
}

/// Whether `code` is in class 22 (data exception): its first two characters, the low 12 bits.
fn is_data_exception(code: PgSqlErrorCode) -> bool {
    const CLASS: u32 = (1 << 12) - 1;
    (code as u32) & CLASS == (PgSqlErrorCode::ERRCODE_DATA_EXCEPTION as u32) & CLASS
}

/// `left(md5(kind || filter::text), 16)`: identifies a search and its filter in a cursor.
fn fingerprint(kind: &str, filter_text: &str) -> String {
    // SAFETY: md5(text) returns text.
    let digest = unsafe {
        direct_function_call::<String>(
            pg_sys::md5_text,
            &[format!("{kind}{filter_text}").into_datum()],
        )
    };
    let digest = digest.unwrap_or_else(|| raise(DiscoveryError::Internal("hashing a filter")));
    digest[..16].to_string()
}

/// The fields of `pulse.discovery_filter` by name, from a checked filter and the caller.
fn field(
    name: &str,
    want: &Filter<pg_sys::Datum>,
    fingerprint: &str,
    blanket: bool,
) -> Option<pg_sys::Datum> {
    let ids32 = |ids: &Option<Vec<i32>>| ids.clone().and_then(IntoDatum::into_datum);
    let time = |t: Option<i64>| t.map(pg_sys::Datum::from);
    match name {
        "kind" => want.kind.name().into_datum(),
        "fingerprint" => fingerprint.into_datum(),
        "caller" => current_caller().map(|c| c.user_id).into_datum(),
        "blanket" => blanket.into_datum(),
        "readable" => (!blanket)
            .then(|| caller_project_ids(Permission::Read))
            .into_datum(),
        "page_size" => want.page_size.into_datum(),
        "after_score" => want.after.map(|(score, _)| score).into_datum(),
        "after_id" => want.after.map(|(_, id)| id).into_datum(),
        "deleted" => want.deleted.into_datum(),
        "words" => want.words,
        "project_ids" => want.project_ids.clone().into_datum(),
        "owner_ids" => ids32(&want.owner_ids),
        "uploader_ids" => ids32(&want.uploader_ids),
        "feature_ids" => ids32(&want.feature_ids),
        "tech_stack_ids" => ids32(&want.tech_stack_ids),
        "tag_ids" => ids32(&want.tag_ids),
        "phase_ids" => ids32(&want.phase_ids),
        "priority_ids" => ids32(&want.priority_ids),
        "license_ids" => ids32(&want.license_ids),
        "role_ids" => ids32(&want.role_ids),
        "filetype_ids" => ids32(&want.filetype_ids),
        "storage_ids" => ids32(&want.storage_ids),
        "properties" => want.properties.as_ref().and_then(|text| {
            let text = CString::new(text.as_str()).ok()?;
            // SAFETY: jsonb_in(cstring) on the text jsonb_out printed.
            unsafe {
                direct_function_call_as_datum(pg_sys::jsonb_in, &[text.as_c_str().into_datum()])
            }
        }),
        "created_from" => time(want.created_from),
        "created_to" => time(want.created_to),
        "updated_from" => time(want.updated_from),
        "updated_to" => time(want.updated_to),
        "size_min" => want.size_min.into_datum(),
        "size_max" => want.size_max.into_datum(),
        _ => raise(DiscoveryError::Internal(
            "an unknown field of pulse.discovery_filter",
        )),
    }
}

function_info_v1!(pg_finfo_parse_discovery_filter);

/// `pulse.parse_discovery_filter(kind text, filter jsonb, page_size integer, after text)
/// RETURNS pulse.discovery_filter`, declared in sql/discovery.sql.
#[unsafe(no_mangle)]
#[doc(hidden)]
#[pg_guard]
pub unsafe extern "C-unwind" fn parse_discovery_filter(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    // SAFETY: the arguments of the declaration above, read as pgrx reads them; the jsonb is
    // printed by jsonb_out (which detoasts it).
    let (kind, filter_text, page_size, after) = unsafe {
        let kind = pg_getarg::<String>(fcinfo, 0);
        let filter_text = pgrx::fcinfo::pg_getarg_datum(fcinfo, 1).map(|datum| {
            direct_function_call::<&CStr>(pg_sys::jsonb_out, &[Some(datum)])
                .map(|text| text.to_string_lossy().into_owned())
                .unwrap_or_else(|| raise(DiscoveryError::Internal("printing a filter")))
        });
        (
            kind,
            filter_text,
            pg_getarg::<i32>(fcinfo, 2),
            pg_getarg::<String>(fcinfo, 3),
        )
    };
    let kind = kind.unwrap_or_else(|| raise(FilterError::UnknownKind("<NULL>".into())));
    let filter_text = filter_text.unwrap_or_else(|| "{}".into());
    let fingerprint = fingerprint(&kind, &filter_text);
    let want = check(
        &kind,
        Some(&filter_text),
        page_size,
        after.as_deref(),
        &fingerprint,
        &mut Database,
    )
    .unwrap_or_else(|error| raise(error));
    // A blanket right, or no row-level security at all (superusers and the tables' owner: the
    // maintenance path): every row passes the policy.
    let blanket = holds_on_every_project(Permission::Read)
        || !Table::open(c"documents", c"documents").row_security_active();

    // SAFETY: the result type is the declared composite; its descriptor is blessed and the
    // tuple formed from one datum (or null) per attribute.
    unsafe {
        let mut tupdesc: pg_sys::TupleDesc = std::ptr::null_mut();
        if pg_sys::get_call_result_type(fcinfo, std::ptr::null_mut(), &mut tupdesc)
            != pg_sys::TypeFuncClass::TYPEFUNC_COMPOSITE
        {
            raise(DiscoveryError::Internal(
                "pulse.discovery_filter is not a composite type",
            ));
        }
        let tupdesc = pg_sys::BlessTupleDesc(tupdesc);
        let natts = (*tupdesc).natts as usize;
        let mut values = Vec::with_capacity(natts);
        let mut nulls = Vec::with_capacity(natts);
        for attribute in (*tupdesc).attrs.as_slice(natts) {
            let name = CStr::from_ptr(attribute.attname.data.as_ptr())
                .to_str()
                .unwrap_or("");
            let value = field(name, &want, &fingerprint, blanket);
            values.push(value.unwrap_or(pg_sys::Datum::from(0)));
            nulls.push(value.is_none());
        }
        let tuple = pg_sys::heap_form_tuple(tupdesc, values.as_mut_ptr(), nulls.as_mut_ptr());
        pg_sys::HeapTupleHeaderGetDatum((*tuple).t_data)
    }
}

function_info_v1!(pg_finfo_discovery_cursor);

/// `pulse.discovery_cursor(kind text, fingerprint text, score bigint, id bigint) RETURNS
/// text`, declared in sql/discovery.sql: the cursor after the row with sort key (`score`,
/// `id`), which the search functions put on every row of a page. Made here rather than by
/// `translate(encode(convert_to(concat_ws(...))))` for every row of the page, a measurable
/// part of a search's time (decision log D54); the text is the same.
#[unsafe(no_mangle)]
#[doc(hidden)]
#[pg_guard]
pub unsafe extern "C-unwind" fn discovery_cursor(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    // SAFETY: the arguments of the declaration above, read as pgrx reads them (the function
    // is STRICT, so none is NULL when PostgreSQL calls it).
    let (kind, fingerprint, score, id) = unsafe {
        (
            pg_getarg::<String>(fcinfo, 0),
            pg_getarg::<String>(fcinfo, 1),
            pg_getarg::<i64>(fcinfo, 2),
            pg_getarg::<i64>(fcinfo, 3),
        )
    };
    let (Some(kind), Some(fingerprint), Some(score), Some(id)) = (kind, fingerprint, score, id)
    else {
        raise(DiscoveryError::Internal("a cursor of NULL values"))
    };
    let kind = Kind::named(&kind).unwrap_or_else(|error| raise(error));
    encode_cursor(kind, &fingerprint, score, id)
        .into_datum()
        .unwrap_or_else(|| raise(DiscoveryError::Internal("a cursor as text")))
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use super::*;

    #[pg_test]
    fn data_exceptions_are_class_22_only() {
        for code in [
            PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
            PgSqlErrorCode::ERRCODE_INVALID_DATETIME_FORMAT,
            PgSqlErrorCode::ERRCODE_DATETIME_FIELD_OVERFLOW,
            PgSqlErrorCode::ERRCODE_INVALID_TEXT_REPRESENTATION,
        ] {
            assert!(is_data_exception(code), "{code:?}");
        }
        for code in [
            PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            PgSqlErrorCode::ERRCODE_QUERY_CANCELED,
        ] {
            assert!(!is_data_exception(code), "{code:?}");
        }
    }

    #[pg_test]
    fn timestamps_are_read_as_postgresql_reads_them() {
        let micros = |text: &str| {
            Spi::get_one::<i64>(&format!(
                "SELECT (extract(epoch FROM '{text}'::timestamptz) * 1000000)::bigint - 946684800000000"
            ))
            .unwrap()
        };
        for text in ["2025-01-31T12:00:00Z", "2025-06-01 12:00+02", "epoch"] {
            assert_eq!(Database.time(text), micros(text), "{text}");
        }
        assert_eq!(Database.time("infinity"), Some(i64::MAX));
        // Refused input leaves the transaction usable.
        assert_eq!(Database.time("2025-02-30"), None);
        assert_eq!(Database.time("not a time"), None);
        assert_eq!(Spi::get_one::<i32>("SELECT 1").unwrap(), Some(1));
    }

    /// `pulse.discovery_cursor` makes the text the search functions made in SQL before D54,
    /// so cursors handed out by either decode alike: every kind, scores and ids from 0 to
    /// beyond 18 digits (base64 then passes 76 characters, where `encode` breaks the line).
    #[pg_test]
    fn cursors_equal_those_made_in_sql() {
        let differing = Spi::get_one::<i64>(
            "SELECT count(*) FROM (VALUES ('documents'), ('projects')) k (kind),
                    (VALUES ('0123456789abcdef'), ('fedcba9876543210')) f (fingerprint),
                    (SELECT (10::numeric ^ e)::bigint - d FROM generate_series(0, 18) e,
                            generate_series(0, 1) d WHERE (10::numeric ^ e) > d) s (score),
                    (SELECT (10::numeric ^ e)::bigint + d FROM generate_series(0, 18) e,
                            generate_series(0, 2) d WHERE e < 18 OR d = 0) i (id)
              WHERE pulse.discovery_cursor(kind, fingerprint, score, id)
                    IS DISTINCT FROM translate(encode(convert_to(concat_ws('|', 'v1', kind, fingerprint, score, id),
                                                                 'UTF8'), 'base64'), E'+/=\\n', '-_')",
        )
        .unwrap();
        assert_eq!(differing, Some(0));
        let longest = Spi::get_one::<i32>(
            "SELECT length(pulse.discovery_cursor('documents', '0123456789abcdef', 9223372036854775807, 9223372036854775807))",
        )
        .unwrap();
        assert_eq!(longest, Some(92));
    }

    #[pg_test]
    fn words_without_lexemes_are_none() {
        assert!(Database.words("report or budget").is_some());
        assert!(Database.words("-- !!").is_none());
    }
}
