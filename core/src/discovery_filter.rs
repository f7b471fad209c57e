//! Checking a discovery filter (issue 7): the JSON object a caller passes to the search and
//! facet functions, its page size and its cursor, turned into what the queries read.
//!
//! Everything that needs the database is asked of a [`Resolve`]: reference codes (looked up
//! under the caller's row-level security), timestamps (PostgreSQL's own input syntax) and
//! words (`websearch_to_tsquery`). Keys are checked in byte order and each key completely
//! (its codes resolved) before the next, so the first fault reported is always the same one.
//!
//! The filter arrives as the text `jsonb_out` prints. Each key's value is kept as its raw text
//! and parsed only by the check for that key: a number too large for serde_json is then a
//! fault of that key, and a `properties` object reaches the query exactly as given.

use std::collections::BTreeMap;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use serde_json::value::RawValue;
use serde_json::Value;

/// Which search a filter is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Projects,
    Documents,
}

impl Kind {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "projects" => Some(Self::Projects),
            "documents" => Some(Self::Documents),
            _ => None,
        }
    }

    /// The kind named `name`, or the error every discovery function gives for another name.
    pub fn named(name: &str) -> Result<Self, FilterError> {
        Self::parse(name).ok_or_else(|| FilterError::UnknownKind(clip(name)))
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Projects => "projects",
            Self::Documents => "documents",
        }
    }

    /// The filter keys of this kind, in the order the error hint lists them.
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            Self::Projects => &[
                "q",
                "features",
                "tech_stack",
                "tags",
                "phase",
                "priority",
                "license",
                "owner",
                "role",
                "deleted",
            ],
            Self::Documents => &[
                "q",
                "project",
                "filetype",
                "mime_category",
                "storage",
                "phase",
                "priority",
                "uploaded_by",
                "properties",
                "deleted",
                "created_from",
                "created_to",
                "updated_from",
                "updated_to",
                "size_min",
                "size_max",
            ],
        }
    }
}

/// A key whose values are reference codes, looked up in a reference table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CodeKey {
    Features,
    TechStack,
    Tags,
    Phase,
    Priority,
    /// SPDX identifiers, matched case-insensitively (the codes arrive lower-cased).
    License,
    Role,
    Filetype,
    /// A MIME category stands for the filetypes in it.
    MimeCategory,
    Storage,
}

impl CodeKey {
    pub const ALL: [CodeKey; 10] = [
        Self::Features,
        Self::TechStack,
        Self::Tags,
        Self::Phase,
        Self::Priority,
        Self::License,
        Self::Role,
        Self::Filetype,
        Self::MimeCategory,
        Self::Storage,
    ];

    fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.key() == key)
    }

    pub fn key(self) -> &'static str {
        match self {
            Self::Features => "features",
            Self::TechStack => "tech_stack",
            Self::Tags => "tags",
            Self::Phase => "phase",
            Self::Priority => "priority",
            Self::License => "license",
            Self::Role => "role",
            Self::Filetype => "filetype",
            Self::MimeCategory => "mime_category",
            Self::Storage => "storage",
        }
    }
}

/// What the database answers for a filter.
pub trait Resolve {
    /// A search by words, as the queries take it (a tsquery).
    type Words;

    /// The ids (ascending) of the rows of `key`'s reference table whose code is one of
    /// `codes`, and the codes that were found.
    fn codes(&mut self, key: CodeKey, codes: &[String]) -> (Vec<i32>, Vec<String>);

    /// A timestamp in PostgreSQL's input syntax, as microseconds since 2000-01-01 UTC;
    /// None when PostgreSQL refuses it.
    fn time(&mut self, text: &str) -> Option<i64>;

    /// The words of `text` (websearch syntax); None when it has no words to search for.
    fn words(&mut self, text: &str) -> Option<Self::Words>;
}

/// A checked filter. None in a field means "no condition"; an empty list matches nothing
/// (the search functions read it so).
#[derive(Debug, PartialEq)]
pub struct Filter<W> {
    pub kind: Kind,
    pub page_size: i32,
    /// The last row of the previous page: (score, id).
    pub after: Option<(i64, i64)>,
    /// Some(false): live rows only (the default); Some(true): soft-deleted only; None: both.
    pub deleted: Option<bool>,
    pub words: Option<W>,
    pub project_ids: Option<Vec<i64>>,
    pub owner_ids: Option<Vec<i32>>,
    pub uploader_ids: Option<Vec<i32>>,
    pub feature_ids: Option<Vec<i32>>,
    pub tech_stack_ids: Option<Vec<i32>>,
    pub tag_ids: Option<Vec<i32>>,
    pub phase_ids: Option<Vec<i32>>,
    pub priority_ids: Option<Vec<i32>>,
    pub license_ids: Option<Vec<i32>>,
    pub role_ids: Option<Vec<i32>>,
    pub filetype_ids: Option<Vec<i32>>,
    pub storage_ids: Option<Vec<i32>>,
    /// The `properties` object as JSON text, matched with `@>`.
    pub properties: Option<String>,
    pub created_from: Option<i64>,
    pub created_to: Option<i64>,
    pub updated_from: Option<i64>,
    pub updated_to: Option<i64>,
    pub size_min: Option<i64>,
    pub size_max: Option<i64>,
}

/// Why a filter, page size or cursor was refused. All are invalid parameter values (22023)
/// except [`FilterError::MalformedCursor`] (22P02), as [`FilterError::is_malformed`] says.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("unknown kind of search \"{0}\"")]
    UnknownKind(String),
    #[error("a filter is a JSON object, not {0}")]
    NotAnObject(&'static str),
    /// Not reachable from SQL, where the filter is a jsonb printed by `jsonb_out`.
    #[error("a filter is a JSON object, and this is not valid JSON")]
    NotJson,
    #[error("page_size must be between 1 and 500, not {}", .0.map_or("NULL".to_string(), |n| n.to_string()))]
    PageSize(Option<i32>),
    #[error("unknown filter key \"{key}\"")]
    UnknownKey { key: String, kind: Kind },
    #[error("filter key \"{0}\" takes a code or an array of codes")]
    NotCodes(&'static str),
    #[error("unknown {} code \"{code}\"", .key.key().replace('_', " "))]
    UnknownCode { key: CodeKey, code: String },
    #[error("filter key \"{0}\" takes a positive integer id or an array of them")]
    NotIds(&'static str),
    #[error("filter key \"q\" takes a string of at most 1000 characters")]
    NotWords,
    #[error("filter key \"q\" has no words to search for")]
    NoWords,
    #[error("filter key \"deleted\" takes true, false or \"any\"")]
    NotDeleted,
    #[error("filter key \"properties\" takes a JSON object (matched with @>)")]
    NotProperties,
    #[error("filter key \"{0}\" takes a whole number of bytes")]
    NotBytes(&'static str),
    #[error("filter key \"{0}\" takes a timestamp such as \"2025-01-31T12:00:00Z\"")]
    NotTimestamp(&'static str),
    #[error("inverted range: {0}")]
    Inverted(&'static str),
    #[error("malformed cursor")]
    MalformedCursor,
    #[error("the cursor belongs to another search or filter")]
    ForeignCursor,
}

impl FilterError {
    /// Whether this is a malformed value (22P02) rather than an invalid one (22023).
    pub fn is_malformed(&self) -> bool {
        matches!(self, Self::MalformedCursor)
    }

    /// What the caller can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::UnknownKind(_) => Some("projects or documents.".into()),
            Self::UnknownKey { kind, .. } => Some(format!(
                "Filter keys for {}: {}.",
                kind.name(),
                kind.keys().join(", ")
            )),
            Self::UnknownCode { key, .. } => Some(format!(
                "Codes are listed in the reference table (pulse.*_reference) of filter key \"{}\".",
                key.key()
            )),
            Self::MalformedCursor => Some("Pass next_cursor as it was returned.".into()),
            Self::ForeignCursor => {
                Some("A cursor continues the search with the filter that returned it.".into())
            }
            _ => None,
        }
    }
}

/// The largest number a filter takes (18 digits, as a bigint holds any of them).
const MAX_NUMBER: u64 = 999_999_999_999_999_999;

/// At most this many characters of a caller's text are repeated in an error.
fn clip(text: &str) -> String {
    text.chars().take(64).collect()
}

/// The JSON type of a value's text, named as `jsonb_typeof` names it.
fn json_type(text: &str) -> &'static str {
    match text.trim_start().as_bytes().first() {
        Some(b'{') => "object",
        Some(b'[') => "array",
        Some(b'"') => "string",
        Some(b't' | b'f') => "boolean",
        Some(b'n') => "null",
        _ => "number",
    }
}

/// A whole number of at most 18 digits, as `jsonb_out` prints it (so `1.0` is not one).
fn whole_number(value: &Value) -> Option<u64> {
    value.as_u64().filter(|n| *n <= MAX_NUMBER)
}

/// One value or a list of them, as a list; None when a value is not what `one` accepts.
fn one_or_list<T>(text: &str, one: impl Fn(&Value) -> Option<T>) -> Option<Vec<T>> {
    match serde_json::from_str::<Value>(text).ok()? {
        Value::Array(items) => items.iter().map(one).collect(),
        value => one(&value).map(|v| vec![v]),
    }
}

/// Checks `filter` (the text of a jsonb value; None is `{}`) for a search of `kind`, with the
/// page size and cursor of the call. `fingerprint` identifies the search and filter; a cursor
/// carries the fingerprint of the search that made it.
pub fn check<R: Resolve>(
    kind: &str,
    filter: Option<&str>,
    page_size: Option<i32>,
    after: Option<&str>,
    fingerprint: &str,
    resolve: &mut R,
) -> Result<Filter<R::Words>, FilterError> {
    let kind = Kind::named(kind)?;
    let filter = filter.unwrap_or("{}");
    if json_type(filter) != "object" {
        return Err(FilterError::NotAnObject(json_type(filter)));
    }
    let page_size = match page_size {
        Some(n @ 1..=500) => n,
        other => return Err(FilterError::PageSize(other)),
    };
    // From SQL, jsonb_out printed it: valid JSON with unique keys. A BTreeMap orders them.
    let entries: BTreeMap<String, Box<RawValue>> =
        serde_json::from_str(filter).map_err(|_| FilterError::NotJson)?;

    let mut want = Filter {
        kind,
        page_size,
        after: None,
        deleted: Some(false),
        words: None,
        project_ids: None,
        owner_ids: None,
        uploader_ids: None,
        feature_ids: None,
        tech_stack_ids: None,
        tag_ids: None,
        phase_ids: None,
        priority_ids: None,
        license_ids: None,
        role_ids: None,
        filetype_ids: None,
        storage_ids: None,
        properties: None,
        created_from: None,
        created_to: None,
        updated_from: None,
        updated_to: None,
        size_min: None,
        size_max: None,
    };
    for (key, raw) in &entries {
        let Some(&key) = kind.keys().iter().find(|k| *k == key) else {
            return Err(FilterError::UnknownKey {
                key: clip(key),
                kind,
            });
        };
        let text = raw.get();
        if let Some(code_key) = CodeKey::from_key(key) {
            check_codes(&mut want, code_key, text, resolve)?;
            continue;
        }
        match key {
            "project" | "owner" | "uploaded_by" => {
                // Ids are not checked against anything: an id the caller cannot see matches
                // nothing, as one that does not exist.
                let limit = if key == "project" {
                    MAX_NUMBER
                } else {
                    i32::MAX as u64
                };
                let mut ids = one_or_list(text, |v| {
                    whole_number(v).filter(|n| (1..=limit).contains(n))
                })
                .ok_or(FilterError::NotIds(key))?;
                if ids.is_empty() {
                    continue;
                }
                ids.sort_unstable();
                ids.dedup();
                match key {
                    "project" => want.project_ids = Some(ids.iter().map(|&n| n as i64).collect()),
                    "owner" => want.owner_ids = Some(ids.iter().map(|&n| n as i32).collect()),
                    _ => want.uploader_ids = Some(ids.iter().map(|&n| n as i32).collect()),
                }
            }
            "q" => {
                let words = match serde_json::from_str::<Value>(text) {
                    Ok(Value::String(s)) if s.chars().count() <= 1000 => s,
                    _ => return Err(FilterError::NotWords),
                };
                want.words = Some(
                    (words.chars().any(char::is_alphanumeric))
                        .then(|| resolve.words(&words))
                        .flatten()
                        .ok_or(FilterError::NoWords)?,
                );
            }
            "deleted" => {
                want.deleted = match serde_json::from_str::<Value>(text) {
                    Ok(Value::Bool(b)) => Some(b),
                    Ok(Value::String(s)) if s == "any" => None,
                    _ => return Err(FilterError::NotDeleted),
                };
            }
            "properties" => {
                if json_type(text) != "object" {
                    return Err(FilterError::NotProperties);
                }
                want.properties = Some(text.to_string());
            }
            "size_min" | "size_max" => {
                let bytes = serde_json::from_str::<Value>(text)
                    .ok()
                    .as_ref()
                    .and_then(whole_number)
                    .ok_or(FilterError::NotBytes(key))? as i64;
                if key == "size_min" {
                    want.size_min = Some(bytes);
                } else {
                    want.size_max = Some(bytes);
                }
            }
            _ => {
                // created_from, created_to, updated_from, updated_to.
                let time = match serde_json::from_str::<Value>(text) {
                    Ok(Value::String(s)) => resolve.time(&s),
                    _ => None,
                }
                .ok_or(FilterError::NotTimestamp(key))?;
                *match key {
                    "created_from" => &mut want.created_from,
                    "created_to" => &mut want.created_to,
                    "updated_from" => &mut want.updated_from,
                    _ => &mut want.updated_to,
                } = Some(time);
            }
        }
    }
    let inverted =
        |from: Option<i64>, to: Option<i64>| matches!((from, to), (Some(f), Some(t)) if f > t);
    if inverted(want.created_from, want.created_to) {
        return Err(FilterError::Inverted("created_from is after created_to"));
    } else if inverted(want.updated_from, want.updated_to) {
        return Err(FilterError::Inverted("updated_from is after updated_to"));
    } else if inverted(want.size_min, want.size_max) {
        return Err(FilterError::Inverted("size_min is greater than size_max"));
    }
    if let Some(cursor) = after {
        want.after = Some(decode_cursor(cursor, kind, fingerprint)?);
    }
    Ok(want)
}

/// A key of codes: one code or a list, resolved; unknown codes are refused by name.
fn check_codes<R: Resolve>(
    want: &mut Filter<R::Words>,
    key: CodeKey,
    text: &str,
    resolve: &mut R,
) -> Result<(), FilterError> {
    let mut codes = one_or_list(text, |v| v.as_str().map(str::to_string))
        .ok_or(FilterError::NotCodes(key.key()))?;
    if codes.is_empty() {
        return Ok(());
    }
    if key == CodeKey::License {
        codes.iter_mut().for_each(|c| *c = c.to_lowercase());
    }
    let (ids, found) = resolve.codes(key, &codes);
    if let Some(unknown) = codes.iter().filter(|c| !found.contains(c)).min() {
        return Err(FilterError::UnknownCode {
            key,
            code: clip(unknown),
        });
    }
    let slot = match key {
        CodeKey::Features => &mut want.feature_ids,
        CodeKey::TechStack => &mut want.tech_stack_ids,
        CodeKey::Tags => &mut want.tag_ids,
        CodeKey::Phase => &mut want.phase_ids,
        CodeKey::Priority => &mut want.priority_ids,
        CodeKey::License => &mut want.license_ids,
        CodeKey::Role => &mut want.role_ids,
        CodeKey::Storage => &mut want.storage_ids,
        // filetype and mime_category both: the filetypes in both lists.
        CodeKey::Filetype | CodeKey::MimeCategory => {
            want.filetype_ids = Some(match want.filetype_ids.take() {
                None => ids,
                Some(before) => before.into_iter().filter(|id| ids.contains(id)).collect(),
            });
            return Ok(());
        }
    };
    *slot = Some(ids);
    Ok(())
}

/// base64url without padding; decoding is lenient about the unused bits of the last character,
/// as PostgreSQL's `decode(..., 'base64')` is.
const CURSOR_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Digits of a whole number: "0" or no leading zero, at most 18 digits.
fn digits(text: &str, zero: bool) -> Option<i64> {
    let ok = !text.is_empty()
        && text.len() <= 18
        && text.bytes().all(|b| b.is_ascii_digit())
        && (!text.starts_with('0') || (zero && text == "0"));
    ok.then(|| text.parse().ok()).flatten()
}

/// The cursor after the row with sort key (`score`, `id`) of a search of `kind` with the
/// filter of `fingerprint`: base64url, unpadded, of "v1|kind|fingerprint|score|id". The
/// search functions put it on every row of a page (`pulse.discovery_cursor`, decision log D54).
pub fn encode_cursor(kind: Kind, fingerprint: &str, score: i64, id: i64) -> String {
    CURSOR_BASE64.encode(format!("v1|{}|{fingerprint}|{score}|{id}", kind.name()))
}

fn decode_cursor(cursor: &str, kind: Kind, fingerprint: &str) -> Result<(i64, i64), FilterError> {
    let well_formed = (1..=200).contains(&cursor.len())
        && cursor.len() % 4 != 1
        && cursor
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(FilterError::MalformedCursor);
    }
    let decoded = CURSOR_BASE64
        .decode(cursor)
        .map_err(|_| FilterError::MalformedCursor)?;
    let text = std::str::from_utf8(&decoded).map_err(|_| FilterError::MalformedCursor)?;
    let parts: Vec<&str> = text.split('|').collect();
    let [version, cursor_kind, cursor_fingerprint, score, id] = parts[..] else {
        return Err(FilterError::MalformedCursor);
    };
    let fingerprint_ok = cursor_fingerprint.len() == 16
        && cursor_fingerprint
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let (score, id) = match (digits(score, true), digits(id, false)) {
        (Some(score), Some(id))
            if version == "v1" && Kind::parse(cursor_kind).is_some() && fingerprint_ok =>
        {
            (score, id)
        }
        _ => return Err(FilterError::MalformedCursor),
    };
    if cursor_kind != kind.name() || cursor_fingerprint != fingerprint {
        return Err(FilterError::ForeignCursor);
    }
    Ok((score, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reference table in memory: phase codes with ids, categories of filetypes.
    struct Fixture {
        lookups: Vec<CodeKey>,
    }

    impl Resolve for Fixture {
        type Words = String;

        fn codes(&mut self, key: CodeKey, codes: &[String]) -> (Vec<i32>, Vec<String>) {
            self.lookups.push(key);
            let table: &[(i32, &str)] = match key {
                CodeKey::Phase => &[(1, "design"), (2, "build"), (3, "review")],
                CodeKey::License => &[(7, "mit"), (8, "apache-2.0")],
                CodeKey::Filetype => &[(10, "pdf"), (11, "docx"), (12, "png")],
                CodeKey::MimeCategory => &[(10, "document"), (11, "document"), (12, "image")],
                _ => &[(1, "one")],
            };
            let mut ids: Vec<i32> = table
                .iter()
                .filter(|(_, c)| codes.iter().any(|x| x == c))
                .map(|(id, _)| *id)
                .collect();
            ids.sort_unstable();
            let found = table
                .iter()
                .filter(|(_, c)| codes.iter().any(|x| x == c))
                .map(|(_, c)| c.to_string())
                .collect();
            (ids, found)
        }

        fn time(&mut self, text: &str) -> Option<i64> {
            text.strip_prefix("t").and_then(|n| n.parse().ok())
        }

        fn words(&mut self, text: &str) -> Option<String> {
            let words: Vec<&str> = text
                .split_whitespace()
                .filter(|w| w.chars().all(char::is_alphanumeric))
                .collect();
            (!words.is_empty()).then(|| words.join(" & "))
        }
    }

    fn fixture() -> Fixture {
        Fixture {
            lookups: Vec::new(),
        }
    }

    fn documents(filter: &str) -> Result<Filter<String>, FilterError> {
        check(
            "documents",
            Some(filter),
            Some(50),
            None,
            "0123456789abcdef",
            &mut fixture(),
        )
    }

    fn projects(filter: &str) -> Result<Filter<String>, FilterError> {
        check(
            "projects",
            Some(filter),
            Some(50),
            None,
            "0123456789abcdef",
            &mut fixture(),
        )
    }

    #[test]
    fn an_empty_filter_asks_for_live_rows_only() {
        let want = documents("{}").unwrap();
        assert_eq!(want.deleted, Some(false));
        assert_eq!(want.page_size, 50);
        assert_eq!(want.phase_ids, None);
        assert_eq!(
            check("projects", None, Some(1), None, "", &mut fixture())
                .unwrap()
                .kind,
            Kind::Projects
        );
    }

    #[test]
    fn kind_object_and_page_size_are_checked_first() {
        let err = |kind: &str, filter: &str, size: Option<i32>| {
            check(kind, Some(filter), size, None, "", &mut fixture())
                .unwrap_err()
                .to_string()
        };
        assert_eq!(err("files", "[]", None), "unknown kind of search \"files\"");
        assert_eq!(
            err("projects", "[\"phase\"]", None),
            "a filter is a JSON object, not array"
        );
        assert_eq!(
            err("projects", "null", Some(5)),
            "a filter is a JSON object, not null"
        );
        assert_eq!(
            err("projects", "7", Some(5)),
            "a filter is a JSON object, not number"
        );
        assert_eq!(
            err("projects", "{\"a\": ", Some(5)),
            "a filter is a JSON object, and this is not valid JSON"
        );
        assert_eq!(
            err("projects", "{}", None),
            "page_size must be between 1 and 500, not NULL"
        );
        assert_eq!(
            err("projects", "{}", Some(0)),
            "page_size must be between 1 and 500, not 0"
        );
        assert_eq!(
            err("projects", "{}", Some(501)),
            "page_size must be between 1 and 500, not 501"
        );
        assert!(check("projects", Some("{}"), Some(500), None, "", &mut fixture()).is_ok());
    }

    #[test]
    fn codes_resolve_to_ids_and_unknown_codes_are_named() {
        let want = documents(r#"{"phase": ["review", "design"]}"#).unwrap();
        assert_eq!(want.phase_ids, Some(vec![1, 3]));
        assert_eq!(
            documents(r#"{"phase": "build"}"#).unwrap().phase_ids,
            Some(vec![2])
        );
        // An empty list is no condition, and nothing is looked up.
        let mut f = fixture();
        let want = check(
            "documents",
            Some(r#"{"phase": []}"#),
            Some(5),
            None,
            "",
            &mut f,
        )
        .unwrap();
        assert_eq!((want.phase_ids, f.lookups.len()), (None, 0));
        let err = documents(r#"{"phase": ["zeta", "build", "alpha"]}"#).unwrap_err();
        assert_eq!(err.to_string(), "unknown phase code \"alpha\"");
        assert_eq!(
            err.hint().unwrap(),
            "Codes are listed in the reference table (pulse.*_reference) of filter key \"phase\"."
        );
        assert_eq!(
            documents(r#"{"mime_category": "hologram"}"#)
                .unwrap_err()
                .to_string(),
            "unknown mime category code \"hologram\""
        );
        let long = "x".repeat(100);
        assert_eq!(
            documents(&format!(r#"{{"phase": "{long}"}}"#)).unwrap_err(),
            FilterError::UnknownCode {
                key: CodeKey::Phase,
                code: "x".repeat(64)
            }
        );
    }

    #[test]
    fn codes_must_be_strings() {
        for bad in [
            "3",
            "[3]",
            "[null]",
            "[[\"build\"]]",
            "{\"a\": 1}",
            "true",
            "[\"build\", 1e400]",
        ] {
            assert_eq!(
                documents(&format!(r#"{{"phase": {bad}}}"#)).unwrap_err(),
                FilterError::NotCodes("phase"),
                "{bad}"
            );
        }
    }

    #[test]
    fn licences_match_case_insensitively() {
        assert_eq!(
            projects(r#"{"license": ["MIT", "Apache-2.0"]}"#)
                .unwrap()
                .license_ids,
            Some(vec![7, 8])
        );
        assert_eq!(
            projects(r#"{"license": "WTFPL"}"#).unwrap_err().to_string(),
            "unknown license code \"wtfpl\""
        );
    }

    #[test]
    fn filetype_and_mime_category_intersect() {
        let want =
            documents(r#"{"filetype": ["pdf", "png"], "mime_category": "document"}"#).unwrap();
        assert_eq!(want.filetype_ids, Some(vec![10]));
        let want = documents(r#"{"mime_category": "image", "filetype": "pdf"}"#).unwrap();
        assert_eq!(want.filetype_ids, Some(vec![]));
    }

    #[test]
    fn ids_are_positive_whole_numbers() {
        let want = documents(r#"{"project": [9, 3, 9], "uploaded_by": 4}"#).unwrap();
        assert_eq!(want.project_ids, Some(vec![3, 9]));
        assert_eq!(want.uploader_ids, Some(vec![4]));
        assert_eq!(
            documents(r#"{"project": 999999999999999999}"#)
                .unwrap()
                .project_ids,
            Some(vec![999_999_999_999_999_999])
        );
        assert_eq!(
            projects(r#"{"owner": 2147483647}"#).unwrap().owner_ids,
            Some(vec![i32::MAX])
        );
        assert_eq!(documents(r#"{"project": []}"#).unwrap().project_ids, None);
        for (key, bad) in [
            ("project", "[\"7\"]"),
            ("project", "0"),
            ("project", "-3"),
            ("project", "1.5"),
            ("project", "1.0"),
            ("project", "1000000000000000000"),
            ("project", "100000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"),
            ("uploaded_by", "[0]"),
            ("uploaded_by", "2147483648"),
            ("uploaded_by", "null"),
        ] {
            assert_eq!(documents(&format!(r#"{{"{key}": {bad}}}"#)).unwrap_err(), FilterError::NotIds(if key == "project" { "project" } else { "uploaded_by" }), "{key}: {bad}");
        }
        assert_eq!(
            projects(r#"{"owner": 1.5}"#).unwrap_err().to_string(),
            "filter key \"owner\" takes a positive integer id or an array of them"
        );
    }

    #[test]
    fn keys_are_checked_in_byte_order_each_completely() {
        // "phase" before "size_min": the unknown code is the fault reported.
        assert_eq!(
            documents(r#"{"size_min": "x", "phase": ["nope"]}"#)
                .unwrap_err()
                .to_string(),
            "unknown phase code \"nope\""
        );
        let err = documents(r#"{"zzz": 1, "colour": "red"}"#).unwrap_err();
        assert_eq!(err.to_string(), "unknown filter key \"colour\"");
        assert!(err
            .hint()
            .unwrap()
            .starts_with("Filter keys for documents: q, project, filetype,"));
        assert_eq!(
            projects(r#"{"filetype": "pdf"}"#).unwrap_err().to_string(),
            "unknown filter key \"filetype\""
        );
    }

    #[test]
    fn words_deleted_and_properties() {
        assert_eq!(
            projects(r#"{"q": "report or budget"}"#).unwrap().words,
            Some("report & or & budget".into())
        );
        assert_eq!(
            projects(r#"{"q": "  -- !! "}"#).unwrap_err(),
            FilterError::NoWords
        );
        assert_eq!(
            projects(r#"{"q": ["report"]}"#).unwrap_err(),
            FilterError::NotWords
        );
        assert!(projects(&format!(r#"{{"q": "{}"}}"#, "é".repeat(1000)))
            .unwrap()
            .words
            .is_some());
        assert_eq!(
            projects(&format!(r#"{{"q": "{}"}}"#, "é".repeat(1001))).unwrap_err(),
            FilterError::NotWords
        );
        assert_eq!(projects(r#"{"deleted": "any"}"#).unwrap().deleted, None);
        assert_eq!(
            projects(r#"{"deleted": true}"#).unwrap().deleted,
            Some(true)
        );
        assert_eq!(
            projects(r#"{"deleted": "maybe"}"#).unwrap_err(),
            FilterError::NotDeleted
        );
        // The object's text is kept exactly, numbers beyond a double included.
        let object = r#"{"n": 123456789012345678901234567890.000000000000000000001, "lang": "en"}"#;
        assert_eq!(
            documents(&format!(r#"{{"properties": {object}}}"#))
                .unwrap()
                .properties
                .as_deref(),
            Some(object)
        );
        assert_eq!(
            documents(r#"{"properties": ["lang", "en"]}"#).unwrap_err(),
            FilterError::NotProperties
        );
    }

    #[test]
    fn sizes_times_and_ranges() {
        let want = documents(
            r#"{"size_min": 0, "size_max": 100, "created_from": "t5", "created_to": "t5"}"#,
        )
        .unwrap();
        assert_eq!(
            (
                want.size_min,
                want.size_max,
                want.created_from,
                want.created_to
            ),
            (Some(0), Some(100), Some(5), Some(5))
        );
        assert_eq!(
            documents(r#"{"size_min": -1}"#).unwrap_err(),
            FilterError::NotBytes("size_min")
        );
        assert_eq!(
            documents(r#"{"size_max": 2.5}"#).unwrap_err(),
            FilterError::NotBytes("size_max")
        );
        assert_eq!(
            documents(r#"{"created_to": 20250101}"#).unwrap_err(),
            FilterError::NotTimestamp("created_to")
        );
        assert_eq!(
            documents(r#"{"created_from": "2025-02-30"}"#).unwrap_err(),
            FilterError::NotTimestamp("created_from")
        );
        assert_eq!(
            documents(r#"{"size_min": 2000, "size_max": 1000}"#)
                .unwrap_err()
                .to_string(),
            "inverted range: size_min is greater than size_max"
        );
        assert_eq!(
            documents(r#"{"created_from": "t9", "created_to": "t1", "updated_from": "t9", "updated_to": "t1"}"#).unwrap_err(),
            FilterError::Inverted("created_from is after created_to")
        );
        assert_eq!(
            documents(r#"{"updated_from": "t9", "updated_to": "t1"}"#).unwrap_err(),
            FilterError::Inverted("updated_from is after updated_to")
        );
    }

    #[test]
    fn cursors_round_trip_and_belong_to_their_search() {
        let cursor = encode_cursor(Kind::Documents, "0123456789abcdef", 0, 42);
        let at = |cursor: &str, kind: &str, fingerprint: &str| {
            check(
                kind,
                Some("{}"),
                Some(5),
                Some(cursor),
                fingerprint,
                &mut fixture(),
            )
            .map(|f| f.after)
        };
        assert_eq!(
            at(&cursor, "documents", "0123456789abcdef"),
            Ok(Some((0, 42)))
        );
        assert_eq!(
            at(&cursor, "projects", "0123456789abcdef"),
            Err(FilterError::ForeignCursor)
        );
        assert_eq!(
            at(&cursor, "documents", "fedcba9876543210"),
            Err(FilterError::ForeignCursor)
        );
        let big = encode_cursor(
            Kind::Projects,
            "fedcba9876543210",
            999_999_999_999_999_999,
            7,
        );
        assert_eq!(
            at(&big, "projects", "fedcba9876543210"),
            Ok(Some((999_999_999_999_999_999, 7)))
        );
        let malformed = |text: &str| CURSOR_BASE64.encode(text);
        for bad in [
            "not a cursor".to_string(),
            "abcde".to_string(),
            "Zm9vYmFy".to_string(),
            "A".repeat(201),
            malformed("v2|documents|0123456789abcdef|0|42"),
            malformed("v1|documents|0123456789abcdeF|0|42"),
            malformed("v1|documents|0123456789abcdef|01|42"),
            malformed("v1|documents|0123456789abcdef|0|0"),
            malformed("v1|documents|0123456789abcdef|0|1234567890123456789"),
            malformed("v1|files|0123456789abcdef|0|42"),
            malformed("v1|documents|0123456789abcdef|0|42|"),
        ] {
            let err = at(&bad, "documents", "0123456789abcdef").unwrap_err();
            assert!(err.is_malformed(), "{bad}: {err:?}");
        }
    }

    #[test]
    fn cursor_text_matches_what_postgresql_decodes() {
        // encode(convert_to('v1|documents|0123456789abcdef|5|42', 'UTF8'), 'base64') with
        // + / = and newlines translated away, as the search functions made cursors in SQL
        // before D54 (a #[pg_test] in src/discovery.rs compares the two over many values).
        assert_eq!(
            encode_cursor(Kind::Documents, "0123456789abcdef", 5, 42),
            "djF8ZG9jdW1lbnRzfDAxMjM0NTY3ODlhYmNkZWZ8NXw0Mg"
        );
    }
}
