//! pulse's reference tables that other rows point to (`phase_id` → `pulse.phase_reference`),
//! listed once for the code that reads them without SQL: the labels of history snapshots and
//! the codes of a discovery filter.

use std::ffi::CStr;

/// A reference table a column points to.
pub struct Reference {
    /// The referencing column (`phase_id`), which is also the reference table's key column.
    pub column: &'static CStr,
    /// The name snapshots give it (`phase`).
    pub key: &'static str,
    /// The table in schema pulse and its primary key index.
    pub table: &'static CStr,
    pub pkey: &'static CStr,
}

impl Reference {
    /// `column` as text.
    pub fn column_name(&self) -> &'static str {
        self.column
            .to_str()
            .expect("reference column names are ASCII")
    }
}

pub const REFERENCES: &[Reference] = &[
    Reference {
        column: c"phase_id",
        key: "phase",
        table: c"phase_reference",
        pkey: c"phase_reference_pkey",
    },
    Reference {
        column: c"priority_id",
        key: "priority",
        table: c"priority_reference",
        pkey: c"priority_reference_pkey",
    },
    Reference {
        column: c"license_id",
        key: "license",
        table: c"license_reference",
        pkey: c"license_reference_pkey",
    },
    Reference {
        column: c"filetype_id",
        key: "filetype",
        table: c"filetype_reference",
        pkey: c"filetype_reference_pkey",
    },
    Reference {
        column: c"storage_id",
        key: "storage",
        table: c"storage_reference",
        pkey: c"storage_reference_pkey",
    },
    Reference {
        column: c"feature_id",
        key: "feature",
        table: c"feature_reference",
        pkey: c"feature_reference_pkey",
    },
    Reference {
        column: c"tech_stack_id",
        key: "tech_stack",
        table: c"tech_stack_reference",
        pkey: c"tech_stack_reference_pkey",
    },
    Reference {
        column: c"tag_id",
        key: "tag",
        table: c"tag_reference",
        pkey: c"tag_reference_pkey",
    },
    Reference {
        column: c"access_role_id",
        key: "role",
        table: c"access_role_reference",
        pkey: c"access_role_reference_pkey",
    },
];

pub fn reference_of_column(column: &str) -> Option<&'static Reference> {
    // Compared as bytes: every audited column of every captured row is looked up here.
    REFERENCES
        .iter()
        .find(|r| r.column.to_bytes() == column.as_bytes())
}

/// The reference table snapshots name `key` (`phase`, `feature`, ...).
pub fn reference_of_key(key: &str) -> Option<&'static Reference> {
    REFERENCES.iter().find(|r| r.key == key)
}
