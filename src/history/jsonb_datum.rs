//! A snapshot stored as a jsonb datum built from its `serde_json::Value`, without text.
//!
//! `jsonb_in` of the printed snapshot was about an eighth of what capture cost per row: it
//! lexes and unescapes what pulse had just printed. Here the value becomes the in-memory tree
//! `jsonb_in`'s parser builds (`JsonbValue` arrays and objects, with the same scalars: strings
//! as they are, integers as `int64_to_numeric` makes them and other numbers through
//! `numeric_in`, as the parser does), and PostgreSQL's `JsonbValueToJsonb` turns it into the
//! datum in one call. Object keys are laid out in jsonb's order, as the parser's builder
//! (`pushJsonbValue`) sorts them; a `serde_json` object's keys are unique, so there is nothing
//! for it to remove. Handing over the finished tree, rather than pushing it value by value
//! through `pushJsonbValue`, saves a call into PostgreSQL and a copy per value.
//! The `#[pg_test]` `jsonb_datum_equals_jsonb_in_and_jsonb_text_equals_jsonb_out`
//! (`append.rs`) proves the result byte for byte identical to `jsonb_in` on 2,000 generated
//! values.

use std::ffi::CString;

use pgrx::prelude::*;
use pulse_core::jsonb_text::entries_in_jsonb_order;
use serde_json::{Number, Value};

use super::HistoryError;
use crate::errors::raise;

/// The jsonb datum `jsonb_in` makes of `value`'s JSON text, palloc'd in the current memory
/// context.
pub fn jsonb_datum(value: &Value) -> pg_sys::Datum {
    let mut tree = Tree::default();
    let mut root = match value {
        Value::Array(_) | Value::Object(_) => tree.node(value),
        // A scalar is stored as a one-element "raw scalar" array, as jsonb_in stores it.
        scalar => {
            let element = scalar_value(scalar);
            let mut root = tree.array(vec![element]);
            root.val.array.rawScalar = true;
            root
        }
    };
    // SAFETY: `root` points into `tree`'s element and pair arrays, and its strings into
    // `value`; both outlive this call, which copies everything into the datum.
    pg_sys::Datum::from(unsafe { pg_sys::JsonbValueToJsonb(&mut root) })
}

/// The element and pair arrays of a tree's containers. A container's `JsonbValue` points into
/// its array; moving the array's `Vec` in here leaves its buffer where it is, so the pointer
/// stays valid as long as the tree.
#[derive(Default)]
struct Tree {
    elements: Vec<Vec<pg_sys::JsonbValue>>,
    pairs: Vec<Vec<pg_sys::JsonbPair>>,
}

impl Tree {
    /// `value` as a `JsonbValue`: a container whose arrays this tree keeps, or a scalar.
    fn node(&mut self, value: &Value) -> pg_sys::JsonbValue {
        match value {
            Value::Array(items) => {
                let elements = items.iter().map(|item| self.node(item)).collect();
                self.array(elements)
            }
            Value::Object(map) => {
                let mut pairs: Vec<pg_sys::JsonbPair> = entries_in_jsonb_order(map)
                    .into_iter()
                    .enumerate()
                    .map(|(order, (key, item))| pg_sys::JsonbPair {
                        key: string(key),
                        value: self.node(item),
                        order: order as u32,
                    })
                    .collect();
                let mut object = container(pg_sys::jbvType::jbvObject);
                object.val.object.nPairs = count(pairs.len());
                object.val.object.pairs = pairs.as_mut_ptr();
                self.pairs.push(pairs);
                object
            }
            scalar => scalar_value(scalar),
        }
    }

    fn array(&mut self, mut elements: Vec<pg_sys::JsonbValue>) -> pg_sys::JsonbValue {
        let mut array = container(pg_sys::jbvType::jbvArray);
        array.val.array.nElems = count(elements.len());
        array.val.array.elems = elements.as_mut_ptr();
        self.elements.push(elements);
        array
    }
}

/// The number of elements or pairs of a container, which must fit its header (JB_CMASK).
/// (`pushJsonbValue` refused somewhat fewer, as many as one allocation of its arrays holds; a
/// snapshot holds one row's columns and link sets, far below either.)
fn count(n: usize) -> i32 {
    if n > pg_sys::JB_CMASK as usize {
        raise(HistoryError::SnapshotContainerTooLarge { elements: n });
    }
    n as i32
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
