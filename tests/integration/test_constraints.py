"""Every CHECK, foreign key, primary key and unique constraint of pulse rejects a bad row
with the expected SQLSTATE and names itself.

Each table has a valid default row (tested on its own: it inserts). Each case changes
that row in one place, so the only thing wrong with it is what the constraint forbids.
A last test compares the cases with the catalog, so a constraint added without a case
fails the suite.
"""

import psycopg
import pytest

from populate import BCRYPT

R = "(SELECT {k} FROM pulse.{t} WHERE code = '{c}')"


def ref(table: str, code: str) -> str:
    return R.format(k=table.replace("_reference", "_id"), t=table, c=code)


# A valid row per table: column -> SQL expression; {name} placeholders come from populate().
DEFAULTS = {
    "pulse.access_role_reference": {"code": "'auditor'", "label": "'Auditor'", "rank": "5"},
    "pulse.feature_reference": {"code": "'sso'", "label": "'SSO'", "category": "'security'"},
    "pulse.tech_stack_reference": {"code": "'zig'", "label": "'Zig'", "category": "'language'"},
    "pulse.license_reference": {"code": "'EUPL-1.2'", "label": "'EUPL'", "category": "'weak_copyleft'"},
    "pulse.phase_reference": {"code": "'retired'", "label": "'Retired'", "sort_order": "90"},
    "pulse.decision_type_reference": {"code": "'legal'", "label": "'Legal'", "category": "'governance'"},
    "pulse.tag_reference": {"code": "'urgent'", "label": "'Urgent'", "category": "'status'"},
    "pulse.filetype_reference": {"code": "'toml'", "mime_type": "'application/toml'", "label": "'TOML'",
                                 "category": "'data'", "extensions": "'{{toml}}'"},
    "pulse.storage_reference": {"code": "'archive'", "label": "'Archive'", "provider": "'aws_s3'",
                                "bucket": "'pulse-archive'"},
    "pulse.priority_reference": {"code": "'trivial'", "label": "'Trivial'", "rank": "5"},
    "pulse.identity_key": {"key": "sha256('k')"},
    "pulse.redaction_salt": {"salt": "sha256('s')"},
    "audit.ddl_log": {"event": "'sql_drop'", "command_tag": "'DROP TABLE'"},
    "audit.legal_hold": {"project_id": "{project_deleted}", "reason": "'case'"},
    "audit.history_tombstone": {"project_id": "{project}", "history_table": "'audit.project_history'",
                                "entity_id": "{project}", "up_to_version": "1000", "removed_rows": "1",
                                "removed_hash": "sha256('h')", "reason": "'retention'"},
    "audit.column_policy": {"table_name": "'documents.documents'", "column_name": "'title'", "treatment": "'exclude'"},
    "pulse.auditor_role": {"role_name": "'compliance_bot'"},
    "users.users": {"email": "'dave@example.com'", "display_name": "'Dave'"},
    "users.sessions": {"user_id": "{bob}", "token_hash": "sha256('new-token')",
                       "expires_at": "now() + interval '1 hour'"},
    "projects.projects": {"name": "'Mercury'", "owner_id": "{alice}", "phase_id": ref("phase_reference", "idea"),
                          "priority_id": ref("priority_reference", "low")},
    "projects.project_member": {"project_id": "{project}", "user_id": "{carol}",
                                "access_role_id": ref("access_role_reference", "viewer")},
    "projects.project_feature": {"project_id": "{project}", "feature_id": ref("feature_reference", "billing")},
    "projects.project_tech_stack": {"project_id": "{project}", "tech_stack_id": ref("tech_stack_reference", "rust")},
    "projects.project_tag": {"project_id": "{project}", "tag_id": ref("tag_reference", "legacy")},
    "projects.project_decision_log": {"project_id": "{project}", "decision_type_id": ref("decision_type_reference", "scope"),
                                      "title": "'Scope'", "rationale": "'Because'"},
    "projects.decision_feature": {"project_id": "{project}", "decision_id": "{decision}",
                                  "feature_id": ref("feature_reference", "billing")},
    "documents.documents": {"project_id": "{project}", "title": "'Plan'", "file_name": "'plan.txt'",
                            "filetype_id": ref("filetype_reference", "txt"), "storage_id": "{storage}",
                            "object_key": "'pulse/plan'", "size_bytes": "1", "checksum_sha256": "repeat('a', 64)",
                            "priority_id": ref("priority_reference", "low"), "phase_id": ref("phase_reference", "idea")},
    "projects.decision_document": {"project_id": "{project}", "decision_id": "{decision_proposed}",
                                   "document_id": "{document}"},
    "audit.project_history": {"project_id": "{project}", "version": "1000", "operation": "'UPDATE'",
                              "snapshot": "jsonb_build_object()", "change_summary": "'x'",
                              "prev_hash": "sha256('p')", "row_hash": "sha256('r')"},
    "audit.document_history": {"project_id": "{project}", "document_id": "{document}", "version": "1000",
                               "operation": "'UPDATE'", "snapshot": "jsonb_build_object()", "change_summary": "'x'",
                               "prev_hash": "sha256('p')", "row_hash": "sha256('r')"},
    "pulse.storage_credential": {"storage_id": "{storage_spare}", "access_key_id": "'AKIDEXAMPLE'",
                                 "secret_access_key": "'secret'"},
    "documents.document_revision": {"project_id": "{project}", "document_id": "{document}", "version": "1000",
                                    "object_key": "'pulse/p1/sha256/x'", "file_name": "'spec.pdf'",
                                    "filetype_id": ref("filetype_reference", "pdf"), "storage_id": "{storage}",
                                    "size_bytes": "1", "checksum_sha256": "repeat('b', 64)"},
    "documents.url_grant": {"project_id": "{project}", "document_id": "{document}", "version": "1", "method": "'GET'",
                            "user_id": "{bob}", "session_id": "gen_random_uuid()", "issued_at": "now()",
                            "expires_at": "now() + interval '1 minute'"},
    "audit.project_chain": {"project_id": "999999", "version": "1", "row_hash": "sha256('r')"},
    "audit.document_chain": {"project_id": "999999", "document_id": "1", "version": "1", "row_hash": "sha256('r')"},
}

# What must go first for a table's default row to be valid (the key table holds one row).
MAKE_ROOM = {"pulse.identity_key": "DELETE FROM pulse.identity_key",
             "pulse.redaction_salt": "DELETE FROM pulse.redaction_salt"}

IDENTITY = {"pulse": "_id", "users.users": "user_id", "documents.url_grant": "grant_id", "projects.projects": "project_id", "audit.ddl_log": "event_id",
            "audit.legal_hold": "hold_id",
            "projects.project_decision_log": "decision_id", "documents.documents": "document_id"}

CHECK = "23514"
FOREIGN_KEY = "23503"
UNIQUE = "23505"
LONG = "repeat('x', {n})"

# (constraint, expected SQLSTATE, table, overrides)
CASES = [
    # pulse.access_role_reference
    ("access_role_reference_code_format", CHECK, "pulse.access_role_reference", {"code": "'Auditor'"}),
    ("access_role_reference_label_format", CHECK, "pulse.access_role_reference", {"label": "' padded '"}),
    ("access_role_reference_rank_positive", CHECK, "pulse.access_role_reference", {"rank": "0"}),
    ("access_role_reference_permissions_need_read", CHECK, "pulse.access_role_reference",
     {"can_read": "false", "can_write": "true"}),
    ("access_role_reference_administer_implies_all", CHECK, "pulse.access_role_reference", {"can_administer": "true"}),
    ("access_role_reference_code_key", UNIQUE, "pulse.access_role_reference", {"code": "'owner'"}),
    ("access_role_reference_rank_key", UNIQUE, "pulse.access_role_reference", {"rank": "40"}),
    ("access_role_reference_pkey", UNIQUE, "pulse.access_role_reference", {"access_role_id": "1"}),
    # pulse.feature_reference
    ("feature_reference_code_format", CHECK, "pulse.feature_reference", {"code": "'single sign-on'"}),
    ("feature_reference_label_format", CHECK, "pulse.feature_reference", {"label": "''"}),
    ("feature_reference_category_format", CHECK, "pulse.feature_reference", {"category": "'Security!'"}),
    ("feature_reference_code_key", UNIQUE, "pulse.feature_reference", {"code": "'search'"}),
    ("feature_reference_pkey", UNIQUE, "pulse.feature_reference", {"feature_id": "1"}),
    # pulse.tech_stack_reference
    ("tech_stack_reference_code_format", CHECK, "pulse.tech_stack_reference", {"code": "'-zig'"}),
    ("tech_stack_reference_label_format", CHECK, "pulse.tech_stack_reference", {"label": LONG.format(n=201)}),
    ("tech_stack_reference_category_check", CHECK, "pulse.tech_stack_reference", {"category": "'toolchain'"}),
    ("tech_stack_reference_code_key", UNIQUE, "pulse.tech_stack_reference", {"code": "'rust'"}),
    ("tech_stack_reference_pkey", UNIQUE, "pulse.tech_stack_reference", {"tech_stack_id": "1"}),
    # pulse.license_reference
    ("license_reference_code_format", CHECK, "pulse.license_reference", {"code": "'EUPL 1.2'"}),
    ("license_reference_label_format", CHECK, "pulse.license_reference", {"label": "'   '"}),
    ("license_reference_category_check", CHECK, "pulse.license_reference", {"category": "'free'"}),
    ("license_reference_code_key", UNIQUE, "pulse.license_reference", {"code": "'MIT'"}),
    ("license_reference_code_ci_key", UNIQUE, "pulse.license_reference", {"code": "'mit'"}),
    ("license_reference_pkey", UNIQUE, "pulse.license_reference", {"license_id": "1"}),
    # pulse.phase_reference
    ("phase_reference_code_format", CHECK, "pulse.phase_reference", {"code": "'re tired'"}),
    ("phase_reference_label_format", CHECK, "pulse.phase_reference", {"label": "'Retired '"}),
    ("phase_reference_sort_order_positive", CHECK, "pulse.phase_reference", {"sort_order": "-1"}),
    ("phase_reference_retention_positive", CHECK, "pulse.phase_reference", {"retention_policy": "interval '-1 day'"}),
    ("phase_reference_code_key", UNIQUE, "pulse.phase_reference", {"code": "'build'"}),
    ("phase_reference_sort_order_key", UNIQUE, "pulse.phase_reference", {"sort_order": "40"}),
    ("phase_reference_pkey", UNIQUE, "pulse.phase_reference", {"phase_id": "1"}),
    # pulse.decision_type_reference
    ("decision_type_reference_code_format", CHECK, "pulse.decision_type_reference", {"code": "'LEGAL'"}),
    ("decision_type_reference_label_format", CHECK, "pulse.decision_type_reference", {"label": "''"}),
    ("decision_type_reference_category_format", CHECK, "pulse.decision_type_reference", {"category": "''"}),
    ("decision_type_reference_retention_positive", CHECK, "pulse.decision_type_reference",
     {"retention_policy": "interval '0'"}),
    ("decision_type_reference_code_key", UNIQUE, "pulse.decision_type_reference", {"code": "'security'"}),
    ("decision_type_reference_pkey", UNIQUE, "pulse.decision_type_reference", {"decision_type_id": "1"}),
    # pulse.tag_reference
    ("tag_reference_code_format", CHECK, "pulse.tag_reference", {"code": "'urgent!'"}),
    ("tag_reference_label_format", CHECK, "pulse.tag_reference", {"label": "E'tab\\there'"}),
    ("tag_reference_category_format", CHECK, "pulse.tag_reference", {"category": "'two words'"}),
    ("tag_reference_code_key", UNIQUE, "pulse.tag_reference", {"code": "'legacy'"}),
    ("tag_reference_pkey", UNIQUE, "pulse.tag_reference", {"tag_id": "1"}),
    # pulse.filetype_reference
    ("filetype_reference_code_format", CHECK, "pulse.filetype_reference", {"code": "'.toml'"}),
    ("filetype_reference_label_format", CHECK, "pulse.filetype_reference", {"label": "' TOML'"}),
    ("filetype_reference_mime_type_normalized", CHECK, "pulse.filetype_reference",
     {"mime_type": "'Application/TOML; charset=utf-8'"}),
    ("filetype_reference_category_check", CHECK, "pulse.filetype_reference", {"category": "'config'"}),
    ("filetype_reference_extensions_format", CHECK, "pulse.filetype_reference", {"extensions": "'{{.toml}}'"}),
    ("filetype_reference_retention_positive", CHECK, "pulse.filetype_reference", {"retention_policy": "interval '0'"}),
    ("filetype_reference_code_key", UNIQUE, "pulse.filetype_reference", {"code": "'pdf'"}),
    ("filetype_reference_mime_type_key", UNIQUE, "pulse.filetype_reference", {"mime_type": "'application/pdf'"}),
    ("filetype_reference_pkey", UNIQUE, "pulse.filetype_reference", {"filetype_id": "1"}),
    # pulse.storage_reference
    ("storage_reference_code_format", CHECK, "pulse.storage_reference", {"code": "'Archive'"}),
    ("storage_reference_label_format", CHECK, "pulse.storage_reference", {"label": "''"}),
    ("storage_reference_provider_check", CHECK, "pulse.storage_reference", {"provider": "'azure_blob'", "endpoint": "'https://blob.example.com'"}),
    ("storage_reference_bucket_format", CHECK, "pulse.storage_reference", {"bucket": "'Pulse_Archive'"}),
    ("storage_reference_region_format", CHECK, "pulse.storage_reference", {"region": "'EU West'"}),
    ("storage_reference_endpoint_format", CHECK, "pulse.storage_reference",
     {"endpoint": "'https://key:secret@s3.example.com/path'"}),
    ("storage_reference_addressing_style_check", CHECK, "pulse.storage_reference", {"addressing_style": "'dns'"}),
    ("storage_reference_key_prefix_format", CHECK, "pulse.storage_reference", {"key_prefix": "'/absolute/'"}),
    ("storage_reference_endpoint_required", CHECK, "pulse.storage_reference", {"provider": "'minio'"}),
    ("storage_reference_retention_positive", CHECK, "pulse.storage_reference", {"retention_policy": "interval '-1 year'"}),
    ("storage_reference_code_key", UNIQUE, "pulse.storage_reference", {"code": "'local'"}),
    ("storage_reference_pkey", UNIQUE, "pulse.storage_reference", {"storage_id": "{storage}"}),
    # pulse.priority_reference
    ("priority_reference_code_format", CHECK, "pulse.priority_reference", {"code": "'Trivial'"}),
    ("priority_reference_label_format", CHECK, "pulse.priority_reference", {"label": "''"}),
    ("priority_reference_rank_positive", CHECK, "pulse.priority_reference", {"rank": "0"}),
    ("priority_reference_code_key", UNIQUE, "pulse.priority_reference", {"code": "'high'"}),
    ("priority_reference_rank_key", UNIQUE, "pulse.priority_reference", {"rank": "10"}),
    ("priority_reference_pkey", UNIQUE, "pulse.priority_reference", {"priority_id": "1"}),
    # pulse.identity_key, pulse.auditor_role
    ("identity_key_singleton", CHECK, "pulse.identity_key", {"singleton": "false"}),
    ("identity_key_length", CHECK, "pulse.identity_key", {"key": "'\\x00'::bytea"}),
    ("identity_key_pkey", UNIQUE, "pulse.identity_key", {}),
    ("redaction_salt_singleton", CHECK, "pulse.redaction_salt", {"singleton": "false"}),
    ("redaction_salt_length", CHECK, "pulse.redaction_salt", {"salt": "'\\x00'::bytea"}),
    ("redaction_salt_pkey", UNIQUE, "pulse.redaction_salt", {}),
    ("legal_hold_reason_length", CHECK, "audit.legal_hold", {"reason": "''"}),
    ("legal_hold_released_after_placed", CHECK, "audit.legal_hold", {"released_at": "now() - interval '1 day'"}),
    ("legal_hold_pkey", UNIQUE, "audit.legal_hold", {"project_id": "{project}", "hold_id": "{hold}"}),
    ("legal_hold_active_idx", UNIQUE, "audit.legal_hold", {"project_id": "{project}"}),
    ("history_tombstone_table_check", CHECK, "audit.history_tombstone", {"history_table": "'audit.ddl_log'"}),
    ("history_tombstone_version_positive", CHECK, "audit.history_tombstone", {"up_to_version": "0"}),
    ("history_tombstone_removed_positive", CHECK, "audit.history_tombstone", {"removed_rows": "0"}),
    ("history_tombstone_removed_hash_sha256", CHECK, "audit.history_tombstone", {"removed_hash": "'\\x00'::bytea"}),
    ("history_tombstone_reason_length", CHECK, "audit.history_tombstone", {"reason": LONG.format(n=2001)}),
    ("history_tombstone_pkey", UNIQUE, "audit.history_tombstone", {"up_to_version": "{tombstone_version}"}),
    ("ddl_log_event_check", CHECK, "audit.ddl_log", {"event": "'ddl_command_start'"}),
    ("ddl_log_project_zero", CHECK, "audit.ddl_log", {"project_id": "7"}),
    ("ddl_log_pkey", UNIQUE, "audit.ddl_log", {"event_id": "1"}),
    ("column_policy_table_check", CHECK, "audit.column_policy", {"table_name": "'projects.project_tag'"}),
    ("column_policy_treatment_check", CHECK, "audit.column_policy", {"treatment": "'hide'"}),
    ("column_policy_pkey", UNIQUE, "audit.column_policy", {"column_name": "'image_url'"}),
    ("auditor_role_pkey", UNIQUE, "pulse.auditor_role", {"role_name": "'pulse_test_auditor'"}),
    # users.users
    ("users_email_format", CHECK, "users.users", {"email": "'dave at example.com'"}),
    ("users_display_name_format", CHECK, "users.users", {"display_name": "' Dave'"}),
    ("users_password_hash_phc", CHECK, "users.users", {"password_hash": "'hunter2'"}),
    ("users_updated_after_created", CHECK, "users.users", {"updated_at": "now() - interval '1 day'"}),
    ("users_deleted_after_created", CHECK, "users.users",
     {"deleted_at": "now() - interval '1 day'", "is_active": "false"}),
    ("users_deleted_is_inactive", CHECK, "users.users", {"deleted_at": "now()"}),
    ("users_email_key", UNIQUE, "users.users", {"email": "'ALICE@example.com'"}),
    ("users_pkey", UNIQUE, "users.users", {"user_id": "{alice}"}),
    # users.sessions
    ("sessions_token_hash_sha256", CHECK, "users.sessions", {"token_hash": "'\\x00'::bytea"}),
    ("sessions_expires_after_created", CHECK, "users.sessions", {"expires_at": "now()"}),
    ("sessions_revoked_after_created", CHECK, "users.sessions", {"revoked_at": "now() - interval '1 hour'"}),
    ("sessions_reason_needs_revocation", CHECK, "users.sessions", {"revoked_reason": "'signed out'"}),
    ("sessions_reason_format", CHECK, "users.sessions", {"revoked_at": "now()", "revoked_reason": "''"}),
    ("sessions_active_after_created", CHECK, "users.sessions", {"last_active_at": "now() - interval '1 hour'"}),
    ("sessions_user_agent_format", CHECK, "users.sessions", {"user_agent": "E'curl\\n'"}),
    ("sessions_metadata_object", CHECK, "users.sessions", {"metadata": "'[1, 2]'"}),
    ("sessions_user_id_fkey", FOREIGN_KEY, "users.sessions", {"user_id": "-1"}),
    ("sessions_token_hash_key", UNIQUE, "users.sessions", {"token_hash": "sha256('token-1')"}),
    ("sessions_pkey", UNIQUE, "users.sessions", {"session_id": "'{session}'"}),
    # projects.projects
    ("projects_name_format", CHECK, "projects.projects", {"name": "'Mercury '"}),
    ("projects_description_length", CHECK, "projects.projects", {"description": LONG.format(n=20001)}),
    ("projects_version_positive", CHECK, "projects.projects", {"version": "0"}),
    ("projects_updated_after_created", CHECK, "projects.projects", {"updated_at": "now() - interval '1 day'"}),
    ("projects_deleted_after_created", CHECK, "projects.projects", {"deleted_at": "now() - interval '1 day'"}),
    ("projects_deleted_by_needs_deleted_at", CHECK, "projects.projects", {"deleted_by": "{alice}"}),
    ("projects_owner_id_fkey", FOREIGN_KEY, "projects.projects", {"owner_id": "-1"}),
    ("projects_license_id_fkey", FOREIGN_KEY, "projects.projects", {"license_id": "-1"}),
    ("projects_phase_id_fkey", FOREIGN_KEY, "projects.projects", {"phase_id": "-1"}),
    ("projects_priority_id_fkey", FOREIGN_KEY, "projects.projects", {"priority_id": "-1"}),
    ("projects_created_by_fkey", FOREIGN_KEY, "projects.projects", {"created_by": "-1"}),
    ("projects_updated_by_fkey", FOREIGN_KEY, "projects.projects", {"updated_by": "-1"}),
    ("projects_deleted_by_fkey", FOREIGN_KEY, "projects.projects", {"deleted_at": "now()", "deleted_by": "-1"}),
    ("projects_pkey", UNIQUE, "projects.projects", {"project_id": "{project}"}),
    # projects.project_member
    ("project_member_project_id_fkey", FOREIGN_KEY, "projects.project_member", {"project_id": "-1"}),
    ("project_member_user_id_fkey", FOREIGN_KEY, "projects.project_member", {"user_id": "-1"}),
    ("project_member_access_role_id_fkey", FOREIGN_KEY, "projects.project_member", {"access_role_id": "-1"}),
    ("project_member_added_by_fkey", FOREIGN_KEY, "projects.project_member", {"added_by": "-1"}),
    ("project_member_pkey", UNIQUE, "projects.project_member", {"user_id": "{bob}"}),
    # projects.project_feature / project_tech_stack / project_tag
    ("project_feature_project_id_fkey", FOREIGN_KEY, "projects.project_feature", {"project_id": "-1"}),
    ("project_feature_feature_id_fkey", FOREIGN_KEY, "projects.project_feature", {"feature_id": "-1"}),
    ("project_feature_added_by_fkey", FOREIGN_KEY, "projects.project_feature", {"added_by": "-1"}),
    ("project_feature_pkey", UNIQUE, "projects.project_feature", {"feature_id": ref("feature_reference", "search")}),
    ("project_tech_stack_project_id_fkey", FOREIGN_KEY, "projects.project_tech_stack", {"project_id": "-1"}),
    ("project_tech_stack_tech_stack_id_fkey", FOREIGN_KEY, "projects.project_tech_stack", {"tech_stack_id": "-1"}),
    ("project_tech_stack_added_by_fkey", FOREIGN_KEY, "projects.project_tech_stack", {"added_by": "-1"}),
    ("project_tech_stack_pkey", UNIQUE, "projects.project_tech_stack",
     {"tech_stack_id": ref("tech_stack_reference", "postgresql")}),
    ("project_tag_project_id_fkey", FOREIGN_KEY, "projects.project_tag", {"project_id": "-1"}),
    ("project_tag_tag_id_fkey", FOREIGN_KEY, "projects.project_tag", {"tag_id": "-1"}),
    ("project_tag_added_by_fkey", FOREIGN_KEY, "projects.project_tag", {"added_by": "-1"}),
    ("project_tag_pkey", UNIQUE, "projects.project_tag", {"tag_id": ref("tag_reference", "security")}),
    # projects.project_decision_log
    ("project_decision_log_title_format", CHECK, "projects.project_decision_log", {"title": "''"}),
    ("project_decision_log_rationale_present", CHECK, "projects.project_decision_log", {"rationale": "'  '"}),
    ("project_decision_log_impact_length", CHECK, "projects.project_decision_log", {"impact": LONG.format(n=50001)}),
    ("project_decision_log_status_check", CHECK, "projects.project_decision_log",
     {"status": "'maybe'", "decided_at": "now()"}),
    ("project_decision_log_decided_when_not_proposed", CHECK, "projects.project_decision_log", {"status": "'accepted'"}),
    ("project_decision_log_decided_by_needs_decided_at", CHECK, "projects.project_decision_log", {"decided_by": "{alice}"}),
    ("project_decision_log_decided_after_created", CHECK, "projects.project_decision_log",
     {"status": "'rejected'", "decided_at": "now() - interval '1 day'"}),
    ("project_decision_log_updated_after_created", CHECK, "projects.project_decision_log",
     {"updated_at": "now() - interval '1 day'"}),
    ("project_decision_log_project_id_fkey", FOREIGN_KEY, "projects.project_decision_log", {"project_id": "-1"}),
    ("project_decision_log_decision_type_id_fkey", FOREIGN_KEY, "projects.project_decision_log", {"decision_type_id": "-1"}),
    ("project_decision_log_decided_by_fkey", FOREIGN_KEY, "projects.project_decision_log",
     {"status": "'accepted'", "decided_at": "now()", "decided_by": "-1"}),
    ("project_decision_log_created_by_fkey", FOREIGN_KEY, "projects.project_decision_log", {"created_by": "-1"}),
    ("project_decision_log_updated_by_fkey", FOREIGN_KEY, "projects.project_decision_log", {"updated_by": "-1"}),
    ("project_decision_log_pkey", UNIQUE, "projects.project_decision_log", {"decision_id": "{decision}"}),
    # projects.decision_feature / decision_document
    ("decision_feature_project_id_decision_id_fkey", FOREIGN_KEY, "projects.decision_feature", {"decision_id": "-1"}),
    ("decision_feature_feature_id_fkey", FOREIGN_KEY, "projects.decision_feature", {"feature_id": "-1"}),
    ("decision_feature_pkey", UNIQUE, "projects.decision_feature", {"feature_id": ref("feature_reference", "search")}),
    ("decision_document_project_id_decision_id_fkey", FOREIGN_KEY, "projects.decision_document", {"decision_id": "-1"}),
    ("decision_document_project_id_document_id_fkey", FOREIGN_KEY, "projects.decision_document", {"document_id": "-1"}),
    ("decision_document_pkey", UNIQUE, "projects.decision_document", {"decision_id": "{decision}"}),
    # documents.documents
    ("documents_title_format", CHECK, "documents.documents", {"title": "E'Plan\\r'"}),
    ("documents_file_name_format", CHECK, "documents.documents", {"file_name": "'../etc/passwd'"}),
    ("documents_object_key_format", CHECK, "documents.documents", {"object_key": "E'pulse/\\x01'"}),
    ("documents_size_range", CHECK, "documents.documents", {"size_bytes": "-1"}),
    ("documents_checksum_sha256_hex", CHECK, "documents.documents", {"checksum_sha256": "repeat('A', 64)"}),
    ("documents_image_url_format", CHECK, "documents.documents", {"image_url": "'javascript:alert(1)'"}),
    ("documents_custom_properties_object", CHECK, "documents.documents", {"custom_properties": "'\"text\"'"}),
    ("documents_version_positive", CHECK, "documents.documents", {"version": "0"}),
    ("documents_available_after_created", CHECK, "documents.documents", {"available_at": "now() - interval '1 day'"}),
    ("documents_updated_after_created", CHECK, "documents.documents", {"updated_at": "now() - interval '1 day'"}),
    ("documents_deleted_after_created", CHECK, "documents.documents", {"deleted_at": "now() - interval '1 day'"}),
    ("documents_deleted_by_needs_deleted_at", CHECK, "documents.documents", {"deleted_by": "{alice}"}),
    ("documents_project_id_fkey", FOREIGN_KEY, "documents.documents", {"project_id": "-1"}),
    ("documents_filetype_id_fkey", FOREIGN_KEY, "documents.documents", {"filetype_id": "-1"}),
    ("documents_storage_id_fkey", FOREIGN_KEY, "documents.documents", {"storage_id": "-1"}),
    ("documents_priority_id_fkey", FOREIGN_KEY, "documents.documents", {"priority_id": "-1"}),
    ("documents_phase_id_fkey", FOREIGN_KEY, "documents.documents", {"phase_id": "-1"}),
    ("documents_uploaded_by_fkey", FOREIGN_KEY, "documents.documents", {"uploaded_by": "-1"}),
    ("documents_updated_by_fkey", FOREIGN_KEY, "documents.documents", {"updated_by": "-1"}),
    ("documents_deleted_by_fkey", FOREIGN_KEY, "documents.documents", {"deleted_at": "now()", "deleted_by": "-1"}),
    ("documents_pkey", UNIQUE, "documents.documents", {"document_id": "{document}"}),
    ("documents_deleted_with_project_needs_deleted_at", CHECK, "documents.documents", {"deleted_with_project": "true"}),
    # pulse.storage_credential
    ("storage_credential_pkey", UNIQUE, "pulse.storage_credential", {"storage_id": "{storage}"}),
    ("storage_credential_storage_id_fkey", FOREIGN_KEY, "pulse.storage_credential", {"storage_id": "-1"}),
    ("storage_credential_access_key_id_format", CHECK, "pulse.storage_credential", {"access_key_id": "'AK ID'"}),
    ("storage_credential_secret_not_empty", CHECK, "pulse.storage_credential", {"secret_access_key": "''"}),
    ("storage_credential_session_token_format", CHECK, "pulse.storage_credential", {"session_token": "E'tok\\nen'"}),
    ("storage_credential_max_expires_in_range", CHECK, "pulse.storage_credential", {"max_expires_in": "604801"}),
    # documents.document_revision
    ("document_revision_pkey", UNIQUE, "documents.document_revision", {"version": "1"}),
    ("document_revision_project_id_document_id_fkey", FOREIGN_KEY, "documents.document_revision", {"document_id": "-1"}),
    ("document_revision_filetype_id_fkey", FOREIGN_KEY, "documents.document_revision", {"filetype_id": "-1"}),
    ("document_revision_storage_id_fkey", FOREIGN_KEY, "documents.document_revision", {"storage_id": "-1"}),
    ("document_revision_uploaded_by_fkey", FOREIGN_KEY, "documents.document_revision", {"uploaded_by": "-1"}),
    ("document_revision_version_positive", CHECK, "documents.document_revision", {"version": "0"}),
    ("document_revision_size_range", CHECK, "documents.document_revision", {"size_bytes": "-1"}),
    ("document_revision_checksum_sha256_hex", CHECK, "documents.document_revision", {"checksum_sha256": "'abc'"}),
    ("document_revision_available_after_created", CHECK, "documents.document_revision",
     {"available_at": "now() - interval '1 day'"}),
    # documents.url_grant
    ("url_grant_pkey", UNIQUE, "documents.url_grant", {"grant_id": "{url_grant}"}),
    ("url_grant_user_id_fkey", FOREIGN_KEY, "documents.url_grant", {"user_id": "-1"}),
    ("url_grant_method_check", CHECK, "documents.url_grant", {"method": "'DELETE'"}),
    ("url_grant_expires_after_issued", CHECK, "documents.url_grant", {"expires_at": "now() - interval '1 minute'"}),
    # audit.project_history
    ("project_history_version_positive", CHECK, "audit.project_history", {"version": "0", "prev_hash": "NULL"}),
    ("project_history_operation_check", CHECK, "audit.project_history", {"operation": "'TRUNCATE'"}),
    ("project_history_project_version_positive", CHECK, "audit.project_history", {"project_version": "0"}),
    ("project_history_snapshot_object", CHECK, "audit.project_history", {"snapshot": "'null'::jsonb"}),
    ("project_history_changed_columns_no_nulls", CHECK, "audit.project_history", {"changed_columns": "ARRAY[NULL]::text[]"}),
    ("project_history_reason_length", CHECK, "audit.project_history", {"reason": "''"}),
    ("project_history_row_hash_sha256", CHECK, "audit.project_history", {"row_hash": "'\\x01'::bytea"}),
    ("project_history_prev_hash_sha256", CHECK, "audit.project_history", {"prev_hash": "'\\x01'::bytea"}),
    ("project_history_first_has_no_predecessor", CHECK, "audit.project_history", {"version": "1"}),
    ("project_history_pkey", UNIQUE, "audit.project_history", {"version": "2"}),
    # audit.project_chain, audit.document_chain
    ("project_chain_version_positive", CHECK, "audit.project_chain", {"version": "0"}),
    ("project_chain_row_hash_sha256", CHECK, "audit.project_chain", {"row_hash": "'\\x01'::bytea"}),
    ("project_chain_pkey", UNIQUE, "audit.project_chain", {"project_id": "{project}"}),
    ("document_chain_version_positive", CHECK, "audit.document_chain", {"version": "0"}),
    ("document_chain_row_hash_sha256", CHECK, "audit.document_chain", {"row_hash": "'\\x'::bytea"}),
    ("document_chain_pkey", UNIQUE, "audit.document_chain", {"project_id": "{project}", "document_id": "{document}"}),
    # audit.document_history
    ("document_history_version_positive", CHECK, "audit.document_history", {"version": "-5", "prev_hash": "NULL"}),
    ("document_history_operation_check", CHECK, "audit.document_history", {"operation": "'insert'"}),
    ("document_history_document_version_positive", CHECK, "audit.document_history", {"document_version": "0"}),
    ("document_history_checksum_sha256_hex", CHECK, "audit.document_history", {"checksum_sha256": "'abc'"}),
    ("document_history_snapshot_object", CHECK, "audit.document_history", {"snapshot": "'[]'::jsonb"}),
    ("document_history_changed_columns_no_nulls", CHECK, "audit.document_history",
     {"changed_columns": "ARRAY['title', NULL]"}),
    ("document_history_reason_length", CHECK, "audit.document_history", {"reason": LONG.format(n=2001)}),
    ("document_history_row_hash_sha256", CHECK, "audit.document_history", {"row_hash": "'\\x'::bytea"}),
    ("document_history_prev_hash_sha256", CHECK, "audit.document_history", {"prev_hash": "'\\x0102'::bytea"}),
    ("document_history_first_has_no_predecessor", CHECK, "audit.document_history", {"version": "1"}),
    ("document_history_pkey", UNIQUE, "audit.document_history", {"version": "1", "prev_hash": "NULL"}),
]


def prepare(conn, table: str) -> None:
    """History is written only by pulse's triggers; its own constraints are checked on rows
    written behind their back, as a superuser with triggers off can."""
    if table.startswith("audit."):
        conn.execute("SET LOCAL session_replication_role = replica")


def insert_sql(table: str, overrides: dict, ids: dict) -> str:
    row = {**DEFAULTS[table], **overrides}
    identity = IDENTITY.get(table) or (table.split(".")[1].replace("_reference", "_id") if table.startswith("pulse.") else None)
    overriding = " OVERRIDING SYSTEM VALUE" if identity in overrides else ""
    cols = ", ".join(row)
    vals = ", ".join(v.format(**ids) for v in row.values())
    return f"INSERT INTO {table} ({cols}){overriding} VALUES ({vals})"


@pytest.fixture(scope="module")
def conn(populated_db):
    with populated_db.connect() as c:
        yield c


@pytest.mark.parametrize("table", sorted(DEFAULTS))
def test_default_row_is_valid(conn, populated_db, table):
    """The baseline each case starts from is accepted, so a case fails only for its change."""
    try:
        prepare(conn, table)
        if table in MAKE_ROOM:
            conn.execute(MAKE_ROOM[table])
        conn.execute(insert_sql(table, {}, populated_db.ids))
    finally:
        conn.rollback()


@pytest.mark.parametrize("constraint,sqlstate,table,overrides", CASES, ids=[c[0] for c in CASES])
def test_constraint_rejects_bad_row(conn, populated_db, constraint, sqlstate, table, overrides):
    sql = insert_sql(table, overrides, populated_db.ids)
    try:
        prepare(conn, table)
        with pytest.raises(psycopg.Error) as raised:
            conn.execute(sql)
        diag = raised.value.diag
        assert (diag.sqlstate, diag.constraint_name) == (sqlstate, constraint), diag.message_primary
    finally:
        conn.rollback()


def test_every_constraint_has_a_case(conn):
    """Constraints and unique indexes in the catalog equal the cases above."""
    rows = conn.execute("""
        SELECT c.conname
          FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
         WHERE n.nspname IN ('pulse', 'users', 'projects', 'documents', 'audit') AND c.contype IN ('c', 'f', 'p', 'u')
        UNION ALL
        SELECT ic.relname
          FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ic.relnamespace
         WHERE n.nspname IN ('pulse', 'users', 'projects', 'documents', 'audit') AND i.indisunique
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)""").fetchall()
    in_catalog = sorted(r[0] for r in rows)
    covered = sorted(c[0] for c in CASES)
    assert len(covered) == len(set(covered)), "a constraint has two cases"
    assert sorted(set(in_catalog) - set(covered)) == [], "constraints without a case"
    assert sorted(set(covered) - set(in_catalog)) == [], "cases for constraints that do not exist"
    print(f"{len(covered)} constraints, each rejecting a bad row")


def test_password_hash_accepts_each_phc_family(conn):
    """The PHC CHECK is not so strict that real hashes fail (argon2id and scrypt are in populate)."""
    try:
        conn.execute("INSERT INTO users.users (email, display_name, password_hash) VALUES ('e@example.com', 'E', %s)",
                     (BCRYPT.replace("$2b$", "$2y$"),))
    finally:
        conn.rollback()
