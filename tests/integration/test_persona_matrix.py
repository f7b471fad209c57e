"""Every persona x every table x every operation, and every function, as the application role.

The expected outcome of each cell is written out below, not computed. A cell runs in its own
transaction, which is rolled back, so cells cannot affect each other. Outcomes:

    rows / none   a SELECT saw at least one / no row of project P (or of the table)
    ok / none     a write changed at least one / no row (row-level security hid them)
    t / f / null  what a function returned
    42501, 28000, 22023 ...  the SQLSTATE of the refusal

Personas revoked, expired and disabled hold a token that pulse.authenticate refuses
(class 28, checked in every cell); they then act without identity, like nobody.
"""


import psycopg
import pytest

from conftest import admin_dsn, create_app_database, drop_database
from populate import ARGON2ID

PERSONAS = ["nobody", "viewer", "editor", "maintainer", "owner", "admin", "other", "revoked", "expired", "disabled"]
REFUSED = {"revoked": "session has been revoked", "expired": "session has expired", "disabled": "user is disabled"}

REFERENCE_TABLES = ["access_role_reference", "feature_reference", "tech_stack_reference", "license_reference",
                    "phase_reference", "decision_type_reference", "tag_reference", "filetype_reference",
                    "storage_reference", "priority_reference"]

# Columns and values of a valid user-defined row per reference table; {c} is a unique code
# and {n} a unique number.
REFERENCE_ROW = {
    "access_role_reference": ("code, label, rank", "'{c}', 'Role {c}', {n}"),
    "feature_reference": ("code, label, category", "'{c}', 'Feature {c}', 'misc'"),
    "tech_stack_reference": ("code, label, category", "'{c}', 'Tech {c}', 'other'"),
    "license_reference": ("code, label, category", "'{c}', 'Licence {c}', 'proprietary'"),
    "phase_reference": ("code, label, sort_order", "'{c}', 'Phase {c}', {n}"),
    "decision_type_reference": ("code, label, category", "'{c}', 'Decision {c}', 'misc'"),
    "tag_reference": ("code, label, category", "'{c}', 'Tag {c}', 'misc'"),
    "filetype_reference": ("code, mime_type, label, category, extensions",
                           "'{c}', 'application/x-{c}', 'Type {c}', 'binary', '{{{c}}}'"),
    "storage_reference": ("code, label, provider, bucket, endpoint",
                          "'{c}', 'Store {c}', 'minio', 'b-{c}', 'http://127.0.0.1:9000'"),
    "priority_reference": ("code, label, rank", "'{c}', 'Priority {c}', {n}"),
}

# Every table, every operation. {P} is project P, {D} a project with P's members and nothing
# else (deletable), {viewer} etc. user ids, {doc}/{doc_spare}/{decision}/{decision_spare} rows of P.
OPERATIONS = {
    "users.users": {
        "select": "SELECT count(*) FROM users.users",
        "insert": "INSERT INTO users.users (email, display_name) VALUES ('new@example.com', 'New')",
        "update": "UPDATE users.users SET display_name = display_name WHERE user_id = {viewer}",
        "delete": "DELETE FROM users.users WHERE user_id = {bystander}",
    },
    "users.sessions": {
        "select": "SELECT count(*) FROM users.sessions WHERE user_id = {viewer}",
        "insert": "INSERT INTO users.sessions (user_id, token_hash, expires_at) VALUES ({viewer}, sha256('x'), now() + interval '1 hour')",
        "update": "UPDATE users.sessions SET revoked_at = now() WHERE user_id = {viewer}",
        "delete": "DELETE FROM users.sessions WHERE user_id = {viewer}",
    },
    "projects.projects": {
        "select": "SELECT count(*) FROM projects.projects WHERE project_id = {P}",
        "insert": "INSERT INTO projects.projects (name, owner_id, phase_id, priority_id) VALUES ('New', {me}, {phase}, {priority})",
        "update": "UPDATE projects.projects SET name = name WHERE project_id = {P}",
        "delete": "DELETE FROM projects.projects WHERE project_id = {D}",
    },
    "projects.project_member": {
        "select": "SELECT count(*) FROM projects.project_member WHERE project_id = {P}",
        "insert": "INSERT INTO projects.project_member (project_id, user_id, access_role_id) VALUES ({P}, {bystander}, {role_viewer})",
        "update": "UPDATE projects.project_member SET access_role_id = access_role_id WHERE project_id = {P} AND user_id = {viewer}",
        "delete": "DELETE FROM projects.project_member WHERE project_id = {P} AND user_id = {viewer}",
    },
    "projects.project_feature": {
        "select": "SELECT count(*) FROM projects.project_feature WHERE project_id = {P}",
        "insert": "INSERT INTO projects.project_feature (project_id, feature_id) VALUES ({P}, {feature_spare})",
        "update": "UPDATE projects.project_feature SET feature_id = feature_id WHERE project_id = {P}",
        "delete": "DELETE FROM projects.project_feature WHERE project_id = {P}",
    },
    "projects.project_tech_stack": {
        "select": "SELECT count(*) FROM projects.project_tech_stack WHERE project_id = {P}",
        "insert": "INSERT INTO projects.project_tech_stack (project_id, tech_stack_id) VALUES ({P}, {tech_spare})",
        "update": "UPDATE projects.project_tech_stack SET tech_stack_id = tech_stack_id WHERE project_id = {P}",
        "delete": "DELETE FROM projects.project_tech_stack WHERE project_id = {P}",
    },
    "projects.project_tag": {
        "select": "SELECT count(*) FROM projects.project_tag WHERE project_id = {P}",
        "insert": "INSERT INTO projects.project_tag (project_id, tag_id) VALUES ({P}, {tag_spare})",
        "update": "UPDATE projects.project_tag SET tag_id = tag_id WHERE project_id = {P}",
        "delete": "DELETE FROM projects.project_tag WHERE project_id = {P}",
    },
    "projects.project_decision_log": {
        "select": "SELECT count(*) FROM projects.project_decision_log WHERE project_id = {P}",
        "insert": "INSERT INTO projects.project_decision_log (project_id, decision_type_id, title, rationale) VALUES ({P}, {decision_type}, 'New', 'Because')",
        "update": "UPDATE projects.project_decision_log SET title = title WHERE project_id = {P}",
        "delete": "DELETE FROM projects.project_decision_log WHERE project_id = {P} AND decision_id = {decision_spare}",
    },
    "projects.decision_feature": {
        "select": "SELECT count(*) FROM projects.decision_feature WHERE project_id = {P}",
        "insert": "INSERT INTO projects.decision_feature (project_id, decision_id, feature_id) VALUES ({P}, {decision}, {feature_spare})",
        "update": "UPDATE projects.decision_feature SET feature_id = feature_id WHERE project_id = {P}",
        "delete": "DELETE FROM projects.decision_feature WHERE project_id = {P}",
    },
    "projects.decision_document": {
        "select": "SELECT count(*) FROM projects.decision_document WHERE project_id = {P}",
        "insert": "INSERT INTO projects.decision_document (project_id, decision_id, document_id) VALUES ({P}, {decision}, {doc_spare})",
        "update": "UPDATE projects.decision_document SET document_id = document_id WHERE project_id = {P}",
        "delete": "DELETE FROM projects.decision_document WHERE project_id = {P}",
    },
    "documents.documents": {
        "select": "SELECT count(*) FROM documents.documents WHERE project_id = {P}",
        "insert": ("INSERT INTO documents.documents (project_id, title, file_name, filetype_id, storage_id, object_key, size_bytes,"
                   " checksum_sha256, priority_id, phase_id) VALUES ({P}, 'New', 'new.pdf', {filetype}, {storage}, 'p/new.pdf',"
                   " 1, encode(sha256('new'), 'hex'), {priority}, {phase})"),
        "update": "UPDATE documents.documents SET title = title WHERE project_id = {P}",
        "delete": "DELETE FROM documents.documents WHERE project_id = {P} AND document_id = {doc_spare}",
    },
    "audit.project_history": {
        "select": "SELECT count(*) FROM audit.project_history WHERE project_id = {P}",
        "insert": "INSERT INTO audit.project_history (project_id, version, operation, snapshot, change_summary, row_hash) VALUES ({P}, 99, 'INSERT', '{{}}', 'x', sha256('x'))",
        "update": "UPDATE audit.project_history SET change_summary = change_summary WHERE project_id = {P}",
        "delete": "DELETE FROM audit.project_history WHERE project_id = {P}",
    },
    "audit.document_history": {
        "select": "SELECT count(*) FROM audit.document_history WHERE project_id = {P}",
        "insert": "INSERT INTO audit.document_history (project_id, document_id, version, operation, snapshot, change_summary, row_hash) VALUES ({P}, {doc}, 99, 'INSERT', '{{}}', 'x', sha256('x'))",
        "update": "UPDATE audit.document_history SET change_summary = change_summary WHERE project_id = {P}",
        "delete": "DELETE FROM audit.document_history WHERE project_id = {P}",
    },
    "audit.project_chain": {
        "select": "SELECT count(*) FROM audit.project_chain WHERE project_id = {P}",
        "insert": "INSERT INTO audit.project_chain (project_id, version, row_hash) VALUES (0, 1, sha256('x'))",
        "update": "UPDATE audit.project_chain SET version = version WHERE project_id = {P}",
        "delete": "DELETE FROM audit.project_chain WHERE project_id = {P}",
    },
    "audit.document_chain": {
        "select": "SELECT count(*) FROM audit.document_chain WHERE project_id = {P}",
        "insert": "INSERT INTO audit.document_chain (project_id, document_id, version, row_hash) VALUES (0, 0, 1, sha256('x'))",
        "update": "UPDATE audit.document_chain SET version = version WHERE project_id = {P}",
        "delete": "DELETE FROM audit.document_chain WHERE project_id = {P}",
    },
    "audit.column_policy": {
        "select": "SELECT count(*) FROM audit.column_policy",
        "insert": "INSERT INTO audit.column_policy (table_name, column_name, treatment) VALUES ('projects.projects', 'name', 'redact')",
        "update": "UPDATE audit.column_policy SET treatment = treatment",
        "delete": "DELETE FROM audit.column_policy",
    },
    "pulse.redaction_salt": {
        "select": "SELECT count(*) FROM pulse.redaction_salt",
        "insert": "INSERT INTO pulse.redaction_salt (singleton, salt) VALUES (false, sha256('x'))",
        "update": "UPDATE pulse.redaction_salt SET created_at = created_at",
        "delete": "DELETE FROM pulse.redaction_salt",
    },
    "audit.ddl_log": {
        "select": "SELECT count(*) FROM audit.ddl_log",
        "insert": "INSERT INTO audit.ddl_log (event, command_tag) VALUES ('sql_drop', 'DROP TABLE')",
        "update": "UPDATE audit.ddl_log SET command_tag = command_tag",
        "delete": "DELETE FROM audit.ddl_log",
    },
    "audit.legal_hold": {
        "select": "SELECT count(*) FROM audit.legal_hold WHERE project_id = {P}",
        "insert": "INSERT INTO audit.legal_hold (project_id, reason) VALUES ({P}, 'x')",
        "update": "UPDATE audit.legal_hold SET reason = reason WHERE project_id = {P}",
        "delete": "DELETE FROM audit.legal_hold WHERE project_id = {P}",
    },
    "audit.history_tombstone": {
        "select": "SELECT count(*) FROM audit.history_tombstone WHERE project_id = {P}",
        "insert": "INSERT INTO audit.history_tombstone (project_id, history_table, entity_id, up_to_version, removed_rows, removed_hash, reason) VALUES ({P}, 'audit.project_history', {P}, 1, 1, sha256('x'), 'x')",
        "update": "UPDATE audit.history_tombstone SET reason = reason WHERE project_id = {P}",
        "delete": "DELETE FROM audit.history_tombstone WHERE project_id = {P}",
    },
    "pulse.identity_key": {
        "select": "SELECT count(*) FROM pulse.identity_key",
        "insert": "INSERT INTO pulse.identity_key (singleton, key) VALUES (false, sha256('x'))",
        "update": "UPDATE pulse.identity_key SET created_at = created_at",
        "delete": "DELETE FROM pulse.identity_key",
    },
    "documents.document_revision": {
        "select": "SELECT count(*) FROM documents.document_revision WHERE project_id = {P}",
        "insert": ("INSERT INTO documents.document_revision (project_id, document_id, version, object_key, file_name,"
                   " filetype_id, storage_id, size_bytes, checksum_sha256) VALUES ({P}, {doc}, 99, 'k', 'f.pdf',"
                   " {filetype}, {storage}, 1, repeat('e', 64))"),
        "update": "UPDATE documents.document_revision SET file_name = file_name WHERE project_id = {P}",
        "delete": "DELETE FROM documents.document_revision WHERE project_id = {P}",
    },
    "documents.url_grant": {
        "select": "SELECT count(*) FROM documents.url_grant WHERE project_id = {P}",
        "insert": ("INSERT INTO documents.url_grant (project_id, document_id, version, method, user_id, session_id,"
                   " issued_at, expires_at) VALUES ({P}, {doc}, 1, 'GET', {me}, {my_session}, now(),"
                   " now() + interval '1 minute')"),
        "update": "UPDATE documents.url_grant SET expires_at = expires_at WHERE project_id = {P}",
        "delete": "DELETE FROM documents.url_grant WHERE project_id = {P}",
    },
    "pulse.storage_credential": {
        "select": "SELECT count(*) FROM pulse.storage_credential",
        "insert": "INSERT INTO pulse.storage_credential (storage_id, access_key_id, secret_access_key) VALUES ({storage_spare}, 'AK', 'SK')",
        "update": "UPDATE pulse.storage_credential SET max_expires_in = max_expires_in",
        "delete": "DELETE FROM pulse.storage_credential",
    },
    "pulse.auditor_role": {
        "select": "SELECT count(*) FROM pulse.auditor_role",
        "insert": "INSERT INTO pulse.auditor_role (role_name) VALUES ('someone')",
        "update": "UPDATE pulse.auditor_role SET granted_at = granted_at",
        "delete": "DELETE FROM pulse.auditor_role",
    },
}
for _table in REFERENCE_TABLES:
    _key = _table.replace("_reference", "_id")
    _cols, _vals = REFERENCE_ROW[_table]
    OPERATIONS[f"pulse.{_table}"] = {
        "select": f"SELECT count(*) FROM pulse.{_table}",
        # (Braces doubled: the cell runner formats the statement once more.)
        "insert": f"INSERT INTO pulse.{_table} ({_cols}) VALUES ({_vals.format(c='cellnew', n=98)})".replace(
            "{", "{{").replace("}", "}}"),
        # The user-defined row the world made; built-in rows are immutable for everyone.
        "update": f"UPDATE pulse.{_table} SET label = label WHERE code = 'custom'",
        "delete": f"DELETE FROM pulse.{_table} WHERE code = 'custom'",
    }

# The expected outcome of every cell (table, operation) x persona, in PERSONAS order:
#                         nobody viewer editor maint owner admin other revoked expired disabled
MATRIX_TEXT = """
users.users               select  none rows rows rows rows rows rows none none none
users.users               insert  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
users.users               update  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
users.users               delete  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
users.sessions            select  none rows none none none rows none none none none
users.sessions            insert  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
users.sessions            update  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
users.sessions            delete  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
projects.projects         select  none rows rows rows rows rows none none none none
projects.projects         insert  42501 ok ok ok ok ok ok 42501 42501 42501
projects.projects         update  none none ok ok ok ok none none none none
projects.projects         delete  none none none none none ok none none none none
projects.project_member   select  none rows rows rows rows rows none none none none
projects.project_member   insert  42501 42501 42501 ok ok ok 42501 42501 42501 42501
projects.project_member   update  none none none ok ok ok none none none none
projects.project_member   delete  none none none ok ok ok none none none none
projects.project_feature  select  none rows rows rows rows rows none none none none
projects.project_feature  insert  42501 42501 ok ok ok ok 42501 42501 42501 42501
projects.project_feature  update  none none ok ok ok ok none none none none
projects.project_feature  delete  none none ok ok ok ok none none none none
projects.project_tech_stack select none rows rows rows rows rows none none none none
projects.project_tech_stack insert 42501 42501 ok ok ok ok 42501 42501 42501 42501
projects.project_tech_stack update none none ok ok ok ok none none none none
projects.project_tech_stack delete none none ok ok ok ok none none none none
projects.project_tag      select  none rows rows rows rows rows none none none none
projects.project_tag      insert  42501 42501 ok ok ok ok 42501 42501 42501 42501
projects.project_tag      update  none none ok ok ok ok none none none none
projects.project_tag      delete  none none ok ok ok ok none none none none
projects.project_decision_log select none rows rows rows rows rows none none none none
projects.project_decision_log insert 42501 42501 ok ok ok ok 42501 42501 42501 42501
projects.project_decision_log update none none ok ok ok ok none none none none
projects.project_decision_log delete none none ok ok ok ok none none none none
projects.decision_feature select  none rows rows rows rows rows none none none none
projects.decision_feature insert  42501 42501 ok ok ok ok 42501 42501 42501 42501
projects.decision_feature update  none none ok ok ok ok none none none none
projects.decision_feature delete  none none ok ok ok ok none none none none
projects.decision_document select none rows rows rows rows rows none none none none
projects.decision_document insert 42501 42501 ok ok ok ok 42501 42501 42501 42501
projects.decision_document update none none ok ok ok ok none none none none
projects.decision_document delete none none ok ok ok ok none none none none
documents.documents       select  none rows rows rows rows rows none none none none
documents.documents       insert  42501 42501 ok ok ok ok 42501 42501 42501 42501
documents.documents       update  none none ok ok ok ok none none none none
documents.documents       delete  none none none none none ok none none none none
audit.project_history     select  none rows rows rows rows rows none none none none
audit.project_history     insert  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
audit.project_history     update  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
audit.project_history     delete  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
audit.document_history    select  none rows rows rows rows rows none none none none
audit.document_history    insert  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
audit.document_history    update  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
audit.document_history    delete  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
audit.project_chain       select  none rows rows rows rows rows none none none none
audit.project_chain       insert  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
audit.project_chain       update  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
audit.project_chain       delete  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
audit.document_chain      select  none rows rows rows rows rows none none none none
audit.document_chain      insert  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
audit.document_chain      update  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
audit.document_chain      delete  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
audit.column_policy       select  none rows rows rows rows rows rows none none none
audit.column_policy       insert  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
audit.column_policy       update  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
audit.column_policy       delete  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
pulse.redaction_salt      select  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
pulse.redaction_salt      insert  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
pulse.redaction_salt      update  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
pulse.redaction_salt      delete  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
audit.ddl_log             select  none none none none none rows none none none none
audit.ddl_log             insert  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
audit.ddl_log             update  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
audit.ddl_log             delete  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
audit.legal_hold          select  none rows rows rows rows rows none none none none
audit.legal_hold          insert  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
audit.legal_hold          update  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
audit.legal_hold          delete  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
audit.history_tombstone   select  none rows rows rows rows rows none none none none
audit.history_tombstone   insert  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
audit.history_tombstone   update  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
audit.history_tombstone   delete  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
pulse.identity_key        select  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
pulse.identity_key        insert  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
pulse.identity_key        update  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
pulse.identity_key        delete  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
documents.document_revision select none rows rows rows rows rows none none none none
documents.document_revision insert 42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
documents.document_revision update none none none none none none none none none none
documents.document_revision delete none none none none none none none none none none
documents.url_grant       select  none none none none rows rows none none none none
documents.url_grant       insert  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
documents.url_grant       update  none none none none none none none none none none
documents.url_grant       delete  none none none none none none none none none none
pulse.storage_credential  select  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
pulse.storage_credential  insert  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
pulse.storage_credential  update  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
pulse.storage_credential  delete  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
pulse.auditor_role        select  rows rows rows rows rows rows rows rows rows rows
pulse.auditor_role        insert  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
pulse.auditor_role        update  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
pulse.auditor_role        delete  42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
reference tables (each)   select  none rows rows rows rows rows rows none none none
reference tables (each)   insert  42501 42501 42501 42501 42501 ok 42501 42501 42501 42501
reference tables (each)   update  none none none none none ok none none none none
reference tables (each)   delete  none none none none none ok none none none none
"""

# Every function pulse defines that an application could call. {me} is the persona's user id
# (the viewer's for nobody), {my_session} its session, {my_token} its token (a well-formed
# unknown one for nobody); a "bystander" is a user who is none of the personas.
#                                                       nobody viewer editor maint owner admin other revoked expired disabled
FUNCTIONS_TEXT = """
SELECT pulse.authenticate({my_token}) IS NOT NULL       | 28000 t t t t t t 28000 28000 28000
SELECT pulse.current_user_id() = {me}                   | null t t t t t t null null null
SELECT pulse.current_session_id() = {my_session}        | null t t t t t t null null null
SELECT pulse.current_user_is_system_admin()             | f f f f f t f f f f
SELECT pulse.caller_project_ids('read') = ARRAY[{P}, {D}]::bigint[] | f t t t t f f f f f
SELECT pulse.caller_project_ids('write') = ARRAY[{P}, {D}]::bigint[] | f f t t t f f f f f
SELECT pulse.caller_project_ids('manage_members') = ARRAY[{P}, {D}]::bigint[] | f f f t t f f f f f
SELECT pulse.caller_project_ids('administer') = ARRAY[{P}, {D}]::bigint[] | f f f f t f f f f f
SELECT pulse.caller_project_ids('bogus')                | 22023 22023 22023 22023 22023 22023 22023 22023 22023 22023
SELECT pulse.caller_all_projects_from('write') IS NOT NULL | f f f f f t f f f f
SELECT pulse.caller_holds('write', {P})                 | f f t t t t f f f f
SELECT pulse.caller_is_auditor()                        | f f f f f f f f f f
SELECT pulse.check_password_hash({argon2id}) = 'argon2id' | t t t t t t t t t t
SELECT pulse.check_password_hash('hunter2')             | 22023 22023 22023 22023 22023 22023 22023 22023 22023 22023
SELECT users.create_user('signup@example.com', 'Sign Up') > 0 | t t t t t t t t t t
SELECT users.create_user('root@example.com', 'Root', NULL, true) > 0 | 42501 42501 42501 42501 42501 t 42501 42501 42501 42501
SELECT users.set_password_hash({me}, {argon2id})       | 42501 ok ok ok ok ok ok 42501 42501 42501
SELECT users.set_password_hash({bystander}, {argon2id}) | 42501 42501 42501 42501 42501 ok 42501 42501 42501 42501
SELECT users.set_user_active({bystander}, false)       | 42501 42501 42501 42501 42501 ok 42501 42501 42501 42501
SELECT count(*) = 1 FROM users.open_session({bystander}) | t t t t t t t t t t
SELECT users.revoke_session({my_session})              | 42501 ok ok ok ok ok ok 42501 42501 42501
SELECT users.revoke_session({bystander_session})       | 42501 42501 42501 42501 42501 ok 42501 42501 42501 42501
SELECT users.revoke_user_sessions({me}) = 1             | 42501 t t t t t t 42501 42501 42501
SELECT users.revoke_user_sessions({bystander}) = 1      | 42501 42501 42501 42501 42501 t 42501 42501 42501 42501
SELECT count(*) = 1 FROM users.active_sessions()        | f t t t t t t f f f
SELECT count(*) = 1 FROM users.active_sessions({bystander}) | f f f f f t f f f f
SELECT users.purge_expired_sessions() >= 0              | 42501 42501 42501 42501 42501 t 42501 42501 42501 42501
SELECT pulse.require_system_admin('x')                  | 42501 42501 42501 42501 42501 ok 42501 42501 42501 42501
SELECT pulse.require_self_or_system_admin({me}, 'x')    | 42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
SELECT pulse.rotate_identity_key()                      | 42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
SELECT pulse.new_session_token()                        | 42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
SELECT pulse.strong_random_key()                        | 42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
SELECT pulse.grant_application_role('nobody_at_all')    | 42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
SELECT pulse.grant_auditor_role('nobody_at_all')        | 42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
SELECT pulse.grant_reader_privileges('nobody_at_all')   | 42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
SELECT pulse.reference_table_list()                     | 42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
SELECT pulse.touch_updated_at()                         | 42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
SELECT projects.enforce_project_rules()                 | 42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
SELECT projects.enforce_membership_rules()              | 42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
SELECT users.revoke_sessions_on_credential_change()     | 42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
SELECT pulse.reference_guard()                          | 42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
SELECT pulse.forget_cached_copies()                     | 42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
SELECT pulse.set_change_reason('because')               | ok ok ok ok ok ok ok ok ok ok
SELECT count(*) >= 0 FROM audit.verify()                | 42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
SELECT count(*) >= 0 FROM audit.statement_stats()       | 42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
SELECT audit.record_ddl()                               | 42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
SELECT audit.project_as_of({P}, now()) IS NOT NULL      | f t t t t t f f f f
SELECT audit.document_as_of({doc}, now()) IS NOT NULL   | f t t t t t f f f f
SELECT count(*) > 0 FROM audit.project_diff({P}, 2, 3)  | 22023 t t t t t 22023 22023 22023 22023
SELECT count(*) = 0 FROM audit.document_diff({doc}, 1, 1) | 22023 t t t t t 22023 22023 22023 22023
SELECT audit.place_legal_hold({Q}, 'case') > 0         | 42501 42501 42501 42501 42501 t 42501 42501 42501 42501
SELECT audit.release_legal_hold({P})                    | 42501 42501 42501 42501 42501 ok 42501 42501 42501 42501
SELECT count(*) >= 0 FROM audit.purge_history('retention') | 42501 42501 42501 42501 42501 t 42501 42501 42501 42501
SELECT count(*) = 0 FROM audit.purgeable_history(now() + interval '8 years') | t t t t t t t t t t
SELECT audit.purge_chain_prefix('audit.project_history', {P}, NULL, 1, 'x') | 42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
SELECT audit.set_column_policy('projects.projects', 'description', 'exclude') | 42501 42501 42501 42501 42501 ok 42501 42501 42501 42501
SELECT audit.rollback_project({P}, 2, 2) > 0            | 22023 40001 40001 40001 40001 40001 22023 22023 22023 22023
SELECT audit.rollback_document({doc}, 1, 2) > 0         | 22023 42501 t t t t 22023 22023 22023 22023
SELECT audit.capture_project()                          | 42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
SELECT audit.capture_project_link()                     | 42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
SELECT audit.flush_project_links()                      | 42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
SELECT audit.capture_document()                         | 42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
SELECT audit.refuse_history_change()                    | 42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
SELECT audit.refuse_truncate()                          | 42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
SELECT pulse.sha256_hex('abc') = encode(sha256('abc'), 'hex') | t t t t t t t t t t
SELECT pulse.sha256_bytes('abc') = sha256('abc')        | t t t t t t t t t t
SELECT pulse.is_sha256_hex(repeat('A', 64))             | f f f f f f f f f f
SELECT pulse.s3_presign('store', 'GET', 'k', 60) IS NOT NULL | 42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
SELECT pulse.check_phase_transition()                   | 42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
SELECT documents.download_url({doc}) IS NOT NULL        | 42501 t t t t t 42501 42501 42501 42501
SELECT count(*) = 1 FROM documents.upload_url({doc_spare}) | 42501 42501 t t t t 42501 42501 42501 42501
SELECT count(*) = 1 FROM documents.register_document({P}, 'New', 'n.pdf', 'application/pdf', 'store', 1, repeat('c', 64)) | 42501 42501 t t t t 42501 42501 42501 42501
SELECT count(*) = 1 FROM documents.new_revision({doc}, 'n.pdf', 'application/pdf', 1, repeat('d', 64)) | 42501 42501 t t t t 42501 42501 42501 42501
SELECT documents.confirm_upload({doc_spare}) IS NOT NULL | 42501 42501 t t t t 42501 42501 42501 42501
SELECT documents.soft_delete_document({doc_spare}), documents.restore_document({doc_spare}) | 42501 42501 42501 ok ok ok 42501 42501 42501 42501
SELECT projects.soft_delete_project({D}), projects.restore_project({D}) | 42501 42501 42501 ok ok ok 42501 42501 42501 42501
SELECT documents.purge_deleted_documents('0 seconds') >= 0 | 42501 42501 42501 42501 42501 t 42501 42501 42501 42501
SELECT count(*) = 0 FROM documents.find_duplicates()    | t t t t t t t t t t
SELECT count(*) >= 0 FROM documents.reconcile('store', '[]') | 42501 42501 42501 42501 42501 t 42501 42501 42501 42501
SELECT documents.duplicate_policy(NULL) = 'refuse'      | t t t t t t t t t t
SELECT documents.filetype_of('application/pdf') > 0     | 22023 t t t t t t 22023 22023 22023
SELECT documents.check_content(1, repeat('a', 64))      | ok ok ok ok ok ok ok ok ok ok
SELECT documents.object_key_for({storage}, {P}, 'x') IS NOT NULL | f t t t t t t f f f
SELECT documents.enforce_document_rules()               | 42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
SELECT documents.keep_revisions()                       | 42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
SELECT count(*) >= 0 FROM users.session_backends()      | 42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
SELECT count(*) >= 0 FROM users.failed_authentications() | 42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
SELECT pulse.er_diagram() LIKE 'erDiagram%'            | 42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
SELECT projects.count_project_version()                 | 42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
SELECT count(*) FROM users.sign_in_credentials('viewer@example.com') | 42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
SELECT pulse.grant_sign_in_role('nobody_at_all')        | 42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
SELECT audit.statement_stats_available() IS NOT NULL    | 42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
SELECT count(*) > 0 FROM pulse.citus_distribution_plan() | 42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
SELECT pulse.distribute()                               | 42501 42501 42501 42501 42501 42501 42501 42501 42501 42501
SELECT array_agg(project_id ORDER BY project_id) = ARRAY[{P}, {D}]::bigint[] FROM projects.search_projects('{{}}') | null t t t t f f null null null
SELECT sum(count) = 1 FROM projects.project_facets('{{"phase": "archived"}}') WHERE facet = 'phase' | 22023 t t t t t null 22023 22023 22023
SELECT count(*) = 2 FROM documents.search_documents(jsonb_build_object('project', {P})) | f t t t t t f f f f
SELECT sum(count) FILTER (WHERE facet = 'total') = 2 FROM documents.document_facets('{{}}') | f t t t t f t f f f
SELECT count(*) FROM documents.search_documents('{{"colour": "red"}}') | 22023 22023 22023 22023 22023 22023 22023 22023 22023 22023
SELECT (pulse.parse_discovery_filter('documents', '{{}}', 50, NULL)).blanket | f f f f f t f f f f
SELECT pulse.discovery_cursor('documents', '0123456789abcdef', 5, 42) = 'djF8ZG9jdW1lbnRzfDAxMjM0NTY3ODlhYmNkZWZ8NXw0Mg' | t t t t t t t t t t
"""


def parse_matrix():
    cells = {}
    for line in MATRIX_TEXT.strip().splitlines():
        words = line.split()
        outcomes, op = words[-len(PERSONAS):], words[-len(PERSONAS) - 1]
        table = " ".join(words[:-len(PERSONAS) - 1])
        targets = [f"pulse.{t}" for t in REFERENCE_TABLES] if table == "reference tables (each)" else [table]
        for target in targets:
            cells[(target, op)] = dict(zip(PERSONAS, outcomes))
    return cells


def parse_functions():
    rows = {}
    for line in FUNCTIONS_TEXT.strip().splitlines():
        sql, outcomes = line.rsplit("|", 1)
        rows[sql.strip()] = dict(zip(PERSONAS, outcomes.split(), strict=True))
    return rows


MATRIX = parse_matrix()
FUNCTIONS = parse_functions()
CELLS_PASSED = []  # counted by the tests below, printed by conftest.pytest_terminal_summary


@pytest.fixture(scope="module")
def world():
    db = create_app_database(auditor=True)  # the registered auditor makes pulse.auditor_role non-empty
    ids, tokens, sessions = {}, {}, {}
    with db.connect(autocommit=True) as su:
        def one(sql, *args):
            return su.execute(sql, args).fetchone()[0]

        for name in [p for p in PERSONAS if p != "nobody"] + ["bystander"]:
            ids[name] = one("SELECT users.create_user(%s, %s, NULL, %s)", f"{name}@example.com", name.title(), name == "admin")
            sessions[name], tokens[name] = su.execute("SELECT session_id, token FROM users.open_session(%s)",
                                                      (ids[name],)).fetchone()
        su.execute("UPDATE users.sessions SET revoked_at = now() WHERE session_id = %s", (sessions["revoked"],))
        su.execute("""UPDATE users.sessions SET created_at = now() - interval '2 days', last_active_at = now() - interval '2 days',
                             expires_at = now() - interval '1 day' WHERE session_id = %s""", (sessions["expired"],))
        # Disabled without the trigger that revokes the sessions, so that authenticate
        # meets the disabled user itself.
        su.execute("ALTER TABLE users.users DISABLE TRIGGER revoke_sessions_on_credential_change")
        su.execute("UPDATE users.users SET is_active = false WHERE user_id = %s", (ids["disabled"],))
        su.execute("ALTER TABLE users.users ENABLE TRIGGER revoke_sessions_on_credential_change")

        su.execute("SELECT audit.set_column_policy('documents.documents', 'image_url', 'redact')")
        su.execute("CREATE INDEX ON documents.documents (title)")  # something in audit.ddl_log
        for table in REFERENCE_TABLES:
            cols, vals = REFERENCE_ROW[table]
            su.execute(f"INSERT INTO pulse.{table} ({cols}) VALUES ({vals.format(c='custom', n=97)})")
        def code_id(table, code):
            return one(f"SELECT {table.replace('_reference', '_id')} FROM pulse.{table} WHERE code = %s", code)

        # Documents live in a store of their own, so that the 'custom' rows stay deletable.
        su.execute(f"INSERT INTO pulse.storage_reference ({REFERENCE_ROW['storage_reference'][0]}) "
                   f"VALUES ({REFERENCE_ROW['storage_reference'][1].format(c='store', n=0)})")
        ids.update(phase=code_id("phase_reference", "idea"), priority=code_id("priority_reference", "low"),
                   filetype=code_id("filetype_reference", "pdf"), storage=code_id("storage_reference", "store"),
                   decision_type=code_id("decision_type_reference", "architecture"),
                   role_viewer=code_id("access_role_reference", "viewer"))
        features = [r[0] for r in su.execute("SELECT feature_id FROM pulse.feature_reference WHERE is_builtin ORDER BY 1 LIMIT 2")]
        techs = [r[0] for r in su.execute("SELECT tech_stack_id FROM pulse.tech_stack_reference WHERE is_builtin ORDER BY 1 LIMIT 2")]
        tags = [r[0] for r in su.execute("SELECT tag_id FROM pulse.tag_reference WHERE is_builtin ORDER BY 1 LIMIT 2")]
        ids.update(feature_spare=features[1], tech_spare=techs[1], tag_spare=tags[1])

        # P and D: the owner's, with every other member persona; Q: other's. The maintenance
        # path (no caller) inserts, so owner memberships are added by hand.
        members = {"owner": "owner", "maintainer": "maintainer", "editor": "editor", "viewer": "viewer",
                   "revoked": "editor", "expired": "editor", "disabled": "editor"}
        for project, owner in (("P", "owner"), ("D", "owner"), ("Q", "other")):
            ids[project] = pid = one("""INSERT INTO projects.projects (name, owner_id, phase_id, priority_id)
                                        VALUES (%s, %s, %s, %s) RETURNING project_id""",
                                     project, ids[owner], ids["phase"], ids["priority"])
            for user, role in (members.items() if project != "Q" else [("other", "owner")]):
                su.execute("""INSERT INTO projects.project_member (project_id, user_id, access_role_id)
                              SELECT %s, %s, access_role_id FROM pulse.access_role_reference WHERE code = %s""",
                           (pid, ids[user], role))
            if project == "D":
                continue
            su.execute("INSERT INTO projects.project_feature (project_id, feature_id) VALUES (%s, %s)", (pid, features[0]))
            su.execute("INSERT INTO projects.project_tech_stack (project_id, tech_stack_id) VALUES (%s, %s)", (pid, techs[0]))
            su.execute("INSERT INTO projects.project_tag (project_id, tag_id) VALUES (%s, %s)", (pid, tags[0]))
            decisions = [one("""INSERT INTO projects.project_decision_log (project_id, decision_type_id, title, rationale)
                                VALUES (%s, %s, %s, 'Because') RETURNING decision_id""", pid, ids["decision_type"], title)
                         for title in ("Main", "Spare")]
            docs = [one("""INSERT INTO documents.documents (project_id, title, file_name, filetype_id, storage_id, object_key,
                                                           size_bytes, checksum_sha256, priority_id, phase_id)
                           VALUES (%s, %s, 'f.pdf', %s, %s, %s, 1, encode(sha256(%s::bytea), 'hex'), %s, %s)
                           RETURNING document_id""",
                        pid, title, ids["filetype"], ids["storage"], f"{project}/{title}", title.encode(),
                        ids["priority"], ids["phase"]) for title in ("Main", "Spare")]
            su.execute("INSERT INTO projects.decision_feature (project_id, decision_id, feature_id) VALUES (%s, %s, %s)",
                       (pid, decisions[0], features[0]))
            su.execute("INSERT INTO projects.decision_document (project_id, decision_id, document_id) VALUES (%s, %s, %s)",
                       (pid, decisions[0], docs[0]))
            if project == "P":
                ids.update(decision=decisions[0], decision_spare=decisions[1], doc=docs[0], doc_spare=docs[1])
        # The store signs with credentials of its own; P's main document is uploaded, and
        # its owner downloaded it once (documents.url_grant).
        su.execute("""INSERT INTO pulse.storage_credential (storage_id, access_key_id, secret_access_key, max_expires_in)
                      VALUES (%s, 'CELLKEY', 'cell-secret', 600)""", (ids["storage"],))
        ids["storage_spare"] = one("""INSERT INTO pulse.storage_reference (code, label, provider, bucket, endpoint)
                                      VALUES ('spare', 'Spare', 'minio', 'b-spare', 'http://127.0.0.1:9000')
                                      RETURNING storage_id""")
        su.execute("UPDATE documents.documents SET available_at = now() WHERE document_id = %s", (ids["doc"],))
        with su.transaction():
            su.execute("SELECT pulse.authenticate(%s)", (tokens["owner"],))
            su.execute("SELECT documents.download_url(%s)", (ids["doc"],))
        # P is archived (history kept seven years) and under legal hold; a purge left a
        # tombstone in its history.
        su.execute("UPDATE projects.projects SET phase_id = (SELECT phase_id FROM pulse.phase_reference"
                   " WHERE code = 'archived') WHERE project_id = %s", (ids["P"],))
        su.execute("SELECT audit.place_legal_hold(%s, 'case 1')", (ids["P"],))
        su.execute("SELECT audit.purge_chain_prefix('audit.project_history', %s, NULL, 1, 'test')", (ids["P"],))
    db.ids, db.tokens, db.sessions = ids, tokens, sessions
    yield db
    drop_database(db)


@pytest.fixture(scope="module")
def connections(world):
    conns = {p: psycopg.connect(world.app_dsn) for p in PERSONAS}
    yield conns
    for conn in conns.values():
        conn.close()


def placeholders(world, persona):
    me = "viewer" if persona == "nobody" else persona
    values = {**world.ids, "me": world.ids[me], "my_session": f"'{world.sessions[me]}'",
              "bystander_session": f"'{world.sessions['bystander']}'", "argon2id": f"'{ARGON2ID}'",
              "my_token": "'pulse_" + "A" * 43 + "'" if persona == "nobody" else f"'{world.tokens[persona]}'"}
    return values


def outcome(conn, world, persona, sql, authenticate=True):
    """Run sql as persona in a transaction that is rolled back; return the outcome word."""
    try:
        with conn.transaction(force_rollback=True):
            if authenticate and persona != "nobody":
                try:
                    with conn.transaction():
                        conn.execute("SELECT pulse.authenticate(%s)", (world.tokens[persona],))
                except psycopg.errors.InvalidAuthorizationSpecification as refused:
                    assert refused.diag.message_primary == REFUSED.get(persona), persona
                else:
                    assert persona not in REFUSED, f"{persona} was authenticated"
            cur = conn.execute(sql.format(**placeholders(world, persona)))
            if cur.description is None:
                return "ok" if cur.rowcount > 0 else "none"
            value = cur.fetchone()[0]
            if sql.startswith("SELECT count(*) FROM"):
                return "rows" if value else "none"
            return {True: "t", False: "f", None: "null"}.get(value, "ok")
    except psycopg.Error as error:
        return error.sqlstate


def test_every_table_is_in_the_matrix(world):
    with psycopg.connect(admin_dsn(world.name)) as su:
        tables = {r[0] for r in su.execute("""
            SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'p') AND n.nspname IN ('pulse', 'users', 'projects', 'documents', 'audit')""")}
    assert tables == set(OPERATIONS)
    assert {t for t, _ in MATRIX} == tables and {op for _, op in MATRIX} == {"select", "insert", "update", "delete"}


def test_every_function_is_in_the_matrix(world):
    with psycopg.connect(admin_dsn(world.name)) as su:
        functions = {r[0] for r in su.execute("""
            SELECT n.nspname || '.' || p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname IN ('pulse', 'users', 'projects', 'documents', 'audit')""")}
    called = {name for sql in FUNCTIONS for name in functions if f"{name}(" in sql}
    assert functions - called == set()


@pytest.mark.parametrize("table,op", sorted(MATRIX))
def test_table_cell(world, connections, table, op):
    expected = MATRIX[(table, op)]
    actual = {p: outcome(connections[p], world, p, OPERATIONS[table][op]) for p in PERSONAS}
    assert actual == expected
    CELLS_PASSED.append(len(PERSONAS))


@pytest.mark.parametrize("sql", sorted(FUNCTIONS))
def test_function_cell(world, connections, sql):
    expected = FUNCTIONS[sql]
    authenticate = not sql.startswith("SELECT pulse.authenticate(")
    actual = {p: outcome(connections[p], world, p, sql, authenticate) for p in PERSONAS}
    assert actual == expected
    CELLS_PASSED.append(len(PERSONAS))


def cell_count() -> int:
    return len(PERSONAS) * (len(MATRIX) + len(FUNCTIONS))
