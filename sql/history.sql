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
