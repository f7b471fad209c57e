"""A small data set that puts at least one row in every pulse table, with every nullable
foreign key set somewhere, so that constraint, dump/restore and catalog tests have
something real to work on."""

import hashlib

import psycopg

ARGON2ID = "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA$RdescudvJCsgt3ub+b+dWRWJTmaaJObG"
BCRYPT = "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"
SCRYPT = "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def one(conn: psycopg.Connection, sql: str, params=()):
    return conn.execute(sql, params).fetchone()[0]


def ref(conn: psycopg.Connection, table: str, code: str) -> int:
    key = table.replace("_reference", "_id")
    return one(conn, f"SELECT {key} FROM pulse.{table} WHERE code = %s", (code,))


def populate(conn: psycopg.Connection) -> dict:
    """Insert the data set and commit; returns the ids tests refer to."""
    ids = {}
    ids["alice"] = one(conn, """INSERT INTO users.users (email, display_name, password_hash, is_system_admin)
                               VALUES ('alice@example.com', 'Alice Admin', %s, true) RETURNING user_id""", (ARGON2ID,))
    ids["bob"] = one(conn, """INSERT INTO users.users (email, display_name, password_hash)
                             VALUES ('bob@example.com', 'Bob Builder', %s) RETURNING user_id""", (BCRYPT,))
    ids["carol"] = one(conn, """INSERT INTO users.users (email, display_name, password_hash, is_active, deleted_at)
                               VALUES ('carol@example.com', 'Carol Gone', %s, false, now()) RETURNING user_id""", (SCRYPT,))
    ids["session"] = one(conn, """INSERT INTO users.sessions (user_id, token_hash, expires_at, revoked_at, revoked_reason,
                                                           user_agent, ip_address, metadata)
                                 VALUES (%s, %s, now() + interval '1 hour', now(), 'signed out',
                                         'pytest', '127.0.0.1', '{"client": "tests"}') RETURNING session_id""",
                         (ids["alice"], hashlib.sha256(b"token-1").digest()))

    ids["storage"] = one(conn, """INSERT INTO pulse.storage_reference (code, label, provider, bucket, endpoint, addressing_style,
                                                                   key_prefix, retention_policy)
                                 VALUES ('local', 'Local S3', 'minio', 'pulse-docs', 'http://127.0.0.1:9000', 'path',
                                         'pulse/', interval '30 days') RETURNING storage_id""")
    conn.execute("""INSERT INTO pulse.storage_credential (storage_id, access_key_id, secret_access_key, max_expires_in)
                    VALUES (%s, 'PULSETESTKEY', 'pulse-test-secret', 600)""", (ids["storage"],))
    ids["storage_spare"] = one(conn, """INSERT INTO pulse.storage_reference (code, label, provider, bucket, region)
                                       VALUES ('spare', 'Spare', 'aws_s3', 'pulse-spare', 'eu-west-1')
                                       RETURNING storage_id""")
    conn.execute("INSERT INTO pulse.auditor_role (role_name) VALUES ('pulse_test_auditor')")
    ids["tag_custom"] = one(conn, """INSERT INTO pulse.tag_reference (code, label, category)
                                    VALUES ('customer-x', 'Customer X', 'audience') RETURNING tag_id""")

    ids["project"] = one(conn, """INSERT INTO projects.projects (name, description, owner_id, license_id, phase_id, priority_id,
                                                              created_by, updated_by)
                                 VALUES ('Apollo', 'Moon landing', %s, %s, %s, %s, %s, %s) RETURNING project_id""",
                         (ids["alice"], ref(conn, "license_reference", "MIT"), ref(conn, "phase_reference", "design"),
                          ref(conn, "priority_reference", "high"), ids["alice"], ids["bob"]))
    ids["project_deleted"] = one(conn, """INSERT INTO projects.projects (name, owner_id, phase_id, priority_id, deleted_at, deleted_by)
                                         VALUES ('Gemini', %s, %s, %s, now(), %s) RETURNING project_id""",
                                 (ids["bob"], ref(conn, "phase_reference", "idea"), ref(conn, "priority_reference", "low"),
                                  ids["alice"]))
    p = ids["project"]
    conn.execute("""INSERT INTO projects.project_member (project_id, user_id, access_role_id, added_by)
                    VALUES (%s, %s, %s, NULL), (%s, %s, %s, %s)""",
                 (p, ids["alice"], ref(conn, "access_role_reference", "owner"),
                  p, ids["bob"], ref(conn, "access_role_reference", "editor"), ids["alice"]))
    conn.execute("INSERT INTO projects.project_feature (project_id, feature_id, added_by) VALUES (%s, %s, %s), (%s, %s, NULL)",
                 (p, ref(conn, "feature_reference", "search"), ids["alice"], p, ref(conn, "feature_reference", "audit_trail")))
    conn.execute("INSERT INTO projects.project_tech_stack (project_id, tech_stack_id, added_by) VALUES (%s, %s, %s)",
                 (p, ref(conn, "tech_stack_reference", "postgresql"), ids["bob"]))
    conn.execute("INSERT INTO projects.project_tag (project_id, tag_id, added_by) VALUES (%s, %s, %s), (%s, %s, NULL)",
                 (p, ref(conn, "tag_reference", "security"), ids["alice"], p, ids["tag_custom"]))

    ids["decision"] = one(conn, """INSERT INTO projects.project_decision_log
                                      (project_id, decision_type_id, title, rationale, impact, status, decided_by, decided_at,
                                       created_by, updated_by)
                                  VALUES (%s, %s, 'Use PostgreSQL', 'Transactions and RLS', 'One database', 'accepted', %s, now(),
                                          %s, %s) RETURNING decision_id""",
                          (p, ref(conn, "decision_type_reference", "technology"), ids["alice"], ids["bob"], ids["alice"]))
    ids["decision_proposed"] = one(conn, """INSERT INTO projects.project_decision_log (project_id, decision_type_id, title, rationale)
                                           VALUES (%s, %s, 'Adopt S3', 'Cheap durable storage') RETURNING decision_id""",
                                   (p, ref(conn, "decision_type_reference", "architecture")))
    conn.execute("INSERT INTO projects.decision_feature (project_id, decision_id, feature_id) VALUES (%s, %s, %s)",
                 (p, ids["decision"], ref(conn, "feature_reference", "search")))

    content = b"%PDF-1.7 pulse test document"
    ids["document"] = one(conn, """INSERT INTO documents.documents
                                      (project_id, title, file_name, filetype_id, storage_id, object_key, size_bytes,
                                       checksum_sha256, image_url, custom_properties, priority_id, phase_id, uploaded_by,
                                       available_at, updated_by)
                                  VALUES (%s, 'Spec', 'spec.pdf', %s, %s, %s, %s, %s, 'https://img.example.com/spec.png',
                                          '{"lang": "en"}', %s, %s, %s, now(), %s) RETURNING document_id""",
                          (p, ref(conn, "filetype_reference", "pdf"), ids["storage"], "pulse/sha256/" + sha256_hex(content),
                           len(content), sha256_hex(content), ref(conn, "priority_reference", "medium"),
                           ref(conn, "phase_reference", "design"), ids["bob"], ids["alice"]))
    ids["document_deleted"] = one(conn, """INSERT INTO documents.documents
                                              (project_id, title, file_name, filetype_id, storage_id, object_key, size_bytes,
                                               checksum_sha256, priority_id, phase_id, deleted_at, deleted_by)
                                          VALUES (%s, 'Old notes', 'notes.txt', %s, %s, 'pulse/sha256/00', 0, %s, %s, %s,
                                                  now(), %s) RETURNING document_id""",
                                  (p, ref(conn, "filetype_reference", "txt"), ids["storage"], sha256_hex(b""),
                                   ref(conn, "priority_reference", "low"), ref(conn, "phase_reference", "idea"), ids["alice"]))
    conn.execute("INSERT INTO projects.decision_document (project_id, decision_id, document_id) VALUES (%s, %s, %s)",
                 (p, ids["decision"], ids["document"]))

    # History writes itself; one change is made by an authenticated user with a reason, so
    # that changed_by, session_id and reason are set somewhere.
    conn.execute("SELECT audit.set_column_policy('documents.documents', 'image_url', 'redact')")
    ids["hold"] = one(conn, "SELECT audit.place_legal_hold(%s, 'case 1')", (p,))
    conn.execute("SELECT audit.purge_chain_prefix('audit.project_history', %s, NULL, 1, 'test')", (p,))
    ids["tombstone_version"] = 1
    conn.execute("CREATE INDEX documents_title_idx ON documents.documents (title)")  # recorded in audit.ddl_log
    conn.execute("DROP INDEX documents.documents_title_idx")
    conn.commit()
    token = one(conn, "SELECT token FROM users.open_session(%s)", (ids["bob"],))
    conn.execute("SELECT pulse.authenticate(%s)", (token,))
    conn.execute("SELECT pulse.set_change_reason('kick-off')")
    conn.execute("UPDATE projects.projects SET description = 'First crewed landing' WHERE project_id = %s", (p,))
    conn.execute("UPDATE documents.documents SET title = 'Spec v2' WHERE document_id = %s", (ids["document"],))
    conn.execute("SELECT documents.download_url(%s)", (ids["document"],))  # logged in documents.url_grant
    ids["url_grant"] = one(conn, "SELECT max(grant_id) FROM documents.url_grant")
    conn.commit()
    return ids
