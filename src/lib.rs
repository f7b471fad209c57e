//! pulse: ProjectPulse inside PostgreSQL.
//!
//! The schema is hand-written SQL in `sql/`, pulled into the install script in dependency
//! order below; Rust implements what SQL cannot do well or safely. See README.md for the
//! map of where each concern lives.

use pgrx::prelude::*;

pub mod access;
pub mod c_function;
pub mod direct_read;
pub mod discovery;
pub mod documents;
pub mod errors;
pub mod history;
pub mod identity;
pub mod kept_plans;
pub mod reference_guard;
pub mod reference_tables;
pub mod session_monitor;
pub mod settings;
pub mod spi_read;
pub mod through_sql;
pub mod transaction;
pub mod trigger_entry;

pgrx::pg_module_magic!();

/// Runs once per backend, when the library is loaded.
#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    settings::register();
    session_monitor::init();
    transaction::register_callbacks();
    identity::register_callbacks();
    direct_read::register_callbacks();
    history::register_callbacks();
    documents::signer::register_callbacks();
}

extension_sql_file!("../sql/bootstrap.sql", name = "bootstrap", bootstrap);
extension_sql_file!("../sql/reference.sql", name = "reference");
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
extension_sql_file!(
    "../sql/identity.sql",
    name = "identity",
    requires = [
        "audit",
        identity::pulse::strong_random_key,
        identity::pulse::new_session_token,
        identity::pulse::authenticate,
        identity::pulse::current_user_id,
        identity::pulse::current_session_id,
        identity::pulse::current_user_is_system_admin,
        identity::pulse::check_password_hash,
    ]
);
extension_sql_file!(
    "../sql/access.sql",
    name = "access",
    requires = [
        "identity",
        access::pulse::caller_project_ids,
        access::pulse::caller_all_projects_from,
        access::pulse::caller_is_auditor_sql,
    ]
);
extension_sql_file!(
    "../sql/history.sql",
    name = "history",
    requires = [
        "access",
        history::pulse::set_change_reason,
        history::chain::audit::verify,
        history::chain::audit::purge_chain_prefix,
        history::rollback::audit::project_diff,
        history::rollback::audit::document_diff,
        history::rollback::audit::rollback_project,
        history::rollback::audit::rollback_document,
    ]
);
extension_sql_file!(
    "../sql/document_lifecycle.sql",
    name = "document_lifecycle",
    requires = [
        "history",
        documents::checksum::pulse::sha256_hex,
        documents::checksum::pulse::sha256_bytes,
        documents::checksum::pulse::is_sha256_hex_sql,
        documents::signer::pulse::s3_presign,
        documents::gate::documents::upload_url,
        documents::gate::documents::download_url,
    ]
);
extension_sql_file!(
    "../sql/session_monitor.sql",
    name = "session_monitor",
    requires = [
        "identity",
        session_monitor::users::session_backends,
        session_monitor::users::failed_authentications,
    ]
);
extension_sql_file!(
    "../sql/traceability.sql",
    name = "traceability",
    requires = ["document_lifecycle", "session_monitor"]
);
extension_sql_file!(
    "../sql/discovery.sql",
    name = "discovery",
    requires = ["document_lifecycle"]
);
extension_sql_file!(
    "../sql/scale_out.sql",
    name = "scale_out",
    requires = ["traceability", "discovery"]
);
extension_sql_file!("../sql/finalize.sql", name = "finalize", finalize);

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
