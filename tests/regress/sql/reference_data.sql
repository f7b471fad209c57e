-- Golden test: the built-in reference data and the guard around it.
\set VERBOSITY default
\set SHOW_CONTEXT never

SELECT code, label, rank, can_read, can_write, can_manage_members, can_delete_restore, can_administer
  FROM pulse.access_role_reference ORDER BY rank;
SELECT code, label, sort_order, is_terminal, retention_policy FROM pulse.phase_reference ORDER BY sort_order;
SELECT code, label, rank FROM pulse.priority_reference ORDER BY rank;
SELECT category, count(*), string_agg(code, ', ' ORDER BY code) AS codes
  FROM pulse.filetype_reference GROUP BY category ORDER BY category;
SELECT 'license' AS reference, count(*) FROM pulse.license_reference
UNION ALL SELECT 'feature', count(*) FROM pulse.feature_reference
UNION ALL SELECT 'tech_stack', count(*) FROM pulse.tech_stack_reference
UNION ALL SELECT 'tag', count(*) FROM pulse.tag_reference
UNION ALL SELECT 'decision_type', count(*) FROM pulse.decision_type_reference
UNION ALL SELECT 'storage', count(*) FROM pulse.storage_reference;

-- Built-in rows are the extension's.
UPDATE pulse.phase_reference SET label = 'Construction' WHERE code = 'build';
DELETE FROM pulse.priority_reference WHERE code = 'low';
INSERT INTO pulse.tag_reference (code, label, category, is_builtin) VALUES ('mine', 'Mine', 'custom', true);

-- A DBA's own rows are ordinary data.
BEGIN;
INSERT INTO pulse.tag_reference (code, label, category) VALUES ('gdpr', 'GDPR', 'risk') RETURNING code, label, is_builtin;
UPDATE pulse.tag_reference SET label = 'GDPR scope' WHERE code = 'gdpr' RETURNING code, label;
ROLLBACK;
