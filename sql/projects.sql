-- pulse install script: projects, membership, links and the decision log (seed Step 3).
--
-- Every per-project table carries project_id, and its primary and unique keys start with
-- it, so each can be distributed by project_id (Citus) with its rows co-located; foreign
-- keys between per-project tables include project_id, so none crosses projects.

CREATE TABLE projects.projects (
    project_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text NOT NULL,
    description  text,
    owner_id     integer NOT NULL REFERENCES users.users (user_id),
    license_id   integer REFERENCES pulse.license_reference (license_id),
    phase_id     integer NOT NULL REFERENCES pulse.phase_reference (phase_id),
    priority_id  integer NOT NULL REFERENCES pulse.priority_reference (priority_id),
    version      integer NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   integer REFERENCES users.users (user_id),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    updated_by   integer REFERENCES users.users (user_id),
    deleted_at   timestamptz,
    deleted_by   integer REFERENCES users.users (user_id),
    CONSTRAINT projects_name_format
        CHECK (name = btrim(name) AND name <> '' AND length(name) <= 200 AND name !~ '[[:cntrl:]]'),
    CONSTRAINT projects_description_length CHECK (length(description) <= 20000),
    CONSTRAINT projects_version_positive CHECK (version >= 1),
    CONSTRAINT projects_updated_after_created CHECK (updated_at >= created_at),
    CONSTRAINT projects_deleted_after_created CHECK (deleted_at >= created_at),
    CONSTRAINT projects_deleted_by_needs_deleted_at CHECK (deleted_by IS NULL OR deleted_at IS NOT NULL)
);
CREATE INDEX projects_owner_id_idx ON projects.projects (owner_id);
CREATE INDEX projects_license_id_idx ON projects.projects (license_id);
CREATE INDEX projects_phase_id_idx ON projects.projects (phase_id);
CREATE INDEX projects_priority_id_idx ON projects.projects (priority_id);
-- Audit columns are mostly NULL or repeat the owner: partial indexes serve the foreign-key
-- checks (a predicate "col = $1" implies "col IS NOT NULL") at a fraction of the size.
CREATE INDEX projects_created_by_idx ON projects.projects (created_by) WHERE created_by IS NOT NULL;
CREATE INDEX projects_updated_by_idx ON projects.projects (updated_by) WHERE updated_by IS NOT NULL;
CREATE INDEX projects_deleted_by_idx ON projects.projects (deleted_by) WHERE deleted_by IS NOT NULL;
CREATE TRIGGER touch_updated_at BEFORE UPDATE ON projects.projects
    FOR EACH ROW EXECUTE FUNCTION pulse.touch_updated_at();
-- The version counts changes of the row; nobody sets it by hand (a rollback included).
CREATE FUNCTION projects.count_project_version() RETURNS trigger
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    NEW.version := OLD.version;
    IF (to_jsonb(NEW) - '{updated_at,updated_by,version}'::text[])
       IS DISTINCT FROM (to_jsonb(OLD) - '{updated_at,updated_by,version}'::text[]) THEN
        NEW.version := OLD.version + 1;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION projects.count_project_version() IS
    'Trigger on projects.projects: version + 1 for every UPDATE that changes more than the bookkeeping columns; the version cannot be set by hand.';
CREATE TRIGGER count_project_version BEFORE UPDATE ON projects.projects
    FOR EACH ROW EXECUTE FUNCTION projects.count_project_version();
COMMENT ON TABLE projects.projects IS
    'Projects: metadata, ownership, lifecycle phase and priority, with soft delete.';
COMMENT ON COLUMN projects.projects.project_id IS 'Database-generated identity; the distribution key of every per-project table.';
COMMENT ON COLUMN projects.projects.name IS 'Project name (trimmed, 1 to 200 characters).';
COMMENT ON COLUMN projects.projects.description IS 'What the project is about.';
COMMENT ON COLUMN projects.projects.owner_id IS 'The accountable owner. Access itself comes from projects.project_member.';
COMMENT ON COLUMN projects.projects.license_id IS 'Licence the project is released under; NULL when none is chosen yet.';
COMMENT ON COLUMN projects.projects.phase_id IS 'Current lifecycle phase.';
COMMENT ON COLUMN projects.projects.priority_id IS 'Current priority.';
COMMENT ON COLUMN projects.projects.version IS 'Version counter of the project row, starting at 1; every change of the row adds 1 (trigger).';
COMMENT ON COLUMN projects.projects.created_at IS 'When the project was created.';
COMMENT ON COLUMN projects.projects.created_by IS 'Who created it; NULL for maintenance loads without an authenticated user.';
COMMENT ON COLUMN projects.projects.updated_at IS 'When the row last changed (maintained by trigger).';
COMMENT ON COLUMN projects.projects.updated_by IS 'Who changed it last; NULL for maintenance changes.';
COMMENT ON COLUMN projects.projects.deleted_at IS 'Soft deletion time; NULL while the project is live.';
COMMENT ON COLUMN projects.projects.deleted_by IS 'Who soft-deleted it.';

CREATE TABLE projects.project_member (
    project_id      bigint NOT NULL REFERENCES projects.projects (project_id) ON DELETE CASCADE,
    user_id         integer NOT NULL REFERENCES users.users (user_id),
    access_role_id  integer NOT NULL REFERENCES pulse.access_role_reference (access_role_id),
    added_at        timestamptz NOT NULL DEFAULT now(),
    added_by        integer REFERENCES users.users (user_id),
    PRIMARY KEY (project_id, user_id)
);
-- (user_id, project_id): the caller's visible projects are one index range scan.
CREATE INDEX project_member_user_id_idx ON projects.project_member (user_id, project_id);
CREATE INDEX project_member_access_role_id_idx ON projects.project_member (access_role_id);
CREATE INDEX project_member_added_by_idx ON projects.project_member (added_by) WHERE added_by IS NOT NULL;
COMMENT ON TABLE projects.project_member IS
    'Project membership: user x project x access role. The basis of role-based access.';
COMMENT ON COLUMN projects.project_member.project_id IS 'The project.';
COMMENT ON COLUMN projects.project_member.user_id IS 'The member.';
COMMENT ON COLUMN projects.project_member.access_role_id IS 'The member''s role, whose permission flags decide what they may do.';
COMMENT ON COLUMN projects.project_member.added_at IS 'When the membership was granted or last changed.';
COMMENT ON COLUMN projects.project_member.added_by IS 'Who granted it; NULL for maintenance loads.';

CREATE TABLE projects.project_feature (
    project_id  bigint NOT NULL REFERENCES projects.projects (project_id) ON DELETE CASCADE,
    feature_id  integer NOT NULL REFERENCES pulse.feature_reference (feature_id),
    added_at    timestamptz NOT NULL DEFAULT now(),
    added_by    integer REFERENCES users.users (user_id),
    PRIMARY KEY (project_id, feature_id)
);
CREATE INDEX project_feature_feature_id_idx ON projects.project_feature (feature_id);
CREATE INDEX project_feature_added_by_idx ON projects.project_feature (added_by) WHERE added_by IS NOT NULL;
COMMENT ON TABLE projects.project_feature IS 'Features a project covers (many-to-many with pulse.feature_reference).';
COMMENT ON COLUMN projects.project_feature.project_id IS 'The project.';
COMMENT ON COLUMN projects.project_feature.feature_id IS 'The feature.';
COMMENT ON COLUMN projects.project_feature.added_at IS 'When the link was made.';
COMMENT ON COLUMN projects.project_feature.added_by IS 'Who made it; NULL for maintenance loads.';

CREATE TABLE projects.project_tech_stack (
    project_id     bigint NOT NULL REFERENCES projects.projects (project_id) ON DELETE CASCADE,
    tech_stack_id  integer NOT NULL REFERENCES pulse.tech_stack_reference (tech_stack_id),
    added_at       timestamptz NOT NULL DEFAULT now(),
    added_by       integer REFERENCES users.users (user_id),
    PRIMARY KEY (project_id, tech_stack_id)
);
CREATE INDEX project_tech_stack_tech_stack_id_idx ON projects.project_tech_stack (tech_stack_id);
CREATE INDEX project_tech_stack_added_by_idx ON projects.project_tech_stack (added_by) WHERE added_by IS NOT NULL;
COMMENT ON TABLE projects.project_tech_stack IS 'Technologies a project uses (many-to-many with pulse.tech_stack_reference).';
COMMENT ON COLUMN projects.project_tech_stack.project_id IS 'The project.';
COMMENT ON COLUMN projects.project_tech_stack.tech_stack_id IS 'The technology.';
COMMENT ON COLUMN projects.project_tech_stack.added_at IS 'When the link was made.';
COMMENT ON COLUMN projects.project_tech_stack.added_by IS 'Who made it; NULL for maintenance loads.';

CREATE TABLE projects.project_tag (
    project_id  bigint NOT NULL REFERENCES projects.projects (project_id) ON DELETE CASCADE,
    tag_id      integer NOT NULL REFERENCES pulse.tag_reference (tag_id),
    added_at    timestamptz NOT NULL DEFAULT now(),
    added_by    integer REFERENCES users.users (user_id),
    PRIMARY KEY (project_id, tag_id)
);
CREATE INDEX project_tag_tag_id_idx ON projects.project_tag (tag_id);
CREATE INDEX project_tag_added_by_idx ON projects.project_tag (added_by) WHERE added_by IS NOT NULL;
COMMENT ON TABLE projects.project_tag IS 'Semantic classification of projects (many-to-many with pulse.tag_reference).';
COMMENT ON COLUMN projects.project_tag.project_id IS 'The project.';
COMMENT ON COLUMN projects.project_tag.tag_id IS 'The tag.';
COMMENT ON COLUMN projects.project_tag.added_at IS 'When the tag was applied.';
COMMENT ON COLUMN projects.project_tag.added_by IS 'Who applied it; NULL for maintenance loads.';

CREATE TABLE projects.project_decision_log (
    project_id        bigint NOT NULL REFERENCES projects.projects (project_id) ON DELETE CASCADE,
    decision_id       bigint GENERATED ALWAYS AS IDENTITY,
    decision_type_id  integer NOT NULL REFERENCES pulse.decision_type_reference (decision_type_id),
    title             text NOT NULL,
    rationale         text NOT NULL,
    impact            text,
    status            text NOT NULL DEFAULT 'proposed',
    decided_by        integer REFERENCES users.users (user_id),
    decided_at        timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    created_by        integer REFERENCES users.users (user_id),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    updated_by        integer REFERENCES users.users (user_id),
    PRIMARY KEY (project_id, decision_id),
    CONSTRAINT project_decision_log_title_format
        CHECK (title = btrim(title) AND title <> '' AND length(title) <= 300 AND title !~ '[[:cntrl:]]'),
    CONSTRAINT project_decision_log_rationale_present CHECK (btrim(rationale) <> '' AND length(rationale) <= 50000),
    CONSTRAINT project_decision_log_impact_length CHECK (length(impact) <= 50000),
    CONSTRAINT project_decision_log_status_check CHECK (status IN ('proposed', 'accepted', 'rejected', 'superseded')),
    -- A decision is decided exactly when it has left 'proposed'.
    CONSTRAINT project_decision_log_decided_when_not_proposed CHECK ((status = 'proposed') = (decided_at IS NULL)),
    CONSTRAINT project_decision_log_decided_by_needs_decided_at CHECK (decided_by IS NULL OR decided_at IS NOT NULL),
    CONSTRAINT project_decision_log_decided_after_created CHECK (decided_at >= created_at),
    CONSTRAINT project_decision_log_updated_after_created CHECK (updated_at >= created_at)
);
CREATE INDEX project_decision_log_decision_id_idx ON projects.project_decision_log (decision_id);
CREATE INDEX project_decision_log_decision_type_id_idx ON projects.project_decision_log (decision_type_id);
CREATE INDEX project_decision_log_decided_by_idx ON projects.project_decision_log (decided_by) WHERE decided_by IS NOT NULL;
CREATE INDEX project_decision_log_created_by_idx ON projects.project_decision_log (created_by) WHERE created_by IS NOT NULL;
CREATE INDEX project_decision_log_updated_by_idx ON projects.project_decision_log (updated_by) WHERE updated_by IS NOT NULL;
CREATE TRIGGER touch_updated_at BEFORE UPDATE ON projects.project_decision_log
    FOR EACH ROW EXECUTE FUNCTION pulse.touch_updated_at();
COMMENT ON TABLE projects.project_decision_log IS
    'Decisions taken in a project: type, rationale, impact and status, linked to the features and documents they concern.';
COMMENT ON COLUMN projects.project_decision_log.project_id IS 'The project the decision belongs to.';
COMMENT ON COLUMN projects.project_decision_log.decision_id IS 'Database-generated identity of the decision.';
COMMENT ON COLUMN projects.project_decision_log.decision_type_id IS 'Kind of decision.';
COMMENT ON COLUMN projects.project_decision_log.title IS 'One-line summary.';
COMMENT ON COLUMN projects.project_decision_log.rationale IS 'Why: the reasoning and the alternatives weighed.';
COMMENT ON COLUMN projects.project_decision_log.impact IS 'What the decision changes or costs.';
COMMENT ON COLUMN projects.project_decision_log.status IS 'proposed, accepted, rejected or superseded.';
COMMENT ON COLUMN projects.project_decision_log.decided_by IS 'Who accepted or rejected it.';
COMMENT ON COLUMN projects.project_decision_log.decided_at IS 'When it left the proposed state; NULL while proposed.';
COMMENT ON COLUMN projects.project_decision_log.created_at IS 'When the decision was recorded.';
COMMENT ON COLUMN projects.project_decision_log.created_by IS 'Who recorded it; NULL for maintenance loads.';
COMMENT ON COLUMN projects.project_decision_log.updated_at IS 'When the row last changed (maintained by trigger).';
COMMENT ON COLUMN projects.project_decision_log.updated_by IS 'Who changed it last; NULL for maintenance changes.';

CREATE TABLE projects.decision_feature (
    project_id   bigint NOT NULL,
    decision_id  bigint NOT NULL,
    feature_id   integer NOT NULL REFERENCES pulse.feature_reference (feature_id),
    PRIMARY KEY (project_id, decision_id, feature_id),
    FOREIGN KEY (project_id, decision_id) REFERENCES projects.project_decision_log (project_id, decision_id) ON DELETE CASCADE
);
CREATE INDEX decision_feature_feature_id_idx ON projects.decision_feature (feature_id);
COMMENT ON TABLE projects.decision_feature IS 'Features a decision concerns (traceability from decision to feature).';
COMMENT ON COLUMN projects.decision_feature.project_id IS 'The project of the decision.';
COMMENT ON COLUMN projects.decision_feature.decision_id IS 'The decision.';
COMMENT ON COLUMN projects.decision_feature.feature_id IS 'A feature the decision concerns.';

SELECT pg_catalog.pg_extension_config_dump('projects.projects', '');
SELECT pg_catalog.pg_extension_config_dump('projects.projects_project_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('projects.project_member', '');
SELECT pg_catalog.pg_extension_config_dump('projects.project_feature', '');
SELECT pg_catalog.pg_extension_config_dump('projects.project_tech_stack', '');
SELECT pg_catalog.pg_extension_config_dump('projects.project_tag', '');
SELECT pg_catalog.pg_extension_config_dump('projects.project_decision_log', '');
SELECT pg_catalog.pg_extension_config_dump('projects.project_decision_log_decision_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('projects.decision_feature', '');
