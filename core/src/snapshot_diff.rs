//! Differences between two snapshots of an entity, and the summary a person reads.
//!
//! A snapshot is a JSON object, one key per field. Three kinds of value:
//! - a plain value (string, number, boolean, null);
//! - a reference: an object with `code` and `label` (a phase, a priority), compared by
//!   code and shown by label;
//! - a set: an array of elements (the project's tags, its members), compared as a set;
//!   an element is a reference, or any other object, shown by its `label` if it has one.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// One changed field; for sets, one added (`old` None) or removed (`new` None) element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldChange {
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
    /// True for an element added to or removed from a set.
    pub set_element: bool,
}

/// How deeply `value` nests arrays and objects: 0 for a scalar, 1 for `[]` or `{}`.
pub fn nesting_depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(nesting_depth).max().unwrap_or(0),
        Value::Object(fields) => 1 + fields.values().map(nesting_depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// How a value is shown to a person: a reference by its label, a string as itself, null as
/// None, anything else as compact JSON.
pub fn display(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => Some(match o.get("label") {
            Some(Value::String(label)) => label.clone(),
            _ => value.to_string(),
        }),
        other => Some(other.to_string()),
    }
}

/// What identifies a value for comparison: a reference by its code, anything else by itself.
fn identity(value: &Value) -> String {
    match value {
        Value::Object(o) => match o.get("code") {
            Some(code) => code.to_string(),
            None => value.to_string(),
        },
        other => other.to_string(),
    }
}

fn set_elements(value: &Value) -> Vec<(String, Option<String>)> {
    let mut elements: Vec<_> = value
        .as_array()
        .map(|items| items.iter().map(|v| (identity(v), display(v))).collect())
        .unwrap_or_default();
    elements.sort();
    elements.dedup();
    elements
}

/// The changes from `old` to `new`, field by field in key order, ignoring `ignored` fields
/// (bookkeeping that changes with every write, such as `updated_at`). A field missing from
/// one side counts as null.
pub fn diff(
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    ignored: &[&str],
) -> Vec<FieldChange> {
    let fields: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let mut changes = Vec::new();
    for field in fields {
        if ignored.contains(&field.as_str()) {
            continue;
        }
        let (before, after) = (
            old.get(field).unwrap_or(&Value::Null),
            new.get(field).unwrap_or(&Value::Null),
        );
        // Most fields of an update are untouched: equal values have equal identities and
        // equal elements, so they are skipped before anything is printed to compare.
        if before == after {
            continue;
        }
        if before.is_array() || after.is_array() {
            let (before, after) = (set_elements(before), set_elements(after));
            let before_keys: BTreeSet<_> = before.iter().map(|(k, _)| k).collect();
            let after_keys: BTreeSet<_> = after.iter().map(|(k, _)| k).collect();
            for (key, shown) in &before {
                if !after_keys.contains(key) {
                    changes.push(FieldChange {
                        field: field.clone(),
                        old: shown.clone(),
                        new: None,
                        set_element: true,
                    });
                }
            }
            for (key, shown) in &after {
                if !before_keys.contains(key) {
                    changes.push(FieldChange {
                        field: field.clone(),
                        old: None,
                        new: shown.clone(),
                        set_element: true,
                    });
                }
            }
        } else if identity(before) != identity(after) {
            changes.push(FieldChange {
                field: field.clone(),
                old: display(before),
                new: display(after),
                set_element: false,
            });
        }
    }
    changes
}

/// The names of the changed fields, each once, in order.
pub fn changed_fields(changes: &[FieldChange]) -> Vec<String> {
    let mut fields: Vec<String> = changes.iter().map(|c| c.field.clone()).collect();
    fields.dedup();
    fields
}

/// Longer values are not repeated in the summary, only named.
const SUMMARY_VALUE_LIMIT: usize = 60;

fn shown(value: &Option<String>) -> String {
    match value {
        None => "∅".to_owned(),
        Some(v) => v.clone(),
    }
}

/// The changes in words: `phase: Design → Build; tags +Security −Legacy; description changed`.
pub fn summary(changes: &[FieldChange]) -> String {
    let mut parts: Vec<String> = Vec::new();
    for field in changed_fields(changes) {
        let of_field: Vec<&FieldChange> = changes.iter().filter(|c| c.field == field).collect();
        if of_field.iter().any(|c| c.set_element) {
            let mut part = field.clone();
            for c in &of_field {
                match (&c.old, &c.new) {
                    (None, Some(added)) => part.push_str(&format!(" +{added}")),
                    (Some(removed), None) => part.push_str(&format!(" −{removed}")),
                    _ => {}
                }
            }
            parts.push(part);
        } else {
            let c = of_field[0];
            let long = |v: &Option<String>| {
                v.as_ref()
                    .is_some_and(|s| s.chars().count() > SUMMARY_VALUE_LIMIT || s.contains('\n'))
            };
            if long(&c.old) || long(&c.new) {
                parts.push(format!("{field} changed"));
            } else {
                parts.push(format!("{field}: {} → {}", shown(&c.old), shown(&c.new)));
            }
        }
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn reference(code: &str, label: &str) -> Value {
        json!({"id": 1, "code": code, "label": label})
    }

    #[test]
    fn nesting_depth_counts_containers_not_scalars() {
        assert_eq!(nesting_depth(&json!(1)), 0);
        assert_eq!(nesting_depth(&json!({})), 1);
        assert_eq!(nesting_depth(&json!([[], {"a": [1]}])), 3);
        assert_eq!(nesting_depth(&json!({"a": 1, "b": {"c": {"d": null}}})), 3);
    }

    #[test]
    fn numbers_keep_every_digit_so_a_change_in_the_last_one_is_a_change() {
        // serde_json's arbitrary_precision: a float would make these equal (and lose digits).
        let read = |text: &str| obj(serde_json::from_str(text).unwrap());
        let old = read(r#"{"n": 0.1000000000000000000000000001}"#);
        let new = read(r#"{"n": 0.1000000000000000000000000002}"#);
        assert_eq!(changed_fields(&diff(&old, &new, &[])), ["n"]);
        assert_eq!(old["n"].to_string(), "0.1000000000000000000000000001");
    }

    #[test]
    fn the_issue_example() {
        let old = obj(json!({
            "phase": reference("design", "Design"),
            "tags": [reference("legacy", "legacy"), reference("api", "api")],
        }));
        let new = obj(json!({
            "phase": reference("build", "Build"),
            "tags": [reference("api", "api"), reference("security", "security")],
        }));
        let changes = diff(&old, &new, &[]);
        assert_eq!(
            summary(&changes),
            "phase: Design → Build; tags −legacy +security"
        );
        assert_eq!(changed_fields(&changes), ["phase", "tags"]);
    }

    #[test]
    fn nothing_changed_is_empty() {
        let snapshot = obj(json!({"name": "A", "tags": [reference("x", "X")], "updated_at": "t1"}));
        let touched = obj(json!({"name": "A", "tags": [reference("x", "X")], "updated_at": "t2"}));
        assert!(diff(&snapshot, &touched, &["updated_at"]).is_empty());
        assert_eq!(diff(&snapshot, &touched, &[]).len(), 1);
    }

    #[test]
    fn references_compare_by_code_and_show_labels() {
        // A relabelled reference is not a change of the entity.
        let old = obj(json!({"priority": reference("high", "High")}));
        let new = obj(json!({"priority": reference("high", "Urgent")}));
        assert!(diff(&old, &new, &[]).is_empty());
        let new = obj(json!({"priority": reference("low", "Low")}));
        assert_eq!(
            diff(&old, &new, &[]),
            [FieldChange {
                field: "priority".into(),
                old: Some("High".into()),
                new: Some("Low".into()),
                set_element: false
            }]
        );
    }

    #[test]
    fn sets_ignore_order_and_report_each_element() {
        let old = obj(
            json!({"members": [{"user_id": 1, "role": "owner"}, {"user_id": 2, "role": "viewer"}]}),
        );
        let new = obj(
            json!({"members": [{"user_id": 2, "role": "editor"}, {"user_id": 1, "role": "owner"}]}),
        );
        let changes = diff(&old, &new, &[]);
        assert_eq!(changes.len(), 2);
        assert!(changes
            .iter()
            .any(|c| c.old.as_deref() == Some(r#"{"role":"viewer","user_id":2}"#)));
        assert!(changes
            .iter()
            .any(|c| c.new.as_deref() == Some(r#"{"role":"editor","user_id":2}"#)));
    }

    #[test]
    fn nulls_missing_fields_and_long_values() {
        let old = obj(json!({"license": null, "description": "short"}));
        let new = obj(
            json!({"license": reference("MIT", "MIT License"), "description": "x".repeat(100)}),
        );
        let changes = diff(&old, &new, &[]);
        assert_eq!(
            summary(&changes),
            "description changed; license: ∅ → MIT License"
        );
        let gone = obj(json!({}));
        assert_eq!(
            summary(&diff(&obj(json!({"name": "A"})), &gone, &[])),
            "name: A → ∅"
        );
    }

    #[test]
    fn plain_values_show_as_json_except_strings() {
        let changes = diff(
            &obj(json!({"size": 1, "ok": true})),
            &obj(json!({"size": 2, "ok": false})),
            &[],
        );
        assert_eq!(summary(&changes), "ok: true → false; size: 1 → 2");
    }
}
