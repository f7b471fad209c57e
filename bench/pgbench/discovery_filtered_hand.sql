-- The same search and facets as discovery_filtered_rls.sql written by hand without row-level
-- security (as the table owner): the application checks the session itself, filters by the
-- user's 10 projects (:projects) and writes the filter as SQL.
BEGIN;
SELECT s.user_id FROM users.sessions s JOIN users.users u ON u.user_id = s.user_id
 WHERE s.token_hash = sha256(convert_to(:token, 'UTF8')) AND s.revoked_at IS NULL
   AND s.expires_at > now() AND u.is_active;
SELECT d.document_id, d.project_id, pj.name, d.title, d.file_name, ft.code, ft.label, ft.mime_type, ft.category,
       st.code, st.label, ph.code, ph.label, pr.code, pr.label, d.size_bytes, d.custom_properties, d.version,
       d.uploaded_by, u.display_name, d.available_at, d.created_at, d.updated_at, d.deleted_at
  FROM documents.documents d
  JOIN pulse.filetype_reference ft ON ft.filetype_id = d.filetype_id
  JOIN pulse.storage_reference st ON st.storage_id = d.storage_id
  JOIN pulse.phase_reference ph ON ph.phase_id = d.phase_id
  JOIN pulse.priority_reference pr ON pr.priority_id = d.priority_id
  JOIN projects.projects pj ON pj.project_id = d.project_id
  LEFT JOIN users.users u ON u.user_id = d.uploaded_by
 WHERE d.project_id = ANY (:projects::bigint[]) AND d.deleted_at IS NULL
   AND ft.category IN ('document', 'spreadsheet', 'presentation') AND ph.code IN ('design', 'build', 'review', 'release')
   AND d.size_bytes >= 100000 AND d.custom_properties @> '{"confidential": false}'
 ORDER BY d.document_id DESC
 LIMIT 51;
WITH matched AS (
    SELECT d.filetype_id, d.storage_id, d.phase_id, d.priority_id
      FROM documents.documents d
      JOIN pulse.filetype_reference ft ON ft.filetype_id = d.filetype_id
      JOIN pulse.phase_reference ph ON ph.phase_id = d.phase_id
     WHERE d.project_id = ANY (:projects::bigint[]) AND d.deleted_at IS NULL
       AND ft.category IN ('document', 'spreadsheet', 'presentation') AND ph.code IN ('design', 'build', 'review', 'release')
       AND d.size_bytes >= 100000 AND d.custom_properties @> '{"confidential": false}'
), counted AS (
    SELECT filetype_id, storage_id, phase_id, priority_id, GROUPING(filetype_id, storage_id, phase_id, priority_id) AS g,
           count(*) AS n
      FROM matched GROUP BY GROUPING SETS ((filetype_id), (storage_id), (phase_id), (priority_id), ())
)
SELECT 'total', NULL, NULL, n FROM counted WHERE g = 15
UNION ALL SELECT 'filetype', r.code, r.label, n FROM counted c JOIN pulse.filetype_reference r USING (filetype_id) WHERE g = 7
UNION ALL SELECT 'mime_category', r.category, initcap(r.category), sum(n)
            FROM counted c JOIN pulse.filetype_reference r USING (filetype_id) WHERE g = 7 GROUP BY r.category
UNION ALL SELECT 'storage', r.code, r.label, n FROM counted c JOIN pulse.storage_reference r USING (storage_id) WHERE g = 11
UNION ALL SELECT 'phase', r.code, r.label, n FROM counted c JOIN pulse.phase_reference r USING (phase_id) WHERE g = 13
UNION ALL SELECT 'priority', r.code, r.label, n FROM counted c JOIN pulse.priority_reference r USING (priority_id) WHERE g = 14;
END;
