-- What changed from version 3 to version 8 of a random project (audit.project_diff).
\set k random(0, :project_entities - 1)
\set id :first_project + :k % :seed_projects + (:k / :seed_projects) * :stride
BEGIN;
SELECT pulse.authenticate(:token);
SELECT * FROM audit.project_diff(:id, 3, 8);
END;
