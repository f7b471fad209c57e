-- pulse install script: the session monitor (src/session_monitor.rs keeps the data in shared
-- memory; pulse must be in shared_preload_libraries). Which application users are on which
-- connections right now, and sessions that look wrong.

-- Active sessions with the backends that authenticated them. A backend counts while it
-- lives: a pid reused by a later backend started after the authentication does not match.
-- Other roles' backends are visible in pg_stat_activity only to superusers and members of
-- pg_read_all_stats. To end one: SELECT pg_terminate_backend(pid) FROM users.session_monitor
-- WHERE email = '...'; users.revoke_session() ends the session itself.
CREATE VIEW users.session_monitor AS
SELECT s.session_id, s.user_id, u.email, b.pid, a.client_addr AS backend_client_addr, a.application_name, a.state,
       a.query_start, b.authenticated_at, b.client_address AS reported_client_address,
       b.user_agent AS reported_user_agent, s.ip_address AS opened_from, s.user_agent AS opened_with
  FROM users.session_backends() b
  JOIN users.sessions s ON s.session_id = b.session_id
  JOIN users.users u ON u.user_id = s.user_id
  JOIN pg_catalog.pg_stat_activity a ON a.pid = b.pid AND a.backend_start <= b.authenticated_at
 WHERE s.revoked_at IS NULL AND s.expires_at > pg_catalog.now();
COMMENT ON VIEW users.session_monitor IS
    'Active pulse sessions and the backends that authenticated them now (pid, client address, application name, state, query start). Needs pulse in shared_preload_libraries.';
COMMENT ON COLUMN users.session_monitor.session_id IS 'The pulse session.';
COMMENT ON COLUMN users.session_monitor.user_id IS 'Its user.';
COMMENT ON COLUMN users.session_monitor.email IS 'The user''s e-mail address.';
COMMENT ON COLUMN users.session_monitor.pid IS 'The backend that last authenticated the session (pg_terminate_backend ends it).';
COMMENT ON COLUMN users.session_monitor.backend_client_addr IS 'The database connection''s peer (the application server, usually).';
COMMENT ON COLUMN users.session_monitor.application_name IS 'The connection''s application_name.';
COMMENT ON COLUMN users.session_monitor.state IS 'The backend''s state (active, idle, idle in transaction).';
COMMENT ON COLUMN users.session_monitor.query_start IS 'When the backend''s current or last query started.';
COMMENT ON COLUMN users.session_monitor.authenticated_at IS 'When the backend last authenticated the session.';
COMMENT ON COLUMN users.session_monitor.reported_client_address IS 'The end user''s address the application passed to pulse.authenticate.';
COMMENT ON COLUMN users.session_monitor.reported_user_agent IS 'The user agent the application passed to pulse.authenticate.';
COMMENT ON COLUMN users.session_monitor.opened_from IS 'The address the session was opened from.';
COMMENT ON COLUMN users.session_monitor.opened_with IS 'The user agent the session was opened with.';

-- What the seed keeps IP address and user agent for: sessions used from elsewhere than
-- they were opened, users with unusually many active sessions (more than 10), and bursts of
-- failed authentications (5 or more in 10 minutes) per user and per address.
CREATE VIEW users.session_anomalies AS
-- Shared memory is read once per query: each CTE is referenced twice.
WITH used AS (
    SELECT s.user_id, s.session_id, b.client_address, b.user_agent, b.authenticated_at,
           pg_catalog.host(s.ip_address) AS opened_from, s.user_agent AS opened_with
      FROM users.session_backends() b JOIN users.sessions s ON s.session_id = b.session_id
), recent_failures AS (
    SELECT f.user_id, f.client_address, f.failed_at FROM users.failed_authentications() f
     WHERE f.failed_at > pg_catalog.now() - interval '10 minutes'
)
SELECT 'address changed'::text AS kind, u.user_id, u.session_id, u.client_address,
       pg_catalog.format('opened from %s, used from %s', u.opened_from, u.client_address) AS detail,
       u.authenticated_at AS observed_at
  FROM used u
 WHERE u.opened_from IS NOT NULL AND u.client_address IS NOT NULL AND u.client_address <> u.opened_from
UNION ALL
SELECT 'user agent changed', u.user_id, u.session_id, u.client_address,
       pg_catalog.format('opened with %s, used with %s', u.opened_with, u.user_agent), u.authenticated_at
  FROM used u
 WHERE u.opened_with IS NOT NULL AND u.user_agent IS NOT NULL AND u.user_agent <> u.opened_with
UNION ALL
SELECT 'many active sessions', s.user_id, NULL, NULL, pg_catalog.format('%s active sessions', pg_catalog.count(*)),
       pg_catalog.max(s.created_at)
  FROM users.sessions s
 WHERE s.revoked_at IS NULL AND s.expires_at > pg_catalog.now()
 GROUP BY s.user_id HAVING pg_catalog.count(*) > 10
UNION ALL
SELECT 'failed authentications of a user', f.user_id, NULL, NULL,
       pg_catalog.format('%s failures in 10 minutes', pg_catalog.count(*)), pg_catalog.max(f.failed_at)
  FROM recent_failures f
 WHERE f.user_id IS NOT NULL
 GROUP BY f.user_id HAVING pg_catalog.count(*) >= 5
UNION ALL
SELECT 'failed authentications from an address', NULL, NULL, f.client_address,
       pg_catalog.format('%s failures in 10 minutes', pg_catalog.count(*)), pg_catalog.max(f.failed_at)
  FROM recent_failures f
 WHERE f.client_address IS NOT NULL
 GROUP BY f.client_address HAVING pg_catalog.count(*) >= 5;
COMMENT ON VIEW users.session_anomalies IS
    'Sessions used from another address or user agent than they were opened with, users with more than 10 active sessions, and 5 or more failed authentications in 10 minutes per user or per address.';
COMMENT ON COLUMN users.session_anomalies.kind IS 'What looks wrong.';
COMMENT ON COLUMN users.session_anomalies.user_id IS 'The user concerned, when known.';
COMMENT ON COLUMN users.session_anomalies.session_id IS 'The session concerned, for address and user agent changes.';
COMMENT ON COLUMN users.session_anomalies.client_address IS 'The address concerned, as the application reported it.';
COMMENT ON COLUMN users.session_anomalies.detail IS 'What was seen.';
COMMENT ON COLUMN users.session_anomalies.observed_at IS 'When it was last seen.';

COMMENT ON FUNCTION users.session_backends() IS
    'The pulse session each backend last authenticated, from shared memory (55000 unless pulse is in shared_preload_libraries).';
COMMENT ON FUNCTION users.failed_authentications() IS
    'The last 2048 failed authentications (time, user when the token named one, reported address, reason), from shared memory; they outlive the aborted transaction.';
