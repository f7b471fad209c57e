"""The catalog holds every entity of the seed with its columns, comments, indexes and
dump registration, and nothing of pulse's lives outside its five schemas."""

import psycopg
import pytest

from conftest import SCHEMAS

REFERENCE_SPINE = ["code", "label", "description", "is_builtin"]

# Every entity of the seed (docs: shared seed, Steps 1-5), with the columns it must have.
ENTITIES = {
    "users.users": ["user_id", "email", "display_name", "password_hash", "is_active", "is_system_admin",
                    "created_at", "updated_at", "deleted_at"],
    "users.sessions": ["session_id", "user_id", "token_hash", "created_at", "expires_at", "revoked_at",
                       "revoked_reason", "last_active_at", "user_agent", "ip_address", "metadata"],
    "pulse.feature_reference": ["feature_id", *REFERENCE_SPINE, "category"],
    "pulse.tech_stack_reference": ["tech_stack_id", *REFERENCE_SPINE, "category"],
    "pulse.access_role_reference": ["access_role_id", *REFERENCE_SPINE, "rank", "can_read", "can_write",
                                    "can_manage_members", "can_delete_restore", "can_administer"],
    "pulse.license_reference": ["license_id", *REFERENCE_SPINE, "category", "osi_approved"],
    "pulse.phase_reference": ["phase_id", *REFERENCE_SPINE, "sort_order", "is_terminal", "retention_policy"],
    "pulse.decision_type_reference": ["decision_type_id", *REFERENCE_SPINE, "category", "retention_policy"],
    "pulse.tag_reference": ["tag_id", *REFERENCE_SPINE, "category"],
    "pulse.filetype_reference": ["filetype_id", *REFERENCE_SPINE, "mime_type", "category", "extensions",
                                 "retention_policy"],
    "pulse.storage_reference": ["storage_id", *REFERENCE_SPINE, "provider", "bucket", "region", "endpoint",
                                "addressing_style", "key_prefix", "retention_policy"],
    "pulse.priority_reference": ["priority_id", *REFERENCE_SPINE, "rank"],
    "projects.projects": ["project_id", "name", "description", "owner_id", "license_id", "phase_id", "priority_id",
                          "version", "created_at", "created_by", "updated_at", "updated_by", "deleted_at", "deleted_by"],
    "projects.project_member": ["project_id", "user_id", "access_role_id", "added_at", "added_by"],
    "projects.project_feature": ["project_id", "feature_id", "added_at", "added_by"],
    "projects.project_tech_stack": ["project_id", "tech_stack_id", "added_at", "added_by"],
    "projects.project_tag": ["project_id", "tag_id", "added_at", "added_by"],
    "projects.project_decision_log": ["project_id", "decision_id", "decision_type_id", "title", "rationale", "impact",
                                      "status", "decided_by", "decided_at", "created_at", "created_by",
                                      "updated_at", "updated_by"],
    "projects.decision_feature": ["project_id", "decision_id", "feature_id"],
    "projects.decision_document": ["project_id", "decision_id", "document_id"],
    "documents.documents": ["project_id", "document_id", "title", "file_name", "filetype_id", "storage_id",
                            "object_key", "size_bytes", "checksum_sha256", "image_url", "custom_properties",
                            "priority_id", "phase_id", "version", "uploaded_by", "available_at", "created_at",
                            "updated_at", "updated_by", "deleted_at", "deleted_by", "deleted_with_project"],
    "audit.project_history": ["project_id", "version", "operation", "project_version", "owner_id", "priority_id",
                              "phase_id", "snapshot", "changed_columns", "change_summary", "reason", "changed_by",
                              "session_id", "changed_at", "transaction_id", "prev_hash", "row_hash"],
    "audit.document_history": ["project_id", "document_id", "version", "operation", "document_version",
                               "uploaded_by", "priority_id", "phase_id", "checksum_sha256", "snapshot",
                               "changed_columns", "change_summary", "reason", "changed_by", "session_id",
                               "changed_at", "transaction_id", "prev_hash", "row_hash"],
}


# Tables of pulse's own machinery rather than the seed's data model.
SUPPORT_TABLES = {
    "pulse.identity_key": ["singleton", "key", "created_at"],
    "pulse.auditor_role": ["role_name", "granted_at"],
    "audit.project_chain": ["project_id", "version", "row_hash"],
    "audit.document_chain": ["project_id", "document_id", "version", "row_hash"],
    "audit.column_policy": ["table_name", "column_name", "treatment", "set_at"],
    "pulse.redaction_salt": ["singleton", "salt", "created_at"],
    "audit.legal_hold": ["project_id", "hold_id", "placed_at", "placed_by", "reason", "released_at", "released_by"],
    "audit.history_tombstone": ["project_id", "history_table", "entity_id", "up_to_version", "removed_rows",
                                "removed_hash", "purged_at", "purged_by", "purged_by_role", "reason"],
    "pulse.storage_credential": ["storage_id", "access_key_id", "secret_access_key", "session_token",
                                 "max_expires_in", "updated_at"],
    "documents.document_revision": ["project_id", "document_id", "version", "object_key", "file_name", "filetype_id",
                                    "storage_id", "size_bytes", "checksum_sha256", "uploaded_by", "created_at",
                                    "available_at"],
    "documents.url_grant": ["grant_id", "project_id", "document_id", "version", "method", "user_id", "session_id",
                            "issued_at", "expires_at"],
    "audit.ddl_log": ["project_id", "event_id", "occurred_at", "login_role", "acting_role", "pulse_user_id", "event",
                      "command_tag", "object_type", "object_identity"],
}
# Not dumped on purpose: a restored database generates an identity key and a redaction salt
# of its own.
NOT_DUMPED = {"pulse.identity_key", "pulse.redaction_salt"}


@pytest.fixture(scope="module")
def conn(populated_db):
    with populated_db.connect(autocommit=True) as c:
        yield c


def rows(conn, sql, params=()):
    return conn.execute(sql, params).fetchall()


def test_every_seed_entity_exists_with_its_columns(conn):
    tables = rows(conn, """SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                           WHERE n.nspname = ANY(%s) AND c.relkind = 'r' ORDER BY 1""", (list(SCHEMAS),))
    assert sorted(t[0] for t in tables) == sorted({**ENTITIES, **SUPPORT_TABLES})
    for table, expected in {**ENTITIES, **SUPPORT_TABLES}.items():
        schema, name = table.split(".")
        cols = rows(conn, """SELECT column_name FROM information_schema.columns
                             WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position""", (schema, name))
        assert sorted(c[0] for c in cols) == sorted(expected), table


def test_identity_and_key_types(conn):
    """users get a database-generated integer, sessions a UUID, projects and documents bigints."""
    got = dict(rows(conn, """SELECT table_schema || '.' || table_name || '.' || column_name, data_type || ':' || is_identity
                             FROM information_schema.columns
                             WHERE (table_schema, table_name, column_name) IN
                                   (('users', 'users', 'user_id'), ('users', 'sessions', 'session_id'),
                                    ('projects', 'projects', 'project_id'), ('documents', 'documents', 'document_id'))"""))
    assert got == {"users.users.user_id": "integer:YES", "users.sessions.session_id": "uuid:NO",
                   "projects.projects.project_id": "bigint:YES", "documents.documents.document_id": "bigint:YES"}


def test_every_schema_table_and_column_is_commented(conn):
    missing = rows(conn, """
        SELECT 'schema ' || nspname FROM pg_namespace
         WHERE nspname = ANY(%(s)s) AND obj_description(oid, 'pg_namespace') IS NULL
        UNION ALL
        SELECT 'table ' || c.oid::regclass FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = ANY(%(s)s) AND c.relkind IN ('r', 'v', 'm', 'p') AND obj_description(c.oid, 'pg_class') IS NULL
        UNION ALL
        SELECT 'column ' || a.attrelid::regclass || '.' || a.attname
          FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = ANY(%(s)s) AND c.relkind IN ('r', 'v', 'm', 'p') AND a.attnum > 0 AND NOT a.attisdropped
           AND col_description(a.attrelid, a.attnum) IS NULL
        UNION ALL
        SELECT 'function ' || p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = ANY(%(s)s) AND obj_description(p.oid, 'pg_proc') IS NULL""", {"s": list(SCHEMAS)})
    assert missing == []


def test_every_foreign_key_has_a_supporting_index(conn):
    """An index whose leading columns are exactly the foreign-key columns (in any order)."""
    unindexed = rows(conn, """
        SELECT c.conrelid::regclass || ' ' || c.conname
          FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
         WHERE c.contype = 'f' AND n.nspname = ANY(%s)
           AND NOT EXISTS (
               SELECT 1 FROM pg_index i
                WHERE i.indrelid = c.conrelid
                  AND (SELECT array_agg(k ORDER BY k) FROM unnest((i.indkey::int2[])[0:cardinality(c.conkey) - 1]) k)
                      = (SELECT array_agg(k ORDER BY k) FROM unnest(c.conkey) k))""", (list(SCHEMAS),))
    assert unindexed == []


def test_extension_objects_live_only_in_pulse_schemas(conn):
    outside = rows(conn, """
        SELECT pg_describe_object(d.classid, d.objid, 0)
          FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid AND d.refclassid = 'pg_extension'::regclass
         WHERE e.extname = 'pulse' AND d.deptype = 'e'
           AND COALESCE(
                 CASE d.classid
                   WHEN 'pg_class'::regclass THEN (SELECT relnamespace FROM pg_class WHERE oid = d.objid)
                   WHEN 'pg_proc'::regclass THEN (SELECT pronamespace FROM pg_proc WHERE oid = d.objid)
                   WHEN 'pg_type'::regclass THEN (SELECT typnamespace FROM pg_type WHERE oid = d.objid)
                 END, 0) NOT IN (SELECT oid FROM pg_namespace WHERE nspname = ANY(%s))
           AND d.classid <> 'pg_namespace'::regclass""", (list(SCHEMAS),))
    # Event triggers belong to no schema; pulse's are the two of the DDL audit.
    assert sorted(outside) == [("event trigger pulse_ddl_audit",), ("event trigger pulse_ddl_drop_audit",)]
    owned_schemas = rows(conn, """
        SELECT n.nspname FROM pg_depend d JOIN pg_namespace n ON n.oid = d.objid
         WHERE d.classid = 'pg_namespace'::regclass AND d.deptype = 'e'
           AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pulse') ORDER BY 1""")
    assert [r[0] for r in owned_schemas] == sorted(SCHEMAS)
    assert rows(conn, "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace") == [(0,)]


def test_every_table_and_sequence_is_registered_for_pg_dump(conn):
    unregistered = rows(conn, """
        SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'S')
           AND c.oid <> ALL (SELECT unnest(extconfig) FROM pg_extension WHERE extname = 'pulse')""", (list(SCHEMAS),))
    assert {r[0] for r in unregistered} == NOT_DUMPED
    filters = dict(rows(conn, """SELECT cfg::regclass::text, cond FROM pg_extension,
                                        unnest(extconfig, extcondition) AS u(cfg, cond)
                                 WHERE extname = 'pulse'"""))
    assert filters["pulse.tag_reference"] == "WHERE NOT is_builtin"
    assert filters["projects.projects"] == ""


def test_per_project_keys_include_project_id(conn):
    """The Citus rule: every primary/unique key and every foreign key between per-project
    tables of a table with project_id includes project_id."""
    offenders = rows(conn, """
        SELECT c.conrelid::regclass || ' ' || c.conname
          FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
         WHERE n.nspname = ANY(%s) AND c.contype IN ('p', 'u', 'f')
           AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.conrelid AND a.attname = 'project_id')
           AND (c.contype <> 'f' OR EXISTS (SELECT 1 FROM pg_attribute a
                                              WHERE a.attrelid = c.confrelid AND a.attname = 'project_id'))
           AND NOT EXISTS (SELECT 1 FROM pg_attribute a
                            WHERE a.attrelid = c.conrelid AND a.attname = 'project_id' AND a.attnum = ANY(c.conkey))
        UNION ALL
        SELECT i.indexrelid::regclass::text FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
          JOIN pg_namespace n ON n.oid = t.relnamespace
         WHERE n.nspname = ANY(%s) AND i.indisunique
           AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = t.oid AND a.attname = 'project_id')
           AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = t.oid AND a.attname = 'project_id'
                                                          AND a.attnum = ANY(i.indkey::int2[]))""",
                     (list(SCHEMAS), list(SCHEMAS)))
    assert offenders == []


def pulse_functions(conn, condition: str = "true"):
    return [r[0] for r in rows(conn, f"""
        SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = ANY(%s) AND ({condition}) ORDER BY 1""", (list(SCHEMAS),))]


def test_function_hygiene(conn):
    """Security definers pin search_path; nothing is LEAKPROOF; PUBLIC may execute nothing;
    every function says what it is for."""
    assert pulse_functions(conn) != []
    assert pulse_functions(conn, "p.prosecdef AND NOT coalesce(p.proconfig, '{}') @> '{\"search_path=pg_catalog, pg_temp\"}'") == []
    assert pulse_functions(conn, "p.proleakproof") == []
    assert pulse_functions(conn, "has_function_privilege('public', p.oid, 'EXECUTE')") == []
    assert pulse_functions(conn, "obj_description(p.oid, 'pg_proc') IS NULL") == []


def test_trigger_functions_refuse_a_direct_call(conn):
    """A trigger function written in Rust, called other than by the trigger manager, is
    refused with 39P01 in its own name, never with a Rust panic's XX000 (src/trigger_entry.rs)."""
    functions = [f for (f,) in rows(conn, """
        SELECT format('%%I.%%I()', n.nspname, p.proname) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = ANY(%s) AND p.prorettype = 'trigger'::regtype
           AND p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'c') ORDER BY 1""", (list(SCHEMAS),))]
    assert functions == ["audit.capture_document()", "audit.capture_project()", "audit.capture_project_link()",
                         "audit.flush_project_links()", "audit.refuse_history_change()", "audit.refuse_truncate()",
                         "pulse.check_phase_transition()", "pulse.forget_cached_copies()", "pulse.reference_guard()"]
    for function in functions:
        with pytest.raises(psycopg.Error) as refused:
            conn.execute(f"SELECT {function}")
        assert (refused.value.sqlstate, refused.value.diag.message_primary) == \
            ("39P01", f"{function} can only be called as a trigger")


def test_capture_functions_refuse_a_table_they_do_not_serve(fresh_db):
    """A capture function a superuser attaches to another table refuses that table's rows with
    39P01 and writes no history, instead of recording them as the history of whatever project
    or document ids their columns hold."""
    serves = {"audit.capture_project()": "projects.projects",
              "audit.capture_project_link()": "the link tables of projects",
              "audit.capture_document()": "documents.documents"}
    with fresh_db.connect(autocommit=True) as c:
        c.execute("CREATE SCHEMA scratch")
        c.execute("CREATE TABLE scratch.t (project_id bigint, document_id bigint, user_id integer)")
        c.execute("INSERT INTO scratch.t VALUES (1, 1, 1)")
        for function, tables in serves.items():
            c.execute(f"CREATE TRIGGER misattached AFTER INSERT OR UPDATE OR DELETE ON scratch.t "
                      f"FOR EACH ROW EXECUTE FUNCTION {function}")
            for statement in ("INSERT INTO scratch.t VALUES (2, 2, 2)", "UPDATE scratch.t SET user_id = 3",
                              "DELETE FROM scratch.t"):
                with pytest.raises(psycopg.Error) as refused:
                    c.execute(statement)
                assert (refused.value.sqlstate, refused.value.diag.message_primary) == \
                    ("39P01", f"{function}: fired on scratch.t, but it records only {tables}"), statement
            c.execute("DROP TRIGGER misattached ON scratch.t")
        # Named like a shard of documents.documents (test_history.py), but in another schema or
        # without a shard id: refused as well.
        for table in ("scratch.documents_102008", "documents.documents_copy"):
            c.execute(f"CREATE TABLE {table} (project_id bigint, document_id bigint)")
            c.execute(f"CREATE TRIGGER misattached AFTER INSERT ON {table} "
                      f"FOR EACH ROW EXECUTE FUNCTION audit.capture_document()")
            with pytest.raises(psycopg.Error) as refused:
                c.execute(f"INSERT INTO {table} VALUES (1, 1)")
            assert (refused.value.sqlstate, refused.value.diag.message_primary) == \
                ("39P01", f"audit.capture_document(): fired on {table}, but it records only documents.documents")
        assert rows(c, "SELECT (SELECT count(*) FROM audit.project_history), (SELECT count(*) FROM audit.document_history),"
                       " (SELECT count(*) FROM scratch.t)") == [(0, 0, 1)]


# A plain value of each argument type pulse's functions take, to stand beside a NULL.
ARGUMENT_VALUES = {"bigint": "1", "integer": "1", "boolean": "true", "bytea": "'\\x00'", "inet": "'127.0.0.1'",
                   "interval": "'1 day'", "jsonb": "'{}'", "name": "'code'", "regclass": "'pulse.tag_reference'",
                   "text": "'x'", "timestamp with time zone": "now()", "uuid": "gen_random_uuid()"}


def test_no_function_answers_a_null_argument_with_an_internal_error(fresh_db):
    """Every function, called with NULL in all its arguments and with NULL in each one in turn
    (plain values in the others), answers with a precise SQLSTATE or a result, never XX000:
    a function that is not strict receives the NULL, and a Rust argument that cannot hold
    one would be pgrx's panic ("argument 0 must not be null")."""
    with fresh_db.connect(autocommit=True) as c:
        c.execute("SET statement_timeout = '10s'")
        functions = rows(c, """
            SELECT format('%%I.%%I', n.nspname, p.proname), array(SELECT format_type(t, NULL) FROM unnest(p.proargtypes) t)
              FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = ANY(%s) AND p.prokind = 'f'
               AND p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype) ORDER BY 1""", (list(SCHEMAS),))
        assert {t for _, types in functions for t in types} <= ARGUMENT_VALUES.keys()
        internal = []
        for function, types in functions:
            calls = {tuple("NULL" if i == position or position is None else ARGUMENT_VALUES[t]
                           for i, t in enumerate(types)) for position in (None, *range(len(types)))}
            for values in sorted(calls):
                call = f"SELECT {function}({', '.join(f'{v}::{t}' for v, t in zip(values, types))})"
                try:
                    c.execute(call)
                except psycopg.Error as error:
                    if error.sqlstate is None or error.sqlstate.startswith("XX"):
                        internal.append((call, error.sqlstate, error.diag.message_primary))
        assert len(functions) > 50
        assert internal == []


def test_schemas_grant_usage_only(conn):
    assert rows(conn, """
        SELECT n.nspname, a.privilege_type FROM pg_namespace n, aclexplode(n.nspacl) a
         WHERE n.nspname = ANY(%s) AND a.grantee <> n.nspowner AND a.privilege_type <> 'USAGE'""",
                (list(SCHEMAS),)) == []


def test_every_column_a_policy_compares_leads_an_index(conn):
    """Policies filter on project_id, owner_id or user_id; each must be the first column of
    an index of its table, or the policy turns listings into sequential scans."""
    policies = rows(conn, """
        SELECT p.schemaname || '.' || p.tablename, a.attname
          FROM pg_policies p
          JOIN pg_attribute a ON a.attrelid = (p.schemaname || '.' || p.tablename)::regclass AND a.attnum > 0
         WHERE p.schemaname = ANY(%s)
           AND concat_ws(' ', p.qual, p.with_check) ~ ('(^|[^a-z_.])' || a.attname || ' (=|BETWEEN)')""",
                    (list(SCHEMAS),))
    assert {column for _, column in policies} == {"project_id", "owner_id", "user_id"}
    unindexed = [(table, column) for table, column in policies if rows(conn, """
        SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
         WHERE i.indrelid = %s::regclass AND a.attname = %s""", (table, column)) == []]
    assert unindexed == []
