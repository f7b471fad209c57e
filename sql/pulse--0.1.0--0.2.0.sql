-- pulse 0.1.0 -> 0.2.0. Released with 0.2.0: never edit this file once released (a test
-- compares it with git at every later release tag); later changes go into a new script.
\echo Use "ALTER EXTENSION pulse UPDATE TO '0.2.0'" to load this file. \quit

-- 1. History is appended without SQL (decision log D45): the BEFORE INSERT trigger that
--    sealed history rows goes, and the append-only guard now refuses every SQL INSERT into
--    the history and chain tables too.
DROP TRIGGER seal ON audit.project_history;
DROP TRIGGER seal ON audit.document_history;
DROP FUNCTION audit.seal_history_row();
DO $upgrade$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['audit.project_history', 'audit.document_history', 'audit.project_chain',
                             'audit.document_chain'] LOOP
        EXECUTE pg_catalog.format('DROP TRIGGER append_only ON %s', t);
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER append_only BEFORE INSERT OR UPDATE OR DELETE ON %s
                 FOR EACH ROW EXECUTE FUNCTION audit.refuse_history_change()', t);
    END LOOP;
END
$upgrade$;
COMMENT ON FUNCTION audit.refuse_history_change() IS
    'Trigger on the tables of history: INSERT, UPDATE, DELETE and TRUNCATE are refused (42501), but for a purge''s tombstone and the purge itself.';

-- 2. documents.register_document computes its defaults before the INSERT (no subquery in
--    INSERT ... VALUES, which Citus refuses: decision log D42).
CREATE OR REPLACE FUNCTION documents.register_document(project_id bigint, title text, file_name text, mime_type text,
                                            storage text, size_bytes bigint, checksum_sha256 text,
                                            on_duplicate text DEFAULT NULL, expires_in integer DEFAULT NULL,
                                            custom_properties jsonb DEFAULT '{}')
    RETURNS TABLE (document_id bigint, version integer, object_key text, duplicate_of bigint, upload_url text,
                   upload_headers jsonb, expires_at timestamptz)
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    policy text := documents.duplicate_policy(on_duplicate);
    filetype integer;
    storage_row pulse.storage_reference;
    existing documents.documents;
    created documents.documents;
    key text;
    default_priority integer;
    first_phase integer;
BEGIN
    PERFORM documents.check_content(size_bytes, checksum_sha256);
    -- Permission before anything that reads reference data, so a caller without rights
    -- learns nothing but that.
    IF NOT pulse.caller_holds('write', register_document.project_id) THEN
        RAISE EXCEPTION 'no project % or no right to add documents to it', register_document.project_id
            USING ERRCODE = '42501';
    END IF;
    filetype := documents.filetype_of(mime_type);
    SELECT * INTO storage_row FROM pulse.storage_reference s WHERE s.code = storage;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown storage "%"', storage USING ERRCODE = '42704';
    END IF;
    key := documents.object_key_for(storage_row.storage_id, register_document.project_id, checksum_sha256);
    SELECT d.* INTO existing FROM documents.documents d
     WHERE d.project_id = register_document.project_id AND d.storage_id = storage_row.storage_id
       AND d.checksum_sha256 = register_document.checksum_sha256 AND d.deleted_at IS NULL
     ORDER BY d.available_at IS NULL, d.document_id LIMIT 1;
    IF FOUND AND policy = 'refuse' THEN
        RAISE EXCEPTION 'document % of project % already has this content', existing.document_id, existing.project_id
            USING ERRCODE = '23505', DETAIL = pg_catalog.format('checksum %s in storage %s', checksum_sha256, storage),
                  HINT = 'Register with on_duplicate => ''link'' to share the stored object, or ''allow''.';
    END IF;
    -- Computed first, not as subqueries inside VALUES, which Citus refuses on a distributed
    -- table (docs/scaling.md).
    SELECT p.priority_id INTO default_priority FROM pulse.priority_reference p
     ORDER BY p.code <> 'medium', p.priority_id LIMIT 1;
    SELECT p.phase_id INTO first_phase FROM pulse.phase_reference p ORDER BY p.sort_order LIMIT 1;
    INSERT INTO documents.documents AS d (project_id, title, file_name, filetype_id, storage_id, object_key, size_bytes,
                                          checksum_sha256, custom_properties, priority_id, phase_id, uploaded_by,
                                          available_at)
    VALUES (register_document.project_id, title, file_name, filetype, storage_row.storage_id, key, size_bytes,
            checksum_sha256, coalesce(custom_properties, '{}'), default_priority, first_phase,
            pulse.current_user_id(),
            CASE WHEN policy = 'link' AND existing.available_at IS NOT NULL THEN now() END)
    RETURNING d.* INTO created;
    document_id := created.document_id;
    version := created.version;
    object_key := created.object_key;
    duplicate_of := existing.document_id;
    IF created.available_at IS NULL THEN
        SELECT u.url, u.headers, u.expires_at INTO upload_url, upload_headers, register_document.expires_at
          FROM documents.upload_url(created.document_id, expires_in) u;
    END IF;
    RETURN NEXT;
END
$$;

-- 3. Discovery: project and document search and facets (README "Discovery", decision log
--    D35-D39), and the grant that gives readers them.
-- pulse install script: discovery (issue 7). Search and facets over projects and documents,
-- for a user interface: filters on the normalized reference data, words in names and titles,
-- keyset pagination, and counts per segment, always under the caller's row-level security.
--
-- Four functions make up the API: projects.search_projects, projects.project_facets,
-- documents.search_documents and documents.document_facets. They are SECURITY INVOKER: every
-- table they read applies its policies to the caller, so a result or a count can only be made
-- of rows the caller may read. A filter is a JSON object; pulse.parse_discovery_filter checks
-- it once (unknown keys, codes, types, ranges and cursors are refused with 22023 or 22P02)
-- and turns codes into ids. Nothing here writes; no column is added to the audited tables
-- (the words are expression indexes, decision log D35).

-- A checked filter: what pulse.parse_discovery_filter makes of the JSON, read by the search
-- and facet functions. NULL in a field means "no condition"; an empty array matches nothing.
CREATE TYPE pulse.discovery_filter AS (
    kind            text,
    fingerprint     text,
    caller          integer,
    blanket         boolean,
    readable        bigint[],
    page_size       integer,
    after_score     bigint,
    after_id        bigint,
    deleted         boolean,
    words           tsquery,
    project_ids     bigint[],
    owner_ids       integer[],
    uploader_ids    integer[],
    feature_ids     integer[],
    tech_stack_ids  integer[],
    tag_ids         integer[],
    phase_ids       integer[],
    priority_ids    integer[],
    license_ids     integer[],
    role_ids        integer[],
    filetype_ids    integer[],
    storage_ids     integer[],
    properties      jsonb,
    created_from    timestamptz,
    created_to      timestamptz,
    updated_from    timestamptz,
    updated_to      timestamptz,
    size_min        bigint,
    size_max        bigint
);
COMMENT ON TYPE pulse.discovery_filter IS
    'Internal: a discovery filter after checking (pulse.parse_discovery_filter): reference codes as ids, words as a tsquery, the cursor decoded; NULL means no condition.';

-- Every check of a filter, in one place: pulse.parse_discovery_filter, written in Rust
-- (src/discovery.rs; the rules are pulse_core::discovery_filter). Keys are checked in byte
-- order, so that the first fault found is always the same one. Codes are looked up in the
-- reference tables as the caller (an unauthenticated caller sees none, so every code is
-- unknown to them), one kept query per key.
CREATE FUNCTION pulse.parse_discovery_filter(kind text, filter jsonb, page_size integer, after text)
    RETURNS pulse.discovery_filter
    LANGUAGE c STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED SECURITY INVOKER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'parse_discovery_filter';
COMMENT ON FUNCTION pulse.parse_discovery_filter(text, jsonb, integer, text) IS
    'Internal: checks a discovery filter (kind projects or documents), page size and cursor, and resolves reference codes; 22023 or 22P02 with the key or code at fault.';

-- The cursor a page carries, after the row with sort key (score, id): base64url, unpadded, of
-- "v1|kind|fingerprint|score|id", which pulse.parse_discovery_filter decodes. In Rust
-- (src/discovery.rs) because the search functions put it on every row of a page, where
-- building it in SQL was a measurable part of a search's time (decision log D54).
CREATE FUNCTION pulse.discovery_cursor(kind text, fingerprint text, score bigint, id bigint)
    RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE SECURITY INVOKER
    AS 'MODULE_PATHNAME', 'discovery_cursor';
COMMENT ON FUNCTION pulse.discovery_cursor(text, text, bigint, bigint) IS
    'Internal: the cursor of a search page after the row with sort key (score, id); pulse.parse_discovery_filter decodes it.';

-- The search and facet functions, and the indexes for words, are made from the pieces below:
-- a filter is written once for a search and its facets, and the words expression once for
-- its index and its queries (an expression index serves only the very same expression). In
-- the pieces, "want" is the checked filter.
DO $discovery$
DECLARE
    -- What the words of a search match, weighted: a name or title (A) ranks above a
    -- description or file name (B). File names are split at dots, dashes and underscores.
    -- %1$s is the table alias with its dot, or nothing in the index.
    project_words constant text := $t$(setweight(to_tsvector('pg_catalog.simple', %1$sname), 'A')
           || setweight(to_tsvector('pg_catalog.simple', coalesce(%1$sdescription, '')), 'B'))$t$;
    document_words constant text := $t$(setweight(to_tsvector('pg_catalog.simple', %1$stitle), 'A')
           || setweight(to_tsvector('pg_catalog.simple', translate(%1$sfile_name, '._-', '   ')), 'B'))$t$;
    -- The rank as a whole number (millionths of ts_rank), so that a cursor carries it exactly.
    score constant text := $t$coalesce((%s::float8 * 1000000)::bigint, 0)$t$;
    -- Rows soft-deleted or not, as asked.
    deleted constant text := $t$(want.deleted IS NULL OR (want.deleted AND %1$s.deleted_at IS NOT NULL)
                OR (NOT want.deleted AND %1$s.deleted_at IS NULL))$t$;
    -- The cursor after the row with sort key (%1$s, %2$s) (pulse.discovery_cursor).
    cursor_of constant text := $t$pulse.discovery_cursor(want.kind, want.fingerprint, %1$s, %2$s)$t$;
    -- A page: the rows of the filter after the cursor, in the order of the sort key (score,
    -- id) descending, one more than asked (so that we know whether a next page exists),
    -- numbered, with the sort key of the page's last row. %1$s: the rows, with their rank;
    -- %2$s: the filter; %3$s: the id column.
    page constant text := $t$
    WITH page AS (
        SELECT s.*, %4$s AS score
          FROM (%1$s
                 WHERE %2$s) s
         WHERE want.after_id IS NULL OR %4$s < want.after_score OR (%4$s = want.after_score AND s.%3$s < want.after_id)
         ORDER BY score DESC, s.%3$s DESC
         LIMIT want.page_size + 1
    ), numbered AS (
        SELECT page.*, row_number() OVER w AS n, count(*) OVER w > want.page_size AS more,
               nth_value(page.score, want.page_size) OVER w AS last_score, nth_value(page.%3$s, want.page_size) OVER w AS last_id
          FROM page
        WINDOW w AS (ORDER BY page.score DESC, page.%3$s DESC ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
    )$t$;
    -- Facets: %1$s counts the matched rows per grouping set (g is their GROUPING() mask), %2$s
    -- turns the counts into (facet, code, label, count), ordered by facet, count, code.
    facets constant text := $t$
    WITH matched AS MATERIALIZED (%1$s), counted AS MATERIALIZED (%2$s)
    SELECT f.facet, f.code, f.label, f.n
      FROM (SELECT 0 AS o, 'total' AS facet, NULL::text AS code, NULL::text AS label, c.n FROM counted c WHERE c.g = 15%3$s) f
     ORDER BY f.o, f.n DESC, f.code$t$;
    -- One facet: %1$s its position, %2$s its name, %3$s the reference table, %4$s its key,
    -- %5$s the grouping mask of the key's set.
    facet constant text := $t$
            UNION ALL
            SELECT %1$s, '%2$s', r.code, r.label, c.n FROM counted c JOIN %3$s r ON r.%4$s = c.%4$s WHERE c.g = %5$s$t$;
    -- A member's rows: the policy's own condition once more, written so that the planner
    -- sees it (decision log D36). The policy's second arm, the range of a blanket right, is
    -- empty for a member, but its unknown bound counts for 0.5 % of the table in every
    -- estimate; with this condition a member's plan starts from their projects' rows.
    -- Projects also show to their owner (the policy's owner arm).
    members_project constant text := $t$
           AND (p.project_id = ANY (want.readable) OR p.owner_id = want.caller)$t$;
    members_document constant text := $t$
           AND d.project_id = ANY (want.readable)$t$;
    -- The body of every function: check the filter, then run the query. A member's query is
    -- static SQL, planned once per session and kept (decision log D36); a caller with a
    -- blanket right (system administrator, auditor) passes the policy with every row, so the
    -- filter decides the plan: their query is planned for each call's values. A search by
    -- words and one without are separate queries, so that each plan has only what it needs
    -- (the words can then use their index). %1$s: the kind, %2$s: the page arguments, %3$s
    -- and %4$s: a member's query with and without words, %5$s and %6$s: the others'.
    body constant text := $t$
#variable_conflict use_column
DECLARE
    want pulse.discovery_filter := pulse.parse_discovery_filter(%1$L, filter, %2$s);
BEGIN
    IF want.blanket AND want.words IS NOT NULL THEN
        RETURN QUERY EXECUTE %5$L USING want;
    ELSIF want.blanket THEN
        RETURN QUERY EXECUTE %6$L USING want;
    ELSIF want.words IS NOT NULL THEN
        RETURN QUERY %3$s;
    ELSE
        RETURN QUERY %4$s;
    END IF;
END
$t$;
    project_links text := '';
    project_link_facets text := '';
    link record;
    project_filter text;
    document_filter text;
    search_projects text;
    project_facets text;
    search_documents text;
    document_facets text;
    fn record;
    no_words text;
BEGIN
    EXECUTE format('CREATE INDEX projects_words_idx ON projects.projects USING gin (%s)', format(project_words, ''));
    EXECUTE format('CREATE INDEX documents_words_idx ON documents.documents USING gin (%s)', format(document_words, ''));
    -- Containment (@>) on custom_properties. jsonb_path_ops: smaller and faster than the
    -- default operator class, and containment is the only operator a filter uses.
    CREATE INDEX documents_custom_properties_idx ON documents.documents USING gin (custom_properties jsonb_path_ops);

    -- A project matches when it has any of the features asked for (and so for tech stack and
    -- tags), the caller's own role in it is any of the roles asked for, and every other key
    -- matches.
    FOR link IN SELECT * FROM (VALUES (1, 'feature', 'feature_ids', 'project_feature', 'feature'),
                                      (2, 'tech_stack', 'tech_stack_ids', 'project_tech_stack', 'tech_stack'),
                                      (3, 'tag', 'tag_ids', 'project_tag', 'tag')) v (o, facet, field, link_table, ref) LOOP
        project_links := project_links || format($t$
           AND (want.%1$s IS NULL OR EXISTS (SELECT FROM projects.%2$s l
                                              WHERE l.project_id = p.project_id AND l.%3$s_id = ANY (want.%1$s)))$t$,
                                                 link.field, link.link_table, link.ref);
        project_link_facets := project_link_facets || format($t$
            UNION ALL
            SELECT %1$s, '%2$s', r.code, r.label, count(*) FROM matched m JOIN projects.%3$s l ON l.project_id = m.project_id
              JOIN pulse.%4$s_reference r ON r.%4$s_id = l.%4$s_id GROUP BY r.code, r.label$t$,
                                                             link.o, link.facet, link.link_table, link.ref);
    END LOOP;
    project_filter := format($t$%1$s
           AND (want.phase_ids IS NULL OR p.phase_id = ANY (want.phase_ids))
           AND (want.priority_ids IS NULL OR p.priority_id = ANY (want.priority_ids))
           AND (want.license_ids IS NULL OR p.license_id = ANY (want.license_ids))
           AND (want.owner_ids IS NULL OR p.owner_id = ANY (want.owner_ids))
           AND %2$s @@ want.words%3$s
           AND (want.role_ids IS NULL OR EXISTS (SELECT FROM projects.project_member m WHERE m.project_id = p.project_id
                                                    AND m.user_id = want.caller AND m.access_role_id = ANY (want.role_ids)))$t$,
                             format(deleted, 'p'), format(project_words, 'p.'), project_links) || members_project;
    document_filter := format($t$%1$s
           AND (want.project_ids IS NULL OR d.project_id = ANY (want.project_ids))
           AND (want.filetype_ids IS NULL OR d.filetype_id = ANY (want.filetype_ids))
           AND (want.storage_ids IS NULL OR d.storage_id = ANY (want.storage_ids))
           AND (want.phase_ids IS NULL OR d.phase_id = ANY (want.phase_ids))
           AND (want.priority_ids IS NULL OR d.priority_id = ANY (want.priority_ids))
           AND (want.uploader_ids IS NULL OR d.uploaded_by = ANY (want.uploader_ids))
           AND (want.created_from IS NULL OR d.created_at >= want.created_from)
           AND (want.created_to IS NULL OR d.created_at <= want.created_to)
           AND (want.updated_from IS NULL OR d.updated_at >= want.updated_from)
           AND (want.updated_to IS NULL OR d.updated_at <= want.updated_to)
           AND (want.size_min IS NULL OR d.size_bytes >= want.size_min)
           AND (want.size_max IS NULL OR d.size_bytes <= want.size_max)
           AND (want.properties IS NULL OR d.custom_properties @> want.properties)
           AND %2$s @@ want.words$t$,
                              format(deleted, 'd'), format(document_words, 'd.')) || members_document;

    search_projects := format(page, format($t$SELECT p.project_id, p.name, p.description, p.owner_id, p.phase_id, p.priority_id,
                       p.license_id, p.created_at, p.updated_at, p.deleted_at,
                       ts_rank(%s, want.words) AS rank
                  FROM projects.projects p$t$, format(project_words, 'p.')),
                    project_filter, 'project_id', format(score, 's.rank')) || format($t$
    SELECT x.project_id, x.name, x.description, x.owner_id, u.display_name, ph.code, ph.label, pr.code, pr.label,
           li.code, li.label,
           (SELECT coalesce(jsonb_agg(jsonb_build_object('code', r.code, 'label', r.label) ORDER BY r.code), '[]')
              FROM projects.project_feature l JOIN pulse.feature_reference r ON r.feature_id = l.feature_id
             WHERE l.project_id = x.project_id),
           (SELECT coalesce(jsonb_agg(jsonb_build_object('code', r.code, 'label', r.label) ORDER BY r.code), '[]')
              FROM projects.project_tech_stack l JOIN pulse.tech_stack_reference r ON r.tech_stack_id = l.tech_stack_id
             WHERE l.project_id = x.project_id),
           (SELECT coalesce(jsonb_agg(jsonb_build_object('code', r.code, 'label', r.label) ORDER BY r.code), '[]')
              FROM projects.project_tag l JOIN pulse.tag_reference r ON r.tag_id = l.tag_id
             WHERE l.project_id = x.project_id),
           ro.code, ro.label, x.created_at, x.updated_at, x.deleted_at, x.rank,
           CASE WHEN x.more THEN %s END
      FROM numbered x
      JOIN pulse.phase_reference ph ON ph.phase_id = x.phase_id
      JOIN pulse.priority_reference pr ON pr.priority_id = x.priority_id
      LEFT JOIN pulse.license_reference li ON li.license_id = x.license_id
      LEFT JOIN users.users u ON u.user_id = x.owner_id
      LEFT JOIN projects.project_member m ON m.project_id = x.project_id AND m.user_id = want.caller
      LEFT JOIN pulse.access_role_reference ro ON ro.access_role_id = m.access_role_id
     WHERE x.n <= want.page_size
     ORDER BY x.score DESC, x.project_id DESC$t$, format(cursor_of, 'x.last_score', 'x.last_id'));

    project_facets := format(facets, format($t$
        SELECT p.project_id, p.phase_id, p.priority_id, p.license_id, mm.access_role_id
          FROM projects.projects p
          LEFT JOIN projects.project_member mm ON mm.project_id = p.project_id AND mm.user_id = want.caller
         WHERE %s$t$, project_filter), $t$
        SELECT m.phase_id, m.priority_id, m.license_id, m.access_role_id,
               GROUPING(m.phase_id, m.priority_id, m.license_id, m.access_role_id) AS g, count(*) AS n
          FROM matched m
         GROUP BY GROUPING SETS ((m.phase_id), (m.priority_id), (m.license_id), (m.access_role_id), ())$t$,
                    project_link_facets || format(facet, 4, 'phase', 'pulse.phase_reference', 'phase_id', 7)
                    || format(facet, 5, 'priority', 'pulse.priority_reference', 'priority_id', 11)
                    || format(facet, 6, 'license', 'pulse.license_reference', 'license_id', 13)
                    || format(facet, 7, 'role', 'pulse.access_role_reference', 'access_role_id', 14));

    search_documents := format(page, format($t$SELECT d.project_id, d.document_id, d.title, d.file_name, d.filetype_id, d.storage_id,
                       d.phase_id, d.priority_id, d.size_bytes, d.custom_properties, d.version, d.uploaded_by,
                       d.available_at, d.created_at, d.updated_at, d.deleted_at,
                       ts_rank(%s, want.words) AS rank
                  FROM documents.documents d$t$, format(document_words, 'd.')),
                    document_filter, 'document_id', format(score, 's.rank')) || format($t$
    SELECT x.document_id, x.project_id, pj.name, x.title, x.file_name, ft.code, ft.label, ft.mime_type, ft.category,
           st.code, st.label, ph.code, ph.label, pr.code, pr.label, x.size_bytes, x.custom_properties, x.version,
           x.uploaded_by, u.display_name, x.available_at, x.created_at, x.updated_at, x.deleted_at, x.rank,
           CASE WHEN x.more THEN %s END
      FROM numbered x
      JOIN pulse.filetype_reference ft ON ft.filetype_id = x.filetype_id
      JOIN pulse.storage_reference st ON st.storage_id = x.storage_id
      JOIN pulse.phase_reference ph ON ph.phase_id = x.phase_id
      JOIN pulse.priority_reference pr ON pr.priority_id = x.priority_id
      LEFT JOIN projects.projects pj ON pj.project_id = x.project_id
      LEFT JOIN users.users u ON u.user_id = x.uploaded_by
     WHERE x.n <= want.page_size
     ORDER BY x.score DESC, x.document_id DESC$t$, format(cursor_of, 'x.last_score', 'x.last_id'));

    document_facets := format(facets, format($t$
        SELECT d.filetype_id, d.storage_id, d.phase_id, d.priority_id
          FROM documents.documents d
         WHERE %s$t$, document_filter), $t$
        SELECT m.filetype_id, m.storage_id, m.phase_id, m.priority_id,
               GROUPING(m.filetype_id, m.storage_id, m.phase_id, m.priority_id) AS g, count(*) AS n
          FROM matched m
         GROUP BY GROUPING SETS ((m.filetype_id), (m.storage_id), (m.phase_id), (m.priority_id), ())$t$,
                    format(facet, 1, 'filetype', 'pulse.filetype_reference', 'filetype_id', 7) || $t$
            UNION ALL
            SELECT 2, 'mime_category', r.category, initcap(r.category), sum(c.n)::bigint
              FROM counted c JOIN pulse.filetype_reference r ON r.filetype_id = c.filetype_id WHERE c.g = 7
             GROUP BY r.category$t$
                    || format(facet, 3, 'storage', 'pulse.storage_reference', 'storage_id', 11)
                    || format(facet, 4, 'phase', 'pulse.phase_reference', 'phase_id', 13)
                    || format(facet, 5, 'priority', 'pulse.priority_reference', 'priority_id', 14));

    FOR fn IN SELECT * FROM (VALUES
        ('projects.search_projects', 'projects', search_projects, true,
         'project_id bigint, name text, description text, owner_id integer, owner_name text,
          phase text, phase_label text, priority text, priority_label text, license text, license_label text,
          features jsonb, tech_stack jsonb, tags jsonb, my_role text, my_role_label text,
          created_at timestamptz, updated_at timestamptz, deleted_at timestamptz, rank real, next_cursor text'),
        ('projects.project_facets', 'projects', project_facets, false, 'facet text, code text, label text, count bigint'),
        ('documents.search_documents', 'documents', search_documents, true,
         'document_id bigint, project_id bigint, project_name text, title text, file_name text,
          filetype text, filetype_label text, mime_type text, mime_category text, storage text, storage_label text,
          phase text, phase_label text, priority text, priority_label text, size_bytes bigint,
          custom_properties jsonb, version integer, uploaded_by integer, uploaded_by_name text,
          available_at timestamptz, created_at timestamptz, updated_at timestamptz, deleted_at timestamptz,
          rank real, next_cursor text'),
        ('documents.document_facets', 'documents', document_facets, false, 'facet text, code text, label text, count bigint'))
        v (name, kind, query, paged, returns) LOOP
        -- Without words: no match on them, and no rank.
        no_words := replace(replace(replace(replace(fn.query,
            format(E'\n           AND %s @@ want.words', format(project_words, 'p.')), ''),
            format(E'\n           AND %s @@ want.words', format(document_words, 'd.')), ''),
            format('ts_rank(%s, want.words)', format(project_words, 'p.')), 'NULL::real'),
            format('ts_rank(%s, want.words)', format(document_words, 'd.')), 'NULL::real');
        EXECUTE format($f$
CREATE FUNCTION %s(filter jsonb DEFAULT '{}'%s)
    RETURNS TABLE (%s)
    LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED SECURITY INVOKER
    SET search_path = pg_catalog, pg_temp
    SET plan_cache_mode = force_generic_plan
AS %L$f$, fn.name, CASE WHEN fn.paged THEN ', page_size integer DEFAULT 50, after text DEFAULT NULL' ELSE '' END, fn.returns,
            format(body, fn.kind, CASE WHEN fn.paged THEN 'page_size, after' ELSE '1, NULL' END, fn.query, no_words,
                   replace(replace(replace(fn.query, members_project, ''), members_document, ''), 'want.', '($1).'),
                   replace(replace(replace(no_words, members_project, ''), members_document, ''), 'want.', '($1).')));
    END LOOP;
END
$discovery$;

COMMENT ON FUNCTION projects.search_projects(jsonb, integer, text) IS
    'Projects the caller may read that match a filter (JSON: q, features, tech_stack, tags, phase, priority, license, owner, role, deleted), with codes and labels, ranked by words, one page at a time (next_cursor).';
COMMENT ON FUNCTION projects.project_facets(jsonb) IS
    'For a project filter: how many of the caller''s visible projects match, per feature, tech stack entry, tag, phase, priority, licence and the caller''s role, in one query.';
COMMENT ON FUNCTION documents.search_documents(jsonb, integer, text) IS
    'Documents the caller may read that match a filter (JSON: q, project, filetype, mime_category, storage, phase, priority, uploaded_by, created/updated/size ranges, properties, deleted), with codes and labels, ranked by words, one page at a time (next_cursor).';
COMMENT ON FUNCTION documents.document_facets(jsonb) IS
    'For a document filter: how many of the caller''s visible documents match, per filetype, MIME category, storage, phase and priority, in one query.';
COMMENT ON INDEX projects.projects_words_idx IS
    'Words of a project search: name (weight A) and description (B), simple configuration (decision log D35).';
COMMENT ON INDEX documents.documents_words_idx IS
    'Words of a document search: title (weight A) and file name split at . - _ (B), simple configuration (decision log D35).';
COMMENT ON INDEX documents.documents_custom_properties_idx IS
    'custom_properties @> filter of a document search (jsonb_path_ops; decision log D35).';

CREATE OR REPLACE FUNCTION pulse.grant_reader_privileges(role_name name) RETURNS void
    LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = role_name) THEN
        RAISE EXCEPTION 'role "%" does not exist', role_name USING ERRCODE = '42704';
    END IF;
    EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA pulse, users, projects, documents, audit TO %I', role_name);
    EXECUTE pg_catalog.format(
        'GRANT EXECUTE ON FUNCTION pulse.current_user_id(), pulse.current_session_id(), pulse.current_user_is_system_admin(),
                                   pulse.caller_project_ids(text), pulse.caller_all_projects_from(text),
                                   pulse.caller_holds(text, bigint),
                                   pulse.caller_is_auditor() TO %I', role_name);
    EXECUTE pg_catalog.format('GRANT SELECT ON ALL TABLES IN SCHEMA projects, documents, audit TO %I', role_name);
    EXECUTE pg_catalog.format('GRANT SELECT ON pulse.project_access TO %I', role_name);
    EXECUTE pg_catalog.format(
        'GRANT EXECUTE ON FUNCTION audit.project_as_of(bigint, timestamptz), audit.document_as_of(bigint, timestamptz),
                                   audit.project_diff(bigint, integer, integer),
                                   audit.document_diff(bigint, integer, integer),
                                   audit.purgeable_history(timestamptz) TO %I', role_name);
    EXECUTE pg_catalog.format(
        'GRANT EXECUTE ON FUNCTION pulse.sha256_hex(bytea), pulse.sha256_bytes(bytea), pulse.is_sha256_hex(text),
                                   documents.download_url(bigint, integer, integer), documents.find_duplicates(bigint),
                                   documents.reconcile(text, jsonb), documents.duplicate_policy(text),
                                   documents.filetype_of(text), documents.check_content(bigint, text),
                                   documents.object_key_for(integer, bigint, text), pulse.require_system_admin(text) TO %I', role_name);
    EXECUTE pg_catalog.format(
        'GRANT EXECUTE ON FUNCTION projects.search_projects(jsonb, integer, text), projects.project_facets(jsonb),
                                   documents.search_documents(jsonb, integer, text), documents.document_facets(jsonb),
                                   pulse.parse_discovery_filter(text, jsonb, integer, text),
                                   pulse.discovery_cursor(text, text, bigint, bigint) TO %I', role_name);
    EXECUTE pg_catalog.format(
        'GRANT SELECT ON pulse.auditor_role, %s TO %I', pulse.reference_table_list(), role_name);
    EXECUTE pg_catalog.format(
        'GRANT SELECT (user_id, email, display_name, is_active, is_system_admin, created_at, updated_at, deleted_at)
             ON users.users TO %I', role_name);
    EXECUTE pg_catalog.format(
        'GRANT SELECT (session_id, user_id, created_at, expires_at, revoked_at, revoked_reason, last_active_at,
                       user_agent, ip_address, metadata) ON users.sessions TO %I', role_name);
END
$$;

-- Roles granted at 0.1.0 hold EXECUTE on pulse.caller_is_auditor() (every reader does);
-- they get the discovery functions as pulse.grant_reader_privileges() now grants them.
DO $readers$
DECLARE
    reader name;
BEGIN
    FOR reader IN
        SELECT DISTINCT r.rolname
          FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a
          JOIN pg_catalog.pg_roles r ON r.oid = a.grantee
         WHERE p.oid = 'pulse.caller_is_auditor()'::pg_catalog.regprocedure
           AND a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner
    LOOP
        EXECUTE pg_catalog.format(
            'GRANT EXECUTE ON FUNCTION projects.search_projects(jsonb, integer, text), projects.project_facets(jsonb),
                                       documents.search_documents(jsonb, integer, text), documents.document_facets(jsonb),
                                       pulse.parse_discovery_filter(text, jsonb, integer, text),
                                       pulse.discovery_cursor(text, text, bigint, bigint) TO %I', reader);
    END LOOP;
END
$readers$;
REVOKE ALL ON FUNCTION projects.search_projects(jsonb, integer, text), projects.project_facets(jsonb),
                       documents.search_documents(jsonb, integer, text), documents.document_facets(jsonb),
                       pulse.parse_discovery_filter(text, jsonb, integer, text),
                       pulse.discovery_cursor(text, text, bigint, bigint) FROM PUBLIC;

-- 4. Scale-out on Citus (docs/scaling.md, decision log D40-D41).
CREATE FUNCTION pulse.citus_distribution_plan()
    RETURNS TABLE (step integer, kind text, table_name regclass, statement text, why text)
    LANGUAGE sql STABLE CALLED ON NULL INPUT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE
    tables AS (
        SELECT c.oid,
               EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                        WHERE a.attrelid = c.oid AND a.attname = 'project_id' AND a.attnum > 0
                          AND NOT a.attisdropped) AS per_project
          FROM pg_catalog.pg_depend d
          JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'pulse'
          JOIN pg_catalog.pg_class c ON c.oid = d.objid
         WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
           AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
           AND d.deptype = 'e' AND c.relkind IN ('r', 'p')
    ),
    -- Foreign keys between the extension's tables (a self-reference orders nothing).
    edges AS (
        SELECT DISTINCT k.conrelid AS child, k.confrelid AS parent
          FROM pg_catalog.pg_constraint k
          JOIN tables ch ON ch.oid = k.conrelid
          JOIN tables pa ON pa.oid = k.confrelid
         WHERE k.contype = 'f' AND k.conrelid <> k.confrelid
    ),
    -- Every path along foreign keys from each table; the longest is its depth, so a table
    -- always comes after everything it references. A cycle stops at its first repeat.
    paths (oid, parent, length, visited) AS (
        SELECT t.oid, t.oid, 0, ARRAY[t.oid] FROM tables t
        UNION ALL
        SELECT p.oid, e.parent, p.length + 1, p.visited || e.parent
          FROM paths p JOIN edges e ON e.child = p.parent
         WHERE e.parent <> ALL (p.visited)
    ),
    depths AS (
        SELECT oid, pg_catalog.max(length) AS depth FROM paths GROUP BY oid
    ),
    placed AS (
        SELECT t.oid, t.per_project, d.depth,
               t.oid = 'projects.projects'::pg_catalog.regclass AS anchor,
               (SELECT pg_catalog.string_agg(e.parent::pg_catalog.regclass::text, ', '
                                             ORDER BY e.parent::pg_catalog.regclass::text COLLATE "C")
                  FROM edges e WHERE e.child = t.oid) AS parents
          FROM tables t JOIN depths d ON d.oid = t.oid
    ),
    settings (position, statement, why) AS (
        VALUES
        (1, 'SET LOCAL citus.enable_local_reference_table_foreign_keys = off',
            'Citus must not turn the tables that reference a reference table into tables of its own choosing: pulse places every table itself, below.'),
        (2, 'SET LOCAL citus.enable_unsafe_triggers = on',
            'pulse''s triggers (history capture, rules, guards) stay on the distributed tables and fire on the node holding the shard; they write only to co-located tables.'),
        (3, 'SET LOCAL citus.multi_shard_modify_mode = ''sequential''',
            'Tables with foreign keys to reference tables are distributed in the same transaction as those reference tables: Citus needs one connection per node for that.')
    ),
    ordered AS (
        SELECT 0 AS part, s.position AS rank, 'setting' AS kind, NULL::pg_catalog.regclass AS table_name,
               s.statement, s.why
          FROM settings s
        UNION ALL
        SELECT 1, pg_catalog.row_number() OVER (ORDER BY p.depth, p.oid::pg_catalog.regclass::text COLLATE "C"),
               'reference', p.oid::pg_catalog.regclass,
               pg_catalog.format('SELECT pg_catalog.create_reference_table(%L)', p.oid::pg_catalog.regclass::text),
               'no project_id column: a reference table, copied to every node'
               || coalesce('; after the tables it references (' || p.parents || ')', '')
          FROM placed p WHERE NOT p.per_project
        UNION ALL
        SELECT 2, pg_catalog.row_number() OVER (ORDER BY NOT p.anchor, p.depth,
                                                         p.oid::pg_catalog.regclass::text COLLATE "C"),
               'distributed', p.oid::pg_catalog.regclass,
               pg_catalog.format('SELECT pg_catalog.create_distributed_table(%L, %L, colocate_with => %L)',
                                 p.oid::pg_catalog.regclass::text, 'project_id',
                                 CASE WHEN p.anchor THEN 'none' ELSE 'projects.projects' END),
               CASE WHEN p.anchor
                    THEN 'the project: distributed by project_id, it starts the co-location group every per-project table joins'
                    ELSE 'project_id column: distributed by project_id, co-located with projects.projects' END
               || coalesce('; after the tables it references (' || p.parents || ')', '')
          FROM placed p WHERE p.per_project
    )
    SELECT (pg_catalog.row_number() OVER (ORDER BY o.part, o.rank))::integer, o.kind, o.table_name, o.statement, o.why
      FROM ordered o
     ORDER BY o.part, o.rank;
$$;
COMMENT ON FUNCTION pulse.citus_distribution_plan() IS
    'The statements that distribute pulse on Citus, in the order they must run, generated from the catalog: settings, then every table without project_id as a reference table and every table with project_id distributed by project_id and co-located with projects.projects, each after the tables it references (docs/scaling.md).';

CREATE FUNCTION pulse.distribute() RETURNS integer
    LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    planned record;
    placed integer := 0;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                    WHERE r.rolname = current_user
                      AND (r.rolsuper OR r.oid = (SELECT e.extowner FROM pg_catalog.pg_extension e
                                                   WHERE e.extname = 'pulse'))) THEN
        RAISE EXCEPTION 'pulse.distribute() must be run by a superuser or the owner of the extension pulse'
            USING ERRCODE = '42501';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus') THEN
        RAISE EXCEPTION 'pulse.distribute() needs the Citus extension, which is not installed in this database'
            USING ERRCODE = '55000',
                  HINT = 'Install Citus and pulse on every node, run CREATE EXTENSION citus and then CREATE EXTENSION pulse on the coordinator, add the workers, and call pulse.distribute() there. pulse.citus_distribution_plan() shows what it would run.';
    END IF;
    -- One transaction: the caller's. A failing statement undoes every placement before it.
    FOR planned IN SELECT p.kind, p.statement FROM pulse.citus_distribution_plan() p ORDER BY p.step LOOP
        EXECUTE planned.statement;
        IF planned.kind <> 'setting' THEN
            placed := placed + 1;
        END IF;
    END LOOP;
    IF coalesce(pg_catalog.current_setting('citus.propagate_set_commands', true), '') <> 'local' THEN
        RAISE WARNING 'citus.propagate_set_commands is not ''local'': the identity pulse.authenticate() establishes does not reach the workers'
            USING HINT = 'Set citus.propagate_set_commands = ''local'' and citus.enable_unsafe_triggers = on on every node (docs/scaling.md).';
    END IF;
    RETURN placed;
END
$$;
COMMENT ON FUNCTION pulse.distribute() IS
    'Runs pulse.citus_distribution_plan() in the current transaction when Citus is installed and returns the number of tables placed; 55000 without Citus. Superusers and the extension owner only.';
REVOKE ALL ON FUNCTION pulse.citus_distribution_plan(), pulse.distribute() FROM PUBLIC;

-- 5. Chain heads keep half of each page free, so that moving a head is a HOT update, for
--    every head of a page in one transaction too (decision log D51, D56). Pages already
--    full keep their rows until those move.
ALTER TABLE audit.project_chain SET (fillfactor = 50);
ALTER TABLE audit.document_chain SET (fillfactor = 50);

-- 6. A document's history is reached through its chain heads, not through an index of the
--    history by document, which took an entry in a random page for every change; the as-of
--    readers become PL/pgSQL, planned once per session (decision log D57).
DROP INDEX audit.document_history_document_idx;
CREATE INDEX document_chain_document_idx ON audit.document_chain (document_id, project_id);
CREATE OR REPLACE FUNCTION audit.project_as_of(project_id bigint, at timestamptz) RETURNS jsonb
    LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN (SELECT CASE WHEN h.operation = 'DELETE' THEN NULL ELSE h.snapshot END
              FROM audit.project_history h
             WHERE h.project_id = project_as_of.project_id AND h.changed_at <= project_as_of.at
             ORDER BY h.version DESC
             LIMIT 1);
END
$$;
CREATE OR REPLACE FUNCTION audit.document_as_of(document_id bigint, at timestamptz) RETURNS jsonb
    LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN (SELECT CASE WHEN h.operation = 'DELETE' THEN NULL ELSE h.snapshot END
              FROM audit.document_history h
             WHERE h.project_id = (SELECT c.project_id FROM audit.document_chain c
                                    WHERE c.document_id = document_as_of.document_id
                                    ORDER BY c.project_id LIMIT 1)
               AND h.document_id = document_as_of.document_id AND h.changed_at <= document_as_of.at
             ORDER BY h.version DESC
             LIMIT 1);
END
$$;
