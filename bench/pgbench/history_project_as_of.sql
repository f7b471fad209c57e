-- A project as it was at the time of its version 5 (audit.project_as_of), for a random project
-- of the grown history (bench/sql/history_grow.sql: copy k / seed of seed project k % seed).
\set k random(0, :project_entities - 1)
\set id :first_project + :k % :seed_projects + (:k / :seed_projects) * :stride
BEGIN;
SELECT pulse.authenticate(:token);
SELECT audit.project_as_of(:id, to_timestamp(:at));
END;
