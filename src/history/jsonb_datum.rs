//! A snapshot stored as a jsonb datum built from its `serde_json::Value`, without text.
//!
//! `jsonb_in` of the printed snapshot was about an eighth of what capture cost per row: it
//! lexes and unescapes what pulse had just printed. Here the value is pushed into
//! PostgreSQL's own jsonb builder (`pushJsonbValue`, `JsonbValueToJsonb`), the same calls
//! `jsonb_in`'s parser makes, with the same scalars: strings as they are, integers as
//! `int64_to_numeric` makes them and other numbers through `numeric_in`, as the parser does.
//! Object keys are pushed in jsonb's order, so the sort the builder makes finds them sorted.
//! The `#[pg_test]` `jsonb_datum_equals_jsonb_in_and_jsonb_text_equals_jsonb_out`
//! (`append.rs`) proves the result byte for byte identical to `jsonb_in` on 2,000 generated
//! values.

use std::ffi::CString;

use pgrx::pg_sys::JsonbIteratorToken::{
    Type as Token, WJB_BEGIN_ARRAY, WJB_BEGIN_OBJECT, WJB_ELEM, WJB_END_ARRAY, WJB_END_OBJECT,
    WJB_KEY, WJB_VALUE,
};
use pgrx::prelude::*;
use pulse_core::jsonb_text::entries_in_jsonb_order;
use serde_json::{Number, Value};

use super::HistoryError;
use crate::errors::raise;

/// The jsonb datum `jsonb_in` makes of `value`'s JSON text, palloc'd in the current memory
/// context.
pub fn jsonb_datum(value: &Value) -> pg_sys::Datum {
    let mut state: *mut pg_sys::JsonbParseState = std::ptr::null_mut();
    let root = match value {
        Value::Array(_) | Value::Object(_) => push_value(&mut state, value, WJB_ELEM),
        // A scalar is stored as a one-element "raw scalar" array, as jsonb_in stores it.
        scalar => {
            let mut open = container(pg_sys::jbvType::jbvArray);
            open.val.array.rawScalar = true;
            push(&mut state, WJB_BEGIN_ARRAY, &mut open);
            push_value(&mut state, scalar, WJB_ELEM);
            push(&mut state, WJB_END_ARRAY, std::ptr::null_mut())
        }
    };
    // SAFETY: `root` is the finished container the builder returned; every string it points
    // to is borrowed from `value`, alive until the copy JsonbValueToJsonb makes.
    pg_sys::Datum::from(unsafe { pg_sys::JsonbValueToJsonb(root) })
}

/// Push `value`: as a nested container, or as a scalar under `token` (WJB_VALUE for a key's
/// value, WJB_ELEM for an array element; containers ignore it). Returns what the builder
/// returns (the root once the outermost container ends).
fn push_value(
    state: &mut *mut pg_sys::JsonbParseState,
    value: &Value,
    token: Token,
) -> *mut pg_sys::JsonbValue {
    match value {
        Value::Array(items) => {
            push(state, WJB_BEGIN_ARRAY, std::ptr::null_mut());
            for item in items {
                push_value(state, item, WJB_ELEM);
            }
            push(state, WJB_END_ARRAY, std::ptr::null_mut())
        }
        Value::Object(map) => {
            // Pushed in jsonb's key order, so that the sort the builder makes at the
            // object's end finds it sorted and stops at once.
            push(state, WJB_BEGIN_OBJECT, std::ptr::null_mut());
            for (key, item) in entries_in_jsonb_order(map) {
                push(state, WJB_KEY, &mut string(key));
                push_value(state, item, WJB_VALUE);
            }
            push(state, WJB_END_OBJECT, std::ptr::null_mut())
        }
        scalar => push(state, token, &mut scalar_value(scalar)),
    }
}

fn push(
    state: &mut *mut pg_sys::JsonbParseState,
    token: Token,
    value: *mut pg_sys::JsonbValue,
) -> *mut pg_sys::JsonbValue {
    // SAFETY: the builder copies the JsonbValue it is given (not the strings it points to,
    // which outlive the build); containers' begin and end tokens take no value.
    unsafe { pg_sys::pushJsonbValue(state, token, value) }
}

fn container(kind: pg_sys::jbvType::Type) -> pg_sys::JsonbValue {
    // SAFETY: JsonbValue is plain data; zeroed is an empty value of any kind.
    let mut value: pg_sys::JsonbValue = unsafe { std::mem::zeroed() };
    value.type_ = kind;
    value
}

fn string(text: &str) -> pg_sys::JsonbValue {
    // jsonb_in refuses \u0000 in a string; PostgreSQL text never holds one.
    if text.as_bytes().contains(&0) {
        raise(HistoryError::Internal("a snapshot with a NUL character"));
    }
    // The limit jsonb_in's parser checks (checkStringLen).
    if text.len() > pg_sys::JENTRY_OFFLENMASK as usize {
        raise(HistoryError::SnapshotStringTooLong { bytes: text.len() });
    }
    let mut value = container(pg_sys::jbvType::jbvString);
    value.val.string = pg_sys::JsonbValue__bindgen_ty_1__bindgen_ty_1 {
        len: text.len() as i32,
        val: text.as_ptr() as *mut std::ffi::c_char,
    };
    value
}

fn scalar_value(scalar: &Value) -> pg_sys::JsonbValue {
    match scalar {
        Value::Null => container(pg_sys::jbvType::jbvNull),
        Value::Bool(b) => {
            let mut value = container(pg_sys::jbvType::jbvBool);
            value.val.boolean = *b;
            value
        }
        Value::String(s) => string(s),
        Value::Number(n) => {
            let mut value = container(pg_sys::jbvType::jbvNumeric);
            value.val.numeric = numeric(n);
            value
        }
        Value::Array(_) | Value::Object(_) => {
            raise(HistoryError::Internal("a container where a scalar belongs"))
        }
    }
}

/// The numeric `numeric_in` reads from the number's JSON text (what jsonb_in stores).
fn numeric(n: &Number) -> pg_sys::Numeric {
    if let Some(i) = n.as_i64() {
        // SAFETY: builds a palloc'd numeric; the same value and scale (0) numeric_in gives.
        return unsafe { pg_sys::int64_to_numeric(i) };
    }
    let text = CString::new(n.to_string())
        .unwrap_or_else(|_| raise(HistoryError::Internal("printing a number")));
    // SAFETY: numeric_in reads a NUL-terminated string (typmod -1: no rounding).
    let datum = unsafe {
        pgrx::direct_function_call_as_datum(
            pg_sys::numeric_in,
            &[
                Some(pg_sys::Datum::from(text.as_ptr())),
                Some(pg_sys::Datum::from(pg_sys::InvalidOid)),
                Some(pg_sys::Datum::from(-1i32)),
            ],
        )
    };
    datum
        .unwrap_or_else(|| raise(HistoryError::Internal("numeric_in returned NULL")))
        .cast_mut_ptr()
}
