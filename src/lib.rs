//! pulse: ProjectPulse inside PostgreSQL.
//!
//! The schema is hand-written SQL in `sql/`, pulled into the install script in dependency
//! order below; Rust implements what SQL cannot do well or safely. See README.md for the
//! map of where each concern lives.

use pgrx::prelude::*;

pub mod errors;
pub mod reference_guard;

pgrx::pg_module_magic!();

extension_sql_file!("../sql/bootstrap.sql", name = "bootstrap", bootstrap);
extension_sql_file!(
    "../sql/reference.sql",
    name = "reference",
    requires = [reference_guard::pulse::reference_guard]
);
extension_sql_file!(
    "../sql/reference_seed.sql",
    name = "reference_seed",
    requires = ["reference"]
);
extension_sql_file!("../sql/users.sql", name = "users", requires = ["reference"]);
extension_sql_file!(
    "../sql/projects.sql",
    name = "projects",
    requires = ["users"]
);
extension_sql_file!(
    "../sql/documents.sql",
    name = "documents",
    requires = ["projects"]
);
extension_sql_file!("../sql/audit.sql", name = "audit", requires = ["documents"]);

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    #[pg_test(
        error = "built-in reference row \"high\" of pulse.priority_reference cannot be changed"
    )]
    fn builtin_reference_rows_are_immutable() {
        Spi::run("UPDATE pulse.priority_reference SET label = 'Urgent' WHERE code = 'high'")
            .unwrap();
    }
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
