-- The same listing written by hand without row-level security (run as the table owner):
-- the application checks the session itself and filters by the user's memberships.
BEGIN;
SELECT s.user_id FROM users.sessions s JOIN users.users u ON u.user_id = s.user_id
 WHERE s.token_hash = sha256(convert_to(:token, 'UTF8')) AND s.revoked_at IS NULL
   AND s.expires_at > now() AND u.is_active;
SELECT document_id, project_id, title, size_bytes FROM documents.documents
 WHERE deleted_at IS NULL
   AND project_id IN (SELECT m.project_id FROM projects.project_member m
                        JOIN pulse.access_role_reference r ON r.access_role_id = m.access_role_id
                       WHERE m.user_id = :uid AND r.can_read);
END;
