-- pulse install script: the ten reference tables of the seed (Step 2).
--
-- Every reference table has the same spine:
--   <name>_id   integer identity  the key other tables reference (never shown to people)
--   code        text, unique       the stable identifier clients and upgrade scripts use
--   label       text               what a person reads
--   description text
--   is_builtin  boolean            true for the starter rows the extension ships
-- plus `category` and `retention_policy` where the seed asks for them.
--
-- Built-in rows belong to the extension: pulse.reference_guard() refuses to change or
-- delete them outside CREATE/ALTER EXTENSION, and pg_dump keeps only the rows a DBA added
-- (pg_extension_config_dump with 'WHERE NOT is_builtin'), so a restore never duplicates
-- what CREATE EXTENSION already inserted.

CREATE TABLE pulse.access_role_reference (
    access_role_id      integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code                text NOT NULL,
    label               text NOT NULL,
    description         text,
    rank                smallint NOT NULL,
    can_read            boolean NOT NULL DEFAULT true,
    can_write           boolean NOT NULL DEFAULT false,
    can_manage_members  boolean NOT NULL DEFAULT false,
    can_delete_restore  boolean NOT NULL DEFAULT false,
    can_administer      boolean NOT NULL DEFAULT false,
    is_builtin          boolean NOT NULL DEFAULT false,
    CONSTRAINT access_role_reference_code_format CHECK (code ~ '^[a-z0-9]+([._-][a-z0-9]+)*$' AND length(code) <= 64),
    CONSTRAINT access_role_reference_label_format CHECK (label = btrim(label) AND label <> '' AND length(label) <= 200 AND label !~ '[[:cntrl:]]'),
    CONSTRAINT access_role_reference_rank_positive CHECK (rank > 0),
    CONSTRAINT access_role_reference_permissions_need_read
        CHECK (can_read OR NOT (can_write OR can_manage_members OR can_delete_restore OR can_administer)),
    CONSTRAINT access_role_reference_administer_implies_all
        CHECK (NOT can_administer OR (can_write AND can_manage_members AND can_delete_restore)),
    CONSTRAINT access_role_reference_code_key UNIQUE (code),
    CONSTRAINT access_role_reference_rank_key UNIQUE (rank)
);
COMMENT ON TABLE pulse.access_role_reference IS
    'Project access roles (owner, maintainer, editor, viewer, ...) with explicit permission flags; project membership assigns one per user and project.';
COMMENT ON COLUMN pulse.access_role_reference.access_role_id IS 'Surrogate key referenced by projects.project_member.';
COMMENT ON COLUMN pulse.access_role_reference.code IS 'Stable identifier used by clients and upgrade scripts (lower case, digits, . _ -).';
COMMENT ON COLUMN pulse.access_role_reference.label IS 'Human-readable name shown in user interfaces.';
COMMENT ON COLUMN pulse.access_role_reference.description IS 'What a member with this role may do, in words.';
COMMENT ON COLUMN pulse.access_role_reference.rank IS 'Strength of the role: a higher rank holds at least the permissions of a lower one; unique so roles are totally ordered.';
COMMENT ON COLUMN pulse.access_role_reference.can_read IS 'May read the project, its links, decisions, documents and history.';
COMMENT ON COLUMN pulse.access_role_reference.can_write IS 'May change the project, its links and decisions, and register and revise documents.';
COMMENT ON COLUMN pulse.access_role_reference.can_manage_members IS 'May add and remove members and change their roles (never above their own rank).';
COMMENT ON COLUMN pulse.access_role_reference.can_delete_restore IS 'May soft-delete and restore the project and its documents.';
COMMENT ON COLUMN pulse.access_role_reference.can_administer IS 'May do everything, including rollback and transferring ownership.';
COMMENT ON COLUMN pulse.access_role_reference.is_builtin IS 'True for rows shipped by the extension: immutable outside CREATE/ALTER EXTENSION and not written by pg_dump.';

CREATE TABLE pulse.feature_reference (
    feature_id   integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code         text NOT NULL,
    label        text NOT NULL,
    category     text NOT NULL,
    description  text,
    is_builtin   boolean NOT NULL DEFAULT false,
    CONSTRAINT feature_reference_code_format CHECK (code ~ '^[a-z0-9]+([._-][a-z0-9]+)*$' AND length(code) <= 64),
    CONSTRAINT feature_reference_label_format CHECK (label = btrim(label) AND label <> '' AND length(label) <= 200 AND label !~ '[[:cntrl:]]'),
    CONSTRAINT feature_reference_category_format CHECK (category ~ '^[a-z0-9]+([._-][a-z0-9]+)*$' AND length(category) <= 64),
    CONSTRAINT feature_reference_code_key UNIQUE (code)
);
COMMENT ON TABLE pulse.feature_reference IS
    'Product features a project delivers or depends on, for filtering and UI segmentation (projects.project_feature).';
COMMENT ON COLUMN pulse.feature_reference.feature_id IS 'Surrogate key referenced by projects.project_feature and projects.decision_feature.';
COMMENT ON COLUMN pulse.feature_reference.code IS 'Stable identifier used by clients and upgrade scripts (lower case, digits, . _ -).';
COMMENT ON COLUMN pulse.feature_reference.label IS 'Human-readable name shown in user interfaces.';
COMMENT ON COLUMN pulse.feature_reference.category IS 'Grouping for filter sidebars (security, collaboration, data, integration, ...).';
COMMENT ON COLUMN pulse.feature_reference.description IS 'What the feature covers.';
COMMENT ON COLUMN pulse.feature_reference.is_builtin IS 'True for rows shipped by the extension: immutable outside CREATE/ALTER EXTENSION and not written by pg_dump.';

CREATE TABLE pulse.tech_stack_reference (
    tech_stack_id  integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code           text NOT NULL,
    label          text NOT NULL,
    category       text NOT NULL,
    description    text,
    is_builtin     boolean NOT NULL DEFAULT false,
    CONSTRAINT tech_stack_reference_code_format CHECK (code ~ '^[a-z0-9]+([._-][a-z0-9]+)*$' AND length(code) <= 64),
    CONSTRAINT tech_stack_reference_label_format CHECK (label = btrim(label) AND label <> '' AND length(label) <= 200 AND label !~ '[[:cntrl:]]'),
    CONSTRAINT tech_stack_reference_category_check
        CHECK (category IN ('language', 'framework', 'database', 'storage', 'infrastructure', 'ci_cd', 'observability', 'other')),
    CONSTRAINT tech_stack_reference_code_key UNIQUE (code)
);
COMMENT ON TABLE pulse.tech_stack_reference IS
    'Languages, frameworks, databases and infrastructure a project uses (projects.project_tech_stack).';
COMMENT ON COLUMN pulse.tech_stack_reference.tech_stack_id IS 'Surrogate key referenced by projects.project_tech_stack.';
COMMENT ON COLUMN pulse.tech_stack_reference.code IS 'Stable identifier used by clients and upgrade scripts (lower case, digits, . _ -).';
COMMENT ON COLUMN pulse.tech_stack_reference.label IS 'Human-readable name shown in user interfaces.';
COMMENT ON COLUMN pulse.tech_stack_reference.category IS 'Kind of technology: language, framework, database, storage, infrastructure, ci_cd, observability or other.';
COMMENT ON COLUMN pulse.tech_stack_reference.description IS 'What the entry is.';
COMMENT ON COLUMN pulse.tech_stack_reference.is_builtin IS 'True for rows shipped by the extension: immutable outside CREATE/ALTER EXTENSION and not written by pg_dump.';

CREATE TABLE pulse.license_reference (
    license_id    integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code          text NOT NULL,
    label         text NOT NULL,
    category      text NOT NULL,
    osi_approved  boolean NOT NULL DEFAULT false,
    description   text,
    is_builtin    boolean NOT NULL DEFAULT false,
    CONSTRAINT license_reference_code_format CHECK (code ~ '^[A-Za-z0-9]+([.+-][A-Za-z0-9]+)*\+?$' AND length(code) <= 64),
    CONSTRAINT license_reference_label_format CHECK (label = btrim(label) AND label <> '' AND length(label) <= 200 AND label !~ '[[:cntrl:]]'),
    CONSTRAINT license_reference_category_check
        CHECK (category IN ('permissive', 'weak_copyleft', 'strong_copyleft', 'public_domain', 'content', 'proprietary')),
    CONSTRAINT license_reference_code_key UNIQUE (code)
);
CREATE UNIQUE INDEX license_reference_code_ci_key ON pulse.license_reference (lower(code));
COMMENT ON TABLE pulse.license_reference IS
    'Licences a project can be released under, keyed by SPDX identifier (LicenseRef-* for non-SPDX licences).';
COMMENT ON COLUMN pulse.license_reference.license_id IS 'Surrogate key referenced by projects.projects.license_id.';
COMMENT ON COLUMN pulse.license_reference.code IS 'SPDX licence identifier (case as SPDX spells it; unique case-insensitively).';
COMMENT ON COLUMN pulse.license_reference.label IS 'Full licence name.';
COMMENT ON COLUMN pulse.license_reference.category IS 'permissive, weak_copyleft, strong_copyleft, public_domain, content or proprietary.';
COMMENT ON COLUMN pulse.license_reference.osi_approved IS 'Whether the Open Source Initiative approves the licence.';
COMMENT ON COLUMN pulse.license_reference.description IS 'Obligations in short.';
COMMENT ON COLUMN pulse.license_reference.is_builtin IS 'True for rows shipped by the extension: immutable outside CREATE/ALTER EXTENSION and not written by pg_dump.';

CREATE TABLE pulse.phase_reference (
    phase_id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code              text NOT NULL,
    label             text NOT NULL,
    description       text,
    sort_order        smallint NOT NULL,
    is_terminal       boolean NOT NULL DEFAULT false,
    retention_policy  interval,
    is_builtin        boolean NOT NULL DEFAULT false,
    CONSTRAINT phase_reference_code_format CHECK (code ~ '^[a-z0-9]+([._-][a-z0-9]+)*$' AND length(code) <= 64),
    CONSTRAINT phase_reference_label_format CHECK (label = btrim(label) AND label <> '' AND length(label) <= 200 AND label !~ '[[:cntrl:]]'),
    CONSTRAINT phase_reference_sort_order_positive CHECK (sort_order > 0),
    CONSTRAINT phase_reference_retention_positive CHECK (retention_policy > interval '0'),
    CONSTRAINT phase_reference_code_key UNIQUE (code),
    CONSTRAINT phase_reference_sort_order_key UNIQUE (sort_order)
);
COMMENT ON TABLE pulse.phase_reference IS
    'Lifecycle phases of projects and documents, in their natural order (idea, planning, design, build, review, release, maintenance, archived).';
COMMENT ON COLUMN pulse.phase_reference.phase_id IS 'Surrogate key referenced by projects.projects.phase_id and documents.documents.phase_id.';
COMMENT ON COLUMN pulse.phase_reference.code IS 'Stable identifier used by clients and upgrade scripts (lower case, digits, . _ -).';
COMMENT ON COLUMN pulse.phase_reference.label IS 'Human-readable name shown in user interfaces and change summaries.';
COMMENT ON COLUMN pulse.phase_reference.description IS 'What work happens in this phase.';
COMMENT ON COLUMN pulse.phase_reference.sort_order IS 'Position in the lifecycle; unique, so phases are totally ordered.';
COMMENT ON COLUMN pulse.phase_reference.is_terminal IS 'True for a phase that ends the lifecycle (archived).';
COMMENT ON COLUMN pulse.phase_reference.retention_policy IS 'How long history of entities in this phase is kept after they enter it; NULL keeps it indefinitely.';
COMMENT ON COLUMN pulse.phase_reference.is_builtin IS 'True for rows shipped by the extension: immutable outside CREATE/ALTER EXTENSION and not written by pg_dump.';

CREATE TABLE pulse.decision_type_reference (
    decision_type_id  integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code              text NOT NULL,
    label             text NOT NULL,
    category          text NOT NULL,
    description       text,
    retention_policy  interval,
    is_builtin        boolean NOT NULL DEFAULT false,
    CONSTRAINT decision_type_reference_code_format CHECK (code ~ '^[a-z0-9]+([._-][a-z0-9]+)*$' AND length(code) <= 64),
    CONSTRAINT decision_type_reference_label_format CHECK (label = btrim(label) AND label <> '' AND length(label) <= 200 AND label !~ '[[:cntrl:]]'),
    CONSTRAINT decision_type_reference_category_format CHECK (category ~ '^[a-z0-9]+([._-][a-z0-9]+)*$' AND length(category) <= 64),
    CONSTRAINT decision_type_reference_retention_positive CHECK (retention_policy > interval '0'),
    CONSTRAINT decision_type_reference_code_key UNIQUE (code)
);
COMMENT ON TABLE pulse.decision_type_reference IS
    'Kinds of decisions recorded in projects.project_decision_log (architecture, technology, process, ...).';
COMMENT ON COLUMN pulse.decision_type_reference.decision_type_id IS 'Surrogate key referenced by projects.project_decision_log.';
COMMENT ON COLUMN pulse.decision_type_reference.code IS 'Stable identifier used by clients and upgrade scripts (lower case, digits, . _ -).';
COMMENT ON COLUMN pulse.decision_type_reference.label IS 'Human-readable name shown in user interfaces.';
COMMENT ON COLUMN pulse.decision_type_reference.category IS 'Grouping: technical, organisational, commercial or governance.';
COMMENT ON COLUMN pulse.decision_type_reference.description IS 'What decisions of this type settle.';
COMMENT ON COLUMN pulse.decision_type_reference.retention_policy IS 'How long decisions of this type must be kept; NULL keeps them indefinitely.';
COMMENT ON COLUMN pulse.decision_type_reference.is_builtin IS 'True for rows shipped by the extension: immutable outside CREATE/ALTER EXTENSION and not written by pg_dump.';

CREATE TABLE pulse.tag_reference (
    tag_id       integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code         text NOT NULL,
    label        text NOT NULL,
    category     text NOT NULL,
    description  text,
    is_builtin   boolean NOT NULL DEFAULT false,
    CONSTRAINT tag_reference_code_format CHECK (code ~ '^[a-z0-9]+([._-][a-z0-9]+)*$' AND length(code) <= 64),
    CONSTRAINT tag_reference_label_format CHECK (label = btrim(label) AND label <> '' AND length(label) <= 200 AND label !~ '[[:cntrl:]]'),
    CONSTRAINT tag_reference_category_format CHECK (category ~ '^[a-z0-9]+([._-][a-z0-9]+)*$' AND length(category) <= 64),
    CONSTRAINT tag_reference_code_key UNIQUE (code)
);
COMMENT ON TABLE pulse.tag_reference IS
    'Semantic tags that classify projects (projects.project_tag): security, legacy, compliance, ...';
COMMENT ON COLUMN pulse.tag_reference.tag_id IS 'Surrogate key referenced by projects.project_tag.';
COMMENT ON COLUMN pulse.tag_reference.code IS 'Stable identifier used by clients and upgrade scripts (lower case, digits, . _ -).';
COMMENT ON COLUMN pulse.tag_reference.label IS 'Human-readable name shown in user interfaces and change summaries.';
COMMENT ON COLUMN pulse.tag_reference.category IS 'Grouping for filter sidebars (quality, risk, audience, status, ...).';
COMMENT ON COLUMN pulse.tag_reference.description IS 'When to apply the tag.';
COMMENT ON COLUMN pulse.tag_reference.is_builtin IS 'True for rows shipped by the extension: immutable outside CREATE/ALTER EXTENSION and not written by pg_dump.';

CREATE TABLE pulse.filetype_reference (
    filetype_id       integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code              text NOT NULL,
    mime_type         text NOT NULL,
    label             text NOT NULL,
    category          text NOT NULL,
    extensions        text[] NOT NULL,
    description       text,
    retention_policy  interval,
    is_builtin        boolean NOT NULL DEFAULT false,
    CONSTRAINT filetype_reference_code_format CHECK (code ~ '^[a-z0-9]+([._-][a-z0-9]+)*$' AND length(code) <= 64),
    CONSTRAINT filetype_reference_label_format CHECK (label = btrim(label) AND label <> '' AND length(label) <= 200 AND label !~ '[[:cntrl:]]'),
    -- The normalized form: lower case type/subtype as registered with IANA, no parameters.
    CONSTRAINT filetype_reference_mime_type_normalized
        CHECK (mime_type ~ '^(application|audio|font|image|message|model|multipart|text|video)/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$'),
    CONSTRAINT filetype_reference_category_check
        CHECK (category IN ('document', 'spreadsheet', 'presentation', 'image', 'text', 'data', 'archive', 'audio', 'video', 'binary')),
    -- At least one extension, each lower case without the dot, none NULL.
    CONSTRAINT filetype_reference_extensions_format
        CHECK (cardinality(extensions) >= 1
               AND array_position(extensions, NULL) IS NULL
               AND array_to_string(extensions, ',') ~ '^[a-z0-9]{1,16}(,[a-z0-9]{1,16})*$'),
    CONSTRAINT filetype_reference_retention_positive CHECK (retention_policy > interval '0'),
    CONSTRAINT filetype_reference_code_key UNIQUE (code),
    CONSTRAINT filetype_reference_mime_type_key UNIQUE (mime_type)
);
COMMENT ON TABLE pulse.filetype_reference IS
    'MIME normalization: one row per accepted media type, with the file extensions that carry it.';
COMMENT ON COLUMN pulse.filetype_reference.filetype_id IS 'Surrogate key referenced by documents.documents.filetype_id.';
COMMENT ON COLUMN pulse.filetype_reference.code IS 'Stable short identifier (pdf, png, docx, ...).';
COMMENT ON COLUMN pulse.filetype_reference.mime_type IS 'Normalized media type: lower-case type/subtype without parameters; unique.';
COMMENT ON COLUMN pulse.filetype_reference.label IS 'Human-readable name shown in user interfaces.';
COMMENT ON COLUMN pulse.filetype_reference.category IS 'MIME category for filtering: document, spreadsheet, presentation, image, text, data, archive, audio, video or binary.';
COMMENT ON COLUMN pulse.filetype_reference.extensions IS 'File-name extensions (lower case, without the dot) that carry this type; the first is the preferred one.';
COMMENT ON COLUMN pulse.filetype_reference.description IS 'What files of this type hold.';
COMMENT ON COLUMN pulse.filetype_reference.retention_policy IS 'How long documents of this type are kept after soft deletion before purge; NULL keeps them indefinitely.';
COMMENT ON COLUMN pulse.filetype_reference.is_builtin IS 'True for rows shipped by the extension: immutable outside CREATE/ALTER EXTENSION and not written by pg_dump.';

CREATE TABLE pulse.storage_reference (
    storage_id        integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code              text NOT NULL,
    label             text NOT NULL,
    provider          text NOT NULL,
    bucket            text NOT NULL,
    region            text NOT NULL DEFAULT 'us-east-1',
    endpoint          text,
    addressing_style  text NOT NULL DEFAULT 'virtual',
    key_prefix        text NOT NULL DEFAULT '',
    description       text,
    retention_policy  interval,
    is_builtin        boolean NOT NULL DEFAULT false,
    CONSTRAINT storage_reference_code_format CHECK (code ~ '^[a-z0-9]+([._-][a-z0-9]+)*$' AND length(code) <= 64),
    CONSTRAINT storage_reference_label_format CHECK (label = btrim(label) AND label <> '' AND length(label) <= 200 AND label !~ '[[:cntrl:]]'),
    CONSTRAINT storage_reference_provider_check
        CHECK (provider IN ('aws_s3', 'minio', 'cloudflare_r2', 'ceph', 's3_compatible')),
    -- S3 bucket naming rules: 3 to 63 characters, lower case, digits, dots and hyphens.
    CONSTRAINT storage_reference_bucket_format CHECK (bucket ~ '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$' AND bucket !~ '\.\.'),
    CONSTRAINT storage_reference_region_format CHECK (region ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND length(region) <= 64),
    -- scheme://host[:port] and nothing else: no path, query, fragment or userinfo (so no secret can hide here).
    CONSTRAINT storage_reference_endpoint_format
        CHECK (endpoint ~ '^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$' OR endpoint ~ '^https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$'),
    CONSTRAINT storage_reference_addressing_style_check CHECK (addressing_style IN ('virtual', 'path')),
    -- Empty, or relative path segments ending in '/', without control characters or empty segments.
    CONSTRAINT storage_reference_key_prefix_format
        CHECK (key_prefix = '' OR (key_prefix ~ '^[^/]([^/]*/)+$' AND key_prefix !~ '//' AND key_prefix !~ '[[:cntrl:]]' AND length(key_prefix) <= 512)),
    -- AWS itself is reached without an endpoint; every other provider needs one.
    CONSTRAINT storage_reference_endpoint_required CHECK (provider = 'aws_s3' OR endpoint IS NOT NULL),
    CONSTRAINT storage_reference_retention_positive CHECK (retention_policy > interval '0'),
    CONSTRAINT storage_reference_code_key UNIQUE (code)
);
COMMENT ON TABLE pulse.storage_reference IS
    'S3-compatible object stores documents are kept in: provider, bucket, region, endpoint, addressing style and key prefix. Never credentials.';
COMMENT ON COLUMN pulse.storage_reference.storage_id IS 'Surrogate key referenced by documents.documents.storage_id.';
COMMENT ON COLUMN pulse.storage_reference.code IS 'Stable identifier used by clients, configuration and upgrade scripts (lower case, digits, . _ -).';
COMMENT ON COLUMN pulse.storage_reference.label IS 'Human-readable name shown in user interfaces.';
COMMENT ON COLUMN pulse.storage_reference.provider IS 'aws_s3, minio, cloudflare_r2, ceph or s3_compatible.';
COMMENT ON COLUMN pulse.storage_reference.bucket IS 'Bucket name, following the S3 naming rules.';
COMMENT ON COLUMN pulse.storage_reference.region IS 'SigV4 signing region (us-east-1 for most S3-compatible servers, auto for R2).';
COMMENT ON COLUMN pulse.storage_reference.endpoint IS 'scheme://host[:port] of a custom endpoint; NULL for AWS, which is reached at its regional endpoint.';
COMMENT ON COLUMN pulse.storage_reference.addressing_style IS 'virtual (bucket in the host name) or path (bucket as the first path segment).';
COMMENT ON COLUMN pulse.storage_reference.key_prefix IS 'Prefix of every object key pulse writes in this storage: empty, or path segments ending in a slash.';
COMMENT ON COLUMN pulse.storage_reference.description IS 'What the storage is for.';
COMMENT ON COLUMN pulse.storage_reference.retention_policy IS 'How long objects of soft-deleted documents are kept before purge; NULL keeps them indefinitely.';
COMMENT ON COLUMN pulse.storage_reference.is_builtin IS 'True for rows shipped by the extension: immutable outside CREATE/ALTER EXTENSION and not written by pg_dump.';

CREATE TABLE pulse.priority_reference (
    priority_id  integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code         text NOT NULL,
    label        text NOT NULL,
    description  text,
    rank         smallint NOT NULL,
    is_builtin   boolean NOT NULL DEFAULT false,
    CONSTRAINT priority_reference_code_format CHECK (code ~ '^[a-z0-9]+([._-][a-z0-9]+)*$' AND length(code) <= 64),
    CONSTRAINT priority_reference_label_format CHECK (label = btrim(label) AND label <> '' AND length(label) <= 200 AND label !~ '[[:cntrl:]]'),
    CONSTRAINT priority_reference_rank_positive CHECK (rank > 0),
    CONSTRAINT priority_reference_code_key UNIQUE (code),
    CONSTRAINT priority_reference_rank_key UNIQUE (rank)
);
COMMENT ON TABLE pulse.priority_reference IS
    'Priorities of projects and documents, ordered by rank (low, medium, high, critical).';
COMMENT ON COLUMN pulse.priority_reference.priority_id IS 'Surrogate key referenced by projects.projects.priority_id and documents.documents.priority_id.';
COMMENT ON COLUMN pulse.priority_reference.code IS 'Stable identifier used by clients and upgrade scripts (lower case, digits, . _ -).';
COMMENT ON COLUMN pulse.priority_reference.label IS 'Human-readable name shown in user interfaces and change summaries.';
COMMENT ON COLUMN pulse.priority_reference.description IS 'When to use this priority.';
COMMENT ON COLUMN pulse.priority_reference.rank IS 'Urgency: higher is more urgent; unique so priorities are totally ordered.';
COMMENT ON COLUMN pulse.priority_reference.is_builtin IS 'True for rows shipped by the extension: immutable outside CREATE/ALTER EXTENSION and not written by pg_dump.';

-- Written in Rust (src/reference_guard.rs); a call not made by the trigger manager is
-- refused with 39P01, as by every trigger function of pulse (src/trigger_entry.rs).
CREATE FUNCTION pulse.reference_guard() RETURNS trigger
    LANGUAGE c VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
    AS 'MODULE_PATHNAME', 'reference_guard_wrapper';
COMMENT ON FUNCTION pulse.reference_guard() IS
    'BEFORE ROW trigger on every reference table: built-in rows change only inside CREATE/ALTER EXTENSION (Rust: reads the backend''s creating_extension flag).';

-- Guard the built-in rows and register every table for pg_dump.
DO $register$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['access_role_reference', 'feature_reference', 'tech_stack_reference',
                             'license_reference', 'phase_reference', 'decision_type_reference',
                             'tag_reference', 'filetype_reference', 'storage_reference',
                             'priority_reference'] LOOP
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER reference_guard BEFORE INSERT OR UPDATE OR DELETE ON pulse.%I
                 FOR EACH ROW EXECUTE FUNCTION pulse.reference_guard()', t);
        PERFORM pg_catalog.pg_extension_config_dump(pg_catalog.format('pulse.%I', t)::regclass, 'WHERE NOT is_builtin');
        PERFORM pg_catalog.pg_extension_config_dump(
            pg_catalog.pg_get_serial_sequence(pg_catalog.format('pulse.%I', t), pg_catalog.replace(t, '_reference', '_id'))::regclass, '');
    END LOOP;
END
$register$;

-- The reference tables are the tables reference_guard guards: the list above is the only one.
CREATE FUNCTION pulse.reference_table_list() RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.string_agg(t.tgrelid::regclass::text, ', ' ORDER BY t.tgrelid::regclass::text)
      FROM pg_catalog.pg_trigger t
     WHERE t.tgfoid = 'pulse.reference_guard()'::regprocedure;
$$;
COMMENT ON FUNCTION pulse.reference_table_list() IS
    'Internal: the reference tables (those reference_guard guards), as a comma-separated list of qualified names.';
