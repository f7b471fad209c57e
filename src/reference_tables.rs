//! pulse's reference tables that other rows point to (`phase_id` → `pulse.phase_reference`),
//! listed once for the code that reads them without SQL: the labels of history snapshots and
//! the codes of a discovery filter.

use std::ffi::CStr;

/// A reference table a column points to.
pub struct Reference {
    /// The referencing column (`phase_id`), also the reference table's key column.
    pub column: &'static str,
    /// The name snapshots give it (`phase`).
    pub key: &'static str,
    /// The table in schema pulse, its primary key index and its id column.
    pub table: &'static CStr,
    pub pkey: &'static CStr,
    pub id: &'static CStr,
}

pub const REFERENCES: &[Reference] = &[
    Reference {
        column: "phase_id",
        key: "phase",
        table: c"phase_reference",
        pkey: c"phase_reference_pkey",
        id: c"phase_id",
    },
    Reference {
        column: "priority_id",
        key: "priority",
        table: c"priority_reference",
        pkey: c"priority_reference_pkey",
        id: c"priority_id",
    },
    Reference {
        column: "license_id",
        key: "license",
        table: c"license_reference",
        pkey: c"license_reference_pkey",
        id: c"license_id",
    },
    Reference {
        column: "filetype_id",
        key: "filetype",
        table: c"filetype_reference",
        pkey: c"filetype_reference_pkey",
        id: c"filetype_id",
    },
    Reference {
        column: "storage_id",
        key: "storage",
        table: c"storage_reference",
        pkey: c"storage_reference_pkey",
        id: c"storage_id",
    },
    Reference {
        column: "feature_id",
        key: "feature",
        table: c"feature_reference",
        pkey: c"feature_reference_pkey",
        id: c"feature_id",
    },
    Reference {
        column: "tech_stack_id",
        key: "tech_stack",
        table: c"tech_stack_reference",
        pkey: c"tech_stack_reference_pkey",
        id: c"tech_stack_id",
    },
    Reference {
        column: "tag_id",
        key: "tag",
        table: c"tag_reference",
        pkey: c"tag_reference_pkey",
        id: c"tag_id",
    },
    Reference {
        column: "access_role_id",
        key: "role",
        table: c"access_role_reference",
        pkey: c"access_role_reference_pkey",
        id: c"access_role_id",
    },
];

pub fn reference_of_column(column: &str) -> Option<&'static Reference> {
    REFERENCES.iter().find(|r| r.column == column)
}

/// The reference table snapshots name `key` (`phase`, `feature`, ...).
pub fn reference_of_key(key: &str) -> Option<&'static Reference> {
    REFERENCES.iter().find(|r| r.key == key)
}
