-- pulse install script: history capture, the hash chain and the append-only guard.
--
-- The trigger functions are Rust (src/history/): capture.rs describes each change,
-- chain.rs seals each history row into its entity's hash chain, guard.rs refuses edits.
-- Triggers fire in name order; history_capture on projects.projects must come before
-- owner_membership (access.sql), so that a project's creation is its version 1.

COMMENT ON FUNCTION pulse.set_change_reason(text) IS
    'Give the reason for this transaction''s changes; every history row of the transaction records it.';
COMMENT ON FUNCTION audit.capture_project() IS
    'AFTER ROW trigger on projects.projects: records the change with a full snapshot, its diff and summary.';
COMMENT ON FUNCTION audit.capture_project_link() IS
    'AFTER ROW trigger on the project link tables: collects added and removed elements until the statement ends.';
COMMENT ON FUNCTION audit.flush_project_links() IS
    'AFTER STATEMENT trigger on the project link tables: records one project version per project the statement touched.';
COMMENT ON FUNCTION audit.capture_document() IS
    'AFTER ROW trigger on documents.documents: records the change with a full snapshot, its diff and summary.';
COMMENT ON FUNCTION audit.seal_history_row() IS
    'BEFORE INSERT trigger on the history tables: assigns the next version, chains prev_hash and computes row_hash.';
COMMENT ON FUNCTION audit.refuse_history_change() IS
    'Trigger on history and chain tables: UPDATE, DELETE and TRUNCATE are refused (42501).';
COMMENT ON FUNCTION audit.refuse_truncate() IS
    'BEFORE TRUNCATE trigger on audited tables: refused (42501), so that every removal is recorded.';
COMMENT ON FUNCTION audit.verify() IS
    'One row per broken link of the history hash chains (table, entity, version, what is wrong); no rows when history is intact.';

CREATE TRIGGER history_capture AFTER INSERT OR UPDATE OR DELETE ON projects.projects
    FOR EACH ROW EXECUTE FUNCTION audit.capture_project();
CREATE TRIGGER history_capture AFTER INSERT OR UPDATE OR DELETE ON documents.documents
    FOR EACH ROW EXECUTE FUNCTION audit.capture_document();

DO $capture$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['projects.project_feature', 'projects.project_tech_stack', 'projects.project_tag',
                             'projects.project_member', 'projects.project_decision_log'] LOOP
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER history_capture AFTER INSERT OR UPDATE OR DELETE ON %s
                 FOR EACH ROW EXECUTE FUNCTION audit.capture_project_link()', t);
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER history_flush AFTER INSERT OR UPDATE OR DELETE ON %s
                 FOR EACH STATEMENT EXECUTE FUNCTION audit.flush_project_links()', t);
    END LOOP;

    FOREACH t IN ARRAY ARRAY['projects.projects', 'projects.project_feature', 'projects.project_tech_stack',
                             'projects.project_tag', 'projects.project_member', 'projects.project_decision_log',
                             'documents.documents'] LOOP
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER refuse_truncate BEFORE TRUNCATE ON %s
                 FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_truncate()', t);
    END LOOP;

    FOREACH t IN ARRAY ARRAY['audit.project_history', 'audit.document_history'] LOOP
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER seal BEFORE INSERT ON %s FOR EACH ROW EXECUTE FUNCTION audit.seal_history_row()', t);
    END LOOP;

    FOREACH t IN ARRAY ARRAY['audit.project_history', 'audit.document_history', 'audit.project_chain',
                             'audit.document_chain'] LOOP
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON %s
                 FOR EACH ROW EXECUTE FUNCTION audit.refuse_history_change()', t);
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON %s
                 FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_history_change()', t);
    END LOOP;
END
$capture$;

-- Reading history. Security invoker: row-level security shows each caller the history of
-- the projects they may read.
CREATE INDEX document_history_document_idx ON audit.document_history (document_id, version);

CREATE FUNCTION audit.project_as_of(project_id bigint, at timestamptz) RETURNS jsonb
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN h.operation = 'DELETE' THEN NULL ELSE h.snapshot END
      FROM audit.project_history h
     WHERE h.project_id = project_as_of.project_id AND h.changed_at <= project_as_of.at
     ORDER BY h.version DESC
     LIMIT 1;
$$;
COMMENT ON FUNCTION audit.project_as_of(bigint, timestamptz) IS
    'The project (row and link sets) as it was at a time: the snapshot of its last version recorded by then; NULL if it did not exist or was deleted.';

CREATE FUNCTION audit.document_as_of(document_id bigint, at timestamptz) RETURNS jsonb
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN h.operation = 'DELETE' THEN NULL ELSE h.snapshot END
      FROM audit.document_history h
     WHERE h.document_id = document_as_of.document_id AND h.changed_at <= document_as_of.at
     ORDER BY h.version DESC
     LIMIT 1;
$$;
COMMENT ON FUNCTION audit.document_as_of(bigint, timestamptz) IS
    'The document as it was at a time: the snapshot of its last version recorded by then; NULL if it did not exist or was deleted.';

COMMENT ON FUNCTION audit.project_diff(bigint, integer, integer) IS
    'What changed between two versions of a project: one row per field (old, new), one per added or removed set element, references by label.';
COMMENT ON FUNCTION audit.document_diff(bigint, integer, integer) IS
    'What changed between two versions of a document: one row per field (old, new), references by label.';
COMMENT ON FUNCTION audit.rollback_project(bigint, integer, integer) IS
    'Restore a project and its feature, tech-stack, tag and member sets to an earlier version, if it is still at expected_current_version (40001 otherwise); recorded as a ROLLBACK version, whose number is returned.';
COMMENT ON FUNCTION audit.rollback_document(bigint, integer, integer) IS
    'Restore a document to an earlier version, if it is still at expected_current_version (40001 otherwise); recorded as a ROLLBACK version, whose number is returned.';
