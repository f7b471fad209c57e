-- One-time set-up of a pulse database for the example service, run by a superuser:
--
--   psql -d DATABASE -v app_role=pulse_app -v signin_role=pulse_signin -f examples/fastapi/setup.sql
--
-- Makes (if missing) two login roles without passwords; give them passwords or other
-- authentication in pg_hba.conf as your site does (ALTER ROLE ... PASSWORD ...).
--
-- app_role     runs every request, under row-level security: pulse.grant_application_role.
-- signin_role  reads the password hash of the user who signs in, and nothing else:
--              pulse.grant_sign_in_role grants users.sign_in_credentials(email) only.
\set ON_ERROR_STOP on

SELECT format('CREATE ROLE %I LOGIN', :'app_role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_role') \gexec
SELECT pulse.grant_application_role(:'app_role');

SELECT format('CREATE ROLE %I LOGIN', :'signin_role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'signin_role') \gexec
SELECT pulse.grant_sign_in_role(:'signin_role');
